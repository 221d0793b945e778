"""Storing new reports: idempotency, the incidents themselves and their audit events.

Every path that creates incidents (API, importer, CLI) comes through ``store_reports``, so a
duplicate submission is recognised the same way everywhere. It works on a whole batch with a
handful of statements — one look-up of idempotency keys, one multi-row insert per table — which
is what lets group commit take hundreds of reports per transaction cheaply, on SQLite and on
PostgreSQL alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from qorgau.domain.model import NewIncident
from qorgau.errors import Conflict, QorgauError
from qorgau.security.tokens import new_receipt_code, normalize_receipt, token_digest
from qorgau.store import audit
from qorgau.store.audit import Actor
from qorgau.store.bulk import BulkInsert, bulk_insert
from qorgau.store.deliveries import SIGNAL as DELIVERIES_SIGNAL
from qorgau.store.incidents import Stored
from qorgau.store.response_plan import RESPONSE_TABLES, response_rows
from qorgau.store.rows import incident_row, new_public_id, target_row
from qorgau.store.store import Store, signal
from qorgau.store.tables import (
    audit_events,
    deliveries,
    incident_attack_types,
    incident_legal_refs,
    incident_targets,
    incidents,
)

REUSED_KEY = (
    "this Idempotency-Key was already used for a different report; send a new key for a new report"
)


@dataclass(frozen=True)
class IntakeJob:
    new: NewIncident
    org_id: int
    reporter_user_id: int | None
    actor: Actor
    idempotency_key: str | None = None
    request_digest: str | None = None
    with_receipt: bool = False
    tag: str = "incident:reported"
    # Live reports start clocks, get playbooks and page the on-call responder; imported
    # history does not (a case from 2021 must not wake anyone at 3 a.m.).
    respond: bool = True
    public_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


Outcome = Stored | QorgauError


def _existing(
    conn: sa.Connection, store: Store, keys: list[str]
) -> dict[str, tuple[Stored, str | None]]:
    if not keys:
        return {}
    c = incidents.c
    rows = conn.execute(
        sa.select(c.id, c.public_id, c.receipt_enc, c.request_digest, c.idempotency_key).where(
            c.idempotency_key.in_(keys)
        )
    )
    return {
        r.idempotency_key: (
            Stored(
                r.id,
                r.public_id,
                store.cipher.decrypt(r.receipt_enc, "incidents.receipt"),
                replayed=True,
            ),
            r.request_digest,
        )
        for r in rows
    }


def _replay(found: tuple[Stored, str | None], job: IntakeJob) -> Outcome:
    stored, digest = found
    if digest is not None and job.request_digest is not None and digest != job.request_digest:
        return Conflict(REUSED_KEY)
    return stored


def _audit_after(public_id: str, new: NewIncident) -> dict[str, Any]:
    return {
        "public_id": public_id,
        "title": new.title,
        "attack_types": list(new.attack_types),
        "category": new.category,
        "severity": str(new.severity),
        "status": str(new.status),
        "targets": len(new.targets),
        "external_ref": new.external_ref,
    }


@dataclass
class PreparedReport:
    """Everything to insert for one report, encrypted and converted to driver parameters."""

    job: IntakeJob
    public_id: str
    receipt: str | None
    incident: tuple[Any, ...]
    children: dict[sa.Table, list[tuple[Any, ...]]]


CHILD_TABLES = (
    incident_attack_types,
    incident_legal_refs,
    incident_targets,
    audit_events,
    *RESPONSE_TABLES,
)


def _inserts(store: Store) -> tuple[BulkInsert, dict[sa.Table, BulkInsert]]:
    dialect = store.engine.dialect
    parent = bulk_insert(incidents, dialect.name, dialect, False)
    children = {
        t: bulk_insert(t, dialect.name, dialect, t is not audit_events) for t in CHILD_TABLES
    }
    return parent, children


def prepare_reports(store: Store, jobs: list[IntakeJob], now: datetime) -> list[PreparedReport]:
    """The CPU part of storing reports — rows, encryption, audit documents, parameter
    conversion — done before the write transaction, so that the time spent holding the
    database's write lock is only the statements themselves."""
    cipher, taxonomy = store.cipher, store.taxonomy
    parent, child = _inserts(store)
    sqlite = store.engine.dialect.name == "sqlite"
    prepared = []
    for job in jobs:
        new = job.new
        public_id = job.public_id or new_public_id()
        row = incident_row(
            cipher,
            new,
            org_id=job.org_id,
            reporter_user_id=job.reporter_user_id,
            now=now,
            public_id=public_id,
        )
        receipt = new_receipt_code() if job.with_receipt else None
        row.update(
            created_at=job.created_at or now,
            updated_at=job.updated_at or job.created_at or now,
            idempotency_key=job.idempotency_key,
            request_digest=job.request_digest,
            receipt_digest=token_digest(normalize_receipt(receipt)) if receipt else None,
            receipt_enc=cipher.encrypt(receipt, "incidents.receipt") if receipt else None,
            search_indexed=not sqlite,  # SQLite indexes new rows in bulk, later
        )
        children: dict[sa.Table, list[tuple[Any, ...]]] = {
            incident_attack_types: [
                child[incident_attack_types].row({"attack_type": a}, public_id)
                for a in new.attack_types
            ],
            incident_legal_refs: [
                child[incident_legal_refs].row({"legal_ref": r}, public_id) for r in new.legal_refs
            ],
            incident_targets: [
                child[incident_targets].row(target_row(cipher, taxonomy, 0, n, t), public_id)
                for n, t in enumerate(new.targets)
            ],
            audit_events: [
                child[audit_events].row(
                    audit.audit_row(
                        job.actor,
                        job.tag,
                        "incident",
                        public_id,
                        at=now,
                        after=_audit_after(public_id, new),
                    )
                )
            ],
        }
        if job.respond:
            for table, rows in response_rows(store, job.org_id, new, public_id, now).items():
                children[table] = [child[table].row(r, public_id) for r in rows]
        else:
            for table in RESPONSE_TABLES:
                children[table] = []
        prepared.append(PreparedReport(job, public_id, receipt, parent.row(row), children))
    return prepared


