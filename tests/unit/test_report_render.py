"""Monitoring reports rendered as HTML and PDF in three languages, offline, from adaptable
templates."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from qorgau.errors import ConfigurationError, InvalidInput
from qorgau.i18n import gettext
from qorgau.reports import charts, render
from qorgau.reports.periods import Granularity
from qorgau.reports.report_data import (
    Advocacy,
    CategorySection,
    NotableCase,
    RegisterRow,
    ReportData,
)
from qorgau.reports.statistics import Breakdown, Cell, Dimension, TimeSeries

SCRIPT = "<script>alert(1)</script>"

_CATEGORIES = {
    "en": (
        "Freedom of expression online",
        "Safety of journalists online",
        "Access to information and blocking",
        "Privacy and surveillance",
        "Disinformation and smear campaigns",
    ),
    "ru": (
        "Свобода выражения мнений в интернете",
        "Безопасность журналистов в сети",
        "Доступ к информации и блокировки",
        "Частная жизнь и слежка",
        "Дезинформация и кампании по дискредитации",
    ),
    "kk": (
        "Интернеттегі сөз бостандығы",
        "Журналистердің желідегі қауіпсіздігі",
        "Ақпаратқа қол жеткізу және бұғаттау",
        "Жеке өмір және бақылау",
        "Жалған ақпарат және қаралау науқандары",
    ),
}
_ATTACKS = {
    "en": ("Threats", "Doxxing", "Account hacking", "Website blocking"),
    "ru": ("Угрозы", "Публикация личных данных", "Взлом аккаунтов", "Блокировка сайтов"),
    "kk": ("Қорқыту", "Жеке деректерді жариялау", "Аккаунтты бұзу", "Сайтты бұғаттау"),
}
_OTHER = {
    "en": ("Journalist", "Media outlet", "Woman", "Man", "Almaty", "Astana", "Unknown", "Refused"),
    "ru": ("Журналист", "СМИ", "Женщина", "Мужчина", "Алматы", "Астана", "Неизвестно", "Отказ"),
    "kk": ("Журналист", "БАҚ", "Әйел", "Ер", "Алматы", "Астана", "Белгісіз", "Бас тарту"),
}


def sample_report_data(lang: str) -> ReportData:
    """A quarter as the builder would deliver it: labels already in ``lang``."""
    cats = _CATEGORIES[lang]
    threats, doxxing, hacking, blocking = _ATTACKS[lang]
    journalist, outlet, woman, man, almaty, astana, unknown, refused = _OTHER[lang]
    ids = ("expression", "safety", "access", "privacy", "disinformation")
    attack_types = Breakdown(
        Dimension.ATTACK_TYPE,
        23,
        (
            Cell("threat", threats, 12),
            Cell("doxxing", doxxing, 7),
            Cell("hacking", hacking, 3),
            Cell("blocking", blocking, 2),
            Cell("ddos", "DDoS", 0),
        ),
    )
    case_text = {
        "en": f"A reporter received threats after a story on land sales {SCRIPT}.",
        "ru": f"Репортёр получил угрозы после материала о продаже земли {SCRIPT}.",
        "kk": f"Тілші жер сату туралы материалдан кейін қорқыту хаттарын алды {SCRIPT}.",
    }[lang]
    sections = []
    counts = ((9, 6), (14, 11), (3, 1), (2, 4), (5, 5))
    for i, (cat, label) in enumerate(zip(ids, cats, strict=True)):
        count, previous = counts[i]
        notable: tuple[NotableCase, ...] = ()
        if i == 1:
            notable = (
                NotableCase("QG-2025-0142", date(2025, 8, 14), cat, case_text, "high", refused),
            )
        sections.append(
            CategorySection(
                cat,
                i + 1,
                label,
                count,
                previous,
                Breakdown(
                    Dimension.ATTACK_TYPE,
                    count,
                    (Cell("threat", threats, max(count - 2, 1)), Cell("doxxing", doxxing, 2)),
                ),
                notable,
            )
        )
    return ReportData(
        organisation={
            "en": "Adil Soz Monitoring",
            "ru": "Мониторинг «Әділ сөз»",
            "kk": "«Әділ сөз» мониторингі",
        }[lang],
        period_label="2025-Q3",
        period_start=date(2025, 7, 1),
        period_end=date(2025, 9, 30),
        lang=lang,
        generated_at=datetime(2025, 10, 5, 9, 30, tzinfo=UTC),
        total=23,
        previous_total=19,
        previous_label="2025-Q2",
        sections=tuple(sections),
        by_attack_type=attack_types,
        by_region=Breakdown(
            Dimension.REGION,
            23,
            (Cell("almaty", almaty, 13), Cell("astana", astana, 8), Cell("zhetisu", "Жетісу", 0)),
        ),
        by_platform=Breakdown(
            Dimension.PLATFORM,
            23,
            (Cell("telegram", "Telegram", 11), Cell("instagram", "Instagram", 6)),
        ),
        by_target_type=Breakdown(
            Dimension.TARGET_TYPE,
            23,
            (Cell("journalist", journalist, 18), Cell("outlet", outlet, 6)),
        ),
        by_gender=Breakdown(Dimension.GENDER, 23, (Cell("f", woman, 14), Cell("m", man, 7))),
        by_perpetrator=Breakdown(Dimension.PERPETRATOR, 23, (Cell("unknown", unknown, 17),)),
        by_outcome=Breakdown(Dimension.OUTCOME, 9, (Cell("refused", refused, 5),)),
        by_month=TimeSeries(
            Granularity.MONTH,
            ("2025-07", "2025-08", "2025-09"),
            None,
            ((Cell("all", "all", 23), (9, 0, 14)),),
        ),
        register=(
            RegisterRow(
                "orda.kz",
                "Orda.kz",
                ("Kazakhtelecom", "Beeline KZ"),
                datetime(2025, 7, 3, 6, 0, tzinfo=UTC),
                datetime(2025, 9, 28, 18, 0, tzinfo=UTC),
                True,
                "dns",
            ),
        ),
        advocacy=Advocacy(
            incidents=23,
            no_legal_provision=6,
            provision_unassessed=2,
            reported_to_authorities=9,
            no_action=5,
            awaiting_response=3,
            investigations_opened=1,
            charges=0,
            convictions=0,
            responded=6,
            median_days_to_response=17.5,
            max_days_to_response=41.0,
            response_wait_days=30,
        ),
    )


@pytest.fixture(scope="module")
def html_by_lang() -> dict[str, str]:
    return {lang: render.render_html(sample_report_data(lang)) for lang in ("en", "ru", "kk")}


@pytest.fixture(scope="module")
def kk_pdf(html_by_lang: dict[str, str]) -> bytes:
    return render.render_pdf(html_by_lang["kk"])


def _text(html: str) -> str:
    """Visible text without tags, whitespace collapsed, for assertions on sentences."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.mark.parametrize(
    ("lang", "headings"),
    [
        ("en", ("Summary", "What law enforcement did", "Blocked websites")),
        ("ru", ("Краткие итоги", "Что сделали правоохранительные органы", "Заблокированные сайты")),
        ("kk", ("Қысқаша қорытынды", "Құқық қорғау органдары не істеді", "Бұғатталған сайттар")),
    ],
)
def test_html_has_translated_headings_categories_and_figures(
    html_by_lang: dict[str, str], lang: str, headings: tuple[str, ...]
) -> None:
    html = html_by_lang[lang]
    text = _text(html)
    assert f'<html lang="{lang}">' in html
    for heading in headings:
        assert heading in text
    # The five categories in order, numbered.
    positions = [text.index(f"{i + 1}. {label}") for i, label in enumerate(_CATEGORIES[lang])]
    assert positions == sorted(positions)
    # Totals, change against the previous quarter, advocacy figures.
    assert "23" in text and "+4 (+21%)" in text
    assert gettext(lang, "Incidents: {count}", count=14) in text
    assert "17,5" in text if lang != "en" else "17.5" in text
    assert "orda.kz" in text and "Kazakhtelecom, Beeline KZ" in text
    # Zero cells are left out of tables.
    assert "Жетісу" not in text


