"""scikit-learn's callbacks (``sklearn.callback``, scikit-learn >= 1.9) on a fit.

A fit is a task whose subtasks are its epochs (L-BFGS: its iterations); a
``partial_fit`` is one task. :class:`FitTasks` is what the estimators and the
training loop call at each boundary; it hands the callbacks the training data
and, lazily, a fitted estimator that predicts with the weights of that moment
(built only if a callback asks for it). With an older scikit-learn, or no
callback set, it does nothing.
"""

try:  # scikit-learn >= 1.9
    from sklearn.callback import CallbackSupportMixin
except ImportError:  # pragma: no cover - depends on the installed scikit-learn

    class CallbackSupportMixin:
        """scikit-learn < 1.9 has no callbacks: nothing to support."""


CALLBACKS_AVAILABLE = hasattr(CallbackSupportMixin, "set_callbacks")


class FitTasks:
    """The task tree of one fit (or ``partial_fit``) as the callbacks see it.

    Parameters
    ----------
    estimator : estimator
        The estimator being fitted.
    task_name : {"fit", "partial_fit"}
        The root task's name.
    max_subtasks : int
        Epochs (or iterations) at most: the root's subtasks. 0 for partial_fit,
        a task of its own.
    """

    def __init__(self, estimator, task_name, max_subtasks, snapshot_of=None):
        self._estimator = estimator
        self._snapshot_of = snapshot_of
        self._root = None
        self._epoch = None
        self._data = {}
        if CALLBACKS_AVAILABLE:
            self._root = estimator._init_callback_context(
                task_name=task_name, max_subtasks=max_subtasks
            )
        # Nothing listens (or partial_fit, one task): no subtask is made, no
        # estimator rebuilt.
        self.listening = bool(
            max_subtasks and self._root is not None and self._root._callbacks
        )

    def begin_fit(self, X, y, sample_weight):
        """The root task begins, on the training data as the fit was given it."""
        self._data = {
            "X": X,
            "y": y,
            "metadata": None
            if sample_weight is None
            else {"sample_weight": sample_weight},
        }
        if self._root is not None:
            self._root.call_on_fit_task_begin(estimator=self._estimator, **self._data)

    def end_fit(self):
        """The root task ends: the estimator is fitted."""
        if self._root is not None:
            self._root.call_on_fit_task_end(
                estimator=self._estimator,
                reconstruction_attributes={},
                **self._data,
            )

    def begin_epoch(self, params, history, checkpoint):
        """An epoch (iteration) begins, from weights ``params`` (training units)."""
        if not self.listening:
            return
        self._epoch = self._root.subcontext(task_name="epoch")
        self._epoch.call_on_fit_task_begin(
            estimator=self._estimator,
            reconstruction_attributes=lambda: self._snapshot_of(
                params, history, checkpoint
            ),
            **self._data,
        )

    def end_epoch(self, params, history, checkpoint):
        """The epoch ends with weights ``params``; whether a callback asks
        training to stop."""
        if self._epoch is None:
            return False
        epoch, self._epoch = self._epoch, None
        return epoch.call_on_fit_task_end(
            estimator=self._estimator,
            reconstruction_attributes=lambda: self._snapshot_of(
                params, history, checkpoint
            ),
            **self._data,
        )


class _Unobserved:
    """The tasks of a fit that no callback observes."""

    listening = False

    def begin_epoch(self, params, history, checkpoint):
        pass

    def end_epoch(self, params, history, checkpoint):
        return False


UNOBSERVED = _Unobserved()
