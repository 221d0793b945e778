"""The data-encryption key file, kept outside the database.

A stolen database copy must reveal no protected field, so the key lives in its own file (by
default ``<data dir>/keys/qorgau.key``, mode 0600; point ``QORGAU_KEY_FILE`` at another disk or
a mounted token to separate them further). The file holds several data keys so that a rotation
can add a new active key while old ciphertexts stay readable, and one index key for the keyed
hashes that make encrypted fields searchable.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from qorgau.errors import ConfigurationError

KEY_BYTES = 32


@dataclass(frozen=True)
class KeyRing:
    active: str
    data_keys: dict[str, bytes]
    index_key: bytes

    def to_json(self) -> str:
        enc = base64.b64encode
        return json.dumps(
            {
                "format": "qorgau-keyring-1",
                "active": self.active,
                "data_keys": {k: enc(v).decode() for k, v in self.data_keys.items()},
                "index_key": enc(self.index_key).decode(),
            },
            indent=2,
        )

    def rotated(self) -> KeyRing:
        """A ring with a fresh active data key; old keys stay for decryption."""
        new_id = f"k{len(self.data_keys) + 1}"
        keys = {**self.data_keys, new_id: secrets.token_bytes(KEY_BYTES)}
        return KeyRing(new_id, keys, self.index_key)


def new_keyring() -> KeyRing:
    return KeyRing("k1", {"k1": secrets.token_bytes(KEY_BYTES)}, secrets.token_bytes(KEY_BYTES))


def parse_keyring(text: str, origin: str) -> KeyRing:
    try:
        raw = json.loads(text)
        data_keys = {k: base64.b64decode(v) for k, v in raw["data_keys"].items()}
        index_key = base64.b64decode(raw["index_key"])
        active = raw["active"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigurationError(
            f"key file {origin} is damaged or not a Qorgau key file; restore it from backup"
        ) from exc
    if active not in data_keys:
        raise ConfigurationError(f"key file {origin}: active key {active!r} is missing")
    if any(len(k) != KEY_BYTES for k in (*data_keys.values(), index_key)):
        raise ConfigurationError(f"key file {origin}: every key must be {KEY_BYTES} bytes")
    return KeyRing(active, data_keys, index_key)


def write_keyring(path: Path, ring: KeyRing) -> None:
    """Write atomically with owner-only permissions."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(ring.to_json())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_keyring(path: Path, *, create: bool = False) -> KeyRing:
    if not path.exists():
        if not create:
            raise ConfigurationError(
                f"the encryption key file {path} is missing; run 'qorgau init' for a new "
                "installation, or restore the key file from your backup"
            )
        ring = new_keyring()
        write_keyring(path, ring)
        return ring
    return parse_keyring(path.read_text(encoding="utf-8"), str(path))
