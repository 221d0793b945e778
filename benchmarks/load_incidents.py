"""Fill a desk with N synthetic incidents for the search benchmark.

The mix (attack types, severities, regions, dates over five years, targets with phone numbers
and hosts) is made up but shaped like a monitoring desk's data; it goes through the same intake
path as real reports (validation, encryption, blind indexes, audit), in large transactions.
"""

from __future__ import annotations

import random
import sys
from datetime import UTC, datetime, timedelta

from qorgau.config import Settings
from qorgau.desk import CaseDesk
from qorgau.domain.model import Principal, ReportFields, Role, Severity, Status, TargetInput
from qorgau.store.intake import store_report
from qorgau.store.search_index import index_pending
from qorgau.store.store import open_store

# Vocabulary: 3,000 made-up words (Latin and Cyrillic syllables) ranked by a Zipf law, as words
# are in real text, with the words the search benchmark asks for placed at the ranks topical
# words have (each appears in a few to a few tens of percent of descriptions).
SYLLABLES = [
    "ka",
    "zak",
    "ser",
    "tal",
    "bek",
    "ra",
    "nur",
    "ol",
    "ment",
    "ist",
    "ана",
    "бай",
    "жар",
    "кен",
    "тал",
    "ор",
    "ус",
    "ен",
    "ди",
    "мен",
]
TOPICAL = {
    20: "editor",
    35: "blocked",
    60: "phone",
    90: "блокировка",
    140: "threats",
    200: "deepfake",
    300: "сайт",
    450: "telegram",
}


def _vocabulary(rng: random.Random, size: int = 3000) -> list[str]:
    words: list[str] = []
    seen: set[str] = set(TOPICAL.values())
    while len(words) < size:
        rank = len(words) + 1
        if rank in TOPICAL:
            words.append(TOPICAL[rank])
            continue
        w = "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 3, 3, 4))))
        if w not in seen:
            seen.add(w)
            words.append(w)
    return words


HOSTS = ["orda.kz", "vlast.kz", "kaztag.kz", "holanews.kz", "factcheck.kz", "ulysmedia.kz"]


def synthetic(
    rng: random.Random,
    i: int,
    types: list[str],
    regions: list[str],
    platforms: list[str],
    vocab: list[str],
    weights: list[float],
) -> tuple[ReportFields, Status]:
    start = datetime(2021, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(5 * 525_600))
    words = rng.choices(vocab, weights, k=34)
    targets = [TargetInput("person", f"Journalist {rng.randrange(5000)}")]
    if rng.random() < 0.3:
        targets.append(
            TargetInput(
                "phone_number",
                "mobile",
                f"+7 700 {rng.randrange(1000):03d} {rng.randrange(10000):04d}",
            )
        )
    if rng.random() < 0.4:
        targets.append(TargetInput("website", "site", rng.choice(HOSTS)))
    fields = ReportFields(
        title=" ".join(words[:4]).capitalize() + f" #{i}",
        description=" ".join(words[4:]),
        started_at=start,
        reported_at=start + timedelta(hours=rng.randrange(72)),
        attack_types=tuple(rng.sample(types, rng.choice((1, 1, 2)))),
        platform=rng.choice(platforms),
        region=rng.choice(regions),
        severity=rng.choice(list(Severity)),
        targets=tuple(targets),
    )
    status = rng.choice([s for s in Status if s is not Status.MERGED])
    return fields, status


def load(settings: Settings, n: int, seed: int = 7, batch: int = 2000) -> None:
    from dataclasses import replace

    store = open_store(settings)
    desk = CaseDesk(store)
    admin = Principal(None, Role.ADMIN, desk.default_org_id, "benchmark-loader")
    tax = store.taxonomy
    types = list(tax.ids("attack_type"))
    regions = list(tax.ids("region"))
    platforms = list(tax.ids("platform"))
    rng = random.Random(seed)
    vocab = _vocabulary(rng)
    weights = [1 / rank**1.1 for rank in range(1, len(vocab) + 1)]
    done = 0
    while done < n:
        size = min(batch, n - done)
        jobs = []
        for i in range(done, done + size):
            fields, status = synthetic(rng, i, types, regions, platforms, vocab, weights)
            job = desk.prepare_report(admin, fields, tag="incident:imported")
            jobs.append(replace(job, new=replace(job.new, status=status)))
        with store.write() as conn:
            for job in jobs:
                store_report(conn, store, job, store.now())
        done += size
        print(f"\rloaded {done}/{n}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    with store.write() as conn:
        index_pending(conn)
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("ANALYZE")
    if store.engine.dialect.name == "postgresql":
        # What autovacuum would do shortly after a bulk load: planner statistics, and the
        # visibility map that index-only scans need.
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    store.close()


if __name__ == "__main__":
    load(Settings.from_env(), int(sys.argv[1]))
