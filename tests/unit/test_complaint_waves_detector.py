"""The complaint-wave detector: one masked finding per protected target and batch, under a key
that stays the same as the wave grows; thresholds and configuration checked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest

from qorgau.detect.detectors.complaint_waves import DETECTOR, ComplaintWaveConfig
from qorgau.detect.model import Observation
from qorgau.errors import InvalidInput

T0 = datetime(2025, 5, 1, 8, 0, tzinfo=UTC)
PEOPLE: list[dict[str, Any]] = [
    {"name": "Orda.kz", "group": "Orda", "handles": ["orda_kz"], "phones": ["+77011234567"]},
    {"name": "Reporter", "group": "Vlast", "handles": ["rep_vlast"]},
]


@pytest.fixture(scope="module")
def config() -> ComplaintWaveConfig:
    return DETECTOR.spec.parse_config({"people": PEOPLE, "registry": [], "media": {"x": 1}})


def ob(n: int, text: str, account: str | None = None) -> Observation:
    return Observation(
        id=f"vk:{n}",
        source="vk",
        platform="vk",
        time=T0 + timedelta(minutes=n),
        account=account or f"user{n}",
        text=text,
    )


def test_a_wave_becomes_one_finding(config: ComplaintWaveConfig) -> None:
    batch = [
        ob(1, "Жалуйтесь на @orda_kz"),
        ob(2, "шағым түсіріңдер @orda_kz"),
        ob(3, "Mass report orda.kz"),
        ob(4, "Hello world"),
        ob(5, "Жалуйтесь на @rep_vlast"),
    ]
    result = DETECTOR.detect(batch, config, {})
    (finding,) = result.findings
    assert finding.key == "complaint-waves:orda-kz"
    assert finding.attack_type == "mass_complaints" and finding.severity == "medium"
    assert finding.observation_ids == ("vk:1", "vk:2", "vk:3")
    assert finding.subjects == ("Orda.kz",)
    assert finding.details["languages"] == ["en", "kk", "ru"]
    assert finding.details["calls_naming_handle"] == 2
    assert "orda_kz" not in finding.title + finding.explanation
    assert finding.at == T0 + timedelta(minutes=1)
    later = DETECTOR.detect(
        [ob(100 + i, "Кидайте репорты на @orda_kz") for i in range(3)], config, {}
    )
    assert later.findings[0].key == finding.key


def test_one_account_repeating_itself_is_not_a_wave(config: ComplaintWaveConfig) -> None:
    batch = [ob(i, "Жалуйтесь на @orda_kz", account="same") for i in range(5)]
    assert DETECTOR.detect(batch, config, {}).findings == ()
    lenient = DETECTOR.spec.parse_config({"people": PEOPLE, "min_accounts": 1})
    assert len(DETECTOR.detect(batch, lenient, {}).findings) == 1


def test_a_large_wave_is_high(config: ComplaintWaveConfig) -> None:
    batch = [ob(i, "Mass report @orda_kz") for i in range(12)]
    assert DETECTOR.detect(batch, config, {}).findings[0].severity == "high"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"people": PEOPLE, "min_calls": 0}, "min_calls"),
        ({"people": PEOPLE, "min_accounts": True}, "min_accounts"),
        ({"people": PEOPLE, "max_gap_hours": -1}, "max_gap_hours"),
        ({"people": PEOPLE, "colour": "red"}, "colour"),
        ({}, "people"),
    ],
)
def test_bad_configurations_are_refused_by_schema_and_parser(
    raw: dict[str, Any], field: str
) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(raw, DETECTOR.spec.config_schema)
    with pytest.raises(InvalidInput) as refused:
        DETECTOR.spec.parse_config(raw)
    assert refused.value.problems[0].field == field


def test_good_configuration_passes_the_schema() -> None:
    raw = {"people": PEOPLE, "registry": [], "min_calls": 2, "max_gap_hours": 1.5}
    jsonschema.Draft202012Validator.check_schema(DETECTOR.spec.config_schema)
    jsonschema.validate(raw, DETECTOR.spec.config_schema)
    assert DETECTOR.spec.parse_config(raw).max_gap == timedelta(hours=1.5)


def test_a_wave_arriving_one_post_per_batch_is_found_once_it_is_big_enough(
    config: ComplaintWaveConfig,
) -> None:
    """A live feed brings calls one at a time; the wave is the same wave."""
    from qorgau.detect.interfaces import State
    from qorgau.detect.pipeline import Configured, run_one

    configured = Configured(DETECTOR, config)
    state: State = {}
    reported = []
    for i in range(6):
        result = run_one(configured, [ob(i, "Кидайте репорты на @orda_kz")], state)
        reported.append([f.observation_ids for f in result.findings])
    assert reported[:2] == [[], []], "two calls are not yet a wave (min_calls is 3)"
    assert reported[2] == [("vk:0", "vk:1", "vk:2")]
    assert reported[5] == [tuple(f"vk:{i}" for i in range(6))]
    quiet = run_one(configured, [ob(7000, "Hello world")], state)
    assert quiet.findings == ()
    much_later = run_one(configured, [ob(6000, "Кидайте репорты на @orda_kz")], state)
    assert much_later.findings == (), "a lone call after days of silence is not a wave"
