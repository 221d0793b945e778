"""Triage rules, response clocks, the roster, playbooks, referrals and statement drafts:
the pure decisions of rapid response, checked against the shipped data files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from qorgau.domain.model import Incident, Perpetrator, ReporterContact, Severity, Status, Target
from qorgau.domain.taxonomy import load_taxonomy
from qorgau.errors import InvalidInput
from qorgau.response import clocks, playbooks, referrals, statements, triage
from qorgau.response.roster import Tier, on_duty, parse_roster

TAX = load_taxonomy(None)
KNOWN = TAX.ids("attack_type")
RULES = triage.default_rules(KNOWN)
POLICY = clocks.default_policy()


def signals(*types: str, **kw: object) -> triage.TriageSignals:
    return triage.TriageSignals(attack_types=types, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "sig, expected, reason",
    [
        (signals("threats", threat_to_life=True), Severity.CRITICAL, "threat-to-life"),
        (signals("doxxing", home_address_leaked=True), Severity.CRITICAL, "home-address-leaked"),
        (signals("account_takeover", ongoing=True), Severity.CRITICAL, "account-takeover-ongoing"),
        (signals("account_takeover"), Severity.HIGH, "threats-spyware-takeover"),
        (signals("ddos", ongoing=True), Severity.HIGH, "live-outage"),
        (signals("phone_flooding"), Severity.HIGH, "phone-flooding"),
        (signals("deepfake", ongoing=True), Severity.HIGH, "fake-spreading"),
        (signals("harassment_campaign"), Severity.MEDIUM, "default"),
        # a medium case raised one level by how many people it hit
        (signals("mass_complaints", people_targeted=6), Severity.HIGH, "many-targets"),
        (signals("fake_statement", reach=250_000), Severity.HIGH, "wide-reach"),
    ],
)
def test_triage_proposes_with_reasons(
    sig: triage.TriageSignals, expected: Severity, reason: str
) -> None:
    result = triage.evaluate(RULES, sig)
    assert result.severity is expected
    assert reason in [r.rule for r in result.reasons]
    for r in result.reasons:
        assert set(r.text) == {"en", "ru", "kk"} and all(r.text.values())


def test_historic_incidents_are_lowered_but_threats_to_life_never() -> None:
    reported = datetime(2025, 5, 6, tzinfo=UTC)
    old = reported - timedelta(days=400)
    assert (
        triage.evaluate(RULES, signals("ddos", started_at=old, reported_at=reported)).severity
        is Severity.LOW
    )
    kept = triage.evaluate(
        RULES, signals("threats", threat_to_life=True, started_at=old, reported_at=reported)
    )
    assert kept.severity is Severity.CRITICAL


def test_raises_stop_at_critical() -> None:
    s = signals("threats", threat_to_life=True, people_targeted=50, reach=10**6)
    assert triage.evaluate(RULES, s).severity is Severity.CRITICAL


def test_bad_rules_are_refused_with_the_exact_field() -> None:
    with pytest.raises(InvalidInput) as exc:
        triage.parse_rules(
            {
                "version": "x",
                "default_severity": "urgent",
                "rule": [
                    {"id": "a", "severity": "high", "when": {}, "reason": {"en": "e"}},
                    {
                        "id": "b",
                        "severity": "high",
                        "raise": 1,
                        "when": {"ongoing": True},
                        "reason": {"en": "e", "ru": "r", "kk": "k"},
                    },
                ],
            },
            KNOWN,
        )
    fields = {p.field for p in exc.value.problems}
    assert "default_severity" in fields
    assert "rule[0].when" in fields  # an empty condition
    assert "rule[0].reason.ru" in fields  # a language missing
    assert "rule[1]" in fields  # two effects
    with pytest.raises(InvalidInput) as exc:
        triage.parse_rules(
            {
                "version": "x",
                "default_severity": "low",
                "rule": [
                    {
                        "id": "a",
                        "severity": "high",
                        "when": {"attack_types_any": ["carrier_pigeon"]},
                        "reason": {"en": "e", "ru": "r", "kk": "k"},
                    }
                ],
            },
            KNOWN,
        )
    assert "carrier_pigeon" in str(exc.value)


# -- clocks -----------------------------------------------------------------------------------
def test_default_clocks_beat_a_two_hour_helpline() -> None:
    assert POLICY.window(Severity.CRITICAL).response == timedelta(minutes=15)
    assert POLICY.window(Severity.CRITICAL).action == timedelta(hours=1)
    assert POLICY.window(Severity.LOW).action == timedelta(weeks=1)


@pytest.mark.parametrize("text", ["15", "0m", "1y", "-5m", "m15", ""])
def test_durations_must_be_readable(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        clocks.parse_duration(text)


def test_policy_must_cover_every_severity_in_order() -> None:
    with pytest.raises(InvalidInput) as exc:
        clocks.parse_policy(
            {
                "version": "x",
                "severity": {
                    "critical": {"first_response": "1h", "first_action": "15m"},
                    "high": {"first_response": "1h", "first_action": "4h"},
                },
            }
        )
    text = str(exc.value)
    assert "severity.critical" in text and "before first_response" in text
    with pytest.raises(InvalidInput, match="missing: medium, low"):
        clocks.parse_policy(
            {
                "version": "x",
                "severity": {
                    "critical": {"first_response": "15m", "first_action": "1h"},
                    "high": {"first_response": "1h", "first_action": "4h"},
                },
            }
        )


def _clock(**kw: object) -> clocks.Clock:
    start = datetime(2025, 5, 5, 13, 0, tzinfo=UTC)
    r, a = clocks.due_times(POLICY, Severity.CRITICAL, start, 0)
    base: dict[str, object] = dict(
        incident_id=1,
        severity=Severity.CRITICAL,
        started_at=start,
        response_due=r,
        action_due=a,
        responded_at=None,
        acted_at=None,
        paused_since=None,
        paused_seconds=0,
        response_escalated_at=None,
        action_escalated_at=None,
        stopped_at=None,
    )
    base.update(kw)
    return clocks.Clock(**base)  # type: ignore[arg-type]


def test_clock_states_over_time() -> None:
    c = _clock()
    start = c.started_at
    resp, _ = clocks.deadlines(POLICY, c, start + timedelta(minutes=5))
    assert resp.state is clocks.ClockState.RUNNING and resp.remaining_seconds == 600
    resp, _ = clocks.deadlines(POLICY, c, start + timedelta(minutes=12))
    assert resp.state is clocks.ClockState.DUE_SOON  # under a quarter of 15 min left
    pair = clocks.deadlines(POLICY, c, start + timedelta(minutes=16))
    assert pair[0].state is clocks.ClockState.BREACHED
    assert clocks.worst(pair) is clocks.ClockState.BREACHED
    met = _clock(responded_at=start + timedelta(minutes=20))
    assert clocks.deadlines(POLICY, met, start + timedelta(minutes=30))[0].state is (
        clocks.ClockState.MET_LATE
    )


def test_a_paused_clock_does_not_breach_and_shows_its_shifted_deadline() -> None:
    start = datetime(2025, 5, 5, 13, 0, tzinfo=UTC)
    c = _clock(paused_since=start + timedelta(minutes=10))
    now = start + timedelta(hours=3)
    resp, act = clocks.deadlines(POLICY, c, now)
    assert resp.state is clocks.ClockState.PAUSED and act.state is clocks.ClockState.PAUSED
    # 5 minutes were left when the pause began; they are still left.
    assert resp.due == now + timedelta(minutes=5)


# -- roster -----------------------------------------------------------------------------------
USERS = {"aigerim": "responder", "nurlan": "responder", "dana": "coordinator", "asel": "analyst"}
ROSTER = {
    "timezone": "Asia/Almaty",
    "shift": [
        {
            "user": "aigerim",
            "languages": ["kk", "ru"],
            "days": ["mon", "tue", "wed", "thu", "fri"],
            "from": "09:00",
            "to": "18:00",
        },
        {
            "user": "nurlan",
            "languages": ["ru", "en"],
            "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "from": "18:00",
            "to": "09:00",
        },
        {
            "user": "dana",
            "tier": "coordinator",
            "languages": ["kk", "ru", "en"],
            "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "from": "00:00",
            "to": "24:00",
        },
    ],
    "cover": [
        {
            "user": "aigerim",
            "languages": ["kk"],
            "start": "2025-05-10T00:00:00+05:00",
            "end": "2025-05-11T00:00:00+05:00",
        }
    ],
}


def almaty(day: int, hour: int) -> datetime:
    return datetime(2025, 5, day, hour, 0, tzinfo=UTC) - timedelta(hours=5)


def test_on_call_by_time_language_and_tier() -> None:
    r = parse_roster(ROSTER, USERS)
    # Monday 5 May 2025, 10:00 in Almaty: the day shift speaks Kazakh
    d = on_duty(r, almaty(5, 10), tier=Tier.RESPONDER, language="kk", coordinators=["dana"])
    assert d.usernames == ("aigerim",) and d.fallback is None
    # Tuesday 03:00: the night shift started on Monday at 18:00 covers it
    d = on_duty(r, almaty(6, 3), tier=Tier.RESPONDER, language="ru", coordinators=["dana"])
    assert d.usernames == ("nurlan",)
    # nobody on duty speaks Kazakh at night: anyone on duty, and the desk is told
    d = on_duty(r, almaty(6, 3), tier=Tier.RESPONDER, language="kk", coordinators=["dana"])
    assert d.usernames == ("nurlan",) and d.fallback == "any_language"
    # Saturday cover
    d = on_duty(r, almaty(10, 12), tier=Tier.RESPONDER, language="kk", coordinators=["dana"])
    assert d.usernames == ("aigerim",)
    d = on_duty(r, almaty(5, 10), tier=Tier.COORDINATOR, language="en", coordinators=[])
    assert d.usernames == ("dana",)
    # a shift to 24:00 leaves no gap before midnight
    late = almaty(5, 23) + timedelta(minutes=59, seconds=30)
    d = on_duty(r, late, tier=Tier.COORDINATOR, language="en", coordinators=[])
    assert d.usernames == ("dana",) and d.fallback is None


def test_an_empty_roster_still_reaches_someone() -> None:
    r = parse_roster({}, USERS)
    d = on_duty(r, almaty(5, 3), tier=Tier.RESPONDER, language="kk", coordinators=["dana"])
    assert d.usernames == ("dana",) and d.fallback == "all_coordinators"


def test_malformed_rosters_name_the_field() -> None:
    bad = {
        "timezone": "Mars/Olympus",
        "shift": [
            {"user": "asel", "languages": ["kk"], "days": ["mon"], "from": "09:00", "to": "17:00"},
            {"user": "ghost", "languages": ["kk"], "days": ["mon"], "from": "9", "to": "17:00"},
            {
                "user": "aigerim",
                "tier": "coordinator",
                "languages": ["de"],
                "days": ["moon"],
                "from": "09:00",
                "to": "09:00",
            },
        ],
    }
    with pytest.raises(InvalidInput) as exc:
        parse_roster(bad, USERS)
    fields = {p.field for p in exc.value.problems}
    assert {"timezone", "shift[1].from", "shift[2].languages", "shift[2].days"} <= fields
    good_schema = {"shift": [bad["shift"][0], {**bad["shift"][1], "from": "09:00"}]}  # type: ignore[index]
    with pytest.raises(InvalidInput) as exc:
        parse_roster(good_schema, USERS)
    fields = {p.field for p in exc.value.problems}
    assert fields == {"shift[0].tier", "shift[1].user"}  # an analyst; an unknown user


# -- playbooks --------------------------------------------------------------------------------
def test_shipped_playbooks_cover_the_seed_attacks_in_three_languages() -> None:
    lib = playbooks.shipped(KNOWN)
    for attack in ("phone_flooding", "website_blocking", "deepfake", "mass_complaints", "threats"):
        books = lib.for_attack_types((attack,))
        assert books, attack
        for book in books:
            for step in book.step:
                assert all(step.title.as_dict().values())
    flooding = lib.get("phone-flooding")
    assert [s.id for s in flooding.step][:4] == [
        "preserve-ads",
        "call-log",
        "takedown-requests",
        "notify-carrier",
    ]
    assert {b.id for b in lib.hygiene("outlet")} == {"hygiene-outlet"}
    assert {b.id for b in lib.hygiene("person")} == {"hygiene-person"}


def test_a_playbook_that_fails_its_schema_is_refused() -> None:
    with pytest.raises(InvalidInput) as exc:
        playbooks.parse_playbook(
            {
                "id": "Bad Id",
                "version": "1",
                "attack_types": ["ddos", "meteor"],
                "title": {"en": "t", "ru": "т", "kk": "т"},
                "step": [
                    {"id": "a", "title": {"en": "x", "ru": "x", "kk": "x"}},
                    {"id": "a", "title": {"en": "x", "ru": "x"}},
                ],
            },
            KNOWN,
        )
    fields = {p.field for p in exc.value.problems}
    assert {"id", "step[1].title.kk"} <= fields


# -- referrals --------------------------------------------------------------------------------
def test_referrals_match_needs_and_language() -> None:
    d = referrals.shipped_directory(KNOWN)
    ddos = referrals.suggest(d, ("ddos",), "kk")
    assert ddos[0].partner.id in ("deflect", "project-galileo")
    assert all(referrals.Need.DDOS_PROTECTION in s.needs for s in ddos[:2])
    threats = referrals.suggest(d, ("threats",), "kk", threat_to_life=True)
    ids = [s.partner.id for s in threats]
    assert "adil-soz" in ids[:3]  # legal aid, in Kazakh
    assert any(referrals.Need.RELOCATION in s.needs for s in threats)
    # a DDoS-only service never shows for a deepfake
    assert "project-galileo" not in [
        s.partner.id for s in referrals.suggest(d, ("deepfake",), "en")
    ]


# -- statements -------------------------------------------------------------------------------
def _incident(**kw: object) -> Incident:
    now = datetime(2025, 5, 6, 9, 0, tzinfo=UTC)
    base: dict[str, object] = dict(
        id=1,
        public_id="QG-TEST0001",
        org_id=1,
        title="t",
        description="d",
        started_at=now,
        reported_at=now,
        attack_types=("website_blocking",),
        category="infrastructure",
        platform="website",
        region="nationwide",
        perpetrator=Perpetrator(),
        severity=Severity.HIGH,
        status=Status.NEW,
        legal_refs=("kz-cc-158",),
        targets=(
            Target("website", "orda.kz", "orda.kz", "orda.kz", False),
            Target("person", "Гульнар Бажкенова", None, "", False),
        ),
        reporter=ReporterContact(),
        reporter_user_id=None,
        source_urls=(),
        language="ru",
        ongoing=True,
        external_ref=None,
        campaign_id=None,
        merged_into_id=None,
        created_at=now,
        updated_at=now,
    )
    base.update(kw)
    return Incident(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "lang, word", [("en", "STATEMENT"), ("ru", "ЗАЯВЛЕНИЕ"), ("kk", "МӘЛІМДЕМЕ")]
)
def test_statement_drafts_state_facts_and_protect_people(lang: str, word: str) -> None:
    text = statements.draft(_incident(), TAX, lang, "Adil Soz")
    assert word in text and "06.05.2025" in text and "orda.kz" in text
    assert TAX.label("legal_reference", "kz-cc-158", lang) in text
    assert "Бажкенова" not in text  # no consent to be named publicly
    named = statements.draft(
        _incident(targets=(Target("person", "Гульнар Бажкенова", None, "", True),)),
        TAX,
        lang,
        "Adil Soz",
    )
    assert "Гульнар Бажкенова" in named


def test_statement_workflow_rules() -> None:
    from qorgau.errors import Conflict

    with pytest.raises(Conflict, match="approved"):
        statements.check_publish(statements.StatementState.DRAFT)
    with pytest.raises(Conflict):
        statements.check_edit(statements.StatementState.PUBLISHED)
    with pytest.raises(InvalidInput):
        statements.draft(_incident(), TAX, "de", "Adil Soz")
