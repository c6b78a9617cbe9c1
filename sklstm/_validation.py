"""Validation at the boundary: the checks every front end calls, one wording each.

The estimators, :class:`~sklstm.SequenceScaler`, :func:`~sklstm.make_windows`,
the streams and the ONNX helpers validate their input here, so that a check and
its message are written once. Inside the package, sequences are then
:class:`~sklstm._sequences.DenseSequences` or ``RaggedSequences`` that nothing
checks again.
"""

import os
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import (
    check_array,
    check_X_y,
    column_or_1d,
    validate_data,
)

from sklstm._kernels._layout import CELLS, gates_per_unit
from sklstm._sequences import DenseSequences, RaggedSequences

#: ``check_sequences``' y when there is none to validate.
NO_Y = "no_validation"

FLOAT_DTYPES = (np.float64, np.float32)

#: The kernels index sizes (units, gate columns, steps, rows) with C ints.
INDEX_LIMIT = 2**31 - 1
#: Copies of the weights that training keeps at once (the weights, gradients,
#: the best and the epoch's start, an optimizer's moments and scratch, L-BFGS'
#: trial point), for the memory check of a new network.
_TRAINING_COPIES = 8

_LAYOUTS = (
    "a 3-D array (n_samples, n_timesteps, n_features), a 2-D array (n_samples, "
    "n_features) or a list of 2-D arrays"
)
_EMPTY = (
    "X is empty: expected at least one sequence (a 3-D array, a 2-D array or a "
    "non-empty list of 2-D arrays (n_timesteps_i, n_features))."
)


# ------------------------------------------------------------------ sequences
def check_sequences(
    owner,
    X,
    *,
    reset,
    dtype=None,
    y=NO_Y,
    y_params=None,
    feature_names=True,
    warn_layout=False,
    allow_nan=False,
):
    """Validate X (and y); return X as DenseSequences or RaggedSequences.

    X is a 3-D array (n_samples, n_steps, n_features), a 2-D array (sequences
    of one step), or a list of 2-D arrays (n_steps_i, n_features) of their own
    lengths (a list of equal lengths comes back dense). ``owner`` is the
    estimator whose ``n_features_in_`` and feature names are set (``reset``) or
    checked. scikit-learn's ``n_features_in_`` check reads axis 1, which for a
    3-D X is the time axis, so it is turned off and done on the last axis.
    ``feature_names=False`` skips the feature-name check (as
    ``StandardScaler.inverse_transform``); ``warn_layout`` warns when X looks
    like aeon's (n_samples, n_channels, n_timesteps) layout; ``allow_nan``
    lets missing readings through (infinity stays refused). A NaN refused names
    the remedy, ``SequenceImputer``.

    Returns ``data``, or ``(data, y)`` when a y is given.
    """
    try:
        return _check_sequences(
            owner, X, reset, dtype, y, y_params, feature_names, warn_layout, allow_nan
        )
    except ValueError as error:
        message = str(error)
        if not (message.startswith("Input X") and "contains NaN" in message):
            raise
        # scikit-learn's first line names the input; the rest of its message
        # points to tabular imputers and models.
        owner_name = owner if isinstance(owner, str) else type(owner).__name__
        raise ValueError(
            f"{message.splitlines()[0]} {owner_name} takes no missing readings: "
            "fill them with sklstm.preprocessing.SequenceImputer in a Pipeline "
            "(with add_indicator=True the model also sees where they were)."
        ) from error


