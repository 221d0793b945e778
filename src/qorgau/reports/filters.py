"""Turning what a caller asks for ("2025-Q3, threats, women journalists") into a checked filter.

Every value is checked against the taxonomy or the fixed vocabularies, and an unknown one is
refused with the list of accepted values, so a typo never silently yields a zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from urllib.parse import urlencode

from qorgau.domain.legal import LegalOutcome
from qorgau.domain.model import Severity, Status
from qorgau.domain.taxonomy import Taxonomy
from qorgau.errors import FieldProblem, InvalidInput
from qorgau.reports.periods import parse_period
from qorgau.reports.statistics import NOT_RECORDED, Dimension, StatsFilter

_SECTION = {
    Dimension.CATEGORY: "category",
    Dimension.ATTACK_TYPE: "attack_type",
    Dimension.REGION: "region",
    Dimension.PLATFORM: "platform",
    Dimension.PERPETRATOR: "perpetrator_type",
    Dimension.GENDER: "gender",
    Dimension.LEGAL_REF: "legal_reference",
}
# Dimensions where "no value" is a meaningful cell a reader can drill into.
_NULLABLE = frozenset(
    {
        Dimension.REGION,
        Dimension.PLATFORM,
        Dimension.GENDER,
        Dimension.TARGET_TYPE,
        Dimension.LEGAL_REF,
    }
)
COUNTED_STATUSES = tuple(str(s) for s in Status if s not in (Status.MERGED, Status.REJECTED))


def allowed_values(taxonomy: Taxonomy, dim: Dimension) -> tuple[str, ...]:
    if dim in _SECTION:
        values = taxonomy.ids(_SECTION[dim], include_retired=True)
    elif dim is Dimension.TARGET_TYPE:
        values = ("outlet", "person", *taxonomy.ids("target_role", include_retired=True))
    elif dim is Dimension.OUTCOME:
        values = tuple(str(o) for o in LegalOutcome)
    elif dim is Dimension.SEVERITY:
        values = tuple(str(s) for s in Severity)
    else:
        values = tuple(str(s) for s in Status)
    return (*values, NOT_RECORDED) if dim in _NULLABLE else values


def parse_dimension(value: str, field_name: str = "by") -> Dimension:
    try:
        return Dimension(value)
    except ValueError:
        allowed = tuple(str(d) for d in Dimension)
        raise InvalidInput.single(
            field_name,
            "choice",
            f"cannot count by {value!r}; use one of {', '.join(allowed)}",
            allowed,
        ) from None


def build_filter(
    taxonomy: Taxonomy,
    *,
    period: str | None = None,
    reported_from: datetime | None = None,
    reported_to: datetime | None = None,
    values: Mapping[str, Sequence[str]] | None = None,
) -> StatsFilter:
    problems: list[FieldProblem] = []
    start, end = reported_from, reported_to
    if period:
        if reported_from or reported_to:
            problems.append(
                FieldProblem(
                    "period", "exclusive", "give either a period or reported_from/reported_to"
                )
            )
        else:
            p = parse_period(period)
            start, end = p.start, p.end
    if start and end and end <= start:
        problems.append(FieldProblem("reported_to", "order", "must be after reported_from"))
    checked: dict[Dimension, tuple[str, ...]] = {}
    for name, given in (values or {}).items():
        if not given:
            continue
        dim = parse_dimension(name, name)
        allowed = allowed_values(taxonomy, dim)
        bad = [v for v in given if v not in allowed]
        if bad:
            problems.append(
                FieldProblem(
                    name,
                    "choice",
                    f"unknown value {bad[0]!r}; allowed: {', '.join(allowed)}",
                    allowed,
                )
            )
            continue
        checked[dim] = tuple(dict.fromkeys(given))
    if problems:
        raise InvalidInput(problems)
    return StatsFilter(start, end, checked)


def query_string(flt: StatsFilter, extra: Mapping[str, str] | None = None) -> str:
    """The incident-list query that lists exactly the incidents ``flt`` counts."""
    pairs: list[tuple[str, str]] = []
    if flt.reported_from:
        pairs.append(("reported_from", flt.reported_from.isoformat()))
    if flt.reported_to:
        pairs.append(("reported_to", flt.reported_to.isoformat()))
    for dim, vals in sorted(flt.values.items()):
        pairs.extend((str(dim), v) for v in vals)
    if Dimension.STATUS not in flt.values:
        pairs.extend(("status", s) for s in COUNTED_STATUSES)
    pairs.extend((extra or {}).items())
    return urlencode(pairs)
