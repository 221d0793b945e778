"""MVT output: detections read from real-shaped folders, zips and single files; bad files named
precisely and skipped; unsafe archives and non-MVT input refused."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from qorgau.detect.mvt_results import (
    ReadLimits,
    forensic_referral,
    read_mvt_files,
    read_mvt_results,
    warrants_critical_incident,
)
from qorgau.errors import InvalidInput

PEGASUS = {
    "id": "indicator--9a2ba4a6-0e33-4b0a-a1d4-1b7f5b8a3b10",
    "type": "domain",
    "value": "free247downloads.com",
    "name": "Pegasus",
    "stix2_file_name": "pegasus.stix2",
}
SAFARI = [
    {
        "id": 4,
        "url": "https://news.example.kz/article",
        "visit_id": 10,
        "timestamp": 647000000.0,
        "isodate": "2021-07-04 10:13:20.000000",
        "redirect_source": None,
        "redirect_destination": None,
        "safari_history_db": "History.db",
    },
    {
        "id": 5,
        "url": "https://free247downloads.com/abcdef",
        "visit_id": 11,
        "timestamp": 647000100.0,
        "isodate": "2021-07-04 10:15:00.000000",
        "redirect_source": None,
        "redirect_destination": None,
        "safari_history_db": "History.db",
    },
]
DATAUSAGE_DETECTED = [
    {
        "first_isodate": "2021-07-04 10:16:02.000000",
        "isodate": "2021-07-04 10:20:11.000000",
        "proc_name": "bh",
        "bundle_id": "",
        "wifi_in": 0.0,
        "matched_indicator": {**PEGASUS, "type": "process", "value": "bh"},
    }
]
INFO = {
    "target_path": "/cases/backup/00008030-001A2B3C",
    "mvt_version": "2.5.3",
    "date": "2024-05-02 09:41:12.558201",
    "ioc_files": ["/home/lab/.local/share/mvt/indicators/pegasus.stix2"],
    "hashes": [{"file_path": "Manifest.db", "sha256": "ab" * 32}],
}
BACKUP_INFO = {
    "Device Name": "Aigerim's iPhone",
    "Product Type": "iPhone12,1",
    "Product Version": "14.6",
}


def write_run(folder: Path, *, detected: bool = True) -> Path:
    folder.mkdir()
    (folder / "info.json").write_text(json.dumps(INFO))
    (folder / "backup_info.json").write_text(json.dumps(BACKUP_INFO))
    (folder / "safari_history.json").write_text(json.dumps(SAFARI))
    (folder / "datausage.json").write_text(json.dumps([{**DATAUSAGE_DETECTED[0]}]))
    (folder / "command.log").write_text(
        "2024-05-02 09:41:12 INFO [mvt.ios.cli] Checking iTunes backup located at: ...\n"
    )
    (folder / "timeline.csv").write_text("UTC Timestamp,Plugin,Event,Description\n")
    if detected:
        (folder / "safari_history_detected.json").write_text(
            json.dumps([{**SAFARI[1], "matched_indicator": PEGASUS}])
        )
        (folder / "datausage_detected.json").write_text(json.dumps(DATAUSAGE_DETECTED))
    else:
        (folder / "datausage.json").write_text(json.dumps([{"proc_name": "mail"}]))
    return folder


def test_a_folder_with_detections_becomes_a_critical_report(tmp_path: Path) -> None:
    folder = write_run(tmp_path / "out")
    result = read_mvt_results(folder)
    report = result.report
    assert result.problems == ()
    assert report.platform == "ios"
    assert report.device == "iPhone12,1 (iOS 14.6)"
    assert "Aigerim" not in json.dumps(report.to_json())
    assert report.mvt_version == "2.5.3"
    assert report.checked_at == datetime(2024, 5, 2, 9, 41, 12, 558201, tzinfo=UTC)
    assert report.collections == ("Pegasus",)
    grouped = report.by_module()
    assert set(grouped) == {"safari_history", "datausage"}
    safari = grouped["safari_history"][0]
    assert safari.time == datetime(2021, 7, 4, 10, 15, tzinfo=UTC)
    assert (safari.indicator.value, safari.indicator.type) == ("free247downloads.com", "domain")
    assert safari.indicator.stix2_file == "pegasus.stix2"
    assert grouped["datausage"][0].indicator.type == "process"
    assert "free247downloads.com" in safari.summary and "Pegasus" in safari.summary
    assert warrants_critical_incident(report)
    referral = forensic_referral(report)
    assert referral.urgent and any("Amnesty" in lab.name for lab in referral.labs)
    assert "2 records" in report.summary() and "Pegasus" in report.summary()
    hashes = {f.name: f.sha256 for f in report.files}
    data = (folder / "datausage_detected.json").read_bytes()
    assert hashes["datausage_detected.json"] == hashlib.sha256(data).hexdigest()
    assert {f.name for f in report.files} == {p.name for p in folder.iterdir()}
    json.dumps(report.to_json())  # serialisable for storage


def test_a_clean_run_is_not_an_incident(tmp_path: Path) -> None:
    report = read_mvt_results(write_run(tmp_path / "out", detected=False)).report
    assert report.detections == () and not warrants_critical_incident(report)
    assert "no match" in report.summary()
    assert set(report.modules) >= {"safari_history", "datausage"}
    assert not forensic_referral(report).urgent


def test_malformed_files_are_named_precisely_and_skipped(tmp_path: Path) -> None:
    folder = write_run(tmp_path / "out")
    (folder / "sms_detected.json").write_text('[{"isodate": "2021-07-04 10:00:00", "text"')
    (folder / "os_analytics_ad_daily.json").write_text('{"not": "a list"}')
    (folder / "shutdown_log.json").write_text('[{"isodate": 1}] trailing')
    (folder / "processes_detected.json").write_text(json.dumps([42, {"matched_indicator": 7}]))
    result = read_mvt_results(folder)
    by_file = {(p.file, p.where): p for p in result.problems}
    truncated = by_file[("sms_detected.json", "line 1, column 43")]
    assert "ends in the middle" in truncated.reason and "copy" in truncated.action
    assert "an object" in by_file[("os_analytics_ad_daily.json", "$")].reason
    assert "not valid JSON" in by_file[("shutdown_log.json", "line 1, column 18")].reason
    assert "not a record" in by_file[("processes_detected.json", "$[0]")].reason
    assert "cannot be read" in by_file[("processes_detected.json", "$[1]")].reason
    # The record with an unreadable indicator is still a detection: never hide a match.
    unknown = result.report.by_module()["processes"]
    assert len(unknown) == 1 and unknown[0].indicator.value == ""
    assert len(result.report.by_module()["safari_history"]) == 1
    roles = {f.name: f.role for f in result.report.files}
    assert roles["sms_detected.json"] == "unreadable"
    assert str(truncated).startswith("sms_detected.json line 1, column 43: ")


def test_old_outputs_with_string_indicators_and_single_files(tmp_path: Path) -> None:
    old = tmp_path / "webkit_resource_load_statistics_detected.json"
    old.write_text(
        json.dumps([{"registrable_domain": "x.example", "matched_indicator": "x.example"}])
    )
    result = read_mvt_results([old])
    (detection,) = result.report.detections
    assert detection.indicator.value == "x.example" and detection.indicator.collection == ""
    assert detection.time is None
    assert result.report.platform == "ios"


def test_records_carrying_an_indicator_in_a_plain_module_file_count_once(tmp_path: Path) -> None:
    record = {"package_name": "com.bad.app", "matched_indicator": {"value": "com.bad.app"}}
    files = {
        "packages.json": json.dumps([record, {"package_name": "com.ok"}]).encode(),
        "packages_detected.json": json.dumps([record]).encode(),
    }
    report = read_mvt_files(files).report
    assert len(report.detections) == 1 and report.platform == "android"


def test_input_that_is_not_mvt_output_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "posts.json"
    other.write_text(json.dumps([{"text": "hello"}]))
    with pytest.raises(InvalidInput, match="is MVT output"):
        read_mvt_results(other)
    broken = tmp_path / "sms.json"
    broken.write_text("[{")
    with pytest.raises(InvalidInput, match="--output"):
        read_mvt_results(broken)


def zipped(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_zip_of_the_folder_reads_like_the_folder(tmp_path: Path) -> None:
    folder = write_run(tmp_path / "out")
    members = {f"out/{p.name}": p.read_bytes() for p in folder.iterdir()}
    archive = tmp_path / "mvt.zip"
    archive.write_bytes(zipped(members))
    report = read_mvt_results(archive).report
    assert len(report.detections) == 2
    assert "out/info.json" in {f.name for f in report.files}


@pytest.mark.parametrize("name", ["../evil.json", "/etc/passwd", "C:/x.json", "a/../../b.json"])
def test_a_zip_reaching_outside_its_folder_is_refused(tmp_path: Path, name: str) -> None:
    archive = tmp_path / "bad.zip"
    archive.write_bytes(zipped({"info.json": json.dumps(INFO).encode(), name: b"[]"}))
    with pytest.raises(InvalidInput, match="outside the folder"):
        read_mvt_results(archive)


def test_a_zip_bomb_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "bomb.zip"
    archive.write_bytes(zipped({"sms.json": b"[" + b" " * (8 << 20) + b"]"}))
    assert archive.stat().st_size < 100_000
    with pytest.raises(InvalidInput, match="inflates far beyond"):
        read_mvt_results(archive)
    small = ReadLimits(max_file_bytes=1000, max_total_bytes=10_000)
    archive.write_bytes(zipped({"sms.json": b"[" + b"0," * 2000 + b"0]"}, zipfile.ZIP_STORED))
    with pytest.raises(InvalidInput):
        read_mvt_results(archive, limits=small)


def test_fixtures_are_valid(tmp_path: Path) -> None:
    """The fixtures themselves parse: a failure above is the reader's, not the test data's."""
    data: Any = json.loads(json.dumps([INFO, SAFARI, DATAUSAGE_DETECTED]))
    assert len(data) == 3


def test_a_single_clean_module_file_is_read_without_guessing_the_platform(tmp_path: Path) -> None:
    sms = tmp_path / "sms.json"
    sms.write_text(json.dumps([{"isodate": "2024-01-01 10:00:00.000000", "text": "hi"}]))
    report = read_mvt_results(sms).report
    assert report.modules == ("sms",) and report.platform is None and report.detections == ()
