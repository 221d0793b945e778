"""The stream scale against the real NATS JetStream: the desk stores observations and publishes
their row ids; two ``qorgau detect worker`` processes consume them; one is killed with SIGKILL
while it holds a message. Nothing may be lost (every observation processed, the campaign and the
flood found) and nothing counted twice (one case, each observation once in the vault).

Each test gets its own stream, subjects and durable consumer (see test_alert_broker)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
import sqlalchemy as sa

from qorgau.desk import CaseDesk
from qorgau.detect.model import Observation
from qorgau.detect.stream import StreamPublisher
from qorgau.observation_desk import ObservationDesk
from qorgau.store.store import Store
from qorgau.store.tables import finding_observations, findings, incidents, observations, vault_items
from tests.integration.test_alert_broker import NATS_URL, Names, names  # noqa: F401
from tests.integration.test_observation_pipeline import _count, _watch, _week

QORGAU = str(Path(sys.executable).with_name("qorgau"))


def _posts(n: int, now_minus_days: float, store: Store) -> list[Observation]:
    from datetime import timedelta

    start = store.now() - timedelta(days=now_minus_days)
    return [
        Observation(
            id=f"posts:{i}",
            source="posts",
            platform="telegram",
            time=start + timedelta(seconds=40 * i),
            account=f"reader{i % 300}",
            text=f"Обсуждаем новости дня, цены на бензин выросли на {i % 17} тенге. #{i}",
            lang="ru",
        )
        for i in range(n)
    ]


def _worker(store: Store, n: Names) -> subprocess.Popen[str]:
    s = store.settings
    env = {
        **os.environ,
        "QORGAU_DATA_DIR": str(s.data_dir),
        "QORGAU_DATABASE_URL": s.resolved_database_url,
        "QORGAU_KEY_FILE": str(s.resolved_key_file),
        "QORGAU_NATS_URL": NATS_URL,
        "QORGAU_LANG": "en",
    }
    return subprocess.Popen(
        [
            QORGAU,
            "detect",
            "worker",
            "--stream",
            n.stream,
            "--subject",
            n.prefix,
            "--durable",
            n.durable,
            "--batch",
            "1",
            "--ack-wait",
            "3",
            "--sweep-every",
            "3600",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _pending(store: Store) -> int:
    return _count(store, observations, observations.c.processed_at.is_(None))


def _wait(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def _redelivered(n: Names) -> int:
    """Deliveries beyond one per message: what the killed worker held came round again."""
    nc = await nats.connect(NATS_URL)
    try:
        info = await nc.jetstream().consumer_info(n.stream, n.durable)
        assert info.delivered is not None
        return int(info.delivered.consumer_seq or 0) - int(info.delivered.stream_seq or 0)
    finally:
        await nc.close()


@pytest.fixture
def workers(store: Store, names: Names) -> Iterator[list[subprocess.Popen[str]]]:  # noqa: F811
    started = [_worker(store, names), _worker(store, names)]
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=15)


def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(
    store: Store,
    names: Names,  # noqa: F811
    workers: list[subprocess.Popen[str]],
) -> None:
    publisher = StreamPublisher(NATS_URL, stream=names.stream, subject_prefix=names.prefix)
    desk = CaseDesk(store)
    od = ObservationDesk(desk, publisher=publisher)
    _watch(od, desk)
    who = desk.system("test")
    calls, ads, flood = _week(store.now())
    posts = _posts(8000, 8, store)
    try:
        first = od.ingest(who, [*posts, *calls])
        assert first.processed is None and first.published >= 40
        total = first.new
        _wait(lambda: _pending(store) < total * 0.8, 60, "the workers to start")
        victim = workers[0]
        victim.send_signal(signal.SIGKILL)
        victim.communicate(timeout=10)
        _wait(lambda: _pending(store) == 0, 120, "the surviving worker to finish")
        assert asyncio.run(_redelivered(names)) >= 1, "the killed worker held a message"

        od.ingest(who, ads)
        _wait(lambda: _pending(store) == 0, 60, "the ads")
        od.ingest(who, flood)
        _wait(lambda: _pending(store) == 0, 60, "the flood")
        _wait(
            lambda: _count(store, findings, findings.c.detector == "floods") > 0,
            30,
            "the flood finding",
        )
    finally:
        publisher.close()
    survivor = workers[1]
    survivor.send_signal(signal.SIGTERM)
    _, err = survivor.communicate(timeout=30)
    assert survivor.returncode == 0, err
    assert "Detector worker stopped" in err

    assert _count(store, incidents) == 1, "one campaign, one case"
    with store.read() as conn:
        leak_id = conn.execute(
            sa.select(findings.c.id).where(findings.c.detector == "leaked_identifiers")
        ).scalar_one()
        flagged = set(
            conn.execute(
                sa.select(observations.c.obs_key)
                .join(
                    finding_observations,
                    finding_observations.c.observation_id == observations.c.id,
                )
                .where(finding_observations.c.finding_id == leak_id)
            ).scalars()
        )
        linked = (
            conn.execute(
                sa.select(findings.c.linked_finding_id).where(findings.c.detector == "floods")
            )
            .scalars()
            .all()
        )
    assert flagged == {ob.id for ob in ads[:-1]}
    assert linked and all(x == leak_id for x in linked)
    evidence = _count(store, vault_items, vault_items.c.method == "observation")
    assert evidence == _count(store, finding_observations), "each observation filed once"
    assert _count(store, observations) == len(posts) + len(calls) + len(ads) + len(flood)
