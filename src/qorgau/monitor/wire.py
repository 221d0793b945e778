"""Measurements as JSON and back, losslessly: what a vantage agent signs and uploads.

OONI's format is read (``ooni.py``) but not written: it cannot say which resolver gave which
answer under our names, nor carry our vantage fields, and an agent's signature must cover
exactly what the server will classify. This format is the dataclasses of ``model.py`` as plain
JSON, versioned, with every field checked on the way in so that a malformed upload is refused
with the path of the bad field instead of half-stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields, is_dataclass
from datetime import datetime
from typing import Any

from qorgau.errors import FieldProblem, InvalidInput
from qorgau.monitor.model import (
    Certificate,
    Control,
    DnsQuery,
    HttpResponse,
    Measurement,
    TcpConnect,
    TlsHandshake,
    Vantage,
)

FORMAT = "qorgau-measurement/1"


def to_json(m: Measurement) -> dict[str, Any]:
    """``m`` as a JSON-ready dict (datetimes as ISO 8601, tuples as lists)."""
    out = _plain(m)
    assert isinstance(out, dict)
    out["format"] = FORMAT
    return out


def control_to_json(c: Control) -> dict[str, Any]:
    out = _plain(c)
    assert isinstance(out, dict)
    return out


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def from_json(data: Any, where: str = "measurement") -> Measurement:
    """Parse what :func:`to_json` wrote; raise :class:`InvalidInput` naming each bad field."""
    r = _Reader(where)
    obj = r.mapping(data, where)
    fmt = obj.get("format", FORMAT)
    if fmt != FORMAT:
        raise InvalidInput.single(
            f"{where}.format", "format", f"unknown format {fmt!r}; this server reads {FORMAT}"
        )
    m = Measurement(
        url=r.text(obj, "url", where),
        vantage=_vantage(r, r.mapping(obj.get("vantage", {}), f"{where}.vantage")),
        started_at=r.when(obj, "started_at", where),
        dns=tuple(_dns(r, q, w) for q, w in r.items(obj, "dns", where)),
        tcp=tuple(_tcp(r, c, w) for c, w in r.items(obj, "tcp", where)),
        tls=tuple(_tls(r, h, w) for h, w in r.items(obj, "tls", where)),
        http=tuple(_http(r, h, w) for h, w in r.items(obj, "http", where)),
        control=(
            None if obj.get("control") is None else control_from_json(obj["control"], r, where)
        ),
        duration_ms=r.number(obj, "duration_ms", where),
        source=r.text(obj, "source", where, default="qorgau"),
        source_id=r.opt_text(obj, "source_id", where),
    )
    r.done()
    return m


def control_from_json(data: Any, reader: _Reader | None = None, where: str = "") -> Control:
    r = reader or _Reader(where or "control")
    w = f"{where}.control" if where else "control"
    c = r.mapping(data, w)
    control = Control(
        dns_answers=tuple(r.strings(c, "dns_answers", w)),
        dns_failure=r.opt_text(c, "dns_failure", w),
        tcp=tuple(_tcp(r, x, p) for x, p in r.items(c, "tcp", w)),
        tls=tuple(_tls(r, x, p) for x, p in r.items(c, "tls", w)),
        http=None if c.get("http") is None else _http(r, c["http"], f"{w}.http"),
        failure=r.opt_text(c, "failure", w),
    )
    if reader is None:
        r.done()
    return control


def _vantage(r: _Reader, v: Mapping[str, Any]) -> Vantage:
    w = f"{r.where}.vantage"
    return Vantage(
        agent_id=r.opt_text(v, "agent_id", w),
        country=r.opt_text(v, "country", w),
        asn=r.opt_text(v, "asn", w),
        network_name=r.opt_text(v, "network_name", w),
        is_control=bool(v.get("is_control", False)),
    )


def _dns(r: _Reader, q: Any, w: str) -> DnsQuery:
    q = r.mapping(q, w)
    return DnsQuery(
        hostname=r.text(q, "hostname", w),
        resolver=r.text(q, "resolver", w),
        answers=tuple(r.strings(q, "answers", w)),
        cnames=tuple(r.strings(q, "cnames", w)),
        failure=r.opt_text(q, "failure", w),
        duration_ms=r.number(q, "duration_ms", w),
    )


def _tcp(r: _Reader, c: Any, w: str) -> TcpConnect:
    c = r.mapping(c, w)
    return TcpConnect(
        ip=r.text(c, "ip", w),
        port=r.port(c, w),
        ok=r.flag(c, "ok", w),
        failure=r.opt_text(c, "failure", w),
        duration_ms=r.number(c, "duration_ms", w),
    )


def _tls(r: _Reader, h: Any, w: str) -> TlsHandshake:
    h = r.mapping(h, w)
    return TlsHandshake(
        ip=r.opt_text(h, "ip", w),
        port=r.port(h, w),
        sni=r.text(h, "sni", w),
        ok=r.flag(h, "ok", w),
        failure=r.opt_text(h, "failure", w),
        version=r.opt_text(h, "version", w),
        cipher=r.opt_text(h, "cipher", w),
        chain=tuple(_cert(r, c, p) for c, p in r.items(h, "chain", w)),
        duration_ms=r.number(h, "duration_ms", w),
    )


def _cert(r: _Reader, c: Any, w: str) -> Certificate:
    c = r.mapping(c, w)
    return Certificate(
        sha256=r.text(c, "sha256", w),
        subject=r.text(c, "subject", w, default=""),
        issuer=r.text(c, "issuer", w, default=""),
        not_before=r.opt_when(c, "not_before", w),
        not_after=r.opt_when(c, "not_after", w),
        san=tuple(r.strings(c, "san", w)),
    )


def _http(r: _Reader, h: Any, w: str) -> HttpResponse:
    h = r.mapping(h, w)
    headers = []
    for pair, p in r.items(h, "headers", w):
        if (
            not isinstance(pair, Sequence)
            or isinstance(pair, str)
            or len(pair) != 2
            or not all(isinstance(x, str) for x in pair)
        ):
            r.problem(p, "header", "each header is a [name, value] pair of strings")
            continue
        headers.append((pair[0], pair[1]))
    status = h.get("status")
    if status is not None and (not isinstance(status, int) or isinstance(status, bool)):
        r.problem(f"{w}.status", "integer", "the HTTP status must be an integer or null")
        status = None
    length = h.get("body_length")
    if length is not None and (not isinstance(length, int) or isinstance(length, bool)):
        r.problem(f"{w}.body_length", "integer", "body_length must be an integer or null")
        length = None
    return HttpResponse(
        url=r.text(h, "url", w),
        status=status,
        headers=tuple(headers),
        title=r.opt_text(h, "title", w),
        body_length=length,
        body_sha256=r.opt_text(h, "body_sha256", w),
        body_sample=r.opt_text(h, "body_sample", w),
        body_truncated=bool(h.get("body_truncated", False)),
        failure=r.opt_text(h, "failure", w),
        duration_ms=r.number(h, "duration_ms", w),
    )


class _Reader:
    """Collects every problem of one document, so a bad upload is answered once, in full."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.problems: list[FieldProblem] = []

    def problem(self, field: str, rule: str, message: str) -> None:
        self.problems.append(FieldProblem(field, rule, message))

    def done(self) -> None:
        if self.problems:
            raise InvalidInput(self.problems)

    def mapping(self, value: Any, w: str) -> Mapping[str, Any]:
        if isinstance(value, Mapping):
            return value
        self.problem(w, "object", f"expected a JSON object, got {type(value).__name__}")
        return {}

    def items(self, obj: Mapping[str, Any], key: str, w: str) -> list[tuple[Any, str]]:
        value = obj.get(key) or []
        if not isinstance(value, list):
            self.problem(f"{w}.{key}", "list", "expected a JSON array")
            return []
        return [(v, f"{w}.{key}[{i}]") for i, v in enumerate(value)]

    def strings(self, obj: Mapping[str, Any], key: str, w: str) -> list[str]:
        out = []
        for v, p in self.items(obj, key, w):
            if isinstance(v, str):
                out.append(v)
            else:
                self.problem(p, "string", "expected a string")
        return out

    def text(self, obj: Mapping[str, Any], key: str, w: str, default: str | None = None) -> str:
        value = obj.get(key, default)
        if isinstance(value, str):
            return value
        self.problem(f"{w}.{key}", "required" if value is None else "string", "a string is needed")
        return ""

    def opt_text(self, obj: Mapping[str, Any], key: str, w: str) -> str | None:
        value = obj.get(key)
        if value is None or isinstance(value, str):
            return value
        self.problem(f"{w}.{key}", "string", "expected a string or null")
        return None

    def number(self, obj: Mapping[str, Any], key: str, w: str) -> float | None:
        value = obj.get(key)
        if value is None:
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        self.problem(f"{w}.{key}", "number", "expected a number or null")
        return None

    def flag(self, obj: Mapping[str, Any], key: str, w: str) -> bool:
        value = obj.get(key)
        if isinstance(value, bool):
            return value
        self.problem(f"{w}.{key}", "boolean", "expected true or false")
        return False

    def port(self, obj: Mapping[str, Any], w: str) -> int:
        value = obj.get("port")
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536:
            return value
        self.problem(f"{w}.port", "port", "expected a port number between 1 and 65535")
        return 0

    def when(self, obj: Mapping[str, Any], key: str, w: str) -> datetime:
        value = self.opt_when(obj, key, w)
        if value is None:
            if key not in obj:
                self.problem(f"{w}.{key}", "required", "a time in ISO 8601 is needed")
            return datetime.min
        return value

    def opt_when(self, obj: Mapping[str, Any], key: str, w: str) -> datetime | None:
        value = obj.get(key)
        if value is None:
            return None
        try:
            when = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            when = None
        if when is None or when.tzinfo is None:
            self.problem(f"{w}.{key}", "datetime", "expected an ISO 8601 time with its UTC offset")
            return None
        return when
