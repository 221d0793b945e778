"""Decide what a measurement shows: blocking (and how), an outage, throttling, or nothing.

The logic is OONI's Web Connectivity analysis — compare what the probe saw inside the country
with a control taken outside, layer by layer: DNS, TCP, TLS, HTTP — extended with what a case
desk in Kazakhstan needs:

* fingerprints confirm a verdict (a known blocking DNS answer, a known blockpage, a certificate
  of a known interception authority such as Kazakhstan's ISCA);
* TLS interference is its own verdict, since that is how Kazakh ISPs block (OONI folds it into
  "http-failure");
* an outage seen from the control too is DOWN_EVERYWHERE — the answer to "is it blocking or is
  the site just down / under DDoS?" — with both sides' errors as evidence; a site that answers
  everyone with a server error (502/503/504 from an overloaded front end) is down too;
* throttling: everything works but far more slowly than from the control;
* every verdict carries ``evidence`` lines written for a journalist, each a fact from the
  measurement ("the system resolver answered 10.10.34.36 …", "the control connected").

What the rules deliberately share with OONI (so that our verdicts can be checked against OONI's
on public data, see ``compare``): DNS answers count as tampered only when something else is
wrong too (a failed connection, a different page) unless they are private addresses or a known
fingerprint; a page fetched over verified HTTPS is the site's own page; failures of IPv6
connections with "network/host unreachable" mean the probe has no IPv6, not blocking; the
HTTP-diff test is OONI's (status code equal AND one of body length within 70 %, uncommon
headers shared, long title words shared).

No network access, no clock: a pure function of the measurement and the fingerprints.
"""

from __future__ import annotations

import ipaddress
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from qorgau.monitor.fingerprints import Fingerprints
from qorgau.monitor.model import (
    Control,
    DnsQuery,
    HttpResponse,
    Measurement,
    TcpConnect,
    TlsHandshake,
    Verdict,
    VerdictKind,
)
from qorgau.monitor.ooni import hostname_of

# Throttling thresholds. The control sits abroad, so a fetch from Kazakhstan is routinely two to
# five times slower than the control's for reasons that have nothing to do with censorship
# (distance, a congested uplink, a CDN edge far away); ten times rules that out. The absolute
# minimum keeps a fast site from being flagged for going from 50 ms to 600 ms, which nobody
# notices. OONI's report on the 2022 Kazakh election found throttled news sites' TLS handshakes
# taking a median of 2-4 s against a same-network baseline far below a second; 3 s sits there.
DEFAULT_THROTTLE_FACTOR = 10.0
DEFAULT_THROTTLE_MIN_MS = 3000.0

BODY_PROPORTION_FACTOR = 0.7  # OONI: body lengths "match" when the smaller is > 70 % of the larger
TITLE_MIN_WORD = 5  # OONI compares title words of at least five characters

# Headers every server sends; sharing them says nothing about being the same site (OONI's list).
COMMON_HEADERS = frozenset(
    {
        "date", "content-type", "server", "cache-control", "vary", "set-cookie", "location",
        "expires", "x-powered-by", "content-encoding", "last-modified", "accept-ranges",
        "pragma", "x-frame-options", "etag", "x-content-type-options", "age", "via", "p3p",
        "x-xss-protection", "content-language", "cf-ray", "strict-transport-security", "link",
        "x-varnish",
    }
)  # fmt: skip

_FAILURE_WORDS = {
    "dns_nxdomain_error": "the name does not exist (NXDOMAIN)",
    "dns_name_error": "the name does not exist (NXDOMAIN)",
    "dns_no_answer": "no address in the answer",
    "dns_lookup_error": "the name could not be resolved",
    "android_dns_cache_no_data": "no data from the Android resolver",
    "dns_server_failure": "the resolver reported a failure (SERVFAIL)",
    "dns_refused_error": "the resolver refused the query",
    "generic_timeout_error": "timed out",
    "connection_reset": "the connection was reset",
    "connection_refused": "the connection was refused",
    "connection_refused_error": "the connection was refused",
    "connect_error": "could not connect",
    "eof_error": "the connection was closed before it completed",
    "network_unreachable": "no route (network unreachable)",
    "host_unreachable": "no route (host unreachable)",
    "ssl_invalid_hostname": "the certificate is for another name",
    "ssl_unknown_authority": "the certificate comes from an untrusted authority",
    "ssl_invalid_certificate": "the certificate is invalid (expired, say)",
}
_NXDOMAIN = ("dns_nxdomain_error", "dns_name_error")
_INTERFERENCE_FAILURES = ("connection_reset", "generic_timeout_error", "eof_error")
_CERT_FAILURES = ("ssl_invalid_hostname", "ssl_unknown_authority", "ssl_invalid_certificate")
_IPV6_NOISE = ("network_unreachable", "host_unreachable")


def classify(
    m: Measurement,
    fingerprints: Fingerprints,
    *,
    throttle_factor: float = DEFAULT_THROTTLE_FACTOR,
    throttle_min_ms: float = DEFAULT_THROTTLE_MIN_MS,
) -> Verdict:
    """The verdict for ``m``; see the module docstring for the rules and their order."""
    if not (m.dns or m.tcp or m.tls or m.http):
        return _verdict(
            VerdictKind.INCONCLUSIVE,
            ["the measurement holds no DNS lookup, connection or HTTP fetch to judge from"],
            missing="observations",
        )
    f = _Facts(m)
    for rule in (_confirmed_dns, _confirmed_certificate):
        verdict = rule(f, fingerprints)
        if verdict is not None:
            return verdict
    blockpage = _confirmed_blockpage(f, fingerprints)
    if f.control is None:
        return blockpage or _without_control(f, fingerprints)
    dns = _dns_step(f)
    if blockpage is not None:
        # A known blockpage served from an address the resolver made up: DNS is the mechanism,
        # the blockpage its confirmation.
        if dns is not None or (f.inconsistent and blockpage.details.get("hop") == "0"):
            lead = list(dns.evidence) if dns is not None else [*f.notes]
            return _verdict(
                VerdictKind.DNS_TAMPERING,
                [*lead, *blockpage.evidence],
                confirmed=True,
                fingerprint=blockpage.fingerprint,
                stage="dns",
            )
        return blockpage
    if dns is not None:
        return dns
    for step in (_tcp_step, _tls_step, _interception_step):
        verdict = step(f)
        if verdict is not None:
            return verdict
    return _http_step(f, fingerprints, throttle_factor, throttle_min_ms)


