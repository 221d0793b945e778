"""Observations, their sources and the watchlist, in the store.

An observation's content (who said what to whom) is third parties' personal data and the
watchlist is the protected people's: both are encrypted with the field key. What stays in clear
is what ordering, counting and de-duplication need: time, platform, kind and the id."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from qorgau.detect.model import Observation
from qorgau.security.fields import FieldCipher
from qorgau.security.tokens import token_digest
from qorgau.store.tables import observation_sources, observations, watchlist_entries

BODY_AAD = "observations.body"
WATCH_AAD = "watchlist.value"
WATCH_INDEX = "watchlist"


def insert_ignore(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows, silently keeping the stored one where a unique key already exists.

    Two importers (or a retried batch racing the first) may insert the same observation: the
    database's own conflict clause settles it, never a check-then-insert race."""
    if not rows:
        return
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.execute(postgresql.insert(table).on_conflict_do_nothing(), rows)
    elif dialect == "sqlite":
        conn.execute(sqlite.insert(table).on_conflict_do_nothing(), rows)
    else:  # pragma: no cover - only the two supported databases exist
        raise NotImplementedError(dialect)


def _body(o: Observation) -> bytes:
    doc = o.to_json()
    for k in ("id", "source", "platform", "time", "kind", "lang"):
        doc.pop(k)
    return orjson.dumps(doc)


def store_new(
    conn: sa.Connection,
    cipher: FieldCipher,
    org_id: int,
    batch: Sequence[Observation],
    now: datetime,
) -> list[tuple[int, str]]:
    """Store the observations not stored yet; ``(row id, observation id)`` of the new ones."""
    keys = [o.id for o in batch]
    o = observations.c
    before = _existing(conn, org_id, keys)
    rows = [
        {
            "org_id": org_id,
            "obs_key": ob.id,
            "source": ob.source[:120],
            "platform": ob.platform[:60],
            "kind": ob.kind[:16],
            "lang": ob.lang,
            "observed_at": ob.time,
            "body": cipher.encrypt(_body(ob).decode(), BODY_AAD),
            "stored_at": now,
        }
        for ob in _first_of_each(batch)
        if ob.id not in before
    ]
    if not rows:
        return []
    # The database says which rows it inserted: a concurrent importer's copy is skipped by the
    # conflict clause and simply not returned.
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    inserted = conn.execute(
        dialect.insert(observations).on_conflict_do_nothing().returning(o.id, o.obs_key),
        rows,
    ).all()
    return [(int(i), str(k)) for i, k in inserted]


def _first_of_each(batch: Sequence[Observation]) -> list[Observation]:
    seen: set[str] = set()
    out = []
    for ob in batch:
        if ob.id not in seen:
            seen.add(ob.id)
            out.append(ob)
    return out


def _existing(conn: sa.Connection, org_id: int, keys: list[str]) -> set[str]:
    o = observations.c
    found: set[str] = set()
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        found.update(
            conn.execute(
                sa.select(o.obs_key).where(o.org_id == org_id, o.obs_key.in_(chunk))
            ).scalars()
        )
    return found


def _decode(cipher: FieldCipher, row: Any) -> Observation:
    body = orjson.loads(cipher.decrypt(row.body, BODY_AAD) or "{}")
    return Observation(
        id=row.obs_key,
        source=row.source,
        platform=row.platform,
        time=row.observed_at,
        kind=row.kind,
        lang=row.lang,
        account=body.get("account", ""),
        text=body.get("text", ""),
        urls=tuple(body.get("urls", ())),
        media_hashes=tuple(body.get("media_hashes", ())),
        phones=tuple(body.get("phones", ())),
        emails=tuple(body.get("emails", ())),
        recipients=tuple(body.get("recipients", ())),
        extra=body.get("extra") or {},
    )


@dataclass(frozen=True)
class StoredObservation:
    row_id: int
    org_id: int
    observation: Observation


