"""The alert delivery queue, kept in the database next to the incidents that cause alerts.

A delivery row is written in the same transaction as the change that raised the alert (a
transactional outbox), so an alert exists exactly when its cause was committed. Senders then
work the rows through a small state machine; a row is never deleted, so a channel that fails
leaves a dead-letter record that an operator can requeue instead of a lost alert::

    pending ──claim──▶ sending ──▶ sent
       ▲                  │
       └──── back-off ◀───┤ (retryable failure, attempts left)
                          └──▶ dead ──requeue──▶ pending
    pending ──relay──▶ queued ──claim_one──▶ sending      (broker path)

``sending`` and ``queued`` carry a lease: if the process holding it dies, the lease runs out and
the row is claimed again. Delivery is therefore at-least-once; a crash between a send and its
``mark_sent`` sends that alert twice, which beats not sending it.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from qorgau.errors import ConfigurationError, InvalidInput
from qorgau.security.fields import FieldCipher
from qorgau.store.store import signal
from qorgau.store.tables import deliveries
from qorgau.store.tables import user_channels as user_channels_table

CHANNELS: tuple[str, ...] = ("email", "webhook", "telegram", "inapp")
# Channels a user can register an address for; in-app alerts reach every account as it is.
ADDRESSED_CHANNELS: tuple[str, ...] = ("email", "webhook", "telegram")
STATES: tuple[str, ...] = ("pending", "queued", "sending", "sent", "dead")
# Where a crashed worker leaves a row: claimable again once the lease has run out.
LEASED_STATES: tuple[str, ...] = ("queued", "sending")

DELIVERY_ADDRESS_AAD = "deliveries.address"
USER_CHANNEL_ADDRESS_AAD = "user_channels.address"
SIGNAL = "deliveries"
MAX_ERROR_CHARS = 1000


@dataclass(frozen=True)
class DeliveryRequest:
    """One alert for one recipient on one channel, as the code raising the alert asks for it.

    ``address`` is an e-mail address, a Telegram chat id, for a webhook the JSON text
    ``{"url": ..., "secret": ...}``, and None for in-app alerts (the recipient is ``user_id``).
    """

    org_id: int
    user_id: int | None
    incident_id: int | None
    event: str
    channel: str
    address: str | None
    payload: dict[str, Any]


@dataclass(frozen=True)
class ClaimedDelivery:
    """A delivery leased to one sender; ``attempts`` counts this attempt."""

    id: int
    org_id: int
    user_id: int | None
    incident_id: int | None
    event: str
    channel: str
    address: str | None
    payload: dict[str, Any]
    attempts: int
    created_at: datetime


@dataclass(frozen=True)
class QueuedDelivery:
    """A row handed to the broker; ``attempts`` (before the next one) keys de-duplication."""

    id: int
    channel: str
    attempts: int


@dataclass(frozen=True)
class DeliveryRecord:
    """A row as the desk shows it; the address stays encrypted (it identifies a person)."""

    id: int
    org_id: int
    user_id: int | None
    incident_id: int | None
    event: str
    channel: str
    payload: dict[str, Any]
    state: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    read_at: datetime | None


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off with jitter, then the dead letter.

    Jitter spreads the retries of a burst of alerts that failed together (a mail server
    restarting) so they do not hit the recovering server in one wave. The defaults give up
    after about eight and a half minutes of trying (2+4+...+256 s).
    """

    base_seconds: float = 2.0
    factor: float = 2.0
    cap_seconds: float = 600.0
    max_attempts: int = 8
    jitter: float = 0.2
    rng: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def delay(self, attempts: int) -> timedelta:
        """Wait before the attempt after ``attempts`` failed ones."""
        raw = self.base_seconds * self.factor ** max(attempts - 1, 0)
        spread = 1.0 + self.jitter * (2.0 * self.rng() - 1.0)
        return timedelta(seconds=min(self.cap_seconds, raw * spread))


def _check_request(index: int, r: DeliveryRequest) -> None:
    where = f"deliveries[{index}]"
    if r.channel not in CHANNELS:
        raise InvalidInput.single(
            f"{where}.channel",
            "choice",
            f"{r.channel!r} is not an alert channel; use one of {', '.join(CHANNELS)}",
            CHANNELS,
        )
    if r.channel == "inapp":
        if r.user_id is None:
            raise InvalidInput.single(
                f"{where}.user_id",
                "required",
                "an in-app alert needs the user it is for; give a user id",
            )
    elif not r.address:
        raise InvalidInput.single(
            f"{where}.address",
            "required",
            f"a {r.channel} alert needs an address; register one for the recipient first",
        )
    if not r.event or len(r.event) > 40:
        raise InvalidInput.single(
            f"{where}.event", "length", "the event name must be 1-40 characters long"
        )


