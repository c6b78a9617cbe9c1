"""Model selection on a Dask cluster gives the same results as a serial run.

A real ``distributed.LocalCluster`` of two worker processes with one thread each
runs scikit-learn's searches through joblib's dask backend; the estimators are
shipped to the workers, fitted and scored there, and shipped back.
"""

import logging
import os
import warnings

import joblib
import numpy as np
import pytest
from scipy.stats import loguniform
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV, cross_validate

from sklstm import LSTMClassifier, LSTMRegressor

# Only a guard for installs without the extra: pip install "sklstm[distributed]".
distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")

N_WORKERS = 2
THREADS_PER_WORKER = 1

SEARCHES = {
    "grid": lambda estimator: GridSearchCV(
        estimator,
        {"hidden_layer_sizes": [(4,), (8,)], "learning_rate_init": [0.003, 0.03]},
        cv=3,
        scoring=["neg_log_loss", "accuracy"],
        refit="neg_log_loss",
    ),
    "randomized": lambda estimator: RandomizedSearchCV(
        estimator,
        {
            "hidden_layer_sizes": [(4,), (8,)],
            "learning_rate_init": loguniform(1e-3, 1e-1),
        },
        n_iter=4,
        cv=2,
        scoring=["neg_log_loss", "accuracy"],
        refit="neg_log_loss",
        random_state=0,
    ),
}


@pytest.fixture(scope="module")
def client():
    """A client of a 2-process LocalCluster, shut down even if a test fails.

    The nannies run in this process and set ``distributed.nanny.pre-spawn-environ``
    (OMP_NUM_THREADS=1 and others) in its ``os.environ`` before starting the
    workers; that is put back afterwards so that later tests' subprocesses and
    loky workers do not inherit it.
    """
    leaked = {*dask.config.get("distributed.nanny.pre-spawn-environ"), "PYTHONHASHSEED"}
    saved = {name: os.environ.get(name) for name in leaked}
    # silence_logs quiets the cluster's console handlers; the scheduler and the
    # nannies log to this process, where pytest would show their INFO records.
    logger = logging.getLogger("distributed")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with (
            distributed.LocalCluster(
                n_workers=N_WORKERS,
                threads_per_worker=THREADS_PER_WORKER,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            yield client
    finally:
        logger.setLevel(level)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def make_classification_sequences(n_samples=90, n_steps=8, seed=0):
    """Label: is the sum of the first feature over time positive."""
    rng = np.random.RandomState(seed)
    X = rng.randn(n_samples, n_steps, 2)
    return X, (X[:, :, 0].sum(axis=1) > 0).astype(int)


def run(function, *args, **kwargs):
    # A few epochs are the budget here, not a convergence criterion.
    # scikit-learn hands this filter on to the processes that fit.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return function(*args, **kwargs)


def test_cluster_workers(client):
    # The fits below run on the two worker processes, not in this one.
    workers = client.scheduler_info()["workers"]
    assert len(workers) == N_WORKERS
    assert {w["nthreads"] for w in workers.values()} == {THREADS_PER_WORKER}
    assert os.getpid() not in set(client.run(os.getpid).values())


@pytest.mark.parametrize("kind", SEARCHES)
def test_search_on_dask_matches_serial(client, kind):
    X, y = make_classification_sequences()
    estimator = LSTMClassifier(max_iter=4, batch_size=16, random_state=0)

    serial = run(SEARCHES[kind](estimator).fit, X, y)
    on_dask = SEARCHES[kind](estimator)
    with (
        distributed.get_task_stream(client) as tasks,
        joblib.parallel_backend("dask"),
    ):
        run(on_dask.fit, X, y)

    # The fits ran as tasks on the cluster's workers (joblib batches short fits,
    # so one worker may take them all).
    workers = {task["worker"] for task in tasks.data}
    assert workers and workers <= set(client.scheduler_info()["workers"])
    assert serial.cv_results_["params"] == on_dask.cv_results_["params"]
    n_splits = serial.n_splits_
    for metric in ("neg_log_loss", "accuracy"):
        for key in [f"split{k}_test_{metric}" for k in range(n_splits)] + [
            f"mean_test_{metric}",
            f"rank_test_{metric}",
        ]:
            np.testing.assert_allclose(
                on_dask.cv_results_[key],
                serial.cv_results_[key],
                rtol=1e-12,
                err_msg=key,
            )
    # Not a constant score either: the candidates learnt different amounts.
    assert np.ptp(serial.cv_results_["mean_test_neg_log_loss"]) > 0
    assert serial.best_params_ == on_dask.best_params_


def test_cross_validate_on_dask_returns_the_serial_models(client):
    X, y = make_classification_sequences(seed=1)
    y = X[:, :, 0].cumsum(axis=1)[:, -3:]  # the running sum's last 3 values
    estimator = LSTMRegressor(
        hidden_layer_sizes=(6,), max_iter=5, batch_size=16, random_state=0
    )

    serial = run(cross_validate, estimator, X, y, cv=3, return_estimator=True)
    with joblib.parallel_backend("dask"):
        on_dask = run(cross_validate, estimator, X, y, cv=3, return_estimator=True)

    np.testing.assert_allclose(on_dask["test_score"], serial["test_score"], rtol=1e-12)
    # The models come back from the workers with the weights fitted serially.
    for local, remote in zip(serial["estimator"], on_dask["estimator"]):
        for a, b in zip(local.get_weights(), remote.get_weights(), strict=True):
            np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-15)
        assert local.loss_curve_ == pytest.approx(remote.loss_curve_, rel=1e-12)


@pytest.mark.parametrize(
    "backend, params",
    [("dask", {}), ("loky", {"n_jobs": 2, "inner_max_num_threads": 1})],
)
def test_fits_in_workers_use_the_threads_they_were_given(request, backend, params):
    """Each fit in a worker keeps BLAS and OpenMP to the worker's one thread.

    Dask's nanny gives each worker process OMP_NUM_THREADS=1 and the like; loky
    gives its workers ``inner_max_num_threads``. The scorer runs in the worker
    right after the fit and reads the thread-pool sizes there, so any pool that
    sklstm (or a library it calls) had widened during the fit would show.
    """
    if backend == "dask":
        request.getfixturevalue("client")

    def max_threads(estimator, X, y):
        from threadpoolctl import threadpool_info

        return max(pool["num_threads"] for pool in threadpool_info())

    X, y = make_classification_sequences()
    estimator = LSTMClassifier(max_iter=2, batch_size=16, random_state=0)
    with joblib.parallel_backend(backend, **params):
        result = run(cross_validate, estimator, X, y, cv=2, scoring=max_threads)
    assert result["test_score"].tolist() == [1, 1]
