"""ONNX export of sklstm's estimators, through skl2onnx.

Importing this module registers converters with skl2onnx for
:class:`~sklstm.LSTMClassifier`, :class:`~sklstm.LSTMRegressor`,
:class:`~sklstm.SequenceScaler`, :class:`~sklstm.SequenceImputer` and
:class:`~sklstm.SequencePatcher`, so that skl2onnx's ``to_onnx`` and
``convert_sklearn`` convert them, alone or in a Pipeline::

    import sklstm.onnx  # noqa: F401 (registers the converters)
    from skl2onnx import to_onnx

    onx = to_onnx(model, X[:1])

The graph runs ONNX's own ``LSTM`` (or ``GRU``) operator, one per layer, so
that runtimes use their optimised kernels. Its input ``X`` is ``(n_samples,
n_timesteps, n_features)`` with both the batch and the number of time steps
dynamic. For sequences of different lengths, convert with
:func:`sequence_types` ``(..., lengths=True)``, which adds a second input with
each sequence's length, and feed :func:`pad_sequences`' output: each sequence
then gets its own last state, the numbers ``predict`` gives on the list.

Requires ``skl2onnx``, ``onnx`` and ``onnxruntime`` (``pip install ".[onnx]"``
from sklstm's source folder, or ``pip install skl2onnx onnx onnxruntime``);
``import sklstm`` never does.
"""

import numpy as np

try:
    from onnx import TensorProto, helper
    from skl2onnx import update_registered_converter
    from skl2onnx.common.data_types import (
        DoubleTensorType,
        FloatTensorType,
        Int64TensorType,
        StringTensorType,
        guess_proto_type,
    )
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "sklstm.onnx needs skl2onnx and onnx (and onnxruntime to run the "
        'models): pip install ".[onnx]" from the folder sklstm was installed '
        "from, or pip install skl2onnx onnx onnxruntime."
    ) from error

from sklearn.utils.validation import check_is_fitted

from sklstm._kernels._layout import GATE_ORDER
from sklstm._lstm import LSTMClassifier, LSTMRegressor
from sklstm._validation import check_sequence_list
from sklstm.preprocessing import SequenceImputer, SequencePatcher, SequenceScaler

__all__ = ["pad_sequences", "sequence_types"]

# ONNX's LSTM takes its gate blocks in the order input, output, forget, cell;
# its GRU in Keras' own order (update, reset, candidate).
_ONNX_GATE_ORDER = {
    "lstm": ("input", "output", "forget", "cell"),
    "gru": ("update", "reset", "candidate"),
}
_ONNX_OPERATOR = {"lstm": "LSTM", "gru": "GRU"}
_INTEGER_TYPES = (
    TensorProto.INT64,
    TensorProto.INT32,
    TensorProto.INT16,
    TensorProto.INT8,
    TensorProto.UINT64,
    TensorProto.UINT32,
    TensorProto.UINT16,
    TensorProto.UINT8,
)


def sequence_types(n_features, dtype=np.float32, lengths=False):
    """skl2onnx ``initial_types`` for sequences, with dynamic batch and length.

    Parameters
    ----------
    n_features : int
        Features per time step (the model's ``n_features_in_``).

    dtype : {np.float32, np.float64}, default=np.float32
        Type of the input, and of the graph's arithmetic.

    lengths : bool, default=False
        If True, add a second input ``"lengths"``, int64 of shape
        ``(n_samples,)``: each sequence's number of steps in a padded batch.

    Returns
    -------
    initial_types : list of (str, skl2onnx type)
        Pass as ``to_onnx(model, initial_types=...)``.
    """
    tensor_type = {
        np.dtype(np.float32): FloatTensorType,
        np.dtype(np.float64): DoubleTensorType,
    }.get(np.dtype(dtype))
    if tensor_type is None:
        raise ValueError(f"dtype must be np.float32 or np.float64, got {dtype!r}.")
    types = [("X", tensor_type([None, None, int(n_features)]))]
    if lengths:
        types.append(("lengths", Int64TensorType([None])))
    return types


