from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from qorgau.errors import InvalidInput
from qorgau.observe.importers import import_file, import_telegram

CHANNEL: dict[str, Any] = {
    "name": "Ақпарат Арнасы",
    "type": "public_channel",
    "id": 1712345678,
    "messages": [
        {
            "id": 1,
            "type": "service",
            "date": "2025-05-01T09:00:00",
            "date_unixtime": "1746072000",
            "actor": "Ақпарат Арнасы",
            "action": "create_channel",
            "text": "",
        },
        {
            "id": 2,
            "type": "message",
            "date": "2025-05-01T10:00:00",
            "date_unixtime": "1746075600",
            "from": "Ақпарат Арнасы",
            "from_id": "channel1712345678",
            "photo": "photos/photo_1@01-05-2025_10-00-00.jpg",
            "width": 800,
            "height": 600,
            "text": [
                "Журналист продаёт квартиру? Звоните ",
                {"type": "phone", "text": "+7 701 123 45 67"},
                ", ",
                {"type": "bold", "text": "срочно"},
                "! Подробности: ",
                {"type": "text_link", "text": "здесь", "href": "https://smear.example/post/1"},
                " и ",
                {"type": "link", "text": "https://ads.example/kv/77"},
            ],
            "text_entities": [],
        },
        {
            "id": 3,
            "type": "message",
            "date": "2025-05-01T11:30:00",
            "edited": "2025-05-01T11:35:00",
            "from": "Ақпарат Арнасы",
            "from_id": "channel1712345678",
            "text": "Бүгін редакцияға белгісіз нөмірлерден қоңырау шалынды",
        },
        {"id": 4, "type": "message", "date": "yesterday", "from": "x", "text": "broken"},
    ],
}


def _write(folder: Path, data: object) -> Path:
    path = folder / "result.json"
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def test_channel_export(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    photo = b"\xff\xd8\xff fake jpeg bytes"
    (tmp_path / "photos" / "photo_1@01-05-2025_10-00-00.jpg").write_bytes(photo)
    result = import_telegram(_write(tmp_path, CHANNEL), "tg-arna")

    assert result.skipped == 1
    assert [p.reason for p in result.problems] == [
        "chat Ақпарат Арнасы, message 4: time: 'yesterday' is not a time; use ISO 8601 "
        "(2025-05-01T10:00:00+05:00), unix seconds or DD.MM.YYYY HH:MM"
    ]
    assert result.problems[0].file == "result.json"
    first, second = result.observations
    assert first.id == "tg-arna:1712345678/2"
    assert first.kind == "post"
    assert first.platform == "telegram"
    assert first.account == "channel1712345678"
    assert first.time == datetime(2025, 5, 1, 5, 0, tzinfo=UTC)
    assert "Звоните +7 701 123 45 67, срочно! Подробности: здесь и" in first.text
    assert first.phones == ("+77011234567",)
    assert first.urls == ("https://smear.example/post/1", "https://ads.example/kv/77")
    assert first.media_hashes == (hashlib.sha256(photo).hexdigest(),)
    assert first.extra["photo"] == "photos/photo_1@01-05-2025_10-00-00.jpg"
    assert first.lang == "ru"
    # No date_unixtime: the naive local date is read as Almaty time (UTC+5 in 2025).
    assert second.time == datetime(2025, 5, 1, 6, 30, tzinfo=UTC)
    assert second.lang == "kk"
    assert second.extra["edited"] == "2025-05-01T11:35:00"


def test_full_account_export_and_reimport_is_identical(tmp_path: Path) -> None:
    chat = {
        "name": "Айгерим",
        "type": "personal_chat",
        "id": 555,
        "messages": [
            {
                "id": 10,
                "type": "message",
                "date": "2025-05-02T08:00:00",
                "date_unixtime": "1746154800",
                "from": "Unknown",
                "from_id": "user999",
                "file": "(File not included. Change data exporting settings to download.)",
                "text": "Удали статью, иначе пожалеешь",
            }
        ],
    }
    export = {"about": "…", "chats": {"about": "…", "list": [chat]}, "left_chats": {"list": []}}
    path = _write(tmp_path, export)
    once = import_file(path, "tg-account")
    again = import_file(path, "tg-account")
    assert [o.id for o in once.observations] == ["tg-account:555/10"]
    assert once.observations == again.observations
    only = once.observations[0]
    assert only.kind == "message"
    assert only.account == "user999"
    assert only.media_hashes == ()


def test_not_a_telegram_export(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not a Telegram Desktop export"):
        import_telegram(_write(tmp_path, {"hello": 1}), "tg")
    (tmp_path / "result.json").write_text('{"messages": [', encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"result\.json is not valid JSON \(line 1"):
        import_telegram(tmp_path / "result.json", "tg")
