"""Stacked LSTM layers with a dense head: parameters, buffers, loss and gradient.

The network owns no state between calls. Its parameters live in one flat buffer
(:meth:`LSTMNetwork.unpack` gives per-weight views in Keras' ``get_weights()`` order)
so that an optimizer updates every weight with one vectorised operation; the buffers
the kernels write into live in a :class:`Workspace` that the caller keeps for a whole
fit or predict and reuses for every minibatch.
"""

import numpy as np
from scipy.special import expit, log_expit, log_softmax, softmax

from sklstm._lstm_fast import lstm_backward, lstm_forward

#: Output activation of the head and the loss it is paired with. Each pair is the
#: canonical link of its loss, so d(loss)/d(logits) is ``(prediction - y) / n``.
HEADS = ("softmax", "logistic", "identity")


class LSTMNetwork:
    """Shapes and computations of ``len(hidden_layer_sizes)`` LSTM layers + a head.

    Every LSTM layer but the last returns its whole output sequence to the next;
    the last one hands the head its state at each sequence's last step.

    Parameters
    ----------
    n_features : int
        Width of the input at each time step.
    hidden_layer_sizes : sequence of int
        Units of each stacked LSTM layer, bottom first.
    n_outputs : int
        Width of the head.
    head : {"softmax", "logistic", "identity"}
        Output activation; fixes the loss (cross-entropy, log-loss, squared error).
    dtype : {np.float32, np.float64}
        Floating type of the parameters and of every buffer.
    """

    def __init__(self, n_features, hidden_layer_sizes, n_outputs, head, dtype):
        if head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {head!r}")
        self.n_features = int(n_features)
        self.hidden_layer_sizes = tuple(int(h) for h in hidden_layer_sizes)
        self.n_outputs = int(n_outputs)
        self.head = head
        self.dtype = np.dtype(dtype)
        self.layer_inputs = (self.n_features,) + self.hidden_layer_sizes[:-1]

        shapes = []
        for n_in, units in zip(self.layer_inputs, self.hidden_layer_sizes):
            shapes += [(n_in, 4 * units), (units, 4 * units), (4 * units,)]
        shapes += [(self.hidden_layer_sizes[-1], self.n_outputs), (self.n_outputs,)]
        self.shapes = tuple(shapes)
        sizes = [int(np.prod(shape)) for shape in shapes]
        self.offsets = tuple(np.concatenate([[0], np.cumsum(sizes)]).astype(int))
        self.n_params = self.offsets[-1]

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

    def regularized(self, views):
        """The views that L2 penalises: input, recurrent and head kernels."""
        return [v for v in views if v.ndim == 2]

    def initialize(self, random_state):
        """New parameters as Keras initialises an LSTM and a Dense layer.

        Glorot-uniform input and head kernels, orthogonal recurrent kernels, zero
        biases but the forget gate's, which starts at 1 (``unit_forget_bias``).
        """
        flat = np.zeros(self.n_params, dtype=self.dtype)
        views = self.unpack(flat)
        for layer in range(self.n_layers):
            kernel, recurrent, bias = views[3 * layer : 3 * layer + 3]
            units = recurrent.shape[0]
            kernel[...] = _glorot_uniform(kernel.shape, random_state)
            recurrent[...] = _orthogonal(recurrent.shape, random_state)
            bias[units : 2 * units] = 1
        views[-2][...] = _glorot_uniform(views[-2].shape, random_state)
        return flat

    def logits(self, params, X_tm, batch_sizes, last_step, workspace):
        """Head pre-activations, shape (B, n_outputs); values for "identity".

        ``X_tm`` is a time-major batch ``(T, B, n_features)``; ``last_step[b]`` is the
        step whose state the head reads for sequence ``b``.
        """
        return self._forward(params, X_tm, batch_sizes, last_step, workspace)

    def activate(self, logits, log=False):
        """The head's output activation (or its log) applied to ``logits``."""
        return activate(self.head, logits, log)

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
    ):
        """Weighted mean loss of a minibatch plus L2 term; its gradient in ``grads``.

        Per sequence the loss is the cross-entropy (softmax), the log-loss summed
        over outputs (logistic), or the squared error averaged over outputs and
        halved (identity, so that the unweighted loss is MLPRegressor's
        ``((Y - pred) ** 2).mean() / 2``). The minibatch loss is
        ``sum(sample_weight * loss) / total_weight`` plus ``alpha / (2 *
        total_weight)`` times the squared norm of every kernel, as in scikit-learn's
        MLP. ``sample_weight`` defaults to ones and ``total_weight`` to the sum of
        ``sample_weight``; a caller that splits one batch into chunks passes the
        whole batch's ``total_weight`` to each chunk and ``alpha`` to one of them,
        so that the chunks' losses and gradients add up. ``grads`` (flat, like
        ``params``) receives the exact gradient.
        """
        n_samples = X_tm.shape[1]
        if total_weight is None:
            total_weight = n_samples if sample_weight is None else sample_weight.sum()
        logits = self._forward(params, X_tm, batch_sizes, last_step, workspace)
        if self.head == "softmax":
            log_proba = log_softmax(logits, axis=1)
            losses = -np.sum(Y * log_proba, axis=1)
            delta = np.exp(log_proba) - Y
        elif self.head == "logistic":
            losses = np.sum(np.logaddexp(0, logits) - Y * logits, axis=1)
            delta = expit(logits) - Y
        else:
            losses = 0.5 * np.mean((logits - Y) ** 2, axis=1)
            delta = (logits - Y) / self.n_outputs
        if sample_weight is None:
            loss = losses.sum() / total_weight
            delta /= total_weight
        else:
            loss = np.dot(sample_weight, losses) / total_weight
            delta *= (sample_weight / total_weight)[:, None]
        delta = delta.astype(self.dtype, copy=False)

        views = self.unpack(params)
        grad_views = self.unpack(grads)
        layers = workspace.layers
        top = layers[-1]
        head_kernel = views[-2]
        batch_index = np.arange(n_samples)
        h_last = top.hidden[last_step, batch_index]
        np.matmul(h_last.T, delta, out=grad_views[-2])
        np.sum(delta, axis=0, out=grad_views[-1])
        top.d_hidden[...] = 0
        top.d_hidden[last_step, batch_index] = delta @ head_kernel.T

        for layer in range(self.n_layers - 1, -1, -1):
            buffers = layers[layer]
            kernel, recurrent, _ = views[3 * layer : 3 * layer + 3]
            d_kernel, d_recurrent, d_bias = grad_views[3 * layer : 3 * layer + 3]
            layer_input = X_tm if layer == 0 else layers[layer - 1].hidden
            d_input = workspace.no_d_input if layer == 0 else layers[layer - 1].d_hidden
            lstm_backward(
                layer_input,
                kernel,
                recurrent,
                batch_sizes,
                buffers.gates,
                buffers.cells,
                buffers.cells_tanh,
                buffers.hidden,
                buffers.d_hidden,
                buffers.d_cell,
                d_kernel,
                d_recurrent,
                d_bias,
                d_input,
            )

        if alpha:
            penalty = 0.0
            for weight, grad in zip(
                self.regularized(views), self.regularized(grad_views)
            ):
                penalty += float(np.dot(weight.ravel(), weight.ravel()))
                grad += (alpha / total_weight) * weight
            loss += 0.5 * alpha * penalty / total_weight
        return float(loss)

    def _forward(self, params, X_tm, batch_sizes, last_step, workspace):
        views = self.unpack(params)
        layer_input = X_tm
        for layer, buffers in enumerate(workspace.layers):
            kernel, recurrent, bias = views[3 * layer : 3 * layer + 3]
            lstm_forward(
                layer_input,
                kernel,
                recurrent,
                bias,
                batch_sizes,
                buffers.gates,
                buffers.cells,
                buffers.cells_tanh,
                buffers.hidden,
            )
            layer_input = buffers.hidden
        h_last = layer_input[last_step, np.arange(X_tm.shape[1])]
        return h_last @ views[-2] + views[-1]

    def workspace(self, n_steps, batch):
        """Buffers for minibatches of up to ``batch`` sequences of ``n_steps``."""
        return Workspace(self, n_steps, batch)


