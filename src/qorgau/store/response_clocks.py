"""Response clocks in the database: created at intake, moved by the desk, read by the queue.

Deadlines are stored as absolute due times so that "which cases are breached now" is one
indexed range query for the escalation loop, whichever process runs it. A pause shifts them
when it ends; a severity change recomputes them from the report time.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from qorgau.domain.model import Severity, Status
from qorgau.response.clocks import Clock, ClockPolicy, due_times
from qorgau.store.tables import response_clocks

C = response_clocks.c


def clock_row(
    incident_id: int, org_id: int, severity: Severity, policy: ClockPolicy, started_at: datetime
) -> dict[str, Any]:
    response_due, action_due = due_times(policy, severity, started_at, 0)
    return {
        "incident_id": incident_id,
        "org_id": org_id,
        "severity": str(severity),
        "policy_version": policy.version,
        "started_at": started_at,
        "response_due": response_due,
        "action_due": action_due,
        "responded_at": None,
        "acted_at": None,
        "paused_since": None,
        "paused_seconds": 0,
        "response_escalated_at": None,
        "action_escalated_at": None,
        "stopped_at": None,
    }


def decode(m: Mapping[Any, Any]) -> Clock:
    return Clock(
        incident_id=m["incident_id"],
        severity=Severity(m["severity"]),
        started_at=m["started_at"],
        response_due=m["response_due"],
        action_due=m["action_due"],
        responded_at=m["responded_at"],
        acted_at=m["acted_at"],
        paused_since=m["paused_since"],
        paused_seconds=m["paused_seconds"],
        response_escalated_at=m["response_escalated_at"],
        action_escalated_at=m["action_escalated_at"],
        stopped_at=m["stopped_at"],
    )


def get_clock(conn: sa.Connection, incident_id: int) -> Clock | None:
    m = conn.execute(sa.select(response_clocks).where(C.incident_id == incident_id)).mappings()
    row = m.first()
    return decode(row) if row else None


def mark_responded(conn: sa.Connection, incident_id: int, now: datetime) -> bool:
    """The first human response; later ones change nothing (only the first counts)."""
    done = conn.execute(
        response_clocks.update()
        .where(C.incident_id == incident_id, C.responded_at.is_(None))
        .values(responded_at=now)
    )
    return done.rowcount == 1


def mark_acted(conn: sa.Connection, incident_id: int, now: datetime) -> bool:
    """The first action; acting on a case is also responding to it."""
    mark_responded(conn, incident_id, now)
    done = conn.execute(
        response_clocks.update()
        .where(C.incident_id == incident_id, C.acted_at.is_(None))
        .values(acted_at=now)
    )
    return done.rowcount == 1


def on_status(
    conn: sa.Connection, policy: ClockPolicy, incident_id: int, status: Status, now: datetime
) -> None:
    clock = get_clock(conn, incident_id)
    if clock is None:
        return
    values: dict[str, Any] = {}
    if clock.paused_since is not None and status not in policy.pause_statuses:
        paused = int((now - clock.paused_since).total_seconds())
        values.update(
            paused_since=None,
            paused_seconds=clock.paused_seconds + paused,
            response_due=clock.response_due + (now - clock.paused_since)
            if clock.responded_at is None
            else clock.response_due,
            action_due=clock.action_due + (now - clock.paused_since)
            if clock.acted_at is None
            else clock.action_due,
        )
    if status in policy.pause_statuses and clock.paused_since is None:
        values["paused_since"] = now
    if status in policy.stop_statuses:
        values["stopped_at"] = now
    elif clock.stopped_at is not None:
        values["stopped_at"] = None  # reopened: the clocks it has left run again
    if values:
        conn.execute(response_clocks.update().where(C.incident_id == incident_id).values(values))


def on_severity(
    conn: sa.Connection, policy: ClockPolicy, incident_id: int, severity: Severity
) -> None:
    """A confirmed or corrected severity re-times the clocks from the report time."""
    clock = get_clock(conn, incident_id)
    if clock is None or clock.severity is severity:
        return
    response_due, action_due = due_times(policy, severity, clock.started_at, clock.paused_seconds)
    values: dict[str, Any] = {"severity": str(severity), "policy_version": policy.version}
    if clock.responded_at is None:
        values["response_due"] = response_due
    if clock.acted_at is None:
        values["action_due"] = action_due
    conn.execute(response_clocks.update().where(C.incident_id == incident_id).values(values))


def due_breaches(
    conn: sa.Connection, now: datetime, limit: int = 200
) -> list[tuple[int, int, str]]:
    """(incident id, org id, deadline) for every unmet, unescalated, running deadline past due."""
    from qorgau.store.tables import case_locks

    # A panic-locked case pages nobody: the alert would name it to people it is hidden from.
    # Its breach escalates once an administrator lifts the lock.
    running = sa.and_(
        C.stopped_at.is_(None),
        C.paused_since.is_(None),
        C.incident_id.not_in(sa.select(case_locks.c.incident_id)),
    )
    out: list[tuple[int, int, str]] = []
    for name, due, met, escalated in (
        ("first_response", C.response_due, C.responded_at, C.response_escalated_at),
        ("first_action", C.action_due, C.acted_at, C.action_escalated_at),
    ):
        rows = conn.execute(
            sa.select(C.incident_id, C.org_id)
            .where(running, met.is_(None), escalated.is_(None), due <= now)
            .order_by(due)
            .limit(limit)
        )
        out.extend((i, o, name) for i, o in rows)
    return out


def mark_escalated(conn: sa.Connection, incident_id: int, deadline: str, now: datetime) -> bool:
    """Claim the escalation of one breach; exactly one process wins it."""
    column = C.response_escalated_at if deadline == "first_response" else C.action_escalated_at
    done = conn.execute(
        response_clocks.update()
        .where(C.incident_id == incident_id, column.is_(None))
        .values({column.name: now})
    )
    return done.rowcount == 1


def open_clocks(conn: sa.Connection, org_id: int) -> list[Clock]:
    rows = conn.execute(
        sa.select(response_clocks).where(C.org_id == org_id, C.stopped_at.is_(None))
    ).mappings()
    return [decode(r) for r in rows]