def claim_pending(
    conn: sa.Connection,
    cipher: FieldCipher,
    org_id: int | None,
    *,
    row_ids: Iterable[int] | None = None,
    stored_before: datetime | None = None,
    limit: int = 1000,
) -> list[StoredObservation]:
    """Observations no detector has read yet, oldest first, locked for this transaction.

    On PostgreSQL the rows are locked with SKIP LOCKED, so two workers handed overlapping
    batches each take what the other is not holding; on SQLite the write transaction is the
    lock. Already-processed rows are never returned: that is what makes redelivery harmless."""
    o = observations.c
    query = sa.select(observations).where(o.processed_at.is_(None))
    if org_id is not None:
        query = query.where(o.org_id == org_id)
    if row_ids is not None:
        query = query.where(o.id.in_(list(row_ids)))
    if stored_before is not None:
        query = query.where(o.stored_at < stored_before)
    query = query.order_by(o.observed_at, o.id).limit(limit)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return [StoredObservation(r.id, r.org_id, _decode(cipher, r)) for r in conn.execute(query)]


def mark_processed(conn: sa.Connection, row_ids: Sequence[int], now: datetime) -> None:
    o = observations.c
    for i in range(0, len(row_ids), 500):
        conn.execute(
            observations.update()
            .where(o.id.in_(list(row_ids[i : i + 500])))
            .values(processed_at=now)
        )


def row_ids_of(conn: sa.Connection, org_id: int, keys: Sequence[str]) -> dict[str, int]:
    o = observations.c
    found: dict[str, int] = {}
    for i in range(0, len(keys), 500):
        rows = conn.execute(
            sa.select(o.obs_key, o.id).where(
                o.org_id == org_id, o.obs_key.in_(list(keys[i : i + 500]))
            )
        ).all()
        found.update({k: v for k, v in rows})
    return found


def load(
    conn: sa.Connection, cipher: FieldCipher, org_id: int, keys: Sequence[str]
) -> list[Observation]:
    o = observations.c
    out: list[Observation] = []
    for i in range(0, len(keys), 500):
        rows = conn.execute(
            sa.select(observations)
            .where(o.org_id == org_id, o.obs_key.in_(list(keys[i : i + 500])))
            .order_by(o.observed_at, o.id)
        )
        out.extend(_decode(cipher, r) for r in rows)
    return out


def counts(conn: sa.Connection, org_id: int) -> dict[str, int]:
    o = observations.c
    rows = conn.execute(
        sa.select(o.kind, sa.func.count()).where(o.org_id == org_id).group_by(o.kind)
    ).all()
    return {k: n for k, n in rows}


def pending_count(conn: sa.Connection, org_id: int) -> int:
    o = observations.c
    return int(
        conn.execute(
            sa.select(sa.func.count()).where(o.org_id == org_id, o.processed_at.is_(None))
        ).scalar_one()
    )


# -- sources ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    id: int
    org_id: int
    name: str
    created_at: datetime
    last_seen_at: datetime | None
    accepted: int
    rejected: int
    revoked_at: datetime | None


def _source(row: Any) -> Source:
    return Source(**{k: row[k] for k in Source.__dataclass_fields__})


def add_source(
    conn: sa.Connection, org_id: int, name: str, token: str, now: datetime
) -> Source | None:
    s = observation_sources.c
    if conn.execute(sa.select(s.id).where(s.org_id == org_id, s.name == name)).first():
        return None
    conn.execute(
        observation_sources.insert().values(
            org_id=org_id,
            name=name,
            token_hash=token_digest(token),
            created_at=now,
            accepted=0,
            rejected=0,
        )
    )
    row = (
        conn.execute(sa.select(observation_sources).where(s.org_id == org_id, s.name == name))
        .mappings()
        .one()
    )
    return _source(row)


def source_by_token(conn: sa.Connection, token: str) -> Source | None:
    s = observation_sources.c
    row = (
        conn.execute(sa.select(observation_sources).where(s.token_hash == token_digest(token)))
        .mappings()
        .first()
    )
    return None if row is None else _source(row)


