"""Monte-Carlo dropout predictive samples ``[N, K, C]``.

Gal & Ghahramani (2016), "Dropout as a Bayesian approximation: representing model
uncertainty in deep learning", ICML; used for active learning by Gal, Islam & Ghahramani
(2017), "Deep Bayesian active learning with image data", ICML.

**Trunk reuse.** When every dropout layer sits after a deterministic trunk (the usual CNN
with dropout only in the classifier head), the trunk's output is the same for all K samples.
It is computed once per batch; the head alone runs on the trunk features repeated K times
along the batch axis. The split is found automatically:

(a) ``nn.Sequential`` (or a subclass that keeps Sequential's ``forward``): trunk = the
    children before the first child containing a dropout layer, head = the rest;
(b) any module with attributes ``trunk`` and ``head`` (modules) whose dropout layers all
    sit in ``head``. **Protocol**: ``model(x)`` must equal ``model.head(model.trunk(x))``;
    labelwise calls the two parts instead of ``forward``;
(c) otherwise: full forward passes.

Before a split is used, the first batch's first items (up to 32) are run both ways with
dropout off: if ``model(x)`` and ``head(trunk(x))`` differ (a ``forward`` that does more
than the protocol says), the samples come from full forward passes instead, with a warning
(an error for ``reuse_trunk=True``).

Both paths run the network on the same stacked rows (sample-major: row ``k * B + b`` is
sample ``k`` of item ``b``) in the same chunks, so the dropout masks are drawn in the same
order: with equal generators the two paths give the same samples (up to floating-point
rounding of the trunk on a different batch size).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from labelwise._validation import RNGLike
from labelwise.models._common import (
    check_batch_size,
    check_logits,
    check_model_device,
    check_sample_count,
    concat_items,
    eval_mode,
    iter_batches,
    logits_to_output,
    model_dtype,
    sampling_generator,
)
from labelwise.models.dropout import dropout_modules, has_dropout, seeded_dropout

__all__ = ["find_trunk_head", "mc_dropout_predict"]

#: Items of the first batch on which a trunk / head split is checked against ``forward``.
_SPLIT_CHECK_ITEMS = 32


def find_trunk_head(model: nn.Module) -> tuple[nn.Module, nn.Module] | None:
    """Split ``model`` into a deterministic trunk and a stochastic head, if possible.

    Parameters
    ----------
    model : nn.Module

    Returns
    -------
    (trunk, head) or None
        Modules sharing ``model``'s parameters such that ``model(x) == head(trunk(x))`` and
        every dropout layer of ``model`` is in the head; ``None`` when no such split is
        known: a Sequential whose first child already holds dropout, a Sequential subclass
        with its own ``forward``, a ``trunk`` / ``head`` model with a dropout layer outside
        its head, or a model without the ``trunk`` / ``head`` protocol. The protocol's
        ``forward`` is not inspected here; :func:`mc_dropout_predict` checks it on the
        first batch.
    """
    trunk = getattr(model, "trunk", None)
    head = getattr(model, "head", None)
    if isinstance(trunk, nn.Module) and isinstance(head, nn.Module):
        in_head = {id(m) for _, m in dropout_modules(head)}
        if any(id(m) not in in_head for _, m in dropout_modules(model)):
            return None  # dropout in the trunk or applied by forward between the two
        return trunk, head
    if isinstance(model, nn.Sequential) and type(model).forward is nn.Sequential.forward:
        children = list(model.children())
        for i, child in enumerate(children):
            if has_dropout(child):
                if i == 0:
                    return None
                return nn.Sequential(*children[:i]), nn.Sequential(*children[i:])
    return None


def split_matches_forward(
    model: nn.Module, split: tuple[nn.Module, nn.Module], x: torch.Tensor
) -> bool:
    """Whether ``model(x)`` equals ``head(trunk(x))`` on the first items of ``x``, with every
    module in eval mode (dropout off). Runs both on at most 32 items, without gradients."""
    trunk, head = split
    xs = x[:_SPLIT_CHECK_ITEMS]
    with eval_mode(model), torch.no_grad():
        full = model(xs)
        parts = head(trunk(xs))
    return (
        isinstance(full, torch.Tensor)
        and isinstance(parts, torch.Tensor)
        and full.shape == parts.shape
        and bool(torch.allclose(full, parts, rtol=1e-4, atol=1e-5))
    )


def checked_split(
    model: nn.Module,
    split: tuple[nn.Module, nn.Module] | None,
    batches: Iterator[torch.Tensor],
    *,
    required: bool,
) -> tuple[tuple[nn.Module, nn.Module] | None, Iterator[torch.Tensor]]:
    """``split`` if it reproduces ``model``'s forward on the first batch, else None.

    Returns the split (or None) and an iterator over all of ``batches`` (the first one put
    back). A mismatch raises ``ValueError`` when ``required`` (``reuse_trunk=True``) and
    warns otherwise. Call it outside any :func:`seeded_dropout` context: the check draws
    no dropout masks.
    """
    if split is None:
        return None, batches
    first = next(batches, None)
    if first is None:
        return split, batches
    rest = itertools.chain([first], batches)
    if split_matches_forward(model, split, first):
        return split, rest
    msg = (
        f"{type(model).__name__}(x) differs from head(trunk(x)) with dropout off, so its "
        "trunk cannot be computed once for the K samples"
    )
    if required:
        raise ValueError(
            f"reuse_trunk=True but {msg}: make forward(x) return head(trunk(x)), or pass "
            "reuse_trunk=None / False"
        )
    warnings.warn(f"{msg}; using K full forward passes", stacklevel=3)
    return None, rest


def _dropout_layers_for_samples(model: nn.Module, k: int) -> list[tuple[str, nn.Module]]:
    """The dropout layers of ``model``; raise if there is none but ``k`` > 1 samples."""
    drops = dropout_modules(model)
    if not drops and k > 1:
        raise ValueError(
            f"model has no dropout layer, so its k={k} MC dropout samples would be identical; "
            "pass k=1, add nn.Dropout layers, or use ensemble_predict for a committee"
        )
    return drops


def mc_dropout_predict(
    model: nn.Module,
    data: Any,
    *,
    k: int,
    device: str | torch.device = "cpu",
    generator: torch.Generator | None = None,
    rng: RNGLike = None,
    batch_size: int = 256,
    reuse_trunk: bool | None = None,
    return_log_probs: bool = False,
) -> torch.Tensor:
    """Predictive samples of ``model`` under MC dropout.

    Only the dropout layers are stochastic; every other module (BatchNorm included) runs in
    eval mode. Masks come from ``generator`` (or from ``rng``), never from torch's global
    random state.

    Parameters
    ----------
    model : nn.Module
        Classifier returning logits ``[B, C]``; must already be on ``device``.
    data : ndarray, Tensor or DataLoader
        Inputs ``[N, ...]``, or a non-shuffling DataLoader yielding ``x`` or ``(x, y)``.
    k : int
        Number of stochastic forward passes K.
    device : str or torch.device, default "cpu"
        Where the forward passes run.
    generator : torch.Generator, optional
        Source of the dropout masks (advanced in place). Mutually exclusive with ``rng``.
    rng : int, numpy Generator or None
        Seeds a fresh generator on ``device`` when ``generator`` is None. ``None`` gives
        fresh entropy (not reproducible).
    batch_size : int, default 256
        Items per trunk batch, and bound on rows per forward pass: each forward sees at
        most ``max(batch_size, B)`` rows, B being the batch of items (a DataLoader keeps its
        own batches; K samples of small batches are stacked up to ``batch_size`` rows).
    reuse_trunk : bool or None, default None
        ``None``: compute the trunk once per batch when a split is found (see module
        docstring); ``True``: require a split (error otherwise); ``False``: full passes.
    return_log_probs : bool, default False
        Return log-softmax instead of softmax.

    Returns
    -------
    Tensor, shape [N, K, C], on the CPU
        Probabilities (or log-probabilities) of each item under each sample.

    Raises
    ------
    ValueError
        ``k`` < 1; the model has no dropout layer and ``k`` > 1 (the K samples would be
        identical); ``reuse_trunk=True`` but no split is found, or the split's
        ``head(trunk(x))`` differs from ``model(x)``; the model lives on another device; both
        ``generator`` and ``rng`` given.

    Notes
    -----
    Samples are reproducible for equal seeds, data order and ``batch_size``.
    """
    k = check_sample_count(k, "MC dropout samples")
    batch_size = check_batch_size(batch_size)
    if reuse_trunk not in (None, True, False):
        raise TypeError(f"reuse_trunk must be None, True or False, got {reuse_trunk!r}")
    dev = check_model_device(model, device)
    g = sampling_generator(generator, rng, dev)
    _dropout_layers_for_samples(model, k)

    split = None if reuse_trunk is False else find_trunk_head(model)
    if reuse_trunk is True and split is None:
        raise ValueError(
            f"reuse_trunk=True but no deterministic trunk was found in {type(model).__name__}: "
            "use an nn.Sequential whose first child has no dropout, or expose .trunk and .head "
            "modules with forward(x) == head(trunk(x)) and every dropout layer in the head; "
            "or pass reuse_trunk=None"
        )

    dtype = model_dtype(model)
    batches = iter_batches(data, batch_size, device=dev, dtype=dtype)
    split, batches = checked_split(model, split, batches, required=reuse_trunk is True)
    pieces: list[torch.Tensor] = []
    with torch.no_grad(), seeded_dropout(model, g, train=False):
        for x in batches:
            b = x.shape[0]
            if b == 0:
                continue
            kc = max(1, min(k, batch_size // b))
            if split is not None:
                trunk, head = split
                feats = trunk(x)
                if not isinstance(feats, torch.Tensor):
                    raise TypeError(
                        f"the trunk must return a tensor to be reused, got {type(feats).__name__};"
                        " pass reuse_trunk=False"
                    )
                stage, inp = head, feats
            else:
                stage, inp = model, x
            out = None
            for k0 in range(0, k, kc):
                kk = min(kc, k - k0)
                rows = inp.repeat(kk, *([1] * (inp.ndim - 1))) if kk > 1 else inp
                logits = check_logits(stage(rows))
                probs = logits_to_output(logits, return_log_probs)
                probs = probs.reshape(kk, b, -1).transpose(0, 1)
                if out is None:
                    out = torch.empty((b, k, probs.shape[-1]), dtype=probs.dtype)
                out[:, k0 : k0 + kk] = probs
            assert out is not None
            pieces.append(out)
    return concat_items(pieces)
