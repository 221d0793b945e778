"""Capture a web page as evidence: WARC, WACZ, full-page screenshot, text and post fields.

Why this shape
--------------
A capture has to survive scrutiny long after the page is gone or edited, so the primary record
is the HTTP exchange itself, written as WARC (ISO 28500) by ``warcio``: the exact request
headers we sent, the status line, headers and *raw* (still content-encoded) body we received
for every redirect hop, the address we actually connected to, and a metadata record of what
happened. Everything else is derived from those bytes and is therefore reproducible:

* the WACZ bundles the WARC with a CDXJ index and a page list so ReplayWeb.page and other
  standard players can replay it, and its ``datapackage.json`` hashes every file in it;
* the screenshot and the visible text come from headless Chromium rendering *the archived
  HTML*: the main document is answered from the captured bytes (Playwright request routing)
  instead of being fetched a second time. The hostile site therefore sees one request, and
  the picture matches the WARC even if the page changes between two fetches;
* the sub-resources the browser asks for while rendering (styles, images, scripts, fonts)
  are fetched by *our* HTTP client, not the browser's, and written to the same WARC as
  request/response pairs (raw bytes, real headers, connected address) before the browser is
  answered with them: one request per resource, and what the screenshot shows is what the
  WARC holds, so a player replays the page with its styles and pictures. Only GET/HEAD of
  http(s) URLs are fetched, at most :data:`DEFAULT_MAX_RESOURCES` resources and
  :data:`DEFAULT_MAX_RESOURCE_BYTES` bytes in all (a warning says when a bound cut the
  capture short); anything else the page tries is blocked, so nothing the page loads
  escapes the record and the capture never sends data (form posts, beacons) to the site;
* the searchable fields (title, author handle, publication date, ...) come from a small,
  data-driven table of selectors (:data:`FIELD_EXTRACTORS`) applied to the rendered DOM, or
  to the archived HTML when there is no browser.

Failure is data, not an exception: an unreachable page (DNS failure, refused connection,
timeout, TLS error, body too large) returns ``ok=False`` with the reason, and a WARC that holds
the request we attempted and a metadata record of the failure; "we tried at 10:42 and the host
did not answer" is itself evidence. Only a URL that cannot be captured at all (no scheme, not
http/https, no host) raises :class:`qorgau.errors.InvalidInput`.

Threads and event loops
-----------------------
:func:`capture` is synchronous and blocking (httpx's sync client, Playwright's sync API). Async
callers must run it in a worker thread: ``await asyncio.to_thread(capture, url)``. Playwright's
sync API refuses to start inside a running asyncio loop; if :func:`capture` is nevertheless
called from a coroutine, the browser part is moved to a helper thread so it still works, but
the calling loop is blocked for the whole capture.

The module has no database access: storing, hashing into the vault log and access control
belong to the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.metadata
import io
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any, TypeVar, cast

import httpx
from warcio.statusandheaders import StatusAndHeaders  # type: ignore[import-untyped]
from warcio.timeutils import datetime_to_iso_date  # type: ignore[import-untyped]
from warcio.warcwriter import WARCWriter  # type: ignore[import-untyped]

from qorgau import __version__
from qorgau.errors import InvalidInput

if TYPE_CHECKING:
    from playwright.sync_api import Route

__all__ = [
    "CHROMIUM_ARGS",
    "DEFAULT_BROWSER_PATH",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_RESOURCES",
    "DEFAULT_MAX_RESOURCE_BYTES",
    "DEFAULT_TIMEOUT",
    "DEFAULT_USER_AGENT",
    "FIELD_EXTRACTORS",
    "MAX_REDIRECTS",
    "VIEWPORT",
    "CaptureResult",
    "FieldExtractor",
    "capture",
    "extract_fields",
    "html_to_text",
]

DEFAULT_TIMEOUT = 15.0
DEFAULT_MAX_BODY_BYTES = 50 * 1024 * 1024
DEFAULT_BROWSER_PATH = "/usr/bin/chromium"
MAX_REDIRECTS = 10
VIEWPORT = {"width": 1280, "height": 800}
# "networkidle" never comes on pages that poll or stream; wait for it at most this long.
NETWORK_IDLE_CAP = 5.0
# Bounds on the sub-resources recorded while rendering (count, and raw bytes in all).
DEFAULT_MAX_RESOURCES = 200
DEFAULT_MAX_RESOURCE_BYTES = 50 * 1024 * 1024
# Without the background-networking switches Chromium phones home (component updates, sync,
# safe browsing), which both leaks the capture and is refused on closed networks.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
# Honest by design: the capture says who made it. Callers with an operational-security reason
# to blend in can pass another ``user_agent``.
DEFAULT_USER_AGENT = (
    f"Mozilla/5.0 (compatible; Qorgau/{__version__}; evidence capture for a journalist-safety desk)"
)
DEFAULT_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
# The desk works on Kazakhstani sites that vary content by language; ask for what a local
# reader would see.
DEFAULT_ACCEPT_LANGUAGE = "ru-RU,ru;q=0.9,kk;q=0.8,en;q=0.6"
CAPTURE_PURPOSE = (
    "Evidence capture of a web page reported to a Qorgau case desk (digital attacks on "
    "journalists and independent media); records the HTTP exchange as received."
)
WARC_VERSION = "1.1"
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
TEXT_TYPES = frozenset({"text/plain", "application/json", "text/csv", "application/xml"})
_FIELD_MAX_CHARS = 2000


@dataclass
class CaptureResult:
    """Everything one capture produced; pure data, for the vault to hash and store.

    ``ok`` is true when the final HTTP response was received completely, whatever its status:
    a 404 or 410 is itself evidence (the post was removed), so it is reported in ``status``
    and ``warnings`` rather than as a failure. ``error`` says why ``ok`` is false.

    ``redirects`` lists the URLs that answered with a redirect, in order (empty when the first
    URL answered directly); ``final_url`` is the last URL fetched. ``request_headers`` and
    ``response_headers`` are those of the last hop, names in the case sent or received
    (repeated headers joined with ", "); every hop's headers are in the WARC.

    ``finished_at`` is the end of network and browser activity, before packaging; both
    times are timezone-aware UTC.

    ``resolved_ips`` are the addresses the system resolver returned for the hosts contacted;
    ``connected_ip`` is the address the final connection actually went to.
    """

    url: str
    final_url: str
    status: int | None
    ok: bool
    error: str | None
    started_at: datetime
    finished_at: datetime
    request_headers: dict[str, str]
    response_headers: dict[str, str]
    resolved_ips: list[str]
    warc: bytes
    wacz: bytes | None
    screenshot_png: bytes | None
    text: str
    title: str | None
    fields: dict[str, str]
    redirects: list[str]
    warnings: list[str] = field(default_factory=list)
    connected_ip: str | None = None
    capture_id: str = ""
    warc_filename: str = ""


# --------------------------------------------------------------------------------------------
# Structured fields
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldExtractor:
    """One way to find one field: the first extractor (in table order) with a value wins.

    ``selector`` is a *simple* CSS compound selector: an optional tag, ``.class`` parts and
    ``[attr]``, ``[attr=value]``, ``[attr~=word]`` or ``[attr^=prefix]`` parts, no combinators.
    That subset is enough for meta tags, microdata and classified-ad markup and keeps the
    matcher small enough to run on the stdlib parser when there is no browser. ``sources`` are
    tried in order: ``"text"`` is the element's visible text, ``"@name"`` an attribute.
    """

    field: str
    selector: str
    sources: tuple[str, ...] = ("text",)


def _fx(field_name: str, selector: str, *sources: str) -> FieldExtractor:
    return FieldExtractor(field_name, selector, sources or ("text",))


# Generic on purpose: structured data first (microdata, rel, Open Graph / article meta), then
# the class names classified-ad boards, forums and the Telegram web preview commonly use.
FIELD_EXTRACTORS: tuple[FieldExtractor, ...] = (
    _fx("title", 'meta[property="og:title"]', "@content"),
    _fx("title", 'meta[name="twitter:title"]', "@content"),
    _fx("title", '[itemprop="headline"]', "@content", "text"),
    _fx("title", ".ad-title"),
    _fx("title", ".post-title"),
    _fx("title", "h1"),
    _fx("author_handle", '[itemprop="author"]', "@content", "text"),
    _fx("author_handle", '[rel~="author"]'),
    _fx("author_handle", 'meta[name="author"]', "@content"),
    _fx("author_handle", 'meta[property="article:author"]', "@content"),
    _fx("author_handle", 'meta[name="twitter:creator"]', "@content"),
    _fx("author_handle", ".tgme_widget_message_owner_name"),
    _fx("author_handle", ".seller"),
    _fx("author_handle", ".seller-name"),
    _fx("author_handle", ".author"),
    _fx("author_handle", ".username"),
    _fx("published_at", 'meta[property="article:published_time"]', "@content"),
    _fx("published_at", '[itemprop="datePublished"]', "@content", "@datetime", "text"),
    _fx("published_at", "time[datetime]", "@datetime"),
    _fx("published_at", ".ad-date"),
    _fx("description", 'meta[property="og:description"]', "@content"),
    _fx("description", 'meta[name="description"]', "@content"),
    _fx("description", 'meta[name="twitter:description"]', "@content"),
    _fx("price", '[itemprop="price"]', "@content", "text"),
    _fx("price", ".price"),
    _fx("phone", '[itemprop="telephone"]', "@content", "text"),
    _fx("phone", 'a[href^="tel:"]', "@href"),
    _fx("phone", ".phone"),
    _fx("site_name", 'meta[property="og:site_name"]', "@content"),
    _fx("canonical_url", 'link[rel~="canonical"]', "@href"),
    _fx("canonical_url", 'meta[property="og:url"]', "@content"),
)


@dataclass(frozen=True)
class _Selector:
    tag: str | None
    classes: tuple[str, ...]
    attrs: tuple[tuple[str, str, str | None], ...]  # (name, operator, value)


_SELECTOR_RE = re.compile(r"^(?P<tag>[a-zA-Z][\w-]*)?(?P<rest>(?:\.[\w-]+|\[[^\]]+\])*)$")
_SELECTOR_PART_RE = re.compile(
    r"\.(?P<cls>[\w-]+)"
    r"|\[\s*(?P<attr>[\w:-]+)\s*(?:(?P<op>[~^]?=)\s*"
    r"(?:\"(?P<dq>[^\"]*)\"|'(?P<sq>[^']*)'|(?P<bare>[^\]\s]+)))?\s*\]"
)


def _parse_selector(selector: str) -> _Selector:
    """Parse the simple-selector subset of :class:`FieldExtractor`; reject anything else."""
    match = _SELECTOR_RE.match(selector.strip())
    if not match:
        raise ValueError(f"unsupported selector {selector!r}")
    classes: list[str] = []
    attrs: list[tuple[str, str, str | None]] = []
    rest = match.group("rest")
    position = 0
    for part in _SELECTOR_PART_RE.finditer(rest):
        if part.start() != position:
            raise ValueError(f"unsupported selector {selector!r}")
        position = part.end()
        if part.group("cls"):
            classes.append(part.group("cls"))
        else:
            value = next((v for v in part.group("dq", "sq", "bare") if v is not None), None)
            attrs.append((part.group("attr").lower(), part.group("op") or "", value))
    if position != len(rest):
        raise ValueError(f"unsupported selector {selector!r}")
    tag = match.group("tag")
    return _Selector(tag.lower() if tag else None, tuple(classes), tuple(attrs))


# Parsed once at import: a typo in the table fails loudly, not silently at capture time.
_COMPILED_EXTRACTORS: tuple[tuple[FieldExtractor, _Selector], ...] = tuple(
    (extractor, _parse_selector(extractor.selector)) for extractor in FIELD_EXTRACTORS
)


# --------------------------------------------------------------------------------------------
# A tiny DOM on the stdlib parser: enough for visible text and simple selectors.
# --------------------------------------------------------------------------------------------

_VOID_TAGS = frozenset(
    "area base br col embed hr img input link meta param source track wbr".split()
)
# Elements that close an open element of the same name when they start (<p>, <li> ...).
_SELF_CLOSING_SIBLINGS = frozenset({"p", "li", "option", "dt", "dd", "tr", "td", "th"})
_INVISIBLE_TAGS = frozenset(
    "head title script style noscript template svg math iframe object canvas select "
    "datalist".split()
)
_BLOCK_TAGS = frozenset(
    "address article aside blockquote body caption dd details dialog div dl dt fieldset "
    "figcaption figure footer form h1 h2 h3 h4 h5 h6 header hr html li main nav ol p pre "
    "section summary table tbody thead tfoot tr ul".split()
)
_HIDDEN_STYLE_RE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)


@dataclass
class _Node:
    tag: str
    attrs: dict[str, str]
    children: list[_Node | str] = field(default_factory=list)

    def is_hidden(self) -> bool:
        if self.tag in _INVISIBLE_TAGS or "hidden" in self.attrs:
            return True
        return bool(_HIDDEN_STYLE_RE.search(self.attrs.get("style", "")))

    def iter(self) -> Iterator[_Node]:
        """Elements in document order, this one first."""
        stack: list[_Node] = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed([c for c in node.children if isinstance(c, _Node)]))


class _TreeBuilder(HTMLParser):
    """Forgiving tree building: real-world HTML is rarely well formed."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Node("#document", {})
        self._stack: list[_Node] = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SELF_CLOSING_SIBLINGS and self._stack[-1].tag == tag:
            self._stack.pop()
        node = _Node(tag, {name: value or "" for name, value in attrs})
        self._stack[-1].children.append(node)
        if tag not in _VOID_TAGS:
            self._stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = _Node(tag, {name: value or "" for name, value in attrs})
        self._stack[-1].children.append(node)

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self._stack) - 1, 0, -1):
            if self._stack[depth].tag == tag:
                del self._stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self._stack[-1].children.append(data)


