"""Summaries and plots of simulation results (learning curves over seeds)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from labelwise._files import replacing
from labelwise.bench.metrics import (
    aubc,
    class_balance_entropy,
    labels_to_target,
    mean_and_ci,
    mean_curve,
    redundant_acquisitions,
)
from labelwise.bench.stats import WIN_MIN_SEEDS, PairedGaps, shared_label_range

if TYPE_CHECKING:
    from labelwise.loop import RunResult

__all__ = [
    "StrategySummary",
    "mean_curve_markdown",
    "plot_class_histograms",
    "plot_gain_curves",
    "plot_learning_curves",
    "plot_win_matrix",
    "summarize",
    "summary_markdown",
    "write_report",
]


@dataclass(frozen=True)
class StrategySummary:
    """Across-seed summary of one strategy.

    ``labels_to`` maps each target accuracy to (median labels over the seeds that reached
    it, number of seeds that reached it). ``acquired_balance`` is the mean over seeds of
    each run's :func:`~labelwise.bench.metrics.class_balance_entropy` of its acquired
    labels. ``seconds_per_round`` has the mean seconds of ``train`` over every round and of
    ``predict``, ``select`` and ``proxy_train`` over the rounds that acquired a batch (the
    last round only trains and evaluates). ``redundant`` is the mean and interval over
    seeds of :func:`~labelwise.bench.metrics.redundant_acquisitions` (None without groups).
    ``labels_to_mean_curve`` maps each target to the label count where the seed-mean
    accuracy curve crosses it, linearly interpolated between checkpoints (None if the mean
    curve never reaches it): the count of a published table read off an averaged curve.
    ``initial_size`` is the runs' number of initial labels (None if they differ).
    ``final_nll`` is the mean and interval over seeds of the last evaluation's test
    negative log-likelihood (nats per test item).
    """

    strategy: str
    n_seeds: int
    final_accuracy: tuple[float, float]
    aubc: tuple[float, float]
    labels_to: dict[float, tuple[float | None, int]]
    acquired_balance: float
    seconds_per_round: dict[str, float]
    redundant: tuple[float, float] | None = None
    labels_to_mean_curve: dict[float, float | None] = field(default_factory=dict)
    initial_size: int | None = None
    final_nll: tuple[float, float] = (math.nan, math.nan)


def _acquired_balance(run: RunResult) -> float:
    """Normalised class entropy of the labels ``run`` acquired (NaN if it acquired none)."""
    hist = np.sum([np.asarray(rec.batch_class_counts) for rec in run.rounds], axis=0)
    return class_balance_entropy(hist) if hist.sum() else float("nan")


def _seconds_per_round(runs: Sequence[RunResult]) -> dict[str, float]:
    acquiring = [rec for r in runs for rec in r.rounds if len(rec.selected)]
    secs = {"train": float(np.mean([rec.seconds_train for r in runs for rec in r.rounds]))}
    for phase in ("predict", "select", "proxy_train"):
        values = [getattr(rec, f"seconds_{phase}") for rec in acquiring]
        secs[phase] = float(np.mean(values)) if values else 0.0
    return secs


def summarize(
    runs: Sequence[RunResult],
    targets: Sequence[float] = (0.8, 0.9),
    *,
    groups: np.ndarray | None = None,
) -> list[StrategySummary]:
    """One :class:`StrategySummary` per strategy, in first-seen order.

    AUBC is computed over the label range shared by every run, so strategies compare on
    the same budget axis. ``groups`` (the dataset's near-duplicate groups, ``[N]``) adds
    the count of acquired copies of already-labeled items.
    """
    if not runs:
        raise ValueError("no runs to summarise")
    budget = shared_label_range(runs)
    by: dict[str, list[RunResult]] = {}
    for r in runs:
        by.setdefault(r.strategy, []).append(r)
    out = []
    for name, rs in by.items():
        finals = [float(r.accuracy[-1]) for r in rs]
        final_nlls = [float(r.nll[-1]) for r in rs]
        areas = [aubc(r.labels, r.accuracy, budget=budget) for r in rs]
        lt: dict[float, tuple[float | None, int]] = {}
        for t in targets:
            hits = [labels_to_target(r.labels, r.accuracy, t) for r in rs]
            reached = [h for h in hits if h is not None]
            lt[float(t)] = (float(np.median(reached)) if reached else None, len(reached))
        grid, mean_acc = mean_curve([(r.labels, r.accuracy) for r in rs])
        on_mean = {
            float(t): labels_to_target(grid, mean_acc, t, interpolate=True) for t in targets
        }
        sizes = {len(r.initial) for r in rs}
        balances = [b for b in map(_acquired_balance, rs) if not math.isnan(b)]
        redundant = None
        if groups is not None:
            redundant = mean_and_ci([
                redundant_acquisitions(r.initial, [rec.selected for rec in r.rounds], groups)
                for r in rs
            ])
        out.append(
            StrategySummary(
                strategy=name,
                n_seeds=len(rs),
                final_accuracy=mean_and_ci(finals),
                aubc=mean_and_ci(areas),
                labels_to=lt,
                acquired_balance=float(np.mean(balances)) if balances else float("nan"),
                seconds_per_round=_seconds_per_round(rs),
                redundant=redundant,
                labels_to_mean_curve=on_mean,
                initial_size=sizes.pop() if len(sizes) == 1 else None,
                final_nll=mean_and_ci(final_nlls),
            )
        )
    return out


def _mean_ci(value: tuple[float, float], n_seeds: int, digits: int) -> str:
    """``mean ± half-width``; just the mean for one seed, where no interval exists."""
    mean, half = value
    return f"{mean:.{digits}f}" if n_seeds < 2 else f"{mean:.{digits}f} ± {half:.{digits}f}"


def _p_text(p: float) -> str:
    """A p-value, or a dash when it is undefined (fewer than two pairs)."""
    return "—" if math.isnan(p) else f"{p:.3g}"


def _win_text(w: float) -> str:
    return "—" if math.isnan(w) else f"{w:.2f}"


def _win_table(names: Sequence[str], W: np.ndarray) -> list[str]:
    """Markdown lines of a win matrix (row beats column)."""
    lines = ["| | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    lines += [
        f"| {a} | " + " | ".join(_win_text(W[i, j]) for j in range(len(names))) + " |"
        for i, a in enumerate(names)
    ]
    return lines


def summary_markdown(summaries: Sequence[StrategySummary]) -> str:
    """A Markdown table of :func:`summarize` output."""
    targets = list(summaries[0].labels_to) if summaries else []
    head = ["strategy", "seeds", "final acc", "final NLL", "AUBC"]
    head += [f"labels to {t:.0%}" for t in targets]
    with_groups = any(s.redundant is not None for s in summaries)
    head += ["acquired class balance"]
    head += ["acquired copies of labeled items"] if with_groups else []
    head += ["s/round (train/predict/select)"]
    with_proxy = any(s.seconds_per_round.get("proxy_train", 0.0) > 0 for s in summaries)
    head += ["s/round proxy training"] if with_proxy else []
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in summaries:
        row = [
            s.strategy,
            str(s.n_seeds),
            _mean_ci(s.final_accuracy, s.n_seeds, 4),
            _mean_ci(s.final_nll, s.n_seeds, 3),
            _mean_ci(s.aubc, s.n_seeds, 4),
        ]
        for t in targets:
            med, hit = s.labels_to[t]
            row.append("—" if med is None else f"{med:.0f} ({hit}/{s.n_seeds})")
        row.append(f"{s.acquired_balance:.3f}")
        if with_groups:
            row.append("—" if s.redundant is None else _mean_ci(s.redundant, s.n_seeds, 1))
        sp = s.seconds_per_round
        row.append(f"{sp['train']:.2f}/{sp['predict']:.2f}/{sp['select']:.3f}")
        if with_proxy:
            row.append(f"{sp.get('proxy_train', 0.0):.2f}")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def _save_figure(fig: Any, path: str | os.PathLike[str]) -> None:
    """Save and close ``fig``, replacing ``path`` atomically. The format is the suffix's;
    a path without one gets matplotlib's default format and suffix (``NAME.png``), as
    ``savefig`` itself does."""
    import matplotlib
    import matplotlib.pyplot as plt

    fmt = Path(path).suffix.lstrip(".")
    if not fmt:
        fmt = str(matplotlib.rcParams["savefig.format"])
        path = f"{os.fspath(path)}.{fmt}"
    try:
        with replacing(path) as tmp:
            fig.savefig(tmp, format=fmt)
    finally:
        plt.close(fig)


def mean_curve_markdown(summaries: Sequence[StrategySummary]) -> str:
    """A Markdown table of the labels at which each strategy's seed-mean curve reaches each
    target (interpolated), with the labels acquired beyond the initial set in brackets."""
    targets = list(summaries[0].labels_to_mean_curve) if summaries else []
    head = ["strategy", "seeds"] + [f"labels to {t:.0%}" for t in targets]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in summaries:
        row = [s.strategy, str(s.n_seeds)]
        for t in targets:
            n = s.labels_to_mean_curve[t]
            if n is None:
                row.append("—")
            elif not s.initial_size:  # unknown (runs differ) or none
                row.append(f"{n:.0f}")
            else:
                row.append(f"{n:.0f} ({n - s.initial_size:.0f})")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def plot_learning_curves(
    runs: Sequence[RunResult],
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    metric: str = "accuracy",
) -> None:
    """Plot a mean test metric over labels per strategy, with a min-max band over seeds.

    ``metric`` is ``"accuracy"`` (test accuracy) or ``"nll"`` (test negative
    log-likelihood, nats per item)."""
    if metric not in ("accuracy", "nll"):
        raise ValueError(f"metric must be 'accuracy' or 'nll', got {metric!r}")
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    by: dict[str, list[RunResult]] = {}
    for r in runs:
        by.setdefault(r.strategy, []).append(r)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    styles = ("-", "--", ":", "-.")  # the colour cycle repeats after 10: vary the dashes
    for i, (name, rs) in enumerate(by.items()):
        grid = np.unique(np.concatenate([r.labels for r in rs]))
        curves = np.stack([np.interp(grid, r.labels, getattr(r, metric)) for r in rs])
        mean = curves.mean(axis=0)
        # the random baseline in black, so that every strategy is read against it
        is_random = name == "random" or name.startswith("random@")
        kw: dict[str, Any] = {"color": "black", "linewidth": 2.0} if is_random else {}
        (line,) = ax.plot(
            grid, mean, styles[(i // 10) % len(styles)], label=f"{name} (n={len(rs)})", **kw
        )
        if len(rs) > 1:
            ax.fill_between(grid, curves.min(axis=0), curves.max(axis=0), alpha=0.2,
                            color=line.get_color(), linewidth=0)
    ax.set_xlabel("labeled items")
    ax.set_ylabel("test accuracy" if metric == "accuracy" else "test NLL (nats per item)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right" if metric == "accuracy" else "upper right")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    _save_figure(fig, path)


def plot_gain_curves(
    runs: Sequence[RunResult],
    baseline: str,
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
) -> None:
    """Small multiples of each strategy's seed-paired accuracy gain over ``baseline``.

    One panel per strategy sharing seeds with ``baseline``: the mean over the shared seeds of
    its test accuracy minus the baseline's at every common checkpoint
    (:func:`~labelwise.bench.stats.paired_gaps`), in points, with the 95% t-band and the zero
    line. Read one strategy at a time where overlaid learning curves are hard to tell apart.
    The shared y-range is set by the means and by the bands of strategies with at least
    :data:`~labelwise.bench.stats.WIN_MIN_SEEDS` pairs (a two-seed band, t = 12.7, would
    flatten every other panel; it is drawn, clipped).

    Parameters
    ----------
    runs : sequence of RunResult
        Runs of one protocol, the baseline's among them.
    baseline : str
        Strategy name of the reference runs, e.g. ``"random"`` or ``"random@mnist-dbal"``.
    path : path
        Where the PNG is written (atomically).
    title : str, optional
        Prefixed to the figure's heading.

    Raises
    ------
    ValueError
        ``runs`` hold no run of ``baseline``, or no other strategy shares a seed and a
        checkpoint after the initial set with it.
    """
    from labelwise.bench.stats import paired_gaps

    names = sorted({r.strategy for r in runs})
    if baseline not in names:
        raise ValueError(
            f"no runs of the baseline {baseline!r} among the strategies {names}; pass one of "
            "them, or add the baseline's runs (labelwise report --compare for another folder's)"
        )
    points, gaps = paired_gaps(runs, baseline, n_points=None)
    if not gaps:
        raise ValueError(
            f"no strategy shares a seed and a checkpoint after the initial set with "
            f"{baseline!r}; run the other strategies with the baseline's seeds"
        )
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    n_cols = min(4, len(gaps))
    n_rows = -(-len(gaps) // n_cols)
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(max(3.2 * n_cols, 7.0), 2.4 * n_rows + 0.4), dpi=110,
        sharex=True, sharey=True, squeeze=False,
    )
    x = np.asarray(points)
    lo, hi = 0.0, 0.0
    for i, (ax, g) in enumerate(zip(axes.flat, gaps)):
        mean, half = 100 * np.asarray(g.mean), 100 * np.asarray(g.half_width)
        ax.axhline(0, color="black", linewidth=0.8)
        if x.size == 1:  # a line of one point draws nothing: a point with its interval
            ax.errorbar(x, mean, yerr=half, fmt="o", color="C0", capsize=3)
        else:
            ax.plot(x, mean, color="C0")
            if g.n_pairs > 1:
                ax.fill_between(x, mean - half, mean + half, alpha=0.25, color="C0",
                                linewidth=0)
        band = half if g.n_pairs >= WIN_MIN_SEEDS else 0.0
        lo, hi = min(lo, float(np.min(mean - band))), max(hi, float(np.max(mean + band)))
        ax.set_title(f"{g.strategy} (n={g.n_pairs})", fontsize="medium")
        ax.grid(alpha=0.3)
        if i + n_cols >= len(gaps):  # nothing below it: this panel carries the x-axis
            ax.tick_params(labelbottom=True)
            ax.set_xlabel("labeled items")
    for ax in axes.flat[len(gaps):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel(f"acc. - {baseline} (pts)")
    pad = 0.1 * (hi - lo) or 1.0
    axes.flat[0].set_ylim(lo - pad, hi + pad)
    heading = f"gain over {baseline}: seed-paired mean, 95% t-band"
    fig.suptitle(f"{title}\n{heading}" if title else heading, fontsize="medium")
    fig.tight_layout()
    _save_figure(fig, path)


def plot_class_histograms(runs: Sequence[RunResult], path: str | os.PathLike[str]) -> None:
    """Bar chart of the acquired set's class histogram per strategy (summed over seeds)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    by: dict[str, np.ndarray] = {}
    for r in runs:
        h = np.sum([rec.batch_class_counts for rec in r.rounds], axis=0)
        by[r.strategy] = by.get(r.strategy, 0) + h
    names = list(by)
    n_classes = len(next(iter(by.values()))) if by else 0
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * n_classes * len(names) / 2), 4), dpi=120)
    width = 0.8 / max(len(names), 1)
    for i, name in enumerate(names):
        h = by[name] / max(by[name].sum(), 1)
        ax.bar(np.arange(n_classes) + i * width, h, width=width, label=name)
    ax.axhline(1 / max(n_classes, 1), color="k", lw=0.8, ls="--")
    ax.set_xticks(np.arange(n_classes) + 0.4 - width / 2)
    ax.set_xticklabels([str(c) for c in range(n_classes)])
    ax.set_xlabel("class")
    ax.set_ylabel("share of acquired labels")
    ax.legend(fontsize="small")
    fig.tight_layout()
    _save_figure(fig, path)


