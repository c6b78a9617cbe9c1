"""LSTM networks as scikit-learn estimators, with Cython kernels calling BLAS."""

from sklstm._lstm import LSTMClassifier, LSTMRegressor
from sklstm._version import __version__

__all__ = ["LSTMClassifier", "LSTMRegressor", "__version__"]
