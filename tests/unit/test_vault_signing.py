"""Signed tree heads must verify for the desk, for a stdlib-only script and for the openssl
CLI on a lawyer's machine; any change to the head or signature must break them, and a key
rotation must never orphan heads signed before it."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from qorgau.errors import ConfigurationError
from qorgau.vault.signing import SigningKeys, TreeHead, key_id_for, verify_signature

ROOT = bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
OPENSSL = shutil.which("openssl")


@pytest.fixture
def keys(tmp_path: Path) -> SigningKeys:
    return SigningKeys.load(tmp_path / "vault" / "signing.json", create=True)


def a_head(keys: SigningKeys, size: int = 8) -> TreeHead:
    return keys.head(size, ROOT, timestamp_ms=1_732_270_000_000)


def test_signed_bytes_are_the_documented_canonical_json() -> None:
    head = TreeHead(8, ROOT, 1_732_270_000_000, "1f2e3d4c5b6a7988")
    expected = (
        '{"key_id":"1f2e3d4c5b6a7988","root_hash":"' + ROOT.hex() + '",'
        '"timestamp_ms":1732270000000,"tree_size":8,"v":1}'
    ).encode()
    assert head.signed_bytes() == expected
    # What an export package's stdlib-only script does:
    stdlib = json.dumps(
        {
            "tree_size": 8,
            "root_hash": ROOT.hex(),
            "timestamp_ms": 1_732_270_000_000,
            "key_id": "1f2e3d4c5b6a7988",
            "v": 1,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")
    assert stdlib == expected
    assert TreeHead.from_signed_bytes(expected) == head


def test_non_canonical_or_foreign_bytes_are_not_a_head() -> None:
    good = TreeHead(8, ROOT, 1, "1f2e3d4c5b6a7988").signed_bytes()
    for bad in (
        good.replace(b",", b", "),
        good.replace(ROOT.hex().encode(), ROOT.hex().upper().encode()),
        good.replace(b'"v":1', b'"v":2'),
        good.replace(b'"tree_size":8', b'"tree_size":true'),
        b"[]",
        b"\xff",
    ):
        with pytest.raises(ValueError, match="not a signed tree head"):
            TreeHead.from_signed_bytes(bad)


def test_heads_reject_values_they_could_not_sign_faithfully() -> None:
    with pytest.raises(ValueError, match="32-byte"):
        TreeHead(1, b"\x00" * 31, 0, "1f2e3d4c5b6a7988")
    with pytest.raises(ValueError, match="tree_size"):
        TreeHead(2**53, ROOT, 0, "1f2e3d4c5b6a7988")
    with pytest.raises(ValueError, match="key_id"):
        TreeHead(1, ROOT, 0, "1F2E3D4C5B6A7988")


def test_sign_and_verify(keys: SigningKeys) -> None:
    head = a_head(keys)
    signature = keys.sign(head)
    assert len(signature) == 64
    assert keys.verify(head, signature)
    public = keys.public_keys()[keys.active_key_id]
    assert key_id_for(public) == keys.active_key_id
    assert verify_signature(public, head, signature)


def test_any_change_to_the_head_or_signature_fails(keys: SigningKeys) -> None:
    head = a_head(keys)
    signature = keys.sign(head)
    for changed in (
        replace(head, tree_size=9),
        replace(head, root_hash=bytes(32)),
        replace(head, timestamp_ms=head.timestamp_ms + 1),
        replace(head, key_id="0" * 16),
    ):
        assert not keys.verify(changed, signature)
    for i in (0, 31, 63):
        flipped = bytearray(signature)
        flipped[i] ^= 0x01
        assert not keys.verify(head, bytes(flipped))
    assert not keys.verify(head, signature[:-1])
    assert not keys.verify(head, b"")


def test_only_the_active_key_signs(keys: SigningKeys) -> None:
    with pytest.raises(ValueError, match="active signing key is"):
        keys.sign(TreeHead(1, ROOT, 0, "0123456789abcdef"))


def test_rotation_keeps_old_signatures_verifiable(keys: SigningKeys) -> None:
    old_id = keys.active_key_id
    old_head = a_head(keys)
    old_sig = keys.sign(old_head)

    new_id = keys.rotate()
    assert new_id != old_id
    assert keys.active_key_id == new_id
    assert keys.verify(old_head, old_sig)
    with pytest.raises(ValueError):
        keys.sign(old_head)  # a retired key signs nothing new
    new_head = a_head(keys, size=9)
    new_sig = keys.sign(new_head)

    reloaded = SigningKeys.load(keys.path)
    assert reloaded.active_key_id == new_id
    assert set(reloaded.public_keys()) == {old_id, new_id}
    assert reloaded.key_ids() == [old_id, new_id]
    assert reloaded.verify(old_head, old_sig)
    assert reloaded.verify(new_head, new_sig)
    assert not reloaded.verify(replace(new_head, key_id=old_id), new_sig)


def test_rotations_in_two_processes_are_merged(keys: SigningKeys) -> None:
    other = SigningKeys.load(keys.path)
    first = keys.rotate()
    second = other.rotate()
    on_disk = SigningKeys.load(keys.path)
    assert on_disk.active_key_id == second
    assert {first, second} <= set(on_disk.public_keys())
    assert len(on_disk.public_keys()) == 3
    assert on_disk.key_ids()[1:] == [first, second]


def test_key_file_is_owner_only_in_an_owner_only_folder(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "keys" / "signing.json"
    keys = SigningKeys.load(path, create=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    keys.rotate()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir() if p.suffix == ".tmp"] == []
    # Loading with create=True again must not replace the existing keys.
    again = SigningKeys.load(path, create=True)
    assert again.public_keys() == keys.public_keys()


def test_missing_file_is_a_configuration_error_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "signing.json"
    with pytest.raises(ConfigurationError, match="is missing") as exc:
        SigningKeys.load(path)
    assert str(path) in str(exc.value)
    assert not path.parent.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "damaged"),
        ('{"format": "qorgau-keyring-1"}', "expected 'qorgau-vault-signing-1'"),
        ('{"format": "qorgau-vault-signing-1", "active": "x", "keys": {}}', "active key 'x'"),
    ],
)
def test_corrupt_files_are_configuration_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "signing.json"
    path.write_text(content)
    with pytest.raises(ConfigurationError, match=message):
        SigningKeys.load(path, create=True)
    assert path.read_text() == content  # never overwritten


def test_a_key_swapped_in_the_file_is_detected(keys: SigningKeys) -> None:
    other = SigningKeys.load(keys.path.parent / "other.json", create=True)
    data = json.loads(keys.path.read_text())
    other_data = json.loads(other.path.read_text())
    (entry,) = other_data["keys"].values()
    data["keys"][keys.active_key_id]["private_key"] = entry["private_key"]
    keys.path.write_text(json.dumps(data))
    with pytest.raises(ConfigurationError, match="does not match its private key"):
        SigningKeys.load(keys.path)


def test_unreadable_file_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "signing.json"
    path.mkdir()  # unreadable as a file whatever our privileges
    with pytest.raises(ConfigurationError, match="cannot be read"):
        SigningKeys.load(path)


@pytest.mark.skipif(OPENSSL is None, reason="openssl CLI not installed")
def test_signature_verifies_with_the_openssl_cli(keys: SigningKeys, tmp_path: Path) -> None:
    keys.rotate()  # a rotated ring: the PEM must be the one the head names
    head = a_head(keys)
    (tmp_path / "pub.pem").write_bytes(keys.public_key_pem(head.key_id))
    (tmp_path / "head.bin").write_bytes(head.signed_bytes())
    (tmp_path / "head.sig").write_bytes(keys.sign(head))
    command = [
        str(OPENSSL),
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        "pub.pem",
        "-rawin",
        "-in",
        "head.bin",
        "-sigfile",
        "head.sig",
    ]
    ok = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr + ok.stdout
    assert "Signature Verified Successfully" in ok.stdout

    (tmp_path / "head.bin").write_bytes(replace(head, tree_size=7).signed_bytes())
    bad = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert bad.returncode != 0


def test_public_key_pem_of_an_unknown_key_is_a_key_error(keys: SigningKeys) -> None:
    with pytest.raises(KeyError, match="no signing key"):
        keys.public_key_pem("0123456789abcdef")
    assert not keys.verify(TreeHead(1, ROOT, 0, "0123456789abcdef"), bytes(64))
