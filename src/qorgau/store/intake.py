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
from qorgau.store.incidents import Stored
from qorgau.store.rows import incident_row, new_public_id, target_row
from qorgau.store.store import Store
from qorgau.store.tables import (
    audit_events,
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


def store_reports(
    conn: sa.Connection, store: Store, jobs: list[IntakeJob], now: datetime
) -> list[Outcome]:
    """Store every job that is new; replay the ones whose idempotency key is known.

    Returns one outcome per job, in order: the stored reference, or the error for that job
    alone (a key reused for a different report). Database errors propagate: the caller's
    transaction then stores nothing.
    """
    cipher, taxonomy = store.cipher, store.taxonomy
    known = _existing(conn, store, sorted({j.idempotency_key for j in jobs if j.idempotency_key}))
    outcomes: list[Outcome | None] = [None] * len(jobs)
    fresh: list[int] = []
    first_in_batch: dict[str, int] = {}
    rows: list[dict[str, Any]] = []
    receipts: list[str | None] = []
    for i, job in enumerate(jobs):
        key = job.idempotency_key
        if key and key in known:
            outcomes[i] = _replay(known[key], job)
            continue
        if key and key in first_in_batch:
            continue  # resolved below, once the first one has its id
        if key:
            first_in_batch[key] = i
        row = incident_row(
            cipher,
            job.new,
            org_id=job.org_id,
            reporter_user_id=job.reporter_user_id,
            now=now,
            public_id=job.public_id or new_public_id(),
        )
        receipt = new_receipt_code() if job.with_receipt else None
        row.update(
            created_at=job.created_at or now,
            updated_at=job.updated_at or job.created_at or now,
            idempotency_key=key,
            request_digest=job.request_digest,
            receipt_digest=token_digest(normalize_receipt(receipt)) if receipt else None,
            receipt_enc=cipher.encrypt(receipt, "incidents.receipt") if receipt else None,
        )
        fresh.append(i)
        rows.append(row)
        receipts.append(receipt)
    if rows:
        # One multi-row INSERT; RETURNING order is not guaranteed, so match on public_id.
        returned = conn.execute(
            incidents.insert().returning(incidents.c.public_id, incidents.c.id), rows
        ).all()
        by_public_id = {r.public_id: r.id for r in returned}
        types: list[dict[str, Any]] = []
        refs: list[dict[str, Any]] = []
        targets: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        for i, row, receipt in zip(fresh, rows, receipts, strict=True):
            job = jobs[i]
            new = job.new
            incident_id = by_public_id[row["public_id"]]
            types += [{"incident_id": incident_id, "attack_type": a} for a in new.attack_types]
            refs += [{"incident_id": incident_id, "legal_ref": r} for r in new.legal_refs]
            targets += [
                target_row(cipher, taxonomy, incident_id, n, t) for n, t in enumerate(new.targets)
            ]
            events.append(
                audit.audit_row(
                    job.actor,
                    job.tag,
                    "incident",
                    row["public_id"],
                    at=now,
                    after=_audit_after(row["public_id"], new),
                )
            )
            outcomes[i] = Stored(incident_id, row["public_id"], receipt)
        for table, values in (
            (incident_attack_types, types),
            (incident_legal_refs, refs),
            (incident_targets, targets),
            (audit_events, events),
        ):
            if values:
                conn.execute(table.insert(), values)
    for i, job in enumerate(jobs):
        if outcomes[i] is None:  # a second copy of a key first seen in this same batch
            j = first_in_batch[job.idempotency_key or ""]
            first = outcomes[j]
            assert isinstance(first, Stored)
            again = Stored(first.id, first.public_id, first.receipt_code, replayed=True)
            outcomes[i] = _replay((again, jobs[j].request_digest), job)
    return [o for o in outcomes if o is not None]


def store_report(conn: sa.Connection, store: Store, job: IntakeJob, now: datetime) -> Stored:
    outcome = store_reports(conn, store, [job], now)[0]
    if isinstance(outcome, QorgauError):
        raise outcome
    return outcome
