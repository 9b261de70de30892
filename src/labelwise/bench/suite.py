"""Declarative benchmark suites: a TOML file -> every (strategy, seed) run, resumable, parallel.

A suite file::

    name = "digits-smoke"
    dataset = "digits"            # a bundled dataset name or a path to an .npz file
    strategies = ["random", "entropy", "bald"]
    seeds = [0, 1, 2]              # or an int n meaning 0 .. n-1
    targets = [0.8, 0.9]           # accuracies for labels-to-target

    [simulation]                   # SimulationConfig fields
    batch_size = 10
    budget = 100
    initial_size = 20
    mc_samples = 10

    [train]                        # TrainConfig fields
    epochs = 30

``run_suite`` writes ``OUT/suite.toml`` (a copy), ``OUT/runs/STRATEGY__seedS.json`` per run
(checkpointed every round, so an interrupted suite resumes without redoing finished
pairs), ``OUT/results.json`` and the report (see :func:`labelwise.bench.report.write_report`).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import fcntl
import json
import multiprocessing as mp
import os
import socket
import sys
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from labelwise._files import replacing
from labelwise.bench.metrics import check_targets
from labelwise.errors import LabelwiseError

__all__ = [
    "PairBusy",
    "PairProgress",
    "Suite",
    "dataset_groups",
    "load_suite",
    "report_lock",
    "run_suite",
    "suite_progress",
]


@dataclass(frozen=True)
class Suite:
    """A parsed suite file."""

    name: str
    dataset: str
    strategies: tuple[str, ...]
    seeds: tuple[int, ...]
    simulation: Mapping[str, Any] = field(default_factory=dict)
    train: Mapping[str, Any] = field(default_factory=dict)
    targets: tuple[float, ...] = (0.8, 0.9)
    description: str = ""

    def config(self) -> Any:
        """The :class:`~labelwise.loop.SimulationConfig` of this suite."""
        from labelwise.loop import SimulationConfig

        return SimulationConfig.from_dict({**self.simulation, "train": dict(self.train)})


_KEYS = {"name", "dataset", "strategies", "seeds", "simulation", "train", "targets", "description"}


def load_suite(path: str | os.PathLike[str]) -> Suite:
    """Parse and validate a suite file (TOML). Errors name the file and the key."""
    p = Path(path)
    if p.is_dir():
        raise LabelwiseError(f"{p} is a folder; pass a suite file (benchmarks/suites/*.toml)")
    try:
        raw = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise LabelwiseError(f"suite file not found: {p}") from None
    except tomllib.TOMLDecodeError as exc:
        raise LabelwiseError(f"{p} is not valid TOML: {exc}") from None
    unknown = set(raw) - _KEYS
    if unknown:
        raise LabelwiseError(f"{p}: unknown keys {sorted(unknown)}; allowed: {sorted(_KEYS)}")
    for key in ("dataset", "strategies", "seeds"):
        if key not in raw:
            raise LabelwiseError(f"{p}: missing required key {key!r}")
    seeds = raw["seeds"]
    if type(seeds) is int and seeds >= 1:
        seed_list = list(range(seeds))
    elif (
        isinstance(seeds, list) and seeds
        and all(type(x) is int and x >= 0 for x in seeds) and len(set(seeds)) == len(seeds)
    ):
        seed_list = list(seeds)
    else:
        raise LabelwiseError(
            f"{p}: seeds must be a count >= 1 (seeds = 5 runs seeds 0..4) or a list of "
            f"distinct integers >= 0, got {seeds!r}"
        )
    strategies = raw["strategies"]
    if (
        not isinstance(strategies, list) or not strategies
        or not all(isinstance(x, str) for x in strategies)
        or len(set(strategies)) != len(strategies)
    ):
        raise LabelwiseError(
            f"{p}: strategies must be a non-empty list of distinct names, got {strategies!r}"
        )
    for key in ("simulation", "train"):
        if not isinstance(raw.get(key, {}), dict):
            raise LabelwiseError(f"{p}: [{key}] must be a table of settings, got {raw[key]!r}")
    for key in ("name", "dataset", "description"):
        if key in raw and not isinstance(raw[key], str):
            raise LabelwiseError(f"{p}: {key} must be a string, got {raw[key]!r}")
    if "train" in raw.get("simulation", {}):
        raise LabelwiseError(
            f"{p}: [simulation] has a 'train' key, which the [train] table would silently "
            "replace; put training settings in [train]"
        )
    from labelwise.models import TrainConfig

    train_keys = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown_train = set(raw.get("train", {})) - train_keys
    if unknown_train:
        raise LabelwiseError(
            f"{p}: unknown [train] keys {sorted(unknown_train)}; allowed: {sorted(train_keys)}"
        )
    try:
        targets = check_targets(raw.get("targets", (0.8, 0.9)), "targets")
    except ValueError as exc:
        raise LabelwiseError(f"{p}: {exc}") from None
    from labelwise.strategies import get_strategy

    for s in strategies:
        get_strategy(s)  # fail early with a suggestion
    suite = Suite(
        name=str(raw.get("name", p.stem)),
        dataset=str(raw["dataset"]),
        strategies=tuple(str(s) for s in strategies),
        seeds=tuple(seed_list),
        simulation=dict(raw.get("simulation", {})),
        train=dict(raw.get("train", {})),
        targets=targets,
        description=str(raw.get("description", "")),
    )
    try:
        cfg = suite.config()
    except TypeError as exc:
        raise LabelwiseError(f"{p}: bad [simulation] key: {exc}") from None
    from labelwise.loop._config import check_config_types

    try:  # types and values that need no dataset (pool sizes are checked when it runs)
        check_config_types(cfg)
    except (ValueError, TypeError, LabelwiseError) as exc:
        raise LabelwiseError(f"{p}: {exc}") from None
    from labelwise.loop import check_strategy_config

    for s in strategies:
        try:
            check_strategy_config(get_strategy(s), cfg)
        except ValueError as exc:
            raise LabelwiseError(f"{p}: {exc}") from None
    return suite


def _load_data(dataset: str) -> Any:
    from labelwise.datasets import load_arrays, load_dataset

    return load_arrays(dataset) if dataset.endswith(".npz") else load_dataset(dataset)


def dataset_groups(dataset: str) -> np.ndarray | None:
    """The near-duplicate groups of a suite's dataset (``Dataset.groups``), or None when it
    has none or cannot be loaded here (a report then omits the redundancy column)."""
    try:
        return _load_data(dataset).groups
    except (LabelwiseError, OSError, ImportError, ValueError):
        return None


class PairBusy(NamedTuple):
    """A (strategy, seed) run that another process holds (its lock file names the pid)."""

    strategy: str
    seed: int
    holder: str


def _run_pair(
    suite: Suite, strategy: str, seed: int, out: str, threads: int | None
) -> dict[str, Any] | PairBusy:
    """Worker: one (strategy, seed) run with its checkpoint. Returns the run as a dict, or
    :class:`PairBusy` when another process is running the same pair into ``out``.

    The run holds an exclusive ``flock`` on ``runs/NAME.lock`` while it runs, so two
    ``labelwise bench`` processes on one folder (a restart while the first still runs, or
    overlapping ``--strategies`` / ``--seeds``) never write the same checkpoint. The
    kernel drops the lock when the holder exits, however it exits.
    """
    import torch

    from labelwise.loop import run_file_name, run_simulation

    if threads is not None:
        torch.set_num_threads(threads)  # this worker process's own setting
    ckpt = Path(out) / "runs" / run_file_name(strategy, seed)
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    with _pair_lock(ckpt.with_suffix(".lock")) as holder:
        if holder is not None:
            return PairBusy(strategy, seed, holder)
        data = _load_data(suite.dataset)
        return run_simulation(data, strategy, seed, suite.config(), checkpoint=ckpt).to_dict()


@contextlib.contextmanager
def report_lock(out_dir: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the exclusive lock on ``OUT/report.lock`` (waiting for it) while a process reads
    the finished runs of ``out_dir`` and writes its results and report, so that two
    processes on one folder (``bench`` pairs, ``labelwise report``) write whole, in turn,
    each from what was finished when it got the lock."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out / "report.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _pair_lock(path: Path) -> Iterator[str | None]:
    """Hold an exclusive lock on ``path``; yields None when held, else the holder's note."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            note = os.pread(fd, 200, 0).decode(errors="replace").strip()
            yield note or "another process"
            return
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode(), 0)
        try:
            yield None
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _die_with_parent() -> None:
    """Worker initializer: end this worker when the ``bench`` process that started it dies
    (Linux ``PR_SET_PDEATHSIG``), so a killed suite leaves no orphan writing checkpoints."""
    if not sys.platform.startswith("linux"):  # pragma: no cover
        return
    import ctypes
    import signal

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    if os.getppid() == 1:  # the parent died before the call above: nobody to work for
        os._exit(1)


