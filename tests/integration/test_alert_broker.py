"""The scale path against the real NATS JetStream on 127.0.0.1:4222: the relay publishes in this
process, a worker in a separate process sends the mail to a loopback SMTP server.

Each test gets its own stream, subjects and durable consumer, so runs never see each other's
messages. The database is the test's store (a SQLite file or the PostgreSQL test database),
which the worker process opens too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta

import nats
import pytest
from nats.js.errors import NotFoundError

from qorgau.alerts.broker import Relay, ensure_stream
from qorgau.store import deliveries as q
from qorgau.store.store import Store
from qorgau.store.tables import deliveries
from tests.integration.test_alert_channels import (
    SENDER,
    Inbox,
    enqueue,
    eventually,
    row,
    smtp_server,
    state_is,
)

NATS_URL = os.environ.get("QORGAU_TEST_NATS_URL", "nats://127.0.0.1:4222")

WORKER = """
import asyncio, sys
from qorgau.alerts.worker import run_worker
from qorgau.config import Settings
from qorgau.store.deliveries import RetryPolicy

stream, prefix, durable = sys.argv[1:4]
policy = RetryPolicy(base_seconds=0.05, factor=1.0, max_attempts=4, jitter=0.0)
asyncio.run(run_worker(
    Settings.from_env(), stream=stream, subject_prefix=prefix, durable=durable,
    policy=policy, relay=False,
))
"""


def _nats_address() -> tuple[str, int]:
    hostport = NATS_URL.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    return host, int(port)


def _reachable() -> bool:
    try:
        with socket.create_connection(_nats_address(), timeout=1):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class Names:
    stream: str
    prefix: str
    durable: str


async def _quiet(exc: Exception) -> None:
    pass


@contextlib.asynccontextmanager
async def jetstream() -> AsyncIterator[nats.js.JetStreamContext]:
    nc = await nats.connect(NATS_URL, error_cb=_quiet, max_reconnect_attempts=1)
    try:
        yield nc.jetstream()
    finally:
        await nc.close()


@pytest.fixture
def names() -> Iterator[Names]:
    tag = uuid.uuid4().hex[:10]
    chosen = Names(f"QORGAU_TEST_{tag}", f"qorgau-test-{tag}.deliveries", f"workers-{tag}")

    async def check() -> None:
        async with jetstream() as js:
            await js.account_info()

    if not _reachable():
        pytest.skip(
            f"NATS JetStream is not reachable at {NATS_URL}; start nats-server -js to test"
            " the broker path (or set QORGAU_TEST_NATS_URL)"
        )
    try:
        asyncio.run(check())
    except Exception as exc:
        pytest.skip(f"NATS at {NATS_URL} does not offer JetStream (run it with -js): {exc}")
    yield chosen

    async def remove() -> None:
        async with jetstream() as js:
            with contextlib.suppress(NotFoundError):
                await js.delete_stream(chosen.stream)

    asyncio.run(remove())


@contextlib.contextmanager
def worker_process(store: Store, smtp_port: int, names: Names) -> Iterator[subprocess.Popen[str]]:
    settings = store.settings
    env = {
        **os.environ,
        "QORGAU_DATA_DIR": str(settings.data_dir),
        "QORGAU_DATABASE_URL": settings.resolved_database_url,
        "QORGAU_KEY_FILE": str(settings.resolved_key_file),
        "QORGAU_SMTP_HOST": "127.0.0.1",
        "QORGAU_SMTP_PORT": str(smtp_port),
        "QORGAU_SMTP_FROM": SENDER,
        "QORGAU_NATS_URL": NATS_URL,
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER, names.stream, names.prefix, names.durable],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def stop_worker(proc: subprocess.Popen[str]) -> str:
    """SIGTERM, as a service manager sends it: the worker must finish and exit cleanly."""
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    return err


async def settled(js: nats.js.JetStreamContext, names: Names, timeout: float = 15) -> None:
    """Until the worker's consumer has taken and acknowledged every message."""

    async def check() -> bool:
        try:
            info = await js.consumer_info(names.stream, names.durable)
        except NotFoundError:
            return False
        return info.num_pending == 0 and info.num_ack_pending == 0 and info.delivered.stream_seq > 0

    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


