"""A task that runs one step every few seconds for the life of a server process.

Escalation and retention expiry both run in every server process: each step is idempotent or
claims its work with a conditional update, so however many processes tick, the work is done
once. A failing step is logged and retried on the next tick; it must never end the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging


class PeriodicLoop:
    """Subclasses give ``step`` (run in a worker thread, off the event loop) and a name."""

    name = "qorgau-periodic"
    log = logging.getLogger("qorgau.periodic")
    step_first = True  # False: wait one interval before the first step

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def step(self) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        if not self.step_first:
            await asyncio.sleep(self.interval)
        while True:
            try:
                await asyncio.to_thread(self.step)
            except Exception:  # a database hiccup must not end the loop for good
                self.log.exception("%s step failed; retrying in %.1f s", self.name, self.interval)
            await asyncio.sleep(self.interval)
