"""The first layer's input kernel trained as a product of two matrices (issue 32).

A measurement prototype, not the library: it changes sklstm inside this process
only (the modules' functions are replaced before ``bench_real_data.main`` runs),
so that the whole real-data suite can say whether PatchTST's linear patch
embedding (``nn.Linear(patch width, d)`` per step before the recurrence) is
worth building into the estimators. ``bench_patch_embedding.py`` found, in
PyTorch, that a linear embedding (no activation, no added capacity) helps on
the long sets as much as a non-linear one.

Each fit of a classifier or regressor starts a network whose first layer reads
``X @ E + b`` instead of ``X``: ``E`` (n_features, width) and ``b`` (width,) are
trained with everything else by the same optimizer, through the Python route of
the training loop (:meth:`LSTMNetwork.loss_and_gradient` a minibatch at a time,
layer by layer, with the gradient of the first layer's input; not the
minibatch kernel, so fits take about twice as long). After ``fit``, ``E`` and
``b`` are folded into the first layer's input kernel and bias (``E @ W`` and
``bias + b @ W``, exact), so prediction runs the fitted LSTM of the usual shape.

Options (the others go to ``bench_real_data.py``, or with ``--tasks`` to
``bench_real_tasks.py``, whose per-step labelling needs ``--no-per-step``: the
prototype has one direction only):

- ``--width``: the embedding's width (default 64);
- ``--init``: ``torch`` (``nn.Linear``'s default, uniform within
  ``1/sqrt(n_features)``, bias too), ``torch_weights`` (its weights, a zero
  bias), ``glorot`` (Keras' ``Dense``: Glorot-uniform, zero bias) or
  ``orthogonal`` (orthonormal rows, zero bias: the product starts at the scale
  of the unfactored kernel); default ``torch``;
- ``--penalty``: what ``alpha``'s L2 term penalises: ``product`` (the effective
  kernel ``E @ W``, so the objective is exactly the unfactored network's and
  only the optimisation differs), ``factors`` (``E`` and ``W`` each, as Keras'
  ``kernel_regularizer`` on both layers would) or ``none`` (``W`` only);
  default ``product``.

Run from ``/tmp`` with the benchmark environment, the repository on the path::

    cd /tmp
    OMP_NUM_THREADS=1 PYTHONPATH=/work/main /work/benchvenv/bin/python \\
        /work/main/benchmarks/bench_factored_input.py --init torch \\
        --penalty product --datasets ArrowHead,ACSF1 --variants patched \\
        --seeds 0,1,2 --no-torch --no-minirocket --threads 1 \\
        --results-dir /tmp/rd --output factored

The options are recorded in the results file's ``meta["factored_input"]``.
``--self-check`` checks the gradient against central differences and the folded
network against the factored one, on a small network, and stops.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

import sklstm._lstm as estimators
from sklstm._network import (
    LSTMNetwork,
    Workspace,
    _glorot_uniform,
    _orthogonal,
    aligned_params,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_real_data  # noqa: E402
import bench_real_tasks  # noqa: E402

OPTIONS = {"width": 64, "init": "torch", "penalty": "product"}


class _FirstInputGradient:
    """Make a network run layer by layer and write its first layer's dL/dx.

    ``LSTMNetwork`` computes the input gradient of every layer but the first
    (nothing needs it there); the factored network does.
    """

    whole_stack = LSTMNetwork._whole_stack
    backward_layers = LSTMNetwork._backward_layers

    @staticmethod
    def install():
        def _whole_stack(self, masks):
            if getattr(self, "_layer_by_layer", False):
                return False
            return _FirstInputGradient.whole_stack(self, masks)

        def _backward_layers(self, views, grad_views, batch_sizes, workspace, inputs):
            d_first = getattr(workspace, "d_first_input", None)
            if d_first is None:
                return _FirstInputGradient.backward_layers(
                    self, views, grad_views, batch_sizes, workspace, inputs
                )
            # Layer 0's kernel call writes its input's gradient where the
            # workspace's empty placeholder normally says "not wanted".
            placeholder, workspace.no_d_input = workspace.no_d_input, d_first
            try:
                return _FirstInputGradient.backward_layers(
                    self, views, grad_views, batch_sizes, workspace, inputs
                )
            finally:
                workspace.no_d_input = placeholder

        LSTMNetwork._whole_stack = _whole_stack
        LSTMNetwork._backward_layers = _backward_layers


class _FactoredWorkspace(Workspace):
    """The core network's buffers, with an input buffer of the raw width and
    one for the gradient of the first layer's (projected) input."""

    def __init__(self, network, n_steps, batch, dropout=False, n_threads=1):
        self._raw_width = network.n_features
        self._raw_input = np.empty(0, dtype=network.dtype)
        self._d_projected = np.empty(0, dtype=network.dtype)
        self.d_first_input = None
        super().__init__(network.core, n_steps, batch, dropout, n_threads)

    def prepare(self, n_steps, batch):
        super().prepare(n_steps, batch)
        size = n_steps * batch * self._raw_width
        if self._raw_input.size < size:
            self._raw_input = np.empty(size, dtype=self.network.dtype)
        self.X = self._raw_input[:size].reshape(n_steps, batch, self._raw_width)
        return self.X

    def d_projected(self, n_steps, batch):
        """A (n_steps, batch, width) buffer for dL/d(X @ E + b): layer 0's
        backward writes every row of it (zeros past a sequence's end)."""
        width = self.network.n_features
        size = n_steps * batch * width
        if self._d_projected.size < size:
            self._d_projected = np.empty(size, dtype=self.network.dtype)
        return self._d_projected[:size].reshape(n_steps, batch, width)


