"""Near-duplicate texts posted by many accounts within a short time: copy-paste campaigns.

The method, end to end:

1. Every text is folded (``qorgau.detect.text_fold``: scripts, look-alikes, emoji, hashtags,
   links) and cut into overlapping character 5-grams, hashed in bulk with NumPy.
2. rensa computes a MinHash signature per text and an LSH index over bands of it, which flags
   every text that shares a band with another; only flagged texts go on, a tiny share of a
   normal stream. Their band keys are grouped to list the candidate pairs.
3. Each candidate pair is verified by the exact Jaccard similarity of its shingle sets (as
   64-bit hashes): MinHash only proposes, the decision is made on the texts.
4. The similarity threshold is estimated from the data. Candidates are a mixture of pairs that
   met by chance in a band (low similarity) and copies (high similarity); Otsu's method on the
   histogram of verified similarities finds the split that best separates the two modes. The
   estimate is kept only when the mixture is really there (enough pairs, both modes populated,
   their means far apart) and is clamped to [floor, ceiling]; otherwise the configured default
   is used. A batch made only of one campaign's copies has no chance mode, which is exactly when
   an estimate would wrongly cut the campaign in two.
5. Pairs above the threshold and at most ``window_seconds`` apart are edges; clusters are the
   connected components. Identical folded texts are indexed once and linked in time order, so
   ten thousand identical posts cost ten thousand links, not fifty million pairs.
6. A cluster counts only with ``min_accounts`` distinct accounts within one window (one account
   repeating itself is not a campaign, nor is a stock phrase a few people type now and then).
   Its score is its mean verified similarity times its concentration: the largest share of its
   accounts seen within any one window. Copies fired off within an hour score near their
   similarity; the same headline shared by a share button over a whole day spreads thin and
   scores low.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import rensa  # type: ignore[import-untyped]

from qorgau.detect.text_fold import SHINGLE_SIZE, fold, jaccard, shingles

U64 = npt.NDArray[np.uint64]
_FNV_PRIME = np.uint64(1099511628211)
_MIX_1 = np.uint64(0xFF51AFD7ED558CCD)
_MIX_2 = np.uint64(0xC4CEB9FE1A85EC53)
_CHUNK = 50_000  # texts hashed at a time: bounds the NumPy arrays to tens of megabytes


@dataclass(frozen=True)
class Settings:
    window_seconds: float = 7200.0
    min_accounts: int = 8
    min_score: float = 0.6
    similarity: float | None = None  # None: estimated from the data (see the module docstring)
    default_similarity: float = 0.6
    similarity_floor: float = 0.5
    similarity_ceiling: float = 0.8
    min_chars: int = 30  # folded characters; shorter texts ("+1", "thanks") are not compared
    num_perm: int = 80  # 16 bands of 5: a pair at 0.7 meets in a band 94% of the time, at 0.3 4%
    bands: int = 16
    seed: int = 7
    bucket_cap: int = 40  # a band bucket bigger than this links each text to its time neighbours


@dataclass(frozen=True)
class Cluster:
    members: tuple[int, ...]  # row indices, in time order
    accounts: tuple[str, ...]  # distinct, in order of first post
    start: float
    end: float
    similarity: float  # mean verified similarity of the cluster's edges
    concentration: float  # largest share of its accounts within one window
    peak_accounts: int  # most distinct accounts within one window
    score: float
    representatives: tuple[int, ...]  # most connected copy, first copy, most edited copy


@dataclass(frozen=True)
class Result:
    clusters: tuple[Cluster, ...]  # campaigns: enough accounts and a high enough score
    threshold: float
    estimated: bool  # True when the threshold came from the data
    candidate_pairs: int
    verified_pairs: int  # candidates at or above the threshold


def shingle_hashes(folded: Sequence[str], size: int = SHINGLE_SIZE) -> tuple[U64, U64]:
    """64-bit hashes of every character ``size``-gram of every text, flat, with row offsets
    (row ``i`` is ``hashes[offsets[i]:offsets[i + 1]]``), as rensa's bulk signature call reads
    them. Texts shorter than ``size`` hash as one gram."""
    parts: list[U64] = []
    counts: list[npt.NDArray[np.int64]] = []
    for lo in range(0, len(folded), _CHUNK):
        chunk_hashes, chunk_counts = _chunk_hashes(folded[lo : lo + _CHUNK], size)
        parts.append(chunk_hashes)
        counts.append(chunk_counts)
    flat = np.concatenate(parts) if parts else np.zeros(0, np.uint64)
    per_row = np.concatenate(counts) if counts else np.zeros(0, np.int64)
    offsets = np.zeros(len(per_row) + 1, np.uint64)
    np.cumsum(per_row, out=offsets[1:])
    return flat, offsets


def _chunk_hashes(texts: Sequence[str], size: int) -> tuple[U64, npt.NDArray[np.int64]]:
    padded = [t if len(t) >= size else t.ljust(size, "\x01") for t in texts]
    codes = np.frombuffer(("\x00".join(padded) + "\x00").encode("utf-32-le"), dtype=np.uint32)
    n = len(codes) - size + 1
    if n <= 0:
        return np.zeros(0, np.uint64), np.zeros(len(texts), np.int64)
    wide = codes.astype(np.uint64)
    h = wide[:n].copy()
    for j in range(1, size):
        h *= _FNV_PRIME
        h ^= wide[j : j + n]
    h ^= h >> np.uint64(33)
    h *= _MIX_1
    h ^= h >> np.uint64(33)
    h *= _MIX_2
    h ^= h >> np.uint64(33)
    separators = np.concatenate(([0], np.cumsum(codes == 0)))
    clean = separators[size : size + n] - separators[:n] == 0
    row = separators[:n][clean]
    return h[clean], np.bincount(row, minlength=len(texts)).astype(np.int64)


@dataclass(frozen=True)
class Prepared:
    """The per-text work (folding and shingle hashes), apart from the comparison so that a
    caller with a large input can spread it over processes and ``concat`` the parts."""

    folded: list[str]
    hashes: U64  # flat, see ``shingle_hashes``
    offsets: U64

    @classmethod
    def concat(cls, parts: Sequence[Prepared]) -> Prepared:
        folded = [f for part in parts for f in part.folded]
        hashes = np.concatenate([p.hashes for p in parts]) if parts else np.zeros(0, np.uint64)
        counts = (
            np.concatenate([np.diff(p.offsets) for p in parts]) if parts else np.zeros(0, np.uint64)
        )
        offsets = np.zeros(len(folded) + 1, np.uint64)
        np.cumsum(counts, out=offsets[1:])
        return cls(folded, hashes, offsets)

    def rows(self, indices: Sequence[int]) -> tuple[U64, U64]:
        """The flat hashes and offsets of the chosen rows only (in the order given)."""
        picked = np.asarray(indices, dtype=np.int64)
        starts = self.offsets[picked].astype(np.int64)
        lengths = self.offsets[picked + 1].astype(np.int64) - starts
        offsets = np.zeros(len(picked) + 1, np.uint64)
        np.cumsum(lengths, out=offsets[1:])
        if len(picked) > 1 and bool(np.all(picked[1:] > picked[:-1])):
            # Rows in order (the common case): one boolean mask over the flat array.
            keep = np.zeros(len(self.offsets) - 1, dtype=bool)
            keep[picked] = True
            return self.hashes[np.repeat(keep, np.diff(self.offsets).astype(np.int64))], offsets
        within = np.arange(int(offsets[-1]), dtype=np.int64) - np.repeat(
            offsets[:-1].astype(np.int64), lengths
        )
        return self.hashes[np.repeat(starts, lengths) + within], offsets

    def shingle_set(self, row: int) -> set[int]:
        """The row's shingles, as their 64-bit hashes: exact for verification, since two
        different 5-grams share a hash with odds of about one in 10^19."""
        return set(self.hashes[int(self.offsets[row]) : int(self.offsets[row + 1])].tolist())


def prepare(texts: Sequence[str]) -> Prepared:
    folded = [fold(t) for t in texts]
    return prepare_folded(folded)


def prepare_parallel(texts: Sequence[str], workers: int, chunk: int = 50_000) -> Prepared:
    """``prepare`` spread over ``workers`` processes, for archives of millions of posts.

    Each worker writes its shingle hashes to a file and sends back only the folded texts:
    sending a million posts' hashes (about a gigabyte) back through the pool's pipe cost more
    than computing them."""
    if workers <= 1 or len(texts) <= chunk:
        return prepare(texts)
    import tempfile
    from concurrent.futures import ProcessPoolExecutor
    from pathlib import Path

    with tempfile.TemporaryDirectory(prefix="qorgau-shingles-") as tmp:
        with ProcessPoolExecutor(workers) as pool:
            futures = [
                pool.submit(_prepare_to_file, list(texts[i : i + chunk]), f"{tmp}/{i}.npz")
                for i in range(0, len(texts), chunk)
            ]
            folded_parts = [f.result() for f in futures]
        parts = []
        for i, folded in zip(range(0, len(texts), chunk), folded_parts, strict=True):
            with np.load(Path(tmp) / f"{i}.npz") as arrays:
                parts.append(Prepared(folded, arrays["hashes"], arrays["offsets"]))
        return Prepared.concat(parts)


def _prepare_to_file(texts: list[str], path: str) -> list[str]:
    ready = prepare(texts)
    np.savez(path, hashes=ready.hashes, offsets=ready.offsets)
    return ready.folded


def prepare_folded(folded: list[str]) -> Prepared:
    hashes, offsets = shingle_hashes(folded)
    return Prepared(folded, hashes, offsets)


def _signatures(hashes: U64, offsets: U64, settings: Settings) -> Any:
    """rensa's compact signature matrix, one row per text."""
    return rensa.RMinHash.digest_matrix_from_flat_token_hashes(
        hashes, offsets, settings.num_perm, settings.seed
    )


