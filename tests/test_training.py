"""The training loop: stopping, best weights, divergence, validation, clean fits."""

import inspect
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.metrics import log_loss

import sklstm
from sklstm import LSTMClassifier, LSTMRegressor, OneHotTargetWarning
from sklstm._sequences import DenseSequences
from sklstm._training import PLATEAU_FRACTION, Checkpoint, validation_split


def regression_data(n_samples=100, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n_samples, 5, 2)
    return X, X[:, -1, 0] + X[:, -2, 1] + 1


def classification_data(n_samples=120, n_classes=3, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n_samples, 6, 3)
    edges = np.quantile(X[:, :, 0].sum(axis=1), np.linspace(0, 1, n_classes + 1))
    y = np.clip(np.digitize(X[:, :, 0].sum(axis=1), edges[1:-1]), 0, n_classes - 1)
    return X, y


def quietly(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return function(*args, **kwargs)


# ---------------------------------------------------------------- the rule
def test_checkpoint_counts_no_improvement_only_after_the_plateau():
    params = np.zeros(3)
    checkpoint = Checkpoint(params, 1.0, tol=1e-4, n_iter_no_change=2, fresh=True)
    for value in [0.99, 0.98, 0.97, 0.96, 0.95]:  # creeping along the plateau
        checkpoint.record(value, value, params)
        assert checkpoint.no_improvement_count == 0
    checkpoint.record(1 - PLATEAU_FRACTION, 0.9, params)  # off the plateau
    assert not checkpoint.on_plateau
    for _ in range(3):
        checkpoint.record(0.95, 0.95, params)
    assert checkpoint.stalled
    # A warm start has no plateau: the same values count at once.
    warm = Checkpoint(params, 1.0, tol=1e-4, n_iter_no_change=2, fresh=False)
    for _ in range(3):
        warm.record(1.0, 1.0, params)
    assert warm.stalled


@pytest.mark.parametrize("monitors_loss", [False, True])
@pytest.mark.parametrize("best", [1e-6, 1.0, 1e6])
def test_checkpoint_improvement_is_relative(best, monitors_loss):
    # A score's improvement is relative at any magnitude; a loss's too from 1
    # up, and absolute below (its scale is fixed: see test_target_scale_...).
    params = np.zeros(1)
    checkpoint = Checkpoint(
        params,
        best,
        tol=1e-3,
        n_iter_no_change=5,
        fresh=False,
        monitors_loss=monitors_loss,
    )
    checkpoint.record(best * (1 - 5e-4), best, params)  # better, but not by tol
    assert checkpoint.no_improvement_count == 1
    checkpoint.record(best * (1 - 2e-3), best, params)
    absolute = monitors_loss and best < 1
    # Below 1 a loss must improve by tol itself: 2e-3 of 1e-6 is not enough.
    assert checkpoint.no_improvement_count == (2 if absolute else 0)
    current = checkpoint.best_value
    checkpoint.record(current - 2e-3 * max(current, 1), best, params)
    assert checkpoint.no_improvement_count == 0


def test_checkpoint_keeps_the_best_weights_and_detects_blow_ups():
    params = np.zeros(2)
    checkpoint = Checkpoint(params, None, tol=0, n_iter_no_change=5, fresh=True)
    checkpoint.start(2.0)
    for value in [1.0, 0.5, 0.7]:
        params += 1
        checkpoint.record(value, value, params)
    assert checkpoint.best_iter == 2
    restored = np.empty(2)
    checkpoint.restore(restored)
    assert_array_equal(restored, [2, 2])
    assert not checkpoint.diverged(1.9)  # a spike, below the starting loss
    assert checkpoint.diverged(60.0)  # 100x the lowest and above the start
    assert checkpoint.diverged(np.nan) and checkpoint.diverged(np.inf)


@pytest.mark.parametrize("factor", [1e-3, 1e3])
def test_target_scale_does_not_change_training(factor):
    """A target in other units trains the same epochs to the same fit."""
    X, y = regression_data(200)
    y = 0.04 * (y - y.mean()) / y.std()  # a small-scale target, std 0.04
    params = dict(hidden_layer_sizes=(8,), learning_rate_init=0.01, random_state=0)
    reference = quietly(LSTMRegressor(**params).fit, X, y)
    scaled = quietly(LSTMRegressor(**params).fit, X, factor * y)
    assert scaled.n_iter_ == reference.n_iter_
    assert scaled.best_iter_ == reference.best_iter_
    assert_allclose(scaled.predict(X), factor * reference.predict(X), rtol=1e-8)
    assert reference.score(X, y) > 0.9


def test_fit_keeps_the_best_epoch_when_max_iter_ends_it():
    X, y = classification_data()
    est = LSTMClassifier(
        hidden_layer_sizes=(8,),
        learning_rate_init=0.3,
        max_iter=15,
        random_state=0,
        ema_momentum=None,
    )
    with pytest.warns(ConvergenceWarning, match="weights of the best epoch"):
        est.fit(X, y)
    best = int(np.argmin(est.loss_curve_)) + 1
    assert est.best_iter_ in (0, best)
    if est.best_iter_:
        assert est.loss_ == min(est.loss_curve_) == est.best_loss_


@pytest.mark.parametrize(
    "learning_rate, kept",
    [
        (0.1, r"the weights of the best epoch \(1\) were kept"),
        # Steps far too long: the epoch is worse than the trained start.
        (1.0, "the starting weights, which no epoch improved on, were kept"),
    ],
)
def test_max_iter_warning_names_the_weights_kept(learning_rate, kept):
    X, y = classification_data()
    est = LSTMClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    est.set_params(warm_start=True, max_iter=1, learning_rate_init=learning_rate)
    with pytest.warns(ConvergenceWarning, match=kept):
        est.fit(X, y)
    assert est.best_iter_ == (1 if learning_rate < 1 else 0)


def spy_on_epochs(monkeypatch):
    """The weights at the end of each epoch, as the moving average receives them."""
    epochs = []
    moving_average = sklstm._training._moving_average

    def spy(average, params, momentum, n_epochs):
        epochs.append(params.copy())
        return moving_average(average, params, momentum, n_epochs)

    monkeypatch.setattr(sklstm._training, "_moving_average", spy)
    return epochs


@pytest.mark.parametrize("momentum", [0.0, 0.5, 0.9])
@pytest.mark.parametrize("route", ["kernel", "python"])
def test_ema_momentum_keeps_the_moving_average_of_the_epochs(
    monkeypatch, momentum, route
):
    X, y = classification_data()
    epochs = spy_on_epochs(monkeypatch)
    est = LSTMClassifier(
        hidden_layer_sizes=(6,),
        max_iter=12,
        ema_momentum=momentum,
        alpha=0.0,
        # Large steps: the loss is best before the last epoch (asserted below).
        learning_rate_init=0.3,
        # Dropout trains a minibatch at a time from Python.
        dropout=0.1 if route == "python" else 0.0,
        random_state=0,
    )
    # With a momentum of 0 the average is the best epoch's weights.
    kept = "moving average of the weights up to" if momentum else "weights of the best"
    with pytest.warns(ConvergenceWarning, match=kept):
        est.fit(X, y)
    assert len(epochs) == est.n_iter_ == 12
    # The average as it stood at the best epoch (by the training loss).
    assert est.best_iter_ == int(np.argmin(est.loss_curve_)) + 1 < est.n_iter_
    expected = epochs[0]
    for t, weights in enumerate(epochs[1 : est.best_iter_], start=2):
        decay = min(momentum, (1 + t) / (10 + t))
        expected = decay * expected + (1 - decay) * weights
    assert_allclose(est._params, expected, rtol=1e-12, atol=1e-15)
    if momentum == 0:
        assert_array_equal(est._params, epochs[est.best_iter_ - 1])
        assert est.loss_ == est.loss_curve_[est.best_iter_ - 1]
        return
    # loss_ is the kept weights' training loss over the whole training set
    # (alpha=0: the cross-entropy alone).
    assert_allclose(est.loss_, log_loss(y, est.predict_proba(X)), rtol=1e-10)
    # best_loss_ stays the epochs' lowest.
    assert est.best_loss_ == min(est.loss_curve_)


def test_an_average_of_one_epoch_is_that_epoch(monkeypatch):
    """A warm-started fit of one epoch keeps that epoch's weights and loss, as
    with ema_momentum=None, and spends no forward pass on an average."""
    X, y = classification_data()
    est = LSTMClassifier(hidden_layer_sizes=(6,), max_iter=3, random_state=0)
    quietly(est.fit, X, y)
    est.set_params(warm_start=True, max_iter=1)
    monkeypatch.setattr(sklstm._training, "training_loss", None)  # never called
    quietly(est.fit, X, y)
    assert est.best_iter_ == 1
    assert est.loss_ == est.loss_curve_[-1]


def test_ema_momentum_none_and_partial_fit_keep_the_epochs_weights(monkeypatch):
    X, y = classification_data()
    epochs = spy_on_epochs(monkeypatch)
    params = dict(hidden_layer_sizes=(6,), max_iter=12, random_state=0)
    best = quietly(LSTMClassifier(ema_momentum=None, **params).fit, X, y)
    assert not epochs
    assert best.best_iter_ == int(np.argmin(best.loss_curve_)) + 1
    averaged = quietly(LSTMClassifier(**params).fit, X, y)
    # The same epochs: the average changes only what is kept.
    assert_array_equal(averaged.loss_curve_, best.loss_curve_)
    assert not np.array_equal(averaged._params, best._params)
    assert len(epochs) == 12
    incremental = LSTMClassifier(**params)
    for _ in range(3):
        incremental.partial_fit(X, y, classes=[0, 1, 2])
        assert incremental.loss_ == incremental.loss_curve_[-1]
    assert len(epochs) == 12  # partial_fit averages nothing


def test_ema_momentum_competes_on_the_validation_data():
    X, y = classification_data(200)
    X_val, y_val = classification_data(60, seed=1)
    for momentum in [None, 0.9]:
        est = quietly(
            LSTMClassifier(
                hidden_layer_sizes=(6,),
                max_iter=30,
                early_stopping=True,
                scoring="accuracy",
                ema_momentum=momentum,
                random_state=0,
            ).fit,
            X,
            y,
            X_val=X_val,
            y_val=y_val,
        )
        # The kept weights' validation score, the best of the epochs' or above.
        assert est.best_validation_score_ == est.score(X_val, y_val)
        assert est.best_validation_score_ >= max(est.validation_scores_)
        if est.best_iter_ < est.n_iter_:
            assert est.best_validation_score_ == max(est.validation_scores_)


@pytest.mark.parametrize(
    "params",
    [
        dict(solver="sgd", learning_rate_init=1e4, momentum=0.0),
        dict(solver="sgd", learning_rate_init=1e2, momentum=0.9),
        dict(solver="adam", learning_rate_init=1e3),
        dict(solver="sgd", learning_rate_init=1e4, momentum=0.0, early_stopping=True),
    ],
    ids=["sgd", "sgd-momentum", "adam", "early-stopping"],
)
def test_a_finite_blow_up_is_a_divergence(params):
    """The loss climbing by orders of magnitude (finite) stops training with a
    warning, and the model kept is the best one training saw, not the blown-up
    one; a warm start from it at a sane step size trains normally."""
    X, y = regression_data()
    y = 1e3 * y
    start = LSTMRegressor(
        learning_rate_init=1e-300, max_iter=1, random_state=0, solver="sgd"
    )
    start = quietly(start.fit, X, y)
    est = LSTMRegressor(max_iter=20, random_state=0, **params)
    with pytest.warns(ConvergenceWarning, match="Training diverged"):
        est.fit(X, y)
    weights = est.get_weights()
    assert all(np.isfinite(w).all() for w in weights)
    assert max(np.abs(w).max() for w in weights[:-2]) < 1e3
    assert est.score(X, y) >= start.score(X, y) - 0.1
    assert np.isfinite(est.loss_) and np.isfinite(est.loss_curve_).all()
    # The best epoch's weights, not the moving average (ema_momentum).
    if est.best_iter_:
        assert est.loss_ == est.loss_curve_[est.best_iter_ - 1]
    est.set_params(solver="adam", learning_rate_init=1e-3, warm_start=True, max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        warnings.filterwarnings("ignore", message=".*Maximum iterations")
        est.fit(X, y)


def test_partial_fit_divergence_goes_back_to_the_best_call():
    X, y = regression_data()
    y = 1e3 * y
    start = LSTMRegressor(solver="sgd", learning_rate_init=1e-300, random_state=0)
    start.partial_fit(X, y)
    est = LSTMRegressor(
        solver="sgd", learning_rate_init=1e4, momentum=0.0, random_state=0
    )
    with pytest.warns(ConvergenceWarning, match="Training diverged"):
        for _ in range(20):
            est.partial_fit(X, y)
    assert np.isfinite(est.predict(X)).all()
    assert est.score(X, y) >= start.score(X, y) - 0.1
    # It goes on from there (with a fresh optimizer) at a sane step size.
    est._optimizer.learning_rate = 1e-3
    est.partial_fit(X, y)
    assert np.isfinite(est.loss_)


# ------------------------------------------------------- no half-fitted models
@pytest.mark.parametrize(
    "bad_y, sample_weight, message",
    [
        ("one class", None, "only one class"),
        (None, "negative", "non-negative"),
        (None, "zero", "sums to zero"),
    ],
)
@pytest.mark.parametrize("warm_start", [False, True])
def test_a_rejected_refit_leaves_the_old_model(
    bad_y, sample_weight, message, warm_start
):
    if warm_start and bad_y:
        pytest.skip("a warm start may see one class: the classes are known")
    X, y = classification_data()
    est = quietly(LSTMClassifier(hidden_layer_sizes=(4,), max_iter=3).fit, X, y)
    before = est.predict_proba(X)
    state = {name: value for name, value in est.__dict__.items()}
    weights = {None: None, "negative": -np.ones(len(y)), "zero": np.zeros(len(y))}
    est.set_params(warm_start=warm_start)
    with pytest.raises(ValueError, match=message):
        est.fit(
            X, np.zeros_like(y) if bad_y else y, sample_weight=weights[sample_weight]
        )
    assert set(est.__dict__) == set(state)
    for name, value in state.items():
        if name.endswith("_") or name.startswith("_"):  # fitted state
            assert est.__dict__[name] is value, name
    assert_array_equal(est.predict_proba(X), before)


def test_a_refit_with_new_features_that_fails_keeps_the_old_features():
    X, y = classification_data()
    est = quietly(LSTMClassifier(hidden_layer_sizes=(4,), max_iter=2).fit, X, y)
    before = est.predict_proba(X)
    with pytest.raises(ValueError, match="only one class"):
        est.fit(list(X[:, :, :2]), np.zeros(len(y)))
    assert est.n_features_in_ == 3
    with pytest.raises(ValueError, match="expecting 3 features"):
        est.predict(list(X[:, :, :2]))
    assert_array_equal(est.predict_proba(X), before)


def test_a_rejected_first_fit_leaves_an_unfitted_estimator():
    X, y = regression_data()
    est = LSTMRegressor(solver="lbfgs", dropout=0.3)
    with pytest.raises(ValueError, match="need a minibatch solver"):
        est.fit(X, y)
    with pytest.raises(NotFittedError):
        est.predict(X)
    assert not hasattr(est, "n_features_in_")


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_keyboard_interrupt_leaves_a_complete_model(solver, interrupt_at_minibatch):
    X, y = regression_data()
    interrupt_at_minibatch(12)
    est = LSTMRegressor(hidden_layer_sizes=(4,), solver=solver, batch_size=20)
    with pytest.warns(UserWarning, match="interrupted by the user"):
        est.fit(X, y)
    for name in ["loss_", "n_iter_", "best_iter_", "loss_curve_", "t_", "best_loss_"]:
        assert hasattr(est, name), name
    assert est.n_iter_ > 0 and np.isfinite(est.loss_)
    assert est.best_iter_ <= est.n_iter_
    assert np.isfinite(est.predict(X)).all()


@pytest.mark.skipif(not hasattr(signal, "SIGINT"), reason="no SIGINT here")
def test_ctrl_c_reaches_a_fit_inside_the_minibatch_kernel(monkeypatch):
    """A real SIGINT during an epoch that the minibatch kernel runs whole stops
    it between two minibatches, not at the epoch's end."""
    from sklstm import _training

    rng = np.random.default_rng(0)
    X = rng.standard_normal((300_000, 3, 2)).astype(np.float32)
    y = X[:, -1, 0]
    kernel = _training.train_minibatches
    runs = []

    def signalled_soon(*args):
        runs.append(args[-1])  # results: (minibatches, 2) loss and weight
        threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT)).start()
        return kernel(*args)

    monkeypatch.setattr(_training, "train_minibatches", signalled_soon)
    est = LSTMRegressor(hidden_layer_sizes=(2,), batch_size=1, max_iter=1)
    with pytest.warns(UserWarning, match="interrupted by the user after 0 complete"):
        est.fit(X, y)
    (results,) = runs
    n_run = np.count_nonzero(results[:, 1])
    assert 0 < n_run < len(results)
    assert np.isfinite(est.predict(X[:5])).all()


