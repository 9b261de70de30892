"""The ``labelwise`` command.

Subcommands: ``simulate`` (reproducible experiments with an oracle), ``select``
(bring-your-own-predictions selection), ``strategies`` (the registry). Bad arguments give a
one-line error and exit code 2, never a traceback.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from labelwise._files import replacing
from labelwise.bench.metrics import check_targets
from labelwise.errors import LabelwiseError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="labelwise: deep active learning — pick the items whose labels help a model most.",
)
_out = Console()
_err = Console(stderr=True)


class _UsageError(Exception):
    """A user error found by the CLI itself."""


def _fail(msg: str) -> typer.Exit:
    # The message is user text (paths, names): never parse it as rich markup.
    _err.print(f"[bold red]error:[/] {escape(msg)}", highlight=False, markup=True, soft_wrap=True)
    return typer.Exit(code=2)


def _model_names() -> list[str]:
    from labelwise.models import MODEL_NAMES

    return list(MODEL_NAMES)


def _split_names(values: list[str]) -> list[str]:
    names: list[str] = []
    for v in values:
        names.extend(p.strip() for p in v.split(",") if p.strip())
    return names


@app.command("strategies")
def strategies_cmd() -> None:
    """List every registered strategy with a one-line description and its paper."""
    from labelwise.strategies import available_strategies

    table = Table(title="labelwise strategies", show_lines=False)
    table.add_column("name", style="bold")
    table.add_column("needs")
    table.add_column("description")
    table.add_column("paper")
    for s in available_strategies():
        needs = ", ".join(sorted(s.needs)) or "-"
        table.add_row(s.name, needs, s.description, s.paper)
    _out.print(table)


def _read_index_file(path: Path, n: int, what: str) -> np.ndarray:
    from labelwise._validation import check_indices

    try:
        text = path.read_text()
    except OSError as exc:
        raise _UsageError(f"cannot read {what} file {path}: {exc.strerror}") from None
    vals: list[int] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            vals.append(int(line))
        except ValueError:
            raise _UsageError(
                f"{path}:{lineno}: expected one whole-dataset index per line, got {line!r}"
            ) from None
    huge = [v for v in vals if not 0 <= v < n]
    if huge and not all(-(2**63) <= v < 2**63 for v in huge):
        raise _UsageError(f"{what} ({path}) must lie in [0, {n}); got {huge[0]}")
    return check_indices(np.asarray(vals, dtype=np.int64), n, f"{what} ({path})")


def _load_npy(path: Path, what: str) -> np.ndarray:
    try:
        with open(path, "rb") as fh:
            head = fh.read(6)
    except FileNotFoundError:
        raise _UsageError(f"{what} file not found: {path}") from None
    except OSError as exc:
        raise _UsageError(f"cannot read {what} file {path}: {_os_error_text(exc)}") from None
    if head != b"\x93NUMPY" and head[:2] != b"PK":
        kind = "empty" if not head else "not a .npy file (no NumPy header)"
        raise _UsageError(
            f"{what} file {path} is {kind}; write arrays with numpy.save(path, array)"
        )
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise _UsageError(f"cannot read {what} file {path} as .npy: {exc}") from None
    if not isinstance(arr, np.ndarray):
        raise _UsageError(f"{what} file {path} must be a single .npy array, not an .npz archive")
    return arr


@app.command("select")
def select_cmd(
    probs: Path | None = typer.Option(
        None, "--probs", help="Predictive samples [N, K, C] (or [N, C]) as .npy."
    ),
    embeddings: Path | None = typer.Option(
        None, "--embeddings", help="Embeddings [N, D] as .npy (for batch-aware strategies)."
    ),
    labeled: Path | None = typer.Option(
        None, "--labeled", help="Already labeled whole-dataset indices, one per line."
    ),
    strategy: str = typer.Option("entropy", "--strategy", "-s", help="Strategy name."),
    k: int = typer.Option(..., "-k", "--k", help="How many items to select."),
    seed: int = typer.Option(0, "--seed", help="Seed for tie-breaking and sampling."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Write the selected indices here, one per line (default: stdout)."
    ),
    log_probs: bool = typer.Option(
        False, "--log-probs", help="The --probs file holds log-probabilities."
    ),
    max_class_share: float | None = typer.Option(
        None, "--max-class-share",
        help="Cap the share of any one predicted class in the batch (0-1]; needs --probs.",
    ),
) -> None:
    """Select the next items to label from predictions you computed yourself."""
    from labelwise.strategies import get_strategy

    try:
        if out is not None:
            _check_out_file(out)  # before loading and scoring a large pool
        strat = get_strategy(strategy)
        beyond = sorted(set(strat.needs) - {"probs", "embeddings", "labeled"})
        if beyond:
            raise _UsageError(
                f"strategy {strat.name!r} needs {', '.join(beyond)} from the model's training "
                "(not predictions in a file), which `labelwise select` cannot provide; run it "
                "inside `labelwise simulate`, or call it from Python"
            )
        for need, flag, given in (("probs", "--probs", probs), ("embeddings", "--embeddings",
                                                                  embeddings)):
            if need in strat.needs and given is None:
                raise _UsageError(f"strategy {strat.name!r} needs {flag} (a .npy file)")
        P = _load_npy(probs, "--probs") if probs is not None else None
        E = _load_npy(embeddings, "--embeddings") if embeddings is not None else None
        if P is not None and P.ndim == 2:
            P = P[:, None, :]
        if P is not None and log_probs:
            if P.size and float(np.nanmax(P)) > 1e-6:
                raise _UsageError(
                    f"--log-probs was given, but {probs} holds values above 0 (up to "
                    f"{float(np.nanmax(P)):.3g}), so not log-probabilities; drop --log-probs "
                    "for probabilities, or apply log_softmax to logits first"
                )
            P = np.exp(P)
        if P is None and E is None:
            raise _UsageError("give --probs P.npy and/or --embeddings E.npy")
        if P is not None and P.ndim != 3:
            raise _UsageError(
                f"--probs must hold [N, K, C] (or [N, C]) predictions, got shape {P.shape}"
            )
        if E is not None and E.ndim != 2:
            raise _UsageError(f"--embeddings must hold [N, D] features, got shape {E.shape}")
        n = int((P if P is not None else E).shape[0])  # type: ignore[union-attr]
        excl = _read_index_file(labeled, n, "--labeled") if labeled is not None else None
        inputs = {
            "probs": np.ascontiguousarray(P) if P is not None else None,
            "embeddings": np.ascontiguousarray(E) if E is not None else None,
        }

        def select_k(m: int) -> Any:
            return strat.select(m, n=n, exclude=excl, rng=seed, **inputs)

        if max_class_share is None:
            sel = select_k(k)
        else:
            if P is None:
                raise _UsageError("--max-class-share needs --probs (the predicted classes)")
            from labelwise.select import class_balanced

            n_free = n - (0 if excl is None else len(np.unique(excl)))
            predicted = np.asarray(P.mean(axis=1).argmax(axis=-1), dtype=np.int64)
            sel = class_balanced(
                select_k, predicted, k, max_share=max_class_share, pool_size=n_free
            )
    except (LabelwiseError, ValueError, TypeError, _UsageError) as exc:
        raise _fail(str(exc)) from None
    text = "\n".join(str(int(i)) for i in sel.indices) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        try:
            _write_out_file(out, text)
        except _UsageError as exc:
            raise _fail(str(exc)) from None
        _err.print(f"wrote {len(sel)} indices to {out}")


@app.command("simulate")
def simulate_cmd(
    dataset: str = typer.Option("digits", "--dataset", "-d", help="Bundled dataset name or a .npz file."),
    strategy: list[str] = typer.Option(
        ["bald"], "--strategy", "-s", help="Strategy name(s); repeat or comma-separate."
    ),
    batch_size: int = typer.Option(10, "--batch-size", "-b", help="Labels acquired per round."),
    budget: int = typer.Option(300, "--budget", help="Total labels, initial set included."),
    initial_size: int = typer.Option(20, "--initial-size", help="Initial labeled set size."),
    initial: str = typer.Option("balanced", "--initial", help="'balanced' or 'random'."),
    seeds: int = typer.Option(1, "--seeds", help="Number of seeds (0 .. n-1)."),
    seed_list: str = typer.Option(
        "", "--seed-list",
        help="Run exactly these seeds instead (comma-separated, e.g. 3 or 1,4); overrides --seeds.",
    ),
    mc_samples: int = typer.Option(20, "--mc-samples", "-K", help="MC dropout samples K."),
    pool_subset: int | None = typer.Option(
        None, "--pool-subset", help="Score a random subset of this many pool items per round."
    ),
    model: str = typer.Option(
        "auto", "--model",
        help="'auto' (gal-cnn for images, mlp for vectors) or a make_model name: "
        + ", ".join(_model_names()),
    ),
    epochs: int = typer.Option(50, "--epochs", help="Max training epochs per round."),
    weight_decay: float = typer.Option(0.0, "--weight-decay", help="L2 weight decay."),
    lr: float = typer.Option(1e-3, "--lr", help="Learning rate (Adam)."),
    train_batch_size: int = typer.Option(64, "--train-batch-size", help="Minibatch size for training."),
    val_fraction: float = typer.Option(
        0.0, "--val-fraction",
        help="Hold out this fraction of the labels each round for early stopping (0 = off).",
    ),
    patience: int = typer.Option(
        5, "--patience", help="Early stopping: epochs without a lower validation loss."
    ),
    warm_start: bool = typer.Option(False, "--warm-start", help="Continue training across rounds."),
    predictor: str = typer.Option(
        "auto", "--predictor",
        help="Where samples come from: auto (MC dropout / Bayes weights), consistent-dropout, "
        "snapshot, ensemble, diverse-ensemble, split-head, stochastic-ensemble.",
    ),
    ensemble_size: int = typer.Option(5, "--ensemble-size", help="Members / heads M of ensemble predictors."),
    ensemble_warmup_epochs: int | None = typer.Option(
        None, "--ensemble-warmup-epochs", help="Shared warm-up of diverse-ensemble (default epochs // 5)."
    ),
    proxy_model: str | None = typer.Option(
        None, "--proxy-model", help="Select with this smaller model (selection via proxy); --model is the target."
    ),
    proxy_epochs: int | None = typer.Option(None, "--proxy-epochs", help="Training epochs of the proxy."),
    ceal_delta0: float | None = typer.Option(
        None, "--ceal-delta0", help="CEAL: pseudo-label items with entropy below this (off by default)."
    ),
    ceal_decay: float = typer.Option(0.0, "--ceal-decay", help="CEAL: threshold decay per round."),
    threads: int = typer.Option(
        1, "--threads", help="torch intra-op threads for this process (small models run best on 1)."
    ),
    targets: str = typer.Option("0.8,0.9", "--targets", help="Accuracies for labels-to-target."),
    out: Path = typer.Option(Path("labelwise-out"), "--out", "-o", help="Output folder."),
) -> None:
    """Run a simulated active-learning experiment with known labels (an oracle)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from labelwise.bench.report import write_report
    from labelwise.datasets import load_arrays, load_dataset
    from labelwise.loop import SimulationConfig, simulate
    from labelwise.models import TrainConfig
    from labelwise.strategies import get_strategy

    try:
        names = _split_names(strategy)
        if not names:
            raise _UsageError("--strategy names no strategy; see `labelwise strategies`")
        strats = [get_strategy(n) for n in names]
        target_list = list(check_targets(targets, "--targets"))
        chosen_seeds: int | list[int] = seeds
        if seed_list.strip():
            chosen_seeds = _parse_seeds(seed_list, "--seed-list") or []
            if any(sd < 0 for sd in chosen_seeds) or len(set(chosen_seeds)) < len(chosen_seeds):
                raise _UsageError(f"--seed-list must be distinct integers >= 0, got {seed_list!r}")
        elif seeds < 1:
            raise _UsageError(f"--seeds must be >= 1, got {seeds}")
        _check_out_dir(out)
        data = load_arrays(dataset) if dataset.endswith(".npz") else load_dataset(dataset)
        if initial not in ("balanced", "random"):
            raise _UsageError(f"--initial must be 'balanced' or 'random', got {initial!r}")
        cfg = SimulationConfig(
            batch_size=batch_size, budget=budget, initial_size=initial_size,
            initial=initial,  # type: ignore[arg-type]
            model=model, mc_samples=mc_samples, pool_subset=pool_subset, warm_start=warm_start,
            predictor=predictor, ceal_delta0=ceal_delta0, ceal_decay=ceal_decay,
            ensemble_size=ensemble_size, ensemble_warmup_epochs=ensemble_warmup_epochs,
            proxy_model=proxy_model, proxy_epochs=proxy_epochs,
            train=TrainConfig(
                epochs=epochs, weight_decay=weight_decay, lr=lr, batch_size=train_batch_size,
                val_fraction=val_fraction, patience=patience,
            ),
        )
        from labelwise.loop import check_config, check_strategy_config

        check_config(cfg, data)
        for strat in strats:
            check_strategy_config(strat, cfg)
        if threads < 1:
            raise _UsageError(f"--threads must be >= 1, got {threads}")
    except (LabelwiseError, ValueError, TypeError, _UsageError) as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(_os_error_text(exc)) from None

    import torch

    torch.set_num_threads(threads)  # the command's own process: an explicit user setting
    n_rounds = cfg.n_rounds
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TextColumn("acc {task.fields[acc]}"), TimeElapsedColumn(), console=_err, transient=False,
    ) as progress:
        tasks: dict[tuple[str, int], Any] = {}

        def on_round(name: str, seed: int, rec: Any, total: int) -> None:
            key = (name, seed)
            if key not in tasks:
                tasks[key] = progress.add_task(f"{name} seed {seed}", total=total, acc="-")
            progress.update(tasks[key], completed=rec.round + 1, acc=f"{rec.test_accuracy:.3f}")

        try:
            runs = simulate(
                data, strats, seeds=chosen_seeds, config=cfg, out_dir=out, progress=on_round
            )
        except (LabelwiseError, ValueError) as exc:
            raise _fail(str(exc)) from None
        except OSError as exc:
            raise _fail(_os_error_text(exc)) from None
    _print_summary(
        runs, target_list,
        f"{data.name}: {n_rounds} rounds, "
        + (f"{seeds} seed(s)" if isinstance(chosen_seeds, int) else f"seeds {chosen_seeds}"),
        data.groups,
    )
    write_report(
        out, runs, targets=target_list, title=f"{data.name}, b={batch_size}", groups=data.groups
    )
    _out.print(
        f"results: {out / 'results.json'}  report: {out / 'report.md'}  "
        f"plot: {out / 'learning_curve.png'}"
    )


