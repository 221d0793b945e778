"""The registry of protected people and outlets: who they are, where they really speak.

Impersonation is only visible against a record of what is genuine: the outlet's own domains
(so that kaz.orda.kz is recognised as Orda.kz and orda-kz.com is not), each person's and
outlet's verified accounts per platform, the names a post may call them by in Russian, Kazakh
(Cyrillic and Latin) and English, and the statements they really published (so that quoting
one is not reported as a fake).

A registry is typed by hand, by several people, over months. One wrong entry (a handle pasted
into two entries, a domain claimed by two outlets) must not cost the whole registry, and must
never be guessed at: the entry that contradicts an earlier one is skipped and reported with
its position, its name, the field and what it conflicts with, and the rest is kept.

The document shape (a JSON or TOML file)::

    {"entities": [
      {"id": "orda", "kind": "outlet", "name": "Orda.kz",
       "names": {"ru": ["Орда"], "kk": ["Орда"], "kk-latn": ["Orda"], "en": ["Orda"]},
       "accounts": {"telegram": ["ordakz"], "instagram": ["orda.kz"]},
       "domains": ["orda.kz"],
       "statements": [{"text": "...", "url": "https://orda.kz/...", "date": "2025-03-01"}]},
      {"id": "editor", "kind": "person", "name": "Gulnara Bazhkenova", "outlet": "orda",
       "names": {"ru": ["Гульнара Бажкенова"]}, "accounts": {"telegram": ["gbazhkenova"]}}
    ]}
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import tldextract

from qorgau.domain.identifiers import normalize_host, normalize_text
from qorgau.errors import InvalidInput

KINDS = ("person", "outlet")
LANGUAGES = ("ru", "kk", "kk-latn", "en")
ENTRY_FIELDS = ("id", "kind", "name", "names", "outlet", "accounts", "domains", "statements")
STATEMENT_FIELDS = ("text", "url", "date")
# Platforms known under two names are stored under one, so a handle verified on "twitter" is
# the same account as one seen on "x".
PLATFORM_ALIASES = {"twitter": "x", "tg": "telegram", "fb": "facebook", "ig": "instagram"}

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_HANDLE = re.compile(r"^[\w.\-]{2,64}$")
_PLATFORM = re.compile(r"^[a-z][a-z0-9_.-]{0,31}$")

# Offline: the public suffix list bundled with tldextract, never fetched.
_SUFFIXES = tldextract.TLDExtract(
    suffix_list_urls=(),
    cache_dir=None,
    include_psl_private_domains=True,
    # Names reserved for documentation and tests (RFC 2606, RFC 6761): demos and simulations
    # use them so that no real outlet's domain appears in made-up traffic.
    extra_suffixes=("example", "test", "invalid", "localhost"),
)

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Statement:
    """A statement the entity really published: quoting it is not a fake."""

    text: str
    url: str = ""
    date: date | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"text": self.text}
        if self.url:
            out["url"] = self.url
        if self.date is not None:
            out["date"] = self.date.isoformat()
        return out


@dataclass(frozen=True)
class ProtectedEntity:
    id: str
    kind: str  # person | outlet
    name: str
    names: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # language -> variants
    outlet: str | None = None  # the id of the outlet a person belongs to
    accounts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # platform -> handles
    domains: tuple[str, ...] = ()  # IDNA host names
    statements: tuple[Statement, ...] = ()

    @property
    def all_names(self) -> tuple[str, ...]:
        """The display name and every variant, once each."""
        return tuple(dict.fromkeys([self.name, *(v for vs in self.names.values() for v in vs)]))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "kind": self.kind, "name": self.name}
        if self.names:
            out["names"] = {lang: list(vs) for lang, vs in self.names.items()}
        if self.outlet is not None:
            out["outlet"] = self.outlet
        if self.accounts:
            out["accounts"] = {p: list(hs) for p, hs in self.accounts.items()}
        if self.domains:
            out["domains"] = list(self.domains)
        if self.statements:
            out["statements"] = [s.to_json() for s in self.statements]
        return out


@dataclass(frozen=True)
class ProtectedRegistry:
    entities: tuple[ProtectedEntity, ...] = ()

    def by_id(self, entity_id: str) -> ProtectedEntity | None:
        for entity in self.entities:
            if entity.id == entity_id:
                return entity
        return None

    def family(self, entity: ProtectedEntity) -> str:
        """The campaign group: a person's outlet, else the entity itself. Attacks on an outlet's
        editor and on the outlet are one campaign far more often than not."""
        return entity.outlet or entity.id

    def verified_accounts(self, entity: ProtectedEntity) -> dict[str, frozenset[str]]:
        """Accounts that speak for ``entity``: its own and, for a person, its outlet's (an
        outlet publishing its editor's statement is the statement's genuine source)."""
        out: dict[str, set[str]] = {}
        sources = [entity]
        outlet = None if entity.outlet is None else self.by_id(entity.outlet)
        if outlet is not None:
            sources.append(outlet)
        for source in sources:
            for platform, handles in source.accounts.items():
                out.setdefault(platform, set()).update(handles)
        return {p: frozenset(hs) for p, hs in out.items()}

    def to_json(self) -> dict[str, Any]:
        return {"entities": [e.to_json() for e in self.entities]}


@dataclass(frozen=True)
class RegistryProblem:
    """One thing wrong with one entry, worded so the person who typed the file can fix it.

    ``index`` is the entry's position in ``entities`` (None for the document itself);
    ``severity`` is "error" when the entry was skipped and "warning" when it was kept."""

    index: int | None
    entry: str
    field: str
    reason: str
    severity: Severity = "error"

    def __str__(self) -> str:
        where = "registry" if self.index is None else f"entities[{self.index}]"
        if self.entry:
            where += f" ({self.entry})"
        outcome = "entry skipped" if self.severity == "error" else "entry kept"
        return f"{where}: {self.field}: {self.reason} ({outcome})"

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "entry": self.entry,
            "field": self.field,
            "reason": self.reason,
            "severity": self.severity,
        }


@dataclass(frozen=True)
class RegistryParse:
    registry: ProtectedRegistry
    problems: tuple[RegistryProblem, ...] = ()

    @property
    def skipped(self) -> tuple[int, ...]:
        return tuple(
            sorted(
                {p.index for p in self.problems if p.severity == "error" and p.index is not None}
            )
        )


@dataclass(frozen=True)
class RegistryImport:
    """What the store keeps after an import: the canonical document of the valid entries."""

    document: dict[str, Any]
    problems: tuple[RegistryProblem, ...]


REGISTRY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "entities": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "kind", "name"],
                "additionalProperties": False,
                "properties": {
                    "id": {"type": "string", "pattern": _ID.pattern},
                    "kind": {"enum": list(KINDS)},
                    "name": {"type": "string", "minLength": 1},
                    "names": {
                        "type": "object",
                        "propertyNames": {"enum": list(LANGUAGES)},
                        "additionalProperties": {"type": "array", "items": {"type": "string"}},
                    },
                    "outlet": {"type": "string"},
                    "accounts": {
                        "type": "object",
                        "additionalProperties": {"type": "array", "items": {"type": "string"}},
                    },
                    "domains": {"type": "array", "items": {"type": "string"}},
                    "statements": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["text"],
                            "additionalProperties": False,
                            "properties": {
                                "text": {"type": "string", "minLength": 1},
                                "url": {"type": "string"},
                                "date": {"type": "string", "format": "date"},
                            },
                        },
                    },
                },
            },
        }
    },
}


class _EntryError(Exception):
    """An entry's own field is wrong; carries what ``RegistryProblem`` needs."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field_name
        self.reason = reason


