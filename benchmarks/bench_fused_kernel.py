"""The rejected fused numba kernel for the scores' per-chunk work, measured against
``labelwise.scores.entropy`` in one run (benchmarks/README.md, "Where the time goes").

The kernel does, in one pass per item, what the driver does with an ``amin`` and a matrix
product: the mean over K, the K row sums, and the range check on the values' bit patterns
(int32 min / max: ``min < 0`` catches negatives, -0.0, -inf and sign-bit NaNs; ``max >=
bits(+inf)`` catches +inf and the other NaNs). numba is not a labelwise dependency; run in
an environment that has it::

    .venv/bin/pip install numba && .venv/bin/python benchmarks/bench_fused_kernel.py

Prints best-of-N seconds for: labelwise's entropy (torch path), the same entropy with the
kernel doing the per-chunk work, the kernel alone over the whole array, and ``np.min`` over
the array (the memory-bound floor), plus the ratios. One thread.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from _timing import add_shape_args, best_seconds


def _kernel():  # type: ignore[no-untyped-def]
    try:
        import numba
    except ImportError:
        sys.exit("numba is not installed: pip install numba (it is not a labelwise dependency)")

    @numba.njit(fastmath={"reassoc", "contract", "nsz", "arcp"}, boundscheck=False)
    def kernel(x, bits, k, c, zero, inv_k, acc, stats):  # type: ignore[no-untyped-def]
        bmin = bits[0, 0]
        bmax = bits[0, 0]
        for i in range(x.shape[0]):
            for j in range(k * c):
                b = bits[i, j]
                bmin = min(bmin, b)
                bmax = max(bmax, b)
            for cc in range(c):
                acc[cc] = zero
            for kk in range(k):
                s = zero
                for cc in range(c):
                    v = x[i, kk * c + cc]
                    acc[cc] += v
                    s += v
                stats[c + kk, i] = s
            for cc in range(c):
                stats[cc, i] = acc[cc] * inv_k
        return bmin, bmax

    return kernel


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_shape_args(ap)
    ap.add_argument("--repeats", type=int, default=4)
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    import torch

    torch.set_num_threads(1)  # this benchmark process only
    import labelwise.scores as S
    from labelwise.scores import _driver

    n, k, c = args.n, args.k, args.c
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(c), size=(n, k)).astype(np.float32)
    x = p.reshape(n, k * c)
    bits = x.view(np.int32)
    kernel = _kernel()
    zero, inv_k = np.float32(0), np.float32(1 / k)
    acc = np.empty(c, np.float32)
    rows = _driver.default_chunk_rows(k, c)
    stats = np.empty((c + k, rows), np.float32)
    out = np.empty(n, np.float32)
    tiny = np.float32(np.finfo(np.float32).tiny)

    def fused_entropy() -> None:
        for s0 in range(0, n, rows):
            s1 = min(n, s0 + rows)
            lo, hi = kernel(x[s0:s1], bits[s0:s1], k, c, zero, inv_k, acc, stats[:, : s1 - s0])
            if lo < 0 or hi >= 0x7F800000:
                raise ValueError("range check failed")
            m = stats[:c, : s1 - s0]
            out[s0:s1] = -(m * np.log(np.maximum(m, tiny))).sum(0)

    whole = np.empty((c + k, n), np.float32)
    torch_s = best_seconds(lambda: S.entropy(p), args.repeats, warm_up=True)
    fused_s = best_seconds(fused_entropy, args.repeats, warm_up=True)
    kernel_s = best_seconds(
        lambda: kernel(x, bits, k, c, zero, inv_k, acc, whole), args.repeats, warm_up=True
    )
    floor_s = best_seconds(lambda: p.min(), args.repeats, warm_up=True)
    diff = float(np.abs(out - np.asarray(S.entropy(p))).max())
    print(f"N={n} K={k} C={c} float32, 1 thread, best of {args.repeats}")
    print(f"labelwise entropy (torch path)   {torch_s:.3f} s")
    print(f"entropy with the fused kernel    {fused_s:.3f} s  ({torch_s / fused_s:.2f}x)")
    print(f"fused kernel alone, whole array  {kernel_s:.3f} s")
    print(f"np.min over the array (floor)    {floor_s:.3f} s  (kernel / floor "
          f"{kernel_s / floor_s:.1f}x)")
    print(f"max |entropy difference|         {diff:.2e} nats")


if __name__ == "__main__":
    main()
