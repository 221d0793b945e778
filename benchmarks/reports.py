"""Reports and sharing benchmarks (``make bench-reports``), against issue 8's targets:

- the quarterly monitoring report (HTML and PDF) from 10,000 incidents in ≤ 10 s;
- the statistics API at p95 ≤ 200 ms on 100,000 incidents, on SQLite and on PostgreSQL
  (a mix of breakdowns by every dimension with random filters, time series and advocacy
  figures, each request through the whole app in process);
- a STIX 2.1 export of 10,000 incidents in ≤ 30 s (and the official validator's time on it).

    python -m benchmarks.reports            # 10,000 and 100,000 incidents
    QUICK=1 python -m benchmarks.reports    # 2,000 and 20,000
    BENCH_PARTS=sqlite,postgresql python -m benchmarks.reports   # the statistics API only
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.driver import machine

QUICK = os.environ.get("QUICK") == "1"
SMALL = 2_000 if QUICK else 10_000
LARGE = 20_000 if QUICK else 100_000
REQUESTS = 100 if QUICK else 300
YEAR = 2025
PG_ADMIN_URL = os.environ.get(
    "QORGAU_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def _store(backend: str, tmp: Path) -> Iterator[Any]:
    import sqlalchemy as sa

    from qorgau.config import Settings
    from qorgau.store import migrate, users
    from qorgau.store.store import open_store

    name = f"qorgau_bench_{uuid.uuid4().hex[:8]}"
    admin = None
    if backend == "postgresql":
        admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(False)
    else:
        url = f"sqlite:///{tmp / (name + '.db')}"
    s = Settings(data_dir=tmp, database_url=url, key_file=tmp / f"{name}.key")
    store = open_store(s, create_keys=True)
    migrate.upgrade(store.engine)
    with store.write() as conn:
        users.ensure_org(conn, "default", "Adil Soz monitoring (benchmark)", store.now())
    try:
        yield store
    finally:
        store.close()
        if admin is not None:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()


def _generate(store: Any, n: int) -> float:
    from qorgau.demo.year import generate_year

    t0 = time.perf_counter()
    generate_year(store, year=YEAR, incidents=n, seed=8)
    elapsed = time.perf_counter() - t0
    if store.engine.dialect.name == "postgresql":
        # What autovacuum does after a bulk load: the visibility map lets the statistics read
        # the covering index alone (index-only scans).
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    return elapsed


def bench_report_and_stix(tmp: Path) -> dict[str, float]:
    from qorgau.desk import CaseDesk
    from qorgau.domain.tlp import Tlp
    from qorgau.report_desk import ReportDesk
    from qorgau.reports.periods import parse_period
    from qorgau.reports.render import render_html, render_pdf
    from qorgau.reports.stix import validate_stix
    from qorgau.sharing_desk import SharingDesk

    out: dict[str, float] = {}
    with _store("sqlite", tmp) as store:
        out["generate s"] = _generate(store, SMALL)
        who = CaseDesk(store).system("bench")
        desk = ReportDesk(store)
        period = parse_period(f"{YEAR}-Q3")
        for lang in ("en", "ru", "kk"):
            t0 = time.perf_counter()
            data = desk.report_data(who, period, lang)
            html = render_html(data)
            t1 = time.perf_counter()
            pdf = render_pdf(html)
            t2 = time.perf_counter()
            out[f"report {lang}: data+HTML s"] = t1 - t0
            out[f"report {lang}: PDF s"] = t2 - t1
            out[f"report {lang}: total s"] = t2 - t0
            out[f"report {lang}: PDF KB"] = len(pdf) / 1024
        out["incidents in the quarter"] = data.total
        sharing = SharingDesk(store)
        t0 = time.perf_counter()
        text = sharing.stix(who, Tlp.AMBER_STRICT)
        out["STIX export s"] = time.perf_counter() - t0
        out["STIX MB"] = len(text) / 2**20
        t0 = time.perf_counter()
        findings = validate_stix(text)
        out["stix2-validator s"] = time.perf_counter() - t0
        out["validator errors"] = len(findings)
        t0 = time.perf_counter()
        events = sharing.misp(who, Tlp.AMBER_STRICT)
        out["MISP export s"] = time.perf_counter() - t0
        out["MISP events"] = len(events)
    return out


def _requests(rng: random.Random) -> Iterator[tuple[str, dict[str, Any]]]:
    dims = [
        "category",
        "attack_type",
        "region",
        "platform",
        "target_type",
        "gender",
        "perpetrator_type",
        "legal_ref",
        "legal_outcome",
        "severity",
    ]
    periods = [str(YEAR), f"{YEAR}-Q1", f"{YEAR}-Q2", f"{YEAR}-Q3", f"{YEAR}-Q4", f"{YEAR}-05"]
    filters = [
        {},
        {"attack_type": "threats"},
        {"gender": "woman"},
        {"region": "almaty_city"},
        {"target_type": "journalist", "attack_type": "harassment_campaign"},
        {"category": "safety", "perpetrator_type": "unknown"},
        {"legal_outcome": "investigation_refused"},
    ]
    while True:
        kind = rng.random()
        params: dict[str, Any] = {"period": rng.choice(periods), **rng.choice(filters)}
        if kind < 0.7:
            yield "/api/v1/stats/breakdown", {**params, "by": rng.choice(dims)}
        elif kind < 0.9:
            g = rng.choice(["month", "quarter"])
            by = rng.choice([None, "category", "attack_type"])
            yield (
                "/api/v1/stats/series",
                {
                    **params,
                    "period": str(YEAR),
                    "granularity": g,
                    **({"by": by} if by else {}),
                },
            )
        else:
            yield "/api/v1/stats/advocacy", params


def bench_stats_api(tmp: Path, backend: str) -> dict[str, float]:
    from datetime import timedelta

    from fastapi.testclient import TestClient

    from qorgau.domain.model import Role
    from qorgau.store import users
    from qorgau.web.app import create_app

    out: dict[str, float] = {}
    with _store(backend, tmp) as store:
        out["generate s"] = _generate(store, LARGE)
        with store.write() as conn:
            org = users.org_id_for(conn, "default")
            u = users.create_user(
                conn,
                org_id=org,
                username="analyst",
                role=Role.ANALYST,
                password=None,
                display_name=None,
                now=store.now(),
            )
            token, _ = users.issue_token(conn, u.id, "bench", store.now(), timedelta(hours=2))
        headers = {"Authorization": f"Bearer {token}"}
        app = create_app(store.settings, store)
        rng = random.Random(11)
        times: list[float] = []
        with TestClient(app) as client:
            gen = _requests(rng)
            for _ in range(10):  # warm the caches the way a running server has them
                path, params = next(gen)
                client.get(path, params=params, headers=headers)
            for _ in range(REQUESTS):
                path, params = next(gen)
                t0 = time.perf_counter()
                r = client.get(path, params=params, headers=headers)
                times.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200, (path, params, r.text[:200])
        times.sort()
        out["requests"] = len(times)
        out["p50 ms"] = statistics.median(times)
        out["p95 ms"] = times[int(0.95 * len(times)) - 1]
        out["p99 ms"] = times[int(0.99 * len(times)) - 1]
        out["max ms"] = times[-1]
    return out


def main() -> None:
    started = datetime.now(UTC)
    print(f"# Reports and sharing — {started:%Y-%m-%d %H:%M} UTC")
    print(f"Machine: {machine()}")
    print(f"Command: {'QUICK=1 ' if QUICK else ''}python -m benchmarks.reports\n")
    parts = os.environ.get("BENCH_PARTS", "report,sqlite,postgresql").split(",")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if "report" in parts:
            print(f"## Report, STIX and MISP from {SMALL:,} incidents (SQLite)")
            for k, v in bench_report_and_stix(tmp).items():
                print(f"- {k}: {v:,.2f}")
        for backend in [p for p in ("sqlite", "postgresql") if p in parts]:
            print(f"\n## Statistics API, {LARGE:,} incidents, {backend}")
            for k, v in bench_stats_api(tmp, backend).items():
                print(f"- {k}: {v:,.1f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