# ------------------------------------------------------------ the two routes
ROUTE_CASES = {
    "adam, multiclass, two layers": (
        LSTMClassifier,
        {"hidden_layer_sizes": (5, 4)},
        "multiclass",
    ),
    "sgd nesterov, binary, alpha, clipping": (
        LSTMClassifier,
        {"solver": "sgd", "alpha": 0.01, "max_grad_norm": 0.3},
        "binary",
    ),
    "rmsprop, GRU, ragged, weights": (
        LSTMClassifier,
        {"solver": "rmsprop", "cell": "gru"},
        "ragged weighted",
    ),
    "adam, multilabel": (LSTMClassifier, {"cell": "gru"}, "multilabel"),
    "squared error, two outputs": (LSTMRegressor, {}, "regression"),
    "quantile, ragged": (
        LSTMRegressor,
        {"loss": "quantile", "quantile": 0.8, "alpha": 0.1},
        "ragged regression",
    ),
    "absolute error": (LSTMRegressor, {"loss": "absolute_error"}, "regression"),
    "poisson, weights": (LSTMRegressor, {"loss": "poisson"}, "weighted counts"),
    "gamma, sgd": (LSTMRegressor, {"loss": "gamma", "solver": "sgd"}, "counts"),
    # The input projection: E and b lead the weights, the product penalised.
    "input projection, two layers, ragged, weights, alpha": (
        LSTMClassifier,
        {"input_projection": 7, "hidden_layer_sizes": (5, 4), "alpha": 0.05},
        "ragged weighted",
    ),
    "input projection, GRU, sgd, clipping": (
        LSTMRegressor,
        {
            "input_projection": 2,
            "cell": "gru",
            "solver": "sgd",
            "max_grad_norm": 0.5,
        },
        "regression",
    ),
}


