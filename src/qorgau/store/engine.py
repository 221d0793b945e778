"""Database engines for the embedded default (SQLite) and the scale path (PostgreSQL).

SQLite runs in WAL mode with ``synchronous=FULL`` so that an acknowledged report survives a
power cut, with foreign keys on (they are off by default in SQLite).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from qorgau.errors import ConfigurationError

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=10000",
    # Erased and re-encrypted values are overwritten on their page instead of lingering in
    # free space, where a copy of the file would still show them (FAST: no extra I/O).
    "PRAGMA secure_delete=FAST",
)


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy manage transactions: stop pysqlite's own implicit BEGIN handling.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    for pragma in SQLITE_PRAGMAS:
        cur.execute(pragma)
    cur.close()


def _sqlite_on_begin(conn: sa.Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("write") else "BEGIN")


def make_engine(url: str, *, pool_size: int = 10) -> sa.Engine:
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ConfigurationError(f"database URL {url!r} is not valid: {exc}") from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            parsed,
            connect_args={"check_same_thread": False, "timeout": 10},
            pool_size=pool_size,
            max_overflow=20,
        )
        sa.event.listen(engine, "connect", _sqlite_on_connect)
        sa.event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return sa.create_engine(parsed, pool_size=pool_size, max_overflow=20, pool_pre_ping=True)
    raise ConfigurationError(
        f"unsupported database {parsed.get_backend_name()!r}; use sqlite or postgresql"
    )


class WriteGate:
    """Serialises writers on SQLite, where only one write transaction can run at a time.

    Writers queue on a thread lock and, across server processes, on an ``flock`` of a file
    beside the database. A blocked ``flock`` wakes the moment the holder lets go, whereas
    SQLite's own busy handler sleeps in growing steps (up to 100 ms) and retries — which made
    two server processes slower than one. On PostgreSQL the gate is open: row locks do the work.
    """

    def __init__(self, serialise: bool, lock_path: Path | None = None) -> None:
        self._lock: threading.Lock | None = threading.Lock() if serialise else None
        self._fd: int | None = None
        if serialise and lock_path is not None:
            self._fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        if self._lock is None:
            yield
            return
        with self._lock:
            if self._fd is None:
                yield
                return
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@contextlib.contextmanager
def write_transaction(engine: sa.Engine, gate: WriteGate) -> Iterator[sa.Connection]:
    with gate.hold(), engine.connect() as conn:
        conn.info["write"] = True
        try:
            with conn.begin():
                yield conn
        finally:
            conn.info.pop("write", None)
