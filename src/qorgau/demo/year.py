"""A realistic, made-up YEAR of incidents, written through the project's own intake path.

Why generate rather than ship a fixture: demos, the quarterly-report acceptance test and the
10,000 / 100,000-incident benchmarks all need a desk that *looks like* a Kazakh press-freedom
helpline's year — seasonality and spikes, the usual mix of threats, smear campaigns, blocking
and DDoS, a legal trail that mostly ends in nothing — without a single real victim in it.

Every incident goes through ``CaseDesk.prepare_report`` (validation, triage proposal) and
``store_reports`` (encryption, blind indexes, audit), exactly like an import, so the data can
never contain something the intake would refuse; ``respond=False`` because a generated case
from last March must start no clock and page no one. Legal steps and indicators go through
their store modules too; only the three columns derived from legal events are written with one
``executemany`` per batch (``legal_events.refresh_state`` is one query per incident, too slow
for 100,000).

Names of people are combinations of common first names and surnames — not real people.
Outlet names are real (attacks on outlets are public facts); the incidents about them are not.
Everything is drawn from one ``random.Random(seed)``, so a seed always gives the same year.
"""

from __future__ import annotations

import math
import random
import time
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

from qorgau.desk import CaseDesk
from qorgau.domain.legal import LegalEvent, LegalEventKind, LegalProvision, derive_state
from qorgau.domain.model import (
    Perpetrator,
    Principal,
    ReportFields,
    Role,
    Severity,
    Status,
    TargetInput,
)
from qorgau.domain.tlp import Tlp
from qorgau.errors import InvalidInput
from qorgau.reports.model import Indicator, IndicatorKind
from qorgau.store import indicators as indicator_store
from qorgau.store import legal_events, users
from qorgau.store.intake import store_reports
from qorgau.store.search_index import index_pending
from qorgau.store.store import Store
from qorgau.store.tables import incidents as incidents_table

T = TypeVar("T")
V = TypeVar("V")

# Incidents per write transaction: large enough that per-transaction costs vanish, small
# enough that memory stays bounded and a PostgreSQL statement stays under the bind limit.
BATCH = 1000
# Kazakhstan is UTC+5; reports arrive 07:00-23:59 local, i.e. 02:00-18:59 UTC, which also
# keeps the calendar day (and so the month and quarter) the same in both zones.
FIRST_UTC_HOUR, LAST_UTC_HOUR = 2, 18


class _Weighted(Generic[V]):
    """A fixed weighted choice, with cumulative weights computed once (``rng.choices`` would
    recompute them on every call, a measurable cost at 100,000 incidents)."""

    def __init__(self, weights: dict[V, float]) -> None:
        self.values: list[V] = list(weights)
        self.cum: list[float] = list(accumulate(weights.values()))

    def pick(self, rng: random.Random) -> V:
        x = rng.random() * self.cum[-1]
        return self.values[min(bisect_right(self.cum, x), len(self.values) - 1)]


# --- attack types: common forms of pressure first, violence rare (Adil Soz / RSF reporting) --
ATTACK_TYPES = _Weighted(
    {
        "threats": 14.0,
        "harassment_campaign": 12.0,
        "website_blocking": 7.0,
        "doxxing": 7.0,
        "fake_statement": 7.0,
        "ddos": 6.0,
        "phishing": 6.0,
        "account_takeover": 6.0,
        "mass_complaints": 6.0,
        "legal_pressure": 6.0,
        "coordinated_inauthentic": 4.0,
        "phone_flooding": 3.0,
        "accreditation_denied": 3.0,
        "deepfake": 2.5,
        "throttling": 1.5,
        "hoax_reports": 1.5,
        "physical_attack": 1.2,
        "detention": 1.2,
        "other": 1.0,
        "internet_shutdown": 0.8,
        "spyware": 0.8,
        "killing": 0.05,
    }
)
# What a protest week looks like: shutdowns, detentions, blocked sites (category "protests",
# which no attack type implies by itself, so it is set explicitly).
PROTEST_TYPES = _Weighted(
    {
        "internet_shutdown": 3.0,
        "throttling": 2.0,
        "detention": 3.0,
        "physical_attack": 1.5,
        "website_blocking": 2.0,
        "mass_complaints": 1.0,
    }
)
SECOND_TYPE_SHARE = 0.3
SECOND_SAME_CATEGORY = 0.8
# Types that name a person as the one attacked (the outlet is added when they work for one).
PERSONAL = frozenset(
    {
        "threats",
        "doxxing",
        "phone_flooding",
        "physical_attack",
        "detention",
        "killing",
        "spyware",
        "account_takeover",
        "phishing",
        "hoax_reports",
    }
)
# Types aimed at the outlet's website: the host is a target too.
INFRASTRUCTURE = frozenset({"website_blocking", "ddos", "throttling"})
INDICATOR_TYPES = frozenset(
    {"fake_statement", "deepfake", "phishing", "coordinated_inauthentic", "account_takeover"}
)
# Reported to the authorities ~40% of the time (the rest ~10%): the ones people expect the
# police to act on.
OFTEN_REPORTED = frozenset(
    {"threats", "doxxing", "phone_flooding", "physical_attack", "account_takeover", "killing"}
)
# No article of Kazakh law covers these for adults (online bullying is an offence only when
# minors are targeted, KZ Administrative Code 73-6).
NO_LAW = frozenset({"harassment_campaign", "coordinated_inauthentic", "doxxing", "mass_complaints"})
# Unlawful access to information and systems (KZ Criminal Code 205-206) covers these, although
# the taxonomy has no reference for those articles yet.
COMPUTER_CRIMES = frozenset({"phishing", "account_takeover", "spyware"})

