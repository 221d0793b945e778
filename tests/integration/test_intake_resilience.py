"""Intake keeps taking reports while the parts around it are down, and nothing is lost.

Real peers on loopback: an SMTP server that is not there yet, a webhook receiver answering 503,
a Telegram Bot API address where nothing listens, a NATS broker behind a gate that is closed and
then opened. Reports are acknowledged and stored throughout; their alerts wait in the database
queue and go out once the part is back. A restart losing nothing acknowledged is the crash
test (test_crash_consistency.py). Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from benchmarks.security_load import run_load
from fastapi.testclient import TestClient

from qorgau.alerts.broker import BrokerWorker, Relay
from qorgau.alerts.senders import EmailSender
from qorgau.desk import CaseDesk
from qorgau.response_desk import ResponseDesk
from qorgau.store.store import Store
from qorgau.store.tables import deliveries, incidents
from qorgau.web.app import create_app
from tests.conftest import Account
from tests.integration.test_alert_broker import NATS_URL, Names, names  # noqa: F401 (fixture)
from tests.support.crash_harness import Server
from tests.support.loopback import SmtpServer, WebhookServer, free_port, wait_for

ALWAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
THREAT: dict[str, Any] = {
    "title": "Death threat to the editor",
    "attack_types": ["threats"],
    "threat_to_life": True,
    "language": "ru",
}
HOOK_SECRET = "resilience-webhook-secret-0123456789"


class TcpGate:
    """A loopback port that refuses connections while closed and forwards them to ``target``
    while open: a broker that goes away and comes back, without touching the real one."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def open(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def close(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            for conn in self._conns:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            self._conns.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


@contextlib.contextmanager
def gate_to(target: tuple[str, int]) -> Iterator[TcpGate]:
    gate = TcpGate(target)
    try:
        yield gate
    finally:
        gate.close()


def on_call(desk: CaseDesk, accounts: dict[str, Account], channels: dict[str, str]) -> None:
    """The responder is on duty around the clock with ``channels``; the organisation has a
    webhook receiver for new cases."""
    rd = ResponseDesk(desk)
    responder = accounts["responder"].principal
    admin = accounts["admin"].principal
    shift = {"user": responder.username, "languages": ["kk", "ru", "en"], "days": ALWAYS}
    rd.save_document(
        admin,
        "roster",
        {"timezone": "Asia/Almaty", "shift": [{**shift, "from": "00:00", "to": "24:00"}]},
        None,
    )
    for kind, address in channels.items():
        if kind == "webhook":
            hook = {"name": "newsroom", "url": address, "secret": HOOK_SECRET}
            rd.save_document(admin, "channels", {"webhook": [hook]}, None)
        else:
            rd.set_channel(responder, kind, address)


def queued(store: Store, channel: str) -> list[sa.RowMapping]:
    with store.read() as conn:
        return list(
            conn.execute(sa.select(deliveries).where(deliveries.c.channel == channel)).mappings()
        )


def stored_ids(store: Store) -> set[str]:
    with store.read() as conn:
        return set(conn.execute(sa.select(incidents.c.public_id)).scalars())


def assert_tried_and_waiting(store: Store, channel: str, n: int) -> None:
    """Every alert on ``channel`` was tried at least once, failed and waits for a retry."""
    rows = wait_for(
        lambda: (
            ((r := queued(store, channel)) and len(r) >= n and all(x["attempts"] >= 1 for x in r))
            and r
        ),
        timeout=60,
    )
    assert {x["state"] for x in rows} <= {"pending", "sending"}, rows


def post_reports(client: TestClient, n: int) -> list[str]:
    acked = []
    for i in range(n):
        r = client.post("/api/v1/reports", json=dict(THREAT, title=f"Threat {i}"))
        assert r.status_code == 201, r.text
        acked.append(r.json()["public_id"])
    return acked


