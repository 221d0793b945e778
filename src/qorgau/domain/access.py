"""Authorization in one place.

Every API endpoint names one ``Action``; ``POLICY`` says which roles may perform it. Row-level
rules (a reporter sees only their own reports; staff see only their organisation) are
``ensure_visible`` and ``may_read_personal_data``. A test walks every route and every role
against this table, so adding an endpoint without deciding who may call it fails the suite.
"""

from __future__ import annotations

from enum import StrEnum

from qorgau.domain.model import Incident, Principal, Role
from qorgau.errors import AuthenticationRequired, NotFound, PermissionDenied


class Action(StrEnum):
    REPORT_SUBMIT = "report.submit"
    REPORT_TRACK = "report.track"
    TAXONOMY_READ = "taxonomy.read"
    INCIDENT_LIST = "incident.list"
    INCIDENT_READ = "incident.read"
    INCIDENT_UPDATE = "incident.update"
    INCIDENT_STATUS = "incident.status"
    INCIDENT_MERGE = "incident.merge"
    NOTE_ADD = "note.add"
    NOTE_READ = "note.read"
    CAMPAIGN_WRITE = "campaign.write"
    CAMPAIGN_READ = "campaign.read"
    STATS_READ = "stats.read"
    AUDIT_READ = "audit.read"
    USER_MANAGE = "user.manage"
    SELF_READ = "self.read"
    LOGIN = "auth.login"
    HEALTH = "health.read"
    # rapid response
    TRIAGE_CONFIRM = "incident.triage"
    CASE_CLAIM = "incident.claim"
    QUEUE_READ = "queue.read"
    TASK_READ = "task.read"
    TASK_WRITE = "task.write"
    PLAYBOOK_READ = "playbook.read"
    RESPONSE_CONFIG = "response.config"
    ROSTER_READ = "roster.read"
    CHANNEL_SELF = "channel.self"
    NOTIFICATION_READ = "notification.read"
    DELIVERY_MANAGE = "delivery.manage"
    REFERRAL_READ = "referral.read"
    REFERRAL_WRITE = "referral.write"
    STATEMENT_READ = "statement.read"
    STATEMENT_DRAFT = "statement.draft"
    STATEMENT_APPROVE = "statement.approve"
    TIMELINE_READ = "timeline.read"
    HYGIENE_READ = "hygiene.read"
    HYGIENE_WRITE = "hygiene.write"
    ATTACHMENT_READ = "attachment.read"
    VAULT_READ = "vault.read"
    VAULT_WRITE = "vault.write"
    VAULT_EXPORT = "vault.export"
    VAULT_VERIFY = "vault.verify"
    MONITOR_WRITE = "monitor.write"
    MONITOR_READ = "monitor.read"
    REGISTER_READ = "register.read"
    MONITOR_AGENTS = "monitor.agents"
    AGENT_SYNC = "agent.sync"
    OBSERVATION_WRITE = "observation.write"
    OBSERVATION_READ = "observation.read"
    OBSERVATION_SOURCES = "observation.sources"
    OBSERVATION_PUSH = "observation.push"
    WATCHLIST_READ = "watchlist.read"
    WATCHLIST_WRITE = "watchlist.write"
    # reports, statistics and sharing
    LEGAL_READ = "legal.read"
    LEGAL_WRITE = "legal.write"
    REPORT_BUILD = "report.build"
    PUBLIC_DATA = "public.data"
    INDICATOR_READ = "indicator.read"
    INDICATOR_WRITE = "indicator.write"
    SHARE_EXPORT = "share.export"
    SHARE_IMPORT = "share.import"
    PARTNER_FEED = "partner.feed"
    ALERT_PUBLISH = "alert.publish"
    ALERT_READ = "alert.read"
    # people's control over their data (docs/decisions/0026)
    CONSENT_READ = "consent.read"
    CONSENT_WRITE = "consent.write"
    LEGAL_HOLD = "case.hold"
    CASE_ERASE = "case.erase"
    CASE_LOCK = "case.lock"
    CASE_UNLOCK = "case.unlock"


