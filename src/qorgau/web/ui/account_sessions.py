"""The "Sessions and tokens" part of the account page: what is signed in as you, and ending it.

Each row is a session id, its kind and its dates; the token is never on the page (it is in an
HttpOnly cookie or in the tool it was issued to). Ending "all others" keeps this browser's
session, so the person is not thrown out by the button that protects them.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from qorgau.domain.access import Action
from qorgau.domain.model import Principal
from qorgau.errors import InvalidInput, NotFound
from qorgau.i18n import N_, gettext
from qorgau.security.passwords import MIN_PASSWORD_LENGTH
from qorgau.session_desk import SessionDesk
from qorgau.web.auth import client_address, desk, route
from qorgau.web.ui import render, sessions
from qorgau.web.ui.admin_common import back, notice
from qorgau.web.ui.deps import Viewer
from qorgau.web.ui.forms import read_form

router = APIRouter(include_in_schema=False)

ACCOUNT_PATH = "/account"
KIND_LABELS = {"web": N_("Browser session"), "api": N_("API token")}


@dataclass(frozen=True)
class SessionRow:
    id: int
    kind: str
    name: str
    created: str
    expires: str
    current: bool


def session_rows(request: Request, who: Principal) -> list[SessionRow]:
    """The account page's table (called from the page's route in sign_in.py)."""
    lang = render.language(request)
    found = SessionDesk(desk(request)).mine(who, request.cookies.get(sessions.SESSION_COOKIE))
    return [
        SessionRow(
            s.id,
            gettext(lang, KIND_LABELS[s.kind]),
            s.name,
            render.when(s.created_at, lang, "short"),
            render.when(s.expires_at, lang, "short"),
            s.current,
        )
        for s in found
    ]


# Refusals of the password form, by code (a fixed sentence: a link cannot put words here).
PROBLEMS = {
    "password-wrong": N_("The current password is wrong; nothing was changed."),
    "password-short": N_("Use at least {n} characters."),
}


@dataclass(frozen=True)
class Notice:
    text: str
    ok: bool


def account_notice(request: Request) -> Notice | None:
    """The sentence to show after a form on the account page sent the browser back."""
    lang = render.language(request)
    code = request.query_params.get("problem", "")
    if code in PROBLEMS:
        return Notice(gettext(lang, PROBLEMS[code], n=MIN_PASSWORD_LENGTH), False)
    done = notice(request, lang)
    return Notice(done, True) if done else None


SessionId = Annotated[int, Path(ge=1)]


@router.post(ACCOUNT_PATH + "/sessions/{session_id}/revoke", **route(Action.SELF_READ))
async def revoke_one(session_id: SessionId, request: Request, who: Viewer) -> Response:
    with contextlib.suppress(NotFound):  # ended meanwhile (another tab): the page shows the rest
        await run_in_threadpool(
            SessionDesk(desk(request)).revoke_mine, who, session_id, client_address(request)
        )
    return back(ACCOUNT_PATH, "my-session-revoked")


@router.post(ACCOUNT_PATH + "/sessions/revoke-others", **route(Action.SELF_READ))
async def revoke_others(request: Request, who: Viewer) -> Response:
    token = request.cookies.get(sessions.SESSION_COOKIE, "")
    await run_in_threadpool(
        SessionDesk(desk(request)).revoke_others, who, token, client_address(request)
    )
    return back(ACCOUNT_PATH, "my-sessions-revoked")


@router.post(ACCOUNT_PATH + "/password", **route(Action.SELF_READ))
async def change_password(request: Request, who: Viewer) -> Response:
    """A new password; this browser stays signed in, every other session and token ends."""
    state, _ = await read_form(request)
    current, new = state.get("current_password"), state.get("new_password")
    try:
        await run_in_threadpool(
            SessionDesk(desk(request)).change_password,
            who,
            request.cookies.get(sessions.SESSION_COOKIE),
            current,
            new,
            client_address(request),
        )
    except InvalidInput as exc:
        wrong = any(p.field == "current_password" for p in exc.problems)
        code = "password-wrong" if wrong else "password-short"
        return RedirectResponse(f"{ACCOUNT_PATH}?problem={code}#password", status_code=303)
    return back(ACCOUNT_PATH, "password-changed")