def pad_sequences(sequences, dtype=np.float32):
    """A padded batch and the lengths, as a converted model's inputs take them.

    Parameters
    ----------
    sequences : list of array-like of shape (n_timesteps_i, n_features)
        Sequences of any lengths.

    dtype : {np.float32, np.float64}, default=np.float32
        Type of the padded array (the graph's input type).

    Returns
    -------
    X : ndarray of shape (n_samples, max_timesteps, n_features)
        Each sequence from step 0, zeros after its end.

    lengths : ndarray of shape (n_samples,), dtype int64
        Each sequence's number of steps.
    """
    # NaN passes: missing readings, for a SequenceImputer in the graph to fill.
    values, lengths = check_sequence_list(sequences, dtype, allow_nan=True)
    arrays = np.split(values, np.cumsum(lengths)[:-1])
    lengths = lengths.astype(np.int64)
    X = np.zeros((len(arrays), lengths.max(), values.shape[1]), dtype=dtype)
    for row, array in zip(X, arrays):
        row[: len(array)] = array
    return X, lengths


# ------------------------------------------------------------------- inputs
def _check_inputs(operator, n_features, what):
    """Refuse inputs the graph cannot take; relax the time steps to dynamic.

    skl2onnx guesses a fixed number of steps from a sample X; the graph takes
    any, so the declared input does too.
    """
    X = operator.inputs[0]
    shape = X.type.shape
    if len(shape) != 3:
        raise ValueError(
            f"{what} takes sequences of shape (n_samples, n_timesteps, n_features), "
            f"but the ONNX input {X.onnx_name!r} has shape {shape}. Convert with a "
            "3-D sample X or sklstm.onnx.sequence_types(n_features)."
        )
    if shape[2] is not None and shape[2] != n_features:
        raise ValueError(
            f"The ONNX input {X.onnx_name!r} has {shape[2]} features per step, but "
            f"{what} is expecting {n_features}."
        )
    X.type.shape = [None, None, n_features]
    if len(operator.inputs) > 2:
        raise ValueError(
            f"{what} takes at most two inputs (X and the sequence lengths), got "
            f"{len(operator.inputs)}."
        )
    if len(operator.inputs) == 2:
        lengths = operator.inputs[1]
        if guess_proto_type(lengths.type) not in _INTEGER_TYPES:
            raise ValueError(
                f"The second input {lengths.onnx_name!r} holds the sequence lengths "
                f"and must be of an integer type, got {type(lengths.type).__name__}."
            )
        lengths.type.shape = [None]


def _fitted_model(operator):
    """The converted estimator's fitted network (NotFittedError if there is none)."""
    estimator = operator.raw_operator
    check_is_fitted(estimator)
    return estimator._fitted_model()


def _checked_output_type(operator):
    """Check the fitted model and its inputs; the type of its real outputs."""
    model = operator.raw_operator
    check_is_fitted(model)
    _check_inputs(operator, model.n_features_in_, type(model).__name__)
    if _arithmetic_type(operator)[0] == TensorProto.DOUBLE:
        return DoubleTensorType
    return FloatTensorType


def _arithmetic_type(operator):
    """The graph computes in double for a double input, else in float."""
    if guess_proto_type(operator.inputs[0].type) == TensorProto.DOUBLE:
        return TensorProto.DOUBLE, np.float64
    return TensorProto.FLOAT, np.float32


