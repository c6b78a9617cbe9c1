"""Training kernels: a minibatch's forward pass and backpropagation through time.

Only numeric loops live here: the caller allocates every buffer, checks every
shape and owns all state; what the backward needs, the forward leaves in the
caller's buffers. Buffers are time-major, ``(n_timesteps, batch, width)``, so that
the rows of one step form one contiguous block. Products with the weights (the
per-step recurrent product, the input projection, the weight gradients, the
gradient passed to the layer below) go through the packed-weight product of
``_products``; the cells are ``_cells``'. Every kernel takes a ``cell``
argument, LSTM or GRU (``_layout``): the cell changes the gate width, the bias,
the state parts and the step, not the routes.

Threads split a minibatch by rows (sequences, see ``_parallel``), and each keeps
its rows through every step, every layer and the backward pass, summing its own
rows' share of the weight gradients. ``lstm_forward``/``lstm_backward`` run one
layer (and serve bidirectional layers and dropout); ``lstm_stack_forward``/
``lstm_stack_backward`` run a one-directional stack in one call each way.

Sequences of different lengths are packed as PyTorch's ``PackedSequence`` does: the
batch is sorted by decreasing length and ``batch_sizes[t]`` is the number of sequences
still running at step ``t``, so step ``t`` touches only the first ``batch_sizes[t]``
rows. Rows past a sequence's end hold zeros in ``hidden`` and in the gate gradients,
which keeps the all-steps products exact. A dense batch is ``batch_sizes[:] = batch``.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.stdlib cimport free
from libc.string cimport memcpy, memset

from sklstm._kernels._cells cimport (
    cells_backward,
    forward_rows,
    gru_backward,
    layer_packed_size,
    pack_layer,
    recurrent_flops,
    stack_chunks,
)
from sklstm._kernels._layout cimport (
    GRU,
    GRU_RECURRENT_AT,
    HIDDEN_AT,
    LSTM,
    LSTM_CELLS_AT,
    LSTM_CELLS_TANH_AT,
    STATE_WIDTH,
    bias_at,
    bias_rows,
    check,
    check_cell,
    check_packing,
    check_steps,
    gate_width,
    own_recurrent_at,
    recurrent_at,
    stack_offsets,
    state_at,
    weights_size,
)
from sklstm._kernels._parallel cimport (
    MAX_CHUNKS,
    check_contention,
    clock_if_split,
    even_chunk,
    n_chunks_for,
    row_chunks,
    team_for,
    thread_clock_if_split,
)
from sklstm._kernels._products cimport (
    PANEL_BYTES,
    allocate,
    aligned,
    column_sums,
    pack,
    packed_product,
    packed_size,
    rounded,
)


cdef enum:
    # Column blocks of the weight gradients start at multiples of this many
    # elements (whole panels of the packed product, for floats and doubles).
    COLUMN_ALIGN = 32
    # Rows of dL/dz the weight gradients take at a time (a 16 KiB panel of floats).
    ROW_BLOCK = 128


cdef inline long _forward_work(floating *kind, int cell, int n_inputs, int units,
                               int n_threads) noexcept nogil:
    """Elements of _layer_forward's work space: a packed layer per thread."""
    return (<long> min(max(n_threads, 1), <int> MAX_CHUNKS)
            * layer_packed_size(kind, cell, n_inputs, units))


cdef void _backward_rows(
    int cell,
    int r0,
    int r1,
    int n_steps,
    int batch,
    int units,
    const int *batch_sizes,
    const floating *packed_transposed,   # (G H, H) recurrent kernel.T, packed
    floating *state,                     # the forward's (see forward_rows); gates
                                         # -> dL/dz; GRU: the candidate's recurrent
                                         # sum -> its gradient
    long state_rows,                     # rows of each state part
    floating *d_hidden,                  # (T, B, H)
    floating *d_carry,                   # (B, H)
    const floating *recurrent_mask,      # (B, H) or NULL
    floating *d_work,                    # (B, H) or NULL
    int n_inputs,
    const floating *packed_kernel_t,     # (G H, D) kernel.T, packed; NULL: no d_X
    floating *d_X,                       # (T, B, D) OUT dL/dz @ kernel.T, or NULL
) noexcept nogil:
    """Backpropagation through time of rows ``r0:r1``, independent of the others.

    ``d_carry`` carries what passes from step t + 1 to step t outside the
    recurrent product: the LSTM's dL/dc, the GRU's dL/dh through z * h_{t-1}.
    The recurrent product takes the gradient with respect to the recurrent
    sums: dL/dz for the LSTM and the GRU's update and reset gates, the GRU
    candidate's own for its candidate. With ``packed_kernel_t`` each
    step also passes its gradient down to its rows of the layer's input, while
    that step's dL/dz is in cache.
    """
    cdef int width = gate_width(cell, units)
    cdef int t, s, j, n_active, n_next, stop, next_stop, n_rows
    cdef long step
    cdef floating *gates = state
    cdef floating *sums = state + state_at(GRU_RECURRENT_AT, state_rows, units)
    cdef const floating *hidden = state + state_at(HIDDEN_AT, state_rows, units)
    cdef const floating *cells = state + state_at(LSTM_CELLS_AT, state_rows, units)
    cdef const floating *cells_tanh = state + state_at(LSTM_CELLS_TANH_AT,
                                                       state_rows, units)
    # Recurrent-kernel rows from own_start on multiply the GRU candidate's own
    # recurrent gradient; the others dL/dz.
    cdef int own_start = own_recurrent_at(cell, units)
    cdef int panel = PANEL_BYTES // sizeof(floating)
    cdef floating *d_recurrent_input
    for t in range(n_steps - 1, -1, -1):
        step = <long> t * batch
        n_active = batch_sizes[t]
        n_next = batch_sizes[t + 1] if t + 1 < n_steps else 0
        stop = n_active if n_active < r1 else r1
        next_stop = n_next if n_next < r1 else r1
        # Sequences still running at t + 1 pass gradient back through h_t
        # (through h_t * mask with recurrent dropout).
        n_rows = next_stop - r0
        if n_rows > 0:
            d_recurrent_input = (d_hidden + (step + r0) * units
                                 if recurrent_mask == NULL else d_work + r0 * units)
            # The gradients of step t + 1's recurrent sums: dL/dz (the GRU's
            # update and reset gates), then the GRU's candidate's own.
            packed_product(n_rows, units, own_start,
                           gates + (step + batch + r0) * width, width, 1,
                           packed_transposed, width, d_recurrent_input, units,
                           recurrent_mask == NULL)
            if cell == GRU:
                packed_product(n_rows, units, units,
                               sums + (step + batch + r0) * width + own_start,
                               width, 1, packed_transposed + own_start * panel,
                               width, d_recurrent_input, units, True)
            if recurrent_mask != NULL:
                for s in range(r0, next_stop):
                    for j in range(units):
                        d_hidden[(step + s) * units + j] += (
                            d_work[s * units + j] * recurrent_mask[s * units + j]
                        )
        # Sequences that end at t get nothing from t + 1.
        s = next_stop if next_stop > r0 else r0
        if s < stop:
            memset(d_carry + s * units, 0, (stop - s) * units * sizeof(floating))
        if stop > r0:
            if cell == GRU:
                gru_backward(stop - r0, units, gates + (step + r0) * width,
                             sums + (step + r0) * width,
                             hidden + (step - batch + r0) * units if t > 0 else NULL,
                             d_hidden + (step + r0) * units, d_carry + r0 * units)
            else:
                cells_backward(stop - r0, units, gates + (step + r0) * width,
                               cells + (step - batch + r0) * units if t > 0 else NULL,
                               cells_tanh + (step + r0) * units,
                               d_hidden + (step + r0) * units, d_carry + r0 * units)
            if packed_kernel_t != NULL:
                packed_product(stop - r0, n_inputs, width,
                               gates + (step + r0) * width, width, 1,
                               packed_kernel_t, width,
                               d_X + (step + r0) * n_inputs, n_inputs, False)
        s = stop if stop > r0 else r0
        if s < r1:
            memset(gates + (step + s) * width, 0, (r1 - s) * width * sizeof(floating))
            if cell == GRU:
                memset(sums + (step + s) * width, 0,
                       (r1 - s) * width * sizeof(floating))
            if packed_kernel_t != NULL:
                memset(d_X + (step + s) * n_inputs, 0,
                       (r1 - s) * n_inputs * sizeof(floating))


