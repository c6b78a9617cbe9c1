"""lbfgs, sample and class weights, multilabel targets, log-probabilities."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.class_weight import compute_sample_weight

from sklstm import LSTMClassifier, LSTMRegressor
from sklstm._sequences import DenseSequences, RaggedSequences
from sklstm._training import _may_repeat, merged_samples
from sklstm._validation import class_weights

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

ESTIMATORS = [LSTMClassifier, LSTMRegressor]


def make_data(estimator_class, n_samples=60, n_steps=5, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_samples, n_steps, 3))
    if estimator_class is LSTMClassifier:
        y = np.digitize(X[:, :, 0].sum(axis=1), [-1.0, 1.0])
    else:
        y = X[:, -1, 0] - 0.5 * X[:, -2, 1]
    return X, y


def lbfgs(estimator_class, **params):
    return estimator_class(
        hidden_layer_sizes=(6,), solver="lbfgs", random_state=0, **params
    )


@pytest.mark.parametrize("estimator_class", ESTIMATORS)
def test_lbfgs_beats_five_epochs_of_adam(estimator_class):
    X, y = make_data(estimator_class)
    full = lbfgs(estimator_class, max_iter=200).fit(X, y)
    adam = estimator_class(
        hidden_layer_sizes=(6,), max_iter=5, random_state=0, learning_rate_init=0.01
    ).fit(X, y)
    assert full.loss_ < adam.loss_
    assert full.loss_ == pytest.approx(full.loss_curve_[-1])
    assert full.n_iter_ == len(full.loss_curve_)
    assert full.score(X, y) > adam.score(X, y)


@pytest.mark.parametrize("estimator_class", ESTIMATORS)
def test_lbfgs_is_deterministic(estimator_class):
    X, y = make_data(estimator_class)
    first = lbfgs(estimator_class, max_iter=30).fit(X, y)
    second = lbfgs(estimator_class, max_iter=30).fit(X, y)
    for a, b in zip(first.get_weights(), second.get_weights()):
        assert_array_equal(a, b)


def test_lbfgs_warns_when_max_iter_is_reached_and_has_no_partial_fit():
    X, y = make_data(LSTMClassifier)
    est = lbfgs(LSTMClassifier, max_iter=3)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge after 3"):
        est.fit(X, y)
    assert not hasattr(est, "partial_fit")
    with pytest.raises(AttributeError, match="has no attribute 'partial_fit'"):
        est.partial_fit(X, y)
    assert hasattr(est.set_params(solver="adam"), "partial_fit")


def test_lbfgs_loss_in_chunks_equals_one_batch(monkeypatch):
    """Full-batch losses summed over bounded-memory chunks are the same loss."""
    X, y = make_data(LSTMRegressor, n_samples=50)
    weights = np.random.RandomState(1).uniform(0.5, 2, size=50)
    one_batch = lbfgs(LSTMRegressor, max_iter=5, alpha=0.1).fit(X, y, weights)
    monkeypatch.setattr("sklstm._model._CHUNK_SEQUENCES", 7)
    chunked = lbfgs(LSTMRegressor, max_iter=5, alpha=0.1).fit(X, y, weights)
    assert_allclose(chunked.loss_curve_, one_batch.loss_curve_, rtol=1e-10)


@pytest.mark.parametrize("alpha", [1e-4, 0.3])
@pytest.mark.parametrize("estimator_class", ESTIMATORS)
def test_integer_weight_equals_repeated_sample(estimator_class, alpha):
    # L-BFGS merges repeats into weights and orders samples by their content:
    # a weight of k and k repeats, in any order, give the same model to the bit
    # (its iterations would magnify any difference in rounding).
    X, y = make_data(estimator_class, n_samples=30)
    weights = np.random.RandomState(2).randint(0, 4, size=30)
    shuffled = np.random.RandomState(3).permutation(30)
    weighted = lbfgs(estimator_class, alpha=alpha).fit(
        X[shuffled], y[shuffled], sample_weight=weights[shuffled]
    )
    repeated = lbfgs(estimator_class, alpha=alpha).fit(
        np.repeat(X, weights, axis=0), np.repeat(y, weights, axis=0)
    )
    method = "predict_proba" if estimator_class is LSTMClassifier else "predict"
    assert_array_equal(getattr(weighted, method)(X), getattr(repeated, method)(X))
    assert weighted.n_iter_ == repeated.n_iter_ > 20


@pytest.mark.parametrize("estimator_class", ESTIMATORS)
def test_lbfgs_merges_repeats_only(estimator_class):
    # Merging repeats changes nothing for data that has none.
    X, y = make_data(estimator_class, n_samples=30)
    data, y_merged, weight, counts = merged_samples(DenseSequences(X), y, None)
    assert data.X is X and y_merged is y and weight is None and counts is None
    # ... and merges repeats of a sequence with its target, not with another's.
    X2, y2 = np.concatenate([X, X[:3]]), np.concatenate([y, y[:3]])
    y2[-1] = y2[0] if estimator_class is LSTMRegressor else y2[-1]
    data, y_merged, weight, counts = merged_samples(DenseSequences(X2), y2, None)
    assert data.n_samples == 30 + (y2[-1] != y[2])
    assert weight.sum() == 33 and counts.sum() == 33


@pytest.mark.parametrize("ragged", [False, True])
def test_the_repeat_check_of_many_float32_sequences(ragged):
    # Every fit checks for repeated sequences by projecting each one's first and
    # last steps; 200,000 float32 sequences share float32 projections by
    # chance, not float64 ones. A repeat, or rows that agree but in one
    # reading, are still told apart.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200_000, 3, 2)).astype(np.float32)

    def data(X):
        if not ragged:
            return DenseSequences(X)
        return RaggedSequences(X.reshape(-1, 2), np.full(len(X), 3))

    assert not _may_repeat(data(X))
    X[5, 1:] = X[7, 1:]
    X[5, 0, 0] = X[7, 0, 0]
    assert not _may_repeat(data(X))  # X[5, 0, 1] still differs
    X[5, 0, 1] = X[7, 0, 1]
    assert _may_repeat(data(X))
    # Missing readings make NaN projections, which tie and are compared row by
    # row: rows that differ elsewhere are no repeats.
    X[5, 0, 1] = X[7, 0, 1] + 1
    X[[11, 13], 0, 0] = np.nan
    assert not _may_repeat(data(X))


@pytest.mark.parametrize("solver", ["adam", "rmsprop", "sgd"])
def test_minibatch_weights_weight_the_mean_loss(solver):
    """A minibatch step minimises sum(w * loss) / sum(w), as MLP's does."""
    X, y = make_data(LSTMRegressor, n_samples=40)
    weights = np.random.RandomState(3).uniform(0, 3, size=40)
    # Targets standardised under the weights: the loss in y's units is the one
    # the network trains on.
    y = y - np.average(y, weights=weights)
    y = y / np.sqrt(np.average(y**2, weights=weights))
    est = LSTMRegressor(
        hidden_layer_sizes=(5,), solver=solver, batch_size=40, random_state=0
    )
    est.partial_fit(X, y, sample_weight=weights)
    # The epoch loss is computed before the step, at the initial weights.
    initial = LSTMRegressor(
        hidden_layer_sizes=(5,), random_state=0, learning_rate_init=1e-300
    ).partial_fit(X, y, sample_weight=weights)
    residuals = initial.predict(X) - y
    expected = np.dot(weights, 0.5 * residuals**2) / weights.sum()
    expected += (
        0.5
        * est.alpha
        * sum(np.sum(w**2) for w in initial.get_weights() if w.ndim == 2)
        / weights.sum()
    )
    assert est.loss_ == pytest.approx(expected, rel=1e-6)


