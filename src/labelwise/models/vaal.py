"""VAAL: variational adversarial active learning (task-model-free variant).

Sinha, Ebrahimi & Darrell (2019), "Variational adversarial active learning", ICCV.

A β-VAE (Higgins et al. 2017) learns a latent space from labeled **and** unlabeled inputs;
a discriminator ``D`` on the VAE's latent means learns to tell labeled items (target 1) from
unlabeled ones (target 0), while the VAE is trained adversarially to make ``D`` call every
item labeled (the paper's transductive objective, eq. 2-4). Each training iteration takes
``vae_steps`` VAE updates, then ``discriminator_steps`` discriminator updates (the official
code: 2 and 1), each update on a freshly drawn pair of a labeled and an unlabeled minibatch
except that the first discriminator update reuses the last VAE update's pair, as the
official solver does.

VAE loss of one minibatch pair (``x_l`` labeled, ``x_u`` unlabeled)::

    L_VAE = sum_{x in x_l, x_u} [ rec(x) + beta * KL(q(z|x) || N(0, I)) ]
            + lambda_adv * [ BCE(D(mu(x_l)), 1) + BCE(D(mu(x_u)), 1) ]

with ``rec(x)`` the squared error summed over the input's values (a unit-variance Gaussian
decoder up to constants) and the KL divergence in closed form (:func:`gaussian_kl`), both
averaged over the minibatch. Discriminator loss: ``BCE(D(mu(x_l)), 1) + BCE(D(mu(x_u)), 0)``
on detached latent means.

Selection: the unlabeled items the discriminator is most sure are *unlabeled* (the official
sampler takes the top k of ``-D(mu)``); :func:`vaal_scores` returns ``1 - D(mu(x))`` so that
higher = label first, as every labelwise score.

Networks: an MLP encoder/decoder for vector inputs, a small strided-conv encoder and
transposed-conv decoder for images ``[C, S, S]`` with ``S`` divisible by 4 (the official
code uses a deeper conv VAE with batch norm and 32 latent dimensions for 32x32 images).
Every weight is initialised from an explicit ``torch.Generator`` and every random draw
(minibatches, reparameterisation noise) comes from it: same generator seed, same scores.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from labelwise._validation import RNGLike, as_tensor, torch_generator
from labelwise.models._common import concat_items
from labelwise.models.networks import ImageShape, init_parameters

__all__ = [
    "VAE",
    "VAALConfig",
    "VAALDiscriminator",
    "VAALResult",
    "gaussian_kl",
    "train_vaal",
    "vaal_scores",
]


@dataclass(frozen=True)
class VAALConfig:
    """Hyper-parameters of :func:`train_vaal`.

    Parameters
    ----------
    latent_dim : int, default 16
        Dimension of the VAE latent space (the paper: 32 on CIFAR).
    hidden : int, default 128
        Width of the MLP encoder / decoder layers and of the discriminator.
    iterations : int or None, default None
        Training iterations (each of ``vae_steps + discriminator_steps - 1`` minibatch
        pairs). None:
        about 10 passes over the unlabeled set, ``max(20, ceil(10 * N_u / batch_size))``
        (the official code trains ``epochs * N / batch_size`` iterations).
    batch_size : int, default 64
        Items per minibatch of each kind (fewer if a set is smaller).
    lr_vae, lr_discriminator : float, default 5e-4
        Adam learning rates (the official code: 5e-4 for both).
    beta : float, default 1.0
        Weight of the KL term (β-VAE); the paper uses 1.
    adversary_weight : float, default 1.0
        λ, weight of the adversarial term in the VAE loss; 0 trains the VAE without it.
    vae_steps, discriminator_steps : int, default 2, 1
        Updates of each network per iteration (the official code: 2 and 1).
    architecture : {"auto", "mlp", "conv"}, default "auto"
        ``"auto"``: conv for image inputs ``[N, C, S, S]`` with ``S % 4 == 0``, MLP otherwise.
    """

    latent_dim: int = 16
    hidden: int = 128
    iterations: int | None = None
    batch_size: int = 64
    lr_vae: float = 5e-4
    lr_discriminator: float = 5e-4
    beta: float = 1.0
    adversary_weight: float = 1.0
    vae_steps: int = 2
    discriminator_steps: int = 1
    architecture: Literal["auto", "mlp", "conv"] = "auto"

    def __post_init__(self) -> None:
        for name in ("latent_dim", "hidden", "iterations", "batch_size", "vae_steps",
                     "discriminator_steps"):
            v = getattr(self, name)
            if name == "iterations" and v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                raise ValueError(f"VAALConfig.{name} must be an integer >= 1, got {v!r}")
        for name in ("lr_vae", "lr_discriminator"):
            v = getattr(self, name)
            if not isinstance(v, numbers.Real) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"VAALConfig.{name} must be a finite number > 0, got {v!r}")
        for name in ("beta", "adversary_weight"):
            v = getattr(self, name)
            if not isinstance(v, numbers.Real) or not math.isfinite(v) or v < 0:
                raise ValueError(f"VAALConfig.{name} must be a finite number >= 0, got {v!r}")
        if self.architecture not in ("auto", "mlp", "conv"):
            raise ValueError(
                f"VAALConfig.architecture must be 'auto', 'mlp' or 'conv', got "
                f"{self.architecture!r}"
            )


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, diag(exp(logvar))) || N(0, I))`` per item, in nats.

    Parameters
    ----------
    mu, logvar : Tensor, shape [B, L]
        Means and log-variances of the diagonal Gaussian posteriors.

    Returns
    -------
    Tensor, shape [B]
        ``-1/2 * sum_l (1 + logvar_l - mu_l^2 - exp(logvar_l))`` (Kingma & Welling 2014,
        appendix B).
    """
    if mu.shape != logvar.shape or mu.ndim != 2:
        raise ValueError(
            f"mu and logvar must both be [B, L], got {tuple(mu.shape)} and {tuple(logvar.shape)}"
        )
    return -0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)