class FactoredNetwork:
    """``plain``'s network with its first input kernel as ``E @ W`` (training only).

    Flat parameters: ``E`` (n_features, width), ``b`` (width,), then the core
    network's (``plain`` with ``width`` input features), so that the head stays
    last, where the regressor's target scaling looks for it. One direction, no
    dropout (the recommended pipeline's network).
    """

    def __init__(self, plain, width, init, penalty):
        if plain.n_directions != 1:
            raise ValueError("the factored input is prototyped for one direction")
        self.plain, self.init, self.penalty = plain, init, penalty
        self.P, self.M = plain.n_features, int(width)
        self.core = LSTMNetwork(self.M, *plain.structure[1:])
        self.core._layer_by_layer = True
        self.n_embed = self.P * self.M + self.M
        self.n_params = self.n_embed + self.core.n_params
        for name in (
            "dtype", "head", "n_outputs", "return_sequences", "cell", "_cell",
            "hidden_layer_sizes", "n_directions", "_units", "structure", "n_layers",
        ):  # fmt: skip
            setattr(self, name, getattr(plain, name))
        self.n_features = self.P
        self.layer_inputs = self.core.layer_inputs
        self.shapes = ((self.P, self.M), (self.M,)) + self.core.shapes
        self.offsets = (0, self.P * self.M) + tuple(
            self.n_embed + offset for offset in self.core.offsets
        )
        # The core's L2 runs, without its first kernel when the product is
        # penalised instead (a run starts there: kernels are first).
        core_runs = self.core._l2_runs.copy()
        if penalty == "product":
            first_end = self.core.offsets[1]
            assert core_runs[0, 0] == 0
            core_runs[0, 0] = first_end
            core_runs = core_runs[core_runs[:, 1] > core_runs[:, 0]]
        # The core is this network's own (not network_for's shared one).
        self.core._l2_runs = core_runs
        own = [[0, self.P * self.M]] if penalty == "factors" else []
        self._l2_runs = np.array(
            own + (core_runs + self.n_embed).tolist(), dtype=np.intp
        ).reshape(-1, 2)

    def split(self, flat):
        """Views ``E``, ``b`` and the core's flat parameters."""
        P, M = self.P, self.M
        return (
            flat[: P * M].reshape(P, M),
            flat[P * M : self.n_embed],
            flat[self.n_embed :],
        )

    def unpack(self, flat):
        E, b, core = self.split(flat)
        return [E, b] + self.core.unpack(core)

    def initialize(self, random_state):
        flat = aligned_params(np.zeros(self.n_params, dtype=self.dtype))
        E, b, core = self.split(flat)
        if self.init in ("torch", "torch_weights"):
            bound = 1 / np.sqrt(self.P)
            E[...] = random_state.uniform(-bound, bound, E.shape)
            if self.init == "torch":
                b[...] = random_state.uniform(-bound, bound, b.shape)
        elif self.init == "orthogonal":
            E[...] = _orthogonal(E.shape, random_state)
        else:
            E[...] = _glorot_uniform(E.shape, random_state)
        core[...] = self.core.initialize(random_state)
        return flat

    def fold(self, params):
        """The same function as ``plain``'s parameters: ``E`` and ``b`` folded
        into the first layer's input kernel and bias."""
        E, b, core = self.split(params)
        folded = aligned_params(np.zeros(self.plain.n_params, dtype=self.dtype))
        folded_views, core_views = self.plain.unpack(folded), self.core.unpack(core)
        folded_views[0][...] = E @ core_views[0]
        for target, source in zip(folded_views[1:], core_views[1:]):
            target[...] = source
        # The GRU's bias is (input, recurrent) rows: b feeds the input's.
        input_bias = (
            folded_views[2] if folded_views[2].ndim == 1 else folded_views[2][0]
        )
        input_bias += b @ core_views[0]
        return folded

    def _embedded(self, params, X):
        E, b, _ = self.split(params)
        out = X.reshape(-1, self.P) @ E
        out += b
        return out.reshape(X.shape[:-1] + (self.M,))

    # What FittedModel and the training loop call, on the core.
    def dense_work_size(self, n_steps, batch):
        return self.core.dense_work_size(n_steps, batch)

    def dense_logits(self, params, X, work, n_threads=1, out=None):
        core = params[self.n_embed :]
        return self.core.dense_logits(
            core, self._embedded(params, X), work, n_threads, out
        )

    def sequence_outputs(self, params, X, softmax=False, take_log=False):
        embedded = np.ascontiguousarray(self._embedded(params, X))
        return self.core.sequence_outputs(
            params[self.n_embed :], embedded, softmax, take_log
        )

    def logits(self, params, X_tm, batch_sizes, last_step, workspace):
        embedded = self._embedded(params, X_tm)
        return self.core.logits(
            params[self.n_embed :], embedded, batch_sizes, last_step, workspace
        )

    def activate(self, logits, log=False):
        return self.core.activate(logits, log)

    def mean_loss(self, logits, Y, sample_weight=None):
        return self.core.mean_loss(logits, Y, sample_weight)

    def kernel_loss(self):
        return None  # the Python route: the minibatch kernel has no factors

    def workspace(self, n_steps, batch, dropout=False, n_threads=1):
        return _FactoredWorkspace(self, n_steps, batch, dropout, n_threads)

    def l2_penalty(self, params):
        total = LSTMNetwork.l2_penalty(self, params)  # over self._l2_runs
        if self.penalty == "product":
            E, _, core = self.split(params)
            W = E @ self.core.unpack(core)[0]
            total += float(np.dot(W.ravel(), W.ravel()))
        return total

    def loss_and_gradient(
        self,
        params,
        X_tm,
        batch_sizes,
        last_step,
        Y,
        alpha,
        grads,
        workspace,
        sample_weight=None,
        total_weight=None,
        masks=None,
    ):
        if masks is not None:
            # Layer 0's backward does not apply an input mask to its input's
            # gradient (nothing needed it): the prototype has no dropout.
            raise ValueError("the factored input is prototyped without dropout")
        E, b, core = self.split(params)
        d_E, d_b, d_core = self.split(grads)
        n_steps, batch, _ = X_tm.shape
        if total_weight is None:
            total_weight = batch if sample_weight is None else sample_weight.sum()
        d_first = workspace.d_projected(n_steps, batch)
        workspace.d_first_input = d_first
        try:
            loss = self.core.loss_and_gradient(
                core,
                self._embedded(params, X_tm),
                batch_sizes,
                last_step,
                Y,
                alpha,
                d_core,
                workspace,
                sample_weight,
                total_weight,
                masks,
            )
        finally:
            workspace.d_first_input = None
        rows = d_first.reshape(-1, self.M)
        np.matmul(X_tm.reshape(-1, self.P).T, rows, out=d_E)
        np.sum(rows, axis=0, out=d_b)
        if alpha and self.penalty != "none":
            scale = alpha / total_weight
            if self.penalty == "factors":
                d_E += scale * E
                loss += 0.5 * scale * float(np.dot(E.ravel(), E.ravel()))
            else:
                W = self.core.unpack(core)[0]
                product = E @ W
                loss += 0.5 * scale * float(np.dot(product.ravel(), product.ravel()))
                d_E += scale * (product @ W.T)
                self.core.unpack(d_core)[0][...] += scale * (E.T @ product)
        return loss


