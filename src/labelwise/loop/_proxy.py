"""Selection via proxy (Coleman et al. 2020): selection time saved, accuracy lost."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labelwise.errors import LabelwiseError
from labelwise.loop._config import SimulationConfig
from labelwise.loop._results import RunResult

__all__ = ["ProxyComparison", "compare_proxy", "selection_seconds"]


def selection_seconds(run: RunResult) -> float:
    """Seconds a run spent choosing its batches (Coleman et al. 2020's selection time).

    Sum over the rounds that selected of: training the selecting model (the proxy's
    ``seconds_proxy_train`` when the run used a proxy, else the target's
    ``seconds_train``), computing its predictions (``seconds_predict``) and the strategy
    (``seconds_select``). The last round, which only trains and evaluates the target, does
    not count.
    """
    proxy = SimulationConfig.from_dict(run.config).uses_proxy
    total = 0.0
    for r in run.rounds:
        if not r.selected:
            continue
        total += (r.seconds_proxy_train if proxy else r.seconds_train)
        total += r.seconds_predict + r.seconds_select
    return total


@dataclass(frozen=True)
class ProxyComparison:
    """Selection via proxy against the same run without proxy (Coleman et al. 2020).

    Attributes
    ----------
    strategy, dataset : str
    seed : int
    selection_seconds, proxy_selection_seconds : float
        :func:`selection_seconds` of the baseline and of the proxy run.
    seconds_saved : float
        ``selection_seconds - proxy_selection_seconds`` (negative: the proxy was slower).
    speedup : float
        ``selection_seconds / proxy_selection_seconds`` (inf if the latter is 0).
    final_accuracy, proxy_final_accuracy : float
        The *target* model's test accuracy at the end of each run.
    accuracy_lost : float
        ``final_accuracy - proxy_final_accuracy`` (negative: the proxy run did better).
    mean_accuracy_lost : float
        Mean over the rounds of the per-round target accuracy difference (same label
        counts in both runs).
    """

    strategy: str
    dataset: str
    seed: int
    selection_seconds: float
    proxy_selection_seconds: float
    seconds_saved: float
    speedup: float
    final_accuracy: float
    proxy_final_accuracy: float
    accuracy_lost: float
    mean_accuracy_lost: float


def compare_proxy(baseline: RunResult, proxy: RunResult) -> ProxyComparison:
    """Selection time saved and target accuracy lost by selecting with a proxy.

    Parameters
    ----------
    baseline : RunResult
        A run without proxy.
    proxy : RunResult
        The same strategy, seed and dataset with ``proxy_model`` / ``proxy_epochs`` set.

    Returns
    -------
    ProxyComparison

    Raises
    ------
    LabelwiseError
        The runs differ in strategy, seed, dataset or label counts per round, the baseline
        used a proxy or the proxy run did not.
    """
    for attr in ("strategy", "seed", "dataset"):
        a, b = getattr(baseline, attr), getattr(proxy, attr)
        if a != b:
            raise LabelwiseError(f"baseline and proxy runs differ in {attr}: {a!r} vs {b!r}")
    if SimulationConfig.from_dict(baseline.config).uses_proxy:
        raise LabelwiseError("baseline used a proxy; pass the run without proxy_model/proxy_epochs")
    if not SimulationConfig.from_dict(proxy.config).uses_proxy:
        raise LabelwiseError("proxy run has neither proxy_model nor proxy_epochs set")
    if not baseline.rounds or baseline.labels.tolist() != proxy.labels.tolist():
        raise LabelwiseError(
            f"the runs must evaluate at the same label counts, got {baseline.labels.tolist()} "
            f"and {proxy.labels.tolist()}"
        )
    base_s, prox_s = selection_seconds(baseline), selection_seconds(proxy)
    acc_b, acc_p = baseline.accuracy, proxy.accuracy
    return ProxyComparison(
        strategy=baseline.strategy, dataset=baseline.dataset, seed=baseline.seed,
        selection_seconds=base_s, proxy_selection_seconds=prox_s,
        seconds_saved=base_s - prox_s,
        speedup=base_s / prox_s if prox_s > 0 else float("inf"),
        final_accuracy=float(acc_b[-1]), proxy_final_accuracy=float(acc_p[-1]),
        accuracy_lost=float(acc_b[-1] - acc_p[-1]),
        mean_accuracy_lost=float(np.mean(acc_b - acc_p)),
    )
