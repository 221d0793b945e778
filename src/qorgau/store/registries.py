"""The registries detectors read, one encrypted JSON document per organisation and kind.

A registry is replaced whole, after the desk has checked it: keeping the document rather than
a row per entry means what the detectors are configured with is exactly what was imported
and checked, never a mix of an old and a new file."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa

from qorgau.errors import Conflict, InvalidInput
from qorgau.security.fields import FieldCipher
from qorgau.store.tables import detector_registries

KINDS = ("protected", "media")
_AAD = "detector_registries.body"


def save(
    conn: sa.Connection,
    cipher: FieldCipher,
    org_id: int,
    kind: str,
    document: dict[str, Any],
    entries: int,
    now: datetime,
) -> int:
    """Replace the organisation's registry of ``kind``; returns its new version."""
    if kind not in KINDS:
        raise InvalidInput.single("kind", "choice", f"unknown registry {kind!r}", KINDS)
    r = detector_registries.c
    current = conn.execute(
        sa.select(r.version).where(r.org_id == org_id, r.kind == kind)
    ).scalar_one_or_none()
    body = cipher.encrypt(orjson.dumps(document, option=orjson.OPT_SORT_KEYS).decode(), _AAD)
    version = (current or 0) + 1
    values = {"body": body, "version": version, "entries": entries, "updated_at": now}
    if current is None:
        conn.execute(detector_registries.insert().values(org_id=org_id, kind=kind, **values))
    else:
        done = conn.execute(
            detector_registries.update()
            .where(r.org_id == org_id, r.kind == kind, r.version == current)
            .values(**values)
        )
        if done.rowcount != 1:
            raise Conflict("the registry was changed by someone else meanwhile; import again")
    return version


def load(conn: sa.Connection, cipher: FieldCipher, org_id: int, kind: str) -> dict[str, Any] | None:
    r = detector_registries.c
    body = conn.execute(
        sa.select(r.body).where(r.org_id == org_id, r.kind == kind)
    ).scalar_one_or_none()
    if body is None:
        return None
    doc = orjson.loads(cipher.decrypt(body, _AAD) or "{}")
    return doc if isinstance(doc, dict) else None


def versions(conn: sa.Connection, org_id: int) -> dict[str, tuple[int, int, datetime]]:
    """kind -> (version, entries, updated_at): what workers compare to know when to reload."""
    r = detector_registries.c
    rows = conn.execute(
        sa.select(r.kind, r.version, r.entries, r.updated_at).where(r.org_id == org_id)
    )
    return {row.kind: (int(row.version), int(row.entries), row.updated_at) for row in rows}
