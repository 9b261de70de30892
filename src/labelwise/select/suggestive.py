"""Suggestive annotation: uncertain candidates, then greedy max-cover by cosine similarity.

Yang, Zhang, Chen, Zhang, Chen 2017, "Suggestive Annotation: A Deep Active Learning
Framework for Biomedical Image Segmentation" (MICCAI, arXiv 1706.04737).
"""

from __future__ import annotations

import heapq
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
from labelwise.select._geometry import DEFAULT_CHUNK, check_chunk_size
from labelwise.select._selection import Selection
from labelwise.select._topk import top_k

__all__ = ["suggestive_annotation"]


def _pos_int_or_none(v: Any, name: str) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or int(v) < 1:
        raise ValueError(f"{name} must be a positive integer or None, got {v!r}")
    return int(v)


def suggestive_annotation(
    scores: Any,
    embeddings: Any,
    k: int,
    *,
    n_candidates: int | None = None,
    reference_size: int | None = None,
    exclude: Any = None,
    rng: RNGLike = None,
    chunk_size: int = DEFAULT_CHUNK,
) -> Selection:
    """Suggestive annotation: top uncertain candidates, then greedy representativeness.

    1. Candidates: the ``n_candidates`` non-excluded items with the highest ``scores``
       (default ``min(2 k, selectable)``: the paper keeps 16 uncertain images and annotates
       8).
    2. Greedy maximisation of the facility-location function over a reference set R
       (the non-excluded items, i.e. the unlabeled pool):
       ``F(S) = sum_{x in R} max_{s in S} cos(x, s)``. Each step adds the candidate with
       the largest marginal gain. The running max starts at -1 (the smallest cosine), so
       every gain is >= 0 and ``F(∅) = -|R|``; for non-negative features (ReLU) the picks
       equal those of the usual ``F(∅) = 0`` convention.

    ``F`` is monotone submodular, so a lazy greedy (priority queue of stale upper bounds,
    re-evaluating only the top candidate) returns exactly the plain greedy's picks (ties
    go to the lowest position) while evaluating far fewer candidates. Memory: a running
    max-similarity vector ``[|R|]`` and ``chunk_size x n_candidates`` similarity blocks;
    never N x N. Time: ``O(n_candidates |R| D)`` for the first pass, ``O(|R| D)`` per later
    evaluation. For very large pools pass ``reference_size`` to measure representativeness
    against a seeded uniform subset of the pool instead of all of it.

    Parameters
    ----------
    scores : array [N]
        Uncertainty, higher = more worth labeling (the paper: bootstrap disagreement;
        labelwise's strategy uses entropy).
    embeddings : array [N, D]
        Descriptors compared with cosine similarity (zero rows have similarity 0).
    k : int
        Batch size, ``1 <= k <= N - len(exclude)``.
    n_candidates : int, optional
        Size of the uncertain candidate set (capped at the selectable items; at least k).
    reference_size : int, optional
        Use a seeded random subset of this many non-excluded items as R.
    exclude : array of int, optional
        Positions never picked; also left out of R (they are labeled already).
    rng : int, numpy Generator or None
        Seeds the candidate tie-breaking and the reference subset.
    chunk_size : int
        Reference rows per block.

    Returns
    -------
    Selection
        ``indices`` in pick order, ``gains`` the marginal gains of F.
        ``info["n_evaluations"]`` counts gain evaluations (lazy greedy statistic).

    References
    ----------
    Yang, L., Zhang, Y., Chen, J., Zhang, S. and Chen, D. Z. (2017). Suggestive
    Annotation: A Deep Active Learning Framework for Biomedical Image Segmentation. MICCAI.
    """
    s = check_scores(scores)
    x = check_embeddings(embeddings)
    n = s.shape[0]
    if x.shape[0] != n:
        raise ShapeError(f"scores has {n} items but embeddings has {x.shape[0]}")
    mask = check_exclude(exclude, n)
    n_sel = int((~mask).sum())
    k = check_k(k, n_sel)
    n_cand = _pos_int_or_none(n_candidates, "n_candidates")
    ref_size = _pos_int_or_none(reference_size, "reference_size")
    chunk_size = check_chunk_size(chunk_size)
    gen = check_rng(rng)
    m = min(max(n_cand if n_cand is not None else 2 * k, k), n_sel)
    cand = np.array(top_k(s, m, exclude=np.flatnonzero(mask), rng=gen).indices)
    ref = np.flatnonzero(~mask)
    if ref_size is not None and ref_size < ref.size:
        ref = np.sort(gen.choice(ref, size=ref_size, replace=False))
    picks, gains, n_eval = _lazy_facility_location(x, cand, ref, k, chunk_size)
    info = {
        "method": "suggestive_annotation",
        "n_candidates": int(m),
        "reference_size": int(ref.size),
        "n_evaluations": int(n_eval),
    }
    return Selection(picks, gains, info)


def _lazy_facility_location(
    x: torch.Tensor, cand: np.ndarray, ref: np.ndarray, k: int, chunk_size: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Lazy greedy max of sum_{r in ref} max_{s in S} cos(x_r, x_s) over s in cand."""
    full_ref = ref.size == x.shape[0]
    ref_t = torch.as_tensor(ref, device=x.device)
    norms = x.norm(dim=1)  # [N], no copy of x
    inv = torch.where(norms > 0, 1.0 / norms, torch.zeros_like(norms))
    inv_ref = inv if full_ref else inv[ref_t]
    cur = torch.full((ref.size,), -1.0, dtype=torch.float64, device=x.device)

    def ref_rows(s0: int) -> torch.Tensor:
        return x[s0 : s0 + chunk_size] if full_ref else x[ref_t[s0 : s0 + chunk_size]]

    # First pass: exact gains of every candidate, one blocked GEMM [chunk, m].
    cand_t = torch.as_tensor(cand, device=x.device)
    cx = x[cand_t] * inv[cand_t][:, None]  # unit candidates [m, D]
    first = torch.zeros(cand.size, dtype=torch.float64, device=x.device)
    for s0 in range(0, ref.size, chunk_size):
        sim = (ref_rows(s0) @ cx.T) * inv_ref[s0 : s0 + chunk_size, None]
        first += (sim.double() + 1.0).sum(dim=0)
    n_eval = int(cand.size)

    def sims(j: int) -> torch.Tensor:
        out = torch.empty(ref.size, dtype=torch.float64, device=x.device)
        for s0 in range(0, ref.size, chunk_size):
            sim = (ref_rows(s0) @ cx[j]) * inv_ref[s0 : s0 + chunk_size]
            out[s0 : s0 + chunk_size] = sim.double()
        return out

    heap = [(-float(first[j]), int(cand[j]), j, 0) for j in range(cand.size)]
    heapq.heapify(heap)
    picks = np.empty(k, dtype=np.int64)
    gains = np.empty(k, dtype=np.float64)
    step = 0
    last: tuple[int, torch.Tensor] | None = None  # the latest evaluation, usually the pick
    while step < k:
        neg, pos, j, when = heapq.heappop(heap)
        if when == step:
            sim_j = last[1] if last is not None and last[0] == j else sims(j)
            torch.maximum(cur, sim_j, out=cur)
            picks[step] = pos
            gains[step] = -neg
            step += 1
            last = None
            continue
        sim_j = sims(j)
        n_eval += 1
        gain = float((sim_j - cur).clamp_(min=0).sum())
        last = (j, sim_j)
        heapq.heappush(heap, (-gain, pos, j, step))
    return picks, gains, n_eval
