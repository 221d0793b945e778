"""Co-sharing: accounts that keep sharing the same links, posts or images within seconds of
each other, seen as it happens.

The exact, whole-archive computation (equal to CooRTweet's, for comparison with published
analyses) is ``qorgau detect co-sharing`` over ``detect.coordination``. This detector is its
streaming form on the live pipeline: it pairs each share with the shares of the same object
in the last ``time_window`` seconds, across batch boundaries, and counts each account pair's
co-shares over ``horizon_hours``. Accounts joined by pairs that co-shared at least
``min_repeats`` distinct objects form a group; a group of ``min_accounts`` or more is a
finding. Requiring repeats is what keeps organic virality out: when a news link goes viral,
hundreds of accounts share it, many of them by chance within seconds of one another, but the
same pairs do not keep meeting on object after object.

The finding key is given to a group the first time it is reported and then kept by every
account in it, so a campaign that grows (or absorbs another) stays one incident."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import blake2b
from typing import Any

from qorgau.detect.config_values import choice_list
from qorgau.detect.interfaces import DetectorSpec, State
from qorgau.detect.model import BatchResult, Finding, Observation
from qorgau.errors import InvalidInput

NAME = "co_sharing"
_OBJECT_KINDS = ("url", "media", "post")
# Per-edge lists are capped: a pair that co-shared five hundred links is proven long before.
_EDGE_OBJECTS_KEPT = 20
_EDGE_OBSERVATIONS_KEPT = 40
_FINDING_OBSERVATIONS_KEPT = 500
# A viral link shared by thousands within a minute: each share is paired with the latest few
# hundred only, so the cost stays linear (a ring's members are always among the latest).
_RECENT_PER_OBJECT = 200


@dataclass(frozen=True)
class CoSharingConfig:
    time_window: float = 60.0  # seconds between two shares of one object
    min_repeats: int = 2  # distinct objects a pair must co-share
    min_accounts: int = 3
    horizon_hours: float = 72.0  # how long a pair's co-shares are remembered
    objects: frozenset[str] = frozenset({"url", "media", "post"})


CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "time_window": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 86400,
            "description": "seconds within which two shares of one object are a pair",
        },
        "min_repeats": {
            "type": "integer",
            "minimum": 1,
            "description": "distinct objects two accounts must co-share to be linked",
        },
        "min_accounts": {"type": "integer", "minimum": 2, "description": "smallest group"},
        "horizon_hours": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 2160,
            "description": "how long co-shares are remembered",
        },
        "objects": {
            "type": "array",
            "items": {"enum": ["url", "media", "post"]},
            "description": "what counts as the same object: links, media hashes, re-shared posts",
        },
        "people": {},
        "registry": {},
        "media": {},
    },
    "additionalProperties": False,
}


def parse_config(raw: Mapping[str, Any]) -> CoSharingConfig:
    unknown = sorted(set(raw) - set(CONFIG_SCHEMA["properties"]))
    if unknown:
        raise InvalidInput.single(
            unknown[0],
            "unknown",
            f"unknown setting {unknown[0]!r}",
            tuple(CONFIG_SCHEMA["properties"]),
        )
    default = CoSharingConfig()
    objects = choice_list(raw, "objects", _OBJECT_KINDS, sorted(default.objects), "object kind")
    return CoSharingConfig(
        time_window=_number(raw, "time_window", default.time_window, 0, 86400),
        min_repeats=int(_number(raw, "min_repeats", default.min_repeats, 1, 1000, integer=True)),
        min_accounts=int(
            _number(raw, "min_accounts", default.min_accounts, 2, 100000, integer=True)
        ),
        horizon_hours=_number(raw, "horizon_hours", default.horizon_hours, 0, 2160),
        objects=objects,
    )


def _number(
    raw: Mapping[str, Any],
    key: str,
    default: float,
    low: float,
    high: float,
    *,
    integer: bool = False,
) -> float:
    value = raw.get(key, default)
    ok_type = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok_type:
        kind = "a whole number" if integer else "a number"
        raise InvalidInput.single(key, "type", f"{key} must be {kind}")
    if not low < value <= high and not (integer and value == low):
        raise InvalidInput.single(key, "range", f"{key} must be between {low} and {high}")
    return float(value)


def _partition(ob: Observation, config: CoSharingConfig) -> str | None:
    """One state per platform: shares on different platforms are different objects."""
    return f"co_sharing:{ob.platform or 'unknown'}" if _objects(ob, config) else None


def _objects(ob: Observation, config: CoSharingConfig) -> list[str]:
    found: list[str] = []
    if "url" in config.objects:
        found.extend(f"url:{u}" for u in ob.urls)
    if "media" in config.objects:
        found.extend(f"media:{h}" for h in ob.media_hashes)
    if "post" in config.objects:
        for key in ("shared_post", "repost_of"):
            value = ob.extra.get(key) if ob.extra else None
            if isinstance(value, str | int) and str(value):
                found.append(f"post:{value}")
    return list(dict.fromkeys(found))


class CoSharingDetector:
    spec: DetectorSpec[CoSharingConfig] = DetectorSpec(
        name=NAME,
        help=(
            "Accounts that repeatedly share the same links, posts or images within seconds of "
            "each other (co-sharing coordination)."
        ),
        attack_types=("coordinated_inauthentic",),
        config_schema=CONFIG_SCHEMA,
        parse_config=parse_config,
        partition_key=_partition,
    )

    def detect(
        self, batch: Sequence[Observation], config: CoSharingConfig, state: State
    ) -> BatchResult:
        touched: dict[str, set[str]] = {}  # partition -> edges updated in this batch
        for ob in batch:
            part = _partition(ob, config)
            if part is None or not ob.account:
                continue
            if ob.time.tzinfo is None:
                raise ValueError("observation time has no time zone")
            st = state.setdefault(part, {"shares": {}, "edges": {}, "groups": {}, "latest": 0.0})
            ts = ob.time.timestamp()
            st["latest"] = max(float(st["latest"]), ts)
            updated = touched.setdefault(part, set())
            for obj in _objects(ob, config):
                recent = st["shares"].setdefault(obj, [])
                for other_ts, other_account, other_id in recent:
                    if other_account == ob.account or abs(ts - other_ts) > config.time_window:
                        continue
                    updated.add(
                        _add_pair(st, obj, (ob.account, ob.id), (other_account, other_id), ts)
                    )
                recent.append([ts, ob.account, ob.id])
                if len(recent) > _RECENT_PER_OBJECT:
                    del recent[0]
        findings: list[Finding] = []
        for part, updated in touched.items():
            st = state[part]
            _prune(st, config)
            findings.extend(_groups(part, st, updated, config))
        return BatchResult(tuple(findings))


def _add_pair(
    st: dict[str, Any], obj: str, a: tuple[str, str], b: tuple[str, str], ts: float
) -> str:
    first, second = sorted((a, b))
    key = f"{first[0]}\t{second[0]}"
    edge = st["edges"].setdefault(key, {"objects": [], "obs": [], "last": ts})
    if obj not in edge["objects"]:
        edge["objects"] = (edge["objects"] + [obj])[-_EDGE_OBJECTS_KEPT:]
        edge["count"] = int(edge.get("count", 0)) + 1
    for ob_id in (first[1], second[1]):
        if ob_id not in edge["obs"]:
            edge["obs"] = (edge["obs"] + [ob_id])[-_EDGE_OBSERVATIONS_KEPT:]
    edge["last"] = max(float(edge["last"]), ts)
    return key


def _prune(st: dict[str, Any], config: CoSharingConfig) -> None:
    """Forget shares older than the window and pairs older than the horizon: state stays the
    size of recent activity, not of the archive."""
    latest = float(st["latest"])
    shares = st["shares"]
    for obj in list(shares):
        kept = [s for s in shares[obj] if latest - s[0] <= config.time_window]
        if kept:
            shares[obj] = kept
        else:
            del shares[obj]
    horizon = config.horizon_hours * 3600
    edges = st["edges"]
    for key in [k for k, e in edges.items() if latest - float(e["last"]) > horizon]:
        del edges[key]
    live_accounts = {a for k in edges for a in k.split("\t")}
    groups = st["groups"]
    for account in [a for a in groups if a not in live_accounts]:
        del groups[account]


def _groups(
    part: str, st: dict[str, Any], updated: set[str], config: CoSharingConfig
) -> list[Finding]:
    strong = {k: e for k, e in st["edges"].items() if int(e.get("count", 0)) >= config.min_repeats}
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for key in strong:
        a, b = key.split("\t")
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    members: dict[str, list[str]] = {}
    for account in parent:
        members.setdefault(root(account), []).append(account)
    findings = []
    for accounts in members.values():
        if len(accounts) < config.min_accounts:
            continue
        account_set = set(accounts)
        edges = {k: e for k, e in strong.items() if k.split("\t")[0] in account_set}
        if not updated & set(edges):
            continue  # nothing new for this group in this batch
        key = _group_key(part, st["groups"], sorted(accounts))
        findings.append(_finding(part, key, sorted(accounts), edges))
    return findings


def _group_key(part: str, groups: dict[str, str], accounts: list[str]) -> str:
    """The oldest key any member already carries, else a new one; every member then carries
    it, so a group that grows or merges stays one campaign."""
    known = sorted({groups[a] for a in accounts if a in groups})
    key = known[0] if known else _new_key(part, accounts)
    for account in accounts:
        groups[account] = key
    return key


def _new_key(part: str, accounts: list[str]) -> str:
    digest = blake2b("\n".join(accounts).encode(), digest_size=8).hexdigest()
    return f"{part}:{digest}"


def _finding(part: str, key: str, accounts: list[str], edges: Mapping[str, Any]) -> Finding:
    objects = sorted({o for e in edges.values() for o in e["objects"]})
    obs_ids = list(dict.fromkeys(o for e in edges.values() for o in e["obs"]))
    last = max(float(e["last"]) for e in edges.values())
    platform = part.split(":", 1)[1]
    strongest = sorted(edges.items(), key=lambda kv: -int(kv[1]["count"]))[:10]
    return Finding(
        detector=NAME,
        key=key,
        title=f"{len(accounts)} accounts co-sharing the same content on {platform}",
        explanation=(
            f"{len(accounts)} accounts on {platform} repeatedly shared the same "
            f"{len(objects)} links, posts or images within seconds of each other "
            f"({len(edges)} linked pairs). Ordinary audiences share popular links too, but the "
            "same pairs of accounts do not keep meeting on object after object."
        ),
        attack_type="coordinated_inauthentic",
        observation_ids=tuple(obs_ids[:_FINDING_OBSERVATIONS_KEPT]),
        severity="medium" if len(accounts) < 10 else "high",
        at=datetime.fromtimestamp(last, UTC),
        details={
            "platform": platform,
            "accounts": accounts,
            "objects": objects[:50],
            "pairs": [
                {"accounts": k.split("\t"), "co_shared": int(e["count"])} for k, e in strongest
            ],
        },
    )


DETECTOR = CoSharingDetector()
