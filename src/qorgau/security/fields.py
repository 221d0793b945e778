"""Field-level encryption (AES-256-GCM) and blind indexes (HMAC-SHA-256).

Each ciphertext carries the id of the key that made it, so rotation needs no flag day; the
associated data binds a ciphertext to its column, so a value copied into another column (say a
reporter's phone pasted into a note) does not decrypt there. Search on encrypted values goes
through ``blind_index``: a keyed hash of the canonical form, useless without the index key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from qorgau.errors import ConfigurationError
from qorgau.security.keys import KeyRing

PREFIX = "enc1"
NONCE_BYTES = 12


class FieldCipher:
    def __init__(self, ring: KeyRing) -> None:
        self._ring = ring
        self._aeads = {kid: AESGCM(key) for kid, key in ring.data_keys.items()}

    @property
    def active_key_id(self) -> str:
        return self._ring.active

    def encrypt(self, plaintext: str | None, context: str) -> str | None:
        if plaintext is None:
            return None
        nonce = os.urandom(NONCE_BYTES)
        kid = self._ring.active
        ct = self._aeads[kid].encrypt(nonce, plaintext.encode("utf-8"), context.encode())
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
        aead = self._aeads.get(kid)
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
