"""Small reference networks with a ``trunk`` / ``head`` split and seeded initialisation.

Both expose ``.trunk`` (deterministic feature extractor) and ``.head`` (starts with dropout),
with ``forward(x) == head(trunk(x))``, so that :func:`~labelwise.models.mc_dropout_predict`
computes the trunk once and runs only the head K times.

Weights are initialised from an explicit ``torch.Generator`` with PyTorch's default scheme
(Kaiming-uniform with ``a = sqrt(5)``, bias ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``): the
same generator seed gives identical weights, and torch's global RNG is never touched (layers
are built on the ``meta`` device, then materialised and initialised from the generator).
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from labelwise._validation import torch_generator

__all__ = ["MLP", "MODEL_NAMES", "GalCNN", "ImageShape", "init_parameters", "make_model"]


def init_parameters(module: nn.Module, generator: torch.Generator) -> nn.Module:
    """Re-initialise every Linear / Conv / BatchNorm of ``module`` from ``generator``.

    Uses PyTorch's default initialisation for these layers, but draws from ``generator``.

    Parameters
    ----------
    module : nn.Module
    generator : torch.Generator
        On the device of the parameters.

    Returns
    -------
    nn.Module
        ``module`` (modified in place).
    """
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd)):
                # _ConvNd covers Conv1d/2d/3d and their transposed versions.
                nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=generator)
                if m.bias is not None:
                    fan_in, _ = nn.init._calculate_fan_in_and_fan_out(m.weight)
                    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                    nn.init.uniform_(m.bias, -bound, bound, generator=generator)
            elif isinstance(m, nn.modules.batchnorm._NormBase):
                m.reset_running_stats()
                if m.affine:
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)
            elif any(True for _ in m.parameters(recurse=False)) and not hasattr(
                m, "reset_parameters_from"
            ):
                raise TypeError(
                    f"init_parameters cannot initialise {type(m).__name__} (its parameters would "
                    "keep uninitialised memory); give it a reset_parameters_from(generator) "
                    "method or use Linear / Conv / BatchNorm layers"
                )
            reset = getattr(m, "reset_parameters_from", None)
            if callable(reset):
                reset(generator)
    return module


def _materialise(module: nn.Module, generator: torch.Generator | None) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}"
        )
    g = generator if generator is not None else torch_generator(None)
    module.to_empty(device=g.device)
    init_parameters(module, g)


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class ImageShape(nn.Module):
    """Reshape inputs to ``[B, channels, S, S]``.

    Accepts ``[B, channels, S, S]`` (unchanged), ``[B, S, S]`` when ``channels == 1`` and
    flat ``[B, channels * S * S]`` (e.g. scikit-learn digits as 64 features).
    """

    def __init__(self, channels: int, size: int) -> None:
        super().__init__()
        self.channels = channels
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, ...] -> [B, channels, S, S]``."""
        c, s = self.channels, self.size
        if x.ndim == 4 and tuple(x.shape[1:]) == (c, s, s):
            return x
        if x.ndim == 3 and c == 1 and tuple(x.shape[1:]) == (s, s):
            return x.unsqueeze(1)
        if x.ndim == 2 and x.shape[1] == c * s * s:
            return x.reshape(x.shape[0], c, s, s)
        raise ValueError(
            f"expected images [B, {c}, {s}, {s}]"
            + (f" or [B, {s}, {s}]" if c == 1 else "")
            + f" or flat [B, {c * s * s}], got shape {tuple(x.shape)}"
        )

    def extra_repr(self) -> str:
        return f"channels={self.channels}, size={self.size}"


