"""Forward pass and backpropagation through time for one LSTM layer.

Only numeric loops live here: the caller allocates every buffer, checks every shape
and owns all state. Buffers are time-major, ``(n_timesteps, batch, width)``, so that
the rows of one step form one contiguous block for BLAS.

Gate order in the ``4 * units`` axis is Keras' (and PyTorch's): input, forget, cell
candidate, output.

Sequences of different lengths are packed as PyTorch's ``PackedSequence`` does: the
batch is sorted by decreasing length and ``batch_sizes[t]`` is the number of sequences
still running at step ``t``, so step ``t`` touches only the first ``batch_sizes[t]``
rows. Rows past a sequence's end hold zeros in ``hidden`` and in the gate gradients,
which keeps the all-steps GEMMs exact. A dense batch is ``batch_sizes[:] = batch``.
"""

from cython cimport floating
from libc.math cimport exp, tanh
from libc.string cimport memset
from scipy.linalg.cython_blas cimport dgemm, sgemm


cdef inline void _gemm(
    bint trans_a,
    bint trans_b,
    int m,
    int n,
    int k,
    floating alpha,
    const floating *a,
    int lda,
    const floating *b,
    int ldb,
    floating beta,
    floating *c,
    int ldc,
) noexcept nogil:
    """Row-major ``C = alpha * op(A) @ op(B) + beta * C``, ``C`` of shape (m, n).

    BLAS is column-major, and a row-major matrix read column-major is its
    transpose, so the row-major product is the column-major ``C.T = op(B).T @
    op(A).T``: swap the operands, keep the flags.
    """
    cdef char ta = b"T" if trans_a else b"N"
    cdef char tb = b"T" if trans_b else b"N"
    if m <= 0 or n <= 0:
        return
    if floating is float:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float *> b, &ldb, <float *> a, &lda,
              &beta, c, &ldc)
    else:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double *> b, &ldb, <double *> a, &lda,
              &beta, c, &ldc)


cdef extern from *:
    """
    /* tanh to 2.4e-7 absolute, as Eigen's float tanh: clamp, then a 13/6 rational.
       Plain C arithmetic with branch-free clamps, so that the per-step loops calling
       it vectorise (libm's tanhf does not) and no input can overflow. */
    static inline float sklstm_tanhf(float x) {
        const float limit = 7.90531110763549805f;
        x = x > limit ? limit : x;
        x = x < -limit ? -limit : x;
        const float x2 = x * x;
        float p = -2.76076847742355e-16f;
        p = p * x2 + 2.00018790482477e-13f;
        p = p * x2 + -8.60467152213735e-11f;
        p = p * x2 + 5.12229709037114e-08f;
        p = p * x2 + 1.48572235717979e-05f;
        p = p * x2 + 6.37261928875436e-04f;
        p = p * x2 + 4.89352455891786e-03f;
        float q = 1.19825839466702e-06f;
        q = q * x2 + 1.18534705686654e-04f;
        q = q * x2 + 2.26843463243900e-03f;
        q = q * x2 + 4.89352518554385e-03f;
        return x * p / q;
    }
    """
    float _rational_tanhf "sklstm_tanhf"(float x) noexcept nogil


cdef inline floating _tanh(floating x) noexcept nogil:
    if floating is float:
        return _rational_tanhf(x)
    else:
        return tanh(x)


cdef inline floating _sigmoid(floating x) noexcept nogil:
    cdef double e
    if floating is float:
        return <float> 0.5 * _rational_tanhf(<float> 0.5 * x) + <float> 0.5
    else:
        # exp of a non-positive number only: no overflow for large |x|.
        if x >= 0:
            e = exp(-x)
            return 1 / (1 + e)
        e = exp(x)
        return e / (1 + e)


cdef inline void _cell_forward(
    int units,
    floating *z,               # IN pre-activations less bias (4H,); OUT activated
    const floating *bias,      # IN (4H,)
    const floating *c_prev,    # IN (H,) c_{t-1}; may be c itself, holding zeros
    floating *c,               # OUT (H,)
    floating *c_tanh,          # OUT (H,)
    floating *h,               # OUT (H,)
) noexcept nogil:
    # One gate block per loop, each loop over contiguous memory with no branch:
    # GCC vectorises them for float (the clamp + divide of the rational tanh needs
    # -fno-trapping-math, set in setup.py).
    cdef int j
    cdef floating *i_gate = z
    cdef floating *f_gate = z + units
    cdef floating *g_gate = z + 2 * units
    cdef floating *o_gate = z + 3 * units
    for j in range(2 * units):
        z[j] = _sigmoid(z[j] + bias[j])
    for j in range(units):
        g_gate[j] = _tanh(g_gate[j] + bias[2 * units + j])
    for j in range(units):
        o_gate[j] = _sigmoid(o_gate[j] + bias[3 * units + j])
    for j in range(units):
        c[j] = f_gate[j] * c_prev[j] + i_gate[j] * g_gate[j]
    for j in range(units):
        c_tanh[j] = _tanh(c[j])
        h[j] = o_gate[j] * c_tanh[j]