def test_kazakh_report_dates_are_written_in_kazakh(html_by_lang: dict[str, str]) -> None:
    assert "шілде" in html_by_lang["kk"]  # July
    assert "июля" in html_by_lang["ru"]
    assert "July 1, 2025" in html_by_lang["en"]


def test_user_text_is_escaped(html_by_lang: dict[str, str]) -> None:
    for html in html_by_lang.values():
        assert SCRIPT not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<script" not in html.lower()


def test_html_references_no_network_resource(html_by_lang: dict[str, str]) -> None:
    for html in html_by_lang.values():
        # SVG namespace declarations are identifiers, not resources; nothing else may be a URL.
        without_ns = re.sub(r'xmlns(:\w+)?="http://www\.w3\.org/[^"]*"', "", html)
        assert "http://" not in without_ns and "https://" not in without_ns
        assert not re.search(r"""(src|href)\s*=\s*["']?(?!data:|#)""", without_ns, re.I)
        assert "@import" not in without_ns and "url(" not in without_ns


def test_breakdown_chart_renders_bars_sorted_with_labels_and_no_urls() -> None:
    data = sample_report_data("kk")
    spec = charts.breakdown_chart(data.by_attack_type, title="Шабуыл түрлері", lang="kk")
    assert "$schema" not in spec and "http" not in repr(spec)
    assert [v["label"] for v in spec["data"]["values"]] == list(_ATTACKS["kk"])  # largest first
    svg = charts.to_svg(spec)
    assert svg.lstrip().startswith("<svg")
    for label in (*_ATTACKS["kk"], "Шабуыл түрлері", "12"):
        assert label in svg
    assert "DDoS" not in svg  # zero cells are not drawn
    assert "DejaVu Sans" in svg
    assert gettext("kk", "Incidents") in svg  # translated axis title


