"""Model adapters: turn a model into predictive samples ``[N, K, C]`` or embeddings ``[N, D]``.

- :func:`seeded_dropout`: dropout driven by an explicit ``torch.Generator`` (MC dropout and
  deterministic training), everything else in eval (or train) mode.
- :func:`mc_dropout_predict`: MC dropout samples, computing a deterministic trunk once.
- :func:`ensemble_predict`: deep ensembles; :func:`committee_predict`: scikit-learn committees.
- :func:`extract_embeddings` / :func:`predict_with_embeddings`: features for core-set / BADGE.
- :class:`GalCNN`, :class:`MLP`, :func:`make_model`: small seeded reference networks.
- :func:`train_classifier`, :class:`TrainConfig`, :func:`make_optimizer`, :func:`predict_proba`,
  :func:`evaluate`.
- :func:`predictive_samples` (dispatch), :func:`consistent_mc_dropout_predict`.
- Bayes by backprop: :class:`BayesLinear`, :class:`BayesConv2d`, :func:`bayes_predict`,
  :func:`weight_sampling` (Blundell et al. 2015).
- :func:`expected_gradient_length` (Settles et al. 2008).
- :class:`PredictionRecorder`, :func:`forgetting_counts`, :func:`label_dispersion`
  (Toneva et al. 2019; Bengar et al. 2021).
- :func:`train_snapshot_ensemble` (Huang et al. 2017).
- :class:`LearningLossNet`, :func:`loss_ranking_loss`, :func:`learning_loss_stop_epoch`
  (Yoo & Kweon 2019).
- :func:`train_ensemble`, :func:`train_diverse_ensemble`, :class:`SplitHeadMLP`,
  :func:`split_head_predict`, :func:`stochastic_ensemble_predict` (Beluch et al. 2018).
- :func:`vaal_scores`, :func:`train_vaal`, :class:`VAALConfig`, :func:`gaussian_kl`
  (Sinha et al. 2019).
"""

from labelwise.models.bayes_by_backprop import (
    BayesCNN,
    BayesConv2d,
    BayesLinear,
    BayesMLP,
    ScaleMixturePrior,
    bayes_kl,
    bayes_predict,
    has_bayes_layers,
    weight_sampling,
)
from labelwise.models.dropout import DROPOUT_TYPES, dropout_modules, seeded_dropout
from labelwise.models.egl import expected_gradient_length
from labelwise.models.embeddings import extract_embeddings, predict_with_embeddings
from labelwise.models.ensemble import ensemble_predict
from labelwise.models.forgetting import PredictionRecorder, forgetting_counts, label_dispersion
from labelwise.models.implicit_ensembles import (
    SplitHeadMLP,
    split_head_predict,
    stochastic_ensemble_predict,
    train_diverse_ensemble,
    train_ensemble,
)
from labelwise.models.learning_loss import (
    PAPER_STOP_GRAD_FRACTION,
    LearningLossNet,
    LossPredictionModule,
    learning_loss_stop_epoch,
    loss_ranking_loss,
)
from labelwise.models.mc_dropout import find_trunk_head, mc_dropout_predict
from labelwise.models.networks import MLP, MODEL_NAMES, GalCNN, init_parameters, make_model
from labelwise.models.predictive import consistent_mc_dropout_predict, predictive_samples
from labelwise.models.sklearn_committee import committee_predict
from labelwise.models.snapshot import cosine_cycle_lr, train_snapshot_ensemble
from labelwise.models.training import (
    TrainConfig,
    TrainResult,
    evaluate,
    make_optimizer,
    predict_proba,
    train_classifier,
)
from labelwise.models.vaal import VAALConfig, VAALResult, gaussian_kl, train_vaal, vaal_scores

__all__ = [
    "DROPOUT_TYPES",
    "MLP",
    "MODEL_NAMES",
    "PAPER_STOP_GRAD_FRACTION",
    "BayesCNN",
    "BayesConv2d",
    "BayesLinear",
    "BayesMLP",
    "GalCNN",
    "LearningLossNet",
    "LossPredictionModule",
    "PredictionRecorder",
    "ScaleMixturePrior",
    "SplitHeadMLP",
    "TrainConfig",
    "TrainResult",
    "VAALConfig",
    "VAALResult",
    "bayes_kl",
    "bayes_predict",
    "committee_predict",
    "consistent_mc_dropout_predict",
    "cosine_cycle_lr",
    "dropout_modules",
    "ensemble_predict",
    "evaluate",
    "expected_gradient_length",
    "extract_embeddings",
    "find_trunk_head",
    "forgetting_counts",
    "gaussian_kl",
    "has_bayes_layers",
    "init_parameters",
    "label_dispersion",
    "learning_loss_stop_epoch",
    "loss_ranking_loss",
    "make_model",
    "make_optimizer",
    "mc_dropout_predict",
    "predict_proba",
    "predict_with_embeddings",
    "predictive_samples",
    "seeded_dropout",
    "split_head_predict",
    "stochastic_ensemble_predict",
    "train_classifier",
    "train_diverse_ensemble",
    "train_ensemble",
    "train_snapshot_ensemble",
    "train_vaal",
    "vaal_scores",
    "weight_sampling",
]
