"""NumPy reference implementations that the tests hold the kernels to."""

import numpy as np

from sklstm._heads import BinaryLogistic, Logistic, Softmax, SquaredError


def sigmoid(x):
    return 0.5 * (1 + np.tanh(0.5 * x))


def reference_lstm(X, kernel, recurrent_kernel, bias, recurrent_mask=None):
    """Textbook LSTM over batch-major X (B, T, D): all hidden states (B, T, H).

    With a ``recurrent_mask`` (B, H), the recurrent kernel sees ``h_{t-1} * mask``
    (Keras' recurrent dropout).
    """
    n_samples, n_steps, _ = X.shape
    units = recurrent_kernel.shape[0]
    mask = 1 if recurrent_mask is None else recurrent_mask
    h = np.zeros((n_samples, units))
    c = np.zeros((n_samples, units))
    out = np.empty((n_samples, n_steps, units))
    for t in range(n_steps):
        z = X[:, t] @ kernel + (h * mask) @ recurrent_kernel + bias
        i, f, g, o = np.split(z, 4, axis=1)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        out[:, t] = h
    return out


def reference_gru(X, kernel, recurrent_kernel, bias, recurrent_mask=None):
    """Keras' GRU (reset_after=True) over batch-major X (B, T, D): states (B, T, H).

    ``bias`` is (2, 3H): the input bias, then the recurrent one. With a
    ``recurrent_mask`` (B, H), only the recurrent kernel sees ``h_{t-1} * mask``;
    the update ``z * h_{t-1}`` keeps the unmasked state, as in Keras.
    """
    n_samples, n_steps, _ = X.shape
    units = recurrent_kernel.shape[0]
    mask = 1 if recurrent_mask is None else recurrent_mask
    h = np.zeros((n_samples, units))
    out = np.empty((n_samples, n_steps, units))
    for t in range(n_steps):
        x_z, x_r, x_h = np.split(X[:, t] @ kernel + bias[0], 3, axis=1)
        u_z, u_r, u_h = np.split((h * mask) @ recurrent_kernel + bias[1], 3, axis=1)
        z = sigmoid(x_z + u_z)
        r = sigmoid(x_r + u_r)
        h = z * h + (1 - z) * np.tanh(x_h + r * u_h)
        out[:, t] = h
    return out


def reference_torch_gru(X, weight_ih, weight_hh, bias_ih, bias_hh):
    """PyTorch's ``nn.GRU`` equations over batch-major X (B, T, D): states (B, T, H).

    Gates in PyTorch's order r, z, n, weights ``(3H, D)`` and ``(3H, H)``:
    r = σ(W_ir x + b_ir + W_hr h + b_hr), z likewise, n = tanh(W_in x + b_in +
    r * (W_hn h + b_hn)), h' = (1 - z) * n + z * h.
    """
    n_samples, n_steps, _ = X.shape
    units = weight_hh.shape[1]
    h = np.zeros((n_samples, units))
    out = np.empty((n_samples, n_steps, units))
    for t in range(n_steps):
        i_r, i_z, i_n = np.split(X[:, t] @ weight_ih.T + bias_ih, 3, axis=1)
        h_r, h_z, h_n = np.split(h @ weight_hh.T + bias_hh, 3, axis=1)
        r = sigmoid(i_r + h_r)
        z = sigmoid(i_z + h_z)
        h = (1 - z) * np.tanh(i_n + r * h_n) + z * h
        out[:, t] = h
    return out


def _swap_first_gates(a, axis):
    """Keras' z, r, h blocks along ``axis`` <-> PyTorch's r, z, n (an involution)."""
    z, r, n = np.split(a, 3, axis=axis)
    return np.concatenate([r, z, n], axis=axis)


def gru_weights_to_torch(kernel, recurrent_kernel, bias):
    """One Keras GRU layer's weights as ``nn.GRU``'s (weight_ih, weight_hh,
    bias_ih, bias_hh)."""
    return (
        _swap_first_gates(kernel, 1).T,
        _swap_first_gates(recurrent_kernel, 1).T,
        _swap_first_gates(bias[0], 0),
        _swap_first_gates(bias[1], 0),
    )


def gru_weights_from_torch(weight_ih, weight_hh, bias_ih, bias_hh):
    """``nn.GRU``'s weights of one layer as Keras' (kernel, recurrent kernel, bias)."""
    return (
        _swap_first_gates(weight_ih.T, 1),
        _swap_first_gates(weight_hh.T, 1),
        np.stack([_swap_first_gates(bias_ih, 0), _swap_first_gates(bias_hh, 0)]),
    )


def reference_network(
    weights,
    X,
    lengths,
    head,
    bidirectional=False,
    return_sequences=False,
    cell="lstm",
):
    """Stacked LSTM (or GRU) + dense head on sequences of the given lengths (padded X).

    Bidirectional layers run a second layer on the sequence reversed and concatenate
    its outputs, put back in time order; the head reads the forward output at the
    last step and the backward one at the first (its final state). With
    ``return_sequences``, the head reads the top layer's output at every step,
    as Keras' ``LSTM(return_sequences=True)`` + ``Dense``, and the result is a
    list of ``(length, n_outputs)`` arrays.
    """
    layer_of = {"lstm": reference_lstm, "gru": reference_gru}[cell]
    directions = 2 if bidirectional else 1
    n_layers = (len(weights) - 2) // (3 * directions)
    outputs = []
    for x, length in zip(X, lengths):
        layer_input = x[None, :length]
        for layer in range(n_layers):
            start = 3 * directions * layer
            forward = layer_of(layer_input, *weights[start : start + 3])
            if not bidirectional:
                layer_input = forward
                continue
            backward = layer_of(layer_input[:, ::-1], *weights[start + 3 : start + 6])[
                :, ::-1
            ]
            layer_input = np.concatenate([forward, backward], axis=2)
        top = layer_input[0]
        if return_sequences:
            outputs.append(_activate(head, top @ weights[-2] + weights[-1]))
            continue
        units = top.shape[1] // directions
        head_input = top[-1, :units]
        if bidirectional:
            head_input = np.concatenate([head_input, top[0, units:]])
        outputs.append(head_input @ weights[-2] + weights[-1])
    return outputs if return_sequences else _activate(head, np.array(outputs))


#: The heads the tests name, as the network takes them.
HEADS_BY_NAME = {
    "softmax": Softmax(),
    "logistic": Logistic(),
    "identity": SquaredError(),
}


def as_head(head):
    """A head object for a head's name (a head object passes through)."""
    return HEADS_BY_NAME[head] if isinstance(head, str) else head


def _activate(head, logits):
    if not isinstance(head, str):  # a head object: its reference by its kind
        head = {
            Softmax: "softmax",
            Logistic: "logistic",
            BinaryLogistic: "logistic",
        }.get(type(head), "identity")
    if head == "softmax":
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    if head == "logistic":
        return sigmoid(logits)
    return logits


def packed_batch(X, lengths):
    """Time-major copy of X, sorted by decreasing length, with its packing."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    lengths = np.asarray(lengths)[order]
    X_tm = np.ascontiguousarray(X[order].transpose(1, 0, 2))
    batch_sizes = np.array(
        [(lengths > t).sum() for t in range(X.shape[1])], dtype=np.intc
    )
    return X_tm, batch_sizes, lengths - 1, order
