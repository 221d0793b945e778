from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta, timezone

import pytest

from qorgau.errors import InvalidInput
from qorgau.observe.normalize import LOCAL_TZ, extract_urls, normalise

WHEN = datetime(2025, 5, 1, 10, 0, tzinfo=timezone(timedelta(hours=5)))


def test_builds_stable_id_utc_time_and_extracts_identifiers() -> None:
    text = (
        "Сдаю квартиру, звоните 8 (701) 123-45-67 или +7 701 1234567, пишите "
        "Editor@News.example. Подробнее: https://ads.example/item/42), www.kv.example/a."
    )
    obs = normalise(
        "vk-scrape",
        "wall-1_99",
        "VK",
        WHEN,
        kind="post",
        account="ivanov",
        text=text,
        urls=["https://ads.example/item/42"],
    )
    assert obs.id == "vk-scrape:wall-1_99"
    assert obs.platform == "vk"
    assert obs.time == datetime(2025, 5, 1, 5, 0, tzinfo=UTC)
    assert obs.phones == ("+77011234567",)
    assert obs.emails == ("editor@news.example",)
    assert obs.urls == ("https://ads.example/item/42", "http://www.kv.example/a")
    assert obs.lang == "ru"


def test_text_is_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", "Қоңырау й")
    obs = normalise("s", "1", "x", WHEN, kind="post", account="a", text=decomposed)
    assert obs.text == unicodedata.normalize("NFC", "Қоңырау й")
    assert obs.text != decomposed


def test_naive_time_needs_a_zone() -> None:
    naive = datetime(2025, 5, 1, 10, 0)
    with pytest.raises(InvalidInput, match="no time zone"):
        normalise("s", "1", "x", naive, kind="post", account="a", text="")
    obs = normalise("s", "1", "x", naive, kind="post", account="a", text="", default_tz=LOCAL_TZ)
    assert obs.time == datetime(2025, 5, 1, 5, 0, tzinfo=UTC)


def test_phone_accounts_and_recipients_become_e164() -> None:
    obs = normalise(
        "calls",
        "k",
        "phone",
        WHEN,
        kind="call",
        account="8 (701) 123-45-67",
        text="",
        recipients=["+7 702 765 43 21", "87027654321"],
    )
    assert obs.account == "+77011234567"
    assert obs.recipients == ("+77027654321",)


def test_unreadable_phone_account_is_refused() -> None:
    with pytest.raises(InvalidInput, match="account"):
        normalise("calls", "k", "phone", WHEN, kind="sms", account="abc", text="")


@pytest.mark.parametrize(("source", "kind"), [("", "post"), ("a:b", "post"), ("ok", "tweet")])
def test_bad_source_or_kind(source: str, kind: str) -> None:
    with pytest.raises(InvalidInput):
        normalise(source, "1", "x", WHEN, kind=kind, account="", text="")


def test_few_digits_no_phones_and_given_lang_wins() -> None:
    obs = normalise(
        "s", "1", "x", WHEN, kind="post", account="", text="Цена 150 000 тг", lang="KK-kz"
    )
    assert obs.phones == ()
    assert obs.lang == "kk"


def test_url_extraction_keeps_balanced_brackets() -> None:
    assert extract_urls("see (https://wiki.example/A_(b)) now") == ("https://wiki.example/A_(b)",)
