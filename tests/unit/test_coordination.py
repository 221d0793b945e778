"""Co-sharing coordination against CooRTweet's own outputs on its real sample data (read in
place from the shared data folder, skipped with the reason when it is absent): the same pairs
of shares and the same account network, for every parameter set CooRTweet was run with."""

from __future__ import annotations

import csv
import math
from collections import Counter
from pathlib import Path

import pytest

from qorgau.detect.coordination import (
    Pair,
    Share,
    coordinated_pairs,
    coordination_network,
    quantile_type7,
)
from tests.conftest import shared_file

RUNS = [
    ("tw10_mp5_loopsremoved", 10, 5, True),
    ("tw10_mp5_loopskept", 10, 5, False),
    ("tw10_mp2_loopsremoved", 10, 2, True),
]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def russian_tweets() -> list[Share]:
    path = shared_file("coortweet-coordination", "russian_coord_tweets.csv")
    return [
        Share(r["object_id"], r["account_id"], r["content_id"], float(r["timestamp_share"]))
        for r in _rows(path)
    ]


@pytest.mark.parametrize(("tag", "window", "participation", "loops"), RUNS)
def test_pairs_and_network_equal_coortweet(
    russian_tweets: list[Share], tag: str, window: int, participation: int, loops: bool
) -> None:
    pairs = coordinated_pairs(
        russian_tweets,
        time_window=window,
        min_participation=participation,
        remove_loops=loops,
    )
    expected = Counter(
        (
            r["object_id"],
            r["content_id"],
            r["content_id_y"],
            float(r["time_delta"]),
            r["account_id"],
            r["account_id_y"],
        )
        for r in _rows(
            shared_file("coortweet-coordination", "reference_outputs", f"detect_groups_{tag}.csv")
        )
    )
    assert (
        Counter(
            (p.object_id, p.content_id, p.content_id_y, p.time_delta, p.account_id, p.account_id_y)
            for p in pairs
        )
        == expected
    )

    edges = {frozenset((e.account, e.account_y)): e for e in coordination_network(pairs)}
    reference = _rows(
        shared_file("coortweet-coordination", "reference_outputs", f"network_edges_{tag}.csv")
    )
    assert set(edges) == {frozenset((r["from"], r["to"])) for r in reference}
    for r in reference:
        e = edges[frozenset((r["from"], r["to"]))]
        assert (e.weight, e.n_content_id, e.n_content_id_y, e.weight_threshold) == (
            int(r["weight"]),
            int(r["n_content_id"]),
            int(r["n_content_id_y"]),
            int(r["weight_threshold"]),
        )
        # R writes 15 significant digits.
        assert math.isclose(e.avg_time_delta, float(r["avg_time_delta"]), rel_tol=1e-12)
        assert math.isclose(e.edge_symmetry_score, float(r["edge_symmetry_score"]), rel_tol=1e-12)


def test_coortweet_upstream_oracle_on_loops(russian_tweets: list[Share]) -> None:
    """CooRTweet's own test: this account only coordinates with itself."""
    account = "9fa51ef17278c01d13d313741eddfc0b"

    def edges_of(loops: bool) -> int:
        pairs = coordinated_pairs(
            russian_tweets, time_window=10, min_participation=5, remove_loops=loops
        )
        return sum(account in (e.account, e.account_y) for e in coordination_network(pairs))

    assert edges_of(True) == 0
    assert edges_of(False) > 0


def test_a_small_case_by_hand() -> None:
    shares = [
        Share("url1", "a", "a1", 100),
        Share("url1", "b", "b1", 104),
        Share("url1", "c", "c1", 200),  # too late for the others
        Share("url2", "a", "a2", 300),
        Share("url2", "b", "b2", 300),  # the same second: input order decides
        Share("url2", "a", "a3", 305),  # the same account again: a loop
    ]
    pairs = coordinated_pairs(shares, time_window=10, min_participation=1, remove_loops=True)
    assert set(pairs) == {
        Pair("url1", "a1", "b1", 4, "a", "b"),
        Pair("url2", "a2", "b2", 0, "a", "b"),
        Pair("url2", "b2", "a3", 5, "b", "a"),
    }
    (edge,) = coordination_network(pairs)
    assert (edge.account, edge.account_y, edge.weight) == ("a", "b", 3)
    assert edge.avg_time_delta == 3
    assert (edge.n_content_id, edge.n_content_id_y) == (3, 3)


def test_quantile_matches_r_type_7() -> None:
    # R: quantile(c(1, 2, 3, 4, 10), 0.5) == 3; quantile(c(1, 2, 3, 4), 0.5) == 2.5;
    # quantile(c(1, 1, 1, 2, 5, 9), 0.9) == 7
    assert quantile_type7([10, 1, 3, 2, 4], 0.5) == 3
    assert quantile_type7([1, 2, 3, 4], 0.5) == 2.5
    assert math.isclose(quantile_type7([1, 1, 1, 2, 5, 9], 0.9), 7.0)


@pytest.mark.parametrize(("tag", "window", "participation", "loops"), RUNS)
def test_column_version_equals_the_object_version(
    russian_tweets: list[Share], tag: str, window: int, participation: int, loops: bool
) -> None:
    """The array path used for large archives gives the same pairs and edges."""
    from qorgau.detect import coordination_arrays as arrays

    cols = arrays.columns_from_arrays(
        [s.object_id for s in russian_tweets],
        [s.account_id for s in russian_tweets],
        [s.content_id for s in russian_tweets],
        [s.timestamp for s in russian_tweets],
    )
    settings = {"time_window": window, "min_participation": participation, "remove_loops": loops}
    expected = coordinated_pairs(russian_tweets, **settings)  # type: ignore[arg-type]
    found = arrays.coordinated_pair_columns(cols, **settings)  # type: ignore[arg-type]
    assert Counter(arrays.pairs_of(cols, found)) == Counter(expected)
    by_pair = {frozenset((e.account, e.account_y)): e for e in coordination_network(expected)}
    columns = arrays.network_columns(cols, found)
    assert len(columns) == len(by_pair)
    for e in columns:
        ref = by_pair[frozenset((e.account, e.account_y))]
        assert (e.account, e.weight, e.n_content_id, e.n_content_id_y, e.weight_threshold) == (
            ref.account,
            ref.weight,
            ref.n_content_id,
            ref.n_content_id_y,
            ref.weight_threshold,
        )
        assert math.isclose(e.avg_time_delta, ref.avg_time_delta, rel_tol=1e-12)


def test_column_version_on_a_small_case_by_hand() -> None:
    from qorgau.detect import coordination_arrays as arrays

    cols = arrays.columns_from_arrays(
        ["url1", "url1", "url1", "url2", "url2", "url2", "p9"],
        ["a", "b", "c", "a", "b", "a", "d"],
        ["a1", "b1", "c1", "a2", "b2", "a3", "p9"],
        [100, 104, 200, 300, 300, 305, 1],
    )
    pairs = arrays.pairs_of(
        cols, arrays.coordinated_pair_columns(cols, time_window=10, min_participation=1)
    )
    assert set(pairs) == {
        Pair("url1", "a1", "b1", 4, "a", "b"),
        Pair("url2", "a2", "b2", 0, "a", "b"),
        Pair("url2", "b2", "a3", 5, "b", "a"),
    }
