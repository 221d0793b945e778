"""MISP exchange: incidents as MISP events, so CERTs and NGO MISP communities can ingest them.

Many CERTs and the civil-society MISP communities run MISP rather than a STIX platform. This
module converts :mod:`qorgau.reports.model` records to MISP events (built with PyMISP, so the
JSON is what MISP itself writes) and reads partners' events back.

Choices, and why:

* One event per incident; indicators not linked to any exported incident go into one extra
  event "Indicators shared by <organisation>", tagged ``qorgau:event="indicators-only"`` so an
  importer does not invent an incident for it.
* TLP: the MISP ``tlp`` taxonomy tag (tlp:clear, tlp:green, tlp:amber, tlp:amber+strict) on the
  event and on every attribute. Distribution follows TLP: clear → 3 all communities,
  green → 2 connected communities, amber → 1 this community only, amber+strict → 0 your
  organisation only (TLP:AMBER+STRICT means the recipient organisation and nobody else).
* Our fields travel as machine tags ``qorgau:<field>="value"``; severity and status also set
  ``threat_level_id`` and ``analysis`` for MISP's own views, but those are coarser, so the tags
  win on import. DISARM techniques are ``disarm:technique="T0086.002"`` tags: MISP's DISARM
  galaxy names clusters "T0086.002 - <title>", which we cannot reproduce without the catalogue.
* MISP has no type for platform accounts or perceptual hashes: they are ``text`` attributes
  with an attribute tag ``qorgau:indicator-kind="account"`` (or ``phash``/``pdq``) and to_ids off.
* Structural facts (public id, summary, reported/started times) are attributes tagged
  ``qorgau:field="..."``; tags with free-text values would flood the partner's tag list.
* People who did not consent are never named: such a target becomes the event tag
  ``qorgau:unnamed-target="person/journalist"`` (kind and role only), never an attribute.
* MISP refuses two attributes with one uuid in an instance, so an indicator linked to several
  incidents keeps its own uuid in the first event and a derived one (UUIDv5 of event and
  indicator uuid) in the others; :func:`merge_bundles` folds the copies back together.
* MISP keeps the event ``timestamp`` in whole seconds: ``updated_at`` loses sub-seconds.
"""

from __future__ import annotations

import ipaddress
import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from pymisp import MISPAttribute, MISPEvent

from qorgau.errors import InvalidInput
from qorgau.reports.model import (
    Indicator,
    IndicatorKind,
    SharedIncident,
    SharedTarget,
    SharingBundle,
    Tlp,
    indicator_key,
)
from qorgau.reports.stix import FOREIGN_DEFAULTS, NAMESPACE

DISTRIBUTION = {Tlp.CLEAR: 3, Tlp.GREEN: 2, Tlp.AMBER: 1, Tlp.AMBER_STRICT: 0}
THREAT_LEVEL = {"critical": 1, "high": 1, "medium": 2, "low": 3}
SEVERITY_BY_LEVEL = {1: "high", 2: "medium", 3: "low"}
ANALYSIS = {"new": 0, "triaged": 0, "in_progress": 1, "waiting": 1, "resolved": 2, "closed": 2}
STATUS_BY_ANALYSIS = {0: "new", 1: "in_progress", 2: "resolved"}
INDICATORS_ONLY = 'qorgau:event="indicators-only"'
PERSON_KINDS = frozenset({"person", "journalist"})

