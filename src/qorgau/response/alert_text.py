"""What an alert says. Alerts leave Qorgau through mail servers, Telegram and third-party
webhooks, so they carry no personal data: the case reference, severity, attack types, the
deadline and a link to the desk, where the rest is read after signing in."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from qorgau.domain.taxonomy import Taxonomy
from qorgau.i18n import N_, gettext

NEW_SUBJECT = N_("[Qorgau] {severity} case {public_id}: {attack_types}")
NEW_BODY = N_(
    "A new {severity} case needs a responder: {public_id}.\n"
    "Attack types: {attack_types}.\n"
    "First response due by {due} (UTC).\n"
    "Open the case: {url}"
)
BREACH_SUBJECT = N_("[Qorgau] Deadline missed on {severity} case {public_id}")
BREACH_BODY = N_(
    "The {deadline} deadline of case {public_id} ({severity}) passed at {due} (UTC) "
    "and nobody has met it yet. It is escalated to you.\n"
    "Open the case: {url}"
)
ASSIGNED_SUBJECT = N_("[Qorgau] Case {public_id} is now yours")
ASSIGNED_BODY = N_("Case {public_id} ({severity}) was assigned to you.\nOpen the case: {url}")
FLOOD_SUBJECT = N_("[Qorgau] Flood of {channel} on {severity} case {public_id}")
FLOOD_BODY = N_(
    "A flood of {channel} began at {onset} (UTC) against a person of case {public_id}"
    " ({severity}), after the identifiers planted in that case: about {rate} an hour where"
    " {usual} is usual.\n"
    "Open the case: {url}"
)
CHANNEL = {
    "calls": N_("calls"),
    "sms": N_("text messages"),
    "messages": N_("messages"),
    "mentions": N_("mentions"),
}
SEVERITY = {
    "critical": N_("critical"),
    "high": N_("high"),
    "medium": N_("medium"),
    "low": N_("low"),
}
DEADLINE = {"first_response": N_("first response"), "first_action": N_("first action")}


def _when(d: datetime) -> str:
    return d.strftime("%Y-%m-%d %H:%M")


def new_case(
    taxonomy: Taxonomy,
    lang: str,
    *,
    public_id: str,
    severity: str,
    attack_types: tuple[str, ...],
    due: datetime,
    url: str,
) -> dict[str, Any]:
    params = {
        "severity": gettext(lang, SEVERITY[severity]),
        "public_id": public_id,
        "attack_types": ", ".join(taxonomy.label("attack_type", a, lang) for a in attack_types),
        "due": _when(due),
        "url": url,
    }
    return {
        "subject": gettext(lang, NEW_SUBJECT, **params),
        "text": gettext(lang, NEW_BODY, **params),
        "public_id": public_id,
        "severity": severity,
        "attack_types": list(attack_types),
        "url": url,
        "language": lang,
    }


def breach(
    lang: str, *, public_id: str, severity: str, deadline: str, due: datetime, url: str
) -> dict[str, Any]:
    params = {
        "severity": gettext(lang, SEVERITY[severity]),
        "public_id": public_id,
        "deadline": gettext(lang, DEADLINE[deadline]),
        "due": _when(due),
        "url": url,
    }
    return {
        "subject": gettext(lang, BREACH_SUBJECT, **params),
        "text": gettext(lang, BREACH_BODY, **params),
        "public_id": public_id,
        "severity": severity,
        "deadline": deadline,
        "url": url,
        "language": lang,
    }


def assigned(lang: str, *, public_id: str, severity: str, url: str) -> dict[str, Any]:
    params = {"severity": gettext(lang, SEVERITY[severity]), "public_id": public_id, "url": url}
    return {
        "subject": gettext(lang, ASSIGNED_SUBJECT, **params),
        "text": gettext(lang, ASSIGNED_BODY, **params),
        "public_id": public_id,
        "severity": severity,
        "url": url,
        "language": lang,
    }


def flood(
    lang: str,
    *,
    public_id: str,
    severity: str,
    channel: str,
    onset: datetime,
    rate: float,
    usual: float,
    url: str,
) -> dict[str, Any]:
    """A flood joined an open case: who is flooded stays on the desk, not in the alert."""
    params = {
        "severity": gettext(lang, SEVERITY[severity]),
        "public_id": public_id,
        "channel": gettext(lang, CHANNEL.get(channel, channel)),
        "onset": _when(onset),
        "rate": f"{rate:.0f}",
        "usual": f"{usual:.0f}",
        "url": url,
    }
    return {
        "subject": gettext(lang, FLOOD_SUBJECT, **params),
        "text": gettext(lang, FLOOD_BODY, **params),
        "public_id": public_id,
        "severity": severity,
        "url": url,
        "language": lang,
    }
