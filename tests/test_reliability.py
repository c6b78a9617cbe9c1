"""Never silently wrong: loaded files, streams across threads and interruptions,
scorers, huge values and sizes, labels. Each test pins a class of problem."""

import pickle
import threading
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline

from sklstm import LSTMClassifier, LSTMRegressor, SequenceScaler

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def data(n_samples=40, n_steps=5, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_samples, n_steps, 3))
    return X, (X[:, :, 0].sum(axis=1) > 0).astype(int), X[:, -1, 0] * 3 + 1


def fitted(estimator_class=LSTMClassifier, **params):
    X, y_class, y_value = data()
    y = y_class if estimator_class is LSTMClassifier else y_value
    return estimator_class(
        hidden_layer_sizes=(4,), max_iter=3, random_state=0, **params
    ).fit(X, y)


# ------------------------------------------------- loaded files are checked
def tampered(model, attribute, value, index=0):
    copy = pickle.loads(pickle.dumps(model))
    array = getattr(copy, attribute)
    array.reshape(-1)[index] = value
    return copy


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize(
    "estimator_class, attribute",
    [
        (LSTMClassifier, "_params"),
        (LSTMRegressor, "_params"),
        (LSTMRegressor, "_target_offset"),
        (LSTMRegressor, "_target_scale"),
    ],
)
def test_pickles_with_non_finite_weights_are_refused(estimator_class, attribute, value):
    model = tampered(fitted(estimator_class), attribute, value, index=3 % 1)
    with pytest.raises(ValueError, match=f"non-finite values in {attribute}"):
        pickle.loads(pickle.dumps(model))


def test_a_zero_target_scale_is_refused():
    model = tampered(fitted(LSTMRegressor), "_target_scale", 0.0)
    with pytest.raises(ValueError, match="values <= 0 in _target_scale"):
        pickle.loads(pickle.dumps(model))


@pytest.mark.parametrize("attribute, value", [("mean_", np.nan), ("scale_", 0.0)])
def test_scaler_pickles_with_bad_statistics_are_refused(attribute, value):
    scaler = SequenceScaler().fit(data()[0])
    getattr(scaler, attribute)[1] = value
    with pytest.raises(ValueError, match=f"in {attribute}"):
        pickle.loads(pickle.dumps(scaler))


def test_skops_files_with_non_finite_weights_are_refused():
    sio = pytest.importorskip("skops.io")
    model = fitted(LSTMClassifier)
    model._params[5] = np.nan
    dumped = sio.dumps(model)
    with pytest.raises(ValueError, match="non-finite values in _params"):
        sio.loads(dumped, trusted=sio.get_untrusted_types(data=dumped))


@pytest.mark.parametrize("where", ["weights", "state"])
def test_stream_pickles_with_non_finite_values_are_refused(where):
    stream = fitted(LSTMRegressor).stream()
    stream.predict(data()[0][:2, :3])
    saved = pickle.loads(pickle.dumps(stream))
    if where == "weights":
        saved._model.params[0] = np.nan
    else:
        saved._progress[0][0, 0] = np.inf
    with pytest.raises(ValueError, match="non-finite values"):
        pickle.loads(pickle.dumps(saved))