def _check_sequences(
    owner, X, reset, dtype, y, y_params, feature_names, warn_layout, allow_nan
):
    """:func:`check_sequences`, without the hint of its NaN error."""
    check_not_ragged_rows(X)
    validate_y = not (isinstance(y, str) and y == NO_Y)
    y_params = y_params or {}
    finite = "allow-nan" if allow_nan else True
    if is_sequence_list(X):
        values, lengths = check_sequence_list(X, dtype, allow_nan=allow_nan)
        if (lengths == lengths[0]).all():
            data = DenseSequences(values.reshape(len(lengths), lengths[0], -1))
        else:
            data = RaggedSequences(values, lengths)
        # Feature names (a list has none) and the "requires y" check, as for
        # arrays; y is validated against a stand-in X of the right length.
        if feature_names:
            validate_data(owner, X, reset=reset, skip_check_array=True, ensure_2d=False)
        if validate_y:
            _, y = check_X_y(np.zeros((data.n_samples, 1)), y, **y_params)
    else:
        if isinstance(X, (list, tuple)) and len(X) == 0:
            raise ValueError(_EMPTY)
        if len(getattr(X, "shape", ())) == 3:  # before any copy of a strided view
            _check_index_range(X.shape)
        params = dict(
            dtype=FLOAT_DTYPES if dtype is None else dtype,
            allow_nd=True,
            ensure_2d=False,
            order="C",
            ensure_all_finite=finite,
        )
        if not feature_names:
            X = check_array(X, **params)
        elif validate_y:
            X, y = validate_data(owner, X, y, reset=reset, **params, **y_params)
        else:
            X = validate_data(owner, X, reset=reset, **params)
        input_ndim = X.ndim
        if X.ndim == 2:
            X = X[:, None, :]
        elif X.ndim != 3:
            raise ValueError(
                f"Expected {_LAYOUTS}, got a {X.ndim}-D array of shape {X.shape} "
                "instead. Reshape your data: a univariate series as X[:, :, None], "
                "a single sequence as X[None]."
            )
        elif warn_layout and X.shape[1] == 1 and X.shape[2] >= 8:
            warnings.warn(
                f"X has shape {X.shape}: sequences of 1 time step of "
                f"{X.shape[2]} features. If it is laid out (n_samples, "
                "n_channels, n_timesteps), as aeon and sktime give "
                "series, pass X.transpose(0, 2, 1): sklstm takes (n_samples, "
                "n_timesteps, n_features).",
                UserWarning,
                stacklevel=9,
            )
        n_samples, n_steps, n_features = X.shape
        _check_index_range(X.shape)
        if n_steps == 0 or n_features == 0:
            raise ValueError(
                f"Found array with shape {X.shape}: {n_steps} time step(s) and "
                f"{n_features} feature(s), while a minimum of 1 of each is required."
            )
        data = DenseSequences(X, input_ndim)
    if reset:
        owner.n_features_in_ = data.n_features
    else:
        check_n_features(owner, data.n_features)
    return (data, y) if validate_y else data


def check_data(owner, X, y, *, reset, dtype, y_params, per_step=None):
    """Validated sequences and targets of an estimator: ``(data, y)``.

    ``per_step`` is None for a target per sequence, else ``(label_ndim, what)``
    of :func:`check_step_targets` for a target per step.
    """
    if per_step is None:
        return check_sequences(
            owner,
            X,
            reset=reset,
            dtype=dtype,
            y=y,
            y_params=y_params,
            warn_layout=reset,
        )
    data = check_sequences(owner, X, reset=reset, dtype=dtype, warn_layout=reset)
    label_ndim, what = per_step
    y = check_step_targets(
        data,
        y,
        type(owner).__name__,
        label_ndim,
        what,
        numeric=y_params.get("y_numeric", False),
    )
    return data, y


def _check_index_range(shape, name="X"):
    """Refuse an array with more sequences, steps or features than the kernels
    index (a stride-0 view can claim any number without memory)."""
    for axis, size in zip(("sequences", "time steps", "features"), shape):
        if size > INDEX_LIMIT:
            raise ValueError(
                f"{name} has {size} {axis} (shape {shape}); the kernels index at "
                f"most {INDEX_LIMIT}. Cut long sequences into windows "
                "(sklstm.make_windows), or predict in batches."
            )


def check_n_features(owner, n_features, expected=None, name="X"):
    """Refuse input of another width than the fitted one, in scikit-learn's words."""
    expected = owner.n_features_in_ if expected is None else expected
    if n_features != expected:
        what = owner if isinstance(owner, str) else type(owner).__name__
        raise ValueError(
            f"{name} has {n_features} features, but {what} is expecting "
            f"{expected} features as input."
        )


def check_chunk(X, owner_name, n_features, n_streams, dtype):
    """A stream's chunk as a C-contiguous (n_streams, n_steps, n_features) array
    of ``dtype``, or the error that names what is wrong with it.

    ``n_streams`` is None before the first chunk, which then fixes it.
    """
    X = np.asarray(X)
    if X.dtype.kind not in "biuf":
        raise ValueError(
            f"A chunk must hold real numbers, got an array of dtype {X.dtype}."
        )
    if X.ndim == 2:
        X = X[:, None, :]
    elif X.ndim != 3:
        raise ValueError(
            f"A chunk is (n_streams, n_steps, n_features), or (n_streams, "
            f"n_features) for one step; got a {X.ndim}-D array of shape "
            f"{X.shape}."
        )
    check_n_features(owner_name, X.shape[2], n_features)
    if n_streams is None:
        if X.shape[0] < 1:
            raise ValueError("A chunk needs at least one stream.")
    elif X.shape[0] != n_streams:
        raise ValueError(
            f"The chunk has {X.shape[0]} streams, but this stream object carries "
            f"{n_streams}: every chunk holds the next steps of the same "
            "streams, in the same order. Call reset() to start other streams."
        )
    if X.shape[1] < 1:
        raise ValueError("A chunk needs at least one time step.")
    _check_index_range(X.shape, "The chunk")
    return np.ascontiguousarray(X, dtype=dtype)


