"""What detectors read and what they report.

An observation is one thing seen somewhere (a post, an ad, a call, a text message, an e-mail),
already normalised so that every detector reads the same fields whatever the export format.
A finding is what a detector concludes, naming the observations behind it so a responder (or a
court) can check the conclusion against the material itself."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# What an observation is: detectors such as the flood detector count by channel.
KINDS = ("post", "message", "comment", "ad", "call", "sms", "email", "mention")


@dataclass(frozen=True)
class Observation:
    """One normalised observation.

    ``id`` is stable across re-imports: ``<source>:<the item's own id in that source>``, so the
    same export imported twice, or an API batch retried, is stored once. ``account`` is who
    posted or called (a handle, a phone number in E.164); ``recipients`` whom it was sent to or
    called (for calls, SMS and direct messages), so floods can be counted per person."""

    id: str
    source: str
    platform: str
    time: datetime
    kind: str = "post"
    account: str = ""
    text: str = ""
    lang: str | None = None
    urls: tuple[str, ...] = ()
    media_hashes: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()  # E.164, extracted from the text
    emails: tuple[str, ...] = ()  # lower-cased, extracted from the text
    recipients: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "source": self.source,
            "platform": self.platform,
            "time": self.time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "kind": self.kind,
            "account": self.account,
            "text": self.text,
            "lang": self.lang,
            "urls": list(self.urls),
            "media_hashes": list(self.media_hashes),
            "phones": list(self.phones),
            "emails": list(self.emails),
            "recipients": list(self.recipients),
        }
        if self.extra:
            out["extra"] = dict(self.extra)
        return out


@dataclass(frozen=True)
class Finding:
    """A detector's conclusion.

    ``key`` identifies the campaign the finding belongs to, so that the ad seen at 18:00 and the
    forty seen after it grow one incident instead of opening forty. ``subjects`` are the
    protected people (watchlist names) it concerns; ``attack_type`` is a taxonomy id."""

    detector: str
    key: str
    title: str
    explanation: str
    attack_type: str
    observation_ids: tuple[str, ...]
    subjects: tuple[str, ...] = ()
    severity: str | None = None  # low | medium | high | critical; None lets triage decide
    at: datetime | None = None  # when it happened (e.g. a flood's onset)
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "detector": self.detector,
            "key": self.key,
            "title": self.title,
            "explanation": self.explanation,
            "attack_type": self.attack_type,
            "severity": self.severity,
            "at": None if self.at is None else self.at.astimezone(UTC).isoformat(),
            "subjects": list(self.subjects),
            "observation_ids": list(self.observation_ids),
            "details": dict(self.details),
        }


@dataclass(frozen=True)
class DetectorFailure:
    """A detector that broke on one observation: kept as data, the batch goes on."""

    detector: str
    observation_id: str
    error: str


@dataclass(frozen=True)
class BatchResult:
    findings: tuple[Finding, ...] = ()
    failures: tuple[DetectorFailure, ...] = ()
