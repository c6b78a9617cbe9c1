"""Streaming prediction: chunks of any sizes give what predict gives on prefixes."""

import pickle
import threading

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from sklstm import LSTMClassifier, LSTMClassifierStream, LSTMRegressor, LSTMStream

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

TOLERANCE = {np.float32: 1e-6, np.float64: 1e-12}


def fitted(kind, dtype, return_sequences, sizes=(5, 7), n_classes=3, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(30, 9, 3)).astype(dtype)
    per_step = rng.randint(n_classes, size=(30, 9))
    if kind == "classifier":
        estimator = LSTMClassifier
        y = per_step if return_sequences else per_step[:, -1]
    else:
        estimator = LSTMRegressor
        y = rng.normal(size=(30, 9, 2) if return_sequences else (30, 2))
    return estimator(
        hidden_layer_sizes=sizes,
        max_iter=3,
        random_state=0,
        return_sequences=return_sequences,
    ).fit(X, y)


def assert_close(actual, expected, dtype):
    """Equal to the dtype's tolerance, relative to the outputs' magnitude."""
    tolerance = TOLERANCE[dtype]
    assert_allclose(
        actual, expected, rtol=tolerance, atol=tolerance * np.abs(expected).max()
    )


def random_chunking(n_steps, rng):
    """Cut points 0 < ... < n_steps of a random chunking (chunks of 1 included)."""
    inner = np.flatnonzero(rng.uniform(size=n_steps - 1) < 0.4) + 1
    return [0, *inner.tolist(), n_steps]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("kind, sizes", [("classifier", (5, 7)), ("regressor", (16,))])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_chunks_of_any_sizes_equal_predict_on_prefixes(
    dtype, return_sequences, kind, sizes, n_classes
):
    model = fitted(kind, dtype, return_sequences, sizes, n_classes)
    rng = np.random.RandomState(1)
    X = rng.normal(size=(4, 23, 3)).astype(dtype)
    method = "predict_proba" if kind == "classifier" else "predict"
    for trial in range(3):
        stream = model.stream()
        cuts = random_chunking(X.shape[1], rng)
        outputs = []
        for start, stop in zip(cuts[:-1], cuts[1:]):
            chunk = X[:, start:stop]
            if stop - start == 1 and trial == 1:
                chunk = chunk[:, 0]  # one step as (n_streams, n_features)
            output = getattr(stream, method)(chunk)
            if return_sequences:
                outputs.append(output)
                continue
            expected = getattr(model, method)(X[:, :stop])
            assert_close(output, expected, dtype)
        if return_sequences:
            assert_close(
                np.concatenate(outputs, axis=1), getattr(model, method)(X), dtype
            )
        assert stream.n_steps_seen_ == X.shape[1] and stream.n_streams_ == 4


@pytest.mark.parametrize("return_sequences", [False, True])
def test_stream_labels_and_log_probabilities(return_sequences):
    model = fitted("classifier", np.float64, return_sequences)
    X = np.random.RandomState(2).normal(size=(3, 6, 3))
    labels, log_proba = model.stream(), model.stream()
    first, second = labels.predict(X[:, :2]), labels.predict(X[:, 2:])
    log_proba.predict_log_proba(X[:, :4])
    last = log_proba.predict_log_proba(X[:, 4:])
    if return_sequences:
        assert_array_equal(np.concatenate([first, second], axis=1), model.predict(X))
        assert_allclose(last, model.predict_log_proba(X)[:, 4:], rtol=1e-12)
    else:
        assert_array_equal(first, model.predict(X[:, :2]))
        assert_array_equal(second, model.predict(X))
        assert_allclose(last, model.predict_log_proba(X), rtol=1e-12)


def test_reset_starts_new_streams_and_pickle_resumes():
    model = fitted("regressor", np.float64, False)
    X = np.random.RandomState(3).normal(size=(2, 8, 3))
    stream = model.stream()
    stream.predict(X[:, :5])
    saved = pickle.dumps(stream)
    resumed = pickle.loads(saved)
    assert_allclose(resumed.predict(X[:, 5:]), model.predict(X), rtol=1e-12)
    assert_allclose(stream.predict(X[:, 5:]), model.predict(X), rtol=1e-12)
    stream.reset()
    assert stream.n_streams_ is None and stream.n_steps_seen_ == 0
    assert_allclose(
        stream.predict(X[:1, :3]), model.predict(X[:1, :3]), rtol=1e-12
    )  # now one stream


def test_streams_are_independent_of_the_estimator_and_of_each_other():
    model = fitted("classifier", np.float64, False)
    X = np.random.RandomState(4).normal(size=(5, 40, 3))
    expected = model.predict_proba(X)
    streams = [model.stream() for _ in range(4)]
    # Refitting the estimator does not change streams made before.
    model.set_params(max_iter=1, random_state=7).fit(X, np.arange(5) % 3)
    results = [None] * len(streams)

    def run(i):
        for t in range(X.shape[1]):
            results[i] = streams[i].predict_proba(X[:, t])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(streams))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result in results:
        assert_allclose(result, expected, rtol=1e-12)
    assert not hasattr(model, "_state")


def test_regressor_stream_has_no_probabilities():
    stream = fitted("regressor", np.float64, False).stream()
    assert isinstance(stream, LSTMStream)
    assert not hasattr(stream, "predict_proba")
    classifier_stream = fitted("classifier", np.float64, False).stream()
    assert isinstance(classifier_stream, LSTMClassifierStream)
    assert_array_equal(classifier_stream.classes_, [0, 1, 2])


@pytest.mark.parametrize(
    "first, then, message",
    [
        ((2, 3, 3), (3, 1, 3), r"The chunk has 3 streams, but this stream .* 2"),
        ((2, 3, 3), (2, 1, 4), r"X has 4 features, but LSTMClassifier is expecting 3"),
        ((2, 3, 3), (2, 0, 3), r"at least one time step"),
        ((2, 3, 3), (2, 1, 3, 1), r"a 4-D array"),
        ((2, 3, 3), "nan", r"NaN or infinity"),
        ((2, 3, 3), "text", r"real numbers"),
    ],
)
def test_bad_chunks_are_named_and_leave_the_streams_unchanged(first, then, message):
    model = fitted("classifier", np.float64, False)
    rng = np.random.RandomState(5)
    X = rng.normal(size=(2, 6, 3))
    stream = model.stream()
    stream.predict(X[:, :3])
    if then == "nan":
        bad = X[:, 3:4].copy()
        bad[1, 0, 2] = np.nan
    elif then == "text":
        bad = np.full((2, 1, 3), "a")
    else:
        bad = rng.normal(size=then)
    with pytest.raises(ValueError, match=message):
        stream.predict(bad)
    assert_allclose(stream.predict_proba(X[:, 3:]), model.predict_proba(X), rtol=1e-12)


def test_bidirectional_and_unfitted_models_cannot_stream():
    rng = np.random.RandomState(6)
    model = LSTMClassifier(hidden_layer_sizes=(3,), bidirectional=True, max_iter=1)
    model.fit(rng.normal(size=(10, 4, 2)), np.arange(10) % 2)
    with pytest.raises(ValueError, match="bidirectional model cannot stream"):
        model.stream()
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        LSTMRegressor().stream()
