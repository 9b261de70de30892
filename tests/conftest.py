"""Test-session settings.

Tiny models train 5-30x faster on one intra-op thread than on two competing ones, and
results are bit-identical either way, so the suite runs torch single-threaded.
"""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("MPLBACKEND", "Agg")
torch.set_num_threads(1)


@pytest.fixture(params=["native", "torch"])
def score_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a score test on both paths of the score driver: the compiled mean-and-check pass
    (``_native.c``, used for float32 CPU probabilities) and the torch path that serves every
    other input and every machine where the extension did not build.
    ``tests/test_scores_native.py`` fails if the extension is missing, so the "native" run
    never silently repeats the torch one in CI."""
    from labelwise.scores import _driver

    if request.param == "torch":
        monkeypatch.setattr(_driver, "_NATIVE", None)
    return str(request.param)
