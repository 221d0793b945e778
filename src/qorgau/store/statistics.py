"""Counting incidents in SQL, for every dimension a monitoring report uses.

Counts are computed by the database (GROUP BY over the covering list index and the link
tables), never by loading incidents into Python: 100,000 incidents must answer in a fraction
of a second on SQLite and PostgreSQL alike. One function builds the filter conditions, used by
both the statistics and the incident list, so a figure's drill-down lists exactly the
incidents it counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from qorgau.reports.periods import Granularity, bucket
from qorgau.reports.statistics import NOT_RECORDED, Dimension, StatsFilter
from qorgau.store.privacy import unlocked
from qorgau.store.tables import (
    incident_attack_types,
    incident_legal_refs,
    incident_targets,
    incidents,
)

# Statuses that are not attacks to count: duplicates folded into another case, and reports
# found not to be attacks at all.
NOT_COUNTED = ("merged", "rejected")

_COLUMN = {
    Dimension.CATEGORY: incidents.c.category,
    Dimension.REGION: incidents.c.region,
    Dimension.PLATFORM: incidents.c.platform,
    Dimension.PERPETRATOR: incidents.c.perpetrator_type,
    Dimension.OUTCOME: incidents.c.legal_outcome,
    Dimension.SEVERITY: incidents.c.severity,
    Dimension.STATUS: incidents.c.status,
}


def _link(dim: Dimension) -> tuple[sa.Table, sa.Column[Any]]:
    if dim is Dimension.ATTACK_TYPE:
        return incident_attack_types, incident_attack_types.c.attack_type
    if dim is Dimension.LEGAL_REF:
        return incident_legal_refs, incident_legal_refs.c.legal_ref
    if dim is Dimension.TARGET_TYPE:
        return incident_targets, incident_targets.c.target_type
    if dim is Dimension.GENDER:
        return incident_targets, incident_targets.c.gender
    raise KeyError(dim)


def value_condition(dim: Dimension, values: Sequence[str]) -> sa.ColumnElement[bool]:
    wanted = [v for v in values if v != NOT_RECORDED]
    if dim in _COLUMN:
        col = _COLUMN[dim]
        parts: list[sa.ColumnElement[bool]] = []
        if wanted:
            parts.append(col.in_(wanted))
        if NOT_RECORDED in values:
            parts.append(col.is_(None))
        return sa.or_(*parts)
    table, col = _link(dim)
    parts = []
    if wanted:
        parts.append(incidents.c.id.in_(sa.select(table.c.incident_id).where(col.in_(wanted))))
    if NOT_RECORDED in values:
        parts.append(incidents.c.id.not_in(sa.select(table.c.incident_id).where(col.is_not(None))))
    return sa.or_(*parts)


def conditions(org_id: int | None, flt: StatsFilter) -> list[sa.ColumnElement[bool]]:
    c = incidents.c
    # Cases under a panic lock are in no statistic, drill-down, report, export or share.
    cond: list[sa.ColumnElement[bool]] = [unlocked()]
    if org_id is not None:
        cond.append(c.org_id == org_id)
    if flt.reported_from is not None:
        cond.append(c.reported_at >= flt.reported_from)
    if flt.reported_to is not None:
        cond.append(c.reported_at < flt.reported_to)
    for dim, values in flt.values.items():
        if values:
            cond.append(value_condition(dim, values))
    return cond


def counted(org_id: int | None, flt: StatsFilter) -> sa.ColumnElement[bool]:
    """Incidents that count: the filter, minus merged duplicates and rejected reports."""
    return sa.and_(incidents.c.status.not_in(NOT_COUNTED), *conditions(org_id, flt))


def total(conn: sa.Connection, org_id: int, flt: StatsFilter) -> int:
    return int(
        conn.execute(
            sa.select(sa.func.count()).select_from(incidents).where(counted(org_id, flt))
        ).scalar_one()
    )


def breakdown(
    conn: sa.Connection, org_id: int, dim: Dimension, flt: StatsFilter
) -> tuple[int, dict[str, int]]:
    """(distinct incidents, count per value); incidents with no value count under
    ``NOT_RECORDED``, so the cells of a single-valued dimension add up to the total."""
    where = counted(org_id, flt)
    if dim in _COLUMN:
        # One pass over the covering index; the total is the sum of the cells.
        col = _COLUMN[dim]
        single = conn.execute(sa.select(col, sa.func.count()).where(where).group_by(col))
        counts = {(k if k is not None else NOT_RECORDED): int(v) for k, v in single}
        return sum(counts.values()), counts
    table, col = _link(dim)
    # One pass: an outer join on the rows that have a value, so an incident with none meets a
    # NULL (its "not recorded" cell) and one with several is counted once in each. Attack types
    # and legal references are unique per incident (primary key); a case can name two
    # journalists, so target types and genders count distinct incidents.
    unique = table is not incident_targets
    per_incident = sa.func.count() if unique else sa.func.count(sa.distinct(incidents.c.id))
    joined = incidents.outerjoin(
        table, sa.and_(incidents.c.id == table.c.incident_id, col.is_not(None))
    )
    rows = conn.execute(sa.select(col, per_incident).select_from(joined).where(where).group_by(col))
    counts = {(str(k) if k is not None else NOT_RECORDED): int(v) for k, v in rows}
    n = total(conn, org_id, flt)
    return n, counts


def _month_key(conn: sa.Connection) -> sa.ColumnElement[str]:
    col = incidents.c.reported_at
    if conn.dialect.name == "postgresql":
        return sa.func.to_char(col, "YYYY-MM")
    # SQLite keeps UTCDateTime as "YYYY-MM-DD HH:MM:SS..." text: the month is its first seven
    # characters, read without parsing a date per row (strftime doubled the query's time).
    return sa.func.substr(col, 1, 7)


def monthly(
    conn: sa.Connection, org_id: int, flt: StatsFilter, dim: Dimension | None = None
) -> dict[tuple[str, str], int]:
    """Counts per (month "YYYY-MM", value); value is "all" when ``dim`` is None."""
    where = counted(org_id, flt)
    month = _month_key(conn).label("month")
    if dim is None:
        rows = conn.execute(sa.select(month, sa.func.count()).where(where).group_by(month))
        return {(str(m), "all"): int(v) for m, v in rows}
    if dim in _COLUMN:
        col = _COLUMN[dim]
        per_value = conn.execute(
            sa.select(month, col, sa.func.count()).where(where).group_by(month, col)
        )
        return {(str(m), k if k is not None else NOT_RECORDED): int(v) for m, k, v in per_value}
    table, col = _link(dim)
    unique = table is not incident_targets
    per_incident = sa.func.count() if unique else sa.func.count(sa.distinct(table.c.incident_id))
    linked = conn.execute(
        sa.select(month, col, per_incident)
        .select_from(incidents.join(table, incidents.c.id == table.c.incident_id))
        .where(where, col.is_not(None))
        .group_by(month, col)
    )
    return {(str(m), str(k)): int(v) for m, k, v in linked}


def regroup(
    months: dict[tuple[str, str], int], granularity: Granularity
) -> dict[tuple[str, str], int]:
    """Month counts summed into quarters or years (a month belongs to exactly one of each)."""
    if granularity is Granularity.MONTH:
        return dict(months)
    from datetime import UTC, datetime

    out: dict[tuple[str, str], int] = {}
    for (m, value), n in months.items():
        y, mo = int(m[:4]), int(m[5:7])
        key = (bucket(datetime(y, mo, 1, tzinfo=UTC), granularity), value)
        out[key] = out.get(key, 0) + n
    return out


@dataclass(frozen=True)
class LegalCounts:
    incidents: int
    by_provision: dict[str, int]
    by_outcome: dict[str, int]
    reported: int
    no_action: int
    awaiting: int
    days_to_response: list[float]


def legal_counts(
    conn: sa.Connection, org_id: int, flt: StatsFilter, no_action: Sequence[str], overdue: datetime
) -> LegalCounts:
    """Everything the advocacy figures need in two passes: one aggregate over the index, and
    the response delays of the (few) cases the authorities answered."""
    c = incidents.c
    where = counted(org_id, flt)
    grouped = conn.execute(
        sa.select(c.legal_provision, c.legal_outcome, sa.func.count())
        .where(where)
        .group_by(c.legal_provision, c.legal_outcome)
    ).all()
    by_provision: dict[str, int] = {}
    by_outcome: dict[str, int] = {}
    for provision, outcome, count in grouped:
        by_provision[provision] = by_provision.get(provision, 0) + int(count)
        by_outcome[outcome] = by_outcome.get(outcome, 0) + int(count)
    # Cases put before the authorities: a few percent of all, read through their own index.
    reported = conn.execute(
        sa.select(c.legal_outcome, c.authorities_reported_at, c.official_response_at).where(
            where, c.authorities_reported_at.is_not(None)
        )
    ).all()
    n_no_action = n_awaiting = 0
    days: list[float] = []
    for outcome, rep, resp in reported:
        if resp is not None:
            days.append(max(0.0, (resp - rep) / timedelta(days=1)))
        if outcome in no_action:
            n_no_action += 1
        elif outcome == "awaiting_response" and resp is None:
            if rep < overdue:
                n_no_action += 1
            else:
                n_awaiting += 1
    n = sum(by_outcome.values())
    return LegalCounts(n, by_provision, by_outcome, len(reported), n_no_action, n_awaiting, days)
