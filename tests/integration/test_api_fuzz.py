"""Reduced schemathesis run over every operation of /openapi.json, in-process on SQLite.

Each operation is called with generated requests as an admin, as a reporter and without
credentials; no answer may be a 5xx or differ from the document (status, content type, body
schema). The full run (at least 10,000 requests) is ``make fuzz`` (benchmarks/fuzz_api.py).
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.fuzz_api import CALLERS, fuzz_store, run

from qorgau.web.app import create_app


def test_every_operation_answers_as_documented_for_every_caller(tmp_path: Path) -> None:
    with fuzz_store(tmp_path) as store:
        document = create_app(store.settings, store).openapi()
        operations = sum(len(methods) for methods in document["paths"].values())
        result = run(store, per_operation=2, seed=10)
    assert result.operations == operations
    assert result.requests >= operations * len(CALLERS)
    report = "\n\n".join(f"{label}\n{message}" for label, message in result.failures.items())
    assert result.failures == {}, report
    # The tokens stayed valid throughout: many calls got through, not only 401/403/422.
    assert sum(n for status, n in result.by_status.items() if status < 300) > operations // 2
    assert not any(status >= 500 for status in result.by_status)
