"""The committed benchmark suites parse, and the CI smoke suite runs end to end."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from labelwise.bench.metrics import redundant_acquisitions
from labelwise.bench.stats import paired_against, win_matrix
from labelwise.bench.suite import load_suite, run_suite
from labelwise.datasets import available_datasets, load_dataset
from labelwise.errors import LabelwiseError

SUITES = sorted((Path(__file__).parents[1] / "benchmarks" / "suites").glob("*.toml"))


@pytest.mark.parametrize("path", SUITES, ids=[p.stem for p in SUITES])
def test_committed_suites_are_valid(path: Path) -> None:
    s = load_suite(path)
    assert s.dataset in available_datasets() or s.dataset.endswith(".npz")
    assert len(s.seeds) >= 2 and s.config().budget > s.config().initial_size


def test_smoke_suite_runs_and_resumes(tmp_path: Path) -> None:
    suite = Path(__file__).parents[1] / "benchmarks" / "suites" / "digits-smoke.toml"
    runs = run_suite(suite, tmp_path)
    s = load_suite(suite)
    assert len(runs) == len(s.strategies) * len(s.seeds)
    for r in runs:
        assert r.finished and r.labels.tolist() == [20, 30, 40]
    report = (tmp_path / "report.md").read_text()
    assert "| bald |" in report and "Win matrix" in report
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert {x["strategy"] for x in summary["strategies"]} == {"random", "bald"}
    # a second call loads every finished pair instead of recomputing it
    again = run_suite(suite, tmp_path)
    assert [r.acquired() for r in again] == [r.acquired() for r in runs]
    names, W = win_matrix(runs)
    assert names == ["random", "bald"] and W.shape == (2, 2) and np.isnan(W[0, 0])
    assert [p.strategy for p in paired_against(runs)] == ["bald"]


def test_suite_errors(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text('dataset = "digits"\nseeds = 2\n')
    with pytest.raises(LabelwiseError, match="strategies"):
        load_suite(p)
    p.write_text('dataset = "digits"\nseeds = 2\nstrategies = ["bald"]\n[simulation]\nbogus = 1\n')
    with pytest.raises(LabelwiseError, match="bogus"):
        load_suite(p)
    p.write_text("not toml [")
    with pytest.raises(LabelwiseError, match="TOML"):
        load_suite(p)


def test_report_counts_copies_when_the_dataset_has_groups(tmp_path: Path) -> None:
    from labelwise.bench.report import write_report

    suite = Path(__file__).parents[1] / "benchmarks" / "suites" / "digits-smoke.toml"
    runs = run_suite(suite, tmp_path / "a")
    assert "copies of labeled items" not in (tmp_path / "a" / "report.md").read_text()
    n = len(load_dataset("digits").X_train)
    groups = np.arange(n, dtype=np.int64) // 2  # pretend items 2i and 2i + 1 are copies
    expected = {
        r.strategy: redundant_acquisitions(r.initial, [x.selected for x in r.rounds], groups)
        for r in runs if r.seed == 0
    }
    md = write_report(tmp_path / "b", runs, groups=groups)
    assert "acquired copies of labeled items" in md
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    for s in summary["strategies"]:
        mean, _ = s["redundant_acquisitions"]
        assert mean >= 0
    # every run's count is the metric's, so one seed's value bounds the mean when alone
    one = write_report(tmp_path / "c", [r for r in runs if r.seed == 0], groups=groups)
    for name, count in expected.items():
        assert f"| {name} |" in one and f"| {count:.1f} |" in one
    # one seed: means without an interval (none exists) and no p-value, not "± 0" / "nan"
    assert "±" not in one.split("## Win matrix")[0] and "nan" not in one
    assert "| bald | 1 |" in one and "| — |" in one
    assert "need at least 3 shared seeds" in one and "win_matrix.png" not in one
    assert not (tmp_path / "c" / "win_matrix.png").exists()
    # two seeds: a one-degree-of-freedom t-test, not computed either
    assert not (tmp_path / "b" / "win_matrix.png").exists()
    assert "need at least 3 shared seeds" in md


SMOKE = Path(__file__).parents[1] / "benchmarks" / "suites" / "digits-smoke.toml"


def test_subset_runs_only_the_chosen_pairs_and_reports_every_finished_run(tmp_path: Path) -> None:
    from labelwise.bench.suite import suite_progress

    runs = run_suite(SMOKE, tmp_path, strategies=["bald"], seeds=[1])
    assert [(r.strategy, r.seed) for r in runs] == [("bald", 1)]
    assert sorted(p.name for p in (tmp_path / "runs").glob("*.json")) == ["bald__seed1.json"]
    progress = {(p.strategy, p.seed): p for p in suite_progress(SMOKE, tmp_path)}
    assert progress[("bald", 1)].finished and progress[("bald", 1)].labels == 40
    assert not progress[("random", 0)].finished and progress[("random", 0)].labels == 0
    # a second subset call reports both finished pairs (in the suite's order), not only its own
    runs = run_suite(SMOKE, tmp_path, strategies=["random"], seeds=[1])
    assert [(r.strategy, r.seed) for r in runs] == [("random", 1), ("bald", 1)]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert {x["strategy"] for x in summary["strategies"]} == {"random", "bald"}
    # the subset's runs equal those of a full run (same seeds, same initial sets)
    full = {(r.strategy, r.seed): r for r in run_suite(SMOKE, tmp_path / "full")}
    for r in runs:
        assert list(r.acquired()) == list(full[(r.strategy, r.seed)].acquired())
    # a damaged finished run outside the subset is a one-line error naming it (it used to
    # reach the report and fail there with an IndexError)
    damaged = tmp_path / "runs" / "bald__seed1.json"
    damaged.write_text(json.dumps({**json.loads(damaged.read_text()), "rounds": []}))
    with pytest.raises(LabelwiseError, match="bald__seed1.json is not a labelwise run file.*"
                                             "finished but has no rounds"):
        run_suite(SMOKE, tmp_path, strategies=["random"], seeds=[1])


def test_subset_must_belong_to_the_suite(tmp_path: Path) -> None:
    with pytest.raises(LabelwiseError, match=r"not in the suite"):
        run_suite(SMOKE, tmp_path, strategies=["entropy"])
    with pytest.raises(LabelwiseError, match=r"seeds must be a non-empty subset"):
        run_suite(SMOKE, tmp_path, seeds=[7])
    with pytest.raises(LabelwiseError, match=r"non-empty"):
        run_suite(SMOKE, tmp_path, seeds=[])
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").glob("*.json"))


def test_progress_reports_partial_runs(tmp_path: Path) -> None:
    from labelwise.bench.suite import suite_progress

    run_suite(SMOKE, tmp_path, strategies=["random"], seeds=[0])
    path = tmp_path / "runs" / "random__seed0.json"
    d = json.loads(path.read_text())
    d["rounds"], d["finished"] = d["rounds"][:2], False  # as if killed after two rounds
    path.write_text(json.dumps(d))
    p = suite_progress(SMOKE, tmp_path)[0]
    assert (p.strategy, p.seed, p.labels, p.budget, p.finished) == ("random", 0, 30, 40, False)
    recorded = sum(
        float(r.get(k) or 0) for r in d["rounds"]
        for k in ("seconds_train", "seconds_predict", "seconds_select", "seconds_proxy_train")
    )
    assert (p.rounds, p.rounds_total) == (2, 3) and p.seconds == pytest.approx(recorded)
    assert p.seconds > 0


def test_remaining_time_is_estimated_from_finished_runs_of_each_strategy() -> None:
    from labelwise.bench.suite import PairProgress, remaining_seconds

    def pp(strategy: str, seed: int, seconds: float, rounds: int, finished: bool,
           other: bool = False) -> PairProgress:
        return PairProgress(strategy, seed, rounds * 10, 100, finished, other, seconds, rounds, 10)

    progress = [
        pp("a", 0, 100.0, 10, True), pp("a", 1, 300.0, 10, True),  # a: 200 s per run
        pp("b", 0, 50.0, 10, True),                                  # b: 50 s per run
        pp("a", 2, 40.0, 5, False),       # half done: 100 s left
        pp("b", 1, 0.0, 0, False),        # not started: 50 s
        pp("c", 0, 0.0, 0, False),        # no finished run of c: the overall mean, 150 s
        pp("b", 2, 10.0, 3, False, other=True),  # bench will not resume it: no estimate
    ]
    left, unknown = remaining_seconds(progress)
    assert left == pytest.approx(100.0 + 50.0 + 150.0) and unknown == 1
    assert remaining_seconds([pp("a", 0, 0.0, 0, False)]) == (0.0, 1)  # nothing finished yet


@contextlib.contextmanager
def _held_by_another_process(lock: Path) -> Iterator[None]:
    """Another process holds ``lock`` (as a running bench pair does) inside the block."""
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import fcntl, os, sys, time
            fd = os.open({str(lock)!r}, os.O_RDWR | os.O_CREAT)
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, b"pid 4242 on testhost")
            print("locked", flush=True)
            sys.stdin.read()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        yield
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)


def test_a_pair_run_by_another_process_is_skipped_not_raced(tmp_path: Path) -> None:
    """Two bench processes on one folder never write the same checkpoint: a pair whose
    lock another process holds is skipped (and reported), the others run."""
    from labelwise.bench.suite import PairBusy

    (tmp_path / "runs").mkdir()
    with _held_by_another_process(tmp_path / "runs" / "bald__seed0.lock"):
        skipped: list[PairBusy] = []
        runs = run_suite(SMOKE, tmp_path, seeds=[0], on_busy=skipped.append)
        assert [(b.strategy, b.seed, b.holder) for b in skipped] == [
            ("bald", 0, "pid 4242 on testhost")
        ]
        assert [(r.strategy, r.seed) for r in runs] == [("random", 0)]
        assert not (tmp_path / "runs" / "bald__seed0.json").exists()
    # the holder is gone, so is its lock: the pair runs now
    runs = run_suite(SMOKE, tmp_path, seeds=[0])
    assert [(r.strategy, r.seed) for r in runs] == [("random", 0), ("bald", 0)]


def test_a_pair_busy_when_reached_but_finished_by_the_report_is_in_it(tmp_path: Path) -> None:
    """Two chains leapfrog through a suite: each skips the pair the other runs. The
    report a chain writes at its end must still cover a skipped pair that has finished
    meanwhile (it once left out every pair it had found busy)."""
    run_suite(SMOKE, tmp_path, seeds=[0])  # both pairs finished, as by the other chain
    (tmp_path / "report.md").unlink()
    with _held_by_another_process(tmp_path / "runs" / "bald__seed0.lock"):
        runs = run_suite(SMOKE, tmp_path, seeds=[0])
    assert [(r.strategy, r.seed) for r in runs] == [("random", 0), ("bald", 0)]
    assert "| bald |" in (tmp_path / "report.md").read_text()
    summary = json.loads((tmp_path / "results.json").read_text())
    assert [(r["strategy"], r["seed"]) for r in summary["runs"]] == [("random", 0), ("bald", 0)]


def test_the_report_lock_is_exclusive_across_open_files(tmp_path: Path) -> None:
    """While one writer holds the folder's report lock, no other can take it."""
    import fcntl

    from labelwise.bench.suite import report_lock

    with report_lock(tmp_path):
        fd = os.open(tmp_path / "report.lock", os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
    fd = os.open(tmp_path / "report.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released on leaving the block
    finally:
        os.close(fd)


def test_parallel_workers_die_with_the_bench_process() -> None:
    """Workers of --jobs > 1 carry PR_SET_PDEATHSIG, so killing `labelwise bench` leaves no
    orphan running (and writing) pairs."""
    import concurrent.futures as cf
    import multiprocessing as mp
    import signal

    from labelwise.bench.suite import _die_with_parent, _worker_death_signal

    ctx = mp.get_context("spawn")
    with cf.ProcessPoolExecutor(1, mp_context=ctx, initializer=_die_with_parent) as pool:
        assert pool.submit(_worker_death_signal).result(timeout=60) == int(signal.SIGTERM)
    with cf.ProcessPoolExecutor(1, mp_context=ctx) as pool:  # the control: no initializer
        assert pool.submit(_worker_death_signal).result(timeout=60) == 0


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("seeds = 0", "seeds must be a count >= 1"),
        ("seeds = -1", "seeds must be"),
        ("seeds = [1.7]", "seeds must be"),
        ("seeds = [0, 0]", "distinct"),
        ('seeds = "two"', "seeds must be"),
        ('seeds = 1\nstrategies_extra = 1', "unknown keys"),
        ("seeds = 1\ntargets = [1.5]", "(0, 1]"),
        ('seeds = 1\ntargets = "x"', "accuracies"),
        ("seeds = 1\nname = 5", "name must be a string"),
        ("seeds = 1\nsimulation = 5", "[simulation] must be a table"),
        ("seeds = 1\n[train]\nepoch = 3", "unknown [train] keys ['epoch']"),
        # caught when the suite is read, not as a traceback once a run starts
        ('seeds = 1\n[simulation]\ndevice = "bogus"', "device must be a torch device"),
        ('seeds = 1\n[simulation]\npool_subset = "5"', "pool_subset must be None or a positive"),
        ('seeds = 1\n[simulation]\nwarm_start = "false"', "warm_start must be true or false"),
        ("seeds = 1\n[simulation]\ntrain = 5", "put training settings in [train]"),
        ('seeds = 1\n[simulation]\nmodel = 3', "model must be a string"),
    ],
)
def test_bad_suites_are_rejected_with_the_key_named(
    tmp_path: Path, body: str, needle: str
) -> None:
    from labelwise.bench.suite import load_suite
    from labelwise.errors import LabelwiseError

    path = tmp_path / "bad.toml"
    head = 'dataset = "digits-flat"\nstrategies = ["random"]\n'
    if "strategies_extra" in body:
        head += "strategies_extra = 1\n"
        body = body.replace("\nstrategies_extra = 1", "")
    path.write_text(head + body + "\n")
    with pytest.raises(LabelwiseError, match=re.escape(needle)):
        load_suite(path)