cdef void _weight_gradient_columns(
    int cell,
    int c0,
    int c1,
    int n_steps,
    int batch,
    int n_inputs,
    int units,
    const floating *X,                   # (T, B, D)
    const floating *recurrent_input,     # (T, B, H): h_t, or h_t * mask
    const floating *gates,               # (T, B, G H) dL/dz
    const floating *recurrent_delta,     # (T, B, G H) the GRU's sums, the
                                         # candidate's part dL/d(its recurrent
                                         # sum); the LSTM's gates (unread)
    floating *d_kernel,                  # (D, G H)
    floating *d_recurrent_kernel,        # (H, G H)
    floating *d_bias,                    # (G H,), GRU (2, 3H)
    floating *block,                     # WORK packed_size(ROW_BLOCK, c1 - c0)
) noexcept nogil:
    """Columns ``c0:c1`` of the weight gradients, summed over every step.

    dL/dz is taken ``ROW_BLOCK`` rows at a time: its columns are packed (and
    summed into ``d_bias``) once, then multiplied by the same rows of X and of
    the previous step's recurrent input while the block is in cache (BLAS
    packed dL/dz again for each of the two products). The GRU's recurrent sums
    have gradients of their own in the candidate's columns only (the update and
    reset gates' are dL/dz's): those columns are packed in turn for the
    recurrent product and the recurrent bias, the others' recurrent bias
    gradient is the input bias's.
    """
    cdef int width = gate_width(cell, units)
    cdef int panel = PANEL_BYTES // sizeof(floating)
    cdef bint apart = cell == GRU
    # Columns c0:shared_end take the recurrent product from dL/dz; own0:c1 (the
    # GRU's candidate) from the recurrent sums' gradient.
    cdef int own_start = own_recurrent_at(cell, units)
    cdef int shared_end = min(c1, own_start)
    cdef int own0 = max(c0, own_start)
    cdef int n_cols = c1 - c0
    cdef int n_shared = shared_end - c0
    cdef int n_own = c1 - own0
    cdef int s, rows, j
    cdef long k0, first, n_rows = <long> n_steps * batch
    cdef bint recurrent_started = False
    cdef floating *d_recurrent_bias = d_bias + width if apart else d_bias
    if n_cols <= 0:
        return
    memset(d_bias + c0, 0, n_cols * sizeof(floating))
    if apart and n_own > 0:
        memset(d_recurrent_bias + own0, 0, n_own * sizeof(floating))
    k0 = 0
    while k0 < n_rows:
        rows = <int> min(<long> ROW_BLOCK, n_rows - k0)
        # From the second step on, row r of dL/dz pairs with row r - batch of
        # the recurrent input.
        first = max(k0, <long> batch)
        pack(rows, n_cols, gates + k0 * width + c0, width, 1, block)
        column_sums(rows, n_cols, gates + k0 * width + c0, width, d_bias + c0)
        # d_kernel[:, c0:c1] (+)= X[rows].T @ dL/dz[rows]
        packed_product(n_inputs, n_cols, rows, X + k0 * n_inputs, 1, n_inputs,
                       block, rows, d_kernel + c0, width, k0 > 0)
        # d_recurrent_kernel[:, c0:c1] (+)= h_{t-1}.T @ dL/d(recurrent sums)_t
        if first < k0 + rows and n_shared > 0:
            packed_product(units, n_shared, <int> (k0 + rows - first),
                           recurrent_input + (first - batch) * units, 1, units,
                           block + (first - k0) * panel, rows,
                           d_recurrent_kernel + c0, width, recurrent_started)
        if n_own > 0:
            pack(rows, n_own, recurrent_delta + k0 * width + own0, width, 1, block)
            column_sums(rows, n_own, recurrent_delta + k0 * width + own0, width,
                        d_recurrent_bias + own0)
            if first < k0 + rows:
                packed_product(units, n_own, <int> (k0 + rows - first),
                               recurrent_input + (first - batch) * units, 1, units,
                               block + (first - k0) * panel, rows,
                               d_recurrent_kernel + own0, width, recurrent_started)
        if first < k0 + rows:
            recurrent_started = True
        k0 += rows
    if apart:
        for j in range(c0, shared_end):
            d_recurrent_bias[j] = d_bias[j]
    if not recurrent_started:            # a single step: no recurrent term
        for s in range(units):
            memset(d_recurrent_kernel + s * width + c0, 0, n_cols * sizeof(floating))


