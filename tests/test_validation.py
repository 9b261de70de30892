"""Shared validators: the fast finiteness check of embeddings is exact."""

from __future__ import annotations

import numpy as np
import pytest

from labelwise._validation import check_embeddings
from labelwise.errors import ProbabilityError, ShapeError


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_embeddings_are_rejected_wherever_they_are(bad: float) -> None:
    for row in (0, 2047, 4999):  # first chunk, a chunk boundary, the last chunk
        x = np.ones((5000, 512), dtype=np.float32)
        x[row, 7] = bad
        with pytest.raises(ProbabilityError, match="NaN or inf"):
            check_embeddings(x)


def test_inf_and_minus_inf_together_are_rejected() -> None:
    x = np.zeros((10, 4), dtype=np.float32)
    x[1, 1], x[2, 2] = np.inf, -np.inf
    with pytest.raises(ProbabilityError):
        check_embeddings(x)


def test_large_finite_values_whose_sum_overflows_are_accepted() -> None:
    x = np.full((64, 8), 3e38, dtype=np.float32)  # each finite; their float32 sum is inf
    assert check_embeddings(x).shape == (64, 8)


def test_shape_errors() -> None:
    with pytest.raises(ShapeError, match=r"\[N, D\]"):
        check_embeddings(np.ones(5, dtype=np.float32))
    with pytest.raises(ShapeError, match="rows but the pool has"):
        check_embeddings(np.ones((3, 2), dtype=np.float32), n=4)
