"""Input validation shared by every public function.

Public functions validate with these helpers and then call private kernels on trusted
input. Validation of large arrays is chunked so that it never allocates more than a small
fraction of the input (a boolean mask of a 1e6 x 20 x 10 array would already be 200 MB).
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

import numpy as np
import torch

from labelwise.errors import (
    BudgetError,
    IndexValidationError,
    PoolExhaustedError,
    ProbabilityError,
    ShapeError,
)

__all__ = [
    "VALIDATION_CHUNK",
    "ArrayLike",
    "RNGLike",
    "as_tensor",
    "check_embeddings",
    "check_exclude",
    "check_indices",
    "check_k",
    "check_probs",
    "check_rng",
    "check_scores",
    "to_output",
    "torch_generator",
]

ArrayLike = np.ndarray | torch.Tensor
RNGLike = int | np.integer | np.random.Generator | None

#: Elements validated per chunk; keeps temporaries to a few MB whatever the shape is.
VALIDATION_CHUNK = 1 << 20


def _rows_per_chunk(row_elements: int) -> int:
    return max(1, VALIDATION_CHUNK // max(1, row_elements))


def as_tensor(x: Any, name: str) -> torch.Tensor:
    """Return ``x`` as a torch tensor without copying when possible.

    numpy arrays are wrapped with :func:`torch.from_numpy` (shared memory, no copy);
    lists are converted. Nothing is ever modified in place afterwards.
    """
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, np.ndarray):
        if x.dtype == np.float16:
            x = x.astype(np.float32)
        try:
            if not x.flags.writeable:
                # torch warns on read-only arrays (e.g. np.load(mmap_mode="r")); labelwise
                # never writes into inputs, so sharing the memory is safe.
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
                    return torch.from_numpy(x)
            return torch.from_numpy(x)
        except TypeError as exc:
            raise TypeError(
                f"{name} has numpy dtype {x.dtype}, which torch cannot hold; "
                "pass a float32 or float64 array"
            ) from exc
    if isinstance(x, (list, tuple)):
        return torch.as_tensor(np.asarray(x))
    raise TypeError(
        f"{name} must be a numpy array or a torch tensor, got {type(x).__name__}"
    )


def to_output(t: torch.Tensor, like: Any) -> ArrayLike:
    """Return ``t`` as the same kind of array as ``like`` (numpy in -> numpy out)."""
    if isinstance(like, torch.Tensor):
        return t
    return t.detach().cpu().numpy()


def _require_float(t: torch.Tensor, name: str) -> None:
    if not torch.is_floating_point(t):
        raise ProbabilityError(
            f"{name} must hold floating-point probabilities, got dtype {t.dtype}; "
            "convert with .astype(np.float32) (labels or class indices are not probabilities)"
        )


def check_probs(
    probs: Any = None,
    *,
    log_probs: Any = None,
    atol: float = 1e-3,
    name: str | None = None,
) -> tuple[torch.Tensor, bool]:
    """Validate predictive samples ``[N, K, C]``.

    Exactly one of ``probs`` and ``log_probs`` must be given. Returns the tensor (not
    copied) and ``True`` when it holds log-probabilities.

    Raises
    ------
    ShapeError
        Not rank 3, or an empty axis.
    ProbabilityError
        NaN/inf, values outside [0, 1] (or log-probabilities > 0), rows of the last axis not
        summing to 1 within ``atol``, or a non-float dtype.
    """
    if (probs is None) == (log_probs is None):
        raise TypeError(
            "pass exactly one of probs=[N, K, C] probabilities or log_probs=[N, K, C] "
            "log-probabilities"
        )
    is_log = log_probs is not None
    arg = "log_probs" if is_log else "probs"
    label = name or arg
    t = as_tensor(log_probs if is_log else probs, label)
    if t.ndim != 3:
        hint = ""
        if t.ndim == 2:
            hint = (
                f"; for a deterministic model add a sample axis: {arg}[:, None, :] "
                "(K = 1)"
            )
        raise ShapeError(
            f"{label} must be [N, K, C] (items, samples, classes), got shape "
            f"{tuple(t.shape)}{hint}"
        )
    n, k, c = t.shape
    if n == 0 or k == 0 or c == 0:
        raise ShapeError(f"{label} has an empty axis: shape {tuple(t.shape)} ([N, K, C])")
    _require_float(t, label)
    rows = _rows_per_chunk(k * c)
    for start in range(0, n, rows):
        chunk = t[start : start + rows]
        if not bool(torch.isfinite(chunk).all()) and not (is_log and _only_neg_inf(chunk)):
            bad = _first_bad_row(chunk, is_log) + start
            raise ProbabilityError(
                f"{label} contains NaN or inf (first at item {bad}); "
                "check the model outputs for overflow"
            )
        if is_log:
            if bool((chunk > 1e-6).any()):
                raise ProbabilityError(
                    f"{label} has values > 0, so it is not log-probabilities; "
                    "apply log_softmax to logits, or pass probabilities as probs="
                )
            sums = torch.logsumexp(chunk.double(), dim=-1).exp()
        else:
            if bool((chunk < 0).any()) or bool((chunk > 1 + atol).any()):
                raise ProbabilityError(
                    f"{label} has values outside [0, 1]; if these are logits, apply softmax "
                    "(or log_softmax and pass log_probs=)"
                )
            sums = chunk.sum(dim=-1, dtype=torch.float64)
        dev = (sums - 1).abs()
        if bool((dev > atol).any()):
            flat = int(torch.argmax(dev).item())
            item = flat // k + start
            raise ProbabilityError(
                f"{label} rows must sum to 1 over the class axis (tolerance {atol}); item "
                f"{item} sums to {float(sums.reshape(-1)[flat]):.6g}. Normalise with "
                "softmax or probs / probs.sum(-1, keepdims=True)"
            )
    return t, is_log


def _only_neg_inf(chunk: torch.Tensor) -> bool:
    return not bool(torch.isnan(chunk).any()) and not bool(torch.isposinf(chunk).any())


def _first_bad_row(chunk: torch.Tensor, is_log: bool) -> int:
    bad = ~torch.isfinite(chunk)
    if is_log:
        bad = bad & ~torch.isneginf(chunk)
    rows = bad.reshape(chunk.shape[0], -1).any(dim=1).nonzero()
    return int(rows[0].item()) if len(rows) else 0


def check_scores(scores: Any, name: str = "scores") -> torch.Tensor:
    """Validate per-item scores ``[N]``: rank 1, float, no NaN (``-inf`` means never pick)."""
    t = as_tensor(scores, name)
    if t.ndim != 1:
        raise ShapeError(f"{name} must be [N] (one score per item), got shape {tuple(t.shape)}")
    if not torch.is_floating_point(t):
        t = t.double()
    # One reduction: the max is NaN if any score is NaN (torch propagates NaN) and +inf if
    # any score is +inf.
    top = float(t.max()) if t.numel() else 0.0
    if math.isnan(top) or top == math.inf:
        raise ProbabilityError(f"{name} contains NaN or +inf; scores must be finite or -inf")
    return t


def check_embeddings(emb: Any, name: str = "embeddings", n: int | None = None) -> torch.Tensor:
    """Validate embeddings ``[N, D]``: rank 2, float, finite, optionally N == ``n``."""
    t = as_tensor(emb, name)
    if t.ndim != 2:
        raise ShapeError(f"{name} must be [N, D] (items, features), got shape {tuple(t.shape)}")
    if t.shape[0] == 0 or t.shape[1] == 0:
        raise ShapeError(f"{name} has an empty axis: shape {tuple(t.shape)} ([N, D])")
    if n is not None and t.shape[0] != n:
        raise ShapeError(f"{name} has {t.shape[0]} rows but the pool has {n} items")
    if not torch.is_floating_point(t):
        t = t.float()
    rows = _rows_per_chunk(t.shape[1])
    for start in range(0, t.shape[0], rows):
        chunk = t[start : start + rows]
        # A finite sum proves every element finite (NaN and inf propagate into the sum);
        # one reduction is ~10x faster than an elementwise isfinite mask. Only a non-finite
        # sum (a bad value, or an overflow of large finite values) needs the exact check.
        if not bool(torch.isfinite(chunk.sum())) and not bool(torch.isfinite(chunk).all()):
            raise ProbabilityError(f"{name} contains NaN or inf")
    return t


def check_k(k: Any, n_available: int, name: str = "k") -> int:
    """Validate a batch size: a positive integer no larger than the selectable items."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise BudgetError(f"{name} must be a positive integer, got {k!r}")
    k = int(k)
    if k < 1:
        raise BudgetError(f"{name} must be >= 1, got {k}")
    if k > n_available:
        raise PoolExhaustedError(
            f"{name}={k} but only {n_available} items can be selected; "
            f"lower {name} or add items to the pool"
        )
    return k


