"""Core-set: k-center greedy against brute force, covering radius, robust variant."""

from __future__ import annotations

import itertools
import sys

import numpy as np
import pytest
import torch

from labelwise.errors import MissingExtraError, PoolExhaustedError
from labelwise.select.coreset import k_center_greedy, robust_k_center


def brute_k_center(x: np.ndarray, k: int, centers: list[int], first: int | None = None):
    """Plain greedy with a full distance matrix (the reference)."""
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    chosen = list(centers)
    picks, gains = [], []
    if not chosen:
        chosen.append(first)
        picks.append(first)
        gains.append(np.nan)
    while len(picks) < k:
        mind = d[:, chosen].min(axis=1)
        mind[chosen] = -1
        j = int(np.argmax(mind))
        picks.append(j)
        gains.append(mind[j])
        chosen.append(j)
    radius = d[:, chosen].min(axis=1).max()
    return picks, gains, radius


def covering_radius(x: np.ndarray, centres: np.ndarray) -> float:
    d = np.sqrt(((x[:, None, :] - x[None, centres, :]) ** 2).sum(-1))
    return float(d.min(axis=1).max())


@pytest.mark.parametrize("seed", range(6))
def test_matches_brute_force_with_labeled_centres(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(40, 5))
    labeled = list(rng.choice(40, size=4, replace=False))
    sel = k_center_greedy(x, 7, exclude=labeled, chunk_size=7)  # several chunks
    picks, gains, radius = brute_k_center(x, 7, labeled)
    assert sel.indices.tolist() == picks
    np.testing.assert_allclose(sel.gains, gains, rtol=1e-9)
    np.testing.assert_allclose(sel.info["covering_radius"], radius, rtol=1e-9)
    assert not set(sel.indices) & set(labeled)


def test_no_centres_first_pick_random_then_greedy() -> None:
    x = np.random.default_rng(1).normal(size=(30, 3))
    sel = k_center_greedy(x, 5, rng=123)
    picks, gains, radius = brute_k_center(x, 5, [], first=int(sel.indices[0]))
    assert sel.indices.tolist() == picks
    assert np.isnan(sel.gains[0])
    np.testing.assert_allclose(sel.gains[1:], gains[1:], rtol=1e-9)
    np.testing.assert_allclose(sel.info["covering_radius"], radius, rtol=1e-9)
    # seeded: same seed, same first pick; the first pick does depend on the seed
    assert k_center_greedy(x, 5, rng=123).indices.tolist() == sel.indices.tolist()
    firsts = {int(k_center_greedy(x, 1, rng=s).indices[0]) for s in range(20)}
    assert len(firsts) > 3


def test_farthest_from_mean_first() -> None:
    x = np.random.default_rng(2).normal(size=(25, 4))
    sel = k_center_greedy(x, 3, first="farthest-from-mean")
    far = int(np.argmax(((x - x.mean(0)) ** 2).sum(1)))
    assert sel.indices[0] == far


def test_covering_radius_float32_large_chunks() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(500, 16)).astype(np.float32)
    sel = k_center_greedy(x, 20, exclude=[0, 1, 2], chunk_size=64)
    centres = np.concatenate([[0, 1, 2], sel.indices])
    np.testing.assert_allclose(
        sel.info["covering_radius"], covering_radius(x.astype(np.float64), centres), rtol=1e-4
    )
    # each gain is a non-increasing sequence for greedy k-center
    assert np.all(np.diff(sel.gains) <= 1e-5)


def test_greedy_is_2_approximation_of_exhaustive_optimum() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(12, 2))
    k = 3
    opt = min(covering_radius(x, np.array(c)) for c in itertools.combinations(range(12), k))
    for s in range(5):
        r = k_center_greedy(x, k, rng=s).info["covering_radius"]
        assert opt - 1e-12 <= r <= 2 * opt + 1e-12


def test_duplicates_and_centres_never_repicked() -> None:
    x = np.zeros((6, 3))
    x[3:] = 1.0
    sel = k_center_greedy(x, 4, exclude=[0, 3])  # everything left is at distance 0
    assert set(sel.indices) == {1, 2, 4, 5}
    assert sel.info["covering_radius"] == 0.0


def test_cosine_metric_is_euclidean_on_unit_rows() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(50, 6)) * rng.uniform(0.1, 10, size=(50, 1))
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    a = k_center_greedy(x, 6, exclude=[7], metric="cosine")
    b = k_center_greedy(unit, 6, exclude=[7])
    assert a.indices.tolist() == b.indices.tolist()


def test_validation_and_inputs_unmodified() -> None:
    x = np.random.default_rng(6).normal(size=(10, 3)).astype(np.float32)
    before = x.copy()
    t = torch.from_numpy(x.copy())
    k_center_greedy(x, 3, exclude=[1, 2])
    k_center_greedy(t, 3, exclude=[1, 2])
    np.testing.assert_array_equal(x, before)
    np.testing.assert_array_equal(t.numpy(), before)
    with pytest.raises(PoolExhaustedError, match="k=9"):
        k_center_greedy(x, 9, exclude=[1, 2])
    with pytest.raises(ValueError, match="metric"):
        k_center_greedy(x, 2, metric="manhattan")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="backend"):
        k_center_greedy(x, 2, backend="annoy")  # type: ignore[arg-type]


