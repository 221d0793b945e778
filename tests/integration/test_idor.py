"""Insecure direct object references: every API route that names a case or something inside
one (task, statement, referral, evidence item, attachment), called by someone who may use the
route but not on that case — a coordinator of another organisation, and another reporter.

The route list comes from the app, so a new case-scoped route is attacked without editing this
test. Each attempt must be refused without saying whether the case exists, must not echo the
case's content, and afterwards the case must read exactly as before."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from qorgau.store.attachments import IncomingFile, add_attachments, store_blobs
from qorgau.store.blobs import BlobStore
from qorgau.store.store import Store
from qorgau.store.tables import incidents
from tests.conftest import Account
from tests.integration.test_api_intake import ORDA_ADS
from tests.integration.test_role_matrix import api_routes, sample_body

SECRET = "Safe flat at Idorstreet 41, the editor sleeps there"
CASE_PARAMS = ("{public_id}", "{task_id}", "{statement_id}", "{referral_id}", "{item_id}")


def case_view(client: TestClient, lead: dict[str, str], pid: str) -> dict[str, Any]:
    """Everything a coordinator of the case's organisation reads about it."""
    parts = ("", "/tasks", "/statements", "/referrals", "/evidence", "/legal", "/attachments")
    return {p: client.get(f"/api/v1/incidents/{pid}{p}", headers=lead).json() for p in parts}


@pytest.mark.parametrize("intruder", ["other_coordinator", "reporter2"])
def test_nobody_reaches_a_case_of_another_organisation_or_reporter_by_its_ids(
    client: TestClient, store: Store, accounts: dict[str, Account], intruder: str
) -> None:
    lead = accounts["coordinator"].headers
    victim = client.post(
        "/api/v1/reports",
        json={**ORDA_ADS, "description": SECRET},
        headers=accounts["reporter"].headers,
    )
    assert victim.status_code == 201, victim.text
    pid = victim.json()["public_id"]
    client.post(f"/api/v1/incidents/{pid}/notes", json={"body": SECRET}, headers=lead)
    statement = client.post(
        f"/api/v1/incidents/{pid}/statements", json={"language": "en"}, headers=lead
    ).json()
    referral = client.post(
        f"/api/v1/incidents/{pid}/referrals",
        json={"partner_id": "jfj", "need": "legal_aid"},
        headers=lead,
    ).json()
    tasks = client.get(f"/api/v1/incidents/{pid}/tasks", headers=lead).json()
    evidence = client.post(
        f"/api/v1/incidents/{pid}/evidence?filename=ad.html",
        content=b"<h1>fake ad</h1>",
        headers={**lead, "content-type": "text/html"},
    ).json()
    refs = store_blobs(
        BlobStore.for_settings(store.settings),
        [IncomingFile("ad.png", "image/png", b"\x89PNG\r\n\x1a\n victim's screenshot")],
    )
    with store.write() as conn:
        case_id = conn.execute(
            sa.select(incidents.c.id).where(incidents.c.public_id == pid)
        ).scalar_one()
        add_attachments(conn, store.cipher, case_id, refs, "email", store.now())
    before = case_view(client, lead, pid)
    assert tasks and statement.get("id") and referral.get("id") and evidence[0]["id"]

    who = accounts[intruder]
    own = client.post("/api/v1/reports", json=ORDA_ADS, headers=who.headers).json()["public_id"]
    params = {
        "task_id": str(tasks[0]["id"]),
        "statement_id": str(statement["id"]),
        "referral_id": str(referral["id"]),
        "item_id": str(evidence[0]["id"]),
        "sha256": refs[0].sha256,
    }
    ctx = {
        "receipt": "",
        "incident": pid,
        "other_incident": own,
        "n": intruder,
        "admin_otp": "000000",
        "self_id": who.principal.user_id,
    }
    attempts, reachable, failures = 0, 0, []
    for method, path, _ in api_routes(client):
        if not any(p in path for p in CASE_PARAMS):
            continue
        # The victim's case by its own id, and the intruder's case with the victim's inner ids.
        cases = [pid] if "{public_id}" in path else [None]
        if "{public_id}" in path and any(p in path for p in CASE_PARAMS[1:]):
            cases.append(own)
        for case in cases:
            url = path.format_map({**params, "public_id": case or ""}) + "?reason=idor"
            try:
                body = sample_body(method, path, ctx)
            except KeyError:
                body = None
            r = client.request(method, url, json=body, headers=who.headers)
            attempts += 1
            if method == "GET" and case == pid:
                # The same URL works for the case's own coordinator: the refusal is about who
                # asks, not a malformed request.
                control = client.get(url, headers=lead)
                reachable += control.status_code == 200
            where = f"{intruder} {method} {url}: {r.status_code}"
            if r.status_code not in (403, 404):
                failures.append(f"{where} (expected 403 or 404) {r.text[:160]}")
            if SECRET in r.text or "victim's screenshot" in r.text:
                failures.append(f"{where} shows the victim's case")
    assert attempts >= 25 and reachable >= 10
    assert not failures, "\n".join(failures)
    assert case_view(client, lead, pid) == before
