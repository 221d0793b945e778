"""The responders' queue: every case with its response clock, filtered by a GET form so that
a filtered view is a link (saved, shared, bookmarked), and refreshed in place while it is open.

The page of cases comes from the case search (indexed filters, one page of ids) and only the
clocks of those fifty cases are read; narrowing by assignee or clock state, which the case
search does not know, goes through ``desk_lookups``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams

from qorgau.account_desk import SavedView
from qorgau.domain.access import Action
from qorgau.domain.model import Principal, Severity, Status
from qorgau.domain.queries import IncidentQuery
from qorgau.errors import Conflict, InvalidInput
from qorgau.i18n import N_, gettext
from qorgau.queue_reads import QueueRow, clock_views, narrowed_queue, usernames
from qorgau.reports.labels import SEVERITY_LABELS, STATUS_LABELS
from qorgau.response.clocks import ClockState
from qorgau.response_desk import ClockView
from qorgau.web.auth import desk, route
from qorgau.web.ui import render
from qorgau.web.ui.deps import Viewer, response_desk, sign_in_desk
from qorgau.web.ui.forms import FormState, apply_error, read_form

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
DEFAULT_POLL_SECONDS = 15
ASSIGNED = ("anyone", "mine", "unassigned")
CLOCKS = ("", "breached", "due_soon")
CLOCK_LABELS = {
    "breached": N_("Breached"),
    "due_soon": N_("Due soon"),
    "running": N_("On time"),
    "met": N_("Met"),
    "met_late": N_("Met late"),
    "paused": N_("Paused"),
    "stopped": N_("Stopped"),
}
# The three states the desk acts on; every other state reads as "ok" in the queue's colours.
CLOCK_CLASS = {"breached": "clock-breached", "due_soon": "clock-due_soon"}


def poll_seconds(request: Request) -> int:
    """How often open pages refresh themselves (a test may shorten it on the app's state)."""
    return int(getattr(request.app.state, "desk_poll_seconds", DEFAULT_POLL_SECONDS))


@dataclass(frozen=True)
class QueueFilters:
    statuses: tuple[Status, ...] = ()
    severities: tuple[Severity, ...] = ()
    categories: tuple[str, ...] = ()
    attack_types: tuple[str, ...] = ()
    assigned: str = "anyone"
    clock: str = ""
    q: str = ""
    page: int = 1
    ignored: list[str] = field(default_factory=list)

    def query_string(self, page: int | None = None) -> str:
        """The filters as a URL query (what a saved view stores), page left out unless given."""
        pairs: list[tuple[str, str]] = []
        pairs += [("status", str(s)) for s in self.statuses]
        pairs += [("severity", str(s)) for s in self.severities]
        pairs += [("category", c) for c in self.categories]
        pairs += [("attack_type", a) for a in self.attack_types]
        if self.assigned != "anyone":
            pairs.append(("assigned", self.assigned))
        if self.clock:
            pairs.append(("clock", self.clock))
        if self.q:
            pairs.append(("q", self.q))
        if page and page > 1:
            pairs.append(("page", str(page)))
        return urlencode(pairs)

    def incident_query(self) -> IncidentQuery:
        return IncidentQuery(
            text=self.q or None,
            statuses=self.statuses,
            severities=self.severities,
            categories=self.categories,
            attack_types=self.attack_types,
            limit=PAGE_SIZE,
            offset=(self.page - 1) * PAGE_SIZE,
        )


def read_filters(request: Request, query: str | None = None) -> QueueFilters:
    """Filters from the query string; values no form offers are dropped (and said so)."""
    params = request.query_params if query is None else QueryParams(query)
    tax = desk(request).store.taxonomy
    ignored: list[str] = []

    def pick(name: str, allowed: set[str]) -> tuple[str, ...]:
        values = [v for v in params.getlist(name) if v]
        ignored.extend(v for v in values if v not in allowed)
        return tuple(dict.fromkeys(v for v in values if v in allowed))

    statuses = pick("status", {str(s) for s in Status if s is not Status.MERGED})
    severities = pick("severity", {str(s) for s in Severity})
    categories = pick("category", set(tax.ids("category")))
    attack_types = pick("attack_type", set(tax.ids("attack_type")))
    assigned = params.get("assigned") or "anyone"
    clock = params.get("clock") or ""
    try:
        page = max(1, min(100_000, int(params.get("page") or 1)))
    except ValueError:
        page = 1
    return QueueFilters(
        statuses=tuple(Status(s) for s in statuses),
        severities=tuple(Severity(s) for s in severities),
        categories=categories,
        attack_types=attack_types,
        assigned=assigned if assigned in ASSIGNED else "anyone",
        clock=clock if clock in CLOCKS else "",
        q=(params.get("q") or "").strip()[:200],
        page=page,
        ignored=ignored,
    )


def find_cases(request: Request, who: Principal, f: QueueFilters) -> tuple[list[QueueRow], int]:
    rd = response_desk(request)
    now = rd.store.now()
    query = f.incident_query()
    if f.assigned != "anyone" or f.clock:
        return narrowed_queue(rd, who, query, assigned=f.assigned, clock=f.clock, now=now)
    found = desk(request).search(who, query, personal=False)  # the queue shows none
    clocks = clock_views(rd, who.org_id, [i.id for i in found.items], now)
    rows = [
        QueueRow(
            i.id,
            i.public_id,
            i.title,
            i.severity,
            i.status,
            i.category,
            i.assignee_id,
            i.reported_at,
            clocks.get(i.id),
        )
        for i in found.items
    ]
    return rows, found.total


def next_due(view: ClockView | None) -> datetime | None:
    """The deadline a responder races against: the first unmet one."""
    if view is None:
        return None
    pending = [d for d in (view.response, view.action) if d.met_at is None]
    return min((d.due for d in pending), default=None)


def clock_context(view: ClockView | None) -> dict[str, Any]:
    if view is None:
        return {"state": "", "label": N_("No clock"), "css": "", "due": None}
    state = str(view.state)
    return {
        "state": state,
        "label": CLOCK_LABELS.get(state, state),
        "css": CLOCK_CLASS.get(state, "clock-ok"),
        "due": next_due(view),
    }


def rows_context(request: Request, who: Principal, f: QueueFilters) -> dict[str, Any]:
    rows, total = find_cases(request, who, f)
    names = usernames(response_desk(request), who.org_id, [r.assignee_id for r in rows])
    pages = max(1, -(-total // PAGE_SIZE))
    return {
        "rows": [
            {"row": r, "clock": clock_context(r.clock), "assignee": names.get(r.assignee_id or 0)}
            for r in rows
        ],
        "total": total,
        "page": f.page,
        "pages": pages,
        "prev_url": f"/desk?{f.query_string(f.page - 1)}" if f.page > 1 else None,
        "next_url": f"/desk?{f.query_string(f.page + 1)}" if f.page < pages else None,
        "rows_url": f"/desk/queue/rows?{f.query_string(f.page)}",
        "severity_labels": SEVERITY_LABELS,
        "status_labels": STATUS_LABELS,
        "poll": poll_seconds(request),
        "updated_at": response_desk(request).store.now(),
        "ClockState": ClockState,
    }


def filter_options(request: Request, lang: str) -> dict[str, Any]:
    tax = desk(request).store.taxonomy
    return {
        "status_options": [
            (str(s), gettext(lang, STATUS_LABELS[str(s)])) for s in Status if s is not Status.MERGED
        ],
        "severity_options": [(str(s), gettext(lang, SEVERITY_LABELS[str(s)])) for s in Severity],
        "category_options": [(t, tax.label("category", t, lang)) for t in tax.ids("category")],
        "attack_options": sorted(
            ((t, tax.label("attack_type", t, lang)) for t in tax.ids("attack_type")),
            key=lambda p: p[1].lower(),
        ),
        "assigned_options": [
            ("anyone", gettext(lang, "Anyone")),
            ("mine", gettext(lang, "Mine")),
            ("unassigned", gettext(lang, "Unassigned")),
        ],
        "clock_options": [
            ("", gettext(lang, "Any")),
            ("breached", gettext(lang, "Breached")),
            ("due_soon", gettext(lang, "Due soon")),
        ],
    }


def _queue_page(
    request: Request,
    who: Principal,
    *,
    view_state: FormState | None = None,
    status: int = 200,
    query: str | None = None,
) -> Response:
    lang = render.language(request)
    f = read_filters(request, query)
    views: list[SavedView] = sign_in_desk(request).saved_views(who)
    return render.page(
        request,
        "ui/desk_queue.html",
        who,
        status=status,
        title=gettext(lang, "Case queue"),
        filters=f,
        query=f.query_string(),
        views=views,
        view_state=view_state or FormState(values={"query": f.query_string()}),
        **filter_options(request, lang),
        **rows_context(request, who, f),
    )


@router.get("/desk", **route(Action.QUEUE_READ))
def queue_page(request: Request, who: Viewer) -> Response:
    return _queue_page(request, who)


@router.get("/desk/queue/rows", **route(Action.QUEUE_READ))
def queue_rows(request: Request, who: Viewer) -> Response:
    """The table alone, for the page's polling: new cases appear without a reload."""
    f = read_filters(request)
    return render.fragment(request, "ui/desk_queue_rows.html", who, **rows_context(request, who, f))


@router.post("/desk/views", **route(Action.QUEUE_READ))
async def save_view(request: Request, who: Viewer) -> Response:
    state, _ = await read_form(request)
    # Only the filters the queue knows are kept, in their canonical order.
    query = read_filters(request, state.get("query")).query_string()
    try:
        await run_in_threadpool(sign_in_desk(request).save_view, who, state.get("name"), query)
    except (InvalidInput, Conflict) as exc:
        apply_error(state, render.language(request), exc, {"name": "name", "query": "name"})
        return await run_in_threadpool(
            lambda: _queue_page(request, who, view_state=state, status=422, query=query)
        )
    return RedirectResponse(f"/desk?{query}", status_code=303)


@router.post("/desk/views/{view_id}/delete", **route(Action.QUEUE_READ))
async def delete_view(view_id: int, request: Request, who: Viewer) -> Response:
    await run_in_threadpool(sign_in_desk(request).delete_view, who, view_id)
    return RedirectResponse("/desk#views", status_code=303)
