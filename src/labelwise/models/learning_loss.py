"""Learning loss for active learning: a module that predicts the target model's loss.

Yoo & Kweon (2019), "Learning loss for active learning", CVPR. A small loss-prediction
module reads features of several blocks of the target network, each global-average-pooled
(for ``[B, C, H, W]`` maps) and passed through ``FC + ReLU``; the results are concatenated
and an ``FC`` gives one scalar, the predicted loss ``l_hat``. It is trained jointly with the
classifier on pairs ``(i, j)`` of a minibatch with the ranking hinge loss

    L_loss = max(0, -sign(l_i - l_j) * (l_hat_i - l_hat_j) + xi),

margin ``xi = 1``, added with weight ``lambda = 1`` to the classification loss. After
``stop_grad_epoch`` the features are detached, so the module no longer shapes the backbone
(the paper stops after epoch 120 of 200). Acquisition takes the items with the highest
predicted loss.

Pairs follow the official code: the first half of the batch against the reversed second
half, ``(i, B - 1 - i)`` for ``i < B // 2``; ties ``l_i == l_j`` count as ``sign = -1``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from labelwise.models._common import (
    check_batch_size,
    check_epoch_or_none,
    check_model_device,
    check_real,
    concat_items,
    eval_mode,
    iter_batches,
    model_dtype,
)
from labelwise.models.networks import _materialise

__all__ = [
    "PAPER_STOP_GRAD_FRACTION",
    "LearningLossNet",
    "LossPredictionModule",
    "learning_loss_stop_epoch",
    "loss_ranking_loss",
]

#: Share of the training epochs after which the paper detaches the module's input features
#: (epoch 120 of 200).
PAPER_STOP_GRAD_FRACTION = 0.6


def learning_loss_stop_epoch(epochs: int, fraction: float = PAPER_STOP_GRAD_FRACTION) -> int:
    """The ``stop_grad_epoch`` that follows the paper for a run of ``epochs`` epochs.

    ``ceil(fraction * epochs)``: 120 for 200 epochs, 30 for 50. The simulation loop builds
    ``ll-*`` models with it; without it the ranking loss shapes the backbone for the whole
    run, which cost the classifier ~2 AUBC points on ``digits`` (see docs/model-based.md).
    """
    if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    if not 0.0 <= float(fraction) <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction!r}")
    # round() first: 0.6 * 50 is 30.000000000000004 in floating point
    return math.ceil(round(float(fraction) * int(epochs), 9))


def loss_ranking_loss(
    predicted: torch.Tensor, target: torch.Tensor, *, margin: float = 1.0
) -> torch.Tensor:
    """Pairwise ranking hinge loss of Yoo & Kweon (2019), eq. 2, averaged over pairs.

    Parameters
    ----------
    predicted : Tensor [B]
        Predicted losses ``l_hat``.
    target : Tensor [B]
        True losses ``l`` (detached by the caller).
    margin : float, default 1.0
        ``xi``.

    Returns
    -------
    Tensor, scalar
        ``mean_i max(0, -s_i * (l_hat_i - l_hat_j) + xi)`` over the pairs
        ``(i, j = B - 1 - i)``, ``i < B // 2``, with ``s_i = +1`` if ``l_i > l_j`` else ``-1``.

    Raises
    ------
    ValueError
        Shapes differ, are not 1-D, or B < 2; ``margin`` is negative, NaN or infinite.
    """
    margin = check_real(margin, "margin (xi)")
    if predicted.ndim != 1 or predicted.shape != target.shape:
        raise ValueError(
            f"predicted and target must be [B] of equal length, got {tuple(predicted.shape)} "
            f"and {tuple(target.shape)}"
        )
    b = predicted.shape[0]
    if b < 2:
        raise ValueError(f"the ranking loss needs a batch of at least 2 items, got {b}")
    h = b // 2
    d_pred = predicted[:h] - predicted.flip(0)[:h]
    d_true = target[:h] - target.flip(0)[:h]
    sign = torch.where(d_true > 0, 1.0, -1.0).to(predicted.dtype)
    return torch.clamp(margin - sign * d_pred, min=0.0).mean()


class LossPredictionModule(nn.Module):
    """``[GAP -> FC(hidden) -> ReLU]`` per feature map, concatenated, ``FC -> 1``.

    Parameters
    ----------
    in_dims : sequence of int
        Channels (or features) of each input feature tensor.
    hidden : int, default 128
    generator : torch.Generator, optional
        Initialises the weights (PyTorch's default scheme) and sets the device; None =
        fresh entropy (torch's global RNG is never used).
    """

    fcs: nn.ModuleList
    out: nn.Linear

    def __init__(
        self, in_dims: Sequence[int], hidden: int = 128,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        dims = [int(d) for d in in_dims]
        if not dims or any(d < 1 for d in dims):
            raise ValueError(f"in_dims must list positive feature sizes, got {list(in_dims)}")
        if isinstance(hidden, bool) or not isinstance(hidden, numbers.Integral) or hidden < 1:
            raise ValueError(f"hidden must be a positive integer, got {hidden!r}")
        with torch.device("meta"):
            self.fcs = nn.ModuleList(nn.Linear(d, int(hidden)) for d in dims)
            self.out = nn.Linear(int(hidden) * len(dims), 1)
        _materialise(self, generator)

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        """Predicted loss ``[B]`` from features ``[B, C, ...]`` (spatial axes are averaged)."""
        if len(features) != len(self.fcs):
            raise ValueError(f"expected {len(self.fcs)} feature tensors, got {len(features)}")
        parts = []
        for f, fc in zip(features, self.fcs):
            if f.ndim > 2:
                f = f.flatten(2).mean(dim=2)  # global average pooling
            parts.append(F.relu(fc(f)))
        return self.out(torch.cat(parts, dim=1)).squeeze(1)


class LearningLossNet(nn.Module):
    """A classifier with a loss-prediction module on features of several of its layers.

    Parameters
    ----------
    backbone : nn.Module
        Returns logits ``[B, C]``.
    feature_layers : sequence of str
        Dotted names (``backbone.named_modules()``) whose outputs feed the module.
    feature_dims : sequence of int
        Channels / features of those outputs.
    hidden : int, default 128
    margin : float, default 1.0
        ``xi``, finite and >= 0.
    weight : float, default 1.0
        ``lambda``, finite and >= 0.
    stop_grad_epoch : int or None, default None
        From this (0-based) epoch on, the module's gradient no longer reaches the backbone;
        None = never stop. The paper stops after 60% of training:
        ``learning_loss_stop_epoch(epochs)``, which the simulation loop uses.
    generator : torch.Generator, optional
        Initialises the module.

    Notes
    -----
    Hooks for :func:`~labelwise.models.train_classifier` and the simulation loop:
    ``extra_loss`` returns ``weight * ranking loss`` of the batch just forwarded (features
    are captured in training mode only); ``acquisition_scores(data, device=)`` returns the
    predicted losses ``[N]`` (eval mode). The module is registered before the backbone, so
    the default embeddings (input of the last ``nn.Linear``) are the backbone's penultimate
    features.
    """

    def __init__(
        self,
        backbone: nn.Module,
        feature_layers: Sequence[str],
        feature_dims: Sequence[int],
        *,
        hidden: int = 128,
        margin: float = 1.0,
        weight: float = 1.0,
        stop_grad_epoch: int | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if len(feature_layers) != len(feature_dims):
            raise ValueError(
                f"feature_layers ({len(feature_layers)}) and feature_dims "
                f"({len(feature_dims)}) must have the same length"
            )
        self.loss_module = LossPredictionModule(feature_dims, hidden, generator)
        self.backbone = backbone
        self.feature_layers = tuple(feature_layers)
        self.margin = check_real(margin, "margin (xi)")
        self.weight = check_real(weight, "weight (lambda)")
        self.stop_grad_epoch = check_epoch_or_none(stop_grad_epoch, "stop_grad_epoch")
        modules = dict(backbone.named_modules())
        missing = [n for n in self.feature_layers if n not in modules or n == ""]
        if missing:
            raise ValueError(
                f"feature_layers {missing} are not submodules of {type(backbone).__name__}; "
                f"available: {[n for n in modules if n]}"
            )
        self._features: list[torch.Tensor] = []
        self._capture = False
        for name in self.feature_layers:
            modules[name].register_forward_hook(self._grab)

    def _grab(self, module: nn.Module, inputs: Any, output: Any) -> None:
        if self._capture or self.training:
            self._features.append(output)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, C]`` of the backbone (features are captured in training mode)."""
        self._features = []
        return self.backbone(x)

    def extra_loss(
        self, x: torch.Tensor, y: torch.Tensor, logits: torch.Tensor, *, n_train: int,
        epoch: int,
    ) -> torch.Tensor:
        """``weight * loss_ranking_loss(l_hat, CE(logits, y).detach())`` of the last batch."""
        feats = self._features
        self._features = []
        if len(feats) != len(self.feature_layers):
            raise RuntimeError(
                f"captured {len(feats)} feature maps for {len(self.feature_layers)} layers; "
                "call the model once per batch in training mode before extra_loss"
            )
        if self.stop_grad_epoch is not None and epoch >= self.stop_grad_epoch:
            feats = [f.detach() for f in feats]
        target = F.cross_entropy(logits, y, reduction="none").detach()
        if target.shape[0] < 2:
            return logits.new_zeros(())
        return self.weight * loss_ranking_loss(
            self.loss_module(feats), target, margin=self.margin
        )

    def acquisition_scores(
        self, data: Any, *, device: str | torch.device = "cpu", batch_size: int = 256
    ) -> torch.Tensor:
        """Predicted loss ``[N]`` of every item (eval mode), on the CPU; higher = label first."""
        dev = check_model_device(self, device)
        dtype = model_dtype(self)
        out: list[torch.Tensor] = []
        with eval_mode(self), torch.no_grad():
            self._capture = True
            try:
                for x in iter_batches(data, check_batch_size(batch_size), device=dev, dtype=dtype):
                    self._features = []
                    self.backbone(x)
                    out.append(self.loss_module(self._features).float().cpu())
            finally:
                self._capture = False
                self._features = []
        return concat_items(out)


def make_learning_loss_model(
    kind: str, input_shape: tuple[int, ...], n_classes: int,
    generator: torch.Generator | None, **kw: Any,
) -> nn.Module:
    """``"ll-mlp"`` (MLP hidden (128, 64)) or ``"ll-cnn"`` (GalCNN) with a loss module."""
    from labelwise.models.networks import make_model

    if kind == "ll-mlp":
        backbone = make_model(
            "mlp", input_shape=input_shape, n_classes=n_classes, generator=generator,
            hidden=(128, 64),
        )
        layers, dims = ["trunk", "head.2"], [128, 64]
    elif kind == "ll-cnn":
        backbone = make_model(
            "gal-cnn", input_shape=input_shape, n_classes=n_classes, generator=generator
        )
        layers, dims = ["trunk.2", "trunk.4", "head.2"], [32, 32, 128]
    else:
        raise ValueError(f"kind must be 'll-mlp' or 'll-cnn', got {kind!r}")
    return LearningLossNet(backbone, layers, dims, generator=generator, **kw)
