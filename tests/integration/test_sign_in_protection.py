"""Sign-in protection and intake rate limits, through the real API and pages.

Two factors for API tokens too; wrong passwords lock a name for a while (counted from the
audit log, so on both databases) with the same answer whether the account exists or not; one
address cannot spray passwords across accounts or flood the intake. Time is moved by the
store's clock, never by sleeping.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from qorgau.account_desk import SignInDesk
from qorgau.config import Settings
from qorgau.desk import CaseDesk
from qorgau.domain.model import Role
from qorgau.errors import ConfigurationError, InvalidInput, PermissionDenied
from qorgau.security import two_factor
from qorgau.security.rate_limit import INTAKE, RateLimiter
from qorgau.sign_in_guard import lockout_wait
from qorgau.store.store import Store
from qorgau.store.tables import audit_events, incidents
from qorgau.web.app import create_app
from tests.conftest import PASSWORD, Account, make_account
from tests.integration.test_api_intake import ORDA_ADS
from tests.support.web import enrol_totp, form_csrf, signed_in

TOKEN = "/api/v1/auth/token"
RU = {"Accept-Language": "ru"}


class Clock:
    """The store's clock, moved by the test."""

    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def now(self) -> datetime:
        return self.at


@pytest.fixture
def clock(store: Store, monkeypatch: pytest.MonkeyPatch) -> Clock:
    moved = Clock()
    monkeypatch.setattr(store, "now", moved.now)
    return moved


@pytest.fixture
def tuned(store: Store, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Store:
    """The store with small limits: 3 wrong passwords lock a name, and no per-address limit
    unless a test sets one."""
    monkeypatch.setattr(
        store,
        "settings",
        store.settings.with_overrides(sign_in_max_failures=3, sign_in_rate_per_minute=0),
    )
    return store


def app_client(store: Store, **overrides: object) -> TestClient:
    return TestClient(create_app(store.settings.with_overrides(**overrides), store))


def code(store: Store, secret: str) -> str:
    return two_factor.code_at(secret, store.now())


def failures(store: Store) -> int:
    with store.read() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(audit_events.c.tag == "user:sign-in:failed")
            ).scalar_one()
        )


# -- two factors on the API ------------------------------------------------------------------
def test_api_token_needs_an_enrolled_second_factor_for_staff(
    store: Store, accounts: dict[str, Account], monkeypatch: pytest.MonkeyPatch
) -> None:
    creds = {"username": "responder-user", "password": PASSWORD}
    with app_client(store) as client:
        refused = client.post(TOKEN, json=creds, headers=RU)
        assert refused.status_code == 403
        assert "/login" in refused.json()["detail"] and refused.json()["title"] != ""
        secret = enrol_totp(store, accounts["responder"].principal.user_id or 0)
        assert client.post(TOKEN, json=creds).status_code == 401  # no code: no token
        ok = client.post(TOKEN, json={**creds, "otp": code(store, secret)})
        assert ok.status_code == 200 and ok.json()["role"] == "responder"
        # A reporter has no second factor to give and still gets a token with a password.
        make_account(store, Role.REPORTER, "rep-pass", password=PASSWORD)
        rep = client.post(TOKEN, json={"username": "rep-pass", "password": PASSWORD})
        assert rep.status_code == 200
    # The requirement is one setting: an installation that turns it off lets staff in.
    monkeypatch.setattr(store, "settings", store.settings.with_overrides(require_two_factor=False))
    make_account(store, Role.ANALYST, "analyst-pass", password=PASSWORD)
    with app_client(store) as client:
        off = client.post(TOKEN, json={"username": "analyst-pass", "password": PASSWORD})
        assert off.status_code == 200


def test_wrong_api_codes_lock_the_code_step(
    tuned: Store, clock: Clock, accounts: dict[str, Account]
) -> None:
    secret = enrol_totp(tuned, accounts["admin"].principal.user_id or 0)
    creds = {"username": "admin-user", "password": PASSWORD}
    wrong = "000000" if code(tuned, secret) != "000000" else "111111"
    with app_client(tuned) as client:
        for _ in range(5):
            assert client.post(TOKEN, json={**creds, "otp": wrong}).status_code == 401
        locked = client.post(TOKEN, json={**creds, "otp": code(tuned, secret)})
        assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
        clock.at += timedelta(minutes=16)
        assert client.post(TOKEN, json={**creds, "otp": code(tuned, secret)}).status_code == 200