# ---------------------------------------------------------------- streams
def test_a_stream_fed_from_many_threads_applies_whole_chunks_in_some_order():
    model = fitted(LSTMClassifier)
    rng = np.random.RandomState(1)
    chunks = [rng.normal(size=(1, 1, 3)) for _ in range(8)]
    for _ in range(3):
        stream = model.stream()
        results, start = {}, threading.Barrier(len(chunks))

        def feed(i, stream=stream, start=start, results=results):
            start.wait()
            results[i] = stream.predict_proba(chunks[i])

        threads = [threading.Thread(target=feed, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert stream.n_steps_seen_ == 8
        # Some serial order explains every output: rebuild it step by step.
        prefix, left = np.zeros((1, 0, 3)), set(range(8))
        while left:
            explained = [
                i
                for i in left
                if np.allclose(
                    results[i],
                    model.predict_proba(np.concatenate([prefix, chunks[i]], axis=1)),
                    rtol=1e-10,
                    atol=1e-12,
                )
            ]
            assert explained, "an output matches no serial order"
            left.remove(explained[0])
            prefix = np.concatenate([prefix, chunks[explained[0]]], axis=1)


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, MemoryError])
def test_an_interrupted_chunk_leaves_the_stream_as_it_was(interruption):
    model = fitted(LSTMRegressor)
    X = data()[0][:3]
    stream = model.stream()
    stream.predict(X[:, :2])
    kernel = stream._kernel

    def interrupted(*args):
        kernel(*args)  # the state is computed, then the interruption arrives
        raise interruption

    stream._kernel = interrupted
    with pytest.raises(interruption):
        stream.predict(X[:, 2:4])
    assert stream.n_steps_seen_ == 2
    stream._kernel = kernel
    assert_allclose(stream.predict(X[:, 2:]), model.predict(X), rtol=1e-10)
    assert stream.n_steps_seen_ == 5


# ---------------------------------------------------------------- scorers
@pytest.mark.parametrize(
    "returned, error, message",
    [
        (np.nan, ValueError, "returned nan"),
        (np.inf, ValueError, "returned inf"),
        (None, TypeError, "returned None"),
        ("good", TypeError, "returned 'good'"),
        (True, TypeError, "returned True"),
        (np.array([0.5, 0.6]), TypeError, "scoring must give a number"),
    ],
)
def test_scorers_that_give_no_finite_number_are_named(returned, error, message):
    X, y, _ = data()
    model = LSTMClassifier(
        hidden_layer_sizes=(3,),
        max_iter=3,
        early_stopping=True,
        scoring=lambda estimator, X, y: returned,
    )
    with pytest.raises(error, match=message):
        model.fit(X, y)
    assert not hasattr(model, "_params")


@pytest.mark.parametrize("returned", [np.float32(0.5), np.array(0.5), 1])
def test_scorers_may_give_numpy_numbers(returned):
    X, y, _ = data()
    model = LSTMClassifier(
        hidden_layer_sizes=(3,),
        max_iter=2,
        early_stopping=True,
        scoring=lambda estimator, X, y: returned,
    ).fit(X, y)
    assert model.validation_scores_ == [float(returned)] * 2


# --------------------------------------------------- huge values and sizes
@pytest.mark.parametrize("magnitude", [1e160, 1e200, 1e300])
def test_the_scaler_the_error_advises_handles_huge_values(magnitude):
    X, _, y = data()
    largest = np.finfo(np.float64).max
    X[:, :, 0] = np.clip(X[:, :, 0] * magnitude, -largest, largest)
    with pytest.raises(ValueError, match="SequenceScaler"):
        LSTMRegressor(max_iter=1).fit(X, y)
    scaler = SequenceScaler().fit(X)
    assert np.isfinite(scaler.mean_).all() and np.isfinite(scaler.scale_).all()
    scaled = scaler.transform(X)
    assert np.isfinite(scaled).all() and np.abs(scaled).max() < 10
    assert_allclose(scaler.inverse_transform(scaled), X, rtol=1e-5)
    model = make_pipeline(SequenceScaler(), LSTMRegressor(max_iter=2)).fit(X, y)
    assert np.isfinite(model.predict(X)).all()


