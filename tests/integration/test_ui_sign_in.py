"""Signing in to the web interface: password, second factor, sessions, CSRF, error pages.

Staff sign in with a password and a TOTP code; the first sign-in is the enrolment. These tests
drive the real pages with a TestClient (cookies and all) and check the stored state through the
store, not the pages' own words.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from qorgau.security import two_factor
from qorgau.store import users
from qorgau.store.store import Store
from qorgau.store.tables import api_tokens, audit_events
from qorgau.web.app import create_app
from tests.conftest import PASSWORD, Account
from tests.support.web import enrol_totp, form_csrf, signed_in, totp_now

HTML = {"accept": "text/html"}
SECRET_ON_PAGE = re.compile(r'data-testid="totp-secret">([A-Z2-7]+)<')


@pytest.fixture
def web(store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(store.settings, store), headers=HTML) as c:
        yield c


def password_step(c: TestClient, username: str, password: str, next_path: str = "/account"):  # type: ignore[no-untyped-def]
    page = c.get(f"/login?next={next_path}")
    assert page.status_code == 200
    return c.post(
        "/login",
        data={
            "csrf": form_csrf(page.text),
            "username": username,
            "password": password,
            "next": next_path,
        },
        follow_redirects=False,
    )


def audit_tags(store: Store) -> list[str]:
    with store.read() as conn:
        return list(
            conn.execute(sa.select(audit_events.c.tag).order_by(audit_events.c.id)).scalars()
        )


def test_first_sign_in_of_staff_is_the_enrolment_and_later_ones_need_a_code(
    web: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    user_id = accounts["responder"].principal.user_id
    assert user_id is not None
    r = password_step(web, "responder-user", PASSWORD)
    assert r.status_code == 303 and r.headers["location"].startswith("/login/enrol")
    # No session exists yet: the desk still sends this browser to the sign-in page.
    assert web.get("/account", follow_redirects=False).status_code == 303
    page = web.get(r.headers["location"])
    secret_match = SECRET_ON_PAGE.search(page.text)
    assert secret_match and "<svg" in page.text  # the QR code is drawn inline, not fetched
    secret = secret_match.group(1)
    # Reloading shows the same secret: the phone that already scanned it stays valid.
    assert SECRET_ON_PAGE.search(web.get("/login/enrol").text).group(1) == secret  # type: ignore[union-attr]
    wrong = web.post(
        "/login/enrol", data={"csrf": form_csrf(page.text), "code": "000000", "next": "/account"}
    )
    assert wrong.status_code == 422 and 'aria-invalid="true"' in wrong.text
    done = web.post(
        "/login/enrol",
        data={"csrf": form_csrf(wrong.text), "code": totp_now(secret), "next": "/account"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/account"
    assert "responder-user" in web.get("/account").text
    with store.read() as conn:
        active, pending, _ = users.totp_state(conn, store.cipher, user_id)
        stored = conn.execute(
            sa.select(users.users.c.totp_secret).where(users.users.c.id == user_id)
        ).scalar_one()
    assert active == secret and pending is None
    assert secret not in stored  # encrypted at rest

    # A second browser: the password alone leads to the code step, and the code used at
    # enrolment cannot be replayed.
    with TestClient(create_app(store.settings, store), headers=HTML) as other:
        r = password_step(other, "responder-user", PASSWORD)
        assert r.status_code == 303 and r.headers["location"].startswith("/login/code")
        code_page = other.get(r.headers["location"])
        replay = other.post(
            "/login/code",
            data={"csrf": form_csrf(code_page.text), "code": totp_now(secret), "next": "/account"},
        )
        assert replay.status_code == 422
        assert other.get("/account", follow_redirects=False).status_code == 303
    assert "user:2fa:enrolled" in audit_tags(store) and "user:2fa:failed" in audit_tags(store)


def test_code_step_accepts_the_next_code_once(
    web: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    user_id = accounts["admin"].principal.user_id
    assert user_id is not None
    secret = enrol_totp(store, user_id)
    r = password_step(web, "admin-user", PASSWORD, "/admin")
    page = web.get(r.headers["location"])
    ok = web.post(
        "/login/code",
        data={"csrf": form_csrf(page.text), "code": totp_now(secret), "next": "/admin"},
        follow_redirects=False,
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/admin"
    cookie = web.cookies.get("qorgau_session")
    assert cookie and cookie.startswith("qg_")
    set_cookie = ok.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "samesite=strict" in set_cookie


def test_wrong_password_is_refused_next_to_the_form_and_audited(
    web: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    r = password_step(web, "responder-user", "not the password at all")
    assert r.status_code == 401
    assert "Wrong username or password." in r.text
    assert 'value="responder-user"' in r.text  # the username is kept
    assert "not the password at all" not in r.text  # the password never comes back
    assert "user:sign-in:failed" in audit_tags(store)
    unknown = password_step(web, "nobody-here", "whatever password")
    assert unknown.status_code == 401 and "Wrong username or password." in unknown.text


def test_the_pending_step_expires_and_cannot_be_forged(
    web: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    user_id = accounts["admin"].principal.user_id
    assert user_id is not None
    enrol_totp(store, user_id)
    # A forged note naming the admin gets the visitor nowhere.
    web.cookies.set("qorgau_pending", f"{user_id}.code.{int(datetime.now(UTC).timestamp())}.forged")
    assert (
        web.get("/login/code", follow_redirects=False)
        .headers["location"]
        .startswith("/login?expired")
    )
    # A genuine note older than five minutes is refused too.
    old = int((datetime.now(UTC) - timedelta(minutes=6)).timestamp())
    body = f"{user_id}.code.{old}"
    web.cookies.set(
        "qorgau_pending", f"{body}.{store.cipher.blind_index(body, 'web.pending-sign-in')}"
    )
    assert web.get("/login/code", follow_redirects=False).status_code == 303


def test_api_token_sign_in_needs_the_code_once_enrolled(
    client: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    user_id = accounts["responder"].principal.user_id
    assert user_id is not None
    creds = {"username": "responder-user", "password": PASSWORD}
    # No second factor yet: no token either, and the answer says where to set one up.
    unenrolled = client.post("/api/v1/auth/token", json=creds)
    assert unenrolled.status_code == 403 and "/login" in unenrolled.json()["detail"]
    secret = enrol_totp(store, user_id)
    refused = client.post("/api/v1/auth/token", json=creds)
    assert refused.status_code == 401 and "otp" in refused.json()["detail"]
    code = totp_now(secret)
    assert client.post("/api/v1/auth/token", json={**creds, "otp": code}).status_code == 200
    # The same code twice is a replay.
    assert client.post("/api/v1/auth/token", json={**creds, "otp": code}).status_code == 401


def test_sign_out_revokes_the_session(
    web: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    token = accounts["coordinator"].token
    form = signed_in(web, store, token)
    assert web.get("/account").status_code == 200
    without = web.post("/logout", data={}, follow_redirects=False)
    assert without.status_code == 403  # no CSRF token: not a sign-out another site can force
    r = web.post("/logout", data=form, follow_redirects=False)
    assert r.status_code == 303
    with store.read() as conn:
        revoked = conn.execute(
            sa.select(api_tokens.c.revoked_at).where(api_tokens.c.digest == _digest(token))
        ).scalar_one()
    assert revoked is not None
    web.cookies.set("qorgau_session", token)
    assert web.get("/account", follow_redirects=False).headers["location"] == "/login?next=/account"


def _digest(token: str) -> str:
    from qorgau.security.tokens import token_digest

    return token_digest(token)


def test_csrf_from_another_site_and_open_redirects_are_refused(
    web: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    form = signed_in(web, store, accounts["coordinator"].token)
    other_site = web.post(
        "/logout", data=form, headers={"origin": "https://evil.example"}, follow_redirects=False
    )
    assert other_site.status_code == 403
    web.cookies.clear()
    user_id = accounts["admin"].principal.user_id
    assert user_id is not None
    secret = enrol_totp(store, user_id)
    r = password_step(web, "admin-user", PASSWORD, "//evil.example/x")
    page = web.get(r.headers["location"])
    done = web.post(
        "/login/code",
        data={"csrf": form_csrf(page.text), "code": totp_now(secret), "next": "//evil.example/x"},
        follow_redirects=False,
    )
    assert done.headers["location"] == "/desk"


def test_session_cookie_reads_the_api_but_cannot_change_it(
    web: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    signed_in(web, store, accounts["responder"].token)
    me = web.get("/api/v1/me", headers={"accept": "application/json"})
    assert me.status_code == 200 and me.json()["username"] == "responder-user"
    change = web.post(
        "/api/v1/incidents/Q-0000-0000/notes",
        json={"body": "x"},
        headers={"accept": "application/json"},
    )
    assert change.status_code == 401


def test_pages_answer_errors_as_pages_in_the_readers_language(
    web: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    signed_in(web, store, accounts["responder"].token)
    missing = web.get("/no-such-page", headers={"accept-language": "kk"})
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert '<html lang="kk">' in missing.text
    # The API keeps its JSON errors.
    api = web.get("/api/v1/no-such-thing", headers={"accept": "application/json"})
    assert api.headers["content-type"].startswith("application/json")
    page = web.get("/account")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"


def test_language_choice_is_remembered(web: TestClient) -> None:
    r = web.get("/login?lang=ru", headers={"accept-language": "en"})
    assert '<html lang="ru">' in r.text and "Войти" in r.text
    again = web.get("/login", headers={"accept-language": "en"})
    assert '<html lang="ru">' in again.text
    assert '<html lang="kk">' in web.get("/login?lang=kk").text


def test_code_helper_matches_an_authenticator() -> None:
    secret = two_factor.new_secret()
    now = datetime(2026, 12, 3, 6, 0, 15, tzinfo=UTC)
    code = two_factor.code_at(secret, now)
    step = two_factor.accepted_step(secret, code, now, None)
    assert step == int(now.timestamp()) // 30
    assert two_factor.accepted_step(secret, code, now, step) is None  # used once
    spaced = f"{code[:3]} {code[3:]}"
    assert two_factor.accepted_step(secret, spaced, now + timedelta(seconds=30), None) == step
    assert two_factor.accepted_step(secret, code, now + timedelta(minutes=5), None) is None


def test_two_factor_code_command_prints_what_an_authenticator_shows(tmp_path: Path) -> None:
    from tests.integration.test_cli import no_traceback, qorgau

    secret = two_factor.new_secret()
    r = qorgau("two-factor-code", secret, data_dir=tmp_path)
    assert r.returncode == 0, r.stderr
    code = r.stdout.strip()
    assert two_factor.accepted_step(secret, code, datetime.now(UTC), None) is not None
    bad = qorgau("two-factor-code", "not a key!", data_dir=tmp_path)
    assert bad.returncode == 2 and "base32" in bad.stderr
    no_traceback(bad)


def test_an_oversized_form_gets_a_page_in_the_readers_language(web: TestClient) -> None:
    big = "x" * (300 * 1024)  # over the 256 KB limit of pages that take no files
    r = web.post("/login", data={"username": big}, headers={"accept-language": "kk"})
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("text/html")
    assert '<html lang="kk">' in r.text and "ештеңе сақталмады" in r.text
    api = web.post("/api/v1/reports", content=big.encode(), headers={"accept": "application/json"})
    assert api.status_code == 413 and api.json()["error"] == "request_too_large"


def test_wrong_codes_lock_the_code_step_for_a_while(
    web: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    user_id = accounts["admin"].principal.user_id
    assert user_id is not None
    secret = enrol_totp(store, user_id)
    r = password_step(web, "admin-user", PASSWORD, "/admin")
    page = web.get(r.headers["location"])
    wrong = "000000" if totp_now(secret) != "000000" else "111111"
    for _ in range(5):
        page = web.post(
            "/login/code", data={"csrf": form_csrf(page.text), "code": wrong, "next": "/admin"}
        )
        assert page.status_code == 422
    # The right code is now refused too, with a message saying what to do.
    locked = web.post(
        "/login/code",
        data={"csrf": form_csrf(page.text), "code": totp_now(secret), "next": "/admin"},
        follow_redirects=False,
    )
    assert locked.status_code == 422 and "wait 15 minutes" in locked.text
    assert web.cookies.get("qorgau_session") is None


def test_an_enrolment_secret_belongs_to_the_browser_that_drew_it(
    store: Store, accounts: dict[str, Account]
) -> None:
    """Someone who has the password and opens the set-up page first must not end up holding
    the owner's second factor: the owner's own attempt gets a new secret, and the intruder's
    copy cannot confirm any more."""
    app = create_app(store.settings, store)
    with TestClient(app, headers=HTML) as intruder, TestClient(app, headers=HTML) as owner:
        first = intruder.get(
            password_step(intruder, "responder-user", PASSWORD).headers["location"]
        )
        copied = SECRET_ON_PAGE.search(first.text).group(1)  # type: ignore[union-attr]
        mine = owner.get(password_step(owner, "responder-user", PASSWORD).headers["location"])
        own = SECRET_ON_PAGE.search(mine.text).group(1)  # type: ignore[union-attr]
        assert own != copied
        late = intruder.post(
            "/login/enrol",
            data={"csrf": form_csrf(first.text), "code": totp_now(copied), "next": "/desk"},
            follow_redirects=False,
        )
        assert late.status_code == 303 and late.headers["location"].startswith("/login?expired")
        done = owner.post(
            "/login/enrol",
            data={"csrf": form_csrf(mine.text), "code": totp_now(own), "next": "/account"},
            follow_redirects=False,
        )
        assert done.status_code == 303 and done.headers["location"] == "/account"
    user_id = accounts["responder"].principal.user_id
    assert user_id is not None
    with store.read() as conn:
        assert users.totp_state(conn, store.cipher, user_id)[0] == own


def test_the_way_back_after_sign_in_keeps_its_whole_query(web: TestClient) -> None:
    r = web.get("/desk?status=new&severity=high", follow_redirects=False)
    assert r.status_code == 303
    page = web.get(r.headers["location"])
    assert 'value="/desk?status=new&amp;severity=high"' in page.text
    expired = web.get("/login/code?next=/desk", follow_redirects=False)
    again = web.get(expired.headers["location"])
    assert "took too long" in again.text and 'value="/desk"' in again.text
