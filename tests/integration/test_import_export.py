"""Import and export: exact round trips in both formats, all-or-nothing on bad rows, no
duplicates on re-import, and real third-party data through a mapping profile."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from qorgau.desk import CaseDesk
from qorgau.io.exporter import export
from qorgau.io.importer import import_file
from qorgau.io.profiles import load_profile
from qorgau.store.tables import incidents
from tests.conftest import shared_file

DEMO = Path(__file__).resolve().parents[2] / "src" / "qorgau" / "demo" / "incidents-kz.jsonl"


def n_incidents(desk: CaseDesk) -> int:
    with desk.store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(incidents)).scalar_one())


def test_demo_cases_import_and_round_trip_exactly_in_both_formats(
    desk: CaseDesk, tmp_path: Path
) -> None:
    rep = import_file(desk, DEMO)
    assert rep.stored and not rep.errors
    assert rep.created == len(DEMO.read_text(encoding="utf-8").splitlines())
    for fmt in ("jsonl", "csv"):
        first = tmp_path / f"a.{fmt}"
        export(desk, first, fmt)
        # wipe and reload from the export, then export again
        with desk.store.write() as conn:
            conn.execute(incidents.delete())
        again = import_file(desk, first)
        assert again.created == rep.created
        second = tmp_path / f"b.{fmt}"
        export(desk, second, fmt)
        assert first.read_bytes() == second.read_bytes()
        assert first.stat().st_mode & 0o077 == 0  # exports hold personal data


def test_reimport_never_duplicates(desk: CaseDesk) -> None:
    import_file(desk, DEMO)
    again = import_file(desk, DEMO)
    assert again.created == 0 and again.already_present == again.read
    assert n_incidents(desk) == again.read


def test_one_bad_row_stores_nothing_unless_asked(desk: CaseDesk, tmp_path: Path) -> None:
    good = {"title": "ok", "attack_types": ["ddos"], "reported_at": "2024-01-01T00:00:00Z"}
    rows = [
        good,
        {**good, "title": "bad", "attack_types": ["nope"]},
        {**good, "title": "late", "started_at": "not a date"},
        "not an object",
    ]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n{broken\n")
    rep = import_file(desk, path)
    assert not rep.stored and n_incidents(desk) == 0
    assert {(e.line, e.field) for e in rep.errors} == {
        (2, "attack_types[0]"),
        (3, "started_at"),
        (4, "record"),
        (5, "line"),
    }
    rep = import_file(desk, path, skip_invalid=True)
    assert rep.stored and rep.created == 1 and n_incidents(desk) == 1


def test_hand_written_csv_with_one_target_column_set(desk: CaseDesk, tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "title",
                "attack_types",
                "reported_at",
                "target_kind",
                "target_name",
                "target_identifier",
            ]
        )
        w.writerow(
            [
                "Phone flood",
                "phone_flooding|doxxing",
                "2025-05-05",
                "phone_number",
                "editor",
                "8 700 000 0101",
            ]
        )
    rep = import_file(desk, path)
    assert rep.created == 1, rep.errors
    from qorgau.domain.model import Principal, Role
    from qorgau.domain.queries import IncidentQuery

    admin = Principal(None, Role.ADMIN, desk.default_org_id, "t")
    page = desk.search(admin, IncidentQuery(target="+77000000101"))
    assert page.total == 1 and page.items[0].attack_types == ("doxxing", "phone_flooding")


def test_real_seed_records_through_the_mapping_profile(desk: CaseDesk) -> None:
    path = shared_file("kz-journalist-incidents-seed", "kz_incidents_seed.csv")
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    rep = import_file(desk, path, profile=load_profile("kz-journalist-incidents-seed"))
    assert rep.errors == [] and rep.created == len(rows)
    from qorgau.domain.model import Principal, Role
    from qorgau.domain.queries import IncidentQuery

    admin = Principal(None, Role.ADMIN, desk.default_org_id, "t")
    ids = {r["id"] for r in rows}
    everything = desk.search(admin, IncidentQuery(limit=200))
    assert {i.external_ref for i in everything.items} == ids
    by_ref = {i.external_ref: i for i in everything.items}
    for r in rows:
        inc = by_ref[r["id"]]
        assert inc.started_at is not None
        assert inc.started_at.strftime("%Y-%m") == r["date"].split("/")[0][:7]
        if r["outlet"]:
            assert r["outlet"] in {t.name for t in inc.targets}


def test_profile_problems_name_the_column_and_the_value(desk: CaseDesk, tmp_path: Path) -> None:
    path = tmp_path / "seed.csv"
    header = [
        "id",
        "date",
        "date_precision",
        "target",
        "target_role",
        "outlet",
        "city",
        "incident_type",
        "vector",
        "summary",
        "source_url",
        "source_org",
    ]
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerow(
            [
                "X-1",
                "2024-02",
                "month",
                "Someone",
                "journalist",
                "",
                "",
                "alien_probe",
                "cyber",
                "s",
                "https://example.org",
                "Org",
            ]
        )
    rep = import_file(desk, path, profile=load_profile("kz-journalist-incidents-seed"))
    assert not rep.stored
    assert rep.errors[0].field == "attack_types" and "alien_probe" in rep.errors[0].message
    (tmp_path / "short.csv").write_text("id,date\nX,2024\n")
    with pytest.raises(Exception, match="columns missing"):
        import_file(
            desk, tmp_path / "short.csv", profile=load_profile("kz-journalist-incidents-seed")
        )