def test_zero_weight_batches_are_skipped():
    X, y = make_data(LSTMClassifier)
    weights = np.ones(60)
    weights[:30] = 0
    est = LSTMClassifier(
        hidden_layer_sizes=(5,),
        batch_size=10,
        shuffle=False,
        max_iter=2,
        random_state=0,
    ).fit(X, y, sample_weight=weights)
    assert np.isfinite(est.loss_curve_).all()
    assert all(np.isfinite(w).all() for w in est.get_weights())


@pytest.mark.parametrize(
    "weights, message",
    [
        (np.ones(59), r"sample_weight.shape == \(59,\), expected \(60,\)"),
        (np.ones((60, 2)), "sample_weight.shape"),
        (np.full(60, -1.0), "non-negative"),
        (np.full(60, np.nan), "finite"),
        (np.zeros(60), "sums to zero"),
        (np.array(["a"] * 60), "real numbers"),
    ],
)
def test_bad_sample_weight_is_a_clear_error(weights, message):
    X, y = make_data(LSTMClassifier)
    with pytest.raises(ValueError, match=message):
        LSTMClassifier(max_iter=1).fit(X, y, sample_weight=weights)


@pytest.mark.parametrize("class_weight", ["balanced", {0: 1.0, 1: 3.0, 2: 0.5}])
def test_class_weight_equals_matching_sample_weight(class_weight):
    X, y = make_data(LSTMClassifier)
    extra = np.random.RandomState(4).uniform(0.5, 1.5, size=60)
    by_class = lbfgs(LSTMClassifier, max_iter=15, class_weight=class_weight)
    by_class.fit(X, y, sample_weight=extra)
    by_sample = lbfgs(LSTMClassifier, max_iter=15).fit(
        X, y, sample_weight=extra * compute_sample_weight(class_weight, y)
    )
    assert_allclose(by_class.predict_proba(X), by_sample.predict_proba(X), rtol=1e-8)


