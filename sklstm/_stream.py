"""Streaming prediction: a fitted model run on data as it arrives, state carried."""

import threading

import numpy as np

from sklstm._kernels._layout import carried_state_width
from sklstm._kernels._predict import lstm_stream_logits
from sklstm._model import FittedModel
from sklstm._validation import INDEX_LIMIT, check_chunk, check_loaded_state


class LSTMStream:
    """The recurrent state of a batch of independent streams, and their predictions.

    Made by :meth:`LSTMRegressor.stream` (and, as :class:`LSTMClassifierStream`
    with class probabilities, by :meth:`LSTMClassifier.stream`). Each
    call feeds the next readings of every stream and carries each layer's
    state (``(h, c)``, or the GRU's ``h``) on to the next call, as Keras'
    ``stateful=True`` or PyTorch's ``lstm(x, (h, c))``: the predictions equal
    those of ``predict`` on each stream's whole sequence so far, however it is
    cut into chunks.

    A stream holds its own copy of the model's weights: refitting the estimator
    does not change it, and it can be pickled to be resumed later. A chunk is
    all or nothing: a call that raises (a bad chunk, Ctrl-C) leaves the streams
    and ``n_steps_seen_`` as they were, or both advanced by the whole chunk.
    Calls from several threads on one stream object are applied one at a time,
    in the order the threads get to it (give each thread its own stream to feed
    independent streams in parallel).

    Parameters
    ----------
    estimator : LSTMRegressor or LSTMClassifier
        A fitted, one-directional model, whose weights the stream copies. Made
        by the estimator's ``stream()``, which checks both.

    Attributes
    ----------
    n_streams_ : int or None
        Number of streams, fixed by the first chunk after creation or
        :meth:`reset`; None before.

    n_steps_seen_ : int
        Steps fed to every stream since creation or :meth:`reset`.
    """

    def __init__(self, estimator):
        self._model = estimator._fitted_model().copy()
        self._set_kernel_arguments()
        self.reset()

    # The state, the number of streams and the steps seen change together, in
    # one assignment of _progress: a chunk is never half applied.
    @property
    def n_streams_(self):
        return self._progress[1]

    @property
    def n_steps_seen_(self):
        return self._progress[2]

    def _set_kernel_arguments(self):
        network = self._model.network
        self._units = network._units
        self._cell = network._cell  # the kernels' cell argument
        self._state_width = sum(
            carried_state_width(network.cell, units)
            for units in network.hidden_layer_sizes
        )
        # The kernel's specialisation for the dtype, picked once (a fused
        # function picks it at every call).
        self._kernel = lstm_stream_logits[
            "float" if network.dtype == np.float32 else "double"
        ]
        self._lock = threading.Lock()

    _DERIVED = ("_kernel", "_units", "_cell", "_state_width", "_lock")

    def __getstate__(self):
        state = dict(self.__dict__)
        for derived in self._DERIVED:
            del state[derived]
        return state

    def __setstate__(self, state):
        if not isinstance(state["_model"], FittedModel):
            # Streams of older versions held a copy of the estimator.
            state["_model"] = state["_model"]._fitted_model().copy()
        if "_progress" not in state:  # ... and their progress in three attributes
            state["_progress"] = tuple(
                state.pop(name) for name in ("_state", "n_streams_", "n_steps_seen_")
            )
        for derived in self._DERIVED:
            state.pop(derived, None)
        check_loaded_state(type(self).__name__, _state=state["_progress"][0])
        self.__dict__.update(state)
        self._set_kernel_arguments()

    def reset(self):
        """Forget every stream's state: the next chunk starts new streams.

        Returns
        -------
        self : LSTMStream
            The stream, reset.
        """
        with self._lock:
            self._progress = (None, None, 0)  # state, n_streams_, n_steps_seen_
        return self

    def _advance(self, X, softmax=False, take_log=False):
        """Feed a chunk; the head's logits at its last step (or every step).

        With ``softmax``, their softmax (``take_log``: its logarithm).
        """
        model = self._model
        dtype = model.dtype
        with self._lock:
            state, n_streams, n_steps_seen = self._progress
            if not (
                type(X) is np.ndarray
                and X.ndim == 3
                and X.dtype == dtype
                and X.flags.c_contiguous
                and X.shape[0] == n_streams
                and 0 < X.shape[1] <= INDEX_LIMIT
                and X.shape[2] == model.n_features
            ):
                X = check_chunk(
                    X, model.estimator_name, model.n_features, n_streams, dtype
                )
            n_streams, n_steps, _ = X.shape
            if state is None:
                state = np.zeros((n_streams, self._state_width), dtype=dtype)
            else:
                state = state.copy()  # the streams' state changes only whole
            every_step = model.return_sequences
            rows = n_streams * n_steps if every_step else n_streams
            logits = np.empty((rows, model.n_outputs), dtype=dtype)
            finite = self._kernel(
                X,
                model.params,
                self._units,
                state,
                logits,
                every_step,
                softmax,
                take_log,
                True,
                self._cell,
            )
            if not finite:
                raise ValueError("The chunk contains NaN or infinity.")
            self._progress = (state, n_streams, n_steps_seen + n_steps)
        return logits, (n_streams, n_steps) if every_step else (n_streams,)

    def predict(self, X):
        """Feed the next readings of every stream; predict.

        Parameters
        ----------
        X : array-like of shape (n_streams, n_steps, n_features) or \
(n_streams, n_features)
            The next ``n_steps`` readings of each stream (one reading for a 2-D
            X). The first chunk fixes ``n_streams``.

        Returns
        -------
        y : ndarray
            The prediction after each stream's last reading: of shape
            (n_streams,) or (n_streams, n_outputs), as ``predict`` of the whole
            sequences so far. With ``return_sequences=True``, a prediction at
            each step of the chunk: (n_streams, n_steps) or (n_streams, n_steps,
            n_outputs).
        """
        logits, shape = self._advance(X)
        return self._per_step(self._predictions(logits), shape)

    def _predictions(self, logits):
        """Predictions (values or labels) from the head's raw outputs."""
        return self._model.decode(logits)

    @staticmethod
    def _per_step(rows, shape):
        """Rows (a stream's steps after one another) shaped as the chunk."""
        if len(shape) == 1:
            return rows
        return rows.reshape(*shape, *rows.shape[1:])

    def __repr__(self):
        return (
            f"{type(self).__name__}({self._model.estimator_name}, "
            f"n_streams_={self.n_streams_}, n_steps_seen_={self.n_steps_seen_})"
        )


