"""Append-only audit trail, written in the same transaction as the change it describes.

Tags follow ``entity:thing:verb`` (``incident:status:changed``) so that filtering by prefix
works; the actor is stored by value so that the CLI, importers and workers write events too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from qorgau.domain.model import AuditEvent, Principal
from qorgau.store.tables import audit_events


@dataclass(frozen=True)
class Actor:
    """Who did it and from where, as the audit log records it."""

    user_id: int | None
    name: str
    org_id: int | None
    address: str | None = None

    @classmethod
    def of(cls, principal: Principal, address: str | None = None) -> Actor:
        return cls(principal.user_id, principal.username, principal.org_id, address)

    @classmethod
    def system(cls, name: str, org_id: int | None = None) -> Actor:
        return cls(None, name, org_id, None)


def audit_row(
    actor: Actor,
    tag: str,
    entity: str,
    entity_id: str | int,
    *,
    at: datetime,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "at": at,
        "org_id": actor.org_id,
        "actor_id": actor.user_id,
        "actor_name": actor.name,
        "tag": tag,
        "entity": entity,
        "entity_id": str(entity_id),
        "before": before,
        "after": after,
        "address": actor.address,
    }


def record(conn: sa.Connection, row: dict[str, Any]) -> None:
    conn.execute(audit_events.insert(), row)


def list_events(
    conn: sa.Connection,
    *,
    org_id: int | None,
    entity: str | None = None,
    entity_id: str | None = None,
    tag_prefix: str | None = None,
    limit: int = 50,
    offset: int = 0,
    exclude_prefix: str | None = None,
    actor_id: int | None = None,
    actor_name: str | None = None,
    hide_locked_cases: bool = False,
) -> tuple[list[AuditEvent], int]:
    cond = []
    if hide_locked_cases:
        # A panic-locked case is hidden from everyone but administrators, its history too:
        # the events name its title, its changes and the lock itself.
        from qorgau.store.tables import case_locks, incidents

        locked = sa.select(incidents.c.public_id).join(
            case_locks, case_locks.c.incident_id == incidents.c.id
        )
        cond.append(
            sa.not_(
                sa.and_(audit_events.c.entity == "incident", audit_events.c.entity_id.in_(locked))
            )
        )
    if actor_name:
        cond.append(audit_events.c.actor_name == actor_name)
    if exclude_prefix:
        cond.append(sa.not_(audit_events.c.tag.startswith(exclude_prefix, autoescape=True)))
    if actor_id is not None:
        cond.append(audit_events.c.actor_id == actor_id)
    if org_id is not None:
        cond.append(audit_events.c.org_id == org_id)
    if entity:
        cond.append(audit_events.c.entity == entity)
    if entity_id:
        cond.append(audit_events.c.entity_id == entity_id)
    if tag_prefix:
        cond.append(audit_events.c.tag.startswith(tag_prefix, autoescape=True))
    where = sa.and_(sa.true(), *cond)
    total = conn.execute(sa.select(sa.func.count()).select_from(audit_events).where(where))
    rows = conn.execute(
        sa.select(audit_events)
        .where(where)
        .order_by(audit_events.c.id.desc())
        .limit(limit)
        .offset(offset)
    ).mappings()
    events = [
        AuditEvent(
            r["id"],
            r["at"],
            r["actor_id"],
            r["actor_name"],
            r["tag"],
            r["entity"],
            r["entity_id"],
            r["before"],
            r["after"],
            r["address"],
        )
        for r in rows
    ]
    return events, int(total.scalar_one())
