"""The flood detector on hand-made traffic whose every call is known.

The traffic here is generated in the test itself (not by the simulator), so a change to the
simulator cannot quietly make these tests easier."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from qorgau.detect.detectors import floods
from qorgau.detect.model import Finding, Observation
from qorgau.errors import InvalidInput

PHONE = "+77011234567"
PERSON = {"name": "Editor", "group": "Outlet", "phones": [PHONE], "handles": ["the_editor"]}
START = datetime(2025, 3, 2, 19, 0, tzinfo=UTC)  # Monday 00:00 in UTC+5
FLOOD_AT = START + timedelta(days=7, hours=13, minutes=40)  # the next Monday, 18:40 local


def config(**overrides: Any) -> floods.FloodConfig:
    return floods.DETECTOR.spec.parse_config({"people": [PERSON], **overrides})


def poisson(rng: random.Random, mean: float) -> int:
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def usual_rate(when: datetime, busy: bool = False) -> float:
    """Calls an hour: 6 on weekday afternoons, well under 1 at night, half at weekends."""
    local = when + timedelta(hours=5)
    hour = local.hour
    rate = 0.2 if hour < 7 or hour >= 23 else 3.0 if hour < 12 or hour >= 19 else 6.0
    if local.weekday() >= 5:
        rate /= 2
    return rate * 2 if busy else rate


class Traffic:
    """Calls to the editor: ordinary ones from a pool of contacts, and a flood from strangers."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.contacts = [f"+7705{self.rng.randrange(10**7):07d}" for _ in range(40)]
        self.items: list[Observation] = []
        self.flood_ids: set[str] = set()

    def call(self, when: datetime, caller: str) -> Observation:
        obs = Observation(
            id=f"test:{len(self.items):06d}",
            source="test",
            platform="phone",
            time=when.replace(microsecond=0),
            kind="call",
            account=caller,
            recipients=(PHONE,),
        )
        self.items.append(obs)
        return obs

    def ordinary(
        self, start: datetime, end: datetime, busy: tuple[datetime, datetime] | None = None
    ) -> None:
        at = start
        while at < end:
            is_busy = busy is not None and busy[0] <= at < busy[1]
            for _ in range(poisson(self.rng, usual_rate(at, is_busy) / 6)):  # per 10 minutes
                offset = timedelta(seconds=self.rng.uniform(0, 600))
                weights = [1 / (i + 1) for i in range(len(self.contacts))]
                caller = self.rng.choices(self.contacts, weights)[0]
                if self.rng.random() < 0.05:
                    caller = f"+7707{self.rng.randrange(10**7):07d}"
                self.call(at + offset, caller)
            at += timedelta(minutes=10)

    def flood(self, start: datetime, minutes: int, per_hour: float = 120) -> None:
        for minute in range(minutes):
            for _ in range(poisson(self.rng, per_hour / 60)):
                when = start + timedelta(minutes=minute, seconds=self.rng.uniform(0, 60))
                self.flood_ids.add(self.call(when, f"+7747{self.rng.randrange(10**7):07d}").id)

    def sorted(self) -> list[Observation]:
        return sorted(self.items, key=lambda o: (o.time, o.id))


def run(
    items: Sequence[Observation], cfg: floods.FloodConfig, batch: int = 200
) -> tuple[list[Finding], dict[str, Any]]:
    """Findings over ``items`` in batches, the state going through JSON between batches."""
    state: dict[str, Any] = {}
    found: list[Finding] = []
    for i in range(0, len(items), batch):
        result = floods.DETECTOR.detect(items[i : i + batch], cfg, state)
        assert not result.failures
        found.extend(result.findings)
        state = json.loads(json.dumps(state))
    return found, state


def flooded_week(seed: int) -> Traffic:
    traffic = Traffic(seed)
    traffic.ordinary(START, FLOOD_AT + timedelta(hours=5))
    traffic.flood(FLOOD_AT, 180)
    return traffic


