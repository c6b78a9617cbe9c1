"""ONNX export: onnxruntime's outputs equal the estimators' predictions."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.pipeline import make_pipeline

from sklstm import (
    LSTMClassifier,
    LSTMRegressor,
    SequenceImputer,
    SequencePatcher,
    SequenceScaler,
)

pytest.importorskip("skl2onnx")
ort = pytest.importorskip("onnxruntime")
from skl2onnx import to_onnx  # noqa: E402
from skl2onnx.common.data_types import FloatTensorType  # noqa: E402

from sklstm.onnx import pad_sequences, sequence_types  # noqa: E402

N_FEATURES = 3


def _fitted(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


def _run(onx, X, lengths=None):
    session = ort.InferenceSession(
        onx.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    feed = {"X": X} if lengths is None else {"X": X, "lengths": lengths}
    return session.run(None, feed)


def _data(dtype, n_samples=40, n_steps=6, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_samples, n_steps, N_FEATURES)).astype(dtype)
    return X, rng


def _ragged(rng, dtype, lengths=(3, 8, 1, 5, 2)):
    return [rng.normal(size=(n, N_FEATURES)).astype(dtype) for n in lengths]


MODELS = {
    "one layer": dict(hidden_layer_sizes=(5,)),
    "three layers": dict(hidden_layer_sizes=(4, 3, 5)),
    "bidirectional": dict(hidden_layer_sizes=(4,), bidirectional=True),
    "bidirectional stack": dict(hidden_layer_sizes=(3, 4), bidirectional=True),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("params", MODELS.values(), ids=MODELS.keys())
def test_classifier_equals_predict_on_new_shapes(params, cell, dtype):
    X, rng = _data(dtype)
    y = rng.randint(0, 3, len(X))
    model = _fitted(
        LSTMClassifier(max_iter=3, random_state=0, cell=cell, **params), X, y
    )
    onx = to_onnx(model, X[:1], options={"zipmap": False})
    # Another batch size and another number of steps than the sample's.
    X_new = _data(dtype, n_samples=7, n_steps=9, seed=1)[0]
    labels, probabilities = _run(onx, X_new)
    assert probabilities.dtype == dtype
    assert_allclose(probabilities, model.predict_proba(X_new), atol=1e-5)
    assert_array_equal(labels, model.predict(X_new))

    # In a Pipeline with SequenceScaler, on sequences of different lengths.
    pipeline = _fitted(
        make_pipeline(
            SequenceScaler(),
            LSTMClassifier(max_iter=3, random_state=0, cell=cell, **params),
        ),
        X * 3 + 1,
        y,
    )
    sequences = [x * 3 + 1 for x in _ragged(rng, dtype)]
    onx = to_onnx(
        pipeline,
        initial_types=sequence_types(N_FEATURES, dtype, lengths=True),
        options={"zipmap": False},
    )
    labels, probabilities = _run(onx, *pad_sequences(sequences, dtype))
    assert_allclose(probabilities, pipeline.predict_proba(sequences), atol=1e-5)
    assert_array_equal(labels, pipeline.predict(sequences))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("params", MODELS.values(), ids=MODELS.keys())
def test_pipeline_regressor_on_ragged_sequences_equals_predict(params, cell, dtype):
    X, rng = _data(dtype)
    y = X[:, :, 0].sum(axis=1) * 10 + 3
    model = _fitted(
        make_pipeline(
            SequenceScaler(),
            LSTMRegressor(max_iter=3, random_state=0, cell=cell, **params),
        ),
        X,
        y,
    )
    X_new = _data(dtype, n_samples=5, n_steps=8, seed=2)[0]
    (dense,) = _run(to_onnx(model, X[:1]), X_new)
    assert dense.shape == (5, 1)
    assert_allclose(dense[:, 0], model.predict(X_new), rtol=1e-5, atol=1e-5)

    sequences = _ragged(rng, dtype)
    onx = to_onnx(model, initial_types=sequence_types(N_FEATURES, dtype, lengths=True))
    (ragged,) = _run(onx, *pad_sequences(sequences, dtype))
    assert_allclose(ragged[:, 0], model.predict(sequences), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "labels",
    [
        np.array(["cat", "dog"]),
        np.array([3, 7]),
        np.array([0.0, 1.0]),
        np.array([False, True]),
        np.array(["a", "b", "c", "d"]),
    ],
    ids=["binary strings", "binary ints", "binary floats", "bool", "4 strings"],
)
def test_labels_of_every_type_and_the_zipmap(labels):
    X, rng = _data(np.float32)
    y = labels[rng.randint(0, len(labels), len(X))]
    model = _fitted(
        LSTMClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0), X, y
    )
    X_new = _data(np.float32, n_samples=6, seed=3)[0]
    expected = model.predict_proba(X_new)
    predicted, rows = _run(to_onnx(model, X[:1]), X_new)  # zipmap by default
    assert_array_equal(predicted, model.predict(X_new))
    # Keys as skl2onnx gives them: strings, or integers for numbers and bools.
    keys = [str(c) if labels.dtype.kind == "U" else int(c) for c in model.classes_]
    for row, probabilities in zip(rows, expected):
        assert list(row) == keys
        assert_allclose(list(row.values()), probabilities, atol=1e-6)
    outputs = _run(to_onnx(model, X[:1], options={"zipmap": "columns"}), X_new)
    assert_allclose(np.column_stack(outputs[1:]), expected, atol=1e-6)
    # skl2onnx's nocl: class indices for labels.
    onx = to_onnx(model, X[:1], options={"zipmap": False, "nocl": True})
    indices = np.searchsorted(model.classes_, model.predict(X_new))
    assert_array_equal(_run(onx, X_new)[0], indices)


def test_multilabel_classifier():
    X, rng = _data(np.float32)
    Y = (rng.uniform(size=(len(X), 3)) < 0.5).astype(int)
    model = _fitted(
        LSTMClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0), X, Y
    )
    X_new = _data(np.float32, n_samples=6, seed=4)[0]
    labels, probabilities = _run(
        to_onnx(model, X[:1], options={"zipmap": False}), X_new
    )
    assert_array_equal(labels, model.predict(X_new))
    assert_allclose(probabilities, model.predict_proba(X_new), atol=1e-6)


# float64: onnxruntime 1.32 crashed (segfault) opening an exported float64
# per-step model, whose Cast back from the float LSTM sat between a Transpose
# and the MatMul of the head.
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("estimator", ["classifier", "regressor"])
def test_per_step_outputs_dense_and_ragged(estimator, bidirectional, cell, dtype):
    X, rng = _data(dtype)
    params = dict(
        hidden_layer_sizes=(4, 3),
        max_iter=3,
        random_state=0,
        return_sequences=True,
        bidirectional=bidirectional,
        cell=cell,
    )
    if estimator == "classifier":
        y = (X[:, :, 0] > 0).astype(int) + (X[:, :, 1] > 1)
        model = _fitted(LSTMClassifier(**params), X, y)
        options = {"zipmap": False}
    else:
        y = np.cumsum(X[:, :, 0], axis=1)
        model = _fitted(LSTMRegressor(**params), X, y)
        options = None
    X_new = _data(dtype, n_samples=5, n_steps=8, seed=5)[0]
    outputs = _run(to_onnx(model, X[:1], options=options), X_new)
    sequences = _ragged(rng, dtype)
    onx = to_onnx(
        model,
        initial_types=sequence_types(N_FEATURES, lengths=True, dtype=dtype),
        options=options,
    )
    ragged_outputs = _run(onx, *pad_sequences(sequences, dtype=dtype))
    if estimator == "classifier":
        assert_array_equal(outputs[0], model.predict(X_new))
        assert_allclose(outputs[1], model.predict_proba(X_new), atol=1e-6)
        expected = zip(model.predict(sequences), model.predict_proba(sequences))
        for row, (labels, probabilities) in enumerate(expected):
            # Steps past a sequence's end are padding.
            assert_array_equal(ragged_outputs[0][row, : len(labels)], labels)
            assert_allclose(
                ragged_outputs[1][row, : len(labels)], probabilities, atol=1e-6
            )
    else:
        assert_allclose(outputs[0][..., 0], model.predict(X_new), atol=1e-5)
        for row, values in enumerate(model.predict(sequences)):
            assert_allclose(ragged_outputs[0][row, : len(values), 0], values, atol=1e-5)


def test_multi_output_regressor():
    X, rng = _data(np.float64)
    Y = np.column_stack([X[:, :, 0].sum(axis=1), X[:, -1, 2] * 100])
    model = _fitted(LSTMRegressor(hidden_layer_sizes=(4,), max_iter=3), X, Y)
    (predicted,) = _run(to_onnx(model, X[:1]), X[:9])
    assert_allclose(predicted, model.predict(X[:9]), rtol=1e-6, atol=1e-5)


def test_declared_inputs_are_dynamic():
    X, rng = _data(np.float32)
    model = _fitted(
        make_pipeline(SequenceScaler(), LSTMRegressor(hidden_layer_sizes=(3,))),
        X,
        X[:, 0, 0],
    )
    onx = to_onnx(model, X[:1], initial_types=None)
    (graph_input,) = onx.graph.input
    dims = graph_input.type.tensor_type.shape.dim
    assert [d.dim_value for d in dims[2:]] == [N_FEATURES]
    assert not dims[0].HasField("dim_value") and not dims[1].HasField("dim_value")


def _small_classifier(**params):
    X, rng = _data(np.float32)
    model = LSTMClassifier(hidden_layer_sizes=(3,), max_iter=2, **params)
    shape = X.shape[:2] if model.return_sequences else len(X)
    return _fitted(model, X, rng.uniform(size=shape) < 0.5), X


@pytest.mark.parametrize(
    "make, kwargs, message",
    [
        (
            lambda: _small_classifier(),
            dict(initial_types=[("X", FloatTensorType([None, 3]))]),
            "takes sequences of shape",
        ),
        (
            lambda: _small_classifier(),
            dict(initial_types=sequence_types(5)),
            "has 5 features per step, but LSTMClassifier is expecting 3",
        ),
        (
            lambda: _small_classifier(return_sequences=True),
            dict(),
            'options={"zipmap": False}',
        ),
    ],
    ids=["2-D input", "wrong feature count", "per-step zipmap"],
)
def test_unsupported_cases_are_named(make, kwargs, message):
    model, X = make()
    if "initial_types" not in kwargs:
        kwargs["X"] = X[:1]
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        to_onnx(model, **kwargs)


def test_lengths_must_be_integers():
    model, X = _small_classifier()
    types = sequence_types(N_FEATURES)
    types.append(("lengths", types[0][1].__class__([None])))
    with pytest.raises(ValueError, match="must be of an integer type"):
        to_onnx(model, initial_types=types)


def test_unfitted_model_is_refused():
    with pytest.raises(NotFittedError):
        to_onnx(LSTMRegressor(), initial_types=sequence_types(N_FEATURES))


@pytest.mark.parametrize(
    "sequences, message",
    [
        ([], "non-empty list"),
        ([np.ones((2, 3)), np.ones((0, 3))], "at least 1 time step"),
        ([np.ones((2, 3)), np.ones((2, 4))], "same number of features"),
        ([np.ones((2, 3)), np.full((2, 3), np.inf)], r"Input X\[1\] contains inf"),
    ],
)
def test_pad_sequences_refuses_what_it_cannot_pad(sequences, message):
    with pytest.raises(ValueError, match=message):
        pad_sequences(sequences)


def test_convert_sklearn_works_as_to_onnx():
    from skl2onnx import convert_sklearn

    X, rng = _data(np.float32)
    model = _fitted(LSTMRegressor(hidden_layer_sizes=(3,), max_iter=2), X, X[:, 0, 0])
    onx = convert_sklearn(model, initial_types=sequence_types(N_FEATURES))
    assert_allclose(_run(onx, X)[0][:, 0], model.predict(X), atol=1e-6)


def test_import_sklstm_needs_no_onnx_package(tmp_path):
    code = (
        "import sys, sklstm; "
        "assert not {'skl2onnx', 'onnx', 'onnxruntime', 'skops'} & set(sys.modules)"
    )
    # Away from a clone's root, whose source tree would shadow the installed sklstm.
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize(
    "loss, quantile",
    [
        ("squared_error", None),
        ("absolute_error", None),
        ("poisson", None),
        ("gamma", None),
        ("quantile", 0.8),
    ],
)
def test_regressor_of_every_loss_equals_predict(loss, quantile, return_sequences):
    X, rng = _data(np.float32)
    n_outputs = (len(X), X.shape[1], 2) if return_sequences else (len(X), 2)
    y = np.exp(rng.normal(size=n_outputs))
    model = _fitted(
        LSTMRegressor(
            hidden_layer_sizes=(4,),
            loss=loss,
            quantile=quantile,
            return_sequences=return_sequences,
            max_iter=3,
            random_state=0,
        ),
        X,
        y,
    )
    onx = to_onnx(model, X[:1], initial_types=sequence_types(N_FEATURES, lengths=True))
    sequences = _ragged(rng, np.float32)
    (prediction,) = _run(onx, *pad_sequences(sequences))
    expected = model.predict(sequences)
    if return_sequences:
        for row, length, want in zip(prediction, map(len, sequences), expected):
            assert_allclose(row[:length], want, rtol=1e-5, atol=1e-6)
    else:
        assert_allclose(prediction, expected, rtol=1e-5, atol=1e-6)


def _gapped(dtype, seed=0):
    X, rng = _data(dtype, seed=seed)
    X[rng.uniform(size=X.shape) < 0.3] = np.nan
    X[0, :, 1] = np.nan  # missing at every step of a sequence
    X[:, 0, 2] = np.nan  # a leading gap everywhere
    return X, rng


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("add_indicator", [False, True])
@pytest.mark.parametrize("strategy", ["ffill", "mean", "constant"])
def test_imputer_equals_transform(strategy, add_indicator, dtype):
    X, rng = _gapped(dtype)
    imputer = SequenceImputer(
        strategy=strategy, fill_value=-2.0, add_indicator=add_indicator
    ).fit(X)
    onx = to_onnx(imputer, X[:1])
    X_new = _gapped(dtype, seed=1)[0][:7]
    (filled,) = _run(onx, X_new)
    assert filled.dtype == dtype
    assert_allclose(filled, imputer.transform(X_new), rtol=1e-6)
    # Sequences of different lengths: padding is no reading.
    onx = to_onnx(imputer, initial_types=sequence_types(N_FEATURES, dtype, True))
    sequences = [x[: 2 + i] for i, x in enumerate(X_new)]
    padded, lengths = pad_sequences(sequences, dtype)
    filled, out_lengths = _run(onx, padded, lengths)
    assert_array_equal(out_lengths, lengths)
    for row, want in zip(filled, imputer.transform(sequences)):
        assert_allclose(row[: len(want)], want, rtol=1e-6)


def test_pipeline_with_imputer_scaler_and_classifier_equals_predict_proba():
    X, rng = _gapped(np.float32)
    y = rng.randint(0, 2, len(X))
    model = _fitted(
        make_pipeline(
            SequenceImputer(add_indicator=True),
            SequenceScaler(),
            LSTMClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0),
        ),
        X,
        y,
    )
    onx = to_onnx(model, X[:1], options={"zipmap": False})
    X_new = _gapped(np.float32, seed=2)[0]
    labels, probabilities = _run(onx, X_new)
    assert_allclose(probabilities, model.predict_proba(X_new), atol=1e-5)
    assert_array_equal(labels, model.predict(X_new))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "patch_length, stride", [(4, 2), (3, 3), (5, None), (1, 1), ("auto", None)]
)
def test_patcher_equals_transform(patch_length, stride, dtype):
    X, rng = _data(dtype, n_steps=9)
    patcher = SequencePatcher(patch_length=patch_length, stride=stride).fit(X)
    onx = to_onnx(patcher, X[:1])
    for n_steps in (1, 2, 9, 14):  # shorter than a patch, and longer
        X_new = _data(dtype, n_samples=3, n_steps=n_steps, seed=n_steps)[0]
        (patched,) = _run(onx, X_new)
        assert patched.dtype == dtype
        assert_array_equal(patched, patcher.transform(X_new))
    onx = to_onnx(patcher, initial_types=sequence_types(N_FEATURES, dtype, True))
    sequences = _ragged(rng, dtype, lengths=(3, 8, 1, 5, 2, 11))
    patched, lengths = _run(onx, *pad_sequences(sequences, dtype))
    expected = patcher.transform(sequences)
    assert_array_equal(lengths, [len(e) for e in expected])
    for row, want in zip(patched, expected):
        assert_array_equal(row[: len(want)], want)


def test_pipeline_with_patcher_and_classifier_on_sequences_of_any_length():
    X, rng = _data(np.float32, n_steps=12)
    y = rng.randint(0, 2, len(X))
    model = _fitted(
        make_pipeline(
            SequenceScaler(),
            SequencePatcher(patch_length=4),
            LSTMClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0),
        ),
        X,
        y,
    )
    onx = to_onnx(
        model,
        initial_types=sequence_types(N_FEATURES, np.float32, True),
        options={"zipmap": False},
    )
    sequences = _ragged(rng, np.float32, lengths=(3, 12, 1, 7, 20))
    labels, probabilities = _run(onx, *pad_sequences(sequences))
    assert_allclose(probabilities, model.predict_proba(sequences), atol=1e-5)
    assert_array_equal(labels, model.predict(sequences))
