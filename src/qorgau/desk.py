"""The case desk's use cases: who may do what, then the domain rule, then the write and its
audit event in one transaction.

The API, the CLI and the importer all go through here, so authorization and audit cannot be
skipped by picking another door.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from qorgau import read_audit, sign_in_guard
from qorgau.domain import access, workflow
from qorgau.domain.access import Action
from qorgau.domain.intake import validate_report
from qorgau.domain.legal import LegalProvision
from qorgau.domain.model import (
    AuditEvent,
    Campaign,
    Incident,
    NewIncident,
    Note,
    Principal,
    ReportFields,
    Role,
    Severity,
    Status,
    User,
)
from qorgau.domain.privacy import may_see_locked
from qorgau.domain.queries import MAX_PAGE_SIZE, IncidentQuery, Page
from qorgau.domain.tlp import Tlp
from qorgau.errors import (
    AuthenticationRequired,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from qorgau.response import triage
from qorgau.store import audit, response_clocks, response_docs, users
from qorgau.store import incidents as repo
from qorgau.store.audit import Actor
from qorgau.store.incidents import Stored
from qorgau.store.intake import IntakeJob, store_report
from qorgau.store.privacy import unlocked
from qorgau.store.rows import audit_view, search_text
from qorgau.store.sessions import web_session_ttl
from qorgau.store.store import Store
from qorgau.store.tables import incident_attack_types, incidents

MAX_NOTE_LENGTH = 20_000


@dataclass(frozen=True)
class IncidentPatch:
    """Fields a handler may correct after intake; ``None`` means leave as is."""

    title: str | None = None
    description: str | None = None
    severity: Severity | None = None
    category: str | None = None
    attack_types: tuple[str, ...] | None = None
    legal_refs: tuple[str, ...] | None = None
    platform: str | None = None
    region: str | None = None
    ongoing: bool | None = None
    tlp: Tlp | None = None
    disarm_techniques: tuple[str, ...] | None = None
    legal_provision: LegalProvision | None = None


@dataclass(frozen=True)
class Summary:
    """Aggregated counts: what an analyst may see, with no single incident in it."""

    total: int
    by_category: dict[str, int] = field(default_factory=dict)
    by_attack_type: dict[str, int] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=dict)
    by_severity: dict[str, int] = field(default_factory=dict)
    by_month: dict[str, int] = field(default_factory=dict)


class CaseDesk:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._default_org_id: int | None = None

    # -- organisation ---------------------------------------------------------------------
    @property
    def default_org_id(self) -> int:
        if self._default_org_id is None:
            with self.store.read() as conn:
                self._default_org_id = users.org_id_for(conn, self.store.settings.default_org)
        return self._default_org_id

    def anonymous(self) -> Principal:
        return Principal(None, None, self.default_org_id)

    # -- intake ---------------------------------------------------------------------------
    def prepare_report(
        self,
        principal: Principal,
        fields: ReportFields,
        *,
        address: str | None = None,
        idempotency_key: str | None = None,
        request_digest: str | None = None,
        tag: str = "incident:reported",
    ) -> IntakeJob:
        """Authorize and validate a report; storing it is the caller's choice of path."""
        access.authorize(principal, Action.REPORT_SUBMIT)
        if fields.reported_at is not None and principal.role not in access.HANDLERS:
            # Only staff back-date a report (importing an old case); the public cannot.
            fields = _without_reported_at(fields)
        new = validate_report(fields, self.store.taxonomy, self.store.now())
        new = self._triaged(principal.org_id, new)
        return IntakeJob(
            new=new,
            org_id=principal.org_id,
            reporter_user_id=principal.user_id if principal.role is Role.REPORTER else None,
            actor=Actor.of(principal, address),
            idempotency_key=_scoped_key(principal, idempotency_key),
            request_digest=request_digest,
            with_receipt=principal.is_anonymous,
            tag=tag,
        )

    def _triaged(self, org_id: int, new: NewIncident) -> NewIncident:
        """Propose a severity from the organisation's triage rules; a severity given by staff
        (an import, a handler filing for someone) stands, and the proposal is kept beside it."""
        rules = response_docs.cache(self.store).for_org(org_id).rules
        people = sum(1 for t in new.targets if t.kind in ("person", "outlet"))
        signals = triage.TriageSignals(
            attack_types=new.attack_types,
            ongoing=new.ongoing,
            threat_to_life=new.threat_to_life,
            home_address_leaked=new.home_address_leaked,
            people_targeted=max(new.people_targeted or 0, people),
            reach=new.reach or 0,
            started_at=new.started_at,
            reported_at=new.reported_at,
        )
        result = triage.evaluate(rules, signals)
        return replace(
            new,
            severity=new.severity if new.severity_given else result.severity,
            proposed_severity=result.severity,
            triage=result.as_dict(),
        )

    def submit(self, principal: Principal, fields: ReportFields, **kw: Any) -> Stored:
        job = self.prepare_report(principal, fields, **kw)
        with self.store.write() as conn:
            return store_report(conn, self.store, job, self.store.now())

    def track(self, receipt_code: str) -> tuple[str, str, Any]:
        with self.store.read() as conn:
            found = repo.get_by_receipt(conn, receipt_code)
        if found is None:
            raise NotFound("no report has this receipt code; check it letter by letter")
        return found

    # -- reading --------------------------------------------------------------------------
    def _visible(self, conn: sa.Connection, principal: Principal, public_id: str) -> Incident:
        incident = repo.get_incident(
            conn, self.store.cipher, self.store.taxonomy, public_id, reveal=False
        )
        access.ensure_visible(principal, incident)
        return incident

    def get(self, principal: Principal, public_id: str, address: str | None = None) -> Incident:
        """The incident, with personal data for those who may read it — a read that is
        recorded (read_audit) before it is returned."""
        access.authorize(principal, Action.INCIDENT_READ)
        with self.store.read() as conn:
            incident = self._visible(conn, principal, public_id)
            if access.may_read_personal_data(principal, incident):
                incident = repo.get_incident(
                    conn, self.store.cipher, self.store.taxonomy, public_id, reveal=True
                )
        if not read_audit.is_own_report(principal, incident):
            read_audit.record(
                self.store,
                principal,
                entity="incident",
                entity_id=public_id,
                groups=read_audit.incident_groups(incident, self.store.taxonomy),
                address=address,
            )
        return incident

    def merged_from(self, principal: Principal, incident: Incident) -> list[str]:
        with self.store.read() as conn:
            ids = repo.merged_ids(conn, incident.id)
            return sorted(repo.public_ids(conn, ids).values())

    def search(
        self,
        principal: Principal,
        query: IncidentQuery,
        *,
        personal: bool = True,
        address: str | None = None,
    ) -> Page[Incident]:
        """A page of incidents; ``personal=False`` leaves personal data encrypted (a queue
        that shows none need not decrypt it, nor be recorded as a read of it)."""
        access.authorize(principal, Action.INCIDENT_LIST)
        _check_page(query.limit, query.offset)
        own = access.only_own_reports(principal)
        reveal = personal and (principal.role in access.STAFF or own)
        with self.store.read() as conn:
            page = repo.search(
                conn,
                self.store.cipher,
                self.store.taxonomy,
                query,
                org_id=None if principal.role is Role.ADMIN else principal.org_id,
                reporter_user_id=principal.user_id if own else None,
                reveal=reveal,
                show_locked=may_see_locked(principal.role),
            )
        if reveal and not own:
            shown = {
                i.public_id: read_audit.incident_groups(i, self.store.taxonomy) for i in page.items
            }
            read_audit.record(
                self.store,
                principal,
                entity="incident",
                entity_id="search",
                groups=set().union(*shown.values()),
                records=[pid for pid, groups in shown.items() if groups],
                address=address,
            )
        return page

    # -- changing -------------------------------------------------------------------------
    def update(
        self, principal: Principal, public_id: str, patch: IncidentPatch, address: str | None
    ) -> Incident:
        access.authorize(principal, Action.INCIDENT_UPDATE)
        tax = self.store.taxonomy
        values: dict[str, Any] = {}
        problems = []
        for section, name, value in (
            ("category", "category", patch.category),
            ("platform", "platform", patch.platform),
            ("region", "region", patch.region),
        ):
            if value is not None:
                try:
                    values[name] = tax.check(section, name, value)
                except InvalidInput as exc:
                    problems.extend(exc.problems)
        for section, name, seq in (
            ("attack_type", "attack_types", patch.attack_types),
            ("legal_reference", "legal_refs", patch.legal_refs),
        ):
            for i, v in enumerate(seq or ()):
                try:
                    tax.check(section, f"{name}[{i}]", v)
                except InvalidInput as exc:
                    problems.extend(exc.problems)
        if patch.attack_types is not None and not patch.attack_types:
            problems.append(
                InvalidInput.single("attack_types", "required", "keep at least one").problems[0]
            )
        if patch.title is not None and not patch.title.strip():
            problems.append(
                InvalidInput.single("title", "required", "a title cannot be empty").problems[0]
            )
        if patch.disarm_techniques is not None:
            from qorgau.reports.schemes import check_disarm

            try:
                values["disarm_techniques"] = list(check_disarm(patch.disarm_techniques)) or None
            except InvalidInput as exc:
                problems.extend(exc.problems)
        if patch.tlp is not None:
            values["tlp"] = str(patch.tlp)
        if patch.legal_provision is not None:
            values["legal_provision"] = str(patch.legal_provision)
        if problems:
            raise InvalidInput(problems)
        with self.store.write() as conn:
            before = self._visible(conn, principal, public_id)
            if before.status is Status.MERGED:
                raise Conflict(f"{public_id} was merged; edit the incident it was merged into")
            if patch.title is not None:
                values["title"] = patch.title.strip()
            if patch.description is not None:
                values["description"] = patch.description.strip()
            if "title" in values or "description" in values:
                values["search_text"] = search_text(
                    values.get("title", before.title), values.get("description", before.description)
                )
            if patch.severity is not None:
                values["severity"] = str(patch.severity)
                policy = response_docs.cache(self.store).for_org(before.org_id, conn).policy
                response_clocks.on_severity(conn, policy, before.id, patch.severity)
            if patch.ongoing is not None:
                values["ongoing"] = patch.ongoing
            now = self.store.now()
            values["updated_at"] = now
            repo.update_columns(conn, before.id, values)
            if patch.attack_types is not None:
                repo.replace_attack_types(conn, before.id, dict.fromkeys(patch.attack_types))
            if patch.legal_refs is not None:
                repo.replace_legal_refs(conn, before.id, dict.fromkeys(patch.legal_refs))
            after = repo.get_incident(conn, self.store.cipher, tax, public_id, reveal=False)
            self._audit(conn, principal, address, "incident:updated", before, after)
        return self.get(principal, public_id, address)

    def change_status(
        self,
        principal: Principal,
        public_id: str,
        status: Status,
        reason: str | None,
        address: str | None,
    ) -> Incident:
        access.authorize(principal, Action.INCIDENT_STATUS)
        with self.store.write() as conn:
            before = repo.get_incident(
                conn,
                self.store.cipher,
                self.store.taxonomy,
                public_id,
                reveal=False,
                for_update=True,
            )
            access.ensure_visible(principal, before)
            workflow.check_transition(before.status, status)
            now = self.store.now()
            repo.update_columns(conn, before.id, {"status": str(status), "updated_at": now})
            policy = response_docs.cache(self.store).for_org(before.org_id, conn).policy
            response_clocks.on_status(conn, policy, before.id, status, now)
            response_clocks.mark_responded(conn, before.id, now)
            after = repo.get_incident(
                conn, self.store.cipher, self.store.taxonomy, public_id, reveal=False
            )
            self._audit(
                conn,
                principal,
                address,
                "incident:status:changed",
                before,
                after,
                extra={"reason": reason} if reason else None,
            )
        return self.get(principal, public_id, address)

    def add_note(
        self,
        principal: Principal,
        public_id: str,
        body: str,
        sensitive: bool,
        address: str | None,
    ) -> Note:
        access.authorize(principal, Action.NOTE_ADD)
        text = body.strip()
        if not text:
            raise InvalidInput.single("body", "required", "a note cannot be empty")
        if len(text) > MAX_NOTE_LENGTH:
            raise InvalidInput.single("body", "max_length", f"at most {MAX_NOTE_LENGTH} characters")
        with self.store.write() as conn:
            incident = self._visible(conn, principal, public_id)
            note = repo.insert_note(
                conn,
                self.store.cipher,
                incident.id,
                principal.user_id,
                text,
                sensitive,
                self.store.now(),
            )
            if principal.role in access.STAFF:
                response_clocks.mark_responded(conn, incident.id, note.created_at)
            audit.record(
                conn,
                audit.audit_row(
                    Actor.of(principal, address),
                    "incident:note:added",
                    "incident",
                    public_id,
                    at=note.created_at,
                    after={
                        "note_id": note.id,
                        "sensitive": sensitive,
                        "body": "[encrypted]" if sensitive else text,
                    },
                ),
            )
        return note

    def notes(
        self,
        principal: Principal,
        public_id: str,
        limit: int,
        offset: int,
        address: str | None = None,
    ) -> tuple[list[Note], int]:
        access.authorize(principal, Action.NOTE_READ)
        _check_page(limit, offset)
        with self.store.read() as conn:
            incident = self._visible(conn, principal, public_id)
            ids = [incident.id, *repo.merged_ids(conn, incident.id)]
            found, total = repo.list_notes(conn, self.store.cipher, ids, limit, offset)
        read_audit.record(
            self.store,
            principal,
            entity="incident",
            entity_id=public_id,
            groups=read_audit.note_groups(found),
            address=address,
        )
        return found, total

    # -- campaigns and duplicates ---------------------------------------------------------
    def create_campaign(
        self, principal: Principal, name: str, description: str, address: str | None
    ) -> Campaign:
        access.authorize(principal, Action.CAMPAIGN_WRITE)
        if not name.strip():
            raise InvalidInput.single("name", "required", "give the campaign a name")
        with self.store.write() as conn:
            camp = repo.insert_campaign(
                conn, principal.org_id, name.strip(), description.strip(), self.store.now()
            )
            audit.record(
                conn,
                audit.audit_row(
                    Actor.of(principal, address),
                    "campaign:created",
                    "campaign",
                    camp.id,
                    at=camp.created_at,
                    after={"name": camp.name},
                ),
            )
        return camp

    def campaigns(
        self, principal: Principal, limit: int, offset: int
    ) -> tuple[list[tuple[Campaign, int]], int]:
        access.authorize(principal, Action.CAMPAIGN_READ)
        _check_page(limit, offset)
        with self.store.read() as conn:
            return repo.list_campaigns(
                conn, principal.org_id, limit, offset, show_locked=principal.role is Role.ADMIN
            )

    def link(
        self, principal: Principal, campaign_id: int, public_ids: list[str], address: str | None
    ) -> list[Incident]:
        access.authorize(principal, Action.CAMPAIGN_WRITE)
        if not public_ids:
            raise InvalidInput.single("incidents", "required", "name at least one incident")
        with self.store.write() as conn:
            camp = repo.get_campaign(conn, campaign_id)
            if camp.org_id != principal.org_id:
                raise NotFound(f"campaign {campaign_id} not found")
            now = self.store.now()
            for pid in dict.fromkeys(public_ids):
                before = self._visible(conn, principal, pid)
                if before.campaign_id == campaign_id:
                    continue
                repo.update_columns(
                    conn, before.id, {"campaign_id": campaign_id, "updated_at": now}
                )
                after = repo.get_incident(
                    conn, self.store.cipher, self.store.taxonomy, pid, reveal=False
                )
                self._audit(conn, principal, address, "incident:campaign:linked", before, after)
        with read_audit.one_event(self.store, principal, address):
            return [self.get(principal, pid) for pid in dict.fromkeys(public_ids)]

    def merge(
        self, principal: Principal, duplicate_id: str, into_id: str, address: str | None
    ) -> Incident:
        """Fold a duplicate into a surviving incident: its types, legal references and targets
        join the survivor; the duplicate stays, marked merged, so links to it still resolve."""
        access.authorize(principal, Action.INCIDENT_MERGE)
        with self.store.write() as conn:
            dup = self._visible(conn, principal, duplicate_id)
            survivor = self._visible(conn, principal, into_id)
            workflow.check_merge(dup, survivor)
            now = self.store.now()
            repo.update_columns(
                conn,
                dup.id,
                {"status": str(Status.MERGED), "merged_into_id": survivor.id, "updated_at": now},
            )
            policy = response_docs.cache(self.store).for_org(dup.org_id, conn).policy
            response_clocks.on_status(conn, policy, dup.id, Status.MERGED, now)
            repo.replace_attack_types(
                conn, survivor.id, dict.fromkeys([*survivor.attack_types, *dup.attack_types])
            )
            repo.replace_legal_refs(
                conn, survivor.id, dict.fromkeys([*survivor.legal_refs, *dup.legal_refs])
            )
            repo.move_targets(conn, dup.id, survivor.id)
            changes: dict[str, Any] = {"updated_at": now}
            if dup.started_at and (not survivor.started_at or dup.started_at < survivor.started_at):
                changes["started_at"] = dup.started_at
            if dup.reported_at < survivor.reported_at:
                changes["reported_at"] = dup.reported_at
            if _rank(dup.severity) < _rank(survivor.severity):
                changes["severity"] = str(dup.severity)
            if survivor.campaign_id is None and dup.campaign_id is not None:
                changes["campaign_id"] = dup.campaign_id
            repo.update_columns(conn, survivor.id, changes)
            get = repo.get_incident
            dup_after = get(
                conn, self.store.cipher, self.store.taxonomy, duplicate_id, reveal=False
            )
            surv_after = get(conn, self.store.cipher, self.store.taxonomy, into_id, reveal=False)
            self._audit(conn, principal, address, "incident:merged:away", dup, dup_after)
            self._audit(
                conn,
                principal,
                address,
                "incident:merged:into",
                survivor,
                surv_after,
                extra={"merged_from": duplicate_id},
            )
        return self.get(principal, into_id, address)

    # -- oversight ------------------------------------------------------------------------
    def audit_log(
        self,
        principal: Principal,
        *,
        entity: str | None,
        entity_id: str | None,
        tag_prefix: str | None,
        limit: int,
        offset: int,
        actor_id: int | None = None,
        actor_name: str | None = None,
    ) -> tuple[list[AuditEvent], int]:
        access.authorize(principal, Action.AUDIT_READ)
        _check_page(limit, offset)
        hide_reads = not access.may_read_access_log(principal)
        if hide_reads and tag_prefix and tag_prefix.startswith("read"):
            raise PermissionDenied("only administrators see who read personal data")
        with self.store.read() as conn:
            return audit.list_events(
                conn,
                org_id=None if principal.role is Role.ADMIN else principal.org_id,
                entity=entity,
                entity_id=entity_id,
                tag_prefix=tag_prefix,
                limit=limit,
                offset=offset,
                exclude_prefix=read_audit.READ_PREFIX if hide_reads else None,
                actor_id=actor_id,
                actor_name=actor_name,
                hide_locked_cases=principal.role is not Role.ADMIN,
            )

    def summary(self, principal: Principal) -> Summary:
        access.authorize(principal, Action.STATS_READ)
        c = incidents.c
        live = sa.and_(c.org_id == principal.org_id, c.status != "merged", unlocked())
        with self.store.read() as conn:

            def grouped(col: sa.ColumnElement[Any]) -> dict[str, int]:
                rows = conn.execute(sa.select(col, sa.func.count()).where(live).group_by(col))
                return {str(k): int(n) for k, n in rows if k is not None}

            total = conn.execute(sa.select(sa.func.count()).where(live)).scalar_one()
            types = conn.execute(
                sa.select(incident_attack_types.c.attack_type, sa.func.count())
                .join(incidents, incidents.c.id == incident_attack_types.c.incident_id)
                .where(live)
                .group_by(incident_attack_types.c.attack_type)
            )
            months: Counter[str] = Counter(
                d.strftime("%Y-%m")
                for d in conn.execute(sa.select(c.reported_at).where(live)).scalars()
            )
            return Summary(
                total=int(total),
                by_category=grouped(c.category),
                by_attack_type={k: int(n) for k, n in types},
                by_status=grouped(c.status),
                by_severity=grouped(c.severity),
                by_month=dict(sorted(months.items())),
            )

    # -- accounts -------------------------------------------------------------------------
    def login(
        self,
        username: str,
        password: str,
        token_name: str,
        address: str | None,
        otp: str | None = None,
    ) -> tuple[str, Any, User]:
        """An API token for a password, and for the current code when the account has a
        second factor (a stolen password alone then gets no token). Staff without a second
        factor get none at all while two factors are required (see ``sign_in_guard``)."""
        user = sign_in_guard.check_password(self.store, username, password, address)
        now = self.store.now()
        with self.store.write() as conn:
            secret, _, last = users.totp_state(conn, self.store.cipher, user.id)
            if secret is None:
                sign_in_guard.refuse_without_second_factor(self.store.settings, user)
                ok = True
            else:
                # A wrong code is audited in this transaction, which commits before the refusal.
                ok = sign_in_guard.accept_code(conn, user, secret, last, otp, now, address)
            if ok:
                ttl = timedelta(hours=self.store.settings.token_ttl_hours)
                token, expires = users.issue_token(conn, user.id, token_name, now, ttl)
                audit.record(
                    conn,
                    audit.audit_row(
                        Actor(user.id, user.username, user.org_id, address),
                        "user:token:issued",
                        "user",
                        user.id,
                        at=now,
                        after={"name": token_name},
                    ),
                )
        if not ok:
            raise AuthenticationRequired(
                "this account signs in with a two-factor code: send the current one as 'otp'"
            )
        return token, expires, user

    def logout(self, principal: Principal, token: str, address: str | None) -> None:
        now = self.store.now()
        with self.store.write() as conn:
            users.revoke_token(conn, token, now)
            audit.record(
                conn,
                audit.audit_row(
                    Actor.of(principal, address),
                    "user:token:revoked",
                    "user",
                    principal.user_id or 0,
                    at=now,
                ),
            )

    def principal_for_token(self, token: str) -> Principal:
        s = self.store.settings
        with self.store.read() as conn:
            return users.principal_for_token(
                conn,
                token,
                self.store.now(),
                session_max=web_session_ttl(s.session_ttl_hours),
                token_max=timedelta(hours=s.token_ttl_hours),
            )

    def create_user(
        self,
        principal: Principal,
        username: str,
        role: Role,
        password: str | None,
        display_name: str | None,
        address: str | None,
    ) -> User:
        access.authorize(principal, Action.USER_MANAGE)
        now = self.store.now()
        with self.store.write() as conn:
            user = users.create_user(
                conn,
                org_id=principal.org_id,
                username=username,
                role=role,
                password=password,
                display_name=display_name,
                now=now,
            )
            audit.record(
                conn,
                audit.audit_row(
                    Actor.of(principal, address),
                    "user:created",
                    "user",
                    user.id,
                    at=now,
                    after={"username": user.username, "role": str(role)},
                ),
            )
        response_docs.cache(self.store).invalidate(principal.org_id)
        return user

    def issue_token_for(
        self, principal: Principal, user_id: int, name: str, address: str | None
    ) -> tuple[str, Any]:
        """An API token for another user of the organisation (set-up and demo accounts)."""
        access.authorize(principal, Action.USER_MANAGE)
        now = self.store.now()
        with self.store.write() as conn:
            user = _org_user(conn, principal, user_id)
            ttl = timedelta(hours=self.store.settings.token_ttl_hours)
            token, expires = users.issue_token(conn, user.id, name, now, ttl)
            audit.record(
                conn,
                audit.audit_row(
                    Actor.of(principal, address),
                    "user:token:issued",
                    "user",
                    user.id,
                    at=now,
                    after={"name": name},
                ),
            )
        return token, expires

    def system(self, name: str) -> Principal:
        """The installation itself acting as administrator (the CLI on the server)."""
        return Principal(None, Role.ADMIN, self.default_org_id, name)

    def list_users(self, principal: Principal, limit: int, offset: int) -> tuple[list[User], int]:
        access.authorize(principal, Action.USER_MANAGE)
        _check_page(limit, offset)
        with self.store.read() as conn:
            return users.list_users(conn, principal.org_id, limit, offset)

    def set_user_active(
        self, principal: Principal, user_id: int, active: bool, address: str | None
    ) -> User:
        access.authorize(principal, Action.USER_MANAGE)
        now = self.store.now()
        with self.store.write() as conn:
            before = _org_user(conn, principal, user_id)
            if before.id == principal.user_id and not active:
                raise Conflict("you cannot deactivate your own account")
            users.set_active(conn, user_id, active)
            audit.record(
                conn,
                audit.audit_row(
                    Actor.of(principal, address),
                    "user:active:changed",
                    "user",
                    user_id,
                    at=now,
                    before={"active": before.active},
                    after={"active": active},
                ),
            )
            changed = users.get_user(conn, user_id)
        response_docs.cache(self.store).invalidate(principal.org_id)
        return changed

    # -- helpers --------------------------------------------------------------------------
    def _audit(
        self,
        conn: sa.Connection,
        principal: Principal,
        address: str | None,
        tag: str,
        before: Incident,
        after: Incident,
        extra: dict[str, Any] | None = None,
    ) -> None:
        b, a = audit_view(before), audit_view(after)
        changed = {k for k in a if a[k] != b.get(k)}
        after_doc: dict[str, Any] = {k: a[k] for k in sorted(changed)}
        if extra:
            after_doc.update(extra)
        audit.record(
            conn,
            audit.audit_row(
                Actor.of(principal, address),
                tag,
                "incident",
                after.public_id,
                at=self.store.now(),
                before={k: b.get(k) for k in sorted(changed)},
                after=after_doc,
            ),
        )


def _org_user(conn: sa.Connection, principal: Principal, user_id: int) -> User:
    """A user of the caller's organisation; another organisation's is reported as missing."""
    user = users.get_user(conn, user_id)
    if user.org_id != principal.org_id:
        raise NotFound(f"user {user_id} not found")
    return user


def _rank(severity: Severity) -> int:
    return list(Severity).index(severity)


def _check_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput.single("limit", "range", f"must be between 1 and {MAX_PAGE_SIZE}")
    if offset < 0:
        raise InvalidInput.single("offset", "range", "must be 0 or more")


def _scoped_key(principal: Principal, key: str | None) -> str | None:
    """Idempotency keys are per submitter, so one client's key never collides with another's."""
    if not key:
        return None
    who = f"u{principal.user_id}" if principal.user_id else "anon"
    return f"{who}:{key}"


def _without_reported_at(fields: ReportFields) -> ReportFields:
    return replace(fields, reported_at=None)