def _file_ancestor(path: Path) -> Path | None:
    """The nearest existing parent of ``path`` that is not a folder (so ``path`` cannot be made)."""
    for parent in path.parents:
        if parent.exists():
            return None if parent.is_dir() else parent
    return None


def _check_out_dir(out: Path) -> None:
    """``--out`` must be a folder (or not exist yet): fail before any work is done."""
    if out.exists() and not out.is_dir():
        raise _UsageError(f"--out {out} exists and is not a folder; give a folder path")
    blocker = _file_ancestor(out)
    if blocker is not None:
        raise _UsageError(f"cannot create --out {out}: {blocker} is a file, not a folder")


def _check_out_file(out: Path) -> None:
    """``--out`` (a file) must be writable as a path: fail before any work is done."""
    blocker = _file_ancestor(out)
    if blocker is not None:
        raise _UsageError(f"cannot write --out {out}: {blocker} is a file, not a folder")
    if out.is_dir():
        raise _UsageError(f"cannot write --out {out}: it is a folder; give a file path")


def _write_out_file(out: Path, text: str) -> None:
    """Write ``--out`` (a file), creating its folder; one-line errors."""
    _check_out_file(out)
    try:
        if out.exists() and not out.resolve().is_file():  # /dev/stdout, a FIFO: write through
            out.write_text(text)
        else:
            with replacing(out) as tmp:
                tmp.write_text(text)
    except OSError as exc:
        raise _UsageError(f"cannot write --out {out}: {_os_error_text(exc)}") from None


