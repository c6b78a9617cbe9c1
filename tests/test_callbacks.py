"""scikit-learn's callbacks on a fit, the adaptive learning rate for every
minibatch solver, and the training-curve display."""

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score

from sklstm import LSTMClassifier, LSTMRegressor, TrainingCurveDisplay

callback = pytest.importorskip("sklearn.callback")

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def data(n_samples=60, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_samples, 5, 2))
    return X, (X[:, :, 0].sum(axis=1) > 0).astype(int)


class Recorder:
    """A FitCallback that records every hook, and stops where it is told."""

    def __init__(self, stop_after=None):
        self.events, self.weights, self.stop_after = [], [], stop_after

    def setup(self, estimator, context):
        self.events.append(("setup", context.task_name))

    def teardown(self, estimator, context):
        self.events.append(("teardown", context.task_name))

    def on_fit_task_begin(self, estimator, context, *, X=None, fitted_estimator=None):
        self.events.append(("begin", context.task_name, context.task_id))

    def on_fit_task_end(
        self, estimator, context, *, X=None, y=None, fitted_estimator=None
    ):
        self.events.append(("end", context.task_name, context.task_id))
        if context.task_name == "epoch":
            # The estimator being fitted is left alone: its weights are the
            # training copy's, not the snapshot's.
            assert fitted_estimator is not estimator
            assert fitted_estimator._params is not estimator._params
            self.weights.append(fitted_estimator.get_weights())
            self.X, self.y = X, y
            return self.stop_after is not None and len(self.weights) >= self.stop_after
        return False


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_a_fit_is_a_task_of_epochs(solver):
    X, y = data()
    recorder = Recorder()
    model = LSTMClassifier(
        hidden_layer_sizes=(4,), solver=solver, max_iter=4, random_state=0
    )
    model.set_callbacks(recorder).fit(X, y)
    epochs = [("begin", "epoch", i) for i in range(model.n_iter_)]
    expected = [("setup", "fit"), ("begin", "fit", 0)]
    for begin in epochs:
        expected += [begin, ("end", "epoch", begin[2])]
    expected += [("end", "fit", 0), ("teardown", "fit")]
    assert recorder.events == expected
    assert model.n_iter_ == len(recorder.weights) > 0
    assert recorder.X is X and recorder.y is y  # the data fit was given


