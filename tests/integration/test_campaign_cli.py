"""The campaign commands as a user runs them: the exact co-sharing network of an archive
(equal to CooRTweet's own output files), with broken rows named by line and never a traceback."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import zipfile
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


# -- spyware ------------------------------------------------------------------------------------

PEGASUS = {"type": "domain", "value": "free247downloads.com", "name": "Pegasus"}


def _mvt_run(folder: Path, *, detected: bool) -> Path:
    folder.mkdir()
    (folder / "info.json").write_text(
        json.dumps({"mvt_version": "2.5.3", "date": "2024-05-02 09:41:12.558201"})
    )
    visit = {"url": "https://free247downloads.com/x", "isodate": "2021-07-04 10:15:00.000000"}
    (folder / "safari_history.json").write_text(json.dumps([visit]))
    if detected:
        (folder / "safari_history_detected.json").write_text(
            json.dumps([{**visit, "matched_indicator": PEGASUS}])
        )
    return folder


@pytest.fixture()
def inited(tmp_path: Path) -> Path:
    r = qorgau("init", data_dir=tmp_path)
    assert r.returncode == 0, r.stderr
    return tmp_path


def test_spyware_detections_open_a_critical_case_with_the_files_as_evidence(
    inited: Path, tmp_path: Path
) -> None:
    run = _mvt_run(tmp_path / "mvt-out", detected=True)
    (run / "sms.json").write_text('[{"text": "hi", ')  # truncated: named and skipped
    r = qorgau("spyware", "import", str(run), "--person", "Editor", data_dir=inited)
    no_traceback(r)
    assert r.returncode == 0, r.stderr
    assert "sms.json" in r.stderr
    assert "Critical case" in r.stdout and "4 files kept as evidence" in r.stdout
    assert "Amnesty International Security Lab" in r.stdout
    case = next(w for w in r.stdout.split() if w.startswith("QG-")).strip(";,.")
    exported = tmp_path / "cases.jsonl"
    assert qorgau("export", str(exported), data_dir=inited).returncode == 0
    incidents = [json.loads(line) for line in exported.read_text().splitlines()]
    (incident,) = [i for i in incidents if i["public_id"] == case]
    assert incident["severity"] == "critical"
    assert incident["attack_types"] == ["spyware"]
    assert "Pegasus" in incident["title"]
    package = tmp_path / "evidence.zip"
    r = qorgau(
        "vault", "export", case, "--out", str(package), "--reason", "forensic lab",
        data_dir=inited,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    with zipfile.ZipFile(package) as z:
        names = " ".join(z.namelist())
    for kept in run.iterdir():  # every file given, the broken one too, is in the vault
        assert hashlib.sha256(kept.read_bytes()).hexdigest() in names, kept.name


def test_a_clean_scan_opens_no_case(inited: Path, tmp_path: Path) -> None:
    run = _mvt_run(tmp_path / "clean", detected=False)
    r = qorgau("spyware", "import", str(run), data_dir=inited)
    assert r.returncode == 0, r.stderr
    assert "no case was opened" in r.stdout
    listed = qorgau("list", data_dir=inited)
    assert "Spyware" not in listed.stdout


def test_something_that_is_not_mvt_output_is_refused(inited: Path, tmp_path: Path) -> None:
    stray = tmp_path / "notes.txt"
    stray.write_text("not MVT")
    r = qorgau("spyware", "import", str(stray), data_dir=inited)
    no_traceback(r)
    assert r.returncode != 0
    assert "MVT" in r.stderr


# -- registry -----------------------------------------------------------------------------------


def test_conflicting_registry_entries_are_skipped_and_the_stored_ones_kept(
    inited: Path, tmp_path: Path
) -> None:
    first = tmp_path / "registry.json"
    first.write_text(
        json.dumps(
            {
                "entities": [
                    {"id": "orda", "kind": "outlet", "name": "Orda.kz", "domains": ["orda.kz"],
                     "accounts": {"telegram": ["orda_kz"]}},
                ]
            }
        )
    )  # fmt: skip
    r = qorgau("registry", "import", "protected", str(first), data_dir=inited)
    assert r.returncode == 0, r.stderr
    second = tmp_path / "more.json"
    second.write_text(
        json.dumps(
            {
                "entities": [
                    {"id": "impostor", "kind": "outlet", "name": "Orda news",
                     "domains": ["orda.kz"]},
                    {"id": "vlast", "kind": "outlet", "name": "Vlast.kz", "domains": ["vlast.kz"]},
                ]
            }
        )
    )  # fmt: skip
    r = qorgau("registry", "import", "protected", str(second), data_dir=inited)
    no_traceback(r)
    assert r.returncode == 0, r.stderr
    assert "impostor" in r.stderr and "orda.kz" in r.stderr
    shown = json.loads(qorgau("registry", "show", "protected", data_dir=inited).stdout)
    by_id = {e["id"]: e for e in shown["entities"]}
    assert set(by_id) == {"orda", "vlast"}
    assert by_id["orda"]["domains"] == ["orda.kz"]


def test_a_registry_file_that_is_not_json_changes_nothing(inited: Path, tmp_path: Path) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text('{"entities": [')
    r = qorgau("registry", "import", "protected", str(bad), data_dir=inited)
    no_traceback(r)
    assert r.returncode != 0 and "broken.json" in r.stderr


# -- account actions and the appeal -------------------------------------------------------------


def test_actions_imported_and_the_appeal_written(inited: Path, tmp_path: Path) -> None:
    watch = tmp_path / "watch.json"
    watch.write_text(
        json.dumps({"people": [{"name": "Orda.kz", "group": "Orda", "handles": ["orda_kz"]}]})
    )
    assert qorgau("watchlist", "import", str(watch), data_dir=inited).returncode == 0
    calls = tmp_path / "calls.jsonl"
    calls.write_text(
        "".join(
            json.dumps(
                {
                    "id": f"c{i}",
                    "platform": "telegram",
                    "account": f"troll_{i}",
                    "time": f"2025-06-03T0{i}:00:00Z",
                    "text": "Жалуйтесь на канал @orda_kz, кидайте репорты все!",
                }
            )
            + "\n"
            for i in range(6)
        ),
        encoding="utf-8",
    )
    r = qorgau("observe", "import", str(calls), "--source", "tg-monitor", data_dir=inited)
    assert r.returncode == 0, r.stderr
    notices = tmp_path / "notices.csv"
    notices.write_text(
        "platform,account,action,time,reason,reference\n"
        "telegram,@orda_kz,suspension,2025-06-03T12:00:00+00:00,spam,T-1\n"
        "telegram,orda_kz,frozen,2025-06-03T13:00:00+00:00,,\n",  # unknown action: refused
        encoding="utf-8",
    )
    r = qorgau("accounts", "action", "import", str(notices), data_dir=inited)
    no_traceback(r)
    assert "1 actions recorded" in r.stdout and "1 rows refused" in r.stdout
    assert "notices.csv:3" in r.stderr
    again = qorgau("accounts", "action", "import", str(notices), data_dir=inited)
    assert "0 actions recorded" in again.stdout
    out_zip = tmp_path / "appeal.zip"
    r = qorgau(
        "accounts", "appeal", "--outlet", "Orda", "--platform", "telegram",
        "--account", "orda_kz", "--lang", "ru", "--out", str(out_zip), data_dir=inited,
    )  # fmt: skip
    no_traceback(r)
    assert r.returncode == 0, r.stderr
    assert "1 complaint waves" in r.stdout
    with zipfile.ZipFile(out_zip) as z:
        appeal = json.loads(z.read("appeal.json"))
        assert {"appeal.md", "appeal.json", "manifest.json"} <= set(z.namelist())
        markdown = z.read("appeal.md").decode()
    assert appeal["language"] == "ru"
    assert "Апелляция: аккаунт @orda\\_kz (Orda) на платформе telegram" in markdown
    assert len(appeal["waves"]) == 1
    assert len(appeal["waves"][0]["accounts"]) == 6


# -- media --------------------------------------------------------------------------------------


def _picture(path: Path, seed: int) -> Path:
    from PIL import Image, ImageDraw

    rng = __import__("random").Random(seed)
    img = Image.new("RGB", (320, 240), (rng.randrange(256), 120, 90))
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x, y = rng.randrange(300), rng.randrange(220)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.ellipse((x, y, x + rng.randrange(20, 120), y + rng.randrange(20, 90)), fill=colour)
    img.save(path)
    return path


def test_a_registered_fake_is_recognised_in_a_recompressed_copy(
    inited: Path, tmp_path: Path
) -> None:
    from PIL import Image

    fake = _picture(tmp_path / "fake.png", 1)
    r = qorgau(
        "media", "register", str(fake), "--id", "fake-statement-photo", "--label", "fake",
        "--title", "Fake resignation", "--url", "https://factcheck.example.kz/1", data_dir=inited,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    copy = tmp_path / "forwarded.jpg"
    Image.open(fake).convert("RGB").save(copy, quality=60)
    r = qorgau("media", "check", str(copy), "--json", data_dir=inited)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert [m["id"] for m in report["matches"]] == ["fake-statement-photo"]
    assert report["credentials"]["state"] == "none"
    unrelated = _picture(tmp_path / "other.png", 2)
    report = json.loads(qorgau("media", "check", str(unrelated), "--json", data_dir=inited).stdout)
    assert report["matches"] == []


def test_the_same_picture_as_original_and_as_fake_is_refused(inited: Path, tmp_path: Path) -> None:
    photo = _picture(tmp_path / "photo.png", 3)
    first = qorgau(
        "media", "register", str(photo), "--id", "press-photo", "--label", "original",
        data_dir=inited,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    second = qorgau(
        "media", "register", str(photo), "--id", "said-fake", "--label", "fake", data_dir=inited
    )
    no_traceback(second)
    assert second.returncode != 0
    assert "press-photo" in second.stderr
    shown = json.loads(qorgau("registry", "show", "media", data_dir=inited).stdout)
    assert [(i["id"], i["label"]) for i in shown["items"]] == [("press-photo", "original")]


def test_an_undecodable_file_is_named(inited: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    r = qorgau("media", "check", str(broken), data_dir=inited)
    no_traceback(r)
    assert r.returncode != 0
    assert "broken.jpg" in r.stderr


def test_an_output_file_in_a_missing_folder_is_refused_before_any_work(tmp_path: Path) -> None:
    shares = tmp_path / "shares.csv"
    shares.write_text("object_id,account_id,content_id,timestamp_share\nu1,a,a1,1\n")
    r = qorgau(
        "detect", "co-sharing", "--input", str(shares),
        "--edges-out", str(tmp_path / "no" / "such" / "edges.csv"), data_dir=tmp_path,
    )  # fmt: skip
    no_traceback(r)
    assert r.returncode != 0 and "create it first" in r.stderr