# kind → (MISP type, category, to_ids)
_ATTRIBUTE_TYPES: dict[IndicatorKind, tuple[str, str, bool]] = {
    IndicatorKind.DOMAIN: ("domain", "Network activity", True),
    IndicatorKind.URL: ("url", "Network activity", True),
    IndicatorKind.IPV4: ("ip-dst", "Network activity", True),
    IndicatorKind.IPV6: ("ip-dst", "Network activity", True),
    IndicatorKind.EMAIL: ("email-src", "Payload delivery", False),
    IndicatorKind.ACCOUNT: ("text", "Social network", False),
    IndicatorKind.SHA256: ("sha256", "Payload delivery", True),
    IndicatorKind.MD5: ("md5", "Payload delivery", True),
    IndicatorKind.SHA1: ("sha1", "Payload delivery", True),
    IndicatorKind.PHASH: ("text", "Payload delivery", False),
    IndicatorKind.PDQ: ("text", "Payload delivery", False),
}
_TAGGED_KINDS = frozenset({IndicatorKind.ACCOUNT, IndicatorKind.PHASH, IndicatorKind.PDQ})
_KIND_BY_TYPE = {
    "domain": IndicatorKind.DOMAIN,
    "hostname": IndicatorKind.DOMAIN,
    "url": IndicatorKind.URL,
    "email": IndicatorKind.EMAIL,
    "email-src": IndicatorKind.EMAIL,
    "email-dst": IndicatorKind.EMAIL,
    "sha256": IndicatorKind.SHA256,
    "md5": IndicatorKind.MD5,
    "sha1": IndicatorKind.SHA1,
}
_MACHINE_TAG = re.compile(r'^([a-z0-9-]+:[a-z0-9-]+)="(.*)"$')
_TAG_FIELDS = {
    "qorgau:category": "category",
    "qorgau:platform": "platform",
    "qorgau:region": "region",
    "qorgau:perpetrator-type": "perpetrator_type",
    "qorgau:severity": "severity",
    "qorgau:status": "status",
    "qorgau:legal-outcome": "legal_outcome",
}


# --------------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------------


def misp_events(bundle: SharingBundle, ceiling: Tlp) -> list[dict[str, Any]]:
    """The part of ``bundle`` cleared for ``ceiling`` as MISP events (dicts of MISP JSON)."""
    if ceiling is Tlp.RED:
        raise InvalidInput.single(
            "ceiling",
            "tlp-red",
            "TLP:RED information is for named recipients only; share it person to person, "
            "not as a bundle. Choose TLP:AMBER+STRICT or lower as the ceiling.",
            tuple(t.value for t in Tlp if t is not Tlp.RED),
        )
    incidents = [i for i in bundle.incidents if i.tlp.within(ceiling)]
    indicators = {indicator_key(i.kind, i.value): i for i in bundle.indicators}
    indicators = {k: i for k, i in indicators.items() if i.tlp.within(ceiling)}
    placed: set[str] = set()
    events = [_incident_event(i, indicators, placed) for i in incidents]
    loose = [i for k, i in indicators.items() if k not in placed]
    if loose:
        events.append(_indicators_event(bundle, ceiling, loose))
    return [json.loads(e.to_json()) for e in events]


def _new_event(event_uuid: str, info: str, tlp: Tlp, day: date) -> MISPEvent:
    event = MISPEvent(force_timestamps=True)
    event.uuid = event_uuid
    event.info = info
    event.date = day
    event.distribution = DISTRIBUTION[tlp]
    event.published = False
    event.add_tag(f"tlp:{tlp.value}")
    return event


def _incident_event(
    incident: SharedIncident, indicators: Mapping[str, Indicator], placed: set[str]
) -> MISPEvent:
    event = _new_event(incident.uuid, incident.title, incident.tlp, incident.reported_at.date())
    event.threat_level_id = THREAT_LEVEL.get(incident.severity, 4)
    event.analysis = ANALYSIS.get(incident.status, 0)
    event.timestamp = incident.updated_at
    for tag in _incident_tags(incident):
        event.add_tag(tag)
    _add_fields(event, incident)
    _add_targets(event, incident.targets)
    for url in incident.source_urls:
        _attribute(event, "link", url, "External analysis", incident.uuid, ("source", url))
    for key in dict.fromkeys(incident.indicator_keys):
        if key in indicators:
            own_uuid = key not in placed
            _add_indicator(event, indicators[key], own_uuid)
            placed.add(key)
    return event


def _incident_tags(incident: SharedIncident) -> list[str]:
    """Machine tags for our categorical fields: what MISP users filter and correlate on."""
    tags = [f'qorgau:attack-type="{a}"' for a in incident.attack_types]
    values = {
        "qorgau:category": incident.category,
        "qorgau:platform": incident.platform,
        "qorgau:region": incident.region,
        "qorgau:perpetrator-type": incident.perpetrator_type,
        "qorgau:severity": incident.severity,
        "qorgau:status": incident.status,
        "qorgau:legal-outcome": incident.legal_outcome,
    }
    tags += [f'{name}="{value}"' for name, value in values.items() if value is not None]
    tags += [f'disarm:technique="{t}"' for t in incident.disarm_techniques]
    tags += [
        f'qorgau:unnamed-target="{t.kind}/{t.role or ""}"' for t in incident.targets if not t.name
    ]
    return tags


