"""Indicators, STIX 2.1 and MISP exchange, public trackers, public alerts and their Atom feed.

Exports name a TLP ceiling; partner tokens read at most TLP:GREEN whatever they ask, and
TLP:RED is never exported. Imports are validated whole before anything is stored.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field

from qorgau.domain.access import Action
from qorgau.domain.model import Principal
from qorgau.domain.tlp import Tlp
from qorgau.reports.model import Indicator
from qorgau.reports.periods import Period, parse_period
from qorgau.security.csv_cells import safe_dict
from qorgau.sharing_desk import AlertDesk, SharingDesk
from qorgau.web.auth import client_address, principal, route
from qorgau.web.schemas import Strict

router = APIRouter(tags=["sharing"])
Who = Annotated[Principal, Depends(principal)]
PeriodQ = Annotated[
    str | None, Query(max_length=40, description="2025, 2025-Q3, 2025-07 or a date range")
]
STIX_MEDIA_TYPE = "application/stix+json;version=2.1"


def sd(request: Request) -> SharingDesk:
    d: SharingDesk = request.app.state.sharing_desk
    return d


def ad(request: Request) -> AlertDesk:
    d: AlertDesk = request.app.state.alert_desk
    return d


def _period(value: str | None) -> Period | None:
    return parse_period(value) if value else None


class IndicatorIn(Strict):
    kind: Annotated[str, Field(min_length=1, max_length=12)]
    value: Annotated[str, Field(min_length=1, max_length=2048)]
    tlp: Tlp = Tlp.AMBER
    description: Annotated[str, Field(max_length=2000)] = ""
    incidents: list[Annotated[str, Field(max_length=16)]] = Field(
        default_factory=list, max_length=50
    )
    first_seen: datetime | None = None


class IndicatorOut(BaseModel):
    kind: str
    value: str
    tlp: Tlp
    description: str
    first_seen: datetime
    last_seen: datetime
    uuid: str
    source: str
    created: bool | None = None


def indicator_out(i: Indicator, created: bool | None = None) -> IndicatorOut:
    return IndicatorOut(
        kind=str(i.kind),
        value=i.value,
        tlp=i.tlp,
        description=i.description,
        first_seen=i.first_seen,
        last_seen=i.last_seen,
        uuid=i.uuid,
        source=i.source,
        created=created,
    )


class IndicatorPage(BaseModel):
    total: int
    items: list[IndicatorOut]


@router.post(
    "/api/v1/indicators",
    status_code=201,
    response_model=IndicatorOut,
    summary="Add an indicator (domain, IP, URL, e-mail, account, file or picture hash)",
    **route(Action.INDICATOR_WRITE),
)
def add_indicator(request: Request, who: Who, body: IndicatorIn) -> IndicatorOut:
    ind, created = sd(request).add_indicator(
        who,
        kind=body.kind,
        value=body.value,
        tlp=body.tlp,
        description=body.description,
        incidents_=body.incidents,
        first_seen=body.first_seen,
        address=client_address(request),
    )
    return indicator_out(ind, created)


@router.get(
    "/api/v1/indicators",
    response_model=IndicatorPage,
    summary="Indicators, newest first",
    **route(Action.INDICATOR_READ),
)
def list_indicators(
    request: Request,
    who: Who,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> IndicatorPage:
    items, total = sd(request).indicators(who, limit=limit, offset=offset)
    return IndicatorPage(total=total, items=[indicator_out(i) for i in items])


class HarvestOut(BaseModel):
    new: int
    merged: int


@router.post(
    "/api/v1/indicators/harvest",
    response_model=HarvestOut,
    summary="Make indicators from the detector findings attached to cases",
    **route(Action.INDICATOR_WRITE),
)
def harvest_indicators(request: Request, who: Who) -> HarvestOut:
    new, merged = sd(request).harvest(who, client_address(request))
    return HarvestOut(new=new, merged=merged)


@router.get(
    "/api/v1/share/stix",
    summary="Incidents, indicators and their relations as a STIX 2.1 bundle, up to a TLP",
    responses={200: {"content": {STIX_MEDIA_TYPE: {}}}},
    **route(Action.SHARE_EXPORT),
)
def share_stix(
    request: Request, who: Who, tlp: Tlp = Tlp.GREEN, period: PeriodQ = None
) -> Response:
    return Response(sd(request).stix(who, tlp, _period(period)), media_type=STIX_MEDIA_TYPE)


@router.get(
    "/api/v1/share/misp",
    summary="The same as MISP events (a JSON list, PyMISP's format), up to a TLP",
    **route(Action.SHARE_EXPORT),
)
def share_misp(
    request: Request, who: Who, tlp: Tlp = Tlp.GREEN, period: PeriodQ = None
) -> Response:
    events = sd(request).misp(who, tlp, _period(period))
    return Response(json.dumps(events, ensure_ascii=False), media_type="application/json")


@router.get(
    "/api/v1/share/trackers/{scheme}",
    summary="TLP:CLEAR incidents as rows for the Council of Europe platform (coe) or Mapping"
    " Media Freedom (mmf), CSV",
    responses={200: {"content": {"text/csv": {}}}},
    **route(Action.SHARE_EXPORT),
)
def share_tracker(
    request: Request,
    who: Who,
    scheme: Annotated[str, Path(max_length=10)],
    lang: Annotated[str, Query(pattern="^(en|ru|kk)$")] = "en",
    period: PeriodQ = None,
) -> Response:
    rows = sd(request).tracker_rows(who, scheme, lang, _period(period))
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(safe_dict(r) for r in rows)  # titles are typed by strangers
    return Response(buf.getvalue(), media_type="text/csv; charset=utf-8")


class ImportOut(BaseModel):
    partner: str
    format: str
    incidents_new: int
    incidents_known: int
    indicators_new: int
    indicators_merged: int
    already_imported: bool


@router.post(
    "/api/v1/share/import",
    response_model=ImportOut,
    summary="Import a partner's STIX 2.1 bundle or MISP event(s); refused whole if invalid",
    **route(
        Action.SHARE_IMPORT,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        },
    ),
)
async def share_import(
    request: Request,
    who: Who,
    partner: Annotated[str, Query(min_length=1, max_length=200)],
    format: Annotated[str, Query(pattern="^(stix|misp)$")],
) -> ImportOut:
    from starlette.concurrency import run_in_threadpool

    data = await request.body()
    result = await run_in_threadpool(
        sd(request).import_partner,
        who,
        data,
        partner=partner,
        fmt=format,
        address=client_address(request),
    )
    return ImportOut(**result.__dict__)


# -- partners' own feed ----------------------------------------------------------------------
@router.get(
    "/api/v1/partner/stix",
    summary="For partner tokens: what is shared with partners (up to TLP:GREEN) as STIX 2.1",
    responses={200: {"content": {STIX_MEDIA_TYPE: {}}}},
    **route(Action.PARTNER_FEED),
)
def partner_stix(request: Request, who: Who, period: PeriodQ = None) -> Response:
    return Response(sd(request).stix(who, Tlp.GREEN, _period(period)), media_type=STIX_MEDIA_TYPE)


class SharedTargetOut(BaseModel):
    kind: str
    name: str | None
    role: str | None


class SharedIncidentOut(BaseModel):
    id: str = Field(description="Stable UUID of the case, the same in STIX and MISP")
    title: str
    summary: str
    started_at: datetime | None
    reported_at: datetime
    updated_at: datetime
    attack_types: list[str]
    category: str
    platform: str | None
    region: str | None
    perpetrator_type: str
    severity: str
    status: str
    legal_outcome: str
    tlp: Tlp
    targets: list[SharedTargetOut]
    disarm_techniques: list[str]
    indicators: list[str] = Field(description="kind:value of the indicators involved")


class PartnerFeedOut(BaseModel):
    organisation: str
    produced_at: datetime
    incidents: list[SharedIncidentOut]
    indicators: list[IndicatorOut]


@router.get(
    "/api/v1/partner/feed",
    response_model=PartnerFeedOut,
    summary="For partner tokens: shared incidents and indicators (up to TLP:GREEN) as plain"
    " JSON, optionally only those changed since a time",
    **route(Action.PARTNER_FEED),
)
def partner_feed(
    request: Request,
    who: Who,
    period: PeriodQ = None,
    since: Annotated[datetime | None, Query(description="Only what changed after this")] = None,
) -> PartnerFeedOut:
    b = sd(request).bundle(who, Tlp.GREEN, _period(period))
    incidents = [i for i in b.incidents if since is None or i.updated_at > since]
    return PartnerFeedOut(
        organisation=b.organisation,
        produced_at=b.produced_at,
        incidents=[
            SharedIncidentOut(
                id=i.uuid,
                title=i.title,
                summary=i.summary,
                started_at=i.started_at,
                reported_at=i.reported_at,
                updated_at=i.updated_at,
                attack_types=list(i.attack_types),
                category=i.category,
                platform=i.platform,
                region=i.region,
                perpetrator_type=i.perpetrator_type,
                severity=i.severity,
                status=i.status,
                legal_outcome=i.legal_outcome,
                tlp=i.tlp,
                targets=[SharedTargetOut(kind=t.kind, name=t.name, role=t.role) for t in i.targets],
                disarm_techniques=list(i.disarm_techniques),
                indicators=list(i.indicator_keys),
            )
            for i in incidents
        ],
        indicators=[indicator_out(i) for i in b.indicators if since is None or i.last_seen > since],
    )


# -- public alerts ---------------------------------------------------------------------------
class AlertText(Strict):
    title: Annotated[str, Field(min_length=1, max_length=300)]
    summary: Annotated[str, Field(max_length=5000)] = ""


class AlertIn(Strict):
    texts: Annotated[dict[str, AlertText], Field(min_length=1, max_length=3)]
    incident: Annotated[str | None, Field(max_length=16)] = None


class AlertOut(BaseModel):
    public_id: str
    published_at: datetime
    texts: dict[str, dict[str, str]]


@router.post(
    "/api/v1/alerts",
    status_code=201,
    response_model=AlertOut,
    summary="Publish a public alert (written for the public, in up to three languages)",
    **route(Action.ALERT_PUBLISH),
)
def publish_alert(request: Request, who: Who, body: AlertIn) -> AlertOut:
    a = ad(request).publish(
        who,
        {k: v.model_dump() for k, v in body.texts.items()},
        body.incident,
        client_address(request),
    )
    return AlertOut(public_id=a.public_id, published_at=a.published_at, texts=a.texts)


@router.get(
    "/api/v1/alerts",
    response_model=list[AlertOut],
    summary="Published public alerts, newest first",
    **route(Action.ALERT_READ),
)
def list_alerts(
    request: Request, who: Who, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[AlertOut]:
    return [
        AlertOut(public_id=a.public_id, published_at=a.published_at, texts=a.texts)
        for a in ad(request).latest(who, limit)
    ]


@router.get(
    "/feeds/alerts.atom",
    summary="Atom feed of public alerts in one language",
    responses={200: {"content": {"application/atom+xml": {}}}},
    **route(Action.ALERT_READ),
)
def alerts_feed(
    request: Request,
    who: Who,
    lang: Annotated[str, Query(pattern="^(en|ru|kk)$")] = "en",
) -> Response:
    from qorgau.reports.feed import atom_feed

    d = ad(request)
    body = atom_feed(
        d.latest(who, 50),
        organisation=d.organisation(who),
        base_url=request.app.state.settings.public_base_url,
        lang=lang,
    )
    return Response(body, media_type="application/atom+xml; charset=utf-8")
