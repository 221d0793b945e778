"""What the case page shows, gathered from the desks for one reader.

Each section is read only when the reader's role may read it (``access.allowed``), so a
reporter opening their own case gets the facts and nothing the policy keeps from them, and no
section's refusal breaks the page. The desks enforce the same rules again on every call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from qorgau.domain import access, workflow
from qorgau.domain.access import Action
from qorgau.domain.model import Incident, Principal, Status
from qorgau.i18n import N_, gettext
from qorgau.queue_reads import handlers, usernames
from qorgau.reports.labels import SEVERITY_LABELS, STATUS_LABELS
from qorgau.response.referrals import Need
from qorgau.response_desk import ClockView, ResponseDesk, TimelineEntry
from qorgau.vault_desk import VaultDesk
from qorgau.web.auth import desk
from qorgau.web.ui import render
from qorgau.web.ui.deps import response_desk
from qorgau.web.ui.desk_queue import CLOCK_CLASS, CLOCK_LABELS, poll_seconds
from qorgau.web.ui.forms import FormState

SECTIONS = (
    "handling",
    "tasks",
    "evidence",
    "referrals",
    "statements",
    "notes",
)
DEADLINE_LABELS = {"first_response": N_("Respond by"), "first_action": N_("Act by")}
TASK_LABELS = {"open": N_("To do"), "done": N_("Done"), "skipped": N_("Skipped")}
STATEMENT_LABELS = {
    "draft": N_("Draft"),
    "approved": N_("Approved"),
    "published": N_("Published"),
}
NEED_LABELS = {
    "legal_aid": N_("Legal aid"),
    "emergency_funds": N_("Emergency funds"),
    "relocation": N_("Relocation"),
    "digital_security": N_("Digital security"),
    "ddos_protection": N_("DDoS protection"),
    "advocacy": N_("Advocacy"),
    "monitoring": N_("Monitoring"),
    "platform_escalation": N_("Platform escalation"),
}
TIMELINE_LABELS = {
    "incident:reported": N_("Reported"),
    "incident:imported": N_("Imported"),
    "incident:imported:partner": N_("Imported from a partner"),
    "incident:opened:monitor": N_("Opened by the monitor"),
    "incident:claimed": N_("Claimed"),
    "incident:assigned": N_("Assigned"),
    "incident:handed_over": N_("Handed over"),
    "incident:released": N_("Released to the queue"),
    "incident:status:changed": N_("Status changed"),
    "incident:triage:confirmed": N_("Severity confirmed"),
    "incident:triage:overridden": N_("Severity overridden"),
    "incident:playbook:attached": N_("Playbook attached"),
    "incident:task:added": N_("Task added"),
    "incident:task:done": N_("Task done"),
    "incident:task:skipped": N_("Task skipped"),
    "incident:task:open": N_("Task reopened"),
    "incident:note:added": N_("Note"),
    "incident:referral:made": N_("Referral made"),
    "incident:referral:updated": N_("Referral updated"),
    "incident:statement:drafted": N_("Statement drafted"),
    "incident:statement:edited": N_("Statement edited"),
    "incident:statement:approved": N_("Statement approved"),
    "incident:statement:published": N_("Statement published"),
    "incident:clock:breached": N_("Deadline breached"),
    "incident:updated": N_("Details corrected"),
    "incident:attachments:added": N_("Files added"),
    "incident:attachment:original": N_("Original file downloaded"),
    "incident:campaign:linked": N_("Linked to a campaign"),
    "incident:legal:recorded": N_("Legal step recorded"),
    "incident:merged:away": N_("Merged into another case"),
    "incident:merged:into": N_("A duplicate was merged in"),
    "alert": N_("Alert sent"),
}
REFERRAL_LABELS = {
    "made": N_("Referred"),
    "accepted": N_("Accepted"),
    "declined": N_("Declined"),
    "helped": N_("Helped"),
    "no_response": N_("No response"),
}
DELIVERY_LABELS = {
    "pending": N_("Waiting to be sent"),
    "queued": N_("Waiting to be sent"),
    "sending": N_("Sending"),
    "sent": N_("Sent"),
    "dead": N_("Failed"),
}
CUSTODY_LABELS = {
    "collected": N_("collected"),
    "viewed": N_("viewed"),
    "exported": N_("exported"),
    "derived": N_("derived"),
}


@dataclass
class CaseForms:
    """The state of every form on the page; the one that failed carries its errors."""

    by_section: dict[str, FormState] = field(default_factory=dict)

    def __call__(self, section: str) -> FormState:
        return self.by_section.setdefault(section, FormState())


def _can(who: Principal) -> dict[str, bool]:
    return {a.name.lower(): access.allowed(who, a) for a in Action}


def clock_parts(view: ClockView | None) -> list[dict[str, Any]]:
    if view is None:
        return []
    return [
        {
            "label": DEADLINE_LABELS[d.name],
            "due": d.due,
            "met_at": d.met_at,
            "state": str(d.state),
            "state_label": CLOCK_LABELS.get(str(d.state), str(d.state)),
            "css": CLOCK_CLASS.get(str(d.state), "clock-ok"),
        }
        for d in (view.response, view.action)
    ]


def timeline_context(request: Request, who: Principal, public_id: str) -> dict[str, Any]:
    entries: list[TimelineEntry] = []
    if access.allowed(who, Action.TIMELINE_READ):
        entries = response_desk(request).timeline(who, public_id)
    return {
        "public_id": public_id,
        "timeline": list(reversed(entries)),
        "timeline_labels": TIMELINE_LABELS,
        "status_labels": STATUS_LABELS,
        "delivery_labels": DELIVERY_LABELS,
        "poll": poll_seconds(request),
    }


def case_context(
    request: Request, who: Principal, public_id: str, forms: CaseForms
) -> dict[str, Any]:
    lang_ = render.language(request)
    d = desk(request)
    rd: ResponseDesk = response_desk(request)
    vd: VaultDesk = request.app.state.vault_desk
    tax = d.store.taxonomy
    incident: Incident = d.get(who, public_id)
    can = _can(who)
    ctx: dict[str, Any] = {
        "case": incident,
        "can": can,
        "forms": forms,
        "category_label": tax.label("category", incident.category, lang_),
        "attack_labels": [tax.label("attack_type", t, lang_) for t in incident.attack_types],
        "severity_labels": SEVERITY_LABELS,
        "status_labels": STATUS_LABELS,
        "task_labels": TASK_LABELS,
        "statement_labels": STATEMENT_LABELS,
        "need_labels": NEED_LABELS,
        "custody_labels": CUSTODY_LABELS,
        "referral_labels": REFERRAL_LABELS,
        "clock": None,
        "deadlines": [],
        "clock_label": "",
        "clock_css": "",
        "tasks": [],
        "playbooks": [],
        "evidence": [],
        "attachments": [],
        "referrals": [],
        "suggestions": [],
        "partner_names": {},
        "statements": [],
        "notes": [],
        "alerts": [],
        "handlers": [],
        "next_statuses": [],
        "names": {},
        "is_holder": incident.assignee_id is not None and incident.assignee_id == who.user_id,
    }
    if can["task_read"]:
        view = rd.clock(who, public_id)
        ctx["clock"] = view
        ctx["deadlines"] = clock_parts(view)
        if view is not None:
            ctx["clock_label"] = CLOCK_LABELS.get(str(view.state), str(view.state))
            ctx["clock_css"] = CLOCK_CLASS.get(str(view.state), "clock-ok")
        ctx["tasks"] = rd.tasks(who, public_id)
    if can["task_write"] and can["playbook_read"]:
        ctx["playbooks"] = [
            (b.id, b.title.get(lang_)) for b in rd.playbooks(who) if str(b.kind) == "reactive"
        ]
    if can["vault_read"]:
        ctx["evidence"] = vd.items(who, public_id)
    if can["attachment_read"]:
        ctx["attachments"] = rd.attachments(who, public_id)
    if can["referral_read"]:
        ctx["referrals"] = rd.referrals(who, public_id)
        ctx["suggestions"] = rd.suggestions(who, public_id)
        ctx["partner_names"] = {p.id: p.name for p in rd.partners(who).directory.partner}
    if can["statement_read"]:
        ctx["statements"] = rd.statements(who, public_id)
    if can["note_read"]:
        ctx["notes"] = d.notes(who, public_id, 200, 0)[0]
    if can["case_claim"] and (who.role in access.LEADS or ctx["is_holder"]):
        ctx["handlers"] = handlers(rd, who.org_id)
    if can["incident_status"]:
        ctx["next_statuses"] = sorted(
            (s for s in workflow.TRANSITIONS[incident.status] if s is not Status.MERGED),
            key=lambda s: list(Status).index(s),
        )
    timeline = timeline_context(request, who, public_id)
    ctx.update(timeline)
    ctx["alerts"] = [e for e in timeline["timeline"] if e.kind == "alert"]
    ids = [incident.assignee_id, *(n.author_id for n in ctx["notes"])]
    ids += [s.approved_by for s in ctx["statements"]]
    ctx["names"] = usernames(rd, who.org_id, ids)
    ctx["target_labels"] = {t: tax.label("target_kind", t, lang_) for t in tax.ids("target_kind")}
    ctx["suggestion_options"] = [(s.partner.id, s.partner.name) for s in ctx["suggestions"]]
    ctx["need_options"] = [(str(n), gettext(lang_, NEED_LABELS[str(n)])) for n in Need]
    ctx["language_options"] = [("en", "English"), ("ru", "Русский"), ("kk", "Қазақша")]
    ctx["title_text"] = gettext(lang_, "Case {id}", id=incident.public_id)
    return ctx
