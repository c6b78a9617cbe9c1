"""The regressor's losses (squared, absolute, Poisson, gamma, quantile) and the
heads behind every estimator: gradients, scaling, what each loss predicts, and
everything else the regressor does, with each loss."""

import pickle
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from reference import packed_batch
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import mean_absolute_error, mean_poisson_deviance
from sklearn.utils._param_validation import InvalidParameterError
from test_kernels import assert_gradient_matches_finite_differences

from sklstm import LSTMRegressor
from sklstm._heads import (
    REGRESSION_LOSSES,
    AbsoluteError,
    BinaryLogistic,
    Gamma,
    Logistic,
    Poisson,
    Quantile,
    Softmax,
    SquaredError,
    regression_head,
)
from sklstm._kernels._epoch import row_losses
from sklstm._network import LSTMNetwork
from sklstm._sequences import StepTargets

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

LOSSES = sorted(REGRESSION_LOSSES)
HEADS = {
    "squared_error": SquaredError(),
    "absolute_error": AbsoluteError(),
    "poisson": Poisson(),
    "gamma": Gamma(),
    "quantile": Quantile(0.8),
}
ALL_HEADS = [*HEADS.values(), Quantile(0.1), Softmax(), Logistic(), BinaryLogistic()]


def loss_params(loss):
    return {"loss": loss, "quantile": 0.7 if loss == "quantile" else None}


def targets_for(head, rng, shape):
    """Targets in the loss's domain: positive for the log links, else any."""
    if head.positive_targets:
        return np.exp(rng.normal(size=shape))
    if isinstance(head, Softmax):
        return np.eye(shape[1])[rng.randint(shape[1], size=shape[0])]
    if isinstance(head, Logistic):
        return rng.randint(2, size=shape).astype(float)
    return rng.normal(size=shape)