def candidate_pairs(
    folded: Sequence[str],
    times: Sequence[float],
    settings: Settings,
    prepared: Prepared | None = None,
) -> list[tuple[int, int]]:
    """Pairs of texts sharing at least one LSH band: rensa's index flags the texts that have a
    partner, their signatures are then grouped band by band to name the partners. ``prepared``
    (when given) holds the texts' shingle hashes already, row for row."""
    if len(folded) < 2:
        return []
    ready = prepared if prepared is not None else prepare_folded(list(folded))
    matrix = _signatures(ready.hashes, ready.offsets, settings)
    lsh = rensa.RMinHashLSH(0.5, settings.num_perm, settings.bands)
    flags = np.asarray(lsh.insert_matrix_and_query_duplicate_flags(matrix), dtype=bool)
    flagged = np.flatnonzero(flags).tolist()
    if len(flagged) < 2:
        return []
    sub = _signatures(*ready.rows(flagged), settings)
    rows = np.asarray(sub.to_rows(), dtype=np.uint64)
    order_times = np.asarray([times[i] for i in flagged], dtype=np.float64)
    pairs: set[tuple[int, int]] = set()
    width = settings.num_perm // settings.bands
    for band in range(settings.bands):
        block = rows[:, band * width : (band + 1) * width]
        keys = np.ascontiguousarray(block).view(np.dtype((np.void, block.dtype.itemsize * width)))
        keys = keys.ravel()
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        starts = np.flatnonzero(np.concatenate(([True], sorted_keys[1:] != sorted_keys[:-1])))
        ends = np.append(starts[1:], len(order))
        for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
            if hi - lo < 2:
                continue
            members = order[lo:hi]
            _bucket_pairs(members, order_times, settings.bucket_cap, pairs)
    return sorted((flagged[a], flagged[b]) for a, b in pairs)


