"""Organisation-wide alert channels: webhooks that receive case events.

A webhook lets a newsroom's own tools (a chat room, a ticketing system, a partner CERT) hear of
new cases and breaches without polling. Each has a secret used to sign every delivery (HMAC) so
the receiver can tell Qorgau's calls from forgeries. Personal channels (a responder's e-mail or
Telegram) belong to the user, not here.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from qorgau.response.documents import Strict, parse

EVENTS = (
    "incident.new",
    "incident.breached",
    "incident.assigned",
    "incident.flood",
    "statement.approved",
)


class Webhook(Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    url: str
    secret: str = Field(min_length=16)
    events: tuple[str, ...] = EVENTS
    min_severity: str = "low"

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{v!r} is not an http(s) address with a host")
        return v

    @field_validator("events")
    @classmethod
    def _events(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [e for e in v if e not in EVENTS]
        if bad:
            raise ValueError(f"unknown event {bad[0]!r}; use {', '.join(EVENTS)}")
        return v

    @field_validator("min_severity")
    @classmethod
    def _severity(cls, v: str) -> str:
        if v not in ("low", "medium", "high", "critical"):
            raise ValueError("min_severity is one of low, medium, high, critical")
        return v


class OrgChannels(Strict):
    webhook: tuple[Webhook, ...] = ()


def parse_org_channels(data: dict[str, Any]) -> OrgChannels:
    doc = parse(OrgChannels, data)
    names = [w.name for w in doc.webhook]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        from qorgau.errors import InvalidInput

        raise InvalidInput.single(
            "webhook", "unique", f"repeated webhook names: {', '.join(dupes)}"
        )
    return doc