def ooni_equivalent(verdict: Verdict) -> str | bool | None:
    """The verdict in OONI's ``blocking`` vocabulary: "dns", "tcp_ip", "http-failure",
    "http-diff", ``False`` (not blocked: accessible or down everywhere) or ``None`` (OONI's null).

    OONI has no TLS or throttling category: TLS interference and a stalled download are
    "http-failure", as OONI's probe reports them; a connection failure after a redirect is
    "http-failure" too, because OONI's control only tests the first host's endpoints.
    """
    kind = verdict.kind
    if kind in (VerdictKind.ACCESSIBLE, VerdictKind.DOWN_EVERYWHERE):
        return False
    if kind == VerdictKind.INCONCLUSIVE:
        return None
    if kind == VerdictKind.DNS_TAMPERING:
        return "dns"
    if kind == VerdictKind.TCP_IP_BLOCKING:
        return "tcp_ip" if verdict.details.get("hop", "0") == "0" else "http-failure"
    if kind == VerdictKind.TLS_INTERFERENCE:
        return "http-failure"
    if kind == VerdictKind.HTTP_BLOCKPAGE:
        # OONI's probe names the fetch's outcome: a blockpage reached through a redirect it
        # could not follow is an "http-failure" to it.
        return "http-failure" if verdict.details.get("local_fetch") == "failed" else "http-diff"
    if kind == VerdictKind.HTTP_DIFF:
        return "http-failure" if "http_failure" in verdict.details else "http-diff"
    # THROTTLING
    return "http-failure" if verdict.details.get("local_fetch") == "failed" else False


def ooni_accessible_equivalent(verdict: Verdict) -> bool | None:
    """The verdict in OONI's ``accessible`` vocabulary (could the page be loaded at all?)."""
    kind = verdict.kind
    if kind == VerdictKind.ACCESSIBLE:
        return True
    if kind == VerdictKind.INCONCLUSIVE:
        return None
    if kind == VerdictKind.THROTTLING:
        return verdict.details.get("local_fetch") != "failed"
    return False


# ---------------------------------------------------------------------------------------------
# facts derived once per measurement


@dataclass
class _Facts:
    m: Measurement
    scheme: str = ""
    host: str = ""
    port: int = 0
    host_is_ip: bool = False
    control: Control | None = None
    missing_control: str = ""
    local: tuple[str, ...] = ()  # the addresses the probe's own resolver gave for the host
    resolver: str = "the system resolver"
    inconsistent: bool = False
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        m = self.m
        parts = urlsplit(m.url)
        self.scheme = parts.scheme.lower()
        self.host = hostname_of(m.url)
        try:
            explicit = parts.port
        except ValueError:
            explicit = None
        self.port = explicit or (443 if self.scheme == "https" else 80)
        self.host_is_ip = _is_ip(self.host)
        c = m.control
        if c is None:
            self.missing_control = "no control measurement was taken from outside the country"
        elif c.failure is not None:
            self.missing_control = f"the control measurement {_say(c.failure)}"
        else:
            self.control = c
        queries = self.local_queries(self.host)
        self.local = _unique(a for q in queries for a in q.answers)
        if queries:
            self.resolver = _resolver_label(queries[0].resolver)

    # -- DNS ---------------------------------------------------------------------------------

    def queries(self, host: str) -> list[DnsQuery]:
        return [q for q in self.m.dns if _norm_host(q.hostname) == host]

    def local_queries(self, host: str) -> list[DnsQuery]:
        """The lookups that reflect the user's resolver: the system's, else cleartext ones."""
        cleartext = [q for q in self.queries(host) if not _is_doh(q.resolver)]
        system = [q for q in cleartext if q.resolver == "system"]
        return system or cleartext

    def answers(self, host: str) -> tuple[str, ...]:
        if host == self.host:
            return self.local if not self.host_is_ip else (self.host,)
        if _is_ip(host):
            return (host,)
        return _unique(a for q in self.local_queries(host) for a in q.answers)

    def doh_answers(self, host: str) -> tuple[str, ...]:
        return _unique(a for q in self.queries(host) if _is_doh(q.resolver) for a in q.answers)

    def lookup_failure(self, host: str) -> str | None:
        """Why the local lookups gave no address (``None`` when they gave some)."""
        queries = self.local_queries(host)
        if any(q.answers for q in queries):
            return None
        failures = [q.failure for q in queries if q.failure]
        real = [x for x in failures if x != "dns_no_answer"]
        return (real or failures)[0] if failures else None

    # -- connections -------------------------------------------------------------------------

    def endpoints(self, host: str, port: int) -> list[TcpConnect]:
        addrs = set(self.answers(host))
        return [
            t
            for t in self.m.tcp
            if t.ip in addrs and t.port == port and not _ipv6_noise(t.ip, t.failure)
        ]

    def handshakes(self, host: str, port: int) -> list[TlsHandshake]:
        addrs = set(self.answers(host))
        return [
            h
            for h in self.m.tls
            if h.ip in addrs and h.port == port and (not h.sni or _norm_host(h.sni) == host)
        ]

    # -- control -----------------------------------------------------------------------------

    @property
    def c(self) -> Control:
        assert self.control is not None  # only called once the control is known to be usable
        return self.control

    def control_fetch_ok(self) -> bool:
        return (
            self.control is not None
            and self.control.http is not None
            and (self.control.http.failure is None)
        )

    def control_fetch_failed(self) -> bool:
        return (
            self.control is not None
            and self.control.http is not None
            and (self.control.http.failure is not None)
        )

    def control_page(self) -> str:
        h = self.c.http
        if h is None:
            return "the control took no HTTP fetch"
        if h.failure is not None:
            return f"the control's fetch {_say(h.failure)}"
        return f"the control loaded the page ({_page(h)})"


