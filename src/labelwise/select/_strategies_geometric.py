"""Registered strategies built on the geometric selectors (core-set, BADGE, ...).

Loaded by :mod:`labelwise.strategies` through ``_EXTENSION_MODULES``. Scores from
:mod:`labelwise.scores` are imported lazily inside the functions.
"""

from __future__ import annotations

import importlib
from typing import Any

import torch

from labelwise._validation import RNGLike, as_tensor
from labelwise.select._geometry import margin_scores, mean_probs
from labelwise.select._selection import Selection
from labelwise.select.badge import badge
from labelwise.select.cluster_margin import batch_clusters, cluster_margin
from labelwise.select.coreset import k_center_greedy
from labelwise.select.density import density_weighted
from labelwise.select.diverse import diverse_kmeans
from labelwise.select.suggestive import suggestive_annotation
from labelwise.strategies import Strategy

__all__ = ["STRATEGIES"]


def _entropy(probs: Any) -> torch.Tensor:
    # Lazy: labelwise.scores is optional at import time of this module.
    entropy = importlib.import_module("labelwise.scores").entropy
    return as_tensor(entropy(probs), "entropy").clamp(min=0)


def _margin_informativeness(probs: Any) -> torch.Tensor:
    """Zhdanov's informativeness ``1 - (p1 - p2)`` of the mean prediction, in [0, 1]."""
    return 1.0 + margin_scores(mean_probs(probs))


def _coreset_fn(
    k: int, *, embeddings: Any, exclude: Any, rng: RNGLike, **params: Any
) -> Selection:
    params.pop("probs", None)
    params.pop("n", None)
    return k_center_greedy(embeddings, k, exclude=exclude, rng=rng, **params)


def _badge_fn(
    k: int, *, probs: Any, embeddings: Any, exclude: Any, rng: RNGLike, **params: Any
) -> Selection:
    params.pop("n", None)
    return badge(probs, embeddings, k, exclude=exclude, rng=rng, **params)


def _diverse_fn(
    k: int, *, probs: Any, embeddings: Any, exclude: Any, rng: RNGLike, **params: Any
) -> Selection:
    params.pop("n", None)
    sel = diverse_kmeans(
        _margin_informativeness(probs), embeddings, k, exclude=exclude, rng=rng, **params
    )
    return Selection(sel.indices, sel.gains, {**sel.info, "score": "1 - margin"})


def _suggestive_fn(
    k: int, *, probs: Any, embeddings: Any, exclude: Any, rng: RNGLike, **params: Any
) -> Selection:
    params.pop("n", None)
    sel = suggestive_annotation(
        _entropy(probs), embeddings, k, exclude=exclude, rng=rng, **params
    )
    return Selection(sel.indices, sel.gains, {**sel.info, "score": "entropy"})


def _cluster_margin_fn(
    k: int,
    *,
    probs: Any,
    embeddings: Any,
    exclude: Any,
    rng: RNGLike,
    cluster_labels: Any = None,
    **params: Any,
) -> Selection:
    params.pop("n", None)
    return cluster_margin(
        probs, embeddings, k, labels=cluster_labels, exclude=exclude, rng=rng, **params
    )


def _pool_clusters(
    embeddings: Any, k: int, *, rng: RNGLike, margin_multiple: float = 10.0, **params: Any
) -> Any:
    """The loop's once-per-run clustering: the strategy's params minus the selection-only one."""
    return batch_clusters(embeddings, k, rng=rng, **params)


def _density_fn(
    k: int, *, probs: Any, embeddings: Any, exclude: Any, rng: RNGLike, **params: Any
) -> Selection:
    params.pop("n", None)
    sel = density_weighted(_entropy(probs), embeddings, k, exclude=exclude, rng=rng, **params)
    return Selection(sel.indices, sel.gains, {**sel.info, "score": "entropy"})


STRATEGIES: list[Strategy] = [
    Strategy(
        "coreset",
        "k-center greedy on embeddings; labeled items are the initial centres.",
        "Sener & Savarese 2018, Active Learning for CNNs: A Core-Set Approach (ICLR)",
        frozenset({"embeddings", "labeled"}),
        _coreset_fn,
    ),
    Strategy(
        "badge",
        "k-means++ seeding on factorised last-layer gradient embeddings.",
        "Ash et al. 2020, Deep Batch AL by Diverse, Uncertain Gradient Lower Bounds (ICLR)",
        frozenset({"probs", "embeddings"}),
        _badge_fn,
        point_probs=True,
    ),
    Strategy(
        "diverse-kmeans",
        "Weighted k-means over the 50k most informative (1 - margin) items; nearest per centre.",
        "Zhdanov 2019, Diverse mini-batch Active Learning (arXiv 1901.05954)",
        frozenset({"probs", "embeddings"}),
        _diverse_fn,
        {"beta": 50},
    ),
    Strategy(
        "suggestive-annotation",
        "Top-2k by entropy, then greedy max-cover of the pool by cosine similarity.",
        "Yang et al. 2017, Suggestive Annotation (MICCAI)",
        frozenset({"probs", "embeddings"}),
        _suggestive_fn,
    ),
    Strategy(
        "cluster-margin",
        "10k lowest-margin items, round-robin over HAC clusters of the pool (made once).",
        "Citovsky et al. 2021, Batch Active Learning at Scale (NeurIPS)",
        frozenset({"probs", "embeddings"}),
        _cluster_margin_fn,
        {"margin_multiple": 10.0},
        pool_clustering=_pool_clusters,
    ),
    Strategy(
        "density-weighted",
        "Entropy x (mean cosine similarity to the pool)^beta, top-k.",
        "Settles & Craven 2008, Analysis of AL Strategies for Sequence Labeling (EMNLP)",
        frozenset({"probs", "embeddings"}),
        _density_fn,
        {"beta": 1.0},
    ),
]
