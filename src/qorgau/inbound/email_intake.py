"""Reports by e-mail: an SMTP endpoint Qorgau listens on, or a mailbox it reads.

The SMTP endpoint answers 250 only once the report and its attachments are committed, so a
sending server that hears anything else keeps the mail: 451 (try again later) when storing
failed, 5xx with a plain-language reason when the message can never become a report. That reply
travels back to the sender as a bounce, which is how an over-size attachment is reported back
without Qorgau sending any mail itself (reply mails are a later concern).

Both doors use the Message-ID as the message's identity, so a mail that arrives by SMTP and is
later imported from the mailbox too is still one incident.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import mailbox
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import parseaddr
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from qorgau.desk import CaseDesk
from qorgau.domain.identifiers import normalize_email
from qorgau.domain.model import ReporterContact, ReportFields
from qorgau.domain.taxonomy import Taxonomy
from qorgau.errors import ConfigurationError, InvalidInput, QorgauError
from qorgau.inbound.filing import (
    MAX_EXTERNAL_ID,
    FilingResult,
    InboundReport,
    MessageRejected,
    default_attack_type,
    file_inbound_report,
    fit_text,
    guess_language,
    platform_or_none,
)
from qorgau.store.attachments import DEFAULT_LIMITS, MB, AttachmentLimits, IncomingFile, screen
from qorgau.store.blobs import BlobStore
from qorgau.store.store import Store

log = logging.getLogger(__name__)

CHANNEL = "email"
FALLBACK_TITLE = "Report by e-mail"
_BLOCK_TAGS = frozenset(
    "address article blockquote br dd div dl dt footer h1 h2 h3 h4 h5 h6 header hr li "
    "ol p pre section table td th tr ul".split()
)
_SKIP_TAGS = frozenset({"script", "style", "head", "title"})


# -- parsing ---------------------------------------------------------------------------------


class _TextExtractor(HTMLParser):
    """HTML to readable text: block elements become line breaks and link targets are kept,
    because a phishing or smear link in a mail is part of the evidence."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._skip = 0
        self._href: str | None = None
        self._anchor: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.out.append("\n")
        if tag == "a":
            self._href = dict(attrs).get("href")
            self._anchor = []

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS and self._skip:
            self._skip -= 1
        elif tag in _BLOCK_TAGS:
            self.out.append("\n")
        if tag == "a" and self._href:
            text = "".join(self._anchor).strip()
            if self._href.startswith(("http:", "https:")) and self._href != text:
                self.out.append(f" <{self._href}>")
            self._href = None

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.out.append(data)
        if self._href is not None:
            self._anchor.append(data)


def html_to_text(html: str) -> str:
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.out).splitlines())
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip()


def _header(msg: Message, name: str) -> str:
    """A header as text, or "" — a broken header must not make the whole message unusable."""
    try:
        value = msg.get(name)
    except Exception:  # the email package raises assorted errors on malformed headers
        return ""
    return " ".join(str(value).split()) if value is not None else ""


def _sender(msg: Message) -> tuple[str | None, str | None]:
    """(display name, e-mail address) of the author; an unusable address is left out rather
    than refusing the report — the report matters more than the way back."""
    name: str | None = None
    address: str | None = None
    try:
        header = msg.get("from")
        addresses: tuple[Address, ...] = getattr(header, "addresses", ())
        if addresses:
            name, address = addresses[0].display_name or None, addresses[0].addr_spec or None
    except Exception:
        name, address = None, None
    if address is None:
        raw_name, raw_addr = parseaddr(_header(msg, "from"))
        name, address = name or raw_name or None, raw_addr or None
    if address:
        try:
            normalize_email(address, "reporter.email")
        except InvalidInput:
            address = None
    return name, address


def _text_of(part: Message) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
        text = content if isinstance(content, str) else ""
    except (LookupError, ValueError, AssertionError):  # unknown charset, broken encoding
        payload = part.get_payload(decode=True)
        text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    if part.get_content_subtype() == "html":
        return html_to_text(text)
    return text.replace("\r\n", "\n").strip()


def _message_bytes(inner: Message) -> bytes:
    try:
        return inner.as_bytes(policy=policy.default)
    except Exception:
        return inner.as_bytes(policy=policy.compat32)


def _collect(
    part: Message,
    body: Message | None,
    files: list[IncomingFile],
    texts: list[str],
    skip_text: bool,
) -> None:
    """Walk the MIME tree: every non-text part (and every named text part) becomes a file;
    stray text parts outside an alternative (mailers split a body around an inline image)
    are added to the description; forwarded mails are kept whole as .eml files."""
    if part is body:
        return
    ctype = part.get_content_type()
    if part.is_multipart() and ctype != "message/rfc822":
        alternative = ctype == "multipart/alternative"
        payload = part.get_payload()
        for sub in payload if isinstance(payload, list) else ():
            if isinstance(sub, Message):
                _collect(sub, body, files, texts, skip_text or alternative)
        return
    try:
        filename = part.get_filename()
    except Exception:
        filename = None
    if ctype == "message/rfc822":
        inner_list = part.get_payload()
        inner = inner_list[0] if isinstance(inner_list, list) and inner_list else None
        if isinstance(inner, Message):
            subject = _header(inner, "subject")
            name = filename or f"{(subject or 'forwarded message')[:80]}.eml"
            files.append(IncomingFile(name, "message/rfc822", _message_bytes(inner)))
        return
    disposition = part.get_content_disposition()
    if part.get_content_maintype() == "text" and not filename and disposition != "attachment":
        if not skip_text:
            text = _text_of(part)
            if text:
                texts.append(text)
        return
    data = part.get_payload(decode=True)
    files.append(IncomingFile(filename, ctype, data if isinstance(data, bytes) else b""))


