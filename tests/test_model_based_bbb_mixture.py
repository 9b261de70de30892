"""Bayes by backprop with the scale-mixture prior and the Monte Carlo KL (Blundell et al. 2015)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from labelwise.models import (
    BayesLinear,
    ScaleMixturePrior,
    TrainConfig,
    bayes_kl,
    make_model,
    train_classifier,
    weight_sampling,
)
from tests._helpers import gen


def test_log_prob_is_the_mixture_density() -> None:
    prior = ScaleMixturePrior(pi=0.25, sigma1=1.0, sigma2=0.1)
    w = torch.tensor([0.0, 0.05, -0.3, 2.0], dtype=torch.float64)

    def normal(x: float, s: float) -> float:
        return math.exp(-x * x / (2 * s * s)) / (s * math.sqrt(2 * math.pi))

    ref = [math.log(0.25 * normal(x, 1.0) + 0.75 * normal(x, 0.1)) for x in w.tolist()]
    torch.testing.assert_close(prior.log_prob(w), torch.tensor(ref, dtype=torch.float64))
    # pi = 1 is the plain Gaussian N(0, sigma1^2)
    torch.testing.assert_close(
        ScaleMixturePrior(pi=1.0, sigma1=0.5).log_prob(w),
        torch.distributions.Normal(0.0, 0.5).log_prob(w),
    )
    with pytest.raises(ValueError, match=r"pi must be in \(0, 1\]"):
        ScaleMixturePrior(pi=0.0)
    with pytest.raises(ValueError, match="sigma2 must be a finite number > 0"):
        ScaleMixturePrior(sigma2=-1.0)
    with pytest.raises(TypeError, match="prior must be a ScaleMixturePrior"):
        BayesLinear(2, 1, prior="mixture")  # type: ignore[arg-type]


def _mc_kl(layer: BayesLinear, n: int, seed: int) -> np.ndarray:
    out = []
    x = torch.zeros(1, layer.in_features, dtype=layer.weight_mu.dtype)
    with weight_sampling(layer, gen(seed)):
        for _ in range(n):
            layer(x)
            out.append(float(layer.kl_divergence().detach()))
    return np.asarray(out)


def test_monte_carlo_kl_matches_quadrature_and_the_gaussian_closed_form() -> None:
    prior = ScaleMixturePrior(pi=0.5, sigma1=1.0, sigma2=math.exp(-2))
    layer = BayesLinear(2, 1, prior=prior, rho_init=-1.5, generator=gen(0)).double()
    layer.eval()
    # reference: KL(q_i || p) of every weight by numerical integration on a fine grid
    ref = 0.0
    for _, m, r in layer._pairs():
        for mu, sigma in zip(m.detach().flatten().tolist(), F.softplus(r).detach().flatten().tolist()):
            grid = torch.linspace(mu - 12 * sigma, mu + 12 * sigma, 200_001, dtype=torch.float64)
            log_q = torch.distributions.Normal(mu, sigma).log_prob(grid)
            ref += float(torch.trapezoid(log_q.exp() * (log_q - prior.log_prob(grid)), grid))
    est = _mc_kl(layer, 4000, 1)
    assert abs(est.mean() - ref) < 4 * est.std() / math.sqrt(est.size)
    assert est.std() > 0  # really a one-sample estimate, not a closed form
    # pi = 1: the estimate averages to the closed-form Gaussian KL
    g1 = BayesLinear(2, 1, prior=ScaleMixturePrior(pi=1.0, sigma1=0.7), rho_init=-1.0,
                     generator=gen(2)).double()
    g2 = BayesLinear(2, 1, prior_sigma=0.7, rho_init=-1.0, generator=gen(2)).double()
    g1.eval()
    est = _mc_kl(g1, 4000, 3)
    assert abs(est.mean() - float(g2.kl_divergence().detach())) < 4 * est.std() / math.sqrt(est.size)


def test_kl_needs_a_sample_and_consumes_it() -> None:
    layer = BayesLinear(3, 2, prior=ScaleMixturePrior(), generator=gen(0))
    with pytest.raises(RuntimeError, match="forward pass inside"):
        layer.kl_divergence()
    layer.eval()
    with weight_sampling(layer, gen(1)):
        layer(torch.zeros(1, 3))
        layer.kl_divergence()
        with pytest.raises(RuntimeError, match="forward pass"):
            layer.kl_divergence()
        layer(torch.zeros(1, 3))
    assert layer._last_sample is None  # cleared on leaving the context


def test_training_with_the_mixture_prior_is_seeded_and_learns() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 5)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)

    def fit() -> torch.nn.Module:
        net = make_model("bbb-mlp", input_shape=(5,), n_classes=2, hidden=(16,),
                         prior=ScaleMixturePrior(), generator=gen(0))
        train_classifier(net, X, y, config=TrainConfig(epochs=30, lr=1e-2), rng=1)
        return net

    a, b = fit(), fit()
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0)
    a.eval()
    acc = (a(torch.as_tensor(X)).argmax(1).numpy() == y).mean()
    assert acc > 0.9
    # the KL gradient reaches mu and rho through the sampled weights
    with weight_sampling(a, gen(5)):
        a(torch.as_tensor(X[:4]))
        kl = bayes_kl(a)
    kl.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in a.parameters())


def test_mixture_model_names() -> None:
    for name, shape in [("bbb-mlp-mixture", (64,)), ("bbb-cnn-mixture", (1, 8, 8))]:
        net = make_model(name, input_shape=shape, n_classes=10, generator=gen(0))
        layers = [m for m in net.modules() if isinstance(m, BayesLinear)]
        assert layers and all(m.prior == ScaleMixturePrior() for m in layers)
