"""Made-up outlets, their people and everyone's identifiers, for simulated traffic.

Every identifier has the shape of a real one (Kazakh mobile numbers, IINs with valid check
digits, plates, street addresses) so that the detectors' parsers are exercised for real, while
the values are random and the domains are the reserved ``.example`` ones."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

MOBILE_PREFIXES = ("700", "701", "702", "705", "707", "708", "747", "771", "775", "777", "778")

_FIRST_M = ("Askar", "Nurlan", "Yerlan", "Daniyar", "Timur", "Aidos", "Marat", "Serik", "Dauren")
_FIRST_F = ("Aigerim", "Dana", "Gulnara", "Madina", "Saule", "Asel", "Zhanna", "Aliya", "Dinara")
_SURNAMES = (
    "Sadyk",
    "Nurpeis",
    "Aben",
    "Zhaksylyk",
    "Tulegen",
    "Omar",
    "Kassym",
    "Iskak",
    "Beisen",
    "Petr",
    "Sergeev",
    "Mukan",
)
_OUTLETS = (
    ("Orda", "orda.example", "orda_news"),
    ("Dala Times", "dala-times.example", "dalatimes"),
    ("Steppe Post", "steppe-post.example", "steppepost"),
    ("Aqiqat Media", "aqiqat.example", "aqiqat_media"),
    ("Jibek News", "jibek.example", "jibeknews"),
    ("Qala Online", "qala.example", "qala_online"),
)
_CITIES = (("Алматы", "02"), ("Астана", "01"), ("Шымкент", "17"), ("Караганда", "09"))
_STREETS = (
    "ул. Абая",
    "пр. Достык",
    "ул. Сатпаева",
    "ул. Толе би",
    "пр. Республики",
    "ул. Кенесары",
    "мкр. Самал-2, д.",
    "ул. Жибек Жолы",
)
_PLATE_LETTERS = "ABCDEHKMOPTXYZ"
_IIN_WEIGHTS_1 = tuple(range(1, 12))
_IIN_WEIGHTS_2 = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)


@dataclass(frozen=True)
class Person:
    name: str
    role: str  # editor | owner | journalist
    outlet: str
    phones: tuple[str, ...]
    emails: tuple[str, ...]
    iins: tuple[str, ...]
    addresses: tuple[str, ...]
    plates: tuple[str, ...]
    handles: tuple[str, ...]
    calls_per_hour: float  # at a weekday's busiest, before the seasonal profile

    def watchlist_entry(self) -> dict[str, Any]:
        """The person as the detectors' configuration lists them."""
        return {
            "name": self.name,
            "group": self.outlet,
            "phones": list(self.phones),
            "emails": list(self.emails),
            "iins": list(self.iins),
            "addresses": list(self.addresses),
            "plates": list(self.plates),
            "handles": list(self.handles),
        }


@dataclass(frozen=True)
class Outlet:
    name: str
    domain: str
    handle: str
    people: tuple[Person, ...]


class PhoneBook:
    """Hands out distinct mobile numbers, so a random contact never equals a protected phone."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._used: set[str] = set()

    def fresh(self) -> str:
        while True:
            number = f"+7{self._rng.choice(MOBILE_PREFIXES)}{self._rng.randrange(10**7):07d}"
            if number not in self._used:
                self._used.add(number)
                return number

    def reserve(self, number: str) -> bool:
        if number in self._used:
            return False
        self._used.add(number)
        return True


def iin_check_digit(first11: str) -> int | None:
    """The twelfth digit of an IIN, or None when the eleven digits admit none (then another
    serial number has to be chosen)."""
    digits = [int(ch) for ch in first11]
    total = sum(d * w for d, w in zip(digits, _IIN_WEIGHTS_1, strict=True)) % 11
    if total == 10:
        total = sum(d * w for d, w in zip(digits, _IIN_WEIGHTS_2, strict=True)) % 11
        if total == 10:
            return None
    return total


def make_iin(rng: random.Random, female: bool) -> str:
    born = date(1960, 1, 1) + timedelta(days=rng.randrange(365 * 42))
    century = {18: 1, 19: 3, 20: 5}[born.year // 100] + (1 if female else 0)
    while True:
        first11 = f"{born:%y%m%d}{century}{rng.randrange(10**4):04d}"
        check = iin_check_digit(first11)
        if check is not None:
            return f"{first11}{check}"


def make_outlets(rng: random.Random, count: int, phones: PhoneBook) -> tuple[Outlet, ...]:
    outlets: list[Outlet] = []
    names: set[str] = set()
    for i in range(count):
        if i < len(_OUTLETS):
            name, domain, handle = _OUTLETS[i]
        else:
            name, domain, handle = f"Outlet {i + 1}", f"outlet{i + 1}.example", f"outlet{i + 1}"
        roles = ["editor", "owner"] + ["journalist"] * rng.randint(2, 3)
        people = tuple(_make_person(rng, role, name, domain, phones, names) for role in roles)
        outlets.append(Outlet(name, domain, handle, people))
    return tuple(outlets)


def _make_person(
    rng: random.Random, role: str, outlet: str, domain: str, phones: PhoneBook, taken: set[str]
) -> Person:
    while True:
        female = rng.random() < 0.5
        first = rng.choice(_FIRST_F if female else _FIRST_M)
        stem = rng.choice(_SURNAMES)
        ending = "" if stem.endswith("ev") else "ov"
        surname = stem + ending + ("a" if female else "")
        name = f"{first} {surname}"
        if name not in taken:
            taken.add(name)
            break
    city, region = rng.choice(_CITIES)
    # Editors and owners often have a second, personal number; both are watched.
    second = (phones.fresh(),) if role != "journalist" and rng.random() < 0.4 else ()
    numbers = (phones.fresh(), *second)
    login = f"{first[0]}.{surname}".lower()
    return Person(
        name=name,
        role=role,
        outlet=outlet,
        phones=numbers,
        emails=(f"{login}@{domain}",),
        iins=(make_iin(rng, female),),
        addresses=(
            f"{city}, {rng.choice(_STREETS)} {rng.randint(1, 180)}, кв. {rng.randint(1, 240)}",
        ),
        plates=(_plate(rng, region),),
        handles=(f"{first}_{surname}".lower(),),
        calls_per_hour={"editor": 5.0, "owner": 3.0}.get(role, rng.uniform(1.5, 4.0)),
    )


def _plate(rng: random.Random, region: str) -> str:
    letters = "".join(rng.choice(_PLATE_LETTERS) for _ in range(3))
    return f"{rng.randint(1, 999):03d} {letters} {region}"