def check_rng(rng: RNGLike) -> np.random.Generator:
    """Turn ``rng`` (int seed, numpy Generator or None) into a numpy Generator.

    ``None`` gives fresh OS entropy (not reproducible); pass an int for reproducibility.
    No global random state is read or written.
    """
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (numbers.Integral, np.integer)) and not isinstance(rng, bool):
        if int(rng) < 0:
            raise ValueError(f"rng seed must be >= 0, got {rng}")
        return np.random.default_rng(int(rng))
    raise TypeError(
        f"rng must be an int seed, a numpy.random.Generator or None, got {type(rng).__name__}"
    )


def torch_generator(rng: RNGLike, device: str | torch.device = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded from ``rng`` (consumes one draw of it)."""
    gen = check_rng(rng)
    g = torch.Generator(device=device)
    g.manual_seed(int(gen.integers(0, 2**63 - 1)))
    return g


def check_indices(
    indices: Any,
    n: int,
    name: str = "indices",
    *,
    allow_empty: bool = True,
) -> np.ndarray:
    """Validate whole-dataset indices: 1-D integers in ``[0, n)``, no duplicates.

    Returns a new int64 numpy array (the input is never modified).
    """
    if isinstance(indices, torch.Tensor):
        indices = indices.detach().cpu().numpy()
    arr = np.asarray(indices)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise IndexValidationError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        if not allow_empty:
            raise IndexValidationError(f"{name} is empty")
        return np.zeros(0, dtype=np.int64)
    if arr.dtype.kind not in "iu" and not (
        arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr))
    ):
        raise IndexValidationError(f"{name} must be integers, got dtype {arr.dtype}")
    # Range check in the input's own dtype, before the int64 cast could wrap a huge uint64
    # or float value into a misleading number.
    bad = (arr < 0) | (arr >= n)
    if bad.any():
        first = arr[bad][0]
        shown = f"{float(first):g}" if arr.dtype.kind == "f" else str(int(first))
        raise IndexValidationError(
            f"{name} must lie in [0, {n}); got {shown} ({int(bad.sum())} out of range)"
        )
    arr = arr.astype(np.int64, copy=True)
    uniq, counts = np.unique(arr, return_counts=True)
    if (counts > 1).any():
        raise IndexValidationError(
            f"{name} has duplicates, e.g. {int(uniq[counts > 1][0])} appears "
            f"{int(counts[counts > 1][0])} times"
        )
    return arr


def check_exclude(exclude: Any, n: int) -> np.ndarray:
    """Validate ``exclude`` (positions never to select) and return a boolean mask ``[n]``."""
    mask = np.zeros(n, dtype=bool)
    if exclude is None:
        return mask
    mask[check_indices(exclude, n, "exclude")] = True
    return mask
