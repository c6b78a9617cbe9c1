"""Behaviour of LSTMClassifier and LSTMRegressor as scikit-learn estimators."""

import doctest
import pickle
import runpy
import warnings
from pathlib import Path

import joblib
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from reference import reference_network
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import sklstm._lstm
import sklstm.preprocessing
from sklstm import LSTMClassifier, LSTMRegressor
from sklstm._threads import kernel_threads

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def sequence_data(n_samples=120, n_steps=6, n_features=3, seed=0):
    """Labels that need memory: the sign of the first feature's running sum."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_samples, n_steps, n_features))
    running = X[:, :, 0].sum(axis=1)
    y_class = np.digitize(running, [-1.0, 1.0])  # three classes
    y_reg = np.stack([X[:, -1, 0], X[:, -2, 1] - X[:, -1, 2]], axis=1)
    return X, y_class, y_reg


def small(estimator_class, **params):
    defaults = dict(
        hidden_layer_sizes=(8, 6), max_iter=3, random_state=0, batch_size=32
    )
    return estimator_class(**{**defaults, **params})


ESTIMATORS = [LSTMClassifier, LSTMRegressor]


def fitted(estimator_class, **params):
    X, y_class, y_reg = sequence_data()
    y = y_class if estimator_class is LSTMClassifier else y_reg
    return small(estimator_class, **params).fit(X, y), X, y


def test_main_example_learns_digits(tmp_path, monkeypatch):
    """The classic stacked example (3 x LSTM(32), rmsprop, batch 64) on digits,
    with its figure (the loss curve and the confusion matrix)."""
    pyplot = pytest.importorskip("matplotlib.pyplot")
    monkeypatch.setenv("SKLSTM_EXAMPLES_OUTPUT", str(tmp_path))
    try:
        namespace = runpy.run_path(str(EXAMPLES / "stacked_lstm_digits.py"))
    finally:
        pyplot.close("all")
    assert namespace["accuracy"] > 0.9
    assert (tmp_path / "stacked_lstm_digits.png").stat().st_size > 0


@pytest.mark.parametrize("module", [sklstm._lstm, sklstm.preprocessing])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("estimator_class", ESTIMATORS)
def test_prediction_matches_reference_forward(estimator_class, dtype):
    est, X, _ = fitted(estimator_class)
    X = X.astype(dtype)
    expected = reference_network(
        [w.astype(np.float64) for w in est.get_weights()],
        X.astype(np.float64),
        [X.shape[1]] * len(X),
        est._head,
    )
    if estimator_class is LSTMClassifier:
        prediction = est.predict_proba(X)
        assert_allclose(prediction.sum(axis=1), 1, rtol=1e-6)
    else:
        prediction = est.predict(X)
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    assert_allclose(prediction, expected, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("estimator_class", ESTIMATORS)
def test_get_weights_keras_layout(estimator_class):
    est, X, _ = fitted(estimator_class, hidden_layer_sizes=(8, 6))
    n_out = est.n_outputs_
    shapes = [w.shape for w in est.get_weights()]
    assert shapes == [
        (3, 32), (8, 32), (32,),
        (8, 24), (6, 24), (24,),
        (6, n_out), (n_out,),
    ]  # fmt: skip
    # Copies: changing them does not change the model.
    before = est.predict(X)
    est.get_weights()[0][...] = 0
    assert_array_equal(est.predict(X), before)


def test_initialization_follows_keras():
    est = LSTMClassifier(hidden_layer_sizes=(5, 7), max_iter=1, random_state=0)
    est.set_params(learning_rate_init=1e-300)  # a fit that leaves weights as drawn
    X, y, _ = sequence_data()
    weights = est.fit(X, y).get_weights()
    for layer, (n_in, units) in enumerate([(3, 5), (5, 7)]):
        kernel, recurrent, bias = weights[3 * layer : 3 * layer + 3]
        limit = np.sqrt(6 / (n_in + 4 * units))
        assert np.abs(kernel).max() <= limit
        # Orthogonal rows: recurrent @ recurrent.T is the identity.
        assert_allclose(recurrent @ recurrent.T, np.eye(units), atol=1e-10)
        expected_bias = np.zeros(4 * units)
        expected_bias[units : 2 * units] = 1
        assert_allclose(bias, expected_bias, atol=1e-12)


@pytest.mark.parametrize("estimator_class", ESTIMATORS)
def test_set_weights_round_trip(estimator_class):
    est, X, _ = fitted(estimator_class)
    other, _, _ = fitted(estimator_class, random_state=1)
    assert not np.allclose(est.predict(X), other.predict(X))
    other.set_weights(est.get_weights())
    assert_array_equal(other.predict(X), est.predict(X))


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda w: w[:-1], "Expected 8 weight arrays"),
        (
            lambda w: [w[0].T] + w[1:],
            r"Weight 0 has shape \(32, 3\), expected \(3, 32\)",
        ),
        (lambda w: w[:2] + [np.full_like(w[2], np.nan)] + w[3:], "finite"),
        (lambda w: w[:1] + [w[1].astype(str)] + w[2:], "real numbers"),
    ],
)
def test_set_weights_rejects_bad_weights(mutate, message):
    est, X, _ = fitted(LSTMClassifier)
    before = est.predict_proba(X)
    with pytest.raises(ValueError, match=message):
        est.set_weights(mutate(est.get_weights()))
    assert_array_equal(est.predict_proba(X), before)


def test_set_weights_needs_a_fitted_model():
    with pytest.raises(NotFittedError):
        LSTMClassifier().set_weights([])


@pytest.mark.parametrize("estimator_class", ESTIMATORS)
def test_sgd_partial_fit_is_one_gradient_step(estimator_class):
    """One full-batch plain-SGD partial_fit is ``w -= lr * grad(mean loss)``."""
    X, y_class, y_reg = sequence_data(n_samples=40)
    # A standardised y: the regressor's training units are y's own.
    y = y_class if estimator_class is LSTMClassifier else scale(y_reg)
    est = small(
        estimator_class,
        solver="sgd",
        momentum=0,
        alpha=0,
        batch_size=100,
        learning_rate_init=0.5,
    )
    kwargs = {"classes": np.unique(y)} if estimator_class is LSTMClassifier else {}
    est.partial_fit(X, y, **kwargs)
    params = est._params.copy()

    network = est._network()
    workspace = network.workspace(X.shape[1], X.shape[0])
    X_tm = workspace.prepare(X.shape[1], X.shape[0])
    X_tm[...] = X.transpose(1, 0, 2)
    Y = est._encode_targets(y, first_pass=False).astype(float)
    grads = np.empty_like(params)
    network.loss_and_gradient(
        params,
        X_tm,
        np.full(X.shape[1], X.shape[0], dtype=np.intc),
        np.full(X.shape[0], X.shape[1] - 1),
        Y,
        0.0,
        grads,
        workspace,
    )
    est.partial_fit(X, y)
    assert_allclose(est._params, params - 0.5 * grads, rtol=1e-12, atol=1e-14)


def scale(y):
    """y standardised (mean 0, standard deviation 1)."""
    return (y - y.mean(axis=0)) / y.std(axis=0)


def test_max_grad_norm_bounds_each_step():
    X, y, _ = sequence_data()
    est = small(
        LSTMClassifier,
        solver="sgd",
        momentum=0,
        learning_rate_init=1.0,
        batch_size=200,
        max_grad_norm=1e-3,
    )
    est.partial_fit(X, y, classes=np.unique(y))
    before = est._params.copy()
    est.partial_fit(X, y)
    step = np.linalg.norm(est._params - before)
    assert 0 < step <= 1e-3 * (1 + 1e-9)


@pytest.mark.parametrize("estimator_class", ESTIMATORS)
@pytest.mark.parametrize("solver", ["adam", "rmsprop", "sgd"])
def test_same_random_state_same_model(estimator_class, solver):
    first, X, _ = fitted(estimator_class, solver=solver)
    second, _, _ = fitted(estimator_class, solver=solver)
    for a, b in zip(first.get_weights(), second.get_weights()):
        assert_array_equal(a, b)
    assert first.loss_curve_ == second.loss_curve_


@pytest.mark.parametrize("estimator_class", ESTIMATORS)
@pytest.mark.parametrize("solver", ["adam", "rmsprop", "sgd"])
def test_training_reduces_the_loss(estimator_class, solver):
    learning_rate = 0.3 if solver == "sgd" else 0.01
    est, _, _ = fitted(
        estimator_class, solver=solver, max_iter=15, learning_rate_init=learning_rate
    )
    assert est.loss_curve_[-1] < 0.7 * est.loss_curve_[0]
    assert est.n_iter_ == 15
    assert est.t_ == 15 * 120


@pytest.mark.parametrize(
    "produce",
    [
        lambda est, X, y: est,
        lambda est, X, y: est.set_params(solver="lbfgs", max_iter=2).fit(X, y),
        lambda est, X, y: est.set_params(early_stopping=True).fit(X, y),
        lambda est, X, y: est.set_weights(est.get_weights()),
        lambda est, X, y: pickle.loads(pickle.dumps(est)),
    ],
    ids=["fit", "lbfgs", "early_stopping", "set_weights", "unpickled"],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_parameters_start_on_a_64_byte_boundary(produce, dtype):
    # The single-sequence kernel reads the weights in place with 64-byte vectors;
    # off that boundary each read spans two cache lines (10% slower). Every way a
    # model gets its parameter buffer keeps them aligned.
    X, y, _ = sequence_data()
    X = X.astype(dtype)
    est = produce(small(LSTMClassifier, max_iter=2).fit(X, y), X, y)
    assert est._params.dtype == dtype
    assert est._params.ctypes.data % 64 == 0


@pytest.mark.parametrize("estimator_class", ESTIMATORS)
def test_pickle_and_joblib_round_trip(estimator_class, tmp_path):
    est, X, _ = fitted(estimator_class)
    restored = pickle.loads(pickle.dumps(est))
    assert_array_equal(restored.predict(X), est.predict(X))
    joblib.dump(est, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    assert_array_equal(loaded.predict(X), est.predict(X))
    # A reloaded model trains on.
    loaded.set_params(warm_start=True).fit(*fitted(estimator_class)[1:])
    assert len(loaded.loss_curve_) == 2 * len(est.loss_curve_)


def test_grid_search_in_parallel_and_pipeline():
    X, y, _ = sequence_data()
    pipeline = make_pipeline(
        FunctionTransformer(np.tanh), small(LSTMClassifier, hidden_layer_sizes=(4,))
    )
    search = GridSearchCV(
        pipeline,
        {"lstmclassifier__hidden_layer_sizes": [(4,), (6, 4)]},
        cv=2,
        n_jobs=2,
    )
    search.fit(X, y)
    assert search.best_params_["lstmclassifier__hidden_layer_sizes"] in [(4,), (6, 4)]
    assert search.predict(X).shape == (len(X),)
    serial = clone(search).set_params(n_jobs=1).fit(X, y)
    assert_allclose(
        serial.cv_results_["mean_test_score"], search.cv_results_["mean_test_score"]
    )


@pytest.mark.parametrize("estimator_class", ESTIMATORS)
def test_two_dimensional_X_is_one_time_step(estimator_class):
    X, y_class, y_reg = sequence_data()
    y = y_class if estimator_class is LSTMClassifier else y_reg
    flat = small(estimator_class).fit(X[:, 0], y)
    steps = small(estimator_class).fit(X[:, :1], y)
    assert flat.n_features_in_ == 3
    assert_array_equal(flat.predict(X[:, 0]), steps.predict(X[:, :1]))


@pytest.mark.parametrize("estimator_class", ESTIMATORS)
def test_other_number_of_time_steps_at_predict(estimator_class):
    est, X, _ = fitted(estimator_class)
    longer = np.concatenate([X, X], axis=1)
    assert est.predict(longer).shape[0] == len(X)
    assert est.predict(X[:, :1]).shape[0] == len(X)


@pytest.mark.parametrize("estimator_class", ESTIMATORS)
def test_other_number_of_features_is_an_error(estimator_class):
    est, X, _ = fitted(estimator_class)
    name = estimator_class.__name__
    message = f"X has 4 features, but {name} is expecting 3 features as input."
    with pytest.raises(ValueError, match=message):
        est.predict(np.zeros((2, 6, 4)))


@pytest.mark.parametrize("estimator_class", ESTIMATORS)
def test_float32_stays_float32(estimator_class):
    X, y_class, y_reg = sequence_data()
    y = y_class if estimator_class is LSTMClassifier else y_reg
    est = small(estimator_class).fit(X.astype(np.float32), y)
    assert all(w.dtype == np.float32 for w in est.get_weights())
    method = est.predict_proba if estimator_class is LSTMClassifier else est.predict
    assert method(X.astype(np.float32)).dtype == np.float32
    # float64 and integer input to a float32 model are cast, not refused.
    assert method(X).dtype == np.float32
    est64 = small(estimator_class).fit(X.round().astype(int), y)
    assert all(w.dtype == np.float64 for w in est64.get_weights())


def test_classifier_binary_and_string_labels():
    X, y, _ = sequence_data()
    labels = np.where(y == 2, "up", "flat")
    est = small(LSTMClassifier, max_iter=30, learning_rate_init=0.02).fit(X, labels)
    assert_array_equal(est.classes_, ["flat", "up"])
    assert est.n_outputs_ == 1  # one logistic unit
    proba = est.predict_proba(X)
    assert proba.shape == (len(X), 2)
    assert_allclose(proba.sum(axis=1), 1)
    assert set(est.predict(X)) <= {"flat", "up"}
    assert_array_equal(est.predict(X), est.classes_[proba.argmax(axis=1)])
    assert est.score(X, labels) > 0.8


def test_classifier_learns_a_sequence_task():
    X, y, _ = sequence_data(n_samples=400, seed=1)
    X_test, y_test, _ = sequence_data(n_samples=200, seed=2)
    est = LSTMClassifier(
        hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=60, random_state=0
    ).fit(X, y)
    assert est.score(X_test, y_test) > 0.85


def test_multi_output_regression():
    X, _, y = sequence_data(n_samples=400, seed=1)
    X_test, _, y_test = sequence_data(n_samples=200, seed=2)
    est = LSTMRegressor(
        hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=80, random_state=0
    ).fit(X, y)
    assert est.predict(X_test).shape == (200, 2)
    assert est.score(X_test, y_test) > 0.9
    single = small(LSTMRegressor).fit(X, y[:, :1])
    assert single.predict(X).shape == (400, 1)
    assert small(LSTMRegressor).fit(X, y[:, 0]).predict(X).shape == (400,)


@pytest.mark.parametrize("estimator_class", ESTIMATORS)
@pytest.mark.parametrize("learning_rate", [0.05, 3.0])
def test_early_stopping_keeps_the_best_weights(estimator_class, learning_rate):
    """The weights kept are those of the best validation score seen, the starting
    weights' included (a huge step size makes every epoch worse than them)."""
    history = []

    def recording_scorer(est, X, y):
        score = est.score(X, y)
        history.append((score, est.get_weights()))
        return score

    est = estimator_class(
        hidden_layer_sizes=(8,),
        early_stopping=True,
        scoring=recording_scorer,
        max_iter=20,
        learning_rate_init=learning_rate,
        n_iter_no_change=3,
        # The epochs' weights (the average competes too: test_training.py).
        ema_momentum=None,
        random_state=0,
    )
    X, y_class, y_reg = sequence_data(n_samples=200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y_class if estimator_class is LSTMClassifier else y_reg)
    scores = [score for score, _ in history]
    # The first score is the starting weights', then one per epoch.
    assert est.validation_scores_ == scores[1:]
    assert est.best_validation_score_ == max(scores)
    assert est.best_loss_ is None
    best = int(np.argmax(scores))
    assert est.best_iter_ == best
    for got, want in zip(est.get_weights(), history[best][1]):
        assert_allclose(got, want, rtol=1e-12, atol=1e-15)


