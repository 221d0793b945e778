"""The leaked-identifier matcher: every watched identifier of every protected person, found in
a whole batch of texts at once.

Why a batch: per-text Python overhead, not matching, is what limits a scan of many short ads.
The batch is joined once, scanned for candidates by two C-speed automata (one over digit
channels for numbers and plates, one over the text for e-mail and street anchors) and only the
texts with a candidate are read again, carefully, to confirm and locate each identifier. The
compiled matcher is immutable and cached per watchlist, since building automata over 100,000
identifiers takes seconds."""

from __future__ import annotations

import bisect
import functools
import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import phonenumbers

from qorgau.detect import identifier_digits as digits_
from qorgau.detect import identifier_words as words_
from qorgau.detect.watchlist import AddressParts, ProtectedPerson, address_parts

KINDS = ("phone", "iin", "email", "address", "plate")


@dataclass(frozen=True)
class Target:
    """One watched identifier of one person."""

    kind: str  # one of KINDS
    value: str  # canonical form (E.164, 12 digits, lower-case e-mail, folded address, plate)
    person: int  # index into the matcher's ``people``
    masked: str  # safe to print in findings and logs


@dataclass(frozen=True)
class Hit:
    target: Target
    start: int  # span of the identifier in the observation's text
    end: int


@dataclass(frozen=True)
class ScanOutcome:
    hits: tuple[tuple[Hit, ...], ...]  # one tuple per scanned text, in order
    errors: Mapping[int, str] = field(default_factory=dict)  # text index -> what went wrong


# How a candidate is confirmed in one text: spans of the whole identifier.
_Confirm = Callable[[str, "digits_.Digits"], list[tuple[int, int]]]


@dataclass(frozen=True)
class _Entry:
    target: Target
    confirm: _Confirm


class IdentifierMatcher:
    """Compiled watchlist. Build with ``compile_matcher`` (cached), then ``scan`` batches."""

    def __init__(self, people: Sequence[ProtectedPerson]) -> None:
        self.people = tuple(people)
        digit_keys: dict[str, list[int]] = {}
        text_keys: dict[str, list[int]] = {}
        self._entries: list[_Entry] = []
        for index, person in enumerate(self.people):
            for target, anchor, confirm in _targets(index, person):
                self._entries.append(_Entry(target, confirm))
                keys = digit_keys if target.kind in ("phone", "iin", "plate") else text_keys
                variants = {anchor} if keys is digit_keys else words_.case_variants(anchor)
                for variant in variants:
                    keys.setdefault(variant, []).append(len(self._entries) - 1)
        self._digits = digits_.build_automaton((k, tuple(v)) for k, v in digit_keys.items())
        self._text = digits_.build_automaton((k, tuple(v)) for k, v in text_keys.items())

    @property
    def size(self) -> int:
        return len(self._entries)

    def scan(self, texts: Sequence[str]) -> ScanOutcome:
        """Every watched identifier in every text. A text whose confirmation fails is reported
        in ``errors`` and the others are still scanned."""
        try:
            found = self._candidates(texts)
        except Exception:  # a text the joined scan cannot take: find which, one by one
            return self._one_by_one(texts)
        hits: list[tuple[Hit, ...]] = [()] * len(texts)
        errors: dict[int, str] = {}
        for index, entries in found.items():
            try:
                hits[index] = self._confirm(texts[index], entries)
            except Exception as exc:
                errors[index] = f"{type(exc).__name__}: {exc}"
        return ScanOutcome(tuple(hits), errors)

    def scan_text(self, text: str) -> tuple[Hit, ...]:
        return self._confirm(text, self._candidates([text]).get(0, set()))

    def _one_by_one(self, texts: Sequence[str]) -> ScanOutcome:
        hits: list[tuple[Hit, ...]] = []
        errors: dict[int, str] = {}
        for index, text in enumerate(texts):
            try:
                hits.append(self.scan_text(text))
            except Exception as exc:
                hits.append(())
                errors[index] = f"{type(exc).__name__}: {exc}"
        return ScanOutcome(tuple(hits), errors)

    def _candidates(self, texts: Sequence[str]) -> dict[int, set[int]]:
        joined = digits_.SEP.join(texts)
        if joined.count(digits_.SEP) != max(len(texts) - 1, 0):
            joined = digits_.SEP.join(text.replace(digits_.SEP, " ") for text in texts)
        found: dict[int, set[int]] = {}
        if self._digits is not None:
            raw = joined.encode("utf-8", "surrogatepass")
            for index, values in digits_.candidates(self._digits, raw).items():
                found.setdefault(index, set()).update(itertools.chain.from_iterable(values))
        if self._text is not None:
            starts = list(itertools.accumulate((len(text) + 1 for text in texts), initial=0))
            for end, value in self._text.iter(joined):
                index = bisect.bisect_right(starts, end) - 1
                found.setdefault(index, set()).update(value)
        return found

    def _confirm(self, text: str, entries: set[int]) -> tuple[Hit, ...]:
        if not entries:
            return ()
        read = digits_.read_digits(text)
        hits: set[Hit] = set()
        for e in entries:
            entry = self._entries[e]
            for start, end in entry.confirm(text, read):
                hits.add(Hit(entry.target, start, end))
        return tuple(sorted(hits, key=lambda h: (h.start, h.end, h.target.kind, h.target.value)))


