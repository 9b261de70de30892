"""benchmarks/replay_rounds.py and benchmarks/batchbald_k_saturation.py on the smoke suite:
a replay on the machine that made the runs is bit-identical, and the saturation table is
consistent with the joint-MI ceiling log K."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from types import ModuleType

import pytest

from labelwise.bench.suite import run_suite

BENCH = Path(__file__).parents[1] / "benchmarks"
SMOKE = BENCH / "suites" / "digits-smoke.toml"


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("smoke")
    run_suite(SMOKE, out, strategies=["bald"], seeds=[0])
    return out


def test_a_replay_here_is_bit_identical_to_the_record(
    smoke_results: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    replay = _script("replay_rounds")
    args = ["bald", "0", "--rounds", "0,1,2", "--suite", str(SMOKE), "--results",
            str(smoke_results)]
    assert replay.main(args) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "round" not in line]
    assert [r.split(" | ")[0] for r in rows] == ["| 0", "| 1", "| 2"]
    assert all(r.endswith("| bit-identical |") for r in rows), out
    assert "recorded on: from round 0: torch" in out  # the run's environment record
    # rounds it does not have, a run it does not have: a message and exit code 2
    assert replay.main([*args[:2], "--rounds", "3", *args[4:]]) == 2
    assert "--rounds must lie in 0..2" in capsys.readouterr().err
    assert replay.main(["random", "0", *args[2:]]) == 2
    assert "no run file" in capsys.readouterr().err


def test_the_saturation_table_stays_under_log_k(
    smoke_results: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sat = _script("batchbald_k_saturation")
    args = ["--suite", str(SMOKE), "--results", str(smoke_results), "--strategy", "bald",
            "--seed", "0", "--max-configurations", "500", "--rounds", "0,1", "--ks", "5,10"]
    assert sat.main(args) == 0
    out = capsys.readouterr().out
    # not a BatchBALD run: no claim that the replay selects the recorded batch
    assert "not a BatchBALD run" in out
    rows = [line.split(" | ") for line in out.splitlines() if line.startswith(("| 20 |", "| 30 |"))]
    assert len(rows) == 2 * 2 * 2  # rounds x K x draws
    for r in rows:
        k, joint = int(r[1]), float(r[3])
        assert 0 < joint <= math.log(k) + 1e-6
        assert float(r[4].rstrip("%")) <= 100
        # the batch's joint MI never exceeds the sum of its items' BALD (subadditivity)
        assert joint <= float(r[8]) + 1e-6
    assert sat.main([*args[:-4], "--rounds", "2", "--ks", "5"]) == 2
    assert "--rounds must lie in 0..1" in capsys.readouterr().err
    assert sat.main([*args, "--seed", "7"]) == 2
    assert "no run file" in capsys.readouterr().err


def test_the_nll_anatomy_table(smoke_results: Path, capsys: pytest.CaptureFixture[str]) -> None:
    anatomy = _script("nll_anatomy")
    args = ["--suite", str(SMOKE), "--results", str(smoke_results), "--strategies", "bald",
            "--seeds", "0", "--reference-epochs", "2"]
    assert anatomy.main(args) == 0
    out = capsys.readouterr().out
    (row,) = [line for line in out.splitlines() if line.startswith("| bald |")]
    cells = row.strip("| ").split(" | ")
    acc, nll, share = float(cells[2]), float(cells[3]), float(cells[4].rstrip("%"))
    assert 0 < acc <= 1 and nll > 0 and 0 <= share <= 100
    assert 0 <= float(cells[-1].rstrip("%")) <= 100
    assert anatomy.main([*args[:-4], "--seeds", "1", "--reference-epochs", "2"]) == 2
    assert "no run file" in capsys.readouterr().err
