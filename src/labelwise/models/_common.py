"""Helpers shared by the model adapters: batching inputs, devices, eval mode, generators."""

from __future__ import annotations

import contextlib
import math
import numbers
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, RandomSampler

from labelwise._validation import RNGLike, as_tensor, torch_generator

__all__ = [
    "DataLike",
    "check_batch_size",
    "check_logits",
    "check_members",
    "check_model_device",
    "check_sample_count",
    "concat_items",
    "eval_batches",
    "eval_mode",
    "iter_batches",
    "logits_to_output",
    "model_dtype",
    "sampling_generator",
    "spawn_generators",
]

#: Inputs accepted by the adapters: an array of inputs ``[N, ...]`` or a DataLoader that
#: yields ``x`` or ``(x, y, ...)`` batches in dataset order.
DataLike = np.ndarray | torch.Tensor | DataLoader


def check_batch_size(batch_size: Any, name: str = "batch_size") -> int:
    """Validate a positive integer batch size."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise TypeError(f"{name} must be a positive integer, got {batch_size!r}")
    if int(batch_size) < 1:
        raise ValueError(f"{name} must be >= 1, got {batch_size}")
    return int(batch_size)


def check_real(
    value: Any, name: str, *, low: float = 0.0, high: float = math.inf, low_open: bool = False
) -> float:
    """A finite real number in ``[low, high]`` (``(low, high]`` with ``low_open``), as float.

    Hyper-parameters such as a hinge margin or a loss weight: NaN, infinities and the wrong
    sign would not fail loudly later, they would silently turn a term off or poison the loss.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    v = float(value)
    below = v <= low if low_open else v < low
    if not math.isfinite(v) or below or v > high:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}]"
        raise ValueError(f"{name} must be a finite number in {interval}, got {value!r}")
    return v


def check_epoch_or_none(value: Any, name: str) -> int | None:
    """None or an int >= 0 (an epoch number)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 0:
        raise ValueError(f"{name} must be an int >= 0 (an epoch) or None, got {value!r}")
    return int(value)


def model_dtype(model: nn.Module) -> torch.dtype | None:
    """The dtype of the model's first floating-point parameter or buffer (None if none)."""
    for t in list(model.parameters()) + list(model.buffers()):
        if torch.is_floating_point(t):
            return t.dtype
    return None


def check_model_device(model: nn.Module, device: str | torch.device) -> torch.device:
    """Return ``torch.device(device)``; raise if the model's tensors live elsewhere.

    The adapters never move a model behind the caller's back (DESIGN rule 4).
    """
    dev = torch.device(device)
    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        same = t.device.type == dev.type and (dev.index is None or t.device.index == dev.index)
        if not same:
            raise ValueError(
                f"model tensor {name!r} is on {t.device} but device={str(device)!r}; "
                f"call model.to({str(dev)!r}) first or pass device={str(t.device)!r}"
            )
    return dev


def _prepare(x: Any, dtype: torch.dtype | None, device: torch.device, name: str) -> torch.Tensor:
    t = as_tensor(x, name)
    if dtype is not None and torch.is_floating_point(t) and t.dtype != dtype:
        t = t.to(dtype)
    return t.to(device)


def _first(batch: Any) -> Any:
    if isinstance(batch, (tuple, list)):
        if len(batch) == 0:
            raise ValueError("data loader yielded an empty batch tuple")
        return batch[0]
    if isinstance(batch, dict):
        raise TypeError("data loader yielded a dict; wrap it so that it yields x or (x, y) tensors")
    return batch


def iter_batches(
    data: Any,
    batch_size: int,
    *,
    device: torch.device,
    dtype: torch.dtype | None = None,
    name: str = "data",
) -> Iterator[torch.Tensor]:
    """Yield input batches of ``data`` in dataset order, on ``device``.

    ``data`` is an array of inputs ``[N, ...]`` (numpy or torch; cut into ``batch_size``
    rows) or a :class:`~torch.utils.data.DataLoader` yielding ``x`` or ``(x, y, ...)``
    (its own batching is used). Floating inputs are cast to ``dtype`` (the model's dtype)
    so that float64 numpy arrays work with float32 models.
    """
    if isinstance(data, DataLoader):
        inner = getattr(data.batch_sampler, "sampler", None)
        if isinstance(inner, RandomSampler) or isinstance(data.sampler, RandomSampler):
            raise ValueError(  # noqa: TRY004 (a wrong setting, not a wrong type)
                f"{name} is a DataLoader that shuffles (shuffle=True); predictions would not "
                "line up with the dataset order. Build the loader with shuffle=False"
            )
        for batch in data:
            yield _prepare(_first(batch), dtype, device, name)
        return
    if isinstance(data, (np.ndarray, torch.Tensor, list, tuple)):
        t = as_tensor(data, name)
        if t.ndim == 0:
            raise ValueError(f"{name} must have a leading item axis [N, ...], got a scalar")
        for start in range(0, t.shape[0], batch_size):
            yield _prepare(t[start : start + batch_size], dtype, device, name)
        return
    raise TypeError(
        f"{name} must be a numpy array, a torch tensor or a torch DataLoader, "
        f"got {type(data).__name__}"
    )


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode; restore every submodule's own mode on exit."""
    modes = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        yield model
    finally:
        for m, training in modes:
            m.training = training


