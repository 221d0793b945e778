"""Texts folded to one form for comparison, so copies of one message match however they are
written.

A copy-paste campaign in Kazakhstan rarely repeats a text byte for byte: the same fake
statement goes out in Kazakh Cyrillic and in Kazakh Latin (in the 2018 alphabet with acute
accents or the 2021 one with umlauts and cedillas, which give ``i``/``ı`` and ``u``/``ū`` the
opposite meanings), with look-alike Latin letters slipped into Cyrillic words to dodge filters,
with emoji, hashtags, mentions and tracking links added, and in shouting capitals. Folding
removes all of that so that what is left is the wording itself:

1. Unicode NFKC (full-width letters, ligatures, compatibility forms);
2. URLs, @mentions and #hashtags removed (a shared link is not shared wording, and organic
   sharing of one news link must not look like a campaign);
3. look-alike letters of the other script inside a word put back in the word's own script;
4. case folding;
5. Cyrillic (Kazakh and Russian letters) transliterated to the 2021 Kazakh Latin alphabet;
6. a plain skeleton for comparison: letters whose meaning the 2018 and 2021 Latin alphabets
   swap are merged, ``ş``/``ç`` written ``sh``/``ch`` as the 2018 alphabet and informal writing
   do, other accents dropped;
7. emoji, punctuation and underscores dropped, spaces collapsed.

The fold loses distinctions a reader would keep (``ұ`` and ``у`` both become ``u``): it is for
comparing texts, never for showing them."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

SHINGLE_SIZE = 5  # characters; long enough to skip common syllables, short enough for edits

_URL = re.compile(r"(?:https?://|www\.)\S+")
_TAG_OR_MENTION = re.compile(r"[#@＃＠][\w.]+")
_NOT_WORD = re.compile(r"[\W_]+")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_LATIN = re.compile(r"[a-zA-Z\u00c0-\u024f]")
_CYR = "\u0400-\u04ff"
_LAT = "a-zA-Z\u00c0-\u024f"
# Two letters of different scripts side by side: the mark of a word mixing scripts, checked
# before the (slower) word-by-word repair that almost no text needs.
_SCRIPT_SWITCH = re.compile(rf"[{_CYR}][{_LAT}]|[{_LAT}][{_CYR}]")
_WORD = re.compile(r"\w+")
_COMBINING = re.compile(r"[\u0300-\u036f]")

# 2021 Kazakh Latin alphabet (Decree of 2021 as proposed), lower case; Russian letters outside
# the Kazakh alphabet follow the same official scheme (ц -> ts, щ -> şş, ю -> iu, я -> ia).
_CYRILLIC_TO_LATIN: dict[int, str] = str.maketrans(
    {
        "а": "a",
        "ә": "ä",
        "б": "b",
        "в": "v",
        "г": "g",
        "ғ": "ğ",
        "д": "d",
        "е": "e",
        "ё": "io",
        "ж": "j",
        "з": "z",
        "и": "i",
        "й": "i",
        "к": "k",
        "қ": "q",
        "л": "l",
        "м": "m",
        "н": "n",
        "ң": "ñ",
        "о": "o",
        "ө": "ö",
        "п": "p",
        "р": "r",
        "с": "s",
        "т": "t",
        "у": "u",
        "ұ": "ū",
        "ү": "ü",
        "ф": "f",
        "х": "h",
        "һ": "h",
        "ц": "ts",
        "ч": "ç",
        "ш": "ş",
        "щ": "şş",
        "ъ": "",
        "ы": "y",
        "і": "ı",
        "ь": "",
        "э": "e",
        "ю": "iu",
        "я": "ia",
    }
)

# Letters the 2018 and 2021 Latin alphabets (and informal writing) disagree on, merged; the
# accents that remain are dropped after canonical decomposition.
_SKELETON_LETTERS = {
    "ı": "i", "ş": "sh", "ç": "ch", "ū": "u", "ý": "u", "ß": "ss", "ø": "o", "ł": "l", "đ": "d",
}  # fmt: skip
# One pass from case-folded text of either script to the skeleton (str.translate is the
# costly step on non-ASCII text, so Cyrillic goes straight to skeleton letters).
_FOLD_TABLE: dict[int, str] = {
    **{
        code: "".join(_SKELETON_LETTERS.get(ch, ch) for ch in latin)
        for code, latin in _CYRILLIC_TO_LATIN.items()
    },
    **str.maketrans(_SKELETON_LETTERS),
}
_ASCII_PUNCTUATION = {
    code: " " for code in range(128) if not chr(code).isalnum() and chr(code) != " "
}

# Look-alike letters (upper and lower case as they look, before case folding).
_CYRILLIC_LOOKING_LATIN = {
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
    "Т": "T", "Х": "X", "У": "Y", "І": "I", "Ј": "J", "Ѕ": "S", "а": "a", "е": "e", "о": "o",
    "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s", "һ": "h", "ү": "y",
    "ԛ": "q", "ԝ": "w",
}  # fmt: skip
_TO_LATIN_LOOKALIKE = str.maketrans(_CYRILLIC_LOOKING_LATIN)
_TO_CYRILLIC_LOOKALIKE = str.maketrans(
    {latin: cyr for cyr, latin in _CYRILLIC_LOOKING_LATIN.items() if cyr not in "үһԛԝ"}
)


def without_markup(text: str) -> str:
    """``text`` without URLs, @mentions and #hashtags: what the poster wrote."""
    return _TAG_OR_MENTION.sub(" ", _URL.sub(" ", text))