class _Graph:
    """Adds nodes and constants for one operator, with unique names."""

    #: The element type of integer outputs (labels, their indices).
    int64 = TensorProto.INT64

    def __init__(self, scope, container, proto_type, dtype):
        self.scope, self.container = scope, container
        self.proto_type, self.dtype = proto_type, dtype

    def constant(self, name, values, proto_type=None):
        values = np.asarray(values)
        unique = self.scope.get_unique_variable_name(name)
        self.container.add_initializer(
            unique,
            self.proto_type if proto_type is None else proto_type,
            values.shape,
            values.ravel().tolist(),
        )
        return unique

    def shape(self, values):
        return self.constant("shape", np.asarray(values), TensorProto.INT64)

    def node(self, op_type, inputs, outputs=None, n_outputs=1, **attrs):
        """Add a node; return its output name (or names), new unless given."""
        if outputs is None:
            outputs = [
                self.scope.get_unique_variable_name(op_type.lower())
                for _ in range(n_outputs)
            ]
        elif isinstance(outputs, str):
            outputs = [outputs]
        self.container.add_node(
            op_type,
            list(inputs),
            list(outputs),
            name=self.scope.get_unique_operator_name(op_type),
            **attrs,
        )
        return outputs[0] if len(outputs) == 1 else outputs


# ------------------------------------------------------------ the network
def _reordered_gates(array, cell, axis):
    """Gate blocks of ``array`` along ``axis`` from Keras' order into ONNX's."""
    blocks = np.split(array, len(GATE_ORDER[cell]), axis=axis)
    return np.concatenate(
        [blocks[GATE_ORDER[cell].index(gate)] for gate in _ONNX_GATE_ORDER[cell]],
        axis=axis,
    )


def _cast_back(graph, tensor):
    """A float tensor of the recurrent layers, in the graph's input type."""
    if graph.proto_type == TensorProto.FLOAT:
        return tensor
    return graph.node("Cast", [tensor], to=graph.proto_type)


def _onnx_weights(kernel, recurrent_kernel, bias, cell):
    """One direction's ``W``, ``R`` and ``B`` in ONNX's layout from Keras' arrays.

    Keras' LSTM has one bias, ONNX's an input and a recurrent one (summed): the
    recurrent one is zero. Keras' GRU (``reset_after=True``) has both already.
    """
    W = _reordered_gates(kernel, cell, axis=1).T
    R = _reordered_gates(recurrent_kernel, cell, axis=1).T
    biases = bias if bias.ndim == 2 else np.stack([bias, np.zeros_like(bias)])
    B = np.concatenate([_reordered_gates(b, cell, axis=0) for b in biases])
    return W, R, B


def _network_outputs(model, graph, X, lengths):
    """The head's raw outputs, ``(n, n_outputs)`` or per step ``(n, T, ...)``.

    ``model`` is the estimator's :class:`~sklstm._model.FittedModel`.
    """
    network = model.network
    cell = network.cell
    n_directions = network.n_directions
    weights = model.weights()
    X_tm = graph.node("Transpose", [X], perm=[1, 0, 2])  # ONNX's default layout
    if graph.proto_type != TensorProto.FLOAT:
        # onnxruntime's LSTM and GRU kernels are float only.
        X_tm = graph.node("Cast", [X_tm], to=TensorProto.FLOAT)
    # ONNX's sequence_lens (int32), optional: the operator's last input here.
    sequence_lens = (
        [] if lengths is None else [graph.node("Cast", [lengths], to=TensorProto.INT32)]
    )
    # get_weights(): three arrays per direction per layer, then the head's two.
    directions = [weights[i : i + 3] for i in range(0, len(weights) - 2, 3)]
    n_layers = network.n_layers
    layer_in = X_tm
    for layer, units in enumerate(network.hidden_layer_sizes):
        onnx_weights = [
            _onnx_weights(*arrays, cell)
            for arrays in directions[n_directions * layer : n_directions * (layer + 1)]
        ]
        W, R, B = (
            graph.constant(
                name,
                np.stack([w[part] for w in onnx_weights]).astype(np.float32),
                TensorProto.FLOAT,
            )
            for part, name in enumerate(("W", "R", "B"))
        )
        attrs = {
            "hidden_size": int(units),
            "direction": "bidirectional" if n_directions == 2 else "forward",
        }
        if cell == "gru":
            # Keras' reset_after=True: the reset gate scales h_{t-1} U + b_U.
            attrs["linear_before_reset"] = 1
        Y, state = graph.node(
            _ONNX_OPERATOR[cell],
            [layer_in, W, R, B, *sequence_lens],
            n_outputs=2,
            **attrs,
        )
        if layer < n_layers - 1 or model.return_sequences:
            # (T, directions, n, H) -> (T, n, directions * H): Keras'
            # concatenation, the forward direction first.
            layer_in = graph.node(
                "Reshape",
                [
                    graph.node("Transpose", [Y], perm=[0, 2, 1, 3]),
                    graph.shape([0, 0, -1]),
                ],
            )
    if model.return_sequences:
        # Back to the input's type before the transpose to batch-major steps:
        # with the Cast between that Transpose and the MatMul, onnxruntime
        # (1.32, float64) crashes while optimising the graph (NchwcTransformer).
        head_in = graph.node("Transpose", [_cast_back(graph, layer_in)], perm=[1, 0, 2])
    else:
        # (directions, n, H) -> (n, directions * H): the forward direction's
        # last state, then the backward direction's state at step 0.
        head_in = _cast_back(
            graph,
            graph.node(
                "Reshape",
                [
                    graph.node("Transpose", [state], perm=[1, 0, 2]),
                    graph.shape([0, -1]),
                ],
            ),
        )
    kernel, bias = (
        graph.constant(n, w.astype(graph.dtype))
        for n, w in zip(("coefficient", "intercept"), weights[-2:])
    )
    return graph.node("Add", [graph.node("MatMul", [head_in, kernel]), bias])


