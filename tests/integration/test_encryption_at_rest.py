"""A copy of the database must not contain protected values in clear: neither the SQLite file
(with its WAL) nor a pg_dump of PostgreSQL."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from qorgau.store.store import Store
from tests.conftest import Account

PLANTED = {
    "person": "Zhanargul Testovna Plantedova",
    "phone": "+7 700 000 4242",
    "phone_digits": "7000004242",
    "email": "planted.reporter@mail.example",
    "reporter_name": "Reporter Plantedname",
    "reporter_phone": "+7 700 000 5353",
    "handle": "@planted_handle_77",
    "note": "Safe house at Plantedstreet 17",
    "receipt": "",
}


def database_bytes(store: Store) -> bytes:
    url = store.engine.url
    store.engine.dispose()  # close connections so everything is in the files we read
    if url.get_backend_name() == "sqlite":
        base = Path(str(url.database))
        return b"".join(
            p.read_bytes() for p in (base, base.with_name(base.name + "-wal")) if p.exists()
        )
    pg_dump = shutil.which("pg_dump") or "/usr/lib/postgresql/15/bin/pg_dump"
    dump = subprocess.run(
        [
            pg_dump,
            "--data-only",
            "-h",
            url.host or "127.0.0.1",
            "-p",
            str(url.port or 5432),
            "-U",
            url.username or "postgres",
            str(url.database),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return dump.stdout


def test_planted_personal_values_never_reach_the_database_in_clear(
    client: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    report = {
        "title": "Threats after an investigation",
        "description": "Calls and messages to the journalist",
        "attack_types": ["threats", "doxxing"],
        "targets": [
            {"kind": "person", "name": PLANTED["person"]},
            {"kind": "phone_number", "name": "mobile", "identifier": PLANTED["phone"]},
            {"kind": "email", "name": "mail", "identifier": PLANTED["email"]},
            {"kind": "social_account", "name": "insta", "identifier": PLANTED["handle"]},
        ],
        "reporter": {"name": PLANTED["reporter_name"], "phone": PLANTED["reporter_phone"]},
    }
    ack = client.post("/api/v1/reports", json=report).json()
    pid = ack["public_id"]
    h = accounts["responder"].headers
    client.post(
        f"/api/v1/incidents/{pid}/notes",
        json={"body": PLANTED["note"], "sensitive": True},
        headers=h,
    )
    # ... and the staff can still read and find all of it
    got = client.get(f"/api/v1/incidents/{pid}", headers=h).json()
    assert {t["name"] for t in got["targets"]} >= {PLANTED["person"]}
    assert got["reporter"]["phone"] == PLANTED["reporter_phone"]
    found = client.get("/api/v1/incidents", params={"target": "8 700 000 42 42"}, headers=h)
    assert found.json()["total"] == 1
    raw = database_bytes(store)
    assert len(raw) > 1000
    leaks = [
        k
        for k, v in {**PLANTED, "receipt": ack["receipt_code"].replace("-", "")}.items()
        if v and (v.encode() in raw or v.replace("+", "").replace(" ", "").encode() in raw)
    ]
    assert not leaks, f"found in clear: {leaks}"
    # sanity: the non-protected title is there, so the scan reads real data
    assert b"Threats after an investigation" in raw


def test_a_stolen_database_without_the_key_file_reveals_nothing(
    client: TestClient, store: Store, tmp_path: Path
) -> None:
    from qorgau.security.fields import FieldCipher
    from qorgau.security.keys import new_keyring
    from qorgau.store.tables import incident_targets

    client.post(
        "/api/v1/reports",
        json={
            "title": "t",
            "attack_types": ["threats"],
            "targets": [{"kind": "person", "name": PLANTED["person"]}],
        },
    )
    with store.read() as conn:
        token = conn.execute(sa.select(incident_targets.c.name_enc)).scalar_one()
    with pytest.raises(Exception, match="integrity"):
        FieldCipher(new_keyring()).decrypt(token, "incident_targets.name")
