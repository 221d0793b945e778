"""Indicators of attack: checking what staff or partners enter, and harvesting detector findings.

A value is stored in one canonical form (lower-case domain, compressed IPv6, lower-case hex) so
the same domain reported by us and two partners is one indicator, not three.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from qorgau.errors import InvalidInput
from qorgau.reports.model import IndicatorKind

_HEX = {
    IndicatorKind.SHA256: 64,
    IndicatorKind.SHA1: 40,
    IndicatorKind.MD5: 32,
    IndicatorKind.PDQ: 64,
    IndicatorKind.PHASH: 16,
}
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_HANDLE = re.compile(r"^[a-z0-9_.\-]{1,100}$")
_PLATFORM = re.compile(r"^[a-z0-9_]{1,40}$")
MAX_VALUE = 2048


def _bad(kind: IndicatorKind, value: str, what: str) -> InvalidInput:
    return InvalidInput.single("value", f"indicator:{kind}", f"{value[:80]!r} is not {what}")


def _domain(value: str) -> str:
    v = value.strip().rstrip(".").lower()
    try:
        v = v.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise _bad(IndicatorKind.DOMAIN, value, "a domain name") from exc
    labels = v.split(".")
    if len(labels) < 2 or not all(_LABEL.match(p) for p in labels):
        raise _bad(IndicatorKind.DOMAIN, value, "a domain name such as orda-kz.com")
    return v


def normalize_indicator(kind: IndicatorKind | str, value: str) -> tuple[IndicatorKind, str]:
    """The canonical form, or an error that says what a valid value looks like."""
    try:
        k = IndicatorKind(kind)
    except ValueError:
        allowed = tuple(str(x) for x in IndicatorKind)
        raise InvalidInput.single(
            "kind", "choice", f"unknown indicator kind {kind!r}; use one of {', '.join(allowed)}"
        ) from None
    v = value.strip()
    if not v or len(v) > MAX_VALUE:
        raise InvalidInput.single("value", "length", f"give a value of 1 to {MAX_VALUE} characters")
    if k is IndicatorKind.DOMAIN:
        return k, _domain(v)
    if k is IndicatorKind.URL:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _bad(k, v, "an http(s) URL")
        return k, parts._replace(netloc=parts.netloc.lower()).geturl()
    if k in (IndicatorKind.IPV4, IndicatorKind.IPV6):
        try:
            ip = ipaddress.ip_address(v)
        except ValueError as exc:
            raise _bad(k, v, "an IP address") from exc
        if (ip.version == 4) != (k is IndicatorKind.IPV4):
            raise _bad(k, v, f"an IPv{4 if k is IndicatorKind.IPV4 else 6} address")
        return k, ip.compressed
    if k is IndicatorKind.EMAIL:
        local, at, host = v.rpartition("@")
        if not at or not local:
            raise _bad(k, v, "an e-mail address")
        return k, f"{local.lower()}@{_domain(host)}"
    if k is IndicatorKind.ACCOUNT:
        platform, sep, handle = v.lower().partition(":")
        handle = handle.strip().lstrip("@")
        if not sep or not _PLATFORM.match(platform) or not _HANDLE.match(handle):
            raise _bad(k, v, "an account written platform:handle, e.g. telegram:orda_news")
        return k, f"{platform}:{handle}"
    hexv = v.lower().removeprefix(f"{k}:")
    if not re.fullmatch(rf"[0-9a-f]{{{_HEX[k]}}}", hexv):
        raise _bad(k, v, f"a {_HEX[k]}-digit hexadecimal {k} hash")
    return k, hexv


def from_finding(detector: str, details: Mapping[str, Any]) -> list[tuple[IndicatorKind, str]]:
    """Indicators a detector's finding names: look-alike domains and accounts, the accounts of a
    co-sharing ring, the hashes of a known fake picture. Anything malformed is left out: the
    finding stays the evidence, the indicator list is a convenience for partners."""
    found: list[tuple[IndicatorKind, str]] = []

    def add(kind: IndicatorKind, value: str) -> None:
        try:
            found.append(normalize_indicator(kind, value))
        except InvalidInput:
            return

    if detector == "lookalike_accounts":
        observed = str(details.get("lookalike", ""))
        if details.get("kind") == "domain":
            add(IndicatorKind.DOMAIN, observed)
        elif details.get("platform"):
            add(IndicatorKind.ACCOUNT, f"{details['platform']}:{observed}")
    elif detector == "co_sharing":
        platform = str(details.get("platform", ""))
        for account in details.get("accounts", []) or []:
            add(IndicatorKind.ACCOUNT, f"{platform}:{account}")
    elif detector == "image_fakes":
        known = details.get("known") or {}
        if known.get("label") == "fake":
            for h in known.get("hashes", []) or []:
                algorithm, _, hexv = str(h).partition(":")
                if algorithm in ("phash", "pdq"):
                    add(IndicatorKind(algorithm), hexv)
    return list(dict.fromkeys(found))
