"""The generated demo year: what the quarterly-report acceptance test and the benchmarks rely on
— the right count in the right year, every category and quarter present, a legal trail whose
stored outcome is what the rule derives, indicators shared across a campaign, and no gender
recorded without consent."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from qorgau.demo.year import YearSummary, generate_year
from qorgau.domain.legal import derive_state
from qorgau.errors import InvalidInput
from qorgau.store import legal_events, users
from qorgau.store.store import Store
from qorgau.store.tables import (
    incident_targets,
    incidents,
    indicator_incidents,
    indicators,
)

N = 400
DOC_NETS = [ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")]


def _year(store: Store) -> int:
    return store.now().year - 1


@pytest.fixture
def generated(store: Store) -> YearSummary:
    return generate_year(store, year=_year(store), incidents=N, seed=7)


def _rows(store: Store, *cols: Any, org: str = "default") -> list[sa.Row[Any]]:
    with store.read() as conn:
        org_id = users.org_id_for(conn, org)
        return list(
            conn.execute(
                sa.select(*cols).where(incidents.c.org_id == org_id).order_by(incidents.c.id)
            )
        )


def test_count_dates_quarters_and_categories(store: Store, generated: YearSummary) -> None:
    year = _year(store)
    rows = _rows(store, incidents.c.reported_at, incidents.c.started_at, incidents.c.category,
                 incidents.c.created_at, incidents.c.updated_at)  # fmt: skip
    assert len(rows) == N == generated.incidents
    start, end = datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    assert all(start <= r.reported_at < end for r in rows)
    assert all(r.started_at is None or r.started_at <= r.reported_at for r in rows)
    assert all(r.reported_at <= r.created_at <= r.updated_at < end for r in rows)
    stored_quarters = [0, 0, 0, 0]
    for r in rows:
        stored_quarters[(r.reported_at.month - 1) // 3] += 1
    assert tuple(stored_quarters) == generated.by_quarter
    assert min(stored_quarters) > 0
    categories = {r.category for r in rows}
    assert categories == set(store.taxonomy.ids("category"))  # all five ARTICLE 19 categories


def test_same_seed_gives_the_same_year(store: Store) -> None:
    year = _year(store)
    generate_year(store, year=year, incidents=150, seed=11)
    generate_year(store, year=year, incidents=150, seed=11, org_slug="other")
    cols = (incidents.c.title, incidents.c.reported_at, incidents.c.region, incidents.c.severity,
            incidents.c.tlp, incidents.c.status, incidents.c.legal_outcome)  # fmt: skip
    first = [tuple(r) for r in _rows(store, *cols)]
    second = [tuple(r) for r in _rows(store, *cols, org="other")]
    assert len(first) == 150
    assert first == second
    # ...and a different seed gives a different year.
    with store.write() as conn:
        conn.execute(
            sa.delete(incidents).where(incidents.c.org_id == users.org_id_for(conn, "other"))
        )
    generate_year(store, year=year, incidents=150, seed=12, org_slug="other")
    assert [tuple(r) for r in _rows(store, *cols, org="other")] != first


def test_gender_recorded_for_a_share_of_people_only(store: Store, generated: YearSummary) -> None:
    with store.read() as conn:
        rows = list(conn.execute(sa.select(incident_targets.c.kind, incident_targets.c.gender,
                                           incident_targets.c.role)))  # fmt: skip
    people = [r for r in rows if r.kind == "person"]
    assert len(people) > N / 3
    recorded = [r for r in people if r.gender is not None]
    assert 0.5 < len(recorded) / len(people) < 0.9
    assert {r.gender for r in recorded} <= set(store.taxonomy.ids("gender"))
    assert "woman" in {r.gender for r in recorded}
    assert all(r.gender is None and r.role is None for r in rows if r.kind != "person")
    assert {r.role for r in people} <= set(store.taxonomy.ids("target_role"))
    assert {"outlet", "website"} <= {r.kind for r in rows}


def test_stored_legal_state_is_derived_from_the_stored_events(
    store: Store, generated: YearSummary
) -> None:
    cols = (incidents.c.id, incidents.c.legal_outcome, incidents.c.authorities_reported_at,
            incidents.c.official_response_at, incidents.c.updated_at,
            incidents.c.legal_provision)  # fmt: skip
    rows = _rows(store, *cols)
    reported = [r for r in rows if r.legal_outcome != "not_reported"]
    assert generated.legal_events > 0
    assert N * 0.05 < len(reported) < N * 0.5
    outcomes = {r.legal_outcome for r in reported}
    assert {"investigation_refused", "investigation_opened"} & outcomes
    end = datetime(_year(store) + 1, 1, 1, tzinfo=UTC)
    sample = reported + [r for r in rows if r.legal_outcome == "not_reported"][:40]
    with store.read() as conn:
        for r in sample:
            events = [e.event for e in legal_events.list_for(conn, store.cipher, r.id)]
            state = derive_state(events)
            assert (str(state.outcome), state.reported_at, state.first_response_at) == (
                r.legal_outcome,
                r.authorities_reported_at,
                r.official_response_at,
            )
            assert all(e.at < end and e.at <= r.updated_at for e in events)
            assert bool(events) == (r.legal_outcome != "not_reported")
    assert {r.legal_provision for r in rows} == {"unassessed", "applies", "none"}


def test_tlp_red_is_rare_and_indicators_link_incidents(
    store: Store, generated: YearSummary
) -> None:
    tlps = [r.tlp for r in _rows(store, incidents.c.tlp)]
    red = tlps.count("red")
    assert 0 < red < N * 0.12
    assert {"clear", "green", "amber"} <= set(tlps)
    with store.read() as conn:
        inds = list(conn.execute(sa.select(indicators.c.id, indicators.c.kind, indicators.c.value)))
        links = list(conn.execute(sa.select(indicator_incidents.c.indicator_id,
                                            indicator_incidents.c.incident_id)))  # fmt: skip
    assert len(inds) == generated.indicators > 0
    assert len(links) == generated.indicator_links
    linked = {i for i, _ in links}
    assert linked == {r.id for r in inds}  # every indicator belongs to some incident
    per_indicator: dict[int, int] = {}
    for i, _ in links:
        per_indicator[i] = per_indicator.get(i, 0) + 1
    assert max(per_indicator.values()) >= 3  # a campaign's infrastructure is reused
    for r in inds:
        if r.kind == "ipv4":
            assert any(ipaddress.ip_address(r.value) in net for net in DOC_NETS)


@pytest.mark.parametrize("ahead", [0, 1])
def test_current_or_future_year_is_refused(store: Store, ahead: int) -> None:
    with pytest.raises(InvalidInput) as err:
        generate_year(store, year=store.now().year + ahead, incidents=10)
    assert err.value.problems[0].field == "year"
    assert _rows(store, incidents.c.id) == []
