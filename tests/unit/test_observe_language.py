from __future__ import annotations

import pytest

from qorgau.observe.language import detect_language


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Сегодня главному редактору позвонили с угрозами", "ru"),
        ("Бүгін бас редакторға белгісіз нөмірден қоңырау шалды", "kk"),
        ("Today the editor received threatening calls from unknown numbers", "en"),
        ("Búgin redaktorǵa qońyraý shaldy", "kk"),
        ("Bügin redaktorğa qoñyrau şaldy", "kk"),
        ("Bu'gin redaktorg'a qon'yrau s'aldy", "kk"),
        ("Qazaqstan Respublikasy", "kk"),
        ("Журналист Айгүл Нұрланқызы получила угрозы", "ru"),
        ("FAQ about the Qatar trip", "en"),
        ("I don't know what's going on here", "en"),
    ],
)
def test_languages(text: str, expected: str) -> None:
    assert detect_language(text) == expected


@pytest.mark.parametrize("text", ["", "ок", "8 701 123 45 67", "!!! ???", "2025-05-01"])
def test_too_short_or_no_words(text: str) -> None:
    assert detect_language(text) is None
