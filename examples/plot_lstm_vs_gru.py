"""
LSTM or GRU: the same task, both cells
======================================

``cell="gru"`` swaps every LSTM layer for a GRU (Keras' ``GRU``, PyTorch's
``nn.GRU``): three gates instead of four, so a quarter less arithmetic per step.
Everything else stays the same, so comparing the two is one parameter.

The task needs memory: each sequence is 40 steps of noise in which a short
pattern, rising or falling, appears once somewhere in the first 15 steps; the
label is the pattern's direction, to be recalled at the last step. Both cells
are fitted on the same data with the same settings; the figure shows held-out
accuracy, fit time and the training loss per epoch.
"""

# %%
# Generate the sequences: noise, with a rising or falling ramp early on.
import time

import matplotlib.pyplot as plt
import numpy as np

from sklstm import LSTMClassifier

# sphinx_gallery_start_ignore
# isort: split
# Run as a script: write the figure to a file and never open a window.
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
output_dir = Path(os.environ.get("SKLSTM_EXAMPLES_OUTPUT", "."))
# sphinx_gallery_end_ignore


def make_sequences(n_samples, n_steps=40, rng=None):
    X = 0.5 * rng.normal(size=(n_samples, n_steps, 2))
    y = rng.randint(2, size=n_samples)
    ramp = np.linspace(-1.5, 1.5, 5)
    for x, label in zip(X, y):
        start = rng.randint(0, 11)
        x[start : start + 5, 0] += ramp if label else -ramp
    return X, y


rng = np.random.RandomState(0)
X_train, y_train = make_sequences(600, rng=rng)
X_test, y_test = make_sequences(400, rng=rng)

# %%
# Fit both cells with the same settings; early stopping keeps each one's best
# epoch on a validation split, and clipping the gradient's norm (as RNNs often
# need) keeps Adam's steps in check once the training loss is near zero.
results = {}
for cell in ("lstm", "gru"):
    model = LSTMClassifier(
        hidden_layer_sizes=(32,),
        cell=cell,
        learning_rate_init=0.005,
        max_grad_norm=1.0,
        max_iter=200,
        early_stopping=True,
        random_state=0,
    )
    started = time.perf_counter()
    model.fit(X_train, y_train)
    seconds = time.perf_counter() - started
    results[cell] = (model, model.score(X_test, y_test), seconds)
    print(
        f"{cell.upper()}: held-out accuracy {results[cell][1]:.3f}, "
        f"fit {seconds:.2f} s for {model.n_iter_} epochs "
        f"({1000 * seconds / model.n_iter_:.0f} ms an epoch)"
    )

# %%
# Accuracy, fit time per epoch and the training loss curves side by side.
names = [cell.upper() for cell in results]
colors = ["tab:blue", "tab:orange"]
fig, (left, middle, right) = plt.subplots(1, 3, figsize=(11, 3.5))
left.bar(names, [accuracy for _, accuracy, _ in results.values()], color=colors)
left.set_ylim(0.5, 1.0)
left.set_title("held-out accuracy")
per_epoch = [1000 * seconds / model.n_iter_ for model, _, seconds in results.values()]
middle.bar(names, per_epoch, color=colors)
middle.set_title("fit time per epoch (ms)")
for (model, _, _), name, color in zip(results.values(), names, colors):
    right.plot(model.loss_curve_, label=name, color=color)
right.set_xlabel("epoch")
right.set_title("training loss")
right.legend()
fig.tight_layout()
# sphinx_gallery_start_ignore
fig.savefig(output_dir / "lstm_vs_gru.png", dpi=100)
# sphinx_gallery_end_ignore
