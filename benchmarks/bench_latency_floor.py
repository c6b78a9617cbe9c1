"""How close single-sequence prediction is to the machine's limit, and why.

Each step of an LSTM multiplies the previous state by the recurrent kernel
(units x 4·units). For one sequence every one of those weights is read once per
step for a single multiply-add, so a step cannot run faster than the core reads
that matrix from its cache: the prediction of one sequence of T steps costs at
least ``T x sum over layers of read_time(16·units² bytes)`` in float32, whatever
the code around it does.

This script measures that read rate with a small C probe compiled here (the C
compiler that builds sklstm), summing buffers of each configuration's
recurrent-kernel size in a loop, the way a prediction re-reads them step after
step. For the configurations of ``bench_torch.py`` it then prints, alternating
and as medians:

- the floor: the recurrent kernels' bytes over the measured read rate;
- sklstm's kernel call alone (``lstm_stack_logits``) and its whole
  ``predict_proba`` on one sequence (validation, softmax and all);
- PyTorch's ``predict_proba`` as ``bench_torch.py`` times it (if installed);
- the largest ratio torch / sklstm that the floor would allow if everything
  else took no time at all.

Run from the repository root::

    python benchmarks/bench_latency_floor.py                  # ~1 min
    python benchmarks/bench_latency_floor.py --configs small
"""

import argparse
import datetime
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_torch  # noqa: E402  (the configurations and both sides' models)
import probes  # noqa: E402
from probes import FLOAT32_BYTES, read_rate  # noqa: E402

CALLS = 400
ROUNDS = 5


def recurrent_bytes(config):
    """float32 bytes of one layer's recurrent kernel (units x 4·units)."""
    return FLOAT32_BYTES * 4 * config.units * config.units


def floor_seconds(config, rate):
    """Reading every layer's recurrent kernel once per step, at ``rate``."""
    return config.middle_length * config.n_layers * recurrent_bytes(config) / rate


class KernelOnly:
    """sklstm's single-sequence kernel call, without the estimator around it."""

    name = "kernel"

    def __init__(self, estimator, x_one):
        self.network = estimator._network()
        self.params = estimator._params
        self.x = np.ascontiguousarray(x_one, dtype=self.params.dtype)
        self.work = np.empty(
            self.network.dense_work_size(self.x.shape[1], 1), dtype=self.params.dtype
        )
        self.out = np.empty((1, estimator.n_outputs_), dtype=self.params.dtype)

    def predict_proba(self, _):
        self.network.dense_logits(self.params, self.x, self.work, out=self.out)


def median_seconds(model, x, calls=CALLS):
    """Median over ``ROUNDS`` of the mean seconds of ``calls`` calls in a row."""
    for _ in range(5):
        model.predict_proba(x)
    means = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(calls):
            model.predict_proba(x)
        means.append((time.perf_counter() - start) / calls)
    return statistics.median(means)


def run(config_names, with_torch):
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        probe = probes.build(directory)
        if probe is None:
            raise SystemExit("could not compile the read probe (benchmarks/probes.py)")
        for name in config_names:
            config = bench_torch.CONFIGS[name]
            if config.ragged:
                continue  # medium's network: the same floor
            X, y = bench_torch.make_data(config, 256)
            sklstm_model = bench_torch.SklstmModel(config, X, y)
            sklstm_model.train_epoch()
            x_one = bench_torch.latency_input(config, X)
            kernel = KernelOnly(sklstm_model.estimator, x_one)
            sides = [sklstm_model, kernel]
            if with_torch:
                sides.append(bench_torch.TorchModel(config, X, y))
            rate = read_rate(probe, recurrent_bytes(config))
            floor = floor_seconds(config, rate)
            calls = int(np.clip(0.05 / floor, 20, CALLS))  # ~50 ms a round
            times = {}
            for model in sides:
                x = model.prepare(x_one) if hasattr(model, "prepare") else x_one
                times[model.name] = median_seconds(model, x, calls)
            rows.append((name, config, rate, floor, times))
            print(
                f"[{name}] {recurrent_bytes(config) / 1024:.0f} KiB of recurrent "
                f"kernel per layer, read at {rate / 1e9:.0f} GB/s: floor "
                f"{floor * 1e6:.1f} us; sklstm kernel {times['kernel'] * 1e6:.1f} us, "
                f"predict_proba {times['sklstm'] * 1e6:.1f} us"
                + (
                    f"; torch {times['torch'] * 1e6:.1f} us" if "torch" in times else ""
                ),
                flush=True,
            )
    return rows


def markdown(rows):
    header = (
        "| config | recurrent kernel KiB/layer | read GB/s | floor µs "
        "| sklstm kernel µs | sklstm predict_proba µs | torch µs "
        "| ratio | ratio at the floor |\n|---|---|---|---|---|---|---|---|---|"
    )
    lines = [header]
    for name, config, rate, floor, times in rows:
        torch_time = times.get("torch")
        lines.append(
            f"| {name} | {recurrent_bytes(config) / 1024:.0f} | {rate / 1e9:.0f} "
            f"| {floor * 1e6:.1f} | {times['kernel'] * 1e6:.1f} "
            f"| {times['sklstm'] * 1e6:.1f} | "
            + (
                f"{torch_time * 1e6:.0f} | {torch_time / times['sklstm']:.1f} "
                f"| {torch_time / floor:.1f} |"
                if torch_time
                else "- | - | - |"
            )
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--configs",
        nargs="+",
        default=["stacked", "small", "medium", "large"],
        choices=[c for c in bench_torch.CONFIGS if not bench_torch.CONFIGS[c].ragged],
    )
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch")
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=bench_torch.RESULTS_DIR,
        help="where to write bench_latency_floor.md (default %(default)s)",
    )
    args = parser.parse_args(argv)
    with_torch = not args.no_torch
    if with_torch:
        try:
            import torch
        except ImportError:
            with_torch = False
        else:
            torch.set_num_threads(2)
    warnings.filterwarnings("ignore", category=UserWarning)
    table = markdown(run(args.configs, with_torch))
    print(table)
    report = (
        "# Single-sequence latency and its floor\n\n"
        "Floor: every layer's recurrent kernel read once per step at the rate one "
        "core re-reads a buffer of its size (a compiled probe). Ratio: torch / "
        "sklstm `predict_proba`; ratio at the floor: torch / floor, the most any "
        "code could reach on this machine in float32. Medians of "
        f"{ROUNDS} rounds of consecutive calls; torch on 2 threads, sklstm's "
        "single-sequence kernel on one.\n\n"
        f"{table}\n\n"
        f"{bench_torch.cpu_model()}, {os.cpu_count()} CPUs; measured "
        f"{datetime.date.today().isoformat()}.\n"
    )
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / "bench_latency_floor.md").write_text(report)


if __name__ == "__main__":
    main()
