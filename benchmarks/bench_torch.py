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

With ``--memory`` (or only that, with ``--memory-only``) it also measures the
peak memory of training: for each configuration and each side, a fresh process
that imports only that side's library builds the same data, notes its resident
set size (RSS), trains 2 epochs and reports its peak RSS and the growth over the
data baseline, next to the buffers sklstm's workspace allocates for a minibatch.

Run from the repository root (torch is only needed here, not by sklstm)::

    pip install torch==2.13.0
    python benchmarks/bench_torch.py                   # all, ~7 min on 2 cores
    python benchmarks/bench_torch.py --quick --configs stacked small
    python benchmarks/bench_torch.py --memory-only     # peak RSS only, ~1.5 min

Results go to ``benchmarks/results/bench_torch.json`` (every timing and memory
figure plus machine and library information) and
``benchmarks/results/bench_torch.md`` (the tables). A run replaces the sections
it measures (timing, memory) and keeps the other.
"""

# torch and sklstm (with scikit-learn and SciPy) are imported where they are used:
# a memory child process (``--_rss-child``) must load its own side's library only.
import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import textwrap
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

SEED = 0
THROUGHPUT_SAMPLES = 10_000
GEMM_SIZE = 1024
SETTLE_SECONDS = 0.2
LATENCY_BLOCK = 10
RESULTS_DIR = Path(__file__).resolve().parent / "results"
SIDES = ("sklstm", "torch")
MEMORY_EPOCHS = 2
FLOAT32_BYTES = 4
MIB = 2**20


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

    def data_bytes(self):
        """Size of the float32 training sequences ``X``."""
        return FLOAT32_BYTES * self.n_samples * self.n_steps * self.n_features

    def sklstm_workspace_bytes(self):
        """What sklstm's ``Workspace`` allocates for one minibatch, in float32.

        The time-major input (T, B, D), then per layer the gates (T, B, 4H),
        cells, tanh(cells), hidden states and their gradient (T, B, H) each,
        and the cell gradient of one step (B, H).
        """
        batch = min(self.batch_size, self.n_samples)
        steps = self.n_steps * batch
        per_layer = steps * (4 + 4) * self.units + batch * self.units
        floats = steps * self.n_features + self.n_layers * per_layer
        return FLOAT32_BYTES * floats

    def sklstm_n_params(self):
        """sklstm's parameters: per layer 4H x (D_in + H + 1 bias), then the head."""
        inputs = (self.n_features,) + (self.units,) * (self.n_layers - 1)
        lstm = sum(4 * self.units * (n_in + self.units + 1) for n_in in inputs)
        return lstm + (self.units + 1) * self.n_classes

    def sklstm_state_bytes(self):
        """Weights, their gradient and Adam's two moments, in float32."""
        return FLOAT32_BYTES * 4 * self.sklstm_n_params()

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
        from sklstm import LSTMClassifier

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
        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.estimator.fit(self.X, self.y)

    def predict_proba(self, X):
        return self.estimator.predict_proba(X)


def torch_net(config):
    """``nn.LSTM`` layers, then a linear layer on the top layer's last step.

    The ``nn.Module`` subclass is defined here rather than at module level so that
    importing this script does not import torch.
    """
    from torch import nn

    class TorchNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(
                config.n_features,
                config.units,
                num_layers=config.n_layers,
                batch_first=True,
            )
            self.linear = nn.Linear(config.units, config.n_classes)

        def forward(self, x):
            output, _ = self.lstm(x)
            return self.linear(output[:, -1])

    return TorchNet()


def load_sklstm_weights(net, weights):
    """Copy ``LSTMClassifier.get_weights()`` (Keras layout, same gate order)."""
    import torch

    *layers, head_kernel, head_bias = (torch.from_numpy(w) for w in weights)
    with torch.no_grad():
        for k in range(net.lstm.num_layers):
            kernel, recurrent, bias = layers[3 * k : 3 * k + 3]
            getattr(net.lstm, f"weight_ih_l{k}").copy_(kernel.T)
            getattr(net.lstm, f"weight_hh_l{k}").copy_(recurrent.T)
            getattr(net.lstm, f"bias_ih_l{k}").copy_(bias)
            getattr(net.lstm, f"bias_hh_l{k}").zero_()
        net.linear.weight.copy_(head_kernel.T)
        net.linear.bias.copy_(head_bias)


