"""LSTMClassifier and LSTMRegressor: validation, training loop, fitted state."""

import time
import warnings
from abc import ABC, abstractmethod
from numbers import Integral, Real

import numpy as np
import scipy.optimize
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
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
    check_is_fitted,
    check_X_y,
    column_or_1d,
    validate_data,
)

from sklstm._lstm_fast import all_finite
from sklstm._network import activate, aligned_params, network_for, pooled_buffer
from sklstm._optimizers import AdamOptimizer, RMSpropOptimizer, SGDOptimizer
from sklstm._sequences import (
    DenseSequences,
    RaggedSequences,
    check_sequence_list,
    is_sequence_list,
    length_sorted_batches,
)
from sklstm._threads import kernel_threads
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

    alpha : float, default=0.0001
        L2 penalty on the input, recurrent and output kernels (not the biases),
        scaled as in scikit-learn's MLP: ``alpha / (2 * batch)`` times the squared
        norm is added to each minibatch's mean loss.

    batch_size : int or "auto", default="auto"
        Sequences per minibatch; "auto" is ``min(200, n_samples)``. Larger values
        are clipped to the number of samples.

    learning_rate : {"constant", "invscaling", "adaptive"}, default="constant"
        Learning-rate schedule, used by ``solver="sgd"`` only (as in MLP).

    learning_rate_init : float, default=0.001
        Initial step size.

    power_t : float, default=0.5
        Exponent of the "invscaling" schedule.

    max_iter : int, default=200
        Maximum number of epochs (passes over the training data); for "lbfgs",
        of L-BFGS iterations.

    shuffle : bool, default=True
        Whether to shuffle the samples at each epoch.

    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialisation, shuffling and the early-stopping split.
        With an int and a fixed number of BLAS threads, fits are reproducible.

    tol : float, default=1e-4
        An epoch counts as an improvement when the training loss (or the
        validation score with ``early_stopping``) improves by at least ``tol``.

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
        Hold out ``validation_fraction`` of the training data, stop when its score
        has not improved for ``n_iter_no_change`` epochs, and keep the weights of
        the best epoch.

    validation_fraction : float, default=0.1
        Share of the training data held out with ``early_stopping``.

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

    n_iter_no_change : int, default=10
        Epochs without an improvement of at least ``tol`` before training stops.

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
"""

_COMMON_ATTRIBUTES_DOC = """
    loss_ : float
        Mean training loss of the last epoch.

    best_loss_ : float or None
        Lowest ``loss_`` reached; None with ``early_stopping``.

    loss_curve_ : list of float
        ``loss_`` after each epoch.

    validation_scores_ : list of float or None
        Score on the held-out set after each epoch with ``early_stopping``; None
        otherwise.

    best_validation_score_ : float or None
        Best of ``validation_scores_``; None without ``early_stopping``.

    t_ : int
        Number of training samples seen by the optimizer (summed over epochs).

    n_iter_ : int
        Number of epochs (L-BFGS iterations for "lbfgs") run by the last ``fit``.

    n_features_in_ : int
        Number of features at each time step (the last axis of X).

    feature_names_in_ : ndarray of shape (n_features_in_,)
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
"""


def _docstring(template):
    """Fill the shared parameter, attribute and notes sections of a docstring."""

    def decorate(cls):
        cls.__doc__ = template.format(
            parameters=_COMMON_PARAMETERS_DOC.strip("\n"),
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
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "recurrent_dropout": [Interval(Real, 0, 1, closed="left")],
    }

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
        n_iter_no_change=10,
        max_grad_norm=None,
        max_fun=15000,
        bidirectional=False,
        dropout=0.0,
        recurrent_dropout=0.0,
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

    # ------------------------------------------------------------------ hooks
    @abstractmethod
    def _encode_targets(self, y, first_pass, classes=None):
        """Validated y -> float targets (n_samples, n_outputs); sets target state."""

    @abstractmethod
    def _validation_score(self, X, y, sample_weight):
        """Score of the held-out split for early stopping (higher is better)."""

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

    def _check_sample_weight(self, sample_weight, data):
        """None, or sample weights as a 1-D float array of the data's dtype."""
        if sample_weight is None:
            return None
        n_samples = data.n_samples
        sample_weight = np.asarray(sample_weight)
        if sample_weight.ndim == 0:
            sample_weight = np.full(n_samples, sample_weight)
        if sample_weight.shape != (n_samples,):
            raise ValueError(
                f"sample_weight.shape == {sample_weight.shape}, expected "
                f"({n_samples},)!"
            )
        if sample_weight.dtype.kind not in "biuf":
            raise ValueError(
                f"sample_weight must be real numbers, got dtype {sample_weight.dtype}."
            )
        sample_weight = sample_weight.astype(data.dtype)
        if not np.isfinite(sample_weight).all():
            raise ValueError("sample_weight must be finite; got NaN or infinity.")
        if (sample_weight < 0).any():
            raise ValueError("sample_weight must be non-negative.")
        if not sample_weight.sum() > 0:
            raise ValueError("sample_weight sums to zero: no sample would count.")
        return sample_weight

    def _target_weights(self, y, incremental):
        """Per-sample weights that the targets imply (class weights), or None."""
        return None

    # -------------------------------------------------------------- training
    def _network(self):
        return network_for(
            self.n_features_in_,
            self._layer_sizes,
            self.n_outputs_,
            self._head,
            self._params.dtype,
            self._bidirectional,
        )

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

    def _fit(self, X, y, sample_weight=None, incremental=False, classes=None):
        layer_sizes = self._hidden_sizes()
        first_pass = not hasattr(self, "_params") or (
            not self.warm_start and not incremental
        )
        dtype = None if first_pass else self._params.dtype
        data, y = self._check_sequences(
            X, reset=first_pass, y=y, dtype=dtype, **self._y_params()
        )
        sample_weight = self._check_sample_weight(sample_weight, data)
        Y = self._encode_targets(y, first_pass, classes).astype(data.dtype, copy=False)
        target_weights = self._target_weights(y, incremental)
        if target_weights is not None:
            target_weights = target_weights.astype(data.dtype)
            if sample_weight is not None:
                target_weights *= sample_weight
            sample_weight = target_weights
        self._random_state = check_random_state(self.random_state)

        if first_pass:
            self.n_outputs_ = Y.shape[1]
            self._layer_sizes = layer_sizes
            self._bidirectional = bool(self.bidirectional)
            network = network_for(
                self.n_features_in_,
                layer_sizes,
                self.n_outputs_,
                self._head,
                data.dtype,
                self._bidirectional,
            )
            self._params = network.initialize(self._random_state)
            self.n_iter_ = 0
            self.t_ = 0
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping and self.solver != "lbfgs":
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.validation_scores_ = None
                self.best_validation_score_ = None
                self.best_loss_ = np.inf
        elif self.early_stopping and self.validation_scores_ is None:
            # A warm start that turns early stopping on: start its bookkeeping.
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
        elif not self.early_stopping and self.best_loss_ is None:
            self.best_loss_ = np.inf
        if layer_sizes != self._layer_sizes:
            raise ValueError(
                f"hidden_layer_sizes={self.hidden_layer_sizes!r} differs from the "
                f"fitted network's {self._layer_sizes}; refit with warm_start=False."
            )
        if bool(self.bidirectional) != self._bidirectional:
            raise ValueError(
                f"bidirectional={self.bidirectional!r} differs from the fitted "
                "network; refit with warm_start=False."
            )

        # As in MLP: fit (even warm-started) starts a new optimizer, partial_fit
        # carries the optimizer state (Adam moments, velocity) from call to call.
        if self.solver != "lbfgs" and (
            first_pass or not incremental or not hasattr(self, "_optimizer")
        ):
            self._optimizer = self._make_optimizer()
        # A diverging fit is detected and undone by the solvers (NaN or infinite
        # loss or weights); NumPy's per-operation overflow warnings would only
        # bury that one clear warning.
        if self.solver == "lbfgs" and (self.dropout or self.recurrent_dropout):
            raise ValueError(
                "dropout and recurrent_dropout need a minibatch solver "
                "('adam', 'rmsprop' or 'sgd'): they make the loss random, "
                "which L-BFGS's line search cannot follow."
            )
        with (
            np.errstate(over="ignore", invalid="ignore"),
            kernel_threads(data.n_samples) as n_threads,
        ):
            if self.solver == "lbfgs":
                self._fit_lbfgs(data, Y, sample_weight, n_threads)
            else:
                self._fit_stochastic(data, y, Y, sample_weight, incremental, n_threads)
        return self

    def _chunk_size(self, n_samples, n_steps):
        """Sequences per full-batch chunk, so that no buffer exceeds a fixed size."""
        per_sample = n_steps * max(4 * max(self._layer_sizes), self.n_features_in_)
        by_memory = max(1, _CHUNK_ELEMENTS // per_sample)
        return int(min(n_samples, _CHUNK_SEQUENCES, by_memory))

    def _fit_lbfgs(self, data, Y, sample_weight, n_threads):
        """Full-batch L-BFGS (scipy's L-BFGS-B) on the weighted mean loss.

        The loss and gradient of the whole data set are summed over chunks of
        bounded memory; scipy works in float64, the network in X's dtype.
        """
        network = self._network()
        n_samples = data.n_samples
        chunk = self._chunk_size(n_samples, data.max_length)
        workspace = network.workspace(data.max_length, chunk, n_threads=n_threads)
        order = data.order_for_batches(np.arange(n_samples))
        total_weight = n_samples if sample_weight is None else sample_weight.sum()
        params = np.empty_like(self._params)
        grads = np.empty_like(self._params)
        chunk_grads = np.empty_like(self._params)

        def loss_and_gradient(flat):
            params[...] = flat
            grads[...] = 0
            loss = 0.0
            for index, batch_slice in enumerate(gen_batches(n_samples, chunk)):
                batch_index = order[batch_slice]
                X_tm, batch_sizes, last_step = data.pack(batch_index, workspace)
                loss += network.loss_and_gradient(
                    params,
                    X_tm,
                    batch_sizes,
                    last_step,
                    Y[batch_index],
                    # The L2 term belongs to the whole batch: add it once.
                    self.alpha if index == 0 else 0.0,
                    chunk_grads,
                    workspace,
                    sample_weight=None
                    if sample_weight is None
                    else sample_weight[batch_index],
                    total_weight=total_weight,
                )
                np.add(grads, chunk_grads, out=grads)
            return loss, grads.astype(np.float64)

        started = time.perf_counter()

        def record(intermediate_result):
            self.loss_curve_.append(float(intermediate_result.fun))
            if self.verbose:
                print(
                    "Iteration %d, loss = %.8f, time = %.2fs"
                    % (
                        len(self.loss_curve_),
                        self.loss_curve_[-1],
                        time.perf_counter() - started,
                    )
                )

        result = scipy.optimize.minimize(
            loss_and_gradient,
            self._params.astype(np.float64),
            method="L-BFGS-B",
            jac=True,
            callback=record,
            options={
                "maxiter": self.max_iter,
                "maxfun": self.max_fun,
                "gtol": self.tol,
            },
        )
        if not np.isfinite(result.x).all():
            _warn_diverged("lbfgs", "the starting weights were kept")
            return
        self._params = aligned_params(result.x, self._params.dtype)
        self.n_iter_ = int(result.nit)
        self.loss_ = float(result.fun)
        self.best_loss_ = min(self.best_loss_, self.loss_)
        if result.status != 0:
            warnings.warn(
                f"lbfgs failed to converge after {result.nit} iterations "
                f"(status={result.status}): {result.message}. Increase max_iter "
                "(or max_fun), or scale the input.",
                ConvergenceWarning,
                stacklevel=3,
            )

    def _fit_stochastic(self, data, y, Y, sample_weight, incremental, n_threads):
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        early_stopping = self.early_stopping
        if early_stopping:
            stratify = y if self._stratify_split else None
            train, val = train_test_split(
                np.arange(data.n_samples),
                random_state=self._random_state,
                test_size=self.validation_fraction,
                stratify=stratify,
            )
            if len(val) < 2:
                raise ValueError(
                    "The validation set is too small. Increase 'validation_fraction' "
                    "or the size of your dataset."
                )
            data, data_val = data.take(train), data.take(val)
            Y, y_val = Y[train], y[val]
            if sample_weight is None:
                weight_val = None
            else:
                sample_weight, weight_val = sample_weight[train], sample_weight[val]
            self._best_params = aligned_params(self._params)
        else:
            data_val = y_val = weight_val = None

        n_samples = data.n_samples
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            batch_size = min(self.batch_size, n_samples)
        total_weight = n_samples if sample_weight is None else sample_weight.sum()

        network = self._network()
        use_dropout = bool(self.dropout or self.recurrent_dropout)
        workspace = network.workspace(
            data.max_length, batch_size, use_dropout, n_threads
        )
        grads = np.empty_like(self._params)
        epoch_start = np.empty_like(self._params)
        sample_index = np.arange(n_samples)

        if not incremental:
            self.n_iter_ = 0
        try:
            for _ in range(self.max_iter):
                started = time.perf_counter()
                if self.shuffle:
                    self._random_state.shuffle(sample_index)
                if self.shuffle and isinstance(data, RaggedSequences):
                    batches = length_sorted_batches(
                        data.lengths, sample_index, batch_size, self._random_state
                    )
                else:
                    batches = [
                        sample_index[s] for s in gen_batches(n_samples, batch_size)
                    ]
                # verbose >= 2 reports about ten times per epoch: none is silent.
                report_every = max(1, len(batches) // 10) if self.verbose >= 2 else 0
                accumulated_loss = seen_weight = 0.0
                seen_samples = 0
                np.copyto(epoch_start, self._params)
                diverged = False
                for batch_number, batch_index in enumerate(batches, start=1):
                    batch_index = data.order_for_batches(batch_index)
                    n_batch = batch_index.shape[0]
                    seen_samples += n_batch
                    if sample_weight is None:
                        batch_weight, batch_total = None, n_batch
                    else:
                        batch_weight = sample_weight[batch_index]
                        batch_total = float(batch_weight.sum())
                    if batch_total > 0:
                        X_tm, batch_sizes, last_step = data.pack(batch_index, workspace)
                        batch_loss = network.loss_and_gradient(
                            self._params,
                            X_tm,
                            batch_sizes,
                            last_step,
                            Y[batch_index],
                            self.alpha,
                            grads,
                            workspace,
                            sample_weight=batch_weight,
                            masks=self._draw_masks(network, n_batch)
                            if use_dropout
                            else None,
                        )
                        if not np.isfinite(batch_loss):
                            diverged = True
                            break
                        if self.max_grad_norm is not None:
                            norm = np.sqrt(np.dot(grads, grads))
                            if norm > self.max_grad_norm:
                                grads *= self.max_grad_norm / norm
                        self._optimizer.update(self._params, grads)
                        accumulated_loss += batch_loss * batch_total
                        seen_weight += batch_total
                    if report_every and batch_number % report_every == 0:
                        print(
                            "  epoch %d: %d/%d samples, loss = %.8f, %.2fs"
                            % (
                                self.n_iter_ + 1,
                                seen_samples,
                                n_samples,
                                accumulated_loss / max(seen_weight, 1e-300),
                                time.perf_counter() - started,
                            )
                        )

                if diverged or not np.isfinite(self._params).all():
                    # Never leave NaN weights behind: back to the last finite epoch,
                    # with a fresh optimizer (its moments hold the overflow too).
                    np.copyto(self._params, epoch_start)
                    self._optimizer = self._make_optimizer()
                    _warn_diverged(
                        f"epoch {self.n_iter_ + 1}",
                        "the weights of the last finite epoch were kept",
                    )
                    break
                self.n_iter_ += 1
                self.loss_ = accumulated_loss / total_weight
                self.t_ += n_samples
                self.loss_curve_.append(self.loss_)
                self._update_no_improvement_count(
                    early_stopping, data_val, y_val, weight_val
                )
                if self.verbose:
                    message = "Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_)
                    if early_stopping:
                        message += (
                            ", validation score = %.6f" % self.validation_scores_[-1]
                        )
                    print(message + ", time = %.2fs" % (time.perf_counter() - started))
                self._optimizer.iteration_ends(self.t_)

                if self._no_improvement_count > self.n_iter_no_change:
                    if early_stopping:
                        msg = (
                            "Validation score did not improve more than tol=%f for %d "
                            "consecutive epochs." % (self.tol, self.n_iter_no_change)
                        )
                    else:
                        msg = (
                            "Training loss did not improve more than tol=%f for %d "
                            "consecutive epochs." % (self.tol, self.n_iter_no_change)
                        )
                    if self._optimizer.trigger_stopping(msg, self.verbose):
                        break
                    self._no_improvement_count = 0

                if incremental:
                    break
                if self.n_iter_ == self.max_iter:
                    warnings.warn(
                        "Stochastic Optimizer: Maximum iterations (%d) reached and the "
                        "optimization hasn't converged yet." % self.max_iter,
                        ConvergenceWarning,
                        stacklevel=3,
                    )
        except KeyboardInterrupt:
            # Ctrl-C: back to the last completed epoch, a usable fitted model;
            # the optimizer's state is mid-epoch, so it starts afresh next time.
            np.copyto(self._params, epoch_start)
            self._optimizer = self._make_optimizer()
            warnings.warn(
                f"Training interrupted by the user after {self.n_iter_} complete "
                "epoch(s); their weights were kept. Fit again with warm_start=True "
                "to go on from there.",
                UserWarning,
                stacklevel=3,
            )

        if early_stopping:
            self._params = self._best_params
            del self._best_params

    def _draw_masks(self, network, n_batch):
        """Inverted-dropout masks per layer and direction for one minibatch."""
        rng, dtype = self._random_state, self._params.dtype

        def draw(rate, width):
            if not rate:
                return None
            keep = rng.random_sample((n_batch, width)) >= rate
            return (keep / (1 - rate)).astype(dtype)

        return [
            [
                (draw(self.dropout, n_in), draw(self.recurrent_dropout, units))
                for _ in range(network.n_directions)
            ]
            for n_in, units in zip(network.layer_inputs, network.hidden_layer_sizes)
        ]

    def _update_no_improvement_count(self, early_stopping, data_val, y_val, weight_val):
        if early_stopping:
            score = self._validation_score(data_val, y_val, weight_val)
            self.validation_scores_.append(score)
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_params = aligned_params(self._params)
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    # ------------------------------------------------------------ prediction
    def _logits(self, data):
        """Output-layer pre-activations of validated sequences, in bounded chunks.

        Chunks take the sequences in decreasing length, so a ragged set pays for
        little padding; the results go back to the input order.
        """
        network = self._network()
        n_samples = data.n_samples
        chunk = self._chunk_size(n_samples, data.max_length)
        if isinstance(data, DenseSequences):
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
        # Ragged sequences in decreasing length, the results back in input order.
        order = data.order_for_batches(np.arange(n_samples))
        out = np.empty((n_samples, self.n_outputs_), dtype=self._params.dtype)
        with kernel_threads(chunk) as n_threads:
            workspace = network.workspace(data.max_length, chunk, n_threads=n_threads)
            for batch_slice in gen_batches(n_samples, chunk):
                batch_index = order[batch_slice]
                X_tm, batch_sizes, last_step = data.pack(batch_index, workspace)
                out[batch_index] = network.logits(
                    self._params, X_tm, batch_sizes, last_step, workspace
                )
        return out

    def _predict_logits(self, X, softmax=False, take_log=False):
        """Head pre-activations of X; with ``softmax``, the probabilities.

        ``take_log`` (with ``softmax``) gives their logarithms, without underflow.
        """
        if not self.__sklearn_is_fitted__():
            check_is_fitted(self)  # raises scikit-learn's NotFittedError
        data = None
        if self._is_plain_input(X):
            if X.shape[0] == 1 and X.flags.c_contiguous:
                # One sequence: one kernel call, which also checks X (None for
                # NaN or infinity: the full validation below names them) and
                # applies the softmax; nothing to chunk or pool (3 of 28 µs).
                outputs = self._network().sequence_outputs(
                    self._params, X, softmax, take_log
                )
                if outputs is not None:
                    return outputs
            elif all_finite(X):
                # One pass with no temporary (NumPy's isfinite().all() took 2 µs
                # on one sequence); an X with NaN or infinity goes to the full
                # validation, which names the problem.
                data = DenseSequences(X)
        if data is None:
            data = self._check_sequences(X, reset=False, dtype=self._params.dtype)
        logits = self._logits(data)
        return activate("softmax", logits, take_log) if softmax else logits

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
        data, y = self._check_sequences(
            X, reset=False, y=y, dtype=self._params.dtype, **self._y_params()
        )
        sample_weight = self._check_sample_weight(sample_weight, data)
        return float(self._validation_score(data, y, sample_weight))

    # ------------------------------------------------------------------ weights
    def get_weights(self):
        """Weights as ``keras.Sequential.get_weights()`` returns them.

        Returns
        -------
        weights : list of ndarray
            Per LSTM layer, bottom first: ``kernel`` of shape (n_inputs,
            4 * units), ``recurrent_kernel`` of shape (units, 4 * units), ``bias``
            of shape (4 * units,), with the gates in the order input, forget, cell
            candidate, output; then the output layer's ``kernel`` of shape
            (units_last, n_outputs_) and ``bias`` of shape (n_outputs_,). With
            ``bidirectional=True``, Keras' ``Bidirectional`` layout: per layer the
            forward direction's three arrays, then the backward direction's, upper
            layers' kernels ``2 * units`` rows tall, and an output kernel of
            ``2 * units_last`` rows. Copies: changing them does not change the
            model.
        """
        check_is_fitted(self)
        return [w.copy() for w in self._network().unpack(self._params)]

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
                f"({len(self._layer_sizes)} LSTM layers x {3 * network.n_directions}"
                f" + 2 for the output layer), got {len(weights)}."
            )
        new_params = aligned_params(np.zeros_like(self._params))
        for index, (view, weight) in enumerate(
            zip(network.unpack(new_params), weights)
        ):
            weight = np.asarray(weight)
            if weight.shape != view.shape:
                raise ValueError(
                    f"Weight {index} has shape {weight.shape}, expected {view.shape}."
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
        super().__setstate__(state)


class InconsistentVersionWarning(UserWarning):
    """A model is unpickled by another sklstm version than the one that saved it.

    Predictions may differ; refit or re-save the model with this version.
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


def _warn_diverged(where, kept):
    warnings.warn(
        f"Training diverged in {where}: the loss or the weights became NaN or "
        f"infinite, so training stopped and {kept}. Scale the input (e.g. "
        "standardise each feature), lower learning_rate_init, or set max_grad_norm.",
        ConvergenceWarning,
        stacklevel=4,
    )


@_docstring(
    """Long short-term memory network classifier.

    Stacked LSTM layers read each sequence; a dense layer on the last layer's
    final state outputs class probabilities (softmax over the classes, one
    logistic unit for two classes, one logistic unit per label for a multilabel
    indicator y), trained on the (weighted) mean cross-entropy.

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
        n_iter_no_change=10,
        max_grad_norm=None,
        max_fun=15000,
        bidirectional=False,
        dropout=0.0,
        recurrent_dropout=0.0,
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
        )
        self.class_weight = class_weight

    def _y_params(self):
        return {"multi_output": True}

    @property
    def _multilabel(self):
        return self._label_binarizer.y_type_.startswith("multilabel")

    def _encode_targets(self, y, first_pass, classes=None):
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
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

    def _target_weights(self, y, incremental):
        if self.class_weight is None:
            return None
        if incremental and self.class_weight == "balanced":
            raise ValueError(
                "class_weight='balanced' is not supported by partial_fit: the class "
                "frequencies of one chunk are not those of the data set. Pass a dict "
                "of class weights instead."
            )
        return compute_sample_weight(self.class_weight, y)

    def _validation_score(self, X, y, sample_weight):
        return accuracy_score(
            y, self._decode(self._logits(X)), sample_weight=sample_weight
        )

    def _decode(self, logits):
        if self._head == "logistic":
            # Threshold 0 on the logits is 0.5 on the probabilities.
            return self._label_binarizer.inverse_transform((logits > 0).astype(int))
        return self.classes_[np.argmax(logits, axis=1)]

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to sequences X and class labels y.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_timesteps, n_features), \
                (n_samples, n_features), or list of ndarray of shape \
                (n_timesteps_i, n_features)
            Training sequences; a 2-D X is sequences of one time step.

        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a label indicator matrix for multilabel
            classification (one logistic output per label).

        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sequence in the mean loss; multiplied by the weights
            that ``class_weight`` implies.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight)

    @available_if(_BaseLSTM._is_stochastic)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Run one epoch of minibatch updates over X and y.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_timesteps, n_features), \
                (n_samples, n_features), or list of ndarray of shape \
                (n_timesteps_i, n_features)
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
        X : ndarray of shape (n_samples, n_timesteps, n_features), \
                (n_samples, n_features), or list of ndarray of shape \
                (n_timesteps_i, n_features)
            Sequences to classify.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probability of each class, in the order of ``classes_``; for
            multilabel targets, the probability of each label.
        """
        return self._probabilities(X, log=False)

    def predict_log_proba(self, X):
        """Logarithm of the class probabilities, computed without underflow.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_timesteps, n_features), \
                (n_samples, n_features), or list of ndarray of shape \
                (n_timesteps_i, n_features)
            Sequences to classify.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Log-probability of each class, in the order of ``classes_``.
        """
        return self._probabilities(X, log=True)

    def _probabilities(self, X, log):
        if not self.__sklearn_is_fitted__():
            check_is_fitted(self)
        if self._head == "softmax":
            return self._predict_logits(X, softmax=True, take_log=log)
        logits = self._predict_logits(X)
        if self._head == "logistic" and not self._multilabel:
            # One unit for the positive class: p(negative) is the activation of -z.
            return np.hstack(
                [activate("logistic", -logits, log), activate("logistic", logits, log)]
            )
        return activate(self._head, logits, log)

    def predict(self, X):
        """Most probable class of each sequence.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_timesteps, n_features), \
                (n_samples, n_features), or list of ndarray of shape \
                (n_timesteps_i, n_features)
            Sequences to classify.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_labels)
            Predicted labels (a label indicator matrix for multilabel targets).
        """
        return self._decode(self._predict_logits(X))

    def score(self, X, y, sample_weight=None):
        """Mean accuracy on sequences X and labels y.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_timesteps, n_features), \
                (n_samples, n_features), or list of ndarray of shape \
                (n_timesteps_i, n_features)
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
            Weighted fraction of the sequences predicted correctly.
        """
        return self._score(X, y, sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


@_docstring(
    """Long short-term memory network regressor.

    Stacked LSTM layers read each sequence; a linear layer on the last layer's
    final state outputs one or several values (e.g. the next k values of a series),
    trained on ``((y - y_pred) ** 2).mean() / 2`` as scikit-learn's MLPRegressor.

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
    _stratify_split = False

    def _y_params(self):
        return {"multi_output": True, "y_numeric": True}

    def _encode_targets(self, y, first_pass, classes=None):
        y = np.asarray(y)
        if first_pass:
            self._y_ndim = y.ndim
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        if not first_pass and Y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {Y.shape[1]} outputs, but the model was fitted on "
                f"{self.n_outputs_}."
            )
        return Y

    def _validation_score(self, X, y, sample_weight):
        return r2_score(
            y, self._shape_prediction(self._logits(X)), sample_weight=sample_weight
        )

    def _shape_prediction(self, out):
        return out.ravel() if self._y_ndim == 1 else out

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to sequences X and targets y.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_timesteps, n_features), \
                (n_samples, n_features), or list of ndarray of shape \
                (n_timesteps_i, n_features)
            Training sequences; a 2-D X is sequences of one time step.

        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target values.

        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sequence in the mean loss.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight)

    @available_if(_BaseLSTM._is_stochastic)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Run one epoch of minibatch updates over X and y.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_timesteps, n_features), \
                (n_samples, n_features), or list of ndarray of shape \
                (n_timesteps_i, n_features)
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
        X : ndarray of shape (n_samples, n_timesteps, n_features), \
                (n_samples, n_features), or list of ndarray of shape \
                (n_timesteps_i, n_features)
            Sequences.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Predictions, 1-D when the model was fitted on a 1-D y.
        """
        return self._shape_prediction(self._predict_logits(X))

    def score(self, X, y, sample_weight=None):
        """Coefficient of determination R^2 of the predictions on X.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_timesteps, n_features), \
                (n_samples, n_features), or list of ndarray of shape \
                (n_timesteps_i, n_features)
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
            as scikit-learn's ``RegressorMixin.score``.
        """
        return self._score(X, y, sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags
