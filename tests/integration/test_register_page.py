"""The public register of blocked resources as a web page, on SQLite and PostgreSQL: content in
each language, escaping of hostile data, the public record of each cited measurement (which
never names the volunteer who measured), and the page as a real headless Chromium renders it.

Nothing here leaves 127.0.0.1. The browser test needs Debian's Chromium at /usr/bin/chromium
and is skipped, saying so, without it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from qorgau.desk import CaseDesk
from qorgau.domain.model import Principal, Role
from qorgau.i18n import gettext
from qorgau.monitor.model import Measurement, TcpConnect, Vantage, Verdict, VerdictKind
from qorgau.monitor_desk import MonitorDesk
from qorgau.store import monitor as monitor_repo
from qorgau.store import users
from qorgau.store.store import Store
from qorgau.web.app import create_app
from qorgau.web.pages import TEXT
from tests.conftest import Account
from tests.unit.test_monitor_classify import measure
from tests.unit.test_monitor_classify import page as http_page

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
needs_chromium = pytest.mark.skipif(
    not os.path.exists(CHROMIUM),
    reason=f"Chromium is not installed at {CHROMIUM}: the page cannot be rendered",
)

T0 = datetime(2025, 5, 6, 4, 0, tzinfo=UTC)
KT = Vantage(country="KZ", asn="AS9198", network_name="Kazakhtelecom")
BEELINE = Vantage(country="KZ", asn="AS21299", network_name="Beeline")
VOLUNTEER = "volunteer-aigerim"
HOSTILE_HOST = "<img src=x onerror=alert(1)>.kz"
HOSTILE_ORDER = '<script>alert("order")</script> Almaly court 2-123/2025'
COLUMNS = (
    "host",
    "blocked_now",
    "first_seen",
    "last_seen",
    "networks",
    "methods",
    "legal_basis",
    "measurements",
)


@dataclass(frozen=True)
class Seeded:
    dns: int  # orda.kz, DNS tampering on Kazakhtelecom
    tls: int  # orda.kz, TLS interference on Beeline
    accessible: int  # orda.kz reachable again on Kazakhtelecom: not a blocking observation
    hostile: int  # a block page on a host named like an HTML tag
    volunteer: int  # vlast.kz measured by a volunteer's agent, kept in the vault
    volunteer_sha256: str
    other_org: int  # blocked in another organisation's monitor


def obs(url: str, at: datetime, vantage: Vantage, sid: str) -> Measurement:
    return Measurement(url=url, vantage=vantage, started_at=at, source="qorgau", source_id=sid)


def seed(store: Store) -> Seeded:
    """Three hosts in the default organisation's register, one in another's.

    The volunteer's measurement goes the way an agent's upload goes (``MonitorDesk.take`` as
    the agent's principal), so its vault item carries the agent's name as collector exactly as
    in production, and the public record must still not show it."""
    now = store.now()
    with store.write() as conn:
        org = users.org_id_for(conn, "default")
        other = users.org_id_for(conn, "other")

        def rec(
            org_id: int, url: str, host: str, at: datetime, v: Vantage, sid: str, kind: VerdictKind
        ) -> int:
            evidence = (f"{kind} seen from {v.network_name}",)
            done = monitor_repo.record(
                conn, org_id, obs(url, at, v, sid), Verdict(kind, evidence=evidence), host, now
            )
            assert done is not None
            return done.observation_id

        dns = rec(org, "https://orda.kz/", "orda.kz", T0, KT, "a", VerdictKind.DNS_TAMPERING)
        tls = rec(
            org,
            "https://orda.kz/",
            "orda.kz",
            T0 + timedelta(hours=1),
            BEELINE,
            "b",
            VerdictKind.TLS_INTERFERENCE,
        )
        accessible = rec(
            org,
            "https://orda.kz/",
            "orda.kz",
            T0 + timedelta(hours=2),
            KT,
            "c",
            VerdictKind.ACCESSIBLE,
        )
        hostile = rec(
            org,
            "http://hostile.example/",
            HOSTILE_HOST,
            T0 - timedelta(days=3),
            KT,
            "d",
            VerdictKind.HTTP_BLOCKPAGE,
        )
        monitor_repo.set_legal_basis(conn, org, HOSTILE_HOST, "court_order", HOSTILE_ORDER)
        other_org = rec(
            other, "https://orda.kz/", "orda.kz", T0, KT, "e", VerdictKind.DNS_TAMPERING
        )
    m = measure(
        answers=("10.10.34.34",),
        tcp=(TcpConnect("10.10.34.34", 80, ok=False, failure="generic_timeout_error"),),
        http=(http_page(failure="generic_timeout_error", status=None, title=None, length=None),),
    )
    m = replace(
        m,
        vantage=replace(KT, agent_id=VOLUNTEER),
        started_at=T0 + timedelta(hours=3),
        source="qorgau",
    )
    raw = json.dumps({"agent": VOLUNTEER, "id": "r-1", "url": m.url}, sort_keys=True).encode()
    agent = Principal(None, Role.ADMIN, org, f"agent:{VOLUNTEER}")
    report = MonitorDesk(CaseDesk(store)).take(agent, m, raw, source_id=f"agent:7:{VOLUNTEER}")
    assert (report.new, report.became_blocked) == (1, 1)
    volunteer = next(
        e["observation"]
        for e in MonitorDesk(CaseDesk(store)).host_timeline(agent, "vlast.kz")
        if e["verdict"] == "dns_tampering"
    )
    return Seeded(
        dns,
        tls,
        accessible,
        hostile,
        volunteer,
        hashlib.sha256(raw).hexdigest(),
        other_org,
    )


def observation_url(host: str, observation_id: int) -> str:
    from urllib.parse import quote

    return f"/api/v1/register/{quote(host, safe='')}/observations/{observation_id}"


# ---------------------------------------------------------------------------------------------
# the page and the record, through the ASGI app


def test_the_page_speaks_each_language_and_links_the_data(client: TestClient, store: Store) -> None:
    seed(store)
    en = client.get("/register")
    assert en.status_code == 200 and en.headers["content-type"].startswith("text/html")
    assert '<html lang="en">' in en.text and "Register of blocked resources" in en.text
    assert "ARTICLE 19" in en.text and "DNS tampering" in en.text
    assert 'href="/api/v1/register"' in en.text and 'href="/api/v1/register?format=csv"' in en.text
    assert "default-src 'none'" in en.headers["content-security-policy"]

    ru = client.get("/register?lang=ru", headers={"Accept-Language": "kk"})  # explicit wins
    assert '<html lang="ru">' in ru.text
    for text in (
        "Реестр заблокированных ресурсов",
        "Правовое основание",
        "Подмена DNS",
        "Вмешательство в TLS",
        "Страница блокировки (HTTP)",
        "Решение суда",
        "Неизвестно",
        "сейчас: доступен",
        "ARTICLE 19",
    ):
        assert text in ru.text, text

    kk = client.get("/register", headers={"Accept-Language": "de, kk;q=0.9, ru;q=0.5"})
    assert '<html lang="kk">' in kk.text
    for text in (
        "Бұғатталған ресурстар тізілімі",
        "Құқықтық негіз",
        "DNS бұрмалау",
        "TLS-ке араласу",
        "Сот шешімі",
        "Белгісіз",
        "қазір: бұғатталған",
    ):
        assert text in kk.text, text
    assert "Реестр" not in kk.text and "Register of" not in kk.text

    # Dates as ISO 8601 in UTC; rows in host order; the times of orda.kz's blocking span.
    assert "2025-05-06T04:00:00Z" in en.text and "2025-05-06T05:00:00Z" in en.text
    hosts = re.findall(r'<td class="host">(.*?)</td>', en.text)
    assert hosts == ["&lt;img src=x onerror=alert(1)&gt;.kz", "orda.kz", "vlast.kz"]


def test_hostile_data_is_escaped_and_nothing_loads_from_elsewhere(
    client: TestClient, store: Store
) -> None:
    s = seed(store)
    html = client.get("/register").text
    assert "&lt;img src=x onerror=alert(1)&gt;.kz" in html
    assert "&lt;script&gt;alert(&#34;order&#34;)&lt;/script&gt; Almaly court" in html
    assert not re.search(r"<(script|img|iframe|object|embed)\b", html, re.I)
    assert not re.search(r"\b(src|srcset)\s*=", html.replace("src=x onerror", ""), re.I)
    assert "@import" not in html and "url(" not in html and "//" not in html.split("<body>")[0]
    # The hostile host's measurement link is percent-encoded, and it works.
    href = observation_url(HOSTILE_HOST, s.hostile)
    assert f'href="{href}"' in html
    r = client.get(href)
    assert r.status_code == 200 and r.json()["host"] == HOSTILE_HOST


def test_an_observation_record_gives_what_verifies_it_and_never_who_measured(
    client: TestClient, store: Store
) -> None:
    s = seed(store)
    r = client.get(observation_url("vlast.kz", s.volunteer))
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {
        "observation",
        "host",
        "url",
        "at",
        "network",
        "verdict",
        "confirmed",
        "evidence",
        "source",
        "sha256",
    }
    assert body["observation"] == s.volunteer and body["host"] == "vlast.kz"
    assert body["at"] == "2025-05-06T07:00:00Z"
    assert body["network"] == "KZ AS9198 Kazakhtelecom"
    assert body["verdict"] == "dns_tampering" and body["source"] == "qorgau"
    assert any("10.10.34.34" in line for line in body["evidence"])
    assert body["sha256"] == s.volunteer_sha256  # what an exported evidence package holds
    # Neither the volunteer's name nor the agent's source id reaches the public, anywhere.
    html = client.get("/register").text
    register_json = client.get("/api/v1/register").text
    register_csv = client.get("/api/v1/register?format=csv").text
    for text in (r.text, html, register_json, register_csv):
        assert VOLUNTEER not in text and "agent:" not in text
    assert f'href="{observation_url("vlast.kz", s.volunteer)}"' in html


def test_only_blocking_observations_of_registered_hosts_are_public(
    client: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    s = seed(store)
    assert client.get(observation_url("orda.kz", s.dns)).status_code == 200
    assert client.get(observation_url("ORDA.KZ", s.tls)).json()["verdict"] == "tls_interference"
    missing = client.get(observation_url("orda.kz", s.accessible))  # reachable: not a block
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    assert client.get(observation_url("vlast.kz", s.dns)).status_code == 404  # wrong host
    assert client.get(observation_url("orda.kz", 999_999)).status_code == 404
    # Another organisation's register is not the public's here; an admin reads every one.
    assert client.get(observation_url("orda.kz", s.other_org)).status_code == 404
    admin = client.get(observation_url("orda.kz", s.other_org), headers=accounts["admin"].headers)
    assert admin.status_code == 200
    # Staff of the other organisation see theirs, not the default organisation's.
    theirs = accounts["other_coordinator"].headers
    assert client.get(observation_url("orda.kz", s.other_org), headers=theirs).status_code == 200
    assert client.get(observation_url("orda.kz", s.dns), headers=theirs).status_code == 404


def test_an_empty_register_says_so(client: TestClient) -> None:
    page = client.get("/register?lang=kk").text
    assert "Тізілімде әзірге бірде-бір ресурс жоқ." in page and "<table" not in page


# ---------------------------------------------------------------------------------------------
# the page in a real browser


@contextmanager
def served(app: FastAPI) -> Iterator[str]:
    """The app on an ephemeral loopback port, served by uvicorn in a thread of this process
    (the socket is bound here, so no other process can take the port in between)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", ws="none", http="h11")
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="register-page-http", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


@needs_chromium
def test_chromium_renders_the_kazakh_register_and_follows_a_measurement_link(
    store: Store, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    s = seed(store)

    def kk(key: str, **params: object) -> str:
        return gettext("kk", TEXT[key], **params)

    with served(create_app(store.settings, store)) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            # The browser asks for Russian; the explicit ?lang=kk wins.
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="ru-RU")
            page.set_default_timeout(10_000)
            outside: list[str] = []
            page.on(
                "request",
                lambda req: outside.append(req.url) if not req.url.startswith(base) else None,
            )
            response = page.goto(f"{base}/register?lang=kk")
            assert response is not None and response.status == 200
            assert page.locator("html").get_attribute("lang") == "kk"
            assert page.title() == "Бұғатталған ресурстар тізілімі"

            headers = page.locator("#register thead th").all_inner_texts()
            assert headers == [kk(k) for k in COLUMNS]
            assert headers[:2] == ["Хост", "Қазір бұғатталған"]
            assert headers[-2:] == ["Құқықтық негіз", "Өлшемдер"]

            rows = [
                r.locator("td").all_inner_texts() for r in page.locator("#register tbody tr").all()
            ]
            assert [r[0] for r in rows] == [HOSTILE_HOST, "orda.kz", "vlast.kz"]
            hostile, orda, vlast = rows
            assert hostile[1:4] == ["иә", "2025-05-03T04:00:00Z", "2025-05-03T04:00:00Z"]
            assert hostile[5] == "Бұғаттау беті (HTTP)"
            assert hostile[6].splitlines() == ["Сот шешімі", HOSTILE_ORDER]
            assert orda[1:4] == ["иә", "2025-05-06T04:00:00Z", "2025-05-06T05:00:00Z"]
            assert orda[5] == "DNS бұрмалау, TLS-ке араласу"
            assert orda[6] == "Белгісіз"
            assert orda[7].split() == [f"#{s.dns}", f"#{s.tls}"]
            assert orda[4].splitlines() == [
                "KZ AS21299 Beeline — қазір: бұғатталған",
                "TLS-ке араласу",
                "2025-05-06T05:00:00Z – 2025-05-06T05:00:00Z аралығында",
                "KZ AS9198 Kazakhtelecom — қазір: қолжетімді",
                "DNS бұрмалау",
                "2025-05-06T04:00:00Z – 2025-05-06T04:00:00Z аралығында",
            ]
            assert vlast[1] == "иә" and vlast[5] == "DNS бұрмалау"
            assert VOLUNTEER not in page.content()
            page.screenshot(path=tmp_path / "register-kk.png", full_page=True)

            link = page.locator("a.observation", has_text=f"#{s.volunteer}")
            with page.expect_response(lambda r: "/observations/" in r.url) as answered:
                link.click()
            record = answered.value
            assert record.status == 200
            assert record.headers["content-type"].startswith("application/json")
            body = record.json()
            assert body["observation"] == s.volunteer and body["sha256"] == s.volunteer_sha256
            assert page.url == f"{base}/api/v1/register/vlast.kz/observations/{s.volunteer}"
            assert s.volunteer_sha256 in page.locator("body").inner_text()
            assert VOLUNTEER not in page.content()
            assert outside == []  # nothing was fetched from anywhere but the desk
        finally:
            browser.close()

    png = (tmp_path / "register-kk.png").read_bytes()
    width, height = _png_size(png)
    assert len(png) > 10_000 and width == 1280 and height >= 400
