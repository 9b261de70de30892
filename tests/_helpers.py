"""Small helpers shared by the test modules."""

from __future__ import annotations

import torch


def gen(seed: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``seed``."""
    return torch.Generator().manual_seed(seed)


#: Every public score by its canonical name (aliases such as ``predictive_entropy`` left out).
SCORE_NAMES = [
    "least_confidence",
    "margin",
    "ratio",
    "entropy",
    "expected_entropy",
    "bald",
    "variation_ratio",
    "mean_std",
    "vote_entropy",
    "consensus_entropy",
    "kl_disagreement",
]
