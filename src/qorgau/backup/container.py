"""Members and the manifest inside the sealed stream.

The plaintext is a sequence of records ``kind (1 byte) | u32 length | payload``: ``B`` starts a
member (payload: its name), ``D`` carries up to 1 MiB of its bytes, ``E`` ends it, and one ``M``
record — the manifest, JSON — closes the stream. Members are written as they are produced, so
their sizes need not be known in advance and nothing is staged in clear on disk; the manifest
comes last because it holds every member's SHA-256. Reading checks each member against it and
that no member is missing or extra.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from qorgau.backup.crypto import (
    CHUNK,
    BackupError,
    SealedKey,
    SealedReader,
    SealedWriter,
    read_header,
)

MANIFEST_FORMAT = "qorgau-backup"


@dataclass
class MemberSink:
    """Where one member's bytes go while it is written; hashes and counts on the way."""

    writer: SealedWriter
    digest: Any = field(default_factory=hashlib.sha256)
    size: int = 0

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        for start in range(0, len(view), CHUNK):
            piece = bytes(view[start : start + CHUNK])
            self.writer.write(b"D" + struct.pack(">I", len(piece)) + piece)
            self.digest.update(piece)
            self.size += len(piece)


class ContainerWriter:
    def __init__(self, fh: BinaryIO, key: SealedKey) -> None:
        self._writer = SealedWriter(fh, key)
        self.members: dict[str, dict[str, Any]] = {}

    def _record(self, kind: bytes, payload: bytes) -> None:
        self._writer.write(kind + struct.pack(">I", len(payload)) + payload)

    def add(self, name: str, produce: Callable[[MemberSink], None]) -> dict[str, Any]:
        """Write one member: ``produce`` writes its bytes to the sink it is given."""
        if name in self.members:
            raise ValueError(f"member {name} written twice")
        self._record(b"B", name.encode("utf-8"))
        sink = MemberSink(self._writer)
        produce(sink)
        self._record(b"E", b"")
        entry = {"sha256": sink.digest.hexdigest(), "size": sink.size}
        self.members[name] = entry
        return entry

    def finish(self, manifest: dict[str, Any]) -> int:
        """Write the manifest (with the member list filled in) and seal the last chunk;
        returns the file's size."""
        body = {**manifest, "members": self.members}
        self._record(b"M", json.dumps(body, sort_keys=True).encode("utf-8"))
        self._writer.close()
        return self._writer.bytes_written


@dataclass(frozen=True)
class Event:
    kind: str  # "begin", "data", "end"
    name: str
    data: bytes = b""


def read_events(
    fh: BinaryIO, key: SealedKey, origin: str, manifest_out: dict[str, Any]
) -> Iterator[Event]:
    """Yield the members' bytes as they are decrypted; at the end, check every member against
    the manifest (which is then copied into ``manifest_out``). A caller that acts on members
    before the end must be ready to undo: only a fully consumed stream has been checked."""
    reader = SealedReader(fh, key, origin)
    seen: dict[str, dict[str, Any]] = {}
    current: str | None = None
    digest: Any = None
    size = 0
    while True:
        head = reader.read_exact(5)
        if head is None:
            raise BackupError(f"{origin} is damaged: it has no manifest")
        kind, length = head[:1], struct.unpack(">I", head[1:])[0]
        if length > 64 * CHUNK:
            raise BackupError(f"{origin} is damaged: a record is impossibly large")
        payload = reader.read_exact(length) if length else b""
        if payload is None:
            raise BackupError(f"{origin} is damaged: its contents end mid-record")
        if kind == b"B" and current is None:
            current = payload.decode("utf-8", errors="replace")
            if current in seen:
                raise BackupError(f"{origin} is damaged: member {current} appears twice")
            digest, size = hashlib.sha256(), 0
            yield Event("begin", current)
        elif kind == b"D" and current is not None:
            digest.update(payload)
            size += len(payload)
            yield Event("data", current, payload)
        elif kind == b"E" and current is not None:
            seen[current] = {"sha256": digest.hexdigest(), "size": size}
            yield Event("end", current)
            current = None
        elif kind == b"M" and current is None:
            manifest = _parse_manifest(payload, origin)
            if reader.read_exact(1) is not None:
                raise BackupError(f"{origin} is damaged: data follows its manifest")
            _compare(manifest["members"], seen, origin)
            manifest_out.update(manifest)
            return
        else:
            raise BackupError(f"{origin} is damaged: its records are out of order")


def _parse_manifest(payload: bytes, origin: str) -> dict[str, Any]:
    try:
        manifest = json.loads(payload)
    except ValueError as exc:
        raise BackupError(f"{origin} is damaged: its manifest is not readable") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise BackupError(f"{origin} is not a Qorgau backup: its manifest is of another kind")
    if not isinstance(manifest.get("members"), dict):
        raise BackupError(f"{origin} is damaged: its manifest lists no members")
    return manifest


def _compare(
    expected: dict[str, dict[str, Any]], seen: dict[str, dict[str, Any]], origin: str
) -> None:
    for name in sorted(set(expected) - set(seen)):
        raise BackupError(f"{origin} is damaged: member {name} is missing")
    for name in sorted(set(seen) - set(expected)):
        raise BackupError(f"{origin} is damaged: member {name} is not in its manifest")
    for name, want in expected.items():
        if seen[name] != {"sha256": want.get("sha256"), "size": want.get("size")}:
            raise BackupError(
                f"{origin} is damaged: member {name} does not match its recorded SHA-256 and size"
            )


def verify_file(path: Path, key: SealedKey) -> dict[str, Any]:
    """Decrypt every chunk, hash every member, check the manifest; returns the manifest.

    ``key`` is one already derived for this file (by ``read_header`` or when writing it); the
    header on disk must be the one it belongs to."""
    manifest: dict[str, Any] = {}
    with path.open("rb") as fh:
        if fh.read(len(key.header)) != key.header:
            raise BackupError(f"{path} is damaged: its header changed")
        for _ in read_events(fh, key, str(path), manifest):
            pass
    return manifest


def open_and_verify(path: Path, passphrase: str) -> tuple[SealedKey, dict[str, Any]]:
    """Check a backup file end to end with its passphrase; returns its key and manifest."""
    try:
        with path.open("rb") as fh:
            key = read_header(fh, passphrase, str(path))
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return key, verify_file(path, key)
