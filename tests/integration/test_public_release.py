"""The public dataset is re-released only when the refresh interval has passed and the data
changed: two releases minutes apart would single out the case added in between."""

from __future__ import annotations

from datetime import timedelta

from qorgau.desk import CaseDesk
from qorgau.domain.model import ReportFields, TargetInput
from qorgau.report_desk import PublicData
from qorgau.store.store import Store


def _report(desk: CaseDesk, title: str) -> None:
    admin = desk.system("test")
    job = desk.prepare_report(
        admin,
        ReportFields(
            title=title,
            attack_types=("website_blocking",),
            targets=(TargetInput("outlet", "Orda.kz"),),
            region="almaty_city",
        ),
    )
    from qorgau.store.intake import store_report

    with desk.store.write() as conn:
        store_report(conn, desk.store, job, desk.store.now())


def test_release_waits_for_the_interval(store: Store) -> None:
    desk = CaseDesk(store)
    anon = desk.anonymous()
    _report(desk, "first")
    daily = PublicData(store)
    first = daily.dataset(anon)
    assert len(first.rows) == 1
    _report(desk, "second")
    assert daily.dataset(anon) is first  # within the day: the same release
    eager = PublicData(store, refresh=timedelta(0))
    assert len(eager.dataset(anon).rows) == 2
    again = eager.dataset(anon)
    assert eager.dataset(anon) is again  # nothing changed: no new release either
