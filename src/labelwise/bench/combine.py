"""Bring runs of a sibling suite into one report, as paired comparisons across folders.

A sibling suite changes one thing of a protocol (the producer of the predictive samples,
the network, CEAL pseudo-labels, a selection proxy) and keeps the rest: dataset, seeds,
initial sets, batch size, budget. Its natural baselines (random, or the same strategy
without the change) live in the main suite's folder. :func:`combine_runs` adds those runs
to a report under the name ``strategy@folder`` after checking that they really share the
protocol, so that the paired tests, the win matrix and the curves compare like with like.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from labelwise.errors import LabelwiseError

if TYPE_CHECKING:
    from labelwise.loop import RunResult

__all__ = ["PROTOCOL_KEYS", "check_one_protocol", "combine_runs", "paired_baseline"]

#: Settings of :class:`~labelwise.loop.SimulationConfig` that must agree between the runs of
#: one report: they define the budget axis and the initial sets.
PROTOCOL_KEYS: tuple[str, ...] = ("batch_size", "budget", "initial_size", "initial", "pool_subset")

#: Suffix of the bundled datasets that are another view (flattened) of the same items.
_VIEW_SUFFIX = "-flat"


def _base_dataset(name: str) -> str:
    return name.removesuffix(_VIEW_SUFFIX)


def _protocol(run: RunResult) -> dict[str, Any]:
    return {key: run.config.get(key) for key in PROTOCOL_KEYS}


def _protocol_mismatch(run: RunResult, ref: RunResult) -> str | None:
    """What differs between the protocols of ``run`` and ``ref`` (dataset and
    :data:`PROTOCOL_KEYS`), as ``"key value vs value"`` text; None if nothing does."""
    ours = {"dataset": _base_dataset(run.dataset), **_protocol(run)}
    theirs = {"dataset": _base_dataset(ref.dataset), **_protocol(ref)}
    diff = [k for k in ours if ours[k] != theirs[k]]
    if run.dataset == ref.dataset and None not in (run.dataset_fingerprint, ref.dataset_fingerprint):
        # the same name on other data (two pool.npz files, or files that changed); views
        # of one dataset ("digits" / "digits-flat") differ in shape, so only same names
        ours["dataset_fingerprint"] = run.dataset_fingerprint
        theirs["dataset_fingerprint"] = ref.dataset_fingerprint
        if run.dataset_fingerprint != ref.dataset_fingerprint:
            diff.append("dataset_fingerprint")
    return ", ".join(f"{k} {ours[k]!r} vs {theirs[k]!r}" for k in diff) or None


def check_one_protocol(runs: Sequence[RunResult], where: str) -> None:
    """Raise ``LabelwiseError`` unless every run shares the protocol (dataset and
    :data:`PROTOCOL_KEYS`): one report compares strategies on one budget axis."""
    for r in runs[1:]:
        detail = _protocol_mismatch(r, runs[0])
        if detail:
            raise LabelwiseError(
                f"{where} mixes runs of different settings: {r.strategy} seed {r.seed} has "
                f"{detail} ({runs[0].strategy} seed {runs[0].seed}); keep one setting per "
                "folder (simulate / bench with a new --out), and compare folders with --compare"
            )


def combine_runs(
    runs: Sequence[RunResult],
    others: Mapping[str, Sequence[RunResult]],
    *,
    strategies: Sequence[str] | None = None,
    same_seeds: bool = True,
) -> list[RunResult]:
    """``runs`` followed by the runs of other folders, renamed ``strategy@label``.

    Parameters
    ----------
    runs : sequence of RunResult
        The report's own runs (one folder).
    others : mapping of str to sequence of RunResult
        ``{label: runs}`` of other folders, e.g. ``{"mnist-dbal": [...]}``; the label is
        appended to their strategy names (``random@mnist-dbal``).
    strategies : sequence of str, optional
        Keep only these strategies of the other folders (e.g. ``["random", "bald"]``).
    same_seeds : bool, default True
        Keep only the other folders' runs of seeds that ``runs`` has, so that every row of
        the report averages over the same seeds (and initial sets). False keeps them all.

    Returns
    -------
    list of RunResult
        New list; the input runs are not modified.

    Raises
    ------
    LabelwiseError
        When an added run does not share the protocol: another dataset (a ``-flat`` view
        of the same dataset counts as the same), other batch size / budget / initial set
        settings (:data:`PROTOCOL_KEYS`), or, for a seed present in both, other initial
        indices. Also when a requested strategy is missing from every other folder, or a
        label is empty or contains ``@``.
    """
    if not runs:
        raise LabelwiseError("no runs to combine with: the report's own folder has no runs")
    ref = runs[0]
    initial_by_seed = {r.seed: r.initial for r in runs}
    wanted = None if strategies is None else [s for s in strategies if s]
    out = list(runs)
    found: set[str] = set()
    for label, extra in others.items():
        if not label or "@" in label:
            raise LabelwiseError(
                f"folder label {label!r} must be non-empty and must not contain '@'"
            )
        for r in extra:
            if wanted is not None and r.strategy not in wanted:
                continue
            if same_seeds and r.seed not in initial_by_seed:
                continue
            where = f"{r.strategy} seed {r.seed} of {label}"
            if _base_dataset(r.dataset) != _base_dataset(ref.dataset):
                raise LabelwiseError(
                    f"{where} ran on dataset {r.dataset!r}, the report's runs on "
                    f"{ref.dataset!r}: only runs on the same items can be compared"
                )
            detail = _protocol_mismatch(r, ref)  # the dataset matches (checked above)
            if detail:
                raise LabelwiseError(
                    f"{where} has another protocol than the report's runs ({detail}); "
                    "compare only suites with the same batch size, budget and initial sets"
                )
            if r.seed in initial_by_seed and r.initial != initial_by_seed[r.seed]:
                raise LabelwiseError(
                    f"{where} started from other initial labels than the report's seed "
                    f"{r.seed}: the runs are not paired (were they made by another labelwise "
                    "version or with another initial-set rule?)"
                )
            found.add(r.strategy)
            out.append(dataclasses.replace(r, strategy=f"{r.strategy}@{label}"))
    if wanted is not None:
        missing = [s for s in wanted if s not in found]
        if missing:
            raise LabelwiseError(
                f"strategies {missing} are in none of the compared folders "
                f"({', '.join(others) or 'none given'})"
            )
    return out


def paired_baseline(names: Sequence[str]) -> str | None:
    """The strategy the paired tests compare with: ``random`` if present, else the first
    ``random@label`` (the random baseline of a compared folder), else None."""
    if "random" in names:
        return "random"
    return next((n for n in names if n.startswith("random@")), None)
