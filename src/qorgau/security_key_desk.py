"""Security keys (WebAuthn) as a second factor beside the authenticator-app code.

A key is added from the account page by someone already signed in with their code, so an
account always keeps the code as its fallback and a key never becomes the only way in. A key
and a code share one failure counter: five wrong answers of either kind lock the second step
for fifteen minutes, so switching between them gains a guesser nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qorgau import sign_in_guard
from qorgau.desk import CaseDesk
from qorgau.domain import access
from qorgau.domain.access import Action
from qorgau.domain.model import Principal
from qorgau.errors import Conflict, InvalidInput
from qorgau.security import webauthn_ceremony as ceremony
from qorgau.store import audit, security_keys, users
from qorgau.store.audit import Actor
from qorgau.store.security_keys import StoredKey

MAX_LABEL = 80


@dataclass(frozen=True)
class Challenge:
    """Options for the browser and the challenge the server keeps (in a signed cookie)."""

    options_json: str
    challenge: bytes


class SecurityKeyDesk:
    def __init__(self, desk: CaseDesk, public_base_url: str) -> None:
        self.desk = desk
        self.store = desk.store
        # The address staff open: keys are bound to its name (see webauthn_ceremony).
        self.public_base_url = public_base_url

    def _rp(self) -> ceremony.RelyingParty:
        return ceremony.relying_party(self.public_base_url)

    def available(self) -> bool:
        try:
            self._rp()
        except ceremony.SecurityKeysUnavailable:
            return False
        return True

    def _user_handle(self, user_id: int) -> bytes:
        # Not the database id: the handle is stored on the key, and should say nothing.
        return self.store.cipher.blind_index(str(user_id), "webauthn.user-handle")[:32].encode()

    # -- the account page -------------------------------------------------------------------
    def keys(self, principal: Principal) -> list[StoredKey]:
        access.authorize(principal, Action.SELF_READ)
        assert principal.user_id is not None
        with self.store.read() as conn:
            return security_keys.keys_of(conn, principal.user_id)

    def begin_registration(self, principal: Principal) -> Challenge:
        access.authorize(principal, Action.SELF_READ)
        assert principal.user_id is not None
        rp = self._rp()
        with self.store.read() as conn:
            user = users.get_user(conn, principal.user_id)
            code, _, _ = users.totp_state(conn, self.store.cipher, user.id)
            if code is None:
                raise Conflict(
                    "set up the authenticator-app code first; a security key is added beside it"
                )
            existing = [k.credential_id for k in security_keys.keys_of(conn, user.id)]
        options, challenge = ceremony.registration_options(
            rp, self._user_handle(user.id), user.username, user.display_name, existing
        )
        return Challenge(options, challenge)

    def finish_registration(
        self,
        principal: Principal,
        credential: dict[str, Any],
        challenge: bytes,
        label: str,
        address: str | None,
    ) -> StoredKey:
        access.authorize(principal, Action.SELF_READ)
        assert principal.user_id is not None
        label = " ".join(label.split())[:MAX_LABEL] or "security key"
        new = ceremony.verify_registration(self._rp(), credential, challenge)
        now = self.store.now()
        with self.store.write() as conn:
            stored = security_keys.add_key(
                conn, principal.user_id, new.credential_id, new.public_key, new.sign_count,
                label, now,
            )  # fmt: skip
            audit.record(
                conn,
                audit.audit_row(
                    Actor.of(principal, address),
                    "user:2fa:key-added",
                    "user",
                    principal.user_id,
                    at=now,
                    after={"key": stored.id, "label": label},
                ),
            )
        return stored

    def remove(self, principal: Principal, key_id: int, address: str | None) -> None:
        access.authorize(principal, Action.SELF_READ)
        assert principal.user_id is not None
        with self.store.write() as conn:
            removed = security_keys.remove_key(conn, principal.user_id, key_id)
            audit.record(
                conn,
                audit.audit_row(
                    Actor.of(principal, address),
                    "user:2fa:key-removed",
                    "user",
                    principal.user_id,
                    at=self.store.now(),
                    before={"key": removed.id, "label": removed.label},
                ),
            )

    # -- signing in -------------------------------------------------------------------------
    def has_keys(self, user_id: int) -> bool:
        with self.store.read() as conn:
            return security_keys.count_of(conn, user_id) > 0

    def begin_sign_in(self, user_id: int) -> Challenge:
        """Called only after the password step passed for ``user_id``."""
        rp = self._rp()
        with self.store.read() as conn:
            ids = [k.credential_id for k in security_keys.keys_of(conn, user_id)]
        if not ids:
            raise Conflict("this account has no security key; use the code instead")
        options, challenge = ceremony.authentication_options(rp, ids)
        return Challenge(options, challenge)

    def finish_sign_in(
        self, user_id: int, credential: dict[str, Any], challenge: bytes, address: str | None
    ) -> None:
        """Accept the key's signature once, or record a failure (shared with wrong codes)."""
        rp = self._rp()
        now = self.store.now()
        with self.store.write() as conn:
            users.lock_for_attempt(conn, user_id)
            user = users.get_user(conn, user_id)
            if sign_in_guard.code_wait(conn, user_id, now) is not None:
                raise InvalidInput.single(
                    "key",
                    "locked",
                    "too many failed attempts: wait 15 minutes, or ask an administrator",
                )
            claimed = ceremony.credential_id_of(credential)
            key = next(
                (k for k in security_keys.keys_of(conn, user_id) if k.credential_id == claimed),
                None,
            )
            ok = False
            problem: InvalidInput | None = None
            if key is not None:
                try:
                    count = ceremony.verify_authentication(
                        rp, credential, challenge, key.public_key, key.sign_count
                    )
                    ok = security_keys.record_use(conn, key, count, now)
                except InvalidInput as exc:
                    problem = exc
            audit.record(
                conn,
                audit.audit_row(
                    Actor(user.id, user.username, user.org_id, address),
                    "user:2fa:passed" if ok else "user:2fa:failed",
                    "user",
                    user.id,
                    at=now,
                    after={"key": key.id} if key else None,
                ),
            )
        if not ok:
            raise problem or InvalidInput.single(
                "key", "signature", "the security key's answer was not accepted; try again"
            )
