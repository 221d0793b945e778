"""An administrator's first day in Debian's Chromium, on SQLite and PostgreSQL: the first
sign-in is also the two-factor enrolment (the key read from the page, the code computed as an
authenticator app would), then a responder's account is created on the users page. axe-core
finds no serious or critical problem on the enrolment page or any administration page, and
nothing is fetched from anywhere but the app on loopback."""

from __future__ import annotations

import pytest

from qorgau.domain.model import Role
from qorgau.store import users
from qorgau.store.store import Store
from qorgau.web.app import create_app
from tests.conftest import PASSWORD, Account
from tests.support.web import (
    axe_violations,
    browser,
    needs_axe,
    needs_chromium,
    outside_requests,
    screenshot,
    served,
    totp_now,
)

ADMIN_PAGES = (
    "/admin",
    "/admin/playbooks",
    "/admin/documents?kind=playbook:ddos",
    "/admin/referrals",
    "/admin/channels",
    "/admin/agents",
    "/admin/audit",
)


@pytest.mark.browser
@needs_chromium
@needs_axe
def test_an_administrator_enrols_a_second_factor_and_creates_a_responder(
    store: Store, accounts: dict[str, Account]
) -> None:
    admin = accounts["admin"].principal
    with served(create_app(store.settings, store)) as base, browser() as b:
        # axe-core is injected as an inline script, which the pages' CSP rightly refuses.
        context = b.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
        page = context.new_page()
        page.set_default_timeout(15_000)
        outside = outside_requests(page, base)

        page.goto(f"{base}/admin/users")  # signed out: sent to sign in, then brought back
        page.wait_for_url(lambda url: url.startswith(f"{base}/login?next="))
        page.fill("#f-username", admin.username)
        page.fill("#f-password", PASSWORD)
        page.click("button[type=submit].primary")
        page.wait_for_url(lambda url: url.startswith(f"{base}/login/enrol"))
        assert axe_violations(page) == []
        screenshot(page, "admin-enrol-2fa")
        secret = page.locator("[data-testid=totp-secret]").inner_text().strip()
        page.fill("#f-code", totp_now(secret))
        page.click("button[type=submit].primary")
        page.wait_for_url(f"{base}/admin/users")

        with store.read() as conn:
            assert users.totp_state(conn, store.cipher, admin.user_id or 0)[0] == secret

        page.fill("#f-username", "aigerim.b")
        page.fill("#f-display_name", "Aigerim B.")
        page.select_option("#f-role", "responder")
        page.fill("#f-password", "a first password for Aigerim")
        page.click("form[action='/admin/users'] button[type=submit].primary")
        page.wait_for_url(lambda url: url.endswith("/admin/users?done=user-created"))
        row = page.locator("tr[data-user='aigerim.b']")
        assert "Aigerim B." in row.inner_text()
        assert axe_violations(page) == []
        screenshot(page, "admin-users")

        for path in ADMIN_PAGES:
            response = page.goto(f"{base}{path}")
            assert response is not None and response.status == 200, path
            assert axe_violations(page) == [], path
        assert outside == []

    with store.read() as conn:
        created = users.user_by_name(conn, "aigerim.b")
    assert created is not None and created.role is Role.RESPONDER