def detected_at(f: Finding) -> datetime:
    return datetime.fromisoformat(f.details["detected_at"])


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_flood_from_new_numbers_is_reported_within_five_minutes(seed: int) -> None:
    found, _ = run(flooded_week(seed).sorted(), config())
    keys = {f.key for f in found}
    assert len(keys) == 1, keys
    first = found[0]
    assert first.at is not None
    assert abs(first.at - FLOOD_AT) <= timedelta(minutes=5)
    assert detected_at(first) - FLOOD_AT <= timedelta(minutes=5)
    assert first.key == f"flood:Editor:calls:{first.at:%Y-%m-%dT%H:%M}Z"
    assert first.attack_type == "phone_flooding"
    assert first.severity == "high"
    assert first.subjects == ("Editor",)
    details = first.details
    assert details["rate_per_hour"] > 40
    assert details["baseline_per_hour"] < 15
    assert details["new_sources"] >= 0.8 * details["distinct_sources"]
    assert "Editor" in first.title and "an hour" in first.explanation


def test_seasonal_traffic_with_a_busy_afternoon_raises_nothing() -> None:
    for seed in range(1, 4):
        traffic = Traffic(seed)
        # Two weeks; the second Wednesday afternoon is twice as busy as usual.
        busy_from = START + timedelta(days=9, hours=8)  # Wednesday 13:00 local
        traffic.ordinary(
            START, START + timedelta(days=14), (busy_from, busy_from + timedelta(hours=5))
        )
        found, _ = run(traffic.sorted(), config())
        assert found == [], [f.key for f in found]


def test_same_alarms_whatever_the_batch_size() -> None:
    items = flooded_week(11).sorted()
    outcomes = []
    for batch in (1, 37, 500, len(items)):
        found, state = run(items, config(), batch)
        ids: dict[str, set[str]] = {}
        for f in found:
            ids.setdefault(f.key, set()).update(f.observation_ids)
        outcomes.append((ids, state))
    for ids, state in outcomes[1:]:
        assert ids == outcomes[0][0]
        assert state == outcomes[0][1]
    assert outcomes[0][0]


def test_updates_keep_the_key_and_bring_only_new_observations() -> None:
    traffic = flooded_week(5)
    found, _ = run(traffic.sorted(), config(), 50)
    assert len(found) > 3
    assert len({f.key for f in found}) == 1
    seen: set[str] = set()
    for f in found:
        assert not seen & set(f.observation_ids)
        seen.update(f.observation_ids)
    # Every flood call is named (none was left out of the lists).
    assert traffic.flood_ids <= seen
    assert found[-1].details["ended_at"] is not None
    ended = datetime.fromisoformat(found[-1].details["ended_at"])
    assert abs(ended - (FLOOD_AT + timedelta(minutes=180))) <= timedelta(minutes=15)


def test_late_observations_join_the_current_bin() -> None:
    traffic = flooded_week(3)
    items = traffic.sorted()
    cut = next(i for i, o in enumerate(items) if o.time >= FLOOD_AT + timedelta(minutes=30))
    late = traffic.call(FLOOD_AT + timedelta(minutes=26), "+77479999999")
    cfg = config()
    state: dict[str, Any] = {}
    first = floods.DETECTOR.detect(items[:cut], cfg, state)
    state = json.loads(json.dumps(state))
    second = floods.DETECTOR.detect([late, *items[cut : cut + 20]], cfg, state)
    assert not first.failures and not second.failures
    assert len({f.key for f in (*first.findings, *second.findings)}) == 1
    assert late.id in second.findings[-1].observation_ids


def test_a_backfill_processed_out_of_order_raises_no_flood() -> None:
    """Two workers back-filling a week in parallel: the later half first, then the earlier.
    Hours of old calls arriving 'now' must not look like a wall of calls in one minute."""
    traffic = Traffic(5)
    traffic.ordinary(START, START + timedelta(days=7))
    items = traffic.sorted()
    half = len(items) // 2
    found, state = run([*items[half:], *items[:half]], config())
    assert found == []
    (partition,) = state.values()
    assert partition["late"] >= half - 5


