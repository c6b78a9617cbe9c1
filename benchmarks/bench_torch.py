"""Time sklstm against PyTorch's ``nn.LSTM`` side by side, in one process.

For each configuration the script builds the same stacked LSTM classifier in
sklstm and in PyTorch (same float32 data, batch size, Adam, shuffling each epoch,
same number of threads) and measures, alternating between the two:

1. training: one epoch after a warm-up epoch, median over ``--repeats``;
2. inference: the latency of ``predict_proba`` on one sequence (median over many
   calls) and the time of one call on 10,000 sequences;
3. sklstm's training arithmetic rate in GFLOP/s, also as a share of the rate of
   a plain float32 GEMM (1024 x 1024 x 1024) through the BLAS that sklstm calls.

Ratios are ``torch time / sklstm time``: above 1 means sklstm is faster. Before
timing, sklstm's weights are copied into a PyTorch model, whose probabilities must
match sklstm's.

Run from the repository root (torch is only needed here, not by sklstm)::

    pip install torch==2.13.0
    python benchmarks/bench_torch.py                          # all, ~15 min
    python benchmarks/bench_torch.py --quick --configs stacked small

Results go to ``benchmarks/results/bench_torch.json`` (every timing plus machine
and library information) and ``benchmarks/results/bench_torch.md`` (the table).
"""

import argparse
import json
import os
import platform
import statistics
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import scipy
import scipy.linalg.blas
import sklearn
import torch
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_info, threadpool_limits
from torch import nn

import sklstm
from sklstm import LSTMClassifier

SEED = 0
THROUGHPUT_SAMPLES = 10_000
GEMM_SIZE = 1024
RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Config:
    """One benchmarked problem: data shape, network and minibatch size."""

    n_samples: int
    n_steps: int
    n_features: int
    n_layers: int
    units: int
    n_classes: int
    batch_size: int

    def forward_flops(self, n_samples):
        """Multiply-adds x 2 of the gate pre-activations over ``n_samples``."""
        inputs = (self.n_features,) + (self.units,) * (self.n_layers - 1)
        return sum(
            2 * self.n_steps * n_samples * 4 * self.units * (n_in + self.units)
            for n_in in inputs
        )

    def epoch_flops(self):
        """Training FLOPs of one epoch: forward + backward ~ 3 forwards."""
        return 3 * self.forward_flops(self.n_samples)

    def describe(self):
        return (
            f"{self.n_samples} x {self.n_steps} steps x {self.n_features} features, "
            f"{self.n_layers}x{self.units} units, {self.n_classes} classes, "
            f"batch {self.batch_size}"
        )


CONFIGS = {
    "stacked": Config(1000, 8, 16, 3, 32, 10, 64),
    "small": Config(2000, 30, 8, 1, 64, 5, 32),
    "medium": Config(4000, 50, 32, 1, 128, 10, 64),
    "large": Config(4000, 100, 64, 2, 256, 10, 128),
}

# Small enough to be instant, multiclass and stacked so that every weight moves.
CHECK_CONFIG = Config(64, 7, 5, 2, 8, 4, 16)


