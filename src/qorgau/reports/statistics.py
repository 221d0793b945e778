"""Counting incidents: the dimensions a monitoring group reports by, and the shape of a figure.

An incident counts once in a total; in a breakdown by a many-valued dimension (attack types,
target types, legal qualifications) it counts once in every value it has, which is how
monitoring reports present them ("12 threats, 9 of them also doxxing").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from qorgau.reports.periods import Granularity


class Dimension(StrEnum):
    CATEGORY = "category"
    ATTACK_TYPE = "attack_type"
    REGION = "region"
    PLATFORM = "platform"
    TARGET_TYPE = "target_type"
    GENDER = "gender"
    PERPETRATOR = "perpetrator_type"
    LEGAL_REF = "legal_ref"
    OUTCOME = "legal_outcome"
    SEVERITY = "severity"
    STATUS = "status"


# Dimensions where one incident can carry several values.
MULTI_VALUED = frozenset({Dimension.ATTACK_TYPE, Dimension.TARGET_TYPE, Dimension.LEGAL_REF})
# Key of the cell for incidents with no value recorded (no region, no gender given...).
NOT_RECORDED = "not_recorded"


@dataclass(frozen=True)
class StatsFilter:
    """Which incidents to count. Every field narrows; empty means "any"."""

    reported_from: datetime | None = None
    reported_to: datetime | None = None  # exclusive
    values: dict[Dimension, tuple[str, ...]] = field(default_factory=dict)

    def with_value(self, dim: Dimension, value: str) -> StatsFilter:
        values = dict(self.values)
        values[dim] = (value,)
        return StatsFilter(self.reported_from, self.reported_to, values)


@dataclass(frozen=True)
class Cell:
    key: str
    label: str
    count: int


@dataclass(frozen=True)
class Breakdown:
    dimension: Dimension
    total: int  # distinct incidents matching the filter
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class TimeSeries:
    granularity: Granularity
    # Period keys in order, zeros included.
    periods: tuple[str, ...]
    # One row per value of ``dimension`` (or one row "all" when no dimension): counts per period.
    dimension: Dimension | None
    rows: tuple[tuple[Cell, tuple[int, ...]], ...]
