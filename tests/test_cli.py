"""The `labelwise` command: select, strategies, simulate, bench, report; clean errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from labelwise.cli import app

runner = CliRunner()


def _probs(tmp_path: Path, n: int = 50) -> Path:
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(4), size=(n, 5)).astype(np.float32)
    path = tmp_path / "P.npy"
    np.save(path, p)
    return path


def _no_traceback(result) -> None:  # type: ignore[no-untyped-def]
    text = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert "Traceback" not in text
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_strategies_lists_every_strategy() -> None:
    res = runner.invoke(app, ["strategies"], terminal_width=250)
    assert res.exit_code == 0
    for name in ("random", "bald", "power-bald", "margin", "kl-disagreement"):
        assert name in res.output


def test_select_matches_api_and_respects_labeled(tmp_path: Path) -> None:
    from labelwise import scores
    from labelwise.select import top_k

    P = _probs(tmp_path)
    lab = tmp_path / "L.txt"
    lab.write_text("0\n3\n\n# comment\n7\n")
    out = tmp_path / "idx.txt"
    res = runner.invoke(
        app, ["select", "--probs", str(P), "--labeled", str(lab), "--strategy", "entropy",
              "-k", "5", "--out", str(out)],
    )
    assert res.exit_code == 0, res.output
    got = [int(x) for x in out.read_text().split()]
    want = top_k(scores.entropy(np.load(P)), 5, exclude=[0, 3, 7], rng=0).indices.tolist()
    assert got == want
    res = runner.invoke(app, ["select", "--probs", str(P), "-k", "3", "-s", "bald"])
    assert res.exit_code == 0 and len(res.stdout.split()) == 3


@pytest.mark.parametrize(
    "args,needle",
    [
        (["select", "--probs", "missing.npy", "-k", "3"], "not found"),
        (["select", "--probs", "{P}", "-k", "500"], "only"),
        (["select", "--probs", "{P}", "-k", "3", "-s", "nope"], "unknown strategy"),
        (["select", "--probs", "{P}", "-k", "3", "--labeled", "{BAD}"], "one whole-dataset index"),
        (["select", "--probs", "{P}", "-k", "3", "--labeled", "{OOR}"], "must lie in"),
        (["select", "-k", "3"], "--probs"),
        (["simulate", "--dataset", "nope"], "unknown dataset"),
        (["simulate", "--dataset", "digits", "--budget", "5"], "initial_size"),
        (["simulate", "--dataset", "digits", "--strategy", "balds"], "did you mean"),
    ],
)
def test_bad_arguments_one_line_error(tmp_path: Path, args: list[str], needle: str) -> None:
    P = _probs(tmp_path)
    (tmp_path / "bad.txt").write_text("1\nx\n")
    (tmp_path / "oor.txt").write_text("1\n999\n")
    args = [a.format(P=P, BAD=tmp_path / "bad.txt", OOR=tmp_path / "oor.txt") for a in args]
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    assert needle in res.stderr
    assert res.stderr.strip().startswith("error:")
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    _no_traceback(res)


@pytest.mark.parametrize(
    "args,needle",
    [
        # user text with rich-markup brackets is printed, not parsed
        (["select", "--probs", "{P}", "-k", "3", "-s", "[/x]"], "[/x]"),
        (["select", "--probs", "{DIR}/probs[v2].npy", "-k", "3"], "probs[v2].npy"),
        (["select", "--probs", "{P}", "-k", "3", "--labeled", "{HUGE}"], "must lie in"),
        (["select", "--probs", "{EMPTY}", "-k", "3"], "is empty"),
        (["select", "--probs", "{TXT}", "-k", "3"], "not a .npy file"),
        (["simulate", "--dataset", "{EMPTY_NPZ}"], "is empty"),
        (["bench", "{DIR}", "--out", "{DIR}/o"], "is a folder"),
        (["bench", "{SUITE}", "--out", "{DIR}/o", "--strategies", ","], "names no strategy"),
        (["report", "{RUNS}"], "is not a labelwise run file"),
        (["report", "{RUNS2}"], "is not a labelwise run file"),
        (["report", "{RUNS3}"], "finished but has no rounds"),
        (["report", "{RUNS}", "--targets", "1.5"], "(0, 1]"),
        (["simulate", "--dataset", "digits", "--targets", "nan"], "(0, 1]"),
        (["simulate", "--dataset", "digits", "--targets", "abc"], "--targets"),
        (["select", "--probs", "{P}", "-k", "3", "-s", "label-dispersion"], "labelwise simulate"),
        (["select", "--probs", "{P}", "-k", "3", "-s", "vaal"], "labelwise simulate"),
        (["select", "--embeddings", "{P}", "-k", "3", "-s", "entropy"], "needs --probs"),
        (["select", "--probs", "{P}", "-k", "3", "-s", "badge"], "needs --embeddings"),
        (["select", "--probs", "{P}", "-k", "3", "--log-probs"], "drop --log-probs"),
    ],
)
def test_more_bad_inputs_one_line_error(tmp_path: Path, args: list[str], needle: str) -> None:
    P = _probs(tmp_path)
    (tmp_path / "huge.txt").write_text("1\n99999999999999999999999\n")
    (tmp_path / "empty.npy").write_bytes(b"")
    (tmp_path / "empty.npz").write_bytes(b"")
    (tmp_path / "text.npy").write_text("hello")
    suite = tmp_path / "s.toml"
    suite.write_text('dataset = "digits-flat"\nstrategies = ["random"]\nseeds = 1\n')
    no_rounds = json.dumps({
        "schema_version": 1, "strategy": "random", "seed": 0, "dataset": "digits",
        "config": {}, "initial": [], "finished": True, "rounds": [],
    })
    for name, content in (
        ("runs", "[1, 2]"), ("runs2", '{"schema_version": 1}'), ("runs3", no_rounds)
    ):
        (tmp_path / name / "runs").mkdir(parents=True)
        (tmp_path / name / "runs" / "x.json").write_text(content)
    args = [
        a.format(
            P=P, DIR=tmp_path, HUGE=tmp_path / "huge.txt", EMPTY=tmp_path / "empty.npy",
            TXT=tmp_path / "text.npy", EMPTY_NPZ=tmp_path / "empty.npz", SUITE=suite,
            RUNS=tmp_path / "runs", RUNS2=tmp_path / "runs2", RUNS3=tmp_path / "runs3",
        )
        for a in args
    ]
    if "probs[v2].npy" in " ".join(args):
        (tmp_path / "probs[v2].npy").write_bytes(b"")
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    assert needle in res.stderr, res.stderr
    assert res.stderr.strip().startswith("error:")
    _no_traceback(res)


def test_simulate_writes_results_and_plot(tmp_path: Path) -> None:
    out = tmp_path / "o"
    res = runner.invoke(
        app,
        ["simulate", "--dataset", "digits-flat", "--strategy", "random,entropy", "--batch-size", "10",
         "--budget", "40", "--seeds", "2", "--mc-samples", "3", "--epochs", "5", "--out", str(out)],
        terminal_width=200,
    )
    assert res.exit_code == 0, res.output
    runs = json.loads((out / "results.json").read_text())["runs"]
    assert len(runs) == 4
    assert (out / "learning_curve.png").stat().st_size > 1000
    assert "entropy" in res.stdout and "AUBC" in res.stdout


def test_bench_suite_and_report(tmp_path: Path) -> None:
    suite = tmp_path / "smoke.toml"
    suite.write_text(
        'name = "smoke"\ndataset = "digits-flat"\nstrategies = ["random", "margin"]\n'
        "seeds = 3\ntargets = [0.5]\n[simulation]\nbatch_size = 10\nbudget = 40\n"
        'initial_size = 20\nmc_samples = 2\nmodel = "mlp"\n[train]\nepochs = 5\n'
    )
    out = tmp_path / "b"
    res = runner.invoke(app, ["bench", str(suite), "--out", str(out)], terminal_width=200)
    assert res.exit_code == 0, res.output
    for f in ("results.json", "report.md", "learning_curve.png", "win_matrix.png",
              "class_histograms.png", "summary.json"):
        assert (out / f).exists(), f
    md_before = (out / "report.md").read_text()
    assert "Paired comparison with random" in md_before
    mtime = (out / "runs" / "random__seed0.json").stat().st_mtime_ns
    res = runner.invoke(app, ["bench", str(suite), "--out", str(out)])  # resume: nothing redone
    assert res.exit_code == 0
    assert (out / "runs" / "random__seed0.json").stat().st_mtime_ns == mtime
    (out / "report.md").unlink()
    summary = (out / "summary.json").read_text()
    # `report` reproduces bench's report exactly: the suite's name and targets from the
    # folder's suite.toml (it used the folder name and the default targets 0.8, 0.9)
    res = runner.invoke(app, ["report", str(out)])
    assert res.exit_code == 0, res.output
    assert (out / "report.md").read_text() == md_before
    assert (out / "summary.json").read_text() == summary
    res = runner.invoke(app, ["report", str(out), "--targets", "0.6"])  # explicit targets win
    assert res.exit_code == 0 and "labels to 60%" in (out / "report.md").read_text()


def test_bench_bad_suite(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('dataset = "digits"\nstrategies = ["bald"]\nseeds = 1\nwhat = 3\n')
    res = runner.invoke(app, ["bench", str(bad), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "unknown keys" in res.stderr


def test_report_skips_unfinished_runs(tmp_path: Path) -> None:
    args = ["simulate", "--dataset", "digits-flat", "--model", "mlp", "--strategy", "random,margin",
            "--batch-size", "10", "--budget", "40", "--epochs", "3", "--mc-samples", "2",
            "--seeds", "1", "--out", str(tmp_path)]
    assert runner.invoke(app, args).exit_code == 0
    (tmp_path / "results.json").unlink()
    run_file = tmp_path / "runs" / "margin__seed0.json"
    d = json.loads(run_file.read_text())
    d["finished"], d["rounds"] = False, d["rounds"][:1]
    run_file.write_text(json.dumps(d))
    res = runner.invoke(app, ["report", str(tmp_path), "--targets", "0.5"])
    assert res.exit_code == 0, res.output
    assert "skipping 1 unfinished run(s): margin seed 0" in res.stderr
    md = (tmp_path / "report.md").read_text()
    assert "| random |" in md and "| margin |" not in md


def test_compare_proxy_command(tmp_path: Path) -> None:
    common = ["simulate", "--dataset", "digits-flat", "--model", "mlp", "--strategy", "entropy",
              "--batch-size", "10", "--budget", "40", "--epochs", "3", "--mc-samples", "2",
              "--seeds", "2"]
    assert runner.invoke(app, [*common, "--out", str(tmp_path / "base")]).exit_code == 0
    res = runner.invoke(app, [*common, "--proxy-epochs", "1", "--out", str(tmp_path / "prox")])
    assert res.exit_code == 0, res.output
    out = tmp_path / "cmp.md"
    res = runner.invoke(
        app, ["compare-proxy", str(tmp_path / "base"), str(tmp_path / "prox"), "--out", str(out)],
        terminal_width=250,
    )
    assert res.exit_code == 0, res.output
    md = out.read_text()
    assert md.count("| entropy | ") == 2 and "**entropy (mean of 2)**" in md
    from labelwise.loop import compare_proxy, read_results

    base = read_results(tmp_path / "base" / "results.json")
    prox = read_results(tmp_path / "prox" / "results.json")
    c0 = compare_proxy(base[0], prox[0])
    assert f"| {c0.final_accuracy:.4f} | {c0.proxy_final_accuracy:.4f} | {c0.accuracy_lost:+.4f} |" in md
    # on a narrow terminal the printed table keeps one row per line (copyable Markdown)
    res = runner.invoke(app, ["compare-proxy", str(tmp_path / "base"), str(tmp_path / "prox")],
                        terminal_width=60)
    printed = res.stdout.splitlines()
    assert res.exit_code == 0 and all(line in printed for line in md.splitlines() if line)
    # swapped folders, or a folder without runs: one-line errors, exit 2
    res = runner.invoke(app, ["compare-proxy", str(tmp_path / "prox"), str(tmp_path / "base")])
    assert res.exit_code == 2 and "baseline used a proxy" in res.stderr
    _no_traceback(res)
    res = runner.invoke(app, ["compare-proxy", str(tmp_path / "base"), str(tmp_path / "none")])
    assert res.exit_code == 2 and "no results.json" in res.stderr


def test_report_counts_copies_for_datasets_with_groups(tmp_path: Path) -> None:
    """`labelwise report` reloads the groups of a named dataset (repeated-mnist's copies)."""
    args = ["simulate", "--dataset", "digits-flat", "--model", "mlp", "--strategy", "random",
            "--batch-size", "10", "--budget", "40", "--epochs", "3", "--seeds", "1",
            "--out", str(tmp_path)]
    assert runner.invoke(app, args).exit_code == 0
    (tmp_path / "results.json").unlink()
    run_file = tmp_path / "runs" / "random__seed0.json"
    d = json.loads(run_file.read_text())
    # pretend the run was on repeated-mnist and acquired a copy (item 4000 + i of digit i)
    first = d["rounds"][0]["selected"][0]
    d["dataset"] = "repeated-mnist"
    d["rounds"][1]["selected"][0] = first + 4000
    run_file.write_text(json.dumps(d))
    res = runner.invoke(app, ["report", str(tmp_path), "--targets", "0.5"], terminal_width=250)
    assert res.exit_code == 0, res.output
    assert "copies acquired" in res.stdout
    md = (tmp_path / "report.md").read_text()
    assert "acquired copies of labeled items" in md and "| 1.0 |" in md


def test_bench_subset_and_status(tmp_path: Path) -> None:
    suite = Path(__file__).parents[1] / "benchmarks" / "suites" / "digits-smoke.toml"
    out = tmp_path / "o"
    res = runner.invoke(
        app, ["bench", str(suite), "--out", str(out), "--strategies", "bald", "--seeds", "0"],
        terminal_width=200,
    )
    assert res.exit_code == 0, res.output
    assert "[1/1] bald seed 0 done" in res.stderr
    assert [p.name for p in (out / "runs").glob("*.json")] == ["bald__seed0.json"]
    res = runner.invoke(app, ["bench", str(suite), "--out", str(out), "--status"], terminal_width=200)
    assert res.exit_code == 0
    assert "1 of 4 runs finished, 0 partial" in res.stdout and "not started" in res.stdout
    assert "left to run: ~" in res.stdout and "round time" in res.stdout
    assert "without an estimate" not in res.stdout  # bald has a finished run
    res = runner.invoke(
        app, ["bench", str(suite), "--out", str(out), "--status", "--strategies", "bald"],
        terminal_width=200,
    )
    assert "1 of 2 runs finished" in res.stdout and "random" not in res.stdout
    # a checkpoint written with other settings is flagged, not counted as this suite's
    ck = out / "runs" / "bald__seed0.json"
    d = json.loads(ck.read_text())
    d["config"]["budget"] = int(d["config"]["budget"]) - 10
    ck.write_text(json.dumps(d))
    res = runner.invoke(app, ["bench", str(suite), "--out", str(out), "--status"], terminal_width=300)
    assert "(other settings*)" in res.stdout and "* written with other settings" in res.stdout
    # ... and gives no time estimate: the folder has no finished run of the suite's settings
    assert "no estimate yet" in res.stdout
    # ... and left out of the results and report that bench writes for the other pairs (it
    # used to publish a 40-label random beside a 30-label BALD, paired as if one protocol)
    res = runner.invoke(
        app, ["bench", str(suite), "--out", str(out), "--strategies", "random", "--seeds", "0"],
        terminal_width=300,
    )
    assert res.exit_code == 0, res.output
    assert "left out of the report: bald seed 0" in res.stderr
    results = json.loads((out / "results.json").read_text())
    assert [(r["strategy"], r["seed"]) for r in results["runs"]] == [("random", 0)]
    assert "bald" not in (out / "report.md").read_text()
    assert runner.invoke(app, ["report", str(out)]).exit_code == 0  # one protocol again
    for bad, msg in (
        (["--seeds", "zero"], "--seeds must be comma-separated integers"),
        (["--seeds", "5"], "not in the suite"),
        (["--strategies", "coreset"], "not in the suite"),
    ):
        res = runner.invoke(app, ["bench", str(suite), "--out", str(out), *bad])
        assert res.exit_code == 2 and msg in res.stderr, res.stderr
        _no_traceback(res)


@pytest.mark.parametrize(
    "strategy",
    ["coreset", "badge", "diverse-kmeans", "suggestive-annotation", "cluster-margin",
     "density-weighted", "batchbald"],
)
def test_select_with_embeddings_matches_the_api(tmp_path: Path, strategy: str) -> None:
    from labelwise.strategies import get_strategy

    P = _probs(tmp_path, n=60)
    rng = np.random.default_rng(1)
    E = tmp_path / "E.npy"
    np.save(E, rng.normal(size=(60, 6)).astype(np.float32))
    lab = tmp_path / "L.txt"
    lab.write_text("2\n5\n11\n")
    res = runner.invoke(
        app, ["select", "--probs", str(P), "--embeddings", str(E), "--labeled", str(lab),
              "-s", strategy, "-k", "4", "--seed", "3"],
    )
    assert res.exit_code == 0, res.output
    got = [int(x) for x in res.stdout.split()]
    want = get_strategy(strategy).select(
        4, probs=np.load(P), embeddings=np.load(E), n=60, exclude=[2, 5, 11], rng=3
    )
    assert got == want.indices.tolist()
    assert not {2, 5, 11} & set(got)


def test_select_max_class_share_caps_the_predicted_classes(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    conf = np.linspace(0.40, 0.45, 20)  # the 20 least confident items all predict class 0
    first = np.stack([conf, 0.35 * np.ones(20), 0.65 - conf], axis=1)
    conf2 = np.linspace(0.6, 0.8, 20)  # the others predict class 1 or 2, more confidently
    second = np.stack([(1 - conf2) / 2, conf2, (1 - conf2) / 2], axis=1)
    second[1::2] = second[1::2][:, [0, 2, 1]]
    p = np.repeat(np.concatenate([first, second])[:, None, :], 4, axis=1).astype(np.float32)
    path = tmp_path / "P.npy"
    np.save(path, p)
    predicted = p.mean(1).argmax(-1)
    base = ["select", "--probs", str(path), "-s", "least-confidence", "-k", "6"]
    res = runner.invoke(app, base)
    assert res.exit_code == 0
    plain = [int(x) for x in res.stdout.split()]
    assert np.bincount(predicted[plain], minlength=3).max() > 3  # the guard has work to do
    res = runner.invoke(app, [*base, "--max-class-share", "0.5"])
    assert res.exit_code == 0, res.output
    got = [int(x) for x in res.stdout.split()]
    assert len(set(got)) == 6 and np.bincount(predicted[got], minlength=3).max() <= 3
    for bad, msg in ((["--max-class-share", "0"], "max_share"),
                     (["--max-class-share", "1.5"], "max_share")):
        res = runner.invoke(app, [*base, *bad])
        assert res.exit_code == 2 and msg in res.stderr
        _no_traceback(res)
    E = tmp_path / "E.npy"
    np.save(E, rng.normal(size=(40, 3)).astype(np.float32))
    res = runner.invoke(app, ["select", "--embeddings", str(E), "-s", "coreset", "-k", "3",
                              "--max-class-share", "0.5"])
    assert res.exit_code == 2 and "needs --probs" in res.stderr


@pytest.mark.parametrize(
    "case",
    ["probs-0d", "embeddings-1d", "out-is-dir", "npz-missing", "sim-out-is-file", "no-strategy",
     "bench-out-is-file", "select-out-under-file", "sim-out-under-file", "bench-out-under-file",
     "proxy-out-under-file", "sim-bald-one-sample"],
)
def test_more_bad_arguments_get_one_line_errors(tmp_path: Path, case: str) -> None:
    P = _probs(tmp_path)
    np.save(tmp_path / "zero.npy", np.float32(1.0))
    np.save(tmp_path / "flat.npy", np.ones(5, np.float32))
    (tmp_path / "afile").write_text("x")
    suite = Path(__file__).parents[1] / "benchmarks" / "suites" / "digits-smoke.toml"
    sim = ["simulate", "--dataset", "digits-flat", "--budget", "30", "--epochs", "1"]
    args, needle = {
        "probs-0d": (["select", "--probs", str(tmp_path / "zero.npy"), "-k", "3"], "[N, K, C]"),
        "embeddings-1d": (["select", "--embeddings", str(tmp_path / "flat.npy"), "-k", "3",
                           "-s", "coreset"], "[N, D]"),
        "out-is-dir": (["select", "--probs", str(P), "-k", "3", "--out", str(tmp_path)],
                       "cannot write --out"),
        "npz-missing": (["simulate", "--dataset", str(tmp_path / "none.npz")], "none.npz"),
        "sim-out-is-file": ([*sim, "--out", str(tmp_path / "afile")], "not a folder"),
        "no-strategy": ([*sim, "--strategy", ","], "names no strategy"),
        "bench-out-is-file": (["bench", str(suite), "--out", str(tmp_path / "afile")],
                              "not a folder"),
        # a parent that is a file: named, instead of mkdir's bare "File exists"
        "select-out-under-file": (["select", "--probs", str(P), "-k", "3", "--out",
                                   str(tmp_path / "afile" / "x.txt")], "afile is a file, not a folder"),
        "sim-out-under-file": ([*sim, "--out", str(tmp_path / "afile" / "d")],
                               "afile is a file, not a folder"),
        "bench-out-under-file": (["bench", str(suite), "--out", str(tmp_path / "afile" / "d")],
                                 "afile is a file, not a folder"),
        "proxy-out-under-file": (["compare-proxy", str(tmp_path), str(tmp_path), "--out",
                                  str(tmp_path / "afile" / "t.md")], "afile is a file, not a folder"),
        "sim-bald-one-sample": ([*sim, "-s", "random,bald", "--mc-samples", "1", "--out",
                                 str(tmp_path / "k1")], "needs K >= 2"),
    }[case]
    res = runner.invoke(app, args, terminal_width=400)
    assert res.exit_code == 2, res.output
    _no_traceback(res)
    err = res.stderr.strip()
    assert err.startswith("error:") and needle in err
    assert len(err.splitlines()) == 1, err


def test_simulate_seed_list_runs_exactly_those_seeds(tmp_path: Path) -> None:
    base = ["simulate", "--dataset", "digits-flat", "--model", "mlp", "--strategy", "random",
            "--batch-size", "10", "--budget", "30", "--epochs", "2"]
    res = runner.invoke(app, [*base, "--seed-list", "3", "--out", str(tmp_path / "a")])
    assert res.exit_code == 0, res.output
    runs = json.loads((tmp_path / "a" / "results.json").read_text())["runs"]
    assert [r["seed"] for r in runs] == [3]
    # seed 3 alone equals seed 3 of a longer run: one seed can be added or redone by itself
    res = runner.invoke(app, [*base, "--seeds", "4", "--out", str(tmp_path / "b")])
    assert res.exit_code == 0, res.output
    four = json.loads((tmp_path / "b" / "results.json").read_text())["runs"]
    picked = lambda run: [i for rnd in run["rounds"] for i in rnd["selected"]]
    assert len(picked(runs[0])) == 10
    assert [picked(r) for r in four if r["seed"] == 3] == [picked(runs[0])]
    for bad, msg in ((["--seed-list", "1,x"], "--seed-list must be comma-separated"),
                     (["--seed-list", "2,2"], "distinct"), (["--seed-list", "-1"], ">= 0"),
                     (["--seeds", "0"], "--seeds must be >= 1")):
        res = runner.invoke(app, [*base, *bad, "--out", str(tmp_path / "c")])
        assert res.exit_code == 2 and msg in res.stderr, res.stderr
        _no_traceback(res)


def test_simulate_early_stopping_options_reach_the_config(tmp_path: Path) -> None:
    args = ["simulate", "--dataset", "digits-flat", "--model", "mlp", "--strategy", "random",
            "--batch-size", "10", "--budget", "30", "--epochs", "4", "--seeds", "1",
            "--val-fraction", "0.25", "--patience", "2", "--out", str(tmp_path)]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    cfg = json.loads((tmp_path / "results.json").read_text())["runs"][0]["config"]["train"]
    assert cfg["val_fraction"] == 0.25 and cfg["patience"] == 2
    res = runner.invoke(app, [*args[:-2], "--val-fraction", "1.5", "--out", str(tmp_path / "b")])
    assert res.exit_code == 2 and "val_fraction" in res.stderr


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["select", "-k", "abc"], "Invalid value for '-k'"),
        (["nosuch"], "No such command 'nosuch'"),
        (["select", "--bogus"], "No such option: --bogus"),
        (["bench"], "Missing argument"),
    ],
)
def test_console_script_usage_errors_are_one_line(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Errors click finds itself (the console script's path, not CliRunner's) get the same
    one-line `error:` as the commands' own checks, exit code 2, no Rich panel."""
    from labelwise.cli import main

    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and needle in err and len(err.splitlines()) == 1, err
    assert "╭" not in err and "Traceback" not in err


def test_console_script_success_and_command_errors_keep_their_exit_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from labelwise.cli import main

    main(["strategies"])  # success: returns normally
    assert "batchbald" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        main(["select", "--probs", str(tmp_path / "none.npy"), "-k", "2"])
    assert info.value.code == 2 and "not found" in capsys.readouterr().err


def test_report_reads_the_newest_runs_not_a_stale_results_file(tmp_path: Path) -> None:
    """Runs that finished after results.json was written (another machine's part of a
    suite, a resumed run) are in the regenerated report."""
    from labelwise.bench.suite import run_suite
    from labelwise.loop import read_results, write_results

    suite = Path(__file__).parents[1] / "benchmarks" / "suites" / "digits-smoke.toml"
    runs = run_suite(suite, tmp_path, seeds=[0])
    assert len(runs) == 2
    write_results(tmp_path / "results.json", runs[:1])  # stale: only random
    assert len(read_results(tmp_path / "results.json")) == 1
    res = runner.invoke(app, ["report", str(tmp_path), "--targets", "0.5"], terminal_width=200)
    assert res.exit_code == 0, res.output
    assert "| bald |" in (tmp_path / "report.md").read_text()


def test_report_refuses_a_folder_mixing_settings(tmp_path: Path) -> None:
    out = tmp_path / "mixed"
    base = ["simulate", "--dataset", "digits-flat", "--model", "mlp", "--epochs", "1",
            "--mc-samples", "2", "--out", str(out)]
    for strategy, budget in (("random", "30"), ("margin", "40")):
        res = runner.invoke(app, [*base, "-s", strategy, "--budget", budget])
        assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["report", str(out)])
    assert res.exit_code == 2
    assert "mixes runs of different settings" in res.stderr and "budget" in res.stderr
    _no_traceback(res)


def test_learning_loss_with_a_plain_proxy_names_the_proxy(tmp_path: Path) -> None:
    res = runner.invoke(app, [
        "simulate", "--dataset", "digits-flat", "--model", "ll-mlp", "-s", "learning-loss",
        "--proxy-model", "mlp", "--proxy-epochs", "1", "--epochs", "1", "--budget", "30",
        "--out", str(tmp_path / "o"),
    ])
    assert res.exit_code == 2, res.output
    assert "proxy model 'mlp'" in res.stderr and "--proxy-model ll-mlp" in res.stderr
    _no_traceback(res)
