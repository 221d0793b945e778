"""Archive bombs and path tricks, found without extracting anything to disk.

A ZIP of a few kilobytes can declare gigabytes of zeros; a handler who opens it fills their
disk, an indexer that walks it stalls. Archives are judged from their directory (ZIP's central
directory, tar's headers) and, for gzip, bzip2 and xz, by decompressing into a counter that
stops at the limit. Python's ``zipfile`` never returns more bytes for an entry than its
declared size, so the declared sizes bound what anyone reading the archive through it can get.
Nested archives are opened in memory up to ``max_depth``; an archive deeper than that is
refused. 7z and RAR are not read (no well-kept library unpacks them safely in Python here):
they are kept as inert evidence, never unpacked by Qorgau.

The reasons are short English phrases (``Problem.reason``) with a ``rule`` the forms translate.
"""

from __future__ import annotations

import bz2
import io
import lzma
import re
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from qorgau.i18n import N_, gettext
from qorgau.security.uploads import ARCHIVE_TYPES, detect

MB = 1024 * 1024

# The rule of a ``Problem`` in words a reporter reads (English source; ``uploads`` catalogue).
REASON_MESSAGES = {
    "too_large": N_("it would unpack to more data than Qorgau takes"),
    "ratio": N_("it is compressed so tightly that it may be an archive bomb"),
    "entries": N_("it holds too many files"),
    "depth": N_("it holds archives inside archives, too many levels deep"),
    "path": N_("a file in it is named so that it would land outside its folder"),
    "unreadable": N_("it is damaged and cannot be read"),
}
REFUSED_ARCHIVE = N_(
    "{name}: this archive was not kept: {reason}. Send the files in it one by one instead."
)


@dataclass(frozen=True)
class ArchiveLimits:
    """A real evidence archive (screenshots, a chat export) is nowhere near these."""

    max_total_bytes: int = 512 * MB
    max_ratio: int = 200  # uncompressed / compressed, judged on entries over 1 MB
    max_entries: int = 10_000
    max_depth: int = 2  # an archive inside an archive is fine; one more level is not
    max_inner_bytes: int = 20 * MB  # a nested archive is read into memory up to this


DEFAULT_ARCHIVE_LIMITS = ArchiveLimits()
_RATIO_FLOOR = MB
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class Problem:
    rule: str  # too_large | ratio | entries | depth | path | unreadable
    reason: str


class _Refused(Exception):
    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(reason)
        self.problem = Problem(rule, reason)


def check_archive(data: bytes, limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS) -> Problem | None:
    """None when ``data`` is not an archive or is a reasonable one; the first problem else."""
    try:
        _check(data, limits, depth=1)
    except _Refused as exc:
        return exc.problem
    return None


def archive_refusal(
    lang: str, name: str, data: bytes, limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS
) -> str | None:
    """The message for a sender (chat, mail reply) when ``data`` is an archive refused here."""
    problem = check_archive(data, limits)
    if problem is None:
        return None
    return gettext(
        lang, REFUSED_ARCHIVE, name=name, reason=gettext(lang, REASON_MESSAGES[problem.rule])
    )


def _kind(data: bytes) -> str | None:
    """The archive type by magic bytes; a ZIP is a ZIP whatever it claims to be (a "docx",
    "jar" or "apk" unpacks like any other ZIP, bomb included)."""
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "application/zip"
    return detect(data)


def _check(data: bytes, limits: ArchiveLimits, depth: int) -> None:
    kind = _kind(data)
    if kind == "application/zip":
        _check_zip(data, limits, depth)
    elif kind == "application/gzip":
        _check_gzip(data, limits, depth)
    elif kind == "application/x-tar":
        _check_tar(data, limits, depth)
    elif kind == "application/x-bzip2":
        _check_stream(data, limits, depth, bz2.BZ2Decompressor)
    elif kind == "application/x-xz":
        _check_stream(data, limits, depth, lzma.LZMADecompressor)


def _nested(depth: int, limits: ArchiveLimits) -> None:
    if depth > limits.max_depth:
        raise _Refused("depth", f"archives are nested more than {limits.max_depth} levels deep")


def check_entry_name(name: str) -> None:
    """Refuse names that would land outside the folder they are extracted into."""
    parts = re.split(r"[\\/]", name)
    if name.startswith(("/", "\\")) or _DRIVE.match(name) or ".." in parts or "\x00" in name:
        raise _Refused("path", f"an entry's name points outside the archive: {name[:80]!r}")


def _check_zip(data: bytes, limits: ArchiveLimits, depth: int) -> None:
    _nested(depth, limits)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            if len(infos) > limits.max_entries:
                raise _Refused("entries", f"it holds {len(infos)} entries")
            total = 0
            for info in infos:
                check_entry_name(info.filename)
                total += info.file_size
                if total > limits.max_total_bytes:
                    raise _Refused(
                        "too_large", f"it unpacks to more than {limits.max_total_bytes // MB} MB"
                    )
                ratio = info.file_size / max(info.compress_size, 1)
                if info.file_size > _RATIO_FLOOR and ratio > limits.max_ratio:
                    raise _Refused("ratio", f"an entry is compressed {ratio:.0f} to 1")
            for info in infos:
                if not _readable(info):
                    continue  # a password-protected or Deflate64 entry: its sizes were checked
                if info.is_dir() or info.file_size > limits.max_inner_bytes:
                    if info.file_size > limits.max_inner_bytes and _looks_nested(zf, info):
                        raise _Refused("depth", "a nested archive is too large to inspect")
                    continue
                if _looks_nested(zf, info):
                    _check(zf.read(info), limits, depth + 1)
    except _Refused:
        raise
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        OSError,
        EOFError,
        NotImplementedError,
        RuntimeError,
        ValueError,
        zlib.error,
    ) as exc:
        raise _Refused("unreadable", f"the archive cannot be read ({exc})") from exc


