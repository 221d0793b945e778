"""Backup and restore as an operator runs them: the real CLI in a new process, real SQLite and
PostgreSQL, real files. A restore must reproduce every row, every blob and the vault's signed
tree head; a damaged, truncated or wrongly unlocked file and a non-empty target are refused."""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from qorgau.config import Settings
from qorgau.desk import CaseDesk
from qorgau.domain.model import ReporterContact, ReportFields, TargetInput
from qorgau.domain.queries import IncidentQuery
from qorgau.security.keys import load_keyring, new_keyring
from qorgau.store.blobs import BlobStore, LocalBackend, derive_blob_keys
from qorgau.store.engine import make_engine
from qorgau.store.store import Store, open_store
from qorgau.store.tables import (
    incident_targets,
    incidents,
    metadata,
    vault_heads,
    vault_items,
)
from qorgau.vault_desk import VaultDesk
from tests.conftest import BACKENDS, PG_ADMIN_URL, Account
from tests.integration.test_cli import no_traceback, qorgau
from tests.integration.test_s3_backend import ACCESS, SECRET

PASSPHRASE = "seven long words keep this backup"
PLANTED = {
    "person": "Zhanargul Testovna Plantedova",
    "phone": "+7 700 000 4242",
    "email": "planted.reporter@mail.example",
    "reporter_name": "Reporter Plantedname",
    "evidence": "Safe house at Plantedstreet 17",
}


@pytest.fixture(autouse=True)
def quick_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process runs derive keys with a cheaper scrypt (the header records the cost, so
    reading is unchanged); the round-trip test's real processes use the shipped cost."""
    monkeypatch.setattr("qorgau.backup.crypto.SCRYPT_N", 2**12)


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    """A real S3-compatible server (moto's standalone one) on loopback."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_url: str) -> str:
    import boto3

    name = f"evidence-{uuid.uuid4().hex[:12]}"
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=s3_url,
        region_name="us-east-1",
        aws_access_key_id=ACCESS,
        aws_secret_access_key=SECRET,
    )
    client.create_bucket(Bucket=name)
    client.close()
    return name


@contextlib.contextmanager
def fresh_pg() -> Iterator[str]:
    """A new, empty PostgreSQL database for one restore, dropped afterwards."""
    name = f"qorgau_restore_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@contextlib.contextmanager
def target(engine_name: str, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """An empty restore target: a new data folder and a database of the given engine."""
    data_dir = tmp_path / f"restored-{engine_name}-{uuid.uuid4().hex[:6]}"
    if engine_name == "sqlite":
        yield data_dir, f"sqlite:///{data_dir / 'qorgau.db'}"
    else:
        with fresh_pg() as url:
            yield data_dir, url


def source_env(store: Store) -> dict[str, str]:
    """The CLI pointed at the test's store (blobs: the data folder each test gives)."""
    return {
        "QORGAU_DATABASE_URL": store.engine.url.render_as_string(False),
        "QORGAU_KEY_FILE": str(store.settings.resolved_key_file),
        "QORGAU_VAULT_KEY_FILE": str(store.settings.resolved_vault_key_file),
        "QORGAU_BACKUP_PASSPHRASE": PASSPHRASE,
    }


def target_env(url: str) -> dict[str, str]:
    return {
        "QORGAU_DATABASE_URL": url,
        "QORGAU_KEY_FILE": "",
        "QORGAU_VAULT_KEY_FILE": "",
        "QORGAU_BACKUP_PASSPHRASE": PASSPHRASE,
    }


def vault(store: Store, src: Path) -> VaultDesk:
    ring = load_keyring(store.settings.resolved_key_file)
    return VaultDesk(CaseDesk(store), BlobStore.from_ring(src / "blobs", ring))


