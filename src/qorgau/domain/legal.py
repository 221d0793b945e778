"""What the authorities did about an incident, and what that adds up to.

Impunity is the figure press-freedom groups report most and can least prove: "we told the
police; nothing happened". So the case desk records each step as a dated event (report to the
police, any official answer, an investigation opened or refused, charges, a verdict) and the
outcome of a case is *derived* from those events by one rule, instead of being a field someone
has to remember to update.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from qorgau.errors import InvalidInput


class LegalEventKind(StrEnum):
    REPORTED_TO_POLICE = "reported_to_police"
    COMPLAINT_TO_PROSECUTOR = "complaint_to_prosecutor"
    OFFICIAL_RESPONSE = "official_response"
    INVESTIGATION_OPENED = "investigation_opened"
    INVESTIGATION_REFUSED = "investigation_refused"
    INVESTIGATION_CLOSED = "investigation_closed"
    CHARGES_BROUGHT = "charges_brought"
    CONVICTION = "conviction"
    ACQUITTAL = "acquittal"


class LegalOutcome(StrEnum):
    NOT_REPORTED = "not_reported"
    AWAITING_RESPONSE = "awaiting_response"
    INVESTIGATION_OPENED = "investigation_opened"
    INVESTIGATION_REFUSED = "investigation_refused"
    INVESTIGATION_CLOSED = "investigation_closed"
    CHARGES_BROUGHT = "charges_brought"
    CONVICTION = "conviction"
    ACQUITTAL = "acquittal"


class LegalProvision(StrEnum):
    """Whether any law in force covers what happened: the gap advocacy asks to close."""

    UNASSESSED = "unassessed"
    APPLIES = "applies"
    NONE = "none"


# Steps that put a case in the authorities' hands.
REPORTS = frozenset({LegalEventKind.REPORTED_TO_POLICE, LegalEventKind.COMPLAINT_TO_PROSECUTOR})
# Steps that are an answer from the authorities (any answer counts for "time to response").
RESPONSES = frozenset(set(LegalEventKind) - REPORTS)
# Outcomes that mean the authorities did nothing of substance.
NO_ACTION = frozenset({LegalOutcome.INVESTIGATION_REFUSED, LegalOutcome.INVESTIGATION_CLOSED})
# A later stage wins over an earlier one; a verdict is final unless a later event reopens it
# (an appeal recorded as a new investigation or charges comes after it in time).
_STAGE = {
    LegalEventKind.OFFICIAL_RESPONSE: None,
    LegalEventKind.INVESTIGATION_OPENED: LegalOutcome.INVESTIGATION_OPENED,
    LegalEventKind.INVESTIGATION_REFUSED: LegalOutcome.INVESTIGATION_REFUSED,
    LegalEventKind.INVESTIGATION_CLOSED: LegalOutcome.INVESTIGATION_CLOSED,
    LegalEventKind.CHARGES_BROUGHT: LegalOutcome.CHARGES_BROUGHT,
    LegalEventKind.CONVICTION: LegalOutcome.CONVICTION,
    LegalEventKind.ACQUITTAL: LegalOutcome.ACQUITTAL,
}
MAX_TEXT = 500


@dataclass(frozen=True)
class LegalEvent:
    kind: LegalEventKind
    at: datetime
    authority: str = ""
    reference: str = ""


@dataclass(frozen=True)
class LegalState:
    outcome: LegalOutcome
    reported_at: datetime | None
    first_response_at: datetime | None

    def days_to_response(self) -> float | None:
        if self.reported_at is None or self.first_response_at is None:
            return None
        return max(0.0, (self.first_response_at - self.reported_at) / timedelta(days=1))


def derive_state(events: Iterable[LegalEvent]) -> LegalState:
    """The outcome is the stage of the latest substantive event, in time order.

    An answer that is not a decision (``official_response``) moves the case from "awaiting" to
    nothing new: it counts for time-to-response but not as an outcome. A decision recorded
    without a prior report (the authorities acted on their own) still counts.
    """
    ordered = sorted(events, key=lambda e: e.at)
    reported = next((e.at for e in ordered if e.kind in REPORTS), None)
    responded = next(
        (e.at for e in ordered if e.kind in RESPONSES and (reported is None or e.at >= reported)),
        None,
    )
    outcome: LegalOutcome | None = None
    for e in ordered:
        stage = _STAGE.get(e.kind)
        if stage is not None:
            outcome = stage
    if outcome is None:
        outcome = LegalOutcome.AWAITING_RESPONSE if reported else LegalOutcome.NOT_REPORTED
    return LegalState(outcome, reported, responded)


def parse_event(
    kind: str, at: datetime, authority: str, reference: str, *, now: datetime
) -> LegalEvent:
    """Check one event as entered; every broken rule is named with what to write instead."""
    try:
        k = LegalEventKind(kind)
    except ValueError:
        allowed = tuple(str(x) for x in LegalEventKind)
        raise InvalidInput.single(
            "kind", "choice", f"unknown step {kind!r}; use one of {', '.join(allowed)}", allowed
        ) from None
    if at.tzinfo is None:
        raise InvalidInput.single("at", "timezone", "give the time with its zone, e.g. +05:00")
    if at > now + timedelta(minutes=10):
        raise InvalidInput.single("at", "not_future", "a step cannot be recorded in the future")
    for name, value in (("authority", authority), ("reference", reference)):
        if len(value) > MAX_TEXT:
            raise InvalidInput.single(name, "max_length", f"at most {MAX_TEXT} characters")
    return LegalEvent(k, at, authority.strip(), reference.strip())
