"""extract_embeddings and predict_with_embeddings."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from labelwise.models import (
    MLP,
    GalCNN,
    extract_embeddings,
    predict_proba,
    predict_with_embeddings,
)
from tests._helpers import gen


@pytest.fixture()
def mlp():
    return MLP(5, 3, hidden=(8, 6), dropout=0.5, generator=gen(0))


def test_default_layer_is_input_of_last_linear(mlp):
    x = torch.randn(9, 5, generator=gen(1))
    mlp.train()
    emb = extract_embeddings(mlp, x, batch_size=4)
    assert mlp.training  # mode restored
    mlp.eval()
    with torch.no_grad():
        ref = mlp.head[:-1](mlp.trunk(x))  # dropout off: relu(dense) features
    assert emb.shape == (9, 6)
    assert torch.allclose(emb, ref, atol=1e-6)  # batches of 4 vs 9 round differently


def test_named_layer_flattened_and_forward_cut_short():
    cnn = GalCNN(n_classes=3, image_size=8, generator=gen(0))
    x = torch.rand(7, 1, 8, 8, generator=gen(1))
    calls: list[int] = []
    cnn.head.register_forward_hook(lambda m, i, o: calls.append(1))
    emb = extract_embeddings(cnn, x, layer="trunk.3", batch_size=3)
    cnn.eval()
    with torch.no_grad():
        ref = cnn.trunk[:4](x).reshape(7, -1)
    assert emb.shape == (7, 32 * 2 * 2)
    assert torch.allclose(emb, ref, atol=1e-6)
    assert calls == []  # the head never ran
    pooled = extract_embeddings(cnn, x, layer="trunk.5")
    assert pooled.shape == (7, 32)


def test_inputs_as_ndarray_and_loader(mlp):
    x = torch.randn(10, 5, generator=gen(2))
    ref = extract_embeddings(mlp, x)
    assert torch.allclose(extract_embeddings(mlp, x.double().numpy()), ref, atol=1e-6)
    loader = DataLoader(TensorDataset(x, torch.arange(10)), batch_size=3)
    # Equal up to float32 rounding, not bit for bit: the loader collates each batch into a
    # new (64-byte aligned) tensor where the tensor path passes views at offsets 60 and 56
    # bytes, and the BLAS kernels of some CPUs round aligned and unaligned rows differently
    # (measured: 6e-8 apart on an AMD EPYC with AVX512; bit-equal on the machine of the
    # earlier sessions' CI).
    torch.testing.assert_close(
        extract_embeddings(mlp, loader), extract_embeddings(mlp, x, batch_size=3),
        rtol=0, atol=1e-6,
    )
    # ... and the rows come back in the loader's order
    shuffled = DataLoader(TensorDataset(x.flip(0), torch.arange(10)), batch_size=3)
    torch.testing.assert_close(
        extract_embeddings(mlp, shuffled).flip(0), ref, rtol=0, atol=1e-6
    )


def test_predict_with_embeddings_in_one_pass(mlp):
    x = torch.randn(10, 5, generator=gen(3))
    probs, emb = predict_with_embeddings(mlp, x, batch_size=4)
    assert probs.shape == (10, 1, 3) and emb.shape == (10, 6)
    assert torch.equal(probs[:, 0], predict_proba(mlp, x, batch_size=4))
    assert torch.equal(emb, extract_embeddings(mlp, x, batch_size=4))
    probs2, emb2 = predict_with_embeddings(mlp, x, batch_size=4)
    assert torch.equal(probs, probs2) and torch.equal(emb, emb2)  # deterministic
    lp, _ = predict_with_embeddings(mlp, x, return_log_probs=True)
    assert torch.allclose(lp.exp(), probs, atol=1e-6)
    _, e_trunk = predict_with_embeddings(mlp, x, layer="trunk")
    assert e_trunk.shape == (10, 8)


def test_layer_errors(mlp):
    x = torch.randn(4, 5)
    with pytest.raises(ValueError, match=r"'trunk\.1'") as info:
        extract_embeddings(mlp, x, layer="trunk.9")
    assert "trunk.9" in str(info.value)
    with pytest.raises(ValueError, match="no nn.Linear"):
        extract_embeddings(nn.Sequential(nn.Flatten()), x)

    class Unused(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.used = nn.Linear(5, 2)
            self.spare = nn.Linear(5, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.used(x)

    with pytest.raises(RuntimeError, match="not called"):
        extract_embeddings(Unused(), x, layer="spare")
    with pytest.raises(TypeError, match="layer"):
        extract_embeddings(mlp, x, layer=3)  # type: ignore[arg-type]
