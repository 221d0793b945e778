"""The taxonomy in use, the playbooks, the referral directory, and the form that changes the
organisation's response documents.

Organisations adapt playbooks, the referral directory, the roster and the clocks by editing
documents (TOML as shipped, or JSON). A mistake in one must never reach a case: the form checks
the document with the same validation the API and the CLI use and lists every problem with its
line or field, and only a document that passes is saved as a new version.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from qorgau.domain import access
from qorgau.domain.access import Action
from qorgau.domain.model import Principal
from qorgau.errors import InvalidInput
from qorgau.i18n import N_, gettext
from qorgau.response.catalogue import KINDS, PLAYBOOK_PREFIX
from qorgau.response.documents import parse_toml_text
from qorgau.response.playbooks import Playbook
from qorgau.web.auth import client_address, desk, route
from qorgau.web.ui import render
from qorgau.web.ui.admin_common import back, notice, problems
from qorgau.web.ui.deps import Viewer, response_desk
from qorgau.web.ui.forms import FormState, read_form

router = APIRouter(include_in_schema=False)

DOCUMENTS_PATH = "/admin/documents"
KIND_PATTERN = re.compile(r"^[a-z]+(:[a-z0-9-]+)?$")
MAX_DOCUMENT_BYTES = 256 * 1024

NEED_LABELS = {
    "legal_aid": N_("legal aid"),
    "emergency_funds": N_("emergency funds"),
    "relocation": N_("relocation"),
    "digital_security": N_("digital security"),
    "ddos_protection": N_("DDoS protection"),
    "advocacy": N_("advocacy"),
    "monitoring": N_("monitoring"),
    "platform_escalation": N_("escalation to platforms"),
}
KIND_LABELS = {
    "triage": N_("triage rules"),
    "clocks": N_("response clocks"),
    "referrals": N_("referral directory"),
    "roster": N_("duty roster"),
    "channels": N_("organisation webhooks"),
}
PLAYBOOK_KINDS = {"reactive": N_("playbook"), "hygiene": N_("hygiene checklist")}
SHIPPED_FILES = {
    "triage": "triage-rules.toml",
    "clocks": "clocks.toml",
    "referrals": "referrals.toml",
}
NOT_A_KIND = N_("Write one of: roster, clocks, triage, referrals, channels, or playbook:<id>.")
TOO_BIG = N_("The document is too large: at most {n} KB.")
NOT_TEXT = N_("The file is not UTF-8 text.")
EMPTY = N_("Paste the document or choose a file.")
VALID = N_("The document passed every check. Nothing was saved yet.")


# -- taxonomy and playbooks --------------------------------------------------------------------
@router.get("/admin/playbooks", **route(Action.PLAYBOOK_READ))
def playbooks_page(request: Request, who: Viewer) -> Response:
    lang = render.language(request)
    rd = response_desk(request)
    books = rd.playbooks(who)
    versions = rd.config(who.org_id).versions
    tax = desk(request).store.taxonomy
    categories = [(t.id, t.label(lang)) for t in tax.terms("category").values() if not t.retired]
    attack_types = [
        (t.id, t.label(lang), tax.label("category", str(t.attrs.get("category")), lang))
        for t in tax.terms("attack_type").values()
        if not t.retired
    ]
    rows = [
        {
            "id": b.id,
            "title": b.title.get(lang),
            "kind": gettext(lang, PLAYBOOK_KINDS[str(b.kind)]),
            "version": b.version,
            "attack_types": [tax.label("attack_type", a, lang) for a in b.attack_types],
            "steps": len(b.step),
            "own_version": versions.get(PLAYBOOK_PREFIX + b.id),
        }
        for b in books
    ]
    return render.page(
        request,
        "ui/admin_playbooks.html",
        who,
        title=gettext(lang, "Taxonomy and playbooks"),
        taxonomy_version=tax.version,
        categories=categories,
        attack_types=attack_types,
        books=rows,
        may_edit=access.allowed(who, Action.RESPONSE_CONFIG),
    )


# -- referral directory ------------------------------------------------------------------------
@router.get("/admin/referrals", **route(Action.REFERRAL_READ))
def referrals_page(request: Request, who: Viewer) -> Response:
    lang = render.language(request)
    config = response_desk(request).partners(who)
    partners = [
        {
            "id": p.id,
            "name": p.name,
            "offers": [gettext(lang, NEED_LABELS.get(str(o), str(o))) for o in p.offers],
            "languages": [render.LANGUAGE_NAMES.get(x, x) for x in p.languages],
            "website": str(p.website),
            "conditions": p.conditions.get(lang),
        }
        for p in config.directory.partner
    ]
    return render.page(
        request,
        "ui/admin_referrals.html",
        who,
        title=gettext(lang, "Referral directory"),
        partners=partners,
        directory_version=config.directory.version,
        own_version=config.versions.get("referrals"),
        may_edit=access.allowed(who, Action.RESPONSE_CONFIG),
    )


# -- the document form -------------------------------------------------------------------------
def _kind_options(books: list[Playbook], lang: str) -> list[tuple[str, str]]:
    fixed = [(k, f"{k} — {gettext(lang, KIND_LABELS[k])}") for k in KINDS]
    return fixed + [(PLAYBOOK_PREFIX + b.id, f"{PLAYBOOK_PREFIX}{b.id}") for b in books]


def _starting_text(request: Request, who: Principal, kind: str) -> str:
    """What to edit: the organisation's saved version, else the shipped file. Never the
    webhooks document, whose secrets the desk hides: saving it back would store the mask."""
    if kind == "channels":
        return ""
    found = response_desk(request).document(who, kind)
    if found is not None:
        return json.dumps(found[1], ensure_ascii=False, indent=2)
    root = resources.files("qorgau.response") / "data"
    names = [SHIPPED_FILES[kind]] if kind in SHIPPED_FILES else []
    if kind.startswith(PLAYBOOK_PREFIX):
        name = kind.removeprefix(PLAYBOOK_PREFIX) + ".toml"
        names = [f"playbooks/{name}", f"hygiene/{name}"]
    for name in names:
        entry = root.joinpath(*name.split("/"))
        if entry.is_file():
            return entry.read_text("utf-8")
    return ""


def _documents_page(
    request: Request,
    who: Principal,
    state: FormState,
    *,
    status: int = 200,
    found: list[tuple[str, str]] | None = None,
    valid: bool = False,
) -> Response:
    lang = render.language(request)
    rd = response_desk(request)
    books = rd.playbooks(who)
    return render.page(
        request,
        "ui/admin_documents.html",
        who,
        status=status,
        title=gettext(lang, "Response documents"),
        state=state,
        kinds=_kind_options(books, lang),
        versions=sorted(rd.config(who.org_id).versions.items()),
        problems=found or [],
        valid=gettext(lang, VALID) if valid else "",
        notice=notice(request, lang) if status == 200 and not valid else "",
    )


@router.get(DOCUMENTS_PATH, **route(Action.RESPONSE_CONFIG))
def documents_page(request: Request, who: Viewer) -> Response:
    kind = request.query_params.get("kind", "")
    state = FormState(values={"kind": kind})
    if KIND_PATTERN.match(kind) and len(kind) <= 80:
        state.values["document"] = _starting_text(request, who, kind)
    return _documents_page(request, who, state)


async def _document_text(state: FormState, files: list[UploadFile], lang: str) -> str | None:
    """The uploaded file if one was chosen, else the pasted text; it is put back into the
    text area so that a refused document can be corrected in place."""
    if files:
        data = await files[0].read(MAX_DOCUMENT_BYTES + 1)
        if len(data) > MAX_DOCUMENT_BYTES:
            state.add("file", gettext(lang, TOO_BIG, n=MAX_DOCUMENT_BYTES // 1024))
            return None
        try:
            state.values["document"] = data.decode("utf-8")
        except UnicodeDecodeError:
            state.add("file", gettext(lang, NOT_TEXT))
            return None
        if (files[0].filename or "").lower().endswith(".json"):
            state.values["format"] = "json"
    text = state.get("document")
    if len(text.encode("utf-8")) > MAX_DOCUMENT_BYTES:
        state.add("document", gettext(lang, TOO_BIG, n=MAX_DOCUMENT_BYTES // 1024))
        return None
    if not text.strip():
        state.add("document", gettext(lang, EMPTY))
        return None
    return text


async def _close_uploads(request: Request) -> None:
    """Every file part, the empty one a browser sends when no file was chosen included: its
    spooled temporary file would otherwise stay open until garbage collection."""
    for _, value in (await request.form()).multi_items():
        if isinstance(value, UploadFile):
            await value.close()


def parse_document(text: str, as_json: bool) -> dict[str, Any]:
    """TOML (the shipped format) or JSON into data; a syntax error names its line."""
    if not as_json:
        return parse_toml_text(text, "the document")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput.single(
            "document",
            "json",
            f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
        ) from None
    if not isinstance(data, dict):
        raise InvalidInput.single("document", "json_object", "a JSON object {…} is needed")
    return data


@router.post(DOCUMENTS_PATH, **route(Action.RESPONSE_CONFIG))
async def submit_document(request: Request, who: Viewer) -> Response:
    state, files = await read_form(request)
    lang = render.language(request)
    kind = state.get("kind").strip()
    if not (KIND_PATTERN.match(kind) and len(kind) <= 80):
        state.add("kind", gettext(lang, NOT_A_KIND))
    try:
        text = await _document_text(state, files, lang)
    finally:
        await _close_uploads(request)
    if text is None or not state.ok:
        return await run_in_threadpool(_documents_page, request, who, state, status=422)
    as_json = state.get("format") == "json" or text.lstrip().startswith("{")
    rd = response_desk(request)
    try:
        body = parse_document(text, as_json)
        await run_in_threadpool(rd.check_document, who, kind, body)
        if state.get("intent") == "check":
            return await run_in_threadpool(_documents_page, request, who, state, valid=True)
        await run_in_threadpool(rd.save_document, who, kind, body, client_address(request))
    except InvalidInput as exc:
        found = problems(lang, exc)
        return await run_in_threadpool(
            _documents_page, request, who, state, status=422, found=found
        )
    return back(DOCUMENTS_PATH, "document-saved")
