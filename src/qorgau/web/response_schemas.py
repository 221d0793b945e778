"""Request and response bodies of the rapid-response endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

from qorgau.domain.model import Severity, Status
from qorgau.response.referrals import ReferralState
from qorgau.store.case_tasks import TaskState
from qorgau.web.schemas import Strict

Reason = Annotated[str | None, Field(max_length=2000)]


class TriageIn(Strict):
    severity: Severity
    reason: Reason = None


class AssignIn(Strict):
    user_id: int | None = Field(description="The handler to take the case; null releases it.")
    note: Reason = None


class DeadlineOut(BaseModel):
    name: str
    due: datetime
    met_at: datetime | None
    state: str
    remaining_seconds: int
    escalated_at: datetime | None


class ClockOut(BaseModel):
    severity: Severity
    state: str
    paused: bool
    first_response: DeadlineOut
    first_action: DeadlineOut


class QueueItemOut(BaseModel):
    public_id: str
    title: str
    severity: Severity
    status: Status
    assignee_id: int | None
    reported_at: datetime
    clock: ClockOut


class TaskOut(BaseModel):
    id: int
    position: int
    playbook_id: str | None
    playbook_version: str | None
    step_id: str | None
    title: dict[str, str]
    state: TaskState
    reason: str | None
    done_at: datetime | None
    done_by: int | None


class PlaybookAttachIn(Strict):
    playbook_id: Annotated[str, Field(min_length=1, max_length=64)]


class TaskIn(Strict):
    title: Annotated[str, Field(min_length=1, max_length=500)]


class TaskStateIn(Strict):
    state: TaskState
    reason: Reason = None


class StepOut(BaseModel):
    id: str
    title: dict[str, str]


class PlaybookOut(BaseModel):
    id: str
    version: str
    kind: str
    attack_types: list[str]
    applies_to: list[str]
    title: dict[str, str]
    steps: list[StepOut]


class DocumentOut(BaseModel):
    kind: str
    version: int | None
    body: dict[str, Any] | None


class DocumentSaved(BaseModel):
    kind: str
    version: int


class DutyOut(BaseModel):
    usernames: list[str]
    tier: str
    fallback: str | None


class ChannelIn(Strict):
    address: Annotated[str, Field(min_length=1, max_length=2000)]


class DeliveryOut(BaseModel):
    id: int
    incident_id: int | None
    user_id: int | None
    event: str
    channel: str
    state: str
    attempts: int
    payload: dict[str, Any]
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    read_at: datetime | None


class IdsIn(Strict):
    ids: Annotated[list[int], Field(min_length=1, max_length=500)]


class CountOut(BaseModel):
    count: int


class PartnerOut(BaseModel):
    id: str
    name: str
    offers: list[str]
    languages: list[str]
    website: str
    conditions: dict[str, str]


class SuggestionOut(BaseModel):
    partner: PartnerOut
    needs: list[str]
    speaks_language: bool
    score: int


class ReferralIn(Strict):
    partner_id: Annotated[str, Field(min_length=1, max_length=64)]
    need: Annotated[str, Field(min_length=1, max_length=40)]
    note: Reason = None


class ReferralUpdateIn(Strict):
    state: ReferralState
    outcome: Reason = None


class ReferralOut(BaseModel):
    id: int
    partner_id: str
    need: str
    state: ReferralState
    outcome: str | None
    created_at: datetime
    updated_at: datetime


class StatementDraftIn(Strict):
    language: Annotated[str, Field(min_length=2, max_length=8)]


class StatementEditIn(Strict):
    body: Annotated[str, Field(min_length=1, max_length=20_000)]


class StatementOut(BaseModel):
    id: int
    incident_public_id: str | None = None
    language: str
    body: str
    state: str
    created_at: datetime
    updated_at: datetime
    approved_at: datetime | None
    approved_by: int | None
    published_at: datetime | None


class HygieneIn(Strict):
    kind: Annotated[str, Field(min_length=1, max_length=10)]
    label: Annotated[str, Field(min_length=1, max_length=300)]
    checklist_id: Annotated[str | None, Field(max_length=64)] = None


class HygieneItemIn(Strict):
    state: Annotated[str, Field(min_length=1, max_length=20)]
    note: Reason = None


class HygieneOut(BaseModel):
    id: int
    kind: str
    label: str
    checklist_id: str
    checklist_version: str
    steps: list[dict[str, Any]]


class TimelineOut(BaseModel):
    at: datetime
    kind: str
    actor: str | None
    detail: dict[str, Any]


class AttachmentOut(BaseModel):
    sha256: str
    size: int
    media_type: str
    filename: str | None
    source: str
    created_at: datetime


class CustodyOut(BaseModel):
    at: datetime
    actor: str
    action: str
    reason: str | None


class EvidenceOut(BaseModel):
    id: int
    sha256: str
    size: int
    media_type: str
    role: str
    method: str
    original_name: str | None
    source: str | None
    collected_at: datetime
    collector: str
    derived_from_id: int | None
    derivation: str | None
    capture_id: str | None
    leaf_index: int
    warnings: list[str]
    custody: list[CustodyOut]


def evidence_out(item: Any, custody: list[Any], warnings: list[str]) -> EvidenceOut:
    return EvidenceOut(
        id=item.id,
        sha256=item.sha256,
        size=item.size,
        media_type=item.media_type,
        role=item.role,
        method=item.method,
        original_name=item.original_name,
        source=item.source,
        collected_at=item.collected_at,
        collector=item.collector_name,
        derived_from_id=item.derived_from_id,
        derivation=item.derivation,
        capture_id=item.capture_id,
        leaf_index=item.leaf_index,
        warnings=[*warnings, *item.details.get("warnings", [])],
        custody=[
            CustodyOut(at=c.at, actor=c.actor_name, action=c.action, reason=c.reason)
            for c in custody
        ],
    )


class ExportIn(Strict):
    language: Annotated[str, Field(min_length=2, max_length=2)] = "en"
    reason: Annotated[str, Field(min_length=1, max_length=500)]
    items: Annotated[list[int] | None, Field(max_length=10_000)] = Field(
        default=None, description="Only these items of the case (default: all of them)."
    )


class VerifyOut(BaseModel):
    ok: bool
    blobs_checked: int
    entries_checked: int
    items_checked: int
    heads_checked: int
    timestamps_checked: int
    unsealed_entries: int
    problems: list[dict[str, str]]
    # Entries whose content was erased (docs/decisions/0026): hash kept, bytes gone.
    erased: list[dict[str, int | str]] = []


class CaptureIn(Strict):
    url: Annotated[str, Field(min_length=8, max_length=2000)]


class LegalBasisIn(Strict):
    basis: Annotated[str, Field(min_length=1, max_length=24)]
    reference: Annotated[str | None, Field(max_length=500)] = None


class TargetIn(Strict):
    outlet: Annotated[str, Field(min_length=1, max_length=200)]
    url: Annotated[str, Field(min_length=8, max_length=2000)]


class AgentIn(Strict):
    name: Annotated[str, Field(min_length=1, max_length=80)]
    country: Annotated[str | None, Field(min_length=2, max_length=2)] = None
    asn: Annotated[str | None, Field(min_length=3, max_length=16)] = None
    network_name: Annotated[str | None, Field(max_length=80)] = None
    is_control: bool = False
    interval_s: Annotated[int, Field(ge=10, le=86_400)] = 300


class AgentRegisterIn(Strict):
    public_key: Annotated[str, Field(min_length=40, max_length=64)]
    software: Annotated[str | None, Field(max_length=80)] = None


class ControlIn(Strict):
    url: Annotated[str, Field(min_length=8, max_length=2000)]


class ResultsIn(Strict):
    sent_at: datetime
    results: Annotated[list[dict[str, Any]], Field(max_length=500)]
