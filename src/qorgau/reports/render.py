"""Monitoring reports as HTML and PDF, from a template an organisation can adapt.

The data arrives counted and labelled (``ReportData``); this module only lays it out. Each
organisation has its own logo, wording and partners, so templates are looked up first in the
organisation's folder and then in the package, and a broken adapted template is reported with its
file and line instead of a stack trace. Everything is self-contained and offline: CSS inline,
charts as inline SVG, and WeasyPrint may fetch nothing but ``data:`` URLs — a report about
blocked websites, prepared on a journalist's laptop, must not reach out to the network.
"""

from __future__ import annotations

import shutil
import time
import types
import warnings
from collections.abc import Callable
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from babel.dates import format_date, format_time
from babel.numbers import format_decimal
from markupsafe import Markup

from qorgau.errors import ConfigurationError, InvalidInput
from qorgau.i18n import LANGUAGES, N_, gettext
from qorgau.reports import charts
from qorgau.reports.report_data import ReportData
from qorgau.reports.statistics import Breakdown, Cell

DEFAULT_TEMPLATE = "quarterly.html.j2"
STYLESHEET = "report.css"
TEMPLATE_FILES = (DEFAULT_TEMPLATE, STYLESHEET)

# How each blocking method is named to a reader; unknown methods are shown as recorded.
_METHODS: dict[str, str] = {
    "dns": N_("DNS tampering"),
    "tls": N_("TLS (SNI) filtering"),
    "http-blockpage": N_("HTTP block page"),
    "http": N_("HTTP filtering"),
    "ip": N_("IP blocking"),
    "throttling": N_("Throttling"),
}


def _package_templates() -> Path:
    # The package is installed as files (setuptools package-data), so a real path exists.
    return Path(str(resources.files("qorgau.reports").joinpath("templates")))


def _environment(template_dir: Path | None) -> jinja2.Environment:
    """An environment that prefers the organisation's copy and escapes everything by default.

    ``StrictUndefined`` because an adapted template with a misspelt field should fail loudly at
    render time instead of printing an empty cell a donor would read as zero.
    """
    loaders: list[jinja2.BaseLoader] = []
    if template_dir is not None:
        if not template_dir.is_dir():
            raise ConfigurationError(f"report template folder not found: {template_dir}")
        loaders.append(jinja2.FileSystemLoader(str(template_dir)))
    loaders.append(jinja2.FileSystemLoader(str(_package_templates())))
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _template_line(exc: BaseException, filename: str | None) -> int | None:
    """The template line of a render-time error: Jinja rewrites tracebacks so that frames of
    compiled templates carry the template's file name and line."""
    line: int | None = None
    tb: types.TracebackType | None = exc.__traceback__
    while tb is not None:
        if filename and tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _translator(lang: str) -> Callable[..., str]:
    def t(message: str, **params: object) -> str:
        return gettext(lang, message, **params)

    return t


class _Formats:
    """Dates, numbers and changes written as a reader of the report's language expects."""

    def __init__(self, lang: str) -> None:
        self.lang = lang

    def long_date(self, day: date | datetime) -> str:
        return str(format_date(day, format="long", locale=self.lang))

    def short_date(self, day: date | datetime) -> str:
        return str(format_date(day, format="medium", locale=self.lang))

    def timestamp(self, at: datetime) -> str:
        # Long date and short time: "5 October 2025, 09:30", not a locale's terse medium form.
        day = format_date(at, format="long", locale=self.lang)
        return f"{day}, {format_time(at, format='HH:mm', locale=self.lang)}"

    def number(self, value: float | int) -> str:
        return str(format_decimal(value, locale=self.lang))

    def days(self, value: float | None) -> str:
        if value is None:
            return "—"
        return str(format_decimal(round(value, 1), locale=self.lang))

    def share(self, count: int, total: int) -> str:
        if total <= 0:
            return "—"
        return f"{format_decimal(round(100 * count / total), locale=self.lang)}%"

    def change(self, count: int, previous: int) -> str:
        """ "+3 (+25%)", "−2 (−10%)" or "no change"; a percentage only when it means something."""
        diff = count - previous
        if diff == 0:
            return gettext(self.lang, "no change")
        sign = "+" if diff > 0 else "\u2212"
        text = f"{sign}{format_decimal(abs(diff), locale=self.lang)}"
        if previous > 0:
            pct = round(100 * abs(diff) / previous)
            text += f" ({sign}{format_decimal(pct, locale=self.lang)}%)"
        return text


