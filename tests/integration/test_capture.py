"""Evidence capture against pages served on loopback: WARC, WACZ, screenshot, text, fields.

Nothing here leaves 127.0.0.1. The browser tests need Debian's Chromium at /usr/bin/chromium;
without it only the screenshot assertions are skipped (the capture itself must still work).
Run with ``-s`` to see how long each capture took (timings are printed, never asserted).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import gzip
import hashlib
import io
import ipaddress
import json
import os
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from warcio.archiveiterator import ArchiveIterator

from qorgau.errors import InvalidInput
from qorgau.vault.capture import (
    DEFAULT_MAX_RESOURCES,
    VIEWPORT,
    CaptureResult,
    capture,
    extract_fields,
    html_to_text,
)

CHROMIUM = "/usr/bin/chromium"
HAS_CHROMIUM = os.path.exists(CHROMIUM)
needs_chromium = pytest.mark.skipif(
    not HAS_CHROMIUM, reason=f"Chromium is not installed at {CHROMIUM}: no screenshot to check"
)

AD_HTML = """<!doctype html>
<html lang="ru">
<head>
<meta charset="utf-8">
<title>Продаю iPhone 13 — объявления Алматы</title>
<meta property="og:title" content="Продаю iPhone 13 Pro, Алматы">
<meta property="og:description" content="Срочно, торг уместен. Сатылады, жағдайы жақсы.">
<style>.filler { height: 2400px; background: linear-gradient(#ffffff, #ccddee); }</style>
</head>
<body>
<article class="ad">
  <h1 class="ad-title">Продаю iPhone 13 Pro, Алматы</h1>
  <div class="price">350 000 ₸</div>
  <div class="seller">@almaty_seller_77</div>
  <a class="phone" href="tel:+77012345678">+7 701 234 56 78</a>
  <time datetime="2026-11-20T09:15:00+05:00">20 ноября, 09:15</time>
  <p>Телефон в отличном состоянии, без царапин.</p>
  <p>Телефон жақсы күйде, сатылады. Хабарласыңыз!</p>
  <p hidden>скрытый текст модератора</p>
  <script>var secret = "не показывать";</script>
  <div class="filler"></div>
  <p>Конец объявления</p>
</article>
</body>
</html>
""".encode()

GONE_HTML = "<!doctype html><title>Не найдено</title><p>Объявление удалено</p>".encode()
PLAIN_GZ_HTML = "<!doctype html><title>gz</title><p>Сжатая страница</p>".encode()
GZ_BODY = gzip.compress(PLAIN_GZ_HTML, mtime=0)
CHUNKS = [b"<!doctype html><title>chunked</title>", "<p>Бөліктер</p>".encode()]


def _png(red: int) -> bytes:
    """A valid 1x1 RGB PNG; ``red`` makes each one's bytes different."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(bytes([0, red % 256, 40, 80]))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


STYLED_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>Жазба</title>
<link rel="stylesheet" href="/assets/style.css">
<script src="/assets/app.js"></script>
</head><body><h1>Қоқан-лоққы</h1><img src="/assets/pic.png" alt="скриншот">
<p id="js">script did not run</p></body></html>
""".encode()
# Byte-exact checks want bodies a player would serve as they are: note the non-ASCII bytes.
STYLE_CSS = "/* стиль */ body { background: #eef; } h1 { color: #a00; }\n".encode()
APP_JS = (
    'document.addEventListener("DOMContentLoaded", () => {\n'
    '  document.getElementById("js").textContent = "скрипт орындалды";\n});\n'
).encode()
PIC_PNG = _png(200)
ASSETS = {
    "/assets/style.css": ("text/css; charset=utf-8", STYLE_CSS),
    "/assets/app.js": ("text/javascript; charset=utf-8", APP_JS),
    "/assets/pic.png": ("image/png", PIC_PNG),
}
MANY_IMAGES = 300
MANY_HTML = (
    "<!doctype html><title>many</title><p>Суреттер</p>"
    + "".join(f'<img src="/many/{n}.png" width="8" height="8">' for n in range(MANY_IMAGES))
).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, a keep-alive client waits for the
    # delayed ACK (~40 ms) on every response after the first. Real servers set TCP_NODELAY.
    disable_nagle_algorithm = True
    hits: ClassVar[Counter[str]] = Counter()
    lock: ClassVar[threading.Lock] = threading.Lock()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {"Content-Type": "text/html; charset=utf-8"}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        with self.lock:
            self.hits[self.path] += 1
        if self.path == "/ad":
            self._send(200, AD_HTML, {"Content-Type": "text/html; charset=utf-8", "X-Ad": "1"})
        elif self.path == "/old":
            self._send(302, b"", {"Location": "/moved"})
        elif self.path == "/moved":
            self._send(301, b"", {"Location": f"http://127.0.0.1:{self.server.server_port}/ad"})
        elif self.path == "/loop":
            self._send(302, b"", {"Location": "/loop"})
        elif self.path == "/gone":
            self._send(404, GONE_HTML)
        elif self.path == "/gz":
            self._send(
                200,
                GZ_BODY,
                {"Content-Type": "text/html; charset=utf-8", "Content-Encoding": "gzip"},
            )
        elif self.path == "/chunked":
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in CHUNKS:
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/styled":
            self._send(200, STYLED_HTML)
        elif self.path in ASSETS:
            content_type, body = ASSETS[self.path]
            self._send(200, body, {"Content-Type": content_type})
        elif self.path == "/many":
            self._send(200, MANY_HTML)
        elif self.path.startswith("/many/") and self.path.endswith(".png"):
            self._send(200, _png(int(self.path[6:-4])), {"Content-Type": "image/png"})
        elif self.path == "/big":
            self._send(200, b"x" * 4096, {"Content-Type": "application/octet-stream"})
        elif self.path == "/slow":
            time.sleep(2.0)
            self._send(200, b"<p>too late</p>")
        else:
            self._send(404, b"<p>no such page</p>")


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that time out or reject our certificate hang up mid-request


@dataclass
class Site:
    base: str
    hits: Counter[str]


@contextmanager
def _serve(server: ThreadingHTTPServer) -> Iterator[None]:
    thread = threading.Thread(target=server.serve_forever, name="capture-test-http", daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    server = _QuietServer(("127.0.0.1", 0), _Handler)
    with _serve(server):
        yield Site(f"http://127.0.0.1:{server.server_port}", _Handler.hits)


@pytest.fixture(scope="module")
def ad(site: Site) -> tuple[CaptureResult, float]:
    """One full capture (browser included) shared by the assertions below."""
    start = time.perf_counter()
    result = capture(f"{site.base}/ad")
    return result, time.perf_counter() - start


def _records(warc: bytes) -> list[dict[str, Any]]:
    """Each WARC record as plain data, bodies read while the iterator is on them."""
    out = []
    for record in ArchiveIterator(io.BytesIO(warc)):
        item: dict[str, Any] = {
            "type": record.rec_type,
            "uri": record.rec_headers.get_header("WARC-Target-URI"),
            "headers": record.rec_headers,
            "http": record.http_headers,
        }
        item["raw"] = record.raw_stream.read()
        out.append(item)
    return out


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# ---------------------------------------------------------------------------------------------


def test_ad_capture_took(
    ad: tuple[CaptureResult, float], capsys: pytest.CaptureFixture[str]
) -> None:
    result, seconds = ad
    with capsys.disabled():
        print(
            f"\n[capture] loopback ad page with {'Chromium' if HAS_CHROMIUM else 'no browser'}: "
            f"{seconds:.2f} s (warc {len(result.warc)} B, wacz {len(result.wacz or b'')} B, "
            f"png {len(result.screenshot_png or b'')} B)"
        )
    assert result.ok, result.error
    assert result.status == 200
    assert result.error is None
    assert result.started_at <= result.finished_at
    assert result.started_at.tzinfo is not None


def test_warc_holds_the_exact_exchange_and_the_address(
    ad: tuple[CaptureResult, float], site: Site
) -> None:
    result, _ = ad
    records = _records(result.warc)
    types = [r["type"] for r in records]
    assert types[0] == "warcinfo"
    assert b"software: Qorgau" in records[0]["raw"]
    assert b"Evidence capture" in records[0]["raw"]

    response = next(r for r in records if r["type"] == "response")
    request = next(r for r in records if r["type"] == "request")
    assert response["uri"] == f"{site.base}/ad"
    assert response["raw"] == AD_HTML  # byte-exact body
    assert response["http"].get_statuscode() == "200"
    assert response["http"].get_header("X-Ad") == "1"
    assert response["headers"].get_header("WARC-IP-Address") == "127.0.0.1"
    assert request["headers"].get_header("WARC-Concurrent-To") == response["headers"].get_header(
        "WARC-Record-ID"
    )
    assert request["http"].protocol == "GET"
    assert request["http"].statusline == "/ad HTTP/1.1"
    assert "Qorgau" in request["http"].get_header("User-Agent")
    for name, value in result.request_headers.items():
        assert request["http"].get_header(name) == value  # what we report is what we sent
    assert "Qorgau" in result.request_headers["User-Agent"]
    assert result.response_headers["X-Ad"] == "1"

    metadata = next(r for r in records if r["type"] == "metadata")
    fields = metadata["raw"].decode()
    assert "resolved-ip: 127.0.0.1 127.0.0.1" in fields
    assert "connected-ip: 127.0.0.1 127.0.0.1" in fields
    assert "capture-started: " in fields and "capture-finished: " in fields
    assert "outcome: ok" in fields
    assert "not exposed" not in fields  # the address came from the socket, not a guess
    assert result.resolved_ips == ["127.0.0.1"]
    assert result.connected_ip == "127.0.0.1"
    if HAS_CHROMIUM:
        shot = next(r for r in records if r["type"] == "resource")
        assert shot["uri"] == f"urn:screenshot:{site.base}/ad"
        assert shot["raw"] == result.screenshot_png


def test_wacz_is_a_valid_package_with_matching_hashes(ad: tuple[CaptureResult, float]) -> None:
    result, _ = ad
    assert result.wacz is not None, result.warnings
    with zipfile.ZipFile(io.BytesIO(result.wacz)) as bundle:
        names = set(bundle.namelist())
        assert {"datapackage.json", "pages/pages.jsonl"} <= names
        assert "indexes/index.cdx.gz" in names or "indexes/index.cdx" in names
        assert f"archive/{result.warc_filename}" in names
        assert bundle.read(f"archive/{result.warc_filename}") == result.warc

        package = json.loads(bundle.read("datapackage.json"))
        assert package["wacz_version"] == "1.1.1"
        listed = {entry["path"] for entry in package["resources"]}
        assert listed == names - {"datapackage.json", "datapackage-digest.json"}
        for entry in package["resources"]:
            data = bundle.read(entry["path"])
            assert entry["hash"] == "sha256:" + hashlib.sha256(data).hexdigest(), entry["path"]
            assert entry["bytes"] == len(data)
        digest = json.loads(bundle.read("datapackage-digest.json"))
        assert (
            digest["hash"]
            == "sha256:" + hashlib.sha256(bundle.read("datapackage.json")).hexdigest()
        )

        pages = [json.loads(line) for line in bundle.read("pages/pages.jsonl").splitlines()]
        assert pages[0]["format"] == "json-pages-1.0"
        assert pages[1]["url"] == result.final_url
        assert "Сатылады" in pages[1]["text"] or "сатылады" in pages[1]["text"]

        index = gzip.decompress(bundle.read("indexes/index.cdx.gz")).decode()
        assert "/ad " in index and '"status": "200"' in index


def test_wacz_passes_py_wacz_validation(ad: tuple[CaptureResult, float], tmp_path: Path) -> None:
    result, _ = ad
    assert result.wacz is not None
    path = tmp_path / "capture.wacz"
    path.write_bytes(result.wacz)
    done = subprocess.run(
        [sys.executable, "-m", "wacz", "validate", "-f", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "is valid" in done.stdout


@needs_chromium
def test_screenshot_is_a_png_of_the_whole_tall_page(ad: tuple[CaptureResult, float]) -> None:
    result, _ = ad
    assert result.screenshot_png is not None, result.warnings
    width, height = _png_size(result.screenshot_png)
    assert width == VIEWPORT["width"]
    assert height > VIEWPORT["height"]  # full page, not just the viewport
    assert height >= 2400


def test_text_and_fields_are_extracted(ad: tuple[CaptureResult, float]) -> None:
    result, _ = ad
    assert result.title == "Продаю iPhone 13 — объявления Алматы"
    assert "Телефон жақсы күйде, сатылады." in result.text
    assert "Конец объявления" in result.text
    assert "не показывать" not in result.text  # scripts are not visible text
    assert "скрытый текст" not in result.text  # neither are hidden elements
    fields = result.fields
    assert fields["title"] == "Продаю iPhone 13 Pro, Алматы"
    assert fields["author_handle"] == "@almaty_seller_77"
    assert fields["published_at"] == "2026-11-20T09:15:00+05:00"
    assert fields["price"] == "350 000 ₸"
    assert fields["phone"] == "+77012345678"
    assert fields["description"].startswith("Срочно")
    assert fields["visible_text"] == result.text


def test_the_site_sees_a_single_request(ad: tuple[CaptureResult, float], site: Site) -> None:
    """The browser renders the archived bytes instead of fetching the page again."""
    assert site.hits["/ad"] >= 1
    before = site.hits["/ad"]
    capture(f"{site.base}/ad")
    assert site.hits["/ad"] == before + 1


def test_redirect_chain_is_recorded_hop_by_hop(site: Site) -> None:
    start = time.perf_counter()
    result = capture(f"{site.base}/old", screenshot=False)
    seconds = time.perf_counter() - start
    print(f"[capture] redirect chain without browser: {seconds:.2f} s")
    assert result.ok, result.error
    assert result.redirects == [f"{site.base}/old", f"{site.base}/moved"]
    assert result.final_url == f"{site.base}/ad"
    assert result.status == 200
    assert result.screenshot_png is None
    assert result.fields["author_handle"] == "@almaty_seller_77"  # from the HTML, no browser
    records = _records(result.warc)
    responses = [(r["uri"], r["http"].get_statuscode()) for r in records if r["type"] == "response"]
    assert responses == [
        (f"{site.base}/old", "302"),
        (f"{site.base}/moved", "301"),
        (f"{site.base}/ad", "200"),
    ]
    assert [r["uri"] for r in records if r["type"] == "request"] == [u for u, _ in responses]
    assert result.wacz is not None


def test_too_many_redirects_fail_with_the_chain_kept(site: Site) -> None:
    result = capture(f"{site.base}/loop", screenshot=False)
    assert not result.ok
    assert result.error is not None and "too many redirects" in result.error
    assert result.wacz is None
    assert sum(1 for r in _records(result.warc) if r["type"] == "response") > 10


def test_content_encoded_body_is_archived_raw_and_text_decoded(site: Site) -> None:
    result = capture(f"{site.base}/gz", screenshot=False)
    assert result.ok, result.error
    response = next(r for r in _records(result.warc) if r["type"] == "response")
    assert response["raw"] == GZ_BODY  # as sent on the wire: still gzip
    assert response["http"].get_header("Content-Encoding") == "gzip"
    assert result.text == "Сжатая страница"
    assert result.title == "gz"


def test_chunked_body_is_stored_dechunked_with_the_header_renamed(site: Site) -> None:
    result = capture(f"{site.base}/chunked", screenshot=False)
    assert result.ok, result.error
    response = next(r for r in _records(result.warc) if r["type"] == "response")
    assert response["raw"] == b"".join(CHUNKS)
    assert response["http"].get_header("Transfer-Encoding") is None
    assert response["http"].get_header("X-Qorgau-Orig-Transfer-Encoding") == "chunked"
    assert result.response_headers["Transfer-Encoding"] == "chunked"
    assert result.text == "Бөліктер"


def test_a_removed_page_is_evidence_not_a_failure(site: Site) -> None:
    result = capture(f"{site.base}/gone", screenshot=False)
    assert result.ok
    assert result.status == 404
    assert any("404" in w for w in result.warnings)
    assert result.text == "Объявление удалено"
    assert result.wacz is not None


def test_refused_connection_still_yields_a_warc() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/post/1"
    start = time.perf_counter()
    result = capture(url)
    print(f"[capture] refused: {time.perf_counter() - start:.2f} s")
    assert not result.ok
    assert result.error is not None and "refused" in result.error
    assert result.status is None
    assert result.wacz is None
    assert result.screenshot_png is None
    records = _records(result.warc)
    assert [r["type"] for r in records] == ["warcinfo", "request", "metadata"]
    assert records[1]["uri"] == url
    assert "Qorgau" in records[1]["http"].get_header("User-Agent")
    metadata = records[2]["raw"].decode()
    assert "outcome: failed" in metadata
    assert "refused" in metadata
    assert "resolved-ip: 127.0.0.1 127.0.0.1" in metadata


def test_timeout_is_reported(site: Site) -> None:
    start = time.perf_counter()
    result = capture(f"{site.base}/slow", timeout=0.5, screenshot=False)
    assert time.perf_counter() - start < 2.0
    assert not result.ok
    assert result.error is not None and "timed out" in result.error
    assert [r["type"] for r in _records(result.warc)][-1] == "metadata"


def test_too_large_body_is_truncated_and_reported(site: Site) -> None:
    result = capture(f"{site.base}/big", max_body_bytes=1000, screenshot=False)
    assert not result.ok
    assert result.error is not None and "too large" in result.error
    response = next(r for r in _records(result.warc) if r["type"] == "response")
    assert response["headers"].get_header("WARC-Truncated") == "length"
    assert len(response["raw"]) <= 1000


def test_unknown_host_is_a_dns_failure() -> None:
    result = capture("http://capture-test.invalid/", timeout=3, screenshot=False)
    assert not result.ok
    assert result.error is not None and "DNS" in result.error
    assert [r["type"] for r in _records(result.warc)] == ["warcinfo", "request", "metadata"]


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_untrusted_certificate_is_a_tls_error(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = _QuietServer(("127.0.0.1", 0), _Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with _serve(server):
        result = capture(f"https://127.0.0.1:{server.server_port}/ad", timeout=5)
    assert not result.ok
    assert result.error is not None and "TLS" in result.error
    assert "certificate" in result.error.lower()
    assert [r["type"] for r in _records(result.warc)] == ["warcinfo", "request", "metadata"]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://files.example.kz/leak.zip", "http or https"),
        ("example.kz/post/1", "no scheme"),
        ("", "give the address"),
        ("http://", "no host"),
        ("javascript:alert(1)", "http or https"),
        ("example.kz:8080/post/1", "no scheme"),
    ],
)
def test_urls_that_are_not_web_pages_are_invalid_input(url: str, says: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        capture(url)
    assert caught.value.problems[0].field == "url"
    assert says in str(caught.value)


def test_without_chromium_the_capture_keeps_warc_wacz_and_text(site: Site) -> None:
    result = capture(f"{site.base}/ad", browser_path="/nonexistent/chromium")
    assert result.ok
    assert result.screenshot_png is None
    assert any("Chromium not found" in w for w in result.warnings)
    assert result.wacz is not None
    assert "Телефон жақсы күйде, сатылады." in result.text
    assert "не показывать" not in result.text
    assert result.fields["author_handle"] == "@almaty_seller_77"
    assert result.title == "Продаю iPhone 13 — объявления Алматы"


@needs_chromium
def test_capture_called_inside_an_event_loop_still_renders(site: Site) -> None:
    """Playwright's sync API refuses a running loop; capture moves the browser to a thread."""

    async def inside_loop() -> CaptureResult:
        return capture(f"{site.base}/ad")

    result = asyncio.run(inside_loop())
    assert result.screenshot_png is not None, result.warnings
    assert result.fields["author_handle"] == "@almaty_seller_77"


def test_field_table_covers_messages_and_microdata() -> None:
    html = """
    <html><head><title>Канал</title></head><body>
    <div class="tgme_widget_message">
      <a class="tgme_widget_message_owner_name" href="https://t.me/troll_kz">
        <span>Тролль KZ</span></a>
      <div class="tgme_widget_message_text">Журналиске қауіп төніп тұр</div>
      <time class="time" datetime="2026-11-21T20:01:00+00:00">20:01</time>
    </div>
    <div itemscope itemtype="https://schema.org/Product">
      <span itemprop="price" content="120000">120 000 тг</span>
    </div>
    </body></html>
    """
    fields = extract_fields(html)
    assert fields["author_handle"] == "Тролль KZ"
    assert fields["published_at"] == "2026-11-21T20:01:00+00:00"
    assert fields["price"] == "120000"
    assert fields["title"] == "Канал"  # no post title markup: the document title
    assert "Журналиске қауіп төніп тұр" in fields["visible_text"]


def test_html_to_text_keeps_lines_and_drops_invisible_parts() -> None:
    html = (
        "<p>Бірінші<br>екінші</p><style>p{}</style><div style='display: none'>жасырын</div>"
        "<ul><li>один<li>два</ul>"
    )
    assert html_to_text(html) == "Бірінші\nекінші\nодин\nдва"


# ---------------------------------------------------------------------------------------------
# Sub-resources fetched while rendering go into the same WARC.

needs_chromium_for_resources = pytest.mark.skipif(
    not HAS_CHROMIUM,
    reason=f"Chromium is not installed at {CHROMIUM}: sub-resources are only fetched by rendering",
)


@pytest.fixture(scope="module")
def styled(site: Site) -> tuple[CaptureResult, float]:
    if not HAS_CHROMIUM:
        pytest.skip(f"Chromium is not installed at {CHROMIUM}: no sub-resources to record")
    start = time.perf_counter()
    result = capture(f"{site.base}/styled")
    return result, time.perf_counter() - start


@needs_chromium_for_resources
def test_subresources_are_archived_byte_exact(
    styled: tuple[CaptureResult, float], site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    result, seconds = styled
    with capsys.disabled():
        print(
            f"\n[capture] loopback page with a stylesheet, an image and a script: {seconds:.2f} s "
            f"(warc {len(result.warc)} B, wacz {len(result.wacz or b'')} B)"
        )
    assert result.ok, result.error
    assert result.warnings == []
    assert "скрипт орындалды" in result.text  # the archived script ran in the rendering
    records = _records(result.warc)
    responses = {r["uri"]: r for r in records if r["type"] == "response"}
    requests = {r["uri"]: r for r in records if r["type"] == "request"}
    metadata = next(r for r in records if r["type"] == "metadata")["raw"].decode()
    for path, (content_type, body) in ASSETS.items():
        url = f"{site.base}{path}"
        response = responses[url]
        assert response["raw"] == body, path  # byte-exact
        assert response["http"].get_statuscode() == "200"
        assert response["http"].get_header("Content-Type") == content_type
        assert response["headers"].get_header("WARC-IP-Address") == "127.0.0.1"
        request = requests[url]
        assert request["headers"].get_header("WARC-Concurrent-To") == response[
            "headers"
        ].get_header("WARC-Record-ID")
        assert request["http"].statusline == f"{path} HTTP/1.1"
        assert "Qorgau" in request["http"].get_header("User-Agent")  # the browser's headers
        assert request["http"].get_header("Referer") == f"{site.base}/styled"
        digest = hashlib.sha256(body).hexdigest()
        assert f"subresource: {url} status=200 bytes={len(body)} sha256={digest}" in metadata
        assert site.hits[path] == 1  # fetched once, by us, and the browser got those bytes
    assert site.hits["/styled"] == 1  # the document itself is still rendered from the WARC
    assert responses[f"{site.base}/styled"]["raw"] == STYLED_HTML


@needs_chromium_for_resources
def test_subresources_are_in_the_wacz_index(
    styled: tuple[CaptureResult, float], site: Site, tmp_path: Path
) -> None:
    result, _ = styled
    assert result.wacz is not None, result.warnings
    with zipfile.ZipFile(io.BytesIO(result.wacz)) as bundle:
        lines = gzip.decompress(bundle.read("indexes/index.cdx.gz")).decode().splitlines()
    indexed = {}
    for line in lines:
        entry = json.loads(line.split(" ", 2)[2])
        indexed[entry["url"]] = entry
    for path, (_, body) in ASSETS.items():
        entry = indexed[f"{site.base}{path}"]
        assert entry["status"] == "200"
        sha1 = base64.b32encode(hashlib.sha1(body).digest()).decode()  # the CDX convention
        assert entry["digest"] == f"sha1:{sha1}"
    wacz_path = tmp_path / "styled.wacz"
    wacz_path.write_bytes(result.wacz)
    done = subprocess.run(
        [sys.executable, "-m", "wacz", "validate", "-f", str(wacz_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@needs_chromium_for_resources
def test_subresources_are_capped_at_the_bound(site: Site) -> None:
    start = time.perf_counter()
    result = capture(f"{site.base}/many")
    print(f"[capture] page with {MANY_IMAGES} images: {time.perf_counter() - start:.2f} s")
    assert result.ok, result.error
    records = _records(result.warc)
    images = [r for r in records if r["type"] == "response" and "/many/" in r["uri"]]
    assert len(images) == DEFAULT_MAX_RESOURCES
    for image in images:
        assert image["raw"] == _png(int(image["uri"].rsplit("/", 1)[1][:-4]))
    blocked = MANY_IMAGES - DEFAULT_MAX_RESOURCES
    assert any(
        f"{DEFAULT_MAX_RESOURCES} resources archived, {blocked} further requests blocked" in w
        for w in result.warnings
    ), result.warnings
    metadata = next(r for r in records if r["type"] == "metadata")["raw"].decode()
    assert metadata.count("subresource: ") == DEFAULT_MAX_RESOURCES
    assert "warning: sub-resource limit reached" in metadata
    assert result.screenshot_png is not None


@needs_chromium_for_resources
def test_subresources_are_capped_in_bytes(site: Site) -> None:
    result = capture(f"{site.base}/many", max_resource_bytes=1000)
    assert result.ok, result.error
    images = [r for r in _records(result.warc) if r["type"] == "response" and "/many/" in r["uri"]]
    complete = [i for i in images if i["headers"].get_header("WARC-Truncated") is None]
    assert len(complete) == 1000 // len(_png(0))  # as many 69-byte images as fit in 1000 bytes
    assert all(i["headers"].get_header("WARC-Truncated") == "length" for i in images[14:])
    assert sum(len(image["raw"]) for image in images) <= 1000
    assert any("size limit reached (1000 bytes" in w for w in result.warnings), result.warnings


def test_no_subresources_without_a_browser(site: Site) -> None:
    before = sum(site.hits[path] for path in ASSETS)
    url = f"{site.base}/styled"
    for result in (capture(url, screenshot=False), capture(url, browser_path="/nonexistent/x")):
        assert result.ok, result.error
        records = _records(result.warc)
        assert [r["uri"] for r in records if r["type"] == "response"] == [url]
        assert "subresource:" not in records[-1]["raw"].decode()
    assert sum(site.hits[path] for path in ASSETS) == before
