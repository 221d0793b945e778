"""Known signs of blocking: DNS answers, blockpages and interception certificates.

A fingerprint turns "this looks different from the control" into "this is the censor's page":
the difference between a suspicion and evidence a journalist can cite. Fingerprints are data,
not code, because they change as ISPs change equipment, and because each must carry the public
source that documents it.

Two formats are read:

* our TOML (``data/blockpages-kz.toml`` ships a small Kazakhstan seed), with ``[[dns]]``,
  ``[[http]]`` and ``[[certificate]]`` tables; a schema error is refused with the exact field;
* OONI's ``fingerprints_dns.csv`` / ``fingerprints_http.csv`` from
  github.com/ooni/blocking-fingerprints, read from a path given at run time. That repository
  states no licence, so Qorgau does not ship a copy: an installation points at its own.

Matching follows OONI's semantics (``full``, ``prefix``, ``contains``, ``regexp`` = search
anywhere) so that a fingerprint means the same thing here as in OONI's pipeline. Fingerprints
OONI marks with scope ``fp`` describe known *false* positives (a CDN's CAPTCHA page, say); they
are loaded but never reported as blocking.
"""

from __future__ import annotations

import csv
import functools
import ipaddress
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from qorgau.errors import FieldProblem, InvalidInput
from qorgau.monitor.model import Certificate, HttpResponse

Kind = Literal["dns", "http", "certificate"]
PATTERN_TYPES = ("full", "prefix", "contains", "regexp")
HTTP_LOCATIONS = ("body", "title", "status", "header.<name>")
CERT_FIELDS = ("issuer", "subject", "san", "sha256")
FALSE_POSITIVE_SCOPE = "fp"
DEFAULT_FILE = "blockpages-kz.toml"
SCHEMA_VERSION = 1

_OONI_COLUMNS = ("name", "scope", "location_found", "pattern_type", "pattern")


@dataclass(frozen=True)
class Fingerprint:
    """One sign of blocking and where it is documented."""

    name: str
    kind: Kind
    location: str  # dns | body | title | status | header.<name> | issuer | subject | san | sha256
    pattern_type: str  # full | prefix | contains | regexp
    pattern: str
    scope: str = ""  # OONI's: nat, isp, prod, inst, vbw, fp (known false positive)
    countries: tuple[str, ...] = ()
    source: str = ""
    note: str = ""

    def matches(self, value: str) -> bool:
        if self.pattern_type == "full":
            return value == self.pattern
        if self.pattern_type == "prefix":
            return value.startswith(self.pattern)
        if self.pattern_type == "contains":
            return self.pattern in value
        return _compiled(self.pattern).search(value) is not None

    def describe(self) -> str:
        """A reader's description: the note, or else the name, with the countries it is seen in."""
        text = self.note or self.name
        where = f" (seen in {', '.join(self.countries)})" if self.countries else ""
        return f"{text}{where}"


class Fingerprints:
    """A set of fingerprints with one matcher per layer; ``+`` merges two sets."""

    def __init__(self, items: Iterable[Fingerprint] = ()) -> None:
        self._items = tuple(items)
        self._by_name = {fp.name: fp for fp in self._items}
        self.dns = tuple(fp for fp in self._items if fp.kind == "dns")
        self.http = tuple(fp for fp in self._items if fp.kind == "http")
        self.certificate = tuple(fp for fp in self._items if fp.kind == "certificate")
        # DNS fingerprints are exact answers: a dict lookup, whatever the list's length.
        self._dns_exact = {_norm_answer(fp.pattern): fp.name for fp in self.dns}

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Fingerprint]:
        return iter(self._items)

    def __add__(self, other: Fingerprints) -> Fingerprints:
        return Fingerprints((*self._items, *other._items))

    def get(self, name: str) -> Fingerprint | None:
        return self._by_name.get(name)

    def match_dns(self, answer: str) -> str | None:
        """The fingerprint naming ``answer`` (an address or a CNAME target) as a blocking answer."""
        return self._dns_exact.get(_norm_answer(answer))

    def match_http(self, response: HttpResponse) -> str | None:
        """The first blockpage fingerprint the response matches (never a known false positive)."""
        headers: dict[str, list[str]] = {}
        for name, value in response.headers:
            headers.setdefault(name.lower(), []).append(value)
        for fp in self.http:
            if fp.scope == FALSE_POSITIVE_SCOPE:
                continue
            if any(fp.matches(v) for v in _http_values(fp.location, response, headers)):
                return fp.name
        return None

    def match_false_positive(self, response: HttpResponse) -> str | None:
        """A known false positive the response matches (a CDN challenge page, say), if any."""
        headers: dict[str, list[str]] = {}
        for name, value in response.headers:
            headers.setdefault(name.lower(), []).append(value)
        for fp in self.http:
            if fp.scope != FALSE_POSITIVE_SCOPE:
                continue
            if any(fp.matches(v) for v in _http_values(fp.location, response, headers)):
                return fp.name
        return None

    def match_certificate(self, cert: Certificate) -> str | None:
        """The fingerprint naming ``cert`` as issued by (or being) a known interception CA."""
        for fp in self.certificate:
            if fp.location == "san":
                values: tuple[str, ...] = cert.san
            elif fp.location == "sha256":
                values = (cert.sha256.lower(),)
            else:
                values = (cert.issuer if fp.location == "issuer" else cert.subject,)
            if any(fp.matches(v) for v in values):
                return fp.name
        return None