def check_magnitude(data, name="X"):
    """Refuse finite values so large that the network's products would overflow."""
    values = data.X if isinstance(data, DenseSequences) else data.values
    limit = np.sqrt(np.finfo(values.dtype).max)
    largest = max(float(values.max()), -float(values.min()))
    if largest > limit:
        raise ValueError(
            f"{name} has values up to {largest:.3g} in magnitude, too large to train "
            f"on in {values.dtype} (the LSTM's products and gradients would "
            f"overflow; at most {limit:.3g}). Standardise each feature, e.g. with "
            "sklstm.SequenceScaler in a Pipeline."
        )


def is_sequence_list(X):
    """Whether X is a list of sequences rather than one array-like.

    A list or tuple holding a 2-D (or higher) array-like, or a 1-D object array
    (what scikit-learn's splitters make of such a list), is a list of sequences; a
    list of rows or of numbers is an ordinary array-like.
    """
    if isinstance(X, np.ndarray):
        return X.dtype == object and X.ndim == 1 and len(X) > 0
    if not isinstance(X, (list, tuple)):
        return False
    for x in X:
        try:
            if np.ndim(x) >= 2:
                return True
        except ValueError:  # a ragged nested list: numpy cannot tell its ndim
            continue
    return False


def check_not_ragged_rows(X):
    """Refuse inputs that are no sequences at all, naming what was passed.

    None, a dict, a string or a set would otherwise fail inside NumPy with a
    message about NaN or float conversion; a list of 1-D sequences of different
    lengths with NumPy's "inhomogeneous shape", which names neither the problem
    nor the layout sklstm wants.
    """
    if X is None or (
        isinstance(X, (dict, str, bytes, set, frozenset)) and not hasattr(X, "tocsr")
    ):  # (scipy's dok sparse format is a dict: scikit-learn refuses it by name)
        raise TypeError(f"X must be {_LAYOUTS}, got {type(X).__name__}.")
    if not isinstance(X, (list, tuple)) or len(X) < 2:
        return
    lengths = set()
    for x in X:
        if isinstance(x, (str, bytes)) or not hasattr(x, "__len__"):
            return
        try:
            if np.ndim(x) != 1:
                return
        except ValueError:
            return
        lengths.add(len(x))
    if len(lengths) > 1:
        raise ValueError(
            f"X is a list of {len(X)} 1-D sequences of different lengths "
            f"({min(lengths)} to {max(lengths)}). Sequences of their own lengths go "
            "in as a list of 2-D arrays (n_timesteps_i, n_features): for univariate "
            "sequences, [np.asarray(x, dtype=float)[:, None] for x in X]."
        )


def check_sequence_list(X, dtype=None, allow_nan=False):
    """Validate a list of 2-D sequences; return them concatenated, and their lengths.

    Every sequence must be a finite numeric 2-D array ``(n_timesteps_i,
    n_features)`` with at least one step, all with the same ``n_features``. The
    values come back as one ``(sum of lengths, n_features)`` array of ``dtype``:
    by default float32 if every sequence is float32, else float64.
    """
    if len(X) == 0:
        raise ValueError(_EMPTY)
    sequences = []
    for i, x in enumerate(X):
        try:
            sequences.append(np.asarray(x))
        except ValueError as error:  # a nested list of rows of different lengths
            raise ValueError(f"X[{i}] is not a 2-D array: {error}") from error
    for i, x in enumerate(sequences):
        if x.ndim == 0:
            raise ValueError(
                f"X[{i}] is {X[i]!r}, not a sequence: each sequence in a list must "
                "be a 2-D array (n_timesteps_i, n_features)."
            )
        if x.ndim != 2:
            raise ValueError(
                f"Each sequence in a list must be a 2-D array (n_timesteps_i, "
                f"n_features); X[{i}] has shape {x.shape}. A univariate sequence goes "
                f"in as x[:, None]."
            )
        if 0 in x.shape:
            raise ValueError(
                f"X[{i}] has shape {x.shape}: each sequence needs at least 1 time "
                f"step and 1 feature."
            )
        if x.shape[1] != sequences[0].shape[1]:
            raise ValueError(
                f"All sequences in a list must have the same number of features: "
                f"X[0] has {sequences[0].shape[1]}, X[{i}] has {x.shape[1]}. Each "
                f"sequence is (n_timesteps_i, n_features); sequences of aeon or "
                f"sktime laid out (n_channels, n_timesteps_i) go in as "
                f"[x.T for x in X]."
            )
    if dtype is None:
        all_float32 = all(x.dtype == np.float32 for x in sequences)
        dtype = np.float32 if all_float32 else np.float64
    lengths = np.array([len(x) for x in sequences], dtype=np.intp)
    if all(x.dtype.kind in "biuf" for x in sequences):
        # Numbers join exactly: one concatenation, checked once.
        try:
            return check_array(
                np.concatenate(sequences),
                dtype=dtype,
                input_name="X",
                ensure_all_finite="allow-nan" if allow_nan else True,
            ), lengths
        except ValueError:
            pass  # NaN or infinity: the loop below names the sequence
    # One sequence at a time: this names the one at fault (check_array names its
    # input in its NaN and infinity messages only), and converts each on its own,
    # since NumPy joins numbers with strings or objects as strings ("True", or
    # float32 digits read back as float64).
    checked = []
    for i, x in enumerate(sequences):
        try:
            checked.append(
                check_array(
                    x,
                    dtype=dtype,
                    input_name=f"X[{i}]",
                    ensure_all_finite="allow-nan" if allow_nan else True,
                )
            )
        except (TypeError, ValueError) as error:
            if f"X[{i}]" in str(error):
                raise
            kind = ValueError if isinstance(error, ValueError) else TypeError
            raise kind(f"X[{i}]: {error}") from error
    return np.concatenate(checked), lengths


