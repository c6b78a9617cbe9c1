"""Time an exported model in onnxruntime against sklstm's own prediction.

For each configuration of ``bench_torch.py`` (the same data and network sizes),
fits ``LSTMClassifier`` for one epoch (the weights do not change the cost),
exports it with ``import sklstm.onnx`` and skl2onnx (for the ragged
configuration with a lengths input, the sequences padded), checks that
onnxruntime's probabilities equal ``predict_proba``'s, then times both, for
the float32 and the float64 model in the same loop of ``--repeats`` rounds
(every engine and dtype once a round, the order reversed every other round),
with a pause of ``PAUSE_S`` before each block (so that the other's idle
threads, which spin for a while after a call, are asleep: as in a process that
runs one engine): the probabilities of the whole data set (one call), and of a
single sequence. Medians, the ratio onnxruntime / sklstm (above 1, sklstm is
faster) and sklstm's float64 / float32 batch time. onnxruntime runs the
recurrent layers in float32 either way (its LSTM and GRU kernels have no
float64). Both use all cores: sklstm its OpenMP threads, onnxruntime its
intra-op thread pool. The report names the CPU, its core count and the
instruction set sklstm's kernels run (``SKLSTM_MAX_ISA`` caps it).

Run from the repository root (needs ``pip install ".[onnx]"``)::

    python benchmarks/bench_onnx.py                   # ~5 min on 2 cores
    python benchmarks/bench_onnx.py --configs stacked --repeats 3

Writes ``benchmarks/results/bench_onnx.{md,json}``.
"""

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import onnxruntime
import skl2onnx
from skl2onnx import to_onnx
from sklearn.exceptions import ConvergenceWarning

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_torch import CONFIGS, cpu_model, latency_input, make_data  # noqa: E402

import sklstm  # noqa: E402
import sklstm.onnx  # noqa: E402, F401 (registers the converters)
from sklstm import LSTMClassifier  # noqa: E402
from sklstm._kernels._array import instruction_set  # noqa: E402
from sklstm.onnx import pad_sequences, sequence_types  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
PAUSE_S = 0.5


