"""Property-based tests (hypothesis) where arrays cross into sklstm.

At the kernel boundary, any shapes, dtypes, strides, packings and flags given to
``lstm_forward`` and ``lstm_backward`` either break the kernels' contract, and then
raise ValueError or TypeError, or keep it, and then give the NumPy reference's
results. At the estimators' boundary, any X (shape, dtype, byte order, strides,
alignment, NaN or infinity) either is refused with a ValueError or TypeError, or
gives what a plain C-ordered float64 copy of it gives. In both cases an oracle
written from the documented contract says which outcome is due, so that a check
the code forgets (a silent wrong answer) fails as surely as a crash.

Examples are derandomized, so the tests are deterministic.
"""

import inspect
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from reference import reference_gru, reference_lstm
from sklearn.exceptions import ConvergenceWarning

from sklstm import LSTMClassifier, LSTMRegressor
from sklstm._kernels import _train as fast
from sklstm._kernels._layout import CELLS, STATE_WIDTH_UNITS, cell_weight_shapes

try:
    # On a failure, hypothesis writes the failing example as a patch with libcst,
    # whose first import warns (mypy_extensions.TypedDict is deprecated) inside a
    # pytest hook, where filterwarnings = error turns the report of the failure
    # into an INTERNALERROR. Imported once here, quietly, it does not warn again.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import libcst.metadata  # noqa: F401
except ImportError:  # then hypothesis writes no patch
    pass


def examples(n):
    return settings(
        max_examples=n,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )


FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
# Every argument goes by keyword, and n_threads only where the kernels take it.
THREADED = "n_threads" in inspect.signature(fast.lstm_forward).parameters


# ------------------------------------------------------------------- mutations
def misaligned(a):
    """A copy of ``a`` whose data starts one byte off its dtype's alignment."""
    buffer = bytearray(a.nbytes + 1)
    copy = np.frombuffer(buffer, dtype=a.dtype, count=a.size, offset=1)
    copy = copy.reshape(a.shape)
    copy[...] = a
    return copy


def stepped(a, axis):
    """A view of ``a``'s values that steps over every other element along axis."""
    index = [slice(None)] * a.ndim
    index[axis] = slice(None, None, 2)
    return np.repeat(a, 2, axis=axis)[tuple(index)]


def resized(a, axis, delta, rng):
    shape = list(a.shape)
    shape[axis] = max(0, shape[axis] + delta)
    if a.dtype == np.intc:  # a packing: zeros keep it non-increasing
        return np.zeros(shape, dtype=a.dtype)
    return rng.normal(size=shape).astype(a.dtype)


OTHER_DTYPES = [
    np.float32,
    np.float64,
    np.float16,
    np.longdouble,
    np.int32,
    np.int64,
    np.bool_,
    np.complex128,
    object,
    ">f8",
    ">f4",
    ">i4",
]
# Mutations that keep every value, changing only the memory layout or flags.
LAYOUT_ONLY = {"read-only", "misaligned", "Fortran", "stepped"}


def mutate(args, mutation, rng):
    """Apply one mutation (kind, argument number, parameter) to ``args`` in place.

    Returns whether it changed anything.
    """
    kind, number, parameter = mutation
    name = "batch_sizes" if kind == "packing" else list(args)[number % len(args)]
    a = args[name]
    if not isinstance(a, np.ndarray):  # a list already
        return False
    if kind == "read-only":
        a = a.copy()
        a.setflags(write=False)
    elif kind == "misaligned":
        if a.dtype == object or a.size == 0:
            return False
        a = misaligned(a)
    elif kind == "Fortran":
        a = np.asfortranarray(a)
    elif kind == "stepped":
        long_axes = [axis for axis in range(a.ndim) if a.shape[axis] > 1]
        if not long_axes:
            return False
        a = stepped(a, long_axes[parameter % len(long_axes)])
    elif kind == "dtype":
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # NaN buffers cast to integers
            a = a.astype(OTHER_DTYPES[parameter % len(OTHER_DTYPES)])
    elif kind == "resize":
        if a.ndim == 0:
            return False
        a = resized(a, parameter % a.ndim, 1 if parameter % 2 else -1, rng)
    elif kind == "extra axis":
        a = a[..., None]
    elif kind == "flattened":
        if a.ndim < 2:
            return False
        a = a.reshape(-1)
    elif kind == "list":
        a = a.tolist()
    elif kind == "packing":
        a = a.copy()
        if a.size == 0:
            return False
        change = parameter % 5
        if change == 0 and a.size > 1:  # rises
            a[1] = a[0] + 1
        elif change == 1:  # more running sequences than the batch holds
            a[0] = args["X"].shape[1] + 1
        elif change == 2:
            a[-1] = -1
        elif change == 3:  # fewer at the start: still a valid packing
            a[:] = np.maximum(a - 1, 0)
        else:  # the last step empty: valid too
            a[-1] = 0
    args[name] = a
    return True


