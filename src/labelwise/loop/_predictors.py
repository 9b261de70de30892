"""``SimulationConfig.predictor``: how a round's network(s) are trained and sampled.

One network (MC dropout, weight samples, split heads) or several members (snapshot, deep,
diverse or stochastic ensembles); :func:`train_round` trains what the predictor needs and
:func:`selection_probs` draws the predictive samples ``[N, K, C]`` from it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from labelwise.errors import LabelwiseError
from labelwise.loop._config import MEMBER_PREDICTORS, SimulationConfig
from labelwise.models import (
    TrainConfig,
    ensemble_predict,
    predictive_samples,
    split_head_predict,
    stochastic_ensemble_predict,
    train_classifier,
    train_diverse_ensemble,
    train_ensemble,
    train_snapshot_ensemble,
)

__all__ = ["selection_probs", "train_round"]


def train_round(
    model: torch.nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    config: SimulationConfig,
    rng: np.random.Generator,
    callbacks: list[Any],
    *,
    predictor: str,
    new_member: Callable[[int], torch.nn.Module],
    train: TrainConfig | None = None,
    members_needed: bool = True,
) -> list[torch.nn.Module] | None:
    """Train the round's model as ``predictor`` asks; return the members of an ensemble
    predictor (member 0 / the last snapshot is ``model``), None for a single network.

    ``new_member(m)`` builds the freshly initialised member ``m >= 1`` of ``"ensemble"`` /
    ``"stochastic-ensemble"``; ``train`` overrides ``config.train`` (the proxy's epochs).
    ``members_needed=False`` (the strategy reads no predictive samples, e.g. ``random``):
    of the ``"ensemble"``, ``"stochastic-ensemble"`` and ``"diverse-ensemble"`` predictors
    only member 0, the evaluated model, is trained, and None is returned. Its weights are
    the same as beside the other members: every member's seed is drawn from ``rng`` in
    member order, and member 0's training reads no other member.
    """
    tcfg = config.train if train is None else train
    if predictor in MEMBER_PREDICTORS and callbacks:
        raise LabelwiseError(
            f"predictor={predictor!r} cannot record training predictions; use another "
            "predictor with this strategy"
        )
    if predictor == "snapshot":
        return train_snapshot_ensemble(
            model, X, y, n_snapshots=config.mc_samples, config=tcfg, rng=rng
        )
    size = config.ensemble_size if members_needed else 1
    if predictor in ("ensemble", "stochastic-ensemble"):
        members = [model] + [new_member(m) for m in range(1, size)]
        trained = train_ensemble(members, X, y, config=tcfg, rng=rng)
        return trained if members_needed else None
    if predictor == "diverse-ensemble":
        warmup = config.ensemble_warmup_epochs or max(1, tcfg.epochs // 5)
        trained = train_diverse_ensemble(
            model, X, y, n_members=size, warmup_epochs=min(warmup, tcfg.epochs - 1),
            config=tcfg, rng=rng,
        )
        return trained if members_needed else None
    train_classifier(model, X, y, config=tcfg, rng=rng, callbacks=callbacks)
    return None


def selection_probs(
    model: torch.nn.Module,
    members: list[torch.nn.Module] | None,
    X: torch.Tensor,
    config: SimulationConfig,
    generator: torch.Generator,
    *,
    consistent: bool = False,
) -> torch.Tensor:
    """Predictive samples ``[N, K, C]`` of the selecting model under ``config.predictor``.

    ``consistent=True`` draws the same K dropout masks (or weight samples) for every item
    of ``X`` (within each member of a stochastic ensemble), as
    ``predictor="consistent-dropout"`` does; the loop asks for it when the strategy has
    ``joint_samples``. Ensemble, snapshot and split-head samples are consistent anyway.
    """
    if config.predictor == "stochastic-ensemble":
        assert members is not None
        return stochastic_ensemble_predict(
            members, X, k=config.mc_samples, device=config.device, generator=generator,
            consistent=consistent,
        )
    if members is not None:
        return ensemble_predict(members, X, device=config.device)
    if config.predictor == "split-head":
        return split_head_predict(model, X, device=config.device)
    return predictive_samples(
        model, X, k=config.mc_samples, device=config.device, generator=generator,
        consistent=consistent or config.predictor == "consistent-dropout",
    )
