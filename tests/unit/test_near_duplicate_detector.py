"""The registered copy-paste detector, on simulated campaigns and hand-made batches: Cyrillic and
Latin-script copies, organic sharing, self-repetition, campaigns split across batches."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import jsonschema
import pytest

from qorgau.detect import simulate_text
from qorgau.detect.detectors.near_duplicate_texts import DETECTOR, redact
from qorgau.detect.interfaces import State
from qorgau.detect.model import Observation
from qorgau.detect.pipeline import configure, run_one, run_stream
from qorgau.detect.simulate_campaigns import CampaignPlan
from qorgau.detect.simulate_coordination import copypasta, edited_copy, organic_share
from qorgau.detect.simulate_people import PhoneBook, make_outlets
from qorgau.detect.simulate_world import World
from qorgau.errors import InvalidInput

T0 = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
STATEMENT_KK = (
    "Құрметті әріптестер! Айгүл Сапарова барлық журналистерді жұма күні сағат 15:00-де "
    "әкімдікте өтетін жабық кездесуге шақырады."
)
WATCHLIST = {"people": [{"name": "Айгүл Сапарова", "phones": ["+77011234567"]}], "min_accounts": 5}


def _post(
    i: int, text: str, account: str, minutes: float, platform: str = "telegram"
) -> Observation:
    return Observation(
        id=f"sim-{platform}:p{i:05d}",
        source=f"sim-{platform}",
        platform=platform,
        time=T0 + timedelta(minutes=minutes),
        account=account,
        text=text,
    )


def _world(seed: int) -> World:
    rng = random.Random(seed)
    phones = PhoneBook(rng)
    return World(
        rng=rng,
        start=T0 - timedelta(days=1),
        end=T0 + timedelta(days=2),
        outlets=make_outlets(rng, 1, phones),
        phones=phones,
        accounts=[f"reader{i}" for i in range(200)],
    )


def test_cyrillic_and_latin_kazakh_copies_with_emoji_and_hashtags_are_one_campaign() -> None:
    latin = (
        "Qūrmettı äriptester! Aigül Saparova barlyq jurnalisterdı jūma künı sağat 15:00-de "
        "äkımdıkte ötetın jabyq kezdesuge şaqyrady."
    )
    texts = [
        STATEMENT_KK,
        "🔥 " + STATEMENT_KK + " #срочно #жаңалықтар",
        latin,
        latin + " 📢 #Qazaqstan",
        STATEMENT_KK.replace("барлық журналистерді", "журналистерді барлық"),
        "❗❗ " + latin.upper(),
    ]
    batch = [_post(i, t, f"acct{i}", 5 * i) for i, t in enumerate(texts)]
    config = DETECTOR.spec.parse_config(WATCHLIST)
    result = DETECTOR.detect(batch, config, {})
    assert len(result.findings) == 1
    finding = result.findings[0]
    assert set(finding.observation_ids) == {o.id for o in batch}
    assert finding.attack_type == "coordinated_inauthentic"
    assert finding.subjects == ("Айгүл Сапарова",)
    assert finding.details["account_count"] == 6
    assert finding.details["latin_script_copies"] == 3
    assert finding.details["start"] == T0.isoformat()
    assert finding.details["end"] == (T0 + timedelta(minutes=25)).isoformat()
    json.dumps(finding.to_json())  # findings travel as JSON


def test_simulated_copypasta_is_flagged_with_exactly_its_posts_among_ordinary_traffic() -> None:
    world = _world(11)
    person = world.people[0].name
    truth = copypasta(world, CampaignPlan("copypasta", T0, (person,), {"accounts": 25}), "c1")
    share = organic_share(world, CampaignPlan("organic_share", T0, (person,)), "c2")
    for k in range(600):  # a day of ordinary posts around the outlet
        text, lang = simulate_text.post_text(world.rng, world.outlets[0].name, "")
        world.post(T0 + timedelta(minutes=2.4 * k), world.pick(world.accounts), text, lang)
    assert truth.should_flag and not share.should_flag
    config = configure(DETECTOR, {"people": [world.people[0].watchlist_entry()]})
    result = run_stream(config, world.observations, batch_size=10_000)
    assert len(result.findings) == 1
    assert set(result.findings[0].observation_ids) == set(truth.observation_ids)
    assert result.findings[0].subjects == (person,)


def test_organic_sharing_of_one_news_link_is_not_flagged() -> None:
    world = _world(12)
    plan = CampaignPlan("organic_share", T0, (world.people[0].name,), {"accounts": 80, "hours": 10})
    truth = organic_share(world, plan, "c2")
    assert not truth.should_flag and len(truth.observation_ids) == 80
    result = run_stream(configure(DETECTOR, {}), world.observations)
    assert result.findings == ()


def test_one_account_repeating_itself_is_not_flagged() -> None:
    batch = [_post(i, STATEMENT_KK, "the_same_account", i) for i in range(30)]
    result = DETECTOR.detect(batch, DETECTOR.spec.parse_config({}), {})
    assert result.findings == ()


def test_a_campaign_split_across_batches_keeps_one_key_and_grows() -> None:
    rng = random.Random(3)
    with_phone = STATEMENT_KK + " Тел: +7 701 123 45 67"
    posts = [_post(i, edited_copy(rng, with_phone), f"bot{i}", 3 * i) for i in range(12)]
    c = configure(DETECTOR, {"min_accounts": 5})
    state: State = {}
    first = run_one(c, posts[:3], state)  # three accounts: not yet a campaign
    assert first.findings == ()
    second = run_one(c, posts[3:7], state)  # seven in all across two batches
    third = run_one(c, posts[7:], state)
    assert len(second.findings) == len(third.findings) == 1
    assert second.findings[0].key == third.findings[0].key
    assert set(second.findings[0].observation_ids) == {p.id for p in posts[:7]}
    assert set(third.findings[0].observation_ids) == {p.id for p in posts[7:]}
    assert third.findings[0].details["account_count"] == 12
    json.dumps(state)  # state is JSON by contract
    kept = state["texts"]["posts"]
    assert all("701" not in p["fold"] and "701" not in p["snippet"] for p in kept)


def test_state_is_bounded_by_the_history_limit_and_horizon() -> None:
    config = DETECTOR.spec.parse_config(
        {"history_limit": 100, "window_minutes": 30, "history_hours": 1}
    )
    state: State = {}
    rng = random.Random(1)
    words = [f"w{i}" for i in range(500)]
    batch = [_post(i, " ".join(rng.choices(words, k=15)), f"u{i}", i * 0.1) for i in range(300)]
    DETECTOR.detect(batch, config, state)
    assert len(state["texts"]["posts"]) == 100
    later = [_post(1000, " ".join(rng.choices(words, k=15)), "u", 24 * 60)]
    DETECTOR.detect(later, config, state)
    assert [p["id"] for p in state["texts"]["posts"]] == [later[0].id]


def test_texts_shown_in_findings_hide_phone_numbers_and_emails() -> None:
    shown = redact("Звоните +7 701 123 45 67 или пишите editor@example.kz")
    assert "701" not in shown and "editor@" not in shown
    assert shown == "Звоните [number] или пишите [e-mail]"


def test_an_observation_without_a_time_zone_is_a_failure_not_a_crash() -> None:
    naive = Observation(
        id="x:1", source="x", platform="x", time=datetime(2025, 1, 1), text=STATEMENT_KK
    )
    result = DETECTOR.detect([naive], DETECTOR.spec.parse_config({}), {})
    assert [f.observation_id for f in result.failures] == ["x:1"]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"min_accounts": 1}, "min_accounts"),
        ({"window_minutes": "two hours"}, "window_minutes"),
        ({"similarity": 1.5}, "similarity"),
        ({"similarity": "guess"}, "similarity"),
        ({"kinds": ["tweet"]}, "kinds"),
        ({"min_score": True}, "min_score"),
        ({"windw_minutes": 60}, "windw_minutes"),
    ],
)
def test_a_bad_config_is_refused_naming_the_field(raw: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        DETECTOR.spec.parse_config(raw)
    assert refused.value.problems[0].field == field
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(raw, DETECTOR.spec.config_schema)


def test_the_desk_registries_are_accepted_and_ignored() -> None:
    raw = {
        **WATCHLIST,
        "registry": [{"name": "Ministry"}],
        "media": {"outlets": []},
        "similarity": 0.7,
    }
    jsonschema.validate(raw, DETECTOR.spec.config_schema)
    config = DETECTOR.spec.parse_config(raw)
    assert config.settings.similarity == 0.7
