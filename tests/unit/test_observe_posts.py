from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from qorgau.errors import InvalidInput
from qorgau.observe.importers import (
    import_file,
    import_posts_csv,
    import_posts_jsonl,
    read_observations_jsonl,
)
from qorgau.observe.normalize import normalise

CSV_CP1251 = (
    "id;platform;author;date;body;urls\r\n"
    "101;vk;ivanov_1990;01.05.2025 10:00;Продаю квартиру недорого, звоните 8 (701) 123-45-67;"
    "https://vk.example/wall101\r\n"
    '102;vk;petrov;2025-05-01T10:05:00+05:00;"Тот же номер, пишите: +7 701 1234567; '
    'ответим быстро";\r\n'
    "103;vk;sidorov;когда-то;нет даты;\r\n"
    "104;vk;kim;1746076200;Журналистка снова пишет о коррупции;\r\n"
)


def test_cp1251_csv_with_semicolons(tmp_path: Path) -> None:
    path = tmp_path / "vk.csv"
    path.write_bytes(CSV_CP1251.encode("cp1251"))
    result = import_posts_csv(path, "vk-scrape")

    assert [o.id for o in result.observations] == [
        "vk-scrape:101",
        "vk-scrape:102",
        "vk-scrape:104",
    ]
    assert [(p.file, p.line) for p in result.problems] == [("vk.csv", 4)]
    assert "'когда-то' is not a time" in result.problems[0].reason
    first, second, third = result.observations
    assert first.account == "ivanov_1990"
    assert first.time == datetime(2025, 5, 1, 5, 0, tzinfo=UTC)
    assert first.urls == ("https://vk.example/wall101",)
    assert first.phones == second.phones == ("+77011234567",)
    assert second.text.endswith("ответим быстро")
    assert third.time == datetime(2025, 5, 1, 5, 10, tzinfo=UTC)
    assert {o.lang for o in result.observations} == {"ru"}


def test_jsonl_aliases_bad_lines_and_generated_ids(tmp_path: Path) -> None:
    lines = [
        json.dumps(
            {
                "user": "@troll_01",
                "platform": "X",
                "created_at": "2025-05-03T12:00:00Z",
                "content": "Она предатель. Her phone: +7 701 123 4567",
                "urls": ["https://smear.example/a", "https://smear.example/a"],
                "likes": 12,
            },
            ensure_ascii=False,
        ),
        "{not json",
        "",
        json.dumps(["a", "list"]),
        json.dumps({"id": "9", "time": "2025-05-03T12:00:00Z", "text": "no platform"}),
        json.dumps(
            {"id": "10", "platform": "x", "time": 1746273600, "text": "ok", "kind": "tweet"}
        ),
    ]
    path = tmp_path / "x.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = import_posts_jsonl(path, "x-scrape")

    assert [(p.line, p.reason.split(" (")[0]) for p in result.problems] == [
        (2, "not valid JSON"),
        (4, "each line must be a JSON object {...}"),
        (5, "platform: the platform is missing"),
        (6, "kind: 'tweet' is not a kind of observation"),
    ]
    (obs,) = result.observations
    assert obs.id.startswith("x-scrape:") and len(obs.id) == len("x-scrape:") + 64
    assert obs.account == "@troll_01"
    assert obs.platform == "x"
    assert obs.urls == ("https://smear.example/a",)
    assert obs.extra == {"likes": 12}
    again = import_posts_jsonl(path, "x-scrape")
    assert again.observations == result.observations


def test_csv_without_time_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "posts.csv"
    path.write_text("id,text\n1,hello\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"posts\.csv has no time column"):
        import_posts_csv(path, "s")


def test_detect_input_keeps_full_ids_and_round_trips(tmp_path: Path) -> None:
    original = normalise(
        "tg-arna",
        "1712345678/2",
        "telegram",
        datetime(2025, 5, 1, 5, 0, tzinfo=UTC),
        kind="post",
        account="channel1712345678",
        text="Звоните +7 701 123 45 67",
        extra={"chat": "Арна"},
    )
    plain = {
        "id": "77",
        "platform": "vk",
        "account": "a",
        "time": "2025-05-01T10:00:00+05:00",
        "text": "hello there friends",
        "lang": "en",
    }
    path = tmp_path / "input.jsonl"
    path.write_text(
        json.dumps(original.to_json(), ensure_ascii=False) + "\n" + json.dumps(plain) + "\n",
        encoding="utf-8",
    )
    result = read_observations_jsonl(path, source="cli")
    assert result.problems == []
    read_back, other = result.observations
    assert read_back == original
    assert other.id == "cli:77"
    assert other.lang == "en"
    # As ordinary posts the same file gets the import's source prefix on every id.
    as_posts = import_file(path, "batch", format="posts")
    assert [o.id for o in as_posts.observations] == ["batch:tg-arna:1712345678/2", "batch:77"]
