"""Hypothesis properties of labelwise.scores: invariances, bounds and identities that hold for
every valid input (small arrays, exact zeros and ties included)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import labelwise.scores as S
from labelwise._validation import check_probs
from tests._helpers import SCORE_NAMES as ALL

#: Every test runs on both paths of the score driver (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("score_path")

VOTES = {"variation_ratio", "vote_entropy"}  # depend on argmax: need untied maxima for class perms
TOL = 1e-12  # float64

SETTINGS = settings(max_examples=30, deadline=None)


@st.composite
def probs_arrays(draw, min_k=1, max_k=6, min_c=2, max_c=6):
    """float64 probabilities [N, K, C]; entries are exact zeros, ties or arbitrary floats."""
    n = draw(st.integers(1, 4))
    k = draw(st.integers(min_k, max_k))
    c = draw(st.integers(min_c, max_c))
    elements = st.one_of(st.just(0.0), st.just(0.5), st.floats(1e-6, 1.0))
    raw = draw(hnp.arrays(np.float64, (n, k, c), elements=elements))
    empty = raw.sum(-1) == 0
    raw[..., 0] = np.where(empty, 1.0, raw[..., 0])
    return raw / raw.sum(-1, keepdims=True)


def scores(p, **kw):
    return {name: getattr(S, name)(p, **kw) for name in ALL}


def _untied_argmax(p):
    top = np.sort(p, -1)
    return bool((top[..., -1] > top[..., -2]).all())


@SETTINGS
@given(probs_arrays(), st.randoms(use_true_random=False))
def test_invariant_to_permuting_classes(p, rnd):
    perm = list(range(p.shape[2]))
    rnd.shuffle(perm)
    a, b = scores(p), scores(p[:, :, perm])
    for name in ALL:
        if name in VOTES and not _untied_argmax(p):
            continue  # a tie goes to the lowest class index, which the permutation moves
        np.testing.assert_allclose(a[name], b[name], rtol=0, atol=TOL, err_msg=name)


@SETTINGS
@given(probs_arrays(), st.randoms(use_true_random=False))
def test_invariant_to_permuting_samples(p, rnd):
    perm = list(range(p.shape[1]))
    rnd.shuffle(perm)
    a, b = scores(p), scores(p[:, perm, :])
    for name in ALL:
        np.testing.assert_allclose(a[name], b[name], rtol=0, atol=TOL, err_msg=name)


@SETTINGS
@given(probs_arrays(min_c=1))
def test_bounds(p):
    _, k, c = p.shape
    s = {name: getattr(S, name)(p) for name in ALL if c >= 2 or name not in ("margin", "ratio")}
    log_c = math.log(c)
    assert (s["bald"] >= 0).all()
    assert (s["bald"] <= s["entropy"] + TOL).all()
    assert (s["entropy"] <= log_c + TOL).all()
    assert (s["expected_entropy"] >= 0).all()
    assert (s["expected_entropy"] <= s["entropy"] + TOL).all()  # concavity of H
    assert (s["kl_disagreement"] >= 0).all()
    assert ((0 <= s["least_confidence"]) & (s["least_confidence"] <= 1 - 1 / c + TOL)).all()
    if c >= 2:
        assert ((-1 <= s["margin"]) & (s["margin"] <= 0)).all()
        assert ((0 <= s["ratio"]) & (s["ratio"] <= 1)).all()
    assert ((0 <= s["variation_ratio"]) & (s["variation_ratio"] <= 1 - 1 / k + TOL)).all()
    assert ((0 <= s["vote_entropy"]) & (s["vote_entropy"] <= math.log(min(k, c)) + TOL)).all()
    assert ((0 <= s["mean_std"]) & (s["mean_std"] <= 0.5)).all()


@SETTINGS
@given(probs_arrays(min_k=1, max_k=1, min_c=1))
def test_single_sample_has_no_disagreement(p):
    s = {name: getattr(S, name)(p) for name in ALL if name not in ("margin", "ratio")}
    for name in ("bald", "kl_disagreement", "mean_std", "variation_ratio", "vote_entropy"):
        # exactly 0: rounding noise of ~1e-7 would otherwise decide a top-k batch
        np.testing.assert_array_equal(s[name], 0.0, err_msg=name)
    np.testing.assert_allclose(s["expected_entropy"], s["entropy"], rtol=0, atol=TOL)


@SETTINGS
@given(probs_arrays())
def test_kl_disagreement_equals_bald(p):
    np.testing.assert_allclose(S.kl_disagreement(p), S.bald(p), rtol=0, atol=TOL)


@SETTINGS
@given(probs_arrays())
def test_log_probs_give_the_same_scores(p):
    with np.errstate(divide="ignore"):
        lp = np.log(p)
    for name in ALL:
        if name in VOTES and not _untied_argmax(p):
            continue  # log can merge near-ties of tiny values differently; votes are exact
        np.testing.assert_allclose(
            getattr(S, name)(log_probs=lp),
            getattr(S, name)(p),
            rtol=0,
            atol=1e-10,
            err_msg=name,
        )


@SETTINGS
@given(probs_arrays(), st.integers(1, 5))
def test_chunk_size_does_not_change_scores(p, chunk):
    a, b = scores(p), scores(p, chunk_size=chunk)
    for name in ALL:
        np.testing.assert_allclose(a[name], b[name], rtol=0, atol=TOL, err_msg=name)


@SETTINGS
@given(probs_arrays())
def test_float32_close_to_float64(p):
    p32 = p.astype(np.float32)
    assume(np.abs(p32.astype(np.float64).sum(-1) - 1).max() < 1e-6)
    ref = scores(p32.astype(np.float64))
    got = scores(p32)
    for name in ALL:
        assert got[name].dtype == np.float32
        np.testing.assert_allclose(got[name], ref[name], rtol=0, atol=1e-5, err_msg=name)


@SETTINGS
@given(probs_arrays())
def test_torch_and_numpy_agree(p):
    for name in ALL:
        t = getattr(S, name)(torch.from_numpy(p))
        assert isinstance(t, torch.Tensor)
        np.testing.assert_array_equal(t.numpy(), getattr(S, name)(p))


def _outcome(call):
    try:
        call()
    except Exception as exc:  # noqa: BLE001
        return type(exc), str(exc)
    return None


@SETTINGS
@given(
    probs_arrays(max_k=3),
    st.floats(-2.5e-3, 2.5e-3),
    st.sampled_from([np.float32, np.float64]),
    st.integers(1, 3),
)
def test_validation_decides_like_check_probs(p, delta, dtype, chunk):
    """Perturb one row's sum around the tolerance: the fused check accepts and rejects
    exactly what check_probs does, with the same message."""
    q = p.copy()
    q[-1, -1, 0] += delta
    q = np.abs(q).astype(dtype)
    assert _outcome(lambda: S.entropy(q, chunk_size=chunk)) == _outcome(lambda: check_probs(q))
