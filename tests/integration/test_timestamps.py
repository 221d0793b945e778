"""RFC 3161 timestamps against a real TSA (openssl) on loopback: a token we fetch must verify
both in Qorgau and with the openssl CLI a lawyer would run, and every way the exchange can go
wrong must surface as a TimestampError that names the TSA."""

from __future__ import annotations

import hashlib
import socket
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from rfc3161_client._rust import parse_timestamp_request

from qorgau.vault.timestamps import (
    TimestampError,
    build_request,
    openssl_verify_command,
    request_token,
    verify_token,
)
from tests.support.tsa import POLICY, TsaServer, make_ca

DIGEST = hashlib.sha256(b'{"key_id":"1f2e3d4c5b6a7988","tree_size":8,"v":1}').digest()
OTHER = hashlib.sha256(b"another tree head").digest()


@pytest.fixture(scope="module")
def tsa_server() -> Iterator[TsaServer]:
    with TsaServer() as server:
        yield server


@pytest.fixture
def tsa(tsa_server: TsaServer) -> TsaServer:
    tsa_server.mode = "ok"
    return tsa_server


def openssl(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)


def test_token_verifies_in_qorgau_and_with_the_openssl_cli(tsa: TsaServer, tmp_path: Path) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    token = request_token(DIGEST, tsa.url)

    info = verify_token(token, DIGEST, tsa.ca_pem)
    assert (
        before - timedelta(seconds=2) <= info.gen_time <= datetime.now(UTC) + timedelta(seconds=2)
    )
    assert info.gen_time.tzinfo is not None
    assert info.policy == POLICY
    assert "CN=Qorgau Test TSA" in info.tsa_name
    assert info.serial > 0

    (tmp_path / "token.tsr").write_bytes(token)
    (tmp_path / "ca.pem").write_bytes(tsa.ca_pem)
    command = openssl_verify_command(DIGEST, "token.tsr", "ca.pem")
    assert command == [
        "openssl", "ts", "-verify", "-digest", DIGEST.hex(), "-in", "token.tsr", "-token_in",
        "-CAfile", "ca.pem",
    ]  # fmt: skip
    ok = openssl(*command, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "Verification: OK" in ok.stdout

    wrong = openssl(*openssl_verify_command(OTHER, "token.tsr", "ca.pem"), cwd=tmp_path)
    assert wrong.returncode != 0


def test_the_query_is_a_proper_rfc_3161_request(tsa: TsaServer) -> None:
    first = len(tsa.queries)
    request_token(DIGEST, tsa.url)
    request_token(DIGEST, tsa.url)
    sent = [parse_timestamp_request(q) for q in tsa.queries[first:]]
    assert tsa.content_types[-1] == "application/timestamp-query"
    for query in sent:
        assert query.version == 1
        assert query.cert_req is True
        assert query.message_imprint.message == DIGEST
        assert query.message_imprint.hash_algorithm.dotted_string == "2.16.840.1.101.3.4.2.1"
        assert query.nonce
    assert sent[0].nonce != sent[1].nonce  # fresh per request, so replays are detectable


def test_request_der_for_a_known_nonce_is_byte_exact() -> None:
    expected = (
        "3044020101"  # SEQUENCE of 68 bytes, version 1
        "3031300d060960864801650304020105000420"
        + DIGEST.hex()  # SHA-256 imprint
        + "020900ff00000000000001"  # nonce with a leading zero byte
        + "0101ff"  # certReq TRUE
    )
    assert build_request(DIGEST, 0xFF00000000000001).hex() == expected


def test_a_token_for_another_digest_fails(tsa: TsaServer) -> None:
    token = request_token(DIGEST, tsa.url)
    with pytest.raises(TimestampError, match="does not verify: Mismatch between messages"):
        verify_token(token, OTHER, tsa.ca_pem)


def test_a_token_fails_under_another_ca_or_the_system_store(tsa: TsaServer) -> None:
    token = request_token(DIGEST, tsa.url)
    _, stranger = make_ca("Some Other CA")
    with pytest.raises(TimestampError, match="does not verify"):
        verify_token(token, DIGEST, stranger.public_bytes(Encoding.PEM))
    with pytest.raises(TimestampError, match="does not verify"):
        verify_token(token, DIGEST, None)  # our throwaway CA is in no system store


def test_a_tampered_token_fails(tsa: TsaServer) -> None:
    token = bytearray(request_token(DIGEST, tsa.url))
    token[-5] ^= 0x01  # inside the signature value
    with pytest.raises(TimestampError):
        verify_token(bytes(token), DIGEST, tsa.ca_pem)
    with pytest.raises(TimestampError, match="not an RFC 3161 timestamp token"):
        verify_token(b"\x04\x03abc", DIGEST, tsa.ca_pem)


def test_a_whole_response_is_accepted_as_well(tsa: TsaServer, tmp_path: Path) -> None:
    response = httpx.post(
        tsa.url,
        content=build_request(DIGEST, 12345),
        headers={"content-type": "application/timestamp-query"},
    ).content
    assert verify_token(response, DIGEST, tsa.ca_pem).policy == POLICY
    (tmp_path / "resp.tsr").write_bytes(response)
    (tmp_path / "ca.pem").write_bytes(tsa.ca_pem)
    ok = openssl(
        "openssl", "ts", "-verify", "-digest", DIGEST.hex(), "-in", "resp.tsr", "-CAfile", "ca.pem",
        cwd=tmp_path,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr


def test_an_unreachable_tsa_names_the_url() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/tsr"  # nothing listens there any more
    with pytest.raises(TimestampError, match="unreachable") as exc:
        request_token(DIGEST, url, timeout=2.0)
    assert url in str(exc.value)


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("http_error", "answered HTTP 500"),
        ("reject", "rejected the request \\(status rejection\\): Message digest algorithm"),
        ("other_digest", "stamped another digest"),
        ("other_nonce", "another nonce"),
        ("garbage", "not an RFC 3161 response"),
    ],
)
def test_a_misbehaving_tsa_raises_naming_the_url(tsa: TsaServer, mode: str, message: str) -> None:
    tsa.mode = mode  # type: ignore[assignment]
    with pytest.raises(TimestampError, match=message) as exc:
        request_token(DIGEST, tsa.url)
    assert tsa.url in str(exc.value)


def test_digests_must_be_sha256_sized(tsa: TsaServer) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        request_token(DIGEST[:20], tsa.url)
