"""Memory: no leak over many fits and predictions, bounded memory on a large X.

Resident memory is read from ``/proc`` (Linux only). The leak test repeats
fit + predict after a warm-up and allows a growth far below what keeping any
buffer, weight array or Python object of each iteration would cost. The
bounded-memory test predicts 20,000 sequences from a memory-mapped file in a
fresh process (benchmarks/bench_predict_memory.py at a smaller scale) and holds
its peak growth far below the activation tensor of the whole X.
"""

import gc
import os
import runpy
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from sklstm import LSTMClassifier

ROOT = Path(__file__).resolve().parents[1]
MIB = 2**20

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads resident memory from /proc"
)


def resident_bytes():
    """The current resident set size (ru_maxrss would be the peak)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# variant: (parameters, input, iterations after the warm-up)
VARIANTS = {
    "adam": ({}, "dense", 1000),
    "lbfgs": ({"solver": "lbfgs"}, "dense", 500),
    "ragged list": ({}, "ragged", 500),
    "bidirectional": ({"bidirectional": True}, "dense", 500),
}
WARM_UP = 100
# Measured growth over the iterations: under 0.1 MiB and 10 objects. One leaked
# workspace (20 x 5 x 4H floats per buffer) per iteration would add over 10 MiB.
MAX_GROWTH = 4 * MIB
MAX_NEW_OBJECTS = 200


@pytest.mark.parametrize("variant", VARIANTS)
def test_fit_and_predict_keep_memory_flat(variant):
    params, layout, iterations = VARIANTS[variant]
    rng = np.random.RandomState(0)
    X = rng.normal(size=(20, 5, 3))
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    if layout == "ragged":
        X = [x[: 2 + i % 4] for i, x in enumerate(X)]
    est = LSTMClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0, **params)

    def repeat(n):
        for _ in range(n):
            est.fit(X, y).predict(X)

    with warnings.catch_warnings():
        # max_iter=2 stops every fit early, on purpose.
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        repeat(WARM_UP)
        gc.collect()
        objects, before = len(gc.get_objects()), resident_bytes()
        repeat(iterations)
        gc.collect()
        new_objects, growth = len(gc.get_objects()) - objects, resident_bytes() - before
    assert growth < MAX_GROWTH, f"{growth / MIB:.2f} MiB over {iterations} fits"
    assert new_objects < MAX_NEW_OBJECTS, f"{new_objects} objects more"


def test_predict_on_a_memory_map_runs_in_bounded_memory(tmp_path):
    """Chunked prediction: peak growth far below the whole X's activations."""
    bench = runpy.run_path(str(ROOT / "benchmarks" / "bench_predict_memory.py"))
    n_sequences, n_steps, n_features, units = 20_000, 50, 8, 32
    bench["prepare"](tmp_path, n_sequences, n_steps, n_features, units, n_train=500)
    result = bench["measure_in_subprocess"](tmp_path, threads=1)
    activations = bench["activation_bytes"](n_sequences, n_steps, units)  # 854 MiB
    assert result["output_shape"] == [n_sequences, 2]
    assert result["output_finite"]
    # The chunks of a memory-mapped X give what the in-memory array gives.
    assert result["max_difference_in_memory"] < 1e-6
    # Measured: 23 MiB of buffers plus the 31 MiB of X's pages read from the file.
    assert result["anon_growth"] < activations / 10
    assert result["growth"] < activations / 5
