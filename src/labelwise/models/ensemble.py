"""Deep-ensemble predictive samples ``[N, M, C]``.

Lakshminarayanan, Pritzel & Blundell (2017), "Simple and scalable predictive uncertainty
estimation using deep ensembles", NeurIPS; for active learning: Beluch et al. (2018),
"The power of ensembles for active learning in image classification", CVPR.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from labelwise.models._common import (
    check_batch_size,
    check_logits,
    check_members,
    check_model_device,
    concat_items,
    eval_mode,
    iter_batches,
    logits_to_output,
    model_dtype,
)

__all__ = ["ensemble_predict"]


def ensemble_predict(
    models: Sequence[nn.Module],
    data: Any,
    *,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
    return_log_probs: bool = False,
) -> torch.Tensor:
    """Predictions of every ensemble member, in eval mode (deterministic).

    Parameters
    ----------
    models : sequence of nn.Module, length M
        Members returning logits ``[B, C]`` with the same C; already on ``device``.
    data : ndarray, Tensor or DataLoader
        Inputs ``[N, ...]`` or a non-shuffling DataLoader yielding ``x`` or ``(x, y)``.
    device : str or torch.device, default "cpu"
    batch_size : int, default 256
        Items per forward pass (a DataLoader keeps its own batches).
    return_log_probs : bool, default False
        Return log-softmax instead of softmax.

    Returns
    -------
    Tensor, shape [N, M, C], on the CPU
        Member ``m``'s class probabilities in ``[:, m, :]``.

    Notes
    -----
    Members are put in eval mode (dropout off, BatchNorm on running statistics); every
    submodule's mode is restored afterwards.
    """
    members = check_members(models, "models")
    batch_size = check_batch_size(batch_size)
    dev = torch.device(device)
    for m in members:
        check_model_device(m, dev)
    dtype = model_dtype(members[0])
    pieces: list[torch.Tensor] = []
    with contextlib.ExitStack() as stack, torch.no_grad():
        for m in members:
            stack.enter_context(eval_mode(m))
        for x in iter_batches(data, batch_size, device=dev, dtype=dtype):
            outs = []
            for i, m in enumerate(members):
                logits = check_logits(m(x), f"output of models[{i}]")
                outs.append(logits_to_output(logits, return_log_probs))
            n_classes = {o.shape[-1] for o in outs}
            if len(n_classes) > 1:
                raise ValueError(
                    f"ensemble members disagree on the number of classes: {sorted(n_classes)}"
                )
            pieces.append(torch.stack(outs, dim=1))
    return concat_items(pieces)
