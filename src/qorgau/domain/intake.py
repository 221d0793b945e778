"""Domain rules a report must pass before it becomes an incident.

Type and length checks happen at the edge (API schema, CSV reader); here live the rules that
need the taxonomy or the clock, so the same rules hold for the API, the importer and the CLI.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from qorgau.domain.identifiers import normalize_email, normalize_identifier, normalize_text
from qorgau.domain.model import (
    NewIncident,
    Perpetrator,
    ReporterContact,
    ReportFields,
    Severity,
    Target,
    TargetInput,
)
from qorgau.domain.taxonomy import Taxonomy
from qorgau.domain.tlp import Tlp
from qorgau.errors import FieldProblem, InvalidInput

MAX_TARGETS = 50
MAX_ATTACK_TYPES = 10
# Clocks on phones drift; a report "from the future" by a few minutes is not an error.
CLOCK_SKEW = timedelta(minutes=10)
EARLIEST = datetime(1991, 12, 16, tzinfo=UTC)  # independence of Kazakhstan; nothing older here
DEFAULT_SEVERITY = Severity.MEDIUM
# Shared within the organisation and with partners it chooses, never published by default.
DEFAULT_TLP = Tlp.AMBER
MAX_COUNT = 10_000_000_000  # people reached: more than the planet, to catch typos only


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def validate_report(fields: ReportFields, taxonomy: Taxonomy, now: datetime) -> NewIncident:
    """Return the incident to store, or raise ``InvalidInput`` listing *every* broken rule."""
    problems: list[FieldProblem] = []

    def check(section: str, name: str, value: str) -> str | None:
        try:
            return taxonomy.check(section, name, value)
        except InvalidInput as exc:
            problems.extend(exc.problems)
            return None

    title = fields.title.strip()
    if not title:
        problems.append(FieldProblem("title", "required", "give the incident a short title"))

    if not fields.attack_types:
        problems.append(
            FieldProblem(
                "attack_types",
                "required",
                "name at least one attack type",
                taxonomy.ids("attack_type"),
            )
        )
    if len(fields.attack_types) > MAX_ATTACK_TYPES:
        problems.append(
            FieldProblem("attack_types", "max_items", f"at most {MAX_ATTACK_TYPES} attack types")
        )
    attack_types: list[str] = []
    for i, at in enumerate(fields.attack_types):
        if check("attack_type", f"attack_types[{i}]", at) and at not in attack_types:
            attack_types.append(at)

    category = None
    if fields.category:
        category = check("category", "category", fields.category)
    elif attack_types:
        category = taxonomy.category_of(attack_types[0])

    platform = check("platform", "platform", fields.platform) if fields.platform else None
    region = check("region", "region", fields.region) if fields.region else None
    perp_type = check("perpetrator_type", "perpetrator.type", fields.perpetrator.type)
    legal_refs: list[str] = []
    for i, ref in enumerate(fields.legal_refs):
        if check("legal_reference", f"legal_refs[{i}]", ref) and ref not in legal_refs:
            legal_refs.append(ref)

    reported_at = _aware(fields.reported_at) if fields.reported_at else now
    if reported_at > now + CLOCK_SKEW:
        problems.append(FieldProblem("reported_at", "not_future", "cannot be in the future"))
    started_at = _aware(fields.started_at) if fields.started_at else None
    if started_at is not None:
        if started_at > reported_at + CLOCK_SKEW:
            problems.append(
                FieldProblem(
                    "started_at", "before_report", "an attack cannot start after it was reported"
                )
            )
        if started_at < EARLIEST:
            problems.append(FieldProblem("started_at", "range", "must be on or after 1991-12-16"))

    if len(fields.targets) > MAX_TARGETS:
        problems.append(
            FieldProblem("targets", "max_items", f"at most {MAX_TARGETS} targets per report")
        )
    targets: list[Target] = []
    seen: set[tuple[str, str]] = set()
    for i, t in enumerate(fields.targets):
        if not check("target_kind", f"targets[{i}].kind", t.kind):
            continue
        name = t.name.strip()
        if not name and not t.identifier:
            problems.append(
                FieldProblem(f"targets[{i}].name", "required", "give a name or an identifier")
            )
            continue
        try:
            normalized = (
                normalize_identifier(t.kind, t.identifier, f"targets[{i}].identifier")
                if t.identifier
                else normalize_text(name)
            )
        except InvalidInput as exc:
            problems.extend(exc.problems)
            continue
        if (t.kind, normalized) in seen:
            continue
        seen.add((t.kind, normalized))
        role, gender = _person_profile(t, i, check, problems)
        targets.append(
            Target(
                t.kind,
                name or (t.identifier or ""),
                t.identifier,
                normalized,
                t.consent_public,
                role,
                gender,
            )
        )

    reporter = fields.reporter
    if reporter.email:
        try:
            normalize_email(reporter.email, "reporter.email")
        except InvalidInput as exc:
            problems.extend(exc.problems)
    if reporter.phone:
        try:
            normalize_identifier("phone_number", reporter.phone, "reporter.phone")
        except InvalidInput as exc:
            problems.extend(exc.problems)

    for name, value in (("people_targeted", fields.people_targeted), ("reach", fields.reach)):
        if value is not None and not 0 <= value <= MAX_COUNT:
            problems.append(FieldProblem(name, "range", f"must be between 0 and {MAX_COUNT:,}"))

    for i, url in enumerate(fields.source_urls):
        # Shown and exported as links: "javascript:" or "data:" would run when clicked.
        if url.strip() and not url.strip().lower().startswith(("http://", "https://")):
            problems.append(
                FieldProblem(
                    f"source_urls[{i}]", "pattern", "give a web address starting with https://"
                )
            )

    disarm = _disarm(fields.disarm_techniques, problems)
    if problems:
        raise InvalidInput(problems)
    assert category is not None and perp_type is not None
    return NewIncident(
        title=title,
        description=fields.description.strip(),
        started_at=started_at,
        reported_at=reported_at,
        attack_types=tuple(attack_types),
        category=category,
        platform=platform,
        region=region,
        perpetrator=Perpetrator(perp_type, fields.perpetrator.description or None),
        severity=fields.severity or DEFAULT_SEVERITY,
        legal_refs=tuple(legal_refs),
        targets=tuple(targets),
        reporter=ReporterContact(
            reporter.name or None,
            reporter.email or None,
            reporter.phone or None,
            reporter.preferred_channel or None,
        ),
        source_urls=tuple(dict.fromkeys(u.strip() for u in fields.source_urls if u.strip())),
        language=fields.language,
        ongoing=fields.ongoing,
        external_ref=fields.external_ref,
        severity_given=fields.severity is not None,
        threat_to_life=fields.threat_to_life,
        home_address_leaked=fields.home_address_leaked,
        people_targeted=fields.people_targeted,
        reach=fields.reach,
        tlp=fields.tlp or DEFAULT_TLP,
        disarm_techniques=disarm,
    )


def _person_profile(
    t: TargetInput,
    i: int,
    check: Callable[[str, str, str], str | None],
    problems: list[FieldProblem],
) -> tuple[str | None, str | None]:
    """Role and gender belong to people; gender is kept only with the person's consent, because
    it is personal data recorded for statistics alone."""
    role = gender = None
    if t.role:
        if t.kind != "person":
            problems.append(
                FieldProblem(f"targets[{i}].role", "person_only", "only a person has a role")
            )
        else:
            role = check("target_role", f"targets[{i}].role", t.role)
    if t.gender:
        if t.kind != "person":
            problems.append(
                FieldProblem(f"targets[{i}].gender", "person_only", "only a person has a gender")
            )
        elif not t.gender_consent:
            problems.append(
                FieldProblem(
                    f"targets[{i}].gender",
                    "consent",
                    "record gender only if the person agreed; then set gender_consent to true",
                )
            )
        else:
            gender = check("gender", f"targets[{i}].gender", t.gender)
    return role, gender


def _disarm(ids: tuple[str, ...], problems: list[FieldProblem]) -> tuple[str, ...]:
    if not ids:
        return ()
    from qorgau.reports.schemes import check_disarm

    try:
        return check_disarm(ids)
    except InvalidInput as exc:
        problems.extend(exc.problems)
        return ()
