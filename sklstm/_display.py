"""The training curve of a fitted estimator, in scikit-learn's Display convention."""

import numpy as np

__all__ = ["TrainingCurveDisplay"]


class TrainingCurveDisplay:
    """Training curve: the loss and validation score per epoch, and the rate.

    Shows the training loss of every epoch (``loss_curve_``), with early
    stopping the validation score or negative validation loss
    (``validation_scores_``) on the same epochs, the epoch whose weights were
    kept (``best_iter_``) marked, and the learning rate of each epoch
    (``learning_rate_curve_``) on a second axis when it changed. Create it with
    :meth:`from_estimator`; as scikit-learn's
    :class:`~sklearn.model_selection.LearningCurveDisplay`, it stores what it
    plots, and :meth:`plot` draws it again on other axes. matplotlib is needed
    by :meth:`plot` only.

    Parameters
    ----------
    loss_curve : array-like of shape (n_epochs,)
        The training loss of each epoch (L-BFGS: of each iteration).

    validation_scores : array-like of shape (n_epochs,) or None, default=None
        The validation score of each epoch (early stopping's), if any.

    best_iter : int or None, default=None
        The epoch whose weights the model kept (0: the starting weights).

    learning_rates : array-like of shape (n_epochs,) or None, default=None
        The learning rate of each epoch (None for L-BFGS).

    scoring : str or None, default=None
        What the validation scores are, for the axis label ("loss" for the
        negative validation loss).

    estimator_name : str or None, default=None
        The estimator's name, for the title.

    Attributes
    ----------
    ax_ : matplotlib Axes
        The axes of the loss and the validation scores.

    rate_ax_ : matplotlib Axes or None
        The second axis of the learning rate, if it was drawn.

    figure_ : matplotlib Figure
        The figure holding the axes.

    lines_ : dict of str to matplotlib Line2D
        The drawn lines: "loss", and "validation", "best" and "learning_rate"
        when drawn.

    See Also
    --------
    sklearn.model_selection.LearningCurveDisplay : Scores against the amount
        of training data.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklstm import LSTMClassifier, TrainingCurveDisplay
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(100, 6, 2))
    >>> y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    >>> clf = LSTMClassifier(hidden_layer_sizes=(8,), early_stopping=True,
    ...                      max_iter=30, random_state=0).fit(X, y)
    >>> display = TrainingCurveDisplay.from_estimator(clf)
    >>> sorted(display.lines_)
    ['best', 'loss', 'validation']
    """

    def __init__(
        self,
        *,
        loss_curve,
        validation_scores=None,
        best_iter=None,
        learning_rates=None,
        scoring=None,
        estimator_name=None,
    ):
        self.loss_curve = loss_curve
        self.validation_scores = validation_scores
        self.best_iter = best_iter
        self.learning_rates = learning_rates
        self.scoring = scoring
        self.estimator_name = estimator_name

    @classmethod
    def from_estimator(cls, estimator, *, ax=None, log_loss_axis=False):
        """Plot the training curve of a fitted estimator.

        Parameters
        ----------
        estimator : LSTMClassifier or LSTMRegressor
            A fitted estimator (its last ``fit``'s histories: ``loss_curve_``
            holds every epoch since the first fit of a warm-started model, the
            validation scores those of the last fit).

        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.

        log_loss_axis : bool, default=False
            Whether the loss axis is logarithmic.

        Returns
        -------
        display : TrainingCurveDisplay
            The display, drawn.
        """
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(estimator)
        validation = estimator.validation_scores_
        loss_curve = list(estimator.loss_curve_)
        rates = getattr(estimator, "learning_rate_curve_", None)
        if validation:
            # The last fit's epochs: those the validation scores are of.
            loss_curve = loss_curve[-len(validation) :]
            rates = None if rates is None else list(rates)[-len(validation) :]
        display = cls(
            loss_curve=loss_curve,
            validation_scores=validation,
            best_iter=estimator.best_iter_,
            learning_rates=rates,
            scoring=estimator.scoring if validation else None,
            estimator_name=type(estimator).__name__,
        )
        return display.plot(ax=ax, log_loss_axis=log_loss_axis)

    def plot(self, ax=None, *, log_loss_axis=False):
        """Draw the curve.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.

        log_loss_axis : bool, default=False
            Whether the loss axis is logarithmic.

        Returns
        -------
        display : TrainingCurveDisplay
            The display, with ``ax_``, ``rate_ax_``, ``figure_`` and ``lines_``.
        """
        from sklearn.utils._optional_dependencies import check_matplotlib_support

        check_matplotlib_support(f"{type(self).__name__}.plot")
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        epochs = np.arange(1, len(self.loss_curve) + 1)
        self.lines_ = {}
        (self.lines_["loss"],) = ax.plot(
            epochs, self.loss_curve, color="C0", label="training loss"
        )
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        if log_loss_axis:
            ax.set_yscale("log")
        handles = [self.lines_["loss"]]
        score_ax = ax
        if self.validation_scores is not None and len(self.validation_scores):
            scores = np.asarray(self.validation_scores, dtype=float)
            if self.scoring == "loss":  # the negative validation loss
                score_ax, scores, label = ax, -scores, "validation loss"
            else:
                score_ax = ax.twinx()
                label = f"validation {self.scoring or 'score'}"
            (self.lines_["validation"],) = score_ax.plot(
                epochs[: len(scores)], scores, color="C1", label=label
            )
            if score_ax is not ax:
                score_ax.set_ylabel(label)
            handles.append(self.lines_["validation"])
        if self.best_iter:
            self.lines_["best"] = ax.axvline(
                self.best_iter,
                color="0.4",
                linestyle="--",
                label=f"weights kept (epoch {self.best_iter})",
            )
            handles.append(self.lines_["best"])
        self.rate_ax_ = None
        rates = self.learning_rates
        if rates is not None and len(rates) and len(set(rates)) > 1:
            self.rate_ax_ = ax.twinx()
            if score_ax is not ax:  # a third axis: move it off the second's side
                self.rate_ax_.spines.right.set_position(("axes", 1.15))
            (self.lines_["learning_rate"],) = self.rate_ax_.step(
                epochs[: len(rates)],
                rates,
                where="post",
                color="C2",
                label="learning rate",
            )
            self.rate_ax_.set_yscale("log")
            self.rate_ax_.set_ylabel("learning rate")
            handles.append(self.lines_["learning_rate"])
        ax.legend(handles=handles, loc="best")
        if self.estimator_name:
            ax.set_title(f"{self.estimator_name}: training curve")
        self.ax_, self.figure_ = ax, ax.figure
        return self
