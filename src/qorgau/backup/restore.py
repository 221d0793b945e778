"""Load a checked backup into an empty installation and prove the vault came back whole.

Order: the whole file is decrypted and every member hash checked first (``open_and_verify``);
only then is the target checked for emptiness, the schema made by the migrations, and the file
read a second time to load it — rows in one transaction, blobs staged and put in place only
once the second pass has matched the manifest again, keys last. Finally the vault's signed
tree head is recomputed from the restored log and compared with the one the manifest recorded.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from qorgau.backup.container import open_and_verify, read_events
from qorgau.backup.crypto import BackupError, SealedKey
from qorgau.backup.dump import DATA_KEYS, VAULT_KEYS, blob_backend
from qorgau.backup.rows import row_decoder
from qorgau.backup.target import check_database, check_files
from qorgau.config import Settings
from qorgau.store import migrate
from qorgau.store.blobs import LocalBackend, RawBackend, check_digest
from qorgau.store.engine import make_engine
from qorgau.store.tables import metadata
from qorgau.store.vault import latest_head
from qorgau.vault.merkle import MerkleTree, leaf_hash

BATCH = 500


@dataclass(frozen=True)
class Restored:
    manifest: dict[str, Any]
    rows: int


def restore_backup(path: Path, passphrase: str, settings: Settings) -> Restored:
    key, manifest = open_and_verify(path, passphrase)
    _check_compatible(manifest)
    backend = blob_backend(settings)
    check_files(settings, backend, manifest)
    engine = make_engine(settings.resolved_database_url, pool_size=1)
    try:
        check_database(engine)
        migrate.upgrade(engine)
        rows = _load(path, key, engine, backend, settings, manifest)
        _check_vault(engine, settings, manifest)
    finally:
        engine.dispose()
    return Restored(manifest, rows)


def _check_compatible(manifest: dict[str, Any]) -> None:
    revision, head = manifest.get("schema_revision"), migrate.head_revision()
    if revision != head:
        raise BackupError(
            f"this backup is of schema revision {revision}; this Qorgau's schema is {head}."
            " Restore with the Qorgau version that made the backup, then upgrade it with"
            " 'qorgau migrate'"
        )
    known = {t.name for t in metadata.sorted_tables}
    listed = {table["name"] for table in manifest.get("tables", [])}
    if listed != known:
        raise BackupError(
            "this backup's tables differ from this Qorgau's schema; restore with the Qorgau"
            " version that made the backup"
        )


class _TableLoader:
    """Inserts one table's rows in batches as their lines arrive.

    A self-referencing column (an incident merged into a later one) is filled after all rows
    of its table are in, since the row it points to may come later in key order."""

    def __init__(self, conn: sa.Connection, table: sa.Table, columns: list[str]) -> None:
        self.conn, self.table = conn, table
        self.decode = row_decoder(table, columns)
        self.self_refs = [
            fk.parent.name
            for fk in table.foreign_keys
            if fk.column.table is table and fk.parent.nullable
        ]
        self.pk: sa.Column[Any] | None = (
            next(iter(table.primary_key.columns)) if self.self_refs else None
        )
        self.later: list[dict[str, Any]] = []
        self.pending = b""
        self.batch: list[dict[str, Any]] = []
        self.count = 0

    def feed(self, data: bytes) -> None:
        lines = (self.pending + data).split(b"\n")
        self.pending = lines.pop()
        for raw in lines:
            row = self.decode(raw)
            for name in self.self_refs:
                if row[name] is not None:
                    assert self.pk is not None
                    self.later.append({"_pk": row[self.pk.name], "_v": row[name], "_c": name})
                    row[name] = None
            self.batch.append(row)
            if len(self.batch) >= BATCH:
                self._flush()

    def _flush(self) -> None:
        if self.batch:
            self.conn.execute(self.table.insert(), self.batch)
            self.count += len(self.batch)
            self.batch = []

    def finish(self) -> int:
        if self.pending:
            raise BackupError(f"the backup's rows of table {self.table.name} are malformed")
        self._flush()
        for name in self.self_refs:
            assert self.pk is not None
            params = [{"_pk": x["_pk"], "_v": x["_v"]} for x in self.later if x["_c"] == name]
            if params:
                self.conn.execute(
                    self.table.update()
                    .where(self.pk == sa.bindparam("_pk"))
                    .values({name: sa.bindparam("_v")}),
                    params,
                )
        return self.count


class _BlobLoader:
    """Stages a blob's sealed bytes; ``commit`` names it once the whole file has checked out."""

    def __init__(self, backend: RawBackend, name: str) -> None:
        self.backend, self.name = backend, name
        self.fd: int | None = None
        self.staged: Path | None = None
        self.parts: list[bytes] = []
        if isinstance(backend, LocalBackend):
            self.fd, self.staged = backend.open_staged()

    def feed(self, data: bytes) -> None:
        if self.fd is None:
            self.parts.append(data)
            return
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]

    def close(self) -> None:
        if self.fd is not None:
            os.fsync(self.fd)
            os.close(self.fd)
            self.fd = None

    def commit(self) -> None:
        if isinstance(self.backend, LocalBackend):
            assert self.staged is not None
            self.backend.commit(self.staged, self.name)
        else:
            self.backend.write(self.name, b"".join(self.parts))

    def discard(self) -> None:
        self.close()
        if isinstance(self.backend, LocalBackend) and self.staged is not None:
            self.backend.discard(self.staged)


