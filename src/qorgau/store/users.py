"""Organisations, user accounts and API tokens."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from qorgau.domain.model import Principal, Role, User
from qorgau.errors import AuthenticationRequired, Conflict, InvalidInput, NotFound
from qorgau.security.fields import FieldCipher
from qorgau.security.passwords import hash_password, verify_password
from qorgau.security.tokens import new_token, token_digest
from qorgau.store.sessions import WEB_SESSION_NAME
from qorgau.store.tables import api_tokens, organisations, users

USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789._-")


def ensure_org(conn: sa.Connection, slug: str, name: str, now: datetime) -> int:
    existing = conn.execute(
        sa.select(organisations.c.id).where(organisations.c.slug == slug)
    ).scalar_one_or_none()
    if existing is not None:
        return int(existing)
    return int(
        conn.execute(
            organisations.insert().returning(organisations.c.id),
            {"slug": slug, "name": name, "created_at": now},
        ).scalar_one()
    )


def org_id_for(conn: sa.Connection, slug: str) -> int:
    oid = conn.execute(
        sa.select(organisations.c.id).where(organisations.c.slug == slug)
    ).scalar_one_or_none()
    if oid is None:
        raise NotFound(f"organisation {slug!r} does not exist; run 'qorgau init' first")
    return int(oid)


def org_name(conn: sa.Connection, org_id: int) -> str:
    name = conn.execute(
        sa.select(organisations.c.name).where(organisations.c.id == org_id)
    ).scalar_one_or_none()
    if name is None:
        raise NotFound(f"organisation {org_id} does not exist")
    return str(name)


def _user(m: sa.RowMapping) -> User:
    return User(
        m["id"], m["username"], Role(m["role"]), m["org_id"], m["display_name"], m["active"]
    )


def check_username(username: str) -> str:
    u = username.strip().lower()
    if not (2 <= len(u) <= 64) or not set(u) <= USERNAME_CHARS:
        raise InvalidInput.single(
            "username", "pattern", "use 2-64 characters: latin letters, digits, '.', '_' or '-'"
        )
    return u


def create_user(
    conn: sa.Connection,
    *,
    org_id: int,
    username: str,
    role: Role,
    password: str | None,
    display_name: str | None,
    now: datetime,
) -> User:
    name = check_username(username)
    taken = conn.execute(sa.select(users.c.id).where(users.c.username == name)).first()
    if taken:
        raise Conflict(f"the username {name!r} is taken")
    row = {
        "org_id": org_id,
        "username": name,
        "display_name": display_name or name,
        "role": str(role),
        "password_hash": hash_password(password) if password else None,
        "active": True,
        "created_at": now,
    }
    uid = conn.execute(users.insert().returning(users.c.id), row).scalar_one()
    return User(uid, name, role, org_id, display_name or name, True)


def get_user(conn: sa.Connection, user_id: int) -> User:
    r = conn.execute(sa.select(users).where(users.c.id == user_id)).mappings().first()
    if r is None:
        raise NotFound(f"user {user_id} not found")
    return _user(r)


def list_users(conn: sa.Connection, org_id: int, limit: int, offset: int) -> tuple[list[User], int]:
    where = users.c.org_id == org_id
    total = conn.execute(sa.select(sa.func.count()).select_from(users).where(where)).scalar_one()
    rows = conn.execute(
        sa.select(users).where(where).order_by(users.c.id).limit(limit).offset(offset)
    ).mappings()
    return [_user(r) for r in rows], int(total)


def set_active(conn: sa.Connection, user_id: int, active: bool) -> None:
    conn.execute(users.update().where(users.c.id == user_id).values(active=active))
    if not active:
        conn.execute(
            api_tokens.update()
            .where(api_tokens.c.user_id == user_id, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=sa.func.current_timestamp())
        )


def authenticate_password(conn: sa.Connection, username: str, password: str) -> User:
    r = (
        conn.execute(sa.select(users).where(users.c.username == username.strip().lower()))
        .mappings()
        .first()
    )
    ok = verify_password(r["password_hash"] if r else None, password)
    if r is None or not ok or not r["active"]:
        raise AuthenticationRequired("wrong username or password")
    return _user(r)


def issue_token(
    conn: sa.Connection, user_id: int, name: str, now: datetime, ttl: timedelta
) -> tuple[str, datetime]:
    token = new_token()
    expires = now + ttl
    conn.execute(
        api_tokens.insert(),
        {
            "user_id": user_id,
            "digest": token_digest(token),
            "name": name[:100],
            "created_at": now,
            "expires_at": expires,
            "revoked_at": None,
        },
    )
    return token, expires


def revoke_token(conn: sa.Connection, token: str, now: datetime) -> bool:
    res = conn.execute(
        api_tokens.update()
        .where(api_tokens.c.digest == token_digest(token), api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return bool(res.rowcount)


def principal_for_token(
    conn: sa.Connection,
    token: str,
    now: datetime,
    *,
    session_max: timedelta | None = None,
    token_max: timedelta | None = None,
) -> Principal:
    """The signed-in person, or a refusal. ``session_max`` and ``token_max`` cap the age of a
    web session and of an API token from its creation, whatever expiry it was issued with: a
    lowered TTL in the configuration then takes effect on tokens already out there."""
    r = conn.execute(
        sa.select(
            users.c.id,
            users.c.username,
            users.c.role,
            users.c.org_id,
            users.c.active,
            api_tokens.c.name,
            api_tokens.c.created_at,
            api_tokens.c.expires_at,
            api_tokens.c.revoked_at,
        )
        .join(api_tokens, api_tokens.c.user_id == users.c.id)
        .where(api_tokens.c.digest == token_digest(token))
    ).first()
    if r is None or r.revoked_at is not None or not r.active:
        raise AuthenticationRequired("the API token is not valid; sign in again")
    cap = session_max if r.name == WEB_SESSION_NAME else token_max
    if r.expires_at <= now or (cap is not None and r.created_at + cap <= now):
        raise AuthenticationRequired("the API token has expired; sign in again")
    return Principal(r.id, Role(r.role), r.org_id, r.username)


# -- two-factor sign-in ----------------------------------------------------------------------
TOTP_CONTEXT = "users.totp_secret"


def user_by_name(conn: sa.Connection, username: str) -> User | None:
    r = (
        conn.execute(sa.select(users).where(users.c.username == username.strip().lower()))
        .mappings()
        .first()
    )
    return _user(r) if r else None


def totp_state(
    conn: sa.Connection, cipher: FieldCipher, user_id: int
) -> tuple[str | None, str | None, int | None]:
    """(active secret, secret being enrolled, last accepted time step), decrypted."""
    r = conn.execute(
        sa.select(users.c.totp_secret, users.c.totp_pending, users.c.totp_last_counter).where(
            users.c.id == user_id
        )
    ).first()
    if r is None:
        raise NotFound(f"user {user_id} not found")
    return (
        cipher.decrypt(r.totp_secret, TOTP_CONTEXT),
        cipher.decrypt(r.totp_pending, TOTP_CONTEXT),
        r.totp_last_counter,
    )


def set_totp_pending(conn: sa.Connection, cipher: FieldCipher, user_id: int, secret: str) -> None:
    conn.execute(
        users.update()
        .where(users.c.id == user_id)
        .values(totp_pending=cipher.encrypt(secret, TOTP_CONTEXT))
    )


def enable_totp(
    conn: sa.Connection, cipher: FieldCipher, user_id: int, secret: str, step: int, now: datetime
) -> None:
    conn.execute(
        users.update()
        .where(users.c.id == user_id)
        .values(
            totp_secret=cipher.encrypt(secret, TOTP_CONTEXT),
            totp_pending=None,
            totp_enabled_at=now,
            totp_last_counter=step,
        )
    )


def lock_for_attempt(conn: sa.Connection, user_id: int) -> None:
    """Serialise second-factor attempts of one account until the transaction ends. Counting
    past failures and recording this one must be one step: otherwise concurrent guesses on
    PostgreSQL (READ COMMITTED) all see the same count and all get tried. SQLite's write
    transactions are serialised already, and it has no FOR UPDATE."""
    conn.execute(sa.select(users.c.id).where(users.c.id == user_id).with_for_update())


def record_totp_step(conn: sa.Connection, user_id: int, step: int) -> bool:
    """Store the step of an accepted code; False if a concurrent sign-in used it first."""
    c = users.c
    res = conn.execute(
        users.update()
        .where(
            c.id == user_id,
            sa.or_(c.totp_last_counter.is_(None), c.totp_last_counter < step),
        )
        .values(totp_last_counter=step)
    )
    return bool(res.rowcount)


def reset_totp(conn: sa.Connection, user_id: int) -> None:
    """Forget the user's second factors (a lost phone, its security keys): they enrol again at
    the next sign-in, and every session and token they had is revoked."""
    conn.execute(
        users.update()
        .where(users.c.id == user_id)
        .values(totp_secret=None, totp_pending=None, totp_enabled_at=None, totp_last_counter=None)
    )
    from qorgau.store.tables import security_keys  # a lost phone often goes with a lost key

    conn.execute(security_keys.delete().where(security_keys.c.user_id == user_id))
    conn.execute(
        api_tokens.update()
        .where(api_tokens.c.user_id == user_id, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=sa.func.current_timestamp())
    )


def two_factor_users(conn: sa.Connection, org_id: int) -> set[int]:
    rows = conn.execute(
        sa.select(users.c.id).where(users.c.org_id == org_id, users.c.totp_secret.is_not(None))
    ).scalars()
    return {int(r) for r in rows}


def users_with_recent(
    conn: sa.Connection, org_id: int, tags: tuple[str, ...], since: datetime
) -> set[int]:
    """Accounts of ``org_id`` with an audit event of one of ``tags`` since ``since``."""
    from qorgau.store.tables import audit_events

    a = audit_events.c
    rows = conn.execute(
        sa.select(users.c.id).where(
            users.c.org_id == org_id,
            sa.exists().where(
                a.entity == "user",
                a.entity_id == sa.cast(users.c.id, sa.String),
                a.tag.in_(tags),
                a.at >= since,
            ),
        )
    ).scalars()
    return {int(r) for r in rows}


def set_role(conn: sa.Connection, user_id: int, role: Role) -> None:
    conn.execute(users.update().where(users.c.id == user_id).values(role=str(role)))


def set_password(conn: sa.Connection, user_id: int, password: str) -> None:
    conn.execute(
        users.update().where(users.c.id == user_id).values(password_hash=hash_password(password))
    )


def change_password(
    conn: sa.Connection, user_id: int, password: str, now: datetime, keep_token: str | None
) -> int:
    """A new password, and every session and token but ``keep_token`` revoked: whoever knew
    the old password may have signed in with it. Returns how many were revoked."""
    set_password(conn, user_id, password)
    keep = api_tokens.c.digest != token_digest(keep_token) if keep_token else sa.true()
    res = conn.execute(
        api_tokens.update()
        .where(api_tokens.c.user_id == user_id, api_tokens.c.revoked_at.is_(None), keep)
        .values(revoked_at=now)
    )
    return int(res.rowcount or 0)


def password_matches(conn: sa.Connection, user_id: int, password: str) -> bool:
    stored = conn.execute(
        sa.select(users.c.password_hash).where(users.c.id == user_id)
    ).scalar_one_or_none()
    return verify_password(stored, password)


def reset_totp_secret_only(conn: sa.Connection, user_id: int) -> None:
    """Forget a second factor without revoking tokens (the demo re-issues both at once)."""
    conn.execute(
        users.update()
        .where(users.c.id == user_id)
        .values(totp_secret=None, totp_pending=None, totp_enabled_at=None, totp_last_counter=None)
    )


def failure_times(
    conn: sa.Connection,
    tag: str,
    entity: str,
    entity_id: str,
    since: datetime,
    limit: int,
    cleared_by: str | None = None,
) -> list[datetime]:
    """When the latest ``limit`` failures ``tag`` against one entity since ``since`` happened,
    newest first, from the audit log (sign-in lockouts count these). With ``cleared_by``,
    failures up to the latest event of that tag on the entity no longer count: an
    administrator's early unlock is itself an audit row, so the count needs no other state."""
    from qorgau.store.tables import audit_events

    a = audit_events.c
    where = [a.tag == tag, a.entity == entity, a.entity_id == entity_id, a.at >= since]
    if cleared_by is not None:
        cleared = (
            sa.select(sa.func.max(a.at))
            .where(a.tag == cleared_by, a.entity == entity, a.entity_id == entity_id)
            .scalar_subquery()
        )
        where.append(sa.or_(cleared.is_(None), a.at > cleared))
    return list(
        conn.execute(sa.select(a.at).where(*where).order_by(a.at.desc()).limit(limit)).scalars()
    )
