"""A journalist reports an attack from a phone in Kazakh, in Debian's Chromium: the page comes
in the browser's language, the upload script refuses a file too large or of the wrong type
before anything is sent, the report is filed with its file, the receipt code follows it, the
pages have no serious accessibility problem, nothing leaves loopback, and the same form works
with JavaScript switched off.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from qorgau.desk import CaseDesk
from qorgau.i18n import gettext
from qorgau.response_desk import ResponseDesk
from qorgau.store.attachments import AttachmentLimits
from qorgau.store.store import Store
from qorgau.store.tables import incidents
from qorgau.web.app import create_app
from qorgau.web.ui.public_pages import REFUSED_MESSAGES, size_text
from tests.conftest import Account
from tests.integration.test_ui_report_form import tiny_png
from tests.support.web import (
    axe_violations,
    browser,
    needs_axe,
    needs_chromium,
    outside_requests,
    screenshot,
    served,
)

PHONE = {"width": 390, "height": 844}
# Small limits, so a file "too large" is a few hundred kilobytes rather than 20 MB.
LIMITS = AttachmentLimits(max_file_bytes=100_000, max_report_bytes=400_000, max_files=5)


def incident_count(store: Store) -> int:
    with store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(incidents)).scalar_one())


def kept_files(store: Store, responder: Any, code: str) -> list[str]:
    desk = CaseDesk(store)
    public_id, _, _ = desk.track(code)
    return [a.filename or "" for a in ResponseDesk(desk).attachments(responder, public_id)]


def phone_page(b: Any, *, javascript: bool) -> Any:
    # bypass_csp lets axe-core be injected; the pages' CSP and their lack of inline script are
    # checked in test_ui_report_form.
    context = b.new_context(
        viewport=PHONE, locale="kk-KZ", java_script_enabled=javascript, bypass_csp=javascript
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


@pytest.mark.browser
@needs_chromium
@needs_axe
def test_journalist_reports_from_a_phone_in_kazakh_and_follows_the_report(
    store: Store, accounts: dict[str, Account]
) -> None:
    app = create_app(store.settings, store)
    app.state.report_limits = LIMITS
    responder = accounts["responder"].principal
    with served(app) as base, browser() as b:
        page = phone_page(b, javascript=True)
        outside = outside_requests(page, base)
        posts: list[str] = []
        page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))

        page.goto(f"{base}/report")
        assert page.locator("html").get_attribute("lang") == "kk"  # from the browser
        assert page.locator("h1").inner_text() == gettext("kk", "Report an attack")
        assert axe_violations(page) == []
        screenshot(page, "report-form-kk-phone")

        # Refused by the script before any upload: too large, then a program.
        page.fill("#f-description", "Редакцияға қоқан-лоқы хаттар келіп жатыр.")
        page.set_input_files(
            "#f-files", {"name": "video.mp4", "mimeType": "video/mp4", "buffer": b"\0" * 150_000}
        )
        message = page.locator("#e-files")
        assert message.is_visible()
        limit = size_text("kk", LIMITS.max_file_bytes)
        assert message.inner_text() == gettext(
            "kk", REFUSED_MESSAGES["file_too_large"], name="“video.mp4”", max=limit
        )
        page.click("button[type=submit]")
        page.set_input_files(
            "#f-files",
            {"name": "tool.exe", "mimeType": "application/x-msdownload", "buffer": b"MZ"},
        )
        assert message.inner_text() == gettext(
            "kk", REFUSED_MESSAGES["bad_type"], name="“tool.exe”"
        )
        page.click("button[type=submit]")
        page.wait_for_timeout(300)
        assert posts == [] and page.url == f"{base}/report"
        assert incident_count(store) == 0

        # A file the form takes: the message goes, and the report is sent.
        page.set_input_files(
            "#f-files", {"name": "screenshot.png", "mimeType": "image/png", "buffer": tiny_png()}
        )
        assert not message.is_visible()
        page.check("#f-at-threats")
        page.fill("#f-target_name", "Orda.kz")
        page.click("button[type=submit]")
        code = page.locator(".receipt").inner_text().strip()
        assert len(code.replace("-", "")) == 20
        assert page.locator("html").get_attribute("lang") == "kk"
        assert gettext("kk", "Your receipt code") in page.locator("main").inner_text()
        assert axe_violations(page) == []
        screenshot(page, "report-receipt-kk-phone")
        assert kept_files(store, responder, code) == ["screenshot.png"]

        # The receipt page's own form follows the report.
        page.click("form[action='/track'] button[type=submit]")
        status = page.locator("#status-title")
        assert gettext("kk", "New") in status.inner_text()
        assert axe_violations(page) == []
        assert outside == [] and errors == []

        # The same journey with JavaScript switched off.
        plain = phone_page(b, javascript=False)
        plain_outside = outside_requests(plain, base)
        plain.goto(f"{base}/report")
        plain.fill("#f-description", "Telegram-арнамды бұзып алды.")
        plain.check("#f-at-account_takeover")
        plain.set_input_files(
            "#f-files", {"name": "chat.png", "mimeType": "image/png", "buffer": tiny_png()}
        )
        plain.click("button[type=submit]")
        second = plain.locator(".receipt").inner_text().strip()
        assert second != code
        assert kept_files(store, responder, second) == ["chat.png"]
        plain.goto(f"{base}/track")
        plain.fill("#f-code", second.lower().replace("-", " "))
        plain.click("button[type=submit]")
        assert gettext("kk", "New") in plain.locator("#status-title").inner_text()
        assert plain_outside == []
    assert incident_count(store) == 2
