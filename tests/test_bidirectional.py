"""Bidirectional layers: Keras' layout, the reference forward, ragged sequences."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from reference import reference_network

from sklstm import LSTMClassifier, LSTMRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def ragged_data(n_samples=80, seed=0, lengths=(2, 10)):
    rng = np.random.RandomState(seed)
    lengths = rng.randint(lengths[0], lengths[1] + 1, size=n_samples)
    X = [rng.normal(size=(n, 3)) for n in lengths]
    # The label is the sign of the first step: at the far end for the forward
    # direction, at the start for the backward one.
    y = np.array([int(x[0, 0] > 0) for x in X])
    return X, y


def bidirectional(estimator_class, **params):
    defaults = dict(hidden_layer_sizes=(5, 4), bidirectional=True, random_state=0)
    return estimator_class(**{**defaults, "max_iter": 3, **params})


def test_get_weights_follow_keras_bidirectional_layout():
    X, y = ragged_data()
    est = bidirectional(LSTMClassifier).fit(X, y)
    shapes = [w.shape for w in est.get_weights()]
    assert shapes == [
        (3, 20), (5, 20), (20,),  # layer 1 forward
        (3, 20), (5, 20), (20,),  # layer 1 backward
        (10, 16), (4, 16), (16,),  # layer 2 forward, reads both directions
        (10, 16), (4, 16), (16,),  # layer 2 backward
        (8, 1), (1,),  # head on [forward last state, backward last state]
    ]  # fmt: skip
    with pytest.raises(
        ValueError, match=r"Expected 14 weight arrays \(2 LSTM layers x 6"
    ):
        est.set_weights(est.get_weights()[:-1])


@pytest.mark.parametrize("estimator_class", [LSTMClassifier, LSTMRegressor])
def test_bidirectional_prediction_matches_reference(estimator_class):
    X, y = ragged_data()
    est = bidirectional(estimator_class).fit(X, y)
    expected = reference_network(
        est.get_weights(), [x for x in X], [len(x) for x in X], est._head, True
    )
    predict = est.predict_proba if estimator_class is LSTMClassifier else est.predict
    prediction = predict(X)
    if estimator_class is LSTMClassifier:
        prediction = prediction[:, 1:]
    else:
        expected = expected.ravel()
    assert_allclose(prediction, expected, rtol=1e-10, atol=1e-12)
    alone = np.concatenate([predict(x[None]) for x in X])
    assert_allclose(predict(X), alone, rtol=1e-10, atol=1e-12)


def test_bidirectional_learns_from_the_start_of_long_sequences():
    """The backward direction reads the first step last: it learns this task
    better than the forward direction alone with the same budget, on
    sequences long enough (10 to 20 steps) that the gap does not depend on
    rounding."""
    X, y = ragged_data(n_samples=300, lengths=(10, 20))
    X_test, y_test = ragged_data(n_samples=200, seed=1, lengths=(10, 20))
    scores = {}
    for both_ways in (True, False):
        est = bidirectional(
            LSTMClassifier,
            hidden_layer_sizes=(8,),
            learning_rate_init=0.02,
            max_iter=30,
            bidirectional=both_ways,
        ).fit(X, y)
        scores[both_ways] = est.score(X_test, y_test)
    assert scores[True] >= 0.93
    assert scores[True] > scores[False]


def test_bidirectional_is_fixed_at_the_first_fit():
    X, y = ragged_data()
    est = bidirectional(LSTMClassifier).fit(X, y)
    est.set_params(bidirectional=False, warm_start=True)
    with pytest.raises(ValueError, match="bidirectional=False differs"):
        est.fit(X, y)
    one_way = bidirectional(LSTMClassifier, bidirectional=False).fit(X, y)
    assert len(one_way.get_weights()) == 8
    assert_array_equal(one_way.predict(X[:3]).shape, (3,))