def route_case_data(kind, rng):
    X = rng.normal(size=(50, 6, 3))
    y = {
        "multiclass": rng.randint(3, size=50),
        "binary": rng.randint(2, size=50),
        "multilabel": rng.randint(2, size=(50, 3)),
        "regression": rng.normal(size=(50, 2)),
        "counts": rng.poisson(3, size=50) + 0.5,
    }
    fit = {}
    if "ragged" in kind:
        X = [x[: rng.randint(1, 7)] for x in X]
    if "weight" in kind:
        fit["sample_weight"] = rng.uniform(0, 2, size=50)
        fit["sample_weight"][:5] = 0
    target = kind.split()[-1]
    return X, y["multiclass" if target == "weighted" else target], fit


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", ROUTE_CASES)
def test_the_minibatch_kernel_trains_as_the_python_loop(
    case, dtype, threads, monkeypatch, split_any_work
):
    # Most fits run their minibatches in one kernel call an epoch; the others
    # (dropout, two directions, a prediction a step) a minibatch at a time from
    # Python. The same fit by either route: equal within rounding.
    from threadpoolctl import threadpool_limits

    from sklstm import _training

    estimator_class, params, kind = ROUTE_CASES[case]
    X, y, fit = route_case_data(kind, np.random.RandomState(0))
    X = X.astype(dtype) if isinstance(X, np.ndarray) else [x.astype(dtype) for x in X]
    est = estimator_class(
        **{"hidden_layer_sizes": (6,), "max_iter": 4, "batch_size": 16, **params},
        random_state=0,
    )
    kernel, calls = _training.train_minibatches, []
    monkeypatch.setattr(
        _training,
        "train_minibatches",
        lambda *args: calls.append(1) or kernel(*args),
    )
    with threadpool_limits(limits=threads, user_api="openmp"):
        in_kernel = quietly(clone(est).fit, X, y, **fit)
        assert len(calls) == 4  # an epoch a call
        monkeypatch.setattr(_training.Minibatches, "_kernel_arguments", lambda _: None)
        in_python = quietly(clone(est).fit, X, y, **fit)
    assert len(calls) == 4
    tolerance = 1e-12 if dtype == np.float64 else 2e-5
    assert_allclose(in_kernel.loss_curve_, in_python.loss_curve_, rtol=tolerance)
    assert in_kernel.t_ == in_python.t_
    for a, b in zip(in_kernel.get_weights(), in_python.get_weights()):
        assert_allclose(a, b, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"order": [[1, 0, 2]]}, "sorted by decreasing length"),
        ({"order": [[0, 1, 9]]}, "not in values"),
        ({"starts": [0, 2, 2]}, "batch_starts must increase"),
        ({"starts": [1, 3]}, "start at 0"),
        ({"lengths": [3, 2, 9]}, "outside values"),
        ({"params": 1}, "params or grads do not match"),
        ({"state": 1}, "optimizer's state"),
        ({"results": 1}, "results must be"),
        ({"projection": -1}, "projection must be 0 or positive"),
        # E and b (3 x 2 + 2) would lead params: too few for the layers.
        ({"projection": 2}, "params or grads do not match"),
    ],
)
def test_the_minibatch_kernel_refuses_inconsistent_arguments(change, message):
    from sklstm._heads import Softmax
    from sklstm._kernels._epoch import LOSSES, RULES, train_minibatches
    from sklstm._network import network_for

    network = network_for(2, (3,), 2, Softmax(), np.float64, False, False, "lstm")
    params = network.initialize(np.random.RandomState(0))
    n = len(params) + change.get("params", 0)
    values = np.zeros((9, 2))
    lengths = np.array(change.get("lengths", [3, 2, 1]), dtype=np.intp)
    order = np.array(change.get("order", [[0, 1, 2]])[0], dtype=np.intp)
    starts = np.array(change.get("starts", [0, 3]), dtype=np.intp)
    settings = dict.fromkeys(
        ["loss_parameter", "alpha", "learning_rate", "beta_1", "beta_2"]
        + ["epsilon", "rho", "momentum", "nesterov", "step", "cell"],
        0,
    )
    settings.update(
        loss=LOSSES["softmax"],
        rule=RULES["sgd"],
        max_grad_norm=np.inf,
        n_threads=1,
        projection=change.get("projection", 0),
    )
    with pytest.raises(ValueError, match=message):
        train_minibatches(
            values,
            np.array([0, 3, 6], dtype=np.intp),
            lengths,
            np.eye(2)[[0, 1, 0]],
            np.empty(0),
            order,
            starts,
            network._units,
            network._l2_runs,
            np.resize(params, n),
            np.empty(n),
            np.zeros(len(params) + change.get("state", 0)),
            np.empty(0),
            settings,
            np.empty((len(starts) - 1 + change.get("results", 0), 2)),
        )


