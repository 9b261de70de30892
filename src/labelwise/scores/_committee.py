"""Query-by-committee disagreement scores: vote entropy, consensus entropy and KL
disagreement. The K axis holds committee members (or MC samples)."""

from __future__ import annotations

from typing import Any

from labelwise._validation import ArrayLike
from labelwise.scores import _kernels as K
from labelwise.scores._driver import run_score

__all__ = ["consensus_entropy", "kl_disagreement", "vote_entropy"]


def vote_entropy(
    probs: Any = None, *, log_probs: Any = None, chunk_size: int | None = None
) -> ArrayLike:
    """Vote entropy: entropy (nats) of the histogram of the members' hard votes / K.

    Dagan & Engelson (1995), "Committee-based sampling for training probabilistic
    classifiers" (ICML). Each member votes for its argmax class (ties within a member go to
    the lowest class index, as ``numpy.argmax``).

    Parameters
    ----------
    probs : array [N, K, C], optional
        Committee predictions: N items, K members, C classes; numpy array or torch tensor,
        float32 or float64.
    log_probs : array [N, K, C], optional
        Log-probabilities instead of ``probs`` (exactly one of the two is given).
    chunk_size : int, optional
        Items scored per chunk; bounds the extra memory (default: ~2^18 / (K*C) items).

    Returns
    -------
    scores : array [N]
        In ``[0, log min(K, C)]`` nats; 0 when all members agree (and for K = 1). Same
        kind, device and float dtype as the input.

    Raises
    ------
    TypeError
        Neither or both of ``probs`` and ``log_probs``, or not an array.
    ShapeError
        Not ``[N, K, C]`` or an empty axis.
    ProbabilityError
        NaN/inf, negative values, rows not summing to 1, or a non-float dtype.
    """
    return run_score(K.VOTE_ENTROPY, probs, log_probs, chunk_size, score_name="vote_entropy")


def consensus_entropy(
    probs: Any = None, *, log_probs: Any = None, chunk_size: int | None = None
) -> ArrayLike:
    """Consensus entropy: entropy (nats) of the committee's averaged distribution.

    The query-by-committee name of :func:`labelwise.scores.entropy` (same values):
    Settles (2009), "Active learning literature survey", section 3.3.

    Parameters
    ----------
    probs : array [N, K, C], optional
        Committee predictions; see :func:`vote_entropy`.
    log_probs : array [N, K, C], optional
        Log-probabilities instead of ``probs``.
    chunk_size : int, optional
        Items scored per chunk (default: ~2^18 / (K*C) items).

    Returns
    -------
    scores : array [N]
        In ``[0, log C]`` nats.

    Raises
    ------
    ShapeError, ProbabilityError, TypeError
        As :func:`vote_entropy`.
    """
    return run_score(K.ENTROPY, probs, log_probs, chunk_size, score_name="consensus_entropy")


def kl_disagreement(
    probs: Any = None, *, log_probs: Any = None, chunk_size: int | None = None
) -> ArrayLike:
    """KL disagreement: ``mean_k KL(p_k || pbar)`` in nats.

    McCallum & Nigam (1998), "Employing EM and pool-based active learning for text
    classification" (ICML). Mathematically equal to BALD (:func:`labelwise.scores.bald`);
    computed here directly, term by term, as ``mean_k sum_c p_kc (log p_kc - log pbar_c)``
    (an independent computation from ``bald``'s difference of entropies; both carry ~1e-7
    nats of float32 rounding, which matters only for items with near-zero disagreement).

    Parameters
    ----------
    probs : array [N, K, C], optional
        Committee predictions; see :func:`vote_entropy`. Exact zeros contribute 0.
    log_probs : array [N, K, C], optional
        Log-probabilities instead of ``probs`` (``-inf`` allowed).
    chunk_size : int, optional
        Items scored per chunk (default: ~2^18 / (K*C) items).

    Returns
    -------
    scores : array [N]
        ``>= 0`` (tiny negative rounding is clamped); 0 for K = 1.

    Raises
    ------
    ShapeError, ProbabilityError, TypeError
        As :func:`vote_entropy`.
    """
    return run_score(K.KL_DISAGREEMENT, probs, log_probs, chunk_size, score_name="kl_disagreement")
