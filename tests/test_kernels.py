"""The Cython kernels against a NumPy reference and against finite differences."""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose
from reference import (
    as_head,
    packed_batch,
    reference_gru,
    reference_lstm,
    reference_network,
)

from sklstm._kernels._array import (
    all_finite,
    cell_activations,
    gather_time_major,
    instruction_set,
    softmax_rows,
)
from sklstm._kernels._layout import (
    CELLS,
    STATE_WIDTH_UNITS,
    carried_state_width,
    cell_weight_shapes,
    gates_per_unit,
    stack_layout,
)
from sklstm._kernels._parallel import _tuning, openmp_max_threads
from sklstm._kernels._predict import lstm_stream_logits
from sklstm._kernels._train import (
    lstm_backward,
    lstm_forward,
    lstm_stack_backward,
    lstm_stack_forward,
)
from sklstm._network import LSTMNetwork
from sklstm._sequences import DenseSequences

ROOT = Path(__file__).resolve().parents[1]


def make_problem(
    head,
    dtype=np.float64,
    lengths=(5, 5, 3, 1),
    n_features=3,
    seed=0,
    bidirectional=False,
    cell="lstm",
):
    rng = np.random.RandomState(seed)
    n_outputs = {"softmax": 3, "logistic": 1, "identity": 2}[head]
    network = LSTMNetwork(
        n_features,
        (4, 3),
        n_outputs,
        as_head(head),
        dtype,
        bidirectional=bidirectional,
        cell=cell,
    )
    params = network.initialize(rng)
    # Move off the initial point (zero biases) so every term of the gradient matters.
    params += rng.normal(scale=0.3, size=params.shape).astype(dtype)
    X = rng.normal(size=(len(lengths), max(lengths), n_features)).astype(dtype)
    if head == "softmax":
        Y = np.eye(n_outputs)[rng.randint(n_outputs, size=len(lengths))]
    elif head == "logistic":
        Y = rng.randint(2, size=(len(lengths), 1)).astype(float)
    else:
        Y = rng.normal(size=(len(lengths), n_outputs))
    return network, params, X, Y.astype(dtype)


