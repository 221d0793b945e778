"""People's control over their data: consent, retention periods, erasure and the panic lock.

The rules here are pure: what a consent allows, which records a retention policy lets expire,
who may pull or lift a panic lock. The store applies them in SQL and the privacy desk in
transactions; nothing here knows either.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from qorgau.domain.model import Role, Target
from qorgau.errors import InvalidInput

MAX_PARTNERS = 50
MAX_PARTNER_ID = 64
MAX_REASON = 2000


class Answer(StrEnum):
    YES = "yes"
    NO = "no"
    NOT_ASKED = "not_asked"


class ConsentSource(StrEnum):
    """Where a consent came from: the person themselves, or a responder on their word."""

    REPORT_FORM = "report_form"
    TRACK_PAGE = "track_page"
    RESPONDER = "responder"


class LockSource(StrEnum):
    STAFF = "staff"
    RECEIPT = "receipt"


@dataclass(frozen=True)
class Consent:
    """What the person agreed to. ``partners`` is ``None`` for any partner, ``()`` for none."""

    name_publicly: Answer = Answer.NOT_ASKED
    share: Answer = Answer.NOT_ASKED
    partners: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ConsentRecord:
    id: int
    incident_id: int
    consent: Consent
    source: ConsentSource
    recorded_by: int | None
    recorded_by_name: str
    recorded_at: datetime
    note: str | None


def parse_consent(
    name_publicly: str | None, share: str | None, partners: Sequence[str] | str | None
) -> Consent:
    """A consent from a form or an API body; ``partners`` is a list of ids or ``"none"``."""
    problems: list[InvalidInput] = []
    answers: dict[str, Answer] = {}
    for key, value in (("name_publicly", name_publicly), ("share", share)):
        try:
            answers[key] = Answer(value or Answer.NOT_ASKED)
        except ValueError:
            problems.append(
                InvalidInput.single(
                    key, "unknown", f"answer yes, no or not_asked (got {value!r})", tuple(Answer)
                )
            )
    chosen: tuple[str, ...] | None
    if partners is None:
        chosen = None
    elif isinstance(partners, str):
        if partners.strip().lower() != "none":
            problems.append(
                InvalidInput.single(
                    "partners", "format", 'give a list of partner ids, or "none" for no partner'
                )
            )
        chosen = ()
    else:
        cleaned = [p.strip() for p in partners]
        bad = [p for p in cleaned if not p or len(p) > MAX_PARTNER_ID]
        if bad or len(cleaned) > MAX_PARTNERS:
            problems.append(
                InvalidInput.single(
                    "partners",
                    "format",
                    f"at most {MAX_PARTNERS} partner ids of 1-{MAX_PARTNER_ID} characters each",
                )
            )
        chosen = tuple(dict.fromkeys(cleaned))
    if problems:
        raise InvalidInput([p for exc in problems for p in exc.problems])
    consent = Consent(answers["name_publicly"], answers["share"], chosen)
    if consent.share is not Answer.YES and consent.partners:
        raise InvalidInput.single(
            "partners", "conflict", 'partners are named only when share is "yes"'
        )
    return consent


def refusal_to_share(consent: Consent | None, partner: str | None) -> str | None:
    """Why a case may not go to ``partner`` (``None``: an export with no named recipient), or
    ``None`` when it may. No record, or "not asked", leaves the organisation's TLP rules alone."""
    if consent is None or consent.share is Answer.NOT_ASKED:
        return None
    if consent.share is Answer.NO:
        return "the person did not consent to the case being shared with anyone"
    if consent.partners is None:
        return None
    if not consent.partners:
        return "the person consented to sharing with no partner"
    if partner is None:
        return "the person consented to sharing only with named partners: " + ", ".join(
            consent.partners
        )
    if partner not in consent.partners:
        return f"the person did not consent to sharing with {partner}; consented: " + ", ".join(
            consent.partners
        )
    return None


