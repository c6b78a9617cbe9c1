"""
Streaming prediction: one reading at a time
===========================================

A fitted model can run on a live stream: ``est.stream()`` returns an
``LSTMStream`` that carries each LSTM layer's state from one call to the next
(Keras' ``stateful=True``), so each new reading costs one step of the network,
not a pass over the whole history. Its predictions are exactly those of
``predict`` on the sequence so far.

The task: a sensor's signal drifts between a calm and an agitated state; a
many-to-one regressor estimates, at any moment, the fraction of the last 30
readings that were agitated. The stream is fed one reading at a time, and its
running estimate is plotted against the offline ``predict`` on every prefix
(the same numbers) and the truth.
"""

# %%
# Generate training windows of a signal whose noise level switches at random.
import time

import matplotlib.pyplot as plt
import numpy as np

from sklstm import LSTMRegressor

# sphinx_gallery_start_ignore
# isort: split
# Run as a script: write the figure to a file and never open a window.
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
output_dir = Path(os.environ.get("SKLSTM_EXAMPLES_OUTPUT", "."))
# sphinx_gallery_end_ignore

WINDOW = 30


def make_series(length, rng):
    agitated = np.zeros(length, dtype=bool)
    t = 0
    while t < length:
        duration = rng.randint(10, 60)
        agitated[t : t + duration] = rng.uniform() < 0.5
        t += duration
    signal = np.where(agitated, 1.0, 0.2) * rng.normal(size=length)
    return signal.astype(np.float32)[:, None], agitated


def recent_fraction(agitated):
    """Fraction of the last WINDOW readings that were agitated, at every step."""
    counts = np.cumsum(np.r_[0, agitated.astype(float)])
    steps = np.arange(1, len(agitated) + 1)
    return (counts[steps] - counts[np.maximum(steps - WINDOW, 0)]) / np.minimum(
        steps, WINDOW
    )


rng = np.random.RandomState(0)
series, agitated = make_series(20000, rng)
target = recent_fraction(agitated)
# Training sequences: prefixes of 20 to 80 readings from random points.
starts = rng.randint(0, len(series) - 80, size=800)
lengths = rng.randint(20, 81, size=800)
X = [series[s : s + n] for s, n in zip(starts, lengths)]
y = [recent_fraction(agitated[s : s + n])[-1] for s, n in zip(starts, lengths)]

# %%
# Fit a many-to-one regressor (float32, as the data), with early stopping.
model = LSTMRegressor(
    hidden_layer_sizes=(16,),
    learning_rate_init=0.005,
    max_iter=200,
    early_stopping=True,
    random_state=0,
)
model.fit(X, y)

# %%
# Feed a new signal one reading at a time, and compare with predict on prefixes.
live, live_agitated = make_series(300, np.random.RandomState(1))
stream = model.stream()
started = time.perf_counter()
running = np.array([stream.predict(reading[None])[0] for reading in live])
per_reading = (time.perf_counter() - started) / len(live)
offline = np.array([model.predict(live[None, : t + 1])[0] for t in range(len(live))])
print(f"{per_reading * 1e6:.0f} µs per reading")
difference = np.abs(running - offline).max()
print(f"largest difference from predict on the prefixes: {difference:.2g}")

# %%
# Plot the running estimate, the offline one and the truth.
fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(8, 4.5))
top.plot(live[:, 0], color="black", linewidth=0.8)
top.set_ylabel("reading")
top.set_title("Streaming prediction, one reading at a time")
bottom.plot(recent_fraction(live_agitated), color="gray", label="truth")
bottom.plot(offline, linewidth=3, alpha=0.4, label="predict on each prefix")
bottom.plot(running, linestyle="--", label="stream, reading by reading")
bottom.set_ylabel(f"agitated share\nof last {WINDOW}")
bottom.set_xlabel("reading")
bottom.legend(loc="upper right", fontsize=8)
fig.tight_layout()
# sphinx_gallery_start_ignore
fig.savefig(output_dir / "streaming.png", dpi=100)
# sphinx_gallery_end_ignore
