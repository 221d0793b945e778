"""Issue 8's "done when", on SQLite and PostgreSQL: from the demo cases plus a generated year,
the quarterly report in all three languages (its PDF rendered and a page looked at as an
image), a STIX bundle the official validator accepts, MISP events that round-trip into another
organisation, and a public export that withstands the re-identification attack."""

from __future__ import annotations

import io
import json
import random
from importlib import resources

import pytest
from PIL import Image, ImageStat

from qorgau.desk import CaseDesk
from qorgau.domain.model import Principal, Role
from qorgau.domain.queries import IncidentQuery
from qorgau.domain.tlp import Tlp
from qorgau.io.importer import import_file
from qorgau.report_desk import PublicData, ReportDesk
from qorgau.reports.periods import parse_period
from qorgau.reports.public_data import ATTRIBUTES, MULTI_VALUED, count_public
from qorgau.reports.render import pdf_page_png, render_html, render_pdf
from qorgau.reports.stix import validate_stix
from qorgau.sharing_desk import SharingDesk
from qorgau.store import users
from qorgau.store.store import Store

HEADINGS = {
    "en": "Safety of journalists and activists online",
    "ru": "Безопасность журналистов и активистов в интернете",
    "kk": "Журналистер мен белсенділердің интернеттегі қауіпсіздігі",
}


@pytest.fixture
def year(store: Store) -> Store:
    from qorgau.demo.year import generate_year

    desk = CaseDesk(store)
    with resources.as_file(resources.files("qorgau.demo") / "incidents-kz.jsonl") as path:
        import_file(desk, path)
    generate_year(store, year=2025, incidents=450, seed=3)
    return store


def test_the_quarter_report_exports_and_public_data_from_a_generated_year(year: Store) -> None:
    store = year
    admin = CaseDesk(store).system("acceptance")
    q2 = parse_period("2025-Q2")
    pages = {}
    for lang in ("en", "ru", "kk"):
        data = ReportDesk(store).report_data(admin, q2, lang)
        assert data.total > 50
        assert sum(s.count for s in data.sections) == data.total
        html = render_html(data)
        assert HEADINGS[lang] in html
        pages[lang] = render_pdf(html)
    png = pdf_page_png(pages["kk"], 0)
    image = Image.open(io.BytesIO(png)).convert("L")
    assert image.width > 500
    # A rendered page: mostly white paper, with enough dark ink for text and a chart.
    histogram = image.histogram()
    dark = sum(histogram[:128]) / (image.width * image.height)
    assert 0.01 < dark < 0.5
    assert ImageStat.Stat(image).stddev[0] > 20

    sharing = SharingDesk(store)
    bundle = sharing.stix(admin, Tlp.AMBER)
    assert validate_stix(bundle) == []
    objects = json.loads(bundle)["objects"]
    assert any(o["type"] == "indicator" for o in objects)
    assert any(o["type"] == "relationship" for o in objects)

    events = sharing.misp(admin, Tlp.GREEN)
    with store.read() as conn:
        other_org = users.org_id_for(conn, "other")
    other = Principal(None, Role.COORDINATOR, other_org, "partner-coordinator")
    data = json.dumps(events).encode()
    result = sharing.import_partner(other, data, partner="Test desk", fmt="misp")
    exported = [e for e in events if "indicators-only" not in json.dumps(e.get("Tag", []))]
    assert result.incidents_new == len(exported)
    # Every event came back as a case of the other organisation: same attack types, day and
    # TLP, keyed by the event's UUID (a second import of the same events adds nothing).
    copies = {}
    for offset in range(0, 2000, 200):
        page = CaseDesk(store).search(other, IncidentQuery(limit=200, offset=offset))
        copies.update({i.external_ref: i for i in page.items})
    assert len(copies) == page.total == len(exported)
    for e in exported:
        copy = copies[f"Test desk:{e['uuid']}"]
        assert copy.reported_at.date().isoformat() == e["date"]
        tags = {t["name"] for t in e["Tag"]}
        assert f"tlp:{copy.tlp}" in tags
        assert {f'qorgau:attack-type="{a}"' for a in copy.attack_types} <= tags

    ds = PublicData(store).dataset(admin)
    protected = [r for r in ds.rows if not r.named_targets]
    assert len(protected) > 100
    rng = random.Random(5)
    for _ in range(400):
        # The neighbour's attack: pick known facts of one published row, filter by them.
        row = rng.choice(protected)
        names = rng.sample(list(ATTRIBUTES), rng.randint(2, 5))
        filters = {}
        for a in names:
            v = row.value(a)
            filters[a] = rng.choice(v) if a in MULTI_VALUED and isinstance(v, tuple) else v
        by = rng.choice(list(ATTRIBUTES))
        matching_protected = sum(
            1
            for r in protected
            if all(
                (f in r.value(a)) if isinstance(r.value(a), tuple) else r.value(a) == f
                for a, f in filters.items()
            )
        )
        assert matching_protected == 0 or matching_protected >= ds.k, filters
        # The public counts never exceed what the released rows hold.
        assert sum(count_public(ds, by, filters).values()) >= matching_protected
