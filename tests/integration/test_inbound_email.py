"""Reports by e-mail: a real SMTP conversation with the intake endpoint, and mailbox import."""

from __future__ import annotations

import asyncio
import hashlib
import mailbox
import os
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import aiosmtplib
import pytest
import sqlalchemy as sa

from qorgau.desk import CaseDesk
from qorgau.domain.model import Incident
from qorgau.inbound import email_intake
from qorgau.inbound.email_intake import SmtpIntake, html_to_text, import_mailbox, parse_email
from qorgau.inbound.filing import MessageRejected, guess_language
from qorgau.store.attachments import MB, AttachmentLimits, list_attachments
from qorgau.store.blobs import BlobStore
from qorgau.store.store import Store
from qorgau.store.tables import attachments, inbound_messages, incidents

DOMAIN = "reports.qorgau.test"
PDF = b"%PDF-1.7\n" + os.urandom(20_000) + b"\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + os.urandom(30_000) + b"\xff\xd9"
LIMITS = AttachmentLimits(max_file_bytes=1 * MB, max_report_bytes=3 * MB, max_files=5)
SUBJECT = "Угрозы в WhatsApp после публикации расследования"
BODY = (
    "Здравствуйте!\n\nПосле выхода нашего расследования о закупках акимата мне третий день "
    "приходят угрозы в WhatsApp с незнакомых номеров. Скриншоты и письмо редакции во вложении."
)


def russian_report(message_id: str | None = None, extra: bytes | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Айгерим Нурланова <aigerim.n@mail.example>"
    msg["To"] = f"report@{DOMAIN}"
    msg["Subject"] = SUBJECT
    msg["Message-ID"] = message_id or make_msgid(domain="mail.example")
    msg.set_content(BODY)
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="письмо-редакции.pdf")
    msg.add_attachment(JPEG, maintype="image", subtype="jpeg", filename="screenshot-1.jpg")
    if extra is not None:
        msg.add_attachment(extra, maintype="video", subtype="mp4", filename="recording.mp4")
    return msg


def send(intake: SmtpIntake, msg: EmailMessage) -> str:
    async def go() -> str:
        _, reply = await aiosmtplib.send(msg, hostname="127.0.0.1", port=intake.port, timeout=20)
        return reply

    return asyncio.run(go())


def count(store: Store, table: sa.Table) -> int:
    with store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def only_incident(store: Store, desk: CaseDesk) -> Incident:
    with store.read() as conn:
        public_ids = conn.execute(sa.select(incidents.c.public_id)).scalars().all()
    assert len(public_ids) == 1
    return desk.get(desk.system("test"), public_ids[0])


def blob_files(store: Store) -> list[Path]:
    root = store.settings.data_dir / "blobs"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def smtp(store: Store, desk: CaseDesk) -> Iterator[SmtpIntake]:
    intake = SmtpIntake(store, desk, "127.0.0.1", 0, domains=[DOMAIN], limits=LIMITS)
    intake.start()
    assert intake.port != 0
    yield intake
    intake.stop()


# -- over SMTP -------------------------------------------------------------------------------


def test_a_russian_mail_with_two_attachments_becomes_one_incident_with_its_evidence(
    smtp: SmtpIntake, store: Store, desk: CaseDesk
) -> None:
    reply = send(smtp, russian_report())
    assert "Report received as" in reply

    incident = only_incident(store, desk)
    assert incident.title == SUBJECT
    assert "третий день приходят угрозы" in incident.description
    assert incident.language == "ru"
    assert incident.platform == "email"
    assert incident.attack_types == ("other",)
    assert incident.reporter.email == "aigerim.n@mail.example"
    assert incident.reporter.name == "Айгерим Нурланова"
    assert incident.reporter.preferred_channel == "email"
    assert incident.public_id in reply

    with store.read() as conn:
        files = list_attachments(conn, store.cipher, incident.id, reveal_names=True)
        hidden = list_attachments(conn, store.cipher, incident.id, reveal_names=False)
    assert [(f.filename, f.media_type, f.size, f.source) for f in files] == [
        ("письмо-редакции.pdf", "application/pdf", len(PDF), "email"),
        ("screenshot-1.jpg", "image/jpeg", len(JPEG), "email"),
    ]
    assert [f.sha256 for f in files] == [
        hashlib.sha256(PDF).hexdigest(),
        hashlib.sha256(JPEG).hexdigest(),
    ]
    assert {f.filename for f in hidden} == {"[protected]"}
    blobs = BlobStore.for_settings(store.settings)
    assert blobs.get(files[0].sha256) == PDF
    assert blobs.get(files[1].sha256) == JPEG
    # The bytes on disk are not the evidence in clear.
    assert JPEG[100:140] not in blobs.path_for(files[1].sha256).read_bytes()