# ------------------------------------------------------------------- weights
@pytest.mark.parametrize(
    "class_weight, message",
    [
        ({0: 0.0, 1: 0.0, 2: 0.0}, "no sample would count"),
        ({0: 1.0, 1: -1.0, 2: 1.0}, "finite non-negative"),
        ({0: 1.0, 1: np.nan, 2: 1.0}, "finite non-negative"),
        ({0: 1.0, 1: np.inf, 2: 1.0}, "finite non-negative"),
        ({0: "a", 1: 1.0, 2: 1.0}, "finite non-negative"),
        ({0: 1.0, 1: 1.0, 7: 1.0}, "not in class_weight|not found|7"),
    ],
)
def test_invalid_class_weights_are_refused(class_weight, message):
    X, y = classification_data()
    with pytest.raises(ValueError, match=message):
        LSTMClassifier(class_weight=class_weight, max_iter=1).fit(X, y)


def test_class_weights_zero_on_the_classes_present_are_refused():
    X, y = classification_data(n_classes=2)
    est = LSTMClassifier(class_weight={0: 0.0, 1: 0.0}, max_iter=1)
    with pytest.raises(ValueError, match="no sample would count"):
        est.fit(X, y)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_sample_weights_train_as_their_proportions(dtype):
    """Weights are only relative: 1e30 (beyond float32's sums) as 1."""
    X, y = classification_data()
    X = X.astype(dtype)
    params = dict(hidden_layer_sizes=(4,), max_iter=3, random_state=0, alpha=0.0)
    unit = quietly(LSTMClassifier(**params).fit, X, y, sample_weight=np.ones(len(y)))
    huge = quietly(
        LSTMClassifier(**params).fit, X, y, sample_weight=np.full(len(y), 2.0**100)
    )
    assert_allclose(huge.predict_proba(X), unit.predict_proba(X), rtol=1e-5)
    assert np.isfinite(huge.loss_curve_).all()


