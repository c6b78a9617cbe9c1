"""Time a GRU epoch against an LSTM epoch of the same size, side by side.

For each configuration of ``bench_torch.py`` (the same data, network sizes and
batch sizes), fits ``LSTMClassifier(cell="lstm")`` and ``LSTMClassifier(
cell="gru")`` for a few epochs each, alternating between the two cells over
``--repeats`` rounds, in float32 and in float64, and reports the median epoch
time of each and their ratio GRU / LSTM (the target: at most 0.85, three gate
blocks against four). Fits run a fixed number of epochs (``tol=0`` and
``n_iter_no_change`` past ``max_iter``), so both cells do the same work.

Run from the repository root (only sklstm is needed)::

    python benchmarks/bench_cells.py                  # ~10 min on 2 cores
    python benchmarks/bench_cells.py --configs small --repeats 3

Writes ``benchmarks/results/bench_cells.{md,json}``.
"""

import argparse
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_torch import CONFIGS, cpu_model, make_data  # noqa: E402

import sklstm  # noqa: E402
from sklstm import LSTMClassifier  # noqa: E402

CELLS = ("lstm", "gru")
TARGET = 0.85
RESULTS = Path(__file__).resolve().parent / "results"


def epoch_time(config, X, y, cell, n_epochs):
    """Seconds per epoch of a fit of ``n_epochs`` epochs."""
    model = LSTMClassifier(
        hidden_layer_sizes=(config.units,) * config.n_layers,
        batch_size=config.batch_size,
        max_iter=n_epochs,
        tol=0,
        n_iter_no_change=n_epochs + 1,
        cell=cell,
        random_state=0,
        # The cells alone (and nn.GRU's network): no linear layer in front.
        input_projection=None,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        started = time.perf_counter()
        model.fit(X, y)
        elapsed = time.perf_counter() - started
    assert model.n_iter_ == n_epochs
    return elapsed / n_epochs


def measure(config, dtype, n_repeats, n_epochs):
    """Median epoch time per cell, alternating the order of the cells."""
    X, y = make_data(config, config.n_samples)
    X = X.astype(dtype) if isinstance(X, np.ndarray) else [x.astype(dtype) for x in X]
    for cell in CELLS:  # warm-up: first-call costs out of the timings
        epoch_time(config, X, y, cell, 1)
    times = {cell: [] for cell in CELLS}
    for repeat in range(n_repeats):
        for cell in CELLS if repeat % 2 == 0 else CELLS[::-1]:
            times[cell].append(epoch_time(config, X, y, cell, n_epochs))
    medians = {cell: float(np.median(values)) for cell, values in times.items()}
    return {
        "epoch_seconds": medians,
        "all_seconds": times,
        "gru_over_lstm": medians["gru"] / medians["lstm"],
    }


def markdown(report):
    lines = [
        "# GRU epoch against LSTM epoch (sklstm)",
        "",
        f"Machine: {report['machine']}; sklstm {report['sklstm']}; "
        f"{report['repeats']} alternating repeats of {report['epochs']}-epoch fits "
        f"(median seconds per epoch). Target GRU / LSTM <= {TARGET}.",
        "",
        "| config | dtype | LSTM epoch (s) | GRU epoch (s) | GRU / LSTM |",
        "|---|---|---|---|---|",
    ]
    for row in report["results"]:
        seconds = row["epoch_seconds"]
        lines.append(
            f"| {row['config']} | {row['dtype']} | {seconds['lstm']:.3f} "
            f"| {seconds['gru']:.3f} | {row['gru_over_lstm']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--configs", nargs="+", default=["stacked", "small", "medium", "ragged"]
    )
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--no-float64", action="store_true")
    parser.add_argument(
        "--output",
        default="bench_cells",
        help="results/NAME.json and .md (another name keeps the main run's)",
    )
    args = parser.parse_args(argv)
    dtypes = ["float32"] if args.no_float64 else ["float32", "float64"]
    results = []
    for name in args.configs:
        for dtype in dtypes:
            row = {"config": name, "dtype": dtype}
            row.update(measure(CONFIGS[name], dtype, args.repeats, args.epochs))
            results.append(row)
            seconds = row["epoch_seconds"]
            print(
                f"{name} {dtype}: LSTM {seconds['lstm']:.3f} s, "
                f"GRU {seconds['gru']:.3f} s, GRU / LSTM {row['gru_over_lstm']:.3f}",
                flush=True,
            )
    report = {
        "machine": f"{cpu_model()}, {platform.python_version()}",
        "sklstm": sklstm.__version__,
        "repeats": args.repeats,
        "epochs": args.epochs,
        "results": results,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.output}.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / f"{args.output}.md").write_text(markdown(report))


if __name__ == "__main__":
    main()
