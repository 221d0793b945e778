"""Monitor bookkeeping on SQLite and PostgreSQL: observations stored once, each host's state
per network moving forward in time, an incident opened when a host becomes blocked with the
measurement in the vault, and the public register."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from qorgau.desk import CaseDesk
from qorgau.monitor.model import Measurement, Vantage, Verdict, VerdictKind
from qorgau.monitor_desk import MonitorDesk, register_csv
from qorgau.security.keys import load_keyring
from qorgau.store import monitor as monitor_repo
from qorgau.store.blobs import BlobStore
from qorgau.store.store import Store
from qorgau.store.tables import incidents, vault_items
from qorgau.vault_desk import VaultDesk
from tests.conftest import Account, shared_file

T0 = datetime(2025, 5, 6, 4, 0, tzinfo=UTC)
KT = Vantage(country="KZ", asn="AS9198", network_name="Kazakhtelecom")
BEELINE = Vantage(country="KZ", asn="AS21299", network_name="Beeline")


def obs(url: str, at: datetime, vantage: Vantage, sid: str) -> Measurement:
    return Measurement(url=url, vantage=vantage, started_at=at, source="qorgau", source_id=sid)


def test_host_state_moves_forward_and_the_register_keeps_the_span(store: Store) -> None:
    now = store.now()
    blocked = Verdict(VerdictKind.DNS_TAMPERING, evidence=("the resolver lied",))
    ok = Verdict(VerdictKind.ACCESSIBLE)
    with store.write() as conn:
        org = 1
        r1 = monitor_repo.record(
            conn, org, obs("https://orda.kz/", T0, KT, "a"), ok, "orda.kz", now
        )
        r2 = monitor_repo.record(
            conn,
            org,
            obs("https://orda.kz/", T0 + timedelta(hours=1), KT, "b"),
            blocked,
            "orda.kz",
            now,
        )
        # an older observation arriving late does not move the current state back
        r3 = monitor_repo.record(
            conn,
            org,
            obs("https://orda.kz/", T0 - timedelta(days=2), KT, "c"),
            blocked,
            "orda.kz",
            now,
        )
        again = monitor_repo.record(
            conn, org, obs("https://orda.kz/", T0, KT, "a"), ok, "orda.kz", now
        )
        monitor_repo.record(
            conn,
            org,
            obs("https://kaz.orda.kz/", T0 + timedelta(hours=1), KT, "d"),
            ok,
            "kaz.orda.kz",
            now,
        )
        monitor_repo.record(
            conn,
            org,
            obs("https://orda.kz/", T0 + timedelta(hours=1), BEELINE, "e"),
            Verdict(VerdictKind.TLS_INTERFERENCE),
            "orda.kz",
            now,
        )
    assert r1 and not r1.became_blocked
    assert r2 and r2.became_blocked and r2.state == "blocked"
    assert r3 and not r3.became_blocked  # already blocked; only the span widened
    assert again is None
    with store.read() as conn:
        (entry,) = monitor_repo.register(conn, 1)
    assert entry.host == "orda.kz"  # the language subdomain stayed reachable: not listed
    assert entry.first_seen == T0 - timedelta(days=2)
    assert entry.last_seen == T0 + timedelta(hours=1)
    assert {n["network"] for n in entry.networks} == {
        "KZ AS9198 Kazakhtelecom",
        "KZ AS21299 Beeline",
    }
    assert entry.methods == ["dns_tampering", "tls_interference"]
    assert entry.legal_basis == "none_known" and entry.currently_blocked
    csv_text = register_csv([entry])
    assert csv_text.splitlines()[1].startswith("orda.kz,")


@pytest.fixture
def md(desk: CaseDesk, tmp_path: Path) -> MonitorDesk:
    ring = load_keyring(desk.store.settings.resolved_key_file)
    return MonitorDesk(desk, blobs=BlobStore.from_ring(tmp_path / "blobs", ring))


def test_ooni_import_opens_incidents_with_the_measurements_as_evidence(
    store: Store, desk: CaseDesk, md: MonitorDesk, accounts: dict[str, Account]
) -> None:
    folder = shared_file("ooni-wc-netem-qa")
    admin = accounts["admin"].principal
    rep = md.import_ooni(admin, [folder])
    assert rep.read == 50 and rep.new == 50 and not rep.problems
    assert rep.incidents_opened  # the QA cases include DNS, TCP and TLS blocking
    again = md.import_ooni(admin, [folder])
    assert (again.new, again.already_known, again.incidents_opened) == (0, 50, [])
    register = {e.host: e for e in md.register(accounts["analyst"].principal)}
    assert "dns_tampering" in register["itsat.info"].methods
    assert "throttling" in register["largefile.com"].methods
    with store.read() as conn:
        opened = conn.execute(
            sa.select(incidents.c.public_id, incidents.c.title).where(
                incidents.c.public_id.in_(rep.incidents_opened)
            )
        ).all()
        measured = conn.execute(
            sa.select(sa.func.count())
            .select_from(vault_items)
            .where(vault_items.c.method == "measurement")
        ).scalar_one()
    assert len(opened) == len(rep.incidents_opened)
    assert any("itsat.info blocked" in title for _, title in opened)
    assert measured == 50  # every observation is in the vault
    incident = desk.get(admin, opened[0].public_id)
    assert incident.attack_types in (("website_blocking",), ("throttling",))
    assert incident.triage is not None
    vd = VaultDesk(desk, md.blobs)
    evidence = vd.items(admin, opened[0].public_id)
    assert evidence and all(i.method == "measurement" for i, _ in evidence)
    assert vd.verify(admin).ok


def test_the_register_is_public(client: object, store: Store) -> None:
    from fastapi.testclient import TestClient

    assert isinstance(client, TestClient)
    with store.write() as conn:
        monitor_repo.record(
            conn,
            1,
            obs("https://orda.kz/", T0, KT, "x"),
            Verdict(VerdictKind.DNS_TAMPERING),
            "orda.kz",
            store.now(),
        )
    r = client.get("/api/v1/register")
    assert r.status_code == 200 and r.json()[0]["host"] == "orda.kz"
    c = client.get("/api/v1/register?format=csv")
    assert c.headers["content-type"].startswith("text/csv") and "orda.kz" in c.text


def test_uploads_are_idempotent_and_malformed_ones_refused(
    client: object, accounts: dict[str, Account]
) -> None:
    from fastapi.testclient import TestClient

    assert isinstance(client, TestClient)
    h = accounts["responder"].headers
    body = {
        "input": "https://orda.example/",
        "measurement_start_time": "2025-05-06 04:00:00",
        "probe_cc": "KZ",
        "probe_asn": "AS9198",
        "test_name": "web_connectivity",
        "test_keys": {"queries": [], "requests": [], "tcp_connect": [], "control": {}},
    }
    first = client.post("/api/v1/monitor/measurements", json=body, headers=h)
    assert first.status_code == 200 and first.json()["new"] == 1
    again = client.post("/api/v1/monitor/measurements", json=body, headers=h)
    assert again.json() == {
        "new": 0,
        "already_known": 1,
        "became_blocked": 0,
        "incidents_opened": [],
    }
    bad = client.post(
        "/api/v1/monitor/measurements", json={"input": 42, "test_keys": []}, headers=h
    )
    assert bad.status_code == 422 and bad.json()["problems"]


def test_legal_basis_is_recorded_with_its_reference_and_audited(
    store: Store, md: MonitorDesk, accounts: dict[str, Account]
) -> None:
    from qorgau.errors import InvalidInput, NotFound

    with store.write() as conn:
        monitor_repo.record(
            conn,
            1,
            obs("https://orda.kz/", T0, KT, "x"),
            Verdict(VerdictKind.TLS_INTERFERENCE),
            "orda.kz",
            store.now(),
        )
    who = accounts["responder"].principal
    with pytest.raises(InvalidInput, match="name the order"):
        md.set_legal_basis(who, "orda.kz", "court_order", None)
    with pytest.raises(InvalidInput):
        md.set_legal_basis(who, "orda.kz", "because", None)
    with pytest.raises(NotFound):
        md.set_legal_basis(who, "never-blocked.kz", "none_known", None)
    md.set_legal_basis(who, "ORDA.kz", "administrative_order", "Ministry of Information order 17")
    (entry,) = md.register(who)
    assert entry.legal_basis == "administrative_order"
    assert entry.legal_reference == "Ministry of Information order 17"
    assert "Ministry of Information order 17" in register_csv([entry])


def test_an_outlet_shows_each_host_per_network_and_each_host_its_timeline(
    store: Store, md: MonitorDesk, accounts: dict[str, Account]
) -> None:
    from qorgau.errors import InvalidInput, NotFound

    who = accounts["responder"].principal
    for url in ("https://orda.kz/", "https://kaz.orda.kz/", "https://en.orda.kz/"):
        assert md.add_target(who, "Orda.kz", url)
    assert not md.add_target(who, "Orda.kz", "https://orda.kz/")  # already watched
    with pytest.raises(InvalidInput) as exc:
        md.add_target(who, "Orda.kz", "orda.kz")
    assert exc.value.problems[0].field == "url"
    with store.write() as conn:
        for sid, (url, host, verdict, at) in enumerate(
            [
                ("https://orda.kz/", "orda.kz", VerdictKind.ACCESSIBLE, T0),
                ("https://orda.kz/", "orda.kz", VerdictKind.DNS_TAMPERING, T0 + timedelta(hours=5)),
                (
                    "https://kaz.orda.kz/",
                    "kaz.orda.kz",
                    VerdictKind.ACCESSIBLE,
                    T0 + timedelta(hours=5),
                ),
            ]
        ):
            monitor_repo.record(
                conn, 1, obs(url, at, KT, str(sid)), Verdict(verdict), host, store.now()
            )
    status = {h.host: h for h in md.outlet_status(who, "Orda.kz")}
    assert status["orda.kz"].networks[0]["state"] == "blocked"
    assert status["kaz.orda.kz"].networks[0]["state"] == "accessible"
    assert status["en.orda.kz"].networks == []  # watched, not measured yet
    timeline = md.host_timeline(who, "ORDA.KZ")
    assert [e["verdict"] for e in timeline] == ["dns_tampering", "accessible"]
    assert md.outlets(who) == [("Orda.kz", 3)]
    with pytest.raises(NotFound):
        md.outlet_status(who, "Nobody")
