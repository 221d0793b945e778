"""What a file really is, decided from its bytes, and how stored bytes are handed back.

A sender chooses a file's name and its declared type; neither says what a browser or a
handler's computer will do with the bytes. ``detect`` reads the magic numbers (the ``filetype``
library for binary formats; markup, scripts and programs it does not know are recognised here),
and everything that keeps or serves files decides from that:

* the public form refuses what is not an image, audio, video, PDF, text, e-mail or ZIP by its
  bytes, and anything *active* (HTML, SVG, XML, scripts, programs) whatever it is called;
* e-mail, Telegram and the vault keep every file as evidence (a phishing page is the proof),
  but record active or unrecognised content as ``application/octet-stream``;
* every route that returns stored bytes sends them as an inert download (``download_headers``).

See docs/decisions/0025-upload-safety.md.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import quote

import filetype  # type: ignore[import-untyped]

OCTET_STREAM = "application/octet-stream"
SNIFF_BYTES = 8192

# Content that runs or renders with script when opened: never labelled as itself.
ACTIVE_TYPES = frozenset(
    {
        "text/html",
        "image/svg+xml",
        "application/xhtml+xml",
        "application/xml",
        "text/xml",
        "application/javascript",
        "text/x-shellscript",
        "application/x-msdownload",
        "application/x-executable",
        "application/x-mach-binary",
        "application/java-vm",
        "application/x-shockwave-flash",
        "application/wasm",
        "application/x-google-chrome-extension",
        "application/x-deb",
        "application/x-rpm",
        "application/vnd.ms-cab-compressed",
        "application/x-ms-shortcut",
    }
)
ARCHIVE_TYPES = frozenset(
    {
        "application/zip",
        "application/gzip",
        "application/x-tar",
        "application/x-bzip2",
        "application/x-xz",
    }
)

_MARKUP_START = re.compile(rb"^(?:\xef\xbb\xbf)?[\s\x00]*<[!?a-zA-Z]")
_SVG = re.compile(rb"<svg[\s>/]", re.IGNORECASE)
_HTML = re.compile(
    rb"<(?:!doctype\s+html|html|head|body|script|iframe|frame|object|embed|style|meta|a\s|img"
    rb"|div|p[\s>]|table|form|title|br|b[\s>]|font|h1)",
    re.IGNORECASE,
)
_MACH_O = (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe")
_MAIL_HEADER = re.compile(
    rb"^(?:Return-Path|Received|From|To|Subject|Date|Message-ID|MIME-Version|Delivered-To"
    rb"|X-[A-Za-z-]+):[ \t]",
    re.IGNORECASE,
)


def detect(data: bytes) -> str | None:
    """The media type the bytes are, or None when nothing recognisable is there."""
    head = data[:SNIFF_BYTES]
    if not head:
        return None
    if head.startswith(_MACH_O):
        return "application/x-mach-binary"
    if head.startswith(b"\xca\xfe\xba\xbe"):
        return "application/java-vm"  # Java class or a universal Mach-O program: both run
    if head.startswith(b"L\x00\x00\x00\x01\x14\x02\x00"):
        return "application/x-ms-shortcut"
    kind = filetype.guess_mime(head)
    if kind is not None:
        return str(kind)
    if _MARKUP_START.match(head):
        if _SVG.search(head[:4096]):
            return "image/svg+xml"
        if _HTML.search(head[:4096]):
            return "text/html"
        return "application/xml"
    if b"\x00" in head:
        return None  # binary nobody here knows
    if head.startswith(b"#!"):
        return "text/x-shellscript"
    if _MAIL_HEADER.match(head):
        return "message/rfc822"
    return "text/plain"


@dataclass(frozen=True)
class Verdict:
    """What the bytes are, and whether that may be labelled and shown as such."""

    detected: str | None
    declared: str

    @property
    def active(self) -> bool:
        return self.detected in ACTIVE_TYPES

    @property
    def stored_type(self) -> str:
        """The type recorded with the file: what the bytes are (whatever the sender declared),
        or opaque bytes when they are active or unrecognised."""
        if self.detected is None or self.active:
            return OCTET_STREAM
        return self.detected


def inspect(data: bytes, declared: str | None = None) -> Verdict:
    kind = (declared or "").split(";", 1)[0].strip().lower()
    return Verdict(detect(data), kind)


def stored_media_type(data: bytes, declared: str | None = None) -> str:
    return inspect(data, declared).stored_type


# -- handing stored bytes back --------------------------------------------------------------

_UNSAFE_NAME = re.compile(r'[\\/:*?"<>|;]')


def safe_filename(name: str | None, fallback: str) -> str:
    """A name fit for a ``Content-Disposition`` header and a handler's disk: the last path
    component, no control or separator characters, no leading dots, at most 150 characters.
    Whatever a sender sent ("../../etc/passwd", "C:\\x", NUL bytes), it stays one plain name."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C")
    base = _UNSAFE_NAME.sub("_", base).strip().lstrip(".").strip()
    if not base:
        return fallback
    if len(base) > 150:
        stem, dot, ext = base.rpartition(".")
        base = f"{stem[: 149 - len(ext)]}.{ext}" if dot and len(ext) <= 10 else base[:150]
    return base


def content_disposition(name: str | None, fallback: str) -> str:
    """RFC 6266 ``attachment`` with an ASCII ``filename`` and the exact name as RFC 5987
    ``filename*`` (Kazakh and Russian names survive; old clients get an ASCII stand-in)."""
    clean = safe_filename(name, fallback)
    ascii_name = clean.encode("ascii", "replace").decode("ascii").replace("?", "_")
    if clean == ascii_name:
        return f'attachment; filename="{ascii_name}"'
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(clean, safe='')}"


def download_headers(name: str | None, fallback: str, sha256: str, detected: str) -> dict[str, str]:
    """Headers for any stored bytes handed back: always a download, never rendered or allowed
    to run script (``sandbox``), whatever the bytes are. ``nosniff`` comes with every response
    (``web.app.SecurityHeaders``); the content type is always ``application/octet-stream``."""
    return {
        "content-disposition": content_disposition(name, fallback),
        "content-security-policy": "default-src 'none'; sandbox",
        "x-qorgau-sha256": sha256,
        "x-qorgau-original-type": detected[:100],
    }