# -- lockout of a name -----------------------------------------------------------------------
def test_wrong_passwords_lock_the_name_the_same_way_whether_it_exists_or_not(
    tuned: Store, clock: Clock, accounts: dict[str, Account]
) -> None:
    secret = enrol_totp(tuned, accounts["responder"].principal.user_id or 0)
    with app_client(tuned) as client:
        answers: dict[str, list[tuple[int, str]]] = {}
        for name in ("responder-user", "nobody-at-all"):
            got = []
            for _ in range(3):
                r = client.post(TOKEN, json={"username": name, "password": "wrong password!"})
                got.append((r.status_code, r.json()["detail"]))
            # Now the right password (and code) is refused too, while the window lasts.
            r = client.post(
                TOKEN,
                json={"username": name, "password": PASSWORD, "otp": code(tuned, secret)},
                headers=RU,
            )
            got.append((r.status_code, r.json()["detail"]))
            assert r.status_code == 429
            assert 0 < int(r.headers["retry-after"]) <= 15 * 60 + 1
            assert r.json()["title"].startswith("Слишком много")
            answers[name] = got
        assert answers["responder-user"] == answers["nobody-at-all"]
        assert [s for s, _ in answers["responder-user"]] == [401, 401, 401, 429]
        # Every refusal was committed, not rolled back with its request.
        assert failures(tuned) == 6
        clock.at += timedelta(minutes=16)
        opened = client.post(
            TOKEN,
            json={"username": "responder-user", "password": PASSWORD, "otp": code(tuned, secret)},
        )
        assert opened.status_code == 200


def test_web_sign_in_lockout_shows_the_message_in_the_readers_language(
    tuned: Store, clock: Clock, accounts: dict[str, Account]
) -> None:
    with app_client(tuned) as web:
        web.headers.update({"accept": "text/html", **RU})
        for password, status in [("wrong password!", 401)] * 3 + [(PASSWORD, 429)]:
            page = web.get("/login")
            r = web.post(
                "/login",
                data={"csrf": form_csrf(page.text), "username": "admin-user", "password": password},
                follow_redirects=False,
            )
            assert r.status_code == status
        assert "Слишком много неудачных попыток входа" in r.text
        assert int(r.headers["retry-after"]) > 0
        assert web.cookies.get("qorgau_pending") is None  # no step two while locked
        clock.at += timedelta(minutes=16)
        page = web.get("/login")
        r = web.post(
            "/login",
            data={"csrf": form_csrf(page.text), "username": "admin-user", "password": PASSWORD},
            follow_redirects=False,
        )
        assert r.status_code == 303 and r.headers["location"].startswith("/login/enrol")


# -- one address, many accounts --------------------------------------------------------------
def test_one_address_cannot_spray_passwords_across_accounts(
    tuned: Store, accounts: dict[str, Account]
) -> None:
    secret = enrol_totp(tuned, accounts["admin"].principal.user_id or 0)
    app = create_app(tuned.settings.with_overrides(sign_in_rate_per_minute=3), tuned)
    with TestClient(app, client=("192.0.2.10", 1)) as sprayer:
        for name in ("responder-user", "coordinator-user", "no-such-person"):
            r = sprayer.post(TOKEN, json={"username": name, "password": "Winter2025!!"})
            assert r.status_code == 401
        right = {"username": "admin-user", "password": PASSWORD, "otp": code(tuned, secret)}
        refused = sprayer.post(TOKEN, json=right, headers=RU)
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) <= 60
        assert failures(tuned) == 3  # refused before any password was checked
        # Another address signs in as usual; the web form from the spraying one is refused.
        colleague = TestClient(app, client=("198.51.100.20", 1))  # same app, no 2nd lifespan
        try:
            assert colleague.post(TOKEN, json=right).status_code == 200
        finally:
            colleague.close()
        page = sprayer.get("/login", headers={"accept": "text/html", **RU})
        form = {"csrf": form_csrf(page.text), "username": "admin-user", "password": PASSWORD}
        web = sprayer.post("/login", data=form, headers={"accept": "text/html", **RU})
        assert web.status_code == 429 and "Слишком много" in web.text


