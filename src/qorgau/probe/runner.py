"""The agent's loop: fetch the schedule, measure every target with its control, sign, keep,
upload, sleep until the next round.

Losing the server changes only two things: the last schedule the agent saw is used, and
results wait in the outbox. Measuring never waits on the server; a round starts every
``interval_s`` from the start of the last one, whatever the uploads did.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from qorgau.monitor import engine, signed, wire
from qorgau.monitor.model import Measurement, Vantage
from qorgau.probe import identity
from qorgau.probe.client import ServerClient, ServerRefused, ServerUnreachable
from qorgau.probe.outbox import Outbox

log = logging.getLogger("qorgau.probe")
UPLOAD_BATCH = 200


@dataclass(frozen=True)
class ProbeConfig:
    server: str
    token: str
    state_dir: Path
    server_ca_file: Path | None = None  # trust for the server's certificate (a private CA)
    target_ca_file: Path | None = None  # extra trust for measured sites (labs)
    concurrency: int = 16
    # what the volunteer says of the network; what the desk configured wins
    vantage: Vantage = field(default_factory=Vantage)


@dataclass
class RoundReport:
    measured: int = 0
    with_control: int = 0
    uploaded: int = 0
    rejected: int = 0
    pending: int = 0
    server_reachable: bool = True


class Probe:
    def __init__(self, config: ProbeConfig) -> None:
        self.config = config
        self.key = identity.load_or_create(config.state_dir / "agent-key.pem")
        self.outbox = Outbox(config.state_dir / "outbox.sqlite")
        self.client = ServerClient(config.server, config.token, ca_file=config.server_ca_file)
        self.public_key = signed.public_key_b64(self.key)

    async def close(self) -> None:
        await self.client.close()
        self.outbox.close()

    async def sync(self) -> dict[str, Any] | None:
        """The schedule: fresh from the server, or the last one kept if it cannot be reached."""
        try:
            if not self.outbox.get("registered"):
                schedule = await self.client.register(self.public_key)
                self.outbox.put("registered", True)
            else:
                schedule = await self.client.schedule()
        except ServerUnreachable as exc:
            log.warning("server unreachable (%s); using the last schedule", exc)
            cached: dict[str, Any] | None = self.outbox.get("schedule")
            return cached
        self.outbox.put("schedule", schedule)
        return schedule

    async def measure_round(self, schedule: dict[str, Any]) -> list[Measurement]:
        vantage = _vantage(schedule, self.config.vantage)
        slots = asyncio.Semaphore(self.config.concurrency)
        want_control = bool(schedule.get("control_helper"))
        timeout = float(schedule.get("timeout_s", 10.0))
        resolvers = tuple(schedule.get("resolvers") or ("system",))

        async def one(url: str) -> Measurement:
            async with slots:
                local = engine.measure(
                    url,
                    vantage=vantage,
                    resolvers=resolvers,
                    timeout=timeout,
                    ca_file=self.config.target_ca_file,
                )
                if not want_control:
                    return await local
                # The control is taken at the same moment, from outside, by the server.
                m, control = await asyncio.gather(local, self._control(url))
                return replace(m, control=control) if control is not None else m

        return list(await asyncio.gather(*(one(u) for u in schedule.get("targets", []))))

    async def _control(self, url: str) -> Any:
        try:
            return wire.control_from_json(await self.client.control(url))
        except (ServerUnreachable, ServerRefused) as exc:
            log.info("no control for %s (%s); the server will pair one later", url, exc)
            return None

    def keep(self, schedule: dict[str, Any], measurements: list[Measurement]) -> None:
        """Sign each result and put it on disk before anything is sent."""
        items = []
        for m in measurements:
            document = {
                "id": str(uuid.uuid4()),
                "agent": schedule.get("agent"),
                "measurement": wire.to_json(m),
            }
            items.append({**document, "signature": signed.sign(self.key, document)})
        self.outbox.add(items)

    async def upload(self) -> tuple[int, int, bool]:
        """Send everything pending; (accepted or duplicate, rejected, server reachable)."""
        done = refused = 0
        while batch := self.outbox.pending(UPLOAD_BATCH):
            try:
                answers = await self.client.upload(batch)
            except ServerUnreachable as exc:
                log.warning("upload failed (%s); %d results wait in the outbox", exc, len(batch))
                return done, refused, False
            except ServerRefused as exc:
                # The whole batch was refused (a clock far off): nothing is marked; the
                # results wait until a person fixes the cause.
                log.error("the server refused the upload: %s", exc.reason)
                return done, refused, True
            ids = {item["id"] for item in batch}
            if not any(a.get("id") in ids for a in answers):
                log.error("the server answered none of the %d results sent", len(batch))
                return done, refused, True
            self.outbox.answer([(a["id"], a["status"], a.get("reason")) for a in answers])
            for a in answers:
                if a["status"] == "rejected":
                    refused += 1
                    log.error("result %s rejected: %s", a["id"], a.get("reason"))
                else:
                    done += 1
        return done, refused, True

    async def run_round(self) -> RoundReport:
        report = RoundReport()
        schedule = await self.sync()
        if schedule is None:
            report.server_reachable = False
            log.warning("no schedule yet: the server has never been reached")
            return report
        measurements = await self.measure_round(schedule)
        self.keep(schedule, measurements)
        report.measured = len(measurements)
        report.with_control = sum(m.control is not None for m in measurements)
        report.uploaded, report.rejected, report.server_reachable = await self.upload()
        report.pending = self.outbox.counts().pending
        return report

    async def run(
        self, rounds: int | None = None, on_round: Callable[[RoundReport], None] | None = None
    ) -> None:
        done = 0
        while rounds is None or done < rounds:
            started = time.monotonic()
            report = await self.run_round()
            done += 1
            if on_round is not None:
                on_round(report)
            if rounds is not None and done >= rounds:
                break
            interval = float((self.outbox.get("schedule") or {}).get("interval_s", 60))
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))


def _vantage(schedule: dict[str, Any], own: Vantage) -> Vantage:
    v = schedule.get("vantage") or {}
    return Vantage(
        agent_id=v.get("agent_id") or own.agent_id,
        country=v.get("country") or own.country,
        asn=v.get("asn") or own.asn,
        network_name=v.get("network_name") or own.network_name,
        is_control=bool(v.get("is_control", own.is_control)),
    )
