"""The look-alike and fake-statement detectors over the Orda.kz case."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest

from qorgau.detect.detectors import fake_statements, lookalikes
from qorgau.detect.model import Finding, Observation
from qorgau.errors import InvalidInput

T0 = datetime(2025, 3, 2, 10, 0, tzinfo=UTC)
STATEMENT = "Редакция Orda.kz продолжает работу в штатном режиме, несмотря на блокировку сайта"
REGISTRY: dict[str, Any] = {
    "entities": [
        {
            "id": "orda",
            "kind": "outlet",
            "name": "Orda.kz",
            "names": {"ru": ["Орда"], "en": ["Orda"]},
            "accounts": {"telegram": ["ordakz"], "instagram": ["orda.kz"]},
            "domains": ["orda.kz"],
            "statements": [{"text": STATEMENT, "url": "https://orda.kz/statement-1"}],
        },
        {
            "id": "editor",
            "kind": "person",
            "name": "Gulnara Bazhkenova",
            "outlet": "orda",
            "names": {"ru": ["Гульнара Бажкенова"], "kk": ["Гүлнар Бажкенова"]},
            "accounts": {"telegram": ["gbazhkenova"]},
        },
        {
            "id": "pm",
            "kind": "person",
            "name": "Olzhas Bektenov",
            "names": {"ru": ["Олжас Бектенов"]},
        },
        # Conflicts with Orda.kz: claims its Telegram channel. Skipped, the rest kept.
        {
            "id": "impostor",
            "kind": "outlet",
            "name": "Orda News",
            "accounts": {"telegram": ["ordakz"]},
            "domains": ["orda-news.kz"],
        },
    ]
}
CONFIG: dict[str, Any] = {"registry": REGISTRY, "people": [{"name": "Editor"}], "media": {}}


def ob(
    n: int, text: str = "", account: str = "reader", platform: str = "telegram", **kw: Any
) -> Observation:
    return Observation(
        id=f"tg:{n}",
        source="tg",
        platform=platform,
        time=T0 + timedelta(minutes=n),
        account=account,
        text=text,
        **kw,
    )


def run_lookalikes(batch: list[Observation]) -> dict[str, Finding]:
    config = lookalikes.DETECTOR.spec.parse_config(CONFIG)
    result = lookalikes.DETECTOR.detect(batch, config, {})
    assert result.failures == ()
    return {f.key: f for f in result.findings}


def run_fakes(batch: list[Observation]) -> dict[str, Finding]:
    config = fake_statements.DETECTOR.spec.parse_config(CONFIG)
    result = fake_statements.DETECTOR.detect(batch, config, {})
    return {f.key: f for f in result.findings}


# --- look-alikes ------------------------------------------------------------------------------


def test_the_three_issue_examples_are_flagged_one_finding_each() -> None:
    found = run_lookalikes(
        [
            ob(1, "Официально: 0rda.kz"),
            ob(2, "Читайте", urls=("https://orda-kz.com/2025/03/02/news",)),
            ob(3, "Зеркало: orda.kz.example.ru/news"),
            ob(4, "Ещё раз: https://0rda.kz/other"),
        ]
    )
    assert set(found) == {
        "lookalike:domain:0rda.kz",
        "lookalike:domain:orda-kz.com",
        "lookalike:domain:orda.kz.example.ru",
    }
    homoglyph = found["lookalike:domain:0rda.kz"]
    assert homoglyph.observation_ids == ("tg:1", "tg:4")
    assert homoglyph.attack_type == "fake_statement" and homoglyph.severity == "high"
    assert homoglyph.subjects == ("Orda.kz",)
    assert homoglyph.details["techniques"] == ["homoglyph"]
    assert "look-alike characters" in homoglyph.explanation
    assert found["lookalike:domain:orda-kz.com"].details["techniques"] == [
        "hyphenation",
        "tld_swap",
    ]
    assert found["lookalike:domain:orda.kz.example.ru"].details["techniques"] == [
        "subdomain_of_another"
    ]
    json.dumps([f.to_json() for f in found.values()])


def test_the_outlets_own_subdomains_and_accounts_are_not_flagged() -> None:
    found = run_lookalikes(
        [
            ob(1, "Сайт заблокирован, читайте kaz.orda.kz и en.orda.kz"),
            ob(2, urls=("https://kaz.orda.kz/a", "https://en.orda.kz/b", "https://orda.kz/c")),
            ob(3, "Подписывайтесь на @ordakz и t.me/gbazhkenova", account="ordakz"),
        ]
    )
    assert found == {}


def test_a_lookalike_account_posting_is_one_finding_keyed_by_platform_and_handle() -> None:
    found = run_lookalikes(
        [ob(1, "Новости", account="orda_kz"), ob(2, "Ещё", account="ORDA_KZ"), ob(3, account="x")]
    )
    (finding,) = found.values()
    assert finding.key == "lookalike:account:telegram:orda_kz"
    assert finding.observation_ids == ("tg:1", "tg:2")
    assert finding.details["seen_as"] == {"account": 2}
    assert finding.severity == "high"


def test_a_persons_verified_handle_is_not_repeated_in_clear() -> None:
    (finding,) = run_lookalikes([ob(1, "Привет", account="gbazhkenova_official")]).values()
    assert finding.subjects == ("Gulnara Bazhkenova",)
    assert "gbazhkenova" not in finding.details["imitates"]
    assert "gbazhkenova " not in finding.explanation.replace("gbazhkenova_official", "")


def test_techniques_can_be_narrowed() -> None:
    config = lookalikes.DETECTOR.spec.parse_config(CONFIG | {"techniques": ["homoglyph"]})
    result = lookalikes.DETECTOR.detect([ob(1, "0rda.kz и orda-kz.com")], config, {})
    assert [f.key for f in result.findings] == ["lookalike:domain:0rda.kz"]


# --- fake statements --------------------------------------------------------------------------


def test_fake_statements_and_invitations_in_the_editors_name_are_flagged() -> None:
    found = run_fakes(
        [
            ob(1, "Гульнара Бажкенова заявила: «Мы закрываем редакцию навсегда»", account="anon1"),
            ob(2, "Бажкенова приглашает всех на митинг в субботу", account="orda_kz_news"),
            ob(3, "Премьер Олжас Бектенов обратился к гражданам с призывом", account="anon2"),
        ]
    )
    assert set(found) == {"fake-statement:orda", "fake-statement:pm"}
    orda = found["fake-statement:orda"]
    assert orda.observation_ids == ("tg:1", "tg:2")
    assert orda.subjects == ("Gulnara Bazhkenova",)
    assert orda.details["kinds"] == ["invitation", "statement"]
    assert orda.severity == "high"  # a look-alike account posted the invitation
    assert orda.details["lookalikes"] == ["orda_kz_news"]
    assert orda.title.startswith("Invitations and statements attributed to Gulnara Bazhkenova")
    assert found["fake-statement:pm"].severity == "medium"


def test_a_genuine_statement_reposted_by_the_verified_account_is_not_flagged() -> None:
    assert run_fakes([ob(1, f"Orda.kz заявляет: «{STATEMENT}»", account="ordakz")]) == {}
    text = "Гульнара Бажкенова заявила: «Мы продолжаем работу»"
    assert run_fakes([ob(2, text, account="gbazhkenova")]) == {}


def test_a_quote_of_a_published_statement_is_not_flagged() -> None:
    assert (
        run_fakes([ob(1, f"Orda.kz заявила: «{STATEMENT}»", account="anyone", platform="x")]) == {}
    )
    fake = "Orda.kz заявила: «Редакция прекращает работу и просит читателей не искать её»"
    assert set(run_fakes([ob(2, fake, account="anyone", platform="x")])) == {"fake-statement:orda"}


def test_findings_of_one_campaign_share_a_key_across_batches() -> None:
    first = run_fakes([ob(1, "Бажкенова заявила, что уходит", account="a")])
    later = run_fakes([ob(9, "Orda.kz приглашает на пресс-конференцию", account="b")])
    assert set(first) == set(later) == {"fake-statement:orda"}


# --- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize("detector", [lookalikes.DETECTOR, fake_statements.DETECTOR])
def test_conflicting_registry_entries_are_reported_and_skipped_while_the_rest_is_kept(
    detector: Any,
) -> None:
    config = detector.spec.parse_config(CONFIG)
    assert [e.id for e in config.registry.entities] == ["orda", "editor", "pm"]
    (problem,) = config.problems
    assert (problem.index, problem.entry, problem.field) == (3, "Orda News", "accounts.telegram[0]")
    assert "already verified for entities[0] (Orda.kz)" in problem.reason


def test_the_skipped_entrys_domain_is_judged_as_a_lookalike_not_as_own() -> None:
    found = run_lookalikes([ob(1, urls=("https://orda-news.kz/",))])
    assert found["lookalike:domain:orda-news.kz"].details["techniques"] == ["combo"]


@pytest.mark.parametrize("detector", [lookalikes.DETECTOR, fake_statements.DETECTOR])
def test_schema_and_parser_agree(detector: Any) -> None:
    spec = detector.spec
    jsonschema.Draft202012Validator.check_schema(spec.config_schema)
    jsonschema.validate(CONFIG, spec.config_schema)
    for bad, field_name in (
        ({"registry": REGISTRY, "threshold": 3}, "threshold"),
        ({"registry": {"entities": "none"}}, "registry.entities"),
        ({"people": [{"name": "Editor", "phones": "not a list"}]}, "people[0].phones"),
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, spec.config_schema)
        with pytest.raises(InvalidInput) as refused:
            spec.parse_config(bad)
        assert field_name in str(refused.value)


@pytest.mark.parametrize("detector", [lookalikes.DETECTOR, fake_statements.DETECTOR])
def test_without_a_registry_nothing_is_reported(detector: Any) -> None:
    config = detector.spec.parse_config({"people": []})
    result = detector.detect([ob(1, "0rda.kz: Бажкенова заявила", account="orda_kz")], config, {})
    assert result.findings == () and result.failures == ()


def test_unknown_settings_are_refused_by_name() -> None:
    with pytest.raises(InvalidInput, match="kinds: unknown kind 'rumour'"):
        fake_statements.DETECTOR.spec.parse_config({"kinds": ["rumour"]})
    with pytest.raises(InvalidInput, match="techniques"):
        lookalikes.DETECTOR.spec.parse_config({"techniques": "homoglyph"})
