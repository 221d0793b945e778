"""Sealed blob bytes in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, Garage, …).

A desk that outgrows one disk, or that wants its evidence off the machine that runs the web
app, keeps the already-encrypted blobs in object storage instead of ``LocalBackend``'s folder.
This backend only moves opaque bytes: encryption, hashing and tamper detection stay in
``BlobStore``, so a hostile or broken bucket can lose evidence but never forge it.

Layout: ``<prefix><first two hex digits>/<sha256>``. The two-digit fan-out mirrors the local
folder so operators can find an object by its hash, and keys list in the same sorted order as
the names themselves.

Uploads carry ``Content-MD5`` (which every S3 dialect verifies) and, where the server
supports it, an ``x-amz-checksum-sha256`` of the same bytes, both computed here from the bytes
we mean to store: a body damaged between this process and the disk behind the server is
refused instead of stored. Servers that reject the SHA-256 header are detected on the first
upload and then get Content-MD5 alone.

Every failure other than "no such object" becomes a ``ConfigurationError`` naming the bucket
and endpoint: to the desk, an unreachable or misconfigured bucket is an installation problem,
and the message must tell the operator which setting to fix. Messages never contain the
secret key (nor the access key: it identifies the account to anyone reading logs).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator, Mapping
from typing import Any

import boto3  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import (  # type: ignore[import-untyped]
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from qorgau.errors import ConfigurationError

ENV_BUCKET = "QORGAU_S3_BUCKET"
ENV_ENDPOINT = "QORGAU_S3_ENDPOINT"
ENV_REGION = "QORGAU_S3_REGION"
ENV_ACCESS_KEY = "QORGAU_S3_ACCESS_KEY"
ENV_SECRET_KEY = "QORGAU_S3_SECRET_KEY"
ENV_PREFIX = "QORGAU_S3_PREFIX"

DEFAULT_PREFIX = "blobs/"
DEFAULT_REGION = "us-east-1"

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# "The object (or, for HEAD, something) is not there." HEAD answers carry no body, so S3 can
# only say "404" there; GET says NoSuchKey or NoSuchBucket, which we tell apart.
_NOT_FOUND = frozenset({"NoSuchKey", "404", "NotFound"})
_NO_BUCKET = frozenset({"NoSuchBucket"})
_ACCESS = frozenset(
    {
        "AccessDenied",
        "403",
        "Forbidden",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "ExpiredToken",
        "AccountProblem",
    }
)
_REGION = frozenset(
    {"PermanentRedirect", "301", "AuthorizationHeaderMalformed", "IllegalLocationConstraint"}
)
# The body that arrived did not match the checksums we sent: damaged in transit.
_CORRUPTED = frozenset(
    {"BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch", "XAmzContentChecksumMismatch"}
)
# How S3 dialects say "I do not understand that header/argument": older MinIO, Ceph and other
# servers predating flexible checksums answer one of these to x-amz-checksum-sha256.
_UNSUPPORTED = frozenset({"NotImplemented", "InvalidArgument", "InvalidRequest"})


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def _error_code(exc: Any) -> str:
    error = exc.response.get("Error", {}) if isinstance(exc.response, Mapping) else {}
    code = error.get("Code")
    if code:
        return str(code)
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "")
    return str(status)


def _error_message(exc: Any) -> str:
    error = exc.response.get("Error", {}) if isinstance(exc.response, Mapping) else {}
    return str(error.get("Message") or "").strip()


class S3Backend:
    """A ``RawBackend`` over one bucket of an S3-compatible object store.

    ``client`` lets callers (and tests) supply a ready boto3 S3 client; otherwise one is built
    from the endpoint, region and keys. Without keys, boto3's usual credential chain applies
    (``AWS_*`` variables, shared config, instance role), which is what AWS deployments want.
    """

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        endpoint_url: str | None = None,
        region: str = DEFAULT_REGION,
        access_key: str | None = None,
        secret_key: str | None = None,
        client: Any | None = None,
    ) -> None:
        if not bucket:
            raise ConfigurationError(f"S3 blob backend: no bucket given; set {ENV_BUCKET}")
        if (access_key is None) != (secret_key is None):
            raise ConfigurationError(
                f"S3 blob backend for bucket {bucket!r}: set both {ENV_ACCESS_KEY} and"
                f" {ENV_SECRET_KEY}, or neither to use the default AWS credential chain"
            )
        self.bucket = bucket
        self.prefix = self._normalise_prefix(prefix)
        self.region = region
        self._client: Any = (
            client
            if client is not None
            else self._build_client(endpoint_url, region, access_key, secret_key)
        )
        self.endpoint_url: str | None = endpoint_url or getattr(
            getattr(self._client, "meta", None), "endpoint_url", None
        )
        # Flipped off, for the life of this backend, by the first server that refuses the
        # SHA-256 checksum header; Content-MD5 still protects every upload after that.
        self.sha256_checksums = True
        self._bucket_confirmed = False

    # -- construction --------------------------------------------------------------------
    @staticmethod
    def _normalise_prefix(prefix: str) -> str:
        """``"blobs"`` and ``"/blobs/"`` both mean the ``blobs/`` folder: without the slash,
        ``blobs`` + ``ab/…`` would mingle with unrelated keys such as ``blobs-old/…``."""
        prefix = prefix.lstrip("/")
        return prefix if not prefix or prefix.endswith("/") else prefix + "/"

    def _build_client(
        self,
        endpoint_url: str | None,
        region: str,
        access_key: str | None,
        secret_key: str | None,
    ) -> Any:
        config = Config(
            # Path-style URLs (endpoint/bucket/key) work on every S3-compatible server and on
            # IP or localhost endpoints; virtual hosts need wildcard DNS most installs lack.
            s3={"addressing_style": "path"} if endpoint_url else {},
            # We send our own checksums; botocore's default CRC32 trailers (aws-chunked) are
            # refused by many S3-compatible servers.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            # Fail within seconds on a wrong endpoint instead of hanging a web request.
            connect_timeout=5,
            read_timeout=60,
            retries={"max_attempts": 3, "mode": "standard"},
        )
        try:
            return boto3.session.Session().client(
                "s3",
                endpoint_url=endpoint_url,
                region_name=region,
                aws_access_key_id=access_key,
                aws_secret_access_key=secret_key,
                config=config,
            )
        except ValueError as exc:  # botocore: "Invalid endpoint: …"
            raise ConfigurationError(
                f"S3 blob backend: endpoint {endpoint_url!r} is not a valid URL;"
                f" check {ENV_ENDPOINT}"
            ) from exc

    # -- RawBackend ----------------------------------------------------------------------
    def key_for(self, name: str) -> str:
        """The object key of a blob (operators and tests look there)."""
        return f"{self.prefix}{name[:2]}/{name}"

    def read(self, name: str) -> bytes:
        if not _SHA256.match(name):
            raise FileNotFoundError(name)
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=self.key_for(name))
            body: bytes = response["Body"].read()
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND:
                self._confirm_bucket()
                raise FileNotFoundError(f"{self._where()}: no object {self.key_for(name)}") from exc
            raise self._failure(exc, "reading", name) from exc
        except BotoCoreError as exc:
            raise self._failure(exc, "reading", name) from exc
        return body

    def exists(self, name: str) -> bool:
        if not _SHA256.match(name):
            return False
        try:
            self._client.head_object(Bucket=self.bucket, Key=self.key_for(name))
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND:
                # A HEAD 404 cannot say whether the key or the whole bucket is missing; a
                # missing bucket must not pass for "not stored yet".
                self._confirm_bucket()
                return False
            raise self._failure(exc, "checking", name) from exc
        except BotoCoreError as exc:
            raise self._failure(exc, "checking", name) from exc
        return True

    def delete(self, name: str) -> bool:
        """Remove a blob's bytes (erasure, docs/decisions/0026); S3 does not say whether
        the object existed, so this answers ``True``."""
        if not _SHA256.match(name):
            raise ValueError(f"blob name {name!r} is not a SHA-256 hex digest")
        try:
            self._client.delete_object(Bucket=self.bucket, Key=self.key_for(name))
        except (ClientError, BotoCoreError) as exc:
            raise self._failure(exc, "deleting", name) from exc
        return True

    def write(self, name: str, payload: bytes) -> None:
        """One PutObject: S3 makes an object visible whole or not at all, so there is no
        temporary name to clean up as in the local folder."""
        if not _SHA256.match(name):
            raise ValueError(f"blob name {name!r} is not a SHA-256 hex digest")
        args: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self.key_for(name),
            "Body": payload,
            "ContentType": "application/octet-stream",
            "ContentMD5": _b64(hashlib.md5(payload, usedforsecurity=False).digest()),
        }
        if self.sha256_checksums:
            sha256 = {
                "ChecksumAlgorithm": "SHA256",
                "ChecksumSHA256": _b64(hashlib.sha256(payload).digest()),
            }
            try:
                self._client.put_object(**args, **sha256)
                return
            except ClientError as exc:
                if _error_code(exc) not in _UNSUPPORTED:
                    raise self._failure(exc, "storing", name) from exc
                # Perhaps the server does not know the header: try once with Content-MD5
                # alone, and keep it that way only if that works.
                first_refusal = exc
            except BotoCoreError as exc:
                raise self._failure(exc, "storing", name) from exc
            try:
                self._client.put_object(**args)
            except (ClientError, BotoCoreError) as exc:
                raise self._failure(exc, "storing", name) from first_refusal
            self.sha256_checksums = False
            return
        try:
            self._client.put_object(**args)
        except (ClientError, BotoCoreError) as exc:
            raise self._failure(exc, "storing", name) from exc

    def names(self) -> Iterator[str]:
        """Every stored blob name, in sorted order (S3 lists keys lexicographically and a
        key sorts exactly as its name does). Keys that are not blobs are skipped."""
        paginator = self._client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
                for item in page.get("Contents", ()):
                    fan, _, name = str(item["Key"])[len(self.prefix) :].partition("/")
                    if _SHA256.match(name) and fan == name[:2]:
                        yield name
        except (ClientError, BotoCoreError) as exc:
            raise self._failure(exc, "listing", None) from exc

    # -- checks and errors ---------------------------------------------------------------
    def check(self) -> None:
        """Fail now, with the setting to fix, if the bucket is missing or refuses us; meant
        for start-up so a misconfiguration shows before the first evidence upload."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError) as exc:
            raise self._failure(exc, "opening", None, bucket_probe=True) from exc
        self._bucket_confirmed = True

    def _confirm_bucket(self) -> None:
        if not self._bucket_confirmed:
            self.check()

    def _where(self) -> str:
        at = self.endpoint_url or f"AWS S3 ({self.region})"
        return f"S3 bucket {self.bucket!r} at {at}"

    def _failure(
        self, exc: Exception, action: str, name: str | None, *, bucket_probe: bool = False
    ) -> ConfigurationError:
        where = self._where()
        what = f" blob {name}" if name else ""
        if isinstance(exc, ClientError):
            code = _error_code(exc)
            detail = _error_message(exc)
            said = f" ({code}{': ' + detail if detail else ''})"
            if code in _NO_BUCKET or (bucket_probe and code in _NOT_FOUND):
                return ConfigurationError(
                    f"{where} does not exist: create the bucket or check {ENV_BUCKET}"
                    f" (and {ENV_ENDPOINT})"
                )
            if code in _ACCESS:
                return ConfigurationError(
                    f"{where} refused {action}{what}{said}: check {ENV_ACCESS_KEY} and"
                    f" {ENV_SECRET_KEY} and that the key may read, write and list the bucket"
                    " (S3 also answers 403 for a missing object when s3:ListBucket is not"
                    " granted)"
                )
            if code in _REGION:
                return ConfigurationError(
                    f"{where} is in another region than {self.region!r}{said}: check {ENV_REGION}"
                )
            if code in _CORRUPTED:
                return ConfigurationError(
                    f"{where} refused{what}: the bytes it received did not match their"
                    f" checksum{said}; nothing was stored, the upload may be retried"
                )
            return ConfigurationError(f"{where}: {action}{what} failed{said}")
        if isinstance(exc, NoCredentialsError | PartialCredentialsError):
            return ConfigurationError(
                f"{where}: no S3 credentials; set {ENV_ACCESS_KEY} and {ENV_SECRET_KEY}"
            )
        if isinstance(exc, BotoConnectionError):
            return ConfigurationError(
                f"{where} cannot be reached while {action}{what}: check {ENV_ENDPOINT} and"
                f" that the server is running ({type(exc).__name__})"
            )
        return ConfigurationError(f"{where}: {action}{what} failed ({type(exc).__name__})")


def from_env(environ: Mapping[str, str]) -> S3Backend | None:
    """The S3 backend configured by ``QORGAU_S3_*`` variables, or ``None`` when
    ``QORGAU_S3_BUCKET`` is unset (the blob store then keeps its local folder)."""
    bucket = environ.get(ENV_BUCKET, "").strip()
    if not bucket:
        return None

    def opt(key: str) -> str | None:
        value = environ.get(key, "").strip()
        return value or None

    return S3Backend(
        bucket,
        prefix=environ.get(ENV_PREFIX, DEFAULT_PREFIX),
        endpoint_url=opt(ENV_ENDPOINT),
        region=opt(ENV_REGION) or DEFAULT_REGION,
        access_key=opt(ENV_ACCESS_KEY),
        secret_key=opt(ENV_SECRET_KEY),
    )
