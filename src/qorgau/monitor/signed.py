"""Signed measurement results: what an agent vouches for, byte for byte.

A result is ``{"id", "agent", "measurement"}`` signed with the agent's Ed25519 key over its
RFC 8785 canonical JSON. Canonical JSON (not the bytes on the wire) is what is signed, so any
JSON library on either side re-creates exactly the signed bytes; the server keeps the signed
document and the signature as evidence, and anyone holding the agent's public key can check
later that the server did not alter what the agent saw.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def canonical(document: dict[str, Any]) -> bytes:
    return rfc8785.dumps(document)


def sign(key: Ed25519PrivateKey, document: dict[str, Any]) -> str:
    return base64.b64encode(key.sign(canonical(document))).decode()


def public_key_b64(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def load_public_key(b64: str) -> Ed25519PublicKey | None:
    """The key an agent sent, or ``None`` if it is not 32 bytes of base64."""
    try:
        raw = base64.b64decode(b64, validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError):
        return None


def verify(public_key_b64_: str, document: dict[str, Any], signature: str) -> bool:
    key = load_public_key(public_key_b64_)
    if key is None:
        return False
    try:
        key.verify(base64.b64decode(signature, validate=True), canonical(document))
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True
