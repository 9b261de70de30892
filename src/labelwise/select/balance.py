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
    """Take the best ``k`` of a ranked list with at most ``floor(max_share * k)`` per class.

    The cap is never below 1 item, so a class's share of the batch never exceeds
    ``max_share`` unless ``max_share < 1 / k`` (then each class gets at most one item).

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
    cap = max(1, math.floor(share * k + 1e-9))
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
    pool_size: int | None = None,
) -> Selection:
    """Run a selector for ``ceil(oversample * k)`` items, then cap classes with it.

    ``select_k(m)`` must return a Selection of ``m`` items in rank / pick order, e.g.
    ``lambda m: top_k(scores, m, exclude=labeled, rng=0)``, and raise
    :class:`~labelwise.errors.PoolExhaustedError` when the pool holds fewer than ``m``
    selectable items. Requests never exceed ``pool_size`` when it is given; otherwise a
    request the pool cannot supply is narrowed down by bisection to the largest one it
    can. If the list cannot satisfy the cap (one class dominates its top), the request
    doubles (``growable=True``: the selector runs again) until the cap holds or the whole
    pool is ranked; then the best remaining items fill the batch (``info["cap_relaxed"]``).

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
    pool_size : int, optional
        Number of selectable items (the pool minus ``exclude``), if known: saves the
        bisection calls when a request would exceed it.
    """
    if isinstance(oversample, bool) or not np.isfinite(oversample) or oversample < 1:
        raise ValueError(f"oversample must be a finite number >= 1, got {oversample!r}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    k = int(k)
    if pool_size is not None:
        if isinstance(pool_size, bool) or not isinstance(pool_size, (int, np.integer)):
            raise TypeError(f"pool_size must be an int or None, got {pool_size!r}")
        if pool_size < k:
            raise PoolExhaustedError(
                f"k={k} exceeds the pool of {pool_size} selectable items; lower k"
            )
    limit = int(pool_size) if pool_size is not None else None

    def request(m: int) -> int:
        return m if limit is None else min(m, limit)

    m = request(max(k, math.ceil(float(oversample) * k)))
    try:
        ranked = select_k(m)
    except PoolExhaustedError:
        if m == k:
            raise
        ranked = _largest_feasible(select_k, k, select_k(k), m)  # select_k(k) may raise
    exhausted = limit is not None and len(ranked) >= limit
    result = balance_selection(ranked, predicted_classes, k, max_share=max_share)
    while result.info["cap_relaxed"] and growable and not exhausted:
        # the list held too few items of other classes: ask for a longer one
        m = request(2 * len(ranked))
        try:
            ranked = select_k(m)
            exhausted = limit is not None and m >= limit
        except PoolExhaustedError:
            ranked = _largest_feasible(select_k, len(ranked), ranked, m)
            exhausted = True
        result = balance_selection(ranked, predicted_classes, k, max_share=max_share)
    return result


def _largest_feasible(
    select_k: Callable[[int], Selection], ok: int, ok_sel: Selection, failed: int
) -> Selection:
    """The selection of the largest request in ``[ok, failed)`` that the pool can supply,
    by bisection (``select_k(ok)`` gave ``ok_sel``; ``select_k(failed)`` raised)."""
    while failed - ok > 1:
        mid = (ok + failed) // 2
        try:
            ok_sel, ok = select_k(mid), mid
        except PoolExhaustedError:
            failed = mid
    return ok_sel
