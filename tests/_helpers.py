"""Small helpers shared by the test modules."""

from __future__ import annotations

import torch


def gen(seed: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``seed``."""
    return torch.Generator().manual_seed(seed)