def _gap_lines(baseline: str, points: Sequence[int], rows: Sequence[PairedGaps]) -> list[str]:
    """Markdown: the seed-paired accuracy difference to ``baseline`` along the budget
    (:func:`~labelwise.bench.stats.paired_gaps`)."""
    lines = [f"## Accuracy gain over {baseline} along the budget", ""]
    if not rows:
        return [
            *lines,
            (
                f"Not computed: no strategy shares a seed with {baseline}, or their runs "
                "share no checkpoint after the initial set."
            ),
            "",
        ]
    lines += [
        (
            f"Test accuracy minus {baseline}'s, in points, averaged over the seeds each "
            f"strategy shares with {baseline} (their number: pairs), at checkpoints spread "
            "over the budget (columns: labels): where a strategy's gain lies, which AUBC "
            "averages away."
        ),
        "",
        "| strategy | pairs | " + " | ".join(str(c) for c in points) + " |",
        "|---|---|" + "---|" * len(points),
    ]
    lines += [
        f"| {g.strategy} | {g.n_pairs} | " + " | ".join(f"{100 * m:+.1f}" for m in g.mean) + " |"
        for g in rows
    ]
    return [*lines, "", "![gain over the baseline](gain_curve.png)", ""]


def _environment_lines(runs: Sequence[RunResult]) -> list[str]:
    """Markdown: on which environments (torch, CPU kernels, CPU, threads) the runs' rounds
    were computed. Seeded runs are bit-identical only within one environment."""
    from labelwise.loop._environment import environment_label

    rounds: dict[str, int] = {}
    runs_on: dict[str, set[int]] = {}
    unrecorded_runs = unrecorded_rounds = 0
    for i, run in enumerate(runs):
        # Stable sort: of two records with one first round, the later computed the rounds
        # (the earlier process stopped before finishing one).
        envs = sorted(run.environments, key=lambda e: int(e.get("first_round", 0)))
        starts = [int(e.get("first_round", 0)) for e in envs]
        if not envs or starts[0] > 0:
            unrecorded_runs += 1
            unrecorded_rounds += min(starts[0], len(run.rounds)) if envs else len(run.rounds)
        for env, start, end in zip(envs, starts, [*starts[1:], len(run.rounds)]):
            n = max(0, min(end, len(run.rounds)) - start)
            if n == 0:  # a process that stopped before finishing a round, or a duplicate
                continue
            label = f"labelwise {env.get('labelwise', '?')}, {environment_label(env)}"
            rounds[label] = rounds.get(label, 0) + n
            runs_on.setdefault(label, set()).add(i)
    lines = [
        "## Run environments",
        "",
        (
            "Where the rounds were computed. A seeded run repeats bit for bit only in the "
            "same environment: CPU kernels of another width round differently, and training "
            "amplifies that, so a replay elsewhere follows the same protocol (initial set, "
            "initialisation, shuffles, masks) but drifts from the recorded curve."
        ),
        "",
        "| environment | runs | rounds |",
        "|---|---|---|",
    ]
    lines += [f"| {label} | {len(runs_on[label])} | {n} |" for label, n in rounds.items()]
    if unrecorded_runs:
        lines.append(
            f"| not recorded (computed before runs recorded their environment) | "
            f"{unrecorded_runs} | {unrecorded_rounds} |"
        )
    return lines


