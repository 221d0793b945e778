"""Bad input: 422 naming field and rule, allowed lists for taxonomy values, oversized bodies
refused before they are read, and nothing stored changes on a refused request."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from qorgau.store.store import Store
from tests.conftest import Account
from tests.integration.test_api_intake import ORDA_ADS, count


def problems(r: object) -> dict[str, dict[str, object]]:
    body = r.json()  # type: ignore[attr-defined]
    return {p["field"]: p for p in body["problems"]}


@pytest.mark.parametrize(
    "change, field, rule",
    [
        ({"attack_types": ["alien_invasion"]}, "attack_types[0]", "taxonomy"),
        ({"attack_types": []}, "attack_types", "too_short"),
        ({"title": ""}, "title", "string_too_short"),
        ({"title": "x" * 301}, "title", "string_too_long"),
        ({"region": "atlantis"}, "region", "taxonomy"),
        ({"severity": "apocalyptic"}, "severity", "enum"),
        ({"started_at": "yesterday"}, "started_at", "datetime_from_date_parsing"),
        ({"started_at": "2999-01-01T00:00:00Z"}, "started_at", "before_report"),
        (
            {"targets": [{"kind": "phone_number", "name": "x", "identifier": "call me"}]},
            "targets[0].identifier",
            "phone",
        ),
        ({"targets": [{"kind": "planet", "name": "Mars"}]}, "targets[0].kind", "taxonomy"),
        ({"reporter": {"email": "not-an-address"}}, "reporter.email", "email"),
        ({"surprise": 1}, "surprise", "extra_forbidden"),
        ({"targets": [{"kind": "person", "name": "p"}] * 51}, "targets", "too_long"),
    ],
)
def test_each_bad_field_gets_422_naming_field_and_rule(
    client: TestClient, store: Store, change: dict[str, object], field: str, rule: str
) -> None:
    before = count(store)
    r = client.post("/api/v1/reports", json={**ORDA_ADS, **change})
    assert r.status_code == 422, r.text
    found = problems(r)
    assert field in found, found
    assert found[field]["rule"] == rule
    assert count(store) == before


def test_unknown_taxonomy_value_lists_the_allowed_values(client: TestClient) -> None:
    r = client.post("/api/v1/reports", json={**ORDA_ADS, "attack_types": ["ddos", "hack"]})
    p = problems(r)["attack_types[1]"]
    assert "ddos" in p["allowed"] and "website_blocking" in p["allowed"]


def test_errors_speak_the_callers_language(client: TestClient) -> None:
    r = client.post(
        "/api/v1/reports",
        json={**ORDA_ADS, "title": ""},
        headers={"Accept-Language": "kk-KZ,kk;q=0.9"},
    )
    assert r.json()["title"] == "Кейбір өрістер қате толтырылған."
    assert problems(r)["title"]["message"].startswith("Тым қысқа")
    r = client.post("/api/v1/reports?lang=ru", json={**ORDA_ADS, "region": "atlantis"})
    assert problems(r)["region"]["message"].startswith("Неизвестное значение")


def test_malformed_json_is_422_not_500(client: TestClient) -> None:
    r = client.post(
        "/api/v1/reports", content=b'{"title": ', headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422
    assert r.json()["error"] == "invalid_input"


def test_oversized_declared_body_is_refused_before_reading(
    client: TestClient, store: Store
) -> None:
    limit = store.settings.max_body_bytes
    huge = {**ORDA_ADS, "description": "x" * (limit + 10)}
    r = client.post("/api/v1/reports", json=huge)
    assert r.status_code == 413
    assert str(limit) in r.json()["title"]
    assert count(store) == 0


def test_oversized_streamed_body_is_cut_off(client: TestClient, store: Store) -> None:
    limit = store.settings.max_body_bytes
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        yield b'{"title": "x", "description": "'
        for _ in range(limit // 1024 + 50):
            sent += 1024
            yield b"y" * 1024
        yield b'"}'

    r = client.post(
        "/api/v1/reports", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413
    assert count(store) == 0


def test_refused_update_changes_nothing(client: TestClient, accounts: dict[str, Account]) -> None:
    h = accounts["responder"].headers
    pid = client.post("/api/v1/reports", json=ORDA_ADS).json()["public_id"]
    before = client.get(f"/api/v1/incidents/{pid}", headers=h).json()
    r = client.patch(
        f"/api/v1/incidents/{pid}",
        headers=h,
        json={"severity": "high", "attack_types": ["ddos", "bogus"]},
    )
    assert r.status_code == 422
    assert client.get(f"/api/v1/incidents/{pid}", headers=h).json() == before
    audit = client.get("/api/v1/audit", headers=accounts["admin"].headers).json()
    changes = [e["tag"] for e in audit["items"] if not e["tag"].startswith("read:")]
    assert changes == ["incident:reported"]  # the two reads are on record, no change is


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 201},
        {"offset": -1},
        {"severity": "worst"},
        {"attack_type": "nope"},
        {"reported_from": "last week"},
    ],
)
def test_bad_list_parameters_are_422(
    client: TestClient, accounts: dict[str, Account], params: dict[str, object]
) -> None:
    r = client.get("/api/v1/incidents", params=params, headers=accounts["admin"].headers)
    assert r.status_code == 422, r.text
    assert r.json()["problems"]


def test_bad_bearer_token_is_401_with_challenge(client: TestClient) -> None:
    r = client.get("/api/v1/incidents", headers={"Authorization": "Bearer qg_forged"})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    r = client.get("/api/v1/incidents", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401


def test_idempotency_key_limits(client: TestClient, store: Store) -> None:
    r = client.post("/api/v1/reports", json=ORDA_ADS, headers={"Idempotency-Key": "k" * 129})
    assert r.status_code == 422
    assert r.json()["problems"][0]["field"] == "idempotency-key"
    r = client.post("/api/v1/reports", json=ORDA_ADS, headers={"Idempotency-Key": "k" * 128})
    assert r.status_code == 201
    r = client.post("/api/v1/reports", json=ORDA_ADS, headers={"Idempotency-Key": "   "})
    assert r.status_code == 422
    assert count(store) == 1