def _external_id(msg: Message, raw: bytes) -> str:
    message_id = _header(msg, "message-id").strip()
    if message_id and len(message_id) <= MAX_EXTERNAL_ID:
        return message_id
    if message_id:  # absurdly long: still stable, and within the column
        return "sha256:" + hashlib.sha256(message_id.encode("utf-8", "replace")).hexdigest()
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def parse_email(raw: bytes, taxonomy: Taxonomy) -> InboundReport:
    """One RFC 5322 message as an anonymous report; raises ``MessageRejected`` for bytes
    that are not an e-mail or carry nothing to report."""
    if not raw.strip():
        raise MessageRejected("empty", "the message is empty")
    try:
        msg = BytesParser(policy=policy.default).parsebytes(raw)
    except Exception as exc:
        raise MessageRejected("malformed", "the message could not be read as an e-mail") from exc
    assert isinstance(msg, EmailMessage)
    if not msg.keys() or not (_header(msg, "from") or _header(msg, "subject")):
        raise MessageRejected(
            "malformed", "this is not an e-mail message: it has no From or Subject header"
        )
    try:
        body_part = msg.get_body(preferencelist=("plain", "html"))
    except Exception:
        body_part = None
    texts: list[str] = []
    if body_part is not None:
        text = _text_of(body_part)
        if text:
            texts.append(text)
    files: list[IncomingFile] = []
    try:
        _collect(msg, body_part, files, texts, skip_text=False)
    except Exception as exc:
        raise MessageRejected("malformed", "the message's attachments could not be read") from exc
    subject = _header(msg, "subject")
    body = "\n\n".join(texts)
    if not subject and not body and not files:
        raise MessageRejected("empty", "the message has no subject, no text and no attachments")
    title, description, extra = fit_text(subject, body, FALLBACK_TITLE)
    name, address = _sender(msg)
    fields = ReportFields(
        title=title,
        description=description,
        attack_types=(default_attack_type(taxonomy),),
        platform=platform_or_none(taxonomy, "email"),
        language=guess_language(f"{subject}\n{body}"),
        reporter=ReporterContact(name=name, email=address, preferred_channel="email"),
    )
    return InboundReport(CHANNEL, _external_id(msg, raw), fields, [*files, *extra])


# -- the SMTP endpoint -----------------------------------------------------------------------


def _reply(code: str, text: str) -> str:
    """One SMTP reply line: ASCII only (not every client negotiates SMTPUTF8), no line
    breaks a sender could use to forge further replies."""
    clean = " ".join(text.split()).encode("ascii", "replace").decode("ascii")
    return f"{code} {clean[:450]}"


class _PortFindingController(Controller):
    """aiosmtpd's controller, able to listen on port 0 (an ephemeral port) like a test or a
    container wants; it learns the real port before its self-check connection."""

    def _trigger_server(self) -> None:
        server: Any = self.server
        if self.port == 0 and server is not None:
            self.port = int(server.sockets[0].getsockname()[1])
        super()._trigger_server()  # type: ignore[no-untyped-call]


class _Handler:
    def __init__(self, intake: SmtpIntake) -> None:
        self.intake = intake

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if not self.intake.accepts(address):
            return _reply("550 5.1.1", "no such mailbox here; this server only takes reports")
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        raw = envelope.original_content
        if raw is None:
            content = envelope.content
            raw = content.encode("utf-8") if isinstance(content, str) else content or b""
        peer: Any = session.peer
        address = str(peer[0]) if isinstance(peer, tuple) and peer else None
        # Storing is blocking database and file work: keep it off the SMTP event loop so
        # other sessions carry on meanwhile.
        return await asyncio.to_thread(self.intake.receive, raw, address)