class VAE(nn.Module):
    """A small Gaussian VAE: ``encode(x) -> (mu, logvar)``, ``decode(z) -> x_hat``.

    Parameters
    ----------
    input_shape : tuple of int
        One item without the batch axis: ``(D,)`` or anything (flattened) for the MLP,
        ``(C, S, S)`` with ``S % 4 == 0`` for the conv network.
    latent_dim : int, default 16
    hidden : int, default 128
        MLP width (the conv network uses 32 and 64 channels).
    architecture : {"mlp", "conv"}, default "mlp"
    generator : torch.Generator, optional
        Initialises the weights and sets the device; None = fresh entropy.

    Notes
    -----
    MLP: ``flatten - dense(hidden) - relu - dense(hidden) - relu - {mu, logvar}`` and the
    mirror image back to ``prod(input_shape)`` values. Conv: two ``4x4`` stride-2 convs
    (``S -> S/4``), dense to ``{mu, logvar}``; decoder dense then two stride-2 transposed
    convs back to ``[C, S, S]``. The decoder outputs are unbounded (Gaussian decoder).
    """

    def __init__(
        self,
        input_shape: tuple[int, ...],
        latent_dim: int = 16,
        hidden: int = 128,
        architecture: Literal["mlp", "conv"] = "mlp",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.input_shape = tuple(int(s) for s in input_shape)
        self.latent_dim = int(latent_dim)
        self.hidden = int(hidden)
        self.architecture = architecture
        d = math.prod(self.input_shape)
        lat = self.latent_dim
        with torch.device("meta"):
            if architecture == "mlp":
                self.encoder: nn.Module = nn.Sequential(
                    nn.Flatten(), nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                    nn.ReLU(),
                )
                feat = hidden
                self.decoder: nn.Module = nn.Sequential(
                    nn.Linear(lat, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                    nn.Linear(hidden, d),
                )
            elif architecture == "conv":
                if len(self.input_shape) != 3 or self.input_shape[1] != self.input_shape[2]:
                    raise ValueError(
                        f"the conv VAE needs square images (C, S, S), got input_shape "
                        f"{self.input_shape}"
                    )
                c, s, _ = self.input_shape
                if s % 4 or s < 4:
                    raise ValueError(
                        f"the conv VAE needs an image side divisible by 4, got {s}; use "
                        "architecture='mlp'"
                    )
                q = s // 4
                feat = 64 * q * q
                self.encoder = nn.Sequential(
                    ImageShape(c, s), nn.Conv2d(c, 32, 4, stride=2, padding=1), nn.ReLU(),
                    nn.Conv2d(32, 64, 4, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
                )
                self.decoder = nn.Sequential(
                    nn.Linear(lat, feat), nn.ReLU(), nn.Unflatten(1, (64, q, q)),
                    nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1), nn.ReLU(),
                    nn.ConvTranspose2d(32, c, 4, stride=2, padding=1),
                )
            else:
                raise ValueError(f"architecture must be 'mlp' or 'conv', got {architecture!r}")
            self.fc_mu = nn.Linear(feat, lat)
            self.fc_logvar = nn.Linear(feat, lat)
        g = generator if generator is not None else torch_generator(None)
        self.to_empty(device=g.device)
        init_parameters(self, g)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, *input_shape]`` (or flat ``[B, D]``) -> ``mu, logvar``, each ``[B, L]``.

        ``logvar`` is clamped to [-10, 10] so that ``exp(logvar)`` can neither overflow nor
        vanish early in training (it diverged to NaN on MNIST without the clamp).
        """
        h = self.encoder(x)
        return self.fc_mu(h), self.fc_logvar(h).clamp(-10.0, 10.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``[B, L] -> [B, prod(input_shape)]`` (flat reconstruction)."""
        return self.decoder(z).flatten(1)

    def forward(
        self, x: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruction ``[B, D]`` (flat), ``mu`` and ``logvar`` ``[B, L]``.

        ``z = mu + exp(logvar / 2) * eps`` with ``eps ~ N(0, I)`` drawn from ``generator``.
        """
        mu, logvar = self.encode(x)
        eps = torch.randn(mu.shape, generator=generator, device=generator.device)
        z = mu + torch.exp(0.5 * logvar) * eps.to(mu.device, mu.dtype)
        return self.decode(z), mu, logvar

    def extra_repr(self) -> str:
        return (
            f"input_shape={self.input_shape}, latent_dim={self.latent_dim}, "
            f"architecture={self.architecture!r}"
        )


class VAALDiscriminator(nn.Module):
    """``dense(hidden) - relu - dense(hidden) - relu - dense(1)``: logit of "labeled".

    Parameters
    ----------
    latent_dim : int
    hidden : int, default 128
    generator : torch.Generator, optional
    """

    def __init__(
        self, latent_dim: int, hidden: int = 128, generator: torch.Generator | None = None
    ) -> None:
        super().__init__()
        with torch.device("meta"):
            self.net = nn.Sequential(
                nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                nn.Linear(hidden, 1),
            )
        g = generator if generator is not None else torch_generator(None)
        self.to_empty(device=g.device)
        init_parameters(self, g)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Logits ``[B]`` of "this latent belongs to a labeled item"."""
        return self.net(z).squeeze(1)


@dataclass
class VAALResult:
    """The trained networks and per-iteration losses of :func:`train_vaal`.

    Attributes
    ----------
    vae : VAE
    discriminator : VAALDiscriminator
    vae_loss, discriminator_loss : list of float
        Loss of the last update of each network in every iteration.
    """

    vae: VAE
    discriminator: VAALDiscriminator
    vae_loss: list[float]
    discriminator_loss: list[float]

    def scores(
        self, X: Any, *, device: str | torch.device = "cpu", batch_size: int = 512
    ) -> torch.Tensor:
        """``1 - D(mu(x))`` for inputs ``X [N, ...]``: ``[N]`` on the CPU, higher = label first."""
        return _score(self.vae, self.discriminator, _inputs(X, "X"), torch.device(device),
                      batch_size)


def _inputs(X: Any, name: str) -> torch.Tensor:
    t = as_tensor(X, name)
    if t.ndim < 2:
        raise ValueError(f"{name} must be inputs [N, ...] with N items, got shape {tuple(t.shape)}")
    if not torch.is_floating_point(t):
        t = t.float()
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} holds NaN or infinite values")
    return t.float()


def _architecture(cfg: VAALConfig, item_shape: tuple[int, ...]) -> Literal["mlp", "conv"]:
    if cfg.architecture != "auto":
        return cfg.architecture
    if len(item_shape) == 3 and item_shape[1] == item_shape[2] and item_shape[1] % 4 == 0:
        return "conv"
    return "mlp"


def train_vaal(
    X_labeled: Any,
    X_unlabeled: Any,
    *,
    config: VAALConfig | None = None,
    rng: RNGLike = None,
    generator: torch.Generator | None = None,
    device: str | torch.device = "cpu",
) -> VAALResult:
    """Train VAAL's β-VAE and discriminator on labeled and unlabeled inputs.

    Parameters
    ----------
    X_labeled : array or Tensor, shape [N_l, ...]
        Inputs of the labeled items (their labels are not used: task-model-free variant).
    X_unlabeled : array or Tensor, shape [N_u, ...]
        Inputs of the unlabeled pool; same item shape.
    config : VAALConfig, optional
    rng : int, numpy Generator or None
        Seeds a fresh ``torch.Generator`` when ``generator`` is None.
    generator : torch.Generator, optional
        Source of every random draw (initialisation, minibatches, reparameterisation);
        on ``device``. Exclusive with ``rng``.
    device : str or torch.device, default "cpu"

    Returns
    -------
    VAALResult
        Networks on ``device``, in eval mode.
    """
    cfg = VAALConfig() if config is None else config
    if not isinstance(cfg, VAALConfig):
        raise TypeError(f"config must be a VAALConfig, got {type(cfg).__name__}")
    dev = torch.device(device)
    Xl = _inputs(X_labeled, "X_labeled")
    Xu = _inputs(X_unlabeled, "X_unlabeled")
    if Xl.shape[0] == 0 or Xu.shape[0] == 0:
        raise ValueError(
            f"VAAL needs at least one labeled and one unlabeled item, got "
            f"{Xl.shape[0]} labeled and {Xu.shape[0]} unlabeled"
        )
    if Xl.shape[1:] != Xu.shape[1:]:
        raise ValueError(
            f"X_labeled items have shape {tuple(Xl.shape[1:])} but X_unlabeled items "
            f"{tuple(Xu.shape[1:])}; both must be the same kind of input"
        )
    if generator is not None and rng is not None:
        raise ValueError("pass either generator= or rng=, not both")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}"
        )
    g = generator if generator is not None else torch_generator(rng, dev)
    item_shape = tuple(int(s) for s in Xl.shape[1:])
    vae = VAE(item_shape, cfg.latent_dim, cfg.hidden, _architecture(cfg, item_shape), g)
    disc = VAALDiscriminator(cfg.latent_dim, cfg.hidden, g)
    opt_v = torch.optim.Adam(vae.parameters(), lr=cfg.lr_vae, foreach=True)
    opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.lr_discriminator, foreach=True)
    Xl, Xu = Xl.to(dev), Xu.to(dev)
    bl, bu = min(cfg.batch_size, Xl.shape[0]), min(cfg.batch_size, Xu.shape[0])

    def batch(X: torch.Tensor, b: int) -> torch.Tensor:
        idx = torch.randperm(X.shape[0], generator=g, device=g.device)[:b]
        return X[idx.to(X.device)]

    vae_hist: list[float] = []
    disc_hist: list[float] = []
    vae.train()
    disc.train()
    n_iter = cfg.iterations if cfg.iterations is not None else max(
        20, math.ceil(10 * Xu.shape[0] / cfg.batch_size)
    )
    target_d = torch.cat([torch.ones(bl, device=dev), torch.zeros(bu, device=dev)])

    def pair() -> torch.Tensor:
        # [labeled; unlabeled] in one tensor: one forward pass (half the kernel launches)
        return torch.cat([batch(Xl, bl), batch(Xu, bu)])

    for _ in range(n_iter):
        # A fresh pair per update, except that the first discriminator update sees the
        # last VAE update's pair (Sinha et al.'s solver.py draws between updates).
        loss_v = torch.zeros(())
        for _ in range(cfg.vae_steps):
            x = pair()
            loss_v = _vae_loss(vae, disc, x, bl, cfg, g)
            opt_v.zero_grad(set_to_none=True)
            loss_v.backward()
            opt_v.step()
        loss_d = torch.zeros(())
        for step in range(cfg.discriminator_steps):
            if step > 0:
                x = pair()
            with torch.no_grad():
                mu, _ = vae.encode(x)
            bce = F.binary_cross_entropy_with_logits(disc(mu), target_d, reduction="none")
            loss_d = bce[:bl].mean() + bce[bl:].mean()
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
        vae_hist.append(float(loss_v.detach()))
        disc_hist.append(float(loss_d.detach()))
    vae.eval()
    disc.eval()
    return VAALResult(vae, disc, vae_hist, disc_hist)