def test_new_numbers_are_told_from_known_contacts() -> None:
    traffic = Traffic(21)
    traffic.ordinary(START, START + timedelta(days=3))
    quiet_until = START + timedelta(days=3, hours=2)
    known = traffic.contacts[:20]
    for c in known:  # every one of them has called before
        traffic.call(START + timedelta(days=2, hours=traffic.contacts.index(c)), c)
    strangers = [f"+7778{i:07d}" for i in range(60)]
    callers = known + strangers
    traffic.rng.shuffle(callers)
    for i, caller in enumerate(callers):
        traffic.call(quiet_until + timedelta(seconds=15 * i), caller)
    found, _ = run(traffic.sorted(), config())
    assert len({f.key for f in found}) == 1
    last = found[-1].details
    assert last["distinct_sources"] == 80
    assert last["new_sources"] == 60
    top = {s["source"]: s["new"] for s in last["sources"]}
    assert all(new == (source in strangers) for source, new in top.items())


def test_an_observation_without_a_time_zone_fails_alone() -> None:
    traffic = Traffic(2)
    traffic.ordinary(START, START + timedelta(hours=6))
    items = traffic.sorted()
    broken = Observation(
        id="test:broken",
        source="test",
        platform="phone",
        time=datetime(2025, 3, 3, 9, 0),
        kind="call",
        account="+77050000000",
        recipients=(PHONE,),
    )
    state: dict[str, Any] = {}
    result = floods.DETECTOR.detect([*items[:5], broken, *items[5:]], config(), state)
    assert [f.observation_id for f in result.failures] == ["test:broken"]
    assert "time zone" in result.failures[0].error
    assert state["Editor|calls"]["streams"]["all"]["s"] >= 0


def test_partition_keys() -> None:
    cfg = config()
    base: dict[str, Any] = {"id": "x:1", "source": "x", "platform": "p", "time": START}

    def key(**fields: Any) -> str | None:
        return floods.partition_key(Observation(**{**base, **fields}), cfg)

    assert key(kind="call", recipients=("8 701 123 45 67",)) == "Editor|calls"
    assert key(kind="sms", recipients=("+7 701 123 4567",)) == "Editor|sms"
    assert key(kind="message", recipients=("@The_Editor",)) == "Editor|messages"
    assert key(kind="post", text="@the_editor shame on you") == "Editor|mentions"
    assert key(kind="post", text="mail the_editor@x.example") is None
    assert key(kind="call", recipients=("+77011234568",)) is None
    assert key(kind="ad", text="@the_editor") is None
    only_calls = config(channels=["calls"])
    assert (
        floods.partition_key(
            Observation(**{**base, "kind": "sms", "recipients": (PHONE,)}), only_calls
        )
        is None
    )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"bin_seconds": 70}, "bin_seconds"),
        ({"bin_seconds": "60"}, "bin_seconds"),
        ({"rate_ratio": 1}, "rate_ratio"),
        ({"threshold": -1}, "threshold"),
        ({"min_baseline_per_hour": 0}, "min_baseline_per_hour"),
        ({"channels": ["fax"]}, "channels"),
        ({"channels": "calls"}, "channels"),
        ({"speed": 3}, "speed"),
        ({"people": [{"name": "A", "phones": ["12"]}]}, "people[0].phones"),
    ],
)
def test_bad_settings_are_refused_by_name(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        floods.DETECTOR.spec.parse_config({"people": [PERSON], **overrides})
    assert caught.value.problems[0].field.startswith(field)


def test_spec_and_an_empty_batch() -> None:
    spec = floods.DETECTOR.spec
    assert spec.name == "floods" and spec.stateful
    assert spec.attack_types == ("phone_flooding", "harassment_campaign")
    assert "people" in spec.config_schema["properties"]
    result = floods.DETECTOR.detect([], spec.parse_config({"people": []}), {})
    assert result.findings == () and result.failures == ()