def test_targets_and_inputs_too_large_for_the_dtype_are_refused():
    X, y = regression_data()
    with pytest.raises(ValueError, match="too large for float32"):
        LSTMRegressor(max_iter=1).fit(X.astype(np.float32), 1e300 * y)
    with pytest.raises(ValueError, match="too large to train on"):
        LSTMRegressor(max_iter=1).fit(X * 1e200, y)
    with pytest.raises(ValueError, match="too large to train on"):
        LSTMRegressor(max_iter=1).fit(X.astype(np.float32) * 1e30, y)
    # Huge but finite targets train in float64 (they are standardised).
    est = quietly(LSTMRegressor(max_iter=5, random_state=0).fit, X, 1e300 * y)
    assert np.isfinite(est.predict(X)).all()


# ---------------------------------------------------------------- validation
def test_early_stopping_works_for_any_number_of_classes():
    """10 classes in 50 samples: a 5-sample split cannot hold every class."""
    rng = np.random.RandomState(0)
    X, y = rng.randn(50, 4, 2), np.arange(50) % 10
    est = quietly(
        LSTMClassifier(early_stopping=True, max_iter=5, random_state=0).fit, X, y
    )
    assert len(est.validation_scores_) == est.n_iter_


def test_early_stopping_with_multilabel_targets():
    rng = np.random.RandomState(0)
    X = rng.randn(60, 4, 2)
    Y = np.column_stack([X[:, -1, 0] > 0, X[:, -1, 1] > 0, X[:, 0, 0] > 1])
    est = quietly(
        LSTMClassifier(early_stopping=True, max_iter=5, random_state=0).fit,
        X,
        Y.astype(int),
    )
    assert est.predict(X).shape == Y.shape


