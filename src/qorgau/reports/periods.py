"""Reporting periods: what "2025-Q3" or "2025-07" means as a half-open range of instants.

Monitoring groups report by quarter and by year; a period is always a half-open UTC range
``[start, end)`` so that adjacent periods never count an incident twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum

from qorgau.errors import InvalidInput


class Granularity(StrEnum):
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime  # exclusive
    label: str  # the key as written: "2025-Q3", "2025-07", "2025", "2025-07-01..2025-08-15"

    def contains(self, at: datetime) -> bool:
        return self.start <= at < self.end

    def previous(self) -> Period:
        """The period of the same length just before, for "compared with" figures."""
        g = _granularity_of(self.label)
        if g is Granularity.YEAR:
            return parse_period(str(self.start.year - 1))
        if g is Granularity.QUARTER:
            q = (self.start.month - 1) // 3 + 1
            y, q = (self.start.year, q - 1) if q > 1 else (self.start.year - 1, 4)
            return parse_period(f"{y}-Q{q}")
        if g is Granularity.MONTH:
            y, m = (
                (self.start.year, self.start.month - 1)
                if self.start.month > 1
                else (
                    self.start.year - 1,
                    12,
                )
            )
            return parse_period(f"{y}-{m:02d}")
        span = self.end - self.start
        start = self.start - span
        return Period(start, self.start, f"{start.date()}..{(self.start - _DAY).date()}")


_DAY = datetime(2000, 1, 2, tzinfo=UTC) - datetime(2000, 1, 1, tzinfo=UTC)
_YEAR = re.compile(r"^(\d{4})$")
_QUARTER = re.compile(r"^(\d{4})-[Qq]([1-4])$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")
EXAMPLES = "2025, 2025-Q3, 2025-07 or 2025-07-01..2025-09-30"


def _granularity_of(label: str) -> Granularity | None:
    if _YEAR.match(label):
        return Granularity.YEAR
    if _QUARTER.match(label):
        return Granularity.QUARTER
    if _MONTH.match(label):
        return Granularity.MONTH
    return None


def _at(y: int, m: int, d: int = 1) -> datetime:
    return datetime(y, m, d, tzinfo=UTC)


def _check_year(year: int, field_name: str, text: str) -> None:
    if not 1991 <= year <= 2200:
        raise InvalidInput.single(
            field_name, "period", f"{text!r}: the year must be between 1991 and 2200"
        )


def parse_period(text: str, field_name: str = "period") -> Period:
    """Parse a period; the error names the accepted forms so a user can fix a typo at once."""
    raw = text.strip()
    if m := _YEAR.match(raw):
        y = int(m.group(1))
        _check_year(y, field_name, raw)
        return Period(_at(y, 1), _at(y + 1, 1), raw)
    if m := _QUARTER.match(raw):
        y, q = int(m.group(1)), int(m.group(2))
        _check_year(y, field_name, raw)
        start = _at(y, 3 * (q - 1) + 1)
        end = _at(y + 1, 1) if q == 4 else _at(y, 3 * q + 1)
        return Period(start, end, f"{y}-Q{q}")
    if m := _MONTH.match(raw):
        y, mo = int(m.group(1)), int(m.group(2))
        _check_year(y, field_name, raw)
        if not 1 <= mo <= 12:
            raise InvalidInput.single(field_name, "period", f"{raw!r}: no month {mo}")
        end = _at(y + 1, 1) if mo == 12 else _at(y, mo + 1)
        return Period(_at(y, mo), end, raw)
    if m := _RANGE.match(raw):
        try:
            first, last = date.fromisoformat(m.group(1)), date.fromisoformat(m.group(2))
        except ValueError as exc:
            raise InvalidInput.single(field_name, "period", f"{raw!r}: {exc}") from exc
        if last < first:
            raise InvalidInput.single(
                field_name, "period", f"{raw!r}: the last day is before the first"
            )
        _check_year(first.year, field_name, raw)
        _check_year(last.year, field_name, raw)
        start = _at(first.year, first.month, first.day)
        end = _at(last.year, last.month, last.day) + _DAY
        return Period(start, end, raw)
    raise InvalidInput.single(field_name, "period", f"{raw!r} is not a period; write {EXAMPLES}")


def bucket(at: datetime, granularity: Granularity) -> str:
    """The period key an instant falls in: "2025-07", "2025-Q3" or "2025"."""
    at = at.astimezone(UTC)
    if granularity is Granularity.MONTH:
        return f"{at.year}-{at.month:02d}"
    if granularity is Granularity.QUARTER:
        return f"{at.year}-Q{(at.month - 1) // 3 + 1}"
    return str(at.year)


def buckets(period: Period, granularity: Granularity) -> list[str]:
    """Every key of ``granularity`` that overlaps ``period``, in order (empty ones included,
    so a chart shows a month with no incidents as zero rather than skipping it)."""
    keys: list[str] = []
    y, m = period.start.year, period.start.month
    while _at(y, m) < period.end:
        k = bucket(_at(y, m), granularity)
        if not keys or keys[-1] != k:
            keys.append(k)
        y, m = (y, m + 1) if m < 12 else (y + 1, 1)
    return keys
