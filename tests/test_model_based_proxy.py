"""Selection via proxy (Coleman et al. 2020): the proxy selects, the target is evaluated."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
import torch

import labelwise.loop._predictors as predictors_mod
import labelwise.loop._run as run_mod
from labelwise.datasets import load_dataset
from labelwise.errors import LabelwiseError
from labelwise.loop import (
    RoundRecord,
    RunResult,
    SimulationConfig,
    compare_proxy,
    compare_proxy_runs,
    proxy_markdown,
    run_simulation,
    selection_seconds,
)
from labelwise.models import TrainConfig
from labelwise.select import Selection, top_k
from labelwise.strategies import Strategy

BASE = {"batch_size": 10, "budget": 30, "initial_size": 20, "model": "mlp", "mc_samples": 3,
        "pool_subset": 200, "train": TrainConfig(epochs=12, lr=1e-2)}


@pytest.fixture(scope="module")
def digits():  # type: ignore[no-untyped-def]
    return load_dataset("digits-flat")


def test_proxy_selects_target_is_trained_fully_and_reported(digits, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # models are kept alive in `keep` so that their ids stay unique
    keep: list[Any] = []
    trained: dict[int, int] = {}  # id(model) -> epochs
    evaluated: dict[int, float] = {}  # id(model) -> accuracy
    predicted_by: list[int] = []
    returned: list[torch.Tensor] = []
    real_train, real_eval, real_pred = (
        predictors_mod.train_classifier, run_mod.evaluate, predictors_mod.predictive_samples,
    )

    def spy_train(model, X, y, *, config, **kw):  # type: ignore[no-untyped-def]
        keep.append(model)
        trained[id(model)] = config.epochs
        return real_train(model, X, y, config=config, **kw)

    def spy_eval(model, *a, **kw):  # type: ignore[no-untyped-def]
        out = real_eval(model, *a, **kw)
        evaluated[id(model)] = out[0]
        return out

    def spy_pred(model, *a, **kw):  # type: ignore[no-untyped-def]
        predicted_by.append(id(model))
        out = real_pred(model, *a, **kw)
        returned.append(out)
        return out

    got: list[Any] = []

    def fn(k: int, *, probs: Any, exclude: Any, rng: Any, **_: Any) -> Selection:
        got.append(probs)
        p = torch.as_tensor(probs).mean(1)
        return top_k(-(p * p.log()).sum(-1), k, exclude=exclude, rng=rng)

    strat = Strategy("spy", "entropy, recording its probs", "-", frozenset({"probs"}), fn)
    monkeypatch.setattr(predictors_mod, "train_classifier", spy_train)
    monkeypatch.setattr(run_mod, "evaluate", spy_eval)
    monkeypatch.setattr(predictors_mod, "predictive_samples", spy_pred)
    cfg = SimulationConfig(  # type: ignore[arg-type]
        **{**BASE, "budget": 40}, proxy_model="mlp", proxy_epochs=2
    )
    run = run_simulation(digits, strat, 0, cfg)

    assert len(predicted_by) == 2  # two selecting rounds
    for pid, probs, ret in zip(predicted_by, got, returned):
        assert trained[pid] == 2  # the predictions came from a proxy (2 epochs) ...
        assert probs is ret  # ... and the strategy selected on exactly those predictions
    targets = [i for i, e in trained.items() if e == 12]
    assert len(targets) == 3 and not set(targets) & set(predicted_by)
    # every round reports the target's accuracy, and the proxy's separately
    assert [r.test_accuracy for r in run.rounds] == [evaluated[i] for i in targets]
    for rec, pid in zip(run.rounds[:2], predicted_by):
        assert rec.proxy_test_accuracy == evaluated[pid]
        assert rec.seconds_proxy_train > 0
    last = run.rounds[-1]
    assert last.selected == [] and last.proxy_test_accuracy is None and last.seconds_proxy_train == 0


def test_proxy_changes_selection_not_the_target(digits) -> None:  # type: ignore[no-untyped-def]
    base = run_simulation(digits, "entropy", 0, SimulationConfig(**BASE))  # type: ignore[arg-type]
    prox = run_simulation(
        digits, "entropy", 0, SimulationConfig(**BASE, proxy_epochs=1)  # type: ignore[arg-type]
    )
    # round 0: same initial labels, same target training -> the same reported accuracy
    assert prox.rounds[0].test_accuracy == base.rounds[0].test_accuracy
    assert prox.rounds[0].test_nll == base.rounds[0].test_nll
    # a 1-epoch proxy is worse than the 12-epoch target, and picks other items
    assert prox.rounds[0].proxy_test_accuracy < base.rounds[0].test_accuracy
    assert prox.acquired() != base.acquired()
    assert base.rounds[0].proxy_test_accuracy is None and base.rounds[0].seconds_proxy_train == 0
    # a strategy that ignores the model trains no proxy: identical runs
    r1 = run_simulation(digits, "random", 0, SimulationConfig(**BASE))  # type: ignore[arg-type]
    r2 = run_simulation(digits, "random", 0, SimulationConfig(**BASE, proxy_epochs=1))  # type: ignore[arg-type]
    assert r1.acquired() == r2.acquired() and list(r1.accuracy) == list(r2.accuracy)
    assert all(r.proxy_test_accuracy is None for r in r2.rounds)


def _run(proxy: bool, accs: list[float], times: list[tuple[float, float, float, float]]) -> RunResult:
    cfg = SimulationConfig(proxy_epochs=2) if proxy else SimulationConfig()
    rounds = []
    for i, (acc, (tr, tp, pr, se)) in enumerate(zip(accs, times)):
        last = i == len(accs) - 1
        rounds.append(RoundRecord(
            round=i, n_labeled=20 + 10 * i, test_accuracy=acc, test_nll=1.0,
            selected=[] if last else [i], batch_class_counts=[0], seconds_train=tr,
            seconds_predict=pr, seconds_select=se, seconds_proxy_train=tp,
        ))
    return RunResult("bald", 0, "digits-flat", cfg.to_dict(), [0], rounds, True)


def test_compare_proxy_hand_computed() -> None:
    base = _run(False, [0.5, 0.7, 0.9], [(4.0, 0.0, 1.0, 0.5), (6.0, 0.0, 1.0, 0.5), (8.0, 0, 0, 0)])
    prox = _run(True, [0.5, 0.6, 0.8], [(4.0, 1.0, 0.5, 0.5), (6.0, 1.0, 0.5, 0.5), (8.0, 0, 0, 0)])
    # baseline: (4 + 1 + .5) + (6 + 1 + .5) = 13; proxy: (1 + .5 + .5) * 2 = 4
    assert selection_seconds(base) == pytest.approx(13.0)
    assert selection_seconds(prox) == pytest.approx(4.0)
    c = compare_proxy(base, prox)
    assert c.seconds_saved == pytest.approx(9.0) and c.speedup == pytest.approx(13 / 4)
    assert c.final_accuracy == 0.9 and c.proxy_final_accuracy == 0.8
    assert c.accuracy_lost == pytest.approx(0.1)
    assert c.mean_accuracy_lost == pytest.approx((0.0 + 0.1 + 0.1) / 3)
    with pytest.raises(LabelwiseError, match="baseline used a proxy"):
        compare_proxy(prox, prox)
    with pytest.raises(LabelwiseError, match="neither proxy_model nor proxy_epochs"):
        compare_proxy(base, base)
    with pytest.raises(LabelwiseError, match="differ in seed"):
        compare_proxy(base, dataclasses.replace(prox, seed=1))
    with pytest.raises(LabelwiseError, match="same label counts"):
        compare_proxy(base, dataclasses.replace(prox, rounds=prox.rounds[:2]))


def test_bench_style_comparison_on_digits(digits) -> None:  # type: ignore[no-untyped-def]
    cfg = SimulationConfig(**{**BASE, "budget": 30})  # type: ignore[arg-type]
    base = run_simulation(digits, "bald", 0, cfg)
    prox = run_simulation(
        digits, "bald", 0, dataclasses.replace(cfg, proxy_model="mlp", proxy_epochs=2)
    )
    assert len(base.rounds) == len(prox.rounds) == 2
    c = compare_proxy(base, prox)
    assert c.final_accuracy == base.rounds[-1].test_accuracy
    assert c.proxy_final_accuracy == prox.rounds[-1].test_accuracy
    assert c.accuracy_lost == pytest.approx(c.final_accuracy - c.proxy_final_accuracy)
    r0 = prox.rounds[0]
    assert c.proxy_selection_seconds == pytest.approx(
        r0.seconds_proxy_train + r0.seconds_predict + r0.seconds_select
    )
    b0 = base.rounds[0]
    assert c.selection_seconds == pytest.approx(b0.seconds_train + b0.seconds_predict + b0.seconds_select)
    assert np.isfinite(c.speedup) and c.speedup > 0
    # the comparison round-trips through the saved results
    again = compare_proxy(RunResult.from_dict(base.to_dict()), RunResult.from_dict(prox.to_dict()))
    assert again == c


def test_proxy_config_errors(digits) -> None:  # type: ignore[no-untyped-def]
    for bad, msg in [
        ({"proxy_model": "resnet"}, "proxy_model must be None, 'auto' or one of"),
        ({"proxy_epochs": 0}, "proxy_epochs must be None or a positive integer"),
        ({"proxy_epochs": 2, "ceal_delta0": 0.5}, "cannot be combined"),
        ({"proxy_model": "mlp", "predictor": "split-head"}, "proxy_model='mlp'"),
        # the predictor trains the proxy, so its limits apply to proxy_epochs (these
        # passed validation and failed after the first round, or were silently cut)
        ({"proxy_epochs": 1, "predictor": "diverse-ensemble"}, "proxy_epochs >= 2"),
        ({"proxy_epochs": 2, "predictor": "snapshot", "mc_samples": 3},
         "cuts proxy_epochs=2 into mc_samples=3"),
        ({"proxy_epochs": 2, "predictor": "diverse-ensemble", "ensemble_warmup_epochs": 3},
         r"\[1, proxy_epochs - 1\] = \[1, 1\], got 3"),
    ]:
        with pytest.raises(ValueError, match=msg):
            run_simulation(digits, "bald", 0, SimulationConfig(**{**BASE, **bad}))  # type: ignore[arg-type]


def test_compare_proxy_runs_pairs_by_strategy_and_seed() -> None:
    rounds = [(4.0, 1.0, 0.5, 0.5), (6.0, 1.0, 0.5, 0.5), (8.0, 0, 0, 0)]
    base = [_run(False, [0.5, 0.7, 0.9], rounds), dataclasses.replace(
        _run(False, [0.5, 0.7, 0.9], rounds), seed=1)]
    prox = [dataclasses.replace(_run(True, [0.5, 0.6, 0.8], rounds), seed=1),
            _run(True, [0.5, 0.6, 0.8], rounds)]
    cs = compare_proxy_runs(base, prox)
    assert [(c.strategy, c.seed) for c in cs] == [("bald", 0), ("bald", 1)]
    assert cs[0] == compare_proxy(base[0], prox[1])
    md = proxy_markdown(cs)
    assert md.count("| bald | ") == 2 and "**bald (mean of 2)**" in md
    # unfinished runs are skipped; nothing left in common is an error
    unfinished = [dataclasses.replace(p, finished=False) for p in prox]
    with pytest.raises(LabelwiseError, match="no finished"):
        compare_proxy_runs(base, unfinished)
    with pytest.raises(LabelwiseError, match="twice"):
        compare_proxy_runs([base[0], base[0]], prox)


def test_learning_loss_proxy_stops_its_module_gradient_at_60_percent_of_its_own_epochs(
    digits, monkeypatch  # type: ignore[no-untyped-def]
) -> None:
    """An ll-* proxy trained for proxy_epochs must stop the loss module's gradient at 60% of
    *those* epochs (Yoo & Kweon 2019), not of the target's."""
    from labelwise.models import learning_loss_stop_epoch

    built: list[tuple[str, int | None]] = []
    real_make = run_mod.make_model

    def spy_make(name, **kwargs):  # type: ignore[no-untyped-def]
        built.append((name, kwargs.get("stop_grad_epoch")))
        return real_make(name, **kwargs)

    monkeypatch.setattr(run_mod, "make_model", spy_make)
    cfg = SimulationConfig(**{**BASE, "model": "ll-mlp", "budget": 30,  # type: ignore[arg-type]
                              "train": TrainConfig(epochs=30, lr=1e-2)},
                           proxy_model="ll-mlp", proxy_epochs=5)
    run_simulation(digits, "learning-loss", 0, cfg)
    stops = {stop for _, stop in built}
    # target models (30 epochs) and proxies (5 epochs) each get their own stop epoch
    assert stops == {learning_loss_stop_epoch(30), learning_loss_stop_epoch(5)}
    assert learning_loss_stop_epoch(5) < 5 < learning_loss_stop_epoch(30)
