"""The monitor, detections and reports pages, and the public register, in Debian's Chromium on
loopback: a responder signs in with two factors and reads the grid, the findings and the
statistics with their server-drawn charts; an anonymous visitor finds the blocked host in the
public register. axe-core finds no serious or critical violation on any of them, and nothing
is fetched from anywhere but the desk."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from qorgau.store.store import Store
from qorgau.web.app import create_app
from tests.conftest import PASSWORD, Account
from tests.integration.test_ui_monitor_reports import (
    KT_NAME,
    _finding,
    _incidents,
    seed_monitor,
)
from tests.support.web import (
    axe_violations,
    browser,
    enrol_totp,
    needs_axe,
    needs_chromium,
    outside_requests,
    screenshot,
    served,
    totp_now,
)

pytestmark = [pytest.mark.browser, needs_chromium, needs_axe]


def _sign_in(page: Any, base: str, username: str, secret: str) -> None:
    """As ``sign_in_page`` does, waiting on the path rather than a glob: the code page's URL
    carries ``?next=/desk``, whose slash a ``*`` in Playwright's glob does not match."""
    page.goto(f"{base}/login")
    page.fill("#f-username", username)
    page.fill("#f-password", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(lambda url: "/login/code" in url)
    page.fill("#f-code", totp_now(secret))
    page.click("form button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def _loaded(page: Any, selector: str) -> int:
    """The natural width of an image once it has loaded (0 if it failed to decode)."""
    page.wait_for_function(
        "sel => { const i = document.querySelector(sel); return i && i.complete; }", arg=selector
    )
    width: int = page.eval_on_selector(selector, "img => img.naturalWidth")
    return width


def test_a_responder_reads_the_monitor_the_detections_and_the_reports(
    store: Store, client: TestClient, accounts: dict[str, Account]
) -> None:
    seed_monitor(store, accounts["coordinator"])
    case = _finding(store)
    _incidents(client, accounts["coordinator"])
    responder = accounts["responder"]
    assert responder.principal.user_id is not None
    secret = enrol_totp(store, responder.principal.user_id)

    with served(create_app(store.settings, store)) as base, browser() as b:
        # bypass_csp lets axe-core be injected; the pages' own CSP is checked without a browser.
        page = b.new_page(viewport={"width": 1280, "height": 900}, locale="en-GB", bypass_csp=True)
        page.set_default_timeout(15_000)
        outside = outside_requests(page, base)
        _sign_in(page, base, responder.principal.username, secret)

        page.goto(f"{base}/desk/monitor")
        page.click("text=Orda")
        page.wait_for_url(f"{base}/desk/monitor/Orda")
        row = page.locator(f'tr[data-host="orda.kz"][data-network="{KT_NAME}"]')
        assert row.locator("td.cell-blocked").count() == 2
        assert row.locator("td").last.inner_text().strip() == "blocked"
        # Following a cell lands on the measurement it shows, with the classifier's reasons.
        row.locator("td a").last.click()
        assert page.url.split("#")[1].startswith("obs-")
        assert "again" in page.locator(f"#{page.url.split('#')[1]}").inner_text()
        assert axe_violations(page) == []
        screenshot(page, "monitor-outlet")

        page.goto(f"{base}/desk/detections")
        finding = page.locator("article.finding")
        assert finding.count() == 1
        assert "+7 701 *** ** 01" in finding.locator(".explanation").inner_text()
        assert finding.locator(f'a[href="/desk/cases/{case}"]').count() == 1
        finding.locator("summary").click()  # what matched, on demand
        assert "olx.example" in finding.locator("dl.details").inner_text()
        assert axe_violations(page) == []
        screenshot(page, "detections")

        page.goto(f"{base}/desk/reports")
        page.select_option("#f-by", "attack_type")
        page.fill("#f-period", "2025-Q2")
        page.click("form.filters button[type=submit]")
        page.wait_for_url("**period=2025-Q2**")
        counts = page.locator("#breakdown-table tbody tr").count()
        assert counts == 4  # blocking, flooding, doxxing, threats; March's DDoS is outside
        assert _loaded(page, "#breakdown-chart") > 0
        assert _loaded(page, "#series-chart") > 0
        assert page.locator("ul.exports a", has_text="STIX").count() == 0  # not a responder's
        assert page.locator("ul.exports a", has_text="Public dataset (CSV)").count() == 1
        assert axe_violations(page) == []
        screenshot(page, "reports")
        assert outside == []


def test_an_anonymous_visitor_finds_the_blocked_host_in_the_public_register(
    store: Store, accounts: dict[str, Account]
) -> None:
    seed_monitor(store, accounts["coordinator"])
    with served(create_app(store.settings, store)) as base, browser() as b:
        page = b.new_page(viewport={"width": 390, "height": 844}, locale="ru-RU", bypass_csp=True)
        page.set_default_timeout(15_000)
        outside = outside_requests(page, base)
        response = page.goto(f"{base}/register")
        assert response is not None and response.status == 200
        assert page.locator("html").get_attribute("lang") == "ru"
        hosts = page.locator("#register tbody td.host").all_inner_texts()
        assert "orda.kz" in hosts
        orda = page.locator("#register tbody tr", has_text="orda.kz").first
        assert orda.locator("td").nth(1).inner_text().strip() == "да"  # blocked now
        assert "Решение суда" in orda.inner_text()
        assert axe_violations(page) == []
        screenshot(page, "public-register")
        assert outside == []
