"""Peak memory of ``predict_proba`` on a large, memory-mapped X.

Issue 7 asks that prediction on a very large X run in bounded memory: sklstm
predicts in chunks of sequences, so its buffers hold one chunk's activations, never
the whole data set's. This script predicts 1,000,000 sequences of 50 steps x 8
features (float32) with a small fitted ``LSTMClassifier`` (one LSTM(32) layer,
trained briefly on a subsample) and compares the memory that ``predict_proba``
adds with the size of the activation tensor of the whole X: the gates
(n x T x 4H) plus the cells, their tanh and the hidden states (n x T x H each),
in float32.

The data are written in chunks to a memory-mapped ``.npy`` file in a temporary
folder, so the input is file-backed and never held in memory by the parent. Each
measurement runs in a fresh Python process (this script, with the hidden option
``--_child``) that loads the pickled model, opens X with ``np.load(...,
mmap_mode="r")``, resets its peak resident set size (writing 5 to
``/proc/self/clear_refs``), notes its RSS, predicts, and reads the peak (VmHWM
in ``/proc/self/status``). A thread samples ``RssAnon`` and ``RssFile`` every
5 ms meanwhile, to tell the buffers sklstm allocates (anonymous memory) from the
pages of the mapped file that reading X leaves resident (file-backed, which the
kernel can drop at any time). The child then checks the first 1,000 predictions
against ``predict_proba`` on an in-memory copy of those sequences.

Run from the repository root (Linux only: it reads /proc)::

    python benchmarks/bench_predict_memory.py                   # ~2 min on 2 cores
    python benchmarks/bench_predict_memory.py --n-sequences 100000  # quicker

Results go to ``benchmarks/results/bench_predict_memory.json`` and
``benchmarks/results/bench_predict_memory.md``.
"""

import argparse
import datetime
import json
import os
import pickle
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np

RESULTS_DIR = Path(__file__).resolve().parent / "results"
FLOAT32_BYTES = 4
MIB = 2**20
CHECKED_SEQUENCES = 1_000
WRITE_CHUNK = 50_000
SAMPLE_SECONDS = 0.005


def activation_bytes(n_sequences, n_steps, units):
    """Float32 gates (4H) + cells, tanh(cells) and hidden states (H each)."""
    return n_sequences * n_steps * (4 * units + 3 * units) * FLOAT32_BYTES


def write_memmap(path, n_sequences, n_steps, n_features, seed=0):
    """A float32 .npy of normal values, written WRITE_CHUNK sequences at a time."""
    rng = np.random.default_rng(seed)
    X = np.lib.format.open_memmap(
        path, mode="w+", dtype=np.float32, shape=(n_sequences, n_steps, n_features)
    )
    for start in range(0, n_sequences, WRITE_CHUNK):
        stop = min(start + WRITE_CHUNK, n_sequences)
        X[start:stop] = rng.standard_normal(
            (stop - start, n_steps, n_features), dtype=np.float32
        )
    X.flush()
    del X


