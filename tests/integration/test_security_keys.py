"""Security keys (WebAuthn) beside the authenticator-app code: adding one from the account
page, signing in with it, and the attacks it must stop (a look-alike site, a replayed answer,
someone else's key, guessing past the lockout). Real signatures from a software key; the
browser journey with Chromium's virtual authenticator is at the end."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from qorgau.store.store import Store
from qorgau.store.tables import audit_events, security_keys
from qorgau.web.app import create_app
from tests.conftest import PASSWORD, Account, make_account
from tests.support.soft_authenticator import SoftAuthenticator
from tests.support.web import enrol_totp, form_csrf, signed_in

SITE = "http://testserver"


@pytest.fixture
def keys_client(store: Store) -> Iterator[TestClient]:
    app = create_app(store.settings.with_overrides(public_base_url=SITE), store)
    with TestClient(app, base_url=SITE) as c:
        yield c


def register_key(
    client: TestClient, store: Store, account: Account, soft: SoftAuthenticator, label: str = "Blue"
) -> Any:
    csrf = signed_in(client, store, account.token)["csrf"]
    options = client.post("/account/keys/options", headers={"X-CSRF-Token": csrf})
    assert options.status_code == 200, options.text
    answer = soft.create(options.json())
    done = client.post(
        "/account/keys",
        json={"credential": answer, "label": label},
        headers={"X-CSRF-Token": csrf},
    )
    client.cookies.clear()
    return done


def password_step(client: TestClient, username: str) -> str:
    """Pass the password; returns the CSRF token of the key page (before any session)."""
    page = client.get("/login")
    sent = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf": form_csrf(page.text)},
        follow_redirects=False,
    )
    assert sent.status_code == 303 and "/login/code" in sent.headers["location"], sent.text
    code_page = client.get(sent.headers["location"])
    assert "/login/key" in code_page.text  # the code page offers the key
    key_page = client.get("/login/key?next=/desk")
    assert key_page.status_code == 200
    return str(key_page.text.split('data-csrf="')[1].split('"')[0])


def key_sign_in(
    client: TestClient, csrf: str, soft: SoftAuthenticator, origin: str | None = None
) -> Any:
    options = client.post("/login/key/options", headers={"X-CSRF-Token": csrf})
    assert options.status_code == 200, options.text
    answer = soft.get(options.json(), origin)
    return client.post(
        "/login/key",
        json={"credential": answer, "next": "/desk"},
        headers={"X-CSRF-Token": csrf},
    )


def audit_tags(store: Store, user_id: int) -> list[str]:
    with store.read() as conn:
        rows = conn.execute(
            sa.select(audit_events.c.tag)
            .where(audit_events.c.entity == "user", audit_events.c.entity_id == str(user_id))
            .order_by(audit_events.c.id)
        )
        return [r.tag for r in rows]


def test_a_responder_adds_a_key_and_signs_in_with_it(
    keys_client: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    responder = accounts["responder"]
    enrol_totp(store, responder.principal.user_id)
    soft = SoftAuthenticator(SITE)
    added = register_key(keys_client, store, responder, soft, "Blue <key>")
    assert added.status_code == 201, added.text
    with store.read() as conn:
        stored = conn.execute(sa.select(security_keys)).mappings().all()
    assert [(r["user_id"], r["label"]) for r in stored] == [
        (responder.principal.user_id, "Blue <key>")
    ]
    signed_in(keys_client, store, responder.token)
    page = keys_client.get("/account")
    assert "Blue &lt;key&gt;" in page.text and "<key>" not in page.text
    keys_client.cookies.clear()

    csrf = password_step(keys_client, responder.principal.username)
    done = key_sign_in(keys_client, csrf, soft)
    assert done.status_code == 200, done.text
    assert done.json() == {"next": "/desk"}
    assert keys_client.get("/desk").status_code == 200  # the session cookie works
    tags = audit_tags(store, responder.principal.user_id)
    assert "user:2fa:key-added" in tags and tags[-2:] == ["user:2fa:passed", "user:session:opened"]
    with store.read() as conn:
        used = conn.execute(sa.select(security_keys.c.sign_count, security_keys.c.last_used_at))
        count, last_used = used.one()
    assert count == 1 and last_used is not None


def test_a_look_alike_site_a_replay_and_another_persons_key_are_refused(
    keys_client: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    responder = accounts["responder"]
    enrol_totp(store, responder.principal.user_id)
    soft = SoftAuthenticator(SITE)
    assert register_key(keys_client, store, responder, soft).status_code == 201
    other = make_account(store, accounts["responder"].principal.role, "second-resp")
    enrol_totp(store, other.principal.user_id)
    other_key = SoftAuthenticator(SITE)
    assert register_key(keys_client, store, other, other_key).status_code == 201

    csrf = password_step(keys_client, responder.principal.username)
    phished = key_sign_in(keys_client, csrf, soft, origin="http://qorgau-login.example")
    assert phished.status_code == 422 and "qorgau_session" not in keys_client.cookies
    borrowed = key_sign_in(keys_client, csrf, other_key)
    assert borrowed.status_code == 422 and "qorgau_session" not in keys_client.cookies

    # A captured answer sent again: same counter, refused.
    options = keys_client.post("/login/key/options", headers={"X-CSRF-Token": csrf}).json()
    answer = soft.get(options)
    first = keys_client.post(
        "/login/key", json={"credential": answer}, headers={"X-CSRF-Token": csrf}
    )
    assert first.status_code == 200
    keys_client.cookies.clear()
    csrf = password_step(keys_client, responder.principal.username)
    keys_client.post("/login/key/options", headers={"X-CSRF-Token": csrf})
    replay = keys_client.post(
        "/login/key", json={"credential": answer}, headers={"X-CSRF-Token": csrf}
    )
    assert replay.status_code == 422 and "qorgau_session" not in keys_client.cookies
    assert audit_tags(store, responder.principal.user_id).count("user:2fa:failed") == 3


def test_failures_with_keys_and_codes_share_one_lockout(
    keys_client: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    responder = accounts["responder"]
    enrol_totp(store, responder.principal.user_id)
    soft = SoftAuthenticator(SITE)
    assert register_key(keys_client, store, responder, soft).status_code == 201
    csrf = password_step(keys_client, responder.principal.username)
    for _ in range(5):
        wrong = key_sign_in(keys_client, csrf, soft, origin="http://elsewhere.example")
        assert wrong.status_code == 422
    locked = key_sign_in(keys_client, csrf, soft)
    assert locked.status_code == 422 and "15" in locked.json()["error"]
    assert "qorgau_session" not in keys_client.cookies


def test_stale_or_forged_challenges_and_bad_bodies_are_refused(
    keys_client: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    responder = accounts["responder"]
    enrol_totp(store, responder.principal.user_id)
    soft = SoftAuthenticator(SITE)
    assert register_key(keys_client, store, responder, soft).status_code == 201
    csrf = password_step(keys_client, responder.principal.username)
    options = keys_client.post("/login/key/options", headers={"X-CSRF-Token": csrf}).json()
    keys_client.cookies.delete("qorgau_webauthn")
    keys_client.cookies.set("qorgau_webauthn", "1.sign-in.0.AAAA.forged")
    forged = keys_client.post(
        "/login/key", json={"credential": soft.get(options)}, headers={"X-CSRF-Token": csrf}
    )
    assert forged.status_code == 409 and "try again" in forged.json()["error"]
    garbage = keys_client.post(
        "/login/key",
        content=b"{not json",
        headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"},
    )
    assert garbage.status_code == 400 and "reload" in garbage.json()["error"]
    no_csrf = keys_client.post("/login/key", json={"credential": {}})
    assert no_csrf.status_code == 403


def test_adding_a_key_needs_the_code_first_and_a_named_site(
    store: Store, keys_client: TestClient, accounts: dict[str, Account]
) -> None:
    responder = accounts["responder"]
    csrf = signed_in(keys_client, store, responder.token)["csrf"]
    refused = keys_client.post(
        "/account/keys/options", headers={"X-CSRF-Token": csrf, "Accept-Language": "ru"}
    )
    assert refused.status_code == 409
    assert "код" in refused.json()["error"]  # in the reader's language
    enrol_totp(store, responder.principal.user_id)
    app = create_app(store.settings.with_overrides(public_base_url="http://127.0.0.1:8000"), store)
    with TestClient(app) as by_ip:
        csrf = signed_in(by_ip, store, responder.token)["csrf"]
        unavailable = by_ip.post("/account/keys/options", headers={"X-CSRF-Token": csrf})
        assert unavailable.status_code == 409
        assert "QORGAU_PUBLIC_BASE_URL" in unavailable.json()["error"]
        assert "QORGAU_PUBLIC_BASE_URL" in by_ip.get("/account").text


def test_removing_a_key_and_an_admin_reset_take_keys_away(
    keys_client: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    responder, admin = accounts["responder"], accounts["admin"]
    enrol_totp(store, responder.principal.user_id)
    assert register_key(keys_client, store, responder, SoftAuthenticator(SITE)).status_code == 201
    assert register_key(keys_client, store, responder, SoftAuthenticator(SITE)).status_code == 201
    with store.read() as conn:
        first, second = conn.execute(sa.select(security_keys.c.id)).scalars().all()
    # Another person cannot remove them.
    other_csrf = signed_in(keys_client, store, admin.token)["csrf"]
    keys_client.post(f"/account/keys/{first}/remove", data={"csrf": other_csrf})
    csrf = signed_in(keys_client, store, responder.token)["csrf"]
    removed = keys_client.post(
        f"/account/keys/{first}/remove", data={"csrf": csrf}, follow_redirects=False
    )
    assert removed.status_code == 303
    with store.read() as conn:
        assert conn.execute(sa.select(security_keys.c.id)).scalars().all() == [second]
    from qorgau.account_desk import SignInDesk
    from qorgau.desk import CaseDesk

    SignInDesk(CaseDesk(store)).reset_two_factor(admin.principal, responder.principal.user_id, None)
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(security_keys)).scalar() == 0
