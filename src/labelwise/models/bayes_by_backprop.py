"""Bayes by backprop: variational Bayesian linear and convolutional layers.

Blundell, Cornebise, Kavukcuoglu & Wierstra (2015), "Weight uncertainty in neural networks",
ICML. Every weight has a diagonal Gaussian posterior ``q(w) = N(mu, sigma^2)`` with
``sigma = softplus(rho)`` (so that ``sigma > 0`` with unconstrained ``rho``), sampled by the
reparameterisation ``w = mu + sigma * eps``, ``eps ~ N(0, 1)``. Training minimises the
variational free energy per training item::

    mean_batch CE(f_w(x), y) + KL(q || p) / N_train

with one weight sample per minibatch. The default prior is ``p(w) = N(0, prior_sigma^2)``,
for which the KL divergence is analytic:

    KL = sum_i log(prior_sigma / sigma_i) + (sigma_i^2 + mu_i^2) / (2 prior_sigma^2) - 1/2.

With ``prior=ScaleMixturePrior(pi, sigma1, sigma2)`` (the paper's eq. 7,
``p(w) = pi N(0, sigma1^2) + (1 - pi) N(0, sigma2^2)``) the KL divergence has no closed form;
as in the paper (eq. 2 and sec. 3.2) it is estimated by Monte Carlo from the weights of the
forward pass, ``sum_i log q(w_i) - log p(w_i)``: one sample per minibatch, unbiased, with
gradients through ``mu``, ``rho`` and the reparameterised ``w``.

**Randomness.** Weights are sampled only inside :func:`weight_sampling`, from the
``torch.Generator`` it is given (never from torch's global RNG). Outside the context a layer
in eval mode uses its posterior mean ``mu`` (a deterministic model for evaluation and
embeddings); a layer in training mode raises, because training would silently lose its
noise. :func:`~labelwise.models.train_classifier` enters the context itself (seeded from its
``rng``) and adds the KL term through the models' ``extra_loss`` hook.

**Predictive samples.** :func:`bayes_predict` draws K weight samples and evaluates the whole
pool under each: sample ``k`` uses the same weights for every item (consistent samples, as
BatchBALD's joint entropies assume).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import numbers
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from labelwise._validation import RNGLike, torch_generator
from labelwise.models._common import (
    check_batch_size,
    check_logits,
    check_model_device,
    check_real,
    check_sample_count,
    concat_items,
    eval_mode,
    iter_batches,
    logits_to_output,
    model_dtype,
    sampling_generator,
    spawn_generators,
)
from labelwise.models.networks import ImageShape

__all__ = [
    "BayesCNN",
    "BayesConv2d",
    "BayesLayer",
    "BayesLinear",
    "BayesMLP",
    "ScaleMixturePrior",
    "bayes_kl",
    "bayes_predict",
    "has_bayes_layers",
    "weight_sampling",
]


def _check_generator(generator: Any) -> torch.Generator:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}"
        )
    return generator if generator is not None else torch_generator(None)


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class ScaleMixturePrior:
    """``p(w) = pi N(0, sigma1^2) + (1 - pi) N(0, sigma2^2)`` per weight (Blundell et al. 2015).

    Parameters
    ----------
    pi : float, default 0.5
        Weight of the first component, in ``(0, 1]``.
    sigma1 : float, default 1.0
        The wide component (the paper searches ``-log sigma1`` in {0, 1, 2}).
    sigma2 : float, default exp(-6)
        The narrow component, ``sigma2 << sigma1`` (``-log sigma2`` in {6, 7, 8}).
    """

    pi: float = 0.5
    sigma1: float = 1.0
    sigma2: float = math.exp(-6.0)

    def __post_init__(self) -> None:
        if not isinstance(self.pi, numbers.Real) or not 0.0 < float(self.pi) <= 1.0:
            raise ValueError(f"ScaleMixturePrior.pi must be in (0, 1], got {self.pi!r}")
        for name in ("sigma1", "sigma2"):
            v = getattr(self, name)
            if not isinstance(v, numbers.Real) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"ScaleMixturePrior.{name} must be a finite number > 0, got {v!r}")

    def log_prob(self, w: torch.Tensor) -> torch.Tensor:
        """Element-wise ``log p(w)`` (same shape as ``w``)."""
        half_log_2pi = 0.5 * math.log(2.0 * math.pi)

        def log_normal(s: float) -> torch.Tensor:
            return -half_log_2pi - math.log(s) - w.pow(2) / (2.0 * s * s)

        if self.pi == 1.0:
            return log_normal(self.sigma1)
        return torch.logaddexp(
            math.log(self.pi) + log_normal(self.sigma1),
            math.log1p(-self.pi) + log_normal(self.sigma2),
        )


class BayesLayer(nn.Module):
    """Base class: Gaussian posterior over a weight tensor and an optional bias.

    Parameters
    ----------
    weight_shape : tuple of int
        Shape of the weight tensor (``[out, in]`` or ``[out, in, kh, kw]``).
    fan_in : int
        Inputs per output unit; the posterior means start at ``U(-1/sqrt(fan_in),
        1/sqrt(fan_in))`` (PyTorch's default bound).
    bias : bool
    prior_sigma : float, default 1.0
        Standard deviation of the zero-mean Gaussian prior.
    rho_init : float, default -5.0
        Initial ``rho`` of every weight (``sigma = softplus(-5) ~ 0.0067``).
    generator : torch.Generator, optional
        Initialises ``mu`` and sets the device; None = fresh entropy.
    prior : ScaleMixturePrior, optional
        Replaces the Gaussian prior (``prior_sigma`` is then unused); the KL divergence is
        then a Monte Carlo estimate from the last weight sample (see the module notes).
    """

    prior_sigma: float
    rho_init: float
    weight_mu: nn.Parameter
    weight_rho: nn.Parameter
    bias_mu: nn.Parameter | None
    bias_rho: nn.Parameter | None

    def __init__(
        self,
        weight_shape: tuple[int, ...],
        fan_in: int,
        bias: bool,
        prior_sigma: float,
        rho_init: float,
        generator: torch.Generator | None,
        prior: ScaleMixturePrior | None = None,
    ) -> None:
        super().__init__()
        if prior is not None and not isinstance(prior, ScaleMixturePrior):
            raise TypeError(
                f"prior must be a ScaleMixturePrior or None (Gaussian N(0, prior_sigma^2)), "
                f"got {type(prior).__name__}"
            )
        self.prior = prior
        self._last_sample: dict[str, torch.Tensor] | None = None
        # its square and inverse square must be finite float32 numbers in the KL term
        prior_sigma = check_real(prior_sigma, "prior_sigma", low=1e-18, high=1e18)
        if not isinstance(rho_init, numbers.Real) or not math.isfinite(float(rho_init)):
            raise ValueError(f"rho_init must be a finite number, got {rho_init!r}")
        g = _check_generator(generator)
        self.prior_sigma = float(prior_sigma)
        self.rho_init = float(rho_init)
        self._generator: torch.Generator | None = None
        self._fixed: dict[str, torch.Tensor] | None = None
        bound = 1.0 / math.sqrt(fan_in)
        dev = g.device

        def mu(shape: tuple[int, ...]) -> nn.Parameter:
            t = torch.empty(shape, device=dev).uniform_(-bound, bound, generator=g)
            return nn.Parameter(t)

        def rho(shape: tuple[int, ...]) -> nn.Parameter:
            return nn.Parameter(torch.full(shape, self.rho_init, device=dev))

        self.weight_mu = mu(weight_shape)
        self.weight_rho = rho(weight_shape)
        if bias:
            self.bias_mu = mu((weight_shape[0],))
            self.bias_rho = rho((weight_shape[0],))
        else:
            self.register_parameter("bias_mu", None)
            self.register_parameter("bias_rho", None)

    def _pairs(self) -> list[tuple[str, nn.Parameter, nn.Parameter]]:
        out = [("weight", self.weight_mu, self.weight_rho)]
        if self.bias_mu is not None and self.bias_rho is not None:
            out.append(("bias", self.bias_mu, self.bias_rho))
        return out

    def sampled_parameters(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The weight and bias to use in this forward pass.

        Inside :func:`weight_sampling`: ``mu + softplus(rho) * eps`` with ``eps`` from the
        context's generator (the same draw for every call when ``fixed=True``). Outside, in
        eval mode: ``mu``.
        """
        if self._generator is None:
            if self.training:
                raise RuntimeError(
                    f"{type(self).__name__} is in training mode but has no generator to sample "
                    "its weights; train with labelwise.models.train_classifier, or wrap the "
                    "forward pass in labelwise.models.weight_sampling(model, generator)"
                )
            return self.weight_mu, self.bias_mu
        if self._fixed is not None and self._fixed:
            return self._fixed["weight"], self._fixed.get("bias")
        drawn: dict[str, torch.Tensor] = {}
        g = self._generator
        for name, m, r in self._pairs():
            eps = torch.randn(m.shape, generator=g, device=g.device, dtype=torch.float32)
            drawn[name] = m + F.softplus(r) * eps.to(device=m.device, dtype=m.dtype)
        if self._fixed is not None:
            self._fixed.update({k: v.detach() for k, v in drawn.items()})
        if self.prior is not None:
            self._last_sample = drawn  # for the Monte Carlo KL of this forward pass
        return drawn["weight"], drawn.get("bias")

    def kl_divergence(self) -> torch.Tensor:
        """``KL(q || p)`` summed over the layer's weights and biases (a scalar).

        Gaussian prior: the closed form. :class:`ScaleMixturePrior`: the one-sample Monte
        Carlo estimate ``sum log q(w) - log p(w)`` at the weights drawn by the last forward
        pass inside :func:`weight_sampling` (the sample is consumed: each forward pass
        gives one estimate).

        Raises
        ------
        RuntimeError
            Scale-mixture prior and no weight sample since the last call.
        """
        if self.prior is not None:
            return self._monte_carlo_kl(self.prior)
        s0 = self.prior_sigma
        total = self.weight_mu.new_zeros(())
        for _, m, r in self._pairs():
            sigma = F.softplus(r)
            total = total + (
                math.log(s0) - torch.log(sigma) + (sigma**2 + m**2) / (2.0 * s0**2) - 0.5
            ).sum()
        return total


    def _monte_carlo_kl(self, prior: ScaleMixturePrior) -> torch.Tensor:
        sample, self._last_sample = self._last_sample, None
        if sample is None:
            raise RuntimeError(
                f"{type(self).__name__} with a scale-mixture prior estimates KL(q || p) from "
                "the weights of a forward pass; run a forward pass inside "
                "labelwise.models.weight_sampling(model, generator) first (train_classifier "
                "does this for every minibatch)"
            )
        half_log_2pi = 0.5 * math.log(2.0 * math.pi)
        total = self.weight_mu.new_zeros(())
        for name, m, r in self._pairs():
            w = sample[name]
            sigma = F.softplus(r)
            log_q = -half_log_2pi - torch.log(sigma) - (w - m).pow(2) / (2.0 * sigma.pow(2))
            total = total + (log_q - prior.log_prob(w)).sum()
        return total


class BayesLinear(BayesLayer):
    """``y = x W^T + b`` with Gaussian posteriors over ``W`` [out, in] and ``b`` [out].

    Parameters
    ----------
    in_features, out_features : int
    bias : bool, default True
    prior_sigma, rho_init, generator, prior
        See :class:`BayesLayer`.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        prior_sigma: float = 1.0,
        rho_init: float = -5.0,
        generator: torch.Generator | None = None,
        prior: ScaleMixturePrior | None = None,
    ) -> None:
        self.in_features = _positive_int(in_features, "in_features")
        self.out_features = _positive_int(out_features, "out_features")
        super().__init__(
            (self.out_features, self.in_features), self.in_features, bias, prior_sigma,
            rho_init, generator, prior,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, in] -> [B, out]``."""
        w, b = self.sampled_parameters()
        return F.linear(x, w, b)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias_mu is not None}, prior_sigma={self.prior_sigma}"
        )


