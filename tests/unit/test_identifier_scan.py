"""The matcher: every disguise of a watched identifier found, nothing one digit away."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qorgau.detect.identifier_scan import IdentifierMatcher, compile_matcher, mask
from qorgau.detect.watchlist import parse_people

NSN = "7011234567"  # made up
PHONE = "+7" + NSN
OTHER = "+77051112233"
PEOPLE = parse_people(
    [
        {
            "name": "Editor",
            "group": "outlet",
            "phones": [PHONE],
            "emails": ["editor.orda@example.kz"],
            "addresses": ["ул. Абая 150, кв. 12"],
            "plates": ["123 ABC 02"],
        },
        {"name": "Owner", "group": "outlet", "phones": [OTHER]},
    ]
)


@pytest.fixture(scope="module")
def matcher() -> IdentifierMatcher:
    return compile_matcher(PEOPLE)


def found(matcher: IdentifierMatcher, text: str) -> list[tuple[str, str, str]]:
    return [(h.target.kind, h.target.value, text[h.start : h.end]) for h in matcher.scan_text(text)]


def values(matcher: IdentifierMatcher, text: str) -> set[str]:
    return {h.target.value for h in matcher.scan_text(text)}


@pytest.mark.parametrize(
    "written",
    [
        "8 (701) 123-45-67",
        "+7 701 1234567",
        "87011234567",
        "+77011234567",
        "7011234567",
        "+7 701 123 45 67",
        "+7 (701) 123 45 67",
        "8-701-123-45-67",
        "8.701.123.45.67",
        "8/701/123/45/67",
        "8 701 123 45 67",
        "701 звоните 123 45 67",
        "701 call me 1234567",
        "8 701 қоңырау шалыңыз 123 45 67",
        "8 701 123 ватсап 45 67",
        "+7 7О1 123 45 67",  # Cyrillic О
        "+7 7O1 l23 45 67",  # Latin O, l
        "+7 7o1 I23 4S 67",  # o, I, S
        "87О1|234567",
        "+7 7О1 l2З 45 б7",  # Cyrillic З, б
        "+7 70l 12З 4S 67",
        "+7 7Оl |23 Ч5 67",  # Ч for 4
        "+7 701 123 45 67.",
        "Звоните: 8 (701) 123-45-67, Ольга",
        "Тел: 8 701 123 45 67 2-комн., 45 м²",
        "87011234567 87051112233",  # two numbers side by side, both watched
        "цена 25 000 тг 8 (701) 123-45-67",
    ],
)
def test_every_disguise_of_a_watched_phone_is_found(
    matcher: IdentifierMatcher, written: str
) -> None:
    text = f"Продам диван, недорого. {written} Пишите в любое время"
    hits = [h for h in found(matcher, text) if h[1] == PHONE]
    assert len(hits) == 1, found(matcher, text)
    span = hits[0][2]
    assert span[-1] in "67б" and span.lstrip("+")[0] in "78"


@pytest.mark.parametrize("written", ["+7 7O5 lI| 22 Зз", "8 7О5 |l| 2 2 ЗЗ", "8 705 lll 22 33"])
def test_groups_made_only_of_look_alikes_are_read_among_digits(
    matcher: IdentifierMatcher, written: str
) -> None:
    assert values(matcher, f"Звоните {written} в любое время") == {OTHER}


def test_both_numbers_of_a_pair_are_found(matcher: IdentifierMatcher) -> None:
    assert values(matcher, "87011234567 87051112233") == {PHONE, OTHER}
    assert values(matcher, "+7 705 111 22 33, +7 701 123 45 67") == {PHONE, OTHER}


@pytest.mark.parametrize(
    "written",
    [
        "+7 701 123 45 68",  # one digit changed
        "+7 701 123 45 678",  # one digit added at the end
        "+7 701 123 45 67 8",  # ... as a group of its own
        "+7 3 701 123 45 67",  # ... between country code and number
        "+73 701 123 45 67",
        "+7 7701 123 45 67",
        "8 701 1234 4567",  # ... in the middle
        "+7 701 123 45 6",  # one digit missing
        "8 701 123 45 6, цена 7000",  # missing, and a price would complete it
        "+7 701 123 45 6 и 7",  # single digits glued by a word
        "701 123 45 6\n7 комнат",
        "8 (701) 123-45-67-1",
        "1-8-701-123-45-67",
        "ID 77011234567 8",
        "+7 701 123 45 67l",  # look-alike glued at the end reads as an extra digit
        "+7 701 123 45 6 7-комн.",  # a missing digit completed by a room count
        "7О1 Olga 123 45 67 7",
    ],
)
def test_one_digit_off_and_glued_numbers_are_not_flagged(
    matcher: IdentifierMatcher, written: str
) -> None:
    assert PHONE not in values(matcher, f"Продам диван. {written}")


def test_look_alike_letters_in_words_are_not_read_as_digits(matcher: IdentifierMatcher) -> None:
    # read as digits, "Olga" would glue a trailing 01 onto the number
    assert values(matcher, "+7 701 123 45 67Olga") == {PHONE}
    # but a short look-alike word among digit groups is read: here it adds a digit
    assert values(matcher, "+7 701 123 45 67 l") == set()


def test_numbers_never_span_two_texts(matcher: IdentifierMatcher) -> None:
    outcome = matcher.scan(["звоните 8 701 123", "45 67 спросить Ольгу", "пусто"])
    assert outcome.hits == ((), (), ())
    outcome = matcher.scan(["ничего", "тел 8 701 123 45 67", "ещё 8 705 111 22 33"])
    assert [{h.target.value for h in hits} for hits in outcome.hits] == [set(), {PHONE}, {OTHER}]


def test_a_separator_character_inside_a_text_does_not_shift_the_batch(
    matcher: IdentifierMatcher,
) -> None:
    outcome = matcher.scan(["a\x00b", "c", "тел 8 701 123 45 67"])
    assert [bool(h) for h in outcome.hits] == [False, False, True]


DIGIT_FORMATS = [
    "+7 {a} {b} {c} {d}",
    "8 ({a}) {b}-{c}-{d}",
    "8{a}{b}{c}{d}",
    "+7{a}{b}{c}{d}",
    "{a} звоните {b} {c} {d}",
    "8.{a}.{b}.{c}.{d}",
    "+7 {a} {b}{c}{d}",
]


def _write(fmt: str, nsn: str) -> str:
    return fmt.format(a=nsn[:3], b=nsn[3:6], c=nsn[6:8], d=nsn[8:])


@settings(max_examples=300, deadline=None)
@given(
    fmt=st.sampled_from(DIGIT_FORMATS),
    where=st.integers(0, 9),
    digit=st.sampled_from("0123456789"),
    how=st.sampled_from(["change", "add", "drop"]),
    before=st.sampled_from(["", "Тел: ", "цена 5000 тг, ", "ID 12345 "]),
    after=st.sampled_from(["", " звоните", ", 25 000 тг", "."]),
)
def test_property_one_digit_off_is_never_flagged(
    fmt: str, where: int, digit: str, how: str, before: str, after: str
) -> None:
    matcher = compile_matcher(PEOPLE)
    if how == "change":
        if NSN[where] == digit:
            return
        off = NSN[:where] + digit + NSN[where + 1 :]
    elif how == "add":
        off = NSN[:where] + digit + NSN[where:]
    else:
        off = NSN[:where] + NSN[where + 1 :]
    full = "7" + off
    if any(full[i : i + 10] == NSN for i in range(len(full) - 9)):
        return  # e.g. adding the trunk 8 in front: that is the number itself
    text = before + _write(fmt, off) + after
    assert PHONE not in values(matcher, text), text


@settings(max_examples=200, deadline=None)
@given(
    fmt=st.sampled_from(DIGIT_FORMATS),
    before=st.sampled_from(["", "Тел: ", "цена 5000 тг, ", "ID 12345 ", "2-комн. "]),
    after=st.sampled_from(["", " звоните", ", 25 000 tg", ". 45 м²"]),
)
def test_property_the_number_itself_is_always_found(fmt: str, before: str, after: str) -> None:
    matcher = compile_matcher(PEOPLE)
    assert PHONE in values(matcher, before + _write(fmt, NSN) + after)


@pytest.mark.parametrize(
    "written",
    [
        "editor.orda@example.kz",
        "EDITOR.ORDA@EXAMPLE.KZ",
        "editor.orda at example dot kz",
        "editor.orda(at)example.kz",
        "editor.orda [at] example [dot] kz",
        "editor.orda собака example.kz",
        "editor.orda @ example . kz",
        "Editor.Orda {at} Example (dot) KZ",
    ],
)
def test_every_disguise_of_a_watched_email_is_found(
    matcher: IdentifierMatcher, written: str
) -> None:
    assert found(matcher, f"Пишите: {written}, ответим")[0][:2] == (
        "email",
        "editor.orda@example.kz",
    )


@pytest.mark.parametrize(
    "written",
    ["xeditor.orda@example.kz", "editor.orda@example.kzz", "editor.ord@example.kz"],
)
def test_other_emails_are_not_flagged(matcher: IdentifierMatcher, written: str) -> None:
    assert values(matcher, written) == set()


@pytest.mark.parametrize(
    "written",
    [
        "ул. Абая 150, кв. 12",
        "улица Абая, дом 150, квартира 12",
        "АБАЯ 150 кв 12",
        "Абая көшесі 150 үй, 12 пәтер",
        "абая   д.150  кв.12",
        "Abay",  # placeholder replaced below
    ][:-1],
)
def test_every_wording_of_a_watched_address_is_found(
    matcher: IdentifierMatcher, written: str
) -> None:
    assert ("address", PEOPLE[0].addresses[0]) in {
        h[:2] for h in found(matcher, f"Приходите: г. Алматы, {written}. Спросить Ольгу")
    }


@pytest.mark.parametrize(
    "written", ["ул. Абая 151, кв. 12", "ул. Абая 150, кв. 13", "ул. Абая 150", "Абая 12, кв. 150"]
)
def test_other_addresses_are_not_flagged(matcher: IdentifierMatcher, written: str) -> None:
    assert values(matcher, written) == set()


@pytest.mark.parametrize("written", ["123 ABC 02", "123ABC02", "123 АВС 02", "123-abc-02"])
def test_every_writing_of_a_watched_plate_is_found(
    matcher: IdentifierMatcher, written: str
) -> None:
    assert values(matcher, f"Машина {written} стоит у подъезда") == {"123ABC02"}


@pytest.mark.parametrize("written", ["1123 ABC 02", "123 ABC 021", "123 ABD 02", "123 AB 02"])
def test_other_plates_are_not_flagged(matcher: IdentifierMatcher, written: str) -> None:
    assert values(matcher, f"Машина {written} стоит") == set()


def test_iins_are_found_with_separators_and_not_when_off_by_one() -> None:
    from qorgau.detect.watchlist import iin_check_digit

    check = iin_check_digit("90010130012")
    iin = f"90010130012{check}"
    matcher = compile_matcher(parse_people([{"name": "A", "iins": [iin]}]))
    assert values(matcher, f"ИИН {iin[:6]} {iin[6:]}") == {iin}
    assert values(matcher, f"ИИН: {iin}.") == {iin}
    assert values(matcher, f"ИИН {iin}1") == set()
    assert values(matcher, f"ИИН {iin[:-1]}") == set()


def test_masks_hide_the_identifier() -> None:
    assert mask("phone", PHONE) == "+7 701 *** ** 67"
    assert mask("email", "editor.orda@example.kz") == "e***@example.kz"
    assert mask("iin", "900101300126") == "90********26"
    assert "150" not in mask("address", PEOPLE[0].addresses[0])
    assert mask("plate", "123ABC02") == "1*****02"


def test_the_compiled_matcher_is_cached_per_watchlist() -> None:
    assert compile_matcher(PEOPLE) is compile_matcher(PEOPLE)
