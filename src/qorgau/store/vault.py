"""The evidence vault in the database: items, the append-only log of their additions and the
signed heads of its Merkle tree, plus the custody record of every view and export.

Every item added is a leaf of an RFC 6962 Merkle tree. The leaf entry is canonical JSON of the
item's facts (hash, size, type, how, when, derived from what) — never personal data, because
entries and proofs travel in export packages. After each addition the new tree head is signed
with the vault key (kept outside the database), so a later change to any entry, any deletion
and any head swapped for another shows when the log is checked against its heads.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import rfc8785
import sqlalchemy as sa

from qorgau.errors import NotFound
from qorgau.security.fields import FieldCipher
from qorgau.store.store import Store
from qorgau.store.tables import case_locks, vault_custody, vault_heads, vault_items, vault_log
from qorgau.vault.merkle import MerkleTree, leaf_hash
from qorgau.vault.signing import SigningKeys, TreeHead

ROLES = ("original", "working", "redacted", "capture-part")
NAME_AAD = "vault_items.original_name"
_PG_LOG_LOCK = 0x51_56_4C_47  # "QVLG": one writer appends to the log at a time


@dataclass(frozen=True)
class NewItem:
    org_id: int
    sha256: str
    size: int
    media_type: str
    method: str
    collector_id: int | None
    collector_name: str
    collected_at: datetime
    incident_id: int | None = None
    incident_public_id: str | None = None
    role: str = "original"
    original_name: str | None = None
    source: str | None = None
    derived_from: Item | None = None
    derivation: str | None = None
    capture_id: str | None = None
    details: dict[str, Any] | None = None
    search_text: str | None = None


@dataclass(frozen=True)
class Item:
    id: int
    org_id: int
    incident_id: int | None
    sha256: str
    size: int
    media_type: str
    role: str
    method: str
    original_name: str | None
    source: str | None
    collected_at: datetime
    collected_by: int | None
    collector_name: str
    derived_from_id: int | None
    derivation: str | None
    capture_id: str | None
    details: dict[str, Any]
    search_text: str | None
    leaf_index: int


@dataclass(frozen=True)
class SignedHead:
    id: int
    head: TreeHead
    signature: bytes
    tsa_token: bytes | None
    tsa_url: str | None


@dataclass(frozen=True)
class Custody:
    at: datetime
    actor_name: str
    action: str
    reason: str | None
    detail: dict[str, Any] | None


def leaf_entry(item_id: int, index: int, new: NewItem) -> bytes:
    """The bytes a leaf commits to (RFC 8785 canonical JSON): facts, no personal data."""
    return rfc8785.dumps(
        {
            "v": 1,
            "leaf_index": index,
            "item_id": item_id,
            "sha256": new.sha256,
            "size": new.size,
            "media_type": new.media_type,
            "role": new.role,
            "method": new.method,
            "collected_at": new.collected_at.isoformat(),
            "derived_from": new.derived_from.sha256 if new.derived_from else None,
            "capture_id": new.capture_id,
            "incident": new.incident_public_id,
        }
    )


def _lock_log(conn: sa.Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOG_LOCK})


def log_size(conn: sa.Connection) -> int:
    n = conn.execute(sa.select(sa.func.max(vault_log.c.leaf_index))).scalar()
    return 0 if n is None else int(n) + 1


def leaf_hashes(conn: sa.Connection, size: int | None = None) -> list[bytes]:
    stmt = sa.select(vault_log.c.leaf_hash).order_by(vault_log.c.leaf_index)
    if size is not None:
        stmt = stmt.where(vault_log.c.leaf_index < size)
    return [bytes.fromhex(h) for h in conn.execute(stmt).scalars()]


def add_items(
    conn: sa.Connection,
    cipher: FieldCipher,
    keys: SigningKeys,
    items: list[NewItem],
    now: datetime,
) -> tuple[list[Item], SignedHead]:
    """Append items to the log and sign the new tree head, in the caller's transaction."""
    _lock_log(conn)
    index = log_size(conn)
    added_ids: list[int] = []
    new_leaves: list[bytes] = []
    for new in items:
        item_id = conn.execute(
            vault_items.insert()
            .values(
                org_id=new.org_id,
                incident_id=new.incident_id,
                sha256=new.sha256,
                size=new.size,
                media_type=new.media_type[:120],
                role=new.role,
                method=new.method,
                original_name_enc=cipher.encrypt(new.original_name, NAME_AAD)
                if new.original_name
                else None,
                source=new.source,
                collected_at=new.collected_at,
                collected_by=new.collector_id,
                collector_name=new.collector_name[:64],
                derived_from_id=new.derived_from.id if new.derived_from else None,
                derivation=new.derivation,
                capture_id=new.capture_id,
                details=new.details or {},
                search_text=new.search_text,
                leaf_index=index,
                created_at=now,
            )
            .returning(vault_items.c.id)
        ).scalar_one()
        entry = leaf_entry(int(item_id), index, new)
        h = leaf_hash(entry)
        conn.execute(
            vault_log.insert().values(
                leaf_index=index, entry=entry.decode("utf-8"), leaf_hash=h.hex(), created_at=now
            )
        )
        record_custody(
            conn,
            int(item_id),
            new.collector_id,
            new.collector_name,
            "derived" if new.derived_from else "collected",
            new.derivation,
            {"method": new.method, "source": new.source},
            None,
            now,
        )
        added_ids.append(int(item_id))
        new_leaves.append(h)
        index += 1
    tree = MerkleTree([*leaf_hashes(conn, index - len(items)), *new_leaves])
    head = sign_head(conn, keys, tree, now)
    return [get_item(conn, cipher, i) for i in added_ids], head


