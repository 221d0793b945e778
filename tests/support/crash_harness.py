"""Crash consistency under a stream of reports: SIGKILL ``qorgau serve`` at random moments.

A few client threads post reports to the public intake, each with a unique marker in its
title and its own Idempotency-Key. A killer thread SIGKILLs the server at random moments and
starts it again. A client whose request got no answer (connection refused or cut) sends the
*same* report with the same key again once the server is back, as a real client would; an
answer then is either the first acknowledgement or a replay of a report already committed.

At the end every marker that was acknowledged must be in the database exactly once, and a
marker that never got an answer (the run ended first) at most once. The reduced form runs in
the suite (tests/integration/test_crash_consistency.py); ``benchmarks/crash_consistency.py``
runs 200 kills per database.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from qorgau.config import Settings
from qorgau.store.store import Store
from qorgau.store.tables import incidents

REPORT: dict[str, Any] = {
    "description": "Ads list the editor's mobile; calls all night.",
    "attack_types": ["phone_flooding"],
    "platform": "classifieds",
    "region": "almaty_city",
    "targets": [{"kind": "outlet", "name": "Orda.kz"}],
}
MARKER_PREFIX = "crash-marker "


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(settings: Settings, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment of a ``qorgau serve`` child using ``settings``' database and keys.

    Load tests come from one address, so the public-intake rate limit is raised (the setting
    is ignored by versions without one)."""
    return {
        **os.environ,
        "QORGAU_DATA_DIR": str(settings.data_dir),
        "QORGAU_DATABASE_URL": settings.resolved_database_url,
        "QORGAU_KEY_FILE": str(settings.resolved_key_file),
        "QORGAU_INTAKE_RATE_PER_MINUTE": "0",  # 0: no limit
        **(extra or {}),
    }


