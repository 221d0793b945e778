"""The case list and the case itself: search, read, correct, move through the workflow, notes,
merge duplicates."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from qorgau.desk import IncidentPatch
from qorgau.domain.access import Action
from qorgau.domain.model import Principal, Severity, Status
from qorgau.domain.queries import MAX_PAGE_SIZE, IncidentQuery
from qorgau.reports.filters import build_filter
from qorgau.reports.statistics import NOT_RECORDED
from qorgau.web import schemas
from qorgau.web.api.convert import incident_out, incident_page, note_out, page_fields
from qorgau.web.auth import client_address, desk, principal, route

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])

PublicId = Annotated[str, Path(min_length=3, max_length=16, pattern=r"^[A-Za-z0-9-]+$")]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
Codes = Annotated[list[str], Query(max_length=50)]


@router.get(
    "",
    response_model=schemas.IncidentPage,
    summary="Search and filter incidents",
    **route(Action.INCIDENT_LIST),
)
def list_incidents(
    request: Request,
    who: Annotated[Principal, Depends(principal)],
    q: Annotated[str | None, Query(max_length=200, description="Full text, title and body")] = None,
    attack_type: Codes = [],  # noqa: B006 - FastAPI copies defaults
    category: Codes = [],  # noqa: B006
    status: Annotated[list[Status], Query(max_length=10)] = [],  # noqa: B006
    severity: Annotated[list[Severity], Query(max_length=4)] = [],  # noqa: B006
    platform: Codes = [],  # noqa: B006
    region: Codes = [],  # noqa: B006
    target: Annotated[
        str | None, Query(max_length=300, description="Name, phone, host or handle")
    ] = None,
    campaign_id: Annotated[int | None, Query(ge=1)] = None,
    reported_from: datetime | None = None,
    reported_to: datetime | None = None,
    include_merged: bool = False,
    target_type: Codes = [],  # noqa: B006
    gender: Codes = [],  # noqa: B006
    perpetrator_type: Codes = [],  # noqa: B006
    legal_ref: Codes = [],  # noqa: B006
    legal_outcome: Codes = [],  # noqa: B006
    limit: Limit = 50,
    offset: Offset = 0,
) -> schemas.IncidentPage:
    d = desk(request)
    tax = d.store.taxonomy
    # "not_recorded" (a statistic's drill-down into incidents with no region or platform) is
    # a condition on the dimension, not a taxonomy value.
    missing = {
        name: list(values)
        for name, values in (("region", region), ("platform", platform))
        if NOT_RECORDED in values
    }
    region = [] if "region" in missing else region
    platform = [] if "platform" in missing else platform
    for section, name, values in (
        ("attack_type", "attack_type", attack_type),
        ("category", "category", category),
        ("platform", "platform", platform),
        ("region", "region", region),
    ):
        for v in values:
            tax.check(section, name, v)
    extra = build_filter(
        tax,
        values={
            "target_type": target_type,
            "gender": gender,
            "perpetrator_type": perpetrator_type,
            "legal_ref": legal_ref,
            "legal_outcome": legal_outcome,
            **missing,
        },
    )
    query = IncidentQuery(
        text=q,
        attack_types=tuple(attack_type),
        categories=tuple(category),
        statuses=tuple(status),
        severities=tuple(severity),
        platforms=tuple(platform),
        regions=tuple(region),
        target=target,
        campaign_id=campaign_id,
        reported_from=reported_from,
        reported_to=reported_to,
        include_merged=include_merged,
        dimensions=extra.values,
        limit=limit,
        offset=offset,
    )
    return incident_page(d.search(who, query, address=client_address(request)))


@router.get(
    "/{public_id}",
    response_model=schemas.IncidentOut,
    summary="Read one incident",
    **route(Action.INCIDENT_READ),
)
def get_incident(
    public_id: PublicId, request: Request, who: Annotated[Principal, Depends(principal)]
) -> schemas.IncidentOut:
    d = desk(request)
    incident = d.get(who, public_id, client_address(request))
    merged_into = None
    if incident.merged_into_id is not None:
        from qorgau.store.incidents import public_ids

        with d.store.read() as conn:
            merged_into = public_ids(conn, [incident.merged_into_id]).get(incident.merged_into_id)
    return incident_out(incident, merged_into=merged_into, merged_from=d.merged_from(who, incident))


@router.patch(
    "/{public_id}",
    response_model=schemas.IncidentOut,
    summary="Correct an incident's classification or text",
    **route(Action.INCIDENT_UPDATE),
)
def patch_incident(
    public_id: PublicId,
    body: schemas.IncidentPatchIn,
    request: Request,
    who: Annotated[Principal, Depends(principal)],
) -> schemas.IncidentOut:
    patch = IncidentPatch(
        title=body.title,
        description=body.description,
        severity=body.severity,
        category=body.category,
        attack_types=tuple(body.attack_types) if body.attack_types is not None else None,
        legal_refs=tuple(body.legal_refs) if body.legal_refs is not None else None,
        platform=body.platform,
        region=body.region,
        ongoing=body.ongoing,
        tlp=body.tlp,
        disarm_techniques=(
            tuple(body.disarm_techniques) if body.disarm_techniques is not None else None
        ),
        legal_provision=body.legal_provision,
    )
    return incident_out(desk(request).update(who, public_id, patch, client_address(request)))


@router.post(
    "/{public_id}/status",
    response_model=schemas.IncidentOut,
    summary="Move an incident through the workflow",
    **route(Action.INCIDENT_STATUS),
)
def set_status(
    public_id: PublicId,
    body: schemas.StatusIn,
    request: Request,
    who: Annotated[Principal, Depends(principal)],
) -> schemas.IncidentOut:
    return incident_out(
        desk(request).change_status(
            who, public_id, body.status, body.reason, client_address(request)
        )
    )


@router.post(
    "/{public_id}/notes",
    response_model=schemas.NoteOut,
    status_code=201,
    summary="Add a note (sensitive notes are encrypted)",
    **route(Action.NOTE_ADD),
)
def add_note(
    public_id: PublicId,
    body: schemas.NoteIn,
    request: Request,
    who: Annotated[Principal, Depends(principal)],
) -> schemas.NoteOut:
    return note_out(
        desk(request).add_note(who, public_id, body.body, body.sensitive, client_address(request))
    )


@router.get(
    "/{public_id}/notes",
    response_model=schemas.NotePage,
    summary="Notes of an incident and of duplicates merged into it",
    **route(Action.NOTE_READ),
)
def list_notes(
    public_id: PublicId,
    request: Request,
    who: Annotated[Principal, Depends(principal)],
    limit: Limit = 50,
    offset: Offset = 0,
) -> schemas.NotePage:
    items, total = desk(request).notes(who, public_id, limit, offset, client_address(request))
    return schemas.NotePage(
        items=[note_out(n) for n in items], **page_fields(total, limit, offset, len(items))
    )


@router.post(
    "/{public_id}/merge",
    response_model=schemas.IncidentOut,
    summary="Merge this duplicate into another incident",
    **route(Action.INCIDENT_MERGE),
)
def merge_incident(
    public_id: PublicId,
    body: schemas.MergeIn,
    request: Request,
    who: Annotated[Principal, Depends(principal)],
) -> schemas.IncidentOut:
    d = desk(request)
    survivor = d.merge(who, public_id, body.into, client_address(request))
    return incident_out(survivor, merged_from=d.merged_from(who, survivor))
