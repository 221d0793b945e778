"""The case page and everything a responder does on it: claim, assign, move the status, tick
playbook steps, add evidence, refer, draft and approve statements, write notes.

Every action is a plain form posting here and answered with a 303 back to the page at the
section it changed, so the page works with no JavaScript; htmx posts the same forms and swaps
that section in place. A refused form comes back with the message beside the field and what
was typed still in it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from qorgau import read_audit
from qorgau.domain.access import Action
from qorgau.domain.model import Principal, Status
from qorgau.errors import Conflict, InvalidInput
from qorgau.i18n import N_, gettext
from qorgau.store.case_tasks import TaskState
from qorgau.vault_desk import VaultDesk
from qorgau.web.auth import client_address, desk, route
from qorgau.web.ui import render
from qorgau.web.ui.deps import Viewer, response_desk
from qorgau.web.ui.desk_case_view import CaseForms, case_context, timeline_context
from qorgau.web.ui.forms import FormState, apply_error, read_form

router = APIRouter(include_in_schema=False)
CaseId = Annotated[str, Path(min_length=3, max_length=16, pattern=r"^[A-Za-z0-9-]+$")]
ItemId = Annotated[int, Path(ge=1)]
MAX_UPLOAD = 100 * 1024 * 1024


def _page(
    request: Request,
    who: Principal,
    public_id: str,
    forms: CaseForms | None = None,
    status: int = 200,
) -> Response:
    # The case and its notes are one read of personal data: one audit event (read_audit).
    with read_audit.one_event(desk(request).store, who, client_address(request)):
        ctx = case_context(request, who, public_id, forms or CaseForms())
    return render.page(
        request, "ui/desk_case.html", who, status=status, title=ctx["title_text"], **ctx
    )


@router.get("/desk/cases/{public_id}", **route(Action.INCIDENT_READ))
def case_page(public_id: CaseId, request: Request, who: Viewer) -> Response:
    return _page(request, who, public_id)


@router.get("/desk/cases/{public_id}/timeline", **route(Action.TIMELINE_READ))
def case_timeline(public_id: CaseId, request: Request, who: Viewer) -> Response:
    """The timeline alone, for the page's polling (alerts and colleagues' work show up)."""
    return render.fragment(
        request, "ui/desk_case_timeline.html", who, **timeline_context(request, who, public_id)
    )


async def _act(
    request: Request,
    who: Principal,
    public_id: str,
    section: str,
    state: FormState,
    action: Callable[[], Any],
    fields: dict[str, str],
) -> Response:
    """Run the desk call; on a refusal show the page again with the message at the form."""
    try:
        await run_in_threadpool(action)
    except (InvalidInput, Conflict) as exc:
        apply_error(state, render.language(request), exc, fields)
        # htmx swaps only successful answers: give it the page with the message to swap in.
        code = (
            200
            if request.headers.get("hx-request") == "true"
            else (409 if isinstance(exc, Conflict) else 422)
        )
        forms = CaseForms({section: state})
        return await run_in_threadpool(lambda: _page(request, who, public_id, forms, code))
    return RedirectResponse(f"/desk/cases/{public_id}#{section}", status_code=303)


@router.post("/desk/cases/{public_id}/claim", **route(Action.CASE_CLAIM))
async def claim(public_id: CaseId, request: Request, who: Viewer) -> Response:
    state, _ = await read_form(request)
    rd, address = response_desk(request), client_address(request)
    return await _act(
        request, who, public_id, "handling", state, lambda: rd.claim(who, public_id, address), {}
    )


@router.post("/desk/cases/{public_id}/assign", **route(Action.CASE_CLAIM))
async def assign(public_id: CaseId, request: Request, who: Viewer) -> Response:
    state, _ = await read_form(request)
    rd, address = response_desk(request), client_address(request)
    raw = state.get("user_id").strip()
    if raw and not raw.isdigit():
        # Never read a malformed choice as "release the case".
        def refuse() -> None:
            raise InvalidInput.single("user_id", "choice", N_("Choose a person from the list."))

        return await _act(
            request, who, public_id, "handling", state, refuse, {"user_id": "user_id"}
        )
    user_id = int(raw) if raw else None
    return await _act(
        request,
        who,
        public_id,
        "handling",
        state,
        lambda: rd.assign(who, public_id, user_id, state.get("note") or None, address),
        {"user_id": "user_id", "note": "note"},
    )


@router.post("/desk/cases/{public_id}/status", **route(Action.INCIDENT_STATUS))
async def change_status(public_id: CaseId, request: Request, who: Viewer) -> Response:
    state, _ = await read_form(request)
    address = client_address(request)
    try:
        status = Status(state.get("status"))
    except ValueError:
        status = None

    def run() -> None:
        if status is None:
            raise InvalidInput.single("status", "required", "choose the new status")
        desk(request).change_status(who, public_id, status, state.get("reason") or None, address)

    return await _act(
        request, who, public_id, "handling", state, run, {"status": "status", "reason": "reason"}
    )


@router.post("/desk/cases/{public_id}/tasks/{task_id}", **route(Action.TASK_WRITE))
async def set_task(public_id: CaseId, task_id: ItemId, request: Request, who: Viewer) -> Response:
    state, _ = await read_form(request)
    rd, address = response_desk(request), client_address(request)
    raw = state.get("state", "done")

    def run() -> None:
        try:
            wanted = TaskState(raw)
        except ValueError:
            raise InvalidInput.single("state", "unknown", "tick, skip or reopen the task") from None
        reason = state.get("reason").strip() or None
        if wanted is TaskState.SKIPPED and not reason:
            raise InvalidInput.single("reason", "required", "say why the step is skipped")
        rd.set_task(who, public_id, task_id, wanted, reason, address)

    state.values["task_id"] = str(task_id)
    return await _act(
        request, who, public_id, "tasks", state, run, {"reason": "reason", "state": "reason"}
    )


@router.post("/desk/cases/{public_id}/playbooks", **route(Action.TASK_WRITE))
async def attach_playbook(public_id: CaseId, request: Request, who: Viewer) -> Response:
    state, _ = await read_form(request)
    rd, address = response_desk(request), client_address(request)
    return await _act(
        request,
        who,
        public_id,
        "tasks",
        state,
        lambda: rd.attach_playbook(who, public_id, state.get("playbook_id"), address),
        {"playbook_id": "playbook_id"},
    )


@router.post("/desk/cases/{public_id}/evidence", **route(Action.VAULT_WRITE))
async def add_evidence(public_id: CaseId, request: Request, who: Viewer) -> Response:
    state, files = await read_form(request)
    vd: VaultDesk = request.app.state.vault_desk
    lang = render.language(request)
    if not files:
        await (await request.form()).close()
        state.add("file", gettext(lang, "Choose a file to add."))
        return await run_in_threadpool(
            lambda: _page(request, who, public_id, CaseForms({"evidence": state}), 422)
        )
    upload = files[0]
    data = await upload.read()
    for f in files:
        await f.close()  # the spooled temporary files are ours to close
    if len(data) > MAX_UPLOAD:
        state.add("file", gettext(lang, "A file can be at most 100 MB here."))
        return await run_in_threadpool(
            lambda: _page(request, who, public_id, CaseForms({"evidence": state}), 413)
        )
    source = state.get("source").strip() or None
    return await _act(
        request,
        who,
        public_id,
        "evidence",
        state,
        lambda: vd.add_file(
            who,
            data,
            filename=(upload.filename or "")[:255] or None,
            media_type=upload.content_type,
            case=public_id,
            source=source,
        ),
        {"file": "file", "source": "source"},
    )


@router.post("/desk/cases/{public_id}/referrals", **route(Action.REFERRAL_WRITE))
async def refer(public_id: CaseId, request: Request, who: Viewer) -> Response:
    state, _ = await read_form(request)
    rd, address = response_desk(request), client_address(request)
    return await _act(
        request,
        who,
        public_id,
        "referrals",
        state,
        lambda: rd.refer(
            who,
            public_id,
            state.get("partner_id"),
            state.get("need"),
            state.get("note").strip() or None,
            address,
        ),
        {"partner_id": "partner_id", "need": "need", "note": "note"},
    )


@router.post("/desk/cases/{public_id}/statements", **route(Action.STATEMENT_DRAFT))
async def draft_statement(public_id: CaseId, request: Request, who: Viewer) -> Response:
    state, _ = await read_form(request)
    rd, address = response_desk(request), client_address(request)
    return await _act(
        request,
        who,
        public_id,
        "statements",
        state,
        lambda: rd.draft_statement(who, public_id, state.get("language", "en"), address),
        {"language": "language"},
    )


@router.post(
    "/desk/cases/{public_id}/statements/{statement_id}/edit", **route(Action.STATEMENT_DRAFT)
)
async def edit_statement(
    public_id: CaseId, statement_id: ItemId, request: Request, who: Viewer
) -> Response:
    state, _ = await read_form(request)
    rd, address = response_desk(request), client_address(request)
    state.values["statement_id"] = str(statement_id)
    return await _act(
        request,
        who,
        public_id,
        "statements",
        state,
        lambda: rd.edit_statement(who, statement_id, state.get("body"), address, public_id),
        {"body": "body"},
    )


@router.post(
    "/desk/cases/{public_id}/statements/{statement_id}/approve",
    **route(Action.STATEMENT_APPROVE),
)
async def approve_statement(
    public_id: CaseId, statement_id: ItemId, request: Request, who: Viewer
) -> Response:
    state, _ = await read_form(request)
    rd, address = response_desk(request), client_address(request)
    return await _act(
        request,
        who,
        public_id,
        "statements",
        state,
        lambda: rd.approve_statement(who, statement_id, address, public_id),
        {},
    )


@router.post(
    "/desk/cases/{public_id}/statements/{statement_id}/publish",
    **route(Action.STATEMENT_APPROVE),
)
async def publish_statement(
    public_id: CaseId, statement_id: ItemId, request: Request, who: Viewer
) -> Response:
    state, _ = await read_form(request)
    rd, address = response_desk(request), client_address(request)
    return await _act(
        request,
        who,
        public_id,
        "statements",
        state,
        lambda: rd.publish_statement(who, statement_id, address, public_id),
        {},
    )


@router.post("/desk/cases/{public_id}/notes", **route(Action.NOTE_ADD))
async def add_note(public_id: CaseId, request: Request, who: Viewer) -> Response:
    state, _ = await read_form(request)
    address = client_address(request)
    sensitive = state.has("sensitive", "on")
    return await _act(
        request,
        who,
        public_id,
        "notes",
        state,
        lambda: desk(request).add_note(who, public_id, state.get("body"), sensitive, address),
        {"body": "body"},
    )
