"""Request and response bodies. Limits here are the first line against bad input; domain rules
(taxonomy, dates, phone numbers) follow in ``qorgau.domain.intake``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from qorgau.domain.legal import LegalProvision
from qorgau.domain.model import Role, Severity, Status
from qorgau.domain.tlp import Tlp

Short = Annotated[str, Field(max_length=200)]
Code = Annotated[str, Field(min_length=1, max_length=40)]
Url = Annotated[str, Field(max_length=2000)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        """PostgreSQL text cannot hold NUL, and no person types one: refused with a clear
        message rather than failing deep in storage (SQLite would keep it, PostgreSQL not)."""
        items = value if isinstance(value, list | tuple) else (value,)
        if any(isinstance(v, str) and "\x00" in v for v in items):
            raise ValueError("contains a NUL character (\\0), which cannot be stored; remove it")
        return value


class TargetIn(Strict):
    kind: Code
    name: Annotated[str, Field(max_length=300)] = ""
    identifier: Annotated[str | None, Field(max_length=300)] = None
    consent_public: bool = False
    role: Code | None = Field(default=None, description="People only: journalist, activist...")
    gender: Code | None = Field(
        default=None, description="People only, and only with their consent (gender_consent)."
    )
    gender_consent: bool = False


class ReporterIn(Strict):
    name: Short | None = None
    email: Annotated[str | None, Field(max_length=254)] = None
    phone: Annotated[str | None, Field(max_length=40)] = None
    preferred_channel: Annotated[str | None, Field(max_length=40)] = None


class PerpetratorIn(Strict):
    type: Code = "unknown"
    description: Annotated[str | None, Field(max_length=2000)] = None


class ReportIn(Strict):
    title: Annotated[str, Field(min_length=1, max_length=300)]
    description: Annotated[str, Field(max_length=20_000)] = ""
    started_at: datetime | None = None
    reported_at: datetime | None = Field(
        default=None, description="Staff only: the original report time of an older case."
    )
    attack_types: Annotated[list[Code], Field(min_length=1, max_length=10)]
    category: Code | None = None
    platform: Code | None = None
    region: Code | None = None
    perpetrator: PerpetratorIn = Field(default_factory=PerpetratorIn)
    severity: Severity | None = None
    legal_refs: Annotated[list[Code], Field(max_length=20)] = Field(default_factory=list)
    targets: Annotated[list[TargetIn], Field(max_length=50)] = Field(default_factory=list)
    reporter: ReporterIn = Field(default_factory=ReporterIn)
    source_urls: Annotated[list[Url], Field(max_length=20)] = Field(default_factory=list)
    language: Annotated[str | None, Field(max_length=8)] = None
    ongoing: bool = False
    external_ref: Short | None = None
    threat_to_life: bool = Field(
        default=False, description="Someone's life or liberty is threatened (triage: critical)."
    )
    home_address_leaked: bool = Field(default=False, description="A home address was published.")
    people_targeted: Annotated[int | None, Field(ge=0, le=10_000_000_000)] = None
    reach: Annotated[int | None, Field(ge=0, le=10_000_000_000)] = Field(
        default=None, description="How many people saw the attack's content, if known."
    )
    tlp: Tlp | None = Field(
        default=None, description="Who the case may be shared with (TLP 2.0); default amber."
    )
    disarm_techniques: Annotated[list[Code], Field(max_length=20)] = Field(
        default_factory=list, description="DISARM technique ids, e.g. T0086.002."
    )


class ReportAck(BaseModel):
    public_id: str
    receipt_code: str | None = Field(
        None, description="Shown once: lets an anonymous reporter follow the report."
    )
    replayed: bool = False


class TrackIn(Strict):
    receipt_code: Annotated[str, Field(min_length=4, max_length=64)]


class TrackOut(BaseModel):
    public_id: str
    status: Status
    updated_at: datetime


class TargetOut(BaseModel):
    kind: str
    name: str
    identifier: str | None
    consent_public: bool
    role: str | None = None
    gender: str | None = None


class ReporterOut(BaseModel):
    name: str | None
    email: str | None
    phone: str | None
    preferred_channel: str | None


class PerpetratorOut(BaseModel):
    type: str
    description: str | None


class IncidentOut(BaseModel):
    public_id: str
    title: str
    description: str
    started_at: datetime | None
    reported_at: datetime
    attack_types: list[str]
    category: str
    platform: str | None
    region: str | None
    perpetrator: PerpetratorOut
    severity: Severity
    status: Status
    legal_refs: list[str]
    targets: list[TargetOut]
    reporter: ReporterOut | None
    source_urls: list[str]
    language: str | None
    ongoing: bool
    external_ref: str | None
    campaign_id: int | None
    merged_into: str | None = None
    merged_from: list[str] = []
    created_at: datetime
    updated_at: datetime
    proposed_severity: Severity | None = None
    triage: dict[str, Any] | None = None
    severity_confirmed_at: datetime | None = None
    assignee_id: int | None = None
    assigned_at: datetime | None = None
    tlp: Tlp = Tlp.AMBER
    disarm_techniques: list[str] = []
    legal_provision: str = "unassessed"
    legal_outcome: str = "not_reported"
    authorities_reported_at: datetime | None = None
    official_response_at: datetime | None = None


class PageOut(BaseModel):
    total: int
    limit: int
    offset: int
    next_offset: int | None


class IncidentPage(PageOut):
    items: list[IncidentOut]


class IncidentPatchIn(Strict):
    title: Annotated[str | None, Field(min_length=1, max_length=300)] = None
    description: Annotated[str | None, Field(max_length=20_000)] = None
    severity: Severity | None = None
    category: Code | None = None
    attack_types: Annotated[list[Code] | None, Field(max_length=10)] = None
    legal_refs: Annotated[list[Code] | None, Field(max_length=20)] = None
    platform: Code | None = None
    region: Code | None = None
    ongoing: bool | None = None
    tlp: Tlp | None = None
    disarm_techniques: Annotated[list[Code] | None, Field(max_length=20)] = None
    legal_provision: LegalProvision | None = None


class StatusIn(Strict):
    status: Status
    reason: Annotated[str | None, Field(max_length=2000)] = None


class NoteIn(Strict):
    body: Annotated[str, Field(min_length=1, max_length=20_000)]
    sensitive: bool = False


class NoteOut(BaseModel):
    id: int
    incident_id: int
    author_id: int | None
    body: str
    sensitive: bool
    created_at: datetime


class NotePage(PageOut):
    items: list[NoteOut]


class MergeIn(Strict):
    into: Annotated[str, Field(min_length=3, max_length=16)]


class CampaignIn(Strict):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: Annotated[str, Field(max_length=5000)] = ""


class CampaignOut(BaseModel):
    id: int
    name: str
    description: str
    created_at: datetime
    incidents: int = 0


class CampaignPage(PageOut):
    items: list[CampaignOut]


class LinkIn(Strict):
    incidents: Annotated[
        list[Annotated[str, Field(max_length=16)]], Field(min_length=1, max_length=500)
    ]


class LoginIn(Strict):
    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]
    token_name: Annotated[str, Field(max_length=100)] = "api"
    otp: Annotated[str | None, Field(max_length=16)] = None


class TokenOut(BaseModel):
    token: str
    token_type: str = "bearer"
    expires_at: datetime
    role: Role


class UserIn(Strict):
    username: Annotated[str, Field(min_length=2, max_length=64)]
    role: Role
    password: Annotated[str | None, Field(min_length=12, max_length=1024)] = None
    display_name: Short | None = None


class UserPatchIn(Strict):
    active: bool


class UserOut(BaseModel):
    id: int
    username: str
    role: Role
    display_name: str
    active: bool


class UserPage(PageOut):
    items: list[UserOut]


class MeOut(BaseModel):
    id: int | None
    username: str
    role: Role | None


class AuditOut(BaseModel):
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


class AuditPage(PageOut):
    items: list[AuditOut]


class SummaryOut(BaseModel):
    total: int
    by_category: dict[str, int]
    by_attack_type: dict[str, int]
    by_status: dict[str, int]
    by_severity: dict[str, int]
    by_month: dict[str, int]


class TermOut(BaseModel):
    id: str
    label: str
    attrs: dict[str, object] = {}


class TaxonomyOut(BaseModel):
    version: str
    language: str
    sections: dict[str, list[TermOut]]


class HealthOut(BaseModel):
    status: str
    database: str
    schema_revision: str | None
    problems: list[str]
