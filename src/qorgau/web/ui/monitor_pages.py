"""The monitor and the detectors, as the desk reads them: which of an outlet's hosts each ISP
lets through, day by day, and what the detectors found and why.

The grid answers the question a responder is asked first ("is orda.kz blocked on Beeline, and
since when?") and lets them show it: every cell names its verdict in words (colour only
repeats it, for readers who cannot tell colours apart) and links to the measurement behind
it, with the evidence the classifier gave and its record in the evidence vault. The pages
call the same desk methods as ``web/api/monitor.py`` and ``web/api/observations.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from qorgau.detect.registry import DETECTORS
from qorgau.domain.access import Action
from qorgau.i18n import N_, gettext
from qorgau.monitor.model import Verdict, VerdictKind
from qorgau.monitor_desk import MonitorDesk
from qorgau.observation_desk import ObservationDesk
from qorgau.reports.labels import SEVERITY_LABELS
from qorgau.store.detections import StoredFinding
from qorgau.store.monitor import RegisterEntry, state_of
from qorgau.web.auth import route
from qorgau.web.pages import LEGAL_BASES, STATES
from qorgau.web.ui import render
from qorgau.web.ui.deps import Viewer
from qorgau.web.ui.forms import FormState

router = APIRouter(include_in_schema=False)

# Days shown in an outlet's grid: two weeks of measurements fit a desk screen and cover the
# question asked in practice ("since when?"); the register entry gives the whole span.
GRID_DAYS = 14
TIMELINE_LIMIT = 1000
FINDINGS_LIMIT = 200

VERDICTS = {
    VerdictKind.ACCESSIBLE: N_("Accessible"),
    VerdictKind.DNS_TAMPERING: N_("DNS tampering"),
    VerdictKind.TCP_IP_BLOCKING: N_("TCP/IP blocking"),
    VerdictKind.TLS_INTERFERENCE: N_("TLS interference"),
    VerdictKind.HTTP_BLOCKPAGE: N_("HTTP block page"),
    VerdictKind.HTTP_DIFF: N_("HTTP response unlike the control's"),
    VerdictKind.DOWN_EVERYWHERE: N_("Down everywhere"),
    VerdictKind.THROTTLING: N_("Throttling"),
    VerdictKind.INCONCLUSIVE: N_("Inconclusive"),
}
# The CSS class of a state; the label beside it says the same in words.
STATE_CLASSES = {
    "blocked": "cell-blocked",
    "accessible": "cell-accessible",
    "anomaly": "cell-anomaly",
    "down": "cell-unknown cell-down",
    "unknown": "cell-unknown",
}
DETECTOR_LABELS = {
    "leaked_identifiers": N_("Identifiers of a protected person posted"),
    "floods": N_("Flood of calls or messages"),
    "co_sharing": N_("Accounts posting in concert"),
    "near_duplicate_texts": N_("Near-identical texts"),
    "complaint_waves": N_("Wave of complaints"),
    "lookalikes": N_("Look-alike accounts or domains"),
    "fake_statements": N_("Fake statements"),
    "image_fakes": N_("Doctored images"),
    "threats": N_("Threats"),
}
NO_DETECTOR = N_("No detector is called {name}.")


def md(request: Request) -> MonitorDesk:
    d: MonitorDesk = request.app.state.monitor_desk
    return d


def od(request: Request) -> ObservationDesk:
    d: ObservationDesk = request.app.state.observation_desk
    return d


def outlet_href(outlet: str) -> str:
    return "/desk/monitor/" + quote(outlet, safe="")


def verdict_label(verdict: str, lang: str) -> str:
    try:
        return gettext(lang, VERDICTS[VerdictKind(verdict)])
    except ValueError:
        return verdict


def state_label(state: str, lang: str) -> str:
    return gettext(lang, STATES.get(state, STATES["unknown"]))


def observed_state(verdict: str, confirmed: bool) -> str:
    """The state one observation shows, by the rule the monitor keeps hosts' states with."""
    try:
        kind = VerdictKind(verdict)
    except ValueError:
        return "unknown"
    return state_of(Verdict(kind, confirmed=confirmed))