@pytest.mark.parametrize(
    "labels, n_val",
    [(None, 4), (np.arange(40) % 2, 4), (np.arange(40) % 30, 10)],
    ids=["no-labels", "2-classes", "30-classes"],
)
def test_validation_split_is_stratified_and_weighted(labels, n_val):
    keys = np.random.RandomState(0).randint(0, 2**62, size=40).astype(np.uint64)
    train, val = validation_split(keys, labels, None, 0.1)
    assert len(val) == n_val and len(train) == 40 - n_val
    assert not set(train) & set(val)
    if labels is not None:
        # Every class with room for it is in both parts.
        counts = np.bincount(labels)
        assert set(labels[val]) == set(np.flatnonzero(counts >= 2))
        assert set(labels[train]) == set(labels)
    # Weight 2 splits as a sequence repeated, weight 0 as one left out.
    weights = np.arange(40) % 3
    repeated = np.repeat(np.arange(40), weights)
    train_w, val_w = validation_split(keys, labels, weights.astype(float), 0.1)
    train_r, val_r = validation_split(
        keys[repeated], None if labels is None else labels[repeated], None, 0.1
    )
    weighing = lambda index: set(index[weights[index] > 0])  # noqa: E731
    assert weighing(val_w) == set(repeated[val_r])
    assert weighing(train_w) == set(repeated[train_r])


def test_a_validation_split_too_small_names_validation_fraction():
    X, y = classification_data(n_samples=3, n_classes=3)  # one sequence a class
    with pytest.raises(ValueError, match="validation_fraction"):
        LSTMClassifier(early_stopping=True).fit(X, y)


