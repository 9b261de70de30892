"""Selectors: turn scores, predictive samples or embeddings into a batch (a :class:`Selection`).

Every selector takes ``k``, an optional ``exclude`` (positions never to pick) and ``rng``,
and returns a :class:`Selection` whose indices are positions in the arrays it was given.

Per-item rankings: :func:`top_k`, :func:`random_batch`, :func:`stochastic_batch`.
Batch-aware: :func:`batchbald`, :func:`k_center_greedy` (core-set), :func:`robust_k_center`,
:func:`badge`, :func:`diverse_kmeans`, :func:`suggestive_annotation`, :func:`cluster_margin`,
:func:`density_weighted`; guard: :func:`class_balanced` / :func:`balance_selection`.
"""

from labelwise.select._selection import Selection
from labelwise.select._stochastic import stochastic_batch
from labelwise.select._topk import random_batch, top_k
from labelwise.select.badge import badge, gradient_embedding
from labelwise.select.balance import balance_selection, class_balanced
from labelwise.select.batchbald import batchbald, joint_entropy_exact
from labelwise.select.cluster_margin import cluster_margin, hac_cluster
from labelwise.select.coreset import k_center_greedy, robust_k_center
from labelwise.select.density import cosine_density, density_weighted
from labelwise.select.diverse import diverse_kmeans
from labelwise.select.suggestive import suggestive_annotation

__all__ = [
    "Selection",
    "badge",
    "balance_selection",
    "batchbald",
    "class_balanced",
    "cluster_margin",
    "cosine_density",
    "density_weighted",
    "diverse_kmeans",
    "gradient_embedding",
    "hac_cluster",
    "joint_entropy_exact",
    "k_center_greedy",
    "random_batch",
    "robust_k_center",
    "stochastic_batch",
    "suggestive_annotation",
    "top_k",
]
