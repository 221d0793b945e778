"""The rapid-response configuration in force for one organisation.

Qorgau ships defaults (triage rules, clocks, playbooks, referral directory); an organisation
replaces any of them by saving its own version, which is validated first — a document that
fails its schema is refused with the exact field and reason, and the last valid version stays
in force. Versions are kept, never overwritten, so a case can always show which rules and which
playbook version it was handled under.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qorgau.domain.taxonomy import Taxonomy
from qorgau.errors import InvalidInput
from qorgau.response import clocks, playbooks, referrals, triage
from qorgau.response.channels_config import OrgChannels, parse_org_channels
from qorgau.response.roster import Roster

KINDS = ("triage", "clocks", "referrals", "roster", "channels")
PLAYBOOK_PREFIX = "playbook:"


@dataclass(frozen=True)
class Shipped:
    rules: triage.TriageRules
    policy: clocks.ClockPolicy
    library: playbooks.Library
    directory: referrals.Directory

    @classmethod
    def load(cls, taxonomy: Taxonomy) -> Shipped:
        known = taxonomy.ids("attack_type", include_retired=True)
        return cls(
            rules=triage.default_rules(known),
            policy=clocks.default_policy(),
            library=playbooks.shipped(known),
            directory=referrals.shipped_directory(known),
        )


@dataclass(frozen=True)
class ResponseConfig:
    rules: triage.TriageRules
    policy: clocks.ClockPolicy
    library: playbooks.Library
    directory: referrals.Directory
    roster: Roster
    channels: OrgChannels
    versions: dict[str, int] = field(default_factory=dict)


def validate_document(
    kind: str, body: dict[str, Any], taxonomy: Taxonomy, users: dict[str, str]
) -> Any:
    """Parse ``body`` as a document of ``kind``; raise ``InvalidInput`` naming each bad field.

    ``users`` maps active usernames to roles (a roster may only name real, active staff).
    """
    from qorgau.response.roster import parse_roster

    known = taxonomy.ids("attack_type", include_retired=True)
    if kind == "triage":
        return triage.parse_rules(body, known)
    if kind == "clocks":
        return clocks.parse_policy(body)
    if kind == "referrals":
        return referrals.parse_directory(body, known)
    if kind == "roster":
        return parse_roster(body, users)
    if kind == "channels":
        return parse_org_channels(body)
    if kind.startswith(PLAYBOOK_PREFIX):
        book = playbooks.parse_playbook(body, known)
        if book.id != kind.removeprefix(PLAYBOOK_PREFIX):
            raise InvalidInput.single(
                "id", "mismatch", f"the document's id is {book.id!r}, not the one addressed"
            )
        return book
    raise InvalidInput.single(
        "kind", "unknown", f"unknown document kind {kind!r}", (*KINDS, PLAYBOOK_PREFIX + "<id>")
    )


def effective(
    shipped: Shipped, documents: dict[str, tuple[int, dict[str, Any]]], taxonomy: Taxonomy
) -> ResponseConfig:
    """Build the configuration from the shipped defaults and the latest saved documents.

    Documents were validated when saved; one that no longer validates (the taxonomy retired a
    term it names, say) is skipped here so that a bad document can never stop intake.
    """
    parsed: dict[str, Any] = {}
    versions: dict[str, int] = {}
    for kind, (version, body) in documents.items():
        try:
            parsed[kind] = validate_document(kind, body, taxonomy, _any_user(body))
            versions[kind] = version
        except InvalidInput:
            continue
    overrides = [v for k, v in parsed.items() if k.startswith(PLAYBOOK_PREFIX)]
    return ResponseConfig(
        rules=parsed.get("triage", shipped.rules),
        policy=parsed.get("clocks", shipped.policy),
        library=shipped.library.with_overrides(overrides),
        directory=parsed.get("referrals", shipped.directory),
        roster=parsed.get("roster", Roster()),
        channels=parsed.get("channels", OrgChannels()),
        versions=versions,
    )


def _any_user(body: dict[str, Any]) -> dict[str, str]:
    """Users were checked when the roster was saved; re-reading it must not depend on them."""
    names: dict[str, str] = {}
    for section in ("shift", "cover"):
        for entry in body.get(section, ()) or ():
            if isinstance(entry, dict) and isinstance(entry.get("user"), str):
                names[entry["user"]] = "admin"
    return names
