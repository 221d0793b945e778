"""Is the restore target empty? Restore only ever writes into a new installation.

"Empty" means nothing stored could be lost: no row in any table (a schema made by
``qorgau migrate`` is fine), no blob, no file in the data folder other than an empty database
and, when the backup carries no keys, the key files the operator put in place for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from qorgau.backup.crypto import BackupError
from qorgau.config import Settings
from qorgau.store.blobs import RawBackend
from qorgau.store.tables import metadata

_SQLITE_FILES = ("qorgau.db", "qorgau.db-wal", "qorgau.db-shm", "qorgau.db.write-lock")


def check_database(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        present = set(sa.inspect(conn).get_table_names())
        known = {t.name for t in metadata.sorted_tables}
        unknown = sorted(present - known - {"alembic_version"})
        unknown = [n for n in unknown if not n.startswith("incident_fts")]
        if unknown:
            raise BackupError(
                f"the target database already has other tables ({', '.join(unknown[:5])});"
                " restore into a new, empty database"
            )
        for table in metadata.sorted_tables:
            if table.name not in present:
                continue
            if conn.execute(sa.select(sa.literal(1)).select_from(table).limit(1)).first():
                raise BackupError(
                    f"the target database is not empty (table {table.name} has rows); restore"
                    " never overwrites a desk: create a new, empty database and restore there"
                )


def check_files(settings: Settings, backend: RawBackend, manifest: dict[str, Any]) -> None:
    allowed: set[Path] = set()
    if not manifest.get("keys_included"):
        allowed |= {settings.resolved_key_file, settings.resolved_vault_key_file}
    else:
        for path in (settings.resolved_key_file, settings.resolved_vault_key_file):
            if path.exists():
                raise BackupError(
                    f"a key file already exists at {path}; restore never overwrites keys:"
                    " restore into a new data folder (or restore the backup made without keys)"
                )
    data_dir = settings.data_dir
    if data_dir.exists():
        stray = sorted(
            str(p.relative_to(data_dir))
            for p in data_dir.rglob("*")
            if p.is_file()
            and p not in allowed
            and not (p.parent == data_dir and p.name in _SQLITE_FILES)
            and not p.name.endswith(".lock")
        )
        if stray:
            raise BackupError(
                f"the data folder {data_dir} is not empty ({', '.join(stray[:3])}"
                f"{' …' if len(stray) > 3 else ''}); restore into a new, empty folder"
            )
    if next(iter(backend.names()), None) is not None:
        raise BackupError(
            "the target blob storage already holds evidence files; restore into empty storage"
        )
    if not manifest.get("keys_included"):
        _check_supplied_keys(settings, manifest)


def _check_supplied_keys(settings: Settings, manifest: dict[str, Any]) -> None:
    """A backup without keys restores only with the very keys it was made with: check their
    ids before anything is written."""
    from qorgau.backup.dump import key_fingerprints
    from qorgau.vault.signing import SigningKeys

    data_file, vault_file = settings.resolved_key_file, settings.resolved_vault_key_file
    needs_vault = bool(manifest.get("vault_key_ids"))
    for path in (data_file, vault_file) if needs_vault else (data_file,):
        if not path.exists():
            raise BackupError(
                f"this backup was made without keys; put the key files from where you keep"
                f" them in place first ({data_file} and {vault_file})"
            )
    have_data = key_fingerprints(data_file)
    have_vault = set(SigningKeys.load(vault_file).public_keys()) if needs_vault else set()
    wanted: dict[str, str] = manifest.get("data_keys", {})
    lacking = sorted(
        f"data key {kid}" for kid, fp in wanted.items() if have_data.get(kid) != fp
    ) + sorted(f"vault key {kid}" for kid in set(manifest.get("vault_key_ids", [])) - have_vault)
    if lacking:
        raise BackupError(
            f"the key files in place lack keys this backup needs ({', '.join(lacking)});"
            " use the key files of the installation the backup was made from"
        )
