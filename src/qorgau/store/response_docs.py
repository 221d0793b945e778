"""Versioned response documents (roster, clocks, playbooks...) and the per-organisation cache.

Saving appends a new version; the latest version of each kind is in force. Documents that can
hold secrets (the channels document carries webhook signing secrets) are stored encrypted.
The cache answers intake without a query per report: it re-reads an organisation's documents at
most every ``TTL_SECONDS`` (and at once after a save in this process), so a change made through
another server process takes effect within that time.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from qorgau.domain.model import Role
from qorgau.response.catalogue import ResponseConfig, Shipped, effective, validate_document
from qorgau.security.fields import FieldCipher
from qorgau.store.store import Store
from qorgau.store.tables import response_documents, users

ENCRYPTED_KINDS = ("channels",)
TTL_SECONDS = 2.0


def _encode(cipher: FieldCipher, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    if kind in ENCRYPTED_KINDS:
        token = cipher.encrypt(json.dumps(body, ensure_ascii=False), "response_documents.body")
        return {"encrypted": token}
    return body


def _decode(cipher: FieldCipher, kind: str, stored: dict[str, Any]) -> dict[str, Any]:
    if kind in ENCRYPTED_KINDS and "encrypted" in stored:
        raw = cipher.decrypt(stored["encrypted"], "response_documents.body") or "{}"
        body: dict[str, Any] = json.loads(raw)
        return body
    return stored


def active_users(conn: sa.Connection, org_id: int) -> dict[str, str]:
    rows = conn.execute(
        sa.select(users.c.username, users.c.role).where(
            users.c.org_id == org_id, users.c.active.is_(True)
        )
    )
    return {u: r for u, r in rows}


def save_document(
    conn: sa.Connection,
    store: Store,
    org_id: int,
    kind: str,
    body: dict[str, Any],
    user_id: int | None,
    now: datetime,
) -> int:
    """Validate then append a new version; raises ``InvalidInput`` and stores nothing if bad."""
    validate_document(kind, body, store.taxonomy, active_users(conn, org_id))
    c = response_documents.c
    latest = conn.execute(
        sa.select(sa.func.max(c.version)).where(c.org_id == org_id, c.kind == kind)
    ).scalar()
    version = int(latest or 0) + 1
    conn.execute(
        response_documents.insert().values(
            org_id=org_id,
            kind=kind,
            version=version,
            body=_encode(store.cipher, kind, body),
            created_at=now,
            created_by=user_id,
        )
    )
    cache(store).invalidate(org_id)
    return version


def latest_documents(
    conn: sa.Connection, cipher: FieldCipher, org_id: int
) -> dict[str, tuple[int, dict[str, Any]]]:
    c = response_documents.c
    newest = (
        sa.select(c.kind, sa.func.max(c.version).label("v"))
        .where(c.org_id == org_id)
        .group_by(c.kind)
        .subquery()
    )
    rows = conn.execute(
        sa.select(c.kind, c.version, c.body)
        .join(newest, sa.and_(c.kind == newest.c.kind, c.version == newest.c.v))
        .where(c.org_id == org_id)
    )
    return {k: (v, _decode(cipher, k, b)) for k, v, b in rows}


def coordinators(conn: sa.Connection, org_id: int) -> list[str]:
    """The last resort of every escalation: all active coordinators (admins if there are none)."""
    found = [u for u, r in active_users(conn, org_id).items() if r == Role.COORDINATOR]
    return sorted(found) or sorted(
        u for u, r in active_users(conn, org_id).items() if r == Role.ADMIN
    )


@dataclass(frozen=True)
class PagingDirectory:
    """Who can be paged in an organisation and where: active usernames → ids, the last-resort
    coordinators, and each person's registered channels (decrypted, in memory only)."""

    ids_by_name: dict[str, int]
    coordinators: list[str]
    channels: dict[int, dict[str, str]]


class ConfigCache:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._shipped: Shipped | None = None
        self._entries: dict[int, tuple[float, ResponseConfig]] = {}
        self._directories: dict[int, tuple[float, PagingDirectory]] = {}
        self._lock = threading.Lock()

    def directory(self, org_id: int) -> PagingDirectory:
        """Cached like the documents, so that preparing a batch of reports reads nothing."""
        from qorgau.store.deliveries import user_channels

        now = time.monotonic()
        with self._lock:
            hit = self._directories.get(org_id)
        if hit is not None and now - hit[0] < TTL_SECONDS:
            return hit[1]
        with self._store.read() as conn:
            rows = conn.execute(
                sa.select(users.c.id, users.c.username).where(
                    users.c.org_id == org_id, users.c.active.is_(True)
                )
            ).all()
            ids = {name: uid for uid, name in rows}
            found = PagingDirectory(
                ids_by_name=ids,
                coordinators=coordinators(conn, org_id),
                channels=user_channels(conn, self._store.cipher, ids.values()),
            )
        with self._lock:
            self._directories[org_id] = (now, found)
        return found

    @property
    def shipped(self) -> Shipped:
        if self._shipped is None:
            self._shipped = Shipped.load(self._store.taxonomy)
        return self._shipped

    def for_org(self, org_id: int, conn: sa.Connection | None = None) -> ResponseConfig:
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(org_id)
        if hit is not None and now - hit[0] < TTL_SECONDS:
            return hit[1]
        if conn is not None:
            docs = latest_documents(conn, self._store.cipher, org_id)
        else:
            with self._store.read() as c:
                docs = latest_documents(c, self._store.cipher, org_id)
        config = effective(self.shipped, docs, self._store.taxonomy)
        with self._lock:
            self._entries[org_id] = (now, config)
        return config

    def invalidate(self, org_id: int | None = None) -> None:
        with self._lock:
            if org_id is None:
                self._entries.clear()
                self._directories.clear()
            else:
                self._entries.pop(org_id, None)
                self._directories.pop(org_id, None)


def cache(store: Store) -> ConfigCache:
    found = store.caches.get("response")
    if found is None:
        found = store.caches["response"] = ConfigCache(store)
    assert isinstance(found, ConfigCache)
    return found
