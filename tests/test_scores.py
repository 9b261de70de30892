"""Reference tests for labelwise.scores: hand-computed values, float64 brute force, the
array contract (kinds, dtypes, devices, inputs untouched, chunking) and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp

import labelwise.scores as S
from labelwise._validation import check_probs
from labelwise.errors import ProbabilityError, ShapeError
from labelwise.scores import _driver
from tests._helpers import SCORE_NAMES as ALL

#: Every test runs on both paths of the score driver (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("score_path")

LN2, LN3, LN4 = math.log(2), math.log(3), math.log(4)


def fn(name):
    return getattr(S, name)


# --------------------------------------------------------------------------- references


def _xlogx(p):
    """p log p with 0 log 0 = 0 (float64)."""
    safe = np.where(p > 0, p, 1.0)
    return np.where(p > 0, p * np.log(safe), 0.0)


def _H(p, axis=-1):
    return -_xlogx(p).sum(axis)


def reference(p):
    """Brute-force float64 NumPy value of every score for probs ``p`` [N, K, C]."""
    p = np.asarray(p, dtype=np.float64)
    n, k, c = p.shape
    pbar = p.mean(1)
    out = {}
    out["least_confidence"] = 1 - pbar.max(-1)
    if c >= 2:
        srt = np.sort(pbar, -1)
        out["margin"] = -(srt[:, -1] - srt[:, -2])
        out["ratio"] = srt[:, -2] / srt[:, -1]
    out["entropy"] = _H(pbar)
    out["consensus_entropy"] = _H(pbar)
    out["expected_entropy"] = _H(p).mean(1)
    out["bald"] = out["entropy"] - out["expected_entropy"]
    votes = p.argmax(-1)
    counts = np.stack([np.bincount(v, minlength=c) for v in votes]).astype(np.float64)
    out["variation_ratio"] = 1 - counts.max(1) / k
    out["vote_entropy"] = _H(counts / k)
    out["mean_std"] = np.sqrt(((p - pbar[:, None, :]) ** 2).mean(1)).mean(-1)
    # KL(p_k || pbar) term by term, loops on purpose (independent of the vectorised code).
    kl = np.zeros(n)
    for i in range(n):
        for j in range(k):
            for m in range(c):
                if p[i, j, m] > 0:
                    kl[i] += p[i, j, m] * math.log(p[i, j, m] / pbar[i, m])
    out["kl_disagreement"] = kl / k
    return out


def reference_log(lp):
    """float64 reference from log-probabilities with logsumexp for the mean."""
    lp = np.asarray(lp, dtype=np.float64)
    k = lp.shape[1]
    p = np.exp(lp)
    log_pbar = logsumexp(lp, axis=1) - math.log(k)
    pbar = np.exp(log_pbar)
    fin = np.isfinite(lp)
    xlogx = np.where(fin, p * np.where(fin, lp, 0.0), 0.0)
    pbar_log = np.where(
        np.isfinite(log_pbar), pbar * np.where(np.isfinite(log_pbar), log_pbar, 0), 0
    )
    out = reference(p)  # ranking scores depend on pbar / argmax only
    out["entropy"] = out["consensus_entropy"] = -pbar_log.sum(-1)
    out["expected_entropy"] = -xlogx.sum((1, 2)) / k
    out["bald"] = out["entropy"] - out["expected_entropy"]
    diff = np.where(fin, lp - log_pbar[:, None, :], 0.0)
    out["kl_disagreement"] = (p * diff).sum((1, 2)) / k
    return out


def dirichlet(rng, n, k, c, *, zeros=0.2, alpha=0.5, dtype=np.float64):
    """Random probabilities [n, k, c] with exact zeros (a fraction ``zeros`` of entries)."""
    p = rng.dirichlet(np.full(c, alpha), size=(n, k))
    if c > 1 and zeros:
        mask = rng.random((n, k, c)) < zeros
        keep = rng.integers(0, c, size=(n, k))
        mask[np.arange(n)[:, None], np.arange(k)[None, :], keep] = False
        p = np.where(mask, 0.0, p)
        p /= p.sum(-1, keepdims=True)
    return p.astype(dtype)


# --------------------------------------------------------------------------- hand values

# Each case: probs [1, K, C] and the value of every score, worked out on paper.
HAND = {
    # Uniform over 4 classes, 3 identical samples.
    "uniform": (
        np.full((1, 3, 4), 0.25),
        {
            "least_confidence": 0.75,
            "margin": 0.0,
            "ratio": 1.0,
            "entropy": LN4,
            "consensus_entropy": LN4,
            "expected_entropy": LN4,
            "bald": 0.0,
            "variation_ratio": 0.0,  # all vote class 0 (tie)
            "mean_std": 0.0,
            "vote_entropy": 0.0,
            "kl_disagreement": 0.0,
        },
    ),
    # Identical one-hot samples: certain, no disagreement.
    "one_hot": (
        np.array([[[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]]]),
        {
            "least_confidence": 0.0,
            "margin": -1.0,
            "ratio": 0.0,
            "entropy": 0.0,
            "consensus_entropy": 0.0,
            "expected_entropy": 0.0,
            "bald": 0.0,
            "variation_ratio": 0.0,
            "mean_std": 0.0,
            "vote_entropy": 0.0,
            "kl_disagreement": 0.0,
        },
    ),
    # Two confident samples that disagree: pbar = [1/2, 1/2], maximal BALD for C = 2.
    "disagree": (
        np.array([[[1.0, 0.0], [0.0, 1.0]]]),
        {
            "least_confidence": 0.5,
            "margin": 0.0,
            "ratio": 1.0,
            "entropy": LN2,
            "consensus_entropy": LN2,
            "expected_entropy": 0.0,
            "bald": LN2,
            "variation_ratio": 0.5,
            "mean_std": 0.5,
            "vote_entropy": LN2,
            "kl_disagreement": LN2,
        },
    ),
    # Samples [1/2, 1/2] and [1, 0]: pbar = [3/4, 1/4].
    # H[pbar] = 3/4 ln(4/3) + 1/4 ln 4; E H = (ln 2 + 0) / 2; std of each class = 1/4.
    # Both samples vote class 0 (the tie in sample 1 goes to the lowest index).
    "half_and_one": (
        np.array([[[0.5, 0.5], [1.0, 0.0]]]),
        {
            "least_confidence": 0.25,
            "margin": -0.5,
            "ratio": 1 / 3,
            "entropy": 0.75 * math.log(4 / 3) + 0.25 * LN4,
            "consensus_entropy": 0.75 * math.log(4 / 3) + 0.25 * LN4,
            "expected_entropy": LN2 / 2,
            "bald": 0.75 * math.log(4 / 3) + 0.25 * LN4 - LN2 / 2,
            "variation_ratio": 0.0,
            "mean_std": 0.25,
            "vote_entropy": 0.0,
            # KL([.5,.5] || [.75,.25]) = .5 ln(2/3) + .5 ln 2; KL([1,0] || pbar) = ln(4/3)
            "kl_disagreement": (0.5 * math.log(2 / 3) + 0.5 * LN2 + math.log(4 / 3)) / 2,
        },
    ),
    # Four members over 3 classes voting 0, 0, 1, 2.
    # pbar = [.45, .3, .25]; votes histogram [1/2, 1/4, 1/4].
    "votes": (
        np.array([[[0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.2, 0.1, 0.7]]]),
        {
            "least_confidence": 0.55,
            "margin": -0.15,
            "ratio": 0.3 / 0.45,
            "variation_ratio": 0.5,
            "vote_entropy": 0.5 * LN2 + 0.5 * LN4,
            "entropy": -(0.45 * math.log(0.45) + 0.3 * math.log(0.3) + 0.25 * math.log(0.25)),
        },
    ),
}


@pytest.mark.parametrize("case", sorted(HAND))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_hand_computed_values(case, dtype):
    probs, expected = HAND[case]
    tol = 1e-6 if dtype == np.float32 else 1e-12
    for name, value in expected.items():
        got = fn(name)(probs.astype(dtype))
        assert got.shape == (1,)
        assert got.dtype == dtype
        assert abs(float(got[0]) - value) <= tol, (case, name, float(got[0]), value)


@pytest.mark.parametrize("case", sorted(HAND))
def test_hand_computed_values_from_log_probs(case):
    probs, expected = HAND[case]
    with np.errstate(divide="ignore"):
        lp = np.log(probs)  # exact zeros become -inf
    for name, value in expected.items():
        got = fn(name)(log_probs=lp)
        assert np.isfinite(got).all()
        assert abs(float(got[0]) - value) <= 1e-12, (case, name, float(got[0]), value)


def test_hand_values_reference_agrees():
    """The brute force itself reproduces the hand-computed values (it checks the rest)."""
    for probs, expected in HAND.values():
        ref = reference(probs)
        for name, value in expected.items():
            assert ref[name][0] == pytest.approx(value, abs=1e-12)


def test_aliases():
    assert S.predictive_entropy is S.entropy
    assert S.mutual_information is S.bald
    assert set(S.__all__) == set(ALL) | {
        "predictive_entropy",
        "mutual_information",
        "native_available",
    }


# --------------------------------------------------------------------------- brute force


@pytest.mark.parametrize("shape", [(40, 1, 3), (60, 5, 2), (50, 7, 10), (30, 3, 70), (5, 2, 600)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_bruteforce(shape, dtype):
    """Random Dirichlet inputs with exact zeros; shapes hit both mean/row-sum code paths
    (C + K <= 64 and above) and the float64 row sums used for very large C."""
    rng = np.random.default_rng(sum(shape))
    p = dirichlet(rng, *shape, dtype=dtype)
    ref = reference(p.astype(np.float64))
    tol = 1e-5 if dtype == np.float32 else 1e-10
    for name in ALL:
        if name in ("margin", "ratio") and shape[2] < 2:
            continue
        got = fn(name)(p)
        assert got.dtype == dtype
        np.testing.assert_allclose(got, ref[name], rtol=0, atol=tol, err_msg=name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_probs_match_bruteforce_with_extreme_values(dtype):
    """log_softmax of widely spread logits: many probabilities underflow in float32 and some
    log-probabilities are -inf; results must stay finite and match a float64 logsumexp
    reference."""
    rng = np.random.default_rng(7)
    logits = rng.normal(0, 40, size=(64, 6, 9))
    logits[rng.random(logits.shape) < 0.1] = -np.inf
    logits[..., 0] = np.maximum(logits[..., 0], 0)  # every row keeps a finite entry
    lp64 = logits - logsumexp(logits, axis=-1, keepdims=True)
    lp = lp64.astype(dtype)
    ref = reference_log(lp.astype(np.float64))
    tol = 1e-5 if dtype == np.float32 else 1e-10
    for name in ALL:
        got = fn(name)(log_probs=lp)
        assert got.dtype == dtype
        assert np.isfinite(got).all(), name
        np.testing.assert_allclose(got, ref[name], rtol=0, atol=tol, err_msg=name)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_probs_and_log_probs_agree(dtype):
    rng = np.random.default_rng(3)
    p = torch.from_numpy(dirichlet(rng, 80, 6, 5)).to(dtype)
    lp = torch.log(p)  # -inf at the exact zeros
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    for name in ALL:
        a, b = fn(name)(p), fn(name)(log_probs=lp)
        assert a.dtype == b.dtype == dtype
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=tol, err_msg=name)


def test_kl_disagreement_equals_bald():
    rng = np.random.default_rng(11)
    for dtype, tol in [(np.float32, 2e-6), (np.float64, 1e-12)]:
        p = dirichlet(rng, 200, 8, 6, dtype=dtype)
        np.testing.assert_allclose(S.kl_disagreement(p), S.bald(p), rtol=0, atol=tol)


def test_consensus_entropy_equals_entropy():
    p = dirichlet(np.random.default_rng(1), 50, 4, 7, dtype=np.float32)
    np.testing.assert_array_equal(S.consensus_entropy(p), S.entropy(p))


def test_bald_of_identical_samples_is_zero_not_negative():
    """Rounding must not produce negative BALD (it is clamped)."""
    rng = np.random.default_rng(5)
    one = rng.dirichlet(np.ones(10), size=(500, 1)).astype(np.float32)
    p = np.repeat(one, 20, axis=1)
    for name in ("bald", "kl_disagreement", "mean_std", "variation_ratio"):
        got = fn(name)(p)
        # 1e-6 also rules out the one-pass std, sqrt(E[p^2] - E[p]^2) ~ 1e-4 in float32.
        assert (got >= 0).all() and np.abs(got).max() < 1e-6, name


# --------------------------------------------------------------------------- array contract


def test_numpy_in_numpy_out_and_torch_in_torch_out():
    p = dirichlet(np.random.default_rng(0), 20, 3, 4, dtype=np.float32)
    for name in ALL:
        a = fn(name)(p)
        b = fn(name)(torch.from_numpy(p))
        assert isinstance(a, np.ndarray) and a.shape == (20,)
        assert isinstance(b, torch.Tensor) and b.shape == (20,) and b.device.type == "cpu"
        np.testing.assert_array_equal(a, b.numpy())


@pytest.mark.parametrize(
    "in_dtype,out_dtype",
    [
        (torch.float32, torch.float32),
        (torch.float64, torch.float64),
        (torch.float16, torch.float32),
        (torch.bfloat16, torch.float32),
    ],
)
def test_dtypes(in_dtype, out_dtype):
    p = torch.full((5, 2, 4), 0.25, dtype=in_dtype)
    for name in ALL:
        got = fn(name)(p)
        assert got.dtype == out_dtype, name
    np.testing.assert_allclose(S.entropy(p).numpy(), LN4, rtol=1e-6)
    if in_dtype != torch.bfloat16:  # log(1/4) in bfloat16 sums to 1.0035: rejected
        lp = torch.log(p.double()).to(in_dtype)
        assert S.bald(log_probs=lp).dtype == out_dtype


def test_numpy_float16_input():
    p = np.full((3, 2, 4), 0.25, dtype=np.float16)
    got = S.entropy(p)
    assert isinstance(got, np.ndarray) and got.dtype == np.float32
    np.testing.assert_allclose(got, LN4, rtol=1e-6)


def test_inputs_are_not_modified():
    rng = np.random.default_rng(2)
    p = dirichlet(rng, 30, 4, 5, dtype=np.float32)
    with np.errstate(divide="ignore"):
        lp = np.log(p)
    p_copy, lp_copy = p.copy(), lp.copy()
    pt, lpt = torch.from_numpy(p.copy()), torch.from_numpy(lp.copy())
    pt_copy, lpt_copy = pt.clone(), lpt.clone()
    for name in ALL:
        fn(name)(p, chunk_size=7)
        fn(name)(log_probs=lp, chunk_size=7)
        fn(name)(pt)
        fn(name)(log_probs=lpt)
    np.testing.assert_array_equal(p, p_copy)
    np.testing.assert_array_equal(lp, lp_copy)
    assert torch.equal(pt, pt_copy) and torch.equal(lpt, lpt_copy)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_chunked_equals_unchunked(dtype):
    rng = np.random.default_rng(4)
    p = dirichlet(rng, 53, 5, 6, dtype=dtype)
    with np.errstate(divide="ignore"):
        lp = np.log(p)
    tol = 1e-6 if dtype == np.float32 else 1e-13
    for name in ALL:
        whole = fn(name)(p, chunk_size=10_000)
        whole_log = fn(name)(log_probs=lp, chunk_size=10_000)
        for cs in (1, 7, 53, None):
            np.testing.assert_allclose(fn(name)(p, chunk_size=cs), whole, rtol=0, atol=tol)
            np.testing.assert_allclose(
                fn(name)(log_probs=lp, chunk_size=cs), whole_log, rtol=0, atol=tol
            )


@pytest.mark.parametrize("block_elements", [1, 400])
def test_blocks_of_chunks_do_not_change_scores_or_errors(monkeypatch, block_elements):
    """Several blocks (the outer stage runs per block of chunks): same scores, and an error
    in a later block still names the item's index in the whole array."""
    rng = np.random.default_rng(8)
    p = dirichlet(rng, 61, 4, 5, dtype=np.float32)
    with np.errstate(divide="ignore"):
        lp = np.log(p)
    ref = {name: fn(name)(p, chunk_size=6) for name in ALL}
    ref_log = {name: fn(name)(log_probs=lp, chunk_size=6) for name in ALL}
    monkeypatch.setattr(_driver, "BLOCK_ELEMENTS", block_elements)
    for name in ALL:
        np.testing.assert_allclose(fn(name)(p, chunk_size=6), ref[name], rtol=0, atol=1e-6)
        np.testing.assert_allclose(
            fn(name)(log_probs=lp, chunk_size=6), ref_log[name], rtol=0, atol=1e-6
        )
    bad = p.copy()
    bad[47, 3, 1] = np.nan
    with pytest.raises(ProbabilityError, match=r"first at item 47\)"):
        S.bald(bad, chunk_size=6)
    bad = p.copy()
    bad[52, 0] *= 1.01
    with pytest.raises(ProbabilityError, match="item 52 sums to"):
        S.margin(bad, chunk_size=6)


