"""The streaming co-sharing detector on traffic made here, where every share is known: a
group that keeps sharing the same links seconds apart is one campaign across batches, and a
viral news link shared by hundreds of strangers is not."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from qorgau.detect.detectors import co_sharing
from qorgau.detect.interfaces import State
from qorgau.detect.model import Observation
from qorgau.detect.pipeline import configure, run_one, run_stream
from qorgau.errors import InvalidInput

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
RING = [f"ring_{i}" for i in range(6)]


def share(n: int, account: str, url: str, at: datetime, platform: str = "x") -> Observation:
    return Observation(
        id=f"s:{n}", source="s", platform=platform, time=at, account=account, urls=(url,)
    )


def ring_campaign(links: int, start: datetime, first_id: int = 0) -> list[Observation]:
    """The ring posts each link within 20 seconds, a new link every 15 minutes."""
    out = []
    n = first_id
    for k in range(links):
        at = start + timedelta(minutes=15 * k)
        for j, account in enumerate(RING):
            out.append(
                share(n, account, f"https://fake.example/{k}", at + timedelta(seconds=3 * j))
            )
            n += 1
    return out


def viral_link(accounts: int, start: datetime, rng: random.Random) -> list[Observation]:
    """One news link shared by many strangers over six hours, by chance some seconds apart."""
    return [
        share(
            100_000 + i,
            f"reader_{i}",
            "https://news.example/story",
            start + timedelta(seconds=rng.uniform(0, 6 * 3600)),
        )
        for i in range(accounts)
    ]


def cfg(**raw: Any) -> Any:
    return co_sharing.DETECTOR.spec.parse_config(raw)


def test_a_ring_is_found_and_a_viral_link_is_not() -> None:
    rng = random.Random(7)
    traffic = ring_campaign(4, T0) + viral_link(600, T0, rng)
    # Readers also share other links on their own: noise that must not link them.
    traffic += [
        share(
            200_000 + i,
            f"reader_{i}",
            f"https://news.example/{rng.randrange(500)}",
            T0 + timedelta(seconds=rng.uniform(0, 21600)),
        )
        for i in range(600)
    ]
    result = run_stream(configure(co_sharing.DETECTOR, {}), traffic, batch_size=400)
    assert len(result.findings) == 1
    finding = result.findings[0]
    assert finding.details["accounts"] == sorted(RING)
    assert finding.attack_type == "coordinated_inauthentic"
    ring_ids = {o.id for o in traffic if o.account in RING}
    assert set(finding.observation_ids) == ring_ids


def test_one_key_while_the_ring_grows_across_batches() -> None:
    c = configure(co_sharing.DETECTOR, {})
    state: State = {}
    first = run_one(c, ring_campaign(2, T0), state)
    later_ring = ring_campaign(2, T0 + timedelta(hours=1), first_id=1000)
    newcomer = [
        share(
            5000 + k,
            "late_joiner",
            f"https://fake.example/{k}",
            T0 + timedelta(hours=1, minutes=15 * k, seconds=1),
        )
        for k in range(2)
    ]
    second = run_one(c, later_ring + newcomer, state)
    assert len(first.findings) == 1 and len(second.findings) == 1
    assert first.findings[0].key == second.findings[0].key
    assert "late_joiner" in second.findings[0].details["accounts"]


def test_one_shared_link_is_not_enough() -> None:
    """Six accounts meeting once on one link: chance is a fair explanation."""
    result = run_stream(configure(co_sharing.DETECTOR, {}), ring_campaign(1, T0))
    assert result.findings == ()
    loose = run_stream(configure(co_sharing.DETECTOR, {"min_repeats": 1}), ring_campaign(1, T0))
    assert len(loose.findings) == 1


def test_shares_further_apart_than_the_window_are_not_pairs() -> None:
    spread = [
        share(
            i, account, f"https://fake.example/{k}", T0 + timedelta(minutes=15 * k, seconds=90 * j)
        )
        for i, (k, (j, account)) in enumerate((k, ja) for k in range(4) for ja in enumerate(RING))
    ]
    assert run_stream(configure(co_sharing.DETECTOR, {}), spread).findings == ()
    wide = run_stream(configure(co_sharing.DETECTOR, {"time_window": 600}), spread)
    assert len(wide.findings) == 1


def test_platforms_are_kept_apart() -> None:
    mixed = [
        Observation(**{**o.__dict__, "platform": "x" if i % 2 else "telegram"})
        for i, o in enumerate(ring_campaign(2, T0))
    ]
    c = configure(co_sharing.DETECTOR, {})
    assert {c.detector.spec.partition_key(o, c.config) for o in mixed} == {  # type: ignore[misc]
        "co_sharing:x",
        "co_sharing:telegram",
    }


def test_state_forgets_what_is_past_the_horizon() -> None:
    c = configure(co_sharing.DETECTOR, {"horizon_hours": 1})
    state: State = {}
    run_one(c, ring_campaign(2, T0), state)
    assert state["co_sharing:x"]["edges"]
    run_one(c, [share(9999, "someone", "https://other.example", T0 + timedelta(hours=5))], state)
    assert state["co_sharing:x"]["edges"] == {}
    assert state["co_sharing:x"]["groups"] == {}
    assert list(state["co_sharing:x"]["shares"]) == ["url:https://other.example"]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"time_window": -1}, "time_window"),
        ({"time_window": "10"}, "time_window"),
        ({"min_repeats": 0}, "min_repeats"),
        ({"min_accounts": 2.5}, "min_accounts"),
        ({"objects": ["hashtag"]}, "objects"),
        ({"window": 10}, "window"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        cfg(**raw)
    assert caught.value.problems[0].field == field


def test_the_desk_keys_are_accepted() -> None:
    assert cfg(people=[], registry={}, media={}).min_repeats == 2
