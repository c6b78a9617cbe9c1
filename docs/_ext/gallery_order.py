"""The gallery's order: what a newcomer reads first comes first."""

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
