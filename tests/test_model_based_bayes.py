"""Bayes by backprop: analytic KL, seeded weight sampling, the training hook, the loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from labelwise.loop import SimulationConfig, simulate
from labelwise.models import (
    BayesConv2d,
    BayesLinear,
    TrainConfig,
    bayes_predict,
    make_model,
    predictive_samples,
    train_classifier,
    weight_sampling,
)


def gen(s: int) -> torch.Generator:
    return torch.Generator().manual_seed(s)


def _perturbed(layer: BayesLinear | BayesConv2d, seed: int) -> None:
    g = gen(seed)
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(torch.randn(p.shape, generator=g))  # rho around -5 +- 1, mu ~ N(mu0, 1)


@pytest.mark.parametrize("prior_sigma", [1.0, 0.3])
def test_kl_equals_analytic_and_monte_carlo(prior_sigma: float) -> None:
    layer = BayesLinear(3, 2, prior_sigma=prior_sigma, rho_init=-1.0, generator=gen(0))
    _perturbed(layer, 1)
    mu = torch.cat([layer.weight_mu.flatten(), layer.bias_mu.flatten()]).double()
    sigma = torch.nn.functional.softplus(
        torch.cat([layer.weight_rho.flatten(), layer.bias_rho.flatten()])
    ).double()
    q, p = Normal(mu, sigma), Normal(torch.zeros_like(mu), prior_sigma)
    ref = kl_divergence(q, p).sum()
    kl = layer.kl_divergence()
    kl_value = float(kl.detach())
    torch.testing.assert_close(kl.double(), ref, rtol=1e-5, atol=1e-5)
    w = mu + sigma * torch.randn(200_000, mu.numel(), generator=gen(2), dtype=torch.float64)
    mc = (q.log_prob(w) - p.log_prob(w)).sum(1).mean()
    assert abs(float(mc.detach()) - kl_value) < 0.05 * max(1.0, kl_value)
    # the KL is differentiable in mu and rho (it enters the training loss)
    kl.backward()
    assert layer.weight_rho.grad is not None and layer.weight_mu.grad is not None


@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf"), float("nan"), 1e300, 1e-30])
def test_prior_sigma_must_keep_the_kl_finite(bad: float) -> None:
    """inf gave KL = inf and 1e300 a raw OverflowError; sigma^2 and 1 / sigma^2 must be finite."""
    with pytest.raises(ValueError, match="prior_sigma"):
        BayesLinear(3, 2, prior_sigma=bad, generator=gen(0))
    with pytest.raises(TypeError, match="prior_sigma"):
        BayesLinear(3, 2, prior_sigma="1", generator=gen(0))  # type: ignore[arg-type]


def test_conv_kl_counts_every_weight() -> None:
    conv = BayesConv2d(2, 3, 3, generator=gen(0))
    sigma = torch.nn.functional.softplus(conv.weight_rho.detach())
    n = conv.weight_mu.numel() + conv.bias_mu.numel()
    assert n == 3 * 2 * 9 + 3
    one = float(torch.log(1 / sigma[0, 0, 0, 0]) + (sigma[0, 0, 0, 0] ** 2 + conv.weight_mu.detach()[0, 0, 0, 0] ** 2) / 2 - 0.5)
    assert float(conv.kl_divergence().detach()) > one  # sum, not mean
    out = conv.eval()(torch.ones(1, 2, 5, 5))
    assert out.shape == (1, 3, 3, 3)


def test_sampling_is_seeded_and_mean_outside_context() -> None:
    layer = BayesLinear(4, 3, rho_init=0.0, generator=gen(0))
    x = torch.ones(2, 4)
    with torch.no_grad():
        mean = layer.eval()(x)
        torch.testing.assert_close(mean, torch.nn.functional.linear(x, layer.weight_mu, layer.bias_mu))
        with weight_sampling(layer, gen(5)):
            a1, a2 = layer(x), layer(x)
        with weight_sampling(layer, gen(5)):
            b1 = layer(x)
        with weight_sampling(layer, gen(5), fixed=True):
            c1, c2 = layer(x), layer(x)
    torch.testing.assert_close(a1, b1)
    assert not torch.allclose(a1, a2) and not torch.allclose(a1, mean)
    torch.testing.assert_close(c1, c2)
    layer.train()
    with pytest.raises(RuntimeError, match="weight_sampling"):
        layer(x)


def test_bayes_predict_seeded_consistent_and_diverse() -> None:
    model = make_model("bbb-mlp", input_shape=(6,), n_classes=3, generator=gen(0), rho_init=-1.0)
    X = torch.randn(10, 6, generator=gen(1))
    a = bayes_predict(model, X, k=5, generator=gen(3), batch_size=3)
    b = bayes_predict(model, X, k=5, generator=gen(3), batch_size=64)
    assert a.shape == (10, 5, 3)
    torch.testing.assert_close(a, b)  # one weight draw per sample, whatever the batches
    assert (a[:, 0] - a[:, 1]).abs().max() > 1e-3  # samples differ across K
    torch.testing.assert_close(a.sum(-1), torch.ones(10, 5))
    c = predictive_samples(model, X, k=5, generator=gen(3))  # dispatches to bayes_predict
    torch.testing.assert_close(a, c)
    assert not torch.allclose(a, bayes_predict(model, X, k=5, generator=gen(4)))
    with pytest.raises(ValueError, match="no Bayes"):
        bayes_predict(make_model("mlp", input_shape=(6,), n_classes=3, generator=gen(0)), X, k=2)


class _Plain(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(2, 2, device="meta").to_empty(device="cpu")
        with torch.no_grad():
            self.lin.weight.zero_()
            self.lin.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x)


class _Spy(_Plain):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[int, int, int]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x)

    def extra_loss(self, x, y, logits, *, n_train, epoch):  # type: ignore[no-untyped-def]
        self.calls.append((x.shape[0], n_train, epoch))
        return 5.0 * (self.lin.bias**2).sum()  # pulls the bias to 0


def test_extra_loss_hook_is_added_to_the_loss() -> None:
    X = torch.randn(20, 2, generator=gen(0))
    y = torch.zeros(20, dtype=torch.long)  # cross-entropy alone pushes bias[0] up
    spy, plain = _Spy(), _Plain()
    cfg = TrainConfig(epochs=3, batch_size=10, lr=0.05, optimizer="sgd", momentum=0.0)
    r_spy = train_classifier(spy, X, y, config=cfg, rng=0)
    r_plain = train_classifier(plain, X, y, config=cfg, rng=0)
    assert spy.calls == [(10, 20, 0), (10, 20, 0), (10, 20, 1), (10, 20, 1), (10, 20, 2), (10, 20, 2)]
    # first SGD step: the cross-entropy gradient alone (bias 0, penalty gradient 0), so
    # both start equal; afterwards the penalty keeps the bias near 0
    b_plain, b_spy = float(plain.lin.bias.detach()[0]), float(spy.lin.bias.detach()[0])
    assert b_plain > 0.1
    assert abs(b_spy) < 0.5 * b_plain
    assert r_spy.train_loss[0] == pytest.approx(r_plain.train_loss[0])  # history = CE only


def test_bbb_training_is_deterministic_and_learns() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    cfg = TrainConfig(epochs=30, batch_size=20, lr=0.02)
    m1 = make_model("bbb-mlp", input_shape=(4,), n_classes=2, generator=gen(0), hidden=(16,))
    m2 = make_model("bbb-mlp", input_shape=(4,), n_classes=2, generator=gen(0), hidden=(16,))
    r1 = train_classifier(m1, X, y, config=cfg, rng=1)
    train_classifier(m2, X, y, config=cfg, rng=1)
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert r1.train_loss[-1] < 0.5 * r1.train_loss[0]


def test_bbb_model_runs_in_simulate() -> None:
    cfg = SimulationConfig(batch_size=5, budget=30, initial_size=20, model="bbb-mlp",
                           mc_samples=4, pool_subset=200, train=TrainConfig(epochs=5))
    runs = simulate("digits-flat", ["bald", "coreset"], seeds=[0], config=cfg)
    for run in runs:
        assert [r.n_labeled for r in run.rounds] == [20, 25, 30]
        assert run.rounds[-1].test_accuracy > 0.1


def test_bbb_network_adds_its_kl_over_the_training_items_to_the_loss() -> None:
    """Blundell et al.'s minibatch free energy divided by the batch size: the mean CE plus
    KL(q || p) / N_train, N_train counted after the validation split."""
    from labelwise.models import TrainConfig, make_model, train_classifier

    model = make_model("bbb-mlp", input_shape=(4,), n_classes=3, generator=gen(0), hidden=(5,))
    layers = [m for m in model.modules() if isinstance(m, BayesLinear)]
    ref = torch.zeros((), dtype=torch.float64)
    for layer in layers:
        mu = torch.cat([layer.weight_mu.flatten(), layer.bias_mu.flatten()]).double()
        sigma = torch.nn.functional.softplus(
            torch.cat([layer.weight_rho.flatten(), layer.bias_rho.flatten()])).double()
        ref = ref + kl_divergence(Normal(mu, sigma), Normal(torch.zeros_like(mu), 1.0)).sum()
    x = torch.zeros(2, 4)
    logits = torch.zeros(2, 3)  # the KL term does not read the minibatch
    extra = model.extra_loss(x, torch.zeros(2, dtype=torch.long), logits, n_train=40, epoch=0)
    torch.testing.assert_close(extra.double(), ref / 40, rtol=1e-5, atol=1e-6)

    seen: list[int] = []
    real = model.extra_loss

    def spy(*args, n_train, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(n_train)
        return real(*args, n_train=n_train, **kwargs)

    model.extra_loss = spy  # type: ignore[method-assign]
    X = torch.randn(50, 4, generator=gen(1))
    y = torch.randint(0, 3, (50,), generator=gen(2))
    train_classifier(model, X, y, config=TrainConfig(epochs=1, batch_size=16, val_fraction=0.2),
                     rng=0)
    assert seen and set(seen) == {40}  # 50 items, 10 held out for validation