class TorchModel:
    """The PyTorch reference: the fastest honest loop, without a DataLoader."""

    name = "torch"

    def __init__(self, config, X, y):
        import torch
        from torch import nn

        torch.manual_seed(SEED)
        self.X = torch.from_numpy(X)
        self.y = torch.from_numpy(y.astype(np.int64))
        self.batch_size = config.batch_size
        self.net = torch_net(config)
        self.loss = nn.CrossEntropyLoss()
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=1e-3)
        self.generator = torch.Generator().manual_seed(SEED)

    def train_epoch(self):
        import torch

        self.net.train()
        order = torch.randperm(len(self.X), generator=self.generator)
        for start in range(0, len(self.X), self.batch_size):
            batch = order[start : start + self.batch_size]
            self.optimizer.zero_grad(set_to_none=True)
            self.loss(self.net(self.X[batch]), self.y[batch]).backward()
            self.optimizer.step()

    def predict_proba(self, X):
        import torch

        # NumPy in, NumPy out like sklstm; both conversions share memory.
        self.net.eval()
        with torch.inference_mode():
            return torch.softmax(self.net(torch.from_numpy(X)), dim=1).numpy()


# ---------------------------------------------------------------- measurements
def time_alternating(models, call, n_rounds, calls_per_round=1, n_warmup=0):
    """Seconds of each ``call(model)``, per model, alternating between the models.

    Each round runs a block of ``calls_per_round`` consecutive calls per model,
    flipping the order of the models every round so that slow drifts of the
    machine are shared instead of charged to whichever side runs second. Every
    block starts after a pause that lets the previous side's threads go idle.
    """
    for model in models:
        for _ in range(n_warmup):
            call(model)
    times = {model.name: [] for model in models}
    for round_ in range(n_rounds):
        for model in models if round_ % 2 == 0 else models[::-1]:
            settle()
            for _ in range(calls_per_round):
                start = time.perf_counter()
                call(model)
                times[model.name].append(time.perf_counter() - start)
    return times


def settle():
    """Wait until the other library's worker threads stop busy-waiting.

    After a call, OpenBLAS's workers spin for 2**28 cycles (~0.1 s) before they
    sleep. On two cores a spinning worker steals the core that the other side's
    threads need: measured here, a torch epoch right after an sklstm one took up
    to 2.7x as long. Pausing longer costs both sides a little (colder threads).
    """
    time.sleep(SETTLE_SECONDS)


