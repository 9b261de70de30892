"""Every random source of a run, derived from its seed.

A numpy Generator (or torch Generator) is keyed by ``(seed, *key)`` through
:class:`numpy.random.SeedSequence`, where ``key`` names the purpose and, where it changes,
the round (and the member). Nothing depends on what ran before in the process.

The purpose numbers are part of the results: changing one changes every run that uses it.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = [
    "CANDIDATES",
    "CEAL",
    "CLUSTER",
    "INIT_SET",
    "MEMBER",
    "MODEL_INIT",
    "PREDICT",
    "PROXY",
    "SELECT",
    "TRAIN",
    "seeded_rng",
    "seeded_torch_generator",
]

# Purposes keyed into the seed sequence (stable numbers: changing them changes results).
INIT_SET = 0  # the initial labeled set
MODEL_INIT = 1  # the initialisation of the target model (and its members)
TRAIN = 2  # shuffling / dropout during a round's training
PREDICT = 3  # MC-dropout masks of the predictive samples
CANDIDATES = 4  # the pool subset scored in a round
SELECT = 5  # the strategy's own randomness
CEAL = 6  # retired (CEAL no longer trains twice a round); kept so that 6 is never reused
PROXY = 7  # the proxy model: its initialisation and training
MEMBER = 8  # one member of an ensemble predictor
CLUSTER = 9  # the once-per-run clustering of the pool (cluster-margin)


def seeded_rng(seed: int, *key: int) -> np.random.Generator:
    """The numpy Generator of ``(seed, *key)``."""
    return np.random.default_rng(np.random.SeedSequence([seed, *key]))


def seeded_torch_generator(seed: int, *key: int) -> torch.Generator:
    """A torch Generator seeded from :func:`seeded_rng` of ``(seed, *key)``."""
    g = torch.Generator()
    g.manual_seed(int(seeded_rng(seed, *key).integers(0, 2**63 - 1)))
    return g