def test_warm_start_continues_and_checks_architecture():
    est, X, y = fitted(LSTMClassifier, max_iter=4, learning_rate_init=0.01)
    est.set_params(warm_start=True, max_iter=2).fit(X, y)
    assert len(est.loss_curve_) == 6
    assert est.n_iter_ == 2
    assert est.loss_curve_[4] < est.loss_curve_[0]
    with pytest.raises(ValueError, match="differs from the fitted network"):
        est.set_params(hidden_layer_sizes=(3,)).fit(X, y)


def test_partial_fit_classifier():
    X, y, _ = sequence_data()
    est = small(LSTMClassifier, learning_rate_init=0.01)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        est.partial_fit(X, y)
    est.partial_fit(X[y != 2], y[y != 2], classes=[0, 1, 2])
    assert_array_equal(est.classes_, [0, 1, 2])
    for _ in range(5):
        est.partial_fit(X, y)
    assert est.loss_curve_[-1] < est.loss_curve_[0]
    assert est.predict_proba(X).shape == (len(X), 3)
    with pytest.raises(ValueError, match=r"labels \[7\] that the model was not fitted"):
        est.partial_fit(X[:2], [0, 7])
    with pytest.raises(ValueError, match="not in classes"):
        small(LSTMClassifier).partial_fit(X[:3], [0, 1, 5], classes=[0, 1])
    # As in MLP, partial_fit ignores early stopping (one epoch, no split).
    est = small(LSTMClassifier, early_stopping=True).partial_fit(
        X, y, classes=[0, 1, 2]
    )
    assert est.n_iter_ == 1 and est.validation_scores_ is None