def make_data(config, n_samples, seed=SEED):
    """Standard normal float32 sequences and uniform random labels."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal(
        (n_samples, config.n_steps, config.n_features), dtype=np.float32
    )
    y = rng.integers(config.n_classes, size=n_samples)
    return X, y


# ------------------------------------------------------------------ contenders
class SklstmModel:
    """sklstm's LSTMClassifier; every ``train_epoch`` is one warm-started epoch."""

    name = "sklstm"

    def __init__(self, config, X, y):
        self.X, self.y = X, y
        # alpha=0: the same loss as the PyTorch model, which has no L2 penalty.
        self.estimator = LSTMClassifier(
            hidden_layer_sizes=(config.units,) * config.n_layers,
            solver="adam",
            alpha=0.0,
            batch_size=config.batch_size,
            learning_rate_init=1e-3,
            max_iter=1,
            shuffle=True,
            random_state=SEED,
            warm_start=True,
        )

    def train_epoch(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.estimator.fit(self.X, self.y)

    def predict_proba(self, X):
        return self.estimator.predict_proba(X)


class TorchNet(nn.Module):
    """``nn.LSTM`` layers, then a linear layer on the top layer's last step."""

    def __init__(self, config):
        super().__init__()
        self.lstm = nn.LSTM(
            config.n_features, config.units, num_layers=config.n_layers,
            batch_first=True,
        )
        self.linear = nn.Linear(config.units, config.n_classes)

    def forward(self, x):
        output, _ = self.lstm(x)
        return self.linear(output[:, -1])

    def load_sklstm_weights(self, weights):
        """Copy ``LSTMClassifier.get_weights()`` (Keras layout, same gate order)."""
        *layers, head_kernel, head_bias = (torch.from_numpy(w) for w in weights)
        with torch.no_grad():
            for k in range(self.lstm.num_layers):
                kernel, recurrent, bias = layers[3 * k : 3 * k + 3]
                getattr(self.lstm, f"weight_ih_l{k}").copy_(kernel.T)
                getattr(self.lstm, f"weight_hh_l{k}").copy_(recurrent.T)
                getattr(self.lstm, f"bias_ih_l{k}").copy_(bias)
                getattr(self.lstm, f"bias_hh_l{k}").zero_()
            self.linear.weight.copy_(head_kernel.T)
            self.linear.bias.copy_(head_bias)


class TorchModel:
    """The PyTorch reference: the fastest honest loop, without a DataLoader."""

    name = "torch"

    def __init__(self, config, X, y):
        torch.manual_seed(SEED)
        self.X = torch.from_numpy(X)
        self.y = torch.from_numpy(y.astype(np.int64))
        self.batch_size = config.batch_size
        self.net = TorchNet(config)
        self.loss = nn.CrossEntropyLoss()
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=1e-3)
        self.generator = torch.Generator().manual_seed(SEED)

    def train_epoch(self):
        self.net.train()
        order = torch.randperm(len(self.X), generator=self.generator)
        for start in range(0, len(self.X), self.batch_size):
            batch = order[start : start + self.batch_size]
            self.optimizer.zero_grad(set_to_none=True)
            self.loss(self.net(self.X[batch]), self.y[batch]).backward()
            self.optimizer.step()

    def predict_proba(self, X):
        # NumPy in, NumPy out like sklstm; both conversions share memory.
        self.net.eval()
        with torch.inference_mode():
            return torch.softmax(self.net(torch.from_numpy(X)), dim=1).numpy()


# ---------------------------------------------------------------- measurements
def time_alternating(models, call, n_rounds, n_warmup=0):
    """Seconds of ``call(model)`` per model and round, flipping the order each round.

    Alternating spreads slow drifts of the machine (frequency, other load) over
    both sides instead of charging them to whichever ran second.
    """
    for _ in range(n_warmup):
        for model in models:
            call(model)
    times = {model.name: [] for model in models}
    for round_ in range(n_rounds):
        for model in models if round_ % 2 == 0 else models[::-1]:
            start = time.perf_counter()
            call(model)
            times[model.name].append(time.perf_counter() - start)
    return times


def check_weights_interchange(config=CHECK_CONFIG):
    """sklstm's weights in a PyTorch model give sklstm's probabilities."""
    X, y = make_data(config, config.n_samples)
    model = SklstmModel(config, X, y)
    for _ in range(3):
        model.train_epoch()
    net = TorchNet(config)
    net.load_sklstm_weights(model.estimator.get_weights())
    with torch.inference_mode():
        torch_proba = torch.softmax(net(torch.from_numpy(X)), dim=1).numpy()
    diff = float(np.max(np.abs(model.predict_proba(X) - torch_proba)))
    assert diff < 1e-5, f"sklstm and torch probabilities differ by {diff:.2e}"
    print(f"weights interchange with torch: OK (max abs diff {diff:.1e})")
    return diff


