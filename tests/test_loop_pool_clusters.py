"""Cluster-Margin clusters the pool once per run (Citovsky et al. 2021): the loop makes the
clustering at the first acquisition, stores it with the run and reuses it when resuming."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from labelwise.datasets import load_dataset
from labelwise.errors import LabelwiseError
from labelwise.loop import RunResult, SimulationConfig, run_simulation
from labelwise.models import TrainConfig
from labelwise.select import Selection
from labelwise.strategies import Strategy, get_strategy

CFG = SimulationConfig(
    batch_size=5, budget=45, initial_size=20, model="mlp", mc_samples=3, pool_subset=400,
    train=TrainConfig(epochs=4),
)


@pytest.fixture(scope="module")
def digits():  # type: ignore[no-untyped-def]
    return load_dataset("digits-flat")


def _recording(calls: list[int], picked: list[np.ndarray]) -> Strategy:
    """cluster-margin, counting its pool clusterings and recording the cluster labels
    the loop hands it for the items it picks."""
    base = get_strategy("cluster-margin")
    assert base.pool_clustering is not None
    cluster = base.pool_clustering

    def counting(embeddings: Any, k: int, **kw: Any) -> np.ndarray:
        calls.append(int(embeddings.shape[0]))
        return np.asarray(cluster(embeddings, k, **kw))

    def select(k: int, *, cluster_labels: Any = None, **kw: Any) -> Selection:
        assert cluster_labels is not None
        sel = base.select_fn(k, cluster_labels=cluster_labels, **kw)
        picked.append(np.asarray(cluster_labels)[sel.indices])
        return sel

    return dataclasses.replace(base, name="cluster-margin-recorded", select_fn=select,
                               pool_clustering=counting)


def test_pool_is_clustered_once_and_every_round_reuses_it(digits) -> None:  # type: ignore[no-untyped-def]
    calls: list[int] = []
    picked: list[np.ndarray] = []
    res = run_simulation(digits, _recording(calls, picked), 0, CFG)
    n_pool = digits.X_train.shape[0]
    assert calls == [n_pool]  # once, on every pool item, not on the round's candidates
    assert res.pool_clusters is not None and len(res.pool_clusters) == n_pool
    stored = np.asarray(res.pool_clusters)
    assert np.unique(stored).size == CFG.batch_size  # default cut: k clusters
    batches = [r.selected for r in res.rounds if r.selected]
    assert len(batches) == len(picked) == 5
    for batch, labels in zip(batches, picked, strict=True):
        np.testing.assert_array_equal(stored[batch], labels)
    # the stored labels survive the JSON round trip
    assert RunResult.from_dict(json.loads(json.dumps(res.to_dict()))).pool_clusters == res.pool_clusters


def test_registered_cluster_margin_is_seeded_and_spreads_batches(digits) -> None:  # type: ignore[no-untyped-def]
    a = run_simulation(digits, "cluster-margin", 0, CFG)
    b = run_simulation(digits, "cluster-margin", 0, CFG)
    assert a.pool_clusters == b.pool_clusters and a.acquired() == b.acquired()
    stored = np.asarray(a.pool_clusters)
    # round-robin over the candidates' clusters: batches span several clusters
    spans = [np.unique(stored[r.selected]).size for r in a.rounds if r.selected]
    assert min(spans) >= 2, spans
    # other strategies store nothing
    assert run_simulation(digits, "margin", 0, CFG).pool_clusters is None


class _Killed(Exception):
    pass


def _die_after(round_: int) -> Any:
    """A progress callback that kills the run once round ``round_`` is recorded."""

    def progress(name: str, seed: int, rec: Any, total: int) -> None:
        if rec.round == round_:
            raise _Killed

    return progress


def test_resume_reuses_the_stored_clusters_exactly(digits, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    full = run_simulation(digits, "cluster-margin", 0, CFG)
    ckpt = tmp_path / "run.json"
    with pytest.raises(_Killed):
        run_simulation(digits, "cluster-margin", 0, CFG, checkpoint=ckpt, progress=_die_after(2))
    saved = json.loads(ckpt.read_text())
    assert len(saved["rounds"]) == 3 and saved["pool_clusters"] == full.pool_clusters
    calls: list[int] = []
    strat = dataclasses.replace(
        get_strategy("cluster-margin"),
        pool_clustering=lambda *a, **k: calls.append(1),  # must not be called on resume
    )
    resumed = run_simulation(digits, strat, 0, CFG, checkpoint=ckpt)
    assert calls == []
    assert resumed.acquired() == full.acquired()
    np.testing.assert_allclose(resumed.accuracy, full.accuracy)


def test_checkpoint_without_stored_clusters_is_a_clear_error(digits, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ckpt = tmp_path / "run.json"
    with pytest.raises(_Killed):
        run_simulation(digits, "cluster-margin", 0, CFG, checkpoint=ckpt, progress=_die_after(1))
    d = json.loads(ckpt.read_text())
    del d["pool_clusters"]  # as written before the pool was clustered once per run
    ckpt.write_text(json.dumps(d))
    with pytest.raises(LabelwiseError, match="no stored pool clusters.*delete run.json"):
        run_simulation(digits, "cluster-margin", 0, CFG, checkpoint=ckpt)


def test_pool_clustering_needs_embeddings() -> None:
    def fn(k: int, **_: Any) -> Selection:
        raise AssertionError

    with pytest.raises(ValueError, match="pool_clustering clusters embeddings"):
        Strategy("x", "t", "t", frozenset({"probs"}), fn, pool_clustering=lambda *a, **k: None)
