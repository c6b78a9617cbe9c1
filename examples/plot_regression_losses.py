"""
Prediction intervals with quantile losses, and counts with a Poisson loss
==========================================================================

:class:`~sklstm.LSTMRegressor` predicts the conditional mean by default
(``loss="squared_error"``). Two other questions need other losses:

- *How high could it go?* ``loss="quantile"`` predicts a quantile: two models,
  at 0.1 and 0.9, give an 80% prediction interval. The interval is checked on
  held-out windows, then calibrated on a separate set (conformalized quantile
  regression), which keeps its coverage honest whatever the network learnt.
- *How many?* Counts (sales, arrivals, events) have a spread that grows with
  their mean. ``loss="poisson"`` models the log of the rate, so its predictions
  are positive and its errors weigh as a Poisson process's: its mean Poisson
  deviance on new data is lower than the squared error's.

No data set is downloaded: both series are generated here from a fixed seed.
"""

# %%
# A daily series whose noise grows with its level.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import mean_poisson_deviance

from sklstm import LSTMRegressor, make_windows

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
n_days = 1500
days = np.arange(n_days)
level = 10 + 3 * np.sin(2 * np.pi * days / 7) + 4 * np.sin(2 * np.pi * days / 180)
demand = level + 0.15 * level * rng.standard_t(df=5, size=n_days)

# %%
# Windows of 28 days, each followed by the next day; the first 60% train, the
# next 20% calibrate the interval, the last 20% test it.
X, y = make_windows(demand, window=28)
y = y[:, 0]
n = len(X)
train, calibration, test = (
    slice(0, n * 6 // 10),
    slice(n * 6 // 10, n * 8 // 10),
    slice(n * 8 // 10, None),
)
X_scaled = (X - demand[: train.stop].mean()) / demand[: train.stop].std()

# %%
# Two quantile models: the 10% and the 90% quantile of tomorrow's demand.
bounds = {}
for quantile in (0.1, 0.9):
    model = LSTMRegressor(
        hidden_layer_sizes=(16,), loss="quantile", quantile=quantile, random_state=0
    )
    model.fit(X_scaled[train], y[train])
    bounds[quantile] = model
low, high = (bounds[q].predict(X_scaled) for q in (0.1, 0.9))


def coverage(part, widen=0.0):
    """Share of the targets of ``part`` inside the interval (widened)."""
    inside = (low[part] - widen <= y[part]) & (y[part] <= high[part] + widen)
    return inside.mean()


# %%
# Conformalized quantile regression: on the calibration windows, how far the
# targets fall outside the interval; widen it by the right quantile of that.
scores = np.maximum(
    low[calibration] - y[calibration], y[calibration] - high[calibration]
)
n_calibration = len(scores)
widen = np.quantile(scores, min(1.0, 0.8 * (1 + 1 / n_calibration)))
print(f"80% interval, coverage on training windows: {coverage(train):.3f}")
print(f"80% interval, coverage on test windows:     {coverage(test):.3f}")
print(
    f"conformalized (widened by {widen:+.3f}), on test windows: "
    f"{coverage(test, widen):.3f}"
)

# %%
# Counts: daily sales of a slow-moving item (about one a day) whose rate follows
# the last week's promotions and today's price.
X_counts = rng.normal(size=(3000, 14, 2))
rate = np.exp(
    -0.5
    + 1.5 * np.tanh(X_counts[:, -7:, 0].mean(axis=1) * 2)
    - 0.8 * X_counts[:, -1, 1]
)
counts = rng.poisson(rate).astype(float)
fit_part, new_part = slice(0, 2000), slice(2000, None)
deviances = {}
predictions = {}
for loss in ("squared_error", "poisson"):
    model = LSTMRegressor(
        hidden_layer_sizes=(16,), loss=loss, max_iter=60, random_state=0
    )
    model.fit(X_counts[fit_part], counts[fit_part])
    predictions[loss] = model.predict(X_counts[new_part])
    # The squared error can predict rates <= 0, where the deviance is undefined.
    positive = np.maximum(predictions[loss], 1e-3)
    deviances[loss] = mean_poisson_deviance(counts[new_part], positive)
print("mean Poisson deviance on new counts (lower is better):")
for loss, deviance in deviances.items():
    share = (predictions[loss] <= 0).mean()
    print(f"  {loss:>13}: {deviance:.4f}   ({share:.1%} predictions <= 0)")

# %%
# The interval on the test windows, and the predicted rates against the true ones.
fig, (ax_interval, ax_counts) = plt.subplots(
    1, 2, figsize=(11, 4), layout="constrained", width_ratios=(2, 1)
)
shown = np.arange(test.start, test.start + 120)
ax_interval.fill_between(
    shown,
    low[shown] - widen,
    high[shown] + widen,
    color="C0",
    alpha=0.2,
    label="80% interval, conformalized",
)
ax_interval.fill_between(
    shown,
    low[shown],
    high[shown],
    color="C0",
    alpha=0.35,
    label="80% interval, quantile models",
)
ax_interval.plot(shown, y[shown], "k.", ms=3, label="demand")
ax_interval.set_xlabel("window (test part)")
ax_interval.set_ylabel("next day's demand")
ax_interval.set_title(
    f"Test coverage {coverage(test):.2f}, conformalized {coverage(test, widen):.2f}"
)
ax_interval.legend(loc="upper left", fontsize="small")
true_rate = rate[new_part]
for loss, marker in (("squared_error", "x"), ("poisson", "o")):
    ax_counts.plot(
        true_rate,
        predictions[loss],
        marker,
        ms=3,
        alpha=0.5,
        label=f"{loss} (deviance {deviances[loss]:.3f})",
    )
ax_counts.plot([0, true_rate.max()], [0, true_rate.max()], "k--", lw=1)
ax_counts.set_xlabel("true rate")
ax_counts.set_ylabel("predicted rate")
ax_counts.set_title("Counts: Poisson against squared error")
ax_counts.legend(loc="upper left", fontsize="small")
# sphinx_gallery_start_ignore
fig.savefig(output_dir / "plot_regression_losses.png", dpi=100)
# sphinx_gallery_end_ignore
