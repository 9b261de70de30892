"""Class-balance guard: cap the share of any one predicted class in a batch."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from labelwise._validation import check_indices
from labelwise.errors import PoolExhaustedError, ShapeError
from labelwise.select._selection import Selection

__all__ = ["balance_selection", "class_balanced"]


def _check_share(max_share: Any) -> float:
    if isinstance(max_share, bool) or not isinstance(max_share, (int, float, np.floating)):
        raise TypeError(f"max_share must be a number in (0, 1], got {max_share!r}")
    if not 0 < float(max_share) <= 1:
        raise ValueError(f"max_share must lie in (0, 1], got {max_share}")
    return float(max_share)


def _check_classes(predicted_classes: Any) -> np.ndarray:
    arr = predicted_classes
    if hasattr(arr, "detach"):
        arr = arr.detach().cpu().numpy()
    arr = np.asarray(arr)
    if arr.ndim != 1:
        raise ShapeError(
            f"predicted_classes must be [N] (one predicted class per item), got shape {arr.shape}"
        )
    if arr.dtype.kind not in "iu":
        raise ShapeError(
            f"predicted_classes must hold integer class ids, got dtype {arr.dtype}; "
            "pass probs.mean(1).argmax(-1)"
        )
    return arr


def balance_selection(
    ranked: Selection | Any,
    predicted_classes: Any,
    k: int,
    *,
    max_share: float,
) -> Selection:
    """Take the best ``k`` of a ranked list with at most ``ceil(max_share * k)`` per class.

    Walks ``ranked`` in order and skips an item while its predicted class already holds
    its cap; skipped items are the refill of last resort. If the ranked list cannot
    satisfy the cap (too few classes or too short a list), the remaining slots are filled
    with the best skipped items in rank order and ``info["cap_relaxed"]`` is ``True``.

    Parameters
    ----------
    ranked : Selection or array of int
        Candidate positions, best first (a Selection's ``indices`` are in pick order; its
        ``gains`` are carried over). Must hold at least ``k`` items.
    predicted_classes : array of int [N]
        Predicted class of every position (e.g. ``probs.mean(1).argmax(-1)``).
    k : int
        Batch size.
    max_share : float in (0, 1]
        Largest fraction of the batch one predicted class may take.

    Returns
    -------
    Selection
        ``k`` items, ``info["cap"]``, ``info["class_counts"]``, ``info["cap_relaxed"]``.
    """
    share = _check_share(max_share)
    classes = _check_classes(predicted_classes)
    n = classes.size
    if isinstance(ranked, Selection):
        order, gains_in, base_info = ranked.indices, ranked.gains, dict(ranked.info)
    else:
        order = check_indices(ranked, n, "ranked")
        gains_in, base_info = np.full(order.size, np.nan), {}
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if order.size < k:
        raise PoolExhaustedError(
            f"ranked holds {order.size} items but k={k}; ask the selector for more"
        )
    if order.size and int(order.max()) >= n:
        raise ShapeError(
            f"ranked refers to position {int(order.max())} but predicted_classes has {n} items"
        )
    cap = max(1, math.ceil(share * k - 1e-9))
    counts: dict[int, int] = {}
    take: list[int] = []
    skipped: list[int] = []
    for r, pos in enumerate(order):
        if len(take) == k:
            break
        c = int(classes[pos])
        if counts.get(c, 0) < cap:
            counts[c] = counts.get(c, 0) + 1
            take.append(r)
        else:
            skipped.append(r)
    relaxed = len(take) < k
    if relaxed:
        for r in skipped[: k - len(take)]:
            c = int(classes[order[r]])
            counts[c] = counts.get(c, 0) + 1
            take.append(r)
    rows = np.asarray(take, dtype=np.int64)
    info = {
        **base_info,
        "balance_cap": int(cap),
        "cap_relaxed": bool(relaxed),
        "class_counts": {str(c): int(v) for c, v in sorted(counts.items())},
    }
    return Selection(order[rows], gains_in[rows], info)


def class_balanced(
    select_k: Callable[[int], Selection],
    predicted_classes: Any,
    k: int,
    *,
    max_share: float,
    oversample: float = 3.0,
    growable: bool = True,
) -> Selection:
    """Run a selector for ``ceil(oversample * k)`` items, then cap classes with it.

    ``select_k(m)`` must return a Selection of ``m`` items in rank / pick order, e.g.
    ``lambda m: top_k(scores, m, exclude=labeled, rng=0)``. If the pool cannot supply
    ``oversample * k`` items, the request shrinks (halving, never below ``k``). If the list
    still cannot satisfy the cap (one class dominates its top), the request doubles
    (``growable=True``: the selector runs again) until the cap holds or the pool is
    exhausted; then the best remaining items fill the batch (``info["cap_relaxed"]``).

    Limits: for score rankings (top-k) and greedy selectors (k-center greedy, BADGE,
    BatchBALD, suggestive annotation) the longer list's prefix is exactly what the
    selector would pick, so the result is the selector's best balanced batch in its own
    order. For selectors that solve for the whole batch at once (diverse k-means,
    cluster-margin, stochastic sampling) the result is a balanced subset of a
    *different, larger* batch; the diversity argument of those methods then holds only
    approximately. Predicted classes are the model's guesses: the guard balances
    predictions, not true labels.

    Parameters
    ----------
    select_k : callable ``int -> Selection``
    predicted_classes : array of int [N]
    k : int
    max_share : float in (0, 1]
    oversample : float
        Ratio of the requested list length to ``k`` (>= 1).
    growable : bool
        Re-run the selector with doubled lists while the cap cannot be met.
    """
    if isinstance(oversample, bool) or not np.isfinite(oversample) or oversample < 1:
        raise ValueError(f"oversample must be a finite number >= 1, got {oversample!r}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    m = max(int(k), math.ceil(float(oversample) * int(k)))
    while True:  # shrink until the pool can supply the list
        try:
            ranked = select_k(m)
            break
        except PoolExhaustedError:
            if m == k:
                raise
            m = max(int(k), m // 2)
    result = balance_selection(ranked, predicted_classes, int(k), max_share=max_share)
    while result.info["cap_relaxed"] and growable:
        # the list held too few items of other classes: ask for a longer one
        try:
            ranked = select_k(2 * len(ranked))
        except PoolExhaustedError:
            break
        result = balance_selection(ranked, predicted_classes, int(k), max_share=max_share)
    return result
