"""Per-step outputs and streaming, timed beside PyTorch in one process.

1. Training with ``return_sequences=True`` against the same many-to-one model:
   for each configuration of ``bench_torch.py`` (equal lengths), one epoch of
   sklstm many-to-one, sklstm per step (a label at every step), and PyTorch per
   step (``nn.LSTM`` + ``nn.Linear`` on every step's output, cross-entropy over
   all steps), in float32; and both sklstm models in float64. The target: a
   per-step epoch within ``PER_STEP_TARGET`` of the many-to-one one, and ahead of
   PyTorch's per-step epoch.
2. Streaming latency on the stacked 3 x 32 model: one step of one stream through
   ``LSTMStream.predict_proba`` against PyTorch's ``lstm(x, (h, c))`` + head +
   softmax with the state passed back in, both float32, beside what the stream
   kernel spends per step on a 100-step chunk (its floor) and sklstm in float64.

A timed training call is a warm-started fit of ``EPOCHS_PER_CALL`` epochs
(PyTorch: as many epochs), reported per epoch: a fit's one-off validation and
target encoding, which grow with the number of targets (``T`` times more per
step), then weigh as in fits of many epochs rather than as much as an epoch.

Every measurement alternates the sides (``bench_torch.time_alternating``), with
medians over repeats. Run from the repository root, with torch installed::

    python benchmarks/bench_return_sequences.py            # ~5 min on 2 cores
    python benchmarks/bench_return_sequences.py --quick

Results go to ``benchmarks/results/bench_return_sequences.{json,md}``.
"""

import argparse
import datetime
import json
import statistics
import time
import warnings

import numpy as np
from bench_torch import (
    CONFIGS,
    RESULTS_DIR,
    SEED,
    load_sklstm_weights,
    machine_info,
    make_data,
    time_alternating,
)

PER_STEP_TARGET = 1.15
EPOCHS_PER_CALL = 3
TRAINING_CONFIGS = ("stacked", "small", "medium")
STREAM_CONFIG = "stacked"
STREAM_CALLS = 2000
FLOOR_STEPS = 100


def per_step_labels(config, seed=SEED):
    rng = np.random.default_rng([seed, 1])
    return rng.integers(config.n_classes, size=(config.n_samples, config.n_steps))


class SklstmModel:
    """LSTMClassifier, one warm-started epoch per ``train_epoch``."""

    def __init__(self, name, config, X, y, dtype, return_sequences):
        from sklstm import LSTMClassifier

        self.name = name
        self.X, self.y = X.astype(dtype), y
        self.estimator = LSTMClassifier(
            hidden_layer_sizes=(config.units,) * config.n_layers,
            alpha=0.0,
            batch_size=config.batch_size,
            max_iter=EPOCHS_PER_CALL,
            random_state=SEED,
            warm_start=True,
            return_sequences=return_sequences,
            ema_momentum=None,  # the epochs alone, as PyTorch's loop
            input_projection=None,  # PyTorch's network: no layer in front
        )

    def train_epoch(self):
        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.estimator.fit(self.X, self.y)


def torch_per_step_net(config):
    import torch
    from torch import nn

    class PerStep(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(
                config.n_features,
                config.units,
                num_layers=config.n_layers,
                batch_first=True,
            )
            self.linear = nn.Linear(config.units, config.n_classes)

        def forward(self, x, state=None):
            output, state = self.lstm(x, state)
            return self.linear(output), state

    torch.manual_seed(SEED)
    return PerStep()


class TorchPerStep:
    """``nn.LSTM`` + ``Linear`` on every step, Adam, the plain loop."""

    name = "torch per step"

    def __init__(self, config, X, y):
        import torch
        from torch import nn

        self.X = torch.from_numpy(X)
        self.y = torch.from_numpy(y.astype(np.int64))
        self.batch_size = config.batch_size
        self.net = torch_per_step_net(config)
        self.loss = nn.CrossEntropyLoss()
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=1e-3)
        self.generator = torch.Generator().manual_seed(SEED)

    def train_epoch(self):
        import torch

        self.net.train()
        for _ in range(EPOCHS_PER_CALL):
            order = torch.randperm(len(self.X), generator=self.generator)
            for start in range(0, len(self.X), self.batch_size):
                batch = order[start : start + self.batch_size]
                self.optimizer.zero_grad(set_to_none=True)
                logits, _ = self.net(self.X[batch])
                loss = self.loss(logits.flatten(0, 1), self.y[batch].flatten())
                loss.backward()
                self.optimizer.step()


