"""Query-by-committee predictive samples ``[N, M, C]`` from scikit-learn classifiers.

Seung, Opper & Sompolinsky (1992), "Query by committee", COLT; vote entropy / consensus
entropy of committees: Settles (2009), "Active learning literature survey", section 3.2.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from sklearn.exceptions import NotFittedError
from sklearn.utils import _safe_indexing
from sklearn.utils.validation import check_is_fitted

__all__ = ["committee_predict"]


def _is_encoded_ensemble(obj: Any) -> bool:
    """Ensembles whose members are fitted on labels encoded as 0..C-1 of ``obj.classes_``."""
    from sklearn.ensemble import (
        BaggingClassifier,
        ExtraTreesClassifier,
        RandomForestClassifier,
    )

    return isinstance(obj, (BaggingClassifier, RandomForestClassifier, ExtraTreesClassifier))


def _check_member(est: Any, label: str) -> None:
    if not hasattr(est, "predict_proba"):
        raise TypeError(
            f"{label} ({type(est).__name__}) has no predict_proba; use a probabilistic "
            "classifier (e.g. SVC(probability=True) or CalibratedClassifierCV)"
        )
    try:
        check_is_fitted(est)
    except NotFittedError as exc:
        raise NotFittedError(
            f"{label} ({type(est).__name__}) is not fitted; call fit(X, y) on every committee "
            "member first"
        ) from exc
    if not hasattr(est, "classes_"):
        raise TypeError(f"{label} ({type(est).__name__}) has no classes_ attribute")


def committee_predict(
    committee: Any,
    X: Any,
    *,
    classes: Sequence[Any] | np.ndarray | None = None,
) -> np.ndarray:
    """Class probabilities of every committee member, aligned on one class axis.

    Parameters
    ----------
    committee : list of fitted classifiers, or a fitted BaggingClassifier / RandomForest
        Members must have ``predict_proba`` and ``classes_``. A bagging ensemble's members
        (``estimators_``) are fitted on labels encoded as ``0..C-1`` of its ``classes_`` and
        on the feature subsets ``estimators_features_``; both are honoured. A single
        fitted classifier is a committee of one (M = 1).
    X : array-like, sparse matrix or Tensor, shape [N, F]
        Inputs, passed to the members as is (a tensor as a numpy array; feature subsets
        taken per bagging member).
    classes : sequence, optional
        The class axis of the result, in order. Default: the ensemble's ``classes_``, or
        the sorted union of the members' ``classes_``. A member that never saw a class
        gets probability 0 in its column.

    Returns
    -------
    ndarray of float64, shape [N, M, C]
        Member ``m``'s probabilities in ``[:, m, :]``; rows sum to 1.

    Raises
    ------
    NotFittedError
        A member is not fitted.
    TypeError
        A member has no ``predict_proba``, or ``committee`` is empty.
    ValueError
        A member knows a class missing from ``classes``, or ``classes`` has duplicates.
    """
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    if _is_encoded_ensemble(committee):
        _check_member(committee, "committee")
        ens_classes = np.asarray(committee.classes_)
        members = list(committee.estimators_)
        feats = getattr(committee, "estimators_features_", None)
        features: list[Any] = list(feats) if feats is not None else [None] * len(members)
        member_classes = []
        for i, est in enumerate(members):
            _check_member(est, f"committee.estimators_[{i}]")
            codes = np.asarray(est.classes_).astype(np.int64)
            member_classes.append(ens_classes[codes])
        default_classes = ens_classes
    else:
        if hasattr(committee, "predict_proba") and not isinstance(committee, (list, tuple)):
            committee = [committee]
        if not isinstance(committee, (list, tuple)):
            raise TypeError(
                "committee must be a list of fitted classifiers or a fitted BaggingClassifier, "
                f"got {type(committee).__name__}"
            )
        members = list(committee)
        if not members:
            raise TypeError("committee is empty; it needs at least one fitted classifier")
        features = [None] * len(members)
        member_classes = []
        for i, est in enumerate(members):
            _check_member(est, f"committee[{i}]")
            member_classes.append(np.asarray(est.classes_))
        try:
            default_classes = np.unique(np.concatenate(member_classes))
        except TypeError as exc:
            raise ValueError(
                "committee members' classes_ cannot be sorted together (mixed types?); pass "
                "classes= explicitly"
            ) from exc

    if classes is None:
        cls = default_classes
    else:
        cls = np.asarray(classes)
        if cls.ndim != 1 or cls.size == 0:
            raise ValueError(f"classes must be a non-empty 1-D sequence, got shape {cls.shape}")
        if len(set(cls.tolist())) != cls.size:
            raise ValueError(f"classes has duplicates: {cls.tolist()}")
    position = {c: j for j, c in enumerate(cls.tolist())}

    n = X.shape[0] if hasattr(X, "shape") else len(X)
    out = np.zeros((n, len(members), len(cls)), dtype=np.float64)
    for i, (est, f, mc) in enumerate(zip(members, features, member_classes)):
        missing = [c for c in mc.tolist() if c not in position]
        if missing:
            raise ValueError(
                f"committee member {i} ({type(est).__name__}) predicts classes {missing} that "
                f"are not in classes={cls.tolist()}; add them to classes"
            )
        cols = np.array([position[c] for c in mc.tolist()], dtype=np.int64)
        Xi = X if f is None else _safe_indexing(X, np.asarray(f), axis=1)
        p = np.asarray(est.predict_proba(Xi), dtype=np.float64)
        if p.shape != (n, len(cols)):
            raise ValueError(
                f"committee member {i} returned predict_proba of shape {p.shape}, expected "
                f"{(n, len(cols))} (N items x its {len(cols)} classes_)"
            )
        out[:, i, cols] = p
    return out
