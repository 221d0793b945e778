from __future__ import annotations

import json
from pathlib import Path

import pytest

from qorgau.errors import InvalidInput
from qorgau.observe.importers import guess_format, import_file


def test_guesses_by_name_and_content(tmp_path: Path) -> None:
    posts = tmp_path / "posts.jsonl"
    posts.write_text(json.dumps({"id": 1, "text": "x"}) + "\n", encoding="utf-8")
    ads = tmp_path / "ads.ndjson"
    ads.write_text(json.dumps({"title": "Сдам", "price": 1}, ensure_ascii=False), "utf-8")
    calls = tmp_path / "calls.csv"
    calls.write_bytes("Дата;Номер;Длительность\n".encode("cp1251"))
    tweets = tmp_path / "tweets.csv"
    tweets.write_text("id,author,date,text\n", encoding="utf-8")
    mail = tmp_path / "archive"
    mail.write_bytes(b"From x@y.example Thu May  1 05:00:00 2025\nSubject: a\n\nb\n")
    page = tmp_path / "saved_ad"
    page.write_text("  <!DOCTYPE html><html></html>", encoding="utf-8")
    assert guess_format(posts) == "posts"
    assert guess_format(ads) == "ads"
    assert guess_format(calls) == "calls"
    assert guess_format(tweets) == "posts"
    assert guess_format(mail) == "mbox"
    assert guess_format(page) == "ad-pages"
    assert guess_format(tmp_path) == "ad-pages"
    assert guess_format(tmp_path / "result.json") == "telegram"


def test_unknown_format_lists_the_formats(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"\x00\x01\x02")
    with pytest.raises(InvalidInput) as caught:
        import_file(path, "s")
    message = str(caught.value)
    assert "data.bin" in message
    for name in ("telegram", "posts", "ads", "ad-pages", "calls", "mbox"):
        assert name in message
    with pytest.raises(InvalidInput, match="'xlsx' is not a format"):
        import_file(path, "s", format="xlsx")
    with pytest.raises(InvalidInput, match="does not exist"):
        import_file(tmp_path / "gone.csv", "s")


def test_progress_reported_per_megabyte_and_at_the_end(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    record = {
        "platform": "vk",
        "account": "bot",
        "time": "2025-05-01T10:00:00+05:00",
        "text": "Очередной одинаковый комментарий под статьёй редакции " * 4,
    }
    with path.open("w", encoding="utf-8") as handle:
        for number in range(5000):
            handle.write(json.dumps({"id": number, **record}, ensure_ascii=False) + "\n")
    size = path.stat().st_size
    assert size > 2 * 1024 * 1024
    calls: list[tuple[int, int]] = []
    result = import_file(path, "s", progress=lambda done, total: calls.append((done, total)))
    assert len(result.observations) == 5000
    assert calls[-1] == (size, size)
    assert len(calls) >= size // (1024 * 1024)
    assert all(total == size for _, total in calls)
    steps = [done for done, _ in calls]
    assert steps == sorted(steps)
    assert all(b - a <= 1024 * 1024 + 64 * 1024 for a, b in zip([0, *steps], steps, strict=False))
