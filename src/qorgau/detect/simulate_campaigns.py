"""Attacks (and look-alikes of attacks) injected into simulated traffic, with their ground truth.

One small function per kind, registered in ``CAMPAIGNS``: adding coordinated posting,
impersonation or threats is adding a function and a line. Each function writes its observations
through the ``World`` and returns a ``Truth`` saying what it injected, where, when, and whether a
detector *should* flag it: the decoys and the busy day are there to be left alone."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from qorgau.detect import simulate_text as texts
from qorgau.detect.simulate_world import LOCAL, World, activity, local_time, to_json


@dataclass(frozen=True)
class CampaignPlan:
    kind: str
    at: datetime  # aware
    people: tuple[str, ...]  # watchlist names
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Truth:
    id: str
    kind: str
    people: tuple[str, ...]
    group: str
    start: datetime
    end: datetime
    should_flag: bool
    observation_ids: tuple[str, ...]
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "people": list(self.people),
            "group": self.group,
            "start": to_json(self.start),
            "end": to_json(self.end),
            "should_flag": self.should_flag,
            "observation_ids": list(self.observation_ids),
            "details": dict(self.details),
        }


Campaign = Callable[[World, CampaignPlan, str], Truth]


def planted_identifiers(world: World, plan: CampaignPlan, truth_id: str) -> Truth:
    """Fake ads carrying the people's numbers in disguised formats, as in the Orda.kz case."""
    per_person = int(plan.params.get("ads_per_person", 8))
    spread = timedelta(minutes=float(plan.params.get("spread_minutes", 50)))
    styles = list(texts.OBFUSCATIONS)
    sellers = [f"seller{world.rng.randrange(10**6):06d}" for _ in range(3)]
    ids: list[str] = []
    ads: list[dict[str, Any]] = []
    for name in plan.people:
        person = world.person(name)
        offset = world.rng.randrange(len(styles))
        for i in range(per_person):
            style = styles[(offset + i) % len(styles)]
            phone = person.phones[0]
            when = plan.at + spread * world.rng.random()
            text, lang = texts.planted_ad(world.rng, texts.disguised_phone(world.rng, phone, style))
            obs = world.ad(when.replace(microsecond=0), world.pick(sellers), text, lang)
            ids.append(obs.id)
            ads.append({"observation_id": obs.id, "person": name, "phone": phone, "style": style})
    return _truth(world, plan, truth_id, plan.at + spread, True, ids, {"ads": ads})


def decoy_identifiers(world: World, plan: CampaignPlan, truth_id: str) -> Truth:
    """Ordinary ads whose number is one digit away from a protected person's: not a leak."""
    count = int(plan.params.get("ads", 3))
    ids: list[str] = []
    decoys: list[dict[str, Any]] = []
    for name in plan.people:
        person = world.person(name)
        for _ in range(count):
            number = texts.one_digit_off(world.rng, person.phones[0])
            while not world.phones.reserve(number):
                number = texts.one_digit_off(world.rng, person.phones[0])
            when = plan.at + timedelta(hours=world.rng.uniform(0, 12))
            text, lang = texts.ordinary_ad(world.rng, texts.plain_phone(world.rng, number))
            seller = f"seller{world.rng.randrange(10**6):06d}"
            obs = world.ad(when.replace(microsecond=0), seller, text, lang)
            ids.append(obs.id)
            decoys.append({"observation_id": obs.id, "number": number, "resembles": name})
    return _truth(world, plan, truth_id, plan.at + timedelta(hours=12), False, ids, {"ads": decoys})


def flood(world: World, plan: CampaignPlan, truth_id: str) -> Truth:
    """Strangers calling and texting a person whose number was planted: a jump, for hours."""
    person = world.person(plan.people[0])
    hours = float(plan.params.get("duration_hours", 6))
    calls = float(plan.params.get("calls_per_hour", 120))
    texts_per_hour = float(plan.params.get("sms_per_hour", calls / 3))
    ramp = float(plan.params.get("ramp_minutes", 2)) * 60
    end = (plan.at + timedelta(hours=hours)).replace(microsecond=0)
    callers: list[str] = []

    def rate(base: float) -> Callable[[datetime], float]:
        return lambda when: base * min(1.0, ((when - plan.at).total_seconds() + 30) / ramp)

    def stranger() -> str:
        # Nearly everyone answering an ad is a new caller; the few who try again do so later,
        # after their first call went unanswered.
        if len(callers) < 10 or world.rng.random() < 0.85:
            callers.append(world.phones.fresh())
            return callers[-1]
        return world.pick(callers[:-8])

    ids = [
        world.call(when, stranger(), person.phones[0], answered=world.rng.random() < 0.5).id
        for when in world.times(plan.at, end, rate(calls), 60)
    ]
    ids += [
        world.sms(when, stranger(), person.phones[0], _ad_reply(world.rng)).id
        for when in world.times(plan.at, end, rate(texts_per_hour), 60)
    ]
    details = {
        "channels": ["calls", "sms"],
        "calls_per_hour": calls,
        "sms_per_hour": texts_per_hour,
        "phone": person.phones[0],
        "distinct_callers": len(callers),
    }
    return _truth(world, plan, truth_id, end, True, ids, details)


