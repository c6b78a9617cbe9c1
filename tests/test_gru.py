"""The GRU cell (``cell="gru"``) at the estimators: every feature, and the
equations and weights of Keras' ``GRU`` and PyTorch's ``nn.GRU``.

The kernels' exactness for both cells (finite differences, routes, threads,
instruction sets) is pinned in test_kernels.py; here each feature of the
estimators runs with the GRU, and its fitted model is held to a NumPy
reference of Keras' equations on its own ``get_weights()``.
"""

import pickle
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from reference import (
    as_head,
    gru_weights_from_torch,
    gru_weights_to_torch,
    reference_network,
    reference_torch_gru,
)

from sklstm import LSTMClassifier, LSTMRegressor
from sklstm._network import LSTMNetwork

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def sequences(n_samples, n_steps=9, n_features=3, seed=0, ragged=False):
    """Sequences whose label is the sign of the first feature's running sum."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_samples, n_steps, n_features))
    if ragged:
        lengths = rng.randint(3, n_steps + 1, size=n_samples)
        X = [x[:length] for x, length in zip(X, lengths)]
    sums = np.array([x[:, 0].sum() for x in X])
    return X, (sums > 0).astype(int)


def keras_outputs(estimator, X, head):
    """The reference of Keras' layers on the estimator's ``get_weights()``."""
    lengths = [len(x) for x in X]
    longest = max(lengths)
    padded = np.zeros((len(X), longest, X[0].shape[1]))
    for row, x in zip(padded, X):
        row[: len(x)] = x
    return reference_network(
        estimator.get_weights(),
        padded,
        lengths,
        head,
        estimator.bidirectional,
        cell="gru",
    )


FAST = dict(hidden_layer_sizes=(8,), learning_rate_init=0.02, max_iter=40)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"solver": "lbfgs", "max_iter": 60},
        {"solver": "sgd", "learning_rate_init": 0.1},
        {"solver": "rmsprop"},
        {"bidirectional": True},
        {"hidden_layer_sizes": (8, 5)},
        {"dropout": 0.2, "recurrent_dropout": 0.2},
        {"early_stopping": True, "validation_fraction": 0.2},
        {"class_weight": "balanced"},
        {"ragged": True},
        {"float32": True},
        {"sample_weight": True},
    ],
    ids=lambda options: "-".join(options) or "default",
)
def test_every_classifier_option_trains_a_keras_gru(options):
    options = dict(options)
    ragged = options.pop("ragged", False)
    float32 = options.pop("float32", False)
    weighted = options.pop("sample_weight", False)
    X, y = sequences(160, ragged=ragged)
    X_new, _ = sequences(20, n_steps=11, seed=1, ragged=ragged)
    if float32:
        X = X.astype(np.float32)
        X_new = X_new.astype(np.float32)
    sample_weight = np.random.RandomState(2).uniform(0.5, 2, 160) if weighted else None
    clf = LSTMClassifier(**{**FAST, **options}, cell="gru", random_state=0)
    clf.fit(X, y, sample_weight=sample_weight)
    assert clf.score(X, y) > 0.8
    proba = clf.predict_proba(X_new)
    if float32:
        assert proba.dtype == np.float32
    expected = keras_outputs(clf, X_new, "logistic")
    tolerance = 1e-5 if float32 else 1e-10
    assert_allclose(proba[:, 1:], expected, rtol=tolerance, atol=tolerance)


def test_multilabel_multi_output_and_per_step_targets():
    X, y = sequences(120)
    Y = np.column_stack([y, 1 - y, (X[:, 0, 1] > 0).astype(int)])
    clf = LSTMClassifier(**FAST, cell="gru", random_state=0).fit(X, Y)
    assert_allclose(
        clf.predict_proba(X[:5]), keras_outputs(clf, X[:5], "logistic"), rtol=1e-10
    )
    targets = np.column_stack([X[:, :, 0].sum(axis=1), X[:, -1, 1]])
    reg = LSTMRegressor(**FAST, cell="gru", random_state=0).fit(X, targets)
    assert reg.predict(X[:5]).shape == (5, 2)
    assert_allclose(
        reg.predict(X[:5]), keras_outputs(reg, X[:5], "identity"), rtol=1e-10
    )
    # A label at every step: the GRU's outputs through the head at each step.
    steps = (np.cumsum(X[:, :, 0], axis=1) > 0).astype(int)
    per_step = LSTMClassifier(
        **FAST, cell="gru", return_sequences=True, random_state=0
    ).fit(X, steps)
    assert per_step.predict(X[:4]).shape == (4, 9)
    assert per_step.score(X, steps) > 0.8


def test_initialisation_is_keras():
    network = LSTMNetwork(3, (6, 4), 2, as_head("softmax"), np.float64, cell="gru")
    views = network.unpack(network.initialize(np.random.RandomState(0)))
    for kernel, recurrent, bias in (views[0:3], views[3:6]):
        fan_in, width = kernel.shape
        assert bias.shape == (2, width) and not bias.any()
        assert_allclose(recurrent @ recurrent.T, np.eye(len(recurrent)), atol=1e-12)
        assert np.abs(kernel).max() <= np.sqrt(6 / (fan_in + width))  # Glorot


def test_weights_move_to_and_from_pytorch():
    # PyTorch orders a GRU's gates r, z, n and keeps its weights transposed:
    # converted, the NumPy reference of its equations gives predict_proba, and
    # the way back gives get_weights() exactly.
    X, y = sequences(80)
    clf = LSTMClassifier(
        hidden_layer_sizes=(7, 5), cell="gru", max_iter=20, random_state=0
    ).fit(X, y)
    weights = clf.get_weights()
    layer_input = X[:6]
    torch_layers = []
    for layer in range(2):
        torch_weights = gru_weights_to_torch(*weights[3 * layer : 3 * layer + 3])
        torch_layers.append(torch_weights)
        layer_input = reference_torch_gru(layer_input, *torch_weights)
    logits = layer_input[:, -1] @ weights[-2] + weights[-1]
    assert_allclose(
        clf.predict_proba(X[:6])[:, 1], 1 / (1 + np.exp(-logits[:, 0])), rtol=1e-10
    )
    back = [array for layer in torch_layers for array in gru_weights_from_torch(*layer)]
    for restored, original in zip(back, weights[:-2]):
        assert_array_equal(restored, original)
    clone = pickle.loads(pickle.dumps(clf)).set_weights(back + weights[-2:])
    assert_array_equal(clone.predict_proba(X), clf.predict_proba(X))


def test_persistence_streams_threads_and_the_single_sequence_route():
    X, y = sequences(100)
    clf = LSTMClassifier(**FAST, cell="gru", random_state=0).fit(X, y)
    proba = clf.predict_proba(X)
    # Pickled: bit-identical predictions.
    assert_array_equal(pickle.loads(pickle.dumps(clf)).predict_proba(X), proba)
    # One sequence alone takes the register kernel; the batch, the row kernel.
    one = np.concatenate([clf.predict_proba(X[i : i + 1]) for i in range(10)])
    assert_allclose(one, proba[:10], rtol=1e-12, atol=1e-15)
    # Streams fed in chunks carry only h, and equal predict on the whole.
    stream = clf.stream()
    stream.predict_proba(X[:10, :4])
    assert_allclose(stream.predict_proba(X[:10, 4:]), proba[:10], rtol=1e-12)
    assert stream._progress[0].shape == (10, 8)
    # Concurrent predictions from threads equal the serial ones.
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(clf.predict_proba, [X] * 8))
    for result in results:
        assert_array_equal(result, proba)


def test_partial_fit_and_warm_start_keep_the_cell():
    X, y = sequences(80)
    clf = LSTMClassifier(**FAST, cell="gru", random_state=0)
    clf.partial_fit(X, y, classes=[0, 1])
    before = clf.get_weights()
    clf.partial_fit(X, y)
    assert [w.shape for w in clf.get_weights()] == [w.shape for w in before]
    assert any((a != b).any() for a, b in zip(clf.get_weights(), before))
    clf.set_params(warm_start=True, max_iter=2).fit(X, y)
    clf.set_params(cell="lstm")
    with pytest.raises(ValueError, match="cell='lstm' differs from the fitted"):
        clf.fit(X, y)


def test_weights_of_the_other_cell_are_refused():
    X, y = sequences(40)
    gru = LSTMClassifier(**FAST, cell="gru", random_state=0).fit(X, y)
    lstm = LSTMClassifier(**FAST, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match=r"expected \(3, 24\) \(cell='gru'\)"):
        gru.set_weights(lstm.get_weights())


def test_unknown_cell_is_refused_by_name():
    X, y = sequences(20)
    with pytest.raises(ValueError, match="'cell' parameter of LSTMClassifier"):
        LSTMClassifier(cell="rnn").fit(X, y)
