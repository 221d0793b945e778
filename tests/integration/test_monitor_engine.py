"""The measurement engine against hostile and friendly servers on loopback.

Every peer is started here, on 127.0.0.1 with an ephemeral port, in a server event loop on its
own thread (so the measured client loop pays only for the client): an HTTP site, an HTTPS site
with a CA generated for the test, a port that refuses, a server that resets, an SNI filter in
front of the HTTPS site, a slowloris, a huge body, a gzip bomb, a redirect loop, and two DNS
resolvers (one lies). Nothing leaves loopback: the lying resolver's 10.10.34.34 is recorded
but never connected to (the tests pass an address filter that allows loopback only).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gzip
import hashlib
import ipaddress
import socket
import ssl
import struct
import threading
import time
from collections.abc import Awaitable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import parse_qs, quote

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from qorgau.errors import InvalidInput
from qorgau.monitor import engine
from qorgau.monitor.engine import FAILURES, measure, measure_many, resolve
from qorgau.monitor.model import Measurement, Vantage
from tests.support.tsa import make_server_files

T = TypeVar("T")
VANTAGE = Vantage(agent_id="loopback-probe", country="KZ", asn="AS0", network_name="loopback")
HOME_TITLE = "Qorgau test site — ok"
CP1251_TITLE = "Сайт заблокирован"
LIAR_ANSWER = "10.10.34.34"


def loopback_only(ip: str) -> bool:
    return ipaddress.ip_address(ip).is_loopback


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


# --- the server side: one event loop on a thread ---------------------------------------------


class ServerLoop:
    """An asyncio loop on a daemon thread that owns every test server."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.servers: list[asyncio.AbstractServer] = []
        self.transports: list[asyncio.BaseTransport] = []
        self.thread.start()

    def call(self, coro: Awaitable[T]) -> T:
        async def wrapper() -> T:
            return await coro

        return asyncio.run_coroutine_threadsafe(wrapper(), self.loop).result(10)

    def stop(self) -> None:
        async def shutdown() -> None:
            for server in self.servers:
                server.close()
            for transport in self.transports:
                transport.close()
            current = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not current]
            if tasks:  # handlers end by themselves once their client is gone (≤ 1 s)
                _, stuck = await asyncio.wait(tasks, timeout=2)
                for task in stuck:
                    task.cancel()
                await asyncio.gather(*stuck, return_exceptions=True)
            for server in self.servers:
                await server.wait_closed()

        self.call(shutdown())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


