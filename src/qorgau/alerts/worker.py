"""``qorgau worker``: a process that sends alert deliveries taken from NATS JetStream.

Start as many as the load needs, on this machine or others; each needs the same database URL,
key file and broker address as the API. A worker also runs a relay by default, so retries that
fall due are published even while every API process is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from qorgau.alerts import build_senders
from qorgau.alerts.broker import DURABLE, STREAM, SUBJECT_PREFIX, BrokerWorker, Relay
from qorgau.config import Settings
from qorgau.errors import ConfigurationError
from qorgau.store.deliveries import RetryPolicy
from qorgau.store.store import open_store

log = logging.getLogger("qorgau.alerts.worker")


async def run_worker(
    settings: Settings,
    *,
    stream: str = STREAM,
    subject_prefix: str = SUBJECT_PREFIX,
    durable: str = DURABLE,
    policy: RetryPolicy | None = None,
    concurrency: int = 16,
    relay: bool = True,
) -> None:
    """Run until SIGTERM or SIGINT, then finish the deliveries in hand and return.

    Raises ConfigurationError when there is no broker address, the schema is out of date or
    the stream cannot be set up.
    """
    if not settings.nats_url:
        raise ConfigurationError(
            "the worker takes deliveries from NATS JetStream, but QORGAU_NATS_URL is not set;"
            " set it to the broker's address, such as nats://127.0.0.1:4222"
        )
    store = open_store(settings)
    try:
        store.check_schema()
        worker = BrokerWorker(
            store,
            build_senders(settings),
            settings.nats_url,
            durable,
            stream=stream,
            subject_prefix=subject_prefix,
            policy=policy,
            concurrency=concurrency,
        )
        relayer = (
            Relay(store, settings.nats_url, stream=stream, subject_prefix=subject_prefix)
            if relay
            else None
        )
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        try:
            await worker.start()
            if relayer is not None:
                await relayer.start()
            log.info("delivery worker %r started on stream %r", durable, stream)
            stop_wait = asyncio.ensure_future(stopping.wait())
            assert worker.task is not None
            await asyncio.wait({stop_wait, worker.task}, return_when=asyncio.FIRST_COMPLETED)
            stop_wait.cancel()
            if worker.task.done() and not worker.task.cancelled():
                worker.task.result()  # the worker could not subscribe: say why
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            if relayer is not None:
                await relayer.stop()
            with contextlib.suppress(Exception):
                await worker.stop()
            log.info("delivery worker %r stopped", durable)
    finally:
        store.close()
