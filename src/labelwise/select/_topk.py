"""Per-item ranking selectors: top-k with seeded tie-breaking, and uniform random."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from labelwise._validation import RNGLike, check_exclude, check_k, check_rng, check_scores
from labelwise.errors import BudgetError
from labelwise.select._selection import Selection

__all__ = ["random_batch", "top_k"]


def top_k(
    scores: Any,
    k: int,
    *,
    exclude: Any = None,
    rng: RNGLike = None,
) -> Selection:
    """Select the ``k`` items with the highest scores.

    Ties at the selection boundary are broken uniformly at random with ``rng``, so that
    equal scores (e.g. variation ratios, which take only K + 1 values) never favour low
    indices. The work is O(N): one partial sort (introselect) plus a random draw among the tied items.

    Parameters
    ----------
    scores : array [N]
        Higher = label first. ``-inf`` ranks last but may still fill the batch.
    k : int
        Batch size, 1 <= k <= N - len(exclude).
    exclude : array of int, optional
        Positions never to select (e.g. already labeled items).
    rng : int, numpy Generator or None
        Tie-breaking randomness.

    Returns
    -------
    Selection
        ``indices`` ordered by decreasing score; ``gains`` are the scores.
    """
    s = check_scores(scores)
    n = s.shape[0]
    cand: np.ndarray | None = None
    if exclude is not None:
        mask = check_exclude(exclude, n)
        if mask.any():
            cand = np.flatnonzero(~mask)
    k = check_k(k, n if cand is None else cand.size)
    gen = check_rng(rng)
    # The scores keep their dtype (no float64 copy of the pool): only the k gains are cast.
    if s.dtype == torch.bfloat16:  # NumPy has no bfloat16
        s = s.float()
    s_np = s.detach().cpu().numpy()
    picked = _top_k_kernel(s_np, cand, k, gen)
    return Selection(picked, s_np[picked].astype(np.float64), {"method": "top_k"})


def _top_k_kernel(
    s: np.ndarray, cand: np.ndarray | None, k: int, gen: np.random.Generator
) -> np.ndarray:
    """Top-k of ``s`` restricted to ``cand`` (None = all), ties broken with ``gen``."""
    sc = s if cand is None else s[cand]
    # The k-th largest score by introselect (O(N), ~3x faster than torch.topk at N = 1e6).
    thr = np.partition(sc, sc.size - k)[sc.size - k]
    above = np.flatnonzero(sc > thr)
    tied = np.flatnonzero(sc == thr)
    need = k - above.size
    chosen_ties = gen.choice(tied, size=need, replace=False) if need > 0 else tied[:0]
    above = above[np.argsort(-sc[above], kind="stable")]
    local = np.concatenate([above, chosen_ties])
    return local if cand is None else cand[local]


def random_batch(
    n: int,
    k: int,
    *,
    exclude: Any = None,
    rng: RNGLike = None,
) -> Selection:
    """Select ``k`` of ``n`` items uniformly at random without replacement.

    The baseline every strategy must beat. ``gains`` are ``nan`` (no notion of value).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise BudgetError(f"n must be a positive integer (the number of items), got {n!r}")
    mask = check_exclude(exclude, int(n))
    cand = np.flatnonzero(~mask)
    k = check_k(k, cand.size)
    gen = check_rng(rng)
    picked = gen.choice(cand, size=k, replace=False)
    return Selection(picked, np.full(k, np.nan), {"method": "random"})
