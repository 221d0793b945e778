"""Taxonomy, statistics, audit log and health."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from qorgau.domain.access import Action
from qorgau.domain.model import Principal
from qorgau.domain.queries import MAX_PAGE_SIZE
from qorgau.domain.taxonomy import SECTIONS
from qorgau.i18n import negotiate
from qorgau.store import migrate
from qorgau.web import schemas
from qorgau.web.api.convert import page_fields
from qorgau.web.auth import desk, principal, route

router = APIRouter(prefix="/api/v1", tags=["meta"])


@router.get(
    "/taxonomy",
    response_model=schemas.TaxonomyOut,
    summary="Allowed values with labels in the caller's language",
    **route(Action.TAXONOMY_READ),
)
def taxonomy(
    request: Request,
    who: Annotated[Principal, Depends(principal)],
    lang: Annotated[str | None, Query(max_length=5)] = None,
) -> schemas.TaxonomyOut:
    language = negotiate(request.headers.get("accept-language"), lang)
    tax = desk(request).store.taxonomy
    return schemas.TaxonomyOut(
        version=tax.version,
        language=language,
        sections={
            s: [
                schemas.TermOut(id=t.id, label=t.label(language), attrs=t.attrs)
                for t in tax.terms(s).values()
                if not t.retired
            ]
            for s in SECTIONS
        },
    )


@router.get(
    "/stats/summary",
    response_model=schemas.SummaryOut,
    summary="Aggregated counts (no individual incident)",
    **route(Action.STATS_READ),
)
def summary(request: Request, who: Annotated[Principal, Depends(principal)]) -> schemas.SummaryOut:
    s = desk(request).summary(who)
    return schemas.SummaryOut(
        total=s.total,
        by_category=s.by_category,
        by_attack_type=s.by_attack_type,
        by_status=s.by_status,
        by_severity=s.by_severity,
        by_month=s.by_month,
    )


@router.get(
    "/audit",
    response_model=schemas.AuditPage,
    summary="The audit log, newest first",
    **route(Action.AUDIT_READ),
)
def audit_log(
    request: Request,
    who: Annotated[Principal, Depends(principal)],
    entity: Annotated[str | None, Query(max_length=32)] = None,
    entity_id: Annotated[str | None, Query(max_length=32)] = None,
    tag: Annotated[str | None, Query(max_length=64, description="Tag prefix")] = None,
    kind: Annotated[
        Literal["read"] | None,
        Query(description="'read': only reads of personal data (administrators only)"),
    ] = None,
    actor_id: Annotated[int | None, Query(ge=1, description="Only what this user did")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> schemas.AuditPage:
    if kind == "read" and not (tag or "").startswith("read:"):
        tag = "read:"
    events, total = desk(request).audit_log(
        who,
        entity=entity,
        entity_id=entity_id,
        tag_prefix=tag,
        limit=limit,
        offset=offset,
        actor_id=actor_id,
    )
    return schemas.AuditPage(
        items=[schemas.AuditOut(**e.__dict__) for e in events],
        **page_fields(total, limit, offset, len(events)),
    )


@router.get(
    "/health",
    response_model=schemas.HealthOut,
    summary="What is wrong, if anything",
    responses={503: {"model": schemas.HealthOut}},
    **route(Action.HEALTH),
)
def health(request: Request, who: Annotated[Principal, Depends(principal)]) -> JSONResponse:
    store = desk(request).store
    problems: list[str] = []
    revision = None
    try:
        revision = migrate.current_revision(store.engine)
        if revision != migrate.head_revision():
            problems.append(
                f"schema at {revision}, expected {migrate.head_revision()}: run 'qorgau migrate'"
            )
        db = "ok"
    except Exception as exc:  # the point of /health is to say so instead of failing
        db = "unreachable"
        problems.append(f"database unreachable: {type(exc).__name__}")
    body = schemas.HealthOut(
        status="ok" if not problems else "degraded",
        database=db,
        schema_revision=revision,
        problems=problems,
    )
    return JSONResponse(body.model_dump(), status_code=200 if not problems else 503)
