"""Rapid-response endpoints: triage, assignment, clocks and the queue, tasks and playbooks,
response documents (roster, clocks, rules, webhooks), alert channels, notifications and the
delivery queue, referrals, statements, hygiene checklists and the case timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response

from qorgau.domain.access import Action
from qorgau.domain.model import Principal
from qorgau.response.clocks import Deadline
from qorgau.response.playbooks import Playbook
from qorgau.response.referrals import Partner
from qorgau.response.roster import Tier
from qorgau.response_desk import ClockView, ResponseDesk
from qorgau.security.uploads import download_headers
from qorgau.store.case_tasks import Task
from qorgau.store.deliveries import DeliveryRecord
from qorgau.store.response_records import HygieneSubject, Referral, Statement
from qorgau.web import response_schemas as rs
from qorgau.web import schemas
from qorgau.web.api.convert import incident_out
from qorgau.web.auth import client_address, principal, route

router = APIRouter(prefix="/api/v1", tags=["rapid response"])
Who = Annotated[Principal, Depends(principal)]
CaseId = Annotated[str, Path(min_length=3, max_length=16)]


def rd(request: Request) -> ResponseDesk:
    d: ResponseDesk = request.app.state.response_desk
    return d


# -- converters ---------------------------------------------------------------------------
def _deadline(d: Deadline) -> rs.DeadlineOut:
    return rs.DeadlineOut(
        name=d.name,
        due=d.due,
        met_at=d.met_at,
        state=str(d.state),
        remaining_seconds=d.remaining_seconds,
        escalated_at=d.escalated_at,
    )


def _clock(c: ClockView) -> rs.ClockOut:
    return rs.ClockOut(
        severity=c.severity,
        state=str(c.state),
        paused=c.paused,
        first_response=_deadline(c.response),
        first_action=_deadline(c.action),
    )


def _task(t: Task) -> rs.TaskOut:
    return rs.TaskOut(
        id=t.id,
        position=t.position,
        playbook_id=t.playbook_id,
        playbook_version=t.playbook_version,
        step_id=t.step_id,
        title=t.title,
        state=t.state,
        reason=t.reason,
        done_at=t.done_at,
        done_by=t.done_by,
    )


def _playbook(b: Playbook) -> rs.PlaybookOut:
    return rs.PlaybookOut(
        id=b.id,
        version=b.version,
        kind=str(b.kind),
        attack_types=list(b.attack_types),
        applies_to=list(b.applies_to),
        title=b.title.as_dict(),
        steps=[rs.StepOut(id=s.id, title=s.title.as_dict()) for s in b.step],
    )


def _delivery(d: DeliveryRecord) -> rs.DeliveryOut:
    return rs.DeliveryOut(
        id=d.id,
        incident_id=d.incident_id,
        user_id=d.user_id,
        event=d.event,
        channel=d.channel,
        state=d.state,
        attempts=d.attempts,
        payload=d.payload,
        last_error=d.last_error,
        created_at=d.created_at,
        sent_at=d.sent_at,
        read_at=d.read_at,
    )


def _partner(p: Partner) -> rs.PartnerOut:
    return rs.PartnerOut(
        id=p.id,
        name=p.name,
        offers=[str(o) for o in p.offers],
        languages=list(p.languages),
        website=str(p.website),
        conditions=p.conditions.as_dict(),
    )


def _referral(r: Referral) -> rs.ReferralOut:
    return rs.ReferralOut(
        id=r.id,
        partner_id=r.partner_id,
        need=r.need,
        state=r.state,
        outcome=r.outcome,
        created_at=r.created_at,
        updated_at=r.updated_at,
    )


def _statement(s: Statement) -> rs.StatementOut:
    return rs.StatementOut(
        id=s.id,
        language=s.language,
        body=s.body,
        state=str(s.state),
        created_at=s.created_at,
        updated_at=s.updated_at,
        approved_at=s.approved_at,
        approved_by=s.approved_by,
        published_at=s.published_at,
    )


def _hygiene(h: HygieneSubject, desk: ResponseDesk, org_id: int) -> rs.HygieneOut:
    book = desk.config(org_id).library.books.get(h.checklist_id)
    steps = []
    for step in book.step if book else ():
        state, note, at = h.items.get(step.id, ("todo", None, None))
        steps.append(
            {"id": step.id, "title": step.title.as_dict(), "state": state, "note": note, "at": at}
        )
    return rs.HygieneOut(
        id=h.id,
        kind=h.kind,
        label=h.label,
        checklist_id=h.checklist_id,
        checklist_version=h.checklist_version,
        steps=steps,
    )


# -- triage and assignment ----------------------------------------------------------------
@router.post(
    "/incidents/{public_id}/triage",
    response_model=schemas.IncidentOut,
    summary="Confirm or override the proposed severity",
    **route(Action.TRIAGE_CONFIRM),
)
def triage(public_id: CaseId, body: rs.TriageIn, request: Request, who: Who) -> schemas.IncidentOut:
    i = rd(request).confirm_severity(
        who, public_id, body.severity, body.reason, client_address(request)
    )
    return incident_out(i)


@router.post(
    "/incidents/{public_id}/claim",
    response_model=schemas.IncidentOut,
    summary="Claim an unassigned case",
    **route(Action.CASE_CLAIM),
)
def claim(public_id: CaseId, request: Request, who: Who) -> schemas.IncidentOut:
    return incident_out(rd(request).claim(who, public_id, client_address(request)))


@router.put(
    "/incidents/{public_id}/assignee",
    response_model=schemas.IncidentOut,
    summary="Assign, hand over or release a case",
    **route(Action.CASE_CLAIM),
)
def assign(public_id: CaseId, body: rs.AssignIn, request: Request, who: Who) -> schemas.IncidentOut:
    i = rd(request).assign(who, public_id, body.user_id, body.note, client_address(request))
    return incident_out(i)


# -- clocks and queue ---------------------------------------------------------------------
@router.get(
    "/incidents/{public_id}/clock",
    response_model=rs.ClockOut | None,
    summary="The case's response clocks",
    **route(Action.TASK_READ),
)
def clock(public_id: CaseId, request: Request, who: Who) -> rs.ClockOut | None:
    c = rd(request).clock(who, public_id)
    return _clock(c) if c else None


@router.get(
    "/queue",
    response_model=list[rs.QueueItemOut],
    summary="Open cases by urgency (views: open, breached, due_soon, mine, unassigned)",
    **route(Action.QUEUE_READ),
)
def queue(
    request: Request,
    who: Who,
    view: Annotated[str, Query(max_length=20)] = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[rs.QueueItemOut]:
    return [
        rs.QueueItemOut(
            public_id=i.public_id,
            title=i.title,
            severity=i.severity,
            status=i.status,
            assignee_id=i.assignee_id,
            reported_at=i.reported_at,
            clock=_clock(i.clock),
        )
        for i in rd(request).queue(who, view, limit)
    ]


# -- tasks and playbooks ------------------------------------------------------------------
@router.get(
    "/incidents/{public_id}/tasks",
    response_model=list[rs.TaskOut],
    summary="The case's task list",
    **route(Action.TASK_READ),
)
def tasks(public_id: CaseId, request: Request, who: Who) -> list[rs.TaskOut]:
    return [_task(t) for t in rd(request).tasks(who, public_id)]


@router.post(
    "/incidents/{public_id}/playbooks",
    response_model=list[rs.TaskOut],
    status_code=201,
    summary="Attach a playbook's steps to the case",
    **route(Action.TASK_WRITE),
)
def attach(
    public_id: CaseId, body: rs.PlaybookAttachIn, request: Request, who: Who
) -> list[rs.TaskOut]:
    done = rd(request).attach_playbook(who, public_id, body.playbook_id, client_address(request))
    return [_task(t) for t in done]


@router.post(
    "/incidents/{public_id}/tasks",
    response_model=rs.TaskOut,
    status_code=201,
    summary="Add a task of the desk's own",
    **route(Action.TASK_WRITE),
)
def add_task(public_id: CaseId, body: rs.TaskIn, request: Request, who: Who) -> rs.TaskOut:
    return _task(rd(request).add_task(who, public_id, body.title, client_address(request)))


@router.put(
    "/incidents/{public_id}/tasks/{task_id}",
    response_model=rs.TaskOut,
    summary="Tick, skip (with a reason) or reopen a task",
    **route(Action.TASK_WRITE),
)
def set_task(
    public_id: CaseId,
    task_id: Annotated[int, Path(ge=1)],
    body: rs.TaskStateIn,
    request: Request,
    who: Who,
) -> rs.TaskOut:
    t = rd(request).set_task(
        who, public_id, task_id, body.state, body.reason, client_address(request)
    )
    return _task(t)


@router.get(
    "/playbooks",
    response_model=list[rs.PlaybookOut],
    summary="Playbooks and hygiene checklists in force",
    **route(Action.PLAYBOOK_READ),
)
def playbooks(request: Request, who: Who) -> list[rs.PlaybookOut]:
    return [_playbook(b) for b in rd(request).playbooks(who)]


# -- response documents -------------------------------------------------------------------
DocKind = Annotated[str, Path(min_length=1, max_length=80, pattern=r"^[a-z]+(:[a-z0-9-]+)?$")]


@router.get(
    "/response/documents/{kind}",
    response_model=rs.DocumentOut,
    summary="The organisation's current document (roster, clocks, triage, referrals, "
    "channels, playbook:<id>); secrets are hidden",
    **route(Action.RESPONSE_CONFIG),
)
def get_document(kind: DocKind, request: Request, who: Who) -> rs.DocumentOut:
    found = rd(request).document(who, kind)
    return rs.DocumentOut(
        kind=kind, version=found[0] if found else None, body=found[1] if found else None
    )


@router.put(
    "/response/documents/{kind}",
    response_model=rs.DocumentSaved,
    summary="Validate and save a new version; a document that fails is refused whole",
    **route(Action.RESPONSE_CONFIG),
)
def put_document(
    kind: DocKind,
    request: Request,
    who: Who,
    body: Annotated[dict[str, Any], Body()],
) -> rs.DocumentSaved:
    version = rd(request).save_document(who, kind, body, client_address(request))
    return rs.DocumentSaved(kind=kind, version=version)


@router.get(
    "/roster/on-duty",
    response_model=rs.DutyOut,
    summary="Who is on duty now (or at a given time), for a language and tier",
    **route(Action.ROSTER_READ),
)
def on_duty(
    request: Request,
    who: Who,
    language: Annotated[str | None, Query(max_length=8)] = None,
    at: datetime | None = None,
    tier: Tier = Tier.RESPONDER,
) -> rs.DutyOut:
    d = rd(request).on_duty(who, language, at, tier)
    return rs.DutyOut(usernames=list(d.usernames), tier=str(d.tier), fallback=d.fallback)


# -- channels, notifications, deliveries --------------------------------------------------
Kind = Annotated[str, Path(min_length=1, max_length=20)]


@router.get(
    "/me/channels",
    response_model=dict[str, str],
    summary="My alert channels",
    **route(Action.CHANNEL_SELF),
)
def my_channels(request: Request, who: Who) -> dict[str, str]:
    return rd(request).channels(who)


@router.put(
    "/me/channels/{kind}",
    response_model=dict[str, str],
    summary="Set my address on a channel (email, telegram, webhook)",
    **route(Action.CHANNEL_SELF),
)
def set_channel(kind: Kind, body: rs.ChannelIn, request: Request, who: Who) -> dict[str, str]:
    return {kind: rd(request).set_channel(who, kind, body.address)}


@router.delete(
    "/me/channels/{kind}",
    status_code=204,
    summary="Remove one of my channels",
    **route(Action.CHANNEL_SELF),
)
def remove_channel(kind: Kind, request: Request, who: Who) -> None:
    rd(request).remove_channel(who, kind)


@router.get(
    "/notifications",
    response_model=list[rs.DeliveryOut],
    summary="My in-app notifications",
    **route(Action.NOTIFICATION_READ),
)
def notifications(
    request: Request,
    who: Who,
    unread: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[rs.DeliveryOut]:
    return [_delivery(d) for d in rd(request).notifications(who, unread, limit, offset)]


@router.post(
    "/notifications/read",
    response_model=rs.CountOut,
    summary="Mark notifications read",
    **route(Action.NOTIFICATION_READ),
)
def read_notifications(body: rs.IdsIn, request: Request, who: Who) -> rs.CountOut:
    return rs.CountOut(count=rd(request).mark_read(who, body.ids))


@router.get(
    "/deliveries",
    response_model=list[rs.DeliveryOut],
    summary="Alert deliveries (state=dead is the dead-letter record)",
    **route(Action.DELIVERY_MANAGE),
)
def list_deliveries(
    request: Request,
    who: Who,
    state: Annotated[str | None, Query(max_length=10)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[rs.DeliveryOut]:
    return [_delivery(d) for d in rd(request).deliveries(who, state, limit, offset)]


@router.post(
    "/deliveries/requeue",
    response_model=rs.CountOut,
    summary="Send dead-lettered deliveries again",
    **route(Action.DELIVERY_MANAGE),
)
def requeue(body: rs.IdsIn, request: Request, who: Who) -> rs.CountOut:
    return rs.CountOut(count=rd(request).requeue(who, body.ids, client_address(request)))


# -- referrals ----------------------------------------------------------------------------
@router.get(
    "/referral-partners",
    response_model=list[rs.PartnerOut],
    summary="The referral directory",
    **route(Action.REFERRAL_READ),
)
def partners(request: Request, who: Who) -> list[rs.PartnerOut]:
    return [_partner(p) for p in rd(request).partners(who).directory.partner]


@router.get(
    "/incidents/{public_id}/referrals/suggestions",
    response_model=list[rs.SuggestionOut],
    summary="Partners that fit the case's needs and language",
    **route(Action.REFERRAL_READ),
)
def suggestions(public_id: CaseId, request: Request, who: Who) -> list[rs.SuggestionOut]:
    return [
        rs.SuggestionOut(
            partner=_partner(s.partner),
            needs=[str(n) for n in s.needs],
            speaks_language=s.speaks_language,
            score=s.score,
        )
        for s in rd(request).suggestions(who, public_id)
    ]


@router.get(
    "/incidents/{public_id}/referrals",
    response_model=list[rs.ReferralOut],
    summary="Referrals made for the case",
    **route(Action.REFERRAL_READ),
)
def referrals(public_id: CaseId, request: Request, who: Who) -> list[rs.ReferralOut]:
    return [_referral(r) for r in rd(request).referrals(who, public_id)]


@router.post(
    "/incidents/{public_id}/referrals",
    response_model=rs.ReferralOut,
    status_code=201,
    summary="Record a referral",
    **route(Action.REFERRAL_WRITE),
)
def refer(public_id: CaseId, body: rs.ReferralIn, request: Request, who: Who) -> rs.ReferralOut:
    r = rd(request).refer(
        who, public_id, body.partner_id, body.need, body.note, client_address(request)
    )
    return _referral(r)


@router.put(
    "/incidents/{public_id}/referrals/{referral_id}",
    response_model=rs.ReferralOut,
    summary="Record what came of a referral",
    **route(Action.REFERRAL_WRITE),
)
def update_referral(
    public_id: CaseId,
    referral_id: Annotated[int, Path(ge=1)],
    body: rs.ReferralUpdateIn,
    request: Request,
    who: Who,
) -> rs.ReferralOut:
    r = rd(request).update_referral(
        who, public_id, referral_id, body.state, body.outcome, client_address(request)
    )
    return _referral(r)


# -- statements ---------------------------------------------------------------------------
@router.post(
    "/incidents/{public_id}/statements",
    response_model=rs.StatementOut,
    status_code=201,
    summary="Draft a public statement (en, ru or kk)",
    **route(Action.STATEMENT_DRAFT),
)
def draft_statement(
    public_id: CaseId, body: rs.StatementDraftIn, request: Request, who: Who
) -> rs.StatementOut:
    s = rd(request).draft_statement(who, public_id, body.language, client_address(request))
    return _statement(s)


@router.get(
    "/incidents/{public_id}/statements",
    response_model=list[rs.StatementOut],
    summary="The case's statements",
    **route(Action.STATEMENT_READ),
)
def list_statements(public_id: CaseId, request: Request, who: Who) -> list[rs.StatementOut]:
    return [_statement(s) for s in rd(request).statements(who, public_id)]


StatementId = Annotated[int, Path(ge=1)]


@router.put(
    "/statements/{statement_id}",
    response_model=rs.StatementOut,
    summary="Edit a statement (an approved one goes back to draft)",
    **route(Action.STATEMENT_DRAFT),
)
def edit_statement(
    statement_id: StatementId, body: rs.StatementEditIn, request: Request, who: Who
) -> rs.StatementOut:
    s = rd(request).edit_statement(who, statement_id, body.body, client_address(request))
    return _statement(s)


@router.post(
    "/statements/{statement_id}/approve",
    response_model=rs.StatementOut,
    summary="Approve a draft statement",
    **route(Action.STATEMENT_APPROVE),
)
def approve_statement(statement_id: StatementId, request: Request, who: Who) -> rs.StatementOut:
    return _statement(rd(request).approve_statement(who, statement_id, client_address(request)))


@router.post(
    "/statements/{statement_id}/publish",
    response_model=rs.StatementOut,
    summary="Publish an approved statement",
    **route(Action.STATEMENT_APPROVE),
)
def publish_statement(statement_id: StatementId, request: Request, who: Who) -> rs.StatementOut:
    return _statement(rd(request).publish_statement(who, statement_id, client_address(request)))


# -- hygiene ------------------------------------------------------------------------------
@router.post(
    "/hygiene",
    response_model=rs.HygieneOut,
    status_code=201,
    summary="Track a digital-hygiene checklist for an outlet or a person",
    **route(Action.HYGIENE_WRITE),
)
def track_hygiene(body: rs.HygieneIn, request: Request, who: Who) -> rs.HygieneOut:
    d = rd(request)
    h = d.track_hygiene(who, body.kind, body.label, body.checklist_id, client_address(request))
    return _hygiene(h, d, who.org_id)


@router.get(
    "/hygiene",
    response_model=list[rs.HygieneOut],
    summary="Hygiene checklists tracked by the desk",
    **route(Action.HYGIENE_READ),
)
def list_hygiene(request: Request, who: Who) -> list[rs.HygieneOut]:
    d = rd(request)
    return [_hygiene(h, d, who.org_id) for h in d.hygiene(who)]


@router.put(
    "/hygiene/{subject_id}/items/{step_id}",
    response_model=rs.HygieneOut,
    summary="Set one hygiene step (todo, done, not_applicable)",
    **route(Action.HYGIENE_WRITE),
)
def set_hygiene(
    subject_id: Annotated[int, Path(ge=1)],
    step_id: Annotated[str, Path(min_length=1, max_length=64)],
    body: rs.HygieneItemIn,
    request: Request,
    who: Who,
) -> rs.HygieneOut:
    d = rd(request)
    h = d.set_hygiene(who, subject_id, step_id, body.state, body.note, client_address(request))
    return _hygiene(h, d, who.org_id)


# -- attachments --------------------------------------------------------------------------
@router.get(
    "/incidents/{public_id}/attachments",
    response_model=list[rs.AttachmentOut],
    summary="Files that came with the reports (e-mail, Telegram)",
    **route(Action.ATTACHMENT_READ),
)
def attachments(public_id: CaseId, request: Request, who: Who) -> list[rs.AttachmentOut]:
    return [
        rs.AttachmentOut(
            sha256=a.sha256,
            size=a.size,
            media_type=a.media_type,
            filename=a.filename,
            source=a.source,
            created_at=a.created_at,
        )
        for a in rd(request).attachments(who, public_id)
    ]


@router.get(
    "/incidents/{public_id}/attachments/{sha256}",
    summary="Download one file (always as a download, never shown inline); images come without"
    " their EXIF/GPS metadata unless original=true (evidence exporters only, audited)",
    response_class=Response,
    **route(Action.ATTACHMENT_READ),
)
def attachment(
    public_id: CaseId,
    sha256: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")],
    request: Request,
    who: Who,
    original: bool = False,
) -> Response:
    item, data = rd(request).attachment_content(
        who, public_id, sha256, original=original, address=client_address(request)
    )
    # Reports come from strangers: never let a browser render or sniff what they sent.
    return Response(
        content=data,
        media_type="application/octet-stream",
        headers=download_headers(item.filename, f"{sha256[:16]}.bin", sha256, item.media_type),
    )


# -- timeline -----------------------------------------------------------------------------
@router.get(
    "/incidents/{public_id}/timeline",
    response_model=list[rs.TimelineOut],
    summary="Everything that happened on the case, in order",
    **route(Action.TIMELINE_READ),
)
def timeline(public_id: CaseId, request: Request, who: Who) -> list[rs.TimelineOut]:
    return [
        rs.TimelineOut(at=e.at, kind=e.kind, actor=e.actor, detail=e.summary)
        for e in rd(request).timeline(who, public_id)
    ]
