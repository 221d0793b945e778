"""Everything a monitoring report shows, already counted and labelled in the report's language.

The builder (``report_builder``) fills it from the store; templates only lay it out, so an
organisation adapting a template never has to touch a query.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from qorgau.reports.statistics import Breakdown, TimeSeries


@dataclass(frozen=True)
class NotableCase:
    """A case described without naming anyone who did not consent to be named."""

    public_id: str
    day: date
    category: str  # category id
    text: str  # one sentence in the report's language
    severity: str
    outcome_label: str


@dataclass(frozen=True)
class CategorySection:
    """One of ARTICLE 19's five monitoring categories, in the order of its number."""

    category: str
    number: int
    label: str
    count: int
    previous_count: int
    attack_types: Breakdown
    notable: tuple[NotableCase, ...]


@dataclass(frozen=True)
class RegisterRow:
    """A resource found blocked during the period, from the monitor's public register."""

    host: str
    outlet: str | None
    isps: tuple[str, ...]
    first_seen: datetime
    last_seen: datetime
    still_blocked: bool
    method: str  # e.g. "dns", "tls", "http-blockpage"


@dataclass(frozen=True)
class Advocacy:
    """The figures a foundation needs when it asks for new legal norms.

    ``no_action`` counts reports to the police or prosecutor that ended in refusal, closure
    without charges, or no answer after ``response_wait_days``.
    """

    incidents: int
    no_legal_provision: int
    provision_unassessed: int
    reported_to_authorities: int
    no_action: int
    awaiting_response: int
    investigations_opened: int
    charges: int
    convictions: int
    responded: int
    median_days_to_response: float | None
    max_days_to_response: float | None
    response_wait_days: int


@dataclass(frozen=True)
class ReportData:
    organisation: str
    period_label: str
    period_start: date
    period_end: date  # last day included
    lang: str
    generated_at: datetime
    total: int
    previous_total: int
    previous_label: str
    sections: tuple[CategorySection, ...]
    by_attack_type: Breakdown
    by_region: Breakdown
    by_platform: Breakdown
    by_target_type: Breakdown
    by_gender: Breakdown
    by_perpetrator: Breakdown
    by_outcome: Breakdown
    by_month: TimeSeries
    register: tuple[RegisterRow, ...]
    advocacy: Advocacy
