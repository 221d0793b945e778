"""A copy of the database must not contain protected values in clear: neither the SQLite file
(with its WAL) nor a pg_dump of PostgreSQL, nor any file under the data directory (the blob
store of attachments and evidence) — before and after a data-key rotation and re-encryption."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
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
    "evidence": "Home address of the source: Plantedavenue 99",
    "evidence_name": "planted_source_passport.txt",
    "receipt": "",
}


def data_dir_bytes(data_dir: Path, database: str | None) -> bytes:
    """Every file under the data directory (blob store, keys folder) except the SQLite files,
    which ``database_bytes`` reads: opening and closing them here while the store is connected
    would drop SQLite's POSIX locks held by this process."""
    skip = Path(database).name if database else None
    return b"".join(
        p.read_bytes()
        for p in sorted(data_dir.rglob("*"))
        if p.is_file() and not (skip and p.name.startswith(skip))
    )


def found_in_clear(raw: bytes, receipt: str) -> list[str]:
    return [
        k
        for k, v in {**PLANTED, "receipt": receipt.replace("-", "")}.items()
        if v and (v.encode() in raw or v.replace("+", "").replace(" ", "").encode() in raw)
    ]


def add_evidence(client: TestClient, pid: str, headers: dict[str, str]) -> None:
    r = client.post(
        f"/api/v1/incidents/{pid}/evidence",
        params={"filename": PLANTED["evidence_name"]},
        content=PLANTED["evidence"].encode(),
        headers={**headers, "Content-Type": "text/plain"},
    )
    assert r.status_code == 201, r.text


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
    add_evidence(client, pid, h)
    raw = database_bytes(store)
    assert len(raw) > 1000
    leaks = found_in_clear(raw, ack["receipt_code"])
    assert not leaks, f"found in clear: {leaks}"
    files = data_dir_bytes(store.settings.data_dir, store.engine.url.database)
    assert b"QGBLOB" in files  # the evidence file is there, sealed
    leaks = found_in_clear(files, ack["receipt_code"])
    assert not leaks, f"found in clear under the data directory: {leaks}"
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


def test_planted_values_stay_hidden_after_a_key_rotation_and_reencryption(
    store: Store, accounts: dict[str, Account], tmp_path: Path
) -> None:
    """Rotate, re-encrypt the database and the blob files, retire the old key: the data still
    reads with the new key alone, and neither copy holds a planted value in clear."""
    from qorgau.security import rotation
    from qorgau.store import reencrypt
    from qorgau.store.blobs import BlobStore
    from qorgau.store.store import open_store
    from qorgau.web.app import create_app

    cfg = replace(
        store.settings,
        data_dir=tmp_path / "data",
        key_file=tmp_path / "keys" / "data.key",
        vault_key_file=tmp_path / "keys" / "vault.key",
    )
    own = open_store(cfg, create_keys=True)
    try:
        h = accounts["responder"].headers
        with TestClient(create_app(cfg, own)) as client:
            ack = client.post(
                "/api/v1/reports",
                json={
                    "title": "Doxxing of an editor",
                    "attack_types": ["doxxing"],
                    "targets": [
                        {"kind": "person", "name": PLANTED["person"]},
                        {"kind": "email", "name": "mail", "identifier": PLANTED["email"]},
                    ],
                    "reporter": {
                        "name": PLANTED["reporter_name"],
                        "phone": PLANTED["reporter_phone"],
                    },
                },
            ).json()
            pid = ack["public_id"]
            client.post(
                f"/api/v1/incidents/{pid}/notes",
                json={"body": PLANTED["note"], "sensitive": True},
                headers=h,
            )
            add_evidence(client, pid, h)
            rotation.rotate(cfg.resolved_key_file)
            own.cipher.refresh()
            assert not any(p.failed for p in reencrypt.reencrypt_all(own))
            blobs = BlobStore.for_settings(cfg)
            names = list(blobs.names())
            assert names and all(blobs.reseal(n) for n in names)
            ring = rotation.retire(
                cfg.resolved_key_file,
                "k1",
                lambda: sum(reencrypt.deep_count(own, "k1").values()),
                settle_seconds=0,
            )
            assert list(ring.data_keys) == ["k2"]
            own.cipher.refresh()
            got = client.get(f"/api/v1/incidents/{pid}", headers=h).json()
            assert got["reporter"]["phone"] == PLANTED["reporter_phone"]
            assert PLANTED["person"] in {t["name"] for t in got["targets"]}
        # old row versions (written under k1 before the rotation) linger in free space of the
        # database files until they are rewritten: ``qorgau keys reencrypt --compact``
        reencrypt.compact(own, full=True)
        # reading the SQLite file must find no other connection of this process open on it
        # (closing a descriptor drops every POSIX lock the process holds on the file)
        store.engine.dispose()
        for raw in (database_bytes(own), data_dir_bytes(cfg.data_dir, own.engine.url.database)):
            leaks = found_in_clear(raw, ack["receipt_code"])
            assert not leaks, f"found in clear after rotation: {leaks}"
        dump = database_bytes(own)
        i = dump.find(b"enc1:k1:")
        assert b"enc1:k2:" in dump and i < 0, "ciphertext under the old key left in the copy"
    finally:
        own.close()
