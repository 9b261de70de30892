"""Simulated active learning: the unlabeled-pool game with an oracle.

One run = one (strategy, seed) pair::

    initial set (class-balanced or random) ->
    repeat: train -> predict samples / embeddings -> select a batch -> reveal labels -> evaluate

until the labeling budget is spent. Every source of randomness is derived from the seed
through :class:`numpy.random.SeedSequence` keyed by (seed, round, purpose), so that

- the same seed gives the same curve, whatever ran before it in the process;
- all strategies share the initial set and the model initialisation of a seed (a paired
  comparison, as the evaluation literature asks for);
- a run resumed from its checkpoint continues exactly as if it had never stopped.

A checkpoint (JSON, plus the model's ``state_dict`` when training continues across rounds)
is written after every round when ``out_dir`` is given.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from labelwise.datasets import Dataset, load_dataset
from labelwise.errors import BudgetError, LabelwiseError
from labelwise.models import (
    MODEL_NAMES,
    PredictionRecorder,
    TrainConfig,
    ensemble_predict,
    evaluate,
    extract_embeddings,
    make_model,
    predict_proba,
    predictive_samples,
    split_head_predict,
    stochastic_ensemble_predict,
    train_classifier,
    train_diverse_ensemble,
    train_ensemble,
    train_snapshot_ensemble,
)
from labelwise.pool import Pool
from labelwise.strategies import Strategy, get_strategy

__all__ = [
    "RESULTS_SCHEMA_VERSION",
    "ProxyComparison",
    "RoundRecord",
    "RunResult",
    "SimulationConfig",
    "compare_proxy",
    "initial_indices",
    "run_simulation",
    "selection_seconds",
    "simulate",
]

RESULTS_SCHEMA_VERSION = 1

# Purposes keyed into the seed sequence (stable numbers: changing them changes results).
_INIT_SET, _MODEL_INIT, _TRAIN, _PREDICT, _CANDIDATES, _SELECT, _CEAL, _PROXY, _MEMBER = range(9)

_PREDICTORS = (
    "auto", "consistent-dropout", "snapshot", "ensemble", "diverse-ensemble", "split-head",
    "stochastic-ensemble",
)
#: Predictors that train several member networks per round.
_MEMBER_PREDICTORS = ("snapshot", "ensemble", "diverse-ensemble", "stochastic-ensemble")
#: Needs that are computed from the (selection) model.
_MODEL_NEEDS = frozenset({"probs", "embeddings", "training_predictions", "model_scores"})


@dataclass(frozen=True)
class SimulationConfig:
    """Everything that defines a simulated active-learning run except strategy and seed.

    Attributes
    ----------
    batch_size : int
        Labels acquired per round (b).
    budget : int
        Total number of labels at the end, initial set included.
    initial_size : int
        Size of the initial labeled set (Gal et al. 2017: 20).
    initial : {"balanced", "random"}
        Class-balanced initial set (as the official DBAL code: 2 per class) or uniform.
    model : str
        Model name for :func:`labelwise.models.make_model` (``"auto"``: ``gal-cnn`` for
        images, ``mlp`` for vectors).
    mc_samples : int
        K, stochastic forward passes for predictive samples (1 = deterministic model).
    pool_subset : int or None
        Score only a seeded random subset of this many unlabeled items per round (Gal et
        al. 2017 score 2,000); None scores the whole pool.
    warm_start : bool
        Continue training the previous round's model instead of training from scratch.
    train : TrainConfig
        Optimiser, epochs, early stopping.
    device : str
        Torch device for training and prediction.
    predictor : str, default "auto"
        Where the predictive samples come from. ``"auto"``: weight samples for
        Bayes-by-backprop models (``bbb-*``), MC dropout otherwise. ``"consistent-dropout"``:
        the same K dropout masks for every candidate. ``"snapshot"``: a snapshot ensemble
        of K = ``mc_samples`` members (Huang et al. 2017): ``train.epochs`` are cut into K
        cosine cycles, the last snapshot is the evaluated model. The following use
        M = ``ensemble_size`` members, member 0 being the evaluated model (Beluch et al.
        2018): ``"ensemble"``: M networks, each with its own initialisation and training
        seed, ``[N, M, C]``; ``"diverse-ensemble"``: one network trained for
        ``ensemble_warmup_epochs``, then M copies each continued with its own seed
        (shuffling, dropout) for the remaining epochs, ``[N, M, C]``; ``"split-head"``: a
        split-head model (``model="split-head-mlp"``, built with ``n_heads=M``), one
        trunk and M heads, ``[N, M, C]`` from one pass; ``"stochastic-ensemble"``: MC
        dropout with K = ``mc_samples`` passes inside each of the M members of
        ``"ensemble"``, ``[N, M * K, C]``.
    ensemble_size : int, default 5
        M, members of the ensemble predictors and heads of ``split-head-mlp`` models.
    ensemble_warmup_epochs : int or None, default None
        Shared warm-up of ``"diverse-ensemble"``; None = ``max(1, train.epochs // 5)``.
    proxy_model, proxy_epochs : str or None, int or None, default None
        Selection via proxy (Coleman et al. 2020), on when either is set: every round a
        proxy network (``proxy_model``, None = the target's model) is trained from scratch
        for ``proxy_epochs`` (None = ``train.epochs``) and *selects* (predictive samples,
        embeddings, training predictions, model scores all come from it, through
        ``predictor``), while the target ``model`` is trained plainly on the same labels
        and evaluated. Rounds record the proxy's training seconds and test accuracy
        separately; :func:`compare_proxy` compares with the run without proxy.
    ceal_delta0, ceal_decay : float or None, float
        CEAL (Wang et al. 2017), off when ``ceal_delta0`` is None. In round t, after the
        model is trained on the labels, every candidate whose predictive entropy (nats) is
        below ``delta_t = ceal_delta0 - ceal_decay * t`` gets its predicted class as a
        pseudo-label, and training continues on labels plus pseudo-labels for that round
        only. Pseudo-labels never enter the pool and cost no budget; the round record keeps
        their count and accuracy.
    """

    batch_size: int = 10
    budget: int = 300
    initial_size: int = 20
    initial: Literal["balanced", "random"] = "balanced"
    model: str = "auto"
    mc_samples: int = 20
    pool_subset: int | None = None
    warm_start: bool = False
    train: TrainConfig = field(default_factory=TrainConfig)
    device: str = "cpu"
    predictor: str = "auto"
    ceal_delta0: float | None = None
    ceal_decay: float = 0.0
    ensemble_size: int = 5
    ensemble_warmup_epochs: int | None = None
    proxy_model: str | None = None
    proxy_epochs: int | None = None

    @property
    def uses_proxy(self) -> bool:
        """Whether selection runs on a proxy model (``proxy_model`` or ``proxy_epochs``)."""
        return self.proxy_model is not None or self.proxy_epochs is not None

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SimulationConfig:
        d = dict(d)
        train = d.pop("train", {})
        valid = {f.name for f in dataclasses.fields(TrainConfig)}
        return cls(**d, train=TrainConfig(**{k: v for k, v in train.items() if k in valid}))


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

    @property
    def labels(self) -> np.ndarray:
        """[R] number of labels at each evaluation."""
        return np.array([r.n_labeled for r in self.rounds], dtype=np.int64)

    @property
    def accuracy(self) -> np.ndarray:
        """[R] test accuracy at each evaluation."""
        return np.array([r.test_accuracy for r in self.rounds], dtype=np.float64)

    def acquired(self) -> list[int]:
        """Every index acquired after the initial set, in order."""
        return [i for r in self.rounds for i in r.selected]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": RESULTS_SCHEMA_VERSION,
            "strategy": self.strategy,
            "seed": self.seed,
            "dataset": self.dataset,
            "config": self.config,
            "initial": self.initial,
            "finished": self.finished,
            "rounds": [dataclasses.asdict(r) for r in self.rounds],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunResult:
        if d.get("schema_version") != RESULTS_SCHEMA_VERSION:
            raise LabelwiseError(
                f"run file has schema_version {d.get('schema_version')!r}, this labelwise "
                f"reads {RESULTS_SCHEMA_VERSION}; rerun the simulation into a new --out folder"
            )
        return cls(
            strategy=d["strategy"],
            seed=int(d["seed"]),
            dataset=d["dataset"],
            config=dict(d["config"]),
            initial=[int(i) for i in d["initial"]],
            rounds=[RoundRecord(**r) for r in d["rounds"]],
            finished=bool(d["finished"]),
        )


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *key]))


def _torch_gen(seed: int, *key: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(int(_rng(seed, *key).integers(0, 2**63 - 1)))
    return g


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


def _resolve_model_name(name: str, data: Dataset) -> str:
    if name != "auto":
        return name
    return "gal-cnn" if len(data.input_shape) == 3 else "mlp"


def _check_config(cfg: SimulationConfig, data: Dataset) -> None:
    n = data.X_train.shape[0]
    for attr in ("batch_size", "budget", "initial_size", "mc_samples"):
        v = getattr(cfg, attr)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise BudgetError(f"{attr} must be a positive integer, got {v!r}")
    if cfg.initial_size > cfg.budget:
        raise BudgetError(
            f"initial_size={cfg.initial_size} exceeds budget={cfg.budget}; "
            "the budget counts every label, the initial set included"
        )
    if cfg.budget > n:
        raise BudgetError(f"budget={cfg.budget} exceeds the pool of {n} items of {data.name!r}")
    if cfg.initial not in ("balanced", "random"):
        raise ValueError(f"initial must be 'balanced' or 'random', got {cfg.initial!r}")
    if cfg.pool_subset is not None and cfg.pool_subset < cfg.batch_size:
        raise BudgetError(
            f"pool_subset={cfg.pool_subset} is smaller than batch_size={cfg.batch_size}"
        )
    if cfg.predictor not in _PREDICTORS:
        raise ValueError(f"predictor must be one of {list(_PREDICTORS)}, got {cfg.predictor!r}")
    _check_ensemble_proxy(cfg, data)
    if cfg.ceal_delta0 is not None:
        for attr in ("ceal_delta0", "ceal_decay"):
            v = getattr(cfg, attr)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v) or v < 0:
                raise ValueError(f"{attr} must be a finite number >= 0, got {v!r}")
    if data.y_test is None or data.X_test is None:
        raise LabelwiseError(f"dataset {data.name!r} has no test set; simulation needs one")
    if np.any(data.y_train < 0):
        raise LabelwiseError(
            f"dataset {data.name!r} has unlabeled training items; a simulation needs the "
            "oracle labels of the whole pool"
        )


def _check_ensemble_proxy(cfg: SimulationConfig, data: Dataset) -> None:
    m = cfg.ensemble_size
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
        raise ValueError(f"ensemble_size must be a positive integer, got {m!r}")
    w = cfg.ensemble_warmup_epochs
    if w is not None and (
        isinstance(w, bool) or not isinstance(w, (int, np.integer))
        or not 1 <= w <= cfg.train.epochs - 1
    ):
        raise ValueError(
            f"ensemble_warmup_epochs must be None or an integer in [1, train.epochs - 1] = "
            f"[1, {cfg.train.epochs - 1}], got {w!r}"
        )
    if cfg.predictor == "diverse-ensemble" and cfg.train.epochs < 2:
        raise ValueError(
            "predictor='diverse-ensemble' needs train.epochs >= 2 (a shared warm-up, then "
            f"each member's own epochs), got {cfg.train.epochs}"
        )
    if cfg.warm_start and cfg.predictor in ("ensemble", "stochastic-ensemble"):
        raise ValueError(
            f"predictor={cfg.predictor!r} trains fresh members every round and cannot "
            "warm-start; turn warm_start off or use predictor='diverse-ensemble'"
        )
    if cfg.proxy_model is not None and cfg.proxy_model not in (*MODEL_NAMES, "auto"):
        raise ValueError(
            f"proxy_model must be None, 'auto' or one of {list(MODEL_NAMES)}, got "
            f"{cfg.proxy_model!r}"
        )
    pe = cfg.proxy_epochs
    if pe is not None and (isinstance(pe, bool) or not isinstance(pe, (int, np.integer)) or pe < 1):
        raise ValueError(f"proxy_epochs must be None or a positive integer, got {pe!r}")
    if cfg.uses_proxy and cfg.ceal_delta0 is not None:
        raise ValueError(
            "CEAL (ceal_delta0) and selection via proxy (proxy_model / proxy_epochs) cannot "
            "be combined; turn one of them off"
        )
    if cfg.predictor == "split-head":
        name = _selector_model_name(cfg, data)
        if not name.startswith("split-head"):
            which = "proxy_model" if cfg.uses_proxy else "model"
            raise ValueError(
                f"predictor='split-head' needs a split-head model, got {which}={name!r}; "
                "use 'split-head-mlp'"
            )


def _selector_model_name(cfg: SimulationConfig, data: Dataset) -> str:
    """Name of the model that selects: the proxy's if there is one, else the target's."""
    if cfg.uses_proxy and cfg.proxy_model is not None:
        return _resolve_model_name(cfg.proxy_model, data)
    return _resolve_model_name(cfg.model, data)


def _model_kwargs(name: str, cfg: SimulationConfig) -> dict[str, Any]:
    return {"n_heads": cfg.ensemble_size} if name.startswith("split-head") else {}


ProgressFn = Callable[[str, int, RoundRecord, int], None]


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
    _check_config(config, data)
    model_name = _resolve_model_name(config.model, data)
    ckpt = Path(checkpoint) if checkpoint is not None else None
    weights = ckpt.with_suffix(".pt") if ckpt is not None else None

    y = np.asarray(data.y_train)
    X = torch.as_tensor(np.asarray(data.X_train, dtype=np.float32))
    X_test = torch.as_tensor(np.asarray(data.X_test, dtype=np.float32))
    y_test = torch.as_tensor(np.asarray(data.y_test, dtype=np.int64))
    n_classes = data.n_classes
    pool = Pool(X.shape[0], list(range(n_classes)))

    result: RunResult | None = None
    if ckpt is not None and ckpt.exists():
        result = RunResult.from_dict(json.loads(ckpt.read_text()))
        if result.strategy != strat.name or result.seed != seed or result.dataset != data.name:
            raise LabelwiseError(
                f"checkpoint {ckpt} belongs to {result.strategy}/seed {result.seed}/"
                f"{result.dataset}, not {strat.name}/seed {seed}/{data.name}"
            )
        if SimulationConfig.from_dict(result.config).to_dict() != config.to_dict():
            raise LabelwiseError(
                f"checkpoint {ckpt} was written with another configuration; use a new --out "
                "folder or the same settings to resume"
            )
    if result is None:
        init = initial_indices(
            y, config.initial_size, balanced=config.initial == "balanced", rng=_rng(seed, _INIT_SET)
        )
        result = RunResult(strat.name, seed, data.name, config.to_dict(), init.tolist())
    pool.label(np.asarray(result.initial, dtype=np.int64), y[result.initial], round=0)
    for rec in result.rounds:
        if rec.selected:
            pool.next_round()
            pool.label(np.asarray(rec.selected), y[rec.selected])
    n_rounds_total = 1 + -(-(config.budget - config.initial_size) // config.batch_size)

    shape = tuple(data.input_shape)

    def build(name: str, *key: int) -> torch.nn.Module:
        return make_model(
            name, input_shape=shape, n_classes=n_classes, generator=_torch_gen(seed, *key),
            **_model_kwargs(name, config),
        )

    use_proxy = config.uses_proxy and bool(strat.needs & _MODEL_NEEDS)
    proxy_name = _selector_model_name(config, data)
    proxy_train = (
        dataclasses.replace(config.train, epochs=config.proxy_epochs)
        if config.proxy_epochs is not None
        else config.train
    )

    model: torch.nn.Module | None = None
    if config.warm_start and result.rounds and weights is not None and weights.exists():
        model = build(model_name, _MODEL_INIT)
        model.load_state_dict(torch.load(weights, weights_only=True))

    while not result.finished:
        rnd = len(result.rounds)
        labeled = pool.labeled_indices()
        t0 = time.perf_counter()
        if model is None or not config.warm_start:
            model = build(model_name, _MODEL_INIT)
        remaining = config.budget - pool.n_labeled
        # Candidates depend only on the pool and the seed: drawn before training so that
        # training can record predictions on them (label dispersion) and CEAL can use them.
        cand = (
            pool.candidates(config.pool_subset, rng=_rng(seed, _CANDIDATES, rnd))
            if remaining > 0 or config.ceal_delta0 is not None
            else np.zeros(0, dtype=np.int64)
        )
        recorder = None
        if remaining > 0 and "training_predictions" in strat.needs:
            recorder = PredictionRecorder(X[cand], device=config.device)
        X_lab, y_lab = X[labeled], torch.as_tensor(y[labeled])
        target_cbs = [recorder] if recorder is not None and not use_proxy else []
        members = _train_round(
            model, X_lab, y_lab, config, _rng(seed, _TRAIN, rnd), target_cbs,
            predictor="auto" if use_proxy else config.predictor,
            new_member=lambda m: build(model_name, _MODEL_INIT, _MEMBER, m),
        )
        n_pseudo, pseudo_acc = 0, None
        if config.ceal_delta0 is not None and cand.size:
            n_pseudo, pseudo_acc, ceal_members = _ceal_round(
                model, X, y, labeled, cand, config, rnd, _rng(seed, _TRAIN, rnd, _CEAL),
                recorder, lambda m: build(model_name, _MODEL_INIT, _MEMBER, m),
            )
            members = ceal_members if ceal_members is not None else members
        t_train = time.perf_counter() - t0
        acc, nll = evaluate(model, X_test, y_test, device=config.device)

        selected: list[int] = []
        t_pred = t_sel = t_proxy = 0.0
        proxy_acc: float | None = None
        if remaining > 0:
            sel_model, sel_members = model, members
            if use_proxy:
                tp = time.perf_counter()
                proxy = build(proxy_name, _PROXY)
                sel_members = _train_round(
                    proxy, X_lab, y_lab, config, _rng(seed, _TRAIN, rnd, _PROXY),
                    [recorder] if recorder is not None else [], predictor=config.predictor,
                    new_member=lambda m: build(proxy_name, _PROXY, _MEMBER, m),
                    train=proxy_train,
                )
                sel_model = proxy
                t_proxy = time.perf_counter() - tp
                proxy_acc = float(evaluate(proxy, X_test, y_test, device=config.device)[0])
            b = min(config.batch_size, remaining)
            positions = cand
            exclude = None
            if "labeled" in strat.needs:
                positions = np.concatenate([cand, labeled])
                exclude = np.arange(cand.size, positions.size)
            t1 = time.perf_counter()
            probs = emb = None
            extra: dict[str, Any] = {}
            if "probs" in strat.needs:
                probs = _selection_probs(
                    sel_model, sel_members, X[positions], config, _torch_gen(seed, _PREDICT, rnd)
                )
            if "embeddings" in strat.needs:
                emb = extract_embeddings(
                    sel_model, X[positions], device=config.device,
                    layer=getattr(sel_model, "embedding_layer", None),
                )
            if "training_predictions" in strat.needs:
                assert recorder is not None
                preds = recorder.predictions
                if positions.size > cand.size:  # labeled items: never selected, any value
                    pad = np.zeros((preds.shape[0], positions.size - cand.size), preds.dtype)
                    preds = np.concatenate([preds, pad], axis=1)
                extra["training_predictions"] = preds
            if "model_scores" in strat.needs:
                extra["model_scores"] = _model_scores(
                    sel_model, X[positions], config, strat.name
                )
            if "inputs" in strat.needs:
                extra["inputs"] = X[positions]
                extra["labeled_inputs"] = X[labeled]
                extra["device"] = config.device
            t_pred = time.perf_counter() - t1
            t2 = time.perf_counter()
            sel = strat.select(
                b, probs=probs, embeddings=emb, n=positions.size, exclude=exclude,
                rng=_rng(seed, _SELECT, rnd), **extra,
            )
            t_sel = time.perf_counter() - t2
            chosen = sel.map_to(positions).indices
            pool.next_round()
            pool.label(chosen, y[chosen])
            selected = chosen.tolist()
        counts = np.bincount(y[selected], minlength=n_classes).tolist() if selected else [0] * n_classes
        rec = RoundRecord(
            round=rnd, n_labeled=len(labeled), test_accuracy=float(acc), test_nll=float(nll),
            selected=[int(i) for i in selected], batch_class_counts=[int(c) for c in counts],
            seconds_train=t_train, seconds_predict=t_pred, seconds_select=t_sel,
            pseudo_labels=int(n_pseudo), pseudo_label_accuracy=pseudo_acc,
            seconds_proxy_train=t_proxy, proxy_test_accuracy=proxy_acc,
        )
        result.rounds.append(rec)
        result.finished = not selected
        if ckpt is not None:
            if config.warm_start and weights is not None:
                _atomic_torch_save(model.state_dict(), weights)
            _atomic_write_json(ckpt, result.to_dict())
        if progress is not None:
            progress(strat.name, seed, rec, n_rounds_total)
    return result


def _train_round(
    model: torch.nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    config: SimulationConfig,
    rng: np.random.Generator,
    callbacks: list[Any],
    *,
    predictor: str,
    new_member: Callable[[int], torch.nn.Module],
    train: TrainConfig | None = None,
) -> list[torch.nn.Module] | None:
    """Train the round's model as ``predictor`` asks; return the members of an ensemble
    predictor (member 0 / the last snapshot is ``model``), None for a single network.

    ``new_member(m)`` builds the freshly initialised member ``m >= 1`` of ``"ensemble"`` /
    ``"stochastic-ensemble"``; ``train`` overrides ``config.train`` (the proxy's epochs).
    """
    tcfg = config.train if train is None else train
    if predictor in _MEMBER_PREDICTORS and callbacks:
        raise LabelwiseError(
            f"predictor={predictor!r} cannot record training predictions; use another "
            "predictor with this strategy"
        )
    if predictor == "snapshot":
        return train_snapshot_ensemble(
            model, X, y, n_snapshots=config.mc_samples, config=tcfg, rng=rng
        )
    if predictor in ("ensemble", "stochastic-ensemble"):
        members = [model] + [new_member(m) for m in range(1, config.ensemble_size)]
        return train_ensemble(members, X, y, config=tcfg, rng=rng)
    if predictor == "diverse-ensemble":
        warmup = config.ensemble_warmup_epochs or max(1, tcfg.epochs // 5)
        return train_diverse_ensemble(
            model, X, y, n_members=config.ensemble_size, warmup_epochs=min(warmup, tcfg.epochs - 1),
            config=tcfg, rng=rng,
        )
    train_classifier(model, X, y, config=tcfg, rng=rng, callbacks=callbacks)
    return None


def _selection_probs(
    model: torch.nn.Module,
    members: list[torch.nn.Module] | None,
    X: torch.Tensor,
    config: SimulationConfig,
    generator: torch.Generator,
) -> torch.Tensor:
    """Predictive samples ``[N, K, C]`` of the selecting model under ``config.predictor``."""
    if config.predictor == "stochastic-ensemble":
        assert members is not None
        return stochastic_ensemble_predict(
            members, X, k=config.mc_samples, device=config.device, generator=generator
        )
    if members is not None:
        return ensemble_predict(members, X, device=config.device)
    if config.predictor == "split-head":
        return split_head_predict(model, X, device=config.device)
    return predictive_samples(
        model, X, k=config.mc_samples, device=config.device, generator=generator,
        consistent=config.predictor == "consistent-dropout",
    )


def _ceal_round(
    model: torch.nn.Module,
    X: torch.Tensor,
    y: np.ndarray,
    labeled: np.ndarray,
    cand: np.ndarray,
    config: SimulationConfig,
    rnd: int,
    rng: np.random.Generator,
    recorder: PredictionRecorder | None,
    new_member: Callable[[int], torch.nn.Module],
) -> tuple[int, float | None, list[torch.nn.Module] | None]:
    """CEAL (Wang et al. 2017): pseudo-label confident candidates, continue training.

    Returns the number of pseudo-labels, their accuracy against the oracle (None if 0) and
    the new members of an ensemble predictor (None otherwise or if untrained).
    The pseudo-labels exist only in this function: the pool is never touched.
    """
    assert config.ceal_delta0 is not None
    delta = ceal_threshold(config.ceal_delta0, config.ceal_decay, rnd)
    if delta <= 0:
        return 0, None, None
    p = predict_proba(model, X[cand], device=config.device).double()
    ent = -(p * torch.log(p.clamp_min(1e-300))).sum(dim=1)
    confident = (ent < delta).numpy()
    if not confident.any():
        return 0, None, None
    items = cand[confident]
    pseudo = p.argmax(dim=1).numpy()[confident]
    X_aug = torch.cat([X[labeled], X[items]])
    y_aug = torch.as_tensor(np.concatenate([y[labeled], pseudo]))
    members = _train_round(
        model, X_aug, y_aug, config, rng, [recorder] if recorder is not None else [],
        predictor=config.predictor, new_member=new_member,
    )
    return int(items.size), float((pseudo == y[items]).mean()), members


def ceal_threshold(delta0: float, decay: float, round_index: int) -> float:
    """CEAL's entropy threshold ``delta_t = delta0 - decay * t`` of round ``t`` (nats)."""
    return float(delta0) - float(decay) * int(round_index)


def selection_seconds(run: RunResult) -> float:
    """Seconds a run spent choosing its batches (Coleman et al. 2020's selection time).

    Sum over the rounds that selected of: training the selecting model (the proxy's
    ``seconds_proxy_train`` when the run used a proxy, else the target's
    ``seconds_train``), computing its predictions (``seconds_predict``) and the strategy
    (``seconds_select``). The last round, which only trains and evaluates the target, does
    not count.
    """
    proxy = SimulationConfig.from_dict(run.config).uses_proxy
    total = 0.0
    for r in run.rounds:
        if not r.selected:
            continue
        total += (r.seconds_proxy_train if proxy else r.seconds_train)
        total += r.seconds_predict + r.seconds_select
    return total


@dataclass(frozen=True)
class ProxyComparison:
    """Selection via proxy against the same run without proxy (Coleman et al. 2020).

    Attributes
    ----------
    strategy, dataset : str
    seed : int
    selection_seconds, proxy_selection_seconds : float
        :func:`selection_seconds` of the baseline and of the proxy run.
    seconds_saved : float
        ``selection_seconds - proxy_selection_seconds`` (negative: the proxy was slower).
    speedup : float
        ``selection_seconds / proxy_selection_seconds`` (inf if the latter is 0).
    final_accuracy, proxy_final_accuracy : float
        The *target* model's test accuracy at the end of each run.
    accuracy_lost : float
        ``final_accuracy - proxy_final_accuracy`` (negative: the proxy run did better).
    mean_accuracy_lost : float
        Mean over the rounds of the per-round target accuracy difference (same label
        counts in both runs).
    """

    strategy: str
    dataset: str
    seed: int
    selection_seconds: float
    proxy_selection_seconds: float
    seconds_saved: float
    speedup: float
    final_accuracy: float
    proxy_final_accuracy: float
    accuracy_lost: float
    mean_accuracy_lost: float


def compare_proxy(baseline: RunResult, proxy: RunResult) -> ProxyComparison:
    """Selection time saved and target accuracy lost by selecting with a proxy.

    Parameters
    ----------
    baseline : RunResult
        A run without proxy.
    proxy : RunResult
        The same strategy, seed and dataset with ``proxy_model`` / ``proxy_epochs`` set.

    Returns
    -------
    ProxyComparison

    Raises
    ------
    LabelwiseError
        The runs differ in strategy, seed, dataset or label counts per round, the baseline
        used a proxy or the proxy run did not.
    """
    for attr in ("strategy", "seed", "dataset"):
        a, b = getattr(baseline, attr), getattr(proxy, attr)
        if a != b:
            raise LabelwiseError(f"baseline and proxy runs differ in {attr}: {a!r} vs {b!r}")
    if SimulationConfig.from_dict(baseline.config).uses_proxy:
        raise LabelwiseError("baseline used a proxy; pass the run without proxy_model/proxy_epochs")
    if not SimulationConfig.from_dict(proxy.config).uses_proxy:
        raise LabelwiseError("proxy run has neither proxy_model nor proxy_epochs set")
    if not baseline.rounds or baseline.labels.tolist() != proxy.labels.tolist():
        raise LabelwiseError(
            f"the runs must evaluate at the same label counts, got {baseline.labels.tolist()} "
            f"and {proxy.labels.tolist()}"
        )
    base_s, prox_s = selection_seconds(baseline), selection_seconds(proxy)
    acc_b, acc_p = baseline.accuracy, proxy.accuracy
    return ProxyComparison(
        strategy=baseline.strategy, dataset=baseline.dataset, seed=baseline.seed,
        selection_seconds=base_s, proxy_selection_seconds=prox_s,
        seconds_saved=base_s - prox_s,
        speedup=base_s / prox_s if prox_s > 0 else float("inf"),
        final_accuracy=float(acc_b[-1]), proxy_final_accuracy=float(acc_p[-1]),
        accuracy_lost=float(acc_b[-1] - acc_p[-1]),
        mean_accuracy_lost=float(np.mean(acc_b - acc_p)),
    )


def _model_scores(
    model: torch.nn.Module, X: torch.Tensor, config: SimulationConfig, strategy: str
) -> torch.Tensor:
    fn = getattr(model, "acquisition_scores", None)
    if not callable(fn):
        raise LabelwiseError(
            f"strategy {strategy!r} needs a model that scores items itself "
            f"(acquisition_scores), but model {config.model!r} does not; for learning loss "
            "use --model ll-mlp or ll-cnn"
        )
    return torch.as_tensor(fn(X, device=config.device))


def _atomic_write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _atomic_torch_save(state: Mapping[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    torch.save(dict(state), tmp)
    os.replace(tmp, path)


def run_file_name(strategy: str, seed: int) -> str:
    """File name of one run's checkpoint inside an output folder."""
    return f"{strategy}__seed{seed}.json"


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


def write_results(path: str | os.PathLike[str], results: Sequence[RunResult]) -> None:
    """Write every run of a simulation to one JSON file (atomically)."""
    _atomic_write_json(
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