class BayesConv2d(BayesLayer):
    """2-D convolution with Gaussian posteriors over the kernel and bias.

    Parameters
    ----------
    in_channels, out_channels, kernel_size : int
    stride, padding : int, default 1, 0
    bias : bool, default True
    prior_sigma, rho_init, generator, prior
        See :class:`BayesLayer`.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
        *,
        prior_sigma: float = 1.0,
        rho_init: float = -5.0,
        generator: torch.Generator | None = None,
        prior: ScaleMixturePrior | None = None,
    ) -> None:
        self.in_channels = _positive_int(in_channels, "in_channels")
        self.out_channels = _positive_int(out_channels, "out_channels")
        self.kernel_size = _positive_int(kernel_size, "kernel_size")
        self.stride = _positive_int(stride, "stride")
        if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
            raise ValueError(f"padding must be an integer >= 0, got {padding!r}")
        self.padding = padding
        ks = self.kernel_size
        super().__init__(
            (self.out_channels, self.in_channels, ks, ks), self.in_channels * ks * ks, bias,
            prior_sigma, rho_init, generator, prior,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, in_channels, H, W] -> [B, out_channels, H', W']``."""
        w, b = self.sampled_parameters()
        return F.conv2d(x, w, b, stride=self.stride, padding=self.padding)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, prior_sigma={self.prior_sigma}"
        )


