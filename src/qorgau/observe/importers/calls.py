"""Call and SMS logs exported from phones or operators' personal accounts, as CSV.

A flood of calls is measured per person, so every row becomes who called (``account``) and
whom (``recipients``), both in E.164 whatever way the phone wrote them. The ids are the sha256
of (time, caller, callee, kind), plus a counter when the same four values repeat within one
file (two texts in the same second), so importing the same log twice, or an overlapping later
export, stores each call once.

Header names vary by phone, app and language; these are recognised (case, spaces and
punctuation ignored; the first match wins):

    when      datetime, date time, timestamp, start time, call date, дата и время,
              дата время, начало, басталуы
              or a date column (date, дата, күні, day) plus a time column
              (time, время, уақыты, clock); a lone "time" column may hold both
    direction direction, call direction, направление, бағыты
    from      from, caller, calling number, sender, от, от кого, вызывающий, отправитель,
              кімнен
    number    number, phone, phone number, номер, телефон, номер телефона, абонент,
              нөмір, contact number
    to        to, callee, recipient, called number, receiver, кому, вызываемый,
              получатель, номер получателя, кімге
    type      type, kind, call type, event, тип, вид, тип вызова, түрі
    duration  duration, duration s, duration sec, length, длительность,
              продолжительность, длительность сек, ұзақтығы
    text      text, body, message, sms text, текст, сообщение, мәтін
    name      name, contact, contact name, имя, контакт, аты

Direction and type values are read in English, Russian and Kazakh ("incoming", "Входящий",
"Кіріс", "missed", "пропущенный", "SMS", "звонок"), and as the numbers Android uses
(1 incoming, 2 outgoing, 3 missed, 5 rejected, 6 blocked); either column may hold both
("Входящий звонок").

With a ``to`` column, the ``from``/``number`` column is the caller. Without one, the number
column is the other party: the caller of incoming and missed calls and the callee of outgoing
ones, the other side being the phone the log came from, ``owner_phone``, which must then be
given. A row without direction is taken as incoming. A hidden caller ("Private number",
"Скрытый номер", empty) is kept with an empty account and ``extra["caller_hidden"]``, since
anonymous calls are part of many floods; a number that cannot be read is a problem row."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from datetime import tzinfo
from pathlib import Path
from typing import Any

from qorgau.detect.model import Observation
from qorgau.domain.identifiers import normalize_phone
from qorgau.errors import InvalidInput
from qorgau.observe.encoding import read_text
from qorgau.observe.importers._common import (
    Columns,
    Meter,
    Progress,
    csv_rows,
    file_size,
    header_key,
    match_columns,
    parse_time,
    reason,
    sha256_hex,
)
from qorgau.observe.normalize import LOCAL_TZ, PHONE_PLATFORM, normalise, to_utc
from qorgau.observe.result import ImportProblem, ImportResult

ALIASES: Mapping[str, tuple[str, ...]] = {
    "when": (
        "datetime",
        "date time",
        "timestamp",
        "start time",
        "call date",
        "дата и время",
        "дата время",
        "начало",
        "басталуы",
    ),
    "date": ("date", "дата", "күні", "day"),
    "clock": ("time", "время", "уақыты", "clock"),
    "direction": ("direction", "call direction", "направление", "бағыты"),
    "from": (
        "from",
        "caller",
        "calling number",
        "sender",
        "от",
        "от кого",
        "вызывающий",
        "отправитель",
        "кімнен",
    ),
    "number": (
        "number",
        "phone",
        "phone number",
        "номер",
        "телефон",
        "номер телефона",
        "абонент",
        "нөмір",
        "contact number",
    ),
    "to": (
        "to",
        "callee",
        "recipient",
        "called number",
        "receiver",
        "кому",
        "вызываемый",
        "получатель",
        "номер получателя",
        "кімге",
    ),
    "type": ("type", "kind", "call type", "event", "тип", "вид", "тип вызова", "түрі"),
    "duration": (
        "duration",
        "duration s",
        "duration sec",
        "length",
        "длительность",
        "продолжительность",
        "длительность сек",
        "ұзақтығы",
    ),
    "text": ("text", "body", "message", "sms text", "текст", "сообщение", "мәтін"),
    "name": ("name", "contact", "contact name", "имя", "контакт", "аты"),
}

# Prefixes of words, checked in this order: "missed incoming call" is missed.
_DIRECTIONS = (
    ("missed", ("missed", "пропущ", "непринят", "неотвеч", "қабылданбаған", "жіберіліп")),
    ("rejected", ("reject", "declin", "отклон", "сброш", "қабылдамаған")),
    ("blocked", ("block", "заблок", "блок", "бұғат")),
    ("out", ("out", "исход", "шығыс", "dial", "sent", "отправ", "жіберілген")),
    ("in", ("in", "вход", "кіріс", "receiv", "получ", "қабылданған")),
)
_ANDROID_DIRECTIONS = {"1": "in", "2": "out", "3": "missed", "5": "rejected", "6": "blocked"}
_SMS_WORDS = ("sms", "смс", "mms", "ммс", "text", "messag", "сообщ", "хабар")
_CALL_WORDS = ("call", "звон", "вызов", "voice", "голос", "қоңырау")
_HIDDEN = (
    "unknown",
    "private",
    "hidden",
    "anonymous",
    "restricted",
    "withheld",
    "скрыт",
    "неизвест",
    "частн",
    "нет номера",
    "жасырын",
    "белгісіз",
)
_DURATION_PART = re.compile(r"(\d+)\s*(h|ч|час|сағ|m|min|мин|м|s|sec|сек|с)\w*", re.IGNORECASE)
_UNIT_SECONDS = {
    "h": 3600,
    "ч": 3600,
    "час": 3600,
    "сағ": 3600,
    "m": 60,
    "min": 60,
    "мин": 60,
    "м": 60,
    "s": 1,
    "sec": 1,
    "сек": 1,
    "с": 1,
}
_INCOMING = frozenset({"in", "missed", "rejected", "blocked"})


def looks_like_call_log(header: list[str]) -> bool:
    """Whether a CSV header is a call log's rather than a list of posts."""
    keys = {header_key(h) for h in header}
    wanted = {header_key(a) for name in ("direction", "duration") for a in ALIASES[name]}
    return bool(keys & wanted)


