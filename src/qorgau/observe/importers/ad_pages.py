"""Saved web pages of single classified ads ("Save page as…" in a browser).

Responders often have only the pages a journalist or a volunteer saved before the ads were
taken down, so everything is read from the page itself: the structured data sites publish for
search engines (JSON-LD, Open Graph) first, the visible text after it. The key of a page is
the sha256 of its canonical URL, so the same ad saved twice is one observation; a page with
no URL at all is keyed by the sha256 of its bytes.

When a page states no publication time, the file's modification time (when it was saved) is
used and ``extra["time_source"]`` says so, because an ad without a time would otherwise be
dropped, and the time it was seen is the next best evidence."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from bs4 import BeautifulSoup, Comment, Tag

from qorgau.detect.model import Observation
from qorgau.errors import InvalidInput
from qorgau.observe.encoding import declared_html_charset, decode_bytes
from qorgau.observe.importers._common import Meter, Progress, parse_time, reason, sha256_hex
from qorgau.observe.importers.ads import ad_text, site_of
from qorgau.observe.normalize import LOCAL_TZ, normalise
from qorgau.observe.result import ImportProblem, ImportResult

PAGE_SUFFIXES = (".html", ".htm")
_AD_TYPES = frozenset(
    {
        "product",
        "offer",
        "classifiedad",
        "vehicle",
        "car",
        "accommodation",
        "apartment",
        "house",
        "realestatelisting",
        "service",
    }
)
_CHROME = (
    "script",
    "style",
    "noscript",
    "template",
    "nav",
    "header",
    "footer",
    "aside",
    "svg",
    "iframe",
    "button",
)
_SAVED_FROM = re.compile(r"saved from url=\(\d+\)(\S+)")
_BLANK_LINES = re.compile(r"\n\s*\n+")
_SPACES = re.compile(r"[ \t\u00a0]+")


def import_ad_pages(
    path: Path,
    source: str,
    *,
    site: str | None = None,
    default_tz: tzinfo = LOCAL_TZ,
    progress: Progress | None = None,
) -> ImportResult:
    """One saved page, or every .html/.htm file directly inside a folder (the "_files"
    folders browsers save next to a page hold its images and frames, not ads, so they are
    not descended into). ``site`` names the platform of pages that carry no URL."""
    if path.is_dir():
        files = sorted(
            f for f in path.iterdir() if f.is_file() and f.suffix.lower() in PAGE_SUFFIXES
        )
        if not files:
            raise InvalidInput.single(
                "file", "format", f"the folder {path.name} holds no .html or .htm pages"
            )
    else:
        files = [path]
    sizes = [_size(f) for f in files]
    meter = Meter(sum(sizes), progress)
    result = ImportResult()
    seen: set[str] = set()
    done = duplicates = 0
    for page, size in zip(files, sizes, strict=True):
        try:
            observation = read_ad_page(page, source, site=site, default_tz=default_tz)
        except InvalidInput as exc:
            if not path.is_dir():
                raise
            result.problems.append(ImportProblem(page.name, None, reason(exc)))
        else:
            if observation.id in seen:
                duplicates += 1  # the same ad saved twice
            else:
                seen.add(observation.id)
                result.observations.append(observation)
        done += size
        meter.at(done)
    meter.finish()
    return ImportResult(result.observations, result.problems, duplicates)


def read_ad_page(
    page: Path, source: str, *, site: str | None = None, default_tz: tzinfo = LOCAL_TZ
) -> Observation:
    try:
        data = page.read_bytes()
    except OSError as exc:
        raise InvalidInput.single(
            "file", "readable", f"{page.name} cannot be read ({exc.strerror or exc})"
        ) from exc
    html = decode_bytes(data, page.name, declared=declared_html_charset(data))
    soup = BeautifulSoup(html, "html.parser")
    if soup.find(["html", "body", "title", "div", "p"]) is None:
        raise InvalidInput.single(
            "file", "format", f"{page.name} is not a web page; save the ad as HTML"
        )
    ads = [item for item in _json_ld(soup) if _types(item) & _AD_TYPES]
    url = _canonical_url(soup, ads)
    title = _first(
        _ld_text(ads, "name", "headline"),
        _meta(soup, "og:title"),
        _tag_text(soup, "h1"),
        _tag_text(soup, "title"),
    )
    description = _first(
        _ld_text(ads, "description"),
        _itemprop(soup, "description"),
        _meta(soup, "og:description"),
        _meta(soup, "description"),
    )
    body = _visible_text(soup)
    if description and _squash(description) in _squash(body):
        description = ""
    phones = _tel_links(soup) + _ld_phones(ads)
    when, time_source = _published(soup, ads, page)
    extra: dict[str, Any] = {"file": page.name, "time_source": time_source}
    if title:
        extra["title"] = title
    extra.update(_price(ads))
    if phones:
        extra["listed_phones"] = list(dict.fromkeys(phones))
    image = _meta(soup, "og:image")
    if image:
        extra["image"] = image
    return normalise(
        source,
        sha256_hex(url) if url else sha256_hex(data),
        site_of(url) or site or "web",
        when,
        kind="ad",
        account=_seller(ads),
        text=ad_text(title, "\n".join(p for p in (description, body) if p), phones),
        urls=[url] if url else [],
        extra=extra,
        default_tz=default_tz,
    )


def _size(page: Path) -> int:
    try:
        return page.stat().st_size
    except OSError:
        return 0


def _json_ld(soup: BeautifulSoup) -> Iterator[dict[str, Any]]:
    """Every object in the page's JSON-LD blocks, @graph and nested offers included; a
    broken block is ignored, since sites often ship invalid JSON-LD and the rest of the page
    still says what we need."""
    for script in soup.find_all("script", type=re.compile(r"ld\+json", re.IGNORECASE)):
        try:
            data = json.loads(script.get_text() or "null")
        except ValueError:
            continue
        yield from _objects(data)


def _objects(data: object) -> Iterator[dict[str, Any]]:
    if isinstance(data, list):
        for item in data:
            yield from _objects(item)
    elif isinstance(data, dict):
        yield data
        for key in ("@graph", "offers", "itemOffered", "mainEntity"):
            if key in data:
                yield from _objects(data[key])


def _types(item: dict[str, Any]) -> set[str]:
    kinds = item.get("@type", [])
    names = kinds if isinstance(kinds, list) else [kinds]
    return {str(n).rsplit("/", 1)[-1].lower() for n in names}


def _ld_text(ads: list[dict[str, Any]], *keys: str) -> str:
    for item in ads:
        for key in keys:
            value = item.get(key)
            if isinstance(value, str) and value.strip():
                return _clean(value)
    return ""


def _meta(soup: BeautifulSoup, name: str) -> str:
    tag = soup.find("meta", attrs={"property": name}) or soup.find("meta", attrs={"name": name})
    content = tag.get("content") if isinstance(tag, Tag) else None
    return _clean(content) if isinstance(content, str) else ""


def _itemprop(soup: BeautifulSoup, name: str) -> str:
    tag = soup.find(True, attrs={"itemprop": name})
    if not isinstance(tag, Tag):
        return ""
    content = tag.get("content")
    return _clean(content) if isinstance(content, str) else _clean(tag.get_text(" "))


def _tag_text(soup: BeautifulSoup, name: str) -> str:
    tag = soup.find(name)
    return _clean(tag.get_text(" ")) if isinstance(tag, Tag) else ""


def _canonical_url(soup: BeautifulSoup, ads: list[dict[str, Any]]) -> str:
    saved_from = ""
    for comment in soup.find_all(string=lambda s: isinstance(s, Comment)):
        found = _SAVED_FROM.search(str(comment))
        if found:
            saved_from = found.group(1)
            break
    link = soup.find("link", rel="canonical")
    href = link.get("href") if isinstance(link, Tag) else None
    candidates = [
        href if isinstance(href, str) else "",
        _meta(soup, "og:url"),
        _ld_text(ads, "url"),
        saved_from,
    ]
    base = next((c for c in candidates if _is_web(c)), "")
    for candidate in candidates:
        candidate = candidate.strip()
        if not candidate:
            continue
        try:
            absolute = urljoin(base, candidate) if base else candidate
        except ValueError:
            continue
        if _is_web(absolute):
            return absolute
    return ""


def _is_web(url: str) -> bool:
    try:
        return urlsplit(url.strip()).scheme in ("http", "https")
    except ValueError:  # e.g. an unclosed "[" where an IPv6 address would be
        return False


def _published(soup: BeautifulSoup, ads: list[dict[str, Any]], page: Path) -> tuple[datetime, str]:
    time_tag = soup.find("time", attrs={"datetime": True})
    time_value = time_tag.get("datetime") if isinstance(time_tag, Tag) else None
    candidates = [
        ("json-ld", _ld_text(ads, "datePosted", "datePublished", "dateCreated")),
        ("meta", _meta(soup, "article:published_time")),
        ("meta", _itemprop(soup, "datePosted") or _itemprop(soup, "datePublished")),
        ("time-element", time_value if isinstance(time_value, str) else ""),
    ]
    for origin, value in candidates:
        if value:
            try:
                return parse_time(value), origin
            except InvalidInput:
                continue
    try:
        return datetime.fromtimestamp(page.stat().st_mtime, UTC), "file-modified"
    except OSError as exc:
        raise InvalidInput.single(
            "time", "required", f"{page.name} states no publication time"
        ) from exc


def _tel_links(soup: BeautifulSoup) -> list[str]:
    numbers = []
    for link in soup.find_all("a", href=re.compile(r"^\s*tel:", re.IGNORECASE)):
        href = link.get("href")
        if isinstance(href, str):
            number = unquote(href.strip()[4:]).split(";", 1)[0].strip()
            if number:
                numbers.append(number)
    return numbers


def _ld_phones(ads: list[dict[str, Any]]) -> list[str]:
    numbers = []
    for item in ads:
        for holder in (item, item.get("seller"), item.get("offeredBy")):
            if isinstance(holder, dict) and isinstance(holder.get("telephone"), str):
                numbers.append(holder["telephone"].strip())
    return [n for n in numbers if n]


def _seller(ads: list[dict[str, Any]]) -> str:
    for item in ads:
        for key in ("seller", "offeredBy", "author"):
            holder = item.get(key)
            if isinstance(holder, dict) and isinstance(holder.get("name"), str):
                return _clean(holder["name"])
            if isinstance(holder, str) and holder.strip():
                return _clean(holder)
    return ""


def _price(ads: list[dict[str, Any]]) -> dict[str, Any]:
    for item in ads:
        if item.get("price") not in (None, ""):
            out = {"price": item["price"]}
            if item.get("priceCurrency"):
                out["currency"] = item["priceCurrency"]
            return out
    return {}


def _visible_text(soup: BeautifulSoup) -> str:
    """The text a reader sees in the ad itself: <article> or <main> when the page has one
    (leaving out "similar ads" with other people's numbers), the body otherwise, without
    scripts, styles and site navigation."""
    root = soup.find("article") or soup.find("main") or soup.body or soup
    if not isinstance(root, Tag):
        return ""
    for tag in root.find_all(_CHROME):
        tag.decompose()
    lines = (_SPACES.sub(" ", line).strip() for line in root.get_text("\n").split("\n"))
    return _BLANK_LINES.sub("\n", "\n".join(line for line in lines if line)).strip()


def _clean(value: str) -> str:
    return _SPACES.sub(" ", " ".join(value.split())).strip()


def _squash(value: str) -> str:
    return " ".join(value.split()).casefold()


def _first(*values: str) -> str:
    return next((v for v in values if v), "")
