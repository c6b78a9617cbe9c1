"""Stacked recurrent layers with a dense head: parameters, buffers, loss, gradient.

The network owns no state between calls. Its parameters live in one flat buffer
(:meth:`LSTMNetwork.unpack` gives per-weight views in Keras' ``get_weights()`` order)
so that an optimizer updates every weight with one vectorised operation; the buffers
the kernels write into live in a :class:`Workspace` that the caller keeps for a whole
fit or predict and reuses for every minibatch.
"""

import functools
import threading
import weakref
from typing import NamedTuple

import numpy as np

from sklstm._heads import Head
from sklstm._kernels._layout import (
    CELLS,
    STATE_PARTS,
    STATE_WIDTH_UNITS,
    cell_kind,
    cell_weight_shapes,
    stack_layout,
)
from sklstm._kernels._optim import add_l2_gradient
from sklstm._kernels._predict import lstm_stack_logits, lstm_stack_work_size
from sklstm._kernels._train import (
    lstm_backward,
    lstm_forward,
    lstm_stack_backward,
    lstm_stack_forward,
)


class LSTMNetwork:
    """Shapes and computations of ``len(hidden_layer_sizes)`` recurrent layers + a head.

    Every LSTM layer but the last returns its whole output sequence to the next;
    the last one hands the head its state at each sequence's last step. A
    bidirectional layer also runs each sequence backwards (from its own last step)
    and concatenates the two outputs, as Keras' ``Bidirectional(LSTM(...))``
    (merge_mode "concat") and PyTorch's ``bidirectional=True``; the head then reads
    the forward state at the last step and the backward state at the first.

    Parameters
    ----------
    n_features : int
        Width of the input at each time step.
    hidden_layer_sizes : sequence of int
        Units of each stacked LSTM layer (per direction), bottom first.
    n_outputs : int
        Width of the head.
    head : Head
        The output activation and its loss (see :mod:`sklstm._heads`).
    dtype : {np.float32, np.float64}
        Floating type of the parameters and of every buffer.
    bidirectional : bool, default=False
        Whether every layer runs in both directions.
    return_sequences : bool, default=False
        Whether the head reads the last layer's output at every step (Keras'
        ``LSTM(return_sequences=True)`` followed by ``Dense``) instead of only
        at each sequence's end. Logits then have a row per step that a
        sequence runs, time-major: for each step ``t``, the sequences still
        running at ``t``, in batch order (PyTorch's ``PackedSequence`` order).
    cell : {"lstm", "gru"}, default="lstm"
        The recurrent cell of every layer: Keras' ``LSTM`` or ``GRU`` (with
        ``reset_after=True``), with their weights' shapes and gate orders.
    """

    #: The width of a trained linear layer in front of the first recurrent
    #: layer (:class:`~sklstm._projection.ProjectedNetwork`); 0: none.
    projection = 0

    def __init__(
        self,
        n_features,
        hidden_layer_sizes,
        n_outputs,
        head,
        dtype,
        bidirectional=False,
        return_sequences=False,
        cell="lstm",
    ):
        if not isinstance(head, Head):
            raise TypeError(f"head must be a Head, got {head!r}")
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")
        # What network_for builds this network from (pickles keep this only).
        self.structure = (
            n_features,
            tuple(hidden_layer_sizes),
            n_outputs,
            head,
            np.dtype(dtype),
            bool(bidirectional),
            bool(return_sequences),
            cell,
        )
        self.cell = cell
        # The kernels' ``cell`` argument.
        self._cell = cell_kind(cell)
        self.n_features = int(n_features)
        self.hidden_layer_sizes = tuple(int(h) for h in hidden_layer_sizes)
        self.n_outputs = int(n_outputs)
        self.head = head
        self.dtype = np.dtype(dtype)
        self.n_directions = 2 if bidirectional else 1
        self.return_sequences = bool(return_sequences)
        self._units = np.array(self.hidden_layer_sizes, dtype=np.intc)
        # The prediction kernel's specialisation for this dtype, picked once: the
        # fused function picks it at every call (0.2 of a sequence's 21 µs).
        self._stack_logits = lstm_stack_logits[
            "float" if self.dtype == np.float32 else "double"
        ]
        d = self.n_directions
        self.layer_inputs = (self.n_features,) + tuple(
            d * units for units in self.hidden_layer_sizes[:-1]
        )

        # Keras' order: per layer the forward kernel, recurrent kernel and bias,
        # then (bidirectional) the backward three; then the head.
        shapes = []
        for n_in, units in zip(self.layer_inputs, self.hidden_layer_sizes):
            shapes += list(cell_weight_shapes(n_in, units, cell)) * d
        shapes += [(d * self.hidden_layer_sizes[-1], self.n_outputs), (self.n_outputs,)]
        self.shapes = tuple(shapes)
        sizes = [int(np.prod(shape)) for shape in shapes]
        self.offsets = tuple(np.concatenate([[0], np.cumsum(sizes)]).astype(int))
        self.n_params = self.offsets[-1]
        self._l2_runs = merged_runs(self.offsets, self._regularized_indices())

    @property
    def n_layers(self):
        return len(self.hidden_layer_sizes)

    def unpack(self, flat):
        """Views of ``flat`` in Keras' get_weights() order."""
        return [
            flat[start:stop].reshape(shape)
            for start, stop, shape in zip(
                self.offsets[:-1], self.offsets[1:], self.shapes
            )
        ]

    def _cell_weights(self, views, layer, direction):
        """(kernel, recurrent kernel, bias) of one layer and direction."""
        start = 3 * (layer * self.n_directions + direction)
        return views[start : start + 3]

    def _regularized_indices(self):
        """Indices in ``shapes`` of what L2 penalises: input, recurrent and head
        kernels (not the biases)."""
        n_cell_weights = len(self.shapes) - 2
        return [i for i in range(n_cell_weights) if i % 3 != 2] + [n_cell_weights]

    def initialize(self, random_state):
        """New parameters as Keras initialises its LSTM or GRU and a Dense layer.

        Glorot-uniform input and head kernels, orthogonal recurrent kernels, zero
        biases but the LSTM forget gate's, which starts at 1
        (``unit_forget_bias``).
        """
        flat = aligned_params(np.zeros(self.n_params, dtype=self.dtype))
        views = self.unpack(flat)
        for layer in range(self.n_layers):
            for direction in range(self.n_directions):
                kernel, recurrent, bias = self._cell_weights(views, layer, direction)
                units = recurrent.shape[0]
                kernel[...] = _glorot_uniform(kernel.shape, random_state)
                recurrent[...] = _orthogonal(recurrent.shape, random_state)
                if self.cell == "lstm":
                    bias[units : 2 * units] = 1
        views[-2][...] = _glorot_uniform(views[-2].shape, random_state)
        return flat

    def dense_work_size(self, n_steps, batch):
        """Elements of work space :meth:`dense_logits` needs for such a batch."""
        return lstm_stack_work_size(
            n_steps,
            batch,
            self.n_features,
            self._units,
            self.n_directions == 2,
            self.dtype == np.float64,
            self._cell,
        )

    def dense_logits(self, params, X, work, n_threads=1, out=None):
        """Head pre-activations of equal-length sequences ``X`` (B, T, n_features).

        The same values as :meth:`logits`, computed by one kernel call on the
        batch-major input (no time-major copy, no per-layer Python): the path of
        low-latency predictions. ``work`` has :meth:`dense_work_size` elements, or
        is None for the kernel to allocate its own.
        """
        if out is None:
            out = np.empty((X.shape[0], self.n_outputs), dtype=self.dtype)
        self._stack_logits(
            np.ascontiguousarray(X),
            params,
            self._units,
            self.n_directions == 2,
            work,
            out,
            n_threads,
            cell=self._cell,
        )
        return out

    def sequence_outputs(self, params, X, softmax=False, take_log=False):
        """Head outputs of one sequence ``X`` (1, T, n_features), C-contiguous.

        Pre-activations, or with ``softmax`` the probabilities (``take_log``: their
        logarithms), from one kernel call that also checks ``X``: None if it holds
        NaN or infinity. The path of single-sequence predictions; with
        ``return_sequences``, a row per step.
        """
        rows = X.shape[1] if self.return_sequences else 1
        out = np.empty((rows, self.n_outputs), dtype=self.dtype)
        if self._stack_logits(
            X,
            params,
            self._units,
            self.n_directions == 2,
            None,
            out,
            1,
            softmax,
            take_log,
            True,
            self.return_sequences,
            self._cell,
        ):
            return out
        return None

    def logits(self, params, X_tm, batch_sizes, last_step, workspace):
        """Head pre-activations (raw outputs), shape (B, n_outputs).

        ``X_tm`` is a time-major batch ``(T, B, n_features)``; ``last_step[b]`` is the
        last step of sequence ``b``. With ``return_sequences``, a row per step that
        a sequence runs, in :func:`running_steps`' order.
        """
        views = self.unpack(params)
        return self._forward(
            params, views, X_tm, batch_sizes, last_step, workspace, None
        ).logits

    def activate(self, logits, log=False):
        """The head's output activation (or its log) applied to ``logits``."""
        return self.head.activation(logits, log)

    def predicting(self, params):
        """``(network, params)`` that predictions run: this network and
        ``params`` themselves (a network trained in another form folds)."""
        return self, params

    def loss_and_gradient(
        self,
        params,
        X_tm,
        batch_sizes,
        last_step,
        Y,
        alpha,
        grads,
        workspace,
        sample_weight=None,
        total_weight=None,
        masks=None,
    ):
        """Weighted mean loss of a minibatch plus L2 term; its gradient in ``grads``.

        Per sequence the loss is the head's (:meth:`Head.losses`; the squared
        error is halved and averaged over outputs, MLPRegressor's ``((Y - pred)
        ** 2).mean() / 2``). The minibatch loss is
        ``sum(sample_weight * loss) / total_weight`` plus ``alpha / (2 *
        total_weight)`` times the squared norm of every kernel, as in scikit-learn's
        MLP. ``sample_weight`` defaults to ones and ``total_weight`` to the sum of
        ``sample_weight``; a caller that splits one batch into chunks passes the
        whole batch's ``total_weight`` to each chunk and ``alpha`` to one of them,
        so that the chunks' losses and gradients add up. ``grads`` (flat, like
        ``params``) receives the exact gradient.

        ``masks[layer][direction]`` is ``(input_mask, recurrent_mask)``, each None
        or an array (B, width) that multiplies that LSTM's input at every step, or
        its ``h_{t-1}`` before the recurrent kernel (Keras' dropout and
        recurrent_dropout, drawn by the caller). The workspace must have been made
        with ``dropout=True`` for them.
        """
        n_samples = X_tm.shape[1]
        if total_weight is None:
            total_weight = n_samples if sample_weight is None else sample_weight.sum()
        views = self.unpack(params)
        forward = self._forward(
            params, views, X_tm, batch_sizes, last_step, workspace, masks
        )
        row_weight = sample_weight
        if self.return_sequences:
            # Each sequence weighs as in the many-to-one loss, shared between its
            # steps (see StepTargets): the mean over the steps of the data set.
            running = forward.running
            Y, share = Y.packed(running)
            if sample_weight is not None:
                sequence = (
                    np.tile(np.arange(n_samples), X_tm.shape[0])
                    if running is None
                    else np.nonzero(running)[1]
                )
                row_weight = sample_weight[sequence]
            if share is None:  # every sequence runs every step: equal shares
                total_weight = total_weight * X_tm.shape[0]
            else:
                row_weight = share if row_weight is None else row_weight * share
        losses, delta = self.head.losses(forward.logits, Y, gradient=True)
        if row_weight is None:
            loss = losses.sum() / total_weight
            delta /= total_weight
        else:
            loss = np.dot(row_weight, losses) / total_weight
            delta *= (row_weight / total_weight)[:, None]
        delta = delta.astype(self.dtype, copy=False)

        grad_views = self.unpack(grads)
        np.matmul(forward.head_input.T, delta, out=grad_views[-2])
        np.sum(delta, axis=0, out=grad_views[-1])
        self._top_gradient(delta, views[-2], last_step, forward.running, workspace)

        if self._whole_stack(masks):
            lstm_stack_backward(
                X_tm,
                params,
                self._units,
                batch_sizes,
                workspace.activations,
                workspace.d_hiddens,
                grads,
                n_threads=workspace.n_threads,
                cell=self._cell,
            )
        else:
            self._backward_layers(
                views, grad_views, batch_sizes, workspace, forward.layer_inputs
            )

        if alpha:
            scale = alpha / total_weight
            penalty = add_l2_gradient(params, grads, self._l2_runs, scale)
            loss += 0.5 * alpha * penalty / total_weight
        return float(loss)

    def l2_penalty(self, params):
        """The squared norm of the weights that L2 penalises (float64)."""
        return float(sum(np.dot(params[a:b], params[a:b]) for a, b in self._l2_runs))

    def mean_loss(self, logits, Y, sample_weight=None):
        """The (weighted) mean loss of ``logits`` against ``Y``, without L2 term.

        With ``return_sequences``, ``logits`` has a row per step, sequence after
        sequence, as :class:`~sklstm._sequences.StepTargets` holds ``Y``.
        """
        if self.return_sequences:
            losses = self.head.losses(logits, Y.values) * Y.row_shares()
            losses = np.add.reduceat(losses, Y.offsets)  # per sequence
        else:
            losses = self.head.losses(logits, Y)
        if sample_weight is None:
            return float(np.mean(losses))
        return float(np.dot(sample_weight, losses) / sample_weight.sum())

    def _backward_layers(self, views, grad_views, batch_sizes, workspace, inputs):
        """The backward of each layer and direction in turn, top first.

        ``inputs`` is what :meth:`_forward_layers` returned: per layer and
        direction, the input its kernel read and the masks it applied. The
        first layer's input gradient is computed when the workspace's
        ``d_first_input`` is not empty.
        """
        top = self.n_layers - 1
        reverse = workspace.reverse
        first_wanted = workspace.d_first_input.size > 0
        for layer in range(top, -1, -1):
            cells = workspace.cells[layer]
            units = self.hidden_layer_sizes[layer]
            if layer < top and self.n_directions == 2:
                # Split the gradient of the concatenated output between directions.
                d_output = workspace.d_outputs[layer]
                cells[0].d_hidden[...] = d_output[..., :units]
                reverse(d_output[..., units:], out=cells[1].d_hidden)
            d_input = (
                workspace.d_first_input
                if layer == 0
                else workspace.d_outputs[layer - 1]
            )
            wanted = layer > 0 or first_wanted
            for direction, cell in enumerate(cells):
                kernel_input, input_mask, recurrent_mask = inputs[layer][direction]
                kernel, recurrent, _ = self._cell_weights(views, layer, direction)
                grad = self._cell_weights(grad_views, layer, direction)
                if direction == 0:
                    d_cell_input = d_input
                else:
                    d_cell_input = (
                        workspace.d_reversed_inputs[layer] if wanted else d_input
                    )
                lstm_backward(
                    kernel_input,
                    kernel,
                    recurrent,
                    batch_sizes,
                    cell.state,
                    cell.d_hidden,
                    cell.d_carry,
                    grad[0],
                    grad[1],
                    grad[2].reshape(-1),
                    d_cell_input,
                    *workspace.recurrent_dropout_args(
                        cell, recurrent_mask, backward=True
                    ),
                    n_threads=workspace.n_threads,
                    cell=self._cell,
                )
                if input_mask is not None and wanted:
                    d_cell_input *= input_mask
            if wanted and self.n_directions == 2:
                d_input += reverse(workspace.d_reversed_inputs[layer])

    def kernel_loss(self):
        """The head's loss in the minibatch kernel (``Head.kernel_loss``), or None
        where training needs :meth:`loss_and_gradient` (two directions, a
        prediction per step, a loss the kernel does not compute)."""
        if self.n_directions == 2 or self.return_sequences:
            return None
        return self.head.kernel_loss()

    def _whole_stack(self, masks):
        """Whether the stack kernels run every layer (one direction, no dropout).

        One call each way instead of one per layer: less Python per minibatch,
        and each thread keeps its rows through all the layers. The route of
        every training minibatch is chosen here.
        """
        return self.n_directions == 1 and masks is None

    def _forward(self, params, views, X_tm, batch_sizes, last_step, workspace, masks):
        """The forward of a minibatch: a :class:`_Forward`.

        Its ``layer_inputs`` is :meth:`_forward_layers`' result, or None after the
        stack kernels (which leave all they need in the workspace's buffers).
        """
        if self.n_directions == 2:
            workspace.set_packing(last_step)
        layer_inputs = None
        if self._whole_stack(masks):
            lstm_stack_forward(
                X_tm,
                params,
                self._units,
                batch_sizes,
                workspace.activations,
                n_threads=workspace.n_threads,
                cell=self._cell,
            )
        else:
            layer_inputs = self._forward_layers(
                views, X_tm, batch_sizes, workspace, masks
            )
        running = None
        if self.return_sequences:
            running = running_steps(X_tm.shape[0], last_step)
        head_input = self._head_input(workspace, last_step, running)
        logits = head_input @ views[-2]
        logits += views[-1]
        return _Forward(logits, head_input, running, layer_inputs)

    def _head_input(self, workspace, last_step, running):
        """What the head reads from the top layer's outputs, a row per prediction.

        Many-to-one: the forward state at each sequence's last step and the
        backward direction's after its last step, i.e. at the sequence's first.
        Per step: both directions' outputs at every step a sequence runs (the
        backward direction's put back in time order), rows as in ``running``.
        """
        top = workspace.cells[-1]
        if not self.return_sequences:
            head_input = workspace.head_input
            units = self.hidden_layer_sizes[-1]
            batch_index = np.arange(head_input.shape[0])
            for direction, cell in enumerate(top):
                head_input[:, direction * units : (direction + 1) * units] = (
                    cell.hidden[last_step, batch_index]
                )
            return head_input
        outputs = [
            cell.hidden if direction == 0 else workspace.reverse(cell.hidden)
            for direction, cell in enumerate(top)
        ]
        if running is None:
            outputs = [output.reshape(-1, output.shape[-1]) for output in outputs]
        else:
            outputs = [output[running] for output in outputs]
        return outputs[0] if len(outputs) == 1 else np.concatenate(outputs, axis=1)

    def _top_gradient(self, delta, head_kernel, last_step, running, workspace):
        """Fill the top layer's dL/dh from the head's ``delta`` = dL/dlogits."""
        units = self.hidden_layer_sizes[-1]
        top = workspace.cells[-1]
        if self.return_sequences and running is None and len(top) == 1:
            # Every step's row is the head's: one product, straight into dL/dh.
            np.matmul(delta, head_kernel.T, out=top[0].d_hidden.reshape(-1, units))
            return
        d_head_input = delta @ head_kernel.T
        for direction, cell in enumerate(top):
            d_output = d_head_input[:, direction * units : (direction + 1) * units]
            if not self.return_sequences:
                cell.d_hidden[...] = 0
                cell.d_hidden[last_step, np.arange(len(last_step))] = d_output
            else:
                # The backward direction's rows are in reversed time: scatter in
                # time order, then reverse into place.
                in_time_order = (
                    cell.d_hidden if direction == 0 else np.empty_like(cell.d_hidden)
                )
                if running is None:
                    in_time_order.reshape(-1, units)[...] = d_output
                else:
                    in_time_order[...] = 0
                    in_time_order[running] = d_output
                if direction == 1:
                    workspace.reverse(in_time_order, out=cell.d_hidden)

    def _forward_layers(self, views, X_tm, batch_sizes, workspace, masks):
        """The forward of each layer and direction in turn, bottom first.

        Returns, per layer and direction, ``(kernel_input, input_mask,
        recurrent_mask)``: the input its kernel read (masked with dropout), and
        the masks (None without), which the backward needs again.
        """
        layer_input = X_tm
        inputs = []
        for layer in range(self.n_layers):
            cells = workspace.cells[layer]
            inputs.append([])
            for direction, cell in enumerate(cells):
                if direction == 0:
                    cell_input = layer_input
                else:
                    cell_input = workspace.reversed_inputs[layer]
                    workspace.reverse(layer_input, out=cell_input)
                input_mask, recurrent_mask = (
                    (None, None) if masks is None else masks[layer][direction]
                )
                if input_mask is not None:
                    input_mask = input_mask[None]
                    cell_input = np.multiply(
                        cell_input, input_mask, out=cell.masked_input
                    )
                inputs[layer].append((cell_input, input_mask, recurrent_mask))
                kernel, recurrent, bias = self._cell_weights(views, layer, direction)
                lstm_forward(
                    cell_input,
                    kernel,
                    recurrent,
                    bias.reshape(-1),
                    batch_sizes,
                    cell.state,
                    *workspace.recurrent_dropout_args(cell, recurrent_mask),
                    n_threads=workspace.n_threads,
                    cell=self._cell,
                )
            if layer < self.n_layers - 1:
                if self.n_directions == 2:
                    units = self.hidden_layer_sizes[layer]
                    output = workspace.outputs[layer]
                    output[..., :units] = cells[0].hidden
                    workspace.reverse(cells[1].hidden, out=output[..., units:])
                layer_input = workspace.outputs[layer]
        return inputs

    def workspace(self, n_steps, batch, dropout=False, n_threads=1):
        """Buffers for minibatches of up to ``batch`` sequences of ``n_steps``.

        ``dropout=True`` adds the buffers that dropout masks need; the kernels
        split their work over ``n_threads`` (BLAS must then be single-threaded).
        """
        return Workspace(self, n_steps, batch, dropout, n_threads)