def list_sources(conn: sa.Connection, org_id: int) -> list[Source]:
    s = observation_sources.c
    rows = conn.execute(
        sa.select(observation_sources).where(s.org_id == org_id).order_by(s.name)
    ).mappings()
    return [_source(r) for r in rows]


def revoke_source(conn: sa.Connection, org_id: int, name: str, now: datetime) -> bool:
    s = observation_sources.c
    done = conn.execute(
        observation_sources.update()
        .where(s.org_id == org_id, s.name == name, s.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return done.rowcount > 0


def count_upload(
    conn: sa.Connection, source_id: int, accepted: int, rejected: int, now: datetime
) -> None:
    s = observation_sources.c
    conn.execute(
        observation_sources.update()
        .where(s.id == source_id)
        .values(accepted=s.accepted + accepted, rejected=s.rejected + rejected, last_seen_at=now)
    )


# -- watchlist -------------------------------------------------------------------------------


@dataclass(frozen=True)
class WatchEntry:
    id: int
    person: str
    group: str
    kind: str
    value: str


def add_watch(
    conn: sa.Connection,
    cipher: FieldCipher,
    org_id: int,
    person: str,
    group: str,
    kind: str,
    value: str,
    now: datetime,
) -> bool:
    """False if the identifier is watched already (for anyone in the organisation)."""
    w = watchlist_entries.c
    index = cipher.blind_index(f"{kind}:{value}", WATCH_INDEX)
    if conn.execute(
        sa.select(w.id).where(w.org_id == org_id, w.kind == kind, w.value_index == index)
    ).first():
        return False
    conn.execute(
        watchlist_entries.insert().values(
            org_id=org_id,
            person=person,
            group_name=group,
            kind=kind,
            value=cipher.encrypt(value, WATCH_AAD),
            value_index=index,
            created_at=now,
        )
    )
    return True


def is_watched(
    conn: sa.Connection, cipher: FieldCipher, org_id: int, kind: str, value: str
) -> bool:
    w = watchlist_entries.c
    index = cipher.blind_index(f"{kind}:{value}", WATCH_INDEX)
    return (
        conn.execute(
            sa.select(w.id).where(w.org_id == org_id, w.kind == kind, w.value_index == index)
        ).first()
        is not None
    )


def remove_watch(conn: sa.Connection, org_id: int, entry_id: int) -> bool:
    w = watchlist_entries.c
    done = conn.execute(watchlist_entries.delete().where(w.org_id == org_id, w.id == entry_id))
    return done.rowcount > 0


def watchlist_version(conn: sa.Connection, org_id: int) -> tuple[int, int]:
    """(entries, newest id): changes whenever an entry is added or removed."""
    w = watchlist_entries.c
    count, newest = conn.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.max(w.id), 0)).where(w.org_id == org_id)
    ).one()
    return int(count), int(newest)


def watchlist(conn: sa.Connection, cipher: FieldCipher, org_id: int) -> list[WatchEntry]:
    w = watchlist_entries.c
    rows = conn.execute(
        sa.select(watchlist_entries).where(w.org_id == org_id).order_by(w.person, w.kind, w.id)
    )
    return [
        WatchEntry(r.id, r.person, r.group_name, r.kind, cipher.decrypt(r.value, WATCH_AAD) or "")
        for r in rows
    ]


def in_window(
    conn: sa.Connection,
    cipher: FieldCipher,
    org_id: int,
    start: datetime,
    end: datetime,
    limit: int = 200_000,
) -> list[Observation]:
    """The observations seen between ``start`` and ``end``, oldest first (bounded: an appeal
    looks at days, not at the archive)."""
    o = observations.c
    rows = conn.execute(
        sa.select(observations)
        .where(o.org_id == org_id, o.observed_at >= start, o.observed_at <= end)
        .order_by(o.observed_at, o.id)
        .limit(limit)
    )
    return [_decode(cipher, r) for r in rows]
