"""Other trackers' categories and DISARM techniques, so one Qorgau case feeds every tracker.

NGOs in Kazakhstan report the same attack to the Council of Europe Platform, to Mapping Media
Freedom and to their own donors; re-typing each case into every form loses cases and invents
inconsistencies. The trackers' vocabularies (and the DISARM framework used to describe
disinformation) change on their own schedule, so they live in data files shipped with the package
(``data/schemes.toml``, ``data/disarm.toml``); this module only validates them and applies them.
No network and no database: the same functions serve the CLI, the web layer and reports.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from qorgau.domain.taxonomy import LANGUAGES
from qorgau.errors import ConfigurationError, InvalidInput
from qorgau.reports.model import SharedIncident

SCHEMES_FILE = "schemes.toml"
DISARM_FILE = "disarm.toml"
SCHEME_IDS = ("coe", "mmf")
# Sections each scheme must have; the first is the vocabulary incidents are classified in.
_SECTIONS: dict[str, tuple[str, ...]] = {
    "coe": ("category", "threat_level", "source"),
    "mmf": ("type", "source", "context"),
}
_TECHNIQUE_ID = re.compile(r"^T\d{4}(\.\d{3})?$")
_TACTIC_ID = re.compile(r"^TA\d{2}$")
# How many known DISARM ids an error message quotes: enough to show the expected shape.
_EXAMPLES_IN_MESSAGE = 5


@dataclass(frozen=True)
class Entry:
    """One category, type, level or source of an external scheme, with its labels."""

    id: str
    labels: dict[str, str]
    parent: str | None = None
    # False when the tracker's exact wording could not be confirmed: the submitter checks it.
    verified: bool = True
    note: str = ""

    def label(self, lang: str) -> str:
        return self.labels.get(lang) or self.labels["en"]


@dataclass(frozen=True)
class CoeRules:
    """The CoE rules that depend on more than the attack type (impunity, alert level)."""

    impunity_after: timedelta
    impunity_attack_types: frozenset[str]
    impunity_resolved_outcomes: frozenset[str]
    level_1_attack_types: frozenset[str]
    level_1_severities: frozenset[str]


@dataclass(frozen=True)
class Scheme:
    id: str
    labels: dict[str, str]
    source_url: str
    checked: str
    sections: dict[str, dict[str, Entry]]
    attack_map: dict[str, tuple[str, ...]]
    source_map: dict[str, str]

    def entry(self, section: str, entry_id: str) -> Entry:
        return self.sections[section][entry_id]


@dataclass(frozen=True)
class Technique:
    id: str
    tactic: str
    labels: dict[str, str]

    def label(self, lang: str) -> str:
        return self.labels.get(lang) or self.labels["en"]


@dataclass(frozen=True)
class Disarm:
    framework: str
    version: str
    source_url: str
    tactics: dict[str, Entry]
    techniques: dict[str, Technique]


@dataclass(frozen=True)
class Schemes:
    version: str
    origin: str
    country: Entry
    columns: dict[str, Entry]
    schemes: dict[str, Scheme]
    coe_rules: CoeRules
    disarm: Disarm

    def scheme(self, scheme_id: str) -> Scheme:
        found = self.schemes.get(scheme_id)
        if found is None:
            raise InvalidInput.single(
                "scheme",
                "scheme",
                f"unknown tracker scheme {scheme_id!r}; allowed: {', '.join(SCHEME_IDS)}",
                SCHEME_IDS,
            )
        return found


# --- loading ---------------------------------------------------------------------------------


def _labels(raw: Mapping[str, Any], origin: str, what: str) -> dict[str, str]:
    missing = [lang for lang in LANGUAGES if not isinstance(raw.get(lang), str) or not raw[lang]]
    if missing:
        raise ConfigurationError(f"{origin}: {what} lacks labels for {missing}")
    return {lang: str(raw[lang]) for lang in LANGUAGES}


def _table(raw: Mapping[str, Any], key: str, origin: str, what: str) -> dict[str, Any]:
    value = raw.get(key)
    if not isinstance(value, dict):
        raise ConfigurationError(f"{origin}: {what} has no [{key}] table")
    return value


def _string(raw: Mapping[str, Any], key: str, origin: str, what: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{origin}: {what} has no '{key}' string")
    return value


def _strings(raw: Mapping[str, Any], key: str, origin: str, what: str) -> frozenset[str]:
    value = raw.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigurationError(f"{origin}: {what} '{key}' must be a list of strings")
    return frozenset(value)


def _entries(raw: object, origin: str, what: str) -> dict[str, Entry]:
    if not isinstance(raw, list) or not raw:
        raise ConfigurationError(f"{origin}: [[{what}]] is missing or empty")
    entries: dict[str, Entry] = {}
    for i, item in enumerate(raw):
        entry_id = item.get("id") if isinstance(item, dict) else None
        if not isinstance(entry_id, str) or not entry_id:
            raise ConfigurationError(f"{origin}: {what} #{i + 1} has no 'id'")
        if entry_id in entries:
            raise ConfigurationError(f"{origin}: duplicate {what} id {entry_id!r}")
        parent = item.get("parent")
        entries[entry_id] = Entry(
            id=entry_id,
            labels=_labels(item, origin, f"{what} {entry_id!r}"),
            parent=str(parent) if parent else None,
            verified=bool(item.get("verified", True)),
            note=str(item.get("note", "")),
        )
    for entry in entries.values():
        if entry.parent is not None and entry.parent not in entries:
            raise ConfigurationError(
                f"{origin}: {what} {entry.id!r} names unknown parent {entry.parent!r}"
            )
    return entries


def _parse_scheme(scheme_id: str, raw: Mapping[str, Any], origin: str) -> Scheme:
    table = _table(raw, scheme_id, origin, "schemes file")
    where = f"scheme {scheme_id!r}"
    sections = {
        name: _entries(table.get(name), origin, f"{scheme_id}.{name}")
        for name in _SECTIONS[scheme_id]
    }
    vocabulary = _SECTIONS[scheme_id][0]
    attack_map: dict[str, tuple[str, ...]] = {}
    for attack, targets in _table(table, "attack_map", origin, where).items():
        if not isinstance(targets, list) or not targets:
            raise ConfigurationError(
                f"{origin}: {scheme_id}.attack_map {attack!r} must list at least one {vocabulary}"
            )
        for target in targets:
            if target not in sections[vocabulary]:
                raise ConfigurationError(
                    f"{origin}: {scheme_id}.attack_map {attack!r} names unknown "
                    f"{vocabulary} {target!r}"
                )
        attack_map[attack] = tuple(targets)
    source_map: dict[str, str] = {}
    for perpetrator, source in _table(table, "source_map", origin, where).items():
        if source not in sections["source"]:
            raise ConfigurationError(
                f"{origin}: {scheme_id}.source_map {perpetrator!r} names unknown source {source!r}"
            )
        source_map[perpetrator] = str(source)
    return Scheme(
        id=scheme_id,
        labels=_labels(table, origin, where),
        source_url=_string(table, "source_url", origin, where),
        checked=_string(table, "checked", origin, where),
        sections=sections,
        attack_map=attack_map,
        source_map=source_map,
    )


def _parse_coe_rules(raw: Mapping[str, Any], coe: Scheme, origin: str) -> CoeRules:
    table = _table(raw, "coe", origin, "schemes file")
    days = table.get("impunity_after_days")
    if not isinstance(days, int) or isinstance(days, bool) or days < 0:
        raise ConfigurationError(f"{origin}: coe.impunity_after_days must be a whole number >= 0")
    for needed in ("impunity", "physical_safety"):
        if needed not in coe.sections["category"]:
            raise ConfigurationError(f"{origin}: coe.category {needed!r} is missing")
    for needed in ("level_1", "level_2"):
        if needed not in coe.sections["threat_level"]:
            raise ConfigurationError(f"{origin}: coe.threat_level {needed!r} is missing")
    return CoeRules(
        impunity_after=timedelta(days=days),
        impunity_attack_types=_strings(table, "impunity_attack_types", origin, "coe"),
        impunity_resolved_outcomes=_strings(table, "impunity_resolved_outcomes", origin, "coe"),
        level_1_attack_types=_strings(table, "level_1_attack_types", origin, "coe"),
        level_1_severities=_strings(table, "level_1_severities", origin, "coe"),
    )


def parse_disarm(text: str, origin: str) -> Disarm:
    """Validate the DISARM technique list; ids must have DISARM's shape and be unique."""
    raw = _toml(text, origin)
    tactics = _entries(raw.get("tactic"), origin, "tactic")
    for tactic_id in tactics:
        if not _TACTIC_ID.match(tactic_id):
            raise ConfigurationError(f"{origin}: tactic id {tactic_id!r} is not like 'TA06'")
    items = raw.get("technique")
    if not isinstance(items, list) or not items:
        raise ConfigurationError(f"{origin}: [[technique]] is missing or empty")
    techniques: dict[str, Technique] = {}
    for i, item in enumerate(items):
        technique_id = item.get("id")
        if not isinstance(technique_id, str) or not _TECHNIQUE_ID.match(technique_id):
            raise ConfigurationError(
                f"{origin}: technique #{i + 1} id {technique_id!r} is not like 'T0086.002'"
            )
        if technique_id in techniques:
            raise ConfigurationError(f"{origin}: duplicate technique id {technique_id!r}")
        tactic = item.get("tactic")
        if tactic not in tactics:
            raise ConfigurationError(
                f"{origin}: technique {technique_id!r} names unknown tactic {tactic!r}"
            )
        techniques[technique_id] = Technique(
            technique_id, str(tactic), _labels(item, origin, f"technique {technique_id!r}")
        )
    return Disarm(
        framework=_string(raw, "framework", origin, "DISARM file"),
        version=_string(raw, "version", origin, "DISARM file"),
        source_url=_string(raw, "source_url", origin, "DISARM file"),
        tactics=tactics,
        techniques=techniques,
    )


