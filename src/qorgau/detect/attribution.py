"""Does a post put words in a protected person's or outlet's mouth, and are they theirs?

In the Orda.kz case fake "statements" and an "invitation" circulated in the names of the
editor, other journalists, the Prime Minister and governors. Such a post has two marks: it names
the entity (in Russian and Kazakh the name is inflected: Бажкеновой, Бажкенованың, Орды) and it
says the entity said, announced, invited or appealed, or quotes it. It is genuine when one of
the entity's verified accounts posted it (or, for a person, their outlet's), or when what it
quotes is one of the statements the entity really published.

Matching is deliberately lexical and explainable: every conclusion names the variant and the
cue it rests on, so a responder can see at once why a post was picked out."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from rapidfuzz import fuzz

from qorgau.detect.model import Observation
from qorgau.detect.protected_registry import (
    ProtectedEntity,
    ProtectedRegistry,
    normalize_account,
    normalize_platform,
)

AttributionKind = Literal["invitation", "appeal", "statement", "quote"]
Standing = Literal["verified_account", "published_statement", "unverified"]

# Case endings a name takes in running text: Russian declension, Kazakh case and possessive
# suffixes (Cyrillic and Latin script). A name word matches when the text word is the word, or
# its stem without a final vowel, followed by one of these.
_ENDINGS = frozenset(
    """
    а я у ю ы и е о ой ей ою ею ом ем ым им ого его ому ему ых их ами ями ах ях ам ям ов ев
    ның нің дың дің тың тің ға ге қа ке на не ны ні ды ді ты ті н да де та те нда нде
    дан ден тан тен нан нен мен бен пен ы і сы сі ымен імен ын ін ның ға
    nyn nin dyn din tyn tin ga ge qa ke na ne ny ni dy di ty ti n da de ta te nda nde
    dan den tan ten nan nen men ben pen y i sy si
    """.split()
)
_FINAL_VOWELS = "аяоеыиьйaeiouy"

# Attribution cues by kind, in Russian, Kazakh and English; matched at word starts, so each
# stem covers its forms (заявил, заявила, заявили, заявление).
_CUES: Mapping[AttributionKind, tuple[str, ...]] = {
    "invitation": ("приглаш", "шақыр", "invit"),
    "appeal": (
        "обращ",
        "обрати",
        "призыв",
        "призва",
        "үндеу",
        "үнде",
        "өтініш",
        "appeal",
        "urge",
        "calls on",
        "called on",
    ),
    "statement": (
        "заяв",
        "сообщ",
        "по словам",
        "опроверг",
        "мәлімде",
        "хабарлад",  # not "хабарласу" (to get in touch)
        "хабарлаған",
        "айтты",
        "деді",
        "said",
        "says",
        "stated",
        "statement",
        "announc",
        "declar",
        "according to",
    ),
}
# "Wrote" is how a critic refers to an article ("Orda wrote lies again"): it attributes a
# statement only when what was written follows (a colon, "что"/"that"/"деп", a quote).
_WROTE = r"(?:написал\w*|wrote|жазды)[^.!?\n]{0,40}?(?::|\bчто\b|\bthat\b|\bдеп\b|[«\"“])"
_KIND_ORDER: tuple[AttributionKind, ...] = ("invitation", "appeal", "statement", "quote")
_CUE_RE = {
    kind: re.compile(
        r"(?<!\w)(?:"
        + "|".join([re.escape(c) for c in cues] + ([_WROTE] if kind == "statement" else []))
        + r")",
        re.IGNORECASE,
    )
    for kind, cues in _CUES.items()
}
_QUOTE_RE = re.compile(r"«([^»]{12,})»|“([^”]{12,})”|„([^“”]{12,})[“”]|\"([^\"]{12,})\"")
_WORD = re.compile(r"[^\W_]+")
_ADDRESS = re.compile(r"@[\w.]+|https?://\S+|www\.\S+")
_WINDOW = 160  # characters between a name and its cue: about one sentence
_STATEMENT_MATCH = 90  # rapidfuzz partial_ratio at or above which a quote is the statement
_MIN_QUOTE = 20  # shorter quotes are too short to compare with a statement


@dataclass(frozen=True)
class Mention:
    entity_id: str
    variant: str
    start: int
    end: int


@dataclass(frozen=True)
class Attribution:
    """``entity_id`` is said to have made a statement, invitation, appeal or quote."""

    entity_id: str
    kind: AttributionKind
    variant: str  # the name variant found
    cue: str  # the cue word or the quote that makes it an attribution
    quotes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Assessment:
    attribution: Attribution
    standing: Standing
    statement_url: str = ""  # the published statement matched, when there is one


def _fold(text: str) -> str:
    return text.casefold().replace("ё", "е")


def _word_matches(token: str, word: str) -> bool:
    if token == word:
        return True
    if token.startswith(word) and token[len(word) :] in _ENDINGS:
        return True
    if word[-1:] in _FINAL_VOWELS and len(word) >= 4:
        stem = word[:-1]
        return token.startswith(stem) and token[len(stem) :] in _ENDINGS
    return False


@dataclass(frozen=True)
class _Variant:
    entity_id: str
    text: str
    words: tuple[str, ...]


class NameMatcher:
    """Finds the registry's names in text, inflected. A person is also found by the last word
    of a multi-word variant (the surname, in the usual "Гульнара Бажкенова" order) when that
    word is long enough not to be a common word; outlets also by their domain (orda.kz)."""

    def __init__(self, registry: ProtectedRegistry) -> None:
        variants: list[_Variant] = []
        for entity in registry.entities:
            texts = list(entity.all_names) + list(entity.domains)
            for text in texts:
                words = tuple(_fold(w) for w in _WORD.findall(text))
                if not words:
                    continue
                variants.append(_Variant(entity.id, text, words))
                if entity.kind == "person" and len(words) > 1 and len(words[-1]) >= 5:
                    variants.append(_Variant(entity.id, text, words[-1:]))
        # Longer variants first, so "Гульнара Бажкенова" is reported rather than the surname.
        variants.sort(key=lambda v: -len(v.words))
        self._variants = tuple(variants)
        self._first: dict[str, list[_Variant]] = {}
        for v in self._variants:
            self._first.setdefault(v.words[0][:3], []).append(v)

    def find(self, text: str) -> list[Mention]:
        # Handles and links are addresses, not names: "@nurlan_tulegenov" in a reply does
        # not put words in Nurlan Tulegenov's mouth (impersonating handles are the look-alike
        # detector's).
        masked = _ADDRESS.sub(lambda m: " " * len(m.group()), text)
        tokens = [(m.start(), m.end(), _fold(m.group())) for m in _WORD.finditer(masked)]
        found: list[Mention] = []
        seen: set[tuple[str, int]] = set()
        # Words already part of a longer name: "Tulegenov" in "Nurlan Tulegenov" is that
        # person's surname, not a mention of every other Tulegenov in the registry.
        covered: set[int] = set()
        for i, (start, _, token) in enumerate(tokens):
            for v in self._first.get(token[:3], ()):
                n = len(v.words)
                if i + n > len(tokens) or (v.entity_id, start) in seen:
                    continue
                if n == 1 and i in covered:
                    continue
                if all(_word_matches(tokens[i + k][2], v.words[k]) for k in range(n)):
                    found.append(Mention(v.entity_id, v.text, start, tokens[i + n - 1][1]))
                    seen.add((v.entity_id, start))
                    if n > 1:
                        covered.update(range(i, i + n))
        return found


def quotes_in(text: str) -> list[tuple[int, int, str]]:
    """Quoted spans (start, end, quoted text) long enough to be someone's words."""
    out = []
    for m in _QUOTE_RE.finditer(text):
        quoted = next(g for g in m.groups() if g is not None)
        out.append((m.start(), m.end(), quoted.strip()))
    return out


