"""Pieces every importer needs: reading rows with their line numbers, matching the many ways
exports name a column, reading times, and reporting progress."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

from qorgau.errors import InvalidInput, QorgauError

Progress = Callable[[int, int], None]

# A progress bar that moves at least once a megabyte feels alive without costing anything.
PROGRESS_STEP = 1 << 20


class Meter:
    """Reports progress in bytes even where an importer only knows how far through the text
    or the records it is, by scaling that fraction to the file size."""

    def __init__(self, total_bytes: int, callback: Progress | None) -> None:
        self.total = max(total_bytes, 0)
        self._callback = callback
        self._reported = 0

    def fraction(self, done: int, of: int) -> None:
        if of > 0:
            self.at(self.total * done // of)

    def at(self, done_bytes: int) -> None:
        if self._callback is not None and done_bytes - self._reported >= PROGRESS_STEP:
            self._reported = min(done_bytes, self.total)
            self._callback(self._reported, self.total)

    def finish(self) -> None:
        if self._callback is not None:
            self._callback(self.total, self.total)


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


@lru_cache(maxsize=4096)
def header_key(name: str) -> str:
    """ "Created_At", "created at", " Дата/время " → comparable keys."""
    return re.sub(r"[\s_\-./()\[\]:]+", " ", name.replace("\ufeff", "").lower()).strip()


@dataclass(frozen=True)
class Columns:
    """Which column of a file holds each field we know, after matching aliases."""

    found: Mapping[str, str]  # field → column as spelt in the file
    unknown: tuple[str, ...]  # columns no alias matched

    def __contains__(self, name: object) -> bool:
        return name in self.found

    def get(self, row: Mapping[str, Any], name: str) -> Any:
        column = self.found.get(name)
        return None if column is None else row.get(column)

    def text(self, row: Mapping[str, Any], name: str) -> str:
        value = self.get(row, name)
        return "" if value is None else str(value).strip()


# JSON Lines records are matched one by one, and a file's records almost always share their
# keys: the matching is remembered per key set (the alias tables are module constants).
_MATCHED: dict[tuple[tuple[str, ...], int], Columns] = {}


def match_columns(header: Iterable[str], aliases: Mapping[str, Sequence[str]]) -> Columns:
    """The first alias listed wins when a file has two candidate columns for one field."""
    columns = tuple(header)
    key = (columns, id(aliases))
    known = _MATCHED.get(key)
    if known is None:
        known = _match_columns(columns, aliases)
        if len(_MATCHED) >= 512:
            _MATCHED.clear()
        _MATCHED[key] = known
    return known


def _match_columns(header: tuple[str, ...], aliases: Mapping[str, Sequence[str]]) -> Columns:
    by_key: dict[str, str] = {}
    for column in header:
        by_key.setdefault(header_key(column), column)
    found: dict[str, str] = {}
    for name, names in aliases.items():
        for alias in names:
            match = by_key.get(header_key(alias))
            if match is not None and match not in found.values():
                found[name] = match
                break
    used = set(found.values())
    return Columns(found, tuple(c for c in by_key.values() if c not in used))


def sniff_delimiter(first_line: str) -> str:
    """Spreadsheets in Russian and Kazakh locales write ';' because ',' is the decimal mark;
    phones and scripts write ',' or tab. The header line settles it: it is the one line
    that never holds free text with stray separators."""
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def csv_rows(
    text: str, name: str, meter: Meter
) -> tuple[list[str], Iterator[tuple[int, dict[str, str] | str]]]:
    """Header and rows of a CSV text as (line where the row starts, row or what is wrong)."""
    lines = text.split("\n", 50)
    first = next((ln for ln in lines if ln.strip()), "")
    if not first:
        raise InvalidInput.single("file", "empty", f"{name} is empty")
    stream = io.StringIO(text, newline="")
    reader = csv.reader(stream, delimiter=sniff_delimiter(first))
    header: list[str] = []
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                header = [cell.replace("\ufeff", "").strip() for cell in row]
                break
    except csv.Error as exc:
        raise InvalidInput.single(
            "file", "csv", f"the header of {name} cannot be read as CSV ({exc})"
        ) from exc
    total = len(text)

    def rows() -> Iterator[tuple[int, dict[str, str] | str]]:
        previous = reader.line_num
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield previous + 1, f"the line cannot be read as CSV ({exc})"
                previous = reader.line_num
                continue
            start, previous = previous + 1, reader.line_num
            meter.fraction(stream.tell(), total)
            if not any(cell.strip() for cell in row):
                continue
            if len(row) > len(header):
                yield (
                    start,
                    (
                        f"{len(row)} values but the header has {len(header)} columns; "
                        "a value containing the separator must be quoted"
                    ),
                )
                continue
            yield start, dict(zip(header, row, strict=False))

    return header, rows()


def jsonl_records(text: str, meter: Meter) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, object or what is wrong). Split on "\\n" only: JSON strings may hold
    U+2028 and other characters that ``splitlines`` would wrongly treat as line ends."""
    total = len(text)
    done = 0
    for number, line in enumerate(text.split("\n"), 1):
        done += len(line) + 1
        meter.fraction(done, total)
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield number, f"not valid JSON ({exc.msg})"
            continue
        if not isinstance(value, dict):
            yield number, "each line must be a JSON object {...}"
            continue
        yield number, value


_UNIX = re.compile(r"^\d{9,13}(?:\.\d+)?$")
_LOCAL_FORMATS = (
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y, %H:%M:%S",
    "%d.%m.%Y, %H:%M",
    "%d.%m.%Y",
    "%d.%m.%y %H:%M:%S",
    "%d.%m.%y %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y-%m-%d %H:%M:%S %z",
)
# Unix times above this are in milliseconds (phones write those); it is the year 5138 in seconds.
_MILLISECONDS = 10**11


def parse_time(value: object) -> datetime:
    """A time from ISO 8601, unix seconds (or milliseconds) or the day-first forms of Russian
    and Kazakh exports. Naive results stay naive: which zone they mean is the caller's
    decision. Raises InvalidInput saying which forms are understood."""
    if isinstance(value, bool):
        raise _bad_time(value)
    if isinstance(value, int | float):
        return _from_unix(float(value))
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput.single("time", "required", "the time is missing")
    text = " ".join(value.split())
    if _UNIX.match(text):
        return _from_unix(float(text))
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    for pattern in _LOCAL_FORMATS:
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    raise _bad_time(value)


def _from_unix(seconds: float) -> datetime:
    if seconds >= _MILLISECONDS:
        seconds /= 1000
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise _bad_time(seconds) from exc


def _bad_time(value: object) -> InvalidInput:
    return InvalidInput.single(
        "time",
        "datetime",
        f"{value!r} is not a time; use ISO 8601 (2025-05-01T10:00:00+05:00), "
        "unix seconds or DD.MM.YYYY HH:MM",
    )


def as_list(value: object) -> list[str]:
    """A JSON list, or a cell holding several values separated by spaces, commas or ';'."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if v is not None and str(v).strip()]
    return [v for v in re.split(r"[\s,;]+", str(value)) if v]


def reason(exc: QorgauError) -> str:
    return str(exc) or exc.__class__.__name__


def sha256_hex(*parts: str | bytes) -> str:
    """Hash of the parts joined by a separator that cannot occur in them; one part is
    hashed alone, so the key of a URL is simply sha256(URL)."""
    encoded = [p if isinstance(p, bytes) else p.encode("utf-8") for p in parts]
    return hashlib.sha256(b"\x1f".join(encoded)).hexdigest()