def _os_error_text(exc: OSError) -> str:
    """One line for a file-system error: what failed on which path."""
    where = f" {exc.filename}" if exc.filename else ""
    return f"{exc.strerror or exc}{':' if where else ''}{where}"


def _print_summary(runs: Any, targets: list[float], title: str, groups: Any = None) -> None:
    from labelwise.bench.report import summarize

    table = Table(title=title)
    cols = ["strategy", "seeds", "final acc", "AUBC"] + [f"labels→{t:.0%}" for t in targets]
    if groups is not None:
        cols.append("copies acquired")
    for col in cols:
        table.add_column(col)
    for s in summarize(runs, targets=targets, groups=groups):
        row = [s.strategy, str(s.n_seeds), f"{s.final_accuracy[0]:.4f}", f"{s.aubc[0]:.4f}"]
        for t in targets:
            med, hit = s.labels_to[t]
            row.append("—" if med is None else f"{med:.0f} ({hit}/{s.n_seeds})")
        if s.redundant is not None:
            row.append(f"{s.redundant[0]:.1f}")
        table.add_row(*row)
    _out.print(table)


@app.command("bench")
def bench_cmd(
    suite: Path = typer.Argument(..., help="Suite file (TOML)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (resumes if it exists)."),
    jobs: int = typer.Option(1, "--jobs", "-j", help="(strategy, seed) pairs run in parallel."),
    threads: int = typer.Option(
        1, "--threads", help="torch threads per process (workers of --jobs > 1 always use 1)."
    ),
    strategies: list[str] = typer.Option(
        [], "--strategies", help="Run only these of the suite's strategies (comma-separated)."
    ),
    seeds: str = typer.Option(
        "", "--seeds", help="Run only these of the suite's seeds (comma-separated, e.g. 0,1)."
    ),
    status: bool = typer.Option(
        False, "--status", help="Show how far every (strategy, seed) run in --out is; run nothing."
    ),
) -> None:
    """Run a benchmark suite: every (strategy, seed) pair, resumable, then the report."""
    from labelwise.bench.suite import load_suite, run_suite

    try:
        s = load_suite(suite)
        if jobs < 1:
            raise _UsageError(f"--jobs must be >= 1, got {jobs}")
        if threads < 1:
            raise _UsageError(f"--threads must be >= 1, got {threads}")
        only_strategies = _split_names(strategies) or None
        if strategies and only_strategies is None:
            raise _UsageError(f"--strategies names no strategy, got {strategies!r}")
        only_seeds = _parse_seeds(seeds)
        _check_out_dir(out)
        if status:
            _print_progress(s, out, only_strategies, only_seeds)
            return
        n_st = len(only_strategies or s.strategies)
        n_sd = len(only_seeds or s.seeds)
    except (LabelwiseError, ValueError, TypeError, _UsageError) as exc:
        raise _fail(str(exc)) from None
    import torch

    torch.set_num_threads(threads)
    total = n_st * n_sd
    count = [0]

    def on_done(strategy: str, seed: int) -> None:
        count[0] += 1
        _err.print(f"[{count[0]}/{total}] {strategy} seed {seed} done")

    try:
        def on_busy(b: Any) -> None:
            _err.print(f"skipped {b.strategy} seed {b.seed}: another process is running it "
                       f"into {out} ({b.holder})", highlight=False)

        def on_other_settings(strategy: str, seed: int) -> None:
            _err.print(f"left out of the report: {strategy} seed {seed} in {out} was written "
                       "with other settings than the suite (see --status); use another --out "
                       "for a changed suite", highlight=False)

        runs = run_suite(
            suite, out, jobs=jobs, on_done=on_done, strategies=only_strategies, seeds=only_seeds,
            on_busy=on_busy, on_other_settings=on_other_settings,
        )
    except (LabelwiseError, ValueError) as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(_os_error_text(exc)) from None
    from labelwise.bench.suite import dataset_groups

    if not runs:
        _out.print("no finished runs yet: nothing to report")
        return
    _print_summary(runs, list(s.targets), s.name, dataset_groups(s.dataset))
    _out.print(f"report: {out / 'report.md'}")


