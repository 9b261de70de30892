"""Scores of the sample distribution (MC dropout, ensembles): BALD, expected entropy,
variation ratio and mean standard deviation."""

from __future__ import annotations

from typing import Any

from labelwise._validation import ArrayLike
from labelwise.scores import _kernels as K
from labelwise.scores._driver import run_score

__all__ = ["bald", "expected_entropy", "mean_std", "mutual_information", "variation_ratio"]


def bald(probs: Any = None, *, log_probs: Any = None, chunk_size: int | None = None) -> ArrayLike:
    """BALD: mutual information between the label and the model parameters, in nats.

    ``H[pbar] - mean_k H[p_k]``: the predictive entropy minus the expected entropy of the
    samples, i.e. the disagreement between samples that are each confident.
    Houlsby, Huszár, Ghahramani & Lengyel (2011), "Bayesian active learning for
    classification and preference learning"; with MC dropout: Gal, Islam & Ghahramani
    (2017), "Deep Bayesian active learning with image data" (ICML).
    ``mutual_information`` is the same function; :func:`kl_disagreement` computes the same
    quantity as a mean KL divergence.

    Both entropies come from one pass over each chunk (``p log p`` computed once); exact
    zeros contribute 0. Rounding can make the difference ~-1e-7 where the true value is 0;
    it is clamped to 0.

    Parameters
    ----------
    probs : array [N, K, C], optional
        Predictive samples: N items, K stochastic forward passes / ensemble members, C
        classes; numpy array or torch tensor, float32 or float64.
    log_probs : array [N, K, C], optional
        Log-probabilities instead of ``probs`` (exactly one of the two is given); used
        directly (``p log p = exp(lp) * lp``), ``-inf`` allowed.
    chunk_size : int, optional
        Items scored per chunk; bounds the extra memory (default: ~2^18 / (K*C) items).

    Returns
    -------
    scores : array [N]
        In ``[0, H[pbar]]`` (so ``<= log C``); 0 for K = 1. Same kind, device and float
        dtype as the input.

    Raises
    ------
    TypeError
        Neither or both of ``probs`` and ``log_probs``, or not an array.
    ShapeError
        Not ``[N, K, C]`` or an empty axis.
    ProbabilityError
        NaN/inf, negative values, rows not summing to 1, or a non-float dtype.
    """
    return run_score(K.BALD, probs, log_probs, chunk_size, score_name="bald")


#: Alias of :func:`bald`.
mutual_information = bald


def expected_entropy(
    probs: Any = None, *, log_probs: Any = None, chunk_size: int | None = None
) -> ArrayLike:
    """Expected entropy ``mean_k H[p_k]`` in nats (the aleatoric part of the entropy).

    The second term of BALD: Houlsby et al. (2011), "Bayesian active learning for
    classification and preference learning"; Gal et al. (2017).

    Parameters
    ----------
    probs : array [N, K, C], optional
        Predictive samples; see :func:`bald`.
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
        As :func:`bald`.
    """
    return run_score(
        K.EXPECTED_ENTROPY, probs, log_probs, chunk_size, score_name="expected_entropy"
    )


def variation_ratio(
    probs: Any = None, *, log_probs: Any = None, chunk_size: int | None = None
) -> ArrayLike:
    """Variation ratio: ``1 - (count of the modal predicted class) / K`` over the samples.

    Freeman (1965), "Elementary applied statistics"; as a deep active learning score:
    Gal, Islam & Ghahramani (2017). Each sample votes for its argmax class; ties within a
    sample go to the lowest class index (as ``numpy.argmax``).

    Parameters
    ----------
    probs : array [N, K, C], optional
        Predictive samples; see :func:`bald`.
    log_probs : array [N, K, C], optional
        Log-probabilities instead of ``probs`` (votes are taken on them directly).
    chunk_size : int, optional
        Items scored per chunk (default: ~2^18 / (K*C) items).

    Returns
    -------
    scores : array [N]
        In ``{0, 1/K, ..., 1 - 1/K}`` intersected with ``[0, 1 - 1/min(K, C)]``; 0 for K = 1.
        The few distinct values make ties common: :func:`labelwise.select.top_k` breaks them
        at random.

    Raises
    ------
    ShapeError, ProbabilityError, TypeError
        As :func:`bald`.
    """
    return run_score(K.VARIATION_RATIO, probs, log_probs, chunk_size, score_name="variation_ratio")


def mean_std(
    probs: Any = None, *, log_probs: Any = None, chunk_size: int | None = None
) -> ArrayLike:
    """Mean standard deviation: ``mean_c sqrt(E_k[p_c^2] - E_k[p_c]^2)``.

    The population standard deviation over the K samples of each class probability,
    averaged over classes. Kampffmeyer, Salberg & Jenssen (2016), "Semantic segmentation of
    small objects and modeling of uncertainty in urban remote sensing images using deep
    convolutional neural networks" (CVPR workshops); Gal, Islam & Ghahramani (2017).
    Computed in two passes (``mean_k (p_kc - pbar_c)^2``): identical samples give ~1e-8,
    where the one-pass formula would give ~1e-4 in float32.

    Parameters
    ----------
    probs : array [N, K, C], optional
        Predictive samples; see :func:`bald`.
    log_probs : array [N, K, C], optional
        Log-probabilities instead of ``probs``.
    chunk_size : int, optional
        Items scored per chunk (default: ~2^18 / (K*C) items).

    Returns
    -------
    scores : array [N]
        In ``[0, 1/2]`` (in fact ``<= sqrt(C-1)/C``); 0 for K = 1.

    Raises
    ------
    ShapeError, ProbabilityError, TypeError
        As :func:`bald`.
    """
    return run_score(K.MEAN_STD, probs, log_probs, chunk_size, score_name="mean_std")
