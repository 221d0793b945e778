"""Look-alike domains and accounts: is a host or handle an entity's own, an imitation, or neither.

Impersonators need readers to mistake their site or channel for the outlet's at a glance:
``0rda.kz`` (digit for letter), ``оrda.kz`` (a Cyrillic о), ``orda-kz.com`` (the domain
folded into a name on another TLD), ``orda.kz.example.ru`` (the real name as a subdomain of
someone else's domain). Each technique leaves a trace that can be tested for directly, and
naming the technique in the finding tells the responder what to put in a takedown request.

The outlet's own subdomains (kaz.orda.kz, en.orda.kz) share its registrable domain and are its
own: in the Orda.kz case those stayed reachable while orda.kz was blocked, and reporting them
as fakes would send readers away from the real outlet. Registrable domains come from the
public suffix list bundled with ``tldextract``, read offline.

``domain_permutations`` and ``handle_permutations`` generate imitations by each technique, so a
benchmark can measure precision and recall and a responder can list names to watch or
register defensively."""

from __future__ import annotations

import contextlib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit

import confusables  # type: ignore[import-untyped]
import tldextract
from rapidfuzz.distance import DamerauLevenshtein

from qorgau.detect.protected_registry import (
    ProtectedRegistry,
    normalize_account,
    normalize_platform,
)

TECHNIQUES = (
    "homoglyph",  # look-alike characters: Unicode confusables, 0/o, 1/l, rn/m
    "hyphenation",  # hyphens, dots or underscores added or removed; the TLD folded into the name
    "typo",  # a letter left out, doubled, swapped or replaced (Damerau-Levenshtein)
    "tld_swap",  # the same name under another top-level domain
    "subdomain_of_another",  # the real domain as a subdomain of someone else's domain
    "combo",  # the name with a word added: orda-news.kz, ordakz_official
    "unverified_copy",  # a verified handle copied onto a platform where the account differs
)
TECHNIQUE_WORDS = {
    "homoglyph": "look-alike characters",
    "hyphenation": "added or removed hyphens, dots or underscores",
    "typo": "a typo",
    "tld_swap": "another top-level domain",
    "subdomain_of_another": "the real name as a subdomain of another domain",
    "combo": "the real name with a word added",
    "unverified_copy": "a verified handle copied to another account",
}

Status = Literal["own", "lookalike", "unrelated"]

# Offline: no suffix list URLs, so the snapshot bundled with the package is used and nothing is
# fetched. Private suffixes (github.io, blogspot.com) are honoured: orda.github.io is a site
# someone registered, not a subdomain of github.io's owner.
_EXTRACT = tldextract.TLDExtract(
    suffix_list_urls=(),
    cache_dir=None,
    include_psl_private_domains=True,
    # Names reserved for documentation and tests (RFC 2606, RFC 6761): demos and simulations
    # use them so that no real outlet's domain appears in made-up traffic.
    extra_suffixes=("example", "test", "invalid", "localhost"),
)

# Latin digit and letter pairs that read alike, applied after the Unicode confusables.
_ASCII_SWAPS = str.maketrans({"0": "o", "1": "l", "i": "l", "|": "l", "3": "e", "5": "s"})
_MULTI_SWAPS = (("rn", "m"), ("vv", "w"), ("cl", "d"))
_SEPARATORS = re.compile(r"[._\-]")
# Words attached to a name to make an imitation look official or local.
COMBO_WORDS = (
    "news",
    "novosti",
    "zhanalyk",
    "info",
    "online",
    "official",
    "media",
    "press",
    "live",
    "today",
    "kz",
    "tv",
    "real",
    "the",
    "new",
    "24",
)
SOCIAL_HOSTS = {
    "t.me": "telegram",
    "telegram.me": "telegram",
    "instagram.com": "instagram",
    "facebook.com": "facebook",
    "fb.com": "facebook",
    "x.com": "x",
    "twitter.com": "x",
    "tiktok.com": "tiktok",
    "youtube.com": "youtube",
    "vk.com": "vk",
    "threads.net": "threads",
}
_NOT_HANDLES = frozenset(
    {"share", "sharer", "watch", "p", "reel", "s", "joinchat", "c", "status", "hashtag", "intent"}
)


@dataclass(frozen=True)
class HostParts:
    subdomain: str
    domain: str
    suffix: str

    @property
    def registrable(self) -> str:
        return f"{self.domain}.{self.suffix}" if self.suffix else self.domain