def _vae_loss(
    vae: VAE,
    disc: VAALDiscriminator,
    x: torch.Tensor,
    n_labeled: int,
    cfg: VAALConfig,
    g: torch.Generator,
) -> torch.Tensor:
    """The VAE's objective on a minibatch ``x = [labeled (n_labeled); unlabeled]``.

    Negative β-ELBO of both halves plus ``λ`` times the adversarial term of Sinha et al.
    (2019), ``-E_l[log D(mu)] - E_u[log D(mu)]``: the VAE wants the discriminator to call
    *every* latent mean "labeled" (target 1), unlabeled ones included, which pulls the
    unlabeled latents towards the labeled ones.
    """
    rec, mu, logvar = vae(x, g)
    per_item = _neg_elbo(rec, x, mu, logvar, cfg.beta)
    loss = per_item[:n_labeled].mean() + per_item[n_labeled:].mean()
    if cfg.adversary_weight > 0:
        logits = disc(mu)
        bce = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits), reduction="none")
        loss = loss + cfg.adversary_weight * (bce[:n_labeled].mean() + bce[n_labeled:].mean())
    return loss


def _neg_elbo(
    rec: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, beta: float
) -> torch.Tensor:
    """Per item ``sum (x_hat - x)^2 + beta * KL`` ``[B]`` (negative β-ELBO up to constants)."""
    rec_err = (rec - x.flatten(1)).pow(2).sum(dim=1)
    return rec_err + beta * gaussian_kl(mu, logvar)


