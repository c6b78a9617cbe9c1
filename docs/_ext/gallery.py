"""The gallery's order, and each example's own warning filters."""

import warnings

# From a first model to deployment; an example not listed goes last, by name.
LEARNING_ORDER = [
    "stacked_lstm_digits.py",
    "plot_digits_grid_search.py",
    "plot_learning_curves.py",
    "plot_lstm_vs_gru.py",
    "plot_forecasting.py",
    "plot_regression_losses.py",
    "plot_per_step_labelling.py",
    "plot_streaming.py",
    "plot_sequence_embeddings.py",
    "plot_out_of_core.py",
    "plot_distributed_search.py",
    "plot_deployment.py",
]


class ExampleOrder:
    """Sphinx-Gallery's ``within_subsection_order``: a sort key per file name."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        if filename in LEARNING_ORDER:
            return (LEARNING_ORDER.index(filename), filename)
        return (len(LEARNING_ORDER), filename)

    def __repr__(self):  # Sphinx compares configurations by their repr
        return f"<{type(self).__name__}>"


_example_filters = None


def restore_warning_filters(gallery_conf, fname):
    """Sphinx-Gallery's ``reset_modules``: each example starts with the warning
    filters the build had.

    Examples silence the ConvergenceWarning of their fixed epoch budgets with a
    filter for the whole script; run one after another in the build's process,
    that filter would otherwise hide the warnings of every later example.
    """
    global _example_filters
    if _example_filters is not None:
        _example_filters.__exit__(None, None, None)  # undo the last example's
    _example_filters = warnings.catch_warnings()
    _example_filters.__enter__()
