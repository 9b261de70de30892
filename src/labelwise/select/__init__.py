"""Selectors: turn scores, predictive samples or embeddings into a batch (a :class:`Selection`).

Every selector takes ``k``, an optional ``exclude`` (positions never to pick) and ``rng``,
and returns a :class:`Selection` whose indices are positions in the arrays it was given.
"""

from labelwise.select._selection import Selection
from labelwise.select._stochastic import stochastic_batch
from labelwise.select._topk import random_batch, top_k

__all__ = ["Selection", "top_k", "random_batch", "stochastic_batch"]
