"""Stochastic batch acquisition (Kirsch, Farquhar, Atighehchian, Jesson, Branchaud-Charron, Gal,
"Stochastic Batch Acquisition: A Simple Baseline for Deep Active Learning", TMLR 2023).

Instead of the top-k of a single-item score, a batch is *sampled* without replacement with
probabilities that favour high scores. This costs one sort (Gumbel-top-k) yet matches
BatchBALD and BADGE on many benchmarks, because sampling avoids filling a batch with
near-duplicates.

Three distributions, each with a coldness ``beta`` (beta -> inf recovers top-k, beta = 0 is
uniform random):

- ``"softmax"``:  p_i ∝ exp(beta * s_i)
- ``"power"``:    p_i ∝ s_i ** beta            (scores must be >= 0, e.g. BALD, entropy)
- ``"softrank"``: p_i ∝ rank_i ** (-beta)       (rank 1 = highest score; scale free)

Sampling k items without replacement from p is done exactly by adding i.i.d. Gumbel(0, 1)
noise to log p and taking the top k (the Gumbel-top-k trick, Kool et al. 2019).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from labelwise._validation import RNGLike, check_exclude, check_k, check_rng, check_scores
from labelwise.errors import ProbabilityError
from labelwise.select._selection import Selection
from labelwise.select._topk import _top_k_kernel

__all__ = ["StochasticMode", "sampling_log_weights", "stochastic_batch"]

StochasticMode = Literal["power", "softmax", "softrank"]
_MODES = ("power", "softmax", "softrank")


def sampling_log_weights(scores: np.ndarray, mode: str, beta: float) -> np.ndarray:
    """Unnormalised log-probabilities ``log p_i`` of the chosen distribution (float64).

    ``beta = 0`` is the uniform distribution in every mode (also for scores of 0 or
    ``-inf``, where ``0 * log 0`` would be undefined). Tied scores get equal
    probabilities: soft-rank gives them their average rank.
    """
    s = np.asarray(scores, dtype=np.float64)
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    if mode == "power" and (s < 0).any():
        raise ProbabilityError(
            "power sampling needs scores >= 0 (p ∝ score ** beta); got a negative score. "
            "Use mode='softmax' or 'softrank' for signed scores such as margin"
        )
    if beta == 0:
        return np.zeros_like(s)
    if mode == "softmax":
        return beta * s
    if mode == "power":
        with np.errstate(divide="ignore"):
            return beta * np.log(s)
    # softrank: rank 1 = highest score; ties share their average rank
    from scipy.stats import rankdata

    ranks = rankdata(-s, method="average")
    return -beta * np.log(ranks)


def stochastic_batch(
    scores: Any,
    k: int,
    *,
    mode: StochasticMode = "power",
    beta: float = 1.0,
    exclude: Any = None,
    rng: RNGLike = None,
) -> Selection:
    """Sample a batch of ``k`` items with probabilities increasing in their score.

    Parameters
    ----------
    scores : array [N]
        Single-item acquisition scores, higher = more informative.
    k : int
        Batch size.
    mode : {"power", "softmax", "softrank"}
        Sampling distribution (see module docstring). Kirsch et al. recommend power for
        non-negative scores such as BALD and entropy.
    beta : float
        Coldness, >= 0. Default 1 as in the paper.
    exclude : array of int, optional
        Positions never to select.
    rng : int, numpy Generator or None
        Source of the Gumbel noise.

    Returns
    -------
    Selection
        ``gains`` are the items' scores; ``info`` records mode and beta.
    """
    s = check_scores(scores)
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    if not np.isfinite(beta) or beta < 0:
        raise ValueError(f"beta must be a finite number >= 0, got {beta!r}")
    n = s.shape[0]
    mask = check_exclude(exclude, n)
    cand = np.flatnonzero(~mask)
    k = check_k(k, cand.size)
    gen = check_rng(rng)
    s_np = s.detach().cpu().numpy().astype(np.float64, copy=False)
    logw = sampling_log_weights(s_np[cand], mode, float(beta))
    perturbed = logw + gen.gumbel(size=cand.size)
    local = _top_k_kernel(perturbed, None, k, gen)  # -inf weights only fill, at random
    picked = cand[local]
    return Selection(picked, s_np[picked], {"method": f"stochastic-{mode}", "beta": float(beta)})


