"""Deep, diversity-encouraging, split-head and stochastic ensembles (Beluch et al. 2018)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from labelwise.datasets import load_dataset
from labelwise.errors import LabelwiseError
from labelwise.loop import SimulationConfig, run_simulation
from labelwise.models import (
    SplitHeadMLP,
    TrainConfig,
    ensemble_predict,
    make_model,
    predictive_samples,
    split_head_predict,
    stochastic_ensemble_predict,
    train_classifier,
    train_diverse_ensemble,
    train_ensemble,
)
from labelwise.select import Selection, top_k
from labelwise.strategies import Strategy

CFG = TrainConfig(epochs=6, lr=1e-2, batch_size=32)


@pytest.fixture(scope="module")
def digits():  # type: ignore[no-untyped-def]
    return load_dataset("digits-flat")


@pytest.fixture(scope="module")
def small(digits):  # type: ignore[no-untyped-def]
    X = torch.as_tensor(np.asarray(digits.X_train[:150], dtype=np.float32))
    y = torch.as_tensor(np.asarray(digits.y_train[:150]))
    return X, y


def _mlp(seed: int) -> torch.nn.Module:
    return make_model("mlp", input_shape=(64,), n_classes=10, hidden=(32,),
                      generator=torch.Generator().manual_seed(seed))


def _flat(ms: list[torch.nn.Module]) -> list[torch.Tensor]:
    return [torch.cat([p.detach().flatten() for p in m.parameters()]) for m in ms]


def test_split_head_forward_is_the_head_mixture_and_extra_loss_the_mean_head_ce() -> None:
    g = torch.Generator().manual_seed(0)
    net = make_model("split-head-mlp", input_shape=(64,), n_classes=10, n_heads=4, generator=g)
    assert isinstance(net, SplitHeadMLP) and len(net.head.heads) == 4
    x = torch.randn(7, 64, generator=g)
    y = torch.randint(0, 10, (7,), generator=g)
    net.eval()
    z = net.head_logits(x)
    assert z.shape == (7, 4, 10)
    mixture = torch.log(torch.softmax(z, -1).mean(1))
    torch.testing.assert_close(net(x), mixture)
    torch.testing.assert_close(torch.softmax(net(x), -1), torch.softmax(z, -1).mean(1))
    ref = torch.stack([F.cross_entropy(z[:, m], y) for m in range(4)]).mean()
    torch.testing.assert_close(net.extra_loss(x, y, net(x), n_train=7, epoch=0), ref)
    # heads start different (drawn one after the other from the generator)
    assert not torch.allclose(z[:, 0], z[:, 1])


def test_split_head_training_heads_learn_differ_and_are_seeded(small) -> None:  # type: ignore[no-untyped-def]
    X, y = small

    def trained() -> torch.nn.Module:
        net = make_model("split-head-mlp", input_shape=(64,), n_classes=10, n_heads=3,
                         generator=torch.Generator().manual_seed(1))
        train_classifier(net, X, y, config=CFG, rng=4)
        return net

    a, b = trained(), trained()
    pa = split_head_predict(a, X)
    assert pa.shape == (150, 3, 10)
    torch.testing.assert_close(pa.sum(-1), torch.ones(150, 3))
    torch.testing.assert_close(pa, split_head_predict(b, X), rtol=0, atol=0)
    # every head learned the training set by itself (chance is 10%) ...
    for m in range(3):
        assert (pa[:, m].argmax(-1) == y).double().mean() > 0.8
    # ... and the heads disagree somewhere
    assert (pa[:, 0] - pa[:, 1]).abs().max() > 1e-3
    with pytest.raises(TypeError, match="head_logits"):
        split_head_predict(_mlp(0), X)


def test_deep_ensemble_members_differ_and_are_seeded(small) -> None:  # type: ignore[no-untyped-def]
    X, y = small
    a = train_ensemble([_mlp(s) for s in range(3)], X, y, config=CFG, rng=5)
    b = train_ensemble([_mlp(s) for s in range(3)], X, y, config=CFG, rng=5)
    pa, pb = ensemble_predict(a, X), ensemble_predict(b, X)
    assert pa.shape == (150, 3, 10)
    torch.testing.assert_close(pa, pb, rtol=0, atol=0)
    assert (pa[:, 0] - pa[:, 1]).abs().max() > 1e-3
    with pytest.raises(TypeError, match="sequence of modules"):
        train_ensemble(_mlp(0), X, y, config=CFG, rng=0)  # type: ignore[arg-type]


def test_diverse_ensemble_shares_a_warm_start_yet_members_differ(small) -> None:  # type: ignore[no-untyped-def]
    X, y = small
    model = _mlp(0)
    members = train_diverse_ensemble(model, X, y, n_members=3, warmup_epochs=3, config=CFG, rng=2)
    assert len(members) == 3 and members[0] is model
    again = train_diverse_ensemble(_mlp(0), X, y, n_members=3, warmup_epochs=3, config=CFG, rng=2)
    for m1, m2 in zip(_flat(members), _flat(again)):
        torch.testing.assert_close(m1, m2, rtol=0, atol=0)
    div = _flat(members)
    assert (div[0] - div[1]).abs().max() > 1e-4  # own seed and dropout after the warm-up
    # members from one warm start sit much closer together than independently initialised ones
    indep = _flat(train_ensemble([_mlp(s) for s in range(3)], X, y, config=CFG, rng=2))
    d_div = np.mean([float((div[i] - div[j]).norm()) for i, j in [(0, 1), (0, 2), (1, 2)]])
    d_ind = np.mean([float((indep[i] - indep[j]).norm()) for i, j in [(0, 1), (0, 2), (1, 2)]])
    assert d_div < 0.5 * d_ind
    with pytest.raises(ValueError, match=r"warmup_epochs must be an integer in \[1, config.epochs - 1\]"):
        train_diverse_ensemble(_mlp(0), X, y, n_members=2, warmup_epochs=6, config=CFG, rng=0)


def test_stochastic_ensemble_is_member_major_mc_dropout(small) -> None:  # type: ignore[no-untyped-def]
    X, y = small
    members = train_ensemble([_mlp(s) for s in range(2)], X, y, config=CFG, rng=1)
    p = stochastic_ensemble_predict(members, X[:20], k=4, generator=torch.Generator().manual_seed(9))
    assert p.shape == (20, 8, 10)
    q = stochastic_ensemble_predict(members, X[:20], k=4, generator=torch.Generator().manual_seed(9))
    torch.testing.assert_close(p, q, rtol=0, atol=0)
    # block m = member m's own MC dropout samples (one generator per member, drawn in order)
    g = torch.Generator().manual_seed(9)
    seeds = torch.randint(0, 2**62, (2,), generator=g).tolist()
    for m, s in enumerate(seeds):
        ref = predictive_samples(members[m], X[:20], k=4,
                                 generator=torch.Generator().manual_seed(int(s)))
        torch.testing.assert_close(p[:, 4 * m : 4 * m + 4], ref)
    # dropout makes the passes of one member differ; the members differ too
    assert (p[:, 0] - p[:, 1]).abs().max() > 1e-3
    assert (p[:, :4].mean(1) - p[:, 4:].mean(1)).abs().max() > 1e-3


def _spy_strategy(store: list[torch.Tensor]) -> Strategy:
    def fn(k: int, *, probs: Any, exclude: Any, rng: Any, **_: Any) -> Selection:
        store.append(torch.as_tensor(probs).clone())
        p = torch.as_tensor(probs).mean(1)
        return top_k(-(p * p.clamp_min(1e-12).log()).sum(-1), k, exclude=exclude, rng=rng)

    return Strategy("spy-entropy", "records probs", "-", frozenset({"probs"}), fn)


@pytest.mark.parametrize(
    ("predictor", "model", "width"),
    [("ensemble", "mlp", 3), ("diverse-ensemble", "mlp", 3), ("split-head", "split-head-mlp", 3),
     ("stochastic-ensemble", "mlp", 6)],
)
def test_loop_predictors_shapes_determinism_and_member_spread(
    digits, predictor: str, model: str, width: int  # type: ignore[no-untyped-def]
) -> None:
    cfg = SimulationConfig(
        batch_size=5, budget=25, initial_size=20, model=model, mc_samples=2, pool_subset=100,
        train=TrainConfig(epochs=4, lr=1e-2), predictor=predictor, ensemble_size=3,
    )
    seen: list[torch.Tensor] = []
    run = run_simulation(digits, _spy_strategy(seen), 0, cfg)
    assert len(seen) == 1 and seen[0].shape == (100, width, 10)
    torch.testing.assert_close(seen[0].sum(-1), torch.ones(100, width))
    assert (seen[0][:, 0] - seen[0][:, -1]).abs().max() > 1e-3  # members (heads) differ
    again: list[torch.Tensor] = []
    run2 = run_simulation(digits, _spy_strategy(again), 0, cfg)
    torch.testing.assert_close(seen[0], again[0], rtol=0, atol=0)
    assert run.acquired() == run2.acquired()
    assert [r.test_accuracy for r in run.rounds] == [r.test_accuracy for r in run2.rounds]


def test_loop_predictor_errors(digits) -> None:  # type: ignore[no-untyped-def]
    base = {"batch_size": 5, "budget": 25, "initial_size": 20, "model": "mlp",
            "train": TrainConfig(epochs=3)}
    with pytest.raises(ValueError, match="predictor='split-head' needs a split-head model"):
        run_simulation(digits, "bald", 0, SimulationConfig(**base, predictor="split-head"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cannot warm-start"):
        run_simulation(digits, "bald", 0, SimulationConfig(**base, predictor="ensemble", warm_start=True))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ensemble_size must be a positive integer"):
        run_simulation(digits, "bald", 0, SimulationConfig(**base, predictor="ensemble", ensemble_size=0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="predictor must be one of"):
        run_simulation(digits, "bald", 0, SimulationConfig(**base, predictor="ensembel"))  # type: ignore[arg-type]
    with pytest.raises(LabelwiseError, match="cannot record training predictions"):
        run_simulation(digits, "label-dispersion", 0,
                       SimulationConfig(**base, predictor="diverse-ensemble", ensemble_size=2))  # type: ignore[arg-type]


@pytest.mark.parametrize("predictor", ["ensemble", "diverse-ensemble", "stochastic-ensemble"])
def test_strategies_without_samples_train_only_the_evaluated_member(
    digits, predictor: str, monkeypatch: pytest.MonkeyPatch  # type: ignore[no-untyped-def]
) -> None:
    """random reads no samples: only member 0 (the evaluated model) is trained, and its
    curve is exactly the one it has when all M members are trained beside it."""
    import labelwise.models.implicit_ensembles as ie
    from labelwise.strategies import get_strategy

    random = get_strategy("random")
    # the same selection as random, but declaring that it reads samples: all M are trained
    random_reading_probs = Strategy("random-probs", "-", "-", frozenset({"probs"}),
                                    random.select_fn)
    cfg = SimulationConfig(
        batch_size=5, budget=30, initial_size=20, model="mlp", mc_samples=2, pool_subset=100,
        train=TrainConfig(epochs=4, lr=1e-2), predictor=predictor, ensemble_size=3,
    )
    calls: list[int] = []
    real_train = ie.train_classifier

    def counting_train(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real_train(*args, **kwargs)

    monkeypatch.setattr(ie, "train_classifier", counting_train)
    lean = run_simulation(digits, random, 0, cfg)
    lean_calls = len(calls)
    calls.clear()
    full = run_simulation(digits, random_reading_probs, 0, cfg)
    per_round = {"ensemble": 1, "diverse-ensemble": 2, "stochastic-ensemble": 1}[predictor]
    rounds = len(lean.rounds)
    # diverse: one warm-up + member 0's continuation, instead of the warm-up + 3 members
    assert lean_calls == rounds * per_round
    assert len(calls) == rounds * (per_round - 1 + 3)
    assert lean.acquired() == full.acquired()
    assert [r.test_accuracy for r in lean.rounds] == [r.test_accuracy for r in full.rounds]
    assert [r.test_nll for r in lean.rounds] == [r.test_nll for r in full.rounds]
