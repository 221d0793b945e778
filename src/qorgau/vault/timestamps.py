"""RFC 3161 trusted timestamps for vault digests (typically of a signed tree head).

Why: our own signature says *what* the log contained, but the desk could have signed it at any
time with a backdated ``timestamp_ms``. A token from an independent time-stamp authority (TSA)
proves the digest existed no later than the TSA's ``genTime``, which is what a court needs to
date evidence without trusting the desk's clock.

What is stored: :func:`request_token` returns the DER **TimeStampToken** (the CMS ContentInfo
of RFC 3161 §2.4.2), not the whole TimeStampResp. The token is the self-contained, signed
evidence object that CAdES, PDF and other formats embed; the response's status wrapper only
matters during the exchange and is checked here. The token includes the TSA's certificate
(``certReq`` is always set), so a verifier needs only the TSA's CA certificate and the digest:

    openssl ts -verify -digest <64 hex> -in token.tsr -token_in -CAfile tsa-ca.pem

(:func:`openssl_verify_command` builds exactly that argument list).

The request is built here, not with ``rfc3161_client.TimestampRequestBuilder``, because the
builder hashes its input itself while the vault already holds the SHA-256 digest to stamp.
Parsing and verification (CMS signature, chain to the given CA, critical timeStamping EKU,
imprint) are ``rfc3161_client``'s.
"""

from __future__ import annotations

import secrets
import ssl
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning
from rfc3161_client import (
    PKIStatus,
    TimeStampResponse,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

from qorgau.errors import QorgauError

SHA256_OID = "2.16.840.1.101.3.4.2.1"
# DER AlgorithmIdentifier { id-sha256, NULL }, as openssl and most TSAs write it.
_SHA256_ALGORITHM = bytes.fromhex("300d06096086480165030402010500")
# DER PKIStatusInfo { status granted(0) }: wraps a stored token back into a response.
_STATUS_GRANTED = bytes.fromhex("3003020100")
_QUERY_TYPE = "application/timestamp-query"
_REPLY_TYPE = "application/timestamp-reply"


class TimestampError(QorgauError):
    """A timestamp could not be obtained or does not verify; the message says which and why."""


@dataclass(frozen=True)
class TimestampInfo:
    """What a verified token attests: the digest existed at ``gen_time`` (UTC) per the TSA."""

    gen_time: datetime
    serial: int
    tsa_name: str
    policy: str  # dotted OID of the TSA policy the token was issued under


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        octets = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(octets)]) + octets
    return bytes([tag]) + length + content


def _der_integer(value: int) -> bytes:
    """DER INTEGER of a non-negative value (a leading zero keeps it positive)."""
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def build_request(digest_sha256: bytes, nonce: int) -> bytes:
    """DER TimeStampReq (RFC 3161 §2.4.1) for a SHA-256 digest: version 1, the imprint, the
    nonce, certReq TRUE, no policy (the TSA's default applies)."""
    _check_digest(digest_sha256)
    imprint = _der(0x30, _SHA256_ALGORITHM + _der(0x04, digest_sha256))
    body = _der_integer(1) + imprint + _der_integer(nonce) + b"\x01\x01\xff"
    return _der(0x30, body)


def _check_digest(digest: bytes) -> None:
    if not isinstance(digest, bytes) or len(digest) != 32:
        raise ValueError("a SHA-256 digest is 32 bytes")


def request_token(digest_sha256: bytes, tsa_url: str, *, timeout: float = 10.0) -> bytes:
    """Ask the TSA at ``tsa_url`` to timestamp ``digest_sha256``; returns the DER
    TimeStampToken.

    The answer is checked before it is returned: PKI status granted, our nonce echoed (so an
    old or replayed answer is refused), the imprint is SHA-256 of our digest, and the TSA
    certificate is included. Its signature and chain are checked by :func:`verify_token`,
    which needs the TSA's CA. Any failure raises :class:`TimestampError` naming the URL.
    """
    _check_digest(digest_sha256)
    nonce = secrets.randbits(64) | 1  # never zero; 64 bits like openssl's own nonces
    query = build_request(digest_sha256, nonce)
    try:
        answer = httpx.post(
            tsa_url,
            content=query,
            headers={"content-type": _QUERY_TYPE, "accept": _REPLY_TYPE},
            timeout=timeout,
        )
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise TimestampError(
            f"timestamp authority {tsa_url} is unreachable: {exc or type(exc).__name__}"
        ) from exc
    if answer.status_code != 200:
        raise TimestampError(
            f"timestamp authority {tsa_url} answered HTTP {answer.status_code} "
            f"{answer.reason_phrase}".rstrip()
        )
    try:
        response = decode_timestamp_response(answer.content)
        status = response.status
    except ValueError as exc:
        content_type = answer.headers.get("content-type", "none")
        raise TimestampError(
            f"timestamp authority {tsa_url} sent something that is not an RFC 3161 "
            f"response (content-type {content_type}): {exc}"
        ) from exc
    if status not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
        text = "; ".join(response.status_string) or "no reason given"
        raise TimestampError(
            f"timestamp authority {tsa_url} rejected the request "
            f"(status {_status_name(status)}): {text}"
        )
    try:
        info = response.tst_info
        imprint = info.message_imprint
        has_certificates = bool(response.signed_data.certificates)
        token = response.time_stamp_token()
    except ValueError as exc:
        raise TimestampError(
            f"timestamp authority {tsa_url} sent a granted response without a usable token: {exc}"
        ) from exc
    if info.nonce != nonce:
        raise TimestampError(
            f"timestamp authority {tsa_url} answered with another nonce: the reply is not "
            "for this request"
        )
    if imprint.hash_algorithm.dotted_string != SHA256_OID or imprint.message != digest_sha256:
        raise TimestampError(
            f"timestamp authority {tsa_url} stamped another digest "
            f"({imprint.message.hex()}) than the one sent ({digest_sha256.hex()})"
        )
    if not has_certificates:
        raise TimestampError(
            f"timestamp authority {tsa_url} left out its certificate although it was requested"
        )
    return token


