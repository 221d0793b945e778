"""Text normalised against the tricks abusive posters use to slip past word filters.

Insults and threats aimed at journalists are routinely disguised: Latin letters that look
Cyrillic ("пиcдyй" with Latin c and y), digits for letters ("у6ью", "3аткнись"), punctuation
inside a word ("д,билы", "у-б-ь-ю"), letters spaced apart ("у б ь ю") and stretched letters
("убьююю"). The classifier and the threat cues read the same normalised text, so a disguised
word lands on the same features as the plain one. The classifier's features are hashed from
this text, so any change here changes the model: retrain after editing this module.
"""

from __future__ import annotations

import html
import re
import unicodedata

# Latin letters that look like (or are typed for) Cyrillic ones, used inside Cyrillic words.
_LATIN_TO_CYRILLIC = str.maketrans(
    {
        "a": "а",
        "b": "в",
        "c": "с",
        "e": "е",
        "k": "к",
        "m": "м",
        "h": "н",
        "o": "о",
        "p": "р",
        "t": "т",
        "x": "х",
        "y": "у",
        "u": "и",
        "z": "з",
        "i": "і",
        "n": "п",
        "r": "г",
    }
)
# Cyrillic letters that look like Latin ones, used inside Latin words ("fuсk" with a Cyrillic с).
_CYRILLIC_TO_LATIN = str.maketrans(
    {
        "а": "a",
        "в": "b",
        "с": "c",
        "е": "e",
        "к": "k",
        "м": "m",
        "н": "h",
        "о": "o",
        "р": "p",
        "т": "t",
        "х": "x",
        "у": "y",
        "і": "i",
    }
)
# Digits and symbols typed for letters, by the script of the word they sit in.
_DIGITS_IN_CYRILLIC = str.maketrans({"0": "о", "3": "з", "6": "б", "4": "ч", "@": "а"})
_DIGITS_IN_LATIN = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)

_VK_MENTION = re.compile(r"\[(?:id|club|public)\d+\|[^\]]*\]")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_HANDLE = re.compile(r"(?<![\w@])@[\w.]+(?:@[\w.]+)*")
_RETWEET = re.compile(r"^\s*rt\b:?", re.IGNORECASE)
# Punctuation that disguises a word when it sits between two letters: "д,билы", "у-б-ь-ю",
# "зае%ал". A lone hyphen between two longer parts ("жидо-персидского") is left alone.
_INNER_MASK = re.compile(r"(?<=[^\W\d_])[.,*%#$!|/\\_'`~^+\"]+(?=[^\W\d_])")
_INNER_HYPHEN = re.compile(r"(?<=\b[^\W\d_])-(?=[^\W\d_]\b)")
# Three or more single letters in a row, separated by spaces: "у б ь ю".
_SPACED = re.compile(r"(?<![^\W\d_])(?:[^\W\d_][ \u00a0]){2,}[^\W\d_](?![^\W\d_])")
_STRETCH = re.compile(r"([^\W\d_])\1{2,}")
_TOKEN = re.compile(r"[\w@$]+")
_SPACES = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Lower-cased text with disguises undone, mentions and links replaced by placeholders."""
    text = html.unescape(text)
    text = unicodedata.normalize("NFKC", text)
    text = _VK_MENTION.sub(" ", text)
    text = _RETWEET.sub(" ", text)
    text = _URL.sub(" xurl ", text)
    text = _HANDLE.sub(" xuser ", text)
    text = text.lower().replace("ё", "е")
    # Undoing one disguise can reveal another ("a.0a": the digit becomes a letter, then the dot
    # sits inside a word), so the steps repeat until nothing changes; none lengthens the text.
    for _ in range(_MAX_ROUNDS):
        undone = _undisguise(text)
        if undone == text:
            break
        text = undone
    return _SPACES.sub(" ", text).strip()


_MAX_ROUNDS = 8


def _undisguise(text: str) -> str:
    text = _SPACED.sub(lambda m: m.group(0).replace(" ", "").replace("\u00a0", ""), text)
    text = _INNER_HYPHEN.sub("", text)
    text = _INNER_MASK.sub("", text)
    text = _TOKEN.sub(lambda m: _fix_word(m.group(0)), text)
    return _STRETCH.sub(r"\1", text)


def _fix_word(word: str) -> str:
    """One word put back into its own script: look-alike letters and digits mapped over."""
    cyrillic = sum(1 for ch in word if "\u0400" <= ch <= "\u04ff")
    latin = sum(1 for ch in word if "a" <= ch <= "z")
    if cyrillic and cyrillic >= latin:
        word = word.translate(_LATIN_TO_CYRILLIC)
        return _leet(word, _DIGITS_IN_CYRILLIC)
    if latin:
        word = word.translate(_CYRILLIC_TO_LATIN) if cyrillic else word
        return _leet(word, _DIGITS_IN_LATIN)
    return word


def _leet(word: str, table: dict[int, str]) -> str:
    """Maps a lone digit or symbol touching a letter ("у6ью", "f4ck"); numbers such as "10км"
    or "2022г" are left alone because their digits come in runs. Repeated until nothing
    changes, so that "a@0a" reads "aaoa" at once rather than over two calls."""
    if sum(1 for ch in word if ch.isalpha()) < 2:
        return word
    while True:
        mapped = _leet_once(word, table)
        if mapped == word:
            return word
        word = mapped


def _leet_once(word: str, table: dict[int, str]) -> str:
    out = list(word)
    for i, ch in enumerate(word):
        if ord(ch) not in table:
            continue
        before = out[i - 1] if i > 0 else ""  # as already mapped: "a0@a" reads "aoaa"
        after = word[i + 1] if i + 1 < len(word) else ""
        if before.isdigit() or after.isdigit():
            continue
        if before.isalpha() or after.isalpha():
            out[i] = table[ord(ch)]
    return "".join(out)


def script(normalized: str) -> str:
    """ "cyrillic" or "latin", whichever has more letters: the abuse bar is set per script,
    because the Russian and English training sets are abusive at very different rates."""
    cyrillic = sum(1 for ch in normalized if "\u0400" <= ch <= "\u04ff")
    latin = sum(1 for ch in normalized if "a" <= ch <= "z")
    return "cyrillic" if cyrillic > latin else "latin"
