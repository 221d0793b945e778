"""The public statistics page in Debian's Chromium: the server-drawn chart becomes interactive
with the bundle Qorgau serves itself, under a CSP with no 'unsafe-eval', nothing is fetched
from elsewhere, and the filter form works without JavaScript too."""

from __future__ import annotations

from pathlib import Path

import pytest

from qorgau.store.store import Store
from qorgau.web.app import create_app
from tests.integration.test_register_page import CHROMIUM, CHROMIUM_ARGS, needs_chromium, served


@pytest.fixture
def year(store: Store) -> Store:
    from qorgau.demo.year import generate_year

    generate_year(store, year=2025, incidents=300, seed=4)
    return store


@needs_chromium
@pytest.mark.parametrize("javascript", [True, False])
def test_statistics_page_in_chromium(year: Store, tmp_path: Path, javascript: bool) -> None:
    from playwright.sync_api import sync_playwright

    with served(create_app(year.settings, year)) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                viewport={"width": 390, "height": 844},
                locale="kk-KZ",
                java_script_enabled=javascript,
            )
            page = context.new_page()
            page.set_default_timeout(15_000)
            outside: list[str] = []
            problems: list[str] = []
            page.on(
                "request",
                lambda r: outside.append(r.url) if not r.url.startswith(base) else None,
            )
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            response = page.goto(f"{base}/statistics")
            assert response is not None and response.status == 200
            assert page.locator("html").get_attribute("lang") == "kk"  # from the browser
            rows = page.locator("#counts tbody tr")
            assert rows.count() >= 3
            if javascript:
                page.wait_for_selector("#chart.interactive svg")
                # The interactive chart has one bar per table row and answers the pointer.
                bars = page.locator("#chart.interactive path[aria-roledescription='bar']")
                assert bars.count() == rows.count()
                bars.first.hover()
                page.wait_for_selector("#vg-tooltip-element.visible")
            else:
                assert page.locator("#chart svg").count() == 1  # the server's picture
            page.select_option("select[name=by]", "attack_types")
            page.select_option("select[name=category]", "safety")
            page.click("button[type=submit]")
            page.wait_for_url("**by=attack_types**")
            assert "category=safety" in page.url
            texts = page.locator("#counts tbody tr td:first-child").all_inner_texts()
            assert texts and "Қоқан-лоқы" in texts  # threats, a safety attack type, in Kazakh
            page.screenshot(path=tmp_path / "statistics-kk.png", full_page=True)
            assert outside == []
            assert problems == []
        finally:
            browser.close()
    assert (tmp_path / "statistics-kk.png").stat().st_size > 10_000
