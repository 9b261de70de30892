"""CEAL (Wang et al. 2017): pseudo-label confident candidates, train on them for one round."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from labelwise.loop._config import SimulationConfig
from labelwise.loop._predictors import train_round
from labelwise.models import PredictionRecorder, predict_proba

__all__ = ["ceal_round", "ceal_threshold"]


def ceal_threshold(delta0: float, decay: float, round_index: int) -> float:
    """CEAL's entropy threshold ``delta_t = delta0 - decay * t`` of round ``t`` (nats)."""
    return float(delta0) - float(decay) * int(round_index)


def ceal_round(
    model: torch.nn.Module,
    X: torch.Tensor,
    y: np.ndarray,
    labeled: np.ndarray,
    cand: np.ndarray,
    config: SimulationConfig,
    rnd: int,
    rng: np.random.Generator,
    recorder: PredictionRecorder | None,
    new_member: Callable[[int], torch.nn.Module],
    members_needed: bool = True,
) -> tuple[int, float | None, list[torch.nn.Module] | None]:
    """Pseudo-label the candidates ``model`` is confident about, continue training.

    Returns the number of pseudo-labels, their accuracy against the oracle (None if 0) and
    the new members of an ensemble predictor (None otherwise, if untrained or if not
    ``members_needed``, see :func:`~labelwise.loop._predictors.train_round`).
    The pseudo-labels exist only in this function: the pool is never touched.
    """
    assert config.ceal_delta0 is not None
    delta = ceal_threshold(config.ceal_delta0, config.ceal_decay, rnd)
    if delta <= 0:
        return 0, None, None
    p = predict_proba(model, X[cand], device=config.device).double()
    ent = -(p * torch.log(p.clamp_min(1e-300))).sum(dim=1)
    confident = (ent < delta).numpy()
    if not confident.any():
        return 0, None, None
    items = cand[confident]
    pseudo = p.argmax(dim=1).numpy()[confident]
    X_aug = torch.cat([X[labeled], X[items]])
    y_aug = torch.as_tensor(np.concatenate([y[labeled], pseudo]))
    members = train_round(
        model, X_aug, y_aug, config, rng, [recorder] if recorder is not None else [],
        predictor=config.predictor, new_member=new_member, members_needed=members_needed,
    )
    return int(items.size), float((pseudo == y[items]).mean()), members
