"""Training kernel that runs whole minibatches: a run of a first-order solver's
updates in one call.

For the networks most fits train (one direction, no dropout, one prediction a
sequence), each minibatch's work between the stack kernels is small: packing
its sequences, the head's product, its loss and gradient, the L2 term, the
gradient's clipping and the optimizer's step. Done in Python, that work costs a
tiny model as much as a third of its epoch; here it runs in the same call as the
stack kernels, minibatch after minibatch, without the GIL. The arithmetic is the
Python route's (``LSTMNetwork.loss_and_gradient`` then the optimizer's
``update``), the loss's sums in double precision.

With ``projection`` set, the first layer reads ``X @ E + b``: a linear layer
of that width in front of the stack, trained with it (``E`` and ``b`` lead
``params``; ``_projection``). Nothing is nonlinear between the two, so each
minibatch folds them into the first layer (kernel ``E @ W``, bias ``bias + b @
W``) and runs the plain stack on the readings; the gradients of the folded
kernel and bias then give those of ``E``, ``b`` and ``W`` by the chain rule
(``dW = E^T dK``, ``dE = dK W^T``, ``db = dbias W^T``): products of the weights'
sizes, not of the minibatch's, so the projection costs next to nothing. ``alpha``
penalises the folded kernel ``E @ W`` in place of ``W``: the objective is the
plain network's.

The caller (``_training.Minibatches``) shuffles, orders each minibatch by
decreasing length and keeps the stopping rule, the divergence checks, the
callbacks and the verbose output; it reads each minibatch's loss back.
"""

from cpython.exc cimport PyErr_CheckSignals
from cython cimport floating
from libc.math cimport INFINITY, exp, fabs, isfinite, log, log1p, pow, sqrt
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

from sklstm._kernels._layout cimport (
    HIDDEN_AT,
    bias_at,
    check,
    check_cell,
    fill_stack_offsets,
    gate_width,
    state_at,
    weights_size,
)
from sklstm._kernels._optim cimport adam_step, l2_gradient, rmsprop_step, sgd_step
from sklstm._kernels._products cimport aligned, allocate, gemm, rounded
from sklstm._kernels._train cimport stack_backward, stack_forward, stack_work_size


cdef enum:
    SOFTMAX = 0
    LOGISTIC = 1
    SQUARED_ERROR = 2
    ABSOLUTE_ERROR = 3
    QUANTILE = 4
    POISSON = 5
    GAMMA = 6

cdef enum:
    SGD = 0
    ADAM = 1
    RMSPROP = 2

#: The losses this kernel computes, by the name a head gives (Head.kernel_loss).
LOSSES = {
    "softmax": SOFTMAX,
    "logistic": LOGISTIC,
    "squared_error": SQUARED_ERROR,
    "absolute_error": ABSOLUTE_ERROR,
    "quantile": QUANTILE,
    "poisson": POISSON,
    "gamma": GAMMA,
}

#: The optimizers' update rules, by the name an optimizer gives (kernel_rule).
RULES = {"sgd": SGD, "adam": ADAM, "rmsprop": RMSPROP}


ctypedef struct Settings:
    # What a run of minibatches does besides the data, from a dict.
    int cell                       # _layout.CELLS
    int loss                       # LOSSES
    double loss_parameter          # the quantile (QUANTILE only)
    double alpha                   # the L2 factor, scaled as the sample weights
    double max_grad_norm           # the clipping norm (INFINITY: none)
    int rule                       # RULES
    # SGD's and RMSprop's step; Adam's before its bias correction.
    double learning_rate
    double beta_1
    double beta_2
    double epsilon
    double rho
    double momentum
    bint nesterov
    long step                      # Adam's updates before this run
    int n_threads
    int projection                 # width of a linear layer before the stack; 0: none


cdef inline double _expit(double z) noexcept nogil:
    cdef double e
    if z >= 0:
        return 1 / (1 + exp(-z))
    e = exp(z)
    return e / (1 + e)