def parse_schemes(text: str, origin: str, disarm: Disarm) -> Schemes:
    """Validate a schemes document; errors name the file and the entry so an editor can fix it."""
    raw = _toml(text, origin)
    version = _string(raw, "version", origin, "schemes file")
    schemes = {scheme_id: _parse_scheme(scheme_id, raw, origin) for scheme_id in SCHEME_IDS}
    country_raw = _table(raw, "country", origin, "schemes file")
    country = Entry(
        _string(country_raw, "id", origin, "country"), _labels(country_raw, origin, "country")
    )
    return Schemes(
        version=version,
        origin=origin,
        country=country,
        columns=_entries(raw.get("column"), origin, "column"),
        schemes=schemes,
        coe_rules=_parse_coe_rules(raw, schemes["coe"], origin),
        disarm=disarm,
    )


def _toml(text: str, origin: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{origin}: not valid TOML: {exc}") from exc


def _read(path: str | None, default: str) -> tuple[str, str]:
    if path:
        p = Path(path)
        try:
            return p.read_text(encoding="utf-8"), str(p)
        except OSError as exc:
            raise ConfigurationError(f"cannot read {p}: {exc.strerror}") from exc
    text = resources.files("qorgau.reports").joinpath("data", default).read_text(encoding="utf-8")
    return text, default


@lru_cache(maxsize=8)
def load_schemes(path: str | None = None, disarm_path: str | None = None) -> Schemes:
    """Load the tracker schemes and DISARM list at the given paths, or those shipped."""
    disarm_text, disarm_origin = _read(disarm_path, DISARM_FILE)
    text, origin = _read(path, SCHEMES_FILE)
    return parse_schemes(text, origin, parse_disarm(disarm_text, disarm_origin))


# --- applying --------------------------------------------------------------------------------


def _check_lang(lang: str) -> str:
    if lang not in LANGUAGES:
        raise InvalidInput.single(
            "lang",
            "language",
            f"unknown language {lang!r}; allowed: {', '.join(LANGUAGES)}",
            LANGUAGES,
        )
    return lang


def _mapped(schemes: Schemes, scheme: Scheme, incident: SharedIncident) -> list[str]:
    """The scheme's entries for the incident's attack types, in the scheme's own order."""
    found: set[str] = set()
    for attack in incident.attack_types:
        targets = scheme.attack_map.get(attack)
        if targets is None:
            raise ConfigurationError(
                f"{schemes.origin}: {scheme.id}.attack_map has no entry for attack type {attack!r}"
            )
        found.update(targets)
    vocabulary = scheme.sections[_SECTIONS[scheme.id][0]]
    return [entry_id for entry_id in vocabulary if entry_id in found]


def _source(schemes: Schemes, scheme: Scheme, incident: SharedIncident) -> str:
    source = scheme.source_map.get(incident.perpetrator_type)
    if source is None:
        raise ConfigurationError(
            f"{schemes.origin}: {scheme.id}.source_map has no entry for perpetrator type "
            f"{incident.perpetrator_type!r}"
        )
    return source


def _attacked_at(incident: SharedIncident) -> datetime:
    return incident.started_at or incident.reported_at


def coe_categories(
    incident: SharedIncident, *, now: datetime, schemes: Schemes | None = None
) -> tuple[str, ...]:
    """CoE Platform category ids for ``incident``.

    "Impunity" is added for a killing or physical attack still without a conviction once the
    configured period has passed: the Platform files failures to investigate and prosecute as
    their own category, and an unresolved case is what NGOs need to keep raising.
    """
    loaded = schemes or load_schemes()
    coe = loaded.scheme("coe")
    rules = loaded.coe_rules
    categories = _mapped(loaded, coe, incident)
    unresolved = incident.legal_outcome not in rules.impunity_resolved_outcomes
    serious = bool(rules.impunity_attack_types.intersection(incident.attack_types))
    if serious and unresolved and now - _attacked_at(incident) >= rules.impunity_after:
        categories.append("impunity")
    ordered = [c for c in coe.sections["category"] if c in categories]
    return tuple(ordered)


def coe_threat_level(incident: SharedIncident, *, schemes: Schemes | None = None) -> str:
    """The alert level Qorgau proposes ("level_1" or "level_2"); the Platform partner decides."""
    rules = (schemes or load_schemes()).coe_rules
    if rules.level_1_attack_types.intersection(incident.attack_types):
        return "level_1"
    if incident.severity in rules.level_1_severities:
        return "level_1"
    return "level_2"


def coe_source_of_threat(incident: SharedIncident, *, schemes: Schemes | None = None) -> str:
    """The CoE "source of threat" id derived from Qorgau's perpetrator type."""
    loaded = schemes or load_schemes()
    return _source(loaded, loaded.scheme("coe"), incident)


def mmf_fields(
    incident: SharedIncident, *, schemes: Schemes | None = None
) -> dict[str, str | list[str]]:
    """Mapping Media Freedom fields (ids) for ``incident``.

    ``type_of_incident`` lists each specific type followed by its parent, the way MapMF itself
    lists them ("Hacking/DDoS | Attack to property"), so filters on either level find the case.
    ``context_of_incident`` is set only for online incidents: offline ones need a place Qorgau
    does not record.
    """
    loaded = schemes or load_schemes()
    mmf = loaded.scheme("mmf")
    types: list[str] = []
    for type_id in _mapped(loaded, mmf, incident):
        for candidate in (type_id, mmf.entry("type", type_id).parent):
            if candidate is not None and candidate not in types:
                types.append(candidate)
    fields: dict[str, str | list[str]] = {
        "type_of_incident": types,
        "source_of_incident": _source(loaded, mmf, incident),
    }
    if incident.platform and incident.platform != "offline":
        fields["context_of_incident"] = "online_digital"
    return fields


def check_disarm(
    ids: Sequence[str], field_name: str = "disarm_techniques", *, schemes: Schemes | None = None
) -> tuple[str, ...]:
    """Normalise DISARM technique ids ("t0086.002" → "T0086.002"), refuse unknown ones, dedupe.

    Only techniques in the shipped list are accepted, so every stored id has labels in all three
    languages and exists in the DISARM version the list was taken from.
    """
    known = (schemes or load_schemes()).disarm.techniques
    result: list[str] = []
    for i, raw in enumerate(ids):
        technique_id = raw.strip().upper()
        if technique_id not in known:
            examples = ", ".join(list(known)[:_EXAMPLES_IN_MESSAGE])
            raise InvalidInput.single(
                f"{field_name}[{i}]",
                "disarm",
                f"unknown DISARM technique {raw!r}; known ids look like {examples}",
                tuple(known),
            )
        if technique_id not in result:
            result.append(technique_id)
    return tuple(result)


def disarm_label(technique_id: str, lang: str, *, schemes: Schemes | None = None) -> str:
    """The technique's id and name in ``lang`` ("T0086.002 Develop AI-Generated Images ...").

    The id stays in the label because analysts look techniques up in DISARM by id.
    """
    _check_lang(lang)
    loaded = schemes or load_schemes()
    (normalised,) = check_disarm([technique_id], "technique_id", schemes=loaded)
    return f"{normalised} {loaded.disarm.techniques[normalised].label(lang)}"


def scheme_labels(scheme: str, lang: str, *, schemes: Schemes | None = None) -> dict[str, str]:
    """Ids → labels in ``lang`` of the scheme's classification (CoE categories, MapMF types)."""
    _check_lang(lang)
    found = (schemes or load_schemes()).scheme(scheme)
    vocabulary = found.sections[_SECTIONS[scheme][0]]
    return {entry_id: entry.label(lang) for entry_id, entry in vocabulary.items()}


def column_labels(lang: str, *, schemes: Schemes | None = None) -> dict[str, str]:
    """Headings in ``lang`` for the keys of :func:`tracker_rows`."""
    _check_lang(lang)
    return {c.id: c.label(lang) for c in (schemes or load_schemes()).columns.values()}


def tracker_rows(
    incidents: Sequence[SharedIncident],
    scheme: str,
    lang: str,
    *,
    now: datetime,
    schemes: Schemes | None = None,
) -> list[dict[str, str]]:
    """One row per incident, ready to paste into ``scheme``'s submission form.

    Values are labels in ``lang``; ``to_check`` names the values whose wording on the tracker
    could not be confirmed, so the person submitting picks the matching option by hand.
    """
    _check_lang(lang)
    loaded = schemes or load_schemes()
    found = loaded.scheme(scheme)
    rows: list[dict[str, str]] = []
    for incident in incidents:
        row = {
            "id": incident.public_id,
            "date": _attacked_at(incident).date().isoformat(),
            "country": loaded.country.label(lang),
            "title": incident.title,
            "summary": incident.summary,
            "sources": "\n".join(incident.source_urls),
        }
        used: list[Entry] = []
        if scheme == "coe":
            categories = [
                found.entry("category", c)
                for c in coe_categories(incident, now=now, schemes=loaded)
            ]
            level = found.entry("threat_level", coe_threat_level(incident, schemes=loaded))
            source = found.entry("source", coe_source_of_threat(incident, schemes=loaded))
            row["category"] = "; ".join(e.label(lang) for e in categories)
            row["threat_level"] = level.label(lang)
            row["source_of_threat"] = source.label(lang)
            used = [*categories, level, source]
        else:
            fields = mmf_fields(incident, schemes=loaded)
            types = [found.entry("type", t) for t in fields["type_of_incident"]]
            source = found.entry("source", str(fields["source_of_incident"]))
            context_id = fields.get("context_of_incident")
            context = found.entry("context", str(context_id)) if context_id else None
            row["type_of_incident"] = " | ".join(e.label(lang) for e in types)
            row["source_of_incident"] = source.label(lang)
            row["context_of_incident"] = context.label(lang) if context else ""
            used = [*types, source, *([context] if context else [])]
        row["to_check"] = "; ".join(e.label(lang) for e in used if not e.verified)
        rows.append(row)
    return rows