def normalize_platform(value: str) -> str:
    platform = value.strip().lower()
    return PLATFORM_ALIASES.get(platform, platform)


def normalize_account(value: str) -> str:
    """A handle as matchers compare it: folded, without the leading "@"."""
    return normalize_text(value).lstrip("@")


def parse_registry(raw: Any, field_name: str = "registry") -> RegistryParse:
    """The valid entries of ``raw`` and a precise problem for every entry left out or doubted.

    Entries are read in order and an entry that contradicts an earlier kept one is the one
    skipped, so re-importing a file with one new bad entry at the end never drops what was
    already protected. Only a document that is not a registry at all (not an object, no list
    of entities) raises ``InvalidInput``."""
    if raw is None:
        return RegistryParse(ProtectedRegistry())
    if not isinstance(raw, Mapping):
        raise InvalidInput.single(
            field_name, "type", 'the registry is an object with an "entities" list'
        )
    unknown = sorted(set(raw) - {"entities"})
    if unknown:
        raise InvalidInput.single(
            f"{field_name}.{unknown[0]}", "unknown", "no such registry field", ("entities",)
        )
    items = raw.get("entities", [])
    if isinstance(items, str) or not isinstance(items, Sequence):
        raise InvalidInput.single(f"{field_name}.entities", "type", "entities is a list")

    problems: list[RegistryProblem] = []
    candidates: list[tuple[int, ProtectedEntity]] = []
    for index, item in enumerate(items):
        label = _label(item)
        try:
            candidates.append((index, _entity(item)))
        except _EntryError as exc:
            problems.append(RegistryProblem(index, label, exc.field, exc.reason))
    kept = _drop_conflicts(candidates, problems)
    kept = _check_outlets(kept, problems)
    _warn_shared_names(kept, problems)
    problems.sort(key=lambda p: (-1 if p.index is None else p.index, p.severity != "error"))
    return RegistryParse(ProtectedRegistry(tuple(e for _, e in kept)), tuple(problems))


