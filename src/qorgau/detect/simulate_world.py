"""The simulated world: outlets, people, their contacts, a clock, and the builders of observations.

Ordinary traffic and injected campaigns both write through ``World`` so that they share one
random stream (a seed reproduces everything), one id sequence and one set of phone numbers (a
stranger's number never collides with a protected one by accident)."""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import phonenumbers

from qorgau.detect.model import Observation
from qorgau.detect.simulate_people import Outlet, Person, PhoneBook

# Kazakhstan has kept one time zone, UTC+5, since March 2024; daily rhythms follow it.
LOCAL = timezone(timedelta(hours=5))

# Share of a weekday's busiest hour, by local hour of the day: asleep at night, busiest in the
# afternoon when editors chase stories.
_HOURLY = (
    0.06, 0.04, 0.03, 0.03, 0.03, 0.05, 0.12, 0.3, 0.6, 0.85, 0.95, 1.0,
    0.9, 0.9, 1.0, 1.0, 0.95, 0.85, 0.7, 0.55, 0.45, 0.35, 0.22, 0.12,
)  # fmt: skip
_WEEKEND = 0.45
_URL = re.compile(r"https?://\S+")
_SMS_ORDINARY = (
    "Перезвони, пожалуйста",
    "Буду через 10 минут",
    "Созвонимся завтра",
    "Спасибо!",
    "Материал уже вышел?",
    "Қоңырау шалыңызшы",
    "Рақмет!",
    "Ок",
    "Can you call me back?",
    "Встреча переносится на 15:00",
)


def activity(when: datetime) -> float:
    """How busy people are at ``when``, as a share of a weekday's busiest hour."""
    local = when.astimezone(LOCAL)
    share = _HOURLY[local.hour]
    return share * _WEEKEND if local.weekday() >= 5 else share


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (the standard library has none); normal approximation for large means."""
    if mean <= 0:
        return 0
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


@dataclass
class Contacts:
    """Who usually calls a person: a few often, many rarely, as in any phone's call log."""

    numbers: list[str]
    weights: list[float]
    handles: list[str]


