"""The detectors from the command line, on simulated traffic with its ground truth: what
``qorgau simulate`` injects, ``qorgau detect run`` finds, naming the observations behind each
finding; Dask's ``LocalCluster`` (``qorgau detect retro``) finds the same; bad input is reported
by file and line, a bad configuration refused in one line, never a traceback."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_cli import no_traceback, qorgau


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sim")
    r = qorgau(
        "simulate",
        "--out",
        str(folder),
        "--days",
        "3",
        "--seed",
        "11",
        "--start",
        "2025-06-02",
        data_dir=folder,
    )
    assert r.returncode == 0, r.stderr
    assert {p.name for p in folder.iterdir()} >= {
        "observations.jsonl",
        "watchlist.json",
        "truth.json",
    }
    return folder


def _truth(sim: Path, kind: str) -> list[dict[str, Any]]:
    campaigns = json.loads((sim / "truth.json").read_text())["campaigns"]
    return [c for c in campaigns if c["kind"] == kind]


def _findings(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def _run(sim: Path, name: str, *extra: str) -> list[dict[str, Any]]:
    r = qorgau(
        "detect",
        "run",
        name,
        "--input",
        str(sim / "observations.jsonl"),
        "--config",
        str(sim / "watchlist.json"),
        *extra,
        data_dir=sim,
    )
    assert r.returncode == 0, r.stderr
    no_traceback(r)
    return _findings(r.stdout)


def test_detect_list_names_every_detector_with_its_schema(sim: Path) -> None:
    r = qorgau("detect", "list", "--json", data_dir=sim)
    assert r.returncode == 0, r.stderr
    specs = {s["name"]: s for s in json.loads(r.stdout)}
    from qorgau.detect.registry import DETECTORS

    assert set(specs) == {d.spec.name for d in DETECTORS}
    assert {"leaked_identifiers", "floods", "co_sharing", "near_duplicate_texts"} <= set(specs)
    assert {"lookalike_accounts", "fake_statements", "threats", "complaint_waves"} <= set(specs)
    assert "image_fakes" in specs
    assert "people" in specs["leaked_identifiers"]["config_schema"]["properties"]
    assert specs["floods"]["stateful"] is True


def test_the_copy_paste_campaign_is_found_and_organic_sharing_is_not(sim: Path) -> None:
    found = _run(sim, "near_duplicate_texts")
    (campaign,) = _truth(sim, "copypasta")
    (organic,) = _truth(sim, "organic_share")
    planted = set(campaign["observation_ids"])
    assert len(found) == 1, [f["title"] for f in found]
    flagged = set(found[0]["observation_ids"])
    assert len(flagged & planted) >= 0.9 * len(planted)
    assert not flagged & set(organic["observation_ids"])
    assert found[0]["subjects"] == campaign["people"]


def test_an_archive_at_once_finds_the_same_copy_paste_campaign(sim: Path, tmp_path: Path) -> None:
    out = tmp_path / "campaigns.jsonl"
    r = qorgau(
        "detect", "near-duplicates", "--input", str(sim / "observations.jsonl"),
        "--out", str(out), "--workers", "2", data_dir=sim,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    (campaign,) = _truth(sim, "copypasta")
    (found,) = [json.loads(line) for line in out.read_text().splitlines()]
    planted = set(campaign["observation_ids"])
    assert len(set(found["observation_ids"]) & planted) >= 0.9 * len(planted)
    assert len(found["accounts"]) >= 8 and found["representatives"]
    assert "1 copy-paste campaigns" in r.stdout


def test_planted_numbers_are_found_and_decoys_are_not(sim: Path) -> None:
    found = _run(sim, "leaked_identifiers")
    flagged = {i for f in found for i in f["observation_ids"]}
    planted = {i for c in _truth(sim, "planted_identifiers") for i in c["observation_ids"]}
    decoys = {i for c in _truth(sim, "decoy_identifiers") for i in c["observation_ids"]}
    assert planted and decoys
    assert len(flagged & planted) >= 0.95 * len(planted)
    assert not flagged & decoys, "numbers one digit off are never flagged"
    groups = {c["group"] for c in _truth(sim, "planted_identifiers")}
    assert {f["key"] for f in found} == {f"leaked-identifier:{g}" for g in groups}


def test_every_injected_flood_is_found_within_minutes(sim: Path) -> None:
    found = _run(sim, "floods")
    for flood in _truth(sim, "flood"):
        start = datetime.fromisoformat(flood["start"].replace("Z", "+00:00"))
        mine = [
            f
            for f in found
            if set(f["subjects"]) & set(flood["people"])
            and abs((datetime.fromisoformat(f["at"]) - start).total_seconds()) < 15 * 60
        ]
        assert mine, f"flood on {flood['people']} at {flood['start']} not found"
        assert set(mine[0]["observation_ids"]) <= set(flood["observation_ids"]) | {
            i for f in found for i in f["observation_ids"]
        }


def test_dask_local_cluster_finds_what_the_single_process_finds(sim: Path) -> None:
    single = _run(sim, "leaked_identifiers")
    r = qorgau(
        "detect",
        "retro",
        "leaked_identifiers",
        "--input",
        str(sim / "observations.jsonl"),
        "--config",
        str(sim / "watchlist.json"),
        "--workers",
        "2",
        data_dir=sim,
    )
    assert r.returncode == 0, r.stderr
    retro = _findings(r.stdout)
    assert {f["key"]: set(f["observation_ids"]) for f in retro} == {
        f["key"]: set(f["observation_ids"]) for f in single
    }


@pytest.mark.parametrize("name", ["floods", "near_duplicate_texts"])
def test_dask_groups_a_stateful_detector_by_its_partition(sim: Path, name: str) -> None:
    """Floods are grouped by person and channel; copy-paste campaigns share one partition."""
    single = _run(sim, name)
    assert single
    r = qorgau(
        "detect",
        "retro",
        name,
        "--input",
        str(sim / "observations.jsonl"),
        "--config",
        str(sim / "watchlist.json"),
        data_dir=sim,
    )
    assert r.returncode == 0, r.stderr
    retro = _findings(r.stdout)
    assert {f["key"] for f in retro} == {f["key"] for f in single}
    if name == "near_duplicate_texts":  # a campaign's copies, however the batches were cut
        assert {f["key"]: set(f["observation_ids"]) for f in retro} == {
            f["key"]: set(f["observation_ids"]) for f in single
        }


def test_bad_lines_are_reported_and_the_rest_is_read(sim: Path, tmp_path: Path) -> None:
    lines = (sim / "observations.jsonl").read_text().splitlines()
    broken = tmp_path / "broken.jsonl"
    broken.write_text(
        "\n".join([*lines[:5], "{not json", '{"id": "x", "text": "no time"}', *lines[5:]]) + "\n"
    )
    r = qorgau(
        "detect",
        "run",
        "leaked_identifiers",
        "--input",
        str(broken),
        "--config",
        str(sim / "watchlist.json"),
        data_dir=sim,
    )
    assert r.returncode == 0, r.stderr
    no_traceback(r)
    assert "broken.jsonl:6" in r.stderr and "broken.jsonl:7" in r.stderr
    assert _findings(r.stdout), "the valid lines were still read"


def test_a_bad_configuration_is_refused_in_one_line(sim: Path, tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"people": [{"name": "Editor", "iins": ["900101300001"]}]}))
    r = qorgau(
        "detect",
        "run",
        "leaked_identifiers",
        "--input",
        str(sim / "observations.jsonl"),
        "--config",
        str(config),
        data_dir=sim,
    )
    assert r.returncode == 2
    no_traceback(r)
    assert "people[0].iins[0]" in r.stderr
    unknown = qorgau("detect", "run", "nosuch", "--input", str(config), data_dir=sim)
    assert unknown.returncode == 2 and "leaked_identifiers" in unknown.stderr


def test_import_a_simulated_week_into_the_desk(sim: Path, tmp_path: Path) -> None:
    data = tmp_path / "desk"
    assert qorgau("init", data_dir=data).returncode == 0
    r = qorgau("watchlist", "import", str(sim / "watchlist.json"), data_dir=data)
    assert r.returncode == 0, r.stderr
    r = qorgau(
        "observe",
        "import",
        str(sim / "observations.jsonl"),
        "--source",
        "sim",
        "--format",
        "posts",
        data_dir=data,
    )
    assert r.returncode == 0, r.stderr
    no_traceback(r)
    r = qorgau("detect", "findings", data_dir=data)
    assert r.returncode == 0, r.stderr
    assert "leaked_identifiers" in r.stdout and "floods" in r.stdout
    again = qorgau(
        "observe",
        "import",
        str(sim / "observations.jsonl"),
        "--source",
        "sim",
        "--format",
        "posts",
        data_dir=data,
    )
    assert "0 new" in again.stdout


def test_findings_name_the_ids_the_input_gave(tmp_path: Path) -> None:
    """Anyone's own file, in the issue's minimal columns: the finding names their ids as they
    wrote them, and the ad with a number one digit off is not among them."""
    lines = [
        {
            "id": "1",
            "platform": "olx",
            "account": "s1",
            "time": "2025-06-02T18:00:00+05:00",
            "text": "Продаю коз, звоните 8 (701) 123-45-67",
            "urls": [],
            "lang": "ru",
        },
        {
            "id": "2",
            "platform": "olx",
            "account": "s2",
            "time": "2025-06-02T18:01:00+05:00",
            "text": "Продаю коз, звоните 8 (701) 123-45-68",
            "urls": [],
            "lang": "ru",
        },
        {
            "id": "tg:55",
            "platform": "telegram",
            "account": "x",
            "time": 1748869200,
            "text": "Номер редактора: 8 7О1 123 45 67, звоните",
            "lang": "ru",
        },
    ]
    data = tmp_path / "mine.jsonl"
    data.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"people": [{"name": "Editor", "phones": ["+77011234567"]}]}))
    r = qorgau(
        "detect",
        "run",
        "leaked_identifiers",
        "--input",
        str(data),
        "--config",
        str(config),
        data_dir=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    (finding,) = _findings(r.stdout)
    assert sorted(finding["observation_ids"]) == ["1", "tg:55"]
    assert "123-45-67" not in r.stdout, "the watched number itself is never printed"


def test_retro_against_a_running_scheduler_address(sim: Path) -> None:
    """Production passes a scheduler's address: here one started by the test, on loopback."""
    from distributed import LocalCluster

    single = _run(sim, "leaked_identifiers")
    with LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        r = qorgau(
            "detect",
            "retro",
            "leaked_identifiers",
            "--input",
            str(sim / "observations.jsonl"),
            "--config",
            str(sim / "watchlist.json"),
            "--scheduler",
            str(cluster.scheduler_address),
            data_dir=sim,
        )
    assert r.returncode == 0, r.stderr
    assert {f["key"]: set(f["observation_ids"]) for f in _findings(r.stdout)} == {
        f["key"]: set(f["observation_ids"]) for f in single
    }