MUTATION_KINDS = [
    "read-only",
    "misaligned",
    "Fortran",
    "stepped",
    "dtype",
    "resize",
    "extra axis",
    "flattened",
    "list",
    "packing",
]
mutations = st.lists(
    st.tuples(
        st.sampled_from(MUTATION_KINDS),
        st.integers(0, 16),
        st.integers(0, 100),
    ),
    max_size=2,
)


# ------------------------------------------------------------- kernel contract
def is_buffer(a, ndim, dtype, writable):
    """What a Cython ``floating[:, ::1]``-style argument accepts."""
    return (
        isinstance(a, np.ndarray)
        and a.ndim == ndim
        and a.dtype == dtype  # dtype equality includes the byte order
        and a.flags.c_contiguous
        and (a.flags.writeable or not writable)
    )


def packing_is_valid(batch_sizes, n_steps, batch):
    if batch_sizes.shape != (n_steps,):
        return False
    previous = batch
    for n in batch_sizes:
        if not 0 <= n <= previous:
            return False
        previous = n
    return True


# name: (ndim, writable); the floating arguments share X's dtype.
FORWARD_BUFFERS = {
    "X": (3, False),
    "kernel": (2, False),
    "recurrent_kernel": (2, False),
    "bias": (1, False),
    "state": (1, True),
    "recurrent_mask": (2, False),
    "hidden_masked": (3, True),
}
BACKWARD_BUFFERS = {
    "X": (3, False),
    "kernel": (2, False),
    "recurrent_kernel": (2, False),
    "state": (1, True),
    "d_hidden": (3, True),
    "d_carry": (2, True),
    "d_kernel": (2, True),
    "d_recurrent_kernel": (2, True),
    "d_bias": (1, True),
    "d_X": (3, True),
    "recurrent_mask": (2, False),
    "hidden_masked": (3, False),
    "d_work": (2, True),
}


def contract_holds(args, buffers):
    """Whether the kernels' documented contract holds for ``args``."""
    X = args["X"]
    if not isinstance(X, np.ndarray) or X.dtype not in FLOATS:
        return False
    if not all(
        is_buffer(args[name], ndim, X.dtype, writable)
        for name, (ndim, writable) in buffers.items()
    ) or not is_buffer(args["batch_sizes"], 1, np.dtype(np.intc), False):
        return False
    n_steps, batch, n_inputs = X.shape
    units = args["recurrent_kernel"].shape[0]
    kernel, recurrent, bias = cell_weight_shapes(n_inputs, units, CELLS[args["cell"]])
    steps = (n_steps, batch)
    shapes = {
        "kernel": kernel,
        "recurrent_kernel": recurrent,
        "bias": (np.prod(bias),),
        "state": (STATE_WIDTH_UNITS * n_steps * batch * units,),
        "d_hidden": (*steps, units),
        "d_kernel": kernel,
        "d_recurrent_kernel": recurrent,
        "d_bias": (np.prod(bias),),
    }
    if args["recurrent_mask"].shape[0] > 0:
        shapes.update(recurrent_mask=(batch, units), hidden_masked=(*steps, units))
        if "d_work" in buffers:
            d_work = args["d_work"]
            if d_work.shape[0] < batch or d_work.shape[1] != units:
                return False
    if "d_X" in buffers and args["d_X"].shape[0] > 0:
        shapes["d_X"] = (*steps, n_inputs)
    if "d_carry" in buffers:
        d_carry = args["d_carry"]
        if d_carry.shape[0] < batch or d_carry.shape[1] != units:
            return False
    return all(
        args[name].shape == shape for name, shape in shapes.items() if name in args
    ) and packing_is_valid(args["batch_sizes"], n_steps, batch)