def plot_win_matrix(names: Sequence[str], W: np.ndarray, path: str | os.PathLike[str]) -> None:
    """Heat map of the pairwise win matrix (row beats column)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * len(names), 0.8 + 0.6 * len(names)), dpi=120)
    vmax = float(np.nanmax(W)) if np.isfinite(W).any() else 0.0
    im = ax.imshow(np.ma.masked_invalid(W), cmap="viridis", vmin=0, vmax=max(1e-9, vmax))
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    for i in range(len(names)):
        for j in range(len(names)):
            text = "—" if math.isnan(W[i, j]) else f"{W[i, j]:.2f}"
            color = "k" if math.isnan(W[i, j]) else "w"
            ax.text(j, i, text, ha="center", va="center", color=color, fontsize=8)
    ax.set_title("row beats column (share of checkpoints, p < 0.05; — not computed)")
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    _save_figure(fig, path)


def write_report(
    out_dir: str | os.PathLike[str],
    runs: Sequence[RunResult],
    *,
    targets: Sequence[float] = (0.8, 0.9),
    title: str | None = None,
    groups: np.ndarray | None = None,
) -> str:
    """Write ``report.md``, ``summary.json`` and the PNG plots into ``out_dir``.

    Returns the Markdown text. Everything is regenerated from ``runs`` (and the dataset's
    near-duplicate ``groups``, if it has any), so ``labelwise report DIR`` can rebuild it
    from the saved results. The paired tests compare with ``random``, or, when the runs
    have none, with the random runs of a compared folder (``random@label``, see
    :func:`~labelwise.bench.combine.combine_runs`).
    """
    import json

    from labelwise.bench.combine import paired_baseline
    from labelwise.bench.stats import paired_against, paired_gaps, win_matrix

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summaries = summarize(runs, targets=targets, groups=groups)
    baseline = paired_baseline([s.strategy for s in summaries])
    paired = paired_against(runs, baseline) if baseline is not None else []
    gap_points, gap_rows = paired_gaps(runs, baseline) if baseline is not None else ([], [])
    names, W = win_matrix(runs)
    _, W_log2 = win_matrix(runs, checkpoints="log2")
    # Entries of pairs with fewer than WIN_MIN_SEEDS shared seeds are NaN ("—").
    has_wins = bool(np.isfinite(W).any())
    plot_learning_curves(runs, out / "learning_curve.png", title=title)
    plot_learning_curves(runs, out / "nll_curve.png", title=title, metric="nll")
    plot_class_histograms(runs, out / "class_histograms.png")
    if baseline is not None and gap_rows:
        plot_gain_curves(runs, baseline, out / "gain_curve.png", title=title)
    else:
        (out / "gain_curve.png").unlink(missing_ok=True)  # never a stale plot
    if has_wins:
        plot_win_matrix(names, W, out / "win_matrix.png")
    else:
        (out / "win_matrix.png").unlink(missing_ok=True)  # never a stale plot
    lines = [f"# {title or 'labelwise results'}", "", summary_markdown(summaries)]
    if paired:
        lines += [
            f"## Paired comparison with {baseline} (AUBC, same seeds and initial sets)",
            "",
            "| strategy | pairs | mean AUBC difference | p (paired t-test) |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {p.strategy} | {p.n_pairs} | {p.mean_difference:+.4f} | {_p_text(p.p_value)} |"
            for p in paired
        ]
        lines.append("")
    if baseline is not None:
        lines += _gap_lines(baseline, gap_points, gap_rows)
    if summaries and summaries[0].labels_to_mean_curve:
        lines += [
            "## Labels to target on the seed-mean curve",
            "",
            (
                "Where the mean accuracy over seeds first reaches each target, linearly "
                "interpolated between checkpoints (in brackets: labels acquired beyond the "
                "initial set). Papers that average their repeats before reading a table "
                "count this way; the table above gives the median over seeds of each run's "
                "first checkpoint at or above the target."
            ),
            "",
            mean_curve_markdown(summaries),
        ]
    lines += ["## Win matrix (row beats column)", ""]
    if has_wins:
        lines += _win_table(names, W)
        lines += [
            "",
            (
                "Share of all checkpoints after the initial set at which the row's accuracy "
                "is higher (paired t-test over seeds, p < 0.05). — : not computed (fewer "
                f"than {WIN_MIN_SEEDS} shared seeds, or the diagonal)."
            ),
            "",
            "### At Ash et al.'s log-spaced checkpoints",
            "",
            (
                "The same at the 1st, 2nd, 4th, 8th, ... acquisition (Ash et al. 2020: "
                "initial + 2^(m-1) x batch labels), where early rounds weigh as much as "
                "late ones."
            ),
            "",
        ]
        lines += _win_table(names, W_log2)
    else:
        need = f"at least {WIN_MIN_SEEDS} shared seeds per pair of strategies"
        lines += [f"Not computed: its paired t-tests need {need}."]
    lines += ["", *_environment_lines(runs)]
    lines += ["", "![learning curves](learning_curve.png)", "![test NLL](nll_curve.png)",
              "![acquired classes](class_histograms.png)"]
    lines += ["![win matrix](win_matrix.png)", ""] if has_wins else [""]
    md = "\n".join(lines)
    with replacing(out / "report.md") as tmp:
        tmp.write_text(md)
    summary: dict[str, Any] = {
        "strategies": [
            {
                "strategy": s.strategy,
                "n_seeds": s.n_seeds,
                "final_accuracy": list(s.final_accuracy),
                "final_nll": list(s.final_nll),
                "aubc": list(s.aubc),
                "labels_to": {str(k): list(v) for k, v in s.labels_to.items()},
                "labels_to_mean_curve": {
                    str(k): v for k, v in s.labels_to_mean_curve.items()
                },
                "initial_size": s.initial_size,
                "acquired_balance": s.acquired_balance,
                "seconds_per_round": s.seconds_per_round,
                "redundant_acquisitions": (
                    None if s.redundant is None else list(s.redundant)
                ),
            }
            for s in summaries
        ],
        "paired_vs_random": [p.__dict__ for p in paired],
        "paired_gaps": {
            "baseline": baseline,
            "checkpoints": gap_points,
            "rows": [
                {"strategy": g.strategy, "n_pairs": g.n_pairs,
                 "accuracy_difference": list(g.mean), "half_width": list(g.half_width)}
                for g in gap_rows
            ],
        },
        "win_matrix": {
            "names": names,
            "W": [[None if math.isnan(w) else w for w in row] for row in W.tolist()],
            "W_log2_checkpoints": [
                [None if math.isnan(w) else w for w in row] for row in W_log2.tolist()
            ],
        },
    }
    with replacing(out / "summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2))
    return md