def _worker_death_signal() -> int:
    """The death signal of the calling process (``PR_GET_PDEATHSIG``; tests use it)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    sig = ctypes.c_int(0)
    libc.prctl(2, ctypes.byref(sig), 0, 0, 0)  # PR_GET_PDEATHSIG = 2
    return int(sig.value)


def run_suite(
    suite: Suite | str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    jobs: int = 1,
    on_done: Callable[[str, int], None] | None = None,
    strategies: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    on_busy: Callable[[PairBusy], None] | None = None,
    on_other_settings: Callable[[str, int], None] | None = None,
) -> list[Any]:
    """Run every (strategy, seed) pair of a suite, resuming finished or partial runs.

    Parameters
    ----------
    suite : Suite or path to a suite file
    out_dir : path
    jobs : int
        Pairs run in parallel worker processes (each with ``torch`` threads = 1 when > 1).
    on_done : callable, optional
        ``on_done(strategy, seed)`` after each pair finishes.
    strategies, seeds : sequence, optional
        Run only these of the suite's strategies / seeds (each must belong to the suite), e.g.
        to spread a long suite over several machines or sessions sharing ``out_dir``. The
        results and the report then cover every *finished* run in ``out_dir`` (those of
        earlier calls included), in the suite's order.
    on_busy : callable, optional
        ``on_busy(PairBusy)`` for each pair skipped because another process is running it
        into the same folder (see :func:`_run_pair`); it is left out of the report.
    on_other_settings : callable, optional
        ``on_other_settings(strategy, seed)`` for each finished run in ``out_dir`` that was
        written with other settings than the suite's (e.g. before the suite file was
        edited); it is left out of the results and the report, which would otherwise
        compare runs of different protocols.

    Returns
    -------
    list of RunResult
        The finished runs the report covers.
    """
    from labelwise.bench.report import write_report
    from labelwise.loop import RunResult, write_results

    s = load_suite(suite) if not isinstance(suite, Suite) else suite
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not isinstance(suite, Suite):
        with replacing(out / "suite.toml") as tmp:
            tmp.write_text(Path(suite).read_text())
    # Seed-major: an interrupted suite has every strategy on the first seeds (paired with
    # random on the same initial sets) rather than every seed of the first strategies.
    all_pairs = [(st, sd) for sd in s.seeds for st in s.strategies]
    chosen_st = _subset(strategies, s.strategies, "strategies", str)
    chosen_sd = _subset(seeds, s.seeds, "seeds", int)
    pairs: Sequence[tuple[str, int]] = [
        (st, sd) for st, sd in all_pairs if st in chosen_st and sd in chosen_sd
    ]
    done: dict[tuple[str, int], dict[str, Any]] = {}

    def collect(pair: tuple[str, int], got: dict[str, Any] | PairBusy) -> None:
        if isinstance(got, PairBusy):
            if on_busy:
                on_busy(got)
            return
        done[pair] = got
        if on_done:
            on_done(*pair)

    if jobs == 1:
        for st, sd in pairs:
            collect((st, sd), _run_pair(s, st, sd, str(out), None))
    else:
        ctx = mp.get_context("spawn")
        pool = cf.ProcessPoolExecutor(
            max_workers=jobs, mp_context=ctx, initializer=_die_with_parent
        )
        # At most `jobs` pairs are submitted at a time (the executor would otherwise queue
        # extra calls that cannot be cancelled), so that a failure stops the suite as with
        # --jobs 1: no further pair starts, and running ones are stopped (below).
        queue = list(pairs)
        running: dict[cf.Future[Any], tuple[str, int]] = {}

        def submit_next() -> None:
            st, sd = queue.pop(0)
            running[pool.submit(_run_pair, s, st, sd, str(out), 1)] = (st, sd)

        try:
            for _ in range(min(jobs, len(queue))):
                submit_next()
            while running:
                finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                for fut in finished:
                    collect(running.pop(fut), fut.result())
                    if queue:
                        submit_next()
        except BaseException:
            # Stop the running pairs too: the interpreter's exit hook would otherwise wait
            # for them to train to the end (their checkpoints are written atomically, so a
            # killed pair resumes from its last finished round).
            for proc in list(getattr(pool, "_processes", {}).values()):
                proc.terminate()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
    wanted = s.config().to_dict()
    # The scan and the report happen under the folder's report lock: another process that
    # finishes a pair meanwhile writes its (fuller) report after this one, never before it.
    # Pairs another process was running when this one reached them are scanned too: they
    # may have finished since (a finished checkpoint is written atomically).
    with report_lock(out):
        for st, sd in all_pairs:
            if (st, sd) in done:
                continue
            earlier = _finished_run(out, st, sd)
            if earlier is None:
                continue
            if _written_with_other_settings(earlier, wanted):
                if on_other_settings:
                    on_other_settings(st, sd)
                continue
            done[(st, sd)] = earlier
        runs = [RunResult.from_dict(done[p]) for p in all_pairs if p in done]
        if not runs:  # every chosen pair was busy and nothing else has finished yet
            return []
        write_results(out / "results.json", runs)
        write_report(
            out, runs, targets=s.targets, title=s.name, groups=dataset_groups(s.dataset)
        )
    return runs


def _subset(
    chosen: Sequence[Any] | None, allowed: Sequence[Any], what: str, cast: Callable[[Any], Any]
) -> tuple[Any, ...]:
    """``chosen`` (default: all of ``allowed``), checked to be a non-empty subset of it."""
    if chosen is None:
        return tuple(allowed)
    picked = tuple(cast(x) for x in chosen)
    unknown = [x for x in picked if x not in allowed]
    if unknown or not picked:
        raise LabelwiseError(
            f"{what} must be a non-empty subset of the suite's {what} {list(allowed)}, "
            f"got {list(picked)}" + (f" ({unknown} not in the suite)" if unknown else "")
        )
    return picked


def _finished_run(out: Path, strategy: str, seed: int) -> dict[str, Any] | None:
    """The checkpoint of a finished run in ``out``, or None (missing or unfinished)."""
    from labelwise.loop import run_file_name

    path = out / "runs" / run_file_name(strategy, seed)
    if not path.exists():
        return None
    from labelwise.loop import RunResult

    try:
        d: dict[str, Any] = json.loads(path.read_text())
        finished = bool(d.get("finished"))
        if finished:
            RunResult.from_dict(d)  # readable as a run, or one line below
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise LabelwiseError(
            f"{path} is not a labelwise run file ({type(exc).__name__}: {exc}); delete it "
            "(the run restarts) or restore it"
        ) from None
    return d if finished else None


def _written_with_other_settings(run: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Whether a run checkpoint's config differs from ``wanted`` (a suite's, as a dict)."""
    from labelwise.loop import SimulationConfig

    try:
        return bool(SimulationConfig.from_dict(run.get("config", {})).to_dict() != wanted)
    except (TypeError, ValueError, AttributeError):
        return True