@st.composite
def layers(draw):
    """Sizes, a packing, a cell and the seed of the values of one layer's problem."""
    n_steps = draw(st.integers(0, 4))
    batch = draw(st.integers(0, 3))
    running = draw(st.lists(st.integers(0, batch), min_size=n_steps, max_size=n_steps))
    return dict(
        dtype=draw(st.sampled_from(FLOATS)),
        n_steps=n_steps,
        batch=batch,
        n_inputs=draw(st.integers(0, 3)),
        units=draw(st.integers(0, 3)),
        batch_sizes=sorted(running, reverse=True),
        masked=draw(st.booleans()),
        scale=draw(st.sampled_from([0.3, 1.0, 10.0])),
        seed=draw(st.integers(0, 2**31)),
        n_threads=draw(st.sampled_from([1, 2, 3])),
        cell=draw(st.sampled_from(CELLS)),
    )


def forward_arguments(layer, rng):
    """Valid arguments of lstm_forward; the outputs hold NaN, which must not leak."""
    dtype, scale = layer["dtype"], layer["scale"]
    n_steps, batch = layer["n_steps"], layer["batch"]
    n_inputs, units = layer["n_inputs"], layer["units"]

    def normal(*shape):
        return (scale * rng.normal(size=shape)).astype(dtype)

    def garbage(*shape):
        return np.full(shape, np.nan, dtype=dtype)

    steps = (n_steps, batch)
    if layer["masked"]:
        keep = rng.uniform(size=(batch, units)) > 0.3
        mask = (keep / 0.7).astype(dtype)
        hidden_masked = garbage(*steps, units)
    else:
        mask = np.empty((0, 0), dtype=dtype)
        hidden_masked = np.empty((0, 0, 0), dtype=dtype)
    kernel, recurrent, bias = cell_weight_shapes(n_inputs, units, layer["cell"])
    return dict(
        X=normal(*steps, n_inputs),
        kernel=normal(*kernel),
        recurrent_kernel=normal(*recurrent),
        bias=normal(int(np.prod(bias))),
        batch_sizes=np.array(layer["batch_sizes"], dtype=np.intc),
        state=garbage(STATE_WIDTH_UNITS * n_steps * batch * units),
        recurrent_mask=mask,
        hidden_masked=hidden_masked,
        cell=CELLS.index(layer["cell"]),
    )


def hidden_of(args):
    """The hidden states in a layer's ``state``: its last part, (T, B, units)."""
    n_steps, batch, _ = args["X"].shape
    units = args["recurrent_kernel"].shape[0]
    return args["state"][len(args["state"]) - n_steps * batch * units :].reshape(
        n_steps, batch, units
    )


def reference_layer(cell, X, kernel, recurrent_kernel, bias, recurrent_mask):
    """The reference of ``cell`` (the kernels' number), the bias flat as given."""
    if CELLS[cell] == "gru":
        return reference_gru(
            X, kernel, recurrent_kernel, bias.reshape(2, -1), recurrent_mask
        )
    return reference_lstm(X, kernel, recurrent_kernel, bias, recurrent_mask)


def threads(layer):
    return {"n_threads": layer["n_threads"]} if THREADED else {}


def lengths_of(batch_sizes, batch):
    """Each sequence's length in a valid packing: the steps where it runs."""
    return [int((np.asarray(batch_sizes) > s).sum()) for s in range(batch)]


def reference_hidden(args):
    """The reference's hidden states of each sequence, over its own length."""
    as64 = {name: np.asarray(args[name], dtype=np.float64) for name in args}
    X = as64["X"]
    masked = as64["recurrent_mask"].shape[0] > 0
    out = []
    for s, length in enumerate(lengths_of(args["batch_sizes"], X.shape[1])):
        out.append(
            reference_layer(
                args["cell"],
                X[:length, s][None],
                as64["kernel"],
                as64["recurrent_kernel"],
                as64["bias"],
                as64["recurrent_mask"][s][None] if masked else None,
            )[0]
        )
    return out


