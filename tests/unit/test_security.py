from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from qorgau.errors import ConfigurationError
from qorgau.security.fields import FieldCipher
from qorgau.security.keys import load_keyring, new_keyring, write_keyring
from qorgau.security.passwords import hash_password, verify_password
from qorgau.security.tokens import new_receipt_code, normalize_receipt


def test_ciphertext_round_trips_and_is_bound_to_its_column() -> None:
    cipher = FieldCipher(new_keyring())
    token = cipher.encrypt("+77011234567", "incident_targets.identifier")
    assert token is not None and "7011234567" not in token
    assert cipher.decrypt(token, "incident_targets.identifier") == "+77011234567"
    with pytest.raises(ConfigurationError, match="integrity"):
        cipher.decrypt(token, "notes.body")


def test_tampered_ciphertext_is_detected() -> None:
    cipher = FieldCipher(new_keyring())
    token = cipher.encrypt("secret", "c")
    assert token is not None
    head, body = token.rsplit(":", 1)
    flipped = body[:-4] + ("AAAA" if body[-4:] != "AAAA" else "BBBB")
    with pytest.raises(ConfigurationError):
        cipher.decrypt(f"{head}:{flipped}", "c")


def test_rotation_keeps_old_values_readable_and_writes_with_the_new_key() -> None:
    ring = new_keyring()
    old = FieldCipher(ring).encrypt("name", "c")
    rotated = FieldCipher(ring.rotated())
    assert rotated.decrypt(old, "c") == "name"
    new = rotated.encrypt("name", "c")
    assert new is not None and rotated.key_id_of(new) == "k2"
    # blind indexes do not change with data-key rotation, so search keeps working
    assert FieldCipher(ring).blind_index("x", "t") == rotated.blind_index("x", "t")


def test_blind_index_depends_on_the_key() -> None:
    assert FieldCipher(new_keyring()).blind_index("x", "t") != FieldCipher(
        new_keyring()
    ).blind_index("x", "t")


def test_key_file_is_private_and_missing_file_says_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "k.key"
    with pytest.raises(ConfigurationError, match="qorgau init"):
        load_keyring(path)
    ring = load_keyring(path, create=True)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_keyring(path) == ring
    path.write_text("{broken")
    with pytest.raises(ConfigurationError, match="damaged"):
        load_keyring(path)
    write_keyring(path, ring)
    assert load_keyring(path) == ring


def test_argon2_passwords() -> None:
    h = hash_password("correct horse battery")
    assert h.startswith("$argon2id$")
    assert verify_password(h, "correct horse battery")
    assert not verify_password(h, "wrong horse battery")
    assert not verify_password(None, "anything at all")


def test_receipt_codes_are_readable_and_forgiving() -> None:
    code = new_receipt_code()
    assert len(code) == 23 and code.count("-") == 3
    assert not set(code.replace("-", "")) & set("OILU")
    assert normalize_receipt(code.lower().replace("-", " ")) == code.replace("-", "")
    # misread letters are read back as the digits they look like
    assert normalize_receipt("o1l-IO") == "01110"
    assert len({new_receipt_code() for _ in range(1000)}) == 1000
