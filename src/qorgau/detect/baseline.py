"""A person's usual contact rate for each hour of the week, learnt online from hourly counts.

Why by hour of the week: an editor gets more calls on weekday afternoons than on Sunday nights,
so "far more than usual" has to mean "for this hour", or every Monday morning looks like an
attack and a night-time flood looks ordinary.

Why three levels: the 168 weekly buckets fill slowly (one sample per week each), so each leans on
its hour of the day (one sample per day), which leans on the person's overall rate, which leans
on a deliberately generous prior until some hours of data exist. A person added to the watchlist
today is therefore watched at once, without alarming on the first busy morning.

The state is plain lists of floats so it survives a JSON round trip unchanged; its size is fixed
(168 + 24 + 1 cells of two numbers), whatever the traffic."""

from __future__ import annotations

import math
from typing import Any

HOURS_PER_WEEK = 168
HOURS_PER_DAY = 24

# Memory of each level, in samples: a running mean until full, then an exponentially weighted
# one, so a person's habits may drift (a new job, a new number) without forgetting everything.
_WEEK_MEMORY = 6.0
_DAY_MEMORY = 14.0
_OVERALL_MEMORY = 24.0 * 28
# How many samples' worth of trust the parent level gets against a bucket's own data.
_SHRINK = 2.0
# Standard errors added to the estimate (see ``expected_per_hour``).
_MARGIN = 1.5
# How many hours' worth of trust the generous prior keeps against the person's overall rate.
_PRIOR_HOURS = 4.0


def new_baseline() -> dict[str, Any]:
    return {
        "week": [[0.0, 0.0] for _ in range(HOURS_PER_WEEK)],
        "day": [[0.0, 0.0] for _ in range(HOURS_PER_DAY)],
        "all": [0.0, 0.0],
    }


def learn(baseline: dict[str, Any], hour_index: int, count: float) -> None:
    """Take in the count of one finished hour (``hour_index``: hours since the epoch, UTC).

    UTC hours are fine here: the buckets are only compared with themselves, so a fixed local
    offset would merely rotate them."""
    _update(baseline["week"][hour_index % HOURS_PER_WEEK], count, _WEEK_MEMORY)
    _update(baseline["day"][hour_index % HOURS_PER_DAY], count, _DAY_MEMORY)
    _update(baseline["all"], count, _OVERALL_MEMORY)


def expected_per_hour(
    baseline: dict[str, Any], hour_index: int, prior: float, floor: float
) -> float:
    """The usual count for that hour, never below ``floor`` (a quiet hour's estimate of zero
    would make two calls look like an infinite surge)."""
    n_all, mean_all = baseline["all"]
    overall = (n_all * mean_all + _PRIOR_HOURS * prior) / (n_all + _PRIOR_HOURS)
    day = _smoothed(baseline["day"], hour_index)
    week = _smoothed(baseline["week"], hour_index)
    estimate = _shrunk(week, _shrunk(day, overall))
    # Plan for the busiest rate the data still allows: with two days of history an hour's
    # usual count is barely known, and under-estimating it is what makes ordinary busy hours
    # look like floods. The margin fades as the buckets fill.
    samples = 1.0 + day[0] + week[0]
    return max(floor, estimate + _MARGIN * math.sqrt(estimate / samples))


def hours_learnt(baseline: dict[str, Any]) -> float:
    return float(baseline["all"][0])


def _update(cell: list[float], value: float, memory: float) -> None:
    n = min(cell[0] + 1.0, memory)
    # Rounded so the saved state stays small; a ten-thousandth of a call an hour is noise.
    cell[1] = round(cell[1] + (value - cell[1]) / n, 4)
    cell[0] = n


def _smoothed(cells: list[list[float]], hour_index: int) -> list[float]:
    """The bucket read together with the hours either side of it, at half weight.

    An hour's count is a small Poisson number (three calls, or none): two quiet Mondays at
    eleven would otherwise make a busy Wednesday at eleven look like a surge. Neighbouring hours
    have nearly the same rate, so borrowing from them triples the data at little bias."""
    size = len(cells)
    n = total = 0.0
    for offset, weight in ((-1, 0.5), (0, 1.0), (1, 0.5)):
        cell_n, cell_mean = cells[(hour_index + offset) % size]
        n += weight * cell_n
        total += weight * cell_n * cell_mean
    return [n, total / n if n else 0.0]


def _shrunk(cell: list[float], parent: float) -> float:
    n, mean = cell
    return (n * mean + _SHRINK * parent) / (n + _SHRINK)