async def close_quietly(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with an RST, as censorship middleboxes and the reset server do."""
    sock = writer.transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


# --- HTTP site (served plain and over TLS) ----------------------------------------------------

GZIP_BOMB = gzip.compress(b"\0" * (16 << 20), compresslevel=9)  # 16 MiB inflated, ~16 KiB sent


def response(status: str, body: bytes, *headers: str) -> bytes:
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Connection: close", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


async def http_site(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        target = head.split(b"\r\n", 1)[0].split(b" ")[1].decode()
        path, _, query = target.partition("?")
        if path == "/away":  # an open redirect: wherever ?to= says
            location = parse_qs(query)["to"][0]
            writer.write(response("302 Found", b"", f"Location: {location}"))
        elif path == "/loop":
            writer.write(response("302 Found", b"", "Location: /loop"))
        elif path == "/hop":
            writer.write(response("301 Moved Permanently", b"", "Location: /"))
        elif path == "/huge":
            size = 64 << 20
            status_line = f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nContent-Type: text/plain"
            writer.write(status_line.encode() + b"\r\n\r\n")
            chunk = b"a" * (64 << 10)
            for _ in range(size // len(chunk)):
                writer.write(chunk)
                await writer.drain()
        elif path == "/slow":
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\nContent-Type: text/html\r\n\r\n"
            )
            while True:
                writer.write(b"x")
                await writer.drain()
                await asyncio.sleep(1)
        elif path == "/bomb":
            writer.write(
                response("200 OK", GZIP_BOMB, "Content-Encoding: gzip", "Content-Type: text/plain")
            )
        elif path == "/cp1251":
            body = f"<html><head><title>{CP1251_TITLE}</title></head></html>".encode("cp1251")
            writer.write(response("200 OK", body, "Content-Type: text/html; charset=windows-1251"))
        else:
            body = (
                f"<!doctype html><html><head><title>{HOME_TITLE}</title></head>"
                f"<body><p>path {path}</p></body></html>"
            ).encode()
            writer.write(response("200 OK", body, "Content-Type: text/html; charset=utf-8"))
        await writer.drain()
    except Exception:  # measurement probes connect and leave; that is fine
        pass
    finally:
        await close_quietly(writer)


async def resetting_site(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    reset(writer)


# --- an SNI filter: a TCP proxy in front of the TLS site that resets on a name ----------------


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except Exception:
        pass
    finally:
        await close_quietly(writer)


def sni_filter(upstream_port: int, blocked: bytes) -> Any:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            hello = await asyncio.wait_for(reader.read(4096), 5)
        except Exception:
            await close_quietly(writer)
            return
        if blocked in hello:  # the name travels in clear text in the ClientHello
            reset(writer)
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        up_writer.write(hello)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    return handler


# --- DNS resolvers (UDP and TCP), written with dnspython's message API -----------------------


@dataclass
class Zone:
    addresses: dict[str, list[str]]
    cnames: dict[str, str]
    nxdomain: set[str]
    silent_aaaa: frozenset[str] = frozenset()  # never answer AAAA for these (some resolvers)

    def answer(self, wire: bytes) -> bytes | None:
        query = dns.message.from_wire(wire)
        reply = dns.message.make_response(query)
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        if name in self.silent_aaaa and question.rdtype == dns.rdatatype.AAAA:
            return None
        if name in self.nxdomain:
            reply.set_rcode(dns.rcode.NXDOMAIN)
            return reply.to_wire()
        owner = question.name
        if name in self.cnames:
            target = self.cnames[name]
            reply.answer.append(dns.rrset.from_text(owner, 60, "IN", "CNAME", target + "."))
            owner, name = dns.name.from_text(target), target
        wanted = question.rdtype
        ips = [
            ip
            for ip in self.addresses.get(name, [])
            if (ipaddress.ip_address(ip).version == 4) == (wanted == dns.rdatatype.A)
        ]
        if ips and wanted in (dns.rdatatype.A, dns.rdatatype.AAAA):
            reply.answer.append(
                dns.rrset.from_text(owner, 60, "IN", dns.rdatatype.to_text(wanted), *ips)
            )
        return reply.to_wire()


class UdpDns(asyncio.DatagramProtocol):
    def __init__(self, zone: Zone) -> None:
        self.zone = zone
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        assert self.transport is not None
        reply = self.zone.answer(data)
        if reply is not None:
            self.transport.sendto(reply, addr)


def tcp_dns(zone: Zone) -> Any:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                (length,) = struct.unpack("!H", await reader.readexactly(2))
                reply = zone.answer(await reader.readexactly(length))
                if reply is None:
                    continue
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except Exception:
            pass
        finally:
            await close_quietly(writer)

    return handler


# --- a CA, a leaf, and the servers -----------------------------------------------------------


@dataclass
class Pki:
    ca_file: Path
    leaf_der: bytes
    server_context: ssl.SSLContext


def make_pki(folder: Path) -> Pki:
    ca_file, chain_file, key_file = make_server_files(
        folder, dns_names=["qorgau.test", "blocked.test"], ip_addresses=(), ca_name="Qorgau Test CA"
    )
    leaf = x509.load_pem_x509_certificates(chain_file.read_bytes())[0]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain_file, key_file)
    return Pki(ca_file, leaf.public_bytes(serialization.Encoding.DER), context)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Lab:
    pki: Pki
    http: int
    https: int
    reset: int
    refused: int
    sni_filter: int
    liar: str
    truth: str
    truth_tcp: str


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    pki = make_pki(tmp_path_factory.mktemp("pki"))
    servers = ServerLoop()

    async def tcp(handler: Any, **kw: Any) -> int:
        server = await asyncio.start_server(handler, "127.0.0.1", 0, backlog=1024, **kw)
        servers.servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    async def udp(zone: Zone) -> int:
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: UdpDns(zone), local_addr=("127.0.0.1", 0)
        )
        servers.transports.append(transport)
        return int(transport.get_extra_info("sockname")[1])

    async def start() -> Lab:
        truth_zone = Zone(
            addresses={
                "blocked.test": ["127.0.0.1", "::1"],
                "www.alias.test": ["127.0.0.1"],
                "half.test": ["127.0.0.1", "::1"],
            },
            cnames={"alias.test": "www.alias.test"},
            nxdomain={"nx.test"},
            silent_aaaa=frozenset({"half.test"}),
        )
        liar_zone = Zone(addresses={"blocked.test": [LIAR_ANSWER]}, cnames={}, nxdomain=set())
        https = await tcp(http_site, ssl=pki.server_context)
        return Lab(
            pki=pki,
            http=await tcp(http_site),
            https=https,
            reset=await tcp(resetting_site),
            refused=closed_port(),
            sni_filter=await tcp(sni_filter(https, b"blocked.test")),
            liar=f"udp://127.0.0.1:{await udp(liar_zone)}",
            truth=f"udp://127.0.0.1:{await udp(truth_zone)}",
            truth_tcp=f"tcp://127.0.0.1:{await tcp(tcp_dns(truth_zone))}",
        )

    try:
        yield servers.call(start())
    finally:
        servers.stop()


def pinned(*hosts: str) -> dict[str, list[str]]:
    return {host: ["127.0.0.1"] for host in hosts}


def assert_known_failures(m: Measurement) -> None:
    failures = [s.failure for steps in (m.dns, m.tcp, m.tls, m.http) for s in steps]
    for failure in failures:
        assert failure is None or failure in FAILURES, failure


# --- tests -----------------------------------------------------------------------------------


def test_accessible_http_site(lab: Lab) -> None:
    m = run(
        measure(
            f"http://qorgau.test:{lab.http}/hop",
            vantage=VANTAGE,
            connect_addresses=pinned("qorgau.test"),
        )
    )
    assert m.vantage == VANTAGE and m.source == "qorgau"
    assert m.dns == ()  # a pinned host is not resolved
    assert [(t.ip, t.port, t.ok) for t in m.tcp] == [("127.0.0.1", lab.http, True)]
    assert m.tls == ()
    first, final = m.http
    assert first.status == 301 and first.url == f"http://qorgau.test:{lab.http}/hop"
    assert final.url == f"http://qorgau.test:{lab.http}/"
    assert final.status == 200 and final.failure is None
    assert final.title == HOME_TITLE
    assert final.body_sample is not None and "path /" in final.body_sample
    assert final.body_length == len(final.body_sample.encode())
    assert final.body_sha256 == hashlib.sha256(final.body_sample.encode()).hexdigest()
    assert not final.body_truncated
    assert ("Content-Type", "text/html; charset=utf-8") in final.headers
    assert m.duration_ms is not None and m.duration_ms > 0


def test_https_with_lab_ca_records_chain_and_version(lab: Lab) -> None:
    m = run(
        measure(
            f"https://qorgau.test:{lab.https}/",
            vantage=VANTAGE,
            connect_addresses=pinned("qorgau.test"),
            ca_file=lab.pki.ca_file,
        )
    )
    (tls,) = m.tls
    assert tls.ok and tls.failure is None and tls.sni == "qorgau.test"
    assert tls.version is not None and tls.version.startswith("TLS")
    assert tls.cipher
    assert len(tls.chain) == 2  # leaf and CA, as the server sent them
    leaf, ca = tls.chain
    assert leaf.sha256 == hashlib.sha256(lab.pki.leaf_der).hexdigest()
    assert set(leaf.san) == {"qorgau.test", "blocked.test"}
    assert "Qorgau Test CA" in leaf.issuer and "Qorgau Test CA" in ca.subject
    assert leaf.not_after is not None and leaf.not_after > dt.datetime.now(dt.UTC)
    (page,) = m.http
    assert page.status == 200 and page.title == HOME_TITLE


def test_https_untrusted_ca_still_records_presented_certificate(lab: Lab) -> None:
    m = run(
        measure(
            f"https://qorgau.test:{lab.https}/",
            vantage=VANTAGE,
            connect_addresses=pinned("qorgau.test"),
        )
    )
    (tcp,) = m.tcp
    assert tcp.ok
    (tls,) = m.tls
    assert not tls.ok and tls.failure == "ssl_unknown_authority"
    assert tls.chain and tls.chain[0].sha256 == hashlib.sha256(lab.pki.leaf_der).hexdigest()
    assert m.http[-1].failure == "ssl_unknown_authority"
    assert_known_failures(m)


def test_https_wrong_name_is_invalid_hostname(lab: Lab) -> None:
    m = run(
        measure(
            f"https://wrong.test:{lab.https}/",
            vantage=VANTAGE,
            connect_addresses=pinned("wrong.test"),
            ca_file=lab.pki.ca_file,
        )
    )
    (tls,) = m.tls
    assert tls.failure == "ssl_invalid_hostname" and tls.chain


def test_refused_port(lab: Lab) -> None:
    m = run(
        measure(
            f"http://qorgau.test:{lab.refused}/",
            vantage=VANTAGE,
            connect_addresses=pinned("qorgau.test"),
        )
    )
    (tcp,) = m.tcp
    assert not tcp.ok and tcp.failure == "connection_refused"
    assert m.http[-1].failure == "connection_refused"
    assert_known_failures(m)


def test_reset_on_accept(lab: Lab) -> None:
    https = run(
        measure(
            f"https://qorgau.test:{lab.reset}/",
            vantage=VANTAGE,
            connect_addresses=pinned("qorgau.test"),
            ca_file=lab.pki.ca_file,
        )
    )
    failures = {t.failure for t in https.tcp} | {t.failure for t in https.tls}
    assert "connection_reset" in failures
    http = run(
        measure(
            f"http://qorgau.test:{lab.reset}/",
            vantage=VANTAGE,
            connect_addresses=pinned("qorgau.test"),
        )
    )
    assert http.http[-1].failure in {"connection_reset", "eof_error"}
    assert_known_failures(https)
    assert_known_failures(http)


def test_sni_filtering(lab: Lab) -> None:
    """The same server through the same filter: one name is reset, the other is served."""
    common: dict[str, Any] = {
        "vantage": VANTAGE,
        "connect_addresses": pinned("qorgau.test", "blocked.test"),
        "ca_file": lab.pki.ca_file,
    }
    blocked = run(measure(f"https://blocked.test:{lab.sni_filter}/", **common))
    allowed = run(measure(f"https://qorgau.test:{lab.sni_filter}/", **common))
    (tcp,) = blocked.tcp
    assert tcp.ok
    (tls,) = blocked.tls
    assert not tls.ok and tls.failure == "connection_reset" and tls.sni == "blocked.test"
    assert blocked.http[-1].failure == "connection_reset"
    (tls_ok,) = allowed.tls
    assert tls_ok.ok and tls_ok.chain
    assert allowed.http[-1].status == 200
    assert_known_failures(blocked)


def test_redirect_loop_ends(lab: Lab) -> None:
    started = time.monotonic()
    m = run(
        measure(
            f"http://qorgau.test:{lab.http}/loop",
            vantage=VANTAGE,
            connect_addresses=pinned("qorgau.test"),
            max_redirects=5,
        )
    )
    assert time.monotonic() - started < 5
    *hops, last = m.http
    assert len(hops) == 6 and all(h.status == 302 for h in hops)
    assert last.failure == "too_many_redirects" and last.status is None
    assert_known_failures(m)


def test_huge_body_is_truncated(lab: Lab) -> None:
    started = time.monotonic()
    limit = 256 << 10
    m = run(
        measure(
            f"http://qorgau.test:{lab.http}/huge",
            vantage=VANTAGE,
            connect_addresses=pinned("qorgau.test"),
            max_body=limit,
        )
    )
    assert time.monotonic() - started < 5
    (page,) = m.http
    assert page.status == 200 and page.failure is None
    assert page.body_truncated and page.body_length == limit
    assert page.body_sample == "a" * 4096


def test_gzip_bomb_is_bounded(lab: Lab) -> None:
    limit = 64 << 10
    m = run(
        measure(
            f"http://qorgau.test:{lab.http}/bomb",
            vantage=VANTAGE,
            connect_addresses=pinned("qorgau.test"),
            max_body=limit,
        )
    )
    (page,) = m.http
    assert page.status == 200 and page.body_truncated and page.body_length == limit
    assert page.body_sha256 == hashlib.sha256(b"\0" * limit).hexdigest()


def test_slowloris_is_cut_at_the_deadline(lab: Lab) -> None:
    timeout = 1.5
    started = time.monotonic()
    m = run(
        measure(
            f"http://qorgau.test:{lab.http}/slow",
            vantage=VANTAGE,
            connect_addresses=pinned("qorgau.test"),
            timeout=timeout,
        )
    )
    elapsed = time.monotonic() - started
    assert elapsed < 3 * timeout, elapsed
    (page,) = m.http
    assert page.status == 200 and page.failure == "generic_timeout_error"
    assert page.body_truncated and page.body_length is not None and 1 <= page.body_length <= 3
    assert_known_failures(m)


def test_windows_1251_title(lab: Lab) -> None:
    m = run(
        measure(
            f"http://qorgau.test:{lab.http}/cp1251",
            vantage=VANTAGE,
            connect_addresses=pinned("qorgau.test"),
        )
    )
    assert m.http[-1].title == CP1251_TITLE


def test_lying_and_honest_resolvers_are_both_recorded(lab: Lab) -> None:
    m = run(
        measure(
            f"http://blocked.test:{lab.http}/",
            vantage=VANTAGE,
            resolvers=(lab.liar, lab.truth, lab.truth_tcp),
            address_filter=loopback_only,  # never send a packet to 10.10.34.34
        )
    )
    by_resolver = {q.resolver: q for q in m.dns}
    assert set(by_resolver) == {lab.liar, lab.truth, lab.truth_tcp}
    assert by_resolver[lab.liar].answers == (LIAR_ANSWER,)
    assert by_resolver[lab.truth].answers == ("127.0.0.1", "::1")
    assert by_resolver[lab.truth_tcp].answers == ("127.0.0.1", "::1")
    assert all(q.hostname == "blocked.test" and q.failure is None for q in m.dns)
    assert all(q.duration_ms is not None for q in m.dns)
    assert LIAR_ANSWER not in {t.ip for t in m.tcp}
    assert any(t.ip == "127.0.0.1" and t.ok for t in m.tcp)
    assert m.http[-1].status == 200


def test_resolved_loopback_is_not_connected_by_default(lab: Lab) -> None:
    m = run(measure(f"http://blocked.test:{lab.http}/", vantage=VANTAGE, resolvers=(lab.truth,)))
    assert m.dns[0].answers == ("127.0.0.1", "::1")
    assert m.tcp == ()
    assert m.http[-1].failure == "dns_bogon_error"


def test_nxdomain_and_cname(lab: Lab) -> None:
    m = run(measure("http://nx.test/", vantage=VANTAGE, resolvers=(lab.truth, lab.truth_tcp)))
    assert [q.failure for q in m.dns] == ["dns_nxdomain_error", "dns_nxdomain_error"]
    assert m.tcp == () and m.http[-1].failure == "dns_nxdomain_error"
    alias = run(resolve("alias.test", lab.truth, timeout=2))
    assert alias.cnames == ("www.alias.test",) and alias.answers == ("127.0.0.1",)
    assert alias.resolver == lab.truth
    assert_known_failures(m)


def test_answer_kept_when_the_other_family_is_dropped(lab: Lab) -> None:
    q = run(resolve("half.test", lab.truth, timeout=0.5))
    assert q.answers == ("127.0.0.1",) and q.failure is None


def test_silent_resolver_times_out() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # bound, never answers
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        started = time.monotonic()
        q = run(resolve("qorgau.test", f"udp://127.0.0.1:{port}", timeout=0.5))
    assert q.failure == "generic_timeout_error"
    assert time.monotonic() - started < 2


def test_redirect_to_loopback_is_not_followed(lab: Lab) -> None:
    """A hostile site must not turn the probe on its own machine (SSRF via redirect)."""
    local = quote(f"http://127.0.0.1:{lab.http}/", safe="")
    other = quote(f"http://other.test:{lab.http}/", safe="")
    common: dict[str, Any] = {
        "vantage": VANTAGE,
        "connect_addresses": pinned("qorgau.test", "other.test"),
    }
    refused = run(measure(f"http://qorgau.test:{lab.http}/away?to={local}", **common))
    redirect, final = refused.http
    assert redirect.status == 302
    assert final.url == f"http://127.0.0.1:{lab.http}/" and final.failure == "dns_bogon_error"
    followed = run(measure(f"http://qorgau.test:{lab.http}/away?to={other}", **common))
    assert [h.status for h in followed.http] == [302, 200]
    assert followed.http[-1].url == f"http://other.test:{lab.http}/"


def test_chain_captured_by_reconnecting_when_not_readable(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where a failed handshake's chain cannot be read (other Pythons), one unverified
    reconnect records the presented certificate instead."""
    readable = engine._peer_chain

    def verified_only_leafless(obj: ssl.SSLObject) -> list[bytes]:
        return [] if obj.context.verify_mode == ssl.CERT_REQUIRED else readable(obj)

    monkeypatch.setattr(engine, "_peer_chain", verified_only_leafless)
    m = run(
        measure(
            f"https://qorgau.test:{lab.https}/",
            vantage=VANTAGE,
            connect_addresses=pinned("qorgau.test"),
        )
    )
    (tls,) = m.tls
    assert not tls.ok and tls.failure == "ssl_unknown_authority"
    assert tls.chain[0].sha256 == hashlib.sha256(lab.pki.leaf_der).hexdigest()
    assert tls.version is not None
    assert len(m.tcp) == 1  # the capturing reconnect is not a measurement of its own


def test_system_resolver_localhost() -> None:
    q = run(resolve("localhost", "system", timeout=5))
    assert q.resolver == "system" and q.failure is None
    assert set(q.answers) & {"127.0.0.1", "::1"}


def test_batch_rejects_bad_items_before_measuring() -> None:
    with pytest.raises(InvalidInput) as caught:
        run(measure_many(["http://ok.test/", "ftp://bad/"], vantage=VANTAGE))
    (problem,) = caught.value.problems
    assert problem.field == "url" and "item 1" in problem.message


@pytest.mark.parametrize(
    "url",
    ["example.kz", "ftp://example.kz/", "http://", "https:///path", "javascript:alert(1)", ""],
)
def test_invalid_url(url: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        run(measure(url, vantage=VANTAGE))
    assert caught.value.problems[0].field == "url"


def test_batch_of_600(lab: Lab) -> None:
    hosts = [f"site{i}.test" for i in range(600)]
    urls = [f"http://{h}:{lab.http}/page/{i}" for i, h in enumerate(hosts)]
    started = time.perf_counter()
    results = run(
        measure_many(
            urls, concurrency=64, vantage=VANTAGE, connect_addresses=pinned(*hosts), timeout=10
        )
    )
    elapsed = time.perf_counter() - started
    assert [m.url for m in results] == urls
    assert all(m.http[-1].status == 200 for m in results)
    print(
        f"\nmeasure_many: {len(urls)} loopback measurements in {elapsed:.2f} s "
        f"= {len(urls) / elapsed * 60:.0f} measurements/minute"
    )
