"""Attachments of an incident: rows that point at encrypted blobs.

The bytes go to the blob store *before* the database transaction (writing 50 MB while holding
the write lock would stall every other report); the rows go in the same transaction as the
incident, so an incident never exists without the attachments it was filed with. A blob whose
transaction then rolls back is an orphan, harmless and content-addressed: the next attempt at the
same report finds it already there.

File names can identify people ("passport_Aigerim.jpg"), so they are encrypted like any other
personal field; size, media type and hash are what handlers and custody records need in clear.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

import sqlalchemy as sa

from qorgau.security.fields import FieldCipher
from qorgau.security.uploads import stored_media_type
from qorgau.store.blobs import BlobStore, check_digest
from qorgau.store.tables import attachments

MB = 1024 * 1024
FILENAME_CONTEXT = "attachments.filename"
PROTECTED = "[protected]"
DEFAULT_MEDIA_TYPE = "application/octet-stream"
_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,62}/[a-z0-9][a-z0-9!#$&^_.+-]{0,62}$")
MAX_FILENAME = 255


@dataclass(frozen=True)
class AttachmentLimits:
    """What one report may carry. Telegram bots cannot download more than 20 MB per file, and
    50 MB per report keeps one sender from filling the evidence disk."""

    max_file_bytes: int = 20 * MB
    max_report_bytes: int = 50 * MB
    max_files: int = 20


DEFAULT_LIMITS = AttachmentLimits()


@dataclass(frozen=True)
class IncomingFile:
    """A file as it arrived, not yet stored."""

    filename: str | None
    media_type: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class BlobRef:
    """A file already in the blob store (e.g. downloaded while a Telegram draft grew)."""

    sha256: str
    size: int
    media_type: str
    filename: str | None


@dataclass(frozen=True)
class RefusedFile:
    """A file that was not kept and why, in words fit to send back to the sender."""

    filename: str | None
    size: int
    rule: str  # file_too_large | report_too_large | too_many_files
    message: str


@dataclass(frozen=True)
class Attachment:
    id: int
    incident_id: int
    sha256: str
    size: int
    media_type: str
    filename: str | None
    source: str
    created_at: datetime


class _Sized(Protocol):
    @property
    def filename(self) -> str | None: ...
    @property
    def size(self) -> int: ...


F = TypeVar("F", bound=_Sized)


def human_size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    if n < MB:
        return f"{n / 1024:.0f} KB"
    return f"{n / MB:.1f} MB"


def describe(name: str | None) -> str:
    return f"'{name}'" if name else "an unnamed file"


def screen(
    files: Sequence[F],
    limits: AttachmentLimits = DEFAULT_LIMITS,
    *,
    count_so_far: int = 0,
    bytes_so_far: int = 0,
) -> tuple[list[F], list[RefusedFile]]:
    """Split files into those within the limits and those refused, keeping arrival order.

    ``count_so_far``/``bytes_so_far`` are what the report already holds (a draft that grows
    one message at a time), so the per-report limits hold across messages.
    """
    accepted: list[F] = []
    refused: list[RefusedFile] = []
    count, total = count_so_far, bytes_so_far
    for f in files:
        what = describe(f.filename)
        if f.size > limits.max_file_bytes:
            refused.append(
                RefusedFile(
                    f.filename,
                    f.size,
                    "file_too_large",
                    f"{what} is {human_size(f.size)}; files of at most "
                    f"{human_size(limits.max_file_bytes)} are accepted",
                )
            )
        elif count + 1 > limits.max_files:
            refused.append(
                RefusedFile(
                    f.filename,
                    f.size,
                    "too_many_files",
                    f"{what} was not kept: a report holds at most {limits.max_files} files",
                )
            )
        elif total + f.size > limits.max_report_bytes:
            refused.append(
                RefusedFile(
                    f.filename,
                    f.size,
                    "report_too_large",
                    f"{what} was not kept: the files of one report may total at most "
                    f"{human_size(limits.max_report_bytes)}",
                )
            )
        else:
            accepted.append(f)
            count += 1
            total += f.size
    return accepted, refused


def clean_filename(name: str | None) -> str | None:
    """The last path component, without control characters, at most 255 characters: a
    sender chooses this string, and it will be shown to handlers and used when saving."""
    if not name:
        return None
    base = re.split(r"[\\/]", name)[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    if base in ("", ".", ".."):
        return None
    return base[:MAX_FILENAME]


def clean_media_type(value: str | None) -> str:
    v = (value or "").split(";", 1)[0].strip().lower()
    return v if _MEDIA_TYPE.match(v) else DEFAULT_MEDIA_TYPE


def store_blobs(blobs: BlobStore, files: Sequence[IncomingFile]) -> list[BlobRef]:
    """Put the bytes in the blob store (outside any transaction, see the module docstring)."""
    return [
        BlobRef(
            blobs.put(f.data),
            f.size,
            # What the bytes are, not what the sender called them (``security.uploads``).
            clean_media_type(stored_media_type(f.data, f.media_type)),
            clean_filename(f.filename),
        )
        for f in files
    ]


def add_attachments(
    conn: sa.Connection,
    cipher: FieldCipher,
    incident_id: int,
    files: Sequence[BlobRef],
    source: str,
    now: datetime,
) -> list[Attachment]:
    """Attach already-stored blobs to an incident, inside the caller's transaction."""
    out: list[Attachment] = []
    for f in files:
        check_digest(f.sha256)
        media_type = clean_media_type(f.media_type)
        filename = clean_filename(f.filename)
        result = conn.execute(
            attachments.insert().values(
                incident_id=incident_id,
                sha256=f.sha256,
                size=f.size,
                media_type=media_type,
                filename_enc=cipher.encrypt(filename, FILENAME_CONTEXT),
                source=source,
                created_at=now,
            )
        )
        pk = result.inserted_primary_key
        assert pk is not None
        out.append(
            Attachment(int(pk[0]), incident_id, f.sha256, f.size, media_type, filename, source, now)
        )
    return out


def list_attachments(
    conn: sa.Connection, cipher: FieldCipher, incident_id: int, reveal_names: bool
) -> list[Attachment]:
    """An incident's attachments in the order they were filed; names only for those who may
    see personal data (others get ``[protected]`` where a name exists)."""
    c = attachments.c
    rows = conn.execute(
        # Erased attachments are gone for every reader, even when another case keeps the bytes.
        sa.select(attachments)
        .where(c.incident_id == incident_id, c.erased_at.is_(None))
        .order_by(c.id)
    ).mappings()
    out = []
    for r in rows:
        if r["filename_enc"] is None:
            name = None
        elif reveal_names:
            name = cipher.decrypt(r["filename_enc"], FILENAME_CONTEXT)
        else:
            name = PROTECTED
        out.append(
            Attachment(
                r["id"],
                r["incident_id"],
                r["sha256"],
                r["size"],
                r["media_type"],
                name,
                r["source"],
                r["created_at"],
            )
        )
    return out
