"""Learning-curve metrics: area under the budget curve, labels-to-target, class balance.

References: Zhan et al. 2021 ("A comparative survey of deep active learning", AUBC) and the
evaluation pitfalls summarised in ``shared/REFERENCES.md`` (Lüth et al. 2023, Ji et al. 2023).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

#: A 1-D sequence of numbers: list, tuple or numpy array.
Vector = Sequence[float] | np.ndarray

__all__ = [
    "aubc",
    "check_targets",
    "class_balance_entropy",
    "labels_to_target",
    "mean_and_ci",
    "mean_curve",
    "redundant_acquisitions",
]


def _curve(labels: Vector, values: Vector) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(labels, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(
            f"labels and values must be 1-D and equally long, got {x.shape} and {y.shape}"
        )
    if x.size == 0:
        raise ValueError("a learning curve needs at least one point")
    if np.any(np.diff(x) <= 0):
        raise ValueError("labels must be strictly increasing (one point per round)")
    return x, y


def aubc(
    labels: Vector,
    values: Vector,
    *,
    budget: tuple[float, float] | None = None,
) -> float:
    """Area under the budget curve, trapezoid rule, normalised to [0, 1].

    Parameters
    ----------
    labels : sequence [R]
        Number of labels at each evaluation, strictly increasing.
    values : sequence [R]
        Accuracy (in [0, 1]) at each evaluation.
    budget : (start, end), optional
        The label range to integrate over; defaults to ``(labels[0], labels[-1])``. The
        curve is held constant beyond its last point and linearly interpolated inside.

    Returns
    -------
    float
        ``∫ acc d(labels) / (end - start)``; equals the accuracy when the curve is flat and
        1 only for a perfect model from the first label on. A single point returns its value.
    """
    x, y = _curve(labels, values)
    lo, hi = (float(x[0]), float(x[-1])) if budget is None else map(float, budget)
    if hi < lo:
        raise ValueError(f"budget end {hi} is before its start {lo}")
    if hi == lo:
        return float(np.interp(lo, x, y))
    grid = np.union1d(x[(x > lo) & (x < hi)], [lo, hi])
    yy = np.interp(grid, x, y)
    # Trapezoid rule written out: np.trapezoid (NumPy >= 2) was np.trapz before.
    area = float(np.sum((grid[1:] - grid[:-1]) * (yy[1:] + yy[:-1])) / 2.0)
    return area / (hi - lo)


def check_targets(targets: Any, name: str = "targets") -> tuple[float, ...]:
    """Target accuracies as floats in (0, 1]; a clear error naming ``name`` otherwise.

    Accepts a sequence of numbers or a comma-separated string (``"0.9,0.95"``)."""
    items = [t.strip() for t in targets.split(",")] if isinstance(targets, str) else targets
    try:
        values = [float(t) for t in items]
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be accuracies between 0 and 1 (e.g. 0.9,0.95), got {targets!r}"
        ) from None
    if not values or not all(math.isfinite(v) and 0 < v <= 1 for v in values):
        raise ValueError(
            f"{name} must be one or more accuracies in (0, 1] (e.g. 0.9,0.95), got {targets!r}"
        )
    return tuple(values)


def labels_to_target(
    labels: Vector, values: Vector, target: float, *, interpolate: bool = False
) -> float | None:
    """The label count at which a learning curve first reaches ``target`` (None if never).

    Parameters
    ----------
    labels : sequence [R]
        Number of labels at each evaluation, strictly increasing.
    values : sequence [R]
        Accuracy at each evaluation.
    target : float
        Accuracy to reach (``values >= target`` counts as reached).
    interpolate : bool, default False
        False: the first evaluated label count at or above ``target`` (a checkpoint).
        True: where the straight line from the evaluation before that one crosses
        ``target``, a count between checkpoints. This is how a table read off an averaged
        learning curve counts (e.g. Gal et al. 2017's 145 / 335 on a 10-label grid); the
        first checkpoint's own count is returned when the curve starts at or above target.

    Returns
    -------
    float or None
    """
    x, y = _curve(labels, values)
    hit = np.flatnonzero(y >= target)
    if not hit.size:
        return None
    i = int(hit[0])
    if not interpolate or i == 0:
        return float(x[i])
    x0, x1, y0, y1 = x[i - 1], x[i], y[i - 1], y[i]
    return float(x0 + (target - y0) * (x1 - x0) / (y1 - y0))  # y0 < target <= y1


def mean_curve(curves: Sequence[tuple[Vector, Vector]]) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise mean of several learning curves (e.g. one per seed).

    Parameters
    ----------
    curves : sequence of (labels [R_i], values [R_i])
        Each curve's labels strictly increasing. Curves on different label grids are
        linearly interpolated onto the union of their grids.

    Returns
    -------
    labels : ndarray [G]
        The union of the curves' label counts inside the range every curve covers.
    mean : ndarray [G]
        The mean value over curves at each of those label counts.

    Raises
    ------
    ValueError
        No curves, or no label range that every curve covers.
    """
    if not curves:
        raise ValueError("mean_curve needs at least one (labels, values) curve")
    parsed = [_curve(x, y) for x, y in curves]
    lo = max(float(x[0]) for x, _ in parsed)
    hi = min(float(x[-1]) for x, _ in parsed)
    if hi < lo:
        raise ValueError(
            f"the curves share no label range (the latest start, {lo:g}, is after the "
            f"earliest end, {hi:g})"
        )
    grid = np.unique(np.concatenate([x for x, _ in parsed]))
    grid = grid[(grid >= lo) & (grid <= hi)]
    return grid, np.mean([np.interp(grid, x, y) for x, y in parsed], axis=0)


def class_balance_entropy(counts: Vector, normalise: bool = True) -> float:
    """Entropy (nats) of a class histogram; normalised by log C it lies in [0, 1].

    A value far below 1 for an acquired set shows mode collapse (one class dominating).
    """
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim != 1 or c.size == 0 or (c < 0).any():
        raise ValueError("counts must be a non-empty 1-D array of non-negative counts")
    total = c.sum()
    if total == 0:
        return 0.0
    p = c[c > 0] / total
    h = float(-(p * np.log(p)).sum())
    if normalise:
        return h / np.log(c.size) if c.size > 1 else 0.0
    return h


def redundant_acquisitions(initial: Vector, batches: Sequence[Vector], groups: Vector) -> int:
    """How many acquired items were copies of an item already labeled.

    Items are processed in acquisition order (batch by batch, in pick order within a batch);
    an item counts when its group was already among the initial labels, an earlier batch, or
    an earlier pick of its own batch. A strategy that recognises duplicates (BatchBALD on
    Repeated MNIST, Kirsch et al. 2019) should score near random's count; top-k BALD, which
    takes every copy of an informative digit, scores far above it.

    Parameters
    ----------
    initial : array of int [n0]
        Pool indices of the initial labels.
    batches : sequence of arrays of int
        Pool indices acquired per round.
    groups : array of int [N]
        Group id of each pool item (:attr:`labelwise.datasets.Dataset.groups`).

    Returns
    -------
    int
    """
    g = np.asarray(groups)
    if g.ndim != 1 or not np.issubdtype(g.dtype, np.integer):
        raise ValueError(f"groups must be a 1-D integer array, got {g.dtype}{list(g.shape)}")
    seen = {int(x) for x in g[np.asarray(initial, dtype=np.int64)]}
    count = 0
    for batch in batches:
        for item in g[np.asarray(batch, dtype=np.int64)]:
            key = int(item)
            if key in seen:
                count += 1
            seen.add(key)
    return count


def mean_and_ci(values: Vector, confidence: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of a Student-t confidence interval over seeds (0 for one seed)."""
    from scipy import stats

    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        raise ValueError("mean_and_ci needs at least one value")
    m = float(v.mean())
    if v.size < 2:
        return m, 0.0
    half = float(stats.t.ppf(0.5 + confidence / 2, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size))
    return m, half