# ---------------------------------------------------------------------------------------------
# confirmed by a fingerprint


def _confirmed_dns(f: _Facts, fps: Fingerprints) -> Verdict | None:
    control_ips = set(f.control.dns_answers) if f.control else set()
    for q in f.m.dns:
        if _is_doh(q.resolver):
            continue  # encrypted lookups cannot be tampered with on the way
        for answer in (*q.answers, *q.cnames):
            name = fps.match_dns(answer)
            if name is None or answer in control_ips:
                continue
            fp = fps.get(name)
            evidence = [
                f"{_resolver_label(q.resolver)} answered {answer} for {q.hostname}, "
                f"a known blocking {'address' if _is_ip(answer) else 'name'}: "
                f"{fp.describe() if fp else name}"
            ]
            evidence += _consequences_of(f, [answer])
            if f.control is not None and f.control.dns_answers:
                evidence.append(
                    f"the control resolved {q.hostname} to {_list(f.control.dns_answers)}"
                )
            return _verdict(
                VerdictKind.DNS_TAMPERING, evidence, confirmed=True, fingerprint=name, stage="dns"
            )
    return None


def _confirmed_certificate(f: _Facts, fps: Fingerprints) -> Verdict | None:
    for h in f.m.tls:
        for position, cert in enumerate(h.chain):
            name = fps.match_certificate(cert)
            if name is None:
                continue
            fp = fps.get(name)
            which = (
                "the certificate" if position == 0 else f"certificate #{position + 1} of the chain"
            )
            evidence = [
                f"{which} presented for {h.sni or f.host} by {_ep(h.ip, h.port)} "
                f"(subject {cert.subject}, issuer {cert.issuer}) belongs to a known interception "
                f"authority: {fp.describe() if fp else name}"
            ]
            if h.ok:
                evidence.append(
                    "the handshake was accepted, so this device trusts that authority: the "
                    "traffic to the site can be read and changed in transit"
                )
            else:
                evidence.append(
                    f"the handshake {_say(h.failure)}, so the device does not trust that authority"
                )
            if f.control is not None:
                same = [c for c in f.control.tls if c.ip == h.ip and c.port == h.port]
                if any(c.ok for c in same):
                    evidence.append("the control's TLS handshake with the same address succeeded")
            return _verdict(
                VerdictKind.TLS_INTERFERENCE,
                evidence,
                confirmed=True,
                fingerprint=name,
                stage="tls",
                certificate_sha256=cert.sha256,
            )
    return None


def _confirmed_blockpage(f: _Facts, fps: Fingerprints) -> Verdict | None:
    chain = f.m.http
    for i, r in enumerate(chain):
        name = fps.match_http(r)
        if name is None:
            continue
        fp = fps.get(name)
        evidence = []
        if i > 0:
            evidence.append(f"{chain[i - 1].url} redirected to {r.url}")
        how = f" ({fp.location} {fp.pattern_type} {fp.pattern!r})" if fp else ""
        what = f": {fp.describe()}" if fp and fp.note else ""
        evidence.append(
            f"the response from {r.url} ({_page(r)}) matches the blockpage fingerprint "
            f"{name}{how}{what}"
        )
        final = chain[-1]
        if i < len(chain) - 1:
            evidence.append(
                f"the fetch ended at {final.url}: "
                + (_say(final.failure) if final.failure else _page(final))
            )
        if f.control is not None and f.control.http is not None:
            evidence.append(f.control_page() if f.control.failure is None else f.missing_control)
        return _verdict(
            VerdictKind.HTTP_BLOCKPAGE,
            evidence,
            confirmed=True,
            fingerprint=name,
            stage="http",
            hop=str(i),
            local_fetch="failed" if chain[-1].failure else "ok",
        )
    return None


# ---------------------------------------------------------------------------------------------
# without a control


def _without_control(f: _Facts, fps: Fingerprints) -> Verdict:
    chain = f.m.http
    if chain and all(_https_ok(r) for r in chain):
        final = chain[-1]
        return _verdict(
            VerdictKind.ACCESSIBLE,
            [
                f"{f.missing_control}, so there is nothing to compare with",
                f"but {final.url} loaded over HTTPS ({_page(final)}) with a certificate the probe "
                "verified, which a network in between cannot forge, and no known interception "
                "certificate was seen",
            ],
            stage="http",
            control="missing",
        )
    evidence = [f"{f.missing_control}: without it a failure here cannot be told from an outage"]
    evidence += _local_summary(f)
    return _verdict(VerdictKind.INCONCLUSIVE, evidence, missing="control")


