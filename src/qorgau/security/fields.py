"""Field-level encryption (AES-256-GCM) and blind indexes (HMAC-SHA-256).

Each ciphertext carries the id of the key that made it, so rotation needs no flag day; the
associated data binds a ciphertext to its column, so a value copied into another column (say a
reporter's phone pasted into a note) does not decrypt there. Search on encrypted values goes
through ``blind_index``: a keyed hash of the canonical form, useless without the index key.

A cipher built from a ring read from a file follows that file: after ``qorgau keys rotate`` it
decrypts values under the new key (re-reading the file once when it meets an unknown key id)
and starts encrypting with it, without a restart (see ``qorgau.security.keys.RingSource``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from qorgau.errors import ConfigurationError
from qorgau.security.keys import RECHECK_SECONDS, KeyRing, RingSource

PREFIX = "enc1"
NONCE_BYTES = 12


class FieldCipher:
    def __init__(self, ring: KeyRing, recheck_seconds: float = RECHECK_SECONDS) -> None:
        self._source = RingSource(ring, recheck_seconds)
        self._keyed: tuple[KeyRing, dict[str, AESGCM]] = (ring, self._aeads_for(ring))

    @staticmethod
    def _aeads_for(ring: KeyRing) -> dict[str, AESGCM]:
        return {kid: AESGCM(key) for kid, key in ring.data_keys.items()}

    def _current(self) -> tuple[KeyRing, dict[str, AESGCM]]:
        ring = self._source.current()
        keyed = self._keyed
        if keyed[0] is not ring:
            keyed = (ring, self._aeads_for(ring))
            self._keyed = keyed  # one assignment: threads see the old or the new pair whole
        return keyed

    @property
    def _ring(self) -> KeyRing:
        return self._current()[0]

    @property
    def active_key_id(self) -> str:
        return self._current()[0].active

    def known_key_ids(self) -> list[str]:
        return list(self._current()[0].data_keys)

    def refresh(self) -> bool:
        """Re-read the key file now (after a rotation in this process); whether it changed."""
        changed = self._source.reload()
        self._current()
        return changed

    def encrypt(self, plaintext: str | None, context: str) -> str | None:
        if plaintext is None:
            return None
        nonce = os.urandom(NONCE_BYTES)
        ring, aeads = self._current()
        kid = ring.active
        ct = aeads[kid].encrypt(nonce, plaintext.encode("utf-8"), context.encode())
        return f"{PREFIX}:{kid}:{base64.urlsafe_b64encode(nonce + ct).decode('ascii')}"

    def decrypt(self, token: str | None, context: str) -> str | None:
        if token is None:
            return None
        try:
            prefix, kid, body = token.split(":", 2)
            if prefix != PREFIX:
                raise ValueError(prefix)
            raw = base64.urlsafe_b64decode(body)
        except ValueError as exc:
            raise ConfigurationError(f"a stored value in {context} is not a ciphertext") from exc
        aead = self._current()[1].get(kid)
        if aead is None and self.refresh():  # rotated by another process since we loaded
            aead = self._current()[1].get(kid)
        if aead is None:
            raise ConfigurationError(
                f"a value in {context} was encrypted with key {kid!r}, which the key file lacks;"
                " restore the key file that contains it"
            )
        try:
            plain = aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
        except InvalidTag as exc:
            raise ConfigurationError(
                f"a value in {context} failed its integrity check: it was altered or moved"
            ) from exc
        return plain.decode("utf-8")

    def key_id_of(self, token: str) -> str:
        return token.split(":", 2)[1]

    def blind_index(self, canonical: str, context: str) -> str:
        mac = hmac.new(self._ring.index_key, f"{context}\x00{canonical}".encode(), hashlib.sha256)
        return mac.hexdigest()