def sign_head(
    conn: sa.Connection, keys: SigningKeys, tree: MerkleTree, now: datetime
) -> SignedHead:
    head = TreeHead(
        tree_size=tree.size,
        root_hash=tree.root(),
        timestamp_ms=int(now.timestamp() * 1000),
        key_id=keys.active_key_id,
    )
    signature = keys.sign(head)
    head_id = conn.execute(
        vault_heads.insert()
        .values(
            tree_size=head.tree_size,
            root_hash=head.root_hash.hex(),
            timestamp_ms=head.timestamp_ms,
            key_id=head.key_id,
            signature=base64.b64encode(signature).decode("ascii"),
            created_at=now,
        )
        .returning(vault_heads.c.id)
    ).scalar_one()
    return SignedHead(int(head_id), head, signature, None, None)


def _decode_head(m: Any) -> SignedHead:
    return SignedHead(
        m["id"],
        TreeHead(m["tree_size"], bytes.fromhex(m["root_hash"]), m["timestamp_ms"], m["key_id"]),
        base64.b64decode(m["signature"]),
        base64.b64decode(m["tsa_token"]) if m["tsa_token"] else None,
        m["tsa_url"],
    )


def heads(conn: sa.Connection) -> list[SignedHead]:
    rows = conn.execute(sa.select(vault_heads).order_by(vault_heads.c.id)).mappings()
    return [_decode_head(m) for m in rows]


def latest_head(conn: sa.Connection) -> SignedHead | None:
    m = (
        conn.execute(sa.select(vault_heads).order_by(vault_heads.c.id.desc()).limit(1))
        .mappings()
        .first()
    )
    return _decode_head(m) if m else None


def unstamped_heads(conn: sa.Connection, limit: int = 100) -> list[SignedHead]:
    rows = conn.execute(
        sa.select(vault_heads)
        .where(vault_heads.c.tsa_token.is_(None))
        .order_by(vault_heads.c.id)
        .limit(limit)
    ).mappings()
    return [_decode_head(m) for m in rows]


def set_timestamp(conn: sa.Connection, head_id: int, token: bytes, url: str) -> None:
    conn.execute(
        vault_heads.update()
        .where(vault_heads.c.id == head_id)
        .values(tsa_token=base64.b64encode(token).decode("ascii"), tsa_url=url)
    )


def head_digest(head: TreeHead) -> bytes:
    """What a Time-Stamping Authority countersigns: SHA-256 of the signed head bytes."""
    return hashlib.sha256(head.signed_bytes()).digest()


