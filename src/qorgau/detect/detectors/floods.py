"""Floods of calls, text messages, direct messages or mentions aimed at a protected person.

When a journalist's number is planted in fake classified ads, strangers call it around the
clock: in the Orda.kz case calls went from about five an hour to about 120. The responder needs
to know within minutes, and needs the onset time to tie the flood to the ads that caused it.

Each person's traffic on each channel is one partition, compared with that person's own usual
rate for the hour of the week (``qorgau.detect.baseline``) by a Poisson CUSUM
(``qorgau.detect.cusum``); the bookkeeping per partition is in ``qorgau.detect.flood_state``.
A flood is reported once at the alarm and again, under the same key, as it grows and when it
ends, so the integrator can keep one incident per flood."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from qorgau.detect import flood_state
from qorgau.detect.interfaces import DetectorSpec, State
from qorgau.detect.model import BatchResult, DetectorFailure, Finding, Observation
from qorgau.detect.watchlist import PEOPLE_SCHEMA, ProtectedPerson, parse_people
from qorgau.errors import InvalidInput

NAME = "floods"
CHANNELS = ("calls", "sms", "messages", "mentions")
_KIND_CHANNEL = {
    "call": "calls",
    "sms": "sms",
    "message": "messages",
    "post": "mentions",
    "comment": "mentions",
    "mention": "mentions",
}
_MENTION = re.compile(r"@([\w.]+)")
_TOP_SOURCES = 10

# (plural noun, what a source is) per channel, for the plain-English explanation.
_WORDS = {
    "calls": ("calls", "numbers"),
    "sms": ("text messages", "numbers"),
    "messages": ("direct messages", "accounts"),
    "mentions": ("posts mentioning them", "accounts"),
}

DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {
        "bin_seconds": 60,
        "rate_ratio": 8.0,
        "threshold": 6.0,
        "threshold_all": 14.0,
        "min_baseline_per_hour": 1.0,
        "prior_baseline_per_hour": 10.0,
        "repeat_window_seconds": 600,
        "channels": list(CHANNELS),
    }
)

CONFIG_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "required": ["people"],
    "additionalProperties": False,
    "properties": {
        "people": PEOPLE_SCHEMA,
        "bin_seconds": {
            "type": "integer",
            "minimum": 10,
            "maximum": 3600,
            "description": "length of a counting bin; must divide an hour",
        },
        "rate_ratio": {
            "type": "number",
            "exclusiveMinimum": 1,
            "maximum": 1000,
            "description": "the rise, as a multiple of the usual rate, the test is tuned to",
        },
        "threshold": {
            "type": "number",
            "exclusiveMinimum": 0,
            "description": "evidence (log-likelihood ratio) needed to raise the alarm on "
            "contacts from new sources",
        },
        "threshold_all": {
            "type": "number",
            "exclusiveMinimum": 0,
            "description": "evidence needed to raise the alarm on all contacts, known ones "
            "included (higher: busy days bring many calls from known people)",
        },
        "min_baseline_per_hour": {
            "type": "number",
            "exclusiveMinimum": 0,
            "description": "floor under the usual rate, so a quiet night is not a zero",
        },
        "prior_baseline_per_hour": {
            "type": "number",
            "exclusiveMinimum": 0,
            "description": "assumed usual rate before a person's own traffic has been seen",
        },
        "repeat_window_seconds": {
            "type": "integer",
            "minimum": 0,
            "description": "repeated contacts from one source within this window count once",
        },
        "channels": {
            "type": "array",
            "items": {"enum": list(CHANNELS)},
            "uniqueItems": True,
        },
        # The desk hands every detector the organisation's registries; floods need neither.
        "registry": {},
        "media": {},
    },
}


@dataclass(frozen=True)
class FloodConfig:
    people: tuple[ProtectedPerson, ...]
    settings: flood_state.Settings
    channels: frozenset[str]
    # Derived look-ups from an identifier to the person's watchlist name.
    by_phone: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    by_handle: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)


def parse_config(raw: Mapping[str, Any]) -> FloodConfig:
    if not isinstance(raw, Mapping):
        raise InvalidInput.single("config", "type", "the configuration is an object")
    unknown = sorted(set(raw) - set(CONFIG_SCHEMA["properties"]))
    if unknown:
        raise InvalidInput.single(
            unknown[0], "unknown", "no such setting", tuple(CONFIG_SCHEMA["properties"])
        )
    if "people" not in raw:
        raise InvalidInput.single("people", "required", "list the people to watch")
    people = parse_people(raw["people"])
    values = {**DEFAULTS, **{k: v for k, v in raw.items() if k != "people"}}
    bin_seconds = _integer(values, "bin_seconds", 10, 3600)
    if 3600 % bin_seconds:
        raise InvalidInput.single("bin_seconds", "divides_hour", "use a divisor of 3600 seconds")
    ratio = _number(values, "rate_ratio", 1.0)
    if ratio > 1000:
        raise InvalidInput.single("rate_ratio", "maximum", "at most 1000")
    channels = values["channels"]
    if isinstance(channels, str) or not isinstance(channels, Sequence):
        raise InvalidInput.single("channels", "type", "a list of channels", CHANNELS)
    for item in channels:
        if item not in CHANNELS:
            raise InvalidInput.single("channels", "enum", f"unknown channel {item!r}", CHANNELS)
    settings = flood_state.Settings(
        bin_seconds=bin_seconds,
        rate_ratio=ratio,
        threshold=_number(values, "threshold", 0.0),
        threshold_all=_number(values, "threshold_all", 0.0),
        min_baseline_per_hour=_number(values, "min_baseline_per_hour", 0.0),
        prior_baseline_per_hour=_number(values, "prior_baseline_per_hour", 0.0),
        repeat_window_seconds=_integer(values, "repeat_window_seconds", 0, 7 * 86400),
    )
    by_phone: dict[str, str] = {}
    by_handle: dict[str, str] = {}
    for person in people:
        for phone in person.phones:
            by_phone.setdefault(phone, person.name)
        for handle in person.handles:
            by_handle.setdefault(handle, person.name)
    return FloodConfig(
        people=people,
        settings=settings,
        channels=frozenset(channels),
        by_phone=MappingProxyType(by_phone),
        by_handle=MappingProxyType(by_handle),
    )


def _integer(values: Mapping[str, Any], name: str, low: int, high: int) -> int:
    value = values[name]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput.single(name, "range", f"a whole number from {low} to {high}")
    return value


def _number(values: Mapping[str, Any], name: str, above: float) -> float:
    value = values[name]
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= above
    ):
        raise InvalidInput.single(name, "range", f"a number greater than {above:g}")
    return float(value)


def partition_key(obs: Observation, config: FloodConfig) -> str | None:
    """``"<person>|<channel>"`` for traffic addressed to a protected person, else None.

    When one observation is addressed to several protected people (a group text), it counts
    for the first of them in watchlist order: a partition key is one string."""
    channel = _KIND_CHANNEL.get(obs.kind)
    if channel is None or channel not in config.channels:
        return None
    person = _addressee(obs, channel, config)
    return None if person is None else f"{person}|{channel}"


def _addressee(obs: Observation, channel: str, config: FloodConfig) -> str | None:
    if channel in ("calls", "sms", "messages"):
        for recipient in obs.recipients:
            name = config.by_phone.get(_phone_key(recipient))
            if name is None and channel == "messages":
                name = config.by_handle.get(recipient.strip().lstrip("@").lower())
            if name is not None:
                return name
        return None
    handles = (
        [r.strip().lstrip("@").lower() for r in obs.recipients] if obs.kind == "mention" else []
    )
    handles += [m.lower().rstrip(".") for m in _MENTION.findall(obs.text)]
    for handle in handles:
        name = config.by_handle.get(handle)
        if name is not None:
            return name
    return None


def _phone_key(value: str) -> str:
    """E.164 from the forms call logs use, without the cost of a full phone-number parser."""
    digits = "".join(ch for ch in value if ch.isdigit())
    if len(digits) == 11 and digits[0] == "8" and not value.lstrip().startswith("+"):
        digits = "7" + digits[1:]  # the Kazakh and Russian trunk prefix
    return "+" + digits


class FloodDetector:
    """The flood detector: stateful, one partition per person and channel."""

    def __init__(self) -> None:
        self._spec: DetectorSpec[FloodConfig] = DetectorSpec(
            name=NAME,
            help="Sudden floods of calls, texts, messages or mentions aimed at a protected "
            "person, measured against that person's own usual traffic for the hour of the week.",
            attack_types=("phone_flooding", "harassment_campaign"),
            config_schema=CONFIG_SCHEMA,
            parse_config=parse_config,
            partition_key=partition_key,
        )

    @property
    def spec(self) -> DetectorSpec[FloodConfig]:
        return self._spec

    def detect(
        self, batch: Sequence[Observation], config: FloodConfig, state: State
    ) -> BatchResult:
        findings: list[Finding] = []
        failures: list[DetectorFailure] = []
        touched: dict[str, None] = {}
        for obs in batch:
            key = partition_key(obs, config)
            if key is None:
                continue
            problem = _problem(obs)
            if problem is not None:
                failures.append(DetectorFailure(NAME, obs.id, problem))
                continue
            ts = obs.time.timestamp()
            st = state.get(key)
            if st is None:
                st = flood_state.new_state(ts, config.settings)
                state[key] = st
            for flood in flood_state.observe(st, config.settings, obs.id, ts, obs.account):
                findings.append(_finding(key, st, flood))
            touched[key] = None
        for key in touched:
            flood = state[key]["flood"]
            if flood is not None and (flood["emit_ids"] or flood["emissions"] == 0):
                findings.append(_finding(key, state[key], flood))
        return BatchResult(tuple(findings), tuple(failures))


def _problem(obs: Observation) -> str | None:
    if not isinstance(obs.time, datetime):
        return "the observation has no time"
    if obs.time.tzinfo is None or obs.time.utcoffset() is None:
        return "the observation's time has no time zone; floods are counted by the clock"
    return None


def _finding(key: str, st: dict[str, Any], flood: dict[str, Any]) -> Finding:
    """The report of a flood so far; consumes the observation ids gathered since the last one."""
    person, channel = key.rsplit("|", 1)
    onset = datetime.fromtimestamp(flood["onset"], UTC)
    end = flood["ended_at"]
    last = end if end is not None else max(flood["last_event"], flood["onset"] + 60)
    hours = max((last - flood["onset"]) / flood_state.SECONDS_PER_HOUR, 1 / 60)
    rate = flood["counted"] / hours
    usual = flood["usual_per_hour"]
    sources = {s: n for s, n in flood["sources"].items() if s}
    distinct = len(sources) + flood["sources_overflow"]
    new = sum(1 for s in sources if flood_state.is_new_source(st, s))
    top = sorted(sources.items(), key=lambda kv: (-kv[1], kv[0]))[:_TOP_SOURCES]
    noun, source_noun = _WORDS[channel]
    stamp = f"{onset:%Y-%m-%d %H:%M} UTC"
    title = f"Flood of {noun} to {person} since {stamp}"
    explanation = (
        f"{noun.capitalize()} to {person} jumped at {stamp} to about {rate:.0f} an hour; "
        f"at this time of the week they usually get about {usual:.1f} an hour. "
        f"{flood['observations']} so far from {distinct} different {source_noun}, "
        f"{new} of which had not contacted them before. "
        + (
            f"The flood ended at {datetime.fromtimestamp(end, UTC):%Y-%m-%d %H:%M} UTC."
            if end is not None
            else "It is still going on."
        )
    )
    ids = tuple(flood["emit_ids"])
    dropped = flood["emit_dropped"]
    flood["emit_ids"] = []
    flood["emit_dropped"] = 0
    flood["emissions"] += 1
    return Finding(
        detector=NAME,
        key=f"flood:{person}:{channel}:{onset:%Y-%m-%dT%H:%M}Z",
        title=title,
        explanation=explanation,
        attack_type="phone_flooding" if channel in ("calls", "sms") else "harassment_campaign",
        observation_ids=ids,
        subjects=(person,),
        severity="high",
        at=onset,
        details={
            "person": person,
            "channel": channel,
            "onset": onset.isoformat(),
            "detected_at": datetime.fromtimestamp(flood["detected"], UTC).isoformat(),
            "ended_at": None if end is None else datetime.fromtimestamp(end, UTC).isoformat(),
            "rate_per_hour": round(rate, 1),
            "baseline_per_hour": round(usual, 2),
            "sources": [
                {"source": s, "count": n, "new": flood_state.is_new_source(st, s)} for s, n in top
            ],
            "distinct_sources": distinct,
            "new_sources": new,
            "trigger": "new sources" if flood["trigger"] == "new" else "all sources",
            "observation_count": flood["observations"],
            "observation_ids_left_out": dropped,
            "update": flood["emissions"],
        },
    )


DETECTOR = FloodDetector()
