"""STIX 2.1 exchange: incidents and indicators as bundles that CERTs and partner NGOs can read.

CERTs and threat-intelligence platforms (OpenCTI, MISP's STIX importer, the OASIS tooling) all
speak STIX 2.1, so a bundle is the one file an NGO can hand to any of them. This module only
converts between :mod:`qorgau.reports.model` records and STIX text; what may leave the
organisation (consent, TLP) has already been decided by whoever built the ``SharingBundle``,
and this module applies the TLP ceiling once more before anything is written.

Choices, and why:

* TLP: exact TLP 2.0 marking definitions (the OASIS "TLP 2.0" extension, ids published by the
  STIX TLP 2.0 committee note). stix2 3.0.2 only ships TLP 1.0 objects, which cannot say
  AMBER+STRICT, but stix2-validator 3.2.0 accepts the 2.0 definitions without a warning, so we
  build them ourselves. On import both TLP 1.0 (WHITE = CLEAR) and 2.0 markings are understood.
* Unmarked objects import as TLP:AMBER: a partner who forgot to mark something did not say it
  may be passed on, and AMBER is the most restrictive level that still lets our own staff work
  with it; guessing CLEAR could leak it.
* Perceptual hashes (pHash, PDQ) go in ``file:hashes`` under the custom names ``x_phash`` and
  ``x_pdq``: STIX 2.1 allows custom hash names and the validator accepts an ``x_`` prefix.
* Indicators link to incidents with ``related-to``: STIX 2.1 defines ``indicates`` only towards
  attack patterns, malware, campaigns and the like, not towards incidents.
* DISARM techniques travel twice: as ``external_references`` (source_name "DISARM", exact id,
  what we read back) and as ``kill_chain_phases`` (kill_chain_name "disarm", phase_name
  lower-cased as the naming convention asks). The STIX 2.1 text allows ``kill_chain_phases`` on
  incidents, but the validator's incident schema does not list it and issues warning 401; we keep
  it because tools that pivot on kill chains need it.
* Deterministic ids (identity, extension definition, bundle, relationships, indicators without a
  stored uuid) are UUIDv5 of a fixed namespace, so repeated exports deduplicate at the partner.
  The validator warns (103) that these are not UUIDv4; that is the price of stable ids.
* Source URLs are external references without a hash of the page (validator warning 302): we do
  not hold one at export time; the evidence vault, not the bundle, proves what a page showed.
* Indicator ``last_seen`` is the STIX ``modified`` time (the last time we updated what we know),
  ``first_seen`` is ``created`` and ``valid_from``.
* Only indicators whose pattern is one comparison, or the account ``AND`` form we write, are
  imported; other patterns are skipped silently (``SharingBundle`` has no place for a count).
"""

from __future__ import annotations

import json
import re
import uuid
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import stix2  # type: ignore[import-untyped]
from stix2validator import ValidationOptions, validate_string  # type: ignore[import-untyped]

from qorgau.errors import FieldProblem, InvalidInput
from qorgau.reports.model import (
    Indicator,
    IndicatorKind,
    SharedIncident,
    SharedTarget,
    SharingBundle,
    Tlp,
    indicator_key,
)

# Fixed namespace for every name-derived id this module writes; never change it, or partners
# will see every object as new.
NAMESPACE = uuid.UUID("6f1c1a8e-2b0c-4e55-9a59-2d8f0c4b7a11")
EXTENSION_NAME = "Qorgau incident"
EXTENSION_SCHEMA = "https://qorgau.example.org/schemas/incident-extension-1.json"
IDENTITY_CREATED = datetime(2025, 1, 1, tzinfo=UTC)
MAX_TEXT_CHARS = 50_000_000
MAX_OBJECTS = 100_000
MAX_PROBLEMS = 50

