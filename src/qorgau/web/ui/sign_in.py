"""Signing in and out of the web interface, and the two-factor set-up.

Password first, then the code from the authenticator app; a staff member who has none yet
sets it up right there, before any session exists. The half-way state lives five minutes in a
signed cookie. A wrong password and a wrong code get the same kind of answer, next to the
field, and both are audited.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from qorgau.domain.access import Action
from qorgau.errors import AuthenticationRequired, Conflict, InvalidInput, TooManyAttempts
from qorgau.i18n import N_, gettext
from qorgau.web import rate_limits
from qorgau.web.auth import client_address, route
from qorgau.web.ui import account_sessions, render, sessions
from qorgau.web.ui.deps import Viewer, sign_in_desk
from qorgau.web.ui.forms import FormState, apply_error, read_form

router = APIRouter(include_in_schema=False)

WRONG_PASSWORD = N_("Wrong username or password.")
EXPIRED = N_("The sign-in took too long; enter your password again.")


def safe_next(value: str | None) -> str:
    """Only a path on this site: an open redirect would make a phishing link look like ours."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/desk"
    return value


def _after_sign_in(request: Request, token: str, next_path: str) -> Response:
    response = RedirectResponse(safe_next(next_path), status_code=303)
    ttl = request.app.state.settings.session_ttl_hours * 3600
    sessions.set_cookie(request, response, sessions.SESSION_COOKIE, token, ttl)
    sessions.clear_cookie(response, sessions.PENDING_COOKIE)
    return response


@router.get("/", **route(Action.LOGIN))
def start(request: Request, who: Viewer) -> Response:
    return RedirectResponse("/report" if who.is_anonymous else "/desk", status_code=303)


@router.get("/login", **route(Action.LOGIN))
def login_page(request: Request, who: Viewer) -> Response:
    state = FormState(values={"next": safe_next(request.query_params.get("next"))})
    if request.query_params.get("expired"):
        state.message = gettext(render.language(request), EXPIRED)
    return render.page(
        request,
        "ui/login.html",
        who,
        title=gettext(render.language(request), "Sign in"),
        state=state,
    )


@router.post("/login", **route(Action.LOGIN))
async def login_submit(request: Request, who: Viewer) -> Response:
    state, _ = await read_form(request)
    lang = render.language(request)
    title = gettext(lang, "Sign in")
    username, password = state.get("username"), state.get("password")
    state.values["password"] = ""  # never echoed back into the page
    if not username.strip():
        state.add("username", gettext(lang, "This field is required."))
    if not password:
        state.add("password", gettext(lang, "This field is required."))
    if not state.ok:
        return render.page(request, "ui/login.html", who, status=422, title=title, state=state)
    address = client_address(request)
    try:
        rate_limits.check_sign_in(request, address)
        try:
            checked = await run_in_threadpool(
                sign_in_desk(request).check_password, username, password, address
            )
        except (AuthenticationRequired, TooManyAttempts):
            await run_in_threadpool(rate_limits.count_failed_sign_in, request, address)
            raise
    except AuthenticationRequired:
        state.message = gettext(lang, WRONG_PASSWORD)
        return render.page(request, "ui/login.html", who, status=401, title=title, state=state)
    except TooManyAttempts as exc:
        state.message = gettext(
            lang, rate_limits.SIGN_IN_WAIT, minutes=rate_limits.minutes(exc.retry_after)
        )
        refused = render.page(request, "ui/login.html", who, status=429, title=title, state=state)
        refused.headers["Retry-After"] = str(exc.retry_after)
        return refused
    next_path = safe_next(state.get("next"))
    if checked.has_second_factor or checked.must_enrol:
        step = "code" if checked.has_second_factor else "enrol"
        # An enrolment is bound to this browser's attempt: see SignInDesk.begin_enrolment.
        purpose = step if step == "code" else f"enrol~{secrets.token_urlsafe(16)}"
        response = RedirectResponse(
            f"/login/{step}?{urlencode({'next': next_path}, safe='/')}", status_code=303
        )
        sessions.set_cookie(
            request,
            response,
            sessions.PENDING_COOKIE,
            sessions.pending_value(request, checked.user.id, purpose),
            sessions.PENDING_SECONDS,
        )
        return response
    token, _ = await run_in_threadpool(sign_in_desk(request).open_session, checked.user.id, address)
    return _after_sign_in(request, token, next_path)


def _pending(request: Request, step: str) -> int | None:
    found = sessions.read_pending(request)
    if found is None or found[1].split("~")[0] != step:
        return None
    return found[0]


def _attempt(request: Request) -> str:
    """The random value naming this browser's enrolment attempt (in the signed cookie)."""
    found = sessions.read_pending(request)
    return found[1].partition("~")[2] if found else ""