cdef double _row_loss(int loss, double parameter, int n_outputs,
                      const floating *raw, const double *y, double scale,
                      floating *delta) noexcept nogil:
    """One row's loss (as the head's ``losses``) and ``scale`` times its
    gradient with respect to ``raw`` in ``delta``."""
    cdef int k
    cdef double total = 0, z, d, most, sums, p, per_output = 1.0 / n_outputs
    if loss == SOFTMAX:
        most = raw[0]
        for k in range(1, n_outputs):
            most = max(most, <double> raw[k])
        sums = 0
        for k in range(n_outputs):
            sums += exp(raw[k] - most)
        most += log(sums)        # log-sum-exp
        for k in range(n_outputs):
            z = raw[k] - most    # log-probability
            total -= y[k] * z
            delta[k] = scale * (exp(z) - y[k])
        return total
    for k in range(n_outputs):
        z = raw[k]
        if loss == LOGISTIC:
            total += max(z, 0.0) + log1p(exp(-fabs(z))) - y[k] * z
            delta[k] = scale * (_expit(z) - y[k])
            continue
        d = z - y[k]
        if loss == SQUARED_ERROR:
            total += d * d
            delta[k] = scale * d * per_output
        elif loss == ABSOLUTE_ERROR:
            total += fabs(d)
            delta[k] = scale * ((d > 0) - (d < 0)) * per_output
        elif loss == QUANTILE:
            if d >= 0:
                total += (1 - parameter) * d
                delta[k] = scale * (1 - parameter) * per_output
            else:
                total -= parameter * d
                delta[k] = scale * -parameter * per_output
        elif loss == POISSON:
            p = exp(z)
            total += p - y[k] * z - y[k]
            if y[k] > 0:
                total += y[k] * log(y[k])
            delta[k] = scale * (p - y[k]) * per_output
        else:                    # GAMMA
            p = y[k] * exp(-z)
            total += z + p - log(y[k]) - 1
            delta[k] = scale * (1 - p) * per_output
    if loss == SQUARED_ERROR:
        return 0.5 * total * per_output
    return total if loss == LOGISTIC else total * per_output


def row_losses(
    const floating[:, ::1] raw,                  # IN  (n, K) raw outputs
    const double[:, ::1] Y,                      # IN  (n, K) encoded targets
    floating[:, ::1] delta,                      # OUT (n, K) d(loss)/d(raw)
    str loss,                                    # IN  a name of LOSSES
    double parameter=0,                          # IN  the quantile
):
    """Each row's loss as the kernel computes it (float64), and its gradient.

    What :func:`train_minibatches` computes for each sequence, for the tests
    that pin it to the heads' ``losses``.
    """
    cdef Py_ssize_t n = raw.shape[0], r
    cdef int kind = LOSSES[loss]
    check(Y.shape[0] == n and delta.shape[0] == n and raw.shape[1] == Y.shape[1]
          and delta.shape[1] == raw.shape[1] and raw.shape[1] > 0,
          "raw, Y and delta must have the same shape")
    out = [_row_loss(kind, parameter, raw.shape[1], &raw[r, 0], &Y[r, 0], 1.0,
                     &delta[r, 0]) for r in range(n)]
    return out


