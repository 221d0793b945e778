"""C2PA content credentials in their four outcomes, on pictures these tests sign themselves
with a throw-away certificate authority: trusted when that authority is a configured anchor,
untrusted without it, invalid once the picture is changed after signing, none when unsigned.
Everything runs offline."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import c2pa  # type: ignore[import-untyped]
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image, ImageDraw

from qorgau.detect.content_credentials import parse_trust_anchors, read_credentials
from qorgau.errors import InvalidInput


@dataclass(frozen=True)
class Authority:
    ca_pem: bytes
    chain_pem: bytes  # the signing certificate, then the CA
    key_pem: bytes


def _usage(*, sign: bool, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def make_authority(organisation: str) -> Authority:
    """An ES256 (P-256) root and a signing certificate with the key usages C2PA requires."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{organisation} Root")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_usage(sign=False, ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "Photo Desk"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(sign=True, ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )

    def pem(c: x509.Certificate) -> bytes:
        return c.public_bytes(serialization.Encoding.PEM)

    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return Authority(pem(ca), pem(cert) + pem(ca), key_pem)


def picture() -> bytes:
    image = Image.new("RGB", (96, 64), (30, 90, 160))
    ImageDraw.Draw(image).ellipse([20, 10, 70, 55], fill=(240, 200, 20))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def sign(
    data: bytes,
    authority: Authority,
    manifest: dict[str, Any] | None = None,
    ingredients: tuple[dict[str, str], ...] = (),
) -> bytes:
    manifest = manifest or {
        "claim_generator_info": [{"name": "Newsroom CMS", "version": "2.1"}],
        "title": "press-conference.jpg",
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": "http://cv.iptc.org/newscodes/"
                            "digitalsourcetype/digitalCapture",
                        },
                        {"action": "c2pa.edited"},
                    ]
                },
            }
        ],
    }
    info = c2pa.C2paSignerInfo(
        c2pa.C2paSigningAlg.ES256, authority.chain_pem, authority.key_pem, None
    )
    offline = {"verify": {"verify_after_sign": False, "ocsp_fetch": False}}
    with (
        c2pa.Signer.from_info(info) as signer,
        c2pa.Context.from_dict(offline) as context,
        c2pa.Builder(manifest, context=context) as builder,
    ):
        for ingredient in ingredients:
            builder.add_ingredient(ingredient, "image/jpeg", io.BytesIO(picture()))
        out = io.BytesIO()
        builder.sign(signer, "image/jpeg", io.BytesIO(data), out)
        return out.getvalue()


@pytest.fixture(scope="module")
def authority() -> Authority:
    return make_authority("Test Newsroom")


@pytest.fixture(scope="module")
def signed(authority: Authority) -> bytes:
    return sign(picture(), authority)


def test_trusted_when_the_signers_authority_is_an_anchor(
    authority: Authority, signed: bytes, tmp_path: Path
) -> None:
    path = tmp_path / "signed.jpg"
    path.write_bytes(signed)
    found = read_credentials(path, parse_trust_anchors(authority.ca_pem))
    assert found.state == "trusted"
    assert found.signer == "CN=Photo Desk, O=Test Newsroom"
    assert found.claim_generator == "Newsroom CMS 2.1"
    assert found.actions == ("c2pa.created", "c2pa.edited")
    assert found.title == "press-conference.jpg"
    assert found.failures == ()
    assert found.summary == (
        "The content credentials are intact and signed by CN=Photo Desk, O=Test Newsroom, "
        "whose certificate chains to a configured trust anchor."
    )


def test_an_edit_names_what_it_was_made_from(authority: Authority) -> None:
    manifest = {
        "claim_generator_info": [{"name": "Photo Editor", "version": "7"}],
        "title": "cropped.jpg",
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {"action": "c2pa.opened", "parameters": {"ingredientIds": ["camera"]}},
                        {"action": "c2pa.cropped"},
                    ]
                },
            }
        ],
    }
    parent = {"title": "camera-original.jpg", "relationship": "parentOf", "label": "camera"}
    found = read_credentials(
        sign(picture(), authority, manifest, (parent,)), parse_trust_anchors(authority.ca_pem)
    )
    assert found.state == "trusted"
    assert found.actions == ("c2pa.opened", "c2pa.cropped")
    [ingredient] = found.ingredients
    assert (ingredient.title, ingredient.relationship) == ("camera-original.jpg", "parentOf")
    assert found.to_json()["ingredients"][0]["format"] == "image/jpeg"


def test_untrusted_without_the_anchor_or_with_another_one(
    authority: Authority, signed: bytes
) -> None:
    for anchors in (None, parse_trust_anchors(make_authority("Someone Else").ca_pem)):
        found = read_credentials(signed, anchors)
        assert found.state == "untrusted"
        assert found.signer == "CN=Photo Desk, O=Test Newsroom"
        assert any(f.startswith("signingCredential.untrusted") for f in found.failures)


def test_invalid_once_the_picture_is_changed_after_signing(
    authority: Authority, signed: bytes
) -> None:
    tampered = bytearray(signed)
    end_of_image = len(tampered) - 2  # JPEG ends with FFD9; the pixels are just before it
    for offset in (60, 120, 180):
        tampered[end_of_image - offset] ^= 0x5A
    found = read_credentials(bytes(tampered), parse_trust_anchors(authority.ca_pem))
    assert found.state == "invalid"
    assert any("dataHash.mismatch" in f for f in found.failures)
    assert "changed after signing" in found.summary


def test_none_for_a_picture_without_credentials() -> None:
    found = read_credentials(picture())
    assert found.state == "none" and found.signer is None and found.actions == ()
    assert "proves nothing" in found.summary


def test_the_report_is_plain_data() -> None:
    as_json = read_credentials(picture()).to_json()
    assert as_json["state"] == "none" and as_json["ingredients"] == []


@pytest.mark.parametrize("pem", ["", "not a certificate", b"-----BEGIN CERTIFICATE-----\nAAAA\n"])
def test_anchors_that_are_not_certificates_are_refused(pem: str | bytes) -> None:
    with pytest.raises(InvalidInput, match="PEM"):
        parse_trust_anchors(pem)


def test_anchors_keep_only_the_certificates(authority: Authority) -> None:
    noisy = b"issued to our desk\n" + authority.ca_pem + b"\ntrailing words\n"
    anchors = parse_trust_anchors(noisy)
    assert anchors.subjects == ("CN=Test Newsroom Root",)
    assert "issued" not in anchors.pem and anchors.pem.count("BEGIN CERTIFICATE") == 1


def test_an_unreadable_path_is_refused_with_its_name(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"gone\.jpg: cannot be read"):
        read_credentials(tmp_path / "gone.jpg")