def check_series(series, min_times, needed_by):
    """A time series as a 2-D float array (n_times, n_features), finite, with at
    least ``min_times`` steps (``needed_by`` says what needs them)."""
    series = check_array(
        series,
        dtype=FLOAT_DTYPES,
        ensure_2d=False,
        allow_nd=True,
        ensure_min_samples=0,
        input_name="series",
    )
    if series.ndim not in (1, 2):
        raise ValueError(
            f"series must be 1-D (n_times,) or 2-D (n_times, n_features), got a "
            f"{series.ndim}-D array of shape {series.shape} instead."
        )
    if series.shape[0] < min_times:
        raise ValueError(
            f"series has {series.shape[0]} time steps; {needed_by} needs at "
            f"least {min_times}."
        )
    return series.reshape(series.shape[0], -1)


def check_loaded_state(owner_name, positive=(), **arrays):
    """Refuse a loaded model whose fitted numbers are not finite.

    A pickle or skops file whose weights or statistics hold NaN or infinity
    (damaged, or tampered with) would load and answer NaN or a wrong class;
    ``positive`` names the arrays that must also be > 0 (scales).
    """
    for name, values in arrays.items():
        if values is None:
            continue
        values = np.asarray(values)
        if values.dtype.kind not in "biuf" or not np.isfinite(values).all():
            raise ValueError(
                f"The loaded {owner_name} has non-finite values in {name}: the "
                "file is damaged or was altered. Refit the model, or load an "
                "intact copy."
            )
        if name in positive and not (values > 0).all():
            raise ValueError(
                f"The loaded {owner_name} has values <= 0 in {name}, which must "
                "be positive: the file is damaged or was altered."
            )


# -------------------------------------------------------------------- targets
def _patched_hint(fewer_steps_than_targets):
    """What to say when X has fewer steps than y: it may have been patched."""
    if not fewer_steps_than_targets:
        return ""
    return (
        " If X went through a SequencePatcher, its steps are patches of "
        "readings: per-reading targets need X unpatched."
    )