def nonzero(b: Breakdown) -> list[Cell]:
    """Cells worth a table row: zero rows only lengthen the report, largest first."""
    return sorted((c for c in b.cells if c.count > 0), key=lambda c: (-c.count, c.label))


def _chart(spec: dict[str, Any], description: str) -> dict[str, Any]:
    svg = charts.to_svg(spec)
    # Drop any XML prolog so the SVG can sit inside HTML, and label it for screen readers.
    start = svg.find("<svg")
    svg = svg[start:] if start >= 0 else svg
    svg = svg.replace(
        "<svg ",
        f'<svg role="img" aria-label="{Markup.escape(description)}" ',
        1,
    )
    return {"spec": spec, "svg": Markup(svg), "description": description}


def _charts(data: ReportData) -> dict[str, dict[str, Any]]:
    lang = data.lang
    return {
        "by_month": _chart(
            charts.series_chart(
                data.by_month, title=gettext(lang, "Incidents by month"), lang=lang
            ),
            _series_description(data),
        ),
        "by_attack_type": _chart(
            charts.breakdown_chart(
                data.by_attack_type, title=gettext(lang, "Types of attack"), lang=lang
            ),
            charts.chart_description(data.by_attack_type, lang),
        ),
    }


def _series_description(data: ReportData) -> str:
    ts = data.by_month
    totals = [sum(counts[i] for _, counts in ts.rows) for i in range(len(ts.periods))]
    items = ", ".join(
        f"{charts.period_label(p, data.lang)}: {n}" for p, n in zip(ts.periods, totals, strict=True)
    )
    return gettext(data.lang, "Incidents per period: {items}.", items=items)


def _read_stylesheet(env: jinja2.Environment) -> Markup:
    """The CSS as the organisation adapted it (or the default), to inline in ``<style>``.

    Read as text, not rendered as a template: CSS braces and ``{#`` would confuse Jinja. The
    organisation's own file is trusted like its template; only ``</style>`` could break out.
    """
    assert env.loader is not None
    try:
        source, filename, _ = env.loader.get_source(env, STYLESHEET)
    except jinja2.TemplateNotFound as exc:
        raise ConfigurationError(f"report stylesheet not found: {STYLESHEET}") from exc
    if "</style" in source.lower():
        raise ConfigurationError(f"{filename}: a stylesheet must not contain '</style>'")
    return Markup(source)


def render_html(
    data: ReportData,
    *,
    template_dir: Path | None = None,
    template_name: str = DEFAULT_TEMPLATE,
) -> str:
    """The whole report as one self-contained HTML document in ``data.lang``.

    Raises ``ConfigurationError`` naming the file and line when an adapted template is missing
    or broken, because the person fixing it is an editor at an NGO, not a Python developer.
    """
    if data.lang not in LANGUAGES:
        raise InvalidInput.single(
            "lang", "choice", f"unsupported report language: {data.lang}", LANGUAGES
        )
    env = _environment(template_dir)
    try:
        template = env.get_template(template_name)
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigurationError(
            f"{exc.filename or exc.name or template_name}, line {exc.lineno}: {exc.message}"
        ) from exc
    except jinja2.TemplateNotFound as exc:
        raise ConfigurationError(f"report template not found: {exc.name}") from exc
    context = {
        "data": data,
        "t": _translator(data.lang),
        "fmt": _Formats(data.lang),
        "nonzero": nonzero,
        "method_label": lambda m: gettext(data.lang, _METHODS[m]) if m in _METHODS else m,
        "describe": lambda b: charts.chart_description(b, data.lang),
        "dimension_title": lambda d: charts.dimension_title(d, data.lang),
        "charts": _charts(data),
        "css": _read_stylesheet(env),
    }
    try:
        return template.render(context)
    except jinja2.TemplateSyntaxError as exc:  # an included template that is broken
        raise ConfigurationError(
            f"{exc.filename or exc.name}, line {exc.lineno}: {exc.message}"
        ) from exc
    except (jinja2.TemplateError, TypeError, AttributeError, KeyError, ValueError) as exc:
        line = _template_line(exc, template.filename)
        where = f"{template.filename}, line {line}" if line else f"{template.filename}"
        raise ConfigurationError(f"{where}: {exc}") from exc