def test_series_chart_keeps_empty_months_and_translates_periods() -> None:
    ts = sample_report_data("ru").by_month
    spec = charts.series_chart(ts, title="По месяцам", lang="ru")
    counts = [v["count"] for v in spec["data"]["values"]]
    assert counts == [9, 0, 14]
    svg = charts.to_svg(spec)
    assert "авг. 2025" in svg  # August, with no incidents, still has its place on the axis
    png = charts.to_png(spec, scale=1.0)
    assert png.startswith(b"\x89PNG")


def test_stacked_series_uses_okabe_ito_colours() -> None:
    ts = TimeSeries(
        Granularity.QUARTER,
        ("2025-Q2", "2025-Q3"),
        Dimension.CATEGORY,
        ((Cell("a", "Safety", 0), (3, 4)), (Cell("b", "Privacy", 0), (1, 0))),
    )
    spec = charts.series_chart(ts, title="By quarter", lang="en")
    svg = charts.to_svg(spec).lower()
    assert charts.OKABE_ITO[0].lower() in svg and charts.OKABE_ITO[1].lower() in svg
    assert "Q3 2025" in charts.to_svg(spec)


def test_chart_description_lists_most_frequent_first() -> None:
    b = sample_report_data("ru").by_attack_type
    assert charts.chart_description(b, "ru") == (
        "Чаще всего: Угрозы (12), Публикация личных данных (7), Взлом аккаунтов (3), "
        "Блокировка сайтов (2)."
    )
    empty = Breakdown(Dimension.REGION, 0, ())
    assert charts.chart_description(empty, "kk") == gettext("kk", "No incidents recorded.")


def _non_white_fraction(png: bytes) -> float:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("L")
    histogram = image.histogram()
    return 1 - sum(histogram[245:]) / (image.width * image.height)


def test_pdf_renders_with_kazakh_text_and_a_visible_first_page(kk_pdf: bytes) -> None:
    import pypdfium2

    assert kk_pdf.startswith(b"%PDF")
    doc = pypdfium2.PdfDocument(kk_pdf)
    try:
        assert len(doc) >= 2
        text = "".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
    finally:
        doc.close()
    for letter in "қәңұүі":
        assert letter in text
    assert "Құқық қорғау органдары не істеді" in re.sub(r"\s+", " ", text)
    assert "1 / " in text  # page counter in the footer
    png = render.pdf_page_png(kk_pdf, 0, scale=0.5)
    fraction = _non_white_fraction(png)
    assert 0.02 < fraction < 0.6, fraction
    with pytest.raises(InvalidInput):
        render.pdf_page_png(kk_pdf, 999)