def _local_summary(f: _Facts) -> list[str]:
    lines: list[str] = []
    if not f.host_is_ip:
        failure = f.lookup_failure(f.host)
        if f.local:
            bogons = [a for a in f.local if _is_bogon(a)]
            lines.append(f"{f.resolver} answered {_list(f.local)} for {f.host}")
            if bogons:
                lines.append(f"{_list(bogons)} is a private or reserved address")
        elif failure:
            lines.append(f"{f.resolver}'s lookup of {f.host} {_say(failure)}")
    if f.m.http:
        final = f.m.http[-1]
        if final.failure:
            lines.append(f"fetching {final.url} {_say(final.failure)}")
        else:
            lines.append(f"{final.url} answered {_page(final)}")
    return lines


# ---------------------------------------------------------------------------------------------
# with a control: DNS, TCP, TLS


def _dns_step(f: _Facts) -> Verdict | None:
    if f.host_is_ip:
        return None
    c = f.c
    control_ips = tuple(c.dns_answers)
    doh = f.doh_answers(f.host)
    cleartext = [q for q in f.queries(f.host) if not _is_doh(q.resolver)]

    bogon_lines = []
    bogon_addrs: list[str] = []
    for q in cleartext:
        for a in q.answers:
            if _is_bogon(a) and a not in control_ips and a not in bogon_addrs:
                bogon_addrs.append(a)
                bogon_lines.append(
                    f"{_resolver_label(q.resolver)} answered {a} for {f.host}: "
                    f"{_bogon_kind(a)}, which cannot serve a public website"
                )
    if bogon_lines:
        evidence = bogon_lines + _control_dns_lines(f, control_ips, doh)
        evidence += _consequences_of(f, bogon_addrs)
        return _verdict(VerdictKind.DNS_TAMPERING, evidence, stage="dns", dns="bogon")

    failure = f.lookup_failure(f.host)
    if not f.local and failure is not None and control_ips:
        evidence = [f"{f.resolver}'s lookup of {f.host} {_say(failure)}"]
        evidence += _control_dns_lines(f, control_ips, doh)
        if f.control_fetch_ok():
            evidence.append(f.control_page())
        return _verdict(VerdictKind.DNS_TAMPERING, evidence, stage="dns", dns="failure")

    if f.local and not control_ips and c.dns_failure in _NXDOMAIN:
        evidence = [
            f"the control's lookup of {f.host} {_say(c.dns_failure)}, yet {f.resolver} "
            f"answered {_list(f.local)}: an address made up by the resolver"
        ]
        doh_nx = [q for q in f.queries(f.host) if _is_doh(q.resolver) and q.failure in _NXDOMAIN]
        if doh_nx:
            evidence.append(
                f"a DNS-over-HTTPS lookup from the same network "
                f"({_resolver_label(doh_nx[0].resolver)}) also found no such name"
            )
        if f.m.http and f.m.http[-1].failure is None:
            evidence.append(f"that address served {_page(f.m.http[-1])}")
        return _verdict(VerdictKind.DNS_TAMPERING, evidence, stage="dns", dns="invented")

    if f.local and control_ips:
        shared = set(f.local) & set(control_ips)
        if not shared and not set(f.local) <= set(doh):
            # Not a verdict yet: CDNs answer differently by region. It becomes one when the
            # addresses we got then fail, or serve another page, while the control's work.
            f.inconsistent = True
            f.notes.append(
                f"{f.resolver} answered {_list(f.local)} for {f.host}, none of which the control "
                f"saw ({_list(control_ips)})"
            )
    return None


def _control_dns_lines(f: _Facts, control_ips: Sequence[str], doh: Sequence[str]) -> list[str]:
    c = f.c
    lines = []
    if control_ips:
        lines.append(f"the control resolved {f.host} to {_list(control_ips)}")
    elif c.dns_failure:
        lines.append(f"the control's lookup of {f.host} {_say(c.dns_failure)}")
    if doh and set(doh) & set(control_ips):
        lines.append(
            f"DNS-over-HTTPS from the same network answered {_list(doh)}, like the control"
        )
    return lines


def _tcp_step(f: _Facts) -> Verdict | None:
    eps = f.endpoints(f.host, f.port)
    if not eps or any(t.ok for t in eps):
        return None
    c = f.c
    failed = _tcp_lines(eps)
    keys = {(t.ip, t.port) for t in eps}
    same = [ct for ct in c.tcp if (ct.ip, ct.port) in keys]
    control_ok = [ct for ct in c.tcp if ct.ok and ct.port == f.port]
    if f.inconsistent:
        if control_ok or f.control_fetch_ok():
            evidence = [*f.notes, *failed]
            evidence.append(
                f"the control connected to {_ep(control_ok[0].ip, control_ok[0].port)}"
                if control_ok
                else f.control_page()
            )
            return _verdict(VerdictKind.DNS_TAMPERING, evidence, stage="dns", dns="inconsistent")
        return _down(f, [*f.notes, *failed], stage="tcp")
    if any(ct.ok for ct in same):
        ok = next(ct for ct in same if ct.ok)
        evidence = [*failed, f"the control connected to the same address {_ep(ok.ip, ok.port)}"]
        if f.control_fetch_ok():
            evidence.append(f.control_page())
        return _verdict(VerdictKind.TCP_IP_BLOCKING, evidence, stage="tcp", hop="0")
    if same or f.control_fetch_failed():
        extra = _tcp_lines(same, control=True)
        return _down(f, [*failed, *extra], stage="tcp")
    if f.control_fetch_ok():
        return _verdict(
            VerdictKind.TCP_IP_BLOCKING, [*failed, f.control_page()], stage="tcp", hop="0"
        )
    return None


