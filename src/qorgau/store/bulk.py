"""Multi-row INSERTs for the intake hot path, with parameters converted before the write lock.

SQLAlchemy compiles a statement and processes every parameter of every row on each call; on
the busiest path that Python work happened inside the database's write lock, where it is
serialised. Here the SQL is rendered once per table and dialect, each row becomes a tuple
through SQLAlchemy's own bind processors (so values are stored exactly as the ORM-level code
stores them) while the request is prepared, and the locked section only hands ready tuples to
the driver's ``executemany``. Child rows are prepared with their incident's public id in the
first place, swapped for the incident id once the parents are in (one query for all of them;
a per-row sub-select let PostgreSQL keep a plan made when the table was empty).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import sqlalchemy as sa

Processor = Callable[[Any], Any] | None


class BulkInsert:
    def __init__(self, table: sa.Table, dialect: sa.Dialect, *, via_public_id: bool) -> None:
        self.table = table
        self.columns = [
            c
            for c in table.columns
            if not (c.primary_key and c.autoincrement is not False and c.name == "id")
        ]
        if via_public_id:
            self.columns = [c for c in self.columns if c.name != "incident_id"]
        self.via_public_id = via_public_id
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        names = [c.name for c in self.columns]
        if via_public_id:
            names.insert(0, "incident_id")
        values = [mark] * len(names)
        quote = dialect.identifier_preparer.quote
        self.sql = (
            f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) "
            f"VALUES ({', '.join(values)})"
        )
        self._processors: list[Processor] = [
            _json_dumps if isinstance(c.type, sa.JSON) else c.type.bind_processor(dialect)
            for c in self.columns
        ]

    def row(self, values: dict[str, Any], public_id: str | None = None) -> tuple[Any, ...]:
        """One row as driver-ready parameters; missing columns are NULL."""
        out: list[Any] = [public_id] if self.via_public_id else []
        for column, process in zip(self.columns, self._processors, strict=True):
            value = values.get(column.name)
            out.append(process(value) if process is not None and value is not None else value)
        return tuple(out)

    def execute(
        self,
        conn: sa.Connection,
        rows: Sequence[tuple[Any, ...]],
        incident_ids: dict[str, int] | None = None,
    ) -> None:
        """Insert ``rows``; child rows get their incident id from ``incident_ids``."""
        if not rows:
            return
        if self.via_public_id:
            assert incident_ids is not None
            rows = [(incident_ids[r[0]], *r[1:]) for r in rows]
        conn.exec_driver_sql(self.sql, list(rows))


def _json_dumps(value: Any) -> str:
    """JSON as SQLAlchemy's default serializer writes it; PostgreSQL casts the text."""
    return json.dumps(value)


@lru_cache(maxsize=32)
def bulk_insert(
    table: sa.Table, dialect_name: str, dialect: sa.Dialect, via_public_id: bool
) -> BulkInsert:
    return BulkInsert(table, dialect, via_public_id=via_public_id)
