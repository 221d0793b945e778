"""The evidence log is an RFC 6962 Merkle tree: its roots and proofs must match the Certificate
Transparency reference vectors, so that any CT verifier (not just ours) can check them, and a
proof must stop verifying as soon as any part of the claim is altered."""

from __future__ import annotations

import hashlib
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qorgau.vault.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)

# Reference data of google/certificate-transparency (cpp/merkletree/merkle_tree_test.cc), also
# used by trillian and transparency-dev/merkle. Literals, independent of the code under test.
CT_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (leaf index 0-based, tree size, audit path)
CT_PATHS = [
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
# (old size, new size, consistency proof)
CT_CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]


def ct_tree() -> MerkleTree:
    return MerkleTree(leaf_hash(e) for e in CT_LEAVES)


def mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1 MTH written as the RFC defines it, recursively: the slow reference."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


# One shared tree for the property tests: distinct leaves, so any mix-up shows in the hashes.
BIG_N = 300
BIG_LEAVES = [leaf_hash(f"evidence item {i}".encode()) for i in range(BIG_N)]
BIG = MerkleTree(BIG_LEAVES)


def test_leaf_and_node_hashes_use_the_rfc_6962_domain_prefixes() -> None:
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    assert node_hash(a, b) == hashlib.sha256(b"\x01" + a + b).digest()
    assert node_hash(a, b) != node_hash(b, a)


def test_empty_tree_root_is_the_hash_of_nothing() -> None:
    assert MerkleTree().root() == EMPTY_ROOT
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert ct_tree().root(0) == EMPTY_ROOT


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_the_ct_reference_vectors(size: int) -> None:
    assert ct_tree().root(size).hex() == CT_ROOTS[size - 1]
    grown = MerkleTree()
    for entry in CT_LEAVES[:size]:
        grown.append(leaf_hash(entry))
    assert grown.size == size
    assert grown.root().hex() == CT_ROOTS[size - 1]


@pytest.mark.parametrize(("index", "size", "path"), CT_PATHS)
def test_inclusion_proofs_match_the_ct_reference_vectors(
    index: int, size: int, path: list[str]
) -> None:
    proof = ct_tree().inclusion_proof(index, size)
    assert [p.hex() for p in proof] == path
    root = bytes.fromhex(CT_ROOTS[size - 1])
    assert verify_inclusion(leaf_hash(CT_LEAVES[index]), index, size, proof, root)


@pytest.mark.parametrize(("old", "new", "path"), CT_CONSISTENCY)
def test_consistency_proofs_match_the_ct_reference_vectors(
    old: int, new: int, path: list[str]
) -> None:
    proof = ct_tree().consistency_proof(old, new)
    assert [p.hex() for p in proof] == path
    old_root, new_root = (bytes.fromhex(CT_ROOTS[s - 1]) for s in (old, new))
    assert verify_consistency(old, new, old_root, new_root, proof)


def test_roots_of_every_prefix_match_the_recursive_definition() -> None:
    for n in range(0, 70):
        assert BIG.root(n) == mth(BIG_LEAVES[:n]), n


def test_appending_one_by_one_equals_building_in_bulk() -> None:
    tree = MerkleTree()
    for i, h in enumerate(BIG_LEAVES[:130]):
        assert tree.append(h) == i
        assert tree.root() == BIG.root(i + 1)
    assert tree.inclusion_proof(77, 129) == BIG.inclusion_proof(77, 129)
    assert tree.consistency_proof(33, 130) == BIG.consistency_proof(33, 130)


def test_out_of_range_requests_are_refused() -> None:
    tree = ct_tree()
    with pytest.raises(ValueError, match="outside"):
        tree.root(9)
    with pytest.raises(ValueError, match="leaf index 8"):
        tree.inclusion_proof(8, 8)
    with pytest.raises(ValueError, match="outside"):
        tree.inclusion_proof(0, 9)
    with pytest.raises(ValueError, match="old size 5"):
        tree.consistency_proof(5, 4)
    with pytest.raises(ValueError, match="32 bytes"):
        tree.append(b"short")


def test_degenerate_consistency_claims() -> None:
    r3, r4 = BIG.root(3), BIG.root(4)
    assert verify_consistency(3, 3, r3, r3, [])
    assert not verify_consistency(3, 3, r3, r4, [])
    assert not verify_consistency(3, 3, r3, r3, [r3])
    assert verify_consistency(0, 4, EMPTY_ROOT, r4, [])
    assert not verify_consistency(0, 4, r3, r4, [])  # the empty tree has one root only
    assert not verify_consistency(0, 4, EMPTY_ROOT, r4, [r4])
    assert not verify_consistency(4, 3, r4, r3, BIG.consistency_proof(3, 4))
    assert not verify_consistency(3, 4, r3, r4, [])


def test_inclusion_proof_alone_does_not_fix_the_tree_size() -> None:
    """Known property of RFC 9162 verification: leaf 0 of the 3-leaf tree also 'verifies' as
    leaf 0 of a 4-leaf tree with the same root. That is why a proof is only ever checked
    against a (size, root) pair taken together from one signed tree head."""
    proof = BIG.inclusion_proof(0, 3)
    assert verify_inclusion(BIG_LEAVES[0], 0, 4, proof, BIG.root(3))
    assert not verify_inclusion(BIG_LEAVES[0], 0, 4, proof, BIG.root(4))


