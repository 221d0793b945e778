"""Browser sessions, the half-done sign-in between password and code, and CSRF tokens.

The session is an API token in an HttpOnly, SameSite=Strict cookie: scripts on the page can
never read it, and no other site's page can send it. Between the password and the second
factor the browser holds only a short-lived signed note ("user 7 passed the password at T"),
never a session. CSRF tokens are keyed MACs of the session token (or, before sign-in, of a
random form cookie), checked on every state-changing request: a page elsewhere can neither
read them nor compute them.
"""

from __future__ import annotations

import hmac
import secrets
import time

from fastapi import Request, Response

from qorgau.security.fields import FieldCipher
from qorgau.web import auth

SESSION_COOKIE = auth.SESSION_COOKIE
PENDING_COOKIE = "qorgau_pending"
FORM_COOKIE = "qorgau_form"
LANG_COOKIE = "qorgau_lang"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
PENDING_SECONDS = 300
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def cipher(request: Request) -> FieldCipher:
    c: FieldCipher = request.app.state.desk.store.cipher
    return c


def _secure(request: Request) -> bool:
    return bool(request.app.state.settings.secure_cookies) or request.url.scheme == "https"


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/",
    )


def clear_cookie(response: Response, name: str) -> None:
    response.delete_cookie(name, path="/", samesite="strict", httponly=True)


# -- the step between password and code ----------------------------------------------------
def pending_value(request: Request, user_id: int, purpose: str) -> str:
    """``user.purpose.issued.mac``: purpose is "code" (enrolled) or "enrol"."""
    issued = int(time.time())
    body = f"{user_id}.{purpose}.{issued}"
    return f"{body}.{cipher(request).blind_index(body, 'web.pending-sign-in')}"


def read_pending(request: Request) -> tuple[int, str] | None:
    raw = request.cookies.get(PENDING_COOKIE, "")
    parts = raw.split(".")
    if len(parts) != 4:
        return None
    body = ".".join(parts[:3])
    expected = cipher(request).blind_index(body, "web.pending-sign-in")
    if not hmac.compare_digest(expected, parts[3]):
        return None
    try:
        user_id, issued = int(parts[0]), int(parts[2])
    except ValueError:
        return None
    if not 0 <= time.time() - issued <= PENDING_SECONDS:
        return None
    return user_id, parts[1]


# -- CSRF --------------------------------------------------------------------------------------
FORM_TOKEN_SECONDS = 24 * 3600


def csrf_token(request: Request) -> str:
    """The token to put in this page's forms (and htmx's header).

    Signed in: a MAC of the session token. Before sign-in: ``issued.nonce.mac`` — signed and
    dated by the server, and bound to the form cookie when the browser keeps cookies. A
    browser that keeps none (some people at risk turn them off) can still send the report
    form: its token is then accepted only with an Origin header naming this site, which no
    page elsewhere can make a browser send.
    """
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        return cipher(request).blind_index(session, "web.csrf.session")[:43]
    body = f"{int(time.time())}.{form_nonce(request)}"
    return f"{body}.{cipher(request).blind_index(body, 'web.csrf.form')[:43]}"


def binding(request: Request) -> str:
    """A stable secret value for this browser (its session or form cookie), '' if it keeps
    no cookie: what a form's own nonce is bound to, so a double send is recognised."""
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        return cipher(request).blind_index(session, "web.binding.session")
    nonce = request.cookies.get(FORM_COOKIE)
    return cipher(request).blind_index(nonce, "web.binding.form") if nonce else ""


def form_nonce(request: Request) -> str:
    """A random value for a visitor without a session, set as a cookie by ``remember_form``."""
    nonce = request.cookies.get(FORM_COOKIE) or getattr(request.state, "form_nonce", None)
    if not nonce:
        nonce = secrets.token_urlsafe(24)
        request.state.form_nonce = nonce
    return str(nonce)


def remember_form(request: Request, response: Response) -> None:
    """Set the form cookie if this response created it (pages with anonymous forms)."""
    fresh = getattr(request.state, "form_nonce", None)
    if fresh and not request.cookies.get(FORM_COOKIE):
        set_cookie(request, response, FORM_COOKIE, fresh, FORM_TOKEN_SECONDS)


def csrf_valid(request: Request, sent: str | None, same_origin: bool) -> bool:
    if not sent:
        return False
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        expected = cipher(request).blind_index(session, "web.csrf.session")[:43]
        return hmac.compare_digest(expected, sent)
    parts = sent.split(".")
    if len(parts) != 3:
        return False
    body = f"{parts[0]}.{parts[1]}"
    expected = cipher(request).blind_index(body, "web.csrf.form")[:43]
    if not hmac.compare_digest(expected, parts[2]):
        return False
    try:
        age = time.time() - int(parts[0])
    except ValueError:
        return False
    if not 0 <= age <= FORM_TOKEN_SECONDS:
        return False
    cookie = request.cookies.get(FORM_COOKIE)
    if cookie:
        return hmac.compare_digest(cookie, parts[1])
    return same_origin
