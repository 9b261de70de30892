"""Ensembles for active learning: deep, diversity-encouraging, split-head and stochastic.

Beluch, Genewein, Nürnberger & Köhler (2018), "The power of ensembles for active learning in
image classification", CVPR, compare full ensembles with cheaper "implicit" ones and MC
dropout; Lakshminarayanan, Pritzel & Blundell (2017) introduced deep ensembles. labelwise
offers, as producers of predictive samples ``[N, M, C]``:

- :func:`train_ensemble`: M independently initialised members, each trained with its own
  seed (shuffling and dropout); predictions with :func:`~labelwise.models.ensemble_predict`.
- :func:`train_diverse_ensemble`: the members share one *briefly trained* initialisation
  (``warmup_epochs`` of training), then each continues with its own seed, so its own
  minibatch order and dropout masks, for the remaining epochs: cheaper than M full runs
  from scratch, members still differ.
- :class:`SplitHeadMLP` + :func:`split_head_predict`: one shared trunk, M heads, trained
  jointly in one network; the heads give ``[N, M, C]`` from one pass of the trunk.
- :func:`stochastic_ensemble_predict`: MC dropout inside every member of an ensemble,
  ``[N, M * K, C]`` (member-major: columns ``m * K .. m * K + K - 1`` are member ``m``).

Every function draws its randomness from an explicit ``rng`` / ``torch.Generator``.
"""

from __future__ import annotations

import copy
import dataclasses
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from labelwise._validation import RNGLike, check_rng
from labelwise.models._common import (
    check_logits,
    check_members,
    eval_batches,
    logits_to_output,
    sampling_generator,
    spawn_generators,
)
from labelwise.models.networks import _materialise, _positive_int
from labelwise.models.predictive import predictive_samples
from labelwise.models.training import TrainConfig, train_classifier

__all__ = [
    "SplitHeadMLP",
    "split_head_predict",
    "stochastic_ensemble_predict",
    "train_diverse_ensemble",
    "train_ensemble",
]


def train_ensemble(
    members: Sequence[nn.Module],
    X: Any,
    y: Any,
    *,
    config: TrainConfig | None = None,
    rng: RNGLike = None,
) -> list[nn.Module]:
    """Train every member (in place) on the same data, each with its own seed.

    Parameters
    ----------
    members : sequence of nn.Module, length M
        Freshly (and differently) initialised networks, e.g. ``make_model`` with M
        generators; already on ``config.device``.
    X : array [N, ...]
    y : array of int [N]
    config : TrainConfig, optional
    rng : int, numpy Generator or None
        One seed per member is drawn from it (shuffling, dropout, validation split).

    Returns
    -------
    list of nn.Module
        ``members``, trained (the same objects).
    """
    ms = check_members(members, "members")
    seeds = check_rng(rng).integers(0, 2**63 - 1, size=len(ms))
    for m, s in zip(ms, seeds):
        train_classifier(m, X, y, config=config, rng=np.random.default_rng(int(s)))
    return ms


def train_diverse_ensemble(
    model: nn.Module,
    X: Any,
    y: Any,
    *,
    n_members: int,
    warmup_epochs: int,
    config: TrainConfig | None = None,
    rng: RNGLike = None,
) -> list[nn.Module]:
    """Members continued from one shared, briefly trained initialisation.

    ``model`` is trained for ``warmup_epochs``; then ``n_members`` copies of it each train
    for ``config.epochs - warmup_epochs`` more epochs with their own seed (own minibatch
    order and own dropout masks). At the end ``model`` holds member 0's weights.

    Parameters
    ----------
    model : nn.Module
        Trained in place (warm-up, then member 0's continuation).
    X : array [N, ...]
    y : array of int [N]
    n_members : int
        M >= 1.
    warmup_epochs : int
        Epochs of the shared warm-up, in ``[1, config.epochs - 1]``.
    config : TrainConfig, optional
        ``epochs`` is the total per member (warm-up included).
    rng : int, numpy Generator or None
        Seeds the warm-up and each member's continuation.

    Returns
    -------
    list of nn.Module, length M
        Member 0 is ``model`` itself; the others are independent copies.

    Raises
    ------
    ValueError
        ``n_members`` < 1, ``warmup_epochs`` outside ``[1, epochs - 1]``.
    """
    m = _positive_int(n_members, "n_members")
    cfg = TrainConfig() if config is None else config
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(cfg).__name__}")
    if (
        isinstance(warmup_epochs, bool)
        or not isinstance(warmup_epochs, numbers.Integral)
        or not 1 <= int(warmup_epochs) <= cfg.epochs - 1
    ):
        raise ValueError(
            f"warmup_epochs must be an integer in [1, config.epochs - 1] = [1, {cfg.epochs - 1}] "
            f"(the members need epochs left after the shared warm-up), got {warmup_epochs!r}"
        )
    w = int(warmup_epochs)
    seeds = check_rng(rng).integers(0, 2**63 - 1, size=m + 1)
    warm = dataclasses.replace(cfg, epochs=w, patience=None, val_fraction=0.0, min_epochs=1)
    train_classifier(model, X, y, config=warm, rng=np.random.default_rng(int(seeds[0])))
    rest = dataclasses.replace(cfg, epochs=cfg.epochs - w, min_epochs=1)
    members = [model] + [copy.deepcopy(model) for _ in range(m - 1)]
    for member, s in zip(members, seeds[1:]):
        train_classifier(member, X, y, config=rest, rng=np.random.default_rng(int(s)))
    return members


