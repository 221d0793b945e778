"""Changing the data-key file in place: add a new active key, remove a retired one.

Servers and workers keep running through both (they re-read the file, see ``RingSource``), so
the file is changed the only way a concurrent reader can cope with: a complete new file renamed
over the old one. Two operators rotating at once are serialised by an exclusive lock beside the
file and each re-reads it under the lock, so neither loses the other's key (a lost key would
make every value encrypted under it unreadable).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from qorgau.errors import ConfigurationError
from qorgau.security.keys import RECHECK_SECONDS, KeyRing, load_keyring, write_keyring

# A retirement waits this long after the key file last changed: every running process has
# then re-read it and none still encrypts under the key being removed.
SETTLE_SECONDS = 2 * RECHECK_SECONDS


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    lock_path = path.with_name(path.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot lock the key file {path} via {lock_path}: {exc.strerror or exc}; is the"
            " key volume mounted writable?"
        ) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def update_keyring(path: Path, change: Callable[[KeyRing], KeyRing]) -> KeyRing:
    """Apply ``change`` to the ring on disk under the lock and write the result atomically."""
    with _locked(path):
        ring = load_keyring(path)
        new = change(ring)
        try:
            write_keyring(path, new)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot rewrite the key file {path}: {exc.strerror or exc}; the keys are unchanged"
            ) from exc
    return load_keyring(path)


def rotate(path: Path) -> tuple[str, str]:
    """Add a fresh active data key; returns (old active id, new active id)."""
    before: list[str] = []

    def change(ring: KeyRing) -> KeyRing:
        before.append(ring.active)
        return ring.rotated()

    after = update_keyring(path, change)
    return before[0], after.active


def retire(
    path: Path,
    key_id: str,
    still_used: Callable[[], int],
    settle_seconds: float = SETTLE_SECONDS,
) -> KeyRing:
    """Remove ``key_id`` if ``still_used()`` (called under the lock) counts nothing under it.

    The caller's count covers the database and the blob store; the lock keeps a concurrent
    rotation from interleaving, and a process still encrypting under ``key_id`` cannot exist
    once it is not the active key and every process has re-read the file.
    """

    def change(ring: KeyRing) -> KeyRing:
        if key_id not in ring.data_keys:
            known = ", ".join(ring.data_keys)
            raise ConfigurationError(f"there is no data key {key_id!r}; the keys are: {known}")
        if key_id == ring.active:
            raise ConfigurationError(
                f"key {key_id} is the active key; run 'qorgau keys rotate' and"
                " 'qorgau keys reencrypt' first"
            )
        age = time.time() - path.stat().st_mtime
        if age < settle_seconds:
            raise ConfigurationError(
                f"the key file changed {int(age)} s ago and running processes may not have"
                f" re-read it yet; try again in {int(settle_seconds - age) + 1} s"
            )
        used = still_used()
        if used:
            raise ConfigurationError(
                f"key {key_id} still protects {used} stored values or files; run 'qorgau keys"
                " reencrypt' and check 'qorgau keys status' before retiring it"
            )
        return ring.without(key_id)

    return update_keyring(path, change)