def test_reports_are_taken_while_mail_webhook_and_telegram_are_down_and_alerts_follow(
    store: Store, desk: CaseDesk, accounts: dict[str, Account]
) -> None:
    smtp = SmtpServer()  # its port is chosen, nothing listens there yet
    telegram_port = free_port()  # nothing will ever listen here
    with WebhookServer() as hook:
        hook.status = 503
        on_call(
            desk,
            accounts,
            {"email": "duty@example.org", "telegram": "123456789", "webhook": hook.url},
        )
        settings = store.settings.with_overrides(
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            telegram_api_base=f"http://127.0.0.1:{telegram_port}",
            telegram_bot_token="123456:resilience-test",
        )
        with TestClient(create_app(settings, store)) as client:
            acked = post_reports(client, 4)
            assert set(acked) <= stored_ids(store)
            # Every channel was tried and failed; the alerts wait for a retry, none is lost.
            for channel in ("email", "webhook"):
                assert_tried_and_waiting(store, channel, len(acked))
            assert hook.calls  # the receiver was reached and refused
            # Mail and webhook come back: the queued alerts go out on their next retry.
            hook.status = 200
            with smtp:
                wait_for(lambda: len(smtp.mailbox.to("duty@example.org")) >= len(acked), 60)
                wait_for(lambda: all(x["state"] == "sent" for x in queued(store, "webhook")), 60)
                mails = smtp.mailbox.to("duty@example.org")
            # Telegram stays unreachable: its alerts wait, and intake still answers.
            assert_tried_and_waiting(store, "telegram", len(acked))
            acked += post_reports(client, 1)
    subjects = " ".join(str(m["subject"]) for m in mails)
    assert all(public_id in subjects for public_id in acked[:4])
    assert set(acked) <= stored_ids(store)
    assert all(x["state"] != "sent" for x in queued(store, "telegram"))


def test_reports_are_taken_while_the_broker_is_down_and_alerts_flow_when_it_returns(
    store: Store,
    desk: CaseDesk,
    accounts: dict[str, Account],
    names: Names,  # noqa: F811
) -> None:
    host, port = NATS_URL.removeprefix("nats://").split(":")
    with SmtpServer() as smtp, gate_to((host, int(port))) as gate:
        on_call(desk, accounts, {"email": "duty@example.org"})
        broker_down = store.settings.with_overrides(
            nats_url=f"nats://127.0.0.1:{gate.port}", detect_workers="nats"
        )
        # The server starts and takes reports with the broker (relay and detectors) away.
        with TestClient(create_app(broker_down, store)) as client:
            acked = post_reports(client, 3)
        assert set(acked) <= stored_ids(store)
        waiting = queued(store, "email")
        assert len(waiting) == len(acked) and {x["state"] for x in waiting} == {"pending"}

        async def broker_returns() -> None:
            # A relay started while the broker is away connects once it is back.
            relay = Relay(
                store,
                f"nats://127.0.0.1:{gate.port}",
                stream=names.stream,
                subject_prefix=names.prefix,
                poll_interval=0.05,
            )
            worker = BrokerWorker(
                store,
                {"email": EmailSender("127.0.0.1", smtp.port, "qorgau@test.example", timeout=2)},
                NATS_URL,
                names.durable,
                stream=names.stream,
                subject_prefix=names.prefix,
            )
            await relay.start()
            try:
                await asyncio.sleep(1.5)
                assert relay.metrics.published == 0
                gate.open()
                await relay.wait_ready(20)
                await worker.start()
                for _ in range(400):
                    if len(smtp.mailbox.to("duty@example.org")) >= len(acked):
                        break
                    await asyncio.sleep(0.05)
            finally:
                await worker.stop()
                await relay.stop()

        asyncio.run(broker_returns())
    mails = smtp.mailbox.to("duty@example.org")
    assert len(mails) == len(acked)
    assert {x["state"] for x in queued(store, "email")} == {"sent"}


def test_a_flood_of_bad_requests_costs_no_report_and_no_server_error(
    store: Store, tmp_path: Path
) -> None:
    """Smoke form of ``make bench-security``: a real server, a few seconds of paced reports
    beside malformed JSON, oversized bodies, broken multipart and garbage on the report form.
    Nothing about speed is asserted here (that is the benchmark's job)."""
    server = Server(store.settings, tmp_path / "serve.log")
    server.start()
    try:
        result = run_load(server, store.settings, rate=20, seconds=4, flood_rate=40)
    finally:
        server.stop()
    assert result.legit_errors == 0 and not result.legit_statuses, result.summary()
    assert len(result.acked) == 80 and result.lost == 0, result.summary()
    assert result.server_errors == 0 and result.flood_errors == 0, result.summary()
    kinds = {key.rsplit(" ", 1)[0] for key in result.flood_statuses}
    assert len(kinds) == 6, result.summary()  # every kind of bad request was sent
    # The form flood got past the CSRF check to the form's own validation.
    assert result.flood_statuses["garbage form 422"] > 0, result.summary()
