"""The public dataset must never single out a protected person, and must stay useful.

The k-anonymity is checked with a pandas group count (independent of the module's own class
counting), and
by an adversary who knows what a neighbour knows and filters the public statistics with it.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import random
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qorgau.errors import InvalidInput
from qorgau.reports.model import PublicCandidate
from qorgau.reports.public_data import (
    ATTRIBUTES,
    LEGAL_GROUP,
    MACRO_REGION,
    MULTI_VALUED,
    PublicDataset,
    PublicRow,
    count_public,
    publish,
    to_csv,
    to_json,
)

CATEGORIES: dict[str, list[str]] = {
    "safety": ["threats", "harassment_campaign", "phishing", "account_takeover", "ddos"],
    "expression": ["mass_complaints", "legal_pressure", "detention", "accreditation_denied"],
    "privacy": ["doxxing", "spyware"],
    "infrastructure": ["website_blocking", "throttling"],
    "protests": ["detention", "threats"],
}
REGIONS = list(MACRO_REGION)
FREQUENT = {"almaty_city": 30, "astana": 30, "shymkent": 8, "nationwide": 8, "karaganda": 6}
RARE_ATTACKS = ["spyware", "killing", "deepfake"]

SMALL_TOWN = PublicCandidate(
    month="2025-07",
    category="privacy",
    attack_types=("doxxing", "spyware"),
    region="ulytau",
    platform="whatsapp",
    target_types=("activist",),
    gender="woman",
    perpetrator_type="state_linked",
    legal_outcome="investigation_refused",
    severity="critical",
    protected_person=True,
)


def make_candidates(
    n: int, seed: int = 0, months: int = 12, protected_share: float = 0.6
) -> list[PublicCandidate]:
    """A year of incidents shaped like monitoring data: a few values frequent, many rare."""
    r = random.Random(seed)
    weights = [FREQUENT.get(x, 1) for x in REGIONS]
    out: list[PublicCandidate] = []
    for i in range(n):
        cat = r.choices(list(CATEGORIES), weights=[50, 25, 12, 8, 5])[0]
        attacks = set(r.choices(CATEGORIES[cat], k=r.choice([1, 1, 1, 2])))
        if r.random() < 0.02:
            attacks.add(r.choice(RARE_ATTACKS))
        protected = r.random() < protected_share
        out.append(
            PublicCandidate(
                month=f"2025-{r.randint(1, months):02d}",
                category=cat,
                attack_types=tuple(sorted(attacks)),
                region=r.choices(REGIONS, weights=weights)[0] if r.random() > 0.05 else None,
                platform=r.choices(
                    ["telegram", "instagram", "whatsapp", "website", "x", None],
                    weights=[45, 20, 10, 10, 5, 10],
                )[0],
                target_types=(
                    r.choices(
                        ["journalist", "activist", "blogger", "media_worker", "outlet"],
                        weights=[50, 15, 15, 10, 10],
                    )[0],
                ),
                gender=r.choices(["woman", "man", None], weights=[40, 40, 20])[0],
                perpetrator_type=r.choices(
                    ["unknown", "state", "state_linked", "non_state"], weights=[50, 20, 15, 15]
                )[0],
                legal_outcome=r.choices(list(LEGAL_GROUP), weights=[3, 5, 1, 10, 15, 7, 15, 44])[0],
                severity=r.choices(["low", "medium", "high", "critical"], weights=[3, 4, 2, 1])[0],
                protected_person=protected,
                named_targets=() if protected else (f"Outlet {i}",),
            )
        )
    return out


def protected_rows(ds: PublicDataset) -> list[PublicRow]:
    return [r for r in ds.rows if not r.named_targets]


def frame(rows: list[PublicRow]) -> pd.DataFrame:
    data = {
        a: [";".join(v) if isinstance(v := r.value(a), tuple) else v for r in rows]
        for a in ATTRIBUTES
    }
    return pd.DataFrame(data)


def pandas_k(rows: list[PublicRow]) -> int:
    """k as pandas counts it: the smallest group of rows equal on every released attribute
    (independent of the module's own class counting)."""
    if not rows:
        return 0
    return int(frame(rows).groupby(list(ATTRIBUTES), dropna=False).size().min())


@pytest.fixture(scope="module")
def year() -> list[PublicCandidate]:
    return [*make_candidates(2000, seed=7), SMALL_TOWN]


@pytest.fixture(scope="module")
def year_ds(year: list[PublicCandidate]) -> PublicDataset:
    return publish(year, k=5, seed=3)


def test_pandas_confirms_k_anonymity(year_ds: PublicDataset) -> None:
    rows = protected_rows(year_ds)
    assert len(rows) > 1000
    assert pandas_k(rows) >= 5
    small = publish(make_candidates(300, seed=1), k=2, seed=0)
    assert pandas_k(protected_rows(small)) >= 2


def test_check_would_catch_a_raw_release(year: list[PublicCandidate]) -> None:
    from qorgau.reports.public_data import _released

    raw = [_released(c, dict.fromkeys(ATTRIBUTES, 0), ()) for c in year if c.protected_person]
    assert pandas_k(raw) < 5


def matching_protected(ds: PublicDataset, filters: dict[str, str]) -> int:
    def ok(r: PublicRow) -> bool:
        for a, v in filters.items():
            val = r.value(a)
            if (v not in val) if isinstance(val, tuple) else (val != v):
                return False
        return True

    return sum(1 for r in protected_rows(ds) if ok(r))


@st.composite
def candidate_sets(draw: st.DrawFn) -> list[PublicCandidate]:
    seed = draw(st.integers(0, 10_000))
    n = draw(st.integers(0, 120))
    months = draw(st.integers(1, 12))
    return make_candidates(n, seed=seed, months=months)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cands=candidate_sets(),
    k=st.integers(2, 6),
    data=st.data(),
)
def test_any_filter_gives_zero_or_at_least_k(
    cands: list[PublicCandidate], k: int, data: st.DataObject
) -> None:
    ds = publish(cands, k=k, seed=0)
    assert ds.protected_rows + ds.suppressed == sum(
        1 for c in cands if c.protected_person or not c.named_targets
    )
    if not ds.rows:
        return
    attrs = data.draw(st.lists(st.sampled_from(ATTRIBUTES), max_size=4, unique=True))
    filters: dict[str, str] = {}
    for a in attrs:
        values = sorted(
            {v for r in ds.rows for v in (r.value(a) if a in MULTI_VALUED else (r.value(a),))}
        )
        filters[a] = data.draw(st.sampled_from(values))
    n = matching_protected(ds, filters)
    assert n == 0 or n >= k
    # The statistics page goes through count_public: its protected part obeys the same rule.
    named = [r for r in ds.rows if r.named_targets]
    for value, count in count_public(ds, "category", filters).items():
        named_here = matching_protected_named(named, {**filters, "category": value})
        assert count - named_here == 0 or count - named_here >= k