def test_default_chunk_rows():
    assert _driver.default_chunk_rows(20, 10) == (1 << 18) // 200
    assert _driver.default_chunk_rows(100, 100_000) == 1  # one item larger than the target


def test_non_contiguous_input():
    rng = np.random.default_rng(6)
    p = dirichlet(rng, 6, 20, 4)  # [N, K, C] built as [K, N, C] below
    p_knc = np.ascontiguousarray(p.transpose(1, 0, 2))
    view = torch.from_numpy(p_knc).transpose(0, 1)  # [N, K, C], not contiguous
    assert not view.is_contiguous()
    for name in ALL:
        np.testing.assert_allclose(fn(name)(view, chunk_size=4).numpy(), fn(name)(p), atol=1e-12)


def test_tensor_requiring_grad_is_accepted():
    p = torch.full((4, 3, 2), 0.5, dtype=torch.float64, requires_grad=True)
    got = S.bald(p)
    assert not got.requires_grad
    assert torch.equal(got, torch.zeros(4, dtype=torch.float64))


def test_list_input():
    got = S.entropy([[[0.5, 0.5]]])
    assert isinstance(got, np.ndarray)
    assert got[0] == pytest.approx(LN2)


def test_deterministic():
    p = dirichlet(np.random.default_rng(9), 300, 10, 10, dtype=np.float32)
    for name in ALL:
        np.testing.assert_array_equal(fn(name)(p), fn(name)(p))


