"""Public and authenticated intake, and following a report by its receipt code."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse

from qorgau.domain.access import Action
from qorgau.domain.model import (
    Perpetrator,
    Principal,
    ReporterContact,
    ReportFields,
    Status,
    TargetInput,
)
from qorgau.errors import InvalidInput
from qorgau.web import schemas
from qorgau.web.auth import client_address, desk, principal, route
from qorgau.web.rate_limits import receipt_lookup

router = APIRouter(prefix="/api/v1", tags=["reports"])


def report_fields(body: schemas.ReportIn) -> ReportFields:
    return ReportFields(
        title=body.title,
        description=body.description,
        started_at=body.started_at,
        reported_at=body.reported_at,
        attack_types=tuple(body.attack_types),
        category=body.category,
        platform=body.platform,
        region=body.region,
        perpetrator=Perpetrator(body.perpetrator.type, body.perpetrator.description),
        severity=body.severity,
        legal_refs=tuple(body.legal_refs),
        targets=tuple(
            TargetInput(
                t.kind, t.name, t.identifier, t.consent_public, t.role, t.gender, t.gender_consent
            )
            for t in body.targets
        ),
        reporter=ReporterContact(
            body.reporter.name,
            body.reporter.email,
            body.reporter.phone,
            body.reporter.preferred_channel,
        ),
        source_urls=tuple(body.source_urls),
        language=body.language,
        ongoing=body.ongoing,
        external_ref=body.external_ref,
        threat_to_life=body.threat_to_life,
        home_address_leaked=body.home_address_leaked,
        people_targeted=body.people_targeted,
        reach=body.reach,
        tlp=body.tlp,
        disarm_techniques=tuple(body.disarm_techniques),
    )


@router.post(
    "/reports",
    status_code=201,
    response_model=schemas.ReportAck,
    summary="Submit a report of an attack (anonymous or signed in)",
    responses={
        200: {
            "model": schemas.ReportAck,
            "description": "Replay of an earlier submission with the same Idempotency-Key",
        }
    },
    **route(Action.REPORT_SUBMIT),
)
async def submit_report(
    body: schemas.ReportIn,
    request: Request,
    who: Annotated[Principal, Depends(principal)],
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> JSONResponse:
    """Acknowledged only after the report is durably committed (group commit, see
    ``qorgau.store.group_commit``). Resending with the same ``Idempotency-Key`` returns the
    first result instead of a second incident."""
    if idempotency_key is not None and not idempotency_key.strip():
        raise InvalidInput.single("Idempotency-Key", "required", "must not be blank")
    # The digest of the bytes sent: a client retrying sends the same bytes.
    digest = hashlib.sha256(await request.body()).hexdigest()
    d = desk(request)
    job = d.prepare_report(
        who,
        report_fields(body),
        address=client_address(request),
        idempotency_key=idempotency_key,
        request_digest=digest,
    )
    stored = await request.app.state.intake_writer.submit(job)
    # Answer directly: the body is three fields, and skipping response-model validation on
    # the busiest endpoint is worth a hand-built JSON object (the schema is still published).
    headers = {"Location": f"/api/v1/incidents/{stored.public_id}"}
    if stored.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(
        {
            "public_id": stored.public_id,
            "receipt_code": stored.receipt_code,
            "replayed": stored.replayed,
        },
        status_code=200 if stored.replayed else 201,
        headers=headers,
    )


@router.post(
    "/reports/track",
    response_model=schemas.TrackOut,
    summary="Follow a report with its receipt code",
    **route(Action.REPORT_TRACK),
)
def track_report(
    body: schemas.TrackIn, request: Request, who: Annotated[Principal, Depends(principal)]
) -> schemas.TrackOut:
    public_id, status, updated = receipt_lookup(
        request, client_address(request), lambda: desk(request).track(body.receipt_code)
    )
    return schemas.TrackOut(public_id=public_id, status=Status(status), updated_at=updated)
