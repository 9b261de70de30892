"""Forgetting events and label dispersion: hand-computed values, the recorder, the strategy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labelwise.errors import ShapeError
from labelwise.loop import SimulationConfig, simulate
from labelwise.models import (
    PredictionRecorder,
    TrainConfig,
    forgetting_counts,
    label_dispersion,
    make_model,
    predict_proba,
    train_classifier,
)
from labelwise.strategies import get_strategy

# 5 epochs x 4 items; true labels y = [0, 1, 2, 0]
PREDS = np.array(
    [
        [0, 1, 0, 1],
        [1, 1, 0, 0],
        [0, 0, 0, 1],
        [1, 1, 0, 0],
        [0, 1, 2, 0],
    ]
)
Y = np.array([0, 1, 2, 0])


def test_forgetting_counts_by_hand() -> None:
    # item 0: correct at e0, e2, e4 -> wrong at e1, e3: 2 events
    # item 1: correct e0, e1 -> wrong e2 (1 event), correct e3, e4: 1 event
    # item 2: wrong until e4 (learned, never forgotten): 0
    # item 3: wrong e0, correct e1, wrong e2 (1), correct e3, correct e4: 1
    np.testing.assert_array_equal(forgetting_counts(PREDS, Y), [2, 1, 0, 1])
    # one epoch: no transitions; items 2 and 3 are wrong at e0, so never learned (inf)
    np.testing.assert_array_equal(forgetting_counts(PREDS[:1], Y), [0, 0, np.inf, np.inf])
    with pytest.raises(ShapeError, match="y must be"):
        forgetting_counts(PREDS, Y[:3])


def test_never_learned_items_rank_as_most_forgettable() -> None:
    """Toneva et al.: an item never classified correctly is forgotten infinitely often, so it
    ranks above every learned item, not tied with the always-correct ones at 0."""
    preds = np.array([[0, 1, 2], [0, 0, 2], [0, 1, 2]])  # item 0 always right, 1 forgotten once
    y = np.array([0, 1, 0])  # item 2 never right
    counts = forgetting_counts(preds, y)
    assert counts.dtype == np.float64
    np.testing.assert_array_equal(counts, [0, 1, np.inf])
    assert list(np.argsort(-counts, kind="stable")) == [2, 1, 0]
    np.testing.assert_array_equal(forgetting_counts(preds, y, never_learned=3), [0, 1, 3])
    np.testing.assert_array_equal(forgetting_counts(preds, y, never_learned=0), [0, 1, 0])
    with pytest.raises(ValueError, match="NaN"):
        forgetting_counts(preds, y, never_learned=float("nan"))
    with pytest.raises(TypeError, match="never_learned"):
        forgetting_counts(preds, y, never_learned="inf")  # type: ignore[arg-type]


def test_label_dispersion_by_hand() -> None:
    # modal counts: item0 3 (class 0), item1 4, item2 4, item3 3 -> 1 - m / 5
    np.testing.assert_allclose(label_dispersion(PREDS), [0.4, 0.2, 0.2, 0.4])
    np.testing.assert_allclose(label_dispersion(np.zeros((3, 2), dtype=np.int8)), [0.0, 0.0])
    with pytest.raises(ShapeError, match=r"\[E, N\]"):
        label_dispersion(PREDS[0])
    with pytest.raises(TypeError, match="integer"):
        label_dispersion(PREDS.astype(float))


def test_strategy_picks_most_dispersed() -> None:
    sel = get_strategy("label-dispersion").select(2, n=4, training_predictions=PREDS, rng=0)
    assert set(sel.indices.tolist()) == {0, 3}
    with pytest.raises(ShapeError, match="training_predictions"):
        get_strategy("label-dispersion").select(2, n=4, rng=0)
    with pytest.raises(ShapeError, match="N = 5"):
        get_strategy("label-dispersion").select(2, n=5, training_predictions=PREDS, rng=0)


def test_recorder_records_every_epoch_compactly() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 5)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    model = make_model("mlp", input_shape=(5,), n_classes=2,
                       generator=torch.Generator().manual_seed(0))
    rec = PredictionRecorder(X[:10], every=2)
    train_classifier(model, X, y, config=TrainConfig(epochs=5, batch_size=16), rng=0,
                     callbacks=[rec])
    assert rec.epochs == [0, 2, 4]
    P = rec.predictions
    assert P.shape == (3, 10) and P.dtype == np.int8
    # the last record is the final model's prediction
    np.testing.assert_array_equal(P[-1], predict_proba(model, X[:10]).argmax(1).numpy())


def test_label_dispersion_runs_in_simulate() -> None:
    cfg = SimulationConfig(batch_size=5, budget=30, initial_size=20, model="mlp", mc_samples=2,
                           pool_subset=200, train=TrainConfig(epochs=6))
    (run,) = simulate("digits-flat", "label-dispersion", seeds=[0], config=cfg)
    assert [r.n_labeled for r in run.rounds] == [20, 25, 30]
    assert len(set(run.acquired())) == 10 and not set(run.acquired()) & set(run.initial)
    (again,) = simulate("digits-flat", "label-dispersion", seeds=[0], config=cfg)
    assert again.acquired() == run.acquired()
