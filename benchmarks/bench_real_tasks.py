"""Forecasting and per-step labelling on real recordings, beside simple references.

The other half of the real-data suite (``bench_real_data.py`` classifies and
regresses whole sequences). Everything comes from aeon's wheel; nothing is
downloaded.

Forecasting, on the series aeon ships: Airline (monthly passengers, 144
months), Lynx (yearly trappings, 114 years), ShampooSales (monthly, 36 months)
and the M1 yearly competition set (181 series of 15 to 58 years). The last
``horizon`` values of each series are held out. Training windows are cut from the
rest with ``sklstm.make_windows(window, horizon)``, the horizon as a multi-output
target; each window and its targets are divided by the window's mean absolute
value (a level scaling, as DeepAR's, so that one model serves series of any
level and a trend does not leave the range it was trained on), and predictions
multiplied back. One model is trained per data set (on M1, across its series).
Models:

- sklstm: ``make_pipeline(SequenceScaler(), LSTMRegressor(hidden_layer_sizes=(64,),
  random_state=seed))``, everything else default;
- torch: ``nn.LSTM(1, 64)`` + ``nn.Linear(64, horizon)`` on the last step,
  Keras-style as in ``bench_real_data.py`` (batch 32, Adam 1e-3, 200 epochs,
  MSE), inputs and targets standardised with the training set's statistics;
- naive (the last value, repeated) and seasonal naive (the value one season
  before).

Scores: sMAPE (%) and MASE (the mean absolute error over the in-sample seasonal
naive error, per series), averaged over series for M1.

Per-step labelling: no recording in aeon's wheel has per-reading labels one can
learn from (the Daphnet excerpt has no freeze episodes, KDD-TSAD's training
part no anomaly), so the task is built from one that has per-recording labels:
BasicMotions, 6-channel smartwatch recordings of 4 activities (standing,
walking, running, badminton). A *session* strings 4 recordings together, drawn
at random (fixed seed 0) from the official training split for the training
sessions (80) and from the test split for the test sessions (40); each reading
is labelled with its recording's activity. Models: ``LSTMClassifier(
hidden_layer_sizes=(64,), return_sequences=True)`` behind ``SequenceScaler``,
its bidirectional variant, and a PyTorch ``nn.LSTM`` with a per-step
``nn.Linear`` trained Keras-style. Score: accuracy over all test readings.

Run from outside the source tree with the benchmark environment (see
``bench_real_data.py``)::

    cd /tmp
    export OMP_NUM_THREADS=1
    /work/benchvenv/bin/python /work/main/benchmarks/bench_real_tasks.py  # ~10 min

Results go to ``benchmarks/results/real_tasks.json`` and ``.md``.
"""

import argparse
import datetime
import json
import os
import statistics
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.pipeline import make_pipeline
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_real_data import (  # noqa: E402
    RESULTS_DIR,
    TORCH_BATCH,
    TORCH_EPOCHS,
    TORCH_LR,
    UNITS,
    aeon_data_dir,
    cpu_model,
    load_dataset,
    markdown_table,
    versions,
)

from sklstm import LSTMClassifier, LSTMRegressor, make_windows  # noqa: E402
from sklstm.preprocessing import SequenceScaler  # noqa: E402

SEEDS = (0, 1, 2)
OUTPUT = "real_tasks"


@dataclass(frozen=True)
class Forecast:
    horizon: int
    season: int
    window: int


# Horizons as the series are usually evaluated (M1: the competition's 6); windows
# of about two seasons (M1's shortest series leave 9 values for training).
FORECASTS = {
    "Airline": Forecast(horizon=12, season=12, window=24),
    "Lynx": Forecast(horizon=10, season=10, window=20),
    "ShampooSales": Forecast(horizon=6, season=12, window=12),
    "m1_yearly": Forecast(horizon=6, season=1, window=8),
}
SESSION_RECORDINGS = 4
TRAIN_SESSIONS, TEST_SESSIONS = 80, 40


