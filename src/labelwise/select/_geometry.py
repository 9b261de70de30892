"""Private geometry kernels shared by the geometric selectors (core-set, BADGE, ...).

Everything here works on trusted, validated tensors and is chunked so that temporaries
stay at ``chunk_size x m`` (a few MB) whatever N is: nothing materialises an N x N
distance matrix (DESIGN rule 7).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from labelwise._validation import as_tensor, check_probs

__all__ = [
    "DEFAULT_CHUNK",
    "check_chunk_size",
    "margin_scores",
    "mean_probs",
    "min_sqdist_to_centers",
    "normalize_rows",
    "sq_norms",
    "sqdist_to_point",
    "update_min_sqdist",
]

#: Rows processed per chunk; with 512 centres per block the GEMM temporary is
#: ``8192 x 512`` float32 = 16 MB whatever N is.
DEFAULT_CHUNK = 8_192


def check_chunk_size(chunk_size: Any) -> int:
    """Validate ``chunk_size``: a positive integer."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)):
        raise TypeError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    return int(chunk_size)


def sq_norms(x: torch.Tensor, chunk_size: int = DEFAULT_CHUNK) -> torch.Tensor:
    """Squared row norms ``[N]`` of ``x [N, D]`` in the dtype of ``x``, chunked."""
    out = torch.empty(x.shape[0], dtype=x.dtype, device=x.device)
    for s in range(0, x.shape[0], chunk_size):
        c = x[s : s + chunk_size]
        out[s : s + chunk_size] = (c * c).sum(dim=1)
    return out


def sqdist_to_point(
    x: torch.Tensor,
    x_sq: torch.Tensor,
    c: torch.Tensor,
    out: torch.Tensor,
) -> torch.Tensor:
    """Squared Euclidean distances ``[N]`` from every row of ``x`` to one point ``c [D]``.

    ``||x||^2 - 2 x.c + ||c||^2`` clamped at 0, written into ``out``: one GEMV over ``x``
    and a few in-place passes over ``[N]``; no ``[N, D]`` temporary.
    """
    c_sq = (c * c).sum()
    torch.mv(x, c, out=out)
    out.mul_(-2.0).add_(x_sq).add_(c_sq).clamp_(min=0)
    return out


def update_min_sqdist(
    x: torch.Tensor,
    x_sq: torch.Tensor,
    c: torch.Tensor,
    mind: torch.Tensor,
    buf: torch.Tensor,
) -> None:
    """``mind <- min(mind, ||x - c||^2)`` in place for one new centre ``c [D]``.

    ``buf`` is a caller-owned ``[N]`` scratch vector.
    """
    sqdist_to_point(x, x_sq, c, buf)
    torch.minimum(mind, buf, out=mind)


def min_sqdist_to_centers(
    x: torch.Tensor,
    x_sq: torch.Tensor,
    center_idx: np.ndarray,
    chunk_size: int = DEFAULT_CHUNK,
    center_chunk: int = 512,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Min squared distance ``[N]`` from each row of ``x`` to the rows ``x[center_idx]``,
    and the position in ``center_idx`` of the nearest centre (int64 ``[N]``).

    Blocked GEMM ``||x||^2 - 2 x C^T + ||c||^2``: temporaries are ``chunk_size x
    center_chunk`` plus one gathered block of centres, never N x m. ``center_idx`` must be
    non-empty. Ties go to the first centre.
    """
    n = x.shape[0]
    mind = torch.full((n,), float("inf"), dtype=x.dtype, device=x.device)
    near = torch.zeros(n, dtype=torch.int64, device=x.device)
    idx_t = torch.as_tensor(center_idx, dtype=torch.int64, device=x.device)
    for cs in range(0, idx_t.numel(), center_chunk):
        ib = idx_t[cs : cs + center_chunk]
        cb = x[ib]
        cb_sq = x_sq[ib]
        for s in range(0, n, chunk_size):
            d = torch.addmm(cb_sq[None, :], x[s : s + chunk_size], cb.T, alpha=-2.0)
            d.add_(x_sq[s : s + chunk_size, None])
            val, arg = d.min(dim=1)
            val.clamp_(min=0)
            closer = val < mind[s : s + chunk_size]
            mind[s : s + chunk_size] = torch.where(closer, val, mind[s : s + chunk_size])
            near[s : s + chunk_size] = torch.where(closer, arg + cs, near[s : s + chunk_size])
    return mind, near


def normalize_rows(x: torch.Tensor, chunk_size: int = DEFAULT_CHUNK) -> torch.Tensor:
    """A new ``[N, D]`` tensor of unit-norm rows (zero rows stay zero)."""
    out = torch.empty_like(x)
    for s in range(0, x.shape[0], chunk_size):
        c = x[s : s + chunk_size]
        nrm = c.norm(dim=1, keepdim=True)
        out[s : s + chunk_size] = c / torch.where(nrm > 0, nrm, torch.ones_like(nrm))
    return out


def mean_probs(probs: Any, name: str = "probs") -> torch.Tensor:
    """Validate ``[N, K, C]`` and return the mean over K ``[N, C]``.

    A deterministic prediction ``[N, C]`` must be passed as ``probs[:, None, :]`` (K = 1):
    like every labelwise function, this one does not guess what a 2-D array means.
    """
    t, _ = check_probs(as_tensor(probs, name), name=name)
    return t.mean(dim=1)


def margin_scores(p_mean: torch.Tensor) -> torch.Tensor:
    """labelwise margin score ``-(p1 - p2)`` of mean probabilities ``[N, C]`` (higher = closer).

    With one class the margin is 1 (score -1).
    """
    if p_mean.shape[1] < 2:
        return torch.full((p_mean.shape[0],), -1.0, dtype=p_mean.dtype)
    top2 = torch.topk(p_mean, 2, dim=1).values
    return -(top2[:, 0] - top2[:, 1])