def delivery_row(
    cipher: FieldCipher, r: DeliveryRequest, now: datetime, index: int = 0
) -> dict[str, Any]:
    """The row for one delivery, address encrypted: built before a write transaction when the
    caller batches many (intake prepares its alerts outside the database's write lock)."""
    _check_request(index, r)
    inapp = r.channel == "inapp"
    return {
        "org_id": r.org_id,
        "user_id": r.user_id,
        "incident_id": r.incident_id,
        "event": r.event,
        "channel": r.channel,
        "address_enc": None if inapp else cipher.encrypt(r.address, DELIVERY_ADDRESS_AAD),
        "payload": dict(r.payload),
        "state": "sent" if inapp else "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "lease_until": None,
        "last_error": None,
        "created_at": now,
        "sent_at": now if inapp else None,
        "read_at": None,
    }


def enqueue(
    conn: sa.Connection,
    cipher: FieldCipher,
    requests: Sequence[DeliveryRequest],
    now: datetime,
) -> list[int]:
    """Store deliveries in the caller's transaction; returns their ids in request order.

    In-app alerts are stored as ``sent``: the row is the alert, there is nothing further to do.
    """
    if not requests:
        return []
    rows = [delivery_row(cipher, r, now, i) for i, r in enumerate(requests)]
    result = conn.execute(
        deliveries.insert().returning(deliveries.c.id, sort_by_parameter_order=True), rows
    )
    ids = [int(i) for i in result.scalars()]
    if any(r.channel != "inapp" for r in requests):
        signal(conn, SIGNAL)
    return ids


def alerted_since(conn: sa.Connection, incident_id: int, event: str, since: datetime) -> bool:
    """Whether anyone was alerted about ``event`` on this case after ``since``."""
    d = deliveries.c
    found = conn.execute(
        sa.select(d.id)
        .where(d.incident_id == incident_id, d.event == event, d.created_at > since)
        .limit(1)
    ).first()
    return found is not None


def _due_condition(now: datetime, states: Iterable[str]) -> sa.ColumnElement[bool]:
    return sa.or_(
        sa.and_(deliveries.c.state.in_(tuple(states)), deliveries.c.next_attempt_at <= now),
        sa.and_(deliveries.c.state.in_(LEASED_STATES), deliveries.c.lease_until <= now),
    )


def has_due(conn: sa.Connection, now: datetime, states: Sequence[str] = ("pending",)) -> bool:
    """Cheap read-only check, so an idle poller does not take the (SQLite) write lock."""
    found = conn.execute(
        sa.select(deliveries.c.id).where(_due_condition(now, states)).limit(1)
    ).first()
    return found is not None


