"""A fitted network as prediction needs it: its structure, weights and head.

:class:`FittedModel` is what the estimators' predictions, the streams and the ONNX
converter read, instead of the estimator's private attributes. Its weights are in
y's units (a regressor's target scaling is folded into the dense layer), so its
raw outputs decode into predictions with the head alone. It routes a prediction
to the kernels: one call for one sequence, bounded chunks for a batch.
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted

from sklstm._heads import SquaredError
from sklstm._kernels._array import all_finite
from sklstm._kernels._layout import gates_per_unit
from sklstm._network import (
    aligned_params,
    network_for,
    pooled_buffer,
    running_steps,
)
from sklstm._sequences import DenseSequences, RaggedSequences, batch_slices, step_rows
from sklstm._threads import kernel_threads
from sklstm._validation import INDEX_LIMIT, check_loaded_state

# Predictions and full-batch (lbfgs) evaluations run in chunks of sequences: about
# _CHUNK_SEQUENCES at a time (measured fastest: the per-step GEMMs have rows enough
# and the buffers stay near the caches), fewer when a buffer would exceed
# _CHUNK_ELEMENTS, which bounds their memory on a large X.
_CHUNK_SEQUENCES = 512
_CHUNK_ELEMENTS = 1 << 24
# Equal-length batches (one kernel call a chunk, each thread taking its rows
# through every step and layer) run in chunks whose work space is at most
# _CHUNK_BYTES_PER_THREAD a thread, about half a core's L2 cache, but no fewer
# than _MIN_CHUNK_SEQUENCES rows, which keep the per-step products efficient.
# Larger chunks favour float32 slightly and cost float64 more (measured in
# benchmarks/README.md); all stay far under glibc's mmap threshold (32 MiB),
# above which a work space would be mapped and faulted in afresh at every call.
_CHUNK_BYTES_PER_THREAD = 1 << 20
_MIN_CHUNK_SEQUENCES = 64


def chunk_size(network, n_samples, n_steps):
    """Sequences per full-batch chunk, so that no buffer exceeds a fixed size."""
    widest_gates = gates_per_unit(network.cell) * max(network.hidden_layer_sizes)
    per_sample = n_steps * max(widest_gates, network.n_features)
    by_memory = max(1, _CHUNK_ELEMENTS // per_sample)
    return int(min(n_samples, _CHUNK_SEQUENCES, by_memory))


class FittedModel:
    """A network's structure and weights, its head, and what its outputs mean.

    Parameters
    ----------
    network : LSTMNetwork
        The structure, with its head.
    params : ndarray
        The flat weights, in y's units.
    classes : ndarray or None, default=None
        A classifier's labels, in the order of its outputs.
    output_ndim : int, default=2
        1 when predictions per sample are scalars (a regressor fitted on a 1-D
        y): each prediction's row of one value is then flattened.
    estimator_name : str, default="LSTMRegressor"
        The estimator's class name, for messages.
    """

    __slots__ = ("network", "params", "classes", "output_ndim", "estimator_name")

    def __init__(
        self,
        network,
        params,
        classes=None,
        output_ndim=2,
        estimator_name="LSTMRegressor",
    ):
        self.network = network
        self.params = params
        self.classes = classes
        self.output_ndim = output_ndim
        self.estimator_name = estimator_name

    def __getstate__(self):
        state = {name: getattr(self, name) for name in self.__slots__}
        # The network holds compiled functions: pickle what makes it.
        state["network"] = self.network.structure
        return state

    def __setstate__(self, state):
        for name, value in state.items():
            setattr(self, name, value)
        self.network = network_for(*self.network)
        self.params = aligned_params(self.params)
        check_loaded_state(self.estimator_name, params=self.params)

    @property
    def head(self):
        return self.network.head

    @property
    def dtype(self):
        return self.network.dtype

    @property
    def n_features(self):
        return self.network.n_features

    @property
    def n_outputs(self):
        return self.network.n_outputs

    @property
    def return_sequences(self):
        return self.network.return_sequences

    def copy(self):
        """The same model with its own copy of the weights."""
        return FittedModel(
            self.network,
            aligned_params(self.params),
            self.classes,
            self.output_ndim,
            self.estimator_name,
        )

    # -------------------------------------------------------------- outputs
    def decode(self, raw):
        """Predictions (labels or values) from raw outputs, a row per prediction."""
        predictions = self.head.decode(raw, self.classes)
        return predictions.ravel() if self.output_ndim == 1 else predictions

    def probabilities(self, outputs_of, log):
        """A classifier's probabilities (or their logs): see Softmax.probabilities."""
        return self.head.probabilities(outputs_of, log)

    def per_sequence(self, rows, data):
        """Per-step predictions (rows) shaped as X's sequences; else unchanged."""
        return data.split_steps(rows) if self.return_sequences else rows

    def outputs(self, X, validate, softmax=False, take_log=False, skip_validation=True):
        """The head's raw outputs of X, and X validated: the route of a prediction.

        With ``softmax``, its output (``take_log``: its logarithm): only a head
        that the kernels apply asks. ``validate(X)`` returns X validated as
        sequences; an X that it would pass unchanged, if finite, skips its
        ~100 us of checks (``skip_validation``, where nothing else needs
        checking), which would dominate a single sequence's prediction.
        Returns ``(outputs, data)``: ``data`` is None where a many-to-one
        prediction did not need it. Per step, a row per step.
        """
        data = None
        if type(X) is list and len(X) == 1 and type(X[0]) is np.ndarray:
            # One sequence in a list (a ragged set's member) takes the routes of
            # a 3-D X of one sequence; per step, its predictions stay a list.
            one = X[0][None]
            if skip_validation and self._is_plain(one):
                outputs, data = self.outputs(one, validate, softmax, take_log)
                if data is not None:
                    data = RaggedSequences(one[0], one.shape[1:2])
                return outputs, data
        if skip_validation and self._is_plain(X):
            if X.shape[0] == 1 and X.flags.c_contiguous:
                # One sequence: one kernel call, which also checks X (None for
                # NaN or infinity: the full validation names them) and applies
                # the softmax; nothing to chunk or pool.
                outputs = self.network.sequence_outputs(
                    self.params, X, softmax, take_log
                )
                if outputs is not None:
                    data = DenseSequences(X) if self.return_sequences else None
                    return outputs, data
            elif all_finite(X):
                # One pass with no temporary; an X with NaN or infinity goes to
                # the full validation, which names the problem.
                data = DenseSequences(X)
        if data is None:
            data = validate(X)
        raw = self.raw_outputs(data)
        return (self.head.activation(raw, take_log) if softmax else raw), data

    def _is_plain(self, X):
        """Whether X is a 3-D array that validation would pass unchanged, if finite."""
        return (
            type(X) is np.ndarray
            and X.ndim == 3
            and X.dtype == self.network.dtype
            and 0 < X.shape[0] <= INDEX_LIMIT
            and 0 < X.shape[1] <= INDEX_LIMIT
            and X.shape[2] == self.network.n_features
        )

    def raw_outputs(self, data):
        """The head's raw outputs of validated sequences, in bounded chunks.

        Chunks take the sequences in decreasing length, so a ragged set pays for
        little padding; the results go back to the input order. Per step, a row
        per step, sequence after sequence.
        """
        network, params = self.network, self.params
        n_samples = data.n_samples
        chunk = chunk_size(network, n_samples, data.max_length)
        if isinstance(data, DenseSequences) and not self.return_sequences:
            return self._dense_outputs(data, chunk)
        order = data.order_for_batches(np.arange(n_samples))
        lengths = data.lengths
        n_rows = int(lengths.sum()) if self.return_sequences else n_samples
        out = np.empty((n_rows, network.n_outputs), dtype=network.dtype)
        with kernel_threads(chunk, data.max_length) as n_threads:
            workspace = network.workspace(data.max_length, chunk, n_threads=n_threads)
            for batch_slice in batch_slices(n_samples, chunk):
                batch_index = order[batch_slice]
                X_tm, batch_sizes, last_step = data.pack(batch_index, workspace)
                rows = batch_index
                if self.return_sequences:
                    running = running_steps(X_tm.shape[0], last_step)
                    rows = step_rows(lengths, batch_index, running)
                out[rows] = network.logits(
                    params, X_tm, batch_sizes, last_step, workspace
                )
        return out

    def _dense_outputs(self, data, chunk):
        """Equal-length sequences, many-to-one: one kernel call a chunk."""
        network = self.network
        n_samples = data.n_samples
        # A row's share of a batch's work space (a batch of one is sized for
        # the single-sequence kernel instead, its packed weights included).
        row_bytes = (
            network.dense_work_size(data.max_length, 2) // 2 * network.dtype.itemsize
        )
        with kernel_threads(chunk, data.max_length) as n_threads:
            bound = _CHUNK_BYTES_PER_THREAD * n_threads // row_bytes
            chunk = min(chunk, max(_MIN_CHUNK_SEQUENCES, bound))
            size = network.dense_work_size(data.max_length, min(chunk, n_samples))
            with pooled_buffer(network, size) as work:
                if n_samples <= chunk:
                    return network.dense_logits(self.params, data.X, work, n_threads)
                out = np.empty((n_samples, network.n_outputs), dtype=network.dtype)
                for batch in batch_slices(n_samples, chunk):
                    network.dense_logits(
                        self.params, data.X[batch], work, n_threads, out=out[batch]
                    )
                return out

    def embedding(self):
        """The model whose raw outputs are the dense layer's inputs, exactly.

        The same recurrent layers with an identity dense layer (``h @ I + 0`` is
        ``h`` to the bit): the top layer's final state (both directions'
        concatenated), or with ``return_sequences`` its output at every step,
        computed by the prediction routes.
        """
        network = self.network
        width = network.n_directions * network.hidden_layer_sizes[-1]
        structure = list(network.structure)
        structure[2], structure[3] = width, SquaredError()
        embedding = network_for(*structure)
        params = aligned_params(np.zeros(embedding.n_params, dtype=network.dtype))
        recurrent = network.offsets[-3]  # where the dense layer's kernel starts
        params[:recurrent] = self.params[:recurrent]
        embedding.unpack(params)[-2][...] = np.eye(width)
        return FittedModel(embedding, params, None, 2, self.estimator_name)

    # -------------------------------------------------------------- weights
    def weights(self):
        """Copies of the weights in Keras' ``get_weights()`` layout."""
        return [w.copy() for w in self.network.unpack(self.params)]

    def with_weights(self, weights):
        """New flat weights from arrays in :meth:`weights`' layout, checked."""
        network = self.network
        weights = list(weights)
        if len(weights) != len(network.shapes):
            raise ValueError(
                f"Expected {len(network.shapes)} weight arrays "
                f"({network.n_layers} {network.cell.upper()} layers x "
                f"{3 * network.n_directions}"
                f" + 2 for the output layer), got {len(weights)}."
            )
        new_params = aligned_params(np.zeros_like(self.params))
        for index, (view, weight) in enumerate(
            zip(network.unpack(new_params), weights)
        ):
            weight = np.asarray(weight)
            if weight.shape != view.shape:
                raise ValueError(
                    f"Weight {index} has shape {weight.shape}, expected {view.shape} "
                    f"(cell={network.cell!r})."
                )
            if not np.issubdtype(weight.dtype, np.number) or np.iscomplexobj(weight):
                raise ValueError(
                    f"Weight {index} has dtype {weight.dtype}; expected real numbers."
                )
            # A value beyond the model's float range becomes infinity, refused
            # below with NaN and infinity (not a RuntimeWarning from the cast).
            with np.errstate(over="ignore"):
                view[...] = weight
        if not np.isfinite(new_params).all():
            raise ValueError(
                "Weights must be finite; got NaN, infinity or a value too large for "
                f"dtype({str(new_params.dtype)!r})."
            )
        return new_params


