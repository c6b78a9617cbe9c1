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
match sklstm's, on sequences of one length and on sequences of varying lengths.

Unless ``--no-float64`` is given, sklstm is also timed in float64 (the same data
cast to float64, the same settings and seed: float64 is what users usually pass)
as a third side in the same rotation, and reported as float64 / float32 (target
at most ``FLOAT64_TARGET``) and torch / sklstm-float64; its weights go through the
same check against PyTorch (float32 there, so to a float32 tolerance).

With ``--cell gru`` every layer is a GRU instead: sklstm's ``cell="gru"`` against
``nn.GRU`` with the same arguments, sklstm's weights copied in PyTorch's gate order
for the same check, and FLOPs that count a GRU's 3 gate blocks instead of an
LSTM's 4. Its results go to files of their own, which leaves the LSTM's in place.

The ``ragged`` configuration has sequences of varying lengths. sklstm gets them as
a list of 2-D arrays; PyTorch as a zero-padded tensor and the lengths (built once,
outside the timings): each minibatch and prediction runs on the padded sequences
cut to the batch's longest, the head reading each sequence's state at its own last
step (PyTorch's fastest equivalent on a CPU; ``pack_padded_sequence`` was ~3x
slower). Its FLOPs count the actual steps, the sum of the lengths.

With ``--memory`` (or only that, with ``--memory-only``) it also measures the
peak memory of training: for each configuration and each side, a fresh process
that imports only that side's library builds the same data, notes its resident
set size (RSS), trains 2 epochs and reports its peak RSS and the growth over the
data baseline, next to the buffers sklstm's workspace allocates for a minibatch.

Run from the repository root (torch is only needed here, not by sklstm)::

    pip install torch==2.13.0
    python benchmarks/bench_torch.py                   # all, ~8 min on 2 cores
                                                       # without float64, more with
    python benchmarks/bench_torch.py --quick --configs stacked small
    python benchmarks/bench_torch.py --no-float64      # float32 and torch only
    python benchmarks/bench_torch.py --memory-only     # peak RSS only, ~2 min
    python benchmarks/bench_torch.py --cell gru        # GRU against nn.GRU

Results go to ``benchmarks/results/bench_torch.json`` (every timing and memory
figure plus machine and library information) and
``benchmarks/results/bench_torch.md`` (the tables); ``bench_torch_gru.*`` for
``--cell gru``. A run replaces the sections it measures (timing, memory) and keeps
the other.
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
import tempfile
import textwrap
import time
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import probes

SEED = 0
THROUGHPUT_SAMPLES = 10_000
GEMM_SIZE = 1024
SETTLE_SECONDS = 0.2
LATENCY_BLOCK = 10
RESULTS_DIR = Path(__file__).resolve().parent / "results"
SIDES = ("sklstm", "torch")
# The timed sklstm sides: the name each has in the results, and its dtype. The
# float32 one keeps the name "sklstm" of the runs that timed only it.
SKLSTM_DTYPES = {"sklstm": np.float32, "sklstm_float64": np.float64}
FLOAT64 = "sklstm_float64"
# float64 / float32 of sklstm's epoch and 1-sample latency that the issue asks for.
FLOAT64_TARGET = 2.0
MEMORY_EPOCHS = 2
FLOAT32_BYTES = 4
MIB = 2**20
# Seeds the lengths of ragged data apart from their values.
LENGTHS_STREAM = 1


