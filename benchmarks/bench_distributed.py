"""Time one grid search serially, on loky processes and on a Dask cluster.

The same ``GridSearchCV`` over an ``LSTMClassifier`` (4 candidates x 2 folds = 8
fits, no refit) runs three ways:

1. serially: ``n_jobs=None``, one fit after the other in this process, with
   the default threads (BLAS and OpenMP: one per core);
2. loky: ``n_jobs=2``, joblib's default backend, two worker processes on this
   machine (joblib limits each to cores / n_jobs BLAS and OpenMP threads);
3. dask: inside ``joblib.parallel_backend("dask")``, on a
   ``distributed.LocalCluster`` of 2 worker processes with 1 thread each (each
   worker's nanny sets OMP_NUM_THREADS=1 and the like before starting it).

Each way runs once untimed first (it starts loky's processes, and imports sklstm
in every worker), then ``--repeats`` times, the three ways alternating in each
round; the script reports the medians and the speed-ups over serial, and checks
that every loky and Dask run gives the same cross-validation scores (one thread
per fit). Serial fits use more threads, which round differently: their largest
difference from those scores is reported. Starting the cluster is timed apart.

Run from the repository root, with sklstm and ``sklstm[distributed]`` installed::

    pip install "dask[distributed]"
    python benchmarks/bench_distributed.py              # ~2 min on 2 cores
    python benchmarks/bench_distributed.py --quick      # smoke run

Results go to ``benchmarks/results/bench_distributed.json`` (every timing, the
machine, versions, thread pools and load average) and
``benchmarks/results/bench_distributed.md`` (the table).
"""

# Dask starts its workers with multiprocessing's spawn, which imports this script
# again in each of them: everything below the imports stays in functions.
import argparse
import contextlib
import datetime
import json
import logging
import os
import platform
import statistics
import subprocess
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
from bench_torch import cpu_model

SEED = 0
RESULTS_DIR = Path(__file__).resolve().parent / "results"
N_WORKERS = 2
N_JOBS_LOKY = 2
MODES = ("serial", "loky", "dask")
# 1500 training sequences per fold; a fit takes 1 to 3 s on this project's machine.
N_SAMPLES, N_STEPS, N_FEATURES, N_CLASSES = 3000, 30, 8, 5
PARAM_GRID = {"hidden_layer_sizes": [(32,), (64,)], "learning_rate_init": [1e-3, 1e-2]}
N_FOLDS = 2
MAX_ITER = 40


def make_data():
    """float32 sequences; the class is which feature sums highest over time."""
    rng = np.random.default_rng(SEED)
    X = rng.standard_normal((N_SAMPLES, N_STEPS, N_FEATURES), dtype=np.float32)
    y = X[:, :, :N_CLASSES].sum(axis=1).argmax(axis=1)
    return X, y


def make_search(n_jobs):
    from sklearn.model_selection import GridSearchCV

    from sklstm import LSTMClassifier

    estimator = LSTMClassifier(batch_size=64, max_iter=MAX_ITER, random_state=SEED)
    # No refit: it is one more fit, in this process, the same for all three ways.
    return GridSearchCV(estimator, PARAM_GRID, cv=N_FOLDS, refit=False, n_jobs=n_jobs)


def fit_search(mode, X, y):
    """One timed search; returns (seconds, mean test scores)."""
    import joblib
    from sklearn.exceptions import ConvergenceWarning

    search = make_search(n_jobs={"serial": None, "loky": N_JOBS_LOKY, "dask": -1}[mode])
    # Outside a parallel_backend context, n_jobs=2 means loky.
    backend = (
        joblib.parallel_backend("dask") if mode == "dask" else contextlib.nullcontext()
    )
    with warnings.catch_warnings(), backend:
        # MAX_ITER epochs is a fixed amount of work, not a convergence criterion;
        # scikit-learn passes this filter on to the processes that fit.
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        search.fit(X, y)
        seconds = time.perf_counter() - start
    return seconds, search.cv_results_["mean_test_score"]


def max_threads():
    """The largest BLAS or OpenMP thread pool in the calling process."""
    from threadpoolctl import threadpool_info

    return max(pool["num_threads"] for pool in threadpool_info())