def _field_uuid(event_uuid: str, *parts: str) -> str:
    """A stable attribute uuid, so a re-export updates the partner's attribute, not adds one."""
    return str(uuid.uuid5(NAMESPACE, "\x1f".join(("misp", event_uuid, *parts))))


def _attribute(
    event: MISPEvent,
    misp_type: str,
    value: str,
    category: str,
    event_uuid: str,
    id_parts: tuple[str, ...],
    field: str | None = None,
    comment: str = "",
) -> MISPAttribute:
    attribute = event.add_attribute(
        misp_type,
        value,
        category=category,
        to_ids=False,
        uuid=_field_uuid(event_uuid, *id_parts),
        comment=comment,
    )
    assert isinstance(attribute, MISPAttribute)  # one value in, one attribute out
    if field is not None:
        attribute.add_tag(f'qorgau:field="{field}"')
    return attribute


def _add_fields(event: MISPEvent, incident: SharedIncident) -> None:
    """Facts MISP has no event property for, as tagged attributes."""
    u = incident.uuid
    _attribute(
        event, "text", incident.public_id, "Internal reference", u, ("public-id",), "public-id"
    )
    if incident.summary:
        _attribute(event, "text", incident.summary, "Other", u, ("summary",), "summary")
    reported = incident.reported_at.astimezone(UTC).isoformat()
    _attribute(event, "datetime", reported, "Other", u, ("reported-at",), "reported-at")
    if incident.started_at is not None:
        started = incident.started_at.astimezone(UTC).isoformat()
        _attribute(event, "datetime", started, "Other", u, ("started-at",), "started-at")


def _add_targets(event: MISPEvent, targets: Iterable[SharedTarget]) -> None:
    """Named targets only: a ``None`` name is a person who did not consent (see the tags)."""
    for n, target in enumerate(targets):
        if not target.name:
            continue
        misp_type = "target-user" if target.kind in PERSON_KINDS else "target-org"
        attribute = _attribute(
            event,
            misp_type,
            target.name,
            "Targeting data",
            event.uuid,
            ("target", str(n)),
            comment=target.role or "",
        )
        attribute.add_tag(f'qorgau:target-kind="{target.kind}"')


def _add_indicator(event: MISPEvent, indicator: Indicator, own_uuid: bool) -> None:
    misp_type, category, to_ids = _ATTRIBUTE_TYPES[indicator.kind]
    base_uuid = indicator.uuid or str(
        uuid.uuid5(NAMESPACE, indicator_key(indicator.kind, indicator.value))
    )
    attribute = event.add_attribute(
        misp_type,
        indicator.value,
        category=category,
        to_ids=to_ids,
        uuid=base_uuid if own_uuid else _copy_uuid(event.uuid, base_uuid),
        comment=indicator.description,
        first_seen=indicator.first_seen,
        last_seen=max(indicator.last_seen, indicator.first_seen),
        distribution=DISTRIBUTION[indicator.tlp],
    )
    assert isinstance(attribute, MISPAttribute)
    attribute.add_tag(f"tlp:{indicator.tlp.value}")
    if indicator.kind in _TAGGED_KINDS:
        attribute.add_tag(f'qorgau:indicator-kind="{indicator.kind.value}"')


def _copy_uuid(event_uuid: str, indicator_uuid: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"misp-copy:{event_uuid}:{indicator_uuid}"))


def _indicators_event(bundle: SharingBundle, ceiling: Tlp, loose: Sequence[Indicator]) -> MISPEvent:
    """The event for indicators no exported incident claims, marked with the strictest TLP."""
    strictest = max((i.tlp for i in loose), key=lambda t: t.rank)
    event_uuid = str(uuid.uuid5(NAMESPACE, f"misp-indicators:{bundle.organisation}:{ceiling}"))
    event = _new_event(
        event_uuid,
        f"Indicators shared by {bundle.organisation}",
        strictest,
        bundle.produced_at.date(),
    )
    event.threat_level_id = 4
    event.analysis = 2
    event.timestamp = bundle.produced_at
    event.add_tag(INDICATORS_ONLY)
    for indicator in loose:
        _add_indicator(event, indicator, own_uuid=True)
    return event


