"""Proposed severity from explicit, data-driven rules, with the reasons shown.

A responder must be able to see *why* a case was proposed critical and disagree: so triage is
a list of named rules in a data file (``data/triage-rules.toml``), each with a condition on the
report's signals and an effect — a base severity, or a raise/lower by levels. The proposal is
the highest base severity of the matching rules (or the default), moved by the largest raise
and the largest lowering; every matching rule is a reason. Rules are evaluated in Python, not
SQL, because an organisation changes them far more often than the schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from typing import Any

from pydantic import Field, model_validator

from qorgau.domain.model import Severity
from qorgau.response.documents import Labels, Strict, parse, parse_toml_text

ORDER = (Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL)


@dataclass(frozen=True)
class TriageSignals:
    """What the rules may look at: facts of the report, not free text."""

    attack_types: tuple[str, ...]
    ongoing: bool = False
    threat_to_life: bool = False
    home_address_leaked: bool = False
    people_targeted: int = 0
    reach: int = 0
    started_at: datetime | None = None
    reported_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "attack_types": list(self.attack_types),
            "ongoing": self.ongoing,
            "threat_to_life": self.threat_to_life,
            "home_address_leaked": self.home_address_leaked,
            "people_targeted": self.people_targeted,
            "reach": self.reach,
        }


class Condition(Strict):
    """All given parts must hold (an empty condition never matches: see the validator)."""

    attack_types_any: tuple[str, ...] = ()
    ongoing: bool | None = None
    threat_to_life: bool | None = None
    home_address_leaked: bool | None = None
    min_people_targeted: int | None = Field(default=None, ge=1)
    min_reach: int | None = Field(default=None, ge=1)
    min_age_days: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _not_empty(self) -> Condition:
        if not self.model_dump(exclude_defaults=True):
            raise ValueError("a rule needs at least one condition")
        return self

    def holds(self, s: TriageSignals) -> bool:
        if self.attack_types_any and not set(self.attack_types_any) & set(s.attack_types):
            return False
        for name in ("ongoing", "threat_to_life", "home_address_leaked"):
            wanted = getattr(self, name)
            if wanted is not None and getattr(s, name) is not wanted:
                return False
        if self.min_people_targeted is not None and s.people_targeted < self.min_people_targeted:
            return False
        if self.min_reach is not None and s.reach < self.min_reach:
            return False
        if self.min_age_days is not None:
            if s.started_at is None or s.reported_at is None:
                return False
            if s.reported_at - s.started_at < timedelta(days=self.min_age_days):
                return False
        return True


class Rule(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    when: Condition
    severity: Severity | None = None
    raise_levels: int = Field(default=0, ge=0, le=3, alias="raise")
    lower_levels: int = Field(default=0, ge=0, le=3, alias="lower")
    reason: Labels

    @model_validator(mode="after")
    def _one_effect(self) -> Rule:
        effects = (self.severity is not None) + bool(self.raise_levels) + bool(self.lower_levels)
        if effects != 1:
            raise ValueError("give exactly one effect: severity, raise or lower")
        return self


class TriageRules(Strict):
    version: str
    default_severity: Severity
    rule: tuple[Rule, ...]

    @model_validator(mode="after")
    def _unique_ids(self) -> TriageRules:
        ids = [r.id for r in self.rule]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"rule ids must be unique; repeated: {', '.join(dupes)}")
        return self

    def unknown_attack_types(self, known: tuple[str, ...]) -> list[str]:
        return sorted(
            {t for r in self.rule for t in r.when.attack_types_any if t not in set(known)}
        )


@dataclass(frozen=True)
class Reason:
    rule: str
    effect: str  # "critical" | "+1" | "-1" ...
    text: dict[str, str]


@dataclass(frozen=True)
class Triage:
    severity: Severity
    reasons: tuple[Reason, ...]
    rules_version: str
    signals: TriageSignals

    def as_dict(self) -> dict[str, Any]:
        return {
            "proposed": str(self.severity),
            "rules_version": self.rules_version,
            "signals": self.signals.as_dict(),
            "reasons": [{"rule": r.rule, "effect": r.effect, "text": r.text} for r in self.reasons],
        }


def evaluate(rules: TriageRules, signals: TriageSignals) -> Triage:
    matched = [r for r in rules.rule if r.when.holds(signals)]
    bases = [r.severity for r in matched if r.severity is not None]
    base = max(bases, key=ORDER.index) if bases else rules.default_severity
    up = max((r.raise_levels for r in matched), default=0)
    down = max((r.lower_levels for r in matched), default=0)
    level = min(max(ORDER.index(base) + up - down, 0), len(ORDER) - 1)
    reasons = tuple(
        Reason(
            r.id,
            str(r.severity)
            if r.severity
            else (f"+{r.raise_levels}" if r.raise_levels else f"-{r.lower_levels}"),
            r.reason.as_dict(),
        )
        for r in matched
    )
    if not matched:
        reasons = (
            Reason(
                "default",
                str(rules.default_severity),
                {
                    "en": "No rule matched; the default severity applies",
                    "ru": "Ни одно правило не подошло; применяется уровень по умолчанию",
                    "kk": "Бірде-бір ереже сәйкес келмеді; әдепкі деңгей қолданылады",
                },
            ),
        )
    return Triage(ORDER[level], reasons, rules.version, signals)


def parse_rules(data: dict[str, Any], known_attack_types: tuple[str, ...]) -> TriageRules:
    from qorgau.errors import InvalidInput

    rules = parse(TriageRules, data)
    unknown = rules.unknown_attack_types(known_attack_types)
    if unknown:
        raise InvalidInput.single(
            "rule.when.attack_types_any",
            "unknown",
            f"unknown attack types: {', '.join(unknown)}",
            known_attack_types,
        )
    return rules


def default_rules(known_attack_types: tuple[str, ...]) -> TriageRules:
    text = (resources.files("qorgau.response") / "data" / "triage-rules.toml").read_text("utf-8")
    return parse_rules(parse_toml_text(text, "triage-rules.toml"), known_attack_types)
