"""
Learning curves and early stopping on sequences of different lengths
====================================================================

With ``early_stopping=True`` an LSTM estimator holds out ``validation_fraction``
of the training sequences (or takes ``X_val``, ``y_val`` passed to ``fit``),
scores them after every epoch and stops once the score has not improved for
``n_iter_no_change`` epochs, keeping the weights of the best epoch
(``best_iter_``), or their moving average up to it (``ema_momentum``) when that
scores at least as well on the held-out sequences. ``scoring`` says what is monitored: the validation loss by
default, here the accuracy. ``loss_curve_`` records the training loss of each
epoch, ``validation_scores_`` the held-out score and ``best_validation_score_``
that of the weights kept; :class:`~sklstm.TrainingCurveDisplay` draws them.

The task: tell a slow noisy sine from a fast one. The sequences are 20 to 80
steps long and go into the estimator as they are, a list of 2-D arrays
``(n_timesteps_i, 1)``, with no padding.
"""

# %%
# Generate noisy sines of random length, phase and amplitude; label the fast ones 1.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.base import clone
from sklearn.model_selection import train_test_split

from sklstm import LSTMClassifier, TrainingCurveDisplay

# sphinx_gallery_start_ignore
# isort: split
# Run as a script: write the figure to a file and never open a window.
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
output_dir = Path(os.environ.get("SKLSTM_EXAMPLES_OUTPUT", "."))
# sphinx_gallery_end_ignore

rng = np.random.RandomState(0)
n_sequences = 1200
lengths = rng.randint(20, 81, size=n_sequences)
y = rng.randint(2, size=n_sequences)
# Cycles per step: slow in [0.04, 0.08), fast in [0.08, 0.12), so they touch at 0.08.
frequency = np.where(y == 1, 0.08, 0.04) + 0.04 * rng.uniform(size=n_sequences)
X = []
for length, freq in zip(lengths, frequency):
    t = np.arange(length)
    phase = rng.uniform(0, 2 * np.pi)
    amplitude = rng.uniform(0.5, 1.5)
    signal = amplitude * np.sin(2 * np.pi * freq * t + phase)
    X.append((signal + 0.3 * rng.normal(size=length))[:, None])

X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)
print(f"{len(X_train)} training sequences of {lengths.min()} to {lengths.max()} steps")

# %%
# Fit with early stopping: 20% of the training set is held out for validation.
clf = LSTMClassifier(
    hidden_layer_sizes=(16,),
    batch_size=32,
    learning_rate_init=0.002,
    max_iter=200,
    early_stopping=True,
    validation_fraction=0.2,
    n_iter_no_change=10,
    scoring="accuracy",
    random_state=0,
)
clf.fit(X_train, y_train)
best_epoch = clf.best_iter_
print(
    f"stopped after {clf.n_iter_} epochs; best validation accuracy "
    f"{clf.best_validation_score_:.3f} at epoch {best_epoch}"
)
test_accuracy = clf.score(X_test, y_test)
print(f"held-out accuracy with the weights kept: {test_accuracy:.3f}")

# %%
# The same with ``learning_rate="adaptive"``: on each plateau of the validation
# accuracy the rate is divided by 5 instead of stopping, until it falls to 1e-6.
adaptive = clone(clf).set_params(learning_rate="adaptive", max_iter=120)
adaptive.fit(X_train, y_train)
rates = sorted(set(adaptive.learning_rate_curve_), reverse=True)
print(
    f"adaptive: {adaptive.n_iter_} epochs at rates {rates}, held-out accuracy "
    f"{adaptive.score(X_test, y_test):.3f}"
)

# %%
# Plot each fit with TrainingCurveDisplay (scikit-learn's Display convention:
# ``ax_``, ``figure_``): the training loss, the validation accuracy, the epoch
# whose weights were kept and, when it changed, the learning rate.
fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 7), layout="constrained")
TrainingCurveDisplay.from_estimator(clf, ax=top)
top.set_title("early_stopping=True, scoring='accuracy': slow vs fast sines")
TrainingCurveDisplay.from_estimator(adaptive, ax=bottom)
bottom.set_title('The same with learning_rate="adaptive"')
# sphinx_gallery_start_ignore
fig.savefig(output_dir / "plot_learning_curves.png", dpi=100)
# sphinx_gallery_end_ignore