def stochastic_ensemble_predict(
    members: Sequence[nn.Module],
    data: Any,
    *,
    k: int,
    device: str | torch.device = "cpu",
    generator: torch.Generator | None = None,
    rng: RNGLike = None,
    consistent: bool = False,
    batch_size: int = 256,
    return_log_probs: bool = False,
) -> torch.Tensor:
    """MC dropout (or weight samples) within every member: ``[N, M * K, C]``.

    Parameters
    ----------
    members : sequence of nn.Module, length M
        Each with dropout layers (or Bayes-by-backprop layers) for K > 1; on ``device``.
    data : array, Tensor or non-shuffling DataLoader, ``[N, ...]``
    k : int
        Stochastic passes per member, K.
    device : str or torch.device, default "cpu"
    generator : torch.Generator, optional
        One seed per member is drawn from it; exclusive with ``rng``.
    rng : int, numpy Generator or None
    consistent : bool, default False
        Consistent MC dropout within each member
        (:func:`~labelwise.models.consistent_mc_dropout_predict`).
    batch_size : int, default 256
    return_log_probs : bool, default False

    Returns
    -------
    Tensor [N, M * K, C], on the CPU
        Member-major: ``[:, m * K + j]`` is pass ``j`` of member ``m``.
    """
    ms = check_members(members, "members")
    g = sampling_generator(generator, rng, device)
    out = []
    for m, gm in zip(ms, spawn_generators(g, len(ms))):
        out.append(
            predictive_samples(
                m, data, k=k, device=device, generator=gm, consistent=consistent,
                batch_size=batch_size, return_log_probs=return_log_probs,
            )
        )
    sizes = {o.shape[-1] for o in out}
    if len(sizes) > 1:
        raise ValueError(f"members disagree on the number of classes: {sorted(sizes)}")
    return torch.cat(out, dim=1)


