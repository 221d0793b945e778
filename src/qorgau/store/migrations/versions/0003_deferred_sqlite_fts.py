"""SQLite: index new incidents for full text in batches, not row by row

Per-row FTS5 maintenance inside every intake transaction was the largest cost of intake, and it
grew with the index. New rows now arrive with ``search_indexed`` false and are added to the
index in bulk by ``qorgau.store.search_index``; until then a scan of the (small, separately
indexed) unindexed rows answers for them, so search results are exact at every moment.
PostgreSQL keeps its generated tsvector column and ignores the flag.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SQLITE_UP = (
    "CREATE INDEX ix_incidents_unindexed ON incidents (id) WHERE search_indexed = 0",
    "DROP TRIGGER incidents_fts_ai",
    "DROP TRIGGER incidents_fts_ad",
    "DROP TRIGGER incidents_fts_au",
    # Only rows already in the index may be removed from it: FTS5's 'delete' of a row it
    # never saw corrupts the index.
    "CREATE TRIGGER incidents_fts_ad AFTER DELETE ON incidents WHEN old.search_indexed BEGIN "
    "INSERT INTO incident_fts(incident_fts, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); END",
    "CREATE TRIGGER incidents_fts_au AFTER UPDATE OF search_text ON incidents "
    "WHEN old.search_indexed BEGIN "
    "INSERT INTO incident_fts(incident_fts, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); "
    "INSERT INTO incident_fts(rowid, search_text) VALUES (new.id, new.search_text); END",
)
SQLITE_DOWN = (
    "INSERT INTO incident_fts(rowid, search_text) "
    "SELECT id, search_text FROM incidents WHERE search_indexed = 0",
    "DROP TRIGGER IF EXISTS incidents_fts_au",
    "DROP TRIGGER IF EXISTS incidents_fts_ad",
    "DROP INDEX IF EXISTS ix_incidents_unindexed",
    "CREATE TRIGGER incidents_fts_ai AFTER INSERT ON incidents BEGIN "
    "INSERT INTO incident_fts(rowid, search_text) VALUES (new.id, new.search_text); END",
    "CREATE TRIGGER incidents_fts_ad AFTER DELETE ON incidents BEGIN "
    "INSERT INTO incident_fts(incident_fts, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); END",
    "CREATE TRIGGER incidents_fts_au AFTER UPDATE OF search_text ON incidents BEGIN "
    "INSERT INTO incident_fts(incident_fts, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); "
    "INSERT INTO incident_fts(rowid, search_text) VALUES (new.id, new.search_text); END",
)


def upgrade() -> None:
    with op.batch_alter_table("incidents", recreate="never") as batch:
        batch.add_column(
            sa.Column("search_indexed", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_UP:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_DOWN:
            op.execute(statement)
    with op.batch_alter_table("incidents", recreate="never") as batch:
        batch.drop_column("search_indexed")
