"""Summaries and plots of simulation results (learning curves over seeds)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from labelwise.bench.metrics import aubc, class_balance_entropy, labels_to_target, mean_and_ci

if TYPE_CHECKING:
    from labelwise.loop import RunResult

__all__ = ["StrategySummary", "summarize", "plot_learning_curves", "summary_markdown"]


@dataclass(frozen=True)
class StrategySummary:
    """Across-seed summary of one strategy.

    ``labels_to`` maps each target accuracy to (median labels over the seeds that reached
    it, number of seeds that reached it).
    """

    strategy: str
    n_seeds: int
    final_accuracy: tuple[float, float]
    aubc: tuple[float, float]
    labels_to: dict[float, tuple[float | None, int]]
    acquired_balance: float
    seconds_per_round: dict[str, float]


def _common_budget(runs: Sequence["RunResult"]) -> tuple[float, float]:
    lo = min(float(r.labels[0]) for r in runs)
    hi = max(float(r.labels[-1]) for r in runs)
    return lo, hi


def summarize(
    runs: Sequence["RunResult"], targets: Sequence[float] = (0.8, 0.9)
) -> list[StrategySummary]:
    """One :class:`StrategySummary` per strategy, in first-seen order.

    AUBC is computed over the label range shared by every run, so strategies compare on
    the same budget axis.
    """
    if not runs:
        raise ValueError("no runs to summarise")
    budget = _common_budget(runs)
    by: dict[str, list["RunResult"]] = {}
    for r in runs:
        by.setdefault(r.strategy, []).append(r)
    out = []
    for name, rs in by.items():
        finals = [float(r.accuracy[-1]) for r in rs]
        areas = [aubc(r.labels, r.accuracy, budget=budget) for r in rs]
        lt: dict[float, tuple[float | None, int]] = {}
        for t in targets:
            hits = [labels_to_target(r.labels, r.accuracy, t) for r in rs]
            reached = [h for h in hits if h is not None]
            lt[float(t)] = (float(np.median(reached)) if reached else None, len(reached))
        n_classes = len(rs[0].rounds[0].batch_class_counts)
        hist = np.zeros(n_classes)
        for r in rs:
            for rec in r.rounds:
                hist += np.asarray(rec.batch_class_counts)
        secs = {
            phase: float(np.mean([getattr(rec, f"seconds_{phase}") for r in rs for rec in r.rounds]))
            for phase in ("train", "predict", "select")
        }
        out.append(
            StrategySummary(
                strategy=name,
                n_seeds=len(rs),
                final_accuracy=mean_and_ci(finals),
                aubc=mean_and_ci(areas),
                labels_to=lt,
                acquired_balance=class_balance_entropy(hist) if hist.sum() else float("nan"),
                seconds_per_round=secs,
            )
        )
    return out


def summary_markdown(summaries: Sequence[StrategySummary]) -> str:
    """A Markdown table of :func:`summarize` output."""
    targets = list(summaries[0].labels_to) if summaries else []
    head = ["strategy", "seeds", "final acc", "AUBC"] + [f"labels to {t:.0%}" for t in targets]
    head += ["acquired class balance", "s/round (train/predict/select)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in summaries:
        row = [
            s.strategy,
            str(s.n_seeds),
            f"{s.final_accuracy[0]:.4f} ± {s.final_accuracy[1]:.4f}",
            f"{s.aubc[0]:.4f} ± {s.aubc[1]:.4f}",
        ]
        for t in targets:
            med, hit = s.labels_to[t]
            row.append("—" if med is None else f"{med:.0f} ({hit}/{s.n_seeds})")
        row.append(f"{s.acquired_balance:.3f}")
        sp = s.seconds_per_round
        row.append(f"{sp['train']:.2f}/{sp['predict']:.2f}/{sp['select']:.3f}")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def plot_learning_curves(
    runs: Sequence["RunResult"],
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
) -> None:
    """Plot mean test accuracy over labels per strategy, with a min-max band over seeds."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    by: dict[str, list["RunResult"]] = {}
    for r in runs:
        by.setdefault(r.strategy, []).append(r)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for name, rs in by.items():
        grid = np.unique(np.concatenate([r.labels for r in rs]))
        curves = np.stack([np.interp(grid, r.labels, r.accuracy) for r in rs])
        mean = curves.mean(axis=0)
        (line,) = ax.plot(grid, mean, label=f"{name} (n={len(rs)})")
        if len(rs) > 1:
            ax.fill_between(grid, curves.min(axis=0), curves.max(axis=0), alpha=0.2,
                            color=line.get_color(), linewidth=0)
    ax.set_xlabel("labeled items")
    ax.set_ylabel("test accuracy")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(os.fspath(path))
    plt.close(fig)