def tolerance(args):
    """float64: near exact; float32: relative to the largest pre-activation."""
    if args["X"].dtype == np.float64:
        return 1e-9
    X = np.abs(np.asarray(args["X"], dtype=np.float64))
    largest = (
        (X.max() if X.size else 0) * np.abs(args["kernel"]).sum(axis=0).max(initial=0)
        + np.abs(args["recurrent_kernel"]).sum(axis=0).max(initial=0)
        + np.abs(args["bias"]).max(initial=0)
    )
    return 1e-6 * (1 + largest) * (1 + X.shape[0])


@examples(600)
@given(layer=layers(), changes=mutations)
def test_forward_kernel_keeps_its_contract(layer, changes):
    rng = np.random.RandomState(layer["seed"])
    args = forward_arguments(layer, rng)
    for change in changes:
        mutate(args, change, rng)
    inputs = {
        name: np.array(args[name], copy=True)
        for name in ("X", "kernel", "recurrent_kernel", "bias", "batch_sizes")
    }
    kept = contract_holds(args, FORWARD_BUFFERS)
    event("contract kept" if kept else "contract broken")
    if not kept:
        with pytest.raises((ValueError, TypeError)):
            fast.lstm_forward(**args, **threads(layer))
        return

    fast.lstm_forward(**args, **threads(layer))
    hidden = hidden_of(args)
    atol = tolerance(args)
    for s, expected in enumerate(reference_hidden(args)):
        length = len(expected)
        assert_allclose(hidden[:length, s], expected, rtol=0, atol=atol)
        assert (hidden[length:, s] == 0).all(), "a finished sequence's h must be 0"
    if args["recurrent_mask"].shape[0] > 0:
        assert_array_equal(args["hidden_masked"], hidden * args["recurrent_mask"][None])
    for name, before in inputs.items():
        assert_array_equal(args[name], before, err_msg=f"{name} was written")


def backward_arguments(layer, forward, rng):
    """Valid arguments of lstm_backward after ``forward``; outputs hold NaN."""
    dtype = layer["dtype"]
    n_steps, batch, n_inputs = forward["X"].shape
    units = layer["units"]
    masked = layer["masked"]

    def garbage(*shape):
        return np.full(shape, np.nan, dtype=dtype)

    # Rows past a sequence's end hold large values that must be ignored.
    d_hidden = rng.normal(size=(n_steps, batch, units))
    for s, length in enumerate(lengths_of(forward["batch_sizes"], batch)):
        d_hidden[length:, s] = 1e3
    extra = rng.randint(2)  # the work buffers may be taller than the batch
    return dict(
        X=forward["X"],
        kernel=forward["kernel"],
        recurrent_kernel=forward["recurrent_kernel"],
        batch_sizes=forward["batch_sizes"],
        state=forward["state"],
        d_hidden=d_hidden.astype(dtype),
        d_carry=garbage(batch + extra, units),
        d_kernel=garbage(*forward["kernel"].shape),
        d_recurrent_kernel=garbage(*forward["recurrent_kernel"].shape),
        d_bias=garbage(forward["bias"].size),
        d_X=garbage(n_steps, batch, n_inputs)
        if rng.randint(2)
        else np.empty((0, 0, 0), dtype),
        recurrent_mask=forward["recurrent_mask"],
        hidden_masked=forward["hidden_masked"]
        if masked
        else np.empty((0, 0, 0), dtype),
        d_work=garbage(batch + extra, units) if masked else np.empty((0, 0), dtype),
        cell=forward["cell"],
    )


def reference_loss(args, weights, X):
    """sum_t,s d_hidden . h over the running steps, by the reference."""
    kernel, recurrent_kernel, bias = weights
    mask = np.asarray(args["recurrent_mask"], dtype=np.float64)
    d_hidden = np.asarray(args["d_hidden"], dtype=np.float64)
    loss = 0.0
    for s, length in enumerate(lengths_of(args["batch_sizes"], X.shape[1])):
        h = reference_layer(
            args["cell"],
            X[:length, s][None],
            kernel,
            recurrent_kernel,
            bias,
            mask[s][None] if mask.shape[0] > 0 else None,
        )[0]
        loss += (d_hidden[:length, s] * h).sum()
    return loss


