"""Look-alike accounts and domains imitating a protected person or outlet.

A fake statement travels further from ``0rda.kz`` or a channel called ``orda_kz_news`` than
from an account nobody recognises: the look-alike borrows the outlet's credibility. Each
look-alike (one registrable domain, or one account on one platform) is one finding under a key
of its own, so every later post from it or linking to it grows the same incident, and the
finding names the technique so the takedown request can say what the imitation is.

The outlet's own subdomains (kaz.orda.kz, en.orda.kz) are recognised as its own and never
reported; see ``qorgau.detect.lookalike``."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from qorgau.detect.config_values import choice_list
from qorgau.detect.interfaces import DetectorSpec, State
from qorgau.detect.lookalike import (
    TECHNIQUE_WORDS,
    TECHNIQUES,
    LookalikeIndex,
    Verdict,
    build_index,
)
from qorgau.detect.model import BatchResult, DetectorFailure, Finding, Observation
from qorgau.detect.protected_registry import (
    REGISTRY_SCHEMA,
    ProtectedRegistry,
    RegistryProblem,
    parse_registry,
)
from qorgau.detect.watchlist import PEOPLE_SCHEMA, parse_people
from qorgau.errors import InvalidInput

NAME = "lookalike_accounts"
ATTACK_TYPE = "fake_statement"
# Keys the desk passes to every detector; only ``registry`` is read here.
SHARED_KEYS = ("people", "registry", "media")
_HIGH = frozenset({"homoglyph", "hyphenation", "subdomain_of_another"})

# Host names written in a post's text without a scheme (0rda.kz, orda.kz.example.ru), with the
# path kept so that t.me/<account> links are judged as accounts.
_TEXT_HOST = re.compile(
    r"(?<![\w@.\-/])((?:[^\W_](?:[\w\-]{0,61}[^\W_])?\.)+(?:[^\W\d_]{2,24}|xn--[a-z0-9\-]+))"
    r"(/[^\s«»\"“”]*)?"
)
_TEXT_URL = re.compile(r"https?://[^\s«»\"“”<>]+", re.IGNORECASE)
_TEXT_MENTION = re.compile(r"(?<![\w@])@([\w.]{2,64}[\w])")


def shared_properties() -> dict[str, Any]:
    """The schema of the keys every impersonation detector accepts."""
    return {"people": PEOPLE_SCHEMA, "registry": REGISTRY_SCHEMA, "media": {}}


def parse_shared(
    raw: Mapping[str, Any], own_keys: Sequence[str]
) -> tuple[ProtectedRegistry, tuple[RegistryProblem, ...]]:
    """Refuses unknown keys, checks the watchlist the desk passes along (it is not used here,
    but a broken one is still an error in the configuration) and reads the registry. Entries
    the registry parser skips are left out, not fatal: they were reported at import."""
    if not isinstance(raw, Mapping):
        raise InvalidInput.single("config", "type", "the configuration is an object")
    allowed = (*SHARED_KEYS, *own_keys)
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise InvalidInput.single(unknown[0], "unknown", "no such setting", allowed)
    if "people" in raw:
        parse_people(raw["people"])
    parsed = parse_registry(raw.get("registry"))
    return parsed.registry, parsed.problems


@dataclass(frozen=True)
class LookalikeConfig:
    registry: ProtectedRegistry
    index: LookalikeIndex = field(compare=False, repr=False)
    techniques: frozenset[str] = frozenset(TECHNIQUES)
    problems: tuple[RegistryProblem, ...] = ()


CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        **shared_properties(),
        "techniques": {
            "type": "array",
            "items": {"enum": list(TECHNIQUES)},
            "uniqueItems": True,
            "description": "report only look-alikes made by these techniques (default: all)",
        },
    },
}


def parse_config(raw: Mapping[str, Any]) -> LookalikeConfig:
    registry, problems = parse_shared(raw, ("techniques",))
    techniques = choice_list(raw, "techniques", TECHNIQUES, TECHNIQUES, "technique")
    return LookalikeConfig(registry, build_index(registry), techniques, problems)


def lookalikes_in(ob: Observation, index: LookalikeIndex) -> list[tuple[Verdict, str]]:
    """Every look-alike in an observation with where it was seen: "account" (it posted),
    "link" (a URL) or "text" (a host or @handle written in the text)."""
    found: list[tuple[Verdict, str]] = []
    if ob.account:
        found.append((index.classify_handle(ob.account, ob.platform), "account"))
    for url in ob.urls:
        found.append((index.classify(url), "link"))
    text = ob.text
    for m in _TEXT_URL.finditer(text):
        found.append((index.classify(m.group()), "text"))
    text = _TEXT_URL.sub(" ", text)
    for m in _TEXT_HOST.finditer(text):
        found.append((index.classify(m.group(1) + (m.group(2) or "")), "text"))
    for m in _TEXT_MENTION.finditer(text):
        found.append((index.classify_handle(m.group(1), ob.platform), "text"))
    return [(v, where) for v, where in found if v.status == "lookalike"]


@dataclass
class _Seen:
    verdict: Verdict
    observations: dict[str, Observation] = field(default_factory=dict)
    where: dict[str, int] = field(default_factory=dict)


class LookalikeAccounts:
    spec: DetectorSpec[LookalikeConfig] = DetectorSpec(
        name=NAME,
        help=(
            "Finds accounts and domains imitating a protected person's or outlet's verified "
            "accounts and domains (look-alike letters, typos, hyphens, another TLD, the real "
            "name inside another domain), while the outlet's own subdomains count as its own."
        ),
        attack_types=(ATTACK_TYPE,),
        config_schema=CONFIG_SCHEMA,
        parse_config=parse_config,
        partition_key=None,
    )

    def detect(
        self, batch: Sequence[Observation], config: LookalikeConfig, state: State
    ) -> BatchResult:
        if not config.registry.entities:
            return BatchResult()
        seen: dict[str, _Seen] = {}
        failures: list[DetectorFailure] = []
        for ob in batch:
            try:
                found = lookalikes_in(ob, config.index)
            except (ValueError, UnicodeError) as exc:
                failures.append(DetectorFailure(NAME, ob.id, f"could not read a host: {exc}"))
                continue
            for verdict, where in found:
                if not set(verdict.techniques) & config.techniques:
                    continue
                entry = seen.setdefault(verdict.key, _Seen(verdict))
                entry.observations.setdefault(ob.id, ob)
                entry.where[where] = entry.where.get(where, 0) + 1
        findings = tuple(_finding(entry, config.registry) for entry in seen.values())
        return BatchResult(findings, tuple(failures))


def masked_target(verdict: Verdict, registry: ProtectedRegistry) -> str:
    """The genuine domain or handle imitated; a person's own handle or domain is shown only in
    part, because findings travel to alert channels and logs. An outlet's are public."""
    entity = registry.by_id(verdict.entity_id or "")
    target = verdict.target or ""
    if entity is None or entity.kind == "outlet":
        return target
    return target[:2] + "…" if len(target) > 3 else "…"