def _tls_step(f: _Facts) -> Verdict | None:
    if f.scheme != "https":
        return None
    hs = f.handshakes(f.host, f.port)
    if not hs or any(h.ok for h in hs):
        return None
    c = f.c
    failed = _tls_lines(hs, f.host)
    keys = {(h.ip, h.port) for h in hs}
    same = [ch for ch in c.tls if (ch.ip, ch.port) in keys]
    control_ok = [ch for ch in c.tls if ch.ok]
    if f.inconsistent:
        if control_ok or f.control_fetch_ok():
            evidence = [*f.notes, *failed]
            evidence.append(
                "the control completed the TLS handshake with "
                f"{_ep(control_ok[0].ip, control_ok[0].port)}"
                if control_ok
                else f.control_page()
            )
            return _verdict(VerdictKind.DNS_TAMPERING, evidence, stage="dns", dns="inconsistent")
        extra = _tls_lines(same, f.host, control=True)
        return _down(f, [*f.notes, *failed, *extra], stage="tls")
    if any(ch.ok for ch in same) or (not same and f.control_fetch_ok()):
        evidence = [*failed, *_tls_meaning(hs)]
        ok = next((ch for ch in same if ch.ok), None)
        evidence.append(
            f"the control completed the TLS handshake with the same address {_ep(ok.ip, ok.port)}"
            if ok
            else f.control_page()
        )
        return _verdict(VerdictKind.TLS_INTERFERENCE, evidence, stage="tls", hop="0")
    if same or f.control_fetch_failed():
        extra = _tls_lines(same, f.host, control=True)
        return _down(f, [*failed, *extra], stage="tls")
    return None


def _tcp_lines(conns: Sequence[TcpConnect], *, control: bool = False) -> list[str]:
    who = "the control's" if control else ""
    return _grouped(
        f"{who} TCP connect to".strip(),
        f"{who} TCP connects to".strip(),
        [(_ep(t.ip, t.port), t.failure, t.duration_ms) for t in conns],
    )


def _tls_lines(hs: Sequence[TlsHandshake], host: str, *, control: bool = False) -> list[str]:
    who = "the control's" if control else "the"
    names = {h.sni or host for h in hs}
    suffix = f" for {_list(sorted(names))}"
    lines = _grouped(
        f"{who} TLS handshake with",
        f"{who} TLS handshakes with",
        [(_ep(h.ip, h.port), h.failure, h.duration_ms) for h in hs],
        suffix,
    )
    issuers = _unique(h.chain[0].issuer for h in hs if h.chain)
    if issuers:
        lines.append(f"the certificate offered was issued by {_list(issuers)}")
    return lines


def _grouped(
    one: str,
    many: str,
    items: Sequence[tuple[str, str | None, float | None]],
    suffix: str = "",
) -> list[str]:
    """One line per distinct outcome, so forty identical failures read as one fact."""
    groups: dict[str | None, list[tuple[str, float | None]]] = {}
    for endpoint, failure, ms in items:
        groups.setdefault(failure, []).append((endpoint, ms))
    lines = []
    for failure, members in groups.items():
        durations = [ms for _, ms in members if ms]
        took = _took(statistics.median(durations)) if durations else ""
        if len(members) == 1:
            lines.append(f"{one} {members[0][0]}{suffix} {_say(failure)}{took}")
        else:
            eps = _list(e for e, _ in members)
            lines.append(
                f"{many} {len(members)} addresses ({eps}){suffix} all {_say(failure)}{took}"
            )
    return lines


def _tls_meaning(hs: Sequence[TlsHandshake]) -> list[str]:
    failures = {h.failure for h in hs}
    if failures & set(_INTERFERENCE_FAILURES):
        return [
            "a handshake cut off after the probe named the site (the TLS ClientHello carries the "
            "name in clear) is how SNI-based filtering, the method OONI documented in "
            "Kazakhstan, looks from the user's side"
        ]
    if failures & set(_CERT_FAILURES):
        return [
            "a certificate the device does not accept, while the control's is fine, is what "
            "interception of HTTPS (a man in the middle) looks like"
        ]
    return []


def _interception_step(f: _Facts) -> Verdict | None:
    """A successful handshake whose chain shares nothing with the control's for the same name.

    Only for measurements whose control recorded certificates (Qorgau's own probes; OONI's
    control does not). A CDN may legitimately use several authorities, so both the certificates
    and the issuing organisations must differ before this counts.
    """
    if f.scheme != "https":
        return None
    control_chains = [ch for ch in f.c.tls if ch.ok and ch.chain]
    if not control_chains:
        return None
    for h in f.handshakes(f.host, f.port):
        if not (h.ok and h.chain):
            continue
        peers = [
            ch
            for ch in control_chains
            if _norm_host(ch.sni or f.host) == _norm_host(h.sni or f.host)
        ]
        if not peers:
            continue
        ours = {c.sha256 for c in h.chain}
        theirs = {c.sha256 for ch in peers for c in ch.chain}
        our_orgs = {_organisation(h.chain[0].issuer)}
        their_orgs = {_organisation(ch.chain[0].issuer) for ch in peers}
        if ours & theirs or our_orgs & their_orgs:
            continue
        evidence = [
            f"the certificate presented for {h.sni or f.host} by {_ep(h.ip, h.port)} was issued "
            f"by {h.chain[0].issuer}",
            f"the control was given a different certificate, issued by {peers[0].chain[0].issuer}",
            "no certificate of the two chains is the same: something between the user and the "
            "site replaced the site's certificate (HTTPS interception)",
        ]
        return _verdict(
            VerdictKind.TLS_INTERFERENCE,
            evidence,
            stage="tls",
            certificate_sha256=h.chain[0].sha256,
        )
    return None


# ---------------------------------------------------------------------------------------------
# with a control: HTTP