def import_call_log(
    path: Path,
    source: str,
    *,
    owner_phone: str | None = None,
    default_tz: tzinfo = LOCAL_TZ,
    progress: Progress | None = None,
) -> ImportResult:
    """``owner_phone`` is the number of the phone the log was taken from; needed only when
    the log has no callee column."""
    meter = Meter(file_size(path), progress)
    header, rows = csv_rows(read_text(path), path.name, meter)
    columns = match_columns(header, ALIASES)
    _check_columns(columns, path.name)
    owner = normalize_phone(owner_phone, "owner_phone") if owner_phone else None
    if "to" not in columns and owner is None:
        raise InvalidInput.single(
            "owner_phone",
            "required",
            f"{path.name} has no callee column (to, кому); give the number of the phone "
            "the log was taken from",
        )
    result = ImportResult()
    repeats: Counter[str] = Counter()
    for line, row in rows:
        if isinstance(row, str):
            result.problems.append(ImportProblem(path.name, line, row))
            continue
        try:
            result.observations.append(
                call_from_row(row, columns, source, owner, default_tz, repeats)
            )
        except InvalidInput as exc:
            result.problems.append(ImportProblem(path.name, line, reason(exc)))
    meter.finish()
    return result


def call_from_row(
    row: Mapping[str, str],
    columns: Columns,
    source: str,
    owner: str | None,
    default_tz: tzinfo,
    repeats: Counter[str],
) -> Observation:
    """``repeats`` counts the keys seen so far in the file, to number identical rows."""
    when = to_utc(parse_time(_when(row, columns)), default_tz)
    described = f"{columns.text(row, 'direction')} {columns.text(row, 'type')}"
    direction = parse_direction(described) or "in"
    text = columns.text(row, "text")
    kind = parse_kind(described) or ("sms" if text and "duration" not in columns else "call")
    first = columns.text(row, "from") or columns.text(row, "number")
    if "to" in columns:
        caller, callee = _number(first, "from"), _number(columns.text(row, "to"), "to")
    elif direction in _INCOMING:
        caller, callee = _number(first, "number"), owner or ""
    else:
        caller, callee = owner or "", _number(first, "number")
    material = sha256_hex(when.isoformat(), caller, callee, kind)
    repeats[material] += 1
    key = material if repeats[material] == 1 else f"{material}-{repeats[material]}"
    extra: dict[str, Any] = {"direction": direction}
    duration = columns.text(row, "duration")
    if duration:
        seconds = parse_duration(duration)
        extra.update({"duration_s": seconds} if seconds is not None else {"duration": duration})
    if not caller:
        extra["caller_hidden"] = True
    name = columns.text(row, "name")
    if name:
        extra["contact_name"] = name
    return normalise(
        source,
        key,
        PHONE_PLATFORM,
        when,
        kind=kind,
        account=caller,
        text=text,
        recipients=[callee] if callee else [],
        extra=extra,
        default_tz=default_tz,
        detect_lang=bool(text),
    )


