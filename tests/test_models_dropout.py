"""seeded_dropout and mc_dropout_predict."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from labelwise.models import (
    MLP,
    GalCNN,
    consistent_mc_dropout_predict,
    find_trunk_head,
    mc_dropout_predict,
    predict_proba,
    seeded_dropout,
)
from tests._helpers import gen


def data(n: int = 20, d: int = 6, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, d, generator=gen(seed))


def small_seq(seed: int = 0, p: float = 0.5) -> nn.Sequential:
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(p), nn.Linear(16, 3))
    from labelwise.models import init_parameters

    return init_parameters(model, gen(seed))


# --------------------------------------------------------------------------- seeded_dropout


def test_elementwise_mask_matches_reference_draw():
    x = torch.ones(200, 10)
    drop = nn.Dropout(0.3)
    with seeded_dropout(drop, gen(5)):
        out = drop(x)
    ref = torch.empty(200, 10).bernoulli_(0.7, generator=gen(5)) / 0.7
    assert torch.equal(out, ref)
    frac = float((out == 0).double().mean())
    assert abs(frac - 0.3) < 0.03
    vals = torch.unique(out)
    assert len(vals) == 2 and vals[0] == 0 and torch.isclose(vals[1], torch.tensor(1 / 0.7))


@pytest.mark.parametrize(
    "layer, shape, shared",
    [
        (nn.Dropout1d(0.5), (6, 8, 5), 1),
        (nn.Dropout2d(0.5), (6, 8, 4, 4), 2),
        (nn.Dropout2d(0.5), (6, 8, 5), 1),  # torch: 3-D input -> channel-wise 1-D
        (nn.Dropout3d(0.5), (3, 8, 2, 3, 2), 3),
    ],
)
@pytest.mark.filterwarnings("ignore:dropout2d")
def test_channelwise_masks(layer, shape, shared):
    x = torch.rand(*shape, generator=gen(1)) + 1.0
    with seeded_dropout(layer, gen(2)):
        out = layer(x)
    mshape = shape[: len(shape) - shared] + (1,) * shared
    ref_mask = torch.empty(mshape).bernoulli_(0.5, generator=gen(2)) / 0.5
    assert torch.equal(out, x * ref_mask)
    # one value per (item, channel): constant over the spatial axes
    ratio = (out / x).reshape(*shape[: len(shape) - shared], -1)
    assert torch.equal(ratio.amin(-1), ratio.amax(-1))
    assert 0 < int((ratio[..., 0] == 0).sum()) < ratio[..., 0].numel()


def test_no_global_rng_and_hooks_removed_and_modes_restored():
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.Linear(8, 3))
    model.train()
    model[1].eval()  # a mixed state must come back exactly
    before = [m.training for m in model.modules()]
    state = torch.get_rng_state()
    with seeded_dropout(model, gen(0)):
        assert not any(m.training for m in model.modules())
        model(data())
    assert torch.equal(state, torch.get_rng_state())
    assert [m.training for m in model.modules()] == before
    assert all(len(m._forward_hooks) == 0 for m in model.modules())


def test_restores_on_exception():
    model = small_seq()
    model.train()
    with pytest.raises(ZeroDivisionError), seeded_dropout(model, gen(0)):
        raise ZeroDivisionError
    assert all(m.training for m in model.modules())
    assert all(len(m._forward_hooks) == 0 for m in model.modules())
    model.eval()
    x = data()
    assert torch.equal(model(x), model(x))  # dropout off again


def test_train_mode_updates_batchnorm_and_drops():
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.Dropout(0.5))
    with seeded_dropout(model, gen(0), train=True):
        assert model[1].training and not model[2].training
        out = model(data())
    assert int(model[1].num_batches_tracked) == 1
    assert bool((out == 0).any())


def test_rejects_alpha_dropout_nesting_and_train_switch():
    alpha = nn.Sequential(nn.Linear(2, 2), nn.AlphaDropout(0.1))
    with pytest.raises(TypeError, match="AlphaDropout"), seeded_dropout(alpha, gen(0)):
        pass
    model = small_seq()
    with seeded_dropout(model, gen(0)):
        with pytest.raises(RuntimeError, match="already driven"), seeded_dropout(model, gen(1)):
            pass
        model.train()
        with pytest.raises(RuntimeError, match="training mode"):
            model(data())
    with pytest.raises(TypeError, match="torch.Generator"), seeded_dropout(model, 0):  # type: ignore[arg-type]
        pass


# --------------------------------------------------------------------------- mc_dropout


def test_shapes_probabilities_and_log_probs():
    model = small_seq()
    x = data(13)
    p = mc_dropout_predict(model, x, k=4, rng=0, batch_size=5)
    assert p.shape == (13, 4, 3) and p.device.type == "cpu"
    assert torch.allclose(p.sum(-1), torch.ones(13, 4))
    lp = mc_dropout_predict(model, x, k=4, rng=0, batch_size=5, return_log_probs=True)
    assert torch.allclose(lp.exp(), p, atol=1e-6)
    # the K samples differ from each other
    assert not torch.allclose(p[:, 0], p[:, 1])


def test_seeded_determinism():
    model = small_seq()
    x = data()
    a = mc_dropout_predict(model, x, k=5, rng=3)
    b = mc_dropout_predict(model, x, k=5, rng=3)
    c = mc_dropout_predict(model, x, k=5, rng=4)
    d = mc_dropout_predict(model, x, k=5, generator=gen(7))
    e = mc_dropout_predict(model, x, k=5, generator=gen(7))
    assert torch.equal(a, b) and torch.equal(d, e)
    assert not torch.equal(a, c)
    state = torch.get_rng_state()
    mc_dropout_predict(model, x, k=2, rng=1)
    assert torch.equal(state, torch.get_rng_state())


def test_full_path_matches_hand_written_loop():
    """Reference: K plain forward passes per batch under seeded_dropout."""
    model = small_seq(p=0.4)
    x = data(12)
    got = mc_dropout_predict(model, x, k=3, generator=gen(9), batch_size=5, reuse_trunk=False)
    g = gen(9)
    rows = []
    with torch.no_grad(), seeded_dropout(model, g):
        for s in range(0, 12, 5):
            rows.append(torch.stack([model(x[s : s + 5]).softmax(-1) for _ in range(3)], 1))
    assert torch.equal(got, torch.cat(rows))


def test_ndarray_tensor_dataloader_agree():
    model = small_seq()
    x = data(10)
    y = torch.zeros(10, dtype=torch.long)
    ref = mc_dropout_predict(model, x, k=3, rng=1, batch_size=4)
    from_np = mc_dropout_predict(model, x.double().numpy(), k=3, rng=1, batch_size=4)
    loader = DataLoader(TensorDataset(x, y), batch_size=4, shuffle=False)
    from_loader = mc_dropout_predict(model, loader, k=3, rng=1, batch_size=4)
    assert torch.allclose(ref, from_np, atol=1e-6)
    assert torch.equal(ref, from_loader)
    with pytest.raises(ValueError, match="shuffle"):
        mc_dropout_predict(model, DataLoader(TensorDataset(x), shuffle=True), k=2, rng=0)


def test_batchnorm_stays_in_eval():
    model = nn.Sequential(
        nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.0), nn.Linear(8, 3)
    )
    with torch.no_grad():
        model[1].running_mean.uniform_(-1, 1, generator=gen(0))
        model[1].running_var.uniform_(0.5, 2.0, generator=gen(1))
    model.train()
    stats = {k: v.clone() for k, v in model.state_dict().items()}
    x = data(9)
    p = mc_dropout_predict(model, x, k=3, rng=0)
    model.eval()
    ref = model(x).softmax(-1)
    model.train()
    for j in range(3):
        assert torch.allclose(p[:, j], ref, atol=1e-6)
    for key, value in model.state_dict().items():
        assert torch.equal(value, stats[key]), key
    assert all(m.training for m in model.modules())
    # and with a real dropout rate the statistics are still untouched
    model[3].p = 0.5
    mc_dropout_predict(model, x, k=3, rng=0)
    assert int(model[1].num_batches_tracked) == int(stats["1.num_batches_tracked"])
    assert torch.equal(model[1].running_mean, stats["1.running_mean"])


def test_find_trunk_head():
    seq = small_seq()
    trunk, head = find_trunk_head(seq)
    assert len(trunk) == 2 and isinstance(head[0], nn.Dropout)
    x = data()
    seq.eval()
    assert torch.equal(seq(x), head(trunk(x)))
    assert find_trunk_head(nn.Sequential(nn.Dropout(0.1), nn.Linear(6, 2))) is None
    cnn = GalCNN(n_classes=3, image_size=8, generator=gen(0))
    t, h = find_trunk_head(cnn)
    assert t is cnn.trunk and h is cnn.head
    with pytest.raises(ValueError, match="reuse_trunk=True"):
        mc_dropout_predict(
            nn.Sequential(nn.Dropout(0.1), nn.Linear(6, 2)), x, k=2, rng=0, reuse_trunk=True
        )


@pytest.mark.parametrize("make", ["cnn", "cnn-flat", "mlp", "seq"])
def test_trunk_reuse_gives_the_same_samples(make):
    if make.startswith("cnn"):
        model: nn.Module = GalCNN(n_classes=4, image_size=8, generator=gen(0))
        x = torch.rand(11, 1, 8, 8, generator=gen(1))
        if make == "cnn-flat":
            x = x.reshape(11, 64)
    elif make == "mlp":
        model = MLP(6, 4, hidden=(16, 8), dropout=0.3, generator=gen(0))
        x = data(11)
    else:
        model = small_seq()
        x = data(11)
    a = mc_dropout_predict(model, x, k=6, generator=gen(3), batch_size=4, reuse_trunk=True)
    b = mc_dropout_predict(model, x, k=6, generator=gen(3), batch_size=4, reuse_trunk=False)
    auto = mc_dropout_predict(model, x, k=6, generator=gen(3), batch_size=4)
    assert torch.allclose(a, b, atol=1e-5)
    assert torch.equal(a, auto)
    # with dropout disabled both reduce to the deterministic eval prediction
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0
    det = mc_dropout_predict(model, x, k=2, rng=0, reuse_trunk=True)
    assert torch.allclose(det, predict_proba(model, x)[:, None].expand(-1, 2, -1), atol=1e-6)


def _count_rows(module: nn.Module) -> list[int]:
    rows: list[int] = []
    module.register_forward_hook(lambda m, i, o: rows.append(i[0].shape[0]))
    return rows


def test_trunk_runs_once_per_batch():
    x = torch.rand(20, 1, 8, 8, generator=gen(1))
    model = GalCNN(n_classes=3, image_size=8, generator=gen(0))
    trunk_rows, head_rows = _count_rows(model.trunk), _count_rows(model.head)
    mc_dropout_predict(model, x, k=5, rng=0, batch_size=10, reuse_trunk=True)
    # the split is checked against forward on the first batch (dropout off), both ways:
    # model(x) and head(trunk(x)); then the trunk runs once per batch
    assert trunk_rows == [10, 10] + [10, 10]
    assert head_rows[:2] == [10, 10] and sum(head_rows[2:]) == 20 * 5
    trunk_rows.clear(), head_rows.clear()
    mc_dropout_predict(model, x, k=5, rng=0, batch_size=10, reuse_trunk=False)
    assert sum(trunk_rows) == 20 * 5  # K full passes
    # small loader batches: the head runs once per batch on the K stacked copies
    trunk_rows.clear(), head_rows.clear()
    loader = DataLoader(TensorDataset(x), batch_size=2)
    mc_dropout_predict(model, loader, k=5, rng=0, batch_size=10)
    assert trunk_rows == [2, 2] + [2] * 10 and head_rows == [2, 2] + [10] * 10


class _TrunkHeadWithOuterDropout(nn.Module):
    """trunk / head protocol broken: a dropout layer between the two, outside the head."""

    def __init__(self) -> None:
        super().__init__()
        self.trunk = nn.Linear(4, 6)
        self.drop = nn.Dropout(0.5)
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(6, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(self.trunk(x)))


class _TrunkHeadScaled(nn.Module):
    """trunk / head protocol broken: forward does more than head(trunk(x))."""

    def __init__(self) -> None:
        super().__init__()
        self.trunk = nn.Linear(4, 6)
        self.head = nn.Sequential(nn.Dropout(0.5), nn.Linear(6, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2.0 * self.head(self.trunk(x))


class _SequentialWithOwnForward(nn.Sequential):
    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(x) * 2.0


def test_dropout_outside_the_head_gets_full_passes():
    """A dropout layer applied by forward between trunk and head must stay stochastic:
    the split is refused, and the samples equal K full passes (they vary)."""
    torch.manual_seed(0)
    model = _TrunkHeadWithOuterDropout()
    x = torch.rand(7, 4, generator=gen(2))
    assert find_trunk_head(model) is None
    auto = mc_dropout_predict(model, x, k=4, generator=gen(3))
    full = mc_dropout_predict(model, x, k=4, generator=gen(3), reuse_trunk=False)
    assert torch.equal(auto, full)
    assert float(auto.std(dim=1).max()) > 0.05
    with pytest.raises(ValueError, match="reuse_trunk=True"):
        mc_dropout_predict(model, x, k=4, rng=0, reuse_trunk=True)


def test_sequential_subclass_with_its_own_forward_gets_full_passes():
    torch.manual_seed(0)
    model = _SequentialWithOwnForward(nn.Linear(4, 6), nn.Dropout(0.3), nn.Linear(6, 3))
    x = torch.rand(7, 4, generator=gen(2))
    assert find_trunk_head(model) is None
    auto = mc_dropout_predict(model, x, k=3, generator=gen(3))
    full = mc_dropout_predict(model, x, k=3, generator=gen(3), reuse_trunk=False)
    assert torch.equal(auto, full)
    # a Sequential subclass that keeps Sequential's forward is still split
    class Plain(nn.Sequential):
        pass

    assert find_trunk_head(Plain(nn.Linear(4, 6), nn.Dropout(0.3), nn.Linear(6, 3))) is not None


def test_forward_that_is_not_head_of_trunk_is_caught_on_the_first_batch():
    """The structural split looks fine, but forward scales the logits: the first-batch check
    falls back to full passes with a warning (an error for reuse_trunk=True)."""
    torch.manual_seed(0)
    model = _TrunkHeadScaled()
    x = torch.rand(9, 4, generator=gen(2))
    assert find_trunk_head(model) is not None
    with pytest.warns(UserWarning, match=r"differs from head\(trunk\(x\)\)"):
        auto = mc_dropout_predict(model, x, k=3, generator=gen(3), batch_size=4)
    full = mc_dropout_predict(model, x, k=3, generator=gen(3), batch_size=4, reuse_trunk=False)
    assert torch.equal(auto, full)
    with pytest.raises(ValueError, match=r"reuse_trunk=True but .*differs"):
        mc_dropout_predict(model, x, k=3, rng=0, reuse_trunk=True)
    with pytest.warns(UserWarning, match="full forward passes"):
        auto_c = consistent_mc_dropout_predict(model, x, k=3, rng=5, batch_size=4)
    assert auto_c.shape == (9, 3, 3)


def test_errors():
    model = small_seq()
    x = data()
    with pytest.raises(ValueError, match="k"):
        mc_dropout_predict(model, x, k=0)
    with pytest.raises(ValueError, match="not both"):
        mc_dropout_predict(model, x, k=2, rng=0, generator=gen(0))
    with pytest.raises(ValueError, match="model.to"):
        mc_dropout_predict(model, x, k=2, rng=0, device="meta")
    no_drop = nn.Sequential(nn.Linear(6, 3))
    with pytest.raises(ValueError, match="no dropout"):
        mc_dropout_predict(no_drop, x, k=3, rng=0)
    one = mc_dropout_predict(no_drop, x, k=1, rng=0)
    assert torch.allclose(one[:, 0], predict_proba(no_drop, x))
    with pytest.raises(TypeError, match="DataLoader"):
        mc_dropout_predict(model, "x", k=2, rng=0)
    assert np.isfinite(mc_dropout_predict(model, x, k=2, rng=0).numpy()).all()
