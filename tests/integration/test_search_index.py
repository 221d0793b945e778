"""Full-text search stays exact while SQLite indexes new incidents in bulk behind intake."""

from __future__ import annotations

from qorgau.desk import CaseDesk, IncidentPatch
from qorgau.domain.model import Principal, ReportFields, Role
from qorgau.domain.queries import IncidentQuery
from qorgau.store.search_index import index_pending, pending


def found(desk: CaseDesk, text: str) -> set[str]:
    admin = Principal(None, Role.ADMIN, desk.default_org_id, "t")
    return {i.title for i in desk.search(admin, IncidentQuery(text=text)).items}


def test_search_is_exact_before_and_after_indexing_and_across_edits(desk: CaseDesk) -> None:
    staff = Principal(None, Role.ADMIN, desk.default_org_id, "t")
    a = desk.submit(
        staff, ReportFields(title="Blocked on Kazakhtelecom", attack_types=("website_blocking",))
    )
    desk.submit(staff, ReportFields(title="DDoS on election day", attack_types=("ddos",)))
    sqlite = desk.store.engine.dialect.name == "sqlite"
    with desk.store.read() as conn:
        assert pending(conn) == (2 if sqlite else 0)
    assert found(desk, "kazakh") == {"Blocked on Kazakhtelecom"}  # from the unindexed tail
    assert found(desk, "50%_") == set()  # LIKE wildcards in a query are literal
    # edit a row that is not indexed yet: the index must later hold only the new words
    desk.update(staff, a.public_id, IncidentPatch(title="Blocked on Beeline"), None)
    assert found(desk, "kazakhtelecom") == set()
    with desk.store.write() as conn:
        assert index_pending(conn) == (2 if sqlite else 0)
    with desk.store.read() as conn:
        assert pending(conn) == 0
    assert found(desk, "beeline") == {"Blocked on Beeline"}
    assert found(desk, "kazakhtelecom") == set()
    assert found(desk, "election") == {"DDoS on election day"}
    # edit an indexed row: the trigger replaces its entry
    desk.update(staff, a.public_id, IncidentPatch(title="Blocked on Tele2"), None)
    assert found(desk, "beeline") == set()
    assert found(desk, "tele2") == {"Blocked on Tele2"}
    if sqlite:
        with desk.store.read() as conn:
            check = conn.exec_driver_sql(
                "INSERT INTO incident_fts(incident_fts, rank) VALUES ('integrity-check', 1)"
            )
            assert check is not None  # raises if the index and the table disagree