def _parse_seeds(text: str, flag: str = "--seeds") -> list[int] | None:
    """``--seeds 0,2`` -> [0, 2]; empty -> None (every seed of the suite)."""
    if not text.strip():
        return None
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise _UsageError(f"{flag} must be comma-separated integers, got {text!r}")
    try:
        return [int(p) for p in parts]
    except ValueError:
        raise _UsageError(f"{flag} must be comma-separated integers, got {text!r}") from None


def _print_progress(
    suite: Any, out: Path, strategies: list[str] | None = None, seeds: list[int] | None = None
) -> None:
    """``bench --status``: one row per (strategy, seed) with the labels reached so far
    (only the ``--strategies`` / ``--seeds`` asked for, when given)."""
    from labelwise.bench.suite import remaining_seconds, suite_progress

    every = suite_progress(suite, out)
    rows = [
        r for r in every
        if (strategies is None or r.strategy in strategies) and (seeds is None or r.seed in seeds)
    ]
    table = Table(title=f"{suite.name}: progress in {out}")
    for col in ("strategy", "seed", "labels", "state", "round time"):
        table.add_column(col)
    for r in rows:
        state = "finished" if r.finished else ("partial" if r.labels else "not started")
        if r.other_settings:
            state += " (other settings*)"
        spent = f"{r.seconds / 60:.1f} min" if r.rounds else ""
        table.add_row(r.strategy, str(r.seed), f"{r.labels} / {r.budget}", state, spent)
    _out.print(table)
    if any(r.other_settings for r in rows):
        _out.print("* written with other settings than the suite: bench will not resume or "
                   "report it in this folder")
    n_done = sum(r.finished for r in rows)
    n_part = sum(r.labels > 0 and not r.finished for r in rows)
    _out.print(f"{n_done} of {len(rows)} runs finished, {n_part} partial")
    unfinished = [r for r in rows if not r.finished]
    if unfinished:
        # Estimates from every finished run of the folder, also those outside the subset.
        left, unknown = remaining_seconds([r for r in every if r.finished] + unfinished)
        if unknown == len(unfinished):
            _out.print("left to run: no estimate yet (no finished run with the suite's settings)")
        else:
            note = f"; {unknown} run(s) without an estimate" if unknown else ""
            _out.print(
                f"left to run: ~{left / 3600:.1f} h of recorded round time (one process per "
                f"run; estimated from the finished runs of each strategy{note})"
            )


