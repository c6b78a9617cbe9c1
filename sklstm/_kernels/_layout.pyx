"""The geometry of an LSTM layer, as the kernels address it.

The kernels and the Python side read it from here: the gate order and width, where
each weight starts in a layer's part of the flat parameter buffer, and where each
part of a layer's forward state starts in the stack kernels' buffers.
"""

from libc.stdlib cimport free, malloc

#: Order of the gates along the ``4 * units`` axis of kernels and biases: Keras'
#: (and PyTorch's).
GATE_ORDER = ("input", "forget", "cell", "output")

#: Width of a layer's gate axis per unit: its gate pre-activations per row.
GATE_WIDTH = LSTM_GATES

#: Parts of a layer's forward state in the stack kernels' ``activations``, each
#: ``(T, B, width)``, with their widths in units.
STATE_PARTS = (
    ("gates", LSTM_GATES),
    ("cells", LSTM_CELLS_TANH_AT - LSTM_CELLS_AT),
    ("cells_tanh", LSTM_HIDDEN_AT - LSTM_CELLS_TANH_AT),
    ("hidden", LSTM_STATE_WIDTH - LSTM_HIDDEN_AT),
)


def cell_weight_shapes(int n_inputs, int units):
    """Shapes of one layer and direction's weights: kernel, recurrent kernel, bias.

    Keras' ``LSTM.get_weights()``: ``(n_inputs, 4 units)``, ``(units, 4 units)``,
    ``(4 units,)``; in this order in the flat parameter buffer.
    """
    cdef int width = gate_width(units)
    return (n_inputs, width), (units, width), (width,)


cdef long *stack_offsets(int n_features, const int[::1] units,
                         long n_rows) except NULL:
    """Where each layer's part starts in the flat buffers of the stack kernels.

    Three arrays of ``L + 1`` offsets, one after the other (free the first):
    each layer's weights in ``params`` (one direction); its state (gates, cells,
    tanh of the cells, hidden states, each ``(T, B, width)`` for ``n_rows = T *
    B``) in ``activations``; its dL/dh in ``d_hiddens``. Index ``L`` of each
    holds that buffer's total size.
    """
    cdef int L = units.shape[0]
    cdef int layer, n_in, H
    check(L > 0, "units must name at least one layer")
    for layer in range(L):
        check(units[layer] > 0, "units must be positive")
    cdef long *weights = <long *> malloc(3 * (L + 1) * sizeof(long))
    if weights == NULL:
        raise MemoryError()
    cdef long *activations = weights + L + 1
    cdef long *d_hiddens = activations + L + 1
    weights[0] = activations[0] = d_hiddens[0] = 0
    for layer in range(L):
        n_in = n_features if layer == 0 else units[layer - 1]
        H = units[layer]
        weights[layer + 1] = weights[layer] + weights_size(n_in, H)
        activations[layer + 1] = (activations[layer]
                                  + state_at(LSTM_STATE_WIDTH, n_rows, H))
        d_hiddens[layer + 1] = d_hiddens[layer] + n_rows * H
    return weights


def stack_layout(int n_features, const int[::1] units, long n_rows):
    """Where each layer's part starts in the stack kernels' flat buffers.

    Returns ``(weights, activations, d_hiddens)``, three lists of ``L + 1``
    offsets for minibatches of ``n_rows = T * B`` rows, the last one each
    buffer's size: each layer's weights in ``params`` (and ``grads``); its
    state, the :data:`STATE_PARTS` one after the other, in ``activations``;
    its dL/dh, ``(T, B, units)``, in ``d_hiddens``.
    """
    cdef int L = units.shape[0]
    cdef long *offsets = stack_offsets(n_features, units, n_rows)
    try:
        return tuple([offsets[part * (L + 1) + layer] for layer in range(L + 1)]
                     for part in range(3))
    finally:
        free(offsets)