def test_the_same_message_id_delivered_twice_is_one_incident(
    smtp: SmtpIntake, store: Store
) -> None:
    message_id = make_msgid(domain="mail.example")
    first = send(smtp, russian_report(message_id))
    again = send(smtp, russian_report(message_id))
    assert "Report received as" in first
    assert "Already received as" in again
    assert first.split(" as ")[1] == again.split(" as ")[1]  # same case reference
    assert count(store, incidents) == 1
    assert count(store, attachments) == 2
    assert count(store, inbound_messages) == 1


def test_an_attachment_over_the_limit_is_refused_with_a_reason_and_nothing_is_stored(
    smtp: SmtpIntake, store: Store
) -> None:
    too_big = os.urandom(LIMITS.max_file_bytes + 200_000)
    blobs_before = blob_files(store)  # the blob folder lives as long as the test session
    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        send(smtp, russian_report(extra=too_big))
    assert refused.value.code == 552
    assert "'recording.mp4' is 1.2 MB" in refused.value.message
    assert "at most 1.0 MB" in refused.value.message
    assert "Nothing was stored" in refused.value.message
    assert count(store, incidents) == 0
    assert count(store, attachments) == 0
    assert count(store, inbound_messages) == 0
    assert blob_files(store) == blobs_before


def test_a_message_larger_than_the_advertised_size_is_refused_before_it_is_sent(
    smtp: SmtpIntake, store: Store
) -> None:
    huge = os.urandom(smtp.data_size_limit)
    with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
        send(smtp, russian_report(extra=huge))
    assert refused.value.code == 552
    assert count(store, incidents) == 0


def test_bytes_that_are_not_an_email_get_a_clear_permanent_error(
    smtp: SmtpIntake, store: Store
) -> None:
    async def go() -> None:
        await aiosmtplib.send(
            b"just some bytes without any header\r\n",
            sender="someone@mail.example",
            recipients=[f"report@{DOMAIN}"],
            hostname="127.0.0.1",
            port=smtp.port,
        )

    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        asyncio.run(go())
    assert refused.value.code == 554
    assert "not an e-mail message" in refused.value.message
    assert count(store, incidents) == 0


def test_mail_for_another_domain_is_not_accepted(smtp: SmtpIntake, store: Store) -> None:
    msg = russian_report()
    msg.replace_header("To", "someone@elsewhere.example")
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
        send(smtp, msg)
    assert count(store, incidents) == 0