def test_balanced_class_weight_refuses_partial_fit():
    X, y = make_data(LSTMClassifier)
    est = LSTMClassifier(class_weight="balanced")
    with pytest.raises(ValueError, match="not supported by partial_fit"):
        est.partial_fit(X, y, classes=[0, 1, 2])
    LSTMClassifier(class_weight={0: 2.0}, max_iter=1).partial_fit(
        X, y, classes=[0, 1, 2]
    )


def multilabel_data(n_samples=200, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_samples, 4, 2))
    Y = np.stack(
        [X[:, :, 0].sum(axis=1) > 0, X[:, -1, 1] > 0, X[:, 0, 1] > 0.5], axis=1
    ).astype(int)
    return X, Y


def test_multilabel_classification():
    X, Y = multilabel_data()
    est = LSTMClassifier(
        hidden_layer_sizes=(16,), learning_rate_init=0.02, max_iter=80, random_state=0
    ).fit(X, Y)
    assert_array_equal(est.classes_, [0, 1, 2])
    proba = est.predict_proba(X)
    assert proba.shape == (200, 3)
    assert ((proba >= 0) & (proba <= 1)).all()
    assert not np.allclose(proba.sum(axis=1), 1)  # labels are independent
    prediction = est.predict(X)
    assert prediction.shape == (200, 3)
    assert_array_equal(prediction, (proba > 0.5).astype(int))
    X_test, Y_test = multilabel_data(seed=1)
    assert (est.predict(X_test) == Y_test).mean() > 0.85
    with pytest.raises(ValueError, match="multilabel-indicator targets, got binary"):
        est.partial_fit(X, Y[:, 0])


def test_multilabel_partial_fit():
    X, Y = multilabel_data()
    est = LSTMClassifier(hidden_layer_sizes=(8,), random_state=0)
    est.partial_fit(X, Y, classes=[0, 1, 2])
    est.partial_fit(X, Y)
    assert est.predict(X).shape == (200, 3)
    with pytest.raises(ValueError, match="y has 2 labels"):
        est.partial_fit(X, Y[:, :2])


@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel"])
def test_predict_log_proba(kind):
    if kind == "multilabel":
        X, y = multilabel_data(n_samples=60)
    else:
        X, y = make_data(LSTMClassifier)
        if kind == "binary":
            y = (y == 2).astype(int)
    est = LSTMClassifier(hidden_layer_sizes=(5,), max_iter=20, random_state=0)
    est.fit(X, y)
    assert_allclose(
        est.predict_log_proba(X), np.log(est.predict_proba(X)), rtol=1e-6, atol=1e-9
    )
    # Saturated outputs: log-probabilities stay finite where probabilities are 0.
    weights = est.get_weights()
    weights[-2] *= 1e4
    weights[-1] *= 1e4
    est.set_weights(weights)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        log_proba = est.predict_log_proba(X)
    assert np.isfinite(log_proba).all()
    # However confident, probabilities stay strictly inside (0, 1).
    proba = est.predict_proba(X)
    assert (proba > 0).all() and (proba < 1).all()
    assert (proba == np.finfo(proba.dtype).tiny).any()
    assert_allclose(np.log(proba), log_proba, rtol=1e-12, atol=1e-15)


