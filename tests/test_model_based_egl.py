"""Expected gradient length: closed form vs per-class autograd; the `egl` strategy end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from labelwise.errors import ShapeError
from labelwise.loop import SimulationConfig, simulate
from labelwise.models import TrainConfig, expected_gradient_length
from labelwise.strategies import get_strategy


def _autograd_egl(layer: torch.nn.Linear, h: torch.Tensor, squared: bool) -> torch.Tensor:
    """sum_y p_y ||grad_{W,b} CE(W h + b, y)|| with one backward pass per class."""
    out = []
    for i in range(h.shape[0]):
        logits = layer(h[i : i + 1])
        p = torch.softmax(logits, dim=1)[0].detach()
        total = torch.zeros((), dtype=torch.float64)
        for y in range(p.shape[0]):
            layer.zero_grad()
            F.cross_entropy(layer(h[i : i + 1]), torch.tensor([y])).backward()
            sq = sum(float((prm.grad.double() ** 2).sum()) for prm in layer.parameters())
            total += p[y].double() * (sq if squared else sq**0.5)
        out.append(total)
    return torch.stack(out)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("squared", [False, True])
def test_closed_form_equals_per_class_autograd(bias: bool, squared: bool) -> None:
    g = torch.Generator().manual_seed(0)
    layer = torch.nn.Linear(5, 4, bias=bias).double()
    with torch.no_grad():
        for prm in layer.parameters():
            prm.copy_(torch.randn(prm.shape, generator=g, dtype=torch.float64))
    h = torch.randn(7, 5, generator=g, dtype=torch.float64)
    with torch.no_grad():
        p = torch.softmax(layer(h), dim=1)
    got = expected_gradient_length(p[:, None, :], h, include_bias=bias, squared=squared)
    ref = _autograd_egl(layer, h, squared)
    torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-12)
    assert got.std() > 0  # items differ: the check is not vacuous


def test_uses_mean_prediction_and_numpy_roundtrip() -> None:
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(3), size=(6, 4))
    h = rng.normal(size=(6, 2))
    got = expected_gradient_length(probs, h)
    assert isinstance(got, np.ndarray) and got.shape == (6,) and got.dtype == np.float64
    pbar = probs.mean(axis=1)
    hn = np.sqrt((h**2).sum(1) + 1)
    ref = hn * np.array([sum(pbar[i, y] * np.linalg.norm(pbar[i] - np.eye(3)[y])
                             for y in range(3)) for i in range(6)])
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    # confident items have a smaller expected gradient than uncertain ones (same ||h||)
    sure = np.array([[[0.98, 0.01, 0.01]], [[1 / 3, 1 / 3, 1 / 3]]])
    e = expected_gradient_length(sure, np.ones((2, 2)))
    assert e[0] < e[1]


def test_errors_name_the_argument() -> None:
    p = np.full((4, 1, 3), 1 / 3)
    with pytest.raises(ShapeError, match="embeddings"):
        expected_gradient_length(p, np.ones((5, 2)))
    with pytest.raises(ShapeError, match="probs"):
        expected_gradient_length(p[:, 0], np.ones((4, 2)))


def test_strategy_picks_highest_egl() -> None:
    rng = np.random.default_rng(2)
    probs = rng.dirichlet(np.ones(4), size=(30, 3)).astype(np.float32)
    emb = rng.normal(size=(30, 6)).astype(np.float32)
    sel = get_strategy("egl").select(5, probs=probs, embeddings=emb, rng=0)
    scores = expected_gradient_length(probs, emb)
    assert set(sel.indices.tolist()) == set(np.argsort(-scores)[:5].tolist())


def test_egl_runs_end_to_end_in_simulate_and_cli(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = SimulationConfig(batch_size=5, budget=30, initial_size=20, model="mlp", mc_samples=3,
                           pool_subset=300, train=TrainConfig(epochs=5))
    (run,) = simulate("digits-flat", "egl", seeds=[0], config=cfg)
    assert [r.n_labeled for r in run.rounds] == [20, 25, 30]
    assert len(set(run.acquired())) == 10

    from labelwise.cli import app

    res = CliRunner().invoke(
        app,
        ["simulate", "--dataset", "digits-flat", "--strategy", "egl", "--model", "mlp",
         "--batch-size", "5", "--budget", "25", "--seeds", "1", "--mc-samples", "2",
         "--epochs", "3", "--out", str(tmp_path / "o")],
        terminal_width=200,
    )
    assert res.exit_code == 0, res.output