def _status_name(status: int) -> str:
    try:
        return PKIStatus(status).name.lower()
    except ValueError:
        return str(status)


def _first_inner_tag(der: bytes) -> int | None:
    """The tag of the first element inside an outer DER SEQUENCE, or None if malformed."""
    if len(der) < 2 or der[0] != 0x30:
        return None
    first = der[1]
    offset = 2 if first < 0x80 else 2 + (first & 0x7F)
    return der[offset] if offset < len(der) else None


def _as_response(token: bytes) -> TimeStampResponse:
    """Parse a stored token (or, leniently, a whole TimeStampResp) into a response object."""
    tag = _first_inner_tag(token)
    try:
        if tag == 0x30:  # TimeStampResp: SEQUENCE { PKIStatusInfo SEQUENCE, token }
            response = decode_timestamp_response(token)
            if response.status not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
                raise TimestampError(
                    f"the timestamp response is a refusal (status {_status_name(response.status)})"
                )
            token = response.time_stamp_token()
        elif tag != 0x06:  # a token is a ContentInfo: SEQUENCE { OID, [0] SignedData }
            raise ValueError("not DER")
        return decode_timestamp_response(_der(0x30, _STATUS_GRANTED + token))
    except ValueError as exc:
        raise TimestampError(f"not an RFC 3161 timestamp token: {exc}") from exc


def _trust_anchors(ca_pem: bytes | None) -> tuple[list[x509.Certificate], list[x509.Certificate]]:
    """(roots, intermediates) from ``ca_pem``, or the system's trust store when None."""
    if ca_pem is None:
        paths = ssl.get_default_verify_paths()
        bundle = next((p for p in (paths.cafile, paths.openssl_cafile) if p), None)
        if bundle is None or not Path(bundle).is_file():
            raise TimestampError(
                "no TSA CA certificate was given and the system has no CA bundle to use"
            )
        try:
            ca_pem = Path(bundle).read_bytes()
        except OSError as exc:
            raise TimestampError(f"cannot read the system CA bundle {bundle}: {exc}") from exc
    try:
        with warnings.catch_warnings():
            # System bundles carry a few legacy roots (e.g. with a negative serial) that
            # cryptography warns about; they are harmless here and not ours to fix.
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            certificates = x509.load_pem_x509_certificates(ca_pem)
    except ValueError as exc:
        raise TimestampError(f"the TSA CA certificate is not valid PEM: {exc}") from exc
    roots = [c for c in certificates if c.subject == c.issuer]
    intermediates = [c for c in certificates if c.subject != c.issuer]
    return (roots, intermediates) if roots else (certificates, [])


def verify_token(token: bytes, digest_sha256: bytes, ca_pem: bytes | None) -> TimestampInfo:
    """Check a stored token against the digest it should stamp and the TSA's CA.

    ``ca_pem`` holds the CA certificate(s) the TSA chains to (self-signed ones are roots, the
    others intermediates); None means the system trust store. Checks: CMS signature, chain
    valid at ``genTime``, critical timeStamping EKU on the signer, and the SHA-256 imprint.
    Raises :class:`TimestampError` when any of them fails.
    """
    _check_digest(digest_sha256)
    response = _as_response(token)
    roots, intermediates = _trust_anchors(ca_pem)
    verifier = VerifierBuilder(roots=roots, intermediates=intermediates).build()
    try:
        info = response.tst_info
        if info.message_imprint.hash_algorithm.dotted_string != SHA256_OID:
            raise TimestampError(
                "the timestamp token's imprint is not SHA-256 "
                f"({info.message_imprint.hash_algorithm.dotted_string})"
            )
        verifier.verify(response, digest_sha256)
    except VerificationError as exc:
        raise TimestampError(f"the timestamp token does not verify: {exc}") from exc
    except ValueError as exc:
        raise TimestampError(f"not an RFC 3161 timestamp token: {exc}") from exc
    return TimestampInfo(
        gen_time=info.gen_time,
        serial=info.serial_number,
        tsa_name=_tsa_name(response),
        policy=info.policy.dotted_string,
    )


def _tsa_name(response: TimeStampResponse) -> str:
    """The TSA's name from the token (the optional ``tsa`` field, else the signer's subject)."""
    try:
        name = response.tst_info.name
    except ValueError:
        name = None
    if name is not None:
        value = name.value
        return value.rfc4514_string() if isinstance(value, x509.Name) else str(value)
    (signer,) = response.signed_data.signer_infos
    for der in response.signed_data.certificates:
        cert = x509.load_der_x509_certificate(der)
        if cert.issuer == signer.issuer and cert.serial_number == signer.serial_number:
            return cert.subject.rfc4514_string()
    return signer.issuer.rfc4514_string() + f" serial {signer.serial_number}"


def openssl_verify_command(digest_sha256: bytes, token_path: str, ca_path: str) -> list[str]:
    """The openssl CLI check of a stored token, for export packages' instructions."""
    _check_digest(digest_sha256)
    return [
        "openssl",
        "ts",
        "-verify",
        "-digest",
        digest_sha256.hex(),
        "-in",
        token_path,
        "-token_in",
        "-CAfile",
        ca_path,
    ]