# -- intake ------------------------------------------------------------------------------------
def count(store: Store) -> int:
    with store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(incidents)).scalar_one())


def test_intake_is_limited_per_address_and_refused_before_the_body_is_read(
    store: Store,
) -> None:
    app = create_app(
        store.settings.with_overrides(intake_rate_per_minute=3, trust_proxy_headers=True), store
    )
    flood = {"X-Forwarded-For": "203.0.113.5"}
    with TestClient(app) as client:
        for _ in range(3):
            assert client.post("/api/v1/reports", json=ORDA_ADS, headers=flood).status_code == 201
        refused = client.post("/api/v1/reports", json=ORDA_ADS, headers={**flood, **RU})
        assert refused.status_code == 429
        assert 0 < int(refused.headers["retry-after"]) <= 60
        assert refused.json()["error"] == "too_many_requests"
        assert "ничего не сохранено" in refused.json()["title"]
        # Not parsed at all: junk gets the same 429, not a 422 about the junk.
        junk = client.post(
            "/api/v1/reports", content=b"{not json", headers={**flood, "content-type": "x/y"}
        )
        assert junk.status_code == 429
        # The public form says it in a page, in the reader's language.
        page = client.post(
            "/report",
            data={"title": "x"},
            headers={**flood, "accept": "text/html", "Accept-Language": "kk"},
        )
        assert page.status_code == 429 and "ештеңе сақталмады" in page.text
        assert page.headers["content-type"].startswith("text/html")
        # Everyone else is unaffected, and nothing already stored was lost.
        other = {"X-Forwarded-For": "198.51.100.9"}
        assert client.post("/api/v1/reports", json=ORDA_ADS, headers=other).status_code == 201
        assert client.get("/report", headers={**flood, "accept": "text/html"}).status_code == 200
    assert count(store) == 4


def test_forwarded_for_is_ignored_unless_proxy_headers_are_trusted(store: Store) -> None:
    app = create_app(store.settings.with_overrides(intake_rate_per_minute=2), store)
    with TestClient(app) as client:
        for n in range(3):
            # A client cannot dodge the limit by inventing a new address each time.
            spoof = {"X-Forwarded-For": f"10.0.0.{n}"}
            r = client.post("/api/v1/reports", json=ORDA_ADS, headers=spoof)
        assert r.status_code == 429
    assert count(store) == 2


def test_behind_a_trusted_proxy_the_address_it_appended_counts(store: Store) -> None:
    settings = store.settings.with_overrides(intake_rate_per_minute=2, trust_proxy_headers=True)
    with TestClient(create_app(settings, store)) as client:
        # The proxy appends the real address; whatever the client put before it is ignored.
        for n in range(3):
            spoof = {"X-Forwarded-For": f"10.0.0.{n}, 198.51.100.7"}
            r = client.post("/api/v1/reports", json=ORDA_ADS, headers=spoof)
        assert r.status_code == 429
        other = client.post(
            "/api/v1/reports", json=ORDA_ADS, headers={"X-Forwarded-For": "198.51.100.8"}
        )
        assert other.status_code == 201
    assert count(store) == 3


# -- the pieces --------------------------------------------------------------------------------
def test_lockout_opens_when_the_oldest_counted_failure_ages_out() -> None:
    now = datetime(2025, 6, 1, 12, 0)
    window = timedelta(minutes=15)
    latest = [now - timedelta(minutes=m) for m in (1, 5, 10)]
    assert lockout_wait(latest[:2], 3, window, now) is None
    assert lockout_wait(latest, 3, window, now) == 5 * 60 + 1
    assert lockout_wait(latest, 0, window, now) is None