def flip(value: bytes, position: int, bit: int) -> bytes:
    out = bytearray(value)
    out[position % len(out)] ^= 1 << bit
    return bytes(out)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_every_inclusion_proof_verifies_and_any_change_breaks_it(data: st.DataObject) -> None:
    size = data.draw(st.integers(1, BIG_N), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    proof = BIG.inclusion_proof(index, size)
    root, leaf = BIG.root(size), BIG_LEAVES[index]
    assert verify_inclusion(leaf, index, size, proof, root)

    pos = data.draw(st.integers(0, 31), label="byte")
    bit = data.draw(st.integers(0, 7), label="bit")
    assert not verify_inclusion(flip(leaf, pos, bit), index, size, proof, root)
    assert not verify_inclusion(leaf, index, size, proof, flip(root, pos, bit))
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1), label="element")
        bad = [*proof[:i], flip(proof[i], pos, bit), *proof[i + 1 :]]
        assert not verify_inclusion(leaf, index, size, bad, root)
        assert not verify_inclusion(leaf, index, size, proof[:-1], root)
    assert not verify_inclusion(leaf, index, size, [*proof, root], root)

    other_index = data.draw(st.integers(0, BIG_N).filter(lambda i: i != index), label="index2")
    assert not verify_inclusion(leaf, other_index, size, proof, root)
    # A claim about another tree head (size with its own root) fails unless that head
    # happens to have the very same audit path.
    other_size = data.draw(st.integers(index + 1, BIG_N).filter(lambda s: s != size))
    if BIG.inclusion_proof(index, other_size) != proof:
        assert not verify_inclusion(leaf, index, other_size, proof, BIG.root(other_size))
    assert not verify_inclusion(leaf, index, index, proof, root)  # index == size


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_every_consistency_proof_verifies_and_any_change_breaks_it(data: st.DataObject) -> None:
    new = data.draw(st.integers(2, BIG_N), label="new")
    old = data.draw(st.integers(1, new - 1), label="old")
    proof = BIG.consistency_proof(old, new)
    old_root, new_root = BIG.root(old), BIG.root(new)
    assert verify_consistency(old, new, old_root, new_root, proof)

    pos = data.draw(st.integers(0, 31), label="byte")
    bit = data.draw(st.integers(0, 7), label="bit")
    assert not verify_consistency(old, new, flip(old_root, pos, bit), new_root, proof)
    assert not verify_consistency(old, new, old_root, flip(new_root, pos, bit), proof)
    assert not verify_consistency(old, new, new_root, old_root, proof)
    i = data.draw(st.integers(0, len(proof) - 1), label="element")
    bad = [*proof[:i], flip(proof[i], pos, bit), *proof[i + 1 :]]
    assert not verify_consistency(old, new, old_root, new_root, bad)
    assert not verify_consistency(old, new, old_root, new_root, proof[:-1])
    assert not verify_consistency(old, new, old_root, new_root, [*proof, new_root])
    assert not verify_consistency(old, new, old_root, new_root, [old_root, *proof])

    # Claims about other tree heads, each with its true root, fail with this proof.
    other_old = data.draw(st.integers(1, new).filter(lambda s: s != old), label="old2")
    if BIG.consistency_proof(other_old, new) != proof:
        assert not verify_consistency(other_old, new, BIG.root(other_old), new_root, proof)
    other_new = data.draw(st.integers(old, BIG_N).filter(lambda s: s != new), label="new2")
    if BIG.consistency_proof(old, other_new) != proof:
        assert not verify_consistency(old, other_new, old_root, BIG.root(other_new), proof)


def test_a_large_tree_builds_fast_and_proves_in_milliseconds() -> None:
    n = 100_000
    leaves = [hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(n)]
    started = time.perf_counter()
    tree = MerkleTree(leaves)
    root = tree.root()
    build = time.perf_counter() - started
    assert build < 1.0, f"building {n} leaves took {build:.2f} s"

    grown = MerkleTree(leaves[: n - 1000])
    started = time.perf_counter()
    for h in leaves[n - 1000 :]:
        grown.append(h)
    assert grown.root() == root
    assert time.perf_counter() - started < 0.1

    checks = [(i * 7919 % n, n - (i * 104729 % 5000)) for i in range(200)]
    started = time.perf_counter()
    proofs = [tree.inclusion_proof(min(i, s - 1), s) for i, s in checks]
    consistency = [tree.consistency_proof(s // 3 + 1, s) for _, s in checks]
    per_proof = (time.perf_counter() - started) / (2 * len(checks))
    assert per_proof < 0.010, f"a proof took {per_proof * 1000:.2f} ms"
    i, s = checks[5]
    i = min(i, s - 1)
    assert verify_inclusion(leaves[i], i, s, proofs[5], tree.root(s))
    assert verify_consistency(s // 3 + 1, s, tree.root(s // 3 + 1), tree.root(s), consistency[5])