def matching_protected_named(named: list[PublicRow], filters: dict[str, str]) -> int:
    def ok(r: PublicRow) -> bool:
        for a, v in filters.items():
            val = r.value(a)
            if (v not in val) if isinstance(val, tuple) else (val != v):
                return False
        return True

    return sum(1 for r in named if ok(r))


def generalisations(c: PublicCandidate, attack: str) -> dict[str, list[str]]:
    """Every released value a neighbour's knowledge is consistent with, per attribute."""
    year_, month = c.month.split("-")
    region = c.region
    return {
        "period": [c.month, f"{year_}-Q{(int(month) - 1) // 3 + 1}", year_],
        "region": (
            ["not_recorded", "withheld"]
            if region is None
            else [region, MACRO_REGION.get(region, "other"), "withheld"]
        ),
        "gender": [c.gender or "not_recorded", "withheld"],
        "target_types": [c.target_types[0], "person", "outlet", "withheld"],
        "attack_types": [attack, f"category:{c.category}", "withheld"],
    }


def test_neighbour_never_narrows_below_k(
    year: list[PublicCandidate], year_ds: PublicDataset
) -> None:
    # Rows matching (period, region, gender, one target type, one attack type), counted once
    # per pair of values they contain: tuples hold no duplicates, so this is the row count.
    index: Counter[tuple[str, ...]] = Counter()
    for r in protected_rows(year_ds):
        for t in r.target_types:
            for a in r.attack_types:
                index[(r.period, r.region, r.gender, t, a)] += 1
    checked = 0
    for c in year:
        if not c.protected_person:
            continue
        options = generalisations(c, c.attack_types[0])
        for combo in itertools.product(*options.values()):
            n = index[combo]
            assert n == 0 or n >= year_ds.k, (c, combo, n)
            checked += 1
    assert checked > 100_000
    # The index agrees with a direct scan, so the fast path is not hiding anything.
    c = SMALL_TOWN
    for combo in list(itertools.product(*generalisations(c, "spyware").values()))[:40]:
        filters = dict(zip(generalisations(c, "spyware"), combo, strict=True))
        assert index[combo] == matching_protected(year_ds, filters)


