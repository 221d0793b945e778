"""Who is looking at a page, and may they: the browser counterpart of ``web.auth.principal``.

Each page route declares its ``Action`` with ``route`` exactly as API routes do; ``viewer``
reads the session cookie, authorizes the action and, for anything but GET/HEAD, checks the
CSRF token and that the request came from this site. A visitor who must sign in is sent to the
sign-in page and brought back afterwards.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from qorgau.account_desk import SignInDesk
from qorgau.domain import access
from qorgau.domain.model import Principal
from qorgau.errors import AuthenticationRequired, PermissionDenied
from qorgau.response_desk import ResponseDesk
from qorgau.web.auth import desk, route_action
from qorgau.web.ui import sessions


class SignInNeeded(AuthenticationRequired):
    """Answered with a redirect to the sign-in page (``next`` brings the visitor back)."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path
        super().__init__("sign in to see this page")

    @property
    def location(self) -> str:
        return f"/login?{urlencode({'next': self.next_path}, safe='/')}"


class CsrfRefused(PermissionDenied):
    pass


def sign_in_desk(request: Request) -> SignInDesk:
    """The sign-in desk of the running app (one accessor for every page module)."""
    d: SignInDesk = request.app.state.sign_in_desk
    return d


def response_desk(request: Request) -> ResponseDesk:
    d: ResponseDesk = request.app.state.response_desk
    return d


async def session_principal(request: Request) -> Principal | None:
    token = request.cookies.get(sessions.SESSION_COOKIE)
    if not token:
        return None
    try:
        return await run_in_threadpool(desk(request).principal_for_token, token)
    except AuthenticationRequired:
        return None  # expired or revoked: treated as signed out


async def check_csrf(request: Request) -> None:
    origin = request.headers.get("origin")
    expected = f"{request.url.scheme}://{request.url.netloc}"
    if origin and origin != "null" and origin != expected:
        raise CsrfRefused("the form was sent from another site")
    sent = request.headers.get(sessions.CSRF_HEADER)
    if sent is None:
        ctype = request.headers.get("content-type", "")
        if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(sessions.CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    if not sessions.csrf_valid(request, sent, same_origin=origin == expected):
        raise CsrfRefused(
            "the form has expired or did not come from this site; reload the page and send it again"
        )


async def viewer(request: Request) -> Principal:
    who = await session_principal(request) or desk(request).anonymous()
    action = route_action(request)
    if not access.allowed(who, action):
        if who.is_anonymous:
            target = request.url.path
            if request.url.query:
                target += "?" + request.url.query
            raise SignInNeeded(target if request.method == "GET" else "/desk")
        access.authorize(who, action)  # raises PermissionDenied with the reason
    if request.method not in sessions.SAFE_METHODS:
        try:
            await check_csrf(request)
        except CsrfRefused:
            await request.close()  # uploaded files already spooled to disk are let go now
            raise
    return who


Viewer = Annotated[Principal, Depends(viewer)]
