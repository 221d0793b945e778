"""Indicators and their links to incidents; one row per (organisation, kind, value)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa

from qorgau.reports.model import Indicator, IndicatorKind, Tlp
from qorgau.store.tables import indicator_incidents, indicators

INDICATOR_NAMESPACE = uuid.UUID("0b7f2a3e-4c1d-4e8f-9a6b-2d5c8e1f3a70")


def value_digest(kind: IndicatorKind, value: str) -> str:
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()


def default_uuid(kind: IndicatorKind, value: str) -> str:
    return str(uuid.uuid5(INDICATOR_NAMESPACE, f"{kind}:{value}"))


def upsert(
    conn: sa.Connection, org_id: int, ind: Indicator, incident_ids: Iterable[int], now: datetime
) -> tuple[int, bool]:
    """Store or merge one indicator; returns (id, created). Merging widens the seen-range and
    keeps the stricter TLP: if one source marked it AMBER, a GREEN copy does not loosen it."""
    t = indicators.c
    digest = value_digest(ind.kind, ind.value)
    row = (
        conn.execute(
            sa.select(indicators).where(
                t.org_id == org_id, t.kind == str(ind.kind), t.value_digest == digest
            )
        )
        .mappings()
        .first()
    )
    created = row is None
    if row is None:
        ind_id = int(
            conn.execute(
                indicators.insert().returning(t.id),
                {
                    "org_id": org_id,
                    "uuid": ind.uuid or default_uuid(ind.kind, ind.value),
                    "kind": str(ind.kind),
                    "value": ind.value,
                    "value_digest": digest,
                    "first_seen": ind.first_seen,
                    "last_seen": ind.last_seen,
                    "tlp": str(ind.tlp),
                    "description": ind.description,
                    "source": ind.source,
                    "created_at": now,
                    "updated_at": now,
                },
            ).scalar_one()
        )
    else:
        ind_id = int(row["id"])
        stricter = max(Tlp(row["tlp"]), ind.tlp, key=lambda x: x.rank)
        conn.execute(
            indicators.update()
            .where(t.id == ind_id)
            .values(
                first_seen=min(row["first_seen"], ind.first_seen),
                last_seen=max(row["last_seen"], ind.last_seen),
                tlp=str(stricter),
                description=row["description"] or ind.description,
                updated_at=now,
            )
        )
    link(conn, ind_id, incident_ids)
    return ind_id, created


def link(conn: sa.Connection, indicator_id: int, incident_ids: Iterable[int]) -> None:
    wanted = set(incident_ids)
    if not wanted:
        return
    have = set(
        conn.execute(
            sa.select(indicator_incidents.c.incident_id).where(
                indicator_incidents.c.indicator_id == indicator_id
            )
        ).scalars()
    )
    rows = [{"indicator_id": indicator_id, "incident_id": i} for i in sorted(wanted - have)]
    if rows:
        conn.execute(indicator_incidents.insert(), rows)


def _indicator(r: sa.RowMapping) -> Indicator:
    return Indicator(
        kind=IndicatorKind(r["kind"]),
        value=r["value"],
        first_seen=r["first_seen"],
        last_seen=r["last_seen"],
        tlp=Tlp(r["tlp"]),
        description=r["description"],
        uuid=r["uuid"],
        source=r["source"],
    )


def list_for_org(
    conn: sa.Connection, org_id: int, *, limit: int = 100_000, offset: int = 0
) -> tuple[list[tuple[int, Indicator]], int]:
    t = indicators.c
    total = conn.execute(
        sa.select(sa.func.count()).select_from(indicators).where(t.org_id == org_id)
    ).scalar_one()
    rows = conn.execute(
        sa.select(indicators)
        .where(t.org_id == org_id)
        .order_by(t.last_seen.desc(), t.id.desc())
        .limit(limit)
        .offset(offset)
    ).mappings()
    return [(int(r["id"]), _indicator(r)) for r in rows], int(total)


def links_for(
    conn: sa.Connection, incident_ids: Sequence[int]
) -> dict[int, list[tuple[int, Indicator]]]:
    """Indicators linked to each of these incidents (chunked: PostgreSQL and SQLite both cap
    the number of bound parameters)."""
    out: dict[int, list[tuple[int, Indicator]]] = {}
    for start in range(0, len(incident_ids), 5000):
        chunk = list(incident_ids[start : start + 5000])
        rows = conn.execute(
            sa.select(indicator_incidents.c.incident_id, indicators)
            .join(indicators, indicators.c.id == indicator_incidents.c.indicator_id)
            .where(indicator_incidents.c.incident_id.in_(chunk))
        ).mappings()
        for r in rows:
            out.setdefault(int(r["incident_id"]), []).append((int(r["id"]), _indicator(r)))
    return out


def linked_ids(conn: sa.Connection, org_id: int) -> set[int]:
    """Indicators of the organisation linked to at least one incident."""
    return set(
        conn.execute(
            sa.select(indicator_incidents.c.indicator_id)
            .join(indicators, indicators.c.id == indicator_incidents.c.indicator_id)
            .where(indicators.c.org_id == org_id)
        ).scalars()
    )