@dataclass(frozen=True)
class Config:
    """One benchmarked problem: data shape, network and minibatch size.

    ``n_steps`` is the sequences' length or, if ``min_length`` is set (a ragged
    configuration), the longest: lengths are then uniform in min_length..n_steps.
    """

    n_samples: int
    n_steps: int
    n_features: int
    n_layers: int
    units: int
    n_classes: int
    batch_size: int
    min_length: int | None = None
    cell: str = "lstm"

    @property
    def ragged(self):
        return self.min_length is not None

    @property
    def gates(self):
        """Gate blocks per layer: the LSTM's 4, the GRU's 3."""
        return 3 if self.cell == "gru" else 4

    @property
    def middle_length(self):
        """The length of the 1-sample latency's sequence."""
        return (self.min_length + self.n_steps) // 2 if self.ragged else self.n_steps

    def lengths(self, n_samples, seed=SEED):
        """The lengths of the ``n_samples`` sequences of ``make_data``."""
        if not self.ragged:
            return np.full(n_samples, self.n_steps)
        # A generator of their own: the equal-length data stay the draws they were.
        rng = np.random.default_rng([seed, LENGTHS_STREAM])
        return rng.integers(self.min_length, self.n_steps, n_samples, endpoint=True)

    def total_steps(self):
        """Time steps in the training set: the sum of the sequences' lengths."""
        return int(self.lengths(self.n_samples).sum())

    def forward_flops(self, total_steps):
        """Multiply-adds x 2 of the gate pre-activations over ``total_steps``.

        ``gates`` blocks of ``units`` per layer: a GRU's products are 3/4 of an
        LSTM's. The elementwise work of the cell (a few dozen FLOPs per unit and
        step for either, against 2 (n_in + units) per gate) is left out.
        """
        inputs = (self.n_features,) + (self.units,) * (self.n_layers - 1)
        return sum(
            2 * total_steps * self.gates * self.units * (n_in + self.units)
            for n_in in inputs
        )

    def epoch_flops(self):
        """Training FLOPs of one epoch: forward + backward ~ 3 forwards."""
        return 3 * self.forward_flops(self.total_steps())

    def data_bytes(self):
        """Size of the float32 training sequences ``X``."""
        return FLOAT32_BYTES * self.total_steps() * self.n_features

    def padded_bytes(self):
        """Size of ``X`` zero-padded to ``n_steps`` steps, as the torch side has it."""
        return FLOAT32_BYTES * self.n_samples * self.n_steps * self.n_features

    def sklstm_workspace_bytes(self):
        """What sklstm's ``Workspace`` allocates for one minibatch, in float32.

        The time-major input (T, B, D), then per layer its state (T, B, 7H:
        the LSTM's gates, cells, tanh(cells) and hidden states, or the GRU's
        gates, recurrent sums and hidden states), the hidden states' gradient
        (T, B, H) and the carried gradient of one step (B, H). With sequences
        of varying lengths, T is the longest length.
        """
        batch = min(self.batch_size, self.n_samples)
        steps = self.n_steps * batch
        per_layer = steps * (7 + 1) * self.units + batch * self.units
        floats = steps * self.n_features + self.n_layers * per_layer
        return FLOAT32_BYTES * floats

    def sklstm_n_params(self):
        """sklstm's parameters: per layer G H x (D_in + H + bias rows), the head."""
        inputs = (self.n_features,) + (self.units,) * (self.n_layers - 1)
        bias_rows = 2 if self.cell == "gru" else 1
        layers = sum(
            self.gates * self.units * (n_in + self.units + bias_rows) for n_in in inputs
        )
        return layers + (self.units + 1) * self.n_classes

    def sklstm_state_bytes(self):
        """Weights, their gradient and Adam's two moments, in float32."""
        return FLOAT32_BYTES * 4 * self.sklstm_n_params()

    def describe(self):
        steps = f"{self.n_steps} steps"
        if self.ragged:
            steps = (
                f"{self.min_length}..{self.n_steps} steps (uniform; "
                f"{self.total_steps()} in all)"
            )
        return (
            f"{self.n_samples} x {steps} x {self.n_features} features, "
            f"{self.n_layers}x{self.units} {self.cell.upper()} units, "
            f"{self.n_classes} classes, batch {self.batch_size}"
        )


CONFIGS = {
    "stacked": Config(1000, 8, 16, 3, 32, 10, 64),
    "small": Config(2000, 30, 8, 1, 64, 5, 32),
    "medium": Config(4000, 50, 32, 1, 128, 10, 64),
    "large": Config(4000, 100, 64, 2, 256, 10, 128),
    # medium with lengths uniform in 10..90 (the same 50 steps on average).
    "ragged": Config(4000, 90, 32, 1, 128, 10, 64, min_length=10),
}

# Small enough to be instant, multiclass and stacked so that every weight moves;
# the ragged one includes sequences of a single step.
CHECK_CONFIGS = {
    "equal lengths": Config(64, 7, 5, 2, 8, 4, 16),
    "ragged": Config(64, 7, 5, 2, 8, 4, 16, min_length=1),
}


