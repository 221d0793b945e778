"""Observations of hosts per network, each host's state over time, and the register of blocked
resources derived from them.

Observations arrive out of order (an OONI import of last month, an agent uploading after a
network cut), so a host's current state only moves forward in time, while first/last-blocked
keep the whole span. An observation is stored once per source id: importing a file twice, or an
agent retrying an upload, counts nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from qorgau.monitor.model import Measurement, Verdict, VerdictKind
from qorgau.store.tables import (
    monitor_hosts,
    monitor_observations,
    monitor_targets,
    vault_items,
)

BLOCKING = {
    VerdictKind.DNS_TAMPERING,
    VerdictKind.TCP_IP_BLOCKING,
    VerdictKind.TLS_INTERFERENCE,
    VerdictKind.HTTP_BLOCKPAGE,
    VerdictKind.THROTTLING,
}
LEGAL_BASES = ("court_order", "administrative_order", "none_known")


def state_of(v: Verdict) -> str:
    if v.kind in BLOCKING or (v.kind is VerdictKind.HTTP_DIFF and v.confirmed):
        return "blocked"
    if v.kind is VerdictKind.ACCESSIBLE:
        return "accessible"
    if v.kind is VerdictKind.DOWN_EVERYWHERE:
        return "down"
    if v.kind is VerdictKind.HTTP_DIFF:
        return "anomaly"
    return "unknown"


def network_of(m: Measurement) -> str:
    parts = [m.vantage.country or "", m.vantage.asn or "", m.vantage.network_name or ""]
    return " ".join(p for p in parts if p)[:120] or "unknown network"


def _source_id(m: Measurement) -> str:
    return (m.source_id or f"{m.url}@{m.started_at.isoformat()}@{network_of(m)}")[:200]


def is_known(conn: sa.Connection, org_id: int, m: Measurement) -> bool:
    o = monitor_observations.c
    found = conn.execute(
        sa.select(o.id).where(
            o.org_id == org_id, o.source == m.source, o.source_id == _source_id(m)
        )
    ).first()
    return found is not None


@dataclass(frozen=True)
class Recorded:
    observation_id: int
    host_id: int
    state: str
    # the state this observation moved the host into on its network, when it moved it
    changed_to: str | None = None

    @property
    def became_blocked(self) -> bool:
        return self.changed_to == "blocked"


def record(
    conn: sa.Connection,
    org_id: int,
    m: Measurement,
    v: Verdict,
    host: str,
    now: datetime,
) -> Recorded | None:
    """Store one observation and move its host's state; ``None`` if already stored (checked
    again here, inside the write, for two uploads of one measurement racing)."""
    if is_known(conn, org_id, m):
        return None
    source_id = _source_id(m)
    network = network_of(m)
    obs_id = conn.execute(
        monitor_observations.insert()
        .values(
            org_id=org_id,
            url=m.url,
            host=host,
            network=network,
            started_at=m.started_at,
            verdict=str(v.kind),
            confirmed=v.confirmed,
            evidence=list(v.evidence),
            source=m.source,
            source_id=source_id,
            created_at=now,
        )
        .returning(monitor_observations.c.id)
    ).scalar_one()
    state = state_of(v)
    blocked = state == "blocked"
    h = monitor_hosts.c
    row = (
        conn.execute(
            sa.select(monitor_hosts).where(h.org_id == org_id, h.host == host, h.network == network)
        )
        .mappings()
        .first()
    )
    if row is None:
        host_id = conn.execute(
            monitor_hosts.insert()
            .values(
                org_id=org_id,
                host=host,
                network=network,
                state=state,
                verdict=str(v.kind),
                since=m.started_at,
                last_seen=m.started_at,
                first_blocked_at=m.started_at if blocked else None,
                last_blocked_at=m.started_at if blocked else None,
                methods=[str(v.kind)] if blocked else [],
                legal_basis="none_known",
            )
            .returning(h.id)
        ).scalar_one()
        changed = state if state in ("blocked", "down") else None
        return Recorded(int(obs_id), int(host_id), state, changed)
    values: dict[str, Any] = {}
    changed_to = None
    if m.started_at >= row["last_seen"]:
        values["last_seen"] = m.started_at
        values["verdict"] = str(v.kind)
        if state != row["state"]:
            values.update(state=state, since=m.started_at)
            changed_to = state
    if blocked:
        first, last = row["first_blocked_at"], row["last_blocked_at"]
        values["first_blocked_at"] = min(first, m.started_at) if first else m.started_at
        values["last_blocked_at"] = max(last, m.started_at) if last else m.started_at
        methods = list(row["methods"] or [])
        if str(v.kind) not in methods:
            values["methods"] = [*methods, str(v.kind)]
    if values:
        conn.execute(monitor_hosts.update().where(h.id == row["id"]).values(values))
    return Recorded(int(obs_id), int(row["id"]), values.get("state", row["state"]), changed_to)


def open_incident_for(conn: sa.Connection, org_id: int, host: str) -> int | None:
    """The incident already tracking this host's blocking, on any network, if one is set."""
    h = monitor_hosts.c
    return conn.execute(
        sa.select(h.incident_id)
        .where(h.org_id == org_id, h.host == host, h.incident_id.is_not(None))
        .limit(1)
    ).scalar()


