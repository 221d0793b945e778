"""End-to-end alert latency: from ``POST`` of a critical report to the on-call responder's
e-mail arriving at an SMTP server on loopback, and from a deadline to its escalation e-mail.

    python -m benchmarks.alerts                 # both paths, 1,000 reports/minute for 60 s
    QUICK=1 python -m benchmarks.alerts         # 20 s
    BENCH_ALERT_PATHS=embedded python -m benchmarks.alerts

Paths: ``embedded`` — ``qorgau serve`` on SQLite with the in-process delivery queue;
``broker`` — ``qorgau serve`` on PostgreSQL handing deliveries to two ``qorgau worker``
processes over NATS JetStream. The load is paced (an open loop: one report every 60 ms,
whatever the server does), so queueing shows up as latency rather than as a lower rate.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller

from benchmarks.driver import (
    ROOT,
    drop_pg_database,
    free_port,
    machine,
    new_pg_database,
    qorgau_cli,
    qorgau_env,
    start,
    stop,
)

QUICK = os.environ.get("QUICK") == "1"
RATE_PER_MIN = int(os.environ.get("BENCH_ALERT_RATE", "1000"))
SECONDS = 20 if QUICK else 60
ESCALATIONS = 10 if QUICK else 30
PATHS = os.environ.get("BENCH_ALERT_PATHS", "embedded,broker").split(",")
NATS_URL = os.environ.get("QORGAU_BENCH_NATS_URL", "nats://127.0.0.1:4222")
PUBLIC_ID = re.compile(r"QG-[0-9A-Z]{8}")
ALWAYS = '["mon", "tue", "wed", "thu", "fri", "sat", "sun"]'


class Inbox:
    """Arrival time of each message, by case reference and recipient."""

    def __init__(self) -> None:
        self.arrived: dict[tuple[str, str], float] = {}
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        now = time.time()
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        found = PUBLIC_ID.search(str(msg["subject"]))
        if found:
            with self.lock:
                for rcpt in envelope.rcpt_tos:
                    self.arrived.setdefault((found.group(0), rcpt), now)
        return "250 OK"


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def setup_desk(env: dict[str, str], tmp: Path) -> str:
    """Users, roster and pager addresses; returns a responder's API token."""
    qorgau_cli("init", env=env)
    out = qorgau_cli("user", "add", "duty", "--role", "responder", "--token", env=env)
    token = re.search(r"qg_[A-Za-z0-9_-]+", out)
    assert token, out
    qorgau_cli("user", "add", "lead", "--role", "coordinator", env=env)
    roster = tmp / "roster.toml"
    roster.write_text(
        'timezone = "Asia/Almaty"\n'
        f'[[shift]]\nuser = "duty"\nlanguages = ["kk", "ru", "en"]\ndays = {ALWAYS}\n'
        'from = "00:00"\nto = "24:00"\n'
        f'[[shift]]\nuser = "lead"\ntier = "coordinator"\nlanguages = ["kk", "ru", "en"]\n'
        f'days = {ALWAYS}\nfrom = "00:00"\nto = "24:00"\n',
        encoding="utf-8",
    )
    qorgau_cli("response", "load", "roster", str(roster), env=env)
    qorgau_cli("user", "channel", "duty", "email", "duty@bench.example", env=env)
    qorgau_cli("user", "channel", "lead", "email", "lead@bench.example", env=env)
    return token.group(0)


async def paced_reports(port: int, n: int, interval: float) -> dict[str, float]:
    """POST ``n`` critical reports, one every ``interval`` seconds; public id -> send time."""
    sent: dict[str, float] = {}
    body = {
        "title": "Threat to an editor",
        "attack_types": ["threats"],
        "threat_to_life": True,
        "language": "ru",
    }
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:

        async def one() -> None:
            t0 = time.time()
            r = await client.post("/api/v1/reports", json=body)
            if r.status_code == 201:
                sent[r.json()["public_id"]] = t0

        tasks = []
        start_at = time.monotonic()
        for i in range(n):
            delay = start_at + i * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    return sent


