"""Dropout driven by an explicit ``torch.Generator`` (no global random state).

:func:`seeded_dropout` is the one mechanism labelwise uses whenever dropout must be
stochastic: MC dropout at prediction time (Gal & Ghahramani, 2016, "Dropout as a Bayesian
approximation", ICML) and ordinary training. Inside the context every dropout module is put
in eval mode (so torch's own dropout, which reads the global RNG, is a no-op) and a forward
hook multiplies its output by a mask drawn from the given generator:

- ``nn.Dropout``: an element-wise mask ``bernoulli(1 - p) / (1 - p)`` of the input's shape;
- ``nn.Dropout1d`` / ``Dropout2d`` / ``Dropout3d``: one mask value per (item, channel),
  broadcast over the 1, 2 or 3 trailing spatial axes (Tompson et al., 2015).

The rest of the model is in eval mode (``train=False``: BatchNorm uses its running
statistics, as MC dropout requires) or in train mode (``train=True``: BatchNorm updates its
statistics, for training). Masks are drawn in the order the dropout layers run, so a given
generator state, input and batch layout always give the same masks.

Functional dropout calls inside ``forward`` (``F.dropout(x, training=self.training)``) are
not modules and cannot be hooked; use ``nn.Dropout`` modules.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

__all__ = ["DROPOUT_TYPES", "dropout_mask", "dropout_modules", "has_dropout", "seeded_dropout"]

#: Dropout modules :func:`seeded_dropout` drives, with the number of trailing axes a mask
#: value is shared over (0 = element-wise).
DROPOUT_TYPES: dict[type[nn.Module], int] = {
    nn.Dropout: 0,
    nn.Dropout1d: 1,
    nn.Dropout2d: 2,
    nn.Dropout3d: 3,
}

_UNSUPPORTED = (nn.AlphaDropout, nn.FeatureAlphaDropout)

# Dropout modules currently driven by a seeded_dropout context (guards against nesting,
# which would apply two masks).
_ACTIVE: weakref.WeakSet[nn.Module] = weakref.WeakSet()


def _kind(module: nn.Module) -> int | None:
    if isinstance(module, _UNSUPPORTED):
        return None
    for cls, n_shared in DROPOUT_TYPES.items():
        if type(module) is cls:
            return n_shared
    for cls, n_shared in DROPOUT_TYPES.items():  # subclasses
        if isinstance(module, cls):
            return n_shared
    return None


def dropout_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The dropout modules of ``model`` as ``(dotted name, module)``, in registration order.

    Raises
    ------
    TypeError
        ``model`` contains ``nn.AlphaDropout`` or ``nn.FeatureAlphaDropout``, which
        :func:`seeded_dropout` does not drive.
    """
    found = []
    for name, m in model.named_modules():
        if isinstance(m, _UNSUPPORTED):
            raise TypeError(
                f"model contains {type(m).__name__} at {name!r}, which seeded dropout does not "
                "support (its masks need the SELU affine correction); replace it with "
                "nn.Dropout or predict with a deep ensemble instead"
            )
        if _kind(m) is not None:
            found.append((name, m))
    return found


def has_dropout(module: nn.Module) -> bool:
    """Whether ``module`` or any of its submodules is a supported dropout layer."""
    return len(dropout_modules(module)) > 0


