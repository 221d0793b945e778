"""Strikes, restrictions and suspensions of a protected outlet's social accounts.

Outlets in Kazakhstan have lost their accounts to orchestrated complaints: a wave of "report
this channel" posts, then a strike, then a suspension. The platform's own notices are the other
half of that story, so staff record them as they arrive (or import the list they kept in a
spreadsheet) and the desk lines them up against the complaint waves it saw.

Accepted columns (JSON keys), case and spacing ignored; the first match wins:

    platform   platform, network, платформа, желі
    account    account, handle, username, channel, page, аккаунт, канал, аккаунт атауы
    action     action, event, type, действие, санкция, әрекет
    time       time, date, when, datetime, timestamp, дата, время, уақыты, күні
    reason     reason, stated reason, platform reason, причина, себебі
    reference  reference, reference number, case, case id, ticket, номер, номер обращения,
               өтініш нөмірі

Actions are read in English, Russian and Kazakh ("strike", "ограничение", "бұғаттау"). A time
without a zone is read in ``default_tz``. Rows that cannot be read are reported with their line
and left out; the others are kept."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from qorgau.errors import InvalidInput
from qorgau.observe.encoding import read_text
from qorgau.observe.importers._common import (
    Columns,
    Meter,
    csv_rows,
    file_size,
    jsonl_records,
    match_columns,
    parse_time,
    reason,
    sha256_hex,
)
from qorgau.observe.normalize import LOCAL_TZ, to_utc
from qorgau.observe.result import ImportProblem

ACTIONS = ("strike", "restriction", "suspension", "removal", "reinstatement", "warning")
# Actions that take something away from the outlet: what an appeal is about.
ADVERSE_ACTIONS = frozenset({"strike", "restriction", "suspension", "removal", "warning"})
SOURCES = ("staff", "import")

_ACTION_WORDS: Mapping[str, str] = {
    **{a: a for a in ACTIONS},
    "community guidelines strike": "strike",
    "страйк": "strike",
    "предупреждение": "warning",
    "ескерту": "warning",
    "restricted": "restriction",
    "limited": "restriction",
    "shadowban": "restriction",
    "ограничение": "restriction",
    "ограничен": "restriction",
    "шектеу": "restriction",
    "suspended": "suspension",
    "ban": "suspension",
    "banned": "suspension",
    "blocked": "suspension",
    "блокировка": "suspension",
    "заблокирован": "suspension",
    "бан": "suspension",
    "бұғаттау": "suspension",
    "бұғатталды": "suspension",
    "removed": "removal",
    "deleted": "removal",
    "takedown": "removal",
    "удаление": "removal",
    "удален": "removal",
    "жою": "removal",
    "жойылды": "removal",
    "reinstated": "reinstatement",
    "restored": "reinstatement",
    "восстановление": "reinstatement",
    "восстановлен": "reinstatement",
    "қалпына келтіру": "reinstatement",
    "қалпына келтірілді": "reinstatement",
}

ALIASES: Mapping[str, tuple[str, ...]] = {
    "platform": ("platform", "network", "платформа", "желі"),
    "account": (
        "account",
        "handle",
        "username",
        "channel",
        "page",
        "аккаунт",
        "канал",
        "аккаунт атауы",
    ),
    "action": ("action", "event", "type", "действие", "санкция", "әрекет"),
    "time": (
        "time",
        "date",
        "when",
        "datetime",
        "timestamp",
        "дата",
        "время",
        "уақыты",
        "күні",
    ),
    "reason": ("reason", "stated reason", "platform reason", "причина", "себебі"),
    "reference": (
        "reference",
        "reference number",
        "case",
        "case id",
        "ticket",
        "номер",
        "номер обращения",
        "өтініш нөмірі",
    ),
}

_URL_HANDLE = re.compile(r"^(?:https?://)?(?:www\.|m\.)?[^/\s]+\.[a-z]{2,}/(?:@)?([^/?#\s]+)", re.I)


@dataclass(frozen=True)
class AccountAction:
    """One platform decision about one account. ``account`` is the handle, lower-case,
    without "@"; ``at`` is in UTC."""

    platform: str
    account: str
    action: str
    at: datetime
    reason: str = ""
    reference: str = ""
    source: str = "staff"

    @property
    def id(self) -> str:
        """Stable across re-imports of the same notice, so a list imported twice is kept once."""
        return sha256_hex(
            self.platform, self.account, self.action, self.at.isoformat(), self.reference
        )[:32]

    @property
    def adverse(self) -> bool:
        return self.action in ADVERSE_ACTIONS

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "platform": self.platform,
            "account": self.account,
            "action": self.action,
            "at": self.at.isoformat().replace("+00:00", "Z"),
            "reason": self.reason,
            "reference": self.reference,
            "source": self.source,
        }


@dataclass
class AccountActionImport:
    actions: list[AccountAction] = field(default_factory=list)
    problems: list[ImportProblem] = field(default_factory=list)


def normalize_handle(value: str) -> str:
    """ "@Orda_KZ", "https://t.me/orda_kz", "instagram.com/orda_kz/" → "orda_kz"."""
    text = value.strip()
    found = _URL_HANDLE.match(text)
    if found:
        text = found.group(1)
    return text.lstrip("@").strip().lower()


def parse_action(value: str) -> str:
    word = " ".join(value.strip().lower().replace("ё", "е").split())
    action = _ACTION_WORDS.get(word)
    if action is None:
        raise InvalidInput.single(
            "action",
            "choice",
            f"{value!r} is not an action; use one of {', '.join(ACTIONS)}",
            ACTIONS,
        )
    return action


def new_account_action(
    platform: str,
    account: str,
    action: str,
    at: datetime,
    *,
    reason: str = "",
    reference: str = "",
    source: str = "staff",
) -> AccountAction:
    """An action as staff enter it; raises InvalidInput naming the field that is wrong."""
    platform = platform.strip().lower()
    if not platform:
        raise InvalidInput.single("platform", "required", "name the platform, e.g. instagram")
    if len(platform) > 60:
        raise InvalidInput.single(
            "platform", "max_length", "a platform name is at most 60 characters"
        )
    handle = normalize_handle(account)
    if len(handle) > 200:
        raise InvalidInput.single(
            "account",
            "max_length",
            "a handle is at most 200 characters; give the handle, not a post",
        )
    if not handle:
        raise InvalidInput.single("account", "required", "give the account's handle, e.g. @orda_kz")
    if source not in SOURCES:
        raise InvalidInput.single("source", "choice", f"unknown source {source!r}", SOURCES)
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidInput.single(
            "at", "timezone", "give the time with its zone, e.g. 2025-05-01T10:00:00+05:00"
        )
    return AccountAction(
        platform=platform,
        account=handle,
        action=parse_action(action),
        at=to_utc(at),
        reason=reason.strip(),
        reference=reference.strip(),
        source=source,
    )


def import_account_actions_csv(
    path: Path, *, platform: str | None = None, default_tz: tzinfo = LOCAL_TZ
) -> AccountActionImport:
    """``platform`` is used for rows that do not name theirs. Raises InvalidInput when the
    file itself is unusable (empty, no action or time column)."""
    header, rows = csv_rows(read_text(path), path.name, Meter(file_size(path), None))
    columns = match_columns(header, ALIASES)
    for needed in ("account", "action", "time"):
        if needed not in columns:
            raise InvalidInput.single(
                "file",
                "columns",
                f"{path.name} has no {needed} column; name one of its columns "
                f"{', '.join(ALIASES[needed])}",
            )
    return _collect(
        path.name,
        ((line, row if isinstance(row, str) else (row, columns)) for line, row in rows),
        platform,
        default_tz,
    )


def import_account_actions_jsonl(
    path: Path, *, platform: str | None = None, default_tz: tzinfo = LOCAL_TZ
) -> AccountActionImport:
    records = jsonl_records(read_text(path), Meter(file_size(path), None))
    return _collect(
        path.name,
        (
            (line, rec if isinstance(rec, str) else (rec, match_columns(rec, ALIASES)))
            for line, rec in records
        ),
        platform,
        default_tz,
    )


def _collect(
    name: str,
    rows: Iterator[tuple[int, tuple[Mapping[str, Any], Columns] | str]],
    platform: str | None,
    default_tz: tzinfo,
) -> AccountActionImport:
    result = AccountActionImport()
    seen: set[str] = set()
    for line, item in rows:
        if isinstance(item, str):
            result.problems.append(ImportProblem(name, line, item))
            continue
        row, columns = item
        try:
            action = _from_row(row, columns, platform, default_tz)
        except InvalidInput as exc:
            result.problems.append(ImportProblem(name, line, reason(exc)))
            continue
        if action.id in seen:
            result.problems.append(
                ImportProblem(name, line, "the same action appears on an earlier line; kept once")
            )
            continue
        seen.add(action.id)
        result.actions.append(action)
    return result


def _from_row(
    row: Mapping[str, Any], columns: Columns, platform: str | None, default_tz: tzinfo
) -> AccountAction:
    when = to_utc(parse_time(columns.get(row, "time")), default_tz)
    return new_account_action(
        columns.text(row, "platform") or platform or "",
        columns.text(row, "account"),
        columns.text(row, "action"),
        when,
        reason=columns.text(row, "reason"),
        reference=columns.text(row, "reference"),
        source="import",
    )
