"""Translations for everything a person reads, in English, Russian and Kazakh.

Catalogues are ordinary gettext ``.po`` files (edited with any PO tool), read with Babel at
first use; English is the source language. Taxonomy labels live in the taxonomy file instead,
beside the terms they name.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from babel.messages.pofile import read_po

LANGUAGES = ("en", "ru", "kk")
DEFAULT_LANGUAGE = "en"


@lru_cache(maxsize=len(LANGUAGES))
def _catalog(lang: str) -> dict[str, str]:
    if lang == DEFAULT_LANGUAGE:
        return {}
    # One catalogue per area of the product (``qorgau.po``, ``reports.po``...), so that work on
    # one area does not touch the others' files; together they are one dictionary.
    folder = resources.files("qorgau.i18n").joinpath("locales", lang, "LC_MESSAGES")
    merged: dict[str, str] = {}
    for path in sorted((p for p in folder.iterdir() if p.name.endswith(".po")), key=str):
        with path.open("rb") as fh:
            catalog = read_po(fh, locale=lang)
        merged.update(
            {str(m.id): str(m.string) for m in catalog if m.id and m.string and not m.fuzzy}
        )
    return merged


def N_(message: str) -> str:  # noqa: N802 - the gettext convention extractors look for
    """Mark a string for the catalogue where it is defined; translate it where it is shown."""
    return message


def gettext(lang: str, message: str, **params: object) -> str:
    """Translate ``message`` (falling back to English) and fill ``{named}`` placeholders."""
    text = _catalog(lang if lang in LANGUAGES else DEFAULT_LANGUAGE).get(message, message)
    return text.format(**params) if params else text


def negotiate(accept_language: str | None, explicit: str | None = None) -> str:
    """Pick a language from an explicit choice, else the Accept-Language header's best match."""
    if explicit and explicit in LANGUAGES:
        return explicit
    if not accept_language:
        return DEFAULT_LANGUAGE
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(accept_language.split(",")):
        pieces = part.strip().split(";")
        tag = pieces[0].strip().lower().split("-")[0]
        q = 1.0
        for p in pieces[1:]:
            if p.strip().startswith("q="):
                try:
                    q = float(p.strip()[2:])
                except ValueError:
                    q = 0.0
        if tag in LANGUAGES and q > 0:
            ranked.append((-q, i, tag))
    return sorted(ranked)[0][2] if ranked else DEFAULT_LANGUAGE
