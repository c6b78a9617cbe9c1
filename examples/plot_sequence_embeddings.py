"""
Sequences and static columns: LSTM features for a gradient-boosting model
=========================================================================

Customers come with a usage history (a sequence) and a few fixed columns (their
plan, their tenure). :meth:`~sklstm.LSTMClassifier.transform` turns each
sequence into the vector the LSTM's output layer reads (its final state), and
:class:`~sklearn.ensemble.HistGradientBoostingClassifier` takes those vectors
beside the static columns.

The LSTM is fitted on the labels, so its features fit the rows it was trained
on better than new ones: a booster trained on them would trust them too much.
The features the booster trains on are therefore *cross-fitted*: each training
row's come from an LSTM that did not see that row, as
:class:`~sklearn.ensemble.StackingClassifier` does for predictions (with
:func:`~sklearn.model_selection.cross_val_predict`). The three models are
cross-validated on the same folds.

No data set is downloaded: customers are generated here from a fixed seed.
"""

# %%
# Generate customers: a 24-month usage history, a plan and a tenure.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline

from sklstm import LSTMClassifier, SequenceScaler

# sphinx_gallery_start_ignore
# isort: split
# Run as a script: write the figure to a file and never open a window.
import os
import warnings
from pathlib import Path

import matplotlib
from sklearn.exceptions import ConvergenceWarning

matplotlib.use("Agg")
output_dir = Path(os.environ.get("SKLSTM_EXAMPLES_OUTPUT", "."))
# Fixed epoch budgets here, not a convergence criterion.
warnings.filterwarnings("ignore", category=ConvergenceWarning)
# sphinx_gallery_end_ignore

rng = np.random.RandomState(0)
n_customers, n_months = 500, 24
months = np.arange(n_months)
# Usage declines over the last months for some customers: a churn signal.
decline = rng.uniform(-1, 1, size=n_customers)
onset = rng.randint(10, 20, size=n_customers)
usage = 1 + 0.3 * np.sin(
    2 * np.pi * months / 12 + rng.uniform(0, 6, size=(n_customers, 1))
)
usage = usage - decline[:, None] * np.clip(months - onset[:, None], 0, None) / 8
usage += 0.15 * rng.normal(size=usage.shape)
X_seq = usage[:, :, None]  # (n_customers, 24 months, 1 feature)
plan = rng.randint(3, size=n_customers)  # 0: basic, 1: family, 2: business
tenure = rng.exponential(3, size=n_customers)
static = np.column_stack([plan, tenure])
# Churn depends on both: the decline, and the plan and tenure.
logit = 2.5 * decline + 1.2 * (plan == 0) - 1.2 * (plan == 2) - 0.3 * tenure
y = (logit + 0.5 * rng.logistic(size=n_customers) > 0).astype(int)
print(f"{n_customers} customers, churn rate {y.mean():.2f}")

# %%
# The three models, cross-validated on the same 3 folds.
lstm = make_pipeline(
    SequenceScaler(),
    LSTMClassifier(hidden_layer_sizes=(16,), max_iter=40, random_state=0),
)
booster = HistGradientBoostingClassifier(
    max_iter=100, categorical_features=[0], random_state=0
)


def sequences_and_static(train, test):
    """LSTM features (cross-fitted on the training rows) beside the static columns."""
    X_train, y_train = X_seq[train], y[train]
    features = np.empty((len(train), 16))
    inner = StratifiedKFold(3, shuffle=True, random_state=0)
    for fit_rows, feature_rows in inner.split(X_train, y_train):
        fitted = clone(lstm).fit(X_train[fit_rows], y_train[fit_rows])
        features[feature_rows] = fitted.transform(X_train[feature_rows])
    fitted = clone(lstm).fit(X_train, y_train)
    model = clone(booster).fit(np.hstack([static[train], features]), y_train)
    return model.predict(np.hstack([static[test], fitted.transform(X_seq[test])]))


accuracy = {"LSTM on the sequences": [], "boosting on the static columns": []}
accuracy["boosting on LSTM features + static"] = []
for train, test in StratifiedKFold(3, shuffle=True, random_state=0).split(X_seq, y):
    predictions = {
        "LSTM on the sequences": clone(lstm)
        .fit(X_seq[train], y[train])
        .predict(X_seq[test]),
        "boosting on the static columns": clone(booster)
        .fit(static[train], y[train])
        .predict(static[test]),
        "boosting on LSTM features + static": sequences_and_static(train, test),
    }
    for name, predicted in predictions.items():
        accuracy[name].append((predicted == y[test]).mean())

print(f"{'model':<36} accuracy (3-fold)")
for name, scores in accuracy.items():
    print(f"{name:<36} {np.mean(scores):.3f} +- {np.std(scores):.3f}")

# %%
# The cross-validated accuracy of each model.
fig, ax = plt.subplots(figsize=(7, 3), layout="constrained")
names = list(accuracy)
means = [np.mean(accuracy[name]) for name in names]
errors = [np.std(accuracy[name]) for name in names]
ax.barh(names, means, xerr=errors, color=["C0", "C1", "C2"])
for position, mean in enumerate(means):
    ax.text(0.51, position, f"{mean:.3f}", va="center", ha="left", color="w")
ax.set_xlim(0.5, 1.0)
ax.set_xlabel("accuracy, 3-fold cross-validation")
ax.invert_yaxis()
ax.set_title("Churn from usage sequences and static columns")
# sphinx_gallery_start_ignore
fig.savefig(output_dir / "plot_sequence_embeddings.png", dpi=100)
# sphinx_gallery_end_ignore
