"""Add or update Russian and Kazakh translations in one catalogue of the product.

    python scripts/add_translations.py web_desk translations.json

``translations.json`` maps each English message to ``{"ru": "...", "kk": "..."}``. The
catalogues are ``src/qorgau/i18n/locales/{ru,kk}/LC_MESSAGES/<name>.po``; a new one is created
with the right header. Entries already there are updated, others kept.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

LOCALES = Path(__file__).resolve().parents[1] / "src" / "qorgau" / "i18n" / "locales"


def main(name: str, source: Path) -> None:
    entries: dict[str, dict[str, str]] = json.loads(source.read_text(encoding="utf-8"))
    for lang in ("ru", "kk"):
        path = LOCALES / lang / "LC_MESSAGES" / f"{name}.po"
        if path.exists():
            with path.open("rb") as fh:
                catalog = read_po(fh, locale=lang)
        else:
            catalog = Catalog(locale=lang, project="Qorgau", domain=name)
        for english, texts in entries.items():
            if lang not in texts or not texts[lang]:
                raise SystemExit(f"{english!r} has no {lang} translation")
            catalog.add(english, texts[lang])
        with path.open("wb") as fh:
            write_po(fh, catalog, width=100, sort_output=True)
        print(f"{path.relative_to(LOCALES.parents[3])}: {len(catalog)} messages")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], Path(sys.argv[2]))