@examples(500)
@given(layer=layers(), changes=mutations)
def test_backward_kernel_keeps_its_contract(layer, changes):
    rng = np.random.RandomState(layer["seed"])
    forward = forward_arguments(layer, rng)
    fast.lstm_forward(**forward, **threads(layer))
    args = backward_arguments(layer, forward, rng)
    bias = forward["bias"]
    changed = {kind for kind, *_ in changes}
    for change in changes:
        mutate(args, change, rng)
    kept = contract_holds(args, BACKWARD_BUFFERS)
    event("contract kept" if kept else "contract broken")
    if not kept:
        with pytest.raises((ValueError, TypeError)):
            fast.lstm_backward(**args, **threads(layer))
        return

    d_hidden = np.array(args["d_hidden"], dtype=np.float64)  # clobbered by the call
    fast.lstm_backward(**args, **threads(layer))
    if 0 in args["X"].shape[:2]:
        return  # see test_backward_of_nothing_zeroes_the_weight_gradients
    results = [args["d_kernel"], args["d_recurrent_kernel"], args["d_bias"]]
    for result in results:
        assert np.isfinite(result).all()
    if not changed <= LAYOUT_ONLY | {"resize"}:
        return  # a valid call, but maybe not the forward's problem any more

    # The gradient along a random direction against central differences.
    event("gradient checked")
    as64 = [
        np.asarray(a, dtype=np.float64)
        for a in (args["kernel"], args["recurrent_kernel"], bias)
    ]
    X = np.asarray(args["X"], dtype=np.float64)
    lengths = lengths_of(args["batch_sizes"], X.shape[1])
    directions = [rng.normal(size=a.shape) for a in as64]
    direction_X = rng.normal(size=X.shape)
    for s, length in enumerate(lengths):
        direction_X[length:, s] = 0
    want_d_X = args["d_X"].shape[0] > 0
    if not want_d_X:
        direction_X[...] = 0
    terms = [g * d for g, d in zip(results, directions)]
    if want_d_X:
        d_X = np.asarray(args["d_X"], dtype=np.float64)
        for s, length in enumerate(lengths):
            assert (d_X[length:, s] == 0).all(), "d_X past a sequence's end"
        terms.append(d_X * direction_X)
    analytic = sum(t.sum() for t in terms)
    scale = 1 + sum(np.abs(t).sum() for t in terms)
    eps = 1e-6
    loss_args = dict(args, d_hidden=d_hidden)

    def loss(sign):
        weights = [a + sign * eps * d for a, d in zip(as64, directions)]
        return reference_loss(loss_args, weights, X + sign * eps * direction_X)

    numeric = (loss(1) - loss(-1)) / (2 * eps)
    rtol = 1e-6 if args["X"].dtype == np.float64 else 2e-3
    assert abs(analytic - numeric) <= rtol * scale, (analytic, numeric)


@pytest.mark.parametrize("n_steps, batch", [(0, 2), (3, 0)])
def test_backward_of_nothing_zeroes_the_weight_gradients(n_steps, batch):
    """Gradients are overwritten, not added: over no steps, they are zero."""
    layer = dict(
        dtype=np.dtype(np.float64),
        n_steps=n_steps,
        batch=batch,
        n_inputs=2,
        units=2,
        batch_sizes=[batch] * n_steps,
        masked=False,
        scale=1.0,
        n_threads=1,
        cell="gru",
    )
    rng = np.random.RandomState(0)
    forward = forward_arguments(layer, rng)
    fast.lstm_forward(**forward)
    args = backward_arguments(layer, forward, rng)
    fast.lstm_backward(**args)
    for name in ("d_kernel", "d_recurrent_kernel", "d_bias"):
        assert_array_equal(args[name], 0, err_msg=name)


# -------------------------------------------------------- estimator boundary
N_FEATURES = 3
X_DTYPES = [
    np.float64,
    np.float32,
    np.float16,
    np.int32,
    ">f8",
    np.complex128,
    object,
    np.str_,
    np.longdouble,
    np.int8,
    np.int64,
    np.uint8,
    np.bool_,
    ">f4",
    ">i4",
    np.float64,
]
LAYOUTS = ["C", "Fortran", "stepped", "reversed", "read-only", "misaligned"]


