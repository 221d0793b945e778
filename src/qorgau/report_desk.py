"""Statistics, the monitoring report and the advocacy figures, for one organisation.

The desk authorizes, asks the store for counts, and labels them in the reader's language; the
numbers themselves come from ``store.statistics`` and the layout from ``reports.render``.
"""

from __future__ import annotations

import statistics as pystats
from datetime import datetime, timedelta

import sqlalchemy as sa

from qorgau.domain import access
from qorgau.domain.access import Action
from qorgau.domain.legal import NO_ACTION
from qorgau.domain.model import Incident, Principal
from qorgau.errors import InvalidInput
from qorgau.i18n import LANGUAGES, gettext
from qorgau.reports.labels import OUTCOME_LABELS, value_label
from qorgau.reports.periods import Granularity, Period, buckets
from qorgau.reports.public_data import PublicDataset, publish
from qorgau.reports.report_data import (
    Advocacy,
    CategorySection,
    NotableCase,
    RegisterRow,
    ReportData,
)
from qorgau.reports.shareable import case_sentence, public_candidate
from qorgau.reports.statistics import (
    NOT_RECORDED,
    Breakdown,
    Cell,
    Dimension,
    StatsFilter,
    TimeSeries,
)
from qorgau.store import incidents as incident_repo
from qorgau.store import monitor as monitor_repo
from qorgau.store import statistics as stats_repo
from qorgau.store import users
from qorgau.store.store import Store
from qorgau.store.tables import incidents

# A report to the authorities with no answer after this many days counts as "no action".
RESPONSE_WAIT_DAYS = 30
NOTABLE_PER_CATEGORY = 3
# Each released combination of facts describes at least this many protected incidents.
DEFAULT_K = 5
MIN_K, MAX_K = 2, 50


def check_lang(lang: str) -> str:
    if lang not in LANGUAGES:
        raise InvalidInput.single(
            "lang", "choice", f"unknown language {lang!r}; use one of {', '.join(LANGUAGES)}"
        )
    return lang