def _bucket_pairs(
    members: npt.NDArray[np.intp],
    times: npt.NDArray[np.float64],
    cap: int,
    out: set[tuple[int, int]],
) -> None:
    """All pairs of a small bucket; in a big one (a mass campaign, or a boilerplate phrase)
    each text meets only its ``cap`` nearest neighbours in time, which keeps every cluster
    connected at a cost linear in its size."""
    if len(members) <= cap:
        ms = sorted(members.tolist())
        out.update((a, b) for i, a in enumerate(ms) for b in ms[i + 1 :])
        return
    by_time = members[np.argsort(times[members], kind="stable")].tolist()
    for i, a in enumerate(by_time):
        for b in by_time[i + 1 : i + 1 + cap]:
            out.add((a, b) if a < b else (b, a))


def estimate_threshold(similarities: Sequence[float], settings: Settings) -> float | None:
    """Otsu's split of the verified candidate similarities, or None when the data do not show
    two modes clearly enough to trust one (see the module docstring)."""
    values = np.asarray(similarities, dtype=np.float64)
    if len(values) < 30:
        return None
    counts, edges = np.histogram(values, bins=50, range=(0.0, 1.0))
    centres = (edges[:-1] + edges[1:]) / 2
    total = counts.sum()
    best, best_split = -1.0, -1
    for split in range(1, len(counts)):
        low, high = counts[:split].sum(), counts[split:].sum()
        if low == 0 or high == 0:
            continue
        mean_low = float((counts[:split] * centres[:split]).sum() / low)
        mean_high = float((counts[split:] * centres[split:]).sum() / high)
        between = float(low * high) / float(total) ** 2 * (mean_high - mean_low) ** 2
        if between > best:
            best, best_split = between, split
    if best_split < 0:
        return None
    low_n, high_n = counts[:best_split].sum(), counts[best_split:].sum()
    mean_low = float((counts[:best_split] * centres[:best_split]).sum() / low_n)
    mean_high = float((counts[best_split:] * centres[best_split:]).sum() / high_n)
    if min(low_n, high_n) < 0.05 * total or mean_high - mean_low < 0.3:
        return None
    return float(np.clip(edges[best_split], settings.similarity_floor, settings.similarity_ceiling))


