"""Output heads: each one an output activation and the loss it is paired with.

A head turns the network's raw outputs (the dense layer's pre-activations) into
what the estimator gives, and says how wrong they are: its per-row loss and the
loss's gradient with respect to the raw outputs (scikit-learn's ``_loss`` module
is the model), how a classifier decodes them into labels and probabilities, how a
regressor's targets are scaled for training and the scaling folded back into the
dense layer, and which ONNX nodes compute its outputs. The network, the training
loop, the streams and the ONNX converter ask the head; none of them branches on
which head it is.

Every pair is a canonical link with its loss (softmax and cross-entropy, logistic
and log-loss, identity and squared error, log and Poisson or gamma deviance), or
the identity with a loss whose gradient is piecewise constant (absolute error,
pinball), so ``d(loss)/d(raw)`` is cheap and exact.

Heads hold only their parameters (the quantile): equal heads compare and hash
equal, so that :func:`~sklstm._network.network_for` caches one network per
structure, and they pickle as plain objects.
"""

from typing import ClassVar, NamedTuple

import numpy as np
from scipy.special import expit, log_expit, xlogy

from sklstm._kernels._array import softmax_rows


class TargetScaling(NamedTuple):
    """A regressor's training units: ``y = inverse_link(raw) * scale + offset``.

    The dense layer trains in these units (so the step sizes, the initialisation
    and the stopping rule suit targets of any size) and is stored with the
    scaling folded into its weights, so that a fitted model's raw outputs are in
    y's units.
    """

    offset: np.ndarray
    scale: np.ndarray


class Head:
    """An output activation and its loss. See the module's docstring."""

    #: A classifier head whose labels are an indicator matrix (multilabel).
    indicator_labels: ClassVar[bool] = False
    #: A regression head whose targets must be positive (scikit-learn's tag).
    positive_targets: ClassVar[bool] = False

    def __eq__(self, other):
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self):
        return hash((type(self), tuple(sorted(vars(self).items()))))

    def __repr__(self):
        parameters = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({parameters})"

    def activation(self, raw, log=False):
        """The output activation of every unit (or its log) on raw outputs."""
        return raw

    def losses(self, raw, Y, gradient=False):
        """Per-row losses of ``raw`` against encoded targets ``Y``.

        With ``gradient``, also ``d(loss)/d(raw)`` of each row, as a second
        array (it may reuse ``raw``'s temporaries, never ``raw`` itself).
        """
        raise NotImplementedError

    def kernel_loss(self):
        """``(name, parameter)`` of the same loss in the minibatch kernel
        (``_kernels._epoch.LOSSES``), or None: training takes the Python route."""
        return None


# ---------------------------------------------------------------- classifiers
class Softmax(Head):
    """Softmax over the classes and the cross-entropy (multiclass)."""

    def activation(self, raw, log=False):
        # scipy's softmax and log_softmax cost 5 and 90 us a minibatch (array-API
        # dispatch), NumPy's five passes 4 us on one row: one kernel call.
        raw = np.ascontiguousarray(raw)
        out = np.empty_like(raw)
        softmax_rows(raw, out, log)
        return out

    def losses(self, raw, Y, gradient=False):
        log_proba = self.activation(raw, log=True)
        losses = -np.einsum("ij,ij->i", Y, log_proba)
        if not gradient:
            return losses
        delta = np.exp(log_proba, out=log_proba)
        delta -= Y
        return losses, delta

    def kernel_loss(self):
        return "softmax", 0.0

    def probabilities(self, outputs_of, log):
        """Class probabilities (or their logs) and the context of ``outputs_of``.

        ``outputs_of(softmax, take_log)`` returns ``(out, context)``; the
        prediction kernels apply the softmax themselves when asked.
        """
        out, context = outputs_of(True, log)
        return within_probability_bounds(out, log), context

    def decode(self, raw, classes):
        """Labels from raw outputs: the most probable class."""
        return classes[raw.argmax(axis=1)]

    def onnx_outputs(self, graph, raw, label, probabilities, labels_of, per_step):
        """Add the nodes of the label and probability outputs to an ONNX graph.

        ``labels_of(index, name)`` adds the node that maps class indices to the
        labels of output ``name``.
        """
        graph.node("Softmax", [raw], probabilities, axis=-1)
        labels_of(graph.node("ArgMax", [raw], axis=-1, keepdims=0), label)


