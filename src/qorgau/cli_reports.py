"""Commands for statistics, the monitoring report, public data and sharing with partners.

Registered as ``qorgau stats``, ``qorgau report``, ``qorgau public``, ``qorgau share``,
``qorgau indicators`` and ``qorgau legal`` by ``register``."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from qorgau.cli import (
    DataDir,
    DbUrl,
    err,
    fail,
    guarded,
    opened_store,
    out,
    readable_file,
    settings,
    t,
    writable_file,
)
from qorgau.domain.model import Principal
from qorgau.domain.tlp import Tlp
from qorgau.errors import InvalidInput
from qorgau.i18n import N_
from qorgau.legal_desk import LegalDesk
from qorgau.report_desk import PublicData, ReportDesk
from qorgau.security.csv_cells import safe_dict
from qorgau.sharing_desk import SharingDesk
from qorgau.store.store import Store

stats_app = typer.Typer(no_args_is_help=True, help="Statistics: counts, trends, advocacy figures.")
report_app = typer.Typer(no_args_is_help=True, help="Monitoring reports (HTML, PDF).")
public_app = typer.Typer(no_args_is_help=True, help="The public, pseudonymised dataset.")
share_app = typer.Typer(no_args_is_help=True, help="STIX 2.1 / MISP exchange and trackers.")
indicator_app = typer.Typer(no_args_is_help=True, help="Indicators of attack.")
legal_app = typer.Typer(no_args_is_help=True, help="Steps taken with the authorities.")

Period = Annotated[
    str | None,
    typer.Option("--period", help="2025, 2025-Q3, 2025-07 or 2025-07-01..2025-09-30"),
]
Lang = Annotated[str, typer.Option("--lang", help="en, ru or kk")]
Out = Annotated[Path | None, typer.Option("--out", help="Write here instead of standard output")]


def register(app: typer.Typer) -> None:
    app.add_typer(stats_app, name="stats")
    app.add_typer(report_app, name="report")
    app.add_typer(public_app, name="public")
    app.add_typer(share_app, name="share")
    app.add_typer(indicator_app, name="indicators")
    app.add_typer(legal_app, name="legal")
    app.command("generate-year")(generate_year_cmd)


@dataclass
class Desks:
    store: Store
    who: Principal
    reports: ReportDesk
    sharing: SharingDesk


@contextlib.contextmanager
def _desks(data_dir: Path | None, database_url: str | None) -> Iterator[Desks]:
    from qorgau.desk import CaseDesk

    with opened_store(settings(data_dir, database_url)) as store:
        who = CaseDesk(store).system("cli")
        yield Desks(store, who, ReportDesk(store), SharingDesk(store))


def _emit(data: str | bytes, dest: Path | None) -> None:
    if dest is None:
        if isinstance(data, bytes):
            sys.stdout.buffer.write(data)
        else:
            sys.stdout.write(data)
        return
    if isinstance(data, bytes):
        dest.write_bytes(data)
    else:
        dest.write_text(data, encoding="utf-8")
    err.print(t("Written: {path}", path=str(dest)), highlight=False)


def _lang(lang: str) -> str:
    from qorgau.report_desk import check_lang

    return check_lang(lang)


def _tlp(value: str) -> Tlp:
    try:
        return Tlp(value.lower())
    except ValueError:
        allowed = ", ".join(str(x) for x in Tlp)
        fail(InvalidInput.single("tlp", "choice", f"{value!r}: use one of {allowed}"))


# -- statistics --------------------------------------------------------------------------------
@stats_app.command("breakdown")
@guarded
def stats_breakdown(
    by: Annotated[str, typer.Option("--by", help="category, attack_type, region, ...")] = (
        "category"
    ),
    period: Period = None,
    where: Annotated[
        list[str] | None,
        typer.Option("--where", help="dimension=value, e.g. gender=woman (repeatable)"),
    ] = None,
    lang: Lang = "en",
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table")] = False,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Count incidents by one dimension, with filters."""
    from qorgau.reports.filters import build_filter, parse_dimension

    values: dict[str, list[str]] = {}
    for w in where or []:
        name, sep, value = w.partition("=")
        if not sep:
            fail(InvalidInput.single("where", "format", f"{w!r}: write dimension=value"))
        values.setdefault(name.strip(), []).append(value.strip())
    dim = parse_dimension(by)
    with _desks(data_dir, database_url) as d:
        flt = build_filter(d.store.taxonomy, period=period, values=values)
        b = d.reports.breakdown(d.who, dim, flt, _lang(lang))
    if as_json:
        cells = [{"key": c.key, "label": c.label, "count": c.count} for c in b.cells]
        sys.stdout.write(
            json.dumps({"dimension": by, "total": b.total, "cells": cells}, ensure_ascii=False)
            + "\n"
        )
        return
    table = Table(title=t("Incidents: {total}", total=b.total))
    table.add_column(by)
    table.add_column("n", justify="right")
    for c in b.cells:
        table.add_row(escape(c.label), str(c.count))
    out.print(table)