def _folder_suite(folder: Path) -> Any:
    """The suite a ``bench`` folder was written with (its ``suite.toml``), or None."""
    from labelwise.bench.suite import load_suite

    path = folder / "suite.toml"
    if not path.is_file():
        return None
    try:
        return load_suite(path)
    except LabelwiseError as exc:
        _err.print(f"note: ignoring {path} ({exc})", highlight=False, soft_wrap=True)
        return None


def _finished_runs(folder: Path) -> list[Any]:
    """The finished runs of ``folder``, saying on stderr which unfinished ones are left out
    (a partial curve would enter AUBC and labels-to-target as if it were complete)."""
    runs = _load_runs(folder)
    unfinished = [r for r in runs if not r.finished]
    if unfinished:
        _err.print(
            f"{folder}: skipping {len(unfinished)} unfinished run(s): "
            + ", ".join(f"{r.strategy} seed {r.seed}" for r in unfinished),
            soft_wrap=True,
        )
        runs = [r for r in runs if r.finished]
        if not runs:
            raise _UsageError(f"{folder} has no finished run yet")
    return runs


def _load_runs(folder: Path) -> list[Any]:
    """The runs of a ``bench`` / ``simulate`` folder: the per-run checkpoints ``runs/*.json``
    (always the newest state: runs finished or resumed after ``results.json`` was written
    count too), else ``results.json``."""
    import json

    from labelwise.loop import RunResult, read_results

    files = sorted((folder / "runs").glob("*.json"))
    saved = []
    if (folder / "results.json").exists():
        try:
            saved = list(read_results(folder / "results.json"))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise _UsageError(
                f"{folder / 'results.json'} is not a labelwise results file "
                f"({type(exc).__name__}: {exc}); delete it to rebuild it from runs/*.json"
            ) from None
    if not files and not saved:
        raise _UsageError(f"{folder} has no runs/*.json and no results.json")
    newest = {(r.strategy, r.seed): r for r in saved}
    order = list(newest)  # results.json's order (the suite's) first, then any new pairs
    for f in files:
        try:
            r = RunResult.from_dict(json.loads(f.read_text()))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise _UsageError(
                f"{f} is not a labelwise run file ({type(exc).__name__}: {exc}); delete it "
                "(the run restarts) or restore it"
            ) from None
        if (r.strategy, r.seed) not in newest:
            order.append((r.strategy, r.seed))
        newest[(r.strategy, r.seed)] = r
    if not saved and (folder / "suite.toml").exists():  # a bench folder: the suite's order
        from labelwise.bench.suite import load_suite

        try:
            names = list(load_suite(folder / "suite.toml").strategies)
        except LabelwiseError:
            names = []
        rank = {n: i for i, n in enumerate(names)}
        order.sort(key=lambda key: (rank.get(key[0], len(rank)), key[0], key[1]))
    return [newest[key] for key in order]