def _finding(entry: _Seen, registry: ProtectedRegistry) -> Finding:
    v = entry.verdict
    entity = registry.by_id(v.entity_id or "")
    name = entity.name if entity is not None else "a protected entity"
    obs = sorted(entry.observations.values(), key=lambda o: o.time)
    how = " and ".join(TECHNIQUE_WORDS[t] for t in v.techniques)
    target = masked_target(v, registry)
    if v.kind == "domain":
        title = f"Look-alike domain {v.observed} imitates {name}"
        first = f"{v.observed} imitates {target}, a domain of {name}, by {how}."
        advice = (
            "Ask the registrar and hosting provider to suspend it, and tell readers that "
            f"{name} publishes only on its own domains."
        )
    else:
        title = f"Look-alike {v.platform or 'social'} account {v.observed} imitates {name}"
        first = (
            f"The account {v.observed} on {v.platform or 'an unnamed platform'} imitates "
            f"{name}'s verified account {target} by {how}."
        )
        advice = "Report it to the platform as impersonation and warn followers."
    places = ", ".join(f"{n} as {w}" for w, n in sorted(entry.where.items()))
    platforms = sorted({o.platform for o in obs})
    seen = (
        f"Seen in {len(obs)} observation{'s' if len(obs) != 1 else ''} ({places}) "
        f"on {', '.join(platforms)}."
    )
    severity = "high" if set(v.techniques) & _HIGH or "account" in entry.where else "medium"
    return Finding(
        detector=NAME,
        key=f"lookalike:{v.key}",
        title=title,
        explanation=" ".join((first, seen, advice)),
        attack_type=ATTACK_TYPE,
        observation_ids=tuple(o.id for o in obs),
        subjects=(name,) if entity is not None else (),
        severity=severity,
        at=obs[0].time,
        details={
            "lookalike": v.observed,
            "kind": v.kind,
            "platform": v.platform,
            "entity": v.entity_id,
            "imitates": target,
            "techniques": list(v.techniques),
            "seen_as": dict(sorted(entry.where.items())),
            "platforms": platforms,
        },
    )


DETECTOR = LookalikeAccounts()
