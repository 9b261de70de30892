"""Consistent MC dropout, and one entry point for predictive samples of any model.

**Consistent MC dropout.** Ordinary MC dropout (:func:`~labelwise.models.mc_dropout_predict`)
draws a fresh mask for every item, so "sample k" of two items comes from two different
networks. Joint scores over a batch (BatchBALD; Kirsch, van Amersfoort & Gal 2019, whose
official code uses consistent dropout for this reason) assume that sample k of every item
comes from the *same* network ``theta_k``. :func:`consistent_mc_dropout_predict` draws K
masks per dropout layer once (mask shape ``[1, *features]``, broadcast over the batch; for
``Dropout2d`` one value per channel) and applies mask k to sample k of every item, in every
batch, so the samples are K fixed sub-networks evaluated on the whole pool.

**Dispatch.** :func:`predictive_samples` picks the producer the model calls for:
Bayes-by-backprop weight samples for models with variational layers, consistent or ordinary
MC dropout otherwise.
"""

from __future__ import annotations

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
    spawn_generators,
)
from labelwise.models.bayes_by_backprop import bayes_predict, has_bayes_layers
from labelwise.models.dropout import _ACTIVE, _kind, dropout_mask
from labelwise.models.mc_dropout import (
    _dropout_layers_for_samples,
    checked_split,
    find_trunk_head,
    mc_dropout_predict,
)

__all__ = ["consistent_mc_dropout_predict", "predictive_samples"]


def consistent_mc_dropout_predict(
    model: nn.Module,
    data: Any,
    *,
    k: int,
    device: str | torch.device = "cpu",
    generator: torch.Generator | None = None,
    rng: RNGLike = None,
    batch_size: int = 256,
    return_log_probs: bool = False,
) -> torch.Tensor:
    """MC dropout samples with the same K masks for every item of the pool.

    Parameters
    ----------
    model : nn.Module
        Classifier returning logits ``[B, C]`` with ``nn.Dropout`` / ``Dropout1d/2d/3d``
        layers; on ``device``. A deterministic trunk (see
        :func:`~labelwise.models.find_trunk_head`) is computed once per batch.
    data : ndarray, Tensor or non-shuffling DataLoader
        Inputs ``[N, ...]``.
    k : int
        Number of masks (sub-networks) K.
    device : str or torch.device, default "cpu"
    generator : torch.Generator, optional
        Draws the masks (advanced in place); exclusive with ``rng``.
    rng : int, numpy Generator or None
        Seeds a fresh generator when ``generator`` is None.
    batch_size : int, default 256
    return_log_probs : bool, default False

    Returns
    -------
    Tensor [N, K, C], on the CPU
        ``[:, k]`` is the pool under dropout mask set ``k``; the result does not depend on
        ``batch_size`` (up to floating-point rounding).

    Raises
    ------
    ValueError
        ``k`` < 1, no dropout layer with ``k`` > 1, both ``generator`` and ``rng``.
    RuntimeError
        A dropout layer is already driven by :func:`~labelwise.models.seeded_dropout`.
    """
    k = check_sample_count(k, "MC dropout samples")
    batch_size = check_batch_size(batch_size)
    dev = check_model_device(model, device)
    g = sampling_generator(generator, rng, dev)
    drops = _dropout_layers_for_samples(model, k)
    for name, m in drops:
        if m in _ACTIVE:
            raise RuntimeError(f"dropout layer {name!r} is already driven by seeded_dropout")
    # One generator per sample, so that mask k is the same whatever the batch layout.
    gens = spawn_generators(g, k)
    masks: list[dict[int, torch.Tensor]] = [{} for _ in range(k)]
    state = {"k": 0}

    def make_hook(layer_id: int, kind: int) -> Any:
        def hook(module: nn.Module, inputs: tuple[Any, ...], output: torch.Tensor) -> Any:
            p = float(getattr(module, "p", 0.0))
            if p == 0.0:
                return output
            x = inputs[0]
            n_shared = kind
            if isinstance(module, nn.Dropout2d) and x.ndim == 3:
                n_shared = 1
            store = masks[state["k"]]
            mask = store.get(layer_id)
            shape = (1, *x.shape[1:])
            expected = shape[: len(shape) - n_shared] + (1,) * n_shared
            if mask is None:
                mask = dropout_mask(
                    shape, p, n_shared, generator=gens[state["k"]], dtype=x.dtype,
                    device=x.device,
                )
                store[layer_id] = mask
            elif tuple(mask.shape) != expected:
                raise ValueError(
                    f"{type(module).__name__} saw inputs of shape {tuple(x.shape)} after "
                    f"{tuple(mask.shape)}; consistent masks need equal feature shapes"
                )
            return x * mask

        return hook

    dtype = model_dtype(model)
    batches = iter_batches(data, batch_size, device=dev, dtype=dtype)
    split, batches = checked_split(model, find_trunk_head(model), batches, required=False)
    handles = []
    pieces: list[torch.Tensor] = []
    try:
        with eval_mode(model), torch.no_grad():
            for i, (_, m) in enumerate(drops):
                kind = _kind(m)
                assert kind is not None
                handles.append(m.register_forward_hook(make_hook(i, kind)))
                _ACTIVE.add(m)
            for x in batches:
                b = x.shape[0]
                if b == 0:
                    continue
                stage, inp = (split[1], split[0](x)) if split is not None else (model, x)
                out = []
                for kk in range(k):
                    state["k"] = kk
                    out.append(logits_to_output(check_logits(stage(inp)), return_log_probs))
                pieces.append(torch.stack(out, dim=1))
    finally:
        for h in handles:
            h.remove()
        for _, m in drops:
            _ACTIVE.discard(m)
    return concat_items(pieces)


def predictive_samples(
    model: nn.Module,
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
    """Predictive samples ``[N, K, C]`` from whatever makes ``model`` stochastic.

    - a model with Bayes-by-backprop layers: :func:`~labelwise.models.bayes_predict` (K
      weight samples, each shared by the whole pool);
    - otherwise, ``consistent=True``: :func:`consistent_mc_dropout_predict`;
    - otherwise: :func:`~labelwise.models.mc_dropout_predict` (fresh masks per item).

    Parameters are those of the functions above; returns a CPU tensor ``[N, K, C]``.
    """
    if not isinstance(consistent, bool):
        raise TypeError(f"consistent must be a bool, got {consistent!r}")
    kw: dict[str, Any] = {
        "k": k, "device": device, "generator": generator, "rng": rng,
        "batch_size": batch_size, "return_log_probs": return_log_probs,
    }
    if has_bayes_layers(model):
        return bayes_predict(model, data, **kw)
    if consistent:
        return consistent_mc_dropout_predict(model, data, **kw)
    return mc_dropout_predict(model, data, **kw)
