"""Vantage agents and observation sources: enrol them, see that they report, revoke them.

An agent (a small program on a volunteer's or a partner's network) measures whether outlets
are reachable; a source is a feed that pushes observations (a bot, a partner's tool). Both get
a token once, at enrolment: it is stored only as a hash, so the page shows it exactly once
(it crosses the redirect in an encrypted cookie, see ``admin_common``) and says so. A token
that leaked is revoked here; what it sent stays as evidence.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from qorgau.domain.access import Action
from qorgau.domain.model import Principal
from qorgau.errors import InvalidInput, NotFound
from qorgau.i18n import gettext
from qorgau.store.monitor_agents import Agent
from qorgau.web.auth import route
from qorgau.web.errors import RULE_MESSAGES
from qorgau.web.ui import render
from qorgau.web.ui.admin_common import (
    OneTime,
    agent_desk,
    back,
    forget_one_time,
    keep_one_time,
    notice,
    observation_desk,
    refusal,
    take_one_time,
)
from qorgau.web.ui.deps import Viewer
from qorgau.web.ui.forms import FormState, apply_error, read_form

router = APIRouter(include_in_schema=False)

AGENTS_PATH = "/admin/agents"
AGENT_FIELDS = {
    "name": "agent_name",
    "country": "country",
    "asn": "asn",
    "network_name": "network_name",
    "interval_s": "interval_s",
}


def _agents_page(
    request: Request,
    who: Principal,
    agent_form: FormState,
    source_form: FormState,
    status: int = 200,
) -> Response:
    lang = render.language(request)
    secret = take_one_time(request, who) if status == 200 else None
    agents = agent_desk(request).list_agents(who)
    sources = observation_desk(request).list_sources(who)
    response = render.page(
        request,
        "ui/admin_agents.html",
        who,
        status=status,
        title=gettext(lang, "Agents and sources"),
        agents=agents,
        sources=sources,
        agent_form=agent_form,
        source_form=source_form,
        secret=secret,
        notice=notice(request, lang) if status == 200 else "",
    )
    if secret is not None or request.cookies.get("qorgau_once"):
        forget_one_time(response)
    return response


def _blank_agent() -> FormState:
    return FormState(values={"interval_s": "300", "country": "KZ"})


@router.get(AGENTS_PATH, **route(Action.MONITOR_AGENTS))
def agents_page(request: Request, who: Viewer) -> Response:
    return _agents_page(request, who, _blank_agent(), FormState())


def _add_agent(request: Request, who: Principal, state: FormState) -> tuple[Agent, str] | None:
    lang = render.language(request)
    raw_interval = state.get("interval_s", "300").strip() or "300"
    if not raw_interval.isdigit():
        state.add("interval_s", gettext(lang, RULE_MESSAGES["int_parsing"]))
        return None
    try:
        return agent_desk(request).add_agent(
            who,
            state.get("agent_name"),
            country=state.get("country").strip() or None,
            asn=state.get("asn").strip() or None,
            network_name=state.get("network_name").strip() or None,
            is_control=state.get("is_control") == "1",
            interval_s=int(raw_interval),
        )
    except InvalidInput as exc:
        apply_error(state, lang, exc, AGENT_FIELDS)
        return None


@router.post(AGENTS_PATH, **route(Action.MONITOR_AGENTS))
async def add_agent(request: Request, who: Viewer) -> Response:
    state, _ = await read_form(request)
    added = await run_in_threadpool(_add_agent, request, who, state)
    if added is None:
        return await run_in_threadpool(_agents_page, request, who, state, FormState(), 422)
    agent, token = added
    response = back(AGENTS_PATH, "agent-added")
    keep_one_time(request, response, who, OneTime("agent", agent.name, token))
    return response


@router.post(AGENTS_PATH + "/revoke", **route(Action.MONITOR_AGENTS))
async def revoke_agent(request: Request, who: Viewer) -> Response:
    state, _ = await read_form(request)
    try:
        await run_in_threadpool(agent_desk(request).revoke, who, state.get("name"))
    except NotFound as exc:
        shown = _blank_agent()
        refusal(shown, render.language(request), exc)
        return await run_in_threadpool(_agents_page, request, who, shown, FormState(), 404)
    return back(AGENTS_PATH, "agent-revoked")


@router.post("/admin/sources", **route(Action.OBSERVATION_SOURCES))
async def add_source(request: Request, who: Viewer) -> Response:
    state, _ = await read_form(request)
    try:
        source, token = await run_in_threadpool(
            observation_desk(request).add_source, who, state.get("source_name")
        )
    except InvalidInput as exc:
        apply_error(state, render.language(request), exc, {"name": "source_name"})
        return await run_in_threadpool(_agents_page, request, who, _blank_agent(), state, 422)
    response = back(AGENTS_PATH, "source-added")
    keep_one_time(request, response, who, OneTime("source", source.name, token))
    return response


@router.post("/admin/sources/revoke", **route(Action.OBSERVATION_SOURCES))
async def revoke_source(request: Request, who: Viewer) -> Response:
    state, _ = await read_form(request)
    try:
        await run_in_threadpool(observation_desk(request).revoke_source, who, state.get("name"))
    except NotFound as exc:
        shown = FormState()
        refusal(shown, render.language(request), exc)
        return await run_in_threadpool(_agents_page, request, who, _blank_agent(), shown, 404)
    return back(AGENTS_PATH, "source-revoked")