# ---------------------------------------------------------------- forecasting
def load_series(name):
    """The series of ``name`` (a list of 1-D float arrays) from aeon's wheel."""
    from aeon.datasets import load_airline, load_from_tsf_file

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # Lynx, Shampoo: deprecated
        if name == "Airline":
            return [np.asarray(load_airline(), dtype=float)]
        if name in ("Lynx", "ShampooSales"):
            from aeon.datasets import load_lynx, load_shampoo_sales

            loader = load_lynx if name == "Lynx" else load_shampoo_sales
            return [np.asarray(loader(), dtype=float)]
        path = aeon_data_dir() / "m1_yearly_dataset" / "m1_yearly_dataset.tsf"
        frame, _ = load_from_tsf_file(str(path))
        return [np.asarray(v, dtype=float) for v in frame["series_value"]]


def level(windows):
    """Each window's mean absolute value (1 where it is 0): its scale."""
    scale = np.abs(windows).mean(axis=1)
    return np.where(scale > 0, scale, 1.0)


def forecast_data(series, spec):
    """Level-scaled training windows, and per series the test window and truth."""
    X_parts, y_parts = [], []
    for s in series:
        train = s[: -spec.horizon]
        if len(train) >= spec.window + spec.horizon:
            X, y = make_windows(train, spec.window, horizon=spec.horizon)
            scale = level(X[:, :, 0])
            X_parts.append(X / scale[:, None, None])
            y_parts.append(y / scale[:, None])
    X_test = np.stack([s[-spec.horizon - spec.window : -spec.horizon] for s in series])
    y_test = np.stack([s[-spec.horizon :] for s in series])
    return np.concatenate(X_parts), np.concatenate(y_parts), X_test, y_test


def forecast_scores(series, spec, y_test, y_pred):
    smape, mase = [], []
    for s, truth, pred in zip(series, y_test, y_pred):
        train = s[: -spec.horizon]
        smape.append(
            np.mean(200 * np.abs(truth - pred) / (np.abs(truth) + np.abs(pred)))
        )
        m = spec.season if len(train) > spec.season else 1
        naive_error = np.mean(np.abs(train[m:] - train[:-m]))
        mase.append(np.mean(np.abs(truth - pred)) / naive_error)
    return {"smape": float(np.mean(smape)), "mase": float(np.mean(mase))}


def naive_forecasts(series, spec, X_test, seasonal):
    if not seasonal or spec.season == 1:
        return np.repeat(X_test[:, -1:], spec.horizon, axis=1)
    out = []
    for s in series:
        train = s[: -spec.horizon]
        last_season = train[-spec.season :]
        out.append(np.resize(last_season, spec.horizon))
    return np.stack(out)


def fit_lstm_forecaster(X, y, seed, params=None):
    model = make_pipeline(
        SequenceScaler(),
        LSTMRegressor(hidden_layer_sizes=(UNITS,), random_state=seed, **(params or {})),
    )
    return model.fit(X, y)


