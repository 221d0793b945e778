"""The on-call roster: who is on duty when, in which languages, at which tier.

A critical case at 3 a.m. must reach a person, in a language the reporter speaks. The roster is
weekly recurring shifts in the organisation's time zone plus one-off cover (holidays, swaps).
``on_duty`` never answers "nobody": if no one matches the language it widens to anyone on duty
at that tier, then to the next tier, then to every coordinator — and says which fallback it took,
so the desk can see that its roster has a hole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, Field, field_validator, model_validator

from qorgau.errors import FieldProblem, InvalidInput
from qorgau.response.documents import LANGUAGES, Strict, parse

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
END_OF_DAY = "24:00"  # a shift may end at midnight: "00:00"-"24:00" is the whole day


class Tier(StrEnum):
    RESPONDER = "responder"
    COORDINATOR = "coordinator"


def _hhmm(v: str) -> str:
    if not _HHMM.match(v):
        raise ValueError(
            f"{v!r} is not a time of day; write HH:MM, 24-hour (a shift may end at 24:00)"
        )
    return v


def _clock(v: str) -> time:
    h, m = v.split(":")
    return time(int(h), int(m))


class Shift(Strict):
    """Every week on ``days`` from ``from_`` to ``to`` (a shift may run past midnight)."""

    user: str
    tier: Tier = Tier.RESPONDER
    languages: tuple[str, ...] = Field(min_length=1)
    days: tuple[str, ...] = Field(min_length=1)
    from_: str = Field(alias="from")
    to: str

    @field_validator("from_")
    @classmethod
    def _start(cls, v: str) -> str:
        return _hhmm(v)

    @field_validator("to")
    @classmethod
    def _end(cls, v: str) -> str:
        return v if v == END_OF_DAY else _hhmm(v)

    @field_validator("languages")
    @classmethod
    def _langs(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [x for x in v if x not in LANGUAGES]
        if bad:
            raise ValueError(f"unknown language {bad[0]!r}; use {', '.join(LANGUAGES)}")
        return v

    @field_validator("days")
    @classmethod
    def _days(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [x for x in v if x not in DAYS]
        if bad:
            raise ValueError(f"unknown day {bad[0]!r}; use {', '.join(DAYS)}")
        return v

    @model_validator(mode="after")
    def _not_empty(self) -> Shift:
        if self.from_ == self.to:
            raise ValueError("a shift cannot start and end at the same time")
        return self

    def covers(self, local: datetime) -> bool:
        t, day = local.time(), DAYS[local.weekday()]
        start = _clock(self.from_)
        if self.to == END_OF_DAY:
            return day in self.days and t >= start
        end = _clock(self.to)
        if start < end:
            return day in self.days and start <= t < end
        # Overnight: belongs to the day it starts on.
        yesterday = DAYS[(local.weekday() - 1) % 7]
        return (day in self.days and t >= start) or (yesterday in self.days and t < end)


class Cover(Strict):
    """One-off duty between two instants (holiday cover, a swap, an election-day surge)."""

    user: str
    tier: Tier = Tier.RESPONDER
    languages: tuple[str, ...] = Field(min_length=1)
    start: AwareDatetime
    end: AwareDatetime

    @field_validator("languages")
    @classmethod
    def _langs(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return Shift._langs(v)

    @model_validator(mode="after")
    def _order(self) -> Cover:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class Roster(Strict):
    timezone: str = "Asia/Almaty"
    shift: tuple[Shift, ...] = ()
    cover: tuple[Cover, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {v!r}; use an IANA name such as Asia/Almaty"
            ) from None
        return v

    def usernames(self) -> set[str]:
        return {s.user for s in self.shift} | {c.user for c in self.cover}


@dataclass(frozen=True)
class Duty:
    usernames: tuple[str, ...]
    tier: Tier
    fallback: str | None  # None, "any_language", "next_tier", "all_coordinators"


def parse_roster(data: dict[str, Any], users: dict[str, str]) -> Roster:
    """Validate the schema, then that every user exists, is active and fits the tier.

    ``users`` maps active usernames to roles.
    """
    roster = parse(Roster, data)
    problems: list[FieldProblem] = []
    sections: tuple[tuple[str, tuple[Shift | Cover, ...]], ...] = (
        ("shift", roster.shift),
        ("cover", roster.cover),
    )
    for section, entries in sections:
        for i, e in enumerate(entries):
            role = users.get(e.user)
            if role is None:
                problems.append(
                    FieldProblem(
                        f"{section}[{i}].user", "unknown_user", f"no active user {e.user!r}"
                    )
                )
            elif role not in _TIER_ROLES[e.tier]:
                problems.append(
                    FieldProblem(
                        f"{section}[{i}].tier",
                        "role",
                        f"{e.user} is a {role} and cannot be on the {e.tier} tier",
                    )
                )
    if problems:
        raise InvalidInput(problems)
    return roster


_TIER_ROLES = {
    Tier.RESPONDER: {"responder", "coordinator", "admin"},
    Tier.COORDINATOR: {"coordinator", "admin"},
}


def _on(roster: Roster, at: datetime, tier: Tier, language: str | None) -> list[str]:
    local = at.astimezone(ZoneInfo(roster.timezone))
    found: list[str] = []
    for s in roster.shift:
        if s.tier is tier and (language is None or language in s.languages) and s.covers(local):
            found.append(s.user)
    for c in roster.cover:
        if (
            c.tier is tier
            and (language is None or language in c.languages)
            and c.start <= at < c.end
        ):
            found.append(c.user)
    return list(dict.fromkeys(found))


def on_duty(
    roster: Roster,
    at: datetime,
    *,
    tier: Tier,
    language: str | None,
    coordinators: list[str],
) -> Duty:
    """Who to page now. ``coordinators`` is the last resort: every active coordinator."""
    found = _on(roster, at, tier, language)
    if found:
        return Duty(tuple(found), tier, None)
    if language is not None:
        found = _on(roster, at, tier, None)
        if found:
            return Duty(tuple(found), tier, "any_language")
    if tier is Tier.RESPONDER:
        found = _on(roster, at, Tier.COORDINATOR, None)
        if found:
            return Duty(tuple(found), Tier.COORDINATOR, "next_tier")
    return Duty(tuple(coordinators), Tier.COORDINATOR, "all_coordinators")
