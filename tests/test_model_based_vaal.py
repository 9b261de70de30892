"""VAAL (Sinha et al. 2019): KL term, discriminator separation, seeding, loop integration."""

from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np
import pytest
import torch

import labelwise.models.vaal as vaal_mod
from labelwise.datasets import load_dataset
from labelwise.errors import ShapeError
from labelwise.loop import SimulationConfig, run_simulation
from labelwise.models import TrainConfig, VAALConfig, gaussian_kl, train_vaal, vaal_scores
from labelwise.strategies import get_strategy

FAST = VAALConfig(iterations=120, hidden=32, latent_dim=4)


def _toy(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labeled: cluster A only. Pool: 100 more A items, then 20 items of a far cluster B."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(160, 6)) * 0.5 + 2.0
    b = rng.normal(size=(20, 6)) * 0.5 - 2.0
    X_l = a[:60].astype(np.float32)
    X_u = np.concatenate([a[60:], b]).astype(np.float32)
    is_b = np.r_[np.zeros(100, bool), np.ones(20, bool)]
    return X_l, X_u, is_b


def test_gaussian_kl_matches_closed_form_hand_values_and_monte_carlo() -> None:
    # hand values: KL(N(1, 1) || N(0, 1)) = 1/2; KL(N(0, 4) || N(0, 1)) = (4 - 1 - ln 4) / 2
    mu = torch.tensor([[1.0], [0.0]], dtype=torch.float64)
    logvar = torch.tensor([[0.0], [math.log(4.0)]], dtype=torch.float64)
    torch.testing.assert_close(
        gaussian_kl(mu, logvar), torch.tensor([0.5, (3.0 - math.log(4.0)) / 2], dtype=torch.float64)
    )
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(5, 3, generator=g, dtype=torch.float64)
    logvar = torch.randn(5, 3, generator=g, dtype=torch.float64) * 0.5
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    torch.testing.assert_close(gaussian_kl(mu, logvar), torch.distributions.kl_divergence(q, p).sum(1))
    # Monte Carlo: E_q[log q(z) - log p(z)] with 200k draws
    z = q.rsample((200_000,))
    mc = (q.log_prob(z) - p.log_prob(z)).sum(-1).mean(0)
    torch.testing.assert_close(gaussian_kl(mu, logvar), mc, atol=0.02, rtol=0.0)


def test_training_objective_uses_the_analytic_kl() -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, 3, generator=g)
    mu, logvar = torch.randn(4, 2, generator=g), torch.randn(4, 2, generator=g)
    # perfect reconstruction: the loss is beta * KL exactly
    torch.testing.assert_close(vaal_mod._neg_elbo(x, x, mu, logvar, 2.5), 2.5 * gaussian_kl(mu, logvar))
    rec = x + 1.0  # squared error of 1 per value, summed over 3 values
    torch.testing.assert_close(
        vaal_mod._neg_elbo(rec, x, mu, logvar, 0.0), torch.full((4,), 3.0)
    )


