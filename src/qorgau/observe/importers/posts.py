"""Posts as CSV or JSON Lines: the generic way in for anything scraped or exported elsewhere.

Accepted columns (JSON keys), case and spacing ignored:

    id          id, post_id, message_id
    platform    platform, network
    account     account, author, user, username, handle, screen_name
    time        time, date, created_at, timestamp, datetime, published_at
                (ISO 8601, unix seconds or milliseconds, DD.MM.YYYY HH:MM)
    text        text, body, content, message
    urls        urls, links, url (a list, or one cell of space-separated URLs)
    lang        lang, language
    kind        kind (post, message, comment, mention, ...; default post)
    recipients  recipients
    media_hashes media_hashes

Other columns are kept in ``extra``. A row without an id gets one made from its platform,
account, time and text, so re-importing the same file still yields the same ids.

The JSON Lines form is also what ``qorgau detect run --input`` reads, through
``read_observations_jsonl``: there an id that already contains ':' is a complete observation
id (``<source>:<key>``, as written by ``Observation.to_json``) and is kept as it is, so
observations exported and read back keep their identity; other ids (and URLs used as ids,
"https://…") get the source prefix."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import tzinfo
from pathlib import Path
from typing import Any

from qorgau.detect.model import Observation
from qorgau.errors import InvalidInput
from qorgau.observe.encoding import read_text
from qorgau.observe.importers._common import (
    Columns,
    Meter,
    Progress,
    as_list,
    csv_rows,
    file_size,
    jsonl_records,
    match_columns,
    parse_time,
    reason,
    sha256_hex,
)
from qorgau.observe.normalize import LOCAL_TZ, normalise, to_utc
from qorgau.observe.result import ImportProblem, ImportResult

ALIASES: Mapping[str, tuple[str, ...]] = {
    "id": ("id", "post_id", "message_id"),
    "platform": ("platform", "network"),
    "account": ("account", "author", "user", "username", "handle", "screen_name"),
    "time": ("time", "date", "created_at", "timestamp", "datetime", "published_at"),
    "text": ("text", "body", "content", "message"),
    "urls": ("urls", "links", "url"),
    "lang": ("lang", "language"),
    "kind": ("kind",),
    "recipients": ("recipients",),
    "media_hashes": ("media_hashes",),
}
# Where a detector run's reader keeps each line's own id until ``exact_id`` restores it.
GIVEN_ID = "_given_id"
# Fields of Observation.to_json that are recomputed from the text rather than trusted.
_RECOMPUTED = frozenset({"source", "phones", "emails", "extra"})


def import_posts_jsonl(
    path: Path,
    source: str,
    *,
    platform: str | None = None,
    default_tz: tzinfo = LOCAL_TZ,
    progress: Progress | None = None,
) -> ImportResult:
    """``platform`` is used for records that do not name theirs."""
    return _import_jsonl(path, source, platform, default_tz, progress, keep_full_ids=False)


def read_observations_jsonl(
    path: Path,
    *,
    source: str = "file",
    default_tz: tzinfo = LOCAL_TZ,
    progress: Progress | None = None,
    exact_ids: bool = False,
) -> ImportResult:
    """Observations for a detector run; see the module notes on ids. With ``exact_ids`` each
    observation keeps the id its line gave, as it is: findings then name the lines the way
    their author knows them ("17", not "file:17")."""
    result = _import_jsonl(path, source, None, default_tz, progress, keep_full_ids=True)
    result.observations[:] = [
        exact_id(ob) if exact_ids else _without_given_id(ob) for ob in result.observations
    ]
    return result


def _without_given_id(ob: Observation) -> Observation:
    if GIVEN_ID not in ob.extra:
        return ob
    return replace(ob, extra={k: v for k, v in ob.extra.items() if k != GIVEN_ID})


def exact_id(ob: Observation) -> Observation:
    """The id as the input wrote it (kept in ``extra`` by ``post_from_row``)."""
    given = ob.extra.get(GIVEN_ID)
    if not isinstance(given, str) or not given:
        return _without_given_id(ob)
    return replace(_without_given_id(ob), id=given)


def import_posts_csv(
    path: Path,
    source: str,
    *,
    platform: str | None = None,
    default_tz: tzinfo = LOCAL_TZ,
    progress: Progress | None = None,
) -> ImportResult:
    meter = Meter(file_size(path), progress)
    header, rows = csv_rows(read_text(path), path.name, meter)
    columns = match_columns(header, ALIASES)
    if "time" not in columns:
        raise InvalidInput.single(
            "file",
            "columns",
            f"{path.name} has no time column; name one of its columns {', '.join(ALIASES['time'])}",
        )
    if "text" not in columns and "urls" not in columns:
        raise InvalidInput.single(
            "file",
            "columns",
            f"{path.name} has no text column; name one of its columns {', '.join(ALIASES['text'])}",
        )
    result = _collect(
        path.name,
        ((line, row if isinstance(row, str) else (row, columns)) for line, row in rows),
        source,
        platform,
        default_tz,
        keep_full_ids=False,
    )
    meter.finish()
    return result


def _import_jsonl(
    path: Path,
    source: str,
    platform: str | None,
    default_tz: tzinfo,
    progress: Progress | None,
    *,
    keep_full_ids: bool,
) -> ImportResult:
    meter = Meter(file_size(path), progress)
    records = jsonl_records(read_text(path), meter)
    result = _collect(
        path.name,
        (
            (line, rec if isinstance(rec, str) else (rec, match_columns(rec, ALIASES)))
            for line, rec in records
        ),
        source,
        platform,
        default_tz,
        keep_full_ids=keep_full_ids,
    )
    meter.finish()
    return result


def _collect(
    name: str,
    rows: Iterator[tuple[int, tuple[Mapping[str, Any], Columns] | str]],
    source: str,
    platform: str | None,
    default_tz: tzinfo,
    *,
    keep_full_ids: bool,
) -> ImportResult:
    result = ImportResult()
    for line, item in rows:
        if isinstance(item, str):
            result.problems.append(ImportProblem(name, line, item))
            continue
        row, columns = item
        try:
            result.observations.append(
                post_from_row(row, columns, source, platform, default_tz, keep_full_ids)
            )
        except InvalidInput as exc:
            result.problems.append(ImportProblem(name, line, reason(exc)))
    return result


def post_from_row(
    row: Mapping[str, Any],
    columns: Columns,
    source: str,
    platform: str | None,
    default_tz: tzinfo,
    keep_full_ids: bool,
) -> Observation:
    row_platform = columns.text(row, "platform") or platform or ""
    if not row_platform:
        raise InvalidInput.single("platform", "required", "the platform is missing")
    when = to_utc(parse_time(columns.get(row, "time")), default_tz)
    account = columns.text(row, "account")
    text = columns.text(row, "text")
    key = columns.text(row, "id")
    given = key
    if keep_full_ids and ":" in key and not key.split(":", 1)[1].startswith("//"):
        source, key = key.split(":", 1)
    if not key:
        key = sha256_hex(row_platform.lower(), account, when.isoformat(), text)
    extra: dict[str, Any] = {GIVEN_ID: given} if keep_full_ids and given else {}
    given_extra = row.get("extra")
    if isinstance(given_extra, Mapping):
        extra.update(given_extra)
    for column in columns.unknown:
        value = row.get(column)
        if column not in _RECOMPUTED and value not in (None, "", [], {}):
            extra[column] = value
    return normalise(
        source,
        key,
        row_platform,
        when,
        kind=columns.text(row, "kind") or "post",
        account=account,
        text=text,
        urls=as_list(columns.get(row, "urls")),
        media_hashes=as_list(columns.get(row, "media_hashes")),
        recipients=as_list(columns.get(row, "recipients")),
        lang=columns.text(row, "lang") or None,
        extra=extra,
        default_tz=default_tz,
    )
