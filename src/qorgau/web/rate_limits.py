"""Per-address rate limits at the web edge: public intake, failed sign-ins, receipt codes.

Intake is refused in a middleware, before the body is read: a flood of reports (or of junk
posted at the report routes) from one address costs a counter lookup each, not a parse of up
to 52 MB of form, and cannot crowd out reports from everyone else. Sign-ins are counted in
their routes, and only when they fail, so a newsroom signing in together behind one address
is not slowed; the routes answer with the form and the message, or the API's error body.
Receipt codes (the reporter's only key to a report: follow it, give consent, pull the panic
lock) are looked up first and only codes matching no report are counted: a right code always
works, even from an address others have used up (every onion-service visitor shares one), so
nobody can block another person's panic lock. A code is 100 bits, so the count is not what
keeps it secret; past the allowance a miss answers 429 with when to try again, which slows a
script down.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TypeVar

from fastapi import Request
from markupsafe import escape
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from qorgau.errors import NotFound, TooManyAttempts
from qorgau.i18n import N_, gettext, negotiate
from qorgau.security.rate_limit import INTAKE, RECEIPT, SIGN_IN, RateLimiter
from qorgau.web.auth import client_address

# Where reports come in (the JSON API and the public form), by method and path.
INTAKE_ROUTES = frozenset({("POST", "/api/v1/reports"), ("POST", "/report")})

INTAKE_WAIT = N_(
    "Too many reports have come from your network in the last minute, so this one was not "
    "received and nothing was stored. Wait {seconds} seconds and send it again."
)
INTAKE_WAIT_PAGE = N_(
    "Too many reports have come from your network in the last minute, so this one was not "
    "received and nothing was stored. Wait {seconds} seconds, go back (your browser usually "
    "keeps what you typed) and send it again."
)
SIGN_IN_WAIT = N_(
    "Too many failed sign-ins. Wait {minutes} min and try again; if it keeps happening, ask "
    "an administrator."
)

RECEIPT_WAIT = N_(
    "Too many receipt codes that match no report have come from your network. Wait {minutes} "
    "min and try again, typing the code exactly as it was given."
)


def limiter(request: Request) -> RateLimiter:
    found: RateLimiter = request.app.state.rate_limiter
    return found


def minutes(seconds: int) -> int:
    return max(1, -(-seconds // 60))


def check_sign_in(request: Request, address: str | None) -> None:
    """Refuse a sign-in from an address that failed too often in the last minute, whatever
    account it names now (password spraying tries one password on many accounts)."""
    wait = limiter(request).wait(SIGN_IN, address)
    if wait is not None:
        raise TooManyAttempts(
            f"too many failed sign-ins from this address: wait {minutes(wait)} min", wait
        )


def count_failed_sign_in(request: Request, address: str | None) -> None:
    limiter(request).hit(SIGN_IN, address)


T = TypeVar("T")


def receipt_lookup(request: Request, address: str | None, lookup: Callable[[], T]) -> T:
    """``lookup()``, a call by receipt code; its ``NotFound`` counts one miss for the address
    and becomes 429 once the address is over its allowance. Blocking (database, and Redis when
    the counters are shared): call it from a worker thread."""
    try:
        return lookup()
    except NotFound:
        wait = limiter(request).hit(RECEIPT, address)
        if wait is None:
            raise
    raise TooManyAttempts(
        f"too many receipt codes matching no report from this address: wait {minutes(wait)} min",
        wait,
    )


class IntakeRateLimit:
    """Refuse reports from an address over ``intake_rate_per_minute`` with 429, before the
    request body is read."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (scope["method"], scope["path"]) in INTAKE_ROUTES:
            request = Request(scope)
            address = client_address(request)
            wait = (
                await run_in_threadpool(self.limiter.hit, INTAKE, address)
                if self.limiter.remote
                else self.limiter.hit(INTAKE, address)
            )
            if wait is not None:
                await _refuse(request, send, wait)
                return
        await self.app(scope, receive, send)


async def _refuse(request: Request, send: Send, wait: int) -> None:
    explicit = request.query_params.get("lang") or request.cookies.get("qorgau_lang")
    lang = negotiate(request.headers.get("accept-language"), explicit)
    page = not request.url.path.startswith("/api/")
    if page:
        text = escape(gettext(lang, INTAKE_WAIT_PAGE, seconds=wait))
        heading = escape(gettext(lang, "Too many attempts. Wait a little and try again."))
        body = (
            f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>Qorgau</title></head><body><main><h1>{heading}</h1>"
            f'<p role="alert">{text}</p></main></body></html>'
        ).encode()
        content_type = b"text/html; charset=utf-8"
    else:
        body = json.dumps(
            {
                "error": "too_many_requests",
                "title": gettext(lang, INTAKE_WAIT, seconds=wait),
                "detail": f"too many reports from this address: wait {wait} seconds",
                "problems": [],
            },
            ensure_ascii=False,
        ).encode()
        content_type = b"application/json"
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(wait).encode()),
        # The body was not read: close rather than leave it in the connection.
        (b"connection", b"close"),
    ]
    if page:
        headers.append((b"content-security-policy", b"default-src 'none'"))
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body})
