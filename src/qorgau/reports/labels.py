"""Human labels for every value a statistic can show, in the reader's language.

Taxonomy values carry their own labels in the taxonomy file; values that drive logic (legal
outcome, severity, status) are labelled through the message catalogue.
"""

from __future__ import annotations

from qorgau.domain.taxonomy import Taxonomy
from qorgau.i18n import N_, gettext
from qorgau.reports.statistics import NOT_RECORDED, Dimension

_SECTION = {
    Dimension.CATEGORY: "category",
    Dimension.ATTACK_TYPE: "attack_type",
    Dimension.REGION: "region",
    Dimension.PLATFORM: "platform",
    Dimension.PERPETRATOR: "perpetrator_type",
    Dimension.GENDER: "gender",
    Dimension.LEGAL_REF: "legal_reference",
}

OUTCOME_LABELS = {
    "not_reported": N_("Not reported to the authorities"),
    "awaiting_response": N_("Reported, no official response yet"),
    "investigation_opened": N_("Investigation opened"),
    "investigation_refused": N_("Investigation refused"),
    "investigation_closed": N_("Investigation closed without charges"),
    "charges_brought": N_("Charges brought"),
    "conviction": N_("Conviction"),
    "acquittal": N_("Acquittal"),
}
SEVERITY_LABELS = {
    "critical": N_("Critical"),
    "high": N_("High"),
    "medium": N_("Medium"),
    "low": N_("Low"),
}
STATUS_LABELS = {
    "new": N_("New"),
    "triaged": N_("Triaged"),
    "in_progress": N_("In progress"),
    "waiting_on_reporter": N_("Waiting on the reporter"),
    "resolved": N_("Resolved"),
    "closed": N_("Closed"),
    "rejected": N_("Rejected"),
    "merged": N_("Merged"),
}
DIMENSION_LABELS = {
    Dimension.CATEGORY: N_("Monitoring category"),
    Dimension.ATTACK_TYPE: N_("Attack type"),
    Dimension.REGION: N_("Region"),
    Dimension.PLATFORM: N_("Platform"),
    Dimension.TARGET_TYPE: N_("Target type"),
    Dimension.GENDER: N_("Gender"),
    Dimension.PERPETRATOR: N_("Perpetrator"),
    Dimension.LEGAL_REF: N_("Legal qualification"),
    Dimension.OUTCOME: N_("Outcome"),
    Dimension.SEVERITY: N_("Severity"),
    Dimension.STATUS: N_("Status"),
}
NOT_RECORDED_LABEL = N_("Not recorded")
PERSON_LABEL = N_("Person (role not recorded)")
OUTLET_LABEL = N_("Media outlet or website")


def value_label(taxonomy: Taxonomy, dim: Dimension, value: str, lang: str) -> str:
    if value == NOT_RECORDED:
        return gettext(lang, NOT_RECORDED_LABEL)
    if dim in _SECTION:
        return taxonomy.label(_SECTION[dim], value, lang)
    if dim is Dimension.TARGET_TYPE:
        if value == "outlet":
            return gettext(lang, OUTLET_LABEL)
        if value == "person":
            return gettext(lang, PERSON_LABEL)
        return taxonomy.label("target_role", value, lang)
    table = {
        Dimension.OUTCOME: OUTCOME_LABELS,
        Dimension.SEVERITY: SEVERITY_LABELS,
        Dimension.STATUS: STATUS_LABELS,
    }[dim]
    return gettext(lang, table[value]) if value in table else value


def dimension_label(dim: Dimension, lang: str) -> str:
    return gettext(lang, DIMENSION_LABELS[dim])