def link_incident(conn: sa.Connection, host_id: int, incident_id: int) -> None:
    conn.execute(
        monitor_hosts.update().where(monitor_hosts.c.id == host_id).values(incident_id=incident_id)
    )


def link_evidence(conn: sa.Connection, observation_id: int, item_id: int) -> None:
    conn.execute(
        monitor_observations.update()
        .where(monitor_observations.c.id == observation_id)
        .values(vault_item_id=item_id)
    )


@dataclass(frozen=True)
class RegisterEntry:
    host: str
    networks: list[dict[str, Any]]
    first_seen: datetime
    last_seen: datetime
    methods: list[str]
    legal_basis: str
    legal_reference: str | None
    currently_blocked: bool
    observations: list[int]  # ids of the observations that show the blocking


def register(conn: sa.Connection, org_id: int | None) -> list[RegisterEntry]:
    """Every host ever seen blocked, with where, since when, how, and on what legal basis."""
    h = monitor_hosts.c
    stmt = sa.select(monitor_hosts).where(h.first_blocked_at.is_not(None))
    if org_id is not None:
        stmt = stmt.where(h.org_id == org_id)
    by_host: dict[str, list[Any]] = {}
    for row in conn.execute(stmt.order_by(h.host, h.network)).mappings():
        by_host.setdefault(row["host"], []).append(row)
    obs = monitor_observations.c
    out = []
    for host, rows in by_host.items():
        ids = list(
            conn.execute(
                sa.select(obs.id)
                .where(
                    obs.host == host,
                    obs.verdict.in_([str(k) for k in BLOCKING]),
                    *([obs.org_id == org_id] if org_id is not None else []),
                )
                .order_by(obs.started_at)
                .limit(50)
            ).scalars()
        )
        bases = {r["legal_basis"] for r in rows}
        refs = sorted({r["legal_reference"] for r in rows if r["legal_reference"]})
        out.append(
            RegisterEntry(
                host=host,
                networks=[
                    {
                        "network": r["network"],
                        "state": r["state"],
                        "first_blocked": r["first_blocked_at"].isoformat(),
                        "last_blocked": r["last_blocked_at"].isoformat(),
                        "methods": r["methods"],
                    }
                    for r in rows
                ],
                first_seen=min(r["first_blocked_at"] for r in rows),
                last_seen=max(r["last_blocked_at"] for r in rows),
                methods=sorted({m for r in rows for m in r["methods"] or []}),
                legal_basis=bases.pop() if len(bases) == 1 else "mixed",
                legal_reference="; ".join(refs) or None,
                currently_blocked=any(r["state"] == "blocked" for r in rows),
                observations=ids,
            )
        )
    return out


def set_legal_basis(
    conn: sa.Connection, org_id: int, host: str, basis: str, reference: str | None
) -> int:
    """Record what is known of why a host is blocked, on every network it is blocked on."""
    h = monitor_hosts.c
    done = conn.execute(
        monitor_hosts.update()
        .where(h.org_id == org_id, h.host == host, h.first_blocked_at.is_not(None))
        .values(legal_basis=basis, legal_reference=reference)
    )
    return done.rowcount


def add_target(
    conn: sa.Connection, org_id: int, outlet: str, url: str, host: str, now: datetime
) -> bool:
    """Watch ``url`` as one of ``outlet``'s hosts; False if it was already watched."""
    t = monitor_targets.c
    known = conn.execute(sa.select(t.id).where(t.org_id == org_id, t.url == url)).first()
    if known is not None:
        return False
    conn.execute(
        monitor_targets.insert().values(
            org_id=org_id, outlet=outlet, url=url, host=host, created_at=now
        )
    )
    return True


