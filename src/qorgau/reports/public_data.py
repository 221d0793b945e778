"""The public, pseudonymised dataset of incidents and the counts the statistics page shows.

Who this protects: the people in our incidents are targets of capable, often state-linked
adversaries who already know a lot about them (their town, their job, roughly when they were
attacked). A public row that matches only one person in the world tells that adversary the
person reported the attack to us, and what they told us. So the rows concerning people who did
not consent to be named (``PublicCandidate.protected_person``) are published **k-anonymous over
every released attribute**: each combination of released values that a protected row shows is
shown by at least ``k`` protected rows, or the row is withheld (suppressed).

What is and is not guaranteed:

* The guarantee is about protected people. Rows about outlets, websites and consenting people
  are published as they are, with their names, and are *not* part of any equivalence class.
  Because they carry a name, an attacker can recognise and subtract them; what remains of any
  count is the number of protected rows, which is always 0 or at least ``k``.
* Multi-valued attributes (attack types, target types) are compared as the whole sorted tuple,
  so a filter on one value ("rows whose attack types contain doxxing") selects a union of whole
  classes and cannot isolate fewer than ``k`` protected rows.
* :func:`count_public` only accepts values *as released*: a filter "2025-03" does not match a
  row released as "2025-Q1". Splitting a class by guessing which month a quarter came from
  would undo the generalisation.
* k-anonymity does not hide an attribute that a whole class shares (homogeneity): if all ``k``
  protected rows in a class have severity "high", anyone known to be in that class had a
  "high" incident. The classes are about not singling people out, not about secrecy of values.

Why not ``anjana``: it was tried (its Datafly ``k_anonymity`` over pandas). It is fast enough,
but it does not fit here: (1) Datafly always generalises the attribute with the most distinct
values, so the reporting period (12+ months) and the attack types go first, which is the
opposite of what readers of a monitoring dataset need; we need a utility-aware choice; (2) the
middle level of the attack types, ``("category:safety",)``, is derived from another attribute
(the category), which a per-column value hierarchy cannot express; (3) when the coarsest levels
still leave small classes it returns an empty frame instead of suppressing what is needed, and
it infers the levels reached by subset-matching the values and prints progress to stdout. We
therefore run a small greedy full-domain generalisation ourselves (same family of algorithm:
one level per attribute for all protected rows, then suppression of the remaining small
classes), weighted by how much each step costs readers, followed by a pass that undoes steps
no longer needed. The tests check the result with ``pycanon``, independently of this code.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import random
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from qorgau.errors import InvalidInput
from qorgau.reports.model import PublicCandidate

__all__ = [
    "ATTRIBUTES",
    "MULTI_VALUED",
    "PublicDataset",
    "PublicRow",
    "count_public",
    "publish",
    "to_csv",
    "to_json",
]

# Every released attribute, in the stable column order of the CSV. All of them are
# quasi-identifiers: an adversary may know any of them about a person.
ATTRIBUTES: tuple[str, ...] = (
    "period",
    "category",
    "attack_types",
    "region",
    "platform",
    "target_types",
    "gender",
    "perpetrator_type",
    "legal_outcome",
    "severity",
)
MULTI_VALUED = frozenset({"attack_types", "target_types"})

WITHHELD = "withheld"
NOT_RECORDED = "not_recorded"

# Kazakhstan's regions grouped so that a macro-region always holds several oblasts (or the
# three cities of republican significance together), which is what makes the middle level
# worth having: "south" still tells a reader something, and no longer points at one town.
MACRO_REGION: dict[str, str] = {
    "astana": "cities",
    "almaty_city": "cities",
    "shymkent": "cities",
    "akmola": "north",
    "kostanay": "north",
    "north_kazakhstan": "north",
    "pavlodar": "north",
    "karaganda": "centre",
    "ulytau": "centre",
    "abai": "east",
    "east_kazakhstan": "east",
    "aktobe": "west",
    "atyrau": "west",
    "mangystau": "west",
    "west_kazakhstan": "west",
    "almaty_region": "south",
    "jetisu": "south",
    "jambyl": "south",
    "kyzylorda": "south",
    "turkistan": "south",
    "nationwide": "nationwide",
    "abroad": "abroad",
}

# What happened after the incident, reduced to whether the authorities acted. Acquittal counts
# as "action": a case was brought, whatever its end.
LEGAL_GROUP: dict[str, str] = {
    "conviction": "action",
    "charges_brought": "action",
    "acquittal": "action",
    "investigation_opened": "action",
    "investigation_refused": "no_action",
    "investigation_closed": "no_action",
    "awaiting_response": "pending",
    "not_reported": "not_reported",
}

_OUTLET_TYPES = frozenset({"outlet", "website"})
_PERSON_TYPES = frozenset(
    {
        "person",
        "journalist",
        "editor",
        "media_worker",
        "blogger",
        "activist",
        "relative",
        "other_person",
    }
)

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")

# Names of the levels, published in the metadata so that a reader knows what a value means
# (e.g. that periods are quarters) without guessing from the values.
LEVEL_NAMES: dict[str, tuple[str, ...]] = {
    "period": ("month", "quarter", "year"),
    "category": ("category",),
    "attack_types": ("attack_types", "category", WITHHELD),
    "region": ("region", "macro_region", WITHHELD),
    "platform": ("platform", WITHHELD),
    "target_types": ("target_types", "person_or_outlet", WITHHELD),
    "gender": ("gender", WITHHELD),
    "perpetrator_type": ("perpetrator_type", WITHHELD),
    "legal_outcome": ("legal_outcome", "outcome_group", WITHHELD),
    "severity": ("severity", WITHHELD),
}

# What one step up costs readers, per attribute and step (index = level reached - 1). The
# period and the attack types are what monitoring reports are read for, so they are the most
# expensive to coarsen; platform and severity the least. The category is never generalised
# (it is the headline of every chart); rare categories are suppressed instead.
STEP_COST: dict[str, tuple[float, ...]] = {
    "period": (4.0, 8.0),
    "category": (),
    "attack_types": (3.0, 6.0),
    "region": (3.0, 6.0),
    "platform": (1.0,),
    "target_types": (2.0, 4.0),
    "gender": (2.0,),
    "perpetrator_type": (2.0,),
    "legal_outcome": (1.0, 2.0),
    "severity": (1.5,),
}

Value = str | tuple[str, ...]


@dataclass(frozen=True)
class PublicRow:
    """One released incident.

    ``row`` is a number from 1 to n assigned *after* a random shuffle. There is deliberately no
    stable pseudonym (no hash of the incident id, nothing that stays the same between
    releases): a stable id would let anyone join two releases that were generalised
    differently (one with months and coarse regions, the next with quarters and exact regions)
    and recover the month *and* the region of each row, undoing both generalisations.
    """

    row: int
    period: str
    category: str
    attack_types: tuple[str, ...]
    region: str
    platform: str
    target_types: tuple[str, ...]
    gender: str
    perpetrator_type: str
    legal_outcome: str
    severity: str
    named_targets: tuple[str, ...] = ()

    def value(self, attribute: str) -> Value:
        """The released value of one attribute (a tuple for the multi-valued ones)."""
        v: Value = getattr(self, attribute)
        return v


@dataclass(frozen=True)
class PublicDataset:
    """A release: the rows and what a reader needs to interpret them.

    ``levels`` gives the generalisation level chosen per attribute (0 = as recorded) and
    ``level_names`` what that level is ("quarter", "macro_region"...). They apply to protected
    rows; named rows are always released at level 0. ``suppressed`` counts protected rows
    withheld; ``within_budget`` says whether that stayed within ``max_suppressed`` (it may not
    when the data are too few or too diverse even at the coarsest levels: the rows are then
    withheld anyway, because the guarantee comes before completeness).
    """

    rows: tuple[PublicRow, ...]
    k: int
    suppressed: int
    levels: dict[str, int]
    level_names: dict[str, str] = field(default_factory=dict)
    protected_rows: int = 0
    named_rows: int = 0
    max_suppressed: float = 0.05
    within_budget: bool = True


# --- hierarchies -------------------------------------------------------------------------


def _period(c: PublicCandidate, level: int) -> str:
    m = _MONTH.match(c.month)
    if m is None:  # checked in publish(); kept for the type checker
        raise InvalidInput.single("month", "format", f"not a YYYY-MM month: {c.month!r}")
    year, month = m.group(1), int(m.group(2))
    if level == 0:
        return c.month
    if level == 1:
        return f"{year}-Q{(month - 1) // 3 + 1}"
    return year


def _attack_types(c: PublicCandidate, level: int) -> tuple[str, ...]:
    if level == 0:
        return tuple(sorted(set(c.attack_types))) or (NOT_RECORDED,)
    if level == 1:
        return (f"category:{c.category}",)
    return (WITHHELD,)


def _region(c: PublicCandidate, level: int) -> str:
    if level >= 2:
        return WITHHELD
    if c.region is None:
        return NOT_RECORDED
    if level == 0:
        return c.region
    return MACRO_REGION.get(c.region, "other")


def _coarse_target(t: str) -> str:
    if t in _OUTLET_TYPES:
        return "outlet"
    if t in _PERSON_TYPES:
        return "person"
    return "other"


def _target_types(c: PublicCandidate, level: int) -> tuple[str, ...]:
    if level >= 2:
        return (WITHHELD,)
    if not c.target_types:
        return (NOT_RECORDED,)
    if level == 0:
        return tuple(sorted(set(c.target_types)))
    return tuple(sorted({_coarse_target(t) for t in c.target_types}))


def _optional(value: str | None, level: int) -> str:
    if level >= 1:
        return WITHHELD
    return NOT_RECORDED if value is None else value


def _legal(c: PublicCandidate, level: int) -> str:
    if level == 0:
        return c.legal_outcome
    if level == 1:
        return LEGAL_GROUP.get(c.legal_outcome, "other")
    return WITHHELD


_HIERARCHY: dict[str, Callable[[PublicCandidate, int], Value]] = {
    "period": _period,
    "category": lambda c, _level: c.category,
    "attack_types": _attack_types,
    "region": _region,
    "platform": lambda c, level: _optional(c.platform, level),
    "target_types": _target_types,
    "gender": lambda c, level: _optional(c.gender, level),
    "perpetrator_type": lambda c, level: _optional(c.perpetrator_type, level),
    "legal_outcome": _legal,
    "severity": lambda c, level: _optional(c.severity, level),
}


def _max_level(attribute: str) -> int:
    return len(STEP_COST[attribute])


# --- the search --------------------------------------------------------------------------

IntArray = npt.NDArray[np.int64]


class _Lattice:
    """Protected candidates reduced to their distinct combinations, with every level encoded.

    Working on distinct combinations with weights (instead of rows) is what keeps 100,000
    candidates within a second or two: the search evaluates a few hundred level vectors, each
    a sort of at most as many keys as there are distinct combinations.
    """

    def __init__(self, reps: list[PublicCandidate], weights: list[int]) -> None:
        self.weights = np.asarray(weights, dtype=np.int64)
        # codes[attribute][level] -> int array over the distinct combinations
        self.codes: dict[str, list[IntArray]] = {}
        self.cards: dict[str, list[int]] = {}
        for a in ATTRIBUTES:
            per_level: list[IntArray] = []
            cards: list[int] = []
            for level in range(_max_level(a) + 1):
                index: dict[Value, int] = {}
                arr = np.fromiter(
                    (index.setdefault(_HIERARCHY[a](c, level), len(index)) for c in reps),
                    dtype=np.int64,
                    count=len(reps),
                )
                per_level.append(arr)
                cards.append(max(len(index), 1))
            self.codes[a] = per_level
            self.cards[a] = cards

    def classes(self, levels: Mapping[str, int]) -> tuple[IntArray, IntArray]:
        """Class index of each combination and the size (in rows) of each class."""
        n = len(self.weights)
        key = np.zeros(n, dtype=np.int64)
        span = 1
        for a in ATTRIBUTES:
            card = self.cards[a][levels[a]]
            if span * card >= 2**62:
                # Re-number the keys densely so that the mixed-radix key cannot overflow.
                _, inverse = np.unique(key, return_inverse=True)
                key = inverse.astype(np.int64).reshape(-1)
                span = int(key.max()) + 1 if n else 1
            key = key * card + self.codes[a][levels[a]]
            span *= card
        _, inverse = np.unique(key, return_inverse=True)
        inverse = inverse.astype(np.int64).reshape(-1)
        sizes = np.bincount(inverse, weights=self.weights).astype(np.int64)
        return inverse, sizes

    def violators(self, levels: Mapping[str, int], k: int) -> int:
        """How many protected rows sit in classes smaller than ``k`` (to suppress)."""
        inverse, sizes = self.classes(levels)
        return int(self.weights[sizes[inverse] < k].sum())


# Below this many distinct combinations the whole lattice (3,888 level vectors) is cheap
# enough to search exhaustively for the cheapest feasible node, which beats the greedy climb.
EXHAUSTIVE_LIMIT = 3000


def _cost(levels: Mapping[str, int]) -> float:
    return sum(sum(STEP_COST[a][: levels[a]]) for a in ATTRIBUTES)


def _exhaustive(lattice: _Lattice, k: int, allowed: int) -> dict[str, int] | None:
    """The cheapest level vector (by reader cost) within the suppression budget, if any."""
    # Violations only fall as levels rise: if the coarsest node fails, every node does.
    if lattice.violators({a: _max_level(a) for a in ATTRIBUTES}, k) > allowed:
        return None
    nodes = [
        dict(zip(ATTRIBUTES, combo, strict=True))
        for combo in itertools.product(*(range(_max_level(a) + 1) for a in ATTRIBUTES))
    ]
    nodes.sort(key=lambda n: (_cost(n), tuple(n[a] for a in ATTRIBUTES)))
    for node in nodes:
        if lattice.violators(node, k) <= allowed:
            return node
    return None


def _search(lattice: _Lattice, k: int, allowed: int) -> dict[str, int]:
    """Choose one level per attribute: exhaustively on small data, else greedily.

    On small data (see ``EXHAUSTIVE_LIMIT``) every level vector is tried, cheapest first.
    Otherwise a greedy climb by gain per cost, then a descent undoing spare steps.

    Climb: while more than ``allowed`` rows would need suppressing, take the single step (one
    attribute, one level up) that removes the most violating rows per unit of reader cost;
    when no step helps on its own, take the cheapest one (the lattice has plateaus where two
    steps together are needed). Descent: a greedy climb often takes steps that later steps made
    unnecessary, so try to undo each step, most expensive first, keeping the undo if the
    budget still holds. Not optimal, but cheap and, on realistic data, keeps periods at months
    or quarters. Violations only fall as levels rise, so the coarsest node is the worst case.
    """
    if len(lattice.weights) <= EXHAUSTIVE_LIMIT:
        found = _exhaustive(lattice, k, allowed)
        # None: not even the coarsest node is within budget; go there and suppress.
        return found or {a: _max_level(a) for a in ATTRIBUTES}
    levels = dict.fromkeys(ATTRIBUTES, 0)
    current = lattice.violators(levels, k)
    while current > allowed:
        best: tuple[float, float, str] | None = None
        best_viol = current
        for a in ATTRIBUTES:
            if levels[a] >= _max_level(a):
                continue
            cost = STEP_COST[a][levels[a]]
            trial = {**levels, a: levels[a] + 1}
            v = lattice.violators(trial, k)
            rank = ((current - v) / cost, -cost, a)
            if best is None or rank[:2] > best[:2]:
                best, best_viol = rank, v
        if best is None:
            break  # everything at its coarsest: suppress what remains
        levels[best[2]] += 1
        current = best_viol
    if current > allowed:
        return levels
    improved = True
    while improved:
        improved = False
        order = sorted(
            (a for a in ATTRIBUTES if levels[a] > 0),
            key=lambda a: -STEP_COST[a][levels[a] - 1],
        )
        for a in order:
            trial = {**levels, a: levels[a] - 1}
            if lattice.violators(trial, k) <= allowed:
                levels = trial
                improved = True
                break
    return levels


# --- publishing --------------------------------------------------------------------------


def _released(c: PublicCandidate, levels: Mapping[str, int], names: tuple[str, ...]) -> PublicRow:
    values = {a: _HIERARCHY[a](c, levels[a]) for a in ATTRIBUTES}
    return PublicRow(row=0, named_targets=names, **values)  # type: ignore[arg-type]


def _validate(candidates: Sequence[PublicCandidate], k: int, max_suppressed: float) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise InvalidInput.single("k", "min", "k must be an integer of at least 2")
    if not (0.0 <= max_suppressed <= 1.0) or math.isnan(max_suppressed):
        raise InvalidInput.single(
            "max_suppressed", "range", "max_suppressed must be between 0 and 1"
        )
    for c in candidates:
        if _MONTH.match(c.month) is None:
            raise InvalidInput.single("month", "format", f"not a YYYY-MM month: {c.month!r}")


def _is_protected(c: PublicCandidate) -> bool:
    """Whether a candidate goes through k-anonymity.

    Besides the flag, a row with no name to publish is treated as protected: publishing it
    un-generalised would gain a reader nothing they could attribute, and if the flag was
    wrongly cleared upstream, it is the only thing standing between that person and the
    adversary.
    """
    return c.protected_person or not c.named_targets


def publish(
    candidates: Sequence[PublicCandidate],
    *,
    k: int = 5,
    max_suppressed: float = 0.05,
    seed: int | None = None,
) -> PublicDataset:
    """Release ``candidates`` with protected rows k-anonymous over every released attribute.

    ``max_suppressed`` is the share of protected rows the search may withhold instead of
    generalising further; if even the coarsest levels leave more small classes, they are
    withheld anyway and ``within_budget`` is False. ``seed`` makes the row order reproducible
    (tests, re-running a release); without it the order comes from the OS's randomness.
    Output order never depends on input order: rows are put in a canonical order of their
    released values before the shuffle, so not even a seeded run leaks how they were fed in.
    """
    _validate(candidates, k, max_suppressed)
    protected = [c for c in candidates if _is_protected(c)]
    named = [c for c in candidates if not _is_protected(c)]

    groups: dict[tuple[Any, ...], list[PublicCandidate]] = {}
    for c in protected:
        raw = (
            c.month,
            c.category,
            tuple(sorted(set(c.attack_types))),
            c.region,
            c.platform,
            tuple(sorted(set(c.target_types))),
            c.gender,
            c.perpetrator_type,
            c.legal_outcome,
            c.severity,
        )
        groups.setdefault(raw, []).append(c)
    reps = [g[0] for g in groups.values()]
    weights = [len(g) for g in groups.values()]

    allowed = math.floor(max_suppressed * len(protected) + 1e-9)
    levels = dict.fromkeys(ATTRIBUTES, 0)
    kept_reps: list[tuple[PublicCandidate, int]] = []
    suppressed = 0
    if reps:
        lattice = _Lattice(reps, weights)
        levels = _search(lattice, k, allowed)
        inverse, sizes = lattice.classes(levels)
        ok = sizes[inverse] >= k
        for i, rep in enumerate(reps):
            if ok[i]:
                kept_reps.append((rep, weights[i]))
            else:
                suppressed += weights[i]

    released: list[PublicRow] = []
    for rep, count in kept_reps:
        # Every candidate of a distinct combination releases the same values; the protected
        # ones never carry names, whatever upstream put in ``named_targets``.
        row = _released(rep, levels, ())
        released.extend([row] * count)
    zero = dict.fromkeys(ATTRIBUTES, 0)
    for c in named:
        released.append(_released(c, zero, tuple(sorted(set(c.named_targets)))))

    released.sort(key=_sort_key)
    rng: random.Random = random.Random(seed) if seed is not None else random.SystemRandom()
    rng.shuffle(released)
    rows = tuple(_renumber(r, i + 1) for i, r in enumerate(released))

    return PublicDataset(
        rows=rows,
        k=k,
        suppressed=suppressed,
        levels=levels,
        level_names={a: LEVEL_NAMES[a][levels[a]] for a in ATTRIBUTES},
        protected_rows=len(protected) - suppressed,
        named_rows=len(named),
        max_suppressed=max_suppressed,
        within_budget=suppressed <= allowed,
    )


def _sort_key(r: PublicRow) -> tuple[Any, ...]:
    return (*(r.value(a) for a in ATTRIBUTES), r.named_targets)


def _renumber(r: PublicRow, number: int) -> PublicRow:
    values = {a: r.value(a) for a in ATTRIBUTES}
    return PublicRow(row=number, named_targets=r.named_targets, **values)  # type: ignore[arg-type]


# --- formats -----------------------------------------------------------------------------

CSV_COLUMNS: tuple[str, ...] = ("row", *ATTRIBUTES, "named_targets")

METHOD_NOTE = (
    "Incidents concerning people who did not consent to be named are k-anonymous over all "
    "released columns: every combination of values they show is shared by at least k such "
    "incidents, after generalising columns to the levels given in 'levels' and withholding "
    "('suppressed') incidents that still stood out. Rows with named_targets concern outlets or "
    "people who consented and are published as recorded. Row numbers are random and do not "
    "link releases."
)

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_text(text: str) -> str:
    """Neutralise spreadsheet formulas in free names (OWASP CSV injection): names come from
    people, and the file is meant to be opened in spreadsheet software by anyone."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def _row_dict(r: PublicRow) -> dict[str, object]:
    d: dict[str, object] = {"row": r.row}
    for a in ATTRIBUTES:
        v = r.value(a)
        d[a] = list(v) if isinstance(v, tuple) else v
    d["named_targets"] = list(r.named_targets)
    return d


