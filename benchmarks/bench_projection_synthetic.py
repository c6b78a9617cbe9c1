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
  readings, in the recommended pipeline (scaler, patcher, 64 units).

Run from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/bench_projection_synthetic.py
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


TASKS = {
    "running sum, (16,), lr 0.01, 60 epochs": (
        running_sum,
        {"hidden_layer_sizes": (16,), "learning_rate_init": 0.01, "max_iter": 60},
    ),
    "running sum, defaults": (running_sum, {}),
    "digits rows, defaults": (digits_rows, {}),
    "waves, recommended pipeline": (waves, {}),
}


def main():
    warnings.simplefilter("ignore")
    print('| task | None | "auto" |\n|---|---|---|')
    for name, (task, params) in TASKS.items():
        cells = []
        for projection in (None, "auto"):
            scores = [task(s, input_projection=projection, **params) for s in SEEDS]
            cells.append(f"{np.mean(scores):.3f} ± {np.std(scores, ddof=1):.3f}")
        print(f"| {name} | {cells[0]} | {cells[1]} |", flush=True)


if __name__ == "__main__":
    main()
