"""Reports across folders: combine_runs, the random@label baseline, `report --compare`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from labelwise.bench.combine import combine_runs, paired_baseline
from labelwise.bench.report import write_report
from labelwise.cli import app
from labelwise.errors import LabelwiseError
from labelwise.loop import RoundRecord, RunResult, run_file_name

runner = CliRunner()
PROTOCOL = {"batch_size": 10, "budget": 50, "initial_size": 20, "initial": "balanced",
            "pool_subset": None}


def _run(strategy: str, seed: int, accs: list[float], *, dataset: str = "mnist",
         initial: list[int] | None = None, **config: object) -> RunResult:
    rounds = [
        RoundRecord(i, 20 + 10 * i, a, 0.0, [], [1, 1], 0.0, 0.0, 0.0)
        for i, a in enumerate(accs)
    ]
    init = list(range(seed, seed + 20)) if initial is None else initial
    return RunResult(strategy, seed, dataset, {**PROTOCOL, **config}, init, rounds, True)


def _sibling_and_main(seeds: int = 3) -> tuple[list[RunResult], list[RunResult]]:
    # the sibling's bald is better than the main folder's random by 0.05 from 40 labels on
    sibling = [_run("bald", s, [0.5, 0.6, 0.75 + 0.001 * s, 0.85]) for s in range(seeds)]
    main = [_run("random", s, [0.5, 0.6, 0.7 + 0.002 * s, 0.8]) for s in range(seeds)]
    main += [_run("bald", s, [0.5, 0.6, 0.74, 0.84]) for s in range(seeds)]
    return sibling, main


def test_combine_renames_filters_and_leaves_inputs_alone() -> None:
    sibling, main = _sibling_and_main()
    combined = combine_runs(sibling, {"mnist-dbal": main}, strategies=["random"])
    assert [r.strategy for r in combined] == ["bald"] * 3 + ["random@mnist-dbal"] * 3
    assert [r.seed for r in combined[3:]] == [0, 1, 2]
    assert all(r.strategy == "random" for r in main[:3])  # renamed copies, not the inputs
    everything = combine_runs(sibling, {"mnist-dbal": main})
    assert {r.strategy for r in everything} == {"bald", "random@mnist-dbal", "bald@mnist-dbal"}


def test_paired_baseline_prefers_own_random() -> None:
    assert paired_baseline(["bald", "random@a", "random"]) == "random"
    assert paired_baseline(["bald", "random@a", "random@b"]) == "random@a"
    assert paired_baseline(["bald", "entropy@a"]) is None


@pytest.mark.parametrize(
    ("other", "message"),
    [
        (_run("random", 0, [0.5, 0.6], dataset="digits"), "dataset 'digits'"),
        (_run("random", 0, [0.5, 0.6], budget=500), "budget 500 vs 50"),
        (_run("random", 0, [0.5, 0.6], batch_size=100), "batch_size 100 vs 10"),
        (_run("random", 0, [0.5, 0.6], pool_subset=2000), "pool_subset 2000 vs None"),
        (_run("random", 0, [0.5, 0.6], initial=list(range(100, 120))), "not paired"),
    ],
)
def test_combine_refuses_another_protocol(other: RunResult, message: str) -> None:
    sibling, _ = _sibling_and_main()
    with pytest.raises(LabelwiseError, match=message):
        combine_runs(sibling, {"main": [other]})


def test_same_name_on_other_data_is_another_protocol() -> None:
    """Two pool.npz files share the name 'pool'; their fingerprints tell them apart. Runs
    written before fingerprints were recorded (None) are compared by name as before."""
    import dataclasses

    from labelwise.bench.combine import check_one_protocol

    a = dataclasses.replace(_run("random", 0, [0.5, 0.6]), dataset_fingerprint="aaaa")
    b = dataclasses.replace(_run("bald", 0, [0.5, 0.7]), dataset_fingerprint="bbbb")
    with pytest.raises(LabelwiseError, match="dataset_fingerprint 'bbbb' vs 'aaaa'"):
        check_one_protocol([a, b], "folder")
    with pytest.raises(LabelwiseError, match="dataset_fingerprint"):
        combine_runs([a], {"main": [b]})
    check_one_protocol([a, dataclasses.replace(b, dataset_fingerprint=None)], "folder")
    check_one_protocol([a, dataclasses.replace(b, dataset_fingerprint="aaaa")], "folder")
    # another view of the same data has another shape, hence fingerprint: still comparable
    flat = dataclasses.replace(b, dataset="mnist-flat")
    combine_runs([a], {"main": [flat]})


def test_combine_accepts_flat_view_and_unshared_seeds() -> None:
    sibling, _ = _sibling_and_main()
    flat = _run("random", 0, [0.5, 0.6], dataset="mnist-flat")
    new_seed = _run("random", 7, [0.5, 0.6], initial=list(range(500, 520)))
    combined = combine_runs(sibling, {"main": [flat, new_seed]}, same_seeds=False)
    assert [r.strategy for r in combined[-2:]] == ["random@main"] * 2
    # by default only the report's own seeds join, so every row averages the same seeds
    combined = combine_runs(sibling, {"main": [flat, new_seed]})
    assert [(r.strategy, r.seed) for r in combined[3:]] == [("random@main", 0)]


def test_combine_bad_arguments() -> None:
    sibling, main = _sibling_and_main()
    with pytest.raises(LabelwiseError, match=r"\['badge'\] are in none"):
        combine_runs(sibling, {"main": main}, strategies=["random", "badge"])
    with pytest.raises(LabelwiseError, match="must not contain '@'"):
        combine_runs(sibling, {"a@b": main})
    with pytest.raises(LabelwiseError, match="own folder has no runs"):
        combine_runs([], {"main": main})


def test_report_pairs_with_compared_random(tmp_path: Path) -> None:
    sibling, main = _sibling_and_main()
    runs = combine_runs(sibling, {"mnist-dbal": main}, strategies=["random"])
    md = write_report(tmp_path, runs, targets=(0.8,))
    assert "## Paired comparison with random@mnist-dbal" in md
    summary = json.loads((tmp_path / "summary.json").read_text())
    (paired,) = summary["paired_vs_random"]
    assert paired["strategy"] == "bald" and paired["baseline"] == "random@mnist-dbal"
    assert paired["n_pairs"] == 3 and paired["mean_difference"] > 0


def _write_folder(folder: Path, runs: list[RunResult]) -> None:
    (folder / "runs").mkdir(parents=True)
    for r in runs:
        (folder / "runs" / run_file_name(r.strategy, r.seed)).write_text(json.dumps(r.to_dict()))


def test_report_command_compare(tmp_path: Path) -> None:
    sibling, main = _sibling_and_main()
    _write_folder(tmp_path / "sib", sibling)
    _write_folder(tmp_path / "mnist-dbal", main)
    res = runner.invoke(app, ["report", str(tmp_path / "sib"), "--targets", "0.8",
                              "--compare", str(tmp_path / "mnist-dbal"),
                              "--compare-strategies", "random,bald"], terminal_width=200)
    assert res.exit_code == 0, res.output
    md = (tmp_path / "sib" / "report.md").read_text()
    assert "| random@mnist-dbal | 3 |" in md and "| bald@mnist-dbal | 3 |" in md
    assert "Paired comparison with random@mnist-dbal" in md
    assert "random@mnist-dbal" in res.stdout


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--compare-strategies", "random"], "needs at least one --compare folder"),
        (["--compare", "{main}", "--compare-strategies", "vaal"], "in none of the compared"),
        (["--compare", "{bad}"], "another protocol"),
        (["--compare", "{main}", "--compare", "{main}"], "distinct names"),
        (["--compare", "{missing}"], "no runs/*.json"),
    ],
)
def test_report_command_compare_errors(tmp_path: Path, extra: list[str], message: str) -> None:
    sibling, main = _sibling_and_main()
    _write_folder(tmp_path / "sib", sibling)
    _write_folder(tmp_path / "main", main)
    _write_folder(tmp_path / "bad", [_run("random", 0, [0.5, 0.6], budget=500)])
    (tmp_path / "missing").mkdir()
    args = [a.format(main=tmp_path / "main", bad=tmp_path / "bad", missing=tmp_path / "missing")
            for a in extra]
    res = runner.invoke(app, ["report", str(tmp_path / "sib"), *args])
    assert res.exit_code == 2, res.output
    assert message in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
