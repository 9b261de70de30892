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
