"""
Deploying a model without pickle: ONNX and skops
================================================

A fitted model often has to run where there is no Python (a C++ or C#
service, a phone, a browser) or be loaded from a file nobody should have to
trust with running code. ``import sklstm.onnx`` teaches skl2onnx to convert
sklstm's estimators into an ONNX graph built on ONNX's own ``LSTM`` operator,
which onnxruntime (or any ONNX runtime) executes; ``skops.io`` saves and loads
a model without pickle, trusting only the types you name.

The task: recognise the shape of a noisy waveform (sine, square or sawtooth)
from sequences of 20 to 60 readings. The pipeline is exported once, with a
second input for each sequence's length, and onnxruntime's probabilities are
compared with ``predict_proba``'s on held-out sequences.
"""

# %%
# Generate waveforms of different lengths and fit a pipeline.
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import onnxruntime
import skops.io
from skl2onnx import to_onnx
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

import sklstm.onnx  # noqa: F401 (registers sklstm's converters with skl2onnx)
from sklstm import LSTMClassifier, SequenceScaler
from sklstm.onnx import pad_sequences, sequence_types

# sphinx_gallery_start_ignore
# isort: split
# Run as a script: write the figure to a file and never open a window.
import os

import matplotlib

matplotlib.use("Agg")
output_dir = Path(os.environ.get("SKLSTM_EXAMPLES_OUTPUT", "."))
# sphinx_gallery_end_ignore

WAVES = ("sine", "square", "sawtooth")


def waveform(kind, length, rng):
    phase = rng.uniform(0, 2 * np.pi) + np.arange(length) * rng.uniform(0.2, 0.5)
    clean = {
        "sine": np.sin(phase),
        "square": np.sign(np.sin(phase)),
        "sawtooth": (phase / np.pi) % 2 - 1,
    }[kind]
    return (3 * clean + rng.normal(scale=0.6, size=length) + 5)[:, None]


rng = np.random.RandomState(0)
labels = rng.choice(WAVES, size=600)
sequences = [waveform(kind, rng.randint(20, 61), rng) for kind in labels]
X_train, X_test, y_train, y_test = train_test_split(
    sequences, labels, test_size=200, random_state=0
)
model = make_pipeline(
    SequenceScaler(dtype=np.float32),
    LSTMClassifier(hidden_layer_sizes=(24,), early_stopping=True, random_state=0),
).fit(X_train, y_train)
print(f"Held-out accuracy (sklstm): {model.score(X_test, y_test):.3f}")

# %%
# Convert to ONNX: dynamic batch and length, and an input for the lengths.
# ``options={"zipmap": False}`` gives the probabilities as one tensor.
onx = to_onnx(
    model,
    initial_types=sequence_types(n_features=1, dtype=np.float32, lengths=True),
    options={"zipmap": False},
)
with tempfile.TemporaryDirectory() as folder:
    path = Path(folder) / "waveforms.onnx"
    path.write_bytes(onx.SerializeToString())
    print(f"ONNX model: {path.stat().st_size / 1024:.0f} KiB")
    session = onnxruntime.InferenceSession(
        str(path), providers=["CPUExecutionProvider"]
    )

# %%
# Run it on the held-out sequences, padded into one batch with their lengths.
X_padded, lengths = pad_sequences(X_test, dtype=np.float32)
onnx_labels, onnx_probabilities = session.run(None, {"X": X_padded, "lengths": lengths})
probabilities = model.predict_proba(X_test)
difference = np.abs(onnx_probabilities - probabilities).max()
print(f"Largest difference in a probability: {difference:.1e}")
print(f"Labels that differ: {np.sum(onnx_labels != model.predict(X_test))}")


def median_seconds(run, repeats=7):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return np.median(times)


sklstm_time = median_seconds(lambda: model.predict_proba(X_test))
onnx_time = median_seconds(
    lambda: session.run(None, {"X": X_padded, "lengths": lengths})
)
print(
    f"200 sequences: sklstm {1e3 * sklstm_time:.1f} ms, "
    f"onnxruntime {1e3 * onnx_time:.1f} ms"
)

# %%
# Save and load with skops: the types it does not know are sklstm's own, which
# are reviewed and trusted by name (never ``trusted=True`` on a file you got).
dumped = skops.io.dumps(model)
unknown = skops.io.get_untrusted_types(data=dumped)
print("Types to review before loading:", unknown)
loaded = skops.io.loads(dumped, trusted=unknown)
same = np.array_equal(loaded.predict_proba(X_test), probabilities)
print(f"skops round trip gives identical probabilities: {same}")

# %%
# onnxruntime's probabilities against sklstm's, per class.
fig, (ax_scatter, ax_difference) = plt.subplots(1, 2, figsize=(10, 4))
for column, kind in enumerate(model.classes_):
    ax_scatter.scatter(
        probabilities[:, column], onnx_probabilities[:, column], s=10, label=kind
    )
ax_scatter.plot([0, 1], [0, 1], color="grey", linewidth=0.8)
ax_scatter.set(
    xlabel="predict_proba (sklstm)",
    ylabel="onnxruntime",
    title="Class probabilities of 200 held-out sequences",
)
ax_scatter.legend()
ax_difference.hist(
    (onnx_probabilities - probabilities).ravel(), bins=40, color="tab:grey", log=True
)
ax_difference.set(
    xlabel="onnxruntime - sklstm",
    ylabel="number of probabilities",
    title="Differences (float32 rounding)",
)
fig.tight_layout()
# sphinx_gallery_start_ignore
fig.savefig(output_dir / "deployment.png", dpi=100)
# sphinx_gallery_end_ignore