def _locked_due_ids(now: datetime, limit: int, states: Sequence[str]) -> sa.Select[tuple[int]]:
    # SKIP LOCKED lets concurrent claimers on PostgreSQL take disjoint rows without waiting;
    # SQLite renders no FOR UPDATE, and its write gate already lets one writer in at a time.
    return (
        sa.select(deliveries.c.id)
        .where(_due_condition(now, states))
        .order_by(deliveries.c.next_attempt_at, deliveries.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


def _claimed(cipher: FieldCipher, m: sa.RowMapping) -> ClaimedDelivery:
    return ClaimedDelivery(
        id=int(m["id"]),
        org_id=int(m["org_id"]),
        user_id=m["user_id"],
        incident_id=m["incident_id"],
        event=m["event"],
        channel=m["channel"],
        address=cipher.decrypt(m["address_enc"], DELIVERY_ADDRESS_AAD),
        payload=_payload(m["payload"]),
        attempts=int(m["attempts"]),
        created_at=m["created_at"],
    )


def _readable(
    conn: sa.Connection, cipher: FieldCipher, rows: list[sa.RowMapping], now: datetime
) -> list[ClaimedDelivery]:
    """Decrypt claimed rows; one that cannot be decrypted (its key is gone from the key file)
    becomes a dead letter at once. Left pending it would fail every claim, first in line
    forever, and hold back every alert behind it."""
    readable: list[ClaimedDelivery] = []
    for m in rows:
        try:
            readable.append(_claimed(cipher, m))
        except ConfigurationError as exc:
            conn.execute(
                deliveries.update()
                .where(deliveries.c.id == m["id"])
                .values(state="dead", lease_until=None, last_error=str(exc)[:MAX_ERROR_CHARS])
            )
    return readable


def _payload(value: Any) -> dict[str, Any]:
    if isinstance(value, str):  # a driver that hands JSON back as text
        value = json.loads(value)
    return dict(value) if isinstance(value, Mapping) else {}


_CLAIM_COLUMNS = (
    deliveries.c.id,
    deliveries.c.org_id,
    deliveries.c.user_id,
    deliveries.c.incident_id,
    deliveries.c.event,
    deliveries.c.channel,
    deliveries.c.address_enc,
    deliveries.c.payload,
    deliveries.c.attempts,
    deliveries.c.created_at,
)


def claim_due(
    conn: sa.Connection,
    cipher: FieldCipher,
    now: datetime,
    limit: int,
    lease_seconds: float,
    states: Sequence[str] = ("pending",),
) -> list[ClaimedDelivery]:
    """Lease up to ``limit`` due rows to the caller (state ``sending``), oldest due first.

    Also takes back rows whose ``sending``/``queued`` lease has run out: their holder died.
    """
    if limit <= 0:
        return []
    stmt = (
        deliveries.update()
        .where(deliveries.c.id.in_(_locked_due_ids(now, limit, states).scalar_subquery()))
        .values(
            state="sending",
            lease_until=now + timedelta(seconds=lease_seconds),
            attempts=deliveries.c.attempts + 1,
        )
        .returning(*_CLAIM_COLUMNS)
    )
    claimed = _readable(conn, cipher, list(conn.execute(stmt).mappings()), now)
    claimed.sort(key=lambda d: d.id)
    return claimed


def queue_due(
    conn: sa.Connection, now: datetime, limit: int, lease_seconds: float
) -> list[QueuedDelivery]:
    """Mark due rows ``queued`` for the broker relay and say what to publish.

    The queued lease is the relay's promise to publish; if the relay dies before the broker
    has the message, the lease runs out and the row is queued and published again.
    """
    if limit <= 0:
        return []
    stmt = (
        deliveries.update()
        .where(deliveries.c.id.in_(_locked_due_ids(now, limit, ("pending",)).scalar_subquery()))
        .values(state="queued", lease_until=now + timedelta(seconds=lease_seconds))
        .returning(deliveries.c.id, deliveries.c.channel, deliveries.c.attempts)
    )
    rows = [QueuedDelivery(int(r.id), r.channel, int(r.attempts)) for r in conn.execute(stmt)]
    rows.sort(key=lambda q: q.id)
    return rows


def mark_queued(
    conn: sa.Connection, ids: Sequence[int], now: datetime, lease_seconds: float
) -> list[QueuedDelivery]:
    """Mark the given due ``pending`` rows ``queued``; rows that are not (any more) are skipped."""
    if not ids:
        return []
    stmt = (
        deliveries.update()
        .where(
            deliveries.c.id.in_(list(ids)),
            deliveries.c.state == "pending",
            deliveries.c.next_attempt_at <= now,
        )
        .values(state="queued", lease_until=now + timedelta(seconds=lease_seconds))
        .returning(deliveries.c.id, deliveries.c.channel, deliveries.c.attempts)
    )
    rows = [QueuedDelivery(int(r.id), r.channel, int(r.attempts)) for r in conn.execute(stmt)]
    rows.sort(key=lambda q: q.id)
    return rows


def unqueue(conn: sa.Connection, ids: Sequence[int]) -> int:
    """Give ``queued`` rows back to ``pending`` at once when publishing them failed.

    Not needed for safety (the lease would run out) but it saves the lease's wait.
    """
    if not ids:
        return 0
    result = conn.execute(
        deliveries.update()
        .where(deliveries.c.id.in_(list(ids)), deliveries.c.state == "queued")
        .values(state="pending", lease_until=None)
    )
    return int(result.rowcount)


def claim_one(
    conn: sa.Connection,
    cipher: FieldCipher,
    delivery_id: int,
    now: datetime,
    lease_seconds: float,
) -> ClaimedDelivery | None:
    """Lease one row named by a broker message, or None if it must not be sent now.

    None covers a row already sent or dead, one another worker holds (a broker redelivery or a
    duplicate publish) and a retry whose back-off has not run out: so a message the broker
    delivers twice still sends the alert once.
    """
    claimable = sa.or_(
        deliveries.c.state == "queued",
        sa.and_(deliveries.c.state == "pending", deliveries.c.next_attempt_at <= now),
        sa.and_(deliveries.c.state == "sending", deliveries.c.lease_until <= now),
    )
    locked = (
        sa.select(deliveries.c.id)
        .where(deliveries.c.id == delivery_id, claimable)
        .with_for_update(skip_locked=True)
    )
    stmt = (
        deliveries.update()
        .where(deliveries.c.id.in_(locked.scalar_subquery()))
        .values(
            state="sending",
            lease_until=now + timedelta(seconds=lease_seconds),
            attempts=deliveries.c.attempts + 1,
        )
        .returning(*_CLAIM_COLUMNS)
    )
    m = conn.execute(stmt).mappings().first()
    if m is None:
        return None
    readable = _readable(conn, cipher, [m], now)
    return readable[0] if readable else None


_UNSENT = ("pending", "queued", "sending")


def mark_sent(conn: sa.Connection, delivery_id: int, now: datetime) -> bool:
    """Record success. Accepted from any unsent state: a slow sender whose lease ran out did
    still deliver, and recording it spares a second copy."""
    result = conn.execute(
        deliveries.update()
        .where(deliveries.c.id == delivery_id, deliveries.c.state.in_(_UNSENT))
        .values(state="sent", sent_at=now, lease_until=None)
    )
    return bool(result.rowcount)


def mark_failed(
    conn: sa.Connection,
    delivery_id: int,
    error: str,
    now: datetime,
    policy: RetryPolicy,
    *,
    permanent: bool = False,
) -> str | None:
    """Record a failed attempt: back to ``pending`` after a back-off, or ``dead`` when the
    attempts are used up or the failure is permanent. Returns the new state (None if the row
    was not being sent, e.g. another worker took it over)."""
    row = conn.execute(
        sa.select(deliveries.c.attempts).where(
            deliveries.c.id == delivery_id, deliveries.c.state == "sending"
        )
    ).first()
    if row is None:
        return None
    attempts = int(row.attempts)
    dead = permanent or attempts >= policy.max_attempts
    values: dict[str, Any] = {
        "state": "dead" if dead else "pending",
        "lease_until": None,
        "last_error": error[:MAX_ERROR_CHARS],
    }
    if not dead:
        values["next_attempt_at"] = now + policy.delay(attempts)
    conn.execute(
        deliveries.update()
        .where(deliveries.c.id == delivery_id, deliveries.c.state == "sending")
        .values(**values)
    )
    return str(values["state"])


def requeue_dead(
    conn: sa.Connection, ids: Sequence[int], now: datetime, *, org_id: int | None = None
) -> int:
    """Give dead letters a fresh set of attempts (after the channel was fixed).

    ``last_error`` is kept until the next attempt overwrites it, as a record of what happened.
    """
    if not ids:
        return 0
    stmt = deliveries.update().where(deliveries.c.id.in_(list(ids)), deliveries.c.state == "dead")
    if org_id is not None:
        stmt = stmt.where(deliveries.c.org_id == org_id)
    result = conn.execute(
        stmt.values(state="pending", attempts=0, next_attempt_at=now, lease_until=None)
    )
    if result.rowcount:
        signal(conn, SIGNAL)
    return int(result.rowcount)


def _record(m: sa.RowMapping) -> DeliveryRecord:
    return DeliveryRecord(
        id=int(m["id"]),
        org_id=int(m["org_id"]),
        user_id=m["user_id"],
        incident_id=m["incident_id"],
        event=m["event"],
        channel=m["channel"],
        payload=_payload(m["payload"]),
        state=m["state"],
        attempts=int(m["attempts"]),
        next_attempt_at=m["next_attempt_at"],
        last_error=m["last_error"],
        created_at=m["created_at"],
        sent_at=m["sent_at"],
        read_at=m["read_at"],
    )


_RECORD_COLUMNS = tuple(c for c in deliveries.c if c.name not in ("address_enc", "lease_until"))


def list_deliveries(
    conn: sa.Connection,
    *,
    state: str | None = None,
    incident_id: int | None = None,
    org_id: int | None = None,
    channel: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[DeliveryRecord]:
    """Newest first; ``state="dead"`` is the dead-letter list."""
    if state is not None and state not in STATES:
        raise InvalidInput.single(
            "state",
            "choice",
            f"{state!r} is not a delivery state; use one of {', '.join(STATES)}",
            STATES,
        )
    stmt = sa.select(*_RECORD_COLUMNS)
    if state is not None:
        stmt = stmt.where(deliveries.c.state == state)
    if incident_id is not None:
        stmt = stmt.where(deliveries.c.incident_id == incident_id)
    if org_id is not None:
        stmt = stmt.where(deliveries.c.org_id == org_id)
    if channel is not None:
        stmt = stmt.where(deliveries.c.channel == channel)
    stmt = stmt.order_by(deliveries.c.id.desc()).limit(limit).offset(offset)
    return [_record(m) for m in conn.execute(stmt).mappings()]


def inapp_for_user(
    conn: sa.Connection,
    user_id: int,
    unread_only: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> list[DeliveryRecord]:
    """A user's in-app alerts, newest first."""
    stmt = sa.select(*_RECORD_COLUMNS).where(
        deliveries.c.user_id == user_id, deliveries.c.channel == "inapp"
    )
    if unread_only:
        stmt = stmt.where(deliveries.c.read_at.is_(None))
    stmt = stmt.order_by(deliveries.c.id.desc()).limit(limit).offset(offset)
    return [_record(m) for m in conn.execute(stmt).mappings()]


def mark_read(conn: sa.Connection, user_id: int, ids: Sequence[int], now: datetime) -> int:
    """Mark the user's own unread in-app alerts read; ids of others' alerts are ignored."""
    if not ids:
        return 0
    result = conn.execute(
        deliveries.update()
        .where(
            deliveries.c.id.in_(list(ids)),
            deliveries.c.user_id == user_id,
            deliveries.c.channel == "inapp",
            deliveries.c.read_at.is_(None),
        )
        .values(read_at=now)
    )
    return int(result.rowcount)


def delivery_counts(conn: sa.Connection, org_id: int | None = None) -> dict[str, int]:
    """Rows per state (every state present, zero if none) for health pages and metrics."""
    stmt = sa.select(deliveries.c.state, sa.func.count()).group_by(deliveries.c.state)
    if org_id is not None:
        stmt = stmt.where(deliveries.c.org_id == org_id)
    counts = dict.fromkeys(STATES, 0)
    for state, n in conn.execute(stmt):
        counts[str(state)] = int(n)
    return counts


# -- where each user wants alerts ------------------------------------------------------------


def set_user_channel(
    conn: sa.Connection,
    cipher: FieldCipher,
    user_id: int,
    kind: str,
    address: str,
    now: datetime,
) -> str:
    """Register (or replace) a user's address on one channel; returns the normalised address.

    The address is validated here, at the one place it enters the store, so a typo is reported
    to the person typing it rather than found later as a dead letter.
    """
    from qorgau.alerts.channels import validate_channel

    normalised = validate_channel(kind, address)
    values = {
        "user_id": user_id,
        "kind": kind,
        "address_enc": cipher.encrypt(normalised, USER_CHANNEL_ADDRESS_AAD),
        "created_at": now,
    }
    dialect = conn.dialect.name
    if dialect == "postgresql":
        pg = postgresql.insert(user_channels_table).values(**values)
        conn.execute(
            pg.on_conflict_do_update(
                index_elements=["user_id", "kind"],
                set_={"address_enc": pg.excluded.address_enc, "created_at": now},
            )
        )
    elif dialect == "sqlite":
        lite = sqlite.insert(user_channels_table).values(**values)
        conn.execute(
            lite.on_conflict_do_update(
                index_elements=["user_id", "kind"],
                set_={"address_enc": lite.excluded.address_enc, "created_at": now},
            )
        )
    else:  # pragma: no cover - only the two supported databases exist
        raise NotImplementedError(dialect)
    return normalised


def user_channels(
    conn: sa.Connection, cipher: FieldCipher, user_ids: Iterable[int]
) -> dict[int, dict[str, str]]:
    """Decrypted addresses per user and channel kind; users without any are absent."""
    wanted = list(set(user_ids))
    found: dict[int, dict[str, str]] = {}
    if not wanted:
        return found
    rows = conn.execute(
        sa.select(
            user_channels_table.c.user_id,
            user_channels_table.c.kind,
            user_channels_table.c.address_enc,
        ).where(user_channels_table.c.user_id.in_(wanted))
    )
    for r in rows:
        address = cipher.decrypt(r.address_enc, USER_CHANNEL_ADDRESS_AAD)
        if address is not None:
            found.setdefault(int(r.user_id), {})[r.kind] = address
    return found


def remove_user_channel(conn: sa.Connection, user_id: int, kind: str) -> bool:
    result = conn.execute(
        user_channels_table.delete().where(
            user_channels_table.c.user_id == user_id, user_channels_table.c.kind == kind
        )
    )
    return bool(result.rowcount)
