"""Consistent MC dropout and snapshot ensembles."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest
import torch

from labelwise.datasets import load_dataset
from labelwise.loop import SimulationConfig, simulate
from labelwise.models import (
    TrainConfig,
    consistent_mc_dropout_predict,
    cosine_cycle_lr,
    evaluate,
    make_model,
    mc_dropout_predict,
    train_snapshot_ensemble,
)
from labelwise.scores import bald
from labelwise.select import Selection, top_k
from labelwise.strategies import Strategy, get_strategy


def gen(s: int) -> torch.Generator:
    return torch.Generator().manual_seed(s)


def _mlp(seed: int = 0) -> torch.nn.Module:
    return make_model("mlp", input_shape=(6,), n_classes=3, generator=gen(seed), hidden=(16, 8))


def test_consistent_masks_are_shared_by_items_and_batches() -> None:
    model = _mlp()
    x = torch.randn(1, 6, generator=gen(1)).repeat(12, 1)  # 12 copies of one item
    p = consistent_mc_dropout_predict(model, x, k=4, generator=gen(2), batch_size=5)
    assert p.shape == (12, 4, 3)
    # the same sub-network k for every item (and across the 3 batches) -> equal rows
    torch.testing.assert_close(p, p[:1].expand_as(p))
    assert (p[0, 0] - p[0, 1]).abs().max() > 1e-4  # but different networks across K
    # ordinary MC dropout draws a mask per item: copies of the item disagree
    q = mc_dropout_predict(model, x, k=4, generator=gen(2))
    assert (q[:, 0] - q[:1, 0]).abs().max() > 1e-4


def test_consistent_samples_do_not_depend_on_batching() -> None:
    model = _mlp()
    X = torch.randn(9, 6, generator=gen(3))
    a = consistent_mc_dropout_predict(model, X, k=3, generator=gen(4), batch_size=2)
    b = consistent_mc_dropout_predict(model, X, k=3, generator=gen(4), batch_size=100)
    torch.testing.assert_close(a, b)
    # mask k applied to sample k of every item: the pool's sample k is one fixed network
    c = consistent_mc_dropout_predict(model, X[4:5], k=3, generator=gen(4))
    torch.testing.assert_close(a[4:5], c)


def test_cosine_cycle_lr_restarts() -> None:
    assert cosine_cycle_lr(0.0, lr_max=0.1, cycle_epochs=4) == 0.1
    assert math.isclose(cosine_cycle_lr(2.0, lr_max=0.1, cycle_epochs=4), 0.05)
    assert cosine_cycle_lr(3.99, lr_max=0.1, cycle_epochs=4) < 1e-4
    assert cosine_cycle_lr(4.0, lr_max=0.1, cycle_epochs=4) == 0.1


def test_snapshot_members_differ_and_are_trained() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 6)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1).astype(np.int64)
    model = _mlp()
    acc0, _ = evaluate(model, X, y)
    members = train_snapshot_ensemble(model, X, y, n_snapshots=3,
                                      config=TrainConfig(epochs=24, batch_size=16, lr=0.02), rng=0)
    assert len(members) == 3 and all(m is not model for m in members)
    for m in members:
        acc, _ = evaluate(m, X, y)
        assert acc > max(0.75, acc0)
    w = [torch.cat([p.detach().flatten() for p in m.parameters()]) for m in members]
    assert (w[0] - w[1]).abs().max() > 1e-3 and (w[1] - w[2]).abs().max() > 1e-3
    # the model ends as the last snapshot
    torch.testing.assert_close(w[2], torch.cat([p.detach().flatten() for p in model.parameters()]))


def test_predictors_run_in_simulate() -> None:
    base = {"batch_size": 5, "budget": 30, "initial_size": 20, "model": "mlp", "mc_samples": 3,
            "pool_subset": 200, "train": TrainConfig(epochs=6)}
    for predictor in ("consistent-dropout", "snapshot"):
        cfg = SimulationConfig(**base, predictor=predictor)  # type: ignore[arg-type]
        (run,) = simulate("digits-flat", "batchbald", seeds=[0], config=cfg)
        assert [r.n_labeled for r in run.rounds] == [20, 25, 30]
        assert len(set(run.acquired())) == 10


def _recording_strategy(joint: bool, seen: list[torch.Tensor]) -> Strategy:
    def fn(k: int, *, probs: Any, exclude: Any = None, rng: Any = None, **_: Any) -> Selection:
        seen.append(torch.as_tensor(probs).clone())
        return top_k(bald(probs), k, exclude=exclude, rng=rng)

    return Strategy(f"record-joint-{joint}", "test", "test", frozenset({"probs"}), fn,
                    joint_samples=joint)


def test_auto_predictor_draws_consistent_masks_for_joint_strategies() -> None:
    """BatchBALD-style strategies must see sample k of every item from one network theta_k:
    under predictor='auto' copies of one image get identical samples for them, while
    per-item strategies keep fresh masks per item (the copies disagree)."""
    base = load_dataset("digits-flat")
    X = np.repeat(base.X_train[:1], 120, axis=0)  # one image, 120 times
    data = dataclasses.replace(base, X_train=X, y_train=base.y_train[:120].copy())
    cfg = SimulationConfig(batch_size=5, budget=25, initial_size=20, model="mlp",
                           mc_samples=4, train=TrainConfig(epochs=3))
    assert cfg.predictor == "auto"
    for joint in (True, False):
        seen: list[torch.Tensor] = []
        simulate(data, _recording_strategy(joint, seen), seeds=[0], config=cfg)
        (probs,) = seen
        assert probs.shape == (100, 4, 10)
        spread = (probs - probs[:1]).abs().amax().item()
        across_k = (probs[:, 0] - probs[:, 1]).abs().amax().item()
        assert across_k > 1e-4  # K different networks either way
        if joint:
            assert spread < 1e-5, spread
        else:
            assert spread > 1e-4, spread


def test_stochastic_ensemble_is_consistent_within_members_for_joint_strategies() -> None:
    base = load_dataset("digits-flat")
    X = np.repeat(base.X_train[:1], 60, axis=0)
    data = dataclasses.replace(base, X_train=X, y_train=base.y_train[:60].copy())
    cfg = SimulationConfig(batch_size=5, budget=25, initial_size=20, model="mlp", mc_samples=3,
                           predictor="stochastic-ensemble", ensemble_size=2,
                           train=TrainConfig(epochs=2))
    for joint in (True, False):
        seen: list[torch.Tensor] = []
        simulate(data, _recording_strategy(joint, seen), seeds=[0], config=cfg)
        (probs,) = seen
        assert probs.shape == (40, 6, 10)
        spread = (probs - probs[:1]).abs().amax().item()
        assert (spread < 1e-5) if joint else (spread > 1e-4), spread


def test_snapshot_is_one_run_lr_cosine_per_step_and_optimizer_state_kept(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Huang et al.: one training run whose learning rate follows the shifted cosine per
    minibatch and restarts each cycle; the optimiser (its momentum) is never reset."""
    import labelwise.models.snapshot as snap

    made: list[torch.optim.Optimizer] = []
    real_make = snap.make_optimizer

    def spy_make(model, config):  # type: ignore[no-untyped-def]
        opt = real_make(model, config)
        made.append(opt)
        lrs: list[float] = []
        real_step = opt.step

        def step(*a, **k):  # type: ignore[no-untyped-def]
            lrs.append(opt.param_groups[0]["lr"])
            return real_step(*a, **k)

        opt.step = step  # type: ignore[method-assign]
        opt.seen_lrs = lrs  # type: ignore[attr-defined]
        return opt

    monkeypatch.setattr(snap, "make_optimizer", spy_make)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 6)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    model = _mlp()
    cfg = TrainConfig(epochs=6, batch_size=16, lr=0.01)  # 3 cycles x 2 epochs x 4 steps
    train_snapshot_ensemble(model, X, y, n_snapshots=3, config=cfg, rng=0)
    assert len(made) == 1
    lrs = made[0].seen_lrs  # type: ignore[attr-defined]
    expected = [cosine_cycle_lr(e + i / 4, lr_max=0.01, cycle_epochs=2)
                for _ in range(3) for e in range(2) for i in range(4)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-12)
    assert lrs[0] == lrs[8] == lrs[16] == 0.01  # restarts
    # Adam's step count runs through all 24 steps: its moments were carried, not reset
    state = made[0].state[next(iter(model.parameters()))]
    assert int(state["step"]) == 24