class _HeadMixture(nn.Module):
    """Runs every head on the trunk features; returns the log of the mean head softmax."""

    def __init__(self, heads: nn.ModuleList) -> None:
        super().__init__()
        self.heads = heads
        self.last_head_logits: torch.Tensor | None = None

    def head_logits(self, h: torch.Tensor) -> torch.Tensor:
        """``[B, F] -> [B, M, C]`` logits of every head."""
        return torch.stack([head(h) for head in self.heads], dim=1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        z = self.head_logits(h)
        # Kept for SplitHeadMLP.extra_loss (the per-head losses of the same pass), which
        # clears it again (a graph-holding attribute would block copy.deepcopy).
        self.last_head_logits = z if self.training and torch.is_grad_enabled() else None
        m = z.shape[1]
        return torch.logsumexp(torch.log_softmax(z, dim=-1), dim=1) - np.log(m)


class SplitHeadMLP(nn.Module):
    """One MLP trunk, M classifier heads: an implicit ensemble (Beluch et al. 2018, sec. 3).

    Parameters
    ----------
    in_features : int
    n_classes : int
    n_heads : int, default 5
        M.
    hidden : int, default 128
        Width of the shared trunk ``flatten - dense(hidden) - relu``.
    head_hidden : int, default 64
        Width of every head ``dropout - dense(head_hidden) - relu - dropout - dense(C)``.
    dropout : float, default 0.5
    generator : torch.Generator, optional
        Initialises every weight (heads differ: drawn one after the other).

    Notes
    -----
    ``forward`` returns ``log mean_m softmax(head_m)``: the mixture's log-probabilities,
    which ``cross_entropy`` treats as logits (softmax of log-probabilities is the identity),
    so evaluation uses the heads' average. Training adds, through the ``extra_loss`` hook
    of :func:`~labelwise.models.train_classifier`, the mean over heads of each head's own
    cross-entropy: every head learns to classify by itself, from its own initialisation
    and its own dropout masks. ``trunk`` / ``head`` follow the MC dropout protocol
    (``forward(x) == head(trunk(x))``) and ``embedding_layer = "trunk"``.
    """

    embedding_layer = "trunk"
    trunk: nn.Sequential
    head: _HeadMixture
    in_features: int
    n_classes: int
    n_heads: int
    hidden: int
    head_hidden: int
    dropout: float

    def __init__(
        self,
        in_features: int,
        n_classes: int,
        n_heads: int = 5,
        hidden: int = 128,
        head_hidden: int = 64,
        dropout: float = 0.5,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.in_features = _positive_int(in_features, "in_features")
        self.n_classes = _positive_int(n_classes, "n_classes")
        self.n_heads = _positive_int(n_heads, "n_heads")
        self.hidden = _positive_int(hidden, "hidden")
        self.head_hidden = _positive_int(head_hidden, "head_hidden")
        if not isinstance(dropout, numbers.Real) or not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}")
        self.dropout = float(dropout)
        with torch.device("meta"):
            self.trunk = nn.Sequential(
                nn.Flatten(), nn.Linear(self.in_features, self.hidden), nn.ReLU()
            )
            heads = nn.ModuleList(
                nn.Sequential(
                    nn.Dropout(self.dropout), nn.Linear(self.hidden, self.head_hidden),
                    nn.ReLU(), nn.Dropout(self.dropout),
                    nn.Linear(self.head_hidden, self.n_classes),
                )
                for _ in range(self.n_heads)
            )
            self.head = _HeadMixture(heads)
        _materialise(self, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Mixture log-probabilities ``[B, C]`` (valid logits)."""
        return self.head(self.trunk(x))

    def head_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of every head ``[B, M, C]``."""
        return self.head.head_logits(self.trunk(x))

    def extra_loss(
        self, x: torch.Tensor, y: torch.Tensor, logits: torch.Tensor, *, n_train: int,
        epoch: int,
    ) -> torch.Tensor:
        """Mean over heads of each head's cross-entropy on the minibatch (same pass)."""
        z = self.head.last_head_logits
        self.head.last_head_logits = None
        if z is None or z.shape[0] != y.shape[0]:
            z = self.head_logits(x)
        m, c = z.shape[1], z.shape[2]
        return F.cross_entropy(z.reshape(-1, c), y.repeat_interleave(m))

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, n_classes={self.n_classes}, "
            f"n_heads={self.n_heads}, hidden={self.hidden}, head_hidden={self.head_hidden}, "
            f"dropout={self.dropout}"
        )


def split_head_predict(
    model: nn.Module,
    data: Any,
    *,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
    return_log_probs: bool = False,
) -> torch.Tensor:
    """Per-head class probabilities of a split-head model, in eval mode: ``[N, M, C]``.

    Parameters
    ----------
    model : nn.Module
        Has ``head_logits(x) -> [B, M, C]`` (e.g. :class:`SplitHeadMLP`); on ``device``.
    data : array, Tensor or non-shuffling DataLoader ``[N, ...]``
    device : str or torch.device, default "cpu"
    batch_size : int, default 256
    return_log_probs : bool, default False

    Returns
    -------
    Tensor [N, M, C], on the CPU
        Head ``m``'s softmax in ``[:, m, :]``; the trunk runs once per batch.
    """
    fn = getattr(model, "head_logits", None)
    if not callable(fn):
        raise TypeError(
            f"{type(model).__name__} has no head_logits(x) -> [B, M, C]; build a split-head "
            "model with make_model('split-head-mlp', n_heads=M, ...)"
        )

    def head_probs(x: torch.Tensor) -> torch.Tensor:
        z = fn(x)
        if not isinstance(z, torch.Tensor) or z.ndim != 3:
            raise ValueError(
                "head_logits must return logits [B, M, C], got "
                f"{getattr(z, 'shape', type(z).__name__)}"
            )
        check_logits(z[:, 0, :], "head_logits(x)[:, 0]")
        return logits_to_output(z, return_log_probs)

    return eval_batches(model, data, head_probs, device=device, batch_size=batch_size)
