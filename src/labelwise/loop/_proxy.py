"""Selection via proxy (Coleman et al. 2020): selection time saved, accuracy lost."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from labelwise.errors import LabelwiseError
from labelwise.loop._config import SimulationConfig
from labelwise.loop._results import RunResult

__all__ = [
    "ProxyComparison",
    "compare_proxy",
    "compare_proxy_runs",
    "proxy_markdown",
    "selection_seconds",
]


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


def compare_proxy_runs(
    baseline: Sequence[RunResult], proxy: Sequence[RunResult]
) -> list[ProxyComparison]:
    """:func:`compare_proxy` for every (strategy, seed) present in both sets of runs.

    Parameters
    ----------
    baseline, proxy : sequences of RunResult
        E.g. the runs of two ``labelwise bench`` / ``simulate`` folders made with the same
        settings except ``proxy_model`` / ``proxy_epochs``. Unfinished runs are skipped.

    Returns
    -------
    list of ProxyComparison, in the baseline's order.

    Raises
    ------
    LabelwiseError
        No (strategy, seed) pair is finished in both, or a pair is duplicated, or a pair
        fails :func:`compare_proxy`'s checks.
    """

    def index(runs: Sequence[RunResult], which: str) -> dict[tuple[str, int], RunResult]:
        out: dict[tuple[str, int], RunResult] = {}
        for r in runs:
            if not r.finished:
                continue
            key = (r.strategy, r.seed)
            if key in out:
                raise LabelwiseError(f"{which} runs hold {key[0]!r} seed {key[1]} twice")
            out[key] = r
        return out

    base, prox = index(baseline, "baseline"), index(proxy, "proxy")
    keys = [k for k in base if k in prox]
    if not keys:
        raise LabelwiseError(
            f"no finished (strategy, seed) pair in both: baseline has {sorted(base)}, "
            f"proxy has {sorted(prox)}"
        )
    return [compare_proxy(base[k], prox[k]) for k in keys]


def proxy_markdown(comparisons: Sequence[ProxyComparison]) -> str:
    """A Markdown table of proxy comparisons, one row per (strategy, seed), plus a mean row
    per strategy when it has several seeds."""
    head = (
        "| strategy | seed | selection s | with proxy s | speed-up | final acc | with proxy "
        "| accuracy lost (final) | accuracy lost (mean over rounds) |"
    )
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    by: dict[str, list[ProxyComparison]] = {}
    for c in comparisons:
        by.setdefault(c.strategy, []).append(c)
        lines.append(
            f"| {c.strategy} | {c.seed} | {c.selection_seconds:.1f} | "
            f"{c.proxy_selection_seconds:.1f} | {c.speedup:.2f}x | {c.final_accuracy:.4f} | "
            f"{c.proxy_final_accuracy:.4f} | {c.accuracy_lost:+.4f} | "
            f"{c.mean_accuracy_lost:+.4f} |"
        )
    for name, cs in by.items():
        if len(cs) < 2:
            continue
        base_s = sum(c.selection_seconds for c in cs)
        prox_s = sum(c.proxy_selection_seconds for c in cs)
        lines.append(
            f"| **{name} (mean of {len(cs)})** | | {base_s / len(cs):.1f} | "
            f"{prox_s / len(cs):.1f} | "
            f"{(base_s / prox_s if prox_s > 0 else float('inf')):.2f}x | "
            f"{np.mean([c.final_accuracy for c in cs]):.4f} | "
            f"{np.mean([c.proxy_final_accuracy for c in cs]):.4f} | "
            f"{np.mean([c.accuracy_lost for c in cs]):+.4f} | "
            f"{np.mean([c.mean_accuracy_lost for c in cs]):+.4f} |"
        )
    return "\n".join(lines) + "\n"