@pytest.mark.parametrize("ema_momentum", [None, 0.9])
def test_verbose_prints_each_epoch_and_the_weights_kept(capsys, ema_momentum):
    est, _, _ = fitted(
        LSTMRegressor, verbose=True, max_iter=3, ema_momentum=ema_momentum
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 + (ema_momentum is not None)
    assert lines[0].startswith("Iteration 1, loss = ")
    assert "time = " in lines[0]
    if ema_momentum is not None:
        assert lines[-1] == (
            "Kept the moving average of the weights up to the best epoch (%d): "
            "loss = %.8f." % (est.best_iter_, est.loss_)
        )


def test_convergence_warning_when_max_iter_reached():
    X, y, _ = sequence_data()
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(2\) reached"):
        small(LSTMClassifier, max_iter=2).fit(X, y)


def test_no_convergence_warning_when_loss_stalls():
    X, y, _ = sequence_data(n_samples=40)
    est = small(LSTMClassifier, max_iter=2, learning_rate_init=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    est.set_params(warm_start=True, max_iter=50, tol=1e6, n_iter_no_change=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est.fit(X, y)
    # A warm start has left the initial plateau: as in MLP, training stops once
    # more than n_iter_no_change epochs in a row have not improved by tol (here,
    # relative to the best: none can).
    assert est.n_iter_ == est.n_iter_no_change + 1


def _bad_inputs():
    X, y, _ = sequence_data(n_samples=10)
    nan_X = X.copy()
    nan_X[3, 2, 1] = np.nan
    inf_y = y.astype(float)
    inf_y[0] = np.inf
    return [
        ("nan X", nan_X, y, "NaN"),
        ("inf y", X, inf_y, "infinity|Unknown label type"),
        ("empty X", X[:0], y[:0], "0 sample"),
        ("no time steps", X[:, :0], y, "0 time step"),
        ("no features", X[:, :, :0], y, "0 feature"),
        ("1-D X", X[:, 0, 0], y, "1-D array"),
        ("4-D X", X[..., None], y, "4-D array"),
        ("lengths differ", X, y[:-1], "inconsistent numbers of samples"),
        ("one class", X, np.zeros(10), "only one class"),
        ("strings", np.full((10, 6, 3), "a"), y, "could not convert|dtype"),
        ("complex", X + 1j, y, "[Cc]omplex"),
    ]


@pytest.mark.parametrize(
    "X, y, message",
    [case[1:] for case in _bad_inputs()],
    ids=[c[0] for c in _bad_inputs()],
)
def test_bad_input_to_fit_is_a_clear_error(X, y, message):
    with pytest.raises(ValueError, match=message):
        small(LSTMClassifier).fit(X, y)


@pytest.mark.parametrize(
    "X, message",
    [
        (np.full((2, 6, 3), np.nan), "NaN"),
        (np.zeros((0, 6, 3)), "0 sample"),
        (np.zeros(3), "1-D array"),
        (np.zeros((2, 6, 3, 1)), "4-D array"),
        (np.zeros((2, 0, 3)), "0 time step"),
    ],
)
@pytest.mark.parametrize("method", ["predict", "predict_proba", "score"])
def test_bad_input_to_predict_is_a_clear_error(X, message, method):
    est, _, _ = fitted(LSTMClassifier)
    args = (X, np.zeros(len(X))) if method == "score" else (X,)
    with pytest.raises(ValueError, match=message):
        getattr(est, method)(*args)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"hidden_layer_sizes": (4, 0)}, "positive"),
        ({"hidden_layer_sizes": ()}, "non-empty"),
        ({"learning_rate_init": -1.0}, "learning_rate_init"),
        ({"solver": "lbfgs2"}, "solver"),
        ({"max_grad_norm": 0.0}, "max_grad_norm"),
        ({"rho": 1.0}, "rho"),
    ],
)
def test_bad_parameters_are_clear_errors(params, message):
    X, y, _ = sequence_data(n_samples=10)
    with pytest.raises(ValueError, match=message):
        LSTMClassifier(**params).fit(X, y)


