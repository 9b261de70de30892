"""Benchmark protocol helpers: metrics, summaries and plots of simulation results."""

from labelwise.bench.metrics import aubc, class_balance_entropy, labels_to_target, mean_and_ci
from labelwise.bench.report import (
    StrategySummary,
    plot_learning_curves,
    summarize,
    summary_markdown,
)

__all__ = [
    "StrategySummary",
    "aubc",
    "class_balance_entropy",
    "labels_to_target",
    "mean_and_ci",
    "plot_learning_curves",
    "summarize",
    "summary_markdown",
]