class ReportDesk:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- counting -------------------------------------------------------------------------
    def _cells(self, dim: Dimension, counts: dict[str, int], lang: str) -> tuple[Cell, ...]:
        tax = self.store.taxonomy
        ordered = sorted(counts.items(), key=lambda kv: (kv[0] == NOT_RECORDED, -kv[1], kv[0]))
        return tuple(Cell(k, value_label(tax, dim, k, lang), n) for k, n in ordered)

    def breakdown(
        self, principal: Principal, dim: Dimension, flt: StatsFilter, lang: str = "en"
    ) -> Breakdown:
        access.authorize(principal, Action.STATS_READ)
        with self.store.read() as conn:
            return self._breakdown(conn, principal.org_id, dim, flt, lang)

    def _breakdown(
        self, conn: sa.Connection, org_id: int, dim: Dimension, flt: StatsFilter, lang: str
    ) -> Breakdown:
        total, counts = stats_repo.breakdown(conn, org_id, dim, flt)
        return Breakdown(dim, total, self._cells(dim, counts, lang))

    def series(
        self,
        principal: Principal,
        granularity: Granularity,
        flt: StatsFilter,
        dim: Dimension | None = None,
        lang: str = "en",
    ) -> TimeSeries:
        access.authorize(principal, Action.STATS_READ)
        with self.store.read() as conn:
            return self._series(conn, principal.org_id, granularity, flt, dim, lang)

    def _series(
        self,
        conn: sa.Connection,
        org_id: int,
        granularity: Granularity,
        flt: StatsFilter,
        dim: Dimension | None,
        lang: str,
    ) -> TimeSeries:
        months = stats_repo.monthly(conn, org_id, flt, dim)
        grouped = stats_repo.regroup(months, granularity)
        periods = self._period_keys(grouped, flt, granularity)
        values: dict[str, dict[str, int]] = {}
        for (p, v), n in grouped.items():
            values.setdefault(v, {})[p] = n
        totals = {v: sum(c.values()) for v, c in values.items()}
        tax = self.store.taxonomy
        rows = tuple(
            (
                Cell(v, value_label(tax, dim, v, lang) if dim else "all", totals[v]),
                tuple(values[v].get(p, 0) for p in periods),
            )
            for v in sorted(values, key=lambda v: (-totals[v], v))
        )
        return TimeSeries(granularity, tuple(periods), dim, rows)

    @staticmethod
    def _period_keys(
        grouped: dict[tuple[str, str], int], flt: StatsFilter, granularity: Granularity
    ) -> list[str]:
        if flt.reported_from and flt.reported_to:
            return buckets(Period(flt.reported_from, flt.reported_to, ""), granularity)
        keys = sorted({p for p, _ in grouped})
        if not keys:
            return []
        from qorgau.reports.periods import parse_period

        first, last = parse_period(keys[0]), parse_period(keys[-1])
        return buckets(Period(first.start, last.end, ""), granularity)

    def advocacy(
        self, principal: Principal, flt: StatsFilter, now: datetime | None = None
    ) -> Advocacy:
        access.authorize(principal, Action.STATS_READ)
        with self.store.read() as conn:
            return self._advocacy(conn, principal.org_id, flt, now or self.store.now())

    def _advocacy(
        self, conn: sa.Connection, org_id: int, flt: StatsFilter, now: datetime
    ) -> Advocacy:
        found = stats_repo.legal_counts(
            conn,
            org_id,
            flt,
            no_action=[str(x) for x in NO_ACTION],
            overdue=now - timedelta(days=RESPONSE_WAIT_DAYS),
        )
        outcome, days = found.by_outcome, found.days_to_response
        return Advocacy(
            incidents=found.incidents,
            no_legal_provision=found.by_provision.get("none", 0),
            provision_unassessed=found.by_provision.get("unassessed", 0),
            reported_to_authorities=found.reported,
            no_action=found.no_action,
            awaiting_response=found.awaiting,
            investigations_opened=sum(
                outcome.get(k, 0)
                for k in ("investigation_opened", "charges_brought", "conviction", "acquittal")
            ),
            charges=sum(outcome.get(k, 0) for k in ("charges_brought", "conviction", "acquittal")),
            convictions=outcome.get("conviction", 0),
            responded=len(days),
            median_days_to_response=round(pystats.median(days), 1) if days else None,
            max_days_to_response=round(max(days), 1) if days else None,
            response_wait_days=RESPONSE_WAIT_DAYS,
        )

    # -- the monitoring report ------------------------------------------------------------
    def report_data(
        self, principal: Principal, period: Period, lang: str, *, organisation: str | None = None
    ) -> ReportData:
        access.authorize(principal, Action.REPORT_BUILD)
        check_lang(lang)
        org_id = principal.org_id
        flt = StatsFilter(period.start, period.end)
        before = period.previous()
        prev = StatsFilter(before.start, before.end)
        tax = self.store.taxonomy
        now = self.store.now()
        with self.store.read() as conn:
            name = organisation or users.org_name(conn, org_id)
            by_cat = dict(stats_repo.breakdown(conn, org_id, Dimension.CATEGORY, flt)[1])
            prev_cat = dict(stats_repo.breakdown(conn, org_id, Dimension.CATEGORY, prev)[1])
            notable = self._notable(conn, org_id, period, lang)
            sections = tuple(
                CategorySection(
                    category=cat,
                    number=int(str(tax.terms("category")[cat].attrs.get("number", 0))),
                    label=tax.label("category", cat, lang),
                    count=by_cat.get(cat, 0),
                    previous_count=prev_cat.get(cat, 0),
                    attack_types=self._breakdown(
                        conn,
                        org_id,
                        Dimension.ATTACK_TYPE,
                        flt.with_value(Dimension.CATEGORY, cat),
                        lang,
                    ),
                    notable=tuple(n for n in notable if n.category == cat),
                )
                for cat in sorted(
                    tax.ids("category"),
                    key=lambda k: int(str(tax.terms("category")[k].attrs.get("number", 99))),
                )
            )

            def b(dim: Dimension) -> Breakdown:
                return self._breakdown(conn, org_id, dim, flt, lang)

            return ReportData(
                organisation=name,
                period_label=period.label,
                period_start=period.start.date(),
                period_end=(period.end - timedelta(days=1)).date(),
                lang=lang,
                generated_at=now,
                total=stats_repo.total(conn, org_id, flt),
                previous_total=stats_repo.total(conn, org_id, prev),
                previous_label=before.label,
                sections=sections,
                by_attack_type=b(Dimension.ATTACK_TYPE),
                by_region=b(Dimension.REGION),
                by_platform=b(Dimension.PLATFORM),
                by_target_type=b(Dimension.TARGET_TYPE),
                by_gender=b(Dimension.GENDER),
                by_perpetrator=b(Dimension.PERPETRATOR),
                by_outcome=b(Dimension.OUTCOME),
                by_month=self._series(conn, org_id, Granularity.MONTH, flt, None, lang),
                register=self._register(conn, org_id, period),
                advocacy=self._advocacy(conn, org_id, flt, min(now, period.end)),
            )

    def _notable(
        self, conn: sa.Connection, org_id: int, period: Period, lang: str
    ) -> list[NotableCase]:
        """The most severe (then most recent) cases of each category, described without the
        names of people who did not consent; TLP:RED cases are never in a report."""
        c = incidents.c
        rank = sa.case(
            (c.severity == "critical", 0),
            (c.severity == "high", 1),
            (c.severity == "medium", 2),
            else_=3,
        )
        rows = (
            conn.execute(
                sa.select(incidents)
                .where(
                    stats_repo.counted(org_id, StatsFilter(period.start, period.end)),
                    c.tlp != "red",
                )
                .order_by(rank, c.reported_at.desc())
                .limit(200)
            )
            .mappings()
            .all()
        )
        found = incident_repo.load_many(
            conn, self.store.cipher, self.store.taxonomy, rows, reveal=True
        )
        per_cat: dict[str, int] = {}
        out: list[NotableCase] = []
        for inc in found:
            if per_cat.get(inc.category, 0) >= NOTABLE_PER_CATEGORY:
                continue
            per_cat[inc.category] = per_cat.get(inc.category, 0) + 1
            out.append(self._notable_case(inc, lang))
        return out

    def _notable_case(self, inc: Incident, lang: str) -> NotableCase:
        return NotableCase(
            public_id=inc.public_id,
            day=inc.reported_at.date(),
            category=inc.category,
            text=case_sentence(inc, self.store.taxonomy, lang),
            severity=str(inc.severity),
            outcome_label=gettext(lang, OUTCOME_LABELS.get(inc.legal_outcome, inc.legal_outcome)),
        )

    def _register(
        self, conn: sa.Connection, org_id: int, period: Period
    ) -> tuple[RegisterRow, ...]:
        rows = []
        for e in monitor_repo.register(conn, org_id):
            if e.first_seen >= period.end or e.last_seen < period.start:
                continue
            rows.append(
                RegisterRow(
                    host=e.host,
                    outlet=None,
                    isps=tuple(sorted({str(n["network"]) for n in e.networks})),
                    first_seen=e.first_seen,
                    last_seen=e.last_seen,
                    still_blocked=e.currently_blocked,
                    method=", ".join(e.methods),
                )
            )
        return tuple(sorted(rows, key=lambda r: r.first_seen))