@dataclass(frozen=True)
class HostStatus:
    host: str
    url: str
    networks: list[dict[str, Any]]  # network, state, verdict, since, last_seen


def outlet_status(conn: sa.Connection, org_id: int, outlet: str) -> list[HostStatus]:
    """Each of the outlet's hosts with its latest state on every network that measured it:
    the view that shows orda.kz blocked on one ISP while kaz.orda.kz stays reachable."""
    t, h = monitor_targets.c, monitor_hosts.c
    targets = conn.execute(
        sa.select(t.host, t.url).where(t.org_id == org_id, t.outlet == outlet).order_by(t.url)
    ).all()
    out = []
    for host, url in targets:
        rows = conn.execute(
            sa.select(h.network, h.state, h.verdict, h.since, h.last_seen)
            .where(h.org_id == org_id, h.host == host)
            .order_by(h.network)
        ).mappings()
        out.append(
            HostStatus(
                host,
                url,
                [
                    {
                        "network": r["network"],
                        "state": r["state"],
                        "verdict": r["verdict"],
                        "since": r["since"].isoformat(),
                        "last_seen": r["last_seen"].isoformat(),
                    }
                    for r in rows
                ],
            )
        )
    return out


def outlets(conn: sa.Connection, org_id: int) -> list[tuple[str, int]]:
    t = monitor_targets.c
    rows = conn.execute(
        sa.select(t.outlet, sa.func.count())
        .where(t.org_id == org_id)
        .group_by(t.outlet)
        .order_by(t.outlet)
    )
    return [(o, int(n)) for o, n in rows]


def host_timeline(conn: sa.Connection, org_id: int, host: str, limit: int) -> list[dict[str, Any]]:
    """The host's observations, newest first: what each network saw, when, and why."""
    o = monitor_observations.c
    rows = conn.execute(
        sa.select(
            o.id,
            o.started_at,
            o.network,
            o.verdict,
            o.confirmed,
            o.evidence,
            o.source,
            o.vault_item_id,
        )
        .where(o.org_id == org_id, o.host == host)
        .order_by(o.started_at.desc(), o.id.desc())
        .limit(limit)
    ).mappings()
    return [
        {
            "observation": r["id"],
            "at": r["started_at"].isoformat(),
            "network": r["network"],
            "verdict": r["verdict"],
            "confirmed": r["confirmed"],
            "evidence": r["evidence"],
            "source": r["source"],
            "vault_item": r["vault_item_id"],
        }
        for r in rows
    ]


def public_observation(
    conn: sa.Connection, org_id: int | None, host: str, observation_id: int
) -> dict[str, Any] | None:
    """What anyone may know of one measurement the register cites, or ``None``.

    Only a blocking observation of a host in the register qualifies: the register is public,
    the rest of the monitor is not. The columns are chosen one by one: the observation's
    ``source_id`` names the agent that took it and the vault item names its collector, so
    neither is read here; the vault item gives only the SHA-256 of the raw measurement, which
    is what a holder of an exported evidence package needs to match it.
    """
    o, h, v = monitor_observations.c, monitor_hosts.c, vault_items.c
    in_register = (
        sa.exists()
        .where(h.org_id == o.org_id, h.host == o.host, h.first_blocked_at.is_not(None))
        .correlate(monitor_observations)
    )
    stmt = (
        sa.select(
            o.id,
            o.host,
            o.url,
            o.started_at,
            o.network,
            o.verdict,
            o.confirmed,
            o.evidence,
            o.source,
            v.sha256,
        )
        .select_from(monitor_observations.outerjoin(vault_items, v.id == o.vault_item_id))
        .where(
            o.id == observation_id,
            o.host == host,
            o.verdict.in_(sorted(str(k) for k in BLOCKING)),
            in_register,
        )
    )
    if org_id is not None:
        stmt = stmt.where(o.org_id == org_id)
    row = conn.execute(stmt).mappings().first()
    if row is None:
        return None
    return {
        "observation": row["id"],
        "host": row["host"],
        "url": row["url"],
        "at": row["started_at"],
        "network": row["network"],
        "verdict": row["verdict"],
        "confirmed": row["confirmed"],
        "evidence": list(row["evidence"] or []),
        "source": row["source"],
        "sha256": row["sha256"],
    }