def _lengths_input(operator):
    return operator.inputs[1].full_name if len(operator.inputs) == 2 else None


def _graph_for(scope, operator, container):
    proto_type, dtype = _arithmetic_type(operator)
    graph = _Graph(scope, container, proto_type, dtype)
    X = operator.inputs[0].full_name
    if guess_proto_type(operator.inputs[0].type) != proto_type:
        X = graph.node("Cast", [X], to=proto_type)
    return graph, X


# ------------------------------------------------------------- regressor
def _regressor_shape(operator):
    tensor_type = _checked_output_type(operator)
    model = _fitted_model(operator)
    shape = [None, None] if model.return_sequences else [None]
    operator.outputs[0].type = tensor_type(shape + [model.n_outputs])


def _convert_regressor(scope, operator, container):
    model = _fitted_model(operator)
    graph, X = _graph_for(scope, operator, container)
    raw = _network_outputs(model, graph, X, _lengths_input(operator))
    model.head.onnx_prediction(graph, raw, operator.outputs[0].full_name)


# ------------------------------------------------------------ classifier
def _label_classes(model, options):
    """classes_ as the graph holds them: (proto type, values).

    skl2onnx's option ``nocl`` replaces the labels by their indices; a head
    whose labels are an indicator matrix has none.
    """
    classes = model.classes
    if model.head.indicator_labels:
        return TensorProto.INT64, None
    if options["nocl"]:
        return TensorProto.INT64, np.arange(len(classes), dtype=np.int64)
    if classes.dtype.kind in "iubf":
        # scikit-learn's float labels are whole numbers ("continuous" is not a
        # classification target); skl2onnx makes them integers too.
        return TensorProto.INT64, classes.astype(np.int64)
    return TensorProto.STRING, np.array([str(c).encode("utf-8") for c in classes])


def _classifier_shape(operator):
    probability_type = _checked_output_type(operator)
    model = _fitted_model(operator)
    if len(operator.outputs) != 2:
        raise ValueError(
            f"{model.estimator_name} converts to two outputs, label and "
            f"probabilities; the parser declared {len(operator.outputs)}."
        )
    options = operator.scope_inst.get_options(operator.raw_operator, dict(nocl=False))
    label_proto, _ = _label_classes(model, options)
    steps = [None, None] if model.return_sequences else [None]
    label_type = (
        Int64TensorType if label_proto == TensorProto.INT64 else StringTensorType
    )
    n_classes = len(model.classes)
    if model.head.indicator_labels:
        operator.outputs[0].type = label_type(steps + [n_classes])
    else:
        operator.outputs[0].type = label_type(steps)
    operator.outputs[1].type = probability_type(steps + [n_classes])


