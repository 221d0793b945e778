"""Sessions and tokens a person can see and end, revocation that bites at the next request, and
every read of personal data on record — on SQLite and PostgreSQL, through the API and the pages.

The read-audit tests plant distinctive personal values, read them through each path, and check
that exactly one ``read:personal`` event names the field groups while no planted value appears
anywhere in the audit table.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from qorgau.account_desk import SignInDesk
from qorgau.desk import CaseDesk
from qorgau.domain.model import Role
from qorgau.io.exporter import export
from qorgau.read_audit import READ_TAG
from qorgau.security.tokens import token_digest
from qorgau.store import sessions, users
from qorgau.store.store import Store
from qorgau.store.tables import api_tokens, audit_events
from qorgau.web.app import create_app
from tests.conftest import PASSWORD, Account
from tests.support.web import signed_in

REPORTER_NAME = "Zhanar Plantedova"
REPORTER_EMAIL = "zhanar.planted@example.org"
REPORTER_PHONE = "+7 701 999 1234"
TARGET_NAME = "Askar Plantedov"
TARGET_PHONE = "+7 702 888 4321"
SECRET_NOTE = "safe house at Plantedova street 7"
HTML = {"accept": "text/html"}
PLANTED = (REPORTER_NAME, REPORTER_EMAIL, REPORTER_PHONE, TARGET_NAME, TARGET_PHONE, SECRET_NOTE)

PERSONAL_REPORT: dict[str, Any] = {
    "title": "Doxxing of a reporter",
    "description": "Home address and phone posted in a channel.",
    "attack_types": ["doxxing"],
    "platform": "telegram",
    "region": "almaty_city",
    "targets": [
        {"kind": "person", "name": TARGET_NAME},
        {"kind": "phone_number", "name": "mobile", "identifier": TARGET_PHONE},
    ],
    "reporter": {"name": REPORTER_NAME, "email": REPORTER_EMAIL, "phone": REPORTER_PHONE},
}
# Nothing personal: an outlet, no reporter contact.
PLAIN_REPORT: dict[str, Any] = {
    "title": "Site blocked",
    "description": "The outlet's site does not open from Kazakh networks.",
    "attack_types": ["doxxing"],
    "platform": "website",
    "region": "almaty_city",
    "targets": [{"kind": "outlet", "name": "Orda.kz"}],
}


@pytest.fixture
def ui(store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(store.settings, store)) as c:
        yield c


def works(client: TestClient, token: str) -> bool:
    r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code in (200, 401), r.text
    return r.status_code == 200


def login(store: Store, account: Account, name: str = "api") -> str:
    """Another API token of ``account`` (issued as the sign-in would, without its steps)."""
    uid = account.principal.user_id
    assert uid is not None
    with store.write() as conn:
        token, _ = users.issue_token(conn, uid, name, store.now(), timedelta(hours=1))
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def session_id(store: Store, token: str) -> int:
    with store.read() as conn:
        found = sessions.id_for_token(conn, token)
    assert found is not None
    return found


def web_session(store: Store, account: Account) -> str:
    assert account.principal.user_id is not None
    token, _ = SignInDesk(CaseDesk(store)).open_session(account.principal.user_id, None)
    return token


def read_events(store: Store) -> list[Any]:
    with store.read() as conn:
        return list(
            conn.execute(
                sa.select(audit_events)
                .where(audit_events.c.tag == READ_TAG)
                .order_by(audit_events.c.id)
            ).mappings()
        )


def audit_dump(store: Store) -> str:
    with store.read() as conn:
        rows = conn.execute(sa.select(audit_events)).mappings().all()
    return json.dumps([dict(r) for r in rows], default=str, ensure_ascii=False)


def assert_no_planted_values(store: Store) -> None:
    dump = audit_dump(store)
    leaked = [v for v in PLANTED if v in dump]
    assert not leaked, f"personal values in the audit log: {leaked}"


def file_report(client: TestClient, body: dict[str, Any]) -> str:
    r = client.post("/api/v1/reports", json=body)
    assert r.status_code in (200, 201, 202), r.text
    return str(r.json()["public_id"])


# -- own sessions ------------------------------------------------------------------------------
def test_own_session_list_names_sessions_by_id_and_never_shows_a_token(
    client: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    responder = accounts["responder"]
    second = login(store, accounts["responder"], "laptop script")
    browser = web_session(store, responder)
    r = client.get("/api/v1/me/sessions", headers=bearer(second))
    assert r.status_code == 200
    items = r.json()["items"]
    assert {i["name"] for i in items} == {"test", "laptop script", "web session"}
    assert {i["kind"] for i in items} == {"api", "web"}
    assert [i["current"] for i in items if i["name"] == "laptop script"] == [True]
    assert sum(i["current"] for i in items) == 1
    for token in (responder.token, second, browser):
        assert token not in r.text and token_digest(token) not in r.text
    assert all(i["id"] > 0 and i["expires_at"] for i in items)
    # someone else's list is theirs alone
    other = client.get("/api/v1/me/sessions", headers=accounts["coordinator"].headers).json()
    assert [i["name"] for i in other["items"]] == ["test"]


def test_revoke_one_then_all_others_refused_at_the_next_request(
    client: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    here = login(store, accounts["responder"], "here")
    a, b = login(store, accounts["responder"], "a"), login(store, accounts["responder"], "b")
    gone = client.delete(f"/api/v1/me/sessions/{session_id(store, a)}", headers=bearer(here))
    assert gone.status_code == 204
    assert not works(client, a) and works(client, b)
    # ending it again, or another person's session, is "not found" and changes nothing
    coord = session_id(store, accounts["coordinator"].token)
    assert (
        client.delete(f"/api/v1/me/sessions/{session_id(store, a)}", headers=bearer(here))
    ).status_code == 404
    assert client.delete(f"/api/v1/me/sessions/{coord}", headers=bearer(here)).status_code == 404
    assert works(client, accounts["coordinator"].token)
    r = client.post("/api/v1/me/sessions/revoke-others", headers=bearer(here))
    assert r.status_code == 200 and r.json() == {"revoked": 2}  # b and the fixture's "test"
    assert works(client, here)
    assert not works(client, b) and not works(client, accounts["responder"].token)
    left = client.get("/api/v1/me/sessions", headers=bearer(here)).json()["items"]
    assert [i["name"] for i in left] == ["here"]
    tags = [e.tag for e in _events(store, "user:session")]
    assert tags == ["user:session:revoked", "user:sessions:revoked"]


def _events(store: Store, prefix: str) -> list[Any]:
    with store.read() as conn:
        return list(
            conn.execute(
                sa.select(audit_events)
                .where(audit_events.c.tag.startswith(prefix))
                .order_by(audit_events.c.id)
            )
        )


def test_a_revoked_web_session_cookie_is_refused_and_the_account_page_ends_sessions(
    ui: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    responder = accounts["responder"]
    cookie = web_session(store, responder)
    csrf = signed_in(ui, store, cookie)
    page = ui.get("/account")
    assert page.status_code == 200
    assert (
        "this browser" in page.text and f'data-session="{session_id(store, cookie)}"' in page.text
    )
    assert cookie not in page.text and responder.token not in page.text
    # "End all other sessions" keeps this browser, ends the API token
    ended = ui.post("/account/sessions/revoke-others", data=csrf, follow_redirects=False)
    assert ended.status_code == 303
    assert not works(ui, responder.token)
    assert ui.get("/account", follow_redirects=False).status_code == 200
    # ended from elsewhere: the cookie no longer opens a page, nor reads the API
    elsewhere = login(store, accounts["responder"], "phone")
    ui.delete(f"/api/v1/me/sessions/{session_id(store, cookie)}", headers=bearer(elsewhere))
    refused = ui.get("/account", follow_redirects=False, headers=HTML)
    assert refused.status_code == 303 and refused.headers["location"].startswith("/login")
    assert ui.get("/api/v1/me").status_code == 401


def test_ending_this_browsers_own_session_signs_it_out(
    ui: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    cookie = web_session(store, accounts["responder"])
    csrf = signed_in(ui, store, cookie)
    sid = session_id(store, cookie)
    r = ui.post(f"/account/sessions/{sid}/revoke", data=csrf, follow_redirects=False)
    assert r.status_code == 303
    assert ui.get("/account", follow_redirects=False, headers=HTML).status_code == 303


def test_the_account_page_changes_the_password_and_ends_the_other_sessions(
    ui: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    responder = accounts["responder"]
    cookie = web_session(store, responder)
    csrf = signed_in(ui, store, cookie)
    form = {**csrf, "current_password": "not it", "new_password": "a brand new long password"}
    wrong = ui.post("/account/password", data=form, follow_redirects=False)
    assert wrong.status_code == 303 and "problem=password-wrong" in wrong.headers["location"]
    assert "current password is wrong" in ui.get(wrong.headers["location"]).text
    assert works(ui, responder.token)
    form["current_password"] = PASSWORD
    ok = ui.post("/account/password", data=form, follow_redirects=False)
    assert ok.status_code == 303 and "password-changed" in ok.headers["location"]
    assert not works(ui, responder.token)
    assert ui.get("/account", follow_redirects=False, headers=HTML).status_code == 200
    assert [e.tag for e in _events(store, "user:password")] == ["user:password:changed"]


# -- administrators and account changes ------------------------------------------------------
def test_admin_ends_every_session_of_a_user_by_api_and_by_the_users_page(
    ui: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    admin, responder = accounts["admin"], accounts["responder"]
    uid = responder.principal.user_id
    cookie = web_session(store, responder)
    refused = ui.post(f"/api/v1/users/{uid}/sessions/revoke", headers=responder.headers)
    assert refused.status_code == 403 and works(ui, responder.token)
    r = ui.post(f"/api/v1/users/{uid}/sessions/revoke", headers=admin.headers)
    assert r.status_code == 200 and r.json() == {"revoked": 2}
    assert not works(ui, responder.token) and not works(ui, cookie)
    # another organisation's user is "not found"
    other = accounts["other_coordinator"]
    r = ui.post(f"/api/v1/users/{other.principal.user_id}/sessions/revoke", headers=admin.headers)
    assert r.status_code == 404 and works(ui, other.token)
    # the users page's button
    again = login(store, accounts["responder"])
    csrf = signed_in(ui, store, admin.token)
    page = ui.get("/admin/users")
    assert f'action="/admin/users/{uid}/sessions/revoke"' in page.text
    done = ui.post(f"/admin/users/{uid}/sessions/revoke", data=csrf, follow_redirects=False)
    assert done.status_code == 303 and "sessions-revoked" in done.headers["location"]
    assert not works(ui, again)
    assert works(ui, admin.token)


def test_role_change_deactivation_second_factor_reset_and_password_change_revoke(
    client: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    desk = CaseDesk(store)
    sign_in = SignInDesk(desk)
    admin = accounts["admin"].principal
    legal = accounts["legal"]
    uid = legal.principal.user_id
    assert uid is not None
    # a role change
    sign_in.set_role(admin, uid, Role.LEGAL, None)  # the same role: nothing to end
    assert works(client, legal.token)
    sign_in.set_role(admin, uid, Role.RESPONDER, None)
    assert not works(client, legal.token)
    # deactivation (the API) and reactivation: old tokens stay dead
    token = _token(store, uid)
    r = client.patch(
        f"/api/v1/users/{uid}", json={"active": False}, headers=accounts["admin"].headers
    )
    assert r.status_code == 200
    client.patch(f"/api/v1/users/{uid}", json={"active": True}, headers=accounts["admin"].headers)
    assert not works(client, token)
    # second-factor reset
    token = _token(store, uid)
    sign_in.reset_two_factor(admin, uid, None)
    assert not works(client, token)
    # the person's own password change: this token stays, every other one ends
    here = login(store, accounts["responder"], "here")
    other = login(store, accounts["responder"], "other")
    wrong = client.post(
        "/api/v1/me/password",
        json={"current_password": "not it", "new_password": "a brand new long password"},
        headers=bearer(here),
    )
    assert wrong.status_code == 422 and "current_password" in wrong.text
    assert works(client, other)
    short = client.post(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "short"},
        headers=bearer(here),
    )
    assert short.status_code == 422 and works(client, other)
    ok = client.post(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "a brand new long password"},
        headers=bearer(here),
    )
    assert ok.status_code == 200 and ok.json()["revoked"] == 2  # "other" and the fixture's
    assert works(client, here) and not works(client, other)
    with store.read() as conn:
        assert users.password_matches(
            conn, accounts["responder"].principal.user_id or 0, "a brand new long password"
        )


def _token(store: Store, user_id: int) -> str:
    with store.write() as conn:
        token, _ = users.issue_token(conn, user_id, "t", store.now(), timedelta(hours=1))
    return token


def test_expired_and_over_age_tokens_are_refused(
    client: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    responder = accounts["responder"]
    cookie = web_session(store, responder)
    api = login(store, accounts["responder"])
    c = api_tokens.c
    with store.read() as conn:
        expiry = conn.execute(
            sa.select(c.expires_at).where(c.digest == token_digest(cookie))
        ).scalar_one()
    assert expiry - store.now() <= timedelta(hours=12)  # a web session lasts a working day
    now = store.now()
    with store.write() as conn:
        conn.execute(
            api_tokens.update()
            .where(c.digest == token_digest(responder.token))
            .values(expires_at=now - timedelta(seconds=1))
        )
        # issued long ago with a far expiry: the caps from creation still end them
        conn.execute(
            api_tokens.update()
            .where(c.digest == token_digest(cookie))
            .values(created_at=now - timedelta(hours=13), expires_at=now + timedelta(days=30))
        )
        conn.execute(
            api_tokens.update()
            .where(c.digest == token_digest(api))
            .values(
                created_at=now - timedelta(hours=store.settings.token_ttl_hours + 1),
                expires_at=now + timedelta(days=30),
            )
        )
    assert not works(client, responder.token)
    client.cookies.set("qorgau_session", cookie)
    assert client.get("/api/v1/me").status_code == 401
    client.cookies.clear()
    assert not works(client, api)
    mine = client.get("/api/v1/me/sessions", headers=accounts["admin"].headers).json()["items"]
    assert [i["name"] for i in mine] == ["test"]


# -- reads of personal data --------------------------------------------------------------------
def test_each_sensitive_read_writes_one_event_with_field_groups_and_no_values(
    ui: TestClient, store: Store, accounts: dict[str, Account], tmp_path: Path
) -> None:
    responder = accounts["responder"]
    case = file_report(ui, PERSONAL_REPORT)
    note = ui.post(
        f"/api/v1/incidents/{case}/notes",
        json={"body": SECRET_NOTE, "sensitive": True},
        headers=responder.headers,
    )
    assert note.status_code in (200, 201), note.text
    assert read_events(store) == []  # writing is not reading

    # the case over the API
    r = ui.get(f"/api/v1/incidents/{case}", headers=responder.headers)
    assert r.status_code == 200 and REPORTER_EMAIL in r.text
    (ev,) = read_events(store)
    assert (ev["actor_id"], ev["entity"], ev["entity_id"]) == (
        responder.principal.user_id,
        "incident-read",
        case,
    )
    assert ev["after"] == {
        "fields": ["reporter.contact", "reporter.identity", "target.identifiers", "target.names"]
    }
    assert ev["address"] == "testclient"

    # its notes (a sensitive one among them)
    ui.get(f"/api/v1/incidents/{case}/notes", headers=responder.headers)
    assert read_events(store)[-1]["after"] == {"fields": ["notes.sensitive"]}
    assert len(read_events(store)) == 2

    # a list of cases: one event naming the cases that carried personal data
    ui.get("/api/v1/incidents", headers=responder.headers)
    listed = read_events(store)[-1]
    assert len(read_events(store)) == 3
    assert listed["entity_id"] == "search" and listed["after"]["records"] == [case]

    # the case page reads the case and its notes: still one event
    signed_in(ui, store, responder.token)
    page = ui.get(f"/desk/cases/{case}")
    assert page.status_code == 200 and TARGET_NAME in page.text
    assert len(read_events(store)) == 4
    assert read_events(store)[-1]["after"]["fields"] == [
        "notes.sensitive",
        "reporter.contact",
        "reporter.identity",
        "target.identifiers",
        "target.names",
    ]
    # the timeline it polls shows the sensitive note again: on record once per window
    assert ui.get(f"/desk/cases/{case}/timeline").status_code == 200
    assert len(read_events(store)) == 4
    # and a case's timeline, seen by all staff, never lists who read the case
    again = ui.get(f"/desk/cases/{case}")
    assert READ_TAG not in again.text and "-read" not in again.text
    assert len(read_events(store)) == 5
    # the queue shows no personal data: no event
    assert ui.get("/desk").status_code == 200
    assert len(read_events(store)) == 5
    ui.cookies.clear()

    # the watchlist and the registry of protected people
    lead = accounts["coordinator"].headers
    ui.post(
        "/api/v1/watchlist",
        json={"person": TARGET_NAME, "kind": "phone", "value": TARGET_PHONE},
        headers=lead,
    )
    ui.post(
        "/api/v1/registries/protected",
        json={"entities": [{"id": "askar", "kind": "person", "name": TARGET_NAME}]},
        headers=lead,
    )
    assert len(read_events(store)) == 5
    assert ui.get("/api/v1/watchlist", headers=lead).status_code == 200
    assert read_events(store)[-1]["after"] == {"fields": ["watchlist"]}
    assert ui.get("/api/v1/registries/protected", headers=lead).status_code == 200
    assert read_events(store)[-1]["after"] == {"fields": ["registry.protected"]}
    assert len(read_events(store)) == 7

    # an export of every case
    export(CaseDesk(store), tmp_path / "all.jsonl", "jsonl")
    exported = read_events(store)[-1]
    assert len(read_events(store)) == 8
    assert (exported["entity"], exported["actor_name"]) == ("export-read", "cli")
    assert "reporter.contact" in exported["after"]["fields"]

    assert_no_planted_values(store)


def test_reads_without_personal_data_write_nothing(
    client: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    plain = file_report(client, PLAIN_REPORT)
    responder = accounts["responder"].headers
    assert client.get(f"/api/v1/incidents/{plain}", headers=responder).status_code == 200
    client.post(f"/api/v1/incidents/{plain}/notes", json={"body": "called"}, headers=responder)
    assert client.get(f"/api/v1/incidents/{plain}/notes", headers=responder).status_code == 200
    assert client.get("/api/v1/incidents", headers=responder).status_code == 200
    assert client.get("/api/v1/watchlist", headers=responder).status_code == 200  # empty
    # a reporter reading back their own report reads what they typed
    reporter = accounts["reporter"].headers
    own = client.post("/api/v1/reports", json=PERSONAL_REPORT, headers=reporter).json()
    assert client.get(f"/api/v1/incidents/{own['public_id']}", headers=reporter).status_code == 200
    assert client.get("/api/v1/incidents", headers=reporter).status_code == 200
    assert read_events(store) == []


def test_admins_see_reads_on_the_page_and_api_and_nobody_else_does(
    ui: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    case = file_report(ui, PERSONAL_REPORT)
    responder = accounts["responder"]
    ui.get(f"/api/v1/incidents/{case}", headers=responder.headers)
    ui.get(f"/api/v1/incidents/{case}", headers=accounts["coordinator"].headers)
    admin = accounts["admin"].headers

    r = ui.get("/api/v1/audit?kind=read", headers=admin)
    assert r.status_code == 200
    assert [i["tag"] for i in r.json()["items"]] == [READ_TAG, READ_TAG]
    by_user = ui.get(
        f"/api/v1/audit?kind=read&actor_id={responder.principal.user_id}", headers=admin
    ).json()
    assert [i["actor_name"] for i in by_user["items"]] == ["responder-user"]

    # coordinators read the audit log, but not who read what
    coord = accounts["coordinator"].headers
    assert ui.get("/api/v1/audit?kind=read", headers=coord).status_code == 403
    assert ui.get("/api/v1/audit?tag=read:", headers=coord).status_code == 403
    everything = ui.get("/api/v1/audit?limit=200", headers=coord).json()["items"]
    assert everything and not any(i["tag"].startswith("read:") for i in everything)
    assert ui.get("/api/v1/audit?kind=read", headers=responder.headers).status_code == 403

    # the audit page: a filter for reads, by user and by case
    signed_in(ui, store, accounts["admin"].token)
    page = ui.get("/admin/audit?show=reads")
    assert page.status_code == 200
    assert page.text.count(f'data-tag="{READ_TAG}"') == 2
    assert page.text.count('data-tag="') == 2
    one = ui.get(f"/admin/audit?show=reads&user=responder-user&case={case.lower()}")
    assert one.text.count(f'data-tag="{READ_TAG}"') == 1
    none = ui.get("/admin/audit?show=reads&user=nobody-at-all")
    assert f'data-tag="{READ_TAG}"' not in none.text
    signed_in(ui, store, accounts["coordinator"].token)
    coord_page = ui.get("/admin/audit?show=reads")
    assert coord_page.status_code == 200
    assert 'value="reads"' not in coord_page.text and READ_TAG not in coord_page.text
    signed_in(ui, store, responder.token)
    assert ui.get("/admin/audit?show=reads", follow_redirects=False).status_code == 403
    assert_no_planted_values(store)
