"""Missing readings: SequenceImputer, NaN through SequenceScaler, and steps
without a target in a per-step regressor."""

import pickle
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.pipeline import make_pipeline

from sklstm import LSTMClassifier, LSTMRegressor, SequenceImputer, SequenceScaler

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def with_gaps(n_samples=20, n_steps=8, n_features=3, rate=0.3, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_samples, n_steps, n_features))
    X[rng.uniform(size=X.shape) < rate] = np.nan
    return X


def reference_ffill(x, statistics):
    """pandas-free reference: forward fill, then back fill, then the mean."""
    out = x.copy()
    for f in range(x.shape[1]):
        column, last = out[:, f], np.nan
        for t in range(len(column)):
            last = column[t] if not np.isnan(column[t]) else last
            column[t] = last
        observed = column[~np.isnan(column)]
        column[np.isnan(column)] = observed[0] if len(observed) else statistics[f]
    return out


@pytest.mark.parametrize("ragged", [False, True], ids=["dense", "ragged"])
@pytest.mark.parametrize("strategy", ["ffill", "mean", "constant"])
def test_imputer_fills_as_its_strategy_says(strategy, ragged):
    X = with_gaps()
    X[0, :, 1] = np.nan  # a feature missing at every step of a sequence
    X[:, :, 2] = np.where(np.isnan(X[:, :, 2]), 0.5, X[:, :, 2])  # never missing
    data = [x[: 3 + i % 6] for i, x in enumerate(X)] if ragged else X
    imputer = SequenceImputer(strategy=strategy, fill_value=-7.0).fit(data)
    rows = np.concatenate(list(data))
    means = np.nanmean(rows, axis=0)
    if strategy == "constant":
        assert_array_equal(imputer.statistics_, [-7.0] * 3)
    else:
        assert_allclose(imputer.statistics_, means)
    filled = imputer.transform(data)
    assert not np.isnan(np.concatenate(list(filled))).any()
    for x, got in zip(data, filled):
        if strategy == "ffill":
            expected = reference_ffill(x, means)
        else:
            expected = np.where(np.isnan(x), imputer.statistics_, x)
        assert_allclose(got, expected)


def test_indicators_mark_the_features_missing_in_training():
    X = with_gaps(rate=0.2)
    X[:, :, 2] = 1.0  # never missing in training
    imputer = SequenceImputer(add_indicator=True).fit(X)
    assert_array_equal(imputer.indicator_features_, [0, 1])
    X_new = with_gaps(seed=1)
    filled = imputer.transform(X_new)
    assert filled.shape == (20, 8, 5)
    assert_array_equal(filled[:, :, 3:], np.isnan(X_new[:, :, :2]))
    assert not np.isnan(filled).any()  # feature 2's new gaps filled, not marked
    assert_array_equal(
        imputer.get_feature_names_out(),
        ["x0", "x1", "x2", "missingindicator_x0", "missingindicator_x1"],
    )


def test_imputer_2d_input_and_persistence():
    X = with_gaps()[:, 0, :]  # sequences of one step, as 2-D X
    imputer = SequenceImputer(strategy="mean", add_indicator=True).fit(X)
    filled = imputer.transform(X)
    assert filled.shape == (20, 3 + len(imputer.indicator_features_))
    assert_array_equal(pickle.loads(pickle.dumps(imputer)).transform(X), filled)
    sio = pytest.importorskip("skops.io")
    dumped = sio.dumps(imputer)
    loaded = sio.loads(dumped, trusted=sio.get_untrusted_types(data=dumped))
    assert_array_equal(loaded.transform(X), filled)


def test_scaler_ignores_missing_readings_and_keeps_them():
    X = with_gaps()
    scaler = SequenceScaler().fit(X)
    rows = X.reshape(-1, 3)
    assert_allclose(scaler.mean_, np.nanmean(rows, axis=0))
    assert_allclose(scaler.scale_, np.nanstd(rows, axis=0))
    scaled = scaler.transform(X)
    assert_array_equal(np.isnan(scaled), np.isnan(X))
    with pytest.raises(ValueError, match="contains infinity"):
        scaler.transform(np.where(np.isnan(X), np.inf, X))


@pytest.mark.parametrize("order", ["imputer first", "scaler first"])
def test_pipelines_train_on_sequences_with_gaps(order):
    X = with_gaps(60)
    y = (np.nansum(X[:, :, 0], axis=1) > 0).astype(int)
    steps = [SequenceImputer(add_indicator=True), SequenceScaler()]
    if order == "scaler first":
        steps.reverse()
    model = make_pipeline(*steps, LSTMClassifier(hidden_layer_sizes=(4,), max_iter=3))
    assert model.fit(X, y).predict(X).shape == (60,)


def test_the_estimators_name_the_imputer_for_missing_readings():
    X = with_gaps()
    for call in (
        lambda: LSTMClassifier().fit(X, np.arange(20) % 2),
        lambda: LSTMRegressor().fit(list(X), np.arange(20.0)),
    ):
        with pytest.raises(ValueError, match="contains NaN.*SequenceImputer"):
            call()