def named_targets(consent: Consent | None, targets: tuple[Target, ...]) -> tuple[Target, ...]:
    """Targets with the consent in force applied to ``consent_public``, the one flag every
    public output already reads: "no" withdraws it, "yes" grants it (phone numbers are never
    published), "not asked" keeps what the report said."""
    if consent is None or consent.name_publicly is Answer.NOT_ASKED:
        return targets
    grant = consent.name_publicly is Answer.YES
    return tuple(replace(t, consent_public=grant and t.kind != "phone_number") for t in targets)


# -- panic lock ---------------------------------------------------------------------------
def may_see_locked(role: Role | None) -> bool:
    """Only administrators see a locked case: a lock is pulled when someone inside, or a
    stolen account, may be the danger."""
    return role is Role.ADMIN


def check_reason(reason: str | None, *, required: bool) -> str | None:
    text = (reason or "").strip()
    if required and not text:
        raise InvalidInput.single(
            "reason", "required", "say why, in a few words (kept in the audit)"
        )
    if len(text) > MAX_REASON:
        raise InvalidInput.single("reason", "max_length", f"at most {MAX_REASON} characters")
    return text or None


# -- retention ----------------------------------------------------------------------------
class RecordKind(StrEnum):
    """What expires. Case kinds count from when a case was closed; the others from their own
    creation time."""

    CASE_PERSONAL = "case_personal"  # title, description, targets' names, links
    REPORTER_CONTACT = "reporter_contact"
    NOTES = "notes"
    ATTACHMENTS = "attachments"
    EVIDENCE = "evidence"  # vault bytes; the log entry and its hash stay
    AUDIT = "audit"
    OBSERVATIONS = "observations"


CASE_KINDS = frozenset(
    {
        RecordKind.CASE_PERSONAL,
        RecordKind.REPORTER_CONTACT,
        RecordKind.NOTES,
        RecordKind.ATTACHMENTS,
        RecordKind.EVIDENCE,
    }
)

# Days; ``None`` keeps forever. Contacts go first (nobody needs to call about a closed case for
# long); evidence is kept until someone decides, because a court case may come years later.
DEFAULT_RETENTION: Mapping[RecordKind, int | None] = {
    RecordKind.CASE_PERSONAL: 3 * 365,
    RecordKind.REPORTER_CONTACT: 365,
    RecordKind.NOTES: 3 * 365,
    RecordKind.ATTACHMENTS: 3 * 365,
    RecordKind.EVIDENCE: None,
    RecordKind.AUDIT: 7 * 365,
    RecordKind.OBSERVATIONS: 2 * 365,
}

MAX_DAYS = 100 * 365


@dataclass(frozen=True)
class RetentionPolicy:
    days: Mapping[RecordKind, int | None] = field(default_factory=lambda: dict(DEFAULT_RETENTION))

    def cutoff(self, kind: RecordKind, now: datetime) -> datetime | None:
        """Records of ``kind`` older than this (closed before it, for case kinds) expire."""
        d = self.days.get(kind)
        return None if d is None else now - timedelta(days=d)

    def as_dict(self) -> dict[str, int | None]:
        return {str(k): self.days.get(k) for k in RecordKind}


def parse_retention(text: str) -> RetentionPolicy:
    """A retention document: JSON mapping kinds to days (``null`` keeps forever). Kinds left
    out keep their default, so a document names only what the organisation changes."""
    try:
        doc: Any = json.loads(text)
    except ValueError as exc:
        raise InvalidInput.single("retention", "json", f"not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise InvalidInput.single("retention", "type", 'an object like {"notes": 730}')
    days: dict[RecordKind, int | None] = dict(DEFAULT_RETENTION)
    problems = []
    for key, value in doc.items():
        try:
            kind = RecordKind(key)
        except ValueError:
            problems.extend(
                InvalidInput.single(
                    key, "unknown", "not a kind of record", tuple(RecordKind)
                ).problems
            )
            continue
        if value is None:
            days[kind] = None
        elif isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_DAYS:
            days[kind] = value
        else:
            problems.extend(
                InvalidInput.single(
                    key, "range", f"days from 1 to {MAX_DAYS}, or null to keep forever"
                ).problems
            )
    if problems:
        raise InvalidInput(problems)
    return RetentionPolicy(days)
