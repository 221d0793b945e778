"""Every encrypted column, and the online job that rewrites them under the active data key.

Encrypted values are plain text columns holding ``enc1:<key id>:<nonce+ciphertext>`` tokens
(``qorgau.security.fields``), each bound to a context string that is part of its associated
data. ``ENCRYPTED`` lists them all with that context; the job needs the context to re-encrypt,
and ``deep_count`` scans every text column of every table for tokens so that a column missing
from the list can never let ``qorgau keys retire`` drop a key still in use.

The job is made to run while the desk takes reports: it reads a batch, decrypts and re-encrypts
outside any transaction, then writes each row back in one short write transaction with a
compare-and-set on the old token, so a row the desk changed meanwhile is left as the desk wrote
it. It keeps no state of its own: a row is pending exactly while its token names another key,
so a stopped run is resumed by running it again, and a finished run repeated does nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from qorgau.errors import QorgauError
from qorgau.security.fields import PREFIX
from qorgau.store import tables as t
from qorgau.store.store import Store

BATCH = 200


@dataclass(frozen=True)
class Encrypted:
    """One encrypted column. ``json_member``: the column is JSON and the token sits in that
    member of the object (only some rows are encrypted, e.g. response documents of one kind)."""

    table: sa.Table
    column: str
    context: str
    json_member: str | None = None

    @property
    def name(self) -> str:
        return f"{self.table.name}.{self.column}"

    @property
    def col(self) -> sa.ColumnElement[Any]:
        c = self.table.c[self.column]
        return sa.cast(c, sa.Text) if self.json_member else c


ENCRYPTED: tuple[Encrypted, ...] = (
    Encrypted(t.users, "totp_secret", "users.totp_secret"),
    Encrypted(t.users, "totp_pending", "users.totp_secret"),
    Encrypted(t.incidents, "reporter_enc", "incidents.reporter"),
    Encrypted(t.incidents, "receipt_enc", "incidents.receipt"),
    Encrypted(t.incident_targets, "name_enc", "incident_targets.name"),
    Encrypted(t.incident_targets, "identifier_enc", "incident_targets.identifier"),
    Encrypted(t.notes, "body_enc", "notes.body"),
    Encrypted(t.response_documents, "body", "response_documents.body", json_member="encrypted"),
    Encrypted(t.user_channels, "address_enc", "user_channels.address"),
    Encrypted(t.deliveries, "address_enc", "deliveries.address"),
    Encrypted(t.hygiene_subjects, "label_enc", "hygiene_subjects.label"),
    Encrypted(t.attachments, "filename_enc", "attachments.filename"),
    Encrypted(t.inbound_drafts, "body_enc", "inbound_drafts.body"),
    Encrypted(t.vault_items, "original_name_enc", "vault_items.original_name"),
    Encrypted(t.observations, "body", "observations.body"),
    Encrypted(t.watchlist_entries, "value", "watchlist.value"),
    Encrypted(t.detector_state, "state", "detector_state.state"),
    Encrypted(t.findings, "body", "findings.body"),
    Encrypted(t.detector_registries, "body", "detector_registries.body"),
    Encrypted(t.account_actions, "details", "account_actions.details"),
    Encrypted(t.legal_events, "details_enc", "legal_events.details"),
)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _token_prefix(key_id: str) -> str:
    return _escape(f"{PREFIX}:{key_id}:")


def _like(col: sa.ColumnElement[Any], spec: Encrypted, key_id: str | None) -> Any:
    """Rows holding a token (under ``key_id`` if given)."""
    body = _token_prefix(key_id) if key_id else _escape(f"{PREFIX}:")
    pattern = f"%{body}%" if spec.json_member else f"{body}%"
    return col.like(pattern, escape="\\")


def _token(spec: Encrypted, raw: str | None) -> str | None:
    if raw is None:
        return None
    if spec.json_member is None:
        return raw if raw.startswith(f"{PREFIX}:") else None
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    token = doc.get(spec.json_member) if isinstance(doc, dict) else None
    return token if isinstance(token, str) and token.startswith(f"{PREFIX}:") else None


def _key_of(token: str) -> str:
    return token.split(":", 2)[1]


def count_by_key(store: Store, key_ids: list[str]) -> dict[str, dict[str, int]]:
    """Per column, how many tokens each key protects (one scan of each column); tokens under
    a key not in ``key_ids`` are counted under ``"?"``."""
    result: dict[str, dict[str, int]] = {}
    with store.read() as conn:
        for spec in ENCRYPTED:
            counts: dict[str, int] = {}
            if spec.json_member:
                for (raw,) in conn.execute(sa.select(spec.col).where(_like(spec.col, spec, None))):
                    token = _token(spec, raw)
                    if token:
                        kid = _key_of(token)
                        kid = kid if kid in key_ids else "?"
                        counts[kid] = counts.get(kid, 0) + 1
            else:
                cols = [
                    sa.func.sum(sa.case((_like(spec.col, spec, kid), 1), else_=0)).label(f"k{i}")
                    for i, kid in enumerate(key_ids)
                ]
                row = conn.execute(
                    sa.select(sa.func.count().label("all"), *cols).where(
                        _like(spec.col, spec, None)
                    )
                ).one()
                known = 0
                for i, kid in enumerate(key_ids):
                    n = int(row[i + 1] or 0)
                    known += n
                    if n:
                        counts[kid] = n
                if int(row[0]) > known:
                    counts["?"] = int(row[0]) - known
            result[spec.name] = counts
    return result


def deep_count(store: Store, key_id: str) -> dict[str, int]:
    """Tokens under ``key_id`` in *any* text or JSON column of any table: the safety net for a
    retirement. Slow (reads every text column) and meant to be."""
    pattern = f"%{_token_prefix(key_id)}%"
    found: dict[str, int] = {}
    with store.read() as conn:
        for table in t.metadata.sorted_tables:
            for c in table.columns:
                if not isinstance(c.type, sa.String | sa.JSON):
                    continue
                n = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(table)
                    .where(sa.cast(c, sa.Text).like(pattern, escape="\\"))
                ).scalar_one()
                if n:
                    found[f"{table.name}.{c.name}"] = int(n)
    return found


@dataclass
class Progress:
    column: str
    total: int
    rewritten: int = 0
    changed_meanwhile: int = 0
    failed: list[str] = field(default_factory=list)


def _pending(
    conn: sa.Connection, spec: Encrypted, active: str, after: tuple[Any, ...] | None, limit: int
) -> list[tuple[tuple[Any, ...], str]]:
    pk = list(spec.table.primary_key.columns)
    query = sa.select(*pk, spec.col).where(
        spec.col.is_not(None), _like(spec.col, spec, None), ~_like(spec.col, spec, active)
    )
    if after is not None:
        query = query.where(sa.tuple_(*pk) > sa.tuple_(*after))
    rows = conn.execute(query.order_by(*pk).limit(limit)).all()
    return [(tuple(r[: len(pk)]), r[len(pk)]) for r in rows]


def _rewrite(store: Store, spec: Encrypted, raw: str) -> tuple[str, Any] | None:
    """The new column value for ``raw`` under the active key, or None if it needs none."""
    token = _token(spec, raw)
    if token is None or _key_of(token) == store.cipher.active_key_id:
        return None
    fresh = store.cipher.encrypt(store.cipher.decrypt(token, spec.context), spec.context)
    assert fresh is not None
    if spec.json_member is None:
        return fresh, fresh
    doc = json.loads(raw)
    doc[spec.json_member] = fresh
    return fresh, doc


def pending_total(store: Store, spec: Encrypted) -> int:
    active = store.cipher.active_key_id
    with store.read() as conn:
        if spec.json_member:
            rows = conn.execute(sa.select(spec.col).where(_like(spec.col, spec, None))).scalars()
            return sum(1 for raw in rows if (tok := _token(spec, raw)) and _key_of(tok) != active)
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(spec.table)
                .where(_like(spec.col, spec, None), ~_like(spec.col, spec, active))
            ).scalar_one()
        )


def reencrypt_column(
    store: Store,
    spec: Encrypted,
    *,
    batch: int = BATCH,
    on_batch: Callable[[Progress], None] | None = None,
) -> Progress:
    """Rewrite every token of one column that is not under the active key."""
    progress = Progress(spec.name, pending_total(store, spec))
    pk = list(spec.table.primary_key.columns)
    after: tuple[Any, ...] | None = None
    while True:
        with store.read() as conn:
            rows = _pending(conn, spec, store.cipher.active_key_id, after, batch)
        if not rows:
            break
        after = rows[-1][0]
        updates: list[tuple[tuple[Any, ...], str, Any]] = []
        for key, raw in rows:
            try:
                new = _rewrite(store, spec, raw)
            except QorgauError as exc:
                progress.failed.append(f"{spec.name} {dict(zip(pk, key, strict=True))}: {exc}")
                continue
            if new is not None:
                updates.append((key, raw, new[1]))
        if updates:
            with store.write() as conn:
                _erase_freed_space(conn)
                for key, raw, value in updates:
                    where = [c == v for c, v in zip(pk, key, strict=True)]
                    done = conn.execute(
                        sa.update(spec.table)
                        .where(*where, spec.col == raw)
                        .values({spec.column: value})
                    ).rowcount
                    if done:
                        progress.rewritten += 1
                    else:
                        progress.changed_meanwhile += 1
        if on_batch:
            on_batch(progress)
    return progress


def _erase_freed_space(conn: sa.Connection) -> None:
    """Have SQLite overwrite the old ciphertext it frees with zeros: otherwise it lingers in
    free space of the file, readable with the old key (the very key a rotation may be about)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA secure_delete=ON")


