"""A real RFC 3161 time-stamp authority on loopback, for tests that must not leave the machine.

A throwaway root CA and a TSA certificate (critical extendedKeyUsage timeStamping, as RFC 3161
§2.3 requires) are made with ``cryptography``; every query is answered by ``openssl ts -reply``,
so tokens come from an independent implementation rather than from code under test. The HTTP
server listens on 127.0.0.1 with an ephemeral port.

``mode`` makes it misbehave for error tests:

* ``"ok"``            a granted token for the query as sent
* ``"http_error"``    HTTP 500 and no body
* ``"reject"``        a real openssl rejection (the query is re-made with SHA-1, which this TSA
                      does not accept)
* ``"other_digest"``  a granted token for another digest (same nonce)
* ``"other_nonce"``   a granted token for the same digest but a nonce of openssl's choosing
* ``"garbage"``       HTTP 200 with bytes that are not DER
"""

from __future__ import annotations

import datetime as dt
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from rfc3161_client._rust import parse_timestamp_request

Mode = Literal["ok", "http_error", "reject", "other_digest", "other_nonce", "garbage"]
POLICY = "1.3.6.1.4.1.57264.99.1"  # an arbitrary private-arc OID for the test policy


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Qorgau test"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_ca(
    common_name: str = "Qorgau Test Root CA",
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_tsa_cert(
    ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("Qorgau Test TSA"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


class TsaServer:
    """``with TsaServer() as tsa:`` gives ``tsa.url``, ``tsa.ca_pem`` and ``tsa.ca_path``."""

    def __init__(self, workdir: Path | None = None) -> None:
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="qorgau-tsa-")
        self.dir = Path(workdir or self._tmp.name)  # type: ignore[union-attr]
        self.dir.mkdir(parents=True, exist_ok=True)
        self.mode: Mode = "ok"
        self.queries: list[bytes] = []
        self.content_types: list[str] = []

        ca_key, ca_cert = make_ca()
        tsa_key, tsa_cert = make_tsa_cert(ca_key, ca_cert)
        self.ca_pem = _pem(ca_cert)
        self.tsa_pem = _pem(tsa_cert)
        self.ca_path = self.dir / "ca.pem"
        self.ca_path.write_bytes(self.ca_pem)
        (self.dir / "tsa.pem").write_bytes(self.tsa_pem)
        (self.dir / "tsa.key").write_bytes(
            tsa_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        (self.dir / "serial").write_text("01\n")
        self.config_path = self.dir / "openssl.cnf"
        self.config_path.write_text(
            "\n".join(
                [
                    "[ tsa ]",
                    "default_tsa = qorgau_test_tsa",
                    "",
                    "[ qorgau_test_tsa ]",
                    f"serial = {self.dir / 'serial'}",
                    "crypto_device = builtin",
                    f"signer_cert = {self.dir / 'tsa.pem'}",
                    f"signer_key = {self.dir / 'tsa.key'}",
                    "signer_digest = sha256",
                    f"default_policy = {POLICY}",
                    "digests = sha256, sha384, sha512",
                    "accuracy = secs:1",
                    "ordering = no",
                    "tsa_name = yes",
                    "ess_cert_id_chain = no",
                    "ess_cert_id_alg = sha256",
                    "",
                ]
            )
        )
        self._openssl_lock = threading.Lock()  # the serial file is not safe for concurrency
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                outer.queries.append(body)
                outer.content_types.append(self.headers.get("content-type", ""))
                status, payload = outer._answer(body)
                self.send_response(status)
                self.send_header("content-type", "application/timestamp-reply")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = HTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/tsr"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def _openssl(self, *args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=self.dir)

    def _answer(self, query: bytes) -> tuple[int, bytes]:
        mode = self.mode
        if mode == "http_error":
            return 500, b""
        if mode == "garbage":
            return 200, b"this is not a time-stamp response"
        with self._openssl_lock:
            query_path = self.dir / "query.tsq"
            response_path = self.dir / "resp.tsr"
            query_path.write_bytes(query)
            if mode in ("reject", "other_nonce"):
                digest = parse_timestamp_request(query).message_imprint.message
                if mode == "reject":
                    digest = digest[:20]  # a SHA-1 sized imprint
                algorithm = "-sha1" if mode == "reject" else "-sha256"
                self._openssl(
                    "ts", "-query", "-digest", digest.hex(), algorithm, "-cert",
                    "-out", str(query_path),
                )  # fmt: skip
            elif mode == "other_digest":
                digest = parse_timestamp_request(query).message_imprint.message
                query_path.write_bytes(query.replace(digest, bytes(b ^ 0xFF for b in digest)))
            self._openssl(
                "ts", "-reply", "-config", str(self.config_path), "-queryfile", str(query_path),
                "-signer", str(self.dir / "tsa.pem"), "-inkey", str(self.dir / "tsa.key"),
                "-out", str(response_path),
            )  # fmt: skip
            return 200, response_path.read_bytes()

    def __enter__(self) -> TsaServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._tmp is not None:
            self._tmp.cleanup()


def make_server_files(
    folder: Path,
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = ("127.0.0.1",),
    ca_name: str = "Qorgau Test Server CA",
) -> tuple[Path, Path, Path]:
    """A test CA and a server certificate for the given names: (ca.pem, chain.pem, key.pem),
    for a real HTTPS server in a test (``qorgau serve --tls-cert --tls-key``)."""
    import ipaddress

    ca_key, ca = make_ca(ca_name)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(dns_names[0] if dns_names else ip_addresses[0]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    ca_file, chain_file, key_file = folder / "ca.pem", folder / "chain.pem", folder / "key.pem"
    ca_file.write_bytes(_pem(ca))
    chain_file.write_bytes(_pem(leaf) + _pem(ca))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_file, chain_file, key_file
