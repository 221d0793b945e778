"""What one measurement of one URL from one vantage point observed, layer by layer.

The shape follows OONI's Web Connectivity test keys (DNS queries, TCP connects, TLS
handshakes, HTTP requests, and a control taken outside the censored network) so that public
OONI measurements and Qorgau's own probes land in the same structure and are classified by the
same code. Plain frozen dataclasses: no I/O here, nothing about databases or HTTP servers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


@dataclass(frozen=True)
class Vantage:
    """Where a measurement was taken: the probe's network, as configured or detected."""

    agent_id: str | None = None
    country: str | None = None  # ISO 3166 alpha-2, e.g. "KZ"
    asn: str | None = None  # "AS9198"
    network_name: str | None = None  # "Kazakhtelecom"
    is_control: bool = False


@dataclass(frozen=True)
class DnsQuery:
    hostname: str
    resolver: str  # "system", or "udp://1.1.1.1:53", "https://dns.example/dns-query"
    answers: tuple[str, ...] = ()  # IP addresses (A and AAAA) in answer order
    cnames: tuple[str, ...] = ()
    failure: str | None = None  # "dns_nxdomain_error", "generic_timeout_error", ...
    duration_ms: float | None = None


@dataclass(frozen=True)
class TcpConnect:
    ip: str
    port: int
    ok: bool
    failure: str | None = None  # "connection_refused", "connection_reset", "generic_timeout_error"
    duration_ms: float | None = None


@dataclass(frozen=True)
class Certificate:
    sha256: str  # of the DER
    subject: str
    issuer: str
    not_before: datetime | None = None
    not_after: datetime | None = None
    san: tuple[str, ...] = ()


@dataclass(frozen=True)
class TlsHandshake:
    ip: str | None
    port: int
    sni: str
    ok: bool
    failure: str | None = (
        None  # "connection_reset", "generic_timeout_error", "ssl_unknown_authority"...
    )
    version: str | None = None
    cipher: str | None = None
    chain: tuple[Certificate, ...] = ()  # leaf first
    duration_ms: float | None = None


@dataclass(frozen=True)
class HttpResponse:
    url: str
    status: int | None = None
    headers: tuple[tuple[str, str], ...] = ()
    title: str | None = None
    body_length: int | None = None
    body_sha256: str | None = None
    body_sample: str | None = None  # the first few KiB as text, for blockpage matching
    body_truncated: bool = False
    failure: str | None = None
    duration_ms: float | None = None


@dataclass(frozen=True)
class Control:
    """The same target measured from outside the censored network at the same time."""

    dns_answers: tuple[str, ...] = ()
    dns_failure: str | None = None
    tcp: tuple[TcpConnect, ...] = ()
    tls: tuple[TlsHandshake, ...] = ()
    http: HttpResponse | None = None
    failure: str | None = None  # the control itself could not be taken


@dataclass(frozen=True)
class Measurement:
    url: str
    vantage: Vantage
    started_at: datetime
    dns: tuple[DnsQuery, ...] = ()
    tcp: tuple[TcpConnect, ...] = ()
    tls: tuple[TlsHandshake, ...] = ()
    http: tuple[HttpResponse, ...] = ()  # each hop of the redirect chain, final last
    control: Control | None = None
    duration_ms: float | None = None
    source: str = "qorgau"  # "qorgau" | "ooni"
    source_id: str | None = None  # OONI measurement uid / report id, or the agent's id


class VerdictKind(StrEnum):
    ACCESSIBLE = "accessible"
    DNS_TAMPERING = "dns_tampering"
    TCP_IP_BLOCKING = "tcp_ip_blocking"
    TLS_INTERFERENCE = "tls_interference"
    HTTP_BLOCKPAGE = "http_blockpage"
    HTTP_DIFF = "http_diff"
    DOWN_EVERYWHERE = "down_everywhere"
    THROTTLING = "throttling"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Verdict:
    kind: VerdictKind
    confirmed: bool = False  # a known blockpage / DNS answer fingerprint matched
    evidence: tuple[str, ...] = ()  # human-readable reasons, in the order they were found
    fingerprint: str | None = None  # which fingerprint matched
    details: dict[str, str] = field(default_factory=dict)