cdef inline void _cell_backward(
    int units,
    floating *z,               # IN activated gates (4H,); OUT their gradients
    const floating *c_prev,    # IN (H,) c_{t-1}, times prev_scale
    floating prev_scale,       # IN 1, or 0 at the first step (where c_{-1} = 0)
    const floating *c_tanh,    # IN (H,)
    const floating *dh,        # IN dL/dh_t (H,)
    floating *dc,              # IN dL/dc_t from step t + 1; OUT dL/dc_{t-1}
) noexcept nogil:
    # Three branch-free loops, each touching few streams, so that GCC vectorises
    # them (one loop over all four gates defeats its dependence analysis).
    cdef int j
    cdef floating *i_gate = z
    cdef floating *f_gate = z + units
    cdef floating *g_gate = z + 2 * units
    cdef floating *o_gate = z + 3 * units
    cdef floating o, tc, i, g, f
    for j in range(units):
        o = o_gate[j]
        tc = c_tanh[j]
        dc[j] = dc[j] + dh[j] * o * (1 - tc * tc)      # dc is now dL/dc_t
        o_gate[j] = dh[j] * tc * o * (1 - o)
    for j in range(units):
        i = i_gate[j]
        g = g_gate[j]
        i_gate[j] = dc[j] * g * i * (1 - i)
        g_gate[j] = dc[j] * i * (1 - g * g)
    for j in range(units):
        f = f_gate[j]
        f_gate[j] = dc[j] * c_prev[j] * prev_scale * f * (1 - f)
        dc[j] = dc[j] * f


cdef int _check(bint ok, str what) except -1:
    if not ok:
        raise ValueError(f"lstm kernel: {what}")
    return 0


cdef int _check_packing(const int[::1] batch_sizes, int n_steps, int batch) except -1:
    """The GEMMs trust ``batch_sizes``: a wrong one would write out of bounds."""
    cdef int t, previous = batch
    _check(batch_sizes.shape[0] == n_steps, "batch_sizes must have one entry a step")
    for t in range(n_steps):
        _check(0 <= batch_sizes[t] <= previous,
               "batch_sizes must be non-increasing, within [0, batch]")
        previous = batch_sizes[t]
    return 0


cdef int _check_steps(Py_ssize_t *shape, int n_steps, int batch, int width,
                      str name) except -1:
    """A (n_steps, batch, width) buffer, as the GEMMs will address it."""
    if shape[0] != n_steps or shape[1] != batch or shape[2] != width:
        # Formatted only on failure: this runs at every kernel call.
        raise ValueError(
            f"lstm kernel: {name} has shape {(shape[0], shape[1], shape[2])}, "
            f"expected {(n_steps, batch, width)}"
        )
    return 0