STAFF = frozenset({Role.ADMIN, Role.COORDINATOR, Role.RESPONDER, Role.LEGAL})
HANDLERS = frozenset({Role.ADMIN, Role.COORDINATOR, Role.RESPONDER})
LEADS = frozenset({Role.ADMIN, Role.COORDINATOR})
EVERYONE = frozenset(Role)

# ``None`` in a set means the anonymous public may do it too.
POLICY: dict[Action, frozenset[Role | None]] = {
    Action.REPORT_SUBMIT: frozenset({*EVERYONE, None}),
    Action.REPORT_TRACK: frozenset({*EVERYONE, None}),
    Action.TAXONOMY_READ: frozenset({*EVERYONE, None}),
    Action.INCIDENT_LIST: frozenset({*STAFF, Role.REPORTER}),
    Action.INCIDENT_READ: frozenset({*STAFF, Role.REPORTER}),
    Action.INCIDENT_UPDATE: HANDLERS,
    Action.INCIDENT_STATUS: HANDLERS,
    Action.INCIDENT_MERGE: frozenset({Role.ADMIN, Role.COORDINATOR}),
    Action.NOTE_ADD: frozenset({*STAFF, Role.REPORTER}),
    Action.NOTE_READ: STAFF,
    Action.CAMPAIGN_WRITE: HANDLERS,
    Action.CAMPAIGN_READ: STAFF,
    Action.STATS_READ: frozenset({*STAFF, Role.ANALYST}),
    Action.AUDIT_READ: frozenset({Role.ADMIN, Role.COORDINATOR}),
    Action.USER_MANAGE: frozenset({Role.ADMIN}),
    Action.SELF_READ: EVERYONE,
    Action.LOGIN: frozenset({*EVERYONE, None}),
    Action.HEALTH: frozenset({*EVERYONE, None}),
    Action.TRIAGE_CONFIRM: HANDLERS,
    Action.CASE_CLAIM: HANDLERS,
    Action.QUEUE_READ: HANDLERS,
    Action.TASK_READ: STAFF,
    Action.TASK_WRITE: HANDLERS,
    Action.PLAYBOOK_READ: STAFF,
    Action.RESPONSE_CONFIG: LEADS,
    Action.ROSTER_READ: STAFF,
    Action.CHANNEL_SELF: STAFF,
    Action.NOTIFICATION_READ: STAFF,
    Action.DELIVERY_MANAGE: LEADS,
    Action.REFERRAL_READ: STAFF,
    Action.REFERRAL_WRITE: frozenset({*HANDLERS, Role.LEGAL}),
    Action.STATEMENT_READ: STAFF,
    Action.STATEMENT_DRAFT: frozenset({*HANDLERS, Role.LEGAL}),
    Action.STATEMENT_APPROVE: LEADS,
    Action.TIMELINE_READ: STAFF,
    Action.HYGIENE_READ: STAFF,
    Action.HYGIENE_WRITE: HANDLERS,
    Action.ATTACHMENT_READ: STAFF,
    Action.VAULT_READ: STAFF,
    Action.VAULT_WRITE: frozenset({*HANDLERS, Role.LEGAL}),
    Action.VAULT_EXPORT: frozenset({*LEADS, Role.LEGAL}),
    Action.VAULT_VERIFY: frozenset({*LEADS, Role.LEGAL}),
    Action.MONITOR_WRITE: HANDLERS,
    Action.MONITOR_READ: STAFF,
    # The register of blocked resources is public, as ARTICLE 19 recommends.
    Action.REGISTER_READ: frozenset({*EVERYONE, None}),
    Action.MONITOR_AGENTS: LEADS,
    # No user and not the public: only vantage agents, by their own token (agent_desk.py).
    Action.AGENT_SYNC: frozenset(),
    Action.OBSERVATION_WRITE: HANDLERS,
    Action.OBSERVATION_READ: STAFF,
    Action.OBSERVATION_SOURCES: LEADS,
    # No user: only observation sources, by their own token (observation_desk.py).
    Action.OBSERVATION_PUSH: frozenset(),
    # The watchlist is what an attacker would most like to read: handlers only, and masked.
    Action.WATCHLIST_READ: HANDLERS,
    Action.WATCHLIST_WRITE: HANDLERS,
    Action.LEGAL_READ: STAFF,
    Action.LEGAL_WRITE: frozenset({*HANDLERS, Role.LEGAL}),
    Action.REPORT_BUILD: frozenset({*STAFF, Role.ANALYST}),
    # Pseudonymised and k-anonymous by construction (reports.public_data): for everyone.
    Action.PUBLIC_DATA: frozenset({*EVERYONE, None}),
    Action.INDICATOR_READ: STAFF,
    Action.INDICATOR_WRITE: HANDLERS,
    Action.SHARE_EXPORT: frozenset({*LEADS, Role.LEGAL}),
    Action.SHARE_IMPORT: LEADS,
    # Partners read what is marked for them (TLP up to GREEN) through their own token.
    Action.PARTNER_FEED: frozenset({Role.PARTNER, *LEADS}),
    Action.ALERT_PUBLISH: LEADS,
    Action.ALERT_READ: frozenset({*EVERYONE, None}),
    Action.CONSENT_READ: STAFF,
    Action.CONSENT_WRITE: HANDLERS,
    Action.LEGAL_HOLD: frozenset({*LEADS, Role.LEGAL}),
    Action.CASE_ERASE: LEADS,
    # Coordinators and admins pull a lock; the at-risk person does with their receipt code
    # (REPORT_TRACK). Only admins lift one: a lock is pulled when an insider may be the danger.
    Action.CASE_LOCK: LEADS,
    Action.CASE_UNLOCK: frozenset({Role.ADMIN}),
}