def test_settings_for_sign_in_protection_and_rate_limits() -> None:
    assert Settings.from_env({}).require_two_factor is True
    assert Settings.from_env({"QORGAU_WEB_REQUIRE_2FA": "0"}).require_two_factor is False
    both = {"QORGAU_WEB_REQUIRE_2FA": "0", "QORGAU_REQUIRE_2FA": "1"}
    assert Settings.from_env(both).require_two_factor is True
    env = Settings.from_env(
        {"QORGAU_INTAKE_RATE_PER_MINUTE": "0", "QORGAU_SIGN_IN_RATE_PER_MINUTE": "25"}
    )
    assert (env.intake_rate_per_minute, env.sign_in_rate_per_minute) == (0, 25)
    with pytest.raises(ConfigurationError, match="QORGAU_INTAKE_RATE_PER_MINUTE"):
        Settings.from_env({"QORGAU_INTAKE_RATE_PER_MINUTE": "lots"})
    with pytest.raises(ConfigurationError, match="Redis URL"):
        Settings.from_env({"QORGAU_RATE_LIMIT_STORAGE": "ftp://example"})


def test_processes_sharing_redis_share_one_limit() -> None:
    """Two server processes pointed at one Redis count together (the real server)."""
    url = "redis://127.0.0.1:6379/15"
    first, second = RateLimiter(url, {INTAKE: 2}), RateLimiter(url, {INTAKE: 2})
    try:
        address = f"192.0.2.{uuid.uuid4().int % 250}-{uuid.uuid4().hex[:8]}"
        assert first.hit(INTAKE, address) is None
        assert second.hit(INTAKE, address) is None
        wait = first.hit(INTAKE, address)
        assert wait is not None and 0 < wait <= 60
        assert second.wait(INTAKE, address) is not None
        # Another address has its own allowance.
        assert second.hit(INTAKE, address + "-other") is None
    finally:
        first.close()
        second.close()


