"""Leaked identifiers: a protected person's phone, e-mail, IIN, address or plate, published.

This is the first sign of the attack run on Orda.kz in 2025: the editor's and owner's numbers
planted in hundreds of fake classified ads, each worded differently, so that strangers call
day and night. One finding per campaign group and batch, naming every observation that carries
an identifier, lets the desk grow one incident from the first ad onwards and take the ads down
together. Identifiers are never repeated in full in what this detector writes: findings travel
to alert channels and logs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from qorgau.detect.identifier_scan import (
    KINDS,
    Hit,
    IdentifierMatcher,
    Target,
    compile_matcher,
    mask,
)
from qorgau.detect.interfaces import DetectorSpec, State
from qorgau.detect.model import BatchResult, DetectorFailure, Finding, Observation
from qorgau.detect.watchlist import PEOPLE_SCHEMA, ProtectedPerson, parse_people
from qorgau.domain.identifiers import normalize_phone
from qorgau.errors import InvalidInput

NAME = "leaked_identifiers"

_KIND_WORDS = {
    "phone": ("phone number", "phone numbers"),
    "iin": ("IIN", "IINs"),
    "email": ("e-mail address", "e-mail addresses"),
    "address": ("home address", "home addresses"),
    "plate": ("licence plate", "licence plates"),
}
_CRITICAL_KINDS = frozenset({"address", "iin"})


@dataclass(frozen=True)
class LeakConfig:
    people: tuple[ProtectedPerson, ...]
    matcher: IdentifierMatcher
    kinds: frozenset[str] = frozenset(KINDS)  # which identifier kinds to report


CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["people"],
    "properties": {
        "people": PEOPLE_SCHEMA,
        "kinds": {
            "type": "array",
            "items": {"type": "string", "enum": list(KINDS)},
            "description": "report only these identifier kinds (default: all)",
        },
        # The desk hands every detector the organisation's registries; leaks need neither.
        "registry": {},
        "media": {},
    },
    "additionalProperties": False,
}


def parse_config(raw: Mapping[str, Any]) -> LeakConfig:
    """Checks every identifier and compiles the matcher once (cached per watchlist)."""
    unknown = sorted(set(raw) - set(CONFIG_SCHEMA["properties"]))
    if unknown:
        raise InvalidInput.single(
            unknown[0], "unknown", "no such setting", tuple(CONFIG_SCHEMA["properties"])
        )
    people = parse_people(raw.get("people", []))
    kinds_raw = raw.get("kinds") or list(KINDS)
    if isinstance(kinds_raw, str) or not isinstance(kinds_raw, Sequence):
        raise InvalidInput.single("kinds", "type", "kinds is a list", KINDS)
    for kind in kinds_raw:
        if kind not in KINDS:
            raise InvalidInput.single("kinds", "choice", f"unknown kind {kind!r}", KINDS)
    return LeakConfig(people, compile_matcher(people), frozenset(kinds_raw))


@dataclass
class _Campaign:
    """What one batch revealed about one campaign group, gathered before it is worded."""

    observations: list[Observation]
    hits: list[tuple[Observation, Hit]]


class LeakedIdentifiers:
    spec: DetectorSpec[LeakConfig] = DetectorSpec(
        name=NAME,
        help=(
            "Finds protected people's phone numbers, e-mails, IINs, home addresses and plates "
            "in posts and ads, however they are written (spaces, words or look-alike letters "
            "between digits, 'name at example dot kz')."
        ),
        attack_types=("doxxing", "phone_flooding"),
        config_schema=CONFIG_SCHEMA,
        parse_config=parse_config,
        partition_key=None,
    )

    def detect(self, batch: Sequence[Observation], config: LeakConfig, state: State) -> BatchResult:
        outcome = config.matcher.scan([ob.text for ob in batch])
        failures = tuple(
            DetectorFailure(NAME, batch[i].id, error) for i, error in sorted(outcome.errors.items())
        )
        campaigns: dict[str, _Campaign] = {}
        for ob, found in zip(batch, outcome.hits, strict=True):
            hits = [
                h
                for h in (*found, *_structured_hits(ob, config, found))
                if h.target.kind in config.kinds
            ]
            for group in dict.fromkeys(config.people[h.target.person].campaign_group for h in hits):
                campaign = campaigns.setdefault(group, _Campaign([], []))
                campaign.observations.append(ob)
                campaign.hits.extend(
                    (ob, h) for h in hits if config.people[h.target.person].campaign_group == group
                )
        findings = tuple(
            _finding(group, campaign, config.people) for group, campaign in campaigns.items()
        )
        return BatchResult(findings, failures)


def _structured_hits(ob: Observation, config: LeakConfig, found: Sequence[Hit]) -> list[Hit]:
    """Watched numbers a source already extracted into ``phones`` that the text scan did not
    see (e.g. a number shown in an ad's contact field rather than in its text). They have no
    span in the text: start and end are -1."""
    if not ob.phones:
        return []
    seen = {h.target.value for h in found}
    out: list[Hit] = []
    for raw in ob.phones:
        try:
            e164 = normalize_phone(raw, "phones")
        except InvalidInput:
            continue
        if e164 in seen:
            continue
        for index, person in enumerate(config.people):
            if e164 in person.phones:
                out.append(Hit(Target("phone", e164, index, mask("phone", e164)), -1, -1))
                seen.add(e164)
    return out


def _finding(group: str, campaign: _Campaign, people: Sequence[ProtectedPerson]) -> Finding:
    obs = campaign.observations
    hits = campaign.hits
    names = tuple(dict.fromkeys(people[h.target.person].name for _, h in hits))
    kinds = tuple(k for k in KINDS if any(h.target.kind == k for _, h in hits))
    platforms = sorted({ob.platform for ob in obs})
    phone_ads = {ob.id for ob, h in hits if h.target.kind == "phone" and ob.kind == "ad"}
    critical = [k for k in kinds if k in _CRITICAL_KINDS]
    severity = "critical" if critical else "high" if phone_ads else None
    attack_type = "phone_flooding" if phone_ads else "doxxing"

    n = len(obs)
    where = f"{n} observation{'s' if n != 1 else ''}"
    kind_phrase = _join([_KIND_WORDS[k][0] for k in kinds])
    title = f"{kind_phrase[:1].upper()}{kind_phrase[1:]} of {_join(list(names))} posted in {where}"

    per_target: dict[Target, set[str]] = {}
    for ob, h in hits:
        per_target.setdefault(h.target, set()).add(ob.id)
    lines = []
    for name in names:
        parts = [
            f"{_KIND_WORDS[tg.kind][0]} {tg.masked} ({_count(len(ids), 'observation')})"
            for tg, ids in per_target.items()
            if people[tg.person].name == name
        ]
        lines.append(f"{name}: {_join(parts)}.")
    by_kind: dict[str, int] = {}
    for ob in obs:
        by_kind[ob.kind] = by_kind.get(ob.kind, 0) + 1
    seen_as = _join([_count(c, k) for k, c in sorted(by_kind.items(), key=lambda kv: -kv[1])])
    lines.append(f"Seen in {seen_as} on {_join(platforms)}.")
    if phone_ads:
        lines.append(
            f"Phone numbers in {_count(len(phone_ads), 'ad')} usually mean calls around the "
            "clock; ask the platforms to remove the ads and warn the person."
        )
    if critical:
        lines.append(
            f"The {_join([_KIND_WORDS[k][0] for k in critical])} lets strangers find or "
            "impersonate the person: treat this as urgent."
        )
    return Finding(
        detector=NAME,
        key=f"leaked-identifier:{group}",
        title=title,
        explanation=" ".join(lines),
        attack_type=attack_type,
        observation_ids=tuple(ob.id for ob in obs),
        subjects=names,
        severity=severity,
        at=min(ob.time for ob in obs),
        details={
            "group": group,
            "platforms": platforms,
            "kinds": list(kinds),
            "matches": [
                {
                    "observation_id": ob.id,
                    "kind": h.target.kind,
                    "masked": h.target.masked,
                    "person": people[h.target.person].name,
                    "start": h.start,
                    "end": h.end,
                }
                for ob, h in hits
            ],
        },
    )


_IRREGULAR = {"sms": ("SMS", "SMS messages"), "email": ("e-mail", "e-mails")}


def _count(n: int, noun: str) -> str:
    one, many = _IRREGULAR.get(noun, (noun, noun + "s"))
    return f"{n} {one if n == 1 else many}"


def _join(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


DETECTOR = LeakedIdentifiers()
