"""Table rows as engine-neutral JSON, and back.

Why not the database's own dump: a ``pg_dump`` does not load into SQLite, nor a SQLite file
into PostgreSQL, and a small desk that grows must be able to move. Each value is written by
what its column *is* in the schema (not by how one engine happens to hold it), so the same
backup loads into either engine and reads back as the same Python values.

JSON columns need one care: SQL NULL and a JSON ``null`` are different stored values (a query
for ``IS NULL`` tells them apart), so a JSON value is written wrapped as ``[value]`` and SQL
NULL as a bare ``null``. A column type this module does not know stops the backup rather than
being written in a way that might not load back.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import orjson
import sqlalchemy as sa

from qorgau.backup.crypto import BackupError
from qorgau.store.types import UTCDateTime

Encode = Callable[[Any], Any]
Decode = Callable[[Any], Any]


def _same(value: Any) -> Any:
    return value


def _iso(value: Any) -> Any:
    return None if value is None else value.isoformat()


def _from_iso_datetime(value: Any) -> Any:
    return None if value is None else datetime.fromisoformat(value)


def _from_iso_date(value: Any) -> Any:
    return None if value is None else date.fromisoformat(value)


def _b64(value: Any) -> Any:
    return None if value is None else base64.b64encode(bytes(value)).decode("ascii")


def _from_b64(value: Any) -> Any:
    return None if value is None else base64.b64decode(value)


def _from_json(value: Any) -> Any:
    if value is None:
        return sa.null()
    return sa.JSON.NULL if value[0] is None else value[0]


def codec(column: sa.Column[Any]) -> tuple[Encode, Decode]:
    kind = column.type
    if isinstance(kind, UTCDateTime | sa.DateTime):
        return _iso, _from_iso_datetime
    if isinstance(kind, sa.Date):
        return _iso, _from_iso_date
    if isinstance(kind, sa.JSON):
        return _same, _from_json  # wrapped by the reader, see ``select_rows``
    if isinstance(kind, sa.LargeBinary):
        return _b64, _from_b64
    if isinstance(kind, sa.Boolean | sa.Integer | sa.Float | sa.String):
        return _same, _same
    raise BackupError(
        f"column {column.table.name}.{column.name} has type {kind!r}, which backups do not know"
        " how to write; this is a bug in Qorgau, please report it"
    )


def select_rows(table: sa.Table) -> tuple[sa.Select[Any], Callable[[Any], bytes]]:
    """The query reading ``table`` in primary-key order, and the function turning one of its
    rows into a JSON line."""
    columns = list(table.columns)
    encoders = [codec(c)[0] for c in columns]
    json_positions = [i for i, c in enumerate(columns) if isinstance(c.type, sa.JSON)]
    flags = [columns[i].is_(None) for i in json_positions]
    query = sa.select(*columns, *flags).order_by(*table.primary_key.columns)
    width = len(columns)

    def line(row: Any) -> bytes:
        values = [enc(row[i]) for i, enc in enumerate(encoders)]
        for n, i in enumerate(json_positions):
            values[i] = None if row[width + n] else [row[i]]
        try:
            return orjson.dumps(values) + b"\n"
        except TypeError:  # e.g. an integer beyond 64 bits inside a JSON value
            return json.dumps(values, ensure_ascii=False).encode("utf-8") + b"\n"

    return query, line


def row_decoder(table: sa.Table, names: list[str]) -> Callable[[bytes], dict[str, Any]]:
    """Turn a JSON line back into insert parameters, by the column names the backup lists."""
    by_name = {c.name: c for c in table.columns}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise BackupError(
            f"the backup has columns {', '.join(unknown)} in table {table.name}, which this"
            " Qorgau's schema lacks; restore with the Qorgau version that made the backup"
        )
    decoders = [codec(by_name[n])[1] for n in names]

    def decode(raw: bytes) -> dict[str, Any]:
        values = orjson.loads(raw)
        if not isinstance(values, list) or len(values) != len(names):
            raise BackupError(f"the backup's rows of table {table.name} are malformed")
        return {n: dec(v) for n, dec, v in zip(names, decoders, values, strict=True)}

    return decode