def test_concurrent_wrong_codes_cannot_outrun_the_lockout(
    store: Store, accounts: dict[str, Account]
) -> None:
    """Ten guesses at once: each must see the failures recorded before it, so exactly five
    are tried and the rest are refused untried (on PostgreSQL the account row is locked)."""
    import threading

    from qorgau.account_desk import SignInDesk
    from qorgau.desk import CaseDesk
    from qorgau.errors import InvalidInput

    responder = accounts["responder"]
    user_id = responder.principal.user_id or 0
    enrol_totp(store, user_id)
    desk = SignInDesk(CaseDesk(store))
    start = threading.Barrier(10)
    outcomes: list[str] = []

    def guess() -> None:
        start.wait()
        try:
            desk.verify_code(user_id, "000000", "192.0.2.1")
        except InvalidInput as exc:
            outcomes.append(exc.problems[0].rule)

    threads = [threading.Thread(target=guess) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    with store.read() as conn:
        tried = conn.execute(
            sa.select(sa.func.count()).where(
                audit_events.c.tag == "user:2fa:failed",
                audit_events.c.entity_id == str(user_id),
            )
        ).scalar_one()
    assert tried == 5
    assert sorted(outcomes) == ["locked"] * 5 + ["totp"] * 5


def test_changing_the_password_is_no_way_round_the_lockout(
    client: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    """Someone holding a session guesses the current password: audited and locked like
    sign-in, so the right one is refused too once the name is locked."""
    responder = accounts["responder"]
    body = {"current_password": "guess", "new_password": "a brand new long password"}
    answers = [
        client.post("/api/v1/me/password", json=body, headers=responder.headers).status_code
        for _ in range(11)
    ]
    assert answers == [422] * 10 + [429]
    right = {**body, "current_password": PASSWORD}
    locked = client.post("/api/v1/me/password", json=right, headers=responder.headers)
    assert locked.status_code == 429 and "Retry-After" in locked.headers
    with store.read() as conn:
        failures = conn.execute(
            sa.select(sa.func.count()).where(
                audit_events.c.tag == "user:sign-in:failed",
                audit_events.c.entity_id == str(responder.principal.user_id),
            )
        ).scalar_one()
    assert failures == 10


# -- an administrator opens a locked account early -------------------------------------------
def test_an_administrator_clears_a_lockout_and_only_for_their_own_organisation(
    tuned: Store, clock: Clock, accounts: dict[str, Account]
) -> None:
    """The lockout messages say "or ask an administrator": the users page offers exactly that
    for a locked account, the old failures stop counting, and the unlock is audited."""
    uid = accounts["responder"].principal.user_id or 0
    secret = enrol_totp(tuned, uid)
    creds = {"username": "responder-user", "password": PASSWORD}
    wrong = "000000" if code(tuned, secret) != "000000" else "111111"
    with app_client(tuned) as api:
        for _ in range(3):
            api.post(TOKEN, json={**creds, "password": "wrong password!"})
        assert api.post(TOKEN, json={**creds, "otp": code(tuned, secret)}).status_code == 429

        with app_client(tuned) as ui:
            ui.headers["accept"] = "text/html"
            csrf = signed_in(ui, tuned, accounts["admin"].token)
            page = ui.get("/admin/users")
            row = re.search(r'<tr data-user="responder-user">.*?</tr>', page.text, re.S)
            assert row and f"/admin/users/{uid}/sign-in/unlock" in row.group(0)
            admin_row = re.search(r'<tr data-user="admin-user">.*?</tr>', page.text, re.S)
            assert admin_row and "sign-in/unlock" not in admin_row.group(0)  # not locked
            # Another organisation's account is not this administrator's to open.
            other = accounts["other_coordinator"].principal.user_id
            assert ui.post(f"/admin/users/{other}/sign-in/unlock", data=csrf).status_code == 404
            done = ui.post(f"/admin/users/{uid}/sign-in/unlock", data=csrf)
            assert "lockout was cleared" in done.text
            row = re.search(r'<tr data-user="responder-user">.*?</tr>', done.text, re.S)
            assert row and "sign-in/unlock" not in row.group(0)

        # Open at once, no waiting: the right password and code get a token.
        assert api.post(TOKEN, json={**creds, "otp": code(tuned, secret)}).status_code == 200
        # Wrong codes lock the code step; the same unlock opens that too.
        clock.at += timedelta(seconds=31)
        for _ in range(5):
            api.post(TOKEN, json={**creds, "otp": wrong})
        assert api.post(TOKEN, json={**creds, "otp": code(tuned, secret)}).status_code == 429
        clock.at += timedelta(seconds=1)
        desk = SignInDesk(CaseDesk(tuned))
        assert desk.locked_users(accounts["admin"].principal) == {uid}
        # The browser's code step (and the security-key step, which shares its count) is
        # closed as well ...
        with pytest.raises(InvalidInput) as closed:
            desk.verify_code(uid, code(tuned, secret), None)
        assert closed.value.problems[0].rule == "locked"
        with pytest.raises(PermissionDenied):
            desk.unlock_sign_in(accounts["coordinator"].principal, uid, None)
        desk.unlock_sign_in(accounts["admin"].principal, uid, "192.0.2.7")
        clock.at += timedelta(seconds=1)
        # ... and opens with the same unlock.
        desk.verify_code(uid, code(tuned, secret), None)
        clock.at += timedelta(seconds=31)
        assert api.post(TOKEN, json={**creds, "otp": code(tuned, secret)}).status_code == 200
        # New failures after the unlock count from zero again.
        for _ in range(3):
            api.post(TOKEN, json={**creds, "password": "wrong password!"})
        assert api.post(TOKEN, json={**creds, "otp": code(tuned, secret)}).status_code == 429
    with tuned.read() as conn:
        unlocks = conn.execute(
            sa.select(audit_events.c.actor_id, audit_events.c.address)
            .where(
                audit_events.c.tag == "user:sign-in:unlocked",
                audit_events.c.entity_id == str(uid),
            )
            .order_by(audit_events.c.id)
        ).all()
    admin_id = accounts["admin"].principal.user_id
    assert [tuple(u) for u in unlocks] == [(admin_id, "testclient"), (admin_id, "192.0.2.7")]


# -- receipt codes ---------------------------------------------------------------------------
def test_wrong_receipt_codes_are_limited_per_address_and_a_right_one_always_works(
    store: Store,
) -> None:
    """Following a report, giving consent and pulling the panic lock all take the receipt
    code. Codes matching no report count against the address and, past its allowance, answer
    429 on every route; a right code is never refused, even from that address (an onion
    service's visitors all share one), so nobody can block another person's panic lock."""
    app = create_app(
        store.settings.with_overrides(receipt_rate_per_minute=3, trust_proxy_headers=True), store
    )
    shared = {"X-Forwarded-For": "203.0.113.9"}
    with TestClient(app) as client:
        code_ = client.post("/api/v1/reports", json=ORDA_ADS).json()["receipt_code"]
        for _ in range(5):  # right codes never use up the allowance
            ok = client.post("/api/v1/reports/track", json={"receipt_code": code_}, headers=shared)
            assert ok.status_code == 200
        wrong = [f"AAAAA-BBBBB-CCCCC-DDDD{c}" for c in "EFG"]
        answers = [
            client.post("/api/v1/reports/track", json={"receipt_code": w}, headers=shared)
            for w in wrong
        ]
        assert [a.status_code for a in answers] == [404, 404, 404]
        # Over the allowance: a wrong code gets 429 with when to try again, on every route.
        miss = "AAAAA-BBBBB-CCCCC-DDDDH"
        for path, body in (
            ("/api/v1/reports/track", {"receipt_code": miss}),
            ("/api/v1/reports/track/consent", {"receipt_code": miss, "name_publicly": "no"}),
            ("/api/v1/reports/track/lock", {"receipt_code": miss}),
        ):
            r = client.post(path, json=body, headers={**shared, **RU})
            assert r.status_code == 429, path
            assert 0 < int(r.headers["retry-after"]) <= 60
            assert r.json()["error"] == "too_many_requests"
        page = client.get("/track", headers={**shared, "accept": "text/html"})
        csrf = form_csrf(page.text)
        html = {**shared, "accept": "text/html", "Accept-Language": "kk"}
        for path in ("/track", "/track/lock", "/track/consent"):
            r = client.post(path, data={"csrf": csrf, "code": miss}, headers=html)
            assert r.status_code == 429, path
            assert "түбіртек коды" in r.text and int(r.headers["retry-after"]) > 0, path
        # The right code still works from the same address: follow, consent, and the lock.
        assert (
            client.post("/track", data={"csrf": csrf, "code": code_}, headers=html).status_code
            == 200
        )
        consent = {"receipt_code": code_, "name_publicly": "no"}
        r = client.post("/api/v1/reports/track/consent", json=consent, headers=shared)
        assert r.status_code == 201
        r = client.post("/api/v1/reports/track/lock", json={"receipt_code": code_}, headers=shared)
        assert r.status_code == 200 and r.json()["locked"] is True
    with store.read() as conn:
        locks = conn.execute(
            sa.select(sa.func.count()).select_from(sa.table("case_locks"))
        ).scalar_one()
    assert locks == 1


def test_the_intake_limit_counts_in_redis_from_the_web_edge(store: Store) -> None:
    """With a shared counter store the middleware counts off the event loop, and still
    refuses the address over its allowance (the real Redis)."""
    address = f"203.0.113.{uuid.uuid4().int % 250}"
    settings = store.settings.with_overrides(
        intake_rate_per_minute=2,
        trust_proxy_headers=True,
        rate_limit_storage="redis://127.0.0.1:6379/15",
    )
    app = create_app(settings, store)
    # A unique address per run: counters in Redis outlive the test.
    flood = {"X-Forwarded-For": f"{address}, {uuid.uuid4().hex[:8]}"}
    on_loop: list[bool] = []
    with TestClient(app) as client:
        limiter = app.state.rate_limiter
        assert limiter.remote
        real_hit = limiter.hit

        def hit(bucket: str, address: str | None) -> int | None:
            try:
                asyncio.get_running_loop()
                on_loop.append(True)
            except RuntimeError:  # no loop in this thread: a worker thread
                on_loop.append(False)
            return real_hit(bucket, address)

        limiter.hit = hit
        answers = [
            client.post("/api/v1/reports", json=ORDA_ADS, headers=flood).status_code
            for _ in range(3)
        ]
    assert answers == [201, 201, 429]
    assert on_loop == [False, False, False]  # every Redis call was made off the event loop
    assert not RateLimiter("memory://", {INTAKE: 2}).remote
