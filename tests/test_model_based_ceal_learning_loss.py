"""CEAL pseudo-labels in the loop; the learning-loss ranking loss, module and strategy."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import labelwise.loop._run as run_mod
from labelwise.datasets import load_dataset
from labelwise.loop import SimulationConfig, ceal_threshold, run_simulation
from labelwise.models import (
    LearningLossNet,
    TrainConfig,
    learning_loss_stop_epoch,
    loss_ranking_loss,
    make_model,
    seeded_dropout,
    train_classifier,
)
from labelwise.pool import Pool

FAST = {"batch_size": 5, "budget": 30, "initial_size": 20, "model": "mlp", "mc_samples": 2,
        "pool_subset": 300, "train": TrainConfig(epochs=30, lr=1e-2)}


@pytest.fixture(scope="module")
def digits():  # type: ignore[no-untyped-def]
    return load_dataset("digits-flat")


def test_ceal_threshold_decays() -> None:
    assert ceal_threshold(0.5, 0.1, 0) == 0.5
    assert ceal_threshold(0.5, 0.1, 3) == pytest.approx(0.2)
    assert ceal_threshold(0.5, 0.1, 6) < 0


def test_ceal_pseudo_labels_never_reach_the_pool(digits, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    written: list[tuple[list[int], list[int]]] = []

    class SpyPool(Pool):
        def label(self, indices, labels, *args, **kwargs):  # type: ignore[no-untyped-def]
            written.append((np.asarray(indices).tolist(), np.asarray(labels).tolist()))
            return super().label(indices, labels, *args, **kwargs)

    monkeypatch.setattr(run_mod, "Pool", SpyPool)
    cfg = SimulationConfig(**FAST, ceal_delta0=2.0, ceal_decay=2.0)  # type: ignore[arg-type]
    run = run_simulation(digits, "entropy", 0, cfg)
    y = np.asarray(digits.y_train)
    # every label the pool received is an oracle label of the initial set or a selection
    idx = [i for ids, _ in written for i in ids]
    assert sorted(idx) == sorted(run.initial + run.acquired())
    for ids, labels in written:
        assert labels == y[ids].tolist()
    assert [r.n_labeled for r in run.rounds] == [20, 25, 30]
    # round 0: no previous model; round 1: step 0 (delta 2.0 nats); round 2: delta 0
    assert run.rounds[0].pseudo_labels == 0 and run.rounds[0].pseudo_label_accuracy is None
    assert run.rounds[1].pseudo_labels > 0
    assert 0.0 <= run.rounds[1].pseudo_label_accuracy <= 1.0
    assert run.rounds[2].pseudo_labels == 0 and run.rounds[2].pseudo_label_accuracy is None
    # CEAL changes training, not the budget; off by default. Round 0 trains exactly as
    # without CEAL (one training on the labels); round 1 trains on the pseudo-labels too.
    plain = run_simulation(digits, "entropy", 0, SimulationConfig(**FAST))  # type: ignore[arg-type]
    assert all(r.pseudo_labels == 0 for r in plain.rounds)
    assert run.rounds[0].test_accuracy == plain.rounds[0].test_accuracy
    assert run.rounds[0].selected == plain.rounds[0].selected
    assert run.rounds[1].test_accuracy != plain.rounds[1].test_accuracy


def test_ceal_trains_once_per_round_on_the_previous_models_pseudo_labels(
    digits, monkeypatch  # type: ignore[no-untyped-def]
) -> None:
    """Wang et al.'s iteration: the network that just selected pseudo-labels the confident
    candidates, and the next round trains once on labels + pseudo-labels."""
    from labelwise.loop import _ceal

    trained_on: list[tuple[int, list[int]]] = []
    real_train_round = run_mod.train_round

    def spy_train_round(model, X, y, *args, **kwargs):  # type: ignore[no-untyped-def]
        trained_on.append((len(X), y.tolist()))
        return real_train_round(model, X, y, *args, **kwargs)

    seen: list[tuple[Any, np.ndarray]] = []
    real_pseudo = _ceal.ceal_pseudo_labels

    def spy_pseudo(previous, X, y, cand, **kwargs):  # type: ignore[no-untyped-def]
        out = real_pseudo(previous, X, y, cand, **kwargs)
        seen.append((previous, out.items))
        return out

    monkeypatch.setattr(run_mod, "train_round", spy_train_round)
    monkeypatch.setattr(run_mod, "ceal_pseudo_labels", spy_pseudo)
    cfg = SimulationConfig(**FAST, ceal_delta0=2.0, ceal_decay=0.5)  # type: ignore[arg-type]
    run = run_simulation(digits, "entropy", 0, cfg)
    assert len(trained_on) == len(run.rounds)  # one training per round
    assert seen[0][0] is None  # round 0: no previous model
    for rnd, rec in enumerate(run.rounds):
        n, _ = trained_on[rnd]
        assert n == rec.n_labeled + rec.pseudo_labels
        items = seen[rnd][1]
        assert not set(items.tolist()) & set(run.initial + run.acquired()[: rec.n_labeled - 20])
    # the pseudo-labels of round 1 are the predictions of round 0's trained model
    assert seen[1][0] is not None and run.rounds[1].pseudo_labels > 0


def test_ceal_resume_is_exact(digits, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    cfg = SimulationConfig(**{**FAST, "budget": 40}, ceal_delta0=2.0, ceal_decay=0.5)  # type: ignore[arg-type]
    full = run_simulation(digits, "entropy", 0, cfg)
    ckpt = tmp_path / "run.json"
    run_simulation(digits, "entropy", 0, cfg, checkpoint=ckpt)
    assert list(tmp_path.glob("*.pt")) == []  # a finished run keeps no weights

    class _Stop(Exception):
        pass

    def stop_after_round_1(name, seed, rec, total):  # type: ignore[no-untyped-def]
        if rec.round == 1:
            raise _Stop

    ckpt.unlink()
    with pytest.raises(_Stop):
        run_simulation(digits, "entropy", 0, cfg, checkpoint=ckpt, progress=stop_after_round_1)
    assert (tmp_path / "run.round1.pt").exists()
    assert len(json.loads(ckpt.read_text())["rounds"]) == 2
    resumed = run_simulation(digits, "entropy", 0, cfg, checkpoint=ckpt)
    assert resumed.acquired() == full.acquired()
    assert [r.pseudo_labels for r in resumed.rounds] == [r.pseudo_labels for r in full.rounds]
    np.testing.assert_allclose(resumed.accuracy, full.accuracy)
    assert resumed.rounds[2].pseudo_labels > 0  # round 2 did use round 1's loaded model


def test_ranking_loss_zero_when_ordered_beyond_margin() -> None:
    # pairs (0, 3) and (1, 2): true losses 3 > 0 and 1 < 2
    target = torch.tensor([3.0, 1.0, 2.0, 0.0])
    pred = torch.tensor([5.0, 0.0, 1.5, 3.5])  # diffs 1.5 (same sign), -1.5 (same sign)
    assert float(loss_ranking_loss(pred, target)) == 0.0


@pytest.mark.parametrize(
    "settings,match",
    [({"ceal_delta0": 0.0}, "never pseudo-label"),
     ({"ceal_decay": 0.5}, "CEAL is off"),
     ({"ceal_decay": float("nan")}, "CEAL is off"),
     ({"model": "ll-mlp", "predictor": "snapshot", "mc_samples": 2}, "stop-gradient"),
     ({"model": "ll-mlp", "predictor": "diverse-ensemble"}, "stop-gradient")],
)
def test_ceal_and_learning_loss_settings_that_would_silently_do_nothing(
    settings: dict, match: str
) -> None:
    cfg = SimulationConfig(**{**FAST, **settings})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=match):
        run_simulation(load_dataset("digits-flat"), "entropy", 0, cfg)


def test_ranking_loss_by_hand() -> None:
    target = torch.tensor([3.0, 1.0, 7.0, 2.0, 0.0])  # odd B: middle item unused
    pred = torch.tensor([0.5, 2.0, 9.0, 1.0, 0.0])
    # pair (0, 4): s = +1, d = 0.5 -> max(0, 1 - 0.5) = 0.5
    # pair (1, 3): s = -1 (1 < 2), d = 1.0 -> max(0, 1 + 1.0) = 2.0
    assert float(loss_ranking_loss(pred, target)) == pytest.approx(1.25)
    assert float(loss_ranking_loss(pred, target, margin=0.0)) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="at least 2"):
        loss_ranking_loss(pred[:1], target[:1])


def test_module_learns_to_rank_losses_and_stop_grad() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 6)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    flip = rng.random(120) < 0.2
    y[flip] = 1 - y[flip]  # noisy items keep a high loss
    model = make_model("ll-mlp", input_shape=(6,), n_classes=2,
                       generator=torch.Generator().manual_seed(0))
    train_classifier(model, X, y, config=TrainConfig(epochs=40, batch_size=32, lr=5e-3), rng=0)
    pred = model.acquisition_scores(X)
    with torch.no_grad():
        true = torch.nn.functional.cross_entropy(model(torch.as_tensor(X)), torch.as_tensor(y),
                                                 reduction="none")
    rank = lambda t: t.argsort().argsort().double()
    rho = float(torch.corrcoef(torch.stack([rank(pred), rank(true)]))[0, 1])
    assert rho > 0.3
    xb, yb = torch.as_tensor(X[:8]), torch.as_tensor(y[:8])

    def grads_after_extra_loss(epoch: int) -> tuple[bool, bool]:
        """(the backbone got a gradient, the loss module got one) from the ranking loss."""
        model.zero_grad(set_to_none=True)
        with seeded_dropout(model, torch.Generator().manual_seed(1), train=True):
            extra = model.extra_loss(xb, yb, model(xb), n_train=120, epoch=epoch)
        extra.backward()
        got = lambda ps: any(p.grad is not None and float(p.grad.abs().max()) > 0 for p in ps)
        return got(model.backbone.parameters()), got(model.loss_module.parameters())

    # before stop_grad_epoch the module shapes the backbone (the paper's first 60%) ...
    model.stop_grad_epoch = 3
    assert grads_after_extra_loss(epoch=2) == (True, True)
    # ... from it on, the loss module's gradient no longer reaches the backbone
    assert grads_after_extra_loss(epoch=3) == (False, True)
    model.stop_grad_epoch = None  # never stop
    assert grads_after_extra_loss(epoch=1000) == (True, True)


@pytest.mark.parametrize(
    "kwargs,match",
    [({"margin": -1.0}, "margin"), ({"margin": float("nan")}, "margin"),
     ({"margin": float("inf")}, "margin"), ({"weight": -5.0}, "weight"),
     ({"weight": float("inf")}, "weight"), ({"stop_grad_epoch": -3}, "stop_grad_epoch"),
     ({"stop_grad_epoch": 2.5}, "stop_grad_epoch")],
)
def test_learning_loss_rejects_nonsense_hyper_parameters(kwargs: dict, match: str) -> None:
    """xi < 0 makes wrongly ordered pairs free, NaN poisons the loss, a negative weight
    rewards bad rankings: each is refused when the model is built, naming the argument."""
    with pytest.raises(ValueError, match=match):
        make_model("ll-mlp", input_shape=(6,), n_classes=2,
                   generator=torch.Generator().manual_seed(0), **kwargs)


@pytest.mark.parametrize("margin", [-1.0, float("nan"), float("inf")])
def test_ranking_loss_rejects_a_bad_margin(margin: float) -> None:
    t = torch.tensor([1.0, 0.0])
    with pytest.raises(ValueError, match="margin"):
        loss_ranking_loss(t, t, margin=margin)


def test_learning_loss_runs_in_simulate_and_needs_its_model(digits) -> None:  # type: ignore[no-untyped-def]
    cfg = SimulationConfig(**{**FAST, "model": "ll-mlp"})  # type: ignore[arg-type]
    run = run_simulation(digits, "learning-loss", 0, cfg)
    assert [r.n_labeled for r in run.rounds] == [20, 25, 30]
    assert len(set(run.acquired())) == 10
    # refused before any training (it used to fail after round 0's), naming the setting
    with pytest.raises(ValueError, match=r"model 'mlp' does not.*--model ll-mlp.*model = "):
        run_simulation(digits, "learning-loss", 0, SimulationConfig(**FAST))  # type: ignore[arg-type]
    # proxy_epochs alone: the target's model still selects, so it is the one named
    with pytest.raises(ValueError, match=r"but model 'mlp' does not.*--model ll-mlp"):
        run_simulation(digits, "learning-loss", 0, SimulationConfig(**FAST, proxy_epochs=2))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"the proxy model 'mlp'.*--proxy-model ll-mlp"):
        run_simulation(digits, "learning-loss", 0, SimulationConfig(  # type: ignore[arg-type]
            **{**FAST, "model": "ll-mlp"}, proxy_model="mlp"))


def test_stop_epoch_follows_the_paper() -> None:
    assert learning_loss_stop_epoch(200) == 120  # Yoo & Kweon: epoch 120 of 200
    assert learning_loss_stop_epoch(50) == 30  # not 31 (0.6 * 50 = 30.000000000000004)
    assert learning_loss_stop_epoch(30) == 18 and learning_loss_stop_epoch(1) == 1
    assert learning_loss_stop_epoch(10, 0.0) == 0
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="epochs"):
            learning_loss_stop_epoch(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fraction"):
        learning_loss_stop_epoch(10, 1.5)


def test_loop_builds_learning_loss_models_with_the_paper_stop_epoch(  # type: ignore[no-untyped-def]
    digits, monkeypatch
) -> None:
    built: list[torch.nn.Module] = []
    real = run_mod.make_model

    def spy(name: str, **kw):  # type: ignore[no-untyped-def]
        m = real(name, **kw)
        built.append(m)
        return m

    monkeypatch.setattr(run_mod, "make_model", spy)
    cfg = SimulationConfig(**{**FAST, "model": "ll-mlp", "budget": 25})  # type: ignore[arg-type]
    run_simulation(digits, "learning-loss", 0, cfg)
    assert built and all(isinstance(m, LearningLossNet) for m in built)
    assert {m.stop_grad_epoch for m in built} == {18}  # 60% of FAST's 30 epochs
