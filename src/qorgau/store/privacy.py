"""SQL for consent, panic locks, legal holds, erasure and expiry.

``unlocked()`` is the one visibility predicate: every read of cases that is not an
administrator's (search, queues, statistics, exports, sharing) adds it, and ``locked_among``
marks the cases ``load_many`` builds so that ``access.ensure_visible`` hides single reads.
Locks live in their own small table, so the predicate is a NOT IN over a handful of ids and
the case list keeps answering from its covering index.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from qorgau.domain.model import Status
from qorgau.domain.privacy import (
    Answer,
    Consent,
    ConsentRecord,
    ConsentSource,
    LockSource,
)
from qorgau.store.audit import Actor
from qorgau.store.tables import (
    attachments,
    audit_events,
    case_locks,
    case_tasks,
    consent_records,
    incident_targets,
    incidents,
    legal_holds,
    notes,
    observations,
    referrals,
    statements,
    vault_custody,
    vault_items,
)

ERASED = "[erased]"
# Cases whose retention clock runs: nobody works on them any more.
CLOSED = (Status.CLOSED, Status.RESOLVED, Status.REJECTED, Status.MERGED)


def unlocked() -> sa.ColumnElement[bool]:
    """Cases not under a panic lock: the predicate every non-administrator read applies."""
    return incidents.c.id.not_in(sa.select(case_locks.c.incident_id))


def locked_among(conn: sa.Connection, ids: Sequence[int]) -> set[int]:
    if not ids:
        return set()
    return set(
        conn.execute(
            sa.select(case_locks.c.incident_id).where(case_locks.c.incident_id.in_(list(ids)))
        ).scalars()
    )


# -- consent ------------------------------------------------------------------------------
def _record(m: Any) -> ConsentRecord:
    partners = m["partners"]
    return ConsentRecord(
        id=m["id"],
        incident_id=m["incident_id"],
        consent=Consent(
            Answer(m["name_publicly"]),
            Answer(m["share"]),
            None if partners is None else tuple(partners),
        ),
        source=ConsentSource(m["source"]),
        recorded_by=m["recorded_by"],
        recorded_by_name=m["recorded_by_name"],
        recorded_at=m["recorded_at"],
        note=m["note"],
    )


def add_consent(
    conn: sa.Connection,
    incident_id: int,
    consent: Consent,
    source: ConsentSource,
    actor: Actor,
    now: datetime,
    note: str | None,
) -> ConsentRecord:
    row = {
        "incident_id": incident_id,
        "name_publicly": str(consent.name_publicly),
        "share": str(consent.share),
        "partners": None if consent.partners is None else list(consent.partners),
        "source": str(source),
        "recorded_by": actor.user_id,
        "recorded_by_name": actor.name,
        "recorded_at": now,
        "note": note,
    }
    rid = conn.execute(consent_records.insert().returning(consent_records.c.id), row).scalar_one()
    return _record({**row, "id": rid})


def consent_history(conn: sa.Connection, incident_id: int) -> list[ConsentRecord]:
    rows = conn.execute(
        sa.select(consent_records)
        .where(consent_records.c.incident_id == incident_id)
        .order_by(consent_records.c.id)
    ).mappings()
    return [_record(m) for m in rows]


def consents_for(conn: sa.Connection, ids: Sequence[int]) -> dict[int, Consent]:
    """The consent in force (latest record) of each case that has one."""
    out: dict[int, Consent] = {}
    for chunk in _chunks(list(ids), 500):
        latest = (
            sa.select(sa.func.max(consent_records.c.id))
            .where(consent_records.c.incident_id.in_(chunk))
            .group_by(consent_records.c.incident_id)
        )
        for m in conn.execute(
            sa.select(consent_records).where(consent_records.c.id.in_(latest))
        ).mappings():
            out[m["incident_id"]] = _record(m).consent
    return out


# -- locks and holds ----------------------------------------------------------------------
@dataclass(frozen=True)
class Lock:
    incident_id: int
    locked_at: datetime
    locked_by_name: str
    source: LockSource
    reason: str | None


def lock(
    conn: sa.Connection,
    incident_id: int,
    actor: Actor,
    source: LockSource,
    reason: str | None,
    now: datetime,
) -> bool:
    """Lock a case; ``False`` when it already was (the first lock and its reason stand)."""
    if lock_of(conn, incident_id) is not None:
        return False
    conn.execute(
        case_locks.insert(),
        {
            "incident_id": incident_id,
            "locked_at": now,
            "locked_by": actor.user_id,
            "locked_by_name": actor.name,
            "source": str(source),
            "reason": reason,
        },
    )
    return True


def lock_of(conn: sa.Connection, incident_id: int) -> Lock | None:
    m = (
        conn.execute(sa.select(case_locks).where(case_locks.c.incident_id == incident_id))
        .mappings()
        .first()
    )
    if m is None:
        return None
    return Lock(
        m["incident_id"], m["locked_at"], m["locked_by_name"], LockSource(m["source"]), m["reason"]
    )


def unlock(conn: sa.Connection, incident_id: int) -> bool:
    done = conn.execute(case_locks.delete().where(case_locks.c.incident_id == incident_id))
    return bool(done.rowcount)


def locked_cases(conn: sa.Connection) -> list[tuple[str, Lock]]:
    rows = conn.execute(
        sa.select(incidents.c.public_id, case_locks)
        .join(incidents, incidents.c.id == case_locks.c.incident_id)
        .order_by(case_locks.c.locked_at)
    ).mappings()
    return [
        (
            m["public_id"],
            Lock(
                m["incident_id"],
                m["locked_at"],
                m["locked_by_name"],
                LockSource(m["source"]),
                m["reason"],
            ),
        )
        for m in rows
    ]


def hold(conn: sa.Connection, incident_id: int, actor: Actor, reason: str, now: datetime) -> bool:
    if is_held(conn, incident_id):
        return False
    conn.execute(
        legal_holds.insert(),
        {
            "incident_id": incident_id,
            "held_at": now,
            "held_by": actor.user_id,
            "held_by_name": actor.name,
            "reason": reason,
        },
    )
    return True


def release(conn: sa.Connection, incident_id: int) -> bool:
    done = conn.execute(legal_holds.delete().where(legal_holds.c.incident_id == incident_id))
    return bool(done.rowcount)


def is_held(conn: sa.Connection, incident_id: int) -> bool:
    return (
        conn.execute(
            sa.select(legal_holds.c.incident_id).where(legal_holds.c.incident_id == incident_id)
        ).first()
        is not None
    )


# -- erasure ------------------------------------------------------------------------------
@dataclass
class Erased:
    """What one erasure removed: counts for the audit, never the content."""

    case_text: bool = False
    targets: int = 0
    reporter_contact: bool = False
    notes: int = 0
    attachments: int = 0
    evidence: int = 0
    audit_scrubbed: int = 0
    # Blobs no longer referenced by any content; the caller deletes their bytes after commit.
    orphaned: set[str] = field(default_factory=set)
    kept_shared: set[str] = field(default_factory=set)

    def counts(self) -> dict[str, int | bool]:
        return {
            "case_text": self.case_text,
            "targets": self.targets,
            "reporter_contact": self.reporter_contact,
            "notes": self.notes,
            "attachments": self.attachments,
            "evidence": self.evidence,
            "audit_scrubbed": self.audit_scrubbed,
            "blobs_deleted": len(self.orphaned),
            "blobs_kept_shared": len(self.kept_shared),
        }

    def anything(self) -> bool:
        return any(v for k, v in self.counts().items() if k != "blobs_kept_shared")


# Keys of audit documents that can carry personal content of a case (see rows.audit_view).
_AUDIT_PERSONAL = (
    "title", "description", "body", "targets", "reporter", "source_urls", "outcome",
)  # fmt: skip
# A "reason" or "note" typed on a case's event is about the person (why it was locked, a
# status change, a hand-over, a skipped step) and goes with the rest; these keep theirs: the
# erasure's and the expiry's own justification, and a legal hold's, which records a legal
# proceeding of the organisation rather than the person's words.
_AUDIT_KEEPS_REASON = frozenset({"incident:erased", "incident:expired", "incident:hold:placed"})


def erase_case_text(conn: sa.Connection, incident_id: int, public_id: str, out: Erased) -> None:
    """Title, description, links and targets' names go; categories, dates, types, region,
    platform, severity, status and targets' kinds and roles stay, so statistics still count."""
    i = incidents.c
    done = conn.execute(
        incidents.update()
        .where(i.id == incident_id, sa.or_(i.title != ERASED, i.description != ""))
        .values(
            title=ERASED,
            description="",
            search_text="",
            source_urls=[],
            perpetrator_description=None,
            external_ref=None,
        )
    )
    out.case_text = bool(done.rowcount)
    t = incident_targets.c
    done = conn.execute(
        incident_targets.update()
        .where(t.incident_id == incident_id, sa.or_(t.name_clear.is_(None), t.name_clear != ERASED))
        .values(
            name_clear=ERASED,
            name_enc=None,
            identifier_clear=None,
            identifier_enc=None,
            # The blind index would still answer "was this phone ever a target here?".
            bidx=sa.func.substr(sa.literal("erased:") + sa.cast(t.id, sa.String), 1, 64),
        )
    )
    out.targets = int(done.rowcount or 0)
    # Statements and referral outcomes are written about the person: their text goes too.
    conn.execute(
        statements.update()
        .where(statements.c.incident_id == incident_id, statements.c.body != ERASED)
        .values(body=ERASED)
    )
    conn.execute(
        referrals.update()
        .where(referrals.c.incident_id == incident_id, referrals.c.outcome.is_not(None))
        .values(outcome=None)
    )
    erase_case_free_text(conn, incident_id)
    # The audit keeps who changed what and when, not the erased words themselves.
    a = audit_events.c
    for m in conn.execute(
        sa.select(a.id, a.tag, a.before, a.after).where(
            a.entity == "incident", a.entity_id == public_id
        )
    ).mappings():
        extra = () if m["tag"] in _AUDIT_KEEPS_REASON else ("reason", "note")
        before, after = _scrub(m["before"], extra), _scrub(m["after"], extra)
        if before != m["before"] or after != m["after"]:
            conn.execute(
                audit_events.update().where(a.id == m["id"]).values(before=before, after=after)
            )
            out.audit_scrubbed += 1