def fitted_model(estimator_class, dtype):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(30, 4, N_FEATURES)).astype(dtype)
    y = np.arange(30) % 3 if estimator_class is LSTMClassifier else X[:, -1, :2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter reached, on purpose
        return estimator_class(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(
            X, y
        )


MODELS = {
    (cls, dtype): fitted_model(cls, dtype)
    for cls in (LSTMClassifier, LSTMRegressor)
    for dtype in (np.float64, np.float32)
}


@st.composite
def arrays(draw, ndims=(3,) * 10 + (2, 2, 2, 1, 0, 4), sizes=(1, 2, 3, 4) * 3 + (0,)):
    """An X of any shape, dtype, layout and values, maybe with NaN or infinity.

    Repeated choices lean the draws towards valid X (about half of them), so that
    both outcomes are well exercised.
    """
    ndim = draw(st.sampled_from(ndims))
    shape = [draw(st.sampled_from(sizes)) for _ in range(ndim)]
    if ndim:
        shape[-1] = draw(st.sampled_from([N_FEATURES] * 14 + [0, 2, 4]))
    return make_array(
        shape,
        np.dtype(draw(st.sampled_from(X_DTYPES))),
        draw(st.sampled_from([1.0, 1.0, 1e3, 1e30, 1e300])),
        draw(st.sampled_from([None] * 12 + [np.nan, np.inf, -np.inf])),
        draw(st.sampled_from(LAYOUTS)),
        draw(st.integers(0, 2**31)),
    )


def make_array(shape, dtype, scale, special, layout, seed):
    rng = np.random.RandomState(seed)
    values = np.asarray(scale * rng.normal(size=shape))
    if special is not None and values.size:
        values.flat[rng.randint(values.size)] = special
    with np.errstate(over="ignore", invalid="ignore"):
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            X = np.nan_to_num(values).clip(info.min, info.max).astype(dtype)
        elif dtype.kind == "b":
            X = values > 0
        elif dtype.kind == "c":
            X = values + 1j
        elif dtype.kind == "O":
            X = values.astype(object)
            if special is not None and values.size:
                X.flat[0] = None  # None, as a missing value, where NaN could be
        elif dtype.kind == "U":
            X = values.astype(str)
        else:
            X = values.astype(dtype)
    if layout == "Fortran":
        X = np.asfortranarray(X)
    elif layout == "stepped" and X.ndim:
        X = stepped(X, rng.randint(X.ndim))
    elif layout == "reversed":
        X = X[(slice(None, None, -1),) * X.ndim]
    elif layout == "read-only":
        X = X.copy()
        X.setflags(write=False)
    elif layout == "misaligned" and dtype.kind in "biuf":
        X = misaligned(X)
    return X


def canonical(X, dtype=np.float64, n_features=N_FEATURES):
    """X as the plain array that any valid X must behave as, or None if invalid.

    ``n_features`` is the fitted model's; None (for fit) takes any but 0.
    """
    if np.asarray(X).dtype.kind == "c":
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            plain = np.array(X, dtype=np.float64, order="C")
    except (TypeError, ValueError):
        return None
    if plain.ndim not in (2, 3) or 0 in plain.shape[:-1]:
        return None
    if plain.shape[-1] != (n_features or plain.shape[-1] or -1):
        return None
    if not np.isfinite(plain).all():
        return None
    if (np.abs(plain) > np.finfo(dtype).max).any():
        return None
    return plain


def trainable(plain, dtype):
    """Whether a valid X's values are small enough to train on (in dtype)."""
    return bool((np.abs(plain) <= np.sqrt(np.finfo(dtype).max)).all())


def outcome(method, X):
    """method(X), and the warnings it raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            return method(X), None, caught
        except (ValueError, TypeError) as error:
            return None, error, caught


def check_prediction(method, X, model_dtype):
    plain = canonical(X, model_dtype)
    result, error, caught = outcome(method, X)
    event("invalid X" if plain is None else "valid X")
    if plain is None:
        assert error is not None, f"invalid X accepted: {X!r}"
        assert str(error), "an error without a message"
        return
    assert error is None, f"valid X refused: {error!r}"
    assert not caught, [str(w.message) for w in caught]
    expected = method(plain)
    assert result.shape == expected.shape
    assert result.shape[0] == plain.shape[0]
    if result.dtype.kind == "f":
        assert result.dtype == model_dtype
        assert np.isfinite(result).all()
    rtol = 1e-12 if model_dtype == np.float64 else 1e-6
    assert_allclose(result, expected, rtol=rtol, atol=rtol)


PREDICTORS = [
    (LSTMClassifier, np.float64, "predict_proba"),
    (LSTMClassifier, np.float64, "predict"),
    (LSTMClassifier, np.float32, "predict_proba"),
    (LSTMRegressor, np.float64, "predict"),
    (LSTMRegressor, np.float32, "predict"),
]


@pytest.mark.parametrize(
    "estimator_class, dtype, method",
    PREDICTORS,
    ids=[f"{c.__name__}-{np.dtype(d)}-{m}" for c, d, m in PREDICTORS],
)
@examples(250)
@given(X=arrays())
def test_prediction_is_right_or_a_clean_error(estimator_class, dtype, method, X):
    model = MODELS[estimator_class, dtype]
    check_prediction(getattr(model, method), X, np.dtype(dtype))


@examples(250)
@given(
    sequences=st.lists(arrays(ndims=(2,) * 10 + (1, 3)), min_size=1, max_size=3),
    first=arrays(ndims=(2,)),
)
def test_prediction_of_a_list_is_right_or_a_clean_error(first, sequences):
    sequences = [first] + sequences  # one 2-D array makes it a list of sequences
    model = MODELS[LSTMClassifier, np.float64]
    plain = [canonical(x) for x in sequences]
    result, error, _ = outcome(model.predict_proba, sequences)
    valid = all(p is not None and p.ndim == 2 for p in plain)
    event("valid X" if valid else "invalid X")
    if not valid:
        assert error is not None, "an invalid sequence accepted"
        return
    assert error is None, f"valid sequences refused: {error!r}"
    assert_allclose(result, model.predict_proba(plain), rtol=1e-12, atol=1e-15)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("estimator_class", [LSTMClassifier, LSTMRegressor])
@examples(120)
@given(
    X=arrays(ndims=(3,) * 10 + (2, 2, 1, 4), sizes=(2, 3, 4, 5) * 3 + (1, 0)),
    weights=st.sampled_from(["none"] * 4 + ["ones"] * 4 + ["negative", "nan", "short"]),
    y_length=st.sampled_from([0] * 8 + [1]),
)
def test_fit_is_right_or_a_clean_error(estimator_class, X, weights, y_length):
    n_samples = X.shape[0] if X.ndim else 1
    if estimator_class is LSTMClassifier:
        y = np.arange(n_samples + y_length) % 2
    else:
        y = np.linspace(-1, 1, n_samples + y_length)
    sample_weight = {
        "none": None,
        "ones": np.ones(n_samples),
        "negative": -np.ones(n_samples),
        "nan": np.full(n_samples, np.nan),
        "short": np.ones(max(n_samples - 1, 0)),
    }[weights]
    model_dtype = np.float32 if X.dtype == np.float32 else np.float64
    plain = canonical(X, model_dtype, n_features=None)
    valid = (
        plain is not None
        and trainable(plain, model_dtype)
        and y_length == 0
        and weights in ("none", "ones")
        and (estimator_class is LSTMRegressor or n_samples >= 2)
    )

    def fit(X):
        est = estimator_class(hidden_layer_sizes=(2,), max_iter=1, random_state=0)
        return est.fit(X, y, sample_weight=sample_weight).get_weights()

    result, error, caught = outcome(fit, X)
    event("valid" if valid else "invalid")
    if not valid:
        assert error is not None, f"invalid fit accepted: {X!r}"
        return
    assert error is None, f"valid X refused: {error!r}"
    assert not [w for w in caught if w.category is not ConvergenceWarning]
    expected = fit(plain.astype(model_dtype))
    for got, want in zip(result, expected):
        assert got.dtype == model_dtype
        assert np.isfinite(got).all()
        assert_allclose(got, want, rtol=1e-12 if model_dtype == np.float64 else 1e-6)