SOCIAL: dict[str | None, float] = {
    "telegram": 30.0,
    "instagram": 20.0,
    "facebook": 14.0,
    "tiktok": 10.0,
    "whatsapp": 9.0,
    "youtube": 7.0,
    "x": 5.0,
}
PLATFORMS: dict[str, _Weighted[str | None]] = {
    "website_blocking": _Weighted({"website": 70.0, "isp_network": 30.0}),
    "ddos": _Weighted({"website": 1.0}),
    "throttling": _Weighted({"isp_network": 1.0}),
    "internet_shutdown": _Weighted({"isp_network": 1.0}),
    "phone_flooding": _Weighted({"phone": 80.0, "classifieds": 20.0}),
    "phishing": _Weighted({"email": 60.0, "telegram": 25.0, "whatsapp": 15.0}),
    "account_takeover": _Weighted(
        {"telegram": 30.0, "instagram": 25.0, "facebook": 15.0, "whatsapp": 15.0, "email": 15.0}
    ),
    "threats": _Weighted({**SOCIAL, "phone": 15.0, "email": 8.0, "offline": 5.0}),
    "spyware": _Weighted({"phone": 60.0, "other": 40.0}),
    "hoax_reports": _Weighted({"phone": 70.0, "email": 30.0}),
    "legal_pressure": _Weighted({"offline": 85.0, None: 15.0}),
    "detention": _Weighted({"offline": 1.0}),
    "accreditation_denied": _Weighted({"offline": 80.0, "website": 20.0}),
    "physical_attack": _Weighted({"offline": 1.0}),
    "killing": _Weighted({"offline": 1.0}),
    "other": _Weighted({"other": 60.0, None: 40.0}),
}
ONLINE = _Weighted(dict(SOCIAL))

REGIONS = _Weighted[str | None](
    {
        "almaty_city": 26.0,
        "astana": 18.0,
        "shymkent": 5.0,
        "karaganda": 4.0,
        "east_kazakhstan": 3.0,
        "west_kazakhstan": 3.0,
        "atyrau": 3.0,
        "mangystau": 3.0,
        "aktobe": 2.5,
        "pavlodar": 2.0,
        "kostanay": 2.0,
        "turkistan": 2.0,
        "almaty_region": 2.0,
        "jambyl": 1.5,
        "kyzylorda": 1.5,
        "abai": 1.5,
        "akmola": 1.5,
        "north_kazakhstan": 1.0,
        "jetisu": 1.0,
        "ulytau": 0.5,
        "nationwide": 7.0,
        "abroad": 3.0,
        None: 5.0,
    }
)
PERPETRATORS = _Weighted(
    {"unknown": 60.0, "non_state": 15.0, "state_linked": 12.0, "state": 8.0, "criminal": 5.0}
)
STATE_ACTS = _Weighted({"state": 85.0, "state_linked": 10.0, "unknown": 5.0})
CENSORSHIP = _Weighted({"unknown": 60.0, "state": 25.0, "state_linked": 15.0})
FRAUD = _Weighted({"unknown": 55.0, "criminal": 30.0, "state_linked": 10.0, "non_state": 5.0})
PERPETRATOR_BY_TYPE = {
    "legal_pressure": STATE_ACTS,
    "detention": STATE_ACTS,
    "accreditation_denied": STATE_ACTS,
    "website_blocking": CENSORSHIP,
    "internet_shutdown": CENSORSHIP,
    "throttling": CENSORSHIP,
    "phishing": FRAUD,
    "account_takeover": FRAUD,
}

TLPS = _Weighted({Tlp.CLEAR: 35.0, Tlp.GREEN: 30.0, Tlp.AMBER: 30.0, Tlp.RED: 5.0})
ROLES = _Weighted(
    {
        "journalist": 50.0,
        "editor": 15.0,
        "blogger": 13.0,
        "activist": 10.0,
        "media_worker": 7.0,
        "relative": 5.0,
    }
)
GENDER_RECORDED = 0.7
GENDERS = _Weighted({"woman": 45.0, "man": 53.0, "other": 2.0})
CONSENT_PUBLIC = 0.25
CAMPAIGN_SHARE = 0.35
CAMPAIGNS_PER_QUARTER = 2
LANGUAGES = _Weighted({"ru": 65.0, "kk": 25.0, "en": 10.0})
UNASSESSED = 0.3
REJECTED = 0.03

