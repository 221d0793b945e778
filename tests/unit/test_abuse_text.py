"""Normalisation against disguised insults and threats: a disguised word must end up where the
plain word does, and ordinary text (numbers, Kazakh letters, short words) must survive."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from qorgau.detect.abuse_text import normalize, script


def test_latin_look_alikes_inside_cyrillic_words_become_cyrillic() -> None:
    assert normalize("Пиcдyй отсюда") == normalize("Писдуй отсюда")  # Latin c and y
    assert normalize("дeбил") == "дебил"  # Latin e
    assert normalize("пиzданула") == "пизданула"


def test_cyrillic_look_alikes_inside_latin_words_become_latin() -> None:
    assert normalize("fuсk you") == "fuck you"  # Cyrillic с
    assert normalize("Stupid b1tch") == "stupid bitch"


def test_digits_typed_for_letters_are_read_as_letters() -> None:
    assert normalize("у6ью") == "убью"
    assert normalize("3аткнись") == "заткнись"
    assert normalize("п0шел") == "пошел"


def test_numbers_stay_numbers() -> None:
    assert normalize("10км от 2022г, школа 12") == "10км от 2022г, школа 12"


def test_separators_inside_words_and_spaced_letters_are_joined() -> None:
    assert normalize("у-б-ь-ю") == "убью"
    assert normalize("у б ь ю тебя") == "убью тебя"
    assert normalize("b i t c h") == "bitch"
    assert normalize("д,билы") == normalize("д.билы") == "дбилы"
    assert normalize("зае%ал") == "заеал"


def test_ordinary_short_words_and_hyphenated_words_are_left_alone() -> None:
    assert normalize("я в шоке") == "я в шоке"
    assert normalize("жидо-персидского") == "жидо-персидского"
    assert normalize("Сені өлтіремін") == "сені өлтіремін"  # Kazakh letters kept


def test_stretched_letters_are_shortened_but_double_letters_kept() -> None:
    assert normalize("убьююююю") == "убью"
    assert normalize("классный") == "классный"


def test_mentions_links_and_markup_are_replaced() -> None:
    text = "[id2685300|Максим], читай http://example.kz/a?b=1 &amp; @someone"
    assert normalize(text) == ", читай xurl & xuser"
    assert "максим" not in normalize(text)


def test_script_is_the_majority_of_letters() -> None:
    assert script(normalize("Мен сені білемін")) == "cyrillic"
    assert script(normalize("Seni oltiremin")) == "latin"
    assert script(normalize("ok, понятно")) == "cyrillic"


@given(
    st.text(alphabet="абвгдеёжзийклмнопрстуфхцчшщъыьэюяәіңғүұқөһabcdeoptxy0136 .,-*@", max_size=40)
)
def test_normalising_twice_changes_nothing(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once
