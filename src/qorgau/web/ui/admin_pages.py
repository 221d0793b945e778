"""Administration of a Qorgau desk in the browser: accounts, response documents, alert
channels, the referral directory, vantage agents and observation sources, the audit log.

Each section is its own module (``admin_*.py``) with its own router, included here; every
page calls the same desk methods as the matching JSON API route, so a rule holds the same way
whether an administrator clicks or scripts. The overview shows only the sections the signed-in
role may open.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import Response

from qorgau.domain import access
from qorgau.domain.access import Action
from qorgau.i18n import N_, gettext
from qorgau.web.auth import route
from qorgau.web.ui import (
    account_sessions,
    admin_agents,
    admin_audit,
    admin_channels,
    admin_documents,
    admin_taxonomy,
    admin_users,
    render,
)
from qorgau.web.ui.deps import Viewer

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Section:
    href: str
    title: str
    summary: str
    action: Action


SECTIONS = (
    Section(
        "/admin/users",
        N_("Users and roles"),
        N_("Create accounts, change roles, deactivate, and reset a lost second factor."),
        Action.USER_MANAGE,
    ),
    Section(
        "/admin/playbooks",
        N_("Taxonomy and playbooks"),
        N_("The attack types and categories in use, and the playbooks cases are handled with."),
        Action.PLAYBOOK_READ,
    ),
    Section(
        "/admin/taxonomy",
        N_("Check a taxonomy file"),
        N_(
            "See whether a new taxonomy file is valid and what it would change,"
            " before installing it."
        ),
        Action.USER_MANAGE,
    ),
    Section(
        "/admin/documents",
        N_("Response documents"),
        N_(
            "Upload or paste a playbook, the referral directory, the roster or the clocks;"
            " it is checked before it is saved."
        ),
        Action.RESPONSE_CONFIG,
    ),
    Section(
        "/admin/referrals",
        N_("Referral directory"),
        N_("Organisations that help, what they offer and in which languages."),
        Action.REFERRAL_READ,
    ),
    Section(
        "/admin/channels",
        N_("Alert channels"),
        N_("Where you are paged, and which outbound channels this installation has."),
        Action.CHANNEL_SELF,
    ),
    Section(
        "/admin/agents",
        N_("Agents and sources"),
        N_("Vantage agents that measure blocking, and feeds that send observations."),
        Action.MONITOR_AGENTS,
    ),
    Section(
        "/admin/audit",
        N_("Audit log"),
        N_("Sign-ins, failed sign-ins, two-factor events and every change, newest first."),
        Action.AUDIT_READ,
    ),
)


@router.get("/admin", **route(Action.PLAYBOOK_READ))
def overview(request: Request, who: Viewer) -> Response:
    lang = render.language(request)
    return render.page(
        request,
        "ui/admin_index.html",
        who,
        title=gettext(lang, "Administration"),
        sections=[s for s in SECTIONS if access.allowed(who, s.action)],
    )


for _section in (
    admin_users,
    admin_documents,
    admin_taxonomy,
    admin_channels,
    admin_agents,
    admin_audit,
    account_sessions,
):
    router.include_router(_section.router)
