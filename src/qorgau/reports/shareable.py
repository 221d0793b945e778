"""An incident as it may leave the organisation: the one place that decides what is named.

Reports, partner exports and the public dataset all start here, so one rule holds everywhere:
outlets and websites are public facts and are named; a person is named only if they consented
to it; phones, e-mails and accounts of people are never shared. Case titles and descriptions
are written by staff and detectors for staff and may name people, so shared texts are built
from the classification instead.
"""

from __future__ import annotations

import uuid

from qorgau.domain.model import Incident, Target
from qorgau.domain.taxonomy import Taxonomy
from qorgau.i18n import gettext
from qorgau.reports.model import PublicCandidate, SharedIncident, SharedTarget

# Stable identifiers for partners: the same case always has the same STIX/MISP id.
QORGAU_NAMESPACE = uuid.UUID("6f3c1d52-8a9e-4b7a-9d0e-51f1c0a7e2b4")
_ORG_KINDS = ("outlet", "website")


def shared_target(t: Target) -> SharedTarget | None:
    if t.kind in _ORG_KINDS:
        return SharedTarget(t.kind, t.name, None)
    if t.kind == "person":
        return SharedTarget("person", t.name if t.consent_public else None, t.role)
    return None  # phones, e-mails, accounts: they lead to a person


def protected_person(incident: Incident) -> bool:
    return any(t.kind == "person" and not t.consent_public for t in incident.targets) or any(
        t.kind not in (*_ORG_KINDS, "person") for t in incident.targets
    )


def describe_targets(targets: list[SharedTarget], taxonomy: Taxonomy, lang: str) -> str:
    parts: list[str] = []
    for t in targets:
        if t.name:
            parts.append(t.name)
        elif t.role:
            parts.append(taxonomy.label("target_role", t.role, lang).lower())
        else:
            parts.append(gettext(lang, "a person"))
    return ", ".join(dict.fromkeys(parts)) or gettext(lang, "unnamed targets")


def case_sentence(incident: Incident, taxonomy: Taxonomy, lang: str) -> str:
    """One neutral sentence: what happened, to whom (as far as they may be named), where."""
    attacks = ", ".join(taxonomy.label("attack_type", a, lang) for a in incident.attack_types)
    targets = [s for t in incident.targets if (s := shared_target(t)) is not None]
    where = (
        taxonomy.label("region", incident.region, lang)
        if incident.region
        else gettext(lang, "region not recorded")
    )
    return gettext(
        lang,
        "{attacks} against {targets} ({region}).",
        attacks=attacks,
        targets=describe_targets(targets, taxonomy, lang),
        region=where,
    )


def incident_uuid(incident: Incident) -> str:
    return str(uuid.uuid5(QORGAU_NAMESPACE, f"incident:{incident.public_id}"))


def shared_incident(
    incident: Incident, taxonomy: Taxonomy, indicator_keys: tuple[str, ...] = ()
) -> SharedIncident:
    """English texts: CERT exchange formats are read in English."""
    attacks = ", ".join(taxonomy.label("attack_type", a, "en") for a in incident.attack_types)
    targets = tuple(s for t in incident.targets if (s := shared_target(t)) is not None)
    named = [t.name for t in targets if t.name]
    title = f"{attacks}: {', '.join(named)}" if named else attacks
    return SharedIncident(
        public_id=incident.public_id,
        uuid=incident_uuid(incident),
        title=title[:300],
        summary=case_sentence(incident, taxonomy, "en"),
        started_at=incident.started_at,
        reported_at=incident.reported_at,
        updated_at=incident.updated_at,
        attack_types=incident.attack_types,
        category=incident.category,
        platform=incident.platform,
        region=incident.region,
        perpetrator_type=incident.perpetrator.type,
        severity=str(incident.severity),
        status=str(incident.status),
        legal_outcome=incident.legal_outcome,
        tlp=incident.tlp,
        targets=targets,
        source_urls=incident.source_urls if not protected_person(incident) else (),
        disarm_techniques=incident.disarm_techniques,
        indicator_keys=indicator_keys,
    )


def public_candidate(incident: Incident) -> PublicCandidate:
    targets = [s for t in incident.targets if (s := shared_target(t)) is not None]
    types = sorted({("outlet" if t.kind in _ORG_KINDS else (t.role or "person")) for t in targets})
    genders = sorted({t.gender for t in incident.targets if t.gender})
    protected = protected_person(incident)
    return PublicCandidate(
        month=incident.reported_at.strftime("%Y-%m"),
        category=incident.category,
        attack_types=tuple(sorted(incident.attack_types)),
        region=incident.region,
        platform=incident.platform,
        target_types=tuple(types),
        gender=genders[0] if len(genders) == 1 else ("several" if genders else None),
        perpetrator_type=incident.perpetrator.type,
        legal_outcome=incident.legal_outcome,
        severity=str(incident.severity),
        protected_person=protected,
        named_targets=() if protected else tuple(t.name for t in targets if t.name),
    )