def bayes_layers(model: nn.Module) -> list[BayesLayer]:
    """Every :class:`BayesLayer` of ``model``, in registration order."""
    return [m for m in model.modules() if isinstance(m, BayesLayer)]


def has_bayes_layers(model: nn.Module) -> bool:
    """Whether ``model`` contains a variational (Bayes-by-backprop) layer."""
    return any(isinstance(m, BayesLayer) for m in model.modules())


def bayes_kl(model: nn.Module) -> torch.Tensor:
    """Sum of :meth:`BayesLayer.kl_divergence` over the layers of ``model`` (scalar)."""
    layers = bayes_layers(model)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no Bayes-by-backprop layer")
    total = layers[0].kl_divergence()
    for layer in layers[1:]:
        total = total + layer.kl_divergence()
    return total


@contextlib.contextmanager
def weight_sampling(
    model: nn.Module, generator: torch.Generator, *, fixed: bool = False
) -> Iterator[nn.Module]:
    """Sample the weights of every Bayes layer of ``model`` from ``generator``.

    Parameters
    ----------
    model : nn.Module
        Models without Bayes layers are yielded unchanged (the context is a no-op).
    generator : torch.Generator
        Source of every ``eps``; the global torch RNG is never read.
    fixed : bool, default False
        ``False``: a fresh weight sample at every forward pass (training: one sample per
        minibatch). ``True``: each layer draws once, at its first forward pass, and reuses
        that sample until the context exits (one weight sample applied to many batches).

    Raises
    ------
    TypeError
        ``generator`` is not a torch.Generator.
    RuntimeError
        Nested on the same layers.
    """
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator, got {type(generator).__name__}; build one "
            "with torch.Generator().manual_seed(seed)"
        )
    layers = bayes_layers(model)
    for layer in layers:
        if layer._generator is not None:
            raise RuntimeError(
                f"{type(layer).__name__} is already inside another weight_sampling context"
            )
    try:
        for layer in layers:
            layer._generator = generator
            layer._fixed = {} if fixed else None
        yield model
    finally:
        for layer in layers:
            layer._generator = None
            layer._fixed = None
            layer._last_sample = None