@functools.lru_cache(maxsize=8)
def compile_matcher(people: tuple[ProtectedPerson, ...]) -> IdentifierMatcher:
    """The matcher for a watchlist, built once per distinct watchlist in this process."""
    return IdentifierMatcher(people)


# --- what to look for, per identifier kind ---------------------------------------------------


def _targets(index: int, person: ProtectedPerson) -> list[tuple[Target, str, _Confirm]]:
    out: list[tuple[Target, str, _Confirm]] = []
    for e164 in person.phones:
        key = phone_key(e164)
        out.append((Target("phone", e164, index, mask("phone", e164)), key.digits, _numbers(key)))
    for iin in person.iins:
        key = digits_.DigitKey(iin)
        out.append((Target("iin", iin, index, mask("iin", iin)), iin, _numbers(key)))
    for plate in person.plates:
        pattern = words_.plate_pattern(plate)
        out.append(
            (
                Target("plate", plate, index, mask("plate", plate)),
                words_.plate_digits(plate),
                _pattern(pattern),
            )
        )
    for email in person.emails:
        pattern = words_.email_pattern(email)
        target = Target("email", email, index, mask("email", email))
        out.append((target, words_.email_anchor(email), _pattern(pattern)))
    for address in person.addresses:
        parts = address_parts(address)
        if parts is None:
            continue
        target = Target("address", address, index, mask("address", address))
        out.append((target, words_.address_anchor(parts), _address(parts)))
    return out


def phone_key(e164: str) -> digits_.DigitKey:
    """The national significant number ("7011234567" for +7 701 123 45 67) and the prefixes it
    may carry: the country code, international dialling ("00", "810" in the old Soviet plan)
    and the trunk prefix (8 in Kazakhstan and Russia, 0 in most other countries)."""
    number = phonenumbers.parse(e164, None)
    nsn = phonenumbers.national_significant_number(number)
    cc = str(number.country_code)
    trunk = "8" if cc == "7" else "0"
    return digits_.DigitKey(nsn, (cc, "00" + cc, "810" + cc, trunk))


def _numbers(key: digits_.DigitKey) -> _Confirm:
    return lambda text, read: digits_.occurrences(read, text, key)


def _pattern(pattern: re.Pattern[str]) -> _Confirm:
    return lambda text, _read: [m.span() for m in pattern.finditer(text)]


def _address(parts: AddressParts) -> _Confirm:
    return lambda text, _read: list(words_.address_spans(text, parts))


# --- masking ---------------------------------------------------------------------------------


def mask(kind: str, value: str) -> str:
    """Enough of an identifier for the person's team to recognise it, not enough to use it."""
    if kind == "phone":
        try:
            number = phonenumbers.parse(value, None)
        except phonenumbers.NumberParseException:
            return "***"
        nsn = phonenumbers.national_significant_number(number)
        hidden = max(len(nsn) - 5, 1)
        stars = "*** **" if hidden == 5 else "*" * hidden
        return f"+{number.country_code} {nsn[:3]} {stars} {nsn[-2:]}"
    if kind == "iin":
        return value[:2] + "*" * 8 + value[-2:]
    if kind == "email":
        local, _, domain = value.rpartition("@")
        return f"{local[:1]}***@{domain}"
    if kind == "plate":
        return value[:1] + "*" * max(len(value) - 3, 1) + value[-2:]
    if kind == "address":
        parts = address_parts(value)
        street = parts.street[0] if parts else value
        return f"{street[:1].upper()}*** ***"
    return "***"
