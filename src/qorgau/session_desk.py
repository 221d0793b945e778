"""A person's own sessions and tokens, and an administrator's "sign this person out everywhere".

A responder whose laptop was left in a taxi, or who signed in at a friend's computer, must be
able to end that session from their phone without calling anyone; an administrator who hears
that an account may be in someone else's hands ends all of its sessions at once. Sessions are
named by their row id, never by the token, which no page or response shows after issue.
"""

from __future__ import annotations

import sqlalchemy as sa

from qorgau.desk import CaseDesk
from qorgau.domain import access
from qorgau.domain.access import Action
from qorgau.domain.model import Principal
from qorgau.errors import AuthenticationRequired, InvalidInput, NotFound
from qorgau.store import audit, sessions, users
from qorgau.store.audit import Actor
from qorgau.store.sessions import SessionInfo


class SessionDesk:
    def __init__(self, desk: CaseDesk) -> None:
        self.desk = desk
        self.store = desk.store

    def _me(self, principal: Principal) -> int:
        access.authorize(principal, Action.SELF_READ)
        if principal.user_id is None:
            raise AuthenticationRequired("sign in to see your sessions")
        return principal.user_id

    def mine(self, principal: Principal, current_token: str | None) -> list[SessionInfo]:
        user_id = self._me(principal)
        with self.store.read() as conn:
            return sessions.list_live(conn, user_id, self.store.now(), current_token)

    def revoke_mine(self, principal: Principal, session_id: int, address: str | None) -> None:
        user_id = self._me(principal)
        now = self.store.now()
        with self.store.write() as conn:
            if not sessions.revoke_one(conn, user_id, session_id, now):
                raise NotFound(f"you have no active session {session_id}")
            self._audit(conn, principal, address, "user:session:revoked", user_id, session_id)

    def revoke_others(self, principal: Principal, current_token: str, address: str | None) -> int:
        """Sign out everywhere but here."""
        user_id = self._me(principal)
        with self.store.write() as conn:
            n = sessions.revoke_all(conn, user_id, self.store.now(), keep_token=current_token)
            self._audit(conn, principal, address, "user:sessions:revoked", user_id, count=n)
        return n

    def revoke_user(self, principal: Principal, user_id: int, address: str | None) -> int:
        """An administrator ends every session and token of a person of their organisation."""
        access.authorize(principal, Action.USER_MANAGE)
        with self.store.write() as conn:
            target = users.get_user(conn, user_id)
            if target.org_id != principal.org_id:
                raise NotFound(f"user {user_id} not found")
            n = sessions.revoke_all(conn, user_id, self.store.now())
            self._audit(conn, principal, address, "user:sessions:revoked", user_id, count=n)
        return n

    def change_password(
        self,
        principal: Principal,
        current_token: str | None,
        old_password: str,
        new_password: str,
        address: str | None,
    ) -> int:
        """A new password for oneself; every other session and token ends with the old one."""
        user_id = self._me(principal)
        with self.store.read() as conn:
            username = users.get_user(conn, user_id).username
        # The same lockout and audit as signing in: a stolen session or an unattended browser
        # must not become an unlimited, unrecorded way to guess the password.
        from qorgau import sign_in_guard

        try:
            sign_in_guard.check_password(self.store, username, old_password, address)
        except AuthenticationRequired as exc:
            raise InvalidInput.single(
                "current_password", "mismatch", "the current password is wrong; type it again"
            ) from exc
        now = self.store.now()
        with self.store.write() as conn:
            n = users.change_password(conn, user_id, new_password, now, current_token)
            self._audit(conn, principal, address, "user:password:changed", user_id, count=n)
        return n

    def _audit(
        self,
        conn: sa.Connection,
        principal: Principal,
        address: str | None,
        tag: str,
        user_id: int,
        session_id: int | None = None,
        count: int | None = None,
    ) -> None:
        after: dict[str, object] = {}
        if session_id is not None:
            after["session_id"] = session_id
        if count is not None:
            after["sessions_revoked"] = count
        audit.record(
            conn,
            audit.audit_row(
                Actor.of(principal, address),
                tag,
                "user",
                user_id,
                at=self.store.now(),
                after=after or None,
            ),
        )