def _parse_html(html: str) -> _Node:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


def _node_text(node: _Node) -> str:
    """Visible text of a subtree, one line per block, approximating ``innerText``."""
    pieces: list[str] = []

    def walk(current: _Node) -> None:
        if current.is_hidden():
            return
        block = current.tag in _BLOCK_TAGS
        if block:
            pieces.append("\n")
        for child in current.children:
            if isinstance(child, str):
                pieces.append(child)
            elif child.tag == "br":
                pieces.append("\n")
            elif child.tag in {"td", "th"}:
                pieces.append(" ")
                walk(child)
            else:
                walk(child)
        if block:
            pieces.append("\n")

    walk(node)
    lines = (re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in "".join(pieces).split("\n"))
    return "\n".join(line for line in lines if line)


def html_to_text(html: str) -> str:
    """Visible text of an HTML document without a browser (scripts, styles, hidden parts out)."""
    return _node_text(_parse_html(html))


def _document_title(root: _Node) -> str | None:
    for node in root.iter():
        if node.tag == "title":
            text = " ".join("".join(c for c in node.children if isinstance(c, str)).split()).strip()
            return text or None
    return None


def _matches(node: _Node, selector: _Selector) -> bool:
    if selector.tag is not None and node.tag != selector.tag:
        return False
    if selector.classes:
        classes = set(node.attrs.get("class", "").split())
        if not all(cls in classes for cls in selector.classes):
            return False
    for name, op, expected in selector.attrs:
        if name not in node.attrs:
            return False
        if expected is None:
            continue
        actual = node.attrs[name].strip().lower()
        wanted = expected.lower()
        if op == "=" and actual != wanted:
            return False
        if op == "~=" and wanted not in actual.split():
            return False
        if op == "^=" and not actual.startswith(wanted):
            return False
    return True


