"""``control_from``: a control vantage's measurement reduced to the Control the classifier reads.

The lab tests use it end to end; here each rule is pinned on hand-built measurements: which
DNS answers count (the URL's own host only, every resolver, IDNA either way), which failure is
reported when there are none, what is passed through untouched, when the control counts as
"not taken", and that the result drives the classifier the way an OONI control does.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from qorgau.monitor.classify import classify
from qorgau.monitor.control import NO_OBSERVATIONS, control_from
from qorgau.monitor.fingerprints import load_default
from qorgau.monitor.model import (
    Control,
    DnsQuery,
    HttpResponse,
    Measurement,
    TcpConnect,
    TlsHandshake,
    Vantage,
    VerdictKind,
)
from qorgau.monitor.wire import control_from_json, control_to_json

CTL = Vantage(
    agent_id="ctl-1", country="DE", asn="AS64510", network_name="control", is_control=True
)
KZ = Vantage(agent_id="kz-1", country="KZ", asn="AS9198", network_name="Kazakhtelecom")
WHEN = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
IP, OTHER = "104.21.5.5", "172.67.1.1"


def measurement(
    url: str = "https://vlast.kz/", vantage: Vantage = CTL, **steps: object
) -> Measurement:
    return Measurement(url=url, vantage=vantage, started_at=WHEN, **steps)  # type: ignore[arg-type]


def test_answers_of_every_resolver_for_the_urls_host_only() -> None:
    m = measurement(
        dns=(
            DnsQuery("vlast.kz", "system", answers=(IP,)),
            DnsQuery("vlast.kz", "udp://1.1.1.1:53", answers=(OTHER, IP)),
            DnsQuery("www.vlast.kz", "system", answers=("151.101.1.1",)),  # after a redirect
        ),
    )
    control = control_from(m)
    assert control.dns_answers == (IP, OTHER)  # de-duplicated, in the order first seen
    assert control.dns_failure is None and control.failure is None


def test_layers_are_passed_through_and_http_is_the_last_hop() -> None:
    tcp = (TcpConnect(IP, 443, ok=True, duration_ms=31.0), TcpConnect(OTHER, 443, ok=False))
    tls = (TlsHandshake(IP, 443, "vlast.kz", ok=True, duration_ms=70.0),)
    chain = (
        HttpResponse("https://vlast.kz/", status=301, headers=(("Location", "/ru/"),)),
        HttpResponse("https://vlast.kz/ru/", status=200, title="Vlast", body_length=48_000),
    )
    m = measurement(
        dns=(DnsQuery("vlast.kz", "system", answers=(IP,)),), tcp=tcp, tls=tls, http=chain
    )
    control = control_from(m)
    assert (control.tcp, control.tls, control.http) == (tcp, tls, chain[-1])


def test_a_failed_lookup_names_the_real_error_over_no_answer() -> None:
    m = measurement(
        dns=(
            DnsQuery("vlast.kz", "udp://1.1.1.1:53", failure="dns_no_answer"),
            DnsQuery("vlast.kz", "system", failure="dns_nxdomain_error"),
        ),
        http=(HttpResponse("https://vlast.kz/", failure="dns_nxdomain_error"),),
    )
    control = control_from(m)
    assert control.dns_answers == () and control.dns_failure == "dns_nxdomain_error"

    only_empty = measurement(dns=(DnsQuery("vlast.kz", "system"),))  # no answer, no failure
    assert control_from(only_empty).dns_failure == "dns_no_answer"


def test_an_address_url_has_no_dns_to_report() -> None:
    m = measurement(
        url=f"https://{IP}/",
        tcp=(TcpConnect(IP, 443, ok=True),),
        http=(HttpResponse(f"https://{IP}/", status=200),),
    )
    control = control_from(m)
    assert control.dns_answers == () and control.dns_failure is None and control.failure is None


def test_idn_hosts_match_in_either_idna_form() -> None:
    # IDNA 2008 (the engine) keeps ß; Python's IDNA 2003 codec maps it to "ss".
    for recorded in ("xn--strae-oqa.kz", "strasse.kz"):
        m = measurement(
            url="https://straße.kz/", dns=(DnsQuery(recorded, "system", answers=(IP,)),)
        )
        assert control_from(m).dns_answers == (IP,), recorded
    cyrillic = measurement(
        url="https://президент.қаз/",
        dns=(DnsQuery("xn--d1abbgf6aiiy.xn--80ao21a", "system", answers=(IP,)),),
    )
    assert control_from(cyrillic).dns_answers == (IP,)


def test_nothing_observed_means_no_control_and_the_verdict_says_so() -> None:
    empty = measurement()
    assert control_from(empty) == Control(failure=NO_OBSERVATIONS)
    local = measurement(
        vantage=KZ,
        dns=(DnsQuery("vlast.kz", "system", answers=(IP,)),),
        tcp=(TcpConnect(IP, 443, ok=False, failure="generic_timeout_error"),),
        http=(HttpResponse("https://vlast.kz/", failure="generic_timeout_error"),),
    )
    v = classify(replace(local, control=control_from(empty)), load_default())
    assert v.kind == VerdictKind.INCONCLUSIVE
    assert any(NO_OBSERVATIONS in line for line in v.evidence)


def test_the_controls_own_control_is_ignored() -> None:
    m = measurement(dns=(DnsQuery("vlast.kz", "system", answers=(IP,)),))
    with_nested = replace(m, control=Control(dns_answers=(OTHER,)))
    assert control_from(with_nested) == control_from(m)


def test_a_failing_control_turns_a_local_failure_into_down_everywhere() -> None:
    """The control's failures are kept, not hidden: that is what tells an outage from a block."""
    timeout = "generic_timeout_error"
    steps = {
        "dns": (DnsQuery("vlast.kz", "system", answers=(IP,)),),
        "tcp": (TcpConnect(IP, 443, ok=True),),
        "tls": (TlsHandshake(IP, 443, "vlast.kz", ok=False, failure=timeout),),
        "http": (HttpResponse("https://vlast.kz/", failure=timeout),),
    }
    control = control_from(measurement(**steps))
    assert control.failure is None and control.http is not None and control.http.failure == timeout
    v = classify(replace(measurement(vantage=KZ, **steps), control=control), load_default())
    assert v.kind == VerdictKind.DOWN_EVERYWHERE