class _BayesModel(nn.Module):
    """Shared hooks of the reference Bayes-by-backprop networks."""

    #: Output of this submodule = the penultimate features (for embeddings / EGL / BADGE).
    embedding_layer = "trunk"

    def kl_divergence(self) -> torch.Tensor:
        """``KL(q || p)`` of all the network's weights (scalar)."""
        return bayes_kl(self)

    def extra_loss(
        self, x: torch.Tensor, y: torch.Tensor, logits: torch.Tensor, *, n_train: int,
        epoch: int,
    ) -> torch.Tensor:
        """The KL term of the per-item free energy: ``KL(q || p) / n_train``."""
        return self.kl_divergence() / float(n_train)


class BayesMLP(_BayesModel):
    """Multilayer perceptron of :class:`BayesLinear` layers (Blundell et al. 2015, sec. 5.1).

    Parameters
    ----------
    in_features, n_classes : int
    hidden : sequence of int, default (128,)
    prior_sigma : float, default 1.0
    rho_init : float, default -5.0
    generator : torch.Generator, optional
    prior : ScaleMixturePrior, optional
        The paper's scale-mixture prior instead of ``N(0, prior_sigma^2)``.

    Attributes
    ----------
    trunk : nn.Sequential
        ``flatten - [bayes-dense - relu] * len(hidden)`` -> features ``[B, hidden[-1]]``.
    head : BayesLinear
        ``hidden[-1] -> n_classes`` logits.
    """

    def __init__(
        self,
        in_features: int,
        n_classes: int,
        hidden: Sequence[int] = (128,),
        *,
        prior_sigma: float = 1.0,
        rho_init: float = -5.0,
        generator: torch.Generator | None = None,
        prior: ScaleMixturePrior | None = None,
    ) -> None:
        super().__init__()
        g = _check_generator(generator)
        widths = [_positive_int(in_features, "in_features")]
        widths += [_positive_int(h, "hidden[i]") for h in hidden]
        if len(widths) < 2:
            raise ValueError("hidden must list at least one layer width, got ()")
        kw: dict[str, Any] = {
            "prior_sigma": prior_sigma, "rho_init": rho_init, "generator": g, "prior": prior,
        }
        layers: list[nn.Module] = [nn.Flatten()]
        for a, b in itertools.pairwise(widths):
            layers += [BayesLinear(a, b, **kw), nn.ReLU()]
        self.trunk = nn.Sequential(*layers)
        self.head = BayesLinear(widths[-1], _positive_int(n_classes, "n_classes"), **kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, C]``."""
        return self.head(self.trunk(x))


class BayesCNN(_BayesModel):
    """The CNN of :class:`~labelwise.models.GalCNN` with Bayes-by-backprop layers, no dropout.

    ``bconv(32, 4x4) - relu - bconv(32, 4x4) - relu - maxpool(2) - bdense(128) - relu -
    bdense(C)``.

    Parameters
    ----------
    n_classes : int, default 10
    in_channels : int, default 1
    image_size : int, default 28
    prior_sigma, rho_init, generator, prior
        See :class:`BayesLayer`.
    """

    def __init__(
        self,
        n_classes: int = 10,
        in_channels: int = 1,
        image_size: int = 28,
        *,
        prior_sigma: float = 1.0,
        rho_init: float = -5.0,
        generator: torch.Generator | None = None,
        prior: ScaleMixturePrior | None = None,
    ) -> None:
        super().__init__()
        g = _check_generator(generator)
        image_size = _positive_int(image_size, "image_size")
        if image_size < 8:
            raise ValueError(f"image_size must be >= 8, got {image_size}")
        side = (image_size - 6) // 2
        kw: dict[str, Any] = {
            "prior_sigma": prior_sigma, "rho_init": rho_init, "generator": g, "prior": prior,
        }
        self.trunk = nn.Sequential(
            ImageShape(_positive_int(in_channels, "in_channels"), image_size),
            BayesConv2d(in_channels, 32, 4, **kw),
            nn.ReLU(),
            BayesConv2d(32, 32, 4, **kw),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            BayesLinear(32 * side * side, 128, **kw),
            nn.ReLU(),
        )
        self.head = BayesLinear(128, _positive_int(n_classes, "n_classes"), **kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, C]``."""
        return self.head(self.trunk(x))


