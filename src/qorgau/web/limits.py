"""Refuse oversized request bodies before they are read whole.

A declared ``Content-Length`` over the limit is refused at once; a chunked body is counted as
it streams and cut off the moment it passes the limit, so a slow flood of bytes cannot fill
memory.
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

from markupsafe import escape
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qorgau.i18n import N_, gettext, negotiate


class BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    """``larger`` names the few paths that take files (the report form, evidence uploads)
    with their own, higher limit; everything else keeps ``max_bytes``."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        larger: tuple[tuple[re.Pattern[str], int], ...] = (),
    ) -> None:
        self.app = app
        self.default_max = max_bytes
        self.larger = larger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        max_bytes = next((n for pattern, n in self.larger if pattern.fullmatch(path)), None)
        max_bytes = max_bytes if max_bytes is not None else self.default_max
        headers = dict(scope.get("headers") or [])
        lang = negotiate(headers.get(b"accept-language", b"").decode("latin-1"))
        html = not path.startswith("/api/") and b"text/html" in headers.get(b"accept", b"")
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await _refuse(send, 400, lang, N_("Content-Length is not a number."), html=html)
                return
            if size > max_bytes:
                await _refuse_large(send, lang, max_bytes, html)
                return
        received = 0
        response_started = False
        refused = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    # Answer now: frameworks turn errors raised while reading the body into
                    # their own 400, which would hide the real reason from the client.
                    if not response_started and not refused:
                        refused = True
                        await _refuse_large(send, lang, max_bytes, html)
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if refused:
                return  # the 413 is already on its way; drop what the app says after it
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        with contextlib.suppress(BodyTooLarge):  # the 413 was already sent
            await self.app(scope, limited_receive, tracking_send)


async def _refuse_large(send: Send, lang: str, limit: int, html: bool = False) -> None:
    mb = limit // (1024 * 1024)
    if html:
        # A browser that posted a form gets a page it can read, not a JSON body.
        await _refuse(
            send,
            413,
            lang,
            N_(
                "What you sent is larger than {mb} MB, so it was not received and nothing was "
                "stored. Go back, remove or shrink the largest files, and send again."
            ),
            html=True,
            mb=mb,
        )
        return
    await _refuse(
        send,
        413,
        lang,
        N_(
            "The request body is larger than {limit} bytes. Send less, or attach large files "
            "separately."
        ),
        limit=limit,
    )


async def _refuse(
    send: Send, status: int, lang: str, message: str, html: bool = False, **params: Any
) -> None:
    if html:
        text = escape(gettext(lang, message, **params))
        page = (
            f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>Qorgau</title></head><body><main><h1>{status}</h1><p role="alert">{text}'
            "</p></main></body></html>"
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"text/html; charset=utf-8"),
                    (b"content-length", str(len(page)).encode()),
                    (b"content-security-policy", b"default-src 'none'"),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": page})
        return
    body = json.dumps(
        {
            "error": "request_too_large" if status == 413 else "bad_request",
            "title": gettext(lang, message, **params),
            "problems": [],
        },
        ensure_ascii=False,
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
