"""The panic lock in the web interface: a button on the case page (coordinators, admins), its
lifting (admins), and a button on the track page for the at-risk person with their receipt
code. Plain forms answered with a redirect or a page, so they work without JavaScript."""

from __future__ import annotations

import contextlib
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from qorgau.domain.access import Action
from qorgau.domain.privacy import may_see_locked, parse_consent
from qorgau.errors import Conflict, InvalidInput, NotFound, TooManyAttempts
from qorgau.i18n import N_, gettext
from qorgau.privacy_desk import PrivacyDesk
from qorgau.web.auth import client_address, desk, route
from qorgau.web.rate_limits import RECEIPT_WAIT, minutes, receipt_lookup
from qorgau.web.ui import render
from qorgau.web.ui.deps import Viewer
from qorgau.web.ui.forms import FormState, apply_error, read_form

router = APIRouter(include_in_schema=False)
CaseId = Annotated[str, Path(min_length=3, max_length=16, pattern=r"^[A-Za-z0-9-]+$")]

NO_SUCH_CODE = N_("No report has this receipt code. Check it letter by letter.")
GIVE_CODE = N_("Enter the receipt code of the report.")


def privacy_desk(request: Request) -> PrivacyDesk:
    d: PrivacyDesk | None = getattr(request.app.state, "privacy_desk", None)
    if d is None:
        d = PrivacyDesk(desk(request))
        request.app.state.privacy_desk = d
    return d


@router.post("/desk/cases/{public_id}/lock", **route(Action.CASE_LOCK))
async def lock_case(public_id: CaseId, request: Request, who: Viewer) -> Response:
    """Lock, then back to the queue: only an administrator can still open the case."""
    state, _ = await read_form(request)
    pd, address = privacy_desk(request), client_address(request)
    reason = state.get("reason") or None
    await run_in_threadpool(lambda: pd.lock(who, public_id, reason, address))
    target = f"/desk/cases/{public_id}" if may_see_locked(who.role) else "/desk"
    return RedirectResponse(target, status_code=303)


@router.post("/desk/cases/{public_id}/unlock", **route(Action.CASE_UNLOCK))
async def unlock_case(public_id: CaseId, request: Request, who: Viewer) -> Response:
    await read_form(request)
    pd, address = privacy_desk(request), client_address(request)
    # Already lifted (a second click, or another admin): the page shows the state either way.
    with contextlib.suppress(Conflict):
        await run_in_threadpool(lambda: pd.unlock(who, public_id, address))
    return RedirectResponse(f"/desk/cases/{public_id}", status_code=303)


@router.post("/track/consent", **route(Action.REPORT_TRACK))
async def track_consent(request: Request, who: Viewer) -> HTMLResponse:
    """The person's own answer about naming and sharing, with their receipt code."""
    state, _ = await read_form(request)
    lang = render.language(request)
    code = state.get("code").strip()
    typed = state.get("partners").strip()
    partners: list[str] | str | None = None
    if typed:
        partners = typed if typed.lower() == "none" else [p for p in typed.split(",") if p.strip()]
    status, saved, retry_after = 200, False, 0
    try:
        if not code or len(code) > 64:
            raise NotFound(GIVE_CODE)
        consent = parse_consent(state.get("name_publicly"), state.get("share"), partners)
        pd, address = privacy_desk(request), client_address(request)
        await run_in_threadpool(
            receipt_lookup,
            request,
            address,
            lambda: pd.record_consent_by_receipt(code, consent, address),
        )
        saved = True
    except InvalidInput as exc:
        apply_error(state, lang, exc, {})
        status = 422
    except NotFound:
        state.message = gettext(lang, NO_SUCH_CODE)
        status = 404
    except TooManyAttempts as exc:
        state.message = gettext(lang, RECEIPT_WAIT, minutes=minutes(exc.retry_after))
        status, retry_after = 429, exc.retry_after
    page = render.page(
        request,
        "ui/track.html",
        who,
        status=status,
        title=gettext(lang, "Follow a report"),
        state=state,
        found=None,
        consent_saved=saved,
    )
    if retry_after:
        page.headers["Retry-After"] = str(retry_after)
    return page


@router.post("/track/lock", **route(Action.REPORT_TRACK))
async def track_lock(request: Request, who: Viewer) -> HTMLResponse:
    """The receipt code is posted, never put in a URL, like on the track form."""
    state, _ = await read_form(request)
    lang = render.language(request)
    code = state.get("code").strip()
    status, retry_after = 200, 0
    locked = False
    if not code or len(code) > 64:
        state.add("code", gettext(lang, GIVE_CODE))
        status = 422
    else:
        pd, address = privacy_desk(request), client_address(request)
        try:
            await run_in_threadpool(
                receipt_lookup, request, address, lambda: pd.lock_by_receipt(code, address)
            )
            locked = True
        except NotFound:
            state.add("code", gettext(lang, NO_SUCH_CODE))
            status = 404
        except TooManyAttempts as exc:
            state.add("code", gettext(lang, RECEIPT_WAIT, minutes=minutes(exc.retry_after)))
            status, retry_after = 429, exc.retry_after
    page = render.page(
        request,
        "ui/track.html",
        who,
        status=status,
        title=gettext(lang, "Follow a report"),
        state=FormState() if locked else state,
        found=None,
        locked=locked,
    )
    if retry_after:
        page.headers["Retry-After"] = str(retry_after)
    return page