def _convert_classifier(scope, operator, container):
    model = _fitted_model(operator)
    options = container.get_options(
        operator.raw_operator, dict(zipmap=True, nocl=False)
    )
    if model.return_sequences and options["zipmap"] is not False:
        raise ValueError(
            "A classifier with return_sequences=True has probabilities per step, "
            "which skl2onnx's ZipMap (a dictionary per sample) cannot hold. Convert "
            'with options={"zipmap": False}.'
        )
    graph, X = _graph_for(scope, operator, container)
    raw = _network_outputs(model, graph, X, _lengths_input(operator))
    label_name, probabilities_name = (v.full_name for v in operator.outputs)
    label_proto, classes = _label_classes(model, options)

    def labels_of(index, name):
        """The labels of class indices ``index``, as output ``name``."""
        graph.node(
            "Gather", [graph.constant("classes", classes, label_proto), index], name
        )

    model.head.onnx_outputs(
        graph, raw, label_name, probabilities_name, labels_of, model.return_sequences
    )


# ---------------------------------------------------------------- scaler
def _sequence_transformer_parser(alias):
    """A parser whose operator outputs the transformed sequences, and passes the
    lengths on to the next step."""

    def parse(scope, model, inputs, custom_parsers=None):
        operator = scope.declare_local_operator(alias, model)
        operator.inputs = list(inputs)
        operator.outputs.append(
            scope.declare_local_variable("transformed", type(inputs[0].type)())
        )
        for extra in inputs[1:]:
            operator.outputs.append(
                scope.declare_local_variable("next_lengths", type(extra.type)())
            )
        return operator.outputs

    return parse


def _pass_lengths(operator, graph):
    """The lengths input, as the next step's lengths (int64)."""
    if len(operator.inputs) == 2:
        graph.node(
            "Cast",
            [operator.inputs[1].full_name],
            operator.outputs[1].full_name,
            to=TensorProto.INT64,
        )


def _scaler_shape(operator):
    model = operator.raw_operator
    tensor_type = _checked_output_type(operator)
    operator.outputs[0].type = tensor_type([None, None, model.n_features_in_])
    if len(operator.inputs) == 2:
        operator.outputs[1].type = Int64TensorType([None])


def _convert_scaler(scope, operator, container):
    model = operator.raw_operator
    graph, X = _graph_for(scope, operator, container)
    if model.with_mean:
        X = graph.node(
            "Sub", [X, graph.constant("mean", model.mean_.astype(graph.dtype))]
        )
    if model.with_std:
        X = graph.node(
            "Div", [X, graph.constant("scale", model.scale_.astype(graph.dtype))]
        )
    graph.node("Identity", [X], operator.outputs[0].full_name)
    _pass_lengths(operator, graph)


# --------------------------------------------------------------- imputer
def _imputer_shape(operator):
    model = operator.raw_operator
    tensor_type = _checked_output_type(operator)
    width = model.n_features_in_
    if model.add_indicator:
        width += len(model.indicator_features_)
    operator.outputs[0].type = tensor_type([None, None, width])
    if len(operator.inputs) == 2:
        operator.outputs[1].type = Int64TensorType([None])