@pytest.mark.parametrize(
    "sizes, projection, message",
    [
        ((2**30,), None, "the kernels index at most"),
        ((2**31 - 1,), None, "the kernels index at most"),
        ((2**40,), None, "the kernels index at most"),
        ((4, 2**30), None, "layer 1 has 1073741824 units"),
        ((20000,), None, "more than this machine's"),
        # The linear layer in front, and the first layer behind it.
        ((4,), 2**31, "input_projection=2147483648 on 3 features"),
        ((4,), 2**28, "layer 0 has 4 units on 268435456 inputs"),
        ((4,), 2**25, "more than this machine's"),
    ],
)
def test_networks_too_large_are_refused_before_anything_is_allocated(
    sizes, projection, message
):
    X, y, _ = data()
    model = LSTMClassifier(hidden_layer_sizes=sizes, input_projection=projection)
    with pytest.raises(ValueError, match=message):
        model.fit(X, y)
    assert not hasattr(model, "_params")


def stride_zero(n_samples, n_steps, n_features=3):
    """A huge X that takes no memory: one value viewed everywhere."""
    return np.lib.stride_tricks.as_strided(
        np.zeros(1), shape=(n_samples, n_steps, n_features), strides=(0, 0, 0)
    )


@pytest.mark.parametrize(
    "shape, message",
    [
        ((1, 2**31, 3), r"2147483648 time steps"),
        ((2**31, 2, 3), r"2147483648 sequences"),
    ],
)
def test_inputs_larger_than_the_kernels_index_are_refused(shape, message):
    model = fitted(LSTMClassifier)
    huge = stride_zero(*shape)
    with pytest.raises(ValueError, match=message):
        model.predict(huge)
    with pytest.raises(ValueError, match=message):
        model.predict_proba(huge)
    with pytest.raises(ValueError, match=message):
        LSTMClassifier().fit(huge, np.zeros(shape[0]))
    stream = model.stream()
    with pytest.raises(ValueError, match=message):
        stream.predict(huge)
    assert stream.n_steps_seen_ == 0


# ----------------------------------------------------------------- labels
@pytest.mark.parametrize(
    "make_y, message",
    [
        (
            lambda n: np.array(["a", None] * (n // 2), dtype=object),
            r"no label \(None\)",
        ),
        (
            lambda n: np.array([1, "a"] * (n // 2), dtype=object),
            "mixes numeric and string",
        ),
        (
            lambda n: np.array([1.5, "a"] * (n // 2), dtype=object),
            "mixes numeric and string",
        ),
    ],
    ids=["None", "int and str", "float and str"],
)
def test_missing_and_mixed_labels_are_named(make_y, message):
    X, _, _ = data()
    with pytest.raises(ValueError, match=message):
        LSTMClassifier(max_iter=1).fit(X, make_y(len(X)))


@pytest.mark.parametrize(
    "make_y, message",
    [
        (
            lambda: np.array([["a", "b", None, "a", "b"]] * 40, dtype=object),
            r"no label \(None\)",
        ),
        (
            lambda: [
                np.array([1, 2, 1, 2, 1]) if i % 2 else np.array(list("ababa"))
                for i in range(40)
            ],
            "mixes numeric and string",
        ),
        (
            lambda: np.array([[1, "a", 1, "a", 1]] * 40, dtype=object),
            "mixes numeric and string",
        ),
    ],
    ids=["None", "int and str sequences", "int and str steps"],
)
def test_missing_and_mixed_per_step_labels_are_named(make_y, message):
    X, _, _ = data()
    with pytest.raises(ValueError, match=message):
        LSTMClassifier(max_iter=1, return_sequences=True).fit(X, make_y())


def test_one_type_of_labels_still_trains():
    X, y, _ = data()
    labels = np.array(["down", "up"], dtype=object)[y]
    model = LSTMClassifier(hidden_layer_sizes=(3,), max_iter=2).fit(X, labels)
    assert set(model.predict(X)) <= {"down", "up"}
    assert_array_equal(model.classes_, ["down", "up"])


def test_warning_free_default_fit_of_the_probe_data():
    # The defaults on a small problem train without other warnings than the
    # ConvergenceWarning of a short budget.
    X, y, _ = data()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", ConvergenceWarning)
        LSTMClassifier(max_iter=2).fit(X, y)