def exhaustive_pairs(folded: Sequence[str], threshold: float) -> set[tuple[int, int]]:
    """Every pair at or above ``threshold`` by comparing all pairs: the reference LSH is
    measured against, usable only on samples."""
    sets = [shingles(t) for t in folded]
    found: set[tuple[int, int]] = set()
    for i in range(len(sets)):
        a = sets[i]
        for j in range(i + 1, len(sets)):
            if jaccard(a, sets[j]) >= threshold:
                found.add((i, j))
    return found


def find_clusters(
    texts: Sequence[str],
    accounts: Sequence[str],
    times: Sequence[float],
    settings: Settings,
    folded: Sequence[str] | None = None,
    prepared: Prepared | None = None,
) -> Result:
    """Copy-paste campaigns among posts given as parallel sequences (``times`` in seconds).
    ``folded`` or ``prepared`` may be passed when the caller already did the per-text work
    (e.g. in parallel, or kept from an earlier batch)."""
    if not len(texts) == len(accounts) == len(times):
        raise ValueError("texts, accounts and times must be the same length")
    if prepared is not None:
        folds: Sequence[str] = prepared.folded
    else:
        folds = list(folded) if folded is not None else [fold(t) for t in texts]
    if len(folds) != len(texts):
        raise ValueError("one folded text per text")
    groups: dict[str, list[int]] = defaultdict(list)
    for i, f in enumerate(folds):
        if len(f) >= settings.min_chars:
            groups[f].append(i)
    distinct = list(groups)
    reps = [groups[f] for f in distinct]
    rep_times = [times[m[0]] if len(m) == 1 else min(times[i] for i in m) for m in reps]
    if prepared is None:
        ready = prepare_folded(distinct)
        candidates = candidate_pairs(distinct, rep_times, settings, ready)

        def shingle_set(rep: int) -> set[int]:
            return ready.shingle_set(rep)

    else:
        # The caller's hashes are used in place, every row (exact copies included), and the
        # row pairs are mapped to distinct texts: copying the distinct rows out of a million
        # posts' hashes costs more than comparing the few exact copies with each other.
        candidates = _distinct_pairs(candidate_pairs(folds, times, settings, prepared), reps)
        whole = prepared

        def shingle_set(rep: int) -> set[int]:
            return whole.shingle_set(reps[rep][0])

    sets: dict[int, set[int]] = {}
    scored: list[tuple[int, int, float]] = []
    for a, b in candidates:
        sa = sets.get(a)
        if sa is None:
            sa = sets[a] = shingle_set(a)
        sb = sets.get(b)
        if sb is None:
            sb = sets[b] = shingle_set(b)
        common = len(sa & sb)
        scored.append((a, b, common / (len(sa) + len(sb) - common)))
    estimate = None if settings.similarity is not None else _estimate(scored, settings)
    threshold = settings.similarity or estimate or settings.default_similarity
    edges = _Edges(len(texts))
    for members in reps:
        if len(members) > 1:
            edges.link_in_time(members, times, settings.window_seconds)
    verified = 0
    for a, b, sim in scored:
        if sim >= threshold:
            verified += 1
            edges.link_groups(reps[a], reps[b], times, settings.window_seconds, sim)
    for members in reps:
        if len(members) > 1:
            edges.same_text(members)
    clusters = [
        c
        for c in (
            _cluster(component, accounts, times, edges, settings)
            for component in edges.components()
        )
        if c is not None
    ]
    clusters.sort(key=lambda c: (c.start, c.members[0]))
    return Result(tuple(clusters), threshold, estimate is not None, len(candidates), verified)


def _distinct_pairs(
    row_pairs: Sequence[tuple[int, int]], reps: Sequence[Sequence[int]]
) -> list[tuple[int, int]]:
    """Row pairs as pairs of distinct texts (indices into ``reps``); rows too short to compare
    and pairs of exact copies of one text are dropped."""
    rep_of_row: dict[int, int] = {}
    for r, members in enumerate(reps):
        for row in members:
            rep_of_row[row] = r
    out: set[tuple[int, int]] = set()
    for a, b in row_pairs:
        ra, rb = rep_of_row.get(a), rep_of_row.get(b)
        if ra is None or rb is None or ra == rb:
            continue
        out.add((ra, rb) if ra < rb else (rb, ra))
    return sorted(out)


