"""The administration pages, on SQLite and PostgreSQL: accounts and roles, the second factor's
reset, response documents checked before they are saved, agents and their one-time token,
alert channels, the audit log — each through the forms a browser would post, with CSRF,
escaping of hostile names and the refusals the desks make."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from html import unescape
from importlib import resources

import pytest
from fastapi.testclient import TestClient

from qorgau.config import Settings
from qorgau.domain.model import Role
from qorgau.errors import AuthenticationRequired
from qorgau.store import users
from qorgau.store.store import Store
from qorgau.web.app import create_app
from tests.conftest import PASSWORD, Account
from tests.support.web import enrol_totp, form_csrf, signed_in

HOSTILE = "<img src=x onerror=alert(1)>"


@contextmanager
def app_client(store: Store, settings: Settings | None = None) -> Iterator[TestClient]:
    with TestClient(create_app(settings or store.settings, store)) as c:
        yield c


@pytest.fixture
def ui(store: Store) -> Iterator[TestClient]:
    with app_client(store) as c:
        yield c


def as_user(ui: TestClient, store: Store, account: Account) -> dict[str, str]:
    return signed_in(ui, store, account.token)


def user_named(store: Store, username: str) -> users.User | None:
    with store.read() as conn:
        return users.user_by_name(conn, username)


def token_works(store: Store, token: str) -> bool:
    try:
        with store.read() as conn:
            users.principal_for_token(conn, token, store.now())
    except AuthenticationRequired:
        return False
    return True


def field_error(html: str, name: str) -> str:
    found = re.search(rf'<p class="error" id="e-{name}">([^<]*)</p>', html)
    assert found, f"no error next to {name}"
    return found.group(1)


# -- users and roles ---------------------------------------------------------------------------
def test_admin_creates_an_account_and_a_short_password_is_refused_next_to_its_field(
    ui: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    csrf = as_user(ui, store, accounts["admin"])
    form = {**csrf, "username": "aigerim.b", "display_name": "Aigerim", "role": "responder"}
    short = ui.post("/admin/users", data={**form, "password": "short-pw"})
    assert short.status_code == 422
    assert "12" in field_error(short.text, "password")
    assert 'value="aigerim.b"' in short.text  # what was typed is kept...
    assert "short-pw" not in short.text  # ...except the password
    assert user_named(store, "aigerim.b") is None

    done = ui.post("/admin/users", data={**form, "password": PASSWORD}, follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"] == "/admin/users?done=user-created"
    created = user_named(store, "aigerim.b")
    assert created is not None and created.role is Role.RESPONDER and created.active
    page = ui.get(done.headers["location"])
    assert "The account was created" in page.text and "aigerim.b" in page.text

    again = ui.post("/admin/users", data={**form, "password": PASSWORD})
    assert again.status_code == 422
    assert "taken" in field_error(again.text, "username")


def test_admin_changes_a_role_but_not_their_own(
    ui: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    csrf = as_user(ui, store, accounts["admin"])
    responder = accounts["responder"].principal
    r = ui.post(f"/admin/users/{responder.user_id}/role", data={**csrf, "role": "coordinator"})
    assert r.status_code == 200 and "The role was changed." in r.text
    with store.read() as conn:
        assert users.get_user(conn, responder.user_id or 0).role is Role.COORDINATOR

    own = ui.post(
        f"/admin/users/{accounts['admin'].principal.user_id}/role",
        data={**csrf, "role": "responder"},
    )
    assert own.status_code == 409
    assert "you cannot change your own role" in own.text
    with store.read() as conn:
        assert users.get_user(conn, accounts["admin"].principal.user_id or 0).role is Role.ADMIN


def test_deactivating_an_account_stops_its_token_and_an_admin_cannot_lock_themself_out(
    ui: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    csrf = as_user(ui, store, accounts["admin"])
    target = accounts["responder"]
    assert token_works(store, target.token)
    r = ui.post(f"/admin/users/{target.principal.user_id}/active", data={**csrf, "active": "0"})
    assert "The account was deactivated" in r.text
    assert not token_works(store, target.token)
    assert ui.get("/api/v1/me", headers=target.headers).status_code == 401

    back = ui.post(f"/admin/users/{target.principal.user_id}/active", data={**csrf, "active": "1"})
    assert "The account was reactivated." in back.text
    with store.read() as conn:
        assert users.get_user(conn, target.principal.user_id or 0).active

    own = ui.post(
        f"/admin/users/{accounts['admin'].principal.user_id}/active",
        data={**csrf, "active": "0"},
    )
    assert own.status_code == 409 and "you cannot deactivate your own account" in own.text
    in_kazakh = ui.post(
        f"/admin/users/{accounts['admin'].principal.user_id}/active?lang=kk",
        data={**csrf, "active": "0"},
    )
    assert "өз тіркелгіңізді өшіре алмайсыз" in in_kazakh.text
    assert token_works(store, accounts["admin"].token)


def test_resetting_two_factor_forgets_the_secret_and_signs_the_person_out(
    ui: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    target = accounts["responder"]
    uid = target.principal.user_id or 0
    enrol_totp(store, uid)
    with store.write() as conn:
        session, _ = users.issue_token(conn, uid, "web session", store.now(), timedelta(hours=1))
    csrf = as_user(ui, store, accounts["admin"])
    before = ui.get("/admin/users")
    row = re.search(r'<tr data-user="responder-user">.*?</tr>', before.text, re.S)
    assert row and "set up" in row.group(0) and "two-factor/reset" in row.group(0)

    r = ui.post(f"/admin/users/{uid}/two-factor/reset", data=csrf)
    assert "Two-factor sign-in was reset" in r.text
    with store.read() as conn:
        assert users.totp_state(conn, store.cipher, uid) == (None, None, None)
    assert not token_works(store, target.token) and not token_works(store, session)
    row = re.search(r'<tr data-user="responder-user">.*?</tr>', r.text, re.S)
    assert row and "not set up" in row.group(0)

    elsewhere = accounts["other_coordinator"]  # another organisation's account is not ours
    reset = ui.post(f"/admin/users/{elsewhere.principal.user_id}/two-factor/reset", data=csrf)
    assert reset.status_code == 404
    refused = ui.post(
        f"/admin/users/{elsewhere.principal.user_id}/active", data={**csrf, "active": "0"}
    )
    assert refused.status_code == 404 and token_works(store, elsewhere.token)


@pytest.mark.parametrize("role", ["coordinator", "responder", "legal", "analyst"])
def test_only_administrators_manage_accounts(
    ui: TestClient, store: Store, accounts: dict[str, Account], role: str
) -> None:
    as_user(ui, store, accounts[role])
    overview = ui.get("/admin")
    # Staff open the overview and see only their sections; the analyst (aggregates only) not.
    if role == "analyst":
        assert overview.status_code == 403
    else:
        assert overview.status_code == 200
        assert 'href="/admin/users"' not in overview.text
        assert 'href="/admin/channels"' in overview.text
    assert ui.get("/admin/users").status_code == 403
    # Coordinators still edit the response documents and read the audit log.
    expected = 200 if role == "coordinator" else 403
    assert ui.get("/admin/documents").status_code == expected
    assert ui.get("/admin/audit").status_code == expected


def test_a_visitor_is_sent_to_sign_in(ui: TestClient) -> None:
    r = ui.get("/admin/users", headers={"accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/admin/users"


def test_the_overview_links_every_section_for_an_administrator(
    ui: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    as_user(ui, store, accounts["admin"])
    page = ui.get("/admin")
    assert page.status_code == 200
    for href in (
        "/admin/users",
        "/admin/playbooks",
        "/admin/documents",
        "/admin/referrals",
        "/admin/channels",
        "/admin/agents",
        "/admin/audit",
    ):
        assert f'href="{href}"' in page.text
        assert ui.get(href).status_code == 200, href


# -- forms are refused without their CSRF token ------------------------------------------------
def test_a_form_without_its_csrf_token_or_from_another_site_changes_nothing(
    ui: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    csrf = as_user(ui, store, accounts["admin"])
    form = {"username": "mallory", "role": "admin", "password": PASSWORD}
    assert ui.post("/admin/users", data=form).status_code == 403
    assert ui.post("/admin/users", data={**form, "csrf": "forged"}).status_code == 403
    elsewhere = ui.post(
        "/admin/users", data={**form, **csrf}, headers={"origin": "https://evil.example"}
    )
    assert elsewhere.status_code == 403
    target = accounts["responder"].principal.user_id
    assert ui.post(f"/admin/users/{target}/two-factor/reset").status_code == 403
    assert user_named(store, "mallory") is None
    assert token_works(store, accounts["responder"].token)


# -- hostile text is shown, never run ----------------------------------------------------------
def test_hostile_names_are_escaped(
    ui: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    csrf = as_user(ui, store, accounts["admin"])
    ui.post(
        "/admin/users",
        data={
            **csrf,
            "username": "hostile",
            "display_name": HOSTILE,
            "role": "analyst",
            "password": PASSWORD,
        },
    )
    ui.post("/admin/agents", data={**csrf, "agent_name": HOSTILE, "interval_s": "300"})
    for path in ("/admin/users", "/admin/agents"):
        html = ui.get(path).text
        assert "&lt;img src=x onerror=alert(1)&gt;" in html, path
        assert HOSTILE not in html, path


# -- response documents ------------------------------------------------------------------------
SHIPPED_DDOS = (resources.files("qorgau.response") / "data" / "playbooks" / "ddos.toml").read_text(
    "utf-8"
)


def saved_document(ui: TestClient, kind: str) -> tuple[int, dict[str, object]] | None:
    from qorgau.store import response_docs

    store = ui.app.state.desk.store  # type: ignore[attr-defined]
    with store.read() as conn:
        org = users.org_id_for(conn, "default")
        return response_docs.latest_documents(conn, store.cipher, org).get(kind)


def test_a_playbook_with_mistakes_is_refused_with_each_problem_and_nothing_is_saved(
    ui: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    csrf = as_user(ui, store, accounts["coordinator"])
    form = ui.get("/admin/documents?kind=playbook:ddos")
    assert 'id = "ddos"' in unescape(form.text)  # the shipped playbook to start from
    bad = SHIPPED_DDOS.replace('attack_types = ["ddos"]', 'attack_types = ["ddos", "hexing"]')
    bad = bad.replace('version = "2026.1"', 'version = "2026.2"\ncolour = "red"')
    r = ui.post("/admin/documents", data={**csrf, "kind": "playbook:ddos", "document": bad})
    assert r.status_code == 422
    problems = re.search(
        r'<div class="notice error" role="alert" id="problems">.*?</div>', r.text, re.S
    )
    assert problems, r.text
    assert "<code>colour</code>" in problems.group(0) and "unknown field" in problems.group(0)
    assert saved_document(ui, "playbook:ddos") is None
    assert "hexing" in r.text  # the text stays in the form to be corrected

    broken = ui.post(
        "/admin/documents",
        data={**csrf, "kind": "playbook:ddos", "document": 'id = "ddos"\nversion = \n'},
    )
    assert broken.status_code == 422 and "line 2" in broken.text
    assert saved_document(ui, "playbook:ddos") is None

    check = ui.post(
        "/admin/documents",
        data={**csrf, "kind": "playbook:ddos", "document": SHIPPED_DDOS, "intent": "check"},
    )
    assert check.status_code == 200 and "passed every check" in check.text
    assert saved_document(ui, "playbook:ddos") is None


def test_a_valid_playbook_is_saved_from_pasted_text_or_an_uploaded_file(
    ui: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    csrf = as_user(ui, store, accounts["admin"])
    good = SHIPPED_DDOS.replace('version = "2026.1"', 'version = "2026.2-orda"')
    r = ui.post(
        "/admin/documents",
        data={**csrf, "kind": "playbook:ddos", "document": good, "intent": "save"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/admin/documents?done=document-saved"
    found = saved_document(ui, "playbook:ddos")
    assert found is not None and found[0] == 1 and found[1]["version"] == "2026.2-orda"
    listed = ui.get("/admin/playbooks").text
    assert "2026.2-orda" in listed and "saved version 1" in listed

    directory = {
        "version": "2026.9",
        "needs": {"ddos": ["ddos_protection"]},
        "partner": [
            {
                "id": "deflect",
                "name": "Deflect",
                "offers": ["ddos_protection"],
                "languages": ["en", "ru"],
                "website": "https://deflect.ca",
                "conditions": {"en": "Media", "ru": "СМИ", "kk": "БАҚ"},
            }
        ],
    }
    as_json = json.dumps(directory, ensure_ascii=False)
    uploaded = ui.post(
        "/admin/documents",
        data={**csrf, "kind": "referrals", "document": ""},
        files={"file": ("directory.json", as_json.encode(), "application/json")},
    )
    assert uploaded.status_code == 200 and "passed every check and was saved" in uploaded.text
    referrals = ui.get("/admin/referrals").text
    assert "Deflect" in referrals and "https://deflect.ca" in referrals
    assert "Committee to Protect Journalists" not in referrals  # the whole directory replaced


def test_the_taxonomy_and_partners_are_shown_in_the_readers_language(
    ui: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    as_user(ui, store, accounts["responder"])
    page = ui.get("/admin/playbooks?lang=kk").text
    tax = store.taxonomy
    assert tax.version in page
    assert tax.label("attack_type", "phone_flooding", "kk") in page
    assert tax.label("category", tax.category_of("phone_flooding"), "kk") in page
    assert "Upload or paste" not in page  # responders read, leads edit
    referrals = ui.get("/admin/referrals?lang=ru").text
    assert "https://adilsoz.kz" in referrals and "правовая помощь" in referrals.lower()
    as_user(ui, store, accounts["analyst"])
    assert ui.get("/admin/referrals").status_code == 403


# -- agents and sources ------------------------------------------------------------------------
def test_an_agent_token_is_shown_once_and_can_be_revoked(
    ui: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    csrf = as_user(ui, store, accounts["admin"])
    agents = ui.app.state.agent_desk  # type: ignore[attr-defined]
    bad = ui.post("/admin/agents", data={**csrf, "agent_name": "kt-1", "asn": "9198"})
    assert bad.status_code == 422 and "AS" in field_error(bad.text, "asn")
    assert 'value="kt-1"' in bad.text

    r = ui.post(
        "/admin/agents",
        data={
            **csrf,
            "agent_name": "kt-1",
            "country": "KZ",
            "asn": "AS9198",
            "network_name": "Kazakhtelecom",
            "interval_s": "300",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and "qga_" not in r.headers["location"]
    shown = ui.get(r.headers["location"])
    token = re.search(r'data-testid="one-time-token">(qga_[^<]+)<', shown.text)
    assert token, shown.text
    assert agents.authenticate(token.group(1)).name == "kt-1"
    assert "qga_" not in ui.get("/admin/agents").text  # once only

    revoked = ui.post("/admin/agents/revoke", data={**csrf, "name": "kt-1"})
    assert "The agent's token was revoked" in unescape(revoked.text)
    with pytest.raises(AuthenticationRequired):
        agents.authenticate(token.group(1))
    assert ui.post("/admin/agents/revoke", data={**csrf, "name": "kt-1"}).status_code == 404


def test_a_source_token_is_shown_once_and_can_be_revoked(
    ui: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    csrf = as_user(ui, store, accounts["coordinator"])
    sources = ui.app.state.observation_desk  # type: ignore[attr-defined]
    bad = ui.post("/admin/sources", data={**csrf, "source_name": "bot:1"})
    assert bad.status_code == 422 and field_error(bad.text, "source_name")
    shown = ui.post("/admin/sources", data={**csrf, "source_name": "telegram-bot"})
    token = re.search(r'data-testid="one-time-token">([^<]+)<', shown.text)
    assert token
    assert sources.authenticate(token.group(1)).name == "telegram-bot"
    ui.post("/admin/sources/revoke", data={**csrf, "name": "telegram-bot"})
    with pytest.raises(AuthenticationRequired):
        sources.authenticate(token.group(1))


# -- alert channels ----------------------------------------------------------------------------
def test_a_person_sets_their_channels_and_sees_the_installation_without_its_secrets(
    store: Store, accounts: dict[str, Account]
) -> None:
    settings = replace(
        store.settings,
        smtp_host="mail.orda.example",
        smtp_password="smtp-secret-hunter2",
        telegram_bot_token="123456:telegram-secret",
    )
    with app_client(store, settings) as ui:
        csrf = as_user(ui, store, accounts["responder"])
        page = ui.get("/admin/channels").text
        assert "mail.orda.example" in page
        assert "hunter2" not in page and "telegram-secret" not in page
        bad = ui.post("/admin/channels", data={**csrf, "kind": "email", "address": "not-mail"})
        assert bad.status_code == 422 and field_error(bad.text, "address")
        assert 'value="not-mail"' in bad.text
        ok = ui.post(
            "/admin/channels", data={**csrf, "kind": "email", "address": "aigerim@orda.example"}
        )
        assert "Your alert channel was saved." in ok.text and "aigerim@orda.example" in ok.text
        desk = ui.app.state.response_desk  # type: ignore[attr-defined]
        assert desk.channels(accounts["responder"].principal) == {"email": "aigerim@orda.example"}
        gone = ui.post("/admin/channels/remove", data={**csrf, "kind": "email"})
        assert "Your alert channel was removed." in gone.text
        assert desk.channels(accounts["responder"].principal) == {}


# -- the audit log -----------------------------------------------------------------------------
def test_the_audit_log_lists_a_failed_sign_in_escaped_and_pages(
    ui: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    login = ui.get("/login")
    for typed in ("responder-user", "<b>my-password-typed-here</b>"):
        wrong = ui.post(
            "/login",
            data={"csrf": form_csrf(login.text), "username": typed, "password": "nope"},
        )
        assert wrong.status_code == 401
    as_user(ui, store, accounts["admin"])
    page = ui.get("/admin/audit?show=failed")
    assert page.status_code == 200
    assert "Failed sign-in" in page.text and "responder-user" in page.text
    # What was typed for no account (often a password in the wrong field) is not kept at all.
    assert "my-password-typed-here" not in page.text

    desk = ui.app.state.desk  # type: ignore[attr-defined]
    for n in range(55):
        desk.create_user(accounts["admin"].principal, f"bulk-{n}", Role.ANALYST, None, None, None)
    first = ui.get("/admin/audit?show=accounts")
    assert "Page 1 of 2" in first.text and 'rel="next"' in first.text
    second = ui.get("/admin/audit?show=accounts&page=2")
    assert "Page 2 of 2" in second.text and "bulk-0" in second.text
    assert "bulk-0" not in first.text  # newest first
    for absurd in ("/admin/audit?page=99999999999999999999", "/admin/users?page=-3&show=x"):
        assert ui.get(absurd).status_code == 200, absurd