def compact(store: Store, *, full: bool = False) -> None:
    """Push old ciphertext out of the database files after a re-encryption.

    SQLite: checkpoint and empty the write-ahead log (old page images live there too), and with
    ``full`` rewrite the whole file (VACUUM; blocks writers while it runs). PostgreSQL keeps old
    row versions in its data files until their space is reused; ``full`` rewrites the encrypted
    tables (VACUUM FULL; locks each table while it runs), else a plain VACUUM marks the space
    for reuse. A dump (pg_dump) never contains old row versions either way.
    """
    if store.engine.dialect.name == "sqlite":
        # Outside SQLAlchemy's transaction handling (VACUUM refuses to run in one), holding
        # the write gate so the desk's writers queue instead of failing.
        with store.gate.hold():
            dbapi = store.engine.raw_connection()
            try:
                cur = dbapi.cursor()
                if full:
                    cur.execute("VACUUM")
                cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                cur.close()
            finally:
                dbapi.close()
        return
    verb = "VACUUM FULL" if full else "VACUUM"
    with store.engine.connect() as raw:
        conn = raw.execution_options(isolation_level="AUTOCOMMIT")
        for name in sorted({spec.table.name for spec in ENCRYPTED}):
            conn.exec_driver_sql(f'{verb} "{name}"')


def reencrypt_all(
    store: Store,
    *,
    batch: int = BATCH,
    on_batch: Callable[[Progress], None] | None = None,
) -> Iterator[Progress]:
    """Each column in turn; yields its result as it finishes."""
    store.cipher.refresh()  # this process may have rotated the file a moment ago
    for spec in ENCRYPTED:
        yield reencrypt_column(store, spec, batch=batch, on_batch=on_batch)
