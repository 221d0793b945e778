"""The referral directory: organisations that help, and which of them fit a case.

The paper in the seeds found that none of the persecuted journalists it studied turned to the
organisations that exist to help them — most did not know they existed. So the case page
suggests partners itself, from what the case needs (derived from its attack types and signals)
and the language the person speaks, and the desk records every referral and its outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from typing import Any

from pydantic import Field, HttpUrl, model_validator

from qorgau.errors import InvalidInput
from qorgau.response.documents import LANGUAGES, Labels, Strict, parse, parse_toml_text


class Need(StrEnum):
    LEGAL_AID = "legal_aid"
    EMERGENCY_FUNDS = "emergency_funds"
    RELOCATION = "relocation"
    DIGITAL_SECURITY = "digital_security"
    DDOS_PROTECTION = "ddos_protection"
    ADVOCACY = "advocacy"
    MONITORING = "monitoring"
    PLATFORM_ESCALATION = "platform_escalation"


class ReferralState(StrEnum):
    MADE = "made"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    HELPED = "helped"
    NO_RESPONSE = "no_response"


class Partner(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    name: str
    offers: tuple[Need, ...] = Field(min_length=1)
    languages: tuple[str, ...] = Field(min_length=1)
    # Empty: any attack type; otherwise only cases with one of these.
    attack_types: tuple[str, ...] = ()
    website: HttpUrl
    conditions: Labels

    @model_validator(mode="after")
    def _langs(self) -> Partner:
        bad = [x for x in self.languages if x not in LANGUAGES]
        if bad:
            raise ValueError(f"unknown language {bad[0]!r}; use {', '.join(LANGUAGES)}")
        return self


class Directory(Strict):
    version: str
    needs: dict[str, tuple[Need, ...]]  # attack type -> needs
    partner: tuple[Partner, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Directory:
        ids = [p.id for p in self.partner]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"partner ids must be unique; repeated: {', '.join(dupes)}")
        return self

    def get(self, partner_id: str) -> Partner:
        for p in self.partner:
            if p.id == partner_id:
                return p
        raise InvalidInput.single(
            "partner_id",
            "unknown",
            f"no partner {partner_id!r} in the referral directory",
            tuple(p.id for p in self.partner),
        )


@dataclass(frozen=True)
class Suggestion:
    partner: Partner
    needs: tuple[Need, ...]  # the case's needs this partner covers
    speaks_language: bool
    score: int


def case_needs(
    directory: Directory, attack_types: tuple[str, ...], threat_to_life: bool = False
) -> tuple[Need, ...]:
    needs: list[Need] = []
    for t in attack_types:
        needs.extend(directory.needs.get(t, ()))
    if threat_to_life:
        needs.extend((Need.EMERGENCY_FUNDS, Need.RELOCATION, Need.LEGAL_AID))
    return tuple(dict.fromkeys(needs))


def suggest(
    directory: Directory,
    attack_types: tuple[str, ...],
    language: str | None,
    *,
    threat_to_life: bool = False,
    limit: int = 8,
) -> list[Suggestion]:
    """Partners covering at least one need, best first.

    Needs are listed most important first (``ddos`` needs DDoS protection before general
    digital security), so a covered need weighs more the earlier it comes; speaking the
    person's language breaks ties.
    """
    needs = case_needs(directory, attack_types, threat_to_life)
    out: list[Suggestion] = []
    for p in directory.partner:
        if p.attack_types and not set(p.attack_types) & set(attack_types):
            continue
        covered = tuple(n for n in needs if n in p.offers)
        if not covered:
            continue
        speaks = language is None or language in p.languages
        weight = sum(len(needs) - needs.index(n) for n in covered)
        out.append(Suggestion(p, covered, speaks, weight * 10 + (5 if speaks else 0)))
    out.sort(key=lambda s: (-s.score, s.partner.name))
    return out[:limit]


def parse_directory(data: dict[str, Any], known_attack_types: tuple[str, ...]) -> Directory:
    d = parse(Directory, data)
    unknown = sorted(
        {t for t in d.needs if t not in known_attack_types}
        | {t for p in d.partner for t in p.attack_types if t not in known_attack_types}
    )
    if unknown:
        raise InvalidInput.single(
            "needs", "unknown", f"unknown attack types: {', '.join(unknown)}", known_attack_types
        )
    return d


def shipped_directory(known_attack_types: tuple[str, ...]) -> Directory:
    text = (resources.files("qorgau.response") / "data" / "referrals.toml").read_text("utf-8")
    return parse_directory(parse_toml_text(text, "referrals.toml"), known_attack_types)
