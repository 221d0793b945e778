"""Intake and search benchmarks against real servers on loopback, measured with wrk.

    python -m benchmarks.driver            # full run (20 s per load, 100,000 incidents)
    QUICK=1 python -m benchmarks.driver    # smoke run (5 s, 10,000 incidents)

For SQLite and PostgreSQL it measures: the bare ceiling (a minimal async endpoint inserting one
row), the common layout (sync handler + ORM session per request, SQLite), Qorgau's intake
(``qorgau serve``, every acknowledged report checked in the database afterwards) and filtered
search over N incidents. Results go to BENCHMARKS.md with the machine and the command.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
WRK_DIR = Path(__file__).resolve().parent / "wrk"
QUICK = os.environ.get("QUICK") == "1"
DURATION = "5s" if QUICK else "20s"
# Intake is measured at two concurrency levels: latency targets and throughput pull apart.
INTAKE_CONNECTIONS = [int(c) for c in os.environ.get("BENCH_CONNECTIONS", "32,64").split(",")]
CONNECTIONS = max(INTAKE_CONNECTIONS)
SEARCH_CONNECTIONS = int(os.environ.get("BENCH_SEARCH_CONNECTIONS", "4"))
N_SEARCH = 10_000 if QUICK else 100_000
WARM_UP = "3s"
WORKERS = int(os.environ.get("BENCH_WORKERS", str(os.cpu_count() or 1)))
# For working on one figure: BENCH_ONLY=intake,search BENCH_BACKENDS=sqlite
ONLY = os.environ.get("BENCH_ONLY", "bare,intake,orm,search").split(",")
BACKENDS = os.environ.get("BENCH_BACKENDS", "sqlite,postgresql").split(",")
PG_ADMIN = os.environ.get(
    "QORGAU_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@dataclass
class Result:
    name: str
    backend: str
    rps: float
    p50: float
    p95: float
    p99: float
    non2xx: int
    errors: int
    note: str = ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError("server did not open its port")


def start(cmd: list[str], env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT
        )
    wait_port(port, proc, log)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def wrk(
    script: str,
    port: int,
    connections: int,
    env: dict[str, str] | None = None,
    duration: str | None = None,
) -> dict[str, float]:
    cmd = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{duration or DURATION}",
        "--timeout",
        "10s",
        "-s",
        str(WRK_DIR / script),
        f"http://127.0.0.1:{port}",
    ]
    out = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=True,
        timeout=600,
    ).stdout
    m = re.search(r"WRK_JSON (\{.*\})", out)
    if not m:
        raise RuntimeError(f"wrk printed no figures:\n{out}")
    data: dict[str, float] = json.loads(m.group(1))
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
    return data


def warm_up(script: str, port: int, connections: int, env: dict[str, str] | None = None) -> None:
    """Let every server process finish starting and warm its caches before measuring: a
    multi-process server opens its port before its workers have imported the application."""
    wrk(script, port, connections, env, duration=WARM_UP)


def result(name: str, backend: str, d: dict[str, float], note: str = "") -> Result:
    return Result(
        name,
        backend,
        d["rps"],
        d["p50_ms"],
        d["p95_ms"],
        d["p99_ms"],
        int(d["non2xx"]),
        int(d["socket_errors"]),
        note,
    )


def new_pg_database(tag: str) -> str:
    name = f"qorgau_bench_{tag}_{os.getpid()}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return sa.engine.make_url(PG_ADMIN).set(database=name).render_as_string(False)


def drop_pg_database(url: str) -> None:
    name = sa.engine.make_url(url).database
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def qorgau_env(data_dir: Path, url: str) -> dict[str, str]:
    return {
        "QORGAU_DATA_DIR": str(data_dir),
        "QORGAU_DATABASE_URL": url,
        "QORGAU_KEY_FILE": str(data_dir / "keys" / "qorgau.key"),
        # The load comes from one address: the per-address intake limit would cap it.
        "QORGAU_INTAKE_RATE_PER_MINUTE": "0",
    }


def qorgau_cli(*args: str, env: dict[str, str]) -> str:
    return subprocess.run(
        [sys.executable, "-m", "qorgau.cli", *args],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout


def count_rows(url: str, table: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as c:
        n = int(c.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())
    engine.dispose()
    return n


def measure_app(app: str, env: dict[str, str], log: Path) -> dict[str, float]:
    """Serve a comparison app with uvicorn, warm it up, load it, stop it."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    proc = start(cmd, env, port, log)
    try:
        warm_up("intake.lua", port, CONNECTIONS)
        return wrk("intake.lua", port, CONNECTIONS)
    finally:
        stop(proc)