# --------------------------------------------------------------------------------------------
# Import
# --------------------------------------------------------------------------------------------


def parse_misp_event(data: str | dict[str, Any], partner: str) -> SharingBundle:
    """Read one MISP event (ours or another tool's) into our records, or refuse it whole."""
    event = _load(data)
    tags = [t.name for t in event.tags]
    event_tlp = _tlp(tags)
    indicators: list[Indicator] = []
    for attribute in event.attributes:
        indicator = _read_indicator(attribute, event, event_tlp, partner)
        if indicator is not None:
            indicators.append(indicator)
    produced = _event_time(event)
    if INDICATORS_ONLY in tags:
        return SharingBundle(partner, produced, (), tuple(indicators))
    incident = _read_incident(event, tags, event_tlp, indicators, partner)
    return SharingBundle(partner, produced, (incident,), tuple(indicators))


def _load(data: str | dict[str, Any]) -> MISPEvent:
    """A MISPEvent, or InvalidInput naming what makes ``data`` not a MISP event."""
    try:
        raw = json.loads(data) if isinstance(data, str) else data
    except ValueError as exc:
        raise InvalidInput.single(
            "event", "misp-json", f"not JSON ({exc}); export the event again as MISP JSON."
        ) from exc
    body = raw.get("Event", raw) if isinstance(raw, dict) else None
    if not isinstance(body, dict):
        raise InvalidInput.single(
            "event", "misp-event", "not a MISP event: expected a JSON object with an 'Event'."
        )
    missing = [k for k in ("info", "uuid") if not body.get(k)]
    if missing:
        raise InvalidInput.single(
            "event",
            "misp-event",
            f"not a MISP event: missing {', '.join(missing)}; export the whole event from MISP.",
        )
    event = MISPEvent()
    try:
        event.load(raw)
    except Exception as exc:  # PyMISP raises several kinds for broken events
        raise InvalidInput.single(
            "event", "misp-event", f"PyMISP could not read the event: {exc}"
        ) from exc
    return event


def _tlp(tags: Iterable[str]) -> Tlp:
    """The strictest TLP tag; none means AMBER (a partner who did not mark did not clear it)."""
    words = {"tlp:white": Tlp.CLEAR, **{f"tlp:{t.value}": t for t in Tlp}}
    levels = [words[t.lower()] for t in tags if t.lower() in words]
    return max(levels, key=lambda t: t.rank) if levels else Tlp.AMBER


def _machine_tags(tags: Iterable[str]) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for t in tags if (m := _MACHINE_TAG.match(t))]


