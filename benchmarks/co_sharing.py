"""Co-sharing network of a real archive: Qorgau beside the QUT coordination-network-toolkit,
in the same run, on the same rows.

    python -m benchmarks.co_sharing                      # german_elections, links, 60 s window
    python -m benchmarks.co_sharing --window 10 --object domain_id

The data is CooRTweet's ``german_elections`` sample (219,000 Facebook and Twitter posts, read in
place from the shared data folder). The object is the shared link (``url_id``; rows without one
are not shares). Both tools get the CSV file and end with the network of accounts: Qorgau reads
it, pairs shares of one object at most ``window`` seconds apart and aggregates the network;
the toolkit loads it into its SQLite database (``preprocess``) and computes its ``co_link``
network with two processes, as its command line would on this two-core machine. Times are
end to end. Agreement compares the sets of account pairs (an account with itself excluded,
every pair with weight at least one, no participation filter), which both define the same
way: two different accounts that shared one link within the window."""

from __future__ import annotations

import argparse
import csv
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.driver import machine
from qorgau.detect import coordination_arrays as arrays

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "coortweet-coordination"


def ours(path: Path, object_col: str, window: float) -> tuple[float, set[frozenset[str]], int]:
    started = time.perf_counter()
    shares, _ = arrays.read_csv_columns(path, object_col, "account_id", "post_id", "timestamp")
    pairs = arrays.coordinated_pair_columns(shares, time_window=window, min_participation=0)
    edges = arrays.network_columns(shares, pairs)
    elapsed = time.perf_counter() - started
    return elapsed, {frozenset((e.account, e.account_y)) for e in edges}, len(shares)


def toolkit(
    path: Path, object_col: str, window: float, workdir: Path
) -> tuple[float, set[frozenset[str]]]:
    from coordination_network_toolkit.compute_networks import compute_co_link_network
    from coordination_network_toolkit.preprocess import preprocess_csv_files

    # Its input format: message_id, user_id, username, repost_id, reply_id, message,
    # timestamp, urls (space separated). Writing it is not timed.
    converted = workdir / "toolkit_input.csv"
    with (
        path.open(newline="", encoding="utf-8") as src,
        converted.open("w", newline="", encoding="utf-8") as dst,
    ):
        writer = csv.writer(dst)
        writer.writerow(
            [
                "message_id",
                "user_id",
                "username",
                "repost_id",
                "reply_id",
                "message",
                "timestamp",
                "urls",
            ]
        )
        for row in csv.DictReader(src):
            if row[object_col]:
                writer.writerow(
                    [
                        row["post_id"],
                        row["account_id"],
                        row["account_id"],
                        "",
                        "",
                        "",
                        row["timestamp"],
                        f"obj/{row[object_col]}",
                    ]
                )
    db = workdir / "toolkit.db"
    started = time.perf_counter()
    preprocess_csv_files(str(db), [str(converted)])
    compute_co_link_network(str(db), window, n_threads=2, min_edge_weight=1)
    elapsed = time.perf_counter() - started
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "select user_1, user_2 from co_link_network where user_1 != user_2"
        ).fetchall()
    return elapsed, {frozenset(r) for r in rows}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; medians reported")
    parser.add_argument(
        "--object", default="url_id", choices=["url_id", "domain_id", "hashtag_id", "phash_id"]
    )
    args = parser.parse_args()
    path = DATA / "german_elections.csv"
    if not path.exists():
        print(
            f"shared data not present: {path.name} (the coortweet-coordination folder)",
            file=sys.stderr,
        )
        return 2
    toolkit_runs, our_runs = [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            seconds, toolkit_edges = toolkit(path, args.object, args.window, Path(tmp))
            toolkit_runs.append(seconds)
        seconds, our_edges, shares = ours(path, args.object, args.window)
        our_runs.append(seconds)
    toolkit_s, ours_s = statistics.median(toolkit_runs), statistics.median(our_runs)
    both = our_edges & toolkit_edges
    print(f"machine: {machine()}")
    print(
        f"data: german_elections, object {args.object}, {shares:,} shares, window {args.window:g} s"
    )
    print("| tool | seconds end to end (median of runs) | account pairs |")
    print("| --- | --- | --- |")
    print(f"| Qorgau (detect.coordination_arrays) | {ours_s:.2f} | {len(our_edges):,} |")
    name = "QUT coordination-network-toolkit co_link, 2 processes"
    print(f"| {name} | {toolkit_s:.2f} | {len(toolkit_edges):,} |")
    print(
        f"speed-up: {toolkit_s / ours_s:.1f}x; pairs in both: {len(both):,}; only Qorgau: "
        f"{len(our_edges - toolkit_edges):,}; only the toolkit: {len(toolkit_edges - our_edges):,}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
