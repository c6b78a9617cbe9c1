# The cells for the kernels: each cell's step over rows (forward and backward,
# from src/lstm_cell.h and src/gru_cell.h), the single-sequence recurrence in
# registers (src/sequence.h), and the recurrence of a layer over a block of rows
# that every batch route runs. A ``cell`` argument (LSTM or GRU, _layout) picks.

from cython cimport floating
from libc.string cimport memset

from sklstm._kernels._layout cimport (
    GRU,
    GRU_RECURRENT_AT,
    HIDDEN_AT,
    LSTM_CELLS_AT,
    LSTM_CELLS_TANH_AT,
    gate_width,
    state_at,
)
from sklstm._kernels._parallel cimport n_chunks_for, row_chunks
from sklstm._kernels._products cimport pack, packed_product, packed_size


cdef extern from "src/sequence.h":
    void _cells_forward_f "sklstm_cells_forward_f"(
        int n_rows, int units, float *z, const float *bias, const float *c_prev,
        float *c, float *c_tanh, float *h) noexcept nogil
    void _cells_forward_d "sklstm_cells_forward_d"(
        int n_rows, int units, double *z, const double *bias, const double *c_prev,
        double *c, double *c_tanh, double *h) noexcept nogil
    void _cells_backward_f "sklstm_cells_backward_f"(
        int n_rows, int units, float *z, const float *c_prev,
        const float *c_tanh, const float *dh, float *dc) noexcept nogil
    void _cells_backward_d "sklstm_cells_backward_d"(
        int n_rows, int units, double *z, const double *c_prev,
        const double *c_tanh, const double *dh, double *dc) noexcept nogil
    void _gru_forward_f "sklstm_gru_forward_f"(
        int n_rows, int units, float *z, float *u, const float *bias,
        const float *h_prev, float *h) noexcept nogil
    void _gru_forward_d "sklstm_gru_forward_d"(
        int n_rows, int units, double *z, double *u, const double *bias,
        const double *h_prev, double *h) noexcept nogil
    void _gru_backward_f "sklstm_gru_backward_f"(
        int n_rows, int units, float *z, float *u, const float *h_prev,
        const float *dh, float *carry) noexcept nogil
    void _gru_backward_d "sklstm_gru_backward_d"(
        int n_rows, int units, double *z, double *u, const double *h_prev,
        const double *dh, double *carry) noexcept nogil
    int PAD_F "SKLSTM_PAD_f"
    int PAD_D "SKLSTM_PAD_d"
    void _recurrence_f "sklstm_recurrence_f"(
        int cell, int n_steps, int units, int padded, const float *proj,
        const float *U, bint reverse, float *out, long ldo, const float *h0,
        float *c, const float *u_bias) noexcept nogil
    void _recurrence_d "sklstm_recurrence_d"(
        int cell, int n_steps, int units, int padded, const double *proj,
        const double *U, bint reverse, double *out, long ldo, const double *h0,
        double *c, const double *u_bias) noexcept nogil
    void _project_f "sklstm_project_f"(
        int cell, int n_steps, int n_parts, int part_width, const float *x,
        long ldx, long part_stride, const float *W, const float *bias, int padded,
        float *proj) noexcept nogil
    void _project_d "sklstm_project_d"(
        int cell, int n_steps, int n_parts, int part_width, const double *x,
        long ldx, long part_stride, const double *W, const double *bias,
        int padded, double *proj) noexcept nogil


cdef inline void cells_forward(
    int n_rows,
    int units,
    floating *z,               # IN pre-activations less bias (n, 4H); OUT activated
                               #    (left as it was when c_tanh is NULL)
    const floating *bias,      # IN (4H,)
    const floating *c_prev,    # IN (n, H) c_{t-1}; NULL at the first step
    floating *c,               # OUT (n, H)
    floating *c_tanh,          # OUT (n, H); NULL: prediction, no backward to feed
    floating *h,               # OUT (n, H)
) noexcept nogil:
    if floating is float:
        _cells_forward_f(n_rows, units, z, bias, c_prev, c, c_tanh, h)
    else:
        _cells_forward_d(n_rows, units, z, bias, c_prev, c, c_tanh, h)


cdef inline void cells_backward(
    int n_rows,
    int units,
    floating *z,               # IN activated gates (n, 4H); OUT their gradients
    const floating *c_prev,    # IN (n, H) c_{t-1}; NULL at the first step
    const floating *c_tanh,    # IN (n, H)
    const floating *dh,        # IN dL/dh_t (n, H)
    floating *dc,              # IN dL/dc_t from step t + 1; OUT dL/dc_{t-1}
) noexcept nogil:
    if floating is float:
        _cells_backward_f(n_rows, units, z, c_prev, c_tanh, dh, dc)
    else:
        _cells_backward_d(n_rows, units, z, c_prev, c_tanh, dh, dc)


