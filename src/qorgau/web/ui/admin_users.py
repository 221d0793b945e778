"""Users and roles: who has an account, with which role, and whether they have a second factor.

An administrator creates accounts with a first password (the owner sets up two-factor sign-in
at the first sign-in), changes roles, deactivates and reactivates, and resets the second factor
of someone who lost their phone — which also signs them out everywhere, since a lost phone may
be in someone else's hands — and clears a sign-in lockout early. The desks refuse an
administrator who would demote or lock out themself; the page says so instead of failing.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from qorgau.domain.access import Action
from qorgau.domain.model import Principal, Role, User
from qorgau.errors import Conflict, InvalidInput, NotFound
from qorgau.i18n import N_, gettext
from qorgau.security.passwords import MIN_PASSWORD_LENGTH
from qorgau.session_desk import SessionDesk
from qorgau.web.auth import client_address, desk, route
from qorgau.web.ui import render
from qorgau.web.ui.admin_common import back, notice, refusal
from qorgau.web.ui.deps import Viewer, sign_in_desk
from qorgau.web.ui.forms import FormState, apply_error, read_form

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 100
USERS_PATH = "/admin/users"
TAKEN = N_("This username is taken; choose another.")
SHORT_PASSWORD = N_("Use at least {n} characters.")
REQUIRED = N_("This field is required.")
NOT_A_ROLE = N_("Not one of the allowed values.")


def _page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    return max(1, int(raw)) if raw.isdigit() and len(raw) < 7 else 1


def _users_page(request: Request, who: Principal, state: FormState, status: int = 200) -> Response:
    lang = render.language(request)
    page_no = _page_number(request)
    found, total = desk(request).list_users(who, PAGE_SIZE, (page_no - 1) * PAGE_SIZE)
    with_code = sign_in_desk(request).two_factor_users(who)
    locked = sign_in_desk(request).locked_users(who)
    return render.page(
        request,
        "ui/admin_users.html",
        who,
        status=status,
        title=gettext(lang, "Users and roles"),
        users=found,
        total=total,
        page_no=page_no,
        pages=max(1, -(-total // PAGE_SIZE)),
        with_code=with_code,
        locked=locked,
        roles=[str(r) for r in Role],
        role_options=[(str(r), gettext(lang, render.ROLE_LABELS[str(r)])) for r in Role],
        state=state,
        notice=notice(request, lang) if status == 200 else "",
        min_password=MIN_PASSWORD_LENGTH,
    )


@router.get(USERS_PATH, **route(Action.USER_MANAGE))
def users_page(request: Request, who: Viewer) -> Response:
    return _users_page(request, who, FormState(values={"role": str(Role.RESPONDER)}))


def _create(request: Request, who: Principal, state: FormState) -> User | None:
    """The desk's answer put next to the fields; ``None`` when something is wrong."""
    lang = render.language(request)
    username, password = state.get("username"), state.get("password")
    state.values["password"] = ""  # a password is never sent back into a page
    if not username.strip():
        state.add("username", gettext(lang, REQUIRED))
    if not password:
        state.add("password", gettext(lang, REQUIRED))
    try:
        role = Role(state.get("role"))
    except ValueError:
        state.add("role", gettext(lang, NOT_A_ROLE))
    if not state.ok:
        return None
    try:
        return desk(request).create_user(
            who,
            username,
            role,
            password,
            state.get("display_name").strip() or None,
            client_address(request),
        )
    except Conflict:
        state.add("username", gettext(lang, TAKEN))
    except InvalidInput as exc:
        apply_error(state, lang, exc, {"username": "username", "password": "password"})
        if any(p.field == "password" for p in exc.problems):
            state.errors["password"] = gettext(lang, SHORT_PASSWORD, n=MIN_PASSWORD_LENGTH)
    return None


@router.post(USERS_PATH, **route(Action.USER_MANAGE))
async def create_user(request: Request, who: Viewer) -> Response:
    state, _ = await read_form(request)
    created = await run_in_threadpool(_create, request, who, state)
    if created is None:
        return await run_in_threadpool(_users_page, request, who, state, 422)
    return back(USERS_PATH, "user-created")


async def _refused(request: Request, who: Principal, exc: Conflict | NotFound) -> Response:
    state = FormState(values={"role": str(Role.RESPONDER)})
    refusal(state, render.language(request), exc)
    status = 409 if isinstance(exc, Conflict) else 404
    return await run_in_threadpool(_users_page, request, who, state, status)


@router.post(USERS_PATH + "/{user_id}/role", **route(Action.USER_MANAGE))
async def change_role(user_id: int, request: Request, who: Viewer) -> Response:
    state, _ = await read_form(request)
    try:
        role = Role(state.get("role"))
    except ValueError:
        return await _refused(request, who, NotFound(f"no role {state.get('role')!r}"))
    try:
        await run_in_threadpool(
            sign_in_desk(request).set_role, who, user_id, role, client_address(request)
        )
    except (Conflict, NotFound) as exc:
        return await _refused(request, who, exc)
    return back(USERS_PATH, "role-changed")


@router.post(USERS_PATH + "/{user_id}/active", **route(Action.USER_MANAGE))
async def set_active(user_id: int, request: Request, who: Viewer) -> Response:
    state, _ = await read_form(request)
    active = state.get("active") == "1"
    try:
        await run_in_threadpool(
            desk(request).set_user_active, who, user_id, active, client_address(request)
        )
    except (Conflict, NotFound) as exc:
        return await _refused(request, who, exc)
    return back(USERS_PATH, "reactivated" if active else "deactivated")


@router.post(USERS_PATH + "/{user_id}/two-factor/reset", **route(Action.USER_MANAGE))
async def reset_two_factor(user_id: int, request: Request, who: Viewer) -> Response:
    try:
        await run_in_threadpool(
            sign_in_desk(request).reset_two_factor, who, user_id, client_address(request)
        )
    except NotFound as exc:
        return await _refused(request, who, exc)
    return back(USERS_PATH, "two-factor-reset")


@router.post(USERS_PATH + "/{user_id}/sign-in/unlock", **route(Action.USER_MANAGE))
async def unlock_sign_in(user_id: int, request: Request, who: Viewer) -> Response:
    """After wrong passwords or codes locked the account, the owner need not wait out the
    window once an administrator has confirmed it was them."""
    try:
        await run_in_threadpool(
            sign_in_desk(request).unlock_sign_in, who, user_id, client_address(request)
        )
    except NotFound as exc:
        return await _refused(request, who, exc)
    return back(USERS_PATH, "sign-in-unlocked")


@router.post(USERS_PATH + "/{user_id}/sessions/revoke", **route(Action.USER_MANAGE))
async def revoke_sessions(user_id: int, request: Request, who: Viewer) -> Response:
    """Every session and token of the person ends; they sign in again (a suspected intruder
    holding one of them is out at the next click)."""
    try:
        await run_in_threadpool(
            SessionDesk(desk(request)).revoke_user, who, user_id, client_address(request)
        )
    except NotFound as exc:
        return await _refused(request, who, exc)
    return back(USERS_PATH, "sessions-revoked")
