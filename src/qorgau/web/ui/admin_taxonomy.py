"""Checking a new taxonomy file before it is installed.

The taxonomy is installation configuration (``QORGAU_TAXONOMY_FILE``), read at start-up, so the
page does not switch it; it answers the question an administrator has before a restart: is
this file valid, and what would change? A term that disappears would leave stored cases with a
value nobody can choose or translate any more, so removals are flagged and the fix — mark the
term ``retired = true`` instead — is said.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from qorgau.domain.access import Action
from qorgau.domain.taxonomy import SECTIONS, Taxonomy, parse_taxonomy
from qorgau.errors import ConfigurationError
from qorgau.i18n import gettext
from qorgau.web.auth import desk, route
from qorgau.web.ui import render
from qorgau.web.ui.deps import Viewer
from qorgau.web.ui.forms import FormState, read_form

router = APIRouter(include_in_schema=False)
MAX_TAXONOMY_BYTES = 256 * 1024


@dataclass(frozen=True)
class SectionChange:
    section: str
    added: tuple[str, ...]
    removed: tuple[str, ...]
    retired: tuple[str, ...]
    relabelled: tuple[str, ...]


def compare(current: Taxonomy, new: Taxonomy) -> list[SectionChange]:
    out = []
    for section in SECTIONS:
        old_terms, new_terms = current.sections.get(section, {}), new.sections.get(section, {})
        change = SectionChange(
            section,
            added=tuple(sorted(set(new_terms) - set(old_terms))),
            removed=tuple(sorted(set(old_terms) - set(new_terms))),
            retired=tuple(
                sorted(
                    t
                    for t in new_terms
                    if new_terms[t].retired and not getattr(old_terms.get(t), "retired", False)
                )
            ),
            relabelled=tuple(
                sorted(
                    t
                    for t in set(old_terms) & set(new_terms)
                    if old_terms[t].labels != new_terms[t].labels
                )
            ),
        )
        if change.added or change.removed or change.retired or change.relabelled:
            out.append(change)
    return out


def _page(request: Request, who: Viewer, state: FormState, **extra: object) -> Response:
    lang = render.language(request)
    current = desk(request).store.taxonomy
    return render.page(
        request,
        "ui/admin_taxonomy.html",
        who,
        status=422 if state.errors else 200,
        title=gettext(lang, "Check a taxonomy file"),
        state=state,
        current_version=current.version,
        **extra,
    )


@router.get("/admin/taxonomy", **route(Action.USER_MANAGE))
def taxonomy_form(request: Request, who: Viewer) -> Response:
    return _page(request, who, FormState())


@router.post("/admin/taxonomy", **route(Action.USER_MANAGE))
async def taxonomy_check(request: Request, who: Viewer) -> Response:
    state, files = await read_form(request)
    lang = render.language(request)
    text = state.get("text")
    try:
        for upload in files:
            data = await upload.read(MAX_TAXONOMY_BYTES + 1)
            if len(data) > MAX_TAXONOMY_BYTES:
                state.add("file", gettext(lang, "The file is larger than 256 KB."))
            else:
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError:
                    state.add("file", gettext(lang, "The file is not UTF-8 text."))
    finally:
        for upload in files:
            await upload.close()
    if not state.errors and not text.strip():
        state.add("text", gettext(lang, "Paste the file or choose it."))
    if state.errors:
        return _page(request, who, state)
    try:
        new = await run_in_threadpool(parse_taxonomy, text, "the file you sent")
    except ConfigurationError as exc:
        state.add("text", gettext(lang, "The file is not valid: {detail}", detail=str(exc)))
        return _page(request, who, state)
    changes = compare(desk(request).store.taxonomy, new)
    return _page(request, who, state, new_version=new.version, changes=changes)