def _load(
    path: Path,
    key: SealedKey,
    engine: sa.Engine,
    backend: RawBackend,
    settings: Settings,
    checked: dict[str, Any],
) -> int:
    """The second pass: load as the members stream by; nothing is committed unless this
    pass, too, ends with every member matching the manifest the first pass checked."""
    tables = {t.name: t for t in metadata.sorted_tables}
    columns = {table["name"]: list(table["columns"]) for table in checked["tables"]}
    manifest: dict[str, Any] = {}
    blobs: list[_BlobLoader] = []
    keys: dict[str, bytearray] = {}
    total = 0
    try:
        with engine.begin() as conn, path.open("rb") as fh:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
            fh.seek(len(key.header))
            feed: Callable[[bytes], None] | None = None
            loader: _TableLoader | None = None
            for event in read_events(fh, key, str(path), manifest):
                if event.kind == "begin":
                    feed, loader = _open_member(
                        event.name, conn, tables, columns, backend, blobs, keys, path
                    )
                elif event.kind == "data" and feed is not None:
                    feed(event.data)
                elif event.kind == "end":
                    if loader is not None:
                        total += loader.finish()
                    elif blobs and blobs[-1].fd is not None:
                        blobs[-1].close()
                    feed = loader = None
            if manifest != checked:
                raise BackupError(f"{path} changed while it was being restored")
            _check_counts(conn, manifest)
            _after_load(conn)
            for blob in blobs:
                blob.commit()
            blobs.clear()
            _write_keys(settings, keys)
    finally:
        for blob in blobs:
            blob.discard()
    return total


def _open_member(
    name: str,
    conn: sa.Connection,
    tables: dict[str, sa.Table],
    columns: dict[str, list[str]],
    backend: RawBackend,
    blobs: list[_BlobLoader],
    keys: dict[str, bytearray],
    path: Path,
) -> tuple[Callable[[bytes], None], _TableLoader | None]:
    if name.startswith("tables/") and name.endswith(".jsonl"):
        table = tables.get(name.removeprefix("tables/").removesuffix(".jsonl"))
        if table is None:
            raise BackupError(f"{path}: member {name} names no table of this schema")
        loader = _TableLoader(conn, table, columns[table.name])
        return loader.feed, loader
    if name.startswith("blobs/"):
        blob_name = name.removeprefix("blobs/")
        try:
            check_digest(blob_name)
        except Exception as exc:
            raise BackupError(f"{path}: member {name} is not a blob name") from exc
        blob = _BlobLoader(backend, blob_name)
        blobs.append(blob)
        return blob.feed, None
    if name in (DATA_KEYS, VAULT_KEYS):
        keys[name] = bytearray()
        return keys[name].extend, None
    raise BackupError(f"{path}: unknown member {name}")


