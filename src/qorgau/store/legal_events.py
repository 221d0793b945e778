"""Steps taken by and with the authorities, and the incident's derived legal state."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from qorgau.domain.legal import LegalEvent, LegalEventKind, LegalState, derive_state
from qorgau.security.fields import FieldCipher
from qorgau.store.tables import incidents, legal_events

_AAD = "legal_events.details"


@dataclass(frozen=True)
class StoredLegalEvent:
    id: int
    event: LegalEvent
    created_by: int | None
    created_at: datetime


def insert(
    conn: sa.Connection,
    cipher: FieldCipher,
    *,
    org_id: int,
    incident_id: int,
    event: LegalEvent,
    actor_id: int | None,
    now: datetime,
) -> int:
    details = json.dumps(
        {"authority": event.authority, "reference": event.reference}, ensure_ascii=False
    )
    return int(
        conn.execute(
            legal_events.insert().returning(legal_events.c.id),
            {
                "org_id": org_id,
                "incident_id": incident_id,
                "kind": str(event.kind),
                "at": event.at,
                "details_enc": cipher.encrypt(details, _AAD),
                "created_by": actor_id,
                "created_at": now,
            },
        ).scalar_one()
    )


def list_for(conn: sa.Connection, cipher: FieldCipher, incident_id: int) -> list[StoredLegalEvent]:
    out = []
    for r in conn.execute(
        sa.select(legal_events)
        .where(legal_events.c.incident_id == incident_id)
        .order_by(legal_events.c.at, legal_events.c.id)
    ).mappings():
        details = json.loads(cipher.decrypt(r["details_enc"], _AAD) or "{}")
        out.append(
            StoredLegalEvent(
                r["id"],
                LegalEvent(
                    LegalEventKind(r["kind"]),
                    r["at"],
                    details.get("authority", ""),
                    details.get("reference", ""),
                ),
                r["created_by"],
                r["created_at"],
            )
        )
    return out


def refresh_state(
    conn: sa.Connection, cipher: FieldCipher, incident_id: int, now: datetime
) -> LegalState:
    """Derive the outcome from every recorded step and keep it on the incident row."""
    state = derive_state(e.event for e in list_for(conn, cipher, incident_id))
    conn.execute(
        incidents.update()
        .where(incidents.c.id == incident_id)
        .values(
            legal_outcome=str(state.outcome),
            authorities_reported_at=state.reported_at,
            official_response_at=state.first_response_at,
            updated_at=now,
        )
    )
    return state
