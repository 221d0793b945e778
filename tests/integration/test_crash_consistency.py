"""Reduced crash-consistency run: ``qorgau serve`` SIGKILLed 3 times per database mid-stream.

Every acknowledged report is stored exactly once, an unanswered one at most once, on SQLite
and on PostgreSQL. The full run (200 kills per database) is ``make crash-test``.
"""

from __future__ import annotations

from pathlib import Path

from qorgau.store.store import Store
from tests.support.crash_harness import run_crash_test


def test_acknowledged_reports_survive_random_sigkills_exactly_once(
    store: Store, tmp_path: Path
) -> None:
    outcome = run_crash_test(store.settings, kills=3, log_dir=tmp_path, clients=3)
    assert outcome.kills == 3
    assert outcome.acknowledged > 0, outcome.summary()
    assert outcome.missing == [], outcome.summary()
    assert outcome.duplicated == [], outcome.summary()
    assert not outcome.other_statuses, outcome.summary()
