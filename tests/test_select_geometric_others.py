"""Diverse k-means, suggestive annotation, cluster-margin, density, class balance, strategies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from labelwise.errors import PoolExhaustedError, ShapeError
from labelwise.select import top_k
from labelwise.select._selection import Selection
from labelwise.select.badge import badge
from labelwise.select.balance import balance_selection, class_balanced
from labelwise.select.cluster_margin import cluster_margin, hac_cluster
from labelwise.select.coreset import k_center_greedy
from labelwise.select.density import cosine_density, density_weighted
from labelwise.select.diverse import diverse_kmeans
from labelwise.select.suggestive import suggestive_annotation

N = 80


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(3), size=(N, 2)).astype(np.float32)
    emb = rng.normal(size=(N, 6)).astype(np.float32)
    scores = rng.random(N)
    return probs, emb, scores


# name -> fn(probs, emb, scores, k, exclude, rng)
SELECTORS: dict[str, Callable[..., Selection]] = {
    "coreset": lambda p, e, s, k, ex, r: k_center_greedy(e, k, exclude=ex, rng=r),
    "badge": lambda p, e, s, k, ex, r: badge(p, e, k, exclude=ex, rng=r),
    "diverse": lambda p, e, s, k, ex, r: diverse_kmeans(s, e, k, beta=3, exclude=ex, rng=r),
    "suggestive": lambda p, e, s, k, ex, r: suggestive_annotation(s, e, k, exclude=ex, rng=r),
    "suggestive-ref": lambda p, e, s, k, ex, r: suggestive_annotation(
        s, e, k, exclude=ex, rng=r, reference_size=20
    ),
    "cluster-margin": lambda p, e, s, k, ex, r: cluster_margin(
        p, e, k, exclude=ex, rng=r, max_cluster_samples=30
    ),
    "density": lambda p, e, s, k, ex, r: density_weighted(s, e, k, exclude=ex, rng=r),
}


@pytest.mark.parametrize("name", sorted(SELECTORS))
def test_selector_contract(name: str) -> None:
    fn = SELECTORS[name]
    p, e, s = _data()
    copies = (p.copy(), e.copy(), s.copy())
    exclude = np.arange(0, N, 3)
    n_sel = N - exclude.size
    sel = fn(p, e, s, 9, exclude, 11)
    assert isinstance(sel, Selection) and len(sel) == 9
    assert np.unique(sel.indices).size == 9
    assert sel.indices.min() >= 0 and sel.indices.max() < N
    assert not set(sel.indices.tolist()) & set(exclude.tolist())
    assert sel.gains.shape == (9,)
    again = fn(p, e, s, 9, exclude, 11)
    assert again.indices.tolist() == sel.indices.tolist()
    tens = fn(torch.from_numpy(p), torch.from_numpy(e), torch.from_numpy(s), 9, exclude, 11)
    assert tens.indices.tolist() == sel.indices.tolist()
    for a, b in zip((p, e, s), copies):
        np.testing.assert_array_equal(a, b)
    assert len(fn(p, e, s, n_sel, exclude, 0)) == n_sel  # whole pool
    with pytest.raises(PoolExhaustedError):
        fn(p, e, s, n_sel + 1, exclude, 0)


def _two_clusters(n_each: int = 20, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.normal(scale=0.05, size=(n_each, 2)) + [5.0, 0.0]
    b = rng.normal(scale=0.05, size=(n_each, 2)) + [0.0, 5.0]
    return np.concatenate([a, b])


def test_diverse_picks_one_item_per_cluster() -> None:
    x = _two_clusters()
    # cluster A is more informative everywhere: top-k would take two from A
    s = np.concatenate([np.full(20, 0.9), np.full(20, 0.5)]) + np.linspace(0, 0.01, 40)
    assert set(top_k(s, 2).indices.tolist()) <= set(range(20))
    for seed in range(5):
        sel = diverse_kmeans(s, x, 2, beta=20, rng=seed)
        assert {int(i) // 20 for i in sel.indices} == {0, 1}


def test_diverse_kmeans_weights_the_centres_by_the_scores() -> None:
    """One cluster: its centre is the score-weighted mean, so the pick follows the weights
    (an unweighted k-means would take the middle item, position 5)."""
    x = np.arange(11, dtype=np.float32)[:, None]
    s = np.ones(11)
    s[10] = 200.0  # weighted mean (45 + 2000) / 210 = 9.74 -> item 10
    assert diverse_kmeans(s, x, 1, beta=50, rng=0).indices.tolist() == [10]
    s[10], s[0] = 1.0, 200.0  # weighted mean 55 / 210 = 0.26 -> item 0
    assert diverse_kmeans(s, x, 1, beta=50, rng=0).indices.tolist() == [0]
    assert diverse_kmeans(np.ones(11), x, 1, beta=50, rng=0).indices.tolist() == [5]


def test_diverse_prefilter_only_keeps_the_most_informative() -> None:
    x = _two_clusters()
    s = np.arange(40, dtype=float)  # items 0..19 least informative
    sel = diverse_kmeans(s, x, 2, beta=5, rng=0)  # prefilter: top 10 = items 30..39
    assert set(sel.indices.tolist()) <= set(range(30, 40))
    assert sel.info["n_prefiltered"] == 10
    # weights: a negative score does not break k-means (shifted to be positive)
    sel = diverse_kmeans(s - 100, x, 2, beta=20, rng=0)
    assert {int(i) // 20 for i in sel.indices} == {0, 1}


def _brute_facility(x: np.ndarray, cand: list[int], ref: np.ndarray, k: int):
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    sim = u[cand] @ u[ref].T
    cur = np.full(ref.size, -1.0)
    picks, gains = [], []
    avail = list(range(len(cand)))
    for _ in range(k):
        g = [np.maximum(sim[j], cur).sum() - cur.sum() for j in avail]
        best = avail[int(np.argmax(g))]
        picks.append(cand[best])
        gains.append(max(g))
        cur = np.maximum(cur, sim[best])
        avail.remove(best)
    return picks, gains


@pytest.mark.parametrize("seed", range(4))
def test_suggestive_lazy_greedy_equals_plain_greedy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(120, 5))
    s = rng.random(120)
    exclude = np.arange(10)
    sel = suggestive_annotation(s, x, 6, n_candidates=30, exclude=exclude, chunk_size=17)
    order = np.argsort(-np.where(np.isin(np.arange(120), exclude), -np.inf, s), kind="stable")
    cand = sorted(order[:30].tolist())
    picks, gains = _brute_facility(x, cand, np.arange(10, 120), 6)
    assert sel.indices.tolist() == picks
    np.testing.assert_allclose(sel.gains, gains, rtol=1e-9)
    assert sel.info["n_evaluations"] < 30 * 6  # laziness pays


def test_suggestive_prefers_representative_candidates() -> None:
    # a big cluster along +x, a lone point along +y; candidates: 1 big-cluster item, lone item
    rng = np.random.default_rng(1)
    big = np.abs(rng.normal(scale=0.05, size=(30, 2))) + [1.0, 0.0]
    lone = np.array([[0.0, 1.0]])
    x = np.concatenate([big, lone])
    s = np.zeros(31)
    s[[0, 30]] = 1.0
    sel = suggestive_annotation(s, x, 1, n_candidates=2)
    assert sel.indices.tolist() == [0]
    sel = suggestive_annotation(s, x, 2, n_candidates=2)
    assert sel.indices.tolist() == [0, 30]


def test_cluster_margin_round_robin_smallest_cluster_first() -> None:
    # three tight clusters of sizes 10, 3, 1 (all items are low-margin candidates)
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    lab = np.array([0] * 10 + [1] * 3 + [2] * 1)
    x = centres[lab] + rng.normal(scale=0.01, size=(14, 2))
    margins = -rng.uniform(0, 0.1, size=14)
    sel = cluster_margin(margins, x, 5, margin_multiple=3.0, distance_threshold=1.0, rng=0)
    got = lab[sel.indices]
    # round 1: sizes ascending -> cluster 2 (1 item), 1 (3), 0 (10); round 2: 1, 0
    assert got.tolist() == [2, 1, 0, 1, 0]
    assert sel.info["n_clusters"] == 3


def test_cluster_margin_uses_lowest_margins_and_probs_input() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(50, 3))
    p = rng.dirichlet(np.ones(4), size=50)
    top2 = np.sort(p, axis=1)[:, -2:]
    margin_score = -(top2[:, 1] - top2[:, 0])
    a = cluster_margin(p[:, None, :], x, 4, margin_multiple=2.0, rng=3)
    b = cluster_margin(margin_score, x, 4, margin_multiple=2.0, rng=3)
    assert a.indices.tolist() == b.indices.tolist()
    best8 = set(np.argsort(-margin_score)[:8].tolist())
    assert set(a.indices.tolist()) <= best8


def test_hac_subsample_assigns_everything() -> None:
    x = _two_clusters(50)
    lab = hac_cluster(x, distance_threshold=1.0, max_samples=10, rng=0)
    assert lab.shape == (100,)
    assert len(set(lab[:50])) == 1 and len(set(lab[50:])) == 1 and lab[0] != lab[99]


def test_cosine_density_equals_brute_force() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 4))
    ref = np.arange(5, 40)
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    expected = (u @ u[ref].T).mean(axis=1)
    np.testing.assert_allclose(cosine_density(x, reference=ref, chunk_size=7), expected, atol=1e-12)


def test_density_favours_the_dense_region() -> None:
    rng = np.random.default_rng(4)
    dense = np.abs(rng.normal(scale=0.05, size=(30, 2))) + [1.0, 0.0]
    sparse = np.array([[0.0, 1.0], [-1.0, 0.1]])
    x = np.concatenate([dense, sparse])
    s = np.full(32, 0.5)
    s[30] = s[31] = 0.55  # sparse items are a bit more uncertain
    assert set(top_k(s, 2).indices.tolist()) == {30, 31}
    sel = density_weighted(s, x, 2, beta=1.0, rng=0)
    assert set(sel.indices.tolist()) <= set(range(30))
    assert set(density_weighted(s, x, 2, beta=0.0, rng=0).indices.tolist()) == {30, 31}
    with pytest.raises(ValueError, match="shift margin"):
        density_weighted(s - 1, x, 2)


def test_balance_caps_each_class_and_refills() -> None:
    ranked = np.arange(10)
    classes = np.array([0, 0, 0, 0, 0, 1, 1, 2, 2, 2])
    sel = balance_selection(ranked, classes, 4, max_share=0.5)  # cap 2
    assert sel.indices.tolist() == [0, 1, 5, 6]
    assert sel.info["cap_relaxed"] is False
    sel = balance_selection(ranked[:5], classes, 4, max_share=0.5)  # only class 0 available
    assert sel.indices.tolist() == [0, 1, 2, 3] and sel.info["cap_relaxed"] is True
    with pytest.raises(ValueError, match="max_share"):
        balance_selection(ranked, classes, 4, max_share=0.0)
    with pytest.raises(ShapeError, match="integer class"):
        balance_selection(ranked, classes.astype(float), 4, max_share=0.5)


def test_class_balanced_wrapper_with_top_k() -> None:
    rng = np.random.default_rng(5)
    s = rng.random(60)
    classes = (np.arange(60) % 3 == 0).astype(np.int64)  # class 1 is a third of the pool
    s[classes == 1] += 1.0  # ... and all the best scores
    sel = class_balanced(lambda m: top_k(s, m, rng=0), classes, 6, max_share=0.5)
    assert len(sel) == 6 and np.bincount(classes[sel.indices], minlength=2).max() <= 3
    top3_class1 = np.argsort(-np.where(classes == 1, s, -np.inf))[:3]
    assert set(top3_class1.tolist()) <= set(sel.indices.tolist())
    # pool smaller than oversample * k: the request shrinks instead of failing
    sel = class_balanced(lambda m: top_k(s[:8], m, rng=0), classes[:8], 5, max_share=1.0)
    assert len(sel) == 5


def test_balance_cap_never_exceeds_the_share() -> None:
    ranked = np.arange(12)
    classes = np.repeat([0, 1, 2, 3], 3)
    sel = balance_selection(ranked, classes, 4, max_share=0.3)  # floor(1.2) = 1 per class
    assert sel.info["balance_cap"] == 1 and sel.indices.tolist() == [0, 3, 6, 9]
    sel = balance_selection(ranked, classes, 4, max_share=0.5)
    assert sel.info["balance_cap"] == 2 and sel.indices.tolist() == [0, 1, 3, 4]
    sel = balance_selection(ranked, classes, 4, max_share=0.1)  # < 1/k: still one per class
    assert sel.info["balance_cap"] == 1


@pytest.mark.parametrize("pool_size", [None, 100])
def test_class_balanced_reaches_the_whole_pool_when_needed(pool_size: int | None) -> None:
    """90 items of class 0 rank above the 10 of class 1: only the whole pool balances."""
    s = np.linspace(2.0, 1.0, 100)
    classes = (np.arange(100) >= 90).astype(np.int64)
    asked: list[int] = []
    supplied: list[int] = []

    def select_k(m: int) -> Selection:
        asked.append(m)
        sel = top_k(s, m, rng=0)
        supplied.append(m)
        return sel

    sel = class_balanced(select_k, classes, 10, max_share=0.5, pool_size=pool_size)
    assert sel.info["cap_relaxed"] is False
    assert sorted(sel.indices.tolist()) == [0, 1, 2, 3, 4, 90, 91, 92, 93, 94]
    assert max(supplied) == 100
    if pool_size is not None:
        assert asked == [30, 60, 100]  # never a request the pool cannot supply


def test_class_balanced_shrinks_to_the_largest_feasible_request() -> None:
    s = np.linspace(2.0, 1.0, 25)
    classes = (np.arange(25) >= 20).astype(np.int64)
    sel = class_balanced(lambda m: top_k(s, m, rng=0), classes, 10, max_share=0.5)
    # oversample 3 asks for 30 > 25: bisection finds 25, whose tail holds the 5 of class 1
    assert sorted(sel.indices.tolist()) == [0, 1, 2, 3, 4, 20, 21, 22, 23, 24]
    with pytest.raises(PoolExhaustedError):
        class_balanced(lambda m: top_k(s, m, rng=0), classes, 26, max_share=0.5)
    with pytest.raises(PoolExhaustedError, match="lower k"):
        class_balanced(lambda m: top_k(s, m, rng=0), classes, 10, max_share=0.5, pool_size=5)


def test_class_balanced_around_a_batch_selector() -> None:
    """The guard around k-center greedy: the cap holds and the batch is the greedy order of
    the longer list with over-cap items skipped."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(80, 4)).astype(np.float32)
    classes = (x[:, 0] > 0.8).astype(np.int64)  # a minority class in one corner
    long = k_center_greedy(x, 24, rng=0)
    sel = class_balanced(lambda m: k_center_greedy(x, m, rng=0), classes, 8, max_share=0.5)
    counts = np.bincount(classes[sel.indices], minlength=2)
    assert counts.max() <= 4 and len(set(sel.indices.tolist())) == 8
    expected = balance_selection(long, classes, 8, max_share=0.5)
    assert sel.indices.tolist() == expected.indices.tolist()


