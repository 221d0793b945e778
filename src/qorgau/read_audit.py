"""Who read whose personal data: one audit event per request that showed any.

An insider, or a colleague's stolen session, reads cases quietly: nothing changes, so the
ordinary audit trail (written with changes) shows nothing. Here every read that hands out a
reporter's identity or contact, a target's name or identifier, a sensitive note, the protected
people's registry or watchlist, or an export of them, writes ``read:personal`` naming the reader,
the record and the *groups* of fields — never the values, which would copy the very data the
log protects into a table that is not encrypted.

The event is written in its own short transaction *before* the data leaves the desk, so a
read-only request commits it too, and a failure to record refuses the read. A page that reads
several things (a case with its notes) wraps its work in ``one_event`` and costs one insert.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from qorgau.domain.model import Incident, Note, Principal
from qorgau.domain.taxonomy import Taxonomy
from qorgau.store import audit
from qorgau.store.audit import Actor
from qorgau.store.incidents import PROTECTED
from qorgau.store.store import Store
from qorgau.store.tables import audit_events

READ_TAG = "read:personal"
READ_PREFIX = "read:"
# A page's own repeated reads (the case timeline's polling) count once per this window.
POLL_WINDOW = timedelta(minutes=10)
MAX_RECORDS = 200  # ids listed in one event; a longer list says how many were left out

# Field groups (what kind of data was shown, never what it said).
REPORTER_IDENTITY = "reporter.identity"
REPORTER_CONTACT = "reporter.contact"
TARGET_NAMES = "target.names"
TARGET_IDENTIFIERS = "target.identifiers"
SENSITIVE_NOTES = "notes.sensitive"
WATCHLIST = "watchlist"
PROTECTED_REGISTRY = "registry.protected"


def read_entity(entity: str) -> str:
    """Reads are filed under their own entity names (``incident-read``), so nothing that
    lists a case's events — its timeline, shown to all staff — shows who read it."""
    return f"{entity}-read"[:32]


def incident_groups(incident: Incident, taxonomy: Taxonomy) -> set[str]:
    """The personal field groups a revealed incident carries."""
    groups: set[str] = set()
    r = incident.reporter
    if r.name:
        groups.add(REPORTER_IDENTITY)
    if r.email or r.phone:
        groups.add(REPORTER_CONTACT)
    for t in incident.targets:
        if t.name == PROTECTED or not _sensitive(taxonomy, t.kind):
            continue
        if t.name:
            groups.add(TARGET_NAMES)
        if t.identifier:
            groups.add(TARGET_IDENTIFIERS)
    return groups


def _sensitive(taxonomy: Taxonomy, kind: str) -> bool:
    try:
        return taxonomy.is_sensitive_target(kind)
    except KeyError:
        return True  # a kind the taxonomy no longer knows: err on the side of recording


def note_groups(notes: Iterable[Note]) -> set[str]:
    return {SENSITIVE_NOTES} if any(n.sensitive for n in notes) else set()


def is_own_report(principal: Principal, incident: Incident) -> bool:
    """A reporter reading back their own report reads what they typed: not recorded."""
    return principal.user_id is not None and incident.reporter_user_id == principal.user_id


@dataclass
class _Batch:
    groups: set[str] = field(default_factory=set)
    records: dict[tuple[str, str], None] = field(default_factory=dict)

    def add(self, entity: str, ids: Iterable[str], groups: Iterable[str]) -> None:
        self.groups.update(groups)
        for i in ids:
            self.records[(entity, i)] = None


_current: ContextVar[_Batch | None] = ContextVar("qorgau_read_batch", default=None)


def record(
    store: Store,
    principal: Principal,
    *,
    entity: str,
    entity_id: str | int,
    groups: Iterable[str],
    records: Iterable[str] = (),
    address: str | None = None,
    again_after: timedelta | None = None,
) -> None:
    """Record that ``principal`` was shown ``groups`` of ``entity_id`` (or of ``records``, for
    a list); nothing when ``groups`` is empty. Inside ``one_event`` it is merged instead.

    ``again_after`` is for reads a page repeats by itself (a timeline polled every few
    seconds): the same person's read of the same record within that window is already on
    record, and a day of polling would otherwise bury every other event."""
    chosen = sorted(set(groups))
    if not chosen:
        return
    ids = list(dict.fromkeys(records)) or [str(entity_id)]
    batch = _current.get()
    if batch is not None:
        batch.add(entity, ids, chosen)
        return
    if again_after is not None and _recently(store, principal, entity, str(entity_id), again_after):
        return
    _write(store, principal, address, entity, str(entity_id), chosen, ids)


def _recently(
    store: Store, principal: Principal, entity: str, entity_id: str, window: timedelta
) -> bool:
    a = audit_events.c
    with store.read() as conn:
        found = conn.execute(
            sa.select(a.id)
            .where(
                a.entity == read_entity(entity),
                a.entity_id == entity_id[:32],
                a.tag == READ_TAG,
                a.actor_id == principal.user_id
                if principal.user_id is not None
                else a.actor_name == (principal.username or ""),
                a.at >= store.now() - window,
            )
            .limit(1)
        ).first()
    return found is not None


@contextlib.contextmanager
def one_event(store: Store, principal: Principal, address: str | None) -> Iterator[None]:
    """Merge every read recorded inside into a single event, written when the block succeeds
    (the block's result is not shown to anyone if it fails)."""
    if _current.get() is not None:  # already inside one: it records for both
        yield
        return
    batch = _Batch()
    token = _current.set(batch)
    try:
        yield
    finally:
        _current.reset(token)
    if not batch.groups:
        return
    entities = {e for e, _ in batch.records}
    ids = [i for _, i in batch.records]
    entity = entities.pop() if len(entities) == 1 else "several"
    entity_id = ids[0] if len(ids) == 1 else "several"
    _write(store, principal, address, entity, entity_id, sorted(batch.groups), ids)


def _write(
    store: Store,
    principal: Principal,
    address: str | None,
    entity: str,
    entity_id: str,
    groups: list[str],
    ids: list[str],
) -> None:
    after: dict[str, Any] = {"fields": groups}
    if ids != [entity_id]:
        after["records"] = ids[:MAX_RECORDS]
        if len(ids) > MAX_RECORDS:
            after["records_left_out"] = len(ids) - MAX_RECORDS
    with store.write() as conn:
        audit.record(
            conn,
            audit.audit_row(
                Actor.of(principal, address),
                READ_TAG,
                read_entity(entity),
                entity_id[:32],
                at=store.now(),
                after=after,
            ),
        )