def _estimate(scored: Sequence[tuple[int, int, float]], settings: Settings) -> float | None:
    return estimate_threshold([s for _, _, s in scored], settings)


class _Edges:
    """Union-find over rows, with each row's verified similarities kept for the score."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))
        self.sims: dict[int, list[float]] = defaultdict(list)

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: int, b: int, sim: float) -> None:
        self.sims[a].append(sim)
        self.sims[b].append(sim)
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def same_text(self, members: Sequence[int]) -> None:
        for m in members:
            self.sims[m].append(1.0)

    def link_in_time(self, members: Sequence[int], times: Sequence[float], window: float) -> None:
        ordered = sorted(members, key=lambda i: times[i])
        for a, b in itertools.pairwise(ordered):
            if times[b] - times[a] <= window:
                ra, rb = self.find(a), self.find(b)
                if ra != rb:
                    self.parent[max(ra, rb)] = min(ra, rb)

    def link_groups(
        self,
        group_a: Sequence[int],
        group_b: Sequence[int],
        times: Sequence[float],
        window: float,
        sim: float,
    ) -> None:
        """Links two groups of identical texts where any of their posts are within the window:
        each post meets the nearest post of the other group before and after it, which gives
        the same components as linking every pair within the window."""
        for one, other in ((group_a, group_b), (group_b, group_a)):
            other_sorted = sorted(other, key=lambda i: times[i])
            other_times = [times[i] for i in other_sorted]
            for a in one:
                at = int(np.searchsorted(other_times, times[a]))
                for k in (at - 1, at):
                    if 0 <= k < len(other_sorted) and abs(other_times[k] - times[a]) <= window:
                        self.union(a, other_sorted[k], sim)

    def components(self) -> list[list[int]]:
        found: dict[int, list[int]] = defaultdict(list)
        for i in list(self.sims):
            found[self.find(i)].append(i)
        return [sorted(members) for members in found.values() if len(members) > 1]


def _cluster(
    members: Sequence[int],
    accounts: Sequence[str],
    times: Sequence[float],
    edges: _Edges,
    settings: Settings,
) -> Cluster | None:
    ordered = sorted(members, key=lambda i: (times[i], i))
    distinct = list(dict.fromkeys(accounts[i] for i in ordered))
    if len(distinct) < settings.min_accounts:
        return None
    all_sims = [s for i in ordered for s in edges.sims[i]]
    similarity = sum(all_sims) / len(all_sims)
    peak = _peak_accounts(ordered, accounts, times, settings.window_seconds)
    if peak < settings.min_accounts:
        return None  # never several accounts at once: slow repetition, not a burst
    concentration = peak / len(distinct)
    score = similarity * concentration
    if score < settings.min_score:
        return None
    degree = {i: len(edges.sims[i]) for i in ordered}
    mean_sim = {i: sum(edges.sims[i]) / len(edges.sims[i]) for i in ordered}
    central = max(ordered, key=lambda i: (degree[i], mean_sim[i]))
    edited = min(ordered, key=lambda i: (mean_sim[i], -degree[i]))
    return Cluster(
        members=tuple(ordered),
        accounts=tuple(distinct),
        start=times[ordered[0]],
        end=times[ordered[-1]],
        similarity=round(similarity, 4),
        concentration=round(concentration, 4),
        peak_accounts=peak,
        score=round(score, 4),
        representatives=tuple(dict.fromkeys((central, ordered[0], edited))),
    )


def _peak_accounts(
    ordered: Sequence[int], accounts: Sequence[str], times: Sequence[float], window: float
) -> int:
    """Most distinct accounts seen within any one window (a two-pointer sweep)."""
    inside: Counter[str] = Counter()
    best = lo = 0
    for hi in range(len(ordered)):
        inside[accounts[ordered[hi]]] += 1
        while times[ordered[hi]] - times[ordered[lo]] > window:
            gone = accounts[ordered[lo]]
            inside[gone] -= 1
            if not inside[gone]:
                del inside[gone]
            lo += 1
        best = max(best, len(inside))
    return best


def cluster_key(first_id: str) -> str:
    """A campaign key that does not spell out the observation it was derived from."""
    return "near-duplicate:" + hashlib.sha256(first_id.encode()).hexdigest()[:16]
