"""Role × endpoint matrix: every API route, called by every role and by nobody.

The expected outcome comes from the policy table, and the route list comes from the app
itself, so a new endpoint is covered (and must declare its action) without editing this test.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from qorgau.domain.access import POLICY, Action
from qorgau.domain.model import Role
from qorgau.monitor.model import Measurement, Vantage, Verdict, VerdictKind
from qorgau.store.attachments import IncomingFile, add_attachments, store_blobs
from qorgau.store.blobs import BlobStore
from qorgau.store.monitor import add_target
from qorgau.store.monitor import record as record_observation
from qorgau.store.store import Store
from qorgau.store.tables import incidents
from qorgau.web.auth import ACTION_KEY
from tests.conftest import Account
from tests.integration.test_api_intake import ORDA_ADS
from tests.support.web import enrol_totp, totp_now

CALLERS = [None, *[str(r) for r in Role]]


def sample_body(method: str, path: str, ctx: dict[str, Any]) -> Any:
    bodies: dict[tuple[str, str], Any] = {
        ("POST", "/api/v1/reports"): ORDA_ADS,
        ("POST", "/api/v1/reports/track"): {"receipt_code": ctx["receipt"]},
        ("POST", "/api/v1/incidents/{public_id}/consent"): {
            "name_publicly": "no",
            "share": "yes",
            "partners": ["jfj"],
        },
        ("PUT", "/api/v1/incidents/{public_id}/legal-hold"): {"reason": "court case"},
        ("POST", "/api/v1/incidents/{public_id}/erasure"): {"reason": "asked by the person"},
        ("POST", "/api/v1/reports/track/consent"): {"receipt_code": ctx["receipt"], "share": "no"},
        ("POST", "/api/v1/incidents/{public_id}/lock"): {"reason": "phone seized"},
        ("POST", "/api/v1/reports/track/lock"): {"receipt_code": ctx["receipt"]},
        ("PATCH", "/api/v1/incidents/{public_id}"): {"severity": "high"},
        ("POST", "/api/v1/incidents/{public_id}/status"): {"status": "triaged"},
        ("POST", "/api/v1/incidents/{public_id}/notes"): {"body": "called the editor"},
        ("POST", "/api/v1/incidents/{public_id}/merge"): {"into": ctx["other_incident"]},
        ("POST", "/api/v1/campaigns"): {"name": "Orda week"},
        ("POST", "/api/v1/campaigns/{campaign_id}/incidents"): {"incidents": [ctx["incident"]]},
        ("POST", "/api/v1/auth/token"): {
            "username": "admin-user",
            "password": "correct horse battery staple",
            "otp": ctx["admin_otp"],
        },
        ("POST", "/api/v1/users"): {
            "username": f"new-{ctx['n']}",
            "role": "responder",
            "password": "a long enough password",
        },
        ("PATCH", "/api/v1/users/{user_id}"): {"active": True},
        ("POST", "/api/v1/me/password"): {
            "current_password": "not the password",
            "new_password": "a brand new long password",
        },
        ("POST", "/api/v1/incidents/{public_id}/triage"): {"severity": "high"},
        ("PUT", "/api/v1/incidents/{public_id}/assignee"): {"user_id": ctx["self_id"]},
        ("POST", "/api/v1/incidents/{public_id}/playbooks"): {"playbook_id": "deepfake"},
        ("POST", "/api/v1/incidents/{public_id}/tasks"): {"title": "call the carrier"},
        ("PUT", "/api/v1/incidents/{public_id}/tasks/{task_id}"): {"state": "done"},
        ("PUT", "/api/v1/response/documents/{kind}"): {"timezone": "Asia/Almaty"},
        ("PUT", "/api/v1/me/channels/{kind}"): {"address": "duty@example.org"},
        ("POST", "/api/v1/notifications/read"): {"ids": [1]},
        ("POST", "/api/v1/deliveries/requeue"): {"ids": [1]},
        ("POST", "/api/v1/incidents/{public_id}/referrals"): {
            "partner_id": "adil-soz",
            "need": "legal_aid",
        },
        ("PUT", "/api/v1/incidents/{public_id}/referrals/{referral_id}"): {"state": "accepted"},
        ("POST", "/api/v1/incidents/{public_id}/statements"): {"language": "kk"},
        ("PUT", "/api/v1/statements/{statement_id}"): {"body": "Edited statement."},
        ("POST", "/api/v1/hygiene"): {"kind": "outlet", "label": "Orda.kz"},
        ("PUT", "/api/v1/hygiene/{subject_id}/items/{step_id}"): {"state": "done"},
        ("POST", "/api/v1/monitor/targets"): {"outlet": "Orda", "url": "https://kaz.orda.example/"},
        ("POST", "/api/v1/monitor/agents"): {"name": f"agent-{ctx['n']}", "asn": "AS9198"},
        ("POST", "/api/v1/observations/sources"): {"name": f"feed-{ctx['n']}"},
        ("POST", "/api/v1/watchlist"): {
            "person": "Orda owner",
            "kind": "phone",
            "value": "+7 705 555 02 02",
        },
        ("POST", "/api/v1/registries/{kind}"): {
            "entities": [
                {
                    "id": f"outlet-{ctx['n']}",
                    "kind": "outlet",
                    "name": "Vlast.kz",
                    "domains": [f"vlast-{ctx['n']}.kz"],
                }
            ]
        },
        ("POST", "/api/v1/accounts/actions"): {
            "platform": "instagram",
            "account": "@orda_kz",
            "action": "restriction",
            "at": "2025-06-04T10:00:00+05:00",
        },
        ("POST", "/api/v1/accounts/appeal"): {
            "outlet": "Orda",
            "platform": "telegram",
            "account": "orda_kz",
            "language": "kk",
        },
        ("POST", "/api/v1/spyware/results"): [
            {
                "url": "https://free247downloads.com/x",
                "isodate": "2021-07-04 10:15:00.000000",
                "matched_indicator": {
                    "type": "domain",
                    "value": "free247downloads.com",
                    "name": "Pegasus",
                },
            }
        ],
        ("PUT", "/api/v1/register/{host}/legal-basis"): {
            "basis": "court_order",
            "reference": "Almaly district court of Almaty, 2-123/2025",
        },
        ("POST", "/api/v1/monitor/measurements"): {
            "input": "https://orda.example/",
            "measurement_start_time": "2025-05-06 04:00:00",
            "probe_cc": "KZ",
            "probe_asn": "AS9198",
            "test_name": "web_connectivity",
            "test_keys": {"queries": [], "requests": [], "tcp_connect": [], "control": {}},
        },
        ("POST", "/api/v1/incidents/{public_id}/evidence/capture"): {
            "url": "http://127.0.0.1:9/closed-port"
        },
        ("POST", "/api/v1/incidents/{public_id}/evidence/export"): {
            "language": "ru",
            "reason": "for the lawyer",
        },
        ("POST", "/api/v1/incidents/{public_id}/legal"): {
            "kind": "reported_to_police",
            "at": "2025-06-04T10:00:00+05:00",
            "authority": "Almaty city police",
        },
        ("POST", "/api/v1/indicators"): {
            "kind": "domain",
            "value": f"orda-kz-{ctx['n']}.com",
            "tlp": "green",
            "incidents": [ctx["incident"]],
        },
        ("POST", "/api/v1/alerts"): {
            "texts": {"en": {"title": "Orda.kz blocked", "summary": "Blocked on two networks."}}
        },
    }
    return bodies.get((method, path))


def api_routes(client: TestClient) -> list[tuple[str, str, Action]]:
    """Every operation of the published OpenAPI document, with the action it declares."""
    out = []
    for path, ops in client.get("/openapi.json").json()["paths"].items():
        for method, op in ops.items():
            action = op.get(ACTION_KEY)
            assert action, f"{method.upper()} {path} declares no access action"
            out.append((method.upper(), path, Action(action)))
    return out


def test_every_route_declares_an_action(client: TestClient) -> None:
    routes = api_routes(client)
    assert len(routes) >= 18
    assert {a for _, _, a in routes} == set(Action)


@pytest.mark.parametrize("caller", CALLERS)
def test_role_matrix(
    client: TestClient, store: Store, accounts: dict[str, Account], caller: str | None
) -> None:
    reporter = accounts["reporter"]
    ack = client.post("/api/v1/reports", json=ORDA_ADS).json()
    own = client.post("/api/v1/reports", json=ORDA_ADS, headers=reporter.headers).json()
    other = client.post("/api/v1/reports", json=ORDA_ADS).json()
    camp = client.post(
        "/api/v1/campaigns", json={"name": "c"}, headers=accounts["coordinator"].headers
    ).json()
    # a reporter acts on their own report; everyone else on the anonymous one
    incident = own["public_id"] if caller == "reporter" else ack["public_id"]
    ctx = {
        "receipt": ack["receipt_code"],
        "incident": incident,
        "other_incident": other["public_id"],
        "n": caller or "anon",
        # Staff sign in for API tokens with a second factor too.
        "admin_otp": totp_now(enrol_totp(store, accounts["admin"].principal.user_id or 0)),
    }
    lead = accounts["coordinator"].headers
    statement = client.post(
        f"/api/v1/incidents/{incident}/statements", json={"language": "en"}, headers=lead
    ).json()
    referral = client.post(
        f"/api/v1/incidents/{incident}/referrals",
        json={"partner_id": "jfj", "need": "legal_aid"},
        headers=lead,
    ).json()
    subject = client.post(
        "/api/v1/hygiene", json={"kind": "person", "label": "Editor"}, headers=lead
    ).json()
    tasks = client.get(f"/api/v1/incidents/{incident}/tasks", headers=lead).json()
    refs = store_blobs(
        BlobStore.for_settings(store.settings),
        [IncomingFile("ad.html", "text/html", b"<h1>fake ad</h1>")],
    )
    with store.write() as conn:
        case_id = conn.execute(
            sa.select(incidents.c.id).where(incidents.c.public_id == incident)
        ).scalar_one()
        add_attachments(conn, store.cipher, case_id, refs, "email", store.now())
    with store.write() as conn:
        observed = record_observation(
            conn,
            accounts["coordinator"].principal.org_id,
            Measurement(
                url="https://orda.example/",
                vantage=Vantage(country="KZ", asn="AS9198"),
                started_at=store.now(),
                source_id="matrix",
            ),
            Verdict(VerdictKind.DNS_TAMPERING),
            "orda.example",
            store.now(),
        )
        add_target(
            conn,
            accounts["coordinator"].principal.org_id,
            "Orda",
            "https://orda.example/",
            "orda.example",
            store.now(),
        )
    assert observed is not None
    client.post("/api/v1/monitor/agents", json={"name": "matrix-agent"}, headers=lead)
    client.post("/api/v1/observations/sources", json={"name": "matrix-feed"}, headers=lead)
    watched = client.post(
        "/api/v1/watchlist",
        json={"person": "Orda editor", "kind": "phone", "value": "8 701 555 01 01"},
        headers=lead,
    )
    assert watched.status_code == 200, watched.text
    finding_id = _one_finding(store)
    client.post(  # something to appeal against
        "/api/v1/accounts/actions",
        json={"platform": "telegram", "account": "orda_kz", "action": "suspension",
              "at": "2025-06-04T10:00:00+05:00"},
        headers=lead,
    )  # fmt: skip
    evidence = client.post(
        f"/api/v1/incidents/{incident}/evidence?filename=ad.html",
        content=b"<h1>fake ad</h1>",
        headers={**lead, "content-type": "text/html"},
    ).json()
    ctx["self_id"] = accounts[caller].principal.user_id if caller else None
    spare_session = _spare_session(store, accounts[caller].principal.user_id if caller else None)
    params = {
        "public_id": incident,
        "campaign_id": str(camp["id"]),
        "user_id": str(accounts["responder"].principal.user_id),
        "task_id": str(tasks[0]["id"]),
        "kind": "roster",
        "statement_id": str(statement["id"]),
        "referral_id": str(referral["id"]),
        "subject_id": str(subject["id"]),
        "step_id": "two-factor",
        "sha256": refs[0].sha256,
        "item_id": str(evidence[0]["id"]),
        "host": "orda.example",
        "outlet": "Orda",
        "name": "matrix-agent",
        "observation_id": str(observed.observation_id),
        "source_name": "matrix-feed",
        "entry_id": str(_watch_entry(client, lead)),
        "finding_id": str(finding_id),
        "scheme": "coe",
        "session_id": str(spare_session),
    }
    headers = accounts[caller].headers if caller else {}
    failures = []
    for method, path, action in api_routes(client):
        if path == "/api/v1/auth/token" and method == "DELETE":
            continue  # revoking would end this caller's session mid-matrix; tested separately
        url = path.format(**params)
        if path.startswith("/api/v1/me/channels/"):
            url = path.format(**{**params, "kind": "email"})
        if path == "/api/v1/evidence/{item_id}/content":
            url += "?reason=matrix"
        if path == "/api/v1/evidence":
            url += "?q=seller"
        if path.startswith("/api/v1/registries/"):
            url = path.format(**{**params, "kind": "protected"})
        if path == "/api/v1/spyware/results":
            url += "?filename=safari_history_detected.json"
        if path == "/api/v1/observations/files":
            url += "?source=matrix-upload&filename=posts.jsonl&format=posts"
        if path == "/api/v1/vault/consistency":
            url += "?old_size=1&new_size=1"
        if path == "/api/v1/reports/monitoring":
            url += "?period=2025-Q2&lang=kk"
        if path == "/api/v1/media/check":
            r = client.post(url + "?filename=photo.png", content=_png(), headers=headers)
        elif path == "/api/v1/share/import":
            r = client.post(
                url + f"?partner=CERT-{ctx['n']}&format=stix",
                content=_partner_bundle(),
                headers={**headers, "content-type": "application/json"},
            )
        else:
            r = client.request(method, url, json=sample_body(method, path, ctx), headers=headers)
        allowed = POLICY[action]
        may = (None in allowed) if caller is None else (Role(caller) in allowed)
        if path == "/api/v1/me/password" and may and r.status_code == 422:
            continue  # the sample's current password is wrong on purpose: authorization passed
        if may and r.status_code in (401, 403):
            failures.append(f"{caller} {method} {path}: expected access, got {r.status_code}")
        if not may and r.status_code != (401 if caller is None else 403):
            failures.append(f"{caller} {method} {path}: expected refusal, got {r.status_code}")
        if may and r.status_code >= 400 and r.status_code != 409:
            failures.append(
                f"{caller} {method} {path}: allowed call failed {r.status_code} {r.text[:200]}"
            )
    assert not failures, "\n".join(failures)


def _spare_session(store: Store, user_id: int | None) -> int:
    """A second token of the caller, for the matrix to end (not the one it calls with)."""
    from datetime import timedelta

    from qorgau.store import sessions, users

    if user_id is None:
        return 1
    with store.write() as conn:
        token, _ = users.issue_token(conn, user_id, "spare", store.now(), timedelta(hours=1))
        found = sessions.id_for_token(conn, token)
    assert found is not None
    return found


def _png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def _partner_bundle() -> bytes:
    """A small valid STIX bundle from a partner: one indicator."""
    from datetime import UTC, datetime

    from qorgau.reports.model import Indicator, IndicatorKind, SharingBundle, Tlp
    from qorgau.reports.stix import stix_bundle

    at = datetime(2025, 6, 4, 5, 0, tzinfo=UTC)
    ind = Indicator(IndicatorKind.DOMAIN, "orda-news.example", at, at, Tlp.GREEN, "look-alike")
    return stix_bundle(SharingBundle("CERT", at, (), (ind,)), Tlp.GREEN).encode()


def _one_finding(store: Store) -> int:
    """A finding to read: an ad carrying the watched number, through the real pipeline."""
    from qorgau.desk import CaseDesk
    from qorgau.detect.model import Observation
    from qorgau.observation_desk import ObservationDesk

    od = ObservationDesk(CaseDesk(store))
    ad = Observation(
        id="matrix:ad-1",
        source="matrix",
        platform="olx.example",
        kind="ad",
        time=store.now(),
        text="Продаю коз, звоните 8 (701) 555-01-01",
    )
    od.ingest(od.cases.system("matrix"), [ad])
    (found,) = od.findings(od.cases.system("matrix"))
    return found.id


def _watch_entry(client: TestClient, headers: dict[str, str]) -> int:
    entries = client.get("/api/v1/watchlist", headers=headers).json()
    return int(entries[0]["id"])


def test_reporters_see_only_their_own_reports(
    client: TestClient, accounts: dict[str, Account]
) -> None:
    mine = client.post(
        "/api/v1/reports", json=ORDA_ADS, headers=accounts["reporter"].headers
    ).json()["public_id"]
    theirs = client.post(
        "/api/v1/reports", json=ORDA_ADS, headers=accounts["reporter2"].headers
    ).json()["public_id"]
    anon = client.post("/api/v1/reports", json=ORDA_ADS).json()["public_id"]
    h = accounts["reporter"].headers
    assert client.get(f"/api/v1/incidents/{mine}", headers=h).status_code == 200
    for pid in (theirs, anon):
        assert client.get(f"/api/v1/incidents/{pid}", headers=h).status_code == 404
        assert (
            client.post(f"/api/v1/incidents/{pid}/notes", json={"body": "x"}, headers=h).status_code
            == 404
        )
    listed = client.get("/api/v1/incidents", headers=h).json()
    assert [i["public_id"] for i in listed["items"]] == [mine]


def test_other_organisations_cases_are_invisible(
    client: TestClient, accounts: dict[str, Account]
) -> None:
    pid = client.post("/api/v1/reports", json=ORDA_ADS).json()["public_id"]
    h = accounts["other_coordinator"].headers
    assert client.get(f"/api/v1/incidents/{pid}", headers=h).status_code == 404
    assert (
        client.post(
            f"/api/v1/incidents/{pid}/status", json={"status": "triaged"}, headers=h
        ).status_code
        == 404
    )
    assert client.get("/api/v1/incidents", headers=h).json()["total"] == 0
    assert client.get("/api/v1/stats/summary", headers=h).json()["total"] == 0


def test_analyst_gets_aggregates_but_no_single_case(
    client: TestClient, accounts: dict[str, Account]
) -> None:
    pid = client.post("/api/v1/reports", json=ORDA_ADS).json()["public_id"]
    h = accounts["analyst"].headers
    s = client.get("/api/v1/stats/summary", headers=h).json()
    assert s["total"] == 1 and s["by_attack_type"] == {"phone_flooding": 1, "doxxing": 1}
    assert client.get(f"/api/v1/incidents/{pid}", headers=h).status_code == 403
    assert client.get("/api/v1/incidents", headers=h).status_code == 403


def test_login_logout_and_revoked_or_deactivated_tokens(
    client: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    secret = enrol_totp(store, accounts["responder"].principal.user_id or 0)
    r = client.post(
        "/api/v1/auth/token",
        json={
            "username": "responder-user",
            "password": "correct horse battery staple",
            "otp": totp_now(secret),
        },
    )
    assert r.status_code == 200 and r.json()["role"] == "responder"
    h = {"Authorization": f"Bearer {r.json()['token']}"}
    assert client.get("/api/v1/me", headers=h).json()["username"] == "responder-user"
    assert client.delete("/api/v1/auth/token", headers=h).status_code == 204
    assert client.get("/api/v1/me", headers=h).status_code == 401
    bad = client.post(
        "/api/v1/auth/token", json={"username": "responder-user", "password": "wrong password here"}
    )
    assert bad.status_code == 401
    ghost = client.post(
        "/api/v1/auth/token", json={"username": "nobody", "password": "wrong password here"}
    )
    assert ghost.status_code == 401 and ghost.json()["detail"] == bad.json()["detail"]
    admin = accounts["admin"].headers
    uid = accounts["legal"].principal.user_id
    assert (
        client.patch(f"/api/v1/users/{uid}", json={"active": False}, headers=admin).status_code
        == 200
    )
    assert client.get("/api/v1/me", headers=accounts["legal"].headers).status_code == 401
