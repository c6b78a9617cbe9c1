"""LSTMClassifier and LSTMRegressor: validation, training loop, fitted state."""

import copy
import inspect
import warnings
from abc import ABC, abstractmethod
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context
from sklearn.metrics import accuracy_score, check_scoring, r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, gen_batches
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import (
    _check_partial_fit_first_call,
    check_classification_targets,
    type_of_target,
)
from sklearn.utils.validation import (
    check_array,
    check_is_fitted,
    check_X_y,
    column_or_1d,
    validate_data,
)

from sklstm._kernels._array import all_finite
from sklstm._kernels._layout import CELLS, gates_per_unit
from sklstm._network import (
    activate,
    aligned_params,
    network_for,
    pooled_buffer,
    running_steps,
    within_probability_bounds,
)
from sklstm._optimizers import AdamOptimizer, RMSpropOptimizer, SGDOptimizer
from sklstm._sequences import (
    DenseSequences,
    RaggedSequences,
    StepTargets,
    check_not_ragged_rows,
    check_sequence_list,
    is_sequence_list,
    step_rows,
)
from sklstm._stream import LSTMClassifierStream, LSTMStream
from sklstm._threads import kernel_threads
from sklstm._training import (
    Checkpoint,
    Minibatches,
    fit_lbfgs,
    run_epochs,
    scaled_weights,
    sequence_keys,
    validation_split,
)
from sklstm._version import __version__

# Predictions and full-batch (lbfgs) evaluations run in chunks of sequences: about
# _CHUNK_SEQUENCES at a time (measured fastest: the per-step GEMMs have rows enough
# and the buffers stay near the caches), fewer when a buffer would exceed
# _CHUNK_ELEMENTS, which bounds their memory on a large X.
_CHUNK_SEQUENCES = 512
_CHUNK_ELEMENTS = 1 << 24
# A prediction's work space above glibc's largest mmap threshold (32 MiB) is mapped
# afresh at every call, and on the VMs this project is measured on faulting its
# pages in cost 20% of a 10,000-sequence prediction of the medium model (600 ms
# against 490 after PyTorch's calls had churned the heap; the same at 84-160
# sequences a chunk as at 512 when alone). Chunks keep it under _CHUNK_WORK_BYTES,
# but not below _MIN_CHUNK_SEQUENCES, whose rows keep the per-step products
# efficient.
_CHUNK_WORK_BYTES = 16 << 20
_MIN_CHUNK_SEQUENCES = 64

# batch_size="auto": Keras' 32 sequences a minibatch on small data sets, which then
# get enough optimizer steps per epoch, growing to MLP's 200 on large ones, where
# each epoch has 50 steps or more and larger minibatches run faster.
_AUTO_BATCH_SMALL = 32
_AUTO_BATCH_LARGE = 200
_AUTO_BATCH_STEPS = 50