cdef inline long _rows_gradient_work(floating *kind, int cell, int n_inputs,
                                     int units) noexcept nogil:
    """Elements of work space one chunk of _weight_gradient_rows needs."""
    return (rounded(_gathered_width(cell, n_inputs, units) * <long> ROW_BLOCK)
            + packed_size(kind, ROW_BLOCK, gate_width(cell, units)))


cdef inline long _gathered_width(int cell, int n_inputs, int units) noexcept nogil:
    """Values a gathered row holds: input, h_{t-1}, dL/dz (GRU: and its
    candidate's recurrent sum's)."""
    return n_inputs + units + gate_width(cell, units) + (units if cell == GRU else 0)


cdef void _weight_gradient_rows(
    int cell,
    int r0,
    int r1,
    int n_steps,
    int batch,
    int n_inputs,
    int units,
    const int *batch_sizes,
    const floating *X,                   # (T, B, D)
    const floating *recurrent_input,     # (T, B, H): h_t, or h_t * mask
    const floating *gates,               # (T, B, G H) dL/dz
    const floating *recurrent_delta,     # (T, B, G H) as _weight_gradient_columns
    floating *d_kernel,                  # (D, G H) OUT rows r0:r1's sum
    floating *d_recurrent_kernel,        # (H, G H) OUT
    floating *d_bias,                    # (G H,), GRU (2, 3H) OUT
    floating *work,                      # WORK _rows_gradient_work(...), aligned
) noexcept nogil:
    """The weight gradients summed over rows ``r0:r1`` of every step.

    The rows' running steps are gathered ``ROW_BLOCK`` at a time (the input, the
    previous step's recurrent input, zero at the first step, dL/dz and the GRU's
    candidate recurrent sum's gradient), then multiplied as in
    _weight_gradient_columns. Only rows this thread wrote are
    read: threads sum their own rows, and the caller adds the sums up. All the
    rows are contiguous already: no gathering then.
    """
    cdef int width = gate_width(cell, units)
    cdef bint apart = cell == GRU
    cdef floating *xs = work
    cdef floating *hs = xs + ROW_BLOCK * n_inputs
    cdef floating *zs = hs + ROW_BLOCK * units
    cdef floating *us = zs + ROW_BLOCK * width if apart else zs
    cdef floating *block = work + rounded(_gathered_width(cell, n_inputs, units)
                                          * <long> ROW_BLOCK)
    cdef int t, r, i, stop, take, rows = 0
    cdef long at
    cdef bint started = False
    if r0 == 0 and r1 == batch:
        _weight_gradient_columns(cell, 0, width, n_steps, batch, n_inputs, units,
                                 X, recurrent_input, gates, recurrent_delta,
                                 d_kernel, d_recurrent_kernel, d_bias, block)
        return
    for t in range(n_steps):
        stop = min(batch_sizes[t], r1)
        r = r0
        while r < stop:
            take = min(stop - r, ROW_BLOCK - rows)
            at = <long> t * batch + r
            memcpy(xs + rows * n_inputs, X + at * n_inputs,
                   take * n_inputs * sizeof(floating))
            if t > 0:
                memcpy(hs + rows * units, recurrent_input + (at - batch) * units,
                       take * units * sizeof(floating))
            else:                        # h_{-1} = 0
                memset(hs + rows * units, 0, take * units * sizeof(floating))
            memcpy(zs + rows * width, gates + at * width,
                   take * width * sizeof(floating))
            if apart:
                for i in range(take):
                    memcpy(us + (rows + i) * units,
                           recurrent_delta + (at + i) * width
                           + own_recurrent_at(cell, units),
                           units * sizeof(floating))
            rows += take
            r += take
            if rows == ROW_BLOCK:
                _gathered_gradient(cell, rows, n_inputs, units, xs, hs, zs, us,
                                   block, d_kernel, d_recurrent_kernel, d_bias,
                                   started)
                started = True
                rows = 0
    if rows > 0 or not started:          # the last rows; zeros if there were none
        _gathered_gradient(cell, rows, n_inputs, units, xs, hs, zs, us, block,
                           d_kernel, d_recurrent_kernel, d_bias, started)
    if apart:                            # the update and reset gates' are dL/dz's
        memcpy(d_bias + width, d_bias,
               own_recurrent_at(cell, units) * sizeof(floating))


cdef inline void _gathered_gradient(
    int cell,
    int rows,
    int n_inputs,
    int units,
    const floating *xs,                  # (rows, D)
    const floating *hs,                  # (rows, H)
    const floating *zs,                  # (rows, G H) dL/dz
    const floating *us,                  # (rows, H) GRU: dL/d(candidate's
                                         # recurrent sum)
    floating *block,                     # WORK packed_size(rows, G H)
    floating *d_kernel,                  # (D, G H) (+)= xs.T @ zs
    floating *d_recurrent_kernel,        # (H, G H) (+)= hs.T @ us
    floating *d_bias,                    # (G H,) (+)= column sums of zs; GRU's
                                         # candidate recurrent bias: of us (the
                                         # caller copies the gates')
    bint accumulate,
) noexcept nogil:
    """One gathered block's share of the weight gradients (none: zeros)."""
    cdef int width = gate_width(cell, units)
    cdef bint apart = cell == GRU
    if not accumulate:
        memset(d_bias, 0, bias_rows(cell) * width * sizeof(floating))
        if rows == 0:
            memset(d_kernel, 0, <long> n_inputs * width * sizeof(floating))
            memset(d_recurrent_kernel, 0, <long> units * width * sizeof(floating))
            return
    pack(rows, width, zs, width, 1, block)
    column_sums(rows, width, zs, width, d_bias)
    packed_product(n_inputs, width, rows, xs, 1, n_inputs, block, rows,
                   d_kernel, width, accumulate)
    if not apart:
        packed_product(units, width, rows, hs, 1, units, block, rows,
                       d_recurrent_kernel, width, accumulate)
        return
    # The GRU's update and reset gates from dL/dz, its candidate from us.
    cdef int own = own_recurrent_at(cell, units)
    packed_product(units, own, rows, hs, 1, units, block, rows,
                   d_recurrent_kernel, width, accumulate)
    pack(rows, units, us, units, 1, block)
    column_sums(rows, units, us, units, d_bias + width + own)
    packed_product(units, units, rows, hs, 1, units, block, rows,
                   d_recurrent_kernel + own, width, accumulate)


