"""Translation between domain objects and table rows, including encryption of personal data.

This is the one place that decides which values leave the process in clear: anything about a
person (names, phones, e-mails, handles, reporter contact, sensitive notes) is encrypted with
the column as associated data; searches on them use blind indexes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from qorgau.domain.model import (
    Incident,
    NewIncident,
    Note,
    Perpetrator,
    ReporterContact,
    Severity,
    Status,
    Target,
)
from qorgau.domain.taxonomy import Taxonomy
from qorgau.domain.tlp import Tlp
from qorgau.security.fields import FieldCipher
from qorgau.security.tokens import random_base32

# Letters and digits only: both engines split "off_sale" at the underscore, and a query word
# they would split becomes an FTS5 phrase, which its index (detail=column) cannot answer.
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
PUBLIC_ID_PREFIX = "QG-"


def search_tokens(text: str) -> list[str]:
    """Words as both full-text engines will index them: NFKC, case-folded, \\w+ runs."""
    import unicodedata

    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def search_text(title: str, description: str) -> str:
    return " ".join(search_tokens(f"{title} {description}"))


def new_public_id() -> str:
    """Random, unguessable case reference: sequential numbers would reveal case volumes."""
    return PUBLIC_ID_PREFIX + random_base32(8)


def target_bidx(cipher: FieldCipher, kind: str, normalized: str) -> str:
    return cipher.blind_index(normalized, f"target:{kind}")


def target_row(
    cipher: FieldCipher, taxonomy: Taxonomy, incident_id: int, position: int, t: Target
) -> dict[str, Any]:
    sensitive = taxonomy.is_sensitive_target(t.kind)
    return {
        "incident_id": incident_id,
        "position": position,
        "kind": t.kind,
        "name_clear": None if sensitive else t.name,
        "name_enc": cipher.encrypt(t.name, "incident_targets.name") if sensitive else None,
        "identifier_clear": None if sensitive else t.identifier,
        "identifier_enc": (
            cipher.encrypt(t.identifier, "incident_targets.identifier") if sensitive else None
        ),
        "bidx": target_bidx(cipher, t.kind, t.normalized),
        "consent_public": t.consent_public,
        "role": t.role,
        "gender": t.gender,
        "target_type": t.target_type,
    }


def reporter_fields(cipher: FieldCipher, contact: ReporterContact) -> dict[str, Any]:
    from qorgau.domain.identifiers import normalize_email, normalize_phone

    if contact.is_empty():
        return {"reporter_enc": None, "reporter_email_bidx": None, "reporter_phone_bidx": None}
    payload = json.dumps(
        {
            "name": contact.name,
            "email": contact.email,
            "phone": contact.phone,
            "preferred_channel": contact.preferred_channel,
        },
        ensure_ascii=False,
    )
    return {
        "reporter_enc": cipher.encrypt(payload, "incidents.reporter"),
        "reporter_email_bidx": (
            cipher.blind_index(normalize_email(contact.email, "reporter.email"), "reporter:email")
            if contact.email
            else None
        ),
        "reporter_phone_bidx": (
            cipher.blind_index(normalize_phone(contact.phone, "reporter.phone"), "reporter:phone")
            if contact.phone
            else None
        ),
    }


def incident_row(
    cipher: FieldCipher,
    new: NewIncident,
    *,
    org_id: int,
    reporter_user_id: int | None,
    now: datetime,
    public_id: str,
) -> dict[str, Any]:
    return {
        "public_id": public_id,
        "org_id": org_id,
        "title": new.title,
        "description": new.description,
        "search_text": search_text(new.title, new.description),
        "started_at": new.started_at,
        "reported_at": new.reported_at,
        "category": new.category,
        "platform": new.platform,
        "region": new.region,
        "perpetrator_type": new.perpetrator.type,
        "perpetrator_description": new.perpetrator.description,
        "severity": str(new.severity),
        "status": str(new.status),
        "ongoing": new.ongoing,
        "language": new.language,
        "source_urls": list(new.source_urls),
        "reporter_user_id": reporter_user_id,
        "external_ref": new.external_ref,
        "proposed_severity": str(new.proposed_severity) if new.proposed_severity else None,
        "triage": new.triage,
        "tlp": str(new.tlp),
        "disarm_techniques": list(new.disarm_techniques) or None,
        "legal_provision": "unassessed",
        "legal_outcome": "not_reported",
        "created_at": now,
        "updated_at": now,
        **reporter_fields(cipher, new.reporter),
    }


def decode_target(cipher: FieldCipher, row: Mapping[Any, Any]) -> Target:
    if row["name_enc"] is not None or row["identifier_enc"] is not None:
        name = cipher.decrypt(row["name_enc"], "incident_targets.name") or ""
        identifier = cipher.decrypt(row["identifier_enc"], "incident_targets.identifier")
    else:
        name, identifier = row["name_clear"] or "", row["identifier_clear"]
    return Target(
        row["kind"], name, identifier, "", row["consent_public"], row["role"], row["gender"]
    )


def decode_reporter(cipher: FieldCipher, token: str | None) -> ReporterContact:
    if token is None:
        return ReporterContact()
    data = json.loads(cipher.decrypt(token, "incidents.reporter") or "{}")
    return ReporterContact(
        data.get("name"), data.get("email"), data.get("phone"), data.get("preferred_channel")
    )


def decode_incident(
    cipher: FieldCipher,
    row: Mapping[Any, Any],
    attack_types: tuple[str, ...],
    legal_refs: tuple[str, ...],
    targets: tuple[Target, ...],
    *,
    reveal: bool,
) -> Incident:
    """Build the domain incident; without ``reveal`` personal data stays encrypted (unread)."""
    return Incident(
        id=row["id"],
        public_id=row["public_id"],
        org_id=row["org_id"],
        title=row["title"],
        description=row["description"],
        started_at=row["started_at"],
        reported_at=row["reported_at"],
        attack_types=attack_types,
        category=row["category"],
        platform=row["platform"],
        region=row["region"],
        perpetrator=Perpetrator(row["perpetrator_type"], row["perpetrator_description"]),
        severity=Severity(row["severity"]),
        status=Status(row["status"]),
        legal_refs=legal_refs,
        targets=targets,
        reporter=decode_reporter(cipher, row["reporter_enc"]) if reveal else ReporterContact(),
        reporter_user_id=row["reporter_user_id"],
        source_urls=tuple(row["source_urls"] or ()),
        language=row["language"],
        ongoing=row["ongoing"],
        external_ref=row["external_ref"],
        campaign_id=row["campaign_id"],
        merged_into_id=row["merged_into_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        proposed_severity=Severity(row["proposed_severity"]) if row["proposed_severity"] else None,
        triage=row["triage"],
        severity_confirmed_at=row["severity_confirmed_at"],
        severity_confirmed_by=row["severity_confirmed_by"],
        assignee_id=row["assignee_id"],
        assigned_at=row["assigned_at"],
        tlp=Tlp(row["tlp"]),
        disarm_techniques=tuple(row["disarm_techniques"] or ()),
        legal_provision=row["legal_provision"],
        legal_outcome=row["legal_outcome"],
        authorities_reported_at=row["authorities_reported_at"],
        official_response_at=row["official_response_at"],
    )


def decode_note(cipher: FieldCipher, row: Mapping[Any, Any]) -> Note:
    body = cipher.decrypt(row["body_enc"], "notes.body") if row["sensitive"] else row["body_clear"]
    return Note(
        row["id"],
        row["incident_id"],
        row["author_id"],
        body or "",
        row["sensitive"],
        row["created_at"],
    )


def audit_view(incident: Incident) -> dict[str, object]:
    """What the audit log keeps of an incident: classification and workflow, no personal data."""
    return {
        "public_id": incident.public_id,
        "title": incident.title,
        "status": str(incident.status),
        "severity": str(incident.severity),
        "category": incident.category,
        "attack_types": list(incident.attack_types),
        "legal_refs": list(incident.legal_refs),
        "platform": incident.platform,
        "region": incident.region,
        "perpetrator_type": incident.perpetrator.type,
        "campaign_id": incident.campaign_id,
        "merged_into_id": incident.merged_into_id,
        "ongoing": incident.ongoing,
        "targets": len(incident.targets),
        "assignee_id": incident.assignee_id,
        "tlp": str(incident.tlp),
        "legal_provision": incident.legal_provision,
        "disarm_techniques": list(incident.disarm_techniques),
    }
