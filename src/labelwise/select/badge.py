"""BADGE: k-means++ seeding on last-layer gradient embeddings, without materialising them.

Ash, Zhang, Krishnamurthy, Langford, Agarwal 2020, "Deep Batch Active Learning by Diverse,
Uncertain Gradient Lower Bounds" (ICLR, arXiv 1906.03671).
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
    check_rng,
)
from labelwise.errors import ShapeError
from labelwise.select._geometry import mean_probs, sq_norms
from labelwise.select._selection import Selection

__all__ = ["badge", "gradient_embedding"]


def _residuals(probs: Any, emb: torch.Tensor) -> torch.Tensor:
    """``a = p_mean - onehot(argmax p_mean)`` ``[N, C]`` in the embeddings' dtype."""
    p = mean_probs(probs).to(dtype=emb.dtype, device=emb.device)
    if p.shape[0] != emb.shape[0]:
        raise ShapeError(
            f"probs has {p.shape[0]} items but embeddings has {emb.shape[0]}; both must "
            "describe the same N items"
        )
    a = p.clone()
    yhat = torch.argmax(p, dim=1)
    a[torch.arange(a.shape[0], device=a.device), yhat] -= 1.0
    return a


def gradient_embedding(probs: Any, embeddings: Any) -> torch.Tensor:
    """Materialised BADGE gradient embeddings ``[N, C * D]`` (small N only).

    ``g_i = (p_i - e_{y_i}) ⊗ h_i`` with ``p_i`` the mean prediction over the K samples,
    ``y_i = argmax p_i`` the hypothesised label and ``h_i`` the embedding: the gradient of
    the cross-entropy loss at label ``y_i`` with respect to the last linear layer's weights
    (class-major: entries ``[c * D : (c + 1) * D]`` belong to class ``c``). The official
    code uses the opposite sign, which changes no distance.

    This **materialises N x C x D numbers** (N = 20k, C = 100, D = 768 is 6 GB in float32);
    :func:`badge` never does. Use it for inspection or small pools.

    Parameters
    ----------
    probs : array [N, K, C]
        Predictive samples (K = 1 for a deterministic model).
    embeddings : array [N, D]
        Penultimate-layer features ``h``.

    Returns
    -------
    torch.Tensor [N, C * D]
    """
    h = check_embeddings(embeddings)
    a = _residuals(probs, h)
    return (a[:, :, None] * h[:, None, :]).reshape(h.shape[0], -1)


def badge(
    probs: Any,
    embeddings: Any,
    k: int,
    *,
    exclude: Any = None,
    rng: RNGLike = None,
) -> Selection:
    """BADGE batch: k-means++ seeding in gradient-embedding space, factorised.

    The gradient embedding of item i is ``g_i = (p_i - e_{y_i}) ⊗ h_i`` (see
    :func:`gradient_embedding`). Its inner products factor, ``<g_i, g_j> = <a_i, a_j> *
    <h_i, h_j>`` with ``a = p - e_y``, so ``||g_i - g_c||^2 = ||a_i||^2 ||h_i||^2 +
    ||a_c||^2 ||h_c||^2 - 2 <a_i, a_c> <h_i, h_c>``. After each pick the minimum squared
    distance to the chosen centres ``[N]`` is updated with two GEMVs (``[N, C] @ a_c`` and
    ``[N, D] @ h_c``): memory ``O(N (C + D))`` (the inputs and a few ``[N]`` vectors), time
    ``O(k N (C + D))``, against ``O(N C D)`` memory for the materialised embedding. The
    ``[N, D]`` product is skipped (exactly) for every item that a Cauchy-Schwarz lower bound
    built from the cheap ``[N, C]`` product proves no closer to the new centre than to its
    nearest earlier one; ``info["distance_evaluations"]`` counts the products computed.

    Seeding as in the official code: the first pick is the item with the largest gradient
    norm ``||a_i|| ||h_i||`` (lowest position on ties); each later pick is drawn with
    probability proportional to its squared distance to the nearest chosen centre (D^2
    sampling) from ``rng``. If every remaining item coincides with a centre (all weights
    0), the next pick is uniform among them.

    Labeled items: like the official code, BADGE seeds among the unlabeled items only;
    ``exclude`` positions are neither picked nor used as centres (their distances are
    ignored), so the batch is diverse within itself, not relative to the labeled set.

    Parameters
    ----------
    probs : array [N, K, C]
        The prediction ``p``; the mean over K is taken. The paper's ``p`` is the
        deterministic network's softmax from the same forward pass as ``h``: pass
        ``K = 1`` eval-mode probabilities (:func:`labelwise.models.predict_with_embeddings`
        returns both), as the loop does (``Strategy.point_probs``). MC-dropout samples
        (``K > 1``) give a different ``p`` from the one that produced ``h``.
    embeddings : array [N, D]
        Penultimate-layer features ``h`` (the input of the last linear layer).
    k : int
        Batch size, ``1 <= k <= N - len(exclude)``.
    exclude : array of int, optional
        Positions never picked (labeled items).
    rng : int, numpy Generator or None
        Source of the D^2 sampling.

    Returns
    -------
    Selection
        ``indices`` in pick order; ``gains[0]`` is the squared gradient norm of the first
        pick, ``gains[j]`` the squared gradient-space distance of pick ``j`` to its
        nearest earlier pick (the D^2 weight it was sampled with).

    References
    ----------
    Ash, J. T., Zhang, C., Krishnamurthy, A., Langford, J. and Agarwal, A. (2020). Deep
    Batch Active Learning by Diverse, Uncertain Gradient Lower Bounds. ICLR.
    """
    h = check_embeddings(embeddings)
    a = _residuals(probs, h)
    n = h.shape[0]
    mask = check_exclude(exclude, n)
    k = check_k(k, int((~mask).sum()))
    gen = check_rng(rng)
    picks, gains, evaluated = _badge_kernel(a, h, k, mask, gen)
    info = {
        "method": "badge",
        "seeding": "kmeans++ (max-norm first)",
        # <h_i, h_c> products computed, of n * (k - 1) without pruning.
        "distance_evaluations": evaluated,
    }
    return Selection(picks, gains, info)