def _http_step(f: _Facts, fps: Fingerprints, factor: float, min_ms: float) -> Verdict:
    chain = f.m.http
    if not chain:
        return _no_fetch(f)
    final = chain[-1]
    if final.failure is not None:
        return _failed_fetch(f, len(chain) - 1, final)
    c = f.c
    if _server_error(final) and c.http is not None and _server_error(c.http):
        # A site under a DDoS or in an outage still answers — with 502/503/504 from its front
        # end or CDN, to everyone. Loaded, yes; readable, no: down, not blocked.
        return _down(
            f,
            [
                f"{final.url} answered {_page(final)}",
                f"the control got {_page(c.http)}",
                "both are server errors: the site's own servers (or its CDN) fail to serve the "
                "page to anyone",
            ],
            stage="http",
        )
    if urlsplit(final.url).scheme.lower() == "https":
        evidence = [f"{final.url} loaded over HTTPS with a verified certificate ({_page(final)})"]
        if c.http is not None and c.http.failure is None and c.http.status != final.status:
            evidence.append(
                f"the control got status {c.http.status}; the difference comes from the site "
                "itself (a CAPTCHA, a regional page), since a verified HTTPS page cannot be "
                "replaced in transit"
            )
        if f.inconsistent:
            evidence.append(
                f"{f.notes[0]}; as the verified page loaded, these are other servers of the "
                "same site (a CDN)"
            )
        return _maybe_throttled(f, final, evidence, factor, min_ms)
    if c.http is None or c.http.failure is not None:
        if f.inconsistent:
            return _verdict(
                VerdictKind.INCONCLUSIVE,
                [*f.notes, f"{final.url} answered {_page(final)}", f.control_page()],
                missing="control page",
            )
        evidence = [f"{final.url} loaded ({_page(final)})", f.control_page()]
        return _maybe_throttled(f, final, evidence, factor, min_ms)
    diff = _http_diff(final, c.http)
    if not diff.differs:
        return _maybe_throttled(
            f, final, [f"{final.url} loaded ({_page(final)})", *diff.reasons], factor, min_ms
        )
    evidence = [f"{final.url} answered {_page(final)}; {f.control_page()}", *diff.reasons]
    benign = fps.match_false_positive(final)
    if f.inconsistent:
        return _verdict(
            VerdictKind.DNS_TAMPERING,
            [*f.notes, *evidence, "the addresses the resolver gave serve another page"],
            stage="dns",
            dns="inconsistent",
        )
    if benign is None and diff.looks_like_blockpage:
        evidence.append(
            "a short page with another title in place of the site is what an unrecognised "
            "blockpage looks like; no known fingerprint matched it"
        )
        return _verdict(VerdictKind.HTTP_BLOCKPAGE, evidence, stage="http", hop=str(len(chain) - 1))
    if benign is not None:
        fp = fps.get(benign)
        evidence.append(
            f"the page matches a known non-blocking page: {fp.describe() if fp else benign}"
        )
    return _verdict(VerdictKind.HTTP_DIFF, evidence, stage="http", hop=str(len(chain) - 1))


def _no_fetch(f: _Facts) -> Verdict:
    """No HTTP fetch was recorded: nothing was reachable, or the measurement stopped early."""
    lines = _local_summary(f)
    if not f.host_is_ip and f.local and all(_is_bogon(a) for a in f.local):
        lines.append(
            f"the control got the same answer, so {f.host} itself points to a private or loopback "
            "address and cannot be reached from anywhere"
        )
        return _down(f, lines, stage="dns")
    if not f.host_is_ip and not f.local:
        control_ips = f.c.dns_answers
        if not control_ips:
            lines.append(
                f"the control's lookup of {f.host} {_say(f.c.dns_failure)}"
                if f.c.dns_failure
                else f"the control found no address for {f.host} either"
            )
            return _down(f, lines, stage="dns")
    if f.control_fetch_failed():
        return _down(f, lines, stage="http")
    return _verdict(
        VerdictKind.INCONCLUSIVE,
        [*lines, "no HTTP fetch was recorded, so there is no page to compare with the control's"],
        missing="http",
    )