def test_indicators_let_the_network_read_where_readings_are_missing():
    # A hidden state switches readings off: the label is that state, which
    # only the pattern of gaps shows (the readings themselves are noise).
    rng = np.random.RandomState(0)
    n, steps = 400, 12
    state = rng.randint(2, size=n)
    X = rng.normal(size=(n, steps, 2))
    gaps = rng.uniform(size=(n, steps)) < np.where(state, 0.5, 0.1)[:, None]
    X[:, :, 0][gaps] = np.nan
    train, test = slice(0, 300), slice(300, None)
    scores = {}
    for indicator in (False, True):
        model = make_pipeline(
            SequenceImputer(add_indicator=indicator),
            LSTMClassifier(hidden_layer_sizes=(8,), max_iter=60, random_state=0),
        ).fit(X[train], state[train])
        scores[indicator] = model.score(X[test], state[test])
    assert scores[True] > 0.85
    assert scores[True] > scores[False] + 0.15


# ------------------------------------------- per-step targets with gaps
def per_step_data(seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(12, 6, 2))
    return X, np.cumsum(X[:, :, 0], axis=1)


def test_steps_without_a_target_still_get_predictions():
    X, y = per_step_data()
    gaps = np.random.RandomState(1).uniform(size=y.shape) < 0.3
    gaps[:, 0] = False
    targets = np.where(gaps, np.nan, y)
    model = LSTMRegressor(hidden_layer_sizes=(4,), return_sequences=True, max_iter=5)
    model.set_params(random_state=0).fit(X, targets)
    predictions = model.predict(X)
    assert predictions.shape == (12, 6) and np.isfinite(predictions).all()
    assert np.isfinite(model.loss_curve_).all()
    # R^2 over the steps that have a target.
    kept = ~gaps
    residual = ((predictions - y)[kept] ** 2).sum()
    expected = 1 - residual / ((y[kept] - y[kept].mean()) ** 2).sum()
    assert model.score(X, targets) == pytest.approx(expected, rel=1e-10)


def test_gap_values_do_not_change_the_gradient():
    # One sgd step from the same weights: the targets at the gaps are NaN in
    # one fit and arbitrary numbers with zero weight in the network's loss.
    X, y = per_step_data()
    gaps = np.zeros_like(y, dtype=bool)
    gaps[::2, 3:] = True
    params = dict(
        hidden_layer_sizes=(4,),
        return_sequences=True,
        solver="sgd",
        momentum=0,
        shuffle=False,
        batch_size=12,
        learning_rate_init=0.1,
        random_state=0,
    )
    with_nan = LSTMRegressor(**params).partial_fit(X, np.where(gaps, np.nan, y))
    # The same targets without the gapped steps' sequences' tails at all:
    # dropping them from the data gives the same per-step loss.
    trimmed = [x[:3] if g[3] else x for x, g in zip(X, gaps)]
    trimmed_y = [t[:3] if g[3] else t for t, g in zip(y, gaps)]
    without = LSTMRegressor(**params).partial_fit(trimmed, trimmed_y)
    for got, want in zip(with_nan.get_weights(), without.get_weights()):
        assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_a_sequence_without_any_target_is_refused_by_index():
    X, y = per_step_data()
    y[4] = np.nan
    model = LSTMRegressor(return_sequences=True, max_iter=2)
    with pytest.raises(ValueError, match="any step of sequence 4"):
        model.fit(X, y)
    assert not hasattr(model, "_params")


def test_classifier_steps_need_labels():
    X, y = per_step_data()
    labels = (y > 0).astype(float)
    labels[0, 2] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError):
            LSTMClassifier(return_sequences=True, max_iter=1).fit(X, labels)


def test_network_gradient_ignores_steps_of_no_weight():
    """Central finite differences, with steps of weight 0 (the estimator's NaN
    targets) holding arbitrary values: the loss and gradient do not see them."""
    from reference import as_head, packed_batch
    from test_kernels import assert_gradient_matches_finite_differences

    from sklstm._network import LSTMNetwork
    from sklstm._sequences import StepTargets

    rng = np.random.RandomState(3)
    lengths = np.array([5, 4, 2])
    network = LSTMNetwork(
        2, (3,), 2, as_head("identity"), np.float64, return_sequences=True
    )
    params = network.initialize(rng) + rng.normal(scale=0.3, size=network.n_params)
    X = rng.normal(size=(3, 5, 2))
    X_tm, batch_sizes, last_step, order = packed_batch(X, lengths)
    values = rng.normal(size=(lengths.sum(), 2))
    step_weight = np.ones(lengths.sum())
    step_weight[[1, 3, 6]] = 0  # no target at these steps
    losses, gradients = [], []
    for filler in (0.0, 1e3):
        filled = values.copy()
        filled[step_weight == 0] = filler
        Y, totals = StepTargets.weighted(filled, lengths[order], step_weight)
        workspace = network.workspace(*X_tm.shape[:2])

        def loss_and_gradient(p, g, Y=Y, totals=totals, workspace=workspace):
            return network.loss_and_gradient(
                p,
                X_tm,
                batch_sizes,
                last_step,
                Y,
                0.0,
                g,
                workspace,
                sample_weight=totals,
            )

        assert_gradient_matches_finite_differences(loss_and_gradient, params)
        grads = np.empty_like(params)
        losses.append(loss_and_gradient(params, grads))
        gradients.append(grads)
    assert losses[0] == losses[1]
    assert_array_equal(gradients[0], gradients[1])
