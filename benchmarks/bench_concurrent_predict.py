"""Concurrent ``predict_proba`` from several Python threads on one fitted model.

The kernels release the GIL, so threads that predict at once run in parallel.
Since the kernels also split each call between OpenMP threads, two settings are
timed, each as serial calls and as the same calls from a thread pool:

- ``kernel threads = 1`` (``threadpool_limits(1)``): the parallelism comes only
  from the Python threads, i.e. from the GIL being released;
- ``kernel threads = all``: each call already uses every core.

The results of concurrent calls must equal the serial ones. Run from the
repository root::

    python benchmarks/bench_concurrent_predict.py [--repeats 5]

Prints a Markdown table and writes ``benchmarks/results/bench_concurrent_predict.md``.
"""

import argparse
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

RESULTS = Path(__file__).resolve().parent / "results"
N_CALLS, BATCH, N_STEPS, N_FEATURES, UNITS = 8, 500, 50, 32, 128


def fitted_model():
    import warnings

    from sklstm import LSTMClassifier

    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, N_STEPS, N_FEATURES), dtype=np.float32)
    y = rng.integers(10, size=400)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return LSTMClassifier(hidden_layer_sizes=(UNITS,), max_iter=1).fit(X, y)


def time_calls(model, batches, n_workers):
    started = time.perf_counter()
    if n_workers == 1:
        results = [model.predict_proba(X) for X in batches]
    else:
        with ThreadPoolExecutor(n_workers) as pool:
            results = list(pool.map(model.predict_proba, batches))
    return time.perf_counter() - started, results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args(argv)

    model = fitted_model()
    rng = np.random.default_rng(1)
    batches = [
        rng.standard_normal((BATCH, N_STEPS, N_FEATURES), dtype=np.float32)
        for _ in range(N_CALLS)
    ]
    rows = []
    for label, limit in (("1", 1), ("all", None)):
        with threadpool_limits(limits=limit):
            time_calls(model, batches, args.workers)  # warm-up
            serial, threaded = [], []
            for _ in range(args.repeats):
                seconds, expected = time_calls(model, batches, 1)
                serial.append(seconds)
                seconds, results = time_calls(model, batches, args.workers)
                threaded.append(seconds)
                for got, want in zip(results, expected):
                    np.testing.assert_array_equal(got, want)
        s, t = statistics.median(serial), statistics.median(threaded)
        rows.append((label, s, t, s / t))
    lines = [
        f"`predict_proba` on {N_CALLS} x {BATCH} sequences ({N_STEPS} steps x "
        f"{N_FEATURES} features, LSTM({UNITS}), float32), serial calls vs "
        f"{args.workers} Python threads; medians of {args.repeats}. Concurrent "
        "results equal the serial ones exactly.",
        "",
        "| kernel threads | serial s | threaded s | speed-up |",
        "|---|---|---|---|",
    ]
    lines += [f"| {label} | {s:.3f} | {t:.3f} | {r:.2f} |" for label, s, t, r in rows]
    report = "\n".join(lines)
    print(report)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_concurrent_predict.md").write_text(report + "\n")


if __name__ == "__main__":
    main()
