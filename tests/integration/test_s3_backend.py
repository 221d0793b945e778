"""The blob store on S3: a real S3-compatible HTTP server (moto's standalone server) on
loopback, spoken to by boto3 over the S3 protocol, with the same guarantees as the local
folder: encrypted at rest, deduplicated, tamper-evident, and clear errors on misconfiguration.

moto does not verify upload checksums itself (its ``_get_checksum`` only echoes them), so the
checksum tests put a small loopback proxy in front of it that checks ``Content-MD5`` and
``x-amz-checksum-sha256`` the way AWS S3 does, or that plays a server without SHA-256
checksum support.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import moto.settings
import pytest
from moto.server import ThreadedMotoServer

from qorgau.errors import ConfigurationError, NotFound
from qorgau.security.keys import new_keyring
from qorgau.store.blobs import MAGIC2, BlobIntegrityError, BlobStore, derive_blob_keys
from qorgau.store.s3_backend import S3Backend, from_env
from tests.support.loopback import free_port

ACCESS, SECRET = "qorgau-test-access", "qorgau-test-secret-value"
SCREENSHOT = b"\x89PNG\r\n\x1a\n" + os.urandom(4096) + "угрозы в личку".encode()


# -- servers ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


class ChecksummingProxy:
    """Forwards to moto, checking upload checksums like AWS S3 (moto only echoes them).

    ``corrupt`` flips one byte of every PUT body before the check (damage in transit);
    ``no_sha256`` answers 501 NotImplemented to x-amz-checksum-sha256, as servers that
    predate S3's flexible checksums do. ``seen`` records the checksum headers of each PUT.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.removeprefix("http://")
        self.corrupt = False
        self.no_sha256 = False
        self.seen: list[dict[str, str]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.command == "PUT" and body:
                    if proxy.corrupt:
                        body = bytes([body[0] ^ 1]) + body[1:]
                    refusal = proxy.judge(self.headers, body)
                    if refusal:
                        self._answer(*refusal)
                        return
                conn = http.client.HTTPConnection(proxy.upstream, timeout=10)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                conn.request(self.command, self.path, body=body, headers=headers)
                reply = conn.getresponse()
                payload = reply.read()
                conn.close()
                self.send_response(reply.status)
                for key, value in reply.getheaders():
                    if key.lower() not in ("connection", "transfer-encoding", "content-length"):
                        self.send_header(key, value)
                # HEAD answers describe the object's length without sending it.
                length = reply.getheader("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", length or str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            def _answer(self, status: int, code: str, message: str) -> None:
                xml = (
                    '<?xml version="1.0" encoding="UTF-8"?>'
                    f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
                ).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(xml)))
                self.end_headers()
                self.wfile.write(xml)

            do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _relay  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def judge(self, headers: Any, received: bytes) -> tuple[int, str, str] | None:
        """What AWS S3 would refuse of the body it received, or None to store it."""
        md5 = headers.get("Content-MD5")
        sha256 = headers.get("x-amz-checksum-sha256")
        self.seen.append({k: v for k, v in (("md5", md5), ("sha256", sha256)) if v})
        if sha256 and self.no_sha256:
            return 501, "NotImplemented", "A header you provided implies unimplemented function"
        if md5 and md5 != base64.b64encode(hashlib.md5(received).digest()).decode():
            return 400, "BadDigest", "The Content-MD5 you specified did not match what we received."
        if sha256 and sha256 != base64.b64encode(hashlib.sha256(received).digest()).decode():
            return (
                400,
                "BadDigest",
                "The SHA256 you specified did not match the calculated checksum.",
            )
        return None

    def __enter__(self) -> ChecksummingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


# -- fixtures -----------------------------------------------------------------------------
@pytest.fixture
def admin(s3_url: str) -> Any:
    """A plain boto3 client: the operator's (or attacker's) direct view of the bucket."""
    return boto3.session.Session().client(
        "s3",
        endpoint_url=s3_url,
        region_name="us-east-1",
        aws_access_key_id=ACCESS,
        aws_secret_access_key=SECRET,
    )


