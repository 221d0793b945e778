"""The co-sharing computation of ``detect.coordination`` over columns instead of objects, for
archives of millions of shares.

Same definition, same pairs, same network (tested against both the object version and
CooRTweet's own outputs); only the representation differs. Strings are dictionary-encoded once
(Arrow), every step after that is a NumPy operation over integer codes, and the pairs inside an
object's time window are found by comparing each share with the one ``k`` places later for
``k = 1, 2, ...`` while any such comparison still falls inside the window: shares are sorted by
object and time, so a share whose ``k``-th neighbour is too late has no later partner either,
and the work is proportional to the pairs found."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from qorgau.detect.coordination import Edge, Pair
from qorgau.errors import InvalidInput

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ShareColumns:
    """Shares as codes into ``names`` (objects and contents share one dictionary, so that a
    post sharing itself can be recognised)."""

    object_code: IntArray
    account_code: IntArray
    content_code: IntArray
    timestamp: FloatArray
    names: list[str]  # object and content ids
    accounts: list[str]

    def __len__(self) -> int:
        return len(self.timestamp)


@dataclass(frozen=True)
class PairColumns:
    """Pairs as row indices into the shares: ``x`` is the older share."""

    x: IntArray
    y: IntArray
    time_delta: FloatArray


def read_csv_columns(
    path: Path, object_col: str, account_col: str, content_col: str, time_col: str
) -> tuple[ShareColumns, int]:
    """Shares from a CSV file and how many rows had no object (not shares). Rows with an
    object but no account, no content id or no time are refused as a whole file here: this
    fast path is for clean archives; ``coordination_csv`` reports such rows one by one."""
    try:
        table = pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                include_columns=[object_col, account_col, content_col, time_col],
                column_types={
                    object_col: pa.string(),
                    account_col: pa.string(),
                    content_col: pa.string(),
                    time_col: pa.float64(),
                },
                strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, KeyError) as exc:
        raise InvalidInput.single(
            "input", "csv", f"{path.name} cannot be read as shares: {exc}"
        ) from exc
    has_object = pc.and_(pc.is_valid(table[object_col]), pc.not_equal(table[object_col], ""))
    without = len(table) - int(pc.sum(has_object).as_py() or 0)
    table = table.filter(has_object)
    for col in (account_col, content_col, time_col):
        if table[col].null_count:
            raise InvalidInput.single(
                "input", "missing", f"{table[col].null_count} shares have no {col}"
            )
    return columns_from_arrays(
        table[object_col], table[account_col], table[content_col], table[time_col].to_numpy()
    ), without


def columns_from_arrays(
    objects: object, accounts: object, contents: object, timestamps: npt.ArrayLike
) -> ShareColumns:
    """Encode string columns (Python lists or Arrow arrays) once, so that everything after
    works on integers."""
    obj, content = _arrow(objects), _arrow(contents)
    n = len(obj)
    joint = pc.dictionary_encode(pa.concat_arrays([obj, content]))
    codes = joint.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    acc = pc.dictionary_encode(_arrow(accounts))
    return ShareColumns(
        object_code=codes[:n],
        account_code=acc.indices.to_numpy(zero_copy_only=False).astype(np.int64),
        content_code=codes[n:],
        timestamp=np.asarray(timestamps, dtype=np.float64),
        names=joint.dictionary.to_pylist(),
        accounts=acc.dictionary.to_pylist(),
    )


def _arrow(values: object) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks().cast(pa.string())
    if isinstance(values, pa.Array):
        return values.cast(pa.string())
    return pa.array(values, pa.string())


def coordinated_pair_columns(
    shares: ShareColumns,
    *,
    time_window: float = 10,
    min_participation: int = 2,
    remove_loops: bool = True,
) -> PairColumns:
    acc = shares.account_code
    per_account = np.bincount(acc, minlength=len(shares.accounts))
    kept_rows = np.flatnonzero(per_account[acc] >= min_participation)
    # Regroup by account in order of first appearance (CooRTweet's pre-filter order): the
    # position decides which of two shares made at the same second comes first.
    first_index = np.full(len(shares.accounts), len(shares), dtype=np.int64)
    np.minimum.at(first_index, acc, np.arange(len(shares), dtype=np.int64))
    regrouped = kept_rows[np.argsort(first_index[acc[kept_rows]], kind="stable")]
    position = np.empty(len(shares), dtype=np.int64)
    position[regrouped] = np.arange(len(regrouped), dtype=np.int64)

    obj = shares.object_code[regrouped]
    ts = shares.timestamp[regrouped]
    order = np.lexsort((position[regrouped], ts, obj))
    rows = regrouped[order]
    obj, ts = obj[order], ts[order]
    firsts: list[IntArray] = []
    seconds: list[IntArray] = []
    active = np.arange(len(rows) - 1, dtype=np.int64)
    k = 1
    while active.size:
        later = active + k
        inside = later < len(rows)
        active, later = active[inside], later[inside]
        inside = (obj[later] == obj[active]) & (ts[later] - ts[active] <= time_window)
        active, later = active[inside], later[inside]
        a, b = rows[active], rows[later]
        a_first = position[a] < position[b]
        firsts.append(np.where(a_first, a, b))
        seconds.append(np.where(a_first, b, a))
        k += 1
    x = np.concatenate(firsts) if firsts else np.empty(0, dtype=np.int64)
    y = np.concatenate(seconds) if seconds else np.empty(0, dtype=np.int64)
    if remove_loops:
        cx, cy = shares.content_code[x], shares.content_code[y]
        ox = shares.object_code[x]
        loop = (ox == cx) | (ox == cy) | (cx == cy) | (acc[x] == acc[y])
        x, y = x[~loop], y[~loop]
    if min_participation >= 1:
        x, y = _filter_min_participation(shares, regrouped, x, y, min_participation)
    delta = shares.timestamp[x] - shares.timestamp[y]
    swap = delta > 0
    x, y = np.where(swap, y, x), np.where(swap, x, y)
    return PairColumns(x, y, np.abs(delta))


def _filter_min_participation(
    shares: ShareColumns, kept: IntArray, x: IntArray, y: IntArray, min_participation: int
) -> tuple[IntArray, IntArray]:
    content = shares.content_code
    in_pairs = np.zeros(len(shares.names), dtype=bool)
    in_pairs[content[x]] = True
    in_pairs[content[y]] = True
    counted = kept[in_pairs[content[kept]]]
    counts = np.bincount(shares.account_code[counted], minlength=len(shares.accounts))
    qualifying = np.zeros(len(shares.names), dtype=bool)
    qualifying[content[counted[counts[shares.account_code[counted]] >= min_participation]]] = True
    keep = qualifying[content[x]] | qualifying[content[y]]
    return x[keep], y[keep]


def pairs_of(shares: ShareColumns, pairs: PairColumns) -> list[Pair]:
    names, accounts = shares.names, shares.accounts
    return [
        Pair(
            names[shares.object_code[i]],
            names[shares.content_code[i]],
            names[shares.content_code[j]],
            float(d),
            accounts[shares.account_code[i]],
            accounts[shares.account_code[j]],
        )
        for i, j, d in zip(
            pairs.x.tolist(), pairs.y.tolist(), pairs.time_delta.tolist(), strict=True
        )
    ]


def network_columns(
    shares: ShareColumns, pairs: PairColumns, edge_weight: float = 0.5
) -> list[Edge]:
    """``coordination.coordination_network`` over columns: one edge per unordered pair of
    accounts (the smaller id first, as CooRTweet standardises them)."""
    if not 0 <= edge_weight <= 1:
        raise ValueError("edge_weight is a quantile between 0 and 1")
    if not len(pairs.x):
        return []
    accounts = shares.accounts
    rank = np.empty(len(accounts), dtype=np.int64)
    by_name = pc.sort_indices(pa.array(accounts, pa.string())).to_numpy().astype(np.int64)
    rank[by_name] = np.arange(len(accounts))
    ax, ay = shares.account_code[pairs.x], shares.account_code[pairs.y]
    low = np.where(rank[ax] <= rank[ay], ax, ay)
    high = np.where(rank[ax] <= rank[ay], ay, ax)
    n_acc = len(accounts)
    key = low * n_acc + high
    uniq, first, inverse, weight = np.unique(
        key, return_index=True, return_inverse=True, return_counts=True
    )
    mean_delta = np.bincount(inverse, weights=pairs.time_delta) / weight
    n_content = len(shares.names)
    nx = _distinct_per_edge(inverse, shares.content_code[pairs.x], n_content, len(uniq))
    ny = _distinct_per_edge(inverse, shares.content_code[pairs.y], n_content, len(uniq))
    threshold = float(np.quantile(weight, edge_weight, method="linear"))
    edges = []
    for e in np.argsort(first, kind="stable").tolist():
        a, b = divmod(int(uniq[e]), n_acc)
        edges.append(
            Edge(
                account=accounts[a],
                account_y=accounts[b],
                weight=int(weight[e]),
                avg_time_delta=float(mean_delta[e]),
                n_content_id=int(nx[e]),
                n_content_id_y=int(ny[e]),
                edge_symmetry_score=float(min(nx[e], ny[e]) / max(nx[e], ny[e])),
                weight_threshold=int(weight[e] > threshold),
            )
        )
    return edges


def _distinct_per_edge(edge: IntArray, content: IntArray, n_content: int, n_edges: int) -> IntArray:
    combined = np.unique(edge * n_content + content)
    return np.bincount(combined // n_content, minlength=n_edges).astype(np.int64)
