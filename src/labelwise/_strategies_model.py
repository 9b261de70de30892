"""Registered strategies that need more than predictive samples from the model.

Loaded by :mod:`labelwise.strategies` through ``_EXTENSION_MODULES``.

- ``egl``: expected gradient length of the last layer (needs probs and embeddings);
- ``label-dispersion``: how often the network changed its mind about an item during
  training (needs ``training_predictions`` ``[E, N]``, recorded by the loop);
- ``learning-loss``: the highest loss predicted by a loss-prediction module (needs
  ``model_scores`` ``[N]``; the loop computes them with ``model.acquisition_scores``, so the
  model must be ``ll-mlp`` / ``ll-cnn`` or another :class:`~labelwise.models.LearningLossNet`).

Extra inputs arrive as keyword arguments of :meth:`Strategy.select` (``training_predictions=``,
``model_scores=``); a missing one is a :class:`~labelwise.errors.ShapeError` naming it.

- ``vaal``: variational adversarial active learning (needs ``inputs`` ``[N, ...]``, the
  candidates' raw inputs, and ``labeled_inputs`` ``[N_l, ...]``; trains a β-VAE and a
  discriminator on them, scores ``1 - D(mu(x))``). Parameters: any field of
  :class:`~labelwise.models.VAALConfig` (e.g. ``iterations``, ``latent_dim``, ``beta``) and
  ``device``.
"""

from __future__ import annotations

from typing import Any

from labelwise._validation import RNGLike, as_tensor, check_scores
from labelwise.errors import ShapeError
from labelwise.select import Selection, top_k
from labelwise.strategies import Strategy

__all__ = ["STRATEGIES"]


def _egl_fn(
    k: int, *, probs: Any, embeddings: Any, exclude: Any, rng: RNGLike,
    include_bias: bool = True, **_: Any,
) -> Selection:
    from labelwise.models.egl import expected_gradient_length

    scores = as_tensor(
        expected_gradient_length(probs, embeddings, include_bias=include_bias), "egl"
    )
    sel = top_k(scores, k, exclude=exclude, rng=rng)
    return Selection(sel.indices, sel.gains, {**sel.info, "score": "egl"})


def _label_dispersion_fn(
    k: int, *, n: int, exclude: Any, rng: RNGLike, training_predictions: Any = None, **_: Any
) -> Selection:
    from labelwise.models.forgetting import label_dispersion

    if training_predictions is None:
        raise ShapeError(
            "strategy 'label-dispersion' needs training_predictions=[E, N] (the predicted "
            "class of every candidate after each training epoch; the simulation loop records "
            "them, or use labelwise.models.PredictionRecorder)"
        )
    preds = as_tensor(training_predictions, "training_predictions")
    if preds.ndim != 2 or preds.shape[1] != n:
        raise ShapeError(
            f"training_predictions must be [E, N] with N = {n} candidates, got shape "
            f"{tuple(preds.shape)}"
        )
    scores = as_tensor(label_dispersion(preds), "label dispersion")
    sel = top_k(scores, k, exclude=exclude, rng=rng)
    return Selection(sel.indices, sel.gains, {**sel.info, "score": "label-dispersion"})


def _learning_loss_fn(
    k: int, *, n: int, exclude: Any, rng: RNGLike, model_scores: Any = None, **_: Any
) -> Selection:
    if model_scores is None:
        raise ShapeError(
            "strategy 'learning-loss' needs model_scores=[N], the predicted losses (the loop "
            "calls model.acquisition_scores; train with --model ll-mlp or ll-cnn)"
        )
    scores = check_scores(model_scores, "model_scores")
    if scores.shape[0] != n:
        raise ShapeError(f"model_scores has {scores.shape[0]} items but n={n} candidates")
    sel = top_k(scores, k, exclude=exclude, rng=rng)
    return Selection(sel.indices, sel.gains, {**sel.info, "score": "predicted-loss"})


def _vaal_fn(
    k: int, *, n: int, exclude: Any, rng: RNGLike, inputs: Any = None,
    labeled_inputs: Any = None, device: str = "cpu", probs: Any = None,
    embeddings: Any = None, **params: Any,
) -> Selection:
    import dataclasses

    from labelwise._validation import torch_generator
    from labelwise.models.vaal import VAALConfig, vaal_scores

    if inputs is None or labeled_inputs is None:
        raise ShapeError(
            "strategy 'vaal' needs inputs=[N, ...] (the candidates' raw inputs) and "
            "labeled_inputs=[N_l, ...] (the labeled items' inputs); the simulation loop "
            "passes both"
        )
    x = as_tensor(inputs, "inputs")
    if x.ndim < 2 or x.shape[0] != n:
        raise ShapeError(
            f"inputs must be [N, ...] with N = {n} candidates, got shape {tuple(x.shape)}"
        )
    fields = {f.name for f in dataclasses.fields(VAALConfig)}
    unknown = set(params) - fields
    if unknown:
        raise TypeError(
            f"strategy 'vaal' got unknown parameters {sorted(unknown)}; it accepts "
            f"{sorted(fields)} and device"
        )
    config = VAALConfig(**{key: v for key, v in params.items() if key in fields})
    scores = vaal_scores(
        labeled_inputs, x, config=config, generator=torch_generator(rng, device), device=device
    )
    sel = top_k(scores, k, exclude=exclude, rng=rng)
    return Selection(sel.indices, sel.gains, {**sel.info, "score": "vaal"})


STRATEGIES: list[Strategy] = [
    Strategy(
        "egl",
        "Expected norm of the last-layer gradient under the predicted labels (closed form).",
        "Settles, Craven & Ray 2008 (expected gradient length)",
        frozenset({"probs", "embeddings"}),
        _egl_fn,
        {"include_bias": True},
        point_probs=True,  # p and h of one network: its own last-layer gradient
    ),
    Strategy(
        "label-dispersion",
        "1 - modal count / epochs of the predictions recorded during training.",
        "Bengar et al. 2021; Toneva et al. 2019 (forgetting events)",
        frozenset({"training_predictions"}),
        _label_dispersion_fn,
    ),
    Strategy(
        "learning-loss",
        "Highest loss predicted by a loss-prediction module (needs --model ll-mlp/ll-cnn).",
        "Yoo & Kweon 2019 (learning loss for active learning)",
        frozenset({"model_scores"}),
        _learning_loss_fn,
    ),
    Strategy(
        "vaal",
        "Items a labeled-vs-unlabeled discriminator on β-VAE latents thinks are unlabeled.",
        "Sinha, Ebrahimi & Darrell 2019 (variational adversarial active learning)",
        frozenset({"inputs"}),
        _vaal_fn,
    ),
]
