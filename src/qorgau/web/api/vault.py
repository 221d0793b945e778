"""Evidence vault endpoints: add a file to a case, list a case's evidence with its custody,
read an item (logged with a reason), export a court-ready package, verify the vault."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response

from qorgau.domain.access import Action
from qorgau.domain.model import Principal
from qorgau.store.vault import SignedHead
from qorgau.vault_desk import VaultDesk
from qorgau.web import response_schemas as rs
from qorgau.web.auth import client_address, principal, route

router = APIRouter(prefix="/api/v1", tags=["evidence vault"])
Who = Annotated[Principal, Depends(principal)]
CaseId = Annotated[str, Path(min_length=3, max_length=16)]
MAX_UPLOAD = 100 * 1024 * 1024


def vd(request: Request) -> VaultDesk:
    d: VaultDesk = request.app.state.vault_desk
    return d


@router.post(
    "/incidents/{public_id}/evidence",
    response_model=list[rs.EvidenceOut],
    status_code=201,
    summary="Add a file as evidence (the request body is the file; never refused for its format)",
    **route(Action.VAULT_WRITE),
)
async def add_evidence(
    public_id: CaseId,
    request: Request,
    who: Who,
    filename: Annotated[str | None, Query(max_length=255)] = None,
    source: Annotated[str | None, Query(max_length=2000)] = None,
) -> list[rs.EvidenceOut]:
    from starlette.concurrency import run_in_threadpool

    data = await request.body()
    added = await run_in_threadpool(
        vd(request).add_file,
        who,
        data,
        filename=filename,
        media_type=request.headers.get("content-type"),
        case=public_id,
        source=source,
    )
    return [rs.evidence_out(i, [], added.warnings) for i in added.items]


@router.post(
    "/incidents/{public_id}/evidence/capture",
    response_model=list[rs.EvidenceOut],
    status_code=201,
    summary="Capture a web page into the case's evidence (WARC, WACZ, screenshot, text); a"
    " page that cannot be reached is kept as a failed attempt with its error",
    **route(Action.VAULT_WRITE),
)
async def capture_page(
    public_id: CaseId, body: rs.CaptureIn, request: Request, who: Who
) -> list[rs.EvidenceOut]:
    import asyncio

    # The capture drives a browser through Playwright's sync API: off the event loop.
    added = await asyncio.to_thread(vd(request).capture, who, body.url, case=public_id)
    return [rs.evidence_out(i, [], added.warnings) for i in added.items]


@router.get(
    "/incidents/{public_id}/evidence",
    response_model=list[rs.EvidenceOut],
    summary="The case's evidence with its chain of custody",
    **route(Action.VAULT_READ),
)
def list_evidence(public_id: CaseId, request: Request, who: Who) -> list[rs.EvidenceOut]:
    return [rs.evidence_out(i, c, []) for i, c in vd(request).items(who, public_id)]


@router.get(
    "/evidence",
    response_model=list[rs.EvidenceOut],
    summary="Search captured posts, ads and messages by visible text or author handle",
    **route(Action.VAULT_READ),
)
def search_evidence(
    request: Request,
    who: Who,
    q: Annotated[str, Query(min_length=1, max_length=200)],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[rs.EvidenceOut]:
    return [rs.evidence_out(i, [], []) for i in vd(request).search(who, q, limit)]


@router.get(
    "/evidence/{item_id}/content",
    summary="Read an item's original bytes (the view is logged with its reason)",
    response_class=Response,
    **route(Action.VAULT_READ),
)
def evidence_content(
    item_id: Annotated[int, Path(ge=1)],
    request: Request,
    who: Who,
    reason: Annotated[str, Query(min_length=1, max_length=500)],
) -> Response:
    item, data = vd(request).open_item(who, item_id, reason, client_address(request))
    return Response(
        content=data,
        media_type="application/octet-stream",
        headers={
            "content-disposition": f'attachment; filename="{item.sha256[:16]}.bin"',
            "x-qorgau-sha256": item.sha256,
            "x-qorgau-original-type": item.media_type[:100],
            "content-security-policy": "default-src 'none'; sandbox",
        },
    )


@router.post(
    "/incidents/{public_id}/evidence/export",
    summary="A ZIP package of the case's evidence that verifies without Qorgau",
    response_class=Response,
    **route(Action.VAULT_EXPORT),
)
def export_evidence(public_id: CaseId, body: rs.ExportIn, request: Request, who: Who) -> Response:
    data = vd(request).export(
        who,
        public_id,
        language=body.language,
        reason=body.reason,
        items=body.items,
        address=client_address(request),
    )
    return Response(
        content=data,
        media_type="application/zip",
        headers={"content-disposition": f'attachment; filename="{public_id}-evidence.zip"'},
    )


@router.get(
    "/vault/verify",
    response_model=rs.VerifyOut,
    summary="Re-check every blob, log entry and signed tree head",
    **route(Action.VAULT_VERIFY),
)
def verify(request: Request, who: Who) -> rs.VerifyOut:
    r = vd(request).verify(who)
    return rs.VerifyOut(
        ok=r.ok,
        blobs_checked=r.blobs_checked,
        entries_checked=r.entries_checked,
        items_checked=r.items_checked,
        heads_checked=r.heads_checked,
        timestamps_checked=r.timestamps_checked,
        unsealed_entries=r.unsealed_entries,
        problems=[{"kind": p.kind, "where": p.where, "message": p.message} for p in r.problems],
    )


def _head(sh: SignedHead) -> dict[str, object]:
    return {
        "tree_size": sh.head.tree_size,
        "root_hash": sh.head.root_hash.hex(),
        "timestamp_ms": sh.head.timestamp_ms,
        "key_id": sh.head.key_id,
        "signature": sh.signature.hex(),
        "signed_bytes": sh.head.signed_bytes().decode("utf-8"),
        "timestamp_token": sh.tsa_token.hex() if sh.tsa_token else None,
    }


@router.get(
    "/evidence/{item_id}/proof",
    summary="The item's log entry and its inclusion proof under the newest signed tree head",
    **route(Action.VAULT_READ),
)
def inclusion_proof(
    item_id: Annotated[int, Path(ge=1)], request: Request, who: Who
) -> dict[str, object]:
    item, entry, head, proof = vd(request).inclusion(who, item_id)
    return {
        "item_id": item.id,
        "sha256": item.sha256,
        "leaf_index": item.leaf_index,
        "leaf_entry": entry,
        "inclusion_proof": [p.hex() for p in proof],
        "tree_head": _head(head),
    }


@router.get(
    "/vault/consistency",
    summary="Proof that one signed tree head extends another unchanged",
    **route(Action.VAULT_VERIFY),
)
def consistency_proof(
    request: Request,
    who: Who,
    old_size: Annotated[int, Query(ge=1)],
    new_size: Annotated[int, Query(ge=1)],
) -> dict[str, object]:
    old, new, proof = vd(request).consistency(who, old_size, new_size)
    return {"old": _head(old), "new": _head(new), "proof": [p.hex() for p in proof]}


@router.get(
    "/register",
    summary="The public register of blocked resources (JSON, or CSV with ?format=csv)",
    **route(Action.REGISTER_READ),
)
def blocked_register(
    request: Request,
    who: Who,
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
) -> Response:
    import json

    from qorgau.monitor_desk import register_csv

    entries = request.app.state.monitor_desk.register(who)
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
    rep = request.app.state.monitor_desk.take_ooni(who, body)
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
    request.app.state.monitor_desk.set_legal_basis(
        who, host, body.basis, body.reference, client_address(request)
    )


@router.post(
    "/monitor/targets",
    status_code=201,
    summary="Watch one of an outlet's addresses",
    **route(Action.MONITOR_WRITE),
)
def add_target(body: rs.TargetIn, request: Request, who: Who) -> dict[str, bool]:
    return {"added": request.app.state.monitor_desk.add_target(who, body.outlet, body.url)}


@router.get(
    "/monitor/outlets",
    summary="Monitored outlets and how many addresses each has",
    **route(Action.MONITOR_READ),
)
def list_outlets(request: Request, who: Who) -> list[dict[str, Any]]:
    return [{"outlet": o, "targets": n} for o, n in request.app.state.monitor_desk.outlets(who)]


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
        for h in request.app.state.monitor_desk.outlet_status(who, outlet)
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
    return list(request.app.state.monitor_desk.host_timeline(who, host, limit))