def import_registry(raw: Any) -> RegistryImport:
    """For the desk, when an organisation imports a registry file: the canonical document of
    the entries worth keeping and the problems to show. A file with no valid entry at all
    raises ``InvalidInput`` listing what is wrong, so the stored registry is left as it was."""
    parsed = parse_registry(raw)
    if not parsed.registry.entities and parsed.problems:
        shown = "; ".join(str(p) for p in parsed.problems[:5])
        more = len(parsed.problems) - 5
        if more > 0:
            shown += f"; and {more} more"
        raise InvalidInput.single(
            "registry", "no_valid_entry", f"no entry could be kept: {shown}; fix and import again"
        )
    return RegistryImport(parsed.registry.to_json(), parsed.problems)


# --- one entry --------------------------------------------------------------------------------


def _label(item: Any) -> str:
    if isinstance(item, Mapping):
        name = item.get("name")
        if isinstance(name, str) and name.strip():
            return name.strip()
        ident = item.get("id")
        if isinstance(ident, str):
            return ident
    return ""


def _entity(item: Any) -> ProtectedEntity:
    if not isinstance(item, Mapping):
        raise _EntryError("entry", "each entry is an object with id, kind and name")
    unknown = sorted(set(item) - set(ENTRY_FIELDS))
    if unknown:
        raise _EntryError(
            unknown[0], f"no such field; the fields are {', '.join(ENTRY_FIELDS)} (check spelling)"
        )
    ident = item.get("id")
    if not isinstance(ident, str) or not _ID.match(ident):
        raise _EntryError(
            "id", "give a short id of lower-case letters, digits, '-' or '_', such as orda"
        )
    kind = item.get("kind")
    if kind not in KINDS:
        raise _EntryError("kind", f"kind is one of {', '.join(KINDS)}, not {kind!r}")
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _EntryError("name", "the name is missing")
    outlet = item.get("outlet")
    if outlet is not None:
        if kind != "person":
            raise _EntryError("outlet", "only a person belongs to an outlet; remove the field")
        if not isinstance(outlet, str) or not _ID.match(outlet):
            raise _EntryError("outlet", "give the id of the outlet's entry, such as orda")
    return ProtectedEntity(
        id=ident,
        kind=kind,
        name=" ".join(name.split()),
        names=_names(item.get("names", {})),
        outlet=outlet,
        accounts=_accounts(item.get("accounts", {})),
        domains=_domains(item.get("domains", [])),
        statements=_statements(item.get("statements", [])),
    )


