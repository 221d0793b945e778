"""Statistics, the monitoring report, public data and partner exchange through the API, on
SQLite and PostgreSQL: figures drill down to exactly the incidents they count, exports respect
TLP and consent, partner files are imported whole or not at all."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Account

ATOM = "{http://www.w3.org/2005/Atom}"


def report(
    client: TestClient,
    lead: Account,
    *,
    title: str,
    attack_types: list[str],
    reported_at: str,
    region: str | None = "almaty_city",
    targets: list[dict[str, Any]] | None = None,
    tlp: str = "amber",
    legal_refs: list[str] | None = None,
    **extra: Any,
) -> str:
    body: dict[str, Any] = {
        "title": title,
        "attack_types": attack_types,
        "reported_at": reported_at,
        "started_at": reported_at,
        "targets": targets or [],
        "tlp": tlp,
        "legal_refs": legal_refs or [],
        **extra,
    }
    if region:
        body["region"] = region
    r = client.post("/api/v1/reports", json=body, headers=lead.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["public_id"])


EDITOR = {
    "kind": "person",
    "name": "Гульнара Бажкенова",
    "role": "editor",
    "gender": "woman",
    "gender_consent": True,
}
HIDDEN = {"kind": "person", "name": "Секретный Источник", "role": "journalist"}
ORDA = {"kind": "outlet", "name": "Orda.kz"}


@pytest.fixture
def quarter(client: TestClient, accounts: dict[str, Account]) -> dict[str, str]:
    lead = accounts["coordinator"]
    ids = {
        "block": report(
            client,
            lead,
            title="Orda.kz blocked",
            attack_types=["website_blocking"],
            reported_at="2025-05-06T09:00:00+05:00",
            region="nationwide",
            targets=[ORDA, {"kind": "website", "name": "orda.kz", "identifier": "orda.kz"}],
            tlp="clear",
            platform="website",
        ),
        "flood": report(
            client,
            lead,
            title="Editor's phone flooded after fake ads",
            attack_types=["phone_flooding", "doxxing"],
            reported_at="2025-05-06T19:00:00+05:00",
            targets=[EDITOR, ORDA],
            tlp="green",
            perpetrator={"type": "state_linked"},
        ),
        "threat": report(
            client,
            lead,
            title="Death threat to a source",
            attack_types=["threats"],
            reported_at="2025-06-02T10:00:00+05:00",
            region=None,
            targets=[HIDDEN],
            legal_refs=["kz-cc-115"],
            severity="critical",
        ),
        "red": report(
            client,
            lead,
            title="Spyware on a phone",
            attack_types=["spyware"],
            reported_at="2025-06-10T10:00:00+05:00",
            targets=[HIDDEN],
            tlp="red",
        ),
        "before": report(
            client,
            lead,
            title="DDoS in the previous quarter",
            attack_types=["ddos"],
            reported_at="2025-03-20T10:00:00+05:00",
            targets=[ORDA],
        ),
    }
    legal = accounts["legal"]
    steps = [
        ("threat", "reported_to_police", "2025-06-02T15:00:00+05:00"),
        ("threat", "investigation_refused", "2025-06-20T15:00:00+05:00"),
        ("flood", "reported_to_police", "2025-05-07T10:00:00+05:00"),
    ]
    for key, kind, at in steps:
        r = client.post(
            f"/api/v1/incidents/{ids[key]}/legal",
            json={"kind": kind, "at": at, "authority": "Almaty police"},
            headers=legal.headers,
        )
        assert r.status_code == 201, r.text
    r = client.patch(
        f"/api/v1/incidents/{ids['threat']}",
        json={"legal_provision": "applies"},
        headers=lead.headers,
    )
    assert r.status_code == 200, r.text
    r = client.patch(
        f"/api/v1/incidents/{ids['flood']}",
        json={"legal_provision": "none", "disarm_techniques": ["t0048.004"]},
        headers=lead.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["disarm_techniques"] == ["T0048.004"]
    return ids


def test_breakdowns_drill_down_to_exactly_the_incidents_they_count(
    client: TestClient, accounts: dict[str, Account], quarter: dict[str, str]
) -> None:
    lead = accounts["coordinator"]
    for by in ("attack_type", "target_type", "gender", "region", "legal_outcome", "category"):
        r = client.get(
            "/api/v1/stats/breakdown",
            params={"by": by, "period": "2025-Q2"},
            headers=accounts["analyst"].headers,
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["total"] == 4, by  # the DDoS of March is outside the quarter
        for cell in body["cells"]:
            listed = client.get(cell["drilldown"] + "&limit=200", headers=lead.headers)
            assert listed.status_code == 200, (by, cell, listed.text)
            assert listed.json()["total"] == cell["count"], (by, cell)
    cells = {
        c["key"]: c["count"]
        for c in client.get(
            "/api/v1/stats/breakdown",
            params={"by": "target_type", "period": "2025-Q2"},
            headers=lead.headers,
        ).json()["cells"]
    }
    assert cells == {"outlet": 2, "editor": 1, "journalist": 2}
    gender = client.get(
        "/api/v1/stats/breakdown",
        params={"by": "gender", "period": "2025-Q2", "lang": "kk"},
        headers=lead.headers,
    ).json()
    assert {c["key"]: c["count"] for c in gender["cells"]} == {"woman": 1, "not_recorded": 3}
    assert gender["cells"][0]["label"] == "Әйел"
    # Filters combine, and analysts cannot follow the drill-down (aggregates only).
    women = client.get(
        "/api/v1/stats/breakdown",
        params={"by": "attack_type", "period": "2025-Q2", "gender": "woman"},
        headers=lead.headers,
    ).json()
    assert {c["key"] for c in women["cells"]} == {"phone_flooding", "doxxing"}
    denied = client.get(women["cells"][0]["drilldown"], headers=accounts["analyst"].headers)
    assert denied.status_code == 403


def test_series_counts_by_month_with_empty_months(
    client: TestClient, accounts: dict[str, Account], quarter: dict[str, str]
) -> None:
    r = client.get(
        "/api/v1/stats/series",
        params={"period": "2025", "granularity": "quarter"},
        headers=accounts["analyst"].headers,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["periods"] == ["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4"]
    assert body["rows"][0]["counts"] == [1, 4, 0, 0]
    monthly = client.get(
        "/api/v1/stats/series",
        params={"period": "2025-Q2", "by": "category"},
        headers=accounts["analyst"].headers,
    ).json()
    assert monthly["periods"] == ["2025-04", "2025-05", "2025-06"]
    per_row = {row["key"]: row["counts"] for row in monthly["rows"]}
    assert per_row["infrastructure"] == [0, 1, 0]


def test_advocacy_figures_show_what_the_authorities_did(
    client: TestClient, accounts: dict[str, Account], quarter: dict[str, str]
) -> None:
    r = client.get(
        "/api/v1/stats/advocacy", params={"period": "2025-Q2"}, headers=accounts["analyst"].headers
    )
    assert r.status_code == 200, r.text
    a = r.json()
    assert a["reported_to_authorities"] == 2
    # The refused investigation, and the flood report never answered (far over 30 days).
    assert a["no_action"] == 2
    assert a["no_legal_provision"] == 1
    assert a["responded"] == 1
    assert a["median_days_to_response"] == pytest.approx(18.0)
    legal = client.get(
        f"/api/v1/incidents/{quarter['threat']}", headers=accounts["coordinator"].headers
    ).json()
    assert legal["legal_outcome"] == "investigation_refused"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"period": "2025-Q5"}, "period"),
        ({"period": "next quarter"}, "period"),
        ({"by": "colour"}, "by"),
        ({"gender": "unknown"}, "gender"),
        ({"period": "2025", "reported_from": "2025-01-01T00:00:00Z"}, "period"),
    ],
)
def test_bad_periods_and_filters_are_named(
    client: TestClient, accounts: dict[str, Account], params: dict[str, str], field: str
) -> None:
    r = client.get("/api/v1/stats/breakdown", params=params, headers=accounts["analyst"].headers)
    assert r.status_code == 422, r.text
    assert field in r.text


def test_legal_steps_are_checked(
    client: TestClient, accounts: dict[str, Account], quarter: dict[str, str]
) -> None:
    url = f"/api/v1/incidents/{quarter['block']}/legal"
    bad = client.post(
        url,
        json={"kind": "prayer", "at": "2025-06-01T00:00:00Z"},
        headers=accounts["legal"].headers,
    )
    assert bad.status_code == 422 and "reported_to_police" in bad.text
    naive = client.post(
        url,
        json={"kind": "reported_to_police", "at": "2025-06-01T00:00:00"},
        headers=accounts["legal"].headers,
    )
    assert naive.status_code == 422 and "zone" in naive.text
    steps = client.get(
        f"/api/v1/incidents/{quarter['threat']}/legal", headers=accounts["legal"].headers
    ).json()
    assert [s["kind"] for s in steps] == ["reported_to_police", "investigation_refused"]


def test_gender_needs_consent_and_belongs_to_people(
    client: TestClient, accounts: dict[str, Account]
) -> None:
    r = client.post(
        "/api/v1/reports",
        json={
            "title": "x",
            "attack_types": ["threats"],
            "targets": [
                {"kind": "person", "name": "A", "gender": "woman"},
                {"kind": "outlet", "name": "B", "role": "editor"},
            ],
        },
        headers=accounts["coordinator"].headers,
    )
    assert r.status_code == 422
    fields = {p["field"] for p in r.json()["problems"]}
    assert fields == {"targets[0].gender", "targets[1].role"}


def test_the_quarterly_report_in_kazakh_as_html_and_pdf(
    client: TestClient, accounts: dict[str, Account], quarter: dict[str, str]
) -> None:
    html = client.get(
        "/api/v1/reports/monitoring",
        params={"period": "2025-Q2", "lang": "kk"},
        headers=accounts["analyst"].headers,
    )
    assert html.status_code == 200, html.text
    text = html.text
    assert 'lang="kk"' in text
    assert "Интернет инфрақұрылымы" in text  # the category heading in Kazakh
    assert "Orda.kz" in text and "orda.kz" in text
    assert "Секретный Источник" not in text  # never named without consent
    assert "Spyware on a phone" not in text
    pdf = client.get(
        "/api/v1/reports/monitoring",
        params={"period": "2025-Q2", "lang": "ru", "format": "pdf"},
        headers=accounts["analyst"].headers,
    )
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")
    bad = client.get(
        "/api/v1/reports/monitoring",
        params={"period": "2025-13", "lang": "kk"},
        headers=accounts["analyst"].headers,
    )
    assert bad.status_code == 422 and "month" in bad.text


def test_stix_export_validates_and_respects_tlp_and_consent(
    client: TestClient, accounts: dict[str, Account], quarter: dict[str, str]
) -> None:
    from qorgau.reports.stix import validate_stix

    lead = accounts["coordinator"]
    ind = client.post(
        "/api/v1/indicators",
        json={
            "kind": "domain",
            "value": "ORDA-KZ.com",
            "tlp": "green",
            "incidents": [quarter["flood"]],
            "description": "look-alike domain hosting the fake ads",
        },
        headers=lead.headers,
    )
    assert ind.status_code == 201, ind.text
    assert ind.json()["value"] == "orda-kz.com"
    r = client.get("/api/v1/share/stix", params={"tlp": "amber"}, headers=lead.headers)
    assert r.status_code == 200, r.text
    assert validate_stix(r.text) == []
    objects = json.loads(r.text)["objects"]
    names = {o.get("name") for o in objects if o["type"] == "incident"}
    assert len(names) == 4  # everything but RED
    assert "Секретный Источник" not in r.text and "Spyware" not in r.text
    assert any(o["type"] == "relationship" for o in objects)
    green = client.get("/api/v1/share/stix", params={"tlp": "green"}, headers=lead.headers)
    assert len([o for o in json.loads(green.text)["objects"] if o["type"] == "incident"]) == 2
    red = client.get("/api/v1/share/stix", params={"tlp": "red"}, headers=lead.headers)
    assert red.status_code == 422 and "RED" in red.text
    # A partner's token reads at most GREEN, whatever it asks for.
    partner = client.get("/api/v1/partner/stix", headers=accounts["partner"].headers)
    assert partner.status_code == 200
    kinds = [o for o in json.loads(partner.text)["objects"] if o["type"] == "incident"]
    assert len(kinds) == 2
    feed = client.get("/api/v1/partner/feed", headers=accounts["partner"].headers).json()
    assert {i["tlp"] for i in feed["incidents"]} == {"clear", "green"}
    flood = next(i for i in feed["incidents"] if "phone_flooding" in i["attack_types"])
    assert flood["indicators"] == ["domain:orda-kz.com"]
    assert {t["name"] for t in flood["targets"]} == {"Orda.kz", None}  # editor not consenting
    assert [i["value"] for i in feed["indicators"]] == ["orda-kz.com"]
    later = client.get(
        "/api/v1/partner/feed",
        params={"since": "2099-01-01T00:00:00Z"},
        headers=accounts["partner"].headers,
    ).json()
    assert later["incidents"] == [] and later["indicators"] == []
    assert (
        client.get("/api/v1/partner/feed", headers=accounts["analyst"].headers).status_code == 403
    )


def test_misp_events_round_trip_into_another_organisation(
    client: TestClient, accounts: dict[str, Account], quarter: dict[str, str]
) -> None:
    lead, other = accounts["coordinator"], accounts["other_coordinator"]
    client.post(
        "/api/v1/indicators",
        json={
            "kind": "ipv4",
            "value": "203.0.113.7",
            "tlp": "green",
            "incidents": [quarter["flood"]],
        },
        headers=lead.headers,
    )
    events = client.get("/api/v1/share/misp", params={"tlp": "green"}, headers=lead.headers)
    assert events.status_code == 200
    body = events.content
    first = client.post(
        "/api/v1/share/import",
        params={"partner": "Test desk", "format": "misp"},
        content=body,
        headers={**other.headers, "content-type": "application/json"},
    )
    assert first.status_code == 200, first.text
    assert first.json()["incidents_new"] == 2
    assert first.json()["indicators_new"] == 1
    again = client.post(
        "/api/v1/share/import",
        params={"partner": "Test desk", "format": "misp"},
        content=body,
        headers={**other.headers, "content-type": "application/json"},
    )
    assert again.json()["already_imported"] is True
    theirs = client.get(
        "/api/v1/incidents", params={"attack_type": "phone_flooding"}, headers=other.headers
    ).json()
    assert theirs["total"] == 1
    copy = theirs["items"][0]
    assert copy["tlp"] == "green" and copy["external_ref"].startswith("Test desk:")
    assert {t["name"] for t in copy["targets"]} >= {"Orda.kz"}


def test_an_invalid_partner_bundle_is_refused_whole(
    client: TestClient, accounts: dict[str, Account], quarter: dict[str, str]
) -> None:
    lead, other = accounts["coordinator"], accounts["other_coordinator"]
    bundle = json.loads(client.get("/api/v1/share/stix", headers=lead.headers).text)
    for o in bundle["objects"]:
        if o["type"] == "indicator":
            o["pattern"] = "[domain-name:value = 'broken'"
    client.post(
        "/api/v1/indicators",
        json={"kind": "domain", "value": "vlast-news.kz", "tlp": "clear"},
        headers=lead.headers,
    )
    bundle = json.loads(client.get("/api/v1/share/stix", headers=lead.headers).text)
    for o in bundle["objects"]:
        if o["type"] == "indicator":
            o["pattern"] = "[domain-name:value = 'broken'"
    r = client.post(
        "/api/v1/share/import",
        params={"partner": "CERT-KZ", "format": "stix"},
        content=json.dumps(bundle).encode(),
        headers={**other.headers, "content-type": "application/json"},
    )
    assert r.status_code == 422, r.text
    assert "stix-validator" in r.text
    assert client.get("/api/v1/incidents", headers=other.headers).json()["total"] == 0
    assert client.get("/api/v1/indicators", headers=other.headers).json()["total"] == 0


def test_two_partners_reporting_one_domain_make_one_indicator(
    client: TestClient, accounts: dict[str, Account]
) -> None:
    from datetime import UTC, datetime

    from qorgau.reports.model import Indicator, IndicatorKind, SharingBundle, Tlp
    from qorgau.reports.stix import stix_bundle

    other = accounts["other_coordinator"]
    for partner, tlp, day in (("CERT-A", Tlp.GREEN, 1), ("CERT-B", Tlp.AMBER, 9)):
        at = datetime(2025, 6, day, tzinfo=UTC)
        ind = Indicator(IndicatorKind.DOMAIN, "orda-kz.com", at, at, tlp, f"seen by {partner}")
        text = stix_bundle(SharingBundle(partner, at, (), (ind,)), Tlp.AMBER)
        r = client.post(
            "/api/v1/share/import",
            params={"partner": partner, "format": "stix"},
            content=text.encode(),
            headers={**other.headers, "content-type": "application/json"},
        )
        assert r.status_code == 200, r.text
    items = client.get("/api/v1/indicators", headers=other.headers).json()
    assert items["total"] == 1
    merged = items["items"][0]
    assert merged["tlp"] == "amber"  # the stricter marking wins
    assert merged["first_seen"].startswith("2025-06-01") and merged["last_seen"].startswith(
        "2025-06-09"
    )


def test_public_data_never_names_unconsenting_people(
    client: TestClient, accounts: dict[str, Account], quarter: dict[str, str]
) -> None:
    r = client.get("/api/v1/public/incidents", params={"format": "csv"})
    assert r.status_code == 200
    assert "Секретный Источник" not in r.text and "Бажкенова" not in r.text
    rows = list(csv.DictReader(io.StringIO(r.text)))
    # The blocking and the DDoS name only an outlet: published as they are, with its name.
    named = [row for row in rows if "Orda.kz" in row["named_targets"]]
    assert sorted(row["period"] for row in named) == ["2025-03", "2025-05"]
    meta = client.get("/api/v1/public/incidents").json()["metadata"]
    assert meta["k"] == 5
    counts = client.get("/api/v1/public/stats", params={"by": "category"}).json()
    assert sum(counts["counts"].values()) <= len(rows)
    bad = client.get("/api/v1/public/stats", params={"by": "name"})
    assert bad.status_code == 422


def test_public_alerts_feed(client: TestClient, accounts: dict[str, Account]) -> None:
    lead = accounts["coordinator"]
    r = client.post(
        "/api/v1/alerts",
        json={
            "texts": {
                "en": {"title": "Orda.kz blocked in Kazakhstan", "summary": "Since 6 May."},
                "kk": {"title": "Orda.kz Қазақстанда бұғатталды", "summary": "6 мамырдан бері."},
            }
        },
        headers=lead.headers,
    )
    assert r.status_code == 201, r.text
    feed = client.get("/feeds/alerts.atom", params={"lang": "kk"})
    assert feed.status_code == 200
    root = ET.fromstring(feed.content)
    entries = root.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}title") for e in entries] == ["Orda.kz Қазақстанда бұғатталды"]
    ru = ET.fromstring(client.get("/feeds/alerts.atom", params={"lang": "ru"}).content)
    assert ru.findall(f"{ATOM}entry")[0].findtext(f"{ATOM}title") == (
        "Orda.kz blocked in Kazakhstan"
    )  # no Russian text: English
    denied = client.post(
        "/api/v1/alerts",
        json={"texts": {"en": {"title": "x"}}},
        headers=accounts["responder"].headers,
    )
    assert denied.status_code == 403


def test_tracker_rows_carry_only_public_incidents(
    client: TestClient, accounts: dict[str, Account], quarter: dict[str, str]
) -> None:
    r = client.get(
        "/api/v1/share/trackers/mmf", params={"lang": "kk"}, headers=accounts["coordinator"].headers
    )
    assert r.status_code == 200, r.text
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 1  # only the TLP:CLEAR blocking
    assert rows[0]["country"] and rows[0]["date"] == "2025-05-06"
    unknown = client.get("/api/v1/share/trackers/rsf", headers=accounts["coordinator"].headers)
    assert unknown.status_code == 422


def test_public_statistics_page_counts_only_released_rows(
    client: TestClient, accounts: dict[str, Account], quarter: dict[str, str]
) -> None:
    page = client.get("/statistics", params={"lang": "kk", "by": "category"})
    assert page.status_code == 200, page.text
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "unsafe-eval" not in csp
    html = page.text
    assert 'lang="kk"' in html and "Журналистер мен БАҚ-қа шабуылдар" in html
    assert "Секретный Источник" not in html and "Бажкенова" not in html
    assert "<svg" in html  # the chart, drawn on the server
    # ...and its spec for the interactive version, one bar per row of the table.
    raw = html.split('class="vega-lite-spec" data-target="chart">')[1].split("</script>")[0]
    spec = json.loads(raw)
    assert len(spec["data"]["values"]) == html.count('<td class="n">')
    public = client.get("/api/v1/public/stats", params={"by": "category"}).json()["counts"]
    for value, n in public.items():
        assert f'<td class="n">{n}</td>' in html, value
    narrowed = client.get(
        "/statistics", params={"lang": "en", "by": "attack_types", "period": "2025-03"}
    )
    assert narrowed.status_code == 200
    table = narrowed.text.split('<table id="counts">')[1].split("</table>")[0]
    assert "DDoS attack" in table and "Website blocking" not in table
    bad = client.get("/statistics", params={"by": "names"})
    assert bad.status_code == 422


def test_a_partner_incident_that_breaks_a_rule_is_named_and_nothing_is_stored(
    client: TestClient, accounts: dict[str, Account]
) -> None:
    from datetime import UTC, datetime, timedelta

    from qorgau.reports.model import Indicator, IndicatorKind, SharedIncident, SharingBundle, Tlp
    from qorgau.reports.stix import stix_bundle

    at = datetime(2025, 6, 4, 5, 0, tzinfo=UTC)
    bad = SharedIncident(
        public_id="P-1",
        uuid="6ba7b810-9dad-41d1-80b4-00c04fd430c8",
        title="Started after it was reported",
        summary="",
        started_at=at + timedelta(days=3),
        reported_at=at,
        updated_at=at,
        attack_types=("ddos",),
        category="safety",
        platform=None,
        region=None,
        perpetrator_type="unknown",
        severity="high",
        status="new",
        legal_outcome="not_reported",
        tlp=Tlp.GREEN,
        indicator_keys=("domain:ddos-for-hire.example",),
    )
    ind = Indicator(IndicatorKind.DOMAIN, "ddos-for-hire.example", at, at, Tlp.GREEN, "booter")
    text = stix_bundle(SharingBundle("CERT", at, (bad,), (ind,)), Tlp.GREEN)
    other = accounts["other_coordinator"]
    r = client.post(
        "/api/v1/share/import",
        params={"partner": "CERT", "format": "stix"},
        content=text.encode(),
        headers={**other.headers, "content-type": "application/json"},
    )
    assert r.status_code == 422, r.text
    assert f"incident {bad.uuid}: started_at" in r.text
    assert client.get("/api/v1/indicators", headers=other.headers).json()["total"] == 0
