"""labelwise._files.replacing: readers see the old file or the new one, never part of one."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from labelwise._files import replacing


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_file_appears_whole_with_the_usual_mode(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "report.md"  # the folder is created
    with replacing(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith(".report.md.")
        tmp.write_text("new")
        assert not target.exists()  # nothing visible before the block ends
    assert target.read_text() == "new"
    assert _mode(target) == 0o644  # not tempfile's 0o600
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.md"]


def test_a_replaced_file_keeps_its_mode_and_a_failed_write_keeps_the_file(
    tmp_path: Path,
) -> None:
    target = tmp_path / "summary.json"
    target.write_text("old")
    os.chmod(target, 0o640)
    with replacing(target, sync=True) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new" and _mode(target) == 0o640
    with pytest.raises(RuntimeError, match="disk full"), replacing(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]  # no temporary left


def test_reports_and_run_files_leave_no_temporaries(tmp_path: Path) -> None:
    import json

    from labelwise.bench.report import write_report
    from labelwise.loop import RoundRecord, RunResult
    from labelwise.loop._results import atomic_write_json

    rounds = [RoundRecord(i, 20 + 10 * i, 0.5, 1.0, [], [0, 0], 0.0, 0.0, 0.0) for i in range(3)]
    run = RunResult("s", 0, "toy", {}, [], rounds, True)
    write_report(tmp_path, [run])
    atomic_write_json(tmp_path / "runs" / "s__seed0.json", run.to_dict())
    names = sorted(p.name for p in tmp_path.rglob("*"))
    assert not [n for n in names if n.startswith(".") or n.endswith(".tmp")], names
    assert {"report.md", "summary.json", "learning_curve.png", "nll_curve.png"} <= set(names)
    assert (tmp_path / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((tmp_path / "runs" / "s__seed0.json").read_text())["strategy"] == "s"
    assert _mode(tmp_path / "runs" / "s__seed0.json") == 0o644