def _decode_item(cipher: FieldCipher, m: Any) -> Item:
    return Item(
        id=m["id"],
        org_id=m["org_id"],
        incident_id=m["incident_id"],
        sha256=m["sha256"],
        size=m["size"],
        media_type=m["media_type"],
        role=m["role"],
        method=m["method"],
        original_name=cipher.decrypt(m["original_name_enc"], NAME_AAD)
        if m["original_name_enc"]
        else None,
        source=m["source"],
        collected_at=m["collected_at"],
        collected_by=m["collected_by"],
        collector_name=m["collector_name"],
        derived_from_id=m["derived_from_id"],
        derivation=m["derivation"],
        capture_id=m["capture_id"],
        details=dict(m["details"] or {}),
        search_text=m["search_text"],
        leaf_index=m["leaf_index"],
    )


def get_item(conn: sa.Connection, cipher: FieldCipher, item_id: int) -> Item:
    m = conn.execute(sa.select(vault_items).where(vault_items.c.id == item_id)).mappings().first()
    if m is None:
        raise NotFound(f"evidence item {item_id} not found")
    if m["erased_at"] is not None:
        raise NotFound(
            f"evidence item {item_id} was erased; its hash stays in the log, its content is gone"
        )
    return _decode_item(cipher, m)


def items_for_incidents(
    conn: sa.Connection, cipher: FieldCipher, incident_ids: list[int]
) -> list[Item]:
    rows = conn.execute(
        sa.select(vault_items)
        .where(vault_items.c.incident_id.in_(incident_ids), vault_items.c.erased_at.is_(None))
        .order_by(vault_items.c.id)
    ).mappings()
    return [_decode_item(cipher, m) for m in rows]


def record_custody(
    conn: sa.Connection,
    item_id: int,
    actor_id: int | None,
    actor_name: str,
    action: str,
    reason: str | None,
    detail: dict[str, Any] | None,
    address: str | None,
    now: datetime,
) -> None:
    conn.execute(
        vault_custody.insert().values(
            item_id=item_id,
            at=now,
            actor_id=actor_id,
            actor_name=actor_name[:64],
            action=action,
            reason=reason,
            detail=detail,
            address=address,
        )
    )


def custody(conn: sa.Connection, item_ids: list[int]) -> dict[int, list[Custody]]:
    out: dict[int, list[Custody]] = {i: [] for i in item_ids}
    rows = conn.execute(
        sa.select(vault_custody)
        .where(vault_custody.c.item_id.in_(item_ids))
        .order_by(vault_custody.c.id)
    ).mappings()
    for m in rows:
        out[m["item_id"]].append(
            Custody(m["at"], m["actor_name"], m["action"], m["reason"], m["detail"])
        )
    return out


def entries(conn: sa.Connection, indices: list[int]) -> dict[int, str]:
    rows = conn.execute(
        sa.select(vault_log.c.leaf_index, vault_log.c.entry).where(
            vault_log.c.leaf_index.in_(indices)
        )
    )
    return {i: e for i, e in rows}


def search_items(
    conn: sa.Connection, cipher: FieldCipher, org_id: int | None, words: list[str], limit: int
) -> list[Item]:
    """Items whose captured text or author handle holds every word (case-insensitive)."""
    stmt = sa.select(vault_items).where(vault_items.c.search_text.is_not(None))
    if org_id is not None:
        # Not an administrator: nothing of a case under a panic lock (docs/decisions/0026).
        stmt = stmt.where(
            vault_items.c.org_id == org_id,
            sa.or_(
                vault_items.c.incident_id.is_(None),
                vault_items.c.incident_id.not_in(sa.select(case_locks.c.incident_id)),
            ),
        )
    for w in words:
        stmt = stmt.where(sa.func.lower(vault_items.c.search_text).contains(w.lower()))
    rows = conn.execute(stmt.order_by(vault_items.c.id.desc()).limit(limit)).mappings()
    return [_decode_item(cipher, m) for m in rows]


def signing_keys(store: Store) -> SigningKeys:
    """The vault's signing keys, loaded once per process. They are created on first use only
    while the log has no signed head: a key file gone missing later (a volume not mounted, a
    wrong path) must stop the vault, not be replaced by a new key that would sign the rest of
    the log while every earlier head stayed uncheckable."""
    found = store.caches.get("vault_keys")
    if found is None:
        path = store.settings.resolved_vault_key_file
        create = False
        if not path.exists():
            with store.read() as conn:
                create = conn.execute(sa.select(vault_heads.c.id).limit(1)).first() is None
        found = SigningKeys.load(path, create=create)
        store.caches["vault_keys"] = found
    assert isinstance(found, SigningKeys)
    return found
