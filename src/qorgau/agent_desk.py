"""Vantage agents, server side: enrol them, give them their work, take what they measured.

An agent is enrolled by staff (a name, the network it sits on, whether it is a control) and
gets a one-time token. At its first start it binds an Ed25519 key to that token; from then on
every result it uploads must carry a valid signature by that key, so a stolen token alone
cannot forge measurements and the stored result is evidence anyone can re-check.

Uploads are at-least-once from the agent's side (it keeps results until the server says it
has them), so the server makes them idempotent: each result carries the agent's own id and is
stored once per agent and id. The agent's clock is checked against the server's at each upload:
a small skew is corrected and said in the evidence; a clock that is days off is refused with
the reason, because its times cannot be trusted to order a timeline.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from qorgau.domain import access
from qorgau.domain.access import Action
from qorgau.domain.model import Principal, Role
from qorgau.errors import (
    AuthenticationRequired,
    FieldProblem,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from qorgau.monitor import engine, signed, wire
from qorgau.monitor.control import control_from
from qorgau.monitor.model import Measurement, Vantage
from qorgau.monitor_desk import MonitorDesk
from qorgau.store import monitor_agents as agents_repo
from qorgau.store.monitor_agents import Agent

TOKEN_PREFIX = "qga_"
# Skew below this is network transit and ordinary drift: left alone.
CLOCK_TOLERANCE = timedelta(seconds=10)
# Skew beyond this is a broken clock: its timestamps cannot be corrected with confidence.
CLOCK_LIMIT = timedelta(hours=24)
# Results older than this are refused: an agent offline for a quarter should be re-checked.
MAX_AGE = timedelta(days=90)
MAX_BATCH = 500
MIN_INTERVAL_S, MAX_INTERVAL_S = 10, 86_400
# Control measurements the server takes at once for agents (each is a full measurement).
CONTROL_CONCURRENCY = 16


@dataclass(frozen=True)
class ResultOutcome:
    id: str
    status: str  # accepted | duplicate | rejected
    reason: str | None = None
    verdict: str | None = None


class AgentDesk:
    def __init__(self, monitor: MonitorDesk) -> None:
        self.monitor = monitor
        self.store = monitor.store
        self._control_slots: asyncio.Semaphore | None = None

    # -- staff -------------------------------------------------------------------------------

    def add_agent(
        self,
        principal: Principal,
        name: str,
        *,
        country: str | None = None,
        asn: str | None = None,
        network_name: str | None = None,
        is_control: bool = False,
        interval_s: int = 300,
    ) -> tuple[Agent, str]:
        """Enrol an agent; the token is returned once and stored only as a hash."""
        access.authorize(principal, Action.MONITOR_AGENTS)
        problems = []
        clean = name.strip()
        if not clean or len(clean) > 80:
            problems.append(("name", "required", "give the agent a name of 1 to 80 characters"))
        if country is not None and (len(country) != 2 or not country.isalpha()):
            problems.append(("country", "iso3166", "use a two-letter country code, e.g. KZ"))
        if asn is not None and not (asn.upper().startswith("AS") and asn[2:].isdigit()):
            problems.append(("asn", "asn", "write the network's number as AS followed by digits"))
        if not MIN_INTERVAL_S <= interval_s <= MAX_INTERVAL_S:
            problems.append(
                (
                    "interval_s",
                    "range",
                    f"the interval is between {MIN_INTERVAL_S} s and {MAX_INTERVAL_S} s",
                )
            )
        if problems:
            raise InvalidInput([FieldProblem(*p) for p in problems])
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.store.write() as conn:
            agent = agents_repo.add(
                conn,
                principal.org_id,
                clean,
                token,
                country=country.upper() if country else None,
                asn=asn.upper() if asn else None,
                network_name=(network_name or "").strip()[:80] or None,
                is_control=is_control,
                interval_s=interval_s,
                now=self.store.now(),
            )
        if agent is None:
            raise InvalidInput.single(
                "name", "unique", f"an agent named {clean!r} exists; pick another name"
            )
        return agent, token

    def list_agents(self, principal: Principal) -> list[Agent]:
        access.authorize(principal, Action.MONITOR_READ)
        with self.store.read() as conn:
            return agents_repo.list_agents(conn, principal.org_id)

    def revoke(self, principal: Principal, name: str) -> None:
        access.authorize(principal, Action.MONITOR_AGENTS)
        with self.store.write() as conn:
            if not agents_repo.revoke(conn, principal.org_id, name, self.store.now()):
                raise NotFound(f"no active agent named {name!r}")

    # -- agents ------------------------------------------------------------------------------

    def authenticate(self, token: str | None) -> Agent:
        if not token or not token.startswith(TOKEN_PREFIX):
            raise AuthenticationRequired(
                "agents authenticate with their enrolment token: 'Authorization: Bearer qga_…'"
            )
        with self.store.read() as conn:
            agent = agents_repo.by_token(conn, token)
        if agent is None or agent.revoked_at is not None:
            raise AuthenticationRequired(
                "this agent token is unknown or revoked; ask the desk to enrol the agent again"
            )
        return agent

    def register(self, agent: Agent, public_key: str) -> dict[str, Any]:
        """Bind the agent's key (first time) or confirm it (restarts); answer its schedule."""
        if signed.load_public_key(public_key) is None:
            raise InvalidInput.single(
                "public_key", "ed25519", "send the raw 32-byte Ed25519 public key in base64"
            )
        if agent.public_key is not None and agent.public_key != public_key:
            raise PermissionDenied(
                "this token is already bound to another key; if the agent lost its key, revoke "
                "it and enrol it again"
            )
        if agent.public_key is None:
            with self.store.write() as conn:
                agents_repo.bind_key(conn, agent.id, public_key, self.store.now())
            agent = replace(agent, public_key=public_key)
        return self.schedule(agent)

    def schedule(self, agent: Agent) -> dict[str, Any]:
        """What to measure, how often, with which resolvers; the server's clock for skew."""
        settings = self.store.settings
        with self.store.read() as conn:
            urls = agents_repo.target_urls(conn, agent.org_id)
        return {
            "agent": agent.name,
            "vantage": _vantage_json(agent),
            "targets": urls,
            "interval_s": agent.interval_s,
            "timeout_s": settings.monitor_timeout_s,
            "resolvers": ["system", *settings.monitor_resolvers],
            "control_helper": not agent.is_control,
            "server_time": self.store.now().isoformat(),
        }

    async def control(self, agent: Agent, url: str) -> dict[str, Any]:
        """Measure ``url`` now from the server, outside the censored network: the control.

        Only the organisation's watched URLs are measured, so a leaked agent token cannot turn
        the server into a scanner of arbitrary hosts."""
        with self.store.read() as conn:
            watched = agents_repo.is_target(conn, agent.org_id, url)
        if not watched:
            raise InvalidInput.single(
                "url", "watched", f"{url!r} is not a watched address; the desk adds targets"
            )
        if self._control_slots is None:
            self._control_slots = asyncio.Semaphore(CONTROL_CONCURRENCY)
        settings = self.store.settings
        async with self._control_slots:
            m = await engine.measure(
                url,
                vantage=Vantage(agent_id="server", is_control=True),
                resolvers=("system", *settings.monitor_resolvers),
                timeout=settings.monitor_timeout_s,
                ca_file=settings.monitor_ca_file,
            )
        return wire.control_to_json(control_from(m))

    def take_results(
        self, agent: Agent, sent_at: datetime, results: list[Any]
    ) -> list[ResultOutcome]:
        """Verify, correct and store a batch; every item gets its own answer."""
        if agent.public_key is None:
            raise PermissionDenied("register the agent's key before uploading results")
        if len(results) > MAX_BATCH:
            raise InvalidInput.single(
                "results", "max_items", f"send at most {MAX_BATCH} results per upload"
            )
        now = self.store.now()
        if sent_at.tzinfo is None:
            raise InvalidInput.single("sent_at", "datetime", "give sent_at with its UTC offset")
        offset = now - sent_at
        if abs(offset) > CLOCK_LIMIT:
            raise InvalidInput.single(
                "sent_at",
                "clock",
                f"the agent's clock is off by {_span(offset)} from the server's; set it "
                "(NTP) and the queued results will upload as they are",
            )
        correct = abs(offset) > CLOCK_TOLERANCE
        principal = Principal(None, Role.ADMIN, agent.org_id, f"agent:{agent.name}")
        outcomes = []
        accepted = rejected = 0
        for position, item in enumerate(results):
            outcome = self._take_one(agent, principal, item, position, offset if correct else None)
            outcomes.append(outcome)
            accepted += outcome.status == "accepted"
            rejected += outcome.status == "rejected"
        with self.store.write() as conn:
            agents_repo.seen(
                conn,
                agent.id,
                now,
                clock_offset_s=offset.total_seconds(),
                accepted=accepted,
                rejected=rejected,
            )
        return outcomes

    def _take_one(
        self,
        agent: Agent,
        principal: Principal,
        item: Any,
        position: int,
        offset: timedelta | None,
    ) -> ResultOutcome:
        rid = item.get("id") if isinstance(item, dict) else None
        label = rid if isinstance(rid, str) and rid else f"#{position}"
        if not isinstance(item, dict) or not isinstance(rid, str) or not 0 < len(rid) <= 100:
            return ResultOutcome(label, "rejected", "each result needs an 'id' of 1-100 characters")
        document = {"id": rid, "agent": item.get("agent"), "measurement": item.get("measurement")}
        signature = item.get("signature")
        if document["agent"] != agent.name:
            return ResultOutcome(rid, "rejected", f"the result names agent {document['agent']!r}")
        assert agent.public_key is not None
        if not isinstance(signature, str) or not signed.verify(
            agent.public_key, document, signature
        ):
            return ResultOutcome(rid, "rejected", "the signature does not verify with this key")
        try:
            m = wire.from_json(document["measurement"], f"results[{position}].measurement")
        except InvalidInput as exc:
            return ResultOutcome(
                rid, "rejected", "; ".join(p.message + f" ({p.field})" for p in exc.problems)
            )
        notes: list[str] = []
        if offset is not None:
            m = replace(m, started_at=m.started_at + offset)
            ahead = "behind" if offset.total_seconds() > 0 else "ahead of"
            notes.append(
                f"the agent's clock was {_span(offset)} {ahead} the server's; its times were "
                "corrected by that much"
            )
        now = self.store.now()
        if m.started_at > now + CLOCK_TOLERANCE:
            return ResultOutcome(rid, "rejected", "measured in the future by the server's clock")
        if now - m.started_at > MAX_AGE:
            return ResultOutcome(rid, "rejected", f"older than {MAX_AGE.days} days")
        m = replace(m, vantage=_vantage(agent, m.vantage), source="qorgau")
        if not agent.is_control and m.control is None:
            m, note = self._paired(agent, m)
            notes.extend(note)
        raw = json.dumps(
            {"signed": document, "signature": signature, "public_key": agent.public_key},
            ensure_ascii=False,
            sort_keys=True,
        ).encode()
        report = self.monitor.take(
            principal, m, raw, source_id=f"agent:{agent.id}:{rid}", notes=tuple(notes)
        )
        if report.already_known:
            return ResultOutcome(rid, "duplicate")
        if report.problems:
            return ResultOutcome(rid, "rejected", report.problems[0].problems[0].message)
        if agent.is_control:
            # Kept once, like the result itself: a resent control result adds no second sample.
            with self.store.write() as conn:
                agents_repo.add_control_sample(
                    conn, agent.org_id, m.url, m.started_at, wire.control_to_json(control_from(m))
                )
        return ResultOutcome(rid, "accepted", verdict=report.verdicts[0])

    def _paired(self, agent: Agent, m: Measurement) -> tuple[Measurement, list[str]]:
        """A measurement that came without its control (the agent could not reach the control
        helper then) gets the control agents' view of the same URL nearest in time."""
        window = max(agent.interval_s, 60)
        with self.store.read() as conn:
            sample = agents_repo.nearest_control_sample(
                conn, agent.org_id, m.url, m.started_at, window
            )
        if sample is None:
            return m, ["no control measurement was taken within one interval of this one"]
        return replace(m, control=wire.control_from_json(sample)), [
            "the control is a control agent's measurement of the same URL taken within "
            f"{window} s of this one"
        ]


def _vantage(agent: Agent, reported: Vantage) -> Vantage:
    """The network as the desk configured it; what the agent detected fills only the gaps."""
    return Vantage(
        agent_id=agent.name,
        country=agent.country or reported.country,
        asn=agent.asn or reported.asn,
        network_name=agent.network_name or reported.network_name,
        is_control=agent.is_control,
    )


def _vantage_json(agent: Agent) -> dict[str, Any]:
    return {
        "agent_id": agent.name,
        "country": agent.country,
        "asn": agent.asn,
        "network_name": agent.network_name,
        "is_control": agent.is_control,
    }


def _span(delta: timedelta) -> str:
    seconds = abs(delta.total_seconds())
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