def _failed_fetch(f: _Facts, hop: int, final: HttpResponse) -> Verdict:
    url = final.url
    host = hostname_of(url)
    port = urlsplit(url).port or (443 if url.lower().startswith("https") else 80)
    redirected = hop > 0 and host != f.host
    prefix = [f"the page redirected to {url}"] if redirected else []
    failure = final.failure or ""

    # Which layer failed? The records for this hop's host tell, else the failure's name does.
    stage = _stage_of(failure)
    if redirected:
        lookup = f.lookup_failure(host)
        if not f.answers(host) and (lookup or stage == "dns"):
            stage = "dns"
        else:
            eps = f.endpoints(host, port)
            hs = f.handshakes(host, port)
            if eps and not any(t.ok for t in eps):
                stage = "tcp"
            elif url.lower().startswith("https") and hs and not any(h.ok for h in hs):
                stage = "tls"

    if f.control_fetch_failed():
        lines = [*prefix, f"fetching {url} {_say(failure)}{_took(final.duration_ms)}"]
        return _down(f, lines, stage=stage)
    if not f.control_fetch_ok():
        return _verdict(
            VerdictKind.INCONCLUSIVE,
            [*prefix, f"fetching {url} {_say(failure)}", "the control recorded no HTTP fetch"],
            missing="control page",
        )
    control = f.control_page()
    if f.inconsistent and not redirected:
        return _verdict(
            VerdictKind.DNS_TAMPERING,
            [*f.notes, f"fetching {url} from those addresses {_say(failure)}", control],
            stage="dns",
            dns="inconsistent",
        )
    details = {"stage": stage, "hop": str(hop), "local_fetch": "failed"}
    if stage == "dns":
        lookup = f.lookup_failure(host) or failure
        evidence = [*prefix, f"{f.resolver}'s lookup of {host} {_say(lookup)}", control]
        return _verdict(VerdictKind.DNS_TAMPERING, evidence, details=details)
    if stage == "tcp":
        eps = f.endpoints(host, port)
        lines = _tcp_lines(eps) or [f"connecting to {host} {_say(failure)}"]
        return _verdict(VerdictKind.TCP_IP_BLOCKING, [*prefix, *lines, control], details=details)
    if stage == "tls":
        hs = f.handshakes(host, port)
        lines = _tls_lines(hs, host) or [f"the TLS handshake with {host} {_say(failure)}"]
        return _verdict(
            VerdictKind.TLS_INTERFERENCE,
            [*prefix, *lines, *_tls_meaning(hs), control],
            details=details,
        )
    if _probe_bug(failure):
        return _verdict(
            VerdictKind.INCONCLUSIVE,
            [
                *prefix,
                f"fetching {url} failed with an error inside the measuring software "
                f"({failure!r}), which says nothing about the network",
                control,
            ],
            missing="usable local fetch",
        )
    if final.status is not None and failure == "generic_timeout_error":
        return _verdict(
            VerdictKind.THROTTLING,
            [
                *prefix,
                f"{url} began to answer (status {final.status}) but the page had not arrived when "
                "the probe gave up: the download stalled",
                control,
                "connections and the TLS handshake worked; data slowed to a trickle is how "
                "throttling looks when the probe has a deadline",
            ],
            details=details,
        )
    evidence = [*prefix, f"after the connection was established, fetching {url} {_say(failure)}"]
    location = next((v for k, v in final.headers if k.lower() == "location"), None)
    if location:
        evidence.append(f"the answer was a redirect (status {final.status}) to {location}")
        target = (urlsplit(location).hostname or "") if "://" in location else ""
        if target and _is_ip(target) and _is_bogon(target):
            evidence.append(
                f"{target} is a private address inside the network: the redirect comes from a "
                "filtering device, not from the site"
            )
    evidence.append(control)
    details["http_failure"] = failure
    # VerdictKind has no HTTP_FAILURE member: the HTTP-level failure is reported as an HTTP
    # difference, with the failure in details (ooni_equivalent maps it to "http-failure").
    return _verdict(VerdictKind.HTTP_DIFF, evidence, details=details)


@dataclass(frozen=True)
class _Diff:
    differs: bool
    looks_like_blockpage: bool
    reasons: list[str]


def _http_diff(local: HttpResponse, control: HttpResponse) -> _Diff:
    """OONI's comparison of the final page with the control's, with its reasons in words."""
    reasons: list[str] = []
    status = None
    if local.status is not None and control.status is not None:
        if local.status == control.status:
            status = True
        elif control.status // 100 == 2:
            status = False
            reasons.append(f"status {local.status} here, {control.status} at the control")
    body = None
    if control.body_length and local.body_length and not local.body_truncated:
        small, large = sorted((local.body_length, control.body_length))
        body = small / large > BODY_PROPORTION_FACTOR
        if not body:
            reasons.append(
                f"the page here is {local.body_length:,} bytes, "
                f"the control's {control.body_length:,}"
            )
    headers = _headers_match(local.headers, control.headers)
    title = None
    if local.title and control.title and not local.body_truncated:
        title = _title_match(local.title, control.title)
        if not title:
            reasons.append(f"the title here is {local.title!r}, at the control {control.title!r}")
    differs = not (status is True and (body is True or headers is True or title is True))
    if differs and headers is False:
        reasons.append("no uncommon header is shared with the control's answer")
    if not differs:
        reasons = ["the page matches the control's (same status and size, headers or title)"]
    looks = differs and body is False and title is not True
    return _Diff(differs, looks, reasons)


def _headers_match(
    local: Sequence[tuple[str, str]], control: Sequence[tuple[str, str]]
) -> bool | None:
    ours = {k.lower() for k, _ in local}
    theirs = {k.lower() for k, _ in control}
    if not ours or not theirs:
        return None
    if ours == theirs:
        return True
    return bool((ours - COMMON_HEADERS) & (theirs - COMMON_HEADERS))


def _title_match(local: str, control: str) -> bool:
    ours = {w.lower() for w in local.split(" ") if len(w) >= TITLE_MIN_WORD}
    theirs = {w.lower() for w in control.split(" ") if len(w) >= TITLE_MIN_WORD}
    return ours == theirs


def _maybe_throttled(
    f: _Facts, final: HttpResponse, evidence: list[str], factor: float, min_ms: float
) -> Verdict:
    """ACCESSIBLE, unless the fetch or the TLS handshakes were far slower than the control's."""
    c = f.c
    slow: list[str] = []
    ratio = 0.0
    if final.duration_ms is not None and c.http is not None and c.http.duration_ms:
        r = final.duration_ms / c.http.duration_ms
        if r >= factor and final.duration_ms >= min_ms:
            ratio = max(ratio, r)
            slow.append(
                f"fetching {final.url} took {final.duration_ms / 1000:.1f} s here and "
                f"{c.http.duration_ms / 1000:.1f} s at the control ({r:.0f}× slower)"
            )
    ours = [h.duration_ms for h in f.handshakes(f.host, f.port) if h.ok and h.duration_ms]
    theirs = [h.duration_ms for h in c.tls if h.ok and h.duration_ms]
    if ours and theirs:
        here, there = statistics.median(ours), statistics.median(theirs)
        r = here / there
        if r >= factor and here >= min_ms:
            ratio = max(ratio, r)
            slow.append(
                f"TLS handshakes for {f.host} took a median {here / 1000:.1f} s here and "
                f"{there / 1000:.1f} s at the control ({r:.0f}× slower); OONI found the same "
                "pattern (SNI-based throttling) for news sites in Kazakhstan in 2022"
            )
    if slow:
        return _verdict(
            VerdictKind.THROTTLING,
            [*slow, *evidence],
            stage="http",
            local_fetch="ok",
            slowdown=f"{ratio:.1f}",
        )
    return _verdict(VerdictKind.ACCESSIBLE, evidence, stage="http")


