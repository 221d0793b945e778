"""Calls to mass-report an outlet's account, grouped into waves, and linked to what the
platform then did to the account.

Report brigading leaves two traces the desk can see: public calls ("жалуйтесь на канал
@orda_kz", "шағым түсіріңдер", "mass report this account") and, hours or days later, the
platform's strike or suspension. Neither proves brigading alone; together, with the
coordinated-activity clusters other detectors found among the same accounts, they are what an
appeal to the platform's escalation team rests on. ``correlate`` says how strongly, and why,
in sentences a responder can repeat to the platform."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from qorgau.detect.account_actions import AccountAction, normalize_handle
from qorgau.detect.model import Observation
from qorgau.detect.watchlist import ProtectedPerson
from qorgau.domain.identifiers import normalize_text

# Imperative calls to report or complain, in the forms seen in Russian, Kazakh and English
# posts. A call only counts when the same text names a protected account (see ``find_calls``).
_CALLS: tuple[tuple[str, str], ...] = (
    ("ru", r"(?:по)?жалуйтесь"),
    (
        "ru",
        r"(?:кидайте|кидаем|шлите|шлем|отправляйте|отправляем|пишите|пишем|накидайте"
        r"|закидайте|строчите)\s+(?:\w+\s+)?(?:репорт|жалоб)\w*",
    ),
    ("ru", r"(?:за)?репорт(?:ите|им|ьте|ь)"),
    ("ru", r"массов\w*\s+(?:\w+\s+)?(?:жалоб|репорт)\w*"),
    ("ru", r"снос(?:им|ите)|давайте\s+(?:снесем|зарепортим|забаним)"),
    ("ru", r"(?:жми|жмите|нажмите|нажимайте)\s+[«\"']?пожаловаться"),
    (
        "kk",
        r"шағым\s+(?:түсіріңдер|түсіріңіз|түсірейік|жазыңдар|жазыңыз|жазайық|жіберіңдер"
        r"|жіберіңіз|жіберейік|тастаңдар|тастайық)",
    ),
    ("kk", r"шағымданыңдар|шағымданыңыз|шағымданайық"),
    ("kk", r"репорт\s+(?:жіберіңдер|тастаңдар|тастайық|басыңдар)"),
    ("kk", r"жаппай\s+(?:шағым|репорт)\w*"),
    ("kk", r"бұғаттайық"),
    ("en", r"mass[\s-]?report\w*"),
    ("en", r"report\s+(?:this|the|their|his|her)\s+(?:account|channel|page|profile|acc)"),
    ("en", r"(?:everyone|everybody|all of you|guys)\s*,?\s+report"),
    ("en", r"report\s+(?:and|&)\s+block"),
    ("en", r"(?:go|let'?s|pls|please)\s+report"),
    ("en", r"flag\s+(?:this|their)\s+(?:account|channel|page)"),
)
_CALL_PATTERN = re.compile(
    "|".join(f"(?P<{lang}{i}>(?<!\\w)(?:{rx})(?!\\w))" for i, (lang, rx) in enumerate(_CALLS))
)


@dataclass(frozen=True)
class ReportTarget:
    """A protected account holder: a person, or an outlet named as a watchlist group.
    ``subjects`` are the watchlist names findings about it concern."""

    name: str
    handles: tuple[str, ...]
    subjects: tuple[str, ...]
    group: str = ""  # the watchlist group it belongs to (for an outlet target: itself)
    is_group: bool = False


@dataclass(frozen=True)
class ReportCall:
    observation_id: str
    account: str
    platform: str
    time: datetime
    target: str  # the ReportTarget's name
    phrase: str  # the words that make it a call to report
    lang: str  # language of the phrase: ru, kk or en
    handles: tuple[str, ...]  # the target's handles the text names


@dataclass(frozen=True)
class ComplaintWave:
    target: str
    subjects: tuple[str, ...]
    calls: tuple[ReportCall, ...]  # in time order

    @property
    def start(self) -> datetime:
        return self.calls[0].time

    @property
    def end(self) -> datetime:
        return self.calls[-1].time

    @property
    def accounts(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.account for c in self.calls if c.account))

    @property
    def observation_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.observation_id for c in self.calls))

    @property
    def handles(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(h for c in self.calls for h in c.handles))

    @property
    def platforms(self) -> tuple[str, ...]:
        return tuple(sorted({c.platform for c in self.calls}))

    @property
    def id(self) -> str:
        return f"wave:{slug(self.target)}:{self.start.astimezone(UTC):%Y%m%dT%H%M%SZ}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "target": self.target,
            "start": _iso(self.start),
            "end": _iso(self.end),
            "accounts": list(self.accounts),
            "handles": list(self.handles),
            "platforms": list(self.platforms),
            "observation_ids": list(self.observation_ids),
            "phrases": sorted({c.phrase for c in self.calls}),
        }


@dataclass(frozen=True)
class CoordinationCluster:
    """Coordinated activity another detector found (co-sharing, copy-paste, a burst of new
    accounts), reduced to what correlation needs."""

    id: str
    kind: str
    accounts: tuple[str, ...]
    start: datetime
    end: datetime
    observation_ids: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "accounts": list(self.accounts),
            "start": _iso(self.start),
            "end": _iso(self.end),
            "observation_ids": list(self.observation_ids),
        }


@dataclass(frozen=True)
class ActionLink:
    """What preceded one adverse action, and how strongly it points to brigading.
    ``score`` is 0 to 1; ``strength`` is none, weak, moderate or strong; ``reasons`` say why."""

    action: AccountAction
    waves: tuple[ComplaintWave, ...]
    clusters: tuple[CoordinationCluster, ...]
    score: float
    strength: str
    reasons: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action.to_json(),
            "waves": [w.id for w in self.waves],
            "clusters": [c.id for c in self.clusters],
            "score": self.score,
            "strength": self.strength,
            "reasons": list(self.reasons),
        }


def targets_from_people(people: Sequence[ProtectedPerson]) -> tuple[ReportTarget, ...]:
    """One target per person, and one per outlet (watchlist group) that is not itself listed
    as a person, since calls name the outlet ("канал Орда") as often as its handle."""
    targets = [ReportTarget(p.name, p.handles, (p.name,), p.campaign_group) for p in people]
    names = {normalize_text(p.name) for p in people}
    groups: dict[str, list[str]] = {}
    for p in people:
        if p.group and normalize_text(p.group) not in names:
            groups.setdefault(p.group, []).append(p.name)
    targets.extend(
        ReportTarget(g, (), tuple(members), g, is_group=True) for g, members in groups.items()
    )
    return tuple(targets)


class CallFinder:
    """Compiled once per watchlist: the name and handle patterns of every target."""

    def __init__(self, targets: Sequence[ReportTarget]) -> None:
        self.targets = tuple(targets)
        self._names = [
            re.compile(rf"(?<!\w){re.escape(normalize_text(t.name))}(?!\w)") for t in targets
        ]
        self._handles = [
            [
                (h, re.compile(rf"(?<![\w.]){re.escape(h)}(?!\w)"))
                for h in (normalize_handle(x) for x in t.handles)
                if len(h) >= 3
            ]
            for t in targets
        ]

    def calls(self, ob: Observation) -> list[ReportCall]:
        text = _fold(ob.text)
        found = _CALL_PATTERN.search(text)
        if found is None or found.lastgroup is None:
            return []
        lang = found.lastgroup.rstrip("0123456789")
        places = " ".join([text, *(_fold(u) for u in ob.urls), *(_fold(r) for r in ob.recipients)])
        out = []
        for target, name, handles in zip(self.targets, self._names, self._handles, strict=True):
            named = tuple(h for h, rx in handles if rx.search(places))
            if named or name.search(text):
                out.append(
                    ReportCall(
                        observation_id=ob.id,
                        account=ob.account,
                        platform=ob.platform,
                        time=ob.time,
                        target=target.name,
                        phrase=found.group(),
                        lang=lang,
                        handles=named,
                    )
                )
        # A call that names a person or account of an outlet is about them, not again about
        # the outlet as a whole ("Orda" in "orda.kz"): one call, one target.
        by_name = {t.name: t for t in self.targets}
        covered = {by_name[c.target].group for c in out if not by_name[c.target].is_group}
        return [c for c in out if not (by_name[c.target].is_group and c.target in covered)]


def find_calls(
    observations: Iterable[Observation], targets: Sequence[ReportTarget]
) -> list[ReportCall]:
    finder = CallFinder(targets)
    return [call for ob in observations for call in finder.calls(ob)]


def group_waves(
    calls: Iterable[ReportCall],
    targets: Sequence[ReportTarget] = (),
    *,
    max_gap: timedelta = timedelta(hours=12),
) -> list[ComplaintWave]:
    """Calls about one target with no gap longer than ``max_gap`` are one wave."""
    subjects = {t.name: t.subjects for t in targets}
    by_target: dict[str, list[ReportCall]] = {}
    for call in calls:
        by_target.setdefault(call.target, []).append(call)
    waves: list[ComplaintWave] = []
    for target, found in by_target.items():
        found.sort(key=lambda c: (c.time, c.observation_id))
        current = [found[0]]
        for call in found[1:]:
            if call.time - current[-1].time > max_gap:
                waves.append(ComplaintWave(target, subjects.get(target, (target,)), tuple(current)))
                current = []
            current.append(call)
        waves.append(ComplaintWave(target, subjects.get(target, (target,)), tuple(current)))
    waves.sort(key=lambda w: (w.start, w.target))
    return waves


STRENGTHS = ("none", "weak", "moderate", "strong")


def correlate(
    actions: Iterable[AccountAction],
    waves: Sequence[ComplaintWave],
    coordination_clusters: Sequence[CoordinationCluster],
    window: timedelta = timedelta(days=3),
) -> list[ActionLink]:
    """For each adverse action (not reinstatements), the waves and clusters active in the
    ``window`` before it, and a score.

    The caller passes the waves and clusters concerning the outlet. The score adds up what a
    platform reviewer would weigh: calls to report before the action (the most telling), how
    many accounts joined them, whether they named this very account, how soon the action
    followed, coordinated activity in the same period, and above all the same accounts in both
    the calls and a coordinated cluster."""
    links = []
    for action in sorted((a for a in actions if a.adverse), key=lambda a: a.at):
        since = action.at - window
        before = tuple(w for w in waves if w.start <= action.at and w.end >= since)
        clusters = tuple(
            c for c in coordination_clusters if c.start <= action.at and c.end >= since
        )
        score, reasons = _score(action, before, clusters)
        links.append(ActionLink(action, before, clusters, score, _strength(score), reasons))
    return links


def _score(
    action: AccountAction, waves: Sequence[ComplaintWave], clusters: Sequence[CoordinationCluster]
) -> tuple[float, tuple[str, ...]]:
    score = 0.0
    reasons: list[str] = []
    callers = {a for w in waves for a in w.accounts}
    if waves:
        calls = sum(len(w.calls) for w in waves)
        score += 0.4 + 0.15 * min(len(callers) / 20, 1.0)
        reasons.append(
            f"{_count(calls, 'public call')} to report the account, from "
            f"{_count(len(callers), 'account')}, preceded the {action.action}."
        )
        if any(action.account in w.handles for w in waves):
            score += 0.1
            reasons.append(f"The calls named @{action.account} itself.")
        gap = action.at - max(min(w.end, action.at) for w in waves)
        if gap <= timedelta(hours=24):
            score += 0.1
            reasons.append(
                f"The {action.action} came {_hours(gap)} after the last call to report it."
            )
    if clusters:
        score += 0.1
        reasons.append(
            f"{_count(len(clusters), 'cluster')} of coordinated activity "
            f"({', '.join(sorted({c.kind for c in clusters}))}) was active in the same period."
        )
        shared = callers & {a for c in clusters for a in c.accounts}
        if shared:
            score += 0.15
            reasons.append(
                f"{_count(len(shared), 'account')} calling for reports also took part in "
                "coordinated activity."
            )
    if not reasons:
        reasons.append("No call to report and no coordinated activity was seen before it.")
    return round(min(score, 1.0), 2), tuple(reasons)


def _strength(score: float) -> str:
    if score >= 0.7:
        return "strong"
    if score >= 0.4:
        return "moderate"
    return "weak" if score > 0 else "none"


def _hours(gap: timedelta) -> str:
    hours = gap.total_seconds() / 3600
    return "within the hour" if hours < 1 else f"{round(hours)} hours"


def _fold(text: str) -> str:
    return normalize_text(text).replace("ё", "е")


def slug(text: str) -> str:
    return re.sub(r"[^\w]+", "-", normalize_text(text)).strip("-") or "target"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")