def busy_day(world: World, plan: CampaignPlan, truth_id: str) -> Truth:
    """A big news day: everyone at the outlet gets ``multiplier`` times their usual calls and
    texts from their usual contacts during working hours. A flood detector must stay quiet."""
    multiplier = float(plan.params.get("multiplier", 2.0))
    start = local_time(plan.at, 9)
    end = local_time(plan.at, 19)
    ids: list[str] = []
    for name in plan.people:
        person = world.person(name)
        extra = (multiplier - 1.0) * person.calls_per_hour
        for when in world.times(start, end, _seasonal(extra), 600):
            ids.append(world.call(when, world.usual_caller(person), world.dialled(person)).id)
        for when in world.times(start, end, _seasonal(0.35 * extra), 600):
            ids.append(world.sms(when, world.usual_caller(person), world.dialled(person)).id)
    return _truth(world, plan, truth_id, end, False, ids, {"multiplier": multiplier}, start)


def _seasonal(peak: float) -> Callable[[datetime], float]:
    return lambda when: peak * activity(when)


CAMPAIGNS: dict[str, Campaign] = {
    "planted_identifiers": planted_identifiers,
    "decoy_identifiers": decoy_identifiers,
    "flood": flood,
    "busy_day": busy_day,
}


def _truth(
    world: World,
    plan: CampaignPlan,
    truth_id: str,
    end: datetime,
    should_flag: bool,
    ids: list[str],
    details: Mapping[str, Any],
    start: datetime | None = None,
) -> Truth:
    group = world.person(plan.people[0]).outlet if plan.people else ""
    return Truth(
        id=truth_id,
        kind=plan.kind,
        people=plan.people,
        group=group,
        start=start or plan.at,
        end=min(end, world.end),
        should_flag=should_flag,
        observation_ids=tuple(ids),
        details=details,
    )


def _ad_reply(rng: random.Random) -> str:
    return rng.choice(
        (
            "Здравствуйте, по объявлению. Ещё продаёте?",
            "Трактор ещё есть?",
            "Сколько стоит? Торг будет?",
            "Можно посмотреть сегодня?",
            "Сәлеметсіз бе, хабарландыру бойынша",
            "Почему не берёте трубку?",
            "Перезвоните по объявлению",
        )
    )


def default_plan(world: World, days: int) -> list[CampaignPlan]:
    """The shared demo week for the first outlet (ads on day one at 18:00 local, the flood at
    18:40), and one random attack a week on each other outlet, at any hour, night included;
    every outlet also gets a busy news day and a few decoy ads each week."""
    rng = world.rng
    plans: list[CampaignPlan] = []
    for week in range((days + 6) // 7):
        first_day = week * 7
        last_day = min(days, first_day + 7) - 1
        for index, outlet in enumerate(world.outlets):
            names = [p.name for p in outlet.people]
            editor, owner = names[0], names[1]
            if week == 0 and index == 0:
                day = _day(world, 0)
                plans.append(
                    CampaignPlan("planted_identifiers", local_time(day, 18), (editor, owner))
                )
                plans.append(CampaignPlan("flood", local_time(day, 18, 40), (editor,)))
            elif last_day >= max(first_day, 1):
                day = _day(world, rng.randint(max(first_day, 1), last_day))
                at = local_time(day, rng.randrange(24), rng.randrange(60))
                target = rng.choice(names)
                plans.append(CampaignPlan("planted_identifiers", at, (target,)))
                params = {
                    "duration_hours": rng.uniform(2, 8),
                    "calls_per_hour": rng.uniform(60, 150),
                }
                plans.append(
                    CampaignPlan(
                        "flood", at + timedelta(minutes=rng.randint(20, 60)), (target,), params
                    )
                )
            weekdays = [
                d
                for d in range(max(first_day, 1), last_day + 1)
                if _day(world, d).astimezone(LOCAL).weekday() < 5
            ]
            if weekdays:
                busy = _day(world, rng.choice(weekdays))
                plans.append(CampaignPlan("busy_day", busy, tuple(names)))
            decoy_day = _day(world, rng.randint(first_day, last_day))
            plans.append(
                CampaignPlan(
                    "decoy_identifiers", local_time(decoy_day, rng.randint(8, 11)), (editor, owner)
                )
            )
    return plans


def _day(world: World, index: int) -> datetime:
    """Noon (local) of the ``index``-th simulated day: a safe anchor for ``local_time``."""
    return local_time(world.start + timedelta(days=index), 12)
