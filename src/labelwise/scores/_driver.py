"""Chunked driver shared by every score: validate and score the pool one chunk at a time.

Why a driver of its own instead of ``check_probs`` followed by a kernel: validating a
``[N, K, C]`` array is itself several passes over it (finiteness, range, row sums), and for a
score such as the entropy of the mean those passes cost more than the score. Here each chunk
is validated *while it is in cache* and scored right after, with the same reductions serving
both (the row sums and the mean over K come out of one small matrix product). Validation is
then one extra pass (the min) plus a product the scores need anyway.

For float32 probabilities on the CPU with 2 <= C <= 32 (the common case: softmax outputs of
a classifier), the compiled pass of ``_native.c`` replaces the min and the product: it
reads each chunk once and writes its mean over K while checking the signs and every row
sum, 1.4-1.8x faster than the torch path (``benchmarks/bench_scores.py``). Where the extension was not
built, the torch path runs; both take the same decisions through ``check_probs``.

The fast check is never looser than :func:`labelwise._validation.check_probs`: whenever a
chunk fails it, or is within rounding distance of a tolerance, ``check_probs`` itself is run
and decides, so errors (types and messages, with the item index in the whole array) are
exactly those of ``check_probs``.
"""

from __future__ import annotations

import numbers
from types import ModuleType
from typing import Any

import numpy as np
import torch

from labelwise._validation import ArrayLike, as_tensor, check_probs, to_output
from labelwise.errors import LabelwiseError, ShapeError
from labelwise.scores._kernels import ScoreKernel

__all__ = [
    "ATOL",
    "BLOCK_ELEMENTS",
    "CHUNK_ELEMENTS",
    "default_chunk_rows",
    "native_available",
    "run_score",
]


def _load_native() -> ModuleType | None:
    try:
        from labelwise.scores import _native
    except ImportError:  # not built (no C compiler at install time): the torch path runs
        return None
    return _native


#: The compiled mean-and-check pass, or None. Read once at import; tests replace it to run
#: the torch path.
_NATIVE: ModuleType | None = _load_native()


def native_available() -> bool:
    """Whether the compiled pass of the score driver was built and is used.

    It serves float32 probabilities on the CPU with 2 <= C <= 32; everything else (and every
    input when this returns False) goes through the torch path, with the same results up
    to float32 rounding and the same errors.
    """
    return _NATIVE is not None

#: Elements of ``[n, K, C]`` per chunk by default: 2^18 float32 = 1 MiB per buffer, so the
#: three chunk-sized buffers of a pass stay in L2 cache. Chosen by benchmarks/bench_scores.py.
CHUNK_ELEMENTS = 1 << 18

#: Elements of the per-block ``[B, C + K]`` statistics: the small per-item operations (top-2,
#: entropy of the mean, validation of the row sums) run once per block of ~2^20 / (C + K)
#: items instead of once per chunk, which removes most of the per-operation overhead.
BLOCK_ELEMENTS = 1 << 20

#: Row-sum tolerance; the same default as ``check_probs``.
ATOL = 1e-3

#: Above this many columns (C + K) the mean and the row sums are two reductions instead of
#: one matrix product: the product does 2 (C + K) flops per input element, which beats the
#: reductions (slow over short axes) only while C + K is small (2x faster at C + K = 30).
_GEMM_MAX_COLS = 48


def default_chunk_rows(k: int, c: int) -> int:
    """Default number of items per chunk for ``[N, K, C]`` input: ``max(1, 2^18 // (K*C))``."""
    return max(1, CHUNK_ELEMENTS // (k * c))


def _check_chunk_size(chunk_size: Any) -> int | None:
    if chunk_size is None:
        return None
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, numbers.Integral):
        raise TypeError(
            f"chunk_size must be a positive int (items per chunk) or None, got "
            f"{type(chunk_size).__name__} {chunk_size!r}"
        )
    if int(chunk_size) < 1:
        raise ValueError(
            f"chunk_size must be >= 1 (items per chunk) or None for the default, got {chunk_size}"
        )
    return int(chunk_size)


def _structural_tensor(probs: Any, log_probs: Any) -> tuple[torch.Tensor, bool]:
    """The input as a tensor (no copy) once its kind, rank, axes and dtype are right.

    Any structural problem is reported by ``check_probs`` (it raises before scanning).
    """
    if (probs is None) == (log_probs is None):
        check_probs(probs, log_probs=log_probs, atol=ATOL)  # raises TypeError
    is_log = log_probs is not None
    t = as_tensor(log_probs if is_log else probs, "log_probs" if is_log else "probs")
    if t.ndim != 3 or 0 in t.shape or not torch.is_floating_point(t):
        if is_log:
            check_probs(log_probs=t, atol=ATOL)
        else:
            check_probs(t, atol=ATOL)
        raise AssertionError("unreachable: check_probs accepted a malformed array")
    return t, is_log


