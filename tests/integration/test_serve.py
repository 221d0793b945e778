"""``qorgau serve`` as a real process: acknowledged reports survive a SIGKILL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

from qorgau.config import Settings
from qorgau.store.store import Store
from tests.integration.test_api_intake import ORDA_ADS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(settings: Settings, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "QORGAU_DATA_DIR": str(settings.data_dir),
        "QORGAU_DATABASE_URL": settings.resolved_database_url,
        "QORGAU_KEY_FILE": str(settings.resolved_key_file),
        # 60 reports from loopback in a few seconds: not what the per-address limit is about.
        "QORGAU_INTAKE_RATE_PER_MINUTE": "0",
    }
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "qorgau.cli",
                "serve",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"server did not start: {log.read_text()}")


def test_acknowledged_reports_survive_sigkill(store: Store, tmp_path: Path) -> None:
    port = free_port()
    proc = start(store.settings, port, tmp_path / "serve.log")
    acked: set[str] = set()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as c:
            for i in range(60):
                r = c.post(
                    "/api/v1/reports",
                    json=dict(ORDA_ADS, title=f"r{i}"),
                    headers={"Idempotency-Key": f"sigkill-{i}"},
                )
                assert r.status_code == 201
                acked.add(r.json()["public_id"])
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    store.engine.dispose()
    with store.read() as conn:
        rows = conn.execute(sa.text("SELECT public_id FROM incidents")).scalars().all()
    assert set(rows) == acked and len(rows) == len(acked)
