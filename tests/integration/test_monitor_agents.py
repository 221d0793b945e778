"""Vantage agents: enrolment, key binding, signed uploads that count once, clock skew, and the
agent itself (``Probe``) against a real ``qorgau serve`` over HTTPS on loopback, losing the
server and catching up without losing or doubling a result."""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from qorgau.monitor import signed, wire
from qorgau.monitor.model import (
    Control,
    DnsQuery,
    HttpResponse,
    Measurement,
    TcpConnect,
    Vantage,
)
from qorgau.probe.runner import Probe, ProbeConfig
from qorgau.store.store import Store
from qorgau.store.tables import monitor_observations
from tests.conftest import Account
from tests.support.tsa import make_server_files

URL = "https://orda.example/"


def enrol(client: TestClient, lead: Account, **kw: Any) -> dict[str, Any]:
    body = {"name": "kt-almaty", "country": "KZ", "asn": "AS9198", "network_name": "KT", **kw}
    r = client.post("/api/v1/monitor/agents", json=body, headers=lead.headers)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def agent_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def blocked_measurement(at: datetime) -> Measurement:
    """A TCP connect reset locally while the control connected and fetched the page."""
    return Measurement(
        url=URL,
        vantage=Vantage(country="KZ", asn="AS1", network_name="whatever the agent says"),
        started_at=at,
        dns=(DnsQuery("orda.example", "system", ("93.184.216.34",), duration_ms=3.0),),
        tcp=(TcpConnect("93.184.216.34", 443, False, "connection_reset", 12.0),),
        http=(HttpResponse(url=URL, failure="connection_reset"),),
        control=Control(
            dns_answers=("93.184.216.34",),
            tcp=(TcpConnect("93.184.216.34", 443, True, None, 30.0),),
            http=HttpResponse(url=URL, status=200, title="Orda", body_length=50_000),
        ),
    )


def result(
    key: Ed25519PrivateKey, agent: str, m: Measurement, rid: str | None = None
) -> dict[str, Any]:
    doc = {"id": rid or str(uuid.uuid4()), "agent": agent, "measurement": wire.to_json(m)}
    return {**doc, "signature": signed.sign(key, doc)}


def observations(store: Store) -> list[Any]:
    with store.read() as conn:
        return list(
            conn.execute(
                sa.select(monitor_observations).order_by(monitor_observations.c.id)
            ).mappings()
        )


def test_wire_format_round_trips_every_field() -> None:
    m = blocked_measurement(datetime(2025, 5, 6, 4, tzinfo=UTC))
    assert wire.from_json(wire.to_json(m)) == m


def test_malformed_wire_document_names_each_bad_field() -> None:
    from qorgau.errors import InvalidInput

    bad = wire.to_json(blocked_measurement(datetime.now(UTC)))
    bad["started_at"] = "yesterday"
    bad["tcp"][0]["port"] = 70_000
    with pytest.raises(InvalidInput) as caught:
        wire.from_json(bad)
    fields = {p.field for p in caught.value.problems}
    assert fields == {"measurement.started_at", "measurement.tcp[0].port"}


