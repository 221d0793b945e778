"""An RFC 6962 (Certificate Transparency) Merkle tree over the evidence log.

Why this shape: every evidence item becomes one leaf of an append-only log. A signed root
(``qorgau.vault.signing``) commits the desk to the whole log at a size; an *inclusion proof*
shows a court that one item is in that log without handing over the rest, and a *consistency
proof* shows that a later log only extended an earlier one, so nothing was removed or altered
after the earlier head was signed or timestamped. Using the exact RFC 6962 hashing (with the
0x00/0x01 domain-separation prefixes) lets anyone check the proofs with existing CT tooling or a
few lines of code.

The tree keeps every *complete* subtree hash (``_levels[h][i]`` is the hash of leaves
``i * 2**h`` to ``(i + 1) * 2**h``), so appending costs one hash amortised, and roots and proofs
for any earlier size need only O(log n) cached look-ups plus O(log n) hashes for the ragged
right edge.

The ``verify_*`` functions are pure and depend on ``hashlib`` only, so they can be copied into
an export package and run on a lawyer's machine without Qorgau.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(entry: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || entry)."""
    return hashlib.sha256(_LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """The k of RFC 6962: the largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """An append-only Merkle tree of leaf hashes (not entries: hash with :func:`leaf_hash`).

    ``root``, ``inclusion_proof`` and ``consistency_proof`` work for any size up to the current
    one, so proofs against an older signed tree head can be produced after the log has grown.
    """

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        leaves = list(leaf_hashes)
        for h in leaves:
            _check_hash(h, "leaf hash")
        # Build level by level: far faster than repeated append for bulk loads.
        self._levels: list[list[bytes]] = [leaves]
        level = leaves
        while len(level) >= 2:
            sha = hashlib.sha256
            prefix = _NODE_PREFIX
            level = [
                sha(prefix + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)
            ]
            self._levels.append(level)

    @property
    def size(self) -> int:
        """Number of leaves."""
        return len(self._levels[0])

    def leaf(self, index: int) -> bytes:
        """The leaf hash at ``index``."""
        return self._levels[0][index]

    def append(self, leaf_hash: bytes) -> int:
        """Add a leaf hash; returns its index. Completes every subtree the new leaf closes."""
        _check_hash(leaf_hash, "leaf hash")
        levels = self._levels
        levels[0].append(leaf_hash)
        index = len(levels[0]) - 1
        height, position, current = 0, index, leaf_hash
        while position & 1:  # a right child: its parent subtree is now complete
            parent = node_hash(levels[height][position - 1], current)
            height += 1
            position >>= 1
            if len(levels) == height:
                levels.append([])
            levels[height].append(parent)
            current = parent
        return index

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first ``size`` leaves (default: all); SHA-256("") for an empty tree."""
        size = self.size if size is None else size
        if not 0 <= size <= self.size:
            raise ValueError(f"tree size {size} is outside 0..{self.size}")
        if size == 0:
            return EMPTY_ROOT
        return self._subtree(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 6962 §2.1.1 audit PATH of leaf ``index`` in the tree of the first ``size`` leaves,
        ordered from the leaf's sibling up to the child of the root."""
        size = self.size if size is None else size
        if not 0 <= size <= self.size:
            raise ValueError(f"tree size {size} is outside 0..{self.size}")
        if not 0 <= index < size:
            raise ValueError(f"leaf index {index} is outside 0..{size - 1}")
        proof: list[bytes] = []
        start, end = 0, size
        # Walk down from the root, collecting the sibling at each split; reverse at the end.
        while end - start > 1:
            k = _largest_power_of_two_below(end - start)
            if index - start < k:
                proof.append(self._subtree(start + k, end))
                end = start + k
            else:
                proof.append(self._subtree(start, start + k))
                start += k
        proof.reverse()
        return proof

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """RFC 6962 §2.1.2 PROOF that the tree of ``old_size`` leaves is a prefix of the tree of
        ``new_size`` leaves. Empty when ``old_size`` is 0 or equals ``new_size``."""
        new_size = self.size if new_size is None else new_size
        if not 0 <= new_size <= self.size:
            raise ValueError(f"tree size {new_size} is outside 0..{self.size}")
        if not 0 <= old_size <= new_size:
            raise ValueError(f"old size {old_size} is outside 0..{new_size}")
        if old_size in (0, new_size):
            return []
        proof: list[bytes] = []
        # SUBPROOF(m, D[start:end], b), iteratively: m stays relative to ``start``.
        m, start, end, complete = old_size, 0, new_size, True
        while m != end - start:
            k = _largest_power_of_two_below(end - start)
            if m <= k:
                proof.append(self._subtree(start + k, end))
                end = start + k
            else:
                proof.append(self._subtree(start, start + k))
                m -= k
                start += k
                complete = False
        if not complete:
            proof.append(self._subtree(start, end))
        proof.reverse()
        return proof

    def _subtree(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for a range produced by RFC 6962's recursive split."""
        n = end - start
        if n & (n - 1) == 0 and start % n == 0:  # complete subtree: cached
            return self._levels[n.bit_length() - 1][start // n]
        k = _largest_power_of_two_below(n)
        return node_hash(self._subtree(start, start + k), self._subtree(start + k, end))


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise ValueError(f"{what} must be {HASH_SIZE} bytes")


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: does ``proof`` show leaf ``index`` of a ``size``-leaf tree with this
    ``root`` has hash ``leaf_hash``?

    Note that an inclusion proof binds the size only as far as the shape of the path; a
    verifier must take ``size`` and ``root`` together from one signed tree head.
    """
    if not (_is_hash(leaf_hash) and _is_hash(root) and all(_is_hash(p) for p in proof)):
        return False
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:  # the right border: climb past levels with no sibling
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and hmac.compare_digest(r, root)


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: does ``proof`` show the ``old_size`` tree with ``old_root`` is a prefix
    of the ``new_size`` tree with ``new_root``?

    Edge cases the RFC leaves to the caller: equal sizes need an empty proof and equal roots;
    an empty old tree needs an empty proof and the empty-tree root SHA-256("").
    """
    if not (_is_hash(old_root) and _is_hash(new_root) and all(_is_hash(p) for p in proof)):
        return False
    if not 0 <= old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and hmac.compare_digest(old_root, new_root)
    if old_size == 0:
        return not proof and hmac.compare_digest(old_root, EMPTY_ROOT)
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is itself a node
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and hmac.compare_digest(fr, old_root) and hmac.compare_digest(sr, new_root)
