"""The responders' desk pages through a TestClient: the queue with its clocks, filters and
saved views, and the case page's actions, each checked through the desks afterwards."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from qorgau.domain.model import Principal, ReportFields, Severity
from qorgau.response_desk import ResponseDesk
from qorgau.store.case_tasks import TaskState
from qorgau.store.store import Store
from qorgau.vault_desk import VaultDesk
from qorgau.web.app import create_app
from tests.conftest import Account
from tests.support.web import signed_in


@dataclass
class Desk:
    client: TestClient
    store: Store
    rd: ResponseDesk
    vd: VaultDesk
    accounts: dict[str, Account]

    def sign_in(self, role: str) -> dict[str, str]:
        self.client.cookies.clear()
        return signed_in(self.client, self.store, self.accounts[role].token)

    def report(
        self,
        title: str,
        *,
        days_ago: float = 0,
        description: str = "Reported to the desk.",
        attack_types: tuple[str, ...] = ("doxxing",),
        severity: Severity = Severity.LOW,
    ) -> str:
        coord = self.accounts["coordinator"].principal
        fields = ReportFields(
            title=title,
            description=description,
            attack_types=attack_types,
            severity=severity,
            reported_at=self.store.now() - timedelta(days=days_ago) if days_ago else None,
        )
        return str(self.rd.cases.submit(coord, fields).public_id)


@pytest.fixture
def web(store: Store, accounts: dict[str, Account]) -> Iterator[Desk]:
    app = create_app(store.settings, store)
    with TestClient(app) as c:
        c.headers["accept"] = "text/html"  # as a browser asks: errors come back as pages
        yield Desk(c, store, app.state.response_desk, app.state.vault_desk, accounts)


def queue_ids(html: str) -> set[str]:
    return set(re.findall(r'data-case="([A-Z0-9-]+)"', html))


def clock_of(html: str, public_id: str) -> str:
    row = html.split(f'data-case="{public_id}"', 1)[1].split("</tr>", 1)[0]
    found = re.search(r'data-clock="([a-z_]*)"', row)
    assert found
    return found.group(1)


def test_queue_shows_clocks_and_honours_every_filter(web: Desk) -> None:
    breached = web.report("Old doxxing", days_ago=4, severity=Severity.MEDIUM)
    due_soon = web.report(
        "Slow hacking", days_ago=2.5, attack_types=("account_takeover",), severity=Severity.LOW
    )
    fresh = web.report("Fresh ddos", attack_types=("ddos",), severity=Severity.HIGH)
    web.rd.claim(web.accounts["responder"].principal, fresh, None)
    web.sign_in("responder")
    html = web.client.get("/desk").text
    assert {breached, due_soon, fresh} <= queue_ids(html)
    assert clock_of(html, breached) == "breached"
    assert clock_of(html, due_soon) == "due_soon"
    assert clock_of(html, fresh) == "running"  # claimed: responded; the action clock runs

    def ids(query: str) -> set[str]:
        r = web.client.get(f"/desk?{query}")
        assert r.status_code == 200, r.text
        return queue_ids(r.text)

    assert ids("clock=breached") == {breached}
    assert ids("clock=due_soon") == {due_soon}
    assert ids("assigned=mine") == {fresh}
    assert ids("assigned=unassigned") == {breached, due_soon}
    assert ids("severity=high") == {fresh}
    assert ids("attack_type=ddos") == {fresh}
    assert ids("category=privacy") == {breached}
    assert ids("category=safety") == {due_soon, fresh}
    assert ids("q=hacking") == {due_soon}
    assert ids("status=new") == {breached, due_soon, fresh}
    assert ids("status=closed") == set()
    assert ids("assigned=unassigned&severity=medium") == {breached}
    assert ids("assigned=unassigned&q=slow") == {due_soon}
    # the most urgent first when the clock filters
    urgent = web.client.get("/desk?assigned=unassigned&clock=breached").text
    assert queue_ids(urgent) == {breached}


def test_saved_view_is_saved_listed_opened_and_private(web: Desk) -> None:
    web.report("Phone flooding of an editor", attack_types=("phone_flooding",))
    web.report("A ddos", attack_types=("ddos",))
    form = web.sign_in("responder")
    r = web.client.post(
        "/desk/views",
        data={**form, "name": "Floods", "query": "attack_type=phone_flooding"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/desk?attack_type=phone_flooding"
    page = web.client.get("/desk").text
    link = re.search(r'<a href="(/desk\?attack_type=phone_flooding)">Floods</a>', page)
    assert link
    opened = web.client.get(link.group(1)).text
    assert "Phone flooding of an editor" in opened and "A ddos" not in opened
    # an empty name is refused next to the field, keeping the filters
    bad = web.client.post("/desk/views", data={**form, "name": " ", "query": "severity=low"})
    assert bad.status_code == 422 and 'id="e-name"' in bad.text
    web.sign_in("coordinator")
    assert "Floods" not in web.client.get("/desk").text
    views = web.client.app.state.sign_in_desk.saved_views(web.accounts["responder"].principal)  # type: ignore[attr-defined]
    form = web.sign_in("coordinator")
    refused = web.client.post(f"/desk/views/{views[0].id}/delete", data=form)
    assert refused.status_code == 404
    form = web.sign_in("responder")
    gone = web.client.post(f"/desk/views/{views[0].id}/delete", data=form, follow_redirects=False)
    assert gone.status_code == 303
    assert "Floods" not in web.client.get("/desk").text


def test_claim_tick_note_and_evidence_through_the_case_page(web: Desk) -> None:
    pid = web.report("Doxxing of a reporter", attack_types=("doxxing",))
    responder = web.accounts["responder"].principal
    form = web.sign_in("responder")
    before = len(web.rd.tasks(responder, pid))  # intake attached the doxxing playbook
    r = web.client.post(
        f"/desk/cases/{pid}/playbooks",
        data={**form, "playbook_id": "ddos"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].endswith("#tasks")
    assert len(web.rd.tasks(responder, pid)) > before >= 2
    page = web.client.get(f"/desk/cases/{pid}").text
    assert "data-shortcut-claim" in page and "Respond by" in page and "Act by" in page
    r = web.client.post(f"/desk/cases/{pid}/claim", data=form, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/desk/cases/{pid}#handling"
    assert web.rd.cases.get(responder, pid).assignee_id == responder.user_id
    # claiming again is refused with the holder's name, on the page
    again = web.client.post(f"/desk/cases/{pid}/claim", data=form)
    assert again.status_code == 409 and "already claimed by responder-user" in again.text

    task = web.rd.tasks(responder, pid)[0]
    r = web.client.post(
        f"/desk/cases/{pid}/tasks/{task.id}", data={**form, "state": "done"}, follow_redirects=False
    )
    assert r.status_code == 303
    assert {t.id: t.state for t in web.rd.tasks(responder, pid)}[task.id] is TaskState.DONE
    # skipping without a reason is refused next to that task's reason field
    other = web.rd.tasks(responder, pid)[1]
    r = web.client.post(f"/desk/cases/{pid}/tasks/{other.id}", data={**form, "state": "skipped"})
    assert r.status_code == 422 and f'id="e-reason-{other.id}"' in r.text
    assert web.rd.tasks(responder, pid)[1].state is TaskState.OPEN

    data = b"%PDF-1.4 screenshot of the doxxing post"
    r = web.client.post(
        f"/desk/cases/{pid}/evidence",
        data=form,
        files={"file": ("post.pdf", data, "application/pdf")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    items = web.vd.items(responder, pid)
    assert [i.sha256 for i, _ in items] == [hashlib.sha256(data).hexdigest()]
    page = web.client.get(f"/desk/cases/{pid}").text
    assert hashlib.sha256(data).hexdigest() in page and "post.pdf" in page

    r = web.client.post(
        f"/desk/cases/{pid}/notes",
        data={**form, "body": "Called the reporter", "sensitive": "on"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    notes = web.rd.cases.notes(responder, pid, 10, 0)[0]
    assert [(n.body, n.sensitive) for n in notes] == [("Called the reporter", True)]
    empty = web.client.post(f"/desk/cases/{pid}/notes", data={**form, "body": "  "})
    assert empty.status_code == 422 and 'id="e-note"' in empty.text


def test_only_a_coordinator_approves_a_statement(web: Desk) -> None:
    pid = web.report("Threats against a journalist", attack_types=("threats",))
    form = web.sign_in("responder")
    r = web.client.post(
        f"/desk/cases/{pid}/statements", data={**form, "language": "ru"}, follow_redirects=False
    )
    assert r.status_code == 303
    coord = web.accounts["coordinator"].principal
    (st,) = web.rd.statements(coord, pid)
    page = web.client.get(f"/desk/cases/{pid}").text
    assert f"/statements/{st.id}/approve" not in page  # the button is not offered
    refused = web.client.post(f"/desk/cases/{pid}/statements/{st.id}/approve", data=form)
    assert refused.status_code == 403 and "<html" in refused.text
    assert web.rd.statements(coord, pid)[0].state == "draft"
    form = web.sign_in("coordinator")
    assert f"/statements/{st.id}/approve" in web.client.get(f"/desk/cases/{pid}").text
    ok = web.client.post(
        f"/desk/cases/{pid}/statements/{st.id}/approve", data=form, follow_redirects=False
    )
    assert ok.status_code == 303
    assert web.rd.statements(coord, pid)[0].state == "approved"
    web.client.post(f"/desk/cases/{pid}/statements/{st.id}/publish", data=form)
    assert web.rd.statements(coord, pid)[0].state == "published"


def test_a_case_page_never_acts_on_another_cases_statement(web: Desk) -> None:
    first = web.report("Threats against a journalist", attack_types=("threats",))
    second = web.report("Doxxing of an editor")
    form = web.sign_in("coordinator")
    web.client.post(f"/desk/cases/{second}/statements", data={**form, "language": "en"})
    coord = web.accounts["coordinator"].principal
    (st,) = web.rd.statements(coord, second)
    crossed = web.client.post(f"/desk/cases/{first}/statements/{st.id}/approve", data=form)
    assert crossed.status_code == 404
    assert web.rd.statements(coord, second)[0].state == "draft"


def test_an_administrator_cannot_hand_another_organisations_case_to_their_own_staff(
    web: Desk,
) -> None:
    from qorgau.errors import NotFound

    other = web.accounts["other_coordinator"].principal
    theirs = web.rd.cases.submit(other, ReportFields(title="Their case", attack_types=("doxxing",)))
    admin = web.accounts["admin"].principal
    ours = web.accounts["responder"].principal.user_id
    with pytest.raises(NotFound):
        web.rd.assign(admin, theirs.public_id, ours, None, None)
    assert web.rd.cases.get(other, theirs.public_id).assignee_id is None


def test_post_without_csrf_is_refused_and_changes_nothing(web: Desk) -> None:
    pid = web.report("Doxxing")
    web.sign_in("responder")
    r = web.client.post(f"/desk/cases/{pid}/claim", data={})
    assert r.status_code == 403
    r = web.client.post(f"/desk/cases/{pid}/notes", data={"body": "x", "csrf": "forged"})
    assert r.status_code == 403
    coord = web.accounts["coordinator"].principal
    assert web.rd.cases.get(coord, pid).assignee_id is None
    assert web.rd.cases.notes(coord, pid, 10, 0)[1] == 0


def test_roles_outside_the_desk_see_only_what_the_policy_allows(
    web: Desk, store: Store, accounts: dict[str, Account]
) -> None:
    pid = web.report("Staff case")
    web.sign_in("analyst")
    assert web.client.get("/desk").status_code == 403
    assert web.client.get(f"/desk/cases/{pid}").status_code == 403
    web.sign_in("reporter")
    assert web.client.get("/desk").status_code == 403
    assert web.client.get(f"/desk/cases/{pid}").status_code == 404  # not their report
    reporter: Principal = accounts["reporter"].principal
    own = web.rd.cases.submit(
        reporter, ReportFields(title="My account was hacked", attack_types=("account_takeover",))
    )
    page = web.client.get(f"/desk/cases/{own.public_id}")
    assert page.status_code == 200 and "My account was hacked" in page.text
    for hidden in ('id="tasks"', 'id="notes"', 'id="timeline"', "data-shortcut-claim"):
        assert hidden not in page.text
    for role in ("legal", "admin", "coordinator"):
        web.sign_in(role)
        assert web.client.get(f"/desk/cases/{pid}").status_code == 200, role
    web.client.cookies.clear()
    anon = web.client.get("/desk", follow_redirects=False)
    assert anon.status_code == 303 and anon.headers["location"].startswith("/login")


def test_report_text_is_escaped_on_queue_and_case_pages(web: Desk) -> None:
    evil = "<script>alert(1)</script>"
    pid = web.report(f"Attack {evil}", description=f"Body {evil}")
    web.sign_in("responder")
    for url in ("/desk", f"/desk/cases/{pid}", "/desk/queue/rows"):
        html = web.client.get(url).text
        assert "<script>alert(1)" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_polling_fragments_return_rows_and_timeline(web: Desk) -> None:
    first = web.report("First case")
    web.sign_in("responder")
    page = web.client.get("/desk?severity=low").text
    assert 'hx-get="/desk/queue/rows?severity=low"' in page and 'hx-trigger="every 15s"' in page
    second = web.report("Second case")
    rows = web.client.get("/desk/queue/rows?severity=low")
    assert rows.status_code == 200 and "<html" not in rows.text
    assert queue_ids(rows.text) == {first, second}
    timeline = web.client.get(f"/desk/cases/{first}/timeline")
    assert timeline.status_code == 200 and 'data-kind="incident:reported"' in timeline.text


def test_coordinator_assigns_and_htmx_gets_the_section_with_the_error(web: Desk) -> None:
    pid = web.report("Account takeover", attack_types=("account_takeover",))
    responder = web.accounts["responder"].principal
    web.sign_in("responder")
    assert 'name="user_id"' not in web.client.get(f"/desk/cases/{pid}").text  # not the holder
    form = web.sign_in("coordinator")
    page = web.client.get(f"/desk/cases/{pid}").text
    assert f'<option value="{responder.user_id}">responder-user</option>' in page
    r = web.client.post(
        f"/desk/cases/{pid}/assign",
        data={**form, "user_id": str(responder.user_id)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert web.rd.cases.get(responder, pid).assignee_id == responder.user_id
    # htmx swaps only successful answers, so a refusal comes back as 200 with the message
    again = web.client.post(
        f"/desk/cases/{pid}/assign",
        data={**form, "user_id": str(responder.user_id)},
        headers={"HX-Request": "true"},
    )
    assert again.status_code == 200 and "already assigned to responder-user" in again.text
    bad = web.client.post(
        f"/desk/cases/{pid}/status", data={**form, "status": "closed", "reason": "keep me"}
    )
    assert bad.status_code == 409 and 'value="keep me"' in bad.text
    ok = web.client.post(
        f"/desk/cases/{pid}/status", data={**form, "status": "in_progress"}, follow_redirects=False
    )
    assert ok.status_code == 303 and web.rd.cases.get(responder, pid).status == "in_progress"


def test_desk_pages_speak_russian_and_kazakh(web: Desk) -> None:
    pid = web.report("Doxxing", days_ago=4, severity=Severity.MEDIUM)
    web.rd.draft_statement(web.accounts["coordinator"].principal, pid, "kk", None)
    web.sign_in("coordinator")
    for lang, queue_word, deadline in (
        ("ru", "Просрочено", "Ответить до"),
        ("kk", "Мерзімі өтті", "Жауап беру мерзімі"),
    ):
        queue = web.client.get(f"/desk?lang={lang}")
        assert queue.status_code == 200 and queue_word in queue.text
        case = web.client.get(f"/desk/cases/{pid}?lang={lang}")
        assert case.status_code == 200 and deadline in case.text
        assert f'<html lang="{lang}">' in case.text


def test_refer_to_a_suggested_partner(web: Desk) -> None:
    pid = web.report("Threats", attack_types=("threats",))
    responder = web.accounts["responder"].principal
    suggestion = web.rd.suggestions(responder, pid)[0]
    form = web.sign_in("responder")
    page = web.client.get(f"/desk/cases/{pid}").text
    assert f'<option value="{suggestion.partner.id}"' in page
    need = str(suggestion.partner.offers[0])
    r = web.client.post(
        f"/desk/cases/{pid}/referrals",
        data={**form, "partner_id": suggestion.partner.id, "need": need, "note": "urgent"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].endswith("#referrals")
    (ref,) = web.rd.referrals(responder, pid)
    assert (ref.partner_id, ref.need) == (suggestion.partner.id, need)
    assert suggestion.partner.name in web.client.get(f"/desk/cases/{pid}").text


def test_a_malformed_assignee_is_refused_not_read_as_a_release(web: Desk) -> None:
    pid = web.report("Doxxing of a reporter")
    form = web.sign_in("responder")
    web.client.post(f"/desk/cases/{pid}/claim", data=form)
    holder = web.accounts["responder"].principal
    r = web.client.post(f"/desk/cases/{pid}/assign", data={**form, "user_id": "x1"})
    assert r.status_code == 422 and 'id="e-user_id"' in r.text
    assert web.rd.cases.get(holder, pid).assignee_id == holder.user_id
