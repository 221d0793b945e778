"""Choosing the importer for a file, so that a person can hand over whatever they have
without first learning our format names."""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import tzinfo
from pathlib import Path

import orjson

from qorgau.errors import InvalidInput
from qorgau.observe.encoding import decode_bytes
from qorgau.observe.importers._common import Progress, header_key, sniff_delimiter
from qorgau.observe.importers.ad_pages import PAGE_SUFFIXES, import_ad_pages
from qorgau.observe.importers.ads import AD_MARKERS, import_ads_jsonl
from qorgau.observe.importers.calls import import_call_log, looks_like_call_log
from qorgau.observe.importers.mbox import import_mbox
from qorgau.observe.importers.posts import import_posts_csv, import_posts_jsonl
from qorgau.observe.importers.telegram import import_telegram
from qorgau.observe.normalize import LOCAL_TZ
from qorgau.observe.result import ImportResult

FORMATS = ("telegram", "posts", "ads", "ad-pages", "calls", "mbox")
_DESCRIBED = (
    "telegram (Telegram Desktop result.json), posts (.csv or .jsonl), ads (.jsonl), "
    "ad-pages (.html or a folder of them), calls (call/SMS log .csv), mbox (.mbox)"
)
_HEAD = 64 * 1024
_JSON_LINES = (".jsonl", ".ndjson")
_CSV = (".csv", ".tsv")


def import_file(
    path: Path,
    source: str,
    *,
    format: str | None = None,
    progress: Progress | None = None,
    owner_phone: str | None = None,
    platform: str | None = None,
    default_tz: tzinfo = LOCAL_TZ,
) -> ImportResult:
    """Import ``path`` with the importer ``format`` names, or the one its name and first
    bytes point to. ``owner_phone`` is for call logs without a callee column, ``platform``
    for posts and ads that do not name theirs; naive times are read in ``default_tz``."""
    if not path.exists():
        raise InvalidInput.single("file", "exists", f"{path.name} does not exist")
    chosen = format or guess_format(path)
    if chosen not in FORMATS:
        raise InvalidInput.single(
            "format", "enum", f"{chosen!r} is not a format we read; use {_DESCRIBED}", FORMATS
        )
    suffix = path.suffix.lower()
    importers: dict[str, Callable[[], ImportResult]] = {
        "telegram": lambda: import_telegram(path, source, default_tz=default_tz, progress=progress),
        "posts": lambda: (import_posts_csv if suffix in _CSV else import_posts_jsonl)(
            path, source, platform=platform, default_tz=default_tz, progress=progress
        ),
        "ads": lambda: import_ads_jsonl(
            path, source, site=platform, default_tz=default_tz, progress=progress
        ),
        "ad-pages": lambda: import_ad_pages(
            path, source, site=platform, default_tz=default_tz, progress=progress
        ),
        "calls": lambda: import_call_log(
            path, source, owner_phone=owner_phone, default_tz=default_tz, progress=progress
        ),
        "mbox": lambda: import_mbox(path, source, default_tz=default_tz, progress=progress),
    }
    return importers[chosen]()


def guess_format(path: Path) -> str:
    """The format a file's name and first bytes point to; InvalidInput listing the formats
    when neither settles it."""
    if path.is_dir():
        return "ad-pages"
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "telegram"
    if suffix in PAGE_SUFFIXES:
        return "ad-pages"
    if suffix in (".mbox", ".mbx"):
        return "mbox"
    head = _head(path)
    if suffix in _JSON_LINES:
        return "ads" if _first_record_keys(head, path.name) & AD_MARKERS else "posts"
    if suffix in _CSV:
        return "calls" if looks_like_call_log(_csv_header(head, path.name)) else "posts"
    if head.startswith(b"From "):
        return "mbox"
    if head.lstrip()[:1] == b"<":
        return "ad-pages"
    raise InvalidInput.single(
        "format",
        "enum",
        f"cannot tell what kind of export {path.name} is; name the format: {_DESCRIBED}",
        FORMATS,
    )


def _head(path: Path) -> bytes:
    """The first lines of a file, cut at a line end so that a multi-byte letter is never
    split (which would make UTF-8 look like something else)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(_HEAD)
    except OSError as exc:
        raise InvalidInput.single(
            "file", "readable", f"{path.name} cannot be read ({exc.strerror or exc})"
        ) from exc
    if len(head) == _HEAD and b"\n" in head:
        head = head[: head.rindex(b"\n") + 1]
    return head


def _first_record_keys(head: bytes, name: str) -> set[str]:
    for line in decode_bytes(head, name).split("\n"):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(record, dict):
            return {header_key(str(k)) for k in record}
    return set()


def _csv_header(head: bytes, name: str) -> list[str]:
    text = decode_bytes(head, name)
    first = next((ln for ln in text.split("\n") if ln.strip()), "")
    return next(csv.reader([first], delimiter=sniff_delimiter(first)), [])
