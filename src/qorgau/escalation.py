"""The escalation loop: every second, any deadline that has passed unmet is escalated.

It runs in every server process; each breach is claimed by a conditional update, so however
many processes look, one escalates it. A one-second tick keeps "escalation fires within 5 s of
a deadline" with room to spare, and the query is one indexed range scan per deadline kind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from qorgau.store.response_plan import escalate_due
from qorgau.store.store import Store

log = logging.getLogger("qorgau.escalation")


class EscalationLoop:
    def __init__(self, store: Store, interval: float = 1.0) -> None:
        self.store = store
        self.interval = interval
        self.escalated = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="qorgau-escalation")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                self.escalated += await asyncio.to_thread(escalate_due, self.store)
            except Exception:  # a database hiccup must not end escalation for good
                log.exception("escalation pass failed; retrying in %.1f s", self.interval)
            await asyncio.sleep(self.interval)
