"""dropout and recurrent_dropout: training only, reproducible, Keras' semantics."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from reference import reference_network

from sklstm import LSTMClassifier, LSTMRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

RATES = [(0.3, 0.0), (0.0, 0.3), (0.3, 0.3)]


def data(n_samples=120, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_samples, 6, 3))
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    return X, y


def model(dropout, recurrent_dropout, **params):
    defaults = dict(hidden_layer_sizes=(6, 5), max_iter=3, random_state=0)
    return LSTMClassifier(
        dropout=dropout, recurrent_dropout=recurrent_dropout, **{**defaults, **params}
    )


@pytest.mark.parametrize("dropout, recurrent_dropout", RATES)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_dropout_is_off_at_predict_time(dropout, recurrent_dropout, bidirectional):
    X, y = data()
    est = model(dropout, recurrent_dropout, bidirectional=bidirectional).fit(X, y)
    first = est.predict_proba(X)
    assert_array_equal(est.predict_proba(X), first)
    expected = reference_network(
        est.get_weights(), X, [6] * len(X), "logistic", bidirectional
    )
    assert_allclose(first[:, 1:], expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dropout, recurrent_dropout", RATES)
def test_dropout_is_reproducible_and_changes_training(dropout, recurrent_dropout):
    X, y = data()
    first = model(dropout, recurrent_dropout).fit(X, y)
    second = model(dropout, recurrent_dropout).fit(X, y)
    plain = model(0.0, 0.0).fit(X, y)
    for a, b in zip(first.get_weights(), second.get_weights()):
        assert_array_equal(a, b)
    assert not all(
        np.allclose(a, c) for a, c in zip(first.get_weights(), plain.get_weights())
    )
    assert first.loss_curve_ == second.loss_curve_


def test_dropout_model_still_learns():
    X, y = data(n_samples=400)
    X_test, y_test = data(n_samples=200, seed=1)
    est = LSTMRegressor(
        hidden_layer_sizes=(16,),
        dropout=0.2,
        recurrent_dropout=0.2,
        learning_rate_init=0.01,
        max_iter=60,
        random_state=0,
    ).fit(X, X[:, -1, 0] + 0.5 * X[:, -2, 1])
    assert est.score(X_test, X_test[:, -1, 0] + 0.5 * X_test[:, -2, 1]) > 0.8
    classifier = model(
        0.2, 0.2, hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=40
    ).fit(X, y)
    assert classifier.score(X_test, y_test) > 0.85


def test_dropout_needs_a_minibatch_solver():
    X, y = data()
    with pytest.raises(ValueError, match="need a minibatch solver"):
        model(0.2, 0.0, solver="lbfgs").fit(X, y)
    with pytest.raises(ValueError, match="dropout"):
        model(1.0, 0.0).fit(X, y)