def torch_lstm(n_features, n_outputs, per_step):
    from torch import nn

    class LSTMHead(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(n_features, UNITS, batch_first=True)
            self.head = nn.Linear(UNITS, n_outputs)

        def forward(self, x):
            output, _ = self.lstm(x)
            return self.head(output if per_step else output[:, -1])

    return LSTMHead()


def fit_torch(X, y, seed, classify, per_step=False):
    """A Keras-style PyTorch LSTM; returns a function predicting from X."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    mean = X.reshape(-1, X.shape[-1]).mean(axis=0)
    std = X.reshape(-1, X.shape[-1]).std(axis=0)
    std = np.where(std > 0, std, 1.0)
    X_t = torch.as_tensor(((X - mean) / std).astype(np.float32))
    if classify:
        classes, index = np.unique(y, return_inverse=True)
        target = torch.as_tensor(index.reshape(y.shape), dtype=torch.long)
        loss_fn = nn.CrossEntropyLoss()
        n_outputs = len(classes)
    else:
        y_mean, y_std = y.mean(axis=0), y.std(axis=0)
        y_std = np.where(y_std > 0, y_std, 1.0)
        target = torch.as_tensor(((y - y_mean) / y_std).astype(np.float32))
        loss_fn = nn.MSELoss()
        n_outputs = y.shape[1]
    net = torch_lstm(X.shape[-1], n_outputs, per_step)
    optimizer = torch.optim.Adam(net.parameters(), lr=TORCH_LR)
    for _ in range(TORCH_EPOCHS):
        for batch in torch.randperm(len(X_t)).split(TORCH_BATCH):
            out = net(X_t[batch])
            if classify and per_step:
                loss = loss_fn(out.reshape(-1, n_outputs), target[batch].reshape(-1))
            else:
                loss = loss_fn(out, target[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    def predict(X_new):
        with torch.no_grad():
            x = torch.as_tensor(((X_new - mean) / std).astype(np.float32))
            out = net(x).numpy()
        if classify:
            return classes[out.argmax(axis=-1)]
        return out * y_std + y_mean

    return predict


def run_forecast(name, series, spec, model, seed, params=None):
    X, y, X_test, y_test = forecast_data(series, spec)
    record = {"dataset": name, "task": "forecasting", "model": model, "seed": seed}
    start = time.perf_counter()
    if model in ("naive", "seasonal naive"):
        y_pred = naive_forecasts(series, spec, X_test, model == "seasonal naive")
    else:
        scale = level(X_test)
        X_scaled = (X_test / scale[:, None])[:, :, None]
        if model == "sklstm":
            fitted = fit_lstm_forecaster(X, y, seed, params)
            record["n_iter"] = int(fitted[-1].n_iter_)
            y_pred = fitted.predict(X_scaled) * scale[:, None]
        else:
            predict = fit_torch(X, y, seed, classify=False)
            y_pred = predict(X_scaled) * scale[:, None]
    record["fit_s"] = time.perf_counter() - start
    record["n_train_windows"] = len(X)
    record.update(forecast_scores(series, spec, y_test, y_pred))
    return record


# ------------------------------------------------------------ per-step labels
def sessions(X, y, n_sessions, rng):
    """Sessions of SESSION_RECORDINGS recordings drawn from (X, y), labelled per
    reading with the recording's class."""
    picks = rng.randint(len(X), size=(n_sessions, SESSION_RECORDINGS))
    X_s = np.concatenate([X[p] for p in picks.T], axis=1)
    steps = X.shape[1]
    y_s = np.repeat(y[picks], steps, axis=1)
    return X_s, y_s


def per_step_data():
    data = load_dataset("BasicMotions")
    rng = np.random.RandomState(0)
    train = sessions(data.X_train, data.y_train, TRAIN_SESSIONS, rng)
    test = sessions(data.X_test, data.y_test, TEST_SESSIONS, rng)
    return train, test


def run_per_step(train, test, model, seed, params=None):
    (X, y), (X_test, y_test) = train, test
    record = {"dataset": "BasicMotions sessions", "task": "per-step", "model": model}
    record["seed"] = seed
    start = time.perf_counter()
    if model == "torch":
        y_pred = fit_torch(X, y, seed, classify=True, per_step=True)(X_test)
    else:
        fitted = make_pipeline(
            SequenceScaler(),
            LSTMClassifier(
                hidden_layer_sizes=(UNITS,),
                return_sequences=True,
                bidirectional=model == "sklstm bidirectional",
                random_state=seed,
                **(params or {}),
            ),
        ).fit(X, y)
        record["n_iter"] = int(fitted[-1].n_iter_)
        y_pred = fitted.predict(X_test)
    record["fit_s"] = time.perf_counter() - start
    record["accuracy"] = float(np.mean(y_pred == y_test))
    return record


# ---------------------------------------------------------------------- report
def summary_rows(runs, metrics):
    groups = {}
    for r in runs:
        groups.setdefault((r["dataset"], r["model"]), []).append(r)
    rows = []
    for (dataset, model), group in groups.items():
        cells = [dataset, model]
        for metric, fmt in metrics:
            values = [r[metric] for r in group]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.fmean(values):{fmt}} ± {spread:{fmt}}")
        epochs = [r["n_iter"] for r in group if "n_iter" in r]
        cells.append(f"{statistics.fmean(epochs):.0f}" if epochs else "")
        cells.append(f"{statistics.fmean(r['fit_s'] for r in group):.2f}")
        rows.append(cells)
    return rows


