"""Telegram Desktop exports ("Export chat history" / "Export Telegram data", JSON format).

Both shapes are read: one chat or channel ({"name", "type", "id", "messages"}) and the whole
account ({"chats": {"list": [...]}, "left_chats": {"list": [...]}}). Service messages
("X joined", "pinned a message") say nothing about attacks; they are counted in ``skipped``
rather than reported as problems.

Ids are ``<source>:<chat id>/<message id>``. Times come from ``date_unixtime`` when present;
older exports only have ``date``, the local time of the computer that exported, which is read
in the ``default_tz`` zone. Photos and files are referred to by their path relative to the
export folder (``extra["photo"]``, ``extra["file"]``); when the file is there, its sha256 goes
into ``media_hashes`` so the same image planted in many chats can be matched."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime, tzinfo
from pathlib import Path, PurePosixPath
from typing import Any

import orjson

from qorgau.detect.model import Observation
from qorgau.errors import InvalidInput
from qorgau.observe.encoding import read_text
from qorgau.observe.importers._common import Meter, Progress, file_size, parse_time, reason
from qorgau.observe.normalize import LOCAL_TZ, normalise
from qorgau.observe.result import ImportProblem, ImportResult

CHANNEL_TYPES = frozenset({"public_channel", "private_channel", "channel"})
_MEDIA_KEYS = ("photo", "file", "thumbnail")
_EXTRA_KEYS = (
    "media_type",
    "mime_type",
    "forwarded_from",
    "reply_to_message_id",
    "edited",
    "via_bot",
    "saved_from",
)
_HASH_CHUNK = 1 << 20


def import_telegram(
    path: Path,
    source: str,
    *,
    default_tz: tzinfo = LOCAL_TZ,
    hash_media: bool = True,
    progress: Progress | None = None,
) -> ImportResult:
    """``hash_media=False`` skips reading photos and files, for exports too large to hash."""
    meter = Meter(file_size(path), progress)
    chats = _chats(_load(path), path.name)
    total = sum(len(_messages(chat)) for chat in chats) or 1
    folder = path.parent if hash_media else None
    result = ImportResult()
    skipped = 0
    done = 0
    for chat in chats:
        for position, message in enumerate(_messages(chat)):
            done += 1
            meter.fraction(done, total)
            if not isinstance(message, dict):
                result.problems.append(
                    ImportProblem(path.name, None, f"{_where(chat, position)}: not a message")
                )
                continue
            if message.get("type", "message") != "message":
                skipped += 1
                continue
            try:
                result.observations.append(
                    message_observation(chat, message, source, default_tz, folder)
                )
            except InvalidInput as exc:
                where = _where(chat, position, message.get("id"))
                result.problems.append(ImportProblem(path.name, None, f"{where}: {reason(exc)}"))
            except (TypeError, ValueError) as exc:
                # Hand-edited or truncated exports put odd values where Telegram never would.
                where = _where(chat, position, message.get("id"))
                result.problems.append(
                    ImportProblem(path.name, None, f"{where}: malformed message ({exc})")
                )
    meter.finish()
    return ImportResult(result.observations, result.problems, skipped)


def message_observation(
    chat: Mapping[str, Any],
    message: Mapping[str, Any],
    source: str,
    default_tz: tzinfo,
    folder: Path | None = None,
) -> Observation:
    chat_id = chat.get("id")
    message_id = message.get("id")
    if chat_id is None or message_id is None:
        raise InvalidInput.single("id", "required", "the chat or the message has no id")
    text, links = message_text(message)
    extra: dict[str, Any] = {"chat": chat.get("name") or "", "chat_type": chat.get("type") or ""}
    hashes = []
    for key in _MEDIA_KEYS:
        relative = message.get(key)
        if isinstance(relative, str) and relative:
            extra[key] = relative
            digest = _media_hash(folder, relative) if folder is not None else None
            if digest:
                hashes.append(digest)
    extra.update({k: message[k] for k in _EXTRA_KEYS if message.get(k) not in (None, "")})
    return normalise(
        source,
        f"{chat_id}/{message_id}",
        "telegram",
        _message_time(message),
        kind="post" if str(chat.get("type")) in CHANNEL_TYPES else "message",
        account=str(message.get("from_id") or message.get("from") or f"chat{chat_id}"),
        text=text,
        urls=links,
        media_hashes=hashes,
        extra=extra,
        default_tz=default_tz,
    )


def message_text(message: Mapping[str, Any]) -> tuple[str, list[str]]:
    """The plain text and the link targets hidden behind words ("text_link" entities), which
    the text alone would lose: "read this" pointing to a smear site is the evidence."""
    parts = message.get("text")
    if parts is None or parts == "":
        parts = message.get("text_entities") or ""
    if isinstance(parts, str):
        return parts, []
    pieces: list[str] = []
    links: list[str] = []
    for part in parts if isinstance(parts, list) else []:
        if isinstance(part, str):
            pieces.append(part)
        elif isinstance(part, dict):
            pieces.append(str(part.get("text") or ""))
            href = part.get("href")
            if isinstance(href, str) and href:
                links.append(href)
    return "".join(pieces), links


def _message_time(message: Mapping[str, Any]) -> datetime:
    unix = message.get("date_unixtime")
    if unix not in (None, ""):
        return parse_time(int(unix) if isinstance(unix, str) and unix.isdigit() else unix)
    return parse_time(message.get("date"))


def _load(path: Path) -> Any:
    try:
        return orjson.loads(read_text(path))
    except orjson.JSONDecodeError as exc:
        raise InvalidInput.single(
            "file",
            "json",
            f"{path.name} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "export the chat again from Telegram Desktop choosing the JSON format",
        ) from exc


def _chats(data: Any, name: str) -> list[dict[str, Any]]:
    if isinstance(data, dict) and isinstance(data.get("messages"), list):
        return [data]
    if isinstance(data, dict) and isinstance(data.get("chats"), dict):
        chats: list[dict[str, Any]] = []
        for section in ("chats", "left_chats"):
            holder = data.get(section)
            listed = holder.get("list") if isinstance(holder, dict) else None
            if isinstance(listed, list):
                chats.extend(c for c in listed if isinstance(c, dict))
        return chats
    raise InvalidInput.single(
        "file",
        "format",
        f'{name} is not a Telegram Desktop export: it has neither "messages" nor '
        '"chats"; export with Telegram Desktop (Export chat history, format JSON)',
    )


def _messages(chat: Mapping[str, Any]) -> list[Any]:
    messages = chat.get("messages")
    return messages if isinstance(messages, list) else []


def _where(chat: Mapping[str, Any], position: int, message_id: object = None) -> str:
    label = chat.get("name") or chat.get("id") or "chat"
    if message_id is not None:
        return f"chat {label!s}, message {message_id!s}"
    return f"chat {label!s}, message #{position + 1}"


def _media_hash(folder: Path, relative: str) -> str | None:
    """sha256 of a file the export saved next to result.json; None when the export left it
    out ("File not included…") or the path leads outside the export folder."""
    parts = PurePosixPath(relative.replace("\\", "/"))
    if parts.is_absolute() or ".." in parts.parts:
        return None
    target = folder.joinpath(*parts.parts)
    try:
        digest = hashlib.sha256()
        with target.open("rb") as handle:
            while chunk := handle.read(_HASH_CHUNK):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()
