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
from qorgau.store.store import open_store

WORDS = (
    "blocked site outage editor phone calls threats deepfake invitation march ddos complaints "
    "account hacked leak address spyware pegasus troll network statement journalist newsroom "
    "telegram instagram ads fake police court"
).split()
RU = "блокировка сайт редактор звонки угрозы дипфейк утечка адрес журналист".split()
HOSTS = ["orda.kz", "vlast.kz", "kaztag.kz", "holanews.kz", "factcheck.kz", "ulysmedia.kz"]


def synthetic(
    rng: random.Random, i: int, types: list[str], regions: list[str], platforms: list[str]
) -> tuple[ReportFields, Status]:
    start = datetime(2021, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(5 * 525_600))
    words = rng.sample(WORDS, 5) + rng.sample(RU, 1)
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
        description=" ".join(rng.choices(WORDS + RU, k=30)),
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
    done = 0
    while done < n:
        size = min(batch, n - done)
        jobs = []
        for i in range(done, done + size):
            fields, status = synthetic(rng, i, types, regions, platforms)
            job = desk.prepare_report(admin, fields, tag="incident:imported")
            jobs.append(replace(job, new=replace(job.new, status=status)))
        with store.write() as conn:
            for job in jobs:
                store_report(conn, store, job, store.now())
        done += size
        print(f"\rloaded {done}/{n}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    store.close()


if __name__ == "__main__":
    load(Settings.from_env(), int(sys.argv[1]))
