"""Where the time of a mean-based score goes: the per-chunk passes of the score driver.

Without its compiled pass, ``labelwise.scores.entropy`` / ``margin`` on ``[N, K, C]`` float32
do, per chunk of ~2^18 elements (in L2 cache): one ``amin`` (range check; the chunk's first
read from memory) and one ``[n, K*C] @ [K*C, C+K]`` product giving the mean over K and every
row sum. This script times, in one process and on the same input, those torch passes, the
alternatives to the product, and the compiled pass that replaces them all
(``src/labelwise/scores/_native.c``), each over the whole pool chunk by chunk, best of
``--repeats``:

- ``amin``: the range check alone (the memory-bound floor);
- ``amin+gemm``: what the driver does;
- ``amin+sum1``: mean by ``sum(1)``, no row sums;
- ``amin+gemv``: row sums by ``[n K, C] @ [C]``, no mean;
- ``amin+gemmK``: row sums by ``[n, K*C] @ [K*C, K]``, no mean;
- ``amin+tree``: mean by a tree of slice additions, no row sums;
- ``amin+sum1+gemv``, ``amin+tree+gemv``: mean and row sums without the fused product;
- ``native``: the compiled pass (mean over K, signs and every row sum in one read);

then ``labelwise.scores.entropy`` on the pool as is and with a ``-0.0`` in every block (a
valid zero whose sign bit the compiled pass flags), on both paths.

An alternative helps only if it does *both* jobs faster than ``amin+gemm``. Usage::

    .venv/bin/python benchmarks/bench_score_passes.py [--n 1000000] [--repeats 4]

(run it on an otherwise idle machine; it uses one torch thread.)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from _timing import add_shape_args, best_seconds

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from labelwise.scores import _native
from labelwise.scores._driver import CHUNK_ELEMENTS, _mean_matrix


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_shape_args(ap)
    ap.add_argument("--repeats", type=int, default=4)
    args = ap.parse_args()
    torch.set_num_threads(1)
    n, k, c = args.n, args.k, args.c
    if k % 2 or k < 4:
        raise SystemExit("--k must be even and >= 4 (the tree sum halves it)")
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.dirichlet(np.ones(c), size=(n, k)).astype(np.float32))
    rows = max(1, CHUNK_ELEMENTS // (k * c))
    m = _mean_matrix(k, c, torch.float32, torch.device("cpu"))
    m_rows = m[:, c:].contiguous()
    stats = torch.empty((c + k, rows))
    ones = torch.ones(c)
    half = torch.empty(rows, k // 2, c)

    def tree_mean(ch: torch.Tensor) -> torch.Tensor:
        b = half[: ch.shape[0]]
        torch.add(ch[:, : k // 2], ch[:, k // 2 :], out=b)
        width = k // 2
        while width > 1:
            top = width // 2
            b[:, :top].add_(b[:, width - top : width])
            width -= top
        return b[:, 0]

    pbar = torch.empty((rows, c))

    def native_pass() -> None:
        for s in range(0, n, rows):
            ch = x[s : s + rows]
            _native.mean_check_f32(ch.data_ptr(), ch.shape[0], k, c, pbar.data_ptr(), 0.999, 1.001)

    def passes(kind: str) -> Callable[[], None]:
        if kind == "native":
            return native_pass

        def run() -> None:
            for s in range(0, n, rows):
                ch = x[s : s + rows]
                nn = ch.shape[0]
                ch.amin()
                if "gemm" in kind and "gemmK" not in kind:
                    stats[:, :nn].t().addmm_(ch.reshape(nn, k * c), m, beta=0)
                if "gemmK" in kind:
                    ch.reshape(nn, k * c) @ m_rows
                if "sum1" in kind:
                    ch.sum(1)
                if "tree" in kind:
                    tree_mean(ch)
                if "gemv" in kind:
                    ch.reshape(-1, c) @ ones

        return run

    ch = x[:rows]
    torch.testing.assert_close(tree_mean(ch.clone()), ch.sum(1), rtol=1e-5, atol=1e-5)
    print(f"N={n} K={k} C={c} float32 ({x.numel() * 4 / 2**20:.0f} MiB), chunks of {rows} "
          f"items, best of {args.repeats}")
    base = None
    for kind in ("amin", "amin+gemm", "amin+sum1", "amin+gemv", "amin+gemmK", "amin+tree",
                 "amin+sum1+gemv", "amin+tree+gemv", "native"):
        t = best_seconds(passes(kind), args.repeats)
        base = t if kind == "amin+gemm" else base
        rel = f"  ({t / base:.2f}x the torch path's passes)" if base is not None else ""
        print(f"{kind:>16}: {t:.3f} s{rel}")

    # -0.0 (kept by relu, clamp(min=0), np.clip) is a valid zero whose sign bit the compiled
    # pass flags: the driver clears such a block with one amin instead of check_probs.
    import labelwise.scores as S
    from labelwise.scores import _driver

    negzero = x.clone()
    negzero[::2000] = 0.0
    negzero[::2000, :, 1] = 1.0
    negzero[::2000, :, 0] = -0.0  # one such item per 2,000: in every block
    native = _driver._NATIVE
    times = {}
    for name, data, path in (("clean", x, native), ("-0.0 in every block", negzero, native),
                             ("-0.0, torch path", negzero, None)):
        _driver._NATIVE = path
        times[name] = best_seconds(lambda data=data: S.entropy(data), args.repeats)
    _driver._NATIVE = native
    for name, t in times.items():
        print(f"entropy, {name:>20}: {t:.3f} s  ({t / times['clean']:.2f}x clean)")


if __name__ == "__main__":
    main()
