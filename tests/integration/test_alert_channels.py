"""Alerts sent for real: SMTP to an aiosmtpd server, webhooks and Telegram to HTTP servers, all
on loopback, through the in-process dispatcher and the database queue."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import statistics
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session

from qorgau.alerts.channels import webhook_address
from qorgau.alerts.dispatcher import Dispatcher
from qorgau.alerts.senders import (
    DeliveryFailed,
    EmailSender,
    InAppSender,
    Sender,
    TelegramSender,
    WebhookSender,
    verify_signature,
)
from qorgau.store import deliveries as q
from qorgau.store import users
from qorgau.store.deliveries import ClaimedDelivery, DeliveryRequest, RetryPolicy
from qorgau.store.store import Store
from qorgau.store.tables import deliveries

FAST = RetryPolicy(base_seconds=0.02, factor=1.5, cap_seconds=0.2, max_attempts=3, jitter=0.0)
SENDER = "alerts@qorgau.test"
SECRET = "webhook-secret-0123456789"
TOKEN = "123456:TEST-token_for-qorgau"
SUBJECT = "Жаңа оқиға QG-7K2M: DDoS шабуылы"
TEXT = (
    "Редакцияның сайтына DDoS шабуылы басталды.\n"
    "Сайт недоступен с 09:40; нужна помощь с защитой.\n"
    "Қорғау: https://desk.example.org/cases/QG-7K2M\n"
)


# -- loopback servers --------------------------------------------------------------------


@dataclass
class Inbox:
    """aiosmtpd handler: keeps what arrived; can answer 451 to the next few messages."""

    messages: list[tuple[Envelope, EmailMessage, float]] = field(default_factory=list)
    refuse_next: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        if self.refuse_next > 0:
            self.refuse_next -= 1
            return "451 4.3.0 Mailbox busy, try again later"
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        msg = message_from_bytes(raw, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append((envelope, msg, time.perf_counter()))
        self.arrived.set()
        return "250 2.0.0 Queued"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def smtp_server(inbox: Inbox, port: int = 0) -> AsyncIterator[int]:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(inbox, hostname="mx.qorgau.test", enable_SMTPUTF8=True), "127.0.0.1", port
    )
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


@dataclass
class Hook:
    path: str
    headers: dict[str, str]
    body: bytes


class WebhookServer:
    """A real HTTP server in a thread; answers each request with the next status given."""

    def __init__(self) -> None:
        self.requests: list[Hook] = []
        self.statuses: list[int] = []
        self.delay = 0.0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(outer.delay)
                outer.requests.append(Hook(self.path, dict(self.headers.items()), body))
                status = outer.statuses.pop(0) if outer.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hooks/qorgau"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> WebhookServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def hook_server() -> Iterator[WebhookServer]:
    with WebhookServer() as server:
        yield server


@dataclass
class TelegramApi:
    """Answers ``POST /bot<token>/sendMessage`` as the Bot API documents it."""

    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    error: tuple[int, str] | None = None

    async def handle(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.calls.append((request.path, form))
        if self.error is not None:
            code, description = self.error
            return web.json_response(
                {"ok": False, "error_code": code, "description": description}, status=code
            )
        chat_id = int(form["chat_id"])
        result = {
            "message_id": len(self.calls),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "Aida"},
            "text": form["text"],
        }
        return web.json_response({"ok": True, "result": result})


@contextlib.asynccontextmanager
async def telegram_server(api: TelegramApi) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/bot{token}/{method}", api.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


# -- helpers ---------------------------------------------------------------------------------


def org_id(store: Store) -> int:
    with store.read() as conn:
        return users.org_id_for(conn, "default")


def enqueue(store: Store, channel: str, address: str, **payload: Any) -> int:
    body = {"subject": SUBJECT, "text": TEXT, "public_id": "QG-7K2M", **payload}
    request = DeliveryRequest(org_id(store), None, None, "incident.created", channel, address, body)
    with store.write() as conn:
        (delivery_id,) = q.enqueue(conn, store.cipher, [request], store.now())
    return delivery_id


def row(store: Store, delivery_id: int) -> sa.RowMapping:
    with store.read() as conn:
        return (
            conn.execute(sa.select(deliveries).where(deliveries.c.id == delivery_id))
            .mappings()
            .one()
        )


# The first send through a TelegramSender imports aiogram in a thread: about 2 s on an idle
# machine, over 5 s when the test suite keeps both cores busy.
TELEGRAM_FIRST_SEND = 30.0


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not come true in time")
        await asyncio.sleep(0.01)


def state_is(store: Store, delivery_id: int, state: str) -> Callable[[], bool]:
    return lambda: row(store, delivery_id)["state"] == state


def requeue(store: Store, delivery_id: int) -> None:
    with store.write() as conn:
        assert q.requeue_dead(conn, [delivery_id], store.now()) == 1


def dispatcher(store: Store, senders: dict[str, Sender], **options: Any) -> Dispatcher:
    return Dispatcher(store, senders, FAST, poll_interval=0.02, **options)


def email_sender(port: int) -> EmailSender:
    return EmailSender("127.0.0.1", port, SENDER, timeout=2)


# -- e-mail ------------------------------------------------------------------------------


def test_email_arrives_with_kazakh_and_russian_text(store: Store) -> None:
    async def scenario() -> None:
        inbox = Inbox()
        async with smtp_server(inbox) as port:
            d = dispatcher(store, {"email": email_sender(port)})
            await d.start()
            try:
                did = enqueue(store, "email", "aida@orda.kz")
                await asyncio.wait_for(inbox.arrived.wait(), 5)
                await eventually(state_is(store, did, "sent"))
            finally:
                await d.stop()
        ((envelope, msg, _),) = inbox.messages
        assert envelope.mail_from == SENDER and envelope.rcpt_tos == ["aida@orda.kz"]
        assert msg["Subject"] == SUBJECT
        assert msg["From"] == SENDER and msg["To"] == "aida@orda.kz"
        assert msg["X-Qorgau-Delivery"] == str(did)
        assert msg["Message-ID"].endswith("@qorgau.test>")
        assert msg.get_content_type() == "text/plain"
        assert msg.get_content_charset() == "utf-8"
        assert msg.get_content() == TEXT
        r = row(store, did)
        assert r["attempts"] == 1 and r["sent_at"] is not None and r["last_error"] is None
        assert d.metrics.sent == 1 and d.metrics.failed == 0

    asyncio.run(scenario())


def test_email_leaves_well_under_a_second_after_commit(store: Store) -> None:
    """Commit of the delivery row to the message at the SMTP server, woken by the commit."""

    async def scenario() -> list[float]:
        inbox = Inbox()
        latencies = []
        async with smtp_server(inbox) as port:
            # a long poll interval: only the commit listener can make this fast
            d = Dispatcher(store, {"email": email_sender(port)}, FAST, poll_interval=5.0)
            await d.start()
            try:
                for n in range(20):
                    inbox.arrived.clear()
                    enqueue(store, "email", f"editor{n}@orda.kz")
                    committed = time.perf_counter()
                    await asyncio.wait_for(inbox.arrived.wait(), 5)
                    latencies.append(inbox.messages[-1][2] - committed)
            finally:
                await d.stop()
        return latencies

    latencies = asyncio.run(scenario())
    assert len(latencies) == 20
    assert max(latencies) < 0.5, latencies
    assert statistics.median(latencies) < 0.1, latencies


def test_temporary_smtp_refusals_are_retried(store: Store) -> None:
    async def scenario() -> None:
        inbox = Inbox(refuse_next=2)
        async with smtp_server(inbox) as port:
            d = dispatcher(store, {"email": email_sender(port)})
            await d.start()
            try:
                did = enqueue(store, "email", "aida@orda.kz")
                await eventually(state_is(store, did, "sent"))
            finally:
                await d.stop()
        assert len(inbox.messages) == 1
        r = row(store, did)
        assert r["attempts"] == 3 and "451" in r["last_error"]
        assert d.metrics.failed == 2 and d.metrics.sent == 1 and d.metrics.dead == 0

    asyncio.run(scenario())


def test_smtp_down_gives_a_dead_letter_that_is_sent_once_it_is_back(store: Store) -> None:
    async def scenario() -> None:
        port = free_port()  # nothing listens here yet
        inbox = Inbox()
        d = dispatcher(store, {"email": email_sender(port)})
        await d.start()
        try:
            did = enqueue(store, "email", "aida@orda.kz")
            await eventually(state_is(store, did, "dead"))
            dead = row(store, did)
            assert dead["attempts"] == 3
            assert f"127.0.0.1:{port}" in dead["last_error"]
            # the dispatcher counts an outcome once its commit returns, a moment after the
            # row already reads "dead" to this poller
            await eventually(lambda: d.metrics.dead == 1)
            assert d.metrics.failed == 3 and d.metrics.dead == 1
            async with smtp_server(inbox, port):
                requeue(store, did)
                await eventually(state_is(store, did, "sent"))
        finally:
            await d.stop()
        assert [m.rcpt_tos for m, _, _ in inbox.messages] == [["aida@orda.kz"]]
        assert row(store, did)["attempts"] == 1  # counted afresh after the requeue

    asyncio.run(scenario())


def test_e_mail_without_a_configured_server_waits_in_the_queue() -> None:
    delivery = ClaimedDelivery(
        1, 1, None, None, "incident.created", "email", "a@orda.kz", {}, 1, datetime.now(UTC)
    )
    with pytest.raises(DeliveryFailed) as exc:
        asyncio.run(EmailSender(None).send(delivery))
    assert not exc.value.permanent and "QORGAU_SMTP_HOST" in exc.value.reason


# -- webhooks ----------------------------------------------------------------------------


def test_webhook_is_signed_and_verifiable(store: Store, hook_server: WebhookServer) -> None:
    async def scenario() -> int:
        d = dispatcher(store, {"webhook": WebhookSender(timeout=2)})
        await d.start()
        try:
            did = enqueue(store, "webhook", webhook_address(hook_server.url, SECRET))
            await eventually(state_is(store, did, "sent"))
        finally:
            await d.stop()
        return did

    did = asyncio.run(scenario())
    (hook,) = hook_server.requests
    assert hook.path == "/hooks/qorgau"
    h = {k.lower(): v for k, v in hook.headers.items()}
    assert h["content-type"].startswith("application/json")
    assert h["x-qorgau-event"] == "incident.created"
    assert h["x-qorgau-delivery"] == str(did)
    assert abs(int(h["x-qorgau-timestamp"]) - time.time()) < 60
    assert verify_signature(SECRET, h["x-qorgau-timestamp"], hook.body, h["x-qorgau-signature"])
    assert not verify_signature(
        "another-secret-0123456", h["x-qorgau-timestamp"], hook.body, h["x-qorgau-signature"]
    )
    tampered = hook.body.replace(b"QG-7K2M", b"QG-0000")
    assert not verify_signature(SECRET, h["x-qorgau-timestamp"], tampered, h["x-qorgau-signature"])
    document = json.loads(hook.body)
    assert document["delivery_id"] == did and document["event"] == "incident.created"
    assert document["payload"]["text"] == TEXT and document["payload"]["subject"] == SUBJECT
    assert document["sent_at"].startswith(time.strftime("%Y-", time.gmtime()))


def test_webhook_errors_retry_to_a_dead_letter_then_requeue(
    store: Store, hook_server: WebhookServer
) -> None:
    hook_server.statuses = [500, 503, 429]

    async def scenario() -> None:
        d = dispatcher(store, {"webhook": WebhookSender(timeout=2)})
        await d.start()
        try:
            did = enqueue(store, "webhook", webhook_address(hook_server.url, SECRET))
            await eventually(state_is(store, did, "dead"))
            assert len(hook_server.requests) == 3
            assert row(store, did)["last_error"] == "the webhook answered HTTP 429"
            requeue(store, did)  # the receiver is fixed; answers 200 from now on
            await eventually(state_is(store, did, "sent"))
        finally:
            await d.stop()
        assert len(hook_server.requests) == 4
        ids = {h.headers["X-Qorgau-Delivery"] for h in hook_server.requests}
        assert ids == {str(did)}

    asyncio.run(scenario())


def test_webhook_client_errors_are_permanent(store: Store, hook_server: WebhookServer) -> None:
    hook_server.statuses = [404]

    async def scenario() -> None:
        d = dispatcher(store, {"webhook": WebhookSender(timeout=2)})
        await d.start()
        try:
            did = enqueue(store, "webhook", webhook_address(hook_server.url, SECRET))
            await eventually(state_is(store, did, "dead"))
        finally:
            await d.stop()
        assert len(hook_server.requests) == 1
        r = row(store, did)
        assert r["attempts"] == 1 and r["last_error"] == "the webhook answered HTTP 404"

    asyncio.run(scenario())


def test_a_slow_webhook_times_out_and_is_retried(store: Store, hook_server: WebhookServer) -> None:
    hook_server.delay = 0.5

    async def scenario() -> None:
        d = dispatcher(store, {"webhook": WebhookSender(timeout=0.2)})
        await d.start()
        try:
            did = enqueue(store, "webhook", webhook_address(hook_server.url, SECRET))
            await eventually(lambda: row(store, did)["attempts"] >= 1 and d.metrics.failed >= 1)
            hook_server.delay = 0.0
            await eventually(state_is(store, did, "sent"))
        finally:
            await d.stop()
        assert "did not answer in 0.2 s" in (row(store, did)["last_error"] or "")

    asyncio.run(scenario())


# -- Telegram ----------------------------------------------------------------------------


def test_telegram_message_goes_to_the_bot_api(store: Store) -> None:
    async def scenario() -> None:
        api = TelegramApi()
        async with telegram_server(api) as base:
            d = dispatcher(store, {"telegram": TelegramSender(TOKEN, base)})
            await d.start()
            try:
                did = enqueue(store, "telegram", "-1001234567890")
                # The first Telegram send imports aiogram (seconds on a busy machine).
                await eventually(state_is(store, did, "sent"), timeout=TELEGRAM_FIRST_SEND)
            finally:
                await d.stop()
        ((path, form),) = api.calls
        assert path == f"/bot{TOKEN}/sendMessage"
        assert form["chat_id"] == "-1001234567890"
        assert form["text"] == f"{SUBJECT}\n\n{TEXT}"
        assert "parse_mode" not in form  # attacker-quoted text is never read as markup

    asyncio.run(scenario())


def test_telegram_refusal_is_a_dead_letter_at_once(store: Store) -> None:
    async def scenario() -> None:
        api = TelegramApi(error=(400, "Bad Request: chat not found"))
        async with telegram_server(api) as base:
            d = dispatcher(store, {"telegram": TelegramSender(TOKEN, base)})
            await d.start()
            try:
                did = enqueue(store, "telegram", "42")
                await eventually(state_is(store, did, "dead"), timeout=TELEGRAM_FIRST_SEND)
            finally:
                await d.stop()
        assert len(api.calls) == 1
        r = row(store, did)
        assert r["attempts"] == 1 and "chat not found" in r["last_error"]

    asyncio.run(scenario())


# -- the dispatcher itself ---------------------------------------------------------------


class Flaky:
    """A sender with a bug on its first call."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    async def send(self, delivery: ClaimedDelivery) -> None:
        self.calls.append(delivery.id)
        if len(self.calls) == 1:
            raise KeyError("subject")

    async def aclose(self) -> None:
        pass


