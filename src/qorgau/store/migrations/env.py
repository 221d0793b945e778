"""Alembic environment: the connection is handed in by ``qorgau.store.migrate``."""

from __future__ import annotations

from alembic import context

from qorgau.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only when someone runs the alembic CLI directly
    raise SystemExit("run migrations with 'qorgau migrate', which supplies the database")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
