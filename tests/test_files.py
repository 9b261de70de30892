"""labelwise._files.replacing: readers see the old file or the new one, never part of one."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from labelwise._files import replacing


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask() -> Iterator[Callable[[int], None]]:
    """Set the process umask for a test; the old one comes back afterwards."""
    old = os.umask(0o022)
    try:
        yield os.umask
    finally:
        os.umask(old)


def test_a_new_file_appears_whole_with_the_mode_open_would_give(
    tmp_path: Path, umask: Callable[[int], None]
) -> None:
    target = tmp_path / "sub" / "report.md"  # the folder is created
    with replacing(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith(".report.md.")
        tmp.write_text("new")
        assert not target.exists()  # nothing visible before the block ends
    assert target.read_text() == "new"
    assert _mode(target) == 0o644  # umask 022; not tempfile's 0o600
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.md"]
    for mask, mode in ((0o077, 0o600), (0o002, 0o664)):
        umask(mask)
        with replacing(tmp_path / f"new{mask}") as tmp:
            tmp.write_text("x")
        with open(tmp_path / f"plain{mask}", "w") as f:
            f.write("x")
        assert _mode(tmp_path / f"new{mask}") == mode == _mode(tmp_path / f"plain{mask}")


def test_a_symbolic_link_is_written_through(tmp_path: Path) -> None:
    real = tmp_path / "real.md"
    real.write_text("old")
    link = tmp_path / "link.md"
    link.symlink_to(real)
    with replacing(link) as tmp:
        tmp.write_text("new")
    assert link.is_symlink() and real.read_text() == "new"


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
    assert _mode(tmp_path / "runs" / "s__seed0.json") == 0o666 & ~_current_umask()


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_a_figure_path_without_a_suffix_gets_the_default_format(tmp_path: Path) -> None:
    from labelwise.bench.report import plot_learning_curves
    from labelwise.loop import RoundRecord, RunResult

    rounds = [RoundRecord(i, 20 + 10 * i, 0.5, 1.0, [], [0, 0], 0.0, 0.0, 0.0) for i in range(2)]
    runs = [RunResult("s", 0, "toy", {}, [], rounds, True)]
    plot_learning_curves(runs, tmp_path / "curve")  # as matplotlib's savefig: curve.png
    plot_learning_curves(runs, tmp_path / "curve.svg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curve.png", "curve.svg"]
    assert (tmp_path / "curve.png").read_bytes()[:4] == b"\x89PNG"
    assert b"<svg" in (tmp_path / "curve.svg").read_bytes()[:400]


def test_the_cli_writes_through_a_file_that_is_not_a_regular_one() -> None:
    from labelwise.cli import _write_out_file

    _write_out_file(Path("/dev/null"), "discarded")  # a temporary in /dev would be wrong
    assert Path("/dev/null").is_char_device()


def test_the_umask_is_read_with_or_without_proc(
    tmp_path: Path, umask: Callable[[int], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    from labelwise import _files

    umask(0o027)
    assert _files._umask_from_proc() == 0o027
    assert _files._umask_from_proc(str(tmp_path / "missing")) is None
    (tmp_path / "status").write_text("Name:\tx\nUmask:\tnot-octal\n")
    assert _files._umask_from_proc(str(tmp_path / "status")) is None
    assert _files._new_file_mode() == 0o640
    monkeypatch.setattr(_files, "_umask_from_proc", lambda: None)  # no /proc: set and restore
    assert _files._new_file_mode() == 0o640
    assert _current_umask() == 0o027  # the fallback put the umask back