class SmtpIntake:
    """An SMTP endpoint that files every mail it accepts as a report.

    Run it behind the organisation's mail server (forward the report address to it) or
    expose it directly; ``domains`` limits the recipient domains it takes mail for.
    """

    def __init__(
        self,
        store: Store,
        desk: CaseDesk,
        host: str,
        port: int,
        *,
        domains: Collection[str] | None = None,
        limits: AttachmentLimits = DEFAULT_LIMITS,
        blobs: BlobStore | None = None,
    ) -> None:
        self.store = store
        self.desk = desk
        self.host = host
        self.port = port
        self.domains = {d.lower().lstrip("@") for d in domains} if domains else None
        self.limits = limits
        self.blobs = blobs or BlobStore.for_settings(store.settings)
        self._controller: _PortFindingController | None = None

    @property
    def data_size_limit(self) -> int:
        """Largest message accepted at all: the report's files after base64 (4/3 plus line
        ends) and room for the text. Advertised as SIZE, so servers refuse before sending."""
        return self.limits.max_report_bytes * 7 // 5 + MB

    def accepts(self, address: str) -> bool:
        if self.domains is None:
            return True
        return address.rpartition("@")[2].lower() in self.domains

    def start(self) -> None:
        if self._controller is not None:
            return
        controller = _PortFindingController(
            _Handler(self),
            hostname=self.host,
            port=self.port,
            data_size_limit=self.data_size_limit,
            enable_SMTPUTF8=True,
            decode_data=False,
            ident="Qorgau report intake",
        )
        controller.start()
        self.port = controller.port
        self._controller = controller
        log.info("SMTP report intake listening on %s:%s", self.host, self.port)

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def receive(self, raw: bytes, sender_address: str | None = None) -> str:
        """File one message and return the SMTP reply for it; never raises."""
        try:
            report = parse_email(raw, self.store.taxonomy)
        except MessageRejected as exc:
            return _reply("554 5.6.0", f"Not accepted: {exc}. Nothing was stored.")
        except ConfigurationError:
            log.exception("e-mail intake is misconfigured")
            return _reply("451 4.3.5", "Reports cannot be stored just now; please try later.")
        _, refused = screen(report.files, self.limits)
        if refused:
            reasons = "; ".join(r.message for r in refused)
            return _reply(
                "552 5.3.4",
                f"Not accepted: {reasons}. Nothing was stored; send smaller files, or links "
                "to them, in a new message.",
            )
        report = InboundReport(
            report.channel, report.external_id, report.fields, report.files, sender_address
        )
        try:
            result = file_inbound_report(
                self.store, self.desk, report, blobs=self.blobs, limits=self.limits
            )
        except InvalidInput as exc:
            return _reply("554 5.6.0", f"Not accepted as a report: {exc}. Nothing was stored.")
        except QorgauError as exc:
            log.warning("e-mail report refused: %s", exc)
            return _reply("451 4.3.0", "The report could not be stored just now; please retry.")
        except Exception:
            log.exception("storing an e-mail report failed")
            return _reply("451 4.3.0", "The report could not be stored just now; please retry.")
        if result.replayed:
            return _reply("250 2.0.0", f"Already received as {result.public_id}; thank you.")
        if result.refused:
            reasons = "; ".join(r.message for r in result.refused)
            return _reply(
                "250 2.0.0",
                f"Report received as {result.public_id}; thank you. Not kept: {reasons}.",
            )
        return _reply("250 2.0.0", f"Report received as {result.public_id}; thank you.")


# -- a mailbox the system reads --------------------------------------------------------------


@dataclass
class MailboxImport:
    """What one pass over a mailbox did; ``rejected`` lists (message, reason) so that an
    operator sees every message that did not become a report."""

    filed: list[FilingResult] = field(default_factory=list)
    replayed: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)


def _open_mailbox(path: Path) -> mailbox.Mailbox[Any]:
    if path.is_dir() and any((path / d).is_dir() for d in ("cur", "new")):
        return mailbox.Maildir(path, factory=None, create=False)
    if path.is_file():
        return mailbox.mbox(path, factory=None, create=False)
    raise InvalidInput.single(
        "path", "mailbox", f"{path} is neither a Maildir folder (with cur/ and new/) nor an mbox"
    )


def _messages(box: mailbox.Mailbox[Any]) -> Iterator[tuple[str, bytes | None]]:
    for key in box.iterkeys():
        try:
            yield str(key), box.get_bytes(key)
        except KeyError:  # moved or deleted by a mail client while we read
            yield str(key), None


def import_mailbox(
    store: Store,
    desk: CaseDesk,
    path: Path,
    *,
    limits: AttachmentLimits = DEFAULT_LIMITS,
    blobs: BlobStore | None = None,
) -> MailboxImport:
    """File every message of a Maildir or mbox, leaving the mailbox untouched (a mail client
    may share it). Run it as often as you like: messages already filed are recognised by
    their Message-ID. Files over the limits are not kept, and the report says so."""
    blobs = blobs or BlobStore.for_settings(store.settings)
    outcome = MailboxImport()
    box = _open_mailbox(path)
    try:
        for key, raw in _messages(box):
            if raw is None:
                outcome.rejected.append((key, "the message disappeared while reading"))
                continue
            try:
                report = parse_email(raw, store.taxonomy)
                result = file_inbound_report(store, desk, report, blobs=blobs, limits=limits)
            except (MessageRejected, InvalidInput) as exc:
                outcome.rejected.append((key, str(exc)))
                continue
            if result.replayed:
                outcome.replayed += 1
            else:
                outcome.filed.append(result)
    finally:
        box.close()
    return outcome