class Logistic(Head):
    """A logistic unit per output and the log-loss summed over the outputs."""

    indicator_labels: ClassVar[bool] = True

    def activation(self, raw, log=False):
        return log_expit(raw) if log else expit(raw)

    def losses(self, raw, Y, gradient=False):
        losses = np.sum(np.logaddexp(0, raw) - Y * raw, axis=1)
        if not gradient:
            return losses
        delta = expit(raw)
        delta -= Y
        return losses, delta

    def kernel_loss(self):
        return "logistic", 0.0

    def probabilities(self, outputs_of, log):
        """As :meth:`Softmax.probabilities`: each unit's probability."""
        raw, context = outputs_of(False, False)
        return within_probability_bounds(self.activation(raw, log), log), context

    def decode(self, raw, classes):
        """A label indicator matrix: each label whose probability is above 0.5."""
        return (raw > 0).astype(int)

    def onnx_outputs(self, graph, raw, label, probabilities, labels_of, per_step):
        """As :meth:`Softmax.onnx_outputs`: the indicator matrix needs no labels."""
        graph.node("Sigmoid", [raw], probabilities)
        positive = graph.node("Greater", [raw, graph.constant("zero", 0.0)])
        graph.node("Cast", [positive], label, to=graph.int64)


class BinaryLogistic(Logistic):
    """One logistic unit, the positive class's, for two classes."""

    indicator_labels: ClassVar[bool] = False

    def probabilities(self, outputs_of, log):
        raw, context = outputs_of(False, False)
        # p(negative) is the logistic of -raw.
        both = np.hstack([-raw, raw])
        return within_probability_bounds(self.activation(both, log), log), context

    def decode(self, raw, classes):
        # Threshold 0 on the raw output is 0.5 on the probability.
        return classes[(raw[:, 0] > 0).astype(np.intp)]

    def onnx_outputs(self, graph, raw, label, probabilities, labels_of, per_step):
        graph.node(
            "Concat",
            [
                graph.node("Sigmoid", [graph.node("Neg", [raw])]),
                graph.node("Sigmoid", [raw]),
            ],
            probabilities,
            axis=-1,
        )
        positive = graph.node("Greater", [raw, graph.constant("zero", 0.0)])
        # (n, 1) -> (n,), per step (n, T, 1) -> (n, T).
        index = graph.node(
            "Reshape",
            [
                graph.node("Cast", [positive], to=graph.int64),
                graph.shape([0, -1] if per_step else [-1]),
            ],
        )
        labels_of(index, label)


def classifier_head(n_classes, multilabel):
    """The head of a classifier of ``n_classes`` classes (or labels)."""
    if multilabel:
        return Logistic()
    return BinaryLogistic() if n_classes == 2 else Softmax()


# ----------------------------------------------------------------- regressors
class _RegressionHead(Head):
    """A regressor's head: targets scaled for training, predictions by a link."""

    def check_targets(self, Y):
        """Refuse targets outside the loss's domain, naming the loss."""

    def scaling(self, Y, sample_weight=None):
        """The :class:`TargetScaling` of targets ``Y`` (n_samples, n_outputs)."""
        offset, scale = _mean_and_std(Y, sample_weight)
        return TargetScaling(offset, scale)

    def encode(self, Y, scaling):
        """Targets in training units."""
        return (Y - scaling.offset) / scaling.scale

    def fold(self, kernel, bias, scaling):
        """The dense layer's weights re-expressed from training units to y's."""
        return kernel * scaling.scale, bias * scaling.scale + scaling.offset

    def unfold(self, kernel, bias, scaling):
        """The inverse of :meth:`fold`: from y's units to training units."""
        ratio = 1 / scaling.scale
        return kernel * ratio, bias * ratio - scaling.offset / scaling.scale

    def decode(self, raw, classes=None):
        """Predictions from raw outputs (of weights in y's units)."""
        return raw

    def onnx_prediction(self, graph, raw, name):
        """Add the node of the prediction output ``name`` to an ONNX graph."""
        graph.node("Identity", [raw], name)


class SquaredError(_RegressionHead):
    """The identity and half the squared error, averaged over the outputs
    (MLPRegressor's loss): predicts the conditional mean."""

    def losses(self, raw, Y, gradient=False):
        difference = raw - Y
        n_outputs = raw.shape[1]
        losses = np.einsum("ij,ij->i", difference, difference)
        losses *= 0.5 / n_outputs
        if not gradient:
            return losses
        difference /= n_outputs
        return losses, difference

    def kernel_loss(self):
        return "squared_error", 0.0


class AbsoluteError(_RegressionHead):
    """The identity and the absolute error: predicts the conditional median."""

    def scaling(self, Y, sample_weight=None):
        # Robust: a few gross outliers must not shrink the bulk of the targets
        # to nothing in training units, as they would by their std.
        return TargetScaling(*_median_and_deviation(Y, sample_weight))

    def losses(self, raw, Y, gradient=False):
        difference = raw - Y
        n_outputs = raw.shape[1]
        losses = np.abs(difference).sum(axis=1) / n_outputs
        if not gradient:
            return losses
        return losses, np.sign(difference, out=difference) / n_outputs

    def kernel_loss(self):
        return "absolute_error", 0.0


class Quantile(_RegressionHead):
    """The identity and the pinball loss of quantile ``quantile``.

    Predicts the conditional ``quantile``; HistGradientBoosting's loss of that
    name (its gradient at a tie is ``1 - quantile``, as there).
    """

    def __init__(self, quantile=0.5):
        self.quantile = float(quantile)

    def scaling(self, Y, sample_weight=None):
        return TargetScaling(*_median_and_deviation(Y, sample_weight))

    def losses(self, raw, Y, gradient=False):
        difference = raw - Y
        n_outputs = raw.shape[1]
        q = self.quantile
        above = difference >= 0
        losses = np.where(above, (1 - q) * difference, -q * difference)
        losses = losses.sum(axis=1) / n_outputs
        if not gradient:
            return losses
        return losses, np.where(above, 1 - q, -q).astype(raw.dtype) / n_outputs

    def kernel_loss(self):
        return "quantile", self.quantile


class _LogLinkHead(_RegressionHead):
    """A log link: predictions ``exp(raw)``, positive. The targets are divided by
    their (weighted) mean, which the dense layer's bias absorbs as its log."""

    def scaling(self, Y, sample_weight=None):
        mean = np.average(Y / _largest(Y), axis=0, weights=sample_weight)
        return TargetScaling(np.zeros(Y.shape[1]), mean * _largest(Y))

    def encode(self, Y, scaling):
        return Y / scaling.scale

    def fold(self, kernel, bias, scaling):
        return kernel, bias + np.log(scaling.scale)

    def unfold(self, kernel, bias, scaling):
        return kernel, bias - np.log(scaling.scale)

    def decode(self, raw, classes=None):
        with np.errstate(over="ignore"):
            return np.exp(raw)

    def onnx_prediction(self, graph, raw, name):
        graph.node("Exp", [raw], name)


class Poisson(_LogLinkHead):
    """The log link and half the Poisson deviance: predicts the conditional mean
    of counts (or rates), which must be non-negative."""

    positive_targets: ClassVar[bool] = True

    def check_targets(self, Y):
        if (Y < 0).any():
            raise ValueError(
                "loss='poisson' needs non-negative targets (counts or rates); y has "
                f"negative values (the smallest is {Y.min():.6g})."
            )
        if not (Y.sum(axis=0) > 0).all():
            raise ValueError(
                "loss='poisson' needs targets that are not all zero in each output: "
                "their mean is the scale of the predictions."
            )

    def losses(self, raw, Y, gradient=False):
        with np.errstate(over="ignore"):
            predicted = np.exp(raw)
        n_outputs = raw.shape[1]
        # Half the deviance: y log(y) - y makes it 0 at the optimum.
        losses = (predicted - Y * raw + xlogy(Y, Y) - Y).sum(axis=1) / n_outputs
        if not gradient:
            return losses
        predicted -= Y
        predicted /= n_outputs
        return losses, predicted

    def kernel_loss(self):
        return "poisson", 0.0


