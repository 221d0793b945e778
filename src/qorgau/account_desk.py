"""Signing in to the web interface: password, then a second factor, then a session.

Staff hold what can endanger people (who reported what, home addresses), and a phished
password is the commonest way in; so a staff member's first sign-in in a browser is also
their two-factor enrolment, and every later one asks for a code. The session is an ordinary
API token kept in an HttpOnly cookie, so expiry, revocation and deactivation work the same
way for both.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from qorgau import sign_in_guard
from qorgau.desk import CaseDesk
from qorgau.domain import access
from qorgau.domain.access import Action
from qorgau.domain.model import Principal, Role, User
from qorgau.errors import AuthenticationRequired, Conflict, InvalidInput, NotFound
from qorgau.security import two_factor

# The rules every sign-in shares with API token logins (re-exported for older importers).
from qorgau.sign_in_guard import CODE_FAILURE_WINDOW as CODE_FAILURE_WINDOW
from qorgau.sign_in_guard import MAX_CODE_FAILURES as MAX_CODE_FAILURES
from qorgau.sign_in_guard import TWO_FACTOR_ROLES as TWO_FACTOR_ROLES
from qorgau.store import audit, response_docs, sessions, users
from qorgau.store.audit import Actor
from qorgau.store.tables import saved_views

SESSION_TOKEN_NAME = sessions.WEB_SESSION_NAME
MAX_SAVED_VIEWS = 30


def _attempt_tag(attempt: str) -> str:
    return hashlib.sha256(attempt.encode()).hexdigest()[:32]


def _pending_secret(pending: str | None, tag: str) -> str | None:
    """The secret being enrolled, if it was drawn for this attempt."""
    if not pending or ":" not in pending:
        return None
    stored_tag, secret = pending.split(":", 1)
    return secret if hmac.compare_digest(stored_tag, tag) else None


@dataclass(frozen=True)
class PasswordChecked:
    """The first step passed: who it is and what the second step must be."""

    user: User
    has_second_factor: bool
    must_enrol: bool


@dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str
    qr_svg: str


@dataclass(frozen=True)
class SavedView:
    id: int
    name: str
    query: str


class SignInDesk:
    def __init__(self, desk: CaseDesk) -> None:
        self.desk = desk
        self.store = desk.store

    def check_password(self, username: str, password: str, address: str | None) -> PasswordChecked:
        """The first step, with the lockout and failure record every sign-in shares
        (``sign_in_guard``); raises ``TooManyAttempts`` while the name is locked."""
        user = sign_in_guard.check_password(self.store, username, password, address)
        with self.store.read() as conn:
            secret, _, _ = users.totp_state(conn, self.store.cipher, user.id)
        has = secret is not None
        return PasswordChecked(user, has, sign_in_guard.must_enrol(self.store.settings, user, has))

    def user(self, user_id: int) -> User:
        with self.store.read() as conn:
            user = users.get_user(conn, user_id)
        if not user.active:
            raise AuthenticationRequired("the account is deactivated")
        return user

    def has_second_factor(self, user_id: int) -> bool:
        with self.store.read() as conn:
            secret, _, _ = users.totp_state(conn, self.store.cipher, user_id)
        return secret is not None

    # -- second factor --------------------------------------------------------------------
    def begin_enrolment(self, user_id: int, attempt: str) -> Enrolment:
        """The secret to show as a QR code for this sign-in ``attempt`` (a random value kept in
        the browser's half-way cookie). Reloading the page shows the same secret; another
        browser that passes the password — perhaps someone who stole it — gets a new one that
        replaces it, so a secret copied by an intruder never becomes the owner's."""
        tag = _attempt_tag(attempt)
        with self.store.write() as conn:
            user = users.get_user(conn, user_id)
            active, pending, _ = users.totp_state(conn, self.store.cipher, user_id)
            if active is not None:
                raise Conflict("two-factor sign-in is already set up: sign in with your code")
            secret = _pending_secret(pending, tag)
            if secret is None:
                secret = two_factor.new_secret()
                users.set_totp_pending(conn, self.store.cipher, user_id, f"{tag}:{secret}")
        uri = two_factor.provisioning_uri(secret, user.username)
        return Enrolment(secret, uri, two_factor.qr_svg(uri))

    def confirm_enrolment(self, user_id: int, code: str, attempt: str, address: str | None) -> None:
        now = self.store.now()
        with self.store.write() as conn:
            user = users.get_user(conn, user_id)
            active, pending, _ = users.totp_state(conn, self.store.cipher, user_id)
            if active is not None:
                raise Conflict("two-factor sign-in is already set up: sign in with your code")
            secret = _pending_secret(pending, _attempt_tag(attempt))
            if secret is None:
                raise Conflict(
                    "the set-up was started again elsewhere: sign in again and scan the new code"
                )
            step = two_factor.accepted_step(secret, code, now, None)
            if step is None:
                raise InvalidInput.single(
                    "code", "totp", "the code does not match; try the next one"
                )
            users.enable_totp(conn, self.store.cipher, user_id, secret, step, now)
            audit.record(
                conn,
                audit.audit_row(
                    Actor(user.id, user.username, user.org_id, address),
                    "user:2fa:enrolled",
                    "user",
                    user.id,
                    at=now,
                ),
            )

    def verify_code(self, user_id: int, code: str, address: str | None) -> None:
        """Accept a code once; a wrong or replayed code is audited and refused, and after
        ``MAX_CODE_FAILURES`` wrong codes in ``CODE_FAILURE_WINDOW`` no code is tried at all:
        six digits do not survive unlimited guessing by someone who has the password."""
        now = self.store.now()
        with self.store.write() as conn:
            users.lock_for_attempt(conn, user_id)
            user = users.get_user(conn, user_id)
            active, _, last = users.totp_state(conn, self.store.cipher, user_id)
            if active is None:
                raise Conflict("two-factor sign-in is not set up for this account: sign in again")
            if sign_in_guard.code_wait(conn, user_id, now) is not None:
                raise InvalidInput.single(
                    "code",
                    "locked",
                    "too many wrong codes: wait 15 minutes, or ask an administrator",
                )
            step = two_factor.accepted_step(active, code, now, last)
            ok = step is not None and users.record_totp_step(conn, user_id, step)
            audit.record(
                conn,
                audit.audit_row(
                    Actor(user.id, user.username, user.org_id, address),
                    "user:2fa:passed" if ok else "user:2fa:failed",
                    "user",
                    user.id,
                    at=now,
                ),
            )
        if not ok:
            raise InvalidInput.single("code", "totp", "the code does not match; try the next one")

    # -- sessions -------------------------------------------------------------------------
    def open_session(self, user_id: int, address: str | None) -> tuple[str, datetime]:
        now = self.store.now()
        ttl = sessions.web_session_ttl(self.store.settings.session_ttl_hours)
        with self.store.write() as conn:
            user = users.get_user(conn, user_id)
            if not user.active:
                raise AuthenticationRequired("the account is deactivated")
            token, expires = users.issue_token(conn, user.id, SESSION_TOKEN_NAME, now, ttl)
            audit.record(
                conn,
                audit.audit_row(
                    Actor(user.id, user.username, user.org_id, address),
                    "user:session:opened",
                    "user",
                    user.id,
                    at=now,
                ),
            )
        return token, expires

    def close_session(self, principal: Principal, token: str, address: str | None) -> None:
        self.desk.logout(principal, token, address)

    # -- administration -------------------------------------------------------------------
    def two_factor_users(self, principal: Principal) -> set[int]:
        access.authorize(principal, Action.USER_MANAGE)
        with self.store.read() as conn:
            return users.two_factor_users(conn, principal.org_id)

    def reset_two_factor(self, principal: Principal, user_id: int, address: str | None) -> None:
        access.authorize(principal, Action.USER_MANAGE)
        with self.store.write() as conn:
            target = users.get_user(conn, user_id)
            if target.org_id != principal.org_id:
                raise NotFound(f"user {user_id} not found")
            users.reset_totp(conn, user_id)
            audit.record(
                conn,
                audit.audit_row(
                    Actor.of(principal, address),
                    "user:2fa:reset",
                    "user",
                    user_id,
                    at=self.store.now(),
                ),
            )

    def locked_users(self, principal: Principal) -> set[int]:
        """Accounts of the organisation whose password or code step is closed right now."""
        access.authorize(principal, Action.USER_MANAGE)
        settings, now = self.store.settings, self.store.now()
        since = now - max(
            sign_in_guard.CODE_FAILURE_WINDOW,
            timedelta(minutes=settings.sign_in_lockout_minutes),
        )
        with self.store.read() as conn:
            candidates = users.users_with_recent(
                conn,
                principal.org_id,
                (sign_in_guard.PASSWORD_FAILED, sign_in_guard.CODE_FAILED),
                since,
            )
            return {u for u in candidates if sign_in_guard.is_locked(conn, settings, u, now)}

    def unlock_sign_in(self, principal: Principal, user_id: int, address: str | None) -> None:
        """Open a locked-out account's sign-in at once instead of in 15 minutes. The failures
        stay in the audit log; only those before this moment stop counting."""
        access.authorize(principal, Action.USER_MANAGE)
        with self.store.write() as conn:
            target = users.get_user(conn, user_id)
            if target.org_id != principal.org_id:
                raise NotFound(f"user {user_id} not found")
            audit.record(
                conn,
                audit.audit_row(
                    Actor.of(principal, address),
                    sign_in_guard.UNLOCKED,
                    "user",
                    user_id,
                    at=self.store.now(),
                ),
            )

    def set_role(self, principal: Principal, user_id: int, role: Role, address: str | None) -> User:
        access.authorize(principal, Action.USER_MANAGE)
        with self.store.write() as conn:
            target = users.get_user(conn, user_id)
            if target.org_id != principal.org_id:
                raise NotFound(f"user {user_id} not found")
            if target.id == principal.user_id and role != target.role:
                raise Conflict("you cannot change your own role; ask another administrator")
            users.set_role(conn, user_id, role)
            # What a session may do was decided at sign-in with the old role in mind (and a
            # demotion must bite at once): the person signs in again with the new one.
            revoked = (
                sessions.revoke_all(conn, user_id, self.store.now()) if role != target.role else 0
            )
            audit.record(
                conn,
                audit.audit_row(
                    Actor.of(principal, address),
                    "user:role:changed",
                    "user",
                    user_id,
                    at=self.store.now(),
                    before={"role": str(target.role)},
                    after={"role": str(role), "sessions_revoked": revoked},
                ),
            )
            changed = users.get_user(conn, user_id)
        # The roster and handler lists are derived from the roles: recompute them.
        response_docs.cache(self.store).invalidate(principal.org_id)
        return changed

    # -- saved views of the queue ---------------------------------------------------------
    def saved_views(self, principal: Principal) -> list[SavedView]:
        access.authorize(principal, Action.QUEUE_READ)
        with self.store.read() as conn:
            rows = conn.execute(
                sa.select(saved_views.c.id, saved_views.c.name, saved_views.c.query)
                .where(saved_views.c.user_id == principal.user_id)
                .order_by(saved_views.c.name)
            ).all()
        return [SavedView(int(r.id), str(r.name), str(r.query)) for r in rows]

    def save_view(self, principal: Principal, name: str, query: str) -> SavedView:
        access.authorize(principal, Action.QUEUE_READ)
        name = " ".join(name.split())
        if not 1 <= len(name) <= 80:
            raise InvalidInput.single(
                "name", "max_length", "give the view a name of 1-80 characters"
            )
        if len(query) > 2000:
            raise InvalidInput.single("query", "max_length", "the filters are too long to save")
        with self.store.write() as conn:
            c = saved_views.c
            existing = conn.execute(
                sa.select(c.id).where(c.user_id == principal.user_id, c.name == name)
            ).scalar_one_or_none()
            if existing is not None:
                conn.execute(saved_views.update().where(c.id == existing).values(query=query))
                return SavedView(int(existing), name, query)
            count = conn.execute(
                sa.select(sa.func.count()).where(c.user_id == principal.user_id)
            ).scalar_one()
            if count >= MAX_SAVED_VIEWS:
                raise Conflict(f"at most {MAX_SAVED_VIEWS} saved views; delete one first")
            new_id = conn.execute(
                saved_views.insert().returning(c.id),
                {
                    "user_id": principal.user_id,
                    "name": name,
                    "query": query,
                    "created_at": self.store.now(),
                },
            ).scalar_one()
        return SavedView(int(new_id), name, query)

    def delete_view(self, principal: Principal, view_id: int) -> None:
        access.authorize(principal, Action.QUEUE_READ)
        with self.store.write() as conn:
            c = saved_views.c
            res = conn.execute(
                saved_views.delete().where(c.id == view_id, c.user_id == principal.user_id)
            )
            if not res.rowcount:
                raise NotFound(f"saved view {view_id} not found")