@app.command("compare-proxy")
def compare_proxy_cmd(
    baseline: Path = typer.Argument(..., help="Folder of runs without a proxy."),
    proxy: Path = typer.Argument(..., help="Folder of the same runs with --proxy-model/--proxy-epochs."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Also write the table to this Markdown file."),
) -> None:
    """Selection via proxy (Coleman et al. 2020): selection seconds saved and target accuracy
    lost, per (strategy, seed) finished in both folders."""
    from labelwise.loop import compare_proxy_runs, proxy_markdown

    try:
        if out is not None:
            _check_out_file(out)
        comparisons = compare_proxy_runs(_load_runs(baseline), _load_runs(proxy))
        md = proxy_markdown(comparisons)
        if out is not None:
            _write_out_file(out, md)
    except (LabelwiseError, ValueError, OSError, _UsageError) as exc:
        raise _fail(str(exc)) from None
    _out.print(md, soft_wrap=True, markup=False, highlight=False)  # a table to copy


@app.command("report")
def report_cmd(
    out: Path = typer.Argument(..., help="A folder written by `labelwise bench` or `simulate`."),
    targets: str = typer.Option(
        "", "--targets",
        help="Accuracies for labels-to-target (default: the suite's, else 0.8,0.9).",
    ),
    compare: list[Path] = typer.Option(
        [], "--compare",
        help="Add the finished runs of another folder with the same protocol (e.g. the main "
        "suite of a sibling suite), named strategy@FOLDER, for the seeds this folder has; "
        "repeatable.",
    ),
    compare_strategies: str = typer.Option(
        "", "--compare-strategies",
        help="Only these strategies of the --compare folders (comma-separated, e.g. random,bald).",
    ),
) -> None:
    """Regenerate the Markdown report and plots from saved results.

    A folder written by ``labelwise bench`` keeps its suite (``suite.toml``): its name, its
    targets (unless ``--targets`` is given) and its dataset are used, and runs written with
    other settings than the suite are left out, so the report equals the one bench wrote.
    """
    from labelwise.bench.combine import check_one_protocol, combine_runs
    from labelwise.bench.report import write_report
    from labelwise.bench.suite import dataset_groups, report_lock, runs_of_suite_settings

    try:
        suite = _folder_suite(out)
        if targets.strip():
            target_list = list(check_targets(targets, "--targets"))
        else:
            target_list = list(suite.targets) if suite is not None else [0.8, 0.9]
        # under the folder's report lock, as bench writes it (see run_suite)
        with report_lock(out) if out.is_dir() else contextlib.nullcontext():
            runs = _finished_runs(out)
            # the title `simulate` gives its report, or the suite's name
            title = f"{runs[0].dataset}, b={runs[0].config.get('batch_size')}" if runs else out.name
            if suite is not None:
                title = suite.name
                runs, other = runs_of_suite_settings(suite, runs)
                for r in other:
                    _err.print(f"left out of the report: {r.strategy} seed {r.seed} in {out} was "
                               "written with other settings than its suite.toml", highlight=False)
                if not runs:
                    raise _UsageError(f"{out} has no finished run with its suite's settings")
            check_one_protocol(runs, str(out))
            if compare_strategies and not compare:
                raise _UsageError("--compare-strategies needs at least one --compare folder")
            if compare:
                labels = [folder.resolve().name for folder in compare]
                if len(set(labels)) < len(labels) or out.resolve().name in labels:
                    raise _UsageError(
                        f"--compare folders need distinct names (they label the runs), got {labels}"
                    )
                wanted = [s.strip() for s in compare_strategies.split(",") if s.strip()] or None
                others = {label: _finished_runs(folder) for label, folder in zip(labels, compare)}
                runs = combine_runs(runs, others, strategies=wanted)
            dataset = suite.dataset if suite is not None else (runs[0].dataset if runs else None)
            groups = dataset_groups(dataset) if dataset is not None else None
            write_report(out, runs, targets=target_list, title=title, groups=groups)
    except (LabelwiseError, ValueError, OSError, _UsageError) as exc:
        raise _fail(str(exc)) from None
    _print_summary(runs, target_list, title, groups)
    _out.print(f"report: {out / 'report.md'}")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``labelwise`` console script.

    Usage errors that click finds itself (an unknown command or option, ``-k abc``) get
    the same one-line ``error:`` message and exit code 2 as the commands' own checks.
    """
    try:
        code = app(args=argv, standalone_mode=False)
    except typer.Abort:  # pragma: no cover
        _err.print("aborted")
        raise SystemExit(1) from None
    except KeyboardInterrupt:  # pragma: no cover
        _err.print("interrupted")
        raise SystemExit(130) from None
    except Exception as exc:
        # click's UsageError family (typer vendors click privately, so match its shape:
        # a message formatter and an exit code) -> one line, like the commands' own errors
        exit_code = getattr(exc, "exit_code", None)
        if not (hasattr(exc, "format_message") and isinstance(exit_code, int)):
            raise
        message = exc.format_message()
        if message:  # (no message: bare `labelwise`, whose help was printed already)
            ctx = getattr(exc, "ctx", None)
            hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
            _err.print(f"[bold red]error:[/] {escape(message + hint)}", highlight=False,
                       markup=True, soft_wrap=True)
        raise SystemExit(exit_code) from None
    if isinstance(code, int) and code:
        raise SystemExit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