def _score(
    vae: VAE, disc: VAALDiscriminator, X: torch.Tensor, dev: torch.device, batch_size: int
) -> torch.Tensor:
    out: list[torch.Tensor] = []
    with torch.no_grad():
        for s in range(0, X.shape[0], batch_size):
            mu, _ = vae.encode(X[s : s + batch_size].to(dev))
            out.append((1.0 - torch.sigmoid(disc(mu))).cpu())
    return concat_items(out, "X")


def vaal_scores(
    X_labeled: Any,
    X_unlabeled: Any,
    *,
    config: VAALConfig | None = None,
    rng: RNGLike = None,
    generator: torch.Generator | None = None,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """VAAL acquisition scores of the unlabeled items: ``1 - D(mu(x))``.

    Trains VAAL (:func:`train_vaal`) on both sets, then scores every unlabeled item by the
    discriminator's probability that it is *not* labeled.

    Parameters
    ----------
    X_labeled : array or Tensor, shape [N_l, ...]
    X_unlabeled : array or Tensor, shape [N_u, ...]
    config : VAALConfig, optional
    rng : int, numpy Generator or None
        Seeds every random draw (exclusive with ``generator``); same seed, same scores.
    generator : torch.Generator, optional
    device : str or torch.device, default "cpu"

    Returns
    -------
    Tensor, shape [N_u], float32, on the CPU
        In ``[0, 1]``; higher = label first (the official sampler picks the lowest ``D``).
    """
    res = train_vaal(
        X_labeled, X_unlabeled, config=config, rng=rng, generator=generator, device=device
    )
    return res.scores(X_unlabeled, device=device)
