"""Atomic file replacement: a reader sees the old file or the new one, never part of one.

Every file labelwise writes into an output folder (run checkpoints, ``results.json``, model
weights, reports and plots) is written to a temporary file beside it and renamed over it.
Several processes may write into one folder (``labelwise bench`` pairs on two machines, a
report regenerated while a suite runs), so this matters beyond crashes.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["replacing"]



def _umask_from_proc(status: str = "/proc/self/status") -> int | None:
    """The process umask read from Linux's ``/proc`` (None where that is unavailable)."""
    with contextlib.suppress(OSError, ValueError), open(status) as f:
        for line in f:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    return None


def _new_file_mode() -> int:
    """The mode ``open(path, "w")`` would give a new file: 0o666 less the umask."""
    mask = _umask_from_proc()
    if mask is None:  # elsewhere: the only portable way to read the umask is to set it
        mask = os.umask(0o022)
        os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def replacing(path: str | os.PathLike[str], *, sync: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block ends, it replaces ``path``.

    Parameters
    ----------
    path : path
        The file to (re)write; a symbolic link is followed (its target is replaced). Its
        folder is created if missing.
    sync : bool, default False
        ``fsync`` the temporary file before the rename, so that the new content is on disk
        when the rename is (for checkpoints that a crash must not lose).

    Yields
    ------
    Path
        Where to write the new content (a hidden ``.NAME.*.tmp`` file in the same folder,
        so the rename is atomic). It keeps the replaced file's permission bits, or gets
        those ``open(path, "w")`` would give a new file (0o666 less the umask;
        ``tempfile`` alone would give 0o600).

    Notes
    -----
    If the block raises, the temporary file is removed and ``path`` is left as it was.
    """
    target = Path(os.path.realpath(path))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        try:
            mode = stat.S_IMODE(target.stat().st_mode)
        except FileNotFoundError:
            mode = _new_file_mode()
        os.chmod(tmp, mode)
        if sync:
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)  # only left behind when the block or the rename failed
