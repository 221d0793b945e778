"""Rapid response on the real databases: what intake sets in motion, triage, assignment under
concurrency, clocks that pause and escalate, tasks, documents, referrals, statements, timeline."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from qorgau.desk import CaseDesk
from qorgau.domain.model import ReportFields, Severity, Status, TargetInput
from qorgau.errors import Conflict, InvalidInput, PermissionDenied
from qorgau.response.referrals import ReferralState
from qorgau.response_desk import ResponseDesk
from qorgau.store import deliveries, response_clocks
from qorgau.store.case_tasks import TaskState
from qorgau.store.response_plan import escalate_due
from qorgau.store.store import Store
from qorgau.store.tables import audit_events, incidents
from tests.conftest import Account, make_account

FLOODING = ReportFields(
    title="Fake ads with the editor's number",
    attack_types=("phone_flooding",),
    ongoing=True,
    language="kk",
    targets=(TargetInput("person", "Editor"),),
)
THREAT = ReportFields(
    title="Death threat to the editor",
    attack_types=("threats",),
    threat_to_life=True,
    language="ru",
)


@pytest.fixture
def rd(desk: CaseDesk) -> ResponseDesk:
    return ResponseDesk(desk)


def tags(store: Store, public_id: str) -> list[str]:
    with store.read() as conn:
        return list(
            conn.execute(
                sa.select(audit_events.c.tag)
                .where(audit_events.c.entity_id == public_id)
                .order_by(audit_events.c.id)
            ).scalars()
        )


def roster(*shifts: dict[str, Any]) -> dict[str, Any]:
    return {"timezone": "Asia/Almaty", "shift": list(shifts)}


ALWAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def test_intake_triages_starts_clocks_attaches_playbooks_and_pages_on_call(
    store: Store, desk: CaseDesk, rd: ResponseDesk, accounts: dict[str, Account]
) -> None:
    responder = accounts["responder"].principal
    admin = accounts["admin"].principal
    rd.save_document(
        admin,
        "roster",
        roster(
            {
                "user": responder.username,
                "languages": ["kk", "ru"],
                "days": ALWAYS,
                "from": "00:00",
                "to": "24:00",
            }
        ),
        None,
    )
    rd.set_channel(responder, "email", "duty@example.org")
    stored = desk.submit(desk.anonymous(), FLOODING)
    case = desk.get(admin, stored.public_id)
    assert case.severity is Severity.HIGH and case.proposed_severity is Severity.HIGH
    assert case.triage and case.triage["reasons"][0]["rule"] == "phone-flooding"
    clock = rd.clock(admin, stored.public_id)
    assert clock is not None
    assert clock.response.due - case.reported_at == timedelta(hours=1)
    steps = [t.step_id for t in rd.tasks(admin, stored.public_id)]
    assert steps[:2] == ["preserve-ads", "call-log"]
    with store.read() as conn:
        sent = deliveries.list_deliveries(conn, incident_id=stored.id)
    channels = sorted((d.channel, d.user_id) for d in sent)
    assert channels == [("email", responder.user_id), ("inapp", responder.user_id)]
    email = next(d for d in sent if d.channel == "email")
    assert email.payload["public_id"] == stored.public_id
    assert "Editor" not in str(email.payload)  # no personal data leaves in alerts
    assert "Телефон" in email.payload["subject"] or "телефон" in email.payload["subject"]


def test_a_medium_case_reaches_the_desk_in_app_only(
    store: Store, desk: CaseDesk, rd: ResponseDesk, accounts: dict[str, Account]
) -> None:
    responder = accounts["responder"].principal
    rd.set_channel(responder, "email", "duty@example.org")
    stored = desk.submit(
        desk.anonymous(), ReportFields(title="Trolls", attack_types=("harassment_campaign",))
    )
    with store.read() as conn:
        sent = deliveries.list_deliveries(conn, incident_id=stored.id)
    # nobody on the roster: every coordinator hears of it, in the app
    assert {d.channel for d in sent} == {"inapp"}
    assert {d.user_id for d in sent} == {accounts["coordinator"].principal.user_id}
    assert sent[0].payload["duty_fallback"] == "all_coordinators"


def test_imported_history_starts_no_clocks_and_pages_nobody(
    store: Store, desk: CaseDesk, tmp_path: Any
) -> None:
    from qorgau.io.importer import import_file

    path = tmp_path / "old.jsonl"
    path.write_text(
        '{"title": "Old DDoS", "attack_types": ["ddos"], "reported_at": "2021-01-10T09:00:00Z"}\n',
        encoding="utf-8",
    )
    import_file(desk, path)
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(incidents)).scalar_one() == 1
        assert deliveries.list_deliveries(conn) == []
        assert (
            conn.execute(
                sa.select(sa.func.count()).select_from(response_clocks.response_clocks)
            ).scalar_one()
            == 0
        )


def test_triage_confirm_and_override_are_audited_and_retime_the_clocks(
    store: Store, desk: CaseDesk, rd: ResponseDesk, accounts: dict[str, Account]
) -> None:
    responder = accounts["responder"].principal
    stored = desk.submit(desk.anonymous(), FLOODING)
    with pytest.raises(InvalidInput, match="say why"):
        rd.confirm_severity(responder, stored.public_id, Severity.CRITICAL, None, None)
    case = rd.confirm_severity(
        responder, stored.public_id, Severity.CRITICAL, "her home address is in the ads", "10.0.0.1"
    )
    assert case.severity is Severity.CRITICAL and case.severity_confirmed_at is not None
    clock = rd.clock(responder, stored.public_id)
    assert clock and clock.response.due - case.reported_at == timedelta(minutes=15)
    assert clock.response.met_at is not None  # triage is a human response
    assert "incident:triage:overridden" in tags(store, stored.public_id)
    again = desk.submit(desk.anonymous(), FLOODING)
    rd.confirm_severity(responder, again.public_id, Severity.HIGH, None, None)
    assert "incident:triage:confirmed" in tags(store, again.public_id)


@pytest.mark.parametrize("attempts", [8])
def test_two_responders_never_both_claim_a_case(
    store: Store, desk: CaseDesk, rd: ResponseDesk, accounts: dict[str, Account], attempts: int
) -> None:
    handlers = [accounts["responder"].principal] + [
        make_account(store, accounts["responder"].principal.role, f"resp-{i}").principal  # type: ignore[arg-type]
        for i in range(attempts - 1)
    ]
    for _ in range(3):
        stored = desk.submit(desk.anonymous(), THREAT)
        barrier = threading.Barrier(len(handlers))
        won: list[int] = []
        lost: list[str] = []

        def go(
            who: Any,
            public_id: str = stored.public_id,
            barrier: threading.Barrier = barrier,
            won: list[int] = won,
            lost: list[str] = lost,
        ) -> None:
            barrier.wait()
            try:
                rd.claim(who, public_id, None)
                won.append(who.user_id)
            except Conflict as exc:
                lost.append(str(exc))

        threads = [threading.Thread(target=go, args=(h,)) for h in handlers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(won) == 1 and len(lost) == len(handlers) - 1
        assert all("already claimed by" in m for m in lost)
        case = desk.get(accounts["admin"].principal, stored.public_id)
        assert case.assignee_id == won[0]
        assert tags(store, stored.public_id).count("incident:claimed") == 1


def test_assignment_hand_over_and_who_may_do_it(
    store: Store, desk: CaseDesk, rd: ResponseDesk, accounts: dict[str, Account]
) -> None:
    responder = accounts["responder"].principal
    other = make_account(store, responder.role, "second-responder").principal  # type: ignore[arg-type]
    coord = accounts["coordinator"].principal
    stored = desk.submit(desk.anonymous(), FLOODING)
    rd.claim(responder, stored.public_id, None)
    with pytest.raises(PermissionDenied):
        rd.assign(other, stored.public_id, other.user_id, None, None)
    case = rd.assign(responder, stored.public_id, other.user_id, "going off shift", None)
    assert case.assignee_id == other.user_id
    with pytest.raises(InvalidInput, match="cannot take cases"):
        rd.assign(coord, stored.public_id, accounts["analyst"].principal.user_id, None, None)
    rd.assign(coord, stored.public_id, responder.user_id, None, None)
    assert [t for t in tags(store, stored.public_id) if t.startswith("incident:")][-3:] == [
        "incident:claimed",
        "incident:handed_over",
        "incident:assigned",
    ]
    with store.read() as conn:
        notices = deliveries.inapp_for_user(conn, other.user_id)
    assert any(n.event == "incident.assigned" for n in notices)


def test_breach_escalates_once_to_the_coordinator_on_duty(
    store: Store, desk: CaseDesk, rd: ResponseDesk, accounts: dict[str, Account]
) -> None:
    coord = accounts["coordinator"].principal
    rd.save_document(
        accounts["admin"].principal,
        "roster",
        roster(
            {
                "user": coord.username,
                "tier": "coordinator",
                "languages": ["ru", "kk", "en"],
                "days": ALWAYS,
                "from": "00:00",
                "to": "24:00",
            }
        ),
        None,
    )
    rd.set_channel(coord, "email", "coord@example.org")
    stored = desk.submit(desk.anonymous(), THREAT)
    case = desk.get(coord, stored.public_id)
    assert case.severity is Severity.CRITICAL
    assert escalate_due(store, case.reported_at + timedelta(minutes=14)) == 0
    assert escalate_due(store, case.reported_at + timedelta(minutes=16)) == 1
    assert escalate_due(store, case.reported_at + timedelta(minutes=17)) == 0  # only once
    with store.read() as conn:
        sent = [
            d
            for d in deliveries.list_deliveries(conn, incident_id=stored.id)
            if d.event == "incident.breached"
        ]
    assert {d.channel for d in sent} == {"email", "inapp"}
    assert all(d.user_id == coord.user_id for d in sent)
    assert sent[0].payload["deadline"] == "first_response"
    assert "incident:clock:breached" in tags(store, stored.public_id)
    queue = rd.queue(coord, "breached", now=case.reported_at + timedelta(minutes=20))
    assert [i.public_id for i in queue] == [stored.public_id]
    # the first action deadline is escalated separately, an hour after the report
    assert escalate_due(store, case.reported_at + timedelta(minutes=61)) == 1


def test_waiting_on_the_reporter_pauses_the_clocks(
    store: Store, desk: CaseDesk, rd: ResponseDesk, accounts: dict[str, Account]
) -> None:
    responder = accounts["responder"].principal
    stored = desk.submit(desk.anonymous(), THREAT)
    desk.change_status(responder, stored.public_id, Status.TRIAGED, None, None)
    desk.change_status(responder, stored.public_id, Status.WAITING_ON_REPORTER, None, None)
    before = rd.clock(responder, stored.public_id)
    assert before and before.paused
    case = desk.get(responder, stored.public_id)
    # an hour and more later the action deadline has not breached: the clock is paused
    assert escalate_due(store, case.reported_at + timedelta(hours=2)) == 0
    with store.write() as conn:  # the pause began 30 minutes ago
        conn.execute(
            response_clocks.response_clocks.update()
            .where(response_clocks.C.incident_id == stored.id)
            .values(paused_since=store.now() - timedelta(minutes=30))
        )
    desk.change_status(responder, stored.public_id, Status.IN_PROGRESS, None, None)
    after = rd.clock(responder, stored.public_id)
    assert after and not after.paused
    shift = after.action.due - (case.reported_at + timedelta(hours=1))
    assert timedelta(minutes=29) < shift < timedelta(minutes=31)
    desk.change_status(responder, stored.public_id, Status.RESOLVED, None, None)
    assert rd.queue(responder, "open") == []


def test_tasks_tick_skip_add_and_the_first_action(
    store: Store, desk: CaseDesk, rd: ResponseDesk, accounts: dict[str, Account]
) -> None:
    responder = accounts["responder"].principal
    stored = desk.submit(desk.anonymous(), FLOODING)
    first, second = rd.tasks(responder, stored.public_id)[:2]
    with pytest.raises(InvalidInput, match="say why"):
        rd.set_task(responder, stored.public_id, second.id, TaskState.SKIPPED, None, None)
    rd.set_task(responder, stored.public_id, second.id, TaskState.SKIPPED, "no call log kept", None)
    assert rd.clock(responder, stored.public_id).action.met_at is None  # type: ignore[union-attr]
    rd.set_task(responder, stored.public_id, first.id, TaskState.DONE, None, None)
    clock = rd.clock(responder, stored.public_id)
    assert clock and clock.action.met_at is not None and clock.response.met_at is not None
    own = rd.add_task(responder, stored.public_id, "Call the carrier's legal department", None)
    assert own.label("kk") == "Call the carrier's legal department"
    added = rd.attach_playbook(responder, stored.public_id, "deepfake", None)
    assert {t.playbook_id for t in added} == {"phone-flooding", None, "deepfake"}
    with pytest.raises(Conflict):
        rd.attach_playbook(responder, stored.public_id, "deepfake", None)
    with pytest.raises(InvalidInput) as exc:
        rd.attach_playbook(responder, stored.public_id, "no-such-book", None)
    assert "phone-flooding" in exc.value.problems[0].allowed
    t = tags(store, stored.public_id)
    assert "incident:task:skipped" in t and "incident:task:done" in t


def test_a_bad_document_is_refused_and_the_last_valid_one_stays(
    store: Store, desk: CaseDesk, rd: ResponseDesk, accounts: dict[str, Account]
) -> None:
    admin = accounts["admin"].principal
    fast = {
        "version": "fast-1",
        "severity": {
            "critical": {"first_response": "5m", "first_action": "30m"},
            "high": {"first_response": "30m", "first_action": "2h"},
            "medium": {"first_response": "4h", "first_action": "12h"},
            "low": {"first_response": "1d", "first_action": "3d"},
        },
    }
    assert rd.save_document(admin, "clocks", fast, None) == 1
    broken = {**fast, "severity": {**fast["severity"], "high": {"first_response": "soon"}}}
    with pytest.raises(InvalidInput) as exc:
        rd.save_document(admin, "clocks", broken, None)
    fields = {p.field for p in exc.value.problems}
    assert {"severity.high.first_response", "severity.high.first_action"} <= fields
    with pytest.raises(InvalidInput, match="unknown document kind"):
        rd.save_document(admin, "weather", {}, None)
    stored = desk.submit(desk.anonymous(), THREAT)
    clock = rd.clock(admin, stored.public_id)
    case = desk.get(admin, stored.public_id)
    assert clock and clock.response.due - case.reported_at == timedelta(minutes=5)
    assert rd.document(admin, "clocks") == (1, fast)


def test_webhook_secrets_are_stored_encrypted_and_never_shown(
    store: Store, rd: ResponseDesk, accounts: dict[str, Account]
) -> None:
    admin = accounts["admin"].principal
    secret = "s3cret-signing-key-for-webhooks"
    hook = {"name": "newsroom", "url": "https://hooks.example.org/qorgau", "secret": secret}
    rd.save_document(admin, "channels", {"webhook": [hook]}, None)
    shown = rd.document(admin, "channels")
    assert shown and shown[1]["webhook"][0]["secret"] == "[hidden]"
    with store.read() as conn:
        raw = conn.execute(sa.text("SELECT body FROM response_documents")).scalar_one()
    assert secret not in str(raw)
    with pytest.raises(InvalidInput) as exc:
        rd.save_document(admin, "channels", {"webhook": [{**hook, "url": "ftp://x"}]}, None)
    assert exc.value.problems[0].field == "webhook[0].url"


def test_referrals_and_their_outcome(
    store: Store, desk: CaseDesk, rd: ResponseDesk, accounts: dict[str, Account]
) -> None:
    legal = accounts["legal"].principal
    stored = desk.submit(desk.anonymous(), THREAT)
    suggested = [s.partner.id for s in rd.suggestions(legal, stored.public_id)]
    assert "adil-soz" in suggested
    with pytest.raises(InvalidInput, match="no partner"):
        rd.refer(legal, stored.public_id, "no-such-partner", "legal_aid", None, None)
    with pytest.raises(InvalidInput, match="does not offer"):
        rd.refer(legal, stored.public_id, "adil-soz", "relocation", None, None)
    ref = rd.refer(legal, stored.public_id, "adil-soz", "legal_aid", "lawyer agreed", None)
    assert rd.clock(legal, stored.public_id).action.met_at is not None  # type: ignore[union-attr]
    rd.update_referral(
        legal, stored.public_id, ref.id, ReferralState.HELPED, "police report filed", None
    )
    (only,) = rd.referrals(legal, stored.public_id)
    assert only.state is ReferralState.HELPED and only.outcome == "police report filed"


def test_statement_needs_approval_before_publication(
    store: Store, desk: CaseDesk, rd: ResponseDesk, accounts: dict[str, Account]
) -> None:
    responder, coord = accounts["responder"].principal, accounts["coordinator"].principal
    stored = desk.submit(desk.anonymous(), FLOODING)
    draft = rd.draft_statement(responder, stored.public_id, "kk", None)
    assert "МӘЛІМДЕМЕ" in draft.body and "Editor" not in draft.body
    with pytest.raises(PermissionDenied):
        rd.approve_statement(responder, draft.id, None)
    with pytest.raises(Conflict, match="approved"):
        rd.publish_statement(coord, draft.id, None)
    approved = rd.approve_statement(coord, draft.id, None)
    edited = rd.edit_statement(responder, draft.id, approved.body + "\nP.S.", None)
    assert edited.state == "draft"  # what was approved is not this text any more
    rd.approve_statement(coord, draft.id, None)
    published = rd.publish_statement(coord, draft.id, None)
    assert published.state == "published" and published.published_at is not None


def test_hygiene_checklists_per_outlet_and_person(
    store: Store, rd: ResponseDesk, accounts: dict[str, Account]
) -> None:
    responder = accounts["responder"].principal
    outlet = rd.track_hygiene(responder, "outlet", "Orda.kz", None, None)
    person = rd.track_hygiene(responder, "person", "Гульнар Бажкенова", None, None)
    assert outlet.checklist_id == "hygiene-outlet" and person.checklist_id == "hygiene-person"
    rd.set_hygiene(responder, person.id, "two-factor", "done", "authenticator app", None)
    with pytest.raises(InvalidInput) as exc:
        rd.set_hygiene(responder, person.id, "ddos-protection", "done", None, None)
    assert "two-factor" in exc.value.problems[0].allowed
    (again,) = [s for s in rd.hygiene(responder) if s.id == person.id]
    assert again.items["two-factor"][0] == "done" and again.label == "Гульнар Бажкенова"
    with store.read() as conn:
        raw = conn.execute(sa.text("SELECT label_enc FROM hygiene_subjects")).scalars().all()
    assert all("Бажкенова" not in r for r in raw)


def test_timeline_tells_the_case_in_order(
    store: Store, desk: CaseDesk, rd: ResponseDesk, accounts: dict[str, Account]
) -> None:
    responder = accounts["responder"].principal
    stored = desk.submit(desk.anonymous(), FLOODING)
    rd.claim(responder, stored.public_id, None)
    desk.add_note(responder, stored.public_id, "called the editor", True, None)
    task = rd.tasks(responder, stored.public_id)[0]
    rd.set_task(responder, stored.public_id, task.id, TaskState.DONE, None, None)
    rd.refer(responder, stored.public_id, "adil-soz", "legal_aid", None, None)
    entries = rd.timeline(responder, stored.public_id)
    kinds = [e.kind for e in entries]
    assert kinds[0] == "incident:reported"
    for k in (
        "alert",
        "incident:claimed",
        "incident:note:added",
        "incident:task:done",
        "incident:referral:made",
    ):
        assert k in kinds, k
    assert kinds.index("incident:claimed") < kinds.index("incident:task:done")
    assert [e.at for e in entries] == sorted(e.at for e in entries)
    note = next(e for e in entries if e.kind == "incident:note:added")
    assert note.summary["after"]["body"] == "called the editor"  # decrypted for staff


def test_attachments_are_listed_and_downloaded_never_inline(
    store: Store, desk: CaseDesk, accounts: dict[str, Account]
) -> None:
    from fastapi.testclient import TestClient

    from qorgau.inbound.filing import InboundReport, file_inbound_report
    from qorgau.store.attachments import IncomingFile
    from qorgau.web.app import create_app

    page = b"<html><script>alert(1)</script>fake ad with +7 700 000 0101</html>"
    filed = file_inbound_report(
        store,
        desk,
        InboundReport(
            channel="email",
            external_id="<ads-1@orda.example>",
            fields=ReportFields(title="Fake ads", attack_types=("phone_flooding",)),
            files=[IncomingFile("ad.html", "text/html", page)],
        ),
    )
    with TestClient(create_app(store.settings, store)) as client:
        h = accounts["responder"].headers
        listed = client.get(f"/api/v1/incidents/{filed.public_id}/attachments", headers=h)
        assert listed.status_code == 200, listed.text
        (item,) = listed.json()
        assert item["filename"] == "ad.html" and item["size"] == len(page)
        r = client.get(
            f"/api/v1/incidents/{filed.public_id}/attachments/{item['sha256']}", headers=h
        )
        assert r.status_code == 200 and r.content == page
        assert r.headers["content-type"] == "application/octet-stream"
        assert r.headers["content-disposition"].startswith("attachment;")
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in r.headers["content-security-policy"]
        evidence = client.get(f"/api/v1/incidents/{filed.public_id}/evidence", headers=h).json()
        (vaulted,) = evidence
        assert vaulted["sha256"] == item["sha256"] and vaulted["method"] == "email"
        assert [c["action"] for c in vaulted["custody"]] == ["collected", "viewed"]
        analyst = client.get(
            f"/api/v1/incidents/{filed.public_id}/attachments", headers=accounts["analyst"].headers
        )
        assert analyst.status_code == 403
        missing = client.get(
            f"/api/v1/incidents/{filed.public_id}/attachments/{'0' * 64}", headers=h
        )
        assert missing.status_code == 404


def test_personal_channels_refuse_bad_addresses_and_webhooks(
    store: Store, rd: ResponseDesk, accounts: dict[str, Account]
) -> None:
    responder = accounts["responder"].principal
    for kind, address, rule in (
        ("pigeon", "roof", "personal_channel"),
        (
            "webhook",
            '{"url": "http://10.0.0.1/", "secret": "0123456789abcdef"}',
            "personal_channel",
        ),
        ("inapp", "-", "personal_channel"),
    ):
        with pytest.raises(InvalidInput) as exc:
            rd.set_channel(responder, kind, address)
        assert exc.value.problems[0].rule == rule
        assert exc.value.problems[0].allowed == ("email", "telegram")
    with pytest.raises(InvalidInput) as exc:
        rd.set_channel(responder, "email", "not an address")
    assert exc.value.problems[0].field == "address"
    with pytest.raises(InvalidInput) as exc:
        rd.set_channel(responder, "telegram", "my phone")
    assert exc.value.problems[0].field == "address"
    assert rd.channels(responder) == {}  # nothing half-stored
    assert rd.set_channel(responder, "telegram", "123456789") == "123456789"
    assert rd.channels(responder) == {"telegram": "123456789"}