def make_data(config, n_samples, seed=SEED):
    """Standard normal float32 sequences and uniform random labels.

    ``X`` is a 3-D array or, for a ragged config, a list of 2-D arrays (views of
    one array) of ``config.lengths(n_samples, seed)`` steps.
    """
    rng = np.random.default_rng(seed)
    if config.ragged:
        lengths = config.lengths(n_samples, seed)
        values = rng.standard_normal(
            (lengths.sum(), config.n_features), dtype=np.float32
        )
        X = np.split(values, np.cumsum(lengths)[:-1])
    else:
        X = rng.standard_normal(
            (n_samples, config.n_steps, config.n_features), dtype=np.float32
        )
    y = rng.integers(config.n_classes, size=n_samples)
    return X, y


def latency_input(config, X):
    """One sequence of ``X`` (for a ragged config, one of the middle length)."""
    if not config.ragged:
        return X[:1]
    return [next(x for x in X if len(x) == config.middle_length)]


def as_dtype(X, dtype):
    """``X`` (an array or a list of arrays) in ``dtype``; ``X`` itself if it is."""
    if isinstance(X, np.ndarray):
        return X.astype(dtype, copy=False)
    if all(x.dtype == dtype for x in X):
        return X
    return [x.astype(dtype) for x in X]


# ------------------------------------------------------------------ contenders
class SklstmModel:
    """sklstm's LSTMClassifier; every ``train_epoch`` is one warm-started epoch.

    Its layers are ``config.cell``'s. ``side`` is a key of :data:`SKLSTM_DTYPES`.
    It trains and predicts in that dtype (sklstm follows X's): ``X`` is cast once
    here, and each input to ``predict_proba`` by ``prepare``, outside the timings.
    """

    def __init__(self, config, X, y, side="sklstm"):
        from sklstm import LSTMClassifier

        self.name, self.dtype = side, SKLSTM_DTYPES[side]
        self.X, self.y = as_dtype(X, self.dtype), y
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
            cell=config.cell,
            # The epoch alone, as PyTorch's loop: a fit's moving average of the
            # weights adds one forward pass a fit (a third of an epoch here,
            # where a fit is one epoch; 1/600 of a 200-epoch fit).
            ema_momentum=None,
            # The same network as PyTorch's: no linear layer in front of it.
            input_projection=None,
        )

    def train_epoch(self):
        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.estimator.fit(self.X, self.y)

    def prepare(self, X):
        """``X`` as ``predict_proba`` takes it: an array or a list, in ``dtype``."""
        return as_dtype(X, self.dtype)

    def predict_proba(self, X):
        return self.estimator.predict_proba(X)


def torch_net(config):
    """``nn.LSTM`` (or ``nn.GRU``) layers, then a linear layer on the last step.

    Given the lengths of zero-padded sequences, the head reads each sequence's
    state at its own last step.

    The ``nn.Module`` subclass is defined here rather than at module level so that
    importing this script does not import torch.
    """
    import torch
    from torch import nn

    class TorchNet(nn.Module):
        def __init__(self):
            super().__init__()
            # Named lstm for either cell, as in the runs that had only LSTMs.
            layers = nn.GRU if config.cell == "gru" else nn.LSTM
            self.lstm = layers(
                config.n_features,
                config.units,
                num_layers=config.n_layers,
                batch_first=True,
            )
            self.linear = nn.Linear(config.units, config.n_classes)

        def forward(self, x, lengths=None):
            if lengths is None:
                output, _ = self.lstm(x)
                return self.linear(output[:, -1])
            # Padding after a sequence's end cannot change its earlier states (one
            # direction), so the layers run on the padded batch cut to its longest
            # sequence and the head reads each sequence's own last step: PyTorch's
            # fastest equivalent on a CPU (pack_padded_sequence was ~3x slower
            # here: pytorch/pytorch#149194).
            output, _ = self.lstm(x[:, : int(lengths.max())])
            return self.linear(output[torch.arange(len(lengths)), lengths - 1])

    return TorchNet()


