"""The public statistics page: counts of the public dataset, filtered and charted, without
JavaScript and without anything from a third party.

Every number on the page comes from ``count_public`` over the released (k-anonymous) rows,
never from the database: whatever filters a visitor combines, the page cannot reveal more
than the downloadable dataset does, and the protected part of any count is 0 or at least k.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, Template
from markupsafe import Markup

from qorgau.domain.access import Action
from qorgau.domain.model import Principal
from qorgau.errors import InvalidInput
from qorgau.i18n import N_, gettext, negotiate
from qorgau.report_desk import PublicData
from qorgau.reports import charts
from qorgau.reports.public_data import ATTRIBUTES, count_public
from qorgau.reports.public_labels import attribute_label, public_label
from qorgau.reports.statistics import Breakdown, Cell, Dimension
from qorgau.store import users
from qorgau.web.auth import principal, route
from qorgau.web.pages import LANGUAGE_NAMES, PAGE_CSP

router = APIRouter(tags=["public statistics"])
Who = Annotated[Principal, Depends(principal)]
FILTERABLE = ("period", "category", "attack_types", "region", "target_types", "gender")

TEXT = {
    "title": N_("Attacks on journalists and media: public statistics"),
    "intro": N_(
        "Counts of the incidents documented by {organisation}, from the public dataset. "
        "Choose what to count and narrow it down with the filters."
    ),
    "method": N_(
        "No person is named without their consent. To keep people from being recognised by "
        "combining filters, details are coarsened (for example months into quarters, regions "
        "into parts of the country) until every combination of facts describes at least {k} "
        "incidents; {suppressed} incidents could not be published that way and are not "
        "counted here."
    ),
    "count_by": N_("Count by"),
    "filters": N_("Filters"),
    "any": N_("Any"),
    "show": N_("Show"),
    "total": N_("Incidents matching the filters: {n}"),
    "value": N_("Value"),
    "incidents": N_("Incidents"),
    "download": N_("Download the public dataset:"),
    "language": N_("Language"),
    "empty": N_("No incident matches these filters."),
}


@lru_cache(maxsize=1)
def _template() -> Template:
    env = Environment(
        loader=PackageLoader("qorgau.web", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("statistics.html")


@router.get(
    "/statistics",
    response_class=HTMLResponse,
    summary="Public statistics page (en, ru, kk), computed from the public dataset only",
    **route(Action.PUBLIC_DATA),
)
def statistics_page(
    request: Request,
    who: Who,
    lang: Annotated[str | None, Query(max_length=5)] = None,
    by: Annotated[str, Query(max_length=20)] = "category",
    period: Annotated[str, Query(max_length=20)] = "",
    category: Annotated[str, Query(max_length=60)] = "",
    attack_types: Annotated[str, Query(max_length=60)] = "",
    region: Annotated[str, Query(max_length=60)] = "",
    target_types: Annotated[str, Query(max_length=60)] = "",
    gender: Annotated[str, Query(max_length=60)] = "",
) -> HTMLResponse:
    language = negotiate(request.headers.get("accept-language"), lang)
    if by not in ATTRIBUTES:
        raise InvalidInput.single("by", "choice", f"count by one of {', '.join(ATTRIBUTES)}")
    chosen = {
        "period": period,
        "category": category,
        "attack_types": attack_types,
        "region": region,
        "target_types": target_types,
        "gender": gender,
    }
    filters = {k: v for k, v in chosen.items() if v}
    data: PublicData = request.app.state.public_data
    ds = data.dataset(who)
    tax = data.store.taxonomy
    counts = count_public(ds, by, filters)
    total = sum(count_public(ds, "category", filters).values())

    def label(attribute: str, value: str) -> str:
        return public_label(tax, attribute, value, language)

    def t(key: str, **params: object) -> str:
        return gettext(language, TEXT[key], **params)

    cells = tuple(Cell(v, label(by, v), n) for v, n in counts.items())
    chart = Markup("")
    spec_json = Markup("")
    if cells:
        # The chart is an image of the table below it (which screen readers read instead).
        spec = charts.breakdown_chart(
            Breakdown(Dimension.CATEGORY, total, cells),
            title=attribute_label(by, language),
            lang=language,
        )
        # vl-convert draws the SVG from the spec and escapes the labels in it.
        chart = Markup(charts.to_svg(spec))
        spec["encoding"]["tooltip"][0]["title"] = attribute_label(by, language)
        spec_json = script_json(spec)
    options = {
        a: sorted(
            ((v, label(a, v)) for v in count_public(ds, a)), key=lambda x: (x[1].casefold(), x[0])
        )
        for a in FILTERABLE
    }
    root = str(request.scope.get("root_path", ""))
    with data.store.read() as conn:
        organisation = users.org_name(conn, who.org_id)
    html = _template().render(
        lang=language,
        t=t,
        organisation=organisation,
        by=by,
        attributes=[(a, attribute_label(a, language)) for a in ATTRIBUTES],
        filterable=[(a, attribute_label(a, language), options[a], chosen[a]) for a in FILTERABLE],
        rows=cells,
        total=total,
        chart=chart,
        spec_json=spec_json,
        script_href=root + "/static/qorgau-charts.js",
        k=ds.k,
        suppressed=ds.suppressed,
        csv_href=root + "/api/v1/public/incidents?format=csv",
        json_href=root + "/api/v1/public/incidents",
        languages=[(c, n, f"{root}/statistics?lang={c}") for c, n in LANGUAGE_NAMES],
    )
    return HTMLResponse(
        html, headers={"content-security-policy": PAGE_CSP_FORM, "vary": "Accept-Language"}
    )


def script_json(value: object) -> Markup:
    """JSON to place inside a <script> element: "</" and "<!--" cannot end or confuse it."""
    text = json.dumps(value, ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)  # no "<" is left, so nothing in it is markup


# The register page's policy, plus the page's own GET form and the charts script served by
# Qorgau (its expressions are interpreted, so no 'unsafe-eval'). Without the script the page
# keeps its server-drawn chart and table.
PAGE_CSP_FORM = PAGE_CSP.replace("form-action 'none'", "form-action 'self'").replace(
    "default-src 'none';", "default-src 'none'; script-src 'self';"
)
