"""Reachability monitor endpoints: measurement uploads, watched outlets and hosts, each host's
timeline, and the public register of blocked resources."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response

from qorgau.domain.access import Action
from qorgau.domain.model import Principal
from qorgau.monitor_desk import MonitorDesk, register_csv
from qorgau.web import response_schemas as rs
from qorgau.web.auth import client_address, principal, route

router = APIRouter(prefix="/api/v1", tags=["reachability monitor"])
Who = Annotated[Principal, Depends(principal)]


def md(request: Request) -> MonitorDesk:
    d: MonitorDesk = request.app.state.monitor_desk
    return d


@router.get(
    "/register",
    summary="The public register of blocked resources (JSON, or CSV with ?format=csv)",
    responses={200: {"content": {"application/json": {}, "text/csv": {}}}},
    **route(Action.REGISTER_READ),
)
def blocked_register(
    request: Request,
    who: Who,
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
) -> Response:
    import json

    entries = md(request).register(who)
    if format == "csv":
        return Response(register_csv(entries), media_type="text/csv; charset=utf-8")
    body = [
        {
            "host": e.host,
            "first_seen": e.first_seen.isoformat(),
            "last_seen": e.last_seen.isoformat(),
            "currently_blocked": e.currently_blocked,
            "methods": e.methods,
            "networks": e.networks,
            "legal_basis": e.legal_basis,
            "legal_reference": e.legal_reference,
            "observations": e.observations,
        }
        for e in entries
    ]
    return Response(json.dumps(body, ensure_ascii=False), media_type="application/json")


@router.post(
    "/monitor/measurements",
    summary="Upload one measurement (OONI Web Connectivity JSON); stored once, classified, and"
    " the host's state, incident and register updated",
    **route(Action.MONITOR_WRITE),
)
def upload_measurement(
    request: Request, who: Who, body: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    rep = md(request).take_ooni(who, body)
    return {
        "new": rep.new,
        "already_known": rep.already_known,
        "became_blocked": rep.became_blocked,
        "incidents_opened": rep.incidents_opened,
    }


@router.put(
    "/register/{host}/legal-basis",
    status_code=204,
    summary="Record the legal basis of a blocking (court order, administrative order, none known)",
    **route(Action.MONITOR_WRITE),
)
def set_legal_basis(
    host: Annotated[str, Path(min_length=1, max_length=255)],
    body: rs.LegalBasisIn,
    request: Request,
    who: Who,
) -> None:
    md(request).set_legal_basis(who, host, body.basis, body.reference, client_address(request))


@router.post(
    "/monitor/targets",
    status_code=201,
    summary="Watch one of an outlet's addresses",
    **route(Action.MONITOR_WRITE),
)
def add_target(body: rs.TargetIn, request: Request, who: Who) -> dict[str, bool]:
    return {"added": md(request).add_target(who, body.outlet, body.url)}


@router.get(
    "/monitor/outlets",
    summary="Monitored outlets and how many addresses each has",
    **route(Action.MONITOR_READ),
)
def list_outlets(request: Request, who: Who) -> list[dict[str, Any]]:
    return [{"outlet": o, "targets": n} for o, n in md(request).outlets(who)]


@router.get(
    "/monitor/outlets/{outlet}",
    summary="Each host of the outlet with its state on every network",
    **route(Action.MONITOR_READ),
)
def outlet_status(
    outlet: Annotated[str, Path(min_length=1, max_length=200)], request: Request, who: Who
) -> list[dict[str, Any]]:
    return [
        {"host": h.host, "url": h.url, "networks": h.networks}
        for h in md(request).outlet_status(who, outlet)
    ]


@router.get(
    "/monitor/hosts/{host}/timeline",
    summary="What each network saw of the host over time, newest first",
    **route(Action.MONITOR_READ),
)
def host_timeline(
    host: Annotated[str, Path(min_length=1, max_length=255)],
    request: Request,
    who: Who,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    return list(md(request).host_timeline(who, host, limit))
