"""Campaigns: incidents that are parts of one coordinated attack."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from qorgau.domain.access import Action
from qorgau.domain.model import Principal
from qorgau.domain.queries import MAX_PAGE_SIZE
from qorgau.web import schemas
from qorgau.web.api.convert import incident_out, page_fields
from qorgau.web.auth import client_address, desk, principal, route

router = APIRouter(prefix="/api/v1/campaigns", tags=["campaigns"])


@router.post(
    "",
    response_model=schemas.CampaignOut,
    status_code=201,
    summary="Open a campaign",
    **route(Action.CAMPAIGN_WRITE),
)
def create_campaign(
    body: schemas.CampaignIn, request: Request, who: Annotated[Principal, Depends(principal)]
) -> schemas.CampaignOut:
    c = desk(request).create_campaign(who, body.name, body.description, client_address(request))
    return schemas.CampaignOut(
        id=c.id, name=c.name, description=c.description, created_at=c.created_at
    )


@router.get(
    "", response_model=schemas.CampaignPage, summary="List campaigns", **route(Action.CAMPAIGN_READ)
)
def list_campaigns(
    request: Request,
    who: Annotated[Principal, Depends(principal)],
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> schemas.CampaignPage:
    rows, total = desk(request).campaigns(who, limit, offset)
    return schemas.CampaignPage(
        items=[
            schemas.CampaignOut(
                id=c.id,
                name=c.name,
                description=c.description,
                created_at=c.created_at,
                incidents=n,
            )
            for c, n in rows
        ],
        **page_fields(total, limit, offset, len(rows)),
    )


@router.post(
    "/{campaign_id}/incidents",
    response_model=list[schemas.IncidentOut],
    summary="Link incidents into the campaign",
    **route(Action.CAMPAIGN_WRITE),
)
def link_incidents(
    campaign_id: Annotated[int, Path(ge=1)],
    body: schemas.LinkIn,
    request: Request,
    who: Annotated[Principal, Depends(principal)],
) -> list[schemas.IncidentOut]:
    linked = desk(request).link(who, campaign_id, body.incidents, client_address(request))
    return [incident_out(i) for i in linked]
