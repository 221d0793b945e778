"""Simulated traffic around independent outlets, with attacks injected and their ground truth.

Detectors are tuned and benchmarked on this instead of on real people's call logs and posts:
the numbers are made up, the domains are ``.example``, and — unlike real data — every attack is
labelled, so onset delays and false alarms can be measured. The ordinary traffic is shaped the
way real traffic is (busy weekday afternoons, quiet nights, redials, a few callers who call a
lot, a busy news day) because a detector that only ever saw flat random noise would look far
better than it is.

    sim = simulate(seed=1, start=datetime(2025, 3, 2, 19, tzinfo=UTC))  # Monday 00:00 UTC+5
    sim.write(folder)  # observations.jsonl, watchlist.json, truth.json

The attacks are listed as ``CampaignPlan``s (``default_plan`` when none are given) and built by
the functions in ``simulate_campaigns.CAMPAIGNS``."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from qorgau.detect import simulate_coordination
from qorgau.detect import simulate_text as texts
from qorgau.detect.model import Observation
from qorgau.detect.simulate_campaigns import CAMPAIGNS as _BASE_CAMPAIGNS
from qorgau.detect.simulate_campaigns import Campaign, CampaignPlan, Truth, default_plan
from qorgau.detect.simulate_people import Outlet, Person, PhoneBook, make_outlets
from qorgau.detect.simulate_world import World, activity, local_time, to_json

# Copy-paste campaigns and organic sharing live in their own module (they need the text
# folding of the near-duplicate detector); every kind is listed here.
CAMPAIGNS: dict[str, Campaign] = {
    **_BASE_CAMPAIGNS,
    "copypasta": simulate_coordination.copypasta,
    "organic_share": simulate_coordination.organic_share,
}

__all__ = ["CAMPAIGNS", "CampaignPlan", "Simulation", "Truth", "simulate"]

# Rates at a weekday's busiest hour; ``activity`` scales them through the day and week.
_POSTS_PER_OUTLET_HOUR = 40.0
_ADS_PER_OUTLET_HOUR = 8.0
_SMS_SHARE = 0.35  # texts per call
_MESSAGE_SHARE = 0.5  # direct messages per call
_MENTION_SHARE = 0.15  # posts mentioning the person per call
_REDIAL = 0.12  # chance that an unanswered call is tried again within minutes
_THREAD = 0.2  # chance that a text starts a short exchange


@dataclass(frozen=True)
class Simulation:
    seed: int
    start: datetime
    days: int
    outlets: tuple[Outlet, ...]
    observations: tuple[Observation, ...]  # in time order
    truth: tuple[Truth, ...]

    @property
    def people(self) -> tuple[Person, ...]:
        return tuple(p for o in self.outlets for p in o.people)

    def watchlist(self) -> dict[str, Any]:
        """The ``{"people": [...]}`` configuration the detectors read."""
        return {"people": [p.watchlist_entry() for p in self.people]}

    def registry(self) -> dict[str, Any]:
        """The registry of protected outlets and people (``qorgau registry import protected``):
        their verified accounts and domains, so impersonation detectors have something to
        protect."""
        entities: list[dict[str, Any]] = []
        for i, outlet in enumerate(self.outlets):
            outlet_id = f"outlet-{i + 1}"
            entities.append(
                {
                    "id": outlet_id,
                    "kind": "outlet",
                    "name": outlet.name,
                    "accounts": {"telegram": [outlet.handle]},
                    "domains": [outlet.domain],
                }
            )
            for j, person in enumerate(outlet.people):
                entry: dict[str, Any] = {
                    "id": f"{outlet_id}-person-{j + 1}",
                    "kind": "person",
                    "name": person.name,
                    "outlet": outlet_id,
                }
                if person.handles:
                    entry["accounts"] = {"telegram": list(person.handles)}
                entities.append(entry)
        return {"entities": entities}

    def truth_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "start": to_json(self.start),
            "days": self.days,
            "outlets": [
                {"name": o.name, "domain": o.domain, "handle": o.handle} for o in self.outlets
            ],
            "campaigns": [c.to_json() for c in self.truth],
        }

    def write(self, folder: str | Path) -> Path:
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        with (out / "observations.jsonl").open("w", encoding="utf-8") as fh:
            for obs in self.observations:
                fh.write(json.dumps(obs.to_json(), ensure_ascii=False) + "\n")
        for name, data in (
            ("watchlist.json", self.watchlist()),
            ("registry.json", self.registry()),
            ("truth.json", self.truth_json()),
        ):
            (out / name).write_text(
                json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
            )
        return out


def simulate(
    seed: int,
    start: datetime,
    days: int = 7,
    outlets: int = 3,
    *,
    plan: Sequence[CampaignPlan] | None = None,
    accounts: int = 400,
) -> Simulation:
    """Traffic for ``days`` days from ``start`` (aware) around ``outlets`` outlets.

    ``plan`` replaces the default attacks (``default_plan``); pass ``[]`` for ordinary traffic
    only. The same arguments always give the same simulation."""
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("start must carry a time zone")
    if days < 1 or outlets < 1:
        raise ValueError("days and outlets must be at least 1")
    rng = random.Random(seed)
    phones = PhoneBook(rng)
    world = World(
        rng=rng,
        start=start,
        end=start + timedelta(days=days),
        outlets=make_outlets(rng, outlets, phones),
        phones=phones,
        accounts=[_account_name(rng, i) for i in range(accounts)],
    )
    for person in world.people:
        _person_traffic(world, person)
    for outlet in world.outlets:
        _public_traffic(world, outlet)
    if plan is None:
        # Coordination comes last, so the other campaigns are drawn exactly as before it existed.
        campaigns = default_plan(world, days) + coordination_plan(world, days)
    else:
        campaigns = list(plan)
    truth: list[Truth] = []
    for i, campaign in enumerate(campaigns, 1):
        build = CAMPAIGNS.get(campaign.kind)
        if build is None:
            raise ValueError(f"unknown campaign kind {campaign.kind!r}; known: {sorted(CAMPAIGNS)}")
        truth.append(build(world, campaign, f"c{i}"))
    observations = sorted(
        (o for o in world.observations if world.within(o.time)), key=lambda o: (o.time, o.id)
    )
    kept = {o.id for o in observations}
    truth = [_only_kept(c, kept) for c in truth]
    return Simulation(seed, start, days, world.outlets, tuple(observations), tuple(truth))


def coordination_plan(world: World, days: int) -> list[CampaignPlan]:
    """A fake statement in the first outlet's editor's name copied by a ring of accounts on
    the second day (the Orda week's fake "invitation"), and a news link shared organically by
    many readers the same day: the first must be flagged, the second must not."""
    day = world.start + timedelta(days=min(1, days - 1), hours=12)
    editor = world.outlets[0].people[0].name
    return [
        CampaignPlan("copypasta", local_time(day, 11, 20), (editor,)),
        CampaignPlan("organic_share", local_time(day, 9), (editor,)),
    ]


def _person_traffic(world: World, person: Person) -> None:
    """A protected person's ordinary calls, texts, direct messages and mentions."""
    rng = world.rng
    base = person.calls_per_hour
    for when in world.times(world.start, world.end, lambda w: base * activity(w), 3600):
        caller = world.usual_caller(person)
        to = world.dialled(person)
        answered = rng.random() < 0.7
        world.call(when, caller, to, answered)
        if not answered and rng.random() < _REDIAL / 0.3:
            for k in range(rng.randint(1, 2)):
                world.call(when + timedelta(minutes=rng.uniform(1, 5) * (k + 1)), caller, to)
    for when in world.times(
        world.start, world.end, lambda w: _SMS_SHARE * base * activity(w), 3600
    ):
        sender = world.usual_caller(person)
        world.sms(when, sender, person.phones[0])
        if rng.random() < _THREAD:
            for k in range(rng.randint(1, 3)):
                world.sms(
                    when + timedelta(minutes=rng.uniform(0.5, 3) * (k + 1)),
                    sender,
                    person.phones[0],
                )
    book = world.contacts_of(person)
    handle = person.handles[0]
    for when in world.times(
        world.start, world.end, lambda w: _MESSAGE_SHARE * base * activity(w), 3600
    ):
        text, _ = texts.post_text(rng, person.outlet, "")
        world.message(when, rng.choice(book.handles), handle, text)
    for when in world.times(
        world.start, world.end, lambda w: _MENTION_SHARE * base * activity(w), 3600
    ):
        text, lang = texts.post_text(rng, person.outlet, "@" + handle)
        world.post(when, rng.choice(world.accounts), text, lang)


def _public_traffic(world: World, outlet: Outlet) -> None:
    """Posts about the news and classified ads: the haystack the attacks hide in."""
    rng = world.rng
    for when in world.times(
        world.start, world.end, lambda w: _POSTS_PER_OUTLET_HOUR * activity(w), 3600
    ):
        mention = "@" + outlet.handle if rng.random() < 0.1 else ""
        text, lang = texts.post_text(rng, outlet.name, mention)
        world.post(when, rng.choice(world.accounts), text, lang)
    for when in world.times(
        world.start, world.end, lambda w: _ADS_PER_OUTLET_HOUR * (0.3 + activity(w)), 3600
    ):
        text, lang = texts.ordinary_ad(rng, texts.plain_phone(rng, world.phones.fresh()))
        world.ad(when, f"seller{rng.randrange(10**6):06d}", text, lang)


def _account_name(rng: random.Random, i: int) -> str:
    stem = rng.choice(("aru", "nurik", "dias", "kate", "almaty", "qazaq", "steppe", "tima", "olga"))
    return f"{stem}_{rng.choice(('kz', '88', '2000', 'official', 'x', '7'))}{i}"


def _only_kept(c: Truth, kept: set[str]) -> Truth:
    """A campaign may run past the end of the simulation; its truth lists what is in it."""
    ids = tuple(i for i in c.observation_ids if i in kept)
    if ids == c.observation_ids:
        return c
    return Truth(c.id, c.kind, c.people, c.group, c.start, c.end, c.should_flag, ids, c.details)
