"""Uncertainty scores of the mean prediction ``pbar = mean_k p_k``: least confidence,
margin, ratio and (predictive) entropy."""

from __future__ import annotations

from typing import Any

from labelwise._validation import ArrayLike
from labelwise.scores import _kernels as K
from labelwise.scores._driver import run_score

__all__ = ["entropy", "least_confidence", "margin", "predictive_entropy", "ratio"]


def least_confidence(
    probs: Any = None, *, log_probs: Any = None, chunk_size: int | None = None
) -> ArrayLike:
    """Least confidence: ``1 - max_c pbar_c`` of the mean prediction.

    Lewis & Gale (1994), "A sequential algorithm for training text classifiers" (SIGIR);
    survey: Settles (2009), "Active learning literature survey".

    Parameters
    ----------
    probs : array [N, K, C], optional
        Predictive probabilities: N items, K stochastic samples / committee members
        (K = 1 for a deterministic model), C classes. numpy array or torch tensor,
        float32 or float64; each ``probs[i, k]`` sums to 1.
    log_probs : array [N, K, C], optional
        Log-probabilities instead of ``probs`` (exactly one of the two is given).
    chunk_size : int, optional
        Items scored per chunk; bounds the extra memory (default: ~2^18 / (K*C) items).

    Returns
    -------
    scores : array [N]
        In ``[0, 1 - 1/C]``; higher = label first. Same kind (numpy / torch), device and
        float dtype as the input (float32 for float16 / bfloat16 tensors).

    Raises
    ------
    TypeError
        Neither or both of ``probs`` and ``log_probs``, or not an array.
    ShapeError
        Not ``[N, K, C]`` (a 2-D input gets a hint to add the sample axis) or an empty axis.
    ProbabilityError
        NaN/inf, negative values, rows not summing to 1, or a non-float dtype.
    """
    return run_score(
        K.LEAST_CONFIDENCE, probs, log_probs, chunk_size, score_name="least_confidence"
    )


def margin(probs: Any = None, *, log_probs: Any = None, chunk_size: int | None = None) -> ArrayLike:
    """Margin: ``-(pbar_top1 - pbar_top2)``, so that the smallest gap scores highest.

    Scheffer, Decomain & Wrobel (2001), "Active hidden Markov models for information
    extraction" (IDA). The sign is flipped so that higher = label first.

    Parameters
    ----------
    probs : array [N, K, C], optional
        Predictive probabilities (C >= 2); see :func:`least_confidence`.
    log_probs : array [N, K, C], optional
        Log-probabilities instead of ``probs``.
    chunk_size : int, optional
        Items scored per chunk (default: ~2^18 / (K*C) items).

    Returns
    -------
    scores : array [N]
        In ``[-1, 0]``; 0 for a tie between the two most probable classes.

    Raises
    ------
    ShapeError
        C < 2 (the margin needs two classes), or not ``[N, K, C]``.
    ProbabilityError, TypeError
        As :func:`least_confidence`.
    """
    return run_score(K.MARGIN, probs, log_probs, chunk_size, score_name="margin", min_classes=2)


def ratio(probs: Any = None, *, log_probs: Any = None, chunk_size: int | None = None) -> ArrayLike:
    """Confidence ratio: ``pbar_top2 / pbar_top1`` of the mean prediction.

    Settles (2009), "Active learning literature survey" (ratio of the two most likely
    labels); a scale-free variant of :func:`margin`.

    Parameters
    ----------
    probs : array [N, K, C], optional
        Predictive probabilities (C >= 2); see :func:`least_confidence`.
    log_probs : array [N, K, C], optional
        Log-probabilities instead of ``probs``.
    chunk_size : int, optional
        Items scored per chunk (default: ~2^18 / (K*C) items).

    Returns
    -------
    scores : array [N]
        In ``[0, 1]``; 1 for a tie between the two most probable classes.

    Raises
    ------
    ShapeError
        C < 2, or not ``[N, K, C]``.
    ProbabilityError, TypeError
        As :func:`least_confidence`.
    """
    return run_score(K.RATIO, probs, log_probs, chunk_size, score_name="ratio", min_classes=2)


def entropy(
    probs: Any = None, *, log_probs: Any = None, chunk_size: int | None = None
) -> ArrayLike:
    """Predictive entropy ``H[pbar] = -sum_c pbar_c log pbar_c`` in nats (max entropy).

    Shannon (1948); as an acquisition function for deep Bayesian active learning:
    Gal, Islam & Ghahramani (2017), "Deep Bayesian active learning with image data" (ICML).
    ``predictive_entropy`` is the same function.

    Parameters
    ----------
    probs : array [N, K, C], optional
        Predictive probabilities; see :func:`least_confidence`. Exact zeros are fine
        (``0 log 0 = 0``).
    log_probs : array [N, K, C], optional
        Log-probabilities instead of ``probs`` (``-inf`` allowed).
    chunk_size : int, optional
        Items scored per chunk (default: ~2^18 / (K*C) items).

    Returns
    -------
    scores : array [N]
        In ``[0, log C]`` nats.

    Raises
    ------
    ShapeError, ProbabilityError, TypeError
        As :func:`least_confidence`.
    """
    return run_score(K.ENTROPY, probs, log_probs, chunk_size, score_name="entropy")


#: Alias of :func:`entropy` (the name used by Gal et al. 2017).
predictive_entropy = entropy