@stats_app.command("advocacy")
@guarded
def stats_advocacy(
    period: Period = None, data_dir: DataDir = None, database_url: DbUrl = None
) -> None:
    """No applicable law, reports without action, time to any official response (JSON)."""
    from qorgau.reports.filters import build_filter

    with _desks(data_dir, database_url) as d:
        a = d.reports.advocacy(d.who, build_filter(d.store.taxonomy, period=period))
    sys.stdout.write(json.dumps(a.__dict__, ensure_ascii=False, indent=2) + "\n")


# -- the monitoring report ---------------------------------------------------------------------
@report_app.command("monitoring")
@guarded
def report_monitoring(
    period: Annotated[str, typer.Option("--period", help="e.g. 2025-Q3")],
    out_file: Annotated[Path, typer.Option("--out", help="report.html or report.pdf")],
    lang: Lang = "en",
    templates: Annotated[
        Path | None, typer.Option("--templates", help="An adapted copy of the templates")
    ] = None,
    page_png: Annotated[
        Path | None,
        typer.Option("--page-png", help="Also write the PDF's first page as PNG, to look at"),
    ] = None,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """The monitoring report for a period in one language: HTML, or PDF if --out ends in .pdf."""
    from qorgau.reports.periods import parse_period
    from qorgau.reports.render import pdf_page_png, render_html, render_pdf

    writable_file(out_file, "out")
    if page_png is not None:
        writable_file(page_png, "page_png")
    p = parse_period(period)
    with _desks(data_dir, database_url) as d:
        data = d.reports.report_data(d.who, p, _lang(lang))
        template_dir = templates or d.store.settings.report_template_dir
    html = render_html(data, template_dir=template_dir)
    if out_file.suffix.lower() == ".pdf" or page_png is not None:
        pdf = render_pdf(html)
        if out_file.suffix.lower() == ".pdf":
            _emit(pdf, out_file)
        else:
            _emit(html, out_file)
        if page_png is not None:
            _emit(pdf_page_png(pdf, 0), page_png)
    else:
        _emit(html, out_file)
    out.print(
        t("{total} incidents in {period}.", total=data.total, period=data.period_label),
        highlight=False,
    )


@report_app.command("templates")
@guarded
def report_templates(
    dest: Annotated[Path, typer.Argument(help="Folder to write the templates into")],
) -> None:
    """Copy the report templates for an organisation to adapt (QORGAU_REPORT_TEMPLATES)."""
    from qorgau.reports.render import copy_default_templates

    dest.mkdir(parents=True, exist_ok=True)
    for path in copy_default_templates(dest):
        out.print(escape(str(path)), highlight=False)


# -- public data -------------------------------------------------------------------------------
@public_app.command("export")
@guarded
def public_export(
    format: Annotated[str, typer.Option("--format", help="csv or json")] = "csv",
    k: Annotated[int, typer.Option("--k", help="Smallest group of protected incidents")] = 5,
    out_file: Out = None,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """The public, pseudonymised incident dataset (k-anonymous for protected people)."""
    from qorgau.reports.public_data import to_csv, to_json

    if format not in ("csv", "json"):
        fail(InvalidInput.single("format", "choice", "use csv or json"))
    if out_file is not None:
        writable_file(out_file, "out")
    with _desks(data_dir, database_url) as d:
        ds = PublicData(d.store).dataset(d.who, k)
        now = d.store.now()
    _emit(to_csv(ds) if format == "csv" else to_json(ds, produced_at=now), out_file)
    err.print(
        t(
            "{rows} rows; {suppressed} protected incidents withheld to keep groups of {k}.",
            rows=len(ds.rows),
            suppressed=ds.suppressed,
            k=ds.k,
        ),
        highlight=False,
    )


# -- sharing -----------------------------------------------------------------------------------
@share_app.command("stix")
@guarded
def share_stix(
    tlp: Annotated[str, typer.Option("--tlp", help="Highest TLP to include")] = "green",
    period: Period = None,
    out_file: Out = None,
    validate: Annotated[
        bool, typer.Option("--validate/--no-validate", help="Run stix2-validator on the result")
    ] = True,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Incidents, indicators and relations as a STIX 2.1 bundle."""
    from qorgau.reports.periods import parse_period
    from qorgau.reports.stix import validate_stix

    if out_file is not None:
        writable_file(out_file, "out")
    with _desks(data_dir, database_url) as d:
        text = d.sharing.stix(d.who, _tlp(tlp), parse_period(period) if period else None)
    if validate:
        findings = validate_stix(text)
        if findings:
            for f in findings[:20]:
                err.print(escape(f), highlight=False)
            fail(InvalidInput.single("bundle", "stix-validator", "the bundle does not validate"))
    _emit(text, out_file)


@share_app.command("misp")
@guarded
def share_misp(
    tlp: Annotated[str, typer.Option("--tlp", help="Highest TLP to include")] = "green",
    period: Period = None,
    out_file: Out = None,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """The same as MISP events (a JSON list in PyMISP's format)."""
    from qorgau.reports.periods import parse_period

    if out_file is not None:
        writable_file(out_file, "out")
    with _desks(data_dir, database_url) as d:
        events = d.sharing.misp(d.who, _tlp(tlp), parse_period(period) if period else None)
    _emit(json.dumps(events, ensure_ascii=False, indent=1), out_file)


@share_app.command("import")
@guarded
def share_import(
    path: Annotated[Path, typer.Argument(help="A STIX 2.1 bundle or MISP event(s), JSON")],
    partner: Annotated[str, typer.Option("--partner", help="Who sent it")],
    format: Annotated[str, typer.Option("--format", help="stix or misp")] = "stix",
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Import a partner's file: validated whole first, then stored in one transaction."""
    readable_file(path, "path")
    with _desks(data_dir, database_url) as d:
        r = d.sharing.import_partner(d.who, path.read_bytes(), partner=partner, fmt=format)
    if r.already_imported:
        out.print(t("This file was imported before; nothing changed."))
        return
    out.print(
        t(
            "{new} new incidents ({known} already known), {ind} new indicators "
            "({merged} merged with known ones).",
            new=r.incidents_new,
            known=r.incidents_known,
            ind=r.indicators_new,
            merged=r.indicators_merged,
        ),
        highlight=False,
    )


@share_app.command("trackers")
@guarded
def share_trackers(
    scheme: Annotated[str, typer.Argument(help="coe (Council of Europe) or mmf")],
    lang: Lang = "en",
    period: Period = None,
    out_file: Out = None,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """TLP:CLEAR incidents as rows for a public tracker's submission (CSV)."""
    from qorgau.reports.periods import parse_period

    with _desks(data_dir, database_url) as d:
        rows = d.sharing.tracker_rows(
            d.who, scheme, _lang(lang), parse_period(period) if period else None
        )
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(safe_dict(r) for r in rows)  # titles are typed by strangers
    _emit(buf.getvalue(), out_file)


# -- indicators --------------------------------------------------------------------------------
@indicator_app.command("add")
@guarded
def indicators_add(
    kind: Annotated[str, typer.Argument(help="domain, url, ipv4, ipv6, email, account, sha256…")],
    value: Annotated[str, typer.Argument(help="The value, e.g. orda-kz.com")],
    tlp: Annotated[str, typer.Option("--tlp")] = "amber",
    incident: Annotated[
        list[str] | None, typer.Option("--incident", help="Case it belongs to (repeatable)")
    ] = None,
    description: Annotated[str, typer.Option("--description")] = "",
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Add an indicator (or widen a known one)."""
    with _desks(data_dir, database_url) as d:
        ind, created = d.sharing.add_indicator(
            d.who,
            kind=kind,
            value=value,
            tlp=_tlp(tlp),
            description=description,
            incidents_=incident or [],
        )
    msg = (
        N_("Indicator added: {kind} {value}") if created else N_("Indicator known: {kind} {value}")
    )
    out.print(t(msg, kind=str(ind.kind), value=ind.value), highlight=False)


@indicator_app.command("harvest")
@guarded
def indicators_harvest(data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Make indicators from the detector findings attached to cases."""
    with _desks(data_dir, database_url) as d:
        new, merged = d.sharing.harvest(d.who)
    out.print(t("{new} new indicators, {merged} known ones updated.", new=new, merged=merged))


@indicator_app.command("list")
@guarded
def indicators_list(
    limit: Annotated[int, typer.Option("--limit")] = 100,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Indicators, newest first."""
    with _desks(data_dir, database_url) as d:
        items, total = d.sharing.indicators(d.who, limit=limit)
    table = Table(title=t("Indicators: {total}", total=total))
    for col in ("kind", "value", "TLP", "source", "last seen"):
        table.add_column(col)
    for i in items:
        table.add_row(
            str(i.kind), escape(i.value), str(i.tlp), escape(i.source), i.last_seen.isoformat()
        )
    out.print(table)


# -- legal steps -------------------------------------------------------------------------------
@legal_app.command("add")
@guarded
def legal_add(
    public_id: Annotated[str, typer.Argument(help="Case reference, e.g. QG-…")],
    kind: Annotated[str, typer.Option("--kind", help="reported_to_police, conviction, …")],
    at: Annotated[datetime, typer.Option("--at", help="When, ISO 8601 with zone")],
    authority: Annotated[str, typer.Option("--authority")] = "",
    reference: Annotated[str, typer.Option("--reference", help="Case or letter number")] = "",
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Record a step taken with the authorities; the case's legal outcome follows from them."""
    with _desks(data_dir, database_url) as d:
        state = LegalDesk(d.store).add_event(
            d.who, public_id, kind=kind, at=at, authority=authority, reference=reference
        )
    out.print(t("Legal outcome now: {outcome}", outcome=str(state.outcome)), highlight=False)


# -- a generated year --------------------------------------------------------------------------
@guarded
def generate_year_cmd(
    year: Annotated[int, typer.Option("--year", help="A finished year, e.g. 2025")],
    incidents: Annotated[int, typer.Option("--incidents", help="How many incidents")] = 2000,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same year")] = 2025,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Write a made-up but realistic year of incidents (for demos, reports and benchmarks)."""
    from qorgau.demo.year import generate_year

    with opened_store(settings(data_dir, database_url)) as store:
        summary = generate_year(store, year=year, incidents=incidents, seed=seed)
    out.print(
        t(
            "{n} incidents generated for {year} ({q1}, {q2}, {q3}, {q4} by quarter), "
            "{events} legal steps, {indicators} indicators, in {seconds:.1f} s.",
            n=summary.incidents,
            year=year,
            q1=summary.by_quarter[0],
            q2=summary.by_quarter[1],
            q3=summary.by_quarter[2],
            q4=summary.by_quarter[3],
            events=summary.legal_events,
            indicators=summary.indicators,
            seconds=summary.seconds,
        ),
        highlight=False,
    )
