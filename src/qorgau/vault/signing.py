"""Signed tree heads: the desk's Ed25519 signature over the size and root of the evidence log.

A signed tree head is the desk's public commitment "the log had these ``tree_size`` items with
this root at this time". Handed out (in an export, to a lawyer, to a partner organisation) it
makes later tampering detectable: any changed or removed item changes the root, and a
consistency proof (``qorgau.vault.merkle``) shows a later head merely extends an earlier one.

The signing keys live in their own file, *outside* the database, for the same reason as the
data-encryption key (``qorgau.security.keys``): whoever can rewrite the database must not also
be able to re-sign a forged log. The file keeps retired keys so that heads signed before a
rotation stay verifiable.

Signed bytes (format ``v: 1``), reproducible without Qorgau::

    json.dumps(
        {"key_id": key_id, "root_hash": root_hash.hex(), "timestamp_ms": timestamp_ms,
         "tree_size": tree_size, "v": 1},
        sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    ).encode("utf-8")

i.e. the RFC 8785 (JCS) canonical JSON of those five members: keys in sorted order, no
whitespace, ``root_hash`` as 64 lowercase hex digits, ``key_id`` as 16 lowercase hex digits,
integers in plain decimal (all below 2**53, where JCS and ``json.dumps`` agree). Example
(one line, no trailing newline; the root shortened here)::

    {"key_id":"1f2e3d4c5b6a7988","root_hash":"5dc9…4328","timestamp_ms":1732270000000,
    "tree_size":8,"v":1}

The signature is plain Ed25519 (RFC 8032, not pre-hashed) over exactly those bytes, 64 bytes
raw. With the key's PEM (``public_key_pem``) it verifies with
``openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in head.bin -sigfile head.sig``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hashlib
import json
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from qorgau.errors import ConfigurationError

HEAD_FORMAT_VERSION = 1
KEY_FILE_FORMAT = "qorgau-vault-signing-1"
SIGNATURE_BYTES = 64
_MAX_JSON_INT = 2**53 - 1  # RFC 8785 integers must be exact IEEE 754 doubles
_KEY_ID = re.compile(r"[0-9a-f]{16}")
_RAW = serialization.Encoding.Raw
_RAW_PUBLIC = serialization.PublicFormat.Raw


def key_id_for(public_key_raw: bytes) -> str:
    """The key id: first 16 hex digits of SHA-256 over the 32-byte raw Ed25519 public key."""
    return hashlib.sha256(public_key_raw).hexdigest()[:16]


@dataclass(frozen=True)
class TreeHead:
    """What the desk signs: the log size, its Merkle root, when, and with which key.

    ``timestamp_ms`` is milliseconds since the Unix epoch (UTC).
    """

    tree_size: int
    root_hash: bytes
    timestamp_ms: int
    key_id: str

    def __post_init__(self) -> None:
        if not 0 <= self.tree_size <= _MAX_JSON_INT:
            raise ValueError(f"tree_size {self.tree_size} is outside 0..2**53-1")
        if not 0 <= self.timestamp_ms <= _MAX_JSON_INT:
            raise ValueError(f"timestamp_ms {self.timestamp_ms} is outside 0..2**53-1")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != 32:
            raise ValueError("root_hash must be a 32-byte SHA-256 digest")
        if not isinstance(self.key_id, str) or not _KEY_ID.fullmatch(self.key_id):
            raise ValueError("key_id must be 16 lowercase hex digits")

    def to_json_dict(self) -> dict[str, Any]:
        """The members that are signed, as JSON-ready values."""
        return {
            "key_id": self.key_id,
            "root_hash": self.root_hash.hex(),
            "timestamp_ms": self.timestamp_ms,
            "tree_size": self.tree_size,
            "v": HEAD_FORMAT_VERSION,
        }

    def signed_bytes(self) -> bytes:
        """The exact bytes the signature covers (see the module docstring)."""
        return rfc8785.dumps(self.to_json_dict())

    @classmethod
    def from_signed_bytes(cls, data: bytes) -> TreeHead:
        """Parse signed bytes back, accepting only the canonical form (so that two different
        byte strings can never stand for the same head)."""
        try:
            raw = json.loads(data.decode("utf-8"))
            if set(raw) != {"key_id", "root_hash", "timestamp_ms", "tree_size", "v"}:
                raise ValueError("unexpected members")
            if raw["v"] != HEAD_FORMAT_VERSION:
                raise ValueError(f"unsupported tree head version {raw['v']!r}")
            if not all(type(raw[k]) is int for k in ("tree_size", "timestamp_ms")):
                raise ValueError("sizes and times must be integers")
            head = cls(
                tree_size=raw["tree_size"],
                root_hash=bytes.fromhex(raw["root_hash"]),
                timestamp_ms=raw["timestamp_ms"],
                key_id=raw["key_id"],
            )
        except (UnicodeDecodeError, ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"not a signed tree head: {exc}") from exc
        if head.signed_bytes() != data:
            raise ValueError("not a signed tree head: bytes are not in canonical form")
        return head


def verify_signature(public_key_raw: bytes, head: TreeHead, signature: bytes) -> bool:
    """Check ``signature`` over ``head`` with a raw 32-byte Ed25519 public key; needs no key
    file, so an export verifier can use it with the published keys."""
    if len(signature) != SIGNATURE_BYTES or key_id_for(public_key_raw) != head.key_id:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key_raw).verify(signature, head.signed_bytes())
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True)
class _StoredKey:
    private_key: Ed25519PrivateKey
    public_raw: bytes
    created: str  # ISO 8601 UTC, for the audit trail of rotations


def _new_key() -> tuple[str, _StoredKey]:
    private = Ed25519PrivateKey.generate()
    public_raw = private.public_key().public_bytes(_RAW, _RAW_PUBLIC)
    created = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return key_id_for(public_raw), _StoredKey(private, public_raw, created)


def _private_raw(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(_RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption())


def _to_json(active: str, keys: dict[str, _StoredKey]) -> str:
    return json.dumps(
        {
            "format": KEY_FILE_FORMAT,
            "active": active,
            "keys": {
                kid: {
                    "algorithm": "ed25519",
                    "private_key": base64.b64encode(_private_raw(k.private_key)).decode(),
                    "created": k.created,
                }
                for kid, k in keys.items()
            },
        },
        indent=2,
    )


def _parse(text: str, origin: Path) -> tuple[str, dict[str, _StoredKey]]:
    damaged = (
        f"the vault signing key file {origin} is damaged or not a Qorgau signing key file; "
        "restore it from backup"
    )
    try:
        raw = json.loads(text)
        if raw.get("format") != KEY_FILE_FORMAT:
            raise ConfigurationError(
                f"the vault signing key file {origin} has format {raw.get('format')!r}, "
                f"expected {KEY_FILE_FORMAT!r}"
            )
        active = raw["active"]
        keys: dict[str, _StoredKey] = {}
        for kid, entry in raw["keys"].items():
            if entry["algorithm"] != "ed25519":
                raise ValueError(f"unsupported algorithm {entry['algorithm']!r}")
            private = Ed25519PrivateKey.from_private_bytes(
                base64.b64decode(entry["private_key"], validate=True)
            )
            public_raw = private.public_key().public_bytes(_RAW, _RAW_PUBLIC)
            if key_id_for(public_raw) != kid:
                raise ConfigurationError(
                    f"the vault signing key file {origin}: key {kid!r} does not match its "
                    "private key; the file was altered, restore it from backup"
                )
            keys[kid] = _StoredKey(private, public_raw, str(entry["created"]))
    except ConfigurationError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        raise ConfigurationError(damaged) from exc
    if active not in keys:
        raise ConfigurationError(
            f"the vault signing key file {origin}: active key {active!r} is missing"
        )
    return active, keys


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigurationError(
            f"the vault signing key file {path} cannot be read ({reason}); check its owner "
            "and permissions"
        ) from exc


def _ensure_private_dir(folder: Path) -> None:
    """Create the key folder owner-only. An existing folder keeps its mode: it may be shared
    (e.g. the data directory) and is not ours to change."""
    if not folder.exists():
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(folder, 0o700)  # mkdir's mode is filtered by the umask


def _write_temp(folder: Path, text: str) -> Path:
    """A fully written, fsynced 0600 file beside the target, ready to be moved into place."""
    fd, name = tempfile.mkstemp(prefix=".signing-", suffix=".tmp", dir=folder)  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """What changes when the key file is replaced (inode, mtime, size), read without opening it."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SigningKeys:
    """The Ed25519 key ring for tree heads: one active signing key plus retired ones kept for
    verification. Obtain with :meth:`load`."""

    def __init__(self, path: Path, active: str, keys: dict[str, _StoredKey]) -> None:
        self._path = path
        self._active = active
        self._keys = dict(keys)
        self._lock = threading.Lock()
        self._stamp = _stamp(path)

    @classmethod
    def load(cls, path: Path | str, create: bool = False) -> SigningKeys:
        """Read the key file; with ``create=True`` make a new one (mode 0600, its folder 0700)
        if none exists. Two processes creating at once end up sharing one file."""
        path = Path(path)
        try:
            return cls(path, *_parse(_read(path), path))
        except FileNotFoundError:
            if not create:
                raise ConfigurationError(
                    f"the vault signing key file {path} is missing; run 'qorgau init' for a new "
                    "installation, or restore the key file from your backup (without it, "
                    "earlier signed tree heads cannot be checked)"
                ) from None
        kid, key = _new_key()
        try:
            _ensure_private_dir(path.parent)
            tmp = _write_temp(path.parent, _to_json(kid, {kid: key}))
            try:
                os.link(tmp, path)  # atomic create-if-absent: never overwrite another's key
            except FileExistsError:
                return cls(path, *_parse(_read(path), path))
            except OSError:  # a filesystem without hard links
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
            _fsync_dir(path.parent)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot create the vault signing key file {path}: {exc.strerror or exc}"
            ) from exc
        return cls(path, kid, {kid: key})

    @property
    def path(self) -> Path:
        return self._path

    @property
    def active_key_id(self) -> str:
        """The key new heads are signed with, re-read first if the key file was replaced."""
        if _stamp(self._path) != self._stamp:
            self.reload()
        return self._active

    def key_ids(self) -> list[str]:
        """Every known key id, oldest first (the file keeps keys in the order they were made)."""
        return list(self._keys)

    def head(self, tree_size: int, root_hash: bytes, timestamp_ms: int | None = None) -> TreeHead:
        """A tree head for the active key, stamped now unless ``timestamp_ms`` is given."""
        if timestamp_ms is None:
            timestamp_ms = int(datetime.now(UTC).timestamp() * 1000)
        return TreeHead(tree_size, root_hash, timestamp_ms, self.active_key_id)

    def sign(self, head: TreeHead) -> bytes:
        """Ed25519 signature (64 bytes) over ``head.signed_bytes()``.

        Only the active key signs: a head naming a retired key means the caller built it
        before a rotation, and signing it would backdate a key we no longer trust for new
        statements.
        """
        active = self._active
        if head.key_id != active:
            raise ValueError(
                f"tree head names key {head.key_id}, but the active signing key is {active}"
            )
        return self._keys[active].private_key.sign(head.signed_bytes())

    def verify(self, head: TreeHead, signature: bytes) -> bool:
        """Whether ``signature`` is valid for ``head`` under the key it names (active or
        retired). Unknown keys and malformed signatures are simply invalid."""
        key = self._keys.get(head.key_id)
        if key is None and self.reload():  # rotated by another process since we loaded
            key = self._keys.get(head.key_id)
        return key is not None and verify_signature(key.public_raw, head, signature)

    def reload(self) -> bool:
        """Re-read the key file, keeping every key known here; whether anything changed.

        A server loads the ring once; after ``qorgau vault rotate-key`` in another process it
        must still verify heads signed with the new key (it re-reads on meeting an unknown key
        id) and should sign with it (``head`` re-reads when the file changed), without restart.
        """
        with self._lock:
            try:
                active, on_disk = _parse(_read(self._path), self._path)
            except (FileNotFoundError, ConfigurationError):
                return False
            self._stamp = _stamp(self._path)
            if active == self._active and set(on_disk) <= set(self._keys):
                return False
            self._keys = {**self._keys, **on_disk}
            self._active = active
            return True

    def public_key_pem(self, key_id: str) -> bytes:
        """SubjectPublicKeyInfo PEM of a key, as ``openssl pkeyutl -pubin`` reads it."""
        try:
            key = self._keys[key_id]
        except KeyError:
            raise KeyError(f"no signing key {key_id!r} in {self._path}") from None
        return key.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def public_keys(self) -> dict[str, bytes]:
        """Every key id with its raw 32-byte public key."""
        return {kid: key.public_raw for kid, key in self._keys.items()}

    def rotate(self) -> str:
        """Make a new active key and keep the old ones; returns the new key id.

        The file is re-read under an exclusive lock and rewritten atomically, so a rotation in
        another process is merged rather than lost (losing a retired key would orphan every
        head it signed).
        """
        with self._lock, self._file_lock():
            try:
                _, on_disk = _parse(_read(self._path), self._path)
            except FileNotFoundError:
                on_disk = {}
            keys = {**on_disk, **self._keys}
            kid, key = _new_key()
            keys[kid] = key
            try:
                tmp = _write_temp(self._path.parent, _to_json(kid, keys))
                os.replace(tmp, self._path)
                _fsync_dir(self._path.parent)
            except OSError as exc:
                raise ConfigurationError(
                    f"cannot rewrite the vault signing key file {self._path}: "
                    f"{exc.strerror or exc}; the active key is unchanged"
                ) from exc
            self._keys, self._active = keys, kid
            self._stamp = _stamp(self._path)
        return kid

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        lock_path = self._path.with_name(self._path.name + ".lock")
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot lock the vault signing key file {self._path} via {lock_path}: "
                f"{exc.strerror or exc}"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)
