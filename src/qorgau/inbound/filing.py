"""Turning a message that arrived by e-mail or Telegram into an incident, exactly once.

Mail servers retry a delivery they did not see acknowledged, Telegram re-sends updates that were
not confirmed, and an organisation may import the same mailbox twice; so every inbound message
is recorded in ``inbound_messages`` under (channel, external id) in the *same* transaction as its
incident and attachments. A second delivery finds the row and gets the first incident's
reference and receipt back; a concurrent one loses on the unique constraint and does the same.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from qorgau.desk import CaseDesk
from qorgau.domain.model import ReportFields
from qorgau.domain.taxonomy import Taxonomy
from qorgau.errors import ConfigurationError, QorgauError
from qorgau.security.archive_check import check_archive
from qorgau.store import audit, vault
from qorgau.store.attachments import (
    DEFAULT_LIMITS,
    AttachmentLimits,
    BlobRef,
    IncomingFile,
    RefusedFile,
    add_attachments,
    describe,
    screen,
    store_blobs,
)
from qorgau.store.blobs import BlobStore
from qorgau.store.intake import IntakeJob, store_report
from qorgau.store.store import Store
from qorgau.store.tables import attachments, inbound_messages, incidents

log = logging.getLogger(__name__)

MAX_TITLE = 200
# The web form's limit: a longer message is kept whole as an attached text file.
MAX_DESCRIPTION = 20_000
MAX_EXTERNAL_ID = 200
FULL_TEXT_NAME = "message-text.txt"

KAZAKH_LETTERS = frozenset("әғқңөұүһіӘҒҚҢӨҰҮҺІ")
DEFAULT_ATTACK_TYPE = "other"


class MessageRejected(QorgauError):
    """A message that cannot become a report; the text says why, fit to send back."""

    def __init__(self, rule: str, message: str) -> None:
        self.rule = rule
        super().__init__(message)


@dataclass(frozen=True)
class InboundReport:
    channel: str
    external_id: str
    fields: ReportFields
    files: list[IncomingFile] = field(default_factory=list)
    # The network peer that handed the message over (the SMTP client), recorded in the audit
    # trail like the web form's client address; never a Telegram chat id.
    sender_address: str | None = None
    # Files already in the blob store (a Telegram draft keeps its files there as it grows).
    stored: list[BlobRef] = field(default_factory=list)


@dataclass(frozen=True)
class FilingResult:
    incident_id: int
    public_id: str
    receipt_code: str | None
    replayed: bool
    attachments: int
    refused: tuple[RefusedFile, ...] = ()


@dataclass(frozen=True)
class PreparedFiling:
    """Everything a filing needs that does not need the write transaction."""

    channel: str
    external_id: str
    job: IntakeJob
    refs: list[BlobRef]
    refused: tuple[RefusedFile, ...]


def guess_language(text: str) -> str:
    """kk, ru or en from the letters alone: Kazakh has letters Russian lacks, and a message
    in Cyrillic without them is almost always Russian. Good enough to pick a handler who
    reads it; a handler corrects it when it is wrong."""
    cyrillic = latin = kazakh = 0
    for ch in text:
        if ch in KAZAKH_LETTERS:
            kazakh += 1
            cyrillic += 1
        elif "\u0400" <= ch <= "\u04ff":
            cyrillic += 1
        elif ch.isascii() and ch.isalpha():
            latin += 1
    if cyrillic == 0 or cyrillic < latin:
        return "en"
    # One Kazakh name quoted in a long Russian text should not make it Kazakh.
    if kazakh and kazakh * 100 >= cyrillic:
        return "kk"
    return "ru"


def first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def fit_text(title: str, body: str, fallback_title: str) -> tuple[str, str, list[IncomingFile]]:
    """Title and description within the web form's limits; a body too long for the
    description is cut there and kept in full as an attached text file, not lost."""
    heading = shorten(first_line(title) or first_line(body) or fallback_title, MAX_TITLE)
    body = body.strip()
    if len(body) <= MAX_DESCRIPTION:
        return heading, body, []
    note = f"\n\n[The message is longer; its full text is attached as {FULL_TEXT_NAME}.]"
    cut = body[: MAX_DESCRIPTION - len(note)].rstrip() + note
    return heading, cut, [IncomingFile(FULL_TEXT_NAME, "text/plain", body.encode("utf-8"))]


def default_attack_type(taxonomy: Taxonomy) -> str:
    """A mail or chat rarely names the attack in taxonomy terms; it is filed as "other" and
    classified at triage, rather than refused."""
    if DEFAULT_ATTACK_TYPE not in taxonomy.ids("attack_type"):
        raise ConfigurationError(
            "the taxonomy has no current 'other' attack type, which reports by e-mail and "
            "Telegram are filed under until a handler classifies them; add it back"
        )
    return DEFAULT_ATTACK_TYPE


def platform_or_none(taxonomy: Taxonomy, platform: str) -> str | None:
    """An organisation's own taxonomy may lack the channel as a platform; the report is
    then filed without one instead of being lost."""
    return platform if platform in taxonomy.ids("platform") else None


def check_external_id(external_id: str) -> str:
    value = external_id.strip()
    if not value:
        raise MessageRejected("no_id", "the message has no identifier to recognise it by")
    if len(value) > MAX_EXTERNAL_ID:
        raise MessageRejected("bad_id", "the message identifier is too long")
    return value


# -- look-ups ------------------------------------------------------------------------------


def find_filed(
    conn: sa.Connection, store: Store, channel: str, external_id: str
) -> FilingResult | None:
    """The incident a message already became, if any."""
    m, i = inbound_messages.c, incidents.c
    row = conn.execute(
        sa.select(i.id, i.public_id, i.receipt_enc)
        .select_from(inbound_messages.join(incidents, incidents.c.id == m.incident_id))
        .where(m.channel == channel, m.external_id == external_id)
    ).first()
    if row is None:
        return None
    count = conn.execute(
        sa.select(sa.func.count())
        .select_from(attachments)
        .where(attachments.c.incident_id == row.id)
    ).scalar_one()
    return FilingResult(
        row.id,
        row.public_id,
        store.cipher.decrypt(row.receipt_enc, "incidents.receipt"),
        replayed=True,
        attachments=int(count),
    )


def already_received(conn: sa.Connection, channel: str, external_id: str) -> bool:
    m = inbound_messages.c
    found = conn.execute(
        sa.select(m.id).where(m.channel == channel, m.external_id == external_id)
    ).first()
    return found is not None


def record_received(
    conn: sa.Connection, channel: str, external_id: str, incident_id: int | None, now: datetime
) -> None:
    """Mark a message as handled; the unique constraint makes a concurrent twin fail."""
    conn.execute(
        inbound_messages.insert().values(
            channel=channel, external_id=external_id, incident_id=incident_id, received_at=now
        )
    )


# -- filing --------------------------------------------------------------------------------


def screen_archives(files: list[IncomingFile]) -> tuple[list[IncomingFile], list[RefusedFile]]:
    """Archive bombs and path tricks are refused by name, the rest of the report kept
    (``security.archive_check``); nothing is extracted to look."""
    kept: list[IncomingFile] = []
    refused: list[RefusedFile] = []
    for f in files:
        problem = check_archive(f.data)
        if problem is None:
            kept.append(f)
        else:
            refused.append(
                RefusedFile(
                    f.filename,
                    f.size,
                    "bad_archive",
                    f"{describe(f.filename)} was not kept: archive refused, {problem.reason}",
                )
            )
    return kept, refused


def prepare_filing(
    store: Store,
    desk: CaseDesk,
    report: InboundReport,
    blobs: BlobStore,
    limits: AttachmentLimits = DEFAULT_LIMITS,
) -> PreparedFiling:
    """Validate, screen the files and put their bytes in the blob store, all before the
    write transaction. Raises ``InvalidInput`` when the report breaks a domain rule."""
    external_id = check_external_id(report.external_id)
    stored_ok, refused_stored = screen(report.stored, limits)
    new_ok, refused_new = screen(
        report.files,
        limits,
        count_so_far=len(stored_ok),
        bytes_so_far=sum(r.size for r in stored_ok),
    )
    new_ok, refused_archives = screen_archives(new_ok)
    refused = (*refused_stored, *refused_new, *refused_archives)
    fields = report.fields
    if refused:
        # Nothing is dropped silently: whoever reads the case sees what was not kept and why.
        notes = "\n".join(f"[Not kept: {r.message}.]" for r in refused)
        fields = replace(fields, description=f"{fields.description}\n\n{notes}".strip())
    job = desk.prepare_report(desk.anonymous(), fields, address=report.sender_address)
    refs = [*stored_ok, *store_blobs(blobs, new_ok)]
    return PreparedFiling(report.channel, external_id, job, refs, refused)


def write_filing(
    conn: sa.Connection, store: Store, prepared: PreparedFiling, now: datetime
) -> FilingResult:
    """Inside the caller's transaction: the incident, its attachments and the
    ``inbound_messages`` row, or the earlier filing of the same message."""
    earlier = find_filed(conn, store, prepared.channel, prepared.external_id)
    if earlier is not None:
        return earlier
    stored = store_report(conn, store, prepared.job, now)
    added = add_attachments(conn, store.cipher, stored.id, prepared.refs, prepared.channel, now)
    if added:
        # Files that came with a report are evidence: logged in the vault with the case.
        vault.add_items(
            conn,
            store.cipher,
            vault.signing_keys(store),
            [
                vault.NewItem(
                    org_id=prepared.job.org_id,
                    sha256=a.sha256,
                    size=a.size,
                    media_type=a.media_type,
                    method=prepared.channel,
                    collector_id=None,
                    collector_name=f"inbound:{prepared.channel}",
                    collected_at=now,
                    incident_id=stored.id,
                    incident_public_id=stored.public_id,
                    original_name=a.filename,
                    source=prepared.channel,
                )
                for a in added
            ],
            now,
        )
    record_received(conn, prepared.channel, prepared.external_id, stored.id, now)
    if added or prepared.refused:
        after: dict[str, Any] = {
            "channel": prepared.channel,
            "attachments": [
                {"sha256": a.sha256, "size": a.size, "media_type": a.media_type} for a in added
            ],
            "refused": [{"size": r.size, "rule": r.rule} for r in prepared.refused],
        }
        audit.record(
            conn,
            audit.audit_row(
                prepared.job.actor,
                "incident:attachments:added",
                "incident",
                stored.public_id,
                at=now,
                after=after,
            ),
        )
    return FilingResult(
        stored.id,
        stored.public_id,
        stored.receipt_code,
        replayed=stored.replayed,
        attachments=len(added),
        refused=prepared.refused,
    )


def file_inbound_report(
    store: Store,
    desk: CaseDesk,
    report: InboundReport,
    *,
    blobs: BlobStore | None = None,
    limits: AttachmentLimits = DEFAULT_LIMITS,
) -> FilingResult:
    """File one inbound message as an anonymous report, or return the earlier filing of it.

    Raises ``InvalidInput`` for a report the domain rules refuse and ``MessageRejected`` for
    a message without a usable identifier; database errors propagate (the caller asks the
    sender to retry: nothing was stored).
    """
    external_id = check_external_id(report.external_id)
    with store.read() as conn:
        earlier = find_filed(conn, store, report.channel, external_id)
    if earlier is not None:
        return earlier
    prepared = prepare_filing(
        store, desk, report, blobs or BlobStore.for_settings(store.settings), limits
    )
    try:
        with store.write() as conn:
            return write_filing(conn, store, prepared, store.now())
    except sa.exc.IntegrityError:
        # A twin delivery committed between our look-up and our insert.
        with store.read() as conn:
            earlier = find_filed(conn, store, report.channel, external_id)
        if earlier is None:
            raise
        return earlier
