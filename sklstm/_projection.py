"""A linear layer in front of the first recurrent layer, trained as a product.

With ``input_projection=M``, the first recurrent layer reads ``X @ E + b``
(``E`` of shape (n_features, M), ``b`` of shape (M,)) instead of ``X``: Keras'
``Dense(M)`` before ``LSTM``, PatchTST's linear patch embedding. ``E`` and ``b``
train with every other weight; after training they fold into the first layer's
input kernel and bias (``E @ W`` and ``bias + b @ W``), exactly, so that the
fitted model is a plain network of the usual shapes and every prediction route,
ONNX, Keras' and PyTorch's weights and streams see nothing of it. What changes is
how the input kernel learns: as a product of two matrices.

``alpha`` penalises the product ``E @ W`` where it would penalise ``W``, so the
objective is the plain network's; only the optimisation differs.

Training folds too: nothing nonlinear lies between ``E`` and ``W``, so a
minibatch runs the plain network on the folded weights and takes the gradients
of ``E``, ``b`` and ``W`` from the folded kernel's and bias' by the chain rule,
at the cost of products of the weights' sizes (the minibatch kernel does the
same, in ``_kernels._epoch``). Only dropout, which masks the projected input
between ``E`` and ``W`` (Keras' ``LSTM(dropout)`` after ``Dense``), runs the
projection explicitly: ``X @ E + b`` into the first layer, whose input
gradient then gives ``E``'s and ``b``'s.
"""

import numpy as np

from sklstm._kernels._optim import add_l2_gradient
from sklstm._network import (
    Workspace,
    _glorot_uniform,
    _orthogonal,
    aligned_params,
    merged_runs,
    network_for,
)


