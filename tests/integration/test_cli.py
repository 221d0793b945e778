"""The ``qorgau`` command as a user runs it: a new process, real files, no stack traces."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import shared_file


def qorgau(
    *args: str, data_dir: Path, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "QORGAU_DATA_DIR": str(data_dir), "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "qorgau.cli", *args],
        capture_output=True,
        text=True,
        input=stdin,
        env=full_env,
        timeout=120,
    )


def no_traceback(r: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in r.stderr + r.stdout, r.stderr


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cli")
    r = qorgau("init", data_dir=d)
    assert r.returncode == 0, r.stderr
    return d


def test_commands_without_init_say_what_to_do(tmp_path: Path) -> None:
    r = qorgau("user", "list", data_dir=tmp_path / "empty")
    assert r.returncode == 2
    no_traceback(r)
    assert "qorgau init" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_user_add_generates_a_password_and_a_token(data_dir: Path) -> None:
    r = qorgau("user", "add", "aigerim", "--role", "responder", "--token", data_dir=data_dir)
    assert r.returncode == 0, r.stderr
    assert "qg_" in r.stdout
    bad = qorgau("user", "add", "someone", "--role", "wizard", data_dir=data_dir)
    assert bad.returncode == 2
    no_traceback(bad)
    assert bad.stderr.strip().splitlines() == [
        "error: role: unknown role 'wizard'; allowed: admin, coordinator, responder, legal, "
        "analyst, reporter, partner [enum]"
    ]
    dup = qorgau("user", "add", "aigerim", "--role", "legal", data_dir=data_dir)
    assert dup.returncode == 2 and "taken" in dup.stderr
    short = qorgau(
        "user",
        "add",
        "bolat",
        "--role",
        "legal",
        "--password-stdin",
        data_dir=data_dir,
        stdin="short\n",
    )
    assert short.returncode == 2 and "password: use at least 12" in short.stderr


def test_import_errors_are_one_line_each_and_nothing_is_stored(
    data_dir: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"title": "x", "attack_types": ["nope"]})
        + "\n"
        + json.dumps({"title": "y", "attack_types": ["ddos"], "severity": "extreme"})
        + "\n"
    )
    r = qorgau("import", str(bad), data_dir=data_dir)
    assert r.returncode == 2
    no_traceback(r)
    lines = r.stderr.strip().splitlines()
    assert lines[0].startswith("error: line 1: attack_types[0]: unknown value 'nope'")
    assert lines[1].startswith("error: line 2: severity: unknown severity 'extreme'")
    assert "Nothing was imported" in lines[-1]
    out = tmp_path / "out.jsonl"
    assert qorgau("export", str(out), data_dir=data_dir).returncode == 0
    assert out.read_text() == ""
    missing = qorgau("import", str(tmp_path / "nope.csv"), data_dir=data_dir)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_cli_speaks_russian_and_kazakh(data_dir: Path, tmp_path: Path) -> None:
    r = qorgau("import", str(tmp_path / "nope.csv"), data_dir=data_dir, env={"QORGAU_LANG": "kk"})
    assert r.stderr.startswith("қате:")
    r = qorgau("migrate", data_dir=data_dir, env={"QORGAU_LANG": "ru"})
    assert r.stdout.startswith("Схема на ревизии")


def test_demo_loads_the_real_cases_without_serving(tmp_path: Path) -> None:
    args = ["demo", "--no-serve"]
    with contextlib.suppress(pytest.skip.Exception):  # demo runs without the shared data too
        args += [
            "--seed-csv",
            str(shared_file("kz-journalist-incidents-seed", "kz_incidents_seed.csv")),
        ]
    r = qorgau(*args, data_dir=tmp_path / "demo")
    assert r.returncode == 0, r.stderr
    no_traceback(r)
    assert "demo-coordinator" in r.stdout and "qg_" in r.stdout
    # every printed token works, whole, for its role
    from qorgau.config import Settings
    from qorgau.desk import CaseDesk
    from qorgau.store.store import open_store

    store = open_store(Settings.from_env({"QORGAU_DATA_DIR": str(tmp_path / "demo")}))
    try:
        desk = CaseDesk(store)
        for line in r.stdout.splitlines():
            if line.startswith(("admin ", "coordinator ", "reporter ")):
                role, username, token = line.split()
                who = desk.principal_for_token(token)
                assert (str(who.role), who.username) == (role, username)
        # The web sign-in lines: password, and for staff a two-factor key that gives codes.
        from datetime import UTC, datetime

        from qorgau.account_desk import SignInDesk
        from qorgau.security import two_factor

        signs = {
            parts[0]: parts[1:]
            for parts in (line.split() for line in r.stdout.splitlines())
            if len(parts) == 3 and parts[0].startswith("demo-")
        }
        password, key = signs["demo-responder"]
        checked = SignInDesk(desk).check_password("demo-responder", password, None)
        assert checked.has_second_factor and not checked.must_enrol
        assert two_factor.accepted_step(
            key, two_factor.code_at(key, datetime.now(UTC)), datetime.now(UTC), None
        )
        password, key = signs["demo-reporter"]
        assert (
            key == "-"
            and not SignInDesk(desk)
            .check_password("demo-reporter", password, None)
            .has_second_factor
        )
    finally:
        store.close()
    out = tmp_path / "all.jsonl"
    assert qorgau("export", str(out), data_dir=tmp_path / "demo").returncode == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    refs = {r["external_ref"] for r in records}
    assert "DEMO-2025-ORDA-BLOCK" in refs and len(records) >= 20
    again = qorgau("demo", "--no-serve", data_dir=tmp_path / "demo")
    assert again.returncode == 0 and "0 new" in again.stdout


def test_response_documents_from_files_bad_ones_refused_whole(data_dir: Path) -> None:
    r = qorgau("user", "add", "nightowl", "--role", "responder", data_dir=data_dir)
    assert r.returncode == 0, r.stderr
    roster = data_dir / "roster.toml"
    roster.write_text(
        'timezone = "Asia/Almaty"\n[[shift]]\nuser = "nightowl"\nlanguages = ["kk"]\n'
        'days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]\nfrom = "00:00"\nto = "24:00"\n',
        encoding="utf-8",
    )
    ok = qorgau("response", "load", "roster", str(roster), data_dir=data_dir)
    assert ok.returncode == 0, ok.stderr
    assert "version 1" in ok.stdout
    bad = data_dir / "bad-roster.toml"
    bad.write_text(
        '[[shift]]\nuser = "ghost"\nlanguages = ["kk"]\ndays = ["mon"]\nfrom = "25:00"\n'
        'to = "08:00"\n',
        encoding="utf-8",
    )
    r = qorgau("response", "load", "roster", str(bad), data_dir=data_dir)
    assert r.returncode == 2
    no_traceback(r)
    assert "shift[0].from: '25:00' is not a time of day" in r.stderr
    broken = data_dir / "broken.toml"
    broken.write_text("[[shift]\n", encoding="utf-8")
    r = qorgau("response", "check", "roster", str(broken), data_dir=data_dir)
    assert r.returncode == 2 and "not valid TOML" in r.stderr
    no_traceback(r)
    # the valid version stays in force
    duty = qorgau("response", "on-duty", "--language", "kk", data_dir=data_dir)
    assert duty.returncode == 0, duty.stderr
    assert duty.stdout.strip() == "nightowl"


def test_mailbox_import_files_each_message_once(data_dir: Path) -> None:
    import mailbox
    from email.message import EmailMessage

    box_path = data_dir / "reports-maildir"
    box = mailbox.Maildir(str(box_path), create=True)
    msg = EmailMessage()
    msg["From"] = "Редакция <desk@orda.example>"
    msg["To"] = "report@desk.example"
    msg["Subject"] = "Сайт заблокирован"
    msg["Message-ID"] = "<cli-test-1@orda.example>"
    msg.set_content("Главный сайт не открывается у Казахтелекома с утра.")
    box.add(msg)
    box.close()
    first = qorgau("inbound", "import-mailbox", str(box_path), data_dir=data_dir)
    assert first.returncode == 0, first.stderr
    assert "Filed 1 reports; 0 already filed" in first.stdout
    again = qorgau("inbound", "import-mailbox", str(box_path), data_dir=data_dir)
    assert "Filed 0 reports; 1 already filed" in again.stdout
    r = qorgau("inbound", "run", data_dir=data_dir)
    assert r.returncode == 2 and "nothing to run" in r.stderr
    no_traceback(r)


def test_vault_add_verify_and_export_from_the_command_line(data_dir: Path) -> None:
    import zipfile

    evidence = data_dir / "ad.html"
    evidence.write_text("<p>Продам оборудование, звонить +7 700 000 0101</p>", encoding="utf-8")
    r = qorgau("vault", "add", str(evidence), data_dir=data_dir)
    assert r.returncode == 0, r.stderr
    assert "Vault log at" in r.stdout
    assert "text/html  [original]" in r.stdout  # type from the name; role shown as written
    ok = qorgau("vault", "verify", data_dir=data_dir)
    assert ok.returncode == 0, ok.stderr
    assert "0 problems" in ok.stdout
    # one byte of the stored blob changes: verify names it and exits 1, without a traceback
    blob = next(p for p in (data_dir / "blobs").rglob("*") if p.is_file())
    raw = bytearray(blob.read_bytes())
    raw[-3] ^= 0xFF
    blob.write_bytes(bytes(raw))
    bad = qorgau("vault", "verify", data_dir=data_dir)
    no_traceback(bad)
    assert bad.returncode == 1
    assert f"blob {blob.name} was altered or replaced" in bad.stderr
    blob.write_bytes(bytes(raw[:-3]) + bytes([raw[-3] ^ 0xFF]) + bytes(raw[-2:]))
    missing = qorgau(
        "vault",
        "export",
        "QG-NOSUCHID",
        "--out",
        str(data_dir / "x.zip"),
        "--reason",
        "test",
        data_dir=data_dir,
    )
    assert missing.returncode == 2
    no_traceback(missing)
    assert not (data_dir / "x.zip").exists() or zipfile.is_zipfile(data_dir / "x.zip")


def test_monitor_verdicts_prints_both_verdicts_and_the_agreement(tmp_path: Path) -> None:
    folder = shared_file("ooni-wc-netem-qa")
    r = qorgau("monitor", "verdicts", str(folder), data_dir=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "agreement with OONI: 50/50 (100.0%)" in r.stdout
    assert "dns_tampering" in r.stdout and "tls_interference" in r.stdout
    missing = qorgau("monitor", "verdicts", str(tmp_path / "nothing.json"), data_dir=tmp_path)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    no_traceback(missing)