cdef void _layer_forward(
    int cell,
    int n_steps,
    int batch,
    int n_inputs,
    int units,
    const int *batch_sizes,              # (T,)
    const floating *X,                   # (T, B, D)
    const floating *kernel,              # (D, G H)
    const floating *recurrent_kernel,    # (H, G H)
    const floating *bias,                # (G H,), GRU (2, 3H)
    floating *state,                     # (STATE_WIDTH T B H,) see forward_rows
    const floating *recurrent_mask,      # (B, H) or NULL
    floating *hidden_masked,             # (T, B, H) or NULL
    floating *packed,                    # WORK _forward_work(D, H, n_threads)
    int n_threads,
) noexcept nogil:
    """One layer's forward (see :func:`lstm_forward`), on checked buffers."""
    cdef int width = gate_width(cell, units)
    cdef long n_rows = <long> n_steps * batch
    cdef int c, n_chunks, n_projection
    cdef int bounds[MAX_CHUNKS + 1]
    cdef long start, stop
    cdef double busy[MAX_CHUNKS]
    cdef double started, thread_started
    cdef double projection_flops = 2.0 * n_rows * width * n_inputs
    cdef int team
    # Each thread packs its own copy of the weights (see _pack_layer), from the
    # weights it already holds after the previous call, rather than read one
    # packed on another core. (The packed kernel also saves BLAS's zeroing of
    # the gates before adding the projection.)
    cdef long copy = layer_packed_size(packed, cell, n_inputs, units)
    cdef floating *packed_kernel
    # Sequences do not interact: each thread projects the input of its own rows
    # and runs their whole recurrence, with no synchronisation between steps.
    # Memory written on one core and read on the other crosses between them a
    # cache line at a time, and on a VM whose two vCPUs sit far apart that is a
    # third of a microsecond a line: a projection split by steps, then a
    # recurrence split by sequences, made a stacked layer's forward slower on two
    # threads than on one.
    n_chunks = row_chunks(
        batch_sizes, n_steps, batch,
        n_chunks_for(n_threads,
                     recurrent_flops(cell, batch_sizes, n_steps, units)
                     + projection_flops,
                     batch),
        bounds,
    )
    if n_chunks > 1:
        team = team_for(n_chunks)
        started = clock_if_split(team)
        for c in prange(n_chunks, num_threads=team, schedule="static",
                        chunksize=1):
            thread_started = thread_clock_if_split(team)
            packed_kernel = pack_layer(cell, n_inputs, units, kernel,
                                       recurrent_kernel, packed + c * copy)
            forward_rows(cell, bounds[c], bounds[c + 1], n_steps, batch, units,
                         batch_sizes, packed + c * copy, bias, n_inputs, X,
                         packed_kernel, state, n_rows, recurrent_mask,
                         hidden_masked)
            busy[c] = thread_clock_if_split(team) - thread_started
        check_contention(busy, n_chunks, team, started)
        return

    # One sequence, or little work: the input projection of every step at once
    # (a long single sequence may still split it), then the recurrence.
    packed_kernel = pack_layer(cell, n_inputs, units, kernel, recurrent_kernel,
                               packed)
    n_projection = n_chunks_for(n_threads, projection_flops, n_rows)
    team = team_for(n_projection)
    started = clock_if_split(team)
    for c in prange(n_projection, num_threads=team, schedule="static",
                    chunksize=1):
        thread_started = thread_clock_if_split(team)
        start = n_rows * c // n_projection
        stop = n_rows * (c + 1) // n_projection
        packed_product(<int> (stop - start), width, n_inputs,
                       X + start * n_inputs, n_inputs, 1, packed_kernel,
                       n_inputs, state + start * width, width, False)
        busy[c] = thread_clock_if_split(team) - thread_started
    check_contention(busy, n_projection, team, started)
    forward_rows(cell, 0, batch, n_steps, batch, units, batch_sizes, packed, bias,
                 n_inputs, X, NULL, state, n_rows, recurrent_mask, hidden_masked)


cdef int _check_layer(int cell, Py_ssize_t *kernel, Py_ssize_t *recurrent_kernel,
                      Py_ssize_t bias, long state, int n_steps, int batch,
                      int n_inputs) except -1:
    """A layer's weights and state buffer, as the raw-pointer products use them."""
    cdef int units = recurrent_kernel[0]
    cdef int width = gate_width(cell, units)
    check_cell(cell)
    check(kernel[0] == n_inputs and kernel[1] == width
          and recurrent_kernel[1] == width and bias == bias_rows(cell) * width,
          "weights do not match the input width, units and cell")
    check(state == state_at(STATE_WIDTH, <long> n_steps * batch, units),
          "state must hold STATE_WIDTH * T * B * units values")
    return 0