def test_pdf_refuses_network_resources() -> None:
    fetcher = render._DataOnlyFetcher()
    with pytest.raises(ValueError):
        fetcher.fetch("https://example.org/logo.png")
    with pytest.raises(ValueError):
        fetcher.fetch("file:///etc/passwd")
    assert fetcher.refused == ["https://example.org/logo.png", "file:///etc/passwd"]
    html = (
        '<html><body><img src="https://example.org/logo.png" alt="x">'
        '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="y"><p>Hi</p></body></html>'
    )
    assert render.render_pdf(html).startswith(b"%PDF")


def test_custom_template_directory_overrides_the_default(tmp_path: Path) -> None:
    written = render.copy_default_templates(tmp_path)
    assert {p.name for p in written} == {"quarterly.html.j2", "report.css"}
    template = tmp_path / "quarterly.html.j2"
    template.write_text(
        template.read_text(encoding="utf-8").replace(
            "<main>", '<main><p class="partner">Supported by Партнёр Fund</p>'
        ),
        encoding="utf-8",
    )
    (tmp_path / "report.css").write_text("body { color: #202020; } /* org-style */")
    html = render.render_html(sample_report_data("ru"), template_dir=tmp_path)
    assert "Supported by Партнёр Fund" in html
    assert "org-style" in html
    with pytest.raises(InvalidInput):
        render.copy_default_templates(tmp_path)  # never overwrite an organisation's copy


def test_broken_custom_template_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "quarterly.html.j2").write_text(
        "<html>\n<body>\n{% for x in data.sections %}\n<p>{{ x.label }</p>\n</body>\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigurationError) as caught:
        render.render_html(sample_report_data("en"), template_dir=tmp_path)
    message = str(caught.value)
    assert "quarterly.html.j2" in message and "line 4" in message


def test_misspelt_field_in_custom_template_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "quarterly.html.j2").write_text(
        "<html>\n<body>\n<p>{{ data.totl }}</p>\n</body>\n", encoding="utf-8"
    )
    with pytest.raises(ConfigurationError) as caught:
        render.render_html(sample_report_data("en"), template_dir=tmp_path)
    assert "quarterly.html.j2, line 3" in str(caught.value)


def test_missing_template_folder_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        render.render_html(sample_report_data("en"), template_dir=tmp_path / "nope")


_ROOT = Path(__file__).resolve().parents[2]
_TEMPLATES = _ROOT / "src" / "qorgau" / "reports" / "templates"
_LOCALES = _ROOT / "src" / "qorgau" / "i18n" / "locales"


def _template_literals() -> set[str]:
    found: set[str] = set()
    for path in _TEMPLATES.glob("*.j2"):
        found |= set(re.findall(r'\bt\("((?:[^"\\]|\\.)*)"', path.read_text(encoding="utf-8")))
    return found


def _module_literals() -> set[str]:
    from babel.messages.extract import extract_from_file

    found: set[str] = set()
    for name in ("charts.py", "render.py"):
        path = _ROOT / "src" / "qorgau" / "reports" / name
        keywords = {"t": None, "N_": None, "gettext": (2,)}
        for _, msg, _, _ in extract_from_file("python", str(path), keywords=keywords):
            if isinstance(msg, str):
                found.add(msg)
    return found


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_every_report_string_has_a_translation(lang: str) -> None:
    with (_LOCALES / lang / "LC_MESSAGES" / "reports.po").open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    translated = {str(m.id): str(m.string) for m in catalog if m.id and m.string and not m.fuzzy}
    literals = _template_literals() | _module_literals()
    assert len(literals) > 60
    missing = sorted(literals - set(translated))
    assert not missing, f"{lang} reports.po lacks: {missing}"
    for msgid in literals:
        # Placeholders survive translation, or gettext(...).format() would fail at render time.
        assert set(re.findall(r"\{\w+\}", msgid)) == set(
            re.findall(r"\{\w+\}", translated[msgid])
        ), msgid
