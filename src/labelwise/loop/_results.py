"""What a run measured (:class:`RoundRecord`, :class:`RunResult`) and how it is stored.

Run files and ``results.json`` are JSON with a schema version; model weights of a
warm-started run are a ``state_dict``. Every write goes to a temporary file in the same
folder first and replaces the target atomically, so a crash never leaves half a file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from labelwise._files import replacing
from labelwise.errors import LabelwiseError

__all__ = [
    "RESULTS_SCHEMA_VERSION",
    "RoundRecord",
    "RunResult",
    "atomic_torch_save",
    "atomic_write_json",
    "dataset_fingerprint",
    "read_results",
    "run_file_name",
    "write_results",
]

RESULTS_SCHEMA_VERSION = 1


@dataclass
class RoundRecord:
    """What one round of a simulation measured (one point of the learning curve).

    ``test_accuracy`` / ``test_nll`` are always the target model's. ``seconds_train``: the
    target's training; ``seconds_proxy_train``: the proxy's (0 without proxy);
    ``seconds_predict``: predictive samples / embeddings / scores of the selecting model;
    ``seconds_select``: the strategy itself. ``proxy_test_accuracy``: the proxy's test
    accuracy (None without proxy).
    """

    round: int
    n_labeled: int
    test_accuracy: float
    test_nll: float
    selected: list[int]
    batch_class_counts: list[int]
    seconds_train: float
    seconds_predict: float
    seconds_select: float
    pseudo_labels: int = 0
    pseudo_label_accuracy: float | None = None
    seconds_proxy_train: float = 0.0
    proxy_test_accuracy: float | None = None


@dataclass
class RunResult:
    """One (strategy, seed) run: its learning curve and everything needed to resume it."""

    strategy: str
    seed: int
    dataset: str
    config: dict[str, Any]
    initial: list[int]
    rounds: list[RoundRecord] = field(default_factory=list)
    finished: bool = False
    #: Cluster label of every pool item, for strategies that cluster the pool once per run
    #: (:attr:`~labelwise.strategies.Strategy.pool_clustering`); None before the first
    #: acquisition and for every other strategy.
    pool_clusters: list[int] | None = None
    #: :func:`dataset_fingerprint` of the data the run was made on (None in files written
    #: before it was recorded): a resume or a comparison on other data of the same name
    #: is refused.
    dataset_fingerprint: str | None = None
    #: One record per process that computed rounds of this run, in order: ``first_round``
    #: (its first round) and :func:`~labelwise.loop._environment.current_environment`.
    #: A resume in the same environment adds none. Empty in files written before it was
    #: recorded.
    environments: list[dict[str, Any]] = field(default_factory=list)

    @property
    def labels(self) -> np.ndarray:
        """[R] number of labels at each evaluation."""
        return np.array([r.n_labeled for r in self.rounds], dtype=np.int64)

    @property
    def accuracy(self) -> np.ndarray:
        """[R] test accuracy at each evaluation."""
        return np.array([r.test_accuracy for r in self.rounds], dtype=np.float64)

    @property
    def nll(self) -> np.ndarray:
        """[R] test negative log-likelihood (mean nats per test item) at each evaluation."""
        return np.array([r.test_nll for r in self.rounds], dtype=np.float64)

    def acquired(self) -> list[int]:
        """Every index acquired after the initial set, in order."""
        return [i for r in self.rounds for i in r.selected]

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "schema_version": RESULTS_SCHEMA_VERSION,
            "strategy": self.strategy,
            "seed": self.seed,
            "dataset": self.dataset,
            "config": self.config,
            "initial": self.initial,
            "finished": self.finished,
            "rounds": [dataclasses.asdict(r) for r in self.rounds],
        }
        if self.pool_clusters is not None:
            d["pool_clusters"] = self.pool_clusters
        if self.dataset_fingerprint is not None:
            d["dataset_fingerprint"] = self.dataset_fingerprint
        if self.environments:
            d["environments"] = self.environments
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunResult:
        if d.get("schema_version") != RESULTS_SCHEMA_VERSION:
            raise LabelwiseError(
                f"run file has schema_version {d.get('schema_version')!r}, this labelwise "
                f"reads {RESULTS_SCHEMA_VERSION}; rerun the simulation into a new --out folder"
            )
        rounds = [RoundRecord(**r) for r in d["rounds"]]
        if d["finished"] and not rounds:
            # Every run records round 0 (the initial set) before it can finish.
            raise ValueError("it says finished but has no rounds")
        labels = [r.n_labeled for r in rounds]
        if any(b <= a for a, b in itertools.pairwise(labels)):
            raise ValueError(f"its labeled counts do not increase round by round ({labels})")
        return cls(
            strategy=d["strategy"],
            seed=int(d["seed"]),
            dataset=d["dataset"],
            config=dict(d["config"]),
            initial=[int(i) for i in d["initial"]],
            rounds=rounds,
            finished=bool(d["finished"]),
            pool_clusters=(
                None if d.get("pool_clusters") is None else [int(c) for c in d["pool_clusters"]]
            ),
            dataset_fingerprint=(
                None if d.get("dataset_fingerprint") is None else str(d["dataset_fingerprint"])
            ),
            environments=[dict(e) for e in d.get("environments") or []],
        )


def dataset_fingerprint(
    X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray | None,
    y_test: np.ndarray | None,
) -> str:
    """A short hash of a simulation's data: the shapes, dtypes and bytes of the pool and
    test arrays (BLAKE2b, 16 hex digits; ~1 s for Fashion-MNIST's 220 MB on a busy core).
    Two ``.npz`` files that share a stem, or a dataset whose files changed, get different
    fingerprints."""
    h = hashlib.blake2b(digest_size=8)
    for a in (X_train, y_train, X_test, y_test):
        if a is None:
            h.update(b"none;")
            continue
        arr = np.ascontiguousarray(a)
        h.update(f"{arr.dtype.str}{arr.shape};".encode())
        h.update(arr.reshape(-1).view(np.uint8).data)
    return h.hexdigest()


def run_file_name(strategy: str, seed: int) -> str:
    """File name of one run's checkpoint inside an output folder."""
    return f"{strategy}__seed{seed}.json"


def write_results(path: str | os.PathLike[str], results: Sequence[RunResult]) -> None:
    """Write every run of a simulation to one JSON file (atomically)."""
    atomic_write_json(
        Path(path),
        {"schema_version": RESULTS_SCHEMA_VERSION, "runs": [r.to_dict() for r in results]},
    )


def read_results(path: str | os.PathLike[str]) -> list[RunResult]:
    """Read runs written by :func:`write_results`."""
    d = json.loads(Path(path).read_text())
    if d.get("schema_version") != RESULTS_SCHEMA_VERSION:
        raise LabelwiseError(
            f"{path} has schema_version {d.get('schema_version')!r}; this labelwise reads "
            f"{RESULTS_SCHEMA_VERSION}"
        )
    return [RunResult.from_dict(r) for r in d["runs"]]


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` through a synced temporary file and a rename."""
    with replacing(path, sync=True) as tmp, open(tmp, "w") as f:
        json.dump(obj, f)


def atomic_torch_save(state: Mapping[str, Any], path: Path) -> None:
    """Save a ``state_dict`` to ``path`` through a temporary file and a rename."""
    with replacing(path) as tmp:
        torch.save(dict(state), tmp)