# --------------------------------------------------------------------------- errors


def _good(n=10, k=3, c=4, dtype=np.float32):
    return dirichlet(np.random.default_rng(0), n, k, c, dtype=dtype)


@pytest.mark.parametrize("name", ALL)
def test_nan_is_rejected_with_global_item_index(name):
    p = _good(n=20)
    p[13, 1, 2] = np.nan
    with pytest.raises(ProbabilityError, match=r"probs contains NaN or inf \(first at item 13\)"):
        fn(name)(p, chunk_size=5)


def test_inf_is_rejected():
    p = _good()
    p[2, 0, 0] = np.inf
    with pytest.raises(ProbabilityError, match="NaN or inf"):
        S.entropy(p)


def test_two_dimensional_input_gets_a_hint():
    with pytest.raises(ShapeError, match=r"\[N, K, C\].*got shape \(10, 4\).*probs\[:, None, :\]"):
        S.bald(np.full((10, 4), 0.25, dtype=np.float32))


@pytest.mark.parametrize("shape", [(4,), (2, 3, 4, 5)])
def test_wrong_rank(shape):
    with pytest.raises(ShapeError, match=r"must be \[N, K, C\]"):
        S.entropy(np.full(shape, 0.2, dtype=np.float32))


def test_empty_axis():
    with pytest.raises(ShapeError, match="empty axis"):
        S.entropy(np.zeros((0, 3, 4), dtype=np.float32))


