"""The measurement engine: one URL, one vantage point, every layer, in OONI's vocabulary.

The steps follow OONI's Web Connectivity test so that our probes and public OONI data land in
the same :class:`~qorgau.monitor.model.Measurement` and are classified by the same code:

1. **DNS** — the URL's host is resolved with every configured resolver at once ("system" via
   ``getaddrinfo``; ``udp://IP:PORT`` and ``tcp://IP:PORT`` with dnspython, A and AAAA).
   Comparing resolvers is how DNS tampering shows: a lying resolver and an honest one are
   both recorded under their own names.
2. **TCP** — a connect to every address any resolver returned (bounded concurrency), because
   IP blocking often hits only some addresses of a host.
3. **TLS** (https) — a handshake with SNI = the host over each connected socket, because SNI
   filtering resets or stalls exactly here. When the certificate does not verify, the chain the
   server presented is still recorded: a national MITM certificate *is* the evidence.
4. **HTTP** — a fetch of the URL with redirects followed by hand, each hop recorded, starting as
   soon as one address has connected (OONI's flows run concurrently too).

Every failure is a string from OONI's error vocabulary (``df-007-errors``); nothing raises out of
a measurement except invalid input. Hostile servers (slowloris, endless bodies, redirect loops,
resolvers that never answer) are the normal case for a censorship monitor, so every step has a
timeout, the whole measurement has a deadline, and bodies are cut at ``max_body``.

Nothing is shared between measurements except read-only TLS configuration (CA stores are slow
to load; an :class:`ssl.SSLContext` is safe to use concurrently), so many measurements run at
once: see :func:`measure_many`.
"""

from __future__ import annotations

import _ssl
import asyncio
import codecs
import contextlib
import errno
import hashlib
import html
import ipaddress
import os
import re
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import SplitResult, urljoin, urlsplit, urlunsplit

import dns.asyncquery
import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import httpx
import idna
from cryptography import x509

from qorgau.errors import FieldProblem, InvalidInput
from qorgau.monitor.model import (
    Certificate,
    DnsQuery,
    HttpResponse,
    Measurement,
    TcpConnect,
    TlsHandshake,
    Vantage,
)

__all__ = [
    "FAILURES",
    "allowed_by_default",
    "classify_failure",
    "measure",
    "measure_many",
    "resolve",
]

# --- OONI failure strings (github.com/ooni/spec data-formats/df-007-errors.md) -------------

CONNECTION_REFUSED = "connection_refused"
CONNECTION_RESET = "connection_reset"
CONNECTION_ABORTED = "connection_aborted"
HOST_UNREACHABLE = "host_unreachable"
NETWORK_UNREACHABLE = "network_unreachable"
NETWORK_DOWN = "network_down"
TIMED_OUT = "timed_out"  # the kernel gave up (ETIMEDOUT), not our own deadline
GENERIC_TIMEOUT = "generic_timeout_error"  # our per-step timeout or overall deadline fired
EOF_ERROR = "eof_error"
DNS_NXDOMAIN = "dns_nxdomain_error"
DNS_NO_ANSWER = "dns_no_answer"
DNS_SERVFAIL = "dns_servfail_error"
DNS_REFUSED = "dns_refused_error"
DNS_MISBEHAVING = "dns_server_misbehaving"
DNS_TEMPORARY = "dns_temporary_failure"
DNS_NON_RECOVERABLE = "dns_non_recoverable_failure"
DNS_BOGON = "dns_bogon_error"
SSL_UNKNOWN_AUTHORITY = "ssl_unknown_authority"
SSL_INVALID_HOSTNAME = "ssl_invalid_hostname"
SSL_INVALID_CERTIFICATE = "ssl_invalid_certificate"
SSL_FAILED_HANDSHAKE = "ssl_failed_handshake"
HTTP_INVALID_REDIRECT = "http_invalid_redirect_location_host"
# Not in df-007: Go's client says "stopped after 10 redirects", which OONI files as an
# unknown_failure. A stable name is kinder to the classifier.
TOO_MANY_REDIRECTS = "too_many_redirects"
UNKNOWN_PREFIX = "unknown_failure: "

_ERRNO_FAILURES: dict[int, str] = {
    number: name
    for attr, name in (
        ("ECONNREFUSED", CONNECTION_REFUSED),
        ("ECONNRESET", CONNECTION_RESET),
        ("EHOSTUNREACH", HOST_UNREACHABLE),
        ("ETIMEDOUT", TIMED_OUT),
        ("EAFNOSUPPORT", "address_family_not_supported"),
        ("EADDRINUSE", "address_in_use"),
        ("EADDRNOTAVAIL", "address_not_available"),
        ("EISCONN", "already_connected"),
        ("EFAULT", "bad_address"),
        ("EBADF", "bad_file_descriptor"),
        ("ECONNABORTED", CONNECTION_ABORTED),
        ("EALREADY", "connection_already_in_progress"),
        ("EDESTADDRREQ", "destination_address_required"),
        ("EINTR", "interrupted"),
        ("EINVAL", "invalid_argument"),
        ("EMSGSIZE", "message_size"),
        ("ENETDOWN", NETWORK_DOWN),
        ("ENETRESET", "network_reset"),
        ("ENETUNREACH", NETWORK_UNREACHABLE),
        ("ENOBUFS", "no_buffer_space"),
        ("ENOPROTOOPT", "no_protocol_option"),
        ("ENOTSOCK", "not_a_socket"),
        ("ENOTCONN", "not_connected"),
        ("EWOULDBLOCK", "operation_would_block"),
        ("EACCES", "permission_denied"),
        ("EPROTONOSUPPORT", "protocol_not_supported"),
        ("EPROTOTYPE", "wrong_protocol_type"),
    )
    if (number := getattr(errno, attr, None)) is not None
}

# OpenSSL X509_V_ERR_* codes, grouped the way Go's crypto/x509 errors are (which is what
# OONI's classifier looks at): an unknown root, a name mismatch, or anything else wrong.
_UNKNOWN_AUTHORITY_CODES = frozenset({2, 18, 19, 20, 21, 27})
_INVALID_HOSTNAME_CODES = frozenset({62, 64})

