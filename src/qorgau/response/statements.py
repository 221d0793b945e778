"""Drafts of public statements about a case, in English, Russian or Kazakh.

A foundation's statement must be fast and must not hurt the person it defends: so the draft
states only facts the case holds (dates, what kind of attack, where, the legal qualification)
and names a person only if they consented to be named publicly; outlets and websites are public
facts. It is a draft: a coordinator edits and approves it, and nothing is published before that.
Templates are files an organisation can replace.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from jinja2 import Environment, PackageLoader, StrictUndefined

from qorgau.domain.model import Incident
from qorgau.domain.taxonomy import Taxonomy
from qorgau.errors import Conflict, InvalidInput
from qorgau.response.documents import LANGUAGES

PUBLIC_KINDS = ("outlet", "website")


class StatementState(StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    PUBLISHED = "published"


@dataclass(frozen=True)
class StatementFacts:
    organisation: str
    attack_types: tuple[str, ...]
    platform: str | None
    region: str | None
    started: str | None
    reported: str
    legal_refs: tuple[str, ...]
    named_people: tuple[str, ...]
    outlets: tuple[str, ...]
    anonymous_people: int
    ongoing: bool
    attack_type_ids: tuple[str, ...]


_env = Environment(
    loader=PackageLoader("qorgau.response", "data/statements"),
    undefined=StrictUndefined,
    autoescape=False,  # plain text for editing; the web page escapes on display
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _date(d: datetime | None) -> str | None:
    return d.strftime("%d.%m.%Y") if d else None


def facts(incident: Incident, taxonomy: Taxonomy, lang: str, organisation: str) -> StatementFacts:
    people = [t for t in incident.targets if t.kind not in PUBLIC_KINDS]
    return StatementFacts(
        organisation=organisation,
        attack_types=tuple(taxonomy.label("attack_type", a, lang) for a in incident.attack_types),
        platform=taxonomy.label("platform", incident.platform, lang) if incident.platform else None,
        region=taxonomy.label("region", incident.region, lang) if incident.region else None,
        started=_date(incident.started_at),
        reported=_date(incident.reported_at) or "",
        legal_refs=tuple(taxonomy.label("legal_reference", r, lang) for r in incident.legal_refs),
        named_people=tuple(t.name for t in people if t.consent_public and t.kind == "person"),
        outlets=tuple(t.name for t in incident.targets if t.kind in PUBLIC_KINDS),
        anonymous_people=sum(1 for t in people if not t.consent_public and t.kind == "person"),
        ongoing=incident.ongoing,
        attack_type_ids=incident.attack_types,
    )


def draft(incident: Incident, taxonomy: Taxonomy, lang: str, organisation: str) -> str:
    if lang not in LANGUAGES:
        raise InvalidInput.single(
            "language", "unknown", f"statements are drafted in {', '.join(LANGUAGES)}", LANGUAGES
        )
    template = _env.get_template(f"{lang}.txt.j2")
    return template.render(f=facts(incident, taxonomy, lang, organisation)).strip() + "\n"


def check_edit(state: StatementState) -> None:
    if state is StatementState.PUBLISHED:
        raise Conflict("a published statement cannot be edited; draft a new one")


def check_publish(state: StatementState) -> None:
    if state is StatementState.DRAFT:
        raise Conflict("a statement must be approved by a coordinator before it is published")
    if state is StatementState.PUBLISHED:
        raise Conflict("this statement is already published")