def _auto_batch_size(n_samples):
    """The minibatch size of batch_size="auto" for n_samples sequences."""
    size = min(
        _AUTO_BATCH_LARGE, max(_AUTO_BATCH_SMALL, n_samples // _AUTO_BATCH_STEPS)
    )
    return min(size, n_samples)


def _check_magnitude(data, name="X"):
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


def _target_scaling(Y, sample_weight=None):
    """(Weighted) mean and scale of each target column, to standardise them.

    Computed on values divided by their largest magnitude, so that targets of any
    finite size give finite statistics; a constant column keeps scale 1. Weighted
    as the loss is, so that a weight of 2 is a repeated sample here too.
    """
    largest = np.abs(Y).max(axis=0)
    largest[largest == 0] = 1
    unit = Y / largest
    mean = np.average(unit, axis=0, weights=sample_weight)
    std = np.sqrt(np.average((unit - mean) ** 2, axis=0, weights=sample_weight))
    constant = std <= 10 * np.finfo(np.float64).eps * np.maximum(np.abs(mean), 1e-300)
    std[constant] = 1.0
    return mean * largest, std * largest


def _concatenate_steps(y):
    """Per-step targets as ``_check_step_targets`` gives them -> rows of steps."""
    if isinstance(y, np.ndarray):
        return y.reshape(-1, *y.shape[2:])
    return np.concatenate(y)


def _cast_targets(Y, dtype):
    """Encoded targets in the training dtype, refusing values it cannot hold."""
    with np.errstate(over="ignore"):
        cast = Y.astype(dtype, copy=False)
    if not np.isfinite(cast).all():
        raise ValueError(
            f"y has values too large for {np.dtype(dtype)}, the dtype X is trained "
            "in: pass X as float64, or scale y."
        )
    return cast


_COMMON_PARAMETERS_DOC = """
    hidden_layer_sizes : int or array-like of int, default=(32,)
        Units of each stacked LSTM layer, bottom first. Every layer but the last
        returns its whole output sequence to the next one (Keras'
        ``return_sequences=True``); the last one passes its state at the final
        time step to the dense output layer.

    solver : {"adam", "rmsprop", "sgd", "lbfgs"}, default="adam"
        Optimizer. "rmsprop" is Keras' RMSprop (uses ``rho`` and ``epsilon``),
        "adam" and "sgd" are scikit-learn's MLP minibatch ones, "lbfgs" is
        full-batch L-BFGS (scipy's L-BFGS-B): deterministic and often the best
        choice for small data sets.

    alpha : float, default=<alpha>
        L2 penalty on the input, recurrent and output kernels (not the biases),
        scaled as in scikit-learn's MLP: ``alpha / (2 * batch)`` times the squared
        norm is added to each minibatch's mean loss. The classifier's default is
        MLP's 0.0001; the regressor's is 0.3, because on small real regression
        data sets a network fits the noise of its targets long before it stops
        (measured in ``benchmarks/bench_real_data.py``).

    batch_size : int or "auto", default="auto"
        Sequences per minibatch. "auto" is Keras' 32 up to 1,600 samples, then
        ``n_samples // 50`` (50 steps an epoch) up to MLP's 200, so that small
        data sets get enough optimizer steps per epoch and large ones the speed
        of larger minibatches. Larger values are clipped to the number of
        samples.

    learning_rate : {"constant", "invscaling", "adaptive"}, default="constant"
        Learning-rate schedule, used by ``solver="sgd"`` only (as in MLP).

    learning_rate_init : float, default=0.001
        Initial step size.

    power_t : float, default=0.5
        Exponent of the "invscaling" schedule.

    max_iter : int, default=200
        Maximum number of epochs (passes over the training data); for "lbfgs",
        of L-BFGS iterations. Reaching it keeps the weights of the best epoch
        (see ``best_iter_``), with a ``ConvergenceWarning``.

    shuffle : bool, default=True
        Whether to shuffle the samples at each epoch.

    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialisation, shuffling, dropout and the
        early-stopping split.
        With an int and a fixed number of BLAS threads, fits are reproducible.

    tol : float, default=1e-4
        Relative tolerance of the stopping rule: an epoch counts as an
        improvement when the monitored quantity (the training loss, or with
        ``early_stopping`` the validation loss or score) improves on its best by
        at least ``tol`` times the best's magnitude; for a loss, ``tol`` times
        ``max(best, 1)``, absolute below 1 as MLP's. The losses are on a fixed
        scale (cross-entropy; regression targets are standardised), so the rule
        does not depend on the targets' units. For "lbfgs", the tolerance on the
        projected gradient (``gtol``).

    verbose : int, default=0
        1 prints one line per epoch (loss, validation score, time); 2 and more
        also report about ten times within each epoch.

    warm_start : bool, default=False
        Start from the weights of the previous call to ``fit`` instead of new
        random ones (the optimizer starts afresh, as in MLP).

    momentum : float, default=0.9
        Momentum of "sgd".

    nesterovs_momentum : bool, default=True
        Use Nesterov's momentum with "sgd" and ``momentum > 0``.

    early_stopping : bool, default=False
        Monitor a validation set instead of the training loss: the ``X_val``,
        ``y_val`` passed to ``fit``, or else ``validation_fraction`` of the
        training data held out (stratified by class where every class can
        appear in both parts). Training stops when ``scoring`` has not improved
        for ``n_iter_no_change`` epochs and keeps the weights of the best epoch,
        the starting weights included. Minibatch solvers only.

    validation_fraction : float, default=0.1
        Share of the training data held out with ``early_stopping`` when no
        ``X_val`` is given.

    beta_1 : float, default=0.9
        Decay of Adam's first-moment estimate.

    beta_2 : float, default=0.999
        Decay of Adam's second-moment estimate.

    epsilon : float, default=1e-8
        Numerical-stability term of Adam (added to the root of the second moment,
        as in MLP) and RMSprop (added under the root, as in Keras, whose default
        is 1e-7).

    rho : float, default=0.9
        Decay of RMSprop's moving average of squared gradients.

    n_iter_no_change : int, default=20
        Training stops once more than this many epochs in a row have not improved
        by ``tol`` (MLP's 10 stopped too soon on small real data sets, whose
        losses improve in noisy steps: see ``benchmarks/bench_real_data.py``).
        Epochs of a new network's initial plateau (before the monitored quantity
        has improved by 10% on its starting value) do not count, so training
        never stops before it has started to learn.

    max_grad_norm : float or None, default=None
        If set, rescale each minibatch's gradient so that its global L2 norm is at
        most this value (``clipnorm`` over all weights; PyTorch's
        ``clip_grad_norm_``). Minibatch solvers only.

    max_fun : int, default=15000
        Maximum number of loss evaluations of "lbfgs".

    bidirectional : bool, default=False
        Run every LSTM layer forwards and backwards and concatenate the two
        outputs (``2 * units`` wide), as Keras' ``Bidirectional(LSTM(units))``
        with merge_mode "concat" and PyTorch's ``bidirectional=True``. The
        backward direction of a sequence starts at that sequence's own last step;
        the output layer reads the forward state at the last step and the
        backward state at the first.

    dropout : float, default=0.0
        Fraction of each LSTM layer's inputs dropped during training (Keras'
        ``dropout``): one mask per sequence and layer, the same at every time
        step, the kept inputs scaled by ``1 / (1 - dropout)``. Minibatch solvers
        only; prediction never drops anything.

    recurrent_dropout : float, default=0.0
        Fraction of the recurrent state ``h_{t-1}`` dropped before the recurrent
        kernel during training (Keras' ``recurrent_dropout``), with one mask per
        sequence for all its steps.

    scoring : str, callable or None, default="loss"
        What ``early_stopping`` monitors, as in scikit-learn's
        HistGradientBoosting: "loss", the validation loss (informative even on a
        handful of samples), or a scorer name (e.g. "accuracy", "r2") or callable
        ``scorer(estimator, X, y)``; None is the estimator's ``score``. With
        ``return_sequences=True``, "loss", None or a callable that takes per-step
        targets (scikit-learn's metrics take one target per sample).

    return_sequences : bool, default=False
        Predict at every time step instead of once per sequence (Keras'
        ``LSTM(return_sequences=True)`` followed by a ``Dense`` applied to each
        step): the output layer reads the last LSTM layer's output at each step
        (with ``bidirectional=True``, both directions' outputs at that step). y
        then holds a target per step: ``(n_samples, n_timesteps)`` (a label or a
        value per step), ``(n_samples, n_timesteps, n_outputs)`` (regressor), or
        for a list of sequences a list of per-sequence targets of the same
        lengths; ``predict`` and ``predict_proba`` answer in the same shapes. The
        loss is the mean over every step, each weighing what its sequence's
        ``sample_weight`` says (and ``class_weight`` of its own label); ``score``
        is the accuracy or R^2 over every step, weighted alike. The weights are
        the same arrays as without it.

    cell : {"lstm", "gru"}, default="lstm"
        The recurrent cell of every layer: Keras' ``LSTM``, or its ``GRU`` with
        ``reset_after=True`` (PyTorch's ``nn.GRU``), which has three gates
        instead of four, hence about a quarter less arithmetic and memory (see
        Notes for both cells' equations and weights). Every other option works
        with either cell.
"""

_COMMON_ATTRIBUTES_DOC = """
    loss_ : float
        Mean training loss of the epoch whose weights were kept (``best_iter_``;
        for "lbfgs", the loss of the weights kept).

    best_loss_ : float or None
        Lowest training loss of an epoch; None with ``early_stopping``.

    loss_curve_ : list of float
        The mean training loss of each epoch.

    best_iter_ : int
        The epoch of the last fit whose weights were kept, by the monitored
        quantity (0: the weights it started from). Whatever stopped training (no
        improvement, ``max_iter``, divergence, Ctrl-C), the model is that epoch's.

    validation_scores_ : list of float or None
        With ``early_stopping``, the score of each epoch of the last fit on the
        validation set (the negative validation loss with ``scoring="loss"``);
        None otherwise.

    best_validation_score_ : float or None
        The validation score of the weights kept (the starting weights'
        included); None without ``early_stopping``.

    t_ : int
        Number of training samples seen by the optimizer (summed over epochs).

    n_iter_ : int
        Number of epochs (L-BFGS iterations for "lbfgs") run by the last ``fit``.

    n_features_in_ : int
        Number of features at each time step (the last axis of X).

    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of the features, when a 2-D X with string column names was passed.

    n_outputs_ : int
        Width of the output layer.
"""

_NOTES_DOC = """
    Each LSTM layer maps its input sequence :math:`x_t` to hidden states
    :math:`h_t` (Hochreiter & Schmidhuber, 1997, with the forget gate of Gers et
    al., 2000), starting from :math:`h_0 = c_0 = 0`:

    .. math::

        i_t &= \\sigma(x_t W_i + h_{t-1} U_i + b_i) \\\\
        f_t &= \\sigma(x_t W_f + h_{t-1} U_f + b_f) \\\\
        g_t &= \\tanh(x_t W_g + h_{t-1} U_g + b_g) \\\\
        o_t &= \\sigma(x_t W_o + h_{t-1} U_o + b_o) \\\\
        c_t &= f_t \\odot c_{t-1} + i_t \\odot g_t \\\\
        h_t &= o_t \\odot \\tanh(c_t)

    The weights are Keras' ``kernel`` :math:`[W_i W_f W_g W_o]`,
    ``recurrent_kernel`` :math:`[U_i U_f U_g U_o]` and ``bias``, initialised as
    Keras does (Glorot-uniform kernels, orthogonal recurrent kernels, zero biases
    with :math:`b_f = 1`). :meth:`get_weights` returns them in the order of
    ``keras.Sequential.get_weights()``. For PyTorch's ``nn.LSTM`` (same gate
    order), ``weight_ih_l{k} = kernel.T``, ``weight_hh_l{k} = recurrent_kernel.T``,
    ``bias_ih_l{k} = bias`` and ``bias_hh_l{k} = 0``.

    With ``cell="gru"`` each layer is Keras' ``GRU`` (Cho et al., 2014) with its
    default ``reset_after=True``, the variant of cuDNN and PyTorch: an update
    gate :math:`z`, a reset gate :math:`r` and a candidate :math:`n`, with an
    input bias :math:`b` and a recurrent bias :math:`b'`, from :math:`h_0 = 0`:

    .. math::

        z_t &= \\sigma(x_t W_z + b_z + h_{t-1} U_z + b'_z) \\\\
        r_t &= \\sigma(x_t W_r + b_r + h_{t-1} U_r + b'_r) \\\\
        n_t &= \\tanh(x_t W_n + b_n + r_t \\odot (h_{t-1} U_n + b'_n)) \\\\
        h_t &= z_t \\odot h_{t-1} + (1 - z_t) \\odot n_t

    Its weights are Keras' ``kernel`` :math:`[W_z W_r W_n]` ``(n_inputs, 3
    units)``, ``recurrent_kernel`` :math:`[U_z U_r U_n]` ``(units, 3 units)``
    and ``bias`` ``(2, 3 units)`` (:math:`b`, then :math:`b'`), all biases
    starting at zero. PyTorch's ``nn.GRU`` orders its gates r, z, n: see the
    user guide, "Coming from PyTorch", for the conversion. A GRU layer has three
    quarters of an LSTM layer's weights and arithmetic, and often learns as well
    on short and medium sequences.

    The forward pass and backpropagation through time run in Cython kernels
    (packed-weight products with AVX-512/AVX2 code paths, and BLAS); float32 input
    is trained and predicted in float32, anything else in float64. The kernels
    split each minibatch between OpenMP threads (as many as
    ``OMP_NUM_THREADS``, ``threadpoolctl`` or joblib's workers allow) and keep
    BLAS single-threaded meanwhile; results do not depend on the thread count
    beyond rounding.

    References
    ----------
    Hochreiter, S. and Schmidhuber, J. (1997). Long short-term memory. Neural
    Computation, 9(8), 1735-1780.

    Gers, F. A., Schmidhuber, J. and Cummins, F. (2000). Learning to forget:
    continual prediction with LSTM. Neural Computation, 12(10), 2451-2471.

    Cho, K., van Merrienboer, B., Gulcehre, C., Bahdanau, D., Bougares, F.,
    Schwenk, H. and Bengio, Y. (2014). Learning phrase representations using RNN
    encoder-decoder for statistical machine translation. EMNLP 2014, 1724-1734.
"""


_VALIDATION_DATA_DOC = """X_val : array-like or list of arrays, default=None
            Validation sequences for ``early_stopping`` (Keras'
            ``validation_data``), instead of a split of X. In a Pipeline, with
            metadata routing enabled, ``Pipeline(..., transform_input=["X_val"])``
            transforms them as X.

        y_val : array-like of shape (n_val,) or (n_val, n_{y_columns}), default=None
            {y_what} of ``X_val``.

        sample_weight_val : array-like of shape (n_val,), default=None
            Weights of the validation sequences."""


def _validation_data_doc(y_columns, y_what):
    """Fill the fit docstring's validation-data parameters (shared by both)."""

    def decorate(method):
        block = _VALIDATION_DATA_DOC.format(y_columns=y_columns, y_what=y_what)
        method.__doc__ = method.__doc__.replace("{validation_data}", block)
        return method

    return decorate


def _docstring(template):
    """Fill the shared parameter, attribute and notes sections of a docstring."""

    def decorate(cls):
        # Each estimator's own default where they differ.
        alpha = inspect.signature(cls).parameters["alpha"].default
        cls.__doc__ = template.format(
            parameters=_COMMON_PARAMETERS_DOC.strip("\n").replace(
                "<alpha>", repr(alpha)
            ),
            attributes=_COMMON_ATTRIBUTES_DOC.strip("\n"),
            notes=_NOTES_DOC.strip("\n"),
        )
        return cls

    return decorate


class _BaseLSTM(BaseEstimator, ABC):
    """Stacked LSTM layers with a dense output layer, trained by minibatch BPTT."""

    _parameter_constraints: dict = {
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
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "bidirectional": ["boolean"],
        "return_sequences": ["boolean"],
        "cell": [StrOptions(set(CELLS))],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "recurrent_dropout": [Interval(Real, 0, 1, closed="left")],
        "scoring": [StrOptions({"loss"}), str, callable, None],
    }

    def __init__(
        self,
        hidden_layer_sizes=(32,),
        solver="adam",
        # The regressor's; the classifier's __init__ keeps MLP's (see alpha's doc).
        alpha=0.3,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        rho=0.9,
        n_iter_no_change=20,
        max_grad_norm=None,
        max_fun=15000,
        bidirectional=False,
        dropout=0.0,
        recurrent_dropout=0.0,
        scoring="loss",
        return_sequences=False,
        cell="lstm",
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.rho = rho
        self.n_iter_no_change = n_iter_no_change
        self.max_grad_norm = max_grad_norm
        self.max_fun = max_fun
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.recurrent_dropout = recurrent_dropout
        self.scoring = scoring
        self.return_sequences = return_sequences
        self.cell = cell

    # ------------------------------------------------------------------ hooks
    @abstractmethod
    def _encode_targets(self, y, first_pass, classes=None, sample_weight=None):
        """Validated y -> float targets (n_samples, n_outputs); sets target state."""

    @abstractmethod
    def _score_data(self, X, y, sample_weight):
        """The estimator's ``score`` of validated sequences (higher is better)."""

    def _is_stochastic(self):
        if self.solver == "lbfgs":
            raise AttributeError(
                "partial_fit is only available for minibatch solvers; "
                f"{self.solver!r} is a full-batch solver."
            )
        return True

    # ------------------------------------------------------------ validation
    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, Integral):
            sizes = [sizes]
        sizes = list(sizes)
        if not sizes or not all(
            isinstance(s, Integral) and not isinstance(s, bool) and s > 0 for s in sizes
        ):
            raise ValueError(
                "hidden_layer_sizes must be a positive int or a non-empty sequence "
                f"of positive ints, got {self.hidden_layer_sizes!r}."
            )
        return tuple(int(s) for s in sizes)

    def _check_sequences(
        self, X, reset, y="no_validation", dtype=None, **check_y_params
    ):
        """Validate X (and y); return X as DenseSequences or RaggedSequences.

        X is a 3-D array (n_samples, n_steps, n_features), a 2-D array (sequences
        of one step), or a list of 2-D arrays (n_steps_i, n_features) of their own
        lengths. scikit-learn's ``n_features_in_`` check reads axis 1, which for a
        3-D X is the time axis, so it is turned off and done on the last axis.
        """
        check_not_ragged_rows(X)
        validate_y = not (isinstance(y, str) and y == "no_validation")
        if is_sequence_list(X):
            values, lengths = check_sequence_list(X, dtype)
            if (lengths == lengths[0]).all():
                data = DenseSequences(values.reshape(len(lengths), lengths[0], -1))
            else:
                data = RaggedSequences(values, lengths)
            # Feature names (a list has none) and the "requires y" check, as for
            # arrays; y is validated against a stand-in X of the right length.
            validate_data(self, X, reset=reset, skip_check_array=True, ensure_2d=False)
            if validate_y:
                _, y = check_X_y(np.zeros((data.n_samples, 1)), y, **check_y_params)
        else:
            params = dict(
                dtype=(np.float64, np.float32) if dtype is None else dtype,
                allow_nd=True,
                ensure_2d=False,
                order="C",
                reset=reset,
            )
            if validate_y:
                X, y = validate_data(self, X, y, **params, **check_y_params)
            else:
                X = validate_data(self, X, **params)
            if X.ndim == 2:
                X = X[:, None, :]
            elif X.ndim == 3 and reset and X.shape[1] == 1 and X.shape[2] >= 8:
                warnings.warn(
                    f"X has shape {X.shape}: sequences of 1 time step of "
                    f"{X.shape[2]} features. If it is laid out (n_samples, "
                    "n_channels, n_timesteps), as aeon, sktime and tslearn give "
                    "series, pass X.transpose(0, 2, 1): sklstm takes (n_samples, "
                    "n_timesteps, n_features).",
                    UserWarning,
                    stacklevel=5,
                )
            elif X.ndim != 3:
                raise ValueError(
                    f"Expected a 3-D array (n_samples, n_timesteps, n_features), a 2-D "
                    f"array (n_samples, n_features) or a list of 2-D arrays, got a "
                    f"{X.ndim}-D array of shape {X.shape} instead. Reshape your data: "
                    f"a univariate series as X[:, :, None], a single sequence as "
                    f"X[None]."
                )
            n_samples, n_steps, n_features = X.shape
            if n_steps == 0 or n_features == 0:
                raise ValueError(
                    f"Found array with {n_steps} time step(s) and {n_features} "
                    f"feature(s) (shape={X.shape}) while a minimum of 1 is required."
                )
            data = DenseSequences(X)
        if reset:
            self.n_features_in_ = data.n_features
        elif data.n_features != self.n_features_in_:
            raise ValueError(
                f"X has {data.n_features} features, but {type(self).__name__} is "
                f"expecting {self.n_features_in_} features as input."
            )
        return (data, y) if validate_y else data

    def _check_data(self, X, y, reset, dtype):
        """Validated sequences and targets: ``_check_sequences``, and per step
        :meth:`_check_step_targets`."""
        if not self._return_sequences:
            return self._check_sequences(
                X, reset=reset, y=y, dtype=dtype, **self._y_params()
            )
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y "
                "is None."
            )
        data = self._check_sequences(X, reset=reset, dtype=dtype)
        return data, self._check_step_targets(data, y)

    def _check_step_targets(self, data, y):
        """Per-step targets checked against their sequences' lengths.

        Returns y as an array ``(n_samples, n_timesteps, ...)`` for sequences of
        one length, else as a list of arrays ``(n_timesteps_i, ...)``.
        """
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
                    f"{'' if self._step_label_ndim == 1 else '[, n_outputs]'}) for X "
                    f"of {n_samples} sequences of {data.max_length} steps."
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
                    )
            if len({y_i.shape[1:] for y_i in y}) > 1:
                raise ValueError(
                    "The per-step targets of the sequences have different shapes "
                    f"beyond the time axis: {sorted({y_i.shape[1:] for y_i in y})}."
                )
            steps = np.concatenate(y) if len(y) > 1 else y[0]
        else:
            steps = y.reshape(n_samples * data.max_length, *y.shape[2:])
        if steps.ndim > self._step_label_ndim:
            raise ValueError(
                f"{type(self).__name__} with return_sequences=True takes "
                f"{self._step_targets_doc} for each step; got targets of shape "
                f"{steps.shape[1:]} at each step."
            )
        steps = check_array(
            steps,
            ensure_2d=False,
            dtype="numeric" if self._y_params().get("y_numeric") else None,
            input_name="y",
        )
        return data.split_steps(steps)

    def _training_targets(
        self,
        data,
        y,
        sample_weight,
        incremental,
        first_pass=False,
        classes=None,
        name="sample_weight",
    ):
        """The network's targets for validated (data, y) and the loss's weights.

        Per step, each step is a sample for the encoding, the class weights and
        the target scaling; the targets are then a :class:`StepTargets` and the
        weights returned are each sequence's total (None for equal ones).
        """
        if not self._return_sequences:
            self._check_target_range(y, data.dtype)
            sample_weight = self._combined_weights(
                y, sample_weight, incremental, data, name
            )
            Y = self._encode_targets(y, first_pass, classes, sample_weight)
            return _cast_targets(Y, data.dtype), sample_weight
        lengths = data.lengths
        steps = _concatenate_steps(y)
        weight = None if sample_weight is None else np.repeat(sample_weight, lengths)
        self._check_target_range(steps, data.dtype)
        weight = self._combined_weights(steps, weight, incremental, data, name)
        values = _cast_targets(
            self._encode_targets(steps, first_pass, classes, weight), data.dtype
        )
        return StepTargets.weighted(values, lengths, weight)

    def _check_sample_weight(self, sample_weight, data, name="sample_weight"):
        """None, or sample weights as a 1-D float array of the data's dtype."""
        if sample_weight is None:
            return None
        n_samples = data.n_samples
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

    def _target_weights(self, y, incremental):
        """Per-sample weights that the targets imply (class weights), or None."""
        return None

    def _check_target_range(self, y, dtype):
        """Refuse targets that the training dtype cannot represent."""

    def _head_scaling(self):
        """(scale, offset) that map the head's outputs to y's units, or None.

        Between fits the weights are stored with the scaling folded into the
        head (identity); only during training is the head in the standardised
        units of :meth:`_training_scaling`.
        """
        return None

    def _training_scaling(self):
        """(scale, offset) of the targets the network is trained on, or None."""
        return None

    def _rescaled_head(self, kernel, bias, scale, offset):
        """The head's kernel and bias re-expressed for y = output * scale + offset."""
        old_scale, old_offset = self._head_scaling()
        ratio = old_scale / scale
        return (
            (kernel * ratio).astype(kernel.dtype),
            (bias * ratio + (old_offset - offset) / scale).astype(bias.dtype),
        )

    def _rescale_head(self, scale, offset):
        """Re-express the stored head's weights so that y = output * scale + offset."""
        views = self._network().unpack(self._params)
        views[-2][...], views[-1][...] = self._rescaled_head(
            views[-2], views[-1], scale, offset
        )
        self._y_scale, self._y_mean = scale, offset
        self._y_scale_active = bool((scale != 1).any() or (offset != 0).any())

    # -------------------------------------------------------------- training
    def _network(self):
        return self._network_of(self._params.dtype)

    def _make_optimizer(self):
        params = self._params
        if self.solver == "sgd":
            return SGDOptimizer(
                params,
                self.learning_rate_init,
                self.learning_rate,
                self.momentum,
                self.nesterovs_momentum,
                self.power_t,
            )
        if self.solver == "rmsprop":
            return RMSpropOptimizer(
                params, self.learning_rate_init, self.rho, self.epsilon
            )
        return AdamOptimizer(
            params, self.learning_rate_init, self.beta_1, self.beta_2, self.epsilon
        )

    def _fit(
        self,
        X,
        y,
        sample_weight=None,
        incremental=False,
        classes=None,
        X_val=None,
        y_val=None,
        sample_weight_val=None,
    ):
        # A fit that raises leaves the estimator as it was (the previous model, or
        # unfitted): every attribute it set goes back. Training works on copies of
        # the weights and histories, so nothing the old state holds is changed.
        saved = dict(self.__dict__)
        try:
            return self._fit_validated(
                X,
                y,
                sample_weight,
                incremental,
                classes,
                X_val,
                y_val,
                sample_weight_val,
            )
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise

    def _check_parameter_combinations(self, incremental, validation_data):
        if self.solver == "lbfgs" and (self.dropout or self.recurrent_dropout):
            raise ValueError(
                "dropout and recurrent_dropout need a minibatch solver "
                "('adam', 'rmsprop' or 'sgd'): they make the loss random, "
                "which L-BFGS's line search cannot follow."
            )
        if (
            self.return_sequences
            and self.early_stopping
            and isinstance(self.scoring, str)
            and self.scoring != "loss"
        ):
            raise ValueError(
                f"scoring={self.scoring!r} names a scikit-learn metric, which takes "
                "one target per sample; with return_sequences=True the targets are "
                "per step. Use scoring='loss', None (the estimator's score: accuracy "
                "or R^2 over every step) or a callable scorer(estimator, X, y)."
            )
        if validation_data and not self.early_stopping:
            raise ValueError(
                "X_val and y_val are passed to fit while early_stopping is False: "
                "they are the validation data of early stopping. Set "
                "early_stopping=True to use them."
            )
        if validation_data and self.solver == "lbfgs":
            raise ValueError(
                "X_val and y_val are the validation data of early stopping, which "
                "needs a minibatch solver ('adam', 'rmsprop' or 'sgd'), not lbfgs."
            )

    def _fit_validated(
        self, X, y, sample_weight, incremental, classes, X_val, y_val, sample_weight_val
    ):
        layer_sizes = self._hidden_sizes()
        validation_data = X_val is not None or y_val is not None
        if validation_data and (X_val is None or y_val is None):
            raise ValueError(
                f"{'X_val' if X_val is not None else 'y_val'} is provided, but "
                f"{'y_val' if X_val is not None else 'X_val'} was not provided."
            )
        if sample_weight_val is not None and not validation_data:
            raise ValueError("sample_weight_val is provided without X_val and y_val.")
        self._check_parameter_combinations(incremental, validation_data)
        # As in MLP, partial_fit ignores early stopping, and so does lbfgs.
        early_stopping = (
            self.early_stopping and self.solver != "lbfgs" and not incremental
        )
        first_pass = not hasattr(self, "_params") or (
            not self.warm_start and not incremental
        )
        if not first_pass:
            if layer_sizes != self._layer_sizes:
                raise ValueError(
                    f"hidden_layer_sizes={self.hidden_layer_sizes!r} differs from the "
                    f"fitted network's {self._layer_sizes}; refit with "
                    "warm_start=False."
                )
            for name in ("bidirectional", "return_sequences", "cell"):
                fitted = getattr(self, "_" + name)
                value = getattr(self, name)
                if (bool(value) if isinstance(fitted, bool) else value) != fitted:
                    raise ValueError(
                        f"{name}={value!r} differs from the fitted network; refit "
                        "with warm_start=False."
                    )
        else:
            self._return_sequences = bool(self.return_sequences)
        dtype = None if first_pass else self._params.dtype
        data, y = self._check_data(X, y, reset=first_pass, dtype=dtype)
        _check_magnitude(data)
        sample_weight = self._check_sample_weight(sample_weight, data)
        Y, sample_weight = self._training_targets(
            data, y, sample_weight, incremental, first_pass, classes
        )
        if validation_data:
            data_val, y_val = self._check_data(
                X_val, y_val, reset=False, dtype=data.dtype
            )
            _check_magnitude(data_val, "X_val")
            sample_weight_val = self._check_sample_weight(
                sample_weight_val, data_val, "sample_weight_val"
            )
            Y_val, weight_val = self._training_targets(
                data_val,
                y_val,
                sample_weight_val,
                incremental,
                name="sample_weight_val",
            )
        self._random_state = check_random_state(self.random_state)

        if first_pass:
            self.n_outputs_ = Y.n_outputs if isinstance(Y, StepTargets) else Y.shape[1]
            self._layer_sizes = layer_sizes
            self._bidirectional = bool(self.bidirectional)
            self._cell = self.cell
            self._params = self._network_of(data.dtype).initialize(self._random_state)
            self.t_ = 0
            self.loss_curve_ = []
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.best_validation_score_ = None
        else:
            # Train a copy: the old weights stay intact should this fit raise.
            self._params = aligned_params(self._params)
            self.loss_curve_ = list(self.loss_curve_)
            if self.best_loss_ is None:
                self.best_loss_ = np.inf
        if early_stopping:
            # This fit's held-out scores, one per epoch (as MLP's).
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        elif not incremental:
            self.validation_scores_ = self.best_validation_score_ = None
        network = self._network()
        scaling = self._training_scaling()
        if scaling is not None:
            if first_pass:
                # A new head: in those units already.
                self._y_scale, self._y_mean = scaling
                self._y_scale_active = True
            else:
                self._rescale_head(*scaling)

        with (
            np.errstate(over="ignore", invalid="ignore", divide="ignore"),
            kernel_threads(data.n_samples) as n_threads,
        ):
            if self.solver == "lbfgs":
                history = fit_lbfgs(
                    network,
                    self._params,
                    data,
                    Y,
                    *scaled_weights(sample_weight, self.alpha, data.dtype),
                    self._chunk_size(data.n_samples, data.max_length),
                    n_threads,
                    self.max_iter,
                    self.max_fun,
                    self.tol,
                    self.verbose,
                )
                self.best_iter_ = history.n_iter if history.loss_curve else 0
            else:
                # What a fit draws per sequence follows its content (see
                # sequence_keys): one seed a fit, drawn before anything else.
                seed = int(self._random_state.randint(np.iinfo(np.int64).max))
                keys = None
                if (
                    self.dropout
                    or self.recurrent_dropout
                    or (early_stopping and not validation_data)
                ):
                    keys = sequence_keys(data, seed)
                if early_stopping and not validation_data:
                    train, val = validation_split(
                        keys,
                        None
                        if self._return_sequences
                        else self._stratification_labels(y),
                        sample_weight,
                        self.validation_fraction,
                    )
                    keys = keys[train]
                    data, data_val = data.take(train), data.take(val)
                    Y, Y_val = Y[train], Y[val]
                    y_val = [y[i] for i in val] if isinstance(y, list) else y[val]
                    if sample_weight is None:
                        weight_val = None
                    else:
                        sample_weight, weight_val = (
                            sample_weight[train],
                            sample_weight[val],
                        )
                history = self._fit_minibatches(
                    network,
                    data,
                    Y,
                    sample_weight,
                    incremental,
                    first_pass,
                    n_threads,
                    (data_val, Y_val, y_val, weight_val) if early_stopping else None,
                    keys,
                    seed,
                )

        if scaling is not None:
            # Fold the target scaling into the head: the stored weights output y.
            self._rescale_head(np.ones_like(scaling[0]), np.zeros_like(scaling[1]))
        self.n_iter_ = (self.n_iter_ if incremental and not first_pass else 0) + (
            history.n_iter
        )
        self.t_ += history.samples_seen
        self.loss_curve_ += history.loss_curve
        self.loss_ = float(history.kept_loss)
        if self.best_loss_ is not None:
            # The start's loss counts too when no epoch finished (a divergence in
            # the first), so that best_loss_ is finite after any returning fit.
            kept = [self.loss_] if np.isfinite(self.loss_) else []
            self.best_loss_ = min([self.best_loss_, *history.loss_curve, *kept])
        if history.diverged or history.interrupted:
            # Its state holds the blow-up, or is mid-epoch.
            self._optimizer = self._make_optimizer()
        return self

    def _fit_minibatches(
        self,
        network,
        data,
        Y,
        sample_weight,
        incremental,
        first_pass,
        n_threads,
        validation,
        keys,
        seed,
    ):
        """Minibatch epochs through the training loop; returns its History."""
        n_samples = data.n_samples
        if self.batch_size == "auto":
            batch_size = _auto_batch_size(n_samples)
        else:
            batch_size = min(self.batch_size, n_samples)
        sample_weight, alpha = scaled_weights(sample_weight, self.alpha, data.dtype)
        # As in MLP: fit (even warm-started) starts a new optimizer, partial_fit
        # carries the optimizer state (Adam moments, velocity) from call to call.
        if first_pass or not incremental or not hasattr(self, "_optimizer"):
            self._optimizer = self._make_optimizer()
        else:
            self._optimizer = copy.deepcopy(self._optimizer)
        batches = Minibatches(
            network=network,
            data=data,
            Y=Y,
            sample_weight=sample_weight,
            batch_size=batch_size,
            alpha=alpha,
            shuffle=self.shuffle,
            random_state=self._random_state,
            n_threads=n_threads,
            max_grad_norm=self.max_grad_norm,
            dropout=self.dropout,
            recurrent_dropout=self.recurrent_dropout,
            verbose=self.verbose,
            keys=keys,
            mask_seed=seed,
        )
        validation_score = None
        start_value = None
        if validation is not None:
            validation_score = self._validation_scorer(network, *validation)
            start_value = -validation_score()
        if incremental and not first_pass and hasattr(self, "_checkpoint"):
            checkpoint = copy.deepcopy(self._checkpoint)
        else:
            checkpoint = Checkpoint(
                self._params,
                start_value,
                self.tol,
                self.n_iter_no_change,
                fresh=first_pass,
                monitors_loss=validation is None or self.scoring == "loss",
            )
        history = run_epochs(
            batches,
            self._params,
            self._optimizer,
            checkpoint,
            self.max_iter,
            validation_score,
            incremental,
        )
        if validation is not None:
            self.validation_scores_ = history.validation_scores
            self.best_validation_score_ = -checkpoint.best_value
        self.best_iter_ = checkpoint.best_iter
        if incremental:
            self._checkpoint = checkpoint
        elif hasattr(self, "_checkpoint"):
            del self._checkpoint
        return history

    def _validation_scorer(self, network, data_val, Y_val, y_val, weight_val):
        """The early-stopping score of the current weights (higher is better)."""
        if self.scoring == "loss":

            def score():
                return -network.mean_loss(self._logits(data_val), Y_val, weight_val)

            return score
        scorer = check_scoring(self, scoring=self.scoring)
        X_val = data_val.as_input()
        if weight_val is None:
            return lambda: scorer(self, X_val, y_val)
        return lambda: scorer(self, X_val, y_val, sample_weight=weight_val)

    def _stratification_labels(self, y):
        """Labels to stratify an early-stopping split by, or None."""
        return None

    def _combined_weights(
        self, y, sample_weight, incremental, data, name="sample_weight"
    ):
        """Sample weights times the weights the targets imply, validated as one."""
        target_weights = self._target_weights(y, incremental)
        if target_weights is None:
            return sample_weight
        target_weights = np.asarray(target_weights, dtype=np.float64)
        if sample_weight is not None:
            target_weights = target_weights * sample_weight
        if not target_weights.sum() > 0:
            raise ValueError(
                f"class_weight={self.class_weight!r} times {name} gives every "
                "sample weight 0: no sample would count. Give some class present "
                "in y a positive weight."
            )
        return target_weights

    def _network_of(self, dtype):
        return network_for(
            self.n_features_in_,
            self._layer_sizes,
            self.n_outputs_,
            self._head,
            np.dtype(dtype),
            self._bidirectional,
            self._return_sequences,
            self._cell,
        )

    def _chunk_size(self, n_samples, n_steps):
        """Sequences per full-batch chunk, so that no buffer exceeds a fixed size."""
        widest_gates = gates_per_unit(self._cell) * max(self._layer_sizes)
        per_sample = n_steps * max(widest_gates, self.n_features_in_)
        by_memory = max(1, _CHUNK_ELEMENTS // per_sample)
        return int(min(n_samples, _CHUNK_SEQUENCES, by_memory))

    # ------------------------------------------------------------ prediction
    def _logits(self, data):
        """Output-layer pre-activations of validated sequences, in bounded chunks.

        Chunks take the sequences in decreasing length, so a ragged set pays for
        little padding; the results go back to the input order.
        """
        network = self._network()
        n_samples = data.n_samples
        chunk = self._chunk_size(n_samples, data.max_length)
        if isinstance(data, DenseSequences) and not self._return_sequences:
            # One kernel call a chunk; a single chunk's logits are the result.
            per_sequence = network.dense_work_size(data.max_length, 1)
            chunk = min(
                chunk,
                max(
                    _MIN_CHUNK_SEQUENCES,
                    _CHUNK_WORK_BYTES // (per_sequence * network.dtype.itemsize),
                ),
            )
            size = network.dense_work_size(data.max_length, min(chunk, n_samples))
            with (
                kernel_threads(chunk) as n_threads,
                pooled_buffer(network, size) as work,
            ):
                if n_samples <= chunk:
                    return network.dense_logits(self._params, data.X, work, n_threads)
                out = np.empty((n_samples, self.n_outputs_), dtype=self._params.dtype)
                for batch in gen_batches(n_samples, chunk):
                    network.dense_logits(
                        self._params, data.X[batch], work, n_threads, out=out[batch]
                    )
                return out
        # Ragged sequences in decreasing length, the results back in input order;
        # per step, a row per step, sequence after sequence.
        order = data.order_for_batches(np.arange(n_samples))
        lengths = data.lengths
        n_rows = int(lengths.sum()) if self._return_sequences else n_samples
        out = np.empty((n_rows, self.n_outputs_), dtype=self._params.dtype)
        with kernel_threads(chunk) as n_threads:
            workspace = network.workspace(data.max_length, chunk, n_threads=n_threads)
            for batch_slice in gen_batches(n_samples, chunk):
                batch_index = order[batch_slice]
                X_tm, batch_sizes, last_step = data.pack(batch_index, workspace)
                rows = batch_index
                if self._return_sequences:
                    running = running_steps(X_tm.shape[0], last_step)
                    rows = step_rows(lengths, batch_index, running)
                out[rows] = network.logits(
                    self._params, X_tm, batch_sizes, last_step, workspace
                )
        return out

    def _predict_logits(self, X, softmax=False, take_log=False):
        """Head pre-activations of X; with ``softmax``, the probabilities.

        ``take_log`` (with ``softmax``) gives their logarithms, without underflow.
        Returns ``(logits, data)``: ``data`` the validated X, or None where a
        many-to-one prediction did not need it. Per step, logits have a row per
        step; :meth:`_per_sequence` shapes them as X.
        """
        if not self.__sklearn_is_fitted__():
            check_is_fitted(self)  # raises scikit-learn's NotFittedError
        data = None
        if type(X) is list and len(X) == 1 and type(X[0]) is np.ndarray:
            # One sequence in a list (a ragged set's member) takes the routes of
            # a 3-D X of one sequence; per step, its predictions stay a list.
            one = X[0][None]
            if self._is_plain_input(one):
                outputs, data = self._predict_logits(one, softmax, take_log)
                if data is not None:
                    data = RaggedSequences(one[0], one.shape[1:2])
                return outputs, data
        if self._is_plain_input(X):
            if X.shape[0] == 1 and X.flags.c_contiguous:
                # One sequence: one kernel call, which also checks X (None for
                # NaN or infinity: the full validation below names them) and
                # applies the softmax; nothing to chunk or pool (3 of 28 µs).
                outputs = self._network().sequence_outputs(
                    self._params, X, softmax, take_log
                )
                if outputs is not None:
                    # Per step, a row per step: shaped as X by _per_sequence.
                    data = DenseSequences(X) if self._return_sequences else None
                    return outputs, data
            elif all_finite(X):
                # One pass with no temporary (NumPy's isfinite().all() took 2 µs
                # on one sequence); an X with NaN or infinity goes to the full
                # validation, which names the problem.
                data = DenseSequences(X)
        if data is None:
            data = self._check_sequences(X, reset=False, dtype=self._params.dtype)
        logits = self._logits(data)
        return (activate("softmax", logits, take_log) if softmax else logits), data

    def _per_sequence(self, rows, data):
        """Per-step predictions (rows) shaped as X's sequences; else unchanged."""
        return data.split_steps(rows) if self._return_sequences else rows

    def _is_plain_input(self, X):
        """Whether X is a 3-D array that validate_data would pass unchanged, if finite.

        Such an X skips validate_data's ~100 µs of checks, which would dominate
        the prediction of a single sequence; anything else is validated in full.
        """
        return (
            type(X) is np.ndarray
            and X.ndim == 3
            and X.dtype == self._params.dtype
            and X.shape[0] > 0
            and X.shape[1] > 0
            and X.shape[2] == self.n_features_in_
            and not hasattr(self, "feature_names_in_")
        )

    def __sklearn_is_fitted__(self):
        # check_is_fitted's default scans every attribute name: a few µs per call.
        return hasattr(self, "_params")

    def _score(self, X, y, sample_weight):
        """The mixins' score, with X, y and sample_weight validated as in fit.

        The metrics alone would take negative weights silently, fail with a
        ZeroDivisionError on weights that sum to zero, and (accuracy_score) cast a
        float y to int before checking it for NaN, a RuntimeWarning first.
        """
        check_is_fitted(self)
        data, y = self._check_data(X, y, reset=False, dtype=self._params.dtype)
        sample_weight = self._check_sample_weight(sample_weight, data)
        if self._return_sequences:
            # Every step is a sample, weighing what its sequence weighs.
            y = _concatenate_steps(y)
            if sample_weight is not None:
                sample_weight = np.repeat(sample_weight, data.lengths)
        return float(self._score_data(data, y, sample_weight))

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

    # ------------------------------------------------------------------ weights
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
        check_is_fitted(self)
        weights = [w.copy() for w in self._network().unpack(self._params)]
        if getattr(self, "_y_scale_active", False):
            # Mid-training (a scorer's call): the head is in training units.
            identity = np.ones(self.n_outputs_), np.zeros(self.n_outputs_)
            weights[-2], weights[-1] = self._rescaled_head(
                weights[-2], weights[-1], *identity
            )
        return weights

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
        check_is_fitted(self)
        network = self._network()
        weights = list(weights)
        if len(weights) != len(network.shapes):
            raise ValueError(
                f"Expected {len(network.shapes)} weight arrays "
                f"({len(self._layer_sizes)} {self._cell.upper()} layers x "
                f"{3 * network.n_directions}"
                f" + 2 for the output layer), got {len(weights)}."
            )
        new_params = aligned_params(np.zeros_like(self._params))
        for index, (view, weight) in enumerate(
            zip(network.unpack(new_params), weights)
        ):
            weight = np.asarray(weight)
            if weight.shape != view.shape:
                raise ValueError(
                    f"Weight {index} has shape {weight.shape}, expected {view.shape} "
                    f"(cell={self._cell!r})."
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
        self._params = new_params
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags

    def __getstate__(self):
        state = super().__getstate__()
        state["_sklstm_version"] = __version__
        return state

    def __setstate__(self, state):
        # As scikit-learn does for its own version: a model pickled by another
        # sklstm loads, with a warning, since its behaviour may differ.
        version = state.pop("_sklstm_version", "unknown")
        if version != __version__:
            warnings.warn(
                InconsistentVersionWarning(type(self).__name__, version, __version__),
                stacklevel=2,
            )
        if "_params" in state:
            state["_params"] = aligned_params(state["_params"])
            state.setdefault("_return_sequences", False)  # older models
            state.setdefault("_cell", "lstm")
        super().__setstate__(state)


class OneHotTargetWarning(UserWarning):
    """A classifier's y is a one-hot matrix: every row holds exactly one 1.

    Such a y is fitted as it is, a multilabel problem with an independent
    logistic output per column, which is rarely what a Keras user's one-hot
    labels mean: pass ``y.argmax(axis=1)`` for one softmax over the classes. If
    the labels are meant to be independent, ignore this warning with
    ``warnings.filterwarnings("ignore", category=OneHotTargetWarning)``.
    """


def _warn_if_one_hot(y):
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
            stacklevel=6,
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


class InconsistentVersionWarning(UserWarning):
    """A model is unpickled by another sklstm version than the one that saved it.

    Predictions may differ; refit or re-save the model with this version.

    Parameters
    ----------
    estimator_name : str
        Class name of the unpickled estimator.

    original_version : str
        sklstm version that pickled it ("unknown" for pickles older than the
        version stamp).

    current_version : str
        sklstm version that unpickles it.
    """

    def __init__(self, estimator_name, original_version, current_version):
        self.estimator_name = estimator_name
        self.original_sklstm_version = original_version
        self.current_sklstm_version = current_version
        super().__init__(
            f"Trying to unpickle estimator {estimator_name} from sklstm version "
            f"{original_version} when using version {current_version}. This might "
            "lead to breaking code or invalid results. Use at your own risk."
        )


@_docstring(
    """Long short-term memory network classifier.

    Stacked LSTM (or GRU: ``cell="gru"``) layers read each sequence; a dense
    layer on the last layer's final state outputs class probabilities (softmax
    over the classes, one logistic unit for two classes, one logistic unit per
    label for a multilabel indicator y), trained on the (weighted) mean
    cross-entropy.

    Parameters
    ----------
{parameters}

    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss, as in scikit-learn's linear models:
        ``{{label: weight}}``, or "balanced" for ``n_samples / (n_classes *
        np.bincount(y))``; multiplied with ``sample_weight``. "balanced" is not
        available in ``partial_fit``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels (label indices for a multilabel indicator y).

{attributes}

    See Also
    --------
    LSTMRegressor : The same network with a linear output layer.
    sklearn.neural_network.MLPClassifier : Feed-forward network on flat features.

    Notes
    -----
    X is ``(n_samples, n_timesteps, n_features)``, Keras' layout. A 2-D X is
    ``(n_samples, n_features)``: sequences of one time step; a univariate series
    is passed as ``X[:, :, None]``. The number of time steps may differ between
    ``fit`` and ``predict``. Sequences of different lengths are passed as a list
    of 2-D arrays ``(n_timesteps_i, n_features)``, as they are: no padding or
    masking; each sequence's state stops at its own last step, and the result
    for a sequence does not depend on the others in its batch. Minibatches group
    sequences of similar lengths (sorted within buckets of 50 batches, buckets
    shuffled), so a batch pays little for its longest member. A list can be
    indexed by scikit-learn's splitters, so cross-validation and searches take
    it directly.

{notes}

    Examples
    --------
    >>> import numpy as np
    >>> from sklstm import LSTMClassifier
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 10, 2))
    >>> y = (X[:, :, 0].sum(axis=1) > 0).astype(int)  # sign of a running sum
    >>> clf = LSTMClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01,
    ...                      max_iter=50, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
    >>> bool(clf.score(X, y) > 0.9)
    True
    """
)
class LSTMClassifier(ClassifierMixin, _BaseLSTM):
    _parameter_constraints: dict = {
        **_BaseLSTM._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }
    _stratify_split = True

    def __init__(
        self,
        hidden_layer_sizes=(32,),
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        rho=0.9,
        n_iter_no_change=20,
        max_grad_norm=None,
        max_fun=15000,
        bidirectional=False,
        dropout=0.0,
        recurrent_dropout=0.0,
        scoring="loss",
        return_sequences=False,
        cell="lstm",
        class_weight=None,
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            max_iter=max_iter,
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            rho=rho,
            n_iter_no_change=n_iter_no_change,
            max_grad_norm=max_grad_norm,
            max_fun=max_fun,
            bidirectional=bidirectional,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            scoring=scoring,
            return_sequences=return_sequences,
            cell=cell,
        )
        self.class_weight = class_weight

    _stream_class = LSTMClassifierStream
    # With return_sequences: a label per step.
    _step_label_ndim = 1
    _step_targets_doc = "one label"

    def _y_params(self):
        return {"multi_output": True}

    @property
    def _multilabel(self):
        return self._label_binarizer.y_type_.startswith("multilabel")

    def _encode_targets(self, y, first_pass, classes=None, sample_weight=None):
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        _check_not_probabilities(y)
        check_classification_targets(y)
        # Labels in one column are binary or multiclass: no second pass over y
        # (~0.1 ms a fit on 1000 labels) to learn what the check just learnt.
        multilabel = y.ndim == 2 and type_of_target(y).startswith("multilabel")
        if first_pass:
            binarizer = LabelBinarizer()
            if multilabel or classes is None:
                binarizer.fit(y)
            else:
                binarizer.fit(np.asarray(classes))
            if binarizer.classes_.shape[0] < 2:
                raise ValueError(
                    "LSTMClassifier needs samples of at least 2 classes in the data, "
                    f"but the data contain only one class: {binarizer.classes_[0]!r}."
                )
            if multilabel:
                _warn_if_one_hot(y)
            self._label_binarizer = binarizer
            self.classes_ = binarizer.classes_
            if self._multilabel or len(self.classes_) == 2:
                self._head = "logistic"  # one unit per label, or for the positive
            else:
                self._head = "softmax"
        elif multilabel != self._multilabel:
            raise ValueError(
                f"The model was fitted on {self._label_binarizer.y_type_} targets, "
                f"got {type_of_target(y)} targets."
            )
        elif self._multilabel and y.shape[1] != len(self.classes_):
            raise ValueError(
                f"y has {y.shape[1]} labels, but the model was fitted on "
                f"{len(self.classes_)}."
            )
        if not self._multilabel:
            unseen = np.setdiff1d(np.unique(y), self.classes_)
            if unseen.size:
                where = (
                    "not in classes"
                    if first_pass
                    else "that the model was not fitted on"
                )
                raise ValueError(
                    f"y has labels {unseen.tolist()} {where}: {self.classes_.tolist()}."
                )
            # LabelBinarizer.transform's encoding, without its second pass of
            # target-type checks (~1 ms a fit on 1000 labels): a column for the
            # positive class, or one-hot columns, in the order of classes_.
            codes = np.searchsorted(self.classes_, y)
            if len(self.classes_) == 2:
                return (codes == 1).astype(np.float64)[:, None]
            return (codes[:, None] == np.arange(len(self.classes_))).astype(np.float64)
        return self._label_binarizer.transform(y)

    def _stratification_labels(self, y):
        # Multilabel rows have no one class to stratify by.
        return None if self._multilabel else y

    def _target_weights(self, y, incremental):
        if self.class_weight is None:
            return None
        if isinstance(self.class_weight, dict):
            for label, weight in self.class_weight.items():
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
        if incremental and self.class_weight == "balanced":
            raise ValueError(
                "class_weight='balanced' is not supported by partial_fit: the class "
                "frequencies of one chunk are not those of the data set. Pass a dict "
                "of class weights instead."
            )
        return compute_sample_weight(self.class_weight, y)

    def _score_data(self, X, y, sample_weight):
        return accuracy_score(
            y, self._decode(self._logits(X)), sample_weight=sample_weight
        )

    def _decode(self, logits):
        if self._head == "logistic":
            # Threshold 0 on the logits is 0.5 on the probabilities.
            if self._multilabel:
                return self._label_binarizer.inverse_transform((logits > 0).astype(int))
            # LabelBinarizer.inverse_transform's binary case, without its checks
            # (which dominate the prediction of a stream's step or one sequence).
            return self.classes_[(logits[:, 0] > 0).astype(np.intp)]
        return self.classes_[logits.argmax(axis=1)]

    @_validation_data_doc("labels", "Labels")
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(
        self,
        X,
        y,
        sample_weight=None,
        *,
        X_val=None,
        y_val=None,
        sample_weight_val=None,
    ):
        """Fit the model to sequences X and class labels y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps, n_features) or list of arrays
            Training sequences; a 2-D X is sequences of one time step, a list
            holds sequences (n_timesteps_i, n_features) of their own lengths.

        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a label indicator matrix for multilabel
            classification (one logistic output per label). With
            ``return_sequences=True``, a label per step: (n_samples,
            n_timesteps), or a list of (n_timesteps_i,) label arrays.

        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sequence in the mean loss; multiplied by the weights
            that ``class_weight`` implies.

        {validation_data}

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(
            X,
            y,
            sample_weight,
            X_val=X_val,
            y_val=y_val,
            sample_weight_val=sample_weight_val,
        )

    @available_if(_BaseLSTM._is_stochastic)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Run one epoch of minibatch updates over X and y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps, n_features) or list of arrays
            Training sequences.

        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a label indicator matrix.

        classes : array-like of shape (n_classes,), default=None
            Every class of the problem. Required on the first call, ignored after.

        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sequence in the mean loss.

        Returns
        -------
        self : object
            The updated estimator.
        """
        _check_partial_fit_first_call(self, classes)
        # classes_ is read only when the network is created (the first pass).
        return self._fit(X, y, sample_weight, incremental=True, classes=self.classes_)

    def predict_proba(self, X):
        """Class probabilities of each sequence.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps, n_features) or list of arrays
            Sequences to classify.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probability of each class, in the order of ``classes_``; for
            multilabel targets, the probability of each label. With
            ``return_sequences=True``, per step: (n_samples, n_timesteps,
            n_classes), or a list of (n_timesteps_i, n_classes) arrays.
        """
        return self._probabilities(X, log=False)

    def predict_log_proba(self, X):
        """Logarithm of the class probabilities, computed without underflow.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps, n_features) or list of arrays
            Sequences to classify.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Log-probability of each class, in the order of ``classes_``; per
            step with ``return_sequences=True``, as :meth:`predict_proba`.
        """
        return self._probabilities(X, log=True)

    def _probabilities(self, X, log):
        if not self.__sklearn_is_fitted__():
            check_is_fitted(self)
        out, data = self._probabilities_via(
            lambda softmax, take_log: self._predict_logits(X, softmax, take_log), log
        )
        return self._per_sequence(out, data)

    def _probabilities_via(self, logits_of, log):
        """Class probabilities (or their logs) from the head's pre-activations.

        ``logits_of(softmax, take_log)`` returns ``(out, context)``: the logits,
        or for a softmax head, which the kernels apply themselves, its output.
        Shared by predictions and streams; returns ``(probabilities, context)``.
        """
        if self._head == "softmax":
            out, context = logits_of(True, log)
            return within_probability_bounds(out, log), context
        logits, context = logits_of(False, False)
        if not self._multilabel:
            # One unit for the positive class: p(negative) is that of -z.
            logits = np.hstack([-logits, logits])
        return within_probability_bounds(
            activate("logistic", logits, log), log
        ), context

    def predict(self, X):
        """Most probable class of each sequence.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps, n_features) or list of arrays
            Sequences to classify.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_labels)
            Predicted labels (a label indicator matrix for multilabel targets).
            With ``return_sequences=True``, a label per step: (n_samples,
            n_timesteps), or a list of (n_timesteps_i,) arrays.
        """
        logits, data = self._predict_logits(X)
        return self._per_sequence(self._decode(logits), data)

    def score(self, X, y, sample_weight=None):
        """Mean accuracy on sequences X and labels y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps, n_features) or list of arrays
            Test sequences.

        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            True labels (a label indicator matrix for multilabel targets, scored
            by subset accuracy).

        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sequence; finite, non-negative and not all zero, as in
            ``fit``.

        Returns
        -------
        score : float
            Weighted fraction of the sequences predicted correctly; with
            ``return_sequences=True``, of all their steps, each weighing what
            its sequence weighs.
        """
        return self._score(X, y, sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


@_docstring(
    """Long short-term memory network regressor.

    Stacked LSTM (or GRU: ``cell="gru"``) layers read each sequence; a linear
    layer on the last layer's final state outputs one or several values (e.g. the
    next k values of a series), trained on ``((y - y_pred) ** 2).mean() / 2`` as
    scikit-learn's MLPRegressor.

    Parameters
    ----------
{parameters}

    Attributes
    ----------
{attributes}

    See Also
    --------
    LSTMClassifier : The same network with a softmax or logistic output layer.
    sklearn.neural_network.MLPRegressor : Feed-forward network on flat features.

    Notes
    -----
    X is ``(n_samples, n_timesteps, n_features)``, Keras' layout. A 2-D X is
    ``(n_samples, n_features)``: sequences of one time step; a univariate series
    is passed as ``X[:, :, None]``. The number of time steps may differ between
    ``fit`` and ``predict``. Sequences of different lengths are passed as a list
    of 2-D arrays ``(n_timesteps_i, n_features)``, as they are: no padding or
    masking; each sequence's state stops at its own last step, and the result
    for a sequence does not depend on the others in its batch. Minibatches group
    sequences of similar lengths (sorted within buckets of 50 batches, buckets
    shuffled), so a batch pays little for its longest member. A list can be
    indexed by scikit-learn's splitters, so cross-validation and searches take
    it directly.

{notes}

    Examples
    --------
    >>> import numpy as np
    >>> from sklstm import LSTMRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-1, 1, size=(300, 5, 1))
    >>> y = X[:, -1, 0] - 0.5 * X[:, -2, 0]  # depends on the last two steps
    >>> reg = LSTMRegressor(hidden_layer_sizes=(16,), learning_rate_init=0.01,
    ...                     max_iter=100, random_state=0).fit(X, y)
    >>> reg.predict(X[:3]).shape
    (3,)
    >>> bool(reg.score(X, y) > 0.9)
    True
    """
)
class LSTMRegressor(RegressorMixin, _BaseLSTM):
    _head = "identity"

    _stream_class = LSTMStream
    # With return_sequences: a value, or a row of n_outputs values, per step.
    _step_label_ndim = 2
    _step_targets_doc = "a value or a row of n_outputs values"

    def _y_params(self):
        return {"multi_output": True, "y_numeric": True}

    def _encode_targets(self, y, first_pass, classes=None, sample_weight=None):
        Y = np.asarray(y, dtype=np.float64)
        if Y.ndim == 1:
            Y = Y.reshape(-1, 1)
        if first_pass:
            self._y_ndim = np.ndim(y)
            self._target_mean, self._target_scale = _target_scaling(Y, sample_weight)
        elif Y.shape[1] != len(self._target_mean):
            raise ValueError(
                f"y has {Y.shape[1]} outputs, but the model was fitted on "
                f"{len(self._target_mean)}."
            )
        # Trained on standardised targets: the stopping rule, the step sizes and
        # the initialisation then suit a target in any unit.
        return (Y - self._target_mean) / self._target_scale

    def _training_scaling(self):
        return self._target_scale, self._target_mean

    def _check_target_range(self, y, dtype):
        # Predictions come back in X's dtype: y must fit in it.
        _cast_targets(np.asarray(y, dtype=np.float64), dtype)

    def _score_data(self, X, y, sample_weight):
        return r2_score(
            y, self._shape_prediction(self._logits(X)), sample_weight=sample_weight
        )

    def _shape_prediction(self, logits):
        """Predictions in y's units and shape from the head's outputs."""
        if self._y_scaled:  # only while training (a scorer of early stopping)
            logits = (logits * self._y_scale + self._y_mean).astype(logits.dtype)
        return logits.ravel() if self._y_ndim == 1 else logits

    @property
    def _y_scaled(self):
        return getattr(self, "_y_scale_active", False)

    def _head_scaling(self):
        return self._y_scale, self._y_mean

    def __setstate__(self, state):
        # Models pickled before targets were standardised: their head outputs y.
        if "_params" in state and "_y_mean" not in state:
            n_outputs = state["n_outputs_"]
            state["_y_mean"] = state["_target_mean"] = np.zeros(n_outputs)
            state["_y_scale"] = state["_target_scale"] = np.ones(n_outputs)
        super().__setstate__(state)

    @_validation_data_doc("outputs", "Targets")
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(
        self,
        X,
        y,
        sample_weight=None,
        *,
        X_val=None,
        y_val=None,
        sample_weight_val=None,
    ):
        """Fit the model to sequences X and targets y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps, n_features) or list of arrays
            Training sequences; a 2-D X is sequences of one time step, a list
            holds sequences (n_timesteps_i, n_features) of their own lengths.

        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target values. The network is trained on them standardised (each
            output's mean and standard deviation), so their unit does not matter;
            predictions and :meth:`get_weights` are in y's units. With
            ``return_sequences=True``, a target per step: (n_samples,
            n_timesteps) or (n_samples, n_timesteps, n_outputs), or a list of
            per-sequence arrays of the sequences' lengths.

        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sequence in the mean loss.

        {validation_data}

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(
            X,
            y,
            sample_weight,
            X_val=X_val,
            y_val=y_val,
            sample_weight_val=sample_weight_val,
        )

    @available_if(_BaseLSTM._is_stochastic)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Run one epoch of minibatch updates over X and y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps, n_features) or list of arrays
            Training sequences.

        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target values.

        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sequence in the mean loss.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X):
        """Predicted values for each sequence.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps, n_features) or list of arrays
            Sequences.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Predictions, 1-D when the model was fitted on a 1-D y. With
            ``return_sequences=True``, per step: (n_samples, n_timesteps[,
            n_outputs]), or a list of per-sequence arrays.
        """
        logits, data = self._predict_logits(X)
        return self._per_sequence(self._shape_prediction(logits), data)

    def score(self, X, y, sample_weight=None):
        """Coefficient of determination R^2 of the predictions on X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps, n_features) or list of arrays
            Test sequences.

        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            True values.

        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sequence; finite, non-negative and not all zero, as in
            ``fit``.

        Returns
        -------
        score : float
            R^2 of ``predict(X)`` against y (uniform average over the outputs),
            as scikit-learn's ``RegressorMixin.score``; with
            ``return_sequences=True``, over every step, each weighing what its
            sequence weighs.
        """
        return self._score(X, y, sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags
