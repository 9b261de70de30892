"""Seeded, deterministic training of a classifier, with early stopping.

Shuffling uses a ``torch.Generator`` and dropout uses :func:`~labelwise.models.seeded_dropout`
(``train=True``), both seeded from ``rng``: two runs with the same ``rng`` on the same
machine give bit-identical weights, and torch's global RNG is never read or written.

Early stopping on the validation loss (Prechelt, 1998, "Early stopping - but when?") with
the best weights restored; the default optimiser is Adam (Kingma & Ba, 2015).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from labelwise._validation import RNGLike, as_tensor, check_rng
from labelwise.models._common import (
    check_logits,
    check_model_device,
    eval_batches,
    logits_to_output,
    model_dtype,
)
from labelwise.models.bayes_by_backprop import weight_sampling
from labelwise.models.dropout import seeded_dropout

__all__ = [
    "Callback",
    "LRSchedule",
    "TrainConfig",
    "TrainResult",
    "evaluate",
    "make_optimizer",
    "predict_proba",
    "train_classifier",
]

#: ``callback(epoch, model)``, called after every epoch (0-based), outside the dropout context.
Callback = Callable[[int, nn.Module], Any]

#: ``lr_schedule(t) -> learning rate`` with ``t = epoch + batch / n_batches`` in ``[0, epochs)``.
LRSchedule = Callable[[float], float]

_OPTIMIZERS = ("adam", "adamw", "sgd")


@dataclass(frozen=True)
class TrainConfig:
    """How :func:`train_classifier` trains.

    Parameters
    ----------
    epochs : int, default 50
        Maximum number of passes over the training set.
    batch_size : int, default 64
    lr : float, default 1e-3
    weight_decay : float, default 0.0
    optimizer : {"adam", "adamw", "sgd"}, default "adam"
    momentum : float, default 0.9
        Used by ``"sgd"`` only.
    patience : int or None, default 5
        Stop after this many epochs without a lower validation loss (only with a
        validation set); None = never stop early.
    val_fraction : float, default 0.0
        Fraction of the training items held out (at random, from ``rng``) for early
        stopping when no explicit validation set is given.
    min_epochs : int, default 1
        Never stop early before this many epochs.
    device : str, default "cpu"
        Where training runs; the model must already be there.
    """

    epochs: int = 50
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adam"
    momentum: float = 0.9
    patience: int | None = 5
    val_fraction: float = 0.0
    min_epochs: int = 1
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "min_epochs"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                raise ValueError(f"TrainConfig.{name} must be an integer >= 1, got {v!r}")
        if self.patience is not None and (
            isinstance(self.patience, bool)
            or not isinstance(self.patience, numbers.Integral)
            or self.patience < 1
        ):
            raise ValueError(
                f"TrainConfig.patience must be an integer >= 1 or None, got {self.patience!r}"
            )
        for name in ("lr", "weight_decay", "momentum"):
            v = getattr(self, name)
            if not isinstance(v, numbers.Real) or not math.isfinite(v) or v < 0:
                raise ValueError(f"TrainConfig.{name} must be a finite number >= 0, got {v!r}")
        if self.lr <= 0:
            raise ValueError(f"TrainConfig.lr must be > 0, got {self.lr!r}")
        if self.optimizer not in _OPTIMIZERS:
            raise ValueError(
                f"TrainConfig.optimizer must be one of {list(_OPTIMIZERS)}, got {self.optimizer!r}"
            )
        if not isinstance(self.val_fraction, numbers.Real) or not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(
                f"TrainConfig.val_fraction must be in [0, 1), got {self.val_fraction!r}"
            )


@dataclass(frozen=True)
class TrainResult:
    """What happened during :func:`train_classifier`.

    Attributes
    ----------
    train_loss : tuple of float
        Mean cross-entropy (nats) over the training items, per epoch, measured during the
        epoch (dropout on).
    val_loss, val_accuracy : tuple of float
        Per epoch, in eval mode; empty without a validation set.
    best_epoch : int
        0-based epoch whose weights the model holds at the end (lowest validation loss; the
        last epoch without a validation set).
    stopped_early : bool
        Whether training stopped before ``config.epochs``.
    """

    train_loss: tuple[float, ...]
    val_loss: tuple[float, ...] = ()
    val_accuracy: tuple[float, ...] = ()
    best_epoch: int = 0
    stopped_early: bool = False

    @property
    def epochs_run(self) -> int:
        """Number of epochs trained."""
        return len(self.train_loss)


def _labels(y: Any, n: int, name: str) -> torch.Tensor:
    t = as_tensor(y, name)
    if t.ndim != 1:
        raise ValueError(f"{name} must be class indices [N], got shape {tuple(t.shape)}")
    if t.shape[0] != n:
        raise ValueError(f"{name} has {t.shape[0]} labels but the inputs have {n} items")
    if torch.is_floating_point(t):
        if not bool((t == t.round()).all()):
            raise TypeError(f"{name} must hold integer class indices 0..C-1, got fractional values")
    elif t.dtype == torch.bool or t.is_complex():
        raise TypeError(f"{name} must hold integer class indices 0..C-1, got dtype {t.dtype}")
    t = t.long()
    if n and int(t.min()) < 0:
        raise ValueError(
            f"{name} must hold class indices 0..C-1, got {int(t.min())}; encode labels first "
            "(e.g. sklearn.preprocessing.LabelEncoder)"
        )
    return t


def _inputs(X: Any, name: str) -> torch.Tensor:
    t = as_tensor(X, name)
    if t.ndim < 1 or t.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one item [N, ...], got shape {tuple(t.shape)}")
    return t


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """The optimiser ``train_classifier`` uses by default: ``config.optimizer`` ("adam",
    "adamw" or "sgd") over ``model``'s trainable parameters, with ``config.lr``,
    ``config.weight_decay`` (and ``config.momentum`` for SGD)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters")
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(
        params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )


