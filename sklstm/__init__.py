"""LSTM networks as scikit-learn estimators, with Cython kernels calling BLAS."""

try:
    from sklstm._kernels import _train  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on how sklstm was found
    import os as _os

    raise ImportError(
        "sklstm's compiled kernels (sklstm._kernels) are missing from "
        f"{_os.path.dirname(__file__)}. This is usually a source tree that is "
        "not built: Python imported it instead of the installed sklstm because "
        "it was started from the root of a clone. Run from another directory "
        "(after `pip install .`), or build the kernels in place with "
        "`pip install -e .`."
    ) from error

from sklstm._display import TrainingCurveDisplay
from sklstm._lstm import (
    InconsistentVersionWarning,
    LSTMClassifier,
    LSTMRegressor,
    OneHotTargetWarning,
)
from sklstm._stream import LSTMClassifierStream, LSTMStream
from sklstm._version import __version__
from sklstm.preprocessing import (
    SequenceImputer,
    SequencePatcher,
    SequenceScaler,
    make_windows,
)

__all__ = [
    "InconsistentVersionWarning",
    "LSTMClassifier",
    "LSTMClassifierStream",
    "LSTMRegressor",
    "LSTMStream",
    "OneHotTargetWarning",
    "SequenceImputer",
    "SequencePatcher",
    "SequenceScaler",
    "TrainingCurveDisplay",
    "make_windows",
    "__version__",
]
