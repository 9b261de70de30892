"""Information density: informativeness weighted by mean cosine similarity to the pool.

Settles & Craven 2008, "An Analysis of Active Learning Strategies for Sequence Labeling
Tasks" (EMNLP).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from labelwise._validation import (
    RNGLike,
    check_embeddings,
    check_exclude,
    check_k,
    check_scores,
)
from labelwise.errors import ShapeError
from labelwise.select._geometry import DEFAULT_CHUNK
from labelwise.select._selection import Selection
from labelwise.select._topk import top_k

__all__ = ["cosine_density", "density_weighted"]


def cosine_density(
    embeddings: Any, *, reference: Any = None, chunk_size: int = DEFAULT_CHUNK
) -> torch.Tensor:
    """Mean cosine similarity ``[N]`` of each item to a reference set, in ``O(N D)``.

    ``mean_j <x̂_i, x̂_j> = <x̂_i, mean_j x̂_j>`` (exact for cosine): one pass to average
    the unit-normalised reference rows, one to project. Zero rows have similarity 0.

    Parameters
    ----------
    embeddings : array [N, D]
    reference : array of int, optional
        Positions forming the reference set (default: all N items).
    """
    x = check_embeddings(embeddings)
    n = x.shape[0]
    ref = None if reference is None else torch.as_tensor(np.asarray(reference, dtype=np.int64))
    acc = torch.zeros(x.shape[1], dtype=torch.float64, device=x.device)
    norms = torch.empty(n, dtype=x.dtype, device=x.device)
    for s in range(0, n, chunk_size):
        c = x[s : s + chunk_size]
        norms[s : s + chunk_size] = c.norm(dim=1)
    inv = torch.where(norms > 0, 1.0 / norms, torch.zeros_like(norms))
    m_ref = n if ref is None else int(ref.numel())
    if m_ref == 0:
        raise ValueError("reference is empty: the mean similarity is undefined")
    for s in range(0, m_ref, chunk_size):
        rows = slice(s, s + chunk_size)
        idx = None if ref is None else ref[rows]
        c = x[rows] if idx is None else x[idx]
        w = inv[rows] if idx is None else inv[idx]
        acc += (c.double() * w.double()[:, None]).sum(dim=0)
    mean_unit = (acc / m_ref).to(x.dtype)
    out = torch.empty(n, dtype=torch.float64, device=x.device)
    for s in range(0, n, chunk_size):
        out[s : s + chunk_size] = (x[s : s + chunk_size] @ mean_unit).double() * inv[
            s : s + chunk_size
        ].double()
    return out


def density_weighted(
    scores: Any,
    embeddings: Any,
    k: int,
    *,
    beta: float = 1.0,
    exclude: Any = None,
    rng: RNGLike = None,
    chunk_size: int = DEFAULT_CHUNK,
) -> Selection:
    """Information density: top-k of ``score * density^beta``.

    ``density_i`` is the mean cosine similarity of item i to the unlabeled pool (the
    non-excluded items), computed exactly in ``O(N D)`` by :func:`cosine_density`. Items
    that are, on average, anti-aligned with the pool (density < 0) get density 0, so
    ``density^beta`` is defined for any ``beta >= 0``.

    Scores must be non-negative (a product with a negative score would reward low
    density). labelwise's margin score ``-(p1 - p2)`` lies in ``[-1, 0]``: pass
    ``1 + margin`` (= ``1 - (p1 - p2)``). ``-inf`` scores rank last.

    Parameters
    ----------
    scores : array [N]
        Informativeness >= 0 (e.g. entropy), higher = label first.
    embeddings : array [N, D]
        Features compared by cosine similarity.
    k : int
        Batch size, ``1 <= k <= N - len(exclude)``.
    beta : float
        Weight of the density term (``0`` = plain top-k by score).
    exclude : array of int, optional
        Positions never picked; also left out of the density reference.
    rng : int, numpy Generator or None
        Tie-breaking.

    Returns
    -------
    Selection
        ``gains`` are the weighted scores; ``info`` records ``beta``.

    References
    ----------
    Settles, B. and Craven, M. (2008). An Analysis of Active Learning Strategies for
    Sequence Labeling Tasks. EMNLP.
    """
    s = check_scores(scores)
    x = check_embeddings(embeddings)
    n = s.shape[0]
    if x.shape[0] != n:
        raise ShapeError(f"scores has {n} items but embeddings has {x.shape[0]}")
    if isinstance(beta, bool) or not np.isfinite(beta) or beta < 0:
        raise ValueError(f"beta must be a finite number >= 0, got {beta!r}")
    finite = torch.isfinite(s)
    if bool((s[finite] < 0).any()):
        raise ValueError(
            f"scores must be >= 0 for density weighting, got min {float(s[finite].min()):.4g}; "
            "shift margin scores by +1 (1 - (p1 - p2)) or use entropy"
        )
    mask = check_exclude(exclude, n)
    k = check_k(k, int((~mask).sum()))
    dens = cosine_density(x, reference=np.flatnonzero(~mask), chunk_size=chunk_size)
    weight = dens.clamp(min=0) ** float(beta)
    s64 = s.detach().double().to(weight.device)
    weighted = torch.where(finite.to(weight.device), s64 * weight, s64)
    sel = top_k(weighted.cpu(), k, exclude=np.flatnonzero(mask), rng=rng)
    info = {"method": "density_weighted", "beta": float(beta)}
    return Selection(sel.indices, sel.gains, info)
