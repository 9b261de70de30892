"""benchmarks/paper_tables.py prints the README tables from a report's summary.json."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from labelwise.bench.report import write_report
from labelwise.loop import RoundRecord, RunResult

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "paper_tables.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("paper_tables", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run(strategy: str, seed: int, accs: list[float]) -> RunResult:
    rounds = [
        RoundRecord(i, 20 + 10 * i, a, 0.0, [], [0, 0], 0.0, 0.0, 0.0) for i, a in enumerate(accs)
    ]
    return RunResult(strategy, seed, "toy", {}, list(range(20)), rounds, True)


def test_table_has_our_numbers_and_the_papers(tmp_path: Path) -> None:
    out = tmp_path / "mnist-dbal"  # the folder name selects the published column
    runs = []
    for seed, bump in enumerate([0.0, 0.02, 0.04]):
        runs.append(_run("random", seed, [0.5, 0.6, 0.7 + bump, 0.8]))
        runs.append(_run("bald", seed, [0.5, 0.8, 0.92, 0.96 + bump / 4]))
    write_report(out, runs, targets=(0.9, 0.95))
    text = _script().table(out)
    lines = text.splitlines()
    assert lines[0].startswith("| strategy | seeds |") and "paper: 90% / 95%" in lines[0]
    random_row = next(x for x in lines if x.startswith("| random |"))
    bald_row = next(x for x in lines if x.startswith("| BALD |"))
    assert "| 255 / 835 |" in random_row and "| 145 / 335 |" in bald_row
    # BALD reaches 90% at the 40-label checkpoint on every seed: median 40; the mean curve
    # (0.8 at 30, 0.92 at 40) crosses 0.9 at 38.3 labels, 18 acquired beyond the 20 initial
    assert "| 3 |" in bald_row and "| 40 |" in bald_row and "| 18 / " in bald_row
    assert "(3 pairs)" in bald_row and random_row.endswith("| — | — |")
    # the gain along the budget: BALD - random at 30, 40, 50 labels, mean of the 3 seeds
    # (+0.2; +0.22, +0.20, +0.18; +0.16, +0.165, +0.17)
    gaps = _script().gap_table(out).splitlines()
    assert gaps[0] == "| strategy | pairs | 30 | 40 | 50 |"
    assert gaps[2] == "| BALD | 3 | +20.0 | +20.0 | +16.5 |"


def test_gap_table_is_empty_without_a_baseline_or_in_an_older_summary(tmp_path: Path) -> None:
    write_report(tmp_path, [_run("bald", 0, [0.5, 0.8, 0.92])])
    assert _script().gap_table(tmp_path) == ""
    (tmp_path / "summary.json").write_text('{"strategies": []}')
    assert _script().gap_table(tmp_path) == ""


def test_main_prints_both_tables_naming_the_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = [_run("random@main", s, [0.5, 0.6, 0.7]) for s in (0, 1)]
    runs += [_run("bald", s, [0.5, 0.7, 0.9]) for s in (0, 1)]
    write_report(tmp_path, runs)
    assert _script().main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| strategy | seeds |" in out
    assert "Accuracy gain over random@main along the budget" in out
    assert "| BALD | 2 | +10.0 | +20.0 |" in out


def test_main_says_how_to_make_a_missing_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _script().main([str(tmp_path)]) == 2
    assert "labelwise report" in capsys.readouterr().err


def test_main_refuses_a_summary_written_before_the_mean_curve_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "summary.json").write_text('{"strategies": [{"strategy": "random"}]}')
    assert _script().main([str(tmp_path)]) == 2
    assert "an older summary.json" in capsys.readouterr().err


def test_regenerate_reports_covers_every_committed_results_folder() -> None:
    """benchmarks/regenerate_reports.sh names each folder under benchmarks/results once
    (so a new suite's report is not forgotten) and only folders that exist."""
    import re

    root = Path(__file__).parents[1] / "benchmarks"
    text = (root / "regenerate_reports.sh").read_text()
    script = "\n".join(x for x in text.splitlines() if not x.lstrip().startswith("#"))
    named = re.findall(r"\$report (?:\"\$d\"|([a-z0-9-]+))", script)
    looped = [w for line in re.findall(r"for d in ([^;]+);", script.replace("\\\n", " "))
              for w in line.split()]
    reported = [n for n in named if n] + looped
    committed = sorted(p.name for p in (root / "results").iterdir() if p.is_dir())
    assert sorted(reported) == committed
    compared = re.findall(r"--compare ([a-z0-9-]+)", script)
    assert compared and set(compared) <= set(committed)