def _strings(value: Any, field_name: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise _EntryError(field_name, "a list of strings")
    out = []
    for i, v in enumerate(value):
        if not isinstance(v, str) or not v.strip():
            raise _EntryError(f"{field_name}[{i}]", "an empty or non-text value")
        out.append(v.strip())
    return out


def _names(value: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, Mapping):
        raise _EntryError("names", 'an object of languages, such as {"ru": ["Орда"]}')
    out: dict[str, tuple[str, ...]] = {}
    for lang, variants in value.items():
        if lang not in LANGUAGES:
            raise _EntryError(
                f"names.{lang}", f"unknown language; use one of {', '.join(LANGUAGES)}"
            )
        out[lang] = tuple(
            dict.fromkeys(" ".join(v.split()) for v in _strings(variants, f"names.{lang}"))
        )
    return out


def _accounts(value: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, Mapping):
        raise _EntryError("accounts", 'an object of platforms, such as {"telegram": ["ordakz"]}')
    out: dict[str, set[str]] = {}
    for platform_raw, handles in value.items():
        platform = normalize_platform(str(platform_raw))
        if not _PLATFORM.match(platform):
            raise _EntryError(f"accounts.{platform_raw}", "not a platform name such as telegram")
        for i, handle_raw in enumerate(_strings(handles, f"accounts.{platform_raw}")):
            handle = normalize_account(handle_raw)
            if not _HANDLE.match(handle):
                raise _EntryError(
                    f"accounts.{platform_raw}[{i}]",
                    f"{handle_raw!r} is not a handle; write the account name alone, "
                    "without the address, such as ordakz",
                )
            out.setdefault(platform, set()).add(handle)
    return {p: tuple(sorted(hs)) for p, hs in sorted(out.items())}


def _domains(value: Any) -> tuple[str, ...]:
    out: list[str] = []
    for i, raw in enumerate(_strings(value, "domains")):
        try:
            host = normalize_host(raw, f"domains[{i}]")
        except InvalidInput:
            raise _EntryError(
                f"domains[{i}]", f"{raw!r} is not a domain; write it as orda.kz"
            ) from None
        if host.startswith("www."):
            host = host[4:]
        if not _SUFFIXES(host).suffix:
            raise _EntryError(
                f"domains[{i}]", f"{raw!r} does not end in a known top-level domain such as .kz"
            )
        out.append(host)
    return tuple(dict.fromkeys(out))


def _statements(value: Any) -> tuple[Statement, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise _EntryError("statements", "a list of {text, url, date} objects")
    out = []
    for i, item in enumerate(value):
        where = f"statements[{i}]"
        if not isinstance(item, Mapping):
            raise _EntryError(where, "a statement is an object with text, url and date")
        unknown = sorted(set(item) - set(STATEMENT_FIELDS))
        if unknown:
            raise _EntryError(f"{where}.{unknown[0]}", "no such field; use text, url and date")
        text = item.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _EntryError(f"{where}.text", "the statement's text is missing")
        url = item.get("url", "")
        if not isinstance(url, str) or (url and not re.match(r"^https?://\S+$", url)):
            raise _EntryError(f"{where}.url", f"{url!r} is not a web address (https://...)")
        when = item.get("date")
        parsed: date | None = None
        if when is not None:
            if isinstance(when, date):
                parsed = when
            else:
                try:
                    parsed = date.fromisoformat(str(when))
                except ValueError:
                    raise _EntryError(
                        f"{where}.date", f"{when!r} is not a date; write it as 2025-03-01"
                    ) from None
        out.append(Statement(text.strip(), url, parsed))
    return tuple(out)


# --- across entries ---------------------------------------------------------------------------


def _drop_conflicts(
    candidates: list[tuple[int, ProtectedEntity]], problems: list[RegistryProblem]
) -> list[tuple[int, ProtectedEntity]]:
    """Keep entries in order; skip one that claims what an earlier kept entry already holds."""
    ids: dict[str, tuple[int, ProtectedEntity]] = {}
    handles: dict[tuple[str, str], tuple[int, ProtectedEntity]] = {}
    domains: dict[str, tuple[int, ProtectedEntity]] = {}
    kept: list[tuple[int, ProtectedEntity]] = []
    for index, entity in candidates:
        conflict = _conflict(entity, ids, handles, domains)
        if conflict is not None:
            field_name, reason = conflict
            problems.append(RegistryProblem(index, entity.name, field_name, reason))
            continue
        ids[entity.id] = (index, entity)
        for platform, hs in entity.accounts.items():
            for h in hs:
                handles[(platform, h)] = (index, entity)
        for d in entity.domains:
            domains.setdefault(d, (index, entity))
        kept.append((index, entity))
    return kept


def _conflict(
    entity: ProtectedEntity,
    ids: Mapping[str, tuple[int, ProtectedEntity]],
    handles: Mapping[tuple[str, str], tuple[int, ProtectedEntity]],
    domains: Mapping[str, tuple[int, ProtectedEntity]],
) -> tuple[str, str] | None:
    if entity.id in ids:
        other = ids[entity.id]
        return "id", f"the id {entity.id!r} is already used by {_where(other)}; give a new id"
    for platform, hs in entity.accounts.items():
        for i, h in enumerate(hs):
            holder = handles.get((platform, h))
            if holder is not None:
                return (
                    f"accounts.{platform}[{i}]",
                    f"the {platform} account {h!r} is already verified for {_where(holder)}; "
                    "an account speaks for one entry: remove it from one of them",
                )
    for i, d in enumerate(entity.domains):
        for claimed, owner in domains.items():
            same_family = _family(owner[1]) == _family(entity)
            overlaps = d == claimed or d.endswith("." + claimed) or claimed.endswith("." + d)
            if overlaps and not same_family:
                relation = "the same domain as" if d == claimed else "overlaps"
                return (
                    f"domains[{i}]",
                    f"{d!r} is {relation} {claimed!r}, already claimed by {_where(owner)}; "
                    "a domain belongs to one outlet: remove it from one of them",
                )
    return None


def _family(entity: ProtectedEntity) -> str:
    return entity.outlet or entity.id


def _where(ref: tuple[int, ProtectedEntity]) -> str:
    return f"entities[{ref[0]}] ({ref[1].name})"


def _check_outlets(
    kept: list[tuple[int, ProtectedEntity]], problems: list[RegistryProblem]
) -> list[tuple[int, ProtectedEntity]]:
    """A person's outlet must be an outlet in the registry; else the link is dropped (warned),
    because the person still deserves protection without it."""
    outlets = {e.id for _, e in kept if e.kind == "outlet"}
    out = []
    for index, entity in kept:
        if entity.outlet is not None and entity.outlet not in outlets:
            problems.append(
                RegistryProblem(
                    index,
                    entity.name,
                    "outlet",
                    f"no outlet with id {entity.outlet!r} was kept in the registry; the person "
                    "is kept without it: add the outlet or correct the id",
                    "warning",
                )
            )
            entity = ProtectedEntity(
                entity.id,
                entity.kind,
                entity.name,
                entity.names,
                None,
                entity.accounts,
                entity.domains,
                entity.statements,
            )
        out.append((index, entity))
    return out


def _warn_shared_names(
    kept: list[tuple[int, ProtectedEntity]], problems: list[RegistryProblem]
) -> None:
    """Two people called by the same name variant are kept (namesakes exist), but a post using
    that name will be attributed to both: the responder should know."""
    seen: dict[str, tuple[int, ProtectedEntity]] = {}
    for index, entity in kept:
        if entity.kind != "person":
            continue
        for variant in entity.all_names:
            key = normalize_text(variant)
            other = seen.get(key)
            if other is not None and other[1].id != entity.id:
                problems.append(
                    RegistryProblem(
                        index,
                        entity.name,
                        "names",
                        f"the name {variant!r} is also a name of {_where(other)}; posts using it "
                        "will be attributed to both: give a fuller variant if they differ",
                        "warning",
                    )
                )
            else:
                seen.setdefault(key, (index, entity))