FAILURES: frozenset[str] = frozenset(
    {
        *_ERRNO_FAILURES.values(),
        GENERIC_TIMEOUT,
        EOF_ERROR,
        DNS_NXDOMAIN,
        DNS_NO_ANSWER,
        DNS_SERVFAIL,
        DNS_REFUSED,
        DNS_MISBEHAVING,
        DNS_TEMPORARY,
        DNS_NON_RECOVERABLE,
        DNS_BOGON,
        SSL_UNKNOWN_AUTHORITY,
        SSL_INVALID_HOSTNAME,
        SSL_INVALID_CERTIFICATE,
        SSL_FAILED_HANDSHAKE,
        HTTP_INVALID_REDIRECT,
        TOO_MANY_REDIRECTS,
    }
)
"""Every failure name the engine can produce, besides ``unknown_failure: <detail>``."""

# --- tunables that are not worth a parameter -------------------------------------------------

_PARALLEL_CONNECTS = 8  # per measurement; a host with 30 addresses must not open 30 sockets
_DEADLINE_FACTOR = 3.0  # the whole measurement is capped at 3 × the per-step timeout
_CLOSE_GRACE = 1.0  # seconds granted to close an HTTP response; a hostile peer gets no more
_TITLE_WINDOW = 1024
_SAMPLE_WINDOW = 4096
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Like OONI: look like a browser, because some filters only act on browser-like requests.
_REQUEST_HEADERS = {
    "User-Agent": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
    ),
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language": "en-US;q=0.8,en;q=0.5",
    "Accept-Encoding": "gzip, deflate",  # only what we can inflate with a bound
}
_ALPN = ["h2", "http/1.1"]  # what a browser offers; some DPI boxes look at ALPN too


# --- failure classification ------------------------------------------------------------------


class _PeerClosed(Exception):
    """The peer closed the connection (read returned b"") while we still expected bytes."""