def _http_values(
    location: str, response: HttpResponse, headers: Mapping[str, list[str]]
) -> tuple[str, ...]:
    if location == "body":
        return (response.body_sample,) if response.body_sample else ()
    if location == "title":
        return (response.title,) if response.title else ()
    if location == "status":
        return (str(response.status),) if response.status is not None else ()
    return tuple(headers.get(location.removeprefix("header."), ()))


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    """Patterns were compiled once when loaded (to report errors); this reuses them."""
    return re.compile(pattern)


def _norm_answer(answer: str) -> str:
    text = answer.strip().rstrip(".").lower()
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text


# ---------------------------------------------------------------------------------------------
# our TOML


def load_default() -> Fingerprints:
    """The Kazakhstan seed shipped with Qorgau."""
    text = (
        resources.files("qorgau.monitor").joinpath("data").joinpath(DEFAULT_FILE).read_text("utf-8")
    )
    return parse_toml(text, origin=DEFAULT_FILE)


def load_toml(path: str | Path) -> Fingerprints:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput.single(str(p), "unreadable", f"{p}: {exc.strerror}") from None
    return parse_toml(text, origin=str(p))


def parse_toml(text: str, *, origin: str = "<toml>") -> Fingerprints:
    """Parse our TOML format; every schema error is reported with its exact field."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput.single(origin, "toml", f"{origin}: not valid TOML: {exc}") from None
    problems: list[FieldProblem] = []
    allowed_top = {"schema_version", "dns", "http", "certificate"}
    for key in doc:
        if key not in allowed_top:
            problems.append(
                FieldProblem(key, "unknown", f"unknown section {key!r}", tuple(sorted(allowed_top)))
            )
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        problems.append(
            FieldProblem(
                "schema_version",
                "version",
                f"expected schema_version = {SCHEMA_VERSION}, got {version!r}",
                (str(SCHEMA_VERSION),),
            )
        )
    items: list[Fingerprint] = []
    for section in ("dns", "http", "certificate"):
        entries = doc.get(section, [])
        if not isinstance(entries, list):
            problems.append(FieldProblem(section, "type", f"use [[{section}]] tables"))
            continue
        for i, entry in enumerate(entries):
            fp = _toml_entry(section, i, entry, problems)
            if fp is not None:
                items.append(fp)
    seen: set[str] = set()
    for fp in items:
        if fp.name in seen:
            problems.append(FieldProblem(f"{fp.kind}.name", "duplicate", f"{fp.name!r} twice"))
        seen.add(fp.name)
    if problems:
        raise InvalidInput(
            [FieldProblem(p.field, p.rule, f"{origin}: {p.message}", p.allowed) for p in problems]
        )
    return Fingerprints(items)


_COMMON_KEYS = {"name", "countries", "source", "note", "scope"}
_SECTION_KEYS: dict[str, set[str]] = {
    "dns": _COMMON_KEYS | {"answer"},
    "http": _COMMON_KEYS | {"location", "match", "pattern"},
    "certificate": _COMMON_KEYS | {"field", "match", "pattern"},
}


def _toml_entry(
    section: str, index: int, entry: Any, problems: list[FieldProblem]
) -> Fingerprint | None:
    at = f"{section}[{index}]"
    if not isinstance(entry, dict):
        problems.append(FieldProblem(at, "type", "expected a table"))
        return None
    before = len(problems)
    for key in entry:
        if key not in _SECTION_KEYS[section]:
            problems.append(
                FieldProblem(
                    f"{at}.{key}",
                    "unknown",
                    f"unknown key {key!r}",
                    tuple(sorted(_SECTION_KEYS[section])),
                )
            )

    def text(key: str, required: bool = True) -> str:
        value = entry.get(key)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            problems.append(FieldProblem(f"{at}.{key}", "required", "must be a non-empty string"))
            return ""
        return value

    name = text("name")
    source = text("source")  # every fingerprint must say where it is documented
    note = text("note", required=False)
    scope = text("scope", required=False)
    countries_raw = entry.get("countries", [])
    countries: tuple[str, ...] = ()
    if not isinstance(countries_raw, list) or not all(
        isinstance(c, str) and re.fullmatch(r"[A-Z]{2}", c) for c in countries_raw
    ):
        problems.append(
            FieldProblem(f"{at}.countries", "format", "must be a list of ISO codes like 'KZ'")
        )
    else:
        countries = tuple(countries_raw)

    if section == "dns":
        answer = text("answer")
        kind: Kind = "dns"
        location, pattern_type, pattern = "dns", "full", _norm_answer(answer) if answer else ""
    else:
        kind = "http" if section == "http" else "certificate"
        loc_key = "location" if section == "http" else "field"
        location = text(loc_key)
        if section == "http" and location and not _valid_http_location(location):
            problems.append(
                FieldProblem(
                    f"{at}.location", "allowed", f"unknown location {location!r}", HTTP_LOCATIONS
                )
            )
        if section == "certificate" and location and location not in CERT_FIELDS:
            problems.append(
                FieldProblem(f"{at}.field", "allowed", f"unknown field {location!r}", CERT_FIELDS)
            )
        pattern_type = text("match")
        if pattern_type and pattern_type not in PATTERN_TYPES:
            problems.append(
                FieldProblem(
                    f"{at}.match", "allowed", f"unknown match {pattern_type!r}", PATTERN_TYPES
                )
            )
        pattern = text("pattern")
        if section == "certificate" and location == "sha256":
            pattern = pattern.lower().replace(":", "")
    if pattern_type == "regexp" and pattern:
        try:
            _compiled(pattern)
        except re.error as exc:
            problems.append(FieldProblem(f"{at}.pattern", "regexp", f"not a valid regexp: {exc}"))
    if len(problems) > before:
        return None
    return Fingerprint(
        name=name,
        kind=kind,
        location=location.lower() if kind == "http" else location,
        pattern_type=pattern_type,
        pattern=pattern,
        scope=scope,
        countries=countries,
        source=source,
        note=note,
    )


def _valid_http_location(location: str) -> bool:
    return location in ("body", "title", "status") or (
        location.lower().startswith("header.") and len(location) > len("header.")
    )


# ---------------------------------------------------------------------------------------------
# OONI's CSV


def load_ooni_csv(path: str | Path) -> Fingerprints:
    """Read OONI's ``fingerprints_dns.csv`` or ``fingerprints_http.csv`` (either, by content).

    A row OONI's own matcher could not use (unknown location or pattern type, a regexp that does
    not compile) is refused with its line number rather than skipped, so that an installation
    learns its copy is damaged instead of silently matching less.
    """
    p = Path(path)
    try:
        handle = p.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise InvalidInput.single(str(p), "unreadable", f"{p}: {exc.strerror}") from None
    items: list[Fingerprint] = []
    problems: list[FieldProblem] = []
    with handle:
        reader = csv.DictReader(handle)
        missing = [c for c in _OONI_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise InvalidInput.single(
                f"{p}:1",
                "columns",
                f"{p}: not an OONI fingerprints CSV, missing columns {', '.join(missing)}",
                _OONI_COLUMNS,
            )
        for row in reader:
            line = reader.line_num
            fp = _ooni_row(row, f"{p}:{line}", problems)
            if fp is not None:
                items.append(fp)
    if problems:
        raise InvalidInput(problems)
    return Fingerprints(items)


def _ooni_row(
    row: Mapping[str, str | None], at: str, problems: list[FieldProblem]
) -> Fingerprint | None:
    name = (row.get("name") or "").strip()
    location = (row.get("location_found") or "").strip().lower()
    pattern_type = (row.get("pattern_type") or "").strip()
    pattern = row.get("pattern") or ""
    if not name or not pattern:
        problems.append(FieldProblem(at, "required", f"{at}: name and pattern are required"))
        return None
    if pattern_type not in PATTERN_TYPES:
        problems.append(
            FieldProblem(f"{at}.pattern_type", "allowed", f"{at}: {pattern_type!r}", PATTERN_TYPES)
        )
        return None
    kind: Kind
    if location == "dns":
        kind = "dns"
        pattern = _norm_answer(pattern)
    elif location == "body" or location.startswith("header."):
        kind = "http"
    else:
        problems.append(
            FieldProblem(
                f"{at}.location_found",
                "allowed",
                f"{at}: unknown location {location!r}",
                ("dns", "body", "header.<name>"),
            )
        )
        return None
    if pattern_type == "regexp":
        try:
            _compiled(pattern)
        except re.error as exc:
            problems.append(FieldProblem(f"{at}.pattern", "regexp", f"{at}: bad regexp: {exc}"))
            return None
    countries = tuple(
        c.strip().upper() for c in (row.get("expected_countries") or "").split(",") if c.strip()
    )
    source = (row.get("source") or "").strip()
    example = (row.get("exp_url") or "").strip()
    return Fingerprint(
        name=name,
        kind=kind,
        location=location,
        pattern_type=pattern_type,
        pattern=pattern,
        scope=(row.get("scope") or "").strip(),
        countries=countries,
        source="ooni/blocking-fingerprints"
        + (f" ({source})" if source else "")
        + (f"; example {example}" if example else ""),
        note=(row.get("notes") or "").strip(),
    )