def _down(f: _Facts, lines: list[str], *, stage: str) -> Verdict:
    """The site fails from the control too: an outage, an overload (DDoS) or a broken server."""
    evidence = [*lines]
    c = f.c
    if c.http is not None and c.http.failure is not None:
        evidence.append(f"the control's fetch {_say(c.http.failure)}{_took(c.http.duration_ms)}")
    evidence.append(
        "it fails from outside the country as well, so this is the site being down or "
        "unreachable (outage, overload, misconfiguration), not blocking on this network"
    )
    return _verdict(VerdictKind.DOWN_EVERYWHERE, evidence, stage=stage)


def _consequences_of(f: _Facts, addresses: Iterable[str]) -> list[str]:
    addrs = set(addresses)
    lines = [
        f"connecting to {_ep(t.ip, t.port)} {_say(t.failure)}"
        for t in f.m.tcp
        if t.ip in addrs and not t.ok
    ]
    lines += [
        f"{_ep(h.ip, h.port)} completed a TLS handshake" for h in f.m.tls if h.ip in addrs and h.ok
    ][:1]
    return lines


# ---------------------------------------------------------------------------------------------
# small helpers


def _verdict(
    kind: VerdictKind,
    evidence: Iterable[str],
    *,
    confirmed: bool = False,
    fingerprint: str | None = None,
    details: dict[str, str] | None = None,
    **more: str,
) -> Verdict:
    return Verdict(
        kind=kind,
        confirmed=confirmed,
        evidence=tuple(_unique(e for e in evidence if e)),
        fingerprint=fingerprint,
        details={**(details or {}), **more},
    )


def _say(failure: str | None) -> str:
    """ "failed: <what it means> (<OONI's failure string>)", for a journalist and an expert."""
    if failure is None:
        return "succeeded"
    words = _FAILURE_WORDS.get(failure)
    if words is None and failure.startswith("ssl_error") and "verify failed" in failure:
        words = "the certificate could not be verified"
    return f"failed: {words} ({failure})" if words else f"failed ({failure})"


def _stage_of(failure: str) -> str:
    if failure.startswith("dns_") or failure in ("android_dns_cache_no_data",):
        return "dns"
    if failure in ("connection_refused", "connect_error", *_IPV6_NOISE):
        return "tcp"
    if failure.startswith("ssl_") or "certificate" in failure:
        return "tls"
    return "http"


def _probe_bug(failure: str) -> bool:
    """Errors of the measuring software itself (a decoding bug), not of the network."""
    lowered = failure.lower()
    return lowered.startswith("unknown_failure") and (
        "codec" in lowered or "traceback" in lowered or "attributeerror" in lowered
    )


def _server_error(r: HttpResponse) -> bool:
    """A response that arrived whole and is a 5xx: the server's failure, not the network's."""
    return r.failure is None and r.status is not None and 500 <= r.status <= 599


def _https_ok(r: HttpResponse) -> bool:
    return (
        urlsplit(r.url).scheme.lower() == "https"
        and r.failure is None
        and r.status in (200, 301, 302, 303, 307, 308)
    )


def _page(r: HttpResponse) -> str:
    parts = [f"status {r.status}" if r.status is not None else "no status"]
    if r.title:
        parts.append(f"title {r.title!r}")
    if r.body_length is not None:
        parts.append(f"{r.body_length:,} bytes" + (" or more" if r.body_truncated else ""))
    return ", ".join(parts)


def _took(ms: float | None) -> str:
    return f" after {ms / 1000:.1f} s" if ms else ""


def _ep(ip: str | None, port: int) -> str:
    if ip is None:
        return f"port {port}"
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _list(items: Iterable[str], limit: int = 4) -> str:
    items = list(items)
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _norm_host(host: str) -> str:
    return host.rstrip(".").lower()


def _is_doh(resolver: str) -> bool:
    return resolver.startswith("https://") or resolver == "doh"


def _resolver_label(resolver: str) -> str:
    if resolver == "system":
        return "the system resolver"
    if _is_doh(resolver):
        return f"DNS-over-HTTPS ({urlsplit(resolver).hostname or resolver})"
    return f"the resolver {resolver.split('://', 1)[-1]} (unencrypted)"


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _is_bogon(value: str) -> bool:
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return False
    return not ip.is_global or ip.is_multicast


def _bogon_kind(value: str) -> str:
    ip = ipaddress.ip_address(value)
    if ip.is_loopback:
        return "a loopback address (this very device)"
    if ip.is_unspecified:
        return "the null address"
    if ip.is_private:
        return "a private address"
    return "a reserved address"


def _ipv6_noise(ip: str, failure: str | None) -> bool:
    """An IPv6 connect that failed for want of an IPv6 route: the probe's network, not blocking."""
    return ":" in ip and failure in _IPV6_NOISE


def _organisation(name: str) -> str:
    for part in name.split(","):
        key, _, value = part.partition("=")
        if key.strip().upper() == "O":
            return value.strip().lower()
    return name.lower()