class Server:
    """One ``qorgau serve`` process on a loopback port, restartable after a kill."""

    def __init__(
        self,
        settings: Settings,
        log: Path,
        port: int | None = None,
        extra_env: dict[str, str] | None = None,
        workers: int = 1,
    ) -> None:
        self.settings = settings
        self.log = log
        self.port = port or free_port()
        self.env = server_env(settings, extra_env)
        self.workers = workers
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 180) -> None:
        with self.log.open("ab") as out:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "qorgau.cli",
                    "serve",
                    "--port",
                    str(self.port),
                    "--workers",
                    str(self.workers),
                    "--log-level",
                    "warning",
                ],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: a kill reaches every worker
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                r = httpx.get(f"{self.base_url}/api/v1/health", timeout=1)
                if r.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"server did not start: {self.log.read_text(errors='replace')[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, whatever was in flight is cut."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.proc = None

    def stop(self) -> None:
        """SIGTERM and wait: a clean shutdown, for the end of a run."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self.proc = None


@dataclass
class CrashOutcome:
    kills: int = 0
    attempts: int = 0  # requests sent, retries included
    acknowledged: int = 0  # markers with a 200/201
    replayed: int = 0  # acknowledgements that were replays of a report committed earlier
    unanswered: int = 0  # markers still without an answer when the run ended
    other_statuses: Counter[int] = field(default_factory=Counter)
    missing: list[str] = field(default_factory=list)  # acknowledged, not stored
    duplicated: list[str] = field(default_factory=list)  # stored more than once
    seconds: float = 0.0

    @property
    def consistent(self) -> bool:
        return not self.missing and not self.duplicated and not self.other_statuses

    def summary(self) -> str:
        return (
            f"{self.kills} kills, {self.attempts} requests, {self.acknowledged} acknowledged "
            f"({self.replayed} as replays after a lost answer), {self.unanswered} unanswered at "
            f"the end, {len(self.missing)} acknowledged but missing, {len(self.duplicated)} "
            f"stored twice, other statuses {dict(self.other_statuses) or 'none'}, "
            f"{self.seconds:.0f} s"
        )


class _Client(threading.Thread):
    def __init__(self, name: str, base_url: str, stop: threading.Event, run_id: str) -> None:
        super().__init__(name=name, daemon=True)
        self.base_url = base_url
        self.stop_flag = stop
        self.run_id = run_id
        self.acked: dict[str, str] = {}  # marker -> public_id
        self.pending: str | None = None
        self.attempts = 0
        self.replayed = 0
        self.statuses: Counter[int] = Counter()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # surfaced by the harness, not lost in a thread
            self.error = exc

    def _loop(self) -> None:
        seq = 0
        with httpx.Client(base_url=self.base_url, timeout=30) as http:
            while not self.stop_flag.is_set():
                marker = f"{self.run_id}-{self.name}-{seq}"
                seq += 1
                self.pending = marker
                body = dict(REPORT, title=MARKER_PREFIX + marker)
                while True:
                    self.attempts += 1
                    try:
                        r = http.post(
                            "/api/v1/reports",
                            json=body,
                            headers={"Idempotency-Key": f"crash-{marker}"},
                        )
                    except httpx.TransportError:
                        if self.stop_flag.is_set():
                            return  # left pending: never answered
                        time.sleep(0.05)  # the server is down or restarting: send again
                        continue
                    if r.status_code in (200, 201):
                        self.acked[marker] = r.json()["public_id"]
                        self.replayed += r.status_code == 200
                        self.pending = None
                    else:
                        self.statuses[r.status_code] += 1
                        self.pending = None
                    break


def run_crash_test(
    settings: Settings,
    kills: int,
    log_dir: Path,
    *,
    clients: int = 3,
    seed: int | None = None,
    max_gap: float = 0.8,
    progress: bool = False,
    budget_seconds: float | None = None,
) -> CrashOutcome:
    """Stream reports from ``clients`` threads, SIGKILL the server ``kills`` times at random
    moments (0.05 s to ``max_gap`` s apart, after it is back up), then check the database.
    With ``budget_seconds``, killing stops early once the budget is spent (the check still
    runs; ``kills`` in the outcome says how many there were)."""
    rng = random.Random(seed)
    outcome = CrashOutcome()
    run_id = f"{rng.getrandbits(32):08x}"
    server = Server(settings, log_dir / "serve.log")
    started = time.monotonic()
    server.start()
    stop = threading.Event()
    threads = [_Client(f"c{i}", server.base_url, stop, run_id) for i in range(clients)]
    for t in threads:
        t.start()
    try:
        for n in range(kills):
            if budget_seconds is not None and time.monotonic() - started > budget_seconds:
                break
            time.sleep(rng.uniform(0.05, max_gap))
            server.kill()
            outcome.kills += 1
            server.start()
            if progress and (n + 1) % 10 == 0:
                done = sum(len(t.acked) for t in threads)
                print(f"  {n + 1}/{kills} kills, {done} acknowledged", flush=True)
        time.sleep(0.3)  # a last stretch of answered requests
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
        server.stop()
    outcome.seconds = time.monotonic() - started
    for t in threads:
        if t.error is not None:
            raise t.error
    acked: dict[str, str] = {}
    for t in threads:
        acked.update(t.acked)
        outcome.attempts += t.attempts
        outcome.replayed += t.replayed
        outcome.other_statuses.update(t.statuses)
        outcome.unanswered += t.pending is not None
    outcome.acknowledged = len(acked)
    stored = stored_markers(settings, run_id)
    outcome.missing = sorted(m for m in acked if stored.get(m, 0) == 0)
    outcome.duplicated = sorted(m for m, n in stored.items() if n > 1)
    return outcome


def stored_markers(settings: Settings, run_id: str) -> Counter[str]:
    """How many incidents carry each marker of the run, read through a fresh store."""
    from qorgau.store.store import open_store

    store: Store = open_store(settings)
    try:
        with store.read() as conn:
            titles = conn.execute(
                sa.select(incidents.c.title).where(
                    incidents.c.title.like(f"{MARKER_PREFIX}{run_id}-%")
                )
            ).scalars()
            return Counter(t.removeprefix(MARKER_PREFIX) for t in titles)
    finally:
        store.close()