def check_step_targets(data, y, owner_name, label_ndim, what, numeric):
    """Per-step targets checked against their sequences' lengths.

    ``label_ndim`` is the most axes a step's target may have (1: a label, 2: a
    row of values), ``what`` says what a step holds. Returns y as an array
    ``(n_samples, n_timesteps, ...)`` for sequences of one length, else as a
    list of arrays ``(n_timesteps_i, ...)``.
    """
    if y is None:
        raise ValueError(
            f"{owner_name} requires y to be passed, but the target y is None."
        )
    n_samples, lengths = data.n_samples, data.lengths
    per_step = "a target per time step of each sequence"
    if not isinstance(y, (list, tuple)):
        y = np.asarray(y)
        if y.dtype == object and y.ndim == 1:
            y = list(y)
    if isinstance(y, np.ndarray):
        if y.ndim < 2 or y.shape[:2] != (n_samples, data.max_length):
            raise ValueError(
                f"y has shape {y.shape}, but with return_sequences=True it "
                f"holds {per_step}: shape ({n_samples}, {data.max_length}"
                f"{'' if label_ndim == 1 else '[, n_outputs]'}) for X "
                f"of {n_samples} sequences of {data.max_length} steps."
                + _patched_hint(y.ndim >= 2 and y.shape[1] > data.max_length)
            )
        if isinstance(data, RaggedSequences):
            y = list(y)  # each row then checked against its sequence
    if isinstance(y, (list, tuple)):
        if len(y) != n_samples:
            raise ValueError(
                f"y has targets for {len(y)} sequences, but X has {n_samples}; "
                f"with return_sequences=True, y holds {per_step}."
            )
        y = [np.asarray(y_i) for y_i in y]
        for i, (y_i, length) in enumerate(zip(y, lengths)):
            if y_i.ndim == 0 or y_i.shape[0] != length:
                found = "no time axis" if y_i.ndim == 0 else f"{y_i.shape[0]} steps"
                raise ValueError(
                    f"y[{i}] has {found}, but sequence {i} of X "
                    f"has {length} steps: with return_sequences=True, y holds "
                    f"{per_step}."
                    + _patched_hint(y_i.ndim > 0 and y_i.shape[0] > length)
                )
        if len({y_i.shape[1:] for y_i in y}) > 1:
            raise ValueError(
                "The per-step targets of the sequences have different shapes "
                f"beyond the time axis: {sorted({y_i.shape[1:] for y_i in y})}."
            )
        # Joined, numbers and strings would become strings without a word.
        textual = [y_i.dtype.kind in "USO" for y_i in y]
        if any(textual) and not all(textual):
            i, j = textual.index(False), textual.index(True)
            raise ValueError(
                f"y mixes numeric and string labels: y[{i}] holds {y[i].dtype} "
                f"values, y[{j}] {y[j].dtype} ones; every label must be of one "
                "type, e.g. all strings."
            )
        steps = np.concatenate(y) if len(y) > 1 else y[0]
    else:
        steps = y.reshape(n_samples * data.max_length, *y.shape[2:])
    if steps.ndim > label_ndim:
        raise ValueError(
            f"{owner_name} with return_sequences=True takes {what} for each step; "
            f"got targets of shape {steps.shape[1:]} at each step."
        )
    # A regressor's steps without a target are NaN: they carry no loss.
    steps = check_array(
        steps,
        ensure_2d=False,
        dtype="numeric" if numeric else None,
        input_name="y",
        ensure_all_finite="allow-nan" if numeric else True,
    )
    return data.split_steps(steps)


def check_target_columns(target, n_features):
    """Return the target columns as a non-empty 1-D array of non-negative ints."""
    if target is None:
        return np.array([0])
    scalar = isinstance(target, Integral) and not isinstance(target, bool)
    columns = np.asarray(target).reshape(-1) if scalar else np.asarray(target)
    if columns.ndim != 1 or columns.size == 0 or columns.dtype.kind not in "iu":
        raise ValueError(
            f"target must be an int or a non-empty list of ints, got {target!r}."
        )
    bad = (columns < -n_features) | (columns >= n_features)
    if bad.any():
        raise ValueError(
            f"target column {columns[bad][0]} is out of range for a series with "
            f"{n_features} feature(s) (valid: {-n_features} to {n_features - 1})."
        )
    return columns % n_features


def concatenate_steps(y):
    """Per-step targets as :func:`check_step_targets` gives them -> rows of steps."""
    if isinstance(y, np.ndarray):
        return y.reshape(-1, *y.shape[2:])
    return np.concatenate(y)


def cast_targets(Y, dtype):
    """Encoded targets in the training dtype, refusing values it cannot hold."""
    with np.errstate(over="ignore"):
        cast = Y.astype(dtype, copy=False)
    if not np.isfinite(cast).all():
        raise ValueError(
            f"y has values too large for {np.dtype(dtype)}, the dtype X is trained "
            "in: pass X as float64, or scale y."
        )
    return cast


def check_class_labels(y):
    """A classifier's y, refusing soft targets; returns it and whether multilabel.

    Labels in one column are binary or multiclass: no second pass over y to
    learn what the check just learnt.
    """
    if y.ndim == 2 and y.shape[1] == 1:
        y = column_or_1d(y, warn=True)
    if y.ndim == 1 and y.dtype.kind in "biuU":
        # Booleans, integers or strings in one column are binary or multiclass:
        # scikit-learn's check would only count the classes to say so, a pass
        # over y in every fit (every epoch, when epochs are warm-started fits).
        return y, False
    if y.dtype == object:
        _check_label_types(y.ravel())
    _check_not_probabilities(y)
    check_classification_targets(y)
    multilabel = y.ndim == 2 and type_of_target(y).startswith("multilabel")
    return y, multilabel


