"""Vantage agents over HTTPS: staff enrol and revoke them; agents register their key, read
their schedule, ask for a control measurement and upload signed results."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from starlette.concurrency import run_in_threadpool

from qorgau.agent_desk import TOKEN_PREFIX, AgentDesk
from qorgau.domain import access
from qorgau.domain.access import Action
from qorgau.domain.model import Principal
from qorgau.store.monitor_agents import Agent
from qorgau.web import response_schemas as rs
from qorgau.web.auth import bearer_token, desk, principal, route

router = APIRouter(prefix="/api/v1", tags=["vantage agents"])
Who = Annotated[Principal, Depends(principal)]


def ad(request: Request) -> AgentDesk:
    d: AgentDesk = request.app.state.agent_desk
    return d


async def agent_caller(request: Request) -> Agent:
    """The agent behind the token. A person's token is refused as a person (403), so the
    policy table stays the one answer for every user; no token at all is 401."""
    token = bearer_token(request)
    if token and not token.startswith(TOKEN_PREFIX):
        who = await run_in_threadpool(desk(request).principal_for_token, token)
        access.authorize(who, Action.AGENT_SYNC)
    return await run_in_threadpool(ad(request).authenticate, token)


AgentCaller = Annotated[Agent, Depends(agent_caller)]


def _agent_json(a: Agent) -> dict[str, Any]:
    return {
        "name": a.name,
        "country": a.country,
        "asn": a.asn,
        "network_name": a.network_name,
        "is_control": a.is_control,
        "interval_s": a.interval_s,
        "registered": a.public_key is not None,
        "created_at": a.created_at.isoformat(),
        "last_seen_at": a.last_seen_at.isoformat() if a.last_seen_at else None,
        "clock_offset_s": a.clock_offset_s,
        "accepted": a.accepted,
        "rejected": a.rejected,
        "revoked": a.revoked_at is not None,
    }


@router.post(
    "/monitor/agents",
    status_code=201,
    summary="Enrol a vantage agent; its token is shown once",
    **route(Action.MONITOR_AGENTS),
)
def add_agent(body: rs.AgentIn, request: Request, who: Who) -> dict[str, Any]:
    agent, token = ad(request).add_agent(
        who,
        body.name,
        country=body.country,
        asn=body.asn,
        network_name=body.network_name,
        is_control=body.is_control,
        interval_s=body.interval_s,
    )
    return {**_agent_json(agent), "token": token}


@router.get(
    "/monitor/agents",
    summary="Vantage agents: network, last contact, clock offset, results taken and refused",
    **route(Action.MONITOR_READ),
)
def list_agents(request: Request, who: Who) -> list[dict[str, Any]]:
    return [_agent_json(a) for a in ad(request).list_agents(who)]


@router.delete(
    "/monitor/agents/{name}",
    status_code=204,
    summary="Revoke an agent's token (its stored results stay)",
    **route(Action.MONITOR_AGENTS),
)
def revoke_agent(
    name: Annotated[str, Path(min_length=1, max_length=80)], request: Request, who: Who
) -> None:
    ad(request).revoke(who, name)


@router.post(
    "/agent/register",
    summary="An agent binds its Ed25519 key to its token and gets its schedule",
    **route(Action.AGENT_SYNC),
)
def register(body: rs.AgentRegisterIn, request: Request, agent: AgentCaller) -> dict[str, Any]:
    return ad(request).register(agent, body.public_key)


@router.get(
    "/agent/schedule",
    summary="What the agent measures, how often, with which resolvers; the server's clock",
    **route(Action.AGENT_SYNC),
)
def schedule(request: Request, agent: AgentCaller) -> dict[str, Any]:
    return ad(request).schedule(agent)


@router.post(
    "/agent/control",
    summary="A control measurement of a watched URL, taken now from the server",
    **route(Action.AGENT_SYNC),
)
async def control(body: rs.ControlIn, request: Request, agent: AgentCaller) -> dict[str, Any]:
    return await ad(request).control(agent, body.url)


@router.post(
    "/agent/results",
    summary="Upload signed results; each is answered accepted, duplicate or rejected (why)",
    **route(Action.AGENT_SYNC),
)
def results(body: rs.ResultsIn, request: Request, agent: AgentCaller) -> dict[str, Any]:
    outcomes = ad(request).take_results(agent, body.sent_at, body.results)
    return {
        "results": [
            {"id": o.id, "status": o.status, "reason": o.reason, "verdict": o.verdict}
            for o in outcomes
        ]
    }
