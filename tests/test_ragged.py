"""Sequences of their own lengths: a list of 2-D arrays, packed in the kernels."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.model_selection import GridSearchCV, cross_val_score

from sklstm import LSTMClassifier, LSTMRegressor
from sklstm._sequences import RaggedSequences, length_sorted_batches

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def ragged_data(n_samples=150, n_features=2, seed=0, dtype=np.float64):
    """Sign of the running sum of feature 0, over sequences of 2 to 12 steps."""
    rng = np.random.RandomState(seed)
    lengths = rng.randint(2, 13, size=n_samples)
    X = [rng.normal(size=(n, n_features)).astype(dtype) for n in lengths]
    y = np.array([int(x[:, 0].sum() > 0) for x in X])
    return X, y


def small(estimator_class, **params):
    return estimator_class(
        **{"hidden_layer_sizes": (6, 5), "max_iter": 3, "random_state": 0, **params}
    )


@pytest.mark.parametrize("estimator_class", [LSTMClassifier, LSTMRegressor])
def test_ragged_prediction_equals_one_by_one(estimator_class):
    X, y = ragged_data()
    est = small(estimator_class).fit(X, y)
    predict = est.predict_proba if estimator_class is LSTMClassifier else est.predict
    together = predict(X)
    alone = np.concatenate([predict(x[None]) for x in X])
    assert_allclose(together, alone, rtol=1e-10, atol=1e-12)
    # A list of one sequence too (it takes the single-sequence route).
    listed = np.concatenate([predict([x]) for x in X])
    assert_allclose(together, listed, rtol=1e-10, atol=1e-12)


def test_ragged_classifier_learns():
    X, y = ragged_data(n_samples=400)
    X_test, y_test = ragged_data(n_samples=200, seed=1)
    est = LSTMClassifier(
        hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=40, random_state=0
    ).fit(X, y)
    assert est.score(X_test, y_test) > 0.9


def test_equal_length_list_is_the_dense_path():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 5, 2))
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    from_array = small(LSTMClassifier).fit(X, y)
    from_list = small(LSTMClassifier).fit(list(X), y)
    assert_array_equal(from_list.predict_proba(list(X)), from_array.predict_proba(X))
    # And a dense model predicts ragged sequences.
    ragged, _ = ragged_data(n_samples=10)
    assert from_array.predict(ragged).shape == (10,)


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_ragged_fit_variants(solver):
    X, y = ragged_data(n_samples=60)
    est = small(LSTMRegressor, solver=solver, early_stopping=solver == "adam")
    est.fit(X, y.astype(float), sample_weight=np.linspace(0.5, 1.5, 60))
    assert np.isfinite(est.predict(X)).all()
    objects = np.empty(len(X), dtype=object)
    objects[:] = X
    assert_allclose(est.predict(objects), est.predict(X))


def test_ragged_float32_stays_float32():
    X, y = ragged_data(n_samples=30, dtype=np.float32)
    est = small(LSTMClassifier).fit(X, y)
    assert est.get_weights()[0].dtype == np.float32
    assert est.predict_proba(X).dtype == np.float32


def test_ragged_input_with_scikit_learn_tools():
    """A plain list of sequences goes through splitters, searches and scoring."""
    X, y = ragged_data(n_samples=90)
    scores = cross_val_score(small(LSTMClassifier), X, y, cv=3)
    assert scores.shape == (3,)
    search = GridSearchCV(
        small(LSTMClassifier), {"hidden_layer_sizes": [(4,), (6,)]}, cv=2, n_jobs=2
    ).fit(X, y)
    assert search.predict(X[:5]).shape == (5,)


@pytest.mark.parametrize(
    "X, message",
    [
        ([np.zeros((3, 2)), np.zeros((0, 2))], r"X\[1\] has shape \(0, 2\)"),
        (
            [np.zeros((3, 2)), np.zeros((4, 3))],
            r"same number of features: X\[0\] has 2, X\[1\] has 3",
        ),
        ([np.zeros((3, 2)), np.zeros(4)], r"X\[1\] has shape \(4,\)"),
        ([np.zeros((3, 2)), np.full((2, 2), np.nan)], r"Input X\[1\] contains NaN"),
        ([np.zeros((3, 2)), np.full((2, 2), "a")], "could not convert|dtype"),
    ],
)
def test_bad_ragged_input_is_a_clear_error(X, message):
    with pytest.raises(ValueError, match=message):
        small(LSTMClassifier).fit(X, [0, 1])


def test_ragged_feature_count_is_checked_at_predict():
    X, y = ragged_data(n_samples=20)
    est = small(LSTMClassifier).fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but LSTMClassifier is"):
        est.predict([np.zeros((2, 3)), np.zeros((4, 3))])


def test_length_sorted_batches_group_lengths_and_stay_random():
    rng = np.random.RandomState(0)
    lengths = rng.randint(10, 91, size=2000)
    index = rng.permutation(2000)
    batches = length_sorted_batches(lengths, index, 32, rng)
    assert_array_equal(np.sort(np.concatenate(batches)), np.arange(2000))
    padded = sum(len(b) * lengths[b].max() for b in batches)
    random_padded = sum(
        len(b) * lengths[b].max() for b in np.array_split(index, len(batches))
    )
    # Grouping similar lengths wastes far less on padding than random batches.
    assert padded < 0.7 * random_padded
    assert padded < 1.1 * lengths.sum()
    again = length_sorted_batches(lengths, rng.permutation(2000), 32, rng)
    assert not all(np.array_equal(a, b) for a, b in zip(batches, again))


def test_taking_ragged_sequences_keeps_each_whole():
    """Subsets (early-stopping splits) gather whole sequences, in the given order."""
    rng = np.random.RandomState(0)
    lengths = rng.randint(1, 6, size=10)
    values = rng.normal(size=(lengths.sum(), 2))
    sequences = RaggedSequences(values, lengths)
    index = np.array([7, 2, 2, 9, 0])
    taken = sequences.take(index)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    expected = [values[starts[i] : starts[i] + lengths[i]] for i in index]
    assert_array_equal(taken.values, np.concatenate(expected))
    assert_array_equal(taken.lengths, lengths[index])


def test_ragged_partial_fit_and_pipeline():
    from sklearn.pipeline import make_pipeline

    from sklstm import SequenceScaler

    X, y = ragged_data(n_samples=120)
    X_scaled = [100 * x + 5 for x in X]  # far from standardised
    est = small(LSTMClassifier, learning_rate_init=0.01)
    est.partial_fit(X[:60], y[:60], classes=[0, 1])
    est.partial_fit(X[60:], y[60:])
    assert est.predict_proba(X).shape == (120, 2)
    pipeline = make_pipeline(
        SequenceScaler(),
        LSTMClassifier(
            hidden_layer_sizes=(8,),
            learning_rate_init=0.005,
            max_iter=30,
            random_state=0,
        ),
    ).fit(X_scaled, y)
    X_test, y_test = ragged_data(n_samples=100, seed=1)
    assert pipeline.score([100 * x + 5 for x in X_test], y_test) > 0.85