# (name, host): outlets that public reporting shows under pressure; a few draw most attacks.
OUTLETS: tuple[tuple[str, str], ...] = (
    ("Orda.kz", "orda.kz"),
    ("Vlast.kz", "vlast.kz"),
    ("KazTAG", "kaztag.kz"),
    ("HOLA News", "holanews.kz"),
    ("Ak Zhaiyk", "azh.kz"),
    ("Radio Azattyq", "azattyq.org"),
    ("Kursiv", "kursiv.media"),
    ("Factcheck.kz", "factcheck.kz"),
    ("AIRAN", "airan.kz"),
    ("Obozhayu", "obozhayu.kz"),
    ("Tengrinews", "tengrinews.kz"),
    ("Informburo", "informburo.kz"),
    ("The Steppe", "the-steppe.com"),
    ("Protenge", "protenge.kz"),
    ("Uralskaya Nedelya", "uralskweek.kz"),
    ("Exclusive.kz", "exclusive.kz"),
    ("Respublika", "respublika-kz.info"),
    ("Lada.kz", "lada.kz"),
    ("Ratel.kz", "ratel.kz"),
    ("Time.kz", "time.kz"),
    ("Zakon.kz", "zakon.kz"),
    ("NUR.KZ", "nur.kz"),
    ("KTK", "ktk.kz"),
    ("Kazinform", "inform.kz"),
    ("Jibek Joly", "jibekjoly.kz"),
    ("Abai.kz", "abai.kz"),
    ("Qazaq Times", "qazaqtimes.com"),
    ("Petropavlovsk.news", "petropavlovsk.news"),
    ("Total.kz", "total.kz"),
    ("Skif.news", "skif.news"),
    ("Bes.media", "bes.media"),
    ("Masa.media", "masa.media"),
)
OUTLET_PICK = _Weighted({i: 1.0 / (i + 1) ** 0.8 for i in range(len(OUTLETS))})

FIRST_NAMES = {
    "woman": (
        "Айгерим", "Асель", "Дина", "Гульнара", "Жанар", "Сауле", "Динара", "Айнур", "Мадина",
        "Алия", "Жанна", "Ольга", "Елена", "Наталья", "Светлана", "Анна", "Татьяна", "Лаура",
        "Камила", "Томирис", "Айжан", "Гаухар", "Меруерт", "Әсем", "Ирина", "Юлия",
    ),
    "man": (
        "Нурлан", "Ерлан", "Асхат", "Бауыржан", "Данияр", "Ержан", "Серик", "Марат", "Арман",
        "Руслан", "Тимур", "Азамат", "Канат", "Дмитрий", "Андрей", "Сергей", "Алексей",
        "Михаил", "Игорь", "Айдос", "Жандос", "Самат", "Берик", "Нұрсұлтан", "Олжас", "Виктор",
    ),
}  # fmt: skip
# Masculine forms; the feminine adds "а" (-ов/-ев/-ин) or swaps -ұлы for -қызы.
SURNAMES = (
    "Ахметов", "Сейткалиев", "Жумабаев", "Искаков", "Нургалиев", "Касымов", "Омаров",
    "Токтаров", "Бекмуханов", "Сулейменов", "Абенов", "Даулетов", "Есенов", "Мухамедиев",
    "Иванов", "Петров", "Ким", "Попов", "Смирнов", "Кузнецов", "Васильев", "Шевченко",
    "Бакытұлы", "Серікұлы", "Ермекұлы", "Тлеубаев", "Жаксылыков", "Байжанов", "Калиев",
    "Мусин", "Рахимов", "Садыков", "Тулегенов", "Уразов", "Хасенов", "Ли",
)  # fmt: skip

# Documentation address ranges (RFC 5737): never anyone's real server.
DOC_NETS = ("192.0.2", "198.51.100", "203.0.113")
LOOKALIKE_FORMS = (
    "{s}-kz.com",
    "{s}-news.kz",
    "{s}kz.net",
    "{s}.kz-news.org",
    "news-{s}.com",
    "{s}-official.info",
    "{s}.media-kz.com",
)
HANDLE_FORMS = ("{s}_news", "{s}_official", "{s}_kz", "real_{s}", "{s}_info", "{s}24")


@dataclass(frozen=True)
class YearSummary:
    """What was written, for the CLI, the benchmarks and the acceptance tests to check."""

    year: int
    seed: int
    incidents: int
    by_quarter: tuple[int, int, int, int]
    legal_events: int
    indicators: int
    indicator_links: int
    seconds: float


