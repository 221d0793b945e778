"""Real censorship, applied by the kernel in network namespaces, against the real monitor.

The lab (``tests/support/censorship_lab.py``) is a small internet: sites, an honest resolver,
a blockpage server and an interception server in ``net``; two censored ISPs whose routers
lie in DNS, drop, reset, filter on SNI, serve blockpages, intercept HTTPS and shape traffic;
and an uncensored control. Probes are the production engine in a process inside each ISP
(``tests/support/lab_measure.py``); each censored measurement gets the control measured at
the same time (``qorgau.monitor.control.control_from``) and the production classifier with
the shipped fingerprints plus the lab's (``tests/support/lab-blockpages.toml``).

Each test switches one method on and asserts the exact verdict, the evidence a journalist
would read, *and* that what is not censored stays "accessible" in the same round — a
classifier that flagged everything would fail as surely as one that flagged nothing.

Needs root and network namespaces (with iptables and tc); elsewhere every test here skips
with the reason, and the rest of the suite runs.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from qorgau.monitor.classify import classify
from qorgau.monitor.control import control_from
from qorgau.monitor.model import Measurement, Verdict, VerdictKind
from tests.support.censorship_lab import (
    BLOCKPAGE_IP,
    HONEST_DNS,
    SERVICE_IP,
    SITES,
    CensorshipLab,
    LabUnavailable,
    Round,
    clean_stale,
    lab_fingerprints,
    run_ip,
    start_lab,
)

FPS = lab_fingerprints()
TIMEOUT = 2.0
HONEST = f"udp://{HONEST_DNS}:53"
ALL_URLS = [f"{scheme}://{host}/" for host in SITES for scheme in ("https", "http")]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CensorshipLab]:
    try:
        built = start_lab(tmp_path_factory.mktemp("censorship-lab"))
    except LabUnavailable as exc:
        pytest.skip(f"censorship lab unavailable: {exc}")
    try:
        yield built
    finally:
        built.close()


@pytest.fixture(autouse=True)
def uncensored(lab: CensorshipLab) -> None:
    """Every test starts from a healthy, uncensored internet, whatever the last one did."""
    lab.reset()


def verdict(r: Round, vantage: str, url: str) -> Verdict:
    return classify(r.of(vantage, url), FPS)


def evidence(v: Verdict) -> str:
    return "\n".join(v.evidence)


def expect(r: Round, vantage: str, url: str, kind: VerdictKind) -> Verdict:
    v = verdict(r, vantage, url)
    assert v.kind == kind, f"{vantage} {url}: {v.kind}, expected {kind}\n{evidence(v)}"
    return v


def system_answers(m: Measurement) -> tuple[str, ...]:
    return next(q.answers for q in m.dns if q.resolver == "system")


# --- the lab itself ------------------------------------------------------------------------------


def test_lab_is_sealed_from_the_machine(lab: CensorshipLab) -> None:
    report = lab.isolation_report()
    assert set(report) == {"net", "ctl", "ra", "a", "rb", "b"}
    for role, facts in report.items():
        kinds = {kind for _, kind in facts["links"]}
        assert kinds <= {"loopback", "veth"}, (role, facts["links"])
        assert "default" not in facts["routes"], (role, facts["routes"])
        for route in facts["routes"]:
            assert ipaddress.ip_network(route, strict=False).subnet_of(
                ipaddress.ip_network("11.0.0.0/8")
            ), (role, route)
        assert facts["escapes"] == [], (role, facts["escapes"])
    listed = run_ip("netns", "list")
    assert all(name in listed for name in lab.namespaces.values())
    assert lab.ns("isp-a") == lab.namespaces["a"] and lab.ns("isp-b-router") == lab.namespaces["rb"]


def test_teardown_and_stale_cleanup_leave_nothing(tmp_path: Path) -> None:
    second = start_lab(tmp_path / "second")
    names = list(second.namespaces.values())
    servers = second.processes
    assert len(servers) == 3  # net's web and DNS server, each ISP's resolver
    second.close()
    listed = run_ip("netns", "list")
    assert not any(name in listed for name in names)
    assert not any((Path("/etc/netns") / name).exists() for name in names)
    assert all(proc.poll() is not None for proc in servers)

    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid that no longer runs: the owner of a crashed run
    stale, live = f"qg{gone.pid}-0net", f"qg{os.getppid()}-0net"
    for name in (stale, live):
        run_ip("netns", "add", name)
    try:
        (Path("/etc/netns") / stale).mkdir(parents=True, exist_ok=True)
        assert stale in clean_stale()
        listed = run_ip("netns", "list")
        assert stale not in listed and not (Path("/etc/netns") / stale).exists()
        assert live in listed  # its owner (our parent) is alive: not ours to remove
    finally:
        for name in (stale, live):
            run_ip("netns", "delete", name, check=False)


def test_servers_in_net_and_ctl_are_reachable_from_every_vantage(
    lab: CensorshipLab, tmp_path: Path
) -> None:
    (tmp_path / "index.html").write_text("<title>qorgau service</title>ok\n")
    serve = (
        "import http.server, sys\n"
        "class H(http.server.SimpleHTTPRequestHandler):\n"
        "    def log_message(self, *a): pass\n"
        "s = http.server.HTTPServer((sys.argv[1], 8080), H)\n"
        "print('ready', flush=True)\n"
        "s.serve_forever()\n"
    )
    procs = []
    try:
        for vantage in ("net", "ctl"):
            proc = lab.popen(
                vantage,
                [sys.executable, "-c", serve, lab.address(vantage)],
                cwd=tmp_path,
                stdout=subprocess.PIPE,
            )
            procs.append(proc)
            assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        urls = [f"http://{SERVICE_IP}:8080/", f"http://{lab.address('ctl')}:8080/"]
        for vantage in ("isp-a", "isp-b", "ctl"):
            for m in lab.measure(vantage, urls, timeout=TIMEOUT):
                final = m.http[-1]
                assert (final.status, final.title) == (200, "qorgau service"), (vantage, final)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(5)
            if proc.stdout is not None:
                proc.stdout.close()


# --- no false positives ----------------------------------------------------------------------


def test_accessible_sites_are_accessible_from_every_vantage(lab: CensorshipLab) -> None:
    second_control = lab.start_measure("ctl", ALL_URLS, timeout=TIMEOUT)
    r = lab.measure_round(ALL_URLS, timeout=TIMEOUT)
    for vantage in ("isp-a", "isp-b"):
        for url in ALL_URLS:
            v = expect(r, vantage, url, VerdictKind.ACCESSIBLE)
            assert not v.confirmed and v.fingerprint is None
            host = url.split("/")[2]
            assert system_answers(r.of(vantage, url)) == (SITES[host],)
    # The control vantage too: a second control measurement judged against the first.
    again = CensorshipLab.collect(second_control, 30)
    for m, c in zip(again, r.control, strict=True):
        v = classify(replace(m, control=control_from(c)), FPS)
        assert v.kind == VerdictKind.ACCESSIBLE, (m.url, evidence(v))


# --- DNS -------------------------------------------------------------------------------------


def test_dns_lie_is_confirmed_dns_tampering(lab: CensorshipLab) -> None:
    lab.dns_lie("isp-a", "orda.kz")  # the blockpage server's address
    lab.dns_lie("isp-a", "vlast.kz", None)  # NXDOMAIN
    urls = ["https://orda.kz/", "http://orda.kz/", "https://vlast.kz/", "https://kaz.orda.kz/"]
    r = lab.measure_round(urls, timeout=TIMEOUT)

    for url in ("https://orda.kz/", "http://orda.kz/"):
        v = expect(r, "isp-a", url, VerdictKind.DNS_TAMPERING)
        assert v.confirmed and v.fingerprint == "lab.dns.blockpage-server"
        text = evidence(v)
        assert f"the system resolver answered {BLOCKPAGE_IP} for orda.kz" in text
        assert "the control resolved orda.kz to 11.0.0.10" in text
        m = r.of("isp-a", url)  # the lie and the truth are both on record
        assert {q.resolver: q.answers for q in m.dns} == {
            "system": (BLOCKPAGE_IP,),
            HONEST: ("11.0.0.10",),
        }

    v = expect(r, "isp-a", "https://vlast.kz/", VerdictKind.DNS_TAMPERING)
    assert not v.confirmed
    assert "NXDOMAIN" in evidence(v) and "the control resolved vlast.kz to 11.0.0.20" in evidence(v)

    expect(r, "isp-a", "https://kaz.orda.kz/", VerdictKind.ACCESSIBLE)  # the lie is exact
    for url in urls:  # ISP B's resolver tells the truth
        expect(r, "isp-b", url, VerdictKind.ACCESSIBLE)


def test_dns_hijack_makes_the_honest_resolver_lie_too(lab: CensorshipLab) -> None:
    lab.dns_lie("isp-a", "orda.kz")
    lab.dns_hijack("isp-a")
    r = lab.measure_round(["https://orda.kz/"], vantages=("isp-a",), timeout=TIMEOUT)
    m = r.of("isp-a", "https://orda.kz/")
    assert {q.resolver: q.answers for q in m.dns} == {
        "system": (BLOCKPAGE_IP,),
        HONEST: (BLOCKPAGE_IP,),  # asked 11.0.0.53, answered by the ISP's resolver
    }
    v = expect(r, "isp-a", "https://orda.kz/", VerdictKind.DNS_TAMPERING)
    assert v.confirmed and "the control resolved orda.kz to 11.0.0.10" in evidence(v)


def test_dropped_lookups_do_not_starve_lookups_of_other_sites(lab: CensorshipLab) -> None:
    # More silenced lookups than asyncio's default executor has threads (min(32, CPUs + 4)):
    # when the engine resolved there, these held every thread for glibc's 10 s and the
    # other sites' lookups never ran — unblocked sites reported as DNS tampering.
    lab.dns_drop("isp-a", "vlast.kz")
    silenced = [f"https://vlast.kz/?n={i}" for i in range(min(32, (os.cpu_count() or 1) + 4) + 4)]
    others = ["https://orda.kz/", "https://kaz.orda.kz/", "http://ratel.kz/"]
    r = lab.measure_round(
        [*silenced, *others], vantages=("isp-a",), timeout=TIMEOUT, concurrency=64
    )
    for url in silenced[:3]:
        v = expect(r, "isp-a", url, VerdictKind.DNS_TAMPERING)
        assert "generic_timeout_error" in evidence(v)
    for url in others:
        expect(r, "isp-a", url, VerdictKind.ACCESSIBLE)
        assert system_answers(r.of("isp-a", url)) == (SITES[url.split("/")[2]],)


# --- TCP/IP ----------------------------------------------------------------------------------


def test_dropped_and_reset_connections_are_ip_blocking(lab: CensorshipLab) -> None:
    lab.tcp_block("isp-a", "vlast.kz", mode="drop")
    lab.tcp_block("isp-a", "ratel.kz", mode="reset")
    urls = ["https://vlast.kz/", "http://vlast.kz/", "https://ratel.kz/", "https://orda.kz/"]
    r = lab.measure_round(urls, timeout=TIMEOUT)

    for url, port in (("https://vlast.kz/", 443), ("http://vlast.kz/", 80)):
        text = evidence(expect(r, "isp-a", url, VerdictKind.TCP_IP_BLOCKING))
        assert f"TCP connect to 11.0.0.20:{port} failed: timed out (generic_timeout_error)" in text
        assert f"the control connected to the same address 11.0.0.20:{port}" in text

    text = evidence(expect(r, "isp-a", "https://ratel.kz/", VerdictKind.TCP_IP_BLOCKING))
    # A forged RST in answer to the SYN is, to the socket, a refused connection.
    assert "TCP connect to 11.0.0.21:443 failed: the connection was refused" in text
    assert "the control connected to the same address 11.0.0.21:443" in text

    expect(r, "isp-a", "https://orda.kz/", VerdictKind.ACCESSIBLE)
    for url in urls:
        expect(r, "isp-b", url, VerdictKind.ACCESSIBLE)


# --- TLS -------------------------------------------------------------------------------------


def test_sni_filtering_is_tls_interference_and_spares_language_subdomains(
    lab: CensorshipLab,
) -> None:
    lab.sni_reset("isp-b", "orda.kz")
    lab.sni_drop("isp-b", "vlast.kz")
    urls = [
        "https://orda.kz/",
        "https://vlast.kz/",
        "https://kaz.orda.kz/",
        "https://eng.orda.kz/",
        "http://orda.kz/",
        "http://vlast.kz/",
    ]
    r = lab.measure_round(urls, vantages=("isp-b",), timeout=TIMEOUT)

    v = expect(r, "isp-b", "https://orda.kz/", VerdictKind.TLS_INTERFERENCE)
    text = evidence(v)
    assert (
        "the TLS handshake with 11.0.0.10:443 for orda.kz failed: the connection was reset" in text
    )
    assert "SNI-based filtering" in text
    assert "the control completed the TLS handshake with the same address 11.0.0.10:443" in text
    assert all(t.ok for t in r.of("isp-b", "https://orda.kz/").tcp)  # TCP itself went through

    text = evidence(expect(r, "isp-b", "https://vlast.kz/", VerdictKind.TLS_INTERFERENCE))
    assert "for vlast.kz failed: timed out (generic_timeout_error)" in text

    for url in (
        "https://kaz.orda.kz/",
        "https://eng.orda.kz/",
        "http://orda.kz/",
        "http://vlast.kz/",
    ):
        expect(r, "isp-b", url, VerdictKind.ACCESSIBLE)


def test_interception_is_tls_interference_confirmed_by_the_isca_fingerprint(
    lab: CensorshipLab,
) -> None:
    lab.intercept("isp-b", "ratel.kz")
    urls = ["https://ratel.kz/", "http://ratel.kz/", "https://orda.kz/"]
    r = lab.measure_round(urls, vantages=("isp-b",), timeout=TIMEOUT)

    v = expect(r, "isp-b", "https://ratel.kz/", VerdictKind.TLS_INTERFERENCE)
    assert v.confirmed and v.fingerprint == "kz.isca.issuer"
    text = evidence(v)
    assert "Information Security Certification Authority" in text
    assert "ssl_unknown_authority" in text
    assert "the control's TLS handshake with the same address succeeded" in text
    leaf = r.of("isp-b", "https://ratel.kz/").tls[0].chain[0]
    assert leaf.san == ("ratel.kz",) and v.details["certificate_sha256"] == leaf.sha256
    real = r.control[0].tls[0].chain[0]  # what the site itself presents, seen by the control
    assert "Qorgau Lab Root CA" in real.issuer and real.sha256 != leaf.sha256

    expect(r, "isp-b", "http://ratel.kz/", VerdictKind.ACCESSIBLE)
    expect(r, "isp-b", "https://orda.kz/", VerdictKind.ACCESSIBLE)


# --- HTTP ------------------------------------------------------------------------------------


def test_transparent_blockpage_is_a_confirmed_http_blockpage(lab: CensorshipLab) -> None:
    lab.http_blockpage("isp-a", "vlast.kz")
    r = lab.measure_round(["http://vlast.kz/", "https://vlast.kz/"], timeout=TIMEOUT)

    v = expect(r, "isp-a", "http://vlast.kz/", VerdictKind.HTTP_BLOCKPAGE)
    assert v.confirmed and v.fingerprint == "lab.blockpage.body"
    text = evidence(v)
    assert "http://vlast.kz/ (status 200, title 'Доступ ограничен'" in text
    assert "the control loaded the page (status 200, title 'Vlast.kz" in text
    assert system_answers(r.of("isp-a", "http://vlast.kz/")) == ("11.0.0.20",)  # not DNS

    expect(r, "isp-a", "https://vlast.kz/", VerdictKind.ACCESSIBLE)
    expect(r, "isp-b", "http://vlast.kz/", VerdictKind.ACCESSIBLE)


def test_throttled_sites_are_throttling(lab: CensorshipLab) -> None:
    if not lab.can_throttle:
        pytest.skip(lab.throttle_problem)
    lab.throttle("isp-b", "vlast.kz", "64kbit")  # 120 kB in ~15 s: stalls past the timeout
    lab.throttle("isp-b", "ratel.kz", "200kbit")  # ~4 s: loads, but far more than 10× slower
    urls = ["https://vlast.kz/", "https://ratel.kz/"]
    r = lab.measure_round(urls, timeout=6.0)

    v = expect(r, "isp-b", "https://vlast.kz/", VerdictKind.THROTTLING)
    assert v.details["local_fetch"] == "failed"
    assert "began to answer (status 200)" in evidence(v) and "the download stalled" in evidence(v)

    v = expect(r, "isp-b", "https://ratel.kz/", VerdictKind.THROTTLING)
    assert v.details["local_fetch"] == "ok" and float(v.details["slowdown"]) >= 10
    assert "at the control" in evidence(v) and "× slower" in evidence(v)

    for url in urls:  # ISP A does not shape
        expect(r, "isp-a", url, VerdictKind.ACCESSIBLE)


# --- the site itself -------------------------------------------------------------------------


def test_overloaded_site_is_down_everywhere(lab: CensorshipLab) -> None:
    lab.overload("masa.media")  # connections accepted, then nothing for 30 s
    urls = ["https://masa.media/", "http://masa.media/", "https://orda.kz/"]
    r = lab.measure_round(urls, vantages=("isp-a",), timeout=TIMEOUT)
    text = evidence(expect(r, "isp-a", "https://masa.media/", VerdictKind.DOWN_EVERYWHERE))
    assert "the control's TLS handshake with 11.0.0.22:443 for masa.media failed: timed out" in text
    assert "fails from outside the country as well" in text
    text = evidence(expect(r, "isp-a", "http://masa.media/", VerdictKind.DOWN_EVERYWHERE))
    assert "the control's fetch failed: timed out (generic_timeout_error)" in text
    expect(r, "isp-a", "https://orda.kz/", VerdictKind.ACCESSIBLE)


def test_site_answering_503_to_everyone_is_down_not_accessible(lab: CensorshipLab) -> None:
    lab.overload("masa.media", delay=0.2)  # slow, but answers in time: 503
    urls = ["https://masa.media/", "http://masa.media/"]
    r = lab.measure_round(urls, vantages=("isp-a",), timeout=TIMEOUT)
    for url in urls:
        assert r.of("isp-a", url).http[-1].status == 503
        text = evidence(expect(r, "isp-a", url, VerdictKind.DOWN_EVERYWHERE))
        assert "the control got status 503" in text and "server errors" in text


# --- bounded time ----------------------------------------------------------------------------


def test_a_measurement_never_outlives_its_deadline(lab: CensorshipLab) -> None:
    """Nothing answers (isp-a: every packet dropped, resolver included) or everything stalls
    after the TCP handshake (isp-b): each probe process still ends within the measurement
    deadline (3 × timeout + 1 s) plus the interpreter's start-up."""
    lab.blackhole("isp-a")
    lab.stall_after_connect("isp-b")
    timeout = 1.5
    deadline = 3 * timeout + 1
    startup = 3.0
    urls = ["https://orda.kz/", "http://vlast.kz/", "https://ratel.kz/"]
    started = time.monotonic()
    procs = {v: lab.start_measure(v, urls, timeout=timeout) for v in ("isp-a", "isp-b")}
    seen: dict[str, list[Measurement]] = {}
    for vantage, proc in procs.items():
        seen[vantage] = CensorshipLab.collect(proc, deadline + 30)
        took = time.monotonic() - started
        assert took < deadline + startup, f"{vantage}: the probe took {took:.1f} s"
        for m in seen[vantage]:
            assert m.duration_ms is not None and m.duration_ms <= deadline * 1000, m
            assert m.http and m.http[-1].failure is not None, m.http
    for m in seen["isp-a"]:  # nothing answered, not even a resolver
        assert {q.failure for q in m.dns} == {"generic_timeout_error"} and not m.tcp
    for m in seen["isp-b"]:  # connected, then silence
        assert all(t.ok for t in m.tcp) and not any(h.ok for h in m.tls)
