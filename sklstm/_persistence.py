"""Pickles that carry the sklstm version, and loaded states brought up to date."""

import warnings

from sklstm._version import __version__


class VersionedPickleMixin:
    """Pickles carry the sklstm version; another version's load with a warning.

    As scikit-learn does for its own version: a model pickled by another sklstm
    loads, with a warning, since its behaviour may differ. ``_loaded_state``
    brings a loaded state up to date (and checks it) before it is set.
    """

    def __getstate__(self):
        # A copy: object.__getstate__ hands out the instance's own __dict__.
        state = dict(super().__getstate__())
        state["_sklstm_version"] = __version__
        return state

    def __setstate__(self, state):
        version = state.pop("_sklstm_version", "unknown")
        if version != __version__:
            warnings.warn(
                InconsistentVersionWarning(type(self).__name__, version, __version__),
                stacklevel=2,
            )
        self._loaded_state(state)
        super().__setstate__(state)

    def _loaded_state(self, state):
        """Bring a loaded state up to date, and check it, in place."""


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
