"""Monday of the Orda.kz week through the embedded pipeline, on SQLite and PostgreSQL: a week
of ordinary calls, then fake ads carrying the editor's and the owner's numbers in many formats
(and one ad with a number one digit off), then a wall of calls from new numbers.

Expected: one "planted identifiers" case for the two people, live (playbook tasks and clocks),
every matching ad in the vault with it; the flood found, linked to that case rather than
opening another; importing everything again changes nothing; later ads grow the same case."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import sqlalchemy as sa

from qorgau.desk import CaseDesk
from qorgau.detect.model import Observation
from qorgau.observation_desk import ObservationDesk
from qorgau.store.store import Store
from qorgau.store.tables import (
    case_tasks,
    deliveries,
    finding_observations,
    findings,
    incident_attack_types,
    incidents,
    notes,
    observations,
    vault_items,
)

EDITOR = "+77015550101"
OWNER = "+77055550202"
EDITOR_FORMATS = [
    "8 (701) 555-01-01",
    "+7 701 5550101",
    "87015550101",
    "7О1 555 О1 О1",  # Cyrillic О in place of zeros
    "701 звоните 555 01 01",
    "8.701.555.01.01",
]
OWNER_FORMATS = ["8 705 555 02 02", "+7 (705) 555-02-02", "7055550202"]
ONE_OFF = "8 (701) 555-01-02"  # a real ad with someone else's number, one digit off


def _week(now: datetime) -> tuple[list[Observation], list[Observation], list[Observation]]:
    rng = random.Random(7)
    contacts = [f"+7702{rng.randrange(10**6, 10**7)}" for _ in range(30)]
    calls: list[Observation] = []
    start = now - timedelta(days=7)
    minute = 0
    while start + timedelta(minutes=minute) < now - timedelta(minutes=70):
        at = start + timedelta(minutes=minute)
        per_hour = 5 if 4 <= at.hour < 17 else 1  # Almaty daytime, in UTC
        if rng.random() < per_hour / 60:
            calls.append(
                Observation(
                    id=f"calls:{len(calls)}",
                    source="calls",
                    platform="phone",
                    kind=rng.choice(["call", "call", "sms"]),
                    time=at,
                    account=rng.choice(contacts),
                    recipients=(EDITOR,),
                )
            )
        minute += 1
    ad_time = now - timedelta(minutes=100)
    ads = [
        Observation(
            id=f"ads:{i}",
            source="ads",
            platform=site,
            kind="ad",
            time=ad_time + timedelta(minutes=i),
            text=f"Продаю коз и оборудование, недорого. Звоните {number}",
        )
        for i, (site, number) in enumerate(
            [("olx.example", n) for n in EDITOR_FORMATS]
            + [("krisha.example", n) for n in OWNER_FORMATS]
            + [("olx.example", ONE_OFF)]
        )
    ]
    flood_start = now - timedelta(minutes=60)
    flood = [
        Observation(
            id=f"calls:flood-{i}",
            source="calls",
            platform="phone",
            kind="call" if i % 3 else "sms",
            time=flood_start + timedelta(seconds=30 * i),
            account=f"+7747{1000000 + i * 37}",
            recipients=(EDITOR,),
        )
        for i in range(110)  # 120 an hour for 55 minutes
    ]
    return calls, ads, flood


def _watch(od: ObservationDesk, desk: CaseDesk) -> None:
    who = desk.system("test")
    od.watch(who, "Orda editor", "phone", "8 701 555 01 01", group="orda")
    od.watch(who, "Orda owner", "phone", "+7 705 555 02 02", group="orda")


def _count(store: Store, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
    with store.read() as conn:
        return int(
            conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()
        )


def _on_call(store: Store, desk: CaseDesk) -> int:
    """A responder on call around the clock; their user id."""
    from qorgau.domain.model import Role
    from qorgau.response_desk import ResponseDesk
    from tests.conftest import make_account

    duty = make_account(store, Role.RESPONDER, "duty-responder")
    every_day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    ResponseDesk(desk).save_document(
        desk.system("test"),
        "roster",
        {
            "timezone": "Asia/Almaty",
            "shift": [
                {
                    "user": "duty-responder",
                    "languages": ["kk", "ru", "en"],
                    "days": every_day,
                    "from": "00:00",
                    "to": "24:00",
                }
            ],
        },
        None,
    )
    assert duty.principal.user_id is not None
    return duty.principal.user_id


def test_monday_planted_numbers_and_the_flood_are_one_live_case(store: Store) -> None:
    desk = CaseDesk(store)
    od = ObservationDesk(desk)
    _watch(od, desk)
    responder = _on_call(store, desk)
    now = store.now()
    calls, ads, flood = _week(now)
    who = desk.system("test")

    od.ingest(who, calls)
    report = od.ingest(who, ads)
    assert report.new == len(ads)
    assert report.processed is not None
    assert len(report.processed.incidents_opened) == 1, "two people, one group: one case"
    public_id = report.processed.incidents_opened[0]
    with store.read() as conn:
        incident_id, severity = conn.execute(
            sa.select(incidents.c.id, incidents.c.severity).where(
                incidents.c.public_id == public_id
            )
        ).one()
        kinds = set(
            conn.execute(
                sa.select(incident_attack_types.c.attack_type).where(
                    incident_attack_types.c.incident_id == incident_id
                )
            ).scalars()
        )
        (leak,) = conn.execute(
            sa.select(findings.c.id, findings.c.observations, findings.c.incident_id).where(
                findings.c.detector == "leaked_identifiers"
            )
        ).all()
        flagged = set(
            conn.execute(
                sa.select(observations.c.obs_key)
                .join(
                    finding_observations, finding_observations.c.observation_id == observations.c.id
                )
                .where(finding_observations.c.finding_id == leak.id)
            ).scalars()
        )
    assert "phone_flooding" in kinds
    assert severity in ("high", "critical")
    assert flagged == {ob.id for ob in ads[:-1]}, "every format found; the one-off number not"
    assert leak.incident_id == incident_id
    # Live: the phone-flooding playbook's tasks are on the case.
    assert _count(store, case_tasks, case_tasks.c.incident_id == incident_id) > 0
    # Every flagged ad is evidence in the vault, with the case: a bundle per finding step,
    # each ad pointing at the bundle it is in.
    bundles = _count(
        store,
        vault_items,
        vault_items.c.incident_id == incident_id,
        vault_items.c.method == "observation",
    )
    assert 1 <= bundles <= len(ads) - 1
    filed = _count(
        store,
        finding_observations,
        finding_observations.c.finding_id == leak.id,
        finding_observations.c.vault_item_id.is_not(None),
    )
    assert filed == len(ads) - 1

    flood_report = od.ingest(who, flood)
    assert flood_report.processed is not None
    assert flood_report.processed.incidents_opened == [], "the flood joins the ads' case"
    with store.read() as conn:
        flood_rows = conn.execute(
            sa.select(findings.c.incident_id, findings.c.linked_finding_id).where(
                findings.c.detector == "floods"
            )
        ).all()
        case_notes = list(
            conn.execute(sa.select(notes.c.body_enc).where(notes.c.incident_id == incident_id))
        )
    assert flood_rows, "the flood was found"
    assert all(r.incident_id == incident_id and r.linked_finding_id == leak.id for r in flood_rows)
    assert case_notes, "the link is written on the case"
    # The on-call responder hears of the flood at once, not only of the ads before it.
    with store.read() as conn:
        events = conn.execute(
            sa.select(deliveries.c.event, deliveries.c.payload).where(
                deliveries.c.incident_id == incident_id,
                deliveries.c.user_id == responder,
            )
        ).all()
    assert [e for e, _ in events].count("incident.flood") == 1
    assert "incident.new" in [e for e, _ in events]

    before = {
        t.name: _count(store, t) for t in (findings, incidents, vault_items, finding_observations)
    }
    again = od.ingest(who, [*calls, *ads, *flood])
    assert again.new == 0 and again.already_known == len(calls) + len(ads) + len(flood)
    after = {
        t.name: _count(store, t) for t in (findings, incidents, vault_items, finding_observations)
    }
    assert after == before, "a re-import stores, finds and files nothing twice"

    later = [
        Observation(
            id="ads:later",
            source="ads",
            platform="olx.example",
            kind="ad",
            time=now - timedelta(minutes=5),
            text="Отдам щенков даром, тел. +7 701 555 01 01",
        )
    ]
    grown = od.ingest(who, later)
    assert grown.processed is not None
    assert grown.processed.incidents_opened == []
    assert incident_id in grown.processed.incidents_updated
    with store.read() as conn:
        size = conn.execute(
            sa.select(findings.c.observations).where(findings.c.id == leak.id)
        ).scalar_one()
    assert size == len(ads)  # the eight formats, the later ad; not the one-off number


def test_old_findings_are_recorded_without_waking_anyone(store: Store) -> None:
    """An archive from last year is history: a case, but no clocks and no tasks."""
    desk = CaseDesk(store)
    od = ObservationDesk(desk)
    _watch(od, desk)
    _, ads, _ = _week(datetime(2025, 6, 2, 13, 0, tzinfo=store.now().tzinfo))
    report = od.ingest(desk.system("test"), ads)
    assert report.processed is not None
    (public_id,) = report.processed.incidents_opened
    with store.read() as conn:
        incident_id = conn.execute(
            sa.select(incidents.c.id).where(incidents.c.public_id == public_id)
        ).scalar_one()
    assert _count(store, case_tasks, case_tasks.c.incident_id == incident_id) == 0


def test_a_lost_publish_strands_nothing(store: Store) -> None:
    """The broker is down when the ads arrive: they are stored, and the workers' sweep for old
    unprocessed rows finds them and opens the case."""

    def broker_down(org_id: int, rows: list[int]) -> int:
        raise ConnectionError("nats: no servers available for connection")

    desk = CaseDesk(store)
    od = ObservationDesk(desk, publisher=broker_down)
    _watch(od, desk)
    _, ads, _ = _week(store.now())
    report = od.ingest(desk.system("test"), ads)
    assert (report.new, report.published, report.processed) == (len(ads), 0, None)
    assert _count(store, observations, observations.c.processed_at.is_(None)) == len(ads)
    swept = od.process_stale(timedelta(0))
    assert swept.observations == len(ads)
    assert len(swept.incidents_opened) == 1
    assert _count(store, observations, observations.c.processed_at.is_(None)) == 0


def test_a_watchlist_change_reaches_a_desk_that_already_compiled_it(store: Store) -> None:
    """A worker compiles the watchlist once; a number added elsewhere (the API, another
    process) must still be found in the worker's next batch."""
    worker = ObservationDesk(CaseDesk(store))
    staff = ObservationDesk(CaseDesk(store))
    who = worker.cases.system("test")
    _watch(worker, worker.cases)
    ad_time = store.now()

    def ad(n: int, number: str) -> Observation:
        return Observation(
            id=f"ads:w{n}",
            source="ads",
            platform="olx.example",
            kind="ad",
            time=ad_time,
            text=f"Срочно продаю, звоните {number}",
        )

    worker.ingest(who, [ad(1, "8 701 555 01 01")])
    staff.watch(staff.cases.system("test"), "Reporter", "phone", "+7 747 555 03 03", "steppe")
    late = worker.ingest(who, [ad(2, "8 (747) 555-03-03")])
    assert late.processed is not None and len(late.processed.incidents_opened) == 1