def lstm_forward(
    const floating[:, :, ::1] X,                 # IN  (T, B, D)
    const floating[:, ::1] kernel,               # IN  (D, 4H)
    const floating[:, ::1] recurrent_kernel,     # IN  (H, 4H)
    const floating[::1] bias,                    # IN  (4H,)
    const int[::1] batch_sizes,                  # IN  (T,) non-increasing, <= B
    floating[:, :, ::1] gates,                   # OUT (T, B, 4H) activated i, f, g, o
    floating[:, :, ::1] cells,                   # OUT (T, B, H)  c_t
    floating[:, :, ::1] cells_tanh,              # OUT (T, B, H)  tanh(c_t)
    floating[:, :, ::1] hidden,                  # OUT (T, B, H)  h_t, 0 past the end
    const floating[:, ::1] recurrent_mask,       # IN  (B, H), or (0, 0): no dropout
    floating[:, :, ::1] hidden_masked,           # OUT (T, B, H) h_t * mask, or empty
):
    """Run one LSTM layer over a packed minibatch, from a zero initial state.

    ``gates``, ``cells`` and ``cells_tanh`` are what :func:`lstm_backward` needs;
    ``hidden`` is the layer's output sequence. With a ``recurrent_mask`` (Keras'
    recurrent dropout: one mask per sequence, the same at every step) the
    recurrent kernel sees ``h_{t-1} * mask``, kept in ``hidden_masked``.
    """
    cdef int n_steps = X.shape[0]
    cdef int batch = X.shape[1]
    cdef int n_inputs = X.shape[2]
    cdef int units = recurrent_kernel.shape[0]
    cdef int width = 4 * units
    cdef int t, s, j, n_active
    cdef bint masked = recurrent_mask.shape[0] > 0
    cdef floating[:, :, ::1] recurrent_input = hidden_masked if masked else hidden

    # Raw-pointer GEMMs write whole blocks: check every extent they rely on.
    _check_packing(batch_sizes, n_steps, batch)
    _check(kernel.shape[0] == n_inputs and kernel.shape[1] == width
           and recurrent_kernel.shape[1] == width and bias.shape[0] == width,
           "weights do not match the input width and units")
    _check_steps(gates.shape, n_steps, batch, width, "gates")
    _check_steps(cells.shape, n_steps, batch, units, "cells")
    _check_steps(cells_tanh.shape, n_steps, batch, units, "cells_tanh")
    _check_steps(hidden.shape, n_steps, batch, units, "hidden")
    if masked:
        _check(recurrent_mask.shape[0] == batch and recurrent_mask.shape[1] == units,
               "recurrent_mask has the wrong shape")
        _check_steps(hidden_masked.shape, n_steps, batch, units, "hidden_masked")
    if n_steps == 0 or batch == 0:
        return
    with nogil:
        # Input projection of every step at once: gates = X @ kernel (the bias is
        # added in the elementwise pass, saving a pass over the buffer).
        _gemm(False, False, n_steps * batch, width, n_inputs, <floating> 1,
              &X[0, 0, 0], n_inputs, &kernel[0, 0], width,
              <floating> 0, &gates[0, 0, 0], width)

        for t in range(n_steps):
            n_active = batch_sizes[t]
            if t > 0:
                _gemm(False, False, n_active, width, units, <floating> 1,
                      &recurrent_input[t - 1, 0, 0], units,
                      &recurrent_kernel[0, 0], width,
                      <floating> 1, &gates[t, 0, 0], width)
            if t == 0:
                # c_{-1} = 0: zero the first cells and read them as the previous.
                memset(&cells[0, 0, 0], 0, n_active * units * sizeof(floating))
            for s in range(n_active):
                _cell_forward(
                    units,
                    &gates[t, s, 0],
                    &bias[0],
                    &cells[t - 1 if t > 0 else 0, s, 0],
                    &cells[t, s, 0],
                    &cells_tanh[t, s, 0],
                    &hidden[t, s, 0],
                )
            for s in range(n_active, batch):
                for j in range(units):
                    hidden[t, s, j] = 0
            if masked:
                for s in range(batch):
                    for j in range(units):
                        hidden_masked[t, s, j] = hidden[t, s, j] * recurrent_mask[s, j]