def find_attributions(text: str, matcher: NameMatcher) -> list[Attribution]:
    """One attribution per entity named near a cue or a quote, of the most specific kind."""
    mentions = matcher.find(text)
    if not mentions:
        return []
    cues = [
        (m.start(), m.end(), kind, m.group())
        for kind, pattern in _CUE_RE.items()
        for m in pattern.finditer(text)
    ]
    quotes = quotes_in(text)
    cues += [(s, e, "quote", q) for s, e, q in quotes]
    by_entity: dict[str, Attribution] = {}
    for start, end, kind, cue in cues:
        for mention in _speakers(mentions, start, end, quote=kind == "quote"):
            current = by_entity.get(mention.entity_id)
            if current is None or _KIND_ORDER.index(kind) < _KIND_ORDER.index(current.kind):
                by_entity[mention.entity_id] = Attribution(
                    mention.entity_id, kind, mention.variant, cue, tuple(q for _, _, q in quotes)
                )
    return list(by_entity.values())


def _speakers(mentions: Sequence[Mention], start: int, end: int, quote: bool) -> list[Mention]:
    """Who a cue is about: the nearest name before it ("Бектенов обратился", "Бажкенова
    шақырады"), else the nearest after it ("заявила Бажкенова"). A quotation goes to the
    nearest name on either side. Namesakes at the same place all count."""
    near = [m for m in mentions if _distance(m, start, end) <= _WINDOW]
    if not near:
        return []
    before = [m for m in near if m.end <= start]
    if before and not quote:
        at = max(m.end for m in before)
        return [m for m in before if m.end == at]
    closest = min(_distance(m, start, end) for m in near)
    return [m for m in near if _distance(m, start, end) == closest]