def test_read_only_and_non_contiguous_input():
    X, y, _ = sequence_data()
    X_fortran = np.asfortranarray(X)
    X_fortran.setflags(write=False)
    est = small(LSTMClassifier).fit(X_fortran, y)
    reference = small(LSTMClassifier).fit(X, y)
    assert_array_equal(est.predict_proba(X[::1]), reference.predict_proba(X))
    strided = np.repeat(X, 2, axis=2)[:, :, ::2]
    assert_array_equal(est.predict_proba(strided), reference.predict_proba(X))


@pytest.mark.parametrize("first, second", [(False, True), (True, False)])
def test_warm_start_may_toggle_early_stopping(first, second):
    X, y, _ = sequence_data(n_samples=100)
    est = small(LSTMClassifier, early_stopping=first, max_iter=2).fit(X, y)
    est.set_params(warm_start=True, early_stopping=second).fit(X, y)
    assert len(est.loss_curve_) == 4
    if second:
        assert len(est.validation_scores_) == 2
        assert est.best_validation_score_ == max(est.validation_scores_)
    else:
        assert est.best_loss_ == min(est.loss_curve_[2:])


@pytest.mark.parametrize("estimator_class", ESTIMATORS)
@pytest.mark.parametrize(
    "limits, chunk",
    [
        ({"_CHUNK_SEQUENCES": 7}, 7),
        # a bound on the work space's bytes, not below a minimum of sequences
        ({"_CHUNK_BYTES_PER_THREAD": 1, "_MIN_CHUNK_SEQUENCES": 5}, 5),
        # the bound counts a batch's rows (a batch of one is sized otherwise)
        ({"_CHUNK_BYTES_PER_THREAD": "3 rows", "_MIN_CHUNK_SEQUENCES": 1}, 3),
    ],
)
def test_prediction_in_chunks_equals_one_batch(
    estimator_class, limits, chunk, monkeypatch
):
    """Large X is predicted in bounded-memory chunks; the chunking is invisible."""
    est, X, _ = fitted(estimator_class)
    whole = est.predict(X)
    network = est._network()
    for name, value in limits.items():
        if value == "3 rows":
            row_bytes = (
                network.dense_work_size(X.shape[1], 2) // 2 * network.dtype.itemsize
            )
            n_threads = kernel_threads(len(X), X.shape[1]).n_threads
            value = -(-3 * row_bytes // n_threads)  # rounded up
        monkeypatch.setattr(f"sklstm._model.{name}", value)
    calls = []
    original = network.dense_logits
    monkeypatch.setattr(
        network,
        "dense_logits",
        lambda *args, **kwargs: (
            calls.append(args[1].shape[0]) or original(*args, **kwargs)
        ),
    )
    assert_allclose(est.predict(X), whole, rtol=1e-12)
    assert max(calls) == chunk and sum(calls) == len(X)


@pytest.mark.parametrize(
    "estimator_class, solver, learning_rate",
    [
        (LSTMRegressor, "sgd", 1e12),
        (LSTMRegressor, "adam", 1e200),  # Adam steps are at most ~lr
        # A classifier's loss and gradients stay bounded (saturating gates and
        # softmax), so huge steps give huge but finite weights, not a divergence.
    ],
)
def test_diverging_training_keeps_finite_weights(
    estimator_class, solver, learning_rate
):
    X, y_class, y_reg = sequence_data()
    y = y_class if estimator_class is LSTMClassifier else 1e6 * y_reg
    est = small(
        estimator_class, solver=solver, learning_rate_init=learning_rate, max_iter=20
    )
    with pytest.warns(ConvergenceWarning, match="Training diverged in epoch"):
        est.fit(X * 1e3, y)
    assert all(np.isfinite(w).all() for w in est.get_weights())
    assert np.isfinite(est.loss_curve_).all()
    assert len(est.loss_curve_) == est.n_iter_
    method = est.predict_proba if estimator_class is LSTMClassifier else est.predict
    assert np.isfinite(method(X)).all()
    # Training goes on from the kept weights once the step size is sane again.
    est.set_params(learning_rate_init=1e-3, warm_start=True, max_iter=2).fit(X, y)
    assert all(np.isfinite(w).all() for w in est.get_weights())


def test_keyboard_interrupt_keeps_the_last_complete_epoch(interrupt_at_minibatch):
    """Ctrl-C in the middle of an epoch: a usable model, as of the last whole epoch."""
    X, y, _ = sequence_data()  # 120 samples, batch 32: 4 minibatches per epoch
    # An interrupted fit keeps its best epoch, not the average (ema_momentum).
    reference = small(LSTMClassifier, max_iter=2, ema_momentum=None).fit(X, y)
    interrupt_at_minibatch(10)  # the second minibatch of the third epoch
    est = small(LSTMClassifier, max_iter=5)
    with pytest.warns(UserWarning, match="interrupted by the user after 2 complete"):
        est.fit(X, y)
    assert est.n_iter_ == 2
    for a, b in zip(est.get_weights(), reference.get_weights()):
        assert_array_equal(a, b)
    assert est.predict(X).shape == (len(X),)
    interrupt_at_minibatch.disarm()
    est.set_params(warm_start=True, max_iter=1).fit(X, y)
    assert len(est.loss_curve_) == 3


@pytest.mark.parametrize("hidden_layer_sizes", [(8, 6), (32,)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("target", ["multiclass", "binary", "multilabel", "regression"])
def test_a_sequence_alone_is_predicted_as_in_a_batch(target, dtype, hidden_layer_sizes):
    # A plain single sequence takes a one-call path (for float32 a kernel of its
    # own, with the input check and the softmax in the same call); laid out
    # otherwise, it takes the batch path. Either gives what it gets in a batch.
    X, y_class, y_reg = sequence_data()
    X = X.astype(dtype)
    y = {
        "multiclass": y_class,
        "binary": y_class > 0,
        "multilabel": np.stack([y_class == 0, y_class == 2], axis=1),
        "regression": y_reg,
    }[target]
    estimator_class = LSTMRegressor if target == "regression" else LSTMClassifier
    est = small(estimator_class, hidden_layer_sizes=hidden_layer_sizes).fit(X, y)
    methods = ["predict"]
    if estimator_class is LSTMClassifier:
        methods += ["predict_proba"] + ["predict_log_proba"] * (target != "multilabel")
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    for method in methods:
        batch = getattr(est, method)(X[:4])
        for i in range(4):
            for one in (X[i : i + 1], np.asfortranarray(X[i : i + 1]), [X[i]]):
                alone = getattr(est, method)(one)
                assert (
                    alone.dtype == batch.dtype and alone.shape == batch[i : i + 1].shape
                )
                assert_allclose(alone, batch[i : i + 1], rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("method", ["predict", "predict_proba", "predict_log_proba"])
def test_a_sequence_alone_with_nan_or_infinity_is_refused(dtype, bad, method):
    X, y, _ = sequence_data()
    est = small(LSTMClassifier).fit(X.astype(dtype), y)
    one = X[:1].astype(dtype)
    one[0, -1, -1] = bad
    with pytest.raises(ValueError, match="NaN" if np.isnan(bad) else "infinity"):
        getattr(est, method)(one)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_concurrent_predictions_equal_serial_ones(dtype):
    """The kernels release the GIL and each call has its own buffers."""
    from concurrent.futures import ThreadPoolExecutor

    X, y, _ = sequence_data()
    X = X.astype(dtype)
    est = small(LSTMClassifier).fit(X, y)
    # Batches, and single sequences (float32: a kernel of their own).
    batches = [np.roll(X, shift, axis=0) for shift in range(8)]
    batches += [X[i : i + 1] for i in range(16)]
    serial = [est.predict_proba(batch) for batch in batches]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(est.predict_proba, batches))
    for a, b in zip(serial, concurrent):
        assert_array_equal(a, b)


@pytest.mark.parametrize(
    "convert",
    [
        lambda X: X.astype(">f8"),  # big-endian
        lambda X: X > 0,  # boolean
        lambda X: (10 * X).astype(np.int16),
        lambda X: np.asfortranarray(X),
        lambda X: X[:, ::-1, :],  # negative strides
    ],
    ids=["big-endian", "bool", "int16", "fortran", "reversed-view"],
)
def test_unusual_but_valid_arrays_work(convert, tmp_path):
    X, y, _ = sequence_data()
    X = convert(X)
    expected = small(LSTMClassifier).fit(np.array(X, dtype=np.float64), y)
    est = small(LSTMClassifier).fit(X, y)
    assert_allclose(est.predict_proba(X), expected.predict_proba(X), rtol=1e-12)
    # And from a read-only memory map, as np.load(..., mmap_mode="r") gives.
    path = tmp_path / "X.npy"
    np.save(path, np.asarray(X))
    mapped = np.load(path, mmap_mode="r")
    assert_allclose(
        small(LSTMClassifier).fit(mapped, y).predict_proba(mapped),
        expected.predict_proba(X),
        rtol=1e-12,
    )