def install(width, init, penalty):
    """Replace the estimators' network preparation and storing in this process."""
    _FirstInputGradient.install()
    prepare, store = estimators._BaseLSTM._prepare, estimators._BaseLSTM._store

    def _prepare(self, training, layer_sizes, first_pass, early_stopping):
        network = prepare(self, training, layer_sizes, first_pass, early_stopping)
        if first_pass:
            network = FactoredNetwork(network, width, init, penalty)
            self._params = network.initialize(self._random_state)
        return network

    def _store(self, trained, network, first_pass, incremental):
        if isinstance(network, FactoredNetwork):
            self._params = network.fold(self._params)
            network = network.plain
        return store(self, trained, network, first_pass, incremental)

    estimators._BaseLSTM._prepare = _prepare
    estimators._BaseLSTM._store = _store


def _loss_and_gradient(network, workspace, data, Y, flat):
    """Loss and gradient of ``flat`` on all of ``data`` in one batch, ``alpha``
    0.3. Ragged sequences are packed longest first, ``Y`` in their order."""
    grads = aligned_params(np.zeros_like(flat))
    order = data.order_for_batches(np.arange(data.n_samples))
    X_tm, batch_sizes, last_step = data.pack(order, workspace)
    loss = network.loss_and_gradient(
        flat, X_tm, batch_sizes, last_step, Y[order], 0.3, grads, workspace
    )
    return loss, grads


