"""LSTM networks as scikit-learn estimators, with Cython kernels calling BLAS."""

from sklstm._lstm import InconsistentVersionWarning, LSTMClassifier, LSTMRegressor
from sklstm._version import __version__
from sklstm.preprocessing import SequenceScaler, make_windows

__all__ = [
    "InconsistentVersionWarning",
    "LSTMClassifier",
    "LSTMRegressor",
    "SequenceScaler",
    "make_windows",
    "__version__",
]