@dataclass
class _Planned:
    """One incident before storing: the report, and what happens after it is stored."""

    fields: ReportFields
    status: Status
    created_at: datetime
    updated_at: datetime
    provision: LegalProvision
    events: list[LegalEvent]
    indicators: list[Indicator]


@dataclass
class _Campaign:
    """A coordinated operation: the same infrastructure turns up across many incidents."""

    name: str
    domains: list[str]
    ips: list[str]
    accounts: list[str]
    hashes: list[str] = field(default_factory=list)


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return rng.lognormvariate(math.log(median), sigma)


def _hex(rng: random.Random, chars: int) -> str:
    return f"{rng.getrandbits(chars * 4):0{chars}x}"


def _slug(host: str) -> str:
    return host.split(".")[0].replace("-", "")


class _YearPlan:
    """Draws incidents one by one; holds the few pieces of state a year has (the calendar's
    weights, the running campaigns)."""

    def __init__(self, store: Store, rng: random.Random, year: int, now: datetime) -> None:
        self.rng = rng
        self.year = year
        self.now = now
        self.taxonomy = store.taxonomy
        self.by_category: dict[str, list[str]] = {}
        for at in ATTACK_TYPES.values:
            self.by_category.setdefault(self.taxonomy.category_of(at), []).append(at)
        start = datetime(year, 1, 1, tzinfo=UTC)
        length = (datetime(year + 1, 1, 1, tzinfo=UTC) - start).days
        self.days = [start + timedelta(days=d) for d in range(length)]
        # One election month (three weeks of heightened pressure) and one protest week.
        self.election = rng.choice([3, 6, 10, 11])
        self.protest_start = rng.randrange(20, len(self.days) - 30)
        weights = [self._day_weight(i, d) for i, d in enumerate(self.days)]
        self.day_cum = list(accumulate(weights))
        # Operations run for a season, not a whole year: two per quarter, made when first used.
        self.campaigns: dict[tuple[int, int], _Campaign] = {}

    # -- calendar --------------------------------------------------------------------------
    def _day_weight(self, i: int, day: datetime) -> float:
        """Seasonality (a summer and New Year lull, busy autumn), quieter weekends, and spikes:
        the election month and the protest week."""
        month = (0.8, 0.9, 1.0, 1.0, 1.0, 1.1, 0.75, 0.75, 1.1, 1.2, 1.15, 0.9)[day.month - 1]
        weight = month * (0.6 if day.weekday() >= 5 else 1.0)
        if day.month == self.election and 5 <= day.day <= 25:
            weight *= 2.5
        if self.in_protest(i):
            weight *= 4.0
        return weight

    def in_protest(self, day_index: int) -> bool:
        return self.protest_start <= day_index < self.protest_start + 7

    def reported_times(self, n: int) -> list[tuple[datetime, bool]]:
        """All report times of the year, sorted, so incident ids grow with time as in a real
        desk; only ``n`` small tuples, even for 100,000."""
        out = []
        total = self.day_cum[-1]
        for _ in range(n):
            i = min(bisect_right(self.day_cum, self.rng.random() * total), len(self.days) - 1)
            seconds = self.rng.randrange(FIRST_UTC_HOUR * 3600, (LAST_UTC_HOUR + 1) * 3600)
            out.append((self.days[i] + timedelta(seconds=seconds), self.in_protest(i)))
        out.sort()
        return out

    # -- one incident ----------------------------------------------------------------------
    def incident(self, reported_at: datetime, protest: bool) -> _Planned:
        rng = self.rng
        category: str | None = None
        if protest and rng.random() < 0.5:
            first = PROTEST_TYPES.pick(rng)
            category = "protests"
        else:
            first = ATTACK_TYPES.pick(rng)
            if first == "internet_shutdown" and rng.random() < 0.5:
                category = "protests"
        types = [first]
        if rng.random() < SECOND_TYPE_SHARE:
            pool = self.by_category[self.taxonomy.category_of(first)]
            second = (
                rng.choice(pool) if rng.random() < SECOND_SAME_CATEGORY else ATTACK_TYPES.pick(rng)
            )
            if second != first and second != "killing":
                types.append(second)
        platform = (PLATFORMS.get(first) or ONLINE).pick(rng)
        perpetrator = (PERPETRATOR_BY_TYPE.get(first) or PERPETRATORS).pick(rng)
        outlet_i = OUTLET_PICK.pick(rng)
        outlet, host = OUTLETS[outlet_i]
        targets, person_role = self._targets(first, outlet, host)
        severity, threat_to_life, home_leaked = self._severity(first)
        refs = self._legal_refs(types, person_role)
        tlp = TLPS.pick(rng)
        started_at: datetime | None = None
        if rng.random() < 0.9:
            started_at = reported_at - timedelta(hours=_lognormal(rng, 20.0, 1.3))
        lang = LANGUAGES.pick(rng)
        title = self._title(types, lang, outlet, person_role, platform)
        fields = ReportFields(
            title=title,
            description=self._description(types, outlet, platform),
            started_at=started_at,
            attack_types=tuple(types),
            category=category,
            platform=platform,
            region=REGIONS.pick(rng),
            perpetrator=Perpetrator(perpetrator),
            severity=severity,
            legal_refs=refs,
            targets=targets,
            language=lang,
            ongoing=first in INFRASTRUCTURE and rng.random() < 0.2,
            reported_at=reported_at,
            threat_to_life=threat_to_life,
            home_address_leaked=home_leaked,
            tlp=tlp,
        )
        created_at = min(reported_at + timedelta(minutes=rng.randrange(1, 180)), self.now)
        events = self._legal_events(types, reported_at)
        status, updated_at = self._status(reported_at, created_at, events)
        found = self._indicators(types, outlet_i, started_at or reported_at, tlp)
        return _Planned(
            fields, status, created_at, updated_at, self._provision(types, refs), events, found
        )

    def _targets(
        self, first: str, outlet: str, host: str
    ) -> tuple[tuple[TargetInput, ...], str | None]:
        rng = self.rng
        personal = first in PERSONAL
        with_person = personal or rng.random() < 0.5
        with_outlet = not with_person or (rng.random() < (0.4 if personal else 0.5))
        targets: list[TargetInput] = []
        role: str | None = None
        if with_outlet:
            targets.append(TargetInput("outlet", outlet))
        if first in INFRASTRUCTURE or (first == "accreditation_denied" and not with_person):
            targets.append(TargetInput("website", f"{outlet} website", identifier=host))
        if with_person:
            role = ROLES.pick(rng)
            gender = GENDERS.pick(rng) if rng.random() < GENDER_RECORDED else None
            # The name follows the person's gender when known, a coin toss otherwise.
            form = gender if gender in FIRST_NAMES else rng.choice(["woman", "man"])
            targets.append(
                TargetInput(
                    "person",
                    _person_name(rng, form),
                    consent_public=rng.random() < CONSENT_PUBLIC,
                    role=role,
                    gender=gender,
                    gender_consent=gender is not None,
                )
            )
        return tuple(targets), role

    def _severity(self, first: str) -> tuple[Severity, bool, bool]:
        """Severity follows the harm: a threat to life is critical most of the time, a blocked
        or flooded site is high, a single abusive message low."""
        r = self.rng.random()
        if first in ("killing", "physical_attack"):
            return Severity.CRITICAL, first == "killing" or r < 0.5, False
        if first == "threats":
            if self.rng.random() < 0.35:
                return (Severity.CRITICAL if r < 0.7 else Severity.HIGH), True, False
            sev = Severity.HIGH if r < 0.25 else Severity.MEDIUM if r < 0.85 else Severity.LOW
            return sev, False, False
        if first == "internet_shutdown":
            return (Severity.CRITICAL if r < 0.4 else Severity.HIGH), False, False
        if first in ("website_blocking", "ddos", "spyware", "detention", "account_takeover"):
            return (Severity.HIGH if r < 0.85 else Severity.MEDIUM), False, False
        if first == "doxxing":
            leaked = self.rng.random() < 0.4
            return (Severity.HIGH if leaked or r < 0.3 else Severity.MEDIUM), False, leaked
        if first in ("harassment_campaign", "phone_flooding", "deepfake", "legal_pressure"):
            sev = Severity.HIGH if r < 0.2 else Severity.MEDIUM if r < 0.8 else Severity.LOW
            return sev, False, False
        return (Severity.MEDIUM if r < 0.45 else Severity.LOW), False, False

    def _legal_refs(self, types: Sequence[str], role: str | None) -> tuple[str, ...]:
        rng = self.rng
        refs: list[str] = []
        for at in types:
            if at in ("threats", "killing", "physical_attack"):
                refs.append("kz-cc-115")
                if role in ("journalist", "editor") and rng.random() < 0.3:
                    refs.append("kz-cc-158")
            elif at in ("website_blocking", "ddos", "accreditation_denied", "detention"):
                refs.append("kz-cc-158")
                if rng.random() < 0.3:
                    refs.append("iccpr-19")
            elif at == "legal_pressure":
                # Half of the cases are "false information" charges against the journalist.
                refs.append("kz-cc-274" if rng.random() < 0.5 else "iccpr-19")
            elif at in ("fake_statement", "deepfake", "hoax_reports"):
                refs.append("kz-cc-274")
            elif at in ("spyware", "doxxing") and rng.random() < 0.4:
                refs.append("iccpr-17")
            elif at == "harassment_campaign" and role == "relative" and rng.random() < 0.5:
                refs.append("kz-ac-73-6")  # a journalist's child bullied online
        return tuple(dict.fromkeys(refs))

    def _provision(self, types: Sequence[str], refs: Sequence[str]) -> LegalProvision:
        """Whether Kazakh law covers it: an article of the Criminal or Administrative Code
        fits, or the type is one the law ignores for adults; a third not assessed yet."""
        if self.rng.random() < UNASSESSED:
            return LegalProvision.UNASSESSED
        if any(r.startswith("kz-") for r in refs) or any(t in COMPUTER_CRIMES for t in types):
            return LegalProvision.APPLIES
        if all(t in NO_LAW for t in types):
            return LegalProvision.NONE
        return LegalProvision.UNASSESSED

    def _legal_events(self, types: Sequence[str], reported_at: datetime) -> list[LegalEvent]:
        """The usual trail: most reports get no answer or a refusal; an opened investigation is
        often closed; charges are rare and convictions rarer. Steps after "now" have simply not
        happened yet."""
        rng = self.rng
        share = 1.0 if "killing" in types else 0.4 if types[0] in OFTEN_REPORTED else 0.1
        if rng.random() >= share:
            return []
        events: list[LegalEvent] = []
        at = reported_at + timedelta(hours=_lognormal(rng, 30.0, 1.0))

        def add(kind: LegalEventKind, when: datetime, authority: str) -> bool:
            if when >= self.now:
                return False
            events.append(LegalEvent(kind, when, authority, f"№{rng.randrange(10**6):06d}"))
            return True

        prosecutor = rng.random() < 0.25
        authority = "Prosecutor's office" if prosecutor else "Police"
        kind = (
            LegalEventKind.COMPLAINT_TO_PROSECUTOR
            if prosecutor
            else LegalEventKind.REPORTED_TO_POLICE
        )
        if not add(kind, at, authority):
            return events
        if rng.random() < 0.25:
            at += timedelta(days=_lognormal(rng, 12.0, 1.0))
            if not add(LegalEventKind.OFFICIAL_RESPONSE, at, authority):
                return events
        r = 0.7 if "killing" in types else rng.random()
        if r < 0.3:
            return events  # no response at all
        at += timedelta(days=_lognormal(rng, 12.0, 1.0))
        if r < 0.6:
            add(LegalEventKind.INVESTIGATION_REFUSED, at, authority)
            return events
        if not add(LegalEventKind.INVESTIGATION_OPENED, at, "Police"):
            return events
        r = rng.random()
        at += timedelta(days=_lognormal(rng, 30.0, 0.9))
        if r < 0.5:
            add(LegalEventKind.INVESTIGATION_CLOSED, at, "Police")
        elif (r < 0.7 or "killing" in types) and add(
            LegalEventKind.CHARGES_BROUGHT, at, "Prosecutor's office"
        ):
            at += timedelta(days=_lognormal(rng, 60.0, 0.7))
            v = rng.random()
            if v < 0.5:
                add(LegalEventKind.CONVICTION, at, "Court")
            elif v < 0.65:
                add(LegalEventKind.ACQUITTAL, at, "Court")
        return events

    def _status(
        self, reported_at: datetime, created_at: datetime, events: Sequence[LegalEvent]
    ) -> tuple[Status, datetime]:
        """Older cases are mostly resolved or closed, recent ones still open; ``updated_at``
        is the last thing that happened, never before creation nor after "now"."""
        rng = self.rng
        age = (self.now - reported_at) / timedelta(days=1)
        r = rng.random()
        bands: Sequence[tuple[float, Status]]
        if r < REJECTED:
            status = Status.REJECTED
        elif age > 90:
            bands = ((0.58, Status.RESOLVED), (0.9, Status.CLOSED), (0.97, Status.IN_PROGRESS))
            status = _pick_status(r, bands, Status.WAITING_ON_REPORTER)
        elif age > 30:
            bands = (
                (0.38, Status.RESOLVED),
                (0.53, Status.CLOSED),
                (0.83, Status.IN_PROGRESS),
                (0.93, Status.TRIAGED),
            )
            status = _pick_status(r, bands, Status.WAITING_ON_REPORTER)
        else:
            bands = (
                (0.38, Status.NEW),
                (0.68, Status.TRIAGED),
                (0.92, Status.IN_PROGRESS),
                (0.96, Status.RESOLVED),
            )
            status = _pick_status(r, bands, Status.WAITING_ON_REPORTER)
        last = created_at
        if status is not Status.NEW:
            last = created_at + timedelta(days=_lognormal(rng, 6.0, 1.1))
        if events:
            last = max(last, max(e.at for e in events))
        return status, max(created_at, min(last, self.now))

    # -- indicators ------------------------------------------------------------------------
    def _campaign(self, seen: datetime) -> _Campaign:
        rng = self.rng
        key = ((seen.month - 1) // 3, rng.randrange(CAMPAIGNS_PER_QUARTER))
        found = self.campaigns.get(key)
        if found is None:
            slugs = [_slug(OUTLETS[OUTLET_PICK.pick(rng)][1]) for _ in range(2)]
            found = self.campaigns[key] = _Campaign(
                name=f"Q{key[0] + 1} campaign {key[1] + 1}",
                domains=[rng.choice(LOOKALIKE_FORMS).format(s=s) for s in slugs],
                ips=[f"{rng.choice(DOC_NETS)}.{rng.randrange(1, 255)}" for _ in range(2)],
                accounts=[
                    f"telegram:{rng.choice(HANDLE_FORMS).format(s=s)}_{_hex(rng, 3)}" for s in slugs
                ],
                hashes=[_hex(rng, 64) for _ in range(2)],
            )
        return found

    def _indicators(
        self, types: Sequence[str], outlet_i: int, seen: datetime, tlp: Tlp
    ) -> list[Indicator]:
        """Observables of fakes, phishing and takeovers: look-alike domains, documentation-range
        addresses, accounts and media hashes; a third come from a running campaign, so the same
        value links several incidents, as real operations do."""
        relevant = [t for t in types if t in INDICATOR_TYPES]
        if not relevant:
            return []
        rng = self.rng
        slug = _slug(OUTLETS[outlet_i][1])
        found: list[tuple[IndicatorKind, str, str]] = []
        if rng.random() < CAMPAIGN_SHARE:
            c = self._campaign(seen)
            found.append((IndicatorKind.DOMAIN, rng.choice(c.domains), c.name))
            found.append((IndicatorKind.IPV4, rng.choice(c.ips), c.name))
            if "deepfake" in relevant:
                found.append((IndicatorKind.SHA256, rng.choice(c.hashes), c.name))
            else:
                found.append((IndicatorKind.ACCOUNT, rng.choice(c.accounts), c.name))
        else:
            for t in relevant:
                if t == "phishing":
                    domain = rng.choice(LOOKALIKE_FORMS).format(s=f"{slug}{rng.randrange(100)}")
                    found.append((IndicatorKind.DOMAIN, domain, "phishing page"))
                    found.append((IndicatorKind.URL, f"https://{domain}/login", "phishing page"))
                elif t == "deepfake":
                    found.append((IndicatorKind.SHA256, _hex(rng, 64), "deepfake video"))
                elif t == "account_takeover":
                    ip = f"{rng.choice(DOC_NETS)}.{rng.randrange(1, 255)}"
                    found.append((IndicatorKind.IPV4, ip, "login from unknown address"))
                else:
                    handle = rng.choice(HANDLE_FORMS).format(s=slug)
                    found.append(
                        (IndicatorKind.ACCOUNT, f"telegram:{handle}_{_hex(rng, 4)}", "fake channel")
                    )
        return [Indicator(k, v, seen, seen, tlp, description=d) for k, v, d in found]

    # -- text ------------------------------------------------------------------------------
    def _title(
        self, types: Sequence[str], lang: str, outlet: str, role: str | None, platform: str | None
    ) -> str:
        label = self.taxonomy.label("attack_type", types[0], lang)
        who = self.taxonomy.label("target_role", role, lang).lower() if role else outlet
        where = f" ({self.taxonomy.label('platform', platform, lang)})" if platform else ""
        about = f"{who}, {outlet}" if role else who
        return f"{label}: {about}{where}"[:300]

    def _description(self, types: Sequence[str], outlet: str, platform: str | None) -> str:
        kinds = ", ".join(self.taxonomy.label("attack_type", t, "en").lower() for t in types)
        channel = platform or "an unrecorded channel"
        return (
            f"Generated demo incident ({kinds}) concerning {outlet}, via {channel}. "
            "Made-up data: names of people are invented."
        )


def _pick_status(r: float, bands: Sequence[tuple[float, Status]], rest: Status) -> Status:
    for upper, status in bands:
        if r < upper:
            return status
    return rest


def _person_name(rng: random.Random, form: str) -> str:
    first = rng.choice(FIRST_NAMES[form])
    last = rng.choice(SURNAMES)
    if form == "woman":
        if last.endswith("ұлы"):
            last = last[: -len("ұлы")] + "қызы"
        elif last.endswith(("ов", "ев", "ин")):
            last += "а"
    return f"{first} {last}"


def _chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def generate_year(
    store: Store, *, year: int, incidents: int, seed: int = 2025, org_slug: str | None = None
) -> YearSummary:
    """Write ``incidents`` made-up incidents reported during ``year`` into the organisation
    ``org_slug`` (the default organisation if not given); the same seed gives the same year.

    Only a finished year can be generated: every date must lie in the past, and a report on
    the current year would mix invented cases with real ones still coming in.
    """
    started = time.perf_counter()
    real_now = store.now()
    if year >= real_now.year:
        raise InvalidInput.single(
            "year", "past_only", f"generate a finished year, before {real_now.year}"
        )
    if year < 1992:
        raise InvalidInput.single("year", "range", "the case desk starts in 1992")
    if incidents < 0:
        raise InvalidInput.single("incidents", "range", "give zero or more incidents")
    now = min(datetime(year, 12, 31, 23, 59, 59, tzinfo=UTC), real_now)
    rng = random.Random(seed)
    with store.read() as conn:
        org_id = users.org_id_for(conn, org_slug or store.settings.default_org)
    desk = CaseDesk(store)
    principal = Principal(None, Role.ADMIN, org_id, f"demo:year:{year}")
    plan = _YearPlan(store, rng, year, now)
    quarters = [0, 0, 0, 0]
    n_events = n_links = 0
    new_indicators: set[int] = set()
    for chunk in _chunks(plan.reported_times(incidents), BATCH):
        planned = [plan.incident(at, protest) for at, protest in chunk]
        jobs = []
        for p in planned:
            job = desk.prepare_report(principal, p.fields, tag="incident:imported")
            jobs.append(
                replace(
                    job,
                    new=replace(job.new, status=p.status),
                    respond=False,
                    created_at=p.created_at,
                    updated_at=p.updated_at,
                )
            )
            quarters[((p.fields.reported_at or now).month - 1) // 3] += 1
        with store.write() as conn:
            ids = []
            for outcome in store_reports(conn, store, jobs, real_now):
                if isinstance(outcome, Exception):
                    raise outcome
                ids.append(outcome.id)
            n_events += _write_legal(conn, store, org_id, ids, planned, real_now)
            for ind, linked in _merged_indicators(ids, planned):
                ind_id, _ = indicator_store.upsert(conn, org_id, ind, linked, real_now)
                new_indicators.add(ind_id)
                n_links += len(linked)
            index_pending(conn)
    with store.write() as conn:
        # Thousands of new rows: refresh the query planner's statistics now, as PostgreSQL's
        # autovacuum would later and SQLite never does on its own.
        conn.exec_driver_sql("ANALYZE")
    return YearSummary(
        year=year,
        seed=seed,
        incidents=incidents,
        by_quarter=(quarters[0], quarters[1], quarters[2], quarters[3]),
        legal_events=n_events,
        indicators=len(new_indicators),
        indicator_links=n_links,
        seconds=round(time.perf_counter() - started, 3),
    )


def _merged_indicators(
    ids: Sequence[int], planned: Sequence[_Planned]
) -> list[tuple[Indicator, list[int]]]:
    """One upsert per distinct value in the batch, linked to all its incidents at once: what
    successive upserts would store (widest seen-range, strictest TLP), without re-reading a
    campaign indicator's growing link list once per incident."""
    merged: dict[tuple[IndicatorKind, str], tuple[Indicator, list[int]]] = {}
    for incident_id, p in zip(ids, planned, strict=True):
        for ind in p.indicators:
            key = (ind.kind, ind.value)
            if key not in merged:
                merged[key] = (ind, [incident_id])
                continue
            have, linked = merged[key]
            if incident_id not in linked:
                linked.append(incident_id)
            merged[key] = (
                replace(
                    have,
                    first_seen=min(have.first_seen, ind.first_seen),
                    last_seen=max(have.last_seen, ind.last_seen),
                    tlp=max(have.tlp, ind.tlp, key=lambda t: t.rank),
                ),
                linked,
            )
    return list(merged.values())


def _write_legal(
    conn: sa.Connection,
    store: Store,
    org_id: int,
    ids: Sequence[int],
    planned: Sequence[_Planned],
    at: datetime,
) -> int:
    """Insert the batch's legal steps, then the derived state and the provision for every
    incident of the batch in ONE executemany (what ``legal_events.refresh_state`` computes,
    one incident at a time)."""
    count = 0
    params: list[dict[str, Any]] = []
    for incident_id, p in zip(ids, planned, strict=True):
        for event in p.events:
            legal_events.insert(
                conn,
                store.cipher,
                org_id=org_id,
                incident_id=incident_id,
                event=event,
                actor_id=None,
                now=at,
            )
            count += 1
        state = derive_state(p.events)
        params.append(
            {
                "b_id": incident_id,
                "legal_provision": str(p.provision),
                "legal_outcome": str(state.outcome),
                "authorities_reported_at": state.reported_at,
                "official_response_at": state.first_response_at,
            }
        )
    if params:
        c = incidents_table.c
        conn.execute(
            incidents_table.update()
            .where(c.id == sa.bindparam("b_id"))
            .values(
                legal_provision=sa.bindparam("legal_provision"),
                legal_outcome=sa.bindparam("legal_outcome"),
                authorities_reported_at=sa.bindparam("authorities_reported_at"),
                official_response_at=sa.bindparam("official_response_at"),
            ),
            params,
        )
    return count
