"""The observation pipeline at its two larger scales, on simulated traffic.

    python -m benchmarks.pipeline            # a simulated week through JetStream, a month on Dask
    QUICK=1 python -m benchmarks.pipeline    # two days, ten days

JetStream: a fresh PostgreSQL database; the week is stored and its row ids published (the
desk's own ``ingest``), then 1 and then 2 ``qorgau detect worker`` processes are timed from
the first publish to the last observation processed (every registered detector; findings,
evidence and incidents written). Dask: ``qorgau detect retro`` of each detector over a month
of JSON Lines on a ``LocalCluster`` of 2 processes, against the same detector in one process."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from benchmarks.driver import ROOT, drop_pg_database, machine, new_pg_database, qorgau_env

QUICK = os.environ.get("QUICK") == "1"
NATS_URL = os.environ.get("QORGAU_BENCH_NATS_URL", "nats://127.0.0.1:4222")
START = datetime(2025, 6, 2, tzinfo=UTC)
QORGAU = str(Path(sys.executable).with_name("qorgau"))


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [QORGAU, *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )


def jetstream(workers: int, days: int, folder: Path) -> tuple[int, float, float]:
    """(observations, seconds to store and publish, seconds until every one was processed)."""
    from qorgau.config import Settings
    from qorgau.desk import CaseDesk
    from qorgau.detect.simulate import simulate
    from qorgau.detect.stream import StreamPublisher
    from qorgau.observation_desk import ObservationDesk
    from qorgau.store.store import open_store

    url = new_pg_database(f"pipe{workers}")
    tag = uuid.uuid4().hex[:8]
    stream, subject, durable = f"QORGAU_BENCH_{tag}", f"qorgau-bench-{tag}.obs", f"bench-{tag}"
    env = {**qorgau_env(folder / f"w{workers}", url), "QORGAU_NATS_URL": NATS_URL}
    procs: list[subprocess.Popen[str]] = []
    try:
        _cli("init", env=env)
        sim = simulate(seed=3, start=START, days=days, outlets=3)
        store = open_store(Settings.from_env({**os.environ, **env}))
        desk = CaseDesk(store)
        publisher = StreamPublisher(NATS_URL, stream=stream, subject_prefix=subject)
        od = ObservationDesk(desk, publisher=publisher)
        od.watch_people(desk.system("bench"), sim.watchlist()["people"])
        for _ in range(workers):
            procs.append(
                subprocess.Popen(
                    [
                        QORGAU,
                        "detect",
                        "worker",
                        "--stream",
                        stream,
                        "--subject",
                        subject,
                        "--durable",
                        durable,
                        "--batch",
                        "1",
                        "--sweep-every",
                        "3600",
                    ],
                    env={**os.environ, **env},
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    text=True,
                )
            )
        time.sleep(3)  # workers connected and subscribed
        began = time.perf_counter()
        report = od.ingest(desk.system("bench"), sim.observations)
        stored = time.perf_counter() - began
        while True:
            with store.read() as conn:
                left = conn.execute(
                    sa.text("SELECT count(*) FROM observations WHERE processed_at IS NULL")
                ).scalar_one()
            if left == 0:
                break
            time.sleep(0.05)
        done = time.perf_counter() - began
        publisher.close()
        store.close()
        return report.new, stored, done
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=30)
        drop_pg_database(url)


def dask_month(days: int, folder: Path) -> list[tuple[str, int, float, float]]:
    """Per detector: (name, observations, single-process seconds, LocalCluster seconds)."""
    from qorgau.detect.simulate import simulate

    sim = simulate(seed=5, start=START, days=days, outlets=3)
    sim.write(folder / "month")
    data, config = folder / "month" / "observations.jsonl", folder / "month" / "watchlist.json"
    rows = []
    for name in ("leaked_identifiers", "floods"):
        began = time.perf_counter()
        _cli("detect", "run", name, "--input", str(data), "--config", str(config))
        single = time.perf_counter() - began
        began = time.perf_counter()
        _cli(
            "detect",
            "retro",
            name,
            "--input",
            str(data),
            "--config",
            str(config),
            "--workers",
            "2",
        )
        cluster = time.perf_counter() - began
        rows.append((name, len(sim.observations), single, cluster))
    return rows


def main() -> None:
    week = 2 if QUICK else 7
    month = 10 if QUICK else 30
    print(f"# observation pipeline — {machine()}")
    print(f"# command: {'QUICK=1 ' if QUICK else ''}python -m benchmarks.pipeline")
    with tempfile.TemporaryDirectory(prefix="qorgau-bench-") as tmp:
        folder = Path(tmp)
        print(f"\nJetStream, {week} simulated days, PostgreSQL, every registered detector:")
        print("| workers | observations | store + publish | all processed | observations/s |")
        print("| --- | --- | --- | --- | --- |")
        for workers in (1, 2):
            n, stored, done = jetstream(workers, week, folder)
            print(f"| {workers} | {n:,} | {stored:.1f} s | {done:.1f} s | {n / done:,.0f} |")
        print(f"\nDask LocalCluster (2 processes), {month} simulated days of JSON Lines:")
        print("| detector | observations | one process | LocalCluster | observations/s (cluster) |")
        print("| --- | --- | --- | --- | --- |")
        for name, n, single, cluster in dask_month(month, folder):
            print(f"| {name} | {n:,} | {single:.1f} s | {cluster:.1f} s | {n / cluster:,.0f} |")


if __name__ == "__main__":
    main()
