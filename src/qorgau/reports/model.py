"""What reports and partner exchanges are made of, free of SQL, HTTP and file formats.

The store fills these records; the STIX, MISP, public-data and report modules only read them.
Keeping one shape for "an incident as it may leave the organisation" is what lets every export
apply the same rules on names and TLP before any format sees the data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from qorgau.domain.tlp import Tlp

__all__ = [
    "Indicator",
    "IndicatorKind",
    "PublicCandidate",
    "SharedIncident",
    "SharedTarget",
    "SharingBundle",
    "Tlp",
    "indicator_key",
]


class IndicatorKind(StrEnum):
    """Observable things an attack leaves behind that a CERT or NGO can look for."""

    DOMAIN = "domain"
    URL = "url"
    IPV4 = "ipv4"
    IPV6 = "ipv6"
    EMAIL = "email"
    # ``value`` is "platform:handle" (e.g. "telegram:orda_kz_news"), lower-cased.
    ACCOUNT = "account"
    SHA256 = "sha256"
    MD5 = "md5"
    SHA1 = "sha1"
    # Perceptual hash of a fake picture or video frame (hex), for near-copies.
    PHASH = "phash"
    PDQ = "pdq"


@dataclass(frozen=True)
class Indicator:
    kind: IndicatorKind
    value: str
    first_seen: datetime
    last_seen: datetime
    tlp: Tlp
    description: str = ""
    # Stable across exports so that partners deduplicate: a UUID string, without prefix.
    uuid: str = ""
    # Organisation that first reported it ("" for our own).
    source: str = ""


@dataclass(frozen=True)
class SharedTarget:
    """A target as it may leave the organisation: people appear only with their consent."""

    kind: str
    # ``None`` when the target may not be named (a person who did not consent).
    name: str | None
    role: str | None = None


@dataclass(frozen=True)
class SharedIncident:
    public_id: str
    uuid: str
    title: str
    summary: str
    started_at: datetime | None
    reported_at: datetime
    updated_at: datetime
    attack_types: tuple[str, ...]
    category: str
    platform: str | None
    region: str | None
    perpetrator_type: str
    severity: str
    status: str
    legal_outcome: str
    tlp: Tlp
    targets: tuple[SharedTarget, ...] = ()
    source_urls: tuple[str, ...] = ()
    disarm_techniques: tuple[str, ...] = ()
    # Keys ``kind:value`` of the indicators in the same bundle that this incident involves.
    indicator_keys: tuple[str, ...] = ()
    source: str = ""


@dataclass(frozen=True)
class SharingBundle:
    """Everything one export carries, already filtered by TLP and consent."""

    organisation: str
    produced_at: datetime
    incidents: tuple[SharedIncident, ...] = ()
    indicators: tuple[Indicator, ...] = ()


def indicator_key(kind: IndicatorKind | str, value: str) -> str:
    return f"{kind}:{value}"


@dataclass(frozen=True)
class PublicCandidate:
    """One incident before pseudonymisation for the public dataset.

    Only coarse, categorical facts: no text, no identifiers. ``named_targets`` holds names that
    may be published (outlets, people who consented); ``protected_person`` says whether the
    incident concerns a person who did not consent to be named, the people k-anonymity is for.
    """

    month: str  # "2025-03"
    category: str
    attack_types: tuple[str, ...]
    region: str | None
    platform: str | None
    target_types: tuple[str, ...]
    gender: str | None
    perpetrator_type: str
    legal_outcome: str
    severity: str
    protected_person: bool
    named_targets: tuple[str, ...] = field(default_factory=tuple)
