from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from qorgau.domain.intake import validate_report
from qorgau.domain.model import ReportFields, Severity, TargetInput
from qorgau.domain.taxonomy import load_taxonomy
from qorgau.errors import InvalidInput

NOW = datetime(2025, 5, 6, 12, 0, tzinfo=UTC)
TAX = load_taxonomy()


def report(**kw: object) -> ReportFields:
    base: dict[str, object] = {"title": "Main site blocked", "attack_types": ("website_blocking",)}
    base.update(kw)
    return ReportFields(**base)  # type: ignore[arg-type]


def test_category_defaults_from_the_first_attack_type_and_severity_to_medium() -> None:
    new = validate_report(report(attack_types=("phone_flooding", "deepfake")), TAX, NOW)
    assert new.category == "safety"
    assert new.severity is Severity.MEDIUM
    assert new.reported_at == NOW


def test_every_broken_rule_is_reported_at_once() -> None:
    with pytest.raises(InvalidInput) as exc:
        validate_report(
            report(
                title="  ",
                attack_types=("nope",),
                region="atlantis",
                started_at=NOW + timedelta(days=2),
                targets=(TargetInput("phone_number", "editor", "not a phone"),),
            ),
            TAX,
            NOW,
        )
    fields = {p.field for p in exc.value.problems}
    assert fields == {"title", "attack_types[0]", "region", "started_at", "targets[0].identifier"}


def test_targets_are_normalised_and_deduplicated() -> None:
    new = validate_report(
        report(
            targets=(
                TargetInput("phone_number", "Editor", "8 701 123 45 67"),
                TargetInput("phone_number", "Editor again", "+7 (701) 123-45-67"),
                TargetInput("website", "Orda", "https://orda.kz/"),
            )
        ),
        TAX,
        NOW,
    )
    assert [(t.kind, t.normalized) for t in new.targets] == [
        ("phone_number", "+77011234567"),
        ("website", "orda.kz"),
    ]


def test_small_clock_skew_is_tolerated_but_not_future_dates() -> None:
    validate_report(report(started_at=NOW + timedelta(minutes=5)), TAX, NOW)
    with pytest.raises(InvalidInput):
        validate_report(report(reported_at=NOW + timedelta(hours=1)), TAX, NOW)


def test_too_many_targets_is_refused() -> None:
    targets = tuple(TargetInput("person", f"p{i}") for i in range(51))
    with pytest.raises(InvalidInput) as exc:
        validate_report(report(targets=targets), TAX, NOW)
    assert exc.value.problems[0].rule == "max_items"
