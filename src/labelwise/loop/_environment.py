"""Where a run's rounds were computed: library versions, CPU kernels, threads.

A seeded run is bit-identical only on the same machine and build: torch dispatches its CPU
kernels by the instruction set it finds (``torch.backends.cpu.get_cpu_capability()``:
``"AVX2"``, ``"AVX512"``, ...), and kernels of different width round float sums in a
different order. Fifty epochs of training amplify that rounding, so a replay on another CPU
follows the same protocol (same initial set, initialisation, shuffles and masks) but not the
same float path, and its curve drifts from the recorded one after a few rounds. A run
therefore records the environment of every process that computed some of its rounds
(:attr:`~labelwise.loop.RunResult.environments`), and reports list them.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["ENVIRONMENT_VARIABLES", "current_environment", "environment_label", "same_environment"]

#: Variables that change which CPU kernels or how many threads torch uses.
ENVIRONMENT_VARIABLES = (
    "ATEN_CPU_CAPABILITY",
    "DNNL_MAX_CPU_ISA",
    "MKL_NUM_THREADS",
    "OMP_NUM_THREADS",
)


def _cpuinfo_field(name: str) -> str | None:
    """The first ``name : value`` of ``/proc/cpuinfo`` (Linux), else None."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, sep, value = line.partition(":")
                if sep and key.strip() == name:
                    return value.strip()
    except OSError:  # not Linux
        return None
    return None


def _cpu_flags_digest() -> str | None:
    """A short digest of the CPU's instruction-set flags (which kernels torch and oneDNN
    can pick), so that two CPUs sold under one model name are told apart; None off Linux."""
    flags = _cpuinfo_field("flags")
    if flags is None:
        return None
    joined = " ".join(sorted(flags.split()))
    return hashlib.blake2b(joined.encode(), digest_size=6).hexdigest()


@functools.cache
def _source_commit() -> str | None:
    """The git commit of labelwise's source folder when it is a git checkout (an editable
    install, as in the benchmarks), with ``+dirty`` when the package's files differ from
    it, else None. Read once per process, at the first run it
    records (shortly after the process loaded its modules): a later checkout does not
    change the code a running process executes, so it must not change the record."""
    here = Path(__file__).resolve()

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", *args], cwd=here.parent, capture_output=True, text=True, timeout=10,
            check=False,
        )

    try:
        # This very file must be tracked there: a wheel installed into a virtual environment
        # inside some other project's checkout would otherwise report that project's commit.
        if git("ls-files", "--error-unmatch", "--", here.name).returncode != 0:
            return None
        done = git("rev-parse", "HEAD")
        # Uncommitted edits of the package's own files (not of results beside it).
        dirty = git("diff", "--quiet", "HEAD", "--", ".").returncode == 1
    except (OSError, subprocess.SubprocessError):  # no git, or it hung
        return None
    commit = done.stdout.strip()
    if done.returncode != 0 or not commit:
        return None
    return f"{commit}+dirty" if dirty else commit


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def current_environment() -> dict[str, Any]:
    """What decides this process's float path, as a JSON-ready dict.

    Keys: ``labelwise``, ``torch``, ``numpy``, ``python`` (versions), ``labelwise_commit``
    (the source's git commit, or None), ``machine`` (``platform.machine()``), ``cpu`` (model
    name), ``cpu_flags`` (digest of the instruction-set flags, or None), ``cpu_capability``
    (torch's kernel dispatch level), ``scores_native`` (whether the compiled score pass is
    used, :func:`labelwise.scores.native_available`), ``torch_threads`` and ``env`` (the
    :data:`ENVIRONMENT_VARIABLES` that are set).
    """
    from labelwise.scores import native_available

    return {
        "labelwise": _version("labelwise"),
        "labelwise_commit": _source_commit(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu": _cpuinfo_field("model name") or platform.processor() or "unknown",
        "cpu_flags": _cpu_flags_digest(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "scores_native": native_available(),
        "torch_threads": torch.get_num_threads(),
        "env": {k: os.environ[k] for k in ENVIRONMENT_VARIABLES if k in os.environ},
    }


def same_environment(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two environment records are the same (``first_round``, the only per-segment
    key, is ignored; a new commit of the source counts as another environment)."""
    strip = ("first_round",)
    return {k: v for k, v in a.items() if k not in strip} == {
        k: v for k, v in b.items() if k not in strip
    }


def environment_label(env: Mapping[str, Any]) -> str:
    """One line naming what decides the float path: torch, kernel level, CPU (and its flags'
    digest), threads, which score path, and the variables that change kernels or threads.
    The source commit is left out: reports group rounds by float path."""
    extra = "".join(f", {k}={v}" for k, v in sorted(dict(env.get("env") or {}).items()))
    native = env.get("scores_native")
    scores = "" if native is None else (
        ", compiled score pass" if native else ", torch score path"
    )
    return (
        f"torch {env.get('torch', '?')} ({env.get('cpu_capability', '?')} kernels), "
        f"{env.get('cpu', '?')} ({env.get('machine', '?')}, flags {env.get('cpu_flags')}), "
        f"{env.get('torch_threads', '?')} thread(s){scores}{extra}"
    )
