"""LSTMClassifier and LSTMRegressor: parameters, the stages of fit, fitted state.

``fit`` validates its input (:mod:`sklstm._validation`), encodes the targets
through the estimator's head (:mod:`sklstm._heads`), builds or reuses the network,
hands it to the training loop (:func:`sklstm._training.train`) and stores what
training gives back. Predictions, streams and the ONNX converter read the fitted
network as a :class:`~sklstm._model.FittedModel`.
"""

from abc import ABC, abstractmethod
from numbers import Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    ClassNamePrefixFeaturesOutMixin,
    RegressorMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.metrics import accuracy_score, check_scoring, r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import _check_partial_fit_first_call, type_of_target
from sklearn.utils.validation import check_is_fitted

from sklstm import _validation as checks
from sklstm._callbacks import CallbackSupportMixin, FitTasks
from sklstm._docstrings import docstring, validation_data_doc
from sklstm._heads import (
    REGRESSION_LOSSES,
    BinaryLogistic,
    Logistic,
    Softmax,
    SquaredError,
    TargetScaling,
    classifier_head,
    regression_head,
)
from sklstm._model import (
    FittedModel,
    FittedNetworkMixin,
    chunk_size,
    rescaled_params,
)
from sklstm._network import aligned_params, network_for
from sklstm._optimizers import make_optimizer
from sklstm._persistence import (  # noqa: F401 (public here too)
    InconsistentVersionWarning,
    VersionedPickleMixin,
)
from sklstm._projection import ProjectedNetwork, factored
from sklstm._sequences import StepTargets
from sklstm._stream import LSTMClassifierStream, LSTMStream
from sklstm._threads import kernel_threads
from sklstm._training import (
    Run,
    TrainingData,
    TrainingSettings,
    merged_samples,
    train,
    validation_scorer,
)
from sklstm._validation import OneHotTargetWarning  # noqa: F401 (public here too)

#: Parameters that estimators pickled by sklstm 0.1 lack, with the value that
#: describes how they were fitted: early stopping on the estimator's own score,
#: one prediction a sequence, LSTM cells, the best epoch's weights kept.
_PARAMETERS_SINCE_0_1 = {
    "scoring": None,
    "return_sequences": False,
    "cell": "lstm",
    "ema_momentum": None,
    "input_projection": None,
}