#: Parameter buffers start on this byte boundary: the single-sequence kernel reads
#: the recurrent kernels where they are, a 64-byte vector at a time, and off such a
#: boundary every read spans two cache lines (small model: 21 -> 23 µs a sequence).
PARAMS_ALIGNMENT = 64


def aligned_params(values, dtype=None):
    """A copy of the 1-D ``values`` (as ``dtype``) starting on PARAMS_ALIGNMENT.

    Every flat parameter buffer a model keeps is made here (or by
    :meth:`LSTMNetwork.initialize`, which calls it), unpickled ones included:
    NumPy aligns its buffers to 16 bytes only.
    """
    values = np.asarray(values)
    dtype = np.dtype(values.dtype if dtype is None else dtype)
    raw = np.empty(values.size * dtype.itemsize + PARAMS_ALIGNMENT, dtype=np.uint8)
    start = -raw.ctypes.data % PARAMS_ALIGNMENT
    flat = raw[start : start + values.size * dtype.itemsize].view(dtype)
    flat[...] = values
    return flat


def merged_runs(offsets, indices, shift=0):
    """The flat ranges ``[start, stop)`` of the weights ``indices`` (into
    ``offsets``), moved by ``shift``, adjacent ones merged: what L2 penalises."""
    runs = []
    for i in indices:
        start, stop = offsets[i] + shift, offsets[i + 1] + shift
        if runs and runs[-1][1] == start:
            runs[-1][1] = stop
        else:
            runs.append([start, stop])
    return np.array(runs, dtype=np.intp).reshape(-1, 2)


