"""Observations over HTTP: sources push batches; staff manage sources and the watchlist, read
findings and the detectors' specs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from qorgau.domain import access
from qorgau.domain.access import Action
from qorgau.domain.model import Principal
from qorgau.observation_desk import MAX_BATCH, SOURCE_TOKEN_PREFIX, ObservationDesk
from qorgau.store.detections import StoredFinding
from qorgau.store.observations import Source
from qorgau.web.auth import bearer_token, desk, principal, route
from qorgau.web.schemas import Strict

router = APIRouter(prefix="/api/v1", tags=["observations and detectors"])
Who = Annotated[Principal, Depends(principal)]


class BatchIn(Strict):
    items: Annotated[list[Any], Field(min_length=1, max_length=MAX_BATCH)]


class SourceIn(Strict):
    name: Annotated[str, Field(min_length=1, max_length=80)]


class WatchIn(Strict):
    person: Annotated[str, Field(min_length=1, max_length=200)]
    kind: Annotated[str, Field(min_length=1, max_length=16)]
    value: Annotated[str, Field(min_length=1, max_length=500)]
    group: Annotated[str, Field(max_length=200)] = ""


def od(request: Request) -> ObservationDesk:
    d: ObservationDesk = request.app.state.observation_desk
    return d


async def source_caller(request: Request) -> Source:
    """The feed behind the token; a person's token is refused as a person (403)."""
    token = bearer_token(request)
    if token and not token.startswith(SOURCE_TOKEN_PREFIX):
        who = await run_in_threadpool(desk(request).principal_for_token, token)
        access.authorize(who, Action.OBSERVATION_PUSH)
    return await run_in_threadpool(od(request).authenticate, token)


SourceCaller = Annotated[Source, Depends(source_caller)]


@router.post(
    "/observations",
    summary="A source pushes a batch; each item is answered stored, duplicate or rejected",
    **route(Action.OBSERVATION_PUSH),
)
def push(body: BatchIn, request: Request, source: SourceCaller) -> dict[str, Any]:
    from qorgau.observe.records import observation_from_record

    outcomes, report = od(request).take_batch(source, body.items, observation_from_record)
    counts = {"stored": 0, "duplicate": 0, "rejected": 0}
    for o in outcomes:
        counts[o.status] += 1
    processed = report.processed
    return {
        **counts,
        "findings": processed.findings if processed else None,
        "incidents_opened": processed.incidents_opened if processed else [],
        "items": [
            {"index": o.index, "id": o.id, "status": o.status, "reason": o.reason} for o in outcomes
        ],
    }


@router.post(
    "/observations/files",
    summary="Staff upload one export (Telegram JSON, posts, ads, call log, mbox) to import",
    **route(Action.OBSERVATION_WRITE),
)
async def import_upload(
    request: Request,
    who: Who,
    source: Annotated[str, Query(min_length=1, max_length=80)],
    filename: Annotated[str, Query(min_length=1, max_length=255)],
    file_format: Annotated[str | None, Query(alias="format", max_length=16)] = None,
    owner_phone: Annotated[str | None, Query(max_length=40)] = None,
) -> dict[str, Any]:
    data = await request.body()
    return await run_in_threadpool(
        od(request).import_upload, who, data, filename, source, file_format, owner_phone
    )


@router.get(
    "/observations/status",
    summary="Observations stored by kind, and how many wait for the detectors",
    **route(Action.OBSERVATION_READ),
)
def status(request: Request, who: Who) -> dict[str, Any]:
    return od(request).status(who)


def _source_json(s: Source) -> dict[str, Any]:
    return {
        "name": s.name,
        "created_at": s.created_at.isoformat(),
        "last_seen_at": s.last_seen_at.isoformat() if s.last_seen_at else None,
        "accepted": s.accepted,
        "rejected": s.rejected,
        "revoked": s.revoked_at is not None,
    }


@router.post(
    "/observations/sources",
    status_code=201,
    summary="Create an API source; its token is shown once",
    **route(Action.OBSERVATION_SOURCES),
)
def add_source(body: SourceIn, request: Request, who: Who) -> dict[str, Any]:
    found, token = od(request).add_source(who, body.name)
    return {**_source_json(found), "token": token}


@router.get(
    "/observations/sources",
    summary="API sources with their last contact and counts",
    **route(Action.OBSERVATION_READ),
)
def list_sources(request: Request, who: Who) -> list[dict[str, Any]]:
    return [_source_json(s) for s in od(request).list_sources(who)]


@router.delete(
    "/observations/sources/{source_name}",
    status_code=204,
    summary="Revoke a source's token (what it sent stays)",
    **route(Action.OBSERVATION_SOURCES),
)
def revoke_source(
    source_name: Annotated[str, Path(min_length=1, max_length=80)], request: Request, who: Who
) -> None:
    od(request).revoke_source(who, source_name)


@router.get(
    "/watchlist",
    summary="Protected identifiers, masked",
    **route(Action.WATCHLIST_READ),
)
def watchlist(request: Request, who: Who) -> list[dict[str, Any]]:
    return [
        {"id": e.id, "person": e.person, "group": e.group, "kind": e.kind, "value": e.value}
        for e in od(request).watchlist(who)
    ]


@router.post(
    "/watchlist",
    summary="Protect an identifier of a person (checked and normalised)",
    **route(Action.WATCHLIST_WRITE),
)
def watch(body: WatchIn, request: Request, who: Who) -> dict[str, Any]:
    added = od(request).watch(who, body.person, body.kind, body.value, body.group)
    return {"added": added}


@router.delete(
    "/watchlist/{entry_id}",
    status_code=204,
    summary="Stop watching one identifier",
    **route(Action.WATCHLIST_WRITE),
)
def unwatch(entry_id: Annotated[int, Path(ge=1)], request: Request, who: Who) -> None:
    od(request).unwatch(who, entry_id)


def _finding_json(f: StoredFinding, publics: dict[int, str]) -> dict[str, Any]:
    return {
        "id": f.id,
        "detector": f.detector,
        "campaign_key": f.campaign_key,
        "attack_type": f.attack_type,
        "severity": f.severity,
        "title": f.title,
        "explanation": f.explanation,
        "subjects": list(f.subjects),
        "first_at": f.first_at.isoformat(),
        "last_at": f.last_at.isoformat(),
        "observations": f.observations,
        "incident": publics.get(f.incident_id) if f.incident_id else None,
        "details": f.details,
    }


@router.get(
    "/findings",
    summary="The latest findings, each with its campaign, case and the observations behind it",
    **route(Action.OBSERVATION_READ),
)
def findings(request: Request, who: Who) -> list[dict[str, Any]]:
    d = od(request)
    found = d.findings(who)
    publics = d.incident_public_ids([f.incident_id for f in found if f.incident_id])
    return [_finding_json(f, publics) for f in found]


@router.get(
    "/findings/{finding_id}/observations",
    summary="The ids of the observations behind one finding",
    **route(Action.OBSERVATION_READ),
)
def finding_observations(
    finding_id: Annotated[int, Path(ge=1)], request: Request, who: Who
) -> dict[str, Any]:
    return {"observations": od(request).finding_observations(who, finding_id)}


@router.get(
    "/detectors",
    summary="Every detector with its help and configuration schema",
    **route(Action.OBSERVATION_READ),
)
def detectors(request: Request, who: Who) -> list[dict[str, Any]]:
    from qorgau.detect.registry import DETECTORS, spec_json

    access.authorize(who, Action.OBSERVATION_READ)
    return [spec_json(d) for d in DETECTORS]