def test_faiss_backend_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "faiss", None)
    x = np.random.default_rng(7).normal(size=(20, 4)).astype(np.float32)
    with pytest.raises(MissingExtraError, match=r"pip install labelwise\[faiss\]"):
        k_center_greedy(x, 3, exclude=[0], backend="faiss")


def test_faiss_backend_matches_torch() -> None:
    import faiss  # noqa: F401  (installed by the test extra; the back end itself is optional)

    x = np.random.default_rng(8).normal(size=(300, 8)).astype(np.float32)
    a = k_center_greedy(x, 10, exclude=np.arange(20), backend="faiss", chunk_size=50)
    b = k_center_greedy(x, 10, exclude=np.arange(20))
    assert a.indices.tolist() == b.indices.tolist()
    np.testing.assert_allclose(a.info["covering_radius"], b.info["covering_radius"], rtol=1e-4)


def _exhaustive_robust(x: np.ndarray, k: int, labeled: list[int], n_out: int) -> float:
    n = len(x)
    free = [i for i in range(n) if i not in labeled]
    best = np.inf
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    for c in itertools.combinations(free, k):
        cent = list(labeled) + list(c)
        mind = np.sort(d[:, cent].min(axis=1))
        best = min(best, mind[n - 1 - n_out])
    return float(best)


@pytest.mark.parametrize("n_out", [0, 2])
def test_robust_k_center_is_exact_on_tiny_input(n_out: int) -> None:
    rng = np.random.default_rng(9)
    x = rng.normal(size=(13, 2))
    x[0] += 8.0  # an outlier
    labeled = [5]
    sel = robust_k_center(x, 2, n_outliers=n_out, exclude=labeled)
    assert len(sel) == 2 and 5 not in sel.indices
    assert len(sel.info["outliers"]) <= n_out
    np.testing.assert_allclose(
        sel.info["covering_radius"], _exhaustive_robust(x, 2, labeled, n_out), rtol=1e-9
    )
    assert sel.info["covering_radius"] <= sel.info["greedy_radius"] + 1e-12


def test_robust_k_center_refuses_large_n() -> None:
    x = np.zeros((50, 2))
    with pytest.raises(ValueError, match="max_n"):
        robust_k_center(x, 2, n_outliers=1, max_n=40)


def _clustered(seed: int, n: int = 3000, d: int = 16, n_clusters: int = 12) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=10.0, size=(n_clusters, d))
    return (centres[rng.integers(n_clusters, size=n)] + rng.normal(size=(n, d))).astype(np.float64)


@pytest.mark.parametrize("seed", range(4))
def test_pruned_updates_equal_the_unpruned_kernel(seed: int) -> None:
    """The triangle-inequality pruning skips most distance evaluations on clustered data
    and changes nothing: same picks, gains and covering radius as the plain kernel."""
    from labelwise.select.coreset import _k_center_kernel

    x = torch.from_numpy(_clustered(seed))
    labeled = np.random.default_rng(seed + 10).choice(x.shape[0], 40, replace=False)
    for centres in (np.sort(labeled), np.zeros(0, dtype=np.int64)):
        fast = _k_center_kernel(x, 60, centres, 0, "random", "torch", 512, prune=True)
        slow = _k_center_kernel(x, 60, centres, 0, "random", "torch", 512, prune=False)
        np.testing.assert_array_equal(fast[0], slow[0])
        np.testing.assert_allclose(fast[1], slow[1], rtol=1e-12, equal_nan=True)
        assert fast[2] == pytest.approx(slow[2], rel=1e-12)
        picks = fast[0][1:] if centres.size == 0 else fast[0]
        assert slow[3] == x.shape[0] * len(picks)
        assert fast[3] < 0.5 * slow[3]  # the bound does prune on well-separated clusters


def test_pruning_bound_is_not_too_loose() -> None:
    """1-D case where the weaker bound d(a, c) >= d(i, a) would wrongly skip item i: centre
    a = 0, item i = 1, new centre c = 1.8 (d(a, c) = 1.8 < 2 d(i, a) = 2, and i moves to c)."""
    from labelwise.select.coreset import _k_center_kernel

    x = torch.tensor([[0.0], [1.0], [1.8], [-3.0], [5.0]], dtype=torch.float64)
    for prune in (True, False):
        picks, _, _, _ = _k_center_kernel(
            x, 2, np.array([0]), 0, "random", "torch", 8, prune=prune
        )
        # picks 5.0 (distance 5), then -3.0 (distance 3); item 1.0 stays at 1.0 from 0
        assert picks.tolist() == [4, 3]
    x = torch.tensor([[0.0], [1.0], [1.8]], dtype=torch.float64)
    picks, _, radius, _ = _k_center_kernel(x, 1, np.array([0]), 0, "random", "torch", 8)
    assert picks.tolist() == [2]
    # after centre 1.8, item 1.0 is 0.8 from it: the covering radius is 0.8, not 1.0
    assert radius == pytest.approx(0.8)


def test_k_center_reports_distance_evaluations() -> None:
    x = _clustered(0, n=2000)
    sel = k_center_greedy(x, 30, exclude=np.arange(50), rng=0)
    assert 0 < sel.info["distance_evaluations"] <= 30 * 2000