def logits_to_output(logits: torch.Tensor, return_log_probs: bool) -> torch.Tensor:
    """Softmax (or log-softmax) over the last axis, in at least float32, on the CPU."""
    if not torch.is_floating_point(logits):
        raise TypeError(f"model output must be floating-point logits, got dtype {logits.dtype}")
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    out = torch.log_softmax(logits, dim=-1) if return_log_probs else torch.softmax(logits, dim=-1)
    return out.cpu()


def check_logits(out: Any, name: str = "model output") -> torch.Tensor:
    """The model output must be a ``[B, C]`` tensor of logits."""
    if not isinstance(out, torch.Tensor):
        raise TypeError(
            f"{name} must be a tensor of logits [B, C], got {type(out).__name__}; wrap the "
            "model so that forward returns the logits"
        )
    if out.ndim != 2:
        raise ValueError(f"{name} must be logits [B, C], got shape {tuple(out.shape)}")
    return out


def concat_items(pieces: Sequence[torch.Tensor], name: str = "data") -> torch.Tensor:
    """``torch.cat(pieces)`` along the item axis; raise if ``name`` yielded no batch."""
    if not pieces:
        raise ValueError(f"{name} holds no items")
    return torch.cat(list(pieces), dim=0)


def eval_batches(
    model: nn.Module,
    data: Any,
    fn: Callable[[torch.Tensor], torch.Tensor],
    *,
    device: str | torch.device,
    batch_size: int,
    name: str = "data",
) -> torch.Tensor:
    """``fn(x)`` for every input batch ``x`` of ``data``, concatenated along the items.

    Validates ``batch_size`` and the model's device, casts inputs to the model's dtype and
    runs in eval mode without gradients (every submodule's mode restored afterwards).
    """
    batch_size = check_batch_size(batch_size)
    dev = check_model_device(model, device)
    dtype = model_dtype(model)
    out: list[torch.Tensor] = []
    with eval_mode(model), torch.no_grad():
        for x in iter_batches(data, batch_size, device=dev, dtype=dtype, name=name):
            out.append(fn(x))
    return concat_items(out, name)


def check_sample_count(k: Any, what: str) -> int:
    """``k``, the number of stochastic samples (``what``), as an int >= 1."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or int(k) < 1:
        raise ValueError(f"k (number of {what}) must be an integer >= 1, got {k!r}")
    return int(k)


def sampling_generator(
    generator: torch.Generator | None, rng: RNGLike, device: str | torch.device
) -> torch.Generator:
    """``generator`` itself, or a fresh one on ``device`` seeded from ``rng`` (exclusive)."""
    if generator is not None and rng is not None:
        raise ValueError("pass either generator= or rng=, not both")
    return generator if generator is not None else torch_generator(rng, device)


def spawn_generators(
    g: torch.Generator, n: int, device: str | torch.device | None = None
) -> list[torch.Generator]:
    """``n`` independent generators seeded from ``g`` (advanced in place): one per sample
    or member, so that each one's draws do not depend on the batch layout or on the others.
    They live on ``device`` (default: ``g``'s device)."""
    seeds = torch.randint(0, 2**62, (n,), generator=g, device=g.device).tolist()
    where = g.device if device is None else device
    return [torch.Generator(device=where).manual_seed(int(s)) for s in seeds]


def check_members(members: Any, name: str) -> list[nn.Module]:
    """The ensemble members in ``members`` (argument ``name``) as a non-empty list."""
    if isinstance(members, nn.Module) and not isinstance(members, (nn.ModuleList, nn.Sequential)):
        raise TypeError(
            f"{name} must be a sequence of modules (the ensemble members), got a single "
            f"{type(members).__name__}; pass [model] for a one-member ensemble"
        )
    out = list(members)
    if not out:
        raise ValueError(f"{name} is empty; an ensemble needs at least one member")
    for i, m in enumerate(out):
        if not isinstance(m, nn.Module):
            raise TypeError(f"{name}[{i}] must be a torch.nn.Module, got {type(m).__name__}")
    return out