def measure_gemm(n_repeats, size=GEMM_SIZE):
    """GFLOP/s of a square float32 GEMM, median over ``n_repeats``.

    ``scipy_sgemm`` goes through SciPy's BLAS, the one sklstm's kernels call
    (``scipy.linalg.cython_blas``); NumPy ships its own OpenBLAS build for
    ``np.matmul``, reported for reference.
    """
    rng = np.random.default_rng(SEED)
    a, b = (rng.standard_normal((size, size), dtype=np.float32) for _ in range(2))
    a_f, b_f = np.asfortranarray(a), np.asfortranarray(b)
    flops = 2 * size**3
    rates = {}
    for name, gemm in [
        ("scipy_sgemm", lambda: scipy.linalg.blas.sgemm(1.0, a_f, b_f)),
        ("numpy_matmul", lambda: np.matmul(a, b)),
    ]:
        gemm()
        seconds = []
        for _ in range(n_repeats):
            start = time.perf_counter()
            gemm()
            seconds.append(time.perf_counter() - start)
        rates[name] = flops / statistics.median(seconds) / 1e9
    return rates


def measure_training(models, n_repeats):
    """Seconds per epoch, after one warm-up epoch each."""
    return time_alternating(models, lambda m: m.train_epoch(), n_repeats, n_warmup=1)


def measure_latency(models, x_one, n_calls):
    """Seconds of ``predict_proba`` on a single sequence."""
    return time_alternating(
        models, lambda m: m.predict_proba(x_one), n_calls, n_warmup=5
    )


def measure_throughput(models, X_many, n_repeats):
    """Seconds of one ``predict_proba`` call on many sequences."""
    return time_alternating(models, lambda m: m.predict_proba(X_many), n_repeats)


def summarize(times):
    """Medians per side and the ratio torch / sklstm."""
    median = {name: statistics.median(t) for name, t in times.items()}
    return {
        "times": times,
        "median": median,
        "ratio": median["torch"] / median["sklstm"],
    }


def run_config(name, config, n_repeats, n_latency_calls, gemm_rate):
    print(f"\n[{name}] {config.describe()}", flush=True)
    X, y = make_data(config, config.n_samples)
    models = [TorchModel(config, X, y), SklstmModel(config, X, y)]

    training = summarize(measure_training(models, n_repeats))
    print(
        "  epoch: sklstm {sklstm:.3f} s, torch {torch:.3f} s".format(
            **training["median"]
        ),
        flush=True,
    )
    latency = summarize(measure_latency(models, X[:1], n_latency_calls))
    print(
        "  1-sample latency: sklstm {:.0f} us, torch {:.0f} us".format(
            latency["median"]["sklstm"] * 1e6, latency["median"]["torch"] * 1e6
        ),
        flush=True,
    )
    X_many, _ = make_data(config, THROUGHPUT_SAMPLES, seed=SEED + 1)
    throughput = summarize(measure_throughput(models, X_many, n_repeats))
    print(
        f"  {THROUGHPUT_SAMPLES} samples: sklstm "
        "{sklstm:.3f} s, torch {torch:.3f} s".format(**throughput["median"]),
        flush=True,
    )

    gflops = {
        side: config.epoch_flops() / seconds / 1e9
        for side, seconds in training["median"].items()
    }
    return {
        "config": asdict(config),
        "epoch_gflop": config.epoch_flops() / 1e9,
        "training_s": training,
        "latency_1_sample_s": latency,
        f"predict_{THROUGHPUT_SAMPLES}_s": throughput,
        "training_gflops": gflops,
        "sklstm_fraction_of_gemm": gflops["sklstm"] / gemm_rate,
    }


# --------------------------------------------------------------------- reports
def machine_info(n_threads):
    cpu_model = None
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            cpu_model = next(
                (line.split(":", 1)[1].strip() for line in f if "model name" in line),
                None,
            )
    return {
        "processor": platform.processor(),
        "cpu_model": cpu_model,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "threads": n_threads,
        "versions": {
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "scikit-learn": sklearn.__version__,
            "torch": torch.__version__,
            "sklstm": sklstm.__version__,
        },
        "threadpools": threadpool_info(),
    }


