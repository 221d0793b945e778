"""Opaque API tokens and receipt codes.

Tokens are 256-bit random strings; only their SHA-256 is stored, so a database leak yields no
usable token (a slow hash is unnecessary at this entropy and would cost every request).
"""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "qg_"
RECEIPT_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read over the phone


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_receipt_code() -> str:
    """A code a reporter writes down to follow a report without an account (~100 bits)."""
    chars = "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(20))
    return "-".join(chars[i : i + 5] for i in range(0, 20, 5))


def normalize_receipt(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())