@dataclass(frozen=True)
class Verdict:
    """What an observed host or handle is. For a look-alike: whose (``entity_id``), of what
    (``target``: the genuine domain or handle) and how (``techniques``)."""

    status: Status
    observed: str
    kind: Literal["domain", "account"]
    entity_id: str | None = None
    target: str | None = None
    techniques: tuple[str, ...] = ()
    platform: str = ""

    @property
    def key(self) -> str:
        """Stable per imitation: one registrable domain, or one account on one platform."""
        if self.kind == "domain":
            if "subdomain_of_another" in self.techniques:
                # The other domain may be a free host with many tenants: key the imitation.
                return f"domain:{self.observed}"
            return f"domain:{host_parts(self.observed).registrable}"
        return f"account:{self.platform}:{self.observed}"


# --- normal forms -----------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _char_skeleton(ch: str) -> str:
    if ch.isascii():
        return ch
    base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    if base.isascii() and base:
        return base.lower()
    options: list[str] = confusables.CONFUSABLE_MAP.get(ch) or []
    ascii_options = sorted(
        {c.lower() for c in options if len(c) == 1 and c.isascii() and c.isalnum()}
    )
    letters = [c for c in ascii_options if c.isalpha()]
    return str((letters or ascii_options or [ch])[0])


def skeleton(text: str) -> str:
    """What a string looks like rather than what it is: Unicode confusables (Cyrillic о, Greek
    ο) and Latin digit-for-letter tricks all become the same plain letters."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    out = "".join(_char_skeleton(ch) for ch in folded).translate(_ASCII_SWAPS)
    for pair, single in _MULTI_SWAPS:
        out = out.replace(pair, single)
    return out


def _unicode_host(host: str) -> str:
    labels = []
    for label in host.split("."):
        if label.startswith("xn--"):
            with contextlib.suppress(UnicodeError):
                label = label.encode("ascii").decode("idna")
        labels.append(label)
    return ".".join(labels)


def host_of(url_or_host: str) -> str | None:
    """The host of a URL or bare host name, folded and without "www."; None if there is none."""
    value = url_or_host.strip()
    if not value:
        return None
    if "://" not in value:
        value = "http://" + value
    try:
        host = urlsplit(value).hostname
    except ValueError:
        return None
    if not host or "." not in host:
        return None
    host = _unicode_host(unicodedata.normalize("NFKC", host).casefold().rstrip("."))
    return host[4:] if host.startswith("www.") else host


def host_parts(host: str) -> HostParts:
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        ascii_host = host
    parts = _EXTRACT(ascii_host)
    return HostParts(
        _unicode_host(parts.subdomain), _unicode_host(parts.domain), _unicode_host(parts.suffix)
    )


def social_handle(url: str) -> tuple[str, str] | None:
    """``(platform, handle)`` for a link to an account page (t.me/ordakz, tiktok.com/@orda)."""
    host = host_of(url)
    if host is None:
        return None
    host = host.removeprefix("m.").removeprefix("mobile.")
    platform = SOCIAL_HOSTS.get(host)
    if platform is None:
        return None
    value = url if "://" in url else "http://" + url
    try:
        path = urlsplit(value.strip()).path
    except ValueError:
        return None
    first = next((p for p in path.split("/") if p), "")
    handle = normalize_account(first)
    if len(handle) < 2 or handle in _NOT_HANDLES or not re.fullmatch(r"[\w.\-]+", handle):
        return None
    return platform, handle


def max_typos(length: int) -> int:
    """Edits allowed for a name of this length: none for very short names (every three-letter
    string is one edit from dozens of real ones), two only for long ones."""
    if length <= 3:
        return 0
    if length <= 9:
        return 1
    return 2


# --- the index --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Domain:
    entity_id: str
    host: str
    parts: HostParts
    brand_skeleton: str
    joined_skeleton: str  # the name with the TLD folded in: ordakz


@dataclass(frozen=True)
class _Handle:
    entity_id: str
    platform: str
    handle: str
    bare: str  # without separators
    bare_skeleton: str


@dataclass
class LookalikeIndex:
    """The registry's domains and handles, prepared once per configuration."""

    domains: tuple[_Domain, ...]
    handles: tuple[_Handle, ...]
    own_registrable: Mapping[str, str]  # registrable domain -> entity id
    own_accounts: Mapping[tuple[str, str], str]  # (platform, handle) -> entity id
    platforms_of: Mapping[str, frozenset[str]]  # entity id -> platforms with verified accounts
    _cache: dict[tuple[str, str, str], Verdict] = field(default_factory=dict, repr=False)

    def classify(self, url_or_host: str) -> Verdict:
        """Own, look-alike or unrelated, for a URL or host seen in an observation. A link to an
        account page (t.me/ordakz_news) is judged as that account."""
        social = social_handle(url_or_host)
        if social is not None:
            return self.classify_handle(social[1], social[0])
        host = host_of(url_or_host)
        if host is None:
            return Verdict("unrelated", url_or_host.strip(), "domain")
        cache_key = ("d", host, "")
        cached = self._cache.get(cache_key)
        if cached is None:
            cached = self._classify_host(host)
            self._remember(cache_key, cached)
        return cached

    def classify_handle(self, handle: str, platform: str = "") -> Verdict:
        h = normalize_account(handle)
        p = normalize_platform(platform)
        cache_key = ("a", h, p)
        cached = self._cache.get(cache_key)
        if cached is None:
            cached = self._classify_handle(h, p)
            self._remember(cache_key, cached)
        return cached

    def _remember(self, key: tuple[str, str, str], verdict: Verdict) -> None:
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[key] = verdict

    def _classify_host(self, host: str) -> Verdict:
        parts = host_parts(host)
        if not parts.suffix or not parts.domain:
            return Verdict("unrelated", host, "domain")  # not a name anyone can register
        owner = self.own_registrable.get(parts.registrable)
        if owner is not None:
            return Verdict("own", host, "domain", owner, parts.registrable)
        best: tuple[int, _Domain, tuple[str, ...]] | None = None
        for d in self.domains:
            techniques = _host_techniques(host, parts, d)
            if techniques:
                rank = TECHNIQUES.index(techniques[0])
                if best is None or rank < best[0]:
                    best = (rank, d, techniques)
        if best is None:
            return Verdict("unrelated", host, "domain")
        _, d, techniques = best
        return Verdict("lookalike", host, "domain", d.entity_id, d.host, techniques)

    def _classify_handle(self, handle: str, platform: str) -> Verdict:
        owner = self.own_accounts.get((platform, handle))
        if owner is None and not platform:
            owner = next((e for (_, h), e in self.own_accounts.items() if h == handle), None)
        if owner is not None:
            return Verdict("own", handle, "account", owner, handle, platform=platform)
        bare = _SEPARATORS.sub("", handle)
        bare_skel = skeleton(bare)
        # An entity with no verified account on this platform may well use the same name here
        # for an account nobody listed: that name is not reported as an imitation of it.
        unlisted = {
            h.entity_id
            for h in self.handles
            if h.handle == handle
            and (not platform or platform not in self.platforms_of.get(h.entity_id, frozenset()))
        }
        best: tuple[int, int, _Handle, tuple[str, ...]] | None = None
        for h in self.handles:
            if h.entity_id in unlisted:
                continue
            technique = _handle_technique(handle, bare, bare_skel, h)
            if technique is not None:
                # An exact copy of a verified handle is the most telling of all.
                rank = -1 if technique == "unverified_copy" else TECHNIQUES.index(technique)
                distance = DamerauLevenshtein.distance(bare_skel, h.bare_skeleton)
                distance += 0 if h.platform == platform else 1  # same platform's handle first
                if best is None or (rank, distance) < best[:2]:
                    best = (rank, distance, h, (technique,))
        if best is None:
            return Verdict("unrelated", handle, "account", platform=platform)
        _, _, h, techniques = best
        return Verdict(
            "lookalike", handle, "account", h.entity_id, h.handle, techniques, platform=platform
        )


