"""ensemble_predict (torch) and committee_predict (scikit-learn)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification
from sklearn.ensemble import BaggingClassifier, RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression, Perceptron
from sklearn.neighbors import KNeighborsClassifier
from sklearn.tree import DecisionTreeClassifier
from torch.utils.data import DataLoader, TensorDataset

from labelwise.models import MLP, committee_predict, ensemble_predict

# --------------------------------------------------------------------------- ensembles
from tests._helpers import gen


def test_ensemble_matches_members_in_eval_mode():
    members = [MLP(5, 3, hidden=(8,), generator=gen(s)) for s in range(3)]
    members[0].train()
    x = torch.randn(11, 5, generator=gen(9))
    p = ensemble_predict(members, x, batch_size=4)
    assert p.shape == (11, 3, 3)
    assert members[0].training and all(m.training for m in members[0].modules())
    for j, m in enumerate(members):
        m.eval()
        assert torch.allclose(p[:, j], m(x).softmax(-1), atol=1e-6)
    assert torch.equal(p, ensemble_predict(members, x.numpy(), batch_size=4))
    loader = DataLoader(TensorDataset(x, torch.zeros(11)), batch_size=4)
    assert torch.equal(p, ensemble_predict(members, loader))
    lp = ensemble_predict(members, x, return_log_probs=True)
    assert torch.allclose(lp.exp(), p, atol=1e-6)
    state = torch.get_rng_state()
    ensemble_predict(members, x)
    assert torch.equal(state, torch.get_rng_state())


def test_ensemble_errors():
    x = torch.randn(4, 5)
    with pytest.raises(TypeError, match="sequence"):
        ensemble_predict(MLP(5, 3, generator=gen(0)), x)
    with pytest.raises(ValueError, match="empty"):
        ensemble_predict([], x)
    with pytest.raises(ValueError, match="number of classes"):
        ensemble_predict([MLP(5, 3, generator=gen(0)), MLP(5, 4, generator=gen(0))], x)
    with pytest.raises(TypeError, match=r"models\[1\]"):
        ensemble_predict([MLP(5, 3, generator=gen(0)), "net"], x)


# --------------------------------------------------------------------------- committees


@pytest.fixture(scope="module")
def problem():
    X, y = make_classification(
        n_samples=90, n_features=6, n_informative=4, n_classes=3, random_state=0
    )
    return X, y


def test_list_committee_aligns_a_member_that_missed_a_class(problem):
    X, y = problem
    full = LogisticRegression(max_iter=500).fit(X, y)
    sub = y != 1
    partial = LogisticRegression(max_iter=500).fit(X[sub], y[sub])
    p = committee_predict([full, partial], X)
    assert p.shape == (90, 2, 3)
    np.testing.assert_array_equal(p[:, 0], full.predict_proba(X))
    np.testing.assert_array_equal(p[:, 1, [0, 2]], partial.predict_proba(X))
    assert (p[:, 1, 1] == 0).all()
    np.testing.assert_allclose(p.sum(-1), 1.0)
    # order of members follows the list; single classifier = committee of one
    q = committee_predict([partial, full], X)
    np.testing.assert_array_equal(q[:, 0], p[:, 1])
    assert committee_predict(full, X).shape == (90, 1, 3)
    np.testing.assert_array_equal(committee_predict([full, partial], torch.from_numpy(X)), p)


def test_declared_classes_and_string_labels(problem):
    X, y = problem
    names = np.array(["cat", "dog", "eel"])[y]
    a = LogisticRegression(max_iter=500).fit(X, names)
    b = DecisionTreeClassifier(random_state=0).fit(X[names != "cat"], names[names != "cat"])
    p = committee_predict([a, b], X, classes=["eel", "dog", "cat", "fox"])
    assert p.shape == (90, 2, 4)
    np.testing.assert_array_equal(p[:, 0, [2, 1, 0]], a.predict_proba(X))
    np.testing.assert_array_equal(p[:, 1, [1, 0]], b.predict_proba(X))
    assert (p[:, :, 3] == 0).all() and (p[:, 1, 2] == 0).all()
    with pytest.raises(ValueError, match="cat"):
        committee_predict([a, b], X, classes=["dog", "eel"])
    with pytest.raises(ValueError, match="duplicates"):
        committee_predict([a], X, classes=["dog", "dog", "cat", "eel"])


def test_bagging_with_feature_subsets_matches_sklearn():
    X, y = make_classification(
        n_samples=60,
        n_features=8,
        n_informative=5,
        n_classes=3,
        weights=[0.47, 0.47, 0.06],
        random_state=1,
    )
    labels = np.array(["a", "b", "c"])[y]
    bag = BaggingClassifier(
        # k-NN takes no sample_weight, so bagging really subsamples and some members
        # never see the rare class
        KNeighborsClassifier(3),
        n_estimators=12,
        max_features=0.5,
        max_samples=0.3,
        random_state=0,
    ).fit(X, labels)
    assert any(len(est.classes_) < 3 for est in bag.estimators_), "test needs a partial member"
    p = committee_predict(bag, X)
    assert p.shape == (60, 12, 3)
    np.testing.assert_allclose(p.mean(axis=1), bag.predict_proba(X), atol=1e-12)
    feats = bag.estimators_features_[0]
    m0 = bag.estimators_[0]
    np.testing.assert_array_equal(p[:, 0, m0.classes_.astype(int)], m0.predict_proba(X[:, feats]))


def test_random_forest_matches_sklearn(problem):
    X, y = problem
    rf = RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0).fit(X, y + 10)
    p = committee_predict(rf, X)
    np.testing.assert_allclose(p.mean(axis=1), rf.predict_proba(X), atol=1e-12)


def test_committee_errors(problem):
    X, y = problem
    fitted = LogisticRegression(max_iter=500).fit(X, y)
    with pytest.raises(NotFittedError, match=r"committee\[1\]"):
        committee_predict([fitted, LogisticRegression()], X)
    with pytest.raises(TypeError, match="predict_proba"):
        committee_predict([fitted, Perceptron().fit(X, y)], X)
    with pytest.raises(TypeError, match="empty"):
        committee_predict([], X)
    with pytest.raises(TypeError, match="list of fitted"):
        committee_predict("model", X)
