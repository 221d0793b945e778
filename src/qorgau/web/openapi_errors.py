"""Document the error answers in the OpenAPI document, with the body they really have.

FastAPI lists only a 422 for each operation, with its own validation-error schema, while
Qorgau answers every error with one shape (``web.errors``: error, title, detail, problems) and
with more statuses (401, 403, 404, 409, 413, 429, 503). A client generated from the document
(and the schemathesis fuzz run, which checks every response against it) would otherwise meet
answers the document does not mention. The set is per kind of operation, not per route: which
of these a given call meets depends on the caller and the stored data, not on the route alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error", "title", "detail", "problems"],
    "properties": {
        "error": {"type": "string", "description": "Machine-readable code, e.g. invalid_input"},
        "title": {"type": "string", "description": "What went wrong, in the caller's language"},
        "detail": {"type": "string"},
        "problems": {
            "type": "array",
            "description": "One entry per field to fix (empty when no field is at fault)",
            "items": {
                "type": "object",
                "required": ["field", "rule", "message", "allowed"],
                "properties": {
                    "field": {"type": "string"},
                    "rule": {"type": "string"},
                    "message": {"type": "string"},
                    "allowed": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}

EVERY_OPERATION = {
    "400": "The request is malformed (e.g. a Content-Length that is not a number)",
    "401": "Credentials are missing, expired or revoked",
    "403": "The caller's role or organisation does not allow this",
    "404": "Nothing with this identifier is visible to the caller",
    "413": "The request body is larger than the limit",
    "422": "Some fields are not valid; `problems` says which and how to fix them",
    "429": "Too many requests from this address or account; try again later",
    "503": "A part the operation needs is not configured or not reachable",
}
CHANGING_OPERATION = {"409": "The request conflicts with the current state"}
CHANGING_METHODS = {"post", "put", "patch", "delete"}


def install(app: FastAPI) -> None:
    """Replace ``app.openapi`` by a generator that adds the documented error answers."""
    original: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = with_error_answers(original())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def with_error_answers(document: dict[str, Any]) -> dict[str, Any]:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/Error"}
    for operations in document.get("paths", {}).values():
        for method, operation in operations.items():
            answers = operation.setdefault("responses", {})
            wanted = dict(EVERY_OPERATION)
            if method in CHANGING_METHODS:
                wanted.update(CHANGING_OPERATION)
            for status, description in wanted.items():
                current = answers.get(status)
                if current is not None and not _is_fastapi_validation(current):
                    continue  # a route that documents its own answer keeps it
                answers[status] = {
                    "description": description,
                    "content": {"application/json": {"schema": ref}},
                }
    if not _mentions(document.get("paths", {}), "HTTPValidationError"):
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
    return document


def _is_fastapi_validation(answer: dict[str, Any]) -> bool:
    return _mentions(answer, "HTTPValidationError")


def _mentions(value: Any, name: str) -> bool:
    if isinstance(value, dict):
        return any(_mentions(v, name) for v in value.values())
    if isinstance(value, list):
        return any(_mentions(v, name) for v in value)
    return isinstance(value, str) and value.endswith(f"/{name}")
