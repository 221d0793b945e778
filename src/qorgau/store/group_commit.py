"""Group commit for report intake.

A durable commit costs an fsync; one per report caps intake at a few hundred per second. Here
reports wait on the event loop in a list while the previous batch is being written; the moment
that write finishes, everything that arrived meanwhile goes to the database in one transaction,
one commit, and only then is each submitter answered — so every acknowledged report is on disk,
and a burst costs one fsync instead of hundreds.

The write runs on one dedicated thread (the database releases the interpreter lock while it
works), and the loop and that thread meet once per *batch*, not once per report: waking a
thread per report cost more than the writing itself. A report that fails on its own (a reused
idempotency key) fails alone; a database error on a batch makes its reports be retried one by
one, so one bad row cannot sink the others.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from qorgau.store.incidents import Stored
from qorgau.store.intake import IntakeJob, Outcome, PreparedReport, prepare_reports, write_prepared
from qorgau.store.store import Store

log = logging.getLogger(__name__)
MAX_BATCH = 500


@dataclass
class _Pending:
    prepared: PreparedReport
    future: asyncio.Future[Stored]


class GroupCommitWriter:
    def __init__(self, store: Store, max_batch: int = MAX_BATCH) -> None:
        self._store = store
        self._max_batch = max_batch
        self._pending: list[_Pending] = []
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._closing = False

    async def start(self) -> None:
        if self._task is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="qorgau-intake")
            self._wakeup = asyncio.Event()
            self._closing = False
            self._task = asyncio.get_running_loop().create_task(self._flush_forever())

    async def stop(self) -> None:
        """Write what is still waiting, then stop."""
        if self._task is None or self._wakeup is None:
            return
        self._closing = True
        self._wakeup.set()
        await self._task
        self._task = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def submit(self, job: IntakeJob) -> Stored:
        if self._task is None or self._wakeup is None or self._closing:
            raise RuntimeError("intake writer is not running")
        # Encrypt and build the rows here, while the writer thread is busy with the previous
        # batch: the locked, serialised part stays as short as it can be.
        prepared = prepare_reports(self._store, [job], self._store.now())[0]
        future: asyncio.Future[Stored] = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(prepared, future))
        self._wakeup.set()
        return await future

    async def _flush_forever(self) -> None:
        assert self._wakeup is not None
        loop = asyncio.get_running_loop()
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                outcomes = await loop.run_in_executor(self._executor, self._write, batch)
                for p, outcome in zip(batch, outcomes, strict=True):
                    if p.future.done():
                        continue  # the client went away; the report is stored all the same
                    if isinstance(outcome, BaseException):
                        p.future.set_exception(outcome)
                    else:
                        p.future.set_result(outcome)
            if self._closing:
                return

    def _write(self, batch: list[_Pending]) -> list[Outcome | BaseException]:
        """Runs on the writer thread."""
        try:
            with self._store.write() as conn:
                return list(write_prepared(conn, self._store, [p.prepared for p in batch]))
        except Exception as exc:
            if len(batch) == 1:
                log.exception("storing a report failed")
                return [exc]
            return [self._write_one(p) for p in batch]

    def _write_one(self, p: _Pending) -> Outcome | BaseException:
        try:
            with self._store.write() as conn:
                return write_prepared(conn, self._store, [p.prepared])[0]
        except Exception as exc:
            log.exception("storing a report failed")
            return exc