def erase_case_free_text(conn: sa.Connection, incident_id: int) -> None:
    """Words typed about the person outside the case's own fields: consent notes, the
    reason a panic lock was pulled, tasks a responder added by hand and why a step was
    skipped. The records themselves (what was consented, that a lock is on) stay."""
    conn.execute(
        consent_records.update()
        .where(consent_records.c.incident_id == incident_id, consent_records.c.note.is_not(None))
        .values(note=None)
    )
    conn.execute(
        case_locks.update()
        .where(case_locks.c.incident_id == incident_id, case_locks.c.reason.is_not(None))
        .values(reason=None)
    )
    t = case_tasks.c
    conn.execute(
        case_tasks.update()
        .where(t.incident_id == incident_id, t.reason.is_not(None))
        .values(reason=None)
    )
    for task_id, title in conn.execute(
        sa.select(t.id, t.title).where(t.incident_id == incident_id, t.playbook_id.is_(None))
    ):
        if isinstance(title, dict) and title.get("custom") not in (None, ERASED):
            conn.execute(
                case_tasks.update().where(t.id == task_id).values(title={"custom": ERASED})
            )


def _scrub(doc: dict[str, Any] | None, extra: tuple[str, ...] = ()) -> dict[str, Any] | None:
    if not doc:
        return doc
    return {
        k: (ERASED if (k in _AUDIT_PERSONAL or k in extra) and v not in (None, ERASED) else v)
        for k, v in doc.items()
    }


