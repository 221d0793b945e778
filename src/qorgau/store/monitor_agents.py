"""Vantage agents: enrolment, the key each binds at registration, and what each uploaded.

An agent is not a user: it has no role, sees no case and can do four things only (register,
read its schedule, ask for a control measurement of a watched URL, upload results), so it has a
table and a credential of its own rather than a row in ``users``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from qorgau.store.tables import monitor_agents, monitor_control_samples, monitor_targets


@dataclass(frozen=True)
class Agent:
    id: int
    org_id: int
    name: str
    public_key: str | None
    country: str | None
    asn: str | None
    network_name: str | None
    is_control: bool
    interval_s: int
    created_at: datetime
    registered_at: datetime | None
    last_seen_at: datetime | None
    clock_offset_s: float | None
    accepted: int
    rejected: int
    revoked_at: datetime | None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _agent(row: Any) -> Agent:
    return Agent(**{k: row[k] for k in Agent.__dataclass_fields__})


def add(
    conn: sa.Connection,
    org_id: int,
    name: str,
    token: str,
    *,
    country: str | None,
    asn: str | None,
    network_name: str | None,
    is_control: bool,
    interval_s: int,
    now: datetime,
) -> Agent | None:
    """Enrol an agent; ``None`` if the organisation already has one of that name."""
    a = monitor_agents.c
    if conn.execute(sa.select(a.id).where(a.org_id == org_id, a.name == name)).first():
        return None
    conn.execute(
        monitor_agents.insert().values(
            org_id=org_id,
            name=name,
            token_hash=token_hash(token),
            country=country,
            asn=asn,
            network_name=network_name,
            is_control=is_control,
            interval_s=interval_s,
            created_at=now,
            accepted=0,
            rejected=0,
        )
    )
    return by_name(conn, org_id, name)


def by_token(conn: sa.Connection, token: str) -> Agent | None:
    row = (
        conn.execute(
            sa.select(monitor_agents).where(monitor_agents.c.token_hash == token_hash(token))
        )
        .mappings()
        .first()
    )
    return None if row is None else _agent(row)


def by_name(conn: sa.Connection, org_id: int, name: str) -> Agent | None:
    a = monitor_agents.c
    row = (
        conn.execute(sa.select(monitor_agents).where(a.org_id == org_id, a.name == name))
        .mappings()
        .first()
    )
    return None if row is None else _agent(row)


def list_agents(conn: sa.Connection, org_id: int) -> list[Agent]:
    a = monitor_agents.c
    rows = conn.execute(
        sa.select(monitor_agents).where(a.org_id == org_id).order_by(a.name)
    ).mappings()
    return [_agent(r) for r in rows]


def bind_key(conn: sa.Connection, agent_id: int, public_key: str, now: datetime) -> None:
    conn.execute(
        monitor_agents.update()
        .where(monitor_agents.c.id == agent_id)
        .values(public_key=public_key, registered_at=now, last_seen_at=now)
    )


def revoke(conn: sa.Connection, org_id: int, name: str, now: datetime) -> bool:
    a = monitor_agents.c
    done = conn.execute(
        monitor_agents.update()
        .where(a.org_id == org_id, a.name == name, a.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return done.rowcount > 0


def seen(
    conn: sa.Connection,
    agent_id: int,
    now: datetime,
    *,
    clock_offset_s: float | None = None,
    accepted: int = 0,
    rejected: int = 0,
) -> None:
    a = monitor_agents.c
    values: dict[str, Any] = {"last_seen_at": now}
    if clock_offset_s is not None:
        values["clock_offset_s"] = clock_offset_s
    if accepted:
        values["accepted"] = a.accepted + accepted
    if rejected:
        values["rejected"] = a.rejected + rejected
    conn.execute(monitor_agents.update().where(a.id == agent_id).values(values))


def target_urls(conn: sa.Connection, org_id: int) -> list[str]:
    t = monitor_targets.c
    return list(
        conn.execute(sa.select(t.url).where(t.org_id == org_id).order_by(t.outlet, t.url)).scalars()
    )


def is_target(conn: sa.Connection, org_id: int, url: str) -> bool:
    t = monitor_targets.c
    return conn.execute(sa.select(t.id).where(t.org_id == org_id, t.url == url)).first() is not None


def add_control_sample(
    conn: sa.Connection, org_id: int, url: str, started_at: datetime, control: dict[str, Any]
) -> None:
    conn.execute(
        monitor_control_samples.insert().values(
            org_id=org_id, url=url, started_at=started_at, control=control
        )
    )


def nearest_control_sample(
    conn: sa.Connection, org_id: int, url: str, at: datetime, window_s: float
) -> dict[str, Any] | None:
    """The control agents' view of ``url`` closest to ``at``, within ``window_s`` either side."""
    c = monitor_control_samples.c
    span = timedelta(seconds=window_s)
    rows = conn.execute(
        sa.select(c.started_at, c.control).where(
            c.org_id == org_id, c.url == url, c.started_at.between(at - span, at + span)
        )
    ).all()
    if not rows:
        return None
    best = min(rows, key=lambda r: abs((r[0] - at).total_seconds()))
    control: dict[str, Any] = best[1]
    return control