def _as_utc(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        return _as_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    return None


def _event_time(event: MISPEvent) -> datetime:
    stamp = _as_utc(getattr(event, "timestamp", None))
    if stamp is not None:
        return stamp
    day: date = event.date
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _attribute_kind(attribute: MISPAttribute) -> IndicatorKind | None:
    tagged = dict(_machine_tags(t.name for t in attribute.tags)).get("qorgau:indicator-kind")
    if tagged is not None:
        return IndicatorKind(tagged) if tagged in IndicatorKind.__members__.values() else None
    if attribute.type in ("ip-dst", "ip-src"):
        try:
            version = ipaddress.ip_address(str(attribute.value)).version
        except ValueError:
            return None
        return IndicatorKind.IPV4 if version == 4 else IndicatorKind.IPV6
    if attribute.type == "github-username":
        return IndicatorKind.ACCOUNT
    return _KIND_BY_TYPE.get(attribute.type)


def _read_indicator(
    attribute: MISPAttribute, event: MISPEvent, event_tlp: Tlp, partner: str
) -> Indicator | None:
    kind = _attribute_kind(attribute)
    if kind is None:
        return None
    value = str(attribute.value)
    if attribute.type == "github-username":
        value = f"github:{value.lower()}"
    tags = [t.name for t in attribute.tags]
    first = _as_utc(getattr(attribute, "first_seen", None)) or _event_time(event)
    last = _as_utc(getattr(attribute, "last_seen", None)) or first
    return Indicator(
        kind=kind,
        value=value,
        first_seen=first,
        last_seen=last,
        tlp=_tlp(tags) if any(t.lower().startswith("tlp:") for t in tags) else event_tlp,
        description=str(getattr(attribute, "comment", "") or ""),
        uuid=str(attribute.uuid),
        source=partner,
    )


def _fields(attributes: Iterable[MISPAttribute]) -> dict[str, str]:
    """Values of our ``qorgau:field`` attributes (public id, summary, times)."""
    out: dict[str, str] = {}
    for attribute in attributes:
        name = dict(_machine_tags(t.name for t in attribute.tags)).get("qorgau:field")
        if name is not None:
            out[name] = str(attribute.value)
    return out


def _targets(event: MISPEvent, machine: Sequence[tuple[str, str]]) -> tuple[SharedTarget, ...]:
    named = [
        SharedTarget(
            kind=dict(_machine_tags(t.name for t in a.tags)).get(
                "qorgau:target-kind", "person" if a.type == "target-user" else "organisation"
            ),
            name=str(a.value),
            role=str(getattr(a, "comment", "") or "") or None,
        )
        for a in event.attributes
        if a.type in ("target-org", "target-user")
    ]
    unnamed = []
    for name, value in machine:
        if name == "qorgau:unnamed-target":
            kind, _, role = value.partition("/")
            unnamed.append(SharedTarget(kind=kind, name=None, role=role or None))
    return (*named, *unnamed)


def _read_incident(
    event: MISPEvent, tags: Sequence[str], tlp: Tlp, indicators: Sequence[Indicator], partner: str
) -> SharedIncident:
    machine = _machine_tags(tags)
    fields = _fields(event.attributes)
    values = dict(FOREIGN_DEFAULTS)
    level = int(getattr(event, "threat_level_id", 4) or 4)
    values["severity"] = SEVERITY_BY_LEVEL.get(level, FOREIGN_DEFAULTS["severity"])
    values["status"] = STATUS_BY_ANALYSIS.get(int(getattr(event, "analysis", 0) or 0), "new")
    values.update({_TAG_FIELDS[n]: v for n, v in machine if n in _TAG_FIELDS})
    attack_types = tuple(v for n, v in machine if n == "qorgau:attack-type")
    if attack_types:
        values["attack_types"] = attack_types
    values["started_at"] = _as_utc(fields.get("started-at"))
    values["targets"] = _targets(event, machine)
    return SharedIncident(
        public_id=fields.get("public-id", ""),
        uuid=str(event.uuid),
        title=str(event.info),
        summary=fields.get("summary", ""),
        reported_at=_as_utc(fields.get("reported-at")) or _event_time(event),
        updated_at=_event_time(event),
        tlp=tlp,
        source_urls=tuple(str(a.value) for a in event.attributes if a.type == "link"),
        disarm_techniques=tuple(v for n, v in machine if n == "disarm:technique"),
        indicator_keys=tuple(dict.fromkeys(indicator_key(i.kind, i.value) for i in indicators)),
        source=partner,
        **values,
    )


def merge_bundles(bundles: Sequence[SharingBundle], partner: str) -> SharingBundle:
    """Fold the bundles of several events into one, as an importer of a whole feed needs.

    Incidents are kept once per uuid. An indicator present in several events is kept once per
    ``kind:value``, under its own uuid rather than the derived copies' (see the module notes).
    """
    incidents = {i.uuid: i for b in bundles for i in b.incidents}
    event_uuids = set(incidents)
    by_key: dict[str, list[Indicator]] = {}
    for b in bundles:
        for ind in b.indicators:
            by_key.setdefault(indicator_key(ind.kind, ind.value), []).append(ind)
    indicators = [_canonical(group, event_uuids) for group in by_key.values()]
    produced = max((b.produced_at for b in bundles), default=datetime(2025, 1, 1, tzinfo=UTC))
    return SharingBundle(partner, produced, tuple(incidents.values()), tuple(indicators))


def _canonical(group: Sequence[Indicator], event_uuids: set[str]) -> Indicator:
    """The copy whose uuid is not derived from another copy's uuid."""
    uuids = {i.uuid for i in group}
    copies = {_copy_uuid(e, u) for e in event_uuids for u in uuids}
    return next((i for i in group if i.uuid not in copies), group[0])