cdef inline void gru_forward(
    int n_rows,
    int units,
    floating *z,               # IN x_t @ kernel (n, 3H); OUT activated gates
    floating *u,               # IN h_{t-1} @ recurrent kernel (n, 3H), unread
                               #    without h_prev; OUT u_n (bias included) in
                               #    its candidate part
    const floating *bias,      # IN (2, 3H) input, then recurrent bias
    const floating *h_prev,    # IN (n, H) h_{t-1}; NULL at the first step
    floating *h,               # OUT (n, H)
) noexcept nogil:
    if floating is float:
        _gru_forward_f(n_rows, units, z, u, bias, h_prev, h)
    else:
        _gru_forward_d(n_rows, units, z, u, bias, h_prev, h)


cdef inline void gru_backward(
    int n_rows,
    int units,
    floating *z,               # IN activated gates (n, 3H); OUT dL/d(input sums)
    floating *u,               # IN u_n in its candidate part (n, 3H); OUT there
                               #    dL/du_n (the other parts are left: their
                               #    gradients are z's)
    const floating *h_prev,    # IN (n, H) h_{t-1}; NULL at the first step
    const floating *dh,        # IN dL/dh_t (n, H) from above and the recurrence
    floating *carry,           # IN dL/dh_t through step t + 1's z * h_t;
                               # OUT dL/dh_{t-1} through z_t * h_{t-1}
) noexcept nogil:
    if floating is float:
        _gru_backward_f(n_rows, units, z, u, h_prev, dh, carry)
    else:
        _gru_backward_d(n_rows, units, z, u, h_prev, dh, carry)


cdef inline int padded_units(floating *kind, int units) noexcept nogil:
    """Units rounded up to a whole vector: the gate spacing of ``recurrence``."""
    cdef int lanes = PAD_F if floating is float else PAD_D
    return (units + lanes - 1) // lanes * lanes


cdef inline void recurrence(
    int cell,
    int n_steps,
    int units,
    int padded,                # units rounded up (padded_units)
    const floating *proj,      # IN (T, G padded): bias + x_t @ kernel (GRU: the
                               #    update and reset gates' recurrent bias too)
    const floating *U,         # IN (H, G padded) recurrent kernel, zero padding
    bint reverse,              # run from the last step to the first
    floating *out,             # OUT h_t at out + t * ldo (padded, zeros past H)
    long ldo,
    const floating *h0,        # IN (padded,) h_{-1}, zeros past H
    floating *c,               # IN/OUT (padded,) LSTM: c_{-1} -> the last
                               #        step's c; GRU: NULL
    const floating *u_bias,    # IN (padded,) GRU: the candidate's recurrent
                               #    bias; LSTM: NULL
) noexcept nogil:
    if floating is float:
        _recurrence_f(cell, n_steps, units, padded, proj, U, reverse, out, ldo,
                      h0, c, u_bias)
    else:
        _recurrence_d(cell, n_steps, units, padded, proj, U, reverse, out, ldo,
                      h0, c, u_bias)


cdef inline void project(
    int cell,
    int n_steps,
    int n_parts,
    int part_width,
    const floating *x,         # IN step t's parts at x + t * ldx + p * part_stride
    long ldx,
    long part_stride,
    const floating *W,         # IN (n_parts * part_width, G padded)
    const floating *bias,      # IN (G padded,)
    int padded,
    floating *proj,            # OUT (T, G padded)
) noexcept nogil:
    if floating is float:
        _project_f(cell, n_steps, n_parts, part_width, x, ldx, part_stride, W,
                   bias, padded, proj)
    else:
        _project_d(cell, n_steps, n_parts, part_width, x, ldx, part_stride, W,
                   bias, padded, proj)


cdef inline long layer_packed_size(floating *kind, int cell, int n_inputs,
                                   int units) noexcept nogil:
    """Elements of a layer's packed recurrent kernel and kernel (pack_layer)."""
    return (packed_size(kind, units, gate_width(cell, units))
            + packed_size(kind, n_inputs, gate_width(cell, units)))


cdef inline floating *pack_layer(
    int cell,
    int n_inputs,
    int units,
    const floating *kernel,              # IN (D, G H)
    const floating *recurrent_kernel,    # IN (H, G H)
    floating *packed,                    # OUT layer_packed_size(D, H) elements
) noexcept nogil:
    """Pack a layer's recurrent kernel, then its kernel; return the packed kernel.

    Every step multiplies by the recurrent kernel, and the input projection by
    the kernel: packed once per call (BLAS would pack them again at each step).
    """
    cdef int width = gate_width(cell, units)
    cdef floating *packed_kernel = packed + packed_size(packed, units, width)
    pack(units, width, recurrent_kernel, width, 1, packed)
    pack(n_inputs, width, kernel, width, 1, packed_kernel)
    return packed_kernel


