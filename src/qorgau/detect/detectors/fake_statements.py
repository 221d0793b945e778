"""Statements, invitations, appeals and quotes attributed to a protected entity by others.

In the Orda.kz case fake "statements" and an "invitation" circulated in the names of the
editor, other journalists, the Prime Minister and governors. A post naming a protected person
or outlet next to "заявила", "шақырады", "invites" or a quotation is reported when it was not
posted by one of the entity's verified accounts (or, for a person, their outlet's) and does not
quote one of the statements the entity really published. It is reported as high severity when
a look-alike account posted it or it links to a look-alike domain: that is impersonation, not
a misquote.

Findings are keyed per campaign group (a person's outlet, else the entity), so the editor's
fake invitation and the outlet's fake statement the next day grow one incident."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from qorgau.detect.attribution import Assessment, AttributionKind, NameMatcher, assess
from qorgau.detect.config_values import choice_list
from qorgau.detect.detectors.lookalikes import lookalikes_in, parse_shared, shared_properties
from qorgau.detect.detectors.near_duplicate_texts import redact
from qorgau.detect.interfaces import DetectorSpec, State
from qorgau.detect.lookalike import LookalikeIndex, Verdict, build_index
from qorgau.detect.model import BatchResult, Finding, Observation
from qorgau.detect.protected_registry import (
    ProtectedRegistry,
    RegistryProblem,
    normalize_account,
    normalize_platform,
)

NAME = "fake_statements"
ATTACK_TYPE = "fake_statement"
KINDS: tuple[AttributionKind, ...] = ("invitation", "appeal", "statement", "quote")
_KIND_WORDS = {
    "invitation": ("invitation", "invitations"),
    "appeal": ("appeal", "appeals"),
    "statement": ("statement", "statements"),
    "quote": ("quote", "quotes"),
}
_SEVERITY_ORDER = ("low", "medium", "high")


@dataclass(frozen=True)
class FakeStatementConfig:
    registry: ProtectedRegistry
    matcher: NameMatcher = field(compare=False, repr=False)
    index: LookalikeIndex = field(compare=False, repr=False)
    kinds: frozenset[str] = frozenset(KINDS)
    problems: tuple[RegistryProblem, ...] = ()


CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        **shared_properties(),
        "kinds": {
            "type": "array",
            "items": {"enum": list(KINDS)},
            "uniqueItems": True,
            "description": "report only these kinds of attribution (default: all)",
        },
    },
}


def parse_config(raw: Mapping[str, Any]) -> FakeStatementConfig:
    registry, problems = parse_shared(raw, ("kinds",))
    kinds = choice_list(raw, "kinds", KINDS, KINDS, "kind")
    return FakeStatementConfig(
        registry, NameMatcher(registry), build_index(registry), kinds, problems
    )


@dataclass
class _Hit:
    ob: Observation
    assessments: list[Assessment]
    severity: str
    lookalikes: list[Verdict]
    poster_is_protected: bool


class FakeStatements:
    spec: DetectorSpec[FakeStatementConfig] = DetectorSpec(
        name=NAME,
        help=(
            "Finds posts attributing statements, invitations, appeals or quotes to a protected "
            "person or outlet that were not posted by their verified accounts and do not match "
            "anything they published; high severity when a look-alike account is behind it."
        ),
        attack_types=(ATTACK_TYPE,),
        config_schema=CONFIG_SCHEMA,
        parse_config=parse_config,
        partition_key=None,
    )

    def detect(
        self, batch: Sequence[Observation], config: FakeStatementConfig, state: State
    ) -> BatchResult:
        if not config.registry.entities:
            return BatchResult()
        campaigns: dict[str, list[_Hit]] = {}
        protected_accounts = _protected_accounts(config.registry)
        for ob in batch:
            unverified = [
                a
                for a in assess(ob, config.registry, config.matcher)
                if a.standing == "unverified" and a.attribution.kind in config.kinds
            ]
            if not unverified:
                continue
            families = _families(unverified, config.registry)
            lookalikes = [
                v
                for v, _ in lookalikes_in(ob, config.index)
                if _family_of(v.entity_id, config.registry) in families
            ]
            poster = (normalize_platform(ob.platform), normalize_account(ob.account))
            protected_poster = poster in protected_accounts
            severity = "high" if lookalikes else "low" if protected_poster else "medium"
            for family in families:
                campaigns.setdefault(family, []).append(
                    _Hit(
                        ob,
                        [
                            a
                            for a in unverified
                            if _family_of(a.attribution.entity_id, config.registry) == family
                        ],
                        severity,
                        lookalikes,
                        protected_poster,
                    )
                )
        findings = tuple(_finding(f, hits, config.registry) for f, hits in campaigns.items())
        return BatchResult(findings)


def _protected_accounts(registry: ProtectedRegistry) -> frozenset[tuple[str, str]]:
    return frozenset(
        (platform, handle)
        for entity in registry.entities
        for platform, handles in entity.accounts.items()
        for handle in handles
    )


def _family_of(entity_id: str | None, registry: ProtectedRegistry) -> str | None:
    entity = registry.by_id(entity_id or "")
    return None if entity is None else registry.family(entity)


def _families(assessments: Sequence[Assessment], registry: ProtectedRegistry) -> list[str]:
    out: dict[str, None] = {}
    for a in assessments:
        family = _family_of(a.attribution.entity_id, registry)
        if family is not None:
            out[family] = None
    return list(out)


def _finding(family: str, hits: list[_Hit], registry: ProtectedRegistry) -> Finding:
    hits = sorted(hits, key=lambda h: h.ob.time)
    names = tuple(
        dict.fromkeys(
            entity.name
            for h in hits
            for a in h.assessments
            if (entity := registry.by_id(a.attribution.entity_id)) is not None
        )
    )
    kinds = [k for k in KINDS if any(a.attribution.kind == k for h in hits for a in h.assessments)]
    severity = max((h.severity for h in hits), key=_SEVERITY_ORDER.index)
    n = len(hits)
    kind_words = _join([_KIND_WORDS[k][1] for k in kinds])
    title = (
        f"{kind_words[:1].upper()}{kind_words[1:]} attributed to {_join(list(names))} "
        f"from unverified accounts in {n} post{'s' if n != 1 else ''}"
    )
    accounts = sorted({h.ob.account for h in hits if h.ob.account})
    platforms = sorted({h.ob.platform for h in hits})
    lookalike_names = sorted({v.observed for h in hits for v in h.lookalikes})
    lines = [
        f"{_join(list(names))} {'is' if len(names) == 1 else 'are'} said to have made "
        f"{kind_words} in posts by {len(accounts)} account{'s' if len(accounts) != 1 else ''} "
        f"on {_join(platforms)}; none is a verified account of theirs, and the words match "
        "none of the statements they published."
    ]
    if lookalike_names:
        lines.append(
            f"Look-alike accounts or domains are involved ({', '.join(lookalike_names)}): "
            "this is impersonation; report them to the platforms and warn readers."
        )
    if any(h.poster_is_protected for h in hits):
        lines.append(
            "Some posts come from another protected entity's verified account: likely "
            "reporting, but check that the words were really said."
        )
    lines.append(
        "Confirm with the person or outlet, then publish a denial on their verified accounts."
    )
    return Finding(
        detector=NAME,
        key=f"fake-statement:{family}",
        title=title,
        explanation=" ".join(lines),
        attack_type=ATTACK_TYPE,
        observation_ids=tuple(dict.fromkeys(h.ob.id for h in hits)),
        subjects=names,
        severity=severity,
        at=hits[0].ob.time,
        details={
            "group": family,
            "kinds": kinds,
            "platforms": platforms,
            "lookalikes": lookalike_names,
            "attributions": [
                {
                    "observation_id": h.ob.id,
                    "entity": a.attribution.entity_id,
                    "kind": a.attribution.kind,
                    "name_variant": a.attribution.variant,
                    # A quoted "invitation" often carries a contact: hide numbers and e-mails.
                    "cue": redact(a.attribution.cue)[:120],
                    "severity": h.severity,
                }
                for h in hits
                for a in h.assessments
            ],
        },
    )


def _join(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


DETECTOR = FakeStatements()