def transliterate(text: str) -> str:
    """Case-folded ``text`` with Cyrillic letters written in the 2021 Kazakh Latin alphabet."""
    return text.casefold().translate(_CYRILLIC_TO_LATIN)


def fold(text: str) -> str:
    """The comparison form of ``text``: lower-case ASCII-like Latin words separated by single
    spaces, without links, mentions, hashtags, emoji or punctuation."""
    text = unicodedata.normalize("NFKC", text)
    if "://" in text or "www." in text:
        text = _URL.sub(" ", text)
    if "#" in text or "@" in text or "＃" in text or "＠" in text:
        text = _TAG_OR_MENTION.sub(" ", text)
    if _SCRIPT_SWITCH.search(text):
        text = _WORD.sub(_repair_mixed_word, text)
    text = text.casefold()
    if not text.isascii():
        text = text.translate(_FOLD_TABLE)
        if not text.isascii():
            # A letter with a diacritic the table lacks (Tajik/Tatar "ӣ", "ӯ") loses its mark
            # here and must then take the same path as its bare letter, or folding twice
            # would go further than folding once.
            text = _COMBINING.sub("", unicodedata.normalize("NFD", text)).translate(_FOLD_TABLE)
            if not text.isascii():
                text = _NOT_WORD.sub(" ", text)
    return " ".join(text.translate(_ASCII_PUNCTUATION).split())


def _repair_mixed_word(match: re.Match[str]) -> str:
    """A word mixing scripts is put back in the script most of its letters are in: ``Пpивет``
    with a Latin ``p`` is Cyrillic, ``pаypal`` with a Cyrillic ``а`` is Latin."""
    word = match.group(0)
    cyrillic = len(_CYRILLIC.findall(word))
    latin = len(_LATIN.findall(word))
    if not cyrillic or not latin:
        return word
    if cyrillic > latin:
        return word.translate(_TO_CYRILLIC_LOOKALIKE)
    return word.translate(_TO_LATIN_LOOKALIKE)


def shingles(folded: str, size: int = SHINGLE_SIZE) -> set[str]:
    """Overlapping character ``size``-grams of a folded text (the whole text when shorter).

    Characters rather than words, so that one changed letter or a swapped pair of words costs
    a few shingles instead of every shingle that spans the change."""
    if len(folded) <= size:
        return {folded} if folded else set()
    return {folded[i : i + size] for i in range(len(folded) - size + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    """Exact Jaccard similarity of two shingle sets (0 when both are empty)."""
    if not a and not b:
        return 0.0
    common = len(a & b)
    return common / (len(a) + len(b) - common)


def fold_all(texts: Iterable[str]) -> list[str]:
    return [fold(t) for t in texts]
