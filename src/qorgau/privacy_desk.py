"""People's control over their data: consent, legal holds, erasure, expiry and the panic lock.

Every change is authorized here (docs/decisions/0005), written with its audit event in one
transaction, and the audit says who did what and why, never the erased content. Blob bytes are
deleted only after the transaction commits, and only when no other content still needs them.
See docs/decisions/0026 for what each operation keeps and why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from qorgau.desk import CaseDesk
from qorgau.domain import access
from qorgau.domain.access import Action
from qorgau.domain.model import Incident, Principal, Role
from qorgau.domain.privacy import (
    CASE_KINDS,
    Consent,
    ConsentRecord,
    ConsentSource,
    LockSource,
    RecordKind,
    RetentionPolicy,
    check_reason,
    parse_retention,
    refusal_to_share,
)
from qorgau.errors import ConfigurationError, Conflict, InvalidInput, NotFound
from qorgau.periodic import PeriodicLoop
from qorgau.security.tokens import normalize_receipt, token_digest
from qorgau.store import audit, search_index
from qorgau.store import incidents as repo
from qorgau.store import privacy as privacy_repo
from qorgau.store.audit import Actor
from qorgau.store.blobs import BlobStore
from qorgau.store.privacy import Erased, Lock
from qorgau.store.tables import incidents

log = logging.getLogger("qorgau.privacy")

RECEIPT_HOLDER = "receipt holder"
RETENTION = "retention"
BATCH = 200


@dataclass(frozen=True)
class ExpiryReport:
    """What one expiry run erased, per kind: cases touched, or rows for audit/observations."""

    counts: dict[str, int] = field(default_factory=dict)
    held_skipped: int = 0


class PrivacyDesk:
    def __init__(self, cases: CaseDesk, blobs: BlobStore | None = None) -> None:
        self.cases = cases
        self.store = cases.store
        self._blobs = blobs

    @property
    def blobs(self) -> BlobStore:
        if self._blobs is None:
            self._blobs = BlobStore.for_settings(self.store.settings)
        return self._blobs

    def retention(self) -> RetentionPolicy:
        """The policy in force: defaults, changed by the document ``QORGAU_RETENTION_FILE``."""
        path = self.store.settings.retention_file
        if path is None:
            return RetentionPolicy()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read the retention document {path}: {exc.strerror}"
            ) from exc
        return parse_retention(text)

    def _case(self, conn: sa.Connection, principal: Principal, public_id: str) -> Incident:
        incident = repo.get_incident(
            conn, self.store.cipher, self.store.taxonomy, public_id, reveal=False, for_update=True
        )
        access.ensure_visible(principal, incident)
        return incident

    def _by_receipt(self, conn: sa.Connection, receipt_code: str) -> tuple[int, str, int]:
        """(id, public id, organisation) of the case with this receipt code."""
        code = (receipt_code or "").strip()
        if not code:
            raise InvalidInput.single("receipt_code", "required", "give the receipt code")
        row = conn.execute(
            sa.select(incidents.c.id, incidents.c.public_id, incidents.c.org_id).where(
                incidents.c.receipt_digest == token_digest(normalize_receipt(code))
            )
        ).first()
        if row is None:
            raise NotFound("no report has this receipt code; check it letter by letter")
        return int(row.id), str(row.public_id), int(row.org_id)

    # -- consent --------------------------------------------------------------------------
    def consent_history(self, principal: Principal, public_id: str) -> list[ConsentRecord]:
        """Every consent recorded for the case, oldest first; the last one is in force."""
        access.authorize(principal, Action.CONSENT_READ)
        with self.store.read() as conn:
            incident = repo.get_incident(
                conn, self.store.cipher, self.store.taxonomy, public_id, reveal=False
            )
            access.ensure_visible(principal, incident)
            return privacy_repo.consent_history(conn, incident.id)

    def record_consent(
        self,
        principal: Principal,
        public_id: str,
        consent: Consent,
        *,
        source: ConsentSource = ConsentSource.RESPONDER,
        note: str | None = None,
        address: str | None = None,
    ) -> ConsentRecord:
        """Staff record what the person said (on their word, or from a paper form)."""
        access.authorize(principal, Action.CONSENT_WRITE)
        if source is ConsentSource.TRACK_PAGE:
            raise InvalidInput.single(
                "source",
                "not_allowed",
                "track_page is the person's own answer; staff record report_form or responder",
            )
        note = check_reason(note, required=False)
        with self.store.write() as conn:
            incident = self._case(conn, principal, public_id)
            return self._consent(
                conn, incident.id, public_id, consent, source, Actor.of(principal, address), note
            )

    def record_consent_by_receipt(
        self, receipt_code: str, consent: Consent, address: str | None = None
    ) -> tuple[str, ConsentRecord]:
        """The person's own answer, from the track page with their receipt code."""
        with self.store.write() as conn:
            case_id, public_id, org_id = self._by_receipt(conn, receipt_code)
            actor = Actor(None, RECEIPT_HOLDER, org_id, address)
            rec = self._consent(
                conn, case_id, public_id, consent, ConsentSource.TRACK_PAGE, actor, None
            )
            return public_id, rec

    def _consent(
        self,
        conn: sa.Connection,
        incident_id: int,
        public_id: str,
        consent: Consent,
        source: ConsentSource,
        actor: Actor,
        note: str | None,
    ) -> ConsentRecord:
        now = self.store.now()
        rec = privacy_repo.add_consent(conn, incident_id, consent, source, actor, now, note)
        audit.record(
            conn,
            audit.audit_row(
                actor,
                "incident:consent:recorded",
                "incident",
                public_id,
                at=now,
                after={
                    "name_publicly": str(consent.name_publicly),
                    "share": str(consent.share),
                    "partners": None if consent.partners is None else list(consent.partners),
                    "source": str(source),
                },
            ),
        )
        return rec

    def check_share(self, principal: Principal, public_id: str, partner: str | None) -> None:
        """Raise ``Conflict`` saying why the case may not go to ``partner``."""
        access.authorize(principal, Action.CONSENT_READ)
        with self.store.read() as conn:
            incident = repo.get_incident(
                conn, self.store.cipher, self.store.taxonomy, public_id, reveal=False
            )
            access.ensure_visible(principal, incident)
            consent = privacy_repo.consents_for(conn, [incident.id]).get(incident.id)
        why = refusal_to_share(consent, partner.strip() if partner else None)
        if why is not None:
            raise Conflict(f"{public_id} may not be shared: {why}")

    # -- legal hold -----------------------------------------------------------------------
    def hold(
        self, principal: Principal, public_id: str, reason: str | None, address: str | None = None
    ) -> bool:
        """Stop expiry and erasure of the case; ``False`` when it already was on hold."""
        access.authorize(principal, Action.LEGAL_HOLD)
        why = check_reason(reason, required=True)
        assert why is not None
        with self.store.write() as conn:
            incident = self._case(conn, principal, public_id)
            now = self.store.now()
            actor = Actor.of(principal, address)
            placed = privacy_repo.hold(conn, incident.id, actor, why, now)
            if placed:
                audit.record(
                    conn,
                    audit.audit_row(
                        actor, "incident:hold:placed", "incident", public_id, at=now,
                        after={"reason": why},
                    ),
                )  # fmt: skip
            return placed

    def release_hold(
        self, principal: Principal, public_id: str, address: str | None = None
    ) -> None:
        access.authorize(principal, Action.LEGAL_HOLD)
        with self.store.write() as conn:
            incident = self._case(conn, principal, public_id)
            if not privacy_repo.release(conn, incident.id):
                raise Conflict(f"{public_id} is not under legal hold")
            audit.record(
                conn,
                audit.audit_row(
                    Actor.of(principal, address),
                    "incident:hold:released",
                    "incident",
                    public_id,
                    at=self.store.now(),
                ),
            )

    # -- erasure --------------------------------------------------------------------------
    def erase(
        self, principal: Principal, public_id: str, reason: str | None, address: str | None = None
    ) -> Erased:
        """Erase the case's personal content on the person's request. Counts, categories and
        the evidence log stay: statistics still count the case, and ``vault verify`` still
        passes, listing the erased entries (hash kept, content gone)."""
        access.authorize(principal, Action.CASE_ERASE)
        why = check_reason(reason, required=True)
        with self.store.write() as conn:
            incident = self._case(conn, principal, public_id)
            if privacy_repo.is_held(conn, incident.id):
                raise Conflict(
                    f"{public_id} is under legal hold: nothing of it may be erased until an"
                    " administrator, coordinator or lawyer lifts the hold"
                )
            now = self.store.now()
            out = Erased()
            privacy_repo.erase_case_text(conn, incident.id, public_id, out)
            privacy_repo.erase_reporter(conn, incident.id, out)
            privacy_repo.erase_notes(conn, incident.id, out)
            privacy_repo.erase_files(conn, incident.id, now, out, evidence=False)
            privacy_repo.erase_files(conn, incident.id, now, out, evidence=True)
            audit.record(
                conn,
                audit.audit_row(
                    Actor.of(principal, address),
                    "incident:erased",
                    "incident",
                    public_id,
                    at=now,
                    after={"reason": why, "on": "request", **out.counts()},
                ),
            )
        self._delete_blobs(out)
        search_index.purge_erased(self.store)
        return out

    def _delete_blobs(self, out: Erased) -> None:
        """After commit: delete bytes nothing needs any more (re-checked, in case another case
        took the same file in the meantime)."""
        deleter = getattr(self.blobs.backend, "delete", None)
        if deleter is None:
            raise ConfigurationError("this blob storage cannot delete; erase the blobs by hand")
        with self.store.read() as conn:
            still = {sha for sha in out.orphaned if privacy_repo.blob_in_use(conn, sha)}
        out.kept_shared |= still
        out.orphaned -= still
        for sha in sorted(out.orphaned):
            deleter(sha)

    # -- panic lock -----------------------------------------------------------------------
    def lock(
        self, principal: Principal, public_id: str, reason: str | None, address: str | None = None
    ) -> bool:
        """Hide the case at once from everyone but administrators; ``False`` if it already was."""
        access.authorize(principal, Action.CASE_LOCK)
        why = check_reason(reason, required=False)
        with self.store.write() as conn:
            incident = self._case(conn, principal, public_id)
            return self._lock(
                conn, incident.id, public_id, Actor.of(principal, address), LockSource.STAFF, why
            )

    def lock_by_receipt(self, receipt_code: str, address: str | None = None) -> str:
        """The at-risk person pulls the lock with their receipt code. Locking twice is fine."""
        with self.store.write() as conn:
            case_id, public_id, org_id = self._by_receipt(conn, receipt_code)
            actor = Actor(None, RECEIPT_HOLDER, org_id, address)
            self._lock(conn, case_id, public_id, actor, LockSource.RECEIPT, None)
        return public_id

    def _lock(
        self,
        conn: sa.Connection,
        incident_id: int,
        public_id: str,
        actor: Actor,
        source: LockSource,
        reason: str | None,
    ) -> bool:
        now = self.store.now()
        placed = privacy_repo.lock(conn, incident_id, actor, source, reason, now)
        if placed:
            audit.record(
                conn,
                audit.audit_row(
                    actor, "incident:lock:placed", "incident", public_id, at=now,
                    after={"source": str(source), "reason": reason},
                ),
            )  # fmt: skip
        return placed

    def unlock(self, principal: Principal, public_id: str, address: str | None = None) -> None:
        access.authorize(principal, Action.CASE_UNLOCK)
        with self.store.write() as conn:
            incident = self._case(conn, principal, public_id)
            if not privacy_repo.unlock(conn, incident.id):
                raise Conflict(f"{public_id} is not locked")
            audit.record(
                conn,
                audit.audit_row(
                    Actor.of(principal, address),
                    "incident:lock:lifted",
                    "incident",
                    public_id,
                    at=self.store.now(),
                ),
            )

    def locks(self, principal: Principal) -> list[tuple[str, Lock]]:
        """Every locked case (administrators only: they alone may lift a lock)."""
        access.authorize(principal, Action.CASE_UNLOCK)
        with self.store.read() as conn:
            return privacy_repo.locked_cases(conn)

    def is_locked(self, principal: Principal, public_id: str) -> bool:
        """Whether a case the caller can see is locked (only administrators see locked ones).
        Read without personal data, so asking is not recorded as a read of the case."""
        access.authorize(principal, Action.INCIDENT_READ)
        with self.store.read() as conn:
            return self.cases._visible(conn, principal, public_id).locked

    # -- expiry ---------------------------------------------------------------------------
    def expire(self, principal: Principal, now: datetime | None = None) -> ExpiryReport:
        """Erase whatever is past its retention period. Idempotent and resumable: each case is
        one transaction, and a case already erased is not selected again."""
        if principal.role is not Role.ADMIN:
            access.authorize(principal, Action.CASE_ERASE)
        policy = self.retention()
        now = now or self.store.now()
        counts: dict[str, int] = {}
        actor = Actor.system(RETENTION)
        for kind in RecordKind:
            cutoff = policy.cutoff(kind, now)
            if cutoff is None:
                continue
            if kind in CASE_KINDS:
                counts[str(kind)] = self._expire_cases(kind, cutoff, actor, policy)
                continue
            with self.store.write() as conn:
                if kind is RecordKind.AUDIT:
                    n = privacy_repo.expire_audit(conn, cutoff)
                else:
                    n = privacy_repo.expire_observations(conn, cutoff)
                if n:
                    audit.record(
                        conn,
                        audit.audit_row(
                            actor, f"privacy:{kind}:expired", "organisation", "*", at=now,
                            after={"rows": n, "before": cutoff.isoformat()},
                        ),
                    )  # fmt: skip
            counts[str(kind)] = n
        if any(counts.values()):
            search_index.purge_erased(self.store)
        return ExpiryReport(counts)

    def _expire_cases(
        self, kind: RecordKind, cutoff: datetime, actor: Actor, policy: RetentionPolicy
    ) -> int:
        done = 0
        while True:
            with self.store.read() as conn:
                batch = privacy_repo.cases_with(conn, str(kind), cutoff, BATCH)
            if not batch:
                return done
            for case_id, public_id in batch:
                out = Erased()
                now = self.store.now()
                with self.store.write() as conn:
                    if not privacy_repo.still_expires(conn, case_id, cutoff):
                        continue  # held or reopened since it was selected
                    _erase_kind(conn, kind, case_id, public_id, now, out)
                    audit.record(
                        conn,
                        audit.audit_row(
                            actor, "incident:expired", "incident", public_id, at=now,
                            after={"kind": str(kind), "days": policy.days.get(kind),
                                   **out.counts()},
                        ),
                    )  # fmt: skip
                if out.orphaned:
                    self._delete_blobs(out)
                done += 1
            if len(batch) < BATCH:
                return done


