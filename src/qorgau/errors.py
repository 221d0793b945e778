"""Typed domain errors.

The domain and store layers raise these; the web layer maps each class to one HTTP status in a
single table (``qorgau.web.errors``) and the CLI prints them as one line. Keeping the hierarchy
here, free of HTTP, is what lets the CLI, workers and the API share the same rules.

    QorgauError
    ├── InvalidInput            a field breaks a rule (422 / CLI one-liner)
    ├── NotFound                the thing does not exist or is invisible to the caller (404)
    ├── Conflict                the request contradicts stored state (409)
    ├── PermissionDenied        authenticated but not allowed (403)
    ├── AuthenticationRequired  no or bad credentials (401)
    ├── TooManyAttempts         too many sign-ins or reports from one place; retry later (429)
    └── ConfigurationError      the installation itself is unusable (keys, database URL)
"""

from __future__ import annotations

from dataclasses import dataclass


class QorgauError(Exception):
    """Base of every error a user may see; its message is safe to show."""


@dataclass(frozen=True)
class FieldProblem:
    """One broken rule on one field: what a client needs to fix its request."""

    field: str
    rule: str
    message: str
    allowed: tuple[str, ...] = ()


class InvalidInput(QorgauError):
    def __init__(self, problems: list[FieldProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))

    @classmethod
    def single(
        cls, field_name: str, rule: str, message: str, allowed: tuple[str, ...] = ()
    ) -> InvalidInput:
        return cls([FieldProblem(field_name, rule, message, allowed)])


class NotFound(QorgauError):
    pass


class Conflict(QorgauError):
    pass


class PermissionDenied(QorgauError):
    pass


class AuthenticationRequired(QorgauError):
    pass


class ConfigurationError(QorgauError):
    pass


class TooManyAttempts(QorgauError):
    """Refused for now, not for good: ``retry_after`` seconds later the same request may pass
    (sign-in lockouts and per-address rate limits)."""

    def __init__(self, message: str, retry_after: int = 60) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))
