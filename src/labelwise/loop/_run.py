"""One simulated run, round by round, and :func:`simulate` over strategies and seeds.

A round: [CEAL pseudo-labels] -> train the target -> evaluate it -> [train the proxy] ->
predict what the strategy needs -> select -> reveal the oracle labels -> record -> checkpoint.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from labelwise.datasets import Dataset, load_dataset
from labelwise.errors import BudgetError, LabelwiseError
from labelwise.loop._ceal import PseudoLabels, ceal_pseudo_labels
from labelwise.loop._config import (
    SimulationConfig,
    check_config,
    check_strategy_config,
    model_scores_error,
    resolve_model_name,
    selector_model_name,
)
from labelwise.loop._environment import current_environment, same_environment
from labelwise.loop._predictors import selection_probs, train_round
from labelwise.loop._results import (
    RoundRecord,
    RunResult,
    atomic_torch_save,
    atomic_write_json,
    dataset_fingerprint,
    run_file_name,
    write_results,
)
from labelwise.loop._seeding import (
    CANDIDATES,
    CLUSTER,
    INIT_SET,
    MEMBER,
    MODEL_INIT,
    PREDICT,
    PROXY,
    SELECT,
    TRAIN,
    seeded_rng,
    seeded_torch_generator,
)
from labelwise.models import (
    PredictionRecorder,
    TrainConfig,
    evaluate,
    extract_embeddings,
    learning_loss_stop_epoch,
    make_model,
    make_optimizer,
    predict_with_embeddings,
)
from labelwise.pool import Pool
from labelwise.strategies import Strategy, get_strategy

__all__ = ["ProgressFn", "initial_indices", "replay_pool", "run_simulation", "simulate"]

ProgressFn = Callable[[str, int, RoundRecord, int], None]

#: Needs that are computed from the (selection) model.
_MODEL_NEEDS = frozenset({"probs", "embeddings", "training_predictions", "model_scores"})


def initial_indices(
    y: np.ndarray, size: int, *, balanced: bool, rng: np.random.Generator
) -> np.ndarray:
    """Draw the initial labeled set.

    ``balanced``: ``size // C`` items of every class (as the official DBAL and BatchBALD code:
    2 per class for 20 on MNIST), the remainder drawn uniformly from the rest.
    """
    n = y.shape[0]
    if size < 1 or size > n:
        raise BudgetError(f"initial_size must be in [1, {n}], got {size}")
    if not balanced:
        return np.sort(rng.choice(n, size=size, replace=False))
    classes = np.unique(y)
    per = size // classes.size
    chosen: list[np.ndarray] = []
    for c in classes:
        members = np.flatnonzero(y == c)
        if members.size < per:
            raise BudgetError(
                f"class {c} has only {members.size} items, fewer than {per} needed for a "
                "balanced initial set; use initial='random' or a smaller initial_size"
            )
        chosen.append(rng.choice(members, size=per, replace=False))
    picked = np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)
    rest = size - picked.size
    if rest:
        others = np.setdiff1d(np.arange(n), picked)
        picked = np.concatenate([picked, rng.choice(others, size=rest, replace=False)])
    return np.sort(picked.astype(np.int64))


@dataclass
class _Run:
    """What stays fixed during one run: data as tensors, strategy, seed, config, models."""

    strat: Strategy
    seed: int
    config: SimulationConfig
    X: torch.Tensor
    y: np.ndarray
    X_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int
    input_shape: tuple[int, ...]
    model_name: str
    #: Whether a proxy selects (it is configured and the strategy uses a model at all).
    use_proxy: bool
    proxy_name: str
    proxy_train: TrainConfig
    #: :func:`~labelwise.loop._results.dataset_fingerprint` of the data.
    fingerprint: str

    @classmethod
    def create(cls, data: Dataset, strat: Strategy, seed: int, config: SimulationConfig) -> _Run:
        return cls(
            strat=strat, seed=seed, config=config,
            X=torch.as_tensor(np.asarray(data.X_train, dtype=np.float32)),
            y=np.asarray(data.y_train),
            X_test=torch.as_tensor(np.asarray(data.X_test, dtype=np.float32)),
            y_test=torch.as_tensor(np.asarray(data.y_test, dtype=np.int64)),
            n_classes=data.n_classes,
            input_shape=tuple(data.input_shape),
            model_name=resolve_model_name(config.model, data),
            use_proxy=config.uses_proxy and bool(strat.needs & _MODEL_NEEDS),
            proxy_name=selector_model_name(config, data),
            proxy_train=(
                dataclasses.replace(config.train, epochs=config.proxy_epochs)
                if config.proxy_epochs is not None
                else config.train
            ),
            fingerprint=dataset_fingerprint(
                np.asarray(data.X_train), np.asarray(data.y_train),
                None if data.X_test is None else np.asarray(data.X_test),
                None if data.y_test is None else np.asarray(data.y_test),
            ),
        )

    def build(self, name: str, *key: int, epochs: int | None = None) -> torch.nn.Module:
        """A fresh model ``name``, initialised from ``(seed, *key)``, for a training of
        ``epochs`` (None: ``config.train.epochs``; the proxy's are ``proxy_train.epochs``)."""
        kwargs: dict[str, Any] = {}
        if name.startswith("split-head"):
            kwargs["n_heads"] = self.config.ensemble_size
        if name.startswith("ll-"):
            # Yoo & Kweon 2019: the loss module stops shaping the backbone after 60% of
            # training (epoch 120 of 200).
            n_epochs = self.config.train.epochs if epochs is None else epochs
            kwargs["stop_grad_epoch"] = learning_loss_stop_epoch(n_epochs)
        return make_model(
            name, input_shape=self.input_shape, n_classes=self.n_classes,
            generator=seeded_torch_generator(self.seed, *key), **kwargs,
        )

    def member_builder(
        self, name: str, *key: int, epochs: int | None = None
    ) -> Callable[[int], torch.nn.Module]:
        """``m -> build(name, *key, MEMBER, m)``: the members of an ensemble predictor."""
        return lambda m: self.build(name, *key, MEMBER, m, epochs=epochs)


@dataclass
class _Trained:
    """The target's training in one round."""

    members: list[torch.nn.Module] | None
    seconds: float
    pseudo_labels: int = 0
    pseudo_label_accuracy: float | None = None


@dataclass
class _Acquired:
    """One round's selection (empty in the last round, which only trains and evaluates)."""

    selected: list[int] = field(default_factory=list)
    seconds_proxy_train: float = 0.0
    seconds_predict: float = 0.0
    seconds_select: float = 0.0
    proxy_test_accuracy: float | None = None


def run_simulation(
    data: Dataset,
    strategy: str | Strategy,
    seed: int,
    config: SimulationConfig,
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    progress: ProgressFn | None = None,
) -> RunResult:
    """Run (or resume) one simulated active-learning run.

    Parameters
    ----------
    data : Dataset
        Pool (``X_train``, ``y_train`` as the oracle) and held-out test set.
    strategy : str or Strategy
        Registered strategy name, e.g. ``"bald"``.
    seed : int
        Seed of every random choice of the run.
    config : SimulationConfig
    checkpoint : path, optional
        JSON file written after every round; if it exists, the run resumes from it.
    progress : callable, optional
        ``progress(strategy, seed, record, n_rounds_total)`` after every round.

    Returns
    -------
    RunResult
    """
    strat = get_strategy(strategy)
    check_config(config, data)
    check_strategy_config(strat, config)
    # The first optimiser a process builds imports torch's compiler stack (2-5 s); build a
    # throwaway one now, so that it is not charged to round 0's training seconds of
    # whichever run comes first in the process (bench: random, seed-major).
    make_optimizer(torch.nn.Linear(1, 1), config.train)
    ckpt = Path(checkpoint) if checkpoint is not None else None
    run = _Run.create(data, strat, seed, config)
    result = _resume_or_start(ckpt, run, data.name)
    if result.finished and ckpt is not None:
        _remove_round_weights(ckpt)  # left by runs finished before this was done
    pool = _replay_pool(result, run)
    n_rounds_total = config.n_rounds
    if not result.finished:
        _record_environment(result)

    # Warm start continues the previous round's model; CEAL pseudo-labels with it. Either way
    # its weights are saved every round, so that a resumed run continues exactly.
    ceal = config.ceal_delta0 is not None
    keeps_weights = config.warm_start or ceal
    previous: torch.nn.Module | None = None
    if keeps_weights and result.rounds and not result.finished and ckpt is not None:
        previous = run.build(run.model_name, MODEL_INIT)
        previous.load_state_dict(_load_round_weights(ckpt, len(result.rounds) - 1))

    while not result.finished:
        rnd = len(result.rounds)
        labeled = pool.labeled_indices()
        t0 = time.perf_counter()
        remaining = config.budget - pool.n_labeled
        # Candidates depend only on the pool and the seed: drawn before training so that
        # training can record predictions on them (label dispersion) and CEAL can use them.
        cand = (
            pool.candidates(config.pool_subset, rng=seeded_rng(seed, CANDIDATES, rnd))
            if remaining > 0 or config.ceal_delta0 is not None
            else np.zeros(0, dtype=np.int64)
        )
        recorder = None
        if remaining > 0 and "training_predictions" in strat.needs:
            recorder = PredictionRecorder(run.X[cand], device=config.device)
        pseudo = PseudoLabels.none()
        if ceal:
            assert config.ceal_delta0 is not None
            pseudo = ceal_pseudo_labels(
                previous, run.X, run.y, cand, delta0=config.ceal_delta0,
                decay=config.ceal_decay, rnd=rnd, device=config.device,
            )
        if previous is not None and config.warm_start:
            model = previous
        else:
            model = run.build(run.model_name, MODEL_INIT)
        trained = _train_target(run, model, rnd, labeled, pseudo, recorder, t0)
        acc, nll = evaluate(model, run.X_test, run.y_test, device=config.device)
        acquired = _Acquired()
        if remaining > 0:
            acquired = _acquire(
                run, result, pool, model, trained.members, rnd, labeled, cand, recorder,
                min(config.batch_size, remaining),
            )
        rec = _record(run, rnd, labeled, acc, nll, trained, acquired)
        result.rounds.append(rec)
        result.finished = not rec.selected
        if ckpt is not None:
            if keeps_weights and not result.finished:
                # The weights of round r go to their own file *before* the JSON that counts
                # round r, and round r - 1's file goes only after it: a kill at any point
                # leaves the weights of the JSON's last round on disk (exact resume).
                atomic_torch_save(model.state_dict(), _weights_path(ckpt, rnd))
            atomic_write_json(ckpt, result.to_dict())
            if keeps_weights and result.finished:
                _remove_round_weights(ckpt)
            elif keeps_weights and rnd > 0:
                _weights_path(ckpt, rnd - 1).unlink(missing_ok=True)
        previous = model if keeps_weights else None  # only warm start / CEAL reuse it
        if progress is not None:
            progress(strat.name, seed, rec, n_rounds_total)
    return result


def _record_environment(result: RunResult) -> None:
    """Append this process's environment, starting at the next round, unless the last
    record already describes it (a resume on the same machine and build)."""
    env = current_environment()
    if result.environments and same_environment(result.environments[-1], env):
        return
    result.environments.append({"first_round": len(result.rounds), **env})


def _remove_round_weights(ckpt: Path) -> None:
    """Nothing resumes a finished run: remove every round's weights of ``ckpt``, including
    one orphaned by a kill between a JSON write and the previous round's unlink."""
    for leftover in ckpt.parent.glob(f"{glob.escape(ckpt.stem)}.round*.pt"):
        leftover.unlink(missing_ok=True)


def _weights_path(ckpt: Path, rnd: int) -> Path:
    """Where a run that reuses its previous model (warm start, CEAL) keeps the weights after
    round ``rnd`` until the next round is recorded."""
    return ckpt.with_name(f"{ckpt.stem}.round{rnd}.pt")


def _load_round_weights(ckpt: Path, rnd: int) -> dict[str, Any]:
    """The saved weights after round ``rnd`` of a warm-start / CEAL run (exact resume)."""
    path = _weights_path(ckpt, rnd)
    if not path.exists():
        raise LabelwiseError(
            f"checkpoint {ckpt} (warm start / CEAL: the next round needs this round's "
            f"model) has {rnd + 1} rounds but no weights for round "
            f"{rnd} ({path.name}); the run cannot resume exactly. Delete {ckpt.name} to "
            "restart it"
        )
    state: dict[str, Any] = torch.load(path, weights_only=True)
    return state


def _differing_keys(
    a: dict[str, Any], b: dict[str, Any], prefix: str = ""
) -> list[tuple[str, Any, Any]]:
    """``(dotted key, value in a, value in b)`` where two nested config dicts differ."""
    out: list[tuple[str, Any, Any]] = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += _differing_keys(va, vb, f"{prefix}{key}.")
        elif va != vb:
            out.append((f"{prefix}{key}", va, vb))
    return out


def _resume_or_start(ckpt: Path | None, run: _Run, dataset: str) -> RunResult:
    """The run stored in ``ckpt`` if it exists (after checking it is this run), else a
    new run with its seeded initial set."""
    strat, seed, config = run.strat, run.seed, run.config
    if ckpt is not None and ckpt.exists():
        try:
            result = RunResult.from_dict(json.loads(ckpt.read_text()))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:  # JSON or its fields
            raise LabelwiseError(
                f"checkpoint {ckpt} is not a readable run ({type(exc).__name__}: {exc}); "
                f"delete {ckpt.name} to restart the run"
            ) from None
        if result.strategy != strat.name or result.seed != seed or result.dataset != dataset:
            raise LabelwiseError(
                f"checkpoint {ckpt} belongs to {result.strategy}/seed {result.seed}/"
                f"{result.dataset}, not {strat.name}/seed {seed}/{dataset}"
            )
        if result.dataset_fingerprint not in (None, run.fingerprint):
            raise LabelwiseError(
                f"checkpoint {ckpt} was made on other data named {dataset!r} (fingerprint "
                f"{result.dataset_fingerprint} there, {run.fingerprint} now): the dataset's "
                "files changed, or another file has the same name. Use a new --out folder"
            )
        stored, wanted = SimulationConfig.from_dict(result.config).to_dict(), config.to_dict()
        if stored != wanted:
            diff = ", ".join(
                f"{key}: {there!r} there, {now!r} now"
                for key, there, now in _differing_keys(stored, wanted)
            )
            raise LabelwiseError(
                f"checkpoint {ckpt} was written with another configuration ({diff}); use a "
                "new --out folder or the same settings to resume"
            )
        acquired = any(rec.selected for rec in result.rounds)
        if (
            strat.pool_clustering is not None and result.pool_clusters is None
            and acquired and not result.finished
        ):
            raise LabelwiseError(
                f"checkpoint {ckpt} of {strat.name!r} has acquisitions but no stored pool "
                "clusters (it predates clustering the pool once per run), so it cannot "
                f"resume exactly; delete {ckpt.name} to restart the run"
            )
        return result
    init = initial_indices(
        run.y, config.initial_size, balanced=config.initial == "balanced",
        rng=seeded_rng(seed, INIT_SET),
    )
    return RunResult(
        strat.name, seed, dataset, config.to_dict(), init.tolist(),
        dataset_fingerprint=run.fingerprint,
    )


def _replay_pool(result: RunResult, run: _Run) -> Pool:
    """A pool holding the initial set and every batch ``result`` acquired, round by round."""
    return replay_pool(result, run.y, run.n_classes)


def replay_pool(
    result: RunResult, y: Any, n_classes: int, *, before_round: int | None = None
) -> Pool:
    """The pool of a recorded run: its initial set and the batches it acquired.

    Parameters
    ----------
    result : RunResult
        A recorded run (finished or partial), e.g. read from its checkpoint JSON.
    y : array of int, shape [N]
        The dataset's labels (the oracle the run read), in the run's index space.
    n_classes : int
        Number of classes C; the pool's classes are ``0 .. C - 1``.
    before_round : int, optional
        Only the batches acquired in rounds ``0 .. before_round - 1``: the pool as round
        ``before_round`` found it (``0``: the initial set). Default: every batch.

    Returns
    -------
    Pool
        In memory; the labels come from ``y``, one pool round per acquiring run round.

    Raises
    ------
    BudgetError
        ``before_round`` is negative or beyond the run's recorded rounds.
    """
    y = np.asarray(y)
    n_rounds = len(result.rounds)
    if before_round is None:
        before_round = n_rounds
    if isinstance(before_round, bool) or not isinstance(before_round, (int, np.integer)) or not (
        0 <= before_round <= n_rounds
    ):
        raise BudgetError(
            f"before_round must be an int in [0, {n_rounds}] (the run has {n_rounds} recorded "
            f"rounds), got {before_round!r}"
        )
    pool = Pool(y.shape[0], list(range(n_classes)))
    pool.label(np.asarray(result.initial, dtype=np.int64), y[result.initial], round=0)
    for rec in result.rounds[:before_round]:
        if rec.selected:
            pool.next_round()
            pool.label(np.asarray(rec.selected), y[rec.selected])
    return pool


def _train_target(
    run: _Run,
    model: torch.nn.Module,
    rnd: int,
    labeled: np.ndarray,
    pseudo: PseudoLabels,
    recorder: PredictionRecorder | None,
    t0: float,
) -> _Trained:
    """Train the evaluated model once on the labels plus CEAL's ``pseudo``-labels (if any).

    Without a proxy it trains under ``config.predictor`` and records the training
    predictions; with a proxy it trains plainly (the proxy does both). ``seconds`` counts
    from ``t0``.
    """
    config = run.config
    target_cbs = [recorder] if recorder is not None and not run.use_proxy else []
    X, y = run.X[labeled], run.y[labeled]
    if pseudo.items.size:
        X = torch.cat([X, run.X[pseudo.items]])
        y = np.concatenate([y, pseudo.labels])
    members = train_round(
        model, X, torch.as_tensor(y), config,
        seeded_rng(run.seed, TRAIN, rnd), target_cbs,
        predictor="auto" if run.use_proxy else config.predictor,
        new_member=run.member_builder(run.model_name, MODEL_INIT),
        members_needed="probs" in run.strat.needs,
    )
    seconds = time.perf_counter() - t0
    return _Trained(members, seconds, int(pseudo.items.size), pseudo.accuracy)


def _acquire(
    run: _Run,
    result: RunResult,
    pool: Pool,
    model: torch.nn.Module,
    members: list[torch.nn.Module] | None,
    rnd: int,
    labeled: np.ndarray,
    cand: np.ndarray,
    recorder: PredictionRecorder | None,
    b: int,
) -> _Acquired:
    """Select ``b`` candidates with the selecting model (the proxy, if any) and label them.

    A strategy with ``pool_clustering`` gets the pool's clusters, made (and stored in
    ``result``) at the first acquisition."""
    out = _Acquired()
    sel_model, sel_members = model, members
    if run.use_proxy:
        tp = time.perf_counter()
        sel_model, sel_members = _train_proxy(run, rnd, labeled, recorder)
        out.seconds_proxy_train = time.perf_counter() - tp
        out.proxy_test_accuracy = float(
            evaluate(sel_model, run.X_test, run.y_test, device=run.config.device)[0]
        )
    positions = cand
    exclude = None
    if "labeled" in run.strat.needs:
        positions = np.concatenate([cand, labeled])
        exclude = np.arange(cand.size, positions.size)
    t1 = time.perf_counter()
    inputs = _strategy_inputs(run, sel_model, sel_members, rnd, positions, cand, labeled, recorder)
    out.seconds_predict = time.perf_counter() - t1
    t2 = time.perf_counter()
    if run.strat.pool_clustering is not None:
        if result.pool_clusters is None:
            result.pool_clusters = _cluster_pool(run, sel_model, b)
        inputs["cluster_labels"] = np.asarray(result.pool_clusters, dtype=np.int64)[positions]
    sel = run.strat.select(
        b, n=positions.size, exclude=exclude, rng=seeded_rng(run.seed, SELECT, rnd), **inputs
    )
    out.seconds_select = time.perf_counter() - t2
    chosen = sel.map_to(positions).indices
    pool.next_round()
    pool.label(chosen, run.y[chosen])
    out.selected = chosen.tolist()
    return out


def _train_proxy(
    run: _Run, rnd: int, labeled: np.ndarray, recorder: PredictionRecorder | None
) -> tuple[torch.nn.Module, list[torch.nn.Module] | None]:
    """A fresh proxy trained on the labels under ``config.predictor``; (proxy, members)."""
    proxy = run.build(run.proxy_name, PROXY, epochs=run.proxy_train.epochs)
    members = train_round(
        proxy, run.X[labeled], torch.as_tensor(run.y[labeled]), run.config,
        seeded_rng(run.seed, TRAIN, rnd, PROXY),
        [recorder] if recorder is not None else [], predictor=run.config.predictor,
        new_member=run.member_builder(run.proxy_name, PROXY, epochs=run.proxy_train.epochs),
        train=run.proxy_train, members_needed="probs" in run.strat.needs,
    )
    return proxy, members


def _strategy_inputs(
    run: _Run,
    model: torch.nn.Module,
    members: list[torch.nn.Module] | None,
    rnd: int,
    positions: np.ndarray,
    cand: np.ndarray,
    labeled: np.ndarray,
    recorder: PredictionRecorder | None,
) -> dict[str, Any]:
    """The keyword arguments of ``strategy.select`` that ``strategy.needs``, computed by the
    selecting ``model`` (and its ``members``) on the items at ``positions``."""
    config, needs, X = run.config, run.strat.needs, run.X
    inputs: dict[str, Any] = {"probs": None, "embeddings": None}
    if run.strat.point_probs:
        # One eval-mode pass: p and h of the same deterministic network (BADGE's definition).
        inputs["probs"], inputs["embeddings"] = predict_with_embeddings(
            model, X[positions], device=config.device,
            layer=getattr(model, "embedding_layer", None),
        )
    if "probs" in needs and inputs["probs"] is None:
        inputs["probs"] = selection_probs(
            model, members, X[positions], config, seeded_torch_generator(run.seed, PREDICT, rnd),
            consistent=run.strat.joint_samples,
        )
    if "embeddings" in needs and inputs["embeddings"] is None:
        inputs["embeddings"] = extract_embeddings(
            model, X[positions], device=config.device,
            layer=getattr(model, "embedding_layer", None),
        )
    if "training_predictions" in needs:
        assert recorder is not None
        preds = recorder.predictions
        if positions.size > cand.size:  # labeled items: never selected, any value
            pad = np.zeros((preds.shape[0], positions.size - cand.size), preds.dtype)
            preds = np.concatenate([preds, pad], axis=1)
        inputs["training_predictions"] = preds
    if "model_scores" in needs:
        inputs["model_scores"] = _model_scores(model, X[positions], config, run.strat.name)
    if "inputs" in needs:
        inputs["inputs"] = X[positions]
        inputs["labeled_inputs"] = X[labeled]
        inputs["device"] = config.device
    return inputs


def _cluster_pool(run: _Run, model: torch.nn.Module, k: int) -> list[int]:
    """The strategy's once-per-run clustering of every pool item (``run.X``), on the
    embeddings of the model that makes the first acquisition (Citovsky et al. 2021)."""
    assert run.strat.pool_clustering is not None
    emb = extract_embeddings(
        model, run.X, device=run.config.device, layer=getattr(model, "embedding_layer", None)
    )
    labels = run.strat.pool_clustering(
        emb, k, rng=seeded_rng(run.seed, CLUSTER), **run.strat.params
    )
    return [int(c) for c in np.asarray(labels)]


def _model_scores(
    model: torch.nn.Module, X: torch.Tensor, config: SimulationConfig, strategy: str
) -> torch.Tensor:
    fn = getattr(model, "acquisition_scores", None)
    if not callable(fn):
        raise LabelwiseError(model_scores_error(config, strategy))
    return torch.as_tensor(fn(X, device=config.device))


def _record(
    run: _Run,
    rnd: int,
    labeled: np.ndarray,
    acc: float,
    nll: float,
    trained: _Trained,
    acquired: _Acquired,
) -> RoundRecord:
    """The round's point of the learning curve."""
    selected = acquired.selected
    counts = (
        np.bincount(run.y[selected], minlength=run.n_classes).tolist()
        if selected
        else [0] * run.n_classes
    )
    return RoundRecord(
        round=rnd, n_labeled=len(labeled), test_accuracy=float(acc), test_nll=float(nll),
        selected=[int(i) for i in selected], batch_class_counts=[int(c) for c in counts],
        seconds_train=trained.seconds, seconds_predict=acquired.seconds_predict,
        seconds_select=acquired.seconds_select,
        pseudo_labels=int(trained.pseudo_labels),
        pseudo_label_accuracy=trained.pseudo_label_accuracy,
        seconds_proxy_train=acquired.seconds_proxy_train,
        proxy_test_accuracy=acquired.proxy_test_accuracy,
    )


def simulate(
    dataset: str | Dataset,
    strategies: str | Strategy | Sequence[str | Strategy],
    *,
    seeds: int | Sequence[int] = 1,
    config: SimulationConfig | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    progress: ProgressFn | None = None,
) -> list[RunResult]:
    """Simulate active learning for several strategies and seeds.

    Parameters
    ----------
    dataset : str or Dataset
        A bundled dataset name (``"digits"``, ``"mnist"``) or a :class:`Dataset`.
    strategies : name, Strategy or sequence of them
    seeds : int or sequence of int
        An int ``n`` means seeds ``0 .. n-1``.
    config : SimulationConfig, optional
    out_dir : path, optional
        Folder for per-run checkpoints (``runs/STRATEGY__seedS.json``) and ``results.json``.
        Existing finished runs are loaded, unfinished ones resumed.
    progress : callable, optional
        Called after every round.

    Returns
    -------
    list of RunResult, strategy-major.
    """
    data = load_dataset(dataset) if isinstance(dataset, str) else dataset
    cfg = config or SimulationConfig()
    strat_list = [strategies] if isinstance(strategies, (str, Strategy)) else list(strategies)
    resolved = [get_strategy(s) for s in strat_list]
    for strat in resolved:  # before the first run: not after the others have trained
        check_strategy_config(strat, cfg)
    if isinstance(seeds, (int, np.integer)):
        if seeds < 1:
            raise BudgetError(f"seeds must be >= 1, got {seeds}")
        seed_list = list(range(int(seeds)))
    else:
        seed_list = [int(s) for s in seeds]
    out = Path(out_dir) if out_dir is not None else None
    results: list[RunResult] = []
    for strat in resolved:
        for seed in seed_list:
            ckpt = out / "runs" / run_file_name(strat.name, seed) if out is not None else None
            results.append(run_simulation(data, strat, seed, cfg, checkpoint=ckpt, progress=progress))
    if out is not None:
        write_results(out / "results.json", results)
    return results