def dropout_mask(
    shape: torch.Size | tuple[int, ...],
    p: float,
    n_shared: int,
    *,
    generator: torch.Generator,
    dtype: torch.dtype,
    device: torch.device,
) -> torch.Tensor:
    """A scaled dropout mask for an input of ``shape``.

    Parameters
    ----------
    shape : tuple of int
        Input shape, e.g. ``[B, F]`` or ``[B, C, H, W]``.
    p : float
        Drop probability in ``[0, 1]``.
    n_shared : int
        Number of trailing axes sharing one mask value (0 element-wise, 2 for Dropout2d).
    generator : torch.Generator
        Source of randomness; the mask is drawn on its device and then moved to ``device``.
    dtype, device
        Of the returned mask.

    Returns
    -------
    Tensor, shape ``shape[:-n_shared] + (1,) * n_shared``
        Values ``0`` (probability ``p``) or ``1 / (1 - p)``.
    """
    mshape = tuple(shape[: len(shape) - n_shared]) + (1,) * n_shared
    if p >= 1.0:
        return torch.zeros(mshape, dtype=dtype, device=device)
    draw_dtype = dtype if dtype in (torch.float32, torch.float64) else torch.float32
    mask = torch.empty(mshape, dtype=draw_dtype, device=generator.device)
    mask.bernoulli_(1.0 - p, generator=generator)
    mask.div_(1.0 - p)
    return mask.to(device=device, dtype=dtype)


def _make_hook(kind: int, generator: torch.Generator) -> Any:
    def hook(module: nn.Module, inputs: tuple[Any, ...], output: torch.Tensor) -> torch.Tensor:
        if module.training:
            raise RuntimeError(
                f"{type(module).__name__} was switched back to training mode inside "
                "seeded_dropout (was model.train() called inside the context?); torch's own "
                "dropout would then also apply, drawing from the global RNG"
            )
        p = float(getattr(module, "p", 0.0))
        if p == 0.0:
            return output
        x = inputs[0]
        n_shared = kind
        if kind and x.ndim <= kind:
            raise ValueError(
                f"{type(module).__name__} expects inputs with a channel axis and {kind} "
                f"spatial axes, got shape {tuple(x.shape)}"
            )
        if isinstance(module, nn.Dropout2d) and x.ndim == 3:
            n_shared = 1  # torch treats 3-D input to Dropout2d as channel-wise 1-D dropout
        mask = dropout_mask(
            x.shape, p, n_shared, generator=generator, dtype=x.dtype, device=x.device
        )
        return x * mask

    return hook


@contextlib.contextmanager
def seeded_dropout(
    model: nn.Module, generator: torch.Generator, *, train: bool = False
) -> Iterator[nn.Module]:
    """Make every dropout layer of ``model`` stochastic, drawing masks from ``generator``.

    Parameters
    ----------
    model : nn.Module
        Any module. Its dropout layers (``nn.Dropout``, ``Dropout1d/2d/3d`` and subclasses)
        are driven by ``generator``.
    generator : torch.Generator
        Source of all dropout randomness. Two runs from equal generator states on equal
        inputs draw equal masks. The global torch RNG is never read.
    train : bool, default False
        ``False``: every other module is in eval mode (BatchNorm uses running statistics;
        MC dropout). ``True``: every other module is in train mode (training).

    Yields
    ------
    nn.Module
        ``model`` itself.

    Raises
    ------
    TypeError
        ``generator`` is not a torch.Generator, or the model contains AlphaDropout.
    RuntimeError
        The context is nested on the same model (masks would apply twice), or a dropout
        layer is put back in training mode inside the context.

    Notes
    -----
    On exit (also on an exception) the hooks are removed and every submodule's own
    ``training`` flag is restored.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> with seeded_dropout(model, g):          # doctest: +SKIP
    ...     sample = model(x)
    """
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator, got {type(generator).__name__}; build one "
            "with labelwise._validation.torch_generator(rng) or torch.Generator().manual_seed(s)"
        )
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    drops = dropout_modules(model)
    for name, m in drops:
        if m in _ACTIVE:
            raise RuntimeError(
                f"dropout layer {name!r} is already driven by another seeded_dropout context; "
                "nesting would apply two masks"
            )
    modes = [(m, m.training) for m in model.modules()]
    handles = []
    try:
        model.train(train)
        for _, m in drops:
            m.eval()
            kind = _kind(m)
            assert kind is not None
            handles.append(m.register_forward_hook(_make_hook(kind, generator)))
            _ACTIVE.add(m)
        yield model
    finally:
        for h in handles:
            h.remove()
        for _, m in drops:
            _ACTIVE.discard(m)
        for m, training in modes:
            m.training = training
