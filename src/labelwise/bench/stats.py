"""Across-strategy statistics: paired tests against random and the pairwise win matrix.

Paired comparisons use the same seeds (same initial sets and model initialisations) for
both strategies, as recommended by the evaluation literature (Ji et al. 2023, Lüth et al.
2023). The win matrix follows Ash et al. 2020 (BADGE), section 5: at every checkpoint of
the budget axis a two-sided paired t-test over seeds decides whether strategy i beats
strategy j (p < alpha); each checkpoint contributes 1 / (number of checkpoints), so entry
(i, j) counts how often, in units of whole learning curves, i beat j.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from labelwise.bench.metrics import aubc, mean_and_ci

if TYPE_CHECKING:
    from labelwise.loop import RunResult

__all__ = [
    "WIN_MIN_SEEDS",
    "PairedComparison",
    "PairedGaps",
    "by_strategy_and_seed",
    "paired_against",
    "paired_gaps",
    "shared_label_range",
    "win_matrix",
]


def shared_label_range(runs: Sequence[RunResult]) -> tuple[float, float]:
    """``(start, end)`` of the label axis that every run covers: the latest first point and
    the earliest last point. Runs of one protocol all span the same range; a shorter run
    (e.g. an unfinished one passed through the API) shrinks it, so that no curve is
    extrapolated."""
    if not runs:
        raise ValueError("no runs")
    lo = max(float(r.labels[0]) for r in runs)
    hi = min(float(r.labels[-1]) for r in runs)
    if hi < lo:
        raise ValueError(
            f"the runs share no label range (latest start {lo:g}, earliest end {hi:g}); "
            "compare runs of the same protocol"
        )
    return lo, hi


@dataclass(frozen=True)
class PairedComparison:
    """AUBC of ``strategy`` minus ``baseline`` over shared seeds, with a paired t-test."""

    strategy: str
    baseline: str
    n_pairs: int
    mean_difference: float
    p_value: float


def by_strategy_and_seed(runs: Sequence[RunResult]) -> dict[str, dict[int, RunResult]]:
    """Index runs as ``{strategy: {seed: run}}``."""
    out: dict[str, dict[int, RunResult]] = {}
    for r in runs:
        out.setdefault(r.strategy, {})[r.seed] = r
    return out


def _paired_p(diff: np.ndarray) -> float:
    from scipy import stats

    if diff.size < 2:
        return float("nan")
    # Zero variance: no difference at all (as the win matrix counts a tie), or the same
    # non-zero difference on every seed (the t statistic's limit, infinity).
    if np.allclose(diff, 0.0):
        return 1.0
    if np.allclose(diff, diff[0]):
        return 0.0
    return float(stats.ttest_1samp(diff, 0.0).pvalue)


def paired_against(
    runs: Sequence[RunResult], baseline: str = "random"
) -> list[PairedComparison]:
    """Paired t-test of every strategy's AUBC against ``baseline`` on the shared seeds."""
    table = by_strategy_and_seed(runs)
    if baseline not in table:
        return []
    lo, hi = shared_label_range(runs)
    base = table[baseline]
    out = []
    for name, seeds in table.items():
        if name == baseline:
            continue
        shared = sorted(set(seeds) & set(base))
        diff = np.array(
            [
                aubc(seeds[s].labels, seeds[s].accuracy, budget=(lo, hi))
                - aubc(base[s].labels, base[s].accuracy, budget=(lo, hi))
                for s in shared
            ]
        )
        out.append(
            PairedComparison(
                name, baseline, len(shared), float(diff.mean()) if diff.size else float("nan"),
                _paired_p(diff),
            )
        )
    return out


#: Fewest shared seeds for a win-matrix entry. With two, the paired t-test has one degree
#: of freedom: p < 0.05 needs |t| > 12.7, so nearly every "win" would come from the same
#: difference on both seeds, which accuracies on a finite test set (steps of 1 / n_test)
#: produce by chance. Ash et al. 2020 used five.
WIN_MIN_SEEDS = 3