def rescaled_params(network, params, scaling, to_training):
    """A copy of ``params`` with the head re-expressed for a target scaling.

    ``to_training``: from y's units into the training units of ``scaling`` (a
    :class:`~sklstm._heads.TargetScaling`), else back. None: a plain copy.
    """
    params = aligned_params(params)
    if scaling is not None:
        views = network.unpack(params)
        convert = network.head.unfold if to_training else network.head.fold
        kernel, bias = convert(views[-2], views[-1], scaling)
        views[-2][...], views[-1][...] = kernel, bias
    return params


class FittedNetworkMixin:
    """A fitted estimator's network from outside: its weights in Keras' layout,
    and streams (from ``_fitted_model`` and ``_stream_class``)."""

    def stream(self):
        """A new stream: predictions on data as it arrives.

        The stream feeds a batch of independent sequences a chunk of readings
        at a time and carries each layer's state from chunk to chunk (Keras'
        ``stateful=True``); its predictions equal ``predict`` on each sequence
        so far. The estimator keeps no stream state: make as many as needed.

        Returns
        -------
        stream : LSTMStream
            An :class:`~sklstm.LSTMClassifierStream` for a classifier (with
            ``predict``, ``predict_proba`` and ``predict_log_proba``), else with
            ``predict``; each takes chunks ``(n_streams, n_steps, n_features)``.
            ``reset`` forgets the streams.
        """
        check_is_fitted(self)
        if self._bidirectional:
            raise ValueError(
                "A bidirectional model cannot stream: its backward direction reads "
                "each sequence from its end, which a stream has not reached. Fit "
                "with bidirectional=False to predict on streams."
            )
        return self._stream_class(self)

    # ---------------------------------------------------------------- weights

    def get_weights(self):
        """Weights as ``keras.Sequential.get_weights()`` returns them.

        Returns
        -------
        weights : list of ndarray
            Per LSTM layer, bottom first: ``kernel`` of shape (n_inputs,
            4 * units), ``recurrent_kernel`` of shape (units, 4 * units), ``bias``
            of shape (4 * units,), with the gates in the order input, forget, cell
            candidate, output. Per GRU layer (``cell="gru"``), Keras' ``GRU``:
            ``kernel`` (n_inputs, 3 * units), ``recurrent_kernel`` (units, 3 *
            units) and ``bias`` (2, 3 * units), the input then the recurrent
            bias, gates in the order update, reset, candidate. Then the output
            layer's ``kernel`` of shape
            (units_last, ``n_outputs_``) and ``bias`` of shape (``n_outputs_``,). With
            ``bidirectional=True``, Keras' ``Bidirectional`` layout: per layer the
            forward direction's three arrays, then the backward direction's, upper
            layers' kernels ``2 * units`` rows tall, and an output kernel of
            ``2 * units_last`` rows. Copies: changing them does not change the
            model.
        """
        return self._fitted_model().weights()

    def set_weights(self, weights):
        """Replace the weights of a fitted model, in :meth:`get_weights`' layout.

        Parameters
        ----------
        weights : list of array-like
            As returned by :meth:`get_weights` or by ``get_weights()`` of the
            equivalent Keras ``Sequential`` model.

        Returns
        -------
        self : object
            The estimator, with its weights replaced.
        """
        self._params = self._fitted_model().with_weights(weights)
        return self