def self_check():
    """The factored network's gradient against central differences, and the
    folded network's raw outputs against the factored one's (LSTM and GRU, two
    stacked layers, each penalty, sequences of equal and of varying lengths:
    past a sequence's end nothing may reach ``E`` or ``b``). Raises if either
    is off."""
    from sklstm import LSTMClassifier
    from sklstm._model import FittedModel
    from sklstm._sequences import DenseSequences, RaggedSequences

    _FirstInputGradient.install()
    rng = np.random.RandomState(0)
    X, y = rng.randn(12, 7, 5), rng.randint(0, 3, 12)
    lengths = rng.randint(2, 8, 12)
    readings = np.concatenate([x[:n] for x, n in zip(X, lengths)])
    datasets = {
        "equal lengths": DenseSequences(X),
        "varying lengths": RaggedSequences(readings, lengths),
    }
    Y = np.eye(3)[y]
    for cell in ("lstm", "gru"):
        model = LSTMClassifier(hidden_layer_sizes=(6, 5), max_iter=1, cell=cell)
        plain = model.fit(X, y)._network()
        for penalty in ("product", "factors", "none"):
            network = FactoredNetwork(plain, 4, "torch", penalty)
            params = network.initialize(np.random.RandomState(1))
            params += 0.1 * rng.randn(params.size)
            workspace = network.workspace(7, 12)
            for name, data in datasets.items():
                at = (network, workspace, data, Y)
                _, grads = _loss_and_gradient(*at, params)
                numeric = np.empty_like(params)
                for i in range(params.size):
                    step = np.zeros_like(params)
                    step[i] = 1e-6
                    numeric[i] = (
                        _loss_and_gradient(*at, aligned_params(params + step))[0]
                        - _loss_and_gradient(*at, aligned_params(params - step))[0]
                    ) / 2e-6
                gradient_error = np.abs(numeric - grads).max()
                fold_error = np.abs(
                    FittedModel(network, params).raw_outputs(data)
                    - FittedModel(plain, network.fold(params)).raw_outputs(data)
                ).max()
                print(
                    f"{cell} {penalty}, {name}: gradient {gradient_error:.1e}, "
                    f"folded outputs {fold_error:.1e}"
                )
                if gradient_error > 1e-7 or fold_error > 1e-12:
                    raise AssertionError(f"{cell} {penalty}, {name} is off")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=OPTIONS["width"])
    parser.add_argument(
        "--init",
        choices=("torch", "torch_weights", "glorot", "orthogonal"),
        default=OPTIONS["init"],
    )
    parser.add_argument(
        "--penalty",
        choices=("product", "factors", "none"),
        default=OPTIONS["penalty"],
    )
    parser.add_argument(
        "--tasks",
        action="store_true",
        help="run bench_real_tasks.py (forecasting) instead of bench_real_data.py",
    )
    parser.add_argument(
        "--self-check",
        action="store_true",
        help="check the gradient and the folding on a small network, then stop",
    )
    args, rest = parser.parse_known_args(argv)
    if args.self_check:
        self_check()
        return
    install(args.width, args.init, args.penalty)
    suite = bench_real_tasks if args.tasks else bench_real_data
    suite.main(rest)
    # Record the options beside the suite's own, and this script as the command.
    out = suite.parse_args(rest)
    path = out.results_dir / f"{out.output}.json"
    report = json.loads(path.read_text())
    options = {name: getattr(args, name) for name in ("width", "init", "penalty")}
    report["meta"]["factored_input"] = options
    report["meta"]["command"] = " ".join(
        ["bench_factored_input.py", *(argv if argv is not None else sys.argv[1:])]
    )
    path.write_text(json.dumps(report, indent=2) + "\n")
    path.with_suffix(".md").write_text(suite.markdown_report(report))


if __name__ == "__main__":
    main()