def test_a_disagreement_strategy_with_one_sample_is_rejected_at_load(tmp_path: Path) -> None:
    """Caught when the suite is read, not hours later when the strategy's first run starts."""
    from labelwise.bench.suite import load_suite
    from labelwise.errors import LabelwiseError

    path = tmp_path / "k1.toml"
    path.write_text('dataset = "digits-flat"\nstrategies = ["random", "bald"]\nseeds = 1\n'
                    "[simulation]\nmc_samples = 1\n")
    with pytest.raises(LabelwiseError, match=r"k1\.toml: strategy 'bald'.*mc_samples=1"):
        load_suite(path)


def test_duplicate_strategies_are_rejected(tmp_path: Path) -> None:
    from labelwise.bench.suite import load_suite
    from labelwise.errors import LabelwiseError

    path = tmp_path / "dup.toml"
    path.write_text('dataset = "digits-flat"\nstrategies = ["bald", "bald"]\nseeds = 1\n')
    with pytest.raises(LabelwiseError, match="distinct names"):
        load_suite(path)


def test_a_failing_pair_under_jobs_2_stops_the_suite_at_once(tmp_path: Path) -> None:
    """With --jobs 2 a failing pair used to surface only after every queued pair had run
    (and then without a report). Now, as with --jobs 1, queued pairs never start."""
    import subprocess
    import sys

    # long pairs (~1 minute each) beside one that fails at once
    suite = tmp_path / "three.toml"
    suite.write_text(SMOKE.read_text().replace("seeds = 2", "seeds = 3")
                     .replace("budget = 40", "budget = 300").replace("epochs = 20", "epochs = 100"))
    out = tmp_path / "o"
    (out / "runs").mkdir(parents=True)
    (out / "runs" / "bald__seed0.json").write_text("[]")  # the second pair fails at once
    res = subprocess.run(
        [sys.executable, "-m", "labelwise.cli", "bench", str(suite), "--out", str(out),
         "--jobs", "2"],
        check=False, capture_output=True, text=True, timeout=600,
    )
    assert res.returncode == 2, res.stderr
    assert "bald__seed0.json is not a readable run" in res.stderr
    assert not list((out / "runs").glob("*seed2.json"))  # queued pairs were cancelled
    # the pair running beside the failure was stopped, not trained to the end (its
    # checkpoint, if it wrote one, is partial and resumes next time)
    beside = out / "runs" / "random__seed0.json"
    assert not beside.exists() or not json.loads(beside.read_text())["finished"]
