"""E-mail archives in mbox form, the one format every mail program can export.

Phishing and threats by mail are read as who wrote (``account``), to whom (To and Cc, as
``recipients``), what was said (subject and plain text; the HTML part turned into text when
there is no plain one) and where the links really lead: the targets of HTML links are added
to ``urls`` even when a plain part exists, because a phishing mail's plain text and its
buttons often disagree. Attachments are not stored, only the sha256 of each, so the same
malicious file sent to several newsrooms is recognised.

The key is the Message-ID (without angle brackets), or the sha256 of the headers when a
message has none. Problems name the line of the message's "From " separator."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime, tzinfo
from email.message import EmailMessage, MIMEPart
from email.parser import BytesParser
from email.policy import default
from email.utils import getaddresses
from pathlib import Path
from typing import Any

from bs4 import BeautifulSoup

from qorgau.detect.model import Observation
from qorgau.errors import InvalidInput
from qorgau.observe.importers._common import Meter, Progress, file_size, reason, sha256_hex
from qorgau.observe.normalize import LOCAL_TZ, normalise
from qorgau.observe.result import ImportProblem, ImportResult

_PARSER = BytesParser(policy=default)
_ENVELOPE_DATE = re.compile(rb"^From \S+\s+(.+?)\s*$")


def import_mbox(
    path: Path,
    source: str,
    *,
    default_tz: tzinfo = LOCAL_TZ,
    progress: Progress | None = None,
) -> ImportResult:
    meter = Meter(file_size(path), progress)
    result = ImportResult()
    for line, envelope, raw, end in _messages(path):
        try:
            result.observations.append(mail_observation(raw, envelope, source, default_tz))
        except InvalidInput as exc:
            result.problems.append(ImportProblem(path.name, line, reason(exc)))
        except (ValueError, TypeError, LookupError, IndexError) as exc:
            # The e-mail package raises these on headers broken beyond its repairs.
            result.problems.append(
                ImportProblem(path.name, line, f"the message cannot be parsed ({exc})")
            )
        meter.at(end)
    meter.finish()
    return result


def mail_observation(raw: bytes, envelope: bytes, source: str, default_tz: tzinfo) -> Observation:
    message = _PARSER.parsebytes(raw)
    if not isinstance(message, EmailMessage):  # pragma: no cover - the default policy's type
        raise InvalidInput.single("message", "format", "not an e-mail message")
    message_id = str(message.get("Message-ID") or "").strip().strip("<>").strip()
    key = message_id or sha256_hex(raw.split(b"\n\n", 1)[0])
    subject = str(message.get("Subject") or "").strip()
    body_part = message.get_body(preferencelist=("plain", "html"))
    body = ""
    if body_part is not None:
        content = _content(body_part)
        body = _html_text(content) if body_part.get_content_subtype() == "html" else content
    senders = _addresses(message, "From")
    attachments = list(_attachments(message, body_part))
    extra: dict[str, Any] = {"message_id": message_id} if message_id else {}
    if subject:
        extra["subject"] = subject
    if attachments:
        extra["attachments"] = attachments
    return normalise(
        source,
        key,
        "email",
        _sent_at(message, envelope),
        kind="email",
        account=senders[0] if senders else "",
        text="\n\n".join(p for p in (subject, body.strip()) if p),
        urls=_html_links(message),
        media_hashes=[a["sha256"] for a in attachments],
        recipients=_addresses(message, "To") + _addresses(message, "Cc"),
        extra=extra,
        default_tz=default_tz,
    )


def _messages(path: Path) -> Iterator[tuple[int, bytes, bytes, int]]:
    """(line of the "From " separator, that line, the message, bytes read so far).

    Read here rather than through ``mailbox.mbox`` to know each message's line, streaming so
    that a multi-gigabyte archive is never held in memory twice."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InvalidInput.single(
            "file", "readable", f"{path.name} cannot be read ({exc.strerror or exc})"
        ) from exc
    with handle:
        first = handle.readline()
        if not first.startswith(b"From "):
            raise InvalidInput.single(
                "file",
                "format",
                f'{path.name} is not an mbox archive (it must begin with a "From " line); '
                "export the mailbox in mbox format",
            )
        start_line, envelope, done = 1, first, len(first)
        lines: list[bytes] = []
        for number, line in enumerate(handle, 2):
            done += len(line)
            if line.startswith(b"From ") and (not lines or not lines[-1].strip()):
                yield start_line, envelope, _unescape(lines), done - len(line)
                start_line, envelope, lines = number, line, []
            else:
                lines.append(line)
        yield start_line, envelope, _unescape(lines), done


def _unescape(lines: list[bytes]) -> bytes:
    """mboxrd writers escape body lines starting "From " as ">From "; undo one level."""
    if lines and not lines[-1].strip():
        lines = lines[:-1]
    return b"".join(line[1:] if re.match(rb"^>+From ", line) else line for line in lines)


def _sent_at(message: EmailMessage, envelope: bytes) -> datetime:
    header = message.get("Date")
    when = getattr(header, "datetime", None)
    if isinstance(when, datetime):
        return when
    # The separator line carries the delivery time in asctime form, in UTC by convention.
    found = _ENVELOPE_DATE.match(envelope.strip())
    if found:
        try:
            stamp = found.group(1).decode("ascii", "replace")
            return datetime.strptime(" ".join(stamp.split()), "%a %b %d %H:%M:%S %Y").replace(
                tzinfo=UTC
            )
        except ValueError:
            pass
    raise InvalidInput.single("Date", "datetime", "the message has no readable Date header")


def _addresses(message: EmailMessage, header: str) -> list[str]:
    values = [str(v) for v in message.get_all(header) or []]
    return [addr.lower() for _, addr in getaddresses(values) if "@" in addr]


def _content(part: MIMEPart) -> str:
    try:
        content = part.get_content()
    except (LookupError, ValueError):
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return content if isinstance(content, str) else ""


def _html_text(html: str) -> str:
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup.find_all(["script", "style", "head"]):
        tag.decompose()
    lines = (" ".join(line.split()) for line in soup.get_text("\n").split("\n"))
    return "\n".join(line for line in lines if line)


def _html_links(message: EmailMessage) -> list[str]:
    links: list[str] = []
    for part in message.walk():
        if part.get_content_type() != "text/html" or part.is_attachment():
            continue
        soup = BeautifulSoup(_content(part), "html.parser")
        for anchor in soup.find_all("a", href=True):
            href = anchor.get("href")
            if isinstance(href, str) and href.strip().lower().startswith(("http:", "https:")):
                links.append(href.strip())
    return links


def _attachments(message: EmailMessage, body_part: MIMEPart | None) -> Iterator[dict[str, Any]]:
    for part in message.walk():
        if part is body_part or part.is_multipart():
            continue
        if not (
            part.is_attachment()
            or (part.get_filename() and part.get_content_maintype() not in ("text", "multipart"))
        ):
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        yield {
            "filename": part.get_filename() or "",
            "content_type": part.get_content_type(),
            "size": len(payload),
            "sha256": hashlib.sha256(payload).hexdigest(),
        }
