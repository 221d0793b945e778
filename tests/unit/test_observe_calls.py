from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from qorgau.errors import InvalidInput
from qorgau.observe.importers import import_call_log, import_file
from qorgau.observe.importers.calls import parse_duration

OWNER = "+7 705 111 22 33"

# An operator's personal-account export as a spreadsheet saves it in a Russian locale.
RUSSIAN_LOG = (
    "Дата;Время;Номер;Тип;Длительность\r\n"
    "01.05.2025;18:01:05;8 (701) 123-45-67;Входящий звонок;00:00:12\r\n"
    "01.05.2025;18:02:10;+7 701 1234567;Пропущенный;0\r\n"
    "01.05.2025;18:02:10;+7 701 1234567;Пропущенный;0\r\n"
    "01.05.2025;18:03:00;Скрытый номер;Входящий звонок;1 мин 5 сек\r\n"
    "01.05.2025;18:04:00;номер-не-номер;Входящий;5\r\n"
    "32.05.2025;18:05:00;87011234567;Входящий;5\r\n"
    "01.05.2025;18:10:00;8 702 765 43 21;Исходящий звонок;2:03\r\n"
)


def _write(tmp_path: Path, text: str, encoding: str = "utf-8", name: str = "log.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_russian_headers_mixed_numbers_and_problems(tmp_path: Path) -> None:
    path = _write(tmp_path, RUSSIAN_LOG, "cp1251")
    result = import_file(path, "kcell-export", owner_phone=OWNER)

    assert [(p.line, p.reason.split(";")[0]) for p in result.problems] == [
        (6, "number: 'номер-не-номер' is not a phone number"),
        (7, "time: '32.05.2025 18:05:00' is not a time"),
    ]
    calls = result.observations
    assert len(calls) == 5
    first, missed, missed_again, hidden, outgoing = calls
    assert first.kind == "call" and first.platform == "phone"
    assert first.account == "+77011234567"
    assert first.recipients == ("+77051112233",)
    assert first.time == datetime(2025, 5, 1, 13, 1, 5, tzinfo=UTC)
    assert first.extra == {"direction": "in", "duration_s": 12}
    # "8 (701) …" and "+7 701 …" are one caller.
    assert missed.account == first.account
    assert missed.extra["direction"] == "missed"
    # Two identical rows are two calls, with distinct but stable ids.
    assert missed.id != missed_again.id
    assert missed_again.id == missed.id + "-2"
    assert hidden.account == ""
    assert hidden.extra["caller_hidden"] is True
    assert hidden.extra["duration_s"] == 65
    assert outgoing.account == "+77051112233"
    assert outgoing.recipients == ("+77027654321",)
    assert outgoing.extra == {"direction": "out", "duration_s": 123}

    again = import_call_log(path, "kcell-export", owner_phone="87051112233")
    assert [o.id for o in again.observations] == [o.id for o in calls]


def test_english_from_to_sms_log_with_tabs(tmp_path: Path) -> None:
    log = (
        "timestamp\tdirection\tfrom\tto\ttype\tbody\n"
        "2025-05-02T08:00:00+05:00\tincoming\t+7 701 123 45 67\t+7 705 111 22 33\tSMS\t"
        "Удали статью. Звони 8 702 765 43 21\n"
        "1746154860000\tincoming\t8 701 123 45 67\t8 705 111 22 33\tcall\t\n"
    )
    result = import_call_log(_write(tmp_path, log), "sms")
    assert result.problems == []
    sms, call = result.observations
    assert sms.kind == "sms"
    assert sms.account == "+77011234567"
    assert sms.recipients == ("+77051112233",)
    assert sms.phones == ("+77027654321",)
    assert sms.lang == "ru"
    assert call.kind == "call"
    assert call.time == datetime(2025, 5, 2, 3, 1, tzinfo=UTC)


def test_callee_unknown_needs_owner(tmp_path: Path) -> None:
    path = _write(tmp_path, "date,number,direction\n2025-05-01 10:00,87011234567,in\n")
    with pytest.raises(InvalidInput, match="no callee column"):
        import_call_log(path, "s")


def test_log_without_number_column(tmp_path: Path) -> None:
    path = _write(tmp_path, "date,duration\n2025-05-01 10:00,5\n")
    with pytest.raises(InvalidInput, match="no phone number column"):
        import_call_log(path, "s", owner_phone=OWNER)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("65", 65),
        ("1:05", 65),
        ("00:01:05", 65),
        ("1 мин 5 сек", 65),
        ("1m 5s", 65),
        ("1 ч 2 мин", 3720),
        ("n/a", None),
    ],
)
def test_durations(value: str, seconds: int | None) -> None:
    assert parse_duration(value) == seconds
