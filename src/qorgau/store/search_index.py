"""Bulk full-text indexing for SQLite, and the exact search that does not wait for it.

FTS5 is cheap per row in large transactions and expensive in the many small ones that intake
commits. So intake does not touch the index: new rows carry ``search_indexed = false`` and
``index_pending`` adds them all in one go (the server runs it every half second, the importer
after each file). ``match_condition`` answers a query from the index *plus* a scan of the few
unindexed rows (they have their own partial index), so a report is findable the moment it is
acknowledged. PostgreSQL needs none of this: its generated tsvector column is maintained by the
database itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import sqlalchemy as sa

from qorgau.store.store import Store
from qorgau.store.tables import incidents

log = logging.getLogger(__name__)
INTERVAL_S = 0.5
# Written with a literal so SQLite can use the partial index "WHERE search_indexed = 0"
# (a bound parameter or "IS 0" does not match its predicate).
UNINDEXED = incidents.c.search_indexed == sa.literal_column("0")


def index_pending(conn: sa.Connection) -> int:
    """Index every unindexed incident; call inside a write transaction (SQLite only)."""
    if conn.dialect.name != "sqlite":
        return 0
    added = conn.execute(
        sa.text(
            "INSERT INTO incident_fts(rowid, search_text) "
            "SELECT id, search_text FROM incidents WHERE search_indexed = 0"
        )
    ).rowcount
    conn.execute(incidents.update().where(UNINDEXED).values(search_indexed=True))
    return int(added or 0)


def purge_erased(store: Store) -> None:
    """After an erasure (SQLite): FTS5 only marks deleted words, which stay readable in its
    segments until they are merged, and old pages wait in the WAL until a checkpoint. Merge
    the index and checkpoint, so an erased name is gone from a copy of the files too."""
    if store.engine.dialect.name != "sqlite":
        return  # PostgreSQL: dead rows are vacuumed ('qorgau keys reencrypt --compact')
    with store.write() as conn:
        conn.execute(sa.text("INSERT INTO incident_fts(incident_fts) VALUES('optimize')"))
    with store.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def pending(conn: sa.Connection) -> int:
    if conn.dialect.name != "sqlite":
        return 0
    return int(conn.execute(sa.select(sa.func.count()).where(UNINDEXED)).scalar_one())


def _like_escape(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def match_condition(conn: sa.Connection, words: list[str]) -> sa.ColumnElement[bool]:
    """Incidents whose title and description contain every word as a prefix of a token."""
    if conn.dialect.name == "sqlite":
        match = " ".join(f'"{w}"*' for w in words)
        indexed: sa.Select[int] = (
            sa.select(sa.column("rowid", sa.Integer))
            .select_from(sa.table("incident_fts"))
            .where(sa.text("incident_fts MATCH :fts_q").bindparams(fts_q=match))
        )
        padded = sa.literal(" ") + incidents.c.search_text
        unindexed = sa.select(incidents.c.id).where(
            UNINDEXED,
            *[padded.like(f"% {_like_escape(w)}%", escape="\\") for w in words],
        )
        # One id list (not an OR), so the planner can still walk the list index.
        return incidents.c.id.in_(sa.union_all(indexed, unindexed))
    tsquery = " & ".join(f"{w}:*" for w in words)
    clause = sa.text("search_vector @@ to_tsquery('simple', :fts_q)").bindparams(fts_q=tsquery)
    return clause.self_group()  # type: ignore[return-value]


class SearchIndexer:
    """Keeps the SQLite full-text index close behind intake, in the background."""

    def __init__(self, store: Store, interval_s: float = INTERVAL_S) -> None:
        self._store = store
        self._interval = interval_s
        self._task: asyncio.Task[None] | None = None

    def index_now(self) -> int:
        with self._store.write() as conn:
            return index_pending(conn)

    async def start(self) -> None:
        if self._store.engine.dialect.name == "sqlite" and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            await asyncio.to_thread(self.index_now)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await asyncio.to_thread(self.index_now)
            except Exception:  # an indexing hiccup must not stop the server; search stays exact
                log.exception("full-text indexing failed; will retry")
