"""The audit log for administrators and coordinators: who did what, from where, newest first.

The first place to look when an account may be under attack: failed sign-ins and wrong
two-factor codes in a burst, a second factor reset nobody asked for, a role that changed.
Filters are a fixed list (sign-ins, two-factor, accounts, documents) rather than free text, so
the page stays one indexed query on a log that only grows.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from qorgau.domain import access
from qorgau.domain.access import Action
from qorgau.domain.model import AuditEvent
from qorgau.i18n import N_, gettext
from qorgau.web.auth import desk, route
from qorgau.web.ui import render
from qorgau.web.ui.deps import Viewer

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
MAX_PAGE = 10_000
# Filter name -> (label, tag prefix).
FILTERS: dict[str, tuple[str, str | None]] = {
    "all": (N_("Everything"), None),
    "sign-in": (N_("Sign-ins"), "user:s"),
    "failed": (N_("Failed sign-ins"), "user:sign-in:failed"),
    "two-factor": (N_("Two-factor events"), "user:2fa:"),
    "accounts": (N_("Accounts and roles"), "user:"),
    "documents": (N_("Response documents"), "response:document:"),
    "reads": (N_("Reads of personal data"), "read:"),
}
# Filters only administrators are offered (the desk refuses them to anyone else).
ADMIN_FILTERS = frozenset({"reads"})
TAG_LABELS = {
    "user:sign-in:failed": N_("Failed sign-in"),
    "user:session:opened": N_("Signed in to the web interface"),
    "user:token:issued": N_("API token issued"),
    "user:token:revoked": N_("Signed out (token revoked)"),
    "user:2fa:enrolled": N_("Two-factor sign-in set up"),
    "user:2fa:passed": N_("Two-factor code accepted"),
    "user:2fa:failed": N_("Wrong two-factor code"),
    "user:2fa:reset": N_("Two-factor sign-in reset"),
    "user:created": N_("Account created"),
    "user:role:changed": N_("Role changed"),
    "user:active:changed": N_("Account activated or deactivated"),
    "response:document:saved": N_("Response document saved"),
    "read:personal": N_("Personal data read"),
    "user:session:revoked": N_("Session ended by its owner"),
    "user:sessions:revoked": N_("All sessions ended"),
    "user:password:changed": N_("Password changed"),
}
ALARMING = frozenset({"user:sign-in:failed", "user:2fa:failed", "user:2fa:reset"})


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 120 else text[:119] + "…"


def changes(event: AuditEvent) -> list[str]:
    """``key: before → after`` for what changed; the whole record is in the API."""
    before, after = event.before or {}, event.after or {}
    out = []
    for key in list(dict.fromkeys([*after, *before]))[:6]:
        if key in before and key in after:
            out.append(f"{key}: {_short(before[key])} → {_short(after[key])}")
        elif key in after:
            out.append(f"{key}: {_short(after[key])}")
        else:
            out.append(f"{key}: {_short(before[key])} → —")
    return out


def _int(raw: str | None, default: int) -> int:
    return int(raw) if raw and raw.isdigit() and len(raw) < 8 else default


@router.get("/admin/audit", **route(Action.AUDIT_READ))
def audit_page(request: Request, who: Viewer) -> Response:
    lang = render.language(request)
    offered = [k for k in FILTERS if k not in ADMIN_FILTERS or access.may_read_access_log(who)]
    chosen = request.query_params.get("show", "all")
    if chosen not in offered:
        chosen = "all"
    page_no = min(MAX_PAGE, max(1, _int(request.query_params.get("page"), 1)))
    # Narrowing to one person (by username) or one case (its reference) — the questions an
    # administrator asks after a leak: what did this account read, who read this case.
    user = (request.query_params.get("user") or "").strip().lower()[:64]
    case = (request.query_params.get("case") or "").strip().upper()[:32]
    events, total = desk(request).audit_log(
        who,
        entity=None,  # a case's changes ("incident") and its reads ("incident-read")
        entity_id=case or None,
        tag_prefix=FILTERS[chosen][1],
        limit=PAGE_SIZE,
        offset=(page_no - 1) * PAGE_SIZE,
        actor_name=user or None,
    )
    rows = [
        {
            "at": render.when(e.at, lang, "short"),
            "actor": e.actor_name,
            "tag": e.tag,
            "what": gettext(lang, TAG_LABELS[e.tag]) if e.tag in TAG_LABELS else "",
            "alarming": e.tag in ALARMING,
            "entity": f"{e.entity} {e.entity_id}",
            "address": e.address or "—",
            "changes": changes(e),
        }
        for e in events
    ]
    pages = max(1, -(-total // PAGE_SIZE))
    return render.page(
        request,
        "ui/admin_audit.html",
        who,
        title=gettext(lang, "Audit log"),
        rows=rows,
        total=total,
        page_no=page_no,
        pages=pages,
        chosen=chosen,
        filters=[(k, gettext(lang, FILTERS[k][0])) for k in offered],
        user=user,
        case=case,
        query=urlencode({k: v for k, v in (("show", chosen), ("user", user), ("case", case)) if v}),
    )
