"""Copy-paste campaigns: one text posted, with small edits, by many accounts within hours.

In 2025 one fake "invitation" went out in the names of an editor, the Prime Minister, two
governors and several journalists, posted by many accounts in Russian and in Kazakh (Cyrillic
and Latin script), each copy slightly edited. Responders need the accounts together (to report
them to the platforms at once), the time span, and a few of the copies as evidence, early enough
to warn the people named before the fake is taken for real.

The engine is ``qorgau.detect.near_duplicates``. Campaigns arrive across batches, so each
platform's recent posts (folded text, a short snippet, account, time) are kept as state, within
a time horizon and a cap, and every batch is compared together with that history. A campaign's
key is assigned when it is first reported and stays with its posts, so the copies that arrive
later grow the same incident. Organic sharing (many people posting one news link, each in their
own words) is not a cluster at all: links are removed before texts are compared."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from qorgau.detect import near_duplicates as engine
from qorgau.detect.interfaces import DetectorSpec, State
from qorgau.detect.model import BatchResult, DetectorFailure, Finding, Observation
from qorgau.detect.text_fold import fold, without_markup
from qorgau.detect.watchlist import PEOPLE_SCHEMA, ProtectedPerson, parse_people
from qorgau.errors import InvalidInput

NAME = "near_duplicate_texts"
KINDS = ("post", "comment", "message", "ad", "mention", "email")
_PASSED_TO_EVERY_DETECTOR = ("people", "registry", "media")
_SNIPPET = 280  # characters of each representative text shown in a finding
_STORED_FOLD = 600  # folded characters kept per post in state: enough for the shingles
_ACCOUNTS_LISTED = 50
_NUMBER = re.compile(r"\+?\d[\d\s().-]{5,}\d")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")

DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {
        "window_minutes": 120,
        "min_accounts": 8,
        "min_score": 0.7,
        "similarity": "auto",
        "min_chars": 30,
        "history_hours": 24,
        "history_limit": 5000,
        # Not ads: sellers' ads are formulaic by nature ("Сатамын ..., бағасы ... тг"), and
        # planted ads are the leaked-identifier detector's; add "ad" to compare them too.
        "kinds": ["post", "comment", "message"],
    }
)

CONFIG_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "people": PEOPLE_SCHEMA,
        "registry": {"description": "passed to every detector; not read by this one"},
        "media": {"description": "passed to every detector; not read by this one"},
        "window_minutes": {
            "type": "integer",
            "minimum": 5,
            "maximum": 1440,
            "description": "copies further apart than this are not linked directly",
        },
        "min_accounts": {
            "type": "integer",
            "minimum": 2,
            "maximum": 1000,
            "description": "distinct accounts needed before copies count as a campaign",
        },
        "min_score": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "description": "similarity times concentration in time needed to report a cluster",
        },
        "similarity": {
            "description": "Jaccard similarity of character 5-grams above which two texts are "
            "copies, or 'auto' to estimate it from the data",
            "oneOf": [
                {"type": "number", "minimum": 0.2, "maximum": 1},
                {"const": "auto"},
            ],
        },
        "min_chars": {
            "type": "integer",
            "minimum": 10,
            "maximum": 1000,
            "description": "shorter texts (after folding) are not compared",
        },
        "history_hours": {
            "type": "integer",
            "minimum": 1,
            "maximum": 168,
            "description": "how far back posts are kept between batches; a "
            "stock phrase people repeat all day spreads thin over a long history and is not "
            "taken for a burst (at least twice the window is kept whatever this says)",
        },
        "history_limit": {
            "type": "integer",
            "minimum": 100,
            "maximum": 50000,
            "description": "most recent posts kept between batches",
        },
        "kinds": {
            "type": "array",
            "items": {"enum": list(KINDS)},
            "uniqueItems": True,
            "minItems": 1,
        },
    },
}


@dataclass(frozen=True)
class NearDuplicateConfig:
    people: tuple[ProtectedPerson, ...]
    settings: engine.Settings
    history_seconds: float
    history_limit: int
    kinds: frozenset[str]
    folded_names: tuple[tuple[str, str], ...]  # (watchlist name, folded name) for subjects


def parse_config(raw: Mapping[str, Any]) -> NearDuplicateConfig:
    if not isinstance(raw, Mapping):
        raise InvalidInput.single("config", "type", "the configuration is an object")
    known = tuple(CONFIG_SCHEMA["properties"])
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise InvalidInput.single(unknown[0], "unknown", "no such setting", known)
    people = parse_people(raw.get("people", []))
    values = {**DEFAULTS, **{k: v for k, v in raw.items() if k not in _PASSED_TO_EVERY_DETECTOR}}
    window = _integer(values, "window_minutes", 5, 1440)
    min_accounts = _integer(values, "min_accounts", 2, 1000)
    min_score = _fraction(values, "min_score", 0.0)
    similarity_raw = values["similarity"]
    similarity = None if similarity_raw == "auto" else _fraction(values, "similarity", 0.2)
    kinds = values["kinds"]
    if isinstance(kinds, str) or not isinstance(kinds, Sequence) or not kinds:
        raise InvalidInput.single("kinds", "type", "a non-empty list of kinds", KINDS)
    for kind in kinds:
        if kind not in KINDS:
            raise InvalidInput.single("kinds", "enum", f"unknown kind {kind!r}", KINDS)
    settings = engine.Settings(
        window_seconds=window * 60.0,
        min_accounts=min_accounts,
        min_score=min_score,
        similarity=similarity,
        min_chars=_integer(values, "min_chars", 10, 1000),
    )
    names = tuple((p.name, fold(p.name)) for p in people if len(fold(p.name)) >= 4)
    return NearDuplicateConfig(
        people=people,
        settings=settings,
        history_seconds=max(2 * window * 60.0, _integer(values, "history_hours", 1, 168) * 3600.0),
        history_limit=_integer(values, "history_limit", 100, 50000),
        kinds=frozenset(kinds),
        folded_names=names,
    )


def _integer(values: Mapping[str, Any], name: str, low: int, high: int) -> int:
    value = values[name]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput.single(name, "range", f"a whole number from {low} to {high}")
    return value


def _fraction(values: Mapping[str, Any], name: str, low: float) -> float:
    value = values[name]
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not low <= value <= 1
    ):
        hint = " or 'auto'" if name == "similarity" else ""
        raise InvalidInput.single(name, "range", f"a number from {low:g} to 1{hint}")
    return float(value)


def partition_key(obs: Observation, config: NearDuplicateConfig) -> str | None:
    """One partition for every platform: a fake statement is pasted on Telegram, Facebook and
    X at once, and its copies must be compared whatever batch or worker brings them (per-
    platform state would make the answer depend on how batches were cut)."""
    if obs.kind not in config.kinds or not obs.text.strip():
        return None
    return "texts"


class NearDuplicateTexts:
    """The copy-paste campaign detector: stateful, one partition for all platforms."""

    def __init__(self) -> None:
        self._spec: DetectorSpec[NearDuplicateConfig] = DetectorSpec(
            name=NAME,
            help="Copy-paste campaigns: near-identical texts posted by several accounts within "
            "a short time, matched across Cyrillic and Latin script and despite small edits, "
            "emoji, hashtags and links. Many people sharing one link in their own words is "
            "not flagged.",
            attack_types=("coordinated_inauthentic",),
            config_schema=CONFIG_SCHEMA,
            parse_config=parse_config,
            partition_key=partition_key,
        )

    @property
    def spec(self) -> DetectorSpec[NearDuplicateConfig]:
        return self._spec

    def detect(
        self, batch: Sequence[Observation], config: NearDuplicateConfig, state: State
    ) -> BatchResult:
        failures: list[DetectorFailure] = []
        fresh: list[tuple[str, dict[str, Any]]] = []
        for obs in batch:
            key = partition_key(obs, config)
            if key is None:
                continue
            if obs.time.tzinfo is None or obs.time.utcoffset() is None:
                failures.append(
                    DetectorFailure(NAME, obs.id, "the observation's time has no time zone")
                )
                continue
            fresh.append((key, _stored(obs)))
        if not fresh:
            return BatchResult((), tuple(failures))
        posts = _history(state, {key for key, _ in fresh}, {p["id"] for _, p in fresh})
        first_new = len(posts)
        posts.extend(fresh)
        rows = [p for _, p in posts]
        folds = [r["fold"] for r in rows]
        candidates = engine.candidate_pairs(folds, [r["t"] for r in rows], config.settings)
        # Only history a new post can reach through LSH candidates (directly or through other
        # posts) can share a cluster with it; the rest was compared in earlier batches and is
        # not verified and clustered again at every batch.
        reach = _reachable(candidates, first_new, len(rows))
        sub = [rows[i] for i in reach]
        result = engine.find_clusters(
            [r["snippet"] for r in sub],
            [r["account"] for r in sub],
            [r["t"] for r in sub],
            config.settings,
            folded=[r["fold"] for r in sub],
        )
        new_ids = {p["id"] for _, p in fresh}
        findings = [
            _finding(cluster, sub, result, config)
            for cluster in result.clusters
            if any(sub[i]["id"] in new_ids for i in cluster.members)
        ]
        _save(state, posts, config)
        return BatchResult(tuple(findings), tuple(failures))


def _reachable(pairs: Sequence[tuple[int, int]], first_new: int, n: int) -> list[int]:
    """Rows connected to a row at or after ``first_new`` by candidate pairs, in row order."""
    neighbours: dict[int, list[int]] = {}
    for a, b in pairs:
        neighbours.setdefault(a, []).append(b)
        neighbours.setdefault(b, []).append(a)
    seen = set(range(first_new, n))
    stack = list(seen)
    while stack:
        for other in neighbours.get(stack.pop(), ()):
            if other not in seen:
                seen.add(other)
                stack.append(other)
    return sorted(seen)


def _stored(obs: Observation) -> dict[str, Any]:
    """What a post leaves in state: its comparison form and a short snippet, both with phone
    numbers and e-mail addresses hidden (state is stored, and campaigns often carry a
    protected person's contacts), never the full text."""
    hidden = redact(obs.text)
    return {
        "id": obs.id,
        "account": obs.account,
        "platform": obs.platform,
        "t": obs.time.timestamp(),
        "fold": fold(hidden)[:_STORED_FOLD],
        "snippet": hidden[:_SNIPPET],
        "key": None,
        "sent": False,
    }


def redact(text: str) -> str:
    """A text fit to show in a finding: phone numbers and e-mail addresses hidden, since
    campaigns often carry a protected person's contacts and findings travel to alert channels."""
    return _NUMBER.sub("[number]", _EMAIL.sub("[e-mail]", " ".join(text.split())))


def _history(
    state: State, partitions: set[str], incoming: set[str]
) -> list[tuple[str, dict[str, Any]]]:
    """The stored posts, minus any this batch brings again (a retried
    batch must not count a post twice)."""
    out: list[tuple[str, dict[str, Any]]] = []
    for key in sorted(partitions):
        for post in state.get(key, {}).get("posts", []):
            if post["id"] not in incoming:
                out.append((key, post))
    return out


def _save(
    state: State, posts: list[tuple[str, dict[str, Any]]], config: NearDuplicateConfig
) -> None:
    """The state keeps the posts of the last ``history_seconds`` before its newest post,
    at most ``history_limit`` of them, newest kept."""
    by_partition: dict[str, list[dict[str, Any]]] = {}
    for key, post in posts:
        by_partition.setdefault(key, []).append(post)
    for key, kept in by_partition.items():
        kept.sort(key=lambda p: (p["t"], p["id"]))
        horizon = kept[-1]["t"] - config.history_seconds
        recent = [p for p in kept if p["t"] >= horizon][-config.history_limit :]
        state[key] = {"posts": recent}


def _finding(
    cluster: engine.Cluster,
    rows: Sequence[dict[str, Any]],
    result: engine.Result,
    config: NearDuplicateConfig,
) -> Finding:
    members = [rows[i] for i in cluster.members]
    keys = [m["key"] for m in members if m["key"]]
    key = keys[0] if keys else engine.cluster_key(members[0]["id"])
    unsent = [m for m in members if not m["sent"]]
    for m in members:
        m["key"] = m["key"] or key
        m["sent"] = True
    start = datetime.fromtimestamp(cluster.start, UTC)
    end = datetime.fromtimestamp(cluster.end, UTC)
    minutes = max(1, round((cluster.end - cluster.start) / 60))
    accounts = len(cluster.accounts)
    platforms = sorted({m["platform"] for m in members})
    subjects = _subjects(members, config)
    latin = sum(1 for m in members if _mostly_latin(m["snippet"]))
    about = f" naming {_join(list(subjects))}" if subjects else ""
    title = f"{accounts} accounts posted copies of one text{about} within {_duration(minutes)}"
    lines = [
        f"{len(members)} posts by {accounts} different accounts on {_join(platforms)} carry "
        f"near-identical text between {start:%Y-%m-%d %H:%M} and {end:%H:%M} UTC "
        f"(mean similarity {cluster.similarity:.2f}, score {cluster.score:.2f}).",
    ]
    if 0 < latin < len(members):
        lines.append(
            f"{latin} of the copies are in Latin script and the rest in Cyrillic: the same "
            "text was re-written to reach both audiences."
        )
    lines.append(
        "Copies with small edits posted by many accounts in a short time usually come from "
        "one source; report the accounts to the platforms together"
        + (" and warn the people named that a fake text is circulating." if subjects else ".")
    )
    return Finding(
        detector=NAME,
        key=key,
        title=title,
        explanation=" ".join(lines),
        attack_type="coordinated_inauthentic",
        observation_ids=tuple(m["id"] for m in unsent),
        subjects=subjects,
        severity="high" if subjects else "medium",
        at=start,
        details={
            "accounts": list(cluster.accounts[:_ACCOUNTS_LISTED]),
            "account_count": accounts,
            "post_count": len(members),
            "start": start.isoformat(),
            "end": end.isoformat(),
            "platforms": platforms,
            "representatives": [
                {"observation_id": rows[i]["id"], "text": rows[i]["snippet"]}
                for i in cluster.representatives
            ],
            "score": cluster.score,
            "similarity": cluster.similarity,
            "concentration": cluster.concentration,
            "peak_accounts": cluster.peak_accounts,
            "threshold": round(result.threshold, 3),
            "threshold_estimated": result.estimated,
            "latin_script_copies": latin,
        },
    )


def _subjects(members: Sequence[dict[str, Any]], config: NearDuplicateConfig) -> tuple[str, ...]:
    """Protected people whose name appears in the copies (in either script)."""
    texts = [f" {m['fold']} " for m in members]
    return tuple(
        name for name, folded in config.folded_names if any(f" {folded} " in t for t in texts)
    )


def _mostly_latin(text: str) -> bool:
    text = without_markup(text)
    latin = sum(1 for ch in text if "a" <= ch.lower() <= "z" or "\u00c0" <= ch <= "\u024f")
    cyrillic = sum(1 for ch in text if "\u0400" <= ch <= "\u04ff")
    return latin > cyrillic


def _duration(minutes: int) -> str:
    if minutes < 120:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{minutes / 60:.1f} hours"


def _join(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


DETECTOR = NearDuplicateTexts()
