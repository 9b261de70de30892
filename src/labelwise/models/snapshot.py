"""Snapshot ensembles: M members from one training run with a cyclic cosine learning rate.

Huang, Li, Pleiss, Liu, Hopcroft & Weinberger (2017), "Snapshot ensembles: train 1, get M
for free", ICLR. Training of ``T`` epochs is cut into ``M`` cycles; within a cycle the
learning rate follows the shifted cosine (their eq. 2)

    lr(t) = lr_max / 2 * (cos(pi * (t mod T/M) / (T/M)) + 1),

falling from ``lr_max`` to ~0, so that the model settles into a local minimum; the weights at
the end of each cycle are one member, and the restart to ``lr_max`` pushes the next cycle
out towards another minimum. As in the paper it is one training run: the learning rate is
set per minibatch and one optimiser carries its state (momentum, Adam's moments) through
every cycle; only the learning rate restarts. (The paper uses SGD with momentum and
``lr_max`` 0.1-0.2; here the optimiser is ``TrainConfig.optimizer``, Adam by default.) For active learning, Beluch et al. (2018) found snapshot
ensembles cheaper but weaker than full ensembles.

Predictive samples of the members: :func:`~labelwise.models.ensemble_predict`.
"""

from __future__ import annotations

import copy
import math
import numbers
from typing import Any

import numpy as np
from torch import nn

from labelwise._validation import RNGLike, check_rng
from labelwise.models.training import TrainConfig, make_optimizer, train_classifier

__all__ = ["cosine_cycle_lr", "train_snapshot_ensemble"]


def cosine_cycle_lr(t: float, *, lr_max: float, cycle_epochs: float) -> float:
    """Huang et al.'s cyclic cosine learning rate at fractional epoch ``t`` (from 0)."""
    phase = math.fmod(t, cycle_epochs) / cycle_epochs
    return lr_max / 2.0 * (math.cos(math.pi * phase) + 1.0)


def train_snapshot_ensemble(
    model: nn.Module,
    X: Any,
    y: Any,
    *,
    n_snapshots: int,
    config: TrainConfig | None = None,
    rng: RNGLike = None,
) -> list[nn.Module]:
    """Train ``model`` through ``n_snapshots`` cosine cycles; return one copy per cycle.

    Parameters
    ----------
    model : nn.Module
        Trained in place; at the end it holds the last snapshot's weights.
    X : array [N, ...]
    y : array of int [N]
    n_snapshots : int
        M, the number of cycles and members.
    config : TrainConfig, optional
        ``config.epochs`` is the total budget T >= M, cut into M cycles of ``T // M``
        epochs each (the ``T mod M`` epochs left over are not run); ``config.lr`` is
        ``lr_max``. Early stopping is off (a validation set
        would cut cycles short); ``patience`` and ``val_fraction`` are ignored.
    rng : int, numpy Generator or None
        Seeds every cycle's shuffling and dropout.

    Returns
    -------
    list of nn.Module, length M
        Deep copies of ``model`` at the end of cycles 1..M, in training order.

    Raises
    ------
    ValueError
        ``n_snapshots`` < 1, or more snapshots than epochs (a cycle needs >= 1 epoch).
    """
    if (
        isinstance(n_snapshots, bool)
        or not isinstance(n_snapshots, numbers.Integral)
        or int(n_snapshots) < 1
    ):
        raise ValueError(f"n_snapshots must be an integer >= 1, got {n_snapshots!r}")
    m = int(n_snapshots)
    cfg = TrainConfig() if config is None else config
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(cfg).__name__}")
    if cfg.epochs < m:
        raise ValueError(
            f"n_snapshots={m} cycles need at least {m} epochs (one per cycle), but "
            f"config.epochs={cfg.epochs}; raise the epochs or lower n_snapshots "
            "(mc_samples in the loop)"
        )
    cycle = cfg.epochs // m
    cycle_cfg = TrainConfig(
        epochs=cycle, batch_size=cfg.batch_size, lr=cfg.lr, weight_decay=cfg.weight_decay,
        optimizer=cfg.optimizer, momentum=cfg.momentum, patience=None, val_fraction=0.0,
        min_epochs=1, device=cfg.device,
    )
    gen = check_rng(rng)
    seeds = gen.integers(0, 2**63 - 1, size=m)
    optimizer = make_optimizer(model, cycle_cfg)  # one run: its state spans the cycles
    members: list[nn.Module] = []
    for c in range(m):
        train_classifier(
            model, X, y, config=cycle_cfg, rng=np.random.default_rng(int(seeds[c])),
            lr_schedule=lambda t: cosine_cycle_lr(t, lr_max=cfg.lr, cycle_epochs=cycle),
            optimizer=optimizer,
        )
        members.append(copy.deepcopy(model))
    return members
