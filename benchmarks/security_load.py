"""Intake under a flood of bad requests: legitimate reports at a paced rate, garbage beside them.

``qorgau serve`` (one process per core) runs on a fresh database. Legitimate clients post
reports to the public intake on an open-loop schedule (report *i* is due at ``i / rate`` s;
its latency counts from that moment, so a server falling behind shows as latency, not as a
politely lower rate). Other connections hit the public form with bad requests at the same
time: malformed JSON, bodies over the size limit, broken multipart and garbage posted to the
/report page. Afterwards every acknowledged report is looked up in the database.

The target of the issue is 10x the case-desk intake target (800 reports/s), i.e. 8,000/s for
5 minutes with p99 under 1 s. ``--find`` first probes rates for 15 s each and then
sustains the highest one that kept up (achieved >= 95% of offered, p99 < 1 s, no losses)::

    python -m benchmarks.security_load --find --seconds 300          # make bench-security
    python -m benchmarks.security_load --rate 8000 --seconds 300     # the issue's target

The per-address intake limit is switched off (QORGAU_INTAKE_RATE_PER_MINUTE=0): all the load
comes from 127.0.0.1, and the figures are for the worst case of a flood spread over many
addresses, which the limit would not stop either.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import sqlalchemy as sa
from tests.support.crash_harness import Server

from benchmarks.crash_consistency import fresh_database
from qorgau.config import Settings
from qorgau.store.store import open_store
from qorgau.store.tables import incidents

TARGET = 800 * 10  # reports/s: ten times the case-desk intake target (issue 8)
P99_LIMIT_MS = 1000.0

LEGIT_BODY = (
    '{{"title":"load {marker}","description":"Ads list the editor\'s mobile; calls all night.",'
    '"attack_types":["phone_flooding","doxxing"],"platform":"classifieds",'
    '"region":"almaty_city","ongoing":true,"targets":[{{"kind":"outlet","name":"Orda.kz"}}],'
    '"reporter":{{"name":"Newsroom security lead","email":"security@orda.example"}}}}'
)


def http_request(method: str, path: str, body: bytes, content_type: str, extra: str = "") -> bytes:
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: qorgau.test\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n{extra}\r\n"
    )
    return head.encode() + body


def form_token(port: int) -> str:
    """A form token from the report page, as an attacker scripting the form would fetch it:
    the flood then reaches the form's parsing instead of stopping at the CSRF check."""
    page = httpx.get(f"http://127.0.0.1:{port}/report", timeout=30).text
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    if found is None:
        raise RuntimeError("the report page carries no form token")
    return found.group(1)


def bad_requests(port: int) -> list[tuple[str, bytes]]:
    """The flood: each kind answered with a 4xx, none may cost a 5xx or a lost report."""
    form = f"Origin: http://qorgau.test\r\nX-CSRF-Token: {form_token(port)}\r\n"
    boundary = "qorgauflood"
    broken_multipart = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="description"\r\n\r\n'
        "half a field with no closing boundary"
    ).encode()
    return [
        (
            "malformed JSON",
            http_request("POST", "/api/v1/reports", b'{"title": "x",', "application/json"),
        ),
        (
            "wrong JSON types",
            http_request(
                "POST",
                "/api/v1/reports",
                b'{"title": 7, "attack_types": "all"}',
                "application/json",
            ),
        ),
        (
            "not JSON at all",
            http_request("POST", "/api/v1/reports", b"\x00\xff" * 200, "application/json"),
        ),
        # Declares 300 KB (over the 256 KB API limit) and sends nothing: refused at once.
        (
            "oversized body",
            b"POST /api/v1/reports HTTP/1.1\r\nHost: qorgau.test\r\nContent-Type: "
            b"application/json\r\nContent-Length: 300000\r\n\r\n",
        ),
        (
            "bad multipart",
            http_request(
                "POST",
                "/report",
                broken_multipart,
                f"multipart/form-data; boundary={boundary}",
                form,
            ),
        ),
        (
            "garbage form",
            http_request(
                "POST",
                "/report",
                b"%%%&&&=&title=<script>alert(1)</script>&started_on=yesterday",
                "application/x-www-form-urlencoded",
                form,
            ),
        ),
    ]


