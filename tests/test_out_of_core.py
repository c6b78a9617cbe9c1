"""Out-of-core training: partial_fit streams a memory-mapped .npy larger than memory.

A child process limits its own data segment with ``RLIMIT_DATA`` (the limit stays
out of pytest). Linux counts private writable memory (heap, anonymous mmaps) against
that limit, not shared file mappings: the ``.npy`` written through
``np.lib.format.open_memmap`` and read back with ``np.load(..., mmap_mode="r")``
lives in the page cache, where the kernel can drop it again. The child shows that
the file is larger than the whole limit, that loading it into memory fails with a
MemoryError, and that a loop of ``partial_fit`` over chunks of the memory map trains
a model as good as an in-memory ``fit`` on the subsample that does fit.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"),
    reason="RLIMIT_DATA counts private writable memory only on Linux (>= 4.7)",
)

MIB = 2**20
# The child may use what it holds once sklstm is imported and has trained one
# minibatch (interpreter, libraries, BLAS buffers and thread stacks) plus this.
BUDGET_MIB = 128
CHUNK = 4096  # sequences of 24 steps x 32 features per partial_fit call: 12 MiB
SUBSAMPLE = 2 * CHUNK  # 24 MiB: what an in-memory fit gets within the budget
# One BLAS thread: BLAS reserves buffers per thread, so the baseline (and the
# file, sized to exceed baseline + budget) would grow with the core count; and
# on a busy machine, spinning BLAS threads made this test 10x slower.
THREADS = "1"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

CHILD = textwrap.dedent(
    """
    import json
    import resource
    import sys
    import warnings
    from pathlib import Path

    import numpy as np
    from sklearn.exceptions import ConvergenceWarning

    from sklstm import LSTMClassifier

    warnings.simplefilter("error")
    folder = Path(sys.argv[1])
    budget, chunk, subsample = map(int, sys.argv[2:])
    n_steps, n_features = 24, 32
    # Each time step's increment of a random walk is spread over 32 noisy
    # features along a fixed direction; the label is the sign of the walk's end,
    # so the network has to find the direction and sum over time.
    direction = np.random.default_rng(0).standard_normal(n_features)
    direction = (direction / np.linalg.norm(direction)).astype(np.float32)


    def make_sequences(n, seed):
        rng = np.random.default_rng(seed)
        increments = rng.standard_normal((n, n_steps), dtype=np.float32)
        X = rng.standard_normal((n, n_steps, n_features), dtype=np.float32)
        X *= 0.2
        X += increments[:, :, None] * direction
        return X, (increments.sum(axis=1) > 0).astype(np.int8)


    def vm_data():
        status = Path("/proc/self/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmData"))
        return int(line.split()[1]) * 1024


    def new_model(**params):
        return LSTMClassifier(
            hidden_layer_sizes=(8,),
            batch_size=256,
            learning_rate_init=0.01,
            random_state=0,
            **params,
        )


    # One minibatch first, so that BLAS has allocated its buffers and started its
    # threads: they belong to the baseline, not to the budget.
    X_warm, y_warm = make_sequences(256, seed=1)
    new_model().partial_fit(X_warm, y_warm, classes=[0, 1])
    del X_warm, y_warm
    limit = vm_data() + budget
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))

    # Write the training set, 10% larger than the limit and a whole number of
    # subsamples, chunk by chunk through a shared, writable memory map.
    subsample_bytes = subsample * n_steps * n_features * 4
    n_samples = -(-int(1.1 * limit) // subsample_bytes) * subsample
    X_path, y_path = folder / "X.npy", folder / "y.npy"
    X_out = np.lib.format.open_memmap(
        X_path, mode="w+", dtype=np.float32, shape=(n_samples, n_steps, n_features)
    )
    y_out = np.lib.format.open_memmap(
        y_path, mode="w+", dtype=np.int8, shape=(n_samples,)
    )
    for k, start in enumerate(range(0, n_samples, chunk)):
        X_out[start : start + chunk], y_out[start : start + chunk] = make_sequences(
            chunk, seed=100 + k
        )
    X_out.flush()
    y_out.flush()
    del X_out, y_out

    try:
        np.load(X_path)
    except MemoryError as exc:
        load_error = f"{type(exc).__name__}: {exc}"
    else:
        load_error = None
    X_test, y_test = make_sequences(4000, seed=2)

    # Out of core: one pass of partial_fit over chunks of the memory map.
    X, y = np.load(X_path, mmap_mode="r"), np.load(y_path, mmap_mode="r")
    streamed = new_model()
    for start in range(0, n_samples, chunk):
        streamed.partial_fit(
            X[start : start + chunk], y[start : start + chunk], classes=[0, 1]
        )

    # fit takes the whole memory map too: it gathers each minibatch from it and
    # never copies the data (one epoch, to show it runs under the limit).
    whole = new_model(max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        whole.fit(X, y)

    # In memory: the subsample that fits, trained for as many minibatch updates.
    X_sub, y_sub = np.array(X[:subsample]), np.array(y[:subsample])
    epochs = n_samples // subsample
    with warnings.catch_warnings():
        # A fixed number of epochs, not a convergence criterion.
        warnings.simplefilter("ignore", ConvergenceWarning)
        in_memory = new_model(max_iter=epochs).fit(X_sub, y_sub)

    print(json.dumps({
        "limit": limit,
        "vm_data_end": vm_data(),
        "file_bytes": X_path.stat().st_size,
        "load_error": load_error,
        "n_samples": n_samples,
        "samples_seen": streamed.t_,
        "fit_on_memory_map_samples_seen": whole.t_,
        "fit_on_memory_map_score": whole.score(X_test, y_test),
        "streamed_score": streamed.score(X_test, y_test),
        "in_memory_score": in_memory.score(X_test, y_test),
        "in_memory_samples_seen": in_memory.t_,
    }))
    """
)


def test_partial_fit_streams_memory_map_larger_than_memory(tmp_path):
    args = [str(tmp_path), str(BUDGET_MIB * MIB), str(CHUNK), str(SUBSAMPLE)]
    threads = {var: THREADS for var in THREAD_VARIABLES}
    try:
        process = subprocess.run(
            [sys.executable, "-c", CHILD, *args],
            # Not the repository: "-c" puts the working folder first on sys.path,
            # where the source tree would shadow the installed, compiled package.
            cwd=tmp_path,
            env={**os.environ, **threads},
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        # pytest keeps the last few temporary folders: not 400 MiB each.
        for path in tmp_path.glob("*.npy"):
            path.unlink()
    assert process.returncode == 0, process.stderr
    result = json.loads(process.stdout)

    # The data do not fit: the file is larger than all the memory the child may
    # use, and reading it into memory fails.
    assert result["file_bytes"] > result["limit"]
    assert result["load_error"] is not None
    assert result["vm_data_end"] <= result["limit"]
    # Streaming saw every sequence once, and the in-memory fit as many updates.
    assert result["samples_seen"] == result["n_samples"]
    assert result["in_memory_samples_seen"] == result["n_samples"]
    # The model learnt the task (chance is 0.5; the sign of the sum along the true
    # direction gets 0.94) and is as good as the in-memory one.
    assert result["streamed_score"] > 0.9
    assert result["streamed_score"] >= result["in_memory_score"] - 0.02
    # fit on the whole memory map ran one epoch over it, within the limit too.
    assert result["fit_on_memory_map_samples_seen"] == result["n_samples"]
    assert result["fit_on_memory_map_score"] > 0.9
