"""What defines a simulated run (:class:`SimulationConfig`) and its validation."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch

from labelwise.datasets import Dataset
from labelwise.errors import BudgetError, LabelwiseError
from labelwise.models import MODEL_NAMES, TrainConfig

if TYPE_CHECKING:
    from labelwise.strategies import Strategy

__all__ = [
    "MEMBER_PREDICTORS",
    "PREDICTORS",
    "SimulationConfig",
    "check_config",
    "check_config_types",
    "check_strategy_config",
    "resolve_model_name",
    "samples_per_item",
    "selector_model_name",
]

#: Valid values of :attr:`SimulationConfig.predictor`.
PREDICTORS = (
    "auto", "consistent-dropout", "snapshot", "ensemble", "diverse-ensemble", "split-head",
    "stochastic-ensemble",
)
#: Predictors that train several member networks per round.
MEMBER_PREDICTORS = ("snapshot", "ensemble", "diverse-ensemble", "stochastic-ensemble")


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
        Bayes-by-backprop models (``bbb-*``), MC dropout otherwise, with the same K masks
        for every candidate when the strategy reads samples jointly across items
        (:attr:`~labelwise.strategies.Strategy.joint_samples`, e.g. ``batchbald``) and
        fresh masks per item for the others. ``"consistent-dropout"``:
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
        ``"ensemble"``, ``[N, M * K, C]`` (the same masks for every candidate within
        each member when the strategy has ``joint_samples``). A strategy that reads no
        predictive samples (``random``, ``coreset``, ...) trains only member 0 of these
        three, with the weights it would have beside the others.
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
        CEAL (Wang et al. 2017), off when ``ceal_delta0`` is None. As in the paper's
        iteration, the model that has just selected pseudo-labels the confident samples
        and the network is trained once on labels plus pseudo-labels: in round t >= 1,
        every candidate of the round whose predictive entropy (nats) under round t - 1's
        model is below ``delta = ceal_delta0 - ceal_decay * (t - 1)`` gets that model's
        predicted class, and round t's model trains on its labels plus these
        pseudo-labels (round 0 trains on the initial labels alone). Pseudo-labels are
        chosen afresh every round, never enter the pool and cost no budget; the round
        record keeps their count and accuracy. The previous round's weights are saved
        with the checkpoint, so that a resumed run continues exactly.
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

    @property
    def n_rounds(self) -> int:
        """Rounds in a complete run: round 0 on the initial set, then one per batch until
        the budget (the last batch may be smaller)."""
        return 1 + -(-(int(self.budget) - int(self.initial_size)) // int(self.batch_size))

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SimulationConfig:
        d = dict(d)
        train = d.pop("train", {})
        valid = {f.name for f in dataclasses.fields(TrainConfig)}
        return cls(**d, train=TrainConfig(**{k: v for k, v in train.items() if k in valid}))


def resolve_model_name(name: str, data: Dataset) -> str:
    """``name``, or for ``"auto"``: ``gal-cnn`` for images, ``mlp`` for vectors."""
    if name != "auto":
        return name
    return "gal-cnn" if len(data.input_shape) == 3 else "mlp"


def selector_model_name(cfg: SimulationConfig, data: Dataset) -> str:
    """Name of the model that selects: the proxy's if there is one, else the target's."""
    if cfg.uses_proxy and cfg.proxy_model is not None:
        return resolve_model_name(cfg.proxy_model, data)
    return resolve_model_name(cfg.model, data)


def check_config(cfg: SimulationConfig, data: Dataset) -> None:
    """Check that ``cfg`` can run on ``data``; raise a clear error naming the setting if not.

    Raises
    ------
    BudgetError
        Sizes that are not positive integers or do not fit the budget / the pool.
    ValueError
        An unknown or inconsistent setting (initial, predictor, ensemble, proxy, CEAL).
    LabelwiseError
        The dataset has no test set or unlabeled training items (no oracle).
    """
    check_config_types(cfg)
    n = data.X_train.shape[0]
    if cfg.initial_size > cfg.budget:
        raise BudgetError(
            f"initial_size={cfg.initial_size} exceeds budget={cfg.budget}; "
            "the budget counts every label, the initial set included"
        )
    if cfg.budget > n:
        raise BudgetError(f"budget={cfg.budget} exceeds the pool of {n} items of {data.name!r}")
    if cfg.pool_subset is not None and cfg.pool_subset < cfg.batch_size:
        raise BudgetError(
            f"pool_subset={cfg.pool_subset} is smaller than batch_size={cfg.batch_size}"
        )
    _check_ensemble_proxy(cfg, data)
    if cfg.ceal_delta0 is not None:
        for attr in ("ceal_delta0", "ceal_decay"):
            v = getattr(cfg, attr)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v) or v < 0:
                raise ValueError(f"{attr} must be a finite number >= 0, got {v!r}")
        if cfg.ceal_delta0 == 0:
            raise ValueError(
                "ceal_delta0=0 turns CEAL on but no entropy is below 0, so it would never "
                "pseudo-label; give a threshold > 0 (nats), or None to turn CEAL off"
            )
    elif cfg.ceal_decay != 0:
        raise ValueError(
            f"ceal_decay={cfg.ceal_decay!r} is set but CEAL is off (ceal_delta0=None); set "
            "ceal_delta0 to turn CEAL on, or drop ceal_decay"
        )
    if data.y_test is None or data.X_test is None:
        raise LabelwiseError(f"dataset {data.name!r} has no test set; simulation needs one")
    if np.any(data.y_train < 0):
        raise LabelwiseError(
            f"dataset {data.name!r} has unlabeled training items; a simulation needs the "
            "oracle labels of the whole pool"
        )


def check_config_types(cfg: SimulationConfig) -> None:
    """The checks of :func:`check_config` that need no dataset: types and single values.

    Raises
    ------
    BudgetError
        Sizes that are not positive integers.
    TypeError
        ``warm_start`` not a bool, ``model`` / ``device`` / ``predictor`` not strings.
    ValueError
        An unknown ``initial``, ``device`` or ``predictor``.
    """
    for attr in ("batch_size", "budget", "initial_size", "mc_samples"):
        v = getattr(cfg, attr)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise BudgetError(f"{attr} must be a positive integer, got {v!r}")
    ps = cfg.pool_subset
    if ps is not None and (isinstance(ps, bool) or not isinstance(ps, (int, np.integer))):
        raise BudgetError(f"pool_subset must be None or a positive integer, got {ps!r}")
    if cfg.initial not in ("balanced", "random"):
        raise ValueError(f"initial must be 'balanced' or 'random', got {cfg.initial!r}")
    if not isinstance(cfg.warm_start, (bool, np.bool_)):
        # a string such as "false" would be truthy and silently turn warm start on
        raise TypeError(f"warm_start must be true or false, got {cfg.warm_start!r}")
    for attr in ("model", "device", "predictor"):
        if not isinstance(getattr(cfg, attr), str):
            raise TypeError(f"{attr} must be a string, got {getattr(cfg, attr)!r}")
    try:
        torch.device(cfg.device)
    except RuntimeError as exc:
        raise ValueError(
            f"device must be a torch device such as 'cpu' or 'cuda:0', got {cfg.device!r} "
            f"({exc})"
        ) from None
    if cfg.predictor not in PREDICTORS:
        raise ValueError(f"predictor must be one of {list(PREDICTORS)}, got {cfg.predictor!r}")


def samples_per_item(cfg: SimulationConfig) -> int:
    """K of the predictive samples ``[N, K, C]`` that ``cfg.predictor`` gives a strategy."""
    if cfg.predictor in ("ensemble", "diverse-ensemble", "split-head"):
        return int(cfg.ensemble_size)
    if cfg.predictor == "stochastic-ensemble":
        return int(cfg.ensemble_size) * int(cfg.mc_samples)
    return int(cfg.mc_samples)  # MC dropout, weight samples, snapshots


def model_scores_error(cfg: SimulationConfig, strategy: str) -> str:
    """The error for a strategy that needs model scores (learning loss) from a model that
    has none, naming the setting: the command-line flag and the suite / API field."""
    if cfg.uses_proxy and cfg.proxy_model is not None:  # proxy_epochs alone: the model's
        which, flag, field_ = f"the proxy model {cfg.proxy_model!r}", "--proxy-model", "proxy_model"
    else:
        which, flag, field_ = f"model {cfg.model!r}", "--model", "model"
    return (
        f"strategy {strategy!r} needs a selecting model that scores items itself "
        f"(acquisition_scores), but {which} does not; for learning loss use {flag} ll-mlp "
        f"or ll-cnn ({field_} = \"ll-mlp\" in a suite's [simulation] or the API)"
    )


def check_strategy_config(strategy: Strategy, cfg: SimulationConfig) -> None:
    """Refuse settings that make ``strategy`` meaningless: too few samples, wrong features.

    Raises
    ------
    ValueError
        A disagreement score (:attr:`~labelwise.strategies.Strategy.min_samples` = 2)
        with K = 1: every score would be 0 and the batch decided by ties. A last-layer
        gradient strategy (:attr:`~labelwise.strategies.Strategy.point_probs`: BADGE, EGL)
        with a split-head model, whose embeddings are not the input of one softmax layer.
        Learning loss without an ``ll-*`` selecting model.
    """
    if "model_scores" in strategy.needs:
        proxy = cfg.uses_proxy and cfg.proxy_model is not None
        name = cfg.proxy_model if proxy else cfg.model
        if not str(name).startswith("ll-"):
            raise ValueError(model_scores_error(cfg, strategy.name))
    if strategy.point_probs:
        for attr in ("model", "proxy_model"):
            name = getattr(cfg, attr)
            if isinstance(name, str) and name.startswith("split-head"):
                raise ValueError(
                    f"strategy {strategy.name!r} reads the embeddings as the input of the "
                    f"softmax layer (a last-layer gradient), but {attr}={name!r} has M heads, "
                    "each with its own hidden layer after the shared trunk; use another model"
                )
        return
    if "probs" not in strategy.needs:
        return
    k = samples_per_item(cfg)
    if k >= strategy.min_samples:
        return
    source = {
        "ensemble": "ensemble_size", "diverse-ensemble": "ensemble_size",
        "split-head": "ensemble_size",
    }.get(cfg.predictor, "mc_samples")
    raise ValueError(
        f"strategy {strategy.name!r} measures disagreement between predictive samples and "
        f"needs K >= {strategy.min_samples}, but predictor={cfg.predictor!r} with "
        f"{source}={getattr(cfg, source)} gives K = {k} (every score would be 0); raise "
        f"{source}"
    )


def _check_ensemble_proxy(cfg: SimulationConfig, data: Dataset) -> None:
    m = cfg.ensemble_size
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
        raise ValueError(f"ensemble_size must be a positive integer, got {m!r}")
    pe = cfg.proxy_epochs
    if pe is not None and (isinstance(pe, bool) or not isinstance(pe, (int, np.integer)) or pe < 1):
        raise ValueError(f"proxy_epochs must be None or a positive integer, got {pe!r}")
    # The predictor shapes the training of the network that selects: the proxy's under
    # selection via proxy (its own epochs when proxy_epochs is set), else the target's.
    if cfg.uses_proxy and pe is not None:
        epochs, which = int(pe), "proxy_epochs"
    else:
        epochs, which = cfg.train.epochs, "train.epochs"
    w = cfg.ensemble_warmup_epochs
    if w is not None and (
        isinstance(w, bool) or not isinstance(w, (int, np.integer))
        or not 1 <= w <= epochs - 1
    ):
        raise ValueError(
            f"ensemble_warmup_epochs must be None or an integer in [1, {which} - 1] = "
            f"[1, {epochs - 1}], got {w!r}"
        )
    if cfg.predictor == "snapshot" and epochs < cfg.mc_samples:
        raise ValueError(
            f"predictor='snapshot' cuts {which}={epochs} into mc_samples="
            f"{cfg.mc_samples} cycles of at least one epoch; raise {which} or lower "
            "mc_samples (the number of snapshots)"
        )
    if cfg.predictor == "diverse-ensemble" and epochs < 2:
        raise ValueError(
            f"predictor='diverse-ensemble' needs {which} >= 2 (a shared warm-up, then "
            f"each member's own epochs), got {epochs}"
        )
    if cfg.predictor in ("snapshot", "diverse-ensemble") and (
        selector_model_name(cfg, data).startswith("ll-")
    ):
        raise ValueError(
            f"predictor={cfg.predictor!r} trains in several calls (cycles / warm-up and "
            "continuations), so a learning-loss model's stop-gradient epoch, counted within "
            "one call, may never be reached; use predictor='auto' or 'ensemble' with ll-* "
            "models"
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
    if cfg.uses_proxy and cfg.ceal_delta0 is not None:
        raise ValueError(
            "CEAL (ceal_delta0) and selection via proxy (proxy_model / proxy_epochs) cannot "
            "be combined; turn one of them off"
        )
    if cfg.predictor == "split-head":
        name = selector_model_name(cfg, data)
        if not name.startswith("split-head"):
            which = "proxy_model" if cfg.uses_proxy else "model"
            raise ValueError(
                f"predictor='split-head' needs a split-head model, got {which}={name!r}; "
                "use 'split-head-mlp'"
            )
