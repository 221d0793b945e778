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
import re
import secrets
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from qorgau.errors import ConfigurationError

KEY_BYTES = 32


_NUMBERED = re.compile(r"k(\d+)")


@dataclass(frozen=True)
class KeyRing:
    active: str
    data_keys: dict[str, bytes]
    index_key: bytes
    # Ids of keys removed by ``qorgau keys retire``: never handed out again, so an old
    # ciphertext (say in a backup) under a retired id fails as "key missing", never as "altered".
    retired: tuple[str, ...] = ()
    # The file the ring was read from, so that a running process can pick up a rotation.
    origin: Path | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> str:
        enc = base64.b64encode
        doc: dict[str, object] = {
            "format": "qorgau-keyring-1",
            "active": self.active,
            "data_keys": {k: enc(v).decode() for k, v in self.data_keys.items()},
            "index_key": enc(self.index_key).decode(),
        }
        if self.retired:
            doc["retired"] = list(self.retired)
        return json.dumps(doc, indent=2)

    def rotated(self) -> KeyRing:
        """A ring with a fresh active data key; old keys stay for decryption."""
        used = [
            int(m.group(1))
            for k in (*self.data_keys, *self.retired)
            if (m := _NUMBERED.fullmatch(k))
        ]
        new_id = f"k{max(used, default=0) + 1}"
        keys = {**self.data_keys, new_id: secrets.token_bytes(KEY_BYTES)}
        return KeyRing(new_id, keys, self.index_key, self.retired, self.origin)

    def without(self, key_id: str) -> KeyRing:
        """The ring with an old data key removed (the caller checked nothing still uses it)."""
        if key_id == self.active:
            raise ValueError(f"key {key_id!r} is the active key")
        keys = {k: v for k, v in self.data_keys.items() if k != key_id}
        return KeyRing(self.active, keys, self.index_key, (*self.retired, key_id), self.origin)


def new_keyring() -> KeyRing:
    return KeyRing("k1", {"k1": secrets.token_bytes(KEY_BYTES)}, secrets.token_bytes(KEY_BYTES))


def parse_keyring(text: str, origin: str) -> KeyRing:
    try:
        raw = json.loads(text)
        data_keys = {k: base64.b64decode(v) for k, v in raw["data_keys"].items()}
        index_key = base64.b64decode(raw["index_key"])
        active = raw["active"]
        retired = tuple(str(k) for k in raw.get("retired", ()))
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigurationError(
            f"key file {origin} is damaged or not a Qorgau key file; restore it from backup"
        ) from exc
    if active not in data_keys:
        raise ConfigurationError(f"key file {origin}: active key {active!r} is missing")
    if any(len(k) != KEY_BYTES for k in (*data_keys.values(), index_key)):
        raise ConfigurationError(f"key file {origin}: every key must be {KEY_BYTES} bytes")
    return KeyRing(active, data_keys, index_key, retired)


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
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself must survive a crash, or the new key is lost
    finally:
        os.close(dir_fd)


def load_keyring(path: Path, *, create: bool = False) -> KeyRing:
    if not path.exists():
        if not create:
            raise ConfigurationError(
                f"the encryption key file {path} is missing; run 'qorgau init' for a new "
                "installation, or restore the key file from your backup"
            )
        ring = replace(new_keyring(), origin=path)
        write_keyring(path, ring)
        return ring
    return replace(parse_keyring(path.read_text(encoding="utf-8"), str(path)), origin=path)


# How often a running process looks at the key file's metadata for a rotation when it encrypts.
RECHECK_SECONDS = 30.0


def _file_signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


class RingSource:
    """The current key ring of a running process, re-read from its file after a rotation.

    ``qorgau keys rotate`` replaces the key file while servers and workers run. A process that
    meets a ciphertext under a key id it does not know re-reads the file at once
    (:meth:`reload`); one that only encrypts notices the new active key within
    ``RECHECK_SECONDS`` (:meth:`current`), so no restart is needed either way. A file that cannot
    be read at that moment (a volume being remounted) leaves the ring in memory unchanged.
    """

    def __init__(self, ring: KeyRing, recheck_seconds: float = RECHECK_SECONDS) -> None:
        self._ring = ring
        self._recheck = recheck_seconds
        self._lock = threading.Lock()
        self._signature = _file_signature(ring.origin) if ring.origin else None
        self._checked = time.monotonic()

    @property
    def ring(self) -> KeyRing:
        return self._ring

    def current(self) -> KeyRing:
        """The ring, re-read first if the recheck interval has passed and the file changed."""
        if self._ring.origin is not None and time.monotonic() - self._checked >= self._recheck:
            self._checked = time.monotonic()
            if _file_signature(self._ring.origin) != self._signature:
                self.reload()
        return self._ring

    def reload(self) -> bool:
        """Re-read the key file now; whether the ring changed."""
        origin = self._ring.origin
        if origin is None:
            return False
        with self._lock:
            signature = _file_signature(origin)
            try:
                fresh = load_keyring(origin)
            except (ConfigurationError, OSError):
                return False
            self._signature = signature
            self._checked = time.monotonic()
            if fresh == self._ring:
                return False
            self._ring = fresh
            return True
