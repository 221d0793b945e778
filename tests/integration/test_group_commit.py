"""Group commit: one bad report fails alone; the rest of its batch is stored and acknowledged."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import sqlalchemy as sa

from qorgau.desk import CaseDesk
from qorgau.domain.model import ReportFields
from qorgau.errors import Conflict
from qorgau.store.group_commit import GroupCommitWriter
from qorgau.store.incidents import Stored
from qorgau.store.tables import incidents


def test_a_failing_report_does_not_sink_its_batch(desk: CaseDesk) -> None:
    anon = desk.anonymous()

    def job(title: str, key: str, public_id: str | None = None):  # type: ignore[no-untyped-def]
        j = desk.prepare_report(
            anon,
            ReportFields(title=title, attack_types=("ddos",)),
            idempotency_key=key,
            request_digest=title,
        )
        return replace(j, public_id=public_id) if public_id else j

    async def run() -> list[Stored | BaseException]:
        writer = GroupCommitWriter(desk.store)
        await writer.start()
        try:
            jobs = [job(f"report {i}", f"k{i}") for i in range(10)]
            # a database error inside the batch: two reports claiming one public id
            jobs.insert(3, job("clash a", "ka", public_id="QG-CLASH001"))
            jobs.insert(7, job("clash b", "kb", public_id="QG-CLASH001"))
            # a report-level error: a key reused for a different report
            jobs.append(job("report 0 changed", "k0"))
            # all submitted at once, so they land in the same batch
            return await asyncio.gather(*(writer.submit(j) for j in jobs), return_exceptions=True)
        finally:
            await writer.stop()

    results = asyncio.run(run())
    stored = [r for r in results if isinstance(r, Stored)]
    failed = [r for r in results if isinstance(r, BaseException)]
    assert len(stored) == 11  # ten reports and the first of the clashing pair
    assert len(failed) == 2
    assert isinstance(results[-1], Conflict)  # the reused key, alone
    assert isinstance(results[7], BaseException) and not isinstance(results[7], Conflict)
    with desk.store.read() as conn:
        titles = set(conn.execute(sa.select(incidents.c.title)).scalars())
    assert titles == {f"report {i}" for i in range(10)} | {"clash a"}