def fill(store: Store, src: Path, accounts: dict[str, Account]) -> None:
    """Cases with planted personal values, a merge (a row pointing at a later row), and
    vault items with their signed heads."""
    desk = CaseDesk(store)
    first = desk.submit(
        desk.anonymous(),
        ReportFields(
            title="Threats after an investigation",
            description="Calls and messages to the journalist",
            attack_types=("threats", "doxxing"),
            targets=(
                TargetInput(kind="person", name=PLANTED["person"]),
                TargetInput(kind="phone_number", name="mobile", identifier=PLANTED["phone"]),
                TargetInput(kind="email", name="mail", identifier=PLANTED["email"]),
            ),
            reporter=ReporterContact(name=PLANTED["reporter_name"], phone=PLANTED["phone"]),
        ),
    ).public_id
    second = desk.submit(
        desk.anonymous(), ReportFields(title="Same threats", attack_types=("threats",))
    ).public_id
    desk.merge(accounts["coordinator"].principal, first, second, None)
    vd = vault(store, src)
    who = accounts["responder"].principal
    for name, data in (
        ("statement.txt", PLANTED["evidence"].encode()),
        ("calls.csv", b"time,number\n18:40,+77010000001\n"),
        ("shot.png", b"\x89PNG\r\n\x1a\n" + os.urandom(4096)),
    ):
        vd.add_file(who, data, filename=name, media_type=None, case=second)


