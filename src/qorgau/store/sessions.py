"""A person's live sessions and API tokens, listed and revoked by their row id.

A token's value exists only in the response that issued it; what a person sees afterwards is
the row id, its name and its dates, so a session list on a shared screen or in a log gives no
one a way in. Revocation is a timestamp on the row, which ``users.principal_for_token`` refuses
at the very next request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from qorgau.security.tokens import token_digest
from qorgau.store.tables import api_tokens

# The name every browser session's token carries (see account_desk.SignInDesk.open_session).
WEB_SESSION_NAME = "web session"
# A browser session lasts at most a working day, whatever the configuration asks for: an
# unattended, signed-in browser at a newsroom is a way into every case.
MAX_WEB_SESSION = timedelta(hours=12)


def web_session_ttl(configured_hours: int) -> timedelta:
    return min(timedelta(hours=configured_hours), MAX_WEB_SESSION)


@dataclass(frozen=True)
class SessionInfo:
    id: int
    name: str
    kind: str  # "web" or "api"
    created_at: datetime
    expires_at: datetime
    current: bool


def _live(user_id: int, now: datetime) -> sa.ColumnElement[bool]:
    c = api_tokens.c
    return sa.and_(c.user_id == user_id, c.revoked_at.is_(None), c.expires_at > now)


def list_live(
    conn: sa.Connection, user_id: int, now: datetime, current_token: str | None
) -> list[SessionInfo]:
    """Sessions and tokens that still work, newest first; ``current`` marks the caller's."""
    c = api_tokens.c
    mine = token_digest(current_token) if current_token else None
    rows = conn.execute(
        sa.select(c.id, c.name, c.created_at, c.expires_at, c.digest)
        .where(_live(user_id, now))
        .order_by(c.created_at.desc(), c.id.desc())
    ).all()
    return [
        SessionInfo(
            int(r.id),
            str(r.name),
            "web" if r.name == WEB_SESSION_NAME else "api",
            r.created_at,
            r.expires_at,
            r.digest == mine,
        )
        for r in rows
    ]


def id_for_token(conn: sa.Connection, token: str) -> int | None:
    found = conn.execute(
        sa.select(api_tokens.c.id).where(api_tokens.c.digest == token_digest(token))
    ).scalar_one_or_none()
    return int(found) if found is not None else None


def revoke_one(conn: sa.Connection, user_id: int, session_id: int, now: datetime) -> bool:
    """Revoke one live session of ``user_id``; False if it is not theirs or already gone."""
    res = conn.execute(
        api_tokens.update()
        .where(api_tokens.c.id == session_id, _live(user_id, now))
        .values(revoked_at=now)
    )
    return bool(res.rowcount)


def revoke_all(
    conn: sa.Connection, user_id: int, now: datetime, keep_token: str | None = None
) -> int:
    """Revoke every live session of ``user_id`` except the one of ``keep_token``; how many."""
    cond = _live(user_id, now)
    if keep_token:
        cond = sa.and_(cond, api_tokens.c.digest != token_digest(keep_token))
    res = conn.execute(api_tokens.update().where(cond).values(revoked_at=now))
    return int(res.rowcount or 0)
