# The LSTM cell for the kernels: its step over rows (forward and backward, from
# src/lstm_cell.h), its single-sequence recurrence in registers (src/sequence.h),
# and the recurrence of a layer over a block of rows that every batch route runs.

from cython cimport floating
from libc.string cimport memset

from sklstm._kernels._layout cimport gate_width
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
    int PAD_F "SKLSTM_PAD_f"
    int PAD_D "SKLSTM_PAD_d"
    void _recurrence_f "sklstm_recurrence_f"(
        int n_steps, int units, int padded, const float *proj, const float *U,
        bint reverse, float *out, long ldo, const float *h0, float *c) noexcept nogil
    void _recurrence_d "sklstm_recurrence_d"(
        int n_steps, int units, int padded, const double *proj, const double *U,
        bint reverse, double *out, long ldo, const double *h0,
        double *c) noexcept nogil
    void _project_f "sklstm_project_f"(
        int n_steps, int n_parts, int part_width, const float *x, long ldx,
        long part_stride, const float *W, const float *bias, int padded,
        float *proj) noexcept nogil
    void _project_d "sklstm_project_d"(
        int n_steps, int n_parts, int part_width, const double *x, long ldx,
        long part_stride, const double *W, const double *bias, int padded,
        double *proj) noexcept nogil


cdef inline void cells_forward(
    int n_rows,
    int units,
    floating *z,               # IN pre-activations less bias (n, 4H); OUT activated
    const floating *bias,      # IN (4H,)
    const floating *c_prev,    # IN (n, H) c_{t-1}; NULL at the first step
    floating *c,               # OUT (n, H)
    floating *c_tanh,          # OUT (n, H)
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


cdef inline int padded_units(floating *kind, int units) noexcept nogil:
    """Units rounded up to a whole vector: the gate spacing of ``recurrence``."""
    cdef int lanes = PAD_F if floating is float else PAD_D
    return (units + lanes - 1) // lanes * lanes


cdef inline void recurrence(
    int n_steps,
    int units,
    int padded,                # units rounded up (padded_units)
    const floating *proj,      # IN (T, 4 padded): bias + x_t @ kernel
    const floating *U,         # IN (H, 4 padded) recurrent kernel, zero padding
    bint reverse,              # run from the last step to the first
    floating *out,             # OUT h_t at out + t * ldo (padded, zeros past H)
    long ldo,
    const floating *h0,        # IN (padded,) h_{-1}, zeros past H
    floating *c,               # IN/OUT (padded,) c_{-1} -> the last step's c
) noexcept nogil:
    if floating is float:
        _recurrence_f(n_steps, units, padded, proj, U, reverse, out, ldo, h0, c)
    else:
        _recurrence_d(n_steps, units, padded, proj, U, reverse, out, ldo, h0, c)


cdef inline void project(
    int n_steps,
    int n_parts,
    int part_width,
    const floating *x,         # IN step t's parts at x + t * ldx + p * part_stride
    long ldx,
    long part_stride,
    const floating *W,         # IN (n_parts * part_width, 4 padded)
    const floating *bias,      # IN (4 padded,)
    int padded,
    floating *proj,            # OUT (T, 4 padded)
) noexcept nogil:
    if floating is float:
        _project_f(n_steps, n_parts, part_width, x, ldx, part_stride, W, bias,
                   padded, proj)
    else:
        _project_d(n_steps, n_parts, part_width, x, ldx, part_stride, W, bias,
                   padded, proj)


cdef inline long layer_packed_size(floating *kind, int n_inputs,
                                   int units) noexcept nogil:
    """Elements of a layer's packed recurrent kernel and kernel (pack_layer)."""
    return (packed_size(kind, units, gate_width(units))
            + packed_size(kind, n_inputs, gate_width(units)))


cdef inline floating *pack_layer(
    int n_inputs,
    int units,
    const floating *kernel,              # IN (D, 4H)
    const floating *recurrent_kernel,    # IN (H, 4H)
    floating *packed,                    # OUT layer_packed_size(D, H) elements
) noexcept nogil:
    """Pack a layer's recurrent kernel, then its kernel; return the packed kernel.

    Every step multiplies by the recurrent kernel, and the input projection by
    the kernel: packed once per call (BLAS would pack them again at each step).
    """
    cdef int width = gate_width(units)
    cdef floating *packed_kernel = packed + packed_size(packed, units, width)
    pack(units, width, recurrent_kernel, width, 1, packed)
    pack(n_inputs, width, kernel, width, 1, packed_kernel)
    return packed_kernel


cdef inline void forward_rows(
    int r0,
    int r1,
    int n_steps,
    int batch,
    int units,
    const int *batch_sizes,
    const floating *packed_recurrent,    # (H, 4H) recurrent kernel, packed
    const floating *bias,                # (4H,)
    int n_inputs,
    const floating *X,                   # (T, B, D)
    const floating *packed_kernel,       # (D, 4H) kernel, packed; NULL: see gates
    floating *gates,                     # (T, B, 4H); holds X @ kernel if no kernel
    floating *cells,                     # (T, B, H)
    floating *cells_tanh,                # (T, B, H)
    floating *hidden,                    # (T, B, H)
    const floating *recurrent_mask,      # (B, H) or NULL
    floating *hidden_masked,             # (T, B, H) or NULL
) noexcept nogil:
    """The recurrence of rows ``r0:r1`` of a layer, which never reads other rows.

    With ``packed_kernel`` each step projects its own rows of ``X`` first, so
    that a thread touches only memory that it wrote itself. Rows past a
    sequence's end get zeros in ``hidden``.
    """
    cdef int width = gate_width(units)
    cdef int t, s, j, n_rows, stop
    cdef const floating *recurrent_input = (
        hidden_masked if recurrent_mask != NULL else hidden
    )
    cdef const floating *c_prev
    cdef long step
    for t in range(n_steps):
        step = <long> t * batch
        stop = batch_sizes[t] if batch_sizes[t] < r1 else r1
        n_rows = stop - r0
        if n_rows > 0:
            c_prev = NULL                # c_{-1} = 0
            if packed_kernel != NULL:
                packed_product(n_rows, width, n_inputs, X + (step + r0) * n_inputs,
                               n_inputs, 1, packed_kernel, n_inputs,
                               gates + (step + r0) * width, width, False)
            if t > 0:
                packed_product(n_rows, width, units,
                               recurrent_input + (step - batch + r0) * units, units,
                               1, packed_recurrent, units,
                               gates + (step + r0) * width, width, True)
                c_prev = cells + (step - batch + r0) * units
            cells_forward(n_rows, units, gates + (step + r0) * width, bias, c_prev,
                          cells + (step + r0) * units,
                          cells_tanh + (step + r0) * units,
                          hidden + (step + r0) * units)
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
    CELL_FLOPS = 40


cdef inline double recurrent_flops(const int *batch_sizes, int n_steps,
                                   int units) noexcept nogil:
    """Work of a layer's recurrence: the per-step products and the cell updates."""
    cdef double running = 0
    cdef int t
    for t in range(n_steps):
        running += batch_sizes[t]
    return running * units * (2.0 * gate_width(units) + CELL_FLOPS)


cdef inline int stack_chunks(int n_features, const int[::1] units, int d,
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
        flops += d * (2.0 * n_rows * gate_width(units[layer]) * n_in
                      + recurrent_flops(batch_sizes, n_steps, units[layer]))
    return row_chunks(batch_sizes, n_steps, batch,
                      n_chunks_for(n_threads, flops, batch), bounds)
