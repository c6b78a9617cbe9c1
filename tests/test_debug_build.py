"""The kernels under bounds checking: an out-of-range index raises, never corrupts.

Builds the extension once with ``SKLSTM_DEBUG_CYTHON=1`` (bounds, None and
initialisation checks on) into a temporary folder and runs the kernels there on
dense, ragged, bidirectional and dropout batches of both cells (and the
whole-stack prediction kernel, split between threads, and a single float32
sequence's), then on a packing that lies about the batch size.
"""

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import itertools

    import numpy as np
    import sklstm._kernels._train as fast
    from sklstm._kernels._parallel import _tuning
    from sklstm._heads import Softmax
    from sklstm._network import LSTMNetwork

    assert fast.__file__.startswith(BUILD), fast.__file__
    rng = np.random.RandomState(0)
    for bidirectional, cell in itertools.product((False, True), ("lstm", "gru")):
        net = LSTMNetwork(3, (4, 3), 2, Softmax(), np.float64, bidirectional, cell=cell)
        params = net.initialize(rng)
        X = rng.normal(size=(6, 4, 3))
        batch_sizes = np.array([4, 4, 3, 3, 1, 1], dtype=np.intc)
        last_step = np.array([5, 3, 1, 1])
        Y = np.eye(2)[[0, 1, 1, 0]]
        for dropout in (False, True):
            ws = net.workspace(6, 4, dropout=dropout)
            ws.prepare(6, 4)[...] = X
            masks = None
            if dropout:
                masks = [
                    [(np.ones((4, n)), np.ones((4, h)))] * net.n_directions
                    for n, h in zip(net.layer_inputs, net.hidden_layer_sizes)
                ]
            grads = np.empty_like(params)
            loss = net.loss_and_gradient(
                params, ws.X, batch_sizes, last_step, Y, 0.1, grads, ws, masks=masks
            )
            assert np.isfinite(loss) and np.isfinite(grads).all()
        # The whole-stack prediction kernel, split between threads.
        _tuning(min_chunk_flops=0.0, backoff_seconds=0.0)
        X_dense = rng.normal(size=(5, 4, 3))
        work = np.empty(net.dense_work_size(4, 5))
        for n_threads in (1, 2):
            logits = net.dense_logits(params, X_dense, work, n_threads)
            assert np.isfinite(logits).all()
        # A sequence alone: its own kernel, the input check and the softmax in
        # the same call.
        for dtype in (np.float32, np.float64):
            single = LSTMNetwork(
                3, (4, 20), 2, Softmax(), dtype, bidirectional, cell=cell
            )
            weights = single.initialize(rng)
            one = rng.normal(size=(1, 4, 3)).astype(dtype)
            proba = single.sequence_outputs(weights, one, softmax=True)
            assert np.isfinite(proba).all() and abs(proba.sum() - 1) < 1e-5
            one[0, -1, -1] = np.nan
            assert single.sequence_outputs(weights, one) is None

    # A packing that claims more running sequences than the batch holds, and a
    # buffer of the wrong shape: refused before any GEMM writes out of bounds.
    net = LSTMNetwork(3, (4,), 2, Softmax(), np.float64)
    params = net.initialize(rng)
    ws = net.workspace(2, 2)
    ws.prepare(2, 2)[...] = 0
    bad_packing = np.array([5, 5], dtype=np.intc)
    for call in (
        lambda: net.logits(params, ws.X, bad_packing, np.array([1, 1]), ws),
        lambda: fast.lstm_forward(
            ws.X, *net.unpack(params)[:3], np.array([2, 2], dtype=np.intc),
            np.empty(7 * 2 * 2 * 4 - 1), np.empty((0, 0)), np.empty((0, 0, 0)),
        ),
    ):
        try:
            call()
        except ValueError as error:
            print("caught:", error)
        else:
            raise AssertionError("a bad packing or buffer was not refused")
    """
)


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")
def test_kernels_under_bounds_checking(tmp_path):
    # The build needs Cython at test time: the "tests" extra installs it.
    pytest.importorskip("Cython")
    package = tmp_path / "sklstm"
    shutil.copytree(
        ROOT / "sklstm", package, ignore=shutil.ignore_patterns("*.so", "*.c")
    )
    shutil.copy(ROOT / "setup.py", tmp_path)
    env = {**os.environ, "SKLSTM_DEBUG_CYTHON": "1"}
    build = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--inplace", "-j", "2"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    run = subprocess.run(
        [sys.executable, "-c", f"BUILD = {str(tmp_path)!r}\n" + SCRIPT],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.count("caught: lstm kernel:") == 2, run.stdout
