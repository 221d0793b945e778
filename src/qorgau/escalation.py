"""The escalation loop: every second, any deadline that has passed unmet is escalated.

It runs in every server process; each breach is claimed by a conditional update, so however
many processes look, one escalates it. A one-second tick keeps "escalation fires within 5 s of
a deadline" with room to spare, and the query is one indexed range scan per deadline kind.
"""

from __future__ import annotations

import logging

from qorgau.periodic import PeriodicLoop
from qorgau.store.response_plan import escalate_due
from qorgau.store.store import Store

log = logging.getLogger("qorgau.escalation")


class EscalationLoop(PeriodicLoop):
    name = "qorgau-escalation"
    log = log

    def __init__(self, store: Store, interval: float = 1.0) -> None:
        super().__init__(interval)
        self.store = store
        self.escalated = 0

    def step(self) -> None:
        self.escalated += escalate_due(self.store)