def markdown_table(results):
    header = [
        "config", "sklstm epoch s", "torch epoch s", "ratio",
        "sklstm 1-sample µs", "torch 1-sample µs", "ratio",
        f"{THROUGHPUT_SAMPLES // 1000}k throughput ratio", "sklstm GFLOP/s",
        "% of GEMM",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, r in results.items():
        train, latency = r["training_s"], r["latency_1_sample_s"]
        cells = [
            name,
            f"{train['median']['sklstm']:.3f}",
            f"{train['median']['torch']:.3f}",
            f"{train['ratio']:.2f}",
            f"{latency['median']['sklstm'] * 1e6:.0f}",
            f"{latency['median']['torch'] * 1e6:.0f}",
            f"{latency['ratio']:.2f}",
            f"{r[f'predict_{THROUGHPUT_SAMPLES}_s']['ratio']:.2f}",
            f"{r['training_gflops']['sklstm']:.1f}",
            f"{100 * r['sklstm_fraction_of_gemm']:.0f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_report(report):
    machine = report["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
    configs = "\n".join(
        f"- {name}: {CONFIGS[name].describe()}" for name in report["results"]
    )
    return f"""\
# sklstm vs PyTorch

Ratios are torch time / sklstm time: above 1, sklstm is faster. Epochs: median of
{report["repeats"]} after one warm-up epoch; 1-sample latency: median of
{report["latency_calls"]} `predict_proba` calls; throughput: one call on
{THROUGHPUT_SAMPLES} sequences, median of {report["repeats"]}. % of GEMM: sklstm's
training GFLOP/s (3 x forward FLOPs per epoch) over a float32 {GEMM_SIZE}³ sgemm
through the same BLAS ({report["gemm_gflops"]["scipy_sgemm"]:.0f} GFLOP/s).

{markdown_table(report["results"])}

{configs}

{machine["cpu_model"] or machine["processor"]}, {machine["cpu_count"]} CPUs, \
{machine["threads"]} threads; {versions}. Full run: {report["elapsed_s"]:.0f} s.
"""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS),
        help="configurations to run (default: all; 'large' takes a while)",
    )
    parser.add_argument(
        "--repeats", type=int, default=None,
        help="timed epochs and throughput calls per side (default 5, --quick 2)",
    )
    parser.add_argument(
        "--latency-calls", type=int, default=None,
        help="single-sample predict_proba calls per side (default 200, --quick 20)",
    )
    parser.add_argument(
        "--threads", type=int, default=2,
        help="BLAS threads for sklstm and torch.set_num_threads (default 2)",
    )
    parser.add_argument("--quick", action="store_true", help="fast smoke run")
    parser.add_argument(
        "--results-dir", type=Path, default=RESULTS_DIR,
        help=f"where to write bench_torch.json and .md (default {RESULTS_DIR})",
    )
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 2 if args.quick else 5
    if args.latency_calls is None:
        args.latency_calls = 20 if args.quick else 200
    return args


def main(argv=None):
    args = parse_args(argv)
    started = time.perf_counter()
    torch.set_num_threads(args.threads)
    # Limits every BLAS and OpenMP pool loaded (SciPy's, NumPy's, torch's).
    with threadpool_limits(limits=args.threads):
        machine = machine_info(args.threads)
        check_diff = check_weights_interchange()
        gemm = measure_gemm(n_repeats=3 if args.quick else 20)
        print(
            "float32 {n}^3 GEMM: scipy sgemm {scipy_sgemm:.0f} GFLOP/s, "
            "np.matmul {numpy_matmul:.0f} GFLOP/s".format(n=GEMM_SIZE, **gemm)
        )
        results = {
            name: run_config(
                name, CONFIGS[name], args.repeats, args.latency_calls,
                gemm["scipy_sgemm"],
            )
            for name in args.configs
        }

    report = {
        "machine": machine,
        "repeats": args.repeats,
        "latency_calls": args.latency_calls,
        "weights_interchange_max_abs_diff": check_diff,
        "gemm_size": GEMM_SIZE,
        "gemm_gflops": gemm,
        "results": results,
        "elapsed_s": time.perf_counter() - started,
    }
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / "bench_torch.json").write_text(json.dumps(report, indent=2))
    markdown = markdown_report(report)
    (args.results_dir / "bench_torch.md").write_text(markdown)
    print("\n" + markdown_table(results))
    print(f"\nwritten to {args.results_dir}/bench_torch.{{json,md}}")
    print(f"total {report['elapsed_s']:.0f} s")


if __name__ == "__main__":
    main()
