"""Cluster-Margin: lowest-margin candidates spread round-robin over HAC clusters.

Citovsky, DeSalvo, Gentile, Karydas, Rajagopalan, Rostamizadeh, Kumar 2021, "Batch Active
Learning at Scale" (NeurIPS, arXiv 2107.14263).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from labelwise._validation import (
    RNGLike,
    as_tensor,
    check_embeddings,
    check_exclude,
    check_k,
    check_rng,
    check_scores,
)
from labelwise.errors import ShapeError
from labelwise.select._geometry import margin_scores, mean_probs
from labelwise.select._selection import Selection
from labelwise.select._topk import top_k

__all__ = ["batch_clusters", "cluster_margin", "hac_cluster"]


def hac_cluster(
    embeddings: Any,
    *,
    distance_threshold: float | None = None,
    n_clusters: int | None = None,
    max_samples: int = 2000,
    rng: RNGLike = None,
) -> np.ndarray:
    """Average-linkage agglomerative clustering of ``[N, D]`` rows; labels ``[N]``.

    Exactly one of ``distance_threshold`` (the paper's epsilon: clusters are cut where the
    average-linkage distance exceeds it) and ``n_clusters`` is used (``distance_threshold``
    wins if both are given). HAC needs ``O(S^2)`` memory for S clustered points, so when
    ``N > max_samples`` a seeded uniform subsample of ``max_samples`` rows is clustered and
    every other row is assigned to the nearest cluster centroid (mean of its sampled
    members), in chunks. Labels are ``0 .. n_found - 1``.
    """
    from scipy.cluster.hierarchy import fcluster, linkage

    x = check_embeddings(embeddings)
    n = x.shape[0]
    if distance_threshold is None and n_clusters is None:
        raise ValueError("pass distance_threshold=epsilon or n_clusters (both are None)")
    if distance_threshold is not None and not (
        np.isfinite(distance_threshold) and distance_threshold >= 0
    ):
        raise ValueError(f"distance_threshold must be a finite number >= 0, got {distance_threshold!r}")
    if n_clusters is not None and (
        isinstance(n_clusters, bool) or not isinstance(n_clusters, (int, np.integer)) or n_clusters < 1
    ):
        raise ValueError(f"n_clusters must be a positive integer, got {n_clusters!r}")
    if isinstance(max_samples, bool) or not isinstance(max_samples, (int, np.integer)) or max_samples < 2:
        raise ValueError(f"max_samples must be an integer >= 2, got {max_samples!r}")
    gen = check_rng(rng)
    if n == 1:
        return np.zeros(1, dtype=np.int64)
    sample = np.arange(n) if n <= max_samples else np.sort(gen.choice(n, max_samples, replace=False))
    xs = x[torch.as_tensor(sample)].detach().cpu().double().numpy()
    z = linkage(xs, method="average", metric="euclidean")
    if distance_threshold is not None:
        lab = fcluster(z, t=float(distance_threshold), criterion="distance")
    else:
        lab = fcluster(z, t=int(n_clusters), criterion="maxclust")  # type: ignore[arg-type]
    _, lab = np.unique(lab, return_inverse=True)
    labels = np.empty(n, dtype=np.int64)
    labels[sample] = lab
    if sample.size < n:
        n_found = int(lab.max()) + 1
        cent = np.zeros((n_found, xs.shape[1]))
        np.add.at(cent, lab, xs)
        cent /= np.bincount(lab, minlength=n_found)[:, None]
        rest = np.setdiff1d(np.arange(n), sample)
        labels[rest] = _nearest_centroid(x[torch.as_tensor(rest)], cent)
    return labels


def _nearest_centroid(x: torch.Tensor, cent: np.ndarray, chunk: int = 8192) -> np.ndarray:
    c = torch.from_numpy(cent).to(dtype=x.dtype, device=x.device)
    c_sq = (c * c).sum(1)
    out = np.empty(x.shape[0], dtype=np.int64)
    for s in range(0, x.shape[0], chunk):
        d = c_sq[None, :] - 2.0 * x[s : s + chunk] @ c.T
        out[s : s + chunk] = d.argmin(dim=1).cpu().numpy()
    return out


def batch_clusters(
    embeddings: Any,
    k: int,
    *,
    distance_threshold: float | None = None,
    n_clusters: int | None = None,
    max_cluster_samples: int = 2000,
    rng: RNGLike = None,
) -> np.ndarray:
    """Cluster-Margin's HAC cut for batches of ``k``: at ``distance_threshold`` (epsilon)
    if given, else into ``n_clusters``, else into ``min(k, N)`` clusters; labels ``[N]``."""
    if distance_threshold is None and n_clusters is None:
        n_clusters = min(k, int(embeddings.shape[0]))
    return hac_cluster(
        embeddings,
        distance_threshold=distance_threshold,
        n_clusters=None if distance_threshold is not None else n_clusters,
        max_samples=max_cluster_samples,
        rng=rng,
    )


def cluster_margin(
    scores: Any,
    embeddings: Any,
    k: int,
    *,
    margin_multiple: float = 10.0,
    distance_threshold: float | None = None,
    n_clusters: int | None = None,
    max_cluster_samples: int = 2000,
    labels: Any = None,
    exclude: Any = None,
    rng: RNGLike = None,
) -> Selection:
    """Cluster-Margin batch: the ``k_m`` lowest-margin items, round-robin over clusters.

    1. Cluster the non-excluded pool with average-linkage HAC (:func:`hac_cluster`):
       cut at ``distance_threshold`` (the paper's epsilon) or into ``n_clusters``
       clusters; when neither is given, ``n_clusters = k``. Pools larger than
       ``max_cluster_samples`` cluster a seeded subsample and assign the rest to the
       nearest centroid. The paper clusters the whole pool once per run; pass ``labels``
       to reuse a clustering (then no clustering is done here). ``simulate`` does so:
       the registered ``cluster-margin`` strategy clusters every pool item once, at the
       first acquisition, and passes those labels every round
       (``Strategy.pool_clustering``).
    2. Take the ``k_m = ceil(margin_multiple * k)`` items with the smallest margin (capped
       at the selectable items).
    3. Group them by cluster, sort the clusters by their number of candidates ascending
       (ties by cluster label), and visit them round-robin, taking one random candidate
       (seeded) from each non-empty cluster per round, until k items are chosen.

    Parameters
    ----------
    scores : array [N] or probs [N, K, C]
        Either labelwise margin scores (``-(p1 - p2)``, higher = smaller margin = label
        first) or predictive probabilities, from which that score is computed on the
        mean prediction. The rank tells them apart.
    embeddings : array [N, D]
        Features to cluster.
    k : int
        Batch size, ``1 <= k <= N - len(exclude)``.
    margin_multiple : float
        ``k_m / k`` (the paper uses 10), >= 1.
    distance_threshold, n_clusters : optional
        HAC cut (see step 1).
    max_cluster_samples : int
        Largest number of points HAC runs on (``O(S^2)`` memory).
    labels : array of int [N], optional
        Precomputed cluster labels for all N items.
    exclude : array of int, optional
        Positions never picked (and left out of the clustering).
    rng : int, numpy Generator or None
        Seeds the subsample, the margin tie-breaking and the picks within clusters.

    Returns
    -------
    Selection
        ``indices`` in pick order, ``gains`` the picked items' margin scores,
        ``info["n_clusters"]`` the clusters found, ``info["k_m"]`` the candidate count.

    References
    ----------
    Citovsky, G., DeSalvo, G., Gentile, C., Karydas, L., Rajagopalan, A., Rostamizadeh, A.
    and Kumar, S. (2021). Batch Active Learning at Scale. NeurIPS.
    """
    t = as_tensor(scores, "scores")
    s = check_scores(t) if t.ndim == 1 else margin_scores(mean_probs(t, "scores"))
    x = check_embeddings(embeddings)
    n = s.shape[0]
    if x.shape[0] != n:
        raise ShapeError(f"scores has {n} items but embeddings has {x.shape[0]}")
    if not (np.isfinite(margin_multiple) and margin_multiple >= 1):
        raise ValueError(f"margin_multiple must be a finite number >= 1, got {margin_multiple!r}")
    mask = check_exclude(exclude, n)
    n_sel = int((~mask).sum())
    k = check_k(k, n_sel)
    gen = check_rng(rng)
    pool = np.flatnonzero(~mask)
    if labels is not None:
        lab_all = np.asarray(labels)
        if lab_all.shape != (n,) or lab_all.dtype.kind not in "iu":
            raise ShapeError(
                f"labels must be integer cluster labels of shape ({n},), got "
                f"{lab_all.dtype} {lab_all.shape}"
            )
    else:
        lab_all = np.full(n, -1, dtype=np.int64)
        lab_all[pool] = batch_clusters(
            x[torch.as_tensor(pool)], k, distance_threshold=distance_threshold,
            n_clusters=n_clusters, max_cluster_samples=max_cluster_samples, rng=gen,
        )
    k_m = min(int(np.ceil(margin_multiple * k)), n_sel)
    cand = np.array(top_k(s, k_m, exclude=np.flatnonzero(mask), rng=gen).indices)
    picks = _round_robin(cand, lab_all[cand], k, gen)
    s_np = s.detach().cpu().numpy().astype(np.float64)
    info = {
        "method": "cluster_margin",
        "k_m": int(k_m),
        "n_clusters": int(np.unique(lab_all[pool]).size),
        "n_candidate_clusters": int(np.unique(lab_all[cand]).size),
    }
    return Selection(picks, s_np[picks], info)


def _round_robin(
    cand: np.ndarray, lab: np.ndarray, k: int, gen: np.random.Generator
) -> np.ndarray:
    """Clusters by size ascending; one seeded-random member per cluster per round."""
    clusters, counts = np.unique(lab, return_counts=True)
    order = clusters[np.lexsort((clusters, counts))]
    queues = [list(gen.permutation(cand[lab == c])) for c in order]
    out: list[int] = []
    while len(out) < k:
        for q in queues:
            if q and len(out) < k:
                out.append(int(q.pop()))
    return np.asarray(out, dtype=np.int64)
