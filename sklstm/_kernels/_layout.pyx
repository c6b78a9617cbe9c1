"""The geometry of a recurrent layer, for each cell, as the kernels address it.

The kernels and the Python side read it from here: the gate order and width, where
each weight starts in a layer's part of the flat parameter buffer, and where each
part of a layer's forward state starts in the kernels' buffers.
"""

from libc.stdlib cimport free, malloc

#: The cells, in the order of the kernels' ``cell`` argument.
CELLS = ("lstm", "gru")

#: Order of the gates along the gate axis of kernels and biases, per cell: Keras'
#: (the LSTM's is also PyTorch's; ``nn.GRU``'s is reset, update, new).
GATE_ORDER = {
    "lstm": ("input", "forget", "cell", "output"),
    "gru": ("update", "reset", "candidate"),
}

#: Parts of a layer's forward state in the kernels' ``state`` buffers, each
#: ``(T, B, width)``, with their widths in units, per cell.
STATE_PARTS = {
    "lstm": (
        ("gates", LSTM_GATES),
        ("cells", LSTM_CELLS_TANH_AT - LSTM_CELLS_AT),
        ("cells_tanh", HIDDEN_AT - LSTM_CELLS_TANH_AT),
        ("hidden", STATE_WIDTH - HIDDEN_AT),
    ),
    "gru": (
        ("gates", GRU_GATES),
        ("recurrent_sums", HIDDEN_AT - GRU_RECURRENT_AT),
        ("hidden", STATE_WIDTH - HIDDEN_AT),
    ),
}

#: Width of a layer's state in units: the sum of its parts' (the same per cell).
STATE_WIDTH_UNITS = STATE_WIDTH


def cell_kind(str cell):
    """The kernels' ``cell`` argument for a cell's name."""
    return CELLS.index(cell)


def gates_per_unit(str cell):
    """Gate pre-activations per unit and row: the gate axis is this times units."""
    return n_gates(cell_kind(cell))


def carried_state_width(str cell, int units):
    """Values a layer carries from step to step (a stream's state): h, the LSTM's c."""
    return carried_width(cell_kind(cell), units)


def cell_weight_shapes(int n_inputs, int units, str cell="lstm"):
    """Shapes of one layer and direction's weights: kernel, recurrent kernel, bias.

    Keras' ``get_weights()``: ``(n_inputs, G units)``, ``(units, G units)``, then
    the LSTM's bias ``(4 units,)`` or the GRU's ``(2, 3 units)`` (input and
    recurrent biases); in this order in the flat parameter buffer.
    """
    cdef int kind = cell_kind(cell)
    cdef int width = gate_width(kind, units)
    cdef tuple bias = (width,)
    if bias_rows(kind) > 1:
        bias = (bias_rows(kind), width)
    return (n_inputs, width), (units, width), bias


cdef long *stack_offsets(int cell, int n_features, const int[::1] units,
                         long n_rows) except NULL:
    """Where each layer's part starts in the flat buffers of the stack kernels.

    Three arrays of ``L + 1`` offsets, one after the other (free the first):
    each layer's weights in ``params`` (one direction); its state (the parts of
    :data:`STATE_PARTS`, each ``(T, B, width)`` for ``n_rows = T * B``) in
    ``activations``; its dL/dh in ``d_hiddens``. Index ``L`` of each holds that
    buffer's total size.
    """
    cdef int L = units.shape[0]
    cdef int layer
    check_cell(cell)
    check(L > 0, "units must name at least one layer")
    for layer in range(L):
        check(units[layer] > 0, "units must be positive")
    cdef long *weights = <long *> malloc(3 * (L + 1) * sizeof(long))
    if weights == NULL:
        raise MemoryError()
    fill_stack_offsets(cell, n_features, units, n_rows, weights)
    return weights


cdef void fill_stack_offsets(int cell, int n_features, const int[::1] units,
                             long n_rows, long *offsets) noexcept nogil:
    """:func:`stack_offsets` into ``offsets`` (``3 * (L + 1)``), unchecked."""
    cdef int L = units.shape[0]
    cdef int layer, n_in, H
    cdef long *weights = offsets
    cdef long *activations = weights + L + 1
    cdef long *d_hiddens = activations + L + 1
    weights[0] = activations[0] = d_hiddens[0] = 0
    for layer in range(L):
        n_in = n_features if layer == 0 else units[layer - 1]
        H = units[layer]
        weights[layer + 1] = weights[layer] + weights_size(cell, n_in, H)
        activations[layer + 1] = activations[layer] + state_at(STATE_WIDTH, n_rows, H)
        d_hiddens[layer + 1] = d_hiddens[layer] + n_rows * H


def stack_layout(int n_features, const int[::1] units, long n_rows, str cell="lstm"):
    """Where each layer's part starts in the stack kernels' flat buffers.

    Returns ``(weights, activations, d_hiddens)``, three lists of ``L + 1``
    offsets for minibatches of ``n_rows = T * B`` rows, the last one each
    buffer's size: each layer's weights in ``params`` (and ``grads``); its
    state, the :data:`STATE_PARTS` one after the other, in ``activations``;
    its dL/dh, ``(T, B, units)``, in ``d_hiddens``.
    """
    cdef int L = units.shape[0]
    cdef long *offsets = stack_offsets(cell_kind(cell), n_features, units, n_rows)
    try:
        return tuple([offsets[part * (L + 1) + layer] for layer in range(L + 1)]
                     for part in range(3))
    finally:
        free(offsets)
