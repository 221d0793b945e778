"""The blob store keeps attachment bytes encrypted, deduplicated and tamper-evident."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from qorgau.errors import NotFound
from qorgau.security.keys import new_keyring
from qorgau.store.blobs import BlobIntegrityError, BlobStore

SCREENSHOT = b"\x89PNG\r\n\x1a\n" + os.urandom(4096) + "угрозы в личку".encode()


@pytest.fixture
def blobs(tmp_path: Path) -> BlobStore:
    return BlobStore.from_ring(tmp_path / "blobs", new_keyring())


def test_round_trip_returns_the_plaintext_hash_and_the_same_bytes(blobs: BlobStore) -> None:
    digest = blobs.put(SCREENSHOT)
    assert digest == hashlib.sha256(SCREENSHOT).hexdigest()
    assert blobs.exists(digest)
    assert blobs.get(digest) == SCREENSHOT
    path = blobs.path_for(digest)
    assert path == blobs.root / digest[:2] / digest[2:4] / digest
    assert SCREENSHOT[-40:] not in path.read_bytes()  # encrypted at rest


def test_same_bytes_are_stored_once(blobs: BlobStore) -> None:
    first = blobs.put(SCREENSHOT)
    before = blobs.path_for(first).stat().st_mtime_ns
    assert blobs.put(SCREENSHOT) == first
    assert blobs.path_for(first).stat().st_mtime_ns == before
    files = [p for p in blobs.root.rglob("*") if p.is_file()]
    assert files == [blobs.path_for(first)]  # no temporary files left behind either


def test_files_and_folders_are_owner_only(blobs: BlobStore) -> None:
    digest = blobs.put(b"evidence")
    path = blobs.path_for(digest)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(blobs.root.stat().st_mode) == 0o700


def test_an_altered_file_is_detected(blobs: BlobStore) -> None:
    digest = blobs.put(SCREENSHOT)
    path = blobs.path_for(digest)
    raw = bytearray(path.read_bytes())
    raw[-20] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(BlobIntegrityError, match="altered"):
        blobs.get(digest)
    # Putting the genuine bytes again repairs the damaged copy.
    blobs.put(SCREENSHOT)
    assert blobs.get(digest) == SCREENSHOT


def test_a_file_moved_under_another_name_does_not_decrypt(blobs: BlobStore) -> None:
    a, b = blobs.put(b"first statement"), blobs.put(b"second statement")
    blobs.path_for(a).write_bytes(blobs.path_for(b).read_bytes())
    with pytest.raises(BlobIntegrityError):
        blobs.get(a)


def test_another_key_ring_cannot_read_the_blobs(blobs: BlobStore) -> None:
    digest = blobs.put(SCREENSHOT)
    other = BlobStore.from_ring(blobs.root, new_keyring())
    with pytest.raises(BlobIntegrityError):
        other.get(digest)


def test_rotation_keeps_old_blobs_readable(tmp_path: Path) -> None:
    ring = new_keyring()
    old = BlobStore.from_ring(tmp_path, ring)
    digest = old.put(b"written before rotation")
    rotated = BlobStore.from_ring(tmp_path, ring.rotated())
    assert rotated.get(digest) == b"written before rotation"
    fresh = rotated.put(b"written after rotation")
    assert rotated.path_for(fresh).read_bytes().startswith(b"QGBLOB2\x00\x02k2")
    assert old.path_for(digest).read_bytes().startswith(b"QGBLOB2\x00\x02k1")


def test_missing_and_malformed_names(blobs: BlobStore) -> None:
    with pytest.raises(NotFound):
        blobs.get("0" * 64)
    assert not blobs.exists("0" * 64)
    with pytest.raises(NotFound):
        blobs.get("../../etc/passwd")


def test_blobs_of_the_first_format_stay_readable(tmp_path: Path) -> None:
    """Format 1 bound the hash into the associated data; files written then still open."""
    import hashlib
    import os

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from qorgau.store.blobs import MAGIC, derive_blob_keys

    ring = new_keyring()
    store = BlobStore.from_ring(tmp_path, ring)
    data = b"an attachment filed before format 2"
    digest = hashlib.sha256(data).hexdigest()
    kid = ring.active.encode()
    header = MAGIC + bytes([len(kid)]) + kid
    nonce = os.urandom(12)
    key = derive_blob_keys(ring)[ring.active]
    sealed = header + nonce + AESGCM(key).encrypt(nonce, data, header + digest.encode())
    store.backend.write(digest, sealed)
    assert store.get(digest) == data


def test_large_blobs_hash_and_write_in_parallel_with_the_same_guarantees(
    tmp_path: Path,
) -> None:
    import os

    store = BlobStore.from_ring(tmp_path, new_keyring())
    data = os.urandom(9 * 1024 * 1024)  # over the parallel threshold
    digest = store.put(data)
    assert store.get(digest) == data
    assert store.put(data) == digest  # dedup
    assert not list((tmp_path / ".staging").iterdir())  # nothing left staged
    path = store.path_for(digest)
    raw = bytearray(path.read_bytes())
    raw[100] ^= 1
    path.write_bytes(bytes(raw))
    with pytest.raises(BlobIntegrityError):
        store.get(digest)
    assert store.put(data) == digest and store.get(digest) == data  # repaired


def test_a_streamed_file_is_stored_exactly_like_put(tmp_path: Path) -> None:
    ring = new_keyring()
    store = BlobStore.from_ring(tmp_path / "blobs", ring)
    data = os.urandom(17 * 1024 * 1024 + 123)  # several chunks and a ragged end
    src = tmp_path / "video.bin"
    src.write_bytes(data)
    name, size = store.put_file(src)
    assert (name, size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert store.get(name) == data
    assert store.put_file(src) == (name, size)  # stored once
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert store.get(store.put_file(empty)[0]) == b""
