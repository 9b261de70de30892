"""The compiled mean-and-check pass of the score driver (src/labelwise/scores/_native.c).

The kernel itself against a float64 reference and against every kind of bad value at every
position of a chunk; the driver's choice of path; and agreement of the two paths over every
class count the kernel specialises. (The whole score suite runs on both paths too: see the
``score_path`` fixture in tests/conftest.py.)
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
import torch

import labelwise.scores as S
from labelwise._validation import check_probs
from labelwise.errors import ProbabilityError
from labelwise.scores import _driver
from tests._helpers import SCORE_NAMES

LO, HI = 1.0 - 9e-4, 1.0 + 9e-4


def _native() -> Any:
    assert _driver._NATIVE is not None, "labelwise.scores._native was not built"
    return _driver._NATIVE


def _probs(n: int, k: int, c: int, seed: int = 0, alpha: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.full(c, alpha), size=(n, k)).astype(np.float32)


def _flags(x: np.ndarray, lo: float = LO, hi: float = HI) -> tuple[int, np.ndarray]:
    x = np.ascontiguousarray(x, dtype=np.float32)
    n, k, c = x.shape
    out = np.full((n, c), np.nan, dtype=np.float32)
    flags = _native().mean_check_f32(x.ctypes.data, n, k, c, out.ctypes.data, lo, hi)
    return flags, out


def _call(x: np.ndarray, lo: float = LO, hi: float = HI) -> tuple[bool, np.ndarray]:
    flags, out = _flags(x, lo, hi)
    return flags == 0, out


def test_the_extension_is_built() -> None:
    """CI installs with a C compiler: a missing extension is a build failure, not a fallback
    (otherwise the "native" half of the score suite would silently rerun the torch path)."""
    assert S.native_available()
    assert _native().MAX_C == 32
    assert (_native().FLAG_SIGN, _native().FLAG_SUM) == (1, 2)


@pytest.mark.parametrize("c", range(2, 33))
def test_mean_matches_float64_for_every_specialised_class_count(c: int) -> None:
    x = _probs(37, 7, c, seed=c)
    ok, out = _call(x)
    assert ok
    np.testing.assert_allclose(out, x.astype(np.float64).mean(1), rtol=0, atol=3e-7)


@pytest.mark.parametrize("k", [1, 2, 20, 64, 65, 101, 10_000])
def test_any_number_of_samples(k: int) -> None:
    """Up to 64 samples are summed in float32, more in float32 groups of 64 added in double:
    a float32 running sum over K = 10,000 drifted by ~1e-5 (found in review)."""
    x = _probs(9, k, 32, alpha=0.2)
    ok, out = _call(x)
    assert ok
    np.testing.assert_allclose(out, x.astype(np.float64).mean(1), rtol=0, atol=3e-7)


def test_zero_items_write_nothing_and_pass() -> None:
    out = np.full((1, 3), 7.0, dtype=np.float32)
    x = np.zeros((1, 2, 3), dtype=np.float32)
    assert _native().mean_check_f32(x.ctypes.data, 0, 2, 3, out.ctypes.data, LO, HI) == 0
    assert (out == 7.0).all()


@pytest.mark.parametrize(
    "value",
    [np.nan, -np.nan, np.inf, -np.inf, -0.0, -1e-30, -1e-45, 1.5, 2e-3, -2e-3, 1e30],
    ids=["nan", "neg-nan", "inf", "-inf", "-0", "-1e-30", "-denormal", "1.5", "sum+", "sum-", "huge"],
)
@pytest.mark.parametrize("pos", [(0, 0, 0), (5, 3, 9), (10, 6, 4), (10, 0, 9)])
def test_every_bad_value_anywhere_fails_the_check(value: float, pos: tuple[int, int, int]) -> None:
    """Sign bit anywhere (incl. -0.0 and negative NaN payloads), NaN, +-inf, a value that
    breaks its row's sum: each at the first, a middle and the last element of a chunk. The
    row is one-hot elsewhere, so that a tiny negative value leaves its sum valid and only the
    sign test can catch it."""
    x = _probs(11, 7, 10)
    i, j, c = pos
    x[i, j] = 0.0
    x[i, j, (c + 1) % 10] = 1.0
    x[i, j, c] = np.float32(value)
    if value == -np.nan:
        x.view(np.uint32)[i, j, c] |= np.uint32(0x80000000)
    flags, _ = _flags(x)
    sign = bool(np.signbit(x[i, j, c]))
    finite_sum = abs(float(x[i, j].astype(np.float64).sum()) - 1) <= 9e-4
    assert flags == (_native().FLAG_SIGN if sign else 0) | (0 if finite_sum else _native().FLAG_SUM)
    x[i, j, c] = 0.0
    assert _flags(x)[0] == 0  # the same chunk without the bad value passes


@pytest.mark.parametrize("delta", [-1.0e-3, -8.9e-4, 0.0, 8.9e-4, 1.0e-3])
def test_row_sum_bounds_are_inclusive_and_exact(delta: float) -> None:
    x = np.full((3, 2, 4), 0.25, dtype=np.float32)
    x[1, 1, 2] += np.float32(delta)
    s = float(x[1, 1].astype(np.float64).sum())
    ok, _ = _call(x, lo=LO, hi=HI)
    assert ok == (LO <= s <= HI)
    ok_at_bounds, _ = _call(x, lo=min(s, 1.0), hi=max(s, 1.0))
    assert ok_at_bounds  # [lo, hi] is closed


@pytest.mark.parametrize("args", [(1, 2, 1), (1, 2, 33), (1, 0, 10), (-1, 2, 10)])
def test_unsupported_shapes_raise_instead_of_reading_memory(args: tuple[int, int, int]) -> None:
    n, k, c = args
    buf = np.zeros(1000, dtype=np.float32)
    with pytest.raises(ValueError, match="mean_check_f32 needs"):
        _native().mean_check_f32(buf.ctypes.data, n, k, c, buf.ctypes.data, LO, HI)
    with pytest.raises(ValueError, match="non-null"):
        _native().mean_check_f32(0, 1, 2, 10, buf.ctypes.data, LO, HI)


def test_float32_bounds_are_rounded_inwards() -> None:
    for lo, hi in [(1 - 9.99e-4, 1 + 9.99e-4), (0.1, 0.3), (1.0, 1.0)]:
        lo32, hi32 = _driver._float32_within(lo, hi)
        assert lo32 >= lo and hi32 <= hi
        assert np.float32(lo32) == lo32 and np.float32(hi32) == hi32
        assert lo32 - lo < 1.2e-7 and hi - hi32 < 1.2e-7


def test_negative_zero_is_accepted_without_a_full_recheck(monkeypatch: pytest.MonkeyPatch) -> None:
    """-0.0 is a valid zero (``relu``, ``clamp(min=0)`` and ``np.clip`` keep it). The pass flags
    its sign bit; one ``amin`` over the block then clears it, instead of ``check_probs`` over
    the whole block, which made such pools ~14x slower (found in review)."""
    p = _probs(300, 4, 5)
    p[::7] = 0.0
    p[::7, :, 2] = 1.0
    p[::7, :, 0] = -0.0
    rechecks: list[tuple[int, int]] = []
    real = _driver._recheck

    def counted(t: torch.Tensor, is_log: bool, b0: int, b1: int) -> None:
        rechecks.append((b0, b1))
        real(t, is_log, b0, b1)

    monkeypatch.setattr(_driver, "_recheck", counted)
    got = {name: getattr(S, name)(p) for name in SCORE_NAMES}
    assert rechecks == []
    clean = np.where(p == 0, np.float32(0.0), p)  # the same values with +0.0
    for name in SCORE_NAMES:
        np.testing.assert_array_equal(got[name], getattr(S, name)(clean), err_msg=name)
    p[5, 1, 3] = -1e-6  # a real negative in the same pool is still rechecked, and rejected
    with pytest.raises(ProbabilityError, match=r"outside \[0, 1\]"):
        S.entropy(p)
    assert rechecks


def test_lazily_negated_views_take_the_torch_path() -> None:
    """``torch._neg_view`` gives a contiguous tensor whose memory holds -x: reading raw memory
    would score p where the tensor means -p (found in review)."""
    p = torch.from_numpy(_probs(10, 3, 4))
    neg = torch._neg_view(p)
    assert neg.is_neg() and neg.is_contiguous()
    with pytest.raises(ProbabilityError, match=r"outside \[0, 1\]"):
        S.entropy(neg)
    double_neg = torch._neg_view(torch.from_numpy(-_probs(10, 3, 4)))
    np.testing.assert_allclose(S.entropy(double_neg), S.entropy(_probs(10, 3, 4)), atol=1e-6)


class _Spy:
    def __init__(self, native: Any) -> None:
        self.native, self.calls, self.MAX_C = native, 0, native.MAX_C
        self.FLAG_SIGN, self.FLAG_SUM = native.FLAG_SIGN, native.FLAG_SUM

    def mean_check_f32(self, *args: Any) -> int:
        self.calls += 1
        return int(self.native.mean_check_f32(*args))


@pytest.mark.parametrize(
    "case, expected",
    [
        ("numpy-f32", True),
        ("torch-f32", True),
        ("f64", False),
        ("numpy-f16", True),  # converted to float32 on entry
        ("torch-f16", False),  # cast chunk by chunk
        ("log", False),
        ("non-contiguous", False),
        ("c=33", False),
        ("c=1", False),
    ],
)
def test_the_driver_uses_the_pass_only_where_it_applies(
    monkeypatch: pytest.MonkeyPatch, case: str, expected: bool
) -> None:
    spy = _Spy(_native())
    monkeypatch.setattr(_driver, "_NATIVE", spy)
    c = {"c=33": 33, "c=1": 1}.get(case, 5)
    p = _probs(30, 4, c)
    arg: Any = p
    kwargs: dict[str, Any] = {}
    if case == "torch-f32":
        arg = torch.from_numpy(p)
    elif case == "f64":
        arg = p.astype(np.float64)
    elif case == "numpy-f16":
        arg = p.astype(np.float16)
    elif case == "torch-f16":
        arg = torch.from_numpy(p).half()
    elif case == "log":
        arg, kwargs = None, {"log_probs": np.log(p)}
    elif case == "non-contiguous":
        arg = torch.from_numpy(np.ascontiguousarray(p.transpose(1, 0, 2))).transpose(0, 1)
    S.entropy(arg, **kwargs)
    assert (spy.calls > 0) == expected


@pytest.mark.parametrize("c", [2, 3, 7, 10, 16, 17, 31, 32])
@pytest.mark.parametrize("chunk_size", [None, 1, 13])
def test_both_paths_agree_on_every_score(
    monkeypatch: pytest.MonkeyPatch, c: int, chunk_size: int | None
) -> None:
    p = _probs(61, 6, c, seed=c, alpha=0.3)
    p[3] = 0.0
    p[3, :, 0] = 1.0  # exact zeros and a certain item
    native = {name: getattr(S, name)(p, chunk_size=chunk_size) for name in SCORE_NAMES}
    monkeypatch.setattr(_driver, "_NATIVE", None)
    for name in SCORE_NAMES:
        torch_path = getattr(S, name)(p, chunk_size=chunk_size)
        np.testing.assert_allclose(native[name], torch_path, rtol=0, atol=2e-6, err_msg=name)


def _message(call: Any) -> tuple[type, str] | None:
    try:
        call()
    except Exception as exc:  # noqa: BLE001
        return type(exc), str(exc)
    return None


@pytest.mark.parametrize(
    "mutate, where",
    list(itertools.product(["nan", "neg", "negzero", "sum", "within"], [0, 26, 39])),
)
def test_the_pass_defers_to_check_probs(
    monkeypatch: pytest.MonkeyPatch, mutate: str, where: int
) -> None:
    """Whatever the pass flags, check_probs decides: the same error (with the item index
    in the whole array) or, for -0.0 and sums inside the tolerance, the same scores."""
    p = _probs(40, 5, 6)
    if mutate == "nan":
        p[where, 1, 2] = np.nan
    elif mutate == "neg":
        p[where, 4, 5] = -1e-6
    elif mutate == "negzero":
        p[where, 0, :] = [1, 0, 0, 0, 0, 0]
        p[where, 0, 3] = -0.0
    elif mutate == "sum":
        p[where, 2] *= 1.01
    else:
        p[where, 2] *= 1.0 + 9.9e-4
    expected = _message(lambda: check_probs(p))
    for name in SCORE_NAMES:
        got = _message(lambda name=name: getattr(S, name)(p, chunk_size=7))
        assert got == expected, name
    if expected is None:
        native = {name: getattr(S, name)(p) for name in SCORE_NAMES}
        monkeypatch.setattr(_driver, "_NATIVE", None)
        for name in SCORE_NAMES:
            np.testing.assert_allclose(native[name], getattr(S, name)(p), atol=2e-6)


def test_both_paths_select_the_same_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs recorded before the compiled pass existed scored on the torch path: on inputs
    shaped like a trained network's MC-dropout samples (one sharp logit vector per item plus
    per-sample noise; 2,000 candidates, K = 20, as mnist-dbal scores them) the top-10
    batches of every mean-based and Bayesian score are the same on both paths."""
    from labelwise.select import top_k

    names = ["entropy", "bald", "margin", "ratio", "least_confidence", "mean_std",
             "variation_ratio", "expected_entropy"]
    native = _driver._NATIVE
    for draw in range(20):
        rng = np.random.default_rng(draw)
        logits = rng.normal(0, 3, (2000, 1, 10)) + rng.normal(0, 1, (2000, 20, 10))
        p = np.exp(logits - logits.max(-1, keepdims=True))
        p = (p / p.sum(-1, keepdims=True)).astype(np.float32)
        for name in names:
            monkeypatch.setattr(_driver, "_NATIVE", native)
            a = top_k(getattr(S, name)(p), 10, rng=0).indices
            monkeypatch.setattr(_driver, "_NATIVE", None)
            b = top_k(getattr(S, name)(p), 10, rng=0).indices
            assert list(a) == list(b), (draw, name)