class ProjectedNetwork:
    """``plain``'s network with a trained linear layer of width ``width`` in front.

    The training form of a network whose first input kernel is ``E @ W``; its
    flat parameters are ``E`` (n_features, width), ``b`` (width,), then those of
    ``core`` (``plain``'s layers and head, the first layer reading ``width``
    features), the head last as in every network. :meth:`predicting` folds
    them into ``plain``'s parameters.

    Parameters
    ----------
    plain : LSTMNetwork
        The network predictions run.
    width : int
        The projection's width.
    """

    def __init__(self, plain, width):
        self.plain = plain
        self.projection = int(width)
        n_features, *rest = plain.structure
        self.core = network_for(self.projection, *rest)
        core = self.core
        for name in (
            "dtype",
            "head",
            "n_outputs",
            "return_sequences",
            "cell",
            "_cell",
            "hidden_layer_sizes",
            "n_directions",
            "_units",
            "layer_inputs",
        ):
            setattr(self, name, getattr(core, name))
        self.n_features = plain.n_features
        self.structure = plain.structure
        self.n_embedding = (self.n_features + 1) * self.projection
        self.n_params = self.n_embedding + core.n_params
        # L2 runs: the core's, shifted, without the first layer's input
        # kernels (each direction's), whose product with E is penalised instead.
        first_kernels = {3 * direction for direction in range(self.n_directions)}
        self._l2_runs = merged_runs(
            core.offsets,
            [i for i in core._regularized_indices() if i not in first_kernels],
            shift=self.n_embedding,
        )

    def split(self, flat):
        """Views ``E``, ``b`` and the core's flat parameters of ``flat``."""
        P, M = self.n_features, self.projection
        return (
            flat[: P * M].reshape(P, M),
            flat[P * M : self.n_embedding],
            flat[self.n_embedding :],
        )

    def unpack(self, flat):
        """Views ``E``, ``b``, then the core's in Keras' get_weights() order."""
        E, b, core = self.split(flat)
        return [E, b] + self.core.unpack(core)

    def _first_kernels(self, core_views):
        """The first layer's input kernel of each direction."""
        return [
            self.core._cell_weights(core_views, 0, direction)[0]
            for direction in range(self.n_directions)
        ]

    def initialize(self, random_state):
        """New parameters: ``E`` and ``b`` as PyTorch's ``nn.Linear`` starts
        (uniform within ``1 / sqrt(n_features)``), the core as Keras starts."""
        flat = aligned_params(np.zeros(self.n_params, dtype=self.dtype))
        E, b, core = self.split(flat)
        bound = 1 / np.sqrt(self.n_features)
        E[...] = random_state.uniform(-bound, bound, E.shape)
        b[...] = random_state.uniform(-bound, bound, b.shape)
        core[...] = self.core.initialize(random_state)
        return flat

    def fold(self, params, out=None):
        """``plain``'s parameters of the same function: ``E`` and ``b`` folded
        into each direction's first input kernel and bias (in ``out`` if
        given)."""
        E, b, core = self.split(params)
        folded = (
            aligned_params(np.zeros(self.plain.n_params, dtype=self.dtype))
            if out is None
            else out
        )
        folded[self.plain.offsets[3 * self.n_directions] :] = core[
            self.core.offsets[3 * self.n_directions] :
        ]
        plain_views, core_views = self.plain.unpack(folded), self.core.unpack(core)
        for direction in range(self.n_directions):
            kernel, recurrent, bias = self.plain._cell_weights(
                plain_views, 0, direction
            )
            W, core_recurrent, core_bias = self.core._cell_weights(
                core_views, 0, direction
            )
            np.matmul(E, W, out=kernel)
            recurrent[...] = core_recurrent
            bias[...] = core_bias
            # The GRU's bias is (input, recurrent) rows: b feeds the input's.
            (bias if bias.ndim == 1 else bias[0])[...] += b @ W
        return folded

    def predicting(self, params):
        """``(plain, folded params)``: what predictions run."""
        return self.plain, self.fold(params)

    def kernel_loss(self):
        return self.core.kernel_loss()

    def workspace(self, n_steps, batch, dropout=False, n_threads=1):
        """The plain network's buffers; with ``dropout``, those of the
        explicit projection (:class:`ProjectedWorkspace`)."""
        if dropout:
            return ProjectedWorkspace(self, n_steps, batch, dropout, n_threads)
        workspace = self.plain.workspace(n_steps, batch, dropout, n_threads)
        # The folded weights and their gradient, reused every minibatch.
        workspace.folded = aligned_params(np.zeros(self.plain.n_params, self.dtype))
        workspace.d_folded = np.empty_like(workspace.folded)
        return workspace

    def mean_loss(self, logits, Y, sample_weight=None):
        return self.core.mean_loss(logits, Y, sample_weight)

    def activate(self, logits, log=False):
        return self.core.activate(logits, log)

    def l2_penalty(self, params):
        """The squared norm of what L2 penalises (float64): the kernels, with
        ``E @ W`` in place of each first input kernel ``W``."""
        return self.plain.l2_penalty(self.fold(params))

    def _project(self, params, X_tm, out):
        E, b, _ = self.split(params)
        flat_out = out.reshape(-1, self.projection)
        np.matmul(X_tm.reshape(-1, self.n_features), E, out=flat_out)
        flat_out += b
        return out

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
        """:meth:`LSTMNetwork.loss_and_gradient` of the projected network.

        On the folded weights, or with a workspace made with ``dropout=True``
        on the explicit projection, where ``masks`` drop the projected input
        (Keras' ``LSTM(dropout)`` after a ``Dense`` layer).
        """
        if total_weight is None:
            total_weight = (
                X_tm.shape[1] if sample_weight is None else sample_weight.sum()
            )
        arguments = (X_tm, batch_sizes, last_step, Y)
        weights = (sample_weight, total_weight, masks)
        if isinstance(workspace, ProjectedWorkspace):
            return self._explicit(params, arguments, alpha, grads, workspace, weights)
        if masks is not None:
            raise ValueError("dropout masks need a workspace made with dropout=True")
        return self._folded(params, arguments, alpha, grads, workspace, weights)

    def _folded(self, params, arguments, alpha, grads, workspace, weights):
        """The loss and gradient through the plain network on folded weights."""
        plain = self.plain
        E, b, core = self.split(params)
        d_E, d_b, d_core = self.split(grads)
        folded = self.fold(params, out=workspace.folded)
        d_folded = workspace.d_folded
        sample_weight, total_weight, _ = weights
        loss = plain.loss_and_gradient(
            folded,
            *arguments,
            0.0,  # the L2 term is this network's (below)
            d_folded,
            workspace,
            sample_weight,
            total_weight,
        )
        # Everything after the first layer is the same in both layouts.
        first_end = 3 * self.n_directions
        d_core[self.core.offsets[first_end] :] = d_folded[plain.offsets[first_end] :]
        plain_views, d_plain = plain.unpack(folded), plain.unpack(d_folded)
        d_core_views = self.core.unpack(d_core)
        core_views = self.core.unpack(core)
        penalty = 0.0
        scale = alpha / total_weight
        d_E[...] = 0
        d_b[...] = 0
        for direction in range(self.n_directions):
            kernel = plain._cell_weights(plain_views, 0, direction)[0]
            d_kernel, d_recurrent, d_bias = plain._cell_weights(d_plain, 0, direction)
            W = self.core._cell_weights(core_views, 0, direction)[0]
            d_W, d_core_recurrent, d_core_bias = self.core._cell_weights(
                d_core_views, 0, direction
            )
            if alpha:
                penalty += float(np.dot(kernel.ravel(), kernel.ravel()))
                d_kernel += scale * kernel
            # The folded kernel is E @ W and the folded input bias
            # bias + b @ W (the GRU's bias is (input, recurrent) rows).
            d_input_bias = d_bias if d_bias.ndim == 1 else d_bias[0]
            np.matmul(E.T, d_kernel, out=d_W)
            d_W += np.outer(b, d_input_bias)
            d_E += d_kernel @ W.T
            d_b += d_input_bias @ W.T
            d_core_recurrent[...] = d_recurrent
            d_core_bias[...] = d_bias
        if alpha:
            penalty += add_l2_gradient(params, grads, self._l2_runs, scale)
            loss += 0.5 * alpha * penalty / total_weight
        return float(loss)

    def _explicit(self, params, arguments, alpha, grads, workspace, weights):
        """The loss and gradient with the projection run on the input."""
        X_tm = arguments[0]
        E, _, core = self.split(params)
        d_E, d_b, d_core = self.split(grads)
        sample_weight, total_weight, masks = weights
        if masks is None:
            # Layer by layer (the stack kernels do not give the first
            # layer's input gradient), nothing masked.
            masks = [[(None, None)] * self.n_directions] * len(self._units)
        projected = self._project(params, X_tm, workspace.projected)
        loss = self.core.loss_and_gradient(
            core,
            projected,
            *arguments[1:],
            0.0,  # the L2 term is this network's (below)
            d_core,
            workspace,
            sample_weight,
            total_weight,
            masks,
        )
        # Rows past a sequence's end are zeros in both X_tm and d_projected.
        d_projected = workspace.d_first_input.reshape(-1, self.projection)
        np.matmul(X_tm.reshape(-1, self.n_features).T, d_projected, out=d_E)
        np.sum(d_projected, axis=0, out=d_b)
        if alpha:
            scale = alpha / total_weight
            penalty = add_l2_gradient(params, grads, self._l2_runs, scale)
            core_views, d_core_views = self.core.unpack(core), self.core.unpack(d_core)
            for W, d_W in zip(
                self._first_kernels(core_views), self._first_kernels(d_core_views)
            ):
                product = E @ W
                penalty += float(np.dot(product.ravel(), product.ravel()))
                d_E += scale * (product @ W.T)
                d_W += scale * (E.T @ product)
            loss += 0.5 * alpha * penalty / total_weight
        return float(loss)