def lstm_forward(
    const floating[:, :, ::1] X,                 # IN  (T, B, D)
    const floating[:, ::1] kernel,               # IN  (D, G H)
    const floating[:, ::1] recurrent_kernel,     # IN  (H, G H)
    const floating[::1] bias,                    # IN  (G H,); GRU (2 * 3H,)
    const int[::1] batch_sizes,                  # IN  (T,) non-increasing, <= B
    floating[::1] state,                         # OUT (7 T B H,) the layer's state
    const floating[:, ::1] recurrent_mask,       # IN  (B, H), or (0, 0): no dropout
    floating[:, :, ::1] hidden_masked,           # OUT (T, B, H) h_t * mask, or empty
    int n_threads=1,                             # IN  threads to split the work over
    int cell=LSTM,                               # IN  the cell (_layout.CELLS)
):
    """Run one recurrent layer over a packed minibatch, from a zero initial state.

    ``state`` receives the parts of ``_layout.STATE_PARTS[cell]`` one after the
    other, each ``(T, B, width)``: what :func:`lstm_backward` needs, and last
    the hidden states, the layer's output sequence (zeros past a sequence's
    end). With a ``recurrent_mask`` (Keras' recurrent dropout: one mask per
    sequence, the same at every step) the recurrent kernel sees ``h_{t-1} *
    mask``, kept in ``hidden_masked``.

    With ``n_threads > 1`` the rows of the batch are split between OpenMP
    threads: sequences do not interact, so each thread runs the whole recurrence
    of its rows with no synchronisation between steps. BLAS must then be
    single-threaded (the caller limits it), or its threads would oversubscribe.
    """
    cdef int n_steps = X.shape[0]
    cdef int batch = X.shape[1]
    cdef int n_inputs = X.shape[2]
    cdef int units = recurrent_kernel.shape[0]
    cdef bint masked = recurrent_mask.shape[0] > 0

    # Raw-pointer GEMMs write whole blocks: check every extent they rely on.
    check_packing(batch_sizes, n_steps, batch)
    _check_layer(cell, kernel.shape, recurrent_kernel.shape, bias.shape[0],
                 state.shape[0], n_steps, batch, n_inputs)
    if masked:
        check(recurrent_mask.shape[0] == batch and recurrent_mask.shape[1] == units,
              "recurrent_mask has the wrong shape")
        check_steps(hidden_masked.shape, n_steps, batch, units, "hidden_masked")
    check(n_threads >= 1, "n_threads must be at least 1")
    if n_steps == 0 or batch == 0:
        return
    cdef void *raw = allocate(_forward_work(&state[0], cell, n_inputs, units,
                                            n_threads),
                              sizeof(floating))
    try:
        with nogil:
            _layer_forward(cell, n_steps, batch, n_inputs, units, &batch_sizes[0],
                           &X[0, 0, 0], &kernel[0, 0], &recurrent_kernel[0, 0],
                           &bias[0], &state[0],
                           &recurrent_mask[0, 0] if masked else NULL,
                           &hidden_masked[0, 0, 0] if masked else NULL,
                           <floating *> aligned(raw), n_threads)
    finally:
        free(raw)


