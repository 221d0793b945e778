"""The agent's signing key: made at first start, kept in its state folder, never sent."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from qorgau.errors import ConfigurationError


def load_or_create(path: Path) -> Ed25519PrivateKey:
    """The key at ``path``, created (mode 0600) if there is none yet.

    The server binds the first key it sees to the agent's token, so losing this file means
    re-enrolling the agent: it lives in the state folder with the outbox, not in /tmp."""
    if path.exists():
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except ValueError as exc:
            raise ConfigurationError(
                f"{path} is not the agent's key ({exc}); restore it, or delete it and have the "
                "desk enrol the agent again"
            ) from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigurationError(f"{path} holds a key of another kind than Ed25519")
        return key
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
        f.flush()
        os.fsync(f.fileno())
    return key
