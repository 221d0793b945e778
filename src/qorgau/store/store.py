"""The opened store: engine, write gate, field cipher and taxonomy, built once per process."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from qorgau.config import Settings
from qorgau.domain.taxonomy import Taxonomy, load_taxonomy
from qorgau.errors import ConfigurationError
from qorgau.security.fields import FieldCipher
from qorgau.security.keys import load_keyring
from qorgau.store import migrate
from qorgau.store.engine import WriteGate, make_engine, write_transaction

SIGNALS = "qorgau.signals"


def signal(conn: sa.Connection, name: str) -> None:
    """Ask for the store's commit listeners to hear ``name`` once this transaction commits."""
    signals = conn.info.get(SIGNALS)
    if signals is not None:
        signals.add(name)


@dataclass
class Store:
    settings: Settings
    engine: sa.Engine
    gate: WriteGate
    cipher: FieldCipher
    taxonomy: Taxonomy
    # Called after a write transaction commits with the signals its statements raised
    # (``signal(conn, name)``), e.g. "deliveries" to wake the alert dispatcher at once
    # instead of at its next poll. Never called for a rolled-back transaction.
    commit_listeners: list[Callable[[frozenset[str]], None]] = field(default_factory=list)
    # Per-process caches of derived configuration, keyed by owner (see store.response_docs).
    caches: dict[str, Any] = field(default_factory=dict)

    @contextlib.contextmanager
    def read(self) -> Iterator[sa.Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def write(self) -> Iterator[sa.Connection]:
        with write_transaction(self.engine, self.gate) as conn:
            conn.info[SIGNALS] = set()
            try:
                yield conn
            except BaseException:
                conn.info.pop(SIGNALS, None)
                raise
            raised = frozenset(conn.info.pop(SIGNALS, ()))
        if raised:
            for listener in list(self.commit_listeners):
                listener(raised)

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)

    def check_schema(self) -> None:
        current = migrate.current_revision(self.engine)
        head = migrate.head_revision()
        if current != head:
            raise ConfigurationError(
                f"the database schema is at {current or 'nothing'}, this version needs {head};"
                " run 'qorgau migrate' (or 'qorgau init' for a new installation)"
            )

    def close(self) -> None:
        self.engine.dispose()
        self.gate.close()


def open_store(settings: Settings, *, create_keys: bool = False, pool_size: int = 10) -> Store:
    ring = load_keyring(settings.resolved_key_file, create=create_keys)
    engine = make_engine(settings.resolved_database_url, pool_size=pool_size)
    is_sqlite = engine.dialect.name == "sqlite"
    return Store(
        settings=settings,
        engine=engine,
        gate=WriteGate(serialise=is_sqlite, lock_path=_lock_path(engine) if is_sqlite else None),
        cipher=FieldCipher(ring),
        taxonomy=load_taxonomy(settings.taxonomy_file),
    )


def _lock_path(engine: sa.Engine) -> Path | None:
    database = engine.url.database
    if not database or database == ":memory:":
        return None
    return Path(database).with_name(Path(database).name + ".write-lock")