def measure_training(name, n_repeats):
    config = CONFIGS[name]
    X, _ = make_data(config, config.n_samples)
    y_steps = per_step_labels(config)
    models = [
        SklstmModel("many-to-one", config, X, y_steps[:, -1], np.float32, False),
        SklstmModel("per step", config, X, y_steps, np.float32, True),
        TorchPerStep(config, X, y_steps),
        SklstmModel(
            "many-to-one float64", config, X, y_steps[:, -1], np.float64, False
        ),
        SklstmModel("per step float64", config, X, y_steps, np.float64, True),
    ]
    times = time_alternating(models, lambda m: m.train_epoch(), n_repeats, n_warmup=1)
    median = {side: statistics.median(t) / EPOCHS_PER_CALL for side, t in times.items()}
    result = {
        "config": config.describe(),
        "median_seconds": median,
        "per_step_over_many_to_one": median["per step"] / median["many-to-one"],
        "per_step_over_many_to_one_float64": median["per step float64"]
        / median["many-to-one float64"],
        "torch_over_sklstm_per_step": median["torch per step"] / median["per step"],
        "times": times,
    }
    print(
        f"[{name}] per step / many-to-one: float32 "
        f"{result['per_step_over_many_to_one']:.3f}, float64 "
        f"{result['per_step_over_many_to_one_float64']:.3f}; torch / sklstm per "
        f"step {result['torch_over_sklstm_per_step']:.2f} "
        f"(epochs: {', '.join(f'{k} {v:.3f} s' for k, v in median.items())})",
        flush=True,
    )
    return result


class StreamSide:
    def __init__(self, name, call):
        self.name, self.call = name, call


