"""The scale path: deliveries handed to worker processes over NATS JetStream.

The database row stays the source of truth (see docs/decisions/0013). The ``Relay`` runs in the
API process: it marks due rows ``queued`` and publishes their ids. ``BrokerWorker`` runs in any
number of separate processes (on other machines too, against the same PostgreSQL): it pulls
ids, leases each row with ``claim_one``, sends, records the outcome and acknowledges.

Back-off lives in the database, not in the broker: a failed attempt puts the row back to
``pending`` with its next attempt time, and the relay publishes it again when it falls due.
JetStream de-duplicates on ``Nats-Msg-Id = "<id>:<attempts>"``, so a relay that republishes
after a lost acknowledgement adds nothing, while each retry (one more attempt) is a new message.
Whatever still slips through twice is caught by ``claim_one``, which leases a row to one worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js import api as js_api
from nats.js.errors import BadRequestError

from qorgau.alerts import close_senders
from qorgau.alerts.dispatcher import DispatchMetrics, record, send_one
from qorgau.alerts.senders import Sender
from qorgau.errors import ConfigurationError
from qorgau.store import deliveries as queue
from qorgau.store.deliveries import ClaimedDelivery, QueuedDelivery, RetryPolicy
from qorgau.store.store import Store

log = logging.getLogger("qorgau.alerts.broker")

STREAM = "QORGAU_DELIVERIES"
SUBJECT_PREFIX = "qorgau.deliveries"
DURABLE = "qorgau-delivery-workers"
# How long a relay's publish promise holds before the row is published again, and how long
# JetStream remembers message ids: longer than the lease, so a republished row is dropped.
QUEUE_LEASE_SECONDS = 300.0
DUPLICATE_WINDOW_SECONDS = 600.0


async def _log_error(exc: Exception) -> None:
    log.warning("NATS: %s", exc)


async def connect(nats_url: str, name: str) -> NatsClient:
    """Connect, waiting (with NATS's own retry) for a server that is down at start-up.

    Reconnection is unlimited: deliveries wait safely in the database while the broker is
    away, so giving up would only mean someone has to restart the process.
    """
    return await nats.connect(
        nats_url,
        name=name,
        error_cb=_log_error,
        connect_timeout=2,
        reconnect_time_wait=1,
        max_reconnect_attempts=-1,
    )


async def ensure_stream(
    js: JetStreamContext,
    stream: str = STREAM,
    subject_prefix: str = SUBJECT_PREFIX,
    duplicate_window: float = DUPLICATE_WINDOW_SECONDS,
) -> None:
    """Create the stream, or bring an existing one to this configuration (idempotent).

    File storage, so messages survive a broker restart; work-queue retention, so an
    acknowledged message is gone and the stream holds only work still to do.
    """
    config = js_api.StreamConfig(
        name=stream,
        subjects=[f"{subject_prefix}.>"],
        retention=js_api.RetentionPolicy.WORK_QUEUE,
        storage=js_api.StorageType.FILE,
        duplicate_window=duplicate_window,
    )
    try:
        await js.add_stream(config)
    except BadRequestError:
        try:
            await js.update_stream(config)
        except BadRequestError as exc:
            raise ConfigurationError(
                f"the NATS stream {stream!r} exists with settings that cannot be changed"
                f" ({exc.description}); delete it with 'nats stream rm {stream}' once its"
                " messages are handled, then restart"
            ) from exc


def subject_for(subject_prefix: str, channel: str) -> str:
    return f"{subject_prefix}.{channel}"


def message_id(item: QueuedDelivery) -> str:
    return f"{item.id}:{item.attempts}"


@dataclass
class RelayMetrics:
    published: int = 0
    publish_failures: int = 0
    errors: int = 0


class Relay:
    """Publishes due deliveries from the database to JetStream (runs in the API process)."""

    def __init__(
        self,
        store: Store,
        nats_url: str,
        *,
        stream: str = STREAM,
        subject_prefix: str = SUBJECT_PREFIX,
        poll_interval: float = 0.5,
        batch: int = 100,
        lease_seconds: float = QUEUE_LEASE_SECONDS,
        publish_timeout: float = 5.0,
    ) -> None:
        self.store = store
        self.nats_url = nats_url
        self.stream = stream
        self.subject_prefix = subject_prefix
        self.poll_interval = poll_interval
        self.batch = batch
        self.lease_seconds = lease_seconds
        self.publish_timeout = publish_timeout
        self.metrics = RelayMetrics()
        self._nc: NatsClient | None = None
        self._js: JetStreamContext | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake_event: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        """Returns at once; connecting happens in the background, so a broker that is down
        does not stop the API from starting (deliveries wait in the database)."""
        if self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._wake_event = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="qorgau-alert-relay")
        self.store.commit_listeners.append(self.on_commit)

    async def wait_ready(self, timeout: float | None = None) -> None:
        """Until connected and the stream exists (tests, health checks)."""
        await asyncio.wait_for(self._ready.wait(), timeout)

    def on_commit(self, signals: frozenset[str]) -> None:
        if queue.SIGNAL in signals:
            self.wake()

    def wake(self) -> None:
        """Safe from any thread."""
        loop, event = self._loop, self._wake_event
        if loop is None or event is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(event.set)

    async def stop(self) -> None:
        if self._task is None:
            return
        with contextlib.suppress(ValueError):
            self.store.commit_listeners.remove(self.on_commit)
        await _cancel(self._task)
        self._task = None
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()
            self._nc = None
            self._js = None

    async def relay_once(self) -> int:
        """Queue what is due and publish it; returns how many were published."""
        if self._js is None:
            raise RuntimeError("the relay is not connected; call start() and wait_ready()")
        items = await asyncio.to_thread(self._queue_due)
        if not items:
            return 0
        js = self._js
        results = await asyncio.gather(
            *(self._publish(js, item) for item in items), return_exceptions=True
        )
        failed = [item.id for item, r in zip(items, results, strict=True) if r is not None]
        for item, r in zip(items, results, strict=True):
            if r is not None:
                log.warning("delivery %s: could not publish to NATS: %s", item.id, r)
        self.metrics.published += len(items) - len(failed)
        if failed:
            self.metrics.publish_failures += len(failed)
            # Back to pending now rather than when the lease runs out; if this fails too the
            # lease still brings them back, later.
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._unqueue, failed)
        return len(items) - len(failed)

    async def _publish(self, js: JetStreamContext, item: QueuedDelivery) -> None:
        await js.publish(
            subject_for(self.subject_prefix, item.channel),
            str(item.id).encode("ascii"),
            timeout=self.publish_timeout,
            stream=self.stream,
            headers={"Nats-Msg-Id": message_id(item)},
        )

    def _queue_due(self) -> list[QueuedDelivery]:
        now = self.store.now()
        with self.store.read() as conn:
            if not queue.has_due(conn, now):
                return []
        with self.store.write() as conn:
            return queue.queue_due(conn, now, self.batch, self.lease_seconds)

    def _unqueue(self, ids: list[int]) -> None:
        with self.store.write() as conn:
            queue.unqueue(conn, ids)

    async def _run(self) -> None:
        assert self._wake_event is not None
        self._nc = await connect(self.nats_url, "qorgau-relay")
        self._js = self._nc.jetstream()
        while True:
            try:
                await ensure_stream(self._js, self.stream, self.subject_prefix)
                break
            except ConfigurationError:
                log.exception("the delivery stream is unusable; deliveries wait in the database")
                raise
            except Exception as exc:
                log.warning("could not set up the NATS stream (%s); retrying", exc)
                await asyncio.sleep(1.0)
        self._ready.set()
        while True:
            self._wake_event.clear()
            published = 0
            try:
                published = await self.relay_once()
            except Exception:
                log.exception("could not relay deliveries; retrying in %s s", self.poll_interval)
                self.metrics.errors += 1
            if published >= self.batch:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_event.wait(), self.poll_interval)


class BrokerWorker:
    """Takes delivery ids from JetStream and sends them; run as many as needed, anywhere that
    can reach the broker and the database."""

    def __init__(
        self,
        store: Store,
        senders: Mapping[str, Sender],
        nats_url: str,
        durable: str = DURABLE,
        *,
        stream: str = STREAM,
        subject_prefix: str = SUBJECT_PREFIX,
        policy: RetryPolicy | None = None,
        concurrency: int = 16,
        lease_seconds: float = 120.0,
        send_timeout: float | None = None,
        fetch_timeout: float = 1.0,
    ) -> None:
        self.store = store
        self.senders = senders
        self.nats_url = nats_url
        self.durable = durable
        self.stream = stream
        self.subject_prefix = subject_prefix
        self.policy = policy or RetryPolicy()
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.send_timeout = send_timeout or lease_seconds / 2
        self.fetch_timeout = fetch_timeout
        self.metrics = DispatchMetrics()
        self._nc: NatsClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._slot_free = asyncio.Event()
        self._ready = asyncio.Event()

    async def start(self) -> None:
        if self._task is not None:
            return
        self._task = asyncio.create_task(self._run(), name="qorgau-delivery-worker")

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The fetch loop; it ends only when cancelled or when subscribing failed."""
        return self._task

    async def wait_ready(self, timeout: float | None = None) -> None:
        """Until subscribed (or raise what stopped the worker from subscribing)."""
        assert self._task is not None
        ready = asyncio.ensure_future(self._ready.wait())
        done, _ = await asyncio.wait(
            {ready, self._task}, timeout=timeout, return_when="FIRST_COMPLETED"
        )
        if ready not in done:
            ready.cancel()
            if self._task in done:
                self._task.result()  # raises what went wrong
            raise TimeoutError("the delivery worker did not subscribe in time")

    async def stop(self, timeout: float = 30.0) -> None:
        """Stop fetching, finish in-flight deliveries, close the connection and senders.

        Messages fetched but not finished are not acknowledged: JetStream gives them to another
        worker after the ack wait, and ``claim_one`` keeps that from sending twice.
        """
        if self._task is None:
            return
        await _cancel(self._task)
        self._task = None
        if self._inflight:
            _, late = await asyncio.wait(set(self._inflight), timeout=timeout)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()
            self._nc = None
        await close_senders(self.senders)

    async def run(self) -> None:
        """Run until cancelled (``stop`` from another task, or the process's signal)."""
        await self.start()
        assert self._task is not None
        await self._task

    async def _subscribe(self) -> JetStreamContext.PullSubscription:
        self._nc = await connect(self.nats_url, f"qorgau-worker-{self.durable}")
        js = self._nc.jetstream()
        await ensure_stream(js, self.stream, self.subject_prefix)
        config = js_api.ConsumerConfig(
            durable_name=self.durable,
            ack_policy=js_api.AckPolicy.EXPLICIT,
            # A little past the send timeout: a slow send is not redelivered under its feet.
            ack_wait=self.send_timeout + 30.0,
            max_deliver=-1,
            max_ack_pending=max(self.concurrency * 16, 256),
        )
        return await js.pull_subscribe(
            f"{self.subject_prefix}.>", durable=self.durable, stream=self.stream, config=config
        )

    async def _run(self) -> None:
        sub = await self._subscribe()
        self._ready.set()
        while True:
            free = self.concurrency - len(self._inflight)
            if free <= 0:
                self._slot_free.clear()
                await self._slot_free.wait()
                continue
            try:
                msgs = await sub.fetch(free, timeout=self.fetch_timeout)
            except TimeoutError:  # nothing to do (nats.errors.TimeoutError is one)
                continue
            except Exception as exc:  # a lost connection; NATS reconnects on its own
                log.warning("could not fetch deliveries from NATS (%s); retrying", exc)
                self.metrics.errors += 1
                await asyncio.sleep(1.0)
                continue
            for msg in msgs:
                task = asyncio.create_task(self._handle(msg))
                self._inflight.add(task)
                task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._slot_free.set()

    def _claim_one(self, delivery_id: int) -> ClaimedDelivery | None:
        with self.store.write() as conn:
            return queue.claim_one(
                conn, self.store.cipher, delivery_id, self.store.now(), self.lease_seconds
            )

    async def _handle(self, msg: Msg) -> None:
        try:
            delivery_id = int(msg.data.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            log.warning("dropping a message on %s that is not a delivery id", msg.subject)
            await _settle(msg.term())
            return
        try:
            delivery = await asyncio.to_thread(self._claim_one, delivery_id)
        except Exception:
            log.exception("delivery %s: could not claim it; NATS will offer it again", delivery_id)
            self.metrics.errors += 1
            await _settle(msg.nak(delay=5))
            return
        if delivery is None:
            # Sent already, held by another worker, or not due: nothing to do for this copy.
            self.metrics.duplicates += 1
            await _settle(msg.ack())
            return
        self.metrics.claimed += 1
        failure = await send_one(self.senders, delivery, self.send_timeout)
        await record(self.store, delivery, failure, self.policy, self.metrics)
        await _settle(msg.ack())


async def _settle(action: Awaitable[None]) -> None:
    """Acknowledge without letting a lost connection fail the delivery: the row already
    records the outcome, and a redelivered message finds it settled."""
    try:
        await action
    except Exception as exc:
        log.warning("could not acknowledge a NATS message: %s", exc)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    except Exception:
        log.exception("the %s task had failed", task.get_name())