def _check_label_types(labels):
    """Refuse missing labels and labels of mixed kinds, naming the first of each.

    NumPy would sort them for the classes with "'<' not supported between
    instances of 'NoneType' and 'str'", and scikit-learn call them "unknown",
    a regression target.
    """
    missing = [i for i, label in enumerate(labels) if label is None]
    if missing:
        raise ValueError(
            f"y has no label (None) at {len(missing)} position(s), the first at "
            f"index {missing[0]}: every sample (every step, per step) needs a "
            "label. Drop those samples, or give them a label of their own."
        )
    kinds = {}
    for i, label in enumerate(labels):
        kind = "string" if isinstance(label, (str, bytes, np.str_)) else "number"
        kinds.setdefault(kind, (i, label))
    if len(kinds) > 1:
        (i, a), (j, b) = kinds["number"], kinds["string"]
        raise ValueError(
            f"y mixes numeric and string labels (y[{i}] = {a!r}, y[{j}] = {b!r}): "
            "every label must be of one type, e.g. all strings."
        )


def _check_not_probabilities(y):
    """Refuse soft targets (rows of class probabilities) with the fix."""
    if not (y.ndim == 2 and y.shape[1] > 1 and y.dtype.kind == "f"):
        return
    with np.errstate(invalid="ignore"):
        in_unit = np.isfinite(y).all() and (y >= 0).all() and (y <= 1).all()
    if in_unit and not np.isin(y, (0, 1)).all() and np.allclose(y.sum(axis=1), 1):
        raise ValueError(
            "y looks like class probabilities (rows of values in [0, 1] summing to "
            "1); LSTMClassifier takes class labels: pass y.argmax(axis=1) for the "
            "most probable class of each row (a label indicator matrix of 0s and "
            "1s is a multilabel target)."
        )


class OneHotTargetWarning(UserWarning):
    """A classifier's y is a one-hot matrix: every row holds exactly one 1.

    Such a y is fitted as it is, a multilabel problem with an independent
    logistic output per column, which is rarely what a Keras user's one-hot
    labels mean: pass ``y.argmax(axis=1)`` for one softmax over the classes. If
    the labels are meant to be independent, ignore this warning with
    ``warnings.filterwarnings("ignore", category=OneHotTargetWarning)``.
    """


def warn_if_one_hot(y):
    """Warn when a label indicator y has exactly one label in every row."""
    counts = np.asarray(y.sum(axis=1)).ravel()
    if y.shape[1] > 1 and (counts == 1).all():
        warnings.warn(
            f"y is a one-hot matrix ({y.shape[1]} columns, exactly one 1 per row): it "
            "is fitted as multilabel targets, an independent logistic output per "
            "column, not one softmax over the classes. For classes, pass "
            "y.argmax(axis=1) (or the labels themselves). If the labels are meant "
            "to be independent, silence this with warnings.filterwarnings('ignore', "
            "category=sklstm.OneHotTargetWarning).",
            OneHotTargetWarning,
            stacklevel=7,
        )


# -------------------------------------------------------------------- weights
def check_sample_weight(sample_weight, n_samples, name="sample_weight"):
    """None, or sample weights as a 1-D float64 array, finite and non-negative."""
    if sample_weight is None:
        return None
    sample_weight = np.asarray(sample_weight)
    if sample_weight.ndim == 0:
        sample_weight = np.full(n_samples, sample_weight)
    if sample_weight.shape != (n_samples,):
        raise ValueError(
            f"{name}.shape == {sample_weight.shape}, expected ({n_samples},)!"
        )
    if sample_weight.dtype.kind not in "biuf":
        raise ValueError(
            f"{name} must be real numbers, got dtype {sample_weight.dtype}."
        )
    # float64 whatever X's dtype: weights of any finite size are scaled for
    # training (scaled_weights), not overflowed by a cast to float32.
    sample_weight = sample_weight.astype(np.float64)
    if not np.isfinite(sample_weight).all():
        raise ValueError(f"{name} must be finite; got NaN or infinity.")
    if (sample_weight < 0).any():
        raise ValueError(f"{name} must be non-negative.")
    if not sample_weight.sum() > 0:
        raise ValueError(f"{name} sums to zero: no sample would count.")
    return sample_weight