def measure_stream(n_calls):
    """One step of one stream, sklstm against torch with (h, c) passed back in."""
    import torch

    from sklstm import LSTMClassifier
    from sklstm._kernels._predict import lstm_stream_logits

    config = CONFIGS[STREAM_CONFIG]
    X, y = make_data(config, config.n_samples)
    sides = []
    for dtype, name in [(np.float32, "sklstm"), (np.float64, "sklstm float64")]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = LSTMClassifier(
                hidden_layer_sizes=(config.units,) * config.n_layers,
                max_iter=2,
                random_state=SEED,
            ).fit(X.astype(dtype), y)
        stream = model.stream()
        step = X[:1, :1].astype(dtype)
        stream.predict_proba(step)
        sides.append(StreamSide(name, lambda s=stream, x=step: s.predict_proba(x)))
        if dtype == np.float32:
            reference = model

    net = torch_per_step_net(config)
    load_sklstm_weights(net, reference.get_weights())
    net.eval()
    step = torch.from_numpy(X[:1, :1])
    carried = {"state": None}

    def torch_step():
        with torch.inference_mode():
            logits, carried["state"] = net(step, carried["state"])
            return torch.softmax(logits[:, -1], dim=1).numpy()

    torch_step()
    # The same model gives the same stream: 20 steps each way.
    check = reference.stream()
    carried["state"] = None
    steps = np.random.default_rng(SEED).standard_normal(
        (1, 20, config.n_features), dtype=np.float32
    )
    for t in range(steps.shape[1]):
        ours = check.predict_proba(steps[:, t : t + 1])
        with torch.inference_mode():
            logits, carried["state"] = net(
                torch.from_numpy(steps[:, t : t + 1]), carried["state"]
            )
        theirs = torch.softmax(logits[:, -1], dim=1).numpy()
        assert np.abs(ours - theirs).max() < 1e-5, "streams differ from torch's"
    sides.append(StreamSide("torch", torch_step))

    # The kernel's cost per step on a long chunk: the floor of a step.
    network = reference._network()
    chunk = np.ascontiguousarray(
        np.random.default_rng(SEED).standard_normal(
            (1, FLOOR_STEPS, config.n_features), dtype=np.float32
        )
    )
    state = np.zeros((1, 2 * config.units * config.n_layers), dtype=np.float32)
    logits = np.empty((1, config.n_classes), dtype=np.float32)
    kernel = lstm_stream_logits["float"]
    sides.append(
        StreamSide(
            f"kernel, {FLOOR_STEPS}-step chunk",
            lambda: kernel(chunk, reference._params, network._units, state, logits),
        )
    )
    block = 50
    times = time_alternating(
        sides, lambda s: s.call(), max(1, n_calls // block), block, n_warmup=20
    )
    median = {name: statistics.median(t) for name, t in times.items()}
    median[f"kernel per step ({FLOOR_STEPS}-step chunk)"] = (
        median.pop(f"kernel, {FLOOR_STEPS}-step chunk") / FLOOR_STEPS
    )
    result = {
        "config": config.describe(),
        "median_seconds": median,
        "torch_over_sklstm": median["torch"] / median["sklstm"],
    }
    print(
        "stream, one step of one stream: "
        + ", ".join(f"{k} {v * 1e6:.1f} µs" for k, v in median.items())
        + f"; torch / sklstm {result['torch_over_sklstm']:.2f}",
        flush=True,
    )
    return result


def markdown(report):
    lines = [
        "# Per-step outputs and streaming against PyTorch",
        "",
        f"{report['date']}, {report['machine']['cpu_model']}, "
        f"{report['machine']['threads']} threads, torch "
        f"{report['machine']['versions']['torch']}. Medians of alternating runs.",
        "",
        "## Training: per-step labels against many-to-one",
        "",
        f"Target: per step / many-to-one <= {PER_STEP_TARGET}; torch / sklstm > 1 "
        "means sklstm is faster.",
        "",
        f"Epoch times: fits of {EPOCHS_PER_CALL} epochs, divided by {EPOCHS_PER_CALL}.",
        "",
        "| config | many-to-one s | per step s | per step / many-to-one | "
        "torch per step s | torch / sklstm | float64 per step / many-to-one |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, result in report["training"].items():
        median = result["median_seconds"]
        lines.append(
            f"| {name} ({result['config']}) | {median['many-to-one']:.3f} | "
            f"{median['per step']:.3f} | {result['per_step_over_many_to_one']:.3f} | "
            f"{median['torch per step']:.3f} | "
            f"{result['torch_over_sklstm_per_step']:.2f} | "
            f"{result['per_step_over_many_to_one_float64']:.3f} |"
        )
    stream = report["stream"]
    lines += [
        "",
        f"## Streaming: one step of one stream ({stream['config']})",
        "",
        "| side | µs per step |",
        "|---|---|",
    ]
    for name, seconds in stream["median_seconds"].items():
        lines.append(f"| {name} | {seconds * 1e6:.1f} |")
    lines += ["", f"torch / sklstm: {stream['torch_over_sklstm']:.2f}", ""]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    import torch

    n_threads = torch.get_num_threads()
    repeats = 2 if args.quick else args.repeats
    started = time.perf_counter()
    report = {
        "date": datetime.date.today().isoformat(),
        "machine": machine_info(n_threads),
        "training": {
            name: measure_training(name, repeats) for name in TRAINING_CONFIGS
        },
        "stream": measure_stream(200 if args.quick else STREAM_CALLS),
    }
    report["seconds"] = time.perf_counter() - started
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "bench_return_sequences.json").write_text(
        json.dumps(report, indent=1, default=float)
    )
    (RESULTS_DIR / "bench_return_sequences.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