def train_minibatches(
    const floating[:, ::1] values,               # IN  (total_steps, D) readings
    const Py_ssize_t[::1] offsets,               # IN  (N,) each sequence's first row
    const Py_ssize_t[::1] lengths,               # IN  (N,) its steps (>= 1)
    const double[:, ::1] Y,                      # IN  (N, K) encoded targets
    const floating[::1] sample_weight,           # IN  (N,) scaled, or (0,): none
    const Py_ssize_t[::1] order,                 # IN  sequences in training order
    const Py_ssize_t[::1] batch_starts,          # IN  (n_batches + 1,) into order
    const int[::1] units,                        # IN  (L,) units of each layer
    const Py_ssize_t[:, ::1] l2_runs,            # IN  (n, 2) what L2 penalises
    floating[::1] params,                        # IN/OUT the network's weights
    floating[::1] grads,                         # OUT work space, like params
    floating[::1] state_a,                       # IN/OUT the optimizer's state: Adam
    floating[::1] state_b,                       # IN/OUT m, v; RMSprop v; SGD velocity
    Settings settings,
    double[:, ::1] results,                      # OUT (n_batches, 2) loss, weight
):
    """Run minibatches ``order[batch_starts[b]:batch_starts[b + 1]]`` in turn.

    For each: pack its sequences time-major (each minibatch sorted by
    decreasing length), the stack's forward, the dense head on each sequence's
    last state, the weighted mean loss and its gradient (``Head.losses``'
    arithmetic), the backward, the L2 term (``alpha`` times the squared norm of
    ``l2_runs`` over twice the minibatch's weight), clipping to
    ``max_grad_norm``, and the optimizer's update of ``params``. With
    ``projection``, ``params`` starts with ``E`` (D, projection) and ``b``
    (projection,), the stack reads ``X @ E + b``, and the L2 term adds
    ``alpha`` times the squared norm of ``E @ kernel`` (the first layer's input
    kernel, which ``l2_runs`` must then leave out) over twice the minibatch's
    weight. A minibatch
    whose weights sum to zero is skipped (weight 0 in ``results``). Returns the
    number of minibatches run: fewer than asked when one's loss is NaN or
    infinite (its loss is in ``results``; its update is not made).

    Ctrl-C stops the run between two minibatches (KeyboardInterrupt).
    """
    cdef Py_ssize_t n_samples = offsets.shape[0], n_batches = batch_starts.shape[0] - 1
    cdef Py_ssize_t n_params = params.shape[0], i, b
    cdef int L = units.shape[0], n_features = values.shape[1]
    cdef int n_outputs = Y.shape[1], top = units[L - 1] if L else 0
    cdef int M = settings.projection
    # The stack as it runs (on the readings), and as params hold it (its
    # first layer on M inputs with a projection).
    cdef long stack_size = 0, held_size = 0, projection_size = 0
    cdef int longest = 0, largest = 0, layer
    check_cell(settings.cell)
    check(0 <= settings.loss <= GAMMA and 0 <= settings.rule <= RMSPROP,
          "unknown loss or update rule")
    check(L > 0 and settings.n_threads >= 1, "no layers, or no thread")
    check(M >= 0, "projection must be 0 or positive")
    if M:
        projection_size = (<long> n_features + 1) * M
    for layer in range(L):
        check(units[layer] > 0, "units must be positive")
        stack_size += weights_size(settings.cell,
                                   n_features if layer == 0 else units[layer - 1],
                                   units[layer])
        held_size += weights_size(settings.cell,
                                  (M if M else n_features) if layer == 0
                                  else units[layer - 1], units[layer])
    check(n_params == projection_size + held_size + <long> top * n_outputs
          + n_outputs and grads.shape[0] == n_params,
          "params or grads do not match the layers")
    check(state_a.shape[0] == n_params
          and state_b.shape[0] == (n_params if settings.rule == ADAM else 0),
          "the optimizer's state does not match params")
    check(lengths.shape[0] == n_samples and Y.shape[0] == n_samples
          and sample_weight.shape[0] in (0, n_samples) and n_outputs > 0,
          "offsets, lengths, Y and sample_weight must have one row a sequence")
    check(results.shape[0] == n_batches and results.shape[1] == 2,
          "results must be (n_batches, 2)")
    for i in range(l2_runs.shape[0]):
        check(l2_runs.shape[1] == 2 and 0 <= l2_runs[i, 0] <= l2_runs[i, 1] <= n_params,
              "l2_runs must be [start, stop) pairs inside params")
    for i in range(n_samples):
        check(lengths[i] >= 1 and offsets[i] >= 0
              and offsets[i] + lengths[i] <= values.shape[0],
              "a sequence is outside values")
        longest = max(longest, lengths[i])
    check(n_batches >= 0 and batch_starts[0] == 0, "batch_starts must start at 0")
    for b in range(n_batches):
        check(batch_starts[b] < batch_starts[b + 1] <= order.shape[0],
              "batch_starts must increase within order")
        largest = max(largest, batch_starts[b + 1] - batch_starts[b])
        for i in range(batch_starts[b], batch_starts[b + 1]):
            check(0 <= order[i] < n_samples, "order names a sequence not in values")
            check(i == batch_starts[b] or lengths[order[i]] <= lengths[order[i - 1]],
                  "each minibatch must be sorted by decreasing length")
    if n_batches == 0:
        return 0

    # The work space, sized for the longest sequence and the largest minibatch.
    cdef void *space = NULL
    cdef int *batch_sizes = NULL
    cdef long n_rows = <long> longest * largest
    cdef long x_size = rounded(n_rows * n_features)
    # With a projection: the folded stack's weights and their gradient.
    cdef long folded_size = rounded(stack_size) if M else 0
    cdef long *layout = <long *> malloc(3 * (L + 1) * sizeof(long))
    cdef long forward_work, backward_work, activations_size, d_hiddens_size
    try:
        if layout == NULL:
            raise MemoryError()
        fill_stack_offsets(settings.cell, n_features, units, n_rows, layout)
        activations_size = rounded(layout[2 * L + 1])
        d_hiddens_size = rounded(layout[3 * L + 2])
        forward_work = rounded(stack_work_size(&params[0], settings.cell, n_features,
                                               units, largest, settings.n_threads,
                                               False))
        backward_work = rounded(stack_work_size(&params[0], settings.cell,
                                                n_features, units, largest,
                                                settings.n_threads, True))
        space = allocate(
            x_size + 2 * folded_size + activations_size
            + d_hiddens_size + max(forward_work, backward_work)
            + 2 * rounded(<long> largest * top)
            + rounded(<long> largest * n_outputs), sizeof(floating))
        batch_sizes = <int *> malloc(longest * sizeof(int))
        if batch_sizes == NULL:
            raise MemoryError()
        return _run(values, offsets, lengths, Y, sample_weight, order, batch_starts,
                    units, l2_runs, params, grads, state_a, state_b, settings,
                    results, <floating *> aligned(space),
                    activations_size, d_hiddens_size, x_size,
                    max(forward_work, backward_work), batch_sizes,
                    layout, stack_size, held_size, largest, folded_size)
    finally:
        free(space)
        free(batch_sizes)
        free(layout)