def all_rows(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows in key order; JSON columns also say whether they are SQL NULL."""
    rows: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            nulls = [c.is_(None) for c in table.columns if isinstance(c.type, sa.JSON)]
            query = sa.select(*table.columns, *nulls).order_by(*table.primary_key.columns)
            rows[table.name] = [tuple(r) for r in conn.execute(query)]
    return rows


def blob_files(root: Path) -> dict[str, bytes]:
    backend = LocalBackend(root)
    return {n: backend.read(n) for n in backend.names()}


def latest_head(engine: sa.Engine) -> tuple[Any, ...]:
    with engine.connect() as conn:
        return tuple(
            conn.execute(sa.select(vault_heads).order_by(vault_heads.c.id.desc()).limit(1)).one()
        )


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The ``qorgau`` command in this process (a new process per call costs seconds of
    imports; the round-trip test runs the real process)."""
    from qorgau.cli import app

    r = CliRunner().invoke(app, list(args), env={"QORGAU_LANG": "en", "COLUMNS": "200", **env})
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    done = subprocess.CompletedProcess(list(args), r.exit_code, r.stdout, r.stderr)
    no_traceback(done)
    return done


def backup(
    store: Store, src: Path, out: Path, *extra: str, process: bool = False
) -> subprocess.CompletedProcess[str]:
    args = ("backup", "--out", str(out), *extra)
    env = {"QORGAU_DATA_DIR": str(src), **source_env(store)}
    r = qorgau(*args, data_dir=src, env=env) if process else cli(*args, env=env)
    no_traceback(r)
    return r


def restore(
    file: Path, data_dir: Path, url: str, env: dict[str, str] | None = None, process: bool = False
) -> subprocess.CompletedProcess[str]:
    args = ("restore", str(file))
    full = {"QORGAU_DATA_DIR": str(data_dir), **target_env(url), **(env or {})}
    r = qorgau(*args, data_dir=data_dir, env=full) if process else cli(*args, env=full)
    no_traceback(r)
    return r


def check_reproduced(
    store: Store, src: Path, data_dir: Path, url: str, *, keys_restored: bool = True
) -> None:
    restored = make_engine(url)
    try:
        assert all_rows(restored) == all_rows(store.engine)
        assert latest_head(restored) == latest_head(store.engine)
    finally:
        restored.dispose()
    assert blob_files(data_dir / "blobs") == blob_files(src / "blobs")
    if not keys_restored:
        return
    for key in (data_dir / "keys" / "qorgau.key", data_dir / "keys" / "vault-signing.key"):
        assert key.stat().st_mode & 0o777 == 0o600


def test_round_trip_reproduces_rows_blobs_and_the_signed_tree_head(
    store: Store, accounts: dict[str, Account], tmp_path: Path
) -> None:
    src = tmp_path / "src"
    fill(store, src, accounts)
    out = tmp_path / "desk.qgb"
    # The real command in its own process once (with the shipped scrypt cost); in-process on
    # PostgreSQL, where the point is the engine.
    process = store.engine.dialect.name == "sqlite"
    r = backup(store, src, out, process=process)
    assert r.returncode == 0, r.stderr
    assert "verified" in r.stdout and "3 blobs" in r.stdout
    assert "signed tree head of 3 entries" in r.stdout
    raw = out.read_bytes()
    leaks = [k for k, v in PLANTED.items() if v.encode() in raw or v.encode("utf-16-le") in raw]
    assert not leaks, f"found in clear in the backup: {leaks}"
    assert b"Threats after an investigation" not in raw  # not even what the database holds plain

    engine_name = store.engine.dialect.name
    with target(engine_name, tmp_path) as (data_dir, url):
        r = restore(out, data_dir, url, process=process)
        assert r.returncode == 0, r.stderr
        assert "tree head reproduced: 3 entries" in r.stdout
        check_reproduced(store, src, data_dir, url)
        v = cli("vault", "verify", env={"QORGAU_DATA_DIR": str(data_dir), **target_env(url)})
        assert v.returncode == 0, v.stdout + v.stderr
        assert "3 blobs" in v.stdout and "0 problems" in v.stdout


@pytest.mark.skipif("postgresql" not in BACKENDS, reason="needs both engines")
def test_a_backup_restores_into_the_other_engine(
    store: Store, accounts: dict[str, Account], tmp_path: Path
) -> None:
    """SQLite to PostgreSQL (a desk that outgrew one machine) and PostgreSQL to SQLite."""
    src = tmp_path / "src"
    fill(store, src, accounts)
    out = tmp_path / "desk.qgb"
    assert backup(store, src, out).returncode == 0
    other = "postgresql" if store.engine.dialect.name == "sqlite" else "sqlite"
    with target(other, tmp_path) as (data_dir, url):
        r = restore(out, data_dir, url)
        assert r.returncode == 0, r.stderr
        check_reproduced(store, src, data_dir, url)
        # The restored desk works: its keys read and find the planted values, search finds a
        # restored case, and new reports get fresh ids (sequences moved past restored rows).
        restored = open_store(Settings(data_dir=data_dir, database_url=url))
        try:
            desk = CaseDesk(restored)
            who = accounts["responder"].principal
            by_phone = desk.search(who, IncidentQuery(target=PLANTED["phone"]))
            assert by_phone.total == 1
            assert {t.name for t in by_phone.items[0].targets} >= {PLANTED["person"]}
            assert (
                desk.search(who, IncidentQuery(text="investigation", include_merged=True)).total
                == 1
            )
            new = desk.submit(
                desk.anonymous(), ReportFields(title="After the move", attack_types=("threats",))
            )
            assert desk.get(who, new.public_id).title == "After the move"
        finally:
            restored.close()


def test_damaged_truncated_or_wrongly_unlocked_backups_are_refused(
    store: Store, accounts: dict[str, Account], tmp_path: Path
) -> None:
    if store.engine.dialect.name != "sqlite":
        pytest.skip("the file's checks do not depend on the database engine")
    src = tmp_path / "src"
    fill(store, src, accounts)
    out = tmp_path / "desk.qgb"
    assert backup(store, src, out).returncode == 0
    good = out.read_bytes()
    env = {"QORGAU_BACKUP_PASSPHRASE": PASSPHRASE}
    ok = cli("backup", "verify", str(out), env=env)
    assert ok.returncode == 0 and "intact" in ok.stdout, ok.stderr

    def refused(
        data: bytes, expect: str, passphrase: str = PASSPHRASE, try_restore: bool = False
    ) -> None:
        bad = tmp_path / f"bad-{uuid.uuid4().hex[:6]}.qgb"
        bad.write_bytes(data)
        e = {"QORGAU_BACKUP_PASSPHRASE": passphrase}
        r = cli("backup", "verify", str(bad), env=e)
        assert r.returncode == 2 and expect in r.stderr, r.stderr
        if not try_restore:
            return
        # restore checks before it writes: the target stays as it was (nothing created)
        dst = tmp_path / f"dst-{uuid.uuid4().hex[:6]}"
        rr = restore(bad, dst, f"sqlite:///{dst / 'qorgau.db'}", env=e)
        assert rr.returncode == 2 and expect in rr.stderr, rr.stderr
        assert not dst.exists()

    middle = len(good) // 2
    refused(
        good[:middle] + bytes([good[middle] ^ 1]) + good[middle + 1 :], "damaged", try_restore=True
    )
    refused(good[: len(good) - 100], "truncated", try_restore=True)
    refused(good[:-1], "truncated")
    refused(
        good, "passphrase does not open", passphrase="a different long passphrase", try_restore=True
    )
    refused(good + b"\x00", "bytes follow its last block")
    refused(b"PK\x03\x04 not a backup at all", "not a Qorgau backup")

    short = cli("backup", "verify", str(out), env={"QORGAU_BACKUP_PASSPHRASE": "short"})
    assert short.returncode == 2 and "too short" in short.stderr
    none = cli("backup", "verify", str(out), env={"QORGAU_BACKUP_PASSPHRASE": ""})
    assert none.returncode == 2 and "QORGAU_BACKUP_PASSPHRASE" in none.stderr
    file_pp = tmp_path / "pp.txt"
    file_pp.write_text(PASSPHRASE + "\n")
    via_file = cli(
        "backup",
        "verify",
        str(out),
        "--passphrase-file",
        str(file_pp),
        env={"QORGAU_BACKUP_PASSPHRASE": ""},
    )
    assert via_file.returncode == 0, via_file.stderr
    again = backup(store, src, out)
    assert again.returncode == 2 and "already exists" in again.stderr
    assert out.read_bytes() == good


def test_restore_into_a_non_empty_target_is_refused_and_changes_nothing(
    store: Store, accounts: dict[str, Account], tmp_path: Path
) -> None:
    src = tmp_path / "src"
    fill(store, src, accounts)
    out = tmp_path / "desk.qgb"
    assert backup(store, src, out).returncode == 0
    before = all_rows(store.engine)
    keys_before = store.settings.resolved_key_file.read_bytes()
    url = store.engine.url.render_as_string(False)

    # the live desk itself (its rows, blobs and key files)
    fresh = tmp_path / "fresh"
    r = restore(out, fresh, url)
    assert r.returncode == 2 and "not empty" in r.stderr, r.stderr
    assert all_rows(store.engine) == before
    # a data folder already in use
    used = tmp_path / "used"
    used.mkdir()
    (used / "notes.txt").write_text("someone's file")
    with target(store.engine.dialect.name, tmp_path) as (_, empty_url):
        r = restore(out, used, empty_url)
        assert r.returncode == 2 and "not empty" in r.stderr and "notes.txt" in r.stderr
        engine = make_engine(empty_url)
        try:
            assert sa.inspect(engine).get_table_names() == []
        finally:
            engine.dispose()
    assert (used / "notes.txt").read_text() == "someone's file"
    assert sorted(p.name for p in used.iterdir()) == ["notes.txt"]
    assert store.settings.resolved_key_file.read_bytes() == keys_before
    assert all_rows(store.engine) == before


def test_a_backup_without_keys_restores_only_with_the_right_key_files(
    store: Store, accounts: dict[str, Account], tmp_path: Path
) -> None:
    src = tmp_path / "src"
    fill(store, src, accounts)
    out = tmp_path / "desk.qgb"
    r = backup(store, src, out, "--without-keys")
    assert r.returncode == 0, r.stderr
    assert "NOT in this backup" in r.stdout
    assert store.settings.resolved_key_file.read_bytes() not in out.read_bytes()
    with target(store.engine.dialect.name, tmp_path) as (data_dir, url):
        r = restore(out, data_dir, url)
        assert r.returncode == 2 and "made without keys" in r.stderr
        keys = data_dir / "keys"
        keys.mkdir(parents=True)
        (keys / "qorgau.key").write_text(new_keyring().to_json())  # another desk's
        (keys / "vault-signing.key").write_bytes(
            store.settings.resolved_vault_key_file.read_bytes()
        )
        r = restore(out, data_dir, url)
        assert r.returncode == 2 and "lack keys this backup needs" in r.stderr
        (keys / "qorgau.key").write_bytes(store.settings.resolved_key_file.read_bytes())
        r = restore(out, data_dir, url)
        assert r.returncode == 0, r.stderr
        check_reproduced(store, src, data_dir, url, keys_restored=False)


def test_a_backup_taken_while_reports_arrive_is_one_consistent_instant(
    store: Store, accounts: dict[str, Account], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reports and evidence keep arriving from another thread during the backup, and — to be
    sure some land mid-dump — one report and one evidence file are committed right after the
    incidents and the vault heads tables have been read. The backup must hold none of those
    two and every report it holds must be whole."""
    from qorgau.backup import dump

    src = tmp_path / "src"
    fill(store, src, accounts)
    desk = CaseDesk(store)
    vd = vault(store, src)
    who = accounts["responder"].principal

    def report(title: str) -> str:
        return desk.submit(
            desk.anonymous(),
            ReportFields(
                title=title,
                attack_types=("threats", "doxxing"),
                targets=(
                    TargetInput(kind="person", name=f"Person {title}"),
                    TargetInput(kind="outlet", name=f"Outlet {title}"),
                ),
            ),
        ).public_id

    real_dump_table = dump._dump_table

    def dump_then_write(box: Any, conn: sa.Connection, table: sa.Table) -> dict[str, Any]:
        entry = real_dump_table(box, conn, table)
        if table.name == "incidents":
            report("Filed mid-dump")
        if table.name == "vault_heads":
            vd.add_file(who, b"mid-dump evidence", filename="late.txt", media_type="text/plain")
        return entry

    monkeypatch.setattr(dump, "_dump_table", dump_then_write)
    stop = threading.Event()
    filed: list[str] = []
    failures: list[BaseException] = []

    def keep_filing() -> None:
        try:
            n = 0
            while not stop.is_set():
                n += 1
                filed.append(report(f"Report {n}"))
                if n % 3 == 0:
                    vd.add_file(who, f"evidence {n}".encode(), filename=None, media_type=None)
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    writer = threading.Thread(target=keep_filing)
    writer.start()
    try:
        while len(filed) < 5 and writer.is_alive():
            stop.wait(0.05)
        out = tmp_path / "live.qgb"
        r = backup(store, src, out)
    finally:
        stop.set()
        writer.join()
    assert not failures, failures
    assert r.returncode == 0, r.stderr
    with store.read() as conn:
        assert conn.execute(
            sa.select(sa.func.count()).where(incidents.c.title == "Filed mid-dump")
        ).scalar_one()
    with target(store.engine.dialect.name, tmp_path) as (data_dir, url):
        rr = restore(out, data_dir, url)  # checks row counts and the signed head itself
        assert rr.returncode == 0, rr.stderr
        restored = make_engine(url)
        try:
            with restored.connect() as conn:
                per_case = dict(
                    conn.execute(
                        sa.select(incident_targets.c.incident_id, sa.func.count()).group_by(
                            incident_targets.c.incident_id
                        )
                    ).all()
                )
                titles = dict(conn.execute(sa.select(incidents.c.id, incidents.c.title)).all())
                items = set(conn.execute(sa.select(vault_items.c.sha256)).scalars())
        finally:
            restored.dispose()
        restored_blobs = set(blob_files(data_dir / "blobs"))
    assert "Filed mid-dump" not in titles.values()
    live = [i for i, title in titles.items() if title.startswith("Report ")]
    assert live, "the backup should hold the reports filed before it started"
    # every report in the backup is whole: both its targets, never half a transaction
    assert all(per_case.get(i) == 2 for i in live)
    # the evidence added mid-dump is not in the restored vault (nor its head and log entry:
    # the restore's tree-head check held), and every restored item has its blob
    late = hashlib.sha256(b"mid-dump evidence").hexdigest()
    assert late not in items and late not in restored_blobs
    assert items and items <= restored_blobs


def test_the_file_format_detects_dropped_reordered_and_relabelled_blocks(tmp_path: Path) -> None:
    """A member larger than a block spans several sealed blocks: each one is bound to its
    position and to whether it is the last, so cutting at a block boundary, swapping blocks or
    relabelling one as the last all fail, while the intact file reads back byte for byte."""
    import struct

    from qorgau.backup.container import ContainerWriter, open_and_verify, read_events
    from qorgau.backup.crypto import CHUNK, BackupError, SealedKey, read_header

    payload = os.urandom(CHUNK * 2 + 12345)
    path = tmp_path / "big.qgb"
    with path.open("wb") as fh:
        box = ContainerWriter(fh, SealedKey.new(PASSPHRASE))
        box.add("blobs/" + "ab" * 32, lambda sink: sink.write(payload))
        box.finish({"format": "qorgau-backup", "tables": []})
    _, manifest = open_and_verify(path, PASSPHRASE)
    assert (
        manifest["members"]["blobs/" + "ab" * 32]["sha256"] == hashlib.sha256(payload).hexdigest()
    )
    with path.open("rb") as fh:
        key = read_header(fh, PASSPHRASE, "big")
        got = b"".join(e.data for e in read_events(fh, key, "big", {}) if e.kind == "data")
    assert got == payload

    raw = path.read_bytes()
    frames: list[tuple[int, int]] = []  # (start, end) of each sealed block
    at = len(key.header)
    while at < len(raw):
        (word,) = struct.unpack(">I", raw[at : at + 4])
        end = at + 4 + (word & 0x7FFF_FFFF)
        frames.append((at, end))
        at = end
    assert len(frames) >= 3
    head = raw[: frames[0][0]]
    blocks = [raw[a:b] for a, b in frames]

    def refused(data: bytes, expect: str) -> None:
        bad = tmp_path / "bad.qgb"
        bad.write_bytes(data)
        with pytest.raises(BackupError, match=expect):
            open_and_verify(bad, PASSPHRASE)

    refused(head + b"".join(blocks[:-1]), "truncated")
    refused(head + blocks[1] + blocks[0] + b"".join(blocks[2:]), "damaged")
    flagged = bytearray(blocks[0])
    flagged[0] |= 0x80  # claim the first block is the last
    refused(head + bytes(flagged) + b"".join(blocks[1:]), "damaged")
    refused(head + b"".join(blocks) + blocks[-1], "bytes follow")


def test_blobs_in_object_storage_are_backed_up_and_restored_through_it(
    store: Store, accounts: dict[str, Account], tmp_path: Path, s3_url: str, bucket: str
) -> None:
    """With QORGAU_S3_* set, backup reads the objects through the blob interface (and says
    so) and restore writes them back through it, here under another prefix of the bucket."""
    if store.engine.dialect.name != "sqlite":
        pytest.skip("object storage does not depend on the database engine")
    from qorgau.store.s3_backend import S3Backend

    def s3_env(prefix: str) -> dict[str, str]:
        return {
            "QORGAU_S3_BUCKET": bucket,
            "QORGAU_S3_ENDPOINT": s3_url,
            "QORGAU_S3_ACCESS_KEY": ACCESS,
            "QORGAU_S3_SECRET_KEY": SECRET,
            "QORGAU_S3_PREFIX": prefix,
        }

    def objects(prefix: str) -> dict[str, bytes]:
        b = S3Backend(
            bucket, prefix=prefix, endpoint_url=s3_url, access_key=ACCESS, secret_key=SECRET
        )
        return {n: b.read(n) for n in b.names()}

    src = tmp_path / "src"
    ring = load_keyring(store.settings.resolved_key_file)
    source = S3Backend(
        bucket, prefix="desk/", endpoint_url=s3_url, access_key=ACCESS, secret_key=SECRET
    )
    blobs = BlobStore(src / "blobs", derive_blob_keys(ring), ring.active, backend=source)
    vd = VaultDesk(CaseDesk(store), blobs)
    for n in range(3):
        vd.add_file(
            accounts["responder"].principal,
            f"evidence {n}".encode(),
            filename=None,
            media_type=None,
        )
    out = tmp_path / "s3.qgb"
    env = {"QORGAU_DATA_DIR": str(src), **source_env(store), **s3_env("desk/")}
    r = cli("backup", "--out", str(out), env=env)
    assert r.returncode == 0, r.stderr
    assert f"S3 bucket {bucket}" in r.stdout and "3 blobs" in r.stdout
    assert not (src / "blobs").exists()  # nothing was read from (or written to) a local folder
    with target("sqlite", tmp_path) as (data_dir, url):
        renv = {"QORGAU_DATA_DIR": str(data_dir), **target_env(url), **s3_env("restored/")}
        rr = cli("restore", str(out), env=renv)
        assert rr.returncode == 0, rr.stderr
        assert objects("restored/") == objects("desk/") and len(objects("desk/")) == 3
        again = cli("restore", str(out), env={**renv, "QORGAU_DATA_DIR": str(tmp_path / "x")})
        assert again.returncode == 2 and "already holds evidence files" in again.stderr


def test_a_blob_missing_from_storage_is_named_not_skipped_in_silence(
    store: Store, accounts: dict[str, Account], tmp_path: Path
) -> None:
    if store.engine.dialect.name != "sqlite":
        pytest.skip("blob storage does not depend on the database engine")
    src = tmp_path / "src"
    fill(store, src, accounts)
    backend = LocalBackend(src / "blobs")
    lost = next(iter(backend.names()))
    backend.path_for(lost).unlink()
    out = tmp_path / "desk.qgb"
    r = backup(store, src, out)
    assert r.returncode == 1, r.stdout + r.stderr
    assert lost in r.stderr and "missing from storage" in r.stderr
    assert "2 blobs" in r.stdout
    with target("sqlite", tmp_path) as (data_dir, url):
        rr = restore(out, data_dir, url)
        assert rr.returncode == 0, rr.stderr
        assert "1 evidence files named in the database are missing" in rr.stderr
        assert set(blob_files(data_dir / "blobs")) == set(backend.names())


def test_a_backup_after_an_erasure_holds_the_erased_hashes_but_needs_no_bytes(
    store: Store, accounts: dict[str, Account], tmp_path: Path
) -> None:
    if store.engine.dialect.name != "sqlite":
        pytest.skip("which blobs a backup needs does not depend on the database engine")
    from qorgau.privacy_desk import PrivacyDesk

    src = tmp_path / "src"
    fill(store, src, accounts)
    desk = CaseDesk(store)
    ring = load_keyring(store.settings.resolved_key_file)
    lead = accounts["coordinator"].principal
    (case,) = [i.public_id for i in desk.search(lead, IncidentQuery()).items]
    PrivacyDesk(desk, BlobStore.from_ring(src / "blobs", ring)).erase(lead, case, "asked")
    out = tmp_path / "desk.qgb"
    r = backup(store, src, out)
    # The erased evidence's bytes are gone on purpose: not "missing from storage".
    assert r.returncode == 0, r.stdout + r.stderr
    assert "missing" not in r.stderr and "0 blobs" in r.stdout
