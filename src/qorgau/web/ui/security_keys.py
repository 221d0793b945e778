"""Security keys in the browser: add one on the account page, sign in with it.

The browser talks to the key through ``navigator.credentials`` (``qorgau-webauthn.js``); these
routes hand it the options and check its answers. The challenge the answer must sign lives in a
short-lived signed cookie, like the half-way sign-in itself, so no server-side state is needed
between the two requests. Pages without JavaScript say so and keep the code as the way in.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import json
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from qorgau.domain.access import Action
from qorgau.errors import AuthenticationRequired, Conflict, InvalidInput, NotFound
from qorgau.i18n import N_, gettext
from qorgau.security_key_desk import SecurityKeyDesk
from qorgau.web.auth import client_address, route
from qorgau.web.ui import render, sessions
from qorgau.web.ui.deps import Viewer, sign_in_desk
from qorgau.web.ui.forms import FormState
from qorgau.web.ui.sign_in import _expired, _pending, safe_next

router = APIRouter(include_in_schema=False)

CHALLENGE_COOKIE = "qorgau_webauthn"
CHALLENGE_SECONDS = 180
MAX_ANSWER_BYTES = 64 * 1024
EXPIRED_KEY = N_("The security key took too long to answer; try again.")
BAD_ANSWER = N_("The browser's answer could not be read; reload the page and try again.")


def key_desk(request: Request) -> SecurityKeyDesk:
    d: SecurityKeyDesk = request.app.state.security_key_desk
    return d


# -- the challenge between options and answer -----------------------------------------------
def _challenge_value(request: Request, user_id: int, purpose: str, challenge: bytes) -> str:
    encoded = base64.urlsafe_b64encode(challenge).decode().rstrip("=")
    body = f"{user_id}.{purpose}.{int(time.time())}.{encoded}"
    return f"{body}.{sessions.cipher(request).blind_index(body, 'web.webauthn-challenge')}"


def _read_challenge(request: Request, user_id: int, purpose: str) -> bytes | None:
    parts = request.cookies.get(CHALLENGE_COOKIE, "").split(".")
    if len(parts) != 5:
        return None
    body = ".".join(parts[:4])
    expected = sessions.cipher(request).blind_index(body, "web.webauthn-challenge")
    if not hmac.compare_digest(expected, parts[4]):
        return None
    if parts[0] != str(user_id) or parts[1] != purpose:
        return None
    try:
        age = time.time() - int(parts[2])
        challenge = base64.urlsafe_b64decode(parts[3] + "=" * (-len(parts[3]) % 4))
    except (ValueError, binascii.Error):
        return None
    return challenge if 0 <= age <= CHALLENGE_SECONDS else None


def _options_response(
    request: Request, user_id: int, purpose: str, options_json: str, challenge: bytes
) -> Response:
    response = Response(options_json, media_type="application/json")
    sessions.set_cookie(
        request,
        response,
        CHALLENGE_COOKIE,
        _challenge_value(request, user_id, purpose, challenge),
        CHALLENGE_SECONDS,
    )
    return response


def _problem(request: Request, status: int, message: str) -> JSONResponse:
    lang = render.language(request)
    return JSONResponse({"error": gettext(lang, message)}, status_code=status)


def _error_message(exc: InvalidInput | Conflict | NotFound | AuthenticationRequired) -> str:
    if isinstance(exc, InvalidInput) and exc.problems:
        return exc.problems[0].message
    return str(exc)


async def _answer(request: Request) -> dict[str, Any] | None:
    if not request.headers.get("content-type", "").startswith("application/json"):
        return None  # a form post (read already by the CSRF check) is not a key's answer
    body = await request.body()
    if len(body) > MAX_ANSWER_BYTES:
        return None
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("credential"), dict) else None


# -- signing in -----------------------------------------------------------------------------
@router.get("/login/key", **route(Action.LOGIN))
async def key_page(request: Request, who: Viewer) -> Response:
    user_id = _pending(request, "code")
    if user_id is None:
        return _expired(request)
    state = FormState(values={"next": safe_next(request.query_params.get("next"))})
    lang = render.language(request)
    return render.page(
        request, "ui/login_key.html", who, title=gettext(lang, "Security key"), state=state
    )


@router.post("/login/key/options", **route(Action.LOGIN))
async def key_sign_in_options(request: Request, who: Viewer) -> Response:
    user_id = _pending(request, "code")
    if user_id is None:
        return _problem(request, 401, N_("The sign-in took too long; enter your password again."))
    try:
        found = await run_in_threadpool(key_desk(request).begin_sign_in, user_id)
    except (InvalidInput, Conflict) as exc:
        return _problem(request, 409, _error_message(exc))
    return _options_response(request, user_id, "sign-in", found.options_json, found.challenge)


@router.post("/login/key", **route(Action.LOGIN))
async def key_sign_in(request: Request, who: Viewer) -> Response:
    user_id = _pending(request, "code")
    if user_id is None:
        return _problem(request, 401, N_("The sign-in took too long; enter your password again."))
    answer = await _answer(request)
    if answer is None:
        return _problem(request, 400, BAD_ANSWER)
    challenge = _read_challenge(request, user_id, "sign-in")
    if challenge is None:
        return _problem(request, 409, EXPIRED_KEY)
    address = client_address(request)
    try:
        await run_in_threadpool(
            key_desk(request).finish_sign_in, user_id, answer["credential"], challenge, address
        )
        token, _ = await run_in_threadpool(sign_in_desk(request).open_session, user_id, address)
    except (InvalidInput, Conflict, AuthenticationRequired) as exc:
        return _problem(request, 422, _error_message(exc))
    next_path = safe_next(str(answer.get("next") or ""))
    response = JSONResponse({"next": next_path})
    ttl = request.app.state.settings.session_ttl_hours * 3600
    sessions.set_cookie(request, response, sessions.SESSION_COOKIE, token, ttl)
    sessions.clear_cookie(response, sessions.PENDING_COOKIE)
    sessions.clear_cookie(response, CHALLENGE_COOKIE)
    return response


# -- the account page -----------------------------------------------------------------------
@router.post("/account/keys/options", **route(Action.SELF_READ))
async def key_registration_options(request: Request, who: Viewer) -> Response:
    assert who.user_id is not None
    try:
        found = await run_in_threadpool(key_desk(request).begin_registration, who)
    except (InvalidInput, Conflict) as exc:
        return _problem(request, 409, _error_message(exc))
    return _options_response(request, who.user_id, "register", found.options_json, found.challenge)


@router.post("/account/keys", **route(Action.SELF_READ))
async def key_register(request: Request, who: Viewer) -> Response:
    assert who.user_id is not None
    answer = await _answer(request)
    if answer is None:
        return _problem(request, 400, BAD_ANSWER)
    challenge = _read_challenge(request, who.user_id, "register")
    if challenge is None:
        return _problem(request, 409, EXPIRED_KEY)
    try:
        stored = await run_in_threadpool(
            key_desk(request).finish_registration,
            who,
            answer["credential"],
            challenge,
            str(answer.get("label") or ""),
            client_address(request),
        )
    except (InvalidInput, Conflict) as exc:
        return _problem(request, 422, _error_message(exc))
    response = JSONResponse({"id": stored.id, "label": stored.label}, status_code=201)
    sessions.clear_cookie(response, CHALLENGE_COOKIE)
    return response


@router.post("/account/keys/{key_id}/remove", **route(Action.SELF_READ))
async def key_remove(request: Request, key_id: int, who: Viewer) -> Response:
    # Removed already (a second press): the account page shows what is left.
    with contextlib.suppress(NotFound):
        await run_in_threadpool(key_desk(request).remove, who, key_id, client_address(request))
    return RedirectResponse("/account", status_code=303)
