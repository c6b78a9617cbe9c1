"""Preprocessing for sequence data: per-feature scaling and forecasting windows."""

import math
from numbers import Integral, Real

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.validation import check_is_fitted

from sklstm._sequences import DenseSequences
from sklstm._validation import (
    FLOAT_DTYPES,
    check_loaded_state,
    check_sequences,
    check_series,
    check_target_columns,
    is_sequence_list,
)

__all__ = ["SequenceImputer", "SequencePatcher", "SequenceScaler", "make_windows"]


class SequenceScaler(TransformerMixin, BaseEstimator):
    """Standardise each feature of sequence data over all samples and time steps.

    Each feature ``f`` is centred and scaled as ``z = (x - mean_[f]) / scale_[f]``,
    the statistics being taken over every sample and every time step of the
    training data: the result equals :class:`~sklearn.preprocessing.StandardScaler`
    applied to ``X.reshape(-1, n_features)`` and reshaped back. Unlike
    StandardScaler on a flattened ``(n_samples, n_timesteps * n_features)`` X, a
    feature gets the same statistics at every time step, so sequences of another
    length can be transformed too.

    Parameters
    ----------
    with_mean : bool, default=True
        If True, centre each feature before scaling.

    with_std : bool, default=True
        If True, scale each feature to unit variance (population standard
        deviation, as StandardScaler). A feature that is constant in the training
        data gets a scale of 1.

    dtype : {None, "float32", "float64"} or numpy float type, default=None
        Floating type of the output of ``transform``. None keeps the input's
        (float32 stays float32, anything else becomes float64). ``np.float32``
        in a Pipeline before an LSTM estimator makes it train and predict in
        float32, up to twice as fast as in float64.

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,) or None
        The mean of each feature in the training data, over all samples and time
        steps. None when ``with_mean=False`` and ``with_std=False``.

    var_ : ndarray of shape (n_features,) or None
        The variance of each feature in the training data. None when
        ``with_std=False``; infinity for a feature whose values reach beyond
        about 1e154, whose variance float64 cannot hold (``mean_`` and
        ``scale_`` stay exact: the statistics are computed in units of a power
        of two, without overflow).

    scale_ : ndarray of shape (n_features,) or None
        The scale of each feature, ``np.sqrt(var_)`` with zeros (constant
        features) replaced by 1. None when ``with_std=False``.

    n_features_in_ : int
        Number of features seen during fit: the last axis of X.

    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of features seen during fit. Defined only when X is a 2-D pandas
        DataFrame with string column names.

    See Also
    --------
    sklearn.preprocessing.StandardScaler : The same scaling for 2-D data.
    make_windows : Cut a time series into (window, target) pairs to scale and fit.
    LSTMRegressor : An LSTM regressor that takes the scaled sequences.

    Notes
    -----
    X may be:

    - a 3-D array ``(n_samples, n_timesteps, n_features)``;
    - a 2-D array ``(n_samples, n_features)``, sequences of one time step (the
      output keeps the 2-D shape);
    - a list of 2-D arrays ``(n_timesteps_i, n_features)`` of different lengths
      and a common number of features: the statistics are those of all time steps
      of all sequences pooled, and the output is a list of arrays of the same
      shapes.

    float32 input gives float32 output; any other input is transformed in
    float64, then cast to ``dtype`` if it is given. The statistics are always
    accumulated in float64. Missing readings (NaN) are left out of the
    statistics in ``fit`` and stay NaN in ``transform`` (as StandardScaler
    does); infinite values are rejected.

    Examples
    --------
    >>> import numpy as np
    >>> from sklstm.preprocessing import SequenceScaler
    >>> X = np.array([[[0.0, 10.0], [2.0, 10.0]],
    ...               [[4.0, 10.0], [6.0, 10.0]]])  # 2 sequences, 2 steps, 2 features
    >>> scaler = SequenceScaler().fit(X)
    >>> scaler.mean_
    array([ 3., 10.])
    >>> scaler.scale_
    array([2.23606798, 1.        ])
    >>> scaler.transform(X)[0]
    array([[-1.34164079,  0.        ],
           [-0.4472136 ,  0.        ]])
    >>> Xt = scaler.transform([np.array([[3.0, 11.0]]), np.zeros((3, 2))])
    >>> [x.shape for x in Xt]
    [(1, 2), (3, 2)]
    """

    _parameter_constraints: dict = {
        "with_mean": ["boolean"],
        "with_std": ["boolean"],
        "dtype": [None, StrOptions({"float32", "float64"}), type, np.dtype],
    }

    def __init__(self, *, with_mean=True, with_std=True, dtype=None):
        self.with_mean = with_mean
        self.with_std = with_std
        self.dtype = dtype

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Compute the mean and scale of each feature.

        Parameters
        ----------
        X : {array-like of shape (n_samples, n_timesteps, n_features), \
array-like of shape (n_samples, n_features), list of array-like}
            Training sequences; a list holds 2-D arrays
            ``(n_timesteps_i, n_features)`` of any lengths.

        y : None
            Ignored.

        Returns
        -------
        self : object
            Fitted scaler.
        """
        self._output_dtype()
        X, _ = self._check_X(X, reset=True)
        # Pool every time step of every sequence: one row per (sample, step).
        if isinstance(X, list):
            rows = np.concatenate(X, axis=0, dtype=np.float64)
        else:
            rows = X.reshape(-1, X.shape[-1])

        if not (self.with_mean or self.with_std):
            self.mean_ = self.var_ = self.scale_ = None
            return self
        # Each feature in units of a power of two at least its largest magnitude:
        # exact, so the statistics are StandardScaler's to the bit, and the
        # squares of values near the float range's end cannot overflow.
        magnitude = np.where(np.isnan(rows), 0, np.abs(rows)).max(axis=0)
        _, exponent = np.frexp(magnitude.astype(np.float64))
        unit = np.ldexp(1.0, exponent)
        rows = rows / unit
        # float64 accumulators whatever X's dtype, as StandardScaler; missing
        # readings (NaN) are left out of the statistics, as StandardScaler
        # leaves them (a feature with none at all gets mean 0 and scale 1).
        n_rows = np.maximum((~np.isnan(rows)).sum(axis=0), 1)
        mean = np.nansum(rows, axis=0, dtype=np.float64) / n_rows
        self.mean_ = mean * unit
        if not self.with_std:
            self.var_ = self.scale_ = None
            return self
        centred = rows - mean
        # Corrected two-pass algorithm (Chan, Golub & LeVeque), as StandardScaler.
        correction = np.nansum(centred, axis=0)
        var = (np.nansum(np.square(centred), axis=0) - correction**2 / n_rows) / n_rows
        with np.errstate(over="ignore"):  # var_ of values beyond 1e154: inf
            self.var_ = var * unit**2
        eps = np.finfo(np.float64).eps
        constant = var <= n_rows * eps * var + (n_rows * mean * eps) ** 2
        scale = np.sqrt(var) * unit
        scale[constant] = 1.0
        self.scale_ = scale
        return self

    def transform(self, X):
        """Standardise X with the statistics learnt in fit.

        Parameters
        ----------
        X : {array-like of shape (n_samples, n_timesteps, n_features), \
array-like of shape (n_samples, n_features), list of array-like}
            Sequences to scale; the number of time steps may differ from fit.

        Returns
        -------
        X_tr : {ndarray, list of ndarray}
            Scaled sequences, of the same shape as X (a list for a list).
        """
        check_is_fitted(self)
        X, is_list = self._check_X(X, reset=False)
        dtype = self._output_dtype()
        if is_list:
            return [self._scale(x).astype(dtype or x.dtype, copy=False) for x in X]
        return self._scale(X).astype(dtype or X.dtype, copy=False)

    def _output_dtype(self):
        """``dtype`` as a NumPy dtype (None: the input's), refusing other types."""
        if self.dtype is None:
            return None
        dtype = np.dtype(self.dtype)
        if dtype not in FLOAT_DTYPES:
            raise ValueError(
                f"dtype must be None, np.float32 or np.float64, got {self.dtype!r}."
            )
        return dtype

    def inverse_transform(self, X):
        """Undo the scaling: map standardised sequences back to the original units.

        Parameters
        ----------
        X : {array-like of shape (n_samples, n_timesteps, n_features), \
array-like of shape (n_samples, n_features), list of array-like}
            Scaled sequences.

        Returns
        -------
        X_original : {ndarray, list of ndarray}
            Sequences in the original units, of the same shape as X (a list for a
            list).
        """
        check_is_fitted(self)
        X, is_list = self._check_X(X, reset=False, inverse=True)
        if is_list:
            return [self._unscale(x) for x in X]
        return self._unscale(X)

    def _scale(self, x):
        # Cast the statistics so that float32 input stays float32.
        if self.with_mean:
            x = x - self.mean_.astype(x.dtype, copy=False)
        if self.with_std:
            x = x / self.scale_.astype(x.dtype, copy=False)
        # A fresh array even when neither option is on: never hand back the input.
        return x.copy() if not (self.with_mean or self.with_std) else x

    def _unscale(self, x):
        if self.with_std:
            x = x * self.scale_.astype(x.dtype, copy=False)
        if self.with_mean:
            x = x + self.mean_.astype(x.dtype, copy=False)
        return x.copy() if not (self.with_mean or self.with_std) else x

    def _check_X(self, X, reset, inverse=False):
        """Validate X: return (array or list of 2-D arrays, whether it is a list).

        A 3-D or 2-D array comes back with its shape; a list, as a list of
        2-D arrays.
        """
        is_list = is_sequence_list(X)
        if is_list and reset and hasattr(self, "feature_names_in_"):
            # A list carries no column names: forget those of an earlier fit.
            del self.feature_names_in_
        # As StandardScaler.inverse_transform: no feature-name check there, so
        # that arrays coming out of transform can be mapped back quietly.
        data = check_sequences(
            self, X, reset=reset, feature_names=not inverse, allow_nan=True
        )
        if is_list:
            dense = isinstance(data, DenseSequences)
            return (list(data.X) if dense else data.as_input()), True
        X = data.X if data.input_ndim == 3 else data.X[:, 0, :]
        return X, False

    def __setstate__(self, state):
        check_loaded_state(
            type(self).__name__,
            positive=("scale_",),
            mean_=state.get("mean_"),
            scale_=state.get("scale_"),
        )
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.allow_nan = True  # ignored by fit, kept by transform
        dtype = None
        try:
            dtype = self._output_dtype()
        except (TypeError, ValueError):  # reported by fit
            pass
        tags.transformer_tags.preserves_dtype = (
            ["float64", "float32"] if dtype is None else [dtype.name]
        )
        return tags


class _SequenceTransformerMixin:
    """What the sequence-to-sequence transformers share: tags, and applying a
    function of equal-length batches to X in any of its layouts."""

    def _map_sequences(self, X, function):
        """``function`` ((n, T, F) -> (n, T', F')) applied to X, shaped as X.

        A 3-D array comes back 3-D, a 2-D one (sequences of one step) 2-D, a
        list as a list; sequences of different lengths go one at a time.
        """
        check_is_fitted(self)
        is_list = is_sequence_list(X)
        data = check_sequences(self, X, reset=False, allow_nan=True)
        if not isinstance(data, DenseSequences):
            return [function(x[None])[0] for x in data.as_input()]
        out = function(data.X)
        if is_list:
            return list(out)
        return out if data.input_ndim == 3 else out[:, 0, :]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.allow_nan = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


class SequenceImputer(_SequenceTransformerMixin, TransformerMixin, BaseEstimator):
    """Fill missing readings (NaN) inside sequences, optionally marking where.

    Sensors drop out, logs have gaps: the LSTM estimators refuse NaN, and this
    transformer, placed before them (and before or after
    :class:`SequenceScaler`, which ignores NaN when fitting and keeps it), fills
    it. With ``add_indicator=True`` it appends a 0/1 channel per feature that had
    missing readings in the training data (scikit-learn's ``MissingIndicator``),
    so that the network can learn from where readings were missing.

    Parameters
    ----------
    strategy : {"ffill", "mean", "constant"}, default="ffill"
        "ffill" carries each sequence's last reading forward, and fills a
        leading gap with the sequence's first reading (a feature missing at
        every step of a sequence gets the feature's training mean); "mean" fills
        with each feature's mean over every step of the training data;
        "constant" with ``fill_value``.

    fill_value : float, default=None
        The value of "constant" (None: 0). A feature with no reading at all in
        the training data has mean 0 for "mean" and "ffill".

    add_indicator : bool, default=False
        Whether to append, after the features, one channel per feature that had
        missing readings in the training data: 1 where the reading was missing,
        0 elsewhere.

    Attributes
    ----------
    statistics_ : ndarray of shape (n_features,)
        The value each feature's gaps are filled with ("ffill": where a
        sequence has no reading of the feature at all).

    indicator_features_ : ndarray of shape (n_indicators,)
        The features that get an indicator channel (with ``add_indicator``):
        those with missing readings in the training data.

    n_features_in_ : int
        Number of features seen during fit: the last axis of X.

    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of the features, when a 2-D X with string column names was passed.

    See Also
    --------
    sklearn.impute.SimpleImputer : The same for tabular data.
    SequenceScaler : Standardise each feature; it ignores NaN when fitting.

    Examples
    --------
    >>> import numpy as np
    >>> from sklstm.preprocessing import SequenceImputer
    >>> X = np.array([[[np.nan], [1.0], [np.nan], [3.0]]])
    >>> SequenceImputer().fit_transform(X)[0, :, 0]
    array([1., 1., 1., 3.])
    >>> SequenceImputer(add_indicator=True).fit_transform(X)[0, :, 1]
    array([1., 0., 1., 0.])
    """

    _parameter_constraints: dict = {
        "strategy": [StrOptions({"ffill", "mean", "constant"})],
        "fill_value": [None, Real],
        "add_indicator": ["boolean"],
    }

    def __init__(self, *, strategy="ffill", fill_value=None, add_indicator=False):
        self.strategy = strategy
        self.fill_value = fill_value
        self.add_indicator = add_indicator

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn each feature's fill value and which features go missing.

        Parameters
        ----------
        X : {array-like of shape (n_samples, n_timesteps, n_features), \
array-like of shape (n_samples, n_features), list of array-like}
            Training sequences, with NaN where readings are missing.

        y : None
            Ignored.

        Returns
        -------
        self : object
            Fitted imputer.
        """
        data = check_sequences(self, X, reset=True, allow_nan=True)
        rows = _rows(data)
        missing = np.isnan(rows)
        counts = (~missing).sum(axis=0)
        means = np.where(missing, 0, rows).sum(axis=0, dtype=np.float64)
        means = means / np.maximum(counts, 1)
        if self.strategy == "constant":
            fill = 0.0 if self.fill_value is None else float(self.fill_value)
            self.statistics_ = np.full(data.n_features, fill)
        else:
            self.statistics_ = means
        self.indicator_features_ = np.flatnonzero(missing.any(axis=0))
        return self

    def transform(self, X):
        """Fill the missing readings (and append the indicators).

        Parameters
        ----------
        X : {array-like of shape (n_samples, n_timesteps, n_features), \
array-like of shape (n_samples, n_features), list of array-like}
            Sequences, with NaN where readings are missing.

        Returns
        -------
        X_filled : {ndarray, list of ndarray}
            X with its gaps filled, of the same shape (a list for a list), with
            ``len(indicator_features_)`` more features with ``add_indicator``.
        """
        return self._map_sequences(X, self._filled)

    def _filled(self, X):
        """Sequences (n, T, F) with the gaps filled (and the indicators)."""
        missing = np.isnan(X)
        out = X.copy()
        if self.strategy == "ffill" and missing.any():
            steps = np.arange(X.shape[1])[None, :, None]
            # The last observed step at or before each step (-1: none yet) ...
            last = np.maximum.accumulate(np.where(missing, -1, steps), axis=1)
            # ... or else the first observed step of the sequence.
            first = np.argmax(~missing, axis=1)[:, None, :]
            source = np.where(last >= 0, last, first)
            out = np.take_along_axis(X, source, axis=1)
            missing_now = np.isnan(out)  # a feature missing at every step
        else:
            missing_now = missing
        out[missing_now] = np.broadcast_to(self.statistics_.astype(X.dtype), X.shape)[
            missing_now
        ]
        if self.add_indicator:
            indicators = missing[:, :, self.indicator_features_].astype(X.dtype)
            out = np.concatenate([out, indicators], axis=2)
        return out

    def get_feature_names_out(self, input_features=None):
        """Names of the output features: the input's, then the indicators'.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Input feature names; None: ``feature_names_in_`` or ``x0``, ``x1``...

        Returns
        -------
        feature_names_out : ndarray of str objects
            The input names, then ``missingindicator_<name>`` for each feature in
            ``indicator_features_`` (with ``add_indicator``), as SimpleImputer.
        """
        check_is_fitted(self)
        names = _feature_names_in(self, input_features)
        if not self.add_indicator:
            return names
        indicators = [f"missingindicator_{names[i]}" for i in self.indicator_features_]
        return np.concatenate([names, np.asarray(indicators, dtype=object)])


def _feature_names_in(estimator, input_features):
    """The input feature names, checked as scikit-learn's transformers do."""
    fitted = getattr(estimator, "feature_names_in_", None)
    n_features = estimator.n_features_in_
    if input_features is None:
        if fitted is not None:
            return np.asarray(fitted, dtype=object)
        return np.asarray([f"x{i}" for i in range(n_features)], dtype=object)
    names = np.asarray(input_features, dtype=object)
    if len(names) != n_features:
        raise ValueError(
            f"input_features should have length equal to number of features "
            f"({n_features}), got {len(names)}"
        )
    if fitted is not None and not np.array_equal(fitted, names):
        raise ValueError("input_features is not equal to feature_names_in_")
    return names


def _rows(data):
    """Every step of every sequence: (total steps, n_features)."""
    return (
        data.X.reshape(-1, data.n_features)
        if isinstance(data, DenseSequences)
        else data.values
    )


def _auto_patch_length(n_timesteps):
    """The power of two nearest ``sqrt(n_timesteps)`` (in log scale), at least 8,
    at most half of ``n_timesteps`` (at least three half-overlapping patches)."""
    nearest = max(8, 2 ** math.floor(math.log2(n_timesteps) / 2 + 0.5))
    return max(1, min(nearest, n_timesteps // 2))


class SequencePatcher(_SequenceTransformerMixin, TransformerMixin, BaseEstimator):
    """Cut sequences into overlapping patches: one step per patch of readings.

    Step ``k`` of the output holds the readings ``k * stride`` to ``k * stride +
    patch_length - 1`` of the input, all features of the first reading, then
    of the second, and so on (``patch_length * n_features`` values). A
    recurrent network then reads ``patch_length / stride`` times fewer steps,
    each a short window it can see shapes in: the idea of PatchTST (Nie et al.,
    2023) in front of an LSTM, which helps on long series, where a gradient
    would otherwise have to cross hundreds of steps.

    Every reading lands in a patch: the last patch starts at most ``stride - 1``
    readings before the end and is completed by repeating the last reading (as
    PatchTST pads), and a sequence shorter than ``patch_length`` becomes one
    patch, padded likewise. A sequence of ``T`` readings gives
    ``max(1, ceil((T - patch_length) / stride) + 1)`` steps.

    Parameters
    ----------
    patch_length : int or "auto", default="auto"
        Readings per patch. "auto" looks at the longest sequence seen in fit,
        ``T``: the power of two nearest ``sqrt(T)`` (in log scale), and at
        least 8: 8 below 128 readings, 16 from 128 to 511, 32 from 512 to
        2,047, and so on; but at most ``T // 2``, so that the longest
        sequence gives at least three steps (below 16 readings: 4 for 8 to 9
        readings, and so on). Patch and recurrence then share the length, and
        sequences of a few dozen readings become a few patches, which a small
        network reads best. The rule was chosen on real data sets of 7 to
        1,460 readings; see the user guide.

    stride : int, default=None
        Readings between the starts of consecutive patches; None is half the
        patch length (at least 1): patches overlap by half.

    Attributes
    ----------
    patch_length_ : int
        Readings per patch: ``patch_length``, or the one "auto" chose.

    stride_ : int
        Readings between the starts of consecutive patches.

    n_features_in_ : int
        Number of features seen during fit: the last axis of X.

    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of the features, when a 2-D X with string column names was passed.

    See Also
    --------
    make_windows : Cut one long series into windows and the values after them.

    Notes
    -----
    Predictions per step (``return_sequences=True``) and streams are of steps:
    after patching, of patches, not of readings.

    References
    ----------
    Nie, Y., Nguyen, N. H., Sinthong, P. and Kalagnanam, J. (2023). A time
    series is worth 64 words: long-term forecasting with transformers. ICLR.

    Examples
    --------
    >>> import numpy as np
    >>> from sklstm.preprocessing import SequencePatcher
    >>> X = np.arange(7.0).reshape(1, 7, 1)
    >>> SequencePatcher(patch_length=4, stride=2).fit_transform(X)[0]
    array([[0., 1., 2., 3.],
           [2., 3., 4., 5.],
           [4., 5., 6., 6.]])
    >>> SequencePatcher().fit(np.zeros((2, 400, 1))).patch_length_
    16
    """

    _parameter_constraints: dict = {
        "patch_length": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "stride": [None, Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, *, patch_length="auto", stride=None):
        self.patch_length = patch_length
        self.stride = stride

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Choose the patch length and stride (a fixed ``patch_length``: record them).

        Parameters
        ----------
        X : {array-like of shape (n_samples, n_timesteps, n_features), \
list of array-like}
            Sequences; a list holds 2-D arrays of any lengths.

        y : None
            Ignored.

        Returns
        -------
        self : object
            The patcher.
        """
        sequences = check_sequences(self, X, reset=True, allow_nan=True)
        if self.patch_length == "auto":
            self.patch_length_ = _auto_patch_length(sequences.max_length)
        else:
            self.patch_length_ = int(self.patch_length)
        self.stride_ = int(self.stride or max(1, self.patch_length_ // 2))
        return self

    def __setstate__(self, state):
        # Patchers fitted before patch_length="auto" kept no fitted length.
        if "n_features_in_" in state and "patch_length_" not in state:
            state["patch_length_"] = int(state["patch_length"])
            state["stride_"] = int(
                state["stride"] or max(1, state["patch_length_"] // 2)
            )
        super().__setstate__(state)

    def n_patches(self, n_timesteps):
        """The number of patches (output steps) of a sequence of that length.

        Parameters
        ----------
        n_timesteps : int or array-like of int
            Input lengths.

        Returns
        -------
        n_patches : int or ndarray of int
            Output lengths.
        """
        check_is_fitted(self)
        overhang = np.maximum(np.asarray(n_timesteps) - self.patch_length_, 0)
        return -(-overhang // self.stride_) + 1

    def transform(self, X):
        """Cut each sequence into patches.

        Parameters
        ----------
        X : {array-like of shape (n_samples, n_timesteps, n_features), \
list of array-like}
            Sequences.

        Returns
        -------
        X_patched : {ndarray of shape (n_samples, n_patches, patch_length * \
n_features), list of ndarray}
            The patches, a list for a list.
        """
        # A 2-D X is sequences of one step: one patch each, kept 2-D.
        return self._map_sequences(X, self._patched)

    def _patched(self, X):
        """Sequences (n, T, F) of one length -> (n, n_patches, P * F)."""
        n_samples, n_steps, n_features = X.shape
        starts = np.arange(self.n_patches(n_steps)) * self.stride_
        # Readings past the end repeat the last one.
        index = np.minimum(starts[:, None] + np.arange(self.patch_length_), n_steps - 1)
        return X[:, index.ravel()].reshape(n_samples, len(starts), -1)

    def get_feature_names_out(self, input_features=None):
        """Names of the output features: each input feature at each reading.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Input feature names; None: ``feature_names_in_`` or ``x0``, ``x1``...

        Returns
        -------
        feature_names_out : ndarray of str objects
            ``<name>_t<j>`` for reading ``j`` of the patch, reading after
            reading.
        """
        check_is_fitted(self)
        names = _feature_names_in(self, input_features)
        return np.asarray(
            [f"{name}_t{j}" for j in range(self.patch_length_) for name in names],
            dtype=object,
        )


@validate_params(
    {
        "series": ["array-like"],
        "window": [Interval(Integral, 1, None, closed="left")],
        "horizon": [Interval(Integral, 1, None, closed="left")],
        "step": [Interval(Integral, 1, None, closed="left")],
        "target": [None, Integral, "array-like"],
        "return_index": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def make_windows(series, window, horizon=1, step=1, target=None, return_index=False):
    """Cut a time series into input windows and the values that follow them.

    Window ``i`` starts at time ``t = i * step``: its input is every feature at the
    ``window`` time steps ``t, ..., t + window - 1``, its target is the target
    column(s) at the next ``horizon`` time steps ``t + window, ...,
    t + window + horizon - 1``. Targets always lie strictly after their window, so
    a model fitted on ``(X, y)`` never sees the values it is asked to predict.

    Parameters
    ----------
    series : array-like of shape (n_times,) or (n_times, n_features)
        The time series, oldest first. A 1-D series has one feature.

    window : int
        Number of past time steps in each input window. Must be >= 1.

    horizon : int, default=1
        Number of future time steps to predict for each window. Must be >= 1.

    step : int, default=1
        Distance in time steps between the starts of consecutive windows. Must
        be >= 1.

    target : int, list of int or None, default=None
        Column(s) of ``series`` to predict. None is column 0 (the series itself
        when it is 1-D). Negative indices count from the last column.

    return_index : bool, default=False
        If True, also return, for each window, the index in ``series`` of its first
        predicted time step.

    Returns
    -------
    X : ndarray of shape (n_windows, window, n_features)
        Input windows, ready for :class:`LSTMRegressor` or :class:`SequenceScaler`.
        ``n_windows = (n_times - window - horizon) // step + 1``; the last time
        steps are left out when they do not fill another step.

    y : ndarray of shape (n_windows, horizon) or (n_windows, horizon * n_targets)
        Targets. For an int (or None) ``target``, ``y[i, h]`` is the value
        ``h + 1`` steps after window ``i``. For a list of ``n_targets`` columns,
        ``y`` is time-major: ``y[i, h * n_targets + j]`` is column ``target[j]``,
        ``h + 1`` steps after window ``i``, so that
        ``y.reshape(n_windows, horizon, n_targets)`` separates time and column.

    index : ndarray of shape (n_windows,)
        Only if ``return_index=True``: ``index[i]`` is the position in ``series``
        of the first predicted step of window ``i``; the targets of window ``i``
        are at positions ``index[i], ..., index[i] + horizon - 1``.

    See Also
    --------
    SequenceScaler : Standardise the windows' features.
    sklearn.model_selection.TimeSeriesSplit : Cross-validation that respects time.

    Notes
    -----
    X and y are copies: the windows overlap in ``series`` but not in memory. The
    dtype is float32 for a float32 series and float64 otherwise. NaN and infinite
    values are rejected.

    With ``step < horizon`` the targets of consecutive windows overlap. When
    cross-validating with :class:`~sklearn.model_selection.TimeSeriesSplit`, pass
    a ``gap`` of ``(horizon - 1) / step`` windows rounded up (``horizon - 1`` for
    ``step=1``) so that no test target was also a training target.

    To forecast past the end of the series, predict on its last window,
    ``series[-window:][None]`` (reshaped to 3-D for a 1-D series).

    Examples
    --------
    >>> import numpy as np
    >>> from sklstm.preprocessing import make_windows
    >>> X, y, index = make_windows(np.arange(8), window=3, horizon=2, step=2,
    ...                            return_index=True)
    >>> X[:, :, 0]
    array([[0., 1., 2.],
           [2., 3., 4.]])
    >>> y
    array([[3., 4.],
           [5., 6.]])
    >>> index
    array([3, 5])
    """
    series_2d = check_series(
        series, window + horizon, f"window={window} plus horizon={horizon}"
    )
    n_times, n_features = series_2d.shape
    targets = check_target_columns(target, n_features)

    n_windows = (n_times - window - horizon) // step + 1
    index = window + step * np.arange(n_windows)
    # sliding_window_view puts the window axis last: (n_windows, n_features, window).
    X = sliding_window_view(series_2d[: n_times - horizon], window, axis=0)[::step]
    # Always a copy: a view would be read-only and share memory with series.
    X = X[:n_windows].transpose(0, 2, 1).copy()
    future = series_2d[window:, targets]
    y = sliding_window_view(future, horizon, axis=0)[::step][:n_windows]
    # (n_windows, n_targets, horizon) -> time-major (n_windows, horizon * n_targets).
    y = y.transpose(0, 2, 1).copy().reshape(n_windows, -1)
    if return_index:
        return X, y, index
    return X, y
