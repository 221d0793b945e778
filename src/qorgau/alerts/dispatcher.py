"""The embedded delivery path: an asyncio task in the server process works the database queue.

It is woken by the store's commit listener the moment a transaction that enqueued deliveries
commits, so an alert leaves within milliseconds of its incident being stored; the poll interval
only matters for retries falling due and for rows left behind by a crashed process. Database
calls are synchronous (SQLAlchemy Core) and run in worker threads; sends run concurrently on
the event loop, bounded by ``concurrency``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from qorgau.alerts import close_senders
from qorgau.alerts.senders import DeliveryFailed, Sender
from qorgau.store import deliveries as queue
from qorgau.store.deliveries import ClaimedDelivery, RetryPolicy
from qorgau.store.store import Store

log = logging.getLogger("qorgau.alerts")
RECORD_TRIES = 3


@dataclass
class DispatchMetrics:
    """Counters since start; ``failed`` counts failed attempts, ``dead`` the deliveries that
    ran out of them, ``errors`` rounds lost to the database being unavailable."""

    claimed: int = 0
    sent: int = 0
    failed: int = 0
    dead: int = 0
    duplicates: int = 0
    errors: int = 0


async def send_one(
    senders: Mapping[str, Sender], delivery: ClaimedDelivery, timeout: float
) -> DeliveryFailed | None:
    """Run one send; every way it can go wrong comes back as a ``DeliveryFailed``.

    A bug or an unforeseen exception in a sender is a retryable failure of that delivery, never
    the end of the loop that sends everyone else's alerts. The timeout keeps a hung connection
    from outliving the lease, after which another worker would send the alert a second time.
    """
    sender = senders.get(delivery.channel)
    if sender is None:
        return DeliveryFailed(
            f"this process has no sender for the {delivery.channel!r} channel", permanent=True
        )
    try:
        await asyncio.wait_for(sender.send(delivery), timeout)
    except DeliveryFailed as exc:
        return exc
    except TimeoutError:
        return DeliveryFailed(f"the {delivery.channel} send took longer than {timeout:g} s")
    except Exception as exc:
        log.exception("delivery %s (%s): unexpected error", delivery.id, delivery.channel)
        return DeliveryFailed(f"unexpected error: {type(exc).__name__}: {exc}")
    return None


def record_outcome(
    store: Store, delivery_id: int, failure: DeliveryFailed | None, policy: RetryPolicy
) -> str | None:
    """Write the outcome of an attempt (blocking; run it in a thread). Returns the new state."""
    with store.write() as conn:
        if failure is None:
            return "sent" if queue.mark_sent(conn, delivery_id, store.now()) else None
        return queue.mark_failed(
            conn, delivery_id, failure.reason, store.now(), policy, permanent=failure.permanent
        )


async def record(
    store: Store,
    delivery: ClaimedDelivery,
    failure: DeliveryFailed | None,
    policy: RetryPolicy,
    metrics: DispatchMetrics,
) -> None:
    """Record an outcome, retrying briefly: an unrecorded success is sent again once the lease
    runs out, so a short database hiccup should not cost a duplicate alert."""
    for attempt in range(RECORD_TRIES):
        try:
            state = await asyncio.to_thread(record_outcome, store, delivery.id, failure, policy)
            break
        except Exception:
            log.exception("delivery %s: could not record the outcome", delivery.id)
            metrics.errors += 1
            await asyncio.sleep(0.2 * (attempt + 1))
    else:
        return
    if failure is None:
        metrics.sent += 1
        return
    metrics.failed += 1
    log.warning(
        "delivery %s (%s) attempt %s failed%s: %s",
        delivery.id,
        delivery.channel,
        delivery.attempts,
        " for good" if state == "dead" else "",
        failure.reason,
    )
    if state == "dead":
        metrics.dead += 1


class Dispatcher:
    """Claims due deliveries and sends them, in the process that serves the API."""

    def __init__(
        self,
        store: Store,
        senders: Mapping[str, Sender],
        policy: RetryPolicy | None = None,
        *,
        poll_interval: float = 0.5,
        batch: int = 50,
        concurrency: int = 16,
        lease_seconds: float = 120.0,
        send_timeout: float | None = None,
    ) -> None:
        self.store = store
        self.senders = senders
        self.policy = policy or RetryPolicy()
        self.poll_interval = poll_interval
        self.batch = batch
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.send_timeout = send_timeout or lease_seconds / 2
        self.metrics = DispatchMetrics()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake_event: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._stopping = False

    async def start(self) -> None:
        if self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._wake_event = asyncio.Event()
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="qorgau-alert-dispatcher")
        self.store.commit_listeners.append(self.on_commit)

    def on_commit(self, signals: frozenset[str]) -> None:
        """Store commit listener: wake at once when a transaction enqueued deliveries."""
        if queue.SIGNAL in signals:
            self.wake()

    def wake(self) -> None:
        """Safe from any thread (commit listeners run in the committing thread)."""
        loop, event = self._loop, self._wake_event
        if loop is None or event is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed in between
            loop.call_soon_threadsafe(event.set)

    async def stop(self, timeout: float = 30.0) -> None:
        """Stop claiming, let in-flight sends finish (up to ``timeout``), close the senders.

        A send still running after the timeout is cancelled; its row keeps its lease and is
        claimed again when the lease runs out, so stopping never drops an alert.
        """
        if self._task is None:
            return
        with contextlib.suppress(ValueError):
            self.store.commit_listeners.remove(self.on_commit)
        self._stopping = True
        if self._wake_event is not None:
            self._wake_event.set()
        await self._task
        self._task = None
        if self._inflight:
            _, late = await asyncio.wait(set(self._inflight), timeout=timeout)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        await close_senders(self.senders)

    async def run_once(self) -> int:
        """Claim one batch and send it to the end; for tests and one-shot CLI use."""
        claimed = await asyncio.to_thread(self._claim, self.batch)
        await asyncio.gather(*(self._deliver(d) for d in claimed))
        return len(claimed)

    def _claim(self, limit: int) -> list[ClaimedDelivery]:
        now = self.store.now()
        # A read first: an idle poll must not take SQLite's write lock from intake.
        with self.store.read() as conn:
            if not queue.has_due(conn, now):
                return []
        with self.store.write() as conn:
            return queue.claim_due(conn, self.store.cipher, now, limit, self.lease_seconds)

    async def _deliver(self, delivery: ClaimedDelivery) -> None:
        failure = await send_one(self.senders, delivery, self.send_timeout)
        await record(self.store, delivery, failure, self.policy, self.metrics)

    def _spawn(self, delivery: ClaimedDelivery) -> None:
        task = asyncio.create_task(self._deliver(delivery), name=f"qorgau-delivery-{delivery.id}")
        self._inflight.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        if self._wake_event is not None:  # a slot is free: there may be more to claim
            self._wake_event.set()

    async def _run(self) -> None:
        assert self._wake_event is not None
        while not self._stopping:
            self._wake_event.clear()
            limit = min(self.batch, self.concurrency - len(self._inflight))
            claimed: list[ClaimedDelivery] = []
            if limit > 0:
                try:
                    claimed = await asyncio.to_thread(self._claim, limit)
                except Exception:
                    log.exception(
                        "could not claim deliveries; retrying in %s s", self.poll_interval
                    )
                    self.metrics.errors += 1
                self.metrics.claimed += len(claimed)
                for delivery in claimed:
                    self._spawn(delivery)
                if claimed and len(claimed) == limit:
                    continue  # a full batch: more may be due right now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_event.wait(), self.poll_interval)
