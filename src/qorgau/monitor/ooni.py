"""Read OONI Web Connectivity measurements into the monitor's own ``Measurement``.

Public OONI data is the largest body of evidence about blocking in Kazakhstan, and the desk must
be able to put an OONI measurement next to its own probes' and classify both with the same code.
This module is the only place that knows OONI's archival format; everything downstream sees
``qorgau.monitor.model``.

Accepted input, one file at a time:

* one measurement as a JSON object (what OONI Explorer's "download JSON" gives), or a JSON array
  of them;
* JSON Lines, one measurement a line (OONI's S3 archive and API dumps) — a broken line is
  reported with its number and the other lines are still read;
* the ``.jsonc`` variant used in OONI's probe-cli test data: only ``test_keys``, with ``//``
  comment lines; the time and country then come from the OONI measurement id in the file name.

Test versions 0.4.x (classic) and 0.5.x (LTE) have the same keys for what we use; the older
0.0.1-0.3.x of MK and the Python ooniprobe are read with the same code, since real archives
still hold them.

Two OONI habits are undone here so that the classifier need not know them: ``requests`` lists
the redirect chain newest first (we store it oldest first, final hop last), and when a fetch
fails before any response (a TLS reset, or a refused connection after a redirect) OONI records the
failure only in ``test_keys.http_experiment_failure`` — we add that failed hop to the chain.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import json
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from cryptography import x509

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

# Enough for any blockpage (they are a few KiB) and for the title of a normal page, without
# carrying megabytes of video-site HTML into every verdict.
BODY_SAMPLE_CHARS = 64 * 1024

# 20230706183840.201925_PK_webconnectivity_19f5e0d803cbaea7 (OONI's measurement uid)
_OONI_UID = re.compile(r"^(\d{14})(?:\.\d+)?_([A-Z]{2})_([a-z_]+)_[0-9a-f]+")
_TITLE = re.compile(r"<title[^>]*>([^<]{1,256})</title>", re.IGNORECASE)
_TEST_KEYS_ONLY_MARKERS = ("queries", "tcp_connect", "requests", "control", "tls_handshakes")


@dataclass(frozen=True)
class OoniRecord:
    """One measurement as read: where it came from, the raw JSON, and our model of it."""

    path: Path
    line: int  # 1-based line where the measurement starts (1-based index in a JSON array)
    raw: Mapping[str, Any]
    measurement: Measurement


def parse_file(path: str | Path) -> tuple[list[Measurement], list[InvalidInput]]:
    """Every measurement of ``path`` that could be read, and one problem per one that could not.

    A file that cannot be read at all (missing, not UTF-8, not JSON) gives no measurement and a
    single problem; a JSON Lines file with one broken line still gives all the other lines.
    """
    records, problems = parse_records(path)
    return [r.measurement for r in records], problems


def parse_records(path: str | Path) -> tuple[list[OoniRecord], list[InvalidInput]]:
    """Like ``parse_file`` but keeping the raw JSON (for ``ooni_verdict``) and the line."""
    p = Path(path)
    records: list[OoniRecord] = []
    problems: list[InvalidInput] = []
    for line, raw_or_problem in _documents(p):
        if isinstance(raw_or_problem, InvalidInput):
            problems.append(raw_or_problem)
            continue
        try:
            m = parse_measurement(raw_or_problem, origin=p, line=line)
        except InvalidInput as exc:
            problems.append(exc)
            continue
        records.append(OoniRecord(p, line, raw_or_problem, m))
    return records, problems


def load_file(path: str | Path) -> list[Measurement]:
    """All measurements of ``path``; the first problem is raised as ``InvalidInput``."""
    measurements, problems = parse_file(path)
    if problems:
        raise problems[0]
    return measurements


def ooni_verdict(raw: Mapping[str, Any]) -> tuple[str | bool | None, bool | None]:
    """OONI's own ``(blocking, accessible)`` for a raw measurement (or bare ``test_keys``).

    Kept in OONI's vocabulary so it compares directly with ``classify.ooni_equivalent``:
    ``blocking`` is "dns", "tcp_ip", "http-failure", "http-diff", ``False`` (nothing blocked) or
    ``None`` (JSON null: the probe could not decide); ``accessible`` is ``True``, ``False`` or
    ``None``.
    """
    keys = raw.get("test_keys", raw)
    if not isinstance(keys, Mapping):
        return None, None
    blocking = keys.get("blocking")
    accessible = keys.get("accessible")
    b: str | bool | None = blocking if isinstance(blocking, str) or blocking is False else None
    return b, accessible if isinstance(accessible, bool) else None


def parse_measurement(
    raw: Mapping[str, Any], *, origin: str | Path = "<memory>", line: int = 1
) -> Measurement:
    """Build a ``Measurement`` from one OONI measurement (full, or bare ``test_keys``)."""
    r = _Reader(str(origin), line)
    if not isinstance(raw, Mapping):
        raise r.error("", "type", f"expected a JSON object, got {_kind(raw)}")
    if "test_keys" in raw:
        top: Mapping[str, Any] = raw
        keys = r.mapping(raw, "test_keys")
        prefix = "test_keys."
    elif any(k in raw for k in _TEST_KEYS_ONLY_MARKERS):
        top = {}
        keys = raw
        prefix = ""
    else:
        raise r.error(
            "test_keys",
            "missing",
            "not a Web Connectivity measurement: neither test_keys nor queries/requests found",
        )
    test_name = top.get("test_name")
    if test_name is not None and test_name != "web_connectivity":
        raise r.error(
            "test_name", "unsupported", f"only web_connectivity is read, got {test_name!r}"
        )

    url = _input_url(r, top, keys, prefix)
    started_at, country_from_name = _start_time(r, top)
    vantage = Vantage(
        country=r.opt_str(top, "probe_cc") or country_from_name,
        asn=r.opt_str(top, "probe_asn") or None,
        network_name=r.opt_str(top, "probe_network_name") or None,
    )
    dns = tuple(
        _query(r, q, f"{prefix}queries[{i}]")
        for i, q in enumerate(r.opt_list(keys, "queries", prefix))
    )
    tcp = tuple(
        _tcp(r, c, f"{prefix}tcp_connect[{i}]")
        for i, c in enumerate(r.opt_list(keys, "tcp_connect", prefix))
    )
    tls = tuple(
        _tls(r, h, f"{prefix}tls_handshakes[{i}]")
        for i, h in enumerate(r.opt_list(keys, "tls_handshakes", prefix))
    )
    requests = r.opt_list(keys, "requests", prefix)
    # OONI lists the chain newest first; the model wants the final hop last.
    http = [
        _request(r, q, f"{prefix}requests[{i}]") for i, q in reversed(list(enumerate(requests)))
    ]
    _add_failed_hop(http, url, r.opt_str(keys, "http_experiment_failure", prefix))
    runtime = _number(top.get("test_runtime"))
    return Measurement(
        url=url,
        vantage=vantage,
        started_at=started_at,
        dns=dns,
        tcp=tcp,
        tls=tls,
        http=tuple(http),
        control=_control(r, keys, prefix, url),
        duration_ms=runtime * 1000 if runtime else None,
        source="ooni",
        source_id=_source_id(top, r.origin),
    )


# ---------------------------------------------------------------------------------------------
# documents


def _documents(path: Path) -> Iterator[tuple[int, Mapping[str, Any] | InvalidInput]]:
    """Yield (line, raw measurement or problem) for each document in the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        yield 0, _file_problem(path, "missing", "no such file")
        return
    except UnicodeDecodeError as exc:
        yield (
            0,
            _file_problem(path, "encoding", f"not UTF-8 text ({exc.reason} at byte {exc.start})"),
        )
        return
    except OSError as exc:
        yield 0, _file_problem(path, "unreadable", f"cannot be read: {exc.strerror}")
        return
    # Comment lines become blank lines so that line numbers stay those of the file.
    lines = ["" if ln.lstrip().startswith("//") else ln for ln in text.splitlines()]
    numbered = [(i + 1, ln) for i, ln in enumerate(lines) if ln.strip()]
    if not numbered:
        yield 0, _file_problem(path, "empty", "holds no measurement")
        return
    first_line = numbered[0][0]
    try:
        doc = json.loads("\n".join(lines))
    except json.JSONDecodeError as exc:
        # Not one document: JSON Lines if any line stands alone as an object.
        if len(numbered) > 1 and any(_is_json_object(ln) for _, ln in numbered):
            yield from _json_lines(path, numbered)
        else:
            yield (
                exc.lineno,
                _line_problem(path, exc.lineno, f"not valid JSON: {exc.msg} at column {exc.colno}"),
            )
        return
    if isinstance(doc, dict):
        yield first_line, doc
    elif isinstance(doc, list):
        for i, item in enumerate(doc):
            if isinstance(item, dict):
                yield i + 1, item
            else:
                yield (
                    first_line,
                    _line_problem(
                        path, first_line, f"array item {i} is {_kind(item)}, not an object"
                    ),
                )
    else:
        yield (
            first_line,
            _line_problem(path, first_line, f"expected a JSON object, got {_kind(doc)}"),
        )