def bench_bare(backend: str, tmp: Path) -> Result:
    target = new_pg_database("bare") if backend == "postgresql" else str(tmp / "bare.db")
    try:
        d = measure_app("benchmarks.bare_app:app", {"BARE_DB": target}, tmp / "bare.log")
    finally:
        if backend == "postgresql":
            drop_pg_database(target)
    return result("bare ceiling: async endpoint, one INSERT", backend, d)


def bench_orm(tmp: Path) -> Result:
    d = measure_app("benchmarks.orm_app:app", {"BARE_DB": str(tmp / "orm.db")}, tmp / "orm.log")
    return result("common layout: sync handler + ORM session per request", "sqlite", d)


def prepare_qorgau(backend: str, tmp: Path, tag: str) -> tuple[dict[str, str], str]:
    data_dir = tmp / f"qorgau-{backend}-{tag}"
    url = new_pg_database(tag) if backend == "postgresql" else f"sqlite:///{data_dir / 'qorgau.db'}"
    env = qorgau_env(data_dir, url)
    qorgau_cli("init", env=env)
    return env, url


def start_qorgau(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    """``qorgau serve`` as an installation would run it: one process per core."""
    cmd = [
        sys.executable,
        "-m",
        "qorgau.cli",
        "serve",
        "--port",
        str(port),
        "--workers",
        str(WORKERS),
        "--log-level",
        "warning",
    ]
    return start(cmd, env, port, log)


def bench_intake(backend: str, tmp: Path, connections: int) -> Result:
    env, url = prepare_qorgau(backend, tmp, f"intake{connections}")
    port = free_port()
    proc = start_qorgau(env, port, tmp / f"serve-{backend}.log")
    try:
        warm_up("intake.lua", port, connections)
        time.sleep(0.5)  # let the warm-up's last in-flight reports land before counting
        before = count_rows(url, "incidents")
        d = wrk("intake.lua", port, connections)
    finally:
        stop(proc)
    acked = int(d["requests"] - d["non2xx"])
    stored = count_rows(url, "incidents") - before
    # Every acknowledged report must be in the database; at most one in-flight request per
    # connection may have been committed without its answer being counted when wrk stopped.
    durable = acked <= stored <= acked + connections
    note = f"{acked} acknowledged, {stored} in the database: " + (
        "every acknowledged report stored" if durable else "MISMATCH"
    )
    if backend == "postgresql":
        drop_pg_database(url)
    if not durable:
        raise SystemExit(f"durability check failed on {backend}: {note}")
    name = f"Qorgau intake, {connections} connections (validation, encryption, audit)"
    return result(name, backend, d, note)


def bench_search(backend: str, tmp: Path) -> Result:
    env, url = prepare_qorgau(backend, tmp, "search")
    t0 = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "benchmarks.load_incidents", str(N_SEARCH)],
        env={**os.environ, **env},
        check=True,
        cwd=ROOT,
    )
    load_s = time.monotonic() - t0
    out = qorgau_cli("user", "add", "bench", "--role", "coordinator", "--token", env=env)
    token = re.search(r"(qg_[A-Za-z0-9_-]+)", out)
    assert token
    port = free_port()
    proc = start_qorgau(env, port, tmp / f"search-{backend}.log")
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as c:  # check the queries work
            r = c.get(
                "/api/v1/incidents?status=new",
                headers={"Authorization": f"Bearer {token.group(1)}"},
            )
            r.raise_for_status()
            assert r.json()["total"] > 0
        search_env = {"QORGAU_TOKEN": token.group(1)}
        warm_up("search.lua", port, SEARCH_CONNECTIONS, search_env)
        d = wrk("search.lua", port, SEARCH_CONNECTIONS, search_env)
    finally:
        stop(proc)
        if backend == "postgresql":
            drop_pg_database(url)
    return result(
        f"filtered search over {N_SEARCH:,} incidents (12 filter mixes)",
        backend,
        d,
        f"loaded in {load_s:.0f} s",
    )


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    pg = (
        "PostgreSQL "
        + subprocess.run(["psql", "--version"], capture_output=True, text=True)
        .stdout.split()[-1]
        .rstrip(")")
        if shutil.which("psql")
        else ""
    )
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM; {platform.system()} "
        f"{platform.release()}; Python {platform.python_version()}; SQLite "
        f"{sqlite3.sqlite_version}; {pg}; wrk 1 thread on the same machine (loopback)"
    )