def class_weights(
    class_weight, y, sample_weight, incremental, name="sample_weight", counts=None
):
    """Sample weights times those ``class_weight`` implies for labels ``y``.

    ``counts`` is how many samples each stands for (repeats merged into one):
    "balanced" counts the classes' samples, not their weights.
    """
    if class_weight is None:
        return sample_weight
    if isinstance(class_weight, dict):
        for label, weight in class_weight.items():
            if not (
                isinstance(weight, Real)
                and not isinstance(weight, bool)
                and np.isfinite(weight)
                and weight >= 0
            ):
                raise ValueError(
                    f"class_weight[{label!r}] = {weight!r}: class weights must be "
                    "finite non-negative numbers."
                )
    if incremental and class_weight == "balanced":
        raise ValueError(
            "class_weight='balanced' is not supported by partial_fit: the class "
            "frequencies of one chunk are not those of the data set. Pass a dict "
            "of class weights instead."
        )
    if counts is None:
        weights = compute_sample_weight(class_weight, y)
    else:  # each sample's class weight, as if its repeats were there
        repeated = compute_sample_weight(class_weight, np.repeat(y, counts, axis=0))
        weights = repeated[np.cumsum(counts) - counts]
    weights = np.asarray(weights, dtype=np.float64)
    if sample_weight is not None:
        weights = weights * sample_weight
    if not weights.sum() > 0:
        raise ValueError(
            f"class_weight={class_weight!r} times {name} gives every sample weight "
            "0: no sample would count. Give some class present in y a positive "
            "weight."
        )
    return weights


# ----------------------------------------------------------------- parameters
#: The estimators' parameters, as scikit-learn's ``_param_validation`` checks them
#: (each estimator adds its own).
PARAMETER_CONSTRAINTS = {
    "hidden_layer_sizes": [
        "array-like",
        Interval(Integral, 1, None, closed="left"),
    ],
    "solver": [StrOptions({"adam", "rmsprop", "sgd", "lbfgs"})],
    "alpha": [Interval(Real, 0, None, closed="left")],
    "batch_size": [
        StrOptions({"auto"}),
        Interval(Integral, 1, None, closed="left"),
    ],
    "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
    "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
    "power_t": [Interval(Real, 0, None, closed="left")],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "shuffle": ["boolean"],
    "random_state": ["random_state"],
    "tol": [Interval(Real, 0, None, closed="left")],
    "verbose": ["verbose"],
    "warm_start": ["boolean"],
    "momentum": [Interval(Real, 0, 1, closed="both")],
    "nesterovs_momentum": ["boolean"],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
    "beta_1": [Interval(Real, 0, 1, closed="left")],
    "beta_2": [Interval(Real, 0, 1, closed="left")],
    "epsilon": [Interval(Real, 0, None, closed="neither")],
    "rho": [Interval(Real, 0, 1, closed="left")],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
    "max_grad_norm": [None, Interval(Real, 0, None, closed="neither")],
    "ema_momentum": [None, Interval(Real, 0, 1, closed="left")],
    "max_fun": [Interval(Integral, 1, None, closed="left")],
    "bidirectional": ["boolean"],
    "return_sequences": ["boolean"],
    "cell": [StrOptions(set(CELLS))],
    "input_projection": [
        None,
        StrOptions({"auto"}),
        Interval(Integral, 1, None, closed="left"),
    ],
    "dropout": [Interval(Real, 0, 1, closed="left")],
    "recurrent_dropout": [Interval(Real, 0, 1, closed="left")],
    "scoring": [StrOptions({"loss"}), str, callable, None],
}


#: The width of ``input_projection="auto"``, unless the input is wider.
AUTO_PROJECTION_WIDTH = 128


def projection_width(input_projection, n_features):
    """The width of the linear layer in front of the first recurrent layer
    that ``input_projection`` asks for: 0 for none; "auto" is
    AUTO_PROJECTION_WIDTH, or ``n_features`` when that is more (the layer
    then never narrows the input)."""
    if input_projection is None:
        return 0
    if input_projection == "auto":
        return max(AUTO_PROJECTION_WIDTH, int(n_features))
    return int(input_projection)


def check_hidden_layer_sizes(sizes):
    """``hidden_layer_sizes`` as a tuple of positive ints."""
    original = sizes
    if isinstance(sizes, Integral):
        sizes = [sizes]
    sizes = list(sizes)
    if not sizes or not all(
        isinstance(s, Integral) and not isinstance(s, bool) and s > 0 for s in sizes
    ):
        raise ValueError(
            "hidden_layer_sizes must be a positive int or a non-empty sequence "
            f"of positive ints, got {original!r}."
        )
    return tuple(int(s) for s in sizes)


