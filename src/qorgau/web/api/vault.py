"""Evidence vault endpoints: add a file to a case, list a case's evidence with its custody,
read an item (logged with a reason), export a court-ready package, verify the vault."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from qorgau.domain.access import Action
from qorgau.domain.model import Principal
from qorgau.security.uploads import download_headers
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
    summary="Read an item (the view is logged with its reason); images come without their"
    " EXIF/GPS metadata unless original=true (evidence exporters only)",
    response_class=Response,
    **route(Action.VAULT_READ),
)
def evidence_content(
    item_id: Annotated[int, Path(ge=1)],
    request: Request,
    who: Who,
    reason: Annotated[str, Query(min_length=1, max_length=500)],
    original: bool = False,
) -> Response:
    item, data = vd(request).open_item(
        who, item_id, reason, client_address(request), original=original
    )
    return Response(
        content=data,
        media_type="application/octet-stream",
        headers=download_headers(
            item.original_name, f"{item.sha256[:16]}.bin", item.sha256, item.media_type
        ),
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
        erased=[{"item_id": i, "leaf_index": n, "sha256": sha} for i, n, sha in r.erased],
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