def _readable(info: zipfile.ZipInfo) -> bool:
    """Encrypted evidence is common (a source protects it); it is judged by its directory."""
    supported = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
    return not info.flag_bits & 0x1 and info.compress_type in supported


def _looks_nested(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bool:
    with zf.open(info) as f:
        return _kind(f.read(512)) in ARCHIVE_TYPES


class _Unpacked:
    """What a compressed stream has given so far: its size, held to the limits as it grows,
    and its first bytes, so that an archive inside can be looked into."""

    def __init__(self, limits: ArchiveLimits, packed_size: int) -> None:
        self.limits, self.packed_size = limits, max(packed_size, 1)
        self.total, self.head = 0, b""

    def add(self, chunk: bytes) -> None:
        limits = self.limits
        self.total += len(chunk)
        if len(self.head) < limits.max_inner_bytes:
            self.head += chunk[: limits.max_inner_bytes - len(self.head)]
        if self.total > limits.max_total_bytes:
            raise _Refused(
                "too_large", f"it unpacks to more than {limits.max_total_bytes // MB} MB"
            )
        if self.total > _RATIO_FLOOR and self.total / self.packed_size > limits.max_ratio:
            raise _Refused("ratio", f"it is compressed more than {limits.max_ratio} to 1")

    def look_inside(self, depth: int) -> None:
        if self.total <= self.limits.max_inner_bytes:
            _check(self.head, self.limits, depth + 1)
        elif detect(self.head[:512]) in ARCHIVE_TYPES:
            raise _Refused("depth", "a nested archive is too large to inspect")


def _check_gzip(data: bytes, limits: ArchiveLimits, depth: int) -> None:
    """Decompress into a counter, a chunk at a time, stopping as soon as a limit is passed."""
    _nested(depth, limits)
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    unpacked, pending = _Unpacked(limits, len(data)), data
    try:
        while True:
            while pending and not d.eof:
                chunk = d.decompress(pending, 64 * 1024)
                pending = d.unconsumed_tail
                unpacked.add(chunk)
                if not chunk and not pending:
                    break
            # gunzip unpacks every member of a file made of several gzip members, so the
            # count goes on into the next one (trailing zero padding is not a member).
            if d.eof and d.unused_data.strip(b"\x00"):
                pending = d.unused_data
                d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                continue
            break
    except zlib.error as exc:
        raise _Refused("unreadable", f"the archive cannot be read ({exc})") from exc
    unpacked.look_inside(depth)


class _Decompressor(Protocol):
    """What bz2's and lzma's incremental decompressors share."""

    @property
    def eof(self) -> bool: ...
    @property
    def needs_input(self) -> bool: ...
    @property
    def unused_data(self) -> bytes: ...
    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...


def _check_stream(
    data: bytes, limits: ArchiveLimits, depth: int, new: Callable[[], _Decompressor]
) -> None:
    """bzip2 and xz, like gzip: a chunk at a time into a counter, every stream of a file
    made of several (``bunzip2`` and ``unxz`` unpack them all), stopping at a limit."""
    _nested(depth, limits)
    d, unpacked, pending = new(), _Unpacked(limits, len(data)), data
    try:
        while True:
            chunk = d.decompress(pending, 64 * 1024)
            pending = b""  # the decompressor keeps what it has not used yet
            unpacked.add(chunk)
            if d.eof:
                if not d.unused_data.strip(b"\x00"):
                    break
                # xz allows zero padding between streams; a new decoder must start at one.
                d, pending = new(), d.unused_data.lstrip(b"\x00")
            elif d.needs_input:
                break  # cut short: what it held has been counted
    except (OSError, EOFError, ValueError, lzma.LZMAError) as exc:
        raise _Refused("unreadable", f"the archive cannot be read ({exc})") from exc
    unpacked.look_inside(depth)


def _check_tar(data: bytes, limits: ArchiveLimits, depth: int) -> None:
    _nested(depth, limits)
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tf:
            total = 0
            for count, member in enumerate(tf, start=1):
                if count > limits.max_entries:
                    raise _Refused("entries", f"it holds more than {limits.max_entries} entries")
                check_entry_name(member.name)
                if member.issym() or member.islnk():
                    check_entry_name(member.linkname)
                total += member.size
                if total > limits.max_total_bytes:
                    raise _Refused(
                        "too_large", f"it unpacks to more than {limits.max_total_bytes // MB} MB"
                    )
                if member.isfile() and member.size <= limits.max_inner_bytes:
                    f = tf.extractfile(member)
                    if f is not None:
                        with f:
                            inner = f.read()
                        if detect(inner[:512]) in ARCHIVE_TYPES:
                            _check(inner, limits, depth + 1)
    except _Refused:
        raise
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        raise _Refused("unreadable", f"the archive cannot be read ({exc})") from exc
