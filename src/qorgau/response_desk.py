"""The rapid-response use cases: triage, assignment, clocks and queue, playbook tasks, the
roster and other response documents, alert channels, referrals, statements, hygiene, timeline.

Same shape as the case desk: authorize, check the domain rule, write and audit in one
transaction. Every action a responder takes on a case also stops its first-response clock
(someone is on it); ticking a task or making a referral stops the first-action clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa

from qorgau import read_audit
from qorgau.alerts.channels import validate_channel
from qorgau.desk import CaseDesk
from qorgau.domain import access
from qorgau.domain.access import Action
from qorgau.domain.model import Incident, Principal, Severity, Status
from qorgau.domain.privacy import may_see_locked
from qorgau.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from qorgau.response import alert_text, statements
from qorgau.response.catalogue import ResponseConfig, validate_document
from qorgau.response.clocks import ClockState, Deadline, deadlines, worst
from qorgau.response.playbooks import Playbook
from qorgau.response.referrals import Need, ReferralState, Suggestion, suggest
from qorgau.response.roster import Duty, Tier
from qorgau.response.statements import StatementState
from qorgau.store import audit, deliveries, response_docs, response_records, users
from qorgau.store import case_tasks as tasks_repo
from qorgau.store import incidents as repo
from qorgau.store.attachments import Attachment, list_attachments
from qorgau.store.audit import Actor
from qorgau.store.blobs import BlobStore
from qorgau.store.case_tasks import Task, TaskState
from qorgau.store.privacy import unlocked
from qorgau.store.response_clocks import (
    get_clock,
    mark_acted,
    mark_responded,
    on_severity,
    open_clocks,
)
from qorgau.store.response_plan import case_url, duty_now, fan_out
from qorgau.store.response_records import HygieneSubject, Referral, Statement
from qorgau.store.tables import audit_events, incidents, organisations

T = TypeVar("T")
QUEUE_VIEWS = ("open", "breached", "due_soon", "mine", "unassigned")
PERSONAL_CHANNELS = ("email", "telegram")


@dataclass(frozen=True)
class ClockView:
    severity: Severity
    response: Deadline
    action: Deadline
    state: ClockState
    paused: bool


@dataclass(frozen=True)
class QueueItem:
    public_id: str
    title: str
    severity: Severity
    status: Status
    assignee_id: int | None
    reported_at: datetime
    clock: ClockView


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # audit tag, "alert", "note"
    actor: str | None
    summary: dict[str, Any]


class ResponseDesk:
    def __init__(self, case_desk: CaseDesk) -> None:
        self.cases = case_desk
        self.store = case_desk.store

    # -- helpers --------------------------------------------------------------------------
    def config(self, org_id: int, conn: sa.Connection | None = None) -> ResponseConfig:
        return response_docs.cache(self.store).for_org(org_id, conn)

    def _case(
        self, conn: sa.Connection, principal: Principal, public_id: str, *, lock: bool = False
    ) -> Incident:
        incident = repo.get_incident(
            conn, self.store.cipher, self.store.taxonomy, public_id, reveal=False, for_update=lock
        )
        access.ensure_visible(principal, incident)
        return incident

    def _listed(
        self,
        principal: Principal,
        public_id: str,
        action: Action,
        lister: Callable[[sa.Connection, list[int]], list[T]],
    ) -> list[T]:
        """What hangs off one visible case (tasks, referrals, statements)."""
        access.authorize(principal, action)
        with self.store.read() as conn:
            case = self._case(conn, principal, public_id)
            return lister(conn, [case.id])

    def _audit(
        self,
        conn: sa.Connection,
        principal: Principal,
        address: str | None,
        tag: str,
        public_id: str,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> None:
        audit.record(
            conn,
            audit.audit_row(
                Actor.of(principal, address),
                tag,
                "incident",
                public_id,
                at=self.store.now(),
                before=before,
                after=after,
            ),
        )

    def _clock_view(self, policy_org: int, clock: Any, now: datetime) -> ClockView:
        policy = self.config(policy_org).policy
        pair = deadlines(policy, clock, now)
        return ClockView(
            clock.severity, pair[0], pair[1], worst(pair), clock.paused_since is not None
        )

    # -- triage ---------------------------------------------------------------------------
    def confirm_severity(
        self,
        principal: Principal,
        public_id: str,
        severity: Severity,
        reason: str | None,
        address: str | None,
    ) -> Incident:
        """Confirm the proposal, or override it with a reason; both are audited."""
        access.authorize(principal, Action.TRIAGE_CONFIRM)
        reason = (reason or "").strip() or None
        now = self.store.now()
        with self.store.write() as conn:
            case = self._case(conn, principal, public_id, lock=True)
            if case.status is Status.MERGED:
                raise Conflict(f"{public_id} was merged; triage the incident it was merged into")
            proposed = case.proposed_severity or case.severity
            overriding = severity is not proposed
            if overriding and not reason:
                raise InvalidInput.single(
                    "reason",
                    "required",
                    f"say why the severity differs from the proposed {proposed}",
                )
            repo.update_columns(
                conn,
                case.id,
                {
                    "severity": str(severity),
                    "severity_confirmed_at": now,
                    "severity_confirmed_by": principal.user_id,
                    "updated_at": now,
                },
            )
            on_severity(conn, self.config(case.org_id, conn).policy, case.id, severity)
            mark_responded(conn, case.id, now)
            self._audit(
                conn,
                principal,
                address,
                "incident:triage:overridden" if overriding else "incident:triage:confirmed",
                public_id,
                before={"severity": str(case.severity), "proposed": str(proposed)},
                after={"severity": str(severity), "reason": reason},
            )
        return self.cases.get(principal, public_id)

    # -- assignment -----------------------------------------------------------------------
    def claim(self, principal: Principal, public_id: str, address: str | None) -> Incident:
        """Take an unassigned case. The update only succeeds while nobody holds the case, so of
        two responders claiming at once exactly one wins; the other is told who has it."""
        access.authorize(principal, Action.CASE_CLAIM)
        now = self.store.now()
        with self.store.write() as conn:
            case = self._case(conn, principal, public_id)
            done = conn.execute(
                incidents.update()
                .where(incidents.c.id == case.id, incidents.c.assignee_id.is_(None))
                .values(assignee_id=principal.user_id, assigned_at=now, updated_at=now)
            )
            if done.rowcount != 1:
                holder = conn.execute(
                    sa.select(incidents.c.assignee_id).where(incidents.c.id == case.id)
                ).scalar()
                name = users.get_user(conn, holder).username if holder else "someone"
                raise Conflict(f"{public_id} is already claimed by {name}")
            mark_responded(conn, case.id, now)
            self._audit(
                conn,
                principal,
                address,
                "incident:claimed",
                public_id,
                after={"assignee_id": principal.user_id},
            )
        return self.cases.get(principal, public_id)

    def assign(
        self,
        principal: Principal,
        public_id: str,
        user_id: int | None,
        note: str | None,
        address: str | None,
    ) -> Incident:
        """Assign (a coordinator), or hand over (the current assignee) to another handler;
        ``None`` releases the case back to the queue."""
        now = self.store.now()
        with self.store.write() as conn:
            case = self._case(conn, principal, public_id, lock=True)
            is_holder = case.assignee_id is not None and case.assignee_id == principal.user_id
            access.authorize(principal, Action.CASE_CLAIM)
            taking_free_case = case.assignee_id is None and user_id == principal.user_id
            if principal.role not in access.LEADS and not (is_holder or taking_free_case):
                raise PermissionDenied(
                    "only the responder holding the case, or a coordinator, may reassign it"
                )
            if user_id is not None:
                target = users.get_user(conn, user_id)
                # The case's organisation, not the caller's: an administrator who sees another
                # organisation's case must not hand it to someone of their own.
                if target.org_id != case.org_id:
                    raise NotFound(f"user {user_id} not found")
                if not target.active or target.role not in access.HANDLERS:
                    raise InvalidInput.single(
                        "user_id",
                        "not_handler",
                        f"{target.username} cannot take cases (inactive, or a {target.role})",
                    )
                if target.id == case.assignee_id:
                    raise Conflict(f"{public_id} is already assigned to {target.username}")
            conn.execute(
                incidents.update()
                .where(incidents.c.id == case.id)
                .values(
                    assignee_id=user_id,
                    assigned_at=now if user_id is not None else None,
                    updated_at=now,
                )
            )
            mark_responded(conn, case.id, now)
            tag = (
                "incident:released"
                if user_id is None
                else ("incident:handed_over" if is_holder else "incident:assigned")
            )
            self._audit(
                conn,
                principal,
                address,
                tag,
                public_id,
                before={"assignee_id": case.assignee_id},
                after={"assignee_id": user_id, "note": (note or "").strip() or None},
            )
            if user_id is not None and user_id != principal.user_id:
                lang = case.language if case.language in ("ru", "kk") else "en"
                fan_out(
                    conn,
                    self.store,
                    self.config(case.org_id, conn),
                    org_id=case.org_id,
                    user_ids=[user_id],
                    incident_id=case.id,
                    event="incident.assigned",
                    payload=alert_text.assigned(
                        lang or "en",
                        public_id=public_id,
                        severity=str(case.severity),
                        url=case_url(self.store, public_id),
                    ),
                    severity=case.severity,
                    page=case.severity in self.config(case.org_id, conn).policy.page_on_call,
                    now=now,
                )
        return self.cases.get(principal, public_id)

    # -- clocks and the queue -------------------------------------------------------------
    def clock(self, principal: Principal, public_id: str) -> ClockView | None:
        access.authorize(principal, Action.TASK_READ)
        with self.store.read() as conn:
            case = self._case(conn, principal, public_id)
            clock = get_clock(conn, case.id)
        return self._clock_view(case.org_id, clock, self.store.now()) if clock else None

    def queue(
        self,
        principal: Principal,
        view: str = "open",
        limit: int = 100,
        now: datetime | None = None,
    ) -> list[QueueItem]:
        """Open cases with their clocks, most urgent first: breached, then due soonest."""
        access.authorize(principal, Action.QUEUE_READ)
        if view not in QUEUE_VIEWS:
            raise InvalidInput.single("view", "unknown", f"unknown view {view!r}", QUEUE_VIEWS)
        now = now or self.store.now()
        with self.store.read() as conn:
            clocks = {c.incident_id: c for c in open_clocks(conn, principal.org_id)}
            if not clocks:
                return []
            rows = conn.execute(
                sa.select(
                    incidents.c.id,
                    incidents.c.public_id,
                    incidents.c.title,
                    incidents.c.severity,
                    incidents.c.status,
                    incidents.c.assignee_id,
                    incidents.c.reported_at,
                ).where(
                    incidents.c.id.in_(list(clocks)),
                    sa.true() if may_see_locked(principal.role) else unlocked(),
                )
            ).all()
        items = []
        for r in rows:
            view_ = self._clock_view(principal.org_id, clocks[r.id], now)
            item = QueueItem(
                r.public_id,
                r.title,
                Severity(r.severity),
                Status(r.status),
                r.assignee_id,
                r.reported_at,
                view_,
            )
            if view == "breached" and view_.state is not ClockState.BREACHED:
                continue
            if view == "due_soon" and view_.state is not ClockState.DUE_SOON:
                continue
            if view == "mine" and r.assignee_id != principal.user_id:
                continue
            if view == "unassigned" and r.assignee_id is not None:
                continue
            items.append(item)

        def urgency(i: QueueItem) -> tuple[int, datetime]:
            pending = [d for d in (i.clock.response, i.clock.action) if d.met_at is None]
            nxt = min((d.due for d in pending), default=i.clock.action.due)
            return (0 if i.clock.state is ClockState.BREACHED else 1, nxt)

        items.sort(key=urgency)
        return items[:limit]

    # -- tasks ----------------------------------------------------------------------------
    def tasks(self, principal: Principal, public_id: str) -> list[Task]:
        return self._listed(principal, public_id, Action.TASK_READ, tasks_repo.list_tasks)

    def attach_playbook(
        self, principal: Principal, public_id: str, playbook_id: str, address: str | None
    ) -> list[Task]:
        access.authorize(principal, Action.TASK_WRITE)
        now = self.store.now()
        with self.store.write() as conn:
            case = self._case(conn, principal, public_id)
            book = self.config(case.org_id, conn).library.get(playbook_id)
            added = tasks_repo.attach(conn, case.id, book, principal.user_id, now)
            mark_responded(conn, case.id, now)
            self._audit(
                conn,
                principal,
                address,
                "incident:playbook:attached",
                public_id,
                after={"playbook": book.id, "version": book.version, "steps": added},
            )
            return tasks_repo.list_tasks(conn, [case.id])

    def add_task(
        self, principal: Principal, public_id: str, title: str, address: str | None
    ) -> Task:
        access.authorize(principal, Action.TASK_WRITE)
        now = self.store.now()
        with self.store.write() as conn:
            case = self._case(conn, principal, public_id)
            task = tasks_repo.add_custom(conn, case.id, title, principal.user_id, now)
            mark_responded(conn, case.id, now)
            self._audit(
                conn,
                principal,
                address,
                "incident:task:added",
                public_id,
                after={"task_id": task.id, "title": task.label("en")},
            )
            return task

    def set_task(
        self,
        principal: Principal,
        public_id: str,
        task_id: int,
        state: TaskState,
        reason: str | None,
        address: str | None,
    ) -> Task:
        access.authorize(principal, Action.TASK_WRITE)
        now = self.store.now()
        with self.store.write() as conn:
            case = self._case(conn, principal, public_id)
            before, after = tasks_repo.set_state(
                conn, case.id, task_id, state, reason, principal.user_id, now
            )
            if state is TaskState.DONE:
                mark_acted(conn, case.id, now)
            else:
                mark_responded(conn, case.id, now)
            self._audit(
                conn,
                principal,
                address,
                f"incident:task:{state}",
                public_id,
                before={"task_id": task_id, "state": str(before.state)},
                after={
                    "task_id": task_id,
                    "state": str(state),
                    "reason": after.reason,
                    "step": after.step_id,
                    "title": after.label("en"),
                },
            )
            return after

    # -- response documents (roster, clocks, triage rules, playbooks, referrals, webhooks) --
    def playbooks(self, principal: Principal) -> list[Playbook]:
        access.authorize(principal, Action.PLAYBOOK_READ)
        return sorted(self.config(principal.org_id).library.books.values(), key=lambda b: b.id)

    def document(self, principal: Principal, kind: str) -> tuple[int, dict[str, Any]] | None:
        access.authorize(principal, Action.RESPONSE_CONFIG)
        with self.store.read() as conn:
            docs = response_docs.latest_documents(conn, self.store.cipher, principal.org_id)
        found = docs.get(kind)
        if found and kind == "channels":
            body = dict(found[1])
            body["webhook"] = [{**w, "secret": "[hidden]"} for w in body.get("webhook", [])]
            return found[0], body
        return found

    def save_document(
        self, principal: Principal, kind: str, body: dict[str, Any], address: str | None
    ) -> int:
        """Validate and store a new version; a bad document changes nothing."""
        access.authorize(principal, Action.RESPONSE_CONFIG)
        now = self.store.now()
        with self.store.write() as conn:
            version = response_docs.save_document(
                conn, self.store, principal.org_id, kind, body, principal.user_id, now
            )
            audit.record(
                conn,
                audit.audit_row(
                    Actor.of(principal, address),
                    "response:document:saved",
                    "response_document",
                    kind[:32],
                    at=now,
                    after={"kind": kind, "version": version},
                ),
            )
        return version

    def check_document(self, principal: Principal, kind: str, body: dict[str, Any]) -> None:
        access.authorize(principal, Action.RESPONSE_CONFIG)
        with self.store.read() as conn:
            validate_document(
                kind, body, self.store.taxonomy, response_docs.active_users(conn, principal.org_id)
            )

    def on_duty(
        self, principal: Principal, language: str | None, at: datetime | None, tier: Tier
    ) -> Duty:
        access.authorize(principal, Action.ROSTER_READ)
        with self.store.read() as conn:
            return duty_now(
                conn,
                self.config(principal.org_id, conn),
                principal.org_id,
                tier,
                language,
                at or self.store.now(),
            )

    # -- personal alert channels and in-app notifications ---------------------------------
    def set_channel(self, principal: Principal, kind: str, address: str) -> str:
        access.authorize(principal, Action.CHANNEL_SELF)
        assert principal.user_id is not None
        if kind not in PERSONAL_CHANNELS:
            # Webhooks belong to the organisation (set by its coordinators), not to a person:
            # a personal webhook would let any account make the server call any address.
            raise InvalidInput.single(
                "kind",
                "personal_channel",
                "a person is paged by e-mail or Telegram; in-app notices need no address, and"
                " webhooks are set for the organisation in the channels document",
                PERSONAL_CHANNELS,
            )
        validate_channel(kind, address)
        with self.store.write() as conn:
            normal = deliveries.set_user_channel(
                conn, self.store.cipher, principal.user_id, kind, address, self.store.now()
            )
        response_docs.cache(self.store).invalidate(principal.org_id)
        return normal

    def channels(self, principal: Principal) -> dict[str, str]:
        access.authorize(principal, Action.CHANNEL_SELF)
        assert principal.user_id is not None
        with self.store.read() as conn:
            return deliveries.user_channels(conn, self.store.cipher, [principal.user_id]).get(
                principal.user_id, {}
            )

    def remove_channel(self, principal: Principal, kind: str) -> None:
        access.authorize(principal, Action.CHANNEL_SELF)
        assert principal.user_id is not None
        with self.store.write() as conn:
            if not deliveries.remove_user_channel(conn, principal.user_id, kind):
                raise NotFound(f"you have no {kind} channel")
        response_docs.cache(self.store).invalidate(principal.org_id)

    def notifications(
        self, principal: Principal, unread_only: bool, limit: int, offset: int
    ) -> list[deliveries.DeliveryRecord]:
        access.authorize(principal, Action.NOTIFICATION_READ)
        assert principal.user_id is not None
        with self.store.read() as conn:
            return deliveries.inapp_for_user(conn, principal.user_id, unread_only, limit, offset)

    def mark_read(self, principal: Principal, ids: list[int]) -> int:
        access.authorize(principal, Action.NOTIFICATION_READ)
        assert principal.user_id is not None
        with self.store.write() as conn:
            return deliveries.mark_read(conn, principal.user_id, ids, self.store.now())

    def deliveries(
        self, principal: Principal, state: str | None, limit: int, offset: int
    ) -> list[deliveries.DeliveryRecord]:
        access.authorize(principal, Action.DELIVERY_MANAGE)
        with self.store.read() as conn:
            return deliveries.list_deliveries(
                conn, state=state, org_id=principal.org_id, limit=limit, offset=offset
            )

    def requeue(self, principal: Principal, ids: list[int], address: str | None) -> int:
        access.authorize(principal, Action.DELIVERY_MANAGE)
        now = self.store.now()
        with self.store.write() as conn:
            n = deliveries.requeue_dead(conn, ids, now, org_id=principal.org_id)
            audit.record(
                conn,
                audit.audit_row(
                    Actor.of(principal, address),
                    "delivery:requeued",
                    "delivery",
                    ",".join(str(i) for i in ids)[:32],
                    at=now,
                    after={"ids": ids, "requeued": n},
                ),
            )
            return n

    # -- referrals ------------------------------------------------------------------------
    def partners(self, principal: Principal) -> ResponseConfig:
        access.authorize(principal, Action.REFERRAL_READ)
        return self.config(principal.org_id)

    def suggestions(self, principal: Principal, public_id: str) -> list[Suggestion]:
        access.authorize(principal, Action.REFERRAL_READ)
        with self.store.read() as conn:
            case = self._case(conn, principal, public_id)
        threat = bool((case.triage or {}).get("signals", {}).get("threat_to_life"))
        return suggest(
            self.config(case.org_id).directory,
            case.attack_types,
            case.language,
            threat_to_life=threat,
        )

    def refer(
        self,
        principal: Principal,
        public_id: str,
        partner_id: str,
        need: str,
        note: str | None,
        address: str | None,
    ) -> Referral:
        access.authorize(principal, Action.REFERRAL_WRITE)
        try:
            need_ = Need(need)
        except ValueError:
            raise InvalidInput.single(
                "need", "unknown", f"unknown need {need!r}", tuple(str(n) for n in Need)
            ) from None
        now = self.store.now()
        with self.store.write() as conn:
            case = self._case(conn, principal, public_id)
            partner = self.config(case.org_id, conn).directory.get(partner_id)
            if need_ not in partner.offers:
                raise InvalidInput.single(
                    "need",
                    "not_offered",
                    f"{partner.name} does not offer {need_}",
                    tuple(str(n) for n in partner.offers),
                )
            ref = response_records.add_referral(
                conn, case.id, partner.id, str(need_), note, principal.user_id, now
            )
            mark_acted(conn, case.id, now)
            self._audit(
                conn,
                principal,
                address,
                "incident:referral:made",
                public_id,
                after={"referral_id": ref.id, "partner": partner.id, "need": str(need_)},
            )
            return ref

    def update_referral(
        self,
        principal: Principal,
        public_id: str,
        referral_id: int,
        state: ReferralState,
        outcome: str | None,
        address: str | None,
    ) -> Referral:
        access.authorize(principal, Action.REFERRAL_WRITE)
        now = self.store.now()
        with self.store.write() as conn:
            case = self._case(conn, principal, public_id)
            before, after = response_records.update_referral(
                conn, case.id, referral_id, state, outcome, now
            )
            self._audit(
                conn,
                principal,
                address,
                "incident:referral:updated",
                public_id,
                before={"referral_id": referral_id, "state": str(before.state)},
                after={"referral_id": referral_id, "state": str(state), "outcome": after.outcome},
            )
            return after

    def referrals(self, principal: Principal, public_id: str) -> list[Referral]:
        return self._listed(
            principal, public_id, Action.REFERRAL_READ, response_records.list_referrals
        )

    # -- statements -----------------------------------------------------------------------
    def draft_statement(
        self, principal: Principal, public_id: str, language: str, address: str | None
    ) -> Statement:
        access.authorize(principal, Action.STATEMENT_DRAFT)
        now = self.store.now()
        with self.store.write() as conn:
            case = repo.get_incident(
                conn, self.store.cipher, self.store.taxonomy, public_id, reveal=True
            )
            access.ensure_visible(principal, case)
            org = conn.execute(
                sa.select(organisations.c.name).where(organisations.c.id == case.org_id)
            ).scalar_one()
            body = statements.draft(case, self.store.taxonomy, language, org)
            st = response_records.add_statement(
                conn, case.id, language, body, principal.user_id, now
            )
            mark_responded(conn, case.id, now)
            self._audit(
                conn,
                principal,
                address,
                "incident:statement:drafted",
                public_id,
                after={"statement_id": st.id, "language": language},
            )
            return st

    def _statement(
        self,
        conn: sa.Connection,
        principal: Principal,
        statement_id: int,
        case: str | None = None,
    ) -> tuple[Statement, str]:
        """The statement if its case is visible; and, when ``case`` is named (a page's URL),
        only if it belongs to that case, so one case's page never acts on another's."""
        st = response_records.get_statement(conn, statement_id)
        pid = repo.public_ids(conn, [st.incident_id])[st.incident_id]
        if case is not None and case != pid:
            raise NotFound(f"statement {statement_id} is not one of {case}'s")
        self._case(conn, principal, pid)
        return st, pid

    def edit_statement(
        self,
        principal: Principal,
        statement_id: int,
        body: str,
        address: str | None,
        case: str | None = None,
    ) -> Statement:
        access.authorize(principal, Action.STATEMENT_DRAFT)
        text = body.strip()
        if not text:
            raise InvalidInput.single("body", "required", "a statement cannot be empty")
        if len(text) > response_records.MAX_TEXT:
            raise InvalidInput.single(
                "body", "max_length", f"at most {response_records.MAX_TEXT} characters"
            )
        with self.store.write() as conn:
            st, pid = self._statement(conn, principal, statement_id, case)
            statements.check_edit(st.state)
            # An edit after approval needs a new approval: what was approved is not this text.
            after = response_records.set_statement(
                conn,
                statement_id,
                {
                    "body": text + "\n",
                    "state": str(StatementState.DRAFT),
                    "approved_at": None,
                    "approved_by": None,
                    "updated_at": self.store.now(),
                },
            )
            self._audit(
                conn,
                principal,
                address,
                "incident:statement:edited",
                pid,
                before={"statement_id": st.id, "state": str(st.state)},
                after={"statement_id": st.id, "state": str(after.state)},
            )
            return after

    def approve_statement(
        self, principal: Principal, statement_id: int, address: str | None, case: str | None = None
    ) -> Statement:
        access.authorize(principal, Action.STATEMENT_APPROVE)
        now = self.store.now()
        with self.store.write() as conn:
            st, pid = self._statement(conn, principal, statement_id, case)
            if st.state is not StatementState.DRAFT:
                raise Conflict(f"only a draft can be approved; this statement is {st.state}")
            after = response_records.set_statement(
                conn,
                statement_id,
                {
                    "state": str(StatementState.APPROVED),
                    "approved_at": now,
                    "approved_by": principal.user_id,
                    "updated_at": now,
                },
            )
            self._audit(
                conn,
                principal,
                address,
                "incident:statement:approved",
                pid,
                after={"statement_id": st.id},
            )
            return after

    def publish_statement(
        self, principal: Principal, statement_id: int, address: str | None, case: str | None = None
    ) -> Statement:
        access.authorize(principal, Action.STATEMENT_APPROVE)
        now = self.store.now()
        with self.store.write() as conn:
            st, pid = self._statement(conn, principal, statement_id, case)
            statements.check_publish(st.state)
            after = response_records.set_statement(
                conn,
                statement_id,
                {"state": str(StatementState.PUBLISHED), "published_at": now, "updated_at": now},
            )
            self._audit(
                conn,
                principal,
                address,
                "incident:statement:published",
                pid,
                after={"statement_id": st.id},
            )
            return after

    def statements(self, principal: Principal, public_id: str) -> list[Statement]:
        return self._listed(
            principal, public_id, Action.STATEMENT_READ, response_records.list_statements
        )

    # -- preventive hygiene ---------------------------------------------------------------
    def track_hygiene(
        self,
        principal: Principal,
        kind: str,
        label: str,
        checklist_id: str | None,
        address: str | None,
    ) -> HygieneSubject:
        access.authorize(principal, Action.HYGIENE_WRITE)
        if kind not in ("outlet", "person"):
            raise InvalidInput.single(
                "kind", "unknown", "track an outlet or a person", ("outlet", "person")
            )
        if not label.strip():
            raise InvalidInput.single("label", "required", "name the outlet or person")
        library = self.config(principal.org_id).library
        books = library.hygiene(kind)
        book = library.get(checklist_id) if checklist_id else (books[0] if books else None)
        if book is None or kind not in book.applies_to:
            raise InvalidInput.single(
                "checklist_id",
                "unknown",
                f"no hygiene checklist for a {kind}",
                tuple(b.id for b in books),
            )
        now = self.store.now()
        with self.store.write() as conn:
            sid = response_records.add_subject(
                conn,
                self.store.cipher,
                principal.org_id,
                kind,
                label.strip(),
                book.id,
                book.version,
                now,
            )
            audit.record(
                conn,
                audit.audit_row(
                    Actor.of(principal, address),
                    "hygiene:tracked",
                    "hygiene",
                    sid,
                    at=now,
                    after={"kind": kind, "checklist": book.id},
                ),
            )
            return response_records.get_subject(conn, self.store.cipher, sid)

    def hygiene(self, principal: Principal) -> list[HygieneSubject]:
        access.authorize(principal, Action.HYGIENE_READ)
        with self.store.read() as conn:
            return response_records.list_subjects(conn, self.store.cipher, principal.org_id)

    def set_hygiene(
        self,
        principal: Principal,
        subject_id: int,
        step_id: str,
        state: str,
        note: str | None,
        address: str | None,
    ) -> HygieneSubject:
        access.authorize(principal, Action.HYGIENE_WRITE)
        allowed = ("todo", "done", "not_applicable")
        if state not in allowed:
            raise InvalidInput.single("state", "unknown", f"unknown state {state!r}", allowed)
        now = self.store.now()
        with self.store.write() as conn:
            subject = response_records.get_subject(conn, self.store.cipher, subject_id)
            if subject.org_id != principal.org_id:
                raise NotFound(f"hygiene checklist {subject_id} not found")
            book = self.config(principal.org_id, conn).library.get(subject.checklist_id)
            if step_id not in {s.id for s in book.step}:
                raise InvalidInput.single(
                    "step_id",
                    "unknown",
                    f"no step {step_id!r} in {book.id}",
                    tuple(s.id for s in book.step),
                )
            response_records.set_item(
                conn, subject_id, step_id, state, note, principal.user_id, now
            )
            audit.record(
                conn,
                audit.audit_row(
                    Actor.of(principal, address),
                    "hygiene:item:set",
                    "hygiene",
                    subject_id,
                    at=now,
                    after={"step": step_id, "state": state},
                ),
            )
            return response_records.get_subject(conn, self.store.cipher, subject_id)

    # -- attachments (evidence that came with a report) -----------------------------------
    def attachments(self, principal: Principal, public_id: str) -> list[Attachment]:
        access.authorize(principal, Action.ATTACHMENT_READ)
        with self.store.read() as conn:
            case = self._case(conn, principal, public_id)
            ids = [case.id, *repo.merged_ids(conn, case.id)]
            found: list[Attachment] = []
            for i in ids:
                found.extend(list_attachments(conn, self.store.cipher, i, reveal_names=True))
            return found

    def attachment_content(
        self,
        principal: Principal,
        public_id: str,
        sha256: str,
        *,
        original: bool = False,
        address: str | None = None,
    ) -> tuple[Attachment, bytes]:
        """The file checked against its hash on the way out. Images come without their EXIF,
        GPS, XMP and comments (``image_metadata.staff_copy``); the original bytes only when
        asked for, to those who may export evidence, and that request is audited."""
        from qorgau.security.image_metadata import staff_copy

        if original:
            access.authorize(principal, Action.VAULT_EXPORT)
        for item in self.attachments(principal, public_id):
            if item.sha256 == sha256:
                data = BlobStore.for_settings(self.store.settings).get(sha256)
                changed = False
                if not original:
                    data, changed = staff_copy(data)
                copy = "original" if original else ("without_metadata" if changed else "as_stored")
                self._custody_of_download(principal, public_id, item, copy, address)
                return item, data
        raise NotFound(f"no attachment {sha256} on {public_id}")

    def _custody_of_download(
        self,
        principal: Principal,
        public_id: str,
        item: Attachment,
        copy: str,
        address: str | None,
    ) -> None:
        """The file is also vault evidence: its download is a custody event like any view,
        saying which copy was taken; taking the original is also in the audit log."""
        from qorgau.store import vault as vault_repo
        from qorgau.store.tables import vault_items

        now = self.store.now()
        with self.store.write() as conn:
            ids = conn.execute(
                sa.select(vault_items.c.id).where(
                    vault_items.c.incident_id == item.incident_id,
                    vault_items.c.sha256 == item.sha256,
                )
            ).scalars()
            for item_id in ids:
                vault_repo.record_custody(
                    conn,
                    item_id,
                    principal.user_id,
                    principal.username,
                    "viewed",
                    "downloaded as a report attachment",
                    {"copy": copy},
                    address,
                    now,
                )
            if copy == "original":
                audit.record(
                    conn,
                    audit.audit_row(
                        Actor.of(principal, address),
                        "incident:attachment:original",
                        "incident",
                        public_id,
                        at=now,
                        after={"sha256": item.sha256},
                    ),
                )

    # -- timeline -------------------------------------------------------------------------
    def timeline(self, principal: Principal, public_id: str) -> list[TimelineEntry]:
        """One chronological story of the case: every audited change (report, triage, status,
        assignment, tasks, referrals, statements, escalations), each alert sent and each note."""
        access.authorize(principal, Action.TIMELINE_READ)
        with self.store.read() as conn:
            case = self._case(conn, principal, public_id)
            ids = [case.id, *repo.merged_ids(conn, case.id)]
            pids = list(repo.public_ids(conn, ids).values())
            entries: list[TimelineEntry] = []
            note_bodies = {
                n.id: n for n in repo.list_notes(conn, self.store.cipher, ids, 10_000, 0)[0]
            }
            for ev in conn.execute(
                sa.select(audit_events)
                .where(audit_events.c.entity == "incident", audit_events.c.entity_id.in_(pids))
                .order_by(audit_events.c.at, audit_events.c.id)
            ).mappings():
                after = dict(ev["after"] or {})
                if ev["tag"] == "incident:note:added" and after.get("note_id") in note_bodies:
                    after["body"] = note_bodies[after["note_id"]].body
                entries.append(
                    TimelineEntry(
                        ev["at"],
                        ev["tag"],
                        ev["actor_name"],
                        {"before": ev["before"], "after": after},
                    )
                )
            for d in deliveries.list_deliveries(conn, incident_id=case.id, limit=500):
                entries.append(
                    TimelineEntry(
                        d.created_at,
                        "alert",
                        None,
                        {
                            "event": d.event,
                            "channel": d.channel,
                            "state": d.state,
                            "attempts": d.attempts,
                            "user_id": d.user_id,
                            "sent_at": d.sent_at.isoformat() if d.sent_at else None,
                            "last_error": d.last_error,
                        },
                    )
                )
        # Sensitive notes are decrypted into the timeline, which the case page polls.
        read_audit.record(
            self.store,
            principal,
            entity="incident",
            entity_id=public_id,
            groups=read_audit.note_groups(note_bodies.values()),
            again_after=read_audit.POLL_WINDOW,
        )
        entries.sort(key=lambda e: e.at)
        return entries
