"""Threads: the kernels' own, BLAS's, and limits set from outside."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from reference import as_head
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_info, threadpool_limits

from sklstm import LSTMClassifier
from sklstm._kernels._parallel import _back_off_now, _tuning, openmp_max_threads
from sklstm._network import LSTMNetwork
from sklstm._threads import MIN_STEPS_TO_SPLIT, kernel_threads


def blas_threads():
    return sorted(
        (info["filepath"], info["num_threads"])
        for info in threadpool_info()
        if info["user_api"] == "blas"
    )


@pytest.fixture
def data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 6, 3)).astype(np.float32)
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    return X, y


def test_kernel_threads_follow_outside_limits():
    with threadpool_limits(limits=1):
        with kernel_threads(64) as n_threads:
            assert n_threads == 1
    with kernel_threads(64) as n_threads:
        assert n_threads == openmp_max_threads()
    # A single sequence cannot be split: BLAS is left alone.
    with kernel_threads(1) as n_threads:
        assert n_threads == 1


@pytest.mark.parametrize(
    "batch, n_steps, split",
    [
        (64, None, True),  # training's minibatches: any two sequences
        # a prediction below MIN_STEPS_TO_SPLIT sequence steps: one thread
        (2, MIN_STEPS_TO_SPLIT // 2 - 1, False),
        (2, MIN_STEPS_TO_SPLIT // 2, True),
        (MIN_STEPS_TO_SPLIT // 8 - 1, 8, False),
        (MIN_STEPS_TO_SPLIT // 8 + 1, 8, True),
    ],
)
def test_predictions_of_few_steps_stay_on_one_thread(batch, n_steps, split):
    with kernel_threads(batch, n_steps) as n_threads:
        assert n_threads == (openmp_max_threads() if split else 1)


@pytest.mark.skipif(openmp_max_threads() < 2, reason="needs two OpenMP threads")
def test_blas_is_single_threaded_inside_and_restored_after(data):
    before = blas_threads()
    with kernel_threads(64) as n_threads:
        assert n_threads >= 2
        assert all(n == 1 for _, n in blas_threads())
        with kernel_threads(64):  # nested (validation scores inside fit)
            pass
        assert all(n == 1 for _, n in blas_threads())
    assert blas_threads() == before

    X, y = data
    clf = LSTMClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0)
    with pytest.warns(ConvergenceWarning):  # 2 epochs
        clf.fit(X, y)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(clf.predict_proba, [X] * 8))
    assert blas_threads() == before


def test_results_do_not_depend_on_the_thread_count(data, split_any_work):
    # Inside threadpoolctl's limits (as in joblib's workers) the kernels run on
    # one thread; with two they split every minibatch: the same model either way.
    X, y = data
    params = dict(hidden_layer_sizes=(16, 8), max_iter=3, batch_size=32)
    fitted = []
    for limit in (1, None):
        with threadpool_limits(limits=limit), pytest.warns(ConvergenceWarning):
            fitted.append(LSTMClassifier(**params, random_state=0).fit(X, y))
    one, many = fitted
    for w_one, w_many in zip(one.get_weights(), many.get_weights()):
        np.testing.assert_allclose(w_one, w_many, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(
        one.predict_proba(X), many.predict_proba(X), rtol=1e-6, atol=1e-7
    )


@pytest.mark.skipif(openmp_max_threads() < 2, reason="needs two OpenMP threads")
def test_kernels_back_off_to_one_thread_when_kept_waiting(split_any_work):
    # A region whose threads were mostly waiting (another process had a core)
    # sends the kernels to one thread for a while: simulated with _back_off_now.
    rng = np.random.RandomState(0)
    network = LSTMNetwork(3, (8,), 2, as_head("softmax"), np.float64)
    params = network.initialize(rng)
    X = rng.normal(size=(6, 5, 3))
    work = np.empty(network.dense_work_size(5, 6))

    def split_regions():
        return _tuning()[2]

    before = split_regions()
    expected = network.dense_logits(params, X, work, n_threads=2)
    assert split_regions() > before  # split while nobody waited

    _tuning(backoff_seconds=60.0)
    _back_off_now()
    before = split_regions()
    np.testing.assert_allclose(
        network.dense_logits(params, X, work, n_threads=2), expected, rtol=1e-12
    )
    assert split_regions() == before  # one thread while backing off
    _tuning(backoff_seconds=0.0)  # ends the backoff
    network.dense_logits(params, X, work, n_threads=2)
    assert split_regions() > before


@pytest.mark.skipif(openmp_max_threads() < 2, reason="needs two OpenMP threads")
@pytest.mark.parametrize("ragged", [False, True])
def test_a_busy_machine_does_not_change_the_model(data, ragged, split_any_work):
    # Backing off to one thread runs the same chunks on fewer threads: a fit
    # repeated with the same random_state gives the same weights, bit for bit,
    # however busy the machine was (a timing-dependent split changed the rounding).
    X, y = data
    if ragged:
        X = [x[: 2 + i % 5] for i, x in enumerate(X)]
    params = dict(hidden_layer_sizes=(16, 8), max_iter=3, batch_size=32)

    def fit():
        with pytest.warns(ConvergenceWarning):
            return LSTMClassifier(**params, random_state=0).fit(X, y)

    quiet = fit()
    _tuning(backoff_seconds=600.0)
    _back_off_now()
    busy = fit()
    _tuning(backoff_seconds=0.0)
    for w_quiet, w_busy in zip(quiet.get_weights(), busy.get_weights()):
        np.testing.assert_array_equal(w_quiet, w_busy)