#: Rows of ``h`` gathered per chunk when only some items need their distance updated
#: (2^18 elements: 1 MB in float32, one reused buffer that stays in cache), so the pruned
#: pass never copies the whole pool.
_GATHER_ELEMENTS = 1 << 18

#: Above this fraction of candidates the full GEMV is cheaper than gathering their rows.
_FULL_PASS_FRACTION = 0.5


def _badge_kernel(
    a: torch.Tensor,
    h: torch.Tensor,
    k: int,
    mask: np.ndarray,
    gen: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, int]:
    """k-means++ seeding on the factorised gradient embeddings (trusted input).

    Pruning (exact): by Cauchy-Schwarz, ``<h_i, h_c> >= -||h_i|| ||h_c||``, so
    ``||g_i - g_c||^2 >= lb_i = ||g_i||^2 + ||g_c||^2 - 2 |<a_i, a_c>| ||h_i|| ||h_c||``,
    which costs only the ``[N, C]`` GEMV. An item whose bound already exceeds its current
    minimum distance (by more than the rounding error of both expressions) cannot get
    closer to the new centre, so its ``<h_i, h_c>`` (the ``[N, D]`` GEMV, ~D/C times the
    cost) is skipped. The minimum distances, hence the D^2 weights and the picks, are those
    of the unpruned computation. Returns (picks, gains, number of ``<h_i, h_c>`` computed).
    """
    n, d = h.shape
    hnorm = torch.linalg.vector_norm(h, dim=1)  # one pass, no [N, D] temporary
    gnorm2 = sq_norms(a).mul_(hnorm.square())  # ||g_i||^2 = ||a_i||^2 ||h_i||^2 [N]
    eps16 = 16.0 * float(torch.finfo(h.dtype).eps)
    avail = torch.from_numpy(~mask).to(h.device)
    picks = np.empty(k, dtype=np.int64)
    gains = np.empty(k, dtype=np.float64)
    masked = torch.where(avail, gnorm2, torch.full_like(gnorm2, -1.0))
    first = int(torch.argmax(masked))
    picks[0] = first
    gains[0] = float(gnorm2[first])
    mind = torch.full((n,), float("inf"), dtype=h.dtype, device=h.device)
    ip_a = torch.empty(n, dtype=h.dtype, device=h.device)
    cross = torch.empty(n, dtype=h.dtype, device=h.device)
    gather_rows = max(1, _GATHER_ELEMENTS // max(d, 1))
    gathered = torch.empty((min(gather_rows, n), d), dtype=h.dtype, device=h.device)
    part = torch.empty(min(gather_rows, n), dtype=h.dtype, device=h.device)
    avail[first] = False
    c = first
    evaluated = 0
    for j in range(1, k):
        torch.mv(a, a[c], out=ip_a)  # <a_i, a_c>
        # cross = 2 |<a_i, a_c>| ||h_i|| ||h_c||  (>= 2 <a_i, a_c> <h_i, h_c>)
        torch.mul(ip_a.abs(), hnorm, out=cross).mul_(2.0 * float(hnorm[c]))
        base = gnorm2 + gnorm2[c]
        # Rounding slack of the bound and of the exact distance (both are sums of terms
        # no larger than base + cross).
        slack = (base + cross).mul_(eps16)
        need = avail & ((base - cross - slack) < mind)
        n_need = int(need.sum())
        if n_need > _FULL_PASS_FRACTION * n:
            evaluated += n
            dist = torch.mv(h, h[c]).mul_(ip_a).mul_(-2.0).add_(base).clamp_(min=0)
            torch.minimum(mind, dist, out=mind)
        elif n_need:
            evaluated += n_need
            idx = torch.nonzero(need).squeeze(1)
            hc = h[c]
            for s0 in range(0, n_need, gather_rows):
                sub = idx[s0 : s0 + gather_rows]
                m = sub.shape[0]
                rows = torch.index_select(h, 0, sub, out=gathered[:m])
                dist = torch.mv(rows, hc, out=part[:m])
                dist.mul_(ip_a[sub]).mul_(-2.0).add_(base[sub]).clamp_(min=0)
                mind[sub] = torch.minimum(mind[sub], dist)
        w = torch.where(avail, mind, torch.zeros_like(mind)).cpu().numpy().astype(np.float64)
        cum = np.cumsum(w)
        total = cum[-1]
        if total > 0:
            c = int(np.searchsorted(cum, gen.random() * total, side="right"))
            c = min(c, n - 1)
            while not w[c] > 0:  # float guard: never land on a zero-weight item
                c -= 1
        else:
            c = int(gen.choice(np.flatnonzero(avail.cpu().numpy())))
        picks[j] = c
        gains[j] = float(w[c])
        avail[c] = False
    return picks, gains, evaluated