def write_markdown(results: list[Result], started: datetime) -> str:
    cmd = "make bench" if not QUICK else "make bench-quick"
    lines = [
        "# Benchmarks",
        "",
        f"Machine: {machine()}.",
        f"Command: `{cmd}` (runs `python -m benchmarks.driver`), {DURATION} per load, "
        f"`qorgau serve --workers {WORKERS}`, "
        f"{CONNECTIONS} connections for the bare ceiling and the common layout, "
        f"{SEARCH_CONNECTIONS} for search. "
        f"Run {started:%Y-%m-%d %H:%M} UTC.",
        "",
        "| what | database | req/s | p50 ms | p95 ms | p99 ms | non-2xx | socket errors | note |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.backend} | {r.rps:,.0f} | {r.p50:.1f} | {r.p95:.1f} | "
            f"{r.p99:.1f} | {r.non2xx} | {r.errors} | {r.note} |"
        )
    by = {(r.name.split(":")[0].split(" (")[0], r.backend): r for r in results}
    lines += ["", "Ratios (Qorgau intake / bare ceiling on the same database):", ""]
    for backend in ("sqlite", "postgresql"):
        q = by.get((f"Qorgau intake, {CONNECTIONS} connections", backend))
        b = by.get(("bare ceiling", backend))
        if q and b:
            lines.append(f"- {backend}: {q.rps:,.0f} / {b.rps:,.0f} = {q.rps / b.rps:.2f}")
    orm = by.get(("common layout", "sqlite"))
    q = by.get((f"Qorgau intake, {CONNECTIONS} connections", "sqlite"))
    if orm and q:
        lines.append(
            f"- sqlite, Qorgau / common layout: {q.rps:,.0f} / {orm.rps:,.0f} = "
            f"{q.rps / orm.rps:.1f}×"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install wrk")
    started = datetime.now(UTC)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="qorgau-bench-") as d:
        tmp = Path(d)
        for backend in BACKENDS:
            if "bare" in ONLY:
                results.append(bench_bare(backend, tmp))
                print(results[-1], file=sys.stderr)
            if "intake" in ONLY:
                for connections in INTAKE_CONNECTIONS:
                    results.append(bench_intake(backend, tmp, connections))
                    print(results[-1], file=sys.stderr)
        if "orm" in ONLY and "sqlite" in BACKENDS:
            results.append(bench_orm(tmp))
            print(results[-1], file=sys.stderr)
        for backend in BACKENDS:
            if "search" in ONLY:
                results.append(bench_search(backend, tmp))
                print(results[-1], file=sys.stderr)
    md = write_markdown(results, started)
    if set(ONLY) != {"bare", "intake", "orm", "search"} or len(BACKENDS) < 2:
        print(md)
        return
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / f"run-{started:%Y%m%dT%H%M%S}.md").write_text(md)
    print(md)
    print(
        f"elapsed {timedelta(seconds=int((datetime.now(UTC) - started).total_seconds()))}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