def test_tags():
    assert LSTMClassifier().__sklearn_tags__().classifier_tags.multi_label
    assert LSTMClassifier().__sklearn_tags__().input_tags.three_d_array
    assert LSTMRegressor().__sklearn_tags__().target_tags.multi_output


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_verbose_levels(capsys, solver):
    X, y = make_data(LSTMRegressor, n_samples=100)
    LSTMRegressor(
        hidden_layer_sizes=(4,), solver=solver, batch_size=10, max_iter=2, verbose=1
    ).fit(X, y)
    lines = capsys.readouterr().out.strip().splitlines()
    if solver != "lbfgs":
        # Then which weights were kept (ema_momentum's average).
        assert lines.pop().startswith("Kept the moving average of the weights")
    assert len(lines) == 2
    assert all(line.startswith("Iteration ") for line in lines)
    if solver == "lbfgs":
        return
    LSTMRegressor(hidden_layer_sizes=(4,), batch_size=10, max_iter=2, verbose=2).fit(
        X, y
    )
    lines = capsys.readouterr().out.rstrip().splitlines()
    progress = [line for line in lines if line.startswith("  epoch 1: ")]
    assert len(progress) == 10  # one line per tenth of the epoch
    assert progress[-1].startswith("  epoch 1: 100/100 samples, loss = ")
    assert sum(line.startswith("Iteration ") for line in lines) == 2


def test_balanced_class_weights_count_merged_repeats():
    # Repeats merged into weights still count as samples for "balanced", as
    # they would unmerged; a weight of 3 on one sample does not.
    X, y = make_data(LSTMClassifier, n_samples=30)
    X2, y2 = np.concatenate([X, X[y == 0]]), np.concatenate([y, y[y == 0]])
    data, y_merged, weight, counts = merged_samples(DenseSequences(X2), y2, None)
    merged = class_weights("balanced", y_merged, weight, False, counts=counts)
    expected = compute_sample_weight("balanced", y2)
    for label in np.unique(y2):
        per_sample = merged[y_merged == label] / weight[y_merged == label]
        assert_allclose(per_sample, expected[y2 == label][0])
    for solver in ("lbfgs", "adam"):
        model = LSTMClassifier(
            hidden_layer_sizes=(4,), solver=solver, class_weight="balanced", max_iter=5
        )
        assert_array_equal(model.fit(X2, y2).classes_, np.unique(y2))


@pytest.mark.parametrize(
    "labels",
    [
        np.array([True, False]),
        np.array([3, -1, 7], dtype=np.int8),
        np.array([2, 9], dtype=np.uint16),
        np.array(["cat", "dog", "emu"]),
    ],
    ids=["bool", "int8", "uint16", "str"],
)
def test_one_column_labels_of_exact_dtypes(labels):
    # Such labels skip scikit-learn's target-type check (they can only be binary
    # or multiclass): the classes, the probabilities' columns and predict's
    # values are still the labels, in their dtype.
    rng = np.random.default_rng(0)
    y = np.resize(labels, 24)
    X = rng.normal(size=(24, 4, 2)) + (y == labels[0])[:, None, None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = LSTMClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
        clf.fit(X, y)
    assert_array_equal(clf.classes_, np.unique(labels))
    assert clf.predict_proba(X).shape == (24, len(labels))
    predicted = clf.predict(X)
    assert predicted.dtype == y.dtype and set(predicted) <= set(labels)


def test_bytes_labels_are_refused_on_every_fit():
    # scikit-learn refuses labels of bytes; a warm-started fit checks them too.
    X = np.random.default_rng(0).normal(size=(6, 3, 2))
    clf = LSTMClassifier(hidden_layer_sizes=(2,), max_iter=1, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, np.array(["a", "b"] * 3))
    with pytest.raises(TypeError, match="bytes"):
        clf.fit(X, np.array([b"a", b"b"] * 3))