def _check_counts(conn: sa.Connection, manifest: dict[str, Any]) -> None:
    for entry in manifest["tables"]:
        table = metadata.tables[entry["name"]]
        n = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
        if n != entry["rows"]:
            raise BackupError(
                f"table {table.name}: {n} rows loaded, the manifest records {entry['rows']}"
            )


def _after_load(conn: sa.Connection) -> None:
    """Rebuild what the database derives from rows: SQLite's full-text index (for the
    incidents marked indexed; the others wait for the indexer as before), and PostgreSQL's
    sequences, which explicit ids do not advance."""
    if conn.dialect.name == "sqlite":
        # Foreign keys are checked at commit here (deferred); ask now, while blobs and keys
        # are still unwritten, so a failure leaves the target as empty as it was.
        broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            names = sorted({str(row[0]) for row in broken})
            raise BackupError(
                f"the backup's rows of {', '.join(names)} refer to rows it does not hold;"
                " nothing was restored"
            )
        conn.exec_driver_sql(
            "INSERT INTO incident_fts(rowid, search_text) "
            "SELECT id, search_text FROM incidents WHERE search_indexed = 1"
        )
        return
    for table in metadata.sorted_tables:
        pk = list(table.primary_key.columns)
        if len(pk) != 1 or not isinstance(pk[0].type, sa.Integer):
            continue
        sequence = conn.execute(
            sa.select(sa.func.pg_get_serial_sequence(table.name, pk[0].name))
        ).scalar_one()
        if sequence is None:
            continue
        top = conn.execute(sa.select(sa.func.max(pk[0]))).scalar_one()
        conn.execute(sa.select(sa.func.setval(sequence, (top or 0) + 1, sa.false())))


def _write_keys(settings: Settings, keys: dict[str, bytearray]) -> None:
    targets = {DATA_KEYS: settings.resolved_key_file, VAULT_KEYS: settings.resolved_vault_key_file}
    for name, data in keys.items():
        target = targets[name]
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError as exc:
            raise BackupError(f"a key file appeared at {target} during the restore") from exc
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())


def _check_vault(engine: sa.Engine, settings: Settings, manifest: dict[str, Any]) -> None:
    """Recompute the tree head from the restored log and hold it against the manifest's."""
    from qorgau.store.tables import vault_log
    from qorgau.vault.signing import SigningKeys

    want = manifest.get("tree_head")
    with engine.connect() as conn:
        head = latest_head(conn)
        entries = list(
            conn.execute(
                sa.select(vault_log.c.entry, vault_log.c.leaf_hash).order_by(vault_log.c.leaf_index)
            )
        )
    if len(entries) != manifest.get("vault_log_size"):
        raise BackupError(
            f"the restored vault log has {len(entries)} entries, the backup recorded"
            f" {manifest.get('vault_log_size')}"
        )
    leaves = [leaf_hash(entry.encode("utf-8")) for entry, _ in entries]
    if any(leaf.hex() != stored for leaf, (_, stored) in zip(leaves, entries, strict=True)):
        raise BackupError("the restored vault log has entries that do not match their leaves")
    if want is None:
        if head is not None:
            raise BackupError("the restored vault has a signed tree head the backup did not")
        return
    if head is None:
        raise BackupError("the restored vault has no signed tree head; the backup had one")
    got = {
        "id": head.id,
        "tree_size": head.head.tree_size,
        "root_hash": head.head.root_hash.hex(),
        "timestamp_ms": head.head.timestamp_ms,
        "key_id": head.head.key_id,
        "signature": base64.b64encode(head.signature).decode("ascii"),
    }
    if got != want:
        raise BackupError("the restored vault's latest signed tree head differs from the backup's")
    if MerkleTree(leaves).root(head.head.tree_size).hex() != want["root_hash"]:
        raise BackupError(
            "the restored vault log does not produce the signed root hash recorded in the backup"
        )
    if not SigningKeys.load(settings.resolved_vault_key_file).verify(head.head, head.signature):
        raise BackupError(
            "the restored vault's signed tree head does not verify with the vault signing key;"
            " the key file does not belong to this backup"
        )