class Gamma(_LogLinkHead):
    """The log link and half the gamma deviance: predicts the conditional mean
    of positive targets whose spread grows with their size (amounts, durations)."""

    positive_targets: ClassVar[bool] = True

    def check_targets(self, Y):
        if not (Y > 0).all():
            raise ValueError(
                "loss='gamma' needs positive targets; y has values <= 0 (the "
                f"smallest is {Y.min():.6g})."
            )

    def losses(self, raw, Y, gradient=False):
        with np.errstate(over="ignore"):
            ratio = Y * np.exp(-raw)
        n_outputs = raw.shape[1]
        # Half the deviance: -log(y) - 1 makes it 0 at the optimum.
        losses = (raw + ratio - np.log(Y) - 1).sum(axis=1) / n_outputs
        if not gradient:
            return losses
        np.subtract(1, ratio, out=ratio)
        ratio /= n_outputs
        return losses, ratio

    def kernel_loss(self):
        return "gamma", 0.0


#: LSTMRegressor's ``loss`` parameter: HistGradientBoostingRegressor's names.
REGRESSION_LOSSES = {
    "squared_error": SquaredError,
    "absolute_error": AbsoluteError,
    "poisson": Poisson,
    "gamma": Gamma,
    "quantile": Quantile,
}


def regression_head(loss, quantile=None):
    """The head of ``LSTMRegressor(loss=loss, quantile=quantile)``."""
    if loss == "quantile":
        if quantile is None:
            raise ValueError(
                "loss='quantile' needs the quantile to predict: set quantile to a "
                "value in (0, 1), e.g. quantile=0.9."
            )
        return Quantile(float(quantile))
    return REGRESSION_LOSSES[loss]()


# --------------------------------------------------------------------- helpers
def _largest(Y):
    """Each column's largest magnitude (1 for a column of zeros)."""
    largest = np.abs(Y).max(axis=0)
    largest[largest == 0] = 1
    return largest


def _mean_and_std(Y, sample_weight=None):
    """(Weighted) mean and standard deviation of each column.

    Computed on values divided by their largest magnitude, so that targets of any
    finite size give finite statistics; a constant column keeps scale 1. Weighted
    as the loss is, so that a weight of 2 is a repeated sample here too.
    """
    largest = _largest(Y)
    unit = Y / largest
    mean = np.average(unit, axis=0, weights=sample_weight)
    std = np.sqrt(np.average((unit - mean) ** 2, axis=0, weights=sample_weight))
    return mean * largest, _nonzero_scale(std, mean) * largest


def _median_and_deviation(Y, sample_weight=None):
    """(Weighted) median of each column and the mean absolute deviation from it.

    As :func:`_mean_and_std`, in units of the largest magnitude; a weight of 2
    counts as a repeated sample (the median is where the cumulative weight
    reaches half the total).
    """
    largest = _largest(Y)
    unit = Y / largest
    weights = np.ones(len(Y)) if sample_weight is None else sample_weight
    order = np.argsort(unit, axis=0, kind="stable")
    cumulative = np.cumsum(weights[order], axis=0)
    middle = (cumulative >= 0.5 * cumulative[-1]).argmax(axis=0)
    rows = np.take_along_axis(order, middle[None, :], axis=0)
    median = np.take_along_axis(unit, rows, axis=0)[0]
    deviation = np.average(np.abs(unit - median), axis=0, weights=weights)
    return median * largest, _nonzero_scale(deviation, median) * largest


def _nonzero_scale(spread, center):
    """``spread``, with 1 where a column is constant (to rounding)."""
    spread = np.array(spread, dtype=np.float64)
    constant = spread <= 10 * np.finfo(np.float64).eps * np.maximum(
        np.abs(center), 1e-300
    )
    spread[constant] = 1.0
    return spread


# -------------------------------------------------------------- probabilities
def within_probability_bounds(out, log):
    """``out`` clipped in place to strictly inside (0, 1) (their logs: finite).

    However confident the model, probabilities stay strictly inside (0, 1) and
    their logarithms finite, as scikit-learn's checks require.
    """
    low, high = _probability_bounds(out.dtype, log)
    # Two in-place ufuncs: np.clip's dispatch costs twice as much on the few
    # rows of a single sequence's or a stream's prediction.
    np.minimum(out, high, out=out)
    return np.maximum(out, low, out=out)


_BOUNDS = {}


def _probability_bounds(dtype, log):
    """The range probabilities (or their logs) are clipped to: inside (0, 1)."""
    key = (dtype, log)
    if key not in _BOUNDS:
        info = np.finfo(dtype)
        low, high = info.tiny, 1 - info.epsneg
        if log:
            low, high = np.log(low), np.log1p(-info.epsneg)
        _BOUNDS[key] = dtype.type(low), dtype.type(high)
    return _BOUNDS[key]
