"""Calls to mass-report an account: found in three languages only when they name a protected
account, grouped into waves, and linked to the platform's later actions with a score."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from qorgau.detect.account_actions import new_account_action
from qorgau.detect.complaint_waves import (
    ComplaintWave,
    CoordinationCluster,
    correlate,
    find_calls,
    group_waves,
    targets_from_people,
)
from qorgau.detect.model import Observation
from qorgau.detect.watchlist import parse_people

T0 = datetime(2025, 5, 1, 8, 0, tzinfo=UTC)
PEOPLE = parse_people(
    [
        {"name": "Orda.kz", "handles": ["@orda_kz"]},
        {"name": "Editor", "group": "Vlast", "handles": ["editor_vl"]},
    ]
)
TARGETS = targets_from_people(PEOPLE)


def ob(
    n: int, text: str, account: str = "", minutes: float | None = None, **kw: Any
) -> Observation:
    return Observation(
        id=f"tg:{n}",
        source="tg",
        platform="telegram",
        time=T0 + timedelta(minutes=n if minutes is None else minutes),
        account=account or f"bot{n}",
        text=text,
        **kw,
    )


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Жалуйтесь на канал @orda_kz, они врут!", "ru"),
        ("Кидайте репорты на Orda.kz все вместе", "ru"),
        ("Массовые жалобы на @ORDA_KZ, погнали", "ru"),
        ("@orda_kz арнасына шағым түсіріңдер!", "kk"),
        ("Баршаңыз жаппай шағым жазыңдар: orda_kz", "kk"),
        ("Mass report @orda_kz now", "en"),
        ("Everyone report this account: orda.kz", "en"),
    ],
)
def test_calls_are_found_in_three_languages(text: str, lang: str) -> None:
    (call,) = find_calls([ob(1, text)], TARGETS)
    assert call.target == "Orda.kz" and call.lang == lang


@pytest.mark.parametrize(
    "text",
    [
        "Orda.kz опубликовала новое расследование",  # names the outlet, calls for nothing
        "Жалуйтесь на спам в поддержку",  # a call, but about no protected account
        "Редакция подала жалобу в суд на @orda_kz",  # reports a complaint, does not call for one
        "I read the report on orda_kzz yesterday",
    ],
)
def test_other_posts_are_not_calls(text: str) -> None:
    assert find_calls([ob(1, text)], TARGETS) == []


def test_handle_in_links_and_group_names_count() -> None:
    in_link = ob(1, "Mass report this one", urls=("https://t.me/orda_kz",))
    (call,) = find_calls([in_link], TARGETS)
    assert call.handles == ("orda_kz",)
    (group_call,) = find_calls([ob(2, "Жалуйтесь на Vlast, все!")], TARGETS)
    assert group_call.target == "Vlast"
    waves = group_waves([group_call], TARGETS)
    assert waves[0].subjects == ("Editor",)


def test_calls_are_grouped_into_waves_by_gap() -> None:
    obs = [ob(i, "Кидайте репорты на @orda_kz", minutes=i * 30) for i in range(4)]
    obs += [ob(10 + i, "Mass report @orda_kz", minutes=2000 + i) for i in range(2)]
    waves = group_waves(find_calls(obs, TARGETS), TARGETS, max_gap=timedelta(hours=6))
    assert [len(w.calls) for w in waves] == [4, 2]
    first = waves[0]
    assert first.start == T0 and first.end == T0 + timedelta(minutes=90)
    assert first.accounts == ("bot0", "bot1", "bot2", "bot3")
    assert first.observation_ids == ("tg:0", "tg:1", "tg:2", "tg:3")
    assert first.id == "wave:orda-kz:20250501T080000Z"


def _wave(accounts: int, minutes: float = 0) -> list[ComplaintWave]:
    obs = [
        ob(i, "Жалуйтесь на @orda_kz", account=f"acc{i}", minutes=minutes + i)
        for i in range(accounts)
    ]
    return group_waves(find_calls(obs, TARGETS), TARGETS)


def test_a_suspension_after_a_wave_and_a_shared_cluster_is_strong() -> None:
    waves = _wave(25)
    suspension = new_account_action("instagram", "@orda_kz", "suspension", T0 + timedelta(hours=5))
    reinstated = new_account_action("instagram", "orda_kz", "reinstatement", T0 + timedelta(days=2))
    cluster = CoordinationCluster(
        "coord:1", "co-sharing", ("acc1", "acc2", "stranger"), T0, T0 + timedelta(hours=1), ("x:1",)
    )
    (link,) = correlate([suspension, reinstated], waves, [cluster])
    assert link.action == suspension and link.waves == tuple(waves)
    assert link.clusters == (cluster,)
    assert link.score == 1.0 and link.strength == "strong"
    assert any("named @orda_kz" in r for r in link.reasons)
    assert any("2 accounts calling for reports" in r for r in link.reasons)


def test_evidence_outside_the_window_or_after_the_action_is_not_linked() -> None:
    waves = _wave(3)
    late_cluster = CoordinationCluster(
        "c", "copypasta", ("acc1",), T0 + timedelta(days=1), T0 + timedelta(days=2)
    )
    long_after = new_account_action("telegram", "orda_kz", "strike", T0 + timedelta(days=6))
    (link,) = correlate([long_after], waves, [late_cluster], window=timedelta(days=3))
    assert link.waves == () and link.clusters == ()
    assert link.score == 0 and link.strength == "none"
    before = new_account_action("telegram", "orda_kz", "strike", T0 - timedelta(hours=1))
    assert correlate([before], waves, [])[0].waves == ()


def test_more_evidence_scores_higher() -> None:
    strike = new_account_action("telegram", "other_handle", "strike", T0 + timedelta(days=2))
    small = correlate([strike], _wave(3), [])[0]
    large = correlate([strike], _wave(30), [])[0]
    cluster = CoordinationCluster("c", "burst", ("z",), T0, T0 + timedelta(hours=2))
    with_cluster = correlate([strike], _wave(30), [cluster])[0]
    assert 0 < small.score < large.score < with_cluster.score
    assert small.strength == "moderate"
    assert not any("named @" in r for r in small.reasons)


def test_a_call_naming_an_outlets_account_is_not_counted_again_for_the_outlet() -> None:
    targets = targets_from_people(
        parse_people([{"name": "Chief", "group": "Orda", "handles": ["orda_kz"]}])
    )
    (call,) = find_calls([ob(1, "Mass report orda.kz, @orda_kz")], targets)
    assert call.target == "Chief"
    (outlet,) = find_calls([ob(2, "Mass report Orda")], targets)
    assert outlet.target == "Orda"