def fit_model(X_path, n_train, units, seed=0):
    """An LSTM(units) classifier trained briefly on the first sequences of X."""
    from sklearn.exceptions import ConvergenceWarning

    from sklstm import LSTMClassifier

    X = np.load(X_path, mmap_mode="r")
    X_train = np.array(X[:n_train])
    # Labels that need memory: the sign of the first feature's running sum.
    y = (X_train[:, :, 0].sum(axis=1) > 0).astype(int)
    model = LSTMClassifier(
        hidden_layer_sizes=(units,),
        max_iter=3,
        learning_rate_init=0.01,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        return model.fit(X_train, y)


def status():
    """Resident memory figures of this process, in bytes, from /proc/self/status."""
    text = Path("/proc/self/status").read_text()
    return {
        key: int(re.search(rf"^{key}:\s+(\d+) kB", text, re.M).group(1)) * 1024
        for key in ("VmRSS", "VmHWM", "RssAnon", "RssFile")
    }


def child(folder):
    """Measure one predict_proba in this (fresh) process; print JSON."""
    import gc

    folder = Path(folder)
    with open(folder / "model.pkl", "rb") as f:
        model = pickle.load(f)
    X = np.load(folder / "X.npy", mmap_mode="r")
    gc.collect()
    try:
        Path("/proc/self/clear_refs").write_text("5")  # peak RSS := current RSS
        reset = True
    except OSError:
        reset = False  # the peak then covers loading too: an overestimate
    before = status()
    peaks = dict(before)
    done = threading.Event()

    def sample():
        while not done.wait(SAMPLE_SECONDS):
            now = status()
            for key in ("RssAnon", "RssFile"):
                peaks[key] = max(peaks[key], now[key])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    proba = model.predict_proba(X)
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    after = status()
    in_memory = model.predict_proba(np.array(X[:CHECKED_SEQUENCES]))
    print(
        json.dumps(
            {
                "seconds": seconds,
                "hwm_reset": reset,
                "rss_before": before["VmRSS"],
                "peak_rss": after["VmHWM"],
                "growth": after["VmHWM"] - before["VmRSS"],
                "anon_growth": peaks["RssAnon"] - before["RssAnon"],
                "file_growth": peaks["RssFile"] - before["RssFile"],
                "output_shape": list(proba.shape),
                "output_finite": bool(np.isfinite(proba).all()),
                "max_difference_in_memory": float(
                    np.abs(proba[:CHECKED_SEQUENCES] - in_memory).max()
                ),
            }
        )
    )


def measure_in_subprocess(folder, threads=None):
    """Run the child measurement on the model and X in ``folder``; its dict."""
    import sklstm

    env = dict(os.environ)
    # The child imports the same sklstm as this process (a source tree or not).
    package_root = str(Path(sklstm.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(
        [package_root] + [p for p in [env.get("PYTHONPATH")] if p]
    )
    if threads is not None:
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[name] = str(threads)
    run = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--_child", str(folder)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if run.returncode != 0:
        raise RuntimeError(f"measurement failed:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def prepare(folder, n_sequences, n_steps, n_features, units, n_train):
    """Write X as a memory map and pickle a model fitted on its first sequences."""
    folder = Path(folder)
    write_memmap(folder / "X.npy", n_sequences, n_steps, n_features)
    model = fit_model(folder / "X.npy", n_train, units)
    with open(folder / "model.pkl", "wb") as f:
        pickle.dump(model, f)


def machine():
    import scipy
    import sklearn

    # Imported here: the test suite loads this module without benchmarks/ on
    # sys.path, and uses only the measurement.
    from bench_torch import cpu_model

    import sklstm

    return {
        "cpu_model": cpu_model() or "",
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "scikit-learn": sklearn.__version__,
            "sklstm": sklstm.__version__,
        },
    }


def write_results(results, results_dir):
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "bench_predict_memory.json").write_text(
        json.dumps(results, indent=2) + "\n"
    )
    p = results["problem"]
    rows = [
        "| run | wall s | sequences/s | RSS before MiB | peak RSS MiB | growth MiB "
        "| anonymous growth MiB | file-backed growth MiB | growth / activations |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(results["runs"], 1):
        rows.append(
            f"| {i} | {r['seconds']:.1f} | {p['n_sequences'] / r['seconds']:,.0f} "
            f"| {r['rss_before'] / MIB:.0f} | {r['peak_rss'] / MIB:.0f} "
            f"| {r['growth'] / MIB:.0f} | {r['anon_growth'] / MIB:.0f} "
            f"| {r['file_growth'] / MIB:.0f} "
            f"| {r['growth'] / p['activation_bytes']:.4f} |"
        )
    m = results["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    largest_difference = max(r["max_difference_in_memory"] for r in results["runs"])
    text = "\n".join(
        [
            "# Peak memory of `predict_proba` on a memory-mapped X",
            "",
            f"`predict_proba` on {p['n_sequences']:,} sequences x {p['n_steps']} "
            f"steps x {p['n_features']} features (float32, a memory-mapped `.npy` of "
            f"{p['input_bytes'] / MIB:,.0f} MiB) with an LSTM({p['units']}) "
            f"classifier trained for 3 epochs on the first {p['n_train']:,} "
            "sequences. Each run is a fresh process that loads the model, maps X, "
            "resets its peak RSS and predicts. Growth: peak RSS (VmHWM) minus the "
            "RSS just before `predict_proba`. Anonymous and file-backed growth: the "
            "largest RssAnon and RssFile seen (sampled every 5 ms) minus their "
            "values before; file-backed growth is the pages of the mapped X that "
            "reading it left resident, which the kernel may drop at any time.",
            "",
            "The activation tensor of the whole X (float32 gates n·T·4H, plus cells, "
            "tanh(cells) and hidden states n·T·H each) would take "
            f"**{p['activation_bytes'] / MIB:,.0f} MiB** (the gates alone "
            f"{p['gates_bytes'] / MIB:,.0f} MiB).",
            "",
            *rows,
            "",
            f"The first {CHECKED_SEQUENCES:,} predictions equal `predict_proba` on an "
            f"in-memory copy of those sequences to {largest_difference:.1e}.",
            "",
            f"{m['cpu_model']}, {m['cpu_count']} CPUs, {results['threads']} "
            f"thread(s); {versions}. Date: {results['date']}.",
            "",
        ]
    )
    (results_dir / "bench_predict_memory.md").write_text(text)
    return text


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-sequences", type=int, default=1_000_000)
    parser.add_argument("--n-steps", type=int, default=50)
    parser.add_argument("--n-features", type=int, default=8)
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--n-train", type=int, default=2_000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--threads", type=int, default=1, help="BLAS and OpenMP threads of the child"
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--_child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._child:
        child(args._child)
        return

    n, T, D, H = args.n_sequences, args.n_steps, args.n_features, args.units
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        prepare(folder, n, T, D, H, args.n_train)
        print(f"data and model ready in {time.perf_counter() - started:.0f} s")
        runs = []
        for i in range(args.repeats):
            runs.append(measure_in_subprocess(folder, args.threads))
            print(f"run {i + 1}: {runs[-1]}")
    results = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "threads": args.threads,
        "problem": {
            "n_sequences": n,
            "n_steps": T,
            "n_features": D,
            "units": H,
            "n_train": args.n_train,
            "input_bytes": n * T * D * FLOAT32_BYTES,
            "gates_bytes": n * T * 4 * H * FLOAT32_BYTES,
            "activation_bytes": activation_bytes(n, T, H),
        },
        "runs": runs,
        "machine": machine(),
    }
    print(write_results(results, args.results_dir))


if __name__ == "__main__":
    main()