def parse_direction(value: str) -> str | None:
    words = re.findall(r"\w+", value.lower())
    for word in words:
        if word in _ANDROID_DIRECTIONS:
            return _ANDROID_DIRECTIONS[word]
    for direction, prefixes in _DIRECTIONS:
        if any(w.startswith(prefixes) for w in words):
            return direction
    return None


def parse_kind(value: str) -> str | None:
    words = re.findall(r"\w+", value.lower())
    if any(w.startswith(_SMS_WORDS) for w in words):
        return "sms"
    if any(w.startswith(_CALL_WORDS) for w in words):
        return "call"
    return None


def parse_duration(value: str) -> int | None:
    """Seconds from "65", "1:05", "00:01:05", "1 мин 5 сек" or "1m 5s"."""
    text = value.strip().lower()
    if text.isdigit():
        return int(text)
    if re.fullmatch(r"\d+(?::\d{1,2}){1,2}", text):
        seconds = 0
        for part in text.split(":"):
            seconds = seconds * 60 + int(part)
        return seconds
    parts = _DURATION_PART.findall(text)
    if not parts:
        return None
    return sum(int(amount) * _UNIT_SECONDS.get(unit, 1) for amount, unit in parts)


def _number(value: str, field_name: str) -> str:
    """E.164, or "" for a hidden number; InvalidInput for anything else unreadable."""
    stripped = value.strip()
    if not stripped:
        return ""
    # Android writes -1, -2 or -3 for unknown, private and payphone callers.
    android_marker = stripped.lstrip("-").isdigit() and len(stripped) <= 2
    if android_marker or any(marker in stripped.lower() for marker in _HIDDEN):
        return ""
    return normalize_phone(stripped, field_name)


def _when(row: Mapping[str, str], columns: Columns) -> str:
    if columns.text(row, "when"):
        return columns.text(row, "when")
    day, clock = columns.text(row, "date"), columns.text(row, "clock")
    return f"{day} {clock}".strip()


def _check_columns(columns: Columns, name: str) -> None:
    if not {"when", "date", "clock"} & set(columns.found):
        raise InvalidInput.single(
            "file",
            "columns",
            f"{name} has no date or time column; name one of them "
            f"{', '.join(ALIASES['when'][:3] + ALIASES['date'][:2])}",
        )
    if not {"from", "number", "to"} & set(columns.found):
        raise InvalidInput.single(
            "file",
            "columns",
            f"{name} has no phone number column; name one of them "
            f"{', '.join(ALIASES['from'][:2] + ALIASES['number'][:5])}",
        )