def _parse(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


# -- the outlets -------------------------------------------------------------------------------


@dataclass(frozen=True)
class NetworkState:
    network: str
    state: str
    css: str
    label: str
    verdict: str
    since: str


@dataclass(frozen=True)
class HostSummary:
    host: str
    url: str
    networks: list[NetworkState]

    @property
    def blocked_on(self) -> int:
        return sum(1 for n in self.networks if n.state == "blocked")


@dataclass(frozen=True)
class OutletSummary:
    name: str
    href: str
    targets: int
    hosts: list[HostSummary]


def _host_summaries(d: MonitorDesk, who: Any, outlet: str, lang: str) -> list[HostSummary]:
    return [
        HostSummary(
            h.host,
            h.url,
            [
                NetworkState(
                    network=str(n["network"]),
                    state=str(n["state"]),
                    css=STATE_CLASSES.get(str(n["state"]), "cell-unknown"),
                    label=state_label(str(n["state"]), lang),
                    verdict=verdict_label(str(n["verdict"]), lang),
                    since=render.when(_parse(n["since"]), lang, "short"),
                )
                for n in h.networks
            ],
        )
        for h in d.outlet_status(who, outlet)
    ]


@router.get("/desk/monitor", **route(Action.MONITOR_READ))
def monitor_home(request: Request, who: Viewer) -> Response:
    lang = render.language(request)
    d = md(request)
    outlets = [
        OutletSummary(name, outlet_href(name), n, _host_summaries(d, who, name, lang))
        for name, n in d.outlets(who)
    ]
    return render.page(
        request,
        "ui/monitor_outlets.html",
        who,
        title=gettext(lang, "Reachability monitor"),
        outlets=outlets,
    )


# -- one outlet's grid -------------------------------------------------------------------------


@dataclass(frozen=True)
class GridCell:
    observation: int
    state: str
    css: str
    label: str  # the state in words, shown in the cell
    verdict: str
    title: str  # verdict, time and the classifier's first reason, on hover
    at: str


@dataclass(frozen=True)
class GridRow:
    host: str
    network: str
    current: NetworkState | None
    cells: list[GridCell | None]  # one per day of the grid, None where nothing was measured


@dataclass(frozen=True)
class ObservationLine:
    id: int
    host: str
    network: str
    at: str
    state: str
    css: str
    label: str
    verdict: str
    confirmed: bool
    evidence: list[str]
    source: str
    vault_item: int | None


@dataclass(frozen=True)
class OutletGrid:
    days: list[date]
    rows: list[GridRow]
    observations: list[ObservationLine]  # those the cells show, newest first


def build_grid(
    hosts: list[HostSummary], timelines: dict[str, list[dict[str, Any]]], lang: str
) -> OutletGrid:
    """Rows host × network, columns the latest days measured; a cell is the day's last
    measurement from that network (a timeline is newest first, so the first one met)."""
    latest: dict[tuple[str, str, date], dict[str, Any]] = {}
    networks: dict[str, list[str]] = {h.host: [n.network for n in h.networks] for h in hosts}
    for host, entries in timelines.items():
        for e in entries:
            day = _parse(e["at"]).date()
            latest.setdefault((host, str(e["network"]), day), e)
            if str(e["network"]) not in networks.setdefault(host, []):
                networks[host].append(str(e["network"]))
    days = sorted({day for _, _, day in latest})[-GRID_DAYS:]
    shown: list[ObservationLine] = []
    rows: list[GridRow] = []
    for h in hosts:
        current = {n.network: n for n in h.networks}
        for network in sorted(networks.get(h.host, [])):
            cells: list[GridCell | None] = []
            for day in days:
                seen = latest.get((h.host, network, day))
                if seen is None:
                    cells.append(None)
                    continue
                line = _observation_line(h.host, seen, lang)
                shown.append(line)
                reason = line.evidence[0] if line.evidence else ""
                cells.append(
                    GridCell(
                        observation=line.id,
                        state=line.state,
                        css=line.css,
                        label=line.label,
                        verdict=line.verdict,
                        title=" — ".join(p for p in (line.verdict, line.at, reason) if p),
                        at=line.at,
                    )
                )
            rows.append(GridRow(h.host, network, current.get(network), cells))
    shown.sort(key=lambda o: (o.at, o.id), reverse=True)
    return OutletGrid(days, rows, shown)


def _observation_line(host: str, e: dict[str, Any], lang: str) -> ObservationLine:
    state = observed_state(str(e["verdict"]), bool(e["confirmed"]))
    return ObservationLine(
        id=int(e["observation"]),
        host=host,
        network=str(e["network"]),
        at=render.when(_parse(e["at"]), lang, "short"),
        state=state,
        css=STATE_CLASSES[state],
        label=state_label(state, lang),
        verdict=verdict_label(str(e["verdict"]), lang),
        confirmed=bool(e["confirmed"]),
        evidence=[str(x) for x in e["evidence"] or []],
        source=str(e["source"]),
        vault_item=int(e["vault_item"]) if e["vault_item"] is not None else None,
    )


@dataclass(frozen=True)
class RegisterFacts:
    host: str
    blocked_now: bool
    first_seen: str
    last_seen: str
    legal_basis: str
    legal_reference: str | None


def register_facts(entries: list[RegisterEntry], hosts: set[str], lang: str) -> list[RegisterFacts]:
    return [
        RegisterFacts(
            host=e.host,
            blocked_now=e.currently_blocked,
            first_seen=render.when(e.first_seen, lang, "short"),
            last_seen=render.when(e.last_seen, lang, "short"),
            legal_basis=gettext(lang, LEGAL_BASES.get(e.legal_basis, e.legal_basis)),
            legal_reference=e.legal_reference,
        )
        for e in entries
        if e.host in hosts
    ]


@router.get("/desk/monitor/{outlet:path}", **route(Action.MONITOR_READ))
def monitor_outlet(
    request: Request,
    who: Viewer,
    outlet: Annotated[str, Path(min_length=1, max_length=200)],
) -> Response:
    lang = render.language(request)
    d = md(request)
    hosts = _host_summaries(d, who, outlet, lang)
    timelines = {h.host: d.host_timeline(who, h.host, TIMELINE_LIMIT) for h in hosts}
    grid = build_grid(hosts, timelines, lang)
    register = register_facts(d.register(who), {h.host for h in hosts}, lang)
    return render.page(
        request,
        "ui/monitor_outlet.html",
        who,
        title=gettext(lang, "Monitor: {outlet}", outlet=outlet),
        outlet=outlet,
        hosts=hosts,
        grid=grid,
        register=register,
    )


# -- detections --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FindingView:
    id: int
    href: str
    detector: str
    detector_label: str
    severity: str | None
    severity_label: str
    attack_type: str
    title: str
    explanation: list[str]  # paragraphs, as the detector wrote them
    subjects: list[str]
    details: list[tuple[str, list[str]]]  # what matched: each detail, readable
    first_at: str
    last_at: str
    observations: int
    case: str | None  # the incident's public id


def detector_label(name: str, lang: str) -> str:
    return gettext(lang, DETECTOR_LABELS[name]) if name in DETECTOR_LABELS else name


def readable(value: Any) -> list[str]:
    """A detail as lines a person can read: lists one item a line, records as ``key: value``."""
    if isinstance(value, list | tuple):
        return [line for item in value for line in readable(item)] or ["—"]
    if isinstance(value, dict):
        return ["; ".join(f"{k}: {', '.join(readable(v))}" for k, v in value.items())]
    if value is None:
        return ["—"]
    return [str(value)]


def finding_view(
    f: StoredFinding, publics: dict[int, str], taxonomy: Any, lang: str
) -> FindingView:
    return FindingView(
        id=f.id,
        href=f"/desk/detections/{f.id}",
        detector=f.detector,
        detector_label=detector_label(f.detector, lang),
        severity=f.severity,
        severity_label=gettext(lang, SEVERITY_LABELS[f.severity])
        if f.severity in SEVERITY_LABELS
        else "—",
        attack_type=taxonomy.label("attack_type", f.attack_type, lang),
        title=f.title,
        explanation=[p for p in f.explanation.splitlines() if p.strip()],
        subjects=list(f.subjects),
        details=[(str(k), readable(v)) for k, v in sorted(f.details.items())],
        first_at=render.when(f.first_at, lang, "short"),
        last_at=render.when(f.last_at, lang, "short"),
        observations=f.observations,
        case=publics.get(f.incident_id) if f.incident_id else None,
    )


def detector_options(lang: str) -> list[tuple[str, str]]:
    return [(d.spec.name, detector_label(d.spec.name, lang)) for d in DETECTORS]


@router.get("/desk/detections", **route(Action.OBSERVATION_READ))
def detections(
    request: Request,
    who: Viewer,
    detector: Annotated[str, Query(max_length=60)] = "",
) -> Response:
    lang = render.language(request)
    d = od(request)
    state = FormState(values={"detector": detector})
    known = {name for name, _ in detector_options(lang)}
    found = d.findings(who, FINDINGS_LIMIT)
    status = 200
    if detector and detector not in known:
        state.add("detector", gettext(lang, NO_DETECTOR, name=detector))
        status = 422
    elif detector:
        found = [f for f in found if f.detector == detector]
    publics = d.incident_public_ids([f.incident_id for f in found if f.incident_id])
    tax = d.store.taxonomy
    return render.page(
        request,
        "ui/detections.html",
        who,
        status=status,
        title=gettext(lang, "Detections"),
        state=state,
        detectors=detector_options(lang),
        findings=[finding_view(f, publics, tax, lang) for f in found],
    )


@router.get("/desk/detections/{finding_id}", **route(Action.OBSERVATION_READ))
def detection(request: Request, who: Viewer, finding_id: Annotated[int, Path(ge=1)]) -> Response:
    lang = render.language(request)
    d = od(request)
    keys = d.finding_observations(who, finding_id)  # NotFound for another organisation's
    found = next((f for f in d.findings(who, 1000) if f.id == finding_id), None)
    view = None
    if found is not None:
        publics = d.incident_public_ids([found.incident_id] if found.incident_id else [])
        view = finding_view(found, publics, d.store.taxonomy, lang)
    return render.page(
        request,
        "ui/detections_one.html",
        who,
        title=gettext(lang, "Detection {id}", id=finding_id),
        finding_id=finding_id,
        finding=view,
        observation_keys=keys,
    )