def erase_reporter(conn: sa.Connection, incident_id: int, out: Erased) -> None:
    """The contact goes; the receipt's digest stays so the person can still track or lock."""
    i = incidents.c
    done = conn.execute(
        incidents.update()
        .where(i.id == incident_id, sa.or_(i.reporter_enc.is_not(None), i.receipt_enc.is_not(None)))
        .values(
            reporter_enc=None, reporter_email_bidx=None, reporter_phone_bidx=None, receipt_enc=None
        )
    )
    out.reporter_contact = bool(done.rowcount)


def erase_notes(conn: sa.Connection, incident_id: int, out: Erased) -> None:
    n = notes.c
    done = conn.execute(
        notes.update()
        .where(
            n.incident_id == incident_id,
            sa.or_(n.body_enc.is_not(None), n.body_clear.is_(None), n.body_clear != ERASED),
        )
        .values(body_clear=ERASED, body_enc=None, sensitive=False)
    )
    out.notes = int(done.rowcount or 0)


def erase_files(
    conn: sa.Connection, incident_id: int, now: datetime, out: Erased, *, evidence: bool
) -> None:
    """Mark attachments (or vault items) erased and note their blobs; the vault row and its
    log entry stay, so leaf hashes and signed tree heads are untouched."""
    if evidence:
        v = vault_items.c
        where = sa.and_(v.incident_id == incident_id, v.erased_at.is_(None))
        shas = set(conn.execute(sa.select(v.sha256).where(where)).scalars())
        ids = list(conn.execute(sa.select(v.id).where(where)).scalars())
        done = conn.execute(
            vault_items.update()
            .where(where)
            .values(
                erased_at=now, original_name_enc=None, source=None, search_text=None, details={}
            )
        )
        out.evidence += int(done.rowcount or 0)
        _scrub_custody(conn, ids)
    else:
        at = attachments.c
        where = sa.and_(at.incident_id == incident_id, at.erased_at.is_(None))
        shas = set(conn.execute(sa.select(at.sha256).where(where)).scalars())
        done = conn.execute(
            attachments.update().where(where).values(erased_at=now, filename_enc=None)
        )
        out.attachments += int(done.rowcount or 0)
    for sha in shas:
        (out.kept_shared if blob_in_use(conn, sha) else out.orphaned).add(sha)
    out.orphaned -= out.kept_shared


