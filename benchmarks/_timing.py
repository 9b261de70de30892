"""Helpers shared by the in-process micro-benchmarks (``bench_score_passes.py``,
``bench_fused_kernel.py``): the input-shape options and best-of-R timing."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable


def add_shape_args(ap: argparse.ArgumentParser) -> None:
    """``--n --k --c``: the ``[N, K, C]`` predictive samples (default 1,000,000 x 20 x 10)."""
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--c", type=int, default=10)


def best_seconds(fn: Callable[[], object], repeats: int, *, warm_up: bool = False) -> float:
    """The fastest of ``repeats`` timed calls of ``fn`` (after one untimed call if
    ``warm_up``, e.g. to compile a kernel)."""
    if warm_up:
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)
