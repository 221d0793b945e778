"""Building an Observation the same way whatever file or API it came from.

Every importer funnels through ``normalise`` so that the rules detectors rely on hold
everywhere: ids are ``<source>:<key>`` and therefore stable across re-imports, times are
UTC, text is NFC (the same Kazakh letter typed on two keyboards compares equal), and the
phone numbers and e-mail addresses planted in a text are pulled out in canonical form, which
is what lets a detector see one number behind two hundred differently written ads."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from qorgau.detect.model import KINDS, Observation
from qorgau.domain.identifiers import DEFAULT_PHONE_REGION, normalize_phone
from qorgau.errors import InvalidInput
from qorgau.observe.language import detect_language


def _local_zone() -> tzinfo:
    """Kazakhstan's time, for exports that write local times without an offset.

    The zone database is preferred over a fixed UTC+5 because the country moved from UTC+6
    to UTC+5 on 1 March 2024, and a call logged in 2023 must keep the offset of its day.
    Without the database (some Windows installs) the current offset is the best we have."""
    try:
        return ZoneInfo("Asia/Almaty")
    except ZoneInfoNotFoundError:
        return timezone(timedelta(hours=5), "Asia/Almaty")


LOCAL_TZ = _local_zone()
PHONE_PLATFORM = "phone"

_URL = re.compile(r"""(?:https?://|www\.)[^\s<>"'«»“”‘’{}|\\^`]+""", re.IGNORECASE)
_URL_TRAILING = ".,;:!?'\"»)]}…"
_EMAIL = re.compile(r"[\w.+%-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}")
_DIGIT = re.compile(r"\d")
# Fewer digits than this cannot hold a phone number worth matching; the matcher is the
# slowest step of an import, so texts without numbers skip it.
_MIN_PHONE_DIGITS = 7


def normalise(
    source: str,
    source_key: str,
    platform: str,
    time: datetime,
    *,
    kind: str,
    account: str,
    text: str,
    urls: Iterable[str] = (),
    media_hashes: Iterable[str] = (),
    recipients: Iterable[str] = (),
    lang: str | None = None,
    extra: Mapping[str, Any] | None = None,
    default_tz: tzinfo | None = None,
    detect_lang: bool = True,
) -> Observation:
    """One Observation, or InvalidInput naming the field that breaks a rule.

    ``default_tz`` is the zone meant by a time without offset; without it such a time is
    refused, because guessing would shift every event by hours. ``lang`` as given wins over
    detection; ``detect_lang=False`` leaves it None for callers that know better."""
    source = source.strip()
    source_key = source_key.strip()
    if not source or ":" in source:
        raise InvalidInput.single(
            "source", "source", "the source name must be non-empty and contain no ':'"
        )
    if not source_key:
        raise InvalidInput.single("id", "required", "the item has no id")
    platform = platform.strip().lower()
    if not platform:
        raise InvalidInput.single("platform", "required", "the platform is missing")
    if kind not in KINDS:
        raise InvalidInput.single("kind", "enum", f"{kind!r} is not a kind of observation", KINDS)
    clean_text = unicodedata.normalize("NFC", text).strip()
    on_phone = platform == PHONE_PLATFORM or kind in ("call", "sms")
    return Observation(
        id=f"{source}:{source_key}",
        source=source,
        platform=platform,
        time=to_utc(time, default_tz),
        kind=kind,
        account=_party(account, on_phone, "account"),
        text=clean_text,
        lang=_language(lang, clean_text, detect_lang),
        urls=_unique([*(u.strip() for u in urls), *extract_urls(clean_text)]),
        media_hashes=_unique(h.strip().lower() for h in media_hashes),
        phones=extract_phones(clean_text),
        emails=extract_emails(clean_text),
        recipients=_unique(_party(r, on_phone, "recipients") for r in recipients),
        extra=dict(extra or {}),
    )


def to_utc(value: datetime, default_tz: tzinfo | None = None) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        if default_tz is None:
            raise InvalidInput.single(
                "time",
                "timezone",
                f"{value.isoformat()} has no time zone; add an offset such as +05:00",
            )
        value = value.replace(tzinfo=default_tz)
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise InvalidInput.single(
            "time", "datetime", f"{value.isoformat()} is out of the range of dates"
        ) from exc


def extract_urls(text: str) -> tuple[str, ...]:
    found = []
    for match in _URL.finditer(text):
        url = match.group()
        while url and url[-1] in _URL_TRAILING:
            # A closing bracket belongs to the URL when the URL opened one (Wikipedia-style).
            if url[-1] == ")" and url.count("(") >= url.count(")"):
                break
            url = url[:-1]
        if url.lower().startswith("www."):
            url = "http://" + url
        if len(url) > len("http://"):
            found.append(url)
    return _unique(found)


def extract_phones(text: str, region: str = DEFAULT_PHONE_REGION) -> tuple[str, ...]:
    """Valid numbers only: accepting merely possible ones would turn prices, dates and order
    numbers into phone numbers that then link unrelated ads."""
    if len(_DIGIT.findall(text)) < _MIN_PHONE_DIGITS:
        return ()
    return _unique(
        phonenumbers.format_number(m.number, phonenumbers.PhoneNumberFormat.E164)
        for m in phonenumbers.PhoneNumberMatcher(text, region)
    )


def extract_emails(text: str) -> tuple[str, ...]:
    if "@" not in text:
        return ()
    return _unique(m.group().strip(".").lower() for m in _EMAIL.finditer(text))


def _party(value: str, on_phone: bool, field_name: str) -> str:
    """An account or recipient; on the phone network it must be a number, kept as E.164 so
    that "8 701 …" and "+7 701 …" count as one caller. Empty stays empty (a hidden caller)."""
    value = unicodedata.normalize("NFC", value).strip()
    if not value or not on_phone:
        return value
    return normalize_phone(value, field_name)


def _language(given: str | None, text: str, detect: bool) -> str | None:
    if given and given.strip():
        # "ru-RU", "RU", "kk_KZ" all mean the language detectors filter on.
        return re.split(r"[-_]", given.strip(), maxsplit=1)[0].lower()
    return detect_language(text) if detect and text else None


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))
