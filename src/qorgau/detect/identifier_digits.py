"""Finding watched numbers (phones, IINs, plate digits) however they are written.

Two stages, because the watchlist is large and hits are rare:

1. **Candidates, at C speed over a whole batch.** The batch is one UTF-8 byte string; a
   ``bytes.translate`` that deletes every non-digit byte leaves a *digit channel* in which
   "8 (701) 123-45-67", "701 звоните 123 45 67" and "87011234567" all read the same, and one
   Aho-Corasick pass over that short channel finds every watched number. A second channel maps
   look-alike letters (О, З, l, B...) to digits the same way, for numbers typed with letters in
   them. Neither channel knows where a number starts or ends, so both over-report.
2. **Verification, in Python over the few candidate texts.** The text is read again with digit
   positions kept, and each occurrence must look like one number: short gaps, no digit glued on
   either side (apart from a country or trunk prefix), no words between single digits. This is
   what keeps a number with one digit added, dropped or changed — or two numbers side by side —
   from being reported.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import ahocorasick  # type: ignore[import-not-found,unused-ignore]

# Separates observations in the joined batch; kept in both channels so that no number is
# assembled from the end of one text and the start of the next.
SEP = "\x00"

# Letters that stand in for digits when written among digits. In the channel the two-byte
# Cyrillic ones are caught by their second UTF-8 byte (the first is deleted): a few rare
# letters share those bytes, which only adds candidates that verification then drops.
LOOKALIKES = {
    "O": "0", "o": "0", "О": "0", "о": "0",
    "l": "1", "I": "1", "|": "1",
    "З": "3", "з": "3",
    "Ч": "4", "ч": "4",
    "S": "5",
    "б": "6", "b": "6",
    "В": "8", "B": "8",
}  # fmt: skip


def _channel_tables() -> tuple[bytes, bytes, bytes]:
    keep = set(b"0123456789" + SEP.encode())
    plain_delete = bytes(c for c in range(256) if c not in keep)
    table = bytearray(range(256))
    for letter, digit in LOOKALIKES.items():
        encoded = letter.encode()
        table[encoded[-1]] = ord(digit)
        keep.add(encoded[-1])
    look_delete = bytes(c for c in range(256) if c not in keep)
    return plain_delete, bytes(table), look_delete


_PLAIN_DELETE, _LOOK_TABLE, _LOOK_DELETE = _channel_tables()

# A "word" for deciding whether look-alike letters in it are digits: they are only when every
# character of the word is a digit or a look-alike and at least one is a real digit ("7О1").
_WORD = re.compile(r"(?:[^\W_]|\|)+")
_ASCII_DIGIT = re.compile(r"[0-9]")
_DIGIT_RUN = re.compile(r"[0-9]+")
_LOOK_CLASS = "[" + re.escape("".join(LOOKALIKES)) + "]"
_NEAR = r"[ \t\u00a0\-‐-―.()/+]{1,3}"
_LONE = rf"(?<![^\W_])(?<!\|){_LOOK_CLASS}{{1,4}}(?![^\W_])(?!\|)"
# Without a look-alike inside a number or a short look-alike word next to one, a text's digits
# are just its ASCII digits.
_LOOKALIKE_NEAR_DIGIT = re.compile(
    f"[0-9]{_LOOK_CLASS}|{_LOOK_CLASS}[0-9]|{_LONE}{_NEAR}[0-9]|[0-9]{_NEAR}{_LONE}"
)

# Between two digit groups of one number: separators, and at most two short words
# ("701 звоните 123 45 67"). Commas, semicolons and colons end a number (lists of prices).
_GAP = re.compile(
    r"[\s\-‐-―.\/()+*_~·•'\"«»]*"
    r"(?:[^\W\d_]{1,12}[\s\-‐-―.\/()+*_~·•'\"«»!]*){0,2}"
)
_GAP_HAS_WORD = re.compile(r"[^\W\d_]")
MAX_GAP = 24
MAX_WORD_GAPS = 2
# Between a number and a digit group right next to it that would belong to it.
_TIGHT = re.compile(r"[ \t\u00a0\-‐-―.()/+]{1,3}")
_UNIT_AFTER = re.compile(r"[ \-]?[^\W\d_]")
SHORT_GROUP = 2  # "+7 701 123 45 67 8": a trailing group this short extends the number
FULL_NUMBER = 10  # a neighbouring run at least this long is a number of its own


class Automaton(Protocol):
    def add_word(self, key: str, value: object) -> bool: ...
    def make_automaton(self) -> None: ...
    def iter(self, text: str) -> Iterator[tuple[int, Any]]: ...


@dataclass(frozen=True)
class DigitKey:
    """A watched digit string and how it may be prefixed when written."""

    digits: str
    prefixes: tuple[str, ...] = ()  # e.g. ("7", "8", "007") for a Kazakh mobile


@dataclass(frozen=True)
class Digits:
    """The digits of one text as a reader sees them, with where each one is in the text."""

    digits: str
    positions: tuple[int, ...]


def read_digits(text: str) -> Digits:
    """Every ASCII digit, plus look-alike letters where they sit among digits: inside a word of
    digits and look-alikes ("7О1"), or as a short word of look-alikes only ("Bo", "б|") right
    next to such a word. Letters in ordinary words ("Olga", "звоните") are never digits."""
    out: list[str] = []
    where: list[int] = []
    if not _LOOKALIKE_NEAR_DIGIT.search(text):  # the usual case, and much cheaper
        for m in _DIGIT_RUN.finditer(text):
            out.append(m.group())
            where.extend(range(m.start(), m.end()))
        return Digits("".join(out), tuple(where))
    words = [(m.start(), m.group()) for m in _WORD.finditer(text)]
    kinds = [_word_kind(word) for _, word in words]
    # a look-alike word is read next to a number, and next to one read that way ("45 lб бЗ")
    for order in (range(1, len(words)), range(len(words) - 2, -1, -1)):
        for i in order:
            j = i - 1 if order.step == 1 else i + 1
            left, right = (words[j], words[i]) if j < i else (words[i], words[j])
            if (
                kinds[i] == _LOOKS
                and kinds[j] in (_NUMBER, _READ)
                and _tight_words(text, left, right[0])
            ):
                kinds[i] = _READ
    for (base, word), kind in zip(words, kinds, strict=True):
        if kind == _MIXED:
            for d in _ASCII_DIGIT.finditer(word):
                out.append(d.group())
                where.append(base + d.start())
        elif kind in (_NUMBER, _READ):
            for k, c in enumerate(word):
                out.append(LOOKALIKES.get(c, c))
                where.append(base + k)
    return Digits("".join(out), tuple(where))


_OTHER, _NUMBER, _LOOKS, _MIXED, _READ = range(5)
MAX_LOOKALIKE_WORD = 4


def _word_kind(word: str) -> int:
    """_NUMBER: digits and look-alikes with a real digit; _LOOKS: a short word of look-alikes
    only (_READ once it is found among digits); _MIXED: digits inside an ordinary word (only
    the digits count); _OTHER: no digit."""
    has_digit = _ASCII_DIGIT.search(word) is not None
    readable = all((c.isascii() and c.isdigit()) or c in LOOKALIKES for c in word)
    if has_digit:
        return _NUMBER if readable else _MIXED
    return _LOOKS if readable and len(word) <= MAX_LOOKALIKE_WORD else _OTHER


def _tight_words(text: str, left: tuple[int, str], right_start: int) -> bool:
    return _TIGHT.fullmatch(text, left[0] + len(left[1]), right_start) is not None


def build_automaton(keys: Iterable[tuple[str, object]]) -> Automaton | None:
    """One automaton over every watched digit string; None when there are none."""
    automaton: Automaton = ahocorasick.Automaton()
    added = False
    for key, value in keys:
        automaton.add_word(key, value)
        added = True
    if not added:
        return None
    automaton.make_automaton()
    return automaton


def candidates(automaton: Automaton, joined: bytes) -> dict[int, set[Any]]:
    """For each observation (by position in the joined batch) the values of the watched digit
    strings its channels contain; usually empty."""
    found: dict[int, set[Any]] = {}
    for channel in (
        joined.translate(None, _PLAIN_DELETE),
        joined.translate(_LOOK_TABLE, _LOOK_DELETE),
    ):
        text = channel.decode("ascii")
        index = 0
        counted_to = 0
        for end, value in automaton.iter(text):
            index += text.count(SEP, counted_to, end)
            counted_to = end
            found.setdefault(index, set()).add(value)
    return found


def occurrences(read: Digits, text: str, key: DigitKey) -> list[tuple[int, int]]:
    """Spans (start, end) in ``text`` where ``key`` is written as one number of its own."""
    spans: list[tuple[int, int]] = []
    at = read.digits.find(key.digits)
    while at >= 0:
        span = _verify(read, text, key, at)
        if span is not None:
            spans.append(span)
        at = read.digits.find(key.digits, at + 1)
    return spans


def _verify(read: Digits, text: str, key: DigitKey, first: int) -> tuple[int, int] | None:
    pos = read.positions
    last = first + len(key.digits) - 1
    if pos[last] - pos[first] > len(key.digits) * 5 + 20:
        return None
    if last > first and pos[last] - pos[last - 1] > 1:
        return None  # no number ends in a lone digit group: "... 85 8 3-комн." is two things
    word_gaps = 0
    for i in range(first, last):
        if pos[i + 1] == pos[i] + 1:
            continue
        gap = text[pos[i] + 1 : pos[i + 1]]
        if len(gap) > MAX_GAP or not _GAP.fullmatch(gap):
            return None
        if _GAP_HAS_WORD.search(gap) or "\n" in gap:
            # a word or a line break may split groups ("701 звоните 123"), never single digits
            word_gaps += 1
            if word_gaps > MAX_WORD_GAPS or _run_len_back(pos, i) < 2:
                return None
            if _run_len_forward(pos, i + 1) < 2:
                return None
    # after: the number ends where its digits end
    if last + 1 < len(pos):
        if pos[last + 1] == pos[last] + 1:
            return None
        if _tight(text, pos[last], pos[last + 1]):
            # "+7 701 123 45 67 8" is one number too long; "... 45 67 25 000 тг" is a price
            # and "... 45 67 2-комн." or "... 45 67 45 м²" a quantity
            run = _run_len_forward(pos, last + 1)
            if (
                run <= SHORT_GROUP
                and _chain_forward(text, pos, last + 1) == run
                and not _UNIT_AFTER.match(text, pos[last + run] + 1)
            ):
                return None
    # before: nothing, or a country / trunk prefix, and nothing glued before that
    start = first
    contiguous = _run_len_back(pos, first) - 1  # digits glued right before the key
    if contiguous:
        if read.digits[first - contiguous : first] not in key.prefixes:
            return None
        start = first - contiguous
    elif first > 0 and _tight(text, pos[first - 1], pos[first]):
        run = _run_len_back(pos, first - 1)
        prev = read.digits[first - run : first]
        if prev in key.prefixes:
            start = first - run
        elif run <= SHORT_GROUP and _chain_back(text, pos, first - 1) < FULL_NUMBER:
            return None
    if start != first and start > 0 and _tight(text, pos[start - 1], pos[start]):
        run = _run_len_back(pos, start - 1)
        if run <= SHORT_GROUP and _chain_back(text, pos, start - 1) < FULL_NUMBER:
            return None
    begin = pos[start]
    if start != first and begin > 0 and text[begin - 1] == "+":
        begin -= 1  # "+7 701 ..." is reported from its plus
    return begin, pos[last] + 1


def _tight(text: str, left: int, right: int) -> bool:
    return _TIGHT.fullmatch(text, left + 1, right) is not None


def _run_len_back(pos: Sequence[int], i: int) -> int:
    """Length of the run of adjacent digits ending at index ``i``."""
    n = 1
    while i - n >= 0 and pos[i - n] == pos[i - n + 1] - 1:
        n += 1
    return n


def _run_len_forward(pos: Sequence[int], i: int) -> int:
    n = 1
    while i + n < len(pos) and pos[i + n] == pos[i + n - 1] + 1:
        n += 1
    return n


def _chain_back(text: str, pos: Sequence[int], i: int) -> int:
    """Digits in the tightly joined groups ending at index ``i`` ("8 705 111 22 33")."""
    n = 1
    while i - n >= 0 and (
        pos[i - n] == pos[i - n + 1] - 1 or _tight(text, pos[i - n], pos[i - n + 1])
    ):
        n += 1
    return n


def _chain_forward(text: str, pos: Sequence[int], i: int) -> int:
    n = 1
    while i + n < len(pos) and (
        pos[i + n] == pos[i + n - 1] + 1 or _tight(text, pos[i + n - 1], pos[i + n])
    ):
        n += 1
    return n
