"""The near-duplicate engine: LSH candidates verified on the texts, clusters limited by the time
window and by distinct accounts, thresholds estimated only when the data show two modes."""

from __future__ import annotations

import random

import numpy as np

from qorgau.detect import near_duplicates as nd
from qorgau.detect.simulate_coordination import edited_copy, generate_corpus
from qorgau.detect.text_fold import fold

STATEMENT = (
    "Уважаемые коллеги! Главный редактор приглашает всех журналистов на закрытую встречу в "
    "акимате в пятницу в 15:00, где объявят новые правила аккредитации и выплаты."
)
SETTINGS = nd.Settings(min_accounts=5)


def _chatter(rng: random.Random, n: int) -> list[str]:
    words = [f"слово{i}" for i in range(400)] + [f"soz{i}" for i in range(400)]
    return [" ".join(rng.choices(words, k=rng.randint(10, 20))) for _ in range(n)]


def test_edited_copies_by_many_accounts_form_one_cluster_and_chatter_none() -> None:
    rng = random.Random(5)
    copies = [edited_copy(rng, STATEMENT, latin_share=0.4) for _ in range(20)]
    noise = _chatter(rng, 300)
    texts = copies + noise
    accounts = [f"bot{i}" for i in range(20)] + [f"user{i}" for i in range(300)]
    times = [60.0 * i for i in range(20)] + [rng.uniform(0, 86400) for _ in range(300)]
    result = nd.find_clusters(texts, accounts, times, SETTINGS)
    assert len(result.clusters) == 1
    cluster = result.clusters[0]
    assert set(cluster.members) == set(range(20))
    assert len(cluster.accounts) == 20
    assert cluster.start == 0.0 and cluster.end == 60.0 * 19
    assert 0.5 <= cluster.score <= 1.0
    assert set(cluster.representatives) <= set(range(20))


def test_copies_too_far_apart_in_time_are_not_linked() -> None:
    rng = random.Random(6)
    copies = [edited_copy(rng, STATEMENT) for _ in range(10)]
    # Two groups of five accounts, a day apart, and a window of two hours.
    times = [0.0, 60, 120, 180, 240] + [86400.0 + 60 * k for k in range(5)]
    result = nd.find_clusters(copies, [f"a{i}" for i in range(10)], times, SETTINGS)
    assert sorted(len(c.members) for c in result.clusters) == [5, 5]
    stricter = nd.Settings(min_accounts=6)
    assert nd.find_clusters(copies, [f"a{i}" for i in range(10)], times, stricter).clusters == ()


def test_one_account_repeating_itself_is_not_a_campaign() -> None:
    texts = [STATEMENT] * 30
    result = nd.find_clusters(texts, ["same"] * 30, [60.0 * i for i in range(30)], SETTINGS)
    assert result.clusters == ()


def test_identical_texts_are_compared_once_but_all_reported() -> None:
    texts = [STATEMENT] * 200
    result = nd.find_clusters(
        texts, [f"a{i}" for i in range(200)], [float(i) for i in range(200)], SETTINGS
    )
    assert result.candidate_pairs == 0  # one distinct text: nothing to verify
    assert len(result.clusters) == 1 and len(result.clusters[0].members) == 200


def test_a_headline_shared_all_day_scores_low_but_a_burst_scores_high() -> None:
    texts = [STATEMENT] * 24
    accounts = [f"a{i}" for i in range(24)]
    spread = nd.find_clusters(texts, accounts, [3600.0 * i for i in range(24)], SETTINGS)
    burst = nd.find_clusters(texts, accounts, [60.0 * i for i in range(24)], SETTINGS)
    assert spread.clusters == ()
    assert len(burst.clusters) == 1 and burst.clusters[0].score == 1.0


def test_short_texts_are_not_compared() -> None:
    texts = ["Спасибо!"] * 10
    result = nd.find_clusters(texts, [f"a{i}" for i in range(10)], [0.0] * 10, SETTINGS)
    assert result.clusters == ()


def test_threshold_is_estimated_between_two_modes_and_refused_without_them() -> None:
    rng = np.random.default_rng(1)
    chance = rng.uniform(0.1, 0.35, 300)
    copies = rng.uniform(0.7, 0.95, 100)
    estimate = nd.estimate_threshold(list(np.concatenate([chance, copies])), SETTINGS)
    assert estimate is not None and 0.5 <= estimate <= 0.72
    assert nd.estimate_threshold(list(copies), SETTINGS) is None  # one mode: keep the default
    assert nd.estimate_threshold([0.2, 0.9] * 5, SETTINGS) is None  # too few pairs


def test_lsh_finds_the_pairs_the_exhaustive_comparison_finds() -> None:
    corpus = generate_corpus(700, 4, seed=3)
    folded = [fold(t) for t in corpus.texts]
    exact = nd.exhaustive_pairs(folded, 0.6)
    candidates = set(nd.candidate_pairs(folded, corpus.times, SETTINGS))
    assert len(exact) > 100
    recall = len(exact & candidates) / len(exact)
    assert recall >= 0.95


def test_shingle_hashes_match_the_shingle_sets() -> None:
    folded = ["abcdefg", "abc", "", "abcdefg"]
    flat, offsets = nd.shingle_hashes(folded)
    rows = [set(flat[offsets[i] : offsets[i + 1]].tolist()) for i in range(len(folded))]
    assert [len(r) for r in rows] == [3, 1, 1, 3]
    assert rows[0] == rows[3] and not rows[0] & rows[1]


def test_prepared_in_parts_gives_the_same_clusters_as_in_one_go() -> None:
    corpus = generate_corpus(1200, 3, seed=4)
    whole = nd.find_clusters(corpus.texts, corpus.accounts, corpus.times, SETTINGS)
    parts = nd.Prepared.concat([nd.prepare(corpus.texts[:500]), nd.prepare(corpus.texts[500:])])
    split = nd.find_clusters(corpus.texts, corpus.accounts, corpus.times, SETTINGS, prepared=parts)
    assert len(whole.clusters) >= 3
    assert [c.members for c in split.clusters] == [c.members for c in whole.clusters]
    flat, offsets = parts.rows([1, 700])
    one = nd.prepare([corpus.texts[1], corpus.texts[700]])
    assert flat.tolist() == one.hashes.tolist() and offsets.tolist() == one.offsets.tolist()