def _json_lines(
    path: Path, numbered: list[tuple[int, str]]
) -> Iterator[tuple[int, Mapping[str, Any] | InvalidInput]]:
    for n, ln in numbered:
        try:
            doc = json.loads(ln)
        except json.JSONDecodeError as exc:
            yield n, _line_problem(path, n, f"not valid JSON: {exc.msg} at column {exc.colno}")
            continue
        if not isinstance(doc, dict):
            yield n, _line_problem(path, n, f"expected a JSON object, got {_kind(doc)}")
            continue
        yield n, doc


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except json.JSONDecodeError:
        return False


def _file_problem(path: Path, rule: str, message: str) -> InvalidInput:
    return InvalidInput([FieldProblem(str(path), rule, f"{path}: {message}")])


def _line_problem(path: Path, line: int, message: str) -> InvalidInput:
    return InvalidInput([FieldProblem(f"{path}:{line}", "json", f"{path} line {line}: {message}")])


# ---------------------------------------------------------------------------------------------
# field readers


class _Reader:
    """Typed access to raw JSON that fails with the file, line and JSON path of the bad value."""

    def __init__(self, origin: str, line: int) -> None:
        self.origin = origin
        self.line = line

    def error(self, where: str, rule: str, message: str) -> InvalidInput:
        field = where or "measurement"
        return InvalidInput(
            [FieldProblem(field, rule, f"{self.origin} line {self.line}: {field}: {message}")]
        )

    def mapping(self, obj: Mapping[str, Any], key: str, prefix: str = "") -> Mapping[str, Any]:
        value = obj.get(key)
        if not isinstance(value, Mapping):
            raise self.error(prefix + key, "type", f"expected an object, got {_kind(value)}")
        return value

    def opt_mapping(self, obj: Mapping[str, Any], key: str, prefix: str = "") -> Mapping[str, Any]:
        value = obj.get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.error(
                prefix + key, "type", f"expected an object or null, got {_kind(value)}"
            )
        return value

    def opt_list(self, obj: Mapping[str, Any], key: str, prefix: str = "") -> Sequence[Any]:
        value = obj.get(key)
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.error(prefix + key, "type", f"expected a list or null, got {_kind(value)}")
        return value

    def str_(self, obj: Mapping[str, Any], key: str, prefix: str = "") -> str:
        value = obj.get(key)
        if not isinstance(value, str):
            raise self.error(prefix + key, "type", f"expected a string, got {_kind(value)}")
        return value

    def opt_str(self, obj: Mapping[str, Any], key: str, prefix: str = "") -> str | None:
        value = obj.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.error(prefix + key, "type", f"expected a string or null, got {_kind(value)}")
        return value

    def opt_bool(self, obj: Mapping[str, Any], key: str, prefix: str = "") -> bool | None:
        value = obj.get(key)
        if value is None or isinstance(value, bool):
            return value
        raise self.error(prefix + key, "type", f"expected true, false or null, got {_kind(value)}")

    def port(self, value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise self.error(where, "type", f"expected a port number, got {_kind(value)}")
        try:
            port = int(value)
        except ValueError:
            raise self.error(where, "type", f"expected a port number, got {value!r}") from None
        if not 0 < port < 65536:
            raise self.error(where, "range", f"port {port} is outside 1-65535")
        return port


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _duration_ms(obj: Mapping[str, Any]) -> float | None:
    """OONI's ``t0``/``t`` are seconds since the measurement began; their difference is ours."""
    t0, t = _number(obj.get("t0")), _number(obj.get("t"))
    if t0 is not None and t is not None and t >= t0:
        return (t - t0) * 1000
    return None


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _split_endpoint(address: str) -> tuple[str, int] | None:
    """ "1.2.3.4:443" or "[2001:db8::1]:443" -> (ip, port); None when it is not an endpoint."""
    if address.startswith("["):
        host, sep, port = address[1:].partition("]:")
    else:
        host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host, int(port)


# ---------------------------------------------------------------------------------------------
# measurement parts


def _input_url(r: _Reader, top: Mapping[str, Any], keys: Mapping[str, Any], prefix: str) -> str:
    url = top.get("input")
    if isinstance(url, str) and url:
        return url
    if url is not None and not isinstance(url, str):
        raise r.error("input", "type", f"expected the measured URL, got {_kind(url)}")
    # The test_keys-only variant: the URL the test helper was asked about, or the first request.
    ctrl_req = keys.get("x_control_request")
    if isinstance(ctrl_req, Mapping) and isinstance(ctrl_req.get("http_request"), str):
        return str(ctrl_req["http_request"])
    for req in reversed(keys.get("requests") or []):
        if isinstance(req, Mapping) and isinstance(req.get("request"), Mapping):
            candidate = req["request"].get("url")
            if isinstance(candidate, str) and candidate:
                return candidate
    raise r.error(
        "input", "missing", "no measured URL (neither input nor x_control_request nor requests)"
    )


def _start_time(r: _Reader, top: Mapping[str, Any]) -> tuple[datetime, str | None]:
    """The start time, and the country when it had to be read from an OONI id file name."""
    value = top.get("measurement_start_time")
    if isinstance(value, str):
        for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ"):
            try:
                return datetime.strptime(value, fmt).replace(tzinfo=UTC), None
            except ValueError:
                continue
        raise r.error(
            "measurement_start_time", "format", f"expected 'YYYY-MM-DD HH:MM:SS', got {value!r}"
        )
    if value is not None:
        raise r.error("measurement_start_time", "type", f"expected a string, got {_kind(value)}")
    match = _OONI_UID.match(Path(r.origin).name)
    if match:
        when = datetime.strptime(match.group(1), "%Y%m%d%H%M%S").replace(tzinfo=UTC)
        return when, match.group(2)
    raise r.error(
        "measurement_start_time",
        "missing",
        "no start time, and the file name is not an OONI measurement id to read it from",
    )


def _source_id(top: Mapping[str, Any], origin: str) -> str | None:
    for key in ("measurement_uid", "id", "report_id"):
        value = top.get(key)
        if isinstance(value, str) and value:
            return value
    match = _OONI_UID.match(Path(origin).name)
    return Path(origin).stem if match else None


def _query(r: _Reader, q: Any, where: str) -> DnsQuery:
    if not isinstance(q, Mapping):
        raise r.error(where, "type", f"expected an object, got {_kind(q)}")
    hostname = r.str_(q, "hostname", where + ".")
    engine = r.opt_str(q, "engine", where + ".")
    address = r.opt_str(q, "resolver_address", where + ".") or ""
    if engine in (None, "system", "getaddrinfo", "android"):
        resolver = "system"
    elif engine == "doh":
        resolver = address or "doh"
    else:  # udp, tcp, dot
        resolver = f"{engine}://{address}" if address else engine
    answers: list[str] = []
    cnames: list[str] = []
    for i, a in enumerate(r.opt_list(q, "answers", where + ".")):
        at = f"{where}.answers[{i}]"
        if not isinstance(a, Mapping):
            raise r.error(at, "type", f"expected an object, got {_kind(a)}")
        kind = a.get("answer_type")
        if kind in ("A", "AAAA"):
            ip = r.opt_str(a, "ipv4" if kind == "A" else "ipv6", at + ".")
            if ip is None or not _is_ip(ip):
                raise r.error(at, "address", f"a {kind} answer without a valid address: {ip!r}")
            answers.append(ip)
        elif kind == "CNAME":
            target = r.opt_str(a, "hostname", at + ".")
            if target:
                cnames.append(target.rstrip("."))
    return DnsQuery(
        hostname=hostname.rstrip("."),
        resolver=resolver,
        answers=tuple(answers),
        cnames=tuple(cnames),
        failure=r.opt_str(q, "failure", where + "."),
        duration_ms=_duration_ms(q),
    )


def _tcp(r: _Reader, c: Any, where: str) -> TcpConnect:
    if not isinstance(c, Mapping):
        raise r.error(where, "type", f"expected an object, got {_kind(c)}")
    ip = r.str_(c, "ip", where + ".")
    if not _is_ip(ip):
        raise r.error(where + ".ip", "address", f"not an IP address: {ip!r}")
    status = r.mapping(c, "status", where + ".")
    failure = r.opt_str(status, "failure", where + ".status.")
    success = r.opt_bool(status, "success", where + ".status.")
    return TcpConnect(
        ip=ip,
        port=r.port(c.get("port"), where + ".port"),
        ok=success if success is not None else failure is None,
        failure=failure,
        duration_ms=_duration_ms(c),
    )


def _tls(r: _Reader, h: Any, where: str) -> TlsHandshake:
    if not isinstance(h, Mapping):
        raise r.error(where, "type", f"expected an object, got {_kind(h)}")
    address = r.opt_str(h, "address", where + ".")
    ip: str | None = None
    port = 443
    if address:
        endpoint = _split_endpoint(address)
        if endpoint is None or not _is_ip(endpoint[0]):
            raise r.error(where + ".address", "address", f"not an ip:port endpoint: {address!r}")
        ip, port = endpoint
    failure = r.opt_str(h, "failure", where + ".")
    chain = tuple(
        _certificate(r, c, f"{where}.peer_certificates[{i}]")
        for i, c in enumerate(r.opt_list(h, "peer_certificates", where + "."))
    )
    return TlsHandshake(
        ip=ip,
        port=port,
        sni=r.opt_str(h, "server_name", where + ".") or "",
        ok=failure is None,
        failure=failure,
        version=r.opt_str(h, "tls_version", where + ".") or None,
        cipher=r.opt_str(h, "cipher_suite", where + ".") or None,
        chain=chain,
        duration_ms=_duration_ms(h),
    )


def _certificate(r: _Reader, c: Any, where: str) -> Certificate:
    if isinstance(c, Mapping) and c.get("format") == "base64" and isinstance(c.get("data"), str):
        der = _b64(r, c["data"], where + ".data")
    else:
        raise r.error(where, "format", "expected {'format': 'base64', 'data': ...}")
    digest = hashlib.sha256(der).hexdigest()
    try:
        with warnings.catch_warnings():
            # Real chains include certificates cryptography finds odd (negative serials, ...);
            # they are still evidence, so no warning may turn them into errors.
            warnings.simplefilter("ignore")
            cert = x509.load_der_x509_certificate(der)
            subject = cert.subject.rfc4514_string()
            issuer = cert.issuer.rfc4514_string()
            not_before = cert.not_valid_before_utc
            not_after = cert.not_valid_after_utc
            try:
                ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
                san = tuple(
                    ext.value.get_values_for_type(x509.DNSName)
                    + [str(ip) for ip in ext.value.get_values_for_type(x509.IPAddress)]
                )
            except x509.ExtensionNotFound:
                san = ()
    except ValueError:
        # Keep the hash: it still identifies the certificate even if we cannot read its names.
        return Certificate(sha256=digest, subject="(unreadable certificate)", issuer="")
    return Certificate(
        sha256=digest,
        subject=subject,
        issuer=issuer,
        not_before=not_before,
        not_after=not_after,
        san=san,
    )


def _b64(r: _Reader, data: str, where: str) -> bytes:
    """Decode OONI base64, forgiving missing padding (seen in real archived measurements)."""
    padded = data.strip() + "=" * (-len(data.strip()) % 4)
    try:
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        raise r.error(where, "base64", "not valid base64") from None


def _text(r: _Reader, value: Any, where: str) -> str | None:
    """A header value: a string, or ``{"format": "base64", "data": ...}`` when not UTF-8."""
    raw = _bytes(r, value, where)
    return raw.decode("utf-8", errors="replace") if raw is not None else None


def _bytes(r: _Reader, value: Any, where: str) -> bytes | None:
    """OONI stores a body or header as text when it is UTF-8 and as base64 when it is not."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, Mapping) and value.get("format") == "base64":
        data = value.get("data")
        if not isinstance(data, str):
            raise r.error(where + ".data", "type", f"expected base64 text, got {_kind(data)}")
        return _b64(r, data, where + ".data")
    raise r.error(where, "type", f"expected a string or a base64 object, got {_kind(value)}")


def _headers(r: _Reader, resp: Mapping[str, Any], where: str) -> tuple[tuple[str, str], ...]:
    listed = resp.get("headers_list")
    out: list[tuple[str, str]] = []
    if isinstance(listed, list) and listed:
        for i, pair in enumerate(listed):
            if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
                raise r.error(f"{where}.headers_list[{i}]", "type", "expected [name, value]")
            out.append((pair[0], _text(r, pair[1], f"{where}.headers_list[{i}][1]") or ""))
        return tuple(out)
    for name, value in r.opt_mapping(resp, "headers", where + ".").items():
        out.append((str(name), _text(r, value, f"{where}.headers.{name}") or ""))
    return tuple(out)


def _request(r: _Reader, q: Any, where: str) -> HttpResponse:
    if not isinstance(q, Mapping):
        raise r.error(where, "type", f"expected an object, got {_kind(q)}")
    request = r.opt_mapping(q, "request", where + ".")
    response = r.opt_mapping(q, "response", where + ".")
    url = r.str_(request, "url", where + ".request.")
    code = response.get("code")
    status = code if isinstance(code, int) and not isinstance(code, bool) and code > 0 else None
    body_bytes = _bytes(r, response.get("body"), where + ".response.body")
    body = body_bytes.decode("utf-8", errors="replace") if body_bytes is not None else None
    title = None
    if body:
        found = _TITLE.search(body[:BODY_SAMPLE_CHARS])
        title = found.group(1).strip() if found else None
    truncated = bool(response.get("body_is_truncated")) or (
        body is not None and len(body) > BODY_SAMPLE_CHARS
    )
    return HttpResponse(
        url=url,
        status=status,
        headers=_headers(r, response, where + ".response"),
        title=title,
        body_length=len(body_bytes) if body_bytes else None,
        body_sha256=hashlib.sha256(body_bytes).hexdigest() if body_bytes else None,
        body_sample=body[:BODY_SAMPLE_CHARS] if body else None,
        body_truncated=truncated,
        failure=r.opt_str(q, "failure", where + "."),
        duration_ms=_duration_ms(q),
    )


def _add_failed_hop(http: list[HttpResponse], url: str, failure: str | None) -> None:
    """Make a failure OONI kept only in ``http_experiment_failure`` the chain's final hop."""
    if failure is None:
        return
    if not http:
        http.append(HttpResponse(url=url, failure=failure))
        return
    last = http[-1]
    if last.failure is not None:
        return
    location = next((v for k, v in last.headers if k.lower() == "location"), None)
    if last.status is not None and 300 <= last.status < 400 and location:
        http.append(HttpResponse(url=urljoin(last.url, location), failure=failure))


def _control(r: _Reader, keys: Mapping[str, Any], prefix: str, url: str) -> Control | None:
    where = prefix + "control"
    failure = r.opt_str(keys, "control_failure", prefix)
    raw = keys.get("control")
    if raw is None or (isinstance(raw, Mapping) and not raw):
        return Control(failure=failure) if failure else None
    if not isinstance(raw, Mapping):
        raise r.error(where, "type", f"expected an object, got {_kind(raw)}")
    dns = r.opt_mapping(raw, "dns", where + ".")
    addrs = r.opt_list(dns, "addrs", where + ".dns.")
    # The control lists CNAME targets among the addresses; only addresses are answers.
    answers = tuple(a for a in addrs if isinstance(a, str) and _is_ip(a))
    tcp: list[TcpConnect] = []
    for endpoint, result in r.opt_mapping(raw, "tcp_connect", where + ".").items():
        at = f"{where}.tcp_connect.{endpoint}"
        parsed = _split_endpoint(endpoint)
        if parsed is None or not isinstance(result, Mapping):
            raise r.error(at, "format", "expected 'ip:port': {status, failure}")
        ok = r.opt_bool(result, "status", at + ".")
        fail = r.opt_str(result, "failure", at + ".")
        tcp.append(TcpConnect(ip=parsed[0], port=parsed[1], ok=bool(ok), failure=fail))
    tls: list[TlsHandshake] = []
    for endpoint, result in r.opt_mapping(raw, "tls_handshake", where + ".").items():
        at = f"{where}.tls_handshake.{endpoint}"
        parsed = _split_endpoint(endpoint)
        if parsed is None or not isinstance(result, Mapping):
            raise r.error(at, "format", "expected 'ip:port': {server_name, status, failure}")
        tls.append(
            TlsHandshake(
                ip=parsed[0],
                port=parsed[1],
                sni=r.opt_str(result, "server_name", at + ".") or "",
                ok=bool(r.opt_bool(result, "status", at + ".")),
                failure=r.opt_str(result, "failure", at + "."),
            )
        )
    http = None
    req = raw.get("http_request")
    if isinstance(req, Mapping) and req:
        at = where + ".http_request"
        code = req.get("status_code")
        length = req.get("body_length")
        headers = r.opt_mapping(req, "headers", at + ".")
        http = HttpResponse(
            url=url,
            status=code
            if isinstance(code, int) and not isinstance(code, bool) and code > 0
            else None,
            headers=tuple(
                (str(k), _text(r, v, f"{at}.headers.{k}") or "") for k, v in headers.items()
            ),
            title=(r.opt_str(req, "title", at + ".") or "").strip() or None,
            body_length=length if isinstance(length, int) and length >= 0 else None,
            failure=r.opt_str(req, "failure", at + "."),
        )
    elif req is not None and not isinstance(req, Mapping):
        raise r.error(where + ".http_request", "type", f"expected an object, got {_kind(req)}")
    return Control(
        dns_answers=answers,
        dns_failure=r.opt_str(dns, "failure", where + ".dns."),
        tcp=tuple(tcp),
        tls=tuple(tls),
        http=http,
        failure=failure,
    )


def hostname_of(url: str) -> str:
    """The URL's host as DNS sees it: lower case, IDNA-encoded (OONI queries punycode)."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host
