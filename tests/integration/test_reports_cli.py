"""The reporting and sharing commands as a user runs them: new processes, real files, clear
errors, no stack traces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.test_cli import no_traceback, qorgau


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("reports-cli")
    assert qorgau("init", data_dir=d).returncode == 0
    r = qorgau("generate-year", "--year", "2025", "--incidents", "250", "--seed", "9", data_dir=d)
    assert r.returncode == 0, r.stderr
    assert "250" in r.stdout
    return d


def test_report_pdf_and_its_first_page(data_dir: Path, tmp_path: Path) -> None:
    pdf, png = tmp_path / "q2.pdf", tmp_path / "q2.png"
    r = qorgau(
        "report", "monitoring", "--period", "2025-Q2", "--lang", "kk",
        "--out", str(pdf), "--page-png", str(png), data_dir=data_dir,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert pdf.read_bytes().startswith(b"%PDF")
    assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 20_000


def test_custom_templates_are_used(data_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    assert qorgau("report", "templates", str(folder), data_dir=data_dir).returncode == 0
    template = folder / "quarterly.html.j2"
    template.write_text(
        template.read_text(encoding="utf-8").replace("<body>", "<body><p>OUR NGO EDITION</p>", 1),
        encoding="utf-8",
    )
    out = tmp_path / "r.html"
    r = qorgau(
        "report", "monitoring", "--period", "2025-Q3", "--out", str(out),
        "--templates", str(folder), data_dir=data_dir,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "OUR NGO EDITION" in out.read_text(encoding="utf-8")
    again = qorgau("report", "templates", str(folder), data_dir=data_dir)
    assert again.returncode == 2 and "exists" in again.stderr
    no_traceback(again)


def test_statistics_and_exports(data_dir: Path, tmp_path: Path) -> None:
    r = qorgau(
        "stats", "breakdown", "--by", "attack_type", "--period", "2025",
        "--where", "category=safety", "--json", data_dir=data_dir,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert body["total"] > 0 and sum(c["count"] for c in body["cells"]) >= body["total"]
    stix = tmp_path / "b.json"
    r = qorgau("share", "stix", "--tlp", "green", "--out", str(stix), data_dir=data_dir)
    assert r.returncode == 0, r.stderr
    assert json.loads(stix.read_text(encoding="utf-8"))["type"] == "bundle"
    r = qorgau("public", "export", "--format", "json", data_dir=data_dir)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["metadata"]["k"] == 5
    r = qorgau("share", "trackers", "coe", "--lang", "ru", data_dir=data_dir)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].startswith("id,date,country")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["report", "monitoring", "--period", "2025-Q7", "--out", "/tmp/x.pdf"], "2025-Q7"),
        (["stats", "breakdown", "--by", "colour"], "colour"),
        (["stats", "breakdown", "--where", "gender"], "dimension=value"),
        (["share", "stix", "--tlp", "red"], "RED"),
        (["share", "stix", "--tlp", "purple"], "purple"),
        (["generate-year", "--year", "2099"], "finished year"),
        (["share", "import", "/nonexistent.json", "--partner", "X"], "not a file"),
    ],
)
def test_bad_input_is_one_clear_line(data_dir: Path, args: list[str], says: str) -> None:
    r = qorgau(*args, data_dir=data_dir)
    assert r.returncode == 2, r.stdout
    no_traceback(r)
    assert says in r.stderr


def test_an_invalid_partner_file_changes_nothing(data_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"type": "bundle", "id": "bundle--nope", "objects": [{}]}', encoding="utf-8")
    before = qorgau("indicators", "list", data_dir=data_dir).stdout
    r = qorgau("share", "import", str(bad), "--partner", "CERT", data_dir=data_dir)
    assert r.returncode == 2
    no_traceback(r)
    assert "stix-validator" in r.stderr
    assert qorgau("indicators", "list", data_dir=data_dir).stdout == before
