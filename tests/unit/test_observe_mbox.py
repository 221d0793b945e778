from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from qorgau.errors import InvalidInput
from qorgau.observe.importers import import_file, import_mbox

ATTACHMENT = b"%PDF-1.4 fake invoice that is really malware"


def _phishing() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Служба поддержки <Support@Mail-Security.example>"
    msg["To"] = "Editor <editor@newsroom.example>"
    msg["Cc"] = "desk@newsroom.example, Editor <editor@newsroom.example>"
    msg["Subject"] = "Ваш аккаунт будет заблокирован"
    msg["Date"] = "Thu, 01 May 2025 10:00:00 +0500"
    msg["Message-ID"] = "<phish-1@mail-security.example>"
    msg.set_content("Подтвердите вход: https://mail-security.example/login\nFrom now on be careful")
    msg.add_alternative(
        '<p>Подтвердите вход: <a href="https://evil.example/steal">нажмите</a></p>',
        subtype="html",
    )
    msg.add_attachment(ATTACHMENT, maintype="application", subtype="pdf", filename="invoice.pdf")
    return msg.as_bytes()


def _html_only() -> bytes:
    msg = EmailMessage()
    msg["From"] = "anon@threat.example"
    msg["To"] = "editor@newsroom.example"
    msg["Subject"] = "Последнее предупреждение"
    msg.set_content(
        "<html><body><p>Удалите статью до пятницы.</p><script>x()</script></body></html>",
        subtype="html",
    )
    return msg.as_bytes()


def _mbox(tmp_path: Path) -> Path:
    broken = b"From: nobody\nSubject: no date\n\nbody\n"
    parts = [
        b"From MAILER-DAEMON Thu May  1 05:00:00 2025\n" + _phishing(),
        b"From anon@threat.example Fri May  2 06:30:00 2025\n" + _html_only(),
        b"From ???@??? not-a-date\n" + broken,
    ]
    path = tmp_path / "Inbox.mbox"
    path.write_bytes(b"\n".join(p.replace(b"\r\n", b"\n") for p in parts))
    return path


def test_mbox(tmp_path: Path) -> None:
    path = _mbox(tmp_path)
    result = import_file(path, "newsroom-mail")

    assert len(result.problems) == 1
    assert result.problems[0].reason == "Date: the message has no readable Date header"
    line = result.problems[0].line
    assert line is not None
    assert path.read_bytes().split(b"\n")[line - 1].startswith(b"From ???")

    phish, threat = result.observations
    assert phish.id == "newsroom-mail:phish-1@mail-security.example"
    assert phish.kind == "email" and phish.platform == "email"
    assert phish.account == "support@mail-security.example"
    assert phish.recipients == ("editor@newsroom.example", "desk@newsroom.example")
    assert phish.time == datetime(2025, 5, 1, 5, 0, tzinfo=UTC)
    assert phish.text.startswith("Ваш аккаунт будет заблокирован\n\nПодтвердите вход")
    assert "From now on be careful" in phish.text
    assert phish.urls == ("https://evil.example/steal", "https://mail-security.example/login")
    assert phish.media_hashes == (hashlib.sha256(ATTACHMENT).hexdigest(),)
    assert phish.extra["attachments"][0]["filename"] == "invoice.pdf"

    # No Message-ID: keyed by its headers; no Date: the envelope time (UTC).
    assert len(threat.id) == len("newsroom-mail:") + 64
    assert threat.time == datetime(2025, 5, 2, 6, 30, tzinfo=UTC)
    assert threat.text == "Последнее предупреждение\n\nУдалите статью до пятницы."
    assert threat.lang == "ru"

    assert [o.id for o in import_mbox(path, "newsroom-mail").observations] == [
        phish.id,
        threat.id,
    ]


def test_not_an_mbox(tmp_path: Path) -> None:
    path = tmp_path / "mail.mbox"
    path.write_text("Subject: hi\n\nbody\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"mail\.mbox is not an mbox archive"):
        import_mbox(path, "s")