def test_relay_publishes_and_a_worker_process_sends_the_mail(store: Store, names: Names) -> None:
    async def scenario() -> None:
        inbox = Inbox()
        async with smtp_server(inbox) as port:
            with worker_process(store, port, names) as proc:
                relay = Relay(
                    store,
                    NATS_URL,
                    stream=names.stream,
                    subject_prefix=names.prefix,
                    poll_interval=0.05,
                )
                await relay.start()
                try:
                    await relay.wait_ready(10)
                    did = enqueue(store, "email", "aida@orda.kz")
                    await asyncio.wait_for(inbox.arrived.wait(), 20)
                    await eventually(state_is(store, did, "sent"))
                finally:
                    await relay.stop()
                stop_worker(proc)
        ((envelope, msg, _),) = inbox.messages
        assert envelope.rcpt_tos == ["aida@orda.kz"]
        assert msg["X-Qorgau-Delivery"] == str(did)
        assert relay.metrics.published == 1
        assert row(store, did)["attempts"] == 1

    asyncio.run(scenario())


def test_a_message_delivered_twice_sends_one_mail(store: Store, names: Names) -> None:
    async def scenario() -> None:
        inbox = Inbox()
        did = enqueue(store, "email", "aida@orda.kz")
        with store.write() as conn:
            (queued,) = q.queue_due(conn, store.now(), 10, 300)
        subject = f"{names.prefix}.email"
        async with jetstream() as js, smtp_server(inbox) as port:
            await ensure_stream(js, names.stream, names.prefix)
            body = str(did).encode()
            first = await js.publish(subject, body, headers={"Nats-Msg-Id": f"{did}:0"})
            again = await js.publish(subject, body, headers={"Nats-Msg-Id": f"{did}:0"})
            assert not first.duplicate and again.duplicate  # JetStream dropped the republish
            # a copy that de-duplication cannot catch (another id) reaches the worker
            other = await js.publish(subject, body, headers={"Nats-Msg-Id": f"{did}:copy"})
            assert not other.duplicate
            with worker_process(store, port, names) as proc:
                await settled(js, names)
                stop_worker(proc)
            info = await js.consumer_info(names.stream, names.durable)
        assert info.delivered.stream_seq == 2  # both copies were handed to the worker
        assert len(inbox.messages) == 1
        r = row(store, did)
        assert (r["state"], r["attempts"]) == ("sent", 1)
        assert queued.attempts == 0

    asyncio.run(scenario())


def test_a_lost_publish_and_a_failed_send_are_both_recovered(store: Store, names: Names) -> None:
    """The relay died between marking a row queued and publishing it, and the mail server
    refuses the first attempt: the row's lease brings it back, the back-off retries it."""

    async def scenario() -> None:
        inbox = Inbox(refuse_next=1)
        did = enqueue(store, "email", "aida@orda.kz")
        with store.write() as conn:
            assert [x.id for x in q.queue_due(conn, store.now(), 10, 300)] == [did]
            # ... by a relay that then crashed, five minutes ago: its lease has run out
            conn.execute(
                deliveries.update()
                .where(deliveries.c.id == did)
                .values(lease_until=store.now() - timedelta(seconds=1))
            )
        assert row(store, did)["state"] == "queued"
        async with smtp_server(inbox) as port:
            with worker_process(store, port, names) as proc:
                relay = Relay(
                    store,
                    NATS_URL,
                    stream=names.stream,
                    subject_prefix=names.prefix,
                    poll_interval=0.05,
                )
                await relay.start()
                try:
                    await asyncio.wait_for(inbox.arrived.wait(), 20)
                    await eventually(state_is(store, did, "sent"))
                finally:
                    await relay.stop()
                stop_worker(proc)
        assert len(inbox.messages) == 1
        r = row(store, did)
        assert r["attempts"] == 2 and "451" in r["last_error"]
        assert relay.metrics.published == 2  # the recovered row, then its retry

    asyncio.run(scenario())


def test_a_broker_that_is_down_holds_nothing_up_and_loses_nothing(store: Store) -> None:
    """No NATS needed: the relay points at a port where nothing listens."""

    async def scenario() -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        relay = Relay(store, f"nats://127.0.0.1:{port}", poll_interval=0.05)
        async with asyncio.timeout(2):
            await relay.start()  # the API starts although the broker is away
        did = enqueue(store, "email", "aida@orda.kz")
        await asyncio.sleep(0.3)
        assert row(store, did)["state"] == "pending"  # waiting in the database, not lost
        async with asyncio.timeout(5):
            await relay.stop()
        assert relay.metrics.published == 0

    asyncio.run(scenario())