def write_prepared(
    conn: sa.Connection, store: Store, prepared: list[PreparedReport]
) -> list[Outcome]:
    """Insert prepared reports, replaying the ones whose idempotency key is already known.

    Returns one outcome per report, in order: the stored reference, or the error for that
    report alone (a key reused for a different report). Database errors propagate: the
    caller's transaction then stores nothing.
    """
    jobs = [p.job for p in prepared]
    known = _existing(conn, store, sorted({j.idempotency_key for j in jobs if j.idempotency_key}))
    outcomes: list[Outcome | None] = [None] * len(prepared)
    fresh: list[int] = []
    first_in_batch: dict[str, int] = {}
    for i, job in enumerate(jobs):
        key = job.idempotency_key
        if key and key in known:
            outcomes[i] = _replay(known[key], job)
        elif key and key in first_in_batch:
            continue  # resolved below, once the first one has its id
        else:
            if key:
                first_in_batch[key] = i
            fresh.append(i)
    if fresh:
        parent, child = _inserts(store)
        parent.execute(conn, [prepared[i].incident for i in fresh])
        ids = {
            public_id: incident_id
            for public_id, incident_id in conn.execute(
                sa.select(incidents.c.public_id, incidents.c.id).where(
                    incidents.c.public_id.in_([prepared[i].public_id for i in fresh])
                )
            )
        }
        for table in CHILD_TABLES:
            child[table].execute(conn, [r for i in fresh for r in prepared[i].children[table]], ids)
        for i in fresh:
            p = prepared[i]
            outcomes[i] = Stored(ids[p.public_id], p.public_id, p.receipt)
        if any(prepared[i].children[deliveries] for i in fresh):
            signal(conn, DELIVERIES_SIGNAL)  # wake the dispatcher once this commits
    for i, job in enumerate(jobs):
        if outcomes[i] is None:  # a second copy of a key first seen in this same batch
            j = first_in_batch[job.idempotency_key or ""]
            first = outcomes[j]
            assert isinstance(first, Stored)
            again = Stored(first.id, first.public_id, first.receipt_code, replayed=True)
            outcomes[i] = _replay((again, jobs[j].request_digest), job)
    return [o for o in outcomes if o is not None]


def store_reports(
    conn: sa.Connection, store: Store, jobs: list[IntakeJob], now: datetime
) -> list[Outcome]:
    """Prepare and write in one go (importer, CLI): see ``prepare_reports``/``write_prepared``."""
    return write_prepared(conn, store, prepare_reports(store, jobs, now))


def store_report(conn: sa.Connection, store: Store, job: IntakeJob, now: datetime) -> Stored:
    outcome = store_reports(conn, store, [job], now)[0]
    if isinstance(outcome, QorgauError):
        raise outcome
    return outcome
