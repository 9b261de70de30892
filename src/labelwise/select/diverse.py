"""Diverse mini-batch active learning: prefilter by informativeness, weighted k-means.

Zhdanov 2019, "Diverse mini-batch Active Learning" (arXiv 1901.05954).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from labelwise._validation import (
    RNGLike,
    check_embeddings,
    check_exclude,
    check_k,
    check_rng,
    check_scores,
)
from labelwise.errors import ShapeError
from labelwise.select._selection import Selection
from labelwise.select._topk import top_k

__all__ = ["diverse_kmeans"]


def _positive_weights(s: np.ndarray) -> np.ndarray:
    """Scores -> strictly positive k-means weights (shift when needed, ``-inf`` -> tiny)."""
    w = s.astype(np.float64, copy=True)
    finite = np.isfinite(w)
    if not finite.any():
        return np.ones_like(w)
    lo = float(w[finite].min())
    w[~finite] = lo
    if lo <= 0:
        w = w - lo
    eps = max(float(w.max()), 1.0) * 1e-6
    return w + eps


def diverse_kmeans(
    scores: Any,
    embeddings: Any,
    k: int,
    *,
    beta: int = 50,
    exclude: Any = None,
    rng: RNGLike = None,
    max_iter: int = 300,
    n_init: int = 1,
) -> Selection:
    """Diverse mini-batch: weighted k-means over the ``beta * k`` most informative items.

    1. Prefilter: the ``min(beta * k, selectable)`` non-excluded items with the highest
       ``scores`` (seeded tie-breaking, as :func:`~labelwise.select.top_k`).
    2. Weighted k-means with ``k`` clusters on their embeddings, weights = the scores
       (shifted by ``-min`` when any is ``<= 0``, plus a tiny epsilon so no weight is 0;
       ``-inf`` scores get the smallest weight). scikit-learn's ``KMeans`` with
       ``sample_weight``, k-means++ init, seeded from ``rng``.
    3. For each centre, the nearest prefiltered item not already taken (centres in
       cluster-label order), so the k items are distinct even when clusters collapse.

    Zhdanov uses margin informativeness ``1 - (p1 - p2)``; any "higher = more
    informative" score works.

    Parameters
    ----------
    scores : array [N]
        Informativeness, higher = more worth labeling.
    embeddings : array [N, D]
        Features used for clustering.
    k : int
        Batch size, ``1 <= k <= N - len(exclude)``.
    beta : int
        Prefilter factor (the paper tries 10 and 50; 50 is the common default). Capped at
        the pool size.
    exclude : array of int, optional
        Positions never picked.
    rng : int, numpy Generator or None
        Seeds the tie-breaking and k-means.
    max_iter, n_init : int
        Passed to ``sklearn.cluster.KMeans``.

    Returns
    -------
    Selection
        ``gains`` are the picked items' scores; ``info`` has the prefilter size and the
        k-means inertia.

    References
    ----------
    Zhdanov, F. (2019). Diverse mini-batch Active Learning. arXiv:1901.05954.
    """
    from sklearn.cluster import KMeans

    s = check_scores(scores)
    x = check_embeddings(embeddings)
    n = s.shape[0]
    if x.shape[0] != n:
        raise ShapeError(f"scores has {n} items but embeddings has {x.shape[0]}")
    if isinstance(beta, bool) or not isinstance(beta, (int, np.integer)) or beta < 1:
        raise ValueError(f"beta must be an integer >= 1, got {beta!r}")
    mask = check_exclude(exclude, n)
    n_sel = int((~mask).sum())
    k = check_k(k, n_sel)
    gen = check_rng(rng)
    m = min(int(beta) * k, n_sel)
    pre = np.array(top_k(s, m, exclude=np.flatnonzero(mask), rng=gen).indices)
    s_np = s.detach().cpu().numpy().astype(np.float64)
    xp = x[torch.as_tensor(pre)].detach().cpu().double().numpy()
    if m == k:
        picks = pre
        inertia = 0.0
    else:
        w = _positive_weights(s_np[pre])
        km = KMeans(
            n_clusters=k,
            n_init=n_init,
            max_iter=max_iter,
            random_state=int(gen.integers(0, 2**31 - 1)),
        )
        with warnings.catch_warnings():
            # duplicate points can leave fewer distinct clusters; step 3 still gives k items
            warnings.simplefilter("ignore")
            km.fit(xp, sample_weight=w)
        inertia = float(km.inertia_)
        local = _nearest_distinct(km.cluster_centers_, xp)
        picks = pre[local]
    info = {
        "method": "diverse_kmeans",
        "n_prefiltered": int(m),
        "beta": int(beta),
        "inertia": inertia,
    }
    return Selection(picks, s_np[picks], info)


def _nearest_distinct(centers: np.ndarray, x: np.ndarray, chunk: int = 256) -> np.ndarray:
    """For each centre in order, the nearest row of ``x`` not taken by an earlier centre."""
    k = centers.shape[0]
    taken = np.zeros(x.shape[0], dtype=bool)
    out = np.empty(k, dtype=np.int64)
    x_sq = (x * x).sum(1)
    for s in range(0, k, chunk):
        cb = centers[s : s + chunk]
        d = x_sq[None, :] - 2.0 * cb @ x.T + (cb * cb).sum(1)[:, None]
        for r in range(cb.shape[0]):
            row = np.where(taken, np.inf, d[r])
            j = int(np.argmin(row))
            out[s + r] = j
            taken[j] = True
    return out
