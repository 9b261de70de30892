"""Runs record the environment (torch, CPU kernels, CPU, threads) of every process that
computed some of their rounds, and reports list them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from labelwise.bench.report import write_report
from labelwise.datasets import load_dataset
from labelwise.loop import RunResult, SimulationConfig, run_simulation
from labelwise.loop import _environment as environment
from labelwise.loop import _run as loop_run
from labelwise.models import TrainConfig
from labelwise.scores import native_available

FAST = SimulationConfig(
    batch_size=10, budget=50, initial_size=20, model="mlp", mc_samples=4,
    train=TrainConfig(epochs=5, batch_size=32, lr=3e-3),
)


@pytest.fixture(scope="module")
def digits():  # type: ignore[no-untyped-def]
    return load_dataset("digits-flat")


def test_current_environment_names_what_decides_the_float_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # (not a real kernel variable: torch reads ATEN_CPU_CAPABILITY once, at its first
    # dispatch, so setting it here could switch the kernels of every later test)
    monkeypatch.setattr(environment, "ENVIRONMENT_VARIABLES", ("LABELWISE_TEST_ISA", "UNSET_ONE"))
    monkeypatch.setenv("LABELWISE_TEST_ISA", "avx2")
    monkeypatch.delenv("UNSET_ONE", raising=False)
    env = environment.current_environment()
    assert env["torch"] == torch.__version__
    assert env["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert env["torch_threads"] == torch.get_num_threads()
    assert env["env"] == {"LABELWISE_TEST_ISA": "avx2"}
    assert env["scores_native"] == native_available()
    assert env["cpu_flags"] is None or len(env["cpu_flags"]) == 12
    assert env["labelwise"] != "unknown" and env["cpu"]
    json.dumps(env)  # JSON-ready
    label = environment.environment_label(env)
    assert env["torch"] in label and env["cpu_capability"] in label
    assert "LABELWISE_TEST_ISA=avx2" in label
    assert environment.same_environment({**env, "first_round": 3}, env)
    assert not environment.same_environment(env, {**env, "cpu_capability": "OTHER"})


def test_a_run_records_each_environment_it_ran_in(
    digits: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ckpt = tmp_path / "run.json"
    full = run_simulation(digits, "margin", 0, FAST, checkpoint=ckpt)
    assert len(full.environments) == 1
    assert full.environments[0]["first_round"] == 0
    assert full.environments[0]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    stored = json.loads(ckpt.read_text())
    assert stored["environments"] == full.environments
    assert RunResult.from_dict(stored).environments == full.environments

    # a resume in the same environment adds no record
    stored["rounds"], stored["finished"] = stored["rounds"][:2], False
    ckpt.write_text(json.dumps(stored))
    same = run_simulation(digits, "margin", 0, FAST, checkpoint=ckpt)
    assert same.environments == full.environments
    assert same.acquired() == full.acquired()

    # a resume elsewhere (here: another kernel level) starts a record at its first round
    stored = json.loads(ckpt.read_text())
    stored["rounds"], stored["finished"] = stored["rounds"][:3], False
    ckpt.write_text(json.dumps(stored))
    real = environment.current_environment
    monkeypatch.setattr(
        loop_run, "current_environment", lambda: {**real(), "cpu_capability": "ELSEWHERE"}
    )
    moved = run_simulation(digits, "margin", 0, FAST, checkpoint=ckpt)
    assert [e["first_round"] for e in moved.environments] == [0, 3]
    assert moved.environments[1]["cpu_capability"] == "ELSEWHERE"
    assert json.loads(ckpt.read_text())["environments"] == moved.environments

    # a finished run is not touched by another process that opens it
    again = run_simulation(digits, "margin", 0, FAST, checkpoint=ckpt)
    assert again.environments == moved.environments


def test_runs_written_before_environments_were_recorded_still_load(
    digits: Any, tmp_path: Path
) -> None:
    ckpt = tmp_path / "run.json"
    run_simulation(digits, "random", 1, FAST, checkpoint=ckpt)
    d = json.loads(ckpt.read_text())
    del d["environments"]
    old = RunResult.from_dict(d)
    assert old.environments == []
    assert "environments" not in old.to_dict()


def test_the_report_counts_runs_and_rounds_per_environment(digits: Any, tmp_path: Path) -> None:
    a = run_simulation(digits, "random", 0, FAST)
    b = run_simulation(digits, "margin", 0, FAST)
    n = len(a.rounds)
    assert n == 4
    # b: two rounds here, two on another kernel level; c: recorded from round 2 only
    b.environments = [b.environments[0], {**b.environments[0], "first_round": 2,
                                          "cpu_capability": "ELSEWHERE"}]
    c = run_simulation(digits, "entropy", 0, FAST)
    c.environments = [{**c.environments[0], "first_round": 2}]
    d = run_simulation(digits, "bald", 0, FAST)
    d.environments = []
    # e: a process that died before finishing a round (the next record has its first
    # round) and one that started after the last round computed nothing
    e = run_simulation(digits, "variation-ratio", 0, FAST)
    e.environments = [
        {**e.environments[0], "first_round": 0, "cpu_capability": "NOTHING"},
        e.environments[0],
        {**e.environments[0], "first_round": n, "cpu_capability": "NOTHING"},
    ]
    md = write_report(tmp_path, [a, b, c, d, e])
    section = md.split("## Run environments")[1].split("![")[0]
    here = environment.environment_label(a.environments[0])
    rows = {
        line.split(" | ")[0].lstrip("| "): line for line in section.splitlines()
        if line.startswith("| ") and not line.startswith("| environment")
    }
    assert len(rows) == 3
    mine = next(v for k, v in rows.items() if here in k)
    elsewhere = next(v for k, v in rows.items() if "ELSEWHERE" in k)
    # here: all of a (4), b's rounds 0-1 (2), c's rounds 2-3 (2), all of e (4); 4 runs
    assert mine.endswith(f"| 4 | {n + 2 + 2 + n} |")
    assert "NOTHING" not in section
    assert elsewhere.endswith("| 1 | 2 |")
    # not recorded: c's rounds 0-1 and all of d
    assert rows["not recorded (computed before runs recorded their environment)"].endswith(
        f"| 2 | {2 + n} |"
    )


def test_the_source_commit_is_this_checkouts_or_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil
    import subprocess

    if shutil.which("git") is None:
        pytest.skip("git is not installed: the source commit is None by construction")
    src = Path(environment.__file__)
    inside_git = subprocess.run(
        ["git", "ls-files", "--error-unmatch", "--", src.name], cwd=src.parent,
        capture_output=True, check=False,
    ).returncode == 0
    environment._source_commit.cache_clear()
    try:
        commit = environment._source_commit()
        if inside_git:
            head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=src.parent,
                                  capture_output=True, text=True, check=True).stdout.strip()
            dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "."],
                                   cwd=src.parent, check=False).returncode == 1
            assert commit == (f"{head}+dirty" if dirty else head)
        else:
            assert commit is None
        # a copy of the module inside another git checkout (a wheel in a project's venv)
        # where it is not tracked: no commit, not that project's
        repo = tmp_path / "project"
        (repo / "venv").mkdir(parents=True)
        subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
        (repo / "README").write_text("another project\n")
        subprocess.run(["git", "add", "README"], cwd=repo, check=True)
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-c",
             "commit.gpgsign=false", "commit", "-q", "--no-verify", "-m", "project"],
            cwd=repo, check=True,
        )
        copy = repo / "venv" / src.name
        shutil.copy(src, copy)
        environment._source_commit.cache_clear()
        monkeypatch.setattr(environment, "__file__", str(copy))
        assert environment._source_commit() is None
        # tracked there: that checkout's commit, "+dirty" once the package's files change
        git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-c",
               "commit.gpgsign=false"]
        subprocess.run([*git, "add", "venv"], cwd=repo, check=True)
        subprocess.run([*git, "commit", "-q", "--no-verify", "-m", "pkg"], cwd=repo, check=True)
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                              text=True, check=True).stdout.strip()
        environment._source_commit.cache_clear()
        assert environment._source_commit() == head
        copy.write_text(copy.read_text() + "\n# edited\n")
        environment._source_commit.cache_clear()
        assert environment._source_commit() == f"{head}+dirty"
        # results written beside the package (outside its folder) do not count
        copy.write_text(copy.read_text().replace("\n# edited\n", ""))
        (repo / "README").write_text("results\n")
        environment._source_commit.cache_clear()
        assert environment._source_commit() == head
    finally:
        environment._source_commit.cache_clear()
