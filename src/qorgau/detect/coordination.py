"""Co-sharing coordination, computed the way CooRTweet computes it, so results can be compared
with the published literature and with other groups' analyses one for one.

Two accounts are linked when they share the same object (a URL, a re-shared post, an image
hash) within ``time_window`` seconds of each other. Following CooRTweet's ``detect_groups``:

1. accounts with fewer than ``min_participation`` shares in the whole input are set aside;
2. within each object, every pair of shares at most ``time_window`` seconds apart is a pair;
3. with ``remove_loops``, pairs of an account with itself, of a share with itself, or whose
   object is one of the shares (a post sharing itself) are dropped;
4. a pair stays if one of its shares belongs to an account that has at least
   ``min_participation`` shares among all the shares still in pairs;
5. each pair is oriented so that the older share comes first (input order breaks ties).

``coordination_network`` then aggregates the pairs per (unordered) account pair the way
``generate_coordinated_network`` does: weight (pairs), mean time difference, distinct shares on
each side, their symmetry, and whether the weight is above the ``edge_weight`` quantile of all
weights (R's default quantile, type 7).

Pairs are found per object with a sorted sweep instead of CooRTweet's all-pairs join, so an
object shared ten thousand times costs the pairs it has, not a hundred million comparisons."""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Share:
    object_id: str
    account_id: str
    content_id: str
    timestamp: float


@dataclass(frozen=True)
class Pair:
    """Two shares of one object close in time; ``content_id`` is the older one."""

    object_id: str
    content_id: str
    content_id_y: str
    time_delta: float
    account_id: str
    account_id_y: str


@dataclass(frozen=True)
class Edge:
    account: str  # the smaller id of the two
    account_y: str
    weight: int
    avg_time_delta: float
    n_content_id: int
    n_content_id_y: int
    edge_symmetry_score: float
    weight_threshold: int  # 1 when the weight is above the edge_weight quantile


def coordinated_pairs(
    shares: Sequence[Share],
    *,
    time_window: float = 10,
    min_participation: int = 2,
    remove_loops: bool = True,
) -> list[Pair]:
    per_account = Counter(s.account_id for s in shares)
    # CooRTweet's pre-filter regroups the rows by account (accounts in order of first
    # appearance, each account's rows in input order); that order is what pairs shares made at
    # the same second, so it is rebuilt here.
    first_seen: dict[str, int] = {}
    for s in shares:
        first_seen.setdefault(s.account_id, len(first_seen))
    regrouped = sorted(
        (s for s in shares if per_account[s.account_id] >= min_participation),
        key=lambda s: first_seen[s.account_id],
    )
    kept = list(enumerate(regrouped))
    by_object: dict[str, list[tuple[float, int, Share]]] = defaultdict(list)
    for position, s in kept:
        by_object[s.object_id].append((s.timestamp, position, s))
    found: list[tuple[int, int, Share, Share]] = []  # input positions, then the two shares
    for group in by_object.values():
        group.sort(key=lambda item: (item[0], item[1]))
        times = [item[0] for item in group]
        for i, (ts, pos, share) in enumerate(group):
            last = bisect.bisect_right(times, ts + time_window)
            for j in range(i + 1, last):
                _, other_pos, other = group[j]
                # CooRTweet pairs each share with the ones before it in input order; keep
                # that orientation (it decides the order of shares at the same second).
                first, second = (share, other) if pos < other_pos else (other, share)
                found.append((min(pos, other_pos), max(pos, other_pos), first, second))
    pairs = []
    for _, _, x, y in found:
        if remove_loops and (
            x.object_id in (x.content_id, y.content_id)
            or x.content_id == y.content_id
            or x.account_id == y.account_id
        ):
            continue
        pairs.append((x, y))
    if min_participation >= 1:
        pairs = _filter_min_participation([s for _, s in kept], pairs, min_participation)
    out = []
    for x, y in pairs:
        delta = x.timestamp - y.timestamp
        if delta > 0:
            x, y = y, x
        out.append(
            Pair(x.object_id, x.content_id, y.content_id, abs(delta), x.account_id, y.account_id)
        )
    return out


def _filter_min_participation(
    kept: Sequence[Share], pairs: list[tuple[Share, Share]], min_participation: int
) -> list[tuple[Share, Share]]:
    in_pairs = {s.content_id for pair in pairs for s in pair}
    counts = Counter(s.account_id for s in kept if s.content_id in in_pairs)
    qualifying = {
        s.content_id
        for s in kept
        if s.content_id in in_pairs and counts[s.account_id] >= min_participation
    }
    return [(x, y) for x, y in pairs if x.content_id in qualifying or y.content_id in qualifying]


def coordination_network(pairs: Iterable[Pair], edge_weight: float = 0.5) -> list[Edge]:
    """One edge per pair of accounts, in order of first appearance among the pairs."""
    if not 0 <= edge_weight <= 1:
        raise ValueError("edge_weight is a quantile between 0 and 1")
    grouped: dict[tuple[str, str], list[Pair]] = {}
    for p in pairs:
        key = (min(p.account_id, p.account_id_y), max(p.account_id, p.account_id_y))
        grouped.setdefault(key, []).append(p)
    weights = [len(ps) for ps in grouped.values()]
    threshold = quantile_type7(weights, edge_weight) if weights else 0.0
    edges = []
    for (a, b), ps in grouped.items():
        n_x = len({p.content_id for p in ps})
        n_y = len({p.content_id_y for p in ps})
        edges.append(
            Edge(
                account=a,
                account_y=b,
                weight=len(ps),
                avg_time_delta=sum(p.time_delta for p in ps) / len(ps),
                n_content_id=n_x,
                n_content_id_y=n_y,
                edge_symmetry_score=min(n_x, n_y) / max(n_x, n_y),
                weight_threshold=int(len(ps) > threshold),
            )
        )
    return edges


def quantile_type7(values: Sequence[float], q: float) -> float:
    """R's default ``quantile`` (linear interpolation between order statistics)."""
    ordered = sorted(values)
    h = (len(ordered) - 1) * q
    low = int(h)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (h - low) * (ordered[high] - ordered[low])
