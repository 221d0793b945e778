"""Decoding exported files into text.

Exports reach us from old Windows desktops (cp1251), from phones (UTF-8, sometimes UTF-16 with
a byte-order mark) and from mail archives. Guessing wrong silently turns names and threats
into mojibake that no detector will match, so a guess is accepted only when it is confident;
otherwise the person is asked to re-save the file as UTF-8, which every editor can do."""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from charset_normalizer import from_bytes

from qorgau.errors import InvalidInput

# The single-byte encodings that realistically occur in Kazakh and Russian-language exports.
# Letting the detector consider every codec it knows makes it "find" Chinese or Japanese in
# short Cyrillic files, so the field is kept narrow on purpose.
_CANDIDATES = ["cp1251", "koi8_r", "koi8_u", "cp866", "kz1048", "ptcp154", "cp1252", "latin_1"]
_MAX_CHAOS = 0.1
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_DECLARED = re.compile(rb"""<meta[^>]+charset=["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


def read_text(path: Path) -> str:
    """The file's text; raises InvalidInput naming the file when it cannot be read reliably."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput.single(
            "file", "readable", f"{path.name} cannot be read ({exc.strerror or exc})"
        ) from exc
    return decode_bytes(data, path.name)


def decode_bytes(data: bytes, name: str, *, declared: str | None = None) -> str:
    """Decode ``data`` (the contents of the file called ``name``).

    ``declared`` is an encoding the file states about itself (an HTML meta charset); it is
    trusted only after UTF-8 has failed, because saved pages often keep a stale declaration
    after being re-encoded."""
    for bom, codec in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError as exc:
                raise _unreadable(name, f"it starts as {codec.upper()} but is damaged") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if declared:
        try:
            return data.decode(declared)
        except (LookupError, UnicodeDecodeError):
            pass
    best = from_bytes(data, cp_isolation=_CANDIDATES).best()
    if best is None or best.chaos > _MAX_CHAOS:
        raise _unreadable(
            name, "it is not UTF-8 and its encoding could not be recognised with confidence"
        )
    text = str(best)
    if _CONTROL.search(text):
        raise _unreadable(name, "it looks like a binary file, not text")
    return text


def declared_html_charset(data: bytes) -> str | None:
    """The charset a saved HTML page declares in its first few kilobytes, if any."""
    found = _DECLARED.search(data[:4096])
    return found.group(1).decode("ascii").lower() if found else None


def _unreadable(name: str, why: str) -> InvalidInput:
    return InvalidInput.single(
        "file",
        "encoding",
        f"{name} cannot be read as text: {why}; open it in a text editor or spreadsheet "
        "and save it again as UTF-8",
    )