@pytest.mark.parametrize("estimator_class", [LSTMClassifier, LSTMRegressor])
def test_explicit_validation_data(estimator_class):
    X, y_class = classification_data(200)
    y = y_class if estimator_class is LSTMClassifier else X[:, -1, 0]
    est = estimator_class(
        hidden_layer_sizes=(6,), early_stopping=True, max_iter=8, random_state=0
    )
    quietly(est.fit, X[:150], y[:150], X_val=X[150:], y_val=y[150:])
    # With scoring="loss" the scores are the negative validation loss.
    network = est._network()
    Y_val = est._encode_targets(y[150:], first_pass=False)
    logits = est._fitted_model().raw_outputs(DenseSequences(X[150:]))
    if estimator_class is LSTMRegressor:  # the loss of the standardised targets
        logits = (logits - est._target_offset) / est._target_scale
    loss = network.mean_loss(logits, Y_val)
    assert est.best_validation_score_ == pytest.approx(-loss, rel=1e-9)
    assert est.best_validation_score_ == max(est.validation_scores_) or (
        est.best_iter_ == 0
    )
    weights = np.linspace(0.5, 2, 50)
    quietly(
        est.fit,
        X[:150],
        y[:150],
        X_val=X[150:],
        y_val=y[150:],
        sample_weight_val=weights,
    )
    with pytest.raises(ValueError, match="y_val was not provided"):
        est.fit(X, y, X_val=X)
    with pytest.raises(ValueError, match="early_stopping is False"):
        est.set_params(early_stopping=False).fit(X, y, X_val=X, y_val=y)
    with pytest.raises(ValueError, match="expecting 3 features"):
        est.set_params(early_stopping=True).fit(X, y, X_val=X[:, :, :2], y_val=y)


@pytest.mark.parametrize("scoring", ["accuracy", "neg_log_loss", None])
def test_early_stopping_scoring(scoring):
    X, y = classification_data(200)
    est = LSTMClassifier(
        hidden_layer_sizes=(6,),
        early_stopping=True,
        scoring=scoring,
        max_iter=6,
        random_state=0,
    )
    quietly(est.fit, X, y)
    scores = np.array(est.validation_scores_)
    if scoring in ("accuracy", None):
        assert ((scores >= 0) & (scores <= 1)).all()
    else:
        assert (scores < 0).all()


def test_auto_batch_size():
    from sklstm._training import auto_batch_size as _auto_batch_size

    assert _auto_batch_size(5) == 5
    assert _auto_batch_size(20) == 8
    assert _auto_batch_size(50) == 8
    assert _auto_batch_size(100) == 12
    assert _auto_batch_size(255) == 31
    assert _auto_batch_size(256) == 32
    assert _auto_batch_size(1600) == 32
    assert _auto_batch_size(5000) == 100
    assert _auto_batch_size(100_000) == 200


