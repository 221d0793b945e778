"""The ``qorgau detect``, ``qorgau observe``, ``qorgau watchlist`` and ``qorgau simulate``
commands: observations in, detectors over them, findings out.

``detect run`` needs no store: it is the pipeline's own code over a JSON Lines file, so anyone
can try a detector on their data and get the same findings the desk would."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.markup import escape
from rich.table import Table

from qorgau.cli import (
    ERROR_LABEL,
    DataDir,
    DbUrl,
    _progress,
    err,
    fail,
    guarded,
    opened_store,
    out,
    settings,
    t,
)
from qorgau.errors import InvalidInput

detect_app = typer.Typer(
    no_args_is_help=True, help="Detectors: list, run, retro-analysis, workers."
)
observe_app = typer.Typer(no_args_is_help=True, help="Observations: import files, API sources.")
source_app = typer.Typer(no_args_is_help=True, help="API sources of observations.")
observe_app.add_typer(source_app, name="source")
watch_app = typer.Typer(no_args_is_help=True, help="Protected people's identifiers.")


def register(app: typer.Typer) -> None:
    """Add these commands to the main ``qorgau`` app (called by ``qorgau.cli``)."""
    app.add_typer(detect_app, name="detect")
    app.add_typer(observe_app, name="observe")
    app.add_typer(watch_app, name="watchlist")
    app.command("simulate")(simulate_cmd)
    from qorgau.cli_campaigns import co_sharing_cmd, near_duplicates_cmd
    from qorgau.cli_campaigns import register as register_campaigns

    detect_app.command("co-sharing")(co_sharing_cmd)
    detect_app.command("near-duplicates")(near_duplicates_cmd)
    register_campaigns(app)


def _desk(store: Any) -> Any:
    from qorgau.desk import CaseDesk
    from qorgau.observation_desk import ObservationDesk

    return ObservationDesk.for_settings(CaseDesk(store))


@contextlib.contextmanager
def _opened_desk(data_dir: Path | None, database_url: str | None) -> Iterator[Any]:
    """The observation desk for one command: its store opened and checked, and both closed
    (with the JetStream publisher, when there is one) whatever happens."""
    with opened_store(settings(data_dir, database_url)) as store:
        desk = _desk(store)
        try:
            yield desk
        finally:
            desk.close()


def _read_config(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        fail(InvalidInput.single("config", "exists", f"{path} does not exist"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        fail(
            InvalidInput.single(
                "config", "json", f"{path} is not a JSON file ({exc}); fix it and run again"
            )
        )
    if not isinstance(doc, dict):
        fail(InvalidInput.single("config", "object", f"{path} must hold a JSON object"))
    return doc


def _print_problems(problems: list[Any]) -> None:
    for p in problems:
        where = f"{p.file}:{p.line}" if p.line is not None else p.file
        err.print(f"[red]{t(ERROR_LABEL)}:[/red] {escape(f'{where}: {p.reason}')}", highlight=False)


@detect_app.command("list")
@guarded
def detect_list(
    as_json: Annotated[bool, typer.Option("--json", help="Specs as JSON")] = False,
) -> None:
    """Every detector with its help and configuration schema."""
    from qorgau.detect.registry import DETECTORS, spec_json

    specs = [spec_json(d) for d in DETECTORS]
    if as_json:
        sys.stdout.write(json.dumps(specs, ensure_ascii=False, indent=2) + "\n")
        return
    for spec in specs:
        out.print(f"[bold]{spec['name']}[/bold]  ({', '.join(spec['attack_types'])})")
        out.print(escape(str(spec["help"])), highlight=False)
        out.print(t("Configuration schema:"))
        out.print(escape(json.dumps(spec["config_schema"], ensure_ascii=False, indent=2)))
        out.print()


@detect_app.command("run")
@guarded
def detect_run(
    name: Annotated[str, typer.Argument(help="The detector (see 'qorgau detect list')")],
    input_file: Annotated[
        Path, typer.Option("--input", help="JSON Lines: id, platform, account, time, text...")
    ],
    config: Annotated[
        Path | None, typer.Option("--config", help="Its configuration (JSON)")
    ] = None,
) -> None:
    """Run one detector over a file and print its findings as JSON Lines (no store needed)."""
    from qorgau.detect.pipeline import configure, run_stream
    from qorgau.detect.registry import by_name
    from qorgau.observe.importers import read_observations_jsonl

    detector = by_name(name)
    configured = configure(detector, _read_config(config))
    if not input_file.exists():
        fail(InvalidInput.single("input", "exists", f"{input_file} does not exist"))
    read = read_observations_jsonl(input_file, exact_ids=True)
    _print_problems(read.problems)
    result = run_stream(configured, read.observations)
    for f in result.findings:
        sys.stdout.write(orjson.dumps(f.to_json()).decode() + "\n")
    for failure in result.failures:
        err.print(
            t(
                "{detector} failed on {id}: {error}",
                detector=failure.detector,
                id=failure.observation_id,
                error=failure.error,
            ),
            highlight=False,
        )
    err.print(
        t(
            "{n} observations read, {bad} lines refused, {found} findings.",
            n=len(read.observations),
            bad=len(read.problems),
            found=len(result.findings),
        )
    )


@detect_app.command("retro")
@guarded
def detect_retro(
    name: Annotated[str, typer.Argument(help="The detector")],
    inputs: Annotated[list[Path], typer.Option("--input", help="JSON Lines archives")],
    config: Annotated[
        Path | None, typer.Option("--config", help="Its configuration (JSON)")
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="A Dask scheduler's address; default: a local cluster")
    ] = None,
    workers: Annotated[int, typer.Option(help="Local cluster worker processes")] = 2,
) -> None:
    """Retro-analysis of large archives on Dask distributed; findings as JSON Lines."""
    from qorgau.detect.retro import run_retro

    for p in inputs:
        if not p.exists():
            fail(InvalidInput.single("input", "exists", f"{p} does not exist"))
    result = run_retro(
        name, _read_config(config), inputs, scheduler=scheduler, workers=max(1, workers)
    )
    for f in result.findings:
        sys.stdout.write(orjson.dumps(f.to_json()).decode() + "\n")
    for failure in result.failures:
        err.print(
            t(
                "{detector} failed on {id}: {error}",
                detector=failure.detector,
                id=failure.observation_id,
                error=failure.error,
            ),
            highlight=False,
        )


@detect_app.command("worker")
@guarded
def detect_worker(
    batch: Annotated[int, typer.Option(help="Messages fetched at a time")] = 4,
    ack_wait: Annotated[float, typer.Option(help="Seconds before NATS redelivers")] = 60.0,
    sweep_every: Annotated[float, typer.Option(help="Seconds between sweeps")] = 30.0,
    stream: Annotated[str, typer.Option(help="JetStream stream name")] = "QORGAU_OBSERVATIONS",
    subject: Annotated[str, typer.Option(help="Subject prefix")] = "qorgau.observations",
    durable: Annotated[str, typer.Option(help="Durable consumer name")] = "qorgau-detectors",
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """A detector worker on NATS JetStream (QORGAU_NATS_URL); run as many as needed."""
    import asyncio
    import signal

    from qorgau.detect.stream import DetectorWorker
    from qorgau.errors import ConfigurationError

    s = settings(data_dir, database_url)
    if not s.nats_url:
        raise ConfigurationError("set QORGAU_NATS_URL, e.g. nats://127.0.0.1:4222")
    with opened_store(s) as store:
        from qorgau.desk import CaseDesk
        from qorgau.observation_desk import ObservationDesk

        desk = ObservationDesk(CaseDesk(store))
        worker = DetectorWorker(
            desk,
            s.nats_url,
            stream=stream,
            subject_prefix=subject,
            durable=durable,
            batch=batch,
            ack_wait=ack_wait,
            sweep_every=sweep_every,
        )

        async def _main() -> None:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, worker.stop)
            await worker.run()

        err.print(t("Detector worker started; Ctrl-C stops it."))
        asyncio.run(_main())
        m = worker.metrics
        err.print(
            t(
                "Detector worker stopped: {messages} messages, {n} observations, {found}"
                " findings, {swept} swept, {errors} errors.",
                messages=m.messages,
                n=m.observations,
                found=m.findings,
                swept=m.swept,
                errors=m.errors,
            )
        )


@detect_app.command("process")
@guarded
def detect_process(data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Run the detectors now over every observation not processed yet (embedded default)."""
    with _opened_desk(data_dir, database_url) as desk:
        rep = desk.process_pending(desk.cases.default_org_id)
    out.print(
        t(
            "{n} observations processed: {found} findings, {failed} failures; incidents"
            " opened: {opened}.",
            n=rep.observations,
            found=rep.findings,
            failed=rep.failures,
            opened=", ".join(rep.incidents_opened) or "-",
        )
    )