def torch_inputs(X):
    """``X`` as the torch side takes it: a float32 tensor and the lengths.

    A 3-D array becomes a tensor sharing its memory, with lengths ``None``; a list
    of sequences a zero-padded copy (n_samples, longest, n_features) and an int64
    tensor of lengths. A pair already converted is returned as it is.
    """
    import torch
    from torch.nn.utils.rnn import pad_sequence

    if isinstance(X, tuple):
        return X
    if isinstance(X, np.ndarray):
        return torch.from_numpy(X), None
    padded = pad_sequence([torch.from_numpy(x) for x in X], batch_first=True)
    return padded, torch.tensor([len(x) for x in X], dtype=torch.int64)


def load_sklstm_weights(net, weights):
    """Copy ``LSTMClassifier.get_weights()`` (Keras layout) into ``torch_net``.

    An LSTM layer has PyTorch's gate order and one bias, PyTorch's input bias (its
    recurrent bias stays zero). A GRU layer (Keras' ``reset_after=True``, which is
    ``nn.GRU``'s cell) orders its gates update, reset, candidate where PyTorch has
    reset, update, new, and its ``(2, 3H)`` bias is PyTorch's two: the input bias,
    then the recurrent one (inside the reset gate's product for the candidate).
    """
    import torch

    def torch_gate_order(a):
        """Keras' GRU gate blocks along ``a``'s last axis, in PyTorch's order."""
        update, reset, candidate = a.chunk(3, dim=-1)
        return torch.cat([reset, update, candidate], dim=-1)

    gru = isinstance(net.lstm, torch.nn.GRU)
    *layers, head_kernel, head_bias = (torch.from_numpy(w) for w in weights)
    with torch.no_grad():
        for k in range(net.lstm.num_layers):
            kernel, recurrent, bias = layers[3 * k : 3 * k + 3]
            if gru:
                kernel, recurrent, (bias, recurrent_bias) = (
                    torch_gate_order(w) for w in (kernel, recurrent, bias)
                )
            getattr(net.lstm, f"weight_ih_l{k}").copy_(kernel.T)
            getattr(net.lstm, f"weight_hh_l{k}").copy_(recurrent.T)
            getattr(net.lstm, f"bias_ih_l{k}").copy_(bias)
            if gru:
                getattr(net.lstm, f"bias_hh_l{k}").copy_(recurrent_bias)
            else:
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
        self.X, self.lengths = torch_inputs(X)
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
            lengths = None if self.lengths is None else self.lengths[batch]
            self.optimizer.zero_grad(set_to_none=True)
            self.loss(self.net(self.X[batch], lengths), self.y[batch]).backward()
            self.optimizer.step()

    def prepare(self, X):
        """``X`` as ``predict_proba`` takes it (see :func:`torch_inputs`)."""
        return torch_inputs(X)

    def predict_proba(self, inputs):
        import torch

        # NumPy out like sklstm, sharing memory with the tensor.
        self.net.eval()
        with torch.inference_mode():
            return torch.softmax(self.net(*inputs), dim=1).numpy()


# ---------------------------------------------------------------- measurements
def time_alternating(models, call, n_rounds, calls_per_round=1, n_warmup=0):
    """Seconds of each ``call(model)``, per model, alternating between the models.

    Each round runs a block of ``calls_per_round`` consecutive calls per model,
    flipping the order of the models every round so that slow drifts of the
    machine are shared instead of charged to whichever side runs second. Every
    block starts after a pause that lets the previous side's threads go idle,
    then one untimed call: a timed call runs as in a loop that trains epoch
    after epoch or predicts call after call, not as the first call after an
    idle spell. On the 2-core VMs, a first call after 0.2 s idle took 5-15 ms
    longer on either side (the stacked epoch: sklstm 9.5 -> 14-24 ms, PyTorch
    59 -> 66-74 ms): a fixed charge that doubles a short call and adds a tenth
    to a long one.
    """
    for model in models:
        for _ in range(n_warmup):
            call(model)
    times = {model.name: [] for model in models}
    for round_ in range(n_rounds):
        for model in models if round_ % 2 == 0 else models[::-1]:
            settle()
            call(model)
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


