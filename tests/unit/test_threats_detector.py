"""The threats detector: threats aimed at protected people become findings at once, abuse only
as a wave, criticism never; incidents grow across batches under one key; nothing a finding
says repeats the post or the person's handle."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest

from qorgau.detect.detectors.threats import DETECTOR, ThreatConfig, partition_key, targets
from qorgau.detect.model import Observation
from qorgau.errors import InvalidInput

T0 = datetime(2025, 6, 2, 10, 0, tzinfo=UTC)
PEOPLE: list[dict[str, Any]] = [
    {"name": "Zhanna Iskakova", "group": "Orda", "handles": ["zhanna_iskakova"]},
    {"name": "Aliya Tulegenova", "group": "Orda", "handles": ["aliya_t"]},
    {"name": "Saule Tulegenova", "group": "Orda"},
    {"name": "Serik Tulegenov", "group": "Dala Times"},
]


def _config(**settings: Any) -> ThreatConfig:
    return DETECTOR.spec.parse_config({"people": PEOPLE, **settings})


def _obs(i: int, text: str, minutes: float = 0, account: str = "", **kw: Any) -> Observation:
    return Observation(
        id=f"vk:{i}",
        source="vk",
        platform="vk",
        time=T0 + timedelta(minutes=minutes),
        kind="comment",
        account=account or f"troll{i}",
        text=text,
        **kw,
    )


def _names(obs: Observation, config: ThreatConfig) -> list[str]:
    return [config.people[i].name for i in targets(obs, config)]


# --- configuration ---------------------------------------------------------------------------


def test_configuration_accepts_the_shared_keys_and_agrees_with_its_schema() -> None:
    raw = {"people": PEOPLE, "registry": {"x": 1}, "media": [], "wave_min_posts": 3}
    jsonschema.Draft202012Validator.check_schema(DETECTOR.spec.config_schema)
    jsonschema.validate(raw, DETECTOR.spec.config_schema)
    config = DETECTOR.spec.parse_config(raw)
    assert config.wave_min_posts == 3 and len(config.people) == 4


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"people": PEOPLE, "wave_size": 3}, "wave_size"),
        ({"people": PEOPLE, "threat_threshold": 1.5}, "threat_threshold"),
        ({"people": PEOPLE, "wave_min_posts": 1}, "wave_min_posts"),
        ({"people": PEOPLE, "wave_window_seconds": True}, "wave_window_seconds"),
        ({"wave_min_posts": 3}, "people"),
        ({"people": [{"name": "Editor", "handles": "not a list"}]}, "people[0].handles"),
    ],
)
def test_a_bad_setting_is_refused_naming_the_field(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(raw, DETECTOR.spec.config_schema)
    with pytest.raises(InvalidInput) as refused:
        DETECTOR.spec.parse_config(raw)
    assert refused.value.problems[0].field == field


# --- who a post is aimed at ------------------------------------------------------------------


def test_a_latin_watchlist_name_is_found_inflected_in_cyrillic() -> None:
    config = _config()
    assert _names(_obs(1, "Искаковой передайте привет"), config) == ["Zhanna Iskakova"]
    assert _names(_obs(2, "Iskakova again"), config) == ["Zhanna Iskakova"]


def test_a_given_name_settles_which_relative_is_meant() -> None:
    config = _config()
    assert _names(_obs(1, "Алия Тулегенова опять пишет"), config) == ["Aliya Tulegenova"]
    assert _names(_obs(2, "Серік Тулегенов жазды"), config) == ["Serik Tulegenov"]
    # Only the surname: every Tulegenov(a) may be meant.
    assert len(_names(_obs(3, "Тулегеновой привет"), config)) == 3


def test_replies_mentions_and_the_outlet_name_aim_a_post() -> None:
    config = _config()
    assert _names(_obs(1, "ну и бред", recipients=("@Aliya_T",)), config) == ["Aliya Tulegenova"]
    assert _names(_obs(2, "ну и бред", extra={"reply_to": "zhanna_iskakova"}), config) == [
        "Zhanna Iskakova"
    ]
    assert _names(_obs(3, "@zhanna_iskakova ну и бред"), config) == ["Zhanna Iskakova"]
    assert _names(_obs(4, "Вся редакция Орды продажная"), config) == [
        "Zhanna Iskakova",
        "Aliya Tulegenova",
        "Saule Tulegenova",
    ]
    nobody = _obs(5, "Убью тебя, сосед")
    assert _names(nobody, config) == [] and partition_key(nobody, config) is None


# --- threats ---------------------------------------------------------------------------------


def test_a_death_threat_to_a_protected_person_is_critical_and_explained_without_the_post() -> None:
    config = _config()
    post = _obs(1, "@zhanna_iskakova мы знаем где ты живешь, у6ьем", account="nick_1")
    result = DETECTOR.detect([post], config, {})
    assert result.failures == ()
    (finding,) = result.findings
    assert finding.attack_type == "threats" and finding.severity == "critical"
    assert finding.subjects == ("Zhanna Iskakova",)
    assert finding.observation_ids == ("vk:1",)
    assert finding.key == "threat:Zhanna Iskakova:2025-06-02T10:00Z"
    text = finding.title + finding.explanation + json.dumps(dict(finding.details))
    assert "zhanna_iskakova" not in text and "nick_1" not in text
    assert "знаем где ты живешь" in finding.explanation
    assert {c["category"] for c in finding.details["posts"][0]["cues"]} == {"veiled", "life"}


def test_a_threat_to_property_is_high_and_digits_in_the_cue_are_masked() -> None:
    config = _config()
    posts = [
        _obs(1, "Aliya Tulegenova, we'll burn your car tonight"),
        _obs(2, "Алия Тулегенова, твои дети ходят в школу № 12, подумай", minutes=3),
    ]
    (finding,) = DETECTOR.detect(posts, config, {}).findings
    assert finding.severity == "high"
    assert finding.observation_ids == ("vk:1", "vk:2")
    assert "12" not in json.dumps(dict(finding.details)) and "##" in finding.explanation


def test_criticism_and_neutral_posts_aimed_at_a_person_are_never_reported() -> None:
    config = _config(wave_min_posts=2, wave_min_accounts=1)
    posts = [
        _obs(i, text, minutes=i)
        for i, text in enumerate(
            [
                "@zhanna_iskakova your article is lies, I will sue you",
                "Искакова должна уйти в отставку, статья полна лжи",
                "Искакова, подам на вас в суд за клевету",
                "Zhanna Iskakova, I'll report this to the press council",
                "Искаковой спасибо за материал",
            ]
        )
    ]
    state: dict[str, Any] = {}
    assert DETECTOR.detect(posts, config, state).findings == ()


def test_later_threats_grow_the_same_incident_and_a_long_silence_opens_a_new_one() -> None:
    config = _config(campaign_gap_seconds=86400)
    state: dict[str, Any] = {}
    first = DETECTOR.detect([_obs(1, "Искакова, тебе конец")], config, state).findings
    state = json.loads(json.dumps(state))  # as the pipeline stores it
    second = DETECTOR.detect([_obs(2, "Искакова, закопаем", minutes=300)], config, state)
    state = json.loads(json.dumps(state))
    later = DETECTOR.detect([_obs(3, "Искакова, закопаем", minutes=3 * 1440)], config, state)
    assert first[0].key == second.findings[0].key
    assert second.findings[0].observation_ids == ("vk:2",)
    assert later.findings[0].key != first[0].key


def test_a_lower_configured_bar_reports_more_threats() -> None:
    post = _obs(1, "Искакова, ты пожалеешь об этой статье")
    strict = DETECTOR.detect([post], _config(threat_threshold=0.95), {}).findings
    lenient = DETECTOR.detect([post], _config(threat_threshold=0.2), {}).findings
    assert [f.attack_type for f in lenient] == ["threats"]
    assert all(f.attack_type != "threats" for f in strict)


# --- waves of abuse --------------------------------------------------------------------------

INSULTS = [
    "Искакова тупая тварь",
    "Искакова дура набитая",
    "Iskakova is a stupid bitch",
    "Искакова мразь продажная",
    "Искакова, ты ублюдок",
    "Искакова идиотка",
]


def test_one_insult_is_not_an_incident_but_a_wave_is() -> None:
    config = _config(wave_min_posts=5, wave_min_accounts=2)
    assert DETECTOR.detect([_obs(0, INSULTS[0])], config, {}).findings == ()
    posts = [_obs(i, text, minutes=10 * i, account=f"a{i % 3}") for i, text in enumerate(INSULTS)]
    (wave,) = DETECTOR.detect(posts, config, {}).findings
    assert wave.attack_type == "harassment_campaign" and wave.severity == "medium"
    assert wave.subjects == ("Zhanna Iskakova",)
    assert wave.observation_ids == tuple(f"vk:{i}" for i in range(6))
    assert wave.key == "abuse-wave:Zhanna Iskakova:2025-06-02T10:00Z"


def test_a_wave_builds_across_batches_and_keeps_its_key() -> None:
    config = _config(wave_min_posts=5, wave_min_accounts=2)
    posts = [_obs(i, text, minutes=10 * i, account=f"a{i % 3}") for i, text in enumerate(INSULTS)]
    state: dict[str, Any] = {}
    assert DETECTOR.detect(posts[:3], config, state).findings == ()
    state = json.loads(json.dumps(state))
    (opened,) = DETECTOR.detect(posts[3:5], config, state).findings
    assert opened.observation_ids == tuple(f"vk:{i}" for i in range(5))
    state = json.loads(json.dumps(state))
    (grown,) = DETECTOR.detect(posts[5:], config, state).findings
    assert grown.key == opened.key and grown.observation_ids == ("vk:5",)


def test_posts_spread_beyond_the_window_or_from_one_account_make_no_wave() -> None:
    spread = [_obs(i, t, minutes=600 * i, account=f"a{i}") for i, t in enumerate(INSULTS)]
    one_account = [_obs(i, t, minutes=i, account="same") for i, t in enumerate(INSULTS)]
    config = _config(wave_min_posts=5, wave_min_accounts=2, wave_window_seconds=3600)
    assert DETECTOR.detect(spread, config, {}).findings == ()
    assert DETECTOR.detect(one_account, config, {}).findings == ()


def test_a_post_without_a_time_zone_is_a_failure_not_a_crash() -> None:
    post = Observation(
        id="vk:9",
        source="vk",
        platform="vk",
        time=datetime(2025, 6, 2, 10, 0),  # no time zone: the point of the test
        text="Искакова, тебе конец",
    )
    result = DETECTOR.detect([post], _config(), {})
    assert result.findings == ()
    assert [f.observation_id for f in result.failures] == ["vk:9"]
    assert "time zone" in result.failures[0].error