def lstm_backward(
    const floating[:, :, ::1] X,                 # IN  (T, B, D) as in the forward
    const floating[:, ::1] kernel,               # IN  (D, 4H)
    const floating[:, ::1] recurrent_kernel,     # IN  (H, 4H)
    const int[::1] batch_sizes,                  # IN  (T,)
    floating[:, :, ::1] gates,                   # IN  activated gates; OUT dL/dz
    const floating[:, :, ::1] cells,             # IN  (T, B, H)
    const floating[:, :, ::1] cells_tanh,        # IN  (T, B, H)
    const floating[:, :, ::1] hidden,            # IN  (T, B, H)
    floating[:, :, ::1] d_hidden,                # IN  dL/dh_t from above; clobbered
    floating[:, ::1] d_cell,                     # WORK (B, H)
    floating[:, ::1] d_kernel,                   # OUT (D, 4H)
    floating[:, ::1] d_recurrent_kernel,         # OUT (H, 4H)
    floating[::1] d_bias,                        # OUT (4H,)
    floating[:, :, ::1] d_X,                     # OUT (T, B, D), or (0, 0, 0): skip
    const floating[:, ::1] recurrent_mask,       # IN  (B, H), or (0, 0), as forward
    const floating[:, :, ::1] hidden_masked,     # IN  (T, B, H) from the forward
    floating[:, ::1] d_work,                     # WORK (B, H) with a mask
):
    """Backpropagate through one LSTM layer after :func:`lstm_forward`.

    ``d_hidden`` holds the gradient of the loss with respect to each output
    ``h_t`` (rows past a sequence's end are ignored). The gate buffer is overwritten
    by the gradients with respect to the gate pre-activations, so a forward must be
    run again before another backward. Weight gradients are overwritten, not added.
    """
    cdef int n_steps = X.shape[0]
    cdef int batch = X.shape[1]
    cdef int n_inputs = X.shape[2]
    cdef int units = recurrent_kernel.shape[0]
    cdef int width = 4 * units
    cdef int t, s, j, n_active, n_next
    cdef bint want_d_X = d_X.shape[0] > 0
    cdef bint masked = recurrent_mask.shape[0] > 0
    cdef const floating[:, :, ::1] recurrent_input = hidden_masked if masked else hidden
    cdef floating *z

    _check_packing(batch_sizes, n_steps, batch)
    _check(kernel.shape[0] == n_inputs and kernel.shape[1] == width
           and recurrent_kernel.shape[1] == width
           and d_kernel.shape[0] == n_inputs and d_kernel.shape[1] == width
           and d_recurrent_kernel.shape[0] == units
           and d_recurrent_kernel.shape[1] == width and d_bias.shape[0] == width,
           "weights or their gradients do not match the input width and units")
    _check_steps(gates.shape, n_steps, batch, width, "gates")
    _check_steps(cells.shape, n_steps, batch, units, "cells")
    _check_steps(cells_tanh.shape, n_steps, batch, units, "cells_tanh")
    _check_steps(hidden.shape, n_steps, batch, units, "hidden")
    _check_steps(d_hidden.shape, n_steps, batch, units, "d_hidden")
    _check(d_cell.shape[0] >= batch and d_cell.shape[1] == units,
           "d_cell has the wrong shape")
    if want_d_X:
        _check_steps(d_X.shape, n_steps, batch, n_inputs, "d_X")
    if masked:
        _check(recurrent_mask.shape[0] == batch and recurrent_mask.shape[1] == units
               and d_work.shape[0] >= batch and d_work.shape[1] == units,
               "recurrent_mask or d_work has the wrong shape")
        _check_steps(hidden_masked.shape, n_steps, batch, units, "hidden_masked")
    if n_steps == 0 or batch == 0:
        return
    with nogil:
        for t in range(n_steps - 1, -1, -1):
            n_active = batch_sizes[t]
            n_next = batch_sizes[t + 1] if t + 1 < n_steps else 0
            # Sequences still running at t + 1 pass gradient back through h_t
            # (through h_t * mask with recurrent dropout).
            if not masked:
                _gemm(False, True, n_next, units, width, <floating> 1,
                      &gates[t + 1, 0, 0] if n_next > 0 else NULL, width,
                      &recurrent_kernel[0, 0], width,
                      <floating> 1, &d_hidden[t, 0, 0], units)
            elif n_next > 0:
                _gemm(False, True, n_next, units, width, <floating> 1,
                      &gates[t + 1, 0, 0], width, &recurrent_kernel[0, 0], width,
                      <floating> 0, &d_work[0, 0], units)
                for s in range(n_next):
                    for j in range(units):
                        d_hidden[t, s, j] += d_work[s, j] * recurrent_mask[s, j]
            # Sequences that end at t get no cell gradient from t + 1.
            if n_active > n_next:
                memset(&d_cell[n_next, 0], 0,
                       (n_active - n_next) * units * sizeof(floating))
            for s in range(n_active):
                _cell_backward(
                    units,
                    &gates[t, s, 0],
                    &cells[t - 1 if t > 0 else 0, s, 0],
                    1 if t > 0 else 0,
                    &cells_tanh[t, s, 0],
                    &d_hidden[t, s, 0],
                    &d_cell[s, 0],
                )
            for s in range(n_active, batch):
                for j in range(width):
                    gates[t, s, j] = 0

        # Weight gradients summed over all steps, one GEMM each.
        _gemm(True, False, n_inputs, width, n_steps * batch, <floating> 1,
              &X[0, 0, 0], n_inputs, &gates[0, 0, 0], width,
              <floating> 0, &d_kernel[0, 0], width)
        if n_steps > 1:
            _gemm(True, False, units, width, (n_steps - 1) * batch, <floating> 1,
                  &recurrent_input[0, 0, 0], units, &gates[1, 0, 0], width,
                  <floating> 0, &d_recurrent_kernel[0, 0], width)
        else:
            for s in range(units):
                for j in range(width):
                    d_recurrent_kernel[s, j] = 0
        for j in range(width):
            d_bias[j] = 0
        for t in range(n_steps):
            for s in range(batch):
                z = &gates[t, s, 0]
                for j in range(width):
                    d_bias[j] += z[j]
        if want_d_X:
            _gemm(False, True, n_steps * batch, n_inputs, width, <floating> 1,
                  &gates[0, 0, 0], width, &kernel[0, 0], width,
                  <floating> 0, &d_X[0, 0, 0], n_inputs)
