"""Stored WebAuthn credentials (security keys and passkeys) of staff accounts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from qorgau.errors import Conflict, NotFound
from qorgau.store.tables import security_keys

MAX_KEYS_PER_USER = 10


@dataclass(frozen=True)
class StoredKey:
    id: int
    user_id: int
    credential_id: str  # base64url, as the browser names it
    public_key: bytes
    sign_count: int
    label: str
    created_at: datetime
    last_used_at: datetime | None


def _key(m: sa.RowMapping) -> StoredKey:
    return StoredKey(
        m["id"],
        m["user_id"],
        m["credential_id"],
        bytes(m["public_key"]),
        m["sign_count"],
        m["label"],
        m["created_at"],
        m["last_used_at"],
    )


def keys_of(conn: sa.Connection, user_id: int) -> list[StoredKey]:
    rows = conn.execute(
        sa.select(security_keys)
        .where(security_keys.c.user_id == user_id)
        .order_by(security_keys.c.id)
    ).mappings()
    return [_key(m) for m in rows]


def count_of(conn: sa.Connection, user_id: int) -> int:
    return int(
        conn.execute(
            sa.select(sa.func.count()).where(security_keys.c.user_id == user_id)
        ).scalar_one()
    )


def add_key(
    conn: sa.Connection,
    user_id: int,
    credential_id: str,
    public_key: bytes,
    sign_count: int,
    label: str,
    now: datetime,
) -> StoredKey:
    if count_of(conn, user_id) >= MAX_KEYS_PER_USER:
        raise Conflict("an account holds at most 10 security keys; remove one first")
    taken = conn.execute(
        sa.select(security_keys.c.id).where(security_keys.c.credential_id == credential_id)
    ).first()
    if taken is not None:
        raise Conflict(
            "this security key is already registered; sign in with it, or add a different key"
        )
    new_id = conn.execute(
        security_keys.insert()
        .values(
            user_id=user_id,
            credential_id=credential_id,
            public_key=public_key,
            sign_count=sign_count,
            label=label,
            created_at=now,
        )
        .returning(security_keys.c.id)
    ).scalar_one()
    return StoredKey(new_id, user_id, credential_id, public_key, sign_count, label, now, None)


def record_use(conn: sa.Connection, key: StoredKey, new_sign_count: int, now: datetime) -> bool:
    """Store the authenticator's new counter, only if nobody used the key meanwhile: a cloned
    key or a replayed assertion shows up as a counter that does not move forward."""
    result = conn.execute(
        security_keys.update()
        .where(security_keys.c.id == key.id, security_keys.c.sign_count == key.sign_count)
        .values(sign_count=new_sign_count, last_used_at=now)
    )
    return result.rowcount == 1


def remove_key(conn: sa.Connection, user_id: int, key_id: int) -> StoredKey:
    row = (
        conn.execute(
            sa.select(security_keys).where(
                security_keys.c.id == key_id, security_keys.c.user_id == user_id
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"security key {key_id} not found")
    conn.execute(security_keys.delete().where(security_keys.c.id == key_id))
    return _key(row)


def remove_all(conn: sa.Connection, user_id: int) -> int:
    return conn.execute(security_keys.delete().where(security_keys.c.user_id == user_id)).rowcount
