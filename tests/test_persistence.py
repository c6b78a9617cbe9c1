"""Pickles carry the sklstm version, today's pickles keep loading, and skops.io
round-trips every estimator trusting only sklstm's own types."""

import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline

import sklstm
from sklstm import (
    InconsistentVersionWarning,
    LSTMClassifier,
    LSTMRegressor,
    SequenceScaler,
)

FIXTURES = sorted((Path(__file__).parent / "fixtures").glob("models_*.pkl"))


def test_there_is_a_fixture_of_this_release_line():
    assert any(path.name == "models_0.1.0.pkl" for path in FIXTURES)


@pytest.mark.parametrize("path", FIXTURES, ids=lambda path: path.name)
def test_old_pickles_load_and_predict_as_they_did(path):
    with warnings.catch_warnings():
        # Models from another version load with InconsistentVersionWarning.
        warnings.simplefilter("ignore", InconsistentVersionWarning)
        fixture = pickle.loads(path.read_bytes())
    inputs = {"classifier": fixture["X"], "bidirectional_regressor": fixture["ragged"]}
    for name, (model, expected) in fixture["models"].items():
        method = model.predict_proba if name == "classifier" else model.predict
        assert_allclose(method(inputs[name]), expected, rtol=1e-6, atol=1e-7)
        # Parameters added since have the values that say how they were fitted,
        # and clone and refit work.
        params = model.get_params()
        assert params["ema_momentum"] is None and params["cell"] == "lstm"
        X = inputs[name]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clone(model).set_params(max_iter=2).fit(X, model.predict(X))


def test_pickles_carry_the_version_and_warn_across_versions():
    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(20, 3, 2)), np.arange(20) % 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = LSTMClassifier(hidden_layer_sizes=(3,), max_iter=1).fit(X, y)
    state = model.__getstate__()
    assert state["_sklstm_version"] == sklstm.__version__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pickle.loads(pickle.dumps(model))  # same version: silent
    state["_sklstm_version"] = "0.0.1"
    restored = LSTMClassifier.__new__(LSTMClassifier)
    with pytest.warns(InconsistentVersionWarning, match="from sklstm version 0.0.1"):
        restored.__setstate__(state)
    assert_allclose(restored.predict_proba(X), model.predict_proba(X))


# ------------------------------------------------------------------- skops
# The types skops.io reports as untrusted in a fitted sklstm model: sklstm's
# own, and no other (docs/user_guide/deployment.md lists them for review).
SKLSTM_TYPES = {
    "sklstm._heads.AbsoluteError",
    "sklstm._heads.BinaryLogistic",
    "sklstm._heads.Gamma",
    "sklstm._heads.Logistic",
    "sklstm._heads.Poisson",
    "sklstm._heads.Quantile",
    "sklstm._heads.Softmax",
    "sklstm._heads.SquaredError",
    "sklstm._lstm.LSTMClassifier",
    "sklstm._lstm.LSTMRegressor",
    "sklstm._optimizers.AdamOptimizer",
    "sklstm._optimizers.RMSpropOptimizer",
    "sklstm._optimizers.SGDOptimizer",
    "sklstm._training.Checkpoint",
    "sklstm.preprocessing.SequenceScaler",
}

SKOPS_MODELS = {
    "adam classifier": (LSTMClassifier, dict(class_weight={"up": 2.0})),
    "sgd classifier, early stopping": (
        LSTMClassifier,
        dict(solver="sgd", early_stopping=True, scoring="accuracy"),
    ),
    "rmsprop gru classifier": (LSTMClassifier, dict(solver="rmsprop", cell="gru")),
    "lbfgs regressor": (LSTMRegressor, dict(solver="lbfgs")),
    "bidirectional regressor, dropout": (
        LSTMRegressor,
        dict(bidirectional=True, dropout=0.2, recurrent_dropout=0.1),
    ),
    "per-step regressor": (LSTMRegressor, dict(return_sequences=True)),
    "quantile regressor": (LSTMRegressor, dict(loss="quantile", quantile=0.9)),
    "poisson regressor": (LSTMRegressor, dict(loss="poisson")),
    # The factors a warm start or partial_fit goes on from are saved too.
    "input projection, gru classifier": (
        LSTMClassifier,
        dict(input_projection=6, cell="gru"),
    ),
}


def _skops_data(estimator_class, params):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(30, 5, 2))
    if params.get("return_sequences"):
        y = np.cumsum(X[:, :, 0], axis=1)
    elif estimator_class is LSTMClassifier:
        y = np.array(["up", "down", "flat"])[np.arange(30) % 3]
    else:
        y = X[:, :, 0].sum(axis=1) * 5
    if params.get("loss") == "poisson":
        y = np.round(np.abs(y))  # counts
    return X, y


@pytest.mark.parametrize("make", SKOPS_MODELS.values(), ids=SKOPS_MODELS.keys())
@pytest.mark.parametrize("in_pipeline", [False, True], ids=["alone", "pipeline"])
def test_skops_round_trip_is_exact_and_trusts_only_sklstm(make, in_pipeline):
    sio = pytest.importorskip("skops.io")
    estimator_class, params = make
    X, y = _skops_data(estimator_class, params)
    model = estimator_class(
        hidden_layer_sizes=(4,), max_iter=3, random_state=0, **params
    )
    if in_pipeline:
        model = make_pipeline(SequenceScaler(), model)
    estimator = model[-1] if in_pipeline else model
    # lbfgs has no partial_fit; the others save the state it continues from.
    incremental = estimator.solver != "lbfgs"
    X_more = X[::-1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
        if incremental:
            X_more = model[0].transform(X_more) if in_pipeline else X_more
            estimator.partial_fit(X_more, y[::-1])
    dumped = sio.dumps(model)
    untrusted = set(sio.get_untrusted_types(data=dumped))
    assert untrusted <= SKLSTM_TYPES
    with pytest.raises(sio.exceptions.UntrustedTypesFoundException):
        sio.loads(dumped)
    loaded = sio.loads(dumped, trusted=sorted(untrusted))

    methods = ["predict"] + (
        ["predict_proba"] if hasattr(model, "predict_proba") else []
    )
    for method in methods:
        assert_array_equal(getattr(loaded, method)(X), getattr(model, method)(X))
    if incremental:
        # Training continues as it would have: same steps, same random draws.
        for fitted in (estimator, loaded[-1] if in_pipeline else loaded):
            fitted.partial_fit(X_more, y[::-1])
        assert_array_equal(_weights(loaded), _weights(model))


def _weights(model):
    estimator = model[-1] if hasattr(model, "steps") else model
    return np.concatenate([w.ravel() for w in estimator.get_weights()])
