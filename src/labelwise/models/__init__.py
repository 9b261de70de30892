"""Model adapters: turn a model into predictive samples ``[N, K, C]`` or embeddings ``[N, D]``.

- :func:`seeded_dropout`: dropout driven by an explicit ``torch.Generator`` (MC dropout and
  deterministic training), everything else in eval (or train) mode.
- :func:`mc_dropout_predict`: MC dropout samples, computing a deterministic trunk once.
- :func:`ensemble_predict`: deep ensembles; :func:`committee_predict`: scikit-learn committees.
- :func:`extract_embeddings` / :func:`predict_with_embeddings`: features for core-set / BADGE.
- :class:`GalCNN`, :class:`MLP`, :func:`make_model`: small seeded reference networks.
- :func:`train_classifier`, :class:`TrainConfig`, :func:`predict_proba`, :func:`evaluate`.
"""

from labelwise.models.dropout import DROPOUT_TYPES, dropout_modules, seeded_dropout
from labelwise.models.embeddings import extract_embeddings, predict_with_embeddings
from labelwise.models.ensemble import ensemble_predict
from labelwise.models.mc_dropout import find_trunk_head, mc_dropout_predict
from labelwise.models.networks import MLP, MODEL_NAMES, GalCNN, init_parameters, make_model
from labelwise.models.sklearn_committee import committee_predict
from labelwise.models.training import (
    TrainConfig,
    TrainResult,
    evaluate,
    predict_proba,
    train_classifier,
)

__all__ = [
    "DROPOUT_TYPES",
    "MLP",
    "MODEL_NAMES",
    "GalCNN",
    "TrainConfig",
    "TrainResult",
    "committee_predict",
    "dropout_modules",
    "ensemble_predict",
    "evaluate",
    "extract_embeddings",
    "find_trunk_head",
    "init_parameters",
    "make_model",
    "mc_dropout_predict",
    "predict_proba",
    "predict_with_embeddings",
    "seeded_dropout",
    "train_classifier",
]