async def due_soon_reports(port: int, token: str, n: int) -> dict[str, float]:
    """Critical reports back-dated so that their first-response deadline falls 3-6 s from now."""
    due: dict[str, float] = {}
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}",
        timeout=30,
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        for i in range(n):
            due_at = datetime.now(UTC) + timedelta(seconds=3 + (i % 4))
            reported = due_at - timedelta(minutes=15)
            r = await client.post(
                "/api/v1/reports",
                json={
                    "title": "Threat, phoned in earlier",
                    "attack_types": ["threats"],
                    "threat_to_life": True,
                    "language": "ru",
                    "reported_at": reported.isoformat(),
                },
            )
            r.raise_for_status()
            due[r.json()["public_id"]] = due_at.timestamp()
            await asyncio.sleep(0.2)
    return due


def run_path(path: str, tmp: Path) -> dict[str, Any]:
    inbox = Inbox()
    smtp_port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    url = new_pg_database("alerts") if path == "broker" else f"sqlite:///{tmp / path / 'qorgau.db'}"
    env = qorgau_env(tmp / path, url)
    env.update(QORGAU_SMTP_HOST="127.0.0.1", QORGAU_SMTP_PORT=str(smtp_port))
    if path == "broker":
        env["QORGAU_NATS_URL"] = NATS_URL
    procs: list[subprocess.Popen[bytes]] = []
    try:
        token = setup_desk(env, tmp / path)
        port = free_port()
        cmd = [sys.executable, "-m", "qorgau.cli", "serve", "--port", str(port)]
        procs.append(start([*cmd, "--log-level", "warning"], env, port, tmp / f"{path}.log"))
        if path == "broker":
            for i in range(2):
                log = (tmp / f"worker{i}.log").open("wb")
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "qorgau.cli", "worker"],
                        env={**os.environ, **env},
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        cwd=ROOT,
                    )
                )
            time.sleep(2)
        n = RATE_PER_MIN * SECONDS // 60
        sent = asyncio.run(paced_reports(port, n, 60 / RATE_PER_MIN))
        deadline = time.time() + 30
        while time.time() < deadline:
            with inbox.lock:
                if all((p, "duty@bench.example") in inbox.arrived for p in sent):
                    break
            time.sleep(0.2)
        with inbox.lock:
            lat = [
                inbox.arrived[(p, "duty@bench.example")] - t
                for p, t in sent.items()
                if (p, "duty@bench.example") in inbox.arrived
            ]
        due = asyncio.run(due_soon_reports(port, token, ESCALATIONS))
        deadline = time.time() + 30
        while time.time() < deadline:
            with inbox.lock:
                if all((p, "lead@bench.example") in inbox.arrived for p in due):
                    break
            time.sleep(0.2)
        with inbox.lock:
            esc = [
                inbox.arrived[(p, "lead@bench.example")] - t
                for p, t in due.items()
                if (p, "lead@bench.example") in inbox.arrived
            ]
        return {
            "path": path,
            "reports": n,
            "acknowledged": len(sent),
            "delivered": len(lat),
            "p50": statistics.median(lat) if lat else float("nan"),
            "p99": pct(lat, 0.99),
            "max": max(lat) if lat else float("nan"),
            "escalations": len(due),
            "escalated": len(esc),
            "esc_p50": statistics.median(esc) if esc else float("nan"),
            "esc_max": max(esc) if esc else float("nan"),
        }
    finally:
        for p in reversed(procs):
            stop(p)
        controller.stop()
        if path == "broker":
            drop_pg_database(url)


def main() -> None:
    started = datetime.now(UTC)
    rows = []
    with tempfile.TemporaryDirectory(prefix="qorgau-alert-bench-") as d:
        for path in PATHS:
            r = run_path(path, Path(d))
            rows.append(r)
            print(r, file=sys.stderr)
    lines = [
        f"### Alert latency ({started:%Y-%m-%d}, {machine().split('; wrk')[0]}; load and SMTP"
        " server in one process on the same machine)",
        "",
        f"Command: `make bench-alerts` ({RATE_PER_MIN} critical reports/minute for {SECONDS} s,"
        f" paced; {ESCALATIONS} deadlines falling due 3-6 s after filing).",
        "",
        "| path | reports acknowledged | e-mails received | p50 | p99 | max |"
        " escalations received | escalation delay p50 | max |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['path']} | {r['acknowledged']}/{r['reports']} | {r['delivered']} |"
            f" {r['p50'] * 1000:.0f} ms | {r['p99'] * 1000:.0f} ms | {r['max'] * 1000:.0f} ms |"
            f" {r['escalated']}/{r['escalations']} | {r['esc_p50']:.2f} s | {r['esc_max']:.2f} s |"
        )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
