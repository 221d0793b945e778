"""Canonical forms of identifiers, so that the same phone or host written ten ways is one key.

Attackers plant a number as "+7 701 123 45 67", "87011234567" and "8 (701) 123-45-67"; a
responder searching any of them must find all. The blind index in the store is computed over
the canonical form returned here.
"""

from __future__ import annotations

import re
import unicodedata

import phonenumbers

from qorgau.errors import InvalidInput

DEFAULT_PHONE_REGION = "KZ"
_SPACES = re.compile(r"\s+")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")


def normalize_text(value: str) -> str:
    """Case- and space-insensitive form of free text (names, outlets)."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", value).casefold()).strip()


def normalize_phone(value: str, field_name: str, region: str = DEFAULT_PHONE_REGION) -> str:
    """E.164 form; numbers without a country code are read as Kazakh ones."""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput.single(
            field_name, "phone", f"{value!r} is not a phone number; write it as +7 701 123 4567"
        ) from exc
    if not phonenumbers.is_possible_number(number):
        raise InvalidInput.single(
            field_name, "phone", f"{value!r} has the wrong number of digits for its country"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(value: str, field_name: str) -> str:
    v = value.strip()
    if not _EMAIL.match(v):
        raise InvalidInput.single(field_name, "email", f"{value!r} is not an e-mail address")
    local, domain = v.rsplit("@", 1)
    return f"{local}@{domain.casefold()}"


def normalize_host(value: str, field_name: str) -> str:
    """Host name in IDNA form; a full URL is accepted and reduced to its host."""
    v = value.strip().casefold()
    v = re.sub(r"^[a-z][a-z0-9+.-]*://", "", v).split("/", 1)[0].split(":", 1)[0].rstrip(".")
    try:
        v = v.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise InvalidInput.single(field_name, "host", f"{value!r} is not a host name") from exc
    if not _HOST.match(v):
        raise InvalidInput.single(
            field_name, "host", f"{value!r} is not a host name such as orda.kz"
        )
    return v


def normalize_handle(value: str) -> str:
    return normalize_text(value).lstrip("@")


def normalize_identifier(kind: str, value: str, field_name: str) -> str:
    """Canonical identifier for a target kind; unknown kinds fall back to folded text."""
    if kind == "phone_number":
        return normalize_phone(value, field_name)
    if kind == "email":
        return normalize_email(value, field_name)
    if kind == "website":
        return normalize_host(value, field_name)
    if kind == "social_account":
        return normalize_handle(value)
    return normalize_text(value)
