"""Domain errors to HTTP, in one table.

Each row maps an error class to a status and a machine-readable code; a test walks the table.
Bodies always have the same shape — ``error``, ``title`` (in the caller's language), ``detail``
and ``problems`` (field, rule, message, allowed) — so a client can show exactly what to fix.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from qorgau.errors import (
    AuthenticationRequired,
    ConfigurationError,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    QorgauError,
    TooManyAttempts,
)
from qorgau.i18n import N_, gettext, negotiate

log = logging.getLogger(__name__)

ERROR_TABLE: dict[type[QorgauError], tuple[int, str, str]] = {
    InvalidInput: (422, "invalid_input", N_("Some fields are not valid.")),
    NotFound: (404, "not_found", N_("Not found.")),
    Conflict: (409, "conflict", N_("The request conflicts with the current state.")),
    PermissionDenied: (403, "forbidden", N_("Your role does not allow this.")),
    AuthenticationRequired: (401, "unauthenticated", N_("Sign in to do this.")),
    ConfigurationError: (503, "unavailable", N_("The service is not configured correctly.")),
    TooManyAttempts: (
        429,
        "too_many_requests",
        N_("Too many attempts. Wait a little and try again."),
    ),
}

RULE_MESSAGES = {
    "missing": N_("This field is required."),
    "extra_forbidden": N_("This field is not part of the request; remove it."),
    "string_too_long": N_("Too long: at most {max_length} characters."),
    "string_too_short": N_("Too short: at least {min_length} characters."),
    "too_long": N_("Too many items: at most {max_length}."),
    "datetime_from_date_parsing": N_(
        "Not a date and time; use ISO 8601, e.g. 2025-05-06T18:00:00Z."
    ),
    "datetime_parsing": N_("Not a date and time; use ISO 8601, e.g. 2025-05-06T18:00:00Z."),
    "datetime_type": N_("Not a date and time; use ISO 8601, e.g. 2025-05-06T18:00:00Z."),
    "enum": N_("Not one of the allowed values."),
    "bool_parsing": N_("Not true or false."),
    "int_parsing": N_("Not a whole number."),
    "string_type": N_("Must be text."),
    "list_type": N_("Must be a list."),
    "json_invalid": N_("The body is not valid JSON."),
    "model_attributes_type": N_("Must be a JSON object."),
    "greater_than_equal": N_("Must be at least {ge}."),
    "less_than_equal": N_("Must be at most {le}."),
    "taxonomy": N_("Unknown value; choose one of the allowed values."),
    "required": N_("This field is required."),
    "phone": N_("Not a phone number; write it as +7 701 123 4567."),
    "email": N_("Not an e-mail address."),
    "host": N_("Not a host name such as orda.kz."),
    "not_future": N_("Cannot be in the future."),
    "before_report": N_("An attack cannot start after it was reported."),
    "range": N_("Out of the allowed range."),
    "max_items": N_("Too many items."),
    "min_length": N_("Too short."),
    "max_length": N_("Too long."),
    "pattern": N_("Contains characters that are not allowed."),
}


def _lang(request: Request) -> str:
    explicit = request.query_params.get("lang") or request.cookies.get("qorgau_lang")
    return negotiate(request.headers.get("accept-language"), explicit)


def error_body(
    request: Request, code: str, title: str, detail: str, problems: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "error": code,
        "title": gettext(_lang(request), title),
        "detail": detail,
        "problems": problems,
    }


def _field_from_loc(loc: tuple[Any, ...]) -> str:
    parts = [p for p in loc if p not in ("body", "query", "path", "header")]
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(QorgauError)
    async def domain_error(request: Request, exc: QorgauError) -> Response:
        for cls in type(exc).__mro__:
            if cls in ERROR_TABLE:
                status, code, title = ERROR_TABLE[cls]
                break
        else:  # pragma: no cover - every QorgauError subclass is in the table (tested)
            status, code, title = 500, "error", "Unexpected error."
        if isinstance(exc, ConfigurationError):
            log.error("configuration error: %s", exc)
        problems: list[dict[str, Any]] = []
        if isinstance(exc, InvalidInput):
            lang = _lang(request)
            for p in exc.problems:
                msg = (
                    p.message
                    if lang == "en"
                    else gettext(lang, RULE_MESSAGES.get(p.rule, p.message))
                )
                problems.append(
                    {"field": p.field, "rule": p.rule, "message": msg, "allowed": list(p.allowed)}
                )
        from qorgau.web.ui.error_pages import error_page, wants_html

        if wants_html(request):
            detail = "; ".join(p["message"] for p in problems) if problems else str(exc)
            page = error_page(request, status, gettext(_lang(request), title), detail, exc)
            if isinstance(exc, TooManyAttempts):
                page.headers["Retry-After"] = str(exc.retry_after)
            return page
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if isinstance(exc, TooManyAttempts):
            headers = {"Retry-After": str(exc.retry_after)}
        return JSONResponse(
            error_body(request, code, title, str(exc), problems), status, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        lang = _lang(request)
        problems = []
        for err in exc.errors():
            rule = str(err.get("type", "invalid"))
            ctx = {
                k: v for k, v in (err.get("ctx") or {}).items() if isinstance(v, int | float | str)
            }
            template = RULE_MESSAGES.get(rule)
            try:
                msg = gettext(lang, template, **ctx) if template else str(err.get("msg"))
            except (KeyError, IndexError):
                msg = str(err.get("msg"))
            allowed = [str(v) for v in (err.get("ctx") or {}).get("expected_values", [])]
            problems.append(
                {
                    "field": _field_from_loc(tuple(err.get("loc", ()))),
                    "rule": rule,
                    "message": msg,
                    "allowed": allowed,
                }
            )
        detail = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        from qorgau.web.ui.error_pages import error_page, wants_html

        if wants_html(request):
            return error_page(request, 422, gettext(lang, "Some fields are not valid."), detail)
        return JSONResponse(
            error_body(request, "invalid_input", "Some fields are not valid.", detail, problems),
            422,
        )

    @app.exception_handler(OverflowError)
    async def out_of_range(request: Request, exc: OverflowError) -> Response:
        """SQLite keeps integers in 64 bits: an identifier, offset or id list beyond that
        cannot match anything, and is the caller's mistake, not a server error."""
        lang = _lang(request)
        message = gettext(lang, RULE_MESSAGES["range"])
        from qorgau.web.ui.error_pages import error_page, wants_html

        if wants_html(request):
            return error_page(request, 422, gettext(lang, "Some fields are not valid."), message)
        problem = {"field": "body", "rule": "range", "message": message, "allowed": []}
        return JSONResponse(
            error_body(request, "invalid_input", "Some fields are not valid.", message, [problem]),
            422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        title = {404: N_("Not found."), 405: N_("This method is not allowed here.")}.get(
            exc.status_code, N_("Request failed.")
        )
        from qorgau.web.ui.error_pages import error_page, wants_html

        if wants_html(request):
            lang = _lang(request)
            return error_page(request, exc.status_code, gettext(lang, title), "")
        return JSONResponse(
            error_body(request, code, title, str(exc.detail), []),
            exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        from qorgau.web.ui.error_pages import error_page, wants_html

        if wants_html(request):
            message = N_(
                "Something went wrong on our side and nothing was changed. Please try again."
            )
            return error_page(request, 500, gettext(_lang(request), message), "")
        return JSONResponse(
            error_body(
                request,
                "internal_error",
                N_("Something went wrong on our side and nothing was changed. Please try again."),
                "internal error",
                [],
            ),
            500,
        )