@functools.lru_cache(maxsize=16)
def network_for(*structure):
    """The :class:`LSTMNetwork` of ``structure`` (its arguments), built once.

    A network holds shapes only, so one instance serves every model of that
    structure; building one takes tens of microseconds, which a single-sequence
    prediction should not pay.
    """
    return LSTMNetwork(*structure)


class _Forward(NamedTuple):
    """What the forward of a minibatch gives its loss and backward."""

    logits: np.ndarray
    head_input: np.ndarray
    # Per step: running_steps' mask (None: every step runs).
    running: object
    layer_inputs: object


def running_steps(n_steps, last_step):
    """The steps a packed batch runs: the rows of per-step logits.

    ``running[t, b]`` is whether sequence ``b`` runs at step ``t``; None when
    every sequence runs every step. Rows are time-major: for each step, the
    sequences that run at it (``np.nonzero(running)`` order).
    """
    if (last_step == n_steps - 1).all():
        return None
    return np.arange(n_steps)[:, None] <= last_step[None, :]


#: Work buffers up to this size are kept between predictions for reuse; bigger ones
#: (long or many sequences) cost little to allocate next to their computation.
POOLED_BYTES = 1 << 20
# Keyed weakly: a network that network_for's cache lets go takes its pool along.
_pools = weakref.WeakKeyDictionary()
_pools_lock = threading.Lock()