cdef inline void forward_rows(
    int cell,
    int r0,
    int r1,
    int n_steps,
    int batch,
    int units,
    const int *batch_sizes,
    const floating *packed_recurrent,    # (H, G H) recurrent kernel, packed
    const floating *bias,                # (G H,), GRU (2, 3H)
    int n_inputs,
    const floating *X,                   # (T, B, D)
    const floating *packed_kernel,       # (D, G H) kernel, packed; NULL: see gates
    floating *state,                     # the layer's state (_layout.STATE_PARTS),
                                         # parts (state_rows, width) each; the
                                         # gates hold X @ kernel if no kernel
    long state_rows,                     # rows of each part, >= T * B
    const floating *recurrent_mask,      # (B, H) or NULL
    floating *hidden_masked,             # (T, B, H) or NULL
) noexcept nogil:
    """The recurrence of rows ``r0:r1`` of a layer, which never reads other rows.

    With ``packed_kernel`` each step projects its own rows of ``X`` first, so
    that a thread touches only memory that it wrote itself. Rows past a
    sequence's end get zeros in the hidden states.
    """
    cdef int width = gate_width(cell, units)
    cdef int t, s, j, n_rows, stop
    cdef floating *gates = state
    cdef floating *hidden = state + state_at(HIDDEN_AT, state_rows, units)
    cdef floating *cells = state + state_at(LSTM_CELLS_AT, state_rows, units)
    cdef floating *sums = state + state_at(GRU_RECURRENT_AT, state_rows, units)
    cdef const floating *recurrent_input = (
        hidden_masked if recurrent_mask != NULL else hidden
    )
    cdef long step, row, previous
    for t in range(n_steps):
        step = <long> t * batch
        row = step + r0
        previous = row - batch
        stop = batch_sizes[t] if batch_sizes[t] < r1 else r1
        n_rows = stop - r0
        if n_rows > 0:
            if packed_kernel != NULL:
                packed_product(n_rows, width, n_inputs, X + row * n_inputs,
                               n_inputs, 1, packed_kernel, n_inputs,
                               gates + row * width, width, False)
            if cell == GRU:
                # The recurrent sums stay apart from the input's (the reset
                # gate multiplies the candidate's).
                if t > 0:
                    packed_product(n_rows, width, units,
                                   recurrent_input + previous * units, units, 1,
                                   packed_recurrent, units, sums + row * width,
                                   width, False)
                gru_forward(n_rows, units, gates + row * width, sums + row * width,
                            bias, hidden + previous * units if t > 0 else NULL,
                            hidden + row * units)
            else:
                if t > 0:
                    packed_product(n_rows, width, units,
                                   recurrent_input + previous * units, units, 1,
                                   packed_recurrent, units, gates + row * width,
                                   width, True)
                cells_forward(n_rows, units, gates + row * width, bias,
                              cells + previous * units if t > 0 else NULL,
                              cells + row * units,
                              state + state_at(LSTM_CELLS_TANH_AT, state_rows, units)
                              + row * units,
                              hidden + row * units)
        s = stop if stop > r0 else r0
        if s < r1:
            memset(hidden + (step + s) * units, 0, (r1 - s) * units * sizeof(floating))
        if recurrent_mask != NULL:
            for s in range(r0, r1):
                for j in range(units):
                    hidden_masked[(step + s) * units + j] = (
                        hidden[(step + s) * units + j] * recurrent_mask[s * units + j]
                    )


cdef enum:
    # Elementwise operations of one cell step per unit, counted as flops.
    LSTM_CELL_FLOPS = 40
    GRU_CELL_FLOPS = 32


cdef inline double recurrent_flops(int cell, const int *batch_sizes, int n_steps,
                                   int units) noexcept nogil:
    """Work of a layer's recurrence: the per-step products and the cell updates."""
    cdef double running = 0
    cdef int t
    for t in range(n_steps):
        running += batch_sizes[t]
    return running * units * (2.0 * gate_width(cell, units)
                              + (GRU_CELL_FLOPS if cell == GRU else LSTM_CELL_FLOPS))


cdef inline int stack_chunks(int cell, int n_features, const int[::1] units, int d,
                             const int *batch_sizes, int n_steps, int batch,
                             int n_threads, int *bounds) noexcept nogil:
    """The row chunks of a stack's minibatch (see row_chunks), by the forward's work.

    Every stack kernel splits a minibatch the same way, so that the backward's
    threads read the activations that they wrote in the forward. ``d`` is the
    number of directions of every layer.
    """
    cdef double flops = 0
    cdef long n_rows = <long> n_steps * batch
    cdef int layer, n_in
    for layer in range(units.shape[0]):
        n_in = n_features if layer == 0 else d * units[layer - 1]
        flops += d * (2.0 * n_rows * gate_width(cell, units[layer]) * n_in
                      + recurrent_flops(cell, batch_sizes, n_steps, units[layer]))
    return row_chunks(batch_sizes, n_steps, batch,
                      n_chunks_for(n_threads, flops, batch), bounds)