def build_index(registry: ProtectedRegistry) -> LookalikeIndex:
    domains: list[_Domain] = []
    own_registrable: dict[str, str] = {}
    handles: list[_Handle] = []
    own_accounts: dict[tuple[str, str], str] = {}
    platforms_of: dict[str, frozenset[str]] = {}
    for entity in registry.entities:
        for host in entity.domains:
            parts = host_parts(host)
            own_registrable.setdefault(parts.registrable, entity.id)
            joined = parts.domain + parts.suffix.replace(".", "")
            domains.append(
                _Domain(entity.id, host, parts, skeleton(parts.domain), skeleton(joined))
            )
        for platform, hs in entity.accounts.items():
            for handle in hs:
                own_accounts.setdefault((platform, handle), entity.id)
                bare = _SEPARATORS.sub("", handle)
                handles.append(_Handle(entity.id, platform, handle, bare, skeleton(bare)))
        platforms_of[entity.id] = frozenset(entity.accounts)
    return LookalikeIndex(
        tuple(domains), tuple(handles), own_registrable, own_accounts, platforms_of
    )


def _host_techniques(host: str, parts: HostParts, d: _Domain) -> tuple[str, ...]:
    """The techniques by which ``host`` imitates the genuine domain ``d``, most telling first."""
    labels = host.split(".")
    official = d.host.split(".")
    registrable = d.parts.registrable.split(".")
    for needle in (official, registrable):
        n = len(needle)
        if any(labels[i : i + n] == needle for i in range(len(labels) - n)):
            return ("subdomain_of_another",)
    label = parts.domain
    if not label:
        return ()
    brand = d.parts.domain
    other_tld = ("tld_swap",) if parts.suffix != d.parts.suffix else ()
    if label == brand:
        return other_tld
    skel = skeleton(label)
    bare_skel = skel.replace("-", "")
    if skel == d.brand_skeleton:
        return ("homoglyph", *other_tld)
    if bare_skel == d.brand_skeleton or bare_skel == d.joined_skeleton:
        return ("hyphenation", *other_tld)
    limit = max_typos(len(brand))
    if (
        limit
        and (not other_tld or len(brand) > 5)
        and min(
            DamerauLevenshtein.distance(bare_skel, d.brand_skeleton, score_cutoff=limit),
            DamerauLevenshtein.distance(label.replace("-", ""), brand, score_cutoff=limit),
        )
        <= limit
    ):
        return ("typo", *other_tld)
    if len(brand) >= 4 and _is_combo(label, brand):
        return ("combo", *other_tld)
    if len(brand) >= 5 and brand in labels[: -len(parts.suffix.split(".")) - 1]:
        return ("subdomain_of_another",)
    # Dots and hyphens moved across the name: orda.kz-news.ru, teng.rinews.kz.
    flat = skeleton(host.replace(".", "").replace("-", ""))
    if len(d.joined_skeleton) >= 6 and flat.startswith(d.joined_skeleton):
        return ("hyphenation",)
    return ()


