"""Migrations: up to head, down to nothing and up again, on both engines; the tables the code
uses match what the migrations build."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from qorgau.config import Settings
from qorgau.store import migrate
from qorgau.store.engine import make_engine
from qorgau.store.tables import metadata


def fresh_engine(backend_settings: Settings, tmp_name: str) -> sa.Engine:
    url = sa.engine.make_url(backend_settings.resolved_database_url)
    if url.get_backend_name() == "sqlite":
        return make_engine(f"sqlite:///{backend_settings.data_dir / tmp_name}")
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    name = f"{url.database}_{tmp_name}".replace(".", "_")
    with admin.connect() as c:
        c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return make_engine(url.set(database=name).render_as_string(False))


def test_up_down_up_and_schema_matches_code(backend_settings: Settings) -> None:
    engine = fresh_engine(backend_settings, "mig")
    try:
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()

        def ignore_search_index(obj: object, name: str | None, type_: str, *_: object) -> bool:
            return not (name or "").startswith(
                (
                    "incident_fts",
                    "search_vector",
                    "ix_incidents_search_vector",
                    "ix_incidents_unindexed",
                )
            )

        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn, opts={"compare_type": True, "include_object": ignore_search_index}
            )
            diff = compare_metadata(ctx, metadata)
        assert diff == [], diff
        migrate.downgrade(engine, "base")
        assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate.upgrade(engine)
        assert "incidents" in sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()
        if engine.dialect.name == "postgresql":
            admin = sa.create_engine(
                engine.url.set(database="postgres"), isolation_level="AUTOCOMMIT"
            )
            with admin.connect() as c:
                c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{engine.url.database}"')
            admin.dispose()


def test_sqlite_pragmas_are_on(tmp_path: object) -> None:
    from pathlib import Path

    engine = make_engine(f"sqlite:///{Path(str(tmp_path)) / 'p.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    engine.dispose()
