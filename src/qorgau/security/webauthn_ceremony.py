"""The two WebAuthn ceremonies (register a key, sign in with it), over py_webauthn.

A security key answers only to the site name it was registered for, so a responder who types
their password into a look-alike phishing page still cannot be signed in there: that is why it
is offered beside the six-digit code, which a phishing page can simply ask for and relay. The
site name (relying party id) comes from the configured public address, never from the
request's Host header, which whoever sends the request chooses.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from qorgau.errors import InvalidInput

RP_NAME = "Qorgau"
TIMEOUT_MS = 120_000


class SecurityKeysUnavailable(InvalidInput):
    """The installation's address cannot carry WebAuthn (an IP address, not a name)."""


@dataclass(frozen=True)
class RelyingParty:
    rp_id: str
    origin: str


@dataclass(frozen=True)
class NewKey:
    credential_id: str
    public_key: bytes
    sign_count: int


def relying_party(public_base_url: str) -> RelyingParty:
    """The site name keys are bound to, from the configured public address."""
    parts = urlsplit(public_base_url)
    host = parts.hostname or ""
    try:
        ipaddress.ip_address(host)
        is_ip = True
    except ValueError:
        is_ip = False
    if not host or is_ip:
        raise SecurityKeysUnavailable.single(
            "key",
            "needs_name",
            "security keys need the site to be reached by a name, not an IP address: set "
            "QORGAU_PUBLIC_BASE_URL to the address staff open (e.g. https://desk.example.org)",
        )
    return RelyingParty(host, f"{parts.scheme}://{parts.netloc}")


def registration_options(
    rp: RelyingParty, user_handle: bytes, username: str, display_name: str, existing: list[str]
) -> tuple[str, bytes]:
    """(options as JSON for the browser, challenge to keep until the answer comes back)."""
    options = generate_registration_options(
        rp_id=rp.rp_id,
        rp_name=RP_NAME,
        user_id=user_handle,
        user_name=username,
        user_display_name=display_name or username,
        timeout=TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.DISCOURAGED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(c)) for c in existing
        ],
    )
    return options_to_json(options), options.challenge


def verify_registration(rp: RelyingParty, credential: dict[str, Any], challenge: bytes) -> NewKey:
    try:
        verified = verify_registration_response(
            credential=json.dumps(credential),
            expected_challenge=challenge,
            expected_rp_id=rp.rp_id,
            expected_origin=rp.origin,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise InvalidInput.single(
            "key", "registration", "the security key's answer was not accepted; try again"
        ) from exc
    return NewKey(
        bytes_to_base64url(verified.credential_id),
        verified.credential_public_key,
        verified.sign_count,
    )


def authentication_options(rp: RelyingParty, credential_ids: list[str]) -> tuple[str, bytes]:
    options = generate_authentication_options(
        rp_id=rp.rp_id,
        timeout=TIMEOUT_MS,
        allow_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(c)) for c in credential_ids
        ],
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return options_to_json(options), options.challenge


def credential_id_of(credential: dict[str, Any]) -> str:
    """The key a sign-in answer claims to come from (checked against the account's keys)."""
    raw = credential.get("rawId") or credential.get("id")
    if not isinstance(raw, str) or not raw:
        raise InvalidInput.single(
            "key",
            "format",
            "the answer names no security key; touch the key again, or sign in with your code",
        )
    return raw


def verify_authentication(
    rp: RelyingParty,
    credential: dict[str, Any],
    challenge: bytes,
    public_key: bytes,
    sign_count: int,
) -> int:
    """The authenticator's new signature counter, once its signature checks out."""
    try:
        verified = verify_authentication_response(
            credential=json.dumps(credential),
            expected_challenge=challenge,
            expected_rp_id=rp.rp_id,
            expected_origin=rp.origin,
            credential_public_key=public_key,
            credential_current_sign_count=sign_count,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise InvalidInput.single(
            "key", "signature", "the security key's answer was not accepted; try again"
        ) from exc
    return int(verified.new_sign_count)
