"""Batched reads for the case queue page: the clocks, assignees' names and the narrowing by
assignee or clock for one page of cases.

The queue shows fifty cases at a time out of a hundred thousand, so each of these is one indexed
query for the page, not one query per case nor a scan of every open clock. ``ResponseDesk.queue``
computes every open clock of the organisation, which is right for the escalation view but too
much for a page every responder reloads every fifteen seconds. Callers are the desk pages, which
have already authorized ``Action.QUEUE_READ``; ``narrowed_queue`` checks it again because it
reads cases directly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from qorgau.domain import access
from qorgau.domain.access import Action
from qorgau.domain.model import Principal, Severity, Status
from qorgau.domain.privacy import may_see_locked
from qorgau.domain.queries import IncidentQuery
from qorgau.response.clocks import ClockPolicy, ClockState, deadlines, worst
from qorgau.response_desk import ClockView, ResponseDesk
from qorgau.store.privacy import unlocked
from qorgau.store.response_clocks import decode
from qorgau.store.tables import incident_attack_types, incidents, response_clocks, users

# A clock filter shows the most urgent cases; beyond this many the desk has bigger problems
# than paging, and the page stays fast.
MAX_URGENT = 2000
OPEN_FOR_QUEUE = ("new", "triaged", "in_progress", "waiting_on_reporter")


@dataclass(frozen=True)
class QueueRow:
    """One line of the queue, whichever way it was found."""

    id: int
    public_id: str
    title: str
    severity: Severity
    status: Status
    category: str
    assignee_id: int | None
    reported_at: datetime
    clock: ClockView | None


def clock_views(
    rd: ResponseDesk, org_id: int, ids: Sequence[int], now: datetime
) -> dict[int, ClockView]:
    """The clocks of the cases on one page, in one query."""
    if not ids:
        return {}
    policy = rd.config(org_id).policy
    with rd.store.read() as conn:
        rows = conn.execute(
            sa.select(response_clocks).where(response_clocks.c.incident_id.in_(list(ids)))
        ).mappings()
        clocks = [decode(r) for r in rows]
    out = {}
    for clock in clocks:
        pair = deadlines(policy, clock, now)
        out[clock.incident_id] = ClockView(
            clock.severity, pair[0], pair[1], worst(pair), clock.paused_since is not None
        )
    return out


def usernames(rd: ResponseDesk, org_id: int, ids: Sequence[int | None]) -> dict[int, str]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    with rd.store.read() as conn:
        rows = conn.execute(
            sa.select(users.c.id, users.c.username).where(
                users.c.id.in_(wanted), users.c.org_id == org_id
            )
        )
        return {int(i): str(n) for i, n in rows}


def handlers(rd: ResponseDesk, org_id: int) -> list[tuple[int, str]]:
    """Active accounts that can take a case (the assign select)."""
    with rd.store.read() as conn:
        rows = conn.execute(
            sa.select(users.c.id, users.c.username)
            .where(
                users.c.org_id == org_id,
                users.c.active.is_(True),
                users.c.role.in_(["admin", "coordinator", "responder"]),
            )
            .order_by(users.c.username)
        )
        return [(int(i), str(n)) for i, n in rows]


def _urgent_window(policy: ClockPolicy) -> timedelta:
    """The furthest ahead a deadline can be and still count as due soon."""
    longest = max(max(w.response, w.action) for w in policy.severity.values())
    return longest * policy.due_soon_fraction


def narrowed_queue(
    rd: ResponseDesk,
    principal: Principal,
    query: IncidentQuery,
    *,
    assigned: str,
    clock: str,
    now: datetime,
) -> tuple[list[QueueRow], int]:
    """Open cases narrowed by assignee and/or clock state, then by the same simple filters
    the case search applies. With a clock filter the cases come most urgent first (breached,
    then due soonest); otherwise newest first. Text is matched on the search tokens."""
    access.authorize(principal, Action.QUEUE_READ)
    org_id = principal.org_id
    c, k = incidents.c, response_clocks.c
    cond: list[sa.ColumnElement[bool]] = [
        c.org_id == org_id,
        c.status.in_([str(s) for s in query.statuses] if query.statuses else list(OPEN_FOR_QUEUE)),
    ]
    if not may_see_locked(principal.role):
        cond.append(unlocked())
    if assigned == "mine":
        cond.append(c.assignee_id == principal.user_id)
    elif assigned == "unassigned":
        cond.append(c.assignee_id.is_(None))
    if query.severities:
        cond.append(c.severity.in_([str(s) for s in query.severities]))
    if query.categories:
        cond.append(c.category.in_(query.categories))
    if query.attack_types:
        cond.append(
            c.id.in_(
                sa.select(incident_attack_types.c.incident_id).where(
                    incident_attack_types.c.attack_type.in_(query.attack_types)
                )
            )
        )
    for word in (query.text or "").lower().split()[:5]:
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        cond.append(c.search_text.like(f"%{escaped}%", escape="\\"))
    columns = (
        c.id,
        c.public_id,
        c.title,
        c.severity,
        c.status,
        c.category,
        c.assignee_id,
        c.reported_at,
    )
    policy = rd.config(org_id).policy
    with rd.store.read() as conn:
        if not clock:
            where = sa.and_(*cond)
            total = conn.execute(sa.select(sa.func.count()).select_from(incidents).where(where))
            rows = conn.execute(
                sa.select(*columns)
                .where(where)
                .order_by(c.reported_at.desc(), c.id.desc())
                .limit(query.limit)
                .offset(query.offset)
            ).mappings()
            found = [_row(r, None) for r in rows]
            views = clock_views(rd, org_id, [r.id for r in found], now)
            return [_with_clock(r, views.get(r.id)) for r in found], int(total.scalar_one())
        horizon = now + (timedelta(0) if clock == "breached" else _urgent_window(policy))
        running = sa.and_(k.stopped_at.is_(None), k.paused_since.is_(None))
        near = sa.or_(
            sa.and_(k.responded_at.is_(None), k.response_due <= horizon),
            sa.and_(k.acted_at.is_(None), k.action_due <= horizon),
        )
        clock_columns = [col.label(f"k_{col.name}") for col in response_clocks.c]
        rows = conn.execute(
            sa.select(*columns, *clock_columns)
            .join(response_clocks, k.incident_id == c.id)
            .where(running, near, *cond)
            .limit(MAX_URGENT)
        ).mappings()
        picked: list[QueueRow] = []
        for m in rows:
            clk = decode({name[2:]: v for name, v in m.items() if name.startswith("k_")})
            pair = deadlines(policy, clk, now)
            view = ClockView(clk.severity, pair[0], pair[1], worst(pair), False)
            wanted = ClockState.BREACHED if clock == "breached" else ClockState.DUE_SOON
            if view.state is wanted:
                picked.append(_with_clock(_row(m, None), view))
    picked.sort(key=_urgency)
    return picked[query.offset : query.offset + query.limit], len(picked)


def _urgency(row: QueueRow) -> tuple[int, datetime]:
    assert row.clock is not None
    pending = [d for d in (row.clock.response, row.clock.action) if d.met_at is None]
    nxt = min((d.due for d in pending), default=row.clock.action.due)
    return (0 if row.clock.state is ClockState.BREACHED else 1, nxt)


def _row(m: Mapping[Any, Any], view: ClockView | None) -> QueueRow:
    return QueueRow(
        int(m["id"]),
        str(m["public_id"]),
        str(m["title"]),
        Severity(m["severity"]),
        Status(m["status"]),
        str(m["category"]),
        m["assignee_id"],
        m["reported_at"],
        view,
    )


def _with_clock(row: QueueRow, view: ClockView | None) -> QueueRow:
    return replace(row, clock=view)