def test_no_protected_name_leaks(year: list[PublicCandidate]) -> None:
    leaky = [
        replace(c, named_targets=(f"Secret Person {i}",)) if c.protected_person else c
        for i, c in enumerate(year)
    ]
    ds = publish(leaky, k=5, seed=1)
    out_csv = to_csv(ds)
    out_json = to_json(ds, produced_at=datetime(2026, 1, 5, tzinfo=UTC))
    assert "Secret Person" not in out_csv
    assert "Secret Person" not in out_json
    assert all(not r.named_targets for r in protected_rows(ds))
    named = [c for c in year if not c.protected_person]
    assert ds.named_rows == len(named)
    for c in named[:50]:
        assert c.named_targets[0] in out_csv
        assert c.named_targets[0] in out_json


def test_unflagged_row_without_names_is_treated_as_protected() -> None:
    lone = replace(SMALL_TOWN, protected_person=False, named_targets=())
    ds = publish([*make_candidates(200, seed=2), lone], k=5, seed=0)
    assert not any(r.region == "ulytau" and r.severity == "critical" for r in ds.rows)


def test_small_town_activist_is_not_published_as_is(year_ds: PublicDataset) -> None:
    exact = [
        r
        for r in year_ds.rows
        if r.period == "2025-07"
        and r.region == "ulytau"
        and r.gender == "woman"
        and "spyware" in r.attack_types
        and r.target_types == ("activist",)
    ]
    assert exact == []
    assert year_ds.suppressed > 0 or year_ds.levels["region"] > 0


def test_suppression_reported_and_within_budget(year_ds: PublicDataset) -> None:
    protected_in = sum(1 for c in year_ds.rows if not c.named_targets) + year_ds.suppressed
    assert year_ds.within_budget
    assert 0 < year_ds.suppressed <= 0.05 * protected_in
    assert year_ds.protected_rows == protected_in - year_ds.suppressed


def test_too_few_protected_rows_are_suppressed_anyway() -> None:
    ds = publish([SMALL_TOWN, replace(SMALL_TOWN, month="2025-01")], k=5, seed=0)
    assert ds.rows == ()
    assert ds.suppressed == 2
    assert not ds.within_budget


@pytest.mark.parametrize("k", [1, 0, -3])
def test_k_below_two_refused(k: int) -> None:
    with pytest.raises(InvalidInput) as exc:
        publish([SMALL_TOWN], k=k)
    assert exc.value.problems[0].field == "k"


def test_bad_month_and_budget_refused() -> None:
    with pytest.raises(InvalidInput):
        publish([replace(SMALL_TOWN, month="2025-13")])
    with pytest.raises(InvalidInput):
        publish([SMALL_TOWN], max_suppressed=1.5)


def test_empty_input_gives_empty_dataset() -> None:
    ds = publish([], k=5, seed=0)
    assert ds.rows == ()
    assert ds.suppressed == 0
    assert ds.levels == dict.fromkeys(ATTRIBUTES, 0)
    assert json.loads(to_json(ds, produced_at=datetime(2026, 1, 1, tzinfo=UTC)))["rows"] == []


