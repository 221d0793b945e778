"""The monitor, detections and reports pages through the ASGI app, on SQLite and PostgreSQL:
the grid shows what each network saw of each host day by day, a detector's finding is shown
with its reason and case, the report page's counts are the desk's, its chart is an SVG, the
exports follow the role, and nothing hostile in the data is rendered as markup."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from bs4 import BeautifulSoup, Tag
from fastapi.testclient import TestClient

from qorgau.desk import CaseDesk
from qorgau.detect.model import Observation
from qorgau.monitor.model import Measurement, Vantage, Verdict, VerdictKind
from qorgau.monitor_desk import MonitorDesk
from qorgau.observation_desk import ObservationDesk
from qorgau.report_desk import ReportDesk
from qorgau.reports.filters import build_filter
from qorgau.reports.periods import Granularity
from qorgau.reports.statistics import Dimension
from qorgau.store import monitor as monitor_repo
from qorgau.store import users
from qorgau.store.store import Store
from qorgau.web.app import create_app
from tests.conftest import Account
from tests.integration.test_reports_and_sharing import ORDA, report
from tests.support.web import signed_in

DAY1 = datetime(2025, 5, 6, 4, 0, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)
KT = Vantage(country="KZ", asn="AS9198", network_name="Kazakhtelecom")
BEELINE = Vantage(country="KZ", asn="AS21299", network_name="Beeline")
KT_NAME, BEELINE_NAME = "KZ AS9198 Kazakhtelecom", "KZ AS21299 Beeline"
HOSTILE_OUTLET = '<script>alert("outlet")</script> Media'
HOSTILE_EVIDENCE = '<script>alert("evidence")</script> resolver answered 10.10.34.34'
HOSTILE_ORDER = '<img src=x onerror=alert("order")> Almaly court 2-123/2025'
HOSTILE_PERSON = "<script>alert('person')</script> Orda editor"


@dataclass(frozen=True)
class Monitored:
    blocked_day2: int  # orda.kz on Kazakhtelecom, the last measurement of day 2


def _record(
    store: Store, host: str, at: datetime, v: Vantage, kind: VerdictKind, *evidence: str
) -> int:
    m = Measurement(
        url=f"https://{host}/",
        vantage=v,
        started_at=at,
        source="qorgau",
        source_id=f"{host}{at}{v}",
    )
    with store.write() as conn:
        org = users.org_id_for(conn, "default")
        done = monitor_repo.record(
            conn, org, m, Verdict(kind, evidence=evidence or (f"{kind}",)), host, store.now()
        )
    assert done is not None
    return done.observation_id


def seed_monitor(store: Store, lead: Account) -> Monitored:
    """Two outlets: Orda (orda.kz blocked on Kazakhtelecom, kaz.orda.kz with an anomaly on
    Beeline) and one with a hostile name whose host was inconclusive."""
    desk = MonitorDesk(CaseDesk(store))
    desk.add_target(lead.principal, "Orda", "https://orda.kz/")
    desk.add_target(lead.principal, "Orda", "https://kaz.orda.kz/")
    desk.add_target(lead.principal, HOSTILE_OUTLET, "https://vlast.kz/")
    _record(store, "orda.kz", DAY1, KT, VerdictKind.DNS_TAMPERING, HOSTILE_EVIDENCE)
    _record(store, "orda.kz", DAY1, BEELINE, VerdictKind.ACCESSIBLE)
    _record(store, "orda.kz", DAY2, KT, VerdictKind.ACCESSIBLE)  # earlier that day...
    blocked = _record(
        store, "orda.kz", DAY2 + timedelta(hours=6), KT, VerdictKind.DNS_TAMPERING, "again"
    )  # ...then blocked again: the day's cell is the last one
    _record(store, "kaz.orda.kz", DAY2, KT, VerdictKind.ACCESSIBLE)
    _record(store, "kaz.orda.kz", DAY2, BEELINE, VerdictKind.HTTP_DIFF, "body differs")
    _record(store, "vlast.kz", DAY1, KT, VerdictKind.INCONCLUSIVE, "no control")
    desk.set_legal_basis(lead.principal, "orda.kz", "court_order", HOSTILE_ORDER)
    return Monitored(blocked)


@pytest.fixture
def app_client(store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(store.settings, store)) as c:
        yield c


def soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def grid(html: str) -> dict[tuple[str, str], list[str]]:
    """(host, network) → the state of each day's cell ("" where nothing was measured)."""
    out: dict[tuple[str, str], list[str]] = {}
    for tr in soup(html).select("table.reachability tbody tr"):
        assert isinstance(tr, Tag)
        out[(str(tr["data-host"]), str(tr["data-network"]))] = [
            str(td.get("data-state", "")) for td in tr.find_all("td")
        ]
    return out


