"""Predictions across training epochs: forgetting events and label dispersion.

- Toneva et al. (2019), "An empirical study of example forgetting during deep neural network
  learning", ICLR: a *forgetting event* of a labeled item is a transition from correctly
  classified at one recorded epoch to misclassified at the next.
- Bengar et al. (2021), "When deep learners change their mind: learning dynamics for active
  learning", CAIP: the *label dispersion* of an unlabeled item is
  ``1 - (count of its most frequent predicted label) / E`` over E recorded epochs; items the
  network keeps changing its mind about score high.

:class:`PredictionRecorder` is a :func:`~labelwise.models.train_classifier` callback that
stores the argmax prediction of fixed inputs after every epoch in a compact integer array
``[E, N]`` (int8 for up to 127 classes, int16 up to 32,767, else int32).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from labelwise._validation import as_tensor
from labelwise.errors import ShapeError
from labelwise.models._common import (
    check_batch_size,
    check_logits,
    concat_items,
    eval_mode,
    iter_batches,
    model_dtype,
)

__all__ = ["PredictionRecorder", "forgetting_counts", "label_dispersion"]


def _int_dtype(n_classes: int) -> type[np.integer[Any]]:
    if n_classes <= np.iinfo(np.int8).max:
        return np.int8
    if n_classes <= np.iinfo(np.int16).max:
        return np.int16
    return np.int32


class PredictionRecorder:
    """Training callback recording ``argmax`` predictions of fixed inputs per epoch.

    Parameters
    ----------
    X : ndarray or Tensor, shape [N, ...]
        Items to predict after every epoch (e.g. the unlabeled candidates).
    device : str or torch.device, default "cpu"
    batch_size : int, default 512
    every : int, default 1
        Record every ``every``-th epoch (0-based epochs ``0, every, 2 * every, ...``).

    Attributes
    ----------
    epochs : list of int
        Recorded epochs.

    Notes
    -----
    Predictions are made in eval mode (dropout off), with the model's modes restored
    afterwards. Memory is ``E * N`` bytes for up to 127 classes.
    """

    def __init__(
        self, X: Any, *, device: str | torch.device = "cpu", batch_size: int = 512,
        every: int = 1,
    ) -> None:
        self.X = X
        self.device = device
        self.batch_size = batch_size
        self.every = every
        self.epochs: list[int] = []
        self._rows: list[np.ndarray] = []

    def __repr__(self) -> str:
        n = getattr(self.X, "shape", ("?",))[0]
        return f"PredictionRecorder(N={n}, every={self.every}, recorded={len(self.epochs)})"

    def __call__(self, epoch: int, model: nn.Module) -> None:
        every = check_batch_size(self.every, "every")
        if epoch % every:
            return
        dev = torch.device(self.device)
        dtype = model_dtype(model)
        preds: list[torch.Tensor] = []
        with eval_mode(model), torch.no_grad():
            for x in iter_batches(
                self.X, check_batch_size(self.batch_size), device=dev, dtype=dtype, name="X"
            ):
                logits = check_logits(model(x))
                preds.append(logits.argmax(dim=1).cpu())
                n_classes = logits.shape[1]
        row = concat_items(preds, "X").numpy().astype(_int_dtype(n_classes))
        self._rows.append(row)
        self.epochs.append(int(epoch))

    @property
    def predictions(self) -> np.ndarray:
        """Recorded predictions ``[E, N]`` (E recorded epochs, N items)."""
        if not self._rows:
            raise ValueError("no epoch recorded yet; pass the recorder to train_classifier")
        return np.stack(self._rows, axis=0)


def _check_preds(preds: Any, name: str = "preds") -> torch.Tensor:
    t = as_tensor(preds, name)
    if t.ndim != 2:
        raise ShapeError(
            f"{name} must be [E, N] (recorded epochs, items), got shape {tuple(t.shape)}"
        )
    if t.shape[0] == 0 or t.shape[1] == 0:
        raise ShapeError(f"{name} has an empty axis: shape {tuple(t.shape)} ([E, N])")
    if torch.is_floating_point(t) or t.dtype == torch.bool or t.is_complex():
        raise TypeError(f"{name} must hold integer class predictions, got dtype {t.dtype}")
    return t.long()


def forgetting_counts(preds: Any, y: Any, *, never_learned: float = np.inf) -> np.ndarray:
    """Number of forgetting events of each item (Toneva et al. 2019).

    A forgetting event is a transition from correct to wrong between consecutive recorded
    epochs. As in the paper, an item that is never classified correctly counts as forgotten
    infinitely often, so it ranks as the most forgettable.

    Parameters
    ----------
    preds : array of int, shape [E, N]
        Predicted class of each item at each recorded epoch, in epoch order.
    y : array of int, shape [N]
        True labels.
    never_learned : float, default inf
        Count given to items with no correct prediction in any recorded epoch (the paper's
        convention is infinity; pass e.g. ``E`` for a finite ranking value, or 0 to count
        only observed events). Must not be NaN.

    Returns
    -------
    ndarray of float64, shape [N]
        Count of epochs ``t`` with ``preds[t] == y`` and ``preds[t + 1] != y``, and
        ``never_learned`` for items never classified correctly.
    """
    if isinstance(never_learned, bool) or not isinstance(never_learned, (int, float, np.number)):
        raise TypeError(f"never_learned must be a number, got {never_learned!r}")
    if np.isnan(never_learned):
        raise ValueError("never_learned must not be NaN (use inf, the paper's convention)")
    p = _check_preds(preds)
    yt = as_tensor(y, "y")
    if yt.ndim != 1 or yt.shape[0] != p.shape[1]:
        raise ShapeError(
            f"y must be [N] with N = {p.shape[1]} (the items of preds), got shape "
            f"{tuple(yt.shape)}"
        )
    correct = p == yt.long()[None, :]
    events = (correct[:-1] & ~correct[1:]).sum(dim=0).numpy().astype(np.float64)
    events[~correct.any(dim=0).numpy()] = float(never_learned)
    return events


def label_dispersion(preds: Any) -> np.ndarray:
    """Label dispersion ``1 - (modal count) / E`` of each item (Bengar et al. 2021).

    Parameters
    ----------
    preds : array of int, shape [E, N]
        Predicted class of each item at E recorded epochs.

    Returns
    -------
    ndarray of float64, shape [N]
        In ``[0, 1 - 1/E]``; 0 when every epoch predicted the same class. Higher = label
        first.
    """
    p = _check_preds(preds)
    if int(p.min()) < 0:
        raise ValueError(f"preds must hold class indices >= 0, got {int(p.min())}")
    e, n = p.shape
    n_classes = int(p.max()) + 1
    counts = torch.zeros((n, n_classes), dtype=torch.int64)
    counts.scatter_add_(1, p.T.contiguous(), torch.ones_like(p.T.contiguous()))
    modal = counts.max(dim=1).values
    return (1.0 - modal.double() / e).numpy()