def runs_of_suite_settings(suite: Suite, runs: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    """``(runs with the suite's settings, the others)`` of ``RunResult`` objects."""
    wanted = suite.config().to_dict()
    same = [r for r in runs if not _written_with_other_settings(r.to_dict(), wanted)]
    return same, [r for r in runs if r not in same]


@dataclass(frozen=True)
class PairProgress:
    """Where one (strategy, seed) run of a suite stands in an output folder."""

    strategy: str
    seed: int
    labels: int  # labels reached so far (0: not started)
    budget: int
    finished: bool
    #: The checkpoint was written with other settings than the suite's (``bench`` would
    #: refuse to resume it: another --out folder, or the suite as it was).
    other_settings: bool = False
    #: Round time recorded so far (train + predict + select + proxy training, seconds).
    seconds: float = 0.0
    #: Rounds recorded so far, and rounds in a complete run of the suite.
    rounds: int = 0
    rounds_total: int = 1


_ROUND_SECONDS = ("seconds_train", "seconds_predict", "seconds_select", "seconds_proxy_train")


def remaining_seconds(progress: Sequence[PairProgress]) -> tuple[float, int]:
    """Estimated round time still to run for the unfinished pairs of ``progress``.

    Each unfinished pair's estimate is the mean recorded time of the finished runs of its
    strategy (of any strategy when its own has none), times the share of its rounds still
    to run. Returns ``(seconds, pairs without an estimate)``: the latter when nothing has
    finished yet, or for pairs written with other settings (bench will not resume them).
    """
    done = [p for p in progress if p.finished and not p.other_settings]
    overall = sum(p.seconds for p in done) / len(done) if done else None
    by_strategy: dict[str, list[float]] = {}
    for p in done:
        by_strategy.setdefault(p.strategy, []).append(p.seconds)
    total, unknown = 0.0, 0
    for p in progress:
        if p.finished:
            continue
        own = by_strategy.get(p.strategy)
        full = sum(own) / len(own) if own else overall
        if full is None or p.other_settings:
            unknown += 1
            continue
        total += full * max(0.0, 1.0 - p.rounds / p.rounds_total)
    return total, unknown


def suite_progress(
    suite: Suite | str | os.PathLike[str], out_dir: str | os.PathLike[str]
) -> list[PairProgress]:
    """Progress of every (strategy, seed) pair of a suite in ``out_dir``, in run order.

    Reads the per-run checkpoints only; nothing is run or written.
    """
    from labelwise.loop import run_file_name

    s = load_suite(suite) if not isinstance(suite, Suite) else suite
    config = s.config()
    wanted = config.to_dict()
    budget = int(config.budget)
    rounds_total = config.n_rounds
    rows = []
    for sd in s.seeds:
        for st in s.strategies:
            path = Path(out_dir) / "runs" / run_file_name(st, sd)
            labels, finished, other, seconds, n_rounds = 0, False, False, 0.0, 0
            if path.exists():
                d = json.loads(path.read_text())
                rounds = d.get("rounds", [])
                labels = int(rounds[-1]["n_labeled"]) if rounds else 0
                finished = bool(d.get("finished"))
                other = _written_with_other_settings(d, wanted)
                seconds = sum(float(r.get(k) or 0.0) for r in rounds for k in _ROUND_SECONDS)
                n_rounds = len(rounds)
            rows.append(
                PairProgress(st, sd, labels, budget, finished, other, seconds, n_rounds,
                             rounds_total)
            )
    return rows