def to_csv(ds: PublicDataset) -> str:
    """The rows as CSV: a header, one row per incident, multi-valued fields joined with ";"."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in ds.rows:
        line: list[object] = [r.row]
        for a in ATTRIBUTES:
            v = r.value(a)
            line.append(";".join(v) if isinstance(v, tuple) else v)
        line.append(";".join(_csv_text(n) for n in r.named_targets))
        writer.writerow(line)
    return buf.getvalue()


def to_json(ds: PublicDataset, *, produced_at: datetime, licence: str = "CC BY 4.0") -> str:
    """The release as one JSON object: ``metadata`` explaining the method, then ``rows``."""
    metadata = {
        "k": ds.k,
        "suppressed": ds.suppressed,
        "levels": dict(ds.levels),
        "level_names": dict(ds.level_names),
        "produced_at": produced_at.isoformat(),
        "row_count": len(ds.rows),
        "protected_rows": ds.protected_rows,
        "named_rows": ds.named_rows,
        "licence": licence,
        "method": METHOD_NOTE,
    }
    return json.dumps(
        {"metadata": metadata, "rows": [_row_dict(r) for r in ds.rows]},
        ensure_ascii=False,
        indent=1,
    )


# --- counting ----------------------------------------------------------------------------


def _check_dimension(name: str, role: str) -> None:
    if name not in ATTRIBUTES:
        raise InvalidInput.single(
            role,
            "allowed",
            f"unknown {role} {name!r}; allowed: {', '.join(ATTRIBUTES)}",
            allowed=ATTRIBUTES,
        )


def count_public(
    ds: PublicDataset, dimension: str, filters: Mapping[str, str] | None = None
) -> dict[str, int]:
    """Rows per released value of ``dimension`` among the rows matching every filter.

    This is all the public statistics page may use, so it can never show more than the
    released rows do. Filters match released values exactly (a month does not match a row
    released as a quarter: that would split a class); on a multi-valued attribute a filter
    matches rows whose tuple contains the value, and a breakdown by one counts a row once per
    value it has. Both select unions of whole classes, so the protected part of any count is 0
    or at least ``k``.
    """
    _check_dimension(dimension, "dimension")
    wanted = dict(filters or {})
    for name in wanted:
        _check_dimension(name, "filter")
    counts: Counter[str] = Counter()
    for r in ds.rows:
        if not all(_matches(r.value(a), v) for a, v in wanted.items()):
            continue
        value = r.value(dimension)
        if isinstance(value, tuple):
            counts.update(value)
        else:
            counts[value] += 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _matches(released: Value, wanted: str) -> bool:
    return wanted in released if isinstance(released, tuple) else released == wanted