def win_matrix(
    runs: Sequence[RunResult],
    alpha: float = 0.05,
    min_seeds: int = WIN_MIN_SEEDS,
    *,
    checkpoints: str = "all",
) -> tuple[list[str], np.ndarray]:
    """Pairwise win matrix (Ash et al. 2020). Returns (strategy names, W [S, S]).

    ``W[i, j]`` in [0, 1]: the share of budget checkpoints at which strategy i had a
    significantly higher test accuracy than j (paired t-test over shared seeds, p < alpha).
    Checkpoints are the label counts every run of both strategies evaluated at, after the
    shared initial set: all of them (``checkpoints="all"``), or ``"log2"``, the 1st, 2nd,
    4th, 8th, ... of them, which with a constant batch size B are Ash et al.'s
    ``initial + 2^(m-1) * B`` labels (log-spaced, so that the many late rounds where
    strategies converge do not dominate). A
    difference that is the same non-zero value on every seed counts as significant (zero
    variance: the t statistic's limit), no difference as a tie. ``W[i, j]`` is NaN when it
    is not computed: fewer than ``min_seeds`` shared seeds (:data:`WIN_MIN_SEEDS`, >= 2) or
    no common checkpoint (and on the diagonal).
    """
    if isinstance(min_seeds, bool) or not isinstance(min_seeds, int) or min_seeds < 2:
        raise ValueError(f"min_seeds must be an int >= 2 (a paired t-test), got {min_seeds!r}")
    if checkpoints not in ("all", "log2"):
        raise ValueError(f"checkpoints must be 'all' or 'log2', got {checkpoints!r}")
    from scipy import stats

    table = by_strategy_and_seed(runs)
    names = list(table)
    W = np.full((len(names), len(names)), np.nan)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            if i == j:
                continue
            shared = sorted(set(table[a]) & set(table[b]))
            if len(shared) < min_seeds:
                continue
            common = set.intersection(
                *[set(table[a][s].labels.tolist()) & set(table[b][s].labels.tolist()) for s in shared]
            )
            points = sorted(common)[1:]  # the first point is the shared initial set
            if checkpoints == "log2":
                points = [points[2**m - 1] for m in range(len(points).bit_length())]
            if not points:
                continue
            wins = 0
            for c in points:
                d = np.array(
                    [
                        _acc_at(table[a][s], c) - _acc_at(table[b][s], c)
                        for s in shared
                    ]
                )
                if np.allclose(d, 0):
                    continue
                if np.allclose(d, d[0]):
                    win = d[0] > 0
                else:
                    res = stats.ttest_1samp(d, 0.0)
                    win = bool(res.pvalue < alpha and d.mean() > 0)
                wins += int(win)
            W[i, j] = wins / len(points)
    return names, W


@dataclass(frozen=True)
class PairedGaps:
    """Accuracy of ``strategy`` minus ``baseline`` over their shared seeds, per checkpoint."""

    strategy: str
    baseline: str
    n_pairs: int
    #: [P] mean over the shared seeds of the accuracy difference at each checkpoint.
    mean: tuple[float, ...]
    #: [P] half-width of its 95% Student-t interval (0 with one pair).
    half_width: tuple[float, ...]


def paired_gaps(
    runs: Sequence[RunResult], baseline: str = "random", n_points: int | None = 10
) -> tuple[list[int], list[PairedGaps]]:
    """Seed-paired accuracy difference to ``baseline`` along the budget.

    Where in the budget a strategy's gain lies (early, late, shrinking as the pool runs out
    of informative items) is what AUBC averages away.

    Parameters
    ----------
    runs : sequence of RunResult
        Runs of one protocol; those of ``baseline`` and of the strategies sharing a seed with
        it take part, the others are ignored.
    baseline : str, default "random"
    n_points : int or None, default 10
        Checkpoints to report: label counts evaluated by every run taking part, after the
        largest initial set among them, spread evenly from the first such count to the last
        (fewer if fewer exist; with one, the last). None: all of them.

    Returns
    -------
    checkpoints : list of int
    gaps : list of PairedGaps
        One per strategy sharing at least one seed with ``baseline``. Both lists are empty
        when there is no such strategy or no common checkpoint.

    Raises
    ------
    ValueError
        ``n_points`` is neither None nor a positive int.
    """
    if n_points is not None and (
        isinstance(n_points, bool) or not isinstance(n_points, int) or n_points < 1
    ):
        raise ValueError(f"n_points must be a positive int or None, got {n_points!r}")
    table = by_strategy_and_seed(runs)
    if baseline not in table:
        return [], []
    base = table[baseline]
    paired = {
        name: sorted(set(seeds) & set(base))
        for name, seeds in table.items()
        if name != baseline and set(seeds) & set(base)
    }
    taking_part = list(base.values()) + [
        table[name][s] for name, shared in paired.items() for s in shared
    ]
    start = max(float(r.labels[0]) for r in taking_part)
    common = sorted(
        c for c in set.intersection(*[set(r.labels.tolist()) for r in taking_part]) if c > start
    )
    if not paired or not common:
        return [], []
    if n_points is None:
        points = [int(c) for c in common]
    else:
        picks = (
            [len(common) - 1] if n_points == 1
            else np.unique(np.linspace(0, len(common) - 1, min(n_points, len(common))).round())
        )
        points = [int(common[int(i)]) for i in picks]
    out = []
    for name, shared in paired.items():
        stats_at = [
            mean_and_ci([_acc_at(table[name][s], c) - _acc_at(base[s], c) for s in shared])
            for c in points
        ]
        out.append(PairedGaps(
            name, baseline, len(shared), tuple(m for m, _ in stats_at),
            tuple(h for _, h in stats_at),
        ))
    return points, out


def _acc_at(run: RunResult, labels: float) -> float:
    idx = int(np.flatnonzero(run.labels == labels)[0])
    return float(run.accuracy[idx])
