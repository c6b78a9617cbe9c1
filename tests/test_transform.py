"""transform(): the features the output layer reads, as a scikit-learn transformer."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from reference import reference_network
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline

from sklstm import LSTMClassifier, LSTMRegressor, SequenceScaler

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def data(n_samples=40, n_steps=6, seed=0, ragged=False):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_samples, n_steps, 3))
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    if ragged:
        X = [x[: 2 + i % (n_steps - 1)] for i, x in enumerate(X)]
    return X, y


def reference_states(model, X):
    """The NumPy reference network with an identity head: its input, exactly."""
    weights = model.get_weights()
    width = weights[-2].shape[0]
    identity = weights[:-2] + [np.eye(width), np.zeros(width)]
    lengths = [len(x) for x in X]
    padded = np.zeros((len(X), max(lengths), X[0].shape[1]))
    for row, x in zip(padded, X):
        row[: len(x)] = x
    return reference_network(
        identity,
        padded,
        lengths,
        "identity",
        model.bidirectional,
        model.return_sequences,
        cell=model.cell,
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("ragged", [False, True], ids=["dense", "ragged"])
@pytest.mark.parametrize("return_sequences", [False, True], ids=["last", "per-step"])
@pytest.mark.parametrize(
    "params",
    [
        dict(hidden_layer_sizes=(5,)),
        dict(hidden_layer_sizes=(4, 3)),
        dict(hidden_layer_sizes=(3, 4), bidirectional=True),
        dict(hidden_layer_sizes=(4, 3), cell="gru"),
        dict(hidden_layer_sizes=(3,), bidirectional=True, cell="gru"),
    ],
    ids=["one", "stacked", "bidirectional", "gru", "bidirectional gru"],
)
def test_transform_is_the_final_state(params, return_sequences, ragged, dtype):
    X, y = data(ragged=ragged)
    if return_sequences:
        y = [np.full(len(x), label) for x, label in zip(X, y)]
    X_fit = [x.astype(dtype) for x in X] if ragged else X.astype(dtype)
    model = LSTMClassifier(
        max_iter=2, random_state=0, return_sequences=return_sequences, **params
    ).fit(X_fit, y)
    embedded = model.transform(X_fit)
    expected = reference_states(model, X)
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    if return_sequences:
        assert len(embedded) == len(X)
        for got, want in zip(embedded, expected):
            assert got.dtype == dtype
            assert_allclose(got, want, rtol=rtol, atol=rtol)
    else:
        assert embedded.dtype == dtype
        assert embedded.shape == (len(X), model._n_features_out)
        assert_allclose(embedded, expected, rtol=rtol, atol=rtol)
    # One sequence takes the single-sequence kernel: the same numbers.
    one = model.transform(X_fit[:1] if not ragged else [X_fit[0]])
    assert_allclose(np.asarray(one[0]), np.asarray(embedded[0]), rtol=rtol, atol=rtol)


@pytest.mark.parametrize("estimator_class", [LSTMClassifier, LSTMRegressor])
def test_the_output_layer_reads_exactly_the_transform(estimator_class):
    X, y = data()
    y = y if estimator_class is LSTMClassifier else X[:, -1, 0]
    model = estimator_class(hidden_layer_sizes=(6,), max_iter=3, random_state=0)
    model.fit(X, y)
    kernel, bias = model.get_weights()[-2:]
    raw = model.transform(X) @ kernel + bias
    if estimator_class is LSTMClassifier:
        assert_allclose(1 / (1 + np.exp(-raw[:, 0])), model.predict_proba(X)[:, 1])
    else:
        assert_allclose(raw[:, 0], model.predict(X), rtol=1e-10)


def test_transformer_api():
    X, y = data()
    model = LSTMClassifier(
        hidden_layer_sizes=(4,), bidirectional=True, max_iter=2, random_state=0
    )
    with pytest.raises(NotFittedError):
        model.transform(X)
    embedded = model.fit_transform(X, y)
    assert_array_equal(embedded, model.transform(X))
    names = [f"lstmclassifier{i}" for i in range(8)]
    assert_array_equal(model.get_feature_names_out(), names)
    pd = pytest.importorskip("pandas")
    frame = model.set_output(transform="pandas").transform(X)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == names
    assert_array_equal(frame.to_numpy(), embedded)


def test_embedding_feeds_a_gradient_boosting_model():
    # A pipeline: sequences -> LSTM features -> HistGradientBoosting.
    X, y = data(80)
    lstm = LSTMClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        features = make_pipeline(SequenceScaler(), lstm).fit(X, y)
    booster = HistGradientBoostingClassifier(max_iter=20, random_state=0)
    booster.fit(features.transform(X), y)
    assert booster.score(features.transform(X), y) > 0.8
