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
from libc.math cimport exp, expf, tanh, tanhf
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


cdef inline floating _exp(floating x) noexcept nogil:
    if floating is float:
        return expf(x)
    else:
        return exp(x)


cdef inline floating _tanh(floating x) noexcept nogil:
    if floating is float:
        return tanhf(x)
    else:
        return tanh(x)


cdef inline floating _sigmoid(floating x) noexcept nogil:
    # exp of a non-positive number only: no overflow for large |x|.
    cdef floating e
    if x >= 0:
        e = _exp(-x)
        return 1 / (1 + e)
    e = _exp(x)
    return e / (1 + e)


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
):
    """Run one LSTM layer over a packed minibatch, from a zero initial state.

    ``gates``, ``cells`` and ``cells_tanh`` are what :func:`lstm_backward` needs;
    ``hidden`` is the layer's output sequence.
    """
    cdef int n_steps = X.shape[0]
    cdef int batch = X.shape[1]
    cdef int n_inputs = X.shape[2]
    cdef int units = recurrent_kernel.shape[0]
    cdef int width = 4 * units
    cdef int t, s, j, n_active
    cdef floating *z
    cdef floating c_prev, i_gate, f_gate, g_gate, o_gate, c, c_tanh

    if n_steps == 0 or batch == 0:
        return
    with nogil:
        # Input projection of every step at once: gates = X @ kernel + bias.
        for t in range(n_steps):
            for s in range(batch):
                for j in range(width):
                    gates[t, s, j] = bias[j]
        _gemm(False, False, n_steps * batch, width, n_inputs, <floating> 1,
              &X[0, 0, 0], n_inputs, &kernel[0, 0], width,
              <floating> 1, &gates[0, 0, 0], width)

        for t in range(n_steps):
            n_active = batch_sizes[t]
            if t > 0:
                _gemm(False, False, n_active, width, units, <floating> 1,
                      &hidden[t - 1, 0, 0], units, &recurrent_kernel[0, 0], width,
                      <floating> 1, &gates[t, 0, 0], width)
            for s in range(n_active):
                z = &gates[t, s, 0]
                for j in range(units):
                    i_gate = _sigmoid(z[j])
                    f_gate = _sigmoid(z[units + j])
                    g_gate = _tanh(z[2 * units + j])
                    o_gate = _sigmoid(z[3 * units + j])
                    c_prev = cells[t - 1, s, j] if t > 0 else 0
                    c = f_gate * c_prev + i_gate * g_gate
                    c_tanh = _tanh(c)
                    z[j] = i_gate
                    z[units + j] = f_gate
                    z[2 * units + j] = g_gate
                    z[3 * units + j] = o_gate
                    cells[t, s, j] = c
                    cells_tanh[t, s, j] = c_tanh
                    hidden[t, s, j] = o_gate * c_tanh
            for s in range(n_active, batch):
                for j in range(units):
                    hidden[t, s, j] = 0


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
    cdef floating *z
    cdef floating i_gate, f_gate, g_gate, o_gate, c_prev, c_tanh, dh, dc, do

    with nogil:
        for t in range(n_steps - 1, -1, -1):
            n_active = batch_sizes[t]
            n_next = batch_sizes[t + 1] if t + 1 < n_steps else 0
            # Sequences still running at t + 1 pass gradient back through h_t.
            _gemm(False, True, n_next, units, width, <floating> 1,
                  &gates[t + 1, 0, 0] if n_next > 0 else NULL, width,
                  &recurrent_kernel[0, 0], width,
                  <floating> 1, &d_hidden[t, 0, 0], units)
            for s in range(n_active):
                z = &gates[t, s, 0]
                for j in range(units):
                    i_gate = z[j]
                    f_gate = z[units + j]
                    g_gate = z[2 * units + j]
                    o_gate = z[3 * units + j]
                    c_tanh = cells_tanh[t, s, j]
                    c_prev = cells[t - 1, s, j] if t > 0 else 0
                    dh = d_hidden[t, s, j]
                    dc = d_cell[s, j] if s < n_next else 0
                    dc = dc + dh * o_gate * (1 - c_tanh * c_tanh)
                    do = dh * c_tanh
                    d_cell[s, j] = dc * f_gate
                    z[j] = dc * g_gate * i_gate * (1 - i_gate)
                    z[units + j] = dc * c_prev * f_gate * (1 - f_gate)
                    z[2 * units + j] = dc * i_gate * (1 - g_gate * g_gate)
                    z[3 * units + j] = do * o_gate * (1 - o_gate)
            for s in range(n_active, batch):
                for j in range(width):
                    gates[t, s, j] = 0

        # Weight gradients summed over all steps, one GEMM each.
        _gemm(True, False, n_inputs, width, n_steps * batch, <floating> 1,
              &X[0, 0, 0], n_inputs, &gates[0, 0, 0], width,
              <floating> 0, &d_kernel[0, 0], width)
        if n_steps > 1:
            _gemm(True, False, units, width, (n_steps - 1) * batch, <floating> 1,
                  &hidden[0, 0, 0], units, &gates[1, 0, 0], width,
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