HEADS = ["softmax", "logistic", "identity"]
LENGTHS = [(5, 5, 5, 5), (5, 4, 2, 1), (1, 1)]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("lengths", LENGTHS)
def test_forward_matches_numpy_reference(head, lengths, bidirectional, cell):
    network, params, X, _ = make_problem(
        head, lengths=lengths, bidirectional=bidirectional, cell=cell
    )
    X_tm, batch_sizes, last_step, order = packed_batch(X, lengths)
    workspace = network.workspace(*X_tm.shape[:2])
    prediction = network.activate(
        network.logits(params, X_tm, batch_sizes, last_step, workspace)
    )
    expected = reference_network(
        network.unpack(params),
        X[order],
        np.sort(lengths)[::-1],
        head,
        bidirectional,
        cell=cell,
    )
    assert_allclose(prediction, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("lengths", LENGTHS)
@pytest.mark.parametrize("alpha", [0.0, 0.7])
def test_gradient_matches_finite_differences(head, lengths, alpha, bidirectional, cell):
    network, params, X, Y = make_problem(
        head, lengths=lengths, bidirectional=bidirectional, cell=cell
    )
    X_tm, batch_sizes, last_step, order = packed_batch(X, lengths)
    Y = Y[order]
    workspace = network.workspace(*X_tm.shape[:2])

    assert_gradient_matches_finite_differences(
        lambda p, g: network.loss_and_gradient(
            p, X_tm, batch_sizes, last_step, Y, alpha, g, workspace
        ),
        params,
    )


def assert_gradient_matches_finite_differences(loss_and_gradient, params):
    """Every weight's gradient against central differences, to 1e-6 of the largest."""
    grads = np.empty_like(params)
    loss_and_gradient(params, grads)
    scratch = np.empty_like(params)
    numeric = np.empty_like(params)
    eps = 1e-6
    for k in range(params.size):
        shifted = params.copy()
        shifted[k] += eps
        upper = loss_and_gradient(shifted, scratch)
        shifted[k] -= 2 * eps
        numeric[k] = (upper - loss_and_gradient(shifted, scratch)) / (2 * eps)
    assert_allclose(grads, numeric, rtol=1e-6, atol=1e-6 * np.abs(numeric).max())


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("head", HEADS)
def test_ragged_batch_equals_sequences_one_by_one(head, bidirectional):
    """A sequence's output and gradient do not depend on what else is in its batch."""
    lengths = (6, 4, 4, 2)
    network, params, X, Y = make_problem(
        head, lengths=lengths, bidirectional=bidirectional
    )
    X_tm, batch_sizes, last_step, order = packed_batch(X, lengths)
    workspace = network.workspace(*X_tm.shape[:2])
    batch_grads = np.empty_like(params)
    batch_loss = network.loss_and_gradient(
        params, X_tm, batch_sizes, last_step, Y[order], 0.0, batch_grads, workspace
    )
    summed_loss, summed_grads = 0.0, np.zeros_like(params)
    for sample in order:
        length = lengths[sample]
        single = np.ascontiguousarray(X[sample, :length, None, :])
        grads = np.empty_like(params)
        summed_loss += network.loss_and_gradient(
            params,
            single,
            np.ones(length, dtype=np.intc),
            np.array([length - 1]),
            Y[sample : sample + 1],
            0.0,
            grads,
            network.workspace(length, 1),
        )
        summed_grads += grads
    # The batch loss is a mean over sequences: n times it is the per-sequence sum.
    n = len(lengths)
    assert_allclose(batch_loss * n, summed_loss, rtol=1e-12)
    assert_allclose(batch_grads * n, summed_grads, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("head", HEADS)
def test_float32_matches_float64(head):
    network64, params, X, Y = make_problem(head)
    network32 = LSTMNetwork(
        network64.n_features,
        network64.hidden_layer_sizes,
        network64.n_outputs,
        as_head(head),
        np.float32,
    )
    lengths = (5, 5, 3, 1)
    X_tm, batch_sizes, last_step, order = packed_batch(X, lengths)
    results = {}
    for network in (network64, network32):
        dtype = network.dtype
        workspace = network.workspace(*X_tm.shape[:2])
        grads = np.empty(network.n_params, dtype=dtype)
        loss = network.loss_and_gradient(
            params.astype(dtype),
            X_tm.astype(dtype),
            batch_sizes,
            last_step,
            Y[order].astype(dtype),
            0.1,
            grads,
            workspace,
        )
        assert grads.dtype == dtype
        assert workspace.cells[0][0].gates.dtype == dtype
        results[dtype] = loss, grads
    loss64, grads64 = results[np.dtype(np.float64)]
    loss32, grads32 = results[np.dtype(np.float32)]
    assert_allclose(loss32, loss64, rtol=1e-5)
    assert_allclose(grads32, grads64, rtol=1e-3, atol=1e-5 * np.abs(grads64).max())


def test_read_only_inputs():
    network, params, X, Y = make_problem("softmax", lengths=(5, 5, 5, 5))
    X_tm, batch_sizes, last_step, _ = packed_batch(X, (5, 5, 5, 5))
    for array in (params, X_tm, batch_sizes):
        array.setflags(write=False)
    workspace = network.workspace(*X_tm.shape[:2])
    expected = reference_network(network.unpack(params), X, [5] * 4, "softmax")
    prediction = network.activate(
        network.logits(params, X_tm, batch_sizes, last_step, workspace)
    )
    assert_allclose(prediction, expected, rtol=1e-10)
    grads = np.empty_like(params)
    network.loss_and_gradient(
        params, X_tm, batch_sizes, last_step, Y, 0.0, grads, workspace
    )
    assert np.isfinite(grads).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_saturated_gates_are_finite_and_silent(dtype):
    """Pre-activations of +-1e4 saturate the gates without overflow or NaN."""
    network, params, X, Y = make_problem("softmax", dtype=dtype)
    X_tm, batch_sizes, last_step, _ = packed_batch(X * 1e4, (5, 5, 3, 1))
    workspace = network.workspace(*X_tm.shape[:2])
    grads = np.empty_like(params)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            loss = network.loss_and_gradient(
                params,
                X_tm.astype(dtype),
                batch_sizes,
                last_step,
                Y,
                0.0,
                grads,
                workspace,
            )
    assert np.isfinite(loss)
    assert np.isfinite(grads).all()
    gates = workspace.cells[0][0].gates
    assert np.isfinite(gates).all()


def test_workspace_is_reused_across_batches():
    network, params, X, _ = make_problem("softmax")
    workspace = network.workspace(5, 4)
    first = workspace.cells[0][0].gates
    workspace.prepare(5, 2)
    assert np.shares_memory(workspace.cells[0][0].gates, first)
    workspace.prepare(5, 4)
    assert np.shares_memory(workspace.cells[0][0].gates, first)


def draw_masks(network, batch, rate, rng):
    """Inverted-dropout masks per layer and direction, as the estimators draw them."""

    def mask(width):
        return (rng.uniform(size=(batch, width)) >= rate) / (1 - rate)

    return [
        [(mask(n_in), mask(units)) for _ in range(network.n_directions)]
        for n_in, units in zip(network.layer_inputs, network.hidden_layer_sizes)
    ]


def masks_of_ones(network, batch):
    """Dropout masks that keep everything: the layer-by-layer route, unchanged."""
    return [
        [tuple(mask.astype(network.dtype) for mask in pair) for pair in layer]
        for layer in draw_masks(network, batch, 0.0, np.random.RandomState(0))
    ]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("head", HEADS)
def test_gradient_with_dropout_masks_matches_finite_differences(
    head, bidirectional, cell
):
    lengths = (5, 4, 2, 1)
    network, params, X, Y = make_problem(
        head, lengths=lengths, bidirectional=bidirectional, cell=cell
    )
    X_tm, batch_sizes, last_step, order = packed_batch(X, lengths)
    Y = Y[order]
    workspace = network.workspace(*X_tm.shape[:2], dropout=True)
    masks = draw_masks(network, len(lengths), 0.3, np.random.RandomState(5))
    assert_gradient_matches_finite_differences(
        lambda p, g: network.loss_and_gradient(
            p, X_tm, batch_sizes, last_step, Y, 0.1, g, workspace, masks=masks
        ),
        params,
    )


@pytest.mark.parametrize("bidirectional", [False, True])
def test_masks_of_ones_change_nothing(bidirectional):
    network, params, X, Y = make_problem("softmax", bidirectional=bidirectional)
    X_tm, batch_sizes, last_step, order = packed_batch(X, (5, 5, 3, 1))
    ones = draw_masks(network, 4, 0.0, np.random.RandomState(0))
    results = []
    for masks, dropout in ((None, False), (ones, True)):
        workspace = network.workspace(*X_tm.shape[:2], dropout=dropout)
        grads = np.empty_like(params)
        loss = network.loss_and_gradient(
            params,
            X_tm,
            batch_sizes,
            last_step,
            Y[order],
            0.0,
            grads,
            workspace,
            masks=masks,
        )
        results.append((loss, grads))
    assert_allclose(results[1][0], results[0][0], rtol=1e-14)
    assert_allclose(results[1][1], results[0][1], rtol=1e-12, atol=1e-15)


def random_layer(
    dtype, lengths, n_inputs, units, recurrent_dropout, seed=0, cell="lstm"
):
    """One layer's weights, a packed batch and an upstream gradient."""
    rng = np.random.RandomState(seed)
    n_steps, batch = max(lengths), len(lengths)
    batch_sizes = np.array([sum(n > t for n in lengths) for t in range(n_steps)])
    X = rng.normal(size=(n_steps, batch, n_inputs)).astype(dtype)
    for t in range(n_steps):
        X[t, batch_sizes[t] :] = 0
    shapes = cell_weight_shapes(n_inputs, units, cell)
    weights = {
        name: rng.normal(scale=0.3, size=shape).astype(dtype).reshape(-1)
        if name == "bias"
        else rng.normal(scale=0.3, size=shape).astype(dtype)
        for name, shape in zip(("kernel", "recurrent", "bias"), shapes)
    }
    d_hidden_in = rng.normal(size=(n_steps, batch, units)).astype(dtype)
    if recurrent_dropout:
        mask = (rng.uniform(size=(batch, units)) > 0.3).astype(dtype) / 0.7
    else:
        mask = np.empty((0, 0), dtype)
    return X, weights, batch_sizes.astype(np.intc), d_hidden_in, mask


def run_layer(X, weights, batch_sizes, d_hidden_in, mask, n_threads=1, cell="lstm"):
    """lstm_forward then lstm_backward: the outputs and the gradients."""
    n_steps, batch, _ = X.shape
    units = weights["recurrent"].shape[0]
    dtype = X.dtype
    masked = mask.shape[0] > 0
    rows = n_steps * batch
    state = np.empty(STATE_WIDTH_UNITS * rows * units, dtype)
    hidden = state[-rows * units :].reshape(n_steps, batch, units)
    hidden_masked = np.empty_like(hidden) if masked else np.empty((0, 0, 0), dtype)
    kind = CELLS.index(cell)
    lstm_forward(
        X,
        weights["kernel"],
        weights["recurrent"],
        weights["bias"],
        batch_sizes,
        state,
        mask,
        hidden_masked,
        n_threads=n_threads,
        cell=kind,
    )
    running = np.arange(batch)[None, :] < batch_sizes[:, None]
    # Gates past a sequence's end are undefined: compare the running ones.
    gates = state[: rows * units * gates_per_unit(cell)]
    out = {"hidden": hidden.copy(), "gates": gates.reshape(n_steps, batch, -1)[running]}
    grads = {
        "d_kernel": np.empty_like(weights["kernel"]),
        "d_recurrent": np.empty_like(weights["recurrent"]),
        "d_bias": np.empty_like(weights["bias"]),
        "d_X": np.empty_like(X),
    }
    lstm_backward(
        X,
        weights["kernel"],
        weights["recurrent"],
        batch_sizes,
        state,
        d_hidden_in.copy(),
        np.empty((batch, units), dtype),
        grads["d_kernel"],
        grads["d_recurrent"],
        grads["d_bias"],
        grads["d_X"],
        mask,
        hidden_masked,
        np.empty((batch, units), dtype) if masked else np.empty((0, 0), dtype),
        n_threads=n_threads,
        cell=kind,
    )
    return out | grads


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("lengths", [(6,) * 7, (6, 6, 5, 4, 4, 2, 1)])
@pytest.mark.parametrize("recurrent_dropout", [False, True])
def test_threads_split_the_work_without_changing_results(
    dtype, lengths, recurrent_dropout, cell, split_any_work
):
    # Rows are split between threads: each runs the recurrence, d_X and its
    # rows' share of the weight gradients, and the shares are added up, so the
    # outputs agree with one thread's to rounding for any thread count.
    problem = random_layer(dtype, lengths, 5, 16, recurrent_dropout, cell=cell)
    serial = run_layer(*problem, n_threads=1, cell=cell)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    for n_threads in (2, 3):
        split_before = _tuning()[2]
        results = run_layer(*problem, n_threads=n_threads, cell=cell)
        assert _tuning()[2] > split_before, "the work was not split"
        for name, value in results.items():
            assert_allclose(value, serial[name], rtol=rtol, atol=rtol, err_msg=name)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_sequence_splits_weight_gradient_columns(dtype, cell, split_any_work):
    # A batch of one sequence cannot be split by rows: threads split the weight
    # gradients' columns instead, 32 at a time. With 32 units the GRU's 96
    # columns split as 0:32 and 32:96 for two threads, 0:32, 32:64, 64:96 for
    # three: chunks that start, end and straddle at its candidate's columns
    # (64:96), whose recurrent gradient comes from their own sums.
    problem = random_layer(dtype, (9,), 5, 32, False, cell=cell)
    serial = run_layer(*problem, n_threads=1, cell=cell)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    for n_threads in (2, 3):
        split_before = _tuning()[2]
        results = run_layer(*problem, n_threads=n_threads, cell=cell)
        assert _tuning()[2] > split_before, "the work was not split"
        for name, value in results.items():
            assert_allclose(value, serial[name], rtol=rtol, atol=rtol, err_msg=name)


#: The tests whose code paths depend on the instruction set: the packed product,
#: the single-sequence recurrence, the cell's activations, and every route.
ISA_SENSITIVE = "packed_product or single_sequence or routes_agree or activations"


@pytest.mark.skipif("SKLSTM_MAX_ISA" in os.environ, reason="already capped")
@pytest.mark.parametrize("isa", ["avx2", "baseline"])
def test_narrower_instruction_sets(isa):
    # Each machine runs the widest kernels it supports; SKLSTM_MAX_ISA, read once
    # per process, caps the choice, so the narrower kernels run in a process of
    # their own (where they are the only ones of their kind, as in production).
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-c",
            str(ROOT / "pyproject.toml"),
            "-k",
            ISA_SENSITIVE,
            __file__,
        ],
        cwd=ROOT / "tests",
        env={**os.environ, "SKLSTM_MAX_ISA": isa},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "failed" not in run.stdout


@pytest.mark.parametrize("cap", ["avx512", "avx2", "baseline"])
def test_instruction_set_reports_the_kernels_in_use(cap):
    # The widest set the CPU runs, capped by SKLSTM_MAX_ISA (read once a process):
    # what the benchmarks write beside their figures.
    order = ["baseline", "avx2", "avx512"]
    code = "from sklstm._kernels._array import instruction_set as i; print(i())"
    run = subprocess.run(
        [sys.executable, "-c", code],
        # Not the repository's root, whose sklstm/ is the uncompiled source when
        # the package is installed rather than built in place.
        cwd=ROOT / "tests",
        env={**os.environ, "SKLSTM_MAX_ISA": cap},
        capture_output=True,
        text=True,
        check=True,
    )
    reported = run.stdout.strip()
    if "SKLSTM_MAX_ISA" not in os.environ:
        here = instruction_set()
        assert reported == order[min(order.index(here), order.index(cap))]
    assert order.index(reported) <= order.index(cap)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("recurrent_dropout", [False, True])
@pytest.mark.parametrize(
    "lengths, units",
    [
        # 13 rows: blocks of 8, 4 and 1; 37 units: whole and partial panels.
        ((9, 9, 8, 8, 8, 7, 5, 5, 4, 3, 3, 2, 1), 37),
        ((4,) * 3, 8),  # narrower than one panel
        ((6, 2), 64),  # a single row for most steps; whole panels only
    ],
)
def test_packed_product_kernels_are_exact(
    dtype, recurrent_dropout, lengths, units, cell
):
    # Every instruction set's kernel (the machine runs its widest; the others
    # run in test_narrower_instruction_sets) must give the textbook forward and a
    # gradient that agrees with central differences of loss = sum(hidden *
    # d_hidden_in) along random directions.
    X, weights, batch_sizes, d_hidden_in, mask = random_layer(
        dtype, lengths, 5, units, recurrent_dropout, cell=cell
    )
    results = run_layer(X, weights, batch_sizes, d_hidden_in, mask, cell=cell)
    lengths = np.array(lengths)  # decreasing: packed rows are the sequences
    reference = reference_gru if cell == "gru" else reference_lstm
    bias_shape = cell_weight_shapes(5, units, cell)[2]
    expected = reference(
        X.transpose(1, 0, 2).astype(np.float64),
        weights["kernel"].astype(np.float64),
        weights["recurrent"].astype(np.float64),
        weights["bias"].astype(np.float64).reshape(bias_shape),
        recurrent_mask=mask if recurrent_dropout else None,
    ).transpose(1, 0, 2)
    running = np.arange(X.shape[0])[:, None] < lengths[None, :]
    tolerance = 2e-5 if dtype == np.float32 else 1e-12
    assert_allclose(
        results["hidden"][running], expected[running], rtol=tolerance, atol=tolerance
    )
    if dtype == np.float32:
        return  # finite differences need double precision

    def loss(shifted, X_shifted):
        return np.sum(
            run_layer(X_shifted, shifted, batch_sizes, d_hidden_in, mask, cell=cell)[
                "hidden"
            ]
            * d_hidden_in
        )

    rng = np.random.RandomState(1)
    for _ in range(3):
        directions = {k: rng.normal(size=w.shape) for k, w in weights.items()}
        direction_X = rng.normal(size=X.shape) * running[:, :, None]
        analytic = sum(
            np.sum(results["d_" + k] * directions[k]) for k in weights
        ) + np.sum(results["d_X"] * direction_X)
        eps = 1e-6
        upper, lower = (
            loss(
                {k: w + sign * eps * directions[k] for k, w in weights.items()},
                X + sign * eps * direction_X,
            )
            for sign in (1, -1)
        )
        assert_allclose(analytic, (upper - lower) / (2 * eps), rtol=1e-6)


def test_openmp_threads_are_reported():
    assert openmp_max_threads() >= 1


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("sizes", [(4,), (5, 3), (6, 4, 3)])
@pytest.mark.parametrize("batch", [1, 2, 7])
def test_stack_kernel_equals_the_layer_by_layer_forward(
    dtype, bidirectional, sizes, batch, cell, split_any_work
):
    # The one-call prediction path against the network's per-layer forward.
    rng = np.random.RandomState(0)
    network = LSTMNetwork(
        3, sizes, 2, as_head("softmax"), dtype, bidirectional, cell=cell
    )
    params = network.initialize(rng)
    params += rng.normal(scale=0.3, size=params.shape).astype(dtype)
    X = rng.normal(size=(batch, 5, 3)).astype(dtype)
    workspace = network.workspace(5, batch)
    X_tm, batch_sizes, last_step = DenseSequences(X).pack(slice(None), workspace)
    expected = network.logits(params, X_tm, batch_sizes, last_step, workspace)
    work = np.empty(network.dense_work_size(5, batch), dtype)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    for n_threads in (1, 2):
        logits = network.dense_logits(params, X, work, n_threads)
        assert_allclose(logits, expected, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize(
    "n_features, sizes, n_steps",
    [
        (8, (64,), 30),  # whole groups of unit blocks, read in place
        (1, (80, 48), 7),  # a group and a block left; three blocks
        (5, (112,), 4),  # a group and three blocks left
        (33, (130, 20), 9),  # units off the vector grid: gates from a padded copy
        (3, (16, 16, 16), 1),  # a single step
    ],
)
def test_single_sequence_kernel_equals_float64(
    n_features, sizes, n_steps, bidirectional, dtype, cell
):
    # A sequence alone runs its recurrence in registers, reading the recurrent
    # kernels where they are (units a multiple of the vector's lanes) or from a
    # padded copy, every other step in reverse row order: against the float64
    # per-layer forward, with the work space given or allocated, and with
    # parameters off the 64-byte boundary a model keeps them on.
    rng = np.random.RandomState(0)
    network = LSTMNetwork(
        n_features, sizes, 3, as_head("softmax"), np.float64, bidirectional, cell=cell
    )
    params = network.initialize(rng)
    params += rng.normal(scale=0.3, size=params.shape)
    X = rng.normal(size=(1, n_steps, n_features))
    workspace = network.workspace(n_steps, 1)
    X_tm, batch_sizes, last_step = DenseSequences(X).pack(slice(None), workspace)
    expected = network.logits(params, X_tm, batch_sizes, last_step, workspace)
    single = LSTMNetwork(
        n_features, sizes, 3, as_head("softmax"), dtype, bidirectional, cell=cell
    )
    X_single, params_single = X.astype(dtype), params.astype(dtype)
    unaligned = np.empty(params_single.size + 1, dtype)[1:]
    unaligned[...] = params_single
    work = np.empty(single.dense_work_size(n_steps, 1), dtype)
    tolerance = 2e-5 if dtype == np.float32 else 1e-12
    for weights, space in [
        (params_single, work),
        (params_single, None),
        (unaligned, None),
    ]:
        logits = single.dense_logits(weights, X_single, space)
        assert_allclose(logits, expected, rtol=tolerance, atol=tolerance)


def route_logits(network, params, X, n_threads):
    """The head pre-activations of dense ``X`` by every route that computes them."""
    batch, n_steps, _ = X.shape
    ones = masks_of_ones(network, batch)
    routes = {}
    for name, masks, dropout in [("training", None, False), ("layers", ones, True)]:
        workspace = network.workspace(n_steps, batch, dropout, n_threads)
        X_tm, batch_sizes, last_step = DenseSequences(X).pack(slice(None), workspace)
        routes[name] = network._forward(
            params,
            network.unpack(params),
            X_tm,
            batch_sizes,
            last_step,
            workspace,
            masks,
        ).logits
    work = np.empty(network.dense_work_size(n_steps, batch), network.dtype)
    routes["batch prediction"] = network.dense_logits(params, X, work, n_threads)
    routes["single sequence"] = np.concatenate(
        [network.dense_logits(params, X[b : b + 1], None) for b in range(batch)]
    )
    if network.n_directions == 1:
        # Streams fed in two chunks, their state carried from one to the next.
        width = sum(
            carried_state_width(network.cell, units)
            for units in network.hidden_layer_sizes
        )
        state = np.zeros((batch, width), network.dtype)
        logits = np.empty((batch, network.n_outputs), network.dtype)
        for chunk in (X[:, :3], X[:, 3:]):
            lstm_stream_logits(
                np.ascontiguousarray(chunk),
                params,
                network._units,
                state,
                logits,
                cell=network._cell,
            )
        routes["stream"] = logits
    return routes


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("sizes", [(20,), (16, 9), (37, 24, 8)])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_routes_agree(dtype, bidirectional, sizes, n_threads, cell, split_any_work):
    # Every route through the cell (training's stack kernels or its layer
    # kernels, the batch prediction, the single-sequence recurrence, streams) gives the
    # same logits on the same inputs, whatever the split between threads.
    rng = np.random.RandomState(3)
    network = LSTMNetwork(
        5, sizes, 3, as_head("softmax"), dtype, bidirectional, cell=cell
    )
    params = network.initialize(rng)
    params += rng.normal(scale=0.3, size=params.shape).astype(dtype)
    X = rng.normal(size=(6, 7, 5)).astype(dtype)
    routes = route_logits(network, params, X, n_threads)
    tolerance = 1e-6 if dtype == np.float32 else 1e-12
    reference = routes.pop("training")
    for name, logits in routes.items():
        assert_allclose(logits, reference, rtol=tolerance, atol=tolerance, err_msg=name)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("n_steps", [1, 2])
@pytest.mark.parametrize("sizes", [(3,), (4, 70)])
def test_batch_prediction_of_short_sequences(sizes, n_steps, cell):
    # The one-directional LSTM's batch route multiplies the first step by the
    # kernel alone and hands h_t on to the next step and layer: sequences of
    # one and two steps, layers narrower and wider than the input.
    rng = np.random.RandomState(4)
    network = LSTMNetwork(9, sizes, 2, as_head("softmax"), np.float64, cell=cell)
    params = network.initialize(rng)
    params += rng.normal(scale=0.3, size=params.shape)
    X = rng.normal(size=(5, n_steps, 9))
    workspace = network.workspace(n_steps, 5)
    X_tm, batch_sizes, last_step = DenseSequences(X).pack(slice(None), workspace)
    reference = network.logits(params, X_tm, batch_sizes, last_step, workspace)
    work = np.empty(network.dense_work_size(n_steps, 5))
    batch = network.dense_logits(params, X, work, n_threads=2)
    assert_allclose(batch, reference, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("sigmoid", [False, True])
def test_double_activations_keep_double_precision(sigmoid):
    # The cells' vectorised float64 tanh and sigmoid against libm's (NumPy's),
    # densely over [-50, 50] and near zero, where tanh(x) ~ x.
    x = np.concatenate([np.linspace(-50, 50, 400_001), np.geomspace(1e-300, 1, 2001)])
    x = np.concatenate([x, -x])
    out = np.empty_like(x)
    cell_activations(x, out, sigmoid)
    if sigmoid:
        # 1 / (1 + exp(-x)) without cancellation for either sign.
        e = np.exp(-np.abs(x))
        expected = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
    else:
        expected = np.tanh(x)
    assert_allclose(out, expected, rtol=1e-14, atol=0)
    assert_allclose(cell_activations_of(np.float32, x, sigmoid), expected, atol=3e-7)


def cell_activations_of(dtype, x, sigmoid):
    values = x.astype(dtype)
    out = np.empty_like(values)
    cell_activations(values, out, sigmoid)
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activations_of_special_values(dtype):
    big = np.finfo(dtype).max
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, big, -big], dtype=dtype)
    tanh, sigmoid = (cell_activations_of(dtype, x, s) for s in (False, True))
    assert np.isnan(tanh[0]) and np.isnan(sigmoid[0])
    # float32's rational tanh saturates within its 2.4e-7 of +-1.
    atol = 3e-7 if dtype == np.float32 else 0
    assert_allclose(tanh[1:], [1, -1, 0, 0, 1, -1], rtol=0, atol=atol)
    assert_allclose(sigmoid[1:], [1, 0, 0.5, 0.5, 1, 0], rtol=0, atol=atol)


def test_stack_kernel_refuses_mismatched_buffers():
    network = LSTMNetwork(3, (4, 2), 2, as_head("softmax"), np.float64)
    params = network.initialize(np.random.RandomState(0))
    X = np.zeros((2, 5, 3))
    work = np.empty(network.dense_work_size(5, 2))
    with pytest.raises(ValueError, match="params do not match"):
        network.dense_logits(params[:-1], X, work)
    with pytest.raises(ValueError, match="work is too small"):
        network.dense_logits(params, X, work[:-1])
    with pytest.raises(ValueError, match="one row a sequence"):
        network.dense_logits(params, X, work, out=np.empty((3, 2)))


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("lengths", [(6,) * 7, (6, 6, 5, 4, 4, 2, 1)])
@pytest.mark.parametrize("n_threads", [1, 2, 3])
@pytest.mark.parametrize("n_features", [3, 9])
def test_whole_stack_training_equals_layer_by_layer(
    dtype, lengths, n_threads, n_features, cell, split_any_work
):
    # One call through every layer each way (lstm_stack_forward/backward), or one
    # call per layer (the route of dropout: masks of ones change nothing): the
    # same loss and gradient, also with the rows split, and with inputs wider or
    # narrower than the layers (units 4, then 3).
    network, params, X, Y = make_problem(
        "softmax",
        dtype=dtype,
        lengths=lengths,
        n_features=n_features,
        seed=1,
        cell=cell,
    )
    X_tm, batch_sizes, last_step, order = packed_batch(X, lengths)
    Y = Y[order]
    ones = masks_of_ones(network, len(lengths))
    results = []
    for masks in (None, ones):
        workspace = network.workspace(
            *X_tm.shape[:2], dropout=masks is not None, n_threads=n_threads
        )
        grads = np.full_like(params, np.nan)
        loss = network.loss_and_gradient(
            params, X_tm, batch_sizes, last_step, Y, 0.3, grads, workspace, masks=masks
        )
        results.append((loss, grads))
    (loss, grads), (expected_loss, expected) = results
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert_allclose(loss, expected_loss, rtol=rtol)
    assert_allclose(grads, expected, rtol=rtol, atol=rtol * np.abs(expected).max())


def test_whole_stack_kernels_refuse_mismatched_buffers():
    network = LSTMNetwork(3, (4, 2), 2, as_head("softmax"), np.float64)
    params = network.initialize(np.random.RandomState(0))
    X = np.zeros((5, 2, 3))
    batch_sizes = np.full(5, 2, dtype=np.intc)
    weights, activations, d_hiddens = stack_layout(3, network._units, 10)
    # kernel, recurrent kernel and bias per layer; 7 and 1 units-wide rows each
    assert weights == [0, (3 + 4 + 1) * 16, (3 + 4 + 1) * 16 + (4 + 2 + 1) * 8]
    assert weights[-1] == params.size - (2 * 2 + 2)  # all but the head
    assert activations == [0, 10 * 7 * 4, 10 * 7 * (4 + 2)]
    assert d_hiddens == [0, 10 * 4, 10 * (4 + 2)]
    # The GRU: 3 gates and a (2, 3H) bias; its state is as wide as the LSTM's.
    gru_weights, gru_activations, gru_d_hiddens = stack_layout(
        3, network._units, 10, "gru"
    )
    assert gru_weights == [0, (3 + 4 + 2) * 12, (3 + 4 + 2) * 12 + (4 + 2 + 2) * 6]
    assert (gru_activations, gru_d_hiddens) == (activations, d_hiddens)
    n_weights, n_activations, n_d_hiddens = weights[-1], activations[-1], d_hiddens[-1]
    activations = np.empty(n_activations)
    d_hiddens = np.zeros(n_d_hiddens)
    grads = np.empty_like(params)
    units = network._units
    with pytest.raises(ValueError, match="params do not match"):
        lstm_stack_forward(X, params[: n_weights - 1], units, batch_sizes, activations)
    with pytest.raises(ValueError, match="activations is too small"):
        lstm_stack_forward(X, params, units, batch_sizes, activations[:-1])
    with pytest.raises(ValueError, match="batch_sizes must be non-increasing"):
        lstm_stack_forward(X, params, units, batch_sizes[::-1] + 1, activations)
    with pytest.raises(ValueError, match="units must be positive"):
        lstm_stack_forward(
            X, params, np.array([4, 0], np.intc), batch_sizes, activations
        )
    with pytest.raises(ValueError, match="cell must be"):
        lstm_stack_forward(X, params, units, batch_sizes, activations, cell=2)
    lstm_stack_forward(X, params, units, batch_sizes, activations)
    with pytest.raises(ValueError, match="params or grads do not match"):
        lstm_stack_backward(
            X, params, units, batch_sizes, activations, d_hiddens, grads[:3]
        )
    with pytest.raises(ValueError, match="activations or d_hiddens is too small"):
        lstm_stack_backward(
            X, params, units, batch_sizes, activations, d_hiddens[:-1], grads
        )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gather_time_major_equals_numpy(dtype):
    X = np.random.RandomState(0).normal(size=(9, 4, 3)).astype(dtype)
    index = np.array([7, 0, 0, 8, 2], dtype=np.intp)
    out = np.empty((4, 5, 3), dtype)
    gather_time_major(X, index, out)
    np.testing.assert_array_equal(out, X[index].transpose(1, 0, 2))


@pytest.mark.parametrize("bad", [[9], [-1]])
def test_gather_time_major_refuses_indices_out_of_range(bad):
    X = np.zeros((9, 4, 3))
    with pytest.raises(ValueError, match="index out of range"):
        gather_time_major(X, np.array(bad, dtype=np.intp), np.empty((4, 1, 3)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_rows_is_scipys(dtype, log):
    from scipy.special import log_softmax, softmax

    rng = np.random.default_rng(0)
    # Ordinary logits, logits far beyond exp's range, a single column.
    for z in (rng.normal(size=(6, 5)), 1000 * rng.normal(size=(4, 3)), [[3.0]]):
        z = np.asarray(z, dtype=dtype)
        out = np.empty_like(z)
        softmax_rows(z, out, log)
        want = (log_softmax if log else softmax)(z.astype(np.float64), axis=1)
        rtol = 1e-6 if dtype == np.float32 else 1e-13
        assert_allclose(out, want, rtol=rtol, atol=rtol)
        assert np.isfinite(out).all()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_softmax_rows_gives_nan_rows_for_non_finite_logits(bad):
    z = np.array([[1.0, bad, 2.0], [1.0, 2.0, 3.0]])
    out = np.empty_like(z)
    softmax_rows(z, out, False)
    assert np.isnan(out[0]).all() == (bad != -np.inf)
    assert_allclose(out[1].sum(), 1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", [(0, 0, 0), (1, 3, 2), (2, 4, 1)])
@pytest.mark.parametrize("shape", [(3, 5, 4), (40, 50, 40)])  # with, without GIL
def test_all_finite_finds_any_non_finite_value(dtype, bad, where, shape):
    X = np.random.default_rng(0).normal(size=shape).astype(dtype)
    # The extremes of the type are finite: only an exponent of all ones is not.
    X[-1, -1, -2:] = np.finfo(dtype).max, np.finfo(dtype).smallest_subnormal
    assert all_finite(X) and all_finite(X[:, ::2]) and all_finite(X[:, :, ::3])
    X[where] = bad
    assert not all_finite(X)
    assert all_finite(X[:, ::2]) == (where[1] % 2 == 1)  # strided views too
    assert all_finite(X[:, :, ::3]) == (where[2] % 3 != 0)
