"""The case desk's core vocabulary as plain data classes.

Severity and status drive logic (clocks, workflow), so they are enums in code; everything that
only classifies (attack types, categories, legal references...) lives in the taxonomy data file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from qorgau.domain.tlp import Tlp


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Status(StrEnum):
    NEW = "new"
    TRIAGED = "triaged"
    IN_PROGRESS = "in_progress"
    WAITING_ON_REPORTER = "waiting_on_reporter"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REJECTED = "rejected"
    MERGED = "merged"


class Role(StrEnum):
    ADMIN = "admin"
    COORDINATOR = "coordinator"
    RESPONDER = "responder"
    LEGAL = "legal"
    ANALYST = "analyst"
    REPORTER = "reporter"
    # Another organisation (CERT, NGO, journalists' union) reading what is shared with it.
    PARTNER = "partner"


@dataclass(frozen=True)
class TargetInput:
    """Who or what was attacked, as submitted. ``identifier`` is the machine handle (phone in
    any format, host, @handle, e-mail); ``name`` is how people call it."""

    kind: str
    name: str
    identifier: str | None = None
    consent_public: bool = False
    # For people: journalist, activist... (taxonomy ``target_role``).
    role: str | None = None
    # Recorded only when the person agreed (``gender_consent``), for statistics.
    gender: str | None = None
    gender_consent: bool = False


@dataclass(frozen=True)
class Target:
    kind: str
    name: str
    identifier: str | None
    normalized: str
    consent_public: bool
    role: str | None = None
    gender: str | None = None

    @property
    def target_type(self) -> str | None:
        """What monitoring reports count: an outlet, or a person by role; identifiers (phones,
        e-mails, accounts) belong to someone already counted and are not a type of their own."""
        if self.kind in ("outlet", "website"):
            return "outlet"
        if self.kind == "person":
            return self.role or "person"
        return None


@dataclass(frozen=True)
class ReporterContact:
    """How to reach the person who reported; always encrypted at rest."""

    name: str | None = None
    email: str | None = None
    phone: str | None = None
    preferred_channel: str | None = None

    def is_empty(self) -> bool:
        return not (self.name or self.email or self.phone)


@dataclass(frozen=True)
class Perpetrator:
    type: str = "unknown"
    description: str | None = None


@dataclass(frozen=True)
class ReportFields:
    """Raw but type-checked fields of a report, before domain rules run."""

    title: str
    description: str = ""
    started_at: datetime | None = None
    attack_types: tuple[str, ...] = ()
    category: str | None = None
    platform: str | None = None
    region: str | None = None
    perpetrator: Perpetrator = field(default_factory=Perpetrator)
    severity: Severity | None = None
    legal_refs: tuple[str, ...] = ()
    targets: tuple[TargetInput, ...] = ()
    reporter: ReporterContact = field(default_factory=ReporterContact)
    source_urls: tuple[str, ...] = ()
    language: str | None = None
    ongoing: bool = False
    external_ref: str | None = None
    reported_at: datetime | None = None
    # Triage signals: facts the severity rules look at.
    threat_to_life: bool = False
    home_address_leaked: bool = False
    people_targeted: int | None = None
    reach: int | None = None
    tlp: Tlp | None = None
    disarm_techniques: tuple[str, ...] = ()


@dataclass(frozen=True)
class NewIncident:
    """A report that passed every domain rule and is ready to be stored."""

    title: str
    description: str
    started_at: datetime | None
    reported_at: datetime
    attack_types: tuple[str, ...]
    category: str
    platform: str | None
    region: str | None
    perpetrator: Perpetrator
    severity: Severity
    legal_refs: tuple[str, ...]
    targets: tuple[Target, ...]
    reporter: ReporterContact
    source_urls: tuple[str, ...]
    language: str | None
    ongoing: bool
    external_ref: str | None
    status: Status = Status.NEW
    threat_to_life: bool = False
    home_address_leaked: bool = False
    people_targeted: int | None = None
    reach: int | None = None
    # Whether ``severity`` came with the report (staff, imports) rather than by default.
    severity_given: bool = False
    # Set by triage before storing: the proposal, its reasons and the signals it used.
    proposed_severity: Severity | None = None
    triage: dict[str, Any] | None = None
    tlp: Tlp = Tlp.AMBER
    disarm_techniques: tuple[str, ...] = ()


@dataclass(frozen=True)
class Incident:
    """A stored incident as the case desk reads it."""

    id: int
    public_id: str
    org_id: int
    title: str
    description: str
    started_at: datetime | None
    reported_at: datetime
    attack_types: tuple[str, ...]
    category: str
    platform: str | None
    region: str | None
    perpetrator: Perpetrator
    severity: Severity
    status: Status
    legal_refs: tuple[str, ...]
    targets: tuple[Target, ...]
    reporter: ReporterContact
    reporter_user_id: int | None
    source_urls: tuple[str, ...]
    language: str | None
    ongoing: bool
    external_ref: str | None
    campaign_id: int | None
    merged_into_id: int | None
    created_at: datetime
    updated_at: datetime
    proposed_severity: Severity | None = None
    triage: dict[str, Any] | None = None
    severity_confirmed_at: datetime | None = None
    severity_confirmed_by: int | None = None
    assignee_id: int | None = None
    assigned_at: datetime | None = None
    tlp: Tlp = Tlp.AMBER
    disarm_techniques: tuple[str, ...] = ()
    legal_provision: str = "unassessed"
    legal_outcome: str = "not_reported"
    authorities_reported_at: datetime | None = None
    official_response_at: datetime | None = None
    # Under a panic lock (domain/privacy.py): only administrators may see it.
    locked: bool = False


@dataclass(frozen=True)
class Note:
    id: int
    incident_id: int
    author_id: int | None
    body: str
    sensitive: bool
    created_at: datetime


@dataclass(frozen=True)
class Campaign:
    id: int
    org_id: int
    name: str
    description: str
    created_at: datetime


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: Role
    org_id: int
    display_name: str
    active: bool


@dataclass(frozen=True)
class Principal:
    """Who is acting: a signed-in user, or the anonymous public."""

    user_id: int | None
    role: Role | None
    org_id: int
    username: str = "anonymous"

    @property
    def is_anonymous(self) -> bool:
        return self.role is None


@dataclass(frozen=True)
class AuditEvent:
    id: int
    at: datetime
    actor_id: int | None
    actor_name: str
    tag: str
    entity: str
    entity_id: str
    before: dict[str, object] | None
    after: dict[str, object] | None
    address: str | None
