"""CEAL (Wang et al. 2017): pseudo-labels for the candidates the current model is sure of.

The paper's iteration: query labels for the most uncertain samples, pseudo-label the
high-confidence samples D_H (entropy below delta) with the *current* network, fine-tune the
network once on the labels plus D_H, lower delta. In the loop's rounds that is: the model of
round t - 1 (the one that just selected) pseudo-labels round t's candidates, and round t
trains once on its labels plus those pseudo-labels. Round 0 trains on the initial labels
alone (the paper's initialisation). Pseudo-labels are chosen afresh every round, exist only
for that round's training, and never reach the pool.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from labelwise.models import predict_proba

__all__ = ["PseudoLabels", "ceal_pseudo_labels", "ceal_threshold"]


def ceal_threshold(delta0: float, decay: float, round_index: int) -> float:
    """CEAL's entropy threshold ``delta0 - decay * i`` of pseudo-labelling step ``i`` (nats).

    Step ``i`` = 0, 1, ... pseudo-labels the candidates of round ``i + 1``.
    """
    return float(delta0) - float(decay) * int(round_index)


class PseudoLabels(NamedTuple):
    """Items (whole-dataset indices), their predicted classes and, against the oracle,
    the share that is right (None when there are none)."""

    items: np.ndarray
    labels: np.ndarray
    accuracy: float | None

    @classmethod
    def none(cls) -> PseudoLabels:
        return cls(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), None)


def ceal_pseudo_labels(
    previous_model: torch.nn.Module | None,
    X: torch.Tensor,
    y: np.ndarray,
    cand: np.ndarray,
    *,
    delta0: float,
    decay: float,
    rnd: int,
    device: str,
) -> PseudoLabels:
    """The pseudo-labels of round ``rnd``: every candidate in ``cand`` (unlabeled items)
    whose predictive entropy under ``previous_model`` (the model of round ``rnd - 1``, in
    eval mode) is below ``ceal_threshold(delta0, decay, rnd - 1)`` gets its predicted class.

    ``y`` is the oracle, read only to report the pseudo-labels' accuracy. None for round 0
    (no previous model), a threshold <= 0 or no candidates: no pseudo-labels.
    """
    if previous_model is None or rnd < 1 or cand.size == 0:
        return PseudoLabels.none()
    delta = ceal_threshold(delta0, decay, rnd - 1)
    if delta <= 0:
        return PseudoLabels.none()
    p = predict_proba(previous_model, X[cand], device=device).double()
    ent = -(p * torch.log(p.clamp_min(1e-300))).sum(dim=1)
    confident = (ent < delta).numpy()
    if not confident.any():
        return PseudoLabels.none()
    items = cand[confident]
    pseudo = p.argmax(dim=1).numpy()[confident]
    return PseudoLabels(items, pseudo, float((pseudo == y[items]).mean()))
