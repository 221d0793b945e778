"""The stream scale: detector workers fed over NATS JetStream.

The database stays the source of truth, as for alert deliveries (docs/decisions/0013): the
desk stores observations first and then publishes their row ids; any number of ``DetectorWorker``
processes, on this machine or others, share one durable pull consumer and each run
``ObservationDesk.process`` on the rows a message names. Delivery is at least once: a worker
killed before it acknowledges has its message redelivered to another, and ``process`` skips
rows already processed (their ``processed_at`` is set in the same transaction as the findings),
so nothing is lost and nothing is counted twice.

Rows whose message never arrived (the broker was down when they were stored) are not stranded:
every worker sweeps, now and then, for rows left unprocessed longer than a minute."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import threading
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import api as js_api

from qorgau.alerts.broker import connect, ensure_stream

if TYPE_CHECKING:
    from qorgau.observation_desk import ObservationDesk

log = logging.getLogger("qorgau.detect.stream")

STREAM = "QORGAU_OBSERVATIONS"
SUBJECT_PREFIX = "qorgau.observations"
DURABLE = "qorgau-detectors"
ROWS_PER_MESSAGE = 200
T = TypeVar("T")


def message_for(org_id: int, rows: Sequence[int]) -> tuple[bytes, str]:
    """The payload and its JetStream de-duplication id (the same rows publish once)."""
    payload = orjson.dumps({"org": org_id, "rows": list(rows)})
    return payload, hashlib.sha256(payload).hexdigest()


def read_message(data: bytes) -> tuple[int, list[int]] | None:
    try:
        doc = orjson.loads(data)
        org, rows = int(doc["org"]), [int(r) for r in doc["rows"]]
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    return org, rows


async def publish(
    nc: NatsClient,
    org_id: int,
    rows: Sequence[int],
    *,
    stream: str = STREAM,
    subject_prefix: str = SUBJECT_PREFIX,
) -> int:
    """Publish the row ids in messages of ``ROWS_PER_MESSAGE``; the number of messages."""
    js = nc.jetstream()
    sent = 0
    for i in range(0, len(rows), ROWS_PER_MESSAGE):
        payload, msg_id = message_for(org_id, rows[i : i + ROWS_PER_MESSAGE])
        await js.publish(
            f"{subject_prefix}.{org_id}",
            payload,
            stream=stream,
            headers={"Nats-Msg-Id": msg_id},
        )
        sent += 1
    return sent


class StreamPublisher:
    """A synchronous publisher for the desk (API threads, the CLI), holding one connection on
    a private event loop thread."""

    def __init__(
        self,
        nats_url: str,
        *,
        stream: str = STREAM,
        subject_prefix: str = SUBJECT_PREFIX,
        timeout: float = 10.0,
    ) -> None:
        self.nats_url = nats_url
        self.stream = stream
        self.subject_prefix = subject_prefix
        self.timeout = timeout
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="qorgau-observation-publisher", daemon=True
        )
        self._thread.start()
        self._nc: NatsClient | None = None

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(self.timeout)

    async def _client(self) -> NatsClient:
        if self._nc is None:
            self._nc = await connect(self.nats_url, "qorgau-observation-publisher")
            await ensure_stream(self._nc.jetstream(), self.stream, self.subject_prefix)
        return self._nc

    async def _publish(self, org_id: int, rows: list[int]) -> int:
        return await publish(
            await self._client(),
            org_id,
            rows,
            stream=self.stream,
            subject_prefix=self.subject_prefix,
        )

    def __call__(self, org_id: int, rows: list[int]) -> int:
        return self._run(self._publish(org_id, rows))

    def close(self) -> None:
        async def _close() -> None:
            if self._nc is not None:
                with contextlib.suppress(Exception):
                    await self._nc.drain()
                self._nc = None

        with contextlib.suppress(Exception):
            self._run(_close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._loop.close()


@dataclass
class WorkerMetrics:
    messages: int = 0
    observations: int = 0
    findings: int = 0
    swept: int = 0
    errors: int = 0


class DetectorWorker:
    """One detector worker process's loop: fetch, process in the store, acknowledge."""

    def __init__(
        self,
        desk: ObservationDesk,
        nats_url: str,
        *,
        stream: str = STREAM,
        subject_prefix: str = SUBJECT_PREFIX,
        durable: str = DURABLE,
        batch: int = 4,
        ack_wait: float = 60.0,
        fetch_timeout: float = 1.0,
        sweep_every: float = 30.0,
        sweep_after: timedelta = timedelta(minutes=1),
    ) -> None:
        self.desk = desk
        self.nats_url = nats_url
        self.stream = stream
        self.subject_prefix = subject_prefix
        self.durable = durable
        self.batch = batch
        self.ack_wait = ack_wait
        self.fetch_timeout = fetch_timeout
        self.sweep_every = sweep_every
        self.sweep_after = sweep_after
        self.metrics = WorkerMetrics()
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        nc = await connect(self.nats_url, f"qorgau-detector-{self.durable}")
        try:
            js = nc.jetstream()
            await ensure_stream(js, self.stream, self.subject_prefix)
            config = js_api.ConsumerConfig(
                durable_name=self.durable,
                ack_policy=js_api.AckPolicy.EXPLICIT,
                ack_wait=self.ack_wait,
                max_deliver=-1,
            )
            sub = await js.pull_subscribe(
                f"{self.subject_prefix}.>",
                durable=self.durable,
                stream=self.stream,
                config=config,
            )
            loop = asyncio.get_running_loop()
            next_sweep = loop.time()
            while not self._stop.is_set():
                if loop.time() >= next_sweep:
                    await self._sweep()
                    next_sweep = loop.time() + self.sweep_every
                try:
                    msgs = await sub.fetch(self.batch, timeout=self.fetch_timeout)
                except TimeoutError:
                    continue
                except Exception as exc:  # a lost connection: NATS reconnects on its own
                    log.warning("could not fetch observations from NATS (%s); retrying", exc)
                    self.metrics.errors += 1
                    await asyncio.sleep(1.0)
                    continue
                for msg in msgs:
                    await self._handle(msg)
        finally:
            log.info("detector worker stopping: %s", self.metrics)
            with contextlib.suppress(Exception):
                await nc.close()

    async def _handle(self, msg: Msg) -> None:
        found = read_message(msg.data)
        if found is None:
            log.warning("dropping a message on %s that names no observations", msg.subject)
            await msg.term()
            return
        org_id, rows = found
        try:
            report = await asyncio.to_thread(
                self.desk.process, org_id, row_ids=rows, limit=len(rows)
            )
        except Exception:
            log.exception(
                "observations %s..: detectors failed; NATS will offer them again", rows[:3]
            )
            self.metrics.errors += 1
            with contextlib.suppress(Exception):
                await msg.nak(delay=5)
            return
        self.metrics.messages += 1
        self.metrics.observations += report.observations
        self.metrics.findings += report.findings
        with contextlib.suppress(Exception):
            await msg.ack()

    async def _sweep(self) -> None:
        try:
            report = await asyncio.to_thread(self.desk.process_stale, self.sweep_after)
        except Exception:
            log.exception("the sweep for unprocessed observations failed; trying again later")
            self.metrics.errors += 1
            return
        self.metrics.swept += report.observations