class _BaseLSTM(
    VersionedPickleMixin,
    FittedNetworkMixin,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    CallbackSupportMixin,
    BaseEstimator,
    ABC,
):
    """Stacked recurrent layers with a dense output layer, trained by minibatch BPTT."""

    _parameter_constraints: dict = checks.PARAMETER_CONSTRAINTS

    # Each estimator's __init__ has the whole signature, with its own defaults,
    # and stores every parameter (as MLP's).

    # ------------------------------------------------- what each estimator says
    @abstractmethod
    def _encode_targets(self, y, first_pass, classes=None, sample_weight=None):
        """Validated y -> float targets (n_samples, n_outputs); sets the head."""

    def _scaling(self):
        """The :class:`TargetScaling` of the training units, or None."""
        return None

    def _loss_weights(self, y, sample_weight, incremental, name, counts=None):
        """The loss's per-sample weights: sample_weight, times what y implies.

        ``counts``: how many samples each one stands for (merged repeats).
        """
        return sample_weight

    def _stratification_labels(self, y):
        """Labels to stratify an early-stopping split by, or None."""
        return None

    def _without_missing_steps(self, steps, weight, lengths):
        """Per-step targets and weights with steps of no target weighing 0."""
        return steps, weight

    def _check_target_range(self, y, dtype):
        """Refuse targets that the training dtype cannot represent."""

    def _is_stochastic(self):
        if self.solver == "lbfgs":
            raise AttributeError(
                "partial_fit is only available for minibatch solvers; "
                f"{self.solver!r} is a full-batch solver."
            )
        return True

    # --------------------------------------------------------- fit, in stages
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
        # The callbacks' task tree first: its state is scikit-learn's to tear
        # down, whatever happens to the fit's.
        tasks = FitTasks(
            self,
            "partial_fit" if incremental else "fit",
            0 if incremental else self.max_iter,
            self._snapshot,
        )
        # A fit that raises leaves the estimator as it was (the previous model, or
        # unfitted): every attribute it set goes back. Training works on copies of
        # the weights and histories, so nothing the old state holds is changed.
        saved = dict(self.__dict__)
        try:
            layer_sizes = checks.check_hidden_layer_sizes(self.hidden_layer_sizes)
            has_validation = checks.check_validation_data(
                X_val, y_val, sample_weight_val
            )
            checks.check_parameter_combinations(self, has_validation)
            first_pass = not hasattr(self, "_params") or (
                not self.warm_start and not incremental
            )
            if first_pass:
                self._return_sequences = bool(self.return_sequences)
                self._input_projection = self.input_projection
            else:
                checks.check_same_structure(self, self._structure(), layer_sizes)
            training = self._training_data(
                X, y, sample_weight, incremental, first_pass, classes
            )
            validation = None
            if has_validation:
                validation = self._training_data(
                    X_val,
                    y_val,
                    sample_weight_val,
                    incremental,
                    name="_val",
                    dtype=training.data.dtype,
                )
            tasks.begin_fit(X, y, sample_weight)
            # As in MLP, partial_fit ignores early stopping, and so does lbfgs.
            early_stopping = (
                self.early_stopping and self.solver != "lbfgs" and not incremental
            )
            network = self._prepare(training, layer_sizes, first_pass, early_stopping)
            run = Run(
                self._random_state,
                0,  # set with the thread team, in _train
                chunk_size(network, training.data.n_samples, training.data.max_length),
                fresh=first_pass,
                incremental=incremental,
                early_stopping=early_stopping,
                validation=validation,
                tasks=tasks,
            )
            trained = self._train(network, training, run)
            self._store(trained, network, first_pass, incremental)
            tasks.end_fit()
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise
        return self

    def _structure(self):
        """The fitted network's structural parameters, by name."""
        return {
            "hidden_layer_sizes": self._layer_sizes,
            "bidirectional": self._bidirectional,
            "return_sequences": self._return_sequences,
            "cell": self._cell,
            "input_projection": self._input_projection,
        }

    def _check_data(self, X, y, reset, dtype):
        """Validated sequences and targets (per step with return_sequences)."""
        return checks.check_data(
            self,
            X,
            y,
            reset=reset,
            dtype=dtype,
            y_params=self._y_params(),
            per_step=(self._step_label_ndim, self._step_targets_doc)
            if self._return_sequences
            else None,
        )

    def _training_data(
        self,
        X,
        y,
        sample_weight,
        incremental,
        first_pass=False,
        classes=None,
        name="",
        dtype=None,
    ):
        """Stage 1: X, y and weights validated, targets encoded: a TrainingData.

        ``name`` is "_val" for the validation data (named so in messages). Per
        step, each step is a sample for the encoding, the class weights and the
        target scaling; the targets are then a :class:`StepTargets` and the loss
        weights each sequence's total (None for equal ones).
        """
        if dtype is None and not first_pass:
            dtype = self._params.dtype
        data, y = self._check_data(X, y, reset=first_pass, dtype=dtype)
        checks.check_magnitude(data, "X" + name)
        weight_name = "sample_weight" + name
        weight = checks.check_sample_weight(sample_weight, data.n_samples, weight_name)
        # Repeats merged into weights: the same model for a weight of k and k
        # repeats, where the order of the samples does not matter to training.
        if (self.solver == "lbfgs" or self.shuffle) and not (
            name or self._return_sequences
        ):
            data, y, weight, counts = merged_samples(data, y, weight)
        else:
            counts = None
        if not self._return_sequences:
            self._check_target_range(y, data.dtype)
            weight = self._loss_weights(y, weight, incremental, weight_name, counts)
            Y = self._encode_targets(y, first_pass, classes, weight)
            labels = None if name else self._stratification_labels(y)
            return TrainingData(
                data, checks.cast_targets(Y, data.dtype), weight, y, labels
            )
        steps = checks.concatenate_steps(y)
        weight = None if weight is None else np.repeat(weight, data.lengths)
        steps, weight = self._without_missing_steps(steps, weight, data.lengths)
        self._check_target_range(steps, data.dtype)
        weight = self._loss_weights(steps, weight, incremental, weight_name)
        values = self._encode_targets(steps, first_pass, classes, weight)
        Y, weight = StepTargets.weighted(
            checks.cast_targets(values, data.dtype), data.lengths, weight
        )
        return TrainingData(data, Y, weight, y)

    def _prepare(self, training, layer_sizes, first_pass, early_stopping):
        """Stage 2: a new network and histories, or the fitted ones to go on from.

        Returns the network; ``_params`` is then a copy in training units.
        """
        self._random_state = check_random_state(self.random_state)
        if first_pass:
            Y = training.Y
            self.n_outputs_ = Y.n_outputs if isinstance(Y, StepTargets) else Y.shape[1]
            self._layer_sizes = layer_sizes
            self._bidirectional = bool(self.bidirectional)
            self._cell = self.cell
            self._projection_width = checks.projection_width(
                self.input_projection, self.n_features_in_
            )
            checks.check_network_size(
                self.n_features_in_,
                layer_sizes,
                self.n_outputs_,
                self._cell,
                2 if self._bidirectional else 1,
                training.data.dtype,
                projection=self._projection_width,
            )
            network = self._training_network(training.data.dtype)
            # A new head is in training units already.
            self._params = network.initialize(self._random_state)
            self.t_ = 0
            self.loss_curve_ = []
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.best_validation_score_ = None
        else:
            network = self._training_network()
            # Train a copy: the old weights stay intact should this fit raise.
            self._params = rescaled_params(
                network,
                self._training_params(network),
                self._scaling(),
                to_training=True,
            )
            self.loss_curve_ = list(self.loss_curve_)
            if self.best_loss_ is None:
                self.best_loss_ = np.inf
        if early_stopping:
            # This fit's held-out scores, one per epoch (as MLP's).
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        return network

    def _train(self, network, training, run):
        """Stage 3: the training loop, on the network and a copy of the weights."""
        if run.incremental and not run.fresh:
            run.optimizer = getattr(self, "_optimizer", None)
            run.checkpoint = getattr(self, "_checkpoint", None)
        if run.early_stopping:
            scoring = self.scoring
            run.validation_score = validation_scorer(
                network,
                None if scoring == "loss" else check_scoring(self, scoring=scoring),
                lambda params: self._frozen_view(network, params),
            )
        with (
            np.errstate(over="ignore", invalid="ignore", divide="ignore"),
            kernel_threads(training.data.n_samples) as n_threads,
        ):
            run.n_threads = n_threads
            return train(
                network, self._params, training, TrainingSettings.of(self), run
            )

    def _frozen_view(self, network, params):
        """A copy of the estimator predicting with ``params`` (training units).

        What a scorer of early stopping is handed: never the estimator being
        fitted, whose weights are mid-training and in training units.
        """
        view = object.__new__(type(self))
        view.__dict__.update(self.__dict__)
        view._params = self._predicting_params(network, params)
        return view

    def _snapshot(self, params, history, checkpoint):
        """The fitted attributes of a fit's moment, for a callback's estimator:
        ``params`` (training units) in y's, and the histories so far."""
        attributes = {
            "_params": self._predicting_params(self._training_network(), params),
            "n_iter_": history.n_iter,
            "loss_curve_": self.loss_curve_ + history.loss_curve,
        }
        if checkpoint is not None:
            attributes["best_iter_"] = checkpoint.best_iter
        if history.validation_scores:
            attributes["validation_scores_"] = list(history.validation_scores)
        return attributes

    def _store(self, trained, network, first_pass, incremental):
        """Stage 4: the fitted state, the scaling folded back into the head."""
        history = trained.history
        self.__dict__.pop("_projection_params", None)
        if self._projection_width:
            # The factors, for a warm start or partial_fit to go on from.
            self._projection_params = rescaled_params(
                network, self._params, self._scaling(), to_training=False
            )
        self._params = self._predicting_params(network, self._params)
        if trained.optimizer is not None:
            self._optimizer = trained.optimizer
            if incremental:
                self._checkpoint = trained.checkpoint
            elif hasattr(self, "_checkpoint"):
                del self._checkpoint
        if trained.validation_scores is not None:
            self.validation_scores_ = trained.validation_scores
            self.best_validation_score_ = trained.best_validation_score
        self.best_iter_ = trained.best_iter
        self.n_iter_ = (self.n_iter_ if incremental and not first_pass else 0) + (
            history.n_iter
        )
        self.t_ += history.samples_seen
        self.loss_curve_ += history.loss_curve
        if self.solver == "lbfgs":
            self.learning_rate_curve_ = None
        else:
            rates = (
                getattr(self, "learning_rate_curve_", None) if not first_pass else None
            )
            self.learning_rate_curve_ = list(rates or []) + history.learning_rates
        self.loss_ = float(history.kept_loss)
        if self.best_loss_ is not None:
            # The start's loss counts too when no epoch finished (a divergence in
            # the first), so that best_loss_ is finite after any returning fit;
            # an average's is no epoch's.
            kept = (
                [self.loss_] if np.isfinite(self.loss_) and not history.averaged else []
            )
            self.best_loss_ = min([self.best_loss_, *history.loss_curve, *kept])
        if history.diverged or history.interrupted:
            # Its state holds the blow-up, or is mid-epoch.
            self._optimizer = make_optimizer(
                TrainingSettings.of(self), self._training_params(network)
            )

    def _predicting_params(self, network, params):
        """``params`` of ``network`` in training units as the fitted model
        keeps them: in y's units, a projection folded into the first layer."""
        return network.predicting(
            rescaled_params(network, params, self._scaling(), to_training=False)
        )[1]

    def _training_network(self, dtype=None):
        """The network that trains: the fitted one's form, with the input
        projection's factors in front when ``input_projection`` is set."""
        plain = self._network() if dtype is None else self._network_of(dtype)
        if not self._projection_width:
            return plain
        return ProjectedNetwork(plain, self._projection_width)

    def _training_params(self, network):
        """The fitted weights in ``network``'s form (y's units), to go on from.

        With an input projection, its factors; after :meth:`set_weights` has
        replaced them, a factorisation of the new first kernel (see
        :func:`~sklstm._projection.factored`).
        """
        if not self._projection_width:
            return self._params
        if not hasattr(self, "_projection_params"):
            self._projection_params = factored(
                network, self._params, self._random_state
            )
        return self._projection_params

    # ---------------------------------------------------------------- predict
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

    def _network(self):
        return self._network_of(self._params.dtype)

    def set_weights(self, weights):
        super().set_weights(weights)
        # The projection's factors no longer fold into these weights.
        self.__dict__.pop("_projection_params", None)
        return self

    set_weights.__doc__ = FittedNetworkMixin.set_weights.__doc__

    def _fitted_model(self):
        """The fitted network as predictions, streams and ONNX read it."""
        if not self.__sklearn_is_fitted__():
            check_is_fitted(self)  # raises scikit-learn's NotFittedError
        return FittedModel(
            self._network(),
            self._params,
            getattr(self, "classes_", None),
            self._output_ndim,
            type(self).__name__,
        )

    _output_ndim = 2

    def _raw_outputs(self, model, X, softmax=False, take_log=False):
        """The head's raw outputs of X and the validated X: see FittedModel.outputs."""
        return model.outputs(
            X,
            lambda X: checks.check_sequences(
                self, X, reset=False, dtype=self._params.dtype
            ),
            softmax,
            take_log,
            # Feature names are checked by the full validation only.
            skip_validation=not hasattr(self, "feature_names_in_"),
        )

    def transform(self, X):
        """The features the output layer reads: each sequence's final state.

        The top layer's hidden state at each sequence's last step (a
        bidirectional network: the forward direction's there and the backward
        direction's at the first step, concatenated), as Keras'
        ``return_state`` or PyTorch's ``h_n``; with ``return_sequences=True``,
        its output at every step. Computed by the prediction routes, at their
        speed; ``predict`` is the output layer applied to these.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps, n_features) or list of arrays
            Sequences.

        Returns
        -------
        X_embedded : ndarray of shape (n_samples, n_units)
            ``n_units`` is the last layer's units, twice for a bidirectional
            network. With ``return_sequences=True``, (n_samples, n_timesteps,
            n_units), or a list of (n_timesteps_i, n_units) arrays.
        """
        model = self._fitted_model().embedding()
        raw, data = self._raw_outputs(model, X)
        return model.per_sequence(raw, data)

    @property
    def _n_features_out(self):
        """Width of :meth:`transform`'s output (ClassNamePrefixFeaturesOutMixin)."""
        return (2 if self._bidirectional else 1) * self._layer_sizes[-1]

    def _predict(self, X):
        model = self._fitted_model()
        raw, data = self._raw_outputs(model, X)
        return model.per_sequence(model.decode(raw), data)

    def __sklearn_is_fitted__(self):
        # check_is_fitted's default scans every attribute name: a few us per call.
        return hasattr(self, "_params")

    def _score(self, X, y, sample_weight):
        """The mixins' score, with X, y and sample_weight validated as in fit.

        The metrics alone would take negative weights silently, fail with a
        ZeroDivisionError on weights that sum to zero, and (accuracy_score) cast a
        float y to int before checking it for NaN, a RuntimeWarning first.
        """
        model = self._fitted_model()
        data, y = self._check_data(X, y, reset=False, dtype=self._params.dtype)
        sample_weight = checks.check_sample_weight(sample_weight, data.n_samples)
        predictions = model.decode(model.raw_outputs(data))
        if self._return_sequences:
            # Every step is a sample, weighing what its sequence weighs; a step
            # without a target (a regressor's NaN) is no sample.
            y = checks.concatenate_steps(y)
            if sample_weight is not None:
                sample_weight = np.repeat(sample_weight, data.lengths)
            if y.dtype.kind == "f":
                kept = ~np.isnan(y.reshape(len(y), -1)).any(axis=1)
                y, predictions = y[kept], predictions[kept]
                sample_weight = None if sample_weight is None else sample_weight[kept]
        return float(self._metric(y, predictions, sample_weight=sample_weight))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        # transform answers in the model's dtype: X's, float32 or float64.
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def _loaded_state(self, state):
        # Parameters added since a model was saved, at the values that say how it
        # was fitted, so that get_params, clone and a refit work on it.
        for name, value in _PARAMETERS_SINCE_0_1.items():
            state.setdefault(name, value)
        if "_params" in state:
            state["_params"] = aligned_params(state["_params"])
            state.setdefault("_return_sequences", False)  # older models
            state.setdefault("_cell", "lstm")
            state.setdefault("_input_projection", None)
            state.setdefault("_projection_width", 0)
            self._upgrade_state(state)
            checks.check_loaded_state(
                type(self).__name__,
                positive=("_target_scale",),
                _params=state["_params"],
                _target_offset=state.get("_target_offset"),
                _target_scale=state.get("_target_scale"),
            )

    def _upgrade_state(self, state):
        """Bring the fitted state of a model pickled by an older sklstm up to date."""


