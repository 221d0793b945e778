"""Shares in, pairs and edges out, as CSV in CooRTweet's own column names, so that an analyst
can put Qorgau's output beside CooRTweet's (or feed it to the same R or Gephi scripts) without
renaming anything.

Input columns are named by the caller (``--object``, ``--account`` ...), because every export
names them differently; rows whose object is empty (a post without a link, when the object is
the link) are not shares and are counted, not reported as errors. Rows that are broken (no
account, a timestamp that is not a number) are reported with their line and skipped."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from qorgau.detect.coordination import Edge, Pair, Share
from qorgau.errors import InvalidInput
from qorgau.observe.result import ImportProblem

PAIR_COLUMNS = (
    "object_id",
    "content_id",
    "content_id_y",
    "time_delta",
    "account_id",
    "account_id_y",
)
EDGE_COLUMNS = (
    "from",
    "to",
    "weight",
    "avg_time_delta",
    "n_content_id",
    "n_content_id_y",
    "edge_symmetry_score",
    "weight_threshold",
)


@dataclass(frozen=True)
class ShareColumns:
    object_id: str = "object_id"
    account_id: str = "account_id"
    content_id: str = "content_id"
    timestamp: str = "timestamp_share"


@dataclass
class SharesRead:
    shares: list[Share] = field(default_factory=list)
    without_object: int = 0
    problems: list[ImportProblem] = field(default_factory=list)


def read_shares(path: Path, columns: ShareColumns) -> SharesRead:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            return _read(fh, path, columns)
    except UnicodeDecodeError as exc:
        raise InvalidInput.single(
            "input", "encoding", f"{path.name} is not UTF-8 text ({exc.reason}); save it as UTF-8"
        ) from exc


def _read(fh: TextIO, path: Path, columns: ShareColumns) -> SharesRead:
    reader = csv.DictReader(fh)
    header = reader.fieldnames or []
    wanted = (columns.object_id, columns.account_id, columns.content_id, columns.timestamp)
    missing = [c for c in wanted if c not in header]
    if missing:
        raise InvalidInput.single(
            "input",
            "columns",
            f"{path.name} has no column {', '.join(repr(c) for c in missing)}; its columns are "
            f"{', '.join(header) or 'none'}. Name the right ones with --object, --account, "
            "--content and --timestamp",
            tuple(header),
        )
    out = SharesRead()
    for row in reader:
        line = reader.line_num
        obj = (row.get(columns.object_id) or "").strip()
        if not obj:
            out.without_object += 1
            continue
        account = (row.get(columns.account_id) or "").strip()
        content = (row.get(columns.content_id) or "").strip()
        raw_ts = (row.get(columns.timestamp) or "").strip()
        problem = None
        if not account:
            problem = f"no {columns.account_id}"
        elif not content:
            problem = f"no {columns.content_id}"
        else:
            try:
                ts = float(raw_ts)
            except ValueError:
                problem = f"{columns.timestamp} {raw_ts!r} is not a Unix time in seconds"
        if problem is not None:
            out.problems.append(ImportProblem(path.name, line, problem))
            continue
        out.shares.append(Share(obj, account, content, ts))
    return out


def write_pairs(pairs: Iterable[Pair], fh: TextIO) -> int:
    writer = csv.writer(fh, lineterminator="\n")
    writer.writerow(PAIR_COLUMNS)
    n = 0
    for p in pairs:
        writer.writerow(
            (
                p.object_id,
                p.content_id,
                p.content_id_y,
                _num(p.time_delta),
                p.account_id,
                p.account_id_y,
            )
        )
        n += 1
    return n


def write_edges(edges: Iterable[Edge], fh: TextIO) -> int:
    writer = csv.writer(fh, lineterminator="\n")
    writer.writerow(EDGE_COLUMNS)
    n = 0
    for e in edges:
        writer.writerow(
            (
                e.account,
                e.account_y,
                e.weight,
                _num(e.avg_time_delta),
                e.n_content_id,
                e.n_content_id_y,
                _num(e.edge_symmetry_score),
                e.weight_threshold,
            )
        )
        n += 1
    return n


def _num(value: float) -> str:
    """Whole numbers without a trailing ``.0``, as R writes them."""
    return str(int(value)) if float(value).is_integer() else repr(value)
