"""Registries, spyware results, platform actions against protected accounts and the appeal
package over HTTP: the same desk as the ``qorgau registry``, ``spyware`` and ``accounts``
commands."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import AwareDatetime, Field
from starlette.concurrency import run_in_threadpool

from qorgau.campaign_desk import CampaignDesk, SpywareResult
from qorgau.detect.account_actions import new_account_action
from qorgau.domain.access import Action
from qorgau.domain.model import Principal
from qorgau.web.auth import principal, route
from qorgau.web.schemas import Strict

router = APIRouter(prefix="/api/v1", tags=["campaign evidence"])
Who = Annotated[Principal, Depends(principal)]
RegistryKind = Annotated[str, Path(pattern="^(protected|media)$")]


def cd(request: Request) -> CampaignDesk:
    d: CampaignDesk = request.app.state.campaign_desk
    return d


class ActionIn(Strict):
    platform: Annotated[str, Field(min_length=1, max_length=60)]
    account: Annotated[str, Field(min_length=1, max_length=200)]
    action: Annotated[str, Field(min_length=1, max_length=40)]
    at: AwareDatetime
    reason: Annotated[str, Field(max_length=2000)] = ""
    reference: Annotated[str, Field(max_length=200)] = ""


class AppealIn(Strict):
    outlet: Annotated[str, Field(min_length=1, max_length=200)]
    platform: Annotated[str, Field(min_length=1, max_length=60)]
    account: Annotated[str, Field(min_length=1, max_length=300)]
    language: Annotated[str, Field(pattern="^(en|ru|kk)$")] = "en"


@router.get(
    "/registries/{kind}",
    summary="A registry the detectors read: protected people and outlets, or known media",
    **route(Action.WATCHLIST_READ),
)
def get_registry(kind: RegistryKind, request: Request, who: Who) -> dict[str, Any]:
    return cd(request).registry(who, kind)


@router.post(
    "/registries/{kind}",
    summary="Add a registry document's entries; conflicting entries are skipped and listed",
    **route(Action.WATCHLIST_WRITE),
)
def post_registry(
    kind: RegistryKind,
    body: dict[str, Any],
    request: Request,
    who: Who,
    replace: bool = False,
) -> dict[str, Any]:
    result = cd(request).import_registry(who, kind, body, replace=replace)
    return {
        "kind": result.kind,
        "version": result.version,
        "entries": result.entries,
        "problems": list(result.problems),
    }


@router.post(
    "/spyware/results",
    summary="Upload MVT results (a zip of its output folder, or one JSON file)",
    **route(Action.VAULT_WRITE),
)
async def post_spyware(
    request: Request,
    who: Who,
    filename: Annotated[str, Query(min_length=1, max_length=255)],
    person: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    data = await request.body()
    result = await run_in_threadpool(
        cd(request).import_spyware_upload, who, data, filename, person=person
    )
    return _spyware_json(result)


def _spyware_json(result: SpywareResult) -> dict[str, Any]:
    return {
        "case": result.case,
        "detections": len(result.report.detections),
        "collections": list(result.report.collections),
        "summary": result.report.summary(),
        "problems": [str(p) for p in result.problems],
        "evidence_sha256": list(result.evidence),
        "referral": result.referral,
    }


@router.post(
    "/accounts/actions",
    summary="Record a strike, restriction or suspension of a protected account",
    **route(Action.OBSERVATION_WRITE),
)
def post_action(body: ActionIn, request: Request, who: Who) -> dict[str, Any]:
    action = new_account_action(
        body.platform,
        body.account,
        body.action,
        body.at,
        reason=body.reason,
        reference=body.reference,
    )
    return {"added": cd(request).record_action(who, action), "action": action.to_json()}


@router.get(
    "/accounts/actions",
    summary="Recorded platform actions, oldest first",
    **route(Action.OBSERVATION_READ),
)
def get_actions(
    request: Request,
    who: Who,
    platform: Annotated[str | None, Query(max_length=60)] = None,
    account: Annotated[str | None, Query(max_length=300)] = None,
) -> list[dict[str, Any]]:
    return [a.to_json() for a in cd(request).actions(who, platform=platform, account=account)]


@router.post(
    "/accounts/appeal",
    summary="The appeal package (zip: appeal.md, appeal.json, manifest) for one account",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}}},
    **route(Action.VAULT_EXPORT),
)
def post_appeal(body: AppealIn, request: Request, who: Who) -> Response:
    import tempfile
    from pathlib import Path as FilePath

    from qorgau.detect.appeal_package import write_appeal_zip

    package = cd(request).appeal(
        who,
        outlet=body.outlet,
        platform=body.platform,
        account=body.account,
        language=body.language,
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = write_appeal_zip(package, FilePath(tmp) / "appeal.zip")
        data = path.read_bytes()
    stamp = datetime.now().strftime("%Y%m%d")
    return Response(
        data,
        media_type="application/zip",
        headers={"content-disposition": f'attachment; filename="appeal-{stamp}.zip"'},
    )


@router.post(
    "/media/check",
    summary="Check an uploaded picture or video against known media and its C2PA credentials",
    **route(Action.OBSERVATION_READ),
)
async def post_media_check(
    request: Request,
    who: Who,
    filename: Annotated[str, Query(min_length=1, max_length=255)],
) -> dict[str, Any]:
    import re
    import tempfile
    from pathlib import Path as FilePath

    data = await request.body()
    # Only the last part of the name, tamed: the name is shown back, never used as a path.
    safe = re.sub(r"[^\w.\-]", "_", FilePath(filename).name).lstrip(".")[:120] or "upload"

    def check() -> dict[str, Any]:
        with tempfile.TemporaryDirectory() as tmp:
            path = FilePath(tmp) / safe
            path.write_bytes(data)
            checked = cd(request).check_media(who, path)
        report: dict[str, Any] = checked.to_json()
        return report

    return await run_in_threadpool(check)
