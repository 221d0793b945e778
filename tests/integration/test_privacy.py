"""People's control over their data, on SQLite and PostgreSQL: consent that blocks naming and
sharing, retention expiry that keeps counts, erasure that keeps the evidence log verifiable,
and a panic lock that hides a case from everyone but administrators."""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from qorgau.desk import CaseDesk
from qorgau.domain.model import ReporterContact, ReportFields, Status, TargetInput
from qorgau.domain.privacy import Answer, Consent, ConsentSource
from qorgau.domain.tlp import Tlp
from qorgau.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from qorgau.privacy_desk import PrivacyDesk
from qorgau.response_desk import ResponseDesk
from qorgau.security.keys import load_keyring
from qorgau.sharing_desk import SharingDesk
from qorgau.store import vault as vault_repo
from qorgau.store.attachments import IncomingFile, add_attachments, store_blobs
from qorgau.store.blobs import BlobStore
from qorgau.store.case_tasks import TaskState
from qorgau.store.store import Store
from qorgau.store.tables import audit_events, incidents, notes
from qorgau.vault_desk import VaultDesk
from tests.conftest import Account
from tests.integration.test_api_intake import ORDA_ADS
from tests.integration.test_cli import no_traceback

SECRET = "Aigerim Nurlanovna"


@pytest.fixture
def blobs(store: Store, tmp_path: Path) -> BlobStore:
    """Blobs of this test only (the database is emptied per test, files are not)."""
    return BlobStore.from_ring(tmp_path / "blobs", load_keyring(store.settings.resolved_key_file))


@pytest.fixture
def pd(desk: CaseDesk, blobs: BlobStore) -> PrivacyDesk:
    return PrivacyDesk(desk, blobs)


def report(desk: CaseDesk, *, consent_public: bool = True) -> str:
    return desk.submit(
        desk.anonymous(),
        ReportFields(
            title=f"Threats against {SECRET}",
            description=f"{SECRET} gets calls at night",
            attack_types=("doxxing",),
            category="safety",
            targets=(TargetInput("person", SECRET, consent_public=consent_public),),
            reporter=ReporterContact(name="Newsroom lead", email="lead@orda.example"),
        ),
    ).public_id


def row_id(store: Store, public_id: str) -> int:
    with store.read() as conn:
        return int(
            conn.execute(
                sa.select(incidents.c.id).where(incidents.c.public_id == public_id)
            ).scalar_one()
        )


# -- consent ------------------------------------------------------------------------------
def test_consent_history_withdrawal_stops_naming_and_sharing(
    store: Store, desk: CaseDesk, pd: PrivacyDesk, accounts: dict[str, Account]
) -> None:
    pid = report(desk)
    lead = accounts["coordinator"].principal
    sharing = SharingDesk(store)

    def named() -> list[str | None]:
        bundle = sharing.bundle(lead, Tlp.AMBER)
        return [t.name for i in bundle.incidents if i.public_id == pid for t in i.targets]

    assert named() == [SECRET]  # the form's consent, as before
    pd.record_consent(
        accounts["responder"].principal,
        pid,
        Consent(Answer.NO, Answer.YES, ("cert-kz",)),
        note="said so on the phone",
    )
    assert named() == []  # shared with no named recipient: the consent names partners
    assert desk.get(lead, pid).targets[0].consent_public is False
    with pytest.raises(Conflict, match="did not consent to sharing with jfj; consented: cert-kz"):
        pd.check_share(lead, pid, "jfj")
    pd.check_share(lead, pid, "cert-kz")
    # The partner it was consented for receives it, without the name.
    partner = accounts["partner"].principal
    pd.record_consent(lead, pid, Consent(Answer.NO, Answer.YES, (partner.username,)))
    got = sharing.bundle(partner, Tlp.GREEN)
    assert all(i.public_id != pid for i in got.incidents)  # TLP:AMBER stays out
    desk.update(lead, pid, _tlp_green(), None)
    got = sharing.bundle(partner, Tlp.GREEN)
    assert [t.name for i in got.incidents if i.public_id == pid for t in i.targets] == [None]
    # The person says no to sharing at all, from the track page.
    pd.record_consent(lead, pid, Consent(Answer.YES, Answer.NO, None))
    with pytest.raises(Conflict, match="not consent to the case being shared with anyone"):
        pd.check_share(lead, pid, partner.username)
    assert all(i.public_id != pid for i in sharing.bundle(partner, Tlp.GREEN).incidents)
    history = pd.consent_history(lead, pid)
    assert [r.consent.name_publicly for r in history] == [Answer.NO, Answer.NO, Answer.YES]
    assert history[0].source is ConsentSource.RESPONDER
    assert history[0].recorded_by_name == "responder-user"
    with pytest.raises(PermissionDenied):
        pd.record_consent(accounts["analyst"].principal, pid, Consent())
    with pytest.raises(InvalidInput, match="track_page is the person's own answer"):
        pd.record_consent(lead, pid, Consent(), source=ConsentSource.TRACK_PAGE)