def markdown_report(report):
    meta = report["meta"]
    forecasts = [r for r in report["runs"] if r["task"] == "forecasting"]
    labelled = [r for r in report["runs"] if r["task"] == "per-step"]
    sections = ["# sklstm on real forecasting and per-step labelling tasks"]
    sections.append(
        "How the tasks are built and the models trained: the docstring of "
        "`benchmarks/bench_real_tasks.py`. Seeds "
        f"{', '.join(map(str, meta['seeds']))}; the naive forecasts have no seed."
    )
    if forecasts:
        specs = ", ".join(
            f"{n}: horizon {s['horizon']}, season {s['season']}, window {s['window']}"
            for n, s in meta["forecasts"].items()
        )
        sections.append(
            "## Forecasting: sMAPE (%) and MASE on the held-out horizon "
            "(lower is better)\n\n"
            + specs
            + ".\n\n"
            + markdown_table(
                ["series", "model", "sMAPE", "MASE", "mean epochs", "mean fit s"],
                summary_rows(forecasts, [("smape", ".2f"), ("mase", ".3f")]),
            )
        )
    if labelled:
        sections.append(
            "## Per-step labelling: accuracy over every test reading\n\n"
            + markdown_table(
                ["task", "model", "accuracy", "mean epochs", "mean fit s"],
                summary_rows(labelled, [("accuracy", ".3f")]),
            )
        )
    versions_text = ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    sections.append(
        f"{meta['cpu_model']}, {meta['cpu_count']} CPUs, 1 thread; {versions_text}. "
        f"Command: `{meta['command']}`. Measured {meta['date']} in "
        f"{meta['elapsed_s']:.0f} s."
    )
    return "\n\n".join(sections) + "\n"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--series",
        default=",".join(FORECASTS),
        help=f"comma-separated forecasting series (default: {','.join(FORECASTS)})",
    )
    parser.add_argument("--no-per-step", action="store_true")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument(
        "--seeds",
        type=lambda text: [int(s) for s in text.split(",")],
        default=list(SEEDS),
    )
    parser.add_argument(
        "--params",
        type=json.loads,
        default={},
        help="JSON dict of parameters for every sklstm estimator, e.g. "
        "'{\"ema_momentum\": null}'",
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--output", default=OUTPUT)
    return parser.parse_args(argv)


def run(args):
    started = time.perf_counter()
    if not args.no_torch:
        import torch

        torch.set_num_threads(1)
        torch.set_flush_denormal(True)  # as bench_real_data.py
    runs = []
    names = [n for n in args.series.split(",") if n]
    for name in names:
        spec = FORECASTS[name]
        series = load_series(name)
        print(f"\n{name}: {len(series)} series, {spec}")
        models = ["sklstm"] + ([] if args.no_torch else ["torch"])
        for model in models:
            for seed in args.seeds:
                runs.append(run_forecast(name, series, spec, model, seed, args.params))
                print("  ", runs[-1], flush=True)
        for model in ("naive", "seasonal naive"):
            runs.append(run_forecast(name, series, spec, model, None))
            print("  ", runs[-1], flush=True)
    if not args.no_per_step:
        train, test = per_step_data()
        print(f"\nBasicMotions sessions: {train[0].shape} train, {test[0].shape} test")
        models = ["sklstm", "sklstm bidirectional"]
        models += [] if args.no_torch else ["torch"]
        for model in models:
            for seed in args.seeds:
                runs.append(run_per_step(train, test, model, seed, args.params))
                print("  ", runs[-1], flush=True)
    return {
        "meta": {
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "command": " ".join(["bench_real_tasks.py", *sys.argv[1:]]),
            "seeds": args.seeds,
            "forecasts": {n: vars(FORECASTS[n]) for n in names},
            "cpu_model": cpu_model(),
            "cpu_count": os.cpu_count(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "versions": versions(not args.no_torch),
            "elapsed_s": time.perf_counter() - started,
        },
        "runs": runs,
    }


def main(argv=None):
    args = parse_args(argv)
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = run(args)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / f"{args.output}.json").write_text(
        json.dumps(report, indent=2) + "\n"
    )
    page = markdown_report(report)
    (args.results_dir / f"{args.output}.md").write_text(page)
    print("\n" + page)


if __name__ == "__main__":
    main()