def classify_failure(exc: BaseException) -> str:
    """Map an exception from any step to an OONI failure string.

    The exception and its causes are inspected in order, because httpx and dnspython wrap the
    socket error that carries the useful errno. Unknown errors become
    ``unknown_failure: <message>`` with IP addresses scrubbed, as OONI does, so a measurement
    never leaks the probe's own addresses through an error text.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        name = _classify_one(current)
        if name:
            return name
        current = current.__cause__ or current.__context__
    text = str(exc) or type(exc).__name__
    return UNKNOWN_PREFIX + _scrub(text)


def _classify_one(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):  # also asyncio.TimeoutError and socket.timeout
        return TIMED_OUT if exc.errno == errno.ETIMEDOUT else GENERIC_TIMEOUT
    if isinstance(exc, httpx.TimeoutException | dns.exception.Timeout):
        return GENERIC_TIMEOUT
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = exc.verify_code
        if code in _INVALID_HOSTNAME_CODES:
            return SSL_INVALID_HOSTNAME
        if code in _UNKNOWN_AUTHORITY_CODES:
            return SSL_UNKNOWN_AUTHORITY
        return SSL_INVALID_CERTIFICATE
    if isinstance(exc, ssl.SSLZeroReturnError | ssl.SSLEOFError):
        return EOF_ERROR
    if isinstance(exc, ssl.SSLError):  # before OSError: its errno is an SSL_ERROR_* code
        if "UNEXPECTED_EOF" in (exc.reason or ""):
            return EOF_ERROR
        return SSL_FAILED_HANDSHAKE
    if isinstance(exc, _PeerClosed | EOFError | asyncio.IncompleteReadError):
        return EOF_ERROR
    if isinstance(exc, OSError) and exc.errno in _ERRNO_FAILURES:
        return _ERRNO_FAILURES[exc.errno]
    if isinstance(exc, ConnectionResetError):
        return CONNECTION_RESET
    if isinstance(exc, ConnectionRefusedError):
        return CONNECTION_REFUSED
    if isinstance(exc, ConnectionAbortedError):
        return CONNECTION_ABORTED
    if isinstance(exc, httpx.RemoteProtocolError) and "disconnected" in str(exc).lower():
        return EOF_ERROR
    return ""


_IPV4_RE = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
_IPV6_RE = re.compile(r"\[?\b[0-9a-fA-F]{0,4}(?::[0-9a-fA-F]{0,4}){2,7}\b\]?")


def _scrub(text: str) -> str:
    return _IPV6_RE.sub("[scrubbed]", _IPV4_RE.sub("[scrubbed]", text))[:300]


# --- input validation ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    url: str
    parts: SplitResult
    scheme: str
    host: str  # ASCII (IDNA) form, lower case, IPv6 without brackets
    port: int
    explicit_port: bool

    @property
    def host_header(self) -> str:
        return _host_header(self.host, self.port if self.explicit_port else None)


def _host_header(host: str, port: int | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return shown if port is None else f"{shown}:{port}"


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _ascii_host(host: str) -> str:
    """The hostname as it goes on the wire (DNS, SNI, Host): IDNA 2008, else IDNA 2003.

    Kazakh and Russian sites use Cyrillic names (``.қаз``, ``.рф``); both encodings are tried
    because real-world names do not all pass the stricter UTS 46 rules.
    """
    host = host.rstrip(".").lower()
    if _is_ip(host) or host.isascii():
        return host
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError:
        return host.encode("idna").decode("ascii")


def _parse_url(url: str, field_name: str = "url") -> _Target:
    """Accept only absolute http(s) URLs with a host; anything else is the caller's mistake."""
    allowed = ("http", "https")
    text = url.strip() if isinstance(url, str) else ""
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput.single(field_name, "url", f"not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if not scheme or "://" not in text:
        raise InvalidInput.single(
            field_name, "scheme", "the URL needs a scheme: http:// or https://", allowed
        )
    if scheme not in allowed:
        raise InvalidInput.single(
            field_name,
            "scheme",
            f"only http and https URLs can be measured, not {scheme}:",
            allowed,
        )
    if not parts.hostname:
        raise InvalidInput.single(field_name, "host", "the URL has no host")
    if port == 0:
        raise InvalidInput.single(field_name, "port", "port 0 cannot be connected to")
    try:
        host = _ascii_host(parts.hostname)
    except UnicodeError as exc:
        raise InvalidInput.single(
            field_name, "host", f"the host is not a valid name: {exc}"
        ) from None
    return _Target(
        url=text,
        parts=parts,
        scheme=scheme,
        host=host,
        port=port or (443 if scheme == "https" else 80),
        explicit_port=port is not None,
    )


@dataclass(frozen=True)
class _Resolver:
    name: str  # as recorded in DnsQuery.resolver
    transport: str  # "system" | "udp" | "tcp"
    ip: str = ""
    port: int = 53


def _parse_resolver(spec: str) -> _Resolver:
    if spec == "system":
        return _Resolver(name="system", transport="system")
    problem = InvalidInput.single(
        "resolvers",
        "resolver",
        f"{spec!r} is not a resolver: use 'system', 'udp://IP:PORT' or 'tcp://IP:PORT'",
        ("system", "udp", "tcp"),
    )
    try:
        parts = urlsplit(spec)
        port = parts.port or 53
    except ValueError:
        raise problem from None
    if parts.scheme not in ("udp", "tcp") or not parts.hostname or not _is_ip(parts.hostname):
        raise problem
    ip = str(ipaddress.ip_address(parts.hostname))
    return _Resolver(
        name=f"{parts.scheme}://{_host_header(ip, port)}", transport=parts.scheme, ip=ip, port=port
    )


def allowed_by_default(ip: str) -> bool:
    """OONI's rule for addresses a resolver returned: never loopback (or "any").

    A resolver, honest or not, can answer 127.0.0.1 and turn the probe on its own services;
    OONI refuses such endpoints (ooni/probe#2397) and so do we. Bogons such as 10.10.34.34
    *are* connected to, because that is where national blockpages live. Addresses a caller
    pins with ``connect_addresses`` or writes in the URL are not filtered.
    """
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not (address.is_loopback or address.is_unspecified)


# --- TLS configuration -----------------------------------------------------------------------


def _ca_key(ca_file: str | os.PathLike[str] | None) -> tuple[str, int] | None:
    if ca_file is None:
        return None
    path = os.fspath(ca_file)
    try:
        return path, os.stat(path).st_mtime_ns  # a lab that rotates its CA gets a new context
    except OSError as exc:
        raise InvalidInput.single(
            "ca_file", "readable", f"cannot read the CA file: {exc}"
        ) from None


@lru_cache(maxsize=16)
def _verifying_context(ca: tuple[str, int] | None, alpn: bool) -> ssl.SSLContext:
    """Mozilla's root store (certifi) plus the lab CA — deliberately not the system store.

    OONI ships its own CA bundle for the same reason: a probe machine may trust a national
    interception root (Kazakhstan has pushed one on its citizens several times), and with the
    system store such a MITM would verify and look "accessible". The chain is recorded either
    way. Without certifi the system store is used. Cached, because loading a store costs
    ~20 ms of event-loop CPU per context; contexts are read-only once built.
    """
    try:
        import certifi

        bundle: str | None = certifi.where()
    except ImportError:
        bundle = None
    context = ssl.create_default_context(cafile=bundle)
    if ca is not None:
        context.load_verify_locations(cafile=ca[0])
    if alpn:
        context.set_alpn_protocols(_ALPN)
    return context


@lru_cache(maxsize=1)
def _capturing_context() -> ssl.SSLContext:
    """Verification off: used only to see which certificate a failing server presents."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(_ALPN)
    return context


def _peer_chain(obj: ssl.SSLObject) -> list[bytes]:
    """DER certificates the peer sent, leaf first, even if verification failed.

    3.13 has ``SSLObject.get_unverified_chain()``; 3.10–3.12 have the same method on the
    private ``_sslobj``; older or other builds give the leaf only via ``getpeercert``.
    """
    public = getattr(obj, "get_unverified_chain", None)
    if public is not None:
        try:
            chain = public()
        except (ValueError, ssl.SSLError):
            chain = None
        if chain:
            return [bytes(cert) for cert in chain]
    private = getattr(getattr(obj, "_sslobj", None), "get_unverified_chain", None)
    if private is not None:
        try:
            certs = private()
        except (ValueError, ssl.SSLError):
            certs = None
        if certs:
            encoding = getattr(_ssl, "ENCODING_DER", 2)
            return [bytes(cert.public_bytes(encoding)) for cert in certs]
    try:
        leaf = obj.getpeercert(binary_form=True)
    except (ValueError, ssl.SSLError):
        return []
    return [leaf] if leaf else []


def _certificate(der: bytes) -> Certificate:
    """Parse what we can; a hostile middlebox may send garbage, which must not crash us."""
    digest = hashlib.sha256(der).hexdigest()
    try:
        cert = x509.load_der_x509_certificate(der)
        subject = cert.subject.rfc4514_string()
        issuer = cert.issuer.rfc4514_string()
        not_before: datetime | None = cert.not_valid_before_utc
        not_after: datetime | None = cert.not_valid_after_utc
    except Exception:  # malformed certificates come in endless shapes
        return Certificate(sha256=digest, subject="", issuer="")
    san: list[str] = []
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        san.extend(str(name) for name in names.get_values_for_type(x509.DNSName))
        san.extend(str(ip) for ip in names.get_values_for_type(x509.IPAddress))
    except Exception:  # absent or unparsable SAN: the subject still says something
        pass
    return Certificate(
        sha256=digest,
        subject=subject,
        issuer=issuer,
        not_before=not_before,
        not_after=not_after,
        san=tuple(san),
    )


# --- DNS -------------------------------------------------------------------------------------


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


async def resolve(hostname: str, resolver: str = "system", *, timeout: float = 10.0) -> DnsQuery:
    """Resolve ``hostname`` (A and AAAA) with one resolver and record what it said.

    Never raises for network trouble: the failure is in the returned query, named as OONI
    names it. Raises :class:`InvalidInput` for a malformed resolver.
    """
    spec = _parse_resolver(resolver)
    if not timeout > 0:
        raise InvalidInput.single("timeout", "positive", "the timeout must be positive")
    try:
        host = _ascii_host(hostname)
    except UnicodeError as exc:
        raise InvalidInput.single("hostname", "host", f"not a valid name: {exc}") from None
    deadline = asyncio.get_running_loop().time() + timeout
    return await _resolve(host, spec, deadline)


async def _resolve(host: str, spec: _Resolver, deadline: float) -> DnsQuery:
    started = time.perf_counter()
    try:
        if spec.transport == "system":
            async with asyncio.timeout_at(deadline):
                answers, cnames, failure = await _resolve_system(host)
        else:  # each of A and AAAA has its own deadline: one lost query keeps the other
            answers, cnames, failure = await _resolve_dns(host, spec, deadline)
    except Exception as exc:
        answers, cnames, failure = (), (), classify_failure(exc)
    return DnsQuery(
        hostname=host,
        resolver=spec.name,
        answers=answers,
        cnames=cnames,
        failure=failure,
        duration_ms=_ms(started),
    )


_GAI_FAILURES = {
    code: name
    for attr, name in (
        ("EAI_NONAME", DNS_NXDOMAIN),
        ("EAI_NODATA", DNS_NO_ANSWER),
        ("EAI_ADDRFAMILY", DNS_NO_ANSWER),
        ("EAI_AGAIN", DNS_TEMPORARY),
        ("EAI_FAIL", DNS_NON_RECOVERABLE),
    )
    if (code := getattr(socket, attr, None)) is not None
}


_AddrInfo = Sequence[tuple[Any, ...]]  # (family, type, proto, canonname, sockaddr)


async def _getaddrinfo(host: str) -> _AddrInfo:
    """``getaddrinfo`` on a daemon thread of its own, not on the loop's default executor.

    A blocking getaddrinfo cannot be cancelled: a lookup a censor leaves unanswered keeps its
    thread for the libc resolver's whole timeout (10 s and more with glibc's defaults) after
    the measurement has given up on it. The default executor has only CPUs + 4 threads, so
    a handful of such lookups made every *other* site's lookup wait in its queue until its own
    step timed out — unblocked sites reported as DNS tampering (seen in the namespace lab,
    tests/integration/test_censorship_lab.py) — and ``asyncio.run`` then waited for the
    stuck threads before returning. Here every lookup starts at once, and one abandoned is
    forgotten: its thread ends with the libc timeout and never holds up the process's exit.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[_AddrInfo] = loop.create_future()

    def deliver(infos: _AddrInfo | None, error: BaseException | None) -> None:
        if future.done():  # the measurement stopped waiting (cancelled by its deadline)
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(infos or [])

    def work() -> None:
        infos: _AddrInfo | None = None
        error: BaseException | None = None
        try:
            infos = socket.getaddrinfo(
                host, None, type=socket.SOCK_STREAM, flags=socket.AI_CANONNAME
            )
        except Exception as exc:  # handed to the awaiting task, classified there
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            loop.call_soon_threadsafe(deliver, infos, error)

    threading.Thread(target=work, name="qorgau-getaddrinfo", daemon=True).start()
    return await future


