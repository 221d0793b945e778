"""A passphrase-sealed byte stream in authenticated chunks.

Why chunks: a backup holds every evidence file and can be far larger than memory, yet a single
AES-GCM message must be held whole to be checked. So the stream is cut into 1 MiB chunks, each
sealed on its own, and the chunk's position and a "last chunk" flag are bound into its
associated data: a changed byte fails that chunk's tag, swapped or dropped chunks fail their
position, and a file cut short lacks the chunk flagged last.

The key comes from scrypt over the passphrase and a random salt kept in the clear header (the
header is bound into every chunk too). Each file has a fresh salt and so a fresh key, which is
why a plain counter is a safe nonce. A hash of a second derived key in the header tells a wrong
passphrase apart from a damaged file without revealing anything usable about the key.

File layout::

    "QGBACKUP" | u16 header length | header (JSON) | frames...
    frame = u32 (top bit: last chunk; low 31 bits: ciphertext length) | ciphertext + tag
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import struct
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from qorgau.errors import QorgauError

MAGIC = b"QGBACKUP"
FORMAT_VERSION = 1
CHUNK = 1024 * 1024
TAG = 16
LAST = 0x8000_0000
MIN_PASSPHRASE = 12
# scrypt at N=2^17, r=8 (128 MiB, a fraction of a second): the cost OWASP suggests for
# interactive use; a backup is opened rarely, so the attacker's cost is what matters.
SCRYPT_N = 2**17
SCRYPT_R = 8
SCRYPT_P = 1
_MAX_N = 2**20  # refuse headers that would make opening a file cost gigabytes
_MAX_HEADER = 4096


class BackupError(QorgauError):
    """The backup cannot be written, opened or trusted; the message says why and what to do."""


def check_passphrase(passphrase: str) -> bytes:
    if len(passphrase) < MIN_PASSPHRASE:
        raise BackupError(
            f"the backup passphrase is too short ({len(passphrase)} characters): use at least "
            f"{MIN_PASSPHRASE}, e.g. five random words, and keep it apart from the backup file"
        )
    return passphrase.encode("utf-8")


def _derive(passphrase: bytes, salt: bytes, n: int, r: int, p: int) -> tuple[bytes, bytes]:
    okm = Scrypt(salt=salt, length=64, n=n, r=r, p=p).derive(passphrase)
    return okm[:32], okm[32:]


def _check_value(check_key: bytes) -> str:
    return hashlib.sha256(b"qorgau-backup-check" + check_key).hexdigest()


class SealedKey:
    """A derived key and the header that goes with it: derive once, write and re-read."""

    def __init__(self, key: bytes, header: bytes) -> None:
        self.aead = AESGCM(key)
        self.header = header
        self.header_hash = hashlib.sha256(header).digest()

    @classmethod
    def new(cls, passphrase: str) -> SealedKey:
        salt = os.urandom(16)
        key, check = _derive(check_passphrase(passphrase), salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
        body = json.dumps(
            {
                "format": FORMAT_VERSION,
                "kdf": "scrypt",
                "n": SCRYPT_N,
                "r": SCRYPT_R,
                "p": SCRYPT_P,
                "salt": base64.b64encode(salt).decode("ascii"),
                "cipher": "AES-256-GCM",
                "chunk": CHUNK,
                "check": _check_value(check),
            },
            sort_keys=True,
        ).encode("ascii")
        return cls(key, MAGIC + struct.pack(">H", len(body)) + body)

    def _aad(self, counter: int, last: bool) -> bytes:
        return self.header_hash + struct.pack(">QB", counter, 1 if last else 0)

    @staticmethod
    def _nonce(counter: int) -> bytes:
        return b"\x00\x00\x00\x00" + struct.pack(">Q", counter)

    def seal(self, counter: int, data: bytes, last: bool) -> bytes:
        return self.aead.encrypt(self._nonce(counter), data, self._aad(counter, last))

    def open(self, counter: int, data: bytes, last: bool) -> bytes:
        return self.aead.decrypt(self._nonce(counter), data, self._aad(counter, last))


def read_header(fh: BinaryIO, passphrase: str, origin: str) -> SealedKey:
    """Read and check the clear header, derive the key; wrong passphrase, wrong file type and
    a damaged header each get their own message."""
    magic = fh.read(len(MAGIC))
    if magic != MAGIC:
        raise BackupError(
            f"{origin} is not a Qorgau backup (it does not start with the backup signature);"
            " check the file name"
        )
    raw_len = fh.read(2)
    if len(raw_len) != 2:
        raise BackupError(f"{origin} is truncated: it ends inside its header")
    (length,) = struct.unpack(">H", raw_len)
    body = fh.read(length)
    if length > _MAX_HEADER or len(body) != length:
        raise BackupError(f"{origin} is damaged or truncated: its header is incomplete")
    try:
        info = json.loads(body)
        version = int(info["format"])
        n, r, p = int(info["n"]), int(info["r"]), int(info["p"])
        salt = base64.b64decode(info["salt"], validate=True)
        check = str(info["check"])
        kdf, cipher, chunk = info["kdf"], info["cipher"], int(info["chunk"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupError(f"{origin} is damaged: its header is not readable") from exc
    if version != FORMAT_VERSION:
        raise BackupError(
            f"{origin} is backup format {version}; this Qorgau reads format {FORMAT_VERSION}."
            " Use the Qorgau version that wrote it"
        )
    if (kdf, cipher, chunk) != ("scrypt", "AES-256-GCM", CHUNK) or not (
        2 <= n <= _MAX_N and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16
    ):
        raise BackupError(f"{origin} is damaged: its header names unsupported parameters")
    key, check_key = _derive(check_passphrase(passphrase), salt, n, r, p)
    if not hmac.compare_digest(_check_value(check_key), check):
        raise BackupError(
            f"the passphrase does not open {origin}: check QORGAU_BACKUP_PASSPHRASE or the"
            " --passphrase-file (or the header was altered)"
        )
    return SealedKey(key, MAGIC + raw_len + body)


class SealedWriter:
    """A write-only file object that seals what it is given in ``CHUNK``-sized pieces."""

    def __init__(self, fh: BinaryIO, key: SealedKey) -> None:
        self._fh = fh
        self._key = key
        self._buffer = bytearray()
        self._counter = 0
        self.bytes_written = 0
        fh.write(key.header)
        self.bytes_written += len(key.header)

    def write(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) > CHUNK:
            self._emit(bytes(self._buffer[:CHUNK]), last=False)
            del self._buffer[:CHUNK]

    def close(self) -> None:
        """Seal what is left as the last chunk (possibly empty): without it a reader knows
        the file was cut short."""
        self._emit(bytes(self._buffer), last=True)
        self._buffer.clear()

    def _emit(self, data: bytes, last: bool) -> None:
        sealed = self._key.seal(self._counter, data, last)
        frame = struct.pack(">I", len(sealed) | (LAST if last else 0)) + sealed
        self._fh.write(frame)
        self.bytes_written += len(frame)
        self._counter += 1


class SealedReader:
    """Reads the plaintext back, chunk by chunk; every failure is a ``BackupError``."""

    def __init__(self, fh: BinaryIO, key: SealedKey, origin: str) -> None:
        self._fh = fh
        self._key = key
        self._origin = origin
        self._counter = 0
        self._buffer = b""
        self._pos = 0
        self._done = False

    def _next_chunk(self) -> bytes:
        raw = self._fh.read(4)
        if len(raw) != 4:
            raise BackupError(
                f"{self._origin} is truncated: it ends before its last block; the copy is"
                " incomplete (copy it again from where it was written)"
            )
        (word,) = struct.unpack(">I", raw)
        last, length = bool(word & LAST), word & ~LAST
        if not TAG <= length <= CHUNK + TAG:
            raise BackupError(f"{self._origin} is damaged at block {self._counter}")
        sealed = self._fh.read(length)
        if len(sealed) != length:
            raise BackupError(f"{self._origin} is truncated inside block {self._counter}")
        try:
            data = self._key.open(self._counter, sealed, last)
        except InvalidTag as exc:
            raise BackupError(
                f"{self._origin} is damaged: block {self._counter} fails its integrity check"
                " (the file was altered or corrupted)"
            ) from exc
        self._counter += 1
        if last:
            self._done = True
            if self._fh.read(1):
                raise BackupError(f"{self._origin} is damaged: bytes follow its last block")
        return data

    def read_exact(self, n: int) -> bytes | None:
        """Exactly ``n`` bytes, or None at a clean end of the stream."""
        parts: list[bytes] = []
        need = n
        while need:
            available = len(self._buffer) - self._pos
            if available == 0:
                if self._done:
                    if need == n:
                        return None
                    raise BackupError(f"{self._origin} is damaged: its contents end mid-record")
                self._buffer, self._pos = self._next_chunk(), 0
                continue
            take = min(available, need)
            parts.append(self._buffer[self._pos : self._pos + take])
            self._pos += take
            need -= take
        return b"".join(parts)
