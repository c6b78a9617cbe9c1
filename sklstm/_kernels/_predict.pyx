"""Prediction kernels: a stack's head pre-activations, for a batch or one sequence.

One call does the whole prediction, for the latency of small batches. A batch of
equal-length sequences (``_stack_logits_rows``) is split between threads by rows,
each thread taking its sequences through every layer, both directions and the
head, reading nothing another core wrote. A single sequence (``_sequence_logits``)
runs each layer's recurrence in vector registers (``recurrence`` in ``_cells``):
its product with one row is bound by reading the recurrent kernel, so each step
keeps its gate sums in registers and reads the weights where they are, unpacked.
``_stack_logits`` chooses between the two.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

from sklstm._kernels._array cimport all_finite_values, softmax_row
from sklstm._kernels._cells cimport (
    cells_forward,
    forward_rows,
    gru_forward,
    layer_packed_size,
    pack_layer,
    padded_units,
    project,
    recurrence,
    stack_chunks,
)
from sklstm._kernels._layout cimport (
    GRU,
    HIDDEN_AT,
    LSTM,
    STATE_WIDTH,
    bias_at,
    carried_width,
    check,
    check_cell,
    gate_width,
    n_gates,
    recurrent_at,
    state_at,
    weights_size,
)
from sklstm._kernels._parallel cimport (
    MAX_CHUNKS,
    check_contention,
    clock_if_split,
    team_for,
    thread_clock_if_split,
)
from sklstm._kernels._products cimport (
    allocate,
    aligned,
    gemm,
    pack,
    packed_product,
    packed_size,
)


cdef void _stack_extents(int n_features, const int[::1] units, int d,
                         int *max_input, int *max_units) noexcept nogil:
    """Widest layer input and most units over a stack: its buffers' widths."""
    cdef int layer
    max_input[0], max_units[0] = n_features, 0
    for layer in range(units.shape[0]):
        max_units[0] = max(max_units[0], units[layer])
        if layer + 1 < units.shape[0]:
            max_input[0] = max(max_input[0], d * units[layer])


cdef inline long _row_work(int n_steps, int max_input, int max_units, int d,
                           int top_units) noexcept nogil:
    """Elements of _stack_logits_rows' work space per row of the batch.

    A layer's input and output (ping-pong) and its input reversed in time, its
    state (_layout.STATE_PARTS); the head's input.
    """
    return (<long> n_steps * (3 * max_input + STATE_WIDTH * max_units)
            + <long> d * top_units)


# A single sequence's input projection reads a kernel of up to this many bytes
# (half of L1) where it is, step by step; a larger one is packed and multiplied
# by blocks of steps.
cdef long SEQUENCE_KERNEL_IN_PLACE_BYTES = 16384


cdef enum:
    # The pieces of _sequence_logits' work space, in order: input projections;
    # two layers' outputs; a layer's kernel, packed per input part and gate; its
    # kernel (if small) or recurrent kernel, and its bias, with gates padded to
    # whole vectors; the GRU candidate's recurrent bias, padded; h_{-1}; c.
    SEQUENCE_PROJECTIONS, SEQUENCE_OUTPUT, SEQUENCE_OTHER_OUTPUT, SEQUENCE_PACKED,
    SEQUENCE_PADDED_WEIGHTS, SEQUENCE_PADDED_BIAS, SEQUENCE_U_BIAS, SEQUENCE_H0,
    SEQUENCE_CELLS, SEQUENCE_PIECES


