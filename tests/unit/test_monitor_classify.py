"""The reachability classifier on hand-built measurements: one scenario per verdict, the
evidence a journalist reads, the throttling thresholds, and the fingerprint files' rules.

Addresses are real-looking public ones on purpose: documentation ranges (198.51.100.0/24 …)
are not globally routable, so the classifier would rightly call them bogus DNS answers.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from qorgau.errors import InvalidInput
from qorgau.monitor.classify import (
    DEFAULT_THROTTLE_FACTOR,
    DEFAULT_THROTTLE_MIN_MS,
    classify,
    ooni_accessible_equivalent,
    ooni_equivalent,
)
from qorgau.monitor.fingerprints import (
    Fingerprints,
    load_default,
    load_ooni_csv,
    parse_toml,
)
from qorgau.monitor.model import (
    Certificate,
    Control,
    DnsQuery,
    HttpResponse,
    Measurement,
    TcpConnect,
    TlsHandshake,
    Vantage,
    Verdict,
    VerdictKind,
)

SEED = load_default()
HOST = "vlast.kz"
IP = "104.21.5.5"
OTHER_IP = "172.67.1.1"
TITLE = "Vlast.kz — независимое издание о политике и обществе"
KZ = Vantage(country="KZ", asn="AS9198", network_name="JSC Kazakhtelecom")
HEADERS = (("Content-Type", "text/html"), ("X-Vlast-Cache", "HIT"), ("Server", "nginx"))


def page(
    url: str = f"http://{HOST}/",
    *,
    status: int | None = 200,
    title: str | None = TITLE,
    length: int | None = 48_000,
    body: str | None = None,
    headers: tuple[tuple[str, str], ...] = HEADERS,
    failure: str | None = None,
    duration_ms: float | None = None,
) -> HttpResponse:
    return HttpResponse(
        url=url,
        status=status,
        headers=headers,
        title=title,
        body_length=length,
        body_sample=body,
        failure=failure,
        duration_ms=duration_ms,
    )


def control(
    *,
    answers: tuple[str, ...] = (IP,),
    dns_failure: str | None = None,
    tcp: tuple[TcpConnect, ...] = (TcpConnect(IP, 80, ok=True), TcpConnect(IP, 443, ok=True)),
    tls: tuple[TlsHandshake, ...] = (TlsHandshake(IP, 443, HOST, ok=True),),
    http: HttpResponse | None = None,
    failure: str | None = None,
) -> Control:
    return Control(
        dns_answers=answers,
        dns_failure=dns_failure,
        tcp=tcp,
        tls=tls,
        http=http if http is not None else page(),
        failure=failure,
    )


def measure(
    url: str = f"http://{HOST}/",
    *,
    answers: tuple[str, ...] = (IP,),
    dns_failure: str | None = None,
    dns: tuple[DnsQuery, ...] | None = None,
    tcp: tuple[TcpConnect, ...] | None = None,
    tls: tuple[TlsHandshake, ...] = (),
    http: tuple[HttpResponse, ...] | None = None,
    ctrl: Control | None = None,
    no_control: bool = False,
) -> Measurement:
    port = 443 if url.startswith("https") else 80
    return Measurement(
        url=url,
        vantage=KZ,
        started_at=datetime(2024, 5, 1, 12, tzinfo=UTC),
        dns=dns
        if dns is not None
        else (DnsQuery(HOST, "system", answers=answers, failure=dns_failure),),
        tcp=tcp if tcp is not None else tuple(TcpConnect(a, port, ok=True) for a in answers),
        tls=tls,
        http=http if http is not None else (page(url),),
        control=None if no_control else (ctrl or control()),
    )


def text(v: Verdict) -> str:
    return "\n".join(v.evidence)


def assert_readable(v: Verdict) -> None:
    """Every verdict explains itself in full sentences, never an empty or duplicated line."""
    assert v.evidence, v
    assert all(line.strip() for line in v.evidence)
    assert len(set(v.evidence)) == len(v.evidence)


# ---------------------------------------------------------------------------------------------
# accessible


def test_a_page_like_the_controls_is_accessible() -> None:
    v = classify(measure(), SEED)
    assert v.kind == VerdictKind.ACCESSIBLE and not v.confirmed
    assert "loaded" in text(v) and "matches the control" in text(v)
    assert (ooni_equivalent(v), ooni_accessible_equivalent(v)) == (False, True)
    assert_readable(v)


def test_a_verified_https_page_is_the_sites_own_even_when_it_differs() -> None:
    url = f"https://{HOST}/"
    captcha = page(url, status=403, title="Attention Required!", length=4_000)
    m = measure(url, tls=(TlsHandshake(IP, 443, HOST, ok=True),), http=(captcha,))
    v = classify(m, SEED)
    assert v.kind == VerdictKind.ACCESSIBLE
    assert "the difference comes from the site itself" in text(v)


def test_different_addresses_that_serve_the_page_are_a_cdn_not_tampering() -> None:
    url = f"https://{HOST}/"
    m = measure(url, answers=(OTHER_IP,), tls=(TlsHandshake(OTHER_IP, 443, HOST, ok=True),))
    v = classify(m, SEED)
    assert v.kind == VerdictKind.ACCESSIBLE
    assert OTHER_IP in text(v) and "CDN" in text(v)


def test_ipv6_without_a_route_is_the_probes_network_not_blocking() -> None:
    v6 = "2606:4700:3030::6815:505"
    m = measure(
        answers=(v6, IP),
        tcp=(
            TcpConnect(v6, 80, ok=False, failure="network_unreachable"),
            TcpConnect(IP, 80, ok=True),
        ),
    )
    assert classify(m, SEED).kind == VerdictKind.ACCESSIBLE


# ---------------------------------------------------------------------------------------------
# DNS tampering


def test_a_private_answer_is_dns_tampering() -> None:
    m = measure(
        answers=("10.10.34.34",),
        tcp=(TcpConnect("10.10.34.34", 80, ok=False, failure="generic_timeout_error"),),
        http=(page(failure="generic_timeout_error", status=None, title=None, length=None),),
    )
    v = classify(m, SEED)
    assert v.kind == VerdictKind.DNS_TAMPERING and not v.confirmed
    assert "the system resolver answered 10.10.34.34 for vlast.kz" in text(v)
    assert "private address" in text(v)
    assert f"the control resolved vlast.kz to {IP}" in text(v)
    assert "connecting to 10.10.34.34:80 failed: timed out" in text(v)
    assert ooni_equivalent(v) == "dns"
    assert_readable(v)


def test_the_same_private_answer_at_the_control_is_the_site_not_tampering() -> None:
    m = measure(
        answers=("127.0.0.1",),
        tcp=(),
        http=(),
        ctrl=control(answers=("127.0.0.1",), tcp=(), tls=(), http=page(failure="unknown_error")),
    )
    v = classify(m, SEED)
    assert v.kind == VerdictKind.DOWN_EVERYWHERE
    assert "cannot be reached from anywhere" in text(v)


def test_a_known_blocking_answer_confirms_dns_tampering() -> None:
    fps = parse_toml(
        """
        schema_version = 1
        [[dns]]
        name = "test.isp-blocking-server"
        answer = "92.46.1.1"
        countries = ["KZ"]
        source = "https://example.org/report"
        note = "the blocking server of a test ISP"
        """
    )
    m = measure(answers=("92.46.1.1",), http=(page(title="Доступ ограничен", length=900),))
    v = classify(m, fps)
    assert v.kind == VerdictKind.DNS_TAMPERING and v.confirmed
    assert v.fingerprint == "test.isp-blocking-server"
    assert "a known blocking address: the blocking server of a test ISP (seen in KZ)" in text(v)


def test_nxdomain_here_while_the_control_resolves_is_dns_tampering() -> None:
    m = measure(answers=(), dns_failure="dns_nxdomain_error", tcp=(), http=())
    v = classify(m, SEED)
    assert v.kind == VerdictKind.DNS_TAMPERING
    assert "the name does not exist (NXDOMAIN) (dns_nxdomain_error)" in text(v)
    assert f"the control resolved vlast.kz to {IP}" in text(v)


def test_an_address_for_a_name_that_does_not_exist_is_invented() -> None:
    m = measure(
        answers=("95.59.1.1",),
        http=(page(title="Access denied", length=300),),
        ctrl=control(
            answers=(), dns_failure="dns_name_error", http=page(failure="dns_lookup_error")
        ),
    )
    v = classify(m, SEED)
    assert v.kind == VerdictKind.DNS_TAMPERING
    assert "made up by the resolver" in text(v) and "95.59.1.1" in text(v)


def test_other_addresses_that_fail_while_the_controls_work_are_dns_tampering() -> None:
    m = measure(
        answers=(OTHER_IP,),
        tcp=(TcpConnect(OTHER_IP, 80, ok=False, failure="connection_refused"),),
        http=(page(failure="connection_refused", status=None, title=None, length=None),),
    )
    v = classify(m, SEED)
    assert v.kind == VerdictKind.DNS_TAMPERING
    assert f"none of which the control saw ({IP})" in text(v)
    assert f"TCP connect to {OTHER_IP}:80 failed: the connection was refused" in text(v)
    assert f"the control connected to {IP}:80" in text(v)


def test_other_addresses_serving_another_page_are_dns_tampering() -> None:
    blockpage = page(title="Access Denied", length=188, headers=(("Server", "nginx"),))
    m = measure(answers=(OTHER_IP,), http=(blockpage,))
    v = classify(m, SEED)
    assert v.kind == VerdictKind.DNS_TAMPERING
    assert "serve another page" in text(v)


# ---------------------------------------------------------------------------------------------
# TCP/IP and TLS


def test_a_reset_connect_while_the_control_connects_is_tcp_ip_blocking() -> None:
    url = f"https://{HOST}/"
    m = measure(
        url,
        tcp=(TcpConnect(IP, 443, ok=False, failure="connection_reset", duration_ms=40),),
        http=(HttpResponse(url, failure="connection_reset"),),
    )
    v = classify(m, SEED)
    assert v.kind == VerdictKind.TCP_IP_BLOCKING
    assert f"TCP connect to {IP}:443 failed: the connection was reset (connection_reset)" in text(v)
    assert f"the control connected to the same address {IP}:443" in text(v)
    assert ooni_equivalent(v) == "tcp_ip"
    assert_readable(v)


def test_a_handshake_cut_after_the_client_hello_is_tls_interference() -> None:
    url = f"https://{HOST}/"
    m = measure(
        url,
        tls=(TlsHandshake(IP, 443, HOST, ok=False, failure="generic_timeout_error"),),
        http=(HttpResponse(url, failure="generic_timeout_error"),),
    )
    v = classify(m, SEED)
    assert v.kind == VerdictKind.TLS_INTERFERENCE and not v.confirmed
    assert f"the TLS handshake with {IP}:443 for vlast.kz failed: timed out" in text(v)
    assert "SNI-based filtering" in text(v)
    assert f"the control completed the TLS handshake with the same address {IP}:443" in text(v)
    assert ooni_equivalent(v) == "http-failure"


ISCA_LEAF = Certificate(
    sha256="ab" * 32,
    subject=f"CN={HOST}",
    issuer="CN=Information Security Certification Authority,O=ISCA,C=KZ",
    san=(HOST,),
)


@pytest.mark.parametrize("with_control", [True, False])
def test_a_certificate_from_kazakhstans_interception_authority_confirms_it(
    with_control: bool,
) -> None:
    url = f"https://{HOST}/"
    m = measure(
        url,
        tls=(TlsHandshake(IP, 443, HOST, ok=True, chain=(ISCA_LEAF,)),),
        http=(page(url),),
        no_control=not with_control,
    )
    v = classify(m, SEED)
    assert v.kind == VerdictKind.TLS_INTERFERENCE and v.confirmed
    assert v.fingerprint == "kz.isca.issuer"
    assert "Information Security Certification Authority" in text(v)
    assert "can be read and changed in transit" in text(v)
    assert v.details["certificate_sha256"] == ISCA_LEAF.sha256


def test_the_isca_root_is_recognised_by_its_published_sha256() -> None:
    root = Certificate(
        sha256="89107c8e50e029b7b5f4ff0ccd2956bcc9d0c8ba2bfb6a58374ed63a6b034a30",
        subject="CN=Root,O=Somebody",
        issuer="CN=Root,O=Somebody",
    )
    leaf = replace(ISCA_LEAF, issuer="CN=Intermediate,O=Somebody")
    url = f"https://{HOST}/"
    m = measure(
        url,
        tls=(
            TlsHandshake(
                IP, 443, HOST, ok=False, failure="ssl_unknown_authority", chain=(leaf, root)
            ),
        ),
        http=(HttpResponse(url, failure="ssl_unknown_authority"),),
    )
    v = classify(m, SEED)
    assert v.kind == VerdictKind.TLS_INTERFERENCE and v.confirmed
    assert v.fingerprint == "kz.isca.root.2020a"
    assert "certificate #2 of the chain" in text(v)
    assert "does not trust that authority" in text(v)


def test_a_chain_sharing_nothing_with_the_controls_is_interception() -> None:
    url = f"https://{HOST}/"
    theirs = Certificate("cd" * 32, f"CN={HOST}", "CN=WE1,O=Google Trust Services,C=US")
    ours = Certificate("ef" * 32, f"CN={HOST}", "CN=Corporate Proxy CA,O=Proxy Vendor")
    ctrl = control(tls=(TlsHandshake(IP, 443, HOST, ok=True, chain=(theirs,)),))
    m = measure(url, tls=(TlsHandshake(IP, 443, HOST, ok=True, chain=(ours,)),), ctrl=ctrl)
    v = classify(m, SEED)
    assert v.kind == VerdictKind.TLS_INTERFERENCE and not v.confirmed
    assert "Corporate Proxy CA" in text(v) and "Google Trust Services" in text(v)
    # The same organisation under another certificate is a CDN rotating certificates.
    same_org = replace(ours, issuer="CN=WE2,O=Google Trust Services,C=US")
    m2 = measure(url, tls=(TlsHandshake(IP, 443, HOST, ok=True, chain=(same_org,)),), ctrl=ctrl)
    assert classify(m2, SEED).kind == VerdictKind.ACCESSIBLE


# ---------------------------------------------------------------------------------------------
# HTTP


def test_a_known_blockpage_confirms_http_blocking() -> None:
    body = "<html><title>Ресурс</title><h1>Страница заблокирована</h1></html>"
    m = measure(http=(page(title="Ресурс", length=len(body.encode()), body=body),))
    v = classify(m, SEED)
    assert v.kind == VerdictKind.HTTP_BLOCKPAGE and v.confirmed
    assert v.fingerprint == "kz.page-blocked-ru"
    assert "matches the blockpage fingerprint kz.page-blocked-ru" in text(v)
    assert "the control loaded the page" in text(v)
    assert ooni_equivalent(v) == "http-diff"


def test_a_small_page_with_another_title_is_an_unrecognised_blockpage() -> None:
    m = measure(http=(page(title="Доступ ограничен", length=1_200, headers=(("Server", "x"),)),))
    v = classify(m, SEED)
    assert v.kind == VerdictKind.HTTP_BLOCKPAGE and not v.confirmed
    assert "the page here is 1,200 bytes, the control's 48,000" in text(v)
    assert "the title here is 'Доступ ограничен'" in text(v)
    assert "no known fingerprint matched" in text(v)


def test_another_status_for_the_same_page_is_an_http_difference() -> None:
    m = measure(http=(page(status=500, headers=(("Server", "x"),)),))
    v = classify(m, SEED)
    assert v.kind == VerdictKind.HTTP_DIFF
    assert "status 500 here, 200 at the control" in text(v)
    assert ooni_equivalent(v) == "http-diff"


def test_a_cdn_challenge_page_is_a_known_non_blocking_difference() -> None:
    challenge = page(
        status=503, title="Just a moment...", length=8_400, headers=(("Server", "cloudflare"),)
    )
    v = classify(measure(http=(challenge,)), SEED)
    assert v.kind == VerdictKind.HTTP_DIFF
    assert "known non-blocking page" in text(v) and "Cloudflare" in text(v)


def test_a_request_reset_after_connecting_is_an_http_failure() -> None:
    m = measure(http=(page(status=None, title=None, length=None, failure="connection_reset"),))
    v = classify(m, SEED)
    # VerdictKind has no HTTP_FAILURE; the failure travels in details (see the report).
    assert v.kind == VerdictKind.HTTP_DIFF
    assert v.details["http_failure"] == "connection_reset"
    assert "after the connection was established" in text(v)
    assert ooni_equivalent(v) == "http-failure"


def test_a_redirect_to_a_private_address_is_named_as_a_filter() -> None:
    redirect = page(
        status=307,
        title=None,
        length=None,
        headers=(("Location", "http://192.168.22.1/blocked?url=vlast.kz"),),
        failure="http_invalid_redirect_url",
    )
    v = classify(measure(http=(redirect,)), SEED)
    assert "192.168.22.1 is a private address inside the network" in text(v)
    assert ooni_equivalent(v) == "http-failure"


def test_a_refused_connection_after_a_redirect_is_blocking_of_the_target() -> None:
    first = page(f"https://{HOST}/", status=302, headers=(("Location", "https://cdn.vlast.kz/"),))
    m = measure(
        f"https://{HOST}/",
        dns=(
            DnsQuery(HOST, "system", answers=(IP,)),
            DnsQuery("cdn.vlast.kz", "system", answers=(OTHER_IP,)),
        ),
        tcp=(
            TcpConnect(IP, 443, ok=True),
            TcpConnect(OTHER_IP, 443, ok=False, failure="connection_refused"),
        ),
        tls=(TlsHandshake(IP, 443, HOST, ok=True),),
        http=(first, HttpResponse("https://cdn.vlast.kz/", failure="connection_refused")),
    )
    v = classify(m, SEED)
    assert v.kind == VerdictKind.TCP_IP_BLOCKING
    assert v.details["hop"] == "1"
    assert "the page redirected to https://cdn.vlast.kz/" in text(v)
    # OONI's control only tests the first host, so OONI calls this an http-failure.
    assert ooni_equivalent(v) == "http-failure"


# ---------------------------------------------------------------------------------------------
# down everywhere


def test_failing_at_the_control_too_is_down_everywhere_with_both_sides_errors() -> None:
    m = measure(
        tcp=(TcpConnect(IP, 80, ok=False, failure="generic_timeout_error", duration_ms=10_000),),
        http=(page(status=None, title=None, length=None, failure="generic_timeout_error"),),
        ctrl=control(
            tcp=(TcpConnect(IP, 80, ok=False, failure="generic_timeout_error"),),
            http=page(
                status=None,
                title=None,
                length=None,
                failure="generic_timeout_error",
                duration_ms=15_000,
            ),
        ),
    )
    v = classify(m, SEED)
    assert v.kind == VerdictKind.DOWN_EVERYWHERE
    assert f"TCP connect to {IP}:80 failed: timed out (generic_timeout_error) after 10.0 s" in text(
        v
    )
    assert f"the control's TCP connect to {IP}:80 failed: timed out" in text(v)
    assert "the control's fetch failed: timed out (generic_timeout_error) after 15.0 s" in text(v)
    assert "not blocking on this network" in text(v)
    assert (ooni_equivalent(v), ooni_accessible_equivalent(v)) == (False, False)


def test_a_broken_certificate_seen_by_the_control_too_is_down_everywhere() -> None:
    url = f"https://{HOST}/"
    failure = "ssl_invalid_certificate"
    m = measure(
        url,
        tls=(TlsHandshake(IP, 443, HOST, ok=False, failure=failure),),
        http=(HttpResponse(url, failure=failure),),
        ctrl=control(
            tls=(TlsHandshake(IP, 443, HOST, ok=False, failure=failure),),
            http=page(url, status=None, title=None, length=None, failure="unknown_error"),
        ),
    )
    assert classify(m, SEED).kind == VerdictKind.DOWN_EVERYWHERE


# ---------------------------------------------------------------------------------------------
# throttling


def timed(local_ms: float, control_ms: float) -> Measurement:
    return measure(
        http=(page(duration_ms=local_ms),),
        ctrl=control(http=page(duration_ms=control_ms)),
    )


@pytest.mark.parametrize(
    "local_ms, control_ms, kind",
    [
        (40_000, 2_000, VerdictKind.THROTTLING),  # 20×, 40 s
        (3_000, 300, VerdictKind.THROTTLING),  # exactly at both thresholds
        (15_000, 2_000, VerdictKind.ACCESSIBLE),  # 7.5×: distance, not throttling
        (2_500, 200, VerdictKind.ACCESSIBLE),  # 12.5× but 2.5 s: nobody notices
        (2_000, None, VerdictKind.ACCESSIBLE),  # no control timing: nothing to compare
    ],
)
def test_throttling_needs_both_the_factor_and_the_minimum(
    local_ms: float, control_ms: float | None, kind: VerdictKind
) -> None:
    m = measure(http=(page(duration_ms=local_ms),), ctrl=control(http=page(duration_ms=control_ms)))
    v = classify(m, SEED)
    assert v.kind == kind
    if kind == VerdictKind.THROTTLING:
        assert f"{local_ms / 1000:.1f} s here" in text(v) and "slower" in text(v)
        assert float(v.details["slowdown"]) == pytest.approx(local_ms / control_ms)
        assert (ooni_equivalent(v), ooni_accessible_equivalent(v)) == (False, True)


def test_throttling_thresholds_are_parameters() -> None:
    assert (DEFAULT_THROTTLE_FACTOR, DEFAULT_THROTTLE_MIN_MS) == (10.0, 3000.0)
    m = timed(15_000, 2_000)
    assert classify(m, SEED, throttle_factor=5.0).kind == VerdictKind.THROTTLING
    assert (
        classify(timed(40_000, 2_000), SEED, throttle_min_ms=60_000).kind == VerdictKind.ACCESSIBLE
    )


def test_slow_tls_handshakes_are_throttling() -> None:
    url = f"https://{HOST}/"
    m = measure(
        url,
        tls=(TlsHandshake(IP, 443, HOST, ok=True, duration_ms=4_200),),
        http=(page(url),),
        ctrl=control(tls=(TlsHandshake(IP, 443, HOST, ok=True, duration_ms=120),)),
    )
    v = classify(m, SEED)
    assert v.kind == VerdictKind.THROTTLING
    assert "TLS handshakes for vlast.kz took a median 4.2 s here and 0.1 s at the control" in text(
        v
    )


def test_a_download_that_stalls_after_the_headers_is_throttling() -> None:
    stalled = page(title=None, length=None, failure="generic_timeout_error")
    v = classify(measure(http=(stalled,)), SEED)
    assert v.kind == VerdictKind.THROTTLING
    assert "the download stalled" in text(v)
    assert (ooni_equivalent(v), ooni_accessible_equivalent(v)) == ("http-failure", False)


# ---------------------------------------------------------------------------------------------
# inconclusive


def test_without_a_control_a_plain_http_page_is_inconclusive() -> None:
    v = classify(measure(no_control=True), SEED)
    assert v.kind == VerdictKind.INCONCLUSIVE
    assert v.details["missing"] == "control"
    assert "no control measurement was taken from outside the country" in text(v)
    assert f"the system resolver answered {IP} for vlast.kz" in text(v)
    assert ooni_equivalent(v) is None and ooni_accessible_equivalent(v) is None


def test_a_failed_control_is_named() -> None:
    v = classify(measure(ctrl=Control(failure="connection_reset")), SEED)
    assert v.kind == VerdictKind.INCONCLUSIVE
    assert "the control measurement failed: the connection was reset" in text(v)


def test_without_a_control_a_verified_https_page_is_still_accessible() -> None:
    url = f"https://{HOST}/"
    m = measure(url, tls=(TlsHandshake(IP, 443, HOST, ok=True),), no_control=True)
    v = classify(m, SEED)
    assert v.kind == VerdictKind.ACCESSIBLE
    assert "cannot forge" in text(v)


def test_an_empty_measurement_is_inconclusive() -> None:
    m = measure(dns=(), tcp=(), http=())
    v = classify(m, SEED)
    assert v.kind == VerdictKind.INCONCLUSIVE
    assert "holds no DNS lookup" in text(v)


def test_an_error_of_the_measuring_software_is_not_evidence() -> None:
    failure = "unknown_failure 'ascii' codec can't decode byte 0xd9 in position 101"
    m = measure(http=(page(status=None, title=None, length=None, failure=failure),))
    v = classify(m, SEED)
    assert v.kind == VerdictKind.INCONCLUSIVE
    assert "says nothing about the network" in text(v)


# ---------------------------------------------------------------------------------------------
# OONI vocabulary


@pytest.mark.parametrize(
    "verdict, blocking, accessible",
    [
        (Verdict(VerdictKind.ACCESSIBLE), False, True),
        (Verdict(VerdictKind.DOWN_EVERYWHERE), False, False),
        (Verdict(VerdictKind.INCONCLUSIVE), None, None),
        (Verdict(VerdictKind.DNS_TAMPERING), "dns", False),
        (Verdict(VerdictKind.TCP_IP_BLOCKING), "tcp_ip", False),
        (Verdict(VerdictKind.TCP_IP_BLOCKING, details={"hop": "2"}), "http-failure", False),
        (Verdict(VerdictKind.TLS_INTERFERENCE), "http-failure", False),
        (Verdict(VerdictKind.HTTP_BLOCKPAGE), "http-diff", False),
        (
            Verdict(VerdictKind.HTTP_BLOCKPAGE, details={"local_fetch": "failed"}),
            "http-failure",
            False,
        ),
        (Verdict(VerdictKind.HTTP_DIFF), "http-diff", False),
        (
            Verdict(VerdictKind.HTTP_DIFF, details={"http_failure": "eof_error"}),
            "http-failure",
            False,
        ),
        (Verdict(VerdictKind.THROTTLING, details={"local_fetch": "ok"}), False, True),
        (Verdict(VerdictKind.THROTTLING, details={"local_fetch": "failed"}), "http-failure", False),
    ],
)
def test_ooni_equivalents(verdict: Verdict, blocking: object, accessible: object) -> None:
    assert ooni_equivalent(verdict) == blocking
    assert ooni_accessible_equivalent(verdict) == accessible


# ---------------------------------------------------------------------------------------------
# fingerprints


def test_the_shipped_seed_names_a_public_source_for_every_entry() -> None:
    assert len(SEED) >= 5
    assert all(
        fp.source.startswith(("https://", "github.com")) or "github.com" in fp.source for fp in SEED
    )
    assert SEED.get("kz.isca.issuer") is not None
    assert not SEED.dns  # no publicly documented Kazakh DNS blocking answer (see the file)


def test_matching_semantics_follow_ooni() -> None:
    fps = parse_toml(
        r"""
        schema_version = 1
        [[dns]]
        name = "v6"
        answer = "2001:0DB8::1"
        source = "s"
        [[dns]]
        name = "alias"
        answer = "block.isp.example."
        source = "s"
        [[http]]
        name = "loc"
        location = "header.Location"
        match = "prefix"
        pattern = "http://block."
        source = "s"
        [[http]]
        name = "re"
        location = "body"
        match = "regexp"
        pattern = "blocked by order №\\s*\\d+"
        source = "s"
        [[http]]
        name = "code"
        location = "status"
        match = "full"
        pattern = "451"
        source = "s"
        [[certificate]]
        name = "fp-sha"
        field = "sha256"
        match = "full"
        pattern = "AB:CD"
        source = "s"
        """
    )
    assert fps.match_dns("2001:db8::1") == "v6"
    assert fps.match_dns("BLOCK.isp.example") == "alias"
    assert fps.match_dns("192.0.2.1") is None
    assert fps.match_http(page(headers=(("location", "http://block.isp/?u=1"),))) == "loc"
    assert fps.match_http(page(headers=(("location", "https://x/http://block."),))) is None
    assert fps.match_http(page(body="<p>blocked by order № 42</p>")) == "re"
    assert fps.match_http(page(status=451)) == "code"
    assert fps.match_http(page()) is None
    assert fps.match_certificate(replace(ISCA_LEAF, sha256="abcd")) == "fp-sha"


def test_known_false_positives_are_never_reported_as_blockpages() -> None:
    challenge = page(title="Just a moment...")
    assert SEED.match_http(challenge) is None
    assert SEED.match_false_positive(challenge) == "fp.cloudflare-challenge"


def entry(section: str, **fields: object) -> str:
    """One ``[[section]]`` table in TOML, values written as TOML literals."""
    lines = [f"[[{section}]]"]
    for key, value in fields.items():
        lines.append(f"{key} = {value!r}".replace("'", '"'))
    return "\n".join(lines)


HTTP = {"name": "a", "location": "body", "match": "contains", "pattern": "x", "source": "s"}
DNS = {"name": "a", "answer": "1.2.3.4", "source": "s"}
CERT = {"name": "a", "field": "issuer", "match": "contains", "pattern": "x", "source": "s"}


@pytest.mark.parametrize(
    "body, field",
    [
        ("", "schema_version"),
        (entry("http", **{**HTTP, "match": "like"}), "http[0].match"),
        (entry("http", **{**HTTP, "location": "cookie"}), "http[0].location"),
        (entry("http", **{**HTTP, "match": "regexp", "pattern": "(x"}), "http[0].pattern"),
        (entry("dns", name="a", answer="1.2.3.4"), "dns[0].source"),
        (entry("dns", **DNS, countries=["kz"]), "dns[0].countries"),
        (entry("dns", **DNS, ip="x"), "dns[0].ip"),
        (entry("certificate", **{**CERT, "field": "owner"}), "certificate[0].field"),
        (entry("dns", **DNS) + "\n" + entry("dns", **DNS), "dns.name"),
        ("[extra]\nx = 1", "extra"),
    ],
)
def test_schema_errors_name_the_exact_field(body: str, field: str) -> None:
    version = "" if field == "schema_version" else "schema_version = 1\n"
    with pytest.raises(InvalidInput) as caught:
        parse_toml(version + body, origin="mine.toml")
    fields = [p.field for p in caught.value.problems]
    assert field in fields, fields
    assert "mine.toml" in str(caught.value)


def test_broken_toml_is_refused_with_the_file_name() -> None:
    with pytest.raises(InvalidInput, match=r"mine\.toml: not valid TOML"):
        parse_toml("schema_version = ", origin="mine.toml")


def test_an_ooni_csv_with_a_broken_row_is_refused_with_its_line(tmp_path: Path) -> None:
    header = (
        "name,scope,other_names,location_found,pattern_type,pattern,confidence_no_fp,"
        "expected_countries,source,exp_url,notes\n"
    )
    good = 'x.1,isp,,body,contains,Blocked by x,5,"KZ,KG",ooni,,a note\n'
    path = tmp_path / "fingerprints_http.csv"
    path.write_text(header + good, encoding="utf-8")
    fps = load_ooni_csv(path)
    fp = fps.get("x.1")
    assert fp is not None and fp.countries == ("KZ", "KG") and fp.kind == "http"
    path.write_text(header + good + "x.2,isp,,body,regexp,(unclosed,5,,,,\n", encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        load_ooni_csv(path)
    assert f"{path}:3" in str(caught.value)
    (tmp_path / "other.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="missing columns"):
        load_ooni_csv(tmp_path / "other.csv")


def test_fingerprint_sets_merge() -> None:
    extra = parse_toml('schema_version = 1\n[[dns]]\nname="x"\nanswer="5.6.7.8"\nsource="s"')
    merged: Fingerprints = SEED + extra
    assert len(merged) == len(SEED) + 1 and merged.match_dns("5.6.7.8") == "x"