def _batches(n: int, batch_size: int, perm: torch.Tensor) -> list[torch.Tensor]:
    """Cut ``perm`` into batches; a trailing batch of one item joins the previous one
    (BatchNorm cannot train on a single item)."""
    out = [perm[s : s + batch_size] for s in range(0, n, batch_size)]
    if len(out) > 1 and len(out[-1]) == 1:
        out[-2] = torch.cat([out[-2], out[-1]])
        out.pop()
    return out


def _check_targets(logits: torch.Tensor, y: torch.Tensor, name: str) -> None:
    if y.numel() and int(y.max()) >= logits.shape[1]:
        raise ValueError(
            f"{name} holds class index {int(y.max())} but the model outputs "
            f"{logits.shape[1]} classes (0..{logits.shape[1] - 1})"
        )


def train_classifier(
    model: nn.Module,
    X: Any,
    y: Any,
    *,
    config: TrainConfig | None = None,
    rng: RNGLike = None,
    X_val: Any = None,
    y_val: Any = None,
    callbacks: Sequence[Callback] = (),
    lr_schedule: LRSchedule | None = None,
    optimizer: torch.optim.Optimizer | None = None,
) -> TrainResult:
    """Train ``model`` (in place) with cross-entropy, seeded shuffling and seeded dropout.

    Parameters
    ----------
    model : nn.Module
        Returns logits ``[B, C]``; already on ``config.device``.
    X : ndarray or Tensor, shape [N, ...]
        Training inputs (floating inputs are cast to the model's dtype).
    y : ndarray or Tensor of int, shape [N]
        Class indices in ``0..C-1``.
    config : TrainConfig, optional
        Defaults to ``TrainConfig()``.
    rng : int, numpy Generator or None
        Seeds the validation split, the shuffling and the dropout masks. Same seed, same
        data, same machine: bit-identical weights.
    X_val, y_val : optional
        Explicit validation set for early stopping (then ``config.val_fraction`` must be 0).
    callbacks : sequence of callables ``(epoch, model)``
        Called after every epoch (0-based), after validation, with the model's own modes
        restored (e.g. to record forgetting events).
    lr_schedule : callable ``t -> lr``, optional
        Learning rate set before every optimiser step, ``t = epoch + i / n_batches`` for
        batch ``i`` (e.g. the cyclic cosine schedule of snapshot ensembles). Default: the
        constant ``config.lr``.
    optimizer : torch.optim.Optimizer, optional
        Continue with this optimiser over ``model``'s parameters, keeping its state (Adam's
        moments, SGD's momentum), e.g. across the cycles of a snapshot ensemble. Default: a
        new one from ``config`` (``optimizer``, ``lr``, ``weight_decay``, ``momentum``).

    Returns
    -------
    TrainResult
        Per-epoch history and the best epoch. With a validation set the model ends with the
        weights of the epoch of lowest validation loss.

    Raises
    ------
    ValueError
        Mismatched lengths, negative labels or labels >= C, a validation set given twice, a
        model on another device.

    Notes
    -----
    Two hooks let a model train with more than the cross-entropy:

    - **Extra loss.** If the model has a method ``extra_loss(x, y, logits, *, n_train,
      epoch) -> Tensor`` (a scalar), it is added to the minibatch's mean cross-entropy
      before the backward pass: ``x``, ``y``, ``logits`` are the minibatch, ``n_train`` the
      number of training items, ``epoch`` 0-based. Bayes-by-backprop models return
      ``KL(q || p) / n_train``; learning-loss models their loss-prediction loss. The
      recorded ``train_loss`` stays the cross-entropy alone.
    - **Weight sampling.** Bayes-by-backprop layers draw one weight sample per minibatch
      from the same seeded generator as the dropout masks
      (:func:`~labelwise.models.weight_sampling`).
    """
    config = TrainConfig() if config is None else config
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    dev = check_model_device(model, config.device)
    Xt = _inputs(X, "X")
    yt = _labels(y, Xt.shape[0], "y")
    if (X_val is None) != (y_val is None):
        raise ValueError("pass both X_val and y_val, or neither")
    gen = check_rng(rng)
    seeds = gen.integers(0, 2**63 - 1, size=3)
    if X_val is not None:
        if config.val_fraction > 0:
            raise ValueError(
                f"an explicit validation set was given and config.val_fraction="
                f"{config.val_fraction}; use one or the other"
            )
        Xv_t = _inputs(X_val, "X_val")
        Xv: torch.Tensor | None = Xv_t
        yv: torch.Tensor | None = _labels(y_val, Xv_t.shape[0], "y_val")
    elif config.val_fraction > 0:
        n = Xt.shape[0]
        n_val = max(1, round(config.val_fraction * n))
        if n - n_val < 1:
            raise ValueError(
                f"val_fraction={config.val_fraction} leaves no training item out of {n}"
            )
        perm = torch.from_numpy(np.random.default_rng(int(seeds[0])).permutation(n))
        Xv, yv = Xt[perm[:n_val]], yt[perm[:n_val]]
        Xt, yt = Xt[perm[n_val:]], yt[perm[n_val:]]
    else:
        Xv = yv = None

    g_shuffle = torch.Generator().manual_seed(int(seeds[1]))
    g_dropout = torch.Generator(device=dev).manual_seed(int(seeds[2]))
    dtype = model_dtype(model)
    if optimizer is None:
        optimizer = make_optimizer(model, config)
    elif not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"optimizer must be a torch.optim.Optimizer or None, got {type(optimizer).__name__}"
        )
    else:
        own = {id(p) for p in model.parameters()}
        if any(id(p) not in own for group in optimizer.param_groups for p in group["params"]):
            raise ValueError(
                "optimizer holds parameters that are not the model's; build it over "
                "model.parameters() (e.g. with labelwise.models.make_optimizer(model, config))"
            )
    callbacks = list(callbacks)
    for cb in callbacks:
        if not callable(cb):
            raise TypeError(f"callbacks must be callables (epoch, model), got {cb!r}")
    if lr_schedule is not None and not callable(lr_schedule):
        raise TypeError(f"lr_schedule must be a callable t -> lr or None, got {lr_schedule!r}")
    extra_loss = getattr(model, "extra_loss", None)
    if extra_loss is not None and not callable(extra_loss):
        raise TypeError(f"model.extra_loss must be a method, got {type(extra_loss).__name__}")

    n = Xt.shape[0]
    train_loss: list[float] = []
    val_loss: list[float] = []
    val_acc: list[float] = []
    best_loss = math.inf
    best_epoch = 0
    best_state: dict[str, torch.Tensor] | None = None
    stopped = False
    for epoch in range(config.epochs):
        perm = torch.randperm(n, generator=g_shuffle)
        total = 0.0
        batches = _batches(n, config.batch_size, perm)
        with seeded_dropout(model, g_dropout, train=True), weight_sampling(model, g_dropout):
            for i, idx in enumerate(batches):
                if lr_schedule is not None:
                    _set_lr(optimizer, lr_schedule(epoch + i / len(batches)))
                xb = Xt[idx]
                if dtype is not None and torch.is_floating_point(xb):
                    xb = xb.to(dtype)
                xb = xb.to(dev)
                yb = yt[idx].to(dev)
                logits = check_logits(model(xb))
                _check_targets(logits, yb, "y")
                ce = F.cross_entropy(logits, yb)
                loss = ce
                if extra_loss is not None:
                    loss = ce + extra_loss(xb, yb, logits, n_train=n, epoch=epoch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += float(ce.detach()) * len(idx)
        train_loss.append(total / n)
        if Xv is not None and yv is not None:
            acc, nll = evaluate(model, Xv, yv, device=dev, batch_size=max(256, config.batch_size))
            val_loss.append(nll)
            val_acc.append(acc)
            if nll < best_loss:
                best_loss, best_epoch = nll, epoch
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            best_epoch = epoch
        for cb in callbacks:
            cb(epoch, model)
        if (
            Xv is not None
            and config.patience is not None
            and epoch + 1 >= config.min_epochs
            and epoch - best_epoch >= config.patience
        ):
            stopped = epoch + 1 < config.epochs
            break
    if best_state is not None and best_epoch != len(train_loss) - 1:
        model.load_state_dict(best_state)
    return TrainResult(
        train_loss=tuple(train_loss),
        val_loss=tuple(val_loss),
        val_accuracy=tuple(val_acc),
        best_epoch=best_epoch,
        stopped_early=stopped,
    )


def _set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    if not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr < 0:
        raise ValueError(f"lr_schedule returned {lr!r}; expected a finite learning rate >= 0")
    for group in optimizer.param_groups:
        group["lr"] = float(lr)


def _logits(model: nn.Module, X: Any, device: str | torch.device, batch_size: int) -> torch.Tensor:
    return eval_batches(
        model, X, lambda x: check_logits(model(x)).cpu(), device=device, batch_size=batch_size,
        name="X",
    )


def predict_proba(
    model: nn.Module,
    X: Any,
    *,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
) -> torch.Tensor:
    """Deterministic class probabilities (eval mode: dropout off).

    Parameters
    ----------
    model : nn.Module
        Returns logits ``[B, C]``; already on ``device``.
    X : ndarray, Tensor or DataLoader
        Inputs ``[N, ...]``.
    device : str or torch.device, default "cpu"
    batch_size : int, default 256

    Returns
    -------
    Tensor, shape [N, C], on the CPU
        Softmax probabilities. Add ``[:, None, :]`` for the ``[N, 1, C]`` sample layout.
    """
    return logits_to_output(_logits(model, X, device, batch_size), False)


def evaluate(
    model: nn.Module,
    X: Any,
    y: Any,
    *,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
) -> tuple[float, float]:
    """Accuracy and mean negative log-likelihood (nats) in eval mode.

    Parameters
    ----------
    model : nn.Module
    X : ndarray or Tensor, shape [N, ...]
    y : ndarray or Tensor of int, shape [N]
    device, batch_size
        As in :func:`predict_proba`.

    Returns
    -------
    (accuracy, nll) : tuple of float
    """
    Xt = _inputs(X, "X")
    yt = _labels(y, Xt.shape[0], "y")
    logits = _logits(model, Xt, device, batch_size)
    _check_targets(logits, yt, "y")
    logits = logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits
    nll = float(F.cross_entropy(logits, yt, reduction="mean"))
    acc = float((logits.argmax(dim=1) == yt).double().mean())
    return acc, nll
