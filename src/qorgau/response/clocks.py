"""Response clocks: how long a case of each severity may wait for a human, then for action.

Two deadlines per case, both counted from the report time: the first human response (someone
on the desk picked it up) and the first action (a playbook step done, a referral made). They
run through nights and weekends — attacks do — and pause only while the desk waits on the
reporter, because a case cannot be answered faster than its reporter replies. A deadline that
passes unmet is a breach, which escalates to the next tier.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from importlib import resources
from typing import Any

from pydantic import Field, field_validator, model_validator

from qorgau.domain.model import Severity, Status
from qorgau.response.documents import Strict, parse, parse_toml_text

_DURATION = re.compile(r"^\s*(\d+)\s*(m|min|h|d|w)\s*$")
_UNITS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """'15m', '1h', '3d', '1w' → timedelta (a plain, unambiguous notation for ops staff)."""
    m = _DURATION.match(text)
    if not m or int(m.group(1)) == 0:
        raise ValueError(f"{text!r} is not a duration; write a positive number and m, h, d or w")
    return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])


class Window(Strict):
    first_response: str
    first_action: str

    @field_validator("first_response", "first_action")
    @classmethod
    def _duration(cls, v: str) -> str:
        parse_duration(v)
        return v

    @model_validator(mode="after")
    def _order(self) -> Window:
        if parse_duration(self.first_action) < parse_duration(self.first_response):
            raise ValueError("first_action cannot come before first_response")
        return self

    @property
    def response(self) -> timedelta:
        return parse_duration(self.first_response)

    @property
    def action(self) -> timedelta:
        return parse_duration(self.first_action)


class ClockPolicy(Strict):
    version: str
    # A clock is "due soon" when less than this share of its window is left.
    due_soon_fraction: float = Field(default=0.25, gt=0, lt=1)
    pause_statuses: tuple[Status, ...] = (Status.WAITING_ON_REPORTER,)
    stop_statuses: tuple[Status, ...] = (
        Status.RESOLVED,
        Status.CLOSED,
        Status.REJECTED,
        Status.MERGED,
    )
    # Severities whose new cases page the on-call responder at once on every channel they
    # registered; the others reach the desk in-app.
    page_on_call: tuple[Severity, ...] = (Severity.CRITICAL, Severity.HIGH)
    severity: dict[Severity, Window]

    @model_validator(mode="after")
    def _complete(self) -> ClockPolicy:
        missing = [str(s) for s in Severity if s not in self.severity]
        if missing:
            raise ValueError(f"give windows for every severity; missing: {', '.join(missing)}")
        if set(self.pause_statuses) & set(self.stop_statuses):
            raise ValueError("a status cannot both pause and stop the clocks")
        return self

    def window(self, severity: Severity) -> Window:
        return self.severity[severity]


def default_policy() -> ClockPolicy:
    text = (resources.files("qorgau.response") / "data" / "clocks.toml").read_text("utf-8")
    return parse_policy(parse_toml_text(text, "clocks.toml"))


def parse_policy(data: dict[str, Any]) -> ClockPolicy:
    return parse(ClockPolicy, data)


class ClockState(StrEnum):
    RUNNING = "running"
    DUE_SOON = "due_soon"
    BREACHED = "breached"
    MET = "met"
    MET_LATE = "met_late"
    PAUSED = "paused"
    STOPPED = "stopped"


@dataclass(frozen=True)
class Clock:
    """The stored state of a case's clocks (the store's row, as plain data)."""

    incident_id: int
    severity: Severity
    started_at: datetime
    response_due: datetime
    action_due: datetime
    responded_at: datetime | None
    acted_at: datetime | None
    paused_since: datetime | None
    paused_seconds: int
    response_escalated_at: datetime | None
    action_escalated_at: datetime | None
    stopped_at: datetime | None


@dataclass(frozen=True)
class Deadline:
    name: str  # "first_response" | "first_action"
    due: datetime
    met_at: datetime | None
    state: ClockState
    remaining_seconds: int
    escalated_at: datetime | None


def due_times(
    policy: ClockPolicy, severity: Severity, started_at: datetime, paused_seconds: int
) -> tuple[datetime, datetime]:
    w = policy.window(severity)
    pause = timedelta(seconds=paused_seconds)
    return started_at + w.response + pause, started_at + w.action + pause


def _deadline(
    policy: ClockPolicy,
    clock: Clock,
    name: str,
    due: datetime,
    met_at: datetime | None,
    window: timedelta,
    escalated_at: datetime | None,
    now: datetime,
) -> Deadline:
    if clock.paused_since is not None and met_at is None:
        # Shown as it will be once the pause ends: the time spent paused is not counted.
        due = due + (now - clock.paused_since)
    remaining = int((due - now).total_seconds())
    if met_at is not None:
        state = ClockState.MET if met_at <= due else ClockState.MET_LATE
    elif clock.stopped_at is not None:
        state = ClockState.STOPPED
    elif clock.paused_since is not None:
        state = ClockState.PAUSED
    elif remaining <= 0:
        state = ClockState.BREACHED
    elif remaining <= window.total_seconds() * policy.due_soon_fraction:
        state = ClockState.DUE_SOON
    else:
        state = ClockState.RUNNING
    return Deadline(name, due, met_at, state, remaining, escalated_at)


def deadlines(policy: ClockPolicy, clock: Clock, now: datetime) -> tuple[Deadline, Deadline]:
    w = policy.window(clock.severity)
    return (
        _deadline(
            policy,
            clock,
            "first_response",
            clock.response_due,
            clock.responded_at,
            w.response,
            clock.response_escalated_at,
            now,
        ),
        _deadline(
            policy,
            clock,
            "first_action",
            clock.action_due,
            clock.acted_at,
            w.action,
            clock.action_escalated_at,
            now,
        ),
    )


def worst(states: tuple[Deadline, Deadline]) -> ClockState:
    """The state a queue shows for the case: a breach outranks anything else."""
    rank = [
        ClockState.BREACHED,
        ClockState.DUE_SOON,
        ClockState.RUNNING,
        ClockState.PAUSED,
        ClockState.MET_LATE,
        ClockState.MET,
        ClockState.STOPPED,
    ]
    return min((d.state for d in states), key=rank.index)