@pytest.fixture
def bucket(admin: Any) -> str:
    name = f"evidence-{uuid.uuid4().hex[:12]}"
    admin.create_bucket(Bucket=name)
    return name


def backend_for(url: str, bucket: str, **kwargs: Any) -> S3Backend:
    return S3Backend(bucket, endpoint_url=url, access_key=ACCESS, secret_key=SECRET, **kwargs)


@pytest.fixture
def backend(s3_url: str, bucket: str) -> S3Backend:
    return backend_for(s3_url, bucket)


def store_on(tmp_path: Path, backend: S3Backend) -> BlobStore:
    ring = new_keyring()
    return BlobStore(tmp_path / "unused", derive_blob_keys(ring), ring.active, backend=backend)


@pytest.fixture
def blobs(tmp_path: Path, backend: S3Backend) -> BlobStore:
    return store_on(tmp_path, backend)


def keys_in(admin: Any, bucket: str) -> list[str]:
    listing = admin.list_objects_v2(Bucket=bucket)
    return [item["Key"] for item in listing.get("Contents", [])]


def count_calls(client: Any, operation: str) -> list[int]:
    calls: list[int] = []
    client.meta.events.register(f"after-call.s3.{operation}", lambda **_: calls.append(1))
    return calls


# -- the blob store on S3 -----------------------------------------------------------------
def test_round_trip_stores_ciphertext_under_the_hash(
    blobs: BlobStore, backend: S3Backend, admin: Any, bucket: str
) -> None:
    digest = blobs.put(SCREENSHOT)
    assert digest == hashlib.sha256(SCREENSHOT).hexdigest()
    assert blobs.exists(digest)
    assert blobs.get(digest) == SCREENSHOT
    key = f"blobs/{digest[:2]}/{digest}"
    assert backend.key_for(digest) == key
    assert keys_in(admin, bucket) == [key]
    stored = admin.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert stored.startswith(MAGIC2)  # sealed by the blob store, not raw evidence
    assert SCREENSHOT[-40:] not in stored and SCREENSHOT[:64] not in stored
    assert not (blobs.root).exists()  # nothing fell back to the local folder


def test_same_bytes_are_uploaded_once(
    blobs: BlobStore, backend: S3Backend, admin: Any, bucket: str
) -> None:
    puts = count_calls(backend._client, "PutObject")
    first = blobs.put(SCREENSHOT)
    etag = admin.head_object(Bucket=bucket, Key=backend.key_for(first))["ETag"]
    assert blobs.put(SCREENSHOT) == first
    assert len(puts) == 1
    assert keys_in(admin, bucket) == [backend.key_for(first)]
    assert admin.head_object(Bucket=bucket, Key=backend.key_for(first))["ETag"] == etag


def test_names_pages_through_the_listing_and_skips_foreign_keys(
    blobs: BlobStore, backend: S3Backend, admin: Any, bucket: str
) -> None:
    digests = {blobs.put(f"statement {i}".encode()) for i in range(5)}
    admin.put_object(Bucket=bucket, Key="blobs/README.txt", Body=b"not a blob")
    admin.put_object(Bucket=bucket, Key=f"other/{next(iter(digests))}", Body=b"x")
    admin.put_object(Bucket=bucket, Key=f"blobs/zz/{next(iter(digests))}", Body=b"x")

    # Small pages make the real server hand out continuation tokens.
    def small_pages(params: dict[str, Any], **_: Any) -> None:
        params["MaxKeys"] = 2

    backend._client.meta.events.register("before-parameter-build.s3.ListObjectsV2", small_pages)
    listings = count_calls(backend._client, "ListObjectsV2")
    assert list(blobs.names()) == sorted(digests)
    assert len(listings) >= 3


