"""Shared fixtures: every storage test runs on SQLite *and* on the real PostgreSQL server.

PostgreSQL tests use a throw-away database created for the session on 127.0.0.1:5432; tables
are emptied between tests. Set QORGAU_TEST_PG_URL to use another server, or
QORGAU_TEST_BACKENDS=sqlite to run SQLite only (CI always runs both).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from qorgau.config import Settings
from qorgau.desk import CaseDesk
from qorgau.domain.model import Principal, Role
from qorgau.store import migrate, users
from qorgau.store.store import Store, open_store
from qorgau.store.tables import metadata
from qorgau.web.app import create_app

PG_ADMIN_URL = os.environ.get(
    "QORGAU_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = os.environ.get("QORGAU_TEST_BACKENDS", "sqlite,postgresql").split(",")
PASSWORD = "correct horse battery staple"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_file(*parts: str) -> Path:
    """A file of the shared real-world data folder, or skip the test saying why."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"shared data not present: {path.relative_to(SHARED_DATA.parent)} "
            "(the folder sits beside the checkout in development and CI)"
        )
    return path


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    name = f"qorgau_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: start it (see .ci/run): {exc}")
    url = sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(False)
    yield url
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(scope="session")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys")


@pytest.fixture(scope="session", params=BACKENDS)
def backend_settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, key_dir: Path
) -> Settings:
    data_dir = tmp_path_factory.mktemp(f"data-{request.param}")
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_database_url")
    else:
        url = f"sqlite:///{data_dir / 'qorgau.db'}"
    return Settings(data_dir=data_dir, database_url=url, key_file=key_dir / f"{request.param}.key")


@pytest.fixture(scope="session")
def migrated_store(backend_settings: Settings) -> Iterator[Store]:
    store = open_store(backend_settings, create_keys=True)
    migrate.upgrade(store.engine)
    yield store
    store.close()


def _empty(store: Store) -> None:
    names = [t.name for t in reversed(metadata.sorted_tables)]
    with store.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("TRUNCATE " + ", ".join(names) + " RESTART IDENTITY CASCADE")
        else:
            for n in names:
                conn.exec_driver_sql(f"DELETE FROM {n}")


@pytest.fixture
def store(migrated_store: Store) -> Store:
    _empty(migrated_store)
    migrated_store.caches.clear()  # derived configuration of the emptied tables
    with migrated_store.write() as conn:
        users.ensure_org(conn, "default", "Test desk", migrated_store.now())
        users.ensure_org(conn, "other", "Another NGO", migrated_store.now())
    return migrated_store


@pytest.fixture
def desk(store: Store) -> CaseDesk:
    return CaseDesk(store)


@dataclass(frozen=True)
class Account:
    principal: Principal
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def make_account(
    store: Store, role: Role, username: str, org: str = "default", password: str | None = None
) -> Account:
    from datetime import timedelta

    with store.write() as conn:
        org_id = users.org_id_for(conn, org)
        user = users.create_user(
            conn,
            org_id=org_id,
            username=username,
            role=role,
            password=password,
            display_name=None,
            now=store.now(),
        )
        token, _ = users.issue_token(conn, user.id, "test", store.now(), timedelta(hours=1))
    return Account(Principal(user.id, role, org_id, user.username), token)


@pytest.fixture
def accounts(store: Store) -> dict[str, Account]:
    """One account per role in the default organisation, a second reporter, and a coordinator
    of another organisation (for cross-organisation checks)."""
    # Argon2 is slow by design: only the accounts that tests sign in with get a password.
    made = {
        str(r): make_account(
            store, r, f"{r}-user", password=PASSWORD if r in (Role.ADMIN, Role.RESPONDER) else None
        )
        for r in Role
    }
    made["reporter2"] = make_account(store, Role.REPORTER, "reporter-two")
    made["other_coordinator"] = make_account(store, Role.COORDINATOR, "other-coord", "other")
    return made


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    app = create_app(store.settings, store)
    with TestClient(app) as c:
        yield c
