# The one definition of an LSTM layer's geometry, and the argument checks every
# kernel shares. Python reads the same geometry from _layout.pyx.

cdef enum:
    # Gates per unit, in Keras' order: input, forget, cell candidate, output.
    LSTM_GATES = 4
    # A layer's forward state, per row, in multiples of its units: the gates
    # (4 units), then c_t, tanh(c_t) and h_t (one each).
    LSTM_CELLS_AT = 4
    LSTM_CELLS_TANH_AT = 5
    LSTM_HIDDEN_AT = 6
    LSTM_STATE_WIDTH = 7


cdef inline int gate_width(int units) noexcept nogil:
    """Width of a layer's gate axis (its kernels' columns, its bias)."""
    return LSTM_GATES * units


cdef inline long recurrent_at(int n_inputs, int units) noexcept nogil:
    """Offset of the recurrent kernel (H, 4H) after the kernel (D, 4H)."""
    return <long> n_inputs * gate_width(units)


cdef inline long bias_at(int n_inputs, int units) noexcept nogil:
    """Offset of the bias (4H,) after the kernel and the recurrent kernel."""
    return (<long> n_inputs + units) * gate_width(units)


cdef inline long weights_size(int n_inputs, int units) noexcept nogil:
    """Elements of one layer and direction's weights: kernel, recurrent kernel, bias."""
    return (<long> n_inputs + units + 1) * gate_width(units)


cdef inline long state_at(int part, long n_rows, int units) noexcept nogil:
    """Offset of a part (LSTM_CELLS_AT, ...) in a layer's (T * B)-row state block."""
    return n_rows * part * units


cdef long *stack_offsets(int n_features, const int[::1] units,
                         long n_rows) except NULL


cdef inline int check(bint ok, str what) except -1:
    if not ok:
        raise ValueError(f"lstm kernel: {what}")
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
