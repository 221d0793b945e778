"""Incident repository: SQL for reading and writing incidents and what hangs off them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from qorgau.domain.identifiers import normalize_identifier, normalize_text
from qorgau.domain.model import Campaign, Incident, Note, Target
from qorgau.domain.privacy import named_targets
from qorgau.domain.queries import IncidentQuery, Page
from qorgau.domain.taxonomy import Taxonomy
from qorgau.errors import InvalidInput, NotFound
from qorgau.security.fields import FieldCipher
from qorgau.security.tokens import normalize_receipt, token_digest
from qorgau.store import privacy as privacy_repo
from qorgau.store.rows import (
    decode_incident,
    decode_note,
    decode_target,
    search_tokens,
    target_bidx,
)
from qorgau.store.search_index import match_condition
from qorgau.store.statistics import value_condition
from qorgau.store.tables import (
    campaigns,
    incident_attack_types,
    incident_legal_refs,
    incident_targets,
    incidents,
    notes,
)

PROTECTED = "[protected]"


@dataclass(frozen=True)
class Stored:
    """What intake tells the submitter: the case reference and, once, the receipt code."""

    id: int
    public_id: str
    receipt_code: str | None
    replayed: bool = False


def _children(
    conn: sa.Connection, cipher: FieldCipher, taxonomy: Taxonomy, ids: Sequence[int], reveal: bool
) -> tuple[dict[int, list[str]], dict[int, list[str]], dict[int, list[Target]]]:
    types: dict[int, list[str]] = defaultdict(list)
    refs: dict[int, list[str]] = defaultdict(list)
    targets: dict[int, list[Target]] = defaultdict(list)
    if not ids:
        return types, refs, targets
    for r in conn.execute(
        sa.select(incident_attack_types).where(incident_attack_types.c.incident_id.in_(ids))
    ):
        types[r.incident_id].append(r.attack_type)
    for r in conn.execute(
        sa.select(incident_legal_refs).where(incident_legal_refs.c.incident_id.in_(ids))
    ):
        refs[r.incident_id].append(r.legal_ref)
    for m in conn.execute(
        sa.select(incident_targets)
        .where(incident_targets.c.incident_id.in_(ids))
        .order_by(incident_targets.c.incident_id, incident_targets.c.position)
    ).mappings():
        if reveal or not taxonomy.is_sensitive_target(m["kind"]):
            targets[m["incident_id"]].append(decode_target(cipher, m))
        else:
            targets[m["incident_id"]].append(Target(m["kind"], PROTECTED, None, "", False))
    return types, refs, targets


def load_many(
    conn: sa.Connection,
    cipher: FieldCipher,
    taxonomy: Taxonomy,
    rows: Sequence[Any],
    *,
    reveal: bool,
) -> list[Incident]:
    ids = [r["id"] for r in rows]
    types, refs, targets = _children(conn, cipher, taxonomy, ids, reveal)
    # The consent in force decides who may be named (every public output reads
    # ``consent_public``), and a lock hides the case (``access.ensure_visible``).
    consents = privacy_repo.consents_for(conn, ids)
    locked = privacy_repo.locked_among(conn, ids)
    return [
        replace(
            decode_incident(
                cipher,
                r,
                tuple(sorted(types[r["id"]])),
                tuple(sorted(refs[r["id"]])),
                named_targets(consents.get(r["id"]), tuple(targets[r["id"]])),
                reveal=reveal,
            ),
            locked=r["id"] in locked,
        )
        for r in rows
    ]


def get_incident(
    conn: sa.Connection,
    cipher: FieldCipher,
    taxonomy: Taxonomy,
    public_id: str,
    *,
    reveal: bool,
    for_update: bool = False,
) -> Incident:
    stmt = sa.select(incidents).where(incidents.c.public_id == public_id)
    if for_update and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).mappings().first()
    if row is None:
        raise NotFound(f"incident {public_id} not found")
    return load_many(conn, cipher, taxonomy, [row], reveal=reveal)[0]


def get_by_receipt(conn: sa.Connection, code: str) -> tuple[str, str, datetime] | None:
    """Public id, status and last update of the report with this receipt code."""
    r = conn.execute(
        sa.select(incidents.c.public_id, incidents.c.status, incidents.c.updated_at).where(
            incidents.c.receipt_digest == token_digest(normalize_receipt(code))
        )
    ).first()
    return (r.public_id, r.status, r.updated_at) if r else None


def _fts_condition(conn: sa.Connection, text: str) -> sa.ColumnElement[bool] | None:
    words = search_tokens(text)[:12]
    if not words:
        # "%" or "'" has no word to look for: it finds nothing rather than everything.
        return sa.false() if text.strip() else None
    return match_condition(conn, words)


def target_candidates(cipher: FieldCipher, taxonomy: Taxonomy, value: str) -> list[str]:
    """Blind indexes the free-text ``value`` could have as a target of any kind."""
    out: list[str] = []
    for kind in taxonomy.ids("target_kind", include_retired=True):
        try:
            canonical = normalize_identifier(kind, value, "target")
        except InvalidInput:
            continue
        out.append(target_bidx(cipher, kind, canonical))
        out.append(target_bidx(cipher, kind, normalize_text(value)))
    return sorted(set(out))


def search(
    conn: sa.Connection,
    cipher: FieldCipher,
    taxonomy: Taxonomy,
    q: IncidentQuery,
    *,
    org_id: int | None,
    reporter_user_id: int | None,
    reveal: bool,
    show_locked: bool = False,
) -> Page[Incident]:
    c = incidents.c
    cond: list[sa.ColumnElement[bool]] = []
    if not show_locked:
        cond.append(privacy_repo.unlocked())
    if org_id is not None:
        cond.append(c.org_id == org_id)
    if reporter_user_id is not None:
        cond.append(c.reporter_user_id == reporter_user_id)
    if not q.include_merged:
        cond.append(c.status != "merged")
    if q.text and (fts := _fts_condition(conn, q.text)) is not None:
        cond.append(fts)
    if q.attack_types:
        cond.append(
            c.id.in_(
                sa.select(incident_attack_types.c.incident_id).where(
                    incident_attack_types.c.attack_type.in_(q.attack_types)
                )
            )
        )
    if q.categories:
        cond.append(c.category.in_(q.categories))
    if q.statuses:
        cond.append(c.status.in_([str(s) for s in q.statuses]))
    if q.severities:
        cond.append(c.severity.in_([str(s) for s in q.severities]))
    if q.platforms:
        cond.append(c.platform.in_(q.platforms))
    if q.regions:
        cond.append(c.region.in_(q.regions))
    if q.campaign_id is not None:
        cond.append(c.campaign_id == q.campaign_id)
    if q.reported_from:
        cond.append(c.reported_at >= q.reported_from)
    if q.reported_to:
        cond.append(c.reported_at < q.reported_to)
    if q.target:
        cond.append(
            c.id.in_(
                sa.select(incident_targets.c.incident_id).where(
                    incident_targets.c.bidx.in_(target_candidates(cipher, taxonomy, q.target))
                )
            )
        )
    for dim, values in q.dimensions.items():
        if values:
            cond.append(value_condition(dim, values))
    where = sa.and_(sa.true(), *cond)
    total = conn.execute(sa.select(sa.func.count()).select_from(incidents).where(where))
    # Page the ids first (answered from the covering list index), then read only those rows.
    page_ids = (
        conn.execute(
            sa.select(c.id)
            .where(where)
            .order_by(c.reported_at.desc(), c.id.desc())
            .limit(q.limit)
            .offset(q.offset)
        )
        .scalars()
        .all()
    )
    by_id = {
        r["id"]: r for r in conn.execute(sa.select(incidents).where(c.id.in_(page_ids))).mappings()
    }
    rows = [by_id[i] for i in page_ids if i in by_id]
    items = load_many(conn, cipher, taxonomy, rows, reveal=reveal)
    return Page(tuple(items), int(total.scalar_one()), q.limit, q.offset)


def update_columns(conn: sa.Connection, incident_id: int, values: dict[str, Any]) -> None:
    conn.execute(incidents.update().where(incidents.c.id == incident_id).values(**values))


def replace_attack_types(conn: sa.Connection, incident_id: int, types: Iterable[str]) -> None:
    conn.execute(
        incident_attack_types.delete().where(incident_attack_types.c.incident_id == incident_id)
    )
    rows = [{"incident_id": incident_id, "attack_type": t} for t in types]
    if rows:
        conn.execute(incident_attack_types.insert(), rows)


def replace_legal_refs(conn: sa.Connection, incident_id: int, refs: Iterable[str]) -> None:
    conn.execute(
        incident_legal_refs.delete().where(incident_legal_refs.c.incident_id == incident_id)
    )
    rows = [{"incident_id": incident_id, "legal_ref": r} for r in refs]
    if rows:
        conn.execute(incident_legal_refs.insert(), rows)


def insert_note(
    conn: sa.Connection,
    cipher: FieldCipher,
    incident_id: int,
    author_id: int | None,
    body: str,
    sensitive: bool,
    now: datetime,
) -> Note:
    row = {
        "incident_id": incident_id,
        "author_id": author_id,
        "body_clear": None if sensitive else body,
        "body_enc": cipher.encrypt(body, "notes.body") if sensitive else None,
        "sensitive": sensitive,
        "created_at": now,
    }
    note_id = conn.execute(notes.insert().returning(notes.c.id), row).scalar_one()
    return Note(note_id, incident_id, author_id, body, sensitive, now)


def list_notes(
    conn: sa.Connection, cipher: FieldCipher, incident_ids: Sequence[int], limit: int, offset: int
) -> tuple[list[Note], int]:
    where = notes.c.incident_id.in_(incident_ids)
    total = conn.execute(sa.select(sa.func.count()).select_from(notes).where(where)).scalar_one()
    rows = conn.execute(
        sa.select(notes)
        .where(where)
        .order_by(notes.c.created_at, notes.c.id)
        .limit(limit)
        .offset(offset)
    ).mappings()
    return [decode_note(cipher, r) for r in rows], int(total)


def merged_ids(conn: sa.Connection, survivor_id: int) -> list[int]:
    """Every incident folded (directly or through a chain) into ``survivor_id``."""
    found: list[int] = []
    frontier = [survivor_id]
    while frontier:
        rows = (
            conn.execute(sa.select(incidents.c.id).where(incidents.c.merged_into_id.in_(frontier)))
            .scalars()
            .all()
        )
        frontier = [r for r in rows if r not in found]
        found.extend(frontier)
    return found


def case_state(conn: sa.Connection, incident_id: int) -> tuple[str, str, str, str | None] | None:
    """(public id, status, severity, language) of one case, for automated updates to it."""
    i = incidents.c
    row = conn.execute(
        sa.select(i.public_id, i.status, i.severity, i.language).where(i.id == incident_id)
    ).first()
    return None if row is None else (row[0], row[1], row[2], row[3])


def public_ids(
    conn: sa.Connection, ids: Sequence[int], *, show_locked: bool = True
) -> dict[int, str]:
    if not ids:
        return {}
    where: sa.ColumnElement[bool] = incidents.c.id.in_(ids)
    if not show_locked:
        where = sa.and_(where, privacy_repo.unlocked())
    rows = conn.execute(sa.select(incidents.c.id, incidents.c.public_id).where(where))
    return {r.id: r.public_id for r in rows}


def move_targets(conn: sa.Connection, from_id: int, to_id: int) -> int:
    """Copy targets the survivor lacks (same blind index = same target)."""
    have = set(
        conn.execute(
            sa.select(incident_targets.c.bidx).where(incident_targets.c.incident_id == to_id)
        ).scalars()
    )
    start = conn.execute(
        sa.select(sa.func.coalesce(sa.func.max(incident_targets.c.position), -1)).where(
            incident_targets.c.incident_id == to_id
        )
    ).scalar_one()
    rows = (
        conn.execute(
            sa.select(incident_targets)
            .where(incident_targets.c.incident_id == from_id)
            .order_by(incident_targets.c.position)
        )
        .mappings()
        .all()
    )
    copied = 0
    for r in rows:
        if r["bidx"] in have:
            continue
        copied += 1
        data = {k: v for k, v in r.items() if k != "id"}
        data.update(incident_id=to_id, position=start + copied)
        conn.execute(incident_targets.insert(), data)
        have.add(r["bidx"])
    return copied


def insert_campaign(
    conn: sa.Connection, org_id: int, name: str, description: str, now: datetime
) -> Campaign:
    cid = conn.execute(
        campaigns.insert().returning(campaigns.c.id),
        {"org_id": org_id, "name": name, "description": description, "created_at": now},
    ).scalar_one()
    return Campaign(cid, org_id, name, description, now)


def get_campaign(conn: sa.Connection, campaign_id: int) -> Campaign:
    r = conn.execute(sa.select(campaigns).where(campaigns.c.id == campaign_id)).first()
    if r is None:
        raise NotFound(f"campaign {campaign_id} not found")
    return Campaign(r.id, r.org_id, r.name, r.description, r.created_at)


def list_campaigns(
    conn: sa.Connection, org_id: int, limit: int, offset: int, *, show_locked: bool = False
) -> tuple[list[tuple[Campaign, int]], int]:
    where = campaigns.c.org_id == org_id
    total = conn.execute(
        sa.select(sa.func.count()).select_from(campaigns).where(where)
    ).scalar_one()
    member = incidents.c.campaign_id == campaigns.c.id
    if not show_locked:  # a count one higher than the search would betray a hidden case
        member = sa.and_(member, privacy_repo.unlocked())
    count = sa.select(sa.func.count()).where(member).scalar_subquery()
    rows = conn.execute(
        sa.select(campaigns, count.label("n"))
        .where(where)
        .order_by(campaigns.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [
        (Campaign(r.id, r.org_id, r.name, r.description, r.created_at), int(r.n)) for r in rows
    ], int(total)
