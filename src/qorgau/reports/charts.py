"""Charts for monitoring reports: Vega-Lite specs, rendered offline to SVG or PNG.

The same spec serves two readers: the web interface hands it to Vega-Embed for an interactive
chart, and the report renders it here with vl-convert (a bundled Vega engine, no browser, no
network) into an SVG that WeasyPrint draws in the PDF. Specs are plain dicts built by hand rather
than through Altair so that nothing in them points anywhere: no ``$schema`` URL, no data URL, the
data inline as values. Styling aims at readers with colour-vision deficiency and at grey-scale
printers: the Okabe–Ito palette, dark text and a value label on every bar, so no figure depends
on telling colours apart.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import vl_convert
from babel.dates import format_skeleton

from qorgau.i18n import N_, gettext
from qorgau.reports.statistics import Breakdown, Dimension, TimeSeries

FONT = "DejaVu Sans"  # installed with WeasyPrint's fonts; covers Kazakh letters (ә ғ қ ң ө ұ ү һ і)
TEXT_COLOUR = "#1a1a1a"  # 17:1 on white
MUTED_TEXT_COLOUR = "#404040"  # 10:1 on white, for axis labels
GRID_COLOUR = "#d9d9d9"
# Okabe & Ito (2008), reordered so the first colours have ≥3:1 contrast with white (WCAG for
# graphics); the yellow comes late because it nearly vanishes on paper.
OKABE_ITO = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#F0E442",  # yellow
)
# One hue, light to dark, for ordered values (severity, intensity maps): readable in grey.
SEQUENTIAL = ("#deebf7", "#9ecae1", "#6baed6", "#3182bd", "#08519c")
BAR_COLOUR = OKABE_ITO[0]

_DIMENSION_TITLES: dict[Dimension, str] = {
    Dimension.CATEGORY: N_("Monitoring category"),
    Dimension.ATTACK_TYPE: N_("Type of attack"),
    Dimension.REGION: N_("Region"),
    Dimension.PLATFORM: N_("Platform"),
    Dimension.TARGET_TYPE: N_("Who was targeted"),
    Dimension.GENDER: N_("Gender"),
    Dimension.PERPETRATOR: N_("Perpetrator"),
    Dimension.LEGAL_REF: N_("Legal provision"),
    Dimension.OUTCOME: N_("Outcome"),
    Dimension.SEVERITY: N_("Severity"),
    Dimension.STATUS: N_("Status"),
}
_QUARTER_KEY = re.compile(r"^(\d{4})-[Qq]([1-4])$")
_MONTH_KEY = re.compile(r"^(\d{4})-(\d{2})$")
_MAX_DESCRIBED = 5


def _config() -> dict[str, Any]:
    """Shared look: one font WeasyPrint also has, dark text, light grid, Okabe–Ito categories."""
    return {
        "font": FONT,
        "background": "#ffffff",
        "view": {"stroke": None},
        "title": {"font": FONT, "fontSize": 14, "color": TEXT_COLOUR, "anchor": "start"},
        "axis": {
            "labelFont": FONT,
            "titleFont": FONT,
            "labelColor": MUTED_TEXT_COLOUR,
            "titleColor": TEXT_COLOUR,
            "labelFontSize": 11,
            "titleFontSize": 11,
            "gridColor": GRID_COLOUR,
            "domainColor": MUTED_TEXT_COLOUR,
            "tickColor": MUTED_TEXT_COLOUR,
        },
        "legend": {
            "labelFont": FONT,
            "titleFont": FONT,
            "labelColor": TEXT_COLOUR,
            "titleColor": TEXT_COLOUR,
            "labelFontSize": 11,
            "titleFontSize": 11,
            "labelLimit": 260,
        },
        "text": {"font": FONT, "color": TEXT_COLOUR},
        "range": {"category": list(OKABE_ITO), "ordinal": list(SEQUENTIAL)},
    }


def dimension_title(dimension: Dimension | None, lang: str) -> str:
    """The axis or column title for a dimension, in the report's language."""
    if dimension is None:
        return gettext(lang, "Incidents")
    return gettext(lang, _DIMENSION_TITLES[dimension])


def period_label(key: str, lang: str) -> str:
    """A period key ("2025-07", "2025-Q3", "2025") as a reader of ``lang`` would write it."""
    if m := _MONTH_KEY.match(key):
        month = date(int(m[1]), int(m[2]), 1)
        return str(format_skeleton("yMMM", month, locale=lang))
    if m := _QUARTER_KEY.match(key):
        return gettext(lang, "Q{quarter} {year}", quarter=m[2], year=m[1])
    return key


def _nonzero_sorted(b: Breakdown) -> list[tuple[str, int]]:
    # Largest first; ties by label so the order is stable between runs and languages.
    return sorted(((c.label, c.count) for c in b.cells if c.count > 0), key=lambda x: (-x[1], x[0]))


