"""The ``qorgau keys`` commands: rotate the data key and re-encrypt stored fields.

A rotation is four steps an operator runs while the desk stays up (docs/keys.md): ``rotate``
adds the new active key, ``reencrypt`` moves every stored value and blob file to it, ``status``
shows what still depends on each old key, ``retire`` removes an old key once nothing does.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated

import typer
from rich.table import Table

from qorgau.cli import DataDir, DbUrl, _progress, err, guarded, opened_store, out, settings, t
from qorgau.config import Settings
from qorgau.errors import ConfigurationError, QorgauError

keys_app = typer.Typer(
    no_args_is_help=True,
    help="Data-encryption keys: rotate, re-encrypt, status, retire.",
)


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the main ``qorgau`` app."""
    app.add_typer(keys_app, name="keys")


class ReencryptIncomplete(QorgauError):
    """Some values could not be re-encrypted; the others were."""


@keys_app.command("rotate")
@guarded
def rotate_cmd(data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Add a new active data key; old keys stay in the file to read older values."""
    from qorgau.security import rotation

    s = settings(data_dir, database_url)
    old, new = rotation.rotate(s.resolved_key_file)
    out.print(t("Data key {old} replaced by {new} as the active key.", old=old, new=new))
    out.print(
        t(
            "Running servers and workers switch to it within a minute, without a restart. Next:"
            " 'qorgau keys reencrypt', then back up the key file."
        )
    )


@keys_app.command("reencrypt")
@guarded
def reencrypt_cmd(
    data_dir: DataDir = None,
    database_url: DbUrl = None,
    batch: Annotated[int, typer.Option(min=1, max=10000, help="Rows per write transaction")] = 200,
    blobs: Annotated[
        bool, typer.Option("--blobs/--no-blobs", help="Also re-encrypt attachment files")
    ] = True,
    compact: Annotated[
        bool,
        typer.Option(
            "--compact",
            help="Afterwards rewrite the database files so no old ciphertext lingers in free"
            " space (SQLite VACUUM, PostgreSQL VACUUM FULL: blocks writes while it runs)",
        ),
    ] = False,
) -> None:
    """Rewrite every encrypted value (and attachment file) under the active key.

    Safe while the desk runs; stop it any time and run it again to go on.
    """
    from qorgau.store.blobs import BlobStore
    from qorgau.store.reencrypt import ENCRYPTED, Progress, reencrypt_column
    from qorgau.store.reencrypt import compact as compact_files

    s = settings(data_dir, database_url)
    failed: list[str] = []
    with opened_store(s) as store:
        store.cipher.refresh()
        active = store.cipher.active_key_id
        out.print(t("Re-encrypting under key {key}.", key=active))
        with _progress() as bar:
            task = bar.add_task(t("database"), total=len(ENCRYPTED))
            for spec in ENCRYPTED:

                def show(p: Progress) -> None:
                    bar.update(task, description=f"{p.column} {p.rewritten}/{p.total}")

                done = reencrypt_column(store, spec, batch=batch, on_batch=show)
                bar.advance(task)
                failed.extend(done.failed)
                if done.total or done.changed_meanwhile:
                    out.print(
                        t(
                            "{column}: {n} re-encrypted, {m} changed meanwhile by the desk.",
                            column=done.column,
                            n=done.rewritten,
                            m=done.changed_meanwhile,
                        )
                    )
        if compact:
            out.print(t("Compacting the database files; writes wait until this is done."))
        compact_files(store, full=compact)
        if blobs:
            store_ = BlobStore.for_settings(s)
            store_.refresh()
            names = list(store_.names())
            rewritten = 0
            with _progress() as bar:
                task = bar.add_task(t("attachment files"), total=len(names))
                for name in names:
                    try:
                        rewritten += store_.reseal(name)
                    except QorgauError as exc:
                        failed.append(f"blob {name}: {exc}")
                    bar.advance(task)
            out.print(
                t(
                    "Attachment files: {n} of {total} re-encrypted.",
                    n=rewritten,
                    total=len(names),
                )
            )
    for problem in failed:
        err.print(problem, highlight=False, markup=False)
    if failed:
        raise ReencryptIncomplete(
            t(
                "{n} values could not be re-encrypted (listed above); the rest were. Restore"
                " the damaged items or the missing key, then run the command again.",
                n=len(failed),
            )
        )
    out.print(t("Done. 'qorgau keys status' shows what each key still protects."))


def _blob_counts(s: Settings) -> Counter[str]:
    """Attachment files per key id (reads each file's header)."""
    from qorgau.store.blobs import BlobStore

    blobs = BlobStore.for_settings(s)
    counts: Counter[str] = Counter()
    for name in blobs.names():
        try:
            counts[blobs.key_id(name)] += 1
        except QorgauError:
            counts["?"] += 1
    return counts


@keys_app.command("status")
@guarded
def status_cmd(
    data_dir: DataDir = None,
    database_url: DbUrl = None,
    by_column: Annotated[
        bool, typer.Option("--by-column", help="Also show counts per encrypted column")
    ] = False,
) -> None:
    """Which data keys exist, which is active, and what each still protects."""
    from qorgau.security.keys import load_keyring
    from qorgau.store.reencrypt import count_by_key

    s = settings(data_dir, database_url)
    ring = load_keyring(s.resolved_key_file)
    ids = list(ring.data_keys)
    with opened_store(s) as store:
        per_column = count_by_key(store, ids)
    files = _blob_counts(s)
    values: Counter[str] = Counter()
    for counts in per_column.values():
        values.update(counts)
    table = Table(t("Key"), t("Active"), t("Values in the database"), t("Attachment files"))
    for kid in [*ids, *(["?"] if values["?"] or files["?"] else [])]:
        label = kid if kid != "?" else t("unknown key")
        table.add_row(label, "✓" if kid == ring.active else "", str(values[kid]), str(files[kid]))
    out.print(table)
    if by_column:
        cols = Table(t("Column"), *ids)
        for name, counts in per_column.items():
            if counts:
                cols.add_row(name, *(str(counts.get(k, 0)) for k in ids))
        out.print(cols)
    for kid in ids:
        if kid != ring.active and not values[kid] and not files[kid]:
            out.print(
                t("Key {key} protects nothing any more: 'qorgau keys retire {key}'.", key=kid)
            )
    if ring.retired:
        out.print(t("Retired keys: {keys}.", keys=", ".join(ring.retired)))


@keys_app.command("retire")
@guarded
def retire_cmd(
    key_id: Annotated[str, typer.Argument(help="The old key to remove, e.g. k1")],
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Remove an old data key from the key file, only if nothing uses it any more."""
    from qorgau.security import rotation
    from qorgau.store.reencrypt import deep_count

    s = settings(data_dir, database_url)
    with opened_store(s) as store:
        where: dict[str, int] = {}

        def still_used() -> int:
            where.update(deep_count(store, key_id))
            files = _blob_counts(s)[key_id]
            if files:
                where[t("attachment files")] = files
            return sum(where.values())

        try:
            rotation.retire(s.resolved_key_file, key_id, still_used)
        except ConfigurationError:
            for name, n in where.items():
                err.print(f"  {name}: {n}", highlight=False, markup=False)
            raise
    out.print(
        t(
            "Key {key} removed from the key file. Backups made before now still need the old"
            " key file to be read; keep it with them.",
            key=key_id,
        )
    )
