"""BADGE: factorised distances vs materialised gradient embeddings, seeding semantics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labelwise.errors import PoolExhaustedError, ProbabilityError, ShapeError
from labelwise.select.badge import badge, gradient_embedding


def _inputs(n: int = 60, k: int = 3, c: int = 4, d: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(c) * 0.7, size=(n, k))
    emb = rng.normal(size=(n, d))
    return probs, emb


def test_gradient_embedding_is_the_last_layer_gradient() -> None:
    rng = np.random.default_rng(0)
    w = torch.tensor(rng.normal(size=(4, 6)), requires_grad=True)
    h = torch.tensor(rng.normal(size=(3, 6)))
    logits = h @ w.T
    p = torch.softmax(logits, -1)
    yhat = p.argmax(-1)
    g = gradient_embedding(p.detach().numpy()[:, None, :], h.numpy())
    for i in range(3):
        w.grad = None
        torch.nn.functional.cross_entropy(logits[i : i + 1], yhat[i : i + 1]).backward(
            retain_graph=True
        )
        np.testing.assert_allclose(g[i].numpy(), w.grad.reshape(-1).numpy(), atol=1e-10)


def test_factorised_distances_equal_materialised() -> None:
    probs, emb = _inputs()
    g = gradient_embedding(probs, emb).numpy()
    sel = badge(probs, emb, 8, exclude=[0, 5], rng=3)
    idx = sel.indices
    # gains[0] = max squared norm among the non-excluded
    norms = (g**2).sum(1)
    norms[[0, 5]] = -1
    assert idx[0] == int(np.argmax(norms))
    np.testing.assert_allclose(sel.gains[0], norms[idx[0]], rtol=1e-10)
    # gains[j] = squared distance to the nearest earlier pick, in the materialised space
    for j in range(1, len(idx)):
        d2 = ((g[idx[j]] - g[idx[:j]]) ** 2).sum(1).min()
        np.testing.assert_allclose(sel.gains[j], d2, rtol=1e-8, atol=1e-12)
    assert not {0, 5} & set(idx.tolist())


def test_d2_sampling_distribution() -> None:
    # 4 items, C = 2, D = 2, equal predictions: g_i = (p - e_0) ⊗ h_i, so gradient distances
    # are proportional to ||h_i - h_j||: 1, 2, 3 from item 0 (the largest norm).
    probs = np.tile(np.array([[0.5, 0.5]]), (4, 1))[:, None, :]
    h = np.array([[5.0, 0.0], [4.0, 0.0], [3.0, 0.0], [2.0, 0.0]])
    g = gradient_embedding(probs, h).numpy()
    assert np.argmax((g**2).sum(1)) == 0
    d2 = ((g[1:] - g[0]) ** 2).sum(1)
    expected = d2 / d2.sum()
    d1 = np.sqrt(d2) / np.sqrt(d2).sum()
    # the test discriminates D^2 from D (and from uniform) by far more than its tolerance
    assert np.abs(expected - d1).max() > 0.05 and np.abs(expected - 1 / 3).max() > 0.05
    gen = np.random.default_rng(2024)
    n_draws = 2000
    counts = np.zeros(4)
    for _ in range(n_draws):
        sel = badge(probs, h, 2, rng=gen)
        assert sel.indices[0] == 0
        counts[sel.indices[1]] += 1
    freq = counts[1:] / n_draws
    # 5 binomial standard deviations (< 0.03): D would be off by >= 0.09
    tol = 5 * np.sqrt(expected * (1 - expected) / n_draws)
    assert np.all(np.abs(freq - expected) < tol), (freq, expected)


def test_points_on_a_centre_are_not_drawn_while_others_remain() -> None:
    # items 1..3 duplicate item 0's gradient embedding exactly; item 4 differs
    probs = np.tile(np.array([[0.6, 0.4]]), (5, 1))[:, None, :]
    h = np.array([[2.0], [2.0], [2.0], [2.0], [1.0]])
    for s in range(30):
        sel = badge(probs, h, 2, rng=s)
        assert sel.indices[0] == 0 and sel.indices[1] == 4
    sel = badge(probs, h, 5, rng=0)  # then the zero-weight items fill, uniformly
    assert sorted(sel.indices.tolist()) == [0, 1, 2, 3, 4]


def test_two_dim_probs_is_k_equals_one_and_determinism() -> None:
    probs, emb = _inputs(k=1)
    with pytest.raises(ShapeError, match=r"probs\[:, None, :\]"):
        badge(probs[:, 0, :], emb, 10, rng=7)  # 2-D is never guessed to mean K = 1
    a, b = badge(probs, emb, 10, rng=7), badge(probs, emb, 10, rng=7)
    c = badge(torch.from_numpy(probs), torch.from_numpy(emb), 10, rng=7)
    assert a.indices.tolist() == b.indices.tolist() == c.indices.tolist()
    others = {tuple(badge(probs, emb, 10, rng=s).indices.tolist()) for s in range(5)}
    assert len(others) > 1


def test_validation_and_inputs_unmodified() -> None:
    probs, emb = _inputs(n=10)
    p0, e0 = probs.copy(), emb.copy()
    badge(probs, emb, 4, exclude=[1], rng=0)
    gradient_embedding(probs, emb)
    np.testing.assert_array_equal(probs, p0)
    np.testing.assert_array_equal(emb, e0)
    with pytest.raises(PoolExhaustedError):
        badge(probs, emb, 10, exclude=[1], rng=0)
    with pytest.raises(ShapeError, match="embeddings has 9"):
        badge(probs, emb[:9], 2)
    with pytest.raises(ProbabilityError):
        badge(probs * 2, emb, 2)
    with pytest.raises(ShapeError, match=r"\[N, K, C\]"):
        badge(probs[None], emb, 2)


def _reference_badge(g: np.ndarray, k: int, gen: np.random.Generator) -> list[int]:
    """k-means++ seeding on materialised gradient embeddings, drawing like badge does."""
    picks = [int(np.argmax((g**2).sum(1)))]
    mind = np.full(g.shape[0], np.inf)
    for _ in range(1, k):
        mind = np.minimum(mind, ((g - g[picks[-1]]) ** 2).sum(1))
        w = mind.copy()
        w[picks] = 0.0
        cum = np.cumsum(w)
        picks.append(int(np.searchsorted(cum, gen.random() * cum[-1], side="right")))
    return picks


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pruned_seeding_equals_the_unpruned_reference(seed: int) -> None:
    # Clustered embeddings and confident, varied predictions: most items are provably
    # farther from a new centre than from their nearest one, so pruning skips most of the
    # [N, D] products; the picks must still be exactly those of plain k-means++ seeding.
    # Antipodal clusters (h and -h, opposite predictions) make <a_i, a_c> and <h_i, h_c>
    # both negative: their gradients are close, which a bound without |.| would miss.
    rng = np.random.default_rng(seed)
    n, c, d, k = 400, 5, 16, 25
    half = rng.normal(scale=4.0, size=(4, d))
    centres = np.concatenate([half, -half])
    emb = centres[rng.integers(0, 8, size=n)] + rng.normal(size=(n, d))
    logits = emb @ rng.normal(scale=0.5, size=(d, c))
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    sel = badge(probs[:, None, :], emb, k, rng=seed)
    g = gradient_embedding(probs[:, None, :], emb).numpy()
    assert sel.indices.tolist() == _reference_badge(g, k, np.random.default_rng(seed))
    evaluated = sel.info["distance_evaluations"]
    assert 0 < evaluated < 0.5 * n * (k - 1)  # the bound did prune
