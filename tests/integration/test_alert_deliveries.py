"""The delivery queue on SQLite and PostgreSQL: claiming, leases, back-off, dead letters."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from qorgau.alerts.channels import webhook_address
from qorgau.domain.model import Role
from qorgau.errors import InvalidInput
from qorgau.store import deliveries as q
from qorgau.store import users
from qorgau.store.deliveries import DeliveryRequest, RetryPolicy
from qorgau.store.store import Store
from qorgau.store.tables import deliveries, user_channels

NO_JITTER = RetryPolicy(base_seconds=2, factor=2, cap_seconds=600, max_attempts=3, jitter=0.0)
LEASE = 60.0


@dataclass(frozen=True)
class Desk:
    org_id: int
    alice: int
    bob: int


@pytest.fixture
def desk_users(store: Store) -> Desk:
    with store.write() as conn:
        org = users.org_id_for(conn, "default")
        ids = [
            users.create_user(
                conn,
                org_id=org,
                username=name,
                role=Role.RESPONDER,
                password=None,
                display_name=None,
                now=store.now(),
            ).id
            for name in ("alice", "bob")
        ]
    return Desk(org, ids[0], ids[1])


def email(d: Desk, address: str = "aida@orda.kz", **payload: Any) -> DeliveryRequest:
    body = {"subject": "New incident QG-1", "text": "Шабуыл тіркелді", **payload}
    return DeliveryRequest(d.org_id, d.alice, None, "incident.created", "email", address, body)


def inapp(d: Desk, user_id: int, n: int) -> DeliveryRequest:
    return DeliveryRequest(
        d.org_id, user_id, None, "incident.assigned", "inapp", None, {"subject": f"case {n}"}
    )


def enqueue(store: Store, requests: list[DeliveryRequest], now: datetime) -> list[int]:
    with store.write() as conn:
        return q.enqueue(conn, store.cipher, requests, now)


def claim(store: Store, now: datetime, limit: int = 10) -> list[q.ClaimedDelivery]:
    with store.write() as conn:
        return q.claim_due(conn, store.cipher, now, limit, LEASE)


def row(store: Store, delivery_id: int) -> sa.RowMapping:
    with store.read() as conn:
        return (
            conn.execute(sa.select(deliveries).where(deliveries.c.id == delivery_id))
            .mappings()
            .one()
        )


def fail(store: Store, delivery_id: int, now: datetime, permanent: bool = False) -> str | None:
    with store.write() as conn:
        return q.mark_failed(conn, delivery_id, "550 no", now, NO_JITTER, permanent=permanent)


def test_enqueue_encrypts_addresses_and_stores_inapp_as_delivered(
    store: Store, desk_users: Desk
) -> None:
    now = store.now()
    hook = webhook_address("https://hooks.example.org/in", "0123456789abcdef")
    requests = [
        email(desk_users),
        DeliveryRequest(desk_users.org_id, None, None, "incident.created", "webhook", hook, {}),
        inapp(desk_users, desk_users.bob, 1),
    ]
    ids = enqueue(store, requests, now)
    assert len(ids) == 3 and ids == sorted(ids)
    mail, web, app = (row(store, i) for i in ids)
    assert mail["state"] == web["state"] == "pending"
    assert mail["attempts"] == 0 and mail["next_attempt_at"] == now
    assert mail["address_enc"].startswith("enc1:") and "orda" not in mail["address_enc"]
    assert "hooks.example.org" not in web["address_enc"]
    assert mail["payload"]["text"] == "Шабуыл тіркелді"
    assert app["state"] == "sent" and app["sent_at"] == now and app["address_enc"] is None
    # only the two that still need sending are claimed, with their addresses readable
    claimed = claim(store, now)
    assert [(c.id, c.address) for c in claimed] == [(ids[0], "aida@orda.kz"), (ids[1], hook)]


def test_enqueue_rejects_what_cannot_be_delivered(store: Store, desk_users: Desk) -> None:
    bad = [
        (email(desk_users, address=""), "deliveries[0].address"),
        (
            DeliveryRequest(desk_users.org_id, None, None, "x", "sms", "1", {}),
            "deliveries[0].channel",
        ),
        (
            DeliveryRequest(desk_users.org_id, None, None, "x", "inapp", None, {}),
            "deliveries[0].user_id",
        ),
    ]
    for request, field in bad:
        with pytest.raises(InvalidInput) as exc, store.write() as conn:
            q.enqueue(conn, store.cipher, [request], store.now())
        assert exc.value.problems[0].field == field
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(deliveries)).scalar() == 0


def test_commit_listeners_hear_enqueues_only_after_commit(store: Store, desk_users: Desk) -> None:
    heard: list[frozenset[str]] = []
    store.commit_listeners.append(heard.append)
    try:
        with pytest.raises(RuntimeError), store.write() as conn:
            q.enqueue(conn, store.cipher, [email(desk_users)], store.now())
            raise RuntimeError("the incident failed to save")
        assert heard == []
        enqueue(store, [inapp(desk_users, desk_users.alice, 1)], store.now())
        assert heard == []  # stored in-app alerts are delivered: nothing to wake
        enqueue(store, [email(desk_users)], store.now())
        assert heard == [frozenset({"deliveries"})]
    finally:
        store.commit_listeners.remove(heard.append)


def test_claim_takes_due_rows_once_until_the_lease_runs_out(store: Store, desk_users: Desk) -> None:
    now = store.now()
    first, later = enqueue(store, [email(desk_users)], now) + enqueue(
        store, [email(desk_users)], now + timedelta(minutes=5)
    )
    claimed = claim(store, now)
    assert [c.id for c in claimed] == [first]
    assert claimed[0].attempts == 1 and claimed[0].payload["subject"] == "New incident QG-1"
    r = row(store, first)
    assert r["state"] == "sending" and r["lease_until"] == now + timedelta(seconds=LEASE)
    assert claim(store, now + timedelta(seconds=LEASE - 1)) == []
    # the worker holding it died: after the lease, someone else takes it (and `later` is due)
    retaken = claim(store, now + timedelta(seconds=LEASE + 301))
    assert [(c.id, c.attempts) for c in retaken] == [(first, 2), (later, 1)]


def test_claim_respects_the_limit_oldest_due_first(store: Store, desk_users: Desk) -> None:
    now = store.now()
    ids = []
    for minutes in (3, 1, 2):
        ids += enqueue(store, [email(desk_users)], now - timedelta(minutes=minutes))
    assert [c.id for c in claim(store, now, limit=2)] == sorted([ids[0], ids[2]])
    assert [c.id for c in claim(store, now, limit=2)] == [ids[1]]


def test_failures_back_off_then_become_dead_letters_and_requeue(
    store: Store, desk_users: Desk
) -> None:
    now = store.now()
    (did,) = enqueue(store, [email(desk_users)], now)
    delays = []
    for attempt in (1, 2):
        (c,) = claim(store, now)
        assert c.attempts == attempt
        assert fail(store, did, now) == "pending"
        r = row(store, did)
        assert r["state"] == "pending" and r["lease_until"] is None and r["last_error"] == "550 no"
        delays.append((r["next_attempt_at"] - now).total_seconds())
        assert claim(store, now) == []  # not before its back-off
        now = r["next_attempt_at"]
    assert delays == [2.0, 4.0]
    claim(store, now)
    assert fail(store, did, now) == "dead"  # third attempt of three
    dead = row(store, did)
    assert dead["state"] == "dead" and dead["last_error"] == "550 no" and dead["attempts"] == 3
    assert claim(store, now + timedelta(days=1)) == []  # the dead letter stays put
    with store.read() as conn:
        assert [d.id for d in q.list_deliveries(conn, state="dead")] == [did]
    with store.write() as conn:
        assert q.requeue_dead(conn, [did], now, org_id=desk_users.org_id + 999) == 0
        assert q.requeue_dead(conn, [did], now, org_id=desk_users.org_id) == 1
    r = row(store, did)
    assert (r["state"], r["attempts"], r["last_error"]) == ("pending", 0, "550 no")
    assert [c.id for c in claim(store, now)] == [did]


def test_a_permanent_failure_is_dead_at_once(store: Store, desk_users: Desk) -> None:
    now = store.now()
    (did,) = enqueue(store, [email(desk_users)], now)
    claim(store, now)
    assert fail(store, did, now, permanent=True) == "dead"
    assert row(store, did)["attempts"] == 1
    assert fail(store, did, now) is None  # not being sent any more: nothing to record


def test_mark_sent_is_final(store: Store, desk_users: Desk) -> None:
    now = store.now()
    (did,) = enqueue(store, [email(desk_users)], now)
    claim(store, now)
    with store.write() as conn:
        assert q.mark_sent(conn, did, now) is True
        assert q.mark_sent(conn, did, now) is False
    r = row(store, did)
    assert r["state"] == "sent" and r["sent_at"] == now and r["lease_until"] is None
    assert claim(store, now + timedelta(days=1)) == []


def test_broker_claims_send_a_row_once(store: Store, desk_users: Desk) -> None:
    now = store.now()
    a, b, later = enqueue(store, [email(desk_users), email(desk_users, "b@orda.kz")], now) + (
        enqueue(store, [email(desk_users)], now + timedelta(minutes=1))
    )
    with store.write() as conn:
        queued = q.mark_queued(conn, [a, b, later], now, 300)
    assert [(x.id, x.channel, x.attempts) for x in queued] == [(a, "email", 0), (b, "email", 0)]
    assert row(store, a)["state"] == "queued"
    # not claimable in-process either while the relay's lease holds
    assert claim(store, now + timedelta(seconds=30)) == []

    def claim_one(i: int, at: datetime) -> q.ClaimedDelivery | None:
        with store.write() as conn:
            return q.claim_one(conn, store.cipher, i, at, LEASE)

    first = claim_one(a, now)
    assert first is not None and first.address == "aida@orda.kz" and first.attempts == 1
    assert claim_one(a, now) is None  # the broker delivered the message twice
    assert claim_one(later, now) is None  # a retry whose time has not come
    assert claim_one(later, now + timedelta(minutes=1)) is not None
    with store.write() as conn:
        q.mark_sent(conn, a, now)
    assert claim_one(a, now + timedelta(hours=1)) is None  # sent is sent
    # the worker holding b died after claiming it: a redelivery after the lease takes over
    assert claim_one(b, now) is not None
    assert claim_one(b, now + timedelta(seconds=LEASE - 1)) is None
    again = claim_one(b, now + timedelta(seconds=LEASE + 1))
    assert again is not None and again.attempts == 2


def test_queue_due_and_unqueue(store: Store, desk_users: Desk) -> None:
    now = store.now()
    a, b = enqueue(store, [email(desk_users), email(desk_users)], now)
    with store.write() as conn:
        assert [x.id for x in q.queue_due(conn, now, 10, 300)] == [a, b]
        assert q.queue_due(conn, now, 10, 300) == []
        assert q.unqueue(conn, [b]) == 1  # publishing b failed
        assert [x.id for x in q.queue_due(conn, now, 10, 300)] == [b]
        # the relay died after marking them queued: its lease runs out, they are queued again
        assert [x.id for x in q.queue_due(conn, now + timedelta(seconds=301), 10, 300)] == [a, b]


def test_inapp_alerts_are_read_by_their_user_only(store: Store, desk_users: Desk) -> None:
    now = store.now()
    ids = enqueue(store, [inapp(desk_users, desk_users.alice, n) for n in range(3)], now)
    (bobs,) = enqueue(store, [inapp(desk_users, desk_users.bob, 9)], now)
    with store.write() as conn:
        assert q.mark_read(conn, desk_users.bob, ids, now) == 0  # not bob's to mark
        assert q.mark_read(conn, desk_users.alice, [ids[0], bobs], now) == 1
        assert q.mark_read(conn, desk_users.alice, [ids[0]], now) == 0  # already read
    with store.read() as conn:
        everything = q.inapp_for_user(conn, desk_users.alice)
        unread = q.inapp_for_user(conn, desk_users.alice, unread_only=True)
        page = q.inapp_for_user(conn, desk_users.alice, limit=1, offset=1)
    assert [a.id for a in everything] == ids[::-1]
    assert [a.id for a in unread] == ids[:0:-1]
    assert everything[-1].read_at == now and unread[0].read_at is None
    assert [a.id for a in page] == [ids[1]]
    assert everything[0].payload == {"subject": "case 2"}


def test_listing_and_counts(store: Store, desk_users: Desk) -> None:
    now = store.now()
    with store.write() as conn:
        other = users.org_id_for(conn, "other")
    ids = enqueue(
        store, [email(desk_users), email(desk_users), inapp(desk_users, desk_users.bob, 1)], now
    )
    enqueue(store, [DeliveryRequest(other, None, None, "x", "email", "o@x.kz", {})], now)
    claim(store, now, limit=1)
    with store.read() as conn:
        counts = q.delivery_counts(conn, desk_users.org_id)
        assert counts == {"pending": 1, "queued": 0, "sending": 1, "sent": 1, "dead": 0}
        assert sum(q.delivery_counts(conn).values()) == 4
        listed = q.list_deliveries(conn, org_id=desk_users.org_id)
        assert [d.id for d in listed] == ids[::-1]
        assert [d.id for d in q.list_deliveries(conn, state="sending")] == [ids[0]]
        assert [d.id for d in q.list_deliveries(conn, channel="inapp")] == [ids[2]]
        assert len(q.list_deliveries(conn, limit=2, offset=3)) == 1
        with pytest.raises(InvalidInput):
            q.list_deliveries(conn, state="lost")


def test_user_channels_upsert_encrypted(store: Store, desk_users: Desk) -> None:
    now = store.now()
    with store.write() as conn:
        stored = q.set_user_channel(
            conn, store.cipher, desk_users.alice, "email", " Aida@ORDA.kz ", now
        )
        q.set_user_channel(conn, store.cipher, desk_users.alice, "telegram", "123456", now)
        q.set_user_channel(conn, store.cipher, desk_users.alice, "email", "new@orda.kz", now)
        q.set_user_channel(conn, store.cipher, desk_users.bob, "telegram", "-100777", now)
        with pytest.raises(InvalidInput) as exc:
            q.set_user_channel(conn, store.cipher, desk_users.bob, "email", "nobody", now)
        assert exc.value.problems[0].rule == "email"
    assert stored == "Aida@orda.kz"
    with store.read() as conn:
        found = q.user_channels(conn, store.cipher, [desk_users.alice, desk_users.bob, 10**6])
        raw = conn.execute(sa.select(user_channels.c.address_enc)).scalars().all()
    assert found == {
        desk_users.alice: {"email": "new@orda.kz", "telegram": "123456"},
        desk_users.bob: {"telegram": "-100777"},
    }
    assert len(raw) == 3 and not any("orda" in r or "123456" in r for r in raw)
    with store.write() as conn:
        assert q.remove_user_channel(conn, desk_users.alice, "email") is True
        assert q.remove_user_channel(conn, desk_users.alice, "email") is False
    with store.read() as conn:
        assert q.user_channels(conn, store.cipher, [desk_users.alice]) == {
            desk_users.alice: {"telegram": "123456"}
        }


def test_concurrent_claimers_never_share_a_row(store: Store, desk_users: Desk) -> None:
    now = store.now()
    ids = enqueue(store, [email(desk_users, f"u{i}@orda.kz") for i in range(120)], now)
    taken: dict[str, list[int]] = {"a": [], "b": []}
    errors: list[BaseException] = []
    start = threading.Barrier(2)
    # After its first batch each worker waits (briefly) for the other's first: on a loaded
    # machine one thread could otherwise drain the queue before the other is scheduled, and
    # the test would prove nothing about two claimers.
    first = {name: threading.Event() for name in taken}

    def worker(name: str) -> None:
        other = next(n for n in taken if n != name)
        try:
            start.wait()
            while True:
                batch = claim(store, now, limit=7)
                if not batch:
                    return
                taken[name] += [c.id for c in batch]
                if not first[name].is_set():
                    first[name].set()
                    first[other].wait(timeout=10)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in taken]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert not set(taken["a"]) & set(taken["b"])
    assert sorted(taken["a"] + taken["b"]) == ids
    assert taken["a"] and taken["b"]  # both did take part


def test_a_row_that_cannot_be_decrypted_does_not_block_the_queue(
    store: Store, desk_users: Desk
) -> None:
    now = store.now()
    bad, good = enqueue(store, [email(desk_users), email(desk_users, "b@orda.kz")], now)
    with store.write() as conn:  # as if encrypted with a key since lost from the key file
        conn.execute(
            deliveries.update()
            .where(deliveries.c.id == bad)
            .values(address_enc="enc1:lost-key:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        )
    assert [(c.id, c.address) for c in claim(store, now)] == [(good, "b@orda.kz")]
    r = row(store, bad)
    assert r["state"] == "dead" and "lost-key" in r["last_error"]
