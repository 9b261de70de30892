"""Embeddings ``[N, D]`` from a named layer, and predictions + embeddings in one pass.

Embeddings feed the diversity-based selectors: core-set (Sener & Savarese, 2018, "Active
learning for convolutional neural networks: a core-set approach", ICLR) uses penultimate
features; BADGE (Ash et al., 2020, "Deep batch active learning by diverse, uncertain gradient
lower bounds", ICLR) needs both the penultimate features and the predicted probabilities.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from labelwise.models._common import (
    check_batch_size,
    check_logits,
    check_model_device,
    eval_mode,
    iter_batches,
    logits_to_output,
    model_dtype,
)

__all__ = ["extract_embeddings", "find_layer", "predict_with_embeddings"]


class _Stop(Exception):
    """Raised by a hook to cut a forward pass short once the embedding is captured."""


def find_layer(model: nn.Module, layer: str | None) -> tuple[str, nn.Module, bool]:
    """Resolve ``layer`` to ``(name, module, capture_input)``.

    ``layer=None`` selects the last ``nn.Linear`` in ``model.named_modules()`` order and
    captures its *input* (the penultimate features); a named layer captures its *output*.
    """
    modules = dict(model.named_modules())
    if layer is None:
        linears = [(n, m) for n, m in modules.items() if isinstance(m, nn.Linear)]
        if not linears:
            names = [n for n in modules if n]
            raise ValueError(
                "layer=None takes the input of the last nn.Linear, but the model has no "
                f"nn.Linear; pass layer= one of {names}"
            )
        name, mod = linears[-1]
        return name, mod, True
    if not isinstance(layer, str):
        raise TypeError(f"layer must be a dotted module name (str) or None, got {layer!r}")
    if layer not in modules or layer == "":
        names = [n for n in modules if n]
        raise ValueError(
            f"layer={layer!r} is not a submodule of {type(model).__name__}; available names "
            f"(as in model.named_modules()): {names}"
        )
    return layer, modules[layer], False


def _run(
    model: nn.Module,
    data: Any,
    *,
    layer: str | None,
    device: str | torch.device,
    batch_size: int,
    stop_early: bool,
    return_log_probs: bool = False,
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    batch_size = check_batch_size(batch_size)
    dev = check_model_device(model, device)
    name, module, capture_input = find_layer(model, layer)
    captured: list[torch.Tensor] = []

    def grab(value: Any) -> None:
        if captured:  # module runs several times per forward: keep the first call
            return
        if isinstance(value, (tuple, list)):
            value = value[0]
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"layer {name!r} produced {type(value).__name__}, not a tensor")
        captured.append(value.detach())
        if stop_early:
            raise _Stop

    if capture_input:
        handle = module.register_forward_pre_hook(lambda m, inputs: grab(inputs[0]))
    else:
        handle = module.register_forward_hook(lambda m, inputs, output: grab(output))

    embs: list[torch.Tensor] = []
    probs: list[torch.Tensor] = []
    dtype = model_dtype(model)
    try:
        with eval_mode(model), torch.no_grad():
            for x in iter_batches(data, batch_size, device=dev, dtype=dtype):
                captured.clear()
                try:
                    out = model(x)
                except _Stop:
                    out = None
                if not captured:
                    raise RuntimeError(
                        f"layer {name!r} was not called during model.forward; pick a layer "
                        "that the forward pass uses"
                    )
                e = captured[0]
                if e.shape[0] != x.shape[0]:
                    raise ValueError(
                        f"layer {name!r} output has leading size {e.shape[0]}, expected the "
                        f"batch size {x.shape[0]}"
                    )
                e = e.reshape(e.shape[0], -1)
                if e.dtype in (torch.float16, torch.bfloat16):
                    e = e.float()
                embs.append(e.cpu())
                if out is not None:
                    logits = check_logits(out)
                    probs.append(logits_to_output(logits, return_log_probs))
    finally:
        handle.remove()
    if not embs:
        raise ValueError("data holds no items")
    return embs, probs


def extract_embeddings(
    model: nn.Module,
    data: Any,
    *,
    layer: str | None = None,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
) -> torch.Tensor:
    """Features of ``data`` at one layer of ``model``, in eval mode.

    Parameters
    ----------
    model : nn.Module
        Already on ``device``.
    data : ndarray, Tensor or DataLoader
        Inputs ``[N, ...]`` or a non-shuffling DataLoader yielding ``x`` or ``(x, y)``.
    layer : str, optional
        Dotted name as in ``model.named_modules()`` (e.g. ``"trunk.3"``); its output is
        taken. ``None`` (default): the input of the last ``nn.Linear`` (penultimate
        features). If the module runs several times per forward, the first call counts.
    device : str or torch.device, default "cpu"
    batch_size : int, default 256

    Returns
    -------
    Tensor, shape [N, D], on the CPU
        The layer's value for each item, flattened.

    Raises
    ------
    ValueError
        Unknown ``layer`` (the message lists the available names).

    Notes
    -----
    The forward pass stops as soon as the layer has run, so later layers cost nothing.
    """
    embs, _ = _run(model, data, layer=layer, device=device, batch_size=batch_size, stop_early=True)
    return torch.cat(embs, dim=0)


def predict_with_embeddings(
    model: nn.Module,
    data: Any,
    *,
    layer: str | None = None,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
    return_log_probs: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic predictions and embeddings in one forward pass (eval mode).

    Parameters
    ----------
    model, data, layer, device, batch_size
        As in :func:`extract_embeddings`; the model returns logits ``[B, C]``.
    return_log_probs : bool, default False
        Return log-softmax instead of softmax.

    Returns
    -------
    probs : Tensor, shape [N, 1, C], on the CPU
        Predictive distribution (K = 1, deterministic).
    emb : Tensor, shape [N, D], on the CPU
        Embeddings at ``layer``.
    """
    embs, probs = _run(
        model,
        data,
        layer=layer,
        device=device,
        batch_size=batch_size,
        stop_early=False,
        return_log_probs=return_log_probs,
    )
    return torch.cat(probs, dim=0)[:, None, :], torch.cat(embs, dim=0)
