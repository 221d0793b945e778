"""Who is calling, and may they call this route.

Every route carries its ``Action`` in ``openapi_extra["x-qorgau-action"]`` (set by ``route``);
the single ``principal`` dependency reads it, resolves the bearer token and authorizes. A route
without an action is refused, so forgetting authorization fails closed.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from qorgau.desk import CaseDesk
from qorgau.domain import access
from qorgau.domain.access import Action
from qorgau.domain.model import Principal
from qorgau.errors import AuthenticationRequired, ConfigurationError

ACTION_KEY = "x-qorgau-action"


def route(action: Action, **kw: Any) -> dict[str, Any]:
    """Keyword arguments for a router decorator that bind the route to ``action``."""
    extra = dict(kw.pop("openapi_extra", None) or {})
    extra[ACTION_KEY] = str(action)
    return {"openapi_extra": extra, **kw}


def desk(request: Request) -> CaseDesk:
    d: CaseDesk = request.app.state.desk
    return d


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationRequired("use the header 'Authorization: Bearer <token>'")
    return token.strip()


SESSION_COOKIE = "qorgau_session"
SAFE_METHODS = frozenset({"GET", "HEAD"})


def session_token(request: Request) -> str | None:
    """A signed-in browser may *read* the API with its session cookie (downloads linked from
    the pages: exports, reports, evidence). Changes through the API still need the bearer
    header, which another site's page cannot add, so the cookie opens no CSRF hole."""
    if request.method not in SAFE_METHODS:
        return None
    return request.cookies.get(SESSION_COOKIE) or None


def route_action(request: Request) -> Action:
    r = request.scope.get("route")
    raw = (getattr(r, "openapi_extra", None) or {}).get(ACTION_KEY)
    if raw is None:
        raise ConfigurationError(f"route {request.url.path} declares no access action")
    return Action(raw)


def client_address(request: Request) -> str | None:
    """The address the request came from. Behind a trusted proxy, the last X-Forwarded-For
    entry: the one the proxy itself appended. Entries before it are whatever the client sent,
    and a rate limit keyed on them could be dodged by inventing a new one each time."""
    if request.app.state.settings.trust_proxy_headers:
        fwd = request.headers.get("x-forwarded-for")
        if fwd:
            return fwd.split(",")[-1].strip()[:64] or None
    return request.client.host if request.client else None


async def principal(request: Request) -> Principal:
    """Resolve the caller and check the route's action.

    The anonymous public (most intake traffic) costs no database call and no thread hop; a
    token is looked up in the thread pool so the event loop never blocks on the database.
    """
    d = desk(request)
    token = bearer_token(request) or session_token(request)
    who = await run_in_threadpool(d.principal_for_token, token) if token else d.anonymous()
    access.authorize(who, route_action(request))
    return who