async def _resolve_system(host: str) -> tuple[tuple[str, ...], tuple[str, ...], str | None]:
    try:
        infos = await _getaddrinfo(host)
    except socket.gaierror as exc:
        return (), (), _GAI_FAILURES.get(exc.errno, UNKNOWN_PREFIX + _scrub(str(exc)))
    answers: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        ip = str(sockaddr[0]).split("%", 1)[0]
        if ip not in answers:
            answers.append(ip)
    canon = infos[0][3].rstrip(".").lower() if infos else ""
    cnames = (canon,) if canon and canon != host else ()
    return tuple(answers), cnames, None if answers else DNS_NO_ANSWER


async def _resolve_dns(
    host: str, spec: _Resolver, deadline: float
) -> tuple[tuple[str, ...], tuple[str, ...], str | None]:
    """A and AAAA in parallel, as Go's resolver (and so OONI) does, merged into one record."""
    a, aaaa = await asyncio.gather(
        _query(host, dns.rdatatype.A, spec, deadline),
        _query(host, dns.rdatatype.AAAA, spec, deadline),
    )
    answers = tuple(dict.fromkeys(a[0] + aaaa[0]))
    cnames = tuple(dict.fromkeys(a[1] + aaaa[1]))
    if answers:
        return answers, cnames, None
    failures = [f for f in (a[2], aaaa[2]) if f]
    if DNS_NXDOMAIN in failures:
        return (), cnames, DNS_NXDOMAIN
    return (), cnames, failures[0] if failures else DNS_NO_ANSWER


async def _query(
    host: str, rdtype: dns.rdatatype.RdataType, spec: _Resolver, deadline: float
) -> tuple[tuple[str, ...], tuple[str, ...], str | None]:
    remaining = max(0.001, deadline - asyncio.get_running_loop().time())
    try:
        query = dns.message.make_query(dns.name.from_text(host), rdtype)
        async with asyncio.timeout_at(deadline):
            if spec.transport == "udp":
                response, _ = await dns.asyncquery.udp_with_fallback(
                    query, spec.ip, timeout=remaining, port=spec.port
                )
            else:
                response = await dns.asyncquery.tcp(
                    query, spec.ip, timeout=remaining, port=spec.port
                )
    except (dns.query.BadResponse, dns.exception.FormError, dns.exception.SyntaxError):
        return (), (), DNS_MISBEHAVING
    except Exception as exc:
        return (), (), classify_failure(exc)
    rcode = response.rcode()
    if rcode == dns.rcode.NXDOMAIN:
        return (), (), DNS_NXDOMAIN
    if rcode == dns.rcode.SERVFAIL:
        return (), (), DNS_SERVFAIL
    if rcode == dns.rcode.REFUSED:
        return (), (), DNS_REFUSED
    if rcode != dns.rcode.NOERROR:
        return (), (), DNS_MISBEHAVING
    answers: list[str] = []
    cnames: list[str] = []
    for rrset in response.answer:
        for rdata in rrset:
            if rrset.rdtype == dns.rdatatype.CNAME:
                cnames.append(rdata.target.to_text(omit_final_dot=True).lower())
            elif rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
                answers.append(str(ipaddress.ip_address(rdata.address)))
    return tuple(answers), tuple(cnames), None if answers else DNS_NO_ANSWER


