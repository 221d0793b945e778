from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from qorgau.domain.taxonomy import LANGUAGES, load_taxonomy
from qorgau.errors import ConfigurationError, InvalidInput
from qorgau.reports.model import SharedIncident, Tlp
from qorgau.reports.schemes import (
    SCHEME_IDS,
    check_disarm,
    coe_categories,
    coe_threat_level,
    column_labels,
    disarm_label,
    load_schemes,
    mmf_fields,
    scheme_labels,
    tracker_rows,
)

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _incident(**changes: object) -> SharedIncident:
    base = SharedIncident(
        public_id="QRG-2026-0001",
        uuid="6f1c2d3e-0000-4000-8000-000000000001",
        title="Deepfake video of an Almaty journalist",
        summary="A fabricated video circulated on Telegram.",
        started_at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
        reported_at=datetime(2026, 3, 3, 9, 0, tzinfo=UTC),
        updated_at=datetime(2026, 3, 4, 9, 0, tzinfo=UTC),
        attack_types=("deepfake",),
        category="safety",
        platform="telegram",
        region="almaty_city",
        perpetrator_type="unknown",
        severity="high",
        status="triaged",
        legal_outcome="not_reported",
        tlp=Tlp.CLEAR,
        source_urls=("https://example.org/a", "https://example.org/b"),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize("scheme", SCHEME_IDS)
def test_every_attack_type_of_the_shipped_taxonomy_is_mapped(scheme: str) -> None:
    mapped = load_schemes().scheme(scheme).attack_map
    attack_types = load_taxonomy().ids("attack_type", include_retired=True)
    unmapped = [a for a in attack_types if not mapped.get(a)]
    assert unmapped == []


@pytest.mark.parametrize("scheme", SCHEME_IDS)
def test_every_perpetrator_type_has_a_source(scheme: str) -> None:
    source_map = load_schemes().scheme(scheme).source_map
    assert set(load_taxonomy().ids("perpetrator_type", include_retired=True)) <= set(source_map)


def test_everything_a_person_reads_has_three_languages() -> None:
    schemes = load_schemes()
    labelled = [schemes.country, *schemes.columns.values()]
    for scheme in schemes.schemes.values():
        assert all(scheme.labels[lang] for lang in LANGUAGES)
        assert scheme.source_url.startswith("https://")
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", scheme.checked)
        for section in scheme.sections.values():
            labelled.extend(section.values())
    labelled.extend(schemes.disarm.tactics.values())
    for item in [*labelled, *schemes.disarm.techniques.values()]:
        assert all(item.labels[lang].strip() for lang in LANGUAGES), item.id
    # Kazakh labels are not English copies (a few technical terms may coincide).
    techniques = schemes.disarm.techniques.values()
    assert sum(t.labels["kk"] != t.labels["en"] for t in techniques) >= len(techniques) - 2


def test_unverified_entries_explain_what_is_unsure() -> None:
    for scheme in load_schemes().schemes.values():
        for section in scheme.sections.values():
            for entry in section.values():
                assert entry.verified or entry.note, (scheme.id, entry.id)


def test_disarm_list_is_well_formed_and_sized() -> None:
    disarm = load_schemes().disarm
    assert disarm.version == "1.6"
    ids = list(disarm.techniques)
    assert 20 <= len(ids) <= 40
    assert len(set(ids)) == len(ids)
    for technique in disarm.techniques.values():
        assert re.fullmatch(r"T\d{4}(\.\d{3})?", technique.id)
        assert technique.tactic in disarm.tactics
    assert disarm.techniques["T0086.002"].labels["en"] == "Develop AI-Generated Images (Deepfakes)"
    assert disarm.techniques["T0048.004"].tactic == "TA18"


def test_check_disarm_normalises_and_deduplicates() -> None:
    assert check_disarm([" t0086.002", "T0086.002", "t0048.004"]) == ("T0086.002", "T0048.004")
    assert check_disarm([]) == ()


def test_check_disarm_refuses_unknown_ids_with_examples() -> None:
    with pytest.raises(InvalidInput) as exc:
        check_disarm(["T0048", "T9999.999"], "disarm")
    problem = exc.value.problems[0]
    assert problem.field == "disarm[1]"
    assert problem.rule == "disarm"
    assert "T0048" in problem.allowed
    assert re.search(r"T\d{4}", problem.message)


def test_disarm_label_in_each_language() -> None:
    assert disarm_label("t0048.004", "en") == "T0048.004 Dox"
    assert disarm_label("T0086.002", "kk").startswith("T0086.002 Жасанды интеллект")
    with pytest.raises(InvalidInput):
        disarm_label("T0048", "de")


def test_killing_without_conviction_becomes_impunity_only_after_the_period() -> None:
    period = load_schemes().coe_rules.impunity_after
    killed = datetime(2025, 1, 10, tzinfo=UTC)
    killing = _incident(attack_types=("killing",), started_at=killed, severity="critical")

    before = coe_categories(killing, now=killed + period - timedelta(days=1))
    after = coe_categories(killing, now=killed + period + timedelta(days=1))
    convicted = coe_categories(
        replace(killing, legal_outcome="conviction"), now=killed + period + timedelta(days=1)
    )

    assert before == ("physical_safety",)
    assert after == ("physical_safety", "impunity")
    assert convicted == ("physical_safety",)


def test_online_harassment_never_becomes_impunity() -> None:
    old = _incident(
        attack_types=("harassment_campaign",), started_at=datetime(2015, 1, 1, tzinfo=UTC)
    )
    assert coe_categories(old, now=NOW) == ("harassment",)


def test_threat_level_follows_attack_type_and_severity() -> None:
    assert coe_threat_level(_incident(attack_types=("killing",))) == "level_1"
    assert coe_threat_level(_incident(attack_types=("detention",))) == "level_1"
    assert coe_threat_level(_incident(severity="critical")) == "level_1"
    assert coe_threat_level(_incident()) == "level_2"


@pytest.mark.parametrize("attack", ["deepfake", "fake_statement"])
def test_fakes_map_to_mmf_discrediting_verbal_attack(attack: str) -> None:
    fields = mmf_fields(_incident(attack_types=(attack,), perpetrator_type="non_state"))
    assert fields["type_of_incident"] == ["discrediting", "verbal_attack"]
    assert fields["source_of_incident"] == "private_individuals"
    assert fields["context_of_incident"] == "online_digital"


def test_mmf_lists_each_type_with_its_parent_once_and_no_context_offline() -> None:
    fields = mmf_fields(
        _incident(attack_types=("ddos", "account_takeover", "threats"), platform="offline")
    )
    assert fields["type_of_incident"] == [
        "intimidation_threatening",
        "verbal_attack",
        "hacking_ddos",
        "attack_to_property",
    ]
    assert "context_of_incident" not in fields


def test_tracker_rows_in_kazakh_carry_kazakh_labels() -> None:
    incident = _incident(attack_types=("deepfake", "threats"))
    (coe_row,) = tracker_rows([incident], "coe", "kk", now=NOW)
    assert coe_row["country"] == "Қазақстан"
    assert coe_row["category"] == "Журналистерді қудалау және қорқыту"
    assert coe_row["date"] == "2026-03-02"
    assert coe_row["title"] == incident.title
    assert coe_row["sources"] == "https://example.org/a\nhttps://example.org/b"
    assert coe_row["threat_level"].startswith("2-деңгей")

    (mmf_row,) = tracker_rows([incident], "mmf", "kk", now=NOW)
    assert mmf_row["type_of_incident"] == "Қорқыту/қоқан-лоқы | Ауызша шабуыл | Беделін түсіру"
    assert mmf_row["context_of_incident"] == "Онлайн/цифрлық орта"
    # "Discrediting" could not be confirmed on MapMF: the submitter is told to check it.
    assert mmf_row["to_check"] == "Беделін түсіру"
    assert set(mmf_row) <= set(column_labels("kk"))
    assert set(coe_row) <= set(column_labels("kk"))


def test_tracker_rows_refuse_unknown_scheme_and_language() -> None:
    with pytest.raises(InvalidInput) as exc:
        tracker_rows([_incident()], "rsf", "en", now=NOW)
    assert exc.value.problems[0].allowed == SCHEME_IDS
    with pytest.raises(InvalidInput):
        tracker_rows([_incident()], "coe", "fr", now=NOW)


def test_scheme_labels_cover_the_vocabulary() -> None:
    coe = scheme_labels("coe", "ru")
    assert coe["impunity"] == "Безнаказанность"
    assert len(coe) == 5
    assert scheme_labels("mmf", "en")["hacking_ddos"] == "Hacking/DDoS"


def test_an_attack_type_missing_from_the_file_fails_loudly() -> None:
    with pytest.raises(ConfigurationError, match="no entry for attack type 'alien'"):
        coe_categories(_incident(attack_types=("alien",)), now=NOW)


def _shipped_text() -> str:
    return (
        Path(__file__).parents[2] / "src" / "qorgau" / "reports" / "data" / "schemes.toml"
    ).read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: s + "\n[[[broken", "not valid TOML"),
        (lambda s: s.replace('killing = ["killing"]', 'killing = ["murder"]'), "unknown type"),
        (lambda s: s.replace('kk = "Жазасыз қалу"\n', ""), "'impunity' lacks labels"),
        (lambda s: s.replace('parent = "censorship"', 'parent = "nothing"', 1), "unknown parent"),
    ],
)
def test_broken_schemes_file_names_the_file_and_entry(
    tmp_path: Path, change: object, message: str
) -> None:
    broken = tmp_path / "broken-schemes.toml"
    assert callable(change)
    broken.write_text(change(_shipped_text()), encoding="utf-8")
    with pytest.raises(ConfigurationError, match=message) as exc:
        load_schemes(str(broken))
    assert str(broken) in str(exc.value)


def test_broken_disarm_file_names_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "disarm.toml"
    broken.write_text(
        'framework = "x"\nversion = "1"\nsource_url = "u"\n'
        '[[tactic]]\nid = "TA18"\nen = "E"\nru = "Р"\nkk = "Қ"\n'
        '[[technique]]\nid = "T48"\ntactic = "TA18"\nen = "E"\nru = "Р"\nkk = "Қ"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigurationError, match=r"not like 'T0086\.002'") as exc:
        load_schemes(disarm_path=str(broken))
    assert str(broken) in str(exc.value)