@docstring(
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
        n_iter_no_change=50,
        max_grad_norm=None,
        ema_momentum=0.9,
        max_fun=15000,
        bidirectional=False,
        dropout=0.0,
        recurrent_dropout=0.0,
        scoring="loss",
        return_sequences=False,
        cell="lstm",
        input_projection=None,
        class_weight=None,
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
        self.ema_momentum = ema_momentum
        self.max_fun = max_fun
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.recurrent_dropout = recurrent_dropout
        self.scoring = scoring
        self.return_sequences = return_sequences
        self.cell = cell
        self.input_projection = input_projection
        self.class_weight = class_weight

    _stream_class = LSTMClassifierStream
    # With return_sequences: a label per step.
    _step_label_ndim = 1
    _step_targets_doc = "one label"
    _metric = staticmethod(accuracy_score)

    def _y_params(self):
        return {"multi_output": True}

    @property
    def _multilabel(self):
        return self._label_binarizer.y_type_.startswith("multilabel")

    def _encode_targets(self, y, first_pass, classes=None, sample_weight=None):
        y, multilabel = checks.check_class_labels(y)
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
                checks.warn_if_one_hot(y)
            self._label_binarizer = binarizer
            self.classes_ = binarizer.classes_
            self._head = classifier_head(len(self.classes_), multilabel)
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
        if self._multilabel:
            return self._label_binarizer.transform(y)
        unseen = np.setdiff1d(np.unique(y), self.classes_)
        if unseen.size:
            where = (
                "not in classes" if first_pass else "that the model was not fitted on"
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

    def _stratification_labels(self, y):
        # Multilabel rows have no one class to stratify by.
        return None if self._multilabel else y

    def _loss_weights(self, y, sample_weight, incremental, name, counts=None):
        return checks.class_weights(
            self.class_weight, y, sample_weight, incremental, name, counts
        )

    def _upgrade_state(self, state):
        head = state.get("_head")
        if head == "softmax":
            state["_head"] = Softmax()
        elif head == "logistic":
            multilabel = state["_label_binarizer"].y_type_.startswith("multilabel")
            state["_head"] = Logistic() if multilabel else BinaryLogistic()

    @validation_data_doc("labels", "Labels")
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
        model = self._fitted_model()
        out, data = model.probabilities(
            lambda softmax, take_log: self._raw_outputs(model, X, softmax, take_log),
            log,
        )
        return model.per_sequence(out, data)

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
        return self._predict(X)

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


@docstring(
    """Long short-term memory network regressor.

    Stacked LSTM (or GRU: ``cell="gru"``) layers read each sequence; a linear
    layer on the last layer's final state outputs one or several values (e.g. the
    next k values of a series), trained on ``loss``: by default
    ``((y - y_pred) ** 2).mean() / 2`` as scikit-learn's MLPRegressor.

    Parameters
    ----------
{parameters}

    loss : {{"squared_error", "absolute_error", "poisson", "gamma", \
"quantile"}}, default="squared_error"
        The loss, with HistGradientBoostingRegressor's names, and so what
        ``predict`` estimates: "squared_error" the conditional mean;
        "absolute_error" the conditional median (robust to outlying targets);
        "poisson" the mean of counts or rates, through a log link
        (predictions are positive; y must be non-negative and not all zero);
        "gamma" the mean of positive targets whose spread grows with their
        size, through a log link (y must be positive); "quantile" the
        conditional ``quantile`` (pinball loss). ``score`` is R^2 whatever the
        loss. See the user guide's "Losses" section for when to use each.

    quantile : float, default=None
        The quantile to predict with ``loss="quantile"``, in (0, 1); ignored
        otherwise.

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
    _parameter_constraints: dict = {
        **_BaseLSTM._parameter_constraints,
        "loss": [StrOptions(set(REGRESSION_LOSSES))],
        "quantile": [None, Interval(Real, 0, 1, closed="neither")],
    }

    def __init__(
        self,
        hidden_layer_sizes=(32,),
        solver="adam",
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
        n_iter_no_change=50,
        max_grad_norm=None,
        ema_momentum=0.9,
        max_fun=15000,
        bidirectional=False,
        dropout=0.0,
        recurrent_dropout=0.0,
        scoring="loss",
        return_sequences=False,
        cell="lstm",
        input_projection=None,
        loss="squared_error",
        quantile=None,
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
        self.ema_momentum = ema_momentum
        self.max_fun = max_fun
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.recurrent_dropout = recurrent_dropout
        self.scoring = scoring
        self.return_sequences = return_sequences
        self.cell = cell
        self.input_projection = input_projection
        self.loss = loss
        self.quantile = quantile

    _stream_class = LSTMStream
    # With return_sequences: a value, or a row of n_outputs values, per step.
    _step_label_ndim = 2
    _step_targets_doc = "a value or a row of n_outputs values"
    _metric = staticmethod(r2_score)

    def _y_params(self):
        return {"multi_output": True, "y_numeric": True}

    @property
    def _output_ndim(self):
        return self._y_ndim

    def _encode_targets(self, y, first_pass, classes=None, sample_weight=None):
        Y = np.asarray(y, dtype=np.float64)
        if Y.ndim == 1:
            Y = Y.reshape(-1, 1)
        head = regression_head(self.loss, self.quantile)
        head.check_targets(Y)
        if first_pass:
            self._y_ndim = np.ndim(y)
            self._target_offset, self._target_scale = head.scaling(Y, sample_weight)
        elif Y.shape[1] != len(self._target_offset):
            raise ValueError(
                f"y has {Y.shape[1]} outputs, but the model was fitted on "
                f"{len(self._target_offset)}."
            )
        self._head = head
        # Trained on scaled targets: the stopping rule, the step sizes and the
        # initialisation then suit a target in any unit.
        return head.encode(Y, self._scaling())

    def _scaling(self):
        return TargetScaling(self._target_offset, self._target_scale)

    def _without_missing_steps(self, steps, weight, lengths):
        # NaN marks a step without a target: no loss, no weight there; its
        # value is replaced by a valid one, which then counts for nothing.
        steps = np.asarray(steps, dtype=np.float64)
        rows = steps.reshape(len(steps), -1)
        missing = np.isnan(rows).any(axis=1)
        if not missing.any():
            return steps, weight
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        empty = np.flatnonzero(np.add.reduceat(~missing, offsets) == 0)
        if empty.size:
            raise ValueError(
                f"y has no target (NaN) at any step of sequence {empty[0]} "
                f"({empty.size} such sequence(s)): with return_sequences=True, "
                "NaN marks the steps without a target, and each sequence needs "
                "at least one. Leave such sequences out."
            )
        filled = np.where(np.isnan(rows), np.nanmean(rows[~missing], axis=0), rows)
        weight = np.ones(len(steps)) if weight is None else weight.copy()
        weight[missing] = 0
        return filled.reshape(steps.shape), weight

    def _check_target_range(self, y, dtype):
        # Predictions come back in X's dtype: y must fit in it.
        checks.cast_targets(np.asarray(y, dtype=np.float64), dtype)

    def _upgrade_state(self, state):
        state.setdefault("loss", "squared_error")
        state.setdefault("quantile", None)
        state.setdefault("_head", SquaredError())
        for old in ("_y_scale", "_y_mean", "_y_scale_active"):
            state.pop(old, None)
        # Models pickled before targets were standardised: their head outputs y.
        n_outputs = state["n_outputs_"]
        state.setdefault(
            "_target_offset", state.pop("_target_mean", np.zeros(n_outputs))
        )
        state.setdefault("_target_scale", np.ones(n_outputs))

    @validation_data_doc("outputs", "Targets")
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
            Target values. The network is trained on them scaled (each
            output's mean and standard deviation, or as the loss says), so
            their unit does not matter; predictions and :meth:`get_weights`
            are in y's units. With ``return_sequences=True``, a target per
            step: (n_samples, n_timesteps) or (n_samples, n_timesteps,
            n_outputs), or a list of per-sequence arrays of the sequences'
            lengths.

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
            Predictions, 1-D when the model was fitted on a 1-D y: the mean,
            median or quantile that ``loss`` estimates. With
            ``return_sequences=True``, per step: (n_samples, n_timesteps[,
            n_outputs]), or a list of per-sequence arrays.
        """
        return self._predict(X)

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
            as scikit-learn's ``RegressorMixin.score``, whatever the ``loss``;
            with ``return_sequences=True``, over every step, each weighing
            what its sequence weighs.
        """
        return self._score(X, y, sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        loss = REGRESSION_LOSSES.get(self.loss)
        tags.target_tags.positive_only = bool(getattr(loss, "positive_targets", False))
        return tags
