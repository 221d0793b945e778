"""Opaque API tokens and receipt codes.

Tokens are 256-bit random strings; only their SHA-256 is stored, so a database leak yields no
usable token (a slow hash is unnecessary at this entropy and would cost every request).
"""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "qg_"
# Crockford's base32: no I, L, O or U, so a code read over a bad phone line survives; when
# reading one back, O counts as 0 and I or L as 1.
RECEIPT_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_READ_BACK = str.maketrans({"O": "0", "I": "1", "L": "1"})


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def random_base32(n_chars: int) -> str:
    """``n_chars`` characters of Crockford base32 from the OS random source (5 bits each)."""
    value = int.from_bytes(secrets.token_bytes((n_chars * 5 + 7) // 8), "big")
    out = []
    for _ in range(n_chars):
        out.append(RECEIPT_ALPHABET[value & 31])
        value >>= 5
    return "".join(out)


def new_receipt_code() -> str:
    """A code a reporter writes down to follow a report without an account (100 bits)."""
    chars = random_base32(20)
    return "-".join(chars[i : i + 5] for i in range(0, 20, 5))


def normalize_receipt(code: str) -> str:
    return "".join(ch for ch in code.upper().translate(_READ_BACK) if ch.isalnum())