def _is_combo(label: str, brand: str) -> bool:
    """The name with one of the usual words glued or hyphenated on. Any other word is not
    enough: altyn-orda.kz ("Golden Horde") is a real news site, not an imitation of orda.kz."""
    for word in COMBO_WORDS:
        if label in (brand + word, word + brand, f"{brand}-{word}", f"{word}-{brand}"):
            return True
    return False


def _handle_technique(handle: str, bare: str, bare_skel: str, h: _Handle) -> str | None:
    if handle == h.handle:
        return "unverified_copy"
    if bare == h.bare:
        return "hyphenation"
    if bare_skel == h.bare_skeleton:
        return "homoglyph"
    limit = max_typos(len(h.bare))
    if (
        limit
        and min(
            DamerauLevenshtein.distance(bare_skel, h.bare_skeleton, score_cutoff=limit),
            DamerauLevenshtein.distance(bare, h.bare, score_cutoff=limit),
        )
        <= limit
    ):
        return "typo"
    if len(h.bare) >= 4 and h.bare in bare and len(bare) - len(h.bare) <= 12:
        rest = bare.replace(h.bare, "", 1)
        if rest in COMBO_WORDS or len(h.bare) >= 6:
            return "combo"
    return None


# --- permutations -----------------------------------------------------------------------------

