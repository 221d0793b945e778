"""Web interface benchmarks (``make bench-ui``), against issue 9's targets:

- server time of the desk queue and of the case page at p95 ≤ 150 ms with 100,000 incidents,
  on SQLite and on PostgreSQL (a responder's session; the queue with no filter, each filter,
  text search and later pages; case pages of random incidents), each request through the whole
  app in process;
- the public report form: page weight (HTML and everything it loads) ≤ 100 KB, and no
  request to anywhere but the server itself.

    python -m benchmarks.ui_pages              # 100,000 incidents
    QUICK=1 python -m benchmarks.ui_pages      # 20,000
    BENCH_PARTS=weight python -m benchmarks.ui_pages
"""

from __future__ import annotations

import os
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.driver import machine
from benchmarks.reports import _generate, _store

QUICK = os.environ.get("QUICK") == "1"
LARGE = 20_000 if QUICK else 100_000
REQUESTS = 100 if QUICK else 300
ASSET = re.compile(r'(?:src|href)="([^"]+)"')


def _percentiles(times: list[float]) -> dict[str, float]:
    times = sorted(times)
    return {
        "requests": len(times),
        "p50 ms": statistics.median(times),
        "p95 ms": times[int(0.95 * len(times)) - 1],
        "max ms": times[-1],
    }


def _kind(url: str) -> str:
    """The shape of a queue request (which filters), for the per-shape figures."""
    if "?" not in url:
        return url
    path, query = url.split("?", 1)
    return path + "?" + "&".join(sorted(p.split("=")[0] for p in query.split("&")))


def _queue_urls(rng: random.Random, taxonomy: Any) -> list[str]:
    categories = list(taxonomy.ids("category"))
    attack_types = list(taxonomy.ids("attack_type"))
    choices = [
        lambda: "/desk",
        lambda: f"/desk?status={rng.choice(['new', 'triaged', 'in_progress', 'closed'])}",
        lambda: f"/desk?severity={rng.choice(['critical', 'high', 'medium', 'low'])}",
        lambda: f"/desk?category={rng.choice(categories)}",
        lambda: f"/desk?attack_type={rng.choice(attack_types)}",
        lambda: f"/desk?severity=high&status=new&category={rng.choice(categories)}",
        lambda: f"/desk?q={rng.choice(['orda', 'ddos', 'угроза', 'телефон', 'Алматы'])}",
        lambda: "/desk?assigned=mine",
        lambda: "/desk?assigned=unassigned",
        lambda: "/desk?clock=breached",
        lambda: "/desk?clock=due_soon",
        lambda: f"/desk?page={rng.randint(2, 50)}",
        lambda: "/desk/queue/rows",
    ]
    return [rng.choice(choices)() for _ in range(REQUESTS)]


def bench_desk(tmp: Path, backend: str) -> dict[str, dict[str, float]]:
    import sqlalchemy as sa
    from fastapi.testclient import TestClient

    from qorgau.domain.model import Role
    from qorgau.store import users
    from qorgau.store.tables import incidents
    from qorgau.web.app import create_app

    out: dict[str, dict[str, float]] = {}
    with _store(backend, tmp) as store:
        out["load"] = {"generate s": _generate(store, LARGE)}
        with store.write() as conn:
            org = users.org_id_for(conn, "default")
            u = users.create_user(
                conn,
                org_id=org,
                username="responder",
                role=Role.RESPONDER,
                password=None,
                display_name=None,
                now=store.now(),
            )
            token, _ = users.issue_token(conn, u.id, "web session", store.now(), timedelta(hours=2))
        with store.read() as conn:
            ids = list(conn.execute(sa.select(incidents.c.public_id)).scalars())
        rng = random.Random(9)
        app = create_app(store.settings, store)
        with TestClient(app, headers={"accept": "text/html"}) as client:
            client.cookies.set("qorgau_session", token)
            for url in [
                "/desk",
                f"/desk/cases/{ids[0]}",
            ] * 5:  # warm caches, as a running server has
                assert client.get(url).status_code == 200
            for name, urls in (
                ("queue", _queue_urls(rng, store.taxonomy)),
                ("case page", [f"/desk/cases/{rng.choice(ids)}" for _ in range(REQUESTS)]),
            ):
                times = []
                by_kind: dict[str, list[float]] = {}
                for url in urls:
                    t0 = time.perf_counter()
                    r = client.get(url)
                    elapsed = (time.perf_counter() - t0) * 1000
                    times.append(elapsed)
                    by_kind.setdefault(_kind(url), []).append(elapsed)
                    assert r.status_code == 200, (url, r.status_code, r.text[:300])
                out[name] = _percentiles(times)
                if name == "queue":
                    out["queue by filter (p95 ms)"] = {
                        k: sorted(v)[max(0, int(0.95 * len(v)) - 1)]
                        for k, v in sorted(by_kind.items())
                    }
    return out


def bench_report_form_weight(tmp: Path) -> dict[str, float]:
    """Bytes of /report and of everything it references; references off the server counted."""
    from fastapi.testclient import TestClient

    from qorgau.config import Settings
    from qorgau.store import migrate, users
    from qorgau.store.store import open_store
    from qorgau.web.app import create_app

    settings = Settings(data_dir=tmp, database_url=f"sqlite:///{tmp / 'weight.db'}")
    store = open_store(settings, create_keys=True)
    migrate.upgrade(store.engine)
    with store.write() as conn:
        users.ensure_org(conn, "default", "Weight", store.now())
    out: dict[str, float] = {}
    with TestClient(create_app(settings, store)) as client:
        for lang in ("kk", "ru", "en"):
            page = client.get(f"/report?lang={lang}", headers={"accept": "text/html"})
            assert page.status_code == 200
            refs = [r for r in ASSET.findall(page.text) if not r.startswith(("#", "?"))]
            outside = [r for r in refs if not r.startswith("/") or r.startswith("//")]
            loaded = [r for r in refs if r.startswith("/static/")]
            total = len(page.content) + sum(len(client.get(r).content) for r in set(loaded))
            out[f"{lang}: HTML KB"] = len(page.content) / 1024
            out[f"{lang}: HTML + CSS + JS KB"] = total / 1024
            out[f"{lang}: references off the server"] = len(outside)
    store.close()
    return out


def main() -> None:
    started = datetime.now(UTC)
    print(f"# Web interface — {started:%Y-%m-%d %H:%M} UTC")
    print(f"Machine: {machine()}")
    print(f"Command: {'QUICK=1 ' if QUICK else ''}python -m benchmarks.ui_pages\n")
    parts = os.environ.get("BENCH_PARTS", "weight,sqlite,postgresql").split(",")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if "weight" in parts:
            print("## Report form page weight")
            for k, v in bench_report_form_weight(tmp).items():
                print(f"- {k}: {v:,.1f}")
        for backend in [p for p in ("sqlite", "postgresql") if p in parts]:
            print(f"\n## Desk pages, {LARGE:,} incidents, {backend}")
            for section, figures in bench_desk(tmp, backend).items():
                print(f"### {section}")
                for k, v in figures.items():
                    print(f"- {k}: {v:,.1f}")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