def _erase_kind(
    conn: sa.Connection,
    kind: RecordKind,
    case_id: int,
    public_id: str,
    now: datetime,
    out: Erased,
) -> None:
    if kind is RecordKind.CASE_PERSONAL:
        privacy_repo.erase_case_text(conn, case_id, public_id, out)
    elif kind is RecordKind.REPORTER_CONTACT:
        privacy_repo.erase_reporter(conn, case_id, out)
    elif kind is RecordKind.NOTES:
        privacy_repo.erase_notes(conn, case_id, out)
    elif kind is RecordKind.ATTACHMENTS:
        privacy_repo.erase_files(conn, case_id, now, out, evidence=False)
    elif kind is RecordKind.EVIDENCE:
        privacy_repo.erase_files(conn, case_id, now, out, evidence=True)


class ExpiryLoop(PeriodicLoop):
    """Runs ``expire`` in the server every ``interval`` seconds (default: hourly). Every server
    process runs one; expiry is idempotent, so two processes at once only repeat a check."""

    name = "qorgau-privacy-expiry"
    log = log
    step_first = False  # the server has just started: the first pass waits an interval

    def __init__(self, desk: PrivacyDesk, interval: float = 3600.0) -> None:
        super().__init__(interval)
        self.desk = desk

    def step(self) -> None:
        self.desk.expire(self.desk.cases.system(RETENTION))


def lock_view(public_id: str, lock: Lock) -> dict[str, Any]:
    return {
        "public_id": public_id,
        "locked_at": lock.locked_at,
        "locked_by": lock.locked_by_name,
        "source": str(lock.source),
        "reason": lock.reason,
    }
