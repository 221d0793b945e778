"""People's control over their data: consent records, legal holds, erasure on request and the
panic lock (staff, and the at-risk person with their receipt code). See docs/decisions/0026."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field

from qorgau.domain.access import Action
from qorgau.domain.model import Principal
from qorgau.domain.privacy import ConsentRecord, ConsentSource, parse_consent
from qorgau.privacy_desk import PrivacyDesk
from qorgau.web.auth import client_address, desk, principal, route
from qorgau.web.rate_limits import receipt_lookup
from qorgau.web.schemas import Strict

router = APIRouter(prefix="/api/v1", tags=["privacy"])
Who = Annotated[Principal, Depends(principal)]
CaseId = Annotated[str, Path(min_length=3, max_length=16)]
AnswerIn = Literal["yes", "no", "not_asked"]
Receipt = Annotated[str, Field(min_length=4, max_length=64)]


def pd(request: Request) -> PrivacyDesk:
    d: PrivacyDesk | None = getattr(request.app.state, "privacy_desk", None)
    if d is None:
        d = PrivacyDesk(desk(request))
        request.app.state.privacy_desk = d
    return d


class ConsentIn(Strict):
    name_publicly: AnswerIn = "not_asked"
    share: AnswerIn = "not_asked"
    partners: list[Annotated[str, Field(max_length=64)]] | Literal["none"] | None = Field(
        default=None,
        description='Partner ids the case may go to, "none" for no partner, absent for any.',
    )
    source: Literal["report_form", "responder"] = "responder"
    note: Annotated[str, Field(max_length=2000)] | None = None


class TrackConsentIn(Strict):
    receipt_code: Receipt
    name_publicly: AnswerIn = "not_asked"
    share: AnswerIn = "not_asked"
    partners: list[Annotated[str, Field(max_length=64)]] | Literal["none"] | None = None


class ConsentOut(BaseModel):
    id: int
    name_publicly: str
    share: str
    partners: list[str] | None
    source: str
    recorded_by: str
    recorded_at: datetime
    note: str | None = None


class ConsentHistoryOut(BaseModel):
    current: ConsentOut | None
    history: list[ConsentOut]


class ShareCheckOut(BaseModel):
    public_id: str
    partner: str | None
    allowed: bool


class ReasonIn(Strict):
    reason: Annotated[str, Field(max_length=2000)] | None = None


class ErasureOut(BaseModel):
    public_id: str
    case_text: bool
    targets: int
    reporter_contact: bool
    notes: int
    attachments: int
    evidence: int
    audit_scrubbed: int
    blobs_deleted: int
    blobs_kept_shared: int


class LockOut(BaseModel):
    public_id: str
    locked: bool
    changed: bool


class LockedCaseOut(BaseModel):
    public_id: str
    locked_at: datetime
    locked_by: str
    source: str
    reason: str | None


class TrackLockIn(Strict):
    receipt_code: Receipt


def consent_out(r: ConsentRecord) -> ConsentOut:
    c = r.consent
    return ConsentOut(
        id=r.id,
        name_publicly=str(c.name_publicly),
        share=str(c.share),
        partners=None if c.partners is None else list(c.partners),
        source=str(r.source),
        recorded_by=r.recorded_by_name,
        recorded_at=r.recorded_at,
        note=r.note,
    )


@router.get(
    "/incidents/{public_id}/consent",
    response_model=ConsentHistoryOut,
    summary="The consent in force for a case and its history (append-only)",
    **route(Action.CONSENT_READ),
)
def get_consent(request: Request, who: Who, public_id: CaseId) -> ConsentHistoryOut:
    history = [consent_out(r) for r in pd(request).consent_history(who, public_id)]
    return ConsentHistoryOut(current=history[-1] if history else None, history=history)


@router.post(
    "/incidents/{public_id}/consent",
    response_model=ConsentOut,
    status_code=201,
    summary="Record what the person consented to (naming, sharing, which partners)",
    **route(Action.CONSENT_WRITE),
)
def post_consent(request: Request, who: Who, public_id: CaseId, body: ConsentIn) -> ConsentOut:
    consent = parse_consent(body.name_publicly, body.share, body.partners)
    rec = pd(request).record_consent(
        who,
        public_id,
        consent,
        source=ConsentSource(body.source),
        note=body.note,
        address=client_address(request),
    )
    return consent_out(rec)


@router.get(
    "/incidents/{public_id}/sharing-consent",
    response_model=ShareCheckOut,
    summary="Whether the case may go to a partner (409 with the reason when it may not)",
    **route(Action.CONSENT_READ),
)
def sharing_consent(
    request: Request,
    who: Who,
    public_id: CaseId,
    partner: Annotated[str | None, Query(max_length=64)] = None,
) -> ShareCheckOut:
    pd(request).check_share(who, public_id, partner)
    return ShareCheckOut(public_id=public_id, partner=partner, allowed=True)


@router.put(
    "/incidents/{public_id}/legal-hold",
    status_code=204,
    summary="Put a case under legal hold: nothing of it expires or is erased",
    **route(Action.LEGAL_HOLD),
)
def put_hold(request: Request, who: Who, public_id: CaseId, body: ReasonIn) -> Response:
    pd(request).hold(who, public_id, body.reason, client_address(request))
    return Response(status_code=204)


@router.delete(
    "/incidents/{public_id}/legal-hold",
    status_code=204,
    summary="Lift a legal hold",
    **route(Action.LEGAL_HOLD),
)
def delete_hold(request: Request, who: Who, public_id: CaseId) -> Response:
    pd(request).release_hold(who, public_id, client_address(request))
    return Response(status_code=204)


@router.post(
    "/incidents/{public_id}/erasure",
    response_model=ErasureOut,
    summary="Erase a case's personal content on request; the evidence log stays verifiable",
    **route(Action.CASE_ERASE),
)
def erase(request: Request, who: Who, public_id: CaseId, body: ReasonIn) -> ErasureOut:
    done = pd(request).erase(who, public_id, body.reason, client_address(request))
    return ErasureOut.model_validate({"public_id": public_id, **done.counts()})


@router.post(
    "/reports/track/consent",
    response_model=ConsentOut,
    status_code=201,
    summary="The person's own consent, given with their receipt code",
    **route(Action.REPORT_TRACK),
)
def track_consent(request: Request, who: Who, body: TrackConsentIn) -> ConsentOut:
    consent = parse_consent(body.name_publicly, body.share, body.partners)
    address = client_address(request)
    _, rec = receipt_lookup(
        request,
        address,
        lambda: pd(request).record_consent_by_receipt(body.receipt_code, consent, address),
    )
    return consent_out(rec)


@router.get(
    "/locks",
    response_model=list[LockedCaseOut],
    summary="Cases under a panic lock (administrators only)",
    **route(Action.CASE_UNLOCK),
)
def list_locks(request: Request, who: Who) -> list[LockedCaseOut]:
    return [
        LockedCaseOut(
            public_id=pid,
            locked_at=lk.locked_at,
            locked_by=lk.locked_by_name,
            source=str(lk.source),
            reason=lk.reason,
        )
        for pid, lk in pd(request).locks(who)
    ]


@router.post(
    "/incidents/{public_id}/lock",
    response_model=LockOut,
    summary="Panic lock: hide the case at once from everyone but administrators",
    **route(Action.CASE_LOCK),
)
def lock(request: Request, who: Who, public_id: CaseId, body: ReasonIn) -> LockOut:
    changed = pd(request).lock(who, public_id, body.reason, client_address(request))
    return LockOut(public_id=public_id, locked=True, changed=changed)


@router.delete(
    "/incidents/{public_id}/lock",
    response_model=LockOut,
    summary="Lift a panic lock (administrators only)",
    **route(Action.CASE_UNLOCK),
)
def unlock(request: Request, who: Who, public_id: CaseId) -> LockOut:
    pd(request).unlock(who, public_id, client_address(request))
    return LockOut(public_id=public_id, locked=False, changed=True)


@router.post(
    "/reports/track/lock",
    response_model=LockOut,
    summary="Panic lock by the at-risk person, with their receipt code",
    **route(Action.REPORT_TRACK),
)
def track_lock(request: Request, who: Who, body: TrackLockIn) -> LockOut:
    address = client_address(request)
    public_id = receipt_lookup(
        request, address, lambda: pd(request).lock_by_receipt(body.receipt_code, address)
    )
    return LockOut(public_id=public_id, locked=True, changed=True)