def test_rows_not_summing_to_one_name_the_item():
    p = _good(n=20)
    p[9, 2] *= 1.1
    with pytest.raises(ProbabilityError, match=r"rows must sum to 1.*item 9 sums to 1\.1"):
        S.margin(p, chunk_size=4)


def test_negative_values():
    p = _good()
    p[3, 0, :2] = [-0.1, p[3, 0, 0] + p[3, 0, 1] + 0.1]
    with pytest.raises(ProbabilityError, match="outside \\[0, 1\\].*logits"):
        S.entropy(p)


def test_int_dtype():
    with pytest.raises(ProbabilityError, match="floating-point.*int64"):
        S.entropy(np.zeros((2, 3, 4), dtype=np.int64))


def test_both_or_neither_of_probs_and_log_probs():
    p = _good()
    with pytest.raises(TypeError, match="exactly one of probs"):
        S.bald()
    with pytest.raises(TypeError, match="exactly one of probs"):
        S.bald(p, log_probs=p - 1)


def test_not_an_array():
    with pytest.raises(TypeError, match="numpy array or a torch tensor"):
        S.entropy("probs")


def test_log_probs_errors():
    with np.errstate(divide="ignore"):
        lp = np.log(_good())
    bad = lp.copy()
    bad[1, 1, 1] = 0.5
    with pytest.raises(ProbabilityError, match="values > 0"):
        S.bald(log_probs=bad)
    bad = lp.copy()
    bad[4, 0, 0] = np.nan
    with pytest.raises(ProbabilityError, match="first at item 4"):
        S.bald(log_probs=bad)
    bad = lp.copy()
    bad[0, 0, :] = -np.inf  # a row with no probability mass
    with pytest.raises(ProbabilityError, match="item 0 sums to 0"):
        S.entropy(log_probs=bad)


