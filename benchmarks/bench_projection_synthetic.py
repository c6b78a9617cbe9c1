"""``input_projection`` on generated tasks no issue named: None against "auto".

The real-data benchmark judges defaults; these tasks are the other sequence
classifiers a user fits, generated here (nothing downloaded), each fitted with
seeds 0-4 and scored on held-out data:

- "running sum": 6 steps of 3 features, the label the sign band of the first
  feature's running sum (the estimators' tests' task), 400 training and 200
  test sequences, at the defaults and at ``hidden_layer_sizes=(16,),
  learning_rate_init=0.01, max_iter=60`` (the test's settings);
- "digits rows": scikit-learn's digits read row by row (8 steps of 8 features),
  ``SequenceScaler`` then the classifier at its defaults;
- "waves": the getting-started page's noisy slow and fast waves, 50-300
  readings, in the recommended pipeline (scaler, patcher, 64 units);
- "an event in noise": the gallery's LSTM-or-GRU task (40 steps of noise, a
  rising or falling 5-step ramp somewhere in the first 15 steps of the first
  channel, the label its direction: a short event to remember), 600 training
  and 400 test sequences, with 2 channels at the example's settings
  (``learning_rate_init=0.005``, ``max_grad_norm=1``, early stopping, 32 units)
  and with 2 and 8 channels (the others noise only) at the defaults and in the
  recommended pipeline.

Run from the repository root (``--tasks`` takes a comma-separated list of
task numbers, counted from 0 in the table's order, to split the run)::

    OMP_NUM_THREADS=1 python benchmarks/bench_projection_synthetic.py [--tasks 0,1]
"""

import sys
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from sklstm import LSTMClassifier, SequencePatcher, SequenceScaler

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_estimators import sequence_data  # noqa: E402

SEEDS = range(5)


def running_sum(seed, **params):
    X, y, _ = sequence_data(n_samples=400, seed=1)
    X_test, y_test, _ = sequence_data(n_samples=200, seed=2)
    model = LSTMClassifier(random_state=seed, **params).fit(X, y)
    return model.score(X_test, y_test)


def digits_rows(seed, **params):
    digits = load_digits()
    split = train_test_split(digits.images / 16.0, digits.target, random_state=0)
    X_train, X_test, y_train, y_test = split
    model = make_pipeline(SequenceScaler(), LSTMClassifier(random_state=seed, **params))
    return model.fit(X_train, y_train).score(X_test, y_test)


def waves(seed, **params):
    rng = np.random.default_rng(0)
    y = rng.integers(2, size=300)
    X = []
    for label in y:
        t = np.arange(rng.integers(50, 301))
        cycles = rng.uniform(0.01, 0.02) if label == 0 else rng.uniform(0.02, 0.03)
        wave = np.sin(2 * np.pi * cycles * t + rng.uniform(0, 2 * np.pi))
        X.append((wave + rng.normal(size=t.size))[:, np.newaxis])
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, stratify=y, random_state=0
    )
    model = make_pipeline(
        SequenceScaler(),
        SequencePatcher(),
        LSTMClassifier(hidden_layer_sizes=(64,), random_state=seed, **params),
    )
    return model.fit(X_train, y_train).score(X_test, y_test)


def event_in_noise(seed, n_channels=2, pipeline=False, **params):
    rng = np.random.RandomState(0)

    def make(n_samples):
        X = 0.5 * rng.normal(size=(n_samples, 40, n_channels))
        y = rng.randint(2, size=n_samples)
        ramp = np.linspace(-1.5, 1.5, 5)
        for x, label in zip(X, y):
            start = rng.randint(0, 11)
            x[start : start + 5, 0] += ramp if label else -ramp
        return X, y

    (X_train, y_train), (X_test, y_test) = make(600), make(400)
    if pipeline:
        model = make_pipeline(
            SequenceScaler(),
            SequencePatcher(),
            LSTMClassifier(hidden_layer_sizes=(64,), random_state=seed, **params),
        )
    else:
        model = LSTMClassifier(random_state=seed, **params)
    return model.fit(X_train, y_train).score(X_test, y_test)


TASKS = {
    "running sum, (16,), lr 0.01, 60 epochs": (
        running_sum,
        {"hidden_layer_sizes": (16,), "learning_rate_init": 0.01, "max_iter": 60},
    ),
    "running sum, defaults": (running_sum, {}),
    "digits rows, defaults": (digits_rows, {}),
    "waves, recommended pipeline": (waves, {}),
    "event in noise, 2 channels, the example's settings": (
        event_in_noise,
        {
            "hidden_layer_sizes": (32,),
            "learning_rate_init": 0.005,
            "max_grad_norm": 1.0,
            "early_stopping": True,
        },
    ),
    "event in noise, 2 channels, defaults": (event_in_noise, {}),
    "event in noise, 8 channels, defaults": (event_in_noise, {"n_channels": 8}),
    "event in noise, 2 channels, recommended pipeline": (
        event_in_noise,
        {"pipeline": True},
    ),
    "event in noise, 8 channels, recommended pipeline": (
        event_in_noise,
        {"n_channels": 8, "pipeline": True},
    ),
}


def main(argv):
    warnings.simplefilter("ignore")
    chosen = range(len(TASKS))
    if argv[:1] == ["--tasks"]:
        chosen = [int(number) for number in argv[1].split(",")]
    print('| task | None | "auto" |\n|---|---|---|')
    for number, (name, (task, params)) in enumerate(TASKS.items()):
        if number not in chosen:
            continue
        cells = []
        for projection in (None, "auto"):
            scores = [task(s, input_projection=projection, **params) for s in SEEDS]
            cells.append(f"{np.mean(scores):.3f} ± {np.std(scores, ddof=1):.3f}")
        print(f"| {name} | {cells[0]} | {cells[1]} |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
