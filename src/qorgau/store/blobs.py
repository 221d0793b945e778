"""Content-addressed, encrypted storage for attachment bytes.

Evidence files (screenshots, PDFs, forwarded mails) are too large for database rows and must
survive a stolen disk copy as well as the database does, so they live in files encrypted with a
key derived from the same key ring as the field cipher, in a folder apart from the database.

A file is named by the SHA-256 of its plaintext: the same screenshot sent twice is stored once,
and the name is the hash that chain-of-custody records quote anyway. The hash is bound into the
ciphertext as associated data, so a file copied over another one's name fails to decrypt instead
of silently showing the wrong evidence.

The interface is deliberately three calls (``put``/``get``/``exists``) so that a later evidence
vault (object storage, retention, legal hold) can replace this class without touching callers.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from qorgau.config import Settings
from qorgau.errors import ConfigurationError, NotFound, QorgauError
from qorgau.security.keys import KeyRing, RingSource, load_keyring

MAGIC = b"QGBLOB1\x00"
MAGIC2 = b"QGBLOB2\x00"
PARALLEL_BYTES = 8 * 1024 * 1024
STREAM_CHUNK = 8 * 1024 * 1024
NONCE_BYTES = 12
# A distinct HKDF label: the blob key is unrelated to the field key it comes from, so neither
# ciphertext can be fed to the other's decryption.
HKDF_INFO = b"qorgau/blob-store/v1"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class BlobIntegrityError(QorgauError):
    """A stored blob does not decrypt or does not hash to its name: altered, swapped or torn."""


def derive_blob_keys(ring: KeyRing) -> dict[str, bytes]:
    """One blob key per data key, so rotating the ring rotates blob encryption too while
    blobs written under an older key stay readable."""
    return {
        kid: HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(key)
        for kid, key in ring.data_keys.items()
    }


def check_digest(sha256: str) -> str:
    """Refuse anything but a lowercase hex SHA-256: the value becomes a path."""
    if not _SHA256.match(sha256):
        raise NotFound(f"{sha256!r} is not a SHA-256 hex digest")
    return sha256


class RawBackend(Protocol):
    """Where sealed blob bytes live: a local folder by default, object storage at scale.

    Backends store opaque, already-encrypted bytes under a SHA-256 name and know nothing of
    keys or evidence; integrity is checked above them, so a backend cannot vouch for itself.
    """

    def read(self, name: str) -> bytes: ...  # raises FileNotFoundError when absent

    def write(self, name: str, payload: bytes) -> None: ...

    def exists(self, name: str) -> bool: ...

    def names(self) -> Iterator[str]: ...


class LocalBackend:
    """A folder, two levels of fan-out, files written whole (tmp + fsync + rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, name: str) -> Path:
        return self.root / name[:2] / name[2:4] / name

    def read(self, name: str) -> bytes:
        return self.path_for(name).read_bytes()

    def exists(self, name: str) -> bool:
        return self.path_for(name).is_file()

    def names(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for path in sorted(self.root.glob("??/??/*")):
            if _SHA256.match(path.name):
                yield path.name

    def write(self, name: str, payload: bytes) -> None:
        """Write-then-rename with fsyncs: a crash leaves either no file or the whole file,
        never a torn one under the final name."""
        self.commit(self.stage([payload]), name)

    def delete(self, name: str) -> bool:
        """Remove a blob's bytes (erasure, docs/decisions/0026); ``False`` if already gone."""
        try:
            self.path_for(name).unlink()
        except FileNotFoundError:
            return False
        return True

    def open_staged(self) -> tuple[int, Path]:
        """A new file under a temporary name, for bytes whose name (hash) is not known yet."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        staging = self.root / ".staging"
        staging.mkdir(exist_ok=True, mode=0o700)
        tmp = staging / f"{secrets.token_hex(12)}.tmp"
        return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), tmp

    def stage(self, parts: Sequence[bytes]) -> Path:
        """Write bytes durably under a temporary name, before their name (hash) is known, so
        that hashing and writing a large file can run at the same time."""
        fd, tmp = self.open_staged()
        try:
            views = [memoryview(p) for p in parts]
            while views:
                written = os.writev(fd, views)
                while views and written >= len(views[0]):
                    written -= len(views[0])
                    views.pop(0)
                if views and written:
                    views[0] = views[0][written:]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        return tmp

    def commit(self, staged: Path, name: str) -> None:
        path = self.path_for(name)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.parent.parent.mkdir(exist_ok=True, mode=0o700)
        path.parent.mkdir(exist_ok=True, mode=0o700)
        os.replace(staged, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def discard(self, staged: Path) -> None:
        staged.unlink(missing_ok=True)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class _Keys:
    """The blob keys of one ring, swapped whole when the key file is rotated."""

    def __init__(self, ring: KeyRing | None, keys: Mapping[str, bytes], active: str) -> None:
        self.ring = ring
        self.active = active
        self.keys = dict(keys)
        self.aeads = {kid: AESGCM(key) for kid, key in keys.items()}


class BlobStore:
    def __init__(
        self,
        root: Path,
        keys: Mapping[str, bytes],
        active: str,
        backend: RawBackend | None = None,
        source: RingSource | None = None,
    ) -> None:
        if active not in keys:
            raise ConfigurationError(f"blob store: active key {active!r} is missing")
        self.root = root
        self.backend: RawBackend = backend or LocalBackend(root)
        # With a source (a ring read from the key file) the store follows ``qorgau keys
        # rotate`` like the field cipher does: see ``qorgau.security.keys.RingSource``.
        self._source = source
        self._k = _Keys(source.ring if source else None, keys, active)

    def _current(self) -> _Keys:
        if self._source is None:
            return self._k
        ring = self._source.current()
        k = self._k
        if k.ring is not ring:
            k = _Keys(ring, derive_blob_keys(ring), ring.active)
            self._k = k
        return k

    @property
    def _active(self) -> str:
        return self._current().active

    def refresh(self) -> bool:
        """Re-read the key file now; whether it changed."""
        changed = self._source.reload() if self._source else False
        self._current()
        return changed

    @classmethod
    def from_ring(cls, root: Path, ring: KeyRing) -> BlobStore:
        source = RingSource(ring) if ring.origin else None
        return cls(root, derive_blob_keys(ring), ring.active, source=source)

    @classmethod
    def for_settings(cls, settings: Settings) -> BlobStore:
        """The installation's blob store: ``<data dir>/blobs``, or the S3 bucket configured
        with ``QORGAU_S3_*``; keys from the key file either way."""
        from qorgau.store.s3_backend import from_env

        ring = load_keyring(settings.resolved_key_file)
        root = settings.data_dir / "blobs"
        return cls(
            root,
            derive_blob_keys(ring),
            ring.active,
            backend=from_env(dict(settings.s3)),
            source=RingSource(ring),
        )

    def path_for(self, sha256: str) -> Path:
        """Where the local backend keeps a blob (tests and operators look there)."""
        check_digest(sha256)
        return LocalBackend(self.root).path_for(sha256)

    def exists(self, sha256: str) -> bool:
        return self.backend.exists(check_digest(sha256))

    def names(self) -> Iterator[str]:
        return self.backend.names()

    def put(self, data: bytes) -> str:
        """Store ``data`` and return its SHA-256; storing the same bytes again is a no-op
        (unless the copy on disk was damaged, which is then repaired)."""
        if len(data) >= PARALLEL_BYTES and isinstance(self.backend, LocalBackend):
            return self._put_large(data, self.backend)
        digest = hashlib.sha256(data).hexdigest()
        if self.backend.exists(digest):
            try:
                self.get(digest)
                return digest
            except BlobIntegrityError:
                pass  # rewrite the damaged copy with the good bytes we were just given
        self.backend.write(digest, b"".join(self._seal(data)))
        return digest

    def put_file(self, path: Path) -> tuple[str, int]:
        """Store a file without holding it in memory, as fast as the disk allows.

        Reading, hashing, encrypting and the durable write run as a pipeline over 8 MiB
        chunks — hashing and writing in worker threads (both release the GIL) while the next
        chunk is read and encrypted — so ingesting a large capture or video costs about one
        pass of the slowest of them instead of their sum. The output is the same format as
        ``put`` (streaming AES-GCM produces the same ciphertext and tag).
        """
        backend = self.backend
        if not isinstance(backend, LocalBackend):
            data = path.read_bytes()
            return self.put(data), len(data)
        k = self._current()
        header = self._header(k.active)
        nonce = os.urandom(NONCE_BYTES)
        enc = Cipher(algorithms.AES(k.keys[k.active]), modes.GCM(nonce)).encryptor()
        enc.authenticate_additional_data(header)
        digest = hashlib.sha256()
        size = 0
        fd, staged = backend.open_staged()
        try:
            _write_all(fd, header + nonce)
            with ThreadPoolExecutor(max_workers=2) as pool, path.open("rb", buffering=0) as f:
                hashing: Future[None] | None = None
                writing: Future[None] | None = None
                while chunk := f.read(STREAM_CHUNK):
                    size += len(chunk)
                    if hashing is not None:
                        hashing.result()
                    hashing = pool.submit(digest.update, chunk)
                    ct = enc.update(chunk)
                    if writing is not None:
                        writing.result()
                    writing = pool.submit(_write_all, fd, ct)
                for pending in (hashing, writing):
                    if pending is not None:
                        pending.result()
            _write_all(fd, enc.finalize() + enc.tag)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            backend.discard(staged)
            raise
        os.close(fd)
        name = digest.hexdigest()
        if backend.exists(name):
            try:
                self.get(name)
                backend.discard(staged)
                return name, size
            except BlobIntegrityError:
                pass
        backend.commit(staged, name)
        return name, size

    def _put_large(self, data: bytes, backend: LocalBackend) -> str:
        """Hash on one core while the other encrypts and writes: both release the GIL, and
        the encrypted file is staged under a temporary name until the hash names it
        (an in-memory item; files on disk go through the streamed ``put_file``)."""
        with ThreadPoolExecutor(max_workers=1) as pool:
            hashing = pool.submit(lambda: hashlib.sha256(data).hexdigest())
            staged = backend.stage(self._seal(data))
            digest = hashing.result()
        if backend.exists(digest):
            try:
                self.get(digest)
                backend.discard(staged)
                return digest
            except BlobIntegrityError:
                pass
        backend.commit(staged, digest)
        return digest

    def get(self, sha256: str) -> bytes:
        check_digest(sha256)
        try:
            raw = self.backend.read(sha256)
        except FileNotFoundError as exc:
            raise NotFound(f"attachment {sha256} is not in the blob store") from exc
        data = self._open(sha256, raw)
        if hashlib.sha256(data).hexdigest() != sha256:
            raise BlobIntegrityError(f"attachment {sha256} does not match its hash")
        return data

    # -- file format v2: MAGIC2 | len(kid) | kid | nonce | AES-GCM(ciphertext + tag), the header
    # as associated data. (v1, MAGIC, also bound the hash; reading checks the hash anyway, so v2
    # drops it from the AAD and can encrypt before the hash is known.)
    def _header(self, kid: str, magic: bytes = MAGIC2) -> bytes:
        k = kid.encode("ascii")
        return magic + bytes([len(k)]) + k

    def _seal(self, data: bytes) -> list[bytes]:
        k = self._current()
        header = self._header(k.active)
        nonce = os.urandom(NONCE_BYTES)
        ct = k.aeads[k.active].encrypt(nonce, data, header)
        return [header + nonce, ct]

    def key_id(self, sha256: str) -> str:
        """The id of the data key a stored blob is encrypted under (reads only its header
        from a local folder)."""
        check_digest(sha256)
        try:
            if isinstance(self.backend, LocalBackend):
                with self.backend.path_for(sha256).open("rb") as fh:
                    raw = fh.read(len(MAGIC) + 256)
            else:
                raw = self.backend.read(sha256)
        except FileNotFoundError as exc:
            raise NotFound(f"attachment {sha256} is not in the blob store") from exc
        if not (raw.startswith(MAGIC2) or raw.startswith(MAGIC)) or len(raw) <= len(MAGIC):
            raise BlobIntegrityError(f"attachment {sha256} has no blob header: it was altered")
        n = raw[len(MAGIC)]
        return raw[len(MAGIC) + 1 : len(MAGIC) + 1 + n].decode("ascii", errors="replace")

    def reseal(self, sha256: str) -> bool:
        """Rewrite a blob under the active key if it is under an older one; whether it was.

        The bytes are checked against their hash before the rewrite, and the new file replaces
        the old one atomically, so a reader sees either version whole. Content-addressed files
        never change, so a concurrent ``put`` of the same bytes writes an equivalent file.
        """
        if self.key_id(sha256) == self._active:
            return False
        data = self.get(sha256)
        self.backend.write(sha256, b"".join(self._seal(data)))
        return True

    def _open(self, sha256: str, raw: bytes) -> bytes:
        damaged = BlobIntegrityError(
            f"attachment {sha256} failed its integrity check: the file was altered or replaced"
        )
        v2 = raw.startswith(MAGIC2)
        if not (v2 or raw.startswith(MAGIC)) or len(raw) <= len(MAGIC):
            raise damaged
        n = raw[len(MAGIC)]
        start = len(MAGIC) + 1
        kid = raw[start : start + n].decode("ascii", errors="replace")
        header = raw[: start + n]
        body = raw[start + n :]
        aead = self._current().aeads.get(kid)
        if aead is None and self.refresh():  # rotated by another process since we loaded
            aead = self._current().aeads.get(kid)
        if aead is None:
            raise ConfigurationError(
                f"attachment {sha256} was encrypted with key {kid!r}, which the key file lacks;"
                " restore the key file that contains it"
            )
        if len(body) < NONCE_BYTES + 16:
            raise damaged
        try:
            aad = header if v2 else header + sha256.encode()
            return aead.decrypt(body[:NONCE_BYTES], body[NONCE_BYTES:], aad)
        except InvalidTag as exc:
            raise damaged from exc
