"""Write a backup of a running desk: one read snapshot for the rows, then the blobs they need.

Consistency: every table is read inside one read transaction (``REPEATABLE READ`` on
PostgreSQL, one WAL snapshot on SQLite), so the rows, the vault log and its latest signed head
are the database of one instant even while reports keep arriving. Blobs are append-only and
named by content, so the blob set is taken as "every blob stored before the snapshot, plus
every blob a row of the snapshot names" — which is exactly what the desk held at that instant.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext

from qorgau.backup.container import MANIFEST_FORMAT, ContainerWriter, MemberSink, verify_file
from qorgau.backup.crypto import BackupError, SealedKey
from qorgau.backup.rows import select_rows
from qorgau.config import Settings
from qorgau.store import migrate
from qorgau.store.blobs import LocalBackend, RawBackend
from qorgau.store.tables import metadata
from qorgau.store.vault import latest_head, log_size

READ = 1024 * 1024
DATA_KEYS = "keys/data-keys"
VAULT_KEYS = "keys/vault-signing"
# Tables the database holds besides the schema's own: the migration record and SQLite's
# full-text index (rebuilt on restore from the rows it indexes).
_NOT_DATA = ("alembic_version", "incident_fts")


@dataclass(frozen=True)
class Written:
    path: Path
    size: int
    manifest: dict[str, Any]


def blob_backend(settings: Settings) -> RawBackend:
    """The raw (sealed-bytes) blob backend: S3 when configured, else the data folder."""
    from qorgau.store.s3_backend import from_env

    return from_env(dict(settings.s3)) or LocalBackend(settings.data_dir / "blobs")


def _version() -> str:
    try:
        return package_metadata.version("qorgau")
    except package_metadata.PackageNotFoundError:
        return "unknown"


@contextlib.contextmanager
def snapshot(engine: sa.Engine) -> Iterator[sa.Connection]:
    """One read-only transaction that sees a single instant of the database."""
    conn = engine.connect()
    try:
        if engine.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                yield conn
        else:
            with conn.begin():
                yield conn
    finally:
        conn.close()


def _check_tables(conn: sa.Connection) -> None:
    present = set(sa.inspect(conn).get_table_names())
    known = {t.name for t in metadata.sorted_tables}
    extra = sorted(n for n in present - known if not n.startswith(_NOT_DATA))
    if extra:
        raise BackupError(
            f"the database has tables this Qorgau does not know ({', '.join(extra)}); a backup"
            " would leave them out. Back up with the Qorgau version that created them"
        )
    revision = MigrationContext.configure(conn).get_current_revision()
    head = migrate.head_revision()
    if revision != head:
        raise BackupError(
            f"the database schema is at {revision or 'nothing'}, this Qorgau expects {head};"
            " run 'qorgau migrate' first (or use the Qorgau version that matches the database)"
        )


def key_fingerprints(path: Path) -> dict[str, str]:
    """A one-way fingerprint of each data key (HMAC of a fixed label under the key: it
    identifies the key without revealing anything usable about it). Key ids alone ("k1") are
    the same in every installation, so they cannot tell the right key file from another."""
    from qorgau.security.keys import load_keyring

    return {
        kid: hmac.new(key, b"qorgau-backup/key-fingerprint", hashlib.sha256).hexdigest()[:32]
        for kid, key in load_keyring(path).data_keys.items()
    }


def _key_ids(settings: Settings) -> tuple[dict[str, str], list[str]]:
    """Fingerprints of the data keys and ids of the vault signing keys (hashes of their
    public keys), so a restore with keys kept elsewhere can check it was given the right ones."""
    from qorgau.vault.signing import SigningKeys

    data = key_fingerprints(settings.resolved_key_file)
    vault_file = settings.resolved_vault_key_file
    vault = sorted(SigningKeys.load(vault_file).public_keys()) if vault_file.exists() else []
    return data, vault


def _copy_file(path: Path) -> Any:
    def produce(sink: MemberSink) -> None:
        with path.open("rb") as fh:
            while piece := fh.read(READ):
                sink.write(piece)

    return produce


def _copy_bytes(payload: bytes) -> Any:
    def produce(sink: MemberSink) -> None:
        sink.write(payload)

    return produce


def write_backup(
    settings: Settings,
    engine: sa.Engine,
    out: Path,
    key: SealedKey,
    *,
    include_keys: bool,
) -> Written:
    """Write the backup to ``out`` (via a temporary name, so a failed run leaves no file
    that looks complete), then read it back whole before calling it done."""
    backend = blob_backend(settings)
    data_key_ids, vault_key_ids = _key_ids(settings)
    before = set(backend.names())
    tmp = out.with_name(f".{out.name}.partial")
    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "version": 1,
        "qorgau_version": _version(),
        "created_at": datetime.now(UTC).isoformat(),
        "source_engine": engine.dialect.name,
        "keys_included": include_keys,
        "data_keys": data_key_ids,
        "vault_key_ids": vault_key_ids,
    }
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            box = ContainerWriter(fh, key)
            named: set[str] = set()
            tables: list[dict[str, Any]] = []
            with snapshot(engine) as conn:
                _check_tables(conn)
                manifest["schema_revision"] = migrate.head_revision()
                head = latest_head(conn)
                manifest["vault_log_size"] = log_size(conn)
                manifest["tree_head"] = (
                    None
                    if head is None
                    else {
                        "id": head.id,
                        "tree_size": head.head.tree_size,
                        "root_hash": head.head.root_hash.hex(),
                        "timestamp_ms": head.head.timestamp_ms,
                        "key_id": head.head.key_id,
                        "signature": base64.b64encode(head.signature).decode("ascii"),
                    }
                )
                for table in metadata.sorted_tables:
                    tables.append(_dump_table(box, conn, table))
                    for column in table.columns:
                        if column.name == "sha256":
                            query = sa.select(column).distinct()
                            if "erased_at" in table.c:
                                # Erased evidence keeps its row and hash, not its bytes.
                                query = query.where(table.c.erased_at.is_(None))
                            named.update(v for (v,) in conn.execute(query) if v is not None)
            manifest["tables"] = tables
            blobs, blob_bytes, missing = _dump_blobs(box, backend, before, named)
            manifest.update(blobs=blobs, blob_bytes=blob_bytes, missing_blobs=missing)
            if include_keys:
                box.add(DATA_KEYS, _copy_file(settings.resolved_key_file))
                if settings.resolved_vault_key_file.exists():
                    box.add(VAULT_KEYS, _copy_file(settings.resolved_vault_key_file))
            size = box.finish(manifest)
            fh.flush()
            os.fsync(fh.fileno())
        checked = verify_file(tmp, key)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return Written(out, size, checked)


def _dump_table(box: ContainerWriter, conn: sa.Connection, table: sa.Table) -> dict[str, Any]:
    query, line = select_rows(table)
    count = 0

    def produce(sink: MemberSink) -> None:
        nonlocal count
        result = conn.execution_options(stream_results=True, yield_per=1000).execute(query)
        batch: list[bytes] = []
        for row in result:
            batch.append(line(row))
            count += 1
            if len(batch) >= 1000:
                sink.write(b"".join(batch))
                batch.clear()
        if batch:
            sink.write(b"".join(batch))

    box.add(f"tables/{table.name}.jsonl", produce)
    return {"name": table.name, "rows": count, "columns": [c.name for c in table.columns]}


def _dump_blobs(
    box: ContainerWriter, backend: RawBackend, stored: set[str], named: set[str]
) -> tuple[int, int, list[str]]:
    """Copy each sealed blob as it is stored (it stays encrypted with the data key inside the
    backup's own encryption). A blob the snapshot names but storage lacks is listed as
    missing, never skipped in silence; an unnamed one that vanished meanwhile was erased
    after the snapshot and is rightly left out."""
    count = total = 0
    missing: list[str] = []
    for name in sorted(stored | named):
        try:
            produce = _open_blob(backend, name)
        except FileNotFoundError:
            if name in named:
                missing.append(name)
            continue
        entry = box.add(f"blobs/{name}", produce)
        count += 1
        total += int(entry["size"])
    return count, total, missing


def _open_blob(backend: RawBackend, name: str) -> Any:
    """Open (or, for object storage, read) a blob before its member is started, so a blob
    deleted meanwhile is noticed before anything is written for it."""
    if isinstance(backend, LocalBackend):
        fh = backend.path_for(name).open("rb")

        def produce(sink: MemberSink) -> None:
            with fh:
                while piece := fh.read(READ):
                    sink.write(piece)

        return produce
    return _copy_bytes(backend.read(name))
