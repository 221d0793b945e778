"""A responder adds a security key in real Chromium and signs in with it. The key is
Chromium's virtual authenticator (DevTools' WebAuthn domain), so the browser's own WebAuthn
code builds every request and answer that the server checks."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from qorgau.store.store import Store
from qorgau.store.tables import security_keys
from qorgau.web.app import create_app
from tests.conftest import PASSWORD, Account
from tests.support.web import (
    axe_violations,
    browser,
    enrol_totp,
    needs_axe,
    needs_chromium,
    outside_requests,
    served,
    totp_now,
)


def password_step(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#f-username", username)
    page.fill("#f-password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/login/code**")


@pytest.mark.browser
@needs_chromium
@needs_axe
def test_a_responder_adds_a_security_key_and_signs_in_with_a_touch(
    store: Store, accounts: dict[str, Account]
) -> None:
    responder = accounts["responder"]
    assert responder.principal.user_id is not None
    secret = enrol_totp(store, responder.principal.user_id)
    app = create_app(store.settings, store)
    with served(app) as served_at, browser() as b:
        # Keys are bound to a site name; Chromium counts http://localhost as a secure origin.
        base = served_at.replace("127.0.0.1", "localhost")
        app.state.security_key_desk.public_base_url = base
        context = b.new_context(locale="en-GB", bypass_csp=True)
        page = context.new_page()
        page.set_default_timeout(15_000)
        outside = outside_requests(page, base)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        cdp = context.new_cdp_session(page)
        cdp.send("WebAuthn.enable")
        authenticator = cdp.send(
            "WebAuthn.addVirtualAuthenticator",
            {
                "options": {
                    "protocol": "ctap2",
                    "transport": "usb",
                    "hasResidentKey": False,
                    "hasUserVerification": True,
                    "isUserVerified": True,
                    "automaticPresenceSimulation": True,
                }
            },
        )["authenticatorId"]

        password_step(page, base, responder.principal.username or "")
        assert page.locator("text=Use your security key instead").count() == 0  # none yet
        page.fill("#f-code", totp_now(secret))
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: "/login" not in url)

        page.goto(f"{base}/account")
        page.fill("#key-label", "YubiKey on the keyring")
        page.click("button[data-webauthn=register]")
        page.wait_for_selector("td >> text=YubiKey on the keyring")
        assert axe_violations(page) == []
        with store.read() as conn:
            stored = conn.execute(sa.select(security_keys.c.credential_id)).scalars().all()
        held = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
        assert len(stored) == 1 and len(held["credentials"]) == 1

        context.clear_cookies()
        password_step(page, base, responder.principal.username or "")
        page.click("text=Use your security key instead")
        page.wait_for_url(f"{base}/login/key**")
        assert axe_violations(page) == []
        page.click("button[data-webauthn=sign-in]")
        page.wait_for_url(f"{base}/desk**")
        assert "Sign in" not in page.title()
        with store.read() as conn:
            count = conn.execute(sa.select(security_keys.c.sign_count)).scalar_one()
        assert count >= 1  # the browser's assertion moved the key's counter
        assert errors == [] and outside == []
