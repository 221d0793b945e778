"""Public web pages: the register of blocked resources as HTML in English, Russian and Kazakh,
and the public record of each measurement the register cites.

The register is public by design (ARTICLE 19 recommends that every blocking be recorded where
anyone can read and challenge it), so the page needs no account, no JavaScript and nothing
from a third party: a reader on a censored network or a slow phone gets one small HTML page,
and no CDN or font host learns who read it. Every label is marked with ``N_`` here, in Python
rather than in the template, because ``make messages`` extracts Python only: a label written
in the template would be dropped from the catalogues as obsolete at the next extraction, and
the i18n test would not notice it missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, Template
from markupsafe import Markup, escape

from qorgau.domain.access import Action
from qorgau.domain.model import Principal
from qorgau.i18n import N_, gettext, negotiate
from qorgau.monitor_desk import MonitorDesk
from qorgau.store.monitor import RegisterEntry
from qorgau.web.auth import desk, principal, route

router = APIRouter(tags=["public register"])
Who = Annotated[Principal, Depends(principal)]

REGISTER_JSON = "/api/v1/register"
OBSERVATION_PATH = "/api/v1/register/{host}/observations/{observation_id}"
LANGUAGE_NAMES = (("en", "English"), ("ru", "Русский"), ("kk", "Қазақша"))

# Nothing may load from anywhere, scripts may not run at all, and the page cannot be framed:
# even an escaping mistake in the template could then not run code in a reader's browser.
PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)

TEXT = {
    "title": N_("Register of blocked resources"),
    "intro": N_(
        "Websites that measurements have shown to be blocked: on which networks, since when, "
        "by which method and on what legal basis. A site stays in the register after it is "
        "unblocked, with the dates of the blocking."
    ),
    "article19": N_(
        "The register is public, as ARTICLE 19 recommends: every restriction of access to "
        "online content should be recorded in an open register, so that people can know "
        "about it and challenge it."
    ),
    "verify": N_(
        "To verify a measurement, open its number in the “Measurements” column: its record "
        "gives the time, network, verdict, evidence and the SHA-256 of the raw measurement "
        "kept as evidence. Compute the SHA-256 of the same measurement in an exported "
        "evidence package (for example with sha256sum) and compare the two. The volunteers "
        "who take the measurements are never named."
    ),
    "as_of": N_("As of {time}. All times are UTC, in ISO 8601 form."),
    "count": N_("Resources in the register: {n}."),
    "data": N_("The same register as data:"),
    "language": N_("Language"),
    "empty": N_("No resource is in the register yet."),
    "host": N_("Host"),
    "blocked_now": N_("Blocked now"),
    "first_seen": N_("First seen blocked"),
    "last_seen": N_("Last seen blocked"),
    "networks": N_("Networks"),
    "methods": N_("Method of blocking"),
    "legal_basis": N_("Legal basis"),
    "measurements": N_("Measurements"),
    "yes": N_("yes"),
    "no": N_("no"),
    "now": N_("now: {state}"),
    "span": N_("{first} to {last}"),
    "observation": N_(
        "Observation {id}: time, network, verdict, evidence and SHA-256 of the raw measurement"
    ),
}

METHODS = {
    "dns_tampering": N_("DNS tampering"),
    "tcp_ip_blocking": N_("TCP/IP blocking"),
    "tls_interference": N_("TLS interference"),
    "http_blockpage": N_("HTTP block page"),
    "throttling": N_("Throttling"),
    "http_diff": N_("HTTP response unlike the control's"),
}

LEGAL_BASES = {
    "court_order": N_("Court order"),
    "administrative_order": N_("Administrative order"),
    "none_known": N_("None known"),
    "mixed": N_("Differs between networks"),
}

STATES = {
    "blocked": N_("blocked"),
    "accessible": N_("accessible"),
    "down": N_("down everywhere"),
    "anomaly": N_("anomaly"),
    "unknown": N_("state unknown"),
}


@dataclass(frozen=True)
class NetworkLine:
    network: str
    blocked: bool
    state: str
    methods: str
    span: Markup


@dataclass(frozen=True)
class Link:
    id: int
    href: str


@dataclass(frozen=True)
class Row:
    """One register entry as the page shows it: every string already in the reader's language,
    so the template only lays out and escapes."""

    host: str
    blocked: bool
    blocked_text: str
    first_seen: str
    last_seen: str
    networks: list[NetworkLine]
    methods: list[str]
    legal_basis: str
    legal_reference: str | None
    observations: list[Link]


def iso(value: datetime | str) -> str:
    """ISO 8601 in UTC to the second with a ``Z``: the same instant the JSON and CSV give,
    written short enough for a table cell."""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def time_element(value: str) -> Markup:
    """A date the browser keeps on one line: a span breaks at its dash, never inside a date."""
    return Markup('<time datetime="{0}">{0}</time>').format(value)


def observation_href(root: str, host: str, observation_id: int) -> str:
    # The host is data (a hostile one may hold anything), so it is percent-encoded as one
    # path segment; the template escapes the result again for the attribute.
    return root + OBSERVATION_PATH.format(host=quote(host, safe=""), observation_id=observation_id)


def rows_for(entries: list[RegisterEntry], lang: str, root: str) -> list[Row]:
    def t(message: str, **params: object) -> str:
        return gettext(lang, message, **params)

    def method_words(names: list[str]) -> list[str]:
        return [t(METHODS[m]) if m in METHODS else m for m in names or []]

    out = []
    for e in entries:
        networks = [
            NetworkLine(
                network=str(n["network"]),
                blocked=n["state"] == "blocked",
                state=t(TEXT["now"], state=t(STATES.get(n["state"], STATES["unknown"]))),
                methods=", ".join(method_words(n["methods"])),
                # The translated sentence is escaped first; only the two dates become markup.
                span=escape(t(TEXT["span"])).format(
                    first=time_element(iso(n["first_blocked"])),
                    last=time_element(iso(n["last_blocked"])),
                ),
            )
            for n in e.networks
        ]
        out.append(
            Row(
                host=e.host,
                blocked=e.currently_blocked,
                blocked_text=t(TEXT["yes"] if e.currently_blocked else TEXT["no"]),
                first_seen=iso(e.first_seen),
                last_seen=iso(e.last_seen),
                networks=networks,
                methods=method_words(e.methods),
                legal_basis=t(LEGAL_BASES.get(e.legal_basis, e.legal_basis)),
                legal_reference=e.legal_reference,
                observations=[Link(i, observation_href(root, e.host, i)) for i in e.observations],
            )
        )
    return out


@lru_cache(maxsize=1)
def _template() -> Template:
    env = Environment(
        loader=PackageLoader("qorgau.web", "templates"),
        autoescape=True,  # every value is escaped, hosts and legal references included
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("register.html")


def _monitor(request: Request) -> MonitorDesk:
    md: MonitorDesk = request.app.state.monitor_desk
    return md


@router.get(
    "/register",
    response_class=HTMLResponse,
    summary="The public register of blocked resources as a web page (en, ru, kk)",
    **route(Action.REGISTER_READ),
)
def register_page(
    request: Request,
    who: Who,
    lang: Annotated[str | None, Query(max_length=5)] = None,
) -> HTMLResponse:
    language = negotiate(request.headers.get("accept-language"), lang)
    root = str(request.scope.get("root_path", ""))
    entries = _monitor(request).register(who)

    def t(key: str, **params: object) -> str:
        return gettext(language, TEXT[key], **params)

    html = _template().render(
        lang=language,
        t=t,
        rows=rows_for(entries, language, root),
        generated=iso(desk(request).store.now()),
        json_href=root + REGISTER_JSON,
        csv_href=root + REGISTER_JSON + "?format=csv",
        languages=[(code, name, f"{root}/register?lang={code}") for code, name in LANGUAGE_NAMES],
    )
    return HTMLResponse(
        html,
        headers={"content-security-policy": PAGE_CSP, "vary": "Accept-Language"},
    )


@router.get(
    OBSERVATION_PATH,
    summary="One measurement the register cites: time, network, verdict, evidence and the"
    " SHA-256 of the raw measurement in the evidence vault (never who measured it)",
    **route(Action.REGISTER_READ),
)
def register_observation(
    host: Annotated[str, Path(min_length=1, max_length=255)],
    observation_id: Annotated[int, Path(ge=1, le=2_147_483_647)],
    request: Request,
    who: Who,
) -> dict[str, Any]:
    found = _monitor(request).register_observation(who, host, observation_id)
    return {**found, "at": iso(found["at"])}
