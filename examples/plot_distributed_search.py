"""
The same grid search on a laptop and on a Dask cluster
======================================================

A :class:`~sklearn.model_selection.GridSearchCV` is many independent fits, and
scikit-learn hands them to joblib. On a laptop, ``n_jobs=-1`` runs them in one
process per core (joblib's default backend, loky). Inside
``joblib.parallel_backend("dask")`` the same search runs them on the workers of a
Dask cluster: nothing in the search changes, and neither do its results.

Here the cluster is a :class:`distributed.LocalCluster` of two worker processes
started on this machine, so that the example runs anywhere; on a real cluster
the client connects to the scheduler's address instead, and that is the only
line that changes. The Dask part needs ``pip install ".[distributed]"``.

Dask starts its worker processes with ``spawn``, which imports this script again
in each of them; the cells that do the work therefore sit under
``if __name__ == "__main__":``, as in any script that starts a ``LocalCluster``.

The data are scikit-learn's 8x8 digits read row by row: 8 time steps of 8
features. The figure shows each candidate's mean cross-validated accuracy from
both runs. ``benchmarks/bench_distributed.py`` measures the speed-ups.
"""

# %%
# Load the digits as sequences of rows (a worker re-running this costs nothing).
import logging
import time

import joblib
import matplotlib.pyplot as plt
import numpy as np
from distributed import Client, LocalCluster
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV

from sklstm import LSTMClassifier

# sphinx_gallery_start_ignore
# isort: split
# Run as a script: write the figure to a file and never open a window.
import os
import warnings
from pathlib import Path

import matplotlib
from sklearn.exceptions import ConvergenceWarning

matplotlib.use("Agg")
output_dir = Path(os.environ.get("SKLSTM_EXAMPLES_OUTPUT", "."))
# 10 epochs is a fixed budget here, not a convergence criterion.
# scikit-learn passes this filter on to the processes that fit.
warnings.filterwarnings("ignore", category=ConvergenceWarning)
# sphinx_gallery_end_ignore

digits = load_digits()
X = digits.images / 16.0  # (1797, 8 time steps, 8 features)
y = digits.target

# %%
# One search: 4 candidates x 3 folds = 12 fits, spread over every available worker.
param_grid = {
    "hidden_layer_sizes": [(16,), (32,)],
    "learning_rate_init": [0.003, 0.01],
}
search = GridSearchCV(
    LSTMClassifier(batch_size=64, max_iter=10, random_state=0),
    param_grid,
    cv=3,
    n_jobs=-1,
)


def timed_fit(search):
    start = time.perf_counter()
    search.fit(X, y)
    return search, time.perf_counter() - start


# %%
# On a laptop: one loky process per core; each fit uses the threads (OpenMP and
# BLAS) that loky gives its process: cores / n_jobs, here one.
if __name__ == "__main__":
    laptop, laptop_seconds = timed_fit(clone(search))
    # The first parallel call also starts loky's processes.
    print(f"laptop (n_jobs=-1, loky): {laptop_seconds:.1f} s")

# %%
# On a cluster: the same search object inside ``joblib.parallel_backend("dask")``.
#
# On a real cluster the one line that differs is the client::
#
#     client = Client("tcp://scheduler:8786")
#
# Each Dask worker process runs one fit per thread, and its nanny starts it with
# OMP_NUM_THREADS=1 (and the same for OpenBLAS and MKL), so fits do not
# oversubscribe the cores.
if __name__ == "__main__":
    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        dashboard_address=None,  # no web dashboard for a short run
        silence_logs=logging.ERROR,
    )
    with cluster, Client(cluster) as client:
        print(f"cluster: {len(client.scheduler_info()['workers'])} workers")
        with joblib.parallel_backend("dask"):
            on_dask, dask_seconds = timed_fit(clone(search))
    print(f"Dask cluster: {dask_seconds:.1f} s")

    # Same random_state, same folds: the same scores, wherever the fits ran.
    for key in ("mean_test_score", "std_test_score"):
        assert np.allclose(laptop.cv_results_[key], on_dask.cv_results_[key])
    print("best parameters:", on_dask.best_params_)
    print(f"best mean CV accuracy: {on_dask.best_score_:.3f}")

# %%
# Plot each candidate's mean CV accuracy from both runs.
if __name__ == "__main__":
    labels = [
        f"{params['hidden_layer_sizes'][0]} units\nlr {params['learning_rate_init']}"
        for params in laptop.cv_results_["params"]
    ]
    positions = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    runs = [
        (laptop, "laptop: n_jobs=-1 (loky)", -0.2),
        (on_dask, 'cluster: parallel_backend("dask"), 2 workers', 0.2),
    ]
    for run, label, offset in runs:
        ax.bar(
            positions + offset,
            run.cv_results_["mean_test_score"],
            width=0.4,
            yerr=run.cv_results_["std_test_score"],
            capsize=3,
            label=label,
        )
    ax.set_xticks(positions, labels)
    ax.set_ylim(0.5, 1.0)
    ax.set_ylabel("mean 3-fold CV accuracy")
    ax.set_title("Digits read row by row: one grid search, two backends")
    ax.legend(loc="upper left", ncols=2)
    # sphinx_gallery_start_ignore
    fig.savefig(output_dir / "plot_distributed_search.png", dpi=100)
    # sphinx_gallery_end_ignore
