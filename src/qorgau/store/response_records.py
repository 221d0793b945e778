"""Referrals made, statements drafted, hygiene checklists tracked: the desk's follow-up records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from qorgau.errors import InvalidInput, NotFound
from qorgau.response.referrals import ReferralState
from qorgau.response.statements import StatementState
from qorgau.security.fields import FieldCipher
from qorgau.store.tables import hygiene_items, hygiene_subjects, referrals, statements

MAX_TEXT = 20_000


@dataclass(frozen=True)
class Referral:
    id: int
    incident_id: int
    partner_id: str
    need: str
    state: ReferralState
    outcome: str | None
    created_at: datetime
    created_by: int | None
    updated_at: datetime


@dataclass(frozen=True)
class Statement:
    id: int
    incident_id: int
    language: str
    body: str
    state: StatementState
    created_at: datetime
    created_by: int | None
    updated_at: datetime
    approved_at: datetime | None
    approved_by: int | None
    published_at: datetime | None


@dataclass(frozen=True)
class HygieneSubject:
    id: int
    org_id: int
    kind: str
    label: str
    checklist_id: str
    checklist_version: str
    created_at: datetime
    items: dict[str, tuple[str, str | None, datetime]]  # step -> (state, note, updated_at)


def _text(value: str | None, name: str) -> str | None:
    text = (value or "").strip() or None
    if text and len(text) > MAX_TEXT:
        raise InvalidInput.single(name, "max_length", f"at most {MAX_TEXT} characters")
    return text


# -- referrals ----------------------------------------------------------------------------
def _referral(m: Any) -> Referral:
    return Referral(
        m["id"],
        m["incident_id"],
        m["partner_id"],
        m["need"],
        ReferralState(m["state"]),
        m["outcome"],
        m["created_at"],
        m["created_by"],
        m["updated_at"],
    )


def add_referral(
    conn: sa.Connection,
    incident_id: int,
    partner_id: str,
    need: str,
    outcome: str | None,
    user_id: int | None,
    now: datetime,
) -> Referral:
    rid = conn.execute(
        referrals.insert()
        .values(
            incident_id=incident_id,
            partner_id=partner_id,
            need=need,
            state=str(ReferralState.MADE),
            outcome=_text(outcome, "outcome"),
            created_at=now,
            created_by=user_id,
            updated_at=now,
        )
        .returning(referrals.c.id)
    ).scalar_one()
    return get_referral(conn, incident_id, int(rid))


def get_referral(conn: sa.Connection, incident_id: int, referral_id: int) -> Referral:
    m = (
        conn.execute(
            sa.select(referrals).where(
                referrals.c.id == referral_id, referrals.c.incident_id == incident_id
            )
        )
        .mappings()
        .first()
    )
    if m is None:
        raise NotFound(f"referral {referral_id} not found on this case")
    return _referral(m)


def update_referral(
    conn: sa.Connection,
    incident_id: int,
    referral_id: int,
    state: ReferralState,
    outcome: str | None,
    now: datetime,
) -> tuple[Referral, Referral]:
    before = get_referral(conn, incident_id, referral_id)
    conn.execute(
        referrals.update()
        .where(referrals.c.id == referral_id)
        .values(
            state=str(state), outcome=_text(outcome, "outcome") or before.outcome, updated_at=now
        )
    )
    return before, get_referral(conn, incident_id, referral_id)


def list_referrals(conn: sa.Connection, incident_ids: list[int]) -> list[Referral]:
    rows = conn.execute(
        sa.select(referrals)
        .where(referrals.c.incident_id.in_(incident_ids))
        .order_by(referrals.c.id)
    ).mappings()
    return [_referral(m) for m in rows]


# -- statements ---------------------------------------------------------------------------
def _statement(m: Any) -> Statement:
    return Statement(
        m["id"],
        m["incident_id"],
        m["language"],
        m["body"],
        StatementState(m["state"]),
        m["created_at"],
        m["created_by"],
        m["updated_at"],
        m["approved_at"],
        m["approved_by"],
        m["published_at"],
    )


def add_statement(
    conn: sa.Connection,
    incident_id: int,
    language: str,
    body: str,
    user_id: int | None,
    now: datetime,
) -> Statement:
    sid = conn.execute(
        statements.insert()
        .values(
            incident_id=incident_id,
            language=language,
            body=body,
            state=str(StatementState.DRAFT),
            created_at=now,
            created_by=user_id,
            updated_at=now,
        )
        .returning(statements.c.id)
    ).scalar_one()
    return get_statement(conn, int(sid))


def get_statement(conn: sa.Connection, statement_id: int) -> Statement:
    m = (
        conn.execute(sa.select(statements).where(statements.c.id == statement_id))
        .mappings()
        .first()
    )
    if m is None:
        raise NotFound(f"statement {statement_id} not found")
    return _statement(m)


def set_statement(conn: sa.Connection, statement_id: int, values: dict[str, Any]) -> Statement:
    conn.execute(statements.update().where(statements.c.id == statement_id).values(values))
    return get_statement(conn, statement_id)


def list_statements(conn: sa.Connection, incident_ids: list[int]) -> list[Statement]:
    rows = conn.execute(
        sa.select(statements)
        .where(statements.c.incident_id.in_(incident_ids))
        .order_by(statements.c.id)
    ).mappings()
    return [_statement(m) for m in rows]


# -- hygiene ------------------------------------------------------------------------------
def add_subject(
    conn: sa.Connection,
    cipher: FieldCipher,
    org_id: int,
    kind: str,
    label: str,
    checklist_id: str,
    checklist_version: str,
    now: datetime,
) -> int:
    return int(
        conn.execute(
            hygiene_subjects.insert()
            .values(
                org_id=org_id,
                kind=kind,
                label_enc=cipher.encrypt(label, "hygiene_subjects.label"),
                checklist_id=checklist_id,
                checklist_version=checklist_version,
                created_at=now,
            )
            .returning(hygiene_subjects.c.id)
        ).scalar_one()
    )


def get_subject(conn: sa.Connection, cipher: FieldCipher, subject_id: int) -> HygieneSubject:
    m = (
        conn.execute(sa.select(hygiene_subjects).where(hygiene_subjects.c.id == subject_id))
        .mappings()
        .first()
    )
    if m is None:
        raise NotFound(f"hygiene checklist {subject_id} not found")
    return _subjects(conn, cipher, [m])[0]


def list_subjects(conn: sa.Connection, cipher: FieldCipher, org_id: int) -> list[HygieneSubject]:
    rows = conn.execute(
        sa.select(hygiene_subjects)
        .where(hygiene_subjects.c.org_id == org_id)
        .order_by(hygiene_subjects.c.id)
    ).mappings()
    return _subjects(conn, cipher, list(rows))


def _subjects(conn: sa.Connection, cipher: FieldCipher, rows: list[Any]) -> list[HygieneSubject]:
    ids = [m["id"] for m in rows]
    items: dict[int, dict[str, tuple[str, str | None, datetime]]] = {i: {} for i in ids}
    if ids:
        for r in conn.execute(
            sa.select(hygiene_items).where(hygiene_items.c.subject_id.in_(ids))
        ).mappings():
            items[r["subject_id"]][r["step_id"]] = (r["state"], r["note"], r["updated_at"])
    return [
        HygieneSubject(
            m["id"],
            m["org_id"],
            m["kind"],
            cipher.decrypt(m["label_enc"], "hygiene_subjects.label") or "",
            m["checklist_id"],
            m["checklist_version"],
            m["created_at"],
            items[m["id"]],
        )
        for m in rows
    ]


def set_item(
    conn: sa.Connection,
    subject_id: int,
    step_id: str,
    state: str,
    note: str | None,
    user_id: int | None,
    now: datetime,
) -> None:
    values = {"state": state, "note": _text(note, "note"), "updated_at": now, "updated_by": user_id}
    done = conn.execute(
        hygiene_items.update()
        .where(hygiene_items.c.subject_id == subject_id, hygiene_items.c.step_id == step_id)
        .values(values)
    )
    if done.rowcount == 0:
        conn.execute(
            hygiene_items.insert().values(subject_id=subject_id, step_id=step_id, **values)
        )