def _mean_matrix(k: int, c: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``M`` [K*C, C+K] such that ``x.view(n, K*C) @ M`` is ``[mean over K of x (C columns),
    row sums of x (K columns)]``: one small product yields what the score needs (the mean)
    and what validation needs (every row sum)."""
    m = torch.zeros((k, c, c + k), dtype=dtype, device=device)
    m[:, :, :c] = torch.eye(c, dtype=dtype, device=device) / k
    m[torch.arange(k), :, c + torch.arange(k)] = 1.0
    return m.view(k * c, c + k)


class _Workspace:
    """Chunk-sized buffers allocated once per call and reused by every chunk."""

    def __init__(self, rows: int, k: int, c: int, dtype: torch.dtype, device: torch.device):
        self.rows, self.k, self.c, self.dtype, self.device = rows, k, c, dtype, device
        self._bufs: dict[str, torch.Tensor] = {}

    def get(self, name: str, n: int) -> torch.Tensor:
        buf = self._bufs.get(name)
        if buf is None:
            buf = torch.empty((self.rows, self.k, self.c), dtype=self.dtype, device=self.device)
            self._bufs[name] = buf
        return buf[:n]


def _float32_within(lo: float, hi: float) -> tuple[float, float]:
    """``[lo, hi]`` rounded *inwards* to float32, so the native check is never looser."""
    lo32, hi32 = np.float32(lo), np.float32(hi)
    if float(lo32) < lo:
        lo32 = np.nextafter(lo32, np.float32(np.inf))
    if float(hi32) > hi:
        hi32 = np.nextafter(hi32, np.float32(-np.inf))
    return float(lo32), float(hi32)


def _use_native(t: torch.Tensor, is_log: bool, c: int) -> ModuleType | None:
    native = _NATIVE
    if native is None or is_log or t.dtype != torch.float32 or t.device.type != "cpu":
        return None
    if not 2 <= c <= int(native.MAX_C) or not t.is_contiguous():
        return None
    if t.is_neg() or t.is_conj():  # lazily negated views: memory is not what they read as
        return None
    return native


def _recheck(t: torch.Tensor, is_log: bool, start: int, stop: int) -> None:
    """Let ``check_probs`` judge rows ``[start, stop)``; raise its error with global indices."""
    chunk = t[start:stop]
    try:
        if is_log:
            check_probs(log_probs=chunk, atol=ATOL)
        else:
            check_probs(chunk, atol=ATOL)
    except LabelwiseError:
        # Re-run on the prefix so that the message's item index refers to the whole array
        # (rows before ``start`` passed the stricter fast check, so the same error is raised).
        if is_log:
            check_probs(log_probs=t[:stop], atol=ATOL)
        else:
            check_probs(t[:stop], atol=ATOL)
        raise


def run_score(
    kernel: ScoreKernel,
    probs: Any,
    log_probs: Any,
    chunk_size: Any,
    *,
    score_name: str,
    min_classes: int = 1,
) -> ArrayLike:
    """Validate ``probs`` / ``log_probs`` ``[N, K, C]`` and apply ``kernel`` chunk by chunk.

    Returns scores ``[N]`` of the input's kind (numpy or torch), on its device, in float32
    for float32 / float16 / bfloat16 input and float64 for float64 input.

    Torch path, per chunk (``chunk_size`` items, ~2^18 elements by default): one reduction
    for the range check (min, or max for log-probabilities), one matrix product giving the
    mean over K and every row sum (for small C + K), and the kernel's inner stage. Per block
    of chunks (~2^20 / (C + K) items): one ``aminmax`` checking all row sums of the block,
    and the kernel's outer stage on ``[B, C]`` data.

    Compiled path (float32 CPU probabilities, 2 <= C <= 32, see :func:`native_available`):
    the range check, the row sums and the mean are one call of ``_native.mean_check_f32``
    per chunk (per block for scores without an inner stage); the inner and outer stages are
    the same. A block it flags is re-judged by ``check_probs`` (or, when only a sign bit was
    seen, by one ``amin``: ``-0.0`` is a valid zero).
    """
    rows_arg = _check_chunk_size(chunk_size)
    t, is_log = _structural_tensor(probs, log_probs)
    arg = "log_probs" if is_log else "probs"
    n_items, k, c = (int(s) for s in t.shape)
    if c < min_classes:
        raise ShapeError(
            f"{score_name} needs at least {min_classes} classes, but {arg} has C = {c} "
            f"(shape {tuple(t.shape)} = [N, K, C])"
        )
    cdtype = t.dtype if t.dtype in (torch.float32, torch.float64) else torch.float32
    device = t.device
    rows = min(rows_arg or default_chunk_rows(k, c), n_items)
    width = {0: 0, 1: 1, -1: c}[kernel.inner_width]
    chunks_per_block = max(1, BLOCK_ELEMENTS // (rows * (c + k + width)))
    block = min(rows * chunks_per_block, n_items)
    native = _use_native(t, is_log, c)
    if native is not None and kernel.inner is None:
        # Nothing but the compiled pass reads the [n, K, C] data: one call per block
        # (the pass streams through memory; it needs no chunk held in cache).
        rows = block

    eps = float(torch.finfo(cdtype).eps)
    # Rounding slack of a row sum over C values in [0, 1 + atol] (plus that of exp for log
    # input): rows closer than this to the tolerance are re-checked exactly by check_probs.
    sums_exact = 4.0 * (c + 2) * eps > ATOL / 4  # very large C in float32: sum in float64
    eps_sums = float(torch.finfo(torch.float64).eps) if sums_exact else eps
    slack = 4.0 * ((c + 2) * eps_sums + (2 * eps if is_log else 0.0))
    thr = ATOL - slack
    fmin = float(torch.finfo(cdtype).min)
    use_gemm = native is None and c + k <= _GEMM_MAX_COLS and not sums_exact
    bound_lo, bound_hi = 1.0 - thr, 1.0 + thr
    native_lo, native_hi = _float32_within(bound_lo, bound_hi)

    ws = _Workspace(rows, k, c, cdtype, device)
    out = torch.empty(n_items, dtype=cdtype, device=device)
    if use_gemm:
        # One [C + K, B] buffer, written transposed by the product (free: BLAS writes either
        # layout), so that each class's means and each sample's row sums are contiguous rows:
        # the outer stage then needs no transposing copy, and one ``aminmax`` over the K
        # row-sum rows checks every row sum of the block.
        mmat = _mean_matrix(k, c, cdtype, device)
        stats_t = torch.empty((c + k, block), dtype=cdtype, device=device)
        pbar_all = stats_t[:c].t()  # [B, C] view, strides (1, B)
    else:
        stats_t = None
        pbar_all = torch.empty((block, c), dtype=cdtype, device=device)
        sums_dtype = torch.float64 if sums_exact else cdtype
        # The native pass checks the row sums itself: no [B, K] buffer for them.
        sums = torch.empty((block, 0 if native is not None else k), dtype=sums_dtype, device=device)
    part_all = None
    if width:
        part_all = torch.empty((block, width), dtype=cdtype, device=device)

    with torch.no_grad():
        for b0 in range(0, n_items, block):
            b1 = min(b0 + block, n_items)
            extremes: list[torch.Tensor] = []
            native_flags = 0
            for s0 in range(b0, b1, rows):
                s1 = min(s0 + rows, b1)
                n = s1 - s0
                i0, i1 = s0 - b0, s1 - b0
                x = t[s0:s1]
                if x.dtype != cdtype:
                    x = ws.get("cast", n).copy_(x)
                lp: torch.Tensor | None = None
                if native is not None:
                    # Contiguous float32 rows of a contiguous tensor, contiguous [n, C]
                    # output rows: the raw addresses are valid for exactly n items.
                    native_flags |= native.mean_check_f32(
                        x.data_ptr(), n, k, c, pbar_all[i0:i1].data_ptr(), native_lo, native_hi
                    )
                    p = x
                else:
                    if is_log:
                        extremes.append(x.amax())  # NaN propagates; +inf and > 0 fail below
                        lp = torch.clamp_min(x, fmin, out=ws.get("lp", n))
                        p = torch.exp(lp, out=ws.get("p", n))
                    else:
                        # With every value >= 0 and every row sum <= 1 + atol, no value
                        # exceeds 1 + atol: the min and the row sums are the whole check.
                        extremes.append(x.amin())  # NaN propagates
                        p = x
                    if stats_t is not None:
                        # beta = 0: the buffer's previous contents (even NaN) are ignored.
                        stats_t[:, i0:i1].t().addmm_(p.reshape(n, k * c), mmat, beta=0)
                    else:
                        torch.mean(p, 1, out=pbar_all[i0:i1])
                        torch.sum(p, -1, dtype=sums.dtype, out=sums[i0:i1])
                if kernel.inner is not None and part_all is not None:
                    part = kernel.inner(p, lp, pbar_all[i0:i1], ws.get("scratch", n))
                    part_all[i0:i1] = part.view(n, width)
            nb = b1 - b0
            if native is not None:
                ok = native_flags == 0
                if native_flags == native.FLAG_SIGN:
                    # Every row sum passed (so nothing is NaN or inf) and some sign bit is
                    # set: a real negative, or only -0.0, a valid zero. One min tells.
                    ok = bool(t[b0:b1].amin() >= 0)
            else:
                ext = torch.stack(extremes)
                ok_t = (ext.amax() <= 1e-6) if is_log else (ext.amin() >= 0)
                # One pass over the block's row sums checks them all; NaN/inf anywhere
                # makes its row sum NaN/inf, which fails these bounds too.
                lo, hi = torch.aminmax(stats_t[c:, :nb] if stats_t is not None else sums[:nb])
                ok = bool(ok_t & (lo >= bound_lo) & (hi <= bound_hi))
            if not ok:
                _recheck(t, is_log, b0, b1)
            part_b = None
            if part_all is not None:
                part_b = part_all[:nb, 0] if width == 1 else part_all[:nb]
            out[b0:b1] = kernel.outer(pbar_all[:nb], part_b, k)
    return to_output(out, log_probs if is_log else probs)