def check_weights_interchange(name, side="sklstm"):
    """sklstm's weights in the timed PyTorch model give sklstm's probabilities.

    PyTorch's model is float32 whatever dtype sklstm's ``side`` trains in, so the
    tolerance is a float32 one for both.
    """
    config = CHECK_CONFIGS[name]
    X, y = make_data(config, config.n_samples)
    model = SklstmModel(config, X, y, side)
    for _ in range(3):
        model.train_epoch()
    torch_model = TorchModel(config, X, y)
    load_sklstm_weights(torch_model.net, model.estimator.get_weights())
    torch_proba = torch_model.predict_proba(torch_model.prepare(X))
    proba = model.predict_proba(model.prepare(X))
    diff = float(np.max(np.abs(proba - torch_proba)))
    what = f"{name}, {np.dtype(model.dtype)}"
    assert diff < 1e-5, f"{what}: sklstm and torch probabilities differ by {diff:.2e}"
    print(f"weights interchange with torch, {what}: OK (max abs diff {diff:.1e})")
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
    inputs = {m.name: m.prepare(x_one) for m in models}
    return time_alternating(
        models,
        lambda m: m.predict_proba(inputs[m.name]),
        max(1, n_calls // block),
        calls_per_round=block,
        n_warmup=5,
    )


def measure_throughput(models, X_many, n_repeats):
    """Seconds of one ``predict_proba`` call on many sequences."""
    inputs = {m.name: m.prepare(X_many) for m in models}
    return time_alternating(
        models, lambda m: m.predict_proba(inputs[m.name]), n_repeats
    )


def summarize(times):
    """Medians per side and the ratio torch / sklstm (float32).

    With a float64 side, also ``float64_over_float32`` (sklstm float64 / float32)
    and ``ratio_float64`` (torch / sklstm float64).
    """
    median = {name: statistics.median(t) for name, t in times.items()}
    summary = {
        "times": times,
        "median": median,
        "ratio": median["torch"] / median["sklstm"],
    }
    if FLOAT64 in median:
        summary["float64_over_float32"] = median[FLOAT64] / median["sklstm"]
        summary["ratio_float64"] = median["torch"] / median[FLOAT64]
    return summary


def print_summary(what, summary, scale=1.0, unit="s", digits=3):
    """The medians of one measurement (times ``scale``, in ``unit``) on one line."""
    median = summary["median"]
    line = f"  {what}: sklstm {median['sklstm'] * scale:.{digits}f} {unit}, "
    if FLOAT64 in median:
        line += (
            f"float64 {median[FLOAT64] * scale:.{digits}f} {unit} "
            f"({summary['float64_over_float32']:.2f}x float32), "
        )
    print(line + f"torch {median['torch'] * scale:.{digits}f} {unit}", flush=True)


def timed_models(config, X, y, sklstm_sides):
    """The models of one configuration, in the order of their rotation.

    ``[torch, sklstm]`` as in runs that timed float32 only; a float64 side goes
    first, ``[sklstm_float64, torch, sklstm]``. As ``time_alternating`` reverses
    the order every round, each sklstm side then follows torch in one round and
    itself in the next, the float32 side exactly as without float64.
    """
    sklstm = [SklstmModel(config, X, y, side) for side in sklstm_sides]
    return sklstm[1:] + [TorchModel(config, X, y), sklstm[0]]


def run_config(name, config, n_repeats, n_latency_calls, gemm_rate, sklstm_sides):
    print(f"\n[{name}] {config.describe()}", flush=True)
    X, y = make_data(config, config.n_samples)
    models = timed_models(config, X, y, sklstm_sides)

    training = summarize(measure_training(models, n_repeats))
    print_summary("epoch", training)
    latency = summarize(
        measure_latency(models, latency_input(config, X), n_latency_calls)
    )
    print_summary("1-sample latency", latency, scale=1e6, unit="us", digits=0)
    X_many, _ = make_data(config, THROUGHPUT_SAMPLES, seed=SEED + 1)
    throughput = summarize(measure_throughput(models, X_many, n_repeats))
    print_summary(f"{THROUGHPUT_SAMPLES} samples", throughput)

    gflops = {
        side: config.epoch_flops() / seconds / 1e9
        for side, seconds in training["median"].items()
    }
    result = {
        "config": asdict(config),
        "epoch_steps": config.total_steps(),
        "epoch_gflop": config.epoch_flops() / 1e9,
        "training_s": training,
        "latency_1_sample_s": latency,
        f"predict_{THROUGHPUT_SAMPLES}_s": throughput,
        "training_gflops": gflops,
        "sklstm_fraction_of_gemm": gflops["sklstm"] / gemm_rate,
    }
    if FLOAT64 in sklstm_sides:
        result["float64_target_met"] = {
            key: result[key]["float64_over_float32"] <= FLOAT64_TARGET
            for key in ("training_s", "latency_1_sample_s")
        }
    return result


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
    (baseline), trains ``MEMORY_EPOCHS`` epochs and reports the peak. The torch
    side converts the data to its input before the baseline, as the timing run
    does before its timings: for a ragged config, a zero-padded copy. The list
    stays alive, so that the peak cannot be reached before the baseline.

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
    if side == "torch":
        X_torch = torch_inputs(X)
    baseline = proc_status_kib()
    if side == "sklstm":
        model = SklstmModel(config, X, y)
        model.estimator.set_params(max_iter=MEMORY_EPOCHS)
        model.train_epoch()
    else:
        model = TorchModel(config, X_torch, y)
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
        "--cell",
        CONFIGS[config_name].cell,
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
            # In torch's baseline besides X: its padded copy (a 3-D X is shared).
            "torch_padded_mib": config.padded_bytes() / MIB if config.ragged else 0.0,
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
    from sklstm._kernels._array import instruction_set

    return {
        "processor": platform.processor(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "instruction_set": instruction_set(),
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


def has_float64(results):
    """Whether ``results`` (a timing run's, per configuration) timed float64."""
    return all(FLOAT64 in r["training_s"]["median"] for r in results.values())


def markdown_float64_table(results):
    """sklstm in float64: times, float64 / float32 and torch / float64.

    A float64 / float32 ratio above the target (epoch, 1-sample) is in bold.
    """

    def against_target(ratio):
        return f"**{ratio:.2f}**" if ratio > FLOAT64_TARGET else f"{ratio:.2f}"

    header = [
        "config",
        "sklstm f64 epoch s",
        f"f64/f32 epoch (≤ {FLOAT64_TARGET:.1f})",
        "torch/f64 epoch",
        "sklstm f64 1-sample µs",
        f"f64/f32 1-sample (≤ {FLOAT64_TARGET:.1f})",
        "torch/f64 1-sample",
        f"sklstm f64 {THROUGHPUT_SAMPLES // 1000}k s",
        f"f64/f32 {THROUGHPUT_SAMPLES // 1000}k",
        f"torch/f64 {THROUGHPUT_SAMPLES // 1000}k",
        "sklstm f64 GFLOP/s",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, r in results.items():
        train, latency = r["training_s"], r["latency_1_sample_s"]
        throughput = r[f"predict_{THROUGHPUT_SAMPLES}_s"]
        cells = [
            name,
            f"{train['median'][FLOAT64]:.3f}",
            against_target(train["float64_over_float32"]),
            f"{train['ratio_float64']:.2f}",
            f"{latency['median'][FLOAT64] * 1e6:.0f}",
            against_target(latency["float64_over_float32"]),
            f"{latency['ratio_float64']:.2f}",
            f"{throughput['median'][FLOAT64]:.3f}",
            f"{throughput['float64_over_float32']:.2f}",
            f"{throughput['ratio_float64']:.2f}",
            f"{r['training_gflops'][FLOAT64]:.1f}",
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


def markdown_memory_report(memory, cell="lstm"):
    state = {
        "lstm": "gates, cells, tanh(cells), hidden states and their gradient, one "
        "step's cell gradient",
        "gru": "gates, recurrent sums, hidden states and their gradient, one "
        "step's carried gradient",
    }[cell]
    how = (
        "Each side runs in a fresh process per configuration that imports only its "
        "own library, builds the same float32 data, then trains "
        f"{memory['epochs']} epochs (sklstm: `fit` with max_iter="
        f"{memory['epochs']}; torch: the loop timed above). Peak: the process's "
        "peak resident set size (VmHWM). Growth: peak minus the RSS once the "
        "library is imported and the data are built; it also counts what first use "
        "leaves resident (library code paged in, BLAS and allocator buffers). "
        "Workspace: the float32 buffers sklstm's `Workspace` allocates for one "
        f"minibatch (time-major input; per layer {state}). Weights + Adam: "
        "parameters, gradient and Adam's two moments. Growth ratio: torch growth / "
        "sklstm growth, so above 1, sklstm grows less."
    )
    ragged = [name for name in memory["results"] if CONFIGS[name].ragged]
    if ragged:
        padded = ", ".join(
            f"{memory['results'][name]['torch_padded_mib']:.1f} MiB for {name}"
            for name in ragged
        )
        how += (
            " Sequences of varying lengths: the torch process pads them into a "
            f"tensor before its baseline ({padded}), as the timing run does before "
            "its timings, so its growth leaves that copy out; sklstm's growth counts "
            "the copy that `fit` makes of the list (about the data column), and its "
            "workspace is sized for the longest sequence."
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
    title = "# sklstm vs PyTorch"
    # Files written before the option have no "cell": they are LSTM runs.
    cell = report.get("cell", "lstm")
    if cell == "gru":
        title += ': GRU layers (`cell="gru"` against `nn.GRU`)'
    sections = [title]
    if "results" in report:
        sections.append(markdown_timing_report(report))
    if "memory" in report:
        sections.append(markdown_memory_report(report["memory"], cell))
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
        f"sides alternate, each block of calls after a {SETTLE_SECONDS} s pause "
        "and one untimed call. "
        "% of GEMM: sklstm's training GFLOP/s (3 x forward FLOPs per epoch) over "
        f"a float32 {GEMM_SIZE}³ sgemm through the same BLAS "
        f"({report['gemm_gflops']['scipy_sgemm']:.0f} GFLOP/s)."
    )
    ragged = [name for name in report["results"] if CONFIGS[name].ragged]
    if ragged:
        middle = ", ".join(
            f"{CONFIGS[name].middle_length} steps for {name}" for name in ragged
        )
        how += (
            " Sequences of varying lengths (ragged): sklstm gets a list of 2-D "
            "arrays (its times include checking and concatenating it at every "
            "call) and trains on minibatches of similar lengths; torch gets a "
            "zero-padded tensor and the lengths, made once outside the timings, "
            "runs every random minibatch and every prediction's input padded to "
            "the batch's longest sequence and reads each sequence's output at its "
            "own last step (faster on a CPU than `pack_padded_sequence`). "
            f"1-sample latency: one sequence of the middle length ({middle}). FLOPs "
            "count the actual steps (the sum of the lengths)."
        )
    float64 = has_float64(report["results"])
    if float64:
        how += (
            " sklstm in float64 (the same data cast to float64, the same settings "
            "and seed) is timed as a third side in the same rotation; the second "
            "table gives its times, float64 / float32 of sklstm (in bold above the "
            f"target of {FLOAT64_TARGET:.1f} for the epoch and the 1-sample latency) "
            "and torch / sklstm-float64."
        )
    configs = "\n".join(
        f"- {name}: {CONFIGS[name].describe()}" for name in report["results"]
    )
    machine_line = (
        f"{machine['cpu_model'] or machine['processor']}, {machine['cpu_count']} "
        f"CPUs, {machine['threads']} threads, sklstm's kernels "
        f"{machine.get('instruction_set', 'of an unrecorded instruction set')}; "
        f"{versions}. "
        f"Run time: {report['elapsed_s']:.0f} s."
    )
    round_trip = report.get("core_round_trip_ns") or {}
    if round_trip.get("start") is not None and round_trip.get("end") is not None:
        machine_line += (
            " A cache line's round trip between CPUs 0 and 1 took "
            f"{round_trip['start']:.0f} ns before the timings and "
            f"{round_trip['end']:.0f} ns after them (see benchmarks/probes.py: on "
            "a shared VM it can be 4-5x longer for a while, and two-thread work on "
            "small models with it)."
        )
    sections = [textwrap.fill(how, 88), markdown_table(report["results"])]
    if float64:
        sections.append(markdown_float64_table(report["results"]))
    sections += [configs, textwrap.fill(machine_line, 88)]
    return "\n\n".join(sections)


def write_report(results_dir, updates, cell="lstm"):
    """Merge ``updates`` into ``bench_torch.json``, then rewrite both files.

    A timing run replaces the timing keys and a memory run the ``memory`` key;
    the other section, if any, is kept as it was. GRU runs have files of their
    own, ``bench_torch_gru.*``.
    """
    results_dir.mkdir(parents=True, exist_ok=True)
    stem = "bench_torch" if cell == "lstm" else f"bench_torch_{cell}"
    json_path = results_dir / f"{stem}.json"
    report = json.loads(json_path.read_text()) if json_path.exists() else {}
    report.update(updates, cell=cell)
    json_path.write_text(json.dumps(report, indent=2))
    (results_dir / f"{stem}.md").write_text(markdown_report(report))
    print(f"\nwritten to {results_dir}/{stem}.{{json,md}}")


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
        "--cell",
        choices=["lstm", "gru"],
        default="lstm",
        help="the layers: LSTM against nn.LSTM (default) or GRU against nn.GRU",
    )
    parser.add_argument(
        "--float64",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time sklstm in float64, the same data cast (default: yes)",
    )
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
        help=f"where to write bench_torch[_gru].json and .md (default {RESULTS_DIR})",
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

    started = time.perf_counter()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as directory:
        machine_probes = probes.build(directory)
        round_trip_start = probes.core_round_trip_ns(machine_probes)
        timing = run_timed_configs(args)
        round_trip_end = probes.core_round_trip_ns(machine_probes)
    return {
        **timing,
        "core_round_trip_ns": {"start": round_trip_start, "end": round_trip_end},
        "elapsed_s": time.perf_counter() - started,
    }


def run_timed_configs(args):
    """The checks and timings of ``run_timing``, inside its thread limits."""
    from threadpoolctl import threadpool_limits

    sklstm_sides = [side for side in SKLSTM_DTYPES if side != FLOAT64 or args.float64]
    # Limits every BLAS and OpenMP pool loaded (SciPy's, NumPy's, torch's).
    with threadpool_limits(limits=args.threads):
        machine = machine_info(args.threads)
        check_diffs = {
            (side, name): check_weights_interchange(name, side)
            for side in sklstm_sides
            for name in CHECK_CONFIGS
        }
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
                sklstm_sides,
            )
            for name in args.configs
        }
    timing = {
        "machine": machine,
        "repeats": args.repeats,
        "latency_calls": args.latency_calls,
        "sklstm_dtypes": [np.dtype(SKLSTM_DTYPES[side]).name for side in sklstm_sides],
    }
    # Keys as in float32-only runs, then "..._float64_..." for the float64 model.
    # All of them every time (None: not run), so that a run without float64
    # replaces those of an earlier run with it.
    for side in SKLSTM_DTYPES:
        prefix = "weights_interchange" + ("" if side == "sklstm" else "_float64")
        diffs = {name: check_diffs.get((side, name)) for name in CHECK_CONFIGS}
        timing[f"{prefix}_max_abs_diff"] = diffs["equal lengths"]
        timing[f"{prefix}_ragged_max_abs_diff"] = diffs["ragged"]
    timing["float64_target"] = FLOAT64_TARGET if args.float64 else None
    return {
        **timing,
        "gemm_size": GEMM_SIZE,
        "gemm_gflops": gemm,
        "results": results,
    }


def use_cell(cell):
    """Make every configuration's layers ``cell``'s, for this process's run."""
    for configs in (CONFIGS, CHECK_CONFIGS):
        for name, config in configs.items():
            configs[name] = replace(config, cell=cell)


def main(argv=None):
    args = parse_args(argv)
    use_cell(args.cell)
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
    write_report(args.results_dir, updates, args.cell)
    if "results" in updates:
        print("\n" + markdown_table(updates["results"]))
        if has_float64(updates["results"]):
            print("\n" + markdown_float64_table(updates["results"]))
        print(f"timing: total {updates['elapsed_s']:.0f} s")
    if "memory" in updates:
        print("\n" + markdown_memory_table(updates["memory"]["results"]))
        print(f"memory: total {updates['memory']['elapsed_s']:.0f} s")


if __name__ == "__main__":
    main()