@dataclass
class World:
    rng: random.Random
    start: datetime
    end: datetime
    outlets: tuple[Outlet, ...]
    phones: PhoneBook
    accounts: list[str]
    contacts: dict[str, Contacts] = field(default_factory=dict)
    observations: list[Observation] = field(default_factory=list)
    _counters: dict[str, int] = field(default_factory=dict)

    @property
    def people(self) -> tuple[Person, ...]:
        return tuple(p for o in self.outlets for p in o.people)

    def person(self, name: str) -> Person:
        for p in self.people:
            if p.name == name:
                return p
        raise KeyError(name)

    def outlet_of(self, person: Person) -> Outlet:
        return next(o for o in self.outlets if o.name == person.outlet)

    def new_id(self, source: str, prefix: str) -> str:
        n = self._counters.get(source, 0) + 1
        self._counters[source] = n
        return f"{source}:{prefix}{n:07d}"

    def times(
        self, start: datetime, end: datetime, per_hour: Callable[[datetime], float], step: int
    ) -> Iterator[datetime]:
        """Event times of a Poisson process whose rate is constant within each ``step`` seconds."""
        at = max(start, self.start)
        stop = min(end, self.end)
        while at < stop:
            chunk = min(timedelta(seconds=step), stop - at)
            seconds = chunk.total_seconds()
            n = poisson(self.rng, per_hour(at) * seconds / 3600)
            for offset in sorted(self.rng.uniform(0, seconds) for _ in range(n)):
                yield (at + timedelta(seconds=offset)).replace(microsecond=0)
            at += chunk

    def within(self, when: datetime) -> bool:
        return self.start <= when < self.end

    # --- builders --------------------------------------------------------------------------

    def call(self, when: datetime, caller: str, to: str, answered: bool = True) -> Observation:
        return self._add(
            Observation(
                id=self.new_id("sim-phone", "c"),
                source="sim-phone",
                platform="phone",
                time=when,
                kind="call",
                account=caller,
                recipients=(to,),
                extra={"duration_seconds": self.rng.randint(20, 600) if answered else 0},
            )
        )

    def sms(self, when: datetime, sender: str, to: str, text: str = "") -> Observation:
        return self._add(
            Observation(
                id=self.new_id("sim-phone", "s"),
                source="sim-phone",
                platform="phone",
                time=when,
                kind="sms",
                account=sender,
                text=text or self.rng.choice(_SMS_ORDINARY),
                recipients=(to,),
            )
        )

    def message(self, when: datetime, sender: str, to_handle: str, text: str) -> Observation:
        return self._add(
            Observation(
                id=self.new_id("sim-telegram", "m"),
                source="sim-telegram",
                platform="telegram",
                time=when,
                kind="message",
                account=sender,
                text=text,
                recipients=(to_handle,),
            )
        )

    def post(self, when: datetime, account: str, text: str, lang: str) -> Observation:
        platform = self.rng.choice(("x", "telegram", "facebook", "instagram"))
        source = f"sim-{platform}"
        return self._add(
            Observation(
                id=self.new_id(source, "p"),
                source=source,
                platform=platform,
                time=when,
                kind="post",
                account=account,
                text=text,
                lang=lang,
                urls=tuple(_URL.findall(text)),
            )
        )

    def ad(
        self, when: datetime, seller: str, text: str, lang: str, site: str | None = None
    ) -> Observation:
        site = site or self.rng.choice(("market.example", "bazar.example"))
        source = "sim-" + site.split(".", 1)[0]
        return self._add(
            Observation(
                id=self.new_id(source, "a"),
                source=source,
                platform=site,
                time=when,
                kind="ad",
                account=seller,
                text=text,
                lang=lang,
                urls=tuple(_URL.findall(text)),
                phones=plainly_written_phones(text),
            )
        )

    def _add(self, obs: Observation) -> Observation:
        self.observations.append(obs)
        return obs

    # --- who is on the other end -----------------------------------------------------------

    def contacts_of(self, person: Person) -> Contacts:
        found = self.contacts.get(person.name)
        if found is None:
            size = self.rng.randint(25, 60)
            numbers = [self.phones.fresh() for _ in range(size)]
            weights = [1.0 / (i + 1) ** 0.8 for i in range(size)]
            handles = self.rng.sample(self.accounts, min(20, len(self.accounts)))
            found = self.contacts[person.name] = Contacts(numbers, weights, handles)
        return found

    def usual_caller(self, person: Person, new_share: float = 0.08) -> str:
        if self.rng.random() < new_share:
            return self.phones.fresh()
        book = self.contacts_of(person)
        return self.rng.choices(book.numbers, book.weights)[0]

    def dialled(self, person: Person) -> str:
        """Which of the person's numbers a contact rings: mostly the first, the work phone."""
        if len(person.phones) > 1 and self.rng.random() < 0.2:
            return person.phones[1]
        return person.phones[0]

    def pick(self, items: Sequence[str]) -> str:
        return self.rng.choice(items)


def plainly_written_phones(text: str) -> tuple[str, ...]:
    """The numbers an ordinary import finds in a text: the ones a phone-number parser
    recognises as written. Disguised numbers are left for the identifier detector to see."""
    found: list[str] = []
    for match in phonenumbers.PhoneNumberMatcher(text, "KZ"):
        e164 = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
        if e164 not in found:
            found.append(e164)
    return tuple(found)


def local_time(day_start: datetime, hour: int, minute: int = 0) -> datetime:
    """``hour:minute`` local time on the local day containing ``day_start``, in UTC."""
    local = day_start.astimezone(LOCAL).replace(hour=hour, minute=minute, second=0, microsecond=0)
    return local.astimezone(UTC)


def to_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value