class pooled_buffer:
    """A 1-D buffer of at least ``size`` elements of ``network``'s dtype.

    A context manager. Small buffers come from a pool and go back to it: a
    single-sequence prediction allocates nothing. Each concurrent caller gets a
    buffer of its own (a thread takes one from the pool or makes one, and returns
    it when done), so that predictions from several threads on one model never
    share buffers.
    """

    __slots__ = ("idle", "buffer")

    def __init__(self, network, size):
        with _pools_lock:
            self.idle = _pools.setdefault(network, [])
            self.buffer = self.idle.pop() if self.idle else None
        if self.buffer is None or self.buffer.shape[0] < size:
            self.buffer = np.empty(size, dtype=network.dtype)

    def __enter__(self):
        return self.buffer

    def __exit__(self, *exc_info):
        if self.buffer.nbytes <= POOLED_BYTES:
            with _pools_lock:
                self.idle.append(self.buffer)
        return False


class _CellBuffers:
    """One layer and direction: what the forward keeps for the backward.

    ``state`` is the kernels' flat buffer of the layer's state; its parts
    (``STATE_PARTS`` of the cell: ``gates``, ``hidden``, ...) are attributes
    too, ``(T, B, width)`` views of it.
    """

    __slots__ = (
        "state",
        "gates",
        "cells",
        "cells_tanh",
        "recurrent_sums",
        "hidden",
        "d_hidden",
        "d_carry",
        # With dropout: the masked input and h_{t-1} * mask, and a work row.
        "masked_input",
        "hidden_masked",
        "d_work",
    )


