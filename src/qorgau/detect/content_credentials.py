"""C2PA content credentials: who says they made or edited a picture, and can that be believed.

Newsrooms and camera makers increasingly sign what they publish. A signed original lets a
responder show that the circulating "statement" is not what the outlet published; a file whose
credentials fail to verify was changed after signing. Three outcomes matter and must not be
blurred, so ``state`` is one of:

* ``none``: no credentials (the usual case: most platforms strip them; it proves nothing);
* ``invalid``: credentials present but the signature or the content hash does not verify, so
  the picture or its claims were altered after signing;
* ``untrusted``: intact and signed, but by a certificate that does not chain to a configured
  trust anchor: anyone can make such a certificate, so who signed it needs checking;
* ``trusted``: intact and signed by a certificate chaining to a configured anchor.

Verification runs offline: no certificate-status (OCSP) or remote-manifest fetches, because the
desk may have no network and because fetching would tell a third party which file is examined.
The trust anchors are the organisation's own choice of PEM certificates."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import c2pa  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from qorgau.errors import InvalidInput

STATES = ("none", "invalid", "untrusted", "trusted")
_SDK_STATES = {"Invalid": "invalid", "Valid": "untrusted", "Trusted": "trusted"}
_MAX_ANCHORS_PEM = 1_000_000


@dataclass(frozen=True)
class TrustAnchors:
    """Checked PEM certificates a signer must chain to for ``trusted``."""

    pem: str
    subjects: tuple[str, ...]


def parse_trust_anchors(pem: str | bytes, field_name: str = "trust_anchors") -> TrustAnchors:
    """Refuses anything that is not one or more PEM certificates, so a typo in the anchors file
    does not silently turn every signed picture into ``untrusted``."""
    data = pem.encode() if isinstance(pem, str) else pem
    if len(data) > _MAX_ANCHORS_PEM:
        raise InvalidInput.single(field_name, "size", "the trust anchors file is too large")
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise InvalidInput.single(
            field_name,
            "format",
            "give one or more certificates in PEM form (-----BEGIN CERTIFICATE-----)",
        ) from None
    # Re-encoded, so stray text between the certificates is not passed on.
    text = "".join(c.public_bytes(Encoding.PEM).decode("ascii") for c in certificates)
    return TrustAnchors(text, tuple(c.subject.rfc4514_string() for c in certificates))


@dataclass(frozen=True)
class Ingredient:
    """A file the signed picture says it was made from (``parentOf``) or includes."""

    title: str
    relationship: str
    format: str | None


@dataclass(frozen=True)
class Credentials:
    state: str
    summary: str
    claim_generator: str | None = None
    title: str | None = None
    signer: str | None = None  # the signing certificate's subject, e.g. "CN=..., O=..."
    signing_time: str | None = None  # only present when the signature carries a timestamp
    algorithm: str | None = None
    actions: tuple[str, ...] = ()
    ingredients: tuple[Ingredient, ...] = ()
    failures: tuple[str, ...] = ()  # the validation failures, as "code: explanation"

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "summary": self.summary,
            "claim_generator": self.claim_generator,
            "title": self.title,
            "signer": self.signer,
            "signing_time": self.signing_time,
            "algorithm": self.algorithm,
            "actions": list(self.actions),
            "ingredients": [
                {"title": i.title, "relationship": i.relationship, "format": i.format}
                for i in self.ingredients
            ],
            "failures": list(self.failures),
        }


NO_CREDENTIALS = Credentials(
    "none",
    "The file carries no content credentials (C2PA). That proves nothing either way: most "
    "platforms and messengers remove them.",
)


def _settings(anchors: TrustAnchors | None) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "verify": {
            "verify_trust": True,
            "verify_after_reading": True,
            "ocsp_fetch": False,
            "remote_manifest_fetch": False,
        }
    }
    if anchors is not None:
        settings["trust"] = {"trust_anchors": anchors.pem}
    return settings


def read_credentials(
    source: str | os.PathLike[str] | bytes,
    trust_anchors: TrustAnchors | None = None,
    name: str | None = None,
) -> Credentials:
    """The content credentials of a file and their verification state.

    An unreadable file raises InvalidInput naming it; a file of a type C2PA does not cover has
    no credentials (``none``)."""
    label = name or (str(source) if not isinstance(source, bytes) else "the uploaded file")
    try:
        stream: BinaryIO = (
            io.BytesIO(source) if isinstance(source, bytes) else Path(source).open("rb")  # noqa: SIM115
        )
    except OSError as err:
        raise InvalidInput.single(
            "file", "read", f"{label}: cannot be read ({err.strerror}); check the path"
        ) from None
    with stream, c2pa.Context.from_dict(_settings(trust_anchors)) as context:
        return _read(stream, context)


def _read(stream: BinaryIO, context: Any) -> Credentials:
    """Reads from the open file rather than a copy in memory: videos can be large."""
    try:
        reader = c2pa.Reader.try_create(None, stream, None, context)
    except c2pa.C2paError.NotSupported:
        return NO_CREDENTIALS
    except c2pa.C2paError.RemoteManifest:
        return Credentials(
            "none",
            "The file points to content credentials stored elsewhere; they were not "
            "fetched because this check runs offline. Ask the sender for the original file.",
        )
    except c2pa.C2paError as err:
        if _no_asset(str(err)):
            return NO_CREDENTIALS
        return Credentials(
            "invalid",
            "The file carries content credentials that cannot be read: they are damaged "
            "or were tampered with. Treat the origin they claim as unproven.",
            failures=(_first_line(str(err)),),
        )
    if reader is None:
        return NO_CREDENTIALS
    with reader:
        return _describe(json.loads(reader.json()))


def _no_asset(message: str) -> bool:
    """The SDK's words for bytes it does not recognise as any format it handles."""
    lowered = message.lower()
    return "unsupported" in lowered or "not supported" in lowered or "no jumbf" in lowered