def lstm_backward(
    const floating[:, :, ::1] X,                 # IN  (T, B, D) as in the forward
    const floating[:, ::1] kernel,               # IN  (D, G H)
    const floating[:, ::1] recurrent_kernel,     # IN  (H, G H)
    const int[::1] batch_sizes,                  # IN  (T,)
    floating[::1] state,                         # IN  the forward's; OUT gradients
    floating[:, :, ::1] d_hidden,                # IN  dL/dh_t from above; clobbered
    floating[:, ::1] d_carry,                    # WORK (B, H)
    floating[:, ::1] d_kernel,                   # OUT (D, G H)
    floating[:, ::1] d_recurrent_kernel,         # OUT (H, G H)
    floating[::1] d_bias,                        # OUT (G H,); GRU (2 * 3H,)
    floating[:, :, ::1] d_X,                     # OUT (T, B, D), or (0, 0, 0): skip
    const floating[:, ::1] recurrent_mask,       # IN  (B, H), or (0, 0), as forward
    const floating[:, :, ::1] hidden_masked,     # IN  (T, B, H) from the forward
    floating[:, ::1] d_work,                     # WORK (B, H) with a mask
    int n_threads=1,                             # IN  threads to split the work over
    int cell=LSTM,                               # IN  as in the forward
):
    """Backpropagate through one recurrent layer after :func:`lstm_forward`.

    ``d_hidden`` holds the gradient of the loss with respect to each output
    ``h_t`` (rows past a sequence's end are ignored). The gates in ``state``
    are overwritten by the gradients with respect to their pre-activations (and
    the GRU's recurrent sums by theirs), so a forward must be run again before
    another backward. Weight gradients are overwritten, not added.

    Threads split the rows, as in the forward: each runs the recurrence, ``d_X``
    and the weight gradients of its own rows, whose sums are then added up.
    """
    cdef int n_steps = X.shape[0]
    cdef int batch = X.shape[1]
    cdef int n_inputs = X.shape[2]
    cdef int units = recurrent_kernel.shape[0]
    cdef bint want_d_X = d_X.shape[0] > 0
    cdef bint masked = recurrent_mask.shape[0] > 0
    cdef long n_rows = <long> n_steps * batch
    cdef int c, n_chunks, n_columns
    cdef int bounds[MAX_CHUNKS + 1]
    cdef double busy[MAX_CHUNKS]
    cdef double started, thread_started
    cdef int team

    check_packing(batch_sizes, n_steps, batch)
    _check_layer(cell, kernel.shape, recurrent_kernel.shape, d_bias.shape[0],
                 state.shape[0], n_steps, batch, n_inputs)
    cdef int width = gate_width(cell, units)
    check(d_kernel.shape[0] == n_inputs and d_kernel.shape[1] == width
          and d_recurrent_kernel.shape[0] == units
          and d_recurrent_kernel.shape[1] == width,
          "weight gradients do not match the input width and units")
    check_steps(d_hidden.shape, n_steps, batch, units, "d_hidden")
    check(d_carry.shape[0] >= batch and d_carry.shape[1] == units,
          "d_carry has the wrong shape")
    if want_d_X:
        check_steps(d_X.shape, n_steps, batch, n_inputs, "d_X")
    if masked:
        check(recurrent_mask.shape[0] == batch and recurrent_mask.shape[1] == units
              and d_work.shape[0] >= batch and d_work.shape[1] == units,
              "recurrent_mask or d_work has the wrong shape")
        check_steps(hidden_masked.shape, n_steps, batch, units, "hidden_masked")
    check(n_threads >= 1, "n_threads must be at least 1")
    if n_steps == 0 or batch == 0:
        # No steps to sum over: the gradients are zero (overwritten, as always).
        d_kernel[:, :] = 0
        d_recurrent_kernel[:, :] = 0
        d_bias[:] = 0
        return
    cdef double recurrence_flops = recurrent_flops(cell, &batch_sizes[0], n_steps,
                                                   units)
    cdef const floating *mask_ptr = &recurrent_mask[0, 0] if masked else NULL
    cdef floating *d_work_ptr = &d_work[0, 0] if masked else NULL
    cdef floating *gates = &state[0]
    cdef floating *recurrent_delta = (
        &state[0] + state_at(GRU_RECURRENT_AT, n_rows, units) if cell == GRU
        else gates
    )
    cdef const floating *recurrent_input = (
        &hidden_masked[0, 0, 0] if masked
        else &state[0] + state_at(HIDDEN_AT, n_rows, units)
    )
    # Each thread takes the same rows as in the forward, through the recurrence,
    # d_X and its rows' share of the weight gradients, then the shares are added
    # up in chunk order (the same sums however many threads run the chunks): only
    # the gradients, not the activations, cross between cores (see _layer_forward).
    cdef double gradient_flops = 2.0 * n_rows * width * (2 * n_inputs + units)
    n_chunks = row_chunks(
        &batch_sizes[0], n_steps, batch,
        n_chunks_for(n_threads, recurrence_flops + gradient_flops, batch), bounds)
    cdef long gradient_size = (<long> n_inputs + units + bias_rows(cell)) * width
    cdef long bias_size = bias_rows(cell) * width
    # One chunk splits the weight gradients by columns instead (a single long
    # sequence still uses two threads).
    n_columns = 1 if n_chunks > 1 else n_chunks_for(n_threads, gradient_flops,
                                                    width // COLUMN_ALIGN)
    # Per chunk, the recurrent kernel's and the kernel's transposes, packed by
    # the thread that uses them (see _layer_forward); then each chunk's work
    # space (whole panels: every part stays 64-byte aligned) and the other
    # chunks' shares.
    cdef long transposed_size = packed_size(gates, width, units)
    cdef long copy = transposed_size + packed_size(gates, width, n_inputs)
    cdef long chunk_work = (
        _rows_gradient_work(gates, cell, n_inputs, units) if n_chunks > 1
        else packed_size(gates, ROW_BLOCK, width))
    cdef void *raw = allocate(
        n_chunks * copy + max(n_chunks, n_columns) * chunk_work
        + (n_chunks - 1) * rounded(gradient_size),
        sizeof(floating))
    cdef floating *packed = <floating *> aligned(raw)
    cdef floating *chunk_works = packed + n_chunks * copy
    cdef floating *shares = chunk_works + max(n_chunks, n_columns) * chunk_work
    cdef floating *share
    cdef long i
    try:
        with nogil:
            team = team_for(n_chunks)
            started = clock_if_split(team)
            for c in prange(n_chunks, num_threads=team, schedule="static",
                            chunksize=1):
                thread_started = thread_clock_if_split(team)
                # Every step multiplies by both transposes: pack them once.
                pack(width, units, &recurrent_kernel[0, 0], 1, width,
                     packed + c * copy)
                if want_d_X:
                    pack(width, n_inputs, &kernel[0, 0], 1, width,
                         packed + c * copy + transposed_size)
                _backward_rows(cell, bounds[c], bounds[c + 1], n_steps, batch, units,
                               &batch_sizes[0], packed + c * copy,
                               &state[0], n_rows, &d_hidden[0, 0, 0], &d_carry[0, 0],
                               mask_ptr, d_work_ptr, n_inputs,
                               packed + c * copy + transposed_size if want_d_X
                               else NULL,
                               &d_X[0, 0, 0] if want_d_X else NULL)
                if n_chunks > 1:
                    share = shares + (c - 1) * rounded(gradient_size)
                    _weight_gradient_rows(
                        cell, bounds[c], bounds[c + 1], n_steps, batch, n_inputs,
                        units, &batch_sizes[0], &X[0, 0, 0], recurrent_input,
                        gates, recurrent_delta,
                        &d_kernel[0, 0] if c == 0 else share,
                        &d_recurrent_kernel[0, 0] if c == 0
                        else share + <long> n_inputs * width,
                        &d_bias[0] if c == 0
                        else share + (<long> n_inputs + units) * width,
                        chunk_works + c * chunk_work)
                busy[c] = thread_clock_if_split(team) - thread_started
            check_contention(busy, n_chunks, team, started)
            for c in range(1, n_chunks):
                share = shares + (c - 1) * rounded(gradient_size)
                for i in range(<long> n_inputs * width):
                    (&d_kernel[0, 0])[i] += share[i]
                share += <long> n_inputs * width
                for i in range(<long> units * width):
                    (&d_recurrent_kernel[0, 0])[i] += share[i]
                share += <long> units * width
                for i in range(bias_size):
                    d_bias[i] += share[i]
            if n_chunks == 1:
                team = team_for(n_columns)
                started = clock_if_split(team)
                for c in prange(n_columns, num_threads=team, schedule="static",
                                chunksize=1):
                    thread_started = thread_clock_if_split(team)
                    _weight_gradient_columns(
                        cell, even_chunk(width, n_columns, c, COLUMN_ALIGN),
                        even_chunk(width, n_columns, c + 1, COLUMN_ALIGN),
                        n_steps, batch, n_inputs, units, &X[0, 0, 0], recurrent_input,
                        gates, recurrent_delta, &d_kernel[0, 0],
                        &d_recurrent_kernel[0, 0], &d_bias[0],
                        chunk_works + c * chunk_work)
                    busy[c] = thread_clock_if_split(team) - thread_started
                check_contention(busy, n_columns, team, started)
    finally:
        free(raw)


cdef long _stack_chunk_work(floating *kind, int cell, int n_features,
                            const int[::1] units, bint backward) noexcept nogil:
    """Elements of one chunk's work space in the stack kernels: the most any layer
    needs (its weights packed; backward, their transposes and the work space of
    its weight gradients)."""
    cdef long most = 0, need
    cdef int layer, n_in, H
    for layer in range(units.shape[0]):
        n_in = n_features if layer == 0 else units[layer - 1]
        H = units[layer]
        if backward:
            need = (packed_size(kind, gate_width(cell, H), H)
                    + packed_size(kind, gate_width(cell, H), n_in)
                    + _rows_gradient_work(kind, cell, n_in, H))
        else:
            need = layer_packed_size(kind, cell, n_in, H)
        most = max(most, need)
    return most


cdef int _most_units(const int[::1] units) noexcept nogil:
    """The most units of any layer in a stack."""
    cdef int layer, most = 0
    for layer in range(units.shape[0]):
        most = max(most, units[layer])
    return most


def lstm_stack_forward(
    const floating[:, :, ::1] X,                 # IN  (T, B, D) time-major
    const floating[::1] params,                  # IN  LSTMNetwork's flat weights
    const int[::1] units,                        # IN  (L,) units of each layer
    const int[::1] batch_sizes,                  # IN  (T,) as for lstm_forward
    floating[::1] activations,                   # OUT every layer's forward state
    int n_threads=1,                             # IN  threads to split the work over
    int cell=LSTM,                               # IN  the cell (_layout.CELLS)
):
    """Run a stack of one-directional recurrent layers over a packed minibatch.

    What :func:`lstm_forward` does for each layer in turn, in one call: each
    thread takes its rows through every layer (a layer's rows read only the same
    rows of the layer below), with no synchronisation between layers and one
    parallel region in all. For each layer ``activations`` holds, from the
    offset that ``_layout.stack_layout`` gives, its state (the parts of
    ``_layout.STATE_PARTS[cell]``, each ``(T, B, width)``, the hidden states
    last): the next layer's input, and what :func:`lstm_stack_backward` needs.
    ``params`` starts with the layers' weights in Keras' order (kernel,
    recurrent kernel, bias of each layer); what follows them (the head) is not
    read.
    """
    cdef int n_steps = X.shape[0]
    cdef int batch = X.shape[1]
    cdef int n_features = X.shape[2]
    cdef int L = units.shape[0]
    cdef long *offsets = stack_offsets(cell, n_features, units,
                                       <long> n_steps * batch)
    cdef void *raw = NULL
    try:
        check_packing(batch_sizes, n_steps, batch)
        check(params.shape[0] >= offsets[L], "params do not match the layers")
        check(activations.shape[0] >= offsets[2 * L + 1],
              "activations is too small: see stack_layout")
        check(n_threads >= 1, "n_threads must be at least 1")
        if n_steps == 0 or batch == 0:
            return
        raw = allocate(stack_work_size(&activations[0], cell, n_features, units,
                                       batch, n_threads, False), sizeof(floating))
        with nogil:
            stack_forward(cell, units, n_steps, batch, n_features, &X[0, 0, 0],
                          &params[0], &batch_sizes[0], &activations[0], offsets,
                          <floating *> aligned(raw), n_threads)
    finally:
        free(offsets)
        free(raw)


cdef long _stack_weights_size(int cell, int n_features,
                              const int[::1] units) noexcept nogil:
    """Elements of a one-directional stack's weights (the head's excluded)."""
    cdef long size = 0
    cdef int layer
    for layer in range(units.shape[0]):
        size += weights_size(cell, n_features if layer == 0 else units[layer - 1],
                             units[layer])
    return size


cdef long stack_work_size(floating *kind, int cell, int n_features,
                          const int[::1] units, int batch, int n_threads,
                          bint backward) noexcept nogil:
    """Elements of the work space :func:`stack_forward` (or :func:`stack_backward`)
    needs for minibatches of up to ``batch`` rows on up to ``n_threads`` threads.

    Per chunk, the forward packs each layer's weights; the backward packs both
    transposes and keeps the weight gradients' work space, and every chunk but
    the first its share of the gradients (laid out like grads), then the carry
    (dL/dc, or the GRU's dL/dh), (B, widest).
    """
    cdef long n_chunks = min(n_threads, MAX_CHUNKS)
    cdef long copy = _stack_chunk_work(kind, cell, n_features, units, backward)
    if not backward:
        return n_chunks * copy
    return (n_chunks * copy
            + (n_chunks - 1) * rounded(_stack_weights_size(cell, n_features, units))
            + rounded(<long> batch * _most_units(units)))


cdef void stack_forward(
    int cell,
    const int[::1] units,                        # IN  (L,) units of each layer
    int n_steps,
    int batch,
    int n_features,
    const floating *X,                           # IN  (T, B, D) time-major
    const floating *params,                      # IN  as in lstm_stack_forward
    const int *batch_sizes,                      # IN  (T,) checked by the caller
    floating *activations,                       # OUT as in lstm_stack_forward
    const long *offsets,                         # IN  stack_offsets for T * B rows
    floating *work,                              # IN  stack_work_size(forward)
    int n_threads,
) noexcept nogil:
    """:func:`lstm_stack_forward`'s work, on buffers the caller has checked."""
    cdef long n_rows = <long> n_steps * batch
    cdef int L = units.shape[0]
    cdef const long *at_weights = offsets
    cdef const long *at_activations = offsets + L + 1
    cdef int c, layer, n_in, H, n_chunks, team
    cdef int bounds[MAX_CHUNKS + 1]
    cdef double busy[MAX_CHUNKS]
    cdef double started, thread_started
    cdef const floating *weights
    cdef const floating *layer_input
    cdef floating *own
    cdef floating *packed_kernel
    cdef floating *state
    cdef long copy = _stack_chunk_work(work, cell, n_features, units, False)
    n_chunks = stack_chunks(cell, n_features, units, 1, batch_sizes, n_steps,
                            batch, n_threads, bounds)
    team = team_for(n_chunks)
    started = clock_if_split(team)
    for c in prange(n_chunks, num_threads=team, schedule="static", chunksize=1):
        thread_started = thread_clock_if_split(team)
        own = work + c * copy
        for layer in range(L):
            n_in = n_features if layer == 0 else units[layer - 1]
            H = units[layer]
            weights = params + at_weights[layer]
            state = activations + at_activations[layer]
            if layer == 0:
                layer_input = X
            else:                # the hidden states of the layer below
                layer_input = (activations + at_activations[layer - 1]
                               + state_at(HIDDEN_AT, n_rows, n_in))
            # Each thread packs its own copy (see _layer_forward).
            packed_kernel = pack_layer(cell, n_in, H, weights,
                                       weights + recurrent_at(cell, n_in, H), own)
            forward_rows(cell, bounds[c], bounds[c + 1], n_steps, batch, H,
                         batch_sizes, own, weights + bias_at(cell, n_in, H), n_in,
                         layer_input, packed_kernel, state, n_rows, NULL, NULL)
        busy[c] = thread_clock_if_split(team) - thread_started
    check_contention(busy, n_chunks, team, started)


def lstm_stack_backward(
    const floating[:, :, ::1] X,                 # IN  (T, B, D) as in the forward
    const floating[::1] params,                  # IN  as in the forward
    const int[::1] units,                        # IN  (L,)
    const int[::1] batch_sizes,                  # IN  (T,)
    floating[::1] activations,                   # IN  the forward's; gates -> dL/dz
    floating[::1] d_hiddens,                     # IN  top layer's dL/dh; clobbered
    floating[::1] grads,                         # OUT the layers' weight gradients
    int n_threads=1,                             # IN  threads to split the work over
    int cell=LSTM,                               # IN  as in the forward
):
    """Backpropagate through a stack after :func:`lstm_stack_forward`.

    ``d_hiddens`` holds each layer's dL/dh at the offsets that
    ``_layout.stack_layout`` gives; the caller fills the top layer's (the
    gradient from the head; rows past a sequence's end are ignored), the others
    are work space. The layers' part of ``grads`` (the same layout as
    ``params``) is overwritten with the gradient; what follows it is left alone.

    Each thread takes the rows it took in the forward down through every layer:
    the recurrence, the gradient passed to the layer below, and its rows' share
    of each layer's weight gradients; the shares are added up after the one
    parallel region, in chunk order (the same sums however many threads run the
    chunks).
    """
    cdef int n_steps = X.shape[0]
    cdef int batch = X.shape[1]
    cdef int n_features = X.shape[2]
    cdef int L = units.shape[0]
    cdef long *offsets = stack_offsets(cell, n_features, units,
                                       <long> n_steps * batch)
    cdef void *raw = NULL
    try:
        check_packing(batch_sizes, n_steps, batch)
        check(params.shape[0] >= offsets[L] and grads.shape[0] >= offsets[L],
              "params or grads do not match the layers")
        check(activations.shape[0] >= offsets[2 * L + 1]
              and d_hiddens.shape[0] >= offsets[3 * L + 2],
              "activations or d_hiddens is too small: see stack_layout")
        check(n_threads >= 1, "n_threads must be at least 1")
        if n_steps == 0 or batch == 0:
            grads[:offsets[L]] = 0
            return
        raw = allocate(stack_work_size(&activations[0], cell, n_features, units,
                                       batch, n_threads, True), sizeof(floating))
        with nogil:
            stack_backward(cell, units, n_steps, batch, n_features, &X[0, 0, 0],
                           &params[0], &batch_sizes[0], &activations[0],
                           &d_hiddens[0], &grads[0], offsets,
                           <floating *> aligned(raw), n_threads)
    finally:
        free(offsets)
        free(raw)


cdef void stack_backward(
    int cell,
    const int[::1] units,                        # IN  (L,)
    int n_steps,
    int batch,
    int n_features,
    const floating *X,                           # IN  (T, B, D) as in the forward
    const floating *params,                      # IN  as in the forward
    const int *batch_sizes,                      # IN  (T,)
    floating *activations,                       # IN  the forward's; gates -> dL/dz
    floating *d_hiddens,                         # IN  top layer's dL/dh; clobbered
    floating *grads,                             # OUT the layers' weight gradients
    const long *offsets,                         # IN  stack_offsets for T * B rows
    floating *work,                              # IN  stack_work_size(backward)
    int n_threads,
) noexcept nogil:
    """:func:`lstm_stack_backward`'s work, on buffers the caller has checked."""
    cdef long n_rows = <long> n_steps * batch
    cdef int L = units.shape[0]
    cdef const long *at_weights = offsets
    cdef const long *at_activations = offsets + L + 1
    cdef const long *at_d_hiddens = offsets + 2 * (L + 1)
    cdef int c, layer, n_in, H, n_chunks, team, width
    cdef int widest = _most_units(units)
    cdef int bounds[MAX_CHUNKS + 1]
    cdef double busy[MAX_CHUNKS]
    cdef double started, thread_started
    cdef const floating *weights
    cdef const floating *layer_input
    cdef floating *own
    cdef floating *state
    cdef floating *out
    cdef floating *packed_input_t
    cdef long copy = _stack_chunk_work(work, cell, n_features, units, True)
    cdef long share_size = rounded(at_weights[L])
    cdef long i
    n_chunks = stack_chunks(cell, n_features, units, 1, batch_sizes, n_steps,
                            batch, n_threads, bounds)
    # The work space: per chunk its packed transposes and weight-gradient work
    # space, then the shares of the gradients of every chunk but the first (which
    # writes grads), then the carry, whose chunk rows start at bounds[c] * widest
    # whatever the layer's units, since threads run through the layers at their
    # own pace.
    cdef floating *shares = work + n_chunks * copy
    cdef floating *d_carry = shares + (n_chunks - 1) * share_size
    team = team_for(n_chunks)
    started = clock_if_split(team)
    for c in prange(n_chunks, num_threads=team, schedule="static", chunksize=1):
        thread_started = thread_clock_if_split(team)
        own = work + c * copy
        out = grads if c == 0 else shares + (c - 1) * share_size
        for layer in range(L - 1, -1, -1):
            n_in = n_features if layer == 0 else units[layer - 1]
            H = units[layer]
            width = gate_width(cell, H)
            weights = params + at_weights[layer]
            state = activations + at_activations[layer]
            if layer == 0:
                layer_input = X
            else:                # the hidden states of the layer below
                layer_input = (activations + at_activations[layer - 1]
                               + state_at(HIDDEN_AT, n_rows, n_in))
            # Each thread packs its own transposes (see _layer_forward).
            packed_input_t = own + packed_size(own, width, H)
            pack(width, H, weights + recurrent_at(cell, n_in, H), 1, width, own)
            if layer > 0:
                pack(width, n_in, weights, 1, width, packed_input_t)
            # _backward_rows finds row s of the carry at (pointer) + s * H.
            _backward_rows(cell, bounds[c], bounds[c + 1], n_steps, batch, H,
                           batch_sizes, own, state, n_rows,
                           d_hiddens + at_d_hiddens[layer],
                           d_carry + <long> bounds[c] * (widest - H),
                           NULL, NULL, n_in,
                           packed_input_t if layer > 0 else NULL,
                           d_hiddens + at_d_hiddens[layer - 1]
                           if layer > 0 else NULL)
            _weight_gradient_rows(
                cell, bounds[c], bounds[c + 1], n_steps, batch, n_in, H,
                batch_sizes, layer_input,
                state + state_at(HIDDEN_AT, n_rows, H), state,
                state + state_at(GRU_RECURRENT_AT, n_rows, H) if cell == GRU
                else state,
                out + at_weights[layer],
                out + at_weights[layer] + recurrent_at(cell, n_in, H),
                out + at_weights[layer] + bias_at(cell, n_in, H),
                packed_input_t + packed_size(own, width, n_in))
        busy[c] = thread_clock_if_split(team) - thread_started
    check_contention(busy, n_chunks, team, started)
    for c in range(1, n_chunks):
        out = shares + (c - 1) * share_size
        for i in range(at_weights[L]):
            grads[i] += out[i]