def allowed(principal: Principal, action: Action) -> bool:
    """Whether ``principal`` may perform ``action`` (what a page shows, not what it enforces)."""
    permitted = POLICY[action]
    return principal.role in permitted or (principal.is_anonymous and None in permitted)


def authorize(principal: Principal, action: Action) -> None:
    """Raise unless ``principal`` may perform ``action`` at all (row rules come after)."""
    allowed = POLICY[action]
    if principal.role in allowed or (principal.is_anonymous and None in allowed):
        return
    if principal.is_anonymous:
        raise AuthenticationRequired("sign in with an API token to do this")
    raise PermissionDenied(f"the role {principal.role} may not perform {action}")


def only_own_reports(principal: Principal) -> bool:
    """Reporters see what they reported and nothing else."""
    return principal.role is Role.REPORTER


def ensure_visible(principal: Principal, incident: Incident) -> None:
    """Refuse an incident the caller may not see, as *not found* so ids cannot be probed."""
    if incident.org_id != principal.org_id and principal.role is not Role.ADMIN:
        raise NotFound(f"incident {incident.public_id} not found")
    if incident.locked and principal.role is not Role.ADMIN:
        # A panic lock hides the case as if it did not exist (docs/decisions/0026).
        raise NotFound(f"incident {incident.public_id} not found")
    if only_own_reports(principal) and incident.reporter_user_id != principal.user_id:
        raise NotFound(f"incident {incident.public_id} not found")


def may_read_access_log(principal: Principal) -> bool:
    """Who read whose personal data is itself sensitive (it says which cases matter and who
    works them): administrators only, though coordinators read the rest of the audit log."""
    return principal.role is Role.ADMIN


def may_read_personal_data(principal: Principal, incident: Incident) -> bool:
    """Decrypted names, phones and contacts go to staff, and to the reporter of their own case."""
    if principal.role in STAFF:
        return True
    return principal.role is Role.REPORTER and incident.reporter_user_id == principal.user_id