def test_snapshot_needs_an_epoch_per_cycle() -> None:
    X = np.zeros((8, 6), np.float32)
    y = np.zeros(8, np.int64)
    with pytest.raises(ValueError, match="n_snapshots=5 cycles need at least 5 epochs"):
        train_snapshot_ensemble(_mlp(), X, y, n_snapshots=5, config=TrainConfig(epochs=4))
    cfg = SimulationConfig(batch_size=5, budget=30, initial_size=20, model="mlp", mc_samples=8,
                           train=TrainConfig(epochs=4), predictor="snapshot")
    with pytest.raises(ValueError, match="predictor='snapshot' cuts train.epochs=4"):
        simulate("digits-flat", "bald", seeds=[0], config=cfg)


def test_train_classifier_continues_a_given_optimizer_and_checks_it() -> None:
    from labelwise.models import make_optimizer, train_classifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(32, 6)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    cfg = TrainConfig(epochs=2, batch_size=16)
    a, b = _mlp(), _mlp()
    opt = make_optimizer(a, cfg)
    train_classifier(a, X, y, config=cfg, rng=0, optimizer=opt)
    train_classifier(a, X, y, config=cfg, rng=1, optimizer=opt)
    # the same as one optimiser's 8 steps; differs from restarting Adam halfway
    b_opt = make_optimizer(b, cfg)
    train_classifier(b, X, y, config=cfg, rng=0, optimizer=b_opt)
    train_classifier(b, X, y, config=cfg, rng=1)
    assert int(opt.state[next(iter(a.parameters()))]["step"]) == 8
    wa = torch.cat([p.detach().flatten() for p in a.parameters()])
    wb = torch.cat([p.detach().flatten() for p in b.parameters()])
    assert (wa - wb).abs().max() > 1e-6
    with pytest.raises(ValueError, match="not the model's"):
        train_classifier(_mlp(), X, y, config=cfg, optimizer=make_optimizer(_mlp(1), cfg))
    with pytest.raises(TypeError, match="torch.optim.Optimizer"):
        train_classifier(_mlp(), X, y, config=cfg, optimizer="adam")  # type: ignore[arg-type]


