"""What happens to a case the moment it is stored, and when one of its deadlines passes.

Both run inside the transaction that causes them — the incident and its clocks, tasks and alert
deliveries commit together or not at all (a transactional outbox) — so an acknowledged report
can never lack its alert, and an alert can never point to a case that was rolled back.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from qorgau.alerts.channels import webhook_address
from qorgau.domain.model import Severity
from qorgau.response import alert_text
from qorgau.response.catalogue import ResponseConfig
from qorgau.response.roster import Duty, Tier, on_duty
from qorgau.response.triage import ORDER
from qorgau.store import audit, deliveries
from qorgau.store.audit import Actor
from qorgau.store.case_tasks import insert_rows, playbook_rows
from qorgau.store.response_clocks import clock_row, due_breaches, get_clock, mark_escalated
from qorgau.store.response_docs import cache, coordinators
from qorgau.store.store import Store
from qorgau.store.tables import incident_attack_types, incidents, response_clocks, users

ALERT_LANGUAGES = ("en", "ru", "kk")


@dataclass(frozen=True)
class NewCase:
    incident_id: int
    public_id: str
    org_id: int
    severity: Severity
    attack_types: tuple[str, ...]
    language: str | None
    reported_at: datetime


def case_url(store: Store, public_id: str) -> str:
    return f"{store.settings.public_base_url.rstrip('/')}/desk/cases/{public_id}"


def _user_ids(conn: sa.Connection, org_id: int, usernames: tuple[str, ...]) -> list[int]:
    if not usernames:
        return []
    rows = conn.execute(
        sa.select(users.c.id, users.c.username).where(
            users.c.org_id == org_id,
            users.c.username.in_(usernames),
            users.c.active.is_(True),
        )
    )
    by_name = {n: i for i, n in rows}
    return [by_name[n] for n in usernames if n in by_name]


def duty_now(
    conn: sa.Connection,
    config: ResponseConfig,
    org_id: int,
    tier: Tier,
    language: str | None,
    now: datetime,
) -> Duty:
    return on_duty(
        config.roster, now, tier=tier, language=language, coordinators=coordinators(conn, org_id)
    )


def fan_out(
    conn: sa.Connection,
    store: Store,
    config: ResponseConfig,
    *,
    org_id: int,
    user_ids: list[int],
    incident_id: int | None,
    event: str,
    payload: dict[str, Any],
    severity: Severity,
    page: bool,
    now: datetime,
) -> list[int]:
    """One in-app notice per person; when paging, also every channel each person registered;
    and every organisation webhook that subscribed to the event at this severity."""
    channels = deliveries.user_channels(conn, store.cipher, user_ids) if page else {}
    requests: list[deliveries.DeliveryRequest] = []
    for uid in dict.fromkeys(user_ids):
        requests.append(
            deliveries.DeliveryRequest(org_id, uid, incident_id, event, "inapp", None, payload)
        )
        for kind, address in sorted(channels.get(uid, {}).items()):
            requests.append(
                deliveries.DeliveryRequest(org_id, uid, incident_id, event, kind, address, payload)
            )
    for hook in config.channels.webhook:
        if event in hook.events and ORDER.index(severity) >= ORDER.index(
            Severity(hook.min_severity)
        ):
            address = webhook_address(hook.url, hook.secret)
            requests.append(
                deliveries.DeliveryRequest(
                    org_id, None, incident_id, event, "webhook", address, payload
                )
            )
    return deliveries.enqueue(conn, store.cipher, requests, now) if requests else []


def plan_new_cases(conn: sa.Connection, store: Store, cases: list[NewCase], now: datetime) -> None:
    by_org: dict[int, list[NewCase]] = defaultdict(list)
    for case in cases:
        by_org[case.org_id].append(case)
    for org_id, group in by_org.items():
        config = cache(store).for_org(org_id, conn)
        conn.execute(
            response_clocks.insert(),
            [
                clock_row(c.incident_id, org_id, c.severity, config.policy, c.reported_at)
                for c in group
            ],
        )
        plans = [(c.incident_id, config.library.for_attack_types(c.attack_types)) for c in group]
        insert_rows(conn, playbook_rows(conn, plans, None, now))
        for case in group:
            _alert_new(conn, store, config, case, now)


def _alert_new(
    conn: sa.Connection, store: Store, config: ResponseConfig, case: NewCase, now: datetime
) -> None:
    duty = duty_now(conn, config, case.org_id, Tier.RESPONDER, case.language, now)
    lang = case.language if case.language in ALERT_LANGUAGES else "en"
    due = clock_row(case.incident_id, case.org_id, case.severity, config.policy, case.reported_at)[
        "response_due"
    ]
    payload = alert_text.new_case(
        store.taxonomy,
        lang or "en",
        public_id=case.public_id,
        severity=str(case.severity),
        attack_types=case.attack_types,
        due=due,
        url=case_url(store, case.public_id),
    )
    payload["duty_fallback"] = duty.fallback
    fan_out(
        conn,
        store,
        config,
        org_id=case.org_id,
        user_ids=_user_ids(conn, case.org_id, duty.usernames),
        incident_id=case.incident_id,
        event="incident.new",
        payload=payload,
        severity=case.severity,
        page=case.severity in config.policy.page_on_call,
        now=now,
    )


def escalate_due(store: Store, now: datetime | None = None) -> int:
    """Escalate every deadline that has passed unmet; returns how many were escalated.

    Safe to run in several processes at once: each breach is claimed by a conditional update,
    and only the process that wins it writes the audit event and the alerts.
    """
    now = now or store.now()
    with store.read() as conn:
        due = due_breaches(conn, now)
    escalated = 0
    for incident_id, org_id, deadline in due:
        with store.write() as conn:
            if not mark_escalated(conn, incident_id, deadline, now):
                continue
            _escalate(conn, store, incident_id, org_id, deadline, now)
            escalated += 1
    return escalated


def _escalate(
    conn: sa.Connection, store: Store, incident_id: int, org_id: int, deadline: str, now: datetime
) -> None:
    row = conn.execute(
        sa.select(
            incidents.c.public_id,
            incidents.c.severity,
            incidents.c.language,
            incidents.c.assignee_id,
        ).where(incidents.c.id == incident_id)
    ).one()
    clock = get_clock(conn, incident_id)
    assert clock is not None
    due_at = clock.response_due if deadline == "first_response" else clock.action_due
    config = cache(store).for_org(org_id, conn)
    duty = duty_now(conn, config, org_id, Tier.COORDINATOR, row.language, now)
    recipients = _user_ids(conn, org_id, duty.usernames)
    if row.assignee_id is not None:
        recipients.append(row.assignee_id)
    lang = row.language if row.language in ALERT_LANGUAGES else "en"
    severity = Severity(row.severity)
    payload = alert_text.breach(
        lang,
        public_id=row.public_id,
        severity=str(severity),
        deadline=deadline,
        due=due_at,
        url=case_url(store, row.public_id),
    )
    fan_out(
        conn,
        store,
        config,
        org_id=org_id,
        user_ids=recipients,
        incident_id=incident_id,
        event="incident.breached",
        payload=payload,
        severity=severity,
        page=True,
        now=now,
    )
    audit.record(
        conn,
        audit.audit_row(
            Actor.system("escalation", org_id),
            "incident:clock:breached",
            "incident",
            row.public_id,
            at=now,
            after={
                "deadline": deadline,
                "due": due_at.isoformat(),
                "escalated_to": duty.usernames,
                "fallback": duty.fallback,
            },
        ),
    )


def attack_types_of(conn: sa.Connection, incident_ids: list[int]) -> dict[int, tuple[str, ...]]:
    found: dict[int, list[str]] = defaultdict(list)
    for i, t in conn.execute(
        sa.select(incident_attack_types.c.incident_id, incident_attack_types.c.attack_type).where(
            incident_attack_types.c.incident_id.in_(incident_ids)
        )
    ):
        found[i].append(t)
    return {i: tuple(sorted(v)) for i, v in found.items()}