class Slow:
    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.finished: list[int] = []

    async def send(self, delivery: ClaimedDelivery) -> None:
        self.started.set()
        await asyncio.sleep(0.3)
        self.finished.append(delivery.id)

    async def aclose(self) -> None:
        pass


def test_a_sender_bug_is_a_retry_not_the_end_of_the_loop(store: Store) -> None:
    async def scenario() -> None:
        flaky = Flaky()
        d = dispatcher(store, {"email": flaky, "inapp": InAppSender()})
        await d.start()
        try:
            first = enqueue(store, "email", "a@orda.kz")
            await eventually(state_is(store, first, "sent"))
            second = enqueue(store, "email", "b@orda.kz")
            await eventually(state_is(store, second, "sent"))
        finally:
            await d.stop()
        assert flaky.calls == [first, first, second]
        r = row(store, first)
        assert r["attempts"] == 2 and r["last_error"] == "unexpected error: KeyError: 'subject'"

    asyncio.run(scenario())


def test_a_channel_without_a_sender_is_a_dead_letter(store: Store) -> None:
    async def scenario() -> None:
        d = dispatcher(store, {"email": InAppSender()})
        await d.start()
        try:
            did = enqueue(store, "telegram", "42")
            await eventually(state_is(store, did, "dead"))
        finally:
            await d.stop()
        assert "no sender for the 'telegram' channel" in row(store, did)["last_error"]

    asyncio.run(scenario())


def test_stop_lets_sends_in_flight_finish(store: Store) -> None:
    async def scenario() -> None:
        slow = Slow()
        d = dispatcher(store, {"email": slow})
        await d.start()
        did = enqueue(store, "email", "a@orda.kz")
        await asyncio.wait_for(slow.started.wait(), 5)
        await d.stop()
        assert slow.finished == [did]
        assert row(store, did)["state"] == "sent"
        # and once stopped, nothing more is claimed
        later = enqueue(store, "email", "b@orda.kz")
        await asyncio.sleep(0.1)
        assert row(store, later)["state"] == "pending"

    asyncio.run(scenario())
