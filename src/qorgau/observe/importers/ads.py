"""Classified-ad listings as JSON Lines, as a scraper of ad sites writes them.

Planting a journalist's number in hundreds of fake ads is a known way to bury them in calls,
so the phone fields of a listing are appended to its text: the detectors that look for a
protected number in text then see it whether the site showed it in the description or only
behind a "show number" button.

Accepted keys (case and spacing ignored):

    id       id, ad_id, listing_id
    site     site, platform, domain       (default: the host of the url)
    url      url, link, href
    title    title, name, headline
    text     text, description, body, content
    price    price
    phones   phones, phone, telephone, tel, phone_number, contact_phone
    seller   seller, account, author, user, contact_name
    time     time, posted_at, date, created_at, published_at, scraped_at, seen_at

The key of an ad is ``<site>/<id>`` (ids are only unique within a site), or the sha256 of its
URL, or of the whole record when it has neither."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from qorgau.detect.model import Observation
from qorgau.errors import InvalidInput
from qorgau.observe.encoding import read_text
from qorgau.observe.importers._common import (
    Columns,
    Meter,
    Progress,
    file_size,
    jsonl_records,
    match_columns,
    parse_time,
    reason,
    sha256_hex,
)
from qorgau.observe.normalize import LOCAL_TZ, normalise
from qorgau.observe.result import ImportProblem, ImportResult

ALIASES: Mapping[str, tuple[str, ...]] = {
    "id": ("id", "ad_id", "listing_id"),
    "site": ("site", "platform", "domain"),
    "url": ("url", "link", "href"),
    "title": ("title", "name", "headline"),
    "text": ("text", "description", "body", "content"),
    "price": ("price",),
    "phones": ("phones", "phone", "telephone", "tel", "phone_number", "contact_phone"),
    "seller": ("seller", "account", "author", "user", "contact_name"),
    "time": (
        "time",
        "posted_at",
        "date",
        "created_at",
        "published_at",
        "scraped_at",
        "seen_at",
    ),
}
# Keys that tell an ad record from a post record when the format is not given.
AD_MARKERS = frozenset({"price", "title", "site"})
_PHONE_SEPARATORS = re.compile(r"[,;/\n]+")


def import_ads_jsonl(
    path: Path,
    source: str,
    *,
    site: str | None = None,
    default_tz: tzinfo = LOCAL_TZ,
    progress: Progress | None = None,
) -> ImportResult:
    """``site`` is used for records that name neither a site nor a URL."""
    meter = Meter(file_size(path), progress)
    result = ImportResult()
    for line, record in jsonl_records(read_text(path), meter):
        if isinstance(record, str):
            result.problems.append(ImportProblem(path.name, line, record))
            continue
        try:
            result.observations.append(ad_from_record(record, source, site, default_tz))
        except InvalidInput as exc:
            result.problems.append(ImportProblem(path.name, line, reason(exc)))
    meter.finish()
    return result


def ad_from_record(
    record: Mapping[str, Any], source: str, site: str | None, default_tz: tzinfo
) -> Observation:
    columns = match_columns(record, ALIASES)
    url = columns.text(record, "url")
    platform = columns.text(record, "site") or site_of(url) or site or ""
    if not platform:
        raise InvalidInput.single("site", "required", "the ad names neither its site nor a url")
    title = columns.text(record, "title")
    description = columns.text(record, "text")
    phones = listed_phones(columns.get(record, "phones"))
    ad_id = columns.text(record, "id")
    if ad_id:
        key = f"{platform.lower()}/{ad_id}"
    elif url:
        key = sha256_hex(url)
    else:
        key = sha256_hex(orjson.dumps(dict(record), option=orjson.OPT_SORT_KEYS))
    return normalise(
        source,
        key,
        platform,
        parse_time(columns.get(record, "time")),
        kind="ad",
        account=columns.text(record, "seller"),
        text=ad_text(title, description, phones),
        urls=[url] if url else [],
        extra=_extra(record, columns, title, phones),
        default_tz=default_tz,
    )


def ad_text(title: str, description: str, phones: list[str]) -> str:
    """Title, description and the listed numbers, so detectors read one text."""
    missing = [p for p in phones if p not in description and p not in title]
    return "\n".join(part for part in (title, description, *missing) if part)


def listed_phones(value: object) -> list[str]:
    """Numbers as a list or as one string; spaces are part of a number ("+7 701 …"), so only
    commas, semicolons, slashes and line breaks separate them."""
    if value is None:
        return []
    items = value if isinstance(value, list | tuple) else _PHONE_SEPARATORS.split(str(value))
    return [str(p).strip() for p in items if p is not None and str(p).strip()]


def site_of(url: str) -> str:
    """The host an ad lives on, which is the platform when a listing does not say."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host.removeprefix("www.")


def _extra(
    record: Mapping[str, Any], columns: Columns, title: str, phones: list[str]
) -> dict[str, Any]:
    extra: dict[str, Any] = {column: record[column] for column in columns.unknown}
    if title:
        extra["title"] = title
    price = columns.get(record, "price")
    if price not in (None, ""):
        extra["price"] = price
    if phones:
        extra["listed_phones"] = phones
    return {k: v for k, v in extra.items() if v not in (None, "", [], {})}
