"""Re-check the whole vault: every blob against its hash, every log entry against its leaf
hash, every item against its entry, and every signed tree head against the log.

A verify run never stops at the first problem and never crashes on a damaged vault: it lists
each problem with where it is (blob, entry, item, head) and what happened (altered, missing,
added), so that an operator — or a court's expert — knows exactly what no longer holds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa

from qorgau.errors import NotFound, QorgauError
from qorgau.store.blobs import BlobIntegrityError, BlobStore
from qorgau.store.tables import vault_items, vault_log
from qorgau.store.vault import head_digest, heads
from qorgau.vault.merkle import MerkleTree, leaf_hash
from qorgau.vault.signing import SigningKeys


@dataclass(frozen=True)
class Problem:
    kind: str  # blob_altered, blob_missing, entry_altered, entry_missing, item_mismatch,
    # item_unlogged, head_signature, head_mismatch, head_beyond_log, timestamp_invalid,
    # blob_unexpected
    where: str
    message: str


@dataclass
class VerifyReport:
    blobs_checked: int = 0
    entries_checked: int = 0
    items_checked: int = 0
    heads_checked: int = 0
    timestamps_checked: int = 0
    unsealed_entries: int = 0
    problems: list[Problem] = field(default_factory=list)
    # Items whose content was erased on request or by retention: (item id, log index, SHA-256).
    # Their entries and leaf hashes still verify; only the bytes are gone, on purpose.
    erased: list[tuple[int, int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, kind: str, where: str, message: str) -> None:
        self.problems.append(Problem(kind, where, message))


def verify_vault(
    conn: sa.Connection,
    blobs: BlobStore,
    keys: SigningKeys,
    *,
    check_timestamp: Callable[[bytes, bytes], None] | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> VerifyReport:
    """``check_timestamp(token, digest)`` raises if a head's RFC 3161 token does not hold."""
    report = VerifyReport()
    log = list(
        conn.execute(
            sa.select(vault_log.c.leaf_index, vault_log.c.entry, vault_log.c.leaf_hash).order_by(
                vault_log.c.leaf_index
            )
        )
    )
    # -- the log: contiguous, each entry hashing to its leaf -------------------------------
    recomputed: list[bytes] = []
    by_index: dict[int, dict[str, object]] = {}
    expected = 0
    for index, entry, stored_hash in log:
        while expected < index:
            report.add(
                "entry_missing",
                f"log entry {expected}",
                f"log entry {expected} is missing: entries were deleted from the log",
            )
            recomputed.append(bytes(32))  # keeps positions; no head over it can match
            expected += 1
        h = leaf_hash(entry.encode("utf-8"))
        if h.hex() != stored_hash:
            report.add(
                "entry_altered",
                f"log entry {index}",
                f"log entry {index} was altered: it no longer hashes to its recorded leaf",
            )
        recomputed.append(h)
        try:
            by_index[index] = json.loads(entry)
        except ValueError:
            report.add("entry_altered", f"log entry {index}", f"log entry {index} is not JSON")
        report.entries_checked += 1
        expected = index + 1
    if progress:
        progress("log", report.entries_checked)

    # -- items against their entries -------------------------------------------------------
    shas: set[str] = set()
    referenced: set[str] = set()
    logged: set[int] = set()
    for m in conn.execute(
        sa.select(
            vault_items.c.id,
            vault_items.c.sha256,
            vault_items.c.size,
            vault_items.c.media_type,
            vault_items.c.leaf_index,
            vault_items.c.erased_at,
        )
    ).mappings():
        report.items_checked += 1
        referenced.add(m["sha256"])
        if m["erased_at"] is None:
            shas.add(m["sha256"])
        else:
            report.erased.append((m["id"], m["leaf_index"], m["sha256"]))
        entry = by_index.get(m["leaf_index"])
        where = f"item {m['id']}"
        if entry is None:
            report.add(
                "item_unlogged",
                where,
                f"item {m['id']} points at log entry {m['leaf_index']}, which does not exist:"
                " it was added outside the log or its entry was deleted",
            )
            continue
        logged.add(m["leaf_index"])
        for key in ("sha256", "size", "media_type"):
            if entry.get(key) != m[key]:
                report.add(
                    "item_mismatch",
                    where,
                    f"item {m['id']}: its {key} differs from the logged value"
                    f" ({entry.get(key)!r} logged, {m[key]!r} stored)",
                )
        if entry.get("item_id") != m["id"]:
            report.add("item_mismatch", where, f"item {m['id']} is not the item its entry names")
    for index in sorted(set(by_index) - logged):
        report.add(
            "item_missing",
            f"log entry {index}",
            f"log entry {index} records item {by_index[index].get('item_id')}"
            f" ({by_index[index].get('sha256')}), which is no longer in the vault",
        )

    # -- blobs -----------------------------------------------------------------------------
    for sha in sorted(shas):
        try:
            blobs.get(sha)
        except BlobIntegrityError:
            report.add("blob_altered", f"blob {sha}", f"blob {sha} was altered or replaced")
        except NotFound:
            report.add("blob_missing", f"blob {sha}", f"blob {sha} is missing from storage")
        except QorgauError as exc:
            report.add("blob_unreadable", f"blob {sha}", f"blob {sha}: {exc}")
        report.blobs_checked += 1
        if progress and report.blobs_checked % 1000 == 0:
            progress("blobs", report.blobs_checked)
    try:
        stored = set(blobs.names())
    except OSError:
        stored = set()
    for sha in sorted(stored - referenced):
        report.add(
            "blob_unexpected",
            f"blob {sha}",
            f"blob {sha} is in storage but no item refers to it: it was added outside the vault",
        )

    # -- signed heads against the log ------------------------------------------------------
    tree = MerkleTree(recomputed)
    signed = heads(conn)
    for sh in signed:
        report.heads_checked += 1
        where = f"tree head {sh.id} (size {sh.head.tree_size})"
        if not keys.verify(sh.head, sh.signature):
            report.add(
                "head_signature",
                where,
                f"{where}: its signature does not verify with the vault key: the head was"
                " altered or swapped",
            )
            continue
        if sh.head.tree_size > tree.size:
            report.add(
                "head_beyond_log",
                where,
                f"{where}: the log has only {tree.size} entries: entries were removed",
            )
            continue
        if tree.root(sh.head.tree_size) != sh.head.root_hash:
            report.add(
                "head_mismatch",
                where,
                f"{where}: the log's first {sh.head.tree_size} entries no longer produce the"
                " signed root: entries were altered, inserted or removed",
            )
        if sh.tsa_token is not None and check_timestamp is not None:
            report.timestamps_checked += 1
            try:
                check_timestamp(sh.tsa_token, head_digest(sh.head))
            except QorgauError as exc:
                report.add("timestamp_invalid", where, f"{where}: timestamp token: {exc}")
    if signed:
        report.unsealed_entries = max(tree.size - signed[-1].head.tree_size, 0)
    else:
        report.unsealed_entries = tree.size
    return report