def test_order_reveals_nothing_about_input() -> None:
    cands = make_candidates(400, seed=11, protected_share=0.0)
    first = publish(cands, seed=5)
    again = publish(cands, seed=5)
    reversed_ = publish(list(reversed(cands)), seed=5)
    assert first.rows == again.rows
    # Same seed, different input order: identical output, so order carries no information.
    assert first.rows == reversed_.rows
    index = {c.named_targets[0]: i for i, c in enumerate(cands)}
    positions = [index[r.named_targets[0]] for r in first.rows]
    assert positions != sorted(positions)
    assert positions != sorted(positions, reverse=True)
    # Not even roughly in input order: rank correlation near zero.
    n = len(positions)
    mean = (n - 1) / 2
    cov = sum((i - mean) * (p - mean) for i, p in enumerate(positions))
    var = sum((i - mean) ** 2 for i in range(n))
    assert abs(cov / var) < 0.2
    assert [r.row for r in first.rows] == list(range(1, n + 1))
    assert publish(cands, seed=6).rows != first.rows


def test_utility_on_large_repetitive_year() -> None:
    ds = publish(make_candidates(20_000, seed=4), k=5, seed=0)
    assert ds.levels["period"] <= 1
    assert ds.level_names["period"] in {"month", "quarter"}
    assert ds.levels["category"] == 0
    assert ds.within_budget
    assert pandas_k(protected_rows(ds)) >= 5


def test_csv_and_json_parse_back(year_ds: PublicDataset) -> None:
    rows = list(csv.DictReader(io.StringIO(to_csv(year_ds))))
    assert len(rows) == len(year_ds.rows)
    assert list(rows[0]) == ["row", *ATTRIBUTES, "named_targets"]
    first = year_ds.rows[0]
    assert rows[0]["attack_types"].split(";") == list(first.attack_types)
    assert rows[0]["period"] == first.period
    doc = json.loads(
        to_json(year_ds, produced_at=datetime(2026, 1, 5, 12, tzinfo=UTC), licence="CC0")
    )
    meta = doc["metadata"]
    assert meta["row_count"] == len(doc["rows"]) == len(year_ds.rows)
    assert meta["k"] == 5 and meta["suppressed"] == year_ds.suppressed
    assert meta["levels"] == year_ds.levels and meta["licence"] == "CC0"
    assert meta["produced_at"] == "2026-01-05T12:00:00+00:00"
    assert set(doc["rows"][0]) == {"row", *ATTRIBUTES, "named_targets"}
    assert doc["rows"][0]["target_types"] == list(first.target_types)


def test_csv_neutralises_formulas_in_names() -> None:
    c = replace(SMALL_TOWN, protected_person=False, named_targets=("=HYPERLINK(1)",))
    assert "'=HYPERLINK(1)" in to_csv(publish([c], seed=0))


def test_count_public_exact_values_and_unknown_dimension(year_ds: PublicDataset) -> None:
    by_cat = count_public(year_ds, "category")
    assert sum(by_cat.values()) == len(year_ds.rows)
    by_attack = count_public(year_ds, "attack_types")
    assert sum(by_attack.values()) == sum(len(r.attack_types) for r in year_ds.rows)
    some = next(r for r in protected_rows(year_ds))
    filtered = count_public(year_ds, "severity", {"period": some.period})
    assert sum(filtered.values()) == sum(1 for r in year_ds.rows if r.period == some.period)
    if year_ds.levels["period"] > 0:
        # A month does not match rows released as quarters: only the named rows count.
        month_only = count_public(year_ds, "category", {"period": "2025-02"})
        assert sum(month_only.values()) == sum(
            1 for r in year_ds.rows if r.named_targets and r.period == "2025-02"
        )
    with pytest.raises(InvalidInput) as exc:
        count_public(year_ds, "name")
    assert "category" in exc.value.problems[0].allowed
    with pytest.raises(InvalidInput):
        count_public(year_ds, "category", {"town": "x"})