class GalCNN(nn.Module):
    """The CNN of Gal, Islam & Ghahramani (2017), "Deep Bayesian active learning with image
    data", ICML (after the Keras MNIST example).

    ``conv(32, 4x4) - relu - conv(32, 4x4) - relu - maxpool(2x2) - dropout(0.25) -
    dense(128) - relu - dropout(0.5) - dense(C)``; convolutions are unpadded.

    Parameters
    ----------
    n_classes : int, default 10
    in_channels : int, default 1
    image_size : int, default 28
        Height = width of the input; at least 8 (8 for scikit-learn digits, 28 for MNIST).
    generator : torch.Generator, optional
        Initialises the weights (and sets their device); None = fresh entropy.

    Attributes
    ----------
    trunk : nn.Sequential
        :class:`ImageShape`, convolutions, pooling and flatten:
        ``[B, in_channels, S, S] -> [B, 32 * s * s]`` with ``s = (S - 6) // 2``.
        Deterministic. Inputs ``[B, S, S]`` (one channel) and flat ``[B, C * S * S]`` are
        reshaped first.
    head : nn.Sequential
        ``dropout(0.25) - dense(128) - relu - dropout(0.5) - dense(C)`` -> logits ``[B, C]``.
    """

    trunk: nn.Sequential
    head: nn.Sequential
    n_classes: int
    in_channels: int
    image_size: int

    def __init__(
        self,
        n_classes: int = 10,
        in_channels: int = 1,
        image_size: int = 28,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        n_classes = _positive_int(n_classes, "n_classes")
        in_channels = _positive_int(in_channels, "in_channels")
        image_size = _positive_int(image_size, "image_size")
        if image_size < 8:
            raise ValueError(
                f"image_size must be >= 8 (two unpadded 4x4 convolutions and a 2x2 pool), "
                f"got {image_size}"
            )
        self.n_classes = n_classes
        self.in_channels = in_channels
        self.image_size = image_size
        side = (image_size - 6) // 2
        with torch.device("meta"):
            self.trunk = nn.Sequential(
                ImageShape(in_channels, image_size),
                nn.Conv2d(in_channels, 32, kernel_size=4),
                nn.ReLU(),
                nn.Conv2d(32, 32, kernel_size=4),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Flatten(),
            )
            self.head = nn.Sequential(
                nn.Dropout(0.25),
                nn.Linear(32 * side * side, 128),
                nn.ReLU(),
                nn.Dropout(0.5),
                nn.Linear(128, n_classes),
            )
        _materialise(self, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, C]`` of images ``[B, in_channels, S, S]`` (see :class:`ImageShape`)."""
        return self.head(self.trunk(x))

    def extra_repr(self) -> str:
        return (
            f"n_classes={self.n_classes}, in_channels={self.in_channels}, "
            f"image_size={self.image_size}"
        )


class MLP(nn.Module):
    """A multilayer perceptron with dropout before every dense layer after the first.

    Parameters
    ----------
    in_features : int
        Inputs are flattened to ``[B, in_features]``.
    n_classes : int
    hidden : sequence of int, default (128,)
        Widths of the hidden layers (at least one).
    dropout : float, default 0.5
        Drop probability of the head's dropout layers.
    generator : torch.Generator, optional
        Initialises the weights (and sets their device); None = fresh entropy.

    Attributes
    ----------
    trunk : nn.Sequential
        ``flatten - dense(hidden[0]) - relu``. Deterministic.
    head : nn.Sequential
        ``dropout - dense(hidden[1]) - relu - ... - dropout - dense(C)`` -> logits.
    """

    trunk: nn.Sequential
    head: nn.Sequential
    in_features: int
    n_classes: int
    hidden: tuple[int, ...]
    dropout: float

    def __init__(
        self,
        in_features: int,
        n_classes: int,
        hidden: Sequence[int] = (128,),
        dropout: float = 0.5,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        in_features = _positive_int(in_features, "in_features")
        n_classes = _positive_int(n_classes, "n_classes")
        widths = [_positive_int(h, "hidden[i]") for h in hidden]
        if not widths:
            raise ValueError("hidden must list at least one layer width, got ()")
        if not isinstance(dropout, numbers.Real) or not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}")
        self.in_features = in_features
        self.n_classes = n_classes
        self.hidden = tuple(widths)
        self.dropout = float(dropout)
        with torch.device("meta"):
            self.trunk = nn.Sequential(nn.Flatten(), nn.Linear(in_features, widths[0]), nn.ReLU())
            layers: list[nn.Module] = []
            for a, b in itertools.pairwise(widths):
                layers += [nn.Dropout(self.dropout), nn.Linear(a, b), nn.ReLU()]
            layers += [nn.Dropout(self.dropout), nn.Linear(widths[-1], n_classes)]
            self.head = nn.Sequential(*layers)
        _materialise(self, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, C]`` of inputs ``[B, ...]`` with ``in_features`` values each."""
        return self.head(self.trunk(x))

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, n_classes={self.n_classes}, "
            f"hidden={self.hidden}, dropout={self.dropout}"
        )


def _square_image_shape(input_shape: tuple[int, ...], model: str) -> tuple[int, ...]:
    """``(channels, S, S)`` of square images (``(S, S)`` means one channel)."""
    if len(input_shape) == 2:
        input_shape = (1, *input_shape)
    if len(input_shape) != 3 or input_shape[1] != input_shape[2]:
        raise ValueError(
            f"{model} needs square images: input_shape (channels, S, S) or (S, S), got "
            f"{input_shape}"
        )
    return input_shape


def _make_gal_cnn(
    input_shape: tuple[int, ...], n_classes: int, generator: torch.Generator | None, **kw: Any
) -> nn.Module:
    input_shape = _square_image_shape(input_shape, "gal-cnn")
    return GalCNN(
        n_classes=n_classes,
        in_channels=input_shape[0],
        image_size=input_shape[1],
        generator=generator,
        **kw,
    )


def _make_mlp(
    input_shape: tuple[int, ...], n_classes: int, generator: torch.Generator | None, **kw: Any
) -> nn.Module:
    return MLP(math.prod(input_shape), n_classes, generator=generator, **kw)


