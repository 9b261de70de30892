"""Registry entry for BatchBALD (loaded by :mod:`labelwise.strategies`)."""

from __future__ import annotations

from typing import Any

from labelwise._validation import RNGLike
from labelwise.select._selection import Selection
from labelwise.select.batchbald import batchbald
from labelwise.strategies import Strategy

__all__ = ["STRATEGIES"]


def _batchbald_fn(
    k: int, *, probs: Any, exclude: Any = None, rng: RNGLike = None, **params: Any
) -> Selection:
    params.pop("embeddings", None)
    params.pop("n", None)
    return batchbald(probs, k, exclude=exclude, rng=rng, **params)


STRATEGIES: list[Strategy] = [
    Strategy(
        "batchbald",
        "Greedy batch maximising the joint mutual information of the batch's labels "
        "and the parameters (diverse BALD).",
        "Kirsch et al. 2019, BatchBALD (NeurIPS)",
        frozenset({"probs"}),
        _batchbald_fn,
        joint_samples=True,
        min_samples=2,
    ),
]