def _clean_field(name: str, value: str) -> str:
    value = " ".join(value.split())
    if name == "phone" and value.lower().startswith("tel:"):
        value = value[4:].strip()
    return value[:_FIELD_MAX_CHARS]


def _extract_from_tree(root: _Node) -> dict[str, str]:
    found: dict[str, str] = {}
    nodes = [node for node in root.iter() if node is not root]
    for extractor, selector in _COMPILED_EXTRACTORS:
        if extractor.field in found:
            continue
        for node in nodes:
            if not _matches(node, selector):
                continue
            for source in extractor.sources:
                raw = node.attrs.get(source[1:], "") if source.startswith("@") else _node_text(node)
                value = _clean_field(extractor.field, raw)
                if value:
                    found[extractor.field] = value
                    break
            if extractor.field in found:
                break
    return found


def extract_fields(html: str, *, visible_text: str | None = None) -> dict[str, str]:
    """Searchable fields of a post, ad or message page by :data:`FIELD_EXTRACTORS`.

    ``title`` falls back to the document ``<title>``; ``visible_text`` is the given text or the
    HTML's own visible text. Fields without a value are absent rather than empty, so a later
    search index does not store blanks.
    """
    root = _parse_html(html)
    fields = _extract_from_tree(root)
    if "title" not in fields:
        doc_title = _document_title(root)
        if doc_title:
            fields["title"] = _clean_field("title", doc_title)
    text = visible_text if visible_text is not None else _node_text(root)
    if text.strip():
        fields["visible_text"] = text.strip()
    return fields


# --------------------------------------------------------------------------------------------
# HTTP fetch
# --------------------------------------------------------------------------------------------


@dataclass
class _Hop:
    """One request of the redirect chain and, when one came back, its response."""

    url: str
    started_at: datetime
    request: httpx.Request
    resolved_ips: list[str] = field(default_factory=list)
    connected_ip: str | None = None
    http_version: str = "HTTP/1.1"
    status: int | None = None
    reason: str = ""
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""  # as received on the wire after transfer decoding: still content-encoded
    truncated: str | None = None  # WARC-Truncated reason: length, time, disconnect
    redirected: bool = False  # answered with a redirect that we followed
    tls: dict[str, str] = field(default_factory=dict)
    note: str | None = None  # extra line for the metadata record


@dataclass
class _Fetch:
    hops: list[_Hop]
    error: str | None
    redirects: list[str]


class _FetchFailed(Exception):
    """Internal: ends the redirect loop with a human-readable reason."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _warc_date(moment: datetime) -> str:
    return cast(str, datetime_to_iso_date(moment.astimezone(UTC).replace(tzinfo=None), True))


# "name:" that is not "host:port" ("mailto:", "javascript:", "ftp://"; not "example.kz:8080/").
_SCHEME_RE = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):(?!\d+(?:[/?#]|$))")


def _check_url(url: object) -> httpx.URL:
    """The URL as httpx will use it, or :class:`InvalidInput` on field ``url``."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidInput.single("url", "required", "give the address of the page to capture")
    text = url.strip()
    if any(ch.isspace() or ord(ch) < 32 for ch in text):
        raise InvalidInput.single("url", "format", "the address must not contain spaces")
    scheme_match = _SCHEME_RE.match(text)
    if scheme_match is None:
        raise InvalidInput.single(
            "url",
            "scheme",
            f"{text!r} has no scheme; write the full address, e.g. https://{text}",
            ("http", "https"),
        )
    scheme = scheme_match.group(1)
    if scheme.lower() not in {"http", "https"}:
        raise InvalidInput.single(
            "url",
            "scheme",
            f"only web pages can be captured (http or https), not {scheme!r}",
            ("http", "https"),
        )
    try:
        parsed = httpx.URL(text)
    except (httpx.InvalidURL, ValueError) as exc:
        raise InvalidInput.single("url", "format", f"not a valid address: {exc}") from exc
    if not parsed.host:
        raise InvalidInput.single("url", "host", "the address has no host name")
    return parsed


def _resolve(host: str, port: int, timeout: float) -> list[str]:
    """Addresses for ``host`` from the system resolver, bounded by ``timeout``.

    getaddrinfo has no timeout of its own, so it runs in a daemon thread we stop waiting for.
    """
    outcome: list[list[str] | BaseException] = []

    def work() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            outcome.append(list(dict.fromkeys(str(info[4][0]) for info in infos)))
        except (OSError, UnicodeError) as exc:
            outcome.append(exc)

    worker = threading.Thread(target=work, name="qorgau-capture-dns", daemon=True)
    worker.start()
    worker.join(max(timeout, 0.1))
    if not outcome:
        raise _FetchFailed(f"DNS resolution of {host} timed out after {timeout:g} s")
    result = outcome[0]
    if isinstance(result, BaseException):
        reason = result.strerror if isinstance(result, OSError) and result.strerror else result
        raise _FetchFailed(f"DNS resolution failed for {host}: {reason}")
    if not result:
        raise _FetchFailed(f"DNS resolution failed for {host}: no addresses")
    return result