def _make_bbb_mlp(
    input_shape: tuple[int, ...], n_classes: int, generator: torch.Generator | None, **kw: Any
) -> nn.Module:
    from labelwise.models.bayes_by_backprop import BayesMLP

    return BayesMLP(math.prod(input_shape), n_classes, generator=generator, **kw)


def _make_bbb_cnn(
    input_shape: tuple[int, ...], n_classes: int, generator: torch.Generator | None, **kw: Any
) -> nn.Module:
    from labelwise.models.bayes_by_backprop import BayesCNN

    input_shape = _square_image_shape(input_shape, "bbb-cnn")
    return BayesCNN(
        n_classes, input_shape[0], input_shape[1], generator=generator, **kw
    )


def _with_mixture_prior(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """The same Bayes network with the scale-mixture prior (Monte Carlo KL)."""

    def make(
        input_shape: tuple[int, ...], n_classes: int, generator: torch.Generator | None,
        **kw: Any,
    ) -> nn.Module:
        from labelwise.models.bayes_by_backprop import ScaleMixturePrior

        kw.setdefault("prior", ScaleMixturePrior())
        return factory(input_shape, n_classes, generator, **kw)

    return make


def _make_learning_loss(kind: str) -> Callable[..., nn.Module]:
    def factory(
        input_shape: tuple[int, ...], n_classes: int, generator: torch.Generator | None,
        **kw: Any,
    ) -> nn.Module:
        from labelwise.models.learning_loss import make_learning_loss_model

        return make_learning_loss_model(kind, input_shape, n_classes, generator, **kw)

    return factory


def _make_split_head_mlp(
    input_shape: tuple[int, ...], n_classes: int, generator: torch.Generator | None, **kw: Any
) -> nn.Module:
    from labelwise.models.implicit_ensembles import SplitHeadMLP

    return SplitHeadMLP(math.prod(input_shape), n_classes, generator=generator, **kw)


_FACTORIES: dict[str, Callable[..., nn.Module]] = {
    "gal-cnn": _make_gal_cnn,
    "mlp": _make_mlp,
    "bbb-mlp": _make_bbb_mlp,  # Bayes by backprop (Blundell et al. 2015)
    "bbb-cnn": _make_bbb_cnn,
    # ... with the paper's scale-mixture prior pi N(0, 1) + (1 - pi) N(0, e^-12), pi = 1/2
    "bbb-mlp-mixture": _with_mixture_prior(_make_bbb_mlp),
    "bbb-cnn-mixture": _with_mixture_prior(_make_bbb_cnn),
    "ll-mlp": _make_learning_loss("ll-mlp"),  # learning loss (Yoo & Kweon 2019)
    "ll-cnn": _make_learning_loss("ll-cnn"),
    "split-head-mlp": _make_split_head_mlp,  # one trunk, n_heads heads (Beluch et al. 2018)
}

#: Names accepted by :func:`make_model`.
MODEL_NAMES: tuple[str, ...] = tuple(_FACTORIES)


def make_model(
    name: str,
    *,
    input_shape: Sequence[int],
    n_classes: int,
    generator: torch.Generator | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build a fresh, seeded network by name (for the simulation loop).

    Parameters
    ----------
    name : str
        One of :data:`MODEL_NAMES`: ``"gal-cnn"``, ``"mlp"``, ``"bbb-mlp"``, ``"bbb-cnn"``,
        ``"bbb-mlp-mixture"``, ``"bbb-cnn-mixture"``, ``"ll-mlp"``, ``"ll-cnn"``,
        ``"split-head-mlp"``.
        ``bbb-*``: Bayes-by-backprop networks (:mod:`labelwise.models.bayes_by_backprop`),
        ``*-mixture`` with the scale-mixture prior (:class:`~labelwise.models.ScaleMixturePrior`);
        ``ll-*``: with a loss-prediction module (:mod:`labelwise.models.learning_loss`);
        ``split-head-mlp``: :class:`~labelwise.models.SplitHeadMLP` (``n_heads=M``).
    input_shape : sequence of int
        Shape of one input item without the batch axis: ``(C, S, S)`` or ``(S, S)`` for
        ``"gal-cnn"``; anything for ``"mlp"`` (flattened).
    n_classes : int
    generator : torch.Generator, optional
        Initialises the weights; the model lives on the generator's device.
    **kwargs
        Passed to the network (e.g. ``hidden=(256,)``, ``dropout=0.3`` for ``"mlp"``).

    Returns
    -------
    nn.Module
        :class:`GalCNN` or :class:`MLP`.

    Raises
    ------
    ValueError
        Unknown name (the message lists the known ones) or unsuitable ``input_shape``.
    """
    if name not in _FACTORIES:
        raise ValueError(f"unknown model name {name!r}; known names: {list(MODEL_NAMES)}")
    shape = tuple(_positive_int(s, "input_shape[i]") for s in input_shape)
    if not shape:
        raise ValueError("input_shape must have at least one axis, got ()")
    return _FACTORIES[name](shape, n_classes, generator, **kwargs)
