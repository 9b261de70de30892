"""The contract every registered strategy (and so every selector) must honour.

Discovered from the registry: a new strategy joins this suite by being registered.
"""

from __future__ import annotations

import numpy as np
import pytest

from labelwise.errors import PoolExhaustedError, ProbabilityError, ShapeError, UnknownStrategyError
from labelwise.strategies import Strategy, available_strategies, get_strategy

STRATEGIES = available_strategies()
N, K, C, D = 80, 6, 4, 8


def _inputs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(C, 0.4), size=(N, K)).astype(np.float32)
    centers = rng.normal(size=(4, D)) * 3
    emb = (centers[rng.integers(0, 4, N)] + rng.normal(size=(N, D))).astype(np.float32)
    return probs, emb


def _kwargs(s: Strategy, probs: np.ndarray, emb: np.ndarray) -> dict:
    kw: dict = {"n": N}
    if "probs" in s.needs:
        kw["probs"] = probs
    if "embeddings" in s.needs:
        kw["embeddings"] = emb
    extra = np.random.default_rng(N)
    if "training_predictions" in s.needs:  # [E, N] predicted classes over E epochs
        kw["training_predictions"] = extra.integers(0, C, size=(5, N)).astype(np.int8)
    if "model_scores" in s.needs:  # [N] model-computed scores (e.g. predicted loss)
        kw["model_scores"] = extra.normal(size=N).astype(np.float32)
    if "inputs" in s.needs:  # raw inputs [N, ...] of the candidates and [N_l, ...] labeled
        kw["inputs"] = extra.normal(size=(N, 5)).astype(np.float32)
        kw["labeled_inputs"] = extra.normal(size=(10, 5)).astype(np.float32)
    return kw


def test_registry_names_are_kebab_case_and_unique() -> None:
    names = [s.name for s in STRATEGIES]
    assert len(names) == len(set(names))
    for n in names:
        assert n == n.lower() and "_" not in n and " " not in n
    for required in ["random", "least-confidence", "margin", "ratio", "entropy", "bald",
                     "variation-ratio", "mean-std", "vote-entropy", "consensus-entropy",
                     "kl-disagreement", "power-bald", "softmax-entropy",
                     # batch-aware selectors and model-based strategies: a registry that
                     # lost one of its extension modules must fail here
                     "batchbald", "coreset", "badge", "diverse-kmeans",
                     "suggestive-annotation", "cluster-margin", "density-weighted",
                     "egl", "label-dispersion", "learning-loss", "vaal"]:
        assert required in names
    for s in STRATEGIES:
        assert s.description and s.paper


def test_unknown_strategy_suggests() -> None:
    with pytest.raises(UnknownStrategyError, match="did you mean 'bald'"):
        get_strategy("balds")


@pytest.mark.parametrize("strat", STRATEGIES, ids=[s.name for s in STRATEGIES])
class TestStrategyContract:
    def test_exactly_k_unique_in_range_never_excluded(self, strat: Strategy) -> None:
        probs, emb = _inputs()
        exclude = np.arange(0, N, 3)
        sel = strat.select(7, exclude=exclude, rng=0, **_kwargs(strat, probs, emb))
        idx = sel.indices
        assert idx.shape == (7,) and np.unique(idx).size == 7
        assert ((idx >= 0) & (idx < N)).all()
        assert not np.isin(idx, exclude).any()
        assert sel.gains.shape == (7,)

    def test_same_seed_same_batch(self, strat: Strategy) -> None:
        probs, emb = _inputs(1)
        a = strat.select(5, rng=123, **_kwargs(strat, probs, emb))
        b = strat.select(5, rng=123, **_kwargs(strat, probs, emb))
        np.testing.assert_array_equal(a.indices, b.indices)

    def test_inputs_untouched(self, strat: Strategy) -> None:
        probs, emb = _inputs(2)
        p0, e0 = probs.copy(), emb.copy()
        strat.select(5, rng=0, **_kwargs(strat, probs, emb))
        np.testing.assert_array_equal(probs, p0)
        np.testing.assert_array_equal(emb, e0)

    def test_k_larger_than_pool_is_clear_error(self, strat: Strategy) -> None:
        probs, emb = _inputs()
        with pytest.raises(PoolExhaustedError):
            strat.select(N - 9, exclude=np.arange(10), rng=0, **_kwargs(strat, probs, emb))