def test_every_update_draws_a_fresh_minibatch_pair_as_the_official_solver(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Sinha et al.'s solver.py draws a new (labeled, unlabeled) pair between the VAE updates
    and between the discriminator updates; the first discriminator update reuses the last
    VAE update's pair. (Reusing one pair for both VAE updates was two steps on one batch.)"""
    seen: list[tuple[torch.Tensor, bool]] = []
    encode = vaal_mod.VAE.encode

    def spy(self: vaal_mod.VAE, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        seen.append((x.detach().clone(), torch.is_grad_enabled()))  # no grad: a D update
        return encode(self, x)

    monkeypatch.setattr(vaal_mod.VAE, "encode", spy)
    X_l, X_u, _ = _toy()
    cfg = dataclasses.replace(FAST, iterations=1, vae_steps=3, discriminator_steps=2,
                              batch_size=8)
    train_vaal(X_l, X_u, config=cfg, generator=torch.Generator().manual_seed(0))
    vae_x = [x for x, grad in seen if grad]
    disc_x = [x for x, grad in seen if not grad]
    assert len(vae_x) == 3 and len(disc_x) == 2
    for a, b in [(vae_x[0], vae_x[1]), (vae_x[1], vae_x[2]), (disc_x[0], disc_x[1])]:
        assert not torch.equal(a, b)  # a fresh pair
    assert torch.equal(disc_x[0], vae_x[2])  # the official solver's reuse


def test_discriminator_separates_items_unlike_the_labeled_set() -> None:
    X_l, X_u, is_b = _toy()
    res = train_vaal(X_l, X_u, config=FAST, rng=0)
    s = res.scores(X_u).numpy()
    assert s.shape == (120,) and ((s >= 0) & (s <= 1)).all()
    # the 20 items of cluster B (never labeled) are exactly VAAL's top 20
    assert is_b[np.argsort(-s)[:20]].all()
    # the discriminator is sure the B items are unlabeled ...
    assert s[is_b].min() > 0.8
    # ... and on the A items, which labeled and unlabeled share, it approaches the
    # Bayes-optimal D = p_l / (p_l + p_u) for balanced minibatches: the unlabeled density
    # there is 100/120 of the labeled one, so 1 - D = (5/6) / (1 + 5/6) = 0.4545
    assert s[~is_b].max() < 0.6
    assert abs(s[~is_b].mean() - (5 / 6) / (1 + 5 / 6)) < 0.05


def test_strategy_selects_the_outlying_cluster() -> None:
    X_l, X_u, is_b = _toy(1)
    strat = get_strategy("vaal")
    assert strat.needs == frozenset({"inputs"})
    sel = strat.select(
        10, inputs=X_u, labeled_inputs=X_l, n=X_u.shape[0], rng=3, iterations=120, hidden=32,
        latent_dim=4,
    )
    assert is_b[sel.indices].all()
    assert sel.info["score"] == "vaal"


def test_seeded_determinism_and_inputs_untouched() -> None:
    X_l, X_u, _ = _toy(2)
    l0, u0 = X_l.copy(), X_u.copy()
    cfg = VAALConfig(iterations=30, hidden=16, latent_dim=3)
    a = vaal_scores(X_l, X_u, config=cfg, rng=7)
    b = vaal_scores(X_l, X_u, config=cfg, rng=7)
    c = vaal_scores(X_l, X_u, config=cfg, rng=8)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, c)
    np.testing.assert_array_equal(X_l, l0)
    np.testing.assert_array_equal(X_u, u0)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    torch.testing.assert_close(
        vaal_scores(X_l, X_u, config=cfg, generator=g1),
        vaal_scores(X_l, X_u, config=cfg, generator=g2), rtol=0, atol=0,
    )


def test_conv_vae_for_images() -> None:
    rng = np.random.default_rng(0)
    X_l = rng.random((12, 1, 8, 8)).astype(np.float32)
    X_u = rng.random((20, 1, 8, 8)).astype(np.float32)
    res = train_vaal(X_l, X_u, config=VAALConfig(iterations=5, latent_dim=3), rng=0)
    assert res.vae.architecture == "conv"
    assert res.scores(X_u).shape == (20,)
    recon, mu, logvar = res.vae(torch.as_tensor(X_u), torch.Generator().manual_seed(0))
    assert recon.shape == (20, 64) and mu.shape == logvar.shape == (20, 3)
    # side not divisible by 4: auto falls back to the MLP; forcing conv is a clear error
    X7 = rng.random((5, 1, 7, 7)).astype(np.float32)
    assert train_vaal(X7, X7, config=VAALConfig(iterations=1), rng=0).vae.architecture == "mlp"
    with pytest.raises(ValueError, match="divisible by 4"):
        train_vaal(X7, X7, config=VAALConfig(iterations=1, architecture="conv"), rng=0)


def test_clear_errors() -> None:
    X_l, X_u, _ = _toy()
    with pytest.raises(ValueError, match="X_labeled items have shape"):
        vaal_scores(X_l[:, :3], X_u, config=FAST, rng=0)
    with pytest.raises(ValueError, match="at least one labeled"):
        vaal_scores(X_l[:0], X_u, config=FAST, rng=0)
    with pytest.raises(ValueError, match="iterations must be an integer >= 1"):
        VAALConfig(iterations=0)
    with pytest.raises(ValueError, match="either generator= or rng="):
        vaal_scores(X_l, X_u, config=FAST, rng=0, generator=torch.Generator())
    strat = get_strategy("vaal")
    with pytest.raises(ShapeError, match="labeled_inputs"):
        strat.select(3, inputs=X_u, n=X_u.shape[0], rng=0)
    with pytest.raises(ShapeError, match="N = 50"):
        strat.select(3, inputs=X_u, labeled_inputs=X_l, n=50, rng=0)
    with pytest.raises(TypeError, match="unknown parameters"):
        strat.select(3, inputs=X_u, labeled_inputs=X_l, n=X_u.shape[0], rng=0, latnt_dim=3)


def test_loop_passes_candidate_and_labeled_inputs(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    data = load_dataset("digits-flat")
    seen: list[tuple[np.ndarray, np.ndarray, str]] = []
    real = vaal_mod.vaal_scores

    def spy(X_labeled, X_unlabeled, **kw):  # type: ignore[no-untyped-def]
        seen.append((np.asarray(X_labeled), np.asarray(X_unlabeled), str(kw["device"])))
        return real(X_labeled, X_unlabeled, **{**kw, "config": VAALConfig(iterations=5)})

    monkeypatch.setattr(vaal_mod, "vaal_scores", spy)
    cfg = SimulationConfig(
        batch_size=5, budget=30, initial_size=20, model="mlp", mc_samples=1, pool_subset=200,
        train=TrainConfig(epochs=3),
    )
    run = run_simulation(data, "vaal", 0, cfg)
    assert [r.n_labeled for r in run.rounds] == [20, 25, 30]
    X = np.asarray(data.X_train, dtype=np.float32)
    labeled = sorted(run.initial)
    for (X_l, X_u, dev), rec in zip(seen, run.rounds):
        assert dev == "cpu"
        np.testing.assert_array_equal(X_l, X[labeled])
        assert X_u.shape == (200, 64)
        # every selected item is one of the candidates VAAL scored
        for i in rec.selected:
            assert (X_u == X[i]).all(axis=1).any()
        labeled = sorted(labeled + rec.selected)
    assert len(seen) == 2
    assert len(set(run.acquired())) == 10 and not set(run.acquired()) & set(run.initial)


def test_adversarial_term_pulls_unlabeled_latents_towards_labeled() -> None:
    """Direction of the VAE's adversarial term (Sinha et al. 2019, eq. 3): against a fixed
    discriminator, VAE steps on it make D call the unlabeled items "labeled" more often
    (their VAAL score 1 - D falls); steps without it do not. A flipped target would push
    them the other way."""
    X_l, X_u, is_b = _toy(2)
    res = train_vaal(X_l, X_u, config=dataclasses.replace(FAST, adversary_weight=0.0), rng=0)
    disc = res.discriminator.requires_grad_(False)
    x = torch.cat([torch.as_tensor(X_l), torch.as_tensor(X_u)])
    far = torch.as_tensor(X_u[is_b])

    def p_labeled(vae: vaal_mod.VAE) -> float:
        with torch.no_grad():
            return float(torch.sigmoid(disc(vae.encode(far)[0])).mean())

    before = p_labeled(res.vae)
    assert before < 0.2  # the trained discriminator knows the far cluster is unlabeled
    after: dict[float, float] = {}
    for weight in (0.0, 20.0):
        vae = copy.deepcopy(res.vae).train()
        cfg = dataclasses.replace(FAST, adversary_weight=weight)
        opt = torch.optim.Adam(vae.parameters(), lr=3e-3)
        g = torch.Generator().manual_seed(0)
        for _ in range(100):
            loss = vaal_mod._vae_loss(vae, disc, x, len(X_l), cfg, g)
            opt.zero_grad()
            loss.backward()
            opt.step()
        after[weight] = p_labeled(vae.eval())
    # measured: before 0.075, after 0.078 without the term, 0.389 with it
    assert after[20.0] > before + 0.2, (before, after)
    assert after[20.0] > after[0.0] + 0.2, (before, after)