class PublicData:
    """The public, pseudonymised dataset, released at most once per refresh interval.

    Building it reads and generalises every incident, so it is not rebuilt per page view. It
    is also not rebuilt at every new incident on purpose: two releases a minute apart differ by
    the one case added in between, and someone who knows when it was reported could pick its
    row out. A release stands until the interval has passed *and* the data has changed.
    """

    def __init__(self, store: Store, refresh: timedelta = timedelta(hours=24)) -> None:
        self.store = store
        self.refresh = refresh
        self._cache: dict[tuple[int, int], tuple[tuple[object, ...], datetime, PublicDataset]] = {}

    def dataset(self, principal: Principal, k: int = DEFAULT_K) -> PublicDataset:
        access.authorize(principal, Action.PUBLIC_DATA)
        if not MIN_K <= k <= MAX_K:
            raise InvalidInput.single("k", "range", f"k must be between {MIN_K} and {MAX_K}")
        org_id = principal.org_id
        c = incidents.c
        where = sa.and_(stats_repo.counted(org_id, StatsFilter()), c.tlp != "red")
        now = self.store.now()
        with self.store.read() as conn:
            version = tuple(
                conn.execute(
                    sa.select(sa.func.count(), sa.func.max(c.id), sa.func.max(c.updated_at)).where(
                        where
                    )
                ).one()
            )
            cached = self._cache.get((org_id, k))
            if cached and (cached[0] == version or now - cached[1] < self.refresh):
                return cached[2]
            rows = conn.execute(sa.select(incidents).where(where)).mappings().all()
            found = incident_repo.load_many(
                conn, self.store.cipher, self.store.taxonomy, rows, reveal=True
            )
        ds = publish([public_candidate(i) for i in found], k=k)
        self._cache[(org_id, k)] = (version, now, ds)
        return ds