def _describe(store: Mapping[str, Any]) -> Credentials:
    manifests = store.get("manifests") or {}
    manifest: Mapping[str, Any] = manifests.get(store.get("active_manifest") or "", {})
    signature = manifest.get("signature_info") or {}
    results = store.get("validation_results") or {}
    failures = tuple(
        f"{f.get('code')}: {f.get('explanation', '')}".rstrip(": ")
        for f in (results.get("activeManifest") or {}).get("failure", [])
    )
    state = _SDK_STATES.get(str(store.get("validation_state")), "invalid")
    signer = _subject(signature)
    summary = {
        "invalid": "The file carries content credentials that do not verify: the picture or "
        "its credentials were changed after signing. Treat the origin they claim as false.",
        "untrusted": f"The content credentials are intact, but the signer ({signer or 'unnamed'}) "
        "is not among the trust anchors configured here: anyone can make such a certificate. "
        "Check who the signer is before relying on it.",
        "trusted": f"The content credentials are intact and signed by "
        f"{signer or 'an unnamed signer'}, whose certificate chains to a configured trust "
        "anchor.",
    }[state]
    return Credentials(
        state=state,
        summary=summary,
        claim_generator=_generator(manifest),
        title=manifest.get("title"),
        signer=signer,
        signing_time=signature.get("time"),
        algorithm=signature.get("alg"),
        actions=_actions(manifest.get("assertions") or []),
        ingredients=tuple(
            Ingredient(
                title=str(i.get("title", "")),
                relationship=str(i.get("relationship", "componentOf")),
                format=i.get("format"),
            )
            for i in manifest.get("ingredients") or []
        ),
        failures=failures,
    )


def _subject(signature: Mapping[str, Any]) -> str | None:
    """The SDK reports the certificate subject's common name and organisation."""
    parts = [
        f"{key}={signature[field]}"
        for key, field in (("CN", "common_name"), ("O", "issuer"))
        if signature.get(field)
    ]
    return ", ".join(parts) or None


def _generator(manifest: Mapping[str, Any]) -> str | None:
    info: Sequence[Mapping[str, Any]] = manifest.get("claim_generator_info") or []
    if info:
        first = info[0]
        return " ".join(str(first[k]) for k in ("name", "version") if first.get(k)) or None
    generator = manifest.get("claim_generator")
    return str(generator) if generator else None


def _actions(assertions: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    out: list[str] = []
    for assertion in assertions:
        if str(assertion.get("label", "")).startswith("c2pa.actions"):
            for action in (assertion.get("data") or {}).get("actions", []):
                if action.get("action"):
                    out.append(str(action["action"]))
    return tuple(out)


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else "unreadable credentials"
