"""Observations over the API: a feed with its own token pushes batches; each item is answered
on its own (the valid ones stored, the invalid ones named with the reason), a retried batch
stores nothing twice, and what the detectors found is readable by staff."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from tests.conftest import Account

AD = {
    "id": "ad-1",
    "platform": "olx.example",
    "kind": "ad",
    "time": "2025-06-02T18:00:00+05:00",
    "text": "Продаю коз и оборудование. Звоните 8 (701) 555-01-01",
}
CALL = {
    "id": "call-1",
    "platform": "phone",
    "kind": "call",
    "account": "8 747 100 00 01",
    "recipients": ["+7 701 555 01 01"],
    "time": "2025-06-02T18:41:00+05:00",
}
BAD_TIME = {"id": "ad-2", "platform": "olx.example", "time": "yesterday", "text": "x"}
NO_ID = {"platform": "olx.example", "time": "2025-06-02T18:00:00Z", "text": "x"}


def _feed(client: TestClient, lead: dict[str, str]) -> dict[str, str]:
    r = client.post("/api/v1/observations/sources", json={"name": "ads-scraper"}, headers=lead)
    assert r.status_code == 201, r.text
    assert r.json()["token"].startswith("qgo_")
    return {"Authorization": f"Bearer {r.json()['token']}"}


def test_a_batch_stores_the_valid_items_reports_each_invalid_one_and_a_retry_adds_nothing(
    client: TestClient, accounts: dict[str, Account]
) -> None:
    lead = accounts["coordinator"].headers
    watched = client.post(
        "/api/v1/watchlist",
        json={"person": "Orda editor", "kind": "phone", "value": "+7 701 555 01 01"},
        headers=lead,
    )
    assert watched.json() == {"added": True}
    feed = _feed(client, lead)
    batch = {"items": [AD, BAD_TIME, "not an object", CALL, NO_ID]}

    first = client.post("/api/v1/observations", json=batch, headers=feed)
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["stored"], body["duplicate"], body["rejected"]) == (2, 0, 3)
    by_index = {i["index"]: i for i in body["items"]}
    assert by_index[0] == {"index": 0, "id": "ads-scraper:ad-1", "status": "stored", "reason": None}
    assert by_index[1]["status"] == "rejected" and "yesterday" in by_index[1]["reason"]
    assert by_index[2]["status"] == "rejected" and "object" in by_index[2]["reason"]
    assert by_index[4]["status"] == "rejected" and "id" in by_index[4]["reason"]
    assert len(body["incidents_opened"]) == 1

    again = client.post("/api/v1/observations", json=batch, headers=feed).json()
    assert (again["stored"], again["duplicate"], again["rejected"]) == (0, 2, 3)
    assert again["incidents_opened"] == []

    status = client.get("/api/v1/observations/status", headers=lead).json()
    assert status == {"observations": {"ad": 1, "call": 1}, "pending": 0}
    found = client.get("/api/v1/findings", headers=lead).json()
    (leak,) = [f for f in found if f["detector"] == "leaked_identifiers"]
    assert leak["incident"] == body["incidents_opened"][0]
    assert leak["observations"] == 1
    assert "555-01-01" not in leak["explanation"], "findings mask the identifier"
    ids = client.get(f"/api/v1/findings/{leak['id']}/observations", headers=lead).json()
    assert ids == {"observations": ["ads-scraper:ad-1"]}
    other = accounts["other_coordinator"].headers
    assert (
        client.get(f"/api/v1/findings/{leak['id']}/observations", headers=other).status_code == 404
    )
    assert client.get("/api/v1/findings", headers=other).json() == []
    sources = client.get("/api/v1/observations/sources", headers=lead).json()
    assert sources[0]["accepted"] == 4 and sources[0]["rejected"] == 6


def test_feed_tokens_are_their_own_credential(
    client: TestClient, accounts: dict[str, Account]
) -> None:
    lead = accounts["coordinator"].headers
    feed = _feed(client, lead)
    batch = {"items": [AD]}
    assert client.post("/api/v1/observations", json=batch).status_code == 401
    assert client.post("/api/v1/observations", json=batch, headers=lead).status_code == 403
    assert (
        client.delete("/api/v1/observations/sources/ads-scraper", headers=lead).status_code == 204
    )
    assert client.post("/api/v1/observations", json=batch, headers=feed).status_code == 401


def test_the_watchlist_is_checked_and_never_shown_in_full(
    client: TestClient, accounts: dict[str, Account]
) -> None:
    lead = accounts["coordinator"].headers
    bad_iin = client.post(
        "/api/v1/watchlist",
        json={"person": "Editor", "kind": "iin", "value": "900101300001"},
        headers=lead,
    )
    assert bad_iin.status_code == 422
    assert client.post(
        "/api/v1/watchlist",
        json={"person": "Editor", "kind": "phone", "value": "8 701 555 01 01"},
        headers=lead,
    ).json() == {"added": True}
    again = client.post(
        "/api/v1/watchlist",
        json={"person": "Editor", "kind": "phone", "value": "+77015550101"},
        headers=lead,
    )
    assert again.json() == {"added": False}, "the same number in another format is one entry"
    listed = client.get("/api/v1/watchlist", headers=lead).json()
    assert len(listed) == 1 and "5550101" not in listed[0]["value"]
    reader = accounts["legal"].headers
    assert client.get("/api/v1/watchlist", headers=reader).status_code == 403


def test_staff_upload_an_export_file(client: TestClient, accounts: dict[str, Account]) -> None:
    lead = accounts["coordinator"].headers
    client.post(
        "/api/v1/watchlist",
        json={"person": "Editor", "kind": "phone", "value": "8 701 555 01 01"},
        headers=lead,
    )
    export = {
        "name": "Orda chatter",
        "type": "public_channel",
        "id": 4242,
        "messages": [
            {
                "id": 1,
                "type": "message",
                "date": "2025-06-02T18:05:00",
                "from": "seller",
                "from_id": "user77",
                "text": ["Продам щенков ", {"type": "phone", "text": "+7 701 555 01 01"}],
            },
            {"id": 2, "type": "service", "date": "2025-06-02T18:06:00", "action": "pin"},
            {"id": 3, "type": "message", "date": "not a date", "text": "broken"},
        ],
    }
    r = client.post(
        "/api/v1/observations/files?source=tg&filename=result.json",
        content=json.dumps(export, ensure_ascii=False).encode(),
        headers=lead,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["read"], body["new"]) == (1, 1)
    assert len(body["problems"]) == 1 and body["problems"][0]["file"] == "result.json"
    assert len(body["incidents_opened"]) == 1
