"""What ``input_projection`` costs a fit: seconds per epoch with and without it.

A linear layer in front of the first recurrent layer trains folded into it (see
``sklstm/_projection.py``): each minibatch runs the plain network, plus work of
the weights' size (the fold, the chain rule back to the factors, and the
optimizer's update of the larger set of weights). This script measures that on
problems from a real-data set's size to a large one, float32 beside float64:
``LSTMClassifier`` at ``input_projection=None`` and ``"auto"`` (128 wide, or the
input's width when that is more), alternating, each timing a fit of a fixed
number of epochs (no stopping rule); medians of ``--repeats``.

Run from the repository root (one thread, as the real-data benchmark)::

    OMP_NUM_THREADS=1 python benchmarks/bench_input_projection.py

Writes ``results/input_projection/bench_input_projection.{json,md}``.
"""

import argparse
import json
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sklstm import LSTMClassifier
from sklstm._kernels._array import instruction_set

RESULTS_DIR = Path(__file__).resolve().parent / "results" / "input_projection"

# (name, n_samples, n_steps, n_features, units, epochs)
PROBLEMS = [
    ("ArrowHead-sized, patched", 36, 16, 16, 64, 40),
    ("ACSF1-sized, patched", 100, 46, 32, 64, 10),
    ("digits rows", 1347, 8, 8, 32, 10),
    ("large", 4000, 100, 8, 64, 2),
    ("wide input", 2000, 50, 200, 64, 2),
]


def make_data(n_samples, n_steps, n_features, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_samples, n_steps, n_features))
    return X, (X[:, :, 0].mean(axis=1) > 0).astype(int)


def epoch_seconds(X, y, units, epochs, projection):
    model = LSTMClassifier(
        hidden_layer_sizes=(units,),
        max_iter=epochs,
        tol=0,
        n_iter_no_change=epochs + 1,
        ema_momentum=None,
        input_projection=projection,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        started = time.perf_counter()
        model.fit(X, y)
        elapsed = time.perf_counter() - started
    assert model.n_iter_ == epochs
    return elapsed / epochs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", default="bench_input_projection")
    args = parser.parse_args(argv)
    rows = []
    for name, n, steps, features, units, epochs in PROBLEMS:
        for dtype in (np.float32, np.float64):
            X, y = make_data(n, steps, features)
            X = X.astype(dtype)
            times = {None: [], "auto": []}
            for _ in range(args.repeats):
                for projection in times:  # alternating
                    times[projection].append(
                        epoch_seconds(X, y, units, epochs, projection)
                    )
            plain, projected = (statistics.median(times[p]) for p in times)
            row = {
                "problem": name,
                "shape": [n, steps, features],
                "units": units,
                "dtype": np.dtype(dtype).name,
                "epoch_s_none": plain,
                "epoch_s_auto": projected,
                "ratio": projected / plain,
            }
            rows.append(row)
            print(
                f"{name:26s} {row['dtype']:8s} {1000 * plain:9.2f} ms "
                f"{1000 * projected:9.2f} ms  x{row['ratio']:.2f}",
                flush=True,
            )
    meta = {
        "machine": platform.processor() or platform.machine(),
        "isa": instruction_set(),
        "python": sys.version.split()[0],
        "repeats": args.repeats,
        "date": time.strftime("%Y-%m-%d"),
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    with open(RESULTS_DIR / f"{args.output}.json", "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    lines = [
        "| problem | (n, steps, features) | units | dtype | none | auto | ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['problem']} | {tuple(r['shape'])} | {r['units']} | {r['dtype']} "
            f"| {1000 * r['epoch_s_none']:.2f} ms | {1000 * r['epoch_s_auto']:.2f} ms "
            f"| {r['ratio']:.2f} |"
        )
    text = (
        f"Seconds per epoch, medians of {args.repeats} alternating fits; "
        f"{meta['isa']}, {meta['date']}.\n\n" + "\n".join(lines) + "\n"
    )
    (RESULTS_DIR / f"{args.output}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
