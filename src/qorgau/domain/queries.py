"""What a caller may ask of the incident list, independent of how it is stored."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from qorgau.domain.model import Severity, Status
from qorgau.reports.statistics import Dimension

MAX_PAGE_SIZE = 200
T = TypeVar("T")


@dataclass(frozen=True)
class IncidentQuery:
    text: str | None = None
    attack_types: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    statuses: tuple[Status, ...] = ()
    severities: tuple[Severity, ...] = ()
    platforms: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    target: str | None = None
    campaign_id: int | None = None
    reported_from: datetime | None = None
    reported_to: datetime | None = None
    include_merged: bool = False
    # The statistics' other dimensions (target type, gender, perpetrator, legal outcome and
    # qualification), so that every figure drills down to the incidents it counted.
    dimensions: dict[Dimension, tuple[str, ...]] = field(default_factory=dict)
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    total: int
    limit: int
    offset: int

    @property
    def next_offset(self) -> int | None:
        nxt = self.offset + len(self.items)
        return nxt if nxt < self.total else None