def test_an_object_altered_in_the_bucket_is_detected_and_repaired(
    blobs: BlobStore, backend: S3Backend, admin: Any, bucket: str
) -> None:
    digest = blobs.put(SCREENSHOT)
    key = backend.key_for(digest)
    raw = bytearray(admin.get_object(Bucket=bucket, Key=key)["Body"].read())
    raw[-20] ^= 0x01
    admin.put_object(Bucket=bucket, Key=key, Body=bytes(raw))
    with pytest.raises(BlobIntegrityError, match="altered"):
        blobs.get(digest)
    blobs.put(SCREENSHOT)  # the genuine bytes again repair the damaged copy
    assert blobs.get(digest) == SCREENSHOT


def test_an_object_copied_over_another_name_does_not_decrypt(
    blobs: BlobStore, backend: S3Backend, admin: Any, bucket: str
) -> None:
    a, b = blobs.put(b"first statement"), blobs.put(b"second statement")
    admin.copy_object(
        Bucket=bucket,
        Key=backend.key_for(a),
        CopySource={"Bucket": bucket, "Key": backend.key_for(b)},
    )
    with pytest.raises(BlobIntegrityError):
        blobs.get(a)


def test_a_missing_object_is_not_found(blobs: BlobStore, backend: S3Backend) -> None:
    absent = hashlib.sha256(b"never stored").hexdigest()
    assert not blobs.exists(absent)
    with pytest.raises(NotFound, match=absent):
        blobs.get(absent)
    with pytest.raises(FileNotFoundError):
        backend.read(absent)


def test_another_key_ring_cannot_read_the_bucket(
    tmp_path: Path, blobs: BlobStore, backend: S3Backend
) -> None:
    digest = blobs.put(SCREENSHOT)
    with pytest.raises(BlobIntegrityError):
        store_on(tmp_path, backend).get(digest)


def test_a_prefix_keeps_blobs_apart_from_other_keys(
    tmp_path: Path, s3_url: str, bucket: str, admin: Any
) -> None:
    backend = backend_for(s3_url, bucket, prefix="desk-a")  # slash added
    digest = store_on(tmp_path, backend).put(b"evidence")
    assert keys_in(admin, bucket) == [f"desk-a/{digest[:2]}/{digest}"]
    assert list(backend_for(s3_url, bucket, prefix="desk-b/").names()) == []


# -- misconfiguration ---------------------------------------------------------------------
def test_a_missing_bucket_says_which_setting_to_fix(tmp_path: Path, s3_url: str) -> None:
    backend = backend_for(s3_url, "no-such-bucket-here")
    blobs = store_on(tmp_path, backend)
    digest = hashlib.sha256(b"x").hexdigest()
    for attempt in (
        lambda: blobs.put(b"x"),
        lambda: blobs.get(digest),
        lambda: blobs.exists(digest),  # a HEAD 404 must not pass for "not stored yet"
        lambda: list(blobs.names()),
        backend.check,
    ):
        with pytest.raises(ConfigurationError) as caught:
            attempt()
        message = str(caught.value)
        assert "'no-such-bucket-here'" in message and s3_url in message
        assert "create the bucket or check QORGAU_S3_BUCKET" in message


def test_an_unreachable_endpoint_fails_fast_and_names_it(tmp_path: Path, bucket: str) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    blobs = store_on(tmp_path, backend_for(endpoint, bucket))
    started = time.monotonic()
    with pytest.raises(ConfigurationError, match="QORGAU_S3_ENDPOINT") as caught:
        blobs.put(b"evidence")
    assert time.monotonic() - started < 8
    assert endpoint in str(caught.value) and bucket in str(caught.value)


def test_an_invalid_endpoint_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="QORGAU_S3_ENDPOINT"):
        S3Backend("b", endpoint_url="not a url", access_key="a", secret_key="b")


def test_wrong_credentials_are_refused_without_revealing_them(
    tmp_path: Path, s3_url: str, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # moto checks access keys only once told to authenticate every request.
    monkeypatch.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    secret = "wrong-secret-" + uuid.uuid4().hex
    backend = S3Backend(bucket, endpoint_url=s3_url, access_key="AKIAWRONG", secret_key=secret)
    blobs = store_on(tmp_path, backend)
    for attempt in (lambda: blobs.put(b"evidence"), lambda: list(blobs.names())):
        with pytest.raises(ConfigurationError) as caught:
            attempt()
        message = str(caught.value)
        assert "QORGAU_S3_ACCESS_KEY" in message and "QORGAU_S3_SECRET_KEY" in message
        assert bucket in message
        assert secret not in message and "AKIAWRONG" not in message


def test_only_one_of_the_two_keys_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="both"):
        S3Backend("b", endpoint_url="http://127.0.0.1:1", access_key="only-this")


