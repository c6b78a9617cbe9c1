# The one definition of a recurrent layer's geometry, for each cell, and the
# argument checks every kernel shares. Python reads the same geometry from
# _layout.pyx.

cdef enum:
    # The cells, as the kernels' ``cell`` arguments name them (_layout.CELLS).
    LSTM = 0
    GRU = 1
    # Gates per unit. LSTM, Keras' order: input, forget, cell candidate,
    # output. GRU, Keras' (reset_after=True): update, reset, candidate.
    LSTM_GATES = 4
    GRU_GATES = 3
    # A layer's forward state, per row, in multiples of its units: the gates,
    # then the cell's own parts, then h_t, at the same place for both cells.
    # LSTM: c_t and tanh(c_t). GRU: the recurrent sums h_{t-1} @ U + b' of the
    # three gates (the candidate's is multiplied by the reset gate, so it is
    # kept apart from the input's).
    LSTM_CELLS_AT = 4
    LSTM_CELLS_TANH_AT = 5
    GRU_RECURRENT_AT = 3
    HIDDEN_AT = 6
    STATE_WIDTH = 7


cdef inline int n_gates(int cell) noexcept nogil:
    return GRU_GATES if cell == GRU else LSTM_GATES


cdef inline int gate_width(int cell, int units) noexcept nogil:
    """Width of a layer's gate axis (its kernels' columns)."""
    return n_gates(cell) * units


cdef inline int bias_rows(int cell) noexcept nogil:
    """Rows of a layer's bias: the GRU's adds a recurrent bias to the input one."""
    return 2 if cell == GRU else 1


cdef inline int own_recurrent_at(int cell, int units) noexcept nogil:
    """First gate column whose recurrent sum has a gradient of its own.

    The GRU's candidate (2H): its recurrent sum is multiplied by the reset gate,
    while the update and reset gates' recurrent sums add to their input sums and
    share dL/dz. The LSTM's recurrent sums all do: none (its gate width).
    """
    return 2 * units if cell == GRU else gate_width(cell, units)


cdef inline long recurrent_at(int cell, int n_inputs, int units) noexcept nogil:
    """Offset of the recurrent kernel (H, G H) after the kernel (D, G H)."""
    return <long> n_inputs * gate_width(cell, units)


cdef inline long bias_at(int cell, int n_inputs, int units) noexcept nogil:
    """Offset of the bias ((rows, G H)) after the kernel and the recurrent kernel."""
    return (<long> n_inputs + units) * gate_width(cell, units)


cdef inline long weights_size(int cell, int n_inputs, int units) noexcept nogil:
    """Elements of one layer and direction's weights: kernel, recurrent kernel, bias."""
    return (<long> n_inputs + units + bias_rows(cell)) * gate_width(cell, units)


cdef inline int carried_width(int cell, int units) noexcept nogil:
    """What a layer carries from one step to the next: h, and the LSTM's c."""
    return units if cell == GRU else 2 * units


cdef inline long state_at(int part, long n_rows, int units) noexcept nogil:
    """Offset of a part (HIDDEN_AT, ...) in a layer's (T * B)-row state block."""
    return n_rows * part * units


cdef long *stack_offsets(int cell, int n_features, const int[::1] units,
                         long n_rows) except NULL
cdef void fill_stack_offsets(int cell, int n_features, const int[::1] units,
                             long n_rows, long *offsets) noexcept nogil


cdef inline int check(bint ok, str what) except -1:
    if not ok:
        raise ValueError(f"lstm kernel: {what}")
    return 0


cdef inline int check_cell(int cell) except -1:
    check(cell == LSTM or cell == GRU, "cell must be 0 (LSTM) or 1 (GRU)")
    return 0


cdef inline int check_packing(const int[::1] batch_sizes, int n_steps,
                              int batch) except -1:
    """The products trust ``batch_sizes``: a wrong one would write out of bounds."""
    cdef int t, previous = batch
    check(batch_sizes.shape[0] == n_steps, "batch_sizes must have one entry a step")
    for t in range(n_steps):
        check(0 <= batch_sizes[t] <= previous,
              "batch_sizes must be non-increasing, within [0, batch]")
        previous = batch_sizes[t]
    return 0


cdef inline int check_steps(Py_ssize_t *shape, int n_steps, int batch, int width,
                            str name) except -1:
    """A (n_steps, batch, width) buffer, as the products will address it."""
    if shape[0] != n_steps or shape[1] != batch or shape[2] != width:
        # Formatted only on failure: this runs at every kernel call.
        raise ValueError(
            f"lstm kernel: {name} has shape {(shape[0], shape[1], shape[2])}, "
            f"expected {(n_steps, batch, width)}"
        )
    return 0
