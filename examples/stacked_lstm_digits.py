"""
The classic Keras stacked-LSTM classifier, in scikit-learn
==========================================================

Keras' guide stacks three ``LSTM(32)`` layers (the first two returning sequences)
under a softmax ``Dense`` layer and trains it with rmsprop in batches of 64::

    model = keras.Sequential([
        keras.Input(shape=(timesteps, data_dim)),
        layers.LSTM(32, return_sequences=True),
        layers.LSTM(32, return_sequences=True),
        layers.LSTM(32),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(loss="categorical_crossentropy", optimizer="rmsprop",
                  metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=64, epochs=5)

With sklstm that model is one estimator. Here it reads scikit-learn's 8x8 digits
row by row: 8 time steps of 8 features. The guide's 5 epochs are for its random
data; on the 1347 training digits 5 epochs reach about 0.76 held-out accuracy, so
this example trains 30 (rmsprop, learning rate 0.002) and reaches about 0.93,
then draws the training loss of each epoch and the confusion matrix of the
held-out digits (matplotlib: ``pip install ".[examples]"``).
"""

# %%
# Load the digits as sequences of rows and standardise each feature.
import time

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.metrics import ConfusionMatrixDisplay
from sklearn.model_selection import train_test_split

from sklstm import LSTMClassifier

# sphinx_gallery_start_ignore
# isort: split
# Run as a script: write the figure to a file and never open a window; 30
# epochs is the example's budget, not a convergence criterion.
import os
import warnings
from pathlib import Path

import matplotlib
from sklearn.exceptions import ConvergenceWarning

matplotlib.use("Agg")
output_dir = Path(os.environ.get("SKLSTM_EXAMPLES_OUTPUT", "."))
warnings.filterwarnings("ignore", category=ConvergenceWarning)
# sphinx_gallery_end_ignore

digits = load_digits()
X = digits.images  # (n_samples, 8 time steps, 8 features)
y = digits.target
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)
mean = X_train.mean(axis=(0, 1))
std = X_train.std(axis=(0, 1))
X_train = (X_train - mean) / std
X_test = (X_test - mean) / std

# %%
# Three stacked LSTM(32) layers, softmax head, rmsprop, batch 64.
clf = LSTMClassifier(
    hidden_layer_sizes=(32, 32, 32),
    solver="rmsprop",
    batch_size=64,
    learning_rate_init=0.002,
    max_iter=30,
    random_state=0,
)
started = time.perf_counter()
clf.fit(X_train, y_train)
elapsed = time.perf_counter() - started

# %%
# Score on held-out digits.
accuracy = clf.score(X_test, y_test)
print(f"trained {clf.n_iter_} epochs in {elapsed:.1f} s, final loss {clf.loss_:.3f}")
print(f"held-out accuracy: {accuracy:.3f}")
print("first test digits:", clf.predict(X_test[:10]), "truth:", y_test[:10])

# %%
# The training loss of each epoch (``loss_curve_``, as in scikit-learn's MLP),
# and which digits the network confuses.
fig, (ax_loss, ax_confusion) = plt.subplots(1, 2, figsize=(10, 4.2))
ax_loss.plot(range(1, clf.n_iter_ + 1), clf.loss_curve_, marker=".")
ax_loss.set(xlabel="epoch", ylabel="training loss (cross-entropy)", yscale="log")
ax_loss.set_title("Training loss")
ConfusionMatrixDisplay.from_estimator(
    clf, X_test, y_test, ax=ax_confusion, colorbar=False
)
ax_confusion.set_title(f"Held-out digits: accuracy {accuracy:.3f}")
fig.tight_layout()
# sphinx_gallery_start_ignore
fig.savefig(output_dir / "stacked_lstm_digits.png", dpi=100)
# sphinx_gallery_end_ignore
