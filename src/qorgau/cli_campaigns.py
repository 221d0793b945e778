"""Commands for campaigns and the evidence around them: the exact co-sharing network of an
archive, the registry of protected people and outlets, known media, spyware scan results, and
social-account restrictions with their appeal package.

Registered under ``qorgau detect`` and as their own groups by ``cli_detect.register``."""

from __future__ import annotations

import contextlib
import json
import sys
import tomllib
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from qorgau.cli import (
    ERROR_LABEL,
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
from qorgau.errors import InvalidInput


@guarded
def co_sharing_cmd(
    input_file: Annotated[Path, typer.Option("--input", help="CSV of shares, one per row")],
    edges_out: Annotated[
        Path, typer.Option("--edges-out", help="Write the account network here (CSV)")
    ],
    pairs_out: Annotated[
        Path | None, typer.Option("--pairs-out", help="Also write the coordinated pairs (CSV)")
    ] = None,
    time_window: Annotated[
        float, typer.Option("--time-window", help="Seconds between two shares of one object")
    ] = 10,
    min_participation: Annotated[
        int, typer.Option("--min-participation", help="Fewest shares an account must have")
    ] = 2,
    keep_loops: Annotated[
        bool, typer.Option("--keep-loops", help="Keep an account's pairs with itself")
    ] = False,
    edge_weight: Annotated[
        float, typer.Option("--edge-weight", help="Quantile of weights that marks strong edges")
    ] = 0.5,
    object_col: Annotated[str, typer.Option("--object", help="Column of the shared object")] = (
        "object_id"
    ),
    account_col: Annotated[str, typer.Option("--account", help="Column of the account")] = (
        "account_id"
    ),
    content_col: Annotated[str, typer.Option("--content", help="Column of the post's id")] = (
        "content_id"
    ),
    time_col: Annotated[
        str, typer.Option("--timestamp", help="Column of the Unix time in seconds")
    ] = "timestamp_share",
) -> None:
    """The co-sharing network of a whole archive, computed exactly as CooRTweet does."""
    from qorgau.detect import coordination_arrays as arrays
    from qorgau.detect.coordination_csv import ShareColumns, read_shares, write_edges, write_pairs

    readable_file(input_file, "input")
    writable_file(edges_out, "edges_out")
    if pairs_out is not None:
        writable_file(pairs_out, "pairs_out")
    if time_window <= 0:
        fail(InvalidInput.single("time_window", "range", "give --time-window above 0, e.g. 10"))
    if min_participation < 0:
        fail(InvalidInput.single("min_participation", "range", "give --min-participation ≥ 0"))
    if not 0 <= edge_weight <= 1:
        fail(InvalidInput.single("edge_weight", "range", "give --edge-weight between 0 and 1"))
    refused = 0
    try:
        shares, without_object = arrays.read_csv_columns(
            input_file, object_col, account_col, content_col, time_col
        )
    except InvalidInput:
        # Not a clean file: read it row by row, say which rows are broken, use the rest.
        read = read_shares(input_file, ShareColumns(object_col, account_col, content_col, time_col))
        for p in read.problems:
            err.print(escape(str(p)), highlight=False)
        refused, without_object = len(read.problems), read.without_object
        shares = arrays.columns_from_arrays(
            [s.object_id for s in read.shares],
            [s.account_id for s in read.shares],
            [s.content_id for s in read.shares],
            [s.timestamp for s in read.shares],
        )
    pair_cols = arrays.coordinated_pair_columns(
        shares,
        time_window=time_window,
        min_participation=min_participation,
        remove_loops=not keep_loops,
    )
    edges = arrays.network_columns(shares, pair_cols, edge_weight=edge_weight)
    if pairs_out is not None:
        with pairs_out.open("w", encoding="utf-8", newline="") as fh:
            write_pairs(arrays.pairs_of(shares, pair_cols), fh)
    with edges_out.open("w", encoding="utf-8", newline="") as fh:
        write_edges(edges, fh)
    accounts = {a for e in edges for a in (e.account, e.account_y)}
    out.print(
        t(
            "{shares} shares read ({skipped} without an object, {bad} refused): {pairs} "
            "coordinated pairs, {edges} edges between {accounts} accounts.",
            shares=len(shares),
            skipped=without_object,
            bad=refused,
            pairs=len(pair_cols.x),
            edges=len(edges),
            accounts=len(accounts),
        ),
        highlight=False,
    )


# -- registries, spyware, account actions, media -------------------------------------------

registry_app = typer.Typer(
    no_args_is_help=True,
    help="Registries the detectors read: protected people and outlets, known media.",
)
spyware_app = typer.Typer(no_args_is_help=True, help="Spyware scan results (MVT).")
accounts_app = typer.Typer(
    no_args_is_help=True, help="Platform actions against protected accounts; appeals."
)
media_app = typer.Typer(no_args_is_help=True, help="Images and videos: known fakes, credentials.")

RegistryKind = Annotated[str, typer.Argument(help="protected (people and outlets) or media")]


def register(app: typer.Typer) -> None:
    app.add_typer(registry_app, name="registry")
    app.add_typer(spyware_app, name="spyware")
    app.add_typer(accounts_app, name="accounts")
    app.add_typer(media_app, name="media")


@contextlib.contextmanager
def _opened_campaigns(data_dir: Path | None, database_url: str | None) -> Iterator[Any]:
    from qorgau.campaign_desk import CampaignDesk
    from qorgau.desk import CaseDesk

    with opened_store(settings(data_dir, database_url)) as store:
        yield CampaignDesk(CaseDesk(store))


def _read_document(path: Path) -> Any:
    """A registry file as JSON or TOML, refused with the parser's own words if it is neither."""
    readable_file(path, "file")
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".toml":
            return tomllib.loads(text)
        return json.loads(text)
    except UnicodeDecodeError:
        fail(InvalidInput.single("file", "encoding", f"{path.name} is not UTF-8 text"))
    except OSError as exc:
        fail(InvalidInput.single("file", "readable", f"{path} cannot be read ({exc.strerror})"))
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        fail(InvalidInput.single("file", "syntax", f"{path.name}: {exc}; fix it and import again"))


@registry_app.command("import")
@guarded
def registry_import(
    kind: RegistryKind,
    file: Annotated[Path, typer.Argument(help="The registry file (JSON or TOML)")],
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace the stored registry instead of adding")
    ] = False,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Add a registry file's entries (conflicting entries are skipped and reported)."""
    doc = _read_document(file)
    with _opened_campaigns(data_dir, database_url) as desk:
        result = desk.import_registry(desk.cases.system("cli"), kind, doc, replace=replace)
    for problem in result.problems:
        err.print(escape(problem), highlight=False)
    out.print(
        t(
            "Registry {kind}: {n} entries kept (version {version}), {problems} problems.",
            kind=kind,
            n=result.entries,
            version=result.version,
            problems=len(result.problems),
        ),
        highlight=False,
    )


@registry_app.command("show")
@guarded
def registry_show(kind: RegistryKind, data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """The stored registry as JSON."""
    with _opened_campaigns(data_dir, database_url) as desk:
        doc = desk.registry(desk.cases.system("cli"), kind)
    sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")


@spyware_app.command("import")
@guarded
def spyware_import(
    paths: Annotated[list[Path], typer.Argument(help="MVT's output folder, a zip of it, or files")],
    person: Annotated[
        str | None, typer.Option("--person", help="Whose phone (a watchlist name)")
    ] = None,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Read MVT results; detections open a critical case with the files kept as evidence."""
    with _opened_campaigns(data_dir, database_url) as desk:
        result = desk.import_spyware(desk.cases.system("cli"), paths, person=person)
    for problem in result.problems:
        err.print(escape(str(problem)), highlight=False)
    out.print(escape(result.report.summary()), highlight=False)
    if result.case is None:
        out.print(t("No indicator of compromise was found; no case was opened."))
        return
    out.print(
        t(
            "Critical case {case} opened; {n} files kept as evidence.",
            case=result.case,
            n=len(result.evidence),
        ),
        highlight=False,
    )
    out.print(t("Forensic labs to refer to:"))
    for lab in result.referral.get("labs", []):
        out.print(escape(f"- {lab['name']}: {lab['contact']}"), highlight=False)


action_app = typer.Typer(no_args_is_help=True, help="Strikes, restrictions, suspensions.")
accounts_app.add_typer(action_app, name="action")


@action_app.command("add")
@guarded
def action_add(
    platform: Annotated[str, typer.Option(help="e.g. instagram, youtube, telegram")],
    account: Annotated[str, typer.Option(help="The handle or profile URL")],
    action: Annotated[str, typer.Option(help="strike, restriction, suspension, removal...")],
    at: Annotated[
        str, typer.Option(help="When, ISO 8601 with a zone, e.g. 2025-06-04T10:00+05:00")
    ],
    reason: Annotated[str, typer.Option(help="The platform's stated reason")] = "",
    reference: Annotated[str, typer.Option(help="The platform's reference number")] = "",
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Record one platform action against a protected account."""
    from qorgau.detect.account_actions import new_account_action

    try:
        when = datetime.fromisoformat(at)
    except ValueError:
        fail(InvalidInput.single("at", "format", f"{at!r} is not an ISO 8601 time"))
    if when.tzinfo is None:
        fail(InvalidInput.single("at", "timezone", "give the time with its zone, e.g. +05:00"))
    record = new_account_action(platform, account, action, when, reason=reason, reference=reference)
    with _opened_campaigns(data_dir, database_url) as desk:
        added = desk.record_action(desk.cases.system("cli"), record)
    out.print(t("Recorded.") if added else t("Already recorded."))


@action_app.command("import")
@guarded
def action_import(
    file: Annotated[Path, typer.Argument(help="CSV or JSON Lines of platform notices")],
    platform: Annotated[
        str | None, typer.Option(help="The platform, when the file has no such column")
    ] = None,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Import a list of platform actions; bad rows are named and skipped."""
    with _opened_campaigns(data_dir, database_url) as desk:
        result = desk.import_actions(desk.cases.system("cli"), file, platform=platform)
    for p in result.problems:
        err.print(f"[red]{t(ERROR_LABEL)}:[/red] {escape(str(p))}", highlight=False)
    out.print(
        t(
            "{added} actions recorded ({read} read, {bad} rows refused).",
            added=result.added,
            read=result.read,
            bad=len(result.problems),
        )
    )


@accounts_app.command("list")
@guarded
def accounts_list(
    platform: Annotated[str | None, typer.Option(help="Only this platform")] = None,
    account: Annotated[str | None, typer.Option(help="Only this account")] = None,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Recorded platform actions, oldest first."""
    with _opened_campaigns(data_dir, database_url) as desk:
        actions = desk.actions(desk.cases.system("cli"), platform=platform, account=account)
    table = Table()
    for col in (t("time"), t("platform"), t("account"), t("action"), t("reason")):
        table.add_column(col)
    for a in actions:
        table.add_row(
            a.at.isoformat(), escape(a.platform), escape(a.account), a.action, escape(a.reason)
        )
    out.print(table)


@accounts_app.command("appeal")
@guarded
def accounts_appeal(
    outlet: Annotated[str, typer.Option(help="The outlet the account belongs to")],
    platform: Annotated[str, typer.Option(help="The platform")],
    account: Annotated[str, typer.Option(help="The restricted account")],
    out_file: Annotated[Path, typer.Option("--out", help="The .zip to write")],
    lang: Annotated[str, typer.Option(help="en, ru or kk")] = "en",
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """The appeal package for a platform's escalation team: timeline, evidence, clusters."""
    from qorgau.detect.appeal_package import write_appeal_zip

    writable_file(out_file, "out")
    with _opened_campaigns(data_dir, database_url) as desk:
        package = desk.appeal(
            desk.cases.system("cli"),
            outlet=outlet,
            platform=platform,
            account=account,
            language=lang,
        )
    write_appeal_zip(package, out_file)
    out.print(
        t(
            "Appeal written to {path}: {actions} actions, {waves} complaint waves, "
            "{clusters} coordinated clusters, {evidence} evidence items.",
            path=str(out_file),
            actions=len(package.actions),
            waves=len(package.waves),
            clusters=len(package.clusters),
            evidence=len(package.evidence),
        ),
        highlight=False,
    )


@media_app.command("check")
@guarded
def media_check(
    file: Annotated[Path, typer.Argument(help="A picture or a video")],
    anchors: Annotated[
        Path | None, typer.Option("--anchors", help="PEM file of trusted C2PA signers' CAs")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The whole report as JSON")] = False,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Is this a known fake, an altered original? What do its content credentials say?"""
    if not file.is_file():
        fail(InvalidInput.single("file", "exists", f"{file} does not exist"))
    pem = (
        readable_file(anchors, "anchors").read_text(encoding="utf-8", errors="replace")
        if anchors
        else None
    )
    with _opened_campaigns(data_dir, database_url) as desk:
        checked = desk.check_media(desk.cases.system("cli"), file, pem)
    if as_json:
        sys.stdout.write(json.dumps(checked.to_json(), ensure_ascii=False, indent=2) + "\n")
        return
    out.print(escape(checked.verdict), highlight=False)
    out.print(t("Content credentials: {state}", state=checked.credentials.state))
    for m in checked.matches:
        entry = m.entry
        out.print(
            escape(f"- {entry.label}: {entry.id} {entry.title} {entry.url} {entry.date}".rstrip()),
            highlight=False,
        )
    for h in checked.hash_strings():
        out.print(h, highlight=False)


@media_app.command("register")
@guarded
def media_register(
    file: Annotated[Path, typer.Argument(help="The picture or video to register")],
    entry_id: Annotated[str, typer.Option("--id", help="A short id, e.g. fake-resignation")],
    label: Annotated[str, typer.Option(help="original or fake")],
    title: Annotated[str, typer.Option(help="What it is")] = "",
    url: Annotated[str, typer.Option(help="Where it was published or debunked")] = "",
    date: Annotated[str, typer.Option(help="When, YYYY-MM-DD")] = "",
    notes: Annotated[str, typer.Option(help="Anything a responder should know")] = "",
    subject: Annotated[
        list[str] | None, typer.Option(help="A protected person it concerns (repeatable)")
    ] = None,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Add a file to the known-media registry as an original or a known fake."""
    if not file.is_file():
        fail(InvalidInput.single("file", "exists", f"{file} does not exist"))
    with _opened_campaigns(data_dir, database_url) as desk:
        result = desk.register_media(
            desk.cases.system("cli"),
            file,
            entry_id=entry_id,
            label=label,
            title=title,
            url=url,
            date=date,
            notes=notes,
            subjects=tuple(subject or ()),
        )
    for problem in result.problems:
        err.print(escape(problem), highlight=False)
    out.print(
        t(
            "Registry {kind}: {n} entries kept (version {version}), {problems} problems.",
            kind="media",
            n=result.entries,
            version=result.version,
            problems=len(result.problems),
        ),
        highlight=False,
    )


@guarded
def near_duplicates_cmd(
    input_file: Annotated[
        Path, typer.Option("--input", help="JSON Lines of posts: id, account, time, text")
    ],
    out_file: Annotated[Path, typer.Option("--out", help="Write the campaigns here (JSONL)")],
    workers: Annotated[int, typer.Option(help="Processes folding and hashing the texts")] = 2,
    window_minutes: Annotated[
        float, typer.Option("--window-minutes", help="How close in time copies must be")
    ] = 120,
    min_accounts: Annotated[
        int, typer.Option("--min-accounts", help="Fewest distinct accounts in a campaign")
    ] = 8,
    similarity: Annotated[
        float | None,
        typer.Option(help="Jaccard threshold (default: estimated from the data)"),
    ] = None,
    min_score: Annotated[
        float, typer.Option("--min-score", help="Similarity × concentration in time, 0–1")
    ] = 0.7,
    kinds: Annotated[
        str, typer.Option(help="Observation kinds compared, comma-separated")
    ] = "post,comment,message",
) -> None:
    """Copy-paste campaigns in a whole archive at once (millions of posts), with the
    near-duplicate detector's engine; one JSON line per campaign."""
    from qorgau.detect import near_duplicates as nd
    from qorgau.detect.detectors.near_duplicate_texts import redact
    from qorgau.observe.importers import read_observations_jsonl

    readable_file(input_file, "input")
    writable_file(out_file, "out")
    if workers < 1:
        fail(InvalidInput.single("workers", "range", "give --workers 1 or more"))
    if min_accounts < 2:
        fail(InvalidInput.single("min_accounts", "range", "give --min-accounts 2 or more"))
    if window_minutes <= 0:
        fail(InvalidInput.single("window_minutes", "range", "give --window-minutes above 0"))
    if similarity is not None and not 0.2 <= similarity <= 1:
        fail(InvalidInput.single("similarity", "range", "the similarity is between 0.2 and 1"))
    read = read_observations_jsonl(input_file, exact_ids=True)
    for p in read.problems:
        err.print(escape(str(p)), highlight=False)
    wanted = {k.strip() for k in kinds.split(",") if k.strip()}
    posts = [o for o in read.observations if o.text.strip() and o.kind in wanted]
    texts = [o.text for o in posts]
    settings_ = nd.Settings(
        window_seconds=window_minutes * 60,
        min_accounts=min_accounts,
        similarity=similarity,
        min_score=min_score,
    )
    prepared = nd.prepare_parallel(texts, workers)
    result = nd.find_clusters(
        texts, [o.account for o in posts], [o.time.timestamp() for o in posts], settings_,
        prepared=prepared,
    )  # fmt: skip
    with out_file.open("w", encoding="utf-8") as fh:
        for c in result.clusters:
            doc = {
                "accounts": list(c.accounts),
                "posts": len(c.members),
                "start": posts[c.members[0]].time.isoformat(),
                "end": posts[c.members[-1]].time.isoformat(),
                "score": round(c.score, 4),
                "similarity": round(c.similarity, 4),
                "representatives": [redact(texts[i])[:280] for i in c.representatives],
                "observation_ids": [posts[i].id for i in c.members],
            }
            fh.write(json.dumps(doc, ensure_ascii=False) + "\n")
    out.print(
        t(
            "{n} posts read ({bad} lines refused): {campaigns} copy-paste campaigns; "
            "similarity threshold {threshold} ({how}).",
            n=len(posts),
            bad=len(read.problems),
            campaigns=len(result.clusters),
            threshold=f"{result.threshold:.2f}",
            how=(
                t("estimated from the data")
                if result.estimated
                else t("as set")
                if similarity is not None
                else t("the default: the data showed no clear split")
            ),
        ),
        highlight=False,
    )