@pytest.mark.parametrize("name", ["margin", "ratio"])
def test_margin_and_ratio_need_two_classes(name):
    with pytest.raises(ShapeError, match=rf"{name} needs at least 2 classes.*C = 1"):
        fn(name)(np.ones((5, 2, 1), dtype=np.float32))
    # the other scores accept C = 1 (a single class is certain)
    assert S.entropy(np.ones((5, 2, 1), dtype=np.float32)).tolist() == [0.0] * 5


@pytest.mark.parametrize(
    "bad,exc", [(0, ValueError), (-3, ValueError), (2.5, TypeError), (True, TypeError)]
)
def test_bad_chunk_size(bad, exc):
    with pytest.raises(exc, match="chunk_size"):
        S.entropy(_good(), chunk_size=bad)


def _message(call):
    try:
        call()
    except Exception as exc:  # noqa: BLE001
        return type(exc), str(exc)
    return None


@pytest.mark.parametrize("mutate", ["nan", "neg", "big", "sum", "posinf"])
def test_errors_are_exactly_those_of_check_probs(mutate):
    p = _good(n=40)
    i = 27
    if mutate == "nan":
        p[i, 0, 0] = np.nan
    elif mutate == "neg":
        p[i, 0, 0] = -1e-4
    elif mutate == "big":
        p[i, 0, 0] = 1.5
    elif mutate == "sum":
        p[i, 2] *= 0.9
    else:
        p[i, 1, 3] = np.inf
    expected = _message(lambda: check_probs(p))
    assert expected is not None
    for name in ALL:
        assert _message(lambda name=name: fn(name)(p, chunk_size=6)) == expected, name
        assert _message(lambda name=name: fn(name)(torch.from_numpy(p))) == expected, name


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "offset", [0.9990e-3, 0.99999e-3, 1.00001e-3, 1.0010e-3, -0.9990e-3, -1.0010e-3]
)
def test_row_sum_tolerance_boundary_matches_check_probs(dtype, offset):
    """Rows within rounding distance of the 1e-3 tolerance: the fused check defers to
    check_probs, so both accept or both reject."""
    p = np.full((6, 2, 4), 0.25, dtype=np.float64)
    p[4, 1, 0] += offset
    p = p.astype(dtype)
    expected = _message(lambda: check_probs(p))
    got = _message(lambda: S.entropy(p, chunk_size=2))
    assert got == expected


@pytest.mark.parametrize("name", ["bald", "kl_disagreement"])
def test_one_sample_gives_exact_zeros_not_rounding_noise(name: str) -> None:
    """With K = 1 the mean over K goes through the fused product and differs from the sample
    by rounding, so H[pbar] - H[p] was ~1e-7 noise for a quarter of the items, which then
    decided a top-k batch. One sample cannot disagree with itself: the score is exactly 0."""
    p = np.random.default_rng(0).dirichlet(np.ones(10), size=(500, 1)).astype(np.float32)
    np.testing.assert_array_equal(getattr(S, name)(p), np.zeros(500, np.float32))
