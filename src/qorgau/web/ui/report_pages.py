"""Statistics for the desk: a breakdown and a series over time, drawn and tabulated, the
advocacy figures, and the exports the role may download.

The chart is an image drawn on the server (``reports.charts``, the same renderer as the PDF
report) and served by its own route, so the page keeps its strict CSP and works without
JavaScript; the table under it carries the same numbers for screen readers and for anyone who
wants to copy them. The page reads its filters from a GET form, so a view can be bookmarked and
sent to a colleague. Counts come from ``ReportDesk`` exactly as ``web/api/statistics.py`` asks
for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from qorgau.domain import access
from qorgau.domain.access import Action
from qorgau.domain.model import Principal
from qorgau.errors import InvalidInput
from qorgau.i18n import LANGUAGES, N_, gettext
from qorgau.report_desk import ReportDesk
from qorgau.reports import charts
from qorgau.reports.filters import build_filter, parse_dimension
from qorgau.reports.labels import SEVERITY_LABELS, STATUS_LABELS, dimension_label
from qorgau.reports.periods import Granularity
from qorgau.reports.report_data import Advocacy
from qorgau.reports.statistics import Breakdown, Dimension, StatsFilter, TimeSeries
from qorgau.web.auth import route
from qorgau.web.ui import render
from qorgau.web.ui.deps import Viewer
from qorgau.web.ui.forms import FormState, apply_error

router = APIRouter(include_in_schema=False)

# The filters the form offers (the API takes more; these are the ones asked for daily).
FILTERS = ("category", "attack_type", "region", "severity", "status")
# Dimensions whose value the desk queue can filter by, under the same parameter names.
QUEUE_PARAMS = {
    Dimension.CATEGORY: "category",
    Dimension.ATTACK_TYPE: "attack_type",
    Dimension.SEVERITY: "severity",
    Dimension.STATUS: "status",
}
GRANULARITIES = {
    Granularity.MONTH: N_("By month"),
    Granularity.QUARTER: N_("By quarter"),
    Granularity.YEAR: N_("By year"),
}
CHART_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'"


def rd(request: Request) -> ReportDesk:
    d: ReportDesk = request.app.state.report_desk
    return d


@dataclass(frozen=True)
class Query:
    """What the form asked for, checked: the filter and how to count."""

    by: Dimension
    granularity: Granularity
    period: str
    values: dict[str, str]
    flt: StatsFilter

    def params(self, **extra: str) -> str:
        pairs = [("by", str(self.by)), ("granularity", str(self.granularity))]
        if self.period:
            pairs.append(("period", self.period))
        pairs.extend((k, v) for k, v in self.values.items() if v)
        pairs.extend(extra.items())
        return urlencode(pairs)


def read_query(request: Request, state: FormState) -> Query:
    """The query string as a checked filter; ``InvalidInput`` names the field that is wrong."""
    q = request.query_params
    state.values = {k: q.get(k, "") for k in ("by", "granularity", "period", *FILTERS)}
    by = parse_dimension(q.get("by") or str(Dimension.CATEGORY))
    raw_granularity = q.get("granularity") or str(Granularity.MONTH)
    try:
        granularity = Granularity(raw_granularity)
    except ValueError:
        raise InvalidInput.single(
            "granularity",
            "choice",
            f"unknown granularity {raw_granularity!r}",
            tuple(str(g) for g in Granularity),
        ) from None
    period = (q.get("period") or "").strip()
    values = {name: (q.get(name) or "").strip() for name in FILTERS}
    flt = build_filter(
        rd(request).store.taxonomy,
        period=period or None,
        values={k: [v] for k, v in values.items() if v},
    )
    return Query(by, granularity, period, values, flt)


# -- what the page shows -----------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    count: int
    href: str | None  # the desk queue listing these incidents, where the role and queue can


@dataclass(frozen=True)
class ExportLink:
    href: str
    label: str


def queue_link(query: Query, dim: Dimension, key: str) -> str | None:
    """The desk queue filtered to one cell's incidents, when the queue filters by this
    dimension (it knows status, severity, category and attack type)."""
    if dim not in QUEUE_PARAMS:
        return None
    params = {QUEUE_PARAMS[d]: v for d, v in _queue_values(query).items()}
    params[QUEUE_PARAMS[dim]] = key
    return "/desk?" + urlencode(sorted(params.items()))


def _queue_values(query: Query) -> dict[Dimension, str]:
    out = {}
    for d, name in QUEUE_PARAMS.items():
        if query.values.get(name):
            out[d] = query.values[name]
    return out


def rows_of(b: Breakdown, query: Query, may_drill: bool) -> list[Row]:
    return [
        Row(c.key, c.label, c.count, queue_link(query, b.dimension, c.key) if may_drill else None)
        for c in b.cells
    ]


def advocacy_rows(a: Advocacy, lang: str) -> list[tuple[str, str]]:
    def days(v: float | None) -> str:
        return "—" if v is None else f"{v:g}"

    t = render.translator(lang)
    return [
        (t("Incidents documented"), str(a.incidents)),
        (t("Reported to the police or prosecutor"), str(a.reported_to_authorities)),
        (
            t(
                "No action: refused, closed without charges, or no answer within {days} days",
                days=a.response_wait_days,
            ),
            str(a.no_action),
        ),
        (t("Awaiting a response"), str(a.awaiting_response)),
        (t("Official responses received"), str(a.responded)),
        (t("Investigations opened"), str(a.investigations_opened)),
        (t("Charges brought"), str(a.charges)),
        (t("Convictions"), str(a.convictions)),
        (t("Median days to an official response"), days(a.median_days_to_response)),
        (t("Longest wait for an official response, days"), days(a.max_days_to_response)),
        (t("Incidents with no applicable legal provision"), str(a.no_legal_provision)),
        (t("Incidents not yet assessed by a lawyer"), str(a.provision_unassessed)),
    ]


def export_links(who: Principal, period: str, lang: str, year: int) -> list[ExportLink]:
    """Only the downloads the role may use (the API refuses the others anyway)."""
    t = render.translator(lang)
    links: list[ExportLink] = []
    if access.allowed(who, Action.REPORT_BUILD):
        chosen = period or str(year)
        for code in LANGUAGES:
            name = render.LANGUAGE_NAMES[code]
            for fmt in ("html", "pdf"):
                links.append(
                    ExportLink(
                        "/api/v1/reports/monitoring?"
                        + urlencode({"period": chosen, "lang": code, "format": fmt}),
                        t(
                            "Monitoring report {period}, {language} ({format})",
                            period=chosen,
                            language=name,
                            format=fmt.upper(),
                        ),
                    )
                )
    if access.allowed(who, Action.PUBLIC_DATA):
        links.append(ExportLink("/api/v1/public/incidents?format=csv", t("Public dataset (CSV)")))
        links.append(ExportLink("/api/v1/public/incidents", t("Public dataset (JSON)")))
    if access.allowed(who, Action.SHARE_EXPORT):
        suffix = "?" + urlencode({"period": period}) if period else ""
        links.append(ExportLink("/api/v1/share/stix" + suffix, t("STIX 2.1 bundle (TLP:GREEN)")))
        links.append(ExportLink("/api/v1/share/misp" + suffix, t("MISP events (TLP:GREEN)")))
    return links


def form_options(request: Request, lang: str) -> dict[str, list[tuple[str, str]]]:
    tax = rd(request).store.taxonomy

    def section(name: str) -> list[tuple[str, str]]:
        return sorted(
            ((k, tax.label(name, k, lang)) for k in tax.ids(name)),
            key=lambda kv: kv[1].casefold(),
        )

    return {
        "by": [(str(d), dimension_label(d, lang)) for d in Dimension],
        "granularity": [(str(g), gettext(lang, label)) for g, label in GRANULARITIES.items()],
        "category": section("category"),
        "attack_type": section("attack_type"),
        "region": section("region"),
        "severity": [(k, gettext(lang, v)) for k, v in SEVERITY_LABELS.items()],
        "status": [(k, gettext(lang, v)) for k, v in STATUS_LABELS.items()],
    }


def series_rows(ts: TimeSeries, lang: str) -> list[tuple[str, int]]:
    counts = [sum(c[i] for _, c in ts.rows) for i in range(len(ts.periods))]
    return [(charts.period_label(p, lang), n) for p, n in zip(ts.periods, counts, strict=True)]


@router.get("/desk/reports", **route(Action.STATS_READ))
def reports_page(request: Request, who: Viewer) -> Response:
    lang = render.language(request)
    state = FormState()
    title = gettext(lang, "Reports and statistics")
    d = rd(request)
    ctx: dict[str, Any] = {
        "state": state,
        "options": form_options(request, lang),
        "result": None,
        "exports": export_links(who, "", lang, d.store.now().year),
    }
    try:
        query = read_query(request, state)
    except InvalidInput as exc:
        apply_error(state, lang, exc, {f: f for f in ("by", "granularity", "period", *FILTERS)})
        return render.page(request, "ui/reports_page.html", who, status=422, title=title, **ctx)
    b = d.breakdown(who, query.by, query.flt, lang)
    ts = d.series(who, query.granularity, query.flt, None, lang)
    ctx["exports"] = export_links(who, query.period, lang, d.store.now().year)
    ctx["result"] = {
        "dimension": dimension_label(query.by, lang),
        "total": b.total,
        "rows": rows_of(b, query, access.allowed(who, Action.QUEUE_READ)),
        "chart": "/desk/reports/chart.svg?" + query.params(lang=lang),
        "chart_alt": charts.chart_description(b, lang),
        "series": series_rows(ts, lang),
        "series_chart": "/desk/reports/chart.svg?" + query.params(lang=lang, series="1"),
        "advocacy": advocacy_rows(d.advocacy(who, query.flt), lang),
    }
    return render.page(request, "ui/reports_page.html", who, title=title, **ctx)


@router.get("/desk/reports/chart.svg", **route(Action.STATS_READ))
def reports_chart(request: Request, who: Viewer) -> Response:
    """The page's chart as an SVG image, drawn from the same counts as its table."""
    lang = render.language(request)
    query = read_query(request, FormState())
    d = rd(request)
    if request.query_params.get("series"):
        ts = d.series(who, query.granularity, query.flt, None, lang)
        spec = charts.series_chart(ts, title=gettext(lang, "Incidents over time"), lang=lang)
    else:
        b = d.breakdown(who, query.by, query.flt, lang)
        spec = charts.breakdown_chart(b, title=dimension_label(query.by, lang), lang=lang)
    return Response(
        charts.to_svg(spec),
        media_type="image/svg+xml",
        headers={"content-security-policy": CHART_CSP, "cache-control": "private, no-store"},
    )
