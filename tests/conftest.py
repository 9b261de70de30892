"""Test-session settings.

Tiny models train 5-30x faster on one intra-op thread than on two competing ones, and
results are bit-identical either way, so the suite runs torch single-threaded.
"""

from __future__ import annotations

import os

import torch

os.environ.setdefault("MPLBACKEND", "Agg")
torch.set_num_threads(1)
