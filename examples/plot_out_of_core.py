"""
Training on data larger than memory: partial_fit over a memory-mapped file
==========================================================================

``partial_fit`` runs one epoch over whatever it is given, so a loop can feed it
the training set a chunk at a time. From a NumPy ``.npy`` file opened with
``np.load(path, mmap_mode="r")``, slicing a chunk reads only its pages from disk,
and the operating system drops them again when memory is short: the process holds
about one chunk plus the network, and the file can be larger than the machine's
memory. The same loop works over several files or chunks made on the fly.

(``fit`` also accepts the memory map whole and does not copy it, but it draws
each shuffled minibatch from anywhere in the file, which on a file larger than
memory means random reads from disk; and ``early_stopping=True`` copies the
training part out.)

The task: each time step's increment of a random walk is spread over 32 noisy
features along a fixed, unknown direction, and the label is the sign of the
walk's end, so the network has to find that direction and add up over time. The
training file here is 96 MiB so that the example runs in seconds; the loop is the
same for a file of any size. The figure compares the held-out accuracy after
each chunk, over three passes, with an in-memory ``fit`` on the part of the data
that one chunk's memory holds (one eighth), trained for as many minibatch updates.
"""

# %%
# Write the training set to a .npy file, chunk by chunk, through a memory map.
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from sklstm import LSTMClassifier

# sphinx_gallery_start_ignore
# isort: split
# Run as a script: write the figure to a file and never open a window.
import os
import warnings

import matplotlib
from sklearn.exceptions import ConvergenceWarning

matplotlib.use("Agg")
output_dir = Path(os.environ.get("SKLSTM_EXAMPLES_OUTPUT", "."))
# sphinx_gallery_end_ignore

n_steps, n_features = 24, 32
direction = np.random.default_rng(0).standard_normal(n_features)
direction = (direction / np.linalg.norm(direction)).astype(np.float32)


def make_sequences(n, seed):
    rng = np.random.default_rng(seed)
    increments = rng.standard_normal((n, n_steps), dtype=np.float32)
    X = rng.standard_normal((n, n_steps, n_features), dtype=np.float32)
    X *= 0.3
    X += increments[:, :, None] * direction
    return X, (increments.sum(axis=1) > 0).astype(np.int8)


chunk_size = 4096  # sequences per partial_fit call: 12 MiB of float32
n_chunks = 8
n_samples = chunk_size * n_chunks
folder = tempfile.TemporaryDirectory()
X_path, y_path = Path(folder.name) / "X.npy", Path(folder.name) / "y.npy"
# open_memmap writes a .npy header, then maps the array: the writer never holds
# more than one chunk in memory either.
X_file = np.lib.format.open_memmap(
    X_path, mode="w+", dtype=np.float32, shape=(n_samples, n_steps, n_features)
)
y_file = np.lib.format.open_memmap(y_path, mode="w+", dtype=np.int8, shape=(n_samples,))
for k in range(n_chunks):
    part = slice(k * chunk_size, (k + 1) * chunk_size)
    X_file[part], y_file[part] = make_sequences(chunk_size, seed=100 + k)
X_file.flush()
y_file.flush()
del X_file, y_file
print(f"{X_path.name}: {X_path.stat().st_size / 2**20:.0f} MiB, {n_samples} sequences")

X_val, y_val = make_sequences(4000, seed=1)

# %%
# Stream: three passes of partial_fit over the chunks of the memory-mapped file.
X, y = np.load(X_path, mmap_mode="r"), np.load(y_path, mmap_mode="r")
params = dict(
    hidden_layer_sizes=(32,), batch_size=256, learning_rate_init=0.003, random_state=0
)
streamed = LSTMClassifier(**params)
n_passes = 3
scores = []
for epoch in range(n_passes):
    # A new chunk order each pass, as fit shuffles each epoch.
    order = np.random.default_rng(epoch).permutation(n_chunks)
    for k in order:
        part = slice(k * chunk_size, (k + 1) * chunk_size)
        streamed.partial_fit(X[part], y[part], classes=[0, 1])
        scores.append(streamed.score(X_val, y_val))
print(f"streamed, after {n_passes} passes: validation accuracy {scores[-1]:.3f}")

# %%
# Compare: fit in memory on the first chunk only, for as many minibatch updates.
# It sees the same 4096 sequences 24 times, the streamed model each sequence 3.
X_sub, y_sub = np.array(X[:chunk_size]), np.array(y[:chunk_size])
n_epochs = n_passes * n_chunks
# sphinx_gallery_start_ignore
# A fixed number of epochs, not a convergence criterion. Set after the
# partial_fit loop, so that its warnings still show.
warnings.filterwarnings("ignore", category=ConvergenceWarning)
# sphinx_gallery_end_ignore
in_memory = LSTMClassifier(**params, max_iter=n_epochs).fit(X_sub, y_sub)
in_memory_score = in_memory.score(X_val, y_val)
print(
    f"in memory, {chunk_size} sequences, {n_epochs} epochs: validation accuracy "
    f"{in_memory_score:.3f} (training accuracy {in_memory.score(X_sub, y_sub):.3f})"
)
del X, y  # close the memory maps before removing the files
folder.cleanup()

# %%
# Plot the validation accuracy after each chunk.
fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
chunks_seen = np.arange(1, len(scores) + 1)
ax.plot(chunks_seen, scores, "o-", ms=3, label="partial_fit, one chunk at a time")
ax.axhline(
    in_memory_score,
    color="C3",
    ls="--",
    label=f"fit in memory on 1/{n_chunks} of the data, {n_epochs} epochs",
)
for epoch in range(1, n_passes):
    ax.axvline(epoch * n_chunks + 0.5, color="0.7", lw=1)
ax.set_xlabel(f"chunks of {chunk_size} sequences seen (passes separated by lines)")
ax.set_ylabel("validation accuracy")
ax.set_title("Streaming a memory-mapped .npy through partial_fit")
ax.legend(loc="lower right")
# sphinx_gallery_start_ignore
fig.savefig(output_dir / "plot_out_of_core.png", dpi=100)
# sphinx_gallery_end_ignore