class Workspace:
    """Kernel buffers sized once for the largest minibatch, viewed per minibatch.

    Call :meth:`prepare` with each minibatch's shape: it returns the time-major
    input buffer to fill and re-views every buffer at that shape without
    allocating (unless the minibatch is larger than any seen before).

    ``cells[layer][direction]`` hold each LSTM's buffers; ``outputs[layer]`` is
    what layer ``layer`` passes up (its hidden states, or both directions'
    concatenated) and ``d_outputs[layer]`` the gradient with respect to it;
    bidirectional layers also keep their input reversed in time and its gradient.
    """

    def __init__(self, network, n_steps, batch, dropout=False, n_threads=1):
        self.network = network
        self.dropout = dropout
        self.n_threads = n_threads
        self.capacity = 0
        self.no_d_input = np.empty((0, 0, 0), dtype=network.dtype)
        self.no_mask = np.empty((0, 0), dtype=network.dtype)
        # Where the backward writes the first layer's input gradient: nowhere
        # (the empty placeholder) unless a network in front of it asks.
        self.d_first_input = self.no_d_input
        self._allocate(n_steps * batch, batch)
        self.prepare(n_steps, batch)

    def _allocate(self, capacity, batch):
        net = self.network
        dtype = net.dtype
        self.capacity = capacity
        self._batch_capacity = batch
        self._flat = {}

        def flat(name, width, per_step=True):
            size = (capacity if per_step else batch) * width
            self._flat[name] = np.empty(size, dtype=dtype)

        flat("input", net.n_features)
        # One direction: every layer's forward state, and its dL/dh, in one
        # buffer each, laid out as the stack kernels address them (prepare).
        if net.n_directions == 1:
            _, activations, d_hiddens = stack_layout(
                net.n_features, net._units, 1, net.cell
            )
            flat("activations", activations[-1])
            flat("d_hiddens", d_hiddens[-1])
        for layer, (n_in, units) in enumerate(
            zip(net.layer_inputs, net.hidden_layer_sizes)
        ):
            for direction in range(net.n_directions):
                key = (layer, direction)
                if net.n_directions == 2:
                    flat(key + ("state",), STATE_WIDTH_UNITS * units)
                    flat(key + ("d_hidden",), units)
                flat(key + ("d_carry",), units, per_step=False)
                if self.dropout:
                    flat(key + ("masked_input",), n_in)
                    flat(key + ("hidden_masked",), units)
                    flat(key + ("d_work",), units, per_step=False)
            if net.n_directions == 2:
                flat((layer, "reversed_input"), n_in)
                flat((layer, "d_reversed_input"), n_in)
                flat((layer, "output"), 2 * units)
                flat((layer, "d_output"), 2 * units)
        flat("head_input", net.n_directions * net.hidden_layer_sizes[-1], False)
        self._shape = None

    def _view(self, name, n_steps, batch, width):
        if n_steps is None:
            return self._flat[name][: batch * width].reshape(batch, width)
        return self._flat[name][: n_steps * batch * width].reshape(
            n_steps, batch, width
        )

    def prepare(self, n_steps, batch):
        """View the buffers at a (n_steps, batch) minibatch; return the input buffer."""
        net = self.network
        if n_steps * batch > self.capacity or batch > self._batch_capacity:
            self._allocate(
                max(n_steps * batch, self.capacity), max(batch, self._batch_capacity)
            )
        if self._shape != (n_steps, batch):
            self._shape = (n_steps, batch)
            self.X = self._view("input", n_steps, batch, net.n_features)
            if net.n_directions == 1:
                stacked = self._stack_views(n_steps, batch)
            self.cells, self.outputs, self.d_outputs = [], [], []
            self.reversed_inputs, self.d_reversed_inputs = [], []
            for layer, (n_in, units) in enumerate(
                zip(net.layer_inputs, net.hidden_layer_sizes)
            ):
                directions = []
                for direction in range(net.n_directions):
                    key = (layer, direction)
                    cell = _CellBuffers()
                    if net.n_directions == 1:
                        cell.state, cell.d_hidden = stacked[layer]
                    else:
                        rows = n_steps * batch
                        cell.state = self._flat[key + ("state",)][
                            : rows * STATE_WIDTH_UNITS * units
                        ]
                        cell.d_hidden = self._view(
                            key + ("d_hidden",), n_steps, batch, units
                        )
                    self._view_state(cell, n_steps, batch, units)
                    cell.d_carry = self._view(key + ("d_carry",), None, batch, units)
                    if self.dropout:
                        cell.masked_input = self._view(
                            key + ("masked_input",), n_steps, batch, n_in
                        )
                        cell.hidden_masked = self._view(
                            key + ("hidden_masked",), n_steps, batch, units
                        )
                        cell.d_work = self._view(key + ("d_work",), None, batch, units)
                    directions.append(cell)
                self.cells.append(directions)
                if net.n_directions == 2:
                    view = self._view
                    self.reversed_inputs.append(
                        view((layer, "reversed_input"), n_steps, batch, n_in)
                    )
                    self.d_reversed_inputs.append(
                        view((layer, "d_reversed_input"), n_steps, batch, n_in)
                    )
                    self.outputs.append(
                        view((layer, "output"), n_steps, batch, 2 * units)
                    )
                    self.d_outputs.append(
                        view((layer, "d_output"), n_steps, batch, 2 * units)
                    )
                else:
                    self.outputs.append(directions[0].hidden)
                    self.d_outputs.append(directions[0].d_hidden)
            self.head_input = self._view(
                "head_input", None, batch, net.n_directions * net.hidden_layer_sizes[-1]
            )
        return self.X

    def _stack_views(self, n_steps, batch):
        """Per layer, (state, d_hidden) of a minibatch.

        Views of ``activations`` and ``d_hiddens`` where the stack kernels
        address them for ``n_steps * batch`` rows (see ``stack_layout``).
        """
        net = self.network
        rows = n_steps * batch
        _, starts, d_starts = stack_layout(net.n_features, net._units, rows, net.cell)
        self.activations = self._flat["activations"][: starts[-1]]
        self.d_hiddens = self._flat["d_hiddens"][: d_starts[-1]]
        return [
            (
                self.activations[starts[layer] : starts[layer + 1]],
                self.d_hiddens[d_starts[layer] : d_starts[layer + 1]].reshape(
                    n_steps, batch, units
                ),
            )
            for layer, units in enumerate(net.hidden_layer_sizes)
        ]

    def _view_state(self, cell, n_steps, batch, units):
        """Set ``cell``'s state parts, ``(T, B, width)`` views of its ``state``."""
        start = 0
        for name, width in STATE_PARTS[self.network.cell]:
            size = n_steps * batch * width * units
            part = cell.state[start : start + size].reshape(n_steps, batch, -1)
            setattr(cell, name, part)
            start += size

    def recurrent_dropout_args(self, cell, recurrent_mask, backward=False):
        """The kernels' trailing recurrent-dropout arguments for ``cell``."""
        if recurrent_mask is None:
            args = (self.no_mask, self.no_d_input)
            return args + (self.no_mask,) if backward else args
        args = (recurrent_mask, cell.hidden_masked)
        return args + (cell.d_work,) if backward else args

    def set_packing(self, last_step):
        """Record a minibatch's lengths, for reversing sequences in time."""
        n_steps, batch = self._shape
        steps = np.arange(n_steps)[:, None]
        running = steps < (last_step + 1)[None, :]
        columns = np.arange(batch)[None, :]
        # Row t*B + b of a reversed buffer is row (last_b - t)*B + b of the original:
        # an involution on the running rows, so one pair of indices serves both ways.
        self._rows = (steps * batch + columns)[running]
        self._reversed_rows = ((last_step[None, :] - steps) * batch + columns)[running]
        self._all_running = bool(running.all())

    def reverse(self, source, out=None):
        """Each sequence of ``source`` (T, B, W) reversed within its own length."""
        if out is None:
            out = np.empty_like(source)
        if not self._all_running:
            out[...] = 0
        width = source.shape[-1]
        flat_out = out.reshape(-1, width) if out.flags.c_contiguous else None
        if flat_out is not None:
            flat_out[self._rows] = source.reshape(-1, width)[self._reversed_rows]
        else:
            # A column slice of a wider buffer: go through a contiguous copy.
            out[...] = self.reverse(np.ascontiguousarray(source))
        return out


def _glorot_uniform(shape, random_state):
    fan_in, fan_out = shape
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return random_state.uniform(-limit, limit, size=shape)


def _orthogonal(shape, random_state):
    """Keras' ``Orthogonal`` initializer for a 2-D shape (gain 1)."""
    n_rows, n_cols = shape
    flat_shape = (max(n_rows, n_cols), min(n_rows, n_cols))
    a = random_state.normal(0.0, 1.0, size=flat_shape)
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))
    if n_rows < n_cols:
        q = q.T
    return q