def test_a_storage_failure_answers_451_so_the_sending_server_keeps_the_mail(
    smtp: SmtpIntake, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise sa.exc.OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(email_intake, "file_inbound_report", broken)
    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        send(smtp, russian_report())
    assert refused.value.code == 451
    assert "Traceback" not in refused.value.message
    monkeypatch.undo()
    assert "Report received" in send(smtp, russian_report())  # the retry then succeeds
    assert count(store, incidents) == 1


# -- a mailbox the system reads ----------------------------------------------------------------


def kazakh_report() -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "newsroom@outlet.example"
    msg["To"] = "desk@outlet.example"
    msg["Subject"] = "Сайт бұғатталды"
    msg["Message-ID"] = make_msgid(domain="outlet.example")
    msg.set_content(
        "Сәлеметсіз бе! Біздің сайтқа кеше кешкі сағат 18:00-ден бері Қазақстаннан кіру "
        "мүмкін емес. Провайдерлер ешқандай түсініктеме берген жоқ."
    )
    return msg


def html_only_report() -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Editor <editor@outlet.example>"
    msg["Subject"] = "Phishing mail pretending to be the ministry"
    msg["Message-ID"] = make_msgid(domain="outlet.example")
    msg.set_content(
        "<html><head><style>p{}</style></head><body><p>Our reporters got this mail.</p>"
        '<p>It links to <a href="https://gov-kz.example/login">the ministry portal</a>.</p>'
        "<script>alert(1)</script></body></html>",
        subtype="html",
    )
    return msg


def test_maildir_import_files_each_message_once(
    store: Store, desk: CaseDesk, tmp_path: Path
) -> None:
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    for msg in (kazakh_report(), html_only_report(), russian_report()):
        box.add(msg)
    box.add(b"garbage that is no mail at all\n")
    first = import_mailbox(store, desk, tmp_path / "Maildir", limits=LIMITS)
    assert len(first.filed) == 3 and first.replayed == 0
    assert len(first.rejected) == 1 and "not an e-mail message" in first.rejected[0][1]
    again = import_mailbox(store, desk, tmp_path / "Maildir", limits=LIMITS)
    assert again.filed == [] and again.replayed == 3
    assert count(store, incidents) == 3
    assert count(store, attachments) == 2

    by_title = {
        i.title: i for i in (desk.get(desk.system("test"), r.public_id) for r in first.filed)
    }
    kk = by_title["Сайт бұғатталды"]
    assert kk.language == "kk"
    assert kk.reporter.email == "newsroom@outlet.example"
    phishing = by_title["Phishing mail pretending to be the ministry"]
    assert phishing.language == "en"
    assert "It links to the ministry portal <https://gov-kz.example/login>." in (
        phishing.description
    )
    assert "alert" not in phishing.description


def test_a_mail_seen_by_smtp_and_then_in_the_mailbox_is_one_incident(
    smtp: SmtpIntake, store: Store, desk: CaseDesk, tmp_path: Path
) -> None:
    msg = russian_report()
    send(smtp, msg)
    path = tmp_path / "inbox.mbox"
    box = mailbox.mbox(path, create=True)
    box.add(msg)
    box.close()
    result = import_mailbox(store, desk, path, limits=LIMITS)
    assert result.filed == [] and result.replayed == 1
    assert count(store, incidents) == 1


def test_mailbox_import_keeps_the_report_and_says_which_file_was_not_kept(
    store: Store, desk: CaseDesk, tmp_path: Path
) -> None:
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    box.add(russian_report(extra=os.urandom(LIMITS.max_file_bytes + 1)))
    result = import_mailbox(store, desk, tmp_path / "Maildir", limits=LIMITS)
    assert len(result.filed) == 1
    filed = result.filed[0]
    assert filed.attachments == 2
    assert [r.rule for r in filed.refused] == ["file_too_large"]
    incident = desk.get(desk.system("test"), filed.public_id)
    assert "[Not kept: 'recording.mp4' is 1.0 MB" in incident.description


def test_not_a_mailbox_is_a_clear_error(store: Store, desk: CaseDesk, tmp_path: Path) -> None:
    from qorgau.errors import InvalidInput

    with pytest.raises(InvalidInput, match="neither a Maildir"):
        import_mailbox(store, desk, tmp_path / "missing")


# -- parsing (no database) ---------------------------------------------------------------------


def test_language_is_guessed_from_the_letters() -> None:
    assert guess_language("Журналистке угрожают в Telegram") == "ru"
    assert guess_language("Журналиске Telegram-да қорқыту хаттары келді") == "kk"
    assert guess_language("Threats against the editor") == "en"
    # One Kazakh surname in a long Russian text does not make it Kazakh.
    russian = "Редакция сообщает о давлении на журналиста " * 10 + "Жанұзақов"
    assert guess_language(russian) == "ru"


def test_a_message_without_message_id_is_identified_by_its_content(store: Store) -> None:
    msg = russian_report()
    del msg["Message-ID"]
    raw = msg.as_bytes()
    a = parse_email(raw, store.taxonomy)
    b = parse_email(raw, store.taxonomy)
    assert a.external_id == b.external_id == "sha256:" + hashlib.sha256(raw).hexdigest()


def test_forwarded_mail_is_kept_whole_and_odd_senders_do_not_sink_the_report(
    store: Store,
) -> None:
    threat = EmailMessage()
    threat["From"] = "anon@threat.example"
    threat["Subject"] = "Ты пожалеешь"
    threat.set_content("Удали статью.")
    outer = EmailMessage()
    outer["From"] = "not an address"
    outer["Subject"] = "Fwd: Ты пожалеешь"
    outer.set_content("Пересылаю письмо с угрозой.")
    outer.add_attachment(threat)
    report = parse_email(outer.as_bytes(), store.taxonomy)
    assert report.fields.reporter.email is None
    assert [(f.filename, f.media_type) for f in report.files] == [
        ("Ты пожалеешь.eml", "message/rfc822")
    ]
    assert b"\xd0\xa3\xd0\xb4\xd0\xb0\xd0\xbb\xd0\xb8" in report.files[0].data  # "Удали"


def test_a_very_long_body_is_cut_in_the_description_and_kept_whole_as_a_file(
    store: Store,
) -> None:
    msg = EmailMessage()
    msg["From"] = "a@mail.example"
    msg["Subject"] = "Long account"
    msg.set_content("word " * 10_000)
    report = parse_email(msg.as_bytes(), store.taxonomy)
    assert len(report.fields.description) <= 20_000
    assert report.fields.description.endswith("attached as message-text.txt.]")
    assert report.files[0].filename == "message-text.txt"
    assert len(report.files[0].data) > 49_000


def test_empty_input_is_rejected(store: Store) -> None:
    with pytest.raises(MessageRejected, match="empty"):
        parse_email(b"  \r\n", store.taxonomy)


def test_html_to_text_keeps_structure_and_links() -> None:
    text = html_to_text(
        '<div>One<br>Two</div><a href="https://x.example/a">link</a>'
        '<a href="https://x.example/b">https://x.example/b</a>'
    )
    assert text == "One\nTwo\nlink <https://x.example/a>https://x.example/b"


def test_two_simultaneous_deliveries_of_one_message_file_one_incident(
    store: Store, desk: CaseDesk
) -> None:
    import threading

    from qorgau.inbound.filing import FilingResult, file_inbound_report

    report = parse_email(russian_report().as_bytes(), store.taxonomy)
    barrier = threading.Barrier(2)
    results: list[FilingResult] = []

    def deliver() -> None:
        barrier.wait()
        results.append(file_inbound_report(store, desk, report, limits=LIMITS))

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2
    assert results[0].public_id == results[1].public_id
    assert results[0].receipt_code == results[1].receipt_code
    assert sorted(r.replayed for r in results) == [False, True]
    assert count(store, incidents) == 1
    assert count(store, attachments) == 2


def test_screening_applies_per_file_count_and_total_limits() -> None:
    from qorgau.store.attachments import IncomingFile, screen

    limits = AttachmentLimits(max_file_bytes=10, max_report_bytes=25, max_files=3)
    files = [IncomingFile(f"f{i}", "text/plain", b"x" * n) for i, n in enumerate([11, 9, 9, 9, 1])]
    accepted, refused = screen(files, limits)
    assert [f.filename for f in accepted] == ["f1", "f2", "f4"]
    assert [(r.filename, r.rule) for r in refused] == [
        ("f0", "file_too_large"),
        ("f3", "report_too_large"),
    ]
    _, refused = screen(files[1:2], limits, count_so_far=3)
    assert refused[0].rule == "too_many_files"
    assert "at most 3 files" in refused[0].message
