"""The committed benchmark suites parse, and the CI smoke suite runs end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labelwise.bench.stats import paired_against, win_matrix
from labelwise.bench.suite import load_suite, run_suite
from labelwise.datasets import available_datasets
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
    assert names == ["random", "bald"] and W.shape == (2, 2) and W[0, 0] == 0
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
