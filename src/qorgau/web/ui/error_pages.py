"""Errors on pages are pages: the same message the API gives, in the reader's language,
inside the site's frame, never a stack trace or a JSON body in a browser tab."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from qorgau.errors import QorgauError
from qorgau.web.ui import render
from qorgau.web.ui.deps import SignInNeeded

API_PREFIXES = ("/api/", "/openapi.json", "/feeds/", "/static/")


def wants_html(request: Request) -> bool:
    """Pages get HTML errors; the API, feeds and files keep their JSON ones."""
    if request.url.path.startswith(API_PREFIXES):
        return False
    return (
        "text/html" in request.headers.get("accept", "")
        or request.headers.get("hx-request") == "true"
    )


def error_page(
    request: Request, status: int, title: str, detail: str, exc: QorgauError | None = None
) -> Response:
    if isinstance(exc, SignInNeeded):
        if request.headers.get("hx-request") == "true":
            return Response(status_code=204, headers={"HX-Redirect": exc.location})
        return RedirectResponse(exc.location, status_code=303)
    who = request.app.state.desk.anonymous()
    response: HTMLResponse = render.page(
        request, "ui/error.html", who, status=status, title=title, heading=title, detail=detail
    )
    return response
