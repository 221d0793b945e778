"""full-text search on incident title and description

SQLite gets an FTS5 external-content index kept in step by triggers; PostgreSQL a generated
tsvector column with a GIN index. Both index ``search_text``, which the application fills with
case-folded word tokens, so both engines match the same words.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SQLITE_UP = (
    "CREATE VIRTUAL TABLE incident_fts USING fts5(search_text, content='incidents', "
    "content_rowid='id', tokenize='unicode61 remove_diacritics 0')",
    "CREATE TRIGGER incidents_fts_ai AFTER INSERT ON incidents BEGIN "
    "INSERT INTO incident_fts(rowid, search_text) VALUES (new.id, new.search_text); END",
    "CREATE TRIGGER incidents_fts_ad AFTER DELETE ON incidents BEGIN "
    "INSERT INTO incident_fts(incident_fts, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); END",
    "CREATE TRIGGER incidents_fts_au AFTER UPDATE OF search_text ON incidents BEGIN "
    "INSERT INTO incident_fts(incident_fts, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); "
    "INSERT INTO incident_fts(rowid, search_text) VALUES (new.id, new.search_text); END",
    "INSERT INTO incident_fts(incident_fts) VALUES ('rebuild')",
)
SQLITE_DOWN = (
    "DROP TRIGGER IF EXISTS incidents_fts_au",
    "DROP TRIGGER IF EXISTS incidents_fts_ad",
    "DROP TRIGGER IF EXISTS incidents_fts_ai",
    "DROP TABLE IF EXISTS incident_fts",
)
POSTGRES_UP = (
    "ALTER TABLE incidents ADD COLUMN search_vector tsvector "
    "GENERATED ALWAYS AS (to_tsvector('simple', search_text)) STORED",
    "CREATE INDEX ix_incidents_search_vector ON incidents USING gin (search_vector)",
)
POSTGRES_DOWN = (
    "DROP INDEX IF EXISTS ix_incidents_search_vector",
    "ALTER TABLE incidents DROP COLUMN IF EXISTS search_vector",
)


def _run(statements: tuple[str, ...]) -> None:
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    _run(SQLITE_UP if op.get_bind().dialect.name == "sqlite" else POSTGRES_UP)


def downgrade() -> None:
    _run(SQLITE_DOWN if op.get_bind().dialect.name == "sqlite" else POSTGRES_DOWN)
