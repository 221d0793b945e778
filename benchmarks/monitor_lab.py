"""Reachability monitor in the censorship lab: measurements per minute from one agent, and the
time from a block starting to the desk opening its incident.

Anchors from the issue: ooniprobe budgets about 5 s per URL (about 12 URLs a minute per
probe); OONI's change detector reported a median delay of 17 hours. Targets: >= 600
measurements a minute per agent with bounded concurrency on 2 cores; an alert within two
measurement intervals of the block.

Run with ``make bench-monitor`` (root, Linux network namespaces; about two minutes).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from tests.integration.test_orda_week_lab import Week
from tests.support.censorship_lab import SITES, CensorshipLab, start_lab

from benchmarks.driver import machine


def throughput(lab: CensorshipLab, count: int, concurrency: int) -> tuple[float, float, int]:
    """Measure ``count`` URLs (the lab's accessible sites, each with its own query) from ISP A:
    (seconds, measurements a minute, how many came out accessible)."""
    from tests.support.censorship_lab import lab_fingerprints

    from qorgau.monitor.classify import classify
    from qorgau.monitor.control import control_from

    hosts = [h for h in SITES if h != "orda.kz"]
    urls = [f"https://{hosts[i % len(hosts)]}/?n={i}" for i in range(count)]
    started = time.perf_counter()
    proc = lab.start_measure("isp-a", urls, timeout=3.0, concurrency=concurrency)
    found = lab.collect(proc, 600)
    elapsed = time.perf_counter() - started
    control = {h: lab.measure("ctl", [f"https://{h}/"])[0] for h in hosts}
    fps = lab_fingerprints()
    from dataclasses import replace
    from urllib.parse import urlsplit

    ok = 0
    for m in found:
        host = urlsplit(m.url).hostname or ""
        v = classify(replace(m, control=control_from(control[host])), fps)
        ok += v.kind == "accessible"
    return elapsed, len(found) / elapsed * 60, ok


def block_to_alert(lab: CensorshipLab, folder: Path, interval: int, trials: int) -> list[float]:
    """Agents run continuously every ``interval`` s; a DNS block starts at a random moment of
    the cycle; seconds until the desk has the incident open."""
    week = Week(lab, folder, interval_s=interval)
    delays = []
    try:
        agent = week.agent("isp-a", rounds=None)
        time.sleep(interval + 3)  # a first, quiet round
        for n in range(trials):
            host = "orda.kz"
            before = len(week.monitor_incidents())
            time.sleep((n * 0.37 % 1.0) * interval)  # start the block at another point of the cycle
            started = time.monotonic()
            lab.dns_lie("isp-a", host)
            while len(week.monitor_incidents()) == before:
                if time.monotonic() - started > 5 * interval:
                    raise AssertionError("no incident within five intervals")
                time.sleep(0.1)
            delays.append(time.monotonic() - started)
            lab.clear("isp-a")
            _close_cases(week)
            time.sleep(interval + 3)  # let the host become accessible again
        agent.terminate()
        agent.wait(10)
    finally:
        week.close()
    return delays


def _close_cases(week: Week) -> None:
    """Detach the host from its incident so the next block opens a fresh one."""
    import sqlalchemy as sa

    from qorgau.store.tables import monitor_hosts

    with week.store.write() as conn:
        conn.execute(sa.update(monitor_hosts).values(incident_id=None))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1200)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--interval", type=int, default=10)
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "lab").mkdir()
        lab = start_lab(folder / "lab")
        try:
            elapsed, per_minute, ok = throughput(lab, args.count, args.concurrency)
            delays = block_to_alert(lab, folder, args.interval, args.trials)
        finally:
            lab.close()
    print(f"machine: {machine()}")
    print(
        f"throughput: {args.count} URLs from one agent in ISP A, concurrency {args.concurrency},"
        f" 3 s step timeout: {elapsed:.1f} s = {per_minute:.0f} measurements/min"
        f" ({ok}/{args.count} accessible, as they are)"
    )
    print(
        f"block to incident, interval {args.interval} s, {len(delays)} trials: "
        + ", ".join(f"{d:.1f} s" for d in delays)
        + f"; median {statistics.median(delays):.1f} s"
        f" = {statistics.median(delays) / args.interval:.2f} intervals"
    )


if __name__ == "__main__":
    main()
