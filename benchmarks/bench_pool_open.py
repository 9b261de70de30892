"""Time ``Pool.open`` of a fully labeled pool, with and without the paused cyclic GC.

Opening reads every labeled row with one ``SELECT`` (a tuple per row). Building 10^6 tuples
triggers the cyclic garbage collector again and again although the rows form no cycles;
``labelwise.pool`` pauses it for the fetch. This script builds (once, cached in ``--dir``)
a pool of ``--n`` items, all labeled, then times ``Pool.open`` interleaved with the pause and
without it (the context manager replaced by a no-op), best of ``--repeats``, and prints the
ratio. Usage::

    .venv/bin/python benchmarks/bench_pool_open.py [--n 1000000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import labelwise.pool as pool_module
from labelwise.pool import Pool


def build(path: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    with Pool.create(path, n, list(range(10)), overwrite=True) as pool:
        for s in range(0, n, 100_000):
            idx = np.arange(s, min(n, s + 100_000))
            pool.label(idx, rng.integers(0, 10, len(idx)), annotator="sim")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=Path("/tmp"))
    args = ap.parse_args()
    path = args.dir / f"labelwise_bench_pool_{args.n}.sqlite"
    if not path.exists():
        build(path, args.n)
    paused = pool_module._cyclic_gc_paused
    best = {"GC paused (labelwise)": float("inf"), "GC running (before)": float("inf")}
    for _ in range(args.repeats):
        for name, so_far in best.items():
            pool_module._cyclic_gc_paused = paused if "paused" in name else contextlib.nullcontext
            t0 = time.perf_counter()
            with Pool.open(path) as pool:
                assert pool.n_labeled == args.n
            best[name] = min(so_far, time.perf_counter() - t0)
    pool_module._cyclic_gc_paused = paused
    for name, t in best.items():
        print(f"{name:>22}: {t:.2f} s")
    print(f"ratio: {best['GC running (before)'] / best['GC paused (labelwise)']:.2f}x "
          f"(N = {args.n:,}, all labeled, best of {args.repeats})")


if __name__ == "__main__":
    main()