def bayes_predict(
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
    """Predictive samples ``[N, K, C]`` of a Bayes-by-backprop model.

    Parameters
    ----------
    model : nn.Module
        Contains :class:`BayesLayer` modules; returns logits ``[B, C]``; on ``device``.
    data : ndarray, Tensor or non-shuffling DataLoader
        Inputs ``[N, ...]`` (iterated K times).
    k : int
        Number of weight samples K.
    device : str or torch.device, default "cpu"
    generator : torch.Generator, optional
        Draws one seed per sample (advanced in place); mutually exclusive with ``rng``.
    rng : int, numpy Generator or None
        Seeds a fresh generator when ``generator`` is None.
    batch_size : int, default 256
    return_log_probs : bool, default False

    Returns
    -------
    Tensor [N, K, C], on the CPU
        ``[:, k, :]`` is the whole pool under weight sample ``k`` (one weight draw for all
        items). Every other module is in eval mode (dropout off).

    Raises
    ------
    ValueError
        ``k`` < 1, no Bayes layer, both ``generator`` and ``rng``.
    """
    k = check_sample_count(k, "weight samples")
    if not has_bayes_layers(model):
        raise ValueError(
            f"{type(model).__name__} has no Bayes-by-backprop layer; use mc_dropout_predict "
            "or labelwise.models.predictive_samples"
        )
    batch_size = check_batch_size(batch_size)
    dev = check_model_device(model, device)
    g = sampling_generator(generator, rng, dev)
    gens = spawn_generators(g, k, device=dev)
    dtype = model_dtype(model)
    per_sample: list[torch.Tensor] = []
    with eval_mode(model), torch.no_grad():
        for gk in gens:
            outs: list[torch.Tensor] = []
            with weight_sampling(model, gk, fixed=True):
                for x in iter_batches(data, batch_size, device=dev, dtype=dtype):
                    if x.shape[0] == 0:
                        continue
                    outs.append(logits_to_output(check_logits(model(x)), return_log_probs))
            per_sample.append(concat_items(outs))
    return torch.stack(per_sample, dim=1)
