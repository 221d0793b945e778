"""Waves of calls to mass-report a protected outlet's or person's account.

Platforms act on the volume of complaints, and outlets in Kazakhstan lost their accounts to
orchestrated ones. The calls are public ("кидайте репорты на @…", "шағым түсіріңдер"), so
seeing them early gives the outlet time to warn the platform before the strike, and later
gives the appeal its evidence. One finding per protected target and batch, under a key per
target, so a wave that runs over several batches grows one incident. Handles are never
repeated in what this detector writes: findings travel to alert channels and logs."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from qorgau.detect.complaint_waves import (
    CallFinder,
    ComplaintWave,
    ReportCall,
    ReportTarget,
    group_waves,
    slug,
    targets_from_people,
)
from qorgau.detect.interfaces import DetectorSpec, State
from qorgau.detect.model import BatchResult, DetectorFailure, Finding, Observation
from qorgau.detect.watchlist import PEOPLE_SCHEMA, ProtectedPerson, parse_people
from qorgau.errors import InvalidInput

NAME = "complaint_waves"
_HIGH_ACCOUNTS = 10
_HIGH_CALLS = 20

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["people"],
    "additionalProperties": False,
    "properties": {
        "people": PEOPLE_SCHEMA,
        "registry": {"description": "the protected-entity registry (not used here)"},
        "media": {"description": "the known-media registry (not used here)"},
        "min_calls": {
            "type": "integer",
            "minimum": 1,
            "maximum": 1000,
            "description": "calls to report one target needed for a wave (default 3)",
        },
        "min_accounts": {
            "type": "integer",
            "minimum": 1,
            "maximum": 1000,
            "description": "distinct accounts among them (default 2)",
        },
        "max_gap_hours": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 168,
            "description": "a longer silence between calls ends a wave (default 12)",
        },
    },
}


@dataclass(frozen=True)
class ComplaintWaveConfig:
    people: tuple[ProtectedPerson, ...]
    targets: tuple[ReportTarget, ...]
    finder: CallFinder
    min_calls: int = 3
    min_accounts: int = 2
    max_gap: timedelta = timedelta(hours=12)


def parse_config(raw: Mapping[str, Any]) -> ComplaintWaveConfig:
    if not isinstance(raw, Mapping):
        raise InvalidInput.single("config", "type", "the configuration is an object")
    known = tuple(CONFIG_SCHEMA["properties"])
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise InvalidInput.single(unknown[0], "unknown", "no such setting", known)
    if "people" not in raw:
        raise InvalidInput.single("people", "required", "list the people and outlets to watch")
    people = parse_people(raw["people"])
    targets = targets_from_people(people)
    gap = raw.get("max_gap_hours", 12)
    if (
        isinstance(gap, bool)
        or not isinstance(gap, int | float)
        or not math.isfinite(gap)
        or not 0 < gap <= 168
    ):
        raise InvalidInput.single(
            "max_gap_hours", "range", "a number of hours above 0, at most 168"
        )
    return ComplaintWaveConfig(
        people=people,
        targets=targets,
        finder=CallFinder(targets),
        min_calls=_count_setting(raw, "min_calls", 3),
        min_accounts=_count_setting(raw, "min_accounts", 2),
        max_gap=timedelta(hours=float(gap)),
    )


def _count_setting(raw: Mapping[str, Any], name: str, default: int) -> int:
    value = raw.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
        raise InvalidInput.single(name, "range", "a whole number from 1 to 1000")
    return value


class ComplaintWaves:
    spec: DetectorSpec[ComplaintWaveConfig] = DetectorSpec(
        name=NAME,
        help=(
            "Finds waves of public calls to mass-report a protected outlet's or person's "
            "account ('кидайте репорты', 'шағым түсіріңдер', 'mass report this account') that "
            "name its handle or name, in Russian, Kazakh and English."
        ),
        attack_types=("mass_complaints",),
        config_schema=CONFIG_SCHEMA,
        parse_config=parse_config,
        partition_key=lambda ob, config: _PARTITION if _calls(ob, config) else None,
    )

    def detect(
        self, batch: Sequence[Observation], config: ComplaintWaveConfig, state: State
    ) -> BatchResult:
        """Calls from this batch join the recent calls kept in state, so a wave whose posts
        arrive one batch at a time (a live feed) is found as surely as one imported whole."""
        fresh: list[ReportCall] = []
        failures: list[DetectorFailure] = []
        for ob in batch:
            try:
                fresh.extend(_calls(ob, config))
            except (ValueError, TypeError, AttributeError) as exc:
                failures.append(DetectorFailure(NAME, ob.id, f"{type(exc).__name__}: {exc}"))
        if not fresh:
            return BatchResult((), tuple(failures))
        kept = state.setdefault(_PARTITION, {"calls": []})
        new_ids = {c.observation_id for c in fresh}
        earlier = [_call_from_json(c) for c in kept["calls"] if c["observation_id"] not in new_ids]
        calls = sorted([*earlier, *fresh], key=lambda c: (c.time, c.observation_id))
        latest = calls[-1].time
        # A wave ends after a silence of max_gap: older calls can no longer join one.
        kept["calls"] = [_call_to_json(c) for c in calls if latest - c.time <= config.max_gap][
            -_KEPT_CALLS:
        ]
        waves = [
            w
            for w in group_waves(calls, config.targets, max_gap=config.max_gap)
            if len(w.observation_ids) >= config.min_calls
            and len(w.accounts) >= config.min_accounts
            and new_ids & set(w.observation_ids)  # only waves that grew in this batch
        ]
        by_target: dict[str, list[ComplaintWave]] = {}
        for wave in waves:
            by_target.setdefault(wave.target, []).append(wave)
        findings = tuple(_finding(target, found) for target, found in by_target.items())
        return BatchResult(findings, tuple(failures))


_PARTITION = "complaint-waves"
_KEPT_CALLS = 5000  # per organisation; a wave larger than this is reported long before


def _calls(ob: Observation, config: ComplaintWaveConfig) -> list[ReportCall]:
    return config.finder.calls(ob)


def _call_to_json(c: ReportCall) -> dict[str, Any]:
    return {
        "observation_id": c.observation_id,
        "account": c.account,
        "platform": c.platform,
        "time": c.time.astimezone(UTC).isoformat(),
        "target": c.target,
        "phrase": c.phrase,
        "lang": c.lang,
        "handles": list(c.handles),
    }


def _call_from_json(d: Mapping[str, Any]) -> ReportCall:
    return ReportCall(
        observation_id=str(d["observation_id"]),
        account=str(d["account"]),
        platform=str(d["platform"]),
        time=datetime.fromisoformat(str(d["time"])),
        target=str(d["target"]),
        phrase=str(d["phrase"]),
        lang=str(d["lang"]),
        handles=tuple(str(h) for h in d.get("handles", ())),
    )


def _finding(target: str, waves: Sequence[ComplaintWave]) -> Finding:
    observation_ids = tuple(dict.fromkeys(i for w in waves for i in w.observation_ids))
    accounts = tuple(dict.fromkeys(a for w in waves for a in w.accounts))
    platforms = sorted({p for w in waves for p in w.platforms})
    languages = sorted({c.lang for w in waves for c in w.calls})
    start, end = waves[0].start.astimezone(UTC), waves[-1].end.astimezone(UTC)
    severity = (
        "high"
        if len(accounts) >= _HIGH_ACCOUNTS or len(observation_ids) >= _HIGH_CALLS
        else "medium"
    )
    n = len(observation_ids)
    title = (
        f"Calls to mass-report {target}'s account: {n} post{'s' if n != 1 else ''} from "
        f"{len(accounts)} account{'s' if len(accounts) != 1 else ''}"
    )
    named = sum(1 for w in waves for c in w.calls if c.handles)
    explanation = (
        f"Between {start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M} UTC, {len(accounts)} "
        f"accounts on {', '.join(platforms)} called on others to report {target} "
        f"({', '.join(languages)}); {named} of the calls name the account's handle. Platforms "
        "act on the number of complaints: warn the platform's partner contact now, and record "
        "any strike or restriction of the account so an appeal can show this wave before it."
    )
    return Finding(
        detector=NAME,
        key=f"complaint-waves:{slug(target)}",
        title=title,
        explanation=explanation,
        attack_type="mass_complaints",
        observation_ids=observation_ids,
        subjects=waves[0].subjects,
        severity=severity,
        at=start,
        details={
            "target": target,
            "platforms": platforms,
            "languages": languages,
            "accounts": list(accounts),
            "calls_naming_handle": named,
            "waves": [
                {
                    "start": w.to_json()["start"],
                    "end": w.to_json()["end"],
                    "accounts": list(w.accounts),
                    "observation_ids": list(w.observation_ids),
                    "phrases": w.to_json()["phrases"],
                }
                for w in waves
            ],
        },
    )


DETECTOR = ComplaintWaves()