PROB_STRATEGIES = [s for s in STRATEGIES if "probs" in s.needs]


@pytest.mark.parametrize("strat", PROB_STRATEGIES, ids=[s.name for s in PROB_STRATEGIES])
def test_bad_probs_are_clear_errors(strat: Strategy) -> None:
    probs, emb = _inputs()
    kw = _kwargs(strat, probs, emb)
    bad = probs.copy()
    bad[5, 0, 0] = np.nan
    with pytest.raises(ProbabilityError):
        strat.select(3, **{**kw, "probs": bad}, rng=0)
    with pytest.raises(ShapeError):
        strat.select(3, **{**kw, "probs": probs[:, 0, :]}, rng=0)
    with pytest.raises(ShapeError):
        strat.select(3, **{**kw, "probs": None}, rng=0)
    bad = probs.copy()
    bad[7, 2] *= 1.5  # one sample row of one item sums to 1.5
    with pytest.raises(ProbabilityError, match="sum"):
        strat.select(3, **{**kw, "probs": bad}, rng=0)
    neg = probs.copy()
    neg[3, 1, 0], neg[3, 1, 1] = -0.2, neg[3, 1, 1] + neg[3, 1, 0] + 0.2
    with pytest.raises(ProbabilityError):
        strat.select(3, **{**kw, "probs": neg}, rng=0)


EMB_STRATEGIES = [s for s in STRATEGIES if "embeddings" in s.needs]


@pytest.mark.parametrize("strat", EMB_STRATEGIES, ids=[s.name for s in EMB_STRATEGIES])
def test_bad_embeddings_are_clear_errors(strat: Strategy) -> None:
    probs, emb = _inputs()
    kw = _kwargs(strat, probs, emb)
    bad = emb.copy()
    bad[4, 2] = np.inf
    with pytest.raises(ProbabilityError, match="NaN or inf"):
        strat.select(3, **{**kw, "embeddings": bad}, rng=0)
    with pytest.raises(ShapeError, match=r"\[N, D\]"):
        strat.select(3, **{**kw, "embeddings": emb[:, :, None]}, rng=0)
    with pytest.raises(ShapeError):
        strat.select(3, **{**kw, "embeddings": emb[:-1]}, rng=0)


def _sign_probs() -> np.ndarray:
    """Item 0: every sample uniform (most uncertain mean, no disagreement); item 1: the K
    samples are one-hot on different classes (most disagreement); the rest confident."""
    rng = np.random.default_rng(0)
    p = np.empty((N, K, C), dtype=np.float64)
    conf = 0.90 + 0.05 * rng.random((N, 1))
    p[:] = ((1 - conf) / (C - 1))[:, :, None]
    p[:, :, 0] = conf
    p[0] = 1.0 / C
    p[1] = np.eye(C)[np.arange(K) % C]
    return p.astype(np.float32)


#: The item each score strategy must rank first on :func:`_sign_probs` (higher = label
#: first): mean-based scores want the uniform item, disagreement-based ones the committee
#: that disagrees. Margin and ratio tie the two (both have top-1 = top-2 means).
SIGN_TOP = {
    "least-confidence": {0}, "entropy": {0}, "consensus-entropy": {0},
    "expected-entropy": {0}, "margin": {0, 1}, "ratio": {0, 1},
    "bald": {1}, "variation-ratio": {1}, "mean-std": {1}, "vote-entropy": {1},
    "kl-disagreement": {1},
}


@pytest.mark.parametrize("name", sorted(SIGN_TOP))
def test_score_strategies_label_the_most_uncertain_item_first(name: str) -> None:
    """The sign convention end to end: higher score = labeled first, for every score."""
    from labelwise import scores

    probs = _sign_probs()
    sel = get_strategy(name).select(1, probs=probs, rng=0)
    assert int(sel.indices[0]) in SIGN_TOP[name]
    s = np.asarray(getattr(scores, name.replace("-", "_"))(probs))
    assert s[int(sel.indices[0])] == s.max()
    confident_best = s[2:].max()
    assert all(s[i] > confident_best for i in SIGN_TOP[name])
