"""Near-duplicate coordination: speed over a large stream, LSH beside the exhaustive method, and
campaign-level accuracy on planted copy-paste campaigns.

    .venv/bin/python benchmarks/near_duplicates.py                 # 200,000 posts (quick)
    .venv/bin/python benchmarks/near_duplicates.py --full          # 1,000,000 posts
    .venv/bin/python benchmarks/near_duplicates.py --posts 500000 --sample 10000 --workers 2

Targets: 1,000,000 posts end to end (folding, signatures, LSH, verification, clusters) in at
most 40 s on two cores; campaign F1 at least 0.9. The stream comes from
``simulate_coordination.generate_corpus``: Zipf-like chatter in Russian and Kazakh (both
scripts), organic shares of news links (40 readers over 12 hours, each in their own words),
accounts repeating themselves, and one planted campaign per 5,000 posts (10-60 accounts within
one to two hours, edited copies, a third in Latin script, emoji and hashtags added).

A found cluster is a true positive when most of its posts belong to one planted campaign; a
campaign is recalled when such a cluster holds at least half of its posts. The exhaustive
comparison computes the exact Jaccard of every pair in a sample; agreement is the share of its
pairs above the threshold that LSH also verified (LSH cannot report a pair that is not there:
each of its pairs is verified on the texts)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence

from qorgau.detect import near_duplicates as nd
from qorgau.detect.simulate_coordination import Corpus, generate_corpus
from qorgau.detect.text_fold import fold_all, jaccard, shingles


def campaign_scores(corpus: Corpus, result: nd.Result) -> tuple[float, float, float]:
    sizes = Counter(label for label in corpus.labels if label >= 0)
    true_clusters = 0
    recalled: set[int] = set()
    for cluster in result.clusters:
        label, count = Counter(corpus.labels[i] for i in cluster.members).most_common(1)[0]
        if label >= 0 and count * 2 > len(cluster.members):
            true_clusters += 1
            if count * 2 >= sizes[label]:
                recalled.add(label)
    precision = true_clusters / len(result.clusters) if result.clusters else 1.0
    recall = len(recalled) / len(sizes) if sizes else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def end_to_end(posts: int, campaigns: int, workers: int, settings: nd.Settings) -> bool:
    started = time.perf_counter()
    corpus = generate_corpus(posts, campaigns, seed=1)
    print(
        f"generated {posts:,} posts, {campaigns} campaigns in {time.perf_counter() - started:.1f} s"
    )
    t0 = time.perf_counter()
    prepared = nd.prepare_parallel(corpus.texts, workers)
    t1 = time.perf_counter()
    result = nd.find_clusters(
        corpus.texts, corpus.accounts, corpus.times, settings, prepared=prepared
    )
    t2 = time.perf_counter()
    precision, recall, f1 = campaign_scores(corpus, result)
    total = t2 - t0
    print(
        f"end to end {total:.1f} s (folding and hashing {t1 - t0:.1f} s on {workers} process(es), "
        f"signatures, LSH, verification and clusters {t2 - t1:.1f} s); "
        f"{posts / total:,.0f} posts/s"
    )
    print(
        f"candidate pairs {result.candidate_pairs:,}, verified {result.verified_pairs:,}, "
        f"threshold {result.threshold:.2f} ({'estimated' if result.estimated else 'default'}), "
        f"clusters {len(result.clusters)}"
    )
    print(f"campaigns: precision {precision:.3f} recall {recall:.3f} F1 {f1:.3f}")
    scaled_target = 40.0 * posts / 1_000_000
    fast = total <= scaled_target
    print(
        f"target: <= {scaled_target:.1f} s for {posts:,} posts (40 s per million): "
        f"{'met' if fast else 'MISSED'}; F1 >= 0.9: {'met' if f1 >= 0.9 else 'MISSED'}"
    )
    return fast and f1 >= 0.9


def against_exhaustive(sample: int, settings: nd.Settings) -> None:
    corpus = generate_corpus(sample, max(2, sample // 1000), seed=2)
    folded = fold_all(corpus.texts)
    threshold = settings.default_similarity
    t0 = time.perf_counter()
    exact = nd.exhaustive_pairs(folded, threshold)
    t1 = time.perf_counter()
    found = nd.find_clusters(
        corpus.texts,
        corpus.accounts,
        corpus.times,
        nd.Settings(similarity=threshold, min_chars=0),
        folded,
    )
    t2 = time.perf_counter()
    candidates = nd.candidate_pairs(folded, corpus.times, settings)
    verified = {
        (a, b)
        for a, b in candidates
        if jaccard(shingles(folded[a]), shingles(folded[b])) >= threshold
    }
    agreement = len(exact & verified) / len(exact) if exact else 1.0
    print(
        f"sample of {sample:,}: exhaustive {t1 - t0:.2f} s ({len(exact):,} pairs >= {threshold}), "
        f"LSH end to end {t2 - t1:.3f} s; speed ratio {(t1 - t0) / (t2 - t1):.0f}x; "
        f"agreement (LSH recall of exhaustive pairs) {agreement:.3f}, "
        f"clusters found {len(found.clusters)}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--posts", type=int, default=200_000)
    parser.add_argument("--full", action="store_true", help="1,000,000 posts")
    parser.add_argument("--campaigns", type=int, help="default: one per 5,000 posts")
    parser.add_argument("--sample", type=int, default=5000, help="posts compared exhaustively")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args(argv)
    posts = 1_000_000 if args.full else args.posts
    campaigns = args.campaigns if args.campaigns is not None else max(1, posts // 5000)
    settings = nd.Settings()
    against_exhaustive(args.sample, settings)
    ok = end_to_end(posts, campaigns, args.workers, settings)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