def check_network_size(
    n_features, layer_sizes, n_outputs, cell, directions, dtype, projection=0
):
    """Refuse a network whose weight matrices the kernels cannot index, or whose
    weights training could not hold in this machine's memory.

    Checked before anything is allocated: a layer of 2**30 units would
    otherwise wrap the kernels' C ints, or be killed by the system for memory.
    With ``projection``, also the network that trains: a linear layer of that
    width in front of the layers.
    """
    if projection and n_features * projection > INDEX_LIMIT:
        raise ValueError(
            f"input_projection={projection} on {n_features} features makes a "
            f"matrix of {n_features * projection} values; the kernels index at "
            f"most {INDEX_LIMIT}."
        )
    # (weights in front of the layers, the first layer's inputs) of each form.
    forms = [(0, n_features)]
    if projection:
        forms.append(((n_features + 1) * projection, projection))
    gates = gates_per_unit(cell)
    for n_params, n_inputs in forms:
        for layer, units in enumerate(layer_sizes):
            largest = max(n_inputs, units) * gates * units
            if largest > INDEX_LIMIT:
                raise ValueError(
                    f"hidden_layer_sizes={tuple(layer_sizes)}: layer {layer} has "
                    f"{units} units on {n_inputs} inputs, a weight matrix of "
                    f"{largest} values; the kernels index at most {INDEX_LIMIT}."
                )
            n_params += directions * (n_inputs + units + 2) * gates * units
            n_inputs = directions * units
        n_params += (n_inputs + 1) * n_outputs
        needed = n_params * np.dtype(dtype).itemsize * _TRAINING_COPIES
        memory = _physical_memory()
        if memory is not None and needed > memory:
            raise ValueError(
                f"hidden_layer_sizes={tuple(layer_sizes)} makes a network of "
                f"{n_params} weights, which training needs about "
                f"{needed / 2**30:.1f} GiB for, more than this machine's "
                f"{memory / 2**30:.1f} GiB of memory."
            )


def _physical_memory():
    """Bytes of physical memory, or None where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_validation_data(X_val, y_val, sample_weight_val):
    """Whether validation data was passed, refusing half of it."""
    given = X_val is not None or y_val is not None
    if given and (X_val is None or y_val is None):
        raise ValueError(
            f"{'X_val' if X_val is not None else 'y_val'} is provided, but "
            f"{'y_val' if X_val is not None else 'X_val'} was not provided."
        )
    if sample_weight_val is not None and not given:
        raise ValueError("sample_weight_val is provided without X_val and y_val.")
    return given


def check_parameter_combinations(estimator, validation_data):
    """Refuse combinations of parameters that cannot work together."""
    solver = estimator.solver
    if solver == "lbfgs" and (estimator.dropout or estimator.recurrent_dropout):
        raise ValueError(
            "dropout and recurrent_dropout need a minibatch solver "
            "('adam', 'rmsprop' or 'sgd'): they make the loss random, "
            "which L-BFGS's line search cannot follow."
        )
    if solver == "lbfgs" and estimator.learning_rate != "constant":
        raise ValueError(
            f"learning_rate={estimator.learning_rate!r} schedules the steps of a "
            "minibatch solver ('adam', 'rmsprop' or 'sgd'); lbfgs chooses its own "
            "by line search. Use learning_rate='constant' with lbfgs."
        )
    scoring = estimator.scoring
    if (
        estimator.return_sequences
        and estimator.early_stopping
        and isinstance(scoring, str)
        and scoring != "loss"
    ):
        raise ValueError(
            f"scoring={scoring!r} names a scikit-learn metric, which takes "
            "one target per sample; with return_sequences=True the targets are "
            "per step. Use scoring='loss', None (the estimator's score: accuracy "
            "or R^2 over every step) or a callable scorer(estimator, X, y)."
        )
    if validation_data and not estimator.early_stopping:
        raise ValueError(
            "X_val and y_val are passed to fit while early_stopping is False: "
            "they are the validation data of early stopping. Set "
            "early_stopping=True to use them."
        )
    if validation_data and solver == "lbfgs":
        raise ValueError(
            "X_val and y_val are the validation data of early stopping, which "
            "needs a minibatch solver ('adam', 'rmsprop' or 'sgd'), not lbfgs."
        )


def check_same_structure(estimator, fitted, layer_sizes):
    """Refuse a warm start or partial_fit with another network's structure.

    ``fitted`` maps each structural parameter's name to its fitted value.
    """
    if layer_sizes != fitted["hidden_layer_sizes"]:
        raise ValueError(
            f"hidden_layer_sizes={estimator.hidden_layer_sizes!r} differs from the "
            f"fitted network's {fitted['hidden_layer_sizes']}; refit with "
            "warm_start=False."
        )
    for name, value in fitted.items():
        given = getattr(estimator, name)
        if name == "hidden_layer_sizes":
            continue
        if (bool(given) if isinstance(value, bool) else given) != value:
            raise ValueError(
                f"{name}={given!r} differs from the fitted network; refit with "
                "warm_start=False."
            )