def no_live_markup(html: str) -> None:
    """Only the page's own script tags (served from /static) may appear."""
    for tag in soup(html).find_all(["script", "img", "iframe"]):
        assert isinstance(tag, Tag)
        src = str(tag.get("src", ""))
        assert src.startswith(("/static/", "/desk/reports/chart.svg")), tag
    assert not re.search(r"<[^>]*\son[a-z]+=", html, re.I), "an event handler attribute"


# -- the monitor ---------------------------------------------------------------------------------


def test_the_grid_shows_each_networks_verdict_per_day_with_words_and_evidence(
    app_client: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    seeded = seed_monitor(store, accounts["coordinator"])
    signed_in(app_client, store, accounts["responder"].token)

    home = app_client.get("/desk/monitor")
    assert home.status_code == 200, home.text
    page = soup(home.text)
    outlets = [a.get_text() for a in page.select("section.card h2 a")]
    assert outlets == [HOSTILE_OUTLET, "Orda"]  # the hostile name is text, not a script
    orda_link = page.find("a", string="Orda")
    assert isinstance(orda_link, Tag) and orda_link["href"] == "/desk/monitor/Orda"

    r = app_client.get("/desk/monitor/Orda")
    assert r.status_code == 200, r.text
    assert "content-security-policy" in r.headers
    cells = grid(r.text)
    assert cells == {
        ("kaz.orda.kz", BEELINE_NAME): ["", "anomaly"],
        ("kaz.orda.kz", KT_NAME): ["", "accessible"],
        ("orda.kz", BEELINE_NAME): ["accessible", ""],
        ("orda.kz", KT_NAME): ["blocked", "blocked"],
    }
    page = soup(r.text)
    days = [t.get_text() for t in page.select("table.reachability thead time")]
    assert days == ["2025-05-06", "2025-05-07"]
    # Never colour alone: each cell names its state in words, its class repeats it, and it
    # links to the measurement behind it, whose evidence is on the page.
    row = page.select_one(f'tr[data-host="orda.kz"][data-network="{KT_NAME}"]')
    assert row is not None
    last = row.find_all("td")[-1]
    assert "cell-blocked" in last["class"] and last.get_text(strip=True) == "blocked"
    assert "DNS tampering" in str(last["title"])
    link = last.find("a")
    assert link is not None and link["href"] == f"#obs-{seeded.blocked_day2}"
    evidence_row = page.find(id=f"obs-{seeded.blocked_day2}")
    assert isinstance(evidence_row, Tag) and "again" in evidence_row.get_text()
    anomaly = page.select_one(f'tr[data-host="kaz.orda.kz"][data-network="{BEELINE_NAME}"] td')
    assert anomaly is not None  # the empty first day
    assert page.select_one(".cell-anomaly") is not None
    assert page.select_one(".cell-accessible") is not None

    # The current verdict per network and the register entry with its legal basis.
    current = {
        (tr.th.get_text(), tr.find_all("td")[0].get_text()): tr.find_all("td")[1].get_text()
        for tr in page.select("tr.current")
        if tr.th is not None
    }
    assert current[("orda.kz", KT_NAME)] == "blocked"
    assert current[("orda.kz", BEELINE_NAME)] == "accessible"
    assert current[("kaz.orda.kz", BEELINE_NAME)] == "anomaly"
    entry = page.select_one("tr.register-entry")
    assert entry is not None and entry.th is not None and entry.th.get_text() == "orda.kz"
    assert "Court order" in entry.get_text() and HOSTILE_ORDER in entry.get_text()

    # Hostile data are text: the evidence and the court order are escaped, nothing runs.
    assert "&lt;script&gt;alert(&#34;evidence&#34;)&lt;/script&gt;" in r.text
    assert "&lt;img src=x onerror=alert(&#34;order&#34;)&gt;" in r.text
    no_live_markup(r.text)

    ru = app_client.get("/desk/monitor/Orda?lang=ru")
    assert '<html lang="ru">' in ru.text and "Подмена DNS" in ru.text and "Решение суда" in ru.text

    hostile = app_client.get(
        "/desk/monitor/" + "%3Cscript%3Ealert(%22outlet%22)%3C%2Fscript%3E%20Media"
    )
    assert hostile.status_code == 200, hostile.text
    assert grid(hostile.text) == {("vlast.kz", KT_NAME): ["unknown"]}
    assert "&lt;script&gt;alert(&#34;outlet&#34;)&lt;/script&gt; Media" in hostile.text
    no_live_markup(hostile.text)

    missing = app_client.get("/desk/monitor/Nobody", headers={"Accept": "text/html"})
    assert missing.status_code == 404 and "<html" in missing.text


# -- detections ----------------------------------------------------------------------------------


def _finding(store: Store) -> str:
    """A leaked phone number of a watched person, through the observation pipeline; the
    person's name is hostile and is repeated in the detector's title and explanation."""
    desk = CaseDesk(store)
    od = ObservationDesk(desk)
    who = desk.system("test")
    od.watch(who, HOSTILE_PERSON, "phone", "8 701 555 01 01", group="orda")
    ad = Observation(
        id="ads:1",
        source="ads",
        platform="olx.example",
        kind="ad",
        time=store.now() - timedelta(minutes=5),
        text="Продаю коз. Звоните 8 (701) 555-01-01",
    )
    done = od.ingest(who, [ad])
    assert done.processed is not None
    (case,) = done.processed.incidents_opened
    return str(case)


def test_detections_show_each_finding_with_its_reason_and_its_case(
    app_client: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    case = _finding(store)
    signed_in(app_client, store, accounts["legal"].token)  # staff may read findings
    r = app_client.get("/desk/detections")
    assert r.status_code == 200, r.text
    page = soup(r.text)
    (card,) = page.select("article.finding")
    text = card.get_text(" ")
    assert "leaked_identifiers" in text and "Identifiers of a protected person posted" in text
    assert "High" in text
    explanation = card.select_one(".explanation")
    assert explanation is not None
    assert HOSTILE_PERSON in explanation.get_text()
    assert "+7 701 *** ** 01" in explanation.get_text()  # masked, as the detector wrote it
    assert "555-01-01" not in r.text
    case_link = card.find("a", string=case)
    assert isinstance(case_link, Tag) and case_link["href"] == f"/desk/cases/{case}"
    details = card.select_one("dl.details")
    assert details is not None and "olx.example" in details.get_text()
    assert "&lt;script&gt;alert(&#39;person&#39;)&lt;/script&gt;" in r.text
    no_live_markup(r.text)

    # The observations it cites, one click away.
    own = card.select_one("h2 a")
    assert own is not None
    one = app_client.get(str(own["href"]))
    assert one.status_code == 200
    keys = [li.get_text() for li in soup(one.text).select("ul.observation-keys li")]
    assert keys == ["ads:1"]

    # Filtering by detector keeps its findings and drops the others; an unknown one is named.
    assert (
        len(soup(app_client.get("/desk/detections?detector=floods").text).select("article.finding"))
        == 0
    )
    assert (
        len(
            soup(app_client.get("/desk/detections?detector=leaked_identifiers").text).select(
                "article.finding"
            )
        )
        == 1
    )
    bad = app_client.get("/desk/detections?detector=%3Cb%3Enope")
    assert bad.status_code == 422 and "No detector is called &lt;b&gt;nope." in bad.text

    # Another organisation's finding is not found.
    signed_in(app_client, store, accounts["other_coordinator"].token)
    assert soup(app_client.get("/desk/detections").text).select("article.finding") == []
    assert app_client.get(str(own["href"])).status_code == 404


# -- reports -------------------------------------------------------------------------------------


def _incidents(client: TestClient, lead: Account) -> None:
    cases: tuple[tuple[str, list[str], str, dict[str, Any]], ...] = (
        ("Orda.kz blocked", ["website_blocking"], "2025-05-06T09:00:00+05:00", {}),
        (
            "Editor's phone flooded",
            ["phone_flooding", "doxxing"],
            "2025-05-07T09:00:00+05:00",
            {},
        ),
        ("Threat", ["threats"], "2025-06-02T10:00:00+05:00", {"severity": "critical"}),
        ("DDoS before", ["ddos"], "2025-03-20T10:00:00+05:00", {}),
    )
    for title, kinds, at, extra in cases:
        report(
            client, lead, title=title, attack_types=kinds, reported_at=at, targets=[ORDA], **extra
        )


def table_counts(html: str, table_id: str) -> dict[str, int]:
    table = soup(html).find(id=table_id)
    assert isinstance(table, Tag), table_id
    out = {}
    for tr in table.select("tbody tr"):
        assert tr.th is not None and tr.td is not None
        out[str(tr.get("data-key") or tr.th.get_text())] = int(tr.td.get_text(strip=True))
    return out


def test_the_report_page_counts_as_the_desk_does_and_charts_it(
    app_client: TestClient, client: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    _incidents(client, accounts["coordinator"])
    signed_in(app_client, store, accounts["responder"].token)
    r = app_client.get("/desk/reports?by=attack_type&period=2025-Q2&granularity=month")
    assert r.status_code == 200, r.text
    who = accounts["responder"].principal
    flt = build_filter(store.taxonomy, period="2025-Q2")
    expected = ReportDesk(store).breakdown(who, Dimension.ATTACK_TYPE, flt, "en")
    shown = table_counts(r.text, "breakdown-table")
    assert shown == {c.key: c.count for c in expected.cells}
    assert shown["phone_flooding"] == 1 and "ddos" not in shown  # March is outside Q2
    assert f"Incidents matching the filters: {expected.total}" in r.text
    ts = ReportDesk(store).series(who, Granularity.MONTH, flt, None, "en")
    assert list(table_counts(r.text, "series-table").values()) == list(ts.rows[0][1])
    assert list(ts.rows[0][1]) == [0, 2, 1]  # April, May, June: the empty month is shown

    # Filters combine: only the critical one, and the drill-down goes to the filtered queue.
    crit = app_client.get("/desk/reports?by=attack_type&period=2025-Q2&severity=critical")
    assert table_counts(crit.text, "breakdown-table") == {"threats": 1}
    link = soup(crit.text).select_one("#breakdown-table a")
    assert link is not None
    target = urlsplit(str(link["href"]))
    assert target.path == "/desk"
    assert parse_qs(target.query) == {"attack_type": ["threats"], "severity": ["critical"]}

    # The chart image is served by the page's own route, as SVG, for the same filters.
    page = soup(r.text)
    img = page.select_one("#breakdown-chart")
    assert img is not None and str(img["src"]).startswith("/desk/reports/chart.svg?")
    assert "Phone" in str(img["alt"]) or "(1)" in str(img["alt"])
    chart = app_client.get(str(img["src"]))
    assert chart.status_code == 200 and chart.headers["content-type"].startswith("image/svg+xml")
    assert chart.text.lstrip().startswith("<svg") and "</svg>" in chart.text
    series_img = page.select_one("#series-chart")
    assert series_img is not None
    assert app_client.get(str(series_img["src"])).headers["content-type"].startswith("image/svg")

    advocacy = soup(r.text).find(id="advocacy-table")
    assert isinstance(advocacy, Tag) and "Incidents documented" in advocacy.get_text()

    # A bad period is named next to its field, in the reader's language, and kept.
    bad = app_client.get("/desk/reports?period=2025-Q9&lang=ru")
    assert bad.status_code == 422
    field = soup(bad.text).select_one(".field.has-error #f-period")
    assert field is not None and field["value"] == "2025-Q9"
    assert soup(bad.text).select_one("#breakdown-table") is None
    hostile = app_client.get("/desk/reports", params={"period": "<script>alert(1)</script>"})
    assert hostile.status_code == 422
    assert 'value="&lt;script&gt;alert(1)&lt;/script&gt;"' in hostile.text
    no_live_markup(hostile.text)
    assert app_client.get("/desk/reports/chart.svg?by=nonsense").status_code == 422


def exports(client: TestClient, store: Store, account: Account) -> list[str]:
    signed_in(client, store, account.token)
    r = client.get("/desk/reports?period=2025-Q2")
    assert r.status_code == 200, r.text
    return [str(a["href"]) for a in soup(r.text).select("ul.exports a")]


def test_exports_are_those_the_role_may_use_and_others_may_not_see_the_page(
    app_client: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    analyst = exports(app_client, store, accounts["analyst"])
    assert "/api/v1/reports/monitoring?period=2025-Q2&lang=kk&format=pdf" in analyst
    assert "/api/v1/public/incidents?format=csv" in analyst
    assert not any("/share/" in h for h in analyst)  # STIX and MISP are for leads and lawyers
    # Analysts see aggregates only: no drill-down into the queue.
    assert "/desk?" not in app_client.get("/desk/reports").text

    lead = exports(app_client, store, accounts["coordinator"])
    assert (
        "/api/v1/share/stix?period=2025-Q2" in lead and "/api/v1/share/misp?period=2025-Q2" in lead
    )
    assert len([h for h in lead if h.startswith("/api/v1/reports/monitoring")]) == 6

    # The links work with the browser's session (the API reads the session cookie on GET).
    stix = app_client.get("/api/v1/share/stix?period=2025-Q2")
    assert stix.status_code == 200 and stix.json()["type"] == "bundle"

    signed_in(app_client, store, accounts["reporter"].token)
    for path in ("/desk/reports", "/desk/reports/chart.svg", "/desk/monitor", "/desk/detections"):
        assert app_client.get(path).status_code == 403, path
    signed_in(app_client, store, accounts["analyst"].token)
    assert app_client.get("/desk/monitor").status_code == 403  # monitoring is staff's
    app_client.cookies.clear()
    anonymous = app_client.get(
        "/desk/reports", headers={"Accept": "text/html"}, follow_redirects=False
    )
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/login?next=/desk/reports")