cdef void _fold(int cell, int n_features, int M, int units, long rest,
                const floating *E, const floating *held,
                floating *folded) noexcept nogil:
    """The first layer with ``E`` and ``b`` folded in (kernel ``E @ W``, input
    bias ``bias + b @ W``), then ``rest`` more weights (the layers above) as
    held: the plain stack's weights, in its layout."""
    cdef int width = gate_width(cell, units)
    cdef const floating *W = held
    # Recurrent kernel, bias and the layers above follow the first kernel in
    # both layouts.
    memcpy(folded + <long> n_features * width, held + <long> M * width,
           (weights_size(cell, M, units) - <long> M * width + rest)
           * sizeof(floating))
    gemm(False, False, n_features, width, M, 1, E, M, W, width, 0, folded, width)
    gemm(False, False, 1, width, M, 1, E + <long> n_features * M, M, W, width, 1,
         folded + bias_at(cell, n_features, units), width)


cdef double _unfold_gradient(int cell, int n_features, int M, int units, long rest,
                             const floating *E, const floating *held,
                             const floating *folded, floating *d_folded,
                             floating *d_E, floating *d_held,
                             double scale) noexcept nogil:
    """The gradients of ``E``, ``b`` and the held stack from the folded one's.

    With ``scale``, first adds ``scale`` times the folded kernel to its
    gradient (the L2 term of ``E @ W``) and returns its squared norm (float64).
    """
    cdef int width = gate_width(cell, units)
    cdef long i, size = <long> n_features * width
    cdef double total = 0
    cdef const floating *W = held
    if scale:
        for i in range(size):
            total += <double> folded[i] * folded[i]
            d_folded[i] += <floating> scale * folded[i]
    memcpy(d_held + <long> M * width, d_folded + size,
           (weights_size(cell, M, units) - <long> M * width + rest)
           * sizeof(floating))
    # The folded kernel is E @ W and the folded input bias bias + b @ W.
    gemm(True, False, M, width, n_features, 1, E, M, d_folded, width, 0, d_held,
         width)
    gemm(True, False, M, width, 1, 1, E + <long> n_features * M, M,
         d_folded + bias_at(cell, n_features, units), width, 1, d_held, width)
    gemm(False, True, n_features, M, width, 1, d_folded, width, W, width, 0, d_E, M)
    gemm(False, True, 1, M, width, 1, d_folded + bias_at(cell, n_features, units),
         width, W, width, 0, d_E + <long> n_features * M, M)
    return total