def test_agent_enrols_registers_and_uploads_once(
    client: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    lead = accounts["coordinator"]
    client.post(
        "/api/v1/monitor/targets", json={"outlet": "Orda", "url": URL}, headers=lead.headers
    )
    agent = enrol(client, lead)
    token = agent.pop("token")
    assert token.startswith("qga_") and agent["registered"] is False
    key = Ed25519PrivateKey.generate()
    h = agent_headers(token)
    reg = client.post(
        "/api/v1/agent/register", json={"public_key": signed.public_key_b64(key)}, headers=h
    )
    assert reg.status_code == 200, reg.text
    assert reg.json()["targets"] == [URL]
    assert reg.json()["vantage"]["asn"] == "AS9198"
    # the same token cannot be bound to a second key (a stolen token is not enough)
    other = Ed25519PrivateKey.generate()
    assert (
        client.post(
            "/api/v1/agent/register", json={"public_key": signed.public_key_b64(other)}, headers=h
        ).status_code
        == 403
    )
    now = datetime.now(UTC)
    item = result(key, "kt-almaty", blocked_measurement(now - timedelta(seconds=30)))
    body = {"sent_at": now.isoformat(), "results": [item]}
    first = client.post("/api/v1/agent/results", json=body, headers=h).json()["results"]
    assert first[0]["status"] == "accepted" and first[0]["verdict"] == "tcp_ip_blocking"
    again = client.post("/api/v1/agent/results", json=body, headers=h).json()["results"]
    assert again[0]["status"] == "duplicate"
    rows = observations(store)
    assert len(rows) == 1
    # the desk's configuration of the network wins over what the agent claims
    assert rows[0]["network"] == "KZ AS9198 KT"
    status = client.get("/api/v1/monitor/outlets/Orda", headers=lead.headers).json()
    assert status[0]["networks"][0]["state"] == "blocked"
    listed = client.get("/api/v1/monitor/agents", headers=lead.headers).json()
    assert listed[0]["accepted"] == 1 and listed[0]["registered"] is True


def test_forged_tampered_and_malformed_results_are_refused_each_with_its_reason(
    client: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    lead = accounts["coordinator"]
    token = enrol(client, lead)["token"]
    key = Ed25519PrivateKey.generate()
    h = agent_headers(token)
    client.post(
        "/api/v1/agent/register", json={"public_key": signed.public_key_b64(key)}, headers=h
    )
    now = datetime.now(UTC)
    good = result(key, "kt-almaty", blocked_measurement(now))
    tampered = result(key, "kt-almaty", blocked_measurement(now))
    tampered["measurement"]["url"] = "https://another.example/"
    forged = result(Ed25519PrivateKey.generate(), "kt-almaty", blocked_measurement(now))
    malformed_doc = {
        "id": "m1",
        "agent": "kt-almaty",
        "measurement": {**wire.to_json(blocked_measurement(now)), "started_at": "soon"},
    }
    malformed = {**malformed_doc, "signature": signed.sign(key, malformed_doc)}
    future = result(key, "kt-almaty", blocked_measurement(now + timedelta(hours=2)))
    body = {
        "sent_at": now.isoformat(),
        "results": [good, tampered, forged, malformed, future, {"no": "id"}],
    }
    out = client.post("/api/v1/agent/results", json=body, headers=h).json()["results"]
    statuses = [o["status"] for o in out]
    assert statuses == ["accepted", "rejected", "rejected", "rejected", "rejected", "rejected"]
    assert "signature" in out[1]["reason"] and "signature" in out[2]["reason"]
    assert "started_at" in out[3]["reason"]
    assert "future" in out[4]["reason"]
    assert "id" in out[5]["reason"]
    assert len(observations(store)) == 1  # the good one, and nothing of the others


def test_a_result_without_control_is_paired_with_a_control_agents_measurement(
    client: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    from dataclasses import replace

    from qorgau.store.tables import monitor_control_samples

    lead = accounts["coordinator"]
    inside = enrol(client, lead)["token"]
    outside = enrol(client, lead, name="de-control", country="DE", is_control=True)["token"]
    keys = {}
    for token in (inside, outside):
        keys[token] = Ed25519PrivateKey.generate()
        client.post(
            "/api/v1/agent/register",
            json={"public_key": signed.public_key_b64(keys[token])},
            headers=agent_headers(token),
        )
    now = datetime.now(UTC)
    blocked = blocked_measurement(now - timedelta(seconds=20))
    # what the control agent saw of the same URL a few seconds earlier: the page, fine
    seen_outside = replace(
        blocked,
        started_at=now - timedelta(seconds=25),
        tcp=(TcpConnect("93.184.216.34", 443, True, None, 30.0),),
        http=(HttpResponse(url=URL, status=200, title="Orda", body_length=50_000),),
        control=None,
    )
    control_item = result(keys[outside], "de-control", seen_outside)
    body = {"sent_at": now.isoformat(), "results": [control_item]}
    for _ in range(2):  # a resent control result adds no second sample
        client.post("/api/v1/agent/results", json=body, headers=agent_headers(outside))
    with store.read() as conn:
        samples = conn.execute(sa.select(sa.func.count()).select_from(monitor_control_samples))
        assert samples.scalar_one() == 1
    # the agent inside could not reach the desk's control helper: no control of its own
    item = result(keys[inside], "kt-almaty", replace(blocked, control=None))
    out = client.post(
        "/api/v1/agent/results",
        json={"sent_at": now.isoformat(), "results": [item]},
        headers=agent_headers(inside),
    ).json()["results"]
    assert out[0]["verdict"] == "tcp_ip_blocking"
    row = observations(store)[-1]
    assert any("control agent's measurement" in line for line in row["evidence"])
    # with no control sample in reach it is judged alone, and says so
    late = result(keys[inside], "kt-almaty", replace(blocked, control=None, url=URL + "other"))
    client.post(
        "/api/v1/agent/results",
        json={"sent_at": now.isoformat(), "results": [late]},
        headers=agent_headers(inside),
    )
    assert any("no control measurement" in line for line in observations(store)[-1]["evidence"])


def test_clock_skew_is_corrected_or_refused_with_the_reason(
    client: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    token = enrol(client, accounts["coordinator"])["token"]
    key = Ed25519PrivateKey.generate()
    h = agent_headers(token)
    client.post(
        "/api/v1/agent/register", json={"public_key": signed.public_key_b64(key)}, headers=h
    )
    server_now = datetime.now(UTC)
    # the agent's clock runs 5 minutes behind: it measured "at 11:55" what happened at 12:00
    agent_now = server_now - timedelta(minutes=5)
    item = result(key, "kt-almaty", blocked_measurement(agent_now))
    out = client.post(
        "/api/v1/agent/results",
        json={"sent_at": agent_now.isoformat(), "results": [item]},
        headers=h,
    ).json()["results"]
    assert out[0]["status"] == "accepted"
    row = observations(store)[0]
    assert abs((row["started_at"] - server_now).total_seconds()) < 30
    assert any("clock" in line and "corrected" in line for line in row["evidence"])
    # three days off: refused whole, nothing stored, the reason says what to do
    far = server_now - timedelta(days=3)
    r = client.post(
        "/api/v1/agent/results",
        json={
            "sent_at": far.isoformat(),
            "results": [result(key, "kt-almaty", blocked_measurement(far))],
        },
        headers=h,
    )
    assert r.status_code == 422 and "NTP" in r.text
    assert len(observations(store)) == 1


def test_tokens_people_and_revocation(client: TestClient, accounts: dict[str, Account]) -> None:
    lead = accounts["coordinator"]
    token = enrol(client, lead)["token"]
    assert client.get("/api/v1/agent/schedule").status_code == 401
    assert client.get("/api/v1/agent/schedule", headers=lead.headers).status_code == 403
    assert (
        client.get("/api/v1/agent/schedule", headers=agent_headers("qga_nope")).status_code == 401
    )
    assert client.get("/api/v1/agent/schedule", headers=agent_headers(token)).status_code == 200
    # the control helper measures only the desk's own targets: no open scanner
    r = client.post(
        "/api/v1/agent/control", json={"url": "http://127.0.0.1:9/"}, headers=agent_headers(token)
    )
    assert r.status_code == 422 and "watched" in r.text
    assert (
        client.delete("/api/v1/monitor/agents/kt-almaty", headers=lead.headers).status_code == 204
    )
    assert client.get("/api/v1/agent/schedule", headers=agent_headers(token)).status_code == 401
    dup = client.post("/api/v1/monitor/agents", json={"name": "kt-almaty"}, headers=lead.headers)
    assert dup.status_code == 422


# --- the agent against a real server over HTTPS ---------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Site:
    """A small site on loopback that the agent watches."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = b"<html><head><title>Orda lab</title></head><body>news</body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Server:
    """``qorgau serve`` over HTTPS in its own process; stopped and started at will."""

    def __init__(self, store: Store, folder: Path) -> None:
        self.ca, self.chain, self.key = make_server_files(folder / "pki")
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        s = store.settings
        self.env = {
            **os.environ,
            "QORGAU_DATA_DIR": str(s.data_dir),
            "QORGAU_DATABASE_URL": s.resolved_database_url,
            "QORGAU_KEY_FILE": str(s.resolved_key_file),
        }
        self.log = folder / "serve.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "qorgau.cli",
                    "serve",
                    "--port",
                    str(self.port),
                    "--log-level",
                    "warning",
                    "--tls-cert",
                    str(self.chain),
                    "--tls-key",
                    str(self.key),
                ],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                r = httpx.get(
                    f"{self.url}/api/v1/health",
                    verify=ssl.create_default_context(cafile=str(self.ca)),
                    timeout=1,
                )
                if r.status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError(f"server did not start: {self.log.read_text()}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def served(store: Store, tmp_path: Path) -> Iterator[tuple[Server, Site]]:
    site = Site()
    server = Server(store, tmp_path)
    try:
        server.start()
        yield server, site
    finally:
        server.stop()
        site.close()


def test_probe_measures_with_a_live_control_and_survives_losing_the_server(
    served: tuple[Server, Site], store: Store, accounts: dict[str, Account], tmp_path: Path
) -> None:
    server, site = served
    lead = accounts["coordinator"]
    with httpx.Client(
        base_url=server.url + "/api/v1", verify=ssl.create_default_context(cafile=str(server.ca))
    ) as http:
        assert (
            http.post(
                "/monitor/targets", json={"outlet": "Lab", "url": site.url}, headers=lead.headers
            ).status_code
            == 201
        )
        token = http.post(
            "/monitor/agents", json={"name": "lab-isp", "interval_s": 10}, headers=lead.headers
        ).json()["token"]
    config = ProbeConfig(
        server=server.url, token=token, state_dir=tmp_path / "agent", server_ca_file=server.ca
    )

    async def rounds(n: int) -> list[Any]:
        probe = Probe(config)
        try:
            return [await probe.run_round() for _ in range(n)]
        finally:
            await probe.close()

    first = asyncio.run(rounds(1))[0]
    assert (first.measured, first.with_control, first.uploaded, first.pending) == (1, 1, 1, 0)
    rows = observations(store)
    assert [r["verdict"] for r in rows] == ["accessible"]

    # the server goes away: the agent measures on from its kept schedule, results wait
    server.stop()
    offline = asyncio.run(rounds(2))
    assert [r.measured for r in offline] == [1, 1]
    assert [r.with_control for r in offline] == [0, 0]
    assert offline[-1].pending == 2 and not offline[-1].server_reachable
    assert len(observations(store)) == 1

    # back: everything waiting is uploaded once; a lost answer resent is a duplicate
    server.start()
    back = asyncio.run(rounds(1))[0]
    assert back.pending == 0 and back.uploaded == 3
    assert len(observations(store)) == 4
    outbox = sqlite3.connect(tmp_path / "agent" / "outbox.sqlite")
    with outbox:
        outbox.execute("UPDATE results SET state = 'pending'")  # as if the answers were lost
    outbox.close()
    resent = asyncio.run(rounds(1))[0]
    assert resent.uploaded == 5 and resent.pending == 0
    assert len(observations(store)) == 5  # the four resent ones were not stored again


def test_probe_command_refuses_a_revoked_token_clearly(
    served: tuple[Server, Site], tmp_path: Path
) -> None:
    server, _ = served
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "qorgau.cli",
            "probe",
            "--server",
            server.url,
            "--token",
            "qga_not-enrolled",
            "--state-dir",
            str(tmp_path / "a"),
            "--server-ca",
            str(server.ca),
            "--rounds",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2, out.stderr
    assert "refused" in out.stderr and "Traceback" not in out.stderr
