"""
Tuning an LSTM with GridSearchCV, then saving it with joblib
============================================================

An sklstm estimator is a scikit-learn estimator, so the usual tools apply
unchanged: a :class:`~sklearn.pipeline.Pipeline` that standardises the sequences
with :class:`~sklstm.SequenceScaler` before the LSTM, a
:class:`~sklearn.model_selection.GridSearchCV` over the network's width and
learning rate, and :func:`joblib.dump` / :func:`joblib.load` to save and reload
the tuned model.

The data are scikit-learn's 8x8 digits read row by row: 8 time steps of 8
features. The figure shows the mean cross-validated accuracy over the grid.
"""

# %%
# Load the digits as sequences of rows and hold out a test set.
import tempfile
from pathlib import Path

import joblib
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline

from sklstm import LSTMClassifier, SequenceScaler

# sphinx_gallery_start_ignore
# isort: split
# Run as a script: write the figure to a file and never open a window.
import os
import warnings

import matplotlib
from sklearn.exceptions import ConvergenceWarning

matplotlib.use("Agg")
output_dir = Path(os.environ.get("SKLSTM_EXAMPLES_OUTPUT", "."))
# 20 epochs is a fixed budget here, not a convergence criterion. scikit-learn
# passes this filter on to the joblib workers that fit the candidates.
warnings.filterwarnings("ignore", category=ConvergenceWarning)
# sphinx_gallery_end_ignore

digits = load_digits()
X = digits.images  # (n_samples, 8 time steps, 8 features)
y = digits.target
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)

# %%
# Scale each feature inside the pipeline, so each CV fold learns its own statistics.
pipeline = Pipeline(
    [
        ("scale", SequenceScaler()),
        ("lstm", LSTMClassifier(batch_size=64, max_iter=20, random_state=0)),
    ]
)
param_grid = {
    "lstm__hidden_layer_sizes": [(16,), (48,)],
    "lstm__learning_rate_init": [0.001, 0.01],
}
search = GridSearchCV(pipeline, param_grid, cv=3, n_jobs=2)
search.fit(X_train, y_train)

best_score = search.best_score_
test_score = search.score(X_test, y_test)
print("best parameters:", search.best_params_)
print(f"best mean CV accuracy: {best_score:.3f}")
print(f"held-out accuracy of the refitted best model: {test_score:.3f}")

# %%
# Save the tuned pipeline with joblib, reload it and check it predicts the same.
with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "digits_lstm.joblib"
    joblib.dump(search.best_estimator_, path)
    reloaded = joblib.load(path)
predictions = search.predict(X_test)
assert np.array_equal(reloaded.predict(X_test), predictions)
print(f"reloaded model predicts identically on {len(X_test)} test digits")

# %%
# Plot the mean CV accuracy of each candidate as a heatmap.
results = search.cv_results_
sizes = param_grid["lstm__hidden_layer_sizes"]
rates = param_grid["lstm__learning_rate_init"]
scores = np.empty((len(sizes), len(rates)))
for params, score in zip(results["params"], results["mean_test_score"]):
    i = sizes.index(params["lstm__hidden_layer_sizes"])
    j = rates.index(params["lstm__learning_rate_init"])
    scores[i, j] = score

fig, ax = plt.subplots(figsize=(5, 4), layout="constrained")
image = ax.imshow(scores, cmap="viridis")
for i in range(len(sizes)):
    for j in range(len(rates)):
        # Dark text on the bright cells, light text on the dark ones.
        bright = scores[i, j] > scores.min() + 0.5 * np.ptp(scores)
        ax.text(
            j,
            i,
            f"{scores[i, j]:.3f}",
            ha="center",
            va="center",
            color="black" if bright else "white",
        )
ax.set_xticks(range(len(rates)), [str(rate) for rate in rates])
ax.set_yticks(range(len(sizes)), [str(size) for size in sizes])
ax.set_xlabel("learning_rate_init")
ax.set_ylabel("hidden_layer_sizes")
ax.set_title("Digits read row by row: mean 3-fold CV accuracy")
fig.colorbar(image, ax=ax, label="mean CV accuracy")
# sphinx_gallery_start_ignore
fig.savefig(output_dir / "plot_digits_grid_search.png", dpi=100)
# sphinx_gallery_end_ignore
