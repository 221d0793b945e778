"""Crash consistency, full form: 200 SIGKILLs of ``qorgau serve`` per database.

Each database is fresh (a new SQLite file; a new PostgreSQL database, dropped afterwards).
Three client threads stream reports to the public intake while the server is killed at random
moments and restarted; see ``tests/support/crash_harness.py`` for what is checked. Prints one
line per database for docs/security-testing.md and exits non-zero if any acknowledged report
is missing or stored twice::

    python -m benchmarks.crash_consistency --kills 200
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from tests.support.crash_harness import CrashOutcome, run_crash_test

from qorgau.config import Settings
from qorgau.store import migrate, users
from qorgau.store.store import open_store

PG_ADMIN_URL = os.environ.get(
    "QORGAU_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def fresh_database(backend: str, data_dir: Path) -> Iterator[Settings]:
    """Settings for a new, migrated database of ``backend`` (dropped afterwards if PostgreSQL)."""
    admin = None
    name = f"qorgau_crash_{uuid.uuid4().hex[:8]}"
    if backend == "postgresql":
        admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(False)
    else:
        url = f"sqlite:///{data_dir / 'qorgau.db'}"
    settings = Settings(data_dir=data_dir, database_url=url, key_file=data_dir / "qorgau.key")
    store = open_store(settings, create_keys=True)
    try:
        migrate.upgrade(store.engine)
        with store.write() as conn:
            users.ensure_org(conn, settings.default_org, "Crash test desk", store.now())
    finally:
        store.close()
    try:
        yield settings
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--max-minutes", type=float, default=None, help="per database: stop killing after this"
    )
    args = parser.parse_args(argv)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"Crash consistency, {when}, {platform.node()} ({os.cpu_count()} cores)")
    outcomes: dict[str, CrashOutcome] = {}
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory(prefix=f"qorgau-crash-{backend}-") as tmp:
            with fresh_database(backend, Path(tmp)) as settings:
                print(f"{backend}: {args.kills} kills, {args.clients} clients", flush=True)
                outcome = run_crash_test(
                    settings,
                    args.kills,
                    Path(tmp),
                    clients=args.clients,
                    seed=args.seed,
                    progress=True,
                    budget_seconds=None if args.max_minutes is None else args.max_minutes * 60,
                )
            outcomes[backend] = outcome
            print(f"{backend}: {outcome.summary()}", flush=True)
            for marker in outcome.missing[:20]:
                print(f"  acknowledged but missing: {marker}")
            for marker in outcome.duplicated[:20]:
                print(f"  stored more than once: {marker}")
    return 0 if all(o.consistent for o in outcomes.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