STRATEGY_NAMES = [
    "coreset",
    "badge",
    "diverse-kmeans",
    "suggestive-annotation",
    "cluster-margin",
    "density-weighted",
]


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_strategies_registered_and_run(name: str) -> None:
    from labelwise.select._strategies_geometric import STRATEGIES

    strat = {s.name: s for s in STRATEGIES}[name]
    assert strat.description and strat.paper
    p, e, _ = _data()
    kw: dict[str, Any] = {"probs": p, "embeddings": e, "exclude": [0, 1, 2], "rng": 0}
    sel = strat.select(5, **kw)
    assert len(sel) == 5 and not {0, 1, 2} & set(sel.indices.tolist())
    assert strat.select(5, **kw).indices.tolist() == sel.indices.tolist()


def test_diverse_strategy_uses_zhdanov_margin() -> None:
    from labelwise.select._strategies_geometric import STRATEGIES

    strat = {s.name: s for s in STRATEGIES}["diverse-kmeans"]
    p, e, _ = _data()
    pm = p.mean(1)
    top2 = np.sort(pm, axis=1)[:, -2:]
    info = 1 - (top2[:, 1] - top2[:, 0])
    a = strat.select(4, probs=p, embeddings=e, rng=3, beta=5)
    b = diverse_kmeans(info, e, 4, beta=5, rng=3)
    assert a.indices.tolist() == b.indices.tolist()