# ------------------------------------------------------------- heads alone
@pytest.mark.parametrize("head", ALL_HEADS, ids=repr)
def test_head_gradient_matches_finite_differences(head):
    rng = np.random.RandomState(0)
    n_outputs = 1 if isinstance(head, BinaryLogistic) else 3
    raw = rng.normal(size=(7, n_outputs))
    Y = targets_for(head, rng, raw.shape)
    losses, delta = head.losses(raw.copy(), Y, gradient=True)
    assert_allclose(head.losses(raw.copy(), Y), losses)
    eps = 1e-6
    numeric = np.empty_like(raw)
    for index in np.ndindex(raw.shape):
        shifted = raw.copy()
        shifted[index] += eps
        upper = head.losses(shifted, Y)[index[0]]
        shifted[index] -= 2 * eps
        numeric[index] = (upper - head.losses(shifted, Y)[index[0]]) / (2 * eps)
    assert_allclose(delta, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("head", ALL_HEADS, ids=repr)
def test_the_minibatch_kernel_computes_each_head_loss(head, dtype):
    # The minibatch kernel (training's route for most fits) has each loss in C:
    # the same per-row losses and gradients as the head's, at large raw outputs
    # and exact ties too.
    rng = np.random.RandomState(0)
    n_outputs = 1 if isinstance(head, BinaryLogistic) else 3
    raw = rng.normal(scale=3, size=(40, n_outputs))
    if dtype == np.float64:  # float32's gradients would overflow, as the head's
        raw[:3] *= 100
    Y = targets_for(head, rng, raw.shape)
    if not head.positive_targets and not head.indicator_labels:
        raw[3] = Y[3]  # a tie: the absolute error's and the quantile's gradient
    raw = raw.astype(dtype)
    with np.errstate(over="ignore"):
        expected, expected_delta = head.losses(raw.astype(np.float64), Y, True)
    delta = np.empty_like(raw)
    losses = row_losses(raw, Y, delta, *head.kernel_loss())
    tolerance = 1e-12 if dtype == np.float64 else 1e-6
    assert_allclose(losses, expected, rtol=tolerance, atol=tolerance)
    assert_allclose(delta, expected_delta, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize(
    "loss", ["squared_error", "absolute_error", "poisson", "gamma"]
)
def test_deviance_losses_are_zero_at_the_optimum(loss):
    # Each loss is 0 where the prediction is the target and positive elsewhere
    # (half the deviance, for the log links), so the stopping rule's absolute
    # tolerance below 1 means the same for every loss.
    head = HEADS[loss]
    rng = np.random.RandomState(1)
    Y = targets_for(head, rng, (6, 2))
    raw = np.log(Y) if head.positive_targets else Y.copy()
    assert_allclose(head.losses(raw, Y), 0, atol=1e-12)
    assert (head.losses(raw + 0.3, Y) > 0).all()


@pytest.mark.parametrize("loss", LOSSES)
def test_scaling_folds_into_the_dense_layer(loss):
    """Raw outputs in training units and those of the folded weights agree."""
    head = HEADS[loss]
    rng = np.random.RandomState(2)
    Y = targets_for(head, rng, (50, 2)) * [[3.0, 1e4]]
    scaling = head.scaling(Y, rng.uniform(0.5, 2, size=50))
    encoded = head.encode(Y, scaling)
    # Training units have a unit scale: mean (or median) near 0 for the
    # identity, mean 1 for the log link.
    center = np.average(encoded, axis=0) if head.positive_targets else None
    if center is not None:
        assert_allclose(center, 1, rtol=0.5)
    hidden = rng.normal(size=(4, 5))
    kernel, bias = rng.normal(size=(5, 2)), rng.normal(size=2)
    folded = head.fold(kernel, bias, scaling)
    in_y_units = head.decode(hidden @ folded[0] + folded[1])
    assert_allclose(
        head.encode(in_y_units, scaling), head.decode(hidden @ kernel + bias)
    )
    back = head.unfold(*folded, scaling)
    assert_allclose(back[0], kernel)
    assert_allclose(back[1], bias)


def test_weighted_statistics_equal_repeated_samples():
    rng = np.random.RandomState(3)
    Y = rng.normal(size=(30, 2))
    weights = rng.randint(0, 4, size=30)
    repeated = np.repeat(Y, weights, axis=0)
    for head in (SquaredError(), AbsoluteError(), Quantile(0.3)):
        assert_allclose(head.scaling(Y, weights.astype(float)), head.scaling(repeated))


def test_heads_compare_by_kind_and_parameters():
    assert Quantile(0.3) == Quantile(0.3) and hash(Quantile(0.3)) == hash(Quantile(0.3))
    assert Quantile(0.3) != Quantile(0.4)
    assert Logistic() != BinaryLogistic()
    assert regression_head("quantile", 0.25) == Quantile(0.25)
    with pytest.raises(ValueError, match="loss='quantile' needs the quantile"):
        regression_head("quantile")


# --------------------------------------------------------------- the network
CASES = {
    "stacked": dict(sizes=(4, 3), bidirectional=False, per_step=False, weighted=False),
    "bidirectional": dict(sizes=(3, 2), bidirectional=True, per_step=False),
    "per-step": dict(sizes=(3,), bidirectional=False, per_step=True, weighted=False),
    "weighted per-step bidirectional": dict(
        sizes=(3,), bidirectional=True, per_step=True, weighted=True
    ),
    "weighted": dict(sizes=(4,), bidirectional=False, per_step=False, weighted=True),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("loss", LOSSES)
def test_loss_gradient_matches_finite_differences(loss, case):
    """float64, every weight, ragged lengths; the L2 term included."""
    settings = {"weighted": False, **CASES[case]}
    head = HEADS[loss]
    rng = np.random.RandomState(4)
    lengths = np.array([5, 4, 2, 1])
    network = LSTMNetwork(
        3,
        settings["sizes"],
        2,
        head,
        np.float64,
        settings["bidirectional"],
        return_sequences=settings["per_step"],
    )
    params = network.initialize(rng) + rng.normal(scale=0.3, size=network.n_params)
    X = rng.normal(size=(4, 5, 3))
    X_tm, batch_sizes, last_step, order = packed_batch(X, lengths)
    sorted_lengths = lengths[order]
    sample_weight = rng.uniform(0.2, 2, size=4) if settings["weighted"] else None
    if settings["per_step"]:
        Y = StepTargets(targets_for(head, rng, (lengths.sum(), 2)), sorted_lengths)
        if sample_weight is not None:
            Y, _ = StepTargets.weighted(
                Y.values, sorted_lengths, rng.uniform(0.2, 2, size=lengths.sum())
            )
    else:
        Y = targets_for(head, rng, (4, 2))
    workspace = network.workspace(*X_tm.shape[:2])
    assert_gradient_matches_finite_differences(
        lambda p, g: network.loss_and_gradient(
            p,
            X_tm,
            batch_sizes,
            last_step,
            Y,
            0.3,
            g,
            workspace,
            sample_weight=sample_weight,
        ),
        params,
    )


# ------------------------------------------------------ what each loss predicts
def heteroscedastic(n_samples, seed):
    """A level from the last steps, a spread from the whole sequence."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-1, 1, size=(n_samples, 10, 2))
    level = 2 * X[:, -3:, 0].mean(axis=1)
    spread = 0.2 + 2.4 * np.abs(X[:, :, 1].mean(axis=1))
    return X, level + spread * rng.normal(size=n_samples)


def quietly(estimator, X, y, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y, **kwargs)


@pytest.mark.parametrize("quantile", [0.1, 0.9])
def test_quantile_loss_covers_its_quantile_on_new_data(quantile):
    X, y = heteroscedastic(2000, 0)
    X_new, y_new = heteroscedastic(2000, 1)
    model = quietly(
        LSTMRegressor(loss="quantile", quantile=quantile, random_state=0), X, y
    )
    coverage = (y_new <= model.predict(X_new)).mean()
    assert abs(coverage - quantile) <= 0.05


def test_poisson_loss_has_a_lower_deviance_on_counts():
    rng = np.random.RandomState(5)
    X = rng.normal(size=(1200, 8, 2))
    rate = np.exp(0.3 + 1.2 * np.tanh(X[:, -2:, 0].sum(axis=1)))
    y = rng.poisson(rate).astype(float)
    train, test = slice(0, 800), slice(800, None)
    deviance = {}
    for loss in ("poisson", "squared_error"):
        model = quietly(
            LSTMRegressor(hidden_layer_sizes=(16,), loss=loss, random_state=0),
            X[train],
            y[train],
        )
        prediction = model.predict(X[test])
        if loss == "poisson":
            assert (prediction > 0).all()
        # The squared error's predictions may be <= 0, where the deviance is
        # undefined: as scikit-learn's users do, clip them to a small rate.
        deviance[loss] = mean_poisson_deviance(y[test], np.maximum(prediction, 1e-3))
    assert deviance["poisson"] < deviance["squared_error"]


def test_absolute_error_resists_gross_outliers():
    rng = np.random.RandomState(6)
    X = rng.normal(size=(1000, 8, 2))
    clean = X[:, -1, 0] - 0.5 * X[:, -2, 1]
    y = clean + 0.1 * rng.normal(size=1000)
    outliers = rng.choice(800, size=40, replace=False)  # 5% of the training set
    y[outliers] += rng.choice([-1, 1], size=40) * rng.uniform(20, 50, size=40)
    train, test = slice(0, 800), slice(800, None)
    error = {}
    for loss in ("absolute_error", "squared_error"):
        model = quietly(
            LSTMRegressor(hidden_layer_sizes=(16,), loss=loss, random_state=0),
            X[train],
            y[train],
        )
        error[loss] = mean_absolute_error(clean[test], model.predict(X[test]))
    assert error["absolute_error"] < 0.7 * error["squared_error"]


# ---------------------------------------------- everything else, with each loss
def positive_data(n_samples=60, seed=0, n_outputs=1):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_samples, 6, 3))
    y = np.exp(0.5 * X[:, -1, :n_outputs] - 0.3 * X[:, -2, 1:2])
    return X, (y[:, 0] if n_outputs == 1 else y)


def small(loss, **params):
    defaults = dict(hidden_layer_sizes=(5,), max_iter=5, random_state=0)
    return LSTMRegressor(**{**defaults, **loss_params(loss), **params})


@pytest.mark.parametrize("solver", ["adam", "rmsprop", "sgd", "lbfgs"])
@pytest.mark.parametrize("loss", LOSSES)
def test_every_loss_trains_with_every_solver(loss, solver):
    X, y = positive_data()
    model = quietly(small(loss, solver=solver, max_iter=15), X, y)
    prediction = model.predict(X)
    assert prediction.shape == (60,) and np.isfinite(prediction).all()
    if model._head.positive_targets:
        assert (prediction > 0).all()
    # Training lowered the loss of the start.
    assert model.loss_ < model.loss_curve_[0] or solver == "lbfgs"


@pytest.mark.parametrize("loss", LOSSES)
def test_every_loss_with_sequences_outputs_weights_and_streams(loss):
    X, Y = positive_data(n_outputs=2)
    ragged = [x[: 3 + i % 4] for i, x in enumerate(X)]
    weights = np.linspace(0.5, 2, 60)
    model = quietly(small(loss), ragged, Y, sample_weight=weights)
    assert model.predict(ragged).shape == (60, 2)
    # Per step, with a list of per-sequence targets.
    per_step = quietly(
        small(loss, return_sequences=True),
        ragged,
        [np.exp(x[:, :2]) for x in ragged],
    )
    predictions = per_step.predict(ragged)
    assert [p.shape for p in predictions] == [(len(x), 2) for x in ragged]
    # Streams answer as predict; weights go out and back in unchanged.
    stream = per_step.stream()
    chunks = [stream.predict(X[:, :3]), stream.predict(X[:, 3:])]
    assert_allclose(np.concatenate(chunks, axis=1), per_step.predict(X), rtol=1e-10)
    before = model.predict(X)
    assert_array_equal(model.set_weights(model.get_weights()).predict(X), before)
    assert_array_equal(pickle.loads(pickle.dumps(model)).predict(X), before)


@pytest.mark.parametrize("loss", LOSSES)
def test_every_loss_with_early_stopping_partial_fit_and_warm_start(loss):
    X, y = positive_data(n_samples=80)
    model = quietly(
        small(loss, early_stopping=True, max_iter=8),
        X[:60],
        y[:60],
        X_val=X[60:],
        y_val=y[60:],
    )
    # scoring="loss" monitors that loss: the negative validation loss, of the
    # weights kept.
    assert model.best_validation_score_ == max(
        [model.best_validation_score_, *model.validation_scores_]
    )
    assert model.best_validation_score_ <= 0
    incremental = small(loss)
    for _ in range(3):
        incremental.partial_fit(X, y)
    assert incremental.n_iter_ == 3 and np.isfinite(incremental.predict(X)).all()
    warm = quietly(small(loss, warm_start=True), X, y)
    first = warm.loss_
    quietly(warm, X, y)
    assert warm.loss_ <= first * 1.05


@pytest.mark.parametrize(
    "loss, y, message",
    [
        ("poisson", [-1.0, 2.0, 3.0], "loss='poisson' needs non-negative targets"),
        ("poisson", [0.0, 0.0, 0.0], "loss='poisson' needs targets that are not all"),
        ("gamma", [0.0, 2.0, 3.0], "loss='gamma' needs positive targets"),
        ("gamma", [-2.0, 2.0, 3.0], "loss='gamma' needs positive targets"),
    ],
)
def test_targets_outside_a_loss_domain_are_refused(loss, y, message):
    X = np.random.RandomState(0).normal(size=(3, 4, 2))
    model = small(loss)
    with pytest.raises(ValueError, match=message):
        model.fit(X, y)
    assert not hasattr(model, "_params")
    fitted = small(loss).fit(X, np.abs(y) + 1)
    with pytest.raises(ValueError, match=message):
        fitted.partial_fit(X, y)


def test_quantile_parameter_is_checked():
    X = np.random.RandomState(0).normal(size=(6, 4, 2))
    with pytest.raises(ValueError, match="loss='quantile' needs the quantile"):
        LSTMRegressor(loss="quantile").fit(X, np.arange(6.0))
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(InvalidParameterError, match="quantile"):
            LSTMRegressor(loss="quantile", quantile=bad).fit(X, np.arange(6.0))
    with pytest.raises(InvalidParameterError, match="loss"):
        LSTMRegressor(loss="huber").fit(X, np.arange(6.0))


def test_log_link_targets_in_any_unit_train_alike():
    # The targets are divided by their mean: counts in thousands train as the
    # same counts in units (predictions scale with them).
    X, y = positive_data()
    base = quietly(small("poisson", max_iter=10), X, y)
    scaled = quietly(small("poisson", max_iter=10), X, 1000 * y)
    assert_allclose(scaled.predict(X), 1000 * base.predict(X), rtol=1e-5)
