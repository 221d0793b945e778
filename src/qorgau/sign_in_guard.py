"""The checks every sign-in passes, in the browser and for an API token alike.

A password is guessed by trying many; so a name that collected ``sign_in_max_failures`` wrong
passwords within ``sign_in_lockout_minutes`` has its password step closed until the oldest of
them ages out, and then not even the right password opens it. The failures are counted from
the audit log, each written in a transaction of its own so that a refusal is never rolled back
with the request. A name that belongs to no account is counted and locked the same way (under
a keyed hash of the name, never the name itself), and a locked name is refused before any
hashing, so neither the answer nor its timing tells whether an account exists.

Six-digit codes get the same treatment with a smaller allowance (``MAX_CODE_FAILURES``).

An administrator can open both steps of an account early (``UNLOCKED``, say after confirming
by phone that the failures were the owner's own); the failures before that no longer count.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from qorgau.config import Settings
from qorgau.domain.access import STAFF
from qorgau.domain.model import Role, User
from qorgau.errors import AuthenticationRequired, PermissionDenied, TooManyAttempts
from qorgau.security import two_factor
from qorgau.store import audit, users
from qorgau.store.audit import Actor
from qorgau.store.store import Store

# Roles that see cases or aggregates of them sign in with two factors.
TWO_FACTOR_ROLES = frozenset({*STAFF, Role.ANALYST})
MAX_CODE_FAILURES = 5
CODE_FAILURE_WINDOW = timedelta(minutes=15)
PASSWORD_FAILED = "user:sign-in:failed"
CODE_FAILED = "user:2fa:failed"
UNLOCKED = "user:sign-in:unlocked"
# Audit entity for failures against a name no account has (entity_id: keyed hash of it).
UNKNOWN_NAME = "sign-in-name"
NAME_CONTEXT = "sign-in.username"


def lockout_wait(
    failures: list[datetime], allowed: int, window: timedelta, now: datetime
) -> int | None:
    """Seconds until the step opens again, given the latest ``allowed`` failure times (newest
    first) inside ``window``; ``None`` if fewer than ``allowed`` failed."""
    if allowed <= 0 or len(failures) < allowed:
        return None
    opens = min(failures) + window
    return max(1, int((opens - now).total_seconds()) + 1)


def _minutes(seconds: int) -> int:
    return max(1, -(-seconds // 60))


def check_password(store: Store, username: str, password: str, address: str | None) -> User:
    """The account ``username`` names, if ``password`` is its password and the name is not
    locked; a wrong password is recorded (committed) before it is refused."""
    settings = store.settings
    now = store.now()
    name = username.strip().lower()
    with store.read() as conn:
        named = users.user_by_name(conn, name)
        entity, entity_id = (
            ("user", str(named.id))
            if named
            else (UNKNOWN_NAME, store.cipher.blind_index(name, NAME_CONTEXT)[:32])
        )
        wait = _password_wait(conn, settings, entity, entity_id, now)
        if wait is not None:
            raise TooManyAttempts(
                f"too many wrong passwords for this name: wait {_minutes(wait)} min and try "
                "again, or ask an administrator",
                wait,
            )
        try:
            return users.authenticate_password(conn, name, password)
        except AuthenticationRequired:
            pass
    with store.write() as conn:
        audit.record(
            conn,
            audit.audit_row(
                # Filed under the named account's organisation, so its admins see the attempt.
                Actor(None, "anonymous", named.org_id if named else None, address),
                PASSWORD_FAILED,
                entity,
                entity_id,
                at=now,
                # What was typed is kept only when it names an account: a password typed
                # into the wrong field must not end up in the audit log.
                after={"username": named.username} if named else None,
            ),
        )
    raise AuthenticationRequired("wrong username or password")


def must_enrol(settings: Settings, user: User, has_second_factor: bool) -> bool:
    return settings.require_two_factor and user.role in TWO_FACTOR_ROLES and not has_second_factor


def refuse_without_second_factor(settings: Settings, user: User) -> None:
    """API tokens are not a way around the browser's enrolment."""
    if must_enrol(settings, user, False):
        raise PermissionDenied(
            "this account must sign in with a two-factor code, and has none set up yet: sign "
            "in once in the browser at /login to set it up (an administrator can reset it), "
            "then send the current code as 'otp'"
        )


def code_wait(conn: sa.Connection, user_id: int, now: datetime) -> int | None:
    recent = users.failure_times(
        conn,
        CODE_FAILED,
        "user",
        str(user_id),
        now - CODE_FAILURE_WINDOW,
        MAX_CODE_FAILURES,
        cleared_by=UNLOCKED,
    )
    return lockout_wait(recent, MAX_CODE_FAILURES, CODE_FAILURE_WINDOW, now)


def _password_wait(
    conn: sa.Connection, settings: Settings, entity: str, entity_id: str, now: datetime
) -> int | None:
    """Seconds until the password step of ``entity`` opens again; ``None`` when open."""
    window = timedelta(minutes=settings.sign_in_lockout_minutes)
    recent = users.failure_times(
        conn,
        PASSWORD_FAILED,
        entity,
        entity_id,
        now - window,
        settings.sign_in_max_failures,
        cleared_by=UNLOCKED,
    )
    return lockout_wait(recent, settings.sign_in_max_failures, window, now)


def is_locked(conn: sa.Connection, settings: Settings, user_id: int, now: datetime) -> bool:
    """Whether either sign-in step of the account is closed by failures right now."""
    return (
        _password_wait(conn, settings, "user", str(user_id), now) is not None
        or code_wait(conn, user_id, now) is not None
    )


def accept_code(
    conn: sa.Connection,
    user: User,
    secret: str,
    last_step: int | None,
    code: str | None,
    now: datetime,
    address: str | None,
) -> bool:
    """Whether ``code`` is valid now and unused; a wrong one is audited in ``conn`` (the
    caller must let that transaction commit before refusing). No code at all is not a guess
    and is not counted."""
    users.lock_for_attempt(conn, user.id)
    wait = code_wait(conn, user.id, now)
    if wait is not None:
        raise TooManyAttempts(
            f"too many wrong two-factor codes: wait {_minutes(wait)} min, or ask an administrator",
            wait,
        )
    if not code:
        return False
    step = two_factor.accepted_step(secret, code, now, last_step)
    ok = step is not None and users.record_totp_step(conn, user.id, step)
    audit.record(
        conn,
        audit.audit_row(
            Actor(user.id, user.username, user.org_id, address),
            "user:2fa:passed" if ok else CODE_FAILED,
            "user",
            user.id,
            at=now,
        ),
    )
    return ok