# ---------------------------------------------------------- Keras' habits
def test_one_hot_targets_warn_with_the_fix():
    X, y = classification_data()
    one_hot = np.eye(3)[y]
    with pytest.warns(OneHotTargetWarning, match=r"y.argmax\(axis=1\)"):
        quietly(LSTMClassifier(max_iter=1).fit, X, one_hot)
    with warnings.catch_warnings():
        warnings.simplefilter("error", OneHotTargetWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        LSTMClassifier(max_iter=1).fit(X, y)  # labels: no warning
        # A real multilabel target (rows with 0 or 2 labels) does not warn.
        multi = one_hot.copy()
        multi[0] = [1, 1, 0]
        multi[1] = 0
        LSTMClassifier(max_iter=1).fit(X, multi)


def test_soft_targets_are_refused_with_the_fix():
    X, y = classification_data()
    soft = np.full((len(y), 3), 0.1)
    soft[np.arange(len(y)), y] = 0.8
    with pytest.raises(ValueError, match=r"class probabilities.*argmax"):
        LSTMClassifier(max_iter=1).fit(X, soft)


# ---------------------------------------------------------------- messages
def test_a_list_of_1d_sequences_of_different_lengths_names_the_fix():
    X = [np.arange(5.0), np.arange(7.0), np.arange(3.0)]
    with pytest.raises(ValueError, match=r"1-D sequences of different lengths.*None"):
        LSTMRegressor(max_iter=1).fit(X, [0.0, 1.0, 2.0])


def test_time_series_library_layouts_get_a_hint():
    rng = np.random.RandomState(0)
    X = rng.randn(20, 1, 50)  # aeon's (n, channels, time) of a univariate series
    with pytest.warns(UserWarning, match=r"transpose\(0, 2, 1\)"):
        quietly(LSTMRegressor(max_iter=1).fit, X, rng.randn(20))
    ragged = [rng.randn(2, n) for n in (30, 40, 50)]  # (channels, time) each
    with pytest.raises(ValueError, match=r"\[x.T for x in X\]"):
        LSTMRegressor(max_iter=1).fit(ragged, [0.0, 1.0, 2.0])


def test_docstrings_show_no_runs_of_spaces():
    """help() shows what the docstrings say, without line-continuation gaps."""
    for obj in [sklstm.LSTMClassifier, sklstm.LSTMRegressor, sklstm.SequenceScaler]:
        for name, member in [("", obj)] + inspect.getmembers(obj):
            module = getattr(inspect.getmodule(member), "__name__", "")
            if name.startswith("_") and name or not module.startswith("sklstm"):
                continue  # private, or scikit-learn's
            doc = inspect.getdoc(member) or ""
            for line in doc.splitlines():
                if re.match(r"\s*\w+ : ", line):  # a parameter's type line
                    assert "   " not in line.strip(), (obj.__name__, name, line)


def test_the_source_tree_without_kernels_says_what_to_do(tmp_path):
    package = Path(sklstm.__file__).parent
    shutil.copytree(
        package, tmp_path / "sklstm", ignore=shutil.ignore_patterns("*.so", "*.pyd")
    )
    result = subprocess.run(
        [sys.executable, "-c", "import sklstm"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode != 0
    assert "compiled kernels" in result.stderr
    assert "pip install" in result.stderr


@pytest.mark.parametrize(
    "X, error, message",
    [
        (None, TypeError, "got NoneType"),
        ({"a": 1}, TypeError, "got dict"),
        ("abc", TypeError, "got str"),
        ([np.ones((3, 2)), None, np.ones((4, 2))], ValueError, r"X\[1\] is None"),
        ([np.arange(3.0), np.arange(4.0), np.arange(5.0)], ValueError, "1-D sequences"),
    ],
    ids=["None", "dict", "str", "None-in-list", "1-D-ragged"],
)
@pytest.mark.parametrize("method", ["fit", "predict", "scaler"])
def test_inputs_that_are_no_sequences_are_named(X, error, message, method):
    if method == "scaler":
        call = sklstm.SequenceScaler().fit
    elif method == "fit":
        call = LSTMClassifier(max_iter=1).fit
    else:
        Xf, yf = classification_data(n_samples=20)
        call = quietly(LSTMClassifier(max_iter=1).fit, Xf[:, :, :2], yf).predict
    with pytest.raises(error, match=message):
        call(X, [0, 1, 2]) if method == "fit" else call(X)


@pytest.mark.parametrize("loss", ["squared_error", "absolute_error", "poisson"])
@pytest.mark.parametrize("solver", ["adam", "sgd", "rmsprop"])
def test_the_start_is_measured_on_the_whole_training_set(solver, loss):
    """The starting weights compete with the epochs on the same footing.

    Here the first minibatch holds the targets nearest their center, so its
    loss at the start is far below the data set's: judged by it, the starting
    weights beat every epoch and a fit kept its random initialisation.
    """
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 5, 2))
    y = np.exp(1.5 * X[:, -1, 0])  # skewed, positive
    order = np.argsort(np.abs(np.log(y)))  # the most typical first
    X, y = X[order], y[order]
    model = LSTMRegressor(
        hidden_layer_sizes=(8,),
        solver=solver,
        loss=loss,
        batch_size=20,
        shuffle=False,
        learning_rate_init=0.01 if solver != "sgd" else 0.05,
        max_iter=30,
        random_state=0,
    )
    quietly(model.fit, X, y)
    assert model.best_iter_ > 0
    assert model.loss_ < model.loss_curve_[0]
    assert model.score(X, y) > 0.3


@pytest.mark.parametrize(
    "params",
    [
        dict(max_iter=2),
        dict(max_iter=2, solver="lbfgs"),
        dict(max_iter=2, learning_rate_init=1e6, solver="sgd"),
    ],
    ids=["max_iter", "lbfgs", "divergence"],
)
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_training_warnings_point_at_the_caller(params, method):
    X, y = classification_data(60)
    est = LSTMClassifier(hidden_layer_sizes=(4,), random_state=0, **params)
    if method == "partial_fit" and est.solver == "lbfgs":
        pytest.skip("lbfgs has no partial_fit")
    kwargs = {"classes": np.unique(y)} if method == "partial_fit" else {}
    X[0, 0, 0] = 1e3 if "learning_rate_init" in params else X[0, 0, 0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3 if method == "partial_fit" else 1):
            getattr(est, method)(X, y, **kwargs)
    training = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    if method == "fit" or training:
        assert training
    assert all(w.filename == __file__ for w in training), [w.filename for w in training]


@pytest.mark.parametrize("one_hot", [False, True])
def test_input_warnings_point_at_the_caller(one_hot):
    rng = np.random.RandomState(0)
    if one_hot:
        X, y = rng.normal(size=(30, 4, 2)), np.eye(3)[np.arange(30) % 3]
    else:  # aeon's (n, channels, time) layout: 1 step of 10 features
        X, y = rng.normal(size=(30, 1, 10)), np.arange(30) % 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        LSTMClassifier(hidden_layer_sizes=(3,), max_iter=1).fit(X, y)
    ours = [w for w in caught if not issubclass(w.category, ConvergenceWarning)]
    assert ours and all(w.filename == __file__ for w in ours), [
        (w.category, w.filename) for w in ours
    ]