class Connection:
    """A minimal HTTP/1.1 keep-alive client: the load generator shares two cores with the
    server, so it must cost far less per request than the server does."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {
            k.strip().lower(): v.strip()
            for k, _, v in (line.partition(":") for line in lines[1:] if line)
        }
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


@dataclass
class LoadResult:
    offered_rate: float
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    acked: set[str] = field(default_factory=set)
    legit_statuses: Counter[int] = field(default_factory=Counter)
    legit_errors: int = 0
    flood_statuses: Counter[str] = field(default_factory=Counter)
    flood_errors: int = 0
    stored: int = 0
    lost: int = 0

    @property
    def achieved_rate(self) -> float:
        return len(self.acked) / self.seconds

    def pct(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    @property
    def server_errors(self) -> int:
        legit = sum(n for s, n in self.legit_statuses.items() if s >= 500)
        flood = sum(n for k, n in self.flood_statuses.items() if k.endswith(" 5xx"))
        return legit + flood

    def kept_up(self) -> bool:
        return (
            self.achieved_rate >= 0.95 * self.offered_rate
            and self.pct(0.99) < P99_LIMIT_MS
            and self.lost == 0
            and self.server_errors == 0
        )

    def summary(self) -> str:
        flood = sum(self.flood_statuses.values())
        return (
            f"offered {self.offered_rate:.0f}/s for {self.seconds:.0f} s: "
            f"{len(self.acked)} acknowledged ({self.achieved_rate:.0f}/s), "
            f"p50 {self.pct(0.5):.0f} ms, p95 {self.pct(0.95):.0f} ms, "
            f"p99 {self.pct(0.99):.0f} ms; "
            f"legit non-201 {dict(self.legit_statuses) or 0}, transport errors "
            f"{self.legit_errors}; flood {flood} requests ({flood / self.seconds:.0f}/s) "
            f"{dict(self.flood_statuses)}, flood transport errors {self.flood_errors}; "
            f"{self.stored} stored, {self.lost} acknowledged but lost"
        )


async def _legit(
    port: int, rate: float, seconds: float, connections: int, run_id: str, result: LoadResult
) -> None:
    counter = itertools.count()
    start = time.monotonic() + 0.2
    n_total = int(rate * seconds)

    async def worker() -> None:
        conn = Connection(port)
        try:
            while (i := next(counter)) < n_total:
                due = start + i / rate
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                marker = f"{run_id}-{i}"
                body = LEGIT_BODY.format(marker=marker).encode()
                req = http_request(
                    "POST",
                    "/api/v1/reports",
                    body,
                    "application/json",
                    f"Idempotency-Key: load-{marker}\r\n",
                )
                try:
                    status, answer = await conn.exchange(req)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    result.legit_errors += 1
                    await conn.close()
                    continue
                result.latencies_ms.append((time.monotonic() - due) * 1000)
                if status == 201:
                    result.acked.add(json.loads(answer)["public_id"])
                else:
                    result.legit_statuses[status] += 1
        finally:
            await conn.close()

    await asyncio.gather(*(worker() for _ in range(connections)))


async def _flood(
    port: int, rate: float, stop: asyncio.Event, connections: int, result: LoadResult
) -> None:
    kinds = bad_requests(port)
    counter = itertools.count()
    start = time.monotonic()

    async def worker() -> None:
        conn = Connection(port)
        try:
            while not stop.is_set():
                i = next(counter)
                delay = start + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                name, req = kinds[i % len(kinds)]
                try:
                    status, _ = await conn.exchange(req)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    result.flood_errors += 1
                    await conn.close()
                    continue
                if name == "oversized body":
                    await conn.close()  # the body it promised is never sent
                bucket = "5xx" if status >= 500 else str(status)
                result.flood_statuses[f"{name} {bucket}"] += 1
        finally:
            await conn.close()

    await asyncio.gather(*(worker() for _ in range(connections)))


async def _run(
    port: int, rate: float, seconds: float, flood_rate: float, run_id: str
) -> LoadResult:
    result = LoadResult(offered_rate=rate, seconds=seconds)
    stop = asyncio.Event()
    # Enough connections for the rate at up to ~1 s latency, within what 2 cores can drive.
    connections = max(8, min(256, int(rate / 4)))
    flood = asyncio.create_task(_flood(port, flood_rate, stop, 16, result))
    started = time.monotonic()
    await _legit(port, rate, seconds, connections, run_id, result)
    result.seconds = max(seconds, time.monotonic() - started)
    stop.set()
    await flood
    return result


def run_load(
    server: Server, settings: Settings, rate: float, seconds: float, flood_rate: float
) -> LoadResult:
    run_id = f"{time.time_ns():x}"
    result = asyncio.run(_run(server.port, rate, seconds, flood_rate, run_id))
    store = open_store(settings)
    try:
        with store.read() as conn:
            stored = set(
                conn.execute(
                    sa.select(incidents.c.public_id).where(
                        incidents.c.title.like(f"load {run_id}-%")
                    )
                ).scalars()
            )
    finally:
        store.close()
    result.stored = len(stored)
    result.lost = len(result.acked - stored)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rate", type=float, default=TARGET, help="legitimate reports/s")
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--flood-rate", type=float, default=None, help="default: as --rate")
    parser.add_argument("--find", action="store_true", help="probe for the highest rate first")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(
        f"Intake under a flood, {when}, {platform.node()} ({os.cpu_count()} cores), "
        f"{args.workers} server processes, load generator on the same machine",
        flush=True,
    )
    ok = True
    for backend in args.backends.split(","):
        with (
            tempfile.TemporaryDirectory(prefix=f"qorgau-load-{backend}-") as tmp,
            fresh_database(backend, Path(tmp)) as settings,
        ):
            server = Server(
                settings,
                Path(tmp) / "serve.log",
                extra_env={"QORGAU_INTAKE_RATE_PER_MINUTE": "0"},
                workers=args.workers,
            )
            server.start()
            try:
                # Every server process up and warm (imports, caches) before anything counts.
                run_load(server, settings, 20, 5, 20)
                rate = args.rate
                if args.find:
                    rate = find_rate(server, settings, args.rate, backend)
                flood = args.flood_rate or rate
                result = run_load(server, settings, rate, args.seconds, flood)
            finally:
                server.stop()
        verdict = "KEPT UP" if result.kept_up() else "did not keep up"
        print(f"{backend}: {result.summary()} -> {verdict}", flush=True)
        ok = ok and result.lost == 0 and result.server_errors == 0
    return 0 if ok else 1


def find_rate(server: Server, settings: Settings, ceiling: float, backend: str) -> float:
    """The highest probe rate (15 s each) the server kept up with: from 100/s, halving while
    it does not keep up, then rising by a quarter while it does."""
    rate = 100.0
    while rate > 10:
        if _probe(server, settings, rate, backend):
            break
        rate /= 2
    best = rate
    while rate * 1.25 <= ceiling:
        rate *= 1.25
        if not _probe(server, settings, rate, backend):
            break
        best = rate
    return best


def _probe(server: Server, settings: Settings, rate: float, backend: str) -> bool:
    probe = run_load(server, settings, rate, 15, rate)
    print(f"  {backend} probe: {probe.summary()}", flush=True)
    return probe.kept_up()


if __name__ == "__main__":
    sys.exit(main())