def copy_default_templates(dest: Path) -> list[Path]:
    """Write the default template and stylesheet into ``dest`` for an organisation to adapt.

    Never overwrites: an organisation's edited copy is its work, and a second run of the same
    command must not silently throw it away.
    """
    source = _package_templates()
    targets = [dest / name for name in TEMPLATE_FILES]
    existing = [str(p) for p in targets if p.exists()]
    if existing:
        raise InvalidInput.single(
            "dest", "exists", f"will not overwrite existing files: {', '.join(existing)}"
        )
    dest.mkdir(parents=True, exist_ok=True)
    for name, target in zip(TEMPLATE_FILES, targets, strict=True):
        shutil.copyfile(source / name, target)
    return targets


try:  # WeasyPrint ships without type information.
    from weasyprint import HTML  # type: ignore[import-untyped]
    from weasyprint.urls import URLFetcher  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - WeasyPrint is a dependency; its C libraries may not be
    HTML = None
    URLFetcher = object


class _DataOnlyFetcher(URLFetcher):  # type: ignore[misc]
    """Refuses every URL except inline ``data:`` ones, and remembers what it refused.

    An adapted template might link a logo on the organisation's website; fetching it would tell
    that server (and anyone watching the network) that a report is being prepared, so it is
    dropped and the refusal is visible in ``refused``.
    """

    def __init__(self) -> None:
        super().__init__(allowed_protocols={"data"}, fail_on_errors=False)
        self.refused: list[str] = []

    def fetch(self, url: str, headers: Any = None) -> Any:
        if not url.lower().startswith("data:"):
            self.refused.append(url)
            raise ValueError(f"refused to fetch {url}: reports may only use inline data")
        return super().fetch(url, headers)


def render_pdf(html: str) -> bytes:
    """Print the HTML to PDF with WeasyPrint, offline."""
    if HTML is None:  # pragma: no cover
        raise ConfigurationError("WeasyPrint is not available: cannot write PDF reports")
    fetcher = _DataOnlyFetcher()
    with warnings.catch_warnings():
        # WeasyPrint warns that a future version will need HarfBuzz subsetting; today's PDFs are
        # complete without it.
        warnings.filterwarnings("ignore", message="HarfBuzz-Subset", category=DeprecationWarning)
        pdf: bytes = HTML(string=html, base_url=None, url_fetcher=fetcher).write_pdf()
    return pdf


def pdf_page_png(pdf: bytes, page: int = 0, scale: float = 1.5) -> bytes:
    """One page of a PDF as a PNG image: for tests and the CLI to check a page as a reader
    would see it (missing glyphs show up as boxes, overflowing tables as cut-off text)."""
    import io

    import pypdfium2  # type: ignore[import-untyped,unused-ignore]

    doc = pypdfium2.PdfDocument(pdf)
    try:
        if not 0 <= page < len(doc):
            raise InvalidInput.single(
                "page", "range", f"the PDF has {len(doc)} pages; page {page} does not exist"
            )
        bitmap = doc[page].render(scale=scale)
        image = bitmap.to_pil()
        out = io.BytesIO()
        image.save(out, format="PNG")
        return out.getvalue()
    finally:
        doc.close()


def timed_render(
    data: ReportData, template_dir: Path | None = None
) -> tuple[str, bytes, float, float]:
    """HTML, PDF and the seconds each took: for the CLI's ``--timings`` and for benchmarks."""
    t0 = time.perf_counter()
    html = render_html(data, template_dir=template_dir)
    t1 = time.perf_counter()
    pdf = render_pdf(html)
    t2 = time.perf_counter()
    return html, pdf, t1 - t0, t2 - t1
