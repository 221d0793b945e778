"""The responders' desk in Debian's Chromium: a responder with a second factor works a case
from the queue (claim by keyboard, playbook steps, evidence upload, deadlines in view), a new
case shows up in the open queue by itself, and a coordinator approves a drafted statement.
Pages pass axe-core and fetch nothing from outside the app."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest

from qorgau.desk import CaseDesk
from qorgau.domain.model import ReportFields, Role, Severity
from qorgau.response_desk import ResponseDesk
from qorgau.store.case_tasks import TaskState
from qorgau.store.store import Store
from qorgau.web.app import create_app
from tests.conftest import PASSWORD, Account, make_account
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

DESKTOP = {"width": 1366, "height": 900}


def sign_in(page: Any, base: str, username: str, secret: str) -> None:
    """``tests.support.web.sign_in_page`` with a URL pattern that allows the ``?next=/desk``
    the code page carries (its ``/login/code*`` glob stops at the slash)."""
    page.goto(f"{base}/login")
    page.fill("#f-username", username)
    page.fill("#f-password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/login/code**")
    page.fill("#f-code", totp_now(secret))
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


@pytest.mark.browser
@needs_chromium
@needs_axe
def test_responder_works_a_case_and_a_coordinator_approves(
    store: Store, accounts: dict[str, Account]
) -> None:
    app = create_app(store.settings, store)
    app.state.desk_poll_seconds = 1  # the queue and timeline refresh every second here
    rd = ResponseDesk(CaseDesk(store))
    responder = accounts["responder"]
    assert responder.principal.user_id is not None
    responder_secret = enrol_totp(store, responder.principal.user_id)
    coordinator = make_account(store, Role.COORDINATOR, "coord-web", password=PASSWORD)
    assert coordinator.principal.user_id is not None
    coord_secret = enrol_totp(store, coordinator.principal.user_id)
    case = rd.cases.submit(
        coordinator.principal,
        ReportFields(
            title="Threats to the editor of Orda.kz",
            description="Messages threatening the editor and her family.",
            attack_types=("threats",),
            severity=Severity.HIGH,
            reported_at=store.now() - timedelta(minutes=20),
        ),
    )
    pid = case.public_id
    assert len(rd.tasks(coordinator.principal, pid)) >= 2  # the threats playbook, at intake
    evidence = b"%PDF-1.4 screenshot of the threatening message"

    with served(app) as base, browser() as b:
        context = b.new_context(viewport=DESKTOP, locale="en-GB")
        page = context.new_page()
        page.set_default_timeout(15_000)
        outside = outside_requests(page, base)
        csp_errors: list[str] = []
        page.on(
            "console",
            lambda m: (
                csp_errors.append(f"{m.text} {m.location.get('url')}")
                if m.type == "error" and not m.location.get("url", "").endswith("/favicon.ico")
                else None
            ),
        )
        page.on("pageerror", lambda e: csp_errors.append(str(e)))
        sign_in(page, base, responder.principal.username or "", responder_secret)

        page.goto(f"{base}/desk")
        row = page.locator(f'[data-case="{pid}"]')
        assert "High" in row.inner_text()
        assert row.locator("[data-clock]").get_attribute("data-clock") in ("due_soon", "running")
        screenshot(page, "desk-queue")
        # a case reported while the queue is open appears without a reload
        later = rd.cases.submit(
            coordinator.principal,
            ReportFields(title="DDoS on a news site", attack_types=("ddos",)),
        )
        page.wait_for_selector(f'[data-case="{later.public_id}"]', timeout=10_000)

        page.click(f'a[href="/desk/cases/{pid}"]')
        page.wait_for_url(f"**/desk/cases/{pid}")
        deadlines = page.locator("#handling dl.deadlines").inner_text()
        assert "Respond by" in deadlines and "Act by" in deadlines
        assert page.locator("[data-deadline]").count() == 2
        page.locator("body").click(position={"x": 5, "y": 300})
        page.keyboard.press("c")  # claim
        page.wait_for_selector("#handling >> text=responder-user")
        assert rd.cases.get(coordinator.principal, pid).assignee_id == responder.principal.user_id

        for done in (1, 2):
            page.locator('li[data-state="open"] button.tick').first.click()
            page.locator('li[data-state="done"]').nth(done - 1).wait_for()
        states = [t.state for t in rd.tasks(coordinator.principal, pid)]
        assert states.count(TaskState.DONE) == 2

        page.set_input_files(
            "#f-file",
            files=[{"name": "message.pdf", "mimeType": "application/pdf", "buffer": evidence}],
        )
        page.click("#evidence button[type=submit]")
        sha = hashlib.sha256(evidence).hexdigest()
        page.wait_for_selector(f'[data-evidence="{sha}"]')
        page.reload()
        assert "Act by" in page.locator("#handling").inner_text()
        assert page.locator(f'[data-evidence="{sha}"]').count() == 1
        screenshot(page, "desk-case")
        # axe-core is injected as an inline script, which the pages' CSP rightly refuses: it
        # runs in a second context of the same session that lets it in.
        audit = b.new_context(
            viewport=DESKTOP, bypass_csp=True, storage_state=context.storage_state()
        )
        checker = audit.new_page()
        for url in ("/desk", f"/desk/cases/{pid}"):
            checker.goto(f"{base}{url}")
            assert axe_violations(checker) == [], url
        audit.close()
        assert csp_errors == []
        rd.draft_statement(responder.principal, pid, "en", None)
        context.close()

        context = b.new_context(viewport=DESKTOP, locale="en-GB")
        page = context.new_page()
        page.set_default_timeout(15_000)
        outside += outside_requests(page, base)
        sign_in(page, base, "coord-web", coord_secret)
        page.goto(f"{base}/desk/cases/{pid}")
        page.click("#statements button:has-text('Approve')")
        page.wait_for_selector('#statements [data-state="approved"]')
        assert rd.statements(coordinator.principal, pid)[0].state == "approved"
        context.close()
    assert outside == []
