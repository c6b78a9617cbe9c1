"""
Labelling every step: segmenting a signal into regimes
======================================================

With ``return_sequences=True`` an LSTM estimator answers at every time step:
y holds a label per step, and so does ``predict``. Here each sequence is a
signal that switches between three regimes at random times: a slow oscillation,
a fast one and a noisy flat stretch. The classifier labels each step with its
regime, from what it has read so far: a causal segmentation, as a live
monitor needs.

A regime shows itself over a few steps, so the labels lag at each switch; the
figure shows a test signal, its true regimes and the predicted ones.
"""

# %%
# Generate signals of 60 to 120 steps, each made of 2 to 5 regime segments.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.pipeline import make_pipeline

from sklstm import LSTMClassifier, SequenceScaler

# sphinx_gallery_start_ignore
# isort: split
# Run as a script: write the figure to a file and never open a window.
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
output_dir = Path(os.environ.get("SKLSTM_EXAMPLES_OUTPUT", "."))
# sphinx_gallery_end_ignore

REGIMES = np.array(["slow", "fast", "flat"])


def make_signal(rng):
    length = rng.randint(60, 121)
    switches = np.sort(rng.choice(np.arange(10, length - 10), rng.randint(1, 5)))
    labels = np.empty(length, dtype=int)
    for start, stop in zip(np.r_[0, switches], np.r_[switches, length]):
        labels[start:stop] = rng.randint(3)
    t = np.arange(length)
    phase = rng.uniform(0, 2 * np.pi)
    signal = np.select(
        [labels == 0, labels == 1],
        [np.sin(2 * np.pi * 0.04 * t + phase), np.sin(2 * np.pi * 0.2 * t + phase)],
        default=0.0,
    )
    signal += np.where(labels == 2, 0.35, 0.1) * rng.normal(size=length)
    return signal[:, None], REGIMES[labels]


rng = np.random.RandomState(0)
sequences = [make_signal(rng) for _ in range(400)]
X = [signal for signal, _ in sequences]
y = [labels for _, labels in sequences]
X_train, y_train, X_test, y_test = X[:300], y[:300], X[300:], y[300:]

# %%
# Fit on per-step labels (a list of label arrays, one per sequence), scaled in a
# Pipeline; early stopping holds out 10% of the training sequences.
model = make_pipeline(
    SequenceScaler(),
    LSTMClassifier(
        hidden_layer_sizes=(32,),
        learning_rate_init=0.005,
        max_iter=150,
        early_stopping=True,
        return_sequences=True,
        random_state=0,
    ),
)
model.fit(X_train, y_train)
accuracy = model.score(X_test, y_test)
print(f"Accuracy over every step of the test signals: {accuracy:.3f}")

# %%
# Plot a test signal that goes through all three regimes, with its true and
# predicted regimes.
shown = next(i for i, labels in enumerate(y_test) if len(set(labels)) == 3)
signal, truth = X_test[shown][:, 0], y_test[shown]
predicted = model.predict(X_test[shown : shown + 1])[0]
code = {regime: k for k, regime in enumerate(REGIMES)}
fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(8, 4.5))
top.plot(signal, color="black", linewidth=1)
top.set_ylabel("signal")
top.set_title(f"Per-step labels (return_sequences=True), accuracy {accuracy:.2f}")
bottom.step(range(len(truth)), [code[r] for r in truth], where="mid", label="true")
bottom.step(
    range(len(predicted)),
    [code[r] for r in predicted],
    where="mid",
    linestyle="--",
    label="predicted",
)
bottom.set_yticks(range(3), REGIMES)
bottom.set_xlabel("time step")
bottom.legend(loc="upper right")
fig.tight_layout()
# sphinx_gallery_start_ignore
fig.savefig(output_dir / "per_step_labelling.png", dpi=100)
# sphinx_gallery_end_ignore
