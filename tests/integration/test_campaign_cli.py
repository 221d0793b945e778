"""The campaign commands as a user runs them: the exact co-sharing network of an archive
(equal to CooRTweet's own output files), with broken rows named by line and never a traceback."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from tests.conftest import shared_file
from tests.integration.test_cli import no_traceback, qorgau

RUNS = [
    ("tw10_mp5_loopsremoved", "5", ()),
    ("tw10_mp5_loopskept", "5", ("--keep-loops",)),
    ("tw10_mp2_loopsremoved", "2", ()),
]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize(("tag", "participation", "extra"), RUNS)
def test_co_sharing_files_equal_coortweet_files(
    tmp_path: Path, tag: str, participation: str, extra: tuple[str, ...]
) -> None:
    tweets = shared_file("coortweet-coordination", "russian_coord_tweets.csv")
    edges, pairs = tmp_path / "edges.csv", tmp_path / "pairs.csv"
    r = qorgau(
        "detect", "co-sharing", "--input", str(tweets), "--edges-out", str(edges),
        "--pairs-out", str(pairs), "--time-window", "10",
        "--min-participation", participation, *extra, data_dir=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    reference = "coortweet-coordination", "reference_outputs"
    want_pairs = _rows(shared_file(*reference, f"detect_groups_{tag}.csv"))
    got_pairs = _rows(pairs)
    assert sorted(map(_pair_key, got_pairs)) == sorted(map(_pair_key, want_pairs))
    want = {
        frozenset((e["from"], e["to"])): e
        for e in _rows(shared_file(*reference, f"network_edges_{tag}.csv"))
    }
    got = {frozenset((e["from"], e["to"])): e for e in _rows(edges)}
    assert got.keys() == want.keys()
    for key, e in got.items():
        w = want[key]
        for column in ("weight", "n_content_id", "n_content_id_y", "weight_threshold"):
            assert int(e[column]) == int(w[column]), column
        for column in ("avg_time_delta", "edge_symmetry_score"):
            assert math.isclose(float(e[column]), float(w[column]), rel_tol=1e-12), column
    assert f"{len(want_pairs)} coordinated pairs" in r.stdout


def _pair_key(row: dict[str, str]) -> tuple[str, ...]:
    return (
        row["object_id"],
        row["content_id"],
        row["content_id_y"],
        str(float(row["time_delta"])),
        row["account_id"],
        row["account_id_y"],
    )


def test_broken_rows_are_named_and_the_rest_used(tmp_path: Path) -> None:
    shares = tmp_path / "shares.csv"
    shares.write_text(
        "link,who,post,when\n"
        "u1,a,a1,100\n"
        "u1,b,b1,103\n"
        ",c,c1,104\n"  # no link: not a share
        "u1,,d1,105\n"  # no account: broken
        "u1,e,e1,soon\n",  # no time: broken
        encoding="utf-8",
    )
    edges = tmp_path / "edges.csv"
    r = qorgau(
        "detect", "co-sharing", "--input", str(shares), "--edges-out", str(edges),
        "--object", "link", "--account", "who", "--content", "post", "--timestamp", "when",
        "--min-participation", "1", data_dir=tmp_path,
    )  # fmt: skip
    no_traceback(r)
    assert r.returncode == 0, r.stderr
    assert "shares.csv:5" in r.stderr and "shares.csv:6" in r.stderr
    assert "'soon'" in r.stderr
    assert [(e["from"], e["to"], e["weight"]) for e in _rows(edges)] == [("a", "b", "1")]
    assert "1 without an object, 2 refused" in r.stdout


def test_wrong_column_names_say_which_exist(tmp_path: Path) -> None:
    shares = tmp_path / "shares.csv"
    shares.write_text("link,who,post,when\nu1,a,a1,1\n", encoding="utf-8")
    r = qorgau(
        "detect", "co-sharing", "--input", str(shares), "--edges-out", str(tmp_path / "e.csv"),
        data_dir=tmp_path,
    )  # fmt: skip
    no_traceback(r)
    assert r.returncode != 0
    assert "link, who, post, when" in r.stderr
    assert not (tmp_path / "e.csv").exists()