class LSTMClassifierStream(LSTMStream):
    """An :class:`LSTMStream` of a classifier: labels and class probabilities.

    Made by :meth:`LSTMClassifier.stream`.

    Parameters
    ----------
    estimator : LSTMClassifier
        A fitted, one-directional classifier, whose weights the stream copies.

    Attributes
    ----------
    n_streams_ : int or None
        Number of streams, fixed by the first chunk after creation or
        :meth:`reset`; None before.

    n_steps_seen_ : int
        Steps fed to every stream since creation or :meth:`reset`.

    classes_ : ndarray of shape (n_classes,)
        The classifier's classes, in the order of the probabilities' columns.
    """

    @property
    def classes_(self):
        return self._model.classes

    def predict_proba(self, X):
        """Feed the next readings of every stream; class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_streams, n_steps, n_features) or \
(n_streams, n_features)
            The next readings of each stream.

        Returns
        -------
        proba : ndarray of shape (n_streams, n_classes), or (n_streams, \
n_steps, n_classes) with ``return_sequences=True``
            As ``predict_proba`` of the whole sequences so far.
        """
        return self._probabilities(X, log=False)

    def predict_log_proba(self, X):
        """Feed the next readings of every stream; log of the class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_streams, n_steps, n_features) or \
(n_streams, n_features)
            The next readings of each stream.

        Returns
        -------
        log_proba : ndarray of shape (n_streams, n_classes), or (n_streams, \
n_steps, n_classes) with ``return_sequences=True``
            As ``predict_log_proba`` of the whole sequences so far.
        """
        return self._probabilities(X, log=True)

    def _probabilities(self, X, log):
        proba, shape = self._model.probabilities(
            lambda softmax, take_log: self._advance(X, softmax, take_log), log
        )
        return self._per_step(proba, shape)