# --- TCP and TLS -----------------------------------------------------------------------------


async def _tcp_connect(
    ip: str, port: int, deadline: float
) -> tuple[TcpConnect, socket.socket | None]:
    """Connect and hand the socket over (TLS runs on it, as OONI does), or record why not."""
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    started = time.perf_counter()
    sock = socket.socket(family, socket.SOCK_STREAM)
    connected = False
    try:
        sock.setblocking(False)
        async with asyncio.timeout_at(deadline):
            await loop.sock_connect(sock, (ip, port))
        connected = True
    except Exception as exc:
        return TcpConnect(
            ip, port, ok=False, failure=classify_failure(exc), duration_ms=_ms(started)
        ), None
    finally:
        if not connected:
            sock.close()
    return TcpConnect(ip, port, ok=True, duration_ms=_ms(started)), sock


@dataclass
class _Handshake:
    ok: bool
    failure: str | None = None
    version: str | None = None
    cipher: str | None = None
    chain: tuple[Certificate, ...] = ()


async def _tls_handshake(
    sock: socket.socket, context: ssl.SSLContext, sni: str, deadline: float
) -> _Handshake:
    """A TLS handshake over our own socket with memory BIOs.

    Doing the I/O by hand (rather than ``loop.start_tls``) keeps what a censor did visible:
    a clean close is ``eof_error``, an RST is ``connection_reset``, silence is a timeout; and
    the SSL object survives a failed verification so its chain can still be read.
    """
    loop = asyncio.get_running_loop()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = context.wrap_bio(incoming, outgoing, server_hostname=sni)
    try:
        async with asyncio.timeout_at(deadline):
            while True:
                try:
                    obj.do_handshake()
                except ssl.SSLWantReadError:
                    pending = outgoing.read()
                    if pending:
                        await loop.sock_sendall(sock, pending)
                    data = await loop.sock_recv(sock, 65536)
                    if not data:
                        raise _PeerClosed(
                            "the peer closed the connection during the handshake"
                        ) from None
                    incoming.write(data)
                    continue
                pending = outgoing.read()  # the client Finished, in TLS 1.3
                if pending:
                    await loop.sock_sendall(sock, pending)
                break
    except Exception as exc:
        failure = classify_failure(exc)
        chain: tuple[Certificate, ...] = ()
        if isinstance(exc, ssl.SSLCertVerificationError):
            chain = tuple(_certificate(der) for der in _peer_chain(obj))
        return _Handshake(ok=False, failure=failure, chain=chain)
    cipher = obj.cipher()
    return _Handshake(
        ok=True,
        version=obj.version(),
        cipher=cipher[0] if cipher else None,
        chain=tuple(_certificate(der) for der in _peer_chain(obj)),
    )


_VERIFY_FAILURES = frozenset({SSL_UNKNOWN_AUTHORITY, SSL_INVALID_HOSTNAME, SSL_INVALID_CERTIFICATE})


# --- HTTP ------------------------------------------------------------------------------------


class _Body:
    """Collects at most ``limit`` bytes of body, inflating gzip/deflate with the same bound.

    A 1 KiB gzip bomb can inflate to gigabytes; ``decompress(max_length=...)`` never produces
    more than asked, so memory stays bounded whatever the server sends.
    """

    def __init__(self, content_encoding: str, limit: int) -> None:
        self.limit = limit
        self.raw = bytearray()
        self.decoded = bytearray()
        self.truncated = False
        encoding = content_encoding.strip().lower()
        self._inflater: zlib._Decompress | None = None
        self._deflate = encoding == "deflate"
        if encoding in ("gzip", "x-gzip"):
            self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif self._deflate:
            self._inflater = zlib.decompressobj()
        self._decoding = self._inflater is not None

    def feed(self, chunk: bytes) -> bool:
        """Take one chunk off the wire; True when enough has been read."""
        room = self.limit - len(self.raw)
        if len(chunk) > room:
            chunk = chunk[:room]
            self.truncated = True
        self.raw += chunk
        if self._decoding and self._inflater is not None:
            try:
                self._inflate(chunk)
            except zlib.error:
                if self._deflate and not self.decoded and len(self.raw) == len(chunk):
                    self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate
                    try:
                        self._inflate(bytes(self.raw))
                    except zlib.error:
                        self._decoding = False
                else:
                    self._decoding = False
        return self.truncated

    def _inflate(self, chunk: bytes) -> None:
        assert self._inflater is not None
        room = self.limit - len(self.decoded)
        out = self._inflater.decompress(chunk, room) if room > 0 else b""
        self.decoded += out
        if self._inflater.unconsumed_tail or (room <= 0 and chunk):
            self.truncated = True

    @property
    def content(self) -> bytes:
        return bytes(self.decoded if self._decoding else self.raw)


_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_TITLE_RE = re.compile(r"<title[^>]*>(.*?)(?:</title|<|$)", re.I | re.S)


def _charset(content_type: str, head: bytes) -> str:
    """Header charset, else a ``<meta charset>`` in the first KiB, else UTF-8.

    Many Kazakh and Russian sites still serve windows-1251; guessing UTF-8 would turn their
    titles (and blockpage text) into replacement characters.
    """
    candidates: list[str] = []
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            candidates.append(value.strip().strip("\"'"))
    match = _CHARSET_RE.search(head[:_TITLE_WINDOW])
    if match:
        candidates.append(match.group(1).decode("ascii", "replace"))
    for name in candidates:
        try:
            b"".decode(name)  # refuses bytes-to-bytes codecs a server might name (rot13, zlib)
            return codecs.lookup(name).name
        except LookupError:
            continue
    return "utf-8"


def _title(content_type: str, body: bytes, charset: str) -> str | None:
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind and "html" not in kind:
        return None
    match = _TITLE_RE.search(body[:_TITLE_WINDOW].decode(charset, "replace"))
    if not match:
        return None
    title = " ".join(html.unescape(match.group(1)).split())
    return title[:512] or None