def check_weights_interchange(config=CHECK_CONFIG):
    """sklstm's weights in a PyTorch model give sklstm's probabilities."""
    import torch

    X, y = make_data(config, config.n_samples)
    model = SklstmModel(config, X, y)
    for _ in range(3):
        model.train_epoch()
    net = torch_net(config)
    load_sklstm_weights(net, model.estimator.get_weights())
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
    import scipy.linalg.blas

    rng = np.random.default_rng(SEED)
    a, b = (rng.standard_normal((size, size), dtype=np.float32) for _ in range(2))
    a_f, b_f = np.asfortranarray(a), np.asfortranarray(b)
    flops = 2 * size**3
    rates = {}
    for name, gemm in [
        ("scipy_sgemm", lambda: scipy.linalg.blas.sgemm(1.0, a_f, b_f)),
        ("numpy_matmul", lambda: np.matmul(a, b)),
    ]:
        settle()
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
    """Seconds of ``predict_proba`` on a single sequence, in blocks of calls."""
    block = min(LATENCY_BLOCK, n_calls)
    return time_alternating(
        models,
        lambda m: m.predict_proba(x_one),
        max(1, n_calls // block),
        calls_per_round=block,
        n_warmup=5,
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


# ---------------------------------------------------------------------- memory
def proc_status_kib():
    """This process's memory figures from ``/proc/self/status``, in KiB.

    ``VmRSS`` (resident now), ``VmHWM`` (peak resident), and the resident split
    into ``RssAnon`` (heap, buffers, stacks) and ``RssFile`` (pages of mapped
    files, mostly the shared libraries' code as it first runs).
    """
    fields = ("VmRSS", "VmHWM", "RssAnon", "RssFile")
    with open("/proc/self/status") as f:
        status = dict(line.split(":", 1) for line in f)
    return {field: int(status[field].split()[0]) for field in fields}


def rss_child(side, config_name, n_threads):
    """Body of a memory child process: print one side's peak RSS as JSON.

    Imports only ``side``'s library, builds the timing data, records the RSS
    (baseline), trains ``MEMORY_EPOCHS`` epochs and reports the peak.

    The peak is ``VmHWM``, the high-water mark of this process's own memory.
    ``ru_maxrss`` is kept for reference but can be polluted: at ``exec`` Linux
    carries the parent's high-water mark into the child's ``ru_maxrss`` (a
    500 MiB parent gives a 13 MiB child an ``ru_maxrss`` of 527 MiB).
    """
    if side not in SIDES or config_name not in CONFIGS:
        raise SystemExit(f"--_rss-child: expected one of {SIDES} and a config name")
    config = CONFIGS[config_name]
    if side == "sklstm":
        import sklstm as library
    else:
        import torch as library

        library.set_num_threads(n_threads)
    X, y = make_data(config, config.n_samples)
    baseline = proc_status_kib()
    if side == "sklstm":
        model = SklstmModel(config, X, y)
        model.estimator.set_params(max_iter=MEMORY_EPOCHS)
        model.train_epoch()
    else:
        model = TorchModel(config, X, y)
        for _ in range(MEMORY_EPOCHS):
            model.train_epoch()
    end = proc_status_kib()
    report = {
        "baseline_kib": baseline["VmRSS"],
        "peak_kib": end["VmHWM"],
        "growth_kib": end["VmHWM"] - baseline["VmRSS"],
        "ru_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        # Where the resident memory grew, seen after training (not at the peak).
        "anon_growth_kib": end["RssAnon"] - baseline["RssAnon"],
        "file_growth_kib": end["RssFile"] - baseline["RssFile"],
        "versions": {"numpy": np.__version__, side: library.__version__},
    }
    print(json.dumps(report))


def run_rss_child(side, config_name, n_threads):
    """Run :func:`rss_child` in a fresh interpreter and return its report."""
    # Thread counts as in the timing run, set before the BLAS and OpenMP
    # libraries load, since they size per-thread buffers at start-up.
    env = dict(os.environ)
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[variable] = str(n_threads)
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--_rss-child",
        side,
        config_name,
        "--threads",
        str(n_threads),
    ]
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(
            f"{side} memory child for {config_name} failed:\n{done.stderr}"
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_memory(config_names, n_threads):
    """Peak RSS and growth of training, one fresh process per side and config."""
    started = time.perf_counter()
    results = {}
    versions = {}
    for name in config_names:
        config = CONFIGS[name]
        sides = {side: run_rss_child(side, name, n_threads) for side in SIDES}
        for side, child in sides.items():
            versions.update(child.pop("versions"))
            if child["ru_maxrss_kib"] > child["peak_kib"] + 1024:
                print(f"  note: {side} ru_maxrss exceeds VmHWM, see rss_child()")
        peak = {side: child["peak_kib"] / 1024 for side, child in sides.items()}
        growth = {side: child["growth_kib"] / 1024 for side, child in sides.items()}
        results[name] = {
            "config": asdict(config),
            "data_mib": config.data_bytes() / MIB,
            "sklstm_workspace_mib": config.sklstm_workspace_bytes() / MIB,
            "sklstm_state_mib": config.sklstm_state_bytes() / MIB,
            "processes": sides,
            "peak_mib": peak,
            "growth_mib": growth,
            "growth_ratio": growth["torch"] / growth["sklstm"],
        }
        print(
            f"[{name}] data {results[name]['data_mib']:.1f} MiB, sklstm workspace "
            f"{results[name]['sklstm_workspace_mib']:.1f} MiB; peak / growth: "
            f"sklstm {peak['sklstm']:.0f} / {growth['sklstm']:.1f} MiB, "
            f"torch {peak['torch']:.0f} / {growth['torch']:.1f} MiB",
            flush=True,
        )
    return {
        "epochs": MEMORY_EPOCHS,
        "cpu_model": cpu_model() or platform.processor(),
        "cpu_count": os.cpu_count(),
        "threads": n_threads,
        "versions": versions,
        "date": datetime.date.today().isoformat(),
        "results": results,
        "elapsed_s": time.perf_counter() - started,
    }


# --------------------------------------------------------------------- reports
def cpu_model():
    if not os.path.exists("/proc/cpuinfo"):
        return None
    with open("/proc/cpuinfo") as f:
        return next(
            (line.split(":", 1)[1].strip() for line in f if "model name" in line),
            None,
        )


def machine_info(n_threads):
    import scipy
    import sklearn
    import torch
    from threadpoolctl import threadpool_info

    import sklstm

    return {
        "processor": platform.processor(),
        "cpu_model": cpu_model(),
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
        "config",
        "sklstm epoch s",
        "torch epoch s",
        "ratio",
        "sklstm 1-sample µs",
        "torch 1-sample µs",
        "ratio",
        f"{THROUGHPUT_SAMPLES // 1000}k throughput ratio",
        "sklstm GFLOP/s",
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


def markdown_memory_table(results):
    header = [
        "config",
        "data MiB",
        "sklstm workspace MiB",
        "sklstm weights + Adam MiB",
        "sklstm peak MiB",
        "torch peak MiB",
        "sklstm growth MiB",
        "torch growth MiB",
        "growth ratio",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, r in results.items():
        cells = [
            name,
            f"{r['data_mib']:.1f}",
            f"{r['sklstm_workspace_mib']:.1f}",
            f"{r['sklstm_state_mib']:.1f}",
            f"{r['peak_mib']['sklstm']:.0f}",
            f"{r['peak_mib']['torch']:.0f}",
            f"{r['growth_mib']['sklstm']:.1f}",
            f"{r['growth_mib']['torch']:.1f}",
            f"{r['growth_ratio']:.2f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_memory_report(memory):
    how = (
        "Each side runs in a fresh process per configuration that imports only its "
        "own library, builds the same float32 data, then trains "
        f"{memory['epochs']} epochs (sklstm: `fit` with max_iter="
        f"{memory['epochs']}; torch: the loop timed above). Peak: the process's "
        "peak resident set size (VmHWM). Growth: peak minus the RSS once the "
        "library is imported and the data are built; it also counts what first use "
        "leaves resident (library code paged in, BLAS and allocator buffers). "
        "Workspace: the float32 buffers sklstm's `Workspace` allocates for one "
        "minibatch (time-major input; per layer gates, cells, tanh(cells), hidden "
        "states and their gradient, one step's cell gradient). Weights + Adam: "
        "parameters, gradient and Adam's two moments. Growth ratio: torch growth / "
        "sklstm growth, so above 1, sklstm grows less."
    )
    versions = ", ".join(f"{k} {v}" for k, v in memory["versions"].items())
    configs = "\n".join(
        f"- {name}: {CONFIGS[name].describe()}" for name in memory["results"]
    )
    footer = (
        f"{memory['cpu_model']}, {memory['cpu_count']} CPUs, {memory['threads']} "
        f"threads; {versions}. Measured {memory['date']} in "
        f"{memory['elapsed_s']:.0f} s."
    )
    return "\n\n".join(
        [
            "## Peak memory of `fit`",
            textwrap.fill(how, 88, break_on_hyphens=False),
            markdown_memory_table(memory["results"]),
            configs,
            textwrap.fill(footer, 88),
        ]
    )


def markdown_report(report):
    """The Markdown page: the timing section and/or the memory section."""
    sections = ["# sklstm vs PyTorch"]
    if "results" in report:
        sections.append(markdown_timing_report(report))
    if "memory" in report:
        sections.append(markdown_memory_report(report["memory"]))
    return "\n\n".join(sections) + "\n"


def markdown_timing_report(report):
    machine = report["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
    how = (
        "Ratios are torch time / sklstm time: above 1, sklstm is faster. "
        f"Epochs: median of {report['repeats']} after one warm-up epoch. "
        f"1-sample latency: median of {report['latency_calls']} `predict_proba` "
        f"calls, in blocks of {LATENCY_BLOCK}. Throughput: one call on "
        f"{THROUGHPUT_SAMPLES} sequences, median of {report['repeats']}. The two "
        f"sides alternate, each block of calls after a {SETTLE_SECONDS} s pause. "
        "% of GEMM: sklstm's training GFLOP/s (3 x forward FLOPs per epoch) over "
        f"a float32 {GEMM_SIZE}³ sgemm through the same BLAS "
        f"({report['gemm_gflops']['scipy_sgemm']:.0f} GFLOP/s)."
    )
    configs = "\n".join(
        f"- {name}: {CONFIGS[name].describe()}" for name in report["results"]
    )
    machine_line = (
        f"{machine['cpu_model'] or machine['processor']}, {machine['cpu_count']} "
        f"CPUs, {machine['threads']} threads; {versions}. "
        f"Run time: {report['elapsed_s']:.0f} s."
    )
    sections = [
        textwrap.fill(how, 88),
        markdown_table(report["results"]),
        configs,
        textwrap.fill(machine_line, 88),
    ]
    return "\n\n".join(sections)


def write_report(results_dir, updates):
    """Merge ``updates`` into ``bench_torch.json``, then rewrite both files.

    A timing run replaces the timing keys and a memory run the ``memory`` key;
    the other section, if any, is kept as it was.
    """
    results_dir.mkdir(parents=True, exist_ok=True)
    json_path = results_dir / "bench_torch.json"
    report = json.loads(json_path.read_text()) if json_path.exists() else {}
    report.update(updates)
    json_path.write_text(json.dumps(report, indent=2))
    (results_dir / "bench_torch.md").write_text(markdown_report(report))
    print(f"\nwritten to {results_dir}/bench_torch.{{json,md}}")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--configs",
        nargs="+",
        choices=list(CONFIGS),
        default=list(CONFIGS),
        help="configurations to run (default: all; 'large' takes a while)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed epochs and throughput calls per side (default 5, --quick 2)",
    )
    parser.add_argument(
        "--latency-calls",
        type=int,
        default=None,
        help="single-sample predict_proba calls per side (default 200, --quick 20)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="BLAS threads for sklstm and torch.set_num_threads (default 2)",
    )
    parser.add_argument("--quick", action="store_true", help="fast smoke run")
    parser.add_argument(
        "--memory",
        action="store_true",
        help="also measure peak RSS of training, one fresh process per side",
    )
    parser.add_argument(
        "--memory-only",
        action="store_true",
        help="measure only peak RSS (insensitive to CPU load), no timing",
    )
    # Internal: the body of one memory measurement process (see rss_child).
    parser.add_argument(
        "--_rss-child",
        dest="rss_child",
        nargs=2,
        metavar=("SIDE", "CONFIG"),
        help=argparse.SUPPRESS,
    )
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=RESULTS_DIR,
        help=f"where to write bench_torch.json and .md (default {RESULTS_DIR})",
    )
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 2 if args.quick else 5
    if args.latency_calls is None:
        args.latency_calls = 20 if args.quick else 200
    return args


def run_timing(args):
    """The timing run; returns its part of the report."""
    import torch
    from threadpoolctl import threadpool_limits

    started = time.perf_counter()
    torch.set_num_threads(args.threads)
    # Limits every BLAS and OpenMP pool loaded (SciPy's, NumPy's, torch's).
    with threadpool_limits(limits=args.threads):
        machine = machine_info(args.threads)
        check_diff = check_weights_interchange()
        gemm = measure_gemm(n_repeats=10 if args.quick else 20)
        print(
            "float32 {n}^3 GEMM: scipy sgemm {scipy_sgemm:.0f} GFLOP/s, "
            "np.matmul {numpy_matmul:.0f} GFLOP/s".format(n=GEMM_SIZE, **gemm)
        )
        results = {
            name: run_config(
                name,
                CONFIGS[name],
                args.repeats,
                args.latency_calls,
                gemm["scipy_sgemm"],
            )
            for name in args.configs
        }
    return {
        "machine": machine,
        "repeats": args.repeats,
        "latency_calls": args.latency_calls,
        "weights_interchange_max_abs_diff": check_diff,
        "gemm_size": GEMM_SIZE,
        "gemm_gflops": gemm,
        "results": results,
        "elapsed_s": time.perf_counter() - started,
    }


def main(argv=None):
    args = parse_args(argv)
    if args.rss_child:
        rss_child(*args.rss_child, n_threads=args.threads)
        return
    updates = {}
    # Memory first, while this process is small: nothing of it can reach the
    # children's figures (see rss_child for how a large parent could).
    if args.memory or args.memory_only:
        print("peak RSS of training, one fresh process per side and config")
        updates["memory"] = measure_memory(args.configs, args.threads)
    if not args.memory_only:
        updates.update(run_timing(args))
    write_report(args.results_dir, updates)
    if "results" in updates:
        print("\n" + markdown_table(updates["results"]))
        print(f"timing: total {updates['elapsed_s']:.0f} s")
    if "memory" in updates:
        print("\n" + markdown_memory_table(updates["memory"]["results"]))
        print(f"memory: total {updates['memory']['elapsed_s']:.0f} s")


if __name__ == "__main__":
    main()