def fitted_model(config, X, y):
    model = LSTMClassifier(
        hidden_layer_sizes=(config.units,) * config.n_layers,
        batch_size=config.batch_size,
        max_iter=1,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


def median_seconds(run, n_calls):
    """Median seconds of one call over ``n_calls`` calls."""
    times = []
    for _ in range(n_calls):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def engines(config, X, y, dtype):
    """Both engines' calls on ``X`` cast to ``dtype``, and their largest difference."""
    dtype = np.dtype(dtype)
    ragged = isinstance(X, list)
    X = [x.astype(dtype) for x in X] if ragged else X.astype(dtype)
    model = fitted_model(config, X, y)
    onx = to_onnx(
        model,
        initial_types=sequence_types(config.n_features, dtype, lengths=ragged),
        options={"zipmap": False},
    )
    session = onnxruntime.InferenceSession(
        onx.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    if ragged:
        padded, lengths = pad_sequences(X, dtype)
        batch_feed = {"X": padded, "lengths": lengths}
        one_sklstm = latency_input(config, X)  # a list of one sequence
        one = one_sklstm[0]
        one_feed = {"X": one[None], "lengths": np.array([len(one)], dtype=np.int64)}
    else:
        batch_feed = {"X": X}
        one_sklstm = latency_input(config, X)
        one_feed = {"X": one_sklstm}
    difference = float(
        np.abs(session.run(None, batch_feed)[1] - model.predict_proba(X)).max()
    )
    runs = {
        "batch": {
            "sklstm": lambda: model.predict_proba(X),
            "onnxruntime": lambda: session.run(None, batch_feed),
        },
        "one sequence": {
            "sklstm": lambda: model.predict_proba(one_sklstm),
            "onnxruntime": lambda: session.run(None, one_feed),
        },
    }
    return runs, difference


def measure(config, dtypes, n_repeats):
    """One row a dtype name: both engines' medians, timed in one alternating loop.

    Every engine of every dtype runs in each round (the order reversed every
    other round), so that the ratios between engines and between dtypes come
    from the same minutes of a noisy machine.
    """
    X, y = make_data(config, config.n_samples)
    rows, runs = {}, {}
    for dtype in dtypes:
        calls, difference = engines(config, X, y, dtype)
        rows[dtype] = {"max_abs_difference": difference}
        for what, pair in calls.items():
            for engine, run in pair.items():
                runs.setdefault(what, {})[(dtype, engine)] = run
    n_calls = {"batch": 5, "one sequence": 200}
    for what, named in runs.items():
        for run in named.values():  # warm-up
            run()
        times = {key: [] for key in named}
        for repeat in range(n_repeats):
            keys = list(named) if repeat % 2 == 0 else list(named)[::-1]
            for key in keys:
                # Both engines' idle threads spin for a while after a call
                # (onnxruntime's intra-op pool, OpenMP, OpenBLAS); on 2 cores
                # the spinning of one doubled the other's time (small: sklstm
                # 14 -> 28 ms right after onnxruntime). A pause lets them sleep,
                # as in a process that runs one engine.
                time.sleep(PAUSE_S)
                named[key]()  # this engine's threads awake again
                times[key].append(median_seconds(named[key], n_calls[what]))
        medians = {key: float(np.median(t)) for key, t in times.items()}
        for dtype in dtypes:
            seconds = {
                engine: medians[(dtype, engine)] for engine in ("sklstm", "onnxruntime")
            }
            rows[dtype][what] = {
                "seconds": seconds,
                "onnxruntime_over_sklstm": seconds["onnxruntime"] / seconds["sklstm"],
            }
        if what == "batch" and {"float32", "float64"} <= set(dtypes):
            rows["float64"]["sklstm_float64_over_float32"] = (
                medians[("float64", "sklstm")] / medians[("float32", "sklstm")]
            )
    return rows


def markdown(report):
    lines = [
        "# onnxruntime against sklstm: prediction (predict_proba)",
        "",
        f"Machine: {report['machine']}; sklstm {report['sklstm']}, onnxruntime "
        f"{report['onnxruntime']}, skl2onnx {report['skl2onnx']}; medians of "
        f"{report['repeats']} rounds, each engine and dtype of a configuration "
        f"once a round (the order reversed every other round), {PAUSE_S} s pause "
        "before each block. Ratio > 1: sklstm is faster. The last column: "
        "sklstm's float64 batch time over its float32 one, from the same rounds.",
        "",
        "| config | dtype | max abs diff | batch sklstm (ms) | batch onnxruntime "
        "(ms) | ratio | one sequence sklstm (µs) | onnxruntime (µs) | ratio "
        "| sklstm float64 / float32 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["results"]:
        batch, one = row["batch"], row["one sequence"]
        dtypes_ratio = row.get("sklstm_float64_over_float32")
        lines.append(
            f"| {row['config']} | {row['dtype']} | {row['max_abs_difference']:.1e} "
            f"| {1e3 * batch['seconds']['sklstm']:.1f} "
            f"| {1e3 * batch['seconds']['onnxruntime']:.1f} "
            f"| {batch['onnxruntime_over_sklstm']:.2f} "
            f"| {1e6 * one['seconds']['sklstm']:.0f} "
            f"| {1e6 * one['seconds']['onnxruntime']:.0f} "
            f"| {one['onnxruntime_over_sklstm']:.2f} "
            f"| {'' if dtypes_ratio is None else f'{dtypes_ratio:.2f}'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--configs", nargs="+", default=["stacked", "small", "medium", "ragged"]
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-float64", action="store_true")
    args = parser.parse_args(argv)
    dtypes = ["float32"] if args.no_float64 else ["float32", "float64"]
    results = []
    for name in args.configs:
        rows = measure(CONFIGS[name], dtypes, args.repeats)
        for dtype in dtypes:
            row = {"config": name, "dtype": dtype, **rows[dtype]}
            results.append(row)
            print(
                f"{name} {dtype}: batch onnxruntime/sklstm "
                f"{row['batch']['onnxruntime_over_sklstm']:.2f}, one sequence "
                f"{row['one sequence']['onnxruntime_over_sklstm']:.2f} "
                f"(max abs diff {row['max_abs_difference']:.1e})"
                + (
                    f"; sklstm float64/float32 batch "
                    f"{row['sklstm_float64_over_float32']:.2f}"
                    if "sklstm_float64_over_float32" in row
                    else ""
                ),
                flush=True,
            )
    report = {
        "machine": f"{cpu_model()}, {os.cpu_count()} CPUs, sklstm's kernels "
        f"{instruction_set()}, Python {platform.python_version()}",
        "sklstm": sklstm.__version__,
        "onnxruntime": onnxruntime.__version__,
        "skl2onnx": skl2onnx.__version__,
        "repeats": args.repeats,
        "results": results,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_onnx.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "bench_onnx.md").write_text(markdown(report))


if __name__ == "__main__":
    main()
