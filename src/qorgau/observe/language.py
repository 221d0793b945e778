"""Which of the three languages our material is written in: Russian, Kazakh or English.

Kazakh is written in Cyrillic and, more and more, in Latin script (the 2017 apostrophe
alphabet, the 2018 acute-accent one and the 2021 one). Statistical detectors are trained on
Cyrillic Kazakh and call Latin Kazakh "English", so the letters and spellings that only Kazakh
uses are checked first and the detector decides the rest. Anything too short to tell gets
``None`` rather than a guess, so a detector filtering by language never acts on noise."""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lingua import LanguageDetector

# Addresses are Latin whatever the language around them; they would outvote a short text.
_NOT_PROSE = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+|@\w+", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]+(?:['’ʼ`][^\W\d_]+)*")
_SENTENCE_END = re.compile(r"[.!?…]\s*$|\n\s*$|^\s*$")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_KAZAKH_CYRILLIC = re.compile(r"[әғқңөұүһі]")
# 2021: ä ğ ñ ö ū ü ş ı ç; 2018: á ǵ ń ó ú ý (ı shared).
_KAZAKH_LATIN_LETTERS = re.compile(r"[äğñöūüşıçáǵńóúý]")
# 2017 apostrophe forms (a' g' n' o' u' y' s' c' i') inside a word; "n't" is English.
_KAZAKH_APOSTROPHE = re.compile(r"[agouysci]['’ʼ`](?=[a-z])|n['’ʼ`](?=[a-su-z])")
# "q" without a following "u" hardly occurs in English but is everywhere in Kazakh
# (Qazaqstan, qońyraý, aqparat).
_Q_WITHOUT_U = re.compile(r"q(?!u)")
# English function words: a text full of them is English even if it names Qatar or Müller.
# Words that are also Kazakh ("men", "bar", "on") are left out.
_ENGLISH_FUNCTION_WORDS = frozenset(
    "the and of to in is are was were for with that this it about from by at be has have "
    "not or you he she they we his her their an will would been there what which".split()
)

# Share of words that must carry a Kazakh marker: a short Kazakh sentence is recognised
# while a text quoting a Kazakh word or two stays what it is.
_MARKER_SHARE = 0.2
_MIN_LETTERS = 3

_LOCK = threading.Lock()
_DETECTOR: LanguageDetector | None = None


def detect_language(text: str) -> str | None:
    """ "ru", "kk", "en" or None when the text is too short or not in these languages.

    Names are set aside before counting markers (a capitalised word that does not open a
    sentence): Russian reporting about Айгүл Нұрланқызы is still Russian, and "Qatar" does
    not make English Kazakh."""
    text = _NOT_PROSE.sub(" ", text)
    found = [(m.group(), m.start()) for m in _WORD.finditer(text)]
    if sum(len(w) for w, _ in found) < _MIN_LETTERS:
        return None
    words = [w.lower() for w, at in found if not _is_name(w, text[:at])] or [
        w.lower() for w, _ in found
    ]
    cyrillic = [w for w in words if _CYRILLIC.search(w)]
    latin = [w for w in words if not _CYRILLIC.search(w)]
    if len(cyrillic) >= len(latin):
        marked = sum(1 for w in cyrillic if _KAZAKH_CYRILLIC.search(w))
        if marked >= _MARKER_SHARE * len(cyrillic):
            return "kk"
        # Judge what remains once the names are gone, or the detector hears Kazakh in them.
        return _statistical(" ".join(words))
    english = sum(1 for w in latin if w in _ENGLISH_FUNCTION_WORDS)
    if english < _MARKER_SHARE * len(latin):
        marked = sum(1 for w in latin if _is_latin_kazakh(w))
        if marked >= _MARKER_SHARE * len(latin):
            return "kk"
    return _statistical(text)


def _is_name(word: str, before: str) -> bool:
    return word[:1].isupper() and not word.isupper() and not _SENTENCE_END.search(before)


def _is_latin_kazakh(word: str) -> bool:
    return bool(
        _KAZAKH_LATIN_LETTERS.search(word)
        or _KAZAKH_APOSTROPHE.search(word)
        or _Q_WITHOUT_U.search(word)
    )


def _statistical(text: str) -> str | None:
    from lingua import Language

    codes = {Language.RUSSIAN: "ru", Language.KAZAKH: "kk", Language.ENGLISH: "en"}
    found = _detector().detect_language_of(text)
    return None if found is None else codes.get(found)


def _detector() -> LanguageDetector:
    """Built on first use: loading the models takes most of a second, which a command that
    never looks at language should not pay. The high-accuracy mode is kept because posts and
    SMS are short, where the low-accuracy mode mostly answers "don't know", and once loaded it
    classifies tens of thousands of texts a second."""
    global _DETECTOR
    with _LOCK:
        if _DETECTOR is None:
            from lingua import Language, LanguageDetectorBuilder

            _DETECTOR = LanguageDetectorBuilder.from_languages(
                Language.RUSSIAN, Language.KAZAKH, Language.ENGLISH
            ).build()
        return _DETECTOR
