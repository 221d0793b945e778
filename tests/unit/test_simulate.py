"""The traffic simulator: reproducible, well-formed, and honest about what it injected."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from qorgau.detect.detectors import floods
from qorgau.detect.simulate import CampaignPlan, Simulation, simulate
from qorgau.detect.watchlist import parse_people

START = datetime(2025, 3, 2, 19, 0, tzinfo=UTC)  # Monday 00:00 in UTC+5


@pytest.fixture(scope="module")
def week() -> Simulation:
    return simulate(3, START)


def iin_is_valid(iin: str) -> bool:
    """Written out again here from the published rule, not imported from the simulator."""
    digits = [int(c) for c in iin]
    check = sum(d * w for d, w in zip(digits[:11], range(1, 12), strict=True)) % 11
    if check == 10:
        weights = [3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2]
        check = sum(d * w for d, w in zip(digits[:11], weights, strict=True)) % 11
    return check != 10 and check == digits[11]


def test_the_same_seed_gives_the_same_simulation() -> None:
    first = simulate(5, START, days=2, outlets=2)
    again = simulate(5, START, days=2, outlets=2)
    other = simulate(6, START, days=2, outlets=2)
    as_json = [o.to_json() for o in first.observations]
    assert as_json == [o.to_json() for o in again.observations]
    assert first.truth_json() == again.truth_json()
    assert first.watchlist() == again.watchlist()
    assert as_json != [o.to_json() for o in other.observations]


def test_a_week_is_large_time_ordered_and_varied(week: Simulation) -> None:
    obs = week.observations
    assert len(obs) > 15_000
    assert all(a.time <= b.time for a, b in pairwise(obs))
    assert len({o.id for o in obs}) == len(obs)
    assert all(START <= o.time < START + timedelta(days=7) for o in obs)
    kinds = {o.kind for o in obs}
    assert {"post", "ad", "call", "sms", "message"} <= kinds
    posts = [o for o in obs if o.kind == "post"]
    assert {"ru", "kk", "en"} <= {o.lang for o in posts}
    assert any(re.search("[ǵúýńó]", o.text) for o in posts)  # Kazakh in the Latin alphabet
    assert len({o.text for o in posts}) > len(posts) / 4
    assert any(".example/" in u for o in posts for u in o.urls)
    ads = [o for o in obs if o.kind == "ad"]
    assert sum(bool(o.phones) for o in ads) > len(ads) / 2


def test_calls_follow_the_week(week: Simulation) -> None:
    calls = [o for o in week.observations if o.kind == "call"]
    flood_ids = {
        i for c in week.truth if c.kind in ("flood", "busy_day") for i in c.observation_ids
    }
    local = [o.time + timedelta(hours=5) for o in calls if o.id not in flood_ids]
    afternoons = sum(1 for w in local if w.weekday() < 5 and 13 <= w.hour < 17)
    nights = sum(1 for w in local if w.weekday() < 5 and 1 <= w.hour < 5)
    assert afternoons > 8 * nights


def test_identifiers_are_well_formed(week: Simulation) -> None:
    people = parse_people(week.watchlist()["people"])  # the detectors' own parser accepts them
    assert len(people) >= 12
    assert len({p.name for p in people}) == len(people)
    for person in people:
        assert person.group
        assert all(re.fullmatch(r"\+77\d{9}", p) for p in person.phones)
        assert all(e.endswith(".example") for e in person.emails)
        for iin in person.iins:
            assert re.fullmatch(r"\d{12}", iin) and iin[6] in "123456"
            assert iin_is_valid(iin), iin
    floods.DETECTOR.spec.parse_config(week.watchlist())


def test_ground_truth_matches_the_observations(week: Simulation) -> None:
    by_id = {o.id: o for o in week.observations}
    people = {p.name: p for p in week.people}
    protected = {n for p in week.people for n in p.phones}
    kinds = {c.kind for c in week.truth}
    assert {"planted_identifiers", "flood", "decoy_identifiers", "busy_day"} <= kinds
    for campaign in week.truth:
        assert campaign.start <= campaign.end
        for obs_id in campaign.observation_ids:
            assert obs_id in by_id
        if campaign.kind == "flood":
            assert campaign.should_flag
            phone = people[campaign.people[0]].phones[0]
            items = [by_id[i] for i in campaign.observation_ids]
            assert len(items) > 100
            assert all(o.kind in ("call", "sms") and o.recipients == (phone,) for o in items)
            assert all(campaign.start <= o.time <= campaign.end for o in items)
            assert not {o.account for o in items} & protected
        if campaign.kind == "planted_identifiers":
            assert campaign.should_flag
            for ad in campaign.details["ads"]:
                obs = by_id[ad["observation_id"]]
                assert obs.kind == "ad"
                digits = re.sub(r"\D", "", obs.text)
                if ad["style"] != "lookalikes":
                    assert ad["phone"][-7:] in digits
        if campaign.kind == "decoy_identifiers":
            assert not campaign.should_flag
            for ad in campaign.details["ads"]:
                real = people[ad["resembles"]].phones[0]
                assert ad["number"] not in protected
                assert sum(a != b for a, b in zip(ad["number"], real, strict=True)) == 1
                assert by_id[ad["observation_id"]].phones == (ad["number"],)
    styles = {
        ad["style"]
        for c in week.truth
        if c.kind == "planted_identifiers"
        for ad in c.details["ads"]
    }
    assert {"lookalikes", "words_between", "spaced_digits"} <= styles


def test_the_demo_week_starts_with_ads_then_a_flood_on_monday_evening(week: Simulation) -> None:
    planted = next(c for c in week.truth if c.kind == "planted_identifiers")
    flood = next(c for c in week.truth if c.kind == "flood")
    assert planted.start == START + timedelta(hours=18)
    assert flood.start == START + timedelta(hours=18, minutes=40)
    assert flood.people[0] == planted.people[0]
    assert len(planted.people) == 2  # the editor and the owner


def test_a_plan_of_my_own_and_an_unknown_kind() -> None:
    base = simulate(1, START, days=1, outlets=1, plan=[])
    editor = base.people[0].name
    at = START + timedelta(hours=10)
    sim = simulate(1, START, days=1, outlets=1, plan=[CampaignPlan("flood", at, (editor,))])
    assert [c.kind for c in sim.truth] == ["flood"]
    assert len(sim.observations) > len(base.observations) + 500
    with pytest.raises(ValueError, match="unknown campaign kind"):
        simulate(1, START, days=1, outlets=1, plan=[CampaignPlan("sorcery", at, (editor,))])
    with pytest.raises(ValueError):
        simulate(1, datetime(2025, 3, 3), days=1)


def test_write(tmp_path: Path) -> None:
    sim = simulate(2, START, days=1, outlets=1)
    out = sim.write(tmp_path / "sim")
    lines = (out / "observations.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(sim.observations)
    assert json.loads(lines[0]) == sim.observations[0].to_json()
    watchlist = json.loads((out / "watchlist.json").read_text(encoding="utf-8"))
    assert parse_people(watchlist["people"])
    truth = json.loads((out / "truth.json").read_text(encoding="utf-8"))
    assert truth["seed"] == 2 and truth["campaigns"]


def test_a_month_is_possible() -> None:
    sim = simulate(4, START, days=30, outlets=1)
    assert sim.observations[-1].time >= START + timedelta(days=29)
    assert sum(c.kind == "flood" for c in sim.truth) >= 4