def test_a_working_control_makes_a_local_reset_tls_interference() -> None:
    ok = {
        "dns": (DnsQuery("vlast.kz", "system", answers=(IP,)),),
        "tcp": (TcpConnect(IP, 443, ok=True),),
        "tls": (TlsHandshake(IP, 443, "vlast.kz", ok=True, duration_ms=60.0),),
        "http": (HttpResponse("https://vlast.kz/", status=200, title="Vlast", duration_ms=90.0),),
    }
    reset = dict(ok)
    reset["tls"] = (TlsHandshake(IP, 443, "vlast.kz", ok=False, failure="connection_reset"),)
    reset["http"] = (HttpResponse("https://vlast.kz/", failure="connection_reset"),)
    local = replace(measurement(vantage=KZ, **reset), control=control_from(measurement(**ok)))
    v = classify(local, load_default())
    assert v.kind == VerdictKind.TLS_INTERFERENCE
    assert any(
        "the control completed the TLS handshake with the same address" in e for e in v.evidence
    )


def test_the_control_survives_the_wire_format() -> None:
    m = measurement(
        dns=(DnsQuery("vlast.kz", "system", answers=(IP,)),),
        tcp=(TcpConnect(IP, 443, ok=True, duration_ms=12.5),),
        tls=(TlsHandshake(IP, 443, "vlast.kz", ok=True, version="TLSv1.3"),),
        http=(HttpResponse("https://vlast.kz/", status=200, headers=(("Server", "nginx"),)),),
    )
    control = control_from(m)
    assert control_from_json(control_to_json(control)) == control
