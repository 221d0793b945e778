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


_WORDS = (
    "новости цены бензин тенге дороги ремонт школа город аким вода свет тариф зима снег "
    "автобус пробка рынок хлеб мясо курс доллар банк кредит зарплата пенсия врач больница "
    "детсад очередь парк двор сосед лифт подъезд мусор воздух смог река мост вокзал поезд "
    "билет рейс погода ветер дождь праздник концерт матч футбол хоккей сборная выборы закон"
).split()


def _posts(n: int, now_minus_days: float, store: Store) -> list[Observation]:
    """Ordinary chatter: each post its own words (one sentence repeated by 300 readers would
    be, rightly, a copy-paste campaign)."""
    import random
    from datetime import timedelta

    rng = random.Random(5)
    start = store.now() - timedelta(days=now_minus_days)
    return [
        Observation(
            id=f"posts:{i}",
            source="posts",
            platform="telegram",
            time=start + timedelta(seconds=40 * i),
            account=f"reader{i % 300}",
            text=" ".join(rng.choice(_WORDS) for _ in range(12)) + f" #{i}",
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


async def _held(n: Names) -> int:
    """Messages delivered to a worker and not yet acknowledged."""
    nc = await nats.connect(NATS_URL)
    try:
        info = await nc.jetstream().consumer_info(n.stream, n.durable)
        return int(info.num_ack_pending)
    finally:
        await nc.close()


def _kill_while_holding(proc: subprocess.Popen[str], n: Names) -> None:
    """Freeze the only running worker, make sure it holds a message, then SIGKILL it: a
    death mid-batch on purpose, not by luck of timing."""
    for _ in range(50):
        proc.send_signal(signal.SIGSTOP)
        time.sleep(0.2)
        if asyncio.run(_held(n)) >= 1:
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=10)
            return
        proc.send_signal(signal.SIGCONT)
        time.sleep(0.05)
    raise AssertionError("the worker never held a message long enough to be killed")


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
    started: list[subprocess.Popen[str]] = []
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
        workers.append(_worker(store, names))
        first = od.ingest(who, [*posts, *calls])
        assert first.processed is None and first.published >= 40
        total = first.new
        _wait(lambda: _pending(store) < total * 0.9, 60, "the first worker to start")
        _kill_while_holding(workers[0], names)
        left = _pending(store)
        assert left > 0
        workers.extend([_worker(store, names), _worker(store, names)])
        _wait(lambda: _pending(store) == 0, 120, "the other workers to finish")
        _wait(lambda: asyncio.run(_held(names)) == 0, 60, "every message acknowledged")
        assert asyncio.run(_redelivered(names)) >= 1, "the killed worker's message came back"

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
    for survivor in workers[1:]:
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
    unfiled = _count(store, finding_observations, finding_observations.c.vault_item_id.is_(None))
    assert unfiled == 0, "every observation behind a finding is in the vault"
    with store.read() as conn:
        bundled = conn.execute(
            sa.select(vault_items.c.details).where(vault_items.c.method == "observation")
        ).scalars()
        in_bundles = [i for d in bundled for i in d["observation_ids"]]
    assert len(in_bundles) == len(set(in_bundles)) == _count(store, finding_observations), (
        "each observation behind a finding is filed exactly once"
    )
    assert _count(store, observations) == len(posts) + len(calls) + len(ads) + len(flood)
