"""The leaked-identifier detector: one worded, masked finding per campaign group and batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from qorgau.detect import identifier_digits
from qorgau.detect.detectors.leaked_identifiers import DETECTOR, LeakConfig
from qorgau.detect.model import Observation
from qorgau.detect.watchlist import iin_check_digit
from qorgau.errors import InvalidInput

T0 = datetime(2025, 3, 1, 18, 0, tzinfo=UTC)
IIN = "90010130012" + str(iin_check_digit("90010130012"))
PEOPLE: list[dict[str, Any]] = [
    {"name": "Editor", "group": "Orda", "phones": ["+7 701 123 45 67"], "iins": [IIN]},
    {"name": "Owner", "group": "Orda", "phones": ["+77051112233"]},
    {"name": "Reporter", "group": "Other outlet", "addresses": ["ул. Абая 150, кв. 12"]},
]


@pytest.fixture(scope="module")
def config() -> LeakConfig:
    return DETECTOR.spec.parse_config({"people": PEOPLE})


def ob(n: int, text: str, kind: str = "ad", platform: str = "olx.kz", **kw: Any) -> Observation:
    return Observation(
        id=f"src:{n}",
        source="src",
        platform=platform,
        time=T0 + timedelta(minutes=n),
        kind=kind,
        text=text,
        **kw,
    )


def test_spec() -> None:
    spec = DETECTOR.spec
    assert spec.name == "leaked_identifiers"
    assert spec.attack_types == ("doxxing", "phone_flooding")
    assert spec.partition_key is None and not spec.stateful
    assert spec.config_schema["properties"]["people"]["type"] == "array"


def test_an_invalid_iin_refuses_the_configuration() -> None:
    bad = IIN[:11] + str((int(IIN[11]) + 1) % 10)
    with pytest.raises(InvalidInput) as exc:
        DETECTOR.spec.parse_config({"people": [{"name": "A", "iins": [bad]}]})
    assert exc.value.problems[0].field == "people[0].iins[0]"


def test_unknown_kinds_are_refused() -> None:
    with pytest.raises(InvalidInput):
        DETECTOR.spec.parse_config({"people": PEOPLE, "kinds": ["phone", "shoe size"]})


def test_phones_planted_in_ads_are_one_phone_flooding_finding(config: LeakConfig) -> None:
    batch = [
        ob(1, "Продам диван недорого, звоните 8 (701) 123-45-67"),
        ob(2, "Ищу няню. 701 звоните 123 45 67", platform="krisha.kz"),
        ob(3, "Кот потерялся", kind="post"),
        ob(4, "Сдаю квартиру +7 705 111 22 33, +7 7О1 l23 45 67"),
    ]
    result = DETECTOR.detect(batch, config, {})
    assert result.failures == ()
    (finding,) = result.findings
    assert finding.key == "leaked-identifier:Orda"
    assert finding.observation_ids == ("src:1", "src:2", "src:4")
    assert finding.subjects == ("Editor", "Owner")
    assert finding.attack_type == "phone_flooding"
    assert finding.severity == "high"
    assert finding.at == T0 + timedelta(minutes=1)
    assert "+7 701 *** ** 67" in finding.explanation
    assert "krisha.kz" in finding.explanation and "olx.kz" in finding.explanation
    for text in (finding.title, finding.explanation):
        assert "1234567" not in text.replace(" ", "").replace("-", "")
        assert "1112233" not in text.replace(" ", "")
    matches = finding.details["matches"]
    assert {(m["observation_id"], m["person"]) for m in matches} == {
        ("src:1", "Editor"),
        ("src:2", "Editor"),
        ("src:4", "Owner"),
        ("src:4", "Editor"),
    }
    first = next(m for m in matches if m["observation_id"] == "src:1")
    assert batch[0].text[first["start"] : first["end"]] == "8 (701) 123-45-67"
    assert first["masked"] == "+7 701 *** ** 67" and first["kind"] == "phone"


def test_a_phone_in_posts_is_doxxing_left_to_triage(config: LeakConfig) -> None:
    (finding,) = DETECTOR.detect(
        [ob(1, "Его номер 87011234567, звоните ему", kind="post")], config, {}
    ).findings
    assert finding.attack_type == "doxxing"
    assert finding.severity is None


def test_an_address_or_iin_is_critical(config: LeakConfig) -> None:
    batch = [
        ob(1, "Живёт тут: ул. Абая, д. 150, кв. 12", kind="post", platform="telegram"),
        ob(2, f"ИИН редактора {IIN[:6]} {IIN[6:]}", kind="post", platform="telegram"),
    ]
    findings = {f.key: f for f in DETECTOR.detect(batch, config, {}).findings}
    assert set(findings) == {"leaked-identifier:Other outlet", "leaked-identifier:Orda"}
    address = findings["leaked-identifier:Other outlet"]
    assert address.severity == "critical" and address.attack_type == "doxxing"
    assert "home address" in address.explanation and "150" not in address.explanation
    iin = findings["leaked-identifier:Orda"]
    assert iin.severity == "critical" and IIN not in iin.explanation and "IIN" in iin.title


def test_one_digit_off_numbers_make_no_finding(config: LeakConfig) -> None:
    batch = [ob(1, "Звоните 8 (701) 123-45-68"), ob(2, "+7 701 123 45 678")]
    assert DETECTOR.detect(batch, config, {}).findings == ()


def test_numbers_already_extracted_by_the_source_count_too(config: LeakConfig) -> None:
    (finding,) = DETECTOR.detect(
        [ob(1, "Диван, самовывоз", phones=("+77011234567",))], config, {}
    ).findings
    assert finding.details["matches"][0]["start"] == -1


def test_a_text_that_breaks_the_matcher_is_a_failure_and_the_rest_go_on(
    config: LeakConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = identifier_digits.occurrences

    def fragile(read: Any, text: str, key: Any) -> list[tuple[int, int]]:
        if "BOOM" in text:
            raise RuntimeError("cannot read this one")
        return real(read, text, key)

    monkeypatch.setattr(identifier_digits, "occurrences", fragile)
    result = DETECTOR.detect([ob(1, "BOOM 87011234567"), ob(2, "звоните 87011234567")], config, {})
    assert [(f.observation_id, "cannot read" in f.error) for f in result.failures] == [
        ("src:1", True)
    ]
    (finding,) = result.findings
    assert finding.observation_ids == ("src:2",)


def test_only_the_configured_kinds_are_reported() -> None:
    config = DETECTOR.spec.parse_config({"people": PEOPLE, "kinds": ["address"]})
    assert DETECTOR.detect([ob(1, "87011234567")], config, {}).findings == ()


def test_an_empty_batch_finds_nothing(config: LeakConfig) -> None:
    result = DETECTOR.detect([], config, {})
    assert result.findings == () and result.failures == ()
