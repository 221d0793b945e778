"""Taxonomy loaded from versioned data files.

Attack types, monitoring categories, legal references and the rest change as the world does; an
NGO adds an attack type by editing a file, not by waiting for a release. Code only ever asks the
loaded taxonomy whether a value is known and how to label it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from qorgau.errors import ConfigurationError, InvalidInput

LANGUAGES = ("en", "ru", "kk")
SECTIONS = (
    "category",
    "attack_type",
    "legal_reference",
    "target_kind",
    "perpetrator_type",
    "platform",
    "region",
    "target_role",
    "gender",
)
# Added in 2025.2: a taxonomy file written for 2025.1 still loads (with no roles or genders).
OPTIONAL_SECTIONS = frozenset({"target_role", "gender"})
DEFAULT_TAXONOMY = "taxonomy-2025.2.toml"


@dataclass(frozen=True)
class Term:
    """One taxonomy entry with its labels and section-specific attributes."""

    id: str
    labels: dict[str, str]
    attrs: dict[str, object]
    retired: bool = False

    def label(self, lang: str) -> str:
        return self.labels.get(lang) or self.labels["en"]


@dataclass(frozen=True)
class Taxonomy:
    version: str
    sections: dict[str, dict[str, Term]]

    def terms(self, section: str) -> dict[str, Term]:
        return self.sections[section]

    def ids(self, section: str, *, include_retired: bool = False) -> tuple[str, ...]:
        return tuple(
            t.id for t in self.sections[section].values() if include_retired or not t.retired
        )

    def check(self, section: str, field_name: str, value: str) -> str:
        """Return ``value`` if it is a current term of ``section``, else refuse with the list."""
        term = self.sections[section].get(value)
        if term is None or term.retired:
            allowed = self.ids(section)
            raise InvalidInput.single(
                field_name,
                "taxonomy",
                f"unknown value {value!r}; allowed: {', '.join(allowed)}",
                allowed,
            )
        return value

    def label(self, section: str, term_id: str, lang: str) -> str:
        """A term's label in ``lang``; an id no longer in the taxonomy shows as itself."""
        term = self.sections[section].get(term_id)
        return term.label(lang) if term else term_id

    def category_of(self, attack_type: str) -> str:
        return str(self.sections["attack_type"][attack_type].attrs["category"])

    def is_sensitive_target(self, kind: str) -> bool:
        return bool(self.sections["target_kind"][kind].attrs.get("sensitive", True))


def parse_taxonomy(text: str, origin: str) -> Taxonomy:
    """Validate a taxonomy document; errors name the file and the entry so an editor can fix it."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"taxonomy {origin}: not valid TOML: {exc}") from exc
    version = raw.get("version")
    if not isinstance(version, str) or not version:
        raise ConfigurationError(f"taxonomy {origin}: missing top-level 'version' string")
    sections: dict[str, dict[str, Term]] = {}
    for section in SECTIONS:
        entries = raw.get(section, [])
        if not entries and section not in OPTIONAL_SECTIONS:
            raise ConfigurationError(f"taxonomy {origin}: section [[{section}]] is empty")
        terms: dict[str, Term] = {}
        for i, entry in enumerate(entries):
            term_id = entry.get("id")
            if not isinstance(term_id, str) or not term_id:
                raise ConfigurationError(f"taxonomy {origin}: {section} #{i + 1} has no 'id'")
            if term_id in terms:
                raise ConfigurationError(f"taxonomy {origin}: duplicate {section} id {term_id!r}")
            missing = [lang for lang in LANGUAGES if not entry.get(lang)]
            if missing:
                raise ConfigurationError(
                    f"taxonomy {origin}: {section} {term_id!r} lacks labels for {missing}"
                )
            labels = {lang: str(entry[lang]) for lang in LANGUAGES}
            attrs = {k: v for k, v in entry.items() if k not in (*LANGUAGES, "id", "retired")}
            terms[term_id] = Term(term_id, labels, attrs, bool(entry.get("retired", False)))
        sections[section] = terms
    for term in sections["attack_type"].values():
        cat = term.attrs.get("category")
        if cat not in sections["category"]:
            raise ConfigurationError(
                f"taxonomy {origin}: attack_type {term.id!r} names unknown category {cat!r}"
            )
    return Taxonomy(version=version, sections=sections)


@lru_cache(maxsize=8)
def load_taxonomy(path: str | None = None) -> Taxonomy:
    """Load the taxonomy at ``path``, or the one shipped with the package."""
    if path:
        p = Path(path)
        try:
            return parse_taxonomy(p.read_text(encoding="utf-8"), str(p))
        except OSError as exc:
            raise ConfigurationError(f"cannot read taxonomy file {p}: {exc.strerror}") from exc
    text = (
        resources.files("qorgau.domain")
        .joinpath("taxonomy_data", DEFAULT_TAXONOMY)
        .read_text(encoding="utf-8")
    )
    return parse_taxonomy(text, DEFAULT_TAXONOMY)