class ProjectedWorkspace(Workspace):
    """The core network's buffers, with an input buffer of the readings' width.

    :meth:`prepare` returns that buffer (what the data is packed into); the
    core's own input buffer holds the projected input (``projected``), and
    ``d_first_input`` its gradient, which the core's backward writes.
    """

    def __init__(self, network, n_steps, batch, dropout=False, n_threads=1):
        self._readings_width = network.n_features
        self._readings = np.empty(0, dtype=network.dtype)
        self._d_projected = np.empty(0, dtype=network.dtype)
        super().__init__(network.core, n_steps, batch, dropout, n_threads)

    def prepare(self, n_steps, batch):
        super().prepare(n_steps, batch)
        size = n_steps * batch
        width = self.network.n_features
        self.projected = self._view("input", n_steps, batch, width)
        if self._readings.size < size * self._readings_width:
            self._readings = np.empty(
                self.capacity * self._readings_width, dtype=self.network.dtype
            )
            self._d_projected = np.empty(
                self.capacity * width, dtype=self.network.dtype
            )
        self.d_first_input = self._d_projected[: size * width].reshape(
            n_steps, batch, width
        )
        self.X = self._readings[: size * self._readings_width].reshape(
            n_steps, batch, self._readings_width
        )
        return self.X


def factored(network, params, random_state):
    """``network``'s (a :class:`ProjectedNetwork`) parameters that fold into the
    plain ``params`` exactly: factors of a first kernel set from outside.

    ``E`` gets orthonormal rows ``Q`` and ``b`` zeros; each first kernel ``K``
    becomes ``Q.T @ K + (I - Q.T @ Q) @ R``, with ``R`` random as Keras starts a
    kernel: ``E @ W = K``, and ``W``'s part that ``E`` does not see can still
    learn. Needs a projection at least as wide as the input (a narrower ``E @
    W`` has a lower rank than most kernels).
    """
    P, M = network.n_features, network.projection
    if M < P:
        raise ValueError(
            f"input_projection={M} is narrower than the {P} features: weights set "
            "with set_weights cannot be factored through it to train on; refit "
            "with warm_start=False, or set an input_projection of at least "
            f"{P}."
        )
    flat = aligned_params(np.zeros(network.n_params, dtype=network.dtype))
    E, b, core = network.split(flat)
    Q = _orthogonal((P, M), random_state)
    E[...] = Q
    plain = network.plain
    core[network.core.offsets[3 * network.n_directions] :] = params[
        plain.offsets[3 * network.n_directions] :
    ]
    plain_views, core_views = plain.unpack(params), network.core.unpack(core)
    complement = np.eye(M) - Q.T @ Q
    for direction in range(network.n_directions):
        kernel, recurrent, bias = plain._cell_weights(plain_views, 0, direction)
        W, core_recurrent, core_bias = network.core._cell_weights(
            core_views, 0, direction
        )
        W[...] = Q.T @ kernel + complement @ _glorot_uniform(W.shape, random_state)
        core_recurrent[...] = recurrent
        core_bias[...] = bias
    return flat
