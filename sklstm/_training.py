"""The training loop: epochs, the stopping rule, the best weights, divergence.

The estimators validate their input and own the fitted state; the network computes
losses and gradients. This module runs the epochs in between: :func:`train` takes
a network, its weights and validated data, and assembles either solver family the
same way (minibatch epochs through :func:`run_epochs`, or full-batch L-BFGS
through :func:`fit_lbfgs`), with the early-stopping split. One mechanism,
:class:`Checkpoint`, decides everything that depends on how training goes: which
weights are the best seen (by the training loss, the validation loss or a
validation score), when training has stopped improving, and when it has diverged.
Whatever ends a fit (no improvement, ``max_iter``, divergence, Ctrl-C), the weights
it keeps are the checkpoint's best, or with ``ema_momentum`` the moving average of
the epochs' weights up to the best one (:func:`run_epochs`).
"""

import copy
import hashlib
import time
import warnings
from dataclasses import dataclass, field, fields
from numbers import Real

import numpy as np
import scipy.optimize
from sklearn.exceptions import ConvergenceWarning

from sklstm._callbacks import UNOBSERVED
from sklstm._kernels._epoch import LOSSES as KERNEL_LOSSES
from sklstm._kernels._epoch import RULES as KERNEL_RULES
from sklstm._kernels._epoch import train_minibatches
from sklstm._model import FittedModel
from sklstm._network import aligned_params
from sklstm._optimizers import make_optimizer
from sklstm._sequences import RaggedSequences, batch_slices, length_sorted_batches

#: An epoch's training loss this many times its lowest, and above the loss of the
#: starting weights, is a divergence (so is a NaN or infinite one, of an epoch or
#: of a minibatch): spikes that training recovers from stay well below it,
#: blow-ups pass it within an epoch or two.
DIVERGENCE_FACTOR = 100.0

#: The minibatch kernel's settings that the optimizers' update rules set.
_RULE_SETTINGS = (
    "rule",
    "learning_rate",
    "beta_1",
    "beta_2",
    "epsilon",
    "rho",
    "momentum",
    "nesterov",
    "step",
)

#: ema_momentum's warm-up (TensorFlow's ``ExponentialMovingAverage`` with
#: ``num_updates``): after epoch t the average decays by ``min(ema_momentum, (1 +
#: t) / (EMA_WARMUP + t))``, so that the first epochs, far from trained, do not
#: weigh in a short fit's average.
EMA_WARMUP = 10

#: A fresh network is on its initial plateau until the monitored quantity has
#: improved on its starting value by this fraction: no-improvement epochs count
#: only after that, so that a fit never stops before it has started to learn.
PLATEAU_FRACTION = 0.1


class Checkpoint:
    """The best weights a fit has seen, and the stopping and divergence rules.

    The monitored ``value`` is lower-is-better: a loss, or a negated score. An
    epoch improves when its value is lower than the best by at least ``tol``
    times the best's magnitude, so that the rule does not depend on the scale of
    the quantity; for a loss, by at least ``tol`` times ``max(|best|, 1)``. The
    losses have a fixed scale (cross-entropy, or the squared error of
    standardised targets: a target in millimetres or in kilometres trains the
    same number of epochs), and below 1 the tolerance is then absolute, as MLP's:
    a classifier's loss decaying geometrically towards zero on a training set it
    has fitted stops, where a purely relative rule would run to ``max_iter``.
    Training stops, as in scikit-learn's MLP, once more than
    ``n_iter_no_change`` epochs in a row have not improved, counting only after a
    fresh network has left its initial plateau.

    Parameters
    ----------
    params : ndarray
        The starting weights, the first candidate: a fit never keeps weights
        worse than those it started from.
    start_value : float
        The monitored value of the starting weights, or None when it is the
        training loss (then ``start_loss``, or :meth:`start`'s).
    tol, n_iter_no_change : float, int
        The estimator's parameters of those names.
    fresh : bool
        Whether the weights are a new initialisation (warm starts have left the
        plateau already).
    monitors_loss : bool, default=True
        Whether ``value`` is a loss (the training or the validation loss) rather
        than a negated score: only a loss's tolerance is absolute below 1.
    start_loss : float, default=None
        The training loss of the starting weights on the whole training set,
        as an epoch reports it (:func:`training_loss`). None: the first
        minibatch's, which :meth:`start` then receives.
    """

    #: The magnitude below which the tolerance stops shrinking (0: none). A class
    #: default, so that checkpoints pickled before it existed keep their rule.
    tolerance_floor = 0.0

    def __init__(
        self,
        params,
        start_value,
        tol,
        n_iter_no_change,
        fresh,
        monitors_loss=True,
        start_loss=None,
    ):
        self.tol = float(tol)
        self.tolerance_floor = 1.0 if monitors_loss else 0.0
        self.n_iter_no_change = int(n_iter_no_change)
        self.best_params = aligned_params(params)
        self.best_iter = 0
        self.iteration = 0
        self.no_improvement_count = 0
        self._fresh = fresh
        self._monitors_loss = start_value is None
        self.start_loss = None
        self.lowest_loss = np.inf
        self.start_value = self.best_value = np.inf
        self.on_plateau = False
        if start_value is not None:
            self._set_start_value(start_value)
        if start_loss is not None:
            self.start(start_loss)

    def _set_start_value(self, value):
        value = float(value) if np.isfinite(value) else np.inf
        self.start_value = self.best_value = value
        self.on_plateau = self._fresh and np.isfinite(value)

    def start(self, loss):
        """The training loss of the starting weights (the first one given)."""
        if self.start_loss is None:
            self.start_loss = float(loss) if np.isfinite(loss) else np.inf
            self.lowest_loss = min(self.lowest_loss, self.start_loss)
            if self._monitors_loss:
                self._set_start_value(self.start_loss)

    def diverged(self, loss):
        """Whether a training loss (an epoch's mean) is a divergence."""
        if not np.isfinite(loss):
            return True
        start = np.inf if self.start_loss is None else self.start_loss
        return loss > DIVERGENCE_FACTOR * self.lowest_loss and loss > start

    def record(self, value, loss, params):
        """An epoch's monitored value and training loss, with its final weights."""
        self.iteration += 1
        self.lowest_loss = min(self.lowest_loss, loss)
        best = self.best_value
        if np.isfinite(best):
            improved = value < best - self.tol * max(abs(best), self.tolerance_floor)
        else:
            improved = value < best
        if value < best:
            self.best_value = float(value)
            self.best_iter = self.iteration
            np.copyto(self.best_params, params)
        if self.on_plateau and (
            value <= self.start_value - PLATEAU_FRACTION * abs(self.start_value)
        ):
            self.on_plateau = False
        if improved:
            self.no_improvement_count = 0
        elif not self.on_plateau:
            self.no_improvement_count += 1

    def stalled_message(self, validation):
        """What :attr:`stalled` means, for the optimizer to print or act on."""
        quantity = "Validation score" if validation else "Training loss"
        floor = " (of 1, for a loss below 1)" if self.tolerance_floor else ""
        return (
            "%s did not improve by more than tol=%g of its best%s for %d "
            "consecutive epochs." % (quantity, self.tol, floor, self.n_iter_no_change)
        )

    @property
    def stalled(self):
        """Whether more than n_iter_no_change epochs in a row did not improve."""
        return self.no_improvement_count > self.n_iter_no_change

    def restore(self, params):
        """Put the best weights seen into ``params``."""
        np.copyto(params, self.best_params)


