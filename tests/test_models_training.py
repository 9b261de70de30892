"""Networks (seeded init, trunk/head) and seeded training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from labelwise.models import (
    MLP,
    MODEL_NAMES,
    GalCNN,
    TrainConfig,
    evaluate,
    make_model,
    predict_proba,
    train_classifier,
)
from tests._helpers import gen


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    return X[:1000], y[:1000], X[1000:], y[1000:]


# --------------------------------------------------------------------------- networks


@pytest.mark.parametrize("size", [8, 28])
def test_gal_cnn_shapes_and_trunk_head(size):
    state = torch.get_rng_state()
    cnn = GalCNN(n_classes=4, in_channels=1, image_size=size, generator=gen(0))
    assert torch.equal(state, torch.get_rng_state())  # no global RNG during init
    x = torch.rand(3, 1, size, size, generator=gen(1))
    cnn.eval()
    out = cnn(x)
    assert out.shape == (3, 4)
    assert torch.equal(out, cnn.head(cnn.trunk(x)))
    assert torch.equal(out, cnn(x[:, 0]))  # [B, S, S] accepted for one channel
    flat = x.reshape(3, -1)  # e.g. sklearn digits as 64 features
    assert torch.equal(out, cnn(flat)) and torch.equal(out, cnn.head(cnn.trunk(flat)))
    with pytest.raises(ValueError, match="expected images"):
        cnn(torch.rand(3, 2, size, size))
    side = (size - 6) // 2
    assert cnn.trunk(x).shape == (3, 32 * side * side)
    assert [type(m) for m in cnn.head] == [nn.Dropout, nn.Linear, nn.ReLU, nn.Dropout, nn.Linear]
    assert [m.p for m in cnn.head if isinstance(m, nn.Dropout)] == [0.25, 0.5]


def test_seeded_initialisation():
    assert same_weights(
        GalCNN(image_size=8, generator=gen(3)), GalCNN(image_size=8, generator=gen(3))
    )
    assert not same_weights(
        GalCNN(image_size=8, generator=gen(3)), GalCNN(image_size=8, generator=gen(4))
    )
    assert same_weights(MLP(5, 2, generator=gen(1)), MLP(5, 2, generator=gen(1)))
    assert not same_weights(MLP(5, 2, generator=gen(1)), MLP(5, 2, generator=gen(2)))
    # default PyTorch scheme: |w| <= 1/sqrt(fan_in) for a = sqrt(5) Kaiming-uniform
    w = MLP(400, 2, generator=gen(0)).trunk[1].weight
    w = w.detach()
    assert float(w.abs().max()) <= 1 / 20 + 1e-7 and float(w.std()) > 0.02


def test_mlp_structure():
    m = MLP(6, 3, hidden=(16, 8), dropout=0.2, generator=gen(0))
    x = torch.randn(4, 2, 3, generator=gen(1))  # flattened to 6 features
    m.eval()
    assert torch.equal(m(x), m.head(m.trunk(x)))
    assert isinstance(m.head[0], nn.Dropout) and m.head[0].p == 0.2
    assert m.trunk[1].out_features == 16 and m.head[-1].out_features == 3
    with pytest.raises(ValueError, match="hidden"):
        MLP(6, 3, hidden=())
    with pytest.raises(ValueError, match="dropout"):
        MLP(6, 3, dropout=1.0)
    with pytest.raises(ValueError, match="image_size"):
        GalCNN(image_size=7)


def test_make_model():
    assert set(MODEL_NAMES) == {"gal-cnn", "mlp", "bbb-mlp", "bbb-cnn", "ll-mlp", "ll-cnn",
                                "bbb-mlp-mixture", "bbb-cnn-mixture", "split-head-mlp"}
    cnn = make_model("gal-cnn", input_shape=(1, 8, 8), n_classes=10, generator=gen(0))
    assert isinstance(cnn, GalCNN) and cnn.image_size == 8
    assert same_weights(cnn, GalCNN(10, 1, 8, generator=gen(0)))
    assert isinstance(
        make_model("gal-cnn", input_shape=(28, 28), n_classes=2, generator=gen(0)), GalCNN
    )
    mlp = make_model("mlp", input_shape=(8, 8), n_classes=10, generator=gen(0), hidden=(32,))
    assert mlp.in_features == 64 and mlp.hidden == (32,)
    with pytest.raises(ValueError, match="gal-cnn"):
        make_model("resnet", input_shape=(8, 8), n_classes=2)
    with pytest.raises(ValueError, match="square"):
        make_model("gal-cnn", input_shape=(1, 8, 9), n_classes=2)


# --------------------------------------------------------------------------- training


def test_mlp_learns_digits(digits):
    Xtr, ytr, Xte, yte = digits
    model = MLP(64, 10, hidden=(64,), generator=gen(0))
    acc0, nll0 = evaluate(model, Xte, yte)
    cfg = TrainConfig(epochs=10, batch_size=100, lr=1e-2)
    res = train_classifier(model, Xtr, ytr, config=cfg, rng=0)
    acc, nll = evaluate(model, Xte, yte)
    assert res.epochs_run == 10 and res.best_epoch == 9 and not res.stopped_early
    assert res.train_loss[-1] < 0.5 * res.train_loss[0]
    assert nll < nll0 and acc > 0.9 > acc0
    probs = predict_proba(model, torch.from_numpy(Xte))
    assert probs.shape == (len(Xte), 10)
    assert float((probs.argmax(1).numpy() == yte).mean()) == pytest.approx(acc)


def test_training_is_bit_reproducible(digits):
    Xtr, ytr, _, _ = digits
    cfg = TrainConfig(epochs=2, batch_size=50)

    def run(seed: int) -> nn.Module:
        model = MLP(64, 10, hidden=(32,), generator=gen(0))
        train_classifier(model, Xtr[:300], ytr[:300], config=cfg, rng=seed)
        return model

    state = torch.get_rng_state()
    a, b, c = run(7), run(7), run(8)
    assert torch.equal(state, torch.get_rng_state())
    assert same_weights(a, b)
    assert not same_weights(a, c)


def test_cnn_with_batchnorm_trains_and_single_item_batch_is_merged(digits):
    Xtr, ytr, _, _ = digits
    model = nn.Sequential(
        nn.Flatten(),
        nn.Linear(64, 16),
        nn.BatchNorm1d(16),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(16, 10),
    )
    # 65 items, batch 64: a trailing batch of one would break BatchNorm
    res = train_classifier(model, Xtr[:65], ytr[:65], config=TrainConfig(epochs=2), rng=0)
    assert res.epochs_run == 2
    assert int(model[2].num_batches_tracked) == 2


def test_early_stopping_restores_best_weights(digits):
    Xtr, _, Xte, yte = digits
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 10, size=60)  # random labels: validation loss soon rises
    model = MLP(64, 10, hidden=(64,), dropout=0.0, generator=gen(0))
    seen: list[int] = []
    res = train_classifier(
        model,
        Xtr[:60],
        noisy,
        config=TrainConfig(epochs=60, lr=1e-2, patience=2),
        rng=0,
        X_val=Xte[:100],
        y_val=yte[:100],
        callbacks=[lambda epoch, m: seen.append(epoch)],
    )
    assert res.stopped_early and res.epochs_run < 60
    assert seen == list(range(res.epochs_run))
    assert res.epochs_run - 1 - res.best_epoch == 2
    assert res.val_loss[res.best_epoch] == min(res.val_loss)
    acc, nll = evaluate(model, Xte[:100], yte[:100])
    assert nll == pytest.approx(res.val_loss[res.best_epoch], abs=1e-6)
    assert acc == pytest.approx(res.val_accuracy[res.best_epoch])


def test_val_fraction(digits):
    Xtr, ytr, _, _ = digits
    model = MLP(64, 10, hidden=(16,), generator=gen(0))
    res = train_classifier(
        model, Xtr[:100], ytr[:100], config=TrainConfig(epochs=3, val_fraction=0.2), rng=0
    )
    assert len(res.val_loss) == len(res.val_accuracy) == res.epochs_run == 3


def test_training_errors(digits):
    Xtr, ytr, _, _ = digits
    model = MLP(64, 10, generator=gen(0))
    with pytest.raises(ValueError, match="10 classes"):
        train_classifier(model, Xtr[:20], ytr[:20] + 5, config=TrainConfig(epochs=1), rng=0)
    with pytest.raises(ValueError, match="labels"):
        train_classifier(model, Xtr[:20], ytr[:19], rng=0)
    with pytest.raises(ValueError, match="class indices"):
        train_classifier(model, Xtr[:20], ytr[:20] - 5, rng=0)
    with pytest.raises(ValueError, match="one or the other"):
        train_classifier(
            model,
            Xtr[:20],
            ytr[:20],
            config=TrainConfig(val_fraction=0.1),
            rng=0,
            X_val=Xtr[:5],
            y_val=ytr[:5],
        )
    with pytest.raises(ValueError, match="model.to"):
        train_classifier(model, Xtr[:20], ytr[:20], config=TrainConfig(device="meta"), rng=0)
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="rmsprop")
    with pytest.raises(ValueError, match="patience"):
        TrainConfig(patience=0)
    with pytest.raises(ValueError, match="val_fraction"):
        TrainConfig(val_fraction=1.0)


def test_init_parameters_covers_transposed_convs_and_refuses_unknown_layers() -> None:
    """Regression: ConvTranspose2d built on the meta device was left uninitialised (VAAL gave NaN)."""
    from labelwise.models import init_parameters

    with torch.device("meta"):
        net = torch.nn.Sequential(torch.nn.ConvTranspose2d(4, 2, 3), torch.nn.Linear(3, 2))
    net = net.to_empty(device="cpu")
    init_parameters(net, gen(0))
    w = net[0].weight.detach()
    assert torch.isfinite(w).all() and float(w.abs().max()) <= 1.0
    fan_in = 2 * 3 * 3  # PyTorch's rule for transposed convs: weight.size(1) * kernel area
    assert float(net[0].bias.detach().abs().max()) <= 1 / fan_in**0.5
    again = torch.nn.Sequential(torch.nn.ConvTranspose2d(4, 2, 3), torch.nn.Linear(3, 2))
    init_parameters(again, gen(0))
    assert torch.equal(again[0].weight, w)

    class Odd(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(2))

    with pytest.raises(TypeError, match="cannot initialise Odd"):
        init_parameters(Odd(), gen(0))