def _describe_error(exc: BaseException, hop: _Hop, timeout: float) -> str:
    """One line an analyst can act on: what failed, against which host."""
    where = f"{hop.request.url.host}:{hop.request.url.port or _default_port(hop.request.url)}"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out after {timeout:g} s talking to {where} ({type(exc).__name__})"
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    if any(isinstance(e, ssl.SSLError) for e in chain) or "SSL" in str(exc):
        return f"TLS error with {where}: {exc}"
    message = str(exc) or type(exc).__name__
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "refused" in message.lower():
        return f"connection refused by {where} ({message})"
    if isinstance(exc, httpx.ConnectError):
        return f"could not connect to {where}: {message}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"{where} broke the HTTP protocol: {message}"
    return f"{type(exc).__name__} from {where}: {message}"


def _default_port(url: httpx.URL) -> int:
    return 443 if url.scheme == "https" else 80


def _tls_details(stream: Any) -> dict[str, str]:
    """TLS version, cipher and certificate hash: who the server claimed to be."""
    details: dict[str, str] = {}
    try:
        ssl_object = stream.get_extra_info("ssl_object")
    except Exception:  # optional detail, never worth failing a capture
        return details
    if ssl_object is None:
        return details
    try:
        version = ssl_object.version()
        cipher = ssl_object.cipher()
        der = ssl_object.getpeercert(True)
    except Exception:
        return details
    if version:
        details["tls-version"] = str(version)
    if cipher:
        details["tls-cipher"] = str(cipher[0])
    if der:
        details["tls-certificate-sha256"] = hashlib.sha256(der).hexdigest()
    return details


def _read_response(
    response: httpx.Response, hop: _Hop, *, max_body_bytes: int, deadline: float, timeout: float
) -> str | None:
    """Fill ``hop`` from a streamed response; return an error text or None."""
    hop.http_version = response.http_version or "HTTP/1.1"
    hop.status = response.status_code
    reason = response.extensions.get("reason_phrase", b"")
    hop.reason = reason.decode("latin-1") if isinstance(reason, bytes) else str(reason)
    hop.response_headers = [
        (name.decode("latin-1"), value.decode("latin-1")) for name, value in response.headers.raw
    ]
    stream = response.extensions.get("network_stream")
    if stream is not None:
        try:
            address = stream.get_extra_info("server_addr")
        except Exception:  # fall back to the resolver's answer below
            address = None
        if address:
            hop.connected_ip = str(address[0])
        hop.tls = _tls_details(stream)
    if hop.connected_ip is None and hop.resolved_ips:
        hop.connected_ip = hop.resolved_ips[0]
        hop.note = "connected address not exposed by the HTTP client; first resolved address"

    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_body_bytes:
        hop.truncated = "length"
        return (
            f"response body too large: {int(declared)} bytes announced, "
            f"the limit is {max_body_bytes} bytes"
        )
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_raw():
            if size + len(chunk) > max_body_bytes:
                chunks.append(chunk[: max_body_bytes - size])
                hop.truncated = "length"
                return f"response body too large: more than {max_body_bytes} bytes"
            chunks.append(chunk)
            size += len(chunk)
            if time.monotonic() > deadline:
                hop.truncated = "time"
                return f"timed out after {timeout:g} s while reading the body of {hop.url}"
    except httpx.TimeoutException as exc:
        hop.truncated = "time"
        return _describe_error(exc, hop, timeout)
    except httpx.HTTPError as exc:
        hop.truncated = "disconnect"
        return _describe_error(exc, hop, timeout)
    finally:
        hop.body = b"".join(chunks)
    return None


def _fetch(url: httpx.URL, *, timeout: float, max_body_bytes: int, user_agent: str) -> _Fetch:
    """GET ``url`` following redirects by hand, so every hop keeps its own request, response
    and connected address for the WARC (httpx's own redirect following hides all of that)."""
    deadline = time.monotonic() + timeout
    hops: list[_Hop] = []
    redirects: list[str] = []
    headers = {
        "User-Agent": user_agent,
        "Accept": DEFAULT_ACCEPT,
        "Accept-Language": DEFAULT_ACCEPT_LANGUAGE,
    }
    # trust_env=False: no silent proxy from the environment, so the recorded address is the
    # server's own and the capture is reproducible.
    with httpx.Client(
        headers=headers, follow_redirects=False, trust_env=False, timeout=timeout
    ) as client:
        current = url
        while True:
            remaining = deadline - time.monotonic()
            request = client.build_request(
                "GET", current, timeout=httpx.Timeout(max(remaining, 0.05))
            )
            hop = _Hop(url=str(current), started_at=_utcnow(), request=request)
            hops.append(hop)
            try:
                if remaining <= 0:
                    raise _FetchFailed(f"timed out after {timeout:g} s following redirects")
                port = current.port or _default_port(current)
                # raw_host: the IDNA (punycode) form the resolver needs for Cyrillic domains.
                host = current.raw_host.decode("ascii")
                hop.resolved_ips = _resolve(host, port, remaining)
                try:
                    response = client.send(request, stream=True)
                except httpx.HTTPError as exc:
                    raise _FetchFailed(_describe_error(exc, hop, timeout)) from exc
                try:
                    error = _read_response(
                        response,
                        hop,
                        max_body_bytes=max_body_bytes,
                        deadline=deadline,
                        timeout=timeout,
                    )
                finally:
                    response.close()
                if error:
                    raise _FetchFailed(error)
                if not response.has_redirect_location:
                    return _Fetch(hops, None, redirects)
                hop.redirected = True
                redirects.append(hop.url)
                current = _redirect_target(response)
                if len(redirects) > MAX_REDIRECTS:
                    raise _FetchFailed(f"too many redirects (more than {MAX_REDIRECTS})")
            except _FetchFailed as failure:
                return _Fetch(hops, str(failure), redirects)


def _redirect_target(response: httpx.Response) -> httpx.URL:
    location = response.headers["location"]
    try:
        target = response.url.join(location)
    except (httpx.InvalidURL, ValueError) as exc:
        raise _FetchFailed(f"redirect to an invalid address {location!r}: {exc}") from exc
    if target.scheme not in {"http", "https"} or not target.host:
        raise _FetchFailed(f"redirect to an address that is not a web page: {location!r}")
    return target.copy_with(fragment=None)


def _decoded_body(hop: _Hop) -> bytes:
    """The body with its Content-Encoding (gzip, br, deflate) undone, for text and rendering."""
    if hop.status is None:
        return b""
    try:
        return httpx.Response(hop.status, headers=hop.response_headers, content=hop.body).read()
    except httpx.DecodingError:
        return b""


