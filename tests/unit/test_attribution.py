"""Attribution: names found inflected, cues in three languages, genuine sources recognised."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from qorgau.detect.attribution import (
    NameMatcher,
    assess,
    find_attributions,
    matching_statement,
    quotes_in,
)
from qorgau.detect.model import Observation
from qorgau.detect.protected_registry import ProtectedRegistry, parse_registry

STATEMENT = "Редакция Orda.kz продолжает работу в штатном режиме, несмотря на блокировку сайта"
REGISTRY: dict[str, Any] = {
    "entities": [
        {
            "id": "orda",
            "kind": "outlet",
            "name": "Orda.kz",
            "names": {"ru": ["Орда"]},
            "accounts": {"telegram": ["ordakz"]},
            "domains": ["orda.kz"],
            "statements": [{"text": STATEMENT, "url": "https://orda.kz/statement-1"}],
        },
        {
            "id": "editor",
            "kind": "person",
            "name": "Gulnara Bazhkenova",
            "outlet": "orda",
            "names": {
                "ru": ["Гульнара Бажкенова"],
                "kk": ["Гүлнар Бажкенова"],
                "en": ["Gulnara Bazhkenova"],
            },
            "accounts": {"telegram": ["gbazhkenova"]},
        },
        {
            "id": "pm",
            "kind": "person",
            "name": "Olzhas Bektenov",
            "names": {"ru": ["Олжас Бектенов"]},
        },
    ]
}


@pytest.fixture(scope="module")
def registry() -> ProtectedRegistry:
    return parse_registry(REGISTRY).registry


@pytest.fixture(scope="module")
def matcher(registry: ProtectedRegistry) -> NameMatcher:
    return NameMatcher(registry)


@pytest.mark.parametrize(
    "text",
    [
        "Гульнара Бажкенова сегодня",
        "интервью Бажкеновой",
        "Бажкенованың сөзі",
        "письмо Гульнаре Бажкеновой",
        "Gulnara Bazhkenova's post",
        "Бажкеновадан хат",
    ],
)
def test_a_person_is_found_in_inflected_forms(matcher: NameMatcher, text: str) -> None:
    assert {m.entity_id for m in matcher.find(text)} == {"editor"}


@pytest.mark.parametrize("text", ["сайт Орды", "Орданың хабарламасы", "читайте orda.kz"])
def test_an_outlet_is_found_by_name_and_domain(matcher: NameMatcher, text: str) -> None:
    assert {m.entity_id for m in matcher.find(text)} == {"orda"}


@pytest.mark.parametrize("text", ["Бажен пришёл", "Гульнара пришла", "ордер на арест"])
def test_other_words_are_not_mentions(matcher: NameMatcher, text: str) -> None:
    assert matcher.find(text) == []


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Бажкенова заявила, что уходит из профессии", "statement"),
        ("Бажкенова приглашает всех на встречу в субботу", "invitation"),
        ("Бажкенова обратилась к читателям", "appeal"),
        ("Бажкенова мәлімдеді: редакция жабылады", "statement"),
        ("Бажкенова барлығын жиналысқа шақырады", "invitation"),
        ("Gulnara Bazhkenova invites readers to a rally", "invitation"),
        ("Gulnara Bazhkenova said the newsroom would close", "statement"),
        ("Бажкенова: «Мы закрываемся и уезжаем навсегда»", "quote"),
    ],
)
def test_attribution_cues_in_three_languages(matcher: NameMatcher, text: str, kind: str) -> None:
    (attribution,) = find_attributions(text, matcher)
    assert (attribution.entity_id, attribution.kind) == ("editor", kind)


def test_a_mention_without_a_cue_is_no_attribution(matcher: NameMatcher) -> None:
    assert find_attributions("Сегодня видел Бажкенову на рынке", matcher) == []
    far = "Бажкенова была в Алматы. " + "Погода хорошая. " * 12 + "Кто-то заявил, что дождь."
    assert find_attributions(far, matcher) == []


def test_a_cue_goes_to_the_name_before_it(matcher: NameMatcher) -> None:
    found = find_attributions("Олжас Бектенов заявил, что Бажкенова уволена", matcher)
    assert [a.entity_id for a in found] == ["pm"]


def test_quotes_are_extracted_from_every_quotation_style() -> None:
    text = "«первая цитата тут» и “second quote here” и „третья цитата тут“"
    assert [q for _, _, q in quotes_in(text)] == [
        "первая цитата тут",
        "second quote here",
        "третья цитата тут",
    ]


def _ob(
    account: str, text: str, platform: str = "telegram", urls: tuple[str, ...] = ()
) -> Observation:
    return Observation(
        "tg:1",
        "tg",
        platform,
        datetime(2025, 3, 2, tzinfo=UTC),
        account=account,
        text=text,
        urls=urls,
    )


def test_a_verified_account_posting_is_genuine(
    registry: ProtectedRegistry, matcher: NameMatcher
) -> None:
    text = "Гульнара Бажкенова заявила: «Мы продолжаем работу»"
    assert [a.standing for a in assess(_ob("gbazhkenova", text), registry, matcher)] == [
        "verified_account"
    ]
    # The person's outlet speaks for the person too.
    assert [a.standing for a in assess(_ob("@OrdaKZ", text), registry, matcher)] == [
        "verified_account"
    ]
    # The same handle on another platform is not the verified account.
    assert [a.standing for a in assess(_ob("gbazhkenova", text, "x"), registry, matcher)] == [
        "unverified"
    ]


def test_quoting_a_published_statement_is_genuine(
    registry: ProtectedRegistry, matcher: NameMatcher
) -> None:
    quoted = f"Orda.kz заявила: «{STATEMENT.lower()}!»"
    (a,) = assess(_ob("reader", quoted), registry, matcher)
    assert (a.standing, a.statement_url) == ("published_statement", "https://orda.kz/statement-1")
    linked = "Orda.kz заявила о работе редакции"
    (b,) = assess(
        _ob("reader", linked, urls=("https://www.orda.kz/statement-1/",)), registry, matcher
    )
    assert b.standing == "published_statement"


def test_a_genuine_quote_followed_by_an_invented_one_is_unverified(
    registry: ProtectedRegistry, matcher: NameMatcher
) -> None:
    text = f"Orda.kz заявила: «{STATEMENT}» и добавила: «редакция закрывается навсегда завтра»"
    (a,) = assess(_ob("reader", text), registry, matcher)
    assert a.standing == "unverified"


def test_matching_statement_needs_the_words_not_the_topic(registry: ProtectedRegistry) -> None:
    orda = registry.by_id("orda")
    assert orda is not None
    assert matching_statement(orda, STATEMENT, [], []) == "https://orda.kz/statement-1"
    assert (
        matching_statement(orda, "Редакция Orda.kz прекращает работу из-за блокировки", [], [])
        is None
    )


@pytest.mark.parametrize(
    "text",
    [
        "Орда опять написала неправду, редактор должна уйти в отставку",
        "Orda wrote nonsense again, shame on the editors",
    ],
)
def test_criticism_of_what_an_outlet_wrote_is_no_attribution(
    matcher: NameMatcher, text: str
) -> None:
    """A critic citing an article ("Orda wrote lies") is not putting words in its mouth."""
    assert find_attributions(text, matcher) == []


def test_wrote_followed_by_what_was_written_is_an_attribution(matcher: NameMatcher) -> None:
    found = find_attributions("Orda.kz wrote that the newsroom is closing for good", matcher)
    assert [a.kind for a in found] == ["statement"]


def test_a_full_name_is_not_also_a_namesake_by_surname() -> None:
    two = parse_registry(
        {
            "entities": [
                {"id": "nurlan", "kind": "person", "name": "Nurlan Tulegenov"},
                {"id": "serik", "kind": "person", "name": "Serik Tulegenov"},
            ]
        }
    ).registry
    found = find_attributions("Nurlan Tulegenov invites everyone to the meeting", NameMatcher(two))
    assert [a.entity_id for a in found] == ["nurlan"]
    both = find_attributions("Tulegenov invites everyone to the meeting", NameMatcher(two))
    assert sorted(a.entity_id for a in both) == ["nurlan", "serik"]
