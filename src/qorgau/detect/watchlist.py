"""Protected people and their identifiers, as detectors receive them in their configuration.

The store keeps each identifier encrypted with a keyed-hash blind index beside it; detectors
only ever see the decrypted watchlist in memory, inside their parsed configuration.

Every identifier is checked and put in one canonical form here, once, so that the matchers
compare like with like and a typo in the watchlist (an IIN with a wrong check digit, a plate
with no digits) is refused when the configuration is loaded instead of silently never
matching."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from qorgau.domain.identifiers import normalize_email, normalize_phone, normalize_text
from qorgau.errors import InvalidInput


@dataclass(frozen=True)
class ProtectedPerson:
    name: str  # how responders refer to the person (a watchlist label, not necessarily legal)
    group: str = ""  # the outlet or team: leaks of one group's people are one campaign
    phones: tuple[str, ...] = ()  # E.164
    emails: tuple[str, ...] = ()  # lower-cased
    iins: tuple[str, ...] = ()  # Kazakhstan individual identification numbers (12 digits)
    addresses: tuple[str, ...] = ()  # folded text, see ``address_parts``
    plates: tuple[str, ...] = ()  # upper-case Latin letters and digits, see ``normalize_plate``
    handles: tuple[str, ...] = ()  # social accounts, without "@"

    @property
    def campaign_group(self) -> str:
        return self.group or self.name


# --- IIN -------------------------------------------------------------------------------------

_IIN_FIRST_WEIGHTS = tuple(range(1, 12))
_IIN_SECOND_WEIGHTS = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)
_IIN_CENTURY = {"1": 1800, "2": 1800, "3": 1900, "4": 1900, "5": 2000, "6": 2000}


def iin_check_digit(first_eleven: str) -> int | None:
    """The twelfth digit of an IIN, or None when the number cannot have one.

    The state register never issues numbers whose second weighted sum still gives 10, so such a
    prefix is no IIN at all rather than an IIN with some check digit."""
    if len(first_eleven) != 11 or not first_eleven.isascii() or not first_eleven.isdigit():
        raise ValueError("an IIN check digit is computed over eleven digits")
    digits = [int(c) for c in first_eleven]
    check = sum(w * d for w, d in zip(_IIN_FIRST_WEIGHTS, digits, strict=True)) % 11
    if check == 10:
        check = sum(w * d for w, d in zip(_IIN_SECOND_WEIGHTS, digits, strict=True)) % 11
    return None if check == 10 else check


def iin_problem(iin: str) -> str | None:
    """Why ``iin`` is not a valid IIN, in words a responder can act on; None when it is."""
    if len(iin) != 12 or not iin.isascii() or not iin.isdigit():
        return "an IIN is 12 digits"
    century = _IIN_CENTURY.get(iin[6])
    if century is None:
        return "the 7th digit of an IIN (century and sex) is 1 to 6"
    try:
        date(century + int(iin[0:2]), int(iin[2:4]), int(iin[4:6]))
    except ValueError:
        return "the first 6 digits of an IIN are a birth date, YYMMDD"
    expected = iin_check_digit(iin[:11])
    if expected is None or expected != int(iin[11]):
        return "the check digit (the 12th) does not match; check for a mistyped digit"
    return None


def normalize_iin(value: str, field_name: str) -> str:
    """12 digits; spaces and dashes people type between groups are dropped."""
    iin = re.sub(r"[\s\-]", "", value)
    problem = iin_problem(iin)
    if problem is not None:
        raise InvalidInput.single(field_name, "iin", f"{value!r} is not a valid IIN: {problem}")
    return iin


# --- plates ----------------------------------------------------------------------------------

# Cyrillic letters a plate may be typed with that read as the Latin letters on the plate itself.
CYRILLIC_TO_LATIN = str.maketrans("АВЕКМНОРСТУХаеорсухкмнтв", "ABEKMHOPCTYXAEOPCYXKMHTB")
_PLATE_DROP = re.compile(r"[\s\-_.]")


def normalize_plate(value: str, field_name: str) -> str:
    """Upper-case Latin letters and digits only, so "123 АВС 02" and "123abc-02" are one plate.

    At least three digits are required because the matcher finds plates through their digits;
    every Kazakh format has them."""
    plate = _PLATE_DROP.sub("", value).translate(CYRILLIC_TO_LATIN).upper()
    if not re.fullmatch(r"[A-Z0-9]{4,10}", plate) or sum(c.isdigit() for c in plate) < 3:
        raise InvalidInput.single(
            field_name, "plate", f"{value!r} is not a licence plate such as 123 ABC 02"
        )
    return plate


# --- addresses -------------------------------------------------------------------------------

# Words that say what kind of place a token is; they are written, shortened or left out at will,
# so neither the watchlist nor the matcher relies on them.
ADDRESS_NOISE = frozenset(
    {
        "ул",
        "улица",
        "көше",
        "көшесі",
        "көш",
        "street",
        "st",
        "str",
        "д",
        "дом",
        "үй",
        "house",
        "h",
        "no",
        "№",
        "кв",
        "квартира",
        "пәтер",
        "apt",
        "apartment",
        "flat",
        "ap",
        "пр",
        "пр-т",
        "просп",
        "проспект",
        "даңғылы",
        "даң",
        "avenue",
        "ave",
        "av",
        "мкр",
        "мкрн",
        "микрорайон",
        "ы",
        "а",
        "ықшамауданы",
        "шағынауданы",
        "ша",
        "г",
        "город",
        "қ",
        "қаласы",
        "city",
        "пер",
        "переулок",
        "бул",
        "бульвар",
        "корп",
        "корпус",
        "блок",
    }
)
ADDRESS_TOKEN = re.compile(r"№|[^\W_]+(?:[-/][^\W_]+)*")


@dataclass(frozen=True)
class AddressParts:
    """What must appear for an address to count as leaked: the street, the house and, when the
    watchlist gives one, the flat. City and district words are left out on purpose: ads name the
    street and house and leave the city to the site."""

    street: tuple[str, ...]
    house: str
    flat: str | None = None


def address_tokens(text: str) -> list[str]:
    """Folded tokens of an address-like text with the kind-of-place words removed."""
    return [tok for tok in ADDRESS_TOKEN.findall(normalize_text(text)) if tok not in ADDRESS_NOISE]


def address_parts(address: str) -> AddressParts | None:
    """Street, house and flat of a watchlist address; None when it has no house number.

    The street is the words just before the house number ("ул. Абая 150"), else the comma
    segment before it ("Абая көшесі, 150 үй"), else the words after it ("150 Abay St")."""
    segments = [address_tokens(seg) for seg in re.split(r"[,;]", address)]
    numbered = [
        (si, ti) for si, seg in enumerate(segments) for ti, tok in enumerate(seg) if _numeric(tok)
    ]
    if not numbered:
        return None
    si, ti = numbered[0]
    seg = segments[si]
    street = _words_before(seg, ti)
    if not street and si > 0:
        street = _words_before(segments[si - 1], len(segments[si - 1]))
    if not street:
        after = seg[ti + 1 :]
        street = tuple(after[: next((k for k, tok in enumerate(after) if _numeric(tok)), 3)][:3])
    if not street:
        return None
    flat = numbered[1] if len(numbered) > 1 else None
    return AddressParts(
        street=street, house=seg[ti], flat=None if flat is None else segments[flat[0]][flat[1]]
    )


def _numeric(token: str) -> bool:
    return token[0].isdigit()


def _words_before(tokens: list[str], end: int) -> tuple[str, ...]:
    words: list[str] = []
    for tok in reversed(tokens[:end]):
        if _numeric(tok) or len(words) == 3:
            break
        words.insert(0, tok)
    return tuple(words)


def normalize_address(value: str, field_name: str) -> str:
    """Folded text; refused when no street and house number can be read from it, since such an
    entry could never be matched."""
    address = normalize_text(value)
    if address_parts(address) is None:
        raise InvalidInput.single(
            field_name,
            "address",
            f"{value!r} needs a street and a house number, e.g. ул. Абая 150, кв. 12",
        )
    return address


# --- people ----------------------------------------------------------------------------------


def parse_people(raw: Any, field_name: str = "people") -> tuple[ProtectedPerson, ...]:
    """People from a configuration's ``people`` list; every identifier checked and normalised."""
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
        raise InvalidInput.single(field_name, "type", "give a list of people")
    people: list[ProtectedPerson] = []
    for i, item in enumerate(raw):
        where = f"{field_name}[{i}]"
        if not isinstance(item, Mapping):
            raise InvalidInput.single(where, "type", "each person is an object with a name")
        name = str(item.get("name") or "").strip()
        if not name:
            raise InvalidInput.single(f"{where}.name", "required", "give the person a name")
        people.append(
            ProtectedPerson(
                name=name,
                group=str(item.get("group") or "").strip(),
                phones=_each(item, "phones", where, normalize_phone),
                emails=_each(item, "emails", where, lambda v, f: normalize_email(v, f).lower()),
                iins=_each(item, "iins", where, normalize_iin),
                addresses=_each(item, "addresses", where, normalize_address),
                plates=_each(item, "plates", where, normalize_plate),
                handles=_each(item, "handles", where, lambda v, f: v.strip().lstrip("@").lower()),
            )
        )
    return tuple(people)


def _each(
    item: Mapping[str, Any], key: str, where: str, normalize: Callable[[str, str], str]
) -> tuple[str, ...]:
    values = item.get(key) or []
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise InvalidInput.single(f"{where}.{key}", "type", f"{key} is a list of strings")
    out: list[str] = []
    for j, value in enumerate(values):
        normalized = normalize(str(value), f"{where}.{key}[{j}]")
        if normalized and normalized not in out:
            out.append(normalized)
    return tuple(out)


PEOPLE_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string"},
            "group": {"type": "string"},
            "phones": {"type": "array", "items": {"type": "string"}},
            "emails": {"type": "array", "items": {"type": "string"}},
            "iins": {"type": "array", "items": {"type": "string", "pattern": "^[0-9 \\-]{12,16}$"}},
            "addresses": {"type": "array", "items": {"type": "string"}},
            "plates": {"type": "array", "items": {"type": "string"}},
            "handles": {"type": "array", "items": {"type": "string"}},
        },
    },
}