def _header(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in headers if key.lower() == wanted), None)


def _media_type(hop: _Hop) -> str:
    content_type = _header(hop.response_headers, "content-type") or ""
    return content_type.split(";", 1)[0].strip().lower()


_META_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


def _decode_text(body: bytes, content_type: str | None) -> str:
    """Header charset, then ``<meta charset>``, then UTF-8 (many .kz sites still use cp1251)."""
    candidates: list[str] = []
    if content_type:
        match = re.search(r"charset\s*=\s*[\"']?([\w.:-]+)", content_type, re.I)
        if match:
            candidates.append(match.group(1))
    meta = _META_CHARSET_RE.search(body[:4096])
    if meta:
        candidates.append(meta.group(1).decode("ascii", "replace"))
    candidates.append("utf-8")
    for encoding in candidates:
        try:
            return body.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            continue
    return body.decode("utf-8", "replace")


def _headers_dict(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    result: dict[str, str] = {}
    index: dict[str, str] = {}
    for name, value in pairs:
        key = index.setdefault(name.lower(), name)
        result[key] = f"{result[key]}, {value}" if key in result else value
    return result


def _request_pairs(request: httpx.Request) -> list[tuple[str, str]]:
    return [
        (name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers.raw
    ]


# --------------------------------------------------------------------------------------------
# Browser rendering
# --------------------------------------------------------------------------------------------


@dataclass
class _Render:
    screenshot_png: bytes | None = None
    screenshot_at: datetime | None = None
    text: str | None = None
    title: str | None = None
    dom_html: str | None = None
    rendered_url: str | None = None
    resources: list[_Hop] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


_T = TypeVar("_T")


def _outside_event_loop(work: Callable[[], _T]) -> _T:
    """Run ``work`` here, or in a helper thread when this thread runs an asyncio loop
    (Playwright's sync API refuses to start inside one)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return work()
    box: list[_T] = []
    failure: list[BaseException] = []

    def runner() -> None:
        try:
            box.append(work())
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=runner, name="qorgau-capture-browser")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return box[0]


_NOT_REPLAYED_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})
# Browser request headers our client sets itself (framing, connection, encodings it decodes).
_NOT_FORWARDED_HEADERS = frozenset(
    {"host", "content-length", "connection", "keep-alive", "accept-encoding", "te", "upgrade"}
)


def _replay_headers(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {
        name: value
        for name, value in _headers_dict(pairs).items()
        if name.lower() not in _NOT_REPLAYED_HEADERS
    }


class _Subresources:
    """Answers the browser's sub-resource requests through our HTTP client, recording each.

    Runs inside Playwright's sync dispatcher, so requests are fetched one after another;
    the bounds (count, total raw bytes, the rendering deadline) keep that finite. A URL
    requested twice is answered from memory, not fetched twice.
    """

    def __init__(
        self,
        client: httpx.Client,
        *,
        max_resources: int,
        max_bytes: int,
        max_body_bytes: int,
        deadline: float,
        timeout: float,
    ) -> None:
        self.client = client
        self.max_resources = max_resources
        self.max_bytes = max_bytes
        self.max_body_bytes = max_body_bytes
        self.deadline = deadline
        self.timeout = timeout
        self.hops: list[_Hop] = []
        self.total_bytes = 0
        self.bytes_exhausted = max_bytes <= 0
        self.over_count = 0  # blocked: the count bound was reached
        self.over_bytes = 0  # blocked or truncated: the byte bound was reached
        self.over_time = 0  # blocked: the rendering deadline had passed
        self.other_methods = 0  # blocked: not GET/HEAD
        self._answers: dict[str, tuple[int, dict[str, str], bytes]] = {}

    def handle(self, route: Route) -> None:
        request = route.request
        url = request.url
        if not url.lower().startswith(("http://", "https://")):
            route.continue_()  # data:, blob: ...: nothing goes over the network to record
            return
        method = request.method.upper()
        if method not in {"GET", "HEAD"}:
            self.other_methods += 1
            route.abort("blockedbyclient")
            return
        cached = self._answers.get(f"{method} {url}")
        if cached is not None:
            status, headers, body = cached
            route.fulfill(status=status, headers=headers, body=body)
            return
        reason = self._refusal()
        if reason is not None:
            route.abort("blockedbyclient")
            return
        hop = self._fetch(method, url, request.headers)
        if hop is None or hop.status is None or hop.truncated:
            route.abort("failed")
            return
        body = _decoded_body(hop) if method == "GET" else b""
        headers = _replay_headers(hop.response_headers)
        self._answers[f"{method} {url}"] = (hop.status, headers, body)
        route.fulfill(status=hop.status, headers=headers, body=body)

    def _refusal(self) -> str | None:
        if len(self.hops) >= self.max_resources:
            self.over_count += 1
            return "count"
        if self.bytes_exhausted:
            self.over_bytes += 1
            return "bytes"
        if time.monotonic() >= self.deadline:
            self.over_time += 1
            return "time"
        return None

    def _fetch(self, method: str, url: str, browser_headers: dict[str, str]) -> _Hop | None:
        headers = [
            (name, value)
            for name, value in browser_headers.items()
            if name.lower() not in _NOT_FORWARDED_HEADERS
        ]
        remaining = self.deadline - time.monotonic()
        try:
            request = self.client.build_request(
                method, url, headers=headers, timeout=httpx.Timeout(max(remaining, 0.05))
            )
        except (httpx.InvalidURL, ValueError):
            return None
        hop = _Hop(url=str(request.url), started_at=_utcnow(), request=request)
        self.hops.append(hop)
        limit = min(self.max_body_bytes, self.max_bytes - self.total_bytes)
        try:
            response = self.client.send(request, stream=True)
        except httpx.HTTPError as exc:
            hop.note = f"no response: {_describe_error(exc, hop, self.timeout)}"
            return hop
        try:
            error = _read_response(
                response, hop, max_body_bytes=limit, deadline=self.deadline, timeout=self.timeout
            )
        finally:
            response.close()
        self.total_bytes += len(hop.body)
        if error:
            hop.note = error
            if hop.truncated == "length" and limit < self.max_body_bytes:
                # Cut by the budget, not by its own size: nothing more fits.
                self.over_bytes += 1
                self.bytes_exhausted = True
        if self.total_bytes >= self.max_bytes:
            self.bytes_exhausted = True
        return hop

    def warnings(self) -> list[str]:
        found: list[str] = []
        if self.over_count:
            found.append(
                f"sub-resource limit reached: {self.max_resources} resources archived, "
                f"{self.over_count} further requests blocked and not archived"
            )
        if self.over_bytes:
            found.append(
                f"sub-resource size limit reached ({self.max_bytes} bytes in all): "
                f"{self.over_bytes} resources truncated or blocked and not archived"
            )
        if self.over_time:
            found.append(
                f"{self.over_time} sub-resource requests came after the {self.timeout:g} s "
                "rendering time and were blocked"
            )
        if self.other_methods:
            found.append(
                f"{self.other_methods} requests other than GET/HEAD (form posts, beacons) were "
                "blocked: the capture sends no data to the site"
            )
        failed = sum(1 for hop in self.hops if hop.note and hop.status is None)
        if failed:
            found.append(f"{failed} sub-resources could not be fetched (see the WARC metadata)")
        return found


def _render(
    final: _Hop,
    decoded: bytes,
    *,
    browser_path: str,
    timeout: float,
    user_agent: str,
    limits: _ResourceLimits,
) -> _Render:
    """Screenshot, text, title and DOM of the archived document in headless Chromium."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
    from playwright.sync_api import sync_playwright

    result = _Render()
    deadline = time.monotonic() + timeout

    def left_ms(cap: float | None = None) -> float:
        seconds = max(deadline - time.monotonic(), 0.5)
        return 1000 * (min(seconds, cap) if cap is not None else seconds)

    replay_headers = _replay_headers(final.response_headers)
    served = threading.Event()

    with (
        tempfile.TemporaryDirectory(
            prefix="qorgau-chromium-", ignore_cleanup_errors=True
        ) as profile,
        # Same policy as the document fetch: no proxy from the environment, no redirects
        # followed behind the browser's back (it follows them, each hop is recorded).
        httpx.Client(follow_redirects=False, trust_env=False, timeout=timeout) as client,
        sync_playwright() as playwright,
    ):
        resources = _Subresources(
            client,
            max_resources=limits.count,
            max_bytes=limits.total_bytes,
            max_body_bytes=limits.body_bytes,
            deadline=deadline,
            timeout=timeout,
        )
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=browser_path,
            headless=True,
            args=list(CHROMIUM_ARGS),
            viewport={"width": VIEWPORT["width"], "height": VIEWPORT["height"]},
            user_agent=user_agent,
            locale="ru-RU",
            service_workers="block",
            accept_downloads=False,
            timeout=left_ms(),
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()

            def route(route: Route) -> None:
                request = route.request
                if (
                    not served.is_set()
                    and request.is_navigation_request()
                    and request.frame == page.main_frame
                ):
                    served.set()
                    route.fulfill(status=final.status or 200, headers=replay_headers, body=decoded)
                else:
                    resources.handle(route)

            page.route("**/*", route)
            try:
                page.goto(final.url, wait_until="load", timeout=left_ms())
            except PlaywrightTimeoutError:
                result.warnings.append(
                    f"the page did not finish loading within {timeout:g} s; "
                    "the screenshot shows what had rendered"
                )
            # Pages that poll never go idle; what has rendered by then is what we keep.
            with contextlib.suppress(PlaywrightTimeoutError):
                page.wait_for_load_state("networkidle", timeout=left_ms(NETWORK_IDLE_CAP))
            result.screenshot_png = page.screenshot(
                full_page=True, type="png", timeout=max(left_ms(), 5000)
            )
            result.screenshot_at = _utcnow()
            text = page.evaluate("() => document.body ? document.body.innerText : ''")
            result.text = text if isinstance(text, str) else ""
            result.title = page.title() or None
            result.dom_html = page.content()
            result.rendered_url = page.url
        except PlaywrightError as exc:
            result.warnings.append(f"browser rendering failed: {_first_line(str(exc))}")
        finally:
            context.close()
        result.resources = resources.hops
        result.warnings.extend(resources.warnings())
    return result


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "unknown error"


@dataclass(frozen=True)
class _ResourceLimits:
    count: int
    total_bytes: int
    body_bytes: int


def _render_safely(
    final: _Hop,
    decoded: bytes,
    *,
    browser_path: str,
    timeout: float,
    user_agent: str,
    limits: _ResourceLimits,
) -> _Render:
    """Rendering is best effort: the WARC is the evidence, a missing browser only costs the
    screenshot and the rendered text (a warning says so)."""
    if not os.path.isfile(browser_path) or not os.access(browser_path, os.X_OK):
        return _Render(
            warnings=[
                f"Chromium not found at {browser_path}: no screenshot; "
                "text extracted from the archived HTML"
            ]
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return _Render(warnings=["Playwright is not installed: no screenshot"])
    try:
        return _outside_event_loop(
            lambda: _render(
                final,
                decoded,
                browser_path=browser_path,
                timeout=timeout,
                user_agent=user_agent,
                limits=limits,
            )
        )
    except Exception as exc:  # launch failures, driver crashes: keep the WARC
        return _Render(warnings=[f"browser could not run: {_first_line(str(exc))}"])


# --------------------------------------------------------------------------------------------
# WARC and WACZ
# --------------------------------------------------------------------------------------------


def _software() -> str:
    return (
        f"Qorgau {__version__} (warcio {_package_version('warcio')}, "
        f"httpx {httpx.__version__}, playwright {_package_version('playwright')})"
    )


def _package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _one_line(value: str) -> str:
    return " ".join(value.split())


@dataclass
class _WarcInput:
    capture_id: str
    filename: str
    url: str
    fetch: _Fetch
    render: _Render | None
    started_at: datetime
    finished_at: datetime
    user_agent: str
    warnings: list[str]
    title: str | None


def _build_warc(data: _WarcInput) -> bytes:
    """warcinfo, then per hop response + request, then screenshot resource and metadata."""
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True, warc_version=WARC_VERSION)
    info = {
        "software": _software(),
        "format": "WARC File Format 1.1",
        "conformsTo": (
            "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/"
        ),
        "description": CAPTURE_PURPOSE,
        "isPartOf": f"qorgau-capture-{data.capture_id}",
        "http-header-user-agent": data.user_agent,
        "robots": "ignore (evidence capture of a single reported page)",
    }
    warcinfo = writer.create_warcinfo_record(data.filename, info)
    warcinfo.rec_headers.replace_header("WARC-Date", _warc_date(data.started_at))
    writer.write_record(warcinfo)
    warcinfo_id = warcinfo.rec_headers.get_header("WARC-Record-ID")

    def write_exchange(hop: _Hop) -> str | None:
        """Response (when one came) and request records of one hop; the response's ID."""
        common = {"WARC-Date": _warc_date(hop.started_at), "WARC-Warcinfo-ID": warcinfo_id}
        if hop.connected_ip:
            common["WARC-IP-Address"] = hop.connected_ip
        response_id: str | None = None
        if hop.status is not None:
            response_headers = StatusAndHeaders(
                f"{hop.status} {hop.reason}".strip(),
                [
                    # The body is stored de-chunked (the HTTP client undoes the framing), so
                    # the header is kept under another name to keep replay tools correct.
                    ("X-Qorgau-Orig-Transfer-Encoding", value)
                    if name.lower() == "transfer-encoding"
                    else (name, value)
                    for name, value in hop.response_headers
                ],
                protocol=hop.http_version,
            )
            warc_headers = dict(common)
            if hop.truncated:
                warc_headers["WARC-Truncated"] = hop.truncated
            response = writer.create_warc_record(
                hop.url,
                "response",
                payload=io.BytesIO(hop.body),
                length=len(hop.body),
                http_headers=response_headers,
                warc_headers_dict=warc_headers,
            )
            writer.write_record(response)
            response_id = response.rec_headers.get_header("WARC-Record-ID")
        # httpx speaks HTTP/1.1 here (no HTTP/2), whatever version the server answers in.
        request_line = f"{hop.request.method} {hop.request.url.raw_path.decode('ascii')} HTTP/1.1"
        request_headers = StatusAndHeaders(
            request_line, _request_pairs(hop.request), is_http_request=True
        )
        request_warc = dict(common)
        if response_id:
            request_warc["WARC-Concurrent-To"] = response_id
        writer.write_record(
            writer.create_warc_record(
                hop.url,
                "request",
                payload=io.BytesIO(b""),
                length=0,
                http_headers=request_headers,
                warc_headers_dict=request_warc,
            )
        )
        return response_id

    final_response_id: str | None = None
    for hop in data.fetch.hops:
        final_response_id = write_exchange(hop) or final_response_id
    for resource in data.render.resources if data.render is not None else []:
        write_exchange(resource)

    final = data.fetch.hops[-1]
    screenshot_uri: str | None = None
    render = data.render
    if render is not None and render.screenshot_png:
        # Browsertrix's convention, so players that know it can show the screenshot.
        screenshot_uri = f"urn:screenshot:{final.url}"
        shot_headers = {
            "WARC-Date": _warc_date(render.screenshot_at or data.finished_at),
            "WARC-Warcinfo-ID": warcinfo_id,
        }
        if final_response_id:
            shot_headers["WARC-Refers-To"] = final_response_id
        writer.write_record(
            writer.create_warc_record(
                screenshot_uri,
                "resource",
                payload=io.BytesIO(render.screenshot_png),
                length=len(render.screenshot_png),
                warc_content_type="image/png",
                warc_headers_dict=shot_headers,
            )
        )

    body = _metadata_fields(data, screenshot_uri).encode("utf-8")
    meta_headers = {"WARC-Date": _warc_date(data.finished_at), "WARC-Warcinfo-ID": warcinfo_id}
    if final_response_id:
        meta_headers["WARC-Refers-To"] = final_response_id
    writer.write_record(
        writer.create_warc_record(
            data.url,
            "metadata",
            payload=io.BytesIO(body),
            length=len(body),
            warc_content_type="application/warc-fields",
            warc_headers_dict=meta_headers,
        )
    )
    return out.getvalue()


def _metadata_fields(data: _WarcInput, screenshot_uri: str | None) -> str:
    """The capture's own account (application/warc-fields: one ``name: value`` a line)."""
    fetch = data.fetch
    lines: list[tuple[str, str]] = [
        ("capture-id", data.capture_id),
        ("software", _software()),
        ("purpose", CAPTURE_PURPOSE),
        ("capture-started", _warc_date(data.started_at)),
        ("capture-finished", _warc_date(data.finished_at)),
        ("requested-url", data.url),
        ("final-url", fetch.hops[-1].url),
        ("outcome", "failed" if fetch.error else "ok"),
    ]
    if fetch.error:
        lines.append(("error", fetch.error))
    for index, hop in enumerate(fetch.hops, start=1):
        answer = f"HTTP {hop.status} {hop.reason}".strip() if hop.status else "no response"
        lines.append(("hop", f"{index} GET {hop.url} -> {answer}"))
        for address in hop.resolved_ips:
            lines.append(("resolved-ip", f"{hop.request.url.host} {address}"))
        if hop.connected_ip:
            lines.append(("connected-ip", f"{hop.request.url.host} {hop.connected_ip}"))
        for name, value in hop.tls.items():
            lines.append((name, value))
        if hop.status is not None:
            lines.append(("payload-sha256", f"{hop.url} {hashlib.sha256(hop.body).hexdigest()}"))
        if hop.truncated:
            lines.append(("truncated", f"{hop.url} {hop.truncated}"))
        if _header(hop.response_headers, "transfer-encoding"):
            lines.append(
                (
                    "note",
                    "Transfer-Encoding removed by the HTTP client; "
                    "kept as X-Qorgau-Orig-Transfer-Encoding",
                )
            )
        if hop.note:
            lines.append(("note", hop.note))
    for redirect in fetch.redirects:
        lines.append(("redirect", redirect))
    if data.title:
        lines.append(("title", data.title))
    render = data.render
    if render is not None and render.screenshot_png and screenshot_uri:
        lines.append(("screenshot", screenshot_uri))
        lines.append(("screenshot-sha256", hashlib.sha256(render.screenshot_png).hexdigest()))
        lines.append(("viewport", f"{VIEWPORT['width']}x{VIEWPORT['height']}"))
    if render is not None and render.rendered_url and render.rendered_url != fetch.hops[-1].url:
        lines.append(("rendered-url", render.rendered_url))
    for resource in render.resources if render is not None else []:
        lines.append(("subresource", _resource_line(resource)))
    for warning in data.warnings:
        lines.append(("warning", warning))
    return "".join(f"{name}: {_one_line(value)}\r\n" for name, value in lines)


def _resource_line(hop: _Hop) -> str:
    """``URL status=... bytes=... sha256=...`` (URLs hold no spaces: this splits safely)."""
    if hop.status is None:
        return f"{hop.url} status=none error={hop.note or 'no response'}"
    line = (
        f"{hop.url} status={hop.status} bytes={len(hop.body)} "
        f"sha256={hashlib.sha256(hop.body).hexdigest()}"
    )
    if hop.request.method != "GET":
        line += f" method={hop.request.method}"
    if hop.truncated:
        line += f" truncated={hop.truncated}"
    return line


def _build_wacz(
    warc: bytes, filename: str, page: dict[str, str], *, title: str, description: str
) -> tuple[bytes | None, list[str]]:
    """Package the WARC with py-wacz's own ``create`` command (offline; no signing).

    It runs as ``python -m wacz`` in a subprocess: py-wacz prints progress to stdout and holds
    module state, neither of which belongs in a server process. We pass our own page list so
    the WACZ carries the rendered title and text (players use it for search) instead of
    py-wacz's guesses.
    """
    with tempfile.TemporaryDirectory(prefix="qorgau-wacz-") as tmp:
        with open(os.path.join(tmp, filename), "wb") as handle:
            handle.write(warc)
        header = {"format": "json-pages-1.0", "id": "pages", "title": title}
        with open(os.path.join(tmp, "pages.jsonl"), "w", encoding="utf-8") as handle:
            handle.write(json.dumps(header, ensure_ascii=False) + "\n")
            handle.write(json.dumps(page, ensure_ascii=False) + "\n")
        command = [
            sys.executable,
            "-m",
            "wacz",
            "create",
            "--output",
            "capture.wacz",
            "--pages",
            "pages.jsonl",
            "--hash-type",
            "sha256",
            "--title",
            title,
            "--desc",
            description,
            filename,
        ]
        try:
            done = subprocess.run(  # fixed command, our own interpreter
                command, cwd=tmp, capture_output=True, text=True, timeout=120, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, [f"WACZ packaging failed: {exc}"]
        output = os.path.join(tmp, "capture.wacz")
        if done.returncode != 0 or not os.path.isfile(output):
            detail = _first_line(done.stderr or done.stdout)
            return None, [f"WACZ packaging failed (exit {done.returncode}): {detail}"]
        warnings = [
            f"WACZ: {_one_line(line)}"
            for line in done.stdout.splitlines()
            if "Invalid passed page" in line or "Warning" in line
        ]
        with open(output, "rb") as handle:
            wacz = handle.read()
    if not _wacz_complete(wacz):
        return None, [*warnings, "WACZ packaging produced an incomplete package; discarded"]
    return wacz, warnings


def _wacz_complete(wacz: bytes) -> bool:
    with zipfile.ZipFile(io.BytesIO(wacz)) as bundle:
        names = set(bundle.namelist())
    return (
        "datapackage.json" in names
        and "pages/pages.jsonl" in names
        and any(name.startswith("indexes/index.cdx") for name in names)
        and any(name.startswith("archive/") for name in names)
    )


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def capture(
    url: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    screenshot: bool = True,
    browser_path: str = DEFAULT_BROWSER_PATH,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    user_agent: str = DEFAULT_USER_AGENT,
    max_resources: int = DEFAULT_MAX_RESOURCES,
    max_resource_bytes: int = DEFAULT_MAX_RESOURCE_BYTES,
) -> CaptureResult:
    """Capture ``url`` as evidence; never raises for an unreachable page.

    ``timeout`` bounds the HTTP fetch (the whole redirect chain) and, separately, the browser
    rendering. ``screenshot=False`` skips the browser altogether: text and fields then come
    from the archived HTML, and no sub-resource is fetched. While rendering, at most
    ``max_resources`` sub-resources and ``max_resource_bytes`` raw bytes in all are fetched
    into the WARC (each also bounded by ``max_body_bytes``); 0 blocks them all. Blocking: from
    async code use ``asyncio.to_thread(capture, url)``.

    Raises :class:`InvalidInput` (field ``url``) only for an address that is not an
    http(s) URL with a host, and (field ``timeout``/``max_body_bytes``/``max_resources``/
    ``max_resource_bytes``) for out-of-range limits.
    """
    target = _check_url(url)
    if not timeout > 0:
        raise InvalidInput.single("timeout", "min", "the timeout must be a positive number")
    if max_body_bytes <= 0:
        raise InvalidInput.single("max_body_bytes", "min", "the size limit must be positive")
    if max_resources < 0:
        raise InvalidInput.single("max_resources", "min", "the resource limit must not be negative")
    if max_resource_bytes < 0:
        raise InvalidInput.single(
            "max_resource_bytes", "min", "the resource size limit must not be negative"
        )
    capture_id = uuid.uuid4().hex
    started_at = _utcnow()
    fetch = _fetch(target, timeout=timeout, max_body_bytes=max_body_bytes, user_agent=user_agent)
    final = fetch.hops[-1]
    warnings: list[str] = []
    if fetch.error is None and final.status is not None and final.status >= 400:
        warnings.append(f"the server answered HTTP {final.status} {final.reason}".strip())

    media_type = _media_type(final)
    content_type = _header(final.response_headers, "content-type")
    complete = fetch.error is None and final.status is not None
    decoded = _decoded_body(final) if complete else b""
    if complete and final.body and not decoded:
        warnings.append("the body could not be decoded (Content-Encoding); no text extracted")

    render: _Render | None = None
    html: str | None = None
    text = ""
    if complete and (media_type in HTML_TYPES or (not media_type and decoded)):
        html = _decode_text(decoded, content_type)
        if screenshot:
            render = _render_safely(
                final,
                decoded,
                browser_path=browser_path,
                timeout=timeout,
                user_agent=user_agent,
                limits=_ResourceLimits(max_resources, max_resource_bytes, max_body_bytes),
            )
            warnings.extend(render.warnings)
    elif complete and (media_type.startswith("text/") or media_type in TEXT_TYPES):
        text = _decode_text(decoded, content_type).strip()
    elif complete and screenshot and decoded:
        warnings.append(f"not a web page ({media_type}); no screenshot or text")

    title: str | None = None
    fields: dict[str, str] = {}
    if html is not None:
        if render is not None and render.dom_html is not None:
            text = (render.text or "").strip()
            fields = extract_fields(render.dom_html, visible_text=text)
            title = render.title or _document_title(_parse_html(render.dom_html))
        else:
            fields = extract_fields(html)
            text = fields.get("visible_text", "")
            title = _document_title(_parse_html(html))
    elif text:
        fields = {"visible_text": text}
    finished_at = _utcnow()

    filename = f"qorgau-{started_at:%Y%m%d%H%M%S}-{capture_id[:12]}.warc.gz"
    warc = _build_warc(
        _WarcInput(
            capture_id=capture_id,
            filename=filename,
            url=url.strip(),
            fetch=fetch,
            render=render,
            started_at=started_at,
            finished_at=finished_at,
            user_agent=user_agent,
            warnings=list(warnings),
            title=title,
        )
    )

    wacz: bytes | None = None
    if final.status is not None and not final.redirected:
        page = {"url": final.url, "title": title or fields.get("title") or final.url}
        if text:
            page["text"] = text
        wacz, wacz_warnings = _build_wacz(
            warc,
            filename,
            page,
            title=f"Qorgau capture of {final.url}",
            description=f"{CAPTURE_PURPOSE} Capture {capture_id}, {_warc_date(started_at)}.",
        )
        warnings.extend(wacz_warnings)
    else:
        warnings.append("no page was received, so no WACZ was built; the WARC records the attempt")

    resolved = list(dict.fromkeys(ip for hop in fetch.hops for ip in hop.resolved_ips))
    return CaptureResult(
        url=url.strip(),
        final_url=final.url,
        status=final.status,
        ok=fetch.error is None,
        error=fetch.error,
        started_at=started_at,
        finished_at=finished_at,
        request_headers=_headers_dict(_request_pairs(final.request)),
        response_headers=_headers_dict(final.response_headers),
        resolved_ips=resolved,
        warc=warc,
        wacz=wacz,
        screenshot_png=render.screenshot_png if render is not None else None,
        text=text,
        title=title,
        fields=fields,
        redirects=list(fetch.redirects),
        warnings=warnings,
        connected_ip=final.connected_ip,
        capture_id=capture_id,
        warc_filename=filename,
    )
