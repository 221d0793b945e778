"""Statistics, charts, the monitoring report, advocacy figures, legal steps and public data.

Every figure carries a ``drilldown`` link: the incident-list query that lists exactly the
incidents it counts (for roles that may list incidents; analysts see aggregates only).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from qorgau.domain.access import Action
from qorgau.domain.model import Principal
from qorgau.legal_desk import LegalDesk
from qorgau.report_desk import PublicData, ReportDesk, check_lang
from qorgau.reports.filters import build_filter, parse_dimension, query_string
from qorgau.reports.labels import dimension_label
from qorgau.reports.periods import Granularity, parse_period
from qorgau.reports.report_data import Advocacy
from qorgau.reports.statistics import Breakdown, StatsFilter, TimeSeries
from qorgau.web.auth import client_address, principal, route
from qorgau.web.schemas import Strict

router = APIRouter(prefix="/api/v1", tags=["statistics and reports"])
Who = Annotated[Principal, Depends(principal)]
Codes = Annotated[list[str], Query(max_length=30)]
Lang = Annotated[str, Query(pattern="^(en|ru|kk)$")]
INCIDENTS = "/api/v1/incidents"


def rd(request: Request) -> ReportDesk:
    d: ReportDesk = request.app.state.report_desk
    return d


class Filters:
    """The same filters on every statistics route (and the incident list's names for them)."""

    def __init__(
        self,
        period: Annotated[
            str | None,
            Query(max_length=40, description="2025, 2025-Q3, 2025-07 or 2025-07-01..2025-09-30"),
        ] = None,
        reported_from: datetime | None = None,
        reported_to: datetime | None = None,
        category: Codes = [],  # noqa: B006 - FastAPI copies defaults
        attack_type: Codes = [],  # noqa: B006
        region: Codes = [],  # noqa: B006
        platform: Codes = [],  # noqa: B006
        target_type: Codes = [],  # noqa: B006
        gender: Codes = [],  # noqa: B006
        perpetrator_type: Codes = [],  # noqa: B006
        legal_ref: Codes = [],  # noqa: B006
        legal_outcome: Codes = [],  # noqa: B006
        severity: Codes = [],  # noqa: B006
        status: Codes = [],  # noqa: B006
    ) -> None:
        self.period = period
        self.reported_from = reported_from
        self.reported_to = reported_to
        self.values = {
            "category": category,
            "attack_type": attack_type,
            "region": region,
            "platform": platform,
            "target_type": target_type,
            "gender": gender,
            "perpetrator_type": perpetrator_type,
            "legal_ref": legal_ref,
            "legal_outcome": legal_outcome,
            "severity": severity,
            "status": status,
        }

    def build(self, request: Request) -> StatsFilter:
        return build_filter(
            rd(request).store.taxonomy,
            period=self.period,
            reported_from=self.reported_from,
            reported_to=self.reported_to,
            values=self.values,
        )


class CellOut(BaseModel):
    key: str
    label: str
    count: int
    drilldown: str = Field(description="Incident-list URL of exactly these incidents")


class BreakdownOut(BaseModel):
    dimension: str
    label: str
    total: int = Field(description="Distinct incidents matching the filter")
    cells: list[CellOut]


class SeriesRowOut(BaseModel):
    key: str
    label: str
    total: int
    counts: list[int]


class SeriesOut(BaseModel):
    granularity: str
    dimension: str | None
    periods: list[str]
    rows: list[SeriesRowOut]


def breakdown_out(b: Breakdown, flt: StatsFilter, lang: str) -> BreakdownOut:
    return BreakdownOut(
        dimension=str(b.dimension),
        label=dimension_label(b.dimension, lang),
        total=b.total,
        cells=[
            CellOut(
                key=c.key,
                label=c.label,
                count=c.count,
                drilldown=f"{INCIDENTS}?{query_string(flt.with_value(b.dimension, c.key))}",
            )
            for c in b.cells
        ],
    )


def series_out(ts: TimeSeries) -> SeriesOut:
    return SeriesOut(
        granularity=str(ts.granularity),
        dimension=str(ts.dimension) if ts.dimension else None,
        periods=list(ts.periods),
        rows=[
            SeriesRowOut(key=c.key, label=c.label, total=c.count, counts=list(counts))
            for c, counts in ts.rows
        ],
    )


@router.get(
    "/stats/breakdown",
    response_model=BreakdownOut,
    summary="Count incidents by one dimension, with every filter; each cell drills down",
    **route(Action.STATS_READ),
)
def stats_breakdown(
    request: Request,
    who: Who,
    filters: Annotated[Filters, Depends()],
    by: Annotated[str, Query(max_length=40)] = "category",
    lang: Lang = "en",
) -> BreakdownOut:
    flt = filters.build(request)
    dim = parse_dimension(by)
    return breakdown_out(rd(request).breakdown(who, dim, flt, lang), flt, lang)


@router.get(
    "/stats/series",
    response_model=SeriesOut,
    summary="Incidents per month, quarter or year, in total or by one dimension",
    **route(Action.STATS_READ),
)
def stats_series(
    request: Request,
    who: Who,
    filters: Annotated[Filters, Depends()],
    granularity: Granularity = Granularity.MONTH,
    by: Annotated[str | None, Query(max_length=40)] = None,
    lang: Lang = "en",
) -> SeriesOut:
    flt = filters.build(request)
    dim = parse_dimension(by) if by else None
    return series_out(rd(request).series(who, granularity, flt, dim, lang))


@router.get(
    "/stats/advocacy",
    response_model=Advocacy,
    summary="No applicable law, reports to the authorities without action, time to response",
    **route(Action.STATS_READ),
)
def stats_advocacy(request: Request, who: Who, filters: Annotated[Filters, Depends()]) -> Advocacy:
    return rd(request).advocacy(who, filters.build(request))


@router.get(
    "/stats/chart",
    summary="A breakdown or time series as an image (SVG, PNG) or a Vega-Lite spec",
    responses={200: {"content": {"image/svg+xml": {}, "image/png": {}}}},
    **route(Action.STATS_READ),
)
def stats_chart(
    request: Request,
    who: Who,
    filters: Annotated[Filters, Depends()],
    by: Annotated[str | None, Query(max_length=40)] = "attack_type",
    series: Annotated[bool, Query(description="Plot over time instead of a breakdown")] = False,
    granularity: Granularity = Granularity.MONTH,
    format: Annotated[str, Query(pattern="^(svg|png|vega)$")] = "svg",
    lang: Lang = "en",
) -> Response:
    from qorgau.reports import charts

    flt = filters.build(request)
    dim = parse_dimension(by) if by else None
    if series or dim is None:
        ts = rd(request).series(who, granularity, flt, dim, lang)
        spec = charts.series_chart(ts, title=charts.dimension_title(dim, lang), lang=lang)
    else:
        b = rd(request).breakdown(who, dim, flt, lang)
        spec = charts.breakdown_chart(b, title=dimension_label(dim, lang), lang=lang)
    if format == "vega":
        import json

        return Response(json.dumps(spec, ensure_ascii=False), media_type="application/json")
    if format == "png":
        return Response(charts.to_png(spec), media_type="image/png")
    return Response(charts.to_svg(spec), media_type="image/svg+xml")


@router.get(
    "/reports/monitoring",
    summary="The monitoring report for a period (ARTICLE 19's five categories), HTML or PDF",
    responses={200: {"content": {"text/html": {}, "application/pdf": {}}}},
    **route(Action.REPORT_BUILD),
)
def monitoring_report(
    request: Request,
    who: Who,
    period: Annotated[str, Query(max_length=40)],
    lang: Lang = "en",
    format: Annotated[str, Query(pattern="^(html|pdf)$")] = "html",
) -> Response:
    from qorgau.reports.render import render_html, render_pdf

    p = parse_period(period)
    data = rd(request).report_data(who, p, check_lang(lang))
    template_dir = request.app.state.settings.report_template_dir
    html = render_html(data, template_dir=template_dir)
    name = f"qorgau-report-{p.label}-{lang}"
    if format == "pdf":
        return Response(
            render_pdf(html),
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'},
        )
    return Response(html, media_type="text/html; charset=utf-8")


# -- legal steps ------------------------------------------------------------------------------
class LegalEventIn(Strict):
    kind: Annotated[str, Field(min_length=1, max_length=40)]
    at: datetime
    authority: Annotated[str, Field(max_length=500)] = ""
    reference: Annotated[str, Field(max_length=500)] = ""


class LegalEventOut(BaseModel):
    id: int
    kind: str
    at: datetime
    authority: str
    reference: str
    created_at: datetime


class LegalStateOut(BaseModel):
    legal_outcome: str
    authorities_reported_at: datetime | None
    official_response_at: datetime | None
    days_to_response: float | None


@router.post(
    "/incidents/{public_id}/legal",
    status_code=201,
    response_model=LegalStateOut,
    summary="Record a step with the authorities (report to police, response, investigation...)",
    **route(Action.LEGAL_WRITE),
)
def add_legal_event(
    request: Request, who: Who, public_id: str, body: LegalEventIn
) -> LegalStateOut:
    d: LegalDesk = request.app.state.legal_desk
    state = d.add_event(
        who,
        public_id,
        kind=body.kind,
        at=body.at,
        authority=body.authority,
        reference=body.reference,
        address=client_address(request),
    )
    return LegalStateOut(
        legal_outcome=str(state.outcome),
        authorities_reported_at=state.reported_at,
        official_response_at=state.first_response_at,
        days_to_response=state.days_to_response(),
    )


@router.get(
    "/incidents/{public_id}/legal",
    response_model=list[LegalEventOut],
    summary="Steps taken with the authorities for one incident",
    **route(Action.LEGAL_READ),
)
def list_legal_events(request: Request, who: Who, public_id: str) -> list[LegalEventOut]:
    d: LegalDesk = request.app.state.legal_desk
    return [
        LegalEventOut(
            id=e.id,
            kind=str(e.event.kind),
            at=e.event.at,
            authority=e.event.authority,
            reference=e.event.reference,
            created_at=e.created_at,
        )
        for e in d.events(who, public_id)
    ]


# -- public data ------------------------------------------------------------------------------
def public_data(request: Request) -> PublicData:
    p: PublicData = request.app.state.public_data
    return p


@router.get(
    "/public/incidents",
    summary="The public, pseudonymised incident dataset (JSON or CSV), k-anonymous",
    responses={200: {"content": {"application/json": {}, "text/csv": {}}}},
    **route(Action.PUBLIC_DATA),
)
def public_incidents(
    request: Request,
    who: Who,
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
) -> Response:
    from qorgau.reports.public_data import to_csv, to_json

    ds = public_data(request).dataset(who)
    if format == "csv":
        return Response(
            to_csv(ds),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="qorgau-incidents.csv"'},
        )
    body = to_json(ds, produced_at=rd(request).store.now())
    return Response(body, media_type="application/json")


@router.get(
    "/public/stats",
    summary="Public counts by one dimension, computed from the released dataset only",
    **route(Action.PUBLIC_DATA),
)
def public_stats(
    request: Request,
    who: Who,
    by: Annotated[str, Query(max_length=40)] = "category",
    filter: Annotated[
        list[str], Query(max_length=12, description="attribute=value, as released")
    ] = [],  # noqa: B006
) -> dict[str, Any]:
    from qorgau.errors import InvalidInput
    from qorgau.reports.public_data import count_public

    filters: dict[str, str] = {}
    for f in filter:
        name, sep, value = f.partition("=")
        if not sep or not name or not value:
            raise InvalidInput.single("filter", "format", f"{f!r}: write attribute=value")
        filters[name] = value
    ds = public_data(request).dataset(who)
    return {"dimension": by, "k": ds.k, "counts": count_public(ds, by, filters)}
