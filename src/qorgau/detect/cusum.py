"""The Poisson CUSUM: Page's cumulative-sum test for a rise in an event rate.

Each short bin adds the log-likelihood ratio of its count under "the rate is ``ratio`` times the
usual" against "the rate is usual"; the sum is kept at or above zero and an alarm is raised when
it passes a threshold. It is the standard sequential test for this question: a step up is seen
within a few bins, while a busy hour, which stays well under ``ratio`` times the usual rate,
drifts the sum back to zero. The bin where the sum last left zero estimates the onset.

Any rate above ``(ratio - 1) / ln(ratio)`` times the usual makes the sum climb on average; for
the default ratio of 8 that is about 3.4 times, which a busy day does not reach and a flood from
fake ads exceeds twenty times over."""

from __future__ import annotations

import math


def log_likelihood_ratio(count: float, expected: float, ratio: float) -> float:
    """Evidence in one bin for a rate of ``ratio * expected`` over ``expected``."""
    return count * math.log(ratio) - (ratio - 1.0) * expected


def step(total: float, count: float, expected: float, ratio: float) -> float:
    """The sum after one more bin."""
    return max(0.0, total + log_likelihood_ratio(count, expected, ratio))


def break_even_ratio(ratio: float) -> float:
    """The rise (as a multiple of the usual rate) above which the sum climbs on average."""
    return (ratio - 1.0) / math.log(ratio)
