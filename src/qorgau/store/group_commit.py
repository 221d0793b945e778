"""Group commit for public intake.

A durable commit costs an fsync; one per report caps intake at a few hundred per second. The
writer thread takes every report waiting in the queue, stores them in one transaction, commits
once, and only then answers each submitter — so every acknowledged report is on disk, and a
burst costs one fsync instead of hundreds. A report that fails on its own (a reused
idempotency key, say) is retried alone so it cannot sink the others in its batch.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from dataclasses import dataclass

from qorgau.errors import QorgauError
from qorgau.store.incidents import Stored
from qorgau.store.intake import IntakeJob, PreparedReport, prepare_reports, write_prepared
from qorgau.store.store import Store

log = logging.getLogger(__name__)
MAX_BATCH = 256


@dataclass
class _Pending:
    prepared: PreparedReport
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Stored]


class GroupCommitWriter:
    def __init__(self, store: Store, max_batch: int = MAX_BATCH) -> None:
        self._store = store
        self._max_batch = max_batch
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="qorgau-intake", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None

    async def submit(self, job: IntakeJob) -> Stored:
        if self._thread is None:
            raise RuntimeError("intake writer is not running")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Stored] = loop.create_future()
        # Encrypt and build the rows here, on the caller's thread: that work then overlaps
        # with the writer's disk waits instead of lengthening every commit cycle.
        prepared = prepare_reports(self._store, [job], self._store.now())[0]
        self._queue.put(_Pending(prepared, loop, fut))
        return await fut

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[_Pending]) -> None:
        try:
            with self._store.write() as conn:
                outcomes = write_prepared(conn, self._store, [p.prepared for p in batch])
        except Exception:  # a database error sinks the batch: redo its reports one by one
            for p in batch:
                self._commit_one(p)
            return
        for p, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, QorgauError):
                _resolve(p, None, outcome)
            else:
                _resolve(p, outcome, None)

    def _commit_one(self, p: _Pending) -> None:
        try:
            with self._store.write() as conn:
                outcome = write_prepared(conn, self._store, [p.prepared])[0]
        except Exception as exc:
            log.exception("storing a report failed")
            _resolve(p, None, exc)
            return
        if isinstance(outcome, QorgauError):
            _resolve(p, None, outcome)
        else:
            _resolve(p, outcome, None)


def _resolve(p: _Pending, result: Stored | None, error: BaseException | None) -> None:
    def settle() -> None:
        if p.future.done():
            return
        if error is not None:
            p.future.set_exception(error)
        else:
            assert result is not None
            p.future.set_result(result)

    p.loop.call_soon_threadsafe(settle)