@detect_app.command("findings")
@guarded
def detect_findings(
    limit: Annotated[int, typer.Option(help="How many")] = 50,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """The latest findings with their campaign, case and size."""
    with _opened_desk(data_dir, database_url) as desk:
        found = desk.findings(desk.cases.system("cli"), limit)
        publics = desk.incident_public_ids([f.incident_id for f in found if f.incident_id])
    table = Table()
    for col in (t("finding"), t("detector"), t("observations"), t("case"), t("last seen")):
        table.add_column(col)
    for f in found:
        table.add_row(
            f.title,
            f.detector,
            str(f.observations),
            publics.get(f.incident_id, "-") if f.incident_id else "-",
            f.last_at.strftime("%Y-%m-%d %H:%M"),
        )
    out.print(table)


@detect_app.command("failures")
@guarded
def detect_failures(data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Observations a detector broke on (recorded, the pipeline went on)."""
    with _opened_desk(data_dir, database_url) as desk:
        rows = desk.failures(desk.cases.system("cli"))
    for r in rows:
        out.print(
            escape(f"{r['at']:%Y-%m-%d %H:%M}  {r['detector']}  {r['obs_key']}  {r['error']}")
        )
    if not rows:
        out.print(t("No detector failures."))


# -- observations ------------------------------------------------------------------------------


@observe_app.command("import")
@guarded
def observe_import(
    paths: Annotated[list[Path], typer.Argument(help="Exports, logs, mbox, saved ad pages")],
    source: Annotated[str, typer.Option(help="Where they come from, e.g. telegram-orda")],
    file_format: Annotated[
        str | None,
        typer.Option(
            "--format", help="telegram, posts, ads, ad-pages, calls, mbox (default: guess)"
        ),
    ] = None,
    owner_phone: Annotated[
        str | None, typer.Option(help="Whose phone a call log without a callee column is from")
    ] = None,
    detect: Annotated[bool, typer.Option(help="Run the detectors after the import")] = True,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Import observations (idempotent: a file imported twice is stored once)."""
    from qorgau.observe.importers import import_file

    for p in paths:
        if not p.exists():
            fail(InvalidInput.single("path", "exists", f"{p} does not exist"))
    with _opened_desk(data_dir, database_url) as desk:
        principal = desk.cases.system("cli")
        total_new = total_read = total_bad = 0
        for p in paths:
            with _progress() as bar:
                task = bar.add_task(escape(p.name), total=None)

                def tick(done: int, size: int, _task: Any = task, _bar: Any = bar) -> None:
                    _bar.update(_task, completed=done, total=size)

                result = import_file(
                    p, source, format=file_format, owner_phone=owner_phone, progress=tick
                )
            _print_problems(result.problems)
            rep = desk.ingest(principal, result.observations, process=detect)
            total_read += rep.read
            total_new += rep.new
            total_bad += len(result.problems)
            if rep.processed is not None and rep.processed.incidents_opened:
                out.print(
                    t(
                        "Incidents opened: {ids}.",
                        ids=", ".join(rep.processed.incidents_opened),
                    )
                )
    out.print(
        t(
            "Read {read} observations: {new} new, {known} already stored, {bad} refused.",
            read=total_read,
            new=total_new,
            known=total_read - total_new,
            bad=total_bad,
        )
    )


@observe_app.command("status")
@guarded
def observe_status(data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Observations stored, by kind, and how many wait for the detectors."""
    with _opened_desk(data_dir, database_url) as desk:
        status = desk.status(desk.cases.system("cli"))
    for kind, n in sorted(status["observations"].items()):
        out.print(f"{kind}: {n}")
    out.print(t("Waiting for the detectors: {n}", n=status["pending"]))


@source_app.command("add")
@guarded
def source_add(
    name: Annotated[str, typer.Argument(help="A name for the feed, e.g. ads-scraper")],
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Create an API source and print its token (shown once)."""
    with _opened_desk(data_dir, database_url) as desk:
        found, token = desk.add_source(desk.cases.system("cli"), name)
    out.print(t("Source {name} created. Its token (shown once):", name=found.name))
    out.print(token, highlight=False)


@source_app.command("list")
@guarded
def source_list(data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """API sources with their last contact and counts."""
    with _opened_desk(data_dir, database_url) as desk:
        sources = desk.list_sources(desk.cases.system("cli"))
    table = Table()
    for col in (t("source"), t("last contact"), t("results")):
        table.add_column(col)
    for src in sources:
        label = src.name + (" [revoked]" if src.revoked_at else "")
        seen = src.last_seen_at.strftime("%Y-%m-%d %H:%M:%S") if src.last_seen_at else "-"
        table.add_row(escape(label), seen, f"{src.accepted} / {src.rejected}")
    out.print(table)


@source_app.command("revoke")
@guarded
def source_revoke(
    name: Annotated[str, typer.Argument(help="The source")],
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Revoke a source's token; what it sent stays."""
    with _opened_desk(data_dir, database_url) as desk:
        desk.revoke_source(desk.cases.system("cli"), name)
    out.print(t("Source {name} revoked.", name=name))


# -- watchlist ---------------------------------------------------------------------------------


@watch_app.command("add")
@guarded
def watch_add(
    person: Annotated[str, typer.Argument(help="Who is protected, e.g. 'Orda editor'")],
    kind: Annotated[str, typer.Argument(help="phone, email, iin, address, plate, handle")],
    value: Annotated[str, typer.Argument(help="The identifier, in any usual format")],
    group: Annotated[str, typer.Option(help="Outlet or team: leaks in a group are one case")] = "",
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Protect an identifier: it is looked for in every observation."""
    with _opened_desk(data_dir, database_url) as desk:
        added = desk.watch(desk.cases.system("cli"), person, kind, value, group)
    out.print(t("Watched.") if added else t("Already watched."))


@watch_app.command("import")
@guarded
def watch_import(
    file: Annotated[Path, typer.Argument(help='JSON {"people": [...]} as the detectors read it')],
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Load a watchlist file (e.g. the one 'qorgau simulate' writes)."""
    doc = _read_config(file)
    with _opened_desk(data_dir, database_url) as desk:
        n = desk.watch_people(desk.cases.system("cli"), doc.get("people", []))
    out.print(t("{n} identifiers newly watched.", n=n))


@watch_app.command("list")
@guarded
def watch_list(data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """The watchlist, masked."""
    with _opened_desk(data_dir, database_url) as desk:
        entries = desk.watchlist(desk.cases.system("cli"))
    table = Table()
    for col in ("#", t("person"), t("group"), t("kind"), t("identifier")):
        table.add_column(col)
    for e in entries:
        table.add_row(str(e.id), escape(e.person), escape(e.group), e.kind, e.value)
    out.print(table)


@watch_app.command("remove")
@guarded
def watch_remove(
    entry: Annotated[int, typer.Argument(help="The entry number from 'watchlist list'")],
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Stop watching one identifier."""
    with _opened_desk(data_dir, database_url) as desk:
        desk.unwatch(desk.cases.system("cli"), entry)
    out.print(t("Removed."))


# -- simulation --------------------------------------------------------------------------------


@guarded
def simulate_cmd(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write into")],
    days: Annotated[int, typer.Option(help="How many days of traffic")] = 7,
    outlets: Annotated[int, typer.Option(help="How many outlets")] = 3,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same traffic)")] = 1,
    start: Annotated[
        str | None, typer.Option(help="First day, YYYY-MM-DD (default: last Monday)")
    ] = None,
) -> None:
    """Generate labelled traffic with injected campaigns and their ground truth."""
    from qorgau.detect.simulate import simulate

    if days < 1 or days > 120:
        fail(InvalidInput.single("days", "range", "simulate 1 to 120 days"))
    if outlets < 1 or outlets > 50:
        fail(InvalidInput.single("outlets", "range", "simulate 1 to 50 outlets"))
    if start is None:
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        from datetime import timedelta

        first = today - timedelta(days=today.weekday() + 7)
    else:
        try:
            first = datetime.strptime(start, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            fail(InvalidInput.single("start", "date", f"{start!r} is not a date like 2025-06-02"))
    sim = simulate(seed=seed, start=first, days=days, outlets=outlets)
    sim.write(out_dir)
    out.print(
        t(
            "{n} observations, {c} injected campaigns written to {folder}.",
            n=len(sim.observations),
            c=len(sim.truth),
            folder=str(out_dir),
        )
    )


def load_demo_traffic(store: Any, days: int = 3) -> None:
    """Three simulated days around two outlets, last week, with the Orda Monday in them (fake
    ads, then the flood), through the detectors: the demo desk opens with findings and cases
    to look at. Same seed every time, so a second demo run adds nothing."""
    from datetime import timedelta

    from qorgau.detect.simulate import simulate

    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    monday = today - timedelta(days=today.weekday() + 7)
    sim = simulate(seed=1, start=monday, days=days, outlets=2)
    desk = _desk(store)
    try:
        from qorgau.campaign_desk import CampaignDesk

        principal = desk.cases.system("demo")
        desk.watch_people(principal, sim.watchlist()["people"])
        CampaignDesk(desk.cases).import_registry(principal, "protected", sim.registry())
        rep = desk.ingest(principal, sim.observations)
    finally:
        desk.close()
    processed = rep.processed
    out.print(
        t(
            "Simulated traffic: {n} observations ({new} new); findings: {found}; incidents"
            " opened: {opened}.",
            n=rep.read,
            new=rep.new,
            found=processed.findings if processed else 0,
            opened=len(processed.incidents_opened) if processed else 0,
        )
    )