_TLP2_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
_TLP2_IDS = {
    Tlp.CLEAR: "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    Tlp.GREEN: "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    Tlp.AMBER: "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    Tlp.AMBER_STRICT: "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    Tlp.RED: "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
_TLP1_IDS = {
    stix2.TLP_WHITE.id: Tlp.CLEAR,
    stix2.TLP_GREEN.id: Tlp.GREEN,
    stix2.TLP_AMBER.id: Tlp.AMBER,
    stix2.TLP_RED.id: Tlp.RED,
}
_TLP_BY_MARKING = {**_TLP1_IDS, **{v: k for k, v in _TLP2_IDS.items()}}
_TLP_WORDS = {"white": Tlp.CLEAR, **{t.value: t for t in Tlp}}

_HASH_NAMES = {
    IndicatorKind.SHA256: "SHA-256",
    IndicatorKind.MD5: "MD5",
    IndicatorKind.SHA1: "SHA-1",
    IndicatorKind.PHASH: "x_phash",
    IndicatorKind.PDQ: "x_pdq",
}
_SIMPLE_PATHS = {
    IndicatorKind.DOMAIN: "domain-name:value",
    IndicatorKind.URL: "url:value",
    IndicatorKind.IPV4: "ipv4-addr:value",
    IndicatorKind.IPV6: "ipv6-addr:value",
    IndicatorKind.EMAIL: "email-addr:value",
    **{kind: f"file:hashes.'{name}'" for kind, name in _HASH_NAMES.items()},
}
_KIND_BY_PATH = {path.replace("'", "").lower(): kind for kind, path in _SIMPLE_PATHS.items()}
_KIND_BY_PATH["file:hashes.sha256"] = IndicatorKind.SHA256
_KIND_BY_PATH["file:hashes.sha1"] = IndicatorKind.SHA1

_STRING = r"'((?:[^'\\]|\\.)*)'"
_SINGLE_RE = re.compile(r"^\[\s*([a-z0-9-]+:[A-Za-z0-9_.'-]+)\s*=\s*" + _STRING + r"\s*\]$")
_ACCOUNT_RE = re.compile(
    r"^\[\s*user-account:account_login\s*=\s*"
    + _STRING
    + r"\s+AND\s+user-account:account_type\s*=\s*"
    + _STRING
    + r"\s*\]$"
)

# Defaults for incidents from tools that do not know our extension: the most neutral values of
# our taxonomy, so that a reviewer sees them as "to be triaged".
FOREIGN_DEFAULTS: dict[str, Any] = {
    "attack_types": ("other",),
    "category": "safety",
    "platform": None,
    "region": None,
    "perpetrator_type": "unknown",
    "severity": "medium",
    "status": "new",
    "legal_outcome": "not_reported",
    "started_at": None,
    "targets": (),
}


# --------------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------------


def stix_bundle(bundle: SharingBundle, ceiling: Tlp) -> str:
    """Write the part of ``bundle`` cleared for ``ceiling`` as STIX 2.1 JSON text.

    The ceiling is applied here again even though the bundle was built filtered, because a
    bundle is often built once and exported to several partners with different clearances.
    """
    _refuse_red(ceiling)
    incidents = [i for i in bundle.incidents if i.tlp.within(ceiling)]
    indicators = [i for i in bundle.indicators if i.tlp.within(ceiling)]
    identity = _identity(bundle.organisation)
    extension = _extension_definition(bundle.organisation, identity.id)
    ids_by_key = {indicator_key(i.kind, i.value): _indicator_id(i) for i in indicators}
    tlp_by_key = {indicator_key(i.kind, i.value): i.tlp for i in indicators}
    objects: list[Any] = [identity, extension]
    objects += [_incident(i, identity.id, extension.id) for i in incidents]
    objects += [_indicator(i, identity.id) for i in indicators]
    objects += _relationships(incidents, ids_by_key, tlp_by_key, identity.id)
    used = {Tlp.CLEAR, *(i.tlp for i in incidents), *(i.tlp for i in indicators)}
    markings = [_tlp_marking(t) for t in Tlp if t in used]
    bundle_id = _stable_id("bundle", bundle.organisation, ceiling, bundle.produced_at.isoformat())
    # Each object is serialised on its own: stix2's whole-bundle pretty printer orders keys
    # with a search that is quadratic in the bundle's size (minutes for a few hundred cases).
    body = {
        "type": "bundle",
        "id": bundle_id,
        "objects": [json.loads(o.serialize(pretty=True)) for o in (*markings, *objects)],
    }
    return json.dumps(body, ensure_ascii=False, indent=4)


def _refuse_red(ceiling: Tlp) -> None:
    """TLP:RED goes to named people only, so no file format may carry it to a group."""
    if ceiling is Tlp.RED:
        raise InvalidInput.single(
            "ceiling",
            "tlp-red",
            "TLP:RED information is for named recipients only; share it person to person, "
            "not as a bundle. Choose TLP:AMBER+STRICT or lower as the ceiling.",
            tuple(t.value for t in Tlp if t is not Tlp.RED),
        )


def _stable_id(stix_type: str, *parts: object) -> str:
    """A STIX id that is the same every time the same thing is exported."""
    name = "\x1f".join(str(p) for p in (stix_type, *parts))
    return f"{stix_type}--{uuid.uuid5(NAMESPACE, name)}"


def _tlp_marking(tlp: Tlp) -> Any:
    """The TLP 2.0 marking definition for ``tlp``, exactly as the OASIS committee note gives it."""
    return stix2.MarkingDefinition(
        id=_TLP2_IDS[tlp],
        created="2022-10-01T00:00:00.000Z",
        name=f"TLP:{tlp.value.upper()}",
        extensions={
            _TLP2_EXTENSION: {"extension_type": "property-extension", "tlp_2_0": tlp.value}
        },
    )


def _identity(organisation: str) -> Any:
    return stix2.Identity(
        id=_stable_id("identity", organisation),
        name=organisation,
        identity_class="organization",
        created=IDENTITY_CREATED,
        modified=IDENTITY_CREATED,
        object_marking_refs=[_TLP2_IDS[Tlp.CLEAR]],
    )


def _extension_definition(organisation: str, identity_id: str) -> Any:
    return stix2.ExtensionDefinition(
        id=_stable_id("extension-definition", organisation, EXTENSION_SCHEMA),
        created_by_ref=identity_id,
        created=IDENTITY_CREATED,
        modified=IDENTITY_CREATED,
        name=EXTENSION_NAME,
        description=(
            "Qorgau's record of a digital attack on journalists or media: attack types, "
            "category, platform, region, perpetrator type, severity, status, legal outcome, "
            "start time and targets (people named only with their consent)."
        ),
        schema=EXTENSION_SCHEMA,
        version="1.0",
        extension_types=["property-extension"],
        object_marking_refs=[_TLP2_IDS[Tlp.CLEAR]],
    )


def _incident(incident: SharedIncident, identity_id: str, extension_id: str) -> Any:
    refs: list[dict[str, str]] = [{"source_name": "qorgau", "external_id": incident.public_id}]
    refs += [{"source_name": "source", "url": url} for url in incident.source_urls]
    refs += [{"source_name": "DISARM", "external_id": t} for t in incident.disarm_techniques]
    phases = [
        {"kill_chain_name": "disarm", "phase_name": t.lower()} for t in incident.disarm_techniques
    ]
    optional: dict[str, Any] = {}
    if incident.summary:
        optional["description"] = incident.summary
    if phases:
        optional["kill_chain_phases"] = phases
    return stix2.Incident(
        id=f"incident--{incident.uuid}",
        created_by_ref=identity_id,
        created=incident.reported_at,
        modified=incident.updated_at,
        name=incident.title,
        external_references=refs,
        extensions={extension_id: _extension_properties(incident)},
        object_marking_refs=[_TLP2_IDS[incident.tlp]],
        **optional,
    )


def _extension_properties(incident: SharedIncident) -> dict[str, Any]:
    """Our fields that STIX has no property for; ``None`` values are left out, not nulled."""
    props: dict[str, Any] = {
        "extension_type": "property-extension",
        "attack_types": list(incident.attack_types),
        "category": incident.category,
        "perpetrator_type": incident.perpetrator_type,
        "severity": incident.severity,
        "status": incident.status,
        "legal_outcome": incident.legal_outcome,
    }
    # STIX forbids empty lists: an incident with nobody nameable has no "targets" at all.
    if incident.targets:
        props["targets"] = [_target_dict(t) for t in incident.targets]
    if incident.platform is not None:
        props["platform"] = incident.platform
    if incident.region is not None:
        props["region"] = incident.region
    if incident.started_at is not None:
        props["started_at"] = _timestamp(incident.started_at)
    return props


def _target_dict(target: SharedTarget) -> dict[str, str]:
    """A target as JSON; a person without consent has no name, so the key is absent."""
    out = {"kind": target.kind}
    if target.name is not None:
        out["name"] = target.name
    if target.role is not None:
        out["role"] = target.role
    return out


def _timestamp(value: datetime) -> str:
    """STIX timestamp text (UTC, milliseconds), the precision every STIX tool keeps."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _indicator_uuid(indicator: Indicator) -> str:
    if indicator.uuid:
        return indicator.uuid
    return str(uuid.uuid5(NAMESPACE, indicator_key(indicator.kind, indicator.value)))


def _indicator_id(indicator: Indicator) -> str:
    return f"indicator--{_indicator_uuid(indicator)}"


def _indicator(indicator: Indicator, identity_id: str) -> Any:
    optional: dict[str, Any] = {}
    if indicator.description:
        optional["description"] = indicator.description
    return stix2.Indicator(
        id=_indicator_id(indicator),
        created_by_ref=identity_id,
        created=indicator.first_seen,
        modified=max(indicator.last_seen, indicator.first_seen),
        valid_from=indicator.first_seen,
        name=f"{indicator.kind.value} {indicator.value}",
        pattern_type="stix",
        pattern=stix_pattern(indicator.kind, indicator.value),
        object_marking_refs=[_TLP2_IDS[indicator.tlp]],
        **optional,
    )


def _quote(value: str) -> str:
    """A STIX pattern string literal: backslash and quote are the only characters to escape."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def stix_pattern(kind: IndicatorKind, value: str) -> str:
    """The STIX pattern that matches an indicator of ``kind`` with ``value``."""
    if kind is IndicatorKind.ACCOUNT:
        platform, sep, handle = value.partition(":")
        if not sep or not platform or not handle:
            raise InvalidInput.single(
                "indicator.value",
                "account-format",
                f"account indicator {value!r} is not 'platform:handle'; "
                "store it as e.g. 'telegram:orda_news'.",
            )
        return (
            f"[user-account:account_login = {_quote(handle)} "
            f"AND user-account:account_type = {_quote(platform)}]"
        )
    return f"[{_SIMPLE_PATHS[kind]} = {_quote(value)}]"


def _relationships(
    incidents: Sequence[SharedIncident],
    ids_by_key: Mapping[str, str],
    tlp_by_key: Mapping[str, Tlp],
    identity_id: str,
) -> list[Any]:
    """One ``related-to`` per (exported indicator, exported incident) pair the incident lists.

    A relationship is marked with the stricter TLP of its two ends: it reveals both.
    """
    out: list[Any] = []
    for incident in incidents:
        for key in dict.fromkeys(incident.indicator_keys):
            if key not in ids_by_key:
                continue
            tlp = max(incident.tlp, tlp_by_key[key], key=lambda t: t.rank)
            out.append(
                stix2.Relationship(
                    id=_stable_id("relationship", ids_by_key[key], incident.uuid),
                    created_by_ref=identity_id,
                    created=incident.reported_at,
                    modified=incident.reported_at,
                    relationship_type="related-to",
                    source_ref=ids_by_key[key],
                    target_ref=f"incident--{incident.uuid}",
                    object_marking_refs=[_TLP2_IDS[tlp]],
                )
            )
    return out


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def validate_stix(text: str) -> list[str]:
    """The STIX 2.1 validator's errors for ``text``; empty when it is a valid bundle.

    Never raises: a partner's file that breaks the validator itself is reported as a finding,
    so the person importing it sees why instead of a traceback.
    """
    try:
        json.loads(text)
    except (ValueError, TypeError) as exc:
        return [f"not JSON ({exc}); export the bundle again as STIX 2.1 JSON"]
    try:
        with warnings.catch_warnings():
            # The validator's dependencies may warn about their own internals; irrelevant here.
            warnings.simplefilter("ignore")
            results = validate_string(text, ValidationOptions(version="2.1", silent=True))
    except Exception as exc:  # the validator raises many kinds on malformed documents
        return [f"the STIX validator could not read the document: {exc}"]
    return [str(e) for r in _as_list(results) for e in (r.errors or [])]


def validate_stix_warnings(text: str) -> list[str]:
    """The validator's warnings (SHOULD-level findings), for tests and for the import review."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = validate_string(text, ValidationOptions(version="2.1", silent=True))
    return [str(w) for r in _as_list(results) for w in (r.warnings or [])]


def _as_list(results: Any) -> list[Any]:
    return list(results) if isinstance(results, list) else [results]


# --------------------------------------------------------------------------------------------
# Import
# --------------------------------------------------------------------------------------------


def parse_stix_bundle(text: str, partner: str) -> SharingBundle:
    """Read a partner's STIX 2.1 bundle into our records, or refuse it whole.

    Nothing is imported from an invalid bundle: half an import would leave incidents without
    their indicators and nobody would know which half is missing.
    """
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidInput.single(
            "bundle",
            "size",
            f"the bundle has {len(text):,} characters, more than the {MAX_TEXT_CHARS:,} "
            "accepted; ask the partner to split it.",
        )
    findings = validate_stix(text)
    if findings:
        raise InvalidInput(_problems(findings))
    data = json.loads(text)
    objects = _bundle_objects(data)
    return _read_objects(objects, partner)


def _problems(findings: Sequence[str]) -> list[FieldProblem]:
    """One problem per validator finding, capped so an enormous bad file stays readable."""
    shown = [
        FieldProblem("bundle", "stix-validator", f"{f} (fix the bundle and import it again)")
        for f in findings[:MAX_PROBLEMS]
    ]
    extra = len(findings) - MAX_PROBLEMS
    if extra > 0:
        shown.append(
            FieldProblem("bundle", "stix-validator", f"... and {extra} more validator findings")
        )
    return shown


def _bundle_objects(data: Any) -> list[dict[str, Any]]:
    if not isinstance(data, dict) or data.get("type") != "bundle":
        raise InvalidInput.single(
            "bundle",
            "stix-bundle",
            "the document is a single STIX object, not a bundle; export a STIX 2.1 bundle.",
        )
    objects = data.get("objects") or []
    if len(objects) > MAX_OBJECTS:
        raise InvalidInput.single(
            "bundle",
            "size",
            f"the bundle has {len(objects):,} objects, more than the {MAX_OBJECTS:,} accepted; "
            "ask the partner to split it.",
        )
    return [o for o in objects if isinstance(o, dict)]


def _read_objects(objects: Sequence[dict[str, Any]], partner: str) -> SharingBundle:
    by_type: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        by_type.setdefault(str(obj.get("type")), []).append(obj)
    tlp_of = _marking_reader(by_type.get("marking-definition", []))
    ours = {
        o["id"]
        for o in by_type.get("extension-definition", [])
        if o.get("schema") == EXTENSION_SCHEMA or o.get("name") == EXTENSION_NAME
    }
    indicators: dict[str, Indicator] = {}
    for obj in by_type.get("indicator", []):
        parsed = _read_indicator(obj, tlp_of(obj), partner)
        if parsed is not None:
            indicators[obj["id"]] = parsed
    links = _links(by_type.get("relationship", []), indicators)
    incidents = tuple(
        _read_incident(o, tlp_of(o), ours, links.get(o["id"], []), partner)
        for o in by_type.get("incident", [])
    )
    produced = datetime.now(UTC) if not objects else _latest(objects)
    return SharingBundle(partner, produced, incidents, tuple(indicators.values()))


def _latest(objects: Iterable[Mapping[str, Any]]) -> datetime:
    """The bundle's "produced at": its newest modification, not our clock, to stay repeatable."""
    stamps = [_parse_time(o["modified"]) for o in objects if isinstance(o.get("modified"), str)]
    return max(stamps) if stamps else IDENTITY_CREATED


def _marking_reader(
    definitions: Sequence[Mapping[str, Any]],
) -> Callable[[Mapping[str, Any]], Tlp]:
    """A function giving the TLP of an object from its ``object_marking_refs``."""
    known: dict[str, Tlp] = dict(_TLP_BY_MARKING)
    for md in definitions:
        level = _tlp_in_definition(md)
        if level is not None:
            known[str(md["id"])] = level

    def tlp_of(obj: Mapping[str, Any]) -> Tlp:
        levels: list[Tlp] = [known[r] for r in obj.get("object_marking_refs", []) if r in known]
        if not levels:
            return Tlp.AMBER  # unmarked: see the module docstring
        return max(levels, key=lambda t: t.rank)

    return tlp_of


def _tlp_in_definition(md: Mapping[str, Any]) -> Tlp | None:
    """The TLP level a partner's own marking definition stands for, if it is a TLP one."""
    definition = md.get("definition")
    if md.get("definition_type") == "tlp" and isinstance(definition, dict):
        return _TLP_WORDS.get(str(definition.get("tlp", "")).lower())
    ext = (md.get("extensions") or {}).get(_TLP2_EXTENSION)
    if isinstance(ext, dict):
        return _TLP_WORDS.get(str(ext.get("tlp_2_0", "")).lower())
    return None


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _unescape(literal: str) -> str:
    return re.sub(r"\\(.)", r"\1", literal)


def parse_pattern(pattern: str) -> tuple[IndicatorKind, str] | None:
    """Kind and value of a pattern we write (one comparison or the account form), else None."""
    account = _ACCOUNT_RE.match(pattern.strip())
    if account:
        handle, platform = _unescape(account.group(1)), _unescape(account.group(2))
        return IndicatorKind.ACCOUNT, f"{platform}:{handle}"
    single = _SINGLE_RE.match(pattern.strip())
    if not single:
        return None
    path = single.group(1).replace("'", "").lower()
    kind = _KIND_BY_PATH.get(path)
    return None if kind is None else (kind, _unescape(single.group(2)))


def _read_indicator(obj: Mapping[str, Any], tlp: Tlp, partner: str) -> Indicator | None:
    if obj.get("pattern_type") != "stix":
        return None
    parsed = parse_pattern(str(obj.get("pattern", "")))
    if parsed is None:
        return None
    kind, value = parsed
    first = _parse_time(obj.get("valid_from") or obj["created"])
    return Indicator(
        kind=kind,
        value=value,
        first_seen=first,
        last_seen=max(first, _parse_time(obj["modified"])),
        tlp=tlp,
        description=str(obj.get("description", "")),
        uuid=str(obj["id"]).split("--", 1)[1],
        source=partner,
    )


def _links(
    relationships: Sequence[Mapping[str, Any]], indicators: Mapping[str, Indicator]
) -> dict[str, list[str]]:
    """Incident id → keys of the indicators related to it, in the bundle's order."""
    out: dict[str, list[str]] = {}
    for rel in relationships:
        ends = (str(rel.get("source_ref")), str(rel.get("target_ref")))
        for ind_id, inc_id in (ends, ends[::-1]):
            if ind_id in indicators and inc_id.startswith("incident--"):
                ind = indicators[ind_id]
                keys = out.setdefault(inc_id, [])
                key = indicator_key(ind.kind, ind.value)
                if key not in keys:
                    keys.append(key)
    return out


def _read_incident(
    obj: Mapping[str, Any], tlp: Tlp, ours: set[str], keys: list[str], partner: str
) -> SharedIncident:
    refs = [r for r in obj.get("external_references", []) if isinstance(r, dict)]
    ext = next((v for k, v in (obj.get("extensions") or {}).items() if k in ours), None)
    fields = _extension_fields(ext) if isinstance(ext, dict) else dict(FOREIGN_DEFAULTS)
    return SharedIncident(
        public_id=next((r["external_id"] for r in refs if r.get("source_name") == "qorgau"), ""),
        uuid=str(obj["id"]).split("--", 1)[1],
        title=str(obj["name"]),
        summary=str(obj.get("description", "")),
        reported_at=_parse_time(obj["created"]),
        updated_at=_parse_time(obj["modified"]),
        tlp=tlp,
        source_urls=tuple(
            r["url"] for r in refs if r.get("source_name") == "source" and "url" in r
        ),
        disarm_techniques=_disarm(obj, refs),
        indicator_keys=tuple(keys),
        source=partner,
        **fields,
    )


def _disarm(obj: Mapping[str, Any], refs: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """DISARM ids from our external references, else from a partner's kill-chain phases."""
    from_refs = [str(r["external_id"]) for r in refs if r.get("source_name") == "DISARM"]
    if from_refs:
        return tuple(from_refs)
    phases = obj.get("kill_chain_phases", [])
    return tuple(
        str(p["phase_name"]).upper() for p in phases if p.get("kill_chain_name") == "disarm"
    )


def _extension_fields(ext: Mapping[str, Any]) -> dict[str, Any]:
    """Our extension's properties as ``SharedIncident`` keyword arguments."""
    started = ext.get("started_at")
    return {
        "attack_types": tuple(ext.get("attack_types") or FOREIGN_DEFAULTS["attack_types"]),
        "category": ext.get("category", FOREIGN_DEFAULTS["category"]),
        "platform": ext.get("platform"),
        "region": ext.get("region"),
        "perpetrator_type": ext.get("perpetrator_type", FOREIGN_DEFAULTS["perpetrator_type"]),
        "severity": ext.get("severity", FOREIGN_DEFAULTS["severity"]),
        "status": ext.get("status", FOREIGN_DEFAULTS["status"]),
        "legal_outcome": ext.get("legal_outcome", FOREIGN_DEFAULTS["legal_outcome"]),
        "started_at": _parse_time(started) if isinstance(started, str) else None,
        "targets": tuple(
            SharedTarget(kind=str(t["kind"]), name=t.get("name"), role=t.get("role"))
            for t in ext.get("targets", [])
            if isinstance(t, dict) and "kind" in t
        ),
    }