def breakdown_chart(b: Breakdown, *, title: str, lang: str) -> dict[str, Any]:
    """Horizontal bars, largest first, each with its count written at its end.

    Horizontal because category labels ("Blocking of websites", "Угрозы физической
    расправой") are long and must stay readable without rotation; the count on the bar lets a
    reader of a grey-scale print take the figure without reading the axis.
    """
    rows = _nonzero_sorted(b)
    order = [label for label, _ in rows]
    count_title = gettext(lang, "Incidents")
    y = {
        "field": "label",
        "type": "nominal",
        "sort": order,
        # The chart's title already names the dimension; an axis title would only take width.
        "title": None,
        "axis": {"labelLimit": 240},
    }
    x = {
        "field": "count",
        "type": "quantitative",
        "title": count_title,
        "axis": {"tickMinStep": 1, "format": "d"},
        # Room to the right of the longest bar for its label.
        "scale": {"domainMax": max((n for _, n in rows), default=1) * 1.15},
    }
    return {
        "title": title,
        "width": 360,
        "height": {"step": 22},
        "data": {"values": [{"label": label, "count": n} for label, n in rows]},
        "encoding": {
            "y": y,
            "x": x,
            "tooltip": [
                {"field": "label", "type": "nominal", "title": dimension_title(b.dimension, lang)},
                {"field": "count", "type": "quantitative", "title": count_title},
            ],
        },
        "layer": [
            {"mark": {"type": "bar", "color": BAR_COLOUR}},
            {
                "mark": {
                    "type": "text",
                    "align": "left",
                    "baseline": "middle",
                    "dx": 4,
                    "color": TEXT_COLOUR,
                    "fontSize": 11,
                },
                "encoding": {"text": {"field": "count", "type": "quantitative"}},
            },
        ],
        "config": _config(),
    }


def series_chart(ts: TimeSeries, *, title: str, lang: str) -> dict[str, Any]:
    """Bars per period, stacked by row when there are several; every period shown, even empty.

    A nominal time axis keeps empty months visible as gaps (a line would imply values between
    points, and a temporal axis drops nothing but needs dates the quarter keys do not give).
    """
    labels = [period_label(p, lang) for p in ts.periods]
    values: list[dict[str, Any]] = []
    for cell, counts in ts.rows:
        for i, label in enumerate(labels):
            n = counts[i] if i < len(counts) else 0
            values.append({"period": label, "order": i, "series": cell.label, "count": n})
    count_title = gettext(lang, "Incidents")
    x = {
        "field": "period",
        "type": "ordinal",
        "sort": labels,
        "title": gettext(lang, "Period"),
        "axis": {"labelAngle": 0 if len(labels) <= 6 else -40, "labelLimit": 120},
    }
    y = {
        "field": "count",
        "type": "quantitative",
        "title": count_title,
        "axis": {"tickMinStep": 1, "format": "d"},
    }
    encoding: dict[str, Any] = {
        "x": x,
        "y": y,
        "tooltip": [
            {"field": "period", "type": "ordinal", "title": x["title"]},
            {"field": "series", "type": "nominal", "title": dimension_title(ts.dimension, lang)},
            {"field": "count", "type": "quantitative", "title": count_title},
        ],
    }
    mark: dict[str, Any] = {"type": "bar", "width": {"band": 0.6}}
    if ts.dimension is None or len(ts.rows) <= 1:
        mark["color"] = BAR_COLOUR
        layers: list[dict[str, Any]] = [
            {"mark": mark},
            {
                "mark": {
                    "type": "text",
                    "baseline": "bottom",
                    "dy": -3,
                    "color": TEXT_COLOUR,
                    "fontSize": 11,
                },
                "encoding": {"text": {"field": "count", "type": "quantitative"}},
            },
        ]
    else:
        encoding["color"] = {
            "field": "series",
            "type": "nominal",
            "title": dimension_title(ts.dimension, lang),
            "scale": {"range": list(OKABE_ITO)},
            "legend": {"orient": "bottom", "columns": 2},
        }
        layers = [{"mark": mark}]
    return {
        "title": title,
        "width": 440,
        "height": 180,
        "data": {"values": values},
        "encoding": encoding,
        "layer": layers,
        "config": _config(),
    }


def to_svg(spec: dict[str, Any]) -> str:
    """Render a spec to an SVG document, offline; nothing may be fetched while rendering.

    ``allowed_base_urls=[]`` makes vl-convert refuse any URL a spec might name, so a spec that
    somehow gained a data URL fails here instead of reaching out from a journalist's laptop.
    """
    svg: str = vl_convert.vegalite_to_svg(spec, allowed_base_urls=[])
    return svg


def to_png(spec: dict[str, Any], scale: float = 2.0) -> bytes:
    """Render a spec to PNG (for e-mail, messengers, slides) with the same offline rule."""
    png: bytes = vl_convert.vegalite_to_png(spec, scale=scale, allowed_base_urls=[])
    return png


def chart_description(b: Breakdown, lang: str) -> str:
    """One sentence that says what the chart shows, for screen readers and readers of the PDF
    who cannot see colours: the most frequent values with their counts."""
    rows = _nonzero_sorted(b)
    if not rows:
        return gettext(lang, "No incidents recorded.")
    items = ", ".join(f"{label} ({n})" for label, n in rows[:_MAX_DESCRIBED])
    if len(rows) > _MAX_DESCRIBED:
        items += ", …"
    return gettext(lang, "Most frequent: {items}.", items=items)
