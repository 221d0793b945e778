"""Domain objects to response bodies."""

from __future__ import annotations

from typing import Any

from qorgau.domain.model import Incident, Note
from qorgau.domain.queries import Page
from qorgau.web import schemas


def incident_out(
    incident: Incident, *, merged_into: str | None = None, merged_from: list[str] | None = None
) -> schemas.IncidentOut:
    r = incident.reporter
    return schemas.IncidentOut(
        public_id=incident.public_id,
        title=incident.title,
        description=incident.description,
        started_at=incident.started_at,
        reported_at=incident.reported_at,
        attack_types=list(incident.attack_types),
        category=incident.category,
        platform=incident.platform,
        region=incident.region,
        perpetrator=schemas.PerpetratorOut(
            type=incident.perpetrator.type, description=incident.perpetrator.description
        ),
        severity=incident.severity,
        status=incident.status,
        legal_refs=list(incident.legal_refs),
        targets=[
            schemas.TargetOut(
                kind=t.kind,
                name=t.name,
                identifier=t.identifier,
                consent_public=t.consent_public,
                role=t.role,
                gender=t.gender,
            )
            for t in incident.targets
        ],
        reporter=None
        if r.is_empty()
        else schemas.ReporterOut(
            name=r.name, email=r.email, phone=r.phone, preferred_channel=r.preferred_channel
        ),
        source_urls=list(incident.source_urls),
        language=incident.language,
        ongoing=incident.ongoing,
        external_ref=incident.external_ref,
        campaign_id=incident.campaign_id,
        merged_into=merged_into,
        merged_from=merged_from or [],
        created_at=incident.created_at,
        updated_at=incident.updated_at,
        proposed_severity=incident.proposed_severity,
        triage=incident.triage,
        severity_confirmed_at=incident.severity_confirmed_at,
        assignee_id=incident.assignee_id,
        assigned_at=incident.assigned_at,
        tlp=incident.tlp,
        disarm_techniques=list(incident.disarm_techniques),
        legal_provision=incident.legal_provision,
        legal_outcome=incident.legal_outcome,
        authorities_reported_at=incident.authorities_reported_at,
        official_response_at=incident.official_response_at,
    )


def incident_page(page: Page[Incident]) -> schemas.IncidentPage:
    return schemas.IncidentPage(
        total=page.total,
        limit=page.limit,
        offset=page.offset,
        next_offset=page.next_offset,
        items=[incident_out(i) for i in page.items],
    )


def note_out(n: Note) -> schemas.NoteOut:
    return schemas.NoteOut(
        id=n.id,
        incident_id=n.incident_id,
        author_id=n.author_id,
        body=n.body,
        sensitive=n.sensitive,
        created_at=n.created_at,
    )


def page_fields(total: int, limit: int, offset: int, count: int) -> dict[str, Any]:
    nxt = offset + count
    return {
        "total": total,
        "limit": limit,
        "offset": offset,
        "next_offset": nxt if nxt < total else None,
    }
