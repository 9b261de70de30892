"""The contract every public score in ``labelwise.scores`` must honour.

Discovered from ``labelwise.scores.__all__``: a new score joins this suite by being exported.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from labelwise import scores as S
from labelwise.errors import ProbabilityError, ShapeError

#: Every test runs on both paths of the score driver (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("score_path")

SCORES: list[tuple[str, Callable[..., Any]]] = [
    (name, getattr(S, name)) for name in S.__all__ if name != "native_available"
]


def _probs(n: int = 12, k: int = 5, c: int = 4, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(c, 0.5), size=(n, k)).astype(np.float32)
    p[0, :, :] = 0
    p[0, :, 1] = 1  # an exact one-hot row with exact zeros
    return p


def test_suite_discovers_scores() -> None:
    names = {n for n, _ in SCORES}
    assert {"entropy", "bald", "margin", "least_confidence", "variation_ratio"} <= names


@pytest.mark.parametrize("name,fn", SCORES, ids=[n for n, _ in SCORES])
class TestScoreContract:
    def test_shape_type_and_dtype(self, name: str, fn: Callable[..., Any]) -> None:
        p = _probs()
        out = fn(p)
        assert isinstance(out, np.ndarray) and out.shape == (12,)
        assert out.dtype == np.float32
        assert np.isfinite(out).all()
        t = fn(torch.from_numpy(p.astype(np.float64)))
        assert isinstance(t, torch.Tensor) and t.dtype == torch.float64 and t.shape == (12,)
        np.testing.assert_allclose(t.numpy(), out, atol=1e-5)

    def test_sign_higher_means_label_first(self, name: str, fn: Callable[..., Any]) -> None:
        certain = np.zeros((1, 4, 4), np.float64)
        certain[..., 0] = 1
        unsure = np.zeros((1, 4, 4), np.float64)
        unsure[0, :2, :2] = [0.7, 0.3]
        unsure[0, 2:, :2] = [0.3, 0.7]
        s = fn(np.concatenate([certain, unsure]))
        assert s[1] > s[0], f"{name}: an uncertain item must score higher than a certain one"

    def test_pure_deterministic_and_inputs_untouched(
        self, name: str, fn: Callable[..., Any]
    ) -> None:
        p = _probs(seed=1)
        before = p.copy()
        a, b = fn(p), fn(p)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(p, before)
        sig = inspect.signature(fn)
        assert "rng" not in sig.parameters, "scores must not be random"

    def test_log_probs_equivalent(self, name: str, fn: Callable[..., Any]) -> None:
        p = _probs(seed=2).astype(np.float64)
        with np.errstate(divide="ignore"):
            lp = np.log(p)
        np.testing.assert_allclose(fn(log_probs=lp), fn(p), atol=1e-6)

    def test_clear_errors(self, name: str, fn: Callable[..., Any]) -> None:
        p = _probs()
        bad = p.copy()
        bad[3, 1, 2] = np.nan
        with pytest.raises(ProbabilityError, match="NaN"):
            fn(bad)
        with pytest.raises(ShapeError, match=r"\[N, K, C\]"):
            fn(p[:, 0, :])
        with pytest.raises(ProbabilityError, match="sum to 1"):
            fn(p * 0.5)
        with pytest.raises(TypeError):
            fn(p, log_probs=np.log(p + 1e-9))
