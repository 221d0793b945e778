"""Rotating the data key while the desk runs, on SQLite and PostgreSQL: running processes follow
the key file, the re-encryption job is batched, resumable, idempotent and never overwrites a
row the desk changed meanwhile, blob files move too, and a key is retired only when unused.
The vault signing key: heads signed before a rotation still verify, new ones use the new key."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from qorgau.config import Settings
from qorgau.desk import CaseDesk
from qorgau.domain.model import ReportFields
from qorgau.errors import ConfigurationError
from qorgau.security import rotation
from qorgau.security.fields import FieldCipher
from qorgau.security.keys import load_keyring
from qorgau.store import reencrypt, users
from qorgau.store.attachments import IncomingFile, add_attachments, store_blobs
from qorgau.store.blobs import BlobStore
from qorgau.store.store import Store, open_store
from qorgau.store.tables import incident_targets, incidents, vault_heads
from qorgau.web.app import create_app
from tests.conftest import Account

SRC = Path(__file__).resolve().parents[2] / "src" / "qorgau"


@pytest.fixture
def cfg(store: Store, tmp_path: Path) -> Settings:
    """The test database with a key file, vault key and blob folder of its own (the session's
    store keeps its keys untouched)."""
    return replace(
        store.settings,
        data_dir=tmp_path / "data",
        key_file=tmp_path / "keys" / "data.key",
        vault_key_file=tmp_path / "keys" / "vault.key",
    )


@pytest.fixture
def procs(cfg: Settings) -> Iterator[tuple[Store, Store]]:
    """Two 'processes' (a server and a worker) on the same database and key file."""
    first = open_store(cfg, create_keys=True)
    second = open_store(cfg)
    yield first, second
    first.close()
    second.close()


def seed(st: Store, accounts: dict[str, Account]) -> str:
    """A case touching several encrypted columns and one attachment file."""
    with TestClient(create_app(st.settings, st)) as client:
        ack = client.post(
            "/api/v1/reports",
            json={
                "title": "Threats",
                "attack_types": ["threats"],
                "targets": [
                    {"kind": "person", "name": "Aigerim Rotated"},
                    {"kind": "phone_number", "name": "mobile", "identifier": "+7 700 111 2233"},
                ],
                "reporter": {"name": "Reporter Rotated", "phone": "+7 700 444 5566"},
            },
        ).json()
        pid = str(ack["public_id"])
        h = accounts["responder"].headers
        r = client.post(
            f"/api/v1/incidents/{pid}/notes",
            json={"body": "safe house", "sensitive": True},
            headers=h,
        )
        assert r.status_code == 201, r.text
        r = client.post(
            "/api/v1/hygiene", json={"kind": "person", "label": "Editor Rotated"}, headers=h
        )
        assert r.status_code in (200, 201), r.text
    refs = store_blobs(
        BlobStore.for_settings(st.settings),
        [IncomingFile("passport_rotated.txt", "text/plain", b"passport of Aigerim Rotated")],
    )
    with st.write() as conn:
        case_id = conn.execute(
            sa.select(incidents.c.id).where(incidents.c.public_id == pid)
        ).scalar_one()
        add_attachments(conn, st.cipher, case_id, refs, "email", st.now())
        users.set_totp_pending(conn, st.cipher, accounts["admin"].principal.user_id, "t:SECRET")
    return pid


def by_key(st: Store) -> dict[str, int]:
    totals: dict[str, int] = {}
    for counts in reencrypt.count_by_key(st, ["k1", "k2", "k3"]).values():
        for k, n in counts.items():
            totals[k] = totals.get(k, 0) + n
    return totals


def reveal(st: Store, pid: str) -> Any:
    desk = CaseDesk(st)
    return desk.get(desk.system("test"), pid)


def test_a_running_process_follows_a_rotation_without_restart(
    procs: tuple[Store, Store], cfg: Settings, accounts: dict[str, Account]
) -> None:
    server, worker = procs
    assert rotation.rotate(cfg.resolved_key_file) == ("k1", "k2")
    server.cipher.refresh()  # the process that rotated (or one past its recheck interval)
    pid = seed(server, accounts)
    with server.read() as conn:
        token = conn.execute(sa.select(incidents.c.reporter_enc)).scalar_one()
    assert token.startswith("enc1:k2:")
    # the worker loaded the file before the rotation: it meets k2, re-reads once, goes on
    assert worker.cipher.known_key_ids() == ["k1"]
    got = reveal(worker, pid)
    assert got.reporter.phone == "+7 700 444 5566"
    assert worker.cipher.active_key_id == "k2"
    # a blob written under k2 reads in a blob store loaded before the rotation
    stale = BlobStore.from_ring(cfg.data_dir / "blobs", load_keyring(cfg.resolved_key_file))
    fresh_name = BlobStore.for_settings(cfg).put(b"written after the rotation")
    rotation.rotate(cfg.resolved_key_file)
    newest = BlobStore.for_settings(cfg)
    name = newest.put(b"written under k3")
    assert newest.key_id(name) == "k3"
    assert stale.get(name) == b"written under k3" and stale.get(fresh_name)


def test_encrypting_processes_notice_a_new_active_key(cfg: Settings, procs: Any) -> None:
    watching = FieldCipher(load_keyring(cfg.resolved_key_file), recheck_seconds=0)
    assert watching.encrypt("x", "c").startswith("enc1:k1:")  # type: ignore[union-attr]
    rotation.rotate(cfg.resolved_key_file)
    assert watching.encrypt("x", "c").startswith("enc1:k2:")  # type: ignore[union-attr]


def test_reencrypt_is_batched_resumable_idempotent_and_moves_blobs(
    procs: tuple[Store, Store], cfg: Settings, accounts: dict[str, Account]
) -> None:
    server, _ = procs
    pid = seed(server, accounts)
    before = by_key(server)
    assert before.get("k1", 0) >= 8 and "k2" not in before
    rotation.rotate(cfg.resolved_key_file)
    server.cipher.refresh()

    class Stop(Exception):
        pass

    def stop_after_first(p: reencrypt.Progress) -> None:
        if p.rewritten:
            raise Stop

    targets = next(s for s in reencrypt.ENCRYPTED if s.name == "incident_targets.name_enc")
    ident = next(s for s in reencrypt.ENCRYPTED if s.name == "incident_targets.identifier_enc")
    with pytest.raises(Stop):  # killed after its first batch of one row
        reencrypt.reencrypt_column(server, ident, batch=1, on_batch=stop_after_first)
    partial = by_key(server)
    assert partial["k2"] == 1 and partial["k1"] == before["k1"] - 1
    done = list(reencrypt.reencrypt_all(server, batch=2))
    assert sum(p.rewritten for p in done) == before["k1"] - 1
    assert not any(p.failed or p.changed_meanwhile for p in done)
    assert by_key(server) == {"k2": before["k1"]}
    assert next(p for p in done if p.column == targets.name).rewritten >= 1
    again = list(reencrypt.reencrypt_all(server, batch=2))  # nothing left: a no-op
    assert sum(p.rewritten + p.total for p in again) == 0
    # still readable, and findable through the (unchanged) blind index
    got = reveal(server, pid)
    assert {t.name for t in got.targets} >= {"Aigerim Rotated"}
    assert got.reporter.name == "Reporter Rotated"
    # blob files: resealed under k2, same bytes, same name
    blobs = BlobStore.for_settings(cfg)
    names = list(blobs.names())
    assert names and {blobs.key_id(n) for n in names} == {"k1"}
    assert sum(blobs.reseal(n) for n in names) == len(names)
    assert {blobs.key_id(n) for n in names} == {"k2"}
    assert blobs.get(names[0]) == b"passport of Aigerim Rotated"
    assert sum(blobs.reseal(n) for n in names) == 0


def test_reencrypt_never_overwrites_a_row_the_desk_changed_meanwhile(
    procs: tuple[Store, Store], cfg: Settings, accounts: dict[str, Account], monkeypatch: Any
) -> None:
    server, worker = procs
    seed(server, accounts)
    rotation.rotate(cfg.resolved_key_file)
    server.cipher.refresh()
    spec = next(s for s in reencrypt.ENCRYPTED if s.name == "incident_targets.name_enc")
    real = reencrypt._rewrite
    edited: list[str] = []

    def desk_edits_first(st: Store, sp: reencrypt.Encrypted, raw: str) -> Any:
        # between the job's read and its write, a (stale) worker rewrites the name
        if not edited:
            edited.append(worker.cipher.encrypt("Renamed By Desk", spec.context) or "")
            with worker.write() as conn:
                conn.execute(
                    incident_targets.update()
                    .where(incident_targets.c.name_enc == raw)
                    .values(name_enc=edited[0])
                )
        return real(st, sp, raw)

    monkeypatch.setattr(reencrypt, "_rewrite", desk_edits_first)
    done = reencrypt.reencrypt_column(server, spec)
    assert done.changed_meanwhile == 1 and done.rewritten == done.total - 1
    with server.read() as conn:
        names = conn.execute(sa.select(incident_targets.c.name_enc)).scalars().all()
    assert edited[0] in names  # the desk's write stands
    assert server.cipher.decrypt(edited[0], spec.context) == "Renamed By Desk"
    monkeypatch.setattr(reencrypt, "_rewrite", real)
    assert edited[0].startswith("enc1:k1:")  # the worker had not re-read the key file yet
    again = reencrypt.reencrypt_column(server, spec)  # a second run picks that row up
    assert (again.rewritten, reencrypt.pending_total(server, spec)) == (1, 0)
    with server.read() as conn:
        tokens = conn.execute(sa.select(incident_targets.c.name_enc)).scalars().all()
    plain = {server.cipher.decrypt(tok, spec.context) for tok in tokens if tok}
    assert "Renamed By Desk" in plain


def test_a_key_is_retired_only_when_nothing_uses_it(
    procs: tuple[Store, Store], cfg: Settings, accounts: dict[str, Account]
) -> None:
    server, _ = procs
    seed(server, accounts)
    path = cfg.resolved_key_file
    rotation.rotate(path)
    server.cipher.refresh()

    def used() -> int:
        return sum(reencrypt.deep_count(server, "k1").values()) + sum(
            BlobStore.for_settings(cfg).key_id(n) == "k1"
            for n in BlobStore.for_settings(cfg).names()
        )

    with pytest.raises(ConfigurationError, match="still protects"):
        rotation.retire(path, "k1", used, settle_seconds=0)
    with pytest.raises(ConfigurationError, match="active key"):
        rotation.retire(path, "k2", used, settle_seconds=0)
    with pytest.raises(ConfigurationError, match="changed"):
        rotation.retire(path, "k1", used)  # the file changed a moment ago
    list(reencrypt.reencrypt_all(server))
    blobs = BlobStore.for_settings(cfg)
    for n in blobs.names():
        blobs.reseal(n)
    assert reencrypt.deep_count(server, "k1") == {}
    ring = rotation.retire(path, "k1", used, settle_seconds=0)
    assert list(ring.data_keys) == ["k2"] and ring.retired == ("k1",)
    # the retired id is never handed out again
    assert rotation.rotate(path) == ("k2", "k3")


def test_the_registry_names_every_encrypted_context_in_the_code() -> None:
    """A column encrypted somewhere but missing from ENCRYPTED would never be re-encrypted:
    every context string that reaches ``cipher.encrypt`` must be listed (or be known not to
    be stored in the database)."""
    # Contexts of values that never reach the database would be listed here. (Contexts built at
    # run time, like the one-time admin cookie's in web/ui/admin_common.py, are not seen.)
    not_stored: set[str] = set()
    found: set[str] = set()
    for path in SRC.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        constants = dict(re.findall(r"^([A-Z_]+)\s*=\s*\"([a-z_]+\.[a-z_.]+)\"", text, re.M))
        for m in re.finditer(r"\.encrypt\(", text):
            depth, i = 1, m.end()
            while depth and i < len(text):
                depth += {"(": 1, ")": -1}.get(text[i], 0)
                i += 1
            call = text[m.end() : i]
            found.update(re.findall(r"\"([a-z_]+\.[a-z_]+)\"", call))
            found.update(
                constants[n] for n in re.findall(r"\b([A-Z_]{3,})\b", call) if n in constants
            )
    listed = {s.context for s in reencrypt.ENCRYPTED}
    assert found - listed - not_stored == set()
    assert len(found) >= 15  # the scan really saw the code


def test_keys_commands_rotate_reencrypt_status_retire(
    store: Store, tmp_path: Path, accounts: dict[str, Account], monkeypatch: Any
) -> None:
    from qorgau.cli import app

    monkeypatch.delenv("QORGAU_KEY_FILE", raising=False)
    monkeypatch.setenv("QORGAU_LANG", "en")
    data = tmp_path / "cli-data"
    s = replace(store.settings, data_dir=data, key_file=None, vault_key_file=None)
    opened = open_store(s, create_keys=True)
    try:
        seed(opened, accounts)
    finally:
        opened.close()
    common = ["--data-dir", str(data), "--database-url", str(store.settings.database_url)]
    run = CliRunner().invoke
    r = run(app, ["keys", "rotate", *common])
    assert r.exit_code == 0 and "k1" in r.output and "k2" in r.output, r.output
    r = run(app, ["keys", "status", *common])
    assert r.exit_code == 0, r.output
    assert re.search(r"k1\s*│\s*│\s*([1-9]\d*)\s*│\s*1\s", r.output), r.output
    r = run(app, ["keys", "retire", "k1", *common])
    assert r.exit_code == 2 and "changed" in r.output, r.output
    key_file = data / "keys" / "qorgau.key"
    old = time.time() - 3600
    os.utime(key_file, (old, old))
    r = run(app, ["keys", "retire", "k1", *common])
    assert r.exit_code == 2 and "still protects" in r.output, r.output
    r = run(app, ["keys", "reencrypt", "--batch", "3", *common])
    assert r.exit_code == 0 and "Attachment files: 1 of 1" in r.output, r.output
    r = run(app, ["keys", "status", *common])
    assert "protects nothing" in r.output, r.output
    os.utime(key_file, (old, old))
    r = run(app, ["keys", "retire", "k1", *common])
    assert r.exit_code == 0, r.output
    assert list(load_keyring(key_file).data_keys) == ["k2"]


def test_vault_heads_signed_before_a_signing_key_rotation_still_verify(
    cfg: Settings, procs: tuple[Store, Store], accounts: dict[str, Account]
) -> None:
    from qorgau.vault.signing import SigningKeys
    from qorgau.vault_desk import VaultDesk

    server, _ = procs
    vd = VaultDesk(CaseDesk(server), BlobStore.for_settings(cfg))
    who = accounts["responder"].principal
    desk = CaseDesk(server)
    fields = ReportFields(title="Fake ads", attack_types=("phone_flooding",))
    pid = desk.submit(desk.anonymous(), fields).public_id
    vd.add_file(who, b"first item", filename="a.txt", media_type="text/plain", case=pid)
    old = SigningKeys.load(cfg.resolved_vault_key_file).active_key_id
    # rotated by another process (``qorgau vault rotate-key``) while the server runs
    new = SigningKeys.load(cfg.resolved_vault_key_file).rotate()
    assert new != old
    vd.add_file(who, b"second item", filename="b.txt", media_type="text/plain", case=pid)
    with server.read() as conn:
        used = conn.execute(sa.select(vault_heads.c.key_id).order_by(vault_heads.c.id)).scalars()
        key_ids = list(used)
    assert key_ids[0] == old and key_ids[-1] == new  # the server switched without restart
    report = vd.verify(accounts["coordinator"].principal)
    assert report.ok, report.problems
    assert report.heads_checked == len(key_ids) >= 2
    # and a fresh process (say the verifier on another machine with the key file) agrees
    fresh = VaultDesk(CaseDesk(server), BlobStore.for_settings(cfg))
    server.caches.pop("vault_keys", None)
    assert fresh.verify(accounts["coordinator"].principal).ok
