"""Array utilities: a minibatch gathered time-major, softmax, finiteness checks."""

from cython cimport floating
from libc.string cimport memcpy

from sklstm._kernels._array cimport (
    _activations_d,
    _activations_f,
    _widest_isa,
    all_finite_values,
    softmax_row,
)
from sklstm._kernels._layout cimport check


def gather_time_major(
    const floating[:, :, ::1] X,                 # IN  (N, T, D) batch-major
    const Py_ssize_t[::1] index,                 # IN  (B,) rows of X, in [0, N)
    floating[:, :, ::1] out,                     # OUT (T, B, D) time-major
):
    """``out[t, b] = X[index[b], t]``: a minibatch in the kernels' layout.

    One pass of contiguous copies, where NumPy's gather and then its transposing
    copy make two, each with its temporary.
    """
    cdef Py_ssize_t n_samples = X.shape[0], batch = index.shape[0]
    cdef Py_ssize_t n_steps = X.shape[1], n_features = X.shape[2], b, t
    check(out.shape[0] == n_steps and out.shape[1] == batch
          and out.shape[2] == n_features, "out must be (n_steps, batch, n_features)")
    for b in range(batch):
        check(0 <= index[b] < n_samples, "index out of range")
    if n_steps == 0 or n_features == 0:
        return
    with nogil:
        for t in range(n_steps):
            for b in range(batch):
                memcpy(&out[t, b, 0], &X[index[b], t, 0],
                       n_features * sizeof(floating))


def softmax_rows(
    const floating[:, ::1] z,                    # IN  (N, K) logits
    floating[:, ::1] out,                        # OUT (N, K) probabilities or logs
    bint take_log=False,                         # IN  log-softmax instead
):
    """Softmax of each row of ``z`` (or its log, without underflow) into ``out``.

    NumPy's five passes (max, shift, exp, sum, divide) cost a one-sequence
    prediction more in calls than in arithmetic; this is the same arithmetic in
    one call: shifted by the row's maximum, so no exp overflows; as there, a
    row with NaN or +inf gives NaN, and -inf gives probability 0.
    """
    cdef Py_ssize_t n = z.shape[0], k = z.shape[1], i
    check(out.shape[0] == n and out.shape[1] == k, "out must have the shape of z")
    if k == 0:
        return
    with nogil:
        for i in range(n):
            softmax_row(k, &z[i, 0], &out[i, 0], take_log)


# Values an all_finite call checks while holding the GIL: releasing it costs
# more than checking a few sequences.
cdef long FINITE_CHECK_WITH_GIL = 1 << 16


def all_finite(const floating[:, :, :] X):
    """Whether every value of ``X`` is finite: one pass, no temporary array."""
    cdef Py_ssize_t i, j, k
    cdef long n = X.shape[0] * X.shape[1] * X.shape[2]
    cdef bint finite = True
    if n == 0:
        return True
    if (X.strides[2] == sizeof(floating) and X.strides[1] == X.shape[2] * X.strides[2]
            and X.strides[0] == X.shape[1] * X.strides[1]):
        if n <= FINITE_CHECK_WITH_GIL:
            return all_finite_values(n, &X[0, 0, 0])
        with nogil:
            finite = all_finite_values(n, &X[0, 0, 0])
        return finite
    with nogil:
        for i in range(X.shape[0]):
            for j in range(X.shape[1]):
                for k in range(X.shape[2]):
                    finite = finite and all_finite_values(1, &X[i, j, k])
    return finite


def cell_activations(const floating[::1] x, floating[::1] out, bint sigmoid):
    """``out = sigmoid(x)`` (or ``tanh(x)``) computed as the kernels' cells do.

    The vectorised activations of ``src/vmath.h``, for the tests of their
    precision against libm.
    """
    check(out.shape[0] == x.shape[0], "out must have the shape of x")
    if x.shape[0] == 0:
        return
    with nogil:
        if floating is float:
            _activations_f(x.shape[0], &x[0], &out[0], sigmoid)
        else:
            _activations_d(x.shape[0], &x[0], &out[0], sigmoid)


def instruction_set():
    """The widest instruction set the kernels run here.

    "avx512", "avx2" or "baseline" (SSE2), as the CPU and ``SKLSTM_MAX_ISA``
    allow: for the benchmarks' reports, whose figures depend on it.
    """
    return ("baseline", "avx2", "avx512")[_widest_isa()]
