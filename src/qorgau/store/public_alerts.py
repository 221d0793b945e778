"""Alerts the organisation has published, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from qorgau.store.tables import public_alerts


@dataclass(frozen=True)
class PublicAlert:
    public_id: str
    texts: dict[str, dict[str, str]]  # lang -> {"title", "summary"}
    published_at: datetime


def insert(
    conn: sa.Connection,
    *,
    org_id: int,
    public_id: str,
    incident_id: int | None,
    texts: dict[str, dict[str, str]],
    at: datetime,
    actor_id: int | None,
) -> None:
    conn.execute(
        public_alerts.insert(),
        {
            "org_id": org_id,
            "public_id": public_id,
            "incident_id": incident_id,
            "texts": texts,
            "published_at": at,
            "created_by": actor_id,
        },
    )


def latest(conn: sa.Connection, org_id: int, limit: int) -> list[PublicAlert]:
    a = public_alerts.c
    rows = conn.execute(
        sa.select(a.public_id, a.texts, a.published_at)
        .where(a.org_id == org_id)
        .order_by(a.published_at.desc(), a.id.desc())
        .limit(limit)
    )
    out: list[PublicAlert] = []
    for public_id, texts, at in rows:
        t: dict[str, Any] = texts or {}
        out.append(PublicAlert(public_id, {k: dict(v) for k, v in t.items()}, at))
    return out
