from __future__ import annotations

import pytest

from qorgau.detect.watchlist import (
    AddressParts,
    address_parts,
    iin_check_digit,
    iin_problem,
    normalize_address,
    normalize_iin,
    normalize_plate,
    parse_people,
)
from qorgau.errors import InvalidInput


def make_iin(first_eleven: str) -> str:
    check = iin_check_digit(first_eleven)
    assert check is not None
    return first_eleven + str(check)


def test_check_digit_first_pass_worked_by_hand() -> None:
    # 9*1 + 1*4 + 1*6 + 3*7 + 1*10 + 2*11 = 72 = 6 (mod 11)
    assert iin_check_digit("90010130012") == 6


def test_check_digit_second_pass_worked_by_hand() -> None:
    # first pass: 1*10 = 10 -> second pass with weight 1 at that place: 1
    assert iin_check_digit("00000000010") == 1


def test_no_check_digit_when_both_passes_give_ten() -> None:
    # 5*1 + 6*10 = 65 = 10 and 5*3 + 6*1 = 21 = 10 (mod 11)
    assert iin_check_digit("50000000060") is None


@pytest.mark.parametrize("prefix", ["90010130012", "85123140045", "00022950077", "77070730001"])
def test_valid_iins_are_accepted_with_or_without_spaces(prefix: str) -> None:
    iin = make_iin(prefix)
    assert iin_problem(iin) is None
    spaced = f"{iin[:6]} {iin[6:]}"
    assert normalize_iin(spaced, "iins[0]") == iin
    person = parse_people([{"name": "A", "iins": [spaced]}])[0]
    assert person.iins == (iin,)


def test_a_wrong_check_digit_is_refused_naming_the_field() -> None:
    iin = make_iin("90010130012")
    wrong = iin[:11] + str((int(iin[11]) + 1) % 10)
    with pytest.raises(InvalidInput) as exc:
        parse_people([{"name": "A", "iins": [wrong]}])
    problem = exc.value.problems[0]
    assert problem.field == "people[0].iins[0]"
    assert problem.rule == "iin"
    assert "check digit" in problem.message


@pytest.mark.parametrize(
    ("iin", "words"),
    [
        ("90130130012" + "0", "birth date"),  # month 13
        ("90023030012" + "0", "birth date"),  # 30 February
        ("90010170012" + "0", "7th digit"),
        ("90010100012" + "0", "7th digit"),
        ("9001013001", "12 digits"),
        ("90010130012X", "12 digits"),
    ],
)
def test_impossible_iins_are_refused(iin: str, words: str) -> None:
    problem = iin_problem(iin)
    assert problem is not None and words in problem
    with pytest.raises(InvalidInput):
        normalize_iin(iin, "iins[0]")


def test_a_dated_prefix_without_any_check_digit_is_refused_whatever_the_last_digit() -> None:
    prefix = next(
        f"900101300{n:02d}" for n in range(100) if iin_check_digit(f"900101300{n:02d}") is None
    )
    for last in "0123456789":
        assert iin_problem(prefix + last) is not None


@pytest.mark.parametrize(
    "written", ["123 ABC 02", "123ABC02", "123 АВС 02", "123-abc-02", "123авс02"]
)
def test_plates_written_many_ways_are_one_plate(written: str) -> None:
    assert normalize_plate(written, "plates[0]") == "123ABC02"


@pytest.mark.parametrize("bad", ["ABC", "12", "12 ЖЖ 3", "123 ABC 02 KZ 999"])
def test_non_plates_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        normalize_plate(bad, "plates[0]")


def test_emails_are_checked_and_lower_cased() -> None:
    assert parse_people([{"name": "A", "emails": [" Editor@Example.KZ "]}])[0].emails == (
        "editor@example.kz",
    )
    with pytest.raises(InvalidInput):
        parse_people([{"name": "A", "emails": ["editor at example"]}])


@pytest.mark.parametrize(
    ("address", "parts"),
    [
        ("ул. Абая 150, кв. 12", AddressParts(("абая",), "150", "12")),
        ("г. Алматы, ул. Абая, д. 150, кв. 12", AddressParts(("абая",), "150", "12")),
        ("Абая көшесі 150 үй, 12 пәтер", AddressParts(("абая",), "150", "12")),
        ("150 Abay St., apt 12", AddressParts(("abay",), "150", "12")),
        ("пр. Достык 5", AddressParts(("достык",), "5", None)),
        ("улица Жибек Жолы, дом 50/1", AddressParts(("жибек", "жолы"), "50/1", None)),
    ],
)
def test_address_parts(address: str, parts: AddressParts) -> None:
    assert address_parts(normalize_address(address, "addresses[0]")) == parts


def test_an_address_without_a_house_number_is_refused() -> None:
    with pytest.raises(InvalidInput):
        parse_people([{"name": "A", "addresses": ["somewhere in Almaty"]}])


def test_normalised_values_parse_again_to_themselves() -> None:
    # the store keeps normalised values and hands them back to parse_people
    raw = {
        "name": "A",
        "phones": ["8 (701) 123-45-67"],
        "iins": [make_iin("90010130012")],
        "plates": ["123 АВС 02"],
        "addresses": ["ул. Абая 150, кв. 12"],
        "emails": ["Editor@Example.kz"],
    }
    once = parse_people([raw])[0]
    again = parse_people(
        [
            {
                "name": once.name,
                "phones": list(once.phones),
                "iins": list(once.iins),
                "plates": list(once.plates),
                "addresses": list(once.addresses),
                "emails": list(once.emails),
            }
        ]
    )[0]
    assert again == once