@dataclass
class History:
    """What a run of epochs adds to the fitted state."""

    loss_curve: list = field(default_factory=list)
    validation_scores: list = field(default_factory=list)
    # The optimizer's rate in each epoch (Adam's before its bias correction).
    learning_rates: list = field(default_factory=list)
    n_iter: int = 0
    samples_seen: int = 0
    # Whether the weights kept are the moving average of the epochs' up to the
    # best (ema_momentum), and then its validation score (None without early
    # stopping).
    averaged: bool = False
    average_score: object = None
    # The training loss of the weights kept (their epoch's, or the start's).
    kept_loss: float = np.nan
    diverged: bool = False
    interrupted: bool = False
    # A callback asked training to stop.
    stopped: bool = False


@dataclass
class Minibatches:
    """One minibatch fit's data and the settings of its epochs.

    ``sample_weight`` is None or already scaled as :func:`scaled_weights` does it,
    with ``alpha`` scaled alike.
    """

    network: object
    data: object
    Y: np.ndarray
    sample_weight: object
    batch_size: int
    alpha: float
    shuffle: bool
    random_state: object
    n_threads: int
    max_grad_norm: object = None
    dropout: float = 0.0
    recurrent_dropout: float = 0.0
    verbose: int = 0
    # With dropout: each sequence's key (sequence_keys) and the fit's mask seed.
    keys: object = None
    mask_seed: int = 0
    # What train_minibatches reads all fit (see _kernel_arguments), or None.
    kernel: object = field(init=False, default=None)

    def __post_init__(self):
        self.kernel = self._kernel_arguments()

    def full_pass_loss(self, params):
        """The training loss of ``params`` on the whole training set, as an
        epoch reports it (:func:`training_loss`)."""
        return training_loss(
            self.network,
            params,
            self.data,
            self.Y,
            self.sample_weight,
            self.alpha,
            n_batches=-(-self.data.n_samples // self.batch_size),
        )

    def _kernel_arguments(self):
        """The fit's fixed arguments of the minibatch kernel, or None.

        The one place that picks a fit's route: the kernel runs whole
        minibatches (``_kernels._epoch``) for one-directional networks with a
        prediction a sequence and without dropout, whose head's loss it knows;
        every other fit runs :meth:`LSTMNetwork.loss_and_gradient` and the
        optimizer's ``update`` from Python, a minibatch at a time.
        """
        network = self.network
        loss = network.kernel_loss()
        if loss is None or self.dropout or self.recurrent_dropout:
            return None
        values, offsets, lengths = self.data.readings()
        dtype = network.dtype
        sample_weight = (
            np.empty(0, dtype) if self.sample_weight is None else self.sample_weight
        )
        settings = {
            "cell": network._cell,
            "loss": KERNEL_LOSSES[loss[0]],
            "loss_parameter": loss[1],
            "alpha": float(self.alpha),
            "max_grad_norm": (
                np.inf if self.max_grad_norm is None else float(self.max_grad_norm)
            ),
            "n_threads": self.n_threads,
            "projection": network.projection,
            # Each update rule's (the optimizer's kernel_rule) set per run.
            **dict.fromkeys(_RULE_SETTINGS, 0),
        }
        return (
            (values, offsets, lengths),
            np.ascontiguousarray(self.Y, dtype=np.float64),
            np.ascontiguousarray(sample_weight, dtype=dtype),
            settings,
        )

    def workspace(self):
        """Buffers of the Python route's minibatches (None: the kernel's own)."""
        if self.kernel is not None:
            return None
        return self.network.workspace(
            self.data.max_length,
            self.batch_size,
            bool(self.dropout or self.recurrent_dropout),
            self.n_threads,
        )

    def draw_masks(self, batch_index, epoch):
        """Inverted-dropout masks per layer and direction for one minibatch.

        A mask is a function of the sequence's content, the epoch and the fit's
        seed, not of the minibatch it lands in: a sequence repeated in the data
        gets the same masks as one that weighs twice as much, so sample weights
        stay equivalent to repetitions with dropout too.
        """
        dtype, keys = self.network.dtype, self.keys[batch_index]
        masks, stream = [], 0

        def draw(rate, width):
            nonlocal stream
            stream += 1
            if not rate:
                return None
            counter = (self.mask_seed, epoch, stream)
            keep = _uniform(keys, counter, width) >= rate
            return (keep / (1 - rate)).astype(dtype)

        for n_in, units in zip(
            self.network.layer_inputs, self.network.hidden_layer_sizes
        ):
            masks.append(
                [
                    (draw(self.dropout, n_in), draw(self.recurrent_dropout, units))
                    for _ in range(self.network.n_directions)
                ]
            )
        return masks

    def _batches(self, sample_index):
        n_samples = self.data.n_samples
        if self.shuffle:
            self.random_state.shuffle(sample_index)
        if self.shuffle and isinstance(self.data, RaggedSequences):
            return length_sorted_batches(
                self.data.lengths, sample_index, self.batch_size, self.random_state
            )
        return [sample_index[s] for s in batch_slices(n_samples, self.batch_size)]

    def run_epoch(self, params, optimizer, checkpoint, workspace, grads, epoch):
        """One pass of minibatch updates; returns the epoch's mean training loss.

        Returns None when a minibatch's loss is NaN or infinite (the epoch stops
        there).
        """
        started = time.perf_counter()
        batches = self._batches(np.arange(self.data.n_samples))
        # verbose >= 2 reports about ten times per epoch: none is silent.
        report_every = max(1, len(batches) // 10) if self.verbose >= 2 else 0
        run = self._run_in_python if self.kernel is None else self._run_in_kernel
        return run(
            batches,
            params,
            optimizer,
            checkpoint,
            workspace,
            grads,
            epoch,
            started,
            report_every,
        )

    def _epoch_mean(self, weighted_loss):
        """An epoch's mean loss from the sum of its minibatches' weighted losses."""
        if self.sample_weight is None:
            return weighted_loss / self.data.n_samples
        return weighted_loss / self.sample_weight.sum()

    def _report(self, epoch, seen_samples, loss, started):
        print(
            "  epoch %d: %d/%d samples, loss = %.8f, %.2fs"
            % (
                epoch,
                seen_samples,
                self.data.n_samples,
                loss,
                time.perf_counter() - started,
            )
        )

    def _run_in_kernel(
        self,
        batches,
        params,
        optimizer,
        checkpoint,
        workspace,
        grads,
        epoch,
        started,
        report_every,
    ):
        """:meth:`run_epoch` by the minibatch kernel, in runs of ``report_every``
        minibatches (the whole epoch when nothing is reported). The kernel has
        its own buffers: ``workspace`` is None."""
        (values, offsets, lengths), Y, sample_weight, settings = self.kernel
        order = [self.data.order_for_batches(index) for index in batches]
        starts = np.cumsum([0] + [len(index) for index in order], dtype=np.intp)
        order = np.concatenate(order).astype(np.intp, copy=False)
        results = np.zeros((len(batches), 2))
        run = report_every or len(batches)
        for first in range(0, len(batches), run):
            last = min(first + run, len(batches))
            rule, state_a, state_b = optimizer.kernel_rule()
            rule = {**rule, "rule": KERNEL_RULES[rule["rule"]]}
            done = train_minibatches(
                values,
                offsets,
                lengths,
                Y,
                sample_weight,
                order[starts[first] : starts[last]],
                starts[first : last + 1] - starts[first],
                self.network._units,
                self.network._l2_runs,
                params,
                grads,
                state_a,
                state_b,
                {**settings, **rule},
                results[first:last],
            )
            losses, weights = results[first : first + done + 1].T
            optimizer.kernel_updated(int(np.count_nonzero(weights[:done])))
            if np.any(weights > 0):
                # The first minibatch's loss is that of the starting weights.
                checkpoint.start(losses[np.argmax(weights > 0)])
            if first + done < last:  # a NaN or infinite loss
                return None
            if report_every:
                self._report(
                    epoch,
                    int(starts[last]),
                    np.dot(results[:last, 0], results[:last, 1])
                    / max(results[:last, 1].sum(), 1e-300),
                    started,
                )
        return self._epoch_mean(np.dot(results[:, 0], results[:, 1]))

    def _run_in_python(
        self,
        batches,
        params,
        optimizer,
        checkpoint,
        workspace,
        grads,
        epoch,
        started,
        report_every,
    ):
        """:meth:`run_epoch` a minibatch at a time from Python."""
        data, Y, sample_weight = self.data, self.Y, self.sample_weight
        use_dropout = bool(self.dropout or self.recurrent_dropout)
        accumulated_loss = seen_weight = 0.0
        seen_samples = 0
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
                batch_loss = self.network.loss_and_gradient(
                    params,
                    X_tm,
                    batch_sizes,
                    last_step,
                    Y[batch_index],
                    self.alpha,
                    grads,
                    workspace,
                    sample_weight=batch_weight,
                    masks=self.draw_masks(batch_index, epoch) if use_dropout else None,
                )
                # The first minibatch's loss is that of the starting weights.
                checkpoint.start(batch_loss)
                # A single minibatch's loss is noisy: near a minimum, adam can
                # throw one far above the starting loss and recover within the
                # epoch. Only a NaN or infinite one stops the epoch here; the
                # factor rule judges the epoch's mean loss.
                if not np.isfinite(batch_loss):
                    return None
                if self.max_grad_norm is not None:
                    norm = np.sqrt(np.dot(grads, grads))
                    if norm > self.max_grad_norm:
                        grads *= self.max_grad_norm / norm
                optimizer.update(params, grads)
                accumulated_loss += batch_loss * batch_total
                seen_weight += batch_total
            if report_every and batch_number % report_every == 0:
                self._report(
                    epoch,
                    seen_samples,
                    accumulated_loss / max(seen_weight, 1e-300),
                    started,
                )
        return self._epoch_mean(accumulated_loss)


def _new_checkpoint(params, batches, settings, run, start_value):
    """The checkpoint of a minibatch fit's start (see :class:`Checkpoint`).

    A new network's starting weights are a candidate, and the reference of the
    plateau and of divergence: measured on the whole training set, as the
    epochs are, not on one minibatch, whose loss can be far below the data
    set's (skewed targets) and then beat every epoch, keeping the random
    initialisation. (Trained weights of a warm start compete on their first
    minibatch's loss: no plateau, and any winner is trained.)
    """
    start_loss = None
    if run.fresh:
        start_loss = batches.full_pass_loss(params)
    return Checkpoint(
        params,
        start_value,
        settings.tol,
        settings.n_iter_no_change,
        fresh=run.fresh,
        monitors_loss=not run.early_stopping or settings.scoring == "loss",
        start_loss=start_loss,
    )


def run_epochs(
    batches,
    params,
    optimizer,
    checkpoint,
    max_iter,
    validation_score=None,
    incremental=False,
    tasks=UNOBSERVED,
    ema_momentum=None,
):
    """Train ``params`` in place for up to ``max_iter`` epochs; return the History.

    ``validation_score(params)`` (higher is better, None without early stopping)
    scores the current weights; the checkpoint then monitors its negation, else the
    training loss. A fit (not ``incremental``) ends on the checkpoint's best weights
    whatever stops it; with ``ema_momentum`` (not None), a fit that ends without a
    divergence or an interruption keeps instead the exponential moving average of
    the weights at the end of its epochs, as it stood at the best epoch
    (:func:`_keep_average`), as Keras' optimizers with ``use_ema`` keep theirs: the
    best epoch is chosen among noisy ones, and the average evens out the noise of
    its last minibatch steps, while a run that got worse after its best (an unstable
    one) does not pull it there. One call of ``partial_fit`` (``incremental``) is
    one epoch: it keeps its weights unless the epoch diverges or is interrupted,
    when the weights go back to the checkpoint's best or to those of the call's
    start. After a divergence or an interruption the optimizer's state holds the
    blow-up, or is mid-epoch: the returned History says so, for the caller to start
    a fresh one. ``tasks`` (:class:`~sklstm._callbacks.FitTasks`) hears of each
    epoch's beginning and end, with the weights kept after a divergence, and may ask
    training to stop.
    """
    history = History()
    workspace = batches.workspace()
    grads = np.empty_like(params)
    epoch_start = np.empty_like(params)
    verbose = batches.verbose
    average = best_average = None
    reached_max_iter = False
    try:
        for _ in range(max_iter):
            started = time.perf_counter()
            np.copyto(epoch_start, params)
            rate = optimizer.rate
            tasks.begin_epoch(params, history, checkpoint)
            loss = batches.run_epoch(
                params, optimizer, checkpoint, workspace, grads, history.n_iter + 1
            )
            if (
                loss is None
                or checkpoint.diverged(loss)
                or not np.isfinite(params).all()
            ):
                history.diverged = True
                checkpoint.restore(params)
                tasks.end_epoch(params, history, checkpoint)
                _warn_diverged(f"epoch {history.n_iter + 1}", checkpoint, incremental)
                break
            history.n_iter += 1
            history.samples_seen += batches.data.n_samples
            history.loss_curve.append(float(loss))
            history.learning_rates.append(rate)
            if validation_score is not None:
                score = float(validation_score(params))
                history.validation_scores.append(score)
                checkpoint.record(-score, loss, params)
            else:
                checkpoint.record(loss, loss, params)
            if ema_momentum is not None and not incremental:
                average = _moving_average(average, params, ema_momentum, history.n_iter)
                if checkpoint.best_iter == history.n_iter:  # a new best epoch
                    best_average = _copy_into(best_average, average)
            if verbose:
                message = "Iteration %d, loss = %.8f" % (history.n_iter, loss)
                if validation_score is not None:
                    message += ", validation score = %.6f" % score
                print(message + ", time = %.2fs" % (time.perf_counter() - started))
            optimizer.iteration_ends(history.samples_seen)
            if tasks.end_epoch(params, history, checkpoint):
                history.stopped = True
                break
            if incremental:
                break
            if checkpoint.stalled:
                message = checkpoint.stalled_message(validation_score is not None)
                if optimizer.trigger_stopping(message, verbose):
                    break
                checkpoint.no_improvement_count = 0
            elif history.n_iter == max_iter:
                reached_max_iter = True
    except KeyboardInterrupt:
        history.interrupted = True
        _keep_after_interruption(params, epoch_start, checkpoint, history, incremental)
        tasks.end_epoch(params, history, checkpoint)
    if not incremental:
        checkpoint.restore(params)
    history.kept_loss = _kept_loss(history, checkpoint, incremental)
    # An average of the best epoch alone (the first, or a momentum of 0) is that
    # epoch's weights: they are in place already, with their loss.
    averages = best_average is not None and checkpoint.best_iter > 1 and ema_momentum
    if averages and not (history.diverged or history.interrupted):
        _keep_average(
            batches, params, best_average, checkpoint, validation_score, history
        )
    if reached_max_iter:
        if history.averaged:
            kept = (
                "the moving average of the weights up to the best epoch (%d) was"
                % checkpoint.best_iter
            )
        elif checkpoint.best_iter == 0:
            kept = "the starting weights, which no epoch improved on, were"
        else:
            kept = "the weights of the best epoch (%d) were" % checkpoint.best_iter
        warnings.warn(
            "Stochastic Optimizer: Maximum iterations (%d) reached and the "
            "optimization hasn't converged yet; %s kept." % (max_iter, kept),
            ConvergenceWarning,
            stacklevel=8,
        )
    return history


def _copy_into(buffer, values):
    """``values`` copied into ``buffer`` (None: a new one)."""
    if buffer is None:
        return values.copy()
    np.copyto(buffer, values)
    return buffer


def _moving_average(average, params, momentum, n_epochs):
    """The weights' moving average after epoch ``n_epochs`` (its first: a copy)."""
    if average is None:
        return params.copy()
    decay = min(momentum, (1 + n_epochs) / (EMA_WARMUP + n_epochs))
    average *= decay
    average += (1 - decay) * params
    return average


def _keep_average(batches, params, average, checkpoint, validation_score, history):
    """Put ``average``, the weights' moving average up to the best epoch, in
    ``params``, with its training loss.

    The loss is measured on the whole training set, as the starting weights'
    (:func:`training_loss`). With early stopping the average competes with the
    best epoch on the validation score and is kept only if it scores at least as
    well; without, it is kept unless its loss is not finite.
    """
    score = None
    if validation_score is not None:
        score = float(validation_score(average))
        if not -score <= checkpoint.best_value:
            if batches.verbose:
                print(
                    "Kept the weights of the best epoch (%d, validation score = "
                    "%.6f): the moving average of the weights scored %.6f."
                    % (checkpoint.best_iter, -checkpoint.best_value, score)
                )
            return
    loss = batches.full_pass_loss(average)
    if not np.isfinite(loss):
        return
    np.copyto(params, average)
    history.kept_loss = loss
    history.averaged = True
    history.average_score = score
    if batches.verbose:
        message = (
            "Kept the moving average of the weights up to the best epoch (%d): "
            "loss = %.8f" % (checkpoint.best_iter, loss)
        )
        if score is not None:
            message += ", validation score = %.6f" % score
        print(message + ".")


def _keep_after_interruption(params, epoch_start, checkpoint, history, incremental):
    """Put back the weights an interrupted run keeps, and say which."""
    if incremental:
        np.copyto(params, epoch_start)
        kept = "the weights from before this call were kept"
    else:
        checkpoint.restore(params)
        kept = "the weights of its best epoch (%d) were kept" % checkpoint.best_iter
    warnings.warn(
        f"Training interrupted by the user after {history.n_iter} complete "
        f"epoch(s); {kept}. Fit again with warm_start=True to go on from there.",
        UserWarning,
        stacklevel=9,
    )


def _kept_loss(history, checkpoint, incremental):
    """The training loss of the weights kept: their epoch's, or the start's."""
    if not incremental and checkpoint.best_iter > 0:
        return history.loss_curve[checkpoint.best_iter - 1]
    if history.loss_curve and not (history.diverged or history.interrupted):
        return history.loss_curve[-1]
    return checkpoint.start_loss


# batch_size="auto": on small data sets at least 8 optimizer steps an epoch, in
# minibatches of 8 to Keras' 32 (a data set of 36 sequences in minibatches of 32
# gets two steps an epoch, too few to learn from); then Keras' 32, growing to
# MLP's 200 on large data sets, where each epoch has 50 steps or more and larger
# minibatches run faster.
_AUTO_BATCH_MIN = 8
_AUTO_BATCH_SMALL = 32
_AUTO_BATCH_LARGE = 200
_AUTO_BATCH_STEPS_SMALL = 8
_AUTO_BATCH_STEPS = 50


def auto_batch_size(n_samples):
    """The minibatch size of batch_size="auto" for n_samples sequences."""
    small = min(
        _AUTO_BATCH_SMALL,
        max(_AUTO_BATCH_MIN, n_samples // _AUTO_BATCH_STEPS_SMALL),
    )
    size = min(_AUTO_BATCH_LARGE, max(small, n_samples // _AUTO_BATCH_STEPS))
    return min(size, n_samples)


@dataclass(frozen=True)
class TrainingSettings:
    """The estimator's parameters that training reads, by their names."""

    solver: str
    alpha: float
    batch_size: object
    learning_rate: str
    learning_rate_init: float
    power_t: float
    max_iter: int
    shuffle: bool
    tol: float
    verbose: int
    momentum: float
    nesterovs_momentum: bool
    beta_1: float
    beta_2: float
    epsilon: float
    rho: float
    n_iter_no_change: int
    max_grad_norm: object
    ema_momentum: object
    max_fun: int
    dropout: float
    recurrent_dropout: float
    validation_fraction: float
    scoring: object

    @classmethod
    def of(cls, estimator):
        return cls(**{f.name: getattr(estimator, f.name) for f in fields(cls)})


@dataclass
class TrainingData:
    """Validated data of one fit: sequences, encoded targets, loss weights.

    ``y`` is the validated target (per step: as ``check_step_targets`` gives
    it), kept for a scorer of the validation split, and ``labels`` what that
    split stratifies by (None: no strata).
    """

    data: object
    Y: object
    sample_weight: object
    y: object = None
    labels: object = None

    def take(self, index):
        y = self.y
        if y is not None:
            y = [y[i] for i in index] if isinstance(y, list) else y[index]
        return TrainingData(
            self.data.take(index),
            self.Y[index],
            None if self.sample_weight is None else self.sample_weight[index],
            y,
        )


@dataclass
class Trained:
    """What :func:`train` gives the estimator to store."""

    history: History
    best_iter: int
    optimizer: object = None
    checkpoint: object = None
    validation_scores: object = None
    best_validation_score: object = None


@dataclass
class Run:
    """How one call of :func:`train` runs, beside the data and the settings.

    ``chunk`` is the sequences per full-batch evaluation of L-BFGS. Minibatch
    solvers continue ``optimizer`` and ``checkpoint`` when given (partial_fit),
    else start new ones. With ``early_stopping``, ``validation`` is a
    :class:`TrainingData`, or None for a split of ``validation_fraction`` of the
    training data, and ``validation_score(validation)`` returns the function that
    scores weights on it (higher is better). ``tasks`` hears of every epoch
    (:class:`~sklstm._callbacks.FitTasks`).
    """

    random_state: object
    n_threads: int
    chunk: int
    fresh: bool
    incremental: bool = False
    optimizer: object = None
    checkpoint: object = None
    early_stopping: bool = False
    validation: object = None
    validation_score: object = None
    tasks: object = UNOBSERVED


def train(network, params, training, settings, run):
    """Train ``params`` (in place) on ``training``, a :class:`TrainingData`.

    ``settings`` is a :class:`TrainingSettings`, ``run`` a :class:`Run`.
    Returns a :class:`Trained`.
    """
    if settings.solver == "lbfgs":
        history = fit_lbfgs(
            network,
            params,
            training.data,
            training.Y,
            *scaled_weights(training.sample_weight, settings.alpha, network.dtype),
            run.chunk,
            run.n_threads,
            settings.max_iter,
            settings.max_fun,
            settings.tol,
            settings.verbose,
            run.tasks,
        )
        return Trained(history, history.n_iter if history.loss_curve else 0)
    return _train_minibatches(network, params, training, settings, run)


def _train_minibatches(network, params, training, settings, run):
    """:func:`train` of the minibatch solvers (see there)."""
    # What a fit draws per sequence follows its content (see sequence_keys): one
    # seed a fit, drawn before anything else.
    random_state, validation = run.random_state, run.validation
    seed = int(random_state.randint(np.iinfo(np.int64).max))
    keys = None
    early_stopping = run.early_stopping
    split = early_stopping and validation is None
    if settings.dropout or settings.recurrent_dropout or split:
        keys = sequence_keys(training.data, seed)
    if split:
        train_index, val_index = validation_split(
            keys, training.labels, training.sample_weight, settings.validation_fraction
        )
        keys = keys[train_index]
        training, validation = training.take(train_index), training.take(val_index)
    data = training.data
    sample_weight, alpha = scaled_weights(
        training.sample_weight, settings.alpha, network.dtype
    )
    if settings.batch_size == "auto":
        batch_size = auto_batch_size(data.n_samples)
    else:
        batch_size = min(settings.batch_size, data.n_samples)
    # As in MLP: fit (even warm-started) starts a new optimizer, partial_fit
    # carries the optimizer state (Adam moments, velocity) from call to call.
    if run.optimizer is None:
        optimizer = make_optimizer(settings, params)
    else:
        optimizer = copy.deepcopy(run.optimizer)
    batches = Minibatches(
        network=network,
        data=data,
        Y=training.Y,
        sample_weight=sample_weight,
        batch_size=batch_size,
        alpha=alpha,
        shuffle=settings.shuffle,
        random_state=random_state,
        n_threads=run.n_threads,
        max_grad_norm=settings.max_grad_norm,
        dropout=settings.dropout,
        recurrent_dropout=settings.recurrent_dropout,
        verbose=settings.verbose,
        keys=keys,
        mask_seed=seed,
    )
    score = start_value = None
    if early_stopping:
        score = run.validation_score(validation)
        start_value = -score(params)
    if run.checkpoint is None:
        checkpoint = _new_checkpoint(params, batches, settings, run, start_value)
    else:
        checkpoint = copy.deepcopy(run.checkpoint)
    history = run_epochs(
        batches,
        params,
        optimizer,
        checkpoint,
        settings.max_iter,
        score,
        run.incremental,
        run.tasks,
        settings.ema_momentum,
    )
    trained = Trained(history, checkpoint.best_iter, optimizer, checkpoint)
    if early_stopping:
        trained.validation_scores = history.validation_scores
        trained.best_validation_score = (
            history.average_score if history.averaged else -checkpoint.best_value
        )
    return trained


def training_loss(network, params, data, Y, sample_weight, alpha, n_batches):
    """The training loss of ``params`` as an epoch of ``n_batches`` reports it.

    The weighted mean loss over the whole training set (``sample_weight`` and
    ``alpha`` scaled as :func:`scaled_weights` does), plus the L2 term that each
    minibatch adds, from one forward pass (no dropout).
    """
    raw = FittedModel(*network.predicting(params)).raw_outputs(data)
    loss = network.mean_loss(raw, Y, sample_weight)
    if alpha:
        total = data.n_samples if sample_weight is None else sample_weight.sum()
        loss += n_batches * 0.5 * alpha * network.l2_penalty(params) / total
    return loss


def validation_scorer(network, scorer, view):
    """The early-stopping score of weights on validation data (higher is better).

    Returns ``on(validation)``, which returns ``score(params)`` for a
    :class:`TrainingData`. With ``scorer`` None, the negative mean loss of the
    encoded targets, on the network alone; else ``scorer(view(params), X_val,
    y_val)``, where ``view(params)`` is a frozen fitted estimator that predicts
    with those weights (the estimator being fitted never is).
    """

    def on(validation):
        if scorer is None:

            def score(params):
                raw = FittedModel(*network.predicting(params)).raw_outputs(
                    validation.data
                )
                return -network.mean_loss(raw, validation.Y, validation.sample_weight)

            return score
        X_val, y_val = validation.data.as_input(), validation.y
        weight = validation.sample_weight
        kwargs = {} if weight is None else {"sample_weight": weight}
        return lambda params: _checked_score(
            scorer(view(params), X_val, y_val, **kwargs), scorer
        )

    return on


def _checked_score(value, scorer):
    """A scorer's value as a float, refusing what early stopping cannot monitor."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        raise TypeError(
            f"The early-stopping scorer {scorer!r} returned {value!r} (of type "
            f"{type(value).__name__}); scoring must give a number, higher for "
            "better models."
        )
    if not np.isfinite(value):
        raise ValueError(
            f"The early-stopping scorer {scorer!r} returned {value} on the "
            "validation data: early stopping cannot compare epochs by a score "
            "that is not finite. Check the scorer on that data (a metric "
            "undefined for a validation set this small returns NaN), or use "
            "scoring='loss'."
        )
    return float(value)


def _warn_diverged(where, checkpoint, incremental):
    if checkpoint.best_iter == 0 and (not incremental or checkpoint.iteration == 0):
        kept = "the starting weights were kept"
    else:
        kept = "the weights of the best epoch were kept"
    warnings.warn(
        f"Training diverged in {where}: the loss became NaN, infinite or more than "
        f"{DIVERGENCE_FACTOR:g} times its lowest, so training stopped and {kept}. "
        "Scale the input (e.g. standardise each feature), lower "
        "learning_rate_init, or set max_grad_norm.",
        ConvergenceWarning,
        stacklevel=9,
    )


def fit_lbfgs(
    network,
    params,
    data,
    Y,
    sample_weight,
    alpha,
    chunk,
    n_threads,
    max_iter,
    max_fun,
    tol,
    verbose,
    tasks=UNOBSERVED,
):
    """Full-batch L-BFGS (scipy's L-BFGS-B) of ``params`` in place; the History.

    The loss and gradient of the whole data set are summed over chunks of bounded
    memory; scipy works in float64, the network in X's dtype. The weights kept are
    those of the lowest loss evaluated (the starting ones included), also when a
    step overflows or the user interrupts.
    """
    best = {"loss": np.inf, "params": aligned_params(params)}
    history = History()
    loss_and_gradient = _full_batch_objective(
        network, data, Y, sample_weight, alpha, chunk, n_threads, best
    )

    started = time.perf_counter()

    def record(intermediate_result):
        history.n_iter += 1
        history.loss_curve.append(float(intermediate_result.fun))
        if verbose:
            print(
                "Iteration %d, loss = %.8f, time = %.2fs"
                % (
                    history.n_iter,
                    history.loss_curve[-1],
                    time.perf_counter() - started,
                )
            )
        if tasks.listening:
            # Each iteration is a task of the callbacks; one may end the run.
            iterate = intermediate_result.x.astype(params.dtype)
            tasks.begin_epoch(iterate, history, None)
            if tasks.end_epoch(iterate, history, None):
                history.stopped = True
                raise StopIteration

    result = None
    try:
        result = scipy.optimize.minimize(
            loss_and_gradient,
            params.astype(np.float64),
            method="L-BFGS-B",
            jac=True,
            callback=record,
            options={"maxiter": max_iter, "maxfun": max_fun, "gtol": tol},
        )
    except KeyboardInterrupt:
        history.interrupted = True
        warnings.warn(
            f"Training interrupted by the user after {history.n_iter} L-BFGS "
            "iteration(s); the weights of the lowest loss so far were kept.",
            UserWarning,
            stacklevel=7,
        )
    if not np.isfinite(best["loss"]):
        # Not even the starting weights had a finite loss: nothing to keep but them.
        history.diverged = True
        history.kept_loss = np.inf
        _warn_lbfgs_diverged("the starting weights were kept")
        return history
    np.copyto(params, best["params"])
    history.kept_loss = best["loss"]
    if result is not None and not (
        np.isfinite(result.fun) and np.isfinite(result.x).all()
    ):
        history.diverged = True
        _warn_lbfgs_diverged("the weights of the lowest loss were kept")
    elif result is not None and result.status != 0 and not history.stopped:
        warnings.warn(
            f"lbfgs failed to converge after {result.nit} iterations "
            f"(status={result.status}): {result.message}. Increase max_iter "
            "(or max_fun), or scale the input.",
            ConvergenceWarning,
            stacklevel=7,
        )
    return history


def _full_batch_objective(
    network, data, Y, sample_weight, alpha, chunk, n_threads, best
):
    """L-BFGS's ``flat -> (loss, float64 gradient)`` over the whole data set.

    Summed over chunks of bounded memory; ``best`` (``loss``, ``params``) is
    updated with the lowest finite loss evaluated.
    """
    n_samples = data.n_samples
    workspace = network.workspace(data.max_length, chunk, n_threads=n_threads)
    order = data.order_for_batches(np.arange(n_samples))
    total_weight = n_samples if sample_weight is None else sample_weight.sum()
    trial = np.empty_like(best["params"])
    grads = np.empty_like(trial)
    chunk_grads = np.empty_like(trial)

    def loss_and_gradient(flat):
        trial[...] = flat
        grads[...] = 0
        loss = 0.0
        for index, batch_slice in enumerate(batch_slices(n_samples, chunk)):
            batch_index = order[batch_slice]
            X_tm, batch_sizes, last_step = data.pack(batch_index, workspace)
            loss += network.loss_and_gradient(
                trial,
                X_tm,
                batch_sizes,
                last_step,
                Y[batch_index],
                # The L2 term belongs to the whole batch: add it once.
                alpha if index == 0 else 0.0,
                chunk_grads,
                workspace,
                sample_weight=None
                if sample_weight is None
                else sample_weight[batch_index],
                total_weight=total_weight,
            )
            np.add(grads, chunk_grads, out=grads)
        if np.isfinite(loss) and loss < best["loss"] and np.isfinite(trial).all():
            best["loss"] = float(loss)
            np.copyto(best["params"], trial)
        return loss, grads.astype(np.float64)

    return loss_and_gradient


def _warn_lbfgs_diverged(kept):
    warnings.warn(
        f"Training diverged in lbfgs: the loss or the weights became NaN or "
        f"infinite, so training stopped and {kept}. Scale the input (e.g. "
        "standardise each feature).",
        ConvergenceWarning,
        stacklevel=8,
    )


def scaled_weights(sample_weight, alpha, dtype):
    """Sample weights in ``dtype``, scaled by a power of two to at most 1; alpha alike.

    The weighted mean loss and its L2 term (``alpha / (2 * total_weight)``) are
    unchanged, exactly, while weights of any finite size neither overflow the
    loss's sums nor a cast to float32.
    """
    if sample_weight is None:
        return None, alpha
    _, exponent = np.frexp(sample_weight.max())
    factor = float(np.ldexp(1.0, -int(exponent)))
    return (sample_weight * factor).astype(dtype), alpha * factor


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x):
    """splitmix64's finaliser on uint64 arrays: well-spread bits from a counter."""
    with np.errstate(over="ignore"):
        x = x + _GOLDEN
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _uniform(keys, counter, width):
    """Uniform [0, 1) draws (len(keys), width), a function of keys and counter."""
    base = np.uint64(0)
    for part in counter:
        base = _mix(np.uint64(base ^ np.uint64(part)))
    columns = _mix(base ^ np.arange(width, dtype=np.uint64))
    bits = _mix(keys[:, None] ^ columns[None, :])
    return (bits >> np.uint64(11)).astype(np.float64) * 2.0**-53


def sequence_keys(data, seed):
    """A 64-bit key per sequence from its values (and length) and the seed.

    Equal sequences get equal keys: what a fit draws per sequence (dropout masks,
    the side of the validation split) then treats a repeated sequence as one
    that weighs more, as the loss does.
    """
    salt = int(seed).to_bytes(8, "little")
    sequences = data.as_input()
    keys = np.empty(data.n_samples, dtype=np.uint64)
    for i, sequence in enumerate(sequences):
        digest = hashlib.blake2b(
            np.ascontiguousarray(sequence).tobytes(), digest_size=8, salt=salt
        ).digest()
        keys[i] = int.from_bytes(digest, "little")
    return keys


def merged_samples(data, y, sample_weight):
    """The training samples with repeats merged into weights.

    Equal sequences with equal targets become one sample weighing their total
    weight, samples of weight 0 go, and the rest are put in the order of their
    content. A weight of k and k repeats of a sample are then the same data, the
    same sums in the same order: full-batch L-BFGS (which magnifies any rounding
    difference over its iterations) and shuffled minibatches give the same
    model, bit for bit. Data with neither weights nor repeats comes back as it
    is, found so from each sequence's first and last steps in the common case
    (no hashing of the whole data). Returns ``(data, y, sample_weight, counts)``,
    ``counts`` the number of samples each kept one stands for (None: one each),
    for what counts samples rather than weighing them (balanced class weights).
    """
    if sample_weight is None and not _may_repeat(data):
        return data, y, None, None
    keys = sequence_keys(data, 0)
    labels = y.reshape(len(y), -1) if y.ndim > 1 else y
    _, codes = np.unique(labels, axis=0 if y.ndim > 1 else None, return_inverse=True)
    codes = codes.ravel()
    order = np.lexsort((codes, keys))
    sorted_keys, sorted_codes = keys[order], codes[order]
    starts = np.r_[True, (sorted_keys[1:] != sorted_keys[:-1])]
    starts |= np.r_[True, sorted_codes[1:] != sorted_codes[:-1]]
    if sample_weight is None and starts.all():
        return data, y, None, None
    weight = np.ones(data.n_samples) if sample_weight is None else sample_weight
    group = np.cumsum(starts) - 1
    totals = np.bincount(group, weights=weight[order])
    counts = np.bincount(group, weights=weight[order] > 0).astype(np.intp)
    keep = totals > 0
    index = order[starts][keep]
    return data.take(index), y[index], totals[keep], counts[keep]


#: Rows of the repeat check's sketch projected at a time (a float64 copy each).
_SKETCH_BLOCK = 8192


def _may_repeat(data):
    """Whether two sequences might be equal: same length, first and last steps."""
    if isinstance(data, RaggedSequences):
        ends = data.offsets + data.lengths - 1
        first, last = data.values[data.offsets], data.values[ends]
        sketch = np.column_stack([data.lengths, first, last])
    else:
        sketch = np.concatenate([data.X[:, 0], data.X[:, -1]], axis=1)
    # Equal rows project to equal numbers, so distinct projections rule repeats
    # out at the cost of sorting numbers instead of rows (np.unique(axis=0) takes
    # ten times longer); only rows of equal projections (NaN, or a coincidence)
    # are compared. The projections are float64, computed in blocks of rows: in
    # float32 a hundred thousand sequences share some by chance.
    weights = np.random.default_rng(0).uniform(1, 2, size=sketch.shape[1])
    projection = np.empty(data.n_samples)
    with np.errstate(all="ignore"):
        for rows in batch_slices(data.n_samples, _SKETCH_BLOCK):
            np.dot(
                sketch[rows].astype(np.float64, copy=False),
                weights,
                out=projection[rows],
            )
    order = np.argsort(projection)
    ordered = projection[order]
    # NaNs sort last and tie with each other.
    nan = np.isnan(ordered)
    tied = (ordered[1:] == ordered[:-1]) | (nan[1:] & nan[:-1])
    if not tied.any():
        return False
    in_tie = np.zeros(data.n_samples, dtype=bool)
    in_tie[1:] |= tied
    in_tie[:-1] |= tied
    candidates = order[in_tie]
    return len(np.unique(sketch[candidates], axis=0)) < len(candidates)


def validation_split(keys, labels, sample_weight, validation_fraction):
    """Training and validation indices of an early-stopping split.

    Within each class (of ``labels``; None for one group) the sequences go to
    the validation set in the order of their keys until it holds
    ``validation_fraction`` of the class's weight, keeping at least one
    sequence of each class for training. Stratified, so, whenever a class has
    room for it, and a split for any number of classes. Equal sequences
    (equal keys) fall on the same side, and the fraction is one of weight, so
    that a weight of 2 splits as a repeated sequence does.
    """
    n_samples = len(keys)
    weights = np.ones(n_samples) if sample_weight is None else sample_weight
    groups = np.zeros(n_samples, dtype=int) if labels is None else labels
    in_validation = np.zeros(n_samples, dtype=bool)
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        members = members[np.argsort(keys[members], kind="stable")]
        member_keys = keys[members]
        cumulative = np.cumsum(weights[members])
        before = cumulative - weights[members]
        # Where each run of equal keys starts: a run goes to one side whole.
        starts = np.r_[True, member_keys[1:] != member_keys[:-1]]
        run = np.cumsum(starts) - 1
        run_before = before[starts][run]
        target = validation_fraction * cumulative[-1]
        # The last run that weighs anything stays for training (zero weights are
        # sequences left out).
        weighing = run[weights[members] > 0]
        last_run = run == (weighing[-1] if len(weighing) else run[-1])
        in_validation[members] = (run_before < target) & ~last_run
    train, val = np.flatnonzero(~in_validation), np.flatnonzero(in_validation)
    if not weights[val].sum() > 0:
        raise ValueError(
            f"The validation set is empty: validation_fraction={validation_fraction}"
            f" of {n_samples} samples leaves no sequence to validate on (each class "
            "keeps one for training). Increase validation_fraction, pass X_val and "
            "y_val to fit, or use more data."
        )
    return train, val