_KEYBOARD = {
    "q": "wa",
    "w": "qes",
    "e": "wrd",
    "r": "etf",
    "t": "ryg",
    "y": "tuh",
    "u": "yij",
    "i": "uok",
    "o": "ipl",
    "p": "ol",
    "a": "qsz",
    "s": "adw",
    "d": "sfe",
    "f": "dgr",
    "g": "fht",
    "h": "gjy",
    "j": "hku",
    "k": "jli",
    "l": "ko",
    "z": "xa",
    "x": "zc",
    "c": "xv",
    "v": "cb",
    "b": "vn",
    "n": "bm",
    "m": "n",
}
_LATIN_HOMOGLYPHS = {"o": "0", "l": "1", "i": "1", "e": "3", "s": "5", "m": "rn", "w": "vv"}
_CYRILLIC_HOMOGLYPHS = {
    "a": "а",
    "o": "о",
    "e": "е",
    "p": "р",
    "c": "с",
    "x": "х",
    "y": "у",
    "k": "к",
    "i": "і",
    "h": "һ",
}
SWAP_TLDS = ("com", "net", "org", "info", "ru", "kz", "com.kz", "online", "site", "media")
FOREIGN_DOMAINS = ("example.ru", "news-portal.com", "secure-login.net", "mirror.site")


def _typos(label: str) -> set[str]:
    out: set[str] = set()
    for i in range(len(label)):
        out.add(label[:i] + label[i + 1 :])  # omission
        out.add(label[:i] + label[i] + label[i:])  # repetition
        if i + 1 < len(label):
            out.add(label[:i] + label[i + 1] + label[i] + label[i + 2 :])  # transposition
        for near in _KEYBOARD.get(label[i], ""):
            out.add(label[:i] + near + label[i + 1 :])  # replacement by a neighbouring key
            out.add(label[:i] + near + label[i:])  # insertion of a neighbouring key
    out.discard(label)
    return {t for t in out if t and not t.startswith("-") and not t.endswith("-")}


def _separator_pattern(text: str) -> str:
    return re.sub(r"[^._\-]", "", text)


def _homoglyphs(label: str, table: Mapping[str, str]) -> set[str]:
    out = set()
    for i, ch in enumerate(label):
        if ch in table:
            out.add(label[:i] + table[ch] + label[i + 1 :])
    return out


def domain_permutations(domain: str) -> dict[str, str]:
    """Imitations of ``domain`` by technique: ``{candidate host: technique}``. Unicode
    homoglyphs are given in Unicode (the form readers see)."""
    parts = host_parts(domain)
    brand, suffix = parts.domain, parts.suffix
    head = f"{parts.subdomain}." if parts.subdomain else ""
    out: dict[str, str] = {}

    def add(candidates: Iterable[str], technique: str, with_suffix: str = suffix) -> None:
        for c in candidates:
            out.setdefault(f"{head}{c}.{with_suffix}", technique)

    add(
        _homoglyphs(brand, _LATIN_HOMOGLYPHS) | _homoglyphs(brand, _CYRILLIC_HOMOGLYPHS),
        "homoglyph",
    )
    add((t for t in _typos(brand) if _separator_pattern(t) == _separator_pattern(brand)), "typo")
    add((brand[:i] + "-" + brand[i:] for i in range(1, len(brand))), "hyphenation")
    joined = suffix.replace(".", "")
    for tld in ("com", "net", "org", "info", "kz", "ru"):
        add([f"{brand}-{joined}", f"{brand}{joined}"], "hyphenation", tld)
    for tld in SWAP_TLDS:
        if tld != suffix:
            add([brand], "tld_swap", tld)
    for other in FOREIGN_DOMAINS:
        out.setdefault(f"{domain}.{other}", "subdomain_of_another")
    for word in ("news", "official", "online"):
        add([f"{brand}-{word}", f"{brand}{word}", f"{word}-{brand}"], "combo")
    out.pop(domain, None)
    return out


def handle_permutations(handle: str) -> dict[str, str]:
    """Imitations of an account name by technique: ``{candidate handle: technique}``."""
    h = normalize_account(handle)
    bare = _SEPARATORS.sub("", h)
    out: dict[str, str] = {}
    for c in sorted(_homoglyphs(h, _LATIN_HOMOGLYPHS)):
        out.setdefault(c, "homoglyph")
    for c in sorted(_typos(h)):
        if _separator_pattern(c) == _separator_pattern(h) and not _SEPARATORS.search(
            c[:: len(c) - 1]
        ):
            out.setdefault(c, "typo")
    separated = {bare[:i] + sep + bare[i:] for i in range(1, len(bare)) for sep in "._"}
    if bare != h:
        separated.add(bare)
    for c in sorted(separated):
        out.setdefault(c, "hyphenation")
    for word in ("official", "news", "kz", "real"):
        out.setdefault(f"{h}_{word}", "combo")
        out.setdefault(f"{word}_{h}", "combo")
    out.pop(h, None)
    return out
