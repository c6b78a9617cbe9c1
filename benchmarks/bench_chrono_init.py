"""The LSTM's gate biases started for the sequences' length: a screen (issue 32).

Keras starts every LSTM bias at 0 but the forget gate's, at 1
(``unit_forget_bias``), whatever the sequences' length; sklstm does the same.
Tallec and Ollivier's *chrono initialisation* ("Can recurrent neural networks
warp time?", ICLR 2018) starts them for memories of up to ``T`` steps: each
unit's forget bias ``log(u)``, ``u`` drawn uniformly in ``[1, T - 1]``, and its
input bias the opposite, so that units keep their state over a range of time
scales up to the sequences' length. This screen sets ``T`` to the longest
training sequence the LSTM reads (after a patcher, its number of patches) and
asks whether the long sets that learn slowly (ACSF1's runs end at 200 epochs
with the training loss still between 0.4 and 0.9 and 86% of the training set
right) learn faster so, and what it costs elsewhere.

It changes sklstm inside its own process only: ``LSTMNetwork.initialize`` is
wrapped, and each estimator's ``fit`` records the length first. Then either the
generated tasks of ``bench_projection_synthetic.py`` (``--synthetic``, with its
``--tasks``; the Keras start against the chrono start, seeds 0-4, no
projection) or ``bench_real_data.py`` with the remaining arguments::

    cd /tmp
    OMP_NUM_THREADS=1 PYTHONPATH=/work/main python \\
        /work/main/benchmarks/bench_chrono_init.py --synthetic --tasks 0,1
    OMP_NUM_THREADS=1 PYTHONPATH=/work/main /work/benchvenv/bin/python \\
        /work/main/benchmarks/bench_chrono_init.py --datasets ACSF1 \\
        --variants patched --seeds 0,1,2 --no-torch --no-minirocket \\
        --results-dir /tmp/rd --output chrono
"""

import sys
import warnings
from pathlib import Path

import numpy as np

from sklstm import LSTMClassifier, LSTMRegressor, _network

sys.path.insert(0, str(Path(__file__).resolve().parent))

#: The longest sequence of the fit under way (None: the Keras start).
_LENGTH = {"T": None}
_KERAS_START = _network.LSTMNetwork.initialize


def _chrono_start(self, random_state):
    flat = _KERAS_START(self, random_state)
    length = _LENGTH["T"]
    if length is None or self.cell != "lstm":
        return flat
    views = self.unpack(flat)
    for layer in range(self.n_layers):
        for direction in range(self.n_directions):
            _, recurrent, bias = self._cell_weights(views, layer, direction)
            units = recurrent.shape[0]
            if length - 1 > 1:
                forget = np.log(random_state.uniform(1, length - 1, size=units))
            else:  # one or two steps: no memory to stretch
                forget = np.zeros(units)
            bias[units : 2 * units] = forget
            bias[:units] = -forget
    return flat


def _recording_length(fit):
    def recorded(self, X, y, **params):
        if isinstance(X, np.ndarray) and X.ndim == 3:
            _LENGTH["T"] = X.shape[1]
        else:
            _LENGTH["T"] = max(len(sequence) for sequence in X)
        return fit(self, X, y, **params)

    return recorded


def install(chrono=True):
    """Start every LSTM of this process with the chrono start, or Keras'."""
    _network.LSTMNetwork.initialize = _chrono_start if chrono else _KERAS_START


def synthetic(argv):
    import bench_projection_synthetic as tasks

    warnings.simplefilter("ignore")
    chosen = range(len(tasks.TASKS))
    if argv[:1] == ["--tasks"]:
        chosen = [int(number) for number in argv[1].split(",")]
    print("| task | Keras (forget bias 1) | chrono |\n|---|---|---|")
    for number, (name, (task, params)) in enumerate(tasks.TASKS.items()):
        if number not in chosen:
            continue
        cells = []
        for chrono in (False, True):
            install(chrono)
            scores = [task(s, input_projection=None, **params) for s in tasks.SEEDS]
            cells.append(f"{np.mean(scores):.3f} ± {np.std(scores, ddof=1):.3f}")
        print(f"| {name} | {cells[0]} | {cells[1]} |", flush=True)


def main(argv):
    for estimator in (LSTMClassifier, LSTMRegressor):
        estimator.fit = _recording_length(estimator.fit)
    if argv[:1] == ["--synthetic"]:
        synthetic(argv[1:])
        return
    install()
    import bench_real_data

    bench_real_data.main(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