def test_partial_fit_is_one_task():
    X, y = data()
    recorder = Recorder()
    model = LSTMClassifier(hidden_layer_sizes=(4,), random_state=0)
    model.set_callbacks(recorder)
    model.partial_fit(X, y, classes=[0, 1])
    model.partial_fit(X, y)
    one = [("setup", "partial_fit"), ("begin", "partial_fit", 0)]
    one += [("end", "partial_fit", 0), ("teardown", "partial_fit")]
    assert recorder.events == one + one


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_a_callback_can_stop_training(solver):
    X, y = data()
    model = LSTMClassifier(
        hidden_layer_sizes=(4,), solver=solver, max_iter=50, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # a stop is no failure
        model.set_callbacks(Recorder(stop_after=3)).fit(X, y)
    assert model.n_iter_ == 3


@pytest.mark.parametrize("early_stopping", [False, True])
def test_scoring_monitor_rows_are_the_scores_of_each_epochs_weights(early_stopping):
    X, y = data(80)
    monitor = callback.ScoringMonitor(scoring="accuracy")
    recorder = Recorder()
    model = LSTMClassifier(
        hidden_layer_sizes=(5,),
        max_iter=6,
        learning_rate_init=0.02,
        early_stopping=early_stopping,
        # The best epoch's weights, which a snapshot holds (not their average).
        ema_momentum=None,
        random_state=0,
    )
    model.set_callbacks(monitor, recorder).fit(X, y)
    rows = [row for row in monitor.get_logs().data if row["task_name"] == "epoch"]
    assert [row["task_id"] for row in rows] == list(range(model.n_iter_))
    rebuilt = clone(model).set_callbacks().fit(X, y)
    for row, weights in zip(rows, recorder.weights):
        rebuilt.set_weights(weights)
        assert row["accuracy"] == accuracy_score(y, rebuilt.predict(X))
    # The estimator ends with the weights kept, not the last snapshot's.
    kept = recorder.weights[model.best_iter_ - 1] if model.best_iter_ else None
    if kept is not None:
        for got, want in zip(model.get_weights(), kept):
            assert_allclose(got, want, rtol=1e-12)


def test_regressor_snapshots_predict_in_y_units():
    rng = np.random.RandomState(1)
    X = rng.normal(size=(50, 4, 2))
    y = 1000 + 100 * X[:, -1, 0]
    monitor = callback.ScoringMonitor(scoring="r2")
    model = LSTMRegressor(
        hidden_layer_sizes=(4,),
        max_iter=30,
        learning_rate_init=0.01,
        ema_momentum=None,  # the best epoch's weights, a snapshot's
        random_state=0,
    )
    model.set_callbacks(monitor).fit(X, y)
    scores = [r["r2"] for r in monitor.get_logs().data if r["task_name"] == "epoch"]
    # In training units the predictions would be ~0 against y ~1000: R^2 ~ -100.
    assert scores[model.best_iter_ - 1] == pytest.approx(model.score(X, y), rel=1e-12)
    assert scores[-1] > 0.5


def test_progress_bars_nest_under_a_search_with_two_workers(tmp_path):
    pytest.importorskip("rich")
    script = textwrap.dedent(
        """
        import numpy as np
        from sklearn.callback import ProgressBar
        from sklearn.model_selection import GridSearchCV
        from sklearn.pipeline import Pipeline
        from sklstm import LSTMClassifier, SequenceScaler

        rng = np.random.RandomState(0)
        X = rng.normal(size=(60, 5, 2))
        y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
        pipe = Pipeline([("scale", SequenceScaler()),
                         ("lstm", LSTMClassifier(max_iter=3, random_state=0))])
        search = GridSearchCV(pipe, {"lstm__hidden_layer_sizes": [(3,), (4,)]},
                              cv=2, n_jobs=2)
        search.set_callbacks(ProgressBar(max_propagation_depth=None))
        search.fit(X, y)
        print("done", search.best_params_)
        """
    )
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={"COLUMNS": "120", "PATH": "/usr/bin:/bin", "FORCE_COLOR": "0"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "done" in result.stdout
    assert "LSTMClassifier" in result.stdout + result.stderr  # the nested bars


# --------------------------------------------------------- adaptive rate
def plateau_data():
    # A target the network learns quickly, then only slowly: the rate drops.
    rng = np.random.RandomState(0)
    X = rng.normal(size=(64, 4, 2))
    return X, X[:, -1, 0] + 0.3 * rng.normal(size=64)


@pytest.mark.parametrize("solver", ["adam", "rmsprop", "sgd"])
def test_adaptive_rate_divides_on_a_plateau_for_every_solver(solver):
    X, y = plateau_data()
    model = LSTMRegressor(
        hidden_layer_sizes=(8,),
        solver=solver,
        learning_rate="adaptive",
        learning_rate_init=0.01,
        n_iter_no_change=2,
        tol=0.05,
        max_iter=60,
        random_state=0,
    ).fit(X, y)
    rates = np.array(model.learning_rate_curve_)
    assert len(rates) == model.n_iter_ == len(model.loss_curve_)
    assert rates[0] == 0.01 and rates.min() < 0.01
    drops = rates[1:] / rates[:-1]
    assert set(np.round(drops[drops != 1], 12)) == {0.2}
    assert (np.diff(rates) <= 0).all()


def test_constant_rate_is_recorded_and_lbfgs_refuses_a_schedule():
    X, y = plateau_data()
    model = LSTMRegressor(hidden_layer_sizes=(4,), max_iter=5).fit(X, y)
    assert model.learning_rate_curve_ == [0.001] * 5
    lbfgs = LSTMRegressor(solver="lbfgs", max_iter=5).fit(X, y)
    assert lbfgs.learning_rate_curve_ is None
    for schedule in ("adaptive", "invscaling"):
        with pytest.raises(ValueError, match="lbfgs chooses its own"):
            LSTMRegressor(solver="lbfgs", learning_rate=schedule).fit(X, y)


# --------------------------------------------------------------- display
@pytest.mark.parametrize(
    "params",
    [
        dict(),
        dict(early_stopping=True),
        dict(early_stopping=True, scoring="accuracy"),
        dict(learning_rate="adaptive", n_iter_no_change=2, tol=0.1),
        dict(solver="lbfgs"),
    ],
    ids=["plain", "validation loss", "validation accuracy", "adaptive", "lbfgs"],
)
def test_display_draws_what_the_model_recorded(params):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    X, y = data(80)
    model = LSTMClassifier(
        hidden_layer_sizes=(4,), max_iter=25, random_state=0, **params
    ).fit(X, y)
    display = TrainingCurveDisplay.from_estimator(model)
    assert display.figure_ is display.ax_.figure
    assert_array_equal(display.lines_["loss"].get_ydata(), display.loss_curve)
    if params.get("early_stopping"):
        scores = np.asarray(model.validation_scores_)
        if model.scoring == "loss":
            scores = -scores
        assert_allclose(display.lines_["validation"].get_ydata(), scores)
    else:
        assert "validation" not in display.lines_
    assert ("best" in display.lines_) == (model.best_iter_ > 0)
    rates = model.learning_rate_curve_
    assert ("learning_rate" in display.lines_) == bool(rates and len(set(rates)) > 1)
    # plot() draws it again on other axes.
    _, ax = plt.subplots()
    assert display.plot(ax=ax).ax_ is ax
    plt.close("all")