def threads_per_fit(client):
    """How many threads a fit may use in each of the three ways."""
    from joblib import Parallel, delayed

    loky = Parallel(n_jobs=N_JOBS_LOKY)(delayed(max_threads)() for _ in range(4))
    return {
        "serial": max_threads(),
        "loky": sorted(set(loky)),
        "dask": sorted(set(client.run(max_threads).values())),
    }


def start_cluster():
    """A LocalCluster and its client; this process's environment left as it was.

    The nannies run in this process and write ``distributed.nanny.pre-spawn-environ``
    (OMP_NUM_THREADS=1, ...) into its ``os.environ`` before spawning the workers.
    """
    from distributed import Client, LocalCluster

    environ = os.environ.copy()
    start = time.perf_counter()
    cluster = LocalCluster(
        n_workers=N_WORKERS,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    client = Client(cluster)
    seconds = time.perf_counter() - start
    os.environ.clear()
    os.environ.update(environ)
    return cluster, client, seconds


def git_revision():
    """sklstm's commit, with "-dirty" if the working tree has changes."""
    try:
        return subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def machine_info():
    import dask
    import distributed
    import joblib
    import scipy
    import sklearn
    from threadpoolctl import threadpool_info

    import sklstm

    return {
        "cpu_model": cpu_model() or platform.processor(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "scikit-learn": sklearn.__version__,
            "joblib": joblib.__version__,
            "dask": dask.__version__,
            "distributed": distributed.__version__,
            "sklstm": sklstm.__version__,
        },
        "sklstm_git": git_revision(),
        "threadpools": threadpool_info(),
    }


def run(n_repeats):
    from sklearn.model_selection import ParameterGrid

    X, y = make_data()
    load_start = os.getloadavg()
    started = time.perf_counter()
    first_call, scores = {}, {mode: [] for mode in MODES}
    cluster, client, cluster_start = None, None, None
    try:
        for mode in MODES:
            if mode == "dask":
                cluster, client, cluster_start = start_cluster()
                print(f"LocalCluster started in {cluster_start:.1f} s", flush=True)
            first_call[mode], mode_scores = fit_search(mode, X, y)
            scores[mode].append(mode_scores)
            print(f"{mode:>6}: first call {first_call[mode]:.2f} s", flush=True)
        threads = threads_per_fit(client)
        times = {mode: [] for mode in MODES}
        for repeat in range(n_repeats):
            for mode in MODES:
                seconds, mode_scores = fit_search(mode, X, y)
                times[mode].append(seconds)
                scores[mode].append(mode_scores)
            print(
                f"round {repeat + 1}/{n_repeats}: "
                + ", ".join(f"{m} {times[m][-1]:.2f} s" for m in MODES),
                flush=True,
            )
    finally:
        if client is not None:
            client.close()
            cluster.close()
    # loky and Dask run each fit on one thread: the same arithmetic every time,
    # the same scores. Serial fits use more threads, which split sums (in BLAS
    # and in sklstm's kernels) differently; over many epochs the rounding
    # differences can move a few predictions.
    parallel = scores["loky"][0]
    for mode_scores in scores["loky"] + scores["dask"]:
        np.testing.assert_array_equal(mode_scores, parallel)
    serial_difference = max(float(np.abs(s - parallel).max()) for s in scores["serial"])
    median = {mode: statistics.median(t) for mode, t in times.items()}
    return {
        "date": datetime.date.today().isoformat(),
        "machine": machine_info(),
        "problem": {
            "n_samples": N_SAMPLES,
            "n_steps": N_STEPS,
            "n_features": N_FEATURES,
            "n_classes": N_CLASSES,
            "param_grid": PARAM_GRID,
            "n_folds": N_FOLDS,
            "n_fits": N_FOLDS * len(ParameterGrid(PARAM_GRID)),
            "max_iter": MAX_ITER,
            "batch_size": 64,
        },
        "n_workers": N_WORKERS,
        "n_jobs_loky": N_JOBS_LOKY,
        "threads_per_fit": threads,
        "repeats": n_repeats,
        "cluster_start_s": cluster_start,
        "first_call_s": first_call,
        "times_s": times,
        "median_s": median,
        "speedup": {mode: median["serial"] / median[mode] for mode in MODES},
        "mean_test_scores": {
            mode: [s.tolist() for s in runs] for mode, runs in scores.items()
        },
        "max_score_difference_serial_vs_parallel": serial_difference,
        "load_average_start": load_start,
        "load_average_end": os.getloadavg(),
        "elapsed_s": time.perf_counter() - started,
    }


HOW = {
    "serial": "`n_jobs=None`, in this process",
    "loky": "`n_jobs={n_jobs}`, loky processes",
    "dask": '`parallel_backend("dask")`, LocalCluster, {n_workers} workers x 1 thread',
}


def markdown_table(report):
    header = "| way | how | threads per fit | median s | min s | max s | speed-up |"
    lines = [header, "|---|---|---|---|---|---|---|"]
    for mode in MODES:
        threads = report["threads_per_fit"][mode]
        if isinstance(threads, list):
            threads = ", ".join(map(str, threads))
        how = HOW[mode].format(
            n_jobs=report["n_jobs_loky"], n_workers=report["n_workers"]
        )
        t = report["times_s"][mode]
        lines.append(
            f"| {mode} | {how} | {threads} | {report['median_s'][mode]:.2f} | "
            f"{min(t):.2f} | {max(t):.2f} | {report['speedup'][mode]:.2f} |"
        )
    return "\n".join(lines)


def markdown_report(report):
    problem, machine = report["problem"], report["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
    grid = ", ".join(f"`{k}` {v}" for k, v in PARAM_GRID.items())
    first = ", ".join(f"{m} {s:.2f} s" for m, s in report["first_call_s"].items())
    load = " / ".join(
        ", ".join(f"{x:.1f}" for x in report[key])
        for key in ("load_average_start", "load_average_end")
    )
    how = (
        f"`GridSearchCV(LSTMClassifier(batch_size={problem['batch_size']}, "
        f"max_iter={problem['max_iter']}), ..., cv={problem['n_folds']}, "
        f"refit=False)` over {grid}: {problem['n_fits']} fits on "
        f"{problem['n_samples']} float32 sequences of {problem['n_steps']} steps x "
        f"{problem['n_features']} features, {problem['n_classes']} classes. Median "
        f"of {report['repeats']} runs per way, the three ways alternating, after "
        "one untimed run each. Every loky and Dask run gives the same "
        "cross-validation scores (one thread per fit); serial fits, with more "
        "threads, differ from them by up to "
        f"{report['max_score_difference_serial_vs_parallel']:.4f} in mean accuracy "
        "(floating-point rounding, amplified over the epochs)."
    )
    notes = (
        f"Untimed first calls: {first}. Starting the LocalCluster: "
        f"{report['cluster_start_s']:.1f} s. Load average (1, 5, 15 min) at start / "
        f"end: {load}."
    )
    footer = (
        f"{machine['cpu_model']}, {machine['cpu_count']} CPUs; {versions} (git "
        f"{machine['sklstm_git']}). Measured {report['date']} in "
        f"{report['elapsed_s']:.0f} s."
    )
    threads = (
        "Threads per fit: the largest BLAS or OpenMP thread pool in the process "
        "that fits, read with threadpoolctl. Speed-up: serial median / median."
    )
    sections = [
        "# Grid search: serial, loky, Dask",
        textwrap.fill(how, 88, break_on_hyphens=False),
        markdown_table(report),
        textwrap.fill(threads + " " + notes, 88),
        textwrap.fill(footer, 88),
    ]
    return "\n\n".join(sections) + "\n"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed runs per way (default 3)"
    )
    parser.add_argument("--quick", action="store_true", help="2 repeats")
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=RESULTS_DIR,
        help=f"where to write bench_distributed.json and .md (default {RESULTS_DIR})",
    )
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 2 if args.quick else 3
    return args


def main(argv=None):
    args = parse_args(argv)
    report = run(args.repeats)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / "bench_distributed.json").write_text(
        json.dumps(report, indent=2)
    )
    (args.results_dir / "bench_distributed.md").write_text(markdown_report(report))
    print("\n" + markdown_table(report))
    print(f"\nwritten to {args.results_dir}/bench_distributed.{{json,md}}")


if __name__ == "__main__":
    main()
