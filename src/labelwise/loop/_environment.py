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

import os
import platform
from collections.abc import Mapping
from importlib import metadata
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


def _cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (Linux), else ``platform.processor()``."""
    fallback = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, sep, value = line.partition(":")
                if sep and key.strip() == "model name":
                    return value.strip()
    except OSError:  # not Linux
        return fallback
    return fallback


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def current_environment() -> dict[str, Any]:
    """What decides this process's float path, as a JSON-ready dict.

    Keys: ``labelwise``, ``torch``, ``numpy``, ``python`` (versions), ``machine``
    (``platform.machine()``), ``cpu`` (model name), ``cpu_capability`` (torch's kernel
    dispatch level), ``torch_threads`` and ``env`` (the :data:`ENVIRONMENT_VARIABLES` that are
    set).
    """
    return {
        "labelwise": _version("labelwise"),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_threads": torch.get_num_threads(),
        "env": {k: os.environ[k] for k in ENVIRONMENT_VARIABLES if k in os.environ},
    }


def same_environment(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two environment records describe the same float path (``first_round``, the
    only per-segment key, is ignored)."""
    strip = ("first_round",)
    return {k: v for k, v in a.items() if k not in strip} == {
        k: v for k, v in b.items() if k not in strip
    }


def environment_label(env: Mapping[str, Any]) -> str:
    """One line naming what decides the float path: torch, kernel level, CPU, threads."""
    extra = "".join(f", {k}={v}" for k, v in sorted(dict(env.get("env") or {}).items()))
    return (
        f"torch {env.get('torch', '?')} ({env.get('cpu_capability', '?')} kernels), "
        f"{env.get('cpu', '?')} ({env.get('machine', '?')}), "
        f"{env.get('torch_threads', '?')} thread(s){extra}"
    )
