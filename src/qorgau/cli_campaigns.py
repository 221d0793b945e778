"""Commands for campaigns and the evidence around them: the exact co-sharing network of an
archive, the registry of protected people and outlets, known media, spyware scan results, and
social-account restrictions with their appeal package.

Registered under ``qorgau detect`` and as their own groups by ``cli_detect.register``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from qorgau.cli import err, fail, guarded, out, t
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

    if not input_file.exists():
        fail(InvalidInput.single("input", "exists", f"{input_file} does not exist"))
    if time_window <= 0:
        fail(InvalidInput.single("time_window", "range", "the time window is above 0 seconds"))
    if min_participation < 0:
        fail(InvalidInput.single("min_participation", "range", "min-participation is 0 or more"))
    if not 0 <= edge_weight <= 1:
        fail(InvalidInput.single("edge_weight", "range", "edge-weight is between 0 and 1"))
    refused = 0
    try:
        shares, without_object = arrays.read_csv_columns(
            input_file, object_col, account_col, content_col, time_col
        )
    except InvalidInput:
        # Not a clean file: read it row by row, say which rows are broken, use the rest.
        read = read_shares(input_file, ShareColumns(object_col, account_col, content_col, time_col))
        for p in read.problems:
            err.print(f"{p}", highlight=False)
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