def activate(head, logits, log=False):
    """Output activation of ``head`` (or its log, without underflow) on logits."""
    if head == "softmax":
        return log_softmax(logits, axis=1) if log else softmax(logits, axis=1)
    if head == "logistic":
        return log_expit(logits) if log else expit(logits)
    return logits


class _LayerBuffers:
    __slots__ = ("gates", "cells", "cells_tanh", "hidden", "d_hidden", "d_cell")


class Workspace:
    """Kernel buffers sized once for the largest minibatch, viewed per minibatch.

    Call :meth:`prepare` with each minibatch's shape: it returns the time-major
    input buffer to fill and re-views every layer's buffers at that shape without
    allocating (unless the minibatch is larger than any seen before).
    """

    def __init__(self, network, n_steps, batch):
        self.network = network
        self.capacity = 0
        self.no_d_input = np.empty((0, 0, 0), dtype=network.dtype)
        self._allocate(n_steps * batch)
        self.prepare(n_steps, batch)

    def _allocate(self, capacity):
        dtype = self.network.dtype
        self.capacity = capacity
        self._input = np.empty(capacity * self.network.n_features, dtype=dtype)
        self._flat = []
        for units in self.network.hidden_layer_sizes:
            self._flat.append(
                {
                    "gates": np.empty(capacity * 4 * units, dtype=dtype),
                    "cells": np.empty(capacity * units, dtype=dtype),
                    "cells_tanh": np.empty(capacity * units, dtype=dtype),
                    "hidden": np.empty(capacity * units, dtype=dtype),
                    "d_hidden": np.empty(capacity * units, dtype=dtype),
                }
            )
        self._d_cell_flat = [None] * self.network.n_layers
        self._shape = None

    def prepare(self, n_steps, batch):
        """View the buffers at a (n_steps, batch) minibatch; return the input buffer."""
        if n_steps * batch > self.capacity:
            self._allocate(n_steps * batch)
        if self._shape != (n_steps, batch):
            self._shape = (n_steps, batch)
            n = n_steps * batch
            self.X = self._input[: n * self.network.n_features].reshape(
                n_steps, batch, self.network.n_features
            )
            self.layers = []
            for layer, units in enumerate(self.network.hidden_layer_sizes):
                flat = self._flat[layer]
                buffers = _LayerBuffers()
                buffers.gates = flat["gates"][: n * 4 * units].reshape(
                    n_steps, batch, 4 * units
                )
                for name in ("cells", "cells_tanh", "hidden", "d_hidden"):
                    setattr(
                        buffers,
                        name,
                        flat[name][: n * units].reshape(n_steps, batch, units),
                    )
                d_cell = self._d_cell_flat[layer]
                if d_cell is None or d_cell.size < batch * units:
                    d_cell = np.empty(batch * units, dtype=self.network.dtype)
                    self._d_cell_flat[layer] = d_cell
                buffers.d_cell = d_cell[: batch * units].reshape(batch, units)
                self.layers.append(buffers)
        return self.X


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
