"""The ``qorgau backup`` and ``qorgau restore`` commands.

The passphrase never comes from the command line (it would sit in shell history and the process
list): it is read from ``QORGAU_BACKUP_PASSPHRASE`` or from a file given with
``--passphrase-file``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from qorgau.cli import DataDir, DbUrl, err, fail, guarded, opened_store, out, settings, t
from qorgau.errors import InvalidInput

PASSPHRASE_ENV = "QORGAU_BACKUP_PASSPHRASE"

backup_app = typer.Typer(
    invoke_without_command=True,
    help="Write an encrypted, verified backup of the database, evidence blobs and keys.",
)

PassphraseFile = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file",
        help=f"File holding the backup passphrase (default: ${PASSPHRASE_ENV})",
    ),
]


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the main ``qorgau`` app."""
    app.add_typer(backup_app, name="backup")
    app.command("restore")(restore_cmd)


def _passphrase(passphrase_file: Path | None) -> str:
    if passphrase_file is not None:
        try:
            text = passphrase_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(
                InvalidInput.single(
                    "--passphrase-file", "readable", f"cannot read {passphrase_file}: {exc}"
                )
            )
        return text.rstrip("\r\n")
    value = os.environ.get(PASSPHRASE_ENV)
    if not value:
        fail(
            InvalidInput.single(
                "passphrase",
                "required",
                f"no backup passphrase: set {PASSPHRASE_ENV} or give --passphrase-file FILE",
            )
        )
    return value


def _summary(manifest: dict[str, Any]) -> None:
    tables = manifest.get("tables", [])
    out.print(
        t(
            "{tables} tables, {rows} rows, {blobs} blobs ({bytes} bytes).",
            tables=len(tables),
            rows=sum(int(x["rows"]) for x in tables),
            blobs=manifest.get("blobs", 0),
            bytes=manifest.get("blob_bytes", 0),
        )
    )
    head = manifest.get("tree_head")
    if head is None:
        out.print(t("Vault: no signed tree head yet."))
    else:
        out.print(
            t(
                "Vault: signed tree head of {size} entries, root {root}.",
                size=head["tree_size"],
                root=head["root_hash"],
            )
        )
    if manifest.get("keys_included"):
        out.print(
            t(
                "The key files are inside: keep the passphrase apart from the backup, since"
                " whoever has both can read everything."
            )
        )
    else:
        out.print(
            t(
                "The key files are NOT in this backup: keep copies of them elsewhere; without"
                " them it can be neither restored nor read."
            )
        )


@backup_app.callback()
@guarded
def backup_cmd(
    ctx: typer.Context,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="The backup file to write (must not exist)")
    ] = None,
    without_keys: Annotated[
        bool,
        typer.Option("--without-keys", help="Leave the key files out (keep them elsewhere)"),
    ] = False,
    passphrase_file: PassphraseFile = None,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Back up the database, the evidence blobs and (unless --without-keys) the key files into
    one encrypted file, then read it back whole to check it."""
    if ctx.invoked_subcommand is not None:
        return
    from qorgau.backup.crypto import BackupError, SealedKey
    from qorgau.backup.dump import write_backup

    if out_file is None:
        fail(InvalidInput.single("--out", "required", "give the backup file with --out FILE"))
    if out_file.exists():
        fail(
            InvalidInput.single(
                "--out", "new", f"{out_file} already exists; choose a new name (nothing written)"
            )
        )
    if not out_file.parent.is_dir():
        fail(InvalidInput.single("--out", "folder", f"{out_file.parent} does not exist"))
    key = SealedKey.new(_passphrase(passphrase_file))
    s = settings(data_dir, database_url)
    if dict(s.s3).get("QORGAU_S3_BUCKET"):
        out.print(
            t(
                "Evidence blobs are in the S3 bucket {bucket}: they are copied into the backup"
                " through the storage interface.",
                bucket=dict(s.s3)["QORGAU_S3_BUCKET"],
            )
        )
    with opened_store(s) as store:
        try:
            written = write_backup(s, store.engine, out_file, key, include_keys=not without_keys)
        except OSError as exc:
            raise BackupError(f"cannot write {out_file}: {exc.strerror or exc}") from exc
    out.print(
        t(
            "Backup written to {file} ({size} bytes) and verified: every block decrypts and"
            " every member matches its SHA-256.",
            file=str(written.path),
            size=written.size,
        )
    )
    _summary(written.manifest)
    missing = written.manifest.get("missing_blobs") or []
    if missing:
        for name in missing:
            err.print(escape(t("blob {sha} is missing from storage", sha=name)))
        err.print(_missing_message(len(missing)))
        raise typer.Exit(1)


def _missing_message(n: int) -> str:
    return t(
        "{n} evidence files named in the database are missing from storage; the backup"
        " holds everything else. Run 'qorgau vault verify'.",
        n=n,
    )


@backup_app.command("verify")
@guarded
def backup_verify_cmd(
    file: Annotated[Path, typer.Argument(help="The backup file to check")],
    passphrase_file: PassphraseFile = None,
) -> None:
    """Check a backup file alone: decrypt every block, check every member and the manifest."""
    from qorgau.backup.container import open_and_verify

    if not file.is_file():
        fail(InvalidInput.single("file", "exists", f"{file} is not a file; check the path"))
    _, manifest = open_and_verify(file, _passphrase(passphrase_file))
    out.print(
        t(
            "{file} is intact: made {when} (schema {rev}); every block decrypts and every"
            " member matches its SHA-256.",
            file=str(file),
            when=manifest.get("created_at", "?"),
            rev=manifest.get("schema_revision", "?"),
        )
    )
    _summary(manifest)


@guarded
def restore_cmd(
    file: Annotated[Path, typer.Argument(help="The backup file")],
    passphrase_file: PassphraseFile = None,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Restore a backup into a new, empty installation and check the vault's signed tree head.

    Refuses a database with rows, a data folder with files or blob storage with blobs.
    """
    import sqlalchemy as sa

    from qorgau.backup.crypto import BackupError
    from qorgau.backup.restore import restore_backup

    if not file.is_file():
        fail(InvalidInput.single("file", "exists", f"{file} is not a file; check the path"))
    passphrase = _passphrase(passphrase_file)
    s = settings(data_dir, database_url)
    try:
        restored = restore_backup(file, passphrase, s)
    except sa.exc.OperationalError as exc:
        raise BackupError(
            f"cannot use the target database: {str(exc.orig or exc).strip().splitlines()[0]}"
        ) from exc
    except OSError as exc:
        raise BackupError(f"cannot write the restored files: {exc.strerror or exc}") from exc
    manifest = restored.manifest
    out.print(
        t(
            "Restored {tables} tables ({rows} rows) and {blobs} blobs from {file}.",
            tables=len(manifest["tables"]),
            rows=restored.rows,
            blobs=manifest.get("blobs", 0),
            file=str(file),
        )
    )
    head = manifest.get("tree_head")
    if head is not None:
        out.print(
            t(
                "Vault signed tree head reproduced: {size} entries, root {root}; its signature"
                " verifies.",
                size=head["tree_size"],
                root=head["root_hash"],
            )
        )
    missing = manifest.get("missing_blobs") or []
    if missing:  # already missing when the backup was made; the restore cannot add them
        err.print(_missing_message(len(missing)))
    out.print(t("Next: run 'qorgau vault verify' to re-check every evidence file."))