def test_point_probs_strategies_get_the_network_p_of_the_same_pass_as_h() -> None:
    """BADGE's gradient embedding uses the deterministic network's p = softmax(W h + b), with
    h from the same forward pass. The loop must hand point_probs strategies K = 1 eval-mode
    probabilities whose log-odds are exactly affine in the embeddings; MC-dropout means are
    not (dropout sits between h and the last layer)."""
    cfg = SimulationConfig(batch_size=5, budget=25, initial_size=20, model="mlp",
                           mc_samples=6, train=TrainConfig(epochs=4))
    for point in (True, False):
        seen: list[tuple[torch.Tensor, torch.Tensor]] = []

        def fn(k: int, *, probs: Any, embeddings: Any, exclude: Any = None, rng: Any = None,
               seen: list[tuple[torch.Tensor, torch.Tensor]] = seen, **_: Any) -> Selection:
            seen.append((torch.as_tensor(probs).clone(), torch.as_tensor(embeddings).clone()))
            return top_k(bald(probs), k, exclude=exclude, rng=rng)

        strat = Strategy(f"record-point-{point}", "test", "test",
                         frozenset({"probs", "embeddings"}), fn, point_probs=point)
        simulate("digits-flat", strat, seeds=[0], config=cfg)
        ((probs, h),) = seen
        assert probs.shape[1] == (1 if point else 6)
        assert h.shape == (probs.shape[0], 128) and probs.shape[0] > 1000
        logp = probs.double().mean(1).log()
        target = logp[:, 1:] - logp[:, :1]  # affine in h for the network's own p
        design = torch.cat([h.double(), torch.ones(h.shape[0], 1, dtype=torch.float64)], 1)
        coef = torch.linalg.lstsq(design, target, driver="gelsd").solution  # rank-safe
        residual = (design @ coef - target).abs().max().item()
        if point:
            assert residual < 1e-3, residual
        else:
            assert residual > 1e-2, residual


def test_point_probs_needs_probs_and_embeddings() -> None:
    def fn(k: int, **_: Any) -> Selection:
        raise AssertionError

    with pytest.raises(ValueError, match="point_probs needs both"):
        Strategy("x", "t", "t", frozenset({"probs"}), fn, point_probs=True)
    with pytest.raises(ValueError, match="exclude each other"):
        Strategy("x", "t", "t", frozenset({"probs", "embeddings"}), fn, point_probs=True,
                 joint_samples=True)
    assert get_strategy("badge").point_probs
    # EGL's closed form is the gradient norm of the network whose h it is given: the same
    # network's p, not the MC-dropout mean (Settles et al. use one model)
    assert get_strategy("egl").point_probs
