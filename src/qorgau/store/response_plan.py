"""What happens to a case the moment it is stored, and when one of its deadlines passes.

Both run inside the transaction that causes them — the incident and its clocks, tasks and alert
deliveries commit together or not at all (a transactional outbox) — so an acknowledged report
can never lack its alert, and an alert can never point to a case that was rolled back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from qorgau.alerts.channels import webhook_address
from qorgau.domain.model import NewIncident, Severity
from qorgau.response import alert_text
from qorgau.response.catalogue import ResponseConfig
from qorgau.response.roster import Duty, Tier, on_duty
from qorgau.response.triage import ORDER
from qorgau.store import audit, deliveries
from qorgau.store.audit import Actor
from qorgau.store.case_tasks import TaskState
from qorgau.store.response_clocks import clock_row, due_breaches, get_clock, mark_escalated
from qorgau.store.response_docs import cache, coordinators
from qorgau.store.store import Store
from qorgau.store.tables import case_tasks, incidents, response_clocks, users
from qorgau.store.tables import deliveries as deliveries_table

ALERT_LANGUAGES = ("en", "ru", "kk")


def case_url(store: Store, public_id: str) -> str:
    return f"{store.settings.public_base_url.rstrip('/')}/desk/cases/{public_id}"


def _ids_by_name(conn: sa.Connection, org_id: int, usernames: set[str]) -> dict[str, int]:
    if not usernames:
        return {}
    rows = conn.execute(
        sa.select(users.c.id, users.c.username).where(
            users.c.org_id == org_id,
            users.c.username.in_(sorted(usernames)),
            users.c.active.is_(True),
        )
    )
    return {n: i for i, n in rows}


def _user_ids(conn: sa.Connection, org_id: int, usernames: tuple[str, ...]) -> list[int]:
    by_name = _ids_by_name(conn, org_id, set(usernames))
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


def delivery_requests(
    config: ResponseConfig,
    channels: dict[int, dict[str, str]],
    *,
    org_id: int,
    user_ids: list[int],
    incident_id: int | None,
    event: str,
    payload: dict[str, Any],
    severity: Severity,
    page: bool,
) -> list[deliveries.DeliveryRequest]:
    """One in-app notice per person; when paging, also every channel each person registered;
    and every organisation webhook that subscribed to the event at this severity."""
    requests: list[deliveries.DeliveryRequest] = []
    for uid in dict.fromkeys(user_ids):
        requests.append(
            deliveries.DeliveryRequest(org_id, uid, incident_id, event, "inapp", None, payload)
        )
        if page:
            for kind, address in sorted(channels.get(uid, {}).items()):
                requests.append(
                    deliveries.DeliveryRequest(
                        org_id, uid, incident_id, event, kind, address, payload
                    )
                )
    for hook in config.channels.webhook:
        if event in hook.events and ORDER.index(severity) >= ORDER.index(
            Severity(hook.min_severity)
        ):
            requests.append(
                deliveries.DeliveryRequest(
                    org_id,
                    None,
                    incident_id,
                    event,
                    "webhook",
                    webhook_address(hook.url, hook.secret),
                    payload,
                )
            )
    return requests


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
    """Alert the given people (and the organisation's webhooks) about one event."""
    channels = deliveries.user_channels(conn, store.cipher, user_ids) if page else {}
    requests = delivery_requests(
        config,
        channels,
        org_id=org_id,
        user_ids=user_ids,
        incident_id=incident_id,
        event=event,
        payload=payload,
        severity=severity,
        page=page,
    )
    return deliveries.enqueue(conn, store.cipher, requests, now) if requests else []


def alert_on_duty(
    conn: sa.Connection,
    store: Store,
    *,
    org_id: int,
    incident_id: int,
    event: str,
    payload: dict[str, Any],
    severity: Severity,
    language: str | None,
    now: datetime,
) -> list[int]:
    """Alert whoever is on call now about news on an open case (a flood joining it), in the
    caller's transaction, paging them when the severity pages."""
    config = cache(store).for_org(org_id)
    directory = cache(store).directory(org_id)
    duty = on_duty(
        config.roster,
        now,
        tier=Tier.RESPONDER,
        language=language,
        coordinators=directory.coordinators,
    )
    user_ids = [directory.ids_by_name[n] for n in duty.usernames if n in directory.ids_by_name]
    return fan_out(
        conn,
        store,
        config,
        org_id=org_id,
        user_ids=user_ids,
        incident_id=incident_id,
        event=event,
        payload={**payload, "duty_fallback": duty.fallback},
        severity=severity,
        page=severity in config.policy.page_on_call,
        now=now,
    )


RESPONSE_TABLES = (response_clocks, case_tasks, deliveries_table)


def response_rows(
    store: Store, org_id: int, new: NewIncident, public_id: str, now: datetime
) -> dict[sa.Table, list[dict[str, Any]]]:
    """What a live report sets in motion — its clock, its playbook tasks and the alerts to the
    on-call responder — as rows without their incident id, stored with the incident in one
    transaction (a transactional outbox: no acknowledged report lacks its alert).

    Built while the request is prepared, from cached configuration, so that group commit's
    write lock covers only the inserts (measured: planning inside the lock made a batch of
    200 reports take 5x as long to write).
    """
    config = cache(store).for_org(org_id)
    directory = cache(store).directory(org_id)
    clock = clock_row(0, org_id, new.severity, config.policy, new.reported_at)
    del clock["incident_id"]
    tasks: list[dict[str, Any]] = []
    for book in config.library.for_attack_types(new.attack_types):
        for step in book.step:
            tasks.append(
                {
                    "position": len(tasks),
                    "playbook_id": book.id,
                    "playbook_version": book.version,
                    "step_id": step.id,
                    "title": step.title.as_dict(),
                    "state": str(TaskState.OPEN),
                    "reason": None,
                    "created_at": now,
                    "created_by": None,
                    "done_at": None,
                    "done_by": None,
                }
            )
    duty = on_duty(
        config.roster,
        now,
        tier=Tier.RESPONDER,
        language=new.language,
        coordinators=directory.coordinators,
    )
    lang = new.language if new.language in ALERT_LANGUAGES else "en"
    payload = alert_text.new_case(
        store.taxonomy,
        lang or "en",
        public_id=public_id,
        severity=str(new.severity),
        attack_types=new.attack_types,
        due=clock["response_due"],
        url=case_url(store, public_id),
    )
    payload["duty_fallback"] = duty.fallback
    requests = delivery_requests(
        config,
        directory.channels,
        org_id=org_id,
        user_ids=[directory.ids_by_name[n] for n in duty.usernames if n in directory.ids_by_name],
        incident_id=None,
        event="incident.new",
        payload=payload,
        severity=new.severity,
        page=new.severity in config.policy.page_on_call,
    )
    alerts = [deliveries.delivery_row(store.cipher, r, now, i) for i, r in enumerate(requests)]
    for row in alerts:
        del row["incident_id"]
    return {response_clocks: [clock], case_tasks: tasks, deliveries_table: alerts}


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
