"""The exchange record: one incident as a flat, self-describing dictionary.

JSON Lines carries it as is; CSV carries the same keys as columns, with lists joined by ``|``
and targets as a JSON cell, so that export → import → export gives the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from qorgau.domain.model import (
    Incident,
    Perpetrator,
    ReporterContact,
    ReportFields,
    Severity,
    Status,
    TargetInput,
)
from qorgau.errors import FieldProblem, InvalidInput

FIELDS = (
    "public_id",
    "title",
    "description",
    "started_at",
    "reported_at",
    "attack_types",
    "category",
    "platform",
    "region",
    "perpetrator_type",
    "perpetrator_description",
    "severity",
    "status",
    "legal_refs",
    "targets",
    "reporter_name",
    "reporter_email",
    "reporter_phone",
    "reporter_preferred_channel",
    "source_urls",
    "language",
    "ongoing",
    "external_ref",
    "created_at",
    "updated_at",
)
LIST_FIELDS = ("attack_types", "legal_refs", "source_urls")
LIST_SEPARATOR = "|"
IMPORTABLE_STATUSES = tuple(s for s in Status if s is not Status.MERGED)


@dataclass(frozen=True)
class ImportRecord:
    fields: ReportFields
    public_id: str | None
    status: Status
    created_at: datetime | None
    updated_at: datetime | None


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def incident_to_record(incident: Incident) -> dict[str, Any]:
    r = incident.reporter
    return {
        "public_id": incident.public_id,
        "title": incident.title,
        "description": incident.description,
        "started_at": _iso(incident.started_at),
        "reported_at": _iso(incident.reported_at),
        "attack_types": list(incident.attack_types),
        "category": incident.category,
        "platform": incident.platform,
        "region": incident.region,
        "perpetrator_type": incident.perpetrator.type,
        "perpetrator_description": incident.perpetrator.description,
        "severity": str(incident.severity),
        "status": str(incident.status),
        "legal_refs": list(incident.legal_refs),
        "targets": [
            {
                "kind": t.kind,
                "name": t.name,
                "identifier": t.identifier,
                "consent_public": t.consent_public,
            }
            for t in incident.targets
        ],
        "reporter_name": r.name,
        "reporter_email": r.email,
        "reporter_phone": r.phone,
        "reporter_preferred_channel": r.preferred_channel,
        "source_urls": list(incident.source_urls),
        "language": incident.language,
        "ongoing": incident.ongoing,
        "external_ref": incident.external_ref,
        "created_at": _iso(incident.created_at),
        "updated_at": _iso(incident.updated_at),
    }


def record_to_csv_row(record: dict[str, Any]) -> dict[str, str]:
    row: dict[str, str] = {}
    for key in FIELDS:
        value = record.get(key)
        if key in LIST_FIELDS:
            row[key] = LIST_SEPARATOR.join(value or [])
        elif key == "targets":
            row[key] = json.dumps(value or [], ensure_ascii=False, separators=(",", ":"))
        elif isinstance(value, bool):
            row[key] = "true" if value else "false"
        else:
            row[key] = "" if value is None else str(value)
    return row


def csv_row_to_record(row: dict[str, str]) -> dict[str, Any]:
    """Undo ``record_to_csv_row``; also accepts a simple one-target CSV (target_kind,
    target_name, target_identifier columns) that people write by hand."""
    rec: dict[str, Any] = {}
    for key, raw in row.items():
        if key is None:
            raise InvalidInput.single("row", "columns", "the row has more cells than the header")
        value = (raw or "").strip()
        if key in LIST_FIELDS:
            rec[key] = [v.strip() for v in value.split(LIST_SEPARATOR) if v.strip()]
        elif key == "targets":
            if value:
                try:
                    rec[key] = json.loads(value)
                except json.JSONDecodeError as exc:
                    raise InvalidInput.single(
                        "targets", "json", f"the targets cell is not JSON: {exc.msg}"
                    ) from exc
        elif key == "ongoing":
            rec[key] = value.lower() in ("true", "1", "yes")
        elif key.startswith("target_"):
            continue
        else:
            rec[key] = value or None
    if "targets" not in rec and (row.get("target_name") or row.get("target_identifier")):
        rec["targets"] = [
            {
                "kind": (row.get("target_kind") or "person").strip(),
                "name": (row.get("target_name") or "").strip(),
                "identifier": (row.get("target_identifier") or "").strip() or None,
            }
        ]
    return rec


def _parse_time(value: Any, field: str, problems: list[FieldProblem]) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value
    text = str(value).strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        problems.append(
            FieldProblem(
                field, "datetime", f"{text!r} is not a date; use ISO 8601 like 2025-05-06T18:00Z"
            )
        )
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _text(value: Any, field: str, limit: int, problems: list[FieldProblem]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str | int | float):
        problems.append(FieldProblem(field, "type", "must be text"))
        return None
    text = str(value)
    if len(text) > limit:
        problems.append(FieldProblem(field, "max_length", f"at most {limit} characters"))
    return text


def _list(value: Any, field: str, problems: list[FieldProblem]) -> tuple[str, ...]:
    if value in (None, ""):
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(LIST_SEPARATOR) if v.strip())
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    problems.append(FieldProblem(field, "type", "must be a list of text values"))
    return ()


def record_to_import(rec: Any) -> ImportRecord:
    """Check the record's shape and types; domain rules run later, in the desk."""
    if not isinstance(rec, dict):
        raise InvalidInput.single("record", "type", "each line must be a JSON object")
    unknown = sorted(set(rec) - set(FIELDS))
    problems: list[FieldProblem] = []
    if unknown:
        problems.append(
            FieldProblem(
                unknown[0], "unknown_field", f"unknown field(s) {', '.join(unknown)}", FIELDS
            )
        )
    targets: list[TargetInput] = []
    raw_targets = rec.get("targets") or []
    if not isinstance(raw_targets, list):
        problems.append(FieldProblem("targets", "type", "must be a list of objects"))
        raw_targets = []
    for i, item in enumerate(raw_targets):
        if not isinstance(item, dict) or not isinstance(item.get("kind"), str):
            problems.append(
                FieldProblem(
                    f"targets[{i}]", "type", "each target needs at least a 'kind' and a 'name'"
                )
            )
            continue
        targets.append(
            TargetInput(
                item["kind"],
                str(item.get("name") or ""),
                item.get("identifier") or None,
                bool(item.get("consent_public", False)),
            )
        )
    severity = rec.get("severity")
    if severity not in (None, "") and severity not in tuple(Severity):
        problems.append(
            FieldProblem("severity", "enum", f"unknown severity {severity!r}", tuple(Severity))
        )
        severity = None
    status = rec.get("status") or Status.NEW
    if status not in IMPORTABLE_STATUSES:
        problems.append(
            FieldProblem(
                "status", "enum", f"cannot import status {status!r}", tuple(IMPORTABLE_STATUSES)
            )
        )
        status = Status.NEW
    fields = ReportFields(
        title=_text(rec.get("title"), "title", 300, problems) or "",
        description=_text(rec.get("description"), "description", 20_000, problems) or "",
        started_at=_parse_time(rec.get("started_at"), "started_at", problems),
        reported_at=_parse_time(rec.get("reported_at"), "reported_at", problems),
        attack_types=_list(rec.get("attack_types"), "attack_types", problems),
        category=rec.get("category") or None,
        platform=rec.get("platform") or None,
        region=rec.get("region") or None,
        perpetrator=Perpetrator(
            rec.get("perpetrator_type") or "unknown", rec.get("perpetrator_description") or None
        ),
        severity=Severity(severity) if severity else None,
        legal_refs=_list(rec.get("legal_refs"), "legal_refs", problems),
        targets=tuple(targets),
        reporter=ReporterContact(
            rec.get("reporter_name") or None,
            rec.get("reporter_email") or None,
            rec.get("reporter_phone") or None,
            rec.get("reporter_preferred_channel") or None,
        ),
        source_urls=_list(rec.get("source_urls"), "source_urls", problems),
        language=rec.get("language") or None,
        ongoing=bool(rec.get("ongoing", False)),
        external_ref=_text(rec.get("external_ref"), "external_ref", 200, problems) or None,
    )
    public_id = _text(rec.get("public_id"), "public_id", 16, problems) or None
    created = _parse_time(rec.get("created_at"), "created_at", problems)
    updated = _parse_time(rec.get("updated_at"), "updated_at", problems)
    if problems:
        raise InvalidInput(problems)
    return ImportRecord(fields, public_id, Status(status), created, updated)