cdef long _sequence_layout(floating *kind, int cell, int n_steps, int n_features,
                           const int[::1] units, int d, long *offsets) noexcept nogil:
    """Offsets (elements) of _sequence_logits' work pieces; returns their total."""
    cdef int G = n_gates(cell)
    cdef int layer, part_width = n_features, n_parts = 1, most = 0, widest = 0
    cdef long packed = 0, total = 0
    cdef long sizes[<int> SEQUENCE_PIECES]
    cdef int piece
    for layer in range(units.shape[0]):
        most = max(most, units[layer])
        widest = max(widest, padded_units(kind, units[layer]))
        packed = max(packed, <long> G * n_parts
                     * packed_size(kind, part_width, units[layer]))
        part_width, n_parts = units[layer], d
    sizes[<int> SEQUENCE_PROJECTIONS] = <long> n_steps * G * widest
    sizes[<int> SEQUENCE_OUTPUT] = <long> n_steps * d * widest
    sizes[<int> SEQUENCE_OTHER_OUTPUT] = <long> n_steps * d * widest
    sizes[<int> SEQUENCE_PACKED] = packed
    sizes[<int> SEQUENCE_PADDED_WEIGHTS] = max(
        <long> most * G * widest,
        SEQUENCE_KERNEL_IN_PLACE_BYTES // <long> sizeof(floating))
    sizes[<int> SEQUENCE_PADDED_BIAS] = G * widest
    sizes[<int> SEQUENCE_U_BIAS] = widest
    sizes[<int> SEQUENCE_H0] = widest
    sizes[<int> SEQUENCE_CELLS] = widest
    # Every size is a multiple of a 64-byte vector: each piece stays aligned.
    for piece in range(<int> SEQUENCE_PIECES):
        offsets[piece] = total
        total += sizes[piece]
    return total


cdef void _pad_gates(int G, int n_rows, int units, int padded,
                     const floating *rows, floating *out) noexcept nogil:
    """Rows of G gates ``units`` apart -> ``padded`` apart, zeros between."""
    cdef int r, gate
    for r in range(n_rows):
        for gate in range(G):
            memcpy(out + (<long> r * G + gate) * padded,
                   rows + <long> r * G * units + gate * units,
                   units * sizeof(floating))
            memset(out + (<long> r * G + gate) * padded + units, 0,
                   (padded - units) * sizeof(floating))


cdef void _gru_biases(int units, int padded, const floating *bias,
                      floating *projection_bias, floating *u_bias) noexcept nogil:
    """A GRU's (2, 3H) bias as the single-sequence recurrence takes it, padded.

    The update and reset gates' recurrent biases join their input biases in
    the projection; the candidate's stays apart (the reset gate multiplies it).
    """
    cdef int gate, j
    _pad_gates(3, 1, units, padded, bias, projection_bias)
    for gate in range(2):
        for j in range(units):
            projection_bias[gate * padded + j] += bias[(3 + gate) * units + j]
    _pad_gates(1, 1, units, padded, bias + 5 * units, u_bias)


cdef void _sequence_logits(
    int cell,
    int n_steps,
    int n_features,
    const int[::1] units,
    int d,
    int n_outputs,
    const floating *x,                   # IN  (T, D): one sequence
    const floating *params,              # IN  every weight, Keras' order
    floating *work,                      # WORK _logits_work(T, 1, ...)
    floating *state,                     # IN/OUT per layer h, H (LSTM: then c,
                                         #        H); or NULL: zeros, and d may
                                         #        be 2
    bint every_step,                     # IN  the head at every step
    floating *logits,                    # OUT (n_outputs,), or (T, n_outputs)
) noexcept nogil:
    """Head pre-activations of one sequence: _stack_logits_rows for a batch of one.

    Each layer projects the sequence's inputs for all steps (a small kernel read
    step by step, a larger one packed and multiplied by blocks of steps), then
    runs the recurrence in registers. Weights are read where they are when the
    units fill whole vectors, else from copies whose gates are padded. Outputs of
    a layer are rows of d * padded(units), the directions side by side.

    A ``state`` continues a stream: each layer starts from its (h, c) instead of
    zeros, and leaves there its state after the last step.
    """
    cdef int G = n_gates(cell)
    cdef bint gru = cell == GRU
    cdef int layer, direction, part, gate, k, o, t
    cdef int H = 0, P = 0, n_in
    cdef int part_width = n_features, n_parts = 1
    cdef long part_stride = 0, lda = n_features, packed_part
    cdef long offsets[<int> SEQUENCE_PIECES]
    cdef floating *base = <floating *> aligned(work)
    cdef floating *swap
    cdef const floating *layer_input = x
    cdef const floating *kernel
    cdef const floating *recurrent
    cdef const floating *bias
    cdef const floating *weights = params
    cdef const floating *last
    _sequence_layout(base, cell, n_steps, n_features, units, d, offsets)
    cdef floating *proj = base + offsets[<int> SEQUENCE_PROJECTIONS]
    cdef floating *layer_output = base + offsets[<int> SEQUENCE_OUTPUT]
    cdef floating *other_output = base + offsets[<int> SEQUENCE_OTHER_OUTPUT]
    cdef floating *packed = base + offsets[<int> SEQUENCE_PACKED]
    cdef floating *padded_weights = base + offsets[<int> SEQUENCE_PADDED_WEIGHTS]
    cdef floating *padded_bias = base + offsets[<int> SEQUENCE_PADDED_BIAS]
    cdef floating *u_bias = base + offsets[<int> SEQUENCE_U_BIAS]
    cdef floating *h0 = base + offsets[<int> SEQUENCE_H0]
    cdef floating *c = base + offsets[<int> SEQUENCE_CELLS]
    for layer in range(units.shape[0]):
        H = units[layer]
        P = padded_units(base, H)
        n_in = n_parts * part_width
        packed_part = packed_size(base, part_width, H)
        for direction in range(d):
            kernel = weights
            recurrent = weights + recurrent_at(cell, n_in, H)
            bias = weights + bias_at(cell, n_in, H)
            if gru:
                _gru_biases(H, P, bias, padded_bias, u_bias)
                bias = padded_bias
            # proj[t, gate * P + j] = bias + x_t @ kernel, 0 past H.
            if (<long> n_in * G * P * <long> sizeof(floating)
                    <= SEQUENCE_KERNEL_IN_PLACE_BYTES):
                if P != H:
                    _pad_gates(G, n_in, H, P, kernel, padded_weights)
                    kernel = padded_weights
                    if not gru:
                        _pad_gates(G, 1, H, P, bias, padded_bias)
                        bias = padded_bias
                project(cell, n_steps, n_parts, part_width, layer_input, lda,
                        part_stride, kernel, bias, P, proj)
            else:
                if gru:
                    memcpy(proj, padded_bias, G * P * sizeof(floating))
                else:
                    _pad_gates(G, 1, H, P, bias, proj)
                for t in range(1, n_steps):
                    memcpy(proj + <long> t * G * P, proj, G * P * sizeof(floating))
                for part in range(n_parts):
                    for gate in range(G):
                        pack(part_width, H,
                             kernel + <long> part * part_width * gate_width(cell, H)
                             + gate * H, gate_width(cell, H), 1,
                             packed + (part * G + gate) * packed_part)
                        packed_product(n_steps, H, part_width,
                                       layer_input + part * part_stride, lda, 1,
                                       packed + (part * G + gate) * packed_part,
                                       part_width, proj + gate * P, G * P, True)
            if P != H:
                _pad_gates(G, H, H, P, recurrent, padded_weights)
                recurrent = padded_weights
            # Padding past H stays zero: it keeps zero cells and outputs.
            memset(h0, 0, P * sizeof(floating))
            memset(c, 0, P * sizeof(floating))
            if state != NULL:
                memcpy(h0, state, H * sizeof(floating))
                if not gru:
                    memcpy(c, state + H, H * sizeof(floating))
            recurrence(cell, n_steps, H, P, proj, recurrent, direction == 1,
                       layer_output + direction * P, d * P, h0,
                       NULL if gru else c, u_bias if gru else NULL)
            if state != NULL:
                memcpy(state, layer_output + <long> (n_steps - 1) * P,
                       H * sizeof(floating))
                if not gru:
                    memcpy(state + H, c, H * sizeof(floating))
                state += carried_width(cell, H)
            weights += weights_size(cell, n_in, H)
        layer_input = layer_output
        lda = d * P
        part_stride = P
        part_width, n_parts = H, d
        swap = layer_output
        layer_output = other_output
        other_output = swap
    if every_step:
        # logits[t] = bias + [h_t forward, h_t backward] @ head kernel
        for t in range(n_steps):
            memcpy(logits + <long> t * n_outputs, weights + <long> d * H * n_outputs,
                   n_outputs * sizeof(floating))
        for direction in range(d):
            gemm(False, False, n_steps, n_outputs, H, <floating> 1,
                 layer_input + direction * P, lda,
                 weights + <long> direction * H * n_outputs, n_outputs,
                 <floating> 1, logits, n_outputs)
        return
    # logits = bias + [h_{T-1} forward, h_0 backward] @ head kernel
    memcpy(logits, weights + <long> d * H * n_outputs, n_outputs * sizeof(floating))
    for direction in range(d):
        last = layer_input + (0 if direction == 1 else <long> (n_steps - 1) * lda) \
            + direction * P
        for k in range(H):
            for o in range(n_outputs):
                logits[o] += (last[k]
                              * weights[<long> (direction * H + k) * n_outputs + o])


cdef inline void _time_major(
    const floating *X,                   # IN  (B, T, D) batch-major
    int r0,
    int r1,
    int n_steps,
    int n_features,
    floating *out,                       # OUT (T, r1 - r0, width), its first D
    int width,
) noexcept nogil:
    """Rows ``r0:r1`` of X, time-major, each step's row ``width`` apart."""
    cdef int t, r, n_rows = r1 - r0
    for t in range(n_steps):
        for r in range(n_rows):
            memcpy(out + (<long> t * n_rows + r) * width,
                   X + (<long> (r0 + r) * n_steps + t) * n_features,
                   n_features * sizeof(floating))


cdef inline long _one_way_row_work(int n_steps, int widest_step,
                                   int max_units) noexcept nogil:
    """Elements of _one_way_logits_rows' work space per row of the batch.

    Two layers' step inputs (ping-pong), and one step's buffers (eight blocks
    of ``max_units`` a row).
    """
    return <long> 2 * n_steps * widest_step + 8 * max_units


cdef int _widest_step(int cell, int n_features, const int[::1] units) noexcept nogil:
    """The widest step input of a one-directional stack: ``[x_t | h_{t-1}]``
    for the LSTM, ``x_t`` for the GRU (see _one_way_logits_rows)."""
    cdef int layer, n_in, most = 0
    for layer in range(units.shape[0]):
        n_in = n_features if layer == 0 else units[layer - 1]
        most = max(most, n_in + units[layer] if cell == LSTM else n_in)
    return most


cdef void _one_way_logits_rows(
    int cell,
    int r0,
    int r1,
    int n_steps,
    int n_features,
    const int[::1] units,
    int n_outputs,
    const floating *X,                   # IN  (B, T, D) batch-major
    const floating *params,              # IN  every weight, Keras' order
    floating *work,                      # WORK _one_way_row_work(...) * (r1 - r0)
    int widest_step,
    int max_units,
    floating *logits,                    # OUT (B, n_outputs), rows r0:r1
    floating *packed,                    # WORK layer_packed_size(widest, most)
) noexcept nogil:
    """:func:`_stack_logits_rows` of a one-directional stack.

    Prediction keeps no state for a backward pass: each step's gates, cell (or
    recurrent sums) and hidden state live in buffers of one step, reused, and
    a layer keeps only the next layer's input. An LSTM step is one product:
    the kernel and recurrent kernel, adjacent in ``params``, are one ``(D + H,
    4H)`` matrix, and the step's input row is ``[x_t | h_{t-1}]``, where the
    cell writes ``h_t`` for the next step. A GRU step keeps its two products
    apart (the reset gate multiplies the recurrent one).
    """
    cdef bint lstm = cell == LSTM
    cdef int t, r, layer, n_in, H = 0, K, width, next_width = 0
    cdef int n_rows = r1 - r0
    cdef long step_size = <long> n_rows * widest_step
    cdef floating *inputs = work                     # (T, rows, K)
    cdef floating *next_inputs = inputs + n_steps * step_size
    # One step's buffers, in blocks of (rows, H): the LSTM's gates (4 blocks),
    # c_{t-1}, c_t and h_t (its cells keep neither the activated gates nor
    # tanh(c_t), which only a backward pass reads); the GRU's gates and
    # recurrent sums (3 blocks each), h_{t-1} and h_t.
    cdef long block = <long> n_rows * max_units
    cdef floating *gates = next_inputs + n_steps * step_size
    cdef floating *sums = gates + 3 * block
    cdef floating *carried = gates + 4 * block
    cdef floating *other_carried = gates + 5 * block
    cdef floating *previous = gates + 6 * block
    cdef floating *hidden = gates + 7 * block
    cdef floating *swap
    cdef floating *step_input
    cdef floating *packed_kernel
    cdef const floating *weights = params
    # The first layer's step inputs, from batch-major X.
    _time_major(X, r0, r1, n_steps, n_features, inputs,
                n_features + units[0] if lstm else n_features)
    for layer in range(units.shape[0]):
        n_in = n_features if layer == 0 else units[layer - 1]
        H = units[layer]
        K = n_in + H if lstm else n_in
        width = gate_width(cell, H)
        if layer + 1 < units.shape[0]:
            next_width = H + units[layer + 1] if lstm else H
        if lstm:
            pack(K, width, weights, width, 1, packed)
        else:
            packed_kernel = pack_layer(cell, n_in, H, weights,
                                       weights + recurrent_at(cell, n_in, H), packed)
        for t in range(n_steps):
            step_input = inputs + <long> t * n_rows * K
            if lstm:
                # h_{-1} = 0: the first step multiplies by the kernel alone.
                packed_product(n_rows, width, K if t > 0 else n_in, step_input, K,
                               1, packed, K, gates, width, False)
                cells_forward(n_rows, H, gates, weights + bias_at(cell, n_in, H),
                              carried if t > 0 else NULL, other_carried,
                              NULL, hidden)
                swap = carried
                carried = other_carried
                other_carried = swap
            else:
                packed_product(n_rows, width, n_in, step_input, n_in, 1,
                               packed_kernel, n_in, gates, width, False)
                if t > 0:
                    packed_product(n_rows, width, H, previous, H, 1, packed, H,
                                   sums, width, False)
                gru_forward(n_rows, H, gates, sums, weights + bias_at(cell, n_in, H),
                            previous if t > 0 else NULL, hidden)
                swap = previous
                previous = hidden
                hidden = swap
            for r in range(n_rows):
                if lstm and t + 1 < n_steps:
                    memcpy(step_input + <long> n_rows * K + <long> r * K + n_in,
                           hidden + <long> r * H, H * sizeof(floating))
                if layer + 1 < units.shape[0]:
                    memcpy(next_inputs + (<long> t * n_rows + r) * next_width,
                           (hidden if lstm else previous) + <long> r * H,
                           H * sizeof(floating))
        weights += weights_size(cell, n_in, H)
        swap = inputs
        inputs = next_inputs
        next_inputs = swap
    # logits = h_T @ head_kernel + head_bias, for these rows
    for r in range(r0, r1):
        memcpy(logits + <long> r * n_outputs, weights + <long> H * n_outputs,
               n_outputs * sizeof(floating))
    gemm(False, False, n_rows, n_outputs, H, <floating> 1,
         hidden if lstm else previous, H, weights, n_outputs, <floating> 1,
         logits + <long> r0 * n_outputs, n_outputs)


cdef void _stack_logits_rows(
    int cell,
    int r0,
    int r1,
    int n_steps,
    int n_features,
    const int[::1] units,
    int d,
    int n_outputs,
    const floating *X,                   # IN  (B, T, D) batch-major
    const floating *params,              # IN  every weight, Keras' order
    const int *batch_sizes,              # IN  (T,) all >= r1 - r0
    floating *work,                      # WORK _row_work(...) * (r1 - r0)
    int max_input,
    int max_units,
    floating *logits,                    # OUT (B, n_outputs), rows r0:r1
    floating *packed,                    # WORK layer_packed_size(widest, most)
) noexcept nogil:
    """Rows ``r0:r1`` of the logits, touching no others.

    The rows run as a batch of their own, time-major in their own part of the
    work space, layer by layer and direction by direction; the backward
    direction reads each sequence from its last step and hands the head its
    state at the first, as ``LSTMNetwork`` does.
    """
    cdef int t, b, layer, direction, n_in, H = 0, source_t
    cdef int n_rows = r1 - r0
    cdef long per_step = <long> n_steps * n_rows
    cdef floating *layer_input = work
    cdef floating *layer_output = layer_input + per_step * max_input
    cdef floating *reversed_input = layer_output + per_step * max_input
    cdef floating *state = reversed_input + per_step * max_input
    cdef floating *head_input = state + per_step * STATE_WIDTH * max_units
    cdef floating *hidden
    cdef floating *swap
    cdef floating *packed_kernel
    cdef const floating *source
    cdef const floating *weights = params
    # Batch-major to time-major, the layout of the layer recurrence.
    _time_major(X, r0, r1, n_steps, n_features, layer_input, n_features)
    for layer in range(units.shape[0]):
        n_in = n_features if layer == 0 else d * units[layer - 1]
        H = units[layer]
        for direction in range(d):
            source = layer_input
            if direction == 1:
                for t in range(n_steps):
                    memcpy(reversed_input + <long> t * n_rows * n_in,
                           layer_input + <long> (n_steps - 1 - t) * n_rows * n_in,
                           n_rows * n_in * sizeof(floating))
                source = reversed_input
            packed_kernel = pack_layer(cell, n_in, H, weights,
                                       weights + recurrent_at(cell, n_in, H), packed)
            forward_rows(cell, 0, n_rows, n_steps, n_rows, H, batch_sizes, packed,
                         weights + bias_at(cell, n_in, H), n_in, source,
                         packed_kernel, state, per_step, NULL, NULL)
            hidden = state + state_at(HIDDEN_AT, per_step, H)
            weights += weights_size(cell, n_in, H)
            if layer + 1 < units.shape[0]:
                # This direction's part of the next layer's input, in the
                # original time order.
                for t in range(n_steps):
                    source_t = n_steps - 1 - t if direction == 1 else t
                    for b in range(n_rows):
                        memcpy(layer_output + (<long> t * n_rows + b) * d * H
                               + direction * H,
                               hidden + (<long> source_t * n_rows + b) * H,
                               H * sizeof(floating))
            else:
                # The state after the last step this direction reads.
                for b in range(n_rows):
                    memcpy(head_input + <long> b * d * H + direction * H,
                           hidden + (<long> (n_steps - 1) * n_rows + b) * H,
                           H * sizeof(floating))
        swap = layer_input
        layer_input = layer_output
        layer_output = swap
    # logits = head_input @ head_kernel + head_bias, for these rows
    for b in range(r0, r1):
        memcpy(logits + <long> b * n_outputs, weights + <long> d * H * n_outputs,
               n_outputs * sizeof(floating))
    gemm(False, False, n_rows, n_outputs, d * H, <floating> 1, head_input, d * H,
         weights, n_outputs, <floating> 1, logits + <long> r0 * n_outputs, n_outputs)


cdef int _check_params(int cell, long n_params, int n_features,
                       const int[::1] units, int d, int n_outputs) except -1:
    """Refuse units or a parameter buffer that do not make one stack and head."""
    cdef int layer, n_in
    cdef long size = 0
    check_cell(cell)
    check(units.shape[0] > 0, "units must name at least one layer")
    for layer in range(units.shape[0]):
        check(units[layer] > 0, "units must be positive")
        n_in = n_features if layer == 0 else d * units[layer - 1]
        size += d * weights_size(cell, n_in, units[layer])
    size += <long> d * units[units.shape[0] - 1] * n_outputs + n_outputs
    check(n_params == size, "params do not match the layer sizes")
    return 0


cdef long _logits_work(floating *kind, int cell, int n_steps, int batch,
                       int n_features, const int[::1] units, int d) noexcept nogil:
    """Elements of work space :func:`lstm_stack_logits` needs (units not empty)."""
    cdef int max_input, max_units
    cdef long offsets[<int> SEQUENCE_PIECES]
    if batch == 1:
        # Its 64-byte slack: the caller's buffer may start anywhere.
        return (_sequence_layout(kind, cell, n_steps, n_features, units, d, offsets)
                + 64 // sizeof(floating))
    _stack_extents(n_features, units, d, &max_input, &max_units)
    if d == 1:
        return batch * _one_way_row_work(
            n_steps, _widest_step(cell, n_features, units), max_units)
    return batch * _row_work(n_steps, max_input, max_units, d,
                             units[units.shape[0] - 1])


def lstm_stack_work_size(int n_steps, int batch, int n_features, const int[::1] units,
                         bint bidirectional, bint double_precision, int cell=LSTM):
    """Elements of ``work`` that :func:`lstm_stack_logits` needs for a batch."""
    check_cell(cell)
    check(units.shape[0] > 0, "units must name at least one layer")
    cdef int d = 2 if bidirectional else 1
    if double_precision:
        return _logits_work(<double *> NULL, cell, n_steps, batch, n_features,
                            units, d)
    return _logits_work(<float *> NULL, cell, n_steps, batch, n_features, units, d)


def lstm_stack_logits(
    const floating[:, :, ::1] X,                 # IN  (B, T, D), batch-major
    const floating[::1] params,                  # IN  every weight, Keras' order
    const int[::1] units,                        # IN  (L,) units of each layer
    bint bidirectional,                          # IN  both directions per layer
    floating[::1] work,                          # WORK lstm_stack_work_size(...), or
                                                 #      None: allocated here
    floating[:, ::1] logits,                     # OUT (B, n_outputs), or (T,
                                                 #     n_outputs) with every_step
    int n_threads=1,                             # IN  threads to split the work over
    bint softmax=False,                          # IN  softmax of each row instead
    bint take_log=False,                         # IN  (softmax) its logarithm
    bint check_finite=False,                     # IN  first check X
    bint every_step=False,                       # IN  (one sequence) the head at
                                                 #     every step
    int cell=LSTM,                               # IN  the cell (_layout.CELLS)
):
    """Head pre-activations of a stack of recurrent layers on equal-length sequences.

    ``params`` is the flat parameter buffer of ``LSTMNetwork`` (per layer the
    forward kernel, recurrent kernel and bias, then the backward direction's,
    then the head's kernel and bias). Every sequence runs all ``T`` steps, so the
    backward direction reads each sequence from its last step and hands the head
    its state at the first, as in ``LSTMNetwork``.

    With ``softmax``, ``logits`` receives the softmax of each row (``take_log``:
    its log), as :func:`~sklstm._kernels._array.softmax_rows`; with
    ``check_finite``, an ``X`` holding NaN or infinity is left to the caller's
    validation, uncomputed. A single sequence's prediction is this one call;
    with ``every_step`` (a batch of one), it has a row per step, the head on
    both directions' outputs at that step (``return_sequences``).

    Returns
    -------
    computed : bool
        False if ``check_finite`` found a value that is not finite.
    """
    cdef Py_ssize_t row
    cdef long n_values = X.shape[0] * X.shape[1] * X.shape[2]
    if check_finite and n_values > 0 and not all_finite_values(n_values,
                                                               &X[0, 0, 0]):
        return False
    _stack_logits(cell, X, params, units, bidirectional, work, logits, n_threads,
                  every_step)
    if softmax and logits.shape[1] > 0:
        for row in range(logits.shape[0]):
            softmax_row(logits.shape[1], &logits[row, 0], &logits[row, 0], take_log)
    return True


cdef int _stack_logits(
    int cell,
    const floating[:, :, ::1] X,
    const floating[::1] params,
    const int[::1] units,
    bint bidirectional,
    floating[::1] work,
    floating[:, ::1] logits,
    int n_threads,
    bint every_step,
) except -1:
    """The body of :func:`lstm_stack_logits`: checks, then the route's choice."""
    cdef int batch = X.shape[0]
    cdef int n_steps = X.shape[1]
    cdef int n_features = X.shape[2]
    cdef int n_layers = units.shape[0]
    cdef int n_outputs = logits.shape[1]
    cdef int d = 2 if bidirectional else 1
    cdef int t, c, n_chunks, team, max_input, max_units
    cdef int bounds[MAX_CHUNKS + 1]
    cdef double busy[MAX_CHUNKS]
    cdef double started, thread_started
    cdef int *batch_sizes = NULL
    cdef void *own_work = NULL
    cdef void *own_packed = NULL
    cdef floating *space
    cdef floating *packed
    cdef long row_work, packed_copy
    cdef int widest_step

    _check_params(cell, params.shape[0], n_features, units, d, n_outputs)
    _stack_extents(n_features, units, d, &max_input, &max_units)
    if every_step:
        check(batch == 1, "every_step is for a single sequence")
        check(logits.shape[0] == n_steps, "logits must have one row a step")
    else:
        check(logits.shape[0] == batch, "logits must have one row a sequence")
    cdef long needed = _logits_work(<floating *> NULL, cell, n_steps,
                                    batch, n_features, units, d)
    check(work is None or work.shape[0] >= needed,
          "work is too small: see lstm_stack_work_size")
    check(n_threads >= 1, "n_threads must be at least 1")
    if batch == 0:
        return 0
    check(n_steps > 0, "sequences need at least one step")
    # A single sequence's prediction may leave its few hundred KiB to malloc,
    # which costs it less than a buffer pool in Python.
    if work is None:
        own_work = allocate(needed, sizeof(floating))
        space = <floating *> aligned(own_work)
    else:
        space = &work[0]
    try:
        if batch == 1:
            with nogil:
                _sequence_logits(cell, n_steps, n_features, units, d, n_outputs,
                                 &X[0, 0, 0], &params[0], space, NULL,
                                 every_step, &logits[0, 0])
            return 0
        # Every sequence runs every step.
        batch_sizes = <int *> malloc(n_steps * sizeof(int))
        if batch_sizes == NULL:
            raise MemoryError()
        for t in range(n_steps):
            batch_sizes[t] = batch
        n_chunks = stack_chunks(cell, n_features, units, d, batch_sizes, n_steps,
                                batch, n_threads, bounds)
        # Each thread packs each layer in turn into its own copy (an LSTM's
        # kernel and recurrent kernel as one (D + H, 4H) matrix: the same size,
        # packed sizes being linear in the rows).
        packed_copy = layer_packed_size(space, cell, max_input, max_units)
        own_packed = allocate(n_chunks * packed_copy, sizeof(floating))
        packed = <floating *> aligned(own_packed)
        widest_step = _widest_step(cell, n_features, units)
        if d == 1:
            row_work = _one_way_row_work(n_steps, widest_step, max_units)
        else:
            row_work = _row_work(n_steps, max_input, max_units, d,
                                 units[n_layers - 1])
        with nogil:
            team = team_for(n_chunks)
            started = clock_if_split(team)
            for c in prange(n_chunks, num_threads=team, schedule="static",
                            chunksize=1):
                thread_started = thread_clock_if_split(team)
                if d == 1:
                    _one_way_logits_rows(
                        cell, bounds[c], bounds[c + 1], n_steps, n_features, units,
                        n_outputs, &X[0, 0, 0], &params[0],
                        space + bounds[c] * row_work, widest_step, max_units,
                        &logits[0, 0], packed + c * packed_copy)
                else:
                    _stack_logits_rows(
                        cell, bounds[c], bounds[c + 1], n_steps, n_features, units,
                        d, n_outputs, &X[0, 0, 0], &params[0], batch_sizes,
                        space + bounds[c] * row_work, max_input, max_units,
                        &logits[0, 0], packed + c * packed_copy)
                busy[c] = thread_clock_if_split(team) - thread_started
            check_contention(busy, n_chunks, team, started)
    finally:
        free(batch_sizes)
        free(own_packed)
        free(own_work)
    return 0


def lstm_stream_logits(
    const floating[:, :, ::1] X,                 # IN  (S, k, D): k steps of S streams
    const floating[::1] params,                  # IN  every weight, Keras' order
    const int[::1] units,                        # IN  (L,) units of each layer
    floating[:, ::1] state,                      # IN/OUT (S, 2 * sum(units)), GRU
                                                 #        (S, sum(units))
    floating[:, ::1] logits,                     # OUT (S, n_outputs), or
                                                 #     (S * k, n_outputs) every step
    bint every_step=False,                       # IN  the head at every step
    bint softmax=False,                          # IN  softmax of each row instead
    bint take_log=False,                         # IN  (softmax) its logarithm
    bint check_finite=False,                     # IN  first check X
    int cell=LSTM,                               # IN  the cell (_layout.CELLS)
):
    """Continue ``S`` independent streams by ``k`` steps each: their logits.

    Each stream's row of ``state`` holds, per layer bottom first, the ``h`` (and
    the LSTM's ``c``) that it reached (zeros for a new stream); it is advanced
    in place. The
    logits are the head's at each stream's last step, or with ``every_step`` at
    each of its ``k`` steps (stream after stream): exactly
    :func:`lstm_stack_logits` of the whole sequence so far, which the stream
    fed in chunks. Unidirectional stacks only: a backward direction would need
    the future. ``softmax``, ``take_log`` and ``check_finite`` as in
    :func:`lstm_stack_logits`: an ``X`` that is not finite changes nothing.

    Returns
    -------
    computed : bool
        False if ``check_finite`` found a value that is not finite.
    """
    cdef int n_streams = X.shape[0]
    cdef int n_steps = X.shape[1]
    cdef int n_features = X.shape[2]
    cdef int n_outputs = logits.shape[1]
    cdef int layer, stream
    cdef long width = 0, row
    cdef long rows_each = n_steps if every_step else 1
    _check_params(cell, params.shape[0], n_features, units, 1, n_outputs)
    for layer in range(units.shape[0]):
        width += carried_width(cell, units[layer])
    check(state.shape[0] == n_streams and state.shape[1] == width,
          "state must have a row of h (LSTM: and c) per layer and stream")
    check(logits.shape[0] == n_streams * rows_each,
          "logits must have a row per stream, or per stream and step")
    if n_streams == 0:
        return True
    check(n_steps > 0, "a chunk needs at least one step")
    if check_finite and n_features > 0 and not all_finite_values(
            <long> n_streams * n_steps * n_features, &X[0, 0, 0]):
        return False
    cdef void *own_work = allocate(
        _logits_work(<floating *> NULL, cell, n_steps, 1, n_features, units, 1),
        sizeof(floating))
    cdef floating *space = <floating *> aligned(own_work)
    try:
        with nogil:
            for stream in range(n_streams):
                _sequence_logits(cell, n_steps, n_features, units, 1, n_outputs,
                                 &X[stream, 0, 0], &params[0], space,
                                 &state[stream, 0], every_step,
                                 &logits[stream * rows_each, 0])
            if softmax and n_outputs > 0:
                for row in range(logits.shape[0]):
                    softmax_row(n_outputs, &logits[row, 0], &logits[row, 0],
                                take_log)
    finally:
        free(own_work)
    return True
