"""Helpers for tests of the web interface: sessions for TestClient, a served app, Chromium
with Playwright, axe-core, and screenshots.

A session is an API token in the ``qorgau_session`` cookie, so a test account's token signs a
TestClient in directly; the CSRF token is computed the way the server does. Browser tests sign
in through the real pages instead (password, then a TOTP code).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from qorgau.security import two_factor
from qorgau.store import users
from qorgau.store.store import Store
from tests.integration.test_register_page import CHROMIUM, CHROMIUM_ARGS, needs_chromium, served

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "ROOT",
    "axe_violations",
    "browser",
    "csrf_for",
    "enrol_totp",
    "form_csrf",
    "needs_axe",
    "needs_chromium",
    "outside_requests",
    "screenshot",
    "served",
    "sign_in_page",
    "signed_in",
    "totp_now",
]

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "assets" / "ui" / "node_modules" / "axe-core" / "axe.min.js"
needs_axe = pytest.mark.skipif(
    not AXE.exists(),
    reason="axe-core is not installed: run 'make test' (it runs npm ci in assets/ui)",
)
CSRF_INPUT = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_for(store: Store, session_token: str) -> str:
    return store.cipher.blind_index(session_token, "web.csrf.session")[:43]


def signed_in(client: TestClient, store: Store, token: str) -> dict[str, str]:
    """Put ``token`` in the session cookie; returns the CSRF field to post with forms."""
    client.cookies.set("qorgau_session", token)
    return {"csrf": csrf_for(store, token)}


def form_csrf(html: str) -> str:
    found = CSRF_INPUT.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def enrol_totp(store: Store, user_id: int) -> str:
    """Give an account a second factor directly (for tests that are not about enrolment)."""
    secret = two_factor.new_secret()
    with store.write() as conn:
        users.enable_totp(conn, store.cipher, user_id, secret, 0, store.now())
    return secret


def totp_now(secret: str) -> str:
    return two_factor.code_at(secret, datetime.now(UTC))


@contextmanager
def browser() -> Iterator[Any]:
    """Debian's Chromium on a closed network: nothing but loopback is reachable."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def axe_violations(page: Any, impacts: tuple[str, ...] = ("serious", "critical")) -> list[str]:
    """Run axe-core (from the npm registry, ``assets/ui``) in the page; the rules it breaks at
    the given impacts, each with the elements it names. The page's context must be opened with
    ``bypass_csp=True`` (``new_context``): axe is injected as a script the pages' own CSP, rightly,
    would refuse."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    found = []
    for v in result["violations"]:
        if v.get("impact") in impacts:
            targets = [json.dumps(n.get("target")) for n in v.get("nodes", [])][:5]
            found.append(f"{v['id']} ({v['impact']}): {v['help']} at {', '.join(targets)}")
    return found


def screenshot(page: Any, name: str) -> None:
    """Save a screenshot into docs/screenshots when QORGAU_SCREENSHOTS is set
    (``make screenshots``); ordinary test runs leave the checkout untouched."""
    folder = os.environ.get("QORGAU_SCREENSHOTS")
    if not folder:
        return
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out / f"{name}.png"), full_page=True)


def sign_in_page(page: Any, base: str, username: str, password: str, secret: str) -> None:
    """Sign in through the real pages: password, then the current TOTP code."""
    page.goto(f"{base}/login")
    page.fill("#f-username", username)
    page.fill("#f-password", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login/code" in url)
    page.fill("#f-code", totp_now(secret))
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def outside_requests(page: Any, base: str) -> list[str]:
    """Collects every request the page makes to anywhere but the app (should stay empty)."""
    seen: list[str] = []
    page.on(
        "request",
        lambda req: (
            seen.append(req.url)
            if not req.url.startswith((base, "data:", "blob:", "about:"))
            else None
        ),
    )
    return seen
