"""The evidence vault on SQLite and PostgreSQL: items logged and signed, every kind of
tampering named by verify, custody of views and exports, and an export package that verifies
with sha256sum, openssl and its own stdlib script on a machine without Qorgau."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from qorgau.desk import CaseDesk
from qorgau.domain.model import ReportFields
from qorgau.errors import ConfigurationError, InvalidInput
from qorgau.security.keys import load_keyring
from qorgau.store.blobs import BlobStore
from qorgau.store.store import Store
from qorgau.store.tables import vault_heads, vault_log
from qorgau.vault_desk import VaultDesk
from tests.conftest import Account

AD_PAGE = "<html><body>Продам оборудование. Звонить: +7 700 000 0101 (редактор)</body></html>"


@pytest.fixture
def vd(desk: CaseDesk, tmp_path: Path) -> VaultDesk:
    """A vault with its own blob folder (the database is emptied per test, files are not)."""
    ring = load_keyring(desk.store.settings.resolved_key_file)
    return VaultDesk(desk, BlobStore.from_ring(tmp_path / "blobs", ring))


def case(desk: CaseDesk) -> str:
    return desk.submit(
        desk.anonymous(), ReportFields(title="Fake ads", attack_types=("phone_flooding",))
    ).public_id


def filled(vd: VaultDesk, desk: CaseDesk, who: Account) -> tuple[str, list[int]]:
    pid = case(desk)
    ids = []
    for name, data, kind in (
        ("ad-1.html", AD_PAGE.encode(), "text/html"),
        ("calls.csv", b"time,number\n18:40,+77010000001\n", "text/csv"),
        ("screenshot.png", b"\x89PNG\r\n\x1a\n" + os.urandom(2048), "image/png"),
    ):
        added = vd.add_file(who.principal, data, filename=name, media_type=kind, case=pid)
        ids.append(added.items[0].id)
    return pid, ids


def kinds(vd: VaultDesk, who: Account) -> list[tuple[str, str]]:
    return [(p.kind, p.where) for p in vd.verify(who.principal).problems]


def test_items_are_logged_signed_and_a_clean_vault_verifies(
    store: Store, desk: CaseDesk, vd: VaultDesk, accounts: dict[str, Account]
) -> None:
    pid, _ = filled(vd, desk, accounts["responder"])
    report = vd.verify(accounts["coordinator"].principal)
    assert report.ok, report.problems
    assert (report.items_checked, report.entries_checked, report.heads_checked) == (3, 3, 3)
    listed = vd.items(accounts["legal"].principal, pid)
    assert [i.leaf_index for i, _ in listed] == [0, 1, 2]
    assert listed[0][0].original_name == "ad-1.html"
    assert listed[0][1][0].action == "collected"
    with store.read() as conn:
        entries = conn.execute(sa.select(vault_log.c.entry)).scalars().all()
    assert all("ad-1" not in e and "+7 700" not in e for e in entries)  # no personal data


def test_unrecognised_or_mislabelled_files_are_kept_with_a_warning(
    desk: CaseDesk, vd: VaultDesk, accounts: dict[str, Account]
) -> None:
    who = accounts["responder"].principal
    opaque = vd.add_file(who, os.urandom(300), filename="blob", media_type=None)
    assert opaque.items[0].media_type == "application/octet-stream"
    assert "opaque" in opaque.warnings[0]
    fake = vd.add_file(who, b"%PDF-1.7 not really", filename="x.png", media_type="image/png")
    assert "looks like application/pdf" in fake.warnings[0]
    assert vd.blobs.get(fake.items[0].sha256) == b"%PDF-1.7 not really"


def test_verify_names_an_altered_blob(
    store: Store, desk: CaseDesk, vd: VaultDesk, accounts: dict[str, Account]
) -> None:
    _, ids = filled(vd, desk, accounts["responder"])
    item, _ = vd.open_item(accounts["responder"].principal, ids[1], "check before editing")
    path = vd.blobs.path_for(item.sha256)
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0x01  # one byte
    path.write_bytes(bytes(raw))
    assert kinds(vd, accounts["coordinator"]) == [("blob_altered", f"blob {item.sha256}")]


def test_verify_names_a_deleted_log_entry(
    store: Store, desk: CaseDesk, vd: VaultDesk, accounts: dict[str, Account]
) -> None:
    filled(vd, desk, accounts["responder"])
    with store.write() as conn:
        conn.execute(vault_log.delete().where(vault_log.c.leaf_index == 1))
    found = kinds(vd, accounts["coordinator"])
    assert ("entry_missing", "log entry 1") in found
    assert any(k == "item_unlogged" for k, _ in found)
    # the heads that covered entry 1 no longer match; the one before it still does
    mismatched = {w for k, w in found if k == "head_mismatch"}
    assert mismatched == {"tree head 2 (size 2)", "tree head 3 (size 3)"}


def test_verify_names_a_swapped_tree_head(
    store: Store, desk: CaseDesk, vd: VaultDesk, accounts: dict[str, Account]
) -> None:
    filled(vd, desk, accounts["responder"])
    with store.write() as conn:
        first, second = conn.execute(
            sa.select(vault_heads.c.id, vault_heads.c.root_hash).order_by(vault_heads.c.id)
        ).all()[:2]
        # head 2 now claims head 1's root: a head swapped for another
        conn.execute(
            vault_heads.update()
            .where(vault_heads.c.id == second.id)
            .values(root_hash=first.root_hash)
        )
    assert kinds(vd, accounts["coordinator"]) == [
        ("head_signature", f"tree head {second.id} (size 2)")
    ]


def test_verify_names_an_altered_entry_and_an_unexpected_blob(
    store: Store, desk: CaseDesk, vd: VaultDesk, accounts: dict[str, Account]
) -> None:
    filled(vd, desk, accounts["responder"])
    with store.write() as conn:
        entry = conn.execute(
            sa.select(vault_log.c.entry).where(vault_log.c.leaf_index == 0)
        ).scalar_one()
        conn.execute(
            vault_log.update()
            .where(vault_log.c.leaf_index == 0)
            .values(entry=entry.replace('"text/html"', '"text/plain"'))
        )
    stray = vd.blobs.put(b"planted later")
    found = kinds(vd, accounts["coordinator"])
    assert ("entry_altered", "log entry 0") in found
    assert ("blob_unexpected", f"blob {stray}") in found


def test_redacted_copy_and_export_that_verifies_without_qorgau(
    store: Store, desk: CaseDesk, vd: VaultDesk, accounts: dict[str, Account], tmp_path: Path
) -> None:
    pid, ids = filled(vd, desk, accounts["responder"])
    legal = accounts["legal"].principal
    redacted = vd.redact(legal, ids[0], ["+7 700 000 0101"], "protect the editor's number").items[0]
    assert redacted.role == "redacted" and redacted.derived_from_id == ids[0]
    assert b"+7 700" not in vd.blobs.get(redacted.sha256)
    with pytest.raises(InvalidInput, match="only text items"):
        vd.redact(legal, ids[2], ["x"], "why")
    data = vd.export(legal, pid, language="kk", reason="for the lawyer of the editor")
    folder = tmp_path / "package"
    zipfile.ZipFile(io.BytesIO(data)).extractall(folder)
    names = sorted(p.name for p in folder.iterdir())
    for expected in (
        "README.txt",
        "SHA256SUMS",
        "manifest.json",
        "summary.pdf",
        "tree-head.json",
        "tree-head.sig",
        "verify_package.py",
        "vault-public.pem",
    ):
        assert expected in names
    assert (folder / "summary.pdf").read_bytes().startswith(b"%PDF")
    assert "Стандартты құралдармен" in (folder / "README.txt").read_text("utf-8")
    # the original of the redacted copy is proven, not disclosed
    assert not any(AD_PAGE.encode() == p.read_bytes() for p in (folder / "items").iterdir())
    clean_env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    r = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=folder, env=clean_env, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run(
        [
            "openssl",
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            "vault-public.pem",
            "-rawin",
            "-in",
            "tree-head.json",
            "-sigfile",
            "tree-head.sig",
        ],
        cwd=folder,
        env=clean_env,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    base = getattr(sys, "_base_executable", sys.executable)
    r = subprocess.run(
        [base, "-I", "verify_package.py"], cwd=folder, env=clean_env, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "all checks passed" in r.stdout
    # one changed byte in the package is caught by every tool
    target = next((folder / "items").iterdir())
    target.write_bytes(target.read_bytes() + b" ")
    r = subprocess.run(
        [base, "-I", "verify_package.py"], cwd=folder, env=clean_env, capture_output=True, text=True
    )
    assert r.returncode == 1 and "SHA-256 differs" in r.stdout
    # custody: the export is on every item's record
    listed = vd.items(legal, pid)
    assert all(any(c.action == "exported" for c in custody) for _, custody in listed)


def test_tree_heads_are_timestamped_and_the_tokens_verify_with_openssl(
    store: Store, desk: CaseDesk, accounts: dict[str, Account], tmp_path: Path
) -> None:
    from dataclasses import replace

    from tests.support.tsa import TsaServer

    with TsaServer() as tsa:
        settings = replace(store.settings, tsa_url=tsa.url, tsa_ca_file=tsa.ca_path)
        stamped_store = replace(store, settings=settings)
        ring = load_keyring(settings.resolved_key_file)
        vd = VaultDesk(CaseDesk(stamped_store), BlobStore.from_ring(tmp_path / "blobs", ring))
        pid, _ = filled(vd, desk, accounts["responder"])
        data = vd.export(
            accounts["legal"].principal, pid, language="ru", reason="for the prosecutor"
        )
        report = vd.verify(accounts["coordinator"].principal)
        assert report.ok and report.timestamps_checked == 3
        folder = tmp_path / "package"
        zipfile.ZipFile(io.BytesIO(data)).extractall(folder)
        clean_env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
        r = subprocess.run(
            [
                "openssl",
                "ts",
                "-verify",
                "-data",
                "tree-head.json",
                "-in",
                "tree-head.tst",
                "-token_in",
                "-CAfile",
                "tsa-ca.pem",
            ],
            cwd=folder,
            env=clean_env,
            capture_output=True,
            text=True,
        )
        assert r.returncode == 0 and "OK" in r.stdout, r.stdout + r.stderr
        base = getattr(sys, "_base_executable", sys.executable)
        r = subprocess.run(
            [base, "-I", "verify_package.py"],
            cwd=folder,
            env=clean_env,
            capture_output=True,
            text=True,
        )
        assert "RFC 3161 timestamp verifies" in r.stdout and r.returncode == 0, r.stdout
        # a token moved onto another head no longer holds
        with store.write() as conn:
            first = (
                conn.execute(sa.select(vault_heads.c.tsa_token).order_by(vault_heads.c.id))
                .scalars()
                .first()
            )
            conn.execute(
                vault_heads.update()
                .where(
                    vault_heads.c.id
                    == conn.execute(sa.select(sa.func.max(vault_heads.c.id))).scalar()
                )
                .values(tsa_token=first)
            )
        kinds_found = [p.kind for p in vd.verify(accounts["coordinator"].principal).problems]
        assert kinds_found == ["timestamp_invalid"]


def test_a_captured_page_becomes_linked_searchable_items(
    store: Store, desk: CaseDesk, vd: VaultDesk, accounts: dict[str, Account]
) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    page = (
        '<html><head><title>Продам коров</title><meta name="author" content="@orda_fake_seller">'
        "</head><body><h1 class='ad-title'>Продам коров</h1>"
        "<p>Звонить круглосуточно</p></body></html>"
    ).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    who = accounts["responder"]
    pid = case(desk)
    try:
        added = vd.capture(
            who.principal, f"http://127.0.0.1:{server.server_address[1]}/ad/1", case=pid
        )
    finally:
        server.shutdown()
        server.server_close()
    parts = {i.details["part"]: i for i in added.items}
    assert {"warc", "wacz", "text"} <= set(parts)
    assert len({i.capture_id for i in added.items}) == 1
    warc = parts["warc"]
    assert warc.role == "original" and warc.method == "capture"
    assert warc.details["resolved_ips"] == ["127.0.0.1"]
    assert page in __import__("gzip").decompress(vd.blobs.get(warc.sha256))
    if os.path.exists("/usr/bin/chromium"):
        assert vd.blobs.get(parts["screenshot"].sha256).startswith(b"\x89PNG")
    found = vd.search(who.principal, "orda_fake_seller")
    assert warc.id in [i.id for i in found]
    assert vd.verify(accounts["coordinator"].principal).ok
    failed = vd.capture(who.principal, "http://127.0.0.1:9/unreachable", case=pid)
    assert failed.warnings and "capture failed" in failed.warnings[0]
    assert failed.items[0].details["ok"] is False and failed.items[0].details["error"]


def test_proofs_served_verify_with_the_standalone_functions(
    store: Store, desk: CaseDesk, vd: VaultDesk, accounts: dict[str, Account]
) -> None:
    from qorgau.vault.merkle import leaf_hash, verify_consistency, verify_inclusion

    _, ids = filled(vd, desk, accounts["responder"])
    item, entry, head, proof = vd.inclusion(accounts["legal"].principal, ids[0])
    assert verify_inclusion(
        leaf_hash(entry.encode()), item.leaf_index, head.head.tree_size, proof, head.head.root_hash
    )
    old, new, cproof = vd.consistency(accounts["coordinator"].principal, 1, 3)
    assert verify_consistency(1, 3, old.head.root_hash, new.head.root_hash, cproof)
    assert not verify_consistency(1, 3, new.head.root_hash, new.head.root_hash, cproof)
    with pytest.raises(InvalidInput):
        vd.consistency(accounts["coordinator"].principal, 3, 1)


def test_a_selection_exports_only_what_was_chosen_and_downloads_are_custody(
    store: Store, desk: CaseDesk, vd: VaultDesk, accounts: dict[str, Account]
) -> None:
    import json

    pid, ids = filled(vd, desk, accounts["responder"])
    legal = accounts["legal"].principal
    data = vd.export(legal, pid, language="en", reason="for the platform", items=[ids[2]])
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("manifest.json"))
    assert [i["leaf_index"] for i in manifest["items"]] == [2]
    with pytest.raises(InvalidInput, match="not evidence of"):
        vd.export(legal, pid, language="en", reason="x", items=[999])
    listed = dict((i.id, c) for i, c in vd.items(legal, pid))
    assert [c.action for c in listed[ids[2]]] == ["collected", "exported"]
    assert [c.action for c in listed[ids[0]]] == ["collected"]


def test_a_missing_signing_key_stops_the_vault_instead_of_being_replaced(
    store: Store, desk: CaseDesk, vd: VaultDesk, accounts: dict[str, Account], tmp_path: Path
) -> None:
    """A key file gone missing once heads are signed (a volume not mounted) refuses, naming
    the file; a new key would sign the rest of the log while the earlier heads could no longer
    be checked. Nothing is half-stored, and the vault works again once the file is back."""
    who = accounts["responder"].principal
    pid = case(desk)
    vd.add_file(who, b"first piece", filename="a.txt", media_type="text/plain", case=pid)
    path = store.settings.resolved_vault_key_file
    aside = path.with_name(path.name + ".aside")
    path.rename(aside)
    store.caches.pop("vault_keys", None)

    def restarted() -> VaultDesk:  # a new process: nothing of the keys kept in memory
        ring = load_keyring(store.settings.resolved_key_file)
        return VaultDesk(desk, BlobStore.from_ring(tmp_path / "blobs", ring))

    try:
        with pytest.raises(ConfigurationError, match="is missing") as refused:
            restarted().add_file(
                who, b"second piece", filename="b.txt", media_type="text/plain", case=pid
            )
        assert str(path) in str(refused.value)
        assert not path.exists()  # no new key was made in its place
        with store.read() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(vault_log)).scalar() == 1
    finally:
        aside.replace(path)
        store.caches.pop("vault_keys", None)
    again = restarted()
    again.add_file(who, b"second piece", filename="b.txt", media_type="text/plain", case=pid)
    report = again.verify(accounts["coordinator"].principal)
    assert report.ok and report.heads_checked == 2, report.problems