# -- upload checksums ---------------------------------------------------------------------
def test_uploads_carry_checksums_the_server_can_verify(
    tmp_path: Path, s3_url: str, bucket: str, admin: Any
) -> None:
    with ChecksummingProxy(s3_url) as proxy:
        backend = backend_for(proxy.url, bucket)
        digest = store_on(tmp_path, backend).put(SCREENSHOT)
    assert [set(h) for h in proxy.seen] == [{"md5", "sha256"}]
    stored = admin.get_object(Bucket=bucket, Key=backend.key_for(digest))["Body"].read()
    assert proxy.seen[0]["sha256"] == base64.b64encode(hashlib.sha256(stored).digest()).decode()
    # and the server recorded the SHA-256 with the object
    head = admin.head_object(Bucket=bucket, Key=backend.key_for(digest), ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == proxy.seen[0]["sha256"]


def test_an_upload_damaged_in_transit_is_refused_and_not_stored(
    tmp_path: Path, s3_url: str, bucket: str, admin: Any
) -> None:
    with ChecksummingProxy(s3_url) as proxy:
        proxy.corrupt = True
        with pytest.raises(ConfigurationError, match="did not match their checksum"):
            store_on(tmp_path, backend_for(proxy.url, bucket)).put(SCREENSHOT)
    assert keys_in(admin, bucket) == []


def test_a_server_without_sha256_checksums_gets_content_md5(
    tmp_path: Path, s3_url: str, bucket: str
) -> None:
    with ChecksummingProxy(s3_url) as proxy:
        proxy.no_sha256 = True
        backend = backend_for(proxy.url, bucket)
        blobs = store_on(tmp_path, backend)
        first = blobs.put(b"first statement")
        second = blobs.put(b"second statement")
        assert blobs.get(first) == b"first statement"
        assert blobs.get(second) == b"second statement"
    assert backend.sha256_checksums is False
    # refused with SHA-256, accepted with MD5 alone, and MD5 alone from then on
    assert [set(h) for h in proxy.seen] == [{"md5", "sha256"}, {"md5"}, {"md5"}]


# -- configuration from the environment ---------------------------------------------------
def test_from_env_is_none_without_a_bucket() -> None:
    assert from_env({}) is None
    assert from_env({"QORGAU_S3_BUCKET": "  ", "QORGAU_S3_ENDPOINT": "http://x"}) is None


def test_from_env_builds_a_working_backend(
    tmp_path: Path, s3_url: str, bucket: str, admin: Any
) -> None:
    backend = from_env(
        {
            "QORGAU_S3_BUCKET": bucket,
            "QORGAU_S3_ENDPOINT": s3_url,
            "QORGAU_S3_REGION": "eu-central-1",
            "QORGAU_S3_ACCESS_KEY": ACCESS,
            "QORGAU_S3_SECRET_KEY": SECRET,
            "QORGAU_S3_PREFIX": "vault/",
        }
    )
    assert backend is not None
    assert (backend.bucket, backend.prefix, backend.region) == (bucket, "vault/", "eu-central-1")
    blobs = store_on(tmp_path, backend)
    digest = blobs.put(b"evidence")
    assert blobs.get(digest) == b"evidence"
    assert keys_in(admin, bucket) == [f"vault/{digest[:2]}/{digest}"]
    assert SECRET not in repr(vars(backend))


def test_from_env_refuses_half_a_credential_pair() -> None:
    with pytest.raises(ConfigurationError, match="QORGAU_S3_SECRET_KEY"):
        from_env({"QORGAU_S3_BUCKET": "b", "QORGAU_S3_ACCESS_KEY": "a"})