cdef Py_ssize_t _run(
    const floating[:, ::1] values,
    const Py_ssize_t[::1] offsets,
    const Py_ssize_t[::1] lengths,
    const double[:, ::1] Y,
    const floating[::1] sample_weight,
    const Py_ssize_t[::1] order,
    const Py_ssize_t[::1] batch_starts,
    const int[::1] units,
    const Py_ssize_t[:, ::1] l2_runs,
    floating[::1] params,
    floating[::1] grads,
    floating[::1] state_a,
    floating[::1] state_b,
    Settings settings,
    double[:, ::1] results,
    floating *space,
    long activations_size,
    long d_hiddens_size,
    long x_size,
    long work_size,
    int *batch_sizes,
    long *layout,
    long stack_size,
    long held_size,
    int largest,
    long folded_size,
) except -1:
    """:func:`train_minibatches` on its checked arguments and work space."""
    cdef Py_ssize_t n_params = params.shape[0], n_batches = batch_starts.shape[0] - 1
    cdef int L = units.shape[0], n_features = values.shape[1]
    cdef int n_outputs = Y.shape[1], top = units[L - 1]
    cdef int M = settings.projection
    cdef bint weighted = sample_weight.shape[0] > 0
    cdef floating *X = space
    cdef floating *folded = X + x_size
    cdef floating *d_folded = folded + folded_size
    cdef floating *activations = d_folded + folded_size
    cdef floating *d_hiddens = activations + activations_size
    cdef floating *work = d_hiddens + d_hiddens_size
    cdef floating *head_input = work + work_size
    cdef floating *d_head_input = head_input + rounded(<long> largest * top)
    cdef floating *logits = d_head_input + rounded(<long> largest * top)
    # With a projection, E and b lead params, then the stack as held, then
    # the head; the stack runs on its folded copy.
    cdef long projection_size = (<long> n_features + 1) * M
    cdef floating *E = &params[0]
    cdef floating *d_E = &grads[0]
    cdef floating *held = &params[0] + projection_size
    cdef floating *d_held = &grads[0] + projection_size
    cdef floating *stack = folded if M else held
    cdef floating *d_stack = d_folded if M else d_held
    # The weights of the layers above the first (the same in both forms).
    cdef long rest = stack_size - weights_size(settings.cell, n_features, units[0])
    cdef floating *head_kernel = held + held_size
    cdef floating *head_bias = head_kernel + <long> top * n_outputs
    cdef floating *d_head_kernel = d_held + held_size
    cdef floating *d_head_bias = d_head_kernel + <long> top * n_outputs
    cdef const floating *hidden
    cdef floating *d_top
    cdef Py_ssize_t b, start, n_batch, r, sequence, t, k, i
    cdef int n_steps, length
    cdef long n_rows, row
    cdef double total, loss, weight, penalty, norm, factor, rate, sums
    cdef long step = settings.step
    cdef Py_ssize_t n_runs = l2_runs.shape[0]
    cdef const Py_ssize_t *runs = &l2_runs[0, 0] if n_runs else NULL
    for b in range(n_batches):
        start = batch_starts[b]
        n_batch = batch_starts[b + 1] - start
        loss = n_rows = n_steps = 0
        with nogil:
            total = 0
            for r in range(n_batch):
                total += sample_weight[order[start + r]] if weighted else 1.0
            results[b, 1] = total
            results[b, 0] = 0
            if total > 0:
                # Pack: step t of the minibatch's r-th sequence at row t * B + r,
                # zeros past a sequence's end.
                n_steps = lengths[order[start]]
                n_rows = <long> n_steps * n_batch
                for t in range(n_steps):
                    batch_sizes[t] = 0
                for r in range(n_batch):
                    sequence = order[start + r]
                    length = lengths[sequence]
                    for t in range(n_steps):
                        row = (<long> t * n_batch + r) * n_features
                        if t < length:
                            memcpy(X + row, &values[offsets[sequence] + t, 0],
                                   n_features * sizeof(floating))
                            batch_sizes[t] += 1
                        else:
                            memset(X + row, 0, n_features * sizeof(floating))
                if M:
                    _fold(settings.cell, n_features, M, units[0], rest, E, held,
                          folded)
                fill_stack_offsets(settings.cell, n_features, units, n_rows, layout)
                stack_forward(settings.cell, units, n_steps, n_batch, n_features, X,
                              stack, batch_sizes, activations, layout, work,
                              settings.n_threads)

                # The head, on each sequence's state at its last step.
                # Offsets: layout[L + 1 + layer] in activations, layout[2 * L
                # + 2 + layer] in d_hiddens (stack_offsets).
                hidden = (activations + layout[2 * L]
                          + state_at(HIDDEN_AT, n_rows, top))
                for r in range(n_batch):
                    memcpy(head_input + r * top,
                           hidden + ((<long> lengths[order[start + r]] - 1) * n_batch
                                     + r) * top, top * sizeof(floating))
                gemm(False, False, n_batch, n_outputs, top, 1, head_input, top,
                     head_kernel, n_outputs, 0, logits, n_outputs)
                loss = 0
                for r in range(n_batch):
                    sequence = order[start + r]
                    weight = sample_weight[sequence] if weighted else 1.0
                    for k in range(n_outputs):
                        logits[r * n_outputs + k] += head_bias[k]
                    # delta (in place of the logits) = weight / total * dL/dlogits
                    loss += weight * _row_loss(
                        settings.loss, settings.loss_parameter, n_outputs,
                        logits + r * n_outputs, &Y[sequence, 0], weight / total,
                        logits + r * n_outputs)
                loss /= total
            results[b, 0] = loss
        if total <= 0:
            continue
        if not isfinite(loss):
            return b
        with nogil:
            # Head gradients, and dL/dh of the top layer: the head's at each
            # sequence's last step, zero elsewhere.
            gemm(True, False, top, n_outputs, n_batch, 1, head_input, top, logits,
                 n_outputs, 0, d_head_kernel, n_outputs)
            for k in range(n_outputs):
                sums = 0
                for r in range(n_batch):
                    sums += logits[r * n_outputs + k]
                d_head_bias[k] = <floating> sums
            gemm(False, True, n_batch, top, n_outputs, 1, logits, n_outputs,
                 head_kernel, n_outputs, 0, d_head_input, top)
            d_top = d_hiddens + layout[3 * L + 1]
            memset(d_top, 0, n_rows * top * sizeof(floating))
            for r in range(n_batch):
                memcpy(d_top + ((<long> lengths[order[start + r]] - 1) * n_batch + r)
                       * top, d_head_input + r * top, top * sizeof(floating))
            stack_backward(settings.cell, units, n_steps, n_batch, n_features, X,
                           stack, batch_sizes, activations, d_hiddens, d_stack,
                           layout, work, settings.n_threads)
            penalty = 0
            if M:
                penalty = _unfold_gradient(settings.cell, n_features, M, units[0],
                                           rest, E, held, folded, d_folded, d_E,
                                           d_held, settings.alpha / total)
            if settings.alpha:
                penalty += l2_gradient(&params[0], &grads[0], runs, n_runs,
                                       settings.alpha / total)
                loss += 0.5 * settings.alpha * penalty / total
                results[b, 0] = loss
            if settings.max_grad_norm < INFINITY:
                norm = 0
                for i in range(n_params):
                    norm += <double> grads[i] * grads[i]
                norm = sqrt(norm)
                if norm > settings.max_grad_norm:
                    factor = settings.max_grad_norm / norm
                    for i in range(n_params):
                        grads[i] *= <floating> factor
            if settings.rule == ADAM:
                step += 1
                rate = (settings.learning_rate
                        * sqrt(1 - pow(settings.beta_2, step))
                        / (1 - pow(settings.beta_1, step)))
                adam_step(n_params, &params[0], &grads[0], &state_a[0],
                          &state_b[0], settings.beta_1, settings.beta_2, rate,
                          settings.epsilon)
            elif settings.rule == RMSPROP:
                rmsprop_step(n_params, &params[0], &grads[0], &state_a[0],
                             settings.rho, settings.learning_rate, settings.epsilon)
            else:
                sgd_step(n_params, &params[0], &grads[0], &state_a[0],
                         settings.learning_rate, settings.momentum,
                         settings.nesterov)
        PyErr_CheckSignals()
    return n_batches