def _expired(request: Request) -> Response:
    next_path = safe_next(request.query_params.get("next"))
    return RedirectResponse(
        f"/login?{urlencode({'expired': '1', 'next': next_path}, safe='/')}", status_code=303
    )


@router.get("/login/code", **route(Action.LOGIN))
async def code_page(request: Request, who: Viewer) -> Response:
    user_id = _pending(request, "code")
    if user_id is None:
        return _expired(request)
    state = FormState(values={"next": safe_next(request.query_params.get("next"))})
    lang = render.language(request)
    keys = request.app.state.security_key_desk
    has_key = keys.available() and await run_in_threadpool(keys.has_keys, user_id)
    return render.page(
        request,
        "ui/login_code.html",
        who,
        title=gettext(lang, "Two-factor code"),
        state=state,
        has_key=has_key,
    )


@router.post("/login/code", **route(Action.LOGIN))
async def code_submit(request: Request, who: Viewer) -> Response:
    user_id = _pending(request, "code")
    if user_id is None:
        return _expired(request)
    state, _ = await read_form(request)
    lang = render.language(request)
    address = client_address(request)
    try:
        await run_in_threadpool(
            sign_in_desk(request).verify_code, user_id, state.get("code"), address
        )
        token, _ = await run_in_threadpool(sign_in_desk(request).open_session, user_id, address)
    except (InvalidInput, Conflict, AuthenticationRequired) as exc:
        apply_error(state, lang, exc, {"code": "code"})
        state.values["code"] = ""
        return render.page(
            request,
            "ui/login_code.html",
            who,
            status=422,
            title=gettext(lang, "Two-factor code"),
            state=state,
        )
    return _after_sign_in(request, token, state.get("next"))


@router.get("/login/enrol", **route(Action.LOGIN))
async def enrol_page(request: Request, who: Viewer) -> Response:
    user_id = _pending(request, "enrol")
    if user_id is None:
        return _expired(request)
    try:
        enrolment = await run_in_threadpool(
            sign_in_desk(request).begin_enrolment, user_id, _attempt(request)
        )
    except Conflict:
        return _expired(request)  # set up meanwhile (another tab): sign in with the code
    state = FormState(values={"next": safe_next(request.query_params.get("next"))})
    lang = render.language(request)
    return render.page(
        request,
        "ui/enrol.html",
        who,
        title=gettext(lang, "Set up two-factor sign-in"),
        state=state,
        enrolment=enrolment,
    )


@router.post("/login/enrol", **route(Action.LOGIN))
async def enrol_submit(request: Request, who: Viewer) -> Response:
    user_id = _pending(request, "enrol")
    if user_id is None:
        return _expired(request)
    state, _ = await read_form(request)
    lang = render.language(request)
    address = client_address(request)
    desk_ = sign_in_desk(request)
    try:
        await run_in_threadpool(
            desk_.confirm_enrolment, user_id, state.get("code"), _attempt(request), address
        )
        token, _ = await run_in_threadpool(desk_.open_session, user_id, address)
    except Conflict:
        # Confirmed already (a second press) or restarted elsewhere: start from the password.
        return _expired(request)
    except (InvalidInput, AuthenticationRequired) as exc:
        apply_error(state, lang, exc, {"code": "code"})
        state.values["code"] = ""
        enrolment = await run_in_threadpool(desk_.begin_enrolment, user_id, _attempt(request))
        return render.page(
            request,
            "ui/enrol.html",
            who,
            status=422,
            title=gettext(lang, "Set up two-factor sign-in"),
            state=state,
            enrolment=enrolment,
        )
    return _after_sign_in(request, token, state.get("next"))


@router.post("/logout", **route(Action.SELF_READ))
async def logout(request: Request, who: Viewer) -> Response:
    token = request.cookies.get(sessions.SESSION_COOKIE)
    if token:
        await run_in_threadpool(
            sign_in_desk(request).close_session, who, token, client_address(request)
        )
    response = RedirectResponse("/login", status_code=303)
    sessions.clear_cookie(response, sessions.SESSION_COOKIE)
    return response


@router.get("/account", **route(Action.SELF_READ))
async def account(request: Request, who: Viewer) -> Response:
    assert who.user_id is not None
    user = await run_in_threadpool(sign_in_desk(request).user, who.user_id)
    has_code = await run_in_threadpool(sign_in_desk(request).has_second_factor, who.user_id)
    key_desk = request.app.state.security_key_desk
    lang = render.language(request)
    return render.page(
        request,
        "ui/account.html",
        who,
        title=gettext(lang, "Your account"),
        user=user,
        has_code=has_code,
        keys_available=key_desk.available(),
        security_keys=await run_in_threadpool(key_desk.keys, who),
        sessions=await run_in_threadpool(account_sessions.session_rows, request, who),
        notice=account_sessions.account_notice(request),
    )
