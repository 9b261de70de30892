"""Core-set selection: k-center greedy and its robust (outlier-budget) variant.

Sener & Savarese 2018, "Active Learning for Convolutional Neural Networks: A Core-Set
Approach" (ICLR, arXiv 1708.00489).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch

from labelwise._validation import (
    RNGLike,
    check_embeddings,
    check_exclude,
    check_k,
    check_rng,
)
from labelwise.errors import MissingExtraError
from labelwise.select._geometry import (
    DEFAULT_CHUNK,
    check_chunk_size,
    min_sqdist_to_centers,
    normalize_rows,
    sq_norms,
    sqdist_to_point,
    update_min_sqdist,
)
from labelwise.select._selection import Selection

__all__ = ["k_center_greedy", "robust_k_center"]

_FIRST = ("random", "farthest-from-mean")
_BACKENDS = ("torch", "faiss")
_METRICS = ("euclidean", "cosine")


def k_center_greedy(
    embeddings: Any,
    k: int,
    *,
    exclude: Any = None,
    rng: RNGLike = None,
    first: Literal["random", "farthest-from-mean"] = "random",
    metric: Literal["euclidean", "cosine"] = "euclidean",
    backend: Literal["torch", "faiss"] = "torch",
    chunk_size: int = DEFAULT_CHUNK,
) -> Selection:
    """Core-set batch by k-center greedy (the 2-approximation of Sener & Savarese 2018).

    The excluded positions (the labeled items) are the initial centres. Each step picks the
    selectable item farthest from its nearest centre and makes it a centre, so the batch
    greedily minimises the covering radius ``max_i min_c ||x_i - c||`` over all N items.

    A min-distance vector ``[N]`` is kept; after each pick it is updated with one GEMV-shaped
    pass ``||x||^2 - 2 x.c + ||c||^2`` (clamped at 0). The initial distances to m labeled
    centres are a blocked GEMM. Memory: the input, plus ``O(N)`` vectors, plus
    ``chunk_size x 512`` temporaries; an N x N matrix is never formed. Time:
    ``O(N D (m + k))``.

    Parameters
    ----------
    embeddings : array [N, D]
        Features (e.g. the penultimate layer) of all items, labeled ones included.
        float32 input is computed in float32, float64 in float64 (float32 distances lose
        precision for near-ties, as in every GEMM-based implementation).
    k : int
        Batch size, ``1 <= k <= N - len(exclude)``.
    exclude : array of int, optional
        Labeled positions: initial centres, never selected.
    rng : int, numpy Generator or None
        Only used when there are no centres and ``first="random"``.
    first : {"random", "farthest-from-mean"}
        How to choose the first centre when ``exclude`` is empty: a seeded uniformly random
        item (the official code's choice, the default), or the item farthest from the
        mean embedding (deterministic). Ignored when there are labeled centres.
    metric : {"euclidean", "cosine"}
        ``"cosine"`` runs the same algorithm on unit-normalised rows (Euclidean distance
        between unit vectors is ``sqrt(2 - 2 cos)``); it makes one normalised copy of the
        embeddings.
    backend : {"torch", "faiss"}
        ``"faiss"`` computes the initial nearest-labeled-centre distances with a faiss
        ``IndexFlatL2`` (useful when there are many labeled items); the per-pick update is
        a single GEMV either way. Needs ``pip install labelwise[faiss]``.
    chunk_size : int
        Rows per block of the initial GEMM.

    Returns
    -------
    Selection
        ``indices`` in pick order. ``gains[j]`` is the Euclidean distance of pick ``j`` to
        its nearest centre at pick time (``nan`` for the very first pick when there were no
        centres). ``info["covering_radius"]`` is ``max_i min_c ||x_i - c||`` over all N
        items after the last pick, with centres = labeled items + the batch.

    Raises
    ------
    PoolExhaustedError
        ``k`` exceeds the number of non-excluded items.
    MissingExtraError
        ``backend="faiss"`` without faiss installed.

    References
    ----------
    Sener, O. and Savarese, S. (2018). Active Learning for Convolutional Neural Networks:
    A Core-Set Approach. ICLR.
    """
    x = check_embeddings(embeddings)
    n = x.shape[0]
    mask = check_exclude(exclude, n)
    k = check_k(k, int((~mask).sum()))
    if first not in _FIRST:
        raise ValueError(f"first must be one of {_FIRST}, got {first!r}")
    if metric not in _METRICS:
        raise ValueError(f"metric must be one of {_METRICS}, got {metric!r}")
    if backend not in _BACKENDS:
        raise ValueError(f"backend must be one of {_BACKENDS}, got {backend!r}")
    chunk_size = check_chunk_size(chunk_size)
    if metric == "cosine":
        x = normalize_rows(x, chunk_size)
    centers = np.flatnonzero(mask)
    picks, gains, radius, evaluated = _k_center_kernel(
        x, k, centers, rng, first, backend, chunk_size
    )
    info = {
        "method": "k_center_greedy",
        "covering_radius": radius,
        "distance_evaluations": evaluated,
        "n_initial_centers": int(centers.size),
        "metric": metric,
        "backend": backend,
    }
    return Selection(picks, gains, info)


def _faiss_min_sqdist(
    x: torch.Tensor, centers: np.ndarray, chunk_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        import faiss
    except ImportError as exc:
        raise MissingExtraError(
            "backend='faiss' needs faiss: pip install labelwise[faiss] "
            "(or use backend='torch', the default)"
        ) from exc
    xs = x.detach().cpu()
    cen = np.ascontiguousarray(xs[torch.as_tensor(centers)].numpy(), dtype=np.float32)
    index = faiss.IndexFlatL2(cen.shape[1])
    index.add(cen)
    out = np.empty(x.shape[0], dtype=np.float32)
    near = np.empty(x.shape[0], dtype=np.int64)
    for s in range(0, x.shape[0], chunk_size):
        q = np.ascontiguousarray(xs[s : s + chunk_size].numpy(), dtype=np.float32)
        dist, arg = index.search(q, 1)
        out[s : s + chunk_size] = dist[:, 0]
        near[s : s + chunk_size] = arg[:, 0]
    mind = torch.from_numpy(out).to(device=x.device, dtype=x.dtype).clamp_(min=0)
    return mind, torch.from_numpy(near).to(x.device)


#: Above this share of items needing the exact distance to a new centre, one GEMV over the
#: whole pool is cheaper than gathering their rows.
_FULL_PASS_FRACTION = 0.5
#: Rows gathered per block for the exact distances of the items the bound cannot rule out.
_GATHER_ELEMENTS = 1 << 18


def _k_center_kernel(
    x: torch.Tensor,
    k: int,
    centers: np.ndarray,
    rng: RNGLike,
    first: str,
    backend: str,
    chunk_size: int,
    prune: bool = True,
) -> tuple[np.ndarray, np.ndarray, float, int]:
    """k-center greedy on trusted input.

    Returns picks, gains (distances), the covering radius and how many item-to-new-centre
    distances the picks computed.

    Pruning (exact): every item keeps its nearest centre ``a_i``. By the triangle
    inequality ``d(i, c) >= d(a_i, c) - d(i, a_i)``, so when ``d(a_i, c) >= 2 d(i, a_i)``
    the new centre ``c`` cannot be closer to ``i`` than ``a_i`` is and ``i``'s row is not
    read. The centre-to-centre distances cost one small GEMV over the centres; the test is
    a gather and a comparison over ``[N]``, against a GEMV over ``[N, D]``. The bound
    carries a rounding slack of ``4 sqrt(64 eps (|x_i|^2 + 2 max|c|^2))`` on each side
    (several times the typical error of the GEMV-form distances), so the minimum
    distances and the picks are those of the unpruned computation except at ties within
    floating-point rounding, where the unpruned result is itself arbitrary.
    """
    n, dim = x.shape
    x_sq = sq_norms(x, chunk_size)
    buf = torch.empty(n, dtype=x.dtype, device=x.device)
    picks = np.empty(k, dtype=np.int64)
    gains = np.empty(k, dtype=np.float64)
    m = int(centers.size)
    # Rows of every centre so far (labeled ones, then the picks), for the pruning bound.
    cen = torch.empty((m + k, dim), dtype=x.dtype, device=x.device)
    cen_sq = torch.empty(m + k, dtype=x.dtype, device=x.device)
    start = 0
    if m:
        cidx = torch.as_tensor(centers, device=x.device)
        if backend == "faiss":
            mind, near = _faiss_min_sqdist(x, centers, chunk_size)
        else:
            mind, near = min_sqdist_to_centers(x, x_sq, centers, chunk_size)
        cen[:m] = x[cidx]
        cen_sq[:m] = x_sq[cidx]
        # Sentinel -1: centres can never be the argmax, even when every distance is 0.
        mind[cidx] = -1.0
        n_cen = m
    else:
        if first == "random":
            c0 = int(check_rng(rng).integers(n))
        else:
            mean = x.mean(dim=0)
            c0 = int(torch.argmax(sqdist_to_point(x, x_sq, mean, buf)))
        picks[0] = c0
        gains[0] = np.nan
        mind = torch.full((n,), float("inf"), dtype=x.dtype, device=x.device)
        update_min_sqdist(x, x_sq, x[c0], mind, buf)
        mind[c0] = -1.0
        near = torch.zeros(n, dtype=torch.int64, device=x.device)
        cen[0] = x[c0]
        cen_sq[0] = x_sq[c0]
        n_cen = 1
        start = 1
    eps64 = 64.0 * float(torch.finfo(x.dtype).eps)
    t_item = x_sq.mul(eps64).sqrt_()  # per-item part of the slack
    # thr_i = 2 d(i, a_i) + 4 t_i; -inf for centres (never updated)
    thr = mind.clamp(min=0).sqrt_().mul_(2.0).add_(t_item, alpha=4.0)
    thr[mind < 0] = float("-inf")
    cmax = float(cen_sq[:n_cen].max())
    gather_rows = max(1, _GATHER_ELEMENTS // max(dim, 1))
    gathered = torch.empty((min(gather_rows, n), dim), dtype=x.dtype, device=x.device)
    part = torch.empty(min(gather_rows, n), dtype=x.dtype, device=x.device)
    evaluated = 0
    for j in range(start, k):
        idx = int(torch.argmax(mind))
        picks[j] = idx
        gains[j] = float(mind[idx].clamp(min=0).sqrt())
        c = x[idx]
        c_sq = x_sq[idx]
        cmax = max(cmax, float(c_sq))
        if prune:
            dcc = torch.mv(cen[:n_cen], c).mul_(-2.0).add_(cen_sq[:n_cen]).add_(c_sq)
            dcc.clamp_(min=0).sqrt_()
            lower = dcc[near].sub_(4.0 * (2.0 * eps64 * cmax) ** 0.5)
            need = lower < thr
            n_need = int(need.sum())
        else:
            need, n_need = None, n
        if need is None or n_need > _FULL_PASS_FRACTION * n:
            evaluated += n
            sqdist_to_point(x, x_sq, c, buf)
            closer = buf < mind
            torch.where(closer, buf, mind, out=mind)
            changed = torch.nonzero(closer).squeeze(1)
            dist_changed = mind[changed]
        elif n_need:
            evaluated += n_need
            sel = torch.nonzero(need).squeeze(1)
            pieces_i, pieces_d = [], []
            for s0 in range(0, n_need, gather_rows):
                sub = sel[s0 : s0 + gather_rows]
                rows = torch.index_select(x, 0, sub, out=gathered[: sub.shape[0]])
                dist = torch.mv(rows, c, out=part[: sub.shape[0]])
                dist.mul_(-2.0).add_(x_sq[sub]).add_(c_sq).clamp_(min=0)
                closer = dist < mind[sub]
                pieces_i.append(sub[closer])
                pieces_d.append(dist[closer])
            changed = torch.cat(pieces_i)
            dist_changed = torch.cat(pieces_d)
            mind[changed] = dist_changed
        else:
            changed = torch.empty(0, dtype=torch.int64, device=x.device)
            dist_changed = mind[changed]
        if changed.numel():
            near[changed] = n_cen
            thr[changed] = dist_changed.sqrt().mul_(2.0).add_(t_item[changed], alpha=4.0)
        mind[idx] = -1.0
        thr[idx] = float("-inf")
        cen[n_cen] = c
        cen_sq[n_cen] = c_sq
        n_cen += 1
    radius = float(mind.max().clamp(min=0).sqrt())
    return picks, gains, radius, evaluated


def robust_k_center(
    embeddings: Any,
    k: int,
    *,
    n_outliers: int,
    exclude: Any = None,
    rng: RNGLike = None,
    max_n: int = 400,
    time_limit: float = 60.0,
) -> Selection:
    """Robust core-set (outlier budget) by exact mixed-integer programming; small N only.

    Sener & Savarese's robust k-center: choose ``k`` new centres (labeled items are fixed
    centres) minimising the covering radius ``delta`` while up to ``n_outliers`` items may
    stay uncovered. Feasibility of a radius ``delta`` is the integer program

        sum_j u_j = m + k,  u_j = 1 for labeled j,
        sum_{j : d(i, j) <= delta} u_j + o_i >= 1   for every item i,
        sum_i o_i <= n_outliers,  u, o binary,

    solved with :func:`scipy.optimize.milp` (HiGHS); the optimum is found by bisection
    over the sorted distinct pairwise distances up to the greedy radius (an upper
    bound), as in the paper's bisection on ``delta``. This is **exact, but only for small
    N**: it forms the N x N distance matrix and an integer program with 2N binaries, so it
    refuses ``N > max_n``. For large pools use :func:`k_center_greedy` (no outlier
    budget); a scalable robust variant needs a commercial-grade MIP solver (the paper used
    Gurobi) and is not provided.

    Parameters
    ----------
    embeddings : array [N, D]
        Features of all items (N <= ``max_n``).
    k : int
        New centres to choose.
    n_outliers : int
        Items allowed to stay outside the radius (the paper uses ``1e-4 * N``).
    exclude : array of int, optional
        Labeled positions: fixed centres, never selected.
    rng : int, numpy Generator or None
        Passed to the greedy upper bound (first centre when there is no labeled item).
    max_n : int
        Refuse larger inputs (N x N memory, MIP time).
    time_limit : float
        Seconds per MIP solve; a solve that stops without a proof of (in)feasibility raises
        ``RuntimeError`` rather than returning an unproven answer.

    Returns
    -------
    Selection
        ``indices`` sorted by position (a MIP has no pick order); ``gains[j]`` is the
        distance of pick ``j`` to its nearest other centre. ``info["covering_radius"]`` is
        the optimal radius with outliers excused; ``info["outliers"]`` lists them.

    References
    ----------
    Sener, O. and Savarese, S. (2018). Active Learning for Convolutional Neural Networks:
    A Core-Set Approach. ICLR (Section 4.2, robust k-center).
    """
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import csr_matrix

    x = check_embeddings(embeddings).double()
    n = x.shape[0]
    if n > max_n:
        raise ValueError(
            f"robust_k_center is exact and forms an N x N distance matrix: N={n} exceeds "
            f"max_n={max_n}; use k_center_greedy for large pools (or raise max_n)"
        )
    mask = check_exclude(exclude, n)
    k = check_k(k, int((~mask).sum()))
    if isinstance(n_outliers, bool) or not isinstance(n_outliers, (int, np.integer)):
        raise TypeError(f"n_outliers must be a non-negative integer, got {n_outliers!r}")
    if not 0 <= int(n_outliers) < n:
        raise ValueError(f"n_outliers must lie in [0, {n}), got {n_outliers}")
    n_out = int(n_outliers)
    d = torch.cdist(x, x).numpy()
    np.fill_diagonal(d, 0.0)
    greedy = k_center_greedy(x, k, exclude=exclude, rng=rng)
    ub = float(greedy.info["covering_radius"])
    cand = np.unique(d[d <= ub * (1 + 1e-12) + 1e-15])
    labeled = np.flatnonzero(mask)
    m = labeled.size

    def solve(delta: float) -> np.ndarray | None:
        cover = csr_matrix((d <= delta).astype(np.float64))
        eye = csr_matrix(np.eye(n))
        a_cover = _hstack(cover, eye)  # sum_j A_ij u_j + o_i >= 1
        a_card = np.concatenate([np.ones(n), np.zeros(n)])[None, :]
        a_out = np.concatenate([np.zeros(n), np.ones(n)])[None, :]
        cons = [
            LinearConstraint(a_cover, lb=np.ones(n), ub=np.inf),
            LinearConstraint(a_card, lb=m + k, ub=m + k),
            LinearConstraint(a_out, lb=0, ub=n_out),
        ]
        lb = np.zeros(2 * n)
        lb[labeled] = 1.0
        res = milp(
            c=np.concatenate([np.zeros(n), np.ones(n) * 1e-3]),  # prefer few outliers
            constraints=cons,
            integrality=np.ones(2 * n),
            bounds=Bounds(lb, np.ones(2 * n)),
            options={"time_limit": float(time_limit)},
        )
        if res.status == 2:  # infeasible
            return None
        if res.status != 0 or res.x is None:
            raise RuntimeError(
                f"MIP solve did not finish (status {res.status}: {res.message}); raise "
                "time_limit or use k_center_greedy"
            )
        return np.asarray(np.round(res.x), dtype=np.int64)

    lo, hi = 0, cand.size - 1
    best = solve(float(cand[hi]))
    if best is None:  # cannot happen: the greedy solution is feasible at ub
        raise RuntimeError("robust_k_center: greedy radius infeasible (numerical issue)")
    best_hi = hi
    while lo < hi:
        mid = (lo + hi) // 2
        sol = solve(float(cand[mid]))
        if sol is None:
            lo = mid + 1
        else:
            best, best_hi, hi = sol, mid, mid
    u = best[:n].astype(bool)
    outliers = np.flatnonzero(best[n:].astype(bool))
    picks = np.flatnonzero(u & ~mask)
    centres_all = np.flatnonzero(u)
    gains = np.array(
        [
            float(np.min(d[p, centres_all[centres_all != p]]))
            if centres_all.size > 1
            else np.nan
            for p in picks
        ]
    )
    covered = np.setdiff1d(np.arange(n), outliers)
    radius = float(d[np.ix_(covered, centres_all)].min(axis=1).max()) if covered.size else 0.0
    info = {
        "method": "robust_k_center",
        "covering_radius": radius,
        "radius_bound": float(cand[best_hi]),
        "greedy_radius": ub,
        "outliers": outliers.tolist(),
        "n_outliers": int(n_out),
    }
    return Selection(picks, gains, info)


def _hstack(a: Any, b: Any) -> Any:
    from scipy.sparse import hstack

    return hstack([a, b], format="csr")
