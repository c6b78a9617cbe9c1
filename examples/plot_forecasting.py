"""
Forecasting an hourly load series several hours ahead
=====================================================

:func:`~sklstm.make_windows` cuts a time series into input windows of past values
and the values that follow each window; an :class:`~sklstm.LSTMRegressor` behind a
:class:`~sklstm.SequenceScaler` then learns to predict the next hours from the
last two days. :class:`~sklearn.model_selection.TimeSeriesSplit` cross-validates
the model without looking ahead, inside :class:`~sklearn.model_selection.GridSearchCV`.

No data set is downloaded: the series is generated here, shaped like an
electricity load (in GW) sampled every hour for 9 weeks: a daily cycle with
morning and evening peaks, quieter weekends, a slow upward trend and
autocorrelated noise, drawn from a fixed random seed.
"""

# %%
# Generate 9 weeks of hourly "electricity load".
import matplotlib.pyplot as plt
import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.metrics import mean_absolute_error
from sklearn.model_selection import GridSearchCV, TimeSeriesSplit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklstm import LSTMRegressor, SequenceScaler, make_windows

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
# 25 epochs is a fixed budget here, not a convergence criterion.
warnings.filterwarnings("ignore", category=ConvergenceWarning)
# sphinx_gallery_end_ignore

rng = np.random.RandomState(0)
n_hours = 9 * 7 * 24
hours = np.arange(n_hours)
hour_of_day = hours % 24
weekend = (hours // 24) % 7 >= 5
daily = 0.25 * np.exp(-(((hour_of_day - 8) / 2.5) ** 2)) + 0.35 * np.exp(
    -(((hour_of_day - 19) / 3.0) ** 2)
)
noise = np.zeros(n_hours)
for t in range(1, n_hours):  # AR(1): errors persist for a few hours
    noise[t] = 0.8 * noise[t - 1] + 0.03 * rng.normal()
load = 1.0 + daily * np.where(weekend, 0.6, 1.0) - 0.1 * weekend
load += 0.1 * hours / n_hours + noise
times = np.datetime64("2025-01-06T00") + hours * np.timedelta64(1, "h")

# %%
# Cut the series into 48-hour windows, each followed by the 6 hours to predict.
window, horizon = 48, 6
X, y, index = make_windows(load, window=window, horizon=horizon, return_index=True)
print(f"{n_hours} hours -> X {X.shape}, y {y.shape}")

# %%
# Standardise the inputs with SequenceScaler and the targets with StandardScaler.
# The load sits around 1.3 GW: on standardised targets the network's output
# starts at the right scale instead of spending epochs moving its bias there.
lstm = make_pipeline(
    SequenceScaler(),
    LSTMRegressor(
        hidden_layer_sizes=(32,),
        batch_size=64,
        learning_rate_init=0.01,
        max_iter=25,
        random_state=0,
    ),
)
model = TransformedTargetRegressor(lstm, transformer=StandardScaler())

# %%
# Cross-validate in time order, leaving a gap of horizon - 1 windows.
# Window i predicts hours index[i] .. index[i] + 5, so the last training window's
# targets are also targets of the next 5 windows. Without the gap, those first
# test windows would be scored on values the model was fitted to.
# GridSearchCV takes the same splitter to choose the step size.
cv = TimeSeriesSplit(n_splits=3, gap=horizon - 1)
search = GridSearchCV(
    model,
    {"regressor__lstmregressor__learning_rate_init": [0.003, 0.01]},
    cv=cv,
)
search.fit(X, y)
print("best learning_rate_init:", search.best_params_)
best = search.best_index_
cv_scores = [search.cv_results_[f"split{k}_test_score"][best] for k in range(3)]
print("TimeSeriesSplit R^2 per fold:", np.round(cv_scores, 3))
model = search.best_estimator_

# %%
# Refit on the first 80% of the windows and forecast the last 20%.
n_train = int(0.8 * len(X))
# Drop the windows whose targets overlap the training targets, as the gap above.
test = slice(n_train + horizon - 1, None)
model.fit(X[:n_train], y[:n_train])
y_pred = model.predict(X[test])
y_test, index_test = y[test], index[test]

mae = mean_absolute_error(y_test, y_pred, multioutput="raw_values")
# Seasonal naive baseline: the load at the same hour one day earlier.
naive = load[index_test[:, None] + np.arange(horizon) - 24]
mae_naive = mean_absolute_error(y_test, naive, multioutput="raw_values")
print(f"test windows: {len(index_test)}, first target at {times[index_test[0]]}")
print("test MAE (GW) per step ahead, LSTM: ", np.round(mae, 4))
print("test MAE (GW) per step ahead, naive:", np.round(mae_naive, 4))

# %%
# Plot the 1-hour-ahead forecast and some full 6-hour forecasts against the truth.
fig, ax = plt.subplots(figsize=(10, 4), layout="constrained")
shown = slice(index_test[0] - 24, None)
ax.plot(times[shown], load[shown], color="0.6", lw=2, label="observed load")
ax.plot(times[index_test], y_pred[:, 0], color="C0", lw=1, label="1 h ahead forecast")
for k, i in enumerate(range(0, len(index_test), 29)):
    steps = times[index_test[i] : index_test[i] + horizon]
    ax.plot(
        steps,
        y_pred[i],
        "o-",
        color="C3",
        ms=3,
        lw=1,
        label="6 h forecast from one window" if k == 0 else None,
    )
ax.axvline(times[index_test[0]], color="k", ls="--", lw=1, label="first test target")
ax.set_xlabel("time (hourly)")
ax.set_ylabel("load (GW)")
ax.set_title(
    f"LSTM forecast of the last 20% of the series (window {window} h, "
    f"horizon {horizon} h)"
)
ax.margins(y=0.25)  # room for the legend above the curves
ax.legend(loc="upper left", ncols=4)
fig.autofmt_xdate()
# sphinx_gallery_start_ignore
fig.savefig(output_dir / "plot_forecasting.png", dpi=100)
# sphinx_gallery_end_ignore
