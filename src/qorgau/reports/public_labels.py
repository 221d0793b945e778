"""Labels for the values of the public dataset, including the generalised ones.

The released values are taxonomy ids where nothing was coarsened, and group names where the
anonymisation stepped up ("south", "category:safety", "no_action", "withheld"); a reader must
see words for both, in their language.
"""

from __future__ import annotations

from qorgau.domain.taxonomy import Taxonomy
from qorgau.i18n import N_, gettext
from qorgau.reports.labels import OUTCOME_LABELS, SEVERITY_LABELS

ATTRIBUTE_LABELS = {
    "period": N_("Period"),
    "category": N_("Monitoring category"),
    "attack_types": N_("Attack type"),
    "region": N_("Region"),
    "platform": N_("Platform"),
    "target_types": N_("Target type"),
    "gender": N_("Gender"),
    "perpetrator_type": N_("Perpetrator"),
    "legal_outcome": N_("Outcome"),
    "severity": N_("Severity"),
}
SPECIAL = {
    "withheld": N_("Withheld to protect people"),
    "not_recorded": N_("Not recorded"),
    "several": N_("Several"),
    "other": N_("Other"),
}
MACRO_REGIONS = {
    "cities": N_("Astana, Almaty and Shymkent"),
    "north": N_("North"),
    "centre": N_("Centre"),
    "east": N_("East"),
    "west": N_("West"),
    "south": N_("South"),
}
OUTCOME_GROUPS = {
    "action": N_("The authorities acted (investigation, charges, verdict)"),
    "no_action": N_("Refused or closed without charges"),
    "pending": N_("Reported, no response yet"),
}
TARGET_GROUPS = {
    "person": N_("Person"),
    "outlet": N_("Media outlet or website"),
}
_SECTION = {
    "category": "category",
    "attack_types": "attack_type",
    "region": "region",
    "platform": "platform",
    "gender": "gender",
    "perpetrator_type": "perpetrator_type",
    "target_types": "target_role",
}


def public_label(taxonomy: Taxonomy, attribute: str, value: str, lang: str) -> str:
    if value in SPECIAL:
        return gettext(lang, SPECIAL[value])
    if attribute == "attack_types" and value.startswith("category:"):
        category = taxonomy.label("category", value.removeprefix("category:"), lang)
        return gettext(lang, "{category} (any attack type)", category=category)
    if attribute == "region" and value in MACRO_REGIONS:
        return gettext(lang, MACRO_REGIONS[value])
    if attribute == "legal_outcome":
        if value in OUTCOME_GROUPS:
            return gettext(lang, OUTCOME_GROUPS[value])
        if value in OUTCOME_LABELS:
            return gettext(lang, OUTCOME_LABELS[value])
    if attribute == "severity" and value in SEVERITY_LABELS:
        return gettext(lang, SEVERITY_LABELS[value])
    if attribute == "target_types" and value in TARGET_GROUPS:
        return gettext(lang, TARGET_GROUPS[value])
    section = _SECTION.get(attribute)
    if section and value in taxonomy.terms(section):
        return taxonomy.label(section, value, lang)
    return value


def attribute_label(attribute: str, lang: str) -> str:
    return gettext(lang, ATTRIBUTE_LABELS[attribute])