@dataclass
class _Hop:
    """An HTTP hop being measured; filled in as bytes arrive so a timeout keeps what we saw."""

    url: str
    started: float = field(default_factory=time.perf_counter)
    status: int | None = None
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = ""
    body: _Body | None = None
    failure: str | None = None

    def record(self) -> HttpResponse:
        if self.body is None:
            return HttpResponse(
                url=self.url,
                status=self.status,
                headers=self.headers,
                failure=self.failure,
                duration_ms=_ms(self.started),
            )
        content = self.body.content
        charset = _charset(self.content_type, content)
        return HttpResponse(
            url=self.url,
            status=self.status,
            headers=self.headers,
            title=_title(self.content_type, content, charset),
            body_length=len(content),
            body_sha256=hashlib.sha256(content).hexdigest(),
            body_sample=content[:_SAMPLE_WINDOW].decode(charset, "replace"),
            # A failure mid-body means we did not get all of it either.
            body_truncated=self.body.truncated or self.failure is not None,
            failure=self.failure,
            duration_ms=_ms(self.started),
        )


# --- one measurement -------------------------------------------------------------------------


@dataclass
class _State:
    """Everything one measurement has observed so far; per measurement, never shared."""

    dns: list[DnsQuery] = field(default_factory=list)
    tcp: dict[int, TcpConnect] = field(default_factory=dict)
    tls: dict[int, TlsHandshake] = field(default_factory=dict)
    http: list[HttpResponse] = field(default_factory=list)
    flow_failures: dict[int, str] = field(default_factory=dict)
    chosen: str | None = None
    decided: asyncio.Event = field(default_factory=asyncio.Event)
    pending_flows: int = 0
    current_hop: _Hop | None = None
    # host -> (address, failure) for hosts a redirect led to, so loops resolve them once
    redirect_addresses: dict[str, tuple[str | None, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Options:
    target: _Target | None
    resolvers: tuple[_Resolver, ...]
    timeout: float
    max_body: int
    max_redirects: int
    pins: dict[str, tuple[str, ...]]
    ca: tuple[str, int] | None
    address_filter: Callable[[str], bool]
    deadline: float

    @property
    def site(self) -> _Target:
        assert self.target is not None, "options are completed with a URL before measuring"
        return self.target

    def step_deadline(self) -> float:
        return min(asyncio.get_running_loop().time() + self.timeout, self.deadline)


async def measure(
    url: str,
    *,
    vantage: Vantage,
    resolvers: Sequence[str] = ("system",),
    timeout: float = 10.0,
    max_body: int = 1 << 20,
    max_redirects: int = 10,
    connect_addresses: Mapping[str, Sequence[str]] | None = None,
    ca_file: str | os.PathLike[str] | None = None,
    address_filter: Callable[[str], bool] = allowed_by_default,
) -> Measurement:
    """Measure one URL from ``vantage``: DNS, then TCP/TLS to every address and HTTP.

    ``timeout`` bounds each step (one DNS query, one connect, one handshake, one HTTP hop);
    the whole measurement is capped at 3 × ``timeout``. ``connect_addresses`` maps a hostname
    to the addresses to use *instead of resolving it* (tests, labs, a known origin): no DNS
    query is made for a pinned host. ``ca_file`` adds a CA to the system trust store (a lab
    CA). ``address_filter`` decides which *resolved* addresses may be connected to; the default
    refuses loopback, as OONI does. Invalid arguments raise :class:`InvalidInput`; network
    trouble never raises, it is recorded.
    """
    target = _parse_url(url)
    options = _shared_options(
        resolvers, timeout, max_body, max_redirects, connect_addresses, ca_file, address_filter
    )
    return await _measure(replace(options, target=target), vantage)


def _shared_options(
    resolvers: Sequence[str],
    timeout: float,
    max_body: int,
    max_redirects: int,
    connect_addresses: Mapping[str, Sequence[str]] | None,
    ca_file: str | os.PathLike[str] | None,
    address_filter: Callable[[str], bool],
) -> _Options:
    """Validate everything but the URL (once per batch, not once per URL)."""
    _check_limits(timeout, max_body, max_redirects)
    if isinstance(resolvers, str):
        resolvers = (resolvers,)
    specs = tuple(dict.fromkeys(_parse_resolver(r) for r in resolvers))
    if not specs:
        raise InvalidInput.single("resolvers", "required", "at least one resolver is needed")
    ca = _ca_key(ca_file)
    try:
        _verifying_context(ca, True)  # a broken lab CA file is the caller's mistake: say so now
    except (OSError, ssl.SSLError) as exc:
        raise InvalidInput.single("ca_file", "pem", f"not a usable CA file: {exc}") from None
    return _Options(
        target=None,
        resolvers=specs,
        timeout=float(timeout),
        max_body=max_body,
        max_redirects=max_redirects,
        pins=_pins(connect_addresses),
        ca=ca,
        address_filter=address_filter,
        deadline=0.0,  # set when the measurement starts
    )


def _check_limits(timeout: float, max_body: int, max_redirects: int) -> None:
    problems: list[FieldProblem] = []
    if not timeout > 0:
        problems.append(FieldProblem("timeout", "positive", "the timeout must be positive"))
    if max_body < 0:
        problems.append(FieldProblem("max_body", "non_negative", "max_body cannot be negative"))
    if max_redirects < 0:
        problems.append(
            FieldProblem("max_redirects", "non_negative", "max_redirects cannot be negative")
        )
    if problems:
        raise InvalidInput(problems)


def _pins(connect_addresses: Mapping[str, Sequence[str]] | None) -> dict[str, tuple[str, ...]]:
    pins: dict[str, tuple[str, ...]] = {}
    for host, addresses in (connect_addresses or {}).items():
        if isinstance(addresses, str):
            addresses = (addresses,)
        try:
            ips = tuple(str(ipaddress.ip_address(a)) for a in addresses)
        except ValueError:
            raise InvalidInput.single(
                "connect_addresses", "ip", f"addresses for {host!r} must be IP addresses"
            ) from None
        if not ips:
            raise InvalidInput.single(
                "connect_addresses", "required", f"no address given for {host!r}"
            )
        pins[_ascii_host(host)] = ips
    return pins


async def _measure(options: _Options, vantage: Vantage) -> Measurement:
    loop = asyncio.get_running_loop()
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    deadline = loop.time() + options.timeout * _DEADLINE_FACTOR
    options = replace(options, deadline=deadline)
    state = _State()
    try:
        # Every step is bounded by the deadline already; this is the net under the net, so
        # that a bug or a stuck close can never hold a batch hostage.
        async with asyncio.timeout_at(deadline + _CLOSE_GRACE):
            await _run(options, state)
    except TimeoutError:
        if state.current_hop is not None:
            state.current_hop.failure = state.current_hop.failure or GENERIC_TIMEOUT
            state.http.append(state.current_hop.record())
            state.current_hop = None
    return Measurement(
        url=options.site.url,
        vantage=vantage,
        started_at=started_at,
        dns=tuple(state.dns),
        tcp=tuple(state.tcp[i] for i in sorted(state.tcp)),
        tls=tuple(state.tls[i] for i in sorted(state.tls)),
        http=tuple(state.http),
        duration_ms=_ms(started),
    )


async def _run(options: _Options, state: _State) -> None:
    target = options.site
    addresses: tuple[str, ...]
    filtered: tuple[str, ...]
    if target.host in options.pins:
        addresses = filtered = options.pins[target.host]
    elif _is_ip(target.host):
        addresses = filtered = (str(ipaddress.ip_address(target.host)),)
    else:
        deadline = options.step_deadline()
        queries = await asyncio.gather(
            *(_resolve(target.host, spec, deadline) for spec in options.resolvers)
        )
        state.dns.extend(queries)
        addresses = tuple(dict.fromkeys(ip for q in queries for ip in q.answers))
        filtered = tuple(ip for ip in addresses if options.address_filter(ip))

    if not filtered:
        # Nothing to connect to: the HTTP experiment fails the way the DNS step did, as in
        # OONI's classic Web Connectivity (http_experiment_failure = dns_nxdomain_error).
        failure = (
            DNS_BOGON
            if addresses
            else next((q.failure for q in state.dns if q.failure), DNS_NO_ANSWER)
        )
        state.http.append(HttpResponse(url=target.url, failure=failure, duration_ms=0.0))
        return

    state.pending_flows = len(filtered)
    limit = asyncio.Semaphore(_PARALLEL_CONNECTS)
    async with asyncio.TaskGroup() as group:
        for index, ip in enumerate(filtered):
            group.create_task(_flow(options, state, index, ip, limit))
        group.create_task(_http(options, state))


async def _flow(
    options: _Options, state: _State, index: int, ip: str, limit: asyncio.Semaphore
) -> None:
    """TCP, then TLS on the same socket for https; tells the HTTP step when one address works."""
    target = options.site
    success = False
    try:
        async with limit:
            tcp, sock = await _tcp_connect(ip, target.port, options.step_deadline())
            state.tcp[index] = tcp
            if sock is None:
                state.flow_failures[index] = tcp.failure or CONNECTION_REFUSED
                return
            if target.scheme == "http":
                sock.close()
                success = True
                return
            started = time.perf_counter()
            try:
                context = _verifying_context(options.ca, True)
                shake = await _tls_handshake(sock, context, target.host, options.step_deadline())
            finally:
                sock.close()
            duration = _ms(started)
            if shake.failure in _VERIFY_FAILURES and not shake.chain:
                shake = await _capture_presented(options, ip, shake)
            state.tls[index] = TlsHandshake(
                ip=ip,
                port=target.port,
                sni=target.host,
                ok=shake.ok,
                failure=shake.failure,
                version=shake.version,
                cipher=shake.cipher,
                chain=shake.chain,
                duration_ms=duration,
            )
            success = shake.ok
            if not shake.ok:
                state.flow_failures[index] = shake.failure or SSL_FAILED_HANDSHAKE
    finally:
        state.pending_flows -= 1
        if success and state.chosen is None:
            state.chosen = ip
            state.decided.set()
        if state.pending_flows == 0:
            state.decided.set()


async def _capture_presented(options: _Options, ip: str, failed: _Handshake) -> _Handshake:
    """Verification failed and the chain could not be read: reconnect once without
    verification to record which certificate the server (or the interceptor) presents."""
    _, sock = await _tcp_connect(ip, options.site.port, options.step_deadline())
    if sock is None:
        return failed
    try:
        seen = await _tls_handshake(
            sock, _capturing_context(), options.site.host, options.step_deadline()
        )
    finally:
        sock.close()
    if not seen.ok:
        return failed
    return _Handshake(
        ok=False, failure=failed.failure, version=seen.version, cipher=seen.cipher, chain=seen.chain
    )


async def _http(options: _Options, state: _State) -> None:
    """Fetch the URL hop by hop over its own connections, like OONI's classic HTTP step."""
    await state.decided.wait()
    target = options.site
    if state.chosen is None:
        # No address connected: an HTTP attempt would only repeat the same timeouts and
        # resets, so the experiment fails with the first address's failure, without retrying.
        failures = [state.flow_failures[i] for i in sorted(state.flow_failures)]
        failure = failures[0] if failures else GENERIC_TIMEOUT
        state.http.append(HttpResponse(url=target.url, failure=failure, duration_ms=0.0))
        return
    client = httpx.AsyncClient(
        verify=_verifying_context(options.ca, False),
        trust_env=False,  # measure the network itself, never through a configured proxy
        follow_redirects=False,
        timeout=httpx.Timeout(options.timeout),
    )
    jar = httpx.Cookies()  # redirect chains that set a cookie and loop back need it
    url = target.url
    try:
        for hop_number in range(options.max_redirects + 1):
            next_url = await _hop(options, state, client, jar, url)
            if next_url is None:
                return
            url = next_url
            if hop_number == options.max_redirects:
                state.http.append(
                    HttpResponse(url=url, failure=TOO_MANY_REDIRECTS, duration_ms=0.0)
                )
    finally:
        try:
            async with asyncio.timeout(_CLOSE_GRACE):
                await client.aclose()
        except Exception:  # closing after a hostile exchange may fail; the data is in
            pass


async def _hop(
    options: _Options, state: _State, client: httpx.AsyncClient, jar: httpx.Cookies, url: str
) -> str | None:
    """One request; returns the next URL when this hop is a redirect to follow."""
    hop = _Hop(url=url)
    state.current_hop = hop
    response: httpx.Response | None = None
    location: str | None = None
    try:
        async with asyncio.timeout_at(options.step_deadline()):
            request = await _request(options, state, jar, url)
            response = await client.send(request, stream=True)
            hop.status = response.status_code
            hop.headers = tuple(
                (k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw
            )
            hop.content_type = response.headers.get("content-type", "")
            location = response.headers.get("location")
            _keep_cookies(jar, url, response)
            hop.body = _Body(response.headers.get("content-encoding", ""), options.max_body)
            if options.max_body == 0:
                hop.body.truncated = True
            else:
                async for chunk in response.aiter_raw():
                    if hop.body.feed(chunk):
                        break
    except _Refused as refused:
        hop.failure = refused.failure
    except Exception as exc:
        hop.failure = classify_failure(exc)
    finally:
        if response is not None:
            try:
                async with asyncio.timeout(_CLOSE_GRACE):
                    await response.aclose()
            except Exception:  # a peer that misbehaves on close changes nothing we measured
                pass
    state.current_hop = None
    state.http.append(hop.record())
    if hop.failure is not None or hop.status not in _REDIRECT_STATUSES or not location:
        return None
    next_url = urljoin(url, location.strip())
    if urlsplit(next_url).scheme.lower() not in ("http", "https"):
        return None  # e.g. a redirect to tg:// — the web part of the chain ends here
    return next_url


class _Refused(Exception):
    """A redirect we will not follow to the network; ``failure`` says why, in OONI's words."""

    def __init__(self, failure: str) -> None:
        super().__init__(failure)
        self.failure = failure


async def _request(options: _Options, state: _State, jar: httpx.Cookies, url: str) -> httpx.Request:
    """A request for ``url`` sent to an address this measurement chose and vetted.

    The URL carries the IP; Host and SNI carry the name, so the server (and any filter in
    between) sees exactly what a browser would send, while we decide where it goes — httpx
    never resolves anything itself, so a redirect cannot smuggle the probe to 127.0.0.1.
    """
    try:
        hop = _parse_url(url, "location")
    except InvalidInput:
        raise _Refused(HTTP_INVALID_REDIRECT) from None
    ip = await _address_for(options, state, hop.host)
    logical = httpx.Request("GET", url)
    jar.set_cookie_header(logical)
    headers = dict(_REQUEST_HEADERS)
    if "cookie" in logical.headers:
        headers["Cookie"] = logical.headers["cookie"]
    headers["Host"] = hop.host_header
    path = hop.parts.path or "/"
    wire_url = urlunsplit((hop.scheme, _host_header(ip, hop.port), path, hop.parts.query, ""))
    extensions = {"sni_hostname": hop.host} if hop.scheme == "https" else {}
    return httpx.Request("GET", wire_url, headers=headers, extensions=extensions)


async def _address_for(options: _Options, state: _State, host: str) -> str:
    """Where to send a request for ``host``: the measured address for the URL's own host, a
    pinned one, or — for a redirect elsewhere — the first allowed answer of the first
    resolver (that query is recorded too, with its own hostname, as OONI records it)."""
    if host == options.site.host and state.chosen is not None:
        return state.chosen
    if host in options.pins:
        return options.pins[host][0]
    if host not in state.redirect_addresses:
        if _is_ip(host):
            answers: tuple[str, ...] = (str(ipaddress.ip_address(host)),)
            failure: str | None = None
        else:
            query = await _resolve(host, options.resolvers[0], options.step_deadline())
            state.dns.append(query)
            answers, failure = query.answers, query.failure
        allowed = [ip for ip in answers if options.address_filter(ip)]
        state.redirect_addresses[host] = (
            allowed[0] if allowed else None,
            failure or DNS_BOGON,
        )
    ip, failure = state.redirect_addresses[host]
    if ip is None:
        raise _Refused(failure)
    return ip


def _keep_cookies(jar: httpx.Cookies, url: str, response: httpx.Response) -> None:
    if "set-cookie" not in response.headers:
        return
    logical = httpx.Response(
        response.status_code, headers=response.headers, request=httpx.Request("GET", url)
    )
    jar.extract_cookies(logical)


# --- many measurements -----------------------------------------------------------------------


async def measure_many(
    urls: Iterable[str],
    *,
    concurrency: int = 32,
    vantage: Vantage,
    resolvers: Sequence[str] = ("system",),
    timeout: float = 10.0,
    max_body: int = 1 << 20,
    max_redirects: int = 10,
    connect_addresses: Mapping[str, Sequence[str]] | None = None,
    ca_file: str | os.PathLike[str] | None = None,
    address_filter: Callable[[str], bool] = allowed_by_default,
) -> list[Measurement]:
    """Measure many URLs, at most ``concurrency`` at a time; results in input order.

    All URLs are validated before anything is sent, so a typo in item 500 fails the batch at
    once rather than after minutes of measuring.
    """
    if concurrency < 1:
        raise InvalidInput.single("concurrency", "positive", "concurrency must be at least 1")
    shared = _shared_options(
        resolvers, timeout, max_body, max_redirects, connect_addresses, ca_file, address_filter
    )
    items = list(urls)
    problems: list[FieldProblem] = []
    prepared: list[_Options] = []
    for position, url in enumerate(items):
        try:
            prepared.append(replace(shared, target=_parse_url(url)))
        except InvalidInput as exc:
            problems.extend(
                FieldProblem(p.field, p.rule, f"item {position} ({url!r}): {p.message}", p.allowed)
                for p in exc.problems
            )
    if problems:
        raise InvalidInput(problems)
    results: list[Measurement | None] = [None] * len(prepared)
    queue = iter(enumerate(prepared))

    async def worker() -> None:
        # A fixed pool of workers rather than one task per URL: a batch of 100 000 URLs
        # costs ``concurrency`` tasks, not 100 000.
        for position, options in queue:
            results[position] = await _measure(options, vantage)

    async with asyncio.TaskGroup() as group:
        for _ in range(min(concurrency, len(prepared))):
            group.create_task(worker())
    return [m for m in results if m is not None]