def _fill_forward(graph, X, n_features, reverse=False):
    """Each NaN replaced by the last reading before it along the time axis (1)
    (``reverse``: the first after it), by a Scan carrying the last reading."""
    proto = graph.proto_type
    state_in, x_t, state_out, y_t = "state_in", "x_t", "state_out", "y_t"
    body = helper.make_graph(
        [
            helper.make_node("IsNaN", [x_t], ["missing"]),
            helper.make_node("Where", ["missing", state_in, x_t], ["filled"]),
            helper.make_node("Identity", ["filled"], [state_out]),
            helper.make_node("Identity", ["filled"], [y_t]),
        ],
        "fill_forward",
        [
            helper.make_tensor_value_info(state_in, proto, [None, n_features]),
            helper.make_tensor_value_info(x_t, proto, [None, n_features]),
        ],
        [
            helper.make_tensor_value_info(state_out, proto, [None, n_features]),
            helper.make_tensor_value_info(y_t, proto, [None, n_features]),
        ],
    )
    # The initial state: NaN for every sequence and feature.
    batch = graph.node(
        "Slice",
        [
            graph.node("Shape", [X]),
            graph.shape([0]),
            graph.shape([1]),
        ],
    )
    size = graph.node("Concat", [batch, graph.shape([n_features])], axis=0)
    start = graph.node("Expand", [graph.constant("nan", [np.nan]), size])
    _, filled = graph.node(
        "Scan",
        [start, X],
        n_outputs=2,
        body=body,
        num_scan_inputs=1,
        scan_input_axes=[1],
        scan_output_axes=[1],
        scan_input_directions=[1 if reverse else 0],
        scan_output_directions=[1 if reverse else 0],
    )
    return filled


def _convert_imputer(scope, operator, container):
    model = operator.raw_operator
    graph, X = _graph_for(scope, operator, container)
    n_features = model.n_features_in_
    original = X
    if len(operator.inputs) == 2:
        # Steps past a sequence's end are padding: missing, not readings.
        steps = graph.node(
            "Range",
            [
                graph.constant("zero_step", 0, TensorProto.INT64),
                graph.node(
                    "Squeeze",
                    [
                        graph.node(
                            "Slice",
                            [
                                graph.node("Shape", [X]),
                                graph.shape([1]),
                                graph.shape([2]),
                            ],
                        ),
                        graph.shape([0]),
                    ],
                ),
                graph.constant("one_step", 1, TensorProto.INT64),
            ],
        )
        lengths = graph.node(
            "Cast", [operator.inputs[1].full_name], to=TensorProto.INT64
        )
        running = graph.node(
            "Less",
            [
                graph.node("Unsqueeze", [steps, graph.shape([0])]),
                graph.node("Unsqueeze", [lengths, graph.shape([1])]),
            ],
        )
        X = graph.node(
            "Where",
            [
                graph.node("Unsqueeze", [running, graph.shape([2])]),
                X,
                graph.constant("padding", [np.nan]),
            ],
        )
    if model.strategy == "ffill":
        X = _fill_forward(graph, X, n_features)
        X = _fill_forward(graph, X, n_features, reverse=True)
    statistics = graph.constant("statistics", model.statistics_.astype(graph.dtype))
    X = graph.node("Where", [graph.node("IsNaN", [X]), statistics, X])
    if model.add_indicator and len(model.indicator_features_):
        columns = graph.constant(
            "indicator_features",
            model.indicator_features_.astype(np.int64),
            TensorProto.INT64,
        )
        gathered = graph.node("Gather", [original, columns], axis=2)
        indicators = graph.node(
            "Cast", [graph.node("IsNaN", [gathered])], to=graph.proto_type
        )
        X = graph.node("Concat", [X, indicators], axis=2)
    graph.node("Identity", [X], operator.outputs[0].full_name)
    _pass_lengths(operator, graph)


# --------------------------------------------------------------- patcher
def _patcher_shape(operator):
    model = operator.raw_operator
    tensor_type = _checked_output_type(operator)
    width = model.patch_length_ * model.n_features_in_
    operator.outputs[0].type = tensor_type([None, None, width])
    if len(operator.inputs) == 2:
        operator.outputs[1].type = Int64TensorType([None])


