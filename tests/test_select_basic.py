"""top_k, random_batch and stochastic_batch against hand-computed references."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labelwise.errors import (
    BudgetError,
    IndexValidationError,
    PoolExhaustedError,
    ProbabilityError,
    ShapeError,
)
from labelwise.select import Selection, random_batch, stochastic_batch, top_k
from labelwise.select._stochastic import sampling_log_weights


def test_top_k_hand_computed() -> None:
    sel = top_k(np.array([0.1, 0.9, 0.5, 0.7]), 2, rng=0)
    assert sel.indices.tolist() == [1, 3]
    assert sel.gains.tolist() == [0.9, 0.7]


def test_top_k_matches_sort_on_distinct_scores() -> None:
    rng = np.random.default_rng(3)
    s = rng.normal(size=1000)
    sel = top_k(s, 37, rng=1)
    assert sel.indices.tolist() == np.argsort(-s)[:37].tolist()


def test_top_k_ties_broken_at_random_but_seeded() -> None:
    s = np.array([1.0, 2.0, 2.0, 2.0, 2.0, 0.0])
    picks = {tuple(sorted(top_k(s, 2, rng=seed).indices.tolist())) for seed in range(40)}
    assert len(picks) > 1, "ties must not always favour low indices"
    assert all(set(p) <= {1, 2, 3, 4} for p in picks)
    assert top_k(s, 2, rng=5).indices.tolist() == top_k(s, 2, rng=5).indices.tolist()


def test_top_k_exclude_and_torch_input() -> None:
    s = torch.tensor([5.0, 4.0, 3.0, 2.0])
    sel = top_k(s, 2, exclude=[0, 2], rng=0)
    assert sel.indices.tolist() == [1, 3]


def test_top_k_errors() -> None:
    with pytest.raises(PoolExhaustedError):
        top_k(np.ones(3), 3, exclude=[0])
    with pytest.raises(BudgetError):
        top_k(np.ones(3), 0)
    with pytest.raises(ShapeError):
        top_k(np.ones((3, 2)), 1)
    with pytest.raises(ProbabilityError):
        top_k(np.array([1.0, np.nan]), 1)
    with pytest.raises(IndexValidationError):
        top_k(np.ones(3), 1, exclude=[5])
    with pytest.raises(IndexValidationError):
        top_k(np.ones(3), 1, exclude=[1, 1])


def test_random_batch_uniform_and_seeded() -> None:
    counts = np.zeros(5)
    for seed in range(2000):
        counts[random_batch(5, 1, exclude=[4], rng=seed).indices] += 1
    assert counts[4] == 0
    # each of 4 items ~ 500 draws; 6 sigma band is ±134
    assert np.all(np.abs(counts[:4] - 500) < 134)
    assert random_batch(100, 10, rng=7).indices.tolist() == random_batch(100, 10, rng=7).indices.tolist()
    assert np.isnan(random_batch(10, 2, rng=0).gains).all()
    with pytest.raises(BudgetError):
        random_batch(0, 1)


def test_sampling_log_weights_definitions() -> None:
    s = np.array([0.5, 2.0, 1.0])
    np.testing.assert_allclose(sampling_log_weights(s, "softmax", 2.0), 2.0 * s)
    np.testing.assert_allclose(sampling_log_weights(s, "power", 3.0), 3.0 * np.log(s))
    # ranks: 2.0 -> 1, 1.0 -> 2, 0.5 -> 3
    np.testing.assert_allclose(sampling_log_weights(s, "softrank", 1.0), -np.log([3.0, 1.0, 2.0]))
    with pytest.raises(ProbabilityError):
        sampling_log_weights(np.array([-1.0, 1.0]), "power", 1.0)


@pytest.mark.parametrize("mode", ["power", "softmax", "softrank"])
def test_stochastic_first_pick_follows_distribution(mode: str) -> None:
    s = np.array([1.0, 2.0, 4.0])
    logw = sampling_log_weights(s, mode, 1.0)
    p = np.exp(logw - logw.max())
    p /= p.sum()
    n = 4000
    counts = np.zeros(3)
    for seed in range(n):
        counts[stochastic_batch(s, 1, mode=mode, rng=seed).indices[0]] += 1
    sd = np.sqrt(n * p * (1 - p))
    assert np.all(np.abs(counts - n * p) < 5 * sd), (counts / n, p)


def test_stochastic_beta_extremes() -> None:
    s = np.linspace(0.01, 1, 50)
    cold = stochastic_batch(s, 5, mode="softmax", beta=1e4, rng=0)
    assert sorted(cold.indices.tolist()) == list(range(45, 50))
    picks = np.concatenate([stochastic_batch(s, 5, beta=0.0, rng=i).indices for i in range(300)])
    assert np.bincount(picks, minlength=50).min() > 0  # beta = 0 is uniform


def test_stochastic_zero_power_scores_only_fill() -> None:
    s = np.array([0.0, 0.0, 1.0, 2.0])
    sel = stochastic_batch(s, 3, mode="power", rng=0)
    assert {2, 3} <= set(sel.indices.tolist())
    with pytest.raises(ValueError):
        stochastic_batch(s, 1, mode="nope")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        stochastic_batch(s, 1, beta=-1.0)


def test_selection_validation_and_map() -> None:
    sel = Selection(np.array([2, 0]), np.array([1.0, 0.5]))
    assert sel.map_to(np.array([10, 20, 30])).indices.tolist() == [30, 10]
    with pytest.raises(ValueError):
        Selection(np.array([1, 1]), np.array([0.0, 0.0]))
    with pytest.raises(ValueError):
        Selection(np.array([1]), np.array([0.0, 0.0]))
    with pytest.raises(ValueError):
        sel.indices[0] = 5  # read-only


@pytest.mark.parametrize("mode", ["power", "softmax", "softrank"])
def test_beta_zero_is_uniform_even_with_zero_and_infinite_scores(mode: str) -> None:
    s = np.zeros(20)
    s[:5] = [0.5, 1.0, 2.0, 0.0, 3.0]
    if mode == "softmax":
        s[5:8] = -np.inf
    np.testing.assert_array_equal(sampling_log_weights(s, mode, 0.0), np.zeros(20))
    picks = np.concatenate([stochastic_batch(s, 3, mode=mode, beta=0.0, rng=i).indices
                            for i in range(400)])
    counts = np.bincount(picks, minlength=20)
    assert counts.min() > 20  # each item expected 60 times; none is starved or favoured
    assert counts.max() < 110


def test_softrank_gives_tied_scores_equal_probability() -> None:
    s = np.zeros(50)  # e.g. clamped BALD of a deterministic model: every score ties
    lw = sampling_log_weights(s, "softrank", 1.0)
    np.testing.assert_allclose(lw, np.full(50, -np.log(25.5)))
    np.testing.assert_allclose(
        sampling_log_weights(np.array([2.0, 1.0, 1.0, 0.0]), "softrank", 1.0),
        -np.log([1.0, 2.5, 2.5, 4.0]),
    )
    picks = np.concatenate([stochastic_batch(s, 5, mode="softrank", rng=i).indices
                            for i in range(200)])
    first_tenth = np.isin(picks, np.arange(5)).mean()
    assert 0.04 < first_tenth < 0.17  # 10% expected; a stable sort's ranks gave ~65%
