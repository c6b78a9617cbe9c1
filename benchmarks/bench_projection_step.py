"""How far the input projection moves the first kernel: a screen (issue 32).

``input_projection`` trains the first layer's input kernel as a product
``K = E @ W``. Adam moves each weight of ``E`` and ``W`` by about the learning
rate a step, so ``K`` moves further than a plain kernel does, the more the
wider the product. This screen scales the product, ``K = c * E @ W`` (the bias's
share ``c * b @ W`` too), with ``E``, ``b`` and ``W`` started ``1 / sqrt(c)``
larger so that ``K`` starts where it does at ``c = 1``: Adam's steps then move
``K`` about ``sqrt(c)`` times as far. ``c = 1`` is the library's
``input_projection``; ``c < 1`` asks whether the gain on the long sets, and the
stall at a high learning rate, both come from that larger step.

It changes sklstm inside its own process only: the factored network's start,
fold and gradient are wrapped (the gradient of the scaled product is the
library's at ``(c E, c b, core)``, its ``E`` and ``b`` parts times ``c``; the
fitted model folds ``c E`` and ``c b``), and
fits take the Python route (the minibatch kernel knows only ``c = 1``). Then
either the gallery's LSTM-or-GRU task at ``learning_rate_init=0.005``
(``--example``) or ``bench_real_data.py`` with the remaining arguments::

    cd /tmp
    OMP_NUM_THREADS=1 PYTHONPATH=/work/main python \\
        /work/main/benchmarks/bench_projection_step.py 0.1 --example
    OMP_NUM_THREADS=1 PYTHONPATH=/work/main /work/benchvenv/bin/python \\
        /work/main/benchmarks/bench_projection_step.py 0.1 --datasets ACSF1 \\
        --variants patched --seeds 0,1,2 --no-torch --no-minirocket \\
        --params '{"input_projection": 128}' --results-dir /tmp/rd --output c0.1
"""

import sys
from pathlib import Path

import numpy as np

from sklstm import _projection, _training

sys.path.insert(0, str(Path(__file__).resolve().parent))


def install(c):
    """Scale the product by ``c`` in every ProjectedNetwork of this process."""
    network_class = _projection.ProjectedNetwork
    initialize, predicting, folded, l2_penalty = (
        network_class.initialize,
        network_class.predicting,
        network_class._folded,
        network_class.l2_penalty,
    )

    def scaled(self, params):
        E, b, core = self.split(params)
        return np.concatenate([c * E.ravel(), c * b, core])

    def _initialize(self, random_state):
        flat = initialize(self, random_state)
        E, b, core = self.split(flat)
        for factor in (E, b, self.core.unpack(core)[0]):
            factor /= np.sqrt(c)
        return flat

    def _folded(self, params, arguments, alpha, grads, workspace, weights):
        loss = folded(self, scaled(self, params), arguments, alpha, grads, workspace,
                      weights)  # fmt: skip
        d_E, d_b, _ = self.split(grads)
        d_E *= c
        d_b *= c
        return loss

    network_class.initialize = _initialize
    network_class.predicting = lambda self, p: predicting(self, scaled(self, p))
    network_class.l2_penalty = lambda self, p: l2_penalty(self, scaled(self, p))
    network_class._folded = _folded
    _training.Minibatches._kernel_arguments = lambda self: None


def example(c):
    """The LSTM-or-GRU example's LSTM at learning_rate_init=0.005, seeds 0-1.

    The example's task and settings as ``bench_projection_synthetic.py`` has them
    (which imports the tests' data helper: run ``--example`` where pytest is).
    """
    import warnings

    from bench_projection_synthetic import TASKS

    warnings.simplefilter("ignore")
    task, params = TASKS["event in noise, 2 channels, the example's settings"]
    for seed in (0, 1):
        score = task(seed, input_projection="auto", **params)
        print(f"c {c} seed {seed}: accuracy {score:.3f}")


def main(argv):
    c = float(argv[0])
    install(c)
    if argv[1:] == ["--example"]:
        example(c)
        return
    import bench_real_data

    bench_real_data.main(argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