def _distance(mention: Mention, start: int, end: int) -> int:
    if end <= mention.start:
        return mention.start - end
    if start >= mention.end:
        return start - mention.end
    return 0


def _normal(text: str) -> str:
    return " ".join(_WORD.findall(_fold(text)))


def matching_statement(
    entity: ProtectedEntity, text: str, quotes: Sequence[str], urls: Sequence[str]
) -> str | None:
    """The URL (or "" when it has none) of the published statement the post quotes or links;
    None when it matches none. Every long quote must be one of the entity's statements: a
    genuine sentence followed by an invented one is still a fake."""
    if not entity.statements:
        return None
    linked = {_bare_url(u) for u in urls}
    for statement in entity.statements:
        if statement.url and _bare_url(statement.url) in linked:
            return statement.url
    statements = [(_normal(s.text), s.url) for s in entity.statements]
    long_quotes = [_normal(q) for q in quotes if len(_normal(q)) >= _MIN_QUOTE]
    if long_quotes:
        urls_found: list[str] = []
        for q in long_quotes:
            match = _best(q, statements)
            if match is None:
                return None
            urls_found.append(match)
        return urls_found[0]
    body = _normal(text)
    for normal, url in statements:
        if len(normal) >= _MIN_QUOTE and fuzz.partial_ratio(normal, body) >= _STATEMENT_MATCH:
            return url
    return None


def _best(quote: str, statements: Sequence[tuple[str, str]]) -> str | None:
    for normal, url in statements:
        if fuzz.partial_ratio(quote, normal) >= _STATEMENT_MATCH:
            return url
    return None


def _bare_url(url: str) -> str:
    return re.sub(r"^https?://(www\.)?", "", url.strip().casefold()).rstrip("/")


def is_verified_poster(
    ob: Observation, entity: ProtectedEntity, registry: ProtectedRegistry
) -> bool:
    """Posted by one of the accounts that speak for ``entity`` on the observation's platform."""
    accounts = registry.verified_accounts(entity).get(normalize_platform(ob.platform), frozenset())
    return normalize_account(ob.account) in accounts


def assess(ob: Observation, registry: ProtectedRegistry, matcher: NameMatcher) -> list[Assessment]:
    """Every attribution in ``ob`` and whether it stands: posted by the entity, quoting what it
    published, or unverified."""
    out = []
    for attribution in find_attributions(ob.text, matcher):
        entity = registry.by_id(attribution.entity_id)
        if entity is None:
            continue
        if is_verified_poster(ob, entity, registry):
            out.append(Assessment(attribution, "verified_account"))
            continue
        url = matching_statement(entity, ob.text, attribution.quotes, ob.urls)
        if url is not None:
            out.append(Assessment(attribution, "published_statement", url))
        else:
            out.append(Assessment(attribution, "unverified"))
    return out