def _scrub_custody(conn: sa.Connection, item_ids: list[int]) -> None:
    """The chain of custody keeps who did what and when to an erased item; the captured
    page's address copied into it, and the reasons typed, go with the content and are marked
    erased (not emptied: a view without a reason would look like one nobody justified)."""
    c = vault_custody.c
    for chunk in (item_ids[i : i + 500] for i in range(0, len(item_ids), 500)):
        rows = conn.execute(
            sa.select(c.id, c.reason, c.detail).where(c.item_id.in_(chunk))
        ).mappings()
        for m in rows:
            detail = m["detail"]
            cleaned = (
                {k: (ERASED if k == "source" and v else v) for k, v in detail.items()}
                if isinstance(detail, dict)
                else detail
            )
            reason = ERASED if m["reason"] is not None else None
            if reason != m["reason"] or cleaned != detail:
                conn.execute(
                    vault_custody.update()
                    .where(c.id == m["id"])
                    .values(reason=reason, detail=cleaned)
                )


def blob_in_use(conn: sa.Connection, sha256: str) -> bool:
    """Whether any content not erased (this case's or another's) still needs these bytes."""
    for table in (attachments, vault_items):
        if conn.execute(
            sa.select(table.c.id)
            .where(table.c.sha256 == sha256, table.c.erased_at.is_(None))
            .limit(1)
        ).first():
            return True
    return False


def erased_items(conn: sa.Connection) -> list[tuple[int, int, str]]:
    """(item id, log index, SHA-256) of every vault item whose content was erased."""
    v = vault_items.c
    rows = conn.execute(
        sa.select(v.id, v.leaf_index, v.sha256)
        .where(v.erased_at.is_not(None))
        .order_by(v.leaf_index)
    )
    return [(int(r.id), int(r.leaf_index), str(r.sha256)) for r in rows]


# -- expiry -------------------------------------------------------------------------------
def closed_before(cutoff: datetime) -> sa.ColumnElement[bool]:
    """Cases closed (last touched) before ``cutoff`` and not under legal hold."""
    i = incidents.c
    return sa.and_(
        i.status.in_([str(s) for s in CLOSED]),
        i.updated_at < cutoff,
        i.id.not_in(sa.select(legal_holds.c.incident_id)),
    )


def still_expires(conn: sa.Connection, case_id: int, cutoff: datetime) -> bool:
    """Re-checked in the erasing transaction (the row locked on PostgreSQL): a case put under
    legal hold or reopened since it was selected must keep its content."""
    found = conn.execute(
        sa.select(incidents.c.id)
        .where(incidents.c.id == case_id, closed_before(cutoff))
        .with_for_update()
    ).first()
    return found is not None


def cases_with(
    conn: sa.Connection, kind: str, cutoff: datetime, limit: int
) -> list[tuple[int, str]]:
    """(id, public id) of closed, unheld cases that still hold content of ``kind``."""
    i = incidents.c
    has: sa.ColumnElement[bool]
    if kind == "case_personal":
        has = sa.or_(i.title != ERASED, i.description != "")
    elif kind == "reporter_contact":
        has = sa.or_(i.reporter_enc.is_not(None), i.receipt_enc.is_not(None))
    elif kind == "notes":
        n = notes.c
        has = i.id.in_(
            sa.select(n.incident_id).where(
                sa.or_(n.body_enc.is_not(None), n.body_clear.is_(None), n.body_clear != ERASED)
            )
        )
    elif kind == "attachments":
        has = i.id.in_(
            sa.select(attachments.c.incident_id).where(attachments.c.erased_at.is_(None))
        )
    elif kind == "evidence":
        has = i.id.in_(
            sa.select(vault_items.c.incident_id).where(
                vault_items.c.erased_at.is_(None), vault_items.c.incident_id.is_not(None)
            )
        )
    else:
        raise KeyError(kind)
    rows = conn.execute(
        sa.select(i.id, i.public_id).where(closed_before(cutoff), has).order_by(i.id).limit(limit)
    )
    return [(int(r.id), str(r.public_id)) for r in rows]


def expire_audit(conn: sa.Connection, cutoff: datetime) -> int:
    done = conn.execute(audit_events.delete().where(audit_events.c.at < cutoff))
    return int(done.rowcount or 0)


def expire_observations(conn: sa.Connection, cutoff: datetime) -> int:
    """Processed observations lose their text; the row stays for the findings that cite it."""
    o = observations.c
    done = conn.execute(
        observations.update()
        .where(o.processed_at.is_not(None), o.observed_at < cutoff, o.body != "")
        .values(body="")
    )
    return int(done.rowcount or 0)


def _chunks(values: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
