"""Public and authenticated intake over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import concurrent.futures
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from qorgau.store.store import Store
from qorgau.store.tables import audit_events, incidents
from qorgau.web.app import create_app
from tests.conftest import Account

ORDA_ADS: dict[str, Any] = {
    "title": "Fake classified ads with the editor's phone number",
    "description": "Ads 'selling equipment and animals' list the editor's mobile; calls all night.",
    "attack_types": ["phone_flooding", "doxxing"],
    "platform": "classifieds",
    "region": "almaty_city",
    "ongoing": True,
    "targets": [
        {"kind": "person", "name": "Editor-in-chief"},
        {"kind": "phone_number", "name": "editor's mobile", "identifier": "+7 700 000 0101"},
        {"kind": "outlet", "name": "Orda.kz"},
    ],
    "reporter": {"name": "Newsroom security lead", "email": "security@orda.example"},
}


def count(store: Store, table: sa.Table = incidents) -> int:
    with store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_anonymous_report_is_stored_with_a_receipt_that_tracks_it(
    client: TestClient, store: Store
) -> None:
    r = client.post("/api/v1/reports", json=ORDA_ADS)
    assert r.status_code == 201, r.text
    ack = r.json()
    assert ack["public_id"].startswith("QG-") and ack["receipt_code"]
    assert r.headers["location"] == f"/api/v1/incidents/{ack['public_id']}"
    t = client.post("/api/v1/reports/track", json={"receipt_code": ack["receipt_code"].lower()})
    assert t.status_code == 200
    assert t.json()["status"] == "new" and t.json()["public_id"] == ack["public_id"]
    assert (
        client.post(
            "/api/v1/reports/track", json={"receipt_code": "AAAAA-BBBBB-CCCCC-DDDDD"}
        ).status_code
        == 404
    )
    with store.read() as conn:
        tags = conn.execute(sa.select(audit_events.c.tag, audit_events.c.actor_name)).all()
    assert [tuple(t) for t in tags] == [("incident:reported", "anonymous")]


def test_same_idempotency_key_returns_the_first_result_never_a_second_incident(
    client: TestClient, store: Store
) -> None:
    headers = {"Idempotency-Key": "3f1c0b2e-report-1"}
    first = client.post("/api/v1/reports", json=ORDA_ADS, headers=headers)
    again = client.post("/api/v1/reports", json=ORDA_ADS, headers=headers)
    assert first.status_code == 201 and again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["public_id"] == first.json()["public_id"]
    assert again.json()["receipt_code"] == first.json()["receipt_code"]
    assert count(store) == 1
    changed = dict(ORDA_ADS, title="Something else")
    conflict = client.post("/api/v1/reports", json=changed, headers=headers)
    assert conflict.status_code == 409
    assert count(store) == 1


def test_concurrent_duplicates_with_one_key_make_one_incident(
    client: TestClient, store: Store
) -> None:
    headers = {"Idempotency-Key": "burst-key"}
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(
                lambda _: client.post("/api/v1/reports", json=ORDA_ADS, headers=headers), range(16)
            )
        )
    assert {r.status_code for r in results} <= {200, 201}
    assert sum(r.status_code == 201 for r in results) == 1
    assert len({r.json()["public_id"] for r in results}) == 1
    assert count(store) == 1


def test_many_concurrent_reports_are_all_stored_once(store: Store) -> None:
    # 120 reports from one address is over the per-address intake limit: lift it here.
    unlimited = store.settings.with_overrides(intake_rate_per_minute=0)

    def send(client: TestClient, i: int) -> str:
        body = dict(ORDA_ADS, title=f"report {i}")
        r = client.post("/api/v1/reports", json=body, headers={"Idempotency-Key": f"k{i}"})
        assert r.status_code == 201, r.text
        return str(r.json()["public_id"])

    with (
        TestClient(create_app(unlimited, store)) as client,
        concurrent.futures.ThreadPoolExecutor(16) as pool,
    ):
        ids = list(pool.map(lambda i: send(client, i), range(120)))
    assert len(set(ids)) == 120
    assert count(store) == 120
    assert count(store, audit_events) == 120


def test_signed_in_reporter_is_recorded_as_the_reporter(
    client: TestClient, accounts: dict[str, Account]
) -> None:
    rep = accounts["reporter"]
    r = client.post("/api/v1/reports", json=ORDA_ADS, headers=rep.headers)
    assert r.status_code == 201
    assert r.json()["receipt_code"] is None  # an account follows its reports itself
    mine = client.get("/api/v1/incidents", headers=rep.headers).json()
    assert [i["public_id"] for i in mine["items"]] == [r.json()["public_id"]]
    assert mine["items"][0]["reporter"]["email"] == "security@orda.example"


def test_public_cannot_backdate_but_staff_can(
    client: TestClient, accounts: dict[str, Account]
) -> None:
    old = dict(ORDA_ADS, reported_at="2021-01-10T06:00:00Z", started_at="2021-01-10T05:00:00Z")
    anon = client.post("/api/v1/reports", json=old).json()["public_id"]
    staff = client.post("/api/v1/reports", json=old, headers=accounts["responder"].headers).json()[
        "public_id"
    ]
    h = accounts["coordinator"].headers
    assert client.get(f"/api/v1/incidents/{anon}", headers=h).json()["reported_at"] > "2025"
    assert (
        client.get(f"/api/v1/incidents/{staff}", headers=h)
        .json()["reported_at"]
        .startswith("2021-01-10T06:00:00")
    )