def _convert_patcher(scope, operator, container):
    model = operator.raw_operator
    graph, X = _graph_for(scope, operator, container)
    length, stride = model.patch_length_, model.stride_

    def integer(name, value):
        return graph.constant(
            name, np.asarray(value, dtype=np.int64), TensorProto.INT64
        )

    def n_patches(n_steps):
        """max(1, ceil((n_steps - length) / stride) + 1), on int64 tensors."""
        overhang = graph.node(
            "Max",
            [
                graph.node("Sub", [n_steps, integer("length", length)]),
                integer("zero", 0),
            ],
        )
        ceiling = graph.node(
            "Div",
            [
                graph.node("Add", [overhang, integer("stride_less_one", stride - 1)]),
                integer("stride", stride),
            ],
        )
        return graph.node("Add", [ceiling, integer("one", 1)])

    steps = graph.node(
        "Slice", [graph.node("Shape", [X]), graph.shape([1]), graph.shape([2])]
    )  # (1,): the (padded) number of steps
    starts = graph.node(
        "Mul",
        [
            graph.node(
                "Range",
                [
                    integer("first", 0),
                    graph.node("Squeeze", [n_patches(steps), graph.shape([0])]),
                    integer("step", 1),
                ],
            ),
            integer("stride_again", stride),
        ],
    )
    # (patches, length) reading indices, flattened patch after patch.
    index = graph.node(
        "Reshape",
        [
            graph.node(
                "Add",
                [
                    graph.node("Unsqueeze", [starts, graph.shape([1])]),
                    integer("offsets", np.arange(length)[None, :]),
                ],
            ),
            graph.shape([-1]),
        ],
    )
    if len(operator.inputs) == 2:
        # Each sequence's readings past its own end repeat its last one.
        lengths = graph.node(
            "Cast", [operator.inputs[1].full_name], to=TensorProto.INT64
        )
        last = graph.node(
            "Sub",
            [
                graph.node("Unsqueeze", [lengths, graph.shape([1])]),
                integer("one_more", 1),
            ],
        )
        per_sequence = graph.node(
            "Min", [graph.node("Unsqueeze", [index, graph.shape([0])]), last]
        )
        gathered = graph.node(
            "GatherND",
            [X, graph.node("Unsqueeze", [per_sequence, graph.shape([2])])],
            batch_dims=1,
        )
        graph.node("Identity", [n_patches(lengths)], operator.outputs[1].full_name)
    else:
        last = graph.node("Sub", [steps, integer("one_less", 1)])
        gathered = graph.node("Gather", [X, graph.node("Min", [index, last])], axis=1)
    graph.node(
        "Reshape",
        [gathered, graph.shape([0, -1, length * model.n_features_in_])],
        operator.outputs[0].full_name,
    )


_SCALER_ALIAS = "SklstmSequenceScaler"
_IMPUTER_ALIAS = "SklstmSequenceImputer"
_PATCHER_ALIAS = "SklstmSequencePatcher"

update_registered_converter(
    LSTMClassifier,
    "SklstmLSTMClassifier",
    _classifier_shape,
    _convert_classifier,
    options={"zipmap": [True, False, "columns"], "nocl": [False, True]},
)
update_registered_converter(
    LSTMRegressor, "SklstmLSTMRegressor", _regressor_shape, _convert_regressor
)
update_registered_converter(
    SequenceScaler,
    _SCALER_ALIAS,
    _scaler_shape,
    _convert_scaler,
    parser=_sequence_transformer_parser(_SCALER_ALIAS),
)
update_registered_converter(
    SequencePatcher,
    _PATCHER_ALIAS,
    _patcher_shape,
    _convert_patcher,
    parser=_sequence_transformer_parser(_PATCHER_ALIAS),
)
update_registered_converter(
    SequenceImputer,
    _IMPUTER_ALIAS,
    _imputer_shape,
    _convert_imputer,
    parser=_sequence_transformer_parser(_IMPUTER_ALIAS),
)
