"""Storing a new report: idempotency, the incident itself and its audit event, in one go.

Used by every path that creates incidents (API, importer, CLI), so that a duplicate submission
is recognised the same way everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from qorgau.domain.model import NewIncident
from qorgau.errors import Conflict
from qorgau.store import audit
from qorgau.store.audit import Actor
from qorgau.store.incidents import Stored, find_idempotent, insert_incident
from qorgau.store.store import Store


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


def store_report(conn: sa.Connection, store: Store, job: IntakeJob, now: datetime) -> Stored:
    if job.idempotency_key:
        found = find_idempotent(conn, store.cipher, job.idempotency_key)
        if found is not None:
            stored, digest = found
            if (
                digest is not None
                and job.request_digest is not None
                and digest != job.request_digest
            ):
                raise Conflict(
                    "this Idempotency-Key was already used for a different report; "
                    "send a new key for a new report"
                )
            return stored
    stored = insert_incident(
        conn,
        store.cipher,
        store.taxonomy,
        job.new,
        org_id=job.org_id,
        reporter_user_id=job.reporter_user_id,
        now=now,
        idempotency_key=job.idempotency_key,
        request_digest=job.request_digest,
        with_receipt=job.with_receipt,
        public_id=job.public_id,
        created_at=job.created_at,
        updated_at=job.updated_at,
    )
    audit.record(
        conn,
        audit.audit_row(
            job.actor,
            job.tag,
            "incident",
            stored.public_id,
            at=now,
            after={
                "public_id": stored.public_id,
                "title": job.new.title,
                "attack_types": list(job.new.attack_types),
                "category": job.new.category,
                "severity": str(job.new.severity),
                "status": str(job.new.status),
                "targets": len(job.new.targets),
                "external_ref": job.new.external_ref,
            },
        ),
    )
    return stored