def _tlp_green() -> Any:
    from qorgau.desk import IncidentPatch

    return IncidentPatch(tlp=Tlp.GREEN)


def test_a_consent_of_yes_names_the_person_in_a_statement(
    desk: CaseDesk, pd: PrivacyDesk, accounts: dict[str, Account]
) -> None:
    from qorgau.response.statements import facts

    pid = report(desk, consent_public=False)
    lead = accounts["coordinator"].principal

    def named() -> tuple[str, ...]:
        return facts(desk.get(lead, pid), desk.store.taxonomy, "en", "Adil Soz").named_people

    assert named() == ()
    pd.record_consent(lead, pid, Consent(Answer.YES, Answer.NOT_ASKED, None))
    assert named() == (SECRET,)
    pd.record_consent(lead, pid, Consent(Answer.NO, Answer.NOT_ASKED, None))
    assert named() == ()


def test_consent_over_the_api_and_the_track_page(
    client: TestClient, accounts: dict[str, Account]
) -> None:
    ack = client.post("/api/v1/reports", json=ORDA_ADS).json()
    pid, lead = ack["public_id"], accounts["coordinator"].headers
    r = client.post(
        "/api/v1/reports/track/consent",
        json={"receipt_code": ack["receipt_code"], "name_publicly": "no", "share": "no"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["source"] == "track_page" and r.json()["recorded_by"] == "receipt holder"
    bad = client.post(
        f"/api/v1/incidents/{pid}/consent",
        json={"share": "no", "partners": ["cert-kz"]},
        headers=lead,
    )
    assert bad.status_code == 422 and "only when share is" in bad.text
    got = client.get(f"/api/v1/incidents/{pid}/consent", headers=lead).json()
    assert got["current"]["share"] == "no" and len(got["history"]) == 1
    refused = client.get(f"/api/v1/incidents/{pid}/sharing-consent?partner=cert-kz", headers=lead)
    assert refused.status_code == 409
    assert "did not consent to the case being shared" in refused.json()["detail"]


# -- retention ----------------------------------------------------------------------------
def _close(store: Store, public_id: str, days_ago: int) -> None:
    with store.write() as conn:
        conn.execute(
            incidents.update()
            .where(incidents.c.public_id == public_id)
            .values(status=str(Status.CLOSED), updated_at=store.now() - timedelta(days=days_ago))
        )


def test_expiry_erases_past_period_content_keeps_counts_and_respects_holds(
    store: Store,
    desk: CaseDesk,
    pd: PrivacyDesk,
    blobs: BlobStore,
    accounts: dict[str, Account],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lead = accounts["coordinator"].principal
    old, held, recent = report(desk), report(desk), report(desk)
    for pid in (old, held, recent):
        desk.add_note(lead, pid, f"{SECRET}'s home address is known", True, None)
    refs = store_blobs(
        blobs, [IncomingFile("threat.txt", "text/plain", b"threat to " + old.encode())]
    )
    with store.write() as conn:
        add_attachments(conn, store.cipher, row_id(store, old), refs, "email", store.now())
    pd.hold(accounts["legal"].principal, held, "court case 2-123/2025")
    _close(store, old, 4 * 365)
    _close(store, held, 4 * 365)
    _close(store, recent, 30)
    before = desk.summary(lead)

    report_ = pd.expire(desk.system("retention"))

    assert report_.counts["case_personal"] == 1 and report_.counts["reporter_contact"] == 1
    after = desk.summary(lead)
    assert (after.total, after.by_category, after.by_attack_type) == (
        before.total,
        before.by_category,
        before.by_attack_type,
    )
    gone = desk.get(lead, old)
    assert SECRET not in gone.title + gone.description
    assert gone.targets[0].name == "[erased]" and gone.reporter.is_empty()
    assert gone.category == "safety" and gone.attack_types == ("doxxing",)
    assert desk.notes(lead, old, 10, 0)[0][0].body == "[erased]"
    assert not blobs.exists(refs[0].sha256)
    for pid in (held, recent):
        kept = desk.get(lead, pid)
        assert SECRET in kept.title and kept.reporter.email == "lead@orda.example"
        assert SECRET in desk.notes(lead, pid, 10, 0)[0][0].body
    with store.read() as conn:
        tags = conn.execute(
            sa.select(audit_events.c.entity_id, audit_events.c.after).where(
                audit_events.c.tag == "incident:expired"
            )
        ).all()
        bodies = conn.execute(sa.select(notes.c.body_clear, notes.c.body_enc)).all()
    assert {e for e, _ in tags} == {old}
    assert all(SECRET not in json.dumps(a) for _, a in tags)
    assert sum(1 for clear, _ in bodies if clear == "[erased]") == 1
    # A second run finds nothing more to do.
    assert not any(
        pd.expire(desk.system("retention")).counts.get(k) for k in ("notes", "attachments")
    )
    # An organisation's own periods, from the retention document.
    doc = tmp_path / "retention.json"
    doc.write_text(json.dumps({"case_personal": 10, "notes": None}))
    monkeypatch.setattr(store, "settings", _with_retention(store, doc))
    assert pd.retention().days["case_personal"] == 10
    pd.expire(desk.system("retention"))
    assert desk.get(lead, recent).title == "[erased]"
    assert SECRET in desk.notes(lead, recent, 10, 0)[0][0].body  # notes: kept forever now
    doc.write_text('{"notes": -3}')
    with pytest.raises(InvalidInput, match="notes: days from 1"):
        pd.expire(desk.system("retention"))


def _with_retention(store: Store, doc: Path) -> Any:
    from dataclasses import replace

    return replace(store.settings, retention_file=doc)


# -- erasure ------------------------------------------------------------------------------
def test_erasure_keeps_the_vault_verifiable_and_a_shared_blob_alive(
    store: Store,
    desk: CaseDesk,
    blobs: BlobStore,
    pd: PrivacyDesk,
    accounts: dict[str, Account],
) -> None:
    vd = VaultDesk(desk, blobs)
    lead, responder = accounts["coordinator"].principal, accounts["responder"].principal
    erased, other = report(desk), report(desk)
    shared_bytes = b"<html>the same fake ad, filed by two newsrooms</html>"
    own = vd.add_file(responder, b"only " + erased.encode(), filename="call.txt",
                      media_type="text/plain", case=erased).items[0]  # fmt: skip
    shared = vd.add_file(responder, shared_bytes, filename="ad.html", media_type="text/html",
                         case=erased).items[0]  # fmt: skip
    theirs = vd.add_file(responder, shared_bytes, filename="ad.html", media_type="text/html",
                         case=other).items[0]  # fmt: skip
    assert shared.sha256 == theirs.sha256
    rd = ResponseDesk(desk)
    rd.draft_statement(lead, erased, "en", None)
    with store.read() as conn:
        head = vault_repo.latest_head(conn)
        leaves = vault_repo.leaf_hashes(conn)
    assert vd.verify(lead).ok

    with pytest.raises(PermissionDenied):
        pd.erase(responder, erased, "asked by the person")
    with pytest.raises(InvalidInput, match="say why"):
        pd.erase(lead, erased, "  ")
    pd.hold(lead, erased, "prosecutor's request")
    with pytest.raises(Conflict, match="under legal hold"):
        pd.erase(lead, erased, "asked by the person")
    pd.release_hold(lead, erased)

    done = pd.erase(lead, erased, "asked by the person on 3 December")

    assert (done.evidence, done.notes, done.reporter_contact) == (2, 0, True)
    assert done.counts()["blobs_deleted"] == 1 and done.counts()["blobs_kept_shared"] == 1
    report_ = vd.verify(lead)
    assert report_.ok, report_.problems
    assert sorted(i for i, _, _ in report_.erased) == sorted([own.id, shared.id])
    with store.read() as conn:
        assert vault_repo.latest_head(conn) == head
        assert vault_repo.leaf_hashes(conn) == leaves
    assert not blobs.exists(own.sha256) and blobs.exists(shared.sha256)
    _, data = vd.open_item(lead, theirs.id, "the other case still needs it")
    assert data == shared_bytes
    with pytest.raises(NotFound, match="was erased"):
        vd.open_item(lead, shared.id, "look")
    assert vd.items(lead, erased) == []
    case = desk.get(lead, erased)
    assert case.title == "[erased]" and case.reporter.is_empty()
    assert [s.body for s in rd.statements(lead, erased)] == ["[erased]"]
    with store.read() as conn:
        trail = conn.execute(
            sa.select(audit_events.c.tag, audit_events.c.actor_name, audit_events.c.after).where(
                audit_events.c.entity_id == erased
            )
        ).all()
    assert all(SECRET not in json.dumps(after) for _, _, after in trail)
    ((actor, after),) = [(a, doc) for tag, a, doc in trail if tag == "incident:erased"]
    assert actor == "coordinator-user" and after["reason"] == "asked by the person on 3 December"


def test_erasure_over_the_api_and_the_cli(
    client: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    pid = client.post("/api/v1/reports", json=ORDA_ADS).json()["public_id"]
    (item,) = client.post(
        f"/api/v1/incidents/{pid}/evidence?filename=call.txt",
        content=f"call log of {pid}".encode(),
        headers={**accounts["responder"].headers, "content-type": "text/plain"},
    ).json()
    no = client.post(f"/api/v1/incidents/{pid}/erasure", json={}, headers=accounts["admin"].headers)
    assert no.status_code == 422 and "say why" in no.text
    r = client.post(
        f"/api/v1/incidents/{pid}/erasure",
        json={"reason": "request by e-mail"},
        headers=accounts["admin"].headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["case_text"] is True and r.json()["reporter_contact"] is True
    got = client.get(f"/api/v1/incidents/{pid}", headers=accounts["coordinator"].headers).json()
    assert got["title"] == "[erased]" and "Editor-in-chief" not in json.dumps(got)
    verified = client.get("/api/v1/vault/verify", headers=accounts["admin"].headers).json()
    assert [e["item_id"] for e in verified["erased"]] == [item["id"]]
    assert not [p for p in verified["problems"] if item["sha256"] in p["where"]]


# -- panic lock ---------------------------------------------------------------------------
SEES_NOTHING = ("responder", "coordinator", "legal", "analyst")


def test_panic_lock_hides_the_case_from_everyone_but_admins(
    client: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    h = {k: a.headers for k, a in accounts.items()}
    ack = client.post("/api/v1/reports", json=ORDA_ADS).json()
    pid = ack["public_id"]
    own = client.post("/api/v1/reports", json=ORDA_ADS, headers=h["reporter"]).json()["public_id"]
    visible = client.post("/api/v1/reports", json=ORDA_ADS).json()["public_id"]
    total_before = client.get("/api/v1/stats/summary", headers=h["analyst"]).json()["total"]

    # The at-risk person pulls the lock with the receipt code; a coordinator locks the other.
    bad = client.post("/api/v1/reports/track/lock", json={"receipt_code": "AAAAA-BBBBB-CCCCC"})
    assert bad.status_code == 404 and "receipt code" in bad.json()["detail"]
    r = client.post("/api/v1/reports/track/lock", json={"receipt_code": ack["receipt_code"]})
    assert r.status_code == 200 and r.json()["locked"] is True
    assert (
        client.post(f"/api/v1/incidents/{own}/lock", json={}, headers=h["responder"]).status_code
        == 403
    )
    r = client.post(
        f"/api/v1/incidents/{own}/lock", json={"reason": "phone seized"}, headers=h["coordinator"]
    )
    assert r.status_code == 200, r.text

    for role in (*SEES_NOTHING, "reporter"):
        mine = own if role == "reporter" else pid
        got = client.get(f"/api/v1/incidents/{mine}", headers=h[role])
        assert got.status_code in (403, 404), role  # analysts never read cases at all
        listed = client.get("/api/v1/incidents?limit=100", headers=h[role])
        if listed.status_code == 200:
            ids = {i["public_id"] for i in listed.json()["items"]}
            assert not ids & {pid, own}, role
        searched = client.get("/api/v1/incidents?q=classified", headers=h[role])
        if searched.status_code == 200:
            assert {i["public_id"] for i in searched.json()["items"]} <= {visible}, role
    for role in ("responder", "coordinator"):
        queue = client.get("/api/v1/queue", headers=h[role])
        assert queue.status_code == 200, queue.text
        assert {q["public_id"] for q in queue.json()} == {visible}, role
        notes = client.post(f"/api/v1/incidents/{pid}/notes", json={"body": "x"}, headers=h[role])
        assert notes.status_code == 404
    summary = client.get("/api/v1/stats/summary", headers=h["analyst"]).json()
    assert summary["total"] == total_before - 2
    drill = client.get("/api/v1/stats/breakdown?by=region", headers=h["analyst"]).json()
    assert drill["total"] == 1
    public = client.get("/api/v1/public/incidents?format=csv").text
    assert pid not in public and own not in public
    # Only admins see the locked cases, list them, and lift a lock.
    admin = h["admin"]
    assert client.get(f"/api/v1/incidents/{pid}", headers=admin).status_code == 200
    listed_admin = {
        i["public_id"] for i in client.get("/api/v1/incidents", headers=admin).json()["items"]
    }
    assert {pid, own} <= listed_admin
    assert {x["public_id"] for x in client.get("/api/v1/locks", headers=admin).json()} == {pid, own}
    assert (
        client.delete(f"/api/v1/incidents/{pid}/lock", headers=h["coordinator"]).status_code == 403
    )
    assert client.delete(f"/api/v1/incidents/{pid}/lock", headers=admin).status_code == 200
    again = client.delete(f"/api/v1/incidents/{pid}/lock", headers=admin)
    assert again.status_code == 409 and "not locked" in again.json()["detail"]
    assert client.get(f"/api/v1/incidents/{pid}", headers=h["coordinator"]).status_code == 200
    with store.read() as conn:
        trail = conn.execute(
            sa.select(audit_events.c.tag, audit_events.c.actor_name).where(
                audit_events.c.tag.like("incident:lock:%")
            )
        ).all()
    assert sorted(tuple(t) for t in trail) == sorted(
        [
            ("incident:lock:placed", "receipt holder"),
            ("incident:lock:placed", "coordinator-user"),
            ("incident:lock:lifted", "admin-user"),
        ]
    )


def test_panic_lock_buttons_on_the_case_and_track_pages(
    client: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    from tests.support.web import form_csrf, signed_in

    ack = client.post("/api/v1/reports", json=ORDA_ADS).json()
    pid, html = ack["public_id"], {"accept": "text/html"}
    # A coordinator sees the button, pulls the lock, and is sent back to the queue.
    form = signed_in(client, store, accounts["coordinator"].token)
    page = client.get(f"/desk/cases/{pid}", headers=html)
    assert page.status_code == 200 and 'id="panic-lock"' in page.text
    pulled = client.post(f"/desk/cases/{pid}/lock", data=form, headers=html, follow_redirects=False)
    assert pulled.status_code == 303 and pulled.headers["location"] == "/desk"
    for role in ("coordinator", "responder"):
        signed_in(client, store, accounts[role].token)
        assert client.get(f"/desk/cases/{pid}", headers=html).status_code == 404, role
        queue = client.get("/desk", headers=html)
        assert queue.status_code == 200 and pid not in queue.text, role
    # The admin sees the case, marked, and lifts the lock from the page.
    form = signed_in(client, store, accounts["admin"].token)
    page = client.get(f"/desk/cases/{pid}", headers=html)
    assert page.status_code == 200 and "Lift the panic lock" in page.text
    assert pid in client.get("/desk", headers=html).text
    lifted = client.post(
        f"/desk/cases/{pid}/unlock", data=form, headers=html, follow_redirects=False
    )
    assert lifted.status_code == 303
    signed_in(client, store, accounts["coordinator"].token)
    assert client.get(f"/desk/cases/{pid}", headers=html).status_code == 200
    # The person pulls it from the track page, with their receipt code.
    client.cookies.clear()
    track = client.get("/track", headers=html)
    shown = client.post(
        "/track",
        data={"csrf": form_csrf(track.text), "code": ack["receipt_code"]},
        headers=html,
    )
    assert shown.status_code == 200 and 'action="/track/lock"' in shown.text
    # The person's own consent, from the same page.
    said = client.post(
        "/track/consent",
        data={
            "csrf": form_csrf(shown.text),
            "code": ack["receipt_code"],
            "name_publicly": "no",
            "share": "yes",
            "partners": "cert-kz, jfj",
        },
        headers=html,
    )
    assert said.status_code == 200 and "Your answer is recorded" in said.text
    muddled = client.post(
        "/track/consent",
        data={
            "csrf": form_csrf(shown.text),
            "code": ack["receipt_code"],
            "name_publicly": "no",
            "share": "no",
            "partners": "cert-kz",
        },
        headers=html,
    )
    assert muddled.status_code == 422 and "only when share is" in muddled.text
    consent = client.get(
        f"/api/v1/incidents/{pid}/consent", headers=accounts["coordinator"].headers
    ).json()
    assert consent["current"]["partners"] == ["cert-kz", "jfj"]
    assert consent["current"]["source"] == "track_page" and len(consent["history"]) == 1
    wrong = client.post(
        "/track/lock",
        data={"csrf": form_csrf(shown.text), "code": "AAAAA-BBBBB-CCCCC-DDDDD"},
        headers=html,
    )
    assert wrong.status_code == 404 and "Check it letter by letter" in wrong.text
    locked = client.post(
        "/track/lock",
        data={"csrf": form_csrf(shown.text), "code": ack["receipt_code"]},
        headers=html,
    )
    assert locked.status_code == 200 and "Your case is hidden" in locked.text
    assert (
        client.get(f"/api/v1/incidents/{pid}", headers=accounts["coordinator"].headers).status_code
        == 404
    )


# -- the command line ---------------------------------------------------------------------
def run(
    *args: str, data_dir: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The ``qorgau`` command in this process (a new process per call costs seconds of
    imports; tests/integration/test_cli.py runs the real process)."""
    from typer.testing import CliRunner

    from qorgau.cli import app

    full = {"QORGAU_LANG": "en", "COLUMNS": "200", "QORGAU_DATA_DIR": str(data_dir), **(env or {})}
    r = CliRunner().invoke(app, list(args), env=full)
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    done = subprocess.CompletedProcess(list(args), r.exit_code, r.stdout, r.stderr)
    no_traceback(done)
    return done


def test_privacy_commands_from_the_command_line(tmp_path: Path) -> None:
    """On real files: erase keeps ``vault verify`` passing and names what went; bad input is
    one line, never a traceback."""
    from qorgau.config import Settings
    from qorgau.store.store import open_store

    data = tmp_path / "data"
    assert run("init", data_dir=data).returncode == 0
    store = open_store(Settings.from_env({"QORGAU_DATA_DIR": str(data)}))
    try:
        pid = report(CaseDesk(store))
    finally:
        store.close()
    evidence = tmp_path / "threat.txt"
    evidence.write_text(f"{SECRET}, we know where you live", encoding="utf-8")
    assert run("vault", "add", str(evidence), "--case", pid, data_dir=data).returncode == 0

    bad = run("privacy", "consent", pid, "--name", "maybe", data_dir=data)
    assert bad.returncode == 2 and "name_publicly: answer yes, no or not_asked" in bad.stderr
    no_traceback(bad)
    ok = run("privacy", "consent", pid, "--share", "yes", "--partners", "cert-kz",
                data_dir=data)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "shared yes with cert-kz (responder, cli)" in ok.stdout
    assert run("privacy", "hold", pid, "--reason", "court", data_dir=data).returncode == 0
    held = run("privacy", "erase", pid, "--reason", "asked", data_dir=data)
    assert held.returncode == 2 and "under legal hold" in held.stderr
    no_traceback(held)
    assert run("privacy", "release", pid, data_dir=data).returncode == 0
    erased = run("privacy", "erase", pid, "--reason", "asked by phone", data_dir=data)
    assert erased.returncode == 0, erased.stderr
    assert "1 evidence items; 1 files deleted, 0 kept" in erased.stdout
    verified = run("vault", "verify", data_dir=data)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "0 problems" in verified.stdout
    assert "Log entry 0 (item 1): content erased, hash kept" in verified.stdout

    assert run("privacy", "lock", pid, "--reason", "seized phone", data_dir=data).returncode == 0
    assert pid in run("privacy", "locks", data_dir=data).stdout
    assert run("privacy", "unlock", pid, data_dir=data).returncode == 0
    again = run("privacy", "unlock", pid, data_dir=data)
    assert again.returncode == 2 and "is not locked" in again.stderr
    assert "No case is locked." in run("privacy", "locks", data_dir=data).stdout
    assert "notes: 1095 days" in run("privacy", "retention", data_dir=data).stdout
    expired = run("privacy", "expire", data_dir=data)
    assert expired.returncode == 0 and "case_personal: 0 expired." in expired.stdout
    broken = tmp_path / "retention.json"
    broken.write_text('{"notes": "soon"}')
    refused = run("privacy", "expire", data_dir=data, env={"QORGAU_RETENTION_FILE": str(broken)})
    assert refused.returncode == 2 and "notes: days from 1" in refused.stderr
    no_traceback(refused)


def test_the_server_runs_expiry_on_its_own(
    store: Store, desk: CaseDesk, pd: PrivacyDesk, accounts: dict[str, Account]
) -> None:
    import asyncio

    from qorgau.privacy_desk import ExpiryLoop

    pid = report(desk)
    _close(store, pid, 4 * 365)

    async def until_erased() -> None:
        loop = ExpiryLoop(pd, interval=0.01)
        await loop.start()
        try:
            for _ in range(500):  # waits for the event, not for a time
                await asyncio.sleep(0.02)
                if desk.get(accounts["admin"].principal, pid).title == "[erased]":
                    return
        finally:
            await loop.stop()

    asyncio.run(until_erased())
    assert desk.get(accounts["admin"].principal, pid).title == "[erased]"


def test_a_locked_cases_history_and_clock_alerts_are_hidden_from_all_but_admins(
    client: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    from qorgau.store import response_clocks

    lead, admin = accounts["coordinator"].headers, accounts["admin"].headers
    pid = client.post("/api/v1/reports", json=ORDA_ADS).json()["public_id"]
    client.patch(f"/api/v1/incidents/{pid}", json={"severity": "critical"}, headers=lead)
    query = {"entity": "incident", "entity_id": pid}
    before = client.get("/api/v1/audit", params=query, headers=lead).json()
    assert before["total"] >= 2  # reported, updated: the history names the case
    locked = client.post(f"/api/v1/incidents/{pid}/lock", json={"reason": "phone seized"},
                         headers=lead)  # fmt: skip
    assert locked.status_code < 300, locked.text
    hidden = client.get("/api/v1/audit", params=query, headers=lead).json()
    assert hidden["total"] == 0 and hidden["items"] == []
    everything = client.get("/api/v1/audit", headers=lead).json()
    assert all(e["entity_id"] != pid for e in everything["items"])
    shown = client.get("/api/v1/audit", params=query, headers=admin).json()
    assert {"incident:reported", "incident:lock:placed"} <= {e["tag"] for e in shown["items"]}
    # Its overdue response clock pages nobody while it is locked.
    with store.read() as conn:
        case_id = conn.execute(
            sa.select(incidents.c.id).where(incidents.c.public_id == pid)
        ).scalar_one()
        far = store.now() + timedelta(days=30)
        assert case_id not in [i for i, _, _ in response_clocks.due_breaches(conn, far)]
    client.delete(f"/api/v1/incidents/{pid}/lock", headers=admin)
    with store.read() as conn:
        assert case_id in [i for i, _, _ in response_clocks.due_breaches(conn, far)]


def test_a_hold_placed_after_expiry_picked_the_case_still_stops_it(
    store: Store,
    desk: CaseDesk,
    pd: PrivacyDesk,
    accounts: dict[str, Account],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from qorgau.store import privacy as privacy_repo

    lead = accounts["coordinator"].principal
    pid = report(desk)
    desk.add_note(lead, pid, f"{SECRET}'s home address is known", True, None)
    _close(store, pid, 4 * 365)
    picked = privacy_repo.cases_with

    def pick_then_hold(conn: Any, kind: str, cutoff: Any, limit: int) -> Any:
        found = picked(conn, kind, cutoff, limit)
        if found:  # the prosecutor's request arrives between selection and erasure
            monkeypatch.setattr(privacy_repo, "cases_with", lambda *a: [])
            pd.hold(accounts["legal"].principal, pid, "court case 2-124/2025")
        return found

    monkeypatch.setattr(privacy_repo, "cases_with", pick_then_hold)
    pd.expire(accounts["admin"].principal)
    assert desk.get(lead, pid).title != "[erased]"
    assert any(SECRET in n.body for n in desk.notes(lead, pid, 50, 0)[0])


def test_an_erased_description_is_gone_from_the_database_files(
    store: Store, desk: CaseDesk, pd: PrivacyDesk, accounts: dict[str, Account]
) -> None:
    """Not only from what the desk shows: FTS5 segments, freed pages and the WAL of SQLite
    would otherwise keep the words for anyone who copies the files."""
    if store.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's dead rows are vacuumed by 'qorgau keys reencrypt --compact'")
    from tests.integration.test_encryption_at_rest import database_bytes

    word = "zharkynbekovnaerasable"  # as the index stores it: one lower-case token
    pid = desk.submit(
        desk.anonymous(),
        ReportFields(
            title=f"Threats to {word}",
            description=f"{word} gets calls at night",
            attack_types=("threats",),
        ),
    ).public_id
    with store.write() as conn:
        from qorgau.store.search_index import index_pending

        index_pending(conn)
    assert word.encode() in database_bytes(store)  # the test can see it before
    pd.erase(accounts["coordinator"].principal, pid, "asked by the person")
    assert word.encode() not in database_bytes(store)


def test_a_campaigns_count_does_not_betray_a_locked_case(
    client: TestClient, accounts: dict[str, Account]
) -> None:
    lead, admin = accounts["coordinator"].headers, accounts["admin"].headers
    pids = [client.post("/api/v1/reports", json=ORDA_ADS).json()["public_id"] for _ in range(2)]
    camp = client.post("/api/v1/campaigns", json={"name": "Orda week"}, headers=lead).json()
    linked = client.post(
        f"/api/v1/campaigns/{camp['id']}/incidents", json={"incidents": pids}, headers=lead
    )
    assert linked.status_code < 300, linked.text
    client.post(f"/api/v1/incidents/{pids[0]}/lock", json={"reason": "at risk"}, headers=lead)

    def counts(headers: dict[str, str]) -> list[Any]:
        listed = client.get("/api/v1/campaigns", headers=headers).json()
        return [c.get("incident_count", c.get("incidents")) for c in listed["items"]]

    assert counts(lead) == [1] and counts(admin) == [2]


def test_erasure_also_clears_words_typed_about_the_person_elsewhere(
    store: Store,
    desk: CaseDesk,
    blobs: BlobStore,
    pd: PrivacyDesk,
    accounts: dict[str, Account],
) -> None:
    """Consent notes, why a panic lock was pulled, tasks typed by hand, why a step was
    skipped, and the address of a captured page in the chain of custody are all about the
    person: after erasure none of them is anywhere in the case's rows or its audit trail,
    while the records themselves (a consent, a task, a custody step) stay."""
    lead, admin = accounts["coordinator"].principal, accounts["admin"].principal
    responder = accounts["responder"].principal
    erased = report(desk)
    planted = {
        "note": f"{SECRET} agreed by phone from her sister's flat",
        "lock": f"{SECRET} saw a car outside her home",
        "task": f"Call {SECRET}'s lawyer in Almaty",
        "skip": f"{SECRET} is abroad until spring",
        "url": "https://classifieds.example/ads/aigerim-nurlanovna-phone",
        "view": f"checking the ad that names {SECRET}",
        "status": f"{SECRET} asked us to wait before acting",
    }
    pd.record_consent(lead, erased, Consent(Answer.NO, Answer.YES, ("ij",)), note=planted["note"])
    desk.change_status(lead, erased, Status.TRIAGED, planted["status"], None)
    pd.lock(lead, erased, planted["lock"])
    pd.unlock(admin, erased)
    rd = ResponseDesk(desk)
    custom = rd.add_task(responder, erased, planted["task"], None)
    rd.set_task(responder, erased, custom.id, TaskState.SKIPPED, planted["skip"], None)
    vd = VaultDesk(desk, blobs)
    item = vd.add_file(
        responder,
        b"<html>an ad</html>",
        filename="ad.html",
        media_type="text/html",
        case=erased,
        method="capture",
        source=planted["url"],
    ).items[0]
    vd.open_item(lead, item.id, planted["view"])

    def dump() -> str:
        case_id = row_id(store, erased)
        with store.read() as conn:
            rows: list[Any] = []
            for table, where in (
                ("consent_records", f"incident_id = {case_id}"),
                ("case_tasks", f"incident_id = {case_id}"),
                ("vault_custody", f"item_id = {item.id}"),
                ("audit_events", f"entity_id = '{erased}'"),
            ):
                rows += [
                    dict(r)
                    for r in conn.execute(
                        sa.text(f"SELECT * FROM {table} WHERE {where}")
                    ).mappings()
                ]
        return json.dumps(rows, default=str, ensure_ascii=False)

    before = dump()
    assert all(text in before for text in planted.values())  # each is really stored
    pd.erase(lead, erased, "asked by the person")
    after = dump()
    assert [key for key, text in planted.items() if text in after] == []
    assert SECRET not in after
    # The records stay: the consent's answers, the task (skipped), the custody steps.
    (consent,) = pd.consent_history(lead, erased)
    assert consent.consent.name_publicly == Answer.NO and consent.note is None
    (task,) = [t for t in rd.tasks(lead, erased) if t.id == custom.id]
    assert task.state == TaskState.SKIPPED and task.reason is None
    with store.read() as conn:
        steps = vault_repo.custody(conn, [item.id])[item.id]
    assert [s.action for s in steps] == ["collected", "viewed"]
    assert steps[1].reason == "[erased]"  # marked, not emptied: the view had a reason
    assert "asked by the person" in after  # the erasure's own reason is kept
