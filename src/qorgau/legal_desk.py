"""Recording what the authorities were asked and what they did, case by case."""

from __future__ import annotations

from datetime import datetime

from qorgau.domain import access
from qorgau.domain.access import Action
from qorgau.domain.legal import LegalState, parse_event
from qorgau.domain.model import Principal
from qorgau.store import audit, legal_events
from qorgau.store import incidents as repo
from qorgau.store.audit import Actor
from qorgau.store.legal_events import StoredLegalEvent
from qorgau.store.store import Store


class LegalDesk:
    def __init__(self, store: Store) -> None:
        self.store = store

    def add_event(
        self,
        principal: Principal,
        public_id: str,
        *,
        kind: str,
        at: datetime,
        authority: str = "",
        reference: str = "",
        address: str | None = None,
    ) -> LegalState:
        access.authorize(principal, Action.LEGAL_WRITE)
        now = self.store.now()
        event = parse_event(kind, at, authority, reference, now=now)
        with self.store.write() as conn:
            incident = repo.get_incident(
                conn, self.store.cipher, self.store.taxonomy, public_id, reveal=False
            )
            access.ensure_visible(principal, incident)
            legal_events.insert(
                conn,
                self.store.cipher,
                org_id=incident.org_id,
                incident_id=incident.id,
                event=event,
                actor_id=principal.user_id,
                now=now,
            )
            state = legal_events.refresh_state(conn, self.store.cipher, incident.id, now)
            audit.record(
                conn,
                audit.audit_row(
                    Actor.of(principal, address),
                    "incident:legal:recorded",
                    "incident",
                    public_id,
                    at=now,
                    before={"legal_outcome": incident.legal_outcome},
                    after={
                        "step": str(event.kind),
                        "at": event.at.isoformat(),
                        "legal_outcome": str(state.outcome),
                    },
                ),
            )
        return state

    def events(self, principal: Principal, public_id: str) -> list[StoredLegalEvent]:
        access.authorize(principal, Action.LEGAL_READ)
        with self.store.read() as conn:
            incident = repo.get_incident(
                conn, self.store.cipher, self.store.taxonomy, public_id, reveal=False
            )
            access.ensure_visible(principal, incident)
            return legal_events.list_for(conn, self.store.cipher, incident.id)
